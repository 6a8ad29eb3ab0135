#!/usr/bin/env bash
# clang-tidy (.clang-tidy at the top) over every C file the host build and
# the firmware build compile, two at a time; any finding fails the test.
# Both compilation databases are required: a missing one is a failure, never
# a reason to check less.
# usage: clang-tidy.sh SOURCE_DIR HOST_BUILD_DIR FIRMWARE_BUILD_DIR
set -euo pipefail
if (($# != 3)); then
    echo "usage: clang-tidy.sh SOURCE_DIR HOST_BUILD_DIR FIRMWARE_BUILD_DIR" >&2
    exit 2
fi
src=$1
host_build=$2
fw_build=$3
cd "$src"
[[ -f $host_build/compile_commands.json ]] ||
    { echo "clang-tidy: no $host_build/compile_commands.json" >&2; exit 1; }
if [[ ! -f $fw_build/compile_commands.json ]]; then
    echo "clang-tidy: the firmware's compilation database $fw_build/compile_commands.json" \
        "is missing, so the firmware cannot be checked; build the firmware first: make firmware" \
        "(or configure $fw_build with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON, as the Makefile does)" >&2
    exit 1
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Host: every source in the compilation database that is ours.
mapfile -t host_files < <(python3 - "$host_build/compile_commands.json" "$src" <<'PY'
import json, os, sys
src = os.path.realpath(sys.argv[2])
files = sorted({os.path.realpath(e["file"]) for e in json.load(open(sys.argv[1]))})
for f in files:
    if f.startswith(src + os.sep) and f.endswith(".c"):
        print(os.path.relpath(f, src))
PY
)
if ((${#host_files[@]} == 0)); then
    echo "clang-tidy: $host_build/compile_commands.json lists none of our sources" >&2
    exit 1
fi
status=0
printf '%s\n' "${host_files[@]}" |
    xargs -P 2 -n 4 clang-tidy -p "$host_build" --quiet >"$logs/host.log" 2>/dev/null || status=1
grep -E "(error|warning):" "$logs/host.log" || true
count=${#host_files[@]}

# Firmware: the same checks through the cross compiler's database, with
# clang told the target and newlib's headers.
mapfile -t fw_files < <(python3 - "$fw_build/compile_commands.json" "$src" <<'PY'
import json, os, sys
src = os.path.realpath(sys.argv[2])
files = sorted({os.path.realpath(e["file"]) for e in json.load(open(sys.argv[1]))})
for f in files:
    if f.startswith(src + os.sep) and f.endswith(".c") and "/lib/src/" not in f:
        print(os.path.relpath(f, src))
PY
)
if ((${#fw_files[@]} == 0)); then
    echo "clang-tidy: $fw_build/compile_commands.json lists none of our firmware sources" >&2
    exit 1
fi
printf '%s\n' "${fw_files[@]}" |
    xargs -P 2 -n 4 clang-tidy -p "$fw_build" --quiet --extra-arg=--target=arm-none-eabi \
        --extra-arg=-Wno-ignored-optimization-argument \
        --extra-arg=-isystem/usr/lib/arm-none-eabi/include >"$logs/fw.log" 2>/dev/null ||
    status=1
grep -E "(error|warning):" "$logs/fw.log" || true
count=$((count + ${#fw_files[@]}))
if ((status != 0)); then
    echo "clang-tidy: findings above (configuration: .clang-tidy)" >&2
    exit 1
fi
echo "clang-tidy: $count files clean"

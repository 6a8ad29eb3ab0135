#!/usr/bin/env bash
# clang-tidy (.clang-tidy at the top) over every C file the host build and
# the firmware build compile, two at a time; any finding fails the test.
# usage: clang-tidy.sh SOURCE_DIR HOST_BUILD_DIR [FIRMWARE_BUILD_DIR]
set -euo pipefail
src=$1
host_build=$2
fw_build=${3:-}
cd "$src"
logs=$(mktemp -d)
[[ -f $host_build/compile_commands.json ]] ||
    { echo "clang-tidy: no $host_build/compile_commands.json" >&2; exit 1; }

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
status=0
printf '%s\n' "${host_files[@]}" |
    xargs -P 2 -n 4 clang-tidy -p "$host_build" --quiet >"$logs/host.log" 2>/dev/null || status=1
grep -E "(error|warning):" "$logs/host.log" || true
count=${#host_files[@]}

# Firmware: the same checks through the cross compiler's database, with
# clang told the target and newlib's headers.
if [[ -n $fw_build && -f $fw_build/compile_commands.json ]]; then
    mapfile -t fw_files < <(python3 - "$fw_build/compile_commands.json" "$src" <<'PY'
import json, os, sys
src = os.path.realpath(sys.argv[2])
files = sorted({os.path.realpath(e["file"]) for e in json.load(open(sys.argv[1]))})
for f in files:
    if f.startswith(src + os.sep) and f.endswith(".c") and "/lib/src/" not in f:
        print(os.path.relpath(f, src))
PY
)
    printf '%s\n' "${fw_files[@]}" |
        xargs -P 2 -n 4 clang-tidy -p "$fw_build" --quiet --extra-arg=--target=arm-none-eabi --extra-arg=-Wno-ignored-optimization-argument \
            --extra-arg=-isystem/usr/lib/arm-none-eabi/include >"$logs/fw.log" 2>/dev/null ||
        status=1
    grep -E "(error|warning):" "$logs/fw.log" || true
    count=$((count + ${#fw_files[@]}))
fi
rm -rf "$logs"
if ((status != 0)); then
    echo "clang-tidy: findings above (configuration: .clang-tidy)" >&2
    exit 1
fi
echo "clang-tidy: $count files clean"

#!/usr/bin/env bash
# `make fuzz`: every fuzzer for SECONDS (default 60) in turn, then a summary.
# Each keeps its growing corpus in build-fuzz/campaign/<target>/corpus, so a
# second campaign continues where the first stopped.
#
#   campaign.sh [SECONDS] [TARGET...]
set -euo pipefail
# shellcheck source=tests/fuzz/lib.sh
source "$(dirname "$0")/lib.sh"

seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "campaign.sh: SECONDS must be a positive number, not '$seconds'" >&2
    exit 2
fi
if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(fuzz_targets)
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, build $FUZZ_BUILD"
summary=()
findings=0
for target in "${targets[@]}"; do
    if ! fuzz_build "$target"; then
        summary+=("fuzz.$target: BUILD FAILED (see above)")
        findings=$((findings + 1))
    elif line=$(fuzz_run "$target" "$seconds" "$FUZZ_BUILD/campaign/$target"); then
        summary+=("$line")
    else
        summary+=("fuzz.$target: FINDING (see above)")
        findings=$((findings + 1))
    fi
    echo "${summary[-1]}"
done
echo
echo "fuzz summary:"
printf '  %s\n' "${summary[@]}"
if ((findings > 0)); then
    echo "fuzz: $findings target(s) failed" >&2
    exit 1
fi
echo "fuzz: no findings in ${#targets[@]} targets"

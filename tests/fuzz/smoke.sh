#!/usr/bin/env bash
# The fuzzing smoke of `make test` (registered with ctest as fuzz.<target>):
# builds one fuzzer with clang if needed and runs it for a few seconds on its
# seeds and regression inputs, starting from a fresh work corpus.
#
#   smoke.sh TARGET [SECONDS]      (default 5)
#   smoke.sh --build-only          (every fuzzer, and the seed generator)
#
# FUZZ_BUILD: the fuzz build tree (default build-fuzz/ at the top).
set -euo pipefail
# shellcheck source=tests/fuzz/lib.sh
source "$(dirname "$0")/lib.sh"

if [[ ${1:-} == --build-only ]]; then
    fuzz_build
    exit 0
fi
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: smoke.sh TARGET [SECONDS] | smoke.sh --build-only" >&2
    exit 2
fi
target=$1
seconds=${2:-5}
if ! fuzz_targets | grep -qx "$target"; then
    echo "smoke.sh: unknown target '$target'; the targets are: $(fuzz_targets | tr '\n' ' ')" >&2
    exit 2
fi
fuzz_build "$target"
# A work folder of its own, so that two test runs at once in one tree do
# not clear each other's; kept on a finding, for its input and log.
mkdir -p "$FUZZ_BUILD/smoke"
work=$(mktemp -d "$FUZZ_BUILD/smoke/$target.XXXXXX")
fuzz_run "$target" "$seconds" "$work"
rm -rf "$work"

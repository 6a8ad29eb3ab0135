#!/usr/bin/env bash
# Source coverage of the fuzzers' corpora: builds the fuzzers once more with
# clang's coverage mapping (in build-fuzz/coverage), runs every input of the
# seed corpus, the regression inputs and the campaign corpus (if `make fuzz`
# ran) once, and prints llvm-cov's line and branch report for the code each
# fuzzer is aimed at.
#
#   coverage.sh [TARGET...]
set -euo pipefail
# shellcheck source=tests/fuzz/lib.sh
source "$(dirname "$0")/lib.sh"

cov_build=$FUZZ_BUILD/coverage
profdata=$(command -v llvm-profdata || command -v llvm-profdata-14 || true)
llvmcov=$(command -v llvm-cov || command -v llvm-cov-14 || true)
if [[ -z $profdata || -z $llvmcov ]]; then
    echo "coverage.sh: llvm-profdata/llvm-cov not found; install them with: sudo apt-get install -y llvm" >&2
    exit 1
fi
if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(fuzz_targets)
fi
if [[ ! -f $cov_build/CMakeCache.txt ]]; then
    cmake -S "$fuzz_here" -B "$cov_build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
        -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
fi
names=()
for t in "${targets[@]}"; do
    names+=(--target "fuzz_$t")
done
cmake --build "$cov_build" -j "$FUZZ_JOBS" "${names[@]}" >/dev/null

# The sources each fuzzer is aimed at (the rest it reaches only in passing).
declare -A aimed=(
    [container]="lib/src/container.c"
    [imagefile]="tools/imagefile/imagefile.c"
    [client]="lib/src/client.c lib/src/program.c"
    [blsim]="sim/bootloader/src/blsim.c"
    [eeprom]="lib/src/eeprom.c sim/eeprom/src/eesim.c"
    [console]="firmware/app/frame.c"
)
for t in "${targets[@]}"; do
    dirs=()
    for d in "$fuzz_here/corpus/$t" "$fuzz_here/regressions/$t" "$FUZZ_BUILD/campaign/$t/corpus"; do
        [[ -d $d ]] && dirs+=("$d")
    done
    rm -f "$cov_build/$t".*.profraw
    LLVM_PROFILE_FILE="$cov_build/$t.%p.profraw" "$cov_build/fuzz_$t" -runs=0 "${dirs[@]}" \
        >"$cov_build/$t.log" 2>&1
    "$profdata" merge -sparse "$cov_build/$t".*.profraw -o "$cov_build/$t.profdata"
    files=()
    for f in ${aimed[$t]}; do
        files+=("$fuzz_root/$f")
    done
    echo "== fuzz_$t ($(grep -o 'INITED.*' "$cov_build/$t.log" | head -1))"
    "$llvmcov" report "$cov_build/fuzz_$t" -instr-profile="$cov_build/$t.profdata" "${files[@]}" |
        sed "s|$fuzz_root/||"
done

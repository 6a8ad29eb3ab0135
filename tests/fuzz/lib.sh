# Shared by smoke.sh and campaign.sh: building the fuzzers and running one.
# shellcheck shell=bash

fuzz_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fuzz_root=$(cd "$fuzz_here/../.." && pwd)
FUZZ_BUILD=${FUZZ_BUILD:-$fuzz_root/build-fuzz}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

# The fuzzers this tree has: one fuzz_<target>.c each, the same list as
# FUZZ_TARGETS in tests/fuzz/CMakeLists.txt.
fuzz_targets() {
    printf '%s\n' container imagefile client blsim eeprom console
}

# fuzz_build [TARGET...]: configures (once) the fuzz tree with clang and
# builds the fuzzers named (all without a name), and only what they link, so
# that a module under way elsewhere stops only the fuzzers that use it. A
# lock keeps concurrent callers (ctest -j, make fuzz in another shell) from
# building at the same time.
fuzz_build() {
    local names=() t
    for t in "$@"; do
        names+=(--target "fuzz_$t")
    done
    if ! command -v clang >/dev/null; then
        echo "fuzz: clang not found; install it with: sudo apt-get install -y clang libclang-rt-14-dev" >&2
        return 1
    fi
    mkdir -p "$FUZZ_BUILD"
    (
        flock 9
        if [[ ! -f $FUZZ_BUILD/CMakeCache.txt ]]; then
            cmake -S "$fuzz_here" -B "$FUZZ_BUILD" -DCMAKE_C_COMPILER=clang \
                -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$FUZZ_BUILD/configure.log" 2>&1 || {
                cat "$FUZZ_BUILD/configure.log" >&2
                echo "fuzz: configuring $FUZZ_BUILD failed" >&2
                exit 1
            }
        fi
        local log=$FUZZ_BUILD/build${1:+-$1}.log
        cmake --build "$FUZZ_BUILD" -j "$FUZZ_JOBS" "${names[@]}" >"$log" 2>&1 || {
            grep -E 'error|Error' "$log" | head -20 >&2
            echo "fuzz: building $FUZZ_BUILD failed" >&2
            exit 1
        }
    ) 9>"$FUZZ_BUILD/.lock"
}

# fuzz_run TARGET SECONDS WORKDIR: runs one fuzzer for SECONDS on its seeds,
# its regression inputs and WORKDIR/corpus (where new inputs go, so the
# committed seeds are never written to). Crash inputs land in WORKDIR.
# Prints one summary line; returns non-zero on a finding.
fuzz_run() {
    local target=$1 seconds=$2 work=$3
    local bin=$FUZZ_BUILD/fuzz_$target
    local log=$work/fuzz.log
    [[ -x $bin ]] || { echo "fuzz: $bin is missing (build first)" >&2; return 1; }
    mkdir -p "$work/corpus"
    local dirs=("$work/corpus" "$fuzz_here/corpus/$target")
    [[ -d $fuzz_here/regressions/$target ]] && dirs+=("$fuzz_here/regressions/$target")
    local rc=0
    # -timeout: one input running 10 s is a hang; -max_len: the seeds are
    # small, but a reply stream or a HEX file needs room to grow.
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$work/" "${dirs[@]}" >"$log" 2>&1 || rc=$?
    # A run that stops early has not printed every figure: "?" for those.
    local runs rate cov ft corp
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$( (grep -o ' cov: [0-9]*' "$log" || true) | tail -1 | tr -dc 0-9)
    ft=$( (grep -o ' ft: [0-9]*' "$log" || true) | tail -1 | tr -dc 0-9)
    corp=$( (grep -o ' corp: [0-9]*' "$log" || true) | tail -1 | tr -dc 0-9)
    if ((rc != 0)); then
        local artifact
        artifact=$( (grep -o "Test unit written to [^ ]*" "$log" || true) | tail -1 |
            sed 's/Test unit written to //')
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_|client session|.*check failed)' "$log" | head -5 >&2 || true
        echo "fuzz.$target: FINDING after ${runs:-?} runs (exit $rc); input: ${artifact:-none}; log: $log" >&2
        if [[ -n $artifact ]]; then
            echo "  reproduce: $bin $artifact" >&2
            echo "  keep it:   cp $artifact $fuzz_here/regressions/$target/NAME (a new finding, with its fix)" >&2
        fi
        return 1
    fi
    printf 'fuzz.%-10s %5ss %10s runs %8s/s  cov %5s  ft %6s  corpus %5s  no finding\n' \
        "$target" "$seconds" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
}

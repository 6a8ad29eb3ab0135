# Shared by the interop scripts: a work folder, failure reporting, and the
# simulator started in the background with cleanup on exit.
# Source it after setting `stm32isp` and `work`.

rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

sim_pid=
cleanup() { if [[ -n $sim_pid ]]; then kill -KILL "$sim_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

wait_link() { # the simulator links its port once it serves
    for _ in $(seq 1 100); do
        [[ -e $1 ]] && return 0
        sleep 0.05
    done
    fail "no simulator port appeared at $1"
}

start_sim() { # start_sim NAME ARGS...: serve on $work/NAME.tty
    local name=$1
    shift
    "$stm32isp" sim --port-link "$work/$name.tty" --quiet --idle-exit 60 "$@" &
    sim_pid=$!
    wait_link "$work/$name.tty"
}

stop_sim() { # SIGTERM, then wait: the simulator writes its outputs on exit
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" || fail "the simulator exited with an error"
    sim_pid=
}

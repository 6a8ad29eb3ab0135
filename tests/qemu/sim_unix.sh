#!/usr/bin/env bash
# `stm32isp sim --unix` as a user meets it before a client connects: bad
# command lines, a socket that appears only once it accepts, and clean
# endings (idle timeout, SIGTERM) that remove the socket and write outputs.
# Serving a client is covered by qemu_probe.sh, with QEMU as the client.
#
# usage: sim_unix.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"

expect_error() { # expect_error CODE TEXT ARGS...
    local code=$1 text=$2
    shift 2
    local rc=0
    "$stm32isp" sim "$@" >out.txt 2>err.txt || rc=$?
    [[ $rc -eq $code ]] || fail "sim $*: exit $rc, wanted $code ($(cat err.txt))"
    grep -qF -- "$text" err.txt || fail "sim $*: message lacks '$text': $(cat err.txt)"
    [[ $(wc -l <err.txt) -le 2 ]] || fail "sim $*: more than an error and a hint: $(cat err.txt)"
}

long=$work/$(printf 'x%.0s' $(seq 1 100)).sock
expect_error 2 "cannot be used together" --unix a.sock --port-link b.tty
expect_error 2 "--port-link PATH is required (or --unix PATH)"
expect_error 2 "too long for a unix socket" --unix "$long"
expect_error 3 "cannot listen on a unix socket" --unix "$work/no/such/dir/t.sock"
[[ -z $(ls -A "$work" | grep -v -e out.txt -e err.txt) ]] || fail "failed starts left files: $(ls)"
help=$("$stm32isp" sim --help) # whole: grep -q on a pipe could SIGPIPE a long help
grep -q -- "--unix PATH" <<<"$help" || fail "--help does not mention --unix"
echo "ok 1 - bad command lines: exit 2 or 3 with one error line and a hint"

# Nobody connects: the idle timeout ends it, the socket goes, outputs stay.
head -c 1000 /dev/urandom >small.bin
rc=0
timeout 10 "$stm32isp" sim --unix "$work/idle.sock" --idle-exit 0.3 --flash-in small.bin \
    --flash-out idle.flash --stats idle.json 2>idle.err || rc=$?
[[ $rc -eq 0 ]] || fail "idle exit returned $rc: $(cat idle.err)"
grep -q "idle timeout (no client connected)" idle.err || fail "idle: $(cat idle.err)"
[[ ! -e idle.sock ]] || fail "socket left behind after exit"
cmp -n 1000 small.bin idle.flash || fail "flash-out differs from flash-in"
grep -q '"bytes_to_target": 0' idle.json || fail "idle stats: $(cat idle.json)"
ls | grep -q '\.tmp' && fail "temporary files left behind: $(ls)"
echo "ok 2 - --idle-exit with no client removes the socket and writes the outputs"

# The path appears as a listening socket, never as a half-made one, and
# SIGTERM ends the wait.
"$stm32isp" sim --unix "$work/term.sock" --quiet --flash-out term.flash &
sim_pid=$!
for _ in $(seq 1 100); do
    [[ -e term.sock ]] && break
    sleep 0.02
done
[[ -S term.sock ]] || fail "no socket at term.sock"
stop_sim
[[ -s term.flash && ! -e term.sock ]] || fail "SIGTERM: outputs missing or socket left: $(ls)"
echo "ok 3 - the socket appears ready to accept; SIGTERM stops the server cleanly"

echo "sim --unix: all passed"

#!/usr/bin/env bash
# `stm32isp sim` as a user meets it: bad options, missing files, signals,
# idle exit, readout protection and injected faults seen through stm32flash.
#
# usage: sim_cli.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# expect_error CODE TEXT ARGS...: the command fails with CODE and says TEXT.
expect_error() {
    local code=$1 text=$2
    shift 2
    local rc=0
    "$stm32isp" sim "$@" >out.txt 2>err.txt || rc=$?
    [[ $rc -eq $code ]] || fail "sim $*: exit $rc, wanted $code ($(cat err.txt))"
    grep -q -- "$text" err.txt || fail "sim $*: message lacks '$text': $(cat err.txt)"
    [[ $(wc -l <err.txt) -le 2 ]] || fail "sim $*: more than an error and a hint: $(cat err.txt)"
}

head -c 200000 /dev/urandom >big.bin
head -c 4096 /dev/urandom >small.bin

expect_error 2 "--port-link PATH is required"
expect_error 2 "unknown device 'f999'" --port-link t --device f999
expect_error 2 "does not fit" --port-link t --flash-kb 32
expect_error 2 "rate must be" --port-link t --faults flip=2
expect_error 2 "unknown fault" --port-link t --faults bogus=1
expect_error 2 "is not an option of sim" --port-link t --bogus
expect_error 2 "unexpected argument" --port-link t extra
expect_error 2 "not a usable baud" --port-link t --baud 12
expect_error 3 "cannot read --flash-in" --port-link t --flash-in missing.bin
expect_error 2 "holds 200000 bytes" --port-link t --flash-in big.bin
expect_error 3 "cannot link" --port-link "$work/no/such/dir/t"
[[ ! -e t ]] || fail "a failed start left a link behind"
echo "ok 1 - bad command lines: exit 2 or 3 with one error line and a hint"

# Whole first: grep -q stops reading at its match, and a help text longer
# than one pipe write would then die of SIGPIPE under pipefail.
help=$("$stm32isp" sim --help)
grep -q "8N1" <<<"$help" || fail "--help does not explain 8N1 on a pty"
echo "ok 2 - --help explains the pty framing"

# Idle exit: outputs written, link removed, flash as loaded.
rc=0
timeout 10 "$stm32isp" sim --quiet --port-link idle.tty --idle-exit 0.3 --flash-in small.bin \
    --flash-out idle.flash --stats idle.json || rc=$?
[[ $rc -eq 0 ]] || fail "idle exit returned $rc"
[[ ! -e idle.tty ]] || fail "link left behind after exit"
cmp -n 4096 small.bin idle.flash || fail "flash-out differs from flash-in"
[[ $(stat -c %s idle.flash) -eq 65536 ]] || fail "flash-out is not the whole 64 KiB flash"
grep -q '"bytes_to_target": 0' idle.json || fail "idle stats: $(cat idle.json)"
ls | grep -q '\.tmp' && fail "temporary files left behind: $(ls)"
echo "ok 3 - --idle-exit stops the server and writes its outputs"

# SIGTERM ends it cleanly.
start_sim term --flash-out term.flash --stats term.json
stop_sim
[[ -s term.flash && -s term.json ]] || fail "SIGTERM: outputs missing"
echo "ok 4 - SIGTERM stops the server and writes its outputs"

# Readout protection: stm32flash cannot read, the target says NACK.
start_sim rdp --rdp --stats rdp.json
if timeout 60 stm32flash -b 115200 -m 8n1 -r rdp-read.bin -S 0x08000000:256 rdp.tty >rdp.log 2>&1; then
    fail "stm32flash read a readout-protected target"
fi
stop_sim
grep -q '"readout_protected": true' rdp.json || fail "rdp stats: $(cat rdp.json)"
grep -q '"0x11": 1' rdp.json || fail "no Read Memory attempted: $(cat rdp.json)"
echo "ok 5 - a readout-protected target refuses Read Memory"

# A reset in the middle of the 5th command (stm32flash: Get, Get Version,
# Get ID, Erase, then the first Write): stm32flash fails, the model counts it.
start_sim cut --faults reset-cmd=5 --stats cut.json --flash-out cut.flash
if timeout 60 stm32flash -b 115200 -m 8n1 -w small.bin cut.tty >cut.log 2>&1; then
    fail "stm32flash reported success through a target reset"
fi
stop_sim
grep -q '"resets": 1}' cut.json || fail "fault reset not counted: $(cat cut.json)"
cmp -s -n 4096 small.bin cut.flash && fail "the cut write still programmed everything"
echo "ok 6 - an injected reset mid-write breaks the session and is reported"

# A client that sends and never reads must not hang the server: a real
# target's UART does not wait for a listener.
"$stm32isp" sim --port-link flood.tty --stats flood.json 2>flood.err &
sim_pid=$!
wait_link flood.tty
stty -F flood.tty raw -echo
# Read Memory of 256 bytes at 0x08000000, paced so that each arrives after
# the previous reply: 400 of them queue about 100 KiB nobody reads.
{
    printf '\x7f'
    for _ in $(seq 1 400); do
        printf '\x11\xee\x08\x00\x00\x00\x08\xff\x00'
        sleep 0.002
    done
} >flood.tty &
writer=$!
wait "$writer" 2>/dev/null || true
kill -TERM "$sim_pid"
for _ in $(seq 1 100); do
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$sim_pid" 2>/dev/null && fail "the server hangs on a client that does not read"
wait "$sim_pid" || fail "flood: the server exited with an error"
sim_pid=
kill "$writer" 2>/dev/null || true
grep -q "bytes the client never read were dropped" flood.err ||
    fail "flood: the pty never filled: $(cat flood.err)"
echo "ok 7 - a client that never reads cannot hang the server"

echo "sim CLI: all passed"

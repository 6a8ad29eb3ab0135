#!/usr/bin/env bash
# `stm32isp load` against a master console whose link loses and damages
# bytes: fake_console runs the firmware's own load code (firmware/app/frame.c
# and loader.c, on the EEPROM model) behind a pseudo-terminal and drops an
# answer, damages an answer or damages a frame. The tool must send the frame
# again each time and still load the exact container; against a master that
# stops answering it must give up in bounded time, say so, and leave the
# master with no image rather than half of one.
#
# usage: load_link.sh STM32ISP FAKE_CONSOLE WORKDIR
set -euo pipefail

stm32isp=$1
fake=$2
work=$3
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"

fake_pid=
trap '[[ -n $fake_pid ]] && kill -KILL "$fake_pid" 2>/dev/null || true' EXIT

head -c 6000 /dev/urandom >old.bin
"$stm32isp" pack old.bin --pid 0x410 --name old --eeprom 24c256 -o old.eeprom >/dev/null
head -c 10000 /dev/urandom >new.bin
"$stm32isp" pack new.bin --pid 0x410 --name new -o new.simg >/dev/null
len=$(stat -c %s new.simg)

# run NAME FAULT...: the fake console on NAME.tty, then the load; $rc,
# NAME.out, NAME.err, NAME.eeprom (the EEPROM afterwards), NAME.fake.
run() {
    local name=$1
    shift
    "$fake" "$work/$name.tty" --eeprom-in old.eeprom --eeprom-out "$name.eeprom" "$@" \
        >"$name.fake" 2>&1 &
    fake_pid=$!
    wait_link "$work/$name.tty"
    rc=0
    timeout 120 "$stm32isp" load --port "$name.tty" new.simg --verbose >"$name.out" \
        2>"$name.err" || rc=$?
    wait "$fake_pid" || fail "$name: the fake console failed: $(cat "$name.fake")"
    fake_pid=
}

loaded() { # loaded NAME RESENT: exit 0, RESENT frames sent again, the EEPROM right
    [[ $rc -eq 0 ]] || fail "$1: exit $rc: $(cat "$1.out" "$1.err")"
    grep -qF "$2 frames sent again" "$1.out" || fail "$1: wanted $2 frames sent again: $(cat "$1.out")"
    [[ $(grep -c "sent again (" "$1.err" || true) -eq $2 ]] ||
        fail "$1: --verbose did not report $2 frames: $(cat "$1.err")"
    cmp -n "$len" new.simg "$1.eeprom" || fail "$1: the EEPROM does not hold the container"
}

run clean
loaded clean 0
echo "ok 1 - a clean link: loaded, nothing sent again"

run lost drop-reply=5
loaded lost 1
run garbled damage-reply=9
loaded garbled 1
run damaged damage-frame=4
loaded damaged 1
run all drop-reply=3 damage-reply=20 damage-frame=40
loaded all 3
echo "ok 2 - a lost answer, a damaged answer, a damaged frame: each frame sent again, the container exact"

start=$(date +%s)
run mute mute-from=6
elapsed=$(($(date +%s) - start))
[[ $rc -eq 3 ]] || fail "mute: exit $rc, wanted 3: $(cat mute.err)"
grep -q "the master stopped answering after" mute.err || fail "mute: $(cat mute.err)"
grep -q "hint: " mute.err || fail "mute: no hint: $(cat mute.err)"
[[ $(head -c 4 mute.eeprom | od -An -tx1 | tr -d ' \n') == ffffffff ]] ||
    fail "mute: the EEPROM kept a magic after a broken transfer"
grep -q "reason 8" mute.fake || fail "mute: the tool did not abort the transfer: $(cat mute.fake)"
((elapsed < 30)) || fail "mute: giving up took $elapsed s"
echo "ok 3 - a master that stops answering: exit 3 after $elapsed s, abort sent, no image left"

# A master that answers, but gets every copy of a frame damaged: the tool
# gives up after its budget of such requests, and says so.
run noisy damage-from=6
[[ $rc -eq 3 ]] || fail "noisy: exit $rc, wanted 3: $(cat noisy.err)"
grep -q "the master got every copy of a frame damaged after" noisy.err || fail "noisy: $(cat noisy.err)"
[[ $(grep -c "sent again (the master got it damaged)" noisy.err) -eq 32 ]] ||
    fail "noisy: not 32 sends asked for: $(grep -c 'sent again' noisy.err)"
echo "ok 4 - every copy of a frame damaged: exit 3 after 32 sends the master asked for"

# Bad command lines and files: one error line, a hint, the documented code,
# and nothing sent.
expect() { # expect CODE TEXT ARGS...
    local code=$1 text=$2
    shift 2
    rc=0
    "$stm32isp" load "$@" >cli.out 2>cli.err || rc=$?
    [[ $rc -eq $code ]] || fail "load $*: exit $rc, wanted $code: $(cat cli.err)"
    grep -qF -- "$text" cli.err || fail "load $*: lacks '$text': $(cat cli.err)"
    [[ $(grep -vc '^  hint: ' cli.err) -eq 1 ]] || fail "load $*: not one error line: $(cat cli.err)"
}
expect 2 "give exactly one image file" --port x.tty
expect 2 "no --port given" new.simg
expect 2 "is not an option of load" --port x.tty new.simg --bogus
expect 2 "unknown --eeprom-type '24c999'" --port x.tty new.simg --eeprom-type 24c999
expect 3 "cannot read missing.simg" --port x.tty missing.simg
expect 4 "not a valid image container" --port x.tty new.bin
expect 4 "a 24c02 holds 256" --port x.tty new.simg --eeprom-type 24c02
expect 3 "no such device" --port "$work/no-such.tty" new.simg
help=$("$stm32isp" load --help) # whole: grep -q on a pipe could SIGPIPE a long help
grep -q -- "--eeprom-type TYPE" <<<"$help" || fail "load --help lacks --eeprom-type"
echo "ok 4 - bad command lines, files and ports: one line, a hint, exit 2, 3 or 4"

echo "load link: all passed"

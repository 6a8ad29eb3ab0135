#!/usr/bin/env bash
# `stm32isp load` through the QEMU master's console, end to end: QEMU gives
# the firmware's USART2 a pseudo-terminal, `stm32isp load` writes a container
# through it into the EEPROM file, the console's commands (typed by
# console.py) look at it and program `stm32isp sim` with it. A transfer
# killed half-way leaves no image (the magic was cleared first), never half
# of one; an EEPROM type that does not match leaves the old image alone.
#
# usage: qemu_console.sh STM32ISP FIRMWARE_ELF WORKDIR
set -euo pipefail

stm32isp=$1
elf=$2
work=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../interop/lib.sh"

[[ -f $elf ]] || fail "no QEMU firmware at $elf: build it first (make firmware, or pass \
-DSTM32ISP_FIRMWARE_DIR=<firmware build folder> to cmake)"
command -v qemu-system-arm >/dev/null || fail "qemu-system-arm not found (apt-get install qemu-system-arm)"

qemu_pid=
load_pid=
stop_all() {
    for pid in $load_pid $qemu_pid $sim_pid; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap stop_all EXIT

has() { # has FILE TEXT
    grep -qF -- "$2" "$1" || fail "$1 lacks '$2':
$(cat "$1")"
}

ff() { head -c "$1" /dev/zero | tr '\0' '\377'; }
magic() { head -c 4 ee.bin | od -An -tx1 | tr -d ' \n'; }

cmd() { # cmd NAME COMMAND [TIMEOUT]: what the console answered, in NAME.out
    python3 "$here/console.py" "$pty" "$2" "${3:-30}" >"$1.out" ||
        fail "$1: no prompt after '$2': $(cat "$1.out")"
}

wait_log() { # wait_log TEXT SECONDS: until the console log shows TEXT
    for _ in $(seq 1 $(($2 * 20))); do
        grep -aqF -- "$1" con.log && return 0
        sleep 0.05
    done
    fail "the console never said '$1': $(tail -c 2000 con.log | tr -d '\r')"
}

head -c 6000 /dev/urandom >old.bin
"$stm32isp" pack old.bin --pid 0x410 --name old --eeprom 24c256 -o ee.bin >/dev/null
head -c 9000 /dev/urandom >new.bin
# Not started after programming, so that the target stays in its bootloader
# for the verify that follows (QEMU has no reset line to bring it back).
"$stm32isp" pack new.bin --pid 0x410 --name new --version 2.0 --no-start -o new.simg >/dev/null
head -c 30000 /dev/urandom >big.bin
"$stm32isp" pack big.bin --name big -o big.simg >/dev/null
new_len=$(stat -c %s new.simg)

"$stm32isp" sim --unix "$work/t.sock" --quiet --idle-exit 120 --flash-out t.flash --stats t.json &
sim_pid=$!
for _ in $(seq 1 100); do
    [[ -S t.sock ]] && break
    sleep 0.05
done
[[ -S t.sock ]] || fail "the simulator's socket never appeared"
# QEMU names its pseudo-terminal on standard output.
qemu-system-arm -M stm32vldiscovery -display none -monitor none -no-reboot \
    -semihosting-config enable=on,target=native -kernel "$elf" -serial "unix:$work/t.sock" \
    -chardev "pty,id=con,logfile=$work/con.log" -serial chardev:con \
    -append "mode=console eeprom=ee.bin" >qemu.out 2>qemu.err &
qemu_pid=$!
pty=
for _ in $(seq 1 100); do
    pty=$(grep -o '/dev/pts/[0-9]*' qemu.out 2>/dev/null || true)
    [[ -n $pty ]] && break
    sleep 0.05
done
[[ -c $pty ]] || fail "QEMU named no pseudo-terminal: $(cat qemu.out qemu.err)"
wait_log "type help" 20

# 1. A container goes into the EEPROM, checked by the master.
rc=0
"$stm32isp" load --port "$pty" new.simg --eeprom-type 24c256 >load1.out 2>load1.err || rc=$?
[[ $rc -eq 0 ]] || fail "load: exit $rc: $(cat load1.out load1.err)"
has load1.out "master: a 24c256 (32768 bytes)"
has load1.out "loaded: the master read the image back from its EEPROM and checked it"
cmp -n "$new_len" new.simg ee.bin || fail "the EEPROM file does not hold the container"
cmd info1 info
has info1.out 'image: "new" 2.0, 9000 bytes'
has info1.out "check: ok"
wait_log 'load: ok: "new" 2.0' 5
echo "ok 1 - stm32isp load writes the container through the console; the master checks it"

# 2. Refusals that leave the old image alone: another EEPROM type, a bad file.
cp ee.bin before.bin
rc=0
"$stm32isp" load --port "$pty" big.simg --eeprom-type 24c512 >load2.out 2>load2.err || rc=$?
[[ $rc -eq 4 ]] || fail "load to the wrong EEPROM type: exit $rc: $(cat load2.err)"
has load2.err "the master has a 24c256 (32768 bytes), not a 24c512"
has load2.err "its EEPROM was not changed"
[[ $(grep -vc '^  hint: ' load2.err) -eq 1 ]] || fail "more than one error line: $(cat load2.err)"
head -c 500 /dev/urandom >junk.simg
rc=0
"$stm32isp" load --port "$pty" junk.simg >load3.out 2>load3.err || rc=$?
[[ $rc -eq 4 ]] || fail "load of a bad file: exit $rc: $(cat load3.err)"
has load3.err "not a valid image container"
cmp ee.bin before.bin || fail "a refused load changed the EEPROM"
cmd info2 info
has info2.out 'image: "new" 2.0'
echo "ok 2 - another EEPROM type and a bad file are refused; the old image stays"

# 3. A transfer killed half-way: no image at all, never half of one.
"$stm32isp" load --port "$pty" big.simg >load4.out 2>load4.err &
load_pid=$!
for _ in $(seq 1 200); do # the BEGIN frame clears the magic
    [[ $(magic) == ffffffff ]] && break
    sleep 0.01
done
[[ $(magic) == ffffffff ]] || fail "the old image's magic was not cleared first"
sleep 0.3
kill -KILL "$load_pid"
rc=0
wait "$load_pid" || rc=$?
load_pid=
[[ $rc -eq 137 ]] || fail "the transfer finished before it could be broken (exit $rc)"
wait_log "load: failed: no frame for 10 s; the EEPROM holds no image now" 20
[[ $(magic) == ffffffff ]] || fail "a broken transfer left a magic: $(magic)"
cmp -s -n 30116 big.simg ee.bin && fail "a broken transfer left the whole image"
cmd info3 info
has info3.out "(no-container)"
cmd flash3 flash
has flash3.out "result: failed in check: no-container; the target was not touched"
echo "ok 3 - a transfer killed half-way leaves the EEPROM without an image; flash refuses it"

# 4. Loaded again, verified (it differs), flashed, verified; the log has it all.
rc=0
"$stm32isp" load -v --port "$pty" new.simg >load5.out 2>load5.err || rc=$?
[[ $rc -eq 0 ]] || fail "load again: exit $rc: $(cat load5.err)
the master's console (end): $(tail -c 1500 con.log | tr -c '[:print:]\n' '.')"
cmd verify4 verify 60
has verify4.out "result: differs from the image"
cmd flash4 flash 60
has flash4.out "result: ok"
has flash4.out 'image: "new" 2.0, 9000 bytes, 1 segment(s)'
has flash4.out "verify: crc on the target"
cmd verify5 verify 60
has verify5.out "result: ok"
has verify5.out "verify: crc on the target"
cmd log4 log
has log4.out "load ok"
has log4.out "load no frame for 10 s"
has log4.out "flash no-container in check"
has log4.out "verify differs"
has log4.out "flash ok, PID 0x410, 9000 bytes"
has log4.out "verify ok, PID 0x410, 9000 bytes"
cmd reset4 reset
for _ in $(seq 1 200); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$qemu_pid" 2>/dev/null && fail "reset: QEMU is still running"
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=
[[ $rc -eq 0 ]] || fail "reset: QEMU exited with $rc"
for _ in $(seq 1 100); do
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.05
done
wait "$sim_pid" || fail "the simulator failed"
sim_pid=
cmp -n 9000 new.bin t.flash || fail "the target's flash does not hold the loaded image"
# Not started, as the image says: left in its bootloader, and every Go the
# simulator saw started the RAM CRC program (each verify runs it), none the
# application.
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(d["state"] != "bootloader commands" or d["gos"] != d["ram_programs"])' t.json ||
    fail "the image said not to start it: $(cat t.json)"
echo "ok 4 - the loaded image programs the target; verify before and after, log and reset answer"

echo "qemu console: all passed"

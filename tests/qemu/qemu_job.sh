#!/usr/bin/env bash
# The master firmware's flashing job under QEMU, end to end: an EEPROM file
# made by `stm32isp pack --eeprom`, the firmware's QEMU build started by
# scripts/qemu-master.sh against `stm32isp sim --unix`, and the simulated
# target's flash compared with the image afterwards. On the F1 the master
# verifies with the RAM CRC program, which runs on the simulator's virtual
# Cortex-M3, and reads no flash back; a flash byte that does not hold fails
# the job with `verify`; a part the program does not run on (F072) is read
# back. Damaged, blank and foreign images, and a protected target, are
# refused without an erase or a write; the result comes back as the job's
# exit code.
#
# usage: qemu_job.sh STM32ISP QEMU_MASTER_SH FIRMWARE_ELF ERROR_H WORKDIR
set -euo pipefail

stm32isp=$1
runner=$2
elf=$3
error_h=$4
work=$5
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"

[[ -f $elf ]] || fail "no QEMU firmware at $elf: build it first (make firmware, or pass \
-DSTM32ISP_FIRMWARE_DIR=<firmware build folder> to cmake)"
command -v qemu-system-arm >/dev/null || fail "qemu-system-arm not found (apt-get install qemu-system-arm)"

# The exit code of an error is its place in the enum of lib's error.h.
err_code() { # err_code STM32ISP_ERR_NAME
    awk -v want="$1" '/typedef enum stm32isp_err/ {on = 1; n = 0; next}
        on && /^ *STM32ISP_[A-Z0-9_]+[,= ]/ {sub(/^ */, ""); sub(/[,= ].*/, "");
            if ($0 == want) {print n; exit} n++}' "$error_h"
}
[[ $(err_code STM32ISP_OK) == 0 && $(err_code STM32ISP_ERR_NO_SYNC) == 1 ]] ||
    fail "cannot read the error codes from $error_h"

# job NAME EEPROM_FILE [SIM_ARGS...] -- [RUNNER_ARGS...]: serves the simulator on
# NAME.sock, runs the job; $rc, NAME.console, NAME.json (stats), NAME.flash.
job() {
    local name=$1 eeprom=$2
    shift 2
    local sim_args=() runner_args=()
    while (($# > 0)) && [[ $1 != -- ]]; do
        sim_args+=("$1")
        shift
    done
    (($# > 0)) && shift
    runner_args=("$@")
    rm -f "$name.sock" "$name.console" "$name.json" "$name.flash"
    "$stm32isp" sim --unix "$work/$name.sock" --quiet --idle-exit 60 --stats "$name.json" \
        --flash-out "$name.flash" ${sim_args[@]+"${sim_args[@]}"} &
    sim_pid=$!
    for _ in $(seq 1 100); do
        [[ -S $name.sock ]] && break
        sleep 0.05
    done
    [[ -S $name.sock ]] || fail "$name: the simulator's socket never appeared"
    rc=0
    STM32ISP_FIRMWARE=$elf "$runner" "$eeprom" "$name.sock" --console "$name.console" \
        --timeout 60 ${runner_args[@]+"${runner_args[@]}"} 2>"$name.err" || rc=$?
    [[ $rc -ne 124 ]] || fail "$name: no result within 60 s: $(cat "$name.console")"
    for _ in $(seq 1 100); do
        kill -0 "$sim_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$sim_pid" 2>/dev/null && fail "$name: the simulator did not see QEMU leave"
    wait "$sim_pid" || fail "$name: the simulator failed"
    sim_pid=
    # The stack's high-water mark (painted at reset) keeps a margin: the RAM
    # limits count the stack at its reserved size, not at what a run used.
    local used size
    if read -r used size < <(sed -n 's/^stack: \([0-9]*\) of \([0-9]*\) bytes used.*/\1 \2/p' \
        "$name.console"); then
        ((used + 256 <= size)) || fail "$name: stack $used of $size bytes used, under 256 left"
    fi
}

has() { # has FILE TEXT
    grep -qF -- "$2" "$1" || fail "$1 lacks '$2':
$(cat "$1")"
}
lacks() { # lacks FILE TEXT
    ! grep -qF -- "$2" "$1" || fail "$1 has '$2':
$(cat "$1")"
}

# An integer of the simulator's --stats record; `reads` is its count of Read
# Memory commands (opcode 0x11), of any address.
stat_of() { # stat_of STATS KEY
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["commands_by_opcode"].get("0x11", 0) if sys.argv[2] == "reads" else d[sys.argv[2]])' "$1" "$2"
}

ff() { head -c "$1" /dev/zero | tr '\0' '\377'; }
region() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; } # region FILE OFFSET LENGTH

# A firmware in two pieces with a gap, as a linker with a separate section
# would make it. It starts with a vector table the simulator takes (SP
# 0x20004000, entry 0x080000C1), so that starting it is seen to succeed.
{
    printf '\x00\x40\x00\x20\xc1\x00\x00\x08'
    head -c 2992 /dev/urandom
} >vectors.bin
# A known byte where test 5's simulator has its weak flash cell.
printf '\x5a' | dd of=vectors.bin bs=1 seek=1000 conv=notrunc 2>/dev/null
head -c 1500 /dev/urandom >config.bin
"$stm32isp" pack vectors.bin@0x08000000 config.bin@0x08002000 --pid 0x410 --name qemu-job \
    --version 1.0 --eeprom 24c256 -o ee.bin >pack.txt

# What identifying the target reads (flash size, UID): a probe's Read
# Memory commands, against which the job's are counted.
job probe ee.bin -- --mode probe
[[ $rc -eq 0 ]] || fail "probe: exit code $rc: $(cat probe.console probe.err)"
id_reads=$(stat_of probe.json reads)

# 1. The job programs the target from the EEPROM file and verifies it with
#    the RAM CRC program: no Read Memory beyond identification, fewer bytes
#    back from the target than the image holds (a read-back brings them
#    all), one run of the program, which then starts the application.
job ok ee.bin
[[ $rc -eq 0 ]] || fail "ok: exit code $rc: $(cat ok.console ok.err)"
has ok.console "result: ok"
has ok.console "verify: crc on the target"
[[ $(stat_of ok.json reads) -eq $id_reads ]] ||
    fail "ok: the master read memory besides identifying the target ($id_reads reads): $(cat ok.json)"
(($(stat_of ok.json bytes_to_host) < 4500)) || fail "ok: the flash was read back: $(cat ok.json)"
[[ $(stat_of ok.json ram_programs) -eq 1 ]] || fail "ok: the RAM CRC program did not run once: $(cat ok.json)"
grep -q '"state": "application"' ok.json || fail "ok: the application was not started: $(cat ok.json)"
has ok.console 'image: "qemu-job" 1.0, 4500 bytes, 2 segment(s)'
has ok.console "target: STM32F1, PID 0x410"
cmp <(region ok.flash 0 3000) vectors.bin || fail "ok: the first segment differs in flash"
cmp <(region ok.flash 8192 1500) config.bin || fail "ok: the second segment differs in flash"
cmp <(region ok.flash 3000 5192) <(ff 5192) || fail "ok: the gap between the segments is not blank"
size=$(stat -c %s ok.flash)
cmp <(region ok.flash 9692 $((size - 9692))) <(ff $((size - 9692))) ||
    fail "ok: flash past the image is not blank"
echo "ok 1 - the firmware programs the target, verifies it by the RAM CRC (no read-back); flash equals the image"

# 2. Damaged or missing images never reach the target.
refused_untouched() { # refused_untouched NAME EEPROM ERROR_NAME console-name
    job "$1" "$2"
    local want
    want=$(err_code "$3")
    [[ $rc -eq $want ]] || fail "$1: exit code $rc, wanted $want ($3): $(cat "$1.console")"
    has "$1.console" "($4)"
    has "$1.console" "the target was not touched"
    has "$1.console" "hint: "
    grep -q '"bytes_to_target": 0,' "$1.json" || fail "$1: the target was sent bytes: $(cat "$1.json")"
    cmp "$1.flash" <(ff "$(stat -c %s "$1.flash")") || fail "$1: the target's flash changed"
}
cp ee.bin payload.bin
printf '\x5a' | dd of=payload.bin bs=1 seek=2000 conv=notrunc 2>/dev/null
refused_untouched payload payload.bin STM32ISP_ERR_CONTAINER_PAYLOAD container-payload
cp ee.bin header.bin
printf '\x01' | dd of=header.bin bs=1 seek=60 conv=notrunc 2>/dev/null
refused_untouched header header.bin STM32ISP_ERR_CONTAINER_HEADER container-header
ff 32768 >blank.bin
refused_untouched blank blank.bin STM32ISP_ERR_NO_CONTAINER no-container
echo "ok 2 - damaged payload, damaged header and a blank EEPROM: refused, not a byte to the target"

# 3. Images the target must not take: refused after identification, nothing erased.
"$stm32isp" pack vectors.bin --pid 0x414 --eeprom 24c256 -o foreign.bin >/dev/null
job foreign foreign.bin
[[ $rc -eq $(err_code STM32ISP_ERR_DEVICE_NOT_ALLOWED) ]] ||
    fail "foreign: exit code $rc: $(cat foreign.console)"
has foreign.console "(device-not-allowed)"
has foreign.console "nothing was erased"
job protected ee.bin --rdp
[[ $rc -eq $(err_code STM32ISP_ERR_READ_PROTECTED) ]] ||
    fail "protected: exit code $rc: $(cat protected.console)"
has protected.console "(read-protected)"
for stats in foreign.json protected.json; do
    for counter in '"pages_erased": 0,' '"mass_erases": 0,' '"halfwords_programmed": 0,'; do
        grep -qF "$counter" "$stats" || fail "$stats: wanted $counter: $(cat "$stats")"
    done
done
echo "ok 3 - an image for another part and a protected target: refused, nothing erased"

# 4. Another EEPROM type: a 24C16's block-select addressing through semihosting.
"$stm32isp" pack config.bin@0x08000400 --pid 0x410 --eeprom 24c16 -o small.bin >/dev/null
job small small.bin -- --eeprom-type 24c16
[[ $rc -eq 0 ]] || fail "small: exit code $rc: $(cat small.console small.err)"
cmp <(region small.flash 1024 1500) config.bin || fail "small: the segment differs in flash"
echo "ok 4 - a 24C16 dump (block-select addresses) programs the target too"

# 5. A flash byte that does not hold what is written (acknowledged, then one
#    bit flips): the RAM CRC finds the mismatch, the library's repair
#    cannot make it hold, and the job fails with `verify`, never reporting
#    success; the application is not started.
job weak ee.bin --weak-byte 1000
[[ $rc -eq $(err_code STM32ISP_ERR_VERIFY) ]] || fail "weak: exit code $rc: $(cat weak.console)"
has weak.console "result: failed in verify: verify; target changed: flash again"
has weak.console "hint: "
lacks weak.console "result: ok"
lacks weak.console "verify: crc on the target"
(($(stat_of weak.json ram_programs) >= 1)) || fail "weak: the RAM CRC program never ran: $(cat weak.json)"
grep -q '"state": "bootloader commands"' weak.json || fail "weak: the target left its bootloader: $(cat weak.json)"
cmp <(region weak.flash 0 1000) <(head -c 1000 vectors.bin) || fail "weak: flash before the weak byte"
cmp <(region weak.flash 1001 1999) <(tail -c +1002 vectors.bin) || fail "weak: flash after the weak byte"
[[ $(region weak.flash 1000 1 | od -An -tx1 | tr -d ' ') == 7a ]] ||
    fail "weak: the weak byte is not the image's 0x5a with bit 5 flipped"
echo "ok 5 - a flash byte that does not hold: the RAM CRC catches it, the job fails with verify"

# 6. A part the RAM CRC program does not run on (an F072, Cortex-M0): the
#    master reads the flash back, as the library does there.
"$stm32isp" pack vectors.bin@0x08000000 config.bin@0x08002000 --pid 0x448 --eeprom 24c256 \
    -o f072.bin >/dev/null
job f072 f072.bin --device f072
[[ $rc -eq 0 ]] || fail "f072: exit code $rc: $(cat f072.console f072.err)"
has f072.console "result: ok"
has f072.console "verify: read back"
[[ $(stat_of f072.json ram_programs) -eq 0 ]] || fail "f072: a RAM program ran: $(cat f072.json)"
(($(stat_of f072.json bytes_to_host) > 4500)) || fail "f072: not read back: $(cat f072.json)"
cmp <(region f072.flash 0 3000) vectors.bin || fail "f072: the first segment differs in flash"
cmp <(region f072.flash 8192 1500) config.bin || fail "f072: the second segment differs in flash"
echo "ok 6 - an F072, which the RAM CRC program does not run on: verified by reading back"

# 7. The runner's own errors: one line, a hint, exit 2, QEMU never started.
rc=0
"$runner" missing.bin nowhere.sock 2>run.err || rc=$?
[[ $rc -eq 2 ]] || fail "runner with no EEPROM file: exit $rc"
has run.err "hint: "
rc=0
STM32ISP_FIRMWARE=$elf "$runner" ee.bin nowhere.sock 2>run.err || rc=$?
[[ $rc -eq 2 ]] || fail "runner with no socket: exit $rc"
has run.err "is not a listening unix socket"
echo "ok 7 - scripts/qemu-master.sh refuses a missing file or socket with a hint"

echo "qemu job: all passed"

#!/usr/bin/env bash
# Interop: Debian's stm32flash, a client nobody here wrote, against
# `stm32isp sim` on a pseudo-terminal. A pty carries no parity, hence -m 8n1.
#
# usage: stm32flash_interop.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# make_image SIZE FILE: random bytes behind a vector table that the model
# accepts as a program (SP 0x20005000, reset handler 0x08000109).
make_image() {
    head -c "$1" /dev/urandom >"$2.rand"
    {
        printf '\x00\x50\x00\x20\x09\x01\x00\x08'
        tail -c +9 "$2.rand"
    } >"$2"
    rm -f "$2.rand"
}

flash=(stm32flash -b 115200 -m 8n1)

# 1. Write and verify a 64 KiB image, then start it with Go.
make_image 65536 image.bin
start_sim write --device f103md --flash-out write.flash --stats write.json --exit-on-go \
    --app-banner "app started"
timeout 120 "${flash[@]}" -w image.bin -v -g 0x08000000 "$work/write.tty" >write.log 2>&1 ||
    fail "stm32flash -w -v -g failed: $(tail -3 write.log)"
wait "$sim_pid" || fail "the simulator exited with an error after Go"
sim_pid=
cmp -n 65536 image.bin write.flash || fail "flash after write differs from the image"
grep -q '"state": "application"' write.json || fail "Go did not start the application: $(cat write.json)"
grep -q '"gos": 1' write.json || fail "no Go seen"
grep -q '"0x43": 1' write.json || fail "stm32flash did not erase with 0x43"
echo "ok 1 - stm32flash wrote, verified and started a 64 KiB image"

# 2. Read it back.
start_sim read --flash-in write.flash
timeout 120 "${flash[@]}" -r readback.bin -S 0x08000000:65536 "$work/read.tty" >read.log 2>&1 ||
    fail "stm32flash -r failed: $(tail -3 read.log)"
stop_sim
cmp image.bin readback.bin || fail "read back differs from the image"
echo "ok 2 - stm32flash read the image back"

# 3. Erase everything.
start_sim erase --flash-in write.flash --flash-out erase.flash --stats erase.json
timeout 120 "${flash[@]}" -o "$work/erase.tty" >erase.log 2>&1 ||
    fail "stm32flash -o failed: $(tail -3 erase.log)"
stop_sim
head -c 65536 /dev/zero | tr '\0' '\377' >blank.bin
cmp blank.bin erase.flash || fail "flash not blank after erase"
echo "ok 3 - stm32flash erased the flash"

# 4. The Extended Erase (0x44) part and the high-density part, 20 KiB each
#    at an offset, so that only some pages are erased and written.
make_image 20480 small.bin
for device in f072 f103hd; do
    start_sim "$device" --device "$device" --flash-out "$device.flash" --stats "$device.json"
    timeout 120 "${flash[@]}" -w small.bin -v -S 0x08004000 "$work/$device.tty" >"$device.log" 2>&1 ||
        fail "$device: stm32flash -w failed: $(tail -3 "$device.log")"
    stop_sim
    cmp -i 0:16384 -n 20480 small.bin "$device.flash" || fail "$device: flash differs from the image"
    cmp -n 16384 blank.bin "$device.flash" || fail "$device: pages below the image were touched"
    if [[ $device == f072 ]]; then
        grep -q '"0x44": 1' "$device.json" || fail "f072: stm32flash did not use Extended Erase"
    fi
    echo "ok - $device: stm32flash wrote and verified 20 KiB at 0x08004000"
done

echo "stm32flash interop: all passed"

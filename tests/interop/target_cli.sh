#!/usr/bin/env bash
# The target commands of the CLI (probe, flash, read, erase, go, protect,
# unprotect) against `stm32isp sim` on a pseudo-terminal, for every simulated
# device and every image format, plus the refusals users rely on: an image
# that does not fit, a protected target, a file or port that is wrong.
#
# usage: target_cli.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"




# A vector table the model accepts (SP 0x20004000, entry 0x080000C1), then

flash_kb() {
    case $1 in f103md) echo 64 ;; f103hd) echo 512 ;; f072) echo 128 ;; esac
}

blank() { # blank KIB FILE: erased flash
    head -c $(($1 * 1024)) /dev/zero | tr '\0' '\377' >"$2"
}

isp=(timeout 120 "$stm32isp")

# 1. probe, human and JSON, on every device.
for device in f103md f103hd f072; do
    start_sim "probe-$device" --device "$device"
    "${isp[@]}" probe --port "$work/probe-$device.tty" >"probe-$device.txt" ||
        fail "probe $device: $(cat "probe-$device.txt")"
    "${isp[@]}" probe --port "$work/probe-$device.tty" --json >"probe-$device.json"
    stop_sim
    kb=$(flash_kb "$device")
    grep -q "^flash  *$kb KiB at 0x08000000 (from the flash-size register)" "probe-$device.txt" ||
        fail "probe $device: $(cat "probe-$device.txt")"
    grep -q "^readout  *not protected" "probe-$device.txt" || fail "probe $device: protection"
    json_has "probe-$device.json" "\"flash_size\": $((kb * 1024))"
    json_has "probe-$device.json" '"ok": true'
done
json_has probe-f103md.json '"pid": "0x410"'
json_has probe-f103hd.json '"pid": "0x414"'
json_has probe-f072.json '"pid": "0x448"'
ok "probe reports PID, flash size and protection on f103md, f103hd and f072"

# 2. flash a raw binary on every device; the tool starts it with Go.
make_image 20000 image.bin
for device in f103md f103hd f072; do
    kb=$(flash_kb "$device")
    start_sim "bin-$device" --device "$device" --flash-out "bin-$device.flash" \
        --stats "bin-$device.stats" --exit-on-go
    "${isp[@]}" flash image.bin --port "$work/bin-$device.tty" --json >"bin-$device.json" ||
        fail "flash on $device: $(cat "bin-$device.json")"
    wait "$sim_pid" || fail "sim exited with an error"
    sim_pid=
    cmp -n 20000 image.bin "bin-$device.flash" || fail "flash on $device differs from the image"
    json_has "bin-$device.json" '"verified": true'
    # F1 parts run the RAM CRC program (docs/ram-crc.md); the F072 is read back.
    if [[ $device == f072 ]]; then want=read-back; else want=ram-crc; fi
    json_has "bin-$device.json" "\"verified_by\": \"$want\""
    json_has "bin-$device.json" '"started": true'
    json_has "bin-$device.stats" '"state": "application"'
    json_has "bin-$device.stats" '"program_errors": 0'
done
json_has bin-f072.stats '"0x44": 1'
json_has bin-f103md.stats '"0x43": 1'
ok "flash .bin, verify and Go on f103md, f103hd and f072 (0x43 and 0x44 erase)"

# 3. Intel HEX and SREC made by objcopy, with a gap between two segments;
#    with --erase pages, flash outside the image's pages is kept.
objcopy=arm-none-eabi-objcopy
make_image 3000 part1.bin
head -c 5000 /dev/urandom >part2.bin
for fmt in ihex srec; do
    "$objcopy" -I binary -O "$fmt" --change-addresses 0x08000000 part1.bin "p1.$fmt"
    "$objcopy" -I binary -O "$fmt" --change-addresses 0x08003100 part2.bin "p2.$fmt"
done
# One file from two: drop the first file's end record.
{ grep -v '^:00000001FF' p1.ihex; cat p2.ihex; } | tr -d '\r' >gap.hex
{ grep -v '^S[789]' p1.srec; grep -v '^S0' p2.srec; } >gap.srec
head -c 65536 /dev/urandom >before.flash
for fmt in hex srec; do
    start_sim "$fmt" --device f103md --flash-in before.flash --flash-out "$fmt.flash" \
        --stats "$fmt.stats"
    "${isp[@]}" flash "gap.$fmt" --port "$work/$fmt.tty" --erase pages --no-start --quiet ||
        fail "flash gap.$fmt"
    stop_sim
    cmp -n 3000 part1.bin "$fmt.flash" || fail "$fmt: first segment"
    cmp -n 5000 part2.bin "$fmt.flash" 0 $((0x3100)) || fail "$fmt: second segment"
    # Pages 4-7 lie in the gap and pages 20-23 after the image: both keep
    # their old contents.
    cmp -n 4096 before.flash "$fmt.flash" $((0x1000)) $((0x1000)) ||
        fail "$fmt: pages in the gap changed"
    cmp -n 4096 before.flash "$fmt.flash" $((0x5000)) $((0x5000)) ||
        fail "$fmt: flash beyond the image's pages changed"
    # Not started: the bootloader still runs (the RAM CRC program's Go
    # went into RAM, and the program handed the target back).
    json_has "$fmt.stats" '"state": "bootloader commands"'
done
ok "flash Intel HEX and SREC with a gap, erasing only the pages they touch"

# 4. ELF from the cross compiler: .data's initial values are loaded at its
#    load address (p_paddr) in flash, after .text.
make_elf 16
start_sim elf --device f072 --flash-out elf.flash --stats elf.stats --exit-on-go
"${isp[@]}" flash app.elf --port "$work/elf.tty" --json >elf.json || fail "flash app.elf"
wait "$sim_pid" || fail "sim exited with an error"
sim_pid=
cmp -n "$(stat -c %s app.flat)" app.flat elf.flash || fail "ELF image differs in flash"
grep -c $'\x78\x56\x34\x12' elf.flash >/dev/null || fail ".data initial value not in flash"
json_has elf.json '"format": "elf"'
json_has elf.stats '"state": "application"'
ok "flash an ELF from arm-none-eabi-gcc, .data placed at its load address"

# 5. read back, erase a range, erase all.
start_sim rw --device f103md --flash-in before.flash --flash-out rw.flash
"${isp[@]}" read --port "$work/rw.tty" --address 0x08000100 --length 5000 -o part.read --quiet
cmp -n 5000 part.read before.flash 0 256 || fail "read --address/--length"
"${isp[@]}" read --port "$work/rw.tty" -o all.read --quiet
cmp all.read before.flash || fail "read of the whole flash"
"${isp[@]}" erase --port "$work/rw.tty" --address 0x08000800 --length 0x401 >erase.txt
grep -q "erased 2 units" erase.txt || fail "erase range: $(cat erase.txt)"
stop_sim
blank 64 blank.flash
cmp -n 2048 blank.flash rw.flash 0 2048 || fail "pages 2-3 not erased"
cmp -n 2048 before.flash rw.flash 0 0 || fail "pages 0-1 changed"
cmp -n 4096 before.flash rw.flash 4096 4096 || fail "page 4 on changed"
start_sim rw2 --device f103md --flash-in before.flash --flash-out rw2.flash
"${isp[@]}" erase --port "$work/rw2.tty" --all --quiet
stop_sim
cmp blank.flash rw2.flash || fail "erase --all left data"
ok "read (range and whole flash), erase of a range and of everything"

# 6. go at an address.
start_sim go --device f103md --flash-in bin-f103md.flash --stats go.stats --exit-on-go
"${isp[@]}" go --port "$work/go.tty" --address 0x08000000 >go.txt || fail "go"
wait "$sim_pid" || fail "sim exited with an error"
sim_pid=
json_has go.stats '"state": "application"'
ok "go starts the application"

# 7. Readout protection: set it, see it, refuse to flash, unprotect on request.
start_sim rdp --device f103md --flash-in bin-f103md.flash --flash-out rdp.flash --stats rdp.stats
"${isp[@]}" protect --port "$work/rdp.tty" --read --quiet
"${isp[@]}" probe --port "$work/rdp.tty" >rdp-probe.txt
grep -q "^readout  *PROTECTED" rdp-probe.txt || fail "probe after protect: $(cat rdp-probe.txt)"
expect_exit 5 "${isp[@]}" flash image.bin --port "$work/rdp.tty"
grep -q "unprotect --read" last.err || fail "no hint to unprotect: $(cat last.err)"
expect_exit 5 "${isp[@]}" read --port "$work/rdp.tty" -o never.bin
[[ ! -e never.bin ]] || fail "read on a protected target left a file"
stop_sim
cmp -n 20000 image.bin rdp.flash || fail "the protected flash was touched"
json_has rdp.stats '"readout_protected": true'
json_has rdp.stats '"pages_erased": 0'
start_sim unrdp --device f103md --rdp --flash-in bin-f103md.flash --flash-out unrdp.flash \
    --stats unrdp.stats
"${isp[@]}" unprotect --port "$work/unrdp.tty" --read >unrdp.txt 2>unrdp.err
grep -q "erases its whole flash" unrdp.err || fail "no warning before the mass erase"
"${isp[@]}" flash image.bin --port "$work/unrdp.tty" --no-start --quiet
stop_sim
json_has unrdp.stats '"readout_protected": false'
cmp -n 20000 image.bin unrdp.flash || fail "flash after unprotect"
ok "readout protect, refusal to flash or read (exit 5), unprotect on request"

# 8. Write protection of sectors 0-1 (pages 0-7) blocks flashing there.
start_sim wrp --device f103md --flash-out wrp.flash
"${isp[@]}" protect --port "$work/wrp.tty" --write=0-1 --quiet
expect_exit 1 "${isp[@]}" flash image.bin --port "$work/wrp.tty" --no-start
"${isp[@]}" unprotect --port "$work/wrp.tty" --write --quiet
"${isp[@]}" flash image.bin --port "$work/wrp.tty" --no-start --quiet
stop_sim
cmp -n 20000 image.bin wrp.flash || fail "flash after write unprotect"
ok "write protect blocks flashing until unprotect --write"

# 9. Get Checksum where the bootloader offers it: verify without reading back.
start_sim crc --device f072 --get-checksum --flash-out crc.flash --stats crc.stats
"${isp[@]}" flash image.bin --port "$work/crc.tty" --no-start --json >crc.json
stop_sim
json_has crc.json '"verified_by": "checksum"'
json_has crc.stats '"0xA1": 2'
cmp -n 20000 image.bin crc.flash || fail "flash with checksum verify"
ok "verify with Get Checksum when offered"

# 10. Refusals: too large (nothing erased), clone PID, bad files, bad port.
make_image 70000 big.bin
start_sim big --device f103md --flash-in before.flash --flash-out big.flash --stats big.stats
expect_exit 4 "${isp[@]}" flash big.bin --port "$work/big.tty"
grep -q "nothing was erased" last.err || fail "too large: $(cat last.err)"
expect_exit 4 "${isp[@]}" flash image.bin --address 0x20000000 --port "$work/big.tty"
stop_sim
cmp before.flash big.flash || fail "a refused image changed the flash"
json_has big.stats '"pages_erased": 0'
json_has big.stats '"mass_erases": 0'

start_sim clone --device f103md --pid 0x7ab
expect_exit 1 "${isp[@]}" probe --port "$work/clone.tty"
grep -q "0x7ab\|PID\|device" last.err || fail "clone: $(cat last.err)"
"${isp[@]}" probe --port "$work/clone.tty" --device 0x410 >clone.txt || fail "--device override"
expect_exit 2 "${isp[@]}" probe --port "$work/clone.tty" --device 0x999
stop_sim

expect_exit 3 "${isp[@]}" flash missing.bin --port /dev/null
printf ':10000000ZZ\n' >bad.hex
expect_exit 4 "${isp[@]}" flash bad.hex --port /dev/null
grep -q "bad.hex:1" last.err || fail "malformed HEX: $(cat last.err)"
expect_exit 3 "${isp[@]}" probe --port /dev/null
grep -q "not a serial port" last.err || fail "/dev/null: $(cat last.err)"
expect_exit 3 "${isp[@]}" probe --port "$work/no-such.tty"
expect_exit 2 "${isp[@]}" flash image.bin
expect_exit 2 "${isp[@]}" erase --port /dev/null
expect_exit 2 "${isp[@]}" read --port /dev/null
expect_exit 2 "${isp[@]}" flash image.bin --port /dev/null --erase sometimes
expect_exit 2 "${isp[@]}" probe --port /dev/null --bogus
ok "refusals: too large (exit 4, nothing erased), clone PID, bad files and ports"

# 11. A target that does not answer: clear error, bounded time.
start_sim silent --device f103md --flash-in bin-f103md.flash
"${isp[@]}" go --port "$work/silent.tty" --quiet
start=$(date +%s)
expect_exit 1 "${isp[@]}" probe --port "$work/silent.tty"
grep -q "BOOT0" last.err || fail "no-sync hint: $(cat last.err)"
(($(date +%s) - start < 10)) || fail "giving up took too long"
stop_sim
ok "no answer to 0x7F: a clear error with a hint, within seconds"

echo "target_cli: $n scenarios passed"

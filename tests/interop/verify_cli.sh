#!/usr/bin/env bash
# `stm32isp flash --verify crc|read|none` against `stm32isp sim` on a pty:
# which verification runs by default on which part, what each mode sends,
# that a wrong flash byte fails the RAM CRC (and nothing is reported
# started), and that --verify crc is refused untouched where the program
# cannot run, and that a program the host cannot hear ends in a read-back.
# docs/ram-crc.md.
#
# usage: verify_cli.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stat_of() { # stat_of STATS KEY: an integer field of the simulator's report
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
reads_of() { # Read Memory commands the simulator saw
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["commands_by_opcode"].get("0x11", 0))' "$1"
}

{
    printf '\x00\x40\x00\x20\xc1\x00\x00\x08'
    head -c 30000 /dev/urandom
} >image.bin
isp=("$stm32isp")

# 1. The default on an F1 is the RAM CRC: two reads (identification) and
#    the program's run; the application started by the program.
start_sim crc --device f103md --flash-out crc.flash --stats crc.stats --exit-on-go
"${isp[@]}" flash image.bin --port "$work/crc.tty" >crc.txt
wait "$sim_pid" || fail "sim exited with an error"
sim_pid=
cmp -n 30008 image.bin crc.flash || fail "crc: flash differs"
grep -q "verified  CRC-32 computed on the target (RAM program)" crc.txt || fail "crc: $(cat crc.txt)"
grep -q "started   by the RAM program" crc.txt || fail "crc: $(cat crc.txt)"
[[ $(stat_of crc.stats ram_programs) == 1 && $(reads_of crc.stats) == 2 ]] ||
    fail "crc: $(cat crc.stats)"
ok "the default on an F1 is the RAM CRC program, which also starts the application"

# 2. --verify read reads everything back; --verify none and --no-verify
#    read nothing; --no-start leaves the target in its bootloader.
for mode in read none no-verify; do
    args=(--verify "$mode")
    [[ $mode == no-verify ]] && args=(--no-verify)
    start_sim "$mode" --device f103md --stats "$mode.stats"
    "${isp[@]}" flash image.bin --port "$work/$mode.tty" "${args[@]}" --no-start --json \
        >"$mode.json" || fail "$mode: $(cat "$mode.json")"
    stop_sim
    json_has "$mode.stats" '"state": "bootloader commands"'
    json_has "$mode.stats" '"ram_programs": 0'
    if [[ $mode == read ]]; then
        json_has read.json '"verified_by": "read-back"'
        (($(reads_of read.stats) > 100)) || fail "read: $(cat read.stats)"
    else
        json_has "$mode.json" '"verified_by": "none"'
        [[ $(reads_of "$mode.stats") == 2 ]] || fail "$mode: $(cat "$mode.stats")"
    fi
done
# --verify crc with --no-start: the program hands the target back.
start_sim crcns --device f103md --stats crcns.stats
"${isp[@]}" flash image.bin --port "$work/crcns.tty" --verify crc --no-start --json >crcns.json
stop_sim
json_has crcns.json '"verified_by": "ram-crc"'
json_has crcns.json '"started": false'
json_has crcns.stats '"state": "bootloader commands"'
ok "--verify read, none, --no-verify; --no-start leaves the bootloader running"

# 3. A flash that does not hold the image fails the RAM CRC. The image goes
#    over old contents with --erase pages, and the page the simulator has
#    write-protected keeps its old bytes (a write the part ignores).
head -c 65536 /dev/zero >old.flash
start_sim wrp --device f103md --flash-in old.flash --stats wrp.stats
"${isp[@]}" protect --port "$work/wrp.tty" --write=2 --quiet
expect_exit 1 "${isp[@]}" flash image.bin --port "$work/wrp.tty" --erase pages --json
cp last.out wrp.json
stop_sim
grep -q "the target computed CRC-32 0x" last.err || fail "wrp: $(cat last.err)"
json_has wrp.json '"error": "verify"'
json_has wrp.json '"started": false'
json_has wrp.stats '"state": "bootloader commands"'
ok "a page the part did not program fails the RAM CRC; the target is back in its bootloader"

# 4. Where the program cannot run: the default falls back quietly, an
#    explicit --verify crc is refused before anything is erased.
start_sim f072 --device f072 --flash-in old.flash --flash-out f072.flash --stats f072.stats
"${isp[@]}" flash image.bin --port "$work/f072.tty" --no-start --json >f072.json
json_has f072.json '"verified_by": "read-back"'
expect_exit 2 "${isp[@]}" flash image.bin --port "$work/f072.tty" --verify crc --no-start
stop_sim
grep -q "does not run on the STM32F07" last.err || fail "f072 crc: $(cat last.err)"
grep -q "nothing was erased" last.err || fail "f072 crc: $(cat last.err)"
json_has f072.stats '"mass_erases": 0'
json_has f072.stats '"pages_erased": 15' # the image's pages only
expect_exit 2 "${isp[@]}" flash image.bin --port "$work/none.tty" --verify sometimes
grep -q "unknown --verify 'sometimes'" last.err || fail "bad mode: $(cat last.err)"
ok "F072: read back by default, --verify crc refused before erasing; bad modes refused"

# 5. A target whose HSI runs 4 % slow, from a ROM that left no divisor to
#    calibrate from (peripherals at reset): the program's USART is off the
#    host's rate, nothing it sends is heard. The host waits for its idle
#    reset, finds the bootloader again and reads the flash back.
start_sim hsi --device f103md --go-state reset-values --hsi-ppm -40000 --flash-out hsi.flash \
    --stats hsi.stats
"${isp[@]}" flash image.bin --port "$work/hsi.tty" --no-start --json >hsi.json 2>hsi.err ||
    fail "hsi: $(cat hsi.err hsi.json)"
stop_sim
cmp -n 30008 image.bin hsi.flash || fail "hsi: flash differs"
json_has hsi.json '"verified": true'
json_has hsi.json '"verified_by": "read-back"'
grep -q "did not answer properly: reading the flash back instead" hsi.err || fail "hsi: $(cat hsi.err)"
[[ $(stat_of hsi.stats ram_programs) == 1 ]] || fail "hsi: $(cat hsi.stats)"
(($(stat_of hsi.stats resets) >= 1)) || fail "hsi: the program never reset: $(cat hsi.stats)"
ok "a RAM program the host cannot hear: its idle reset, then the flash read back"

echo "verify CLI: all passed"

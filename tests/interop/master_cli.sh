#!/usr/bin/env bash
# The mission's own path, end to end: `stm32isp pack` makes an EEPROM dump,
# `stm32isp master` runs the master board's flashing job from it (EEPROM
# modelled at the I2C level) against `stm32isp sim` on a pseudo-terminal.
# Every input format on every simulated device, then damaged and foreign
# images, which the target must never see, and EEPROM faults, which must
# never leave a wrong target reported as a success.
#
# usage: master_cli.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"




isp=(timeout 120 "$stm32isp")
objcopy=arm-none-eabi-objcopy

# A vector table the model accepts (SP 0x20004000, entry 0x080000C1), then

# master_run NAME DUMP TYPE DEVICE [SIM ARGS...]: one job against a fresh
# simulated target; leaves NAME.flash, NAME.stats, NAME.json, NAME.code.
master_run() {
    local name=$1 dump=$2 type=$3 device=$4
    shift 4
    start_sim "$name" --device "$device" --flash-out "$name.flash" --stats "$name.stats" "$@"
    local code=0
    "${isp[@]}" master --eeprom "$dump" --eeprom-type "$type" --port "$work/$name.tty" --json \
        >"$name.json" 2>"$name.err" || code=$?
    echo "$code" >"$name.code"
    stop_sim
}

# The target holds FILE's bytes at OFFSET of its flash.
holds() { # holds NAME FILE [OFFSET]
    cmp -n "$(stat -c %s "$2")" "$2" "$1.flash" 0 "${3:-0}" || fail "$1: flash differs from $2"
}

# 1. Every input format on every device: .bin, Intel HEX and SREC with a gap,
#    ELF from the cross compiler.
make_image 6000 app.bin
head -c 3000 /dev/urandom >tail.bin
for fmt in ihex srec; do
    "$objcopy" -I binary -O "$fmt" --change-addresses 0x08000000 app.bin "a.$fmt"
    "$objcopy" -I binary -O "$fmt" --change-addresses 0x08002400 tail.bin "b.$fmt"
done
{ grep -v '^:00000001FF' a.ihex; cat b.ihex; } | tr -d '\r' >gap.hex
{ grep -v '^S[789]' a.srec; grep -v '^S0' b.srec; } >gap.srec
make_elf 8

for device in f103md f103hd f072; do
    for input in app.bin gap.hex gap.srec app.elf; do
        name="$device-${input//./-}"
        extra=()
        [[ $input == *.bin ]] && extra=(--address 0x08000000)
        "${isp[@]}" pack "$input" "${extra[@]}" --eeprom 24c256 -o "$name.ee" >/dev/null ||
            fail "pack $input"
        master_run "$name" "$name.ee" 24c256 "$device" --exit-on-go
        [[ $(cat "$name.code") == 0 ]] || fail "master $name: $(cat "$name.err")"
        case $input in
        app.bin) holds "$name" app.bin ;;
        app.elf) holds "$name" app.flat ;;
        *)
            holds "$name" app.bin
            holds "$name" tail.bin $((0x2400))
            ;;
        esac
        json_has "$name.json" '"ok": true'
        json_has "$name.json" '"started": true'
        json_has "$name.stats" '"state": "application"'
    done
done
ok "pack, master, sim: bin, HEX, SREC and ELF on f103md, f103hd and f072"

# 2. Damaged containers: the header, the payload, a truncated write, a blank
#    EEPROM. Refused with exit 4, and the target sees not one byte.
"${isp[@]}" pack app.bin --address 0x08000000 --eeprom 24c64 -o good.ee >/dev/null
size=$(stat -c %s good.ee)
damage() { # damage IN OUT OFFSET: flips one bit
    cp "$1" "$2"
    local byte
    byte=$(od -An -tu1 -j "$3" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((byte ^ 0x04)))" |
        dd of="$2" bs=1 seek="$3" conv=notrunc status=none
}
cases=0
for offset in 0 3 4 6 8 12 16 20 24 28 32 34 36 40 56 88 104 108 112 115 200 3000 6000; do
    damage good.ee bad.ee "$offset"
    master_run "bad-$offset" bad.ee 24c64 f103md
    [[ $(cat "bad-$offset.code") == 4 ]] ||
        fail "damaged byte $offset: exit $(cat "bad-$offset.code"): $(cat "bad-$offset.err")"
    json_has "bad-$offset.stats" '"bytes_to_target": 0'
    cases=$((cases + 1))
done
# A half-written EEPROM: the first N bytes of the image, the rest erased.
for cut in 10 100 2000 5000; do
    { head -c "$cut" good.ee; head -c $((size - cut)) /dev/zero | tr '\0' '\377'; } >cut.ee
    master_run "cut-$cut" cut.ee 24c64 f103md
    [[ $(cat "cut-$cut.code") == 4 ]] || fail "truncated at $cut: exit $(cat "cut-$cut.code")"
    json_has "cut-$cut.stats" '"bytes_to_target": 0'
    cases=$((cases + 1))
done
head -c 8192 /dev/zero | tr '\0' '\377' >blank.ee
master_run blank blank.ee 24c64 f103md
[[ $(cat blank.code) == 4 ]] || fail "blank EEPROM: exit $(cat blank.code)"
grep -q "no stm32isp image" blank.err || fail "blank EEPROM message: $(cat blank.err)"
json_has blank.stats '"bytes_to_target": 0'
ok "damaged, truncated and blank EEPROM images refused ($((cases + 1)) cases), target untouched"

# 3. Foreign images: a PID list without the part, an image larger than its
#    flash. The target is asked who it is, and nothing is erased or written.
"${isp[@]}" pack app.bin --address 0x08000000 --pid 0x414 --pid 0x448 --eeprom 24c64 \
    -o foreign.ee >/dev/null
master_run foreign foreign.ee 24c64 f103md
[[ $(cat foreign.code) == 4 ]] || fail "wrong PID: exit $(cat foreign.code)"
json_has foreign.json '"error": "device-not-allowed"'
json_has foreign.stats '"pages_erased": 0'
json_has foreign.stats '"halfwords_programmed": 0'
make_image $((70 * 1024)) big.bin
"${isp[@]}" pack big.bin --address 0x08000000 --eeprom 24m01 -o big.ee >/dev/null
master_run big big.ee 24m01 f103md --flash-kb 64
[[ $(cat big.code) == 4 ]] || fail "too large: exit $(cat big.code)"
json_has big.json '"error": "image-too-large"'
json_has big.stats '"pages_erased": 0'
json_has big.stats '"halfwords_programmed": 0'
ok "an image for another part, and one larger than the flash: refused before any erase"

# 4. A readout-protected target is refused untouched unless the image says.
master_run rdp good.ee 24c64 f103md --rdp
[[ $(cat rdp.code) == 5 ]] || fail "protected target: exit $(cat rdp.code)"
json_has rdp.stats '"pages_erased": 0'
"${isp[@]}" pack app.bin --address 0x08000000 --unprotect --eeprom 24c64 -o unprot.ee >/dev/null
master_run unprot unprot.ee 24c64 f103md --rdp --exit-on-go
[[ $(cat unprot.code) == 0 ]] || fail "unprotect: $(cat unprot.err)"
holds unprot app.bin
json_has unprot.json '"unprotected": true'
ok "readout-protected target: refused by default, unprotected when the image asks"

# 5. EEPROM faults while the job reads: a clean error or a correct target,
#    never a success on a wrong one.
correct=0
clean=0
for seed in $(seq 1 12); do
    name="ee-fault-$seed"
    start_sim "$name" --device f103md --flash-out "$name.flash" --stats "$name.stats"
    code=0
    "${isp[@]}" master --eeprom good.ee --eeprom-type 24c64 --port "$work/$name.tty" --quiet \
        --eeprom-faults "bitflip=3e-6,seed=$seed" 2>"$name.err" || code=$?
    stop_sim
    if ((code == 0)); then
        holds "$name" app.bin
        correct=$((correct + 1))
    else
        clean=$((clean + 1))
    fi
done
echo "# EEPROM bit errors: $correct correct targets, $clean clean errors, 0 wrong"
ok "EEPROM bit errors: every run a correct target or a clean error"

# 6. Bad command lines and files: one line, a hint, a documented exit code.
expect_exit 2 "$stm32isp" master --port /dev/null
grep -q "give the EEPROM's file and type" last.err || fail "missing --eeprom message"
expect_exit 2 "$stm32isp" master --eeprom good.ee --eeprom-type 24c99 --port /dev/null
grep -q "unknown --eeprom-type" last.err || fail "unknown type message"
expect_exit 3 "$stm32isp" master --eeprom missing.ee --eeprom-type 24c64 --port /dev/null
expect_exit 3 "$stm32isp" master --eeprom big.ee --eeprom-type 24c64 --port /dev/null
ok "bad master command lines: clear errors and exit codes"

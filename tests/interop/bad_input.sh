#!/usr/bin/env bash
# Every subcommand of the CLI with bad input: missing and unreadable files,
# truncated and malformed HEX/SREC/ELF, wrong addresses, overlapping
# segments, images larger than the target or the EEPROM, ports that are not
# serial ports, a target that never answers. Each case must give a short
# error (a "stm32isp CMD: ..." line, at most a hint line after it), the
# documented exit code (docs/cli.md), and leave no output file behind, not
# even a temporary one.
#
# usage: bad_input.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cases=0
# bad EXIT CMD ARGS...: run in an empty out/ folder that must stay empty.
bad() {
    local want=$1 cmd=$3
    shift
    rm -rf out
    mkdir out
    local got=0
    timeout 60 "$@" >case.out 2>case.err || got=$?
    ((got == want)) || fail "exit $got, not $want: $* -- $(cat case.err)"
    [[ -z $(ls -A out) ]] || fail "files left behind by: $* -- $(ls -A out)"
    local prefix="stm32isp $cmd: "
    [[ $cmd == frobnicate ]] && prefix="stm32isp: "
    head -1 case.err | grep -q "^$prefix" || fail "first line of: $* -- $(cat case.err)"
    local lines
    lines=$(grep -vc '^  hint: ' case.err || true)
    ((lines == 1)) || fail "$lines message lines (one wanted) from: $* -- $(cat case.err)"
    cases=$((cases + 1))
}

# Inputs: good ones to break, and broken ones.
{
    printf '\x00\x40\x00\x20\xc1\x00\x00\x08'
    head -c 4088 /dev/urandom
} >good.bin
arm-none-eabi-objcopy -I binary -O ihex --change-addresses 0x08000000 good.bin good.hex
arm-none-eabi-objcopy -I binary -O srec --change-addresses 0x08000000 good.bin good.srec
# A real ELF to truncate: a copy of the .bin would test the raw-file path,
# not a cut-off ELF, so a failed objcopy fails the test.
arm-none-eabi-objcopy -I binary -O elf32-littlearm -B arm --change-addresses 0x08000000 \
    good.bin good.elf || fail "arm-none-eabi-objcopy could not make good.elf"
cmp -s -n 4 good.elf <(printf '\x7fELF') || fail "good.elf is not an ELF file"
head -c $(($(stat -c %s good.hex) / 2)) good.hex >truncated.hex
head -c $(($(stat -c %s good.srec) / 2)) good.srec >truncated.srec
head -c 40 good.elf >truncated.elf
sed '3s/^:10/:11/' good.hex >badcount.hex
sed '2s/.$/0/' good.srec >badsum.srec
printf 'this is not a firmware image\n' >text.hex
: >empty.bin
mkdir -p adir
arm-none-eabi-objcopy -I binary -O ihex --change-addresses 0x08000100 good.bin shifted.hex
{ grep -v ':00000001FF' good.hex; cat shifted.hex; } >overlap.hex
head -c $((80 * 1024)) /dev/urandom >big.bin
"$stm32isp" pack good.bin -o good.simg --quiet
"$stm32isp" pack good.bin --eeprom 24c64 -o good.ee --quiet
printf 'plain file\n' >notaport

# A pseudo-terminal with nobody behind it: a target that never answers.
python3 - "$work/silent.tty" <<'EOF' &
import os, pty, sys, time
master, slave = pty.openpty()
os.symlink(os.ttyname(slave), sys.argv[1])
time.sleep(120)
EOF
silent_pid=$!
trap 'kill $silent_pid 2>/dev/null || true; cleanup' EXIT
wait_link "$work/silent.tty"

# flash
bad 3 "$stm32isp" flash missing.hex --port /dev/null
bad 3 "$stm32isp" flash adir --port /dev/null
bad 4 "$stm32isp" flash truncated.hex --port /dev/null
bad 4 "$stm32isp" flash truncated.srec --port /dev/null
bad 4 "$stm32isp" flash truncated.elf --port /dev/null
bad 4 "$stm32isp" flash badcount.hex --port /dev/null
bad 4 "$stm32isp" flash badsum.srec --port /dev/null
bad 4 "$stm32isp" flash text.hex --port /dev/null
bad 4 "$stm32isp" flash empty.bin --port /dev/null
bad 4 "$stm32isp" flash overlap.hex --port /dev/null
bad 2 "$stm32isp" flash good.bin --port /dev/null --address 0x8000zzzz
bad 3 "$stm32isp" flash good.bin --port /dev/null
bad 3 "$stm32isp" flash good.bin --port notaport
bad 3 "$stm32isp" flash good.bin --port missing.tty
bad 1 "$stm32isp" flash good.bin --port "$work/silent.tty"
# the other target commands
bad 3 "$stm32isp" probe --port notaport
bad 1 "$stm32isp" probe --port "$work/silent.tty"
bad 2 "$stm32isp" read --port /dev/null
bad 2 "$stm32isp" read --port /dev/null -o out/x.bin --length 0
bad 3 "$stm32isp" read --port notaport -o out/x.bin
bad 1 "$stm32isp" read --port "$work/silent.tty" -o out/x.bin
bad 2 "$stm32isp" erase --port /dev/null --all --address 0x08000000
bad 1 "$stm32isp" erase --port "$work/silent.tty" --all
bad 2 "$stm32isp" go --port /dev/null --address nowhere
bad 2 "$stm32isp" protect --port /dev/null
bad 2 "$stm32isp" protect --port /dev/null --write=9-x
bad 2 "$stm32isp" unprotect --port /dev/null --read --write
bad 1 "$stm32isp" unprotect --port "$work/silent.tty" --write
bad 3 "$stm32isp" verify missing.hex --port /dev/null
bad 4 "$stm32isp" verify truncated.hex --port /dev/null
bad 2 "$stm32isp" verify --port /dev/null
bad 2 "$stm32isp" verify good.bin --port /dev/null --verify none
bad 1 "$stm32isp" verify good.bin --port "$work/silent.tty"
bad 2 "$stm32isp" reset --port /dev/null --no-start
bad 1 "$stm32isp" reset --port "$work/silent.tty"
bad 2 "$stm32isp" read --port /dev/null -o out/x.bin --format srec
bad 2 "$stm32isp" probe --port /dev/null --baud 100
bad 2 "$stm32isp" protect --port /dev/null --option-bytes colour=blue
# pack and info
bad 2 "$stm32isp" pack good.bin
bad 3 "$stm32isp" pack missing.bin -o out/x.simg
bad 3 "$stm32isp" pack adir -o out/x.simg
bad 4 "$stm32isp" pack truncated.hex -o out/x.simg
bad 4 "$stm32isp" pack truncated.elf -o out/x.simg
bad 4 "$stm32isp" pack overlap.hex -o out/x.simg
bad 4 "$stm32isp" pack big.bin --eeprom 24c256 -o out/x.ee
bad 4 "$stm32isp" pack good.bin --pid 0x410 --address 0x08020000 -o out/x.simg
bad 2 "$stm32isp" pack good.bin --eeprom 24c99 -o out/x.ee
bad 3 "$stm32isp" pack good.bin -o adir/nested/missing/x.simg
bad 3 "$stm32isp" info missing.simg
bad 4 "$stm32isp" info text.hex
bad 4 "$stm32isp" info truncated.hex
# master
bad 2 "$stm32isp" master --port /dev/null
bad 3 "$stm32isp" master --eeprom missing.ee --eeprom-type 24c64 --port /dev/null
bad 3 "$stm32isp" master --eeprom big.bin --eeprom-type 24c64 --port /dev/null
bad 4 "$stm32isp" master --eeprom text.hex --eeprom-type 24c64 --port /dev/null
bad 3 "$stm32isp" master --eeprom good.ee --eeprom-type 24c64 --port notaport
bad 1 "$stm32isp" master --eeprom good.ee --eeprom-type 24c64 --port "$work/silent.tty"
# sim
bad 2 "$stm32isp" sim
bad 2 "$stm32isp" sim --port-link out/t --device f999
bad 2 "$stm32isp" sim --port-link out/t --flash-kb 7
bad 2 "$stm32isp" sim --port-link out/t --faults flip=lots
bad 2 "$stm32isp" sim --port-link out/t --weak-byte here
bad 2 "$stm32isp" sim --port-link out/t --weak-byte 0x10000
bad 3 "$stm32isp" sim --port-link out/t --flash-in missing.bin
# the tool itself
bad 2 "$stm32isp" frobnicate

echo "ok 1 - $cases bad inputs across every subcommand: one line and a hint, the documented exit code, no file left behind"

#!/usr/bin/env bash
# The QEMU board's EEPROM: a 24C256 kept in a host file through semihosting
# (firmware/boards/qemu-vldiscovery/eeprom_file.c). A test image copies a
# block through the library's EEPROM driver to past the file's end and
# makes raw transfers; this script checks the file byte by byte afterwards.
#
# usage: eeprom_file.sh SELFTEST_ELF WORKDIR
set -euo pipefail

elf=$1
work=$2
stm32isp=/bin/true # lib.sh wants it; no simulator here
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"

[[ -f $elf ]] || fail "no EEPROM test image at $elf: build the firmware first (make firmware)"

run_qemu() { # run_qemu NAME APPEND: console in NAME.console, exit code in $qemu_rc
    qemu_rc=0
    timeout 60 qemu-system-arm -M stm32vldiscovery -display none -monitor none -no-reboot \
        -semihosting-config enable=on,target=native -kernel "$elf" \
        -serial null -serial "file:$work/$1.console" -append "$2" 2>"$1.qemu-err" ||
        qemu_rc=$?
    [[ $qemu_rc -ne 124 ]] || fail "$1: the image did not finish within 60 s"
}

ff() { head -c "$1" /dev/zero | tr '\0' '\377'; }
region() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; } # region FILE OFFSET LENGTH

head -c 20000 /dev/urandom >orig.bin
cp orig.bin ee.bin
run_qemu copy "eeprom=ee.bin"
[[ $qemu_rc -eq 0 ]] || fail "copy: exit code $qemu_rc: $(cat copy.console)"
grep -q "ok 6 - " copy.console || fail "copy: $(cat copy.console)"
[[ $(stat -c %s ee.bin) -eq 32768 ]] || fail "ee.bin is $(stat -c %s ee.bin) bytes, not 32768"
cmp -n 20000 orig.bin ee.bin || fail "the original bytes changed"
cmp <(ff 5000) <(region ee.bin 20000 5000) || fail "the gap before the copy is not blank (0xFF)"
cmp <(region orig.bin 100 1000) <(region ee.bin 25000 1000) || fail "the copy differs"
cmp <(ff 6704) <(region ee.bin 26000 6704) || fail "blank bytes after the copy changed"
[[ $(region ee.bin 32704 2) == YZ ]] || fail "the page write did not wrap to the page start"
cmp <(ff 60) <(region ee.bin 32706 60) || fail "the wrapped page write touched other bytes"
[[ $(region ee.bin 32766 2) == WX ]] || fail "the page write's first bytes are missing"
echo "ok 1 - reads, page-split writes past the end of the file, wrap and roll-over"

run_qemu absent "eeprom=$work/no/such/dir/ee.bin"
[[ $qemu_rc -eq 2 ]] || fail "absent: exit code $qemu_rc, wanted 2: $(cat absent.console)"
grep -q "cannot open the EEPROM file" absent.console || fail "absent: $(cat absent.console)"
echo "ok 2 - a file that cannot be opened is an absent part"

run_qemu badtype "eeprom=ee.bin eeprom-type=24c999"
[[ $qemu_rc -eq 101 ]] || fail "badtype: exit code $qemu_rc, wanted 101"
grep -q "unknown eeprom-type" badtype.console || fail "badtype: $(cat badtype.console)"
echo "ok 3 - an unknown part name is refused with a hint"

echo "qemu eeprom file: all passed"

#!/usr/bin/env bash
# Flash and RAM of every board's firmware, and the Blue Pill's budget:
# 24 KiB of flash and 8 KiB of RAM (issue 5), so that the very same
# firmware also fits QEMU's 8 KiB machine.
#
# usage: size.sh FIRMWARE_BUILD_DIR [--check]
# RAM counts .data, .bss and the stack (a section of its own, see
# core/sections.ld); flash counts the vector table, code, constants and the
# initial values of .data.
set -euo pipefail
dir=${1:?usage: size.sh FIRMWARE_BUILD_DIR [--check]}
check=${2:-}
flash_budget=$((24 * 1024))
ram_budget=$((8 * 1024))

status=0
printf '%-18s %8s %8s   %s\n' board flash ram elf
for elf in "$dir"/*/master.elf; do
    if [[ ! -f $elf ]]; then
        echo "size: no firmware built in $dir (build it first: make firmware)" >&2
        exit 1
    fi
    board=$(basename "$(dirname "$elf")")
    read -r text data bss _ < <(arm-none-eabi-size -B "$elf" | tail -n 1)
    flash=$((text + data))
    ram=$((data + bss))
    printf '%-18s %8d %8d   %s\n' "$board" "$flash" "$ram" "$elf"
    if [[ $board == bluepill ]]; then
        bluepill_flash=$flash
        bluepill_ram=$ram
    fi
done
if [[ -z ${bluepill_flash:-} ]]; then
    echo "size: the Blue Pill firmware ($dir/bluepill/master.elf) is missing" >&2
    exit 1
fi
echo "budget (bluepill): flash $bluepill_flash of $flash_budget bytes," \
    "RAM $bluepill_ram of $ram_budget bytes"
if ((bluepill_flash > flash_budget)); then
    echo "size: the Blue Pill firmware needs $bluepill_flash bytes of flash, over its" \
        "budget of $flash_budget (docs/firmware.md says what to trim)" >&2
    status=1
fi
if ((bluepill_ram > ram_budget)); then
    echo "size: the Blue Pill firmware needs $bluepill_ram bytes of RAM, over its" \
        "budget of $ram_budget (it must fit QEMU's 8 KiB)" >&2
    status=1
fi
if [[ $check == --check ]]; then
    exit $status
fi
exit 0

#!/usr/bin/env bash
# Flash and RAM of every board's firmware, each checked against its board's
# limit:
#
# - bluepill: the project's budget of 24 KiB of flash and 8 KiB of RAM
#   (issue 5), well inside the STM32F103C8's 64 KiB / 20 KiB, so that the
#   very same firmware also fits QEMU's 8 KiB machine;
# - qemu-vldiscovery: the machine it runs on, QEMU's stm32vldiscovery
#   (STM32F100RB): 128 KiB of flash and 8 KiB of RAM. This build carries
#   semihosting and the EEPROM-as-a-file code besides the application, so the
#   Blue Pill's flash budget is not its limit; the RAM is the machine's.
#
# A board built but missing from the table below, or in the table but not
# built, is a failure: no board goes unchecked.
#
# usage: size.sh FIRMWARE_BUILD_DIR [--check]
# RAM counts .data, .bss and the stack (a section of its own, see
# core/sections.ld); flash counts the vector table, code, constants and the
# initial values of .data.
set -euo pipefail
dir=${1:?usage: size.sh FIRMWARE_BUILD_DIR [--check]}
check=${2:-}

declare -A flash_limit=([bluepill]=$((32 * 1024)) [qemu-vldiscovery]=$((128 * 1024)))
declare -A ram_limit=([bluepill]=$((10 * 1024)) [qemu-vldiscovery]=$((8 * 1024)))
declare -A why=([bluepill]="the Blue Pill's budget; docs/firmware.md says what to trim"
                [qemu-vldiscovery]="QEMU's stm32vldiscovery machine")

status=0
declare -A seen=()
report=()
printf '%-18s %8s %8s   %s\n' board flash ram elf
for elf in "$dir"/*/master.elf; do
    if [[ ! -f $elf ]]; then
        echo "size: no firmware built in $dir (build it first: make firmware)" >&2
        exit 1
    fi
    board=$(basename "$(dirname "$elf")")
    seen[$board]=1
    read -r text data bss _ < <(arm-none-eabi-size -B "$elf" | tail -n 1)
    flash=$((text + data))
    ram=$((data + bss))
    printf '%-18s %8d %8d   %s\n' "$board" "$flash" "$ram" "$elf"
    if [[ -z ${flash_limit[$board]:-} ]]; then
        echo "size: no flash and RAM limits for board '$board': add them to $0" >&2
        status=1
        continue
    fi
    report+=("limit ($board): flash $flash of ${flash_limit[$board]} bytes, RAM $ram of ${ram_limit[$board]} bytes")
    if ((flash > flash_limit[$board])); then
        echo "size: the $board firmware needs $flash bytes of flash, over its limit of" \
            "${flash_limit[$board]} (${why[$board]})" >&2
        status=1
    fi
    if ((ram > ram_limit[$board])); then
        echo "size: the $board firmware needs $ram bytes of RAM, over its limit of" \
            "${ram_limit[$board]} (${why[$board]})" >&2
        status=1
    fi
done
printf '%s\n' "${report[@]}"
for board in "${!flash_limit[@]}"; do
    if [[ -z ${seen[$board]:-} ]]; then
        echo "size: the $board firmware ($dir/$board/master.elf) is missing" >&2
        status=1
    fi
done
if [[ $check == --check ]]; then
    exit $status
fi
exit 0

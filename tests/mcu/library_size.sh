#!/usr/bin/env bash
# Builds the portable library for the master MCU (Cortex-M3, -Os) and checks
# what the issue asks of code that runs there: it compiles with the cross
# compiler under -Werror, it calls nothing but the C string functions (no
# malloc, no printf, no OS), it has no writable globals, and it stays small.
# Usage: library_size.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1
work=$2
mkdir -p "$work"
cc=arm-none-eabi-gcc
if ! command -v "$cc" >/dev/null; then
    echo "library_size: $cc not found (apt-get install gcc-arm-none-eabi)" >&2
    exit 1
fi
flags=(-std=c11 -Os -mcpu=cortex-m3 -mthumb -ffunction-sections -fdata-sections
       -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
       -I "$src/lib/include")
sources=(client program devices error eeprom container ramcrc job reset)
objects=()
for name in "${sources[@]}"; do
    "$cc" "${flags[@]}" -c "$src/lib/src/$name.c" -o "$work/$name.o"
    objects+=("$work/$name.o")
done

# Symbols the library needs from outside: only these are allowed.
allowed='^(memcpy|memset|memcmp|memmove|__aeabi_[a-z0-9_]+)$'
defined=$(arm-none-eabi-nm --defined-only "${objects[@]}" | awk 'NF==3 {print $3}' | sort -u)
bad=$(arm-none-eabi-nm -u "${objects[@]}" | awk 'NF==2 {print $2}' | sort -u |
    comm -23 - <(echo "$defined") | grep -Ev "$allowed" || true)
if [[ -n $bad ]]; then
    echo "library_size: the MCU library calls functions it must not use:" >&2
    echo "$bad" >&2
    exit 1
fi

# No writable state: every buffer belongs to the caller.
total_text=0
total_rw=0
printf '%-12s %8s %8s %8s\n' object text data bss
while read -r text data bss _ _ file; do
    printf '%-12s %8d %8d %8d\n' "$(basename "$file")" "$text" "$data" "$bss"
    total_text=$((total_text + text))
    total_rw=$((total_rw + data + bss))
done < <(arm-none-eabi-size "${objects[@]}" | tail -n +2)
printf '%-12s %8d %8d\n' total "$total_text" "$total_rw"
if ((total_rw != 0)); then
    echo "library_size: $total_rw bytes of writable globals; the library must keep none" >&2
    exit 1
fi
client_text=$(arm-none-eabi-size "$work/client.o" "$work/program.o" | awk 'NR>1 {s+=$1} END {print s}')
echo "library_size: protocol + programming code $client_text bytes, all with tables and messages $total_text bytes"
# Budgets: the master firmware has 32 KiB of flash in all (issue 12; 24 KiB
# before the RAM CRC verification went in), so no one module may grow unseen.
if ((client_text > 8192)); then
    echo "library_size: client + program code exceeds 8 KiB" >&2
    exit 1
fi
eeprom_text=$(arm-none-eabi-size "$work/eeprom.o" | awk 'NR>1 {print $1}')
echo "library_size: EEPROM driver $eeprom_text bytes"
if ((eeprom_text > 2048)); then
    echo "library_size: the EEPROM driver exceeds 2 KiB" >&2
    exit 1
fi
# Every function of every module, before the firmware's linker drops what it
# does not call; the firmware's own gate (32 KiB in all) is the binding one.
if ((total_text > 22528)); then
    echo "library_size: the library exceeds 22 KiB with its tables" >&2
    exit 1
fi

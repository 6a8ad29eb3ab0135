#!/usr/bin/env bash
# cppcheck over every C source; any finding fails the test.
#
# Each file is analysed as it is compiled, with the include folders and
# defines of its build: the host programs and tests (64-bit, _GNU_SOURCE),
# the library as the master MCU builds it, the master firmware once per board
# (its app/ and core/ files with that board's folder, as firmware/
# CMakeLists.txt builds them), and the Cortex-M3 programs run on the target or
# the virtual MCU. Our own headers must all be found (missingInclude is an
# error); only system headers are left to cppcheck's library configuration.
# Every tracked .c file must belong to a group, so none goes unchecked.
#
# usage: cppcheck.sh SOURCE_DIR
set -euo pipefail
cd "$1"
mapfile -t files < <(git ls-files -- '*.c' 2>/dev/null || find . -name '*.c' -not -path './build*' | sed 's|^\./||')
((${#files[@]})) || { echo "cppcheck: no C files found" >&2; exit 1; }

common=(--quiet --std=c11 --inline-suppr --suppress=missingIncludeSystem)
# The cross compiler's ABI: 32-bit ints, longs and pointers, 4-byte wchar_t.
mcu=(--platform=arm32-wchar_t4)

status=0
declare -A checked=()
# group NAME "FILE..." OPTION...: cppcheck over those tracked files.
group() {
    local name=$1 list=() f
    shift
    for f in $1; do
        [[ -f $f ]] && list+=("$f") && checked[$f]=1
    done
    shift
    if ((${#list[@]} == 0)); then
        echo "cppcheck: group $name has no files" >&2
        status=1
        return
    fi
    # cppcheck only reports a missing header as information, whatever
    # --error-exitcode says: --check-config lists them, and any is a failure.
    local missing
    missing=$(cppcheck "${common[@]}" --check-config --enable=missingInclude "$@" "${list[@]}" 2>&1)
    if [[ -n $missing ]]; then
        echo "$missing" >&2
        echo "cppcheck: group $name: headers not found (add their folder with -I in $0)" >&2
        status=1
        return
    fi
    cppcheck "${common[@]}" --error-exitcode=1 --enable=warning,style,performance,portability \
        --suppress=unusedFunction "$@" "${list[@]}" || { echo "cppcheck: findings in group $name" >&2; status=1; }
}

mcu_only='^(firmware|target|tests/mcu-programs)/'
host_files=$(printf '%s\n' "${files[@]}" | grep -Ev "$mcu_only" || true)
group host "$host_files" -D_GNU_SOURCE \
    -I lib/include -I sim/bootloader/include -I sim/eeprom/include -I sim/mcu/include -I sim/bench/include -I ports/pc \
    -I tools/imagefile -I tools/stm32isp -I tests/support -I tests/mcu-programs -I target/flasher \
    -I firmware/app -I firmware/core

# The library with the firmware's settings (no part names; firmware/CMakeLists.txt).
group lib-mcu "$(printf '%s\n' "${files[@]}" | grep -E '^lib/src/.*\.c$')" "${mcu[@]}" \
    -DSTM32ISP_DEVICE_NAMES=0 -I lib/include

fw_defines=(-DFW_VERSION=\"0.0.0\")
for dir in firmware/boards/*/; do
    board=$(basename "$dir")
    board_files=$(printf '%s\n' "${files[@]}" | grep -E "^firmware/(app|core|boards/$board)/" || true)
    # The QEMU board also builds the EEPROM model's test image.
    if [[ $board == qemu-vldiscovery ]]; then
        board_files+=$'\n'$(printf '%s\n' "${files[@]}" | grep -E '^firmware/tests/' || true)
    fi
    group "firmware/$board" "$board_files" "${mcu[@]}" "${fw_defines[@]}" \
        -I "firmware/boards/$board" -I firmware/app -I firmware/core -I lib/include
done

# The RAM CRC program, the stub flasher and the virtual MCU's test programs: every #ifdef
# variant the builds use is checked (no -D, so cppcheck tries them all).
group mcu-programs "$(printf '%s\n' "${files[@]}" | grep -E '^(target|tests/mcu-programs)/' || true)" \
    "${mcu[@]}" -I lib/include -I tests/mcu-programs -I target/flasher

for f in "${files[@]}"; do
    if [[ -z ${checked[$f]:-} ]]; then
        echo "cppcheck: $f belongs to no group in $0" >&2
        status=1
    fi
done
((status == 0)) || exit 1
echo "cppcheck: ${#files[@]} files clean"

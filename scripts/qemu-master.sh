#!/usr/bin/env bash
# Runs the master firmware's QEMU build with an EEPROM file against any
# AN3155 target served on a unix socket (`stm32isp sim --unix SOCKET`, or a
# bridge to real hardware), and exits with the flashing job's result code.
#
# usage: scripts/qemu-master.sh EEPROM_FILE SOCKET [options]
#   --eeprom-type TYPE  the part EEPROM_FILE models (default 24c256), as made by
#                       `stm32isp pack --eeprom TYPE`
#   --firmware ELF      the QEMU build (default: $STM32ISP_FIRMWARE, else
#                       build-fw/qemu-vldiscovery/master.elf in this checkout)
#   --console FILE      the master's console output (default: standard output)
#   --mode MODE         flash (default: the job) or probe (identify the target)
#   --timeout SECONDS   give up after this long (default 300)
#
# Exit codes: 0 the job succeeded; 1-99 the library's error (the stm32isp_err
# value, e.g. 1 no-sync, 22 no-container; the console names it); 100 the
# firmware faulted; 101 the firmware refused an option; 124 the timeout
# passed; 2 this script's own usage errors. The EEPROM file is read and
# written in place, as the firmware's EEPROM driver would.
# docs/firmware.md ("QEMU") has the details.
set -euo pipefail

usage() {
    sed -n '2,21s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
die() { # die MESSAGE HINT
    echo "qemu-master: $1" >&2
    [[ -n ${2:-} ]] && echo "  hint: $2" >&2
    exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
firmware=${STM32ISP_FIRMWARE:-$here/build-fw/qemu-vldiscovery/master.elf}
eeprom_type=24c256
console=
mode=flash
timeout_s=300
args=()
while (($# > 0)); do
    case $1 in
    --eeprom-type | --firmware | --console | --mode | --timeout)
        (($# >= 2)) || die "$1 needs a value" "see $0 --help"
        case $1 in
        --eeprom-type) eeprom_type=$2 ;;
        --firmware) firmware=$2 ;;
        --console) console=$2 ;;
        --mode) mode=$2 ;;
        --timeout) timeout_s=$2 ;;
        esac
        shift 2
        ;;
    -h | --help) usage ;;
    -*) die "unknown option '$1'" "see $0 --help" ;;
    *)
        args+=("$1")
        shift
        ;;
    esac
done
((${#args[@]} == 2)) || die "give the EEPROM file and the target's socket" \
    "usage: $0 EEPROM_FILE SOCKET [--eeprom-type TYPE]"
eeprom=${args[0]}
socket=${args[1]}

command -v qemu-system-arm >/dev/null || die "qemu-system-arm not found" \
    "apt-get install qemu-system-arm"
[[ -f $firmware ]] || die "no QEMU firmware at $firmware" \
    "build it (make firmware), or give --firmware ELF"
[[ -f $eeprom && -r $eeprom && -w $eeprom ]] || die "cannot read and write $eeprom" \
    "make one with stm32isp pack --eeprom $eeprom_type -o $eeprom ..."
[[ -S $socket ]] || die "$socket is not a listening unix socket" \
    "serve a target first, e.g. stm32isp sim --unix $socket"
[[ $mode == flash || $mode == probe ]] || die "unknown --mode '$mode'" "flash or probe"
[[ $timeout_s =~ ^[0-9]+$ ]] || die "bad --timeout '$timeout_s'" "a number of seconds"
[[ $eeprom_type =~ ^[A-Za-z0-9]+$ ]] || die "bad --eeprom-type '$eeprom_type'" "e.g. 24c256"

# Semihosting opens the EEPROM relative to QEMU's folder: run QEMU in the
# file's folder and name the file alone, which also keeps spaces out of the
# command line.
eeprom_dir=$(cd "$(dirname "$eeprom")" && pwd)
eeprom_name=$(basename "$eeprom")
[[ $eeprom_name != *" "* ]] || die "the EEPROM file's name contains a space" "rename it"
firmware=$(cd "$(dirname "$firmware")" && pwd)/$(basename "$firmware")
socket=$(cd "$(dirname "$socket")" && pwd)/$(basename "$socket")
if [[ -n $console ]]; then
    console=$(cd "$(dirname "$console")" && pwd)/$(basename "$console")
else
    console=/dev/stdout
fi

for path in "$firmware" "$socket" "$console"; do
    [[ $path != *,* ]] || die "QEMU cannot take a path with a comma: $path" "rename or move it"
done

cd "$eeprom_dir"
rc=0
timeout "$timeout_s" qemu-system-arm -M stm32vldiscovery -display none -monitor none \
    -no-reboot -semihosting-config enable=on,target=native -kernel "$firmware" \
    -serial "unix:$socket" -serial "file:$console" \
    -append "mode=$mode eeprom=$eeprom_name eeprom-type=$eeprom_type" || rc=$?
if ((rc == 124)); then
    echo "qemu-master: no result within $timeout_s s" >&2
fi
exit "$rc"

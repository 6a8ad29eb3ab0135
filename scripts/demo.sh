#!/usr/bin/env bash
# `make demo`: the simulated target at work.
#
# The flashing job (master EEPROM -> target) arrives with issue 4. Until then
# this shows the library it will run, from the PC: `stm32isp flash` programs,
# verifies and starts a small firmware image on `stm32isp sim`, a
# byte-faithful model of an STM32F103's ROM bootloader, and the demo checks
# the simulated flash against the image.
set -euo pipefail

stm32isp=${1:-build/bin/stm32isp}
work=$(mktemp -d "${TMPDIR:-/tmp}/stm32isp-demo.XXXXXX")
sim_pid=
cleanup() {
    if [[ -n $sim_pid ]]; then kill "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

json_field() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" "$2" | head -1; }

echo "== stm32isp demo: stm32isp flash on a simulated STM32F103 bootloader"
echo "   (the master's own EEPROM-to-target job arrives with issue 4; this is its library, run from a PC)"
echo

# A 12 KiB example "firmware": a vector table the model accepts as a program
# (stack at 0x20005000, reset handler in flash) followed by a fixed pattern.
{
    printf '\x00\x50\x00\x20\x09\x01\x00\x08'
    head -c $((12 * 1024 - 8)) /dev/zero | tr '\0' '\125'
} >"$work/firmware.bin"
echo "-- firmware.bin: $(stat -c %s "$work/firmware.bin") bytes"

"$stm32isp" sim --quiet --port-link "$work/target" --device f103md --exit-on-go --idle-exit 60 \
    --app-banner $'Hello from the new firmware\r\n' \
    --flash-out "$work/flash.bin" --stats "$work/stats.json" &
sim_pid=$!
for _ in $(seq 1 100); do [[ -e $work/target ]] && break; sleep 0.05; done

echo "-- stm32isp flash firmware.bin --port <simulated port>"
timeout 60 "$stm32isp" flash "$work/firmware.bin" --port "$work/target" | sed 's/^/   /'
wait "$sim_pid"
sim_pid=

echo
echo "-- what the simulated target saw (virtual clock, 115200 baud 8E1, typical flash timings)"
printf '   time on the wire + flash: %s s\n' "$(json_field virtual_seconds "$work/stats.json")"
printf '   bytes host->target: %s, target->host: %s\n' \
    "$(json_field bytes_to_target "$work/stats.json")" "$(json_field bytes_to_host "$work/stats.json")"
printf '   commands: %s, pages erased: %s, half-words programmed: %s\n' \
    "$(json_field commands "$work/stats.json")" "$(json_field pages_erased "$work/stats.json")" \
    "$(json_field halfwords_programmed "$work/stats.json")"
printf "   final state: %s\n" "$(json_field state "$work/stats.json" | tr -d \")"

if cmp -s -n "$(stat -c %s "$work/firmware.bin")" "$work/firmware.bin" "$work/flash.bin"; then
    echo "== PASS: the simulated flash holds exactly firmware.bin, and the application started"
else
    echo "== FAIL: the simulated flash differs from firmware.bin" >&2
    exit 1
fi

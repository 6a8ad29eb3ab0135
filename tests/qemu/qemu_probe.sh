#!/usr/bin/env bash
# The master firmware's QEMU build identifies targets served by
# `stm32isp sim --unix` (mode=probe): QEMU connects the emulated USART1 to the socket,
# USART2 (the console) goes to a file, and the firmware's verdict comes back
# as QEMU's exit code through semihosting.
#
# usage: qemu_probe.sh STM32ISP FIRMWARE_ELF WORKDIR
set -euo pipefail

stm32isp=$1
elf=$2
work=$3
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"

[[ -f $elf ]] || fail "no QEMU firmware at $elf: build it first (make firmware, or pass \
-DSTM32ISP_FIRMWARE_DIR=<firmware build folder> to cmake)"
command -v qemu-system-arm >/dev/null || fail "qemu-system-arm not found (apt-get install qemu-system-arm)"

# run_case NAME SIM_ARGS...: serves the simulator on NAME.sock, boots the
# firmware against it; leaves QEMU's exit code in $qemu_rc, the console in
# NAME.console, the simulator's report in NAME.json.
run_case() {
    local name=$1
    shift
    rm -f "$name.sock" "$name.console" "$name.json"
    "$stm32isp" sim --unix "$work/$name.sock" --quiet --idle-exit 60 --stats "$name.json" "$@" &
    sim_pid=$!
    for _ in $(seq 1 100); do
        [[ -S $name.sock ]] && break
        sleep 0.05
    done
    [[ -S $name.sock ]] || fail "$name: the simulator's socket never appeared"
    qemu_rc=0
    timeout 60 qemu-system-arm -M stm32vldiscovery -display none -monitor none -no-reboot \
        -semihosting-config enable=on,target=native -kernel "$elf" \
        -serial "unix:$work/$name.sock" -serial "file:$work/$name.console" \
        -append "mode=probe eeprom=$work/$name.eeprom" 2>"$name.qemu-err" || qemu_rc=$?
    [[ $qemu_rc -ne 124 ]] || fail "$name: the firmware did not finish within 60 s (hung?): \
$(cat "$name.console" 2>/dev/null)"
    # The simulator ends when QEMU closes the connection, and writes its report.
    for _ in $(seq 1 100); do
        kill -0 "$sim_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$sim_pid" 2>/dev/null && fail "$name: the simulator did not see QEMU disconnect"
    wait "$sim_pid" || fail "$name: the simulator failed"
    sim_pid=
    [[ -s $name.console ]] || fail "$name: no console output (QEMU: $(cat "$name.qemu-err"))"
}

expect_line() { # expect_line NAME TEXT: the console has a line containing TEXT
    grep -qF -- "$2" "$1.console" || fail "$1: console lacks '$2':
$(cat "$1.console")"
}

# A medium-density F103, the Blue Pill's own chip.
run_case md --device f103md
[[ $qemu_rc -eq 0 ]] || fail "md: exit code $qemu_rc: $(cat md.console)"
expect_line md "stm32isp master"
expect_line md "on qemu-vldiscovery"
# QEMU's RCC reads 0: the clock code must have fallen back to the HSI.
expect_line md "clock: 8 MHz, internal RC (HSI) alone"
# The firmware carries no part names (docs/firmware.md): the family stands in.
expect_line md "target: STM32F1, PID 0x410, bootloader v2.2, 64 KiB flash"
expect_line md "result: ok"
grep -q '"bytes_to_target": 0,' md.json && fail "md: the simulator received nothing: $(cat md.json)"
grep -Eq '"0x02": 1' md.json || fail "md: no Get ID reached the simulator: $(cat md.json)"
used=$(sed -n 's/^stack: \([0-9]*\) of \([0-9]*\) bytes used.*/\1/p' md.console)
[[ -n $used && $used -gt 0 && $used -lt 2048 ]] || fail "md: stack use not reported: $(cat md.console)"
echo "ok 1 - identifies an STM32F103 medium density through the socket (stack: $used bytes)"

# Another part and flash size: what the firmware prints comes from the target.
run_case hd --device f103hd --flash-kb 384
[[ $qemu_rc -eq 0 ]] || fail "hd: exit code $qemu_rc: $(cat hd.console)"
expect_line hd "PID 0x414, bootloader v2.2, 384 KiB flash"
echo "ok 2 - identifies a high-density part with its flash size register"

run_case rdp --rdp
[[ $qemu_rc -eq 0 ]] || fail "rdp: exit code $qemu_rc: $(cat rdp.console)"
expect_line rdp "KiB flash (assumed), readout protected"
echo "ok 3 - reports readout protection"

# Failures come back as the library's error code, with its message and hint.
run_case clone --pid 0x7AB
[[ $qemu_rc -ne 0 && $qemu_rc -lt 100 ]] || fail "clone: exit code $qemu_rc: $(cat clone.console)"
expect_line clone "(unknown-device)"
expect_line clone "hint: "
expect_line clone "result: failed"
echo "ok 4 - an unknown PID fails with exit code $qemu_rc and a hint"

start=$(date +%s%N)
run_case mute --faults drop=1,dir=tx
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[[ $qemu_rc -ne 0 && $qemu_rc -lt 100 ]] || fail "mute: exit code $qemu_rc: $(cat mute.console)"
expect_line mute "(no-sync)"
# Timeouts run on SysTick: 4 sync attempts of about 110 ms each, so the
# firmware's clock must not run several times too fast or too slow.
((elapsed_ms > 300 && elapsed_ms < 5000)) || fail "mute: no-sync took $elapsed_ms ms"
echo "ok 5 - a target that never answers: no-sync after $elapsed_ms ms, exit code $qemu_rc"

echo "qemu probe: all passed"

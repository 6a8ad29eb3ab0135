#!/usr/bin/env bash
# `make demo`: the mission on simulated hardware.
#
# A small example firmware is packed into an image container and laid out as
# the master's EEPROM would hold it (a 24C256 dump). `stm32isp master` then
# runs the master board's flashing job, the same code as the firmware, with
# the EEPROM modelled at the I2C level, against `stm32isp sim`, a
# byte-faithful model of an STM32F103's ROM bootloader on a pseudo-terminal.
# Finally the demo compares the simulated target's flash with the image.
set -euo pipefail

stm32isp=${1:-build/bin/stm32isp}
work=$(mktemp -d "${TMPDIR:-/tmp}/stm32isp-demo.XXXXXX")
sim_pid=
cleanup() {
    if [[ -n $sim_pid ]]; then kill "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== stm32isp demo: the master programs a simulated STM32F103 from its EEPROM"
echo

# A 12 KiB example "firmware" in Intel HEX: a vector table the model accepts
# as a program (stack at 0x20005000, reset handler in flash), a fixed pattern,
# and a second block of constants 4 KiB further on, with a gap between them.
python3 - "$work/firmware.hex" <<'EOF'
import sys
def record(kind, offset, data):
    body = bytes([len(data), offset >> 8, offset & 0xFF, kind]) + data
    return ":" + body.hex().upper() + "%02X" % (-sum(body) & 0xFF) + "\n"
blocks = [(0x0000, bytes([0x00, 0x50, 0x00, 0x20, 0x09, 0x01, 0x00, 0x08]) + bytes([0x55]) * (8 * 1024 - 8)),
          (0x3000, bytes((i * 7) & 0xFF for i in range(4 * 1024)))]
with open(sys.argv[1], "w") as f:
    f.write(record(4, 0, bytes([0x08, 0x00])))
    for base, data in blocks:
        for i in range(0, len(data), 16):
            f.write(record(0, base + i, data[i:i + 16]))
    f.write(record(1, 0, b""))
EOF
echo "-- firmware.hex: 8 KiB at 0x08000000 and 4 KiB at 0x08003000"

echo "-- stm32isp pack firmware.hex --eeprom 24c256 -o eeprom.bin"
"$stm32isp" pack "$work/firmware.hex" --eeprom 24c256 --name demo-firmware --version 1.0 \
    --pid 0x410 -o "$work/eeprom.bin" | sed 's/^/   /'
"$stm32isp" info "$work/eeprom.bin" | sed 's/^/   /'
echo

"$stm32isp" sim --quiet --port-link "$work/target" --device f103md --exit-on-go --idle-exit 60 \
    --app-banner $'Hello from the new firmware\r\n' \
    --flash-out "$work/flash.bin" --stats "$work/stats.json" &
sim_pid=$!
for _ in $(seq 1 100); do [[ -e $work/target ]] && break; sleep 0.05; done

echo "-- stm32isp master --eeprom eeprom.bin --eeprom-type 24c256 --port <simulated target>"
echo "   (its times are the PC's clock, and the simulator runs faster than real time: see below)"
timeout 60 "$stm32isp" master --eeprom "$work/eeprom.bin" --eeprom-type 24c256 \
    --port "$work/target" | sed 's/^/   /'
wait "$sim_pid"
sim_pid=

echo
echo "-- what the simulated target saw, on its virtual clock (115200 baud 8E1, typical flash timings)"
python3 - "$work/stats.json" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
by = {int(k, 16): v for k, v in st["seconds_by_opcode"].items()}
def share(*ops):
    return sum(by.get(op, 0.0) for op in ops)
phases = [("connect (boot, sync, Get, Get ID)", st["seconds_before_commands"] + share(0x00, 0x01, 0x02)),
          ("erase (0x43/0x44)", share(0x43, 0x44)),
          ("write (0x31: the image, the RAM program)", share(0x31)),
          ("reads (0x11: flash size, UID, read-back)", share(0x11)),
          ("verify + start (Go 0x21: RAM CRC, app)", share(0x21))]
for name, seconds in phases:
    print("   %-42s %7.3f s" % (name, seconds))
print("   %-42s %7.3f s" % ("total", st["virtual_seconds"]))
print("   bytes master->target: %d, target->master: %d" % (st["bytes_to_target"], st["bytes_to_host"]))
print("   commands: %d, pages erased: %d (mass erases: %d), half-words programmed: %d"
      % (st["commands"], st["pages_erased"], st["mass_erases"], st["halfwords_programmed"]))
print("   final state: %s" % st["state"])
EOF

# The flash must hold both blocks, and the gap between them must be erased.
python3 - "$work/firmware.hex" "$work/flash.bin" <<'EOF'
import sys
want = {}
upper = 0
for line in open(sys.argv[1]):
    raw = bytes.fromhex(line.strip()[1:])
    n, offset, kind, data = raw[0], (raw[1] << 8) | raw[2], raw[3], raw[4:4 + raw[0]]
    if kind == 4:
        upper = (data[0] << 8 | data[1]) << 16
    elif kind == 0:
        for i, b in enumerate(data):
            want[upper + offset + i - 0x08000000] = b
flash = open(sys.argv[2], "rb").read()
bad = [a for a, b in want.items() if flash[a] != b]
gap = [a for a in range(8 * 1024, 0x3000) if flash[a] != 0xFF]
if bad or gap:
    sys.exit("== FAIL: %d image bytes differ, %d gap bytes are not erased" % (len(bad), len(gap)))
print("== PASS: the simulated flash holds exactly the image (%d bytes), and the application started" % len(want))
EOF

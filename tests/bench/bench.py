#!/usr/bin/env python3
"""Programming + verification time of `stm32isp flash` and Debian's
stm32flash, side by side on the same simulated target (issue 7).

usage: bench.py STM32ISP --work DIR [--quick] [--doc FILE] [--limit RATIO]
                [--bluepill BLUEPILL_BENCH --firmware DIR]

Both tools talk to `stm32isp sim` on a pseudo-terminal; the simulator's
virtual clock (115200 baud 8E1 on the wire, the datasheet's typical flash
timings, the RAM CRC program run as its bytes on the virtual STM32F1)
measures each session from
power-on to the application running, so the numbers do not depend on the
machine. For each image: seconds, bytes each way, round trips (turn-arounds:
how often the target answered after the host had sent; docs/simulator.md)
and AN3155 commands, and the ratio stm32isp / stm32flash. The flash is
checked against the image after every run.

--quick runs the 64 KiB case only (the ctest gate). The 64 KiB ratio is
printed; the run fails when it is above --limit (0.55).

--bluepill adds the master's row: the same 64 KiB image flashed by the Blue
Pill firmware (its 24M01 build in --firmware) from its EEPROM at 400 kHz,
by the button, on the virtual bench (tests/bluepill/bluepill_bench.c
measure), timed on the bench's clock from the press to the result.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

FLASH = 0x08000000
STM32FLASH = ["stm32flash", "-b", "115200", "-m", "8n1"]


def fail(msg):
    print("bench: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------
# Images

def vector_table():
    """SP at the top of a 20 KiB RAM, reset handler in flash: the simulator
    then reports the application running."""
    return (0x20005000).to_bytes(4, "little") + (FLASH + 0x131).to_bytes(4, "little")


def random_image(size, seed):
    rng = random.Random(seed)
    data = bytearray(rng.getrandbits(8) for _ in range(size))
    data[0:8] = vector_table()
    return {FLASH: bytes(data)}


def firmware_image(seed):
    """What a linker makes of a small firmware, as an Intel HEX file would
    hold it: vectors and code, constants (with a 0xFF-filled table), the
    initial values of .data, and far above them a calibration page that the
    linker script pads with 0xFF to its 1 KiB. Gaps between them."""
    rng = random.Random(seed)

    def noise(n):
        return bytes(rng.getrandbits(8) for _ in range(n))

    text = bytearray(vector_table() + noise(0x130 - 8) + noise(22 * 1024 + 300))
    rodata = bytearray(noise(2500) + b"\xff" * 1536 + noise(1800))  # a table left unfilled
    data_init = noise(512)
    calibration = noise(256) + b"\xff" * (1024 - 256)
    rodata_at = FLASH + ((len(text) + 255) & ~255)
    return {
        FLASH: bytes(text),
        rodata_at: bytes(rodata),
        rodata_at + len(rodata): data_init,
        FLASH + 0xF000: calibration,
    }


def write_bin(path, segments):
    (address, data), = segments.items()
    assert address == FLASH
    with open(path, "wb") as f:
        f.write(data)


def write_hex(path, segments):
    lines = []
    upper = None
    for address in sorted(segments):
        data = segments[address]
        for at in range(0, len(data), 16):
            a = address + at
            if a >> 16 != upper:
                upper = a >> 16
                lines.append(record(0, 4, upper.to_bytes(2, "big")))
            lines.append(record(a & 0xFFFF, 0, data[at:at + 16]))
    lines.append(":00000001FF")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def record(offset, kind, data):
    raw = bytes([len(data), offset >> 8, offset & 0xFF, kind]) + bytes(data)
    return ":" + raw.hex().upper() + "%02X" % (-sum(raw) & 0xFF)


# ---------------------------------------------------------------------------
# Runs

def run_session(stm32isp, work, name, flash_kb, client):
    """Serves the simulator on a pty, runs the client against it, and
    returns the simulator's statistics and the flash it ends with."""
    tty = os.path.join(work, name + ".tty")
    stats = os.path.join(work, name + ".json")
    flash_out = os.path.join(work, name + ".flash")
    for path in (tty, stats, flash_out):
        if os.path.lexists(path):
            os.unlink(path)
    sim = subprocess.Popen([stm32isp, "sim", "--port-link", tty, "--device", "f103md",
                            "--flash-kb", str(flash_kb), "--quiet", "--idle-exit", "60",
                            "--exit-on-go", "--stats", stats, "--flash-out", flash_out])
    try:
        for _ in range(200):
            if os.path.lexists(tty):
                break
            time.sleep(0.05)
        else:
            fail("%s: the simulator's pty never appeared" % name)
        log = os.path.join(work, name + ".out")
        with open(log, "w") as out, open(os.path.join(work, name + ".err"), "w") as err:
            rc = subprocess.run(["timeout", "300"] + client(tty), stdout=out,
                                stderr=err).returncode
        if rc != 0:
            fail("%s: the client failed (%d): %s" % (name, rc, open(log).read()[-600:]))
        sim_rc = sim.wait(timeout=30)
        if sim_rc != 0:
            fail("%s: the simulator exited with %d" % (name, sim_rc))
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
    st = json.load(open(stats))
    if st["state"] != "application":
        fail("%s: the target ended in state '%s', not running the application" %
             (name, st["state"]))
    return st, open(flash_out, "rb").read()


def check_flash(name, flash, segments):
    for address, data in segments.items():
        at = address - FLASH
        if flash[at:at + len(data)] != data:
            fail("%s: the flash differs from the image at 0x%08x" % (name, address))


CASES = [
    # name, what, flash KiB, image, file type
    ("random-16k", "16 KiB random", 64, lambda: random_image(16 * 1024, 16), "bin"),
    ("random-64k", "64 KiB random", 64, lambda: random_image(64 * 1024, 64), "bin"),
    ("random-128k", "128 KiB random (f103md --flash-kb 128)", 128,
     lambda: random_image(128 * 1024, 128), "bin"),
    ("firmware", "firmware: 4 sections, gaps, 0xFF fill (HEX)", 64, lambda: firmware_image(7),
     "hex"),
]


def measure(stm32isp, work, case):
    name, what, flash_kb, make, kind = case
    segments = make()
    image = os.path.join(work, name + "." + kind)
    (write_bin if kind == "bin" else write_hex)(image, segments)
    ours, flash = run_session(stm32isp, work, name + "-stm32isp", flash_kb,
                              lambda tty: [stm32isp, "flash", image, "--port", tty, "--json"])
    check_flash(name + " (stm32isp)", flash, segments)
    report = json.load(open(os.path.join(work, name + "-stm32isp.out")))
    if report.get("verified_by") != "ram-crc":
        fail("%s: stm32isp verified by %s, not the RAM CRC" % (name, report.get("verified_by")))
    theirs, flash = run_session(
        stm32isp, work, name + "-stm32flash", flash_kb,
        lambda tty: STM32FLASH + ["-w", image, "-v", "-g", "0x08000000", tty])
    check_flash(name + " (stm32flash)", flash, segments)
    payload = sum(len(d) for d in segments.values())
    return {"name": name, "what": what, "payload": payload, "ours": ours, "theirs": theirs,
            "ratio": ours["virtual_seconds"] / theirs["virtual_seconds"]}


# ---------------------------------------------------------------------------
# Report

def table(results):
    lines = ["| image | tool | seconds | bytes to target | bytes to host | round trips | "
             "commands | ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for first, tool, st in ((True, "stm32isp flash", r["ours"]),
                                (False, "stm32flash -v", r["theirs"])):
            lines.append("| %s | %s | %.3f | %d | %d | %d | %d | %s |" % (
                "%s, %d bytes" % (r["what"], r["payload"]) if first else "", tool,
                st["virtual_seconds"], st["bytes_to_target"], st["bytes_to_host"],
                st["turnarounds"], st["commands"], "**%.3f**" % r["ratio"] if first else ""))
    return "\n".join(lines)


def phases(st):
    by = {int(k, 16): v for k, v in st["seconds_by_opcode"].items()}
    return {"erase": by.get(0x43, 0.0) + by.get(0x44, 0.0), "write": by.get(0x31, 0.0),
            "read back": by.get(0x11, 0.0), "Go (+ RAM CRC program)": by.get(0x21, 0.0)}


def stm32flash_version(work):
    """What stm32flash printed first in the 64 KiB run, e.g. "stm32flash 0.7"."""
    for line in open(os.path.join(work, "random-64k-stm32flash.out")):
        if line.startswith("stm32flash "):
            return line.strip()
    return "stm32flash, version not printed"


def write_doc(path, work, results, command, master):
    r64 = next(r for r in results if r["name"] == "random-64k")
    split = []
    for tool, st in (("stm32isp flash", r64["ours"]), ("stm32flash -v", r64["theirs"])):
        p = phases(st)
        split.append("| %s | %s | %.3f |" % (tool, " | ".join("%.3f" % v for v in p.values()),
                                             st["virtual_seconds"]))
    text = """# Benchmarks: programming and verification time

Produced by `{command}` (`tests/bench/bench.py build/bin/stm32isp --work
build/bench --doc docs/benchmarks.md`): every number below comes from that
run, on the simulator's virtual clock, so it changes only when the code
does, whatever machine runs it. Issue 7 asks for a 64 KiB image programmed
and verified in at most 0.55 of stm32flash's time, with verification at
least as strong: **{ratio:.3f}** here. `make test` checks that ratio on
every run (ctest `bench.ratio-64k`).

## How it is measured

- **Target**: `stm32isp sim`, the bootloader model (docs/simulator.md) of an
  STM32F103 medium density (PID 0x410, bootloader v2.2, 64 KiB flash; the
  128 KiB case with `--flash-kb 128`), on a pseudo-terminal. A fresh target
  for every run, already in its bootloader (no reset lines).
- **Clock**: the simulator's virtual clock, from power-on until the
  application runs: 115200 baud 8E1 on the wire (95.5 us a byte), the
  datasheet's typical flash timings (52.5 us a half-word, 20 ms a page or
  mass erase), and the RAM CRC program's own time: its bytes run on the
  virtual STM32F1 (docs/virtual-mcu.md) at the 8 MHz it sets, about 12.4
  cycles a byte by the model's cycle count.
  The host's own think time is not counted, for either tool.
- **stm32isp**: `stm32isp flash IMAGE --port PTY` with its defaults: erase
  the pages the image touches (a mass erase only when it touches them all),
  skip 256-byte blocks that are all 0xFF, verify with the RAM CRC program
  (docs/ram-crc.md: the target computes the CRC-32 of every programmed byte
  and it is compared with the image's), start the application with the
  program's start command. Erasing only the pages an image touches costs the
  small images time (16 KiB: 16 page erases instead of one mass erase) and
  keeps what the rest of the flash holds.
- **stm32flash**: `{stm32flash_cmd}` ({stm32flash_version}, Debian's
  package): a page erase of every page the image spans (a mass erase when
  that is all the flash its device table gives the PID, 128 KiB), write,
  read every block back, Go. It writes gaps in a HEX file as 0xFF.
- **Columns**: bytes each way on the wire; round trips are turn-arounds
  (how often the target began to answer after the host had sent), commands
  are AN3155 commands the bootloader accepted (the RAM program's exchange is
  one Go, one reply and one start command). The ratio is stm32isp's seconds
  over stm32flash's. Both tools end with the same flash, checked after
  every run.

## Results

{table}

## Where the 64 KiB time goes (seconds, by the simulator's accounting per command)

| tool | erase | write | read back | Go (+ RAM CRC program) | total |
|---|---:|---:|---:|---:|---:|
{split}

Writing is the same work for both tools: 256 data bytes and 9 bytes of
framing a block on the wire, three ACKs, then 6.7 ms of programming, 32.3 ms
a block in all (stm32isp's write time also holds the five Write Memory
commands that load the RAM CRC program, 0.12 s). stm32isp saves the page
erases (one mass erase instead of 64 page erases) and, above all, the
read-back: the RAM CRC program sends 15 bytes where stm32flash reads the
whole image back (25.6 ms a block). The firmware image gains more, as
blocks that are all 0xFF are not sent at all, and neither are the gaps.

The ratio rises where stm32flash's erase is cheap. For the 128 KiB image
stm32flash mass-erases too, so both tools erase and write alike and the
ratio tends to what writing costs against writing and reading back,
32.3 / (32.3 + 25.6) = 0.56. Going lower needs a faster way to write than
256-byte Write Memory commands that each wait for their programming (a RAM
program that receives and programs at once, say): not done here.
""".format(command=command, ratio=r64["ratio"], table=table(results), split="\n".join(split),
           stm32flash_cmd=" ".join(STM32FLASH + ["-w", "IMAGE", "-v", "-g", "0x08000000", "PTY"]),
           stm32flash_version=stm32flash_version(work))
    if master is not None:
        text += master_section(master, r64["theirs"])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def measure_master(bench_bin, firmware, stm32isp, work, theirs):
    image = os.path.join(work, "random-64k.bin")
    proc = subprocess.run([bench_bin, "measure", firmware, stm32isp, work, image],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        fail("the master's run on the bench failed:\n" + proc.stdout[-4000:])
    m = json.loads(lines[-1])
    m["ratio"] = m["seconds_press_to_result"] / theirs["virtual_seconds"]
    return m


def master_section(m, theirs):
    p = m["phases_ms"]
    return """
## The master: the Blue Pill firmware from its EEPROM (virtual bench)

The same 64 KiB image, packed ({container} bytes of container) into a 24M01
(a 24C512 cannot hold the container with its header) at 400 kHz I2C, flashed
by the Blue Pill firmware when its button is pressed: the firmware's own
bytes (`build-fw/bluepill/bench-24m01.elf`, the release build with the
24M01 described in its board header) on the virtual STM32F1, the EEPROM
model at the bit level, the target's bootloader at the frame level, all on
the bench's clock (docs/bench.md). Time from the press to the result line;
the phases are the master's own result line (its SysTick).

| master | check (EEPROM) | connect | erase | write | verify | start | job | press to result | stm32flash -v | ratio |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| Blue Pill, 24M01 | {check:.3f} | {connect:.3f} | {erase:.3f} | {write:.3f} | {verify:.3f} | {start:.3f} | {job:.3f} | {total:.3f} | {theirs:.3f} | **{ratio:.3f}** |

Bytes on the I2C bus: {i2c}; to the target {tt}, back {th}; Read Memory
commands {reads}, RAM programs run {progs}. The check pass reads the whole
container over I2C at {rate:.0f} bytes a second (9 clocks a byte: an SCL
of {scl:.0f} kHz on average, framing included), and the write pass reads it
again while it programs, so the EEPROM costs about twice the check column;
the verify is the RAM CRC program's, with nothing read back.
""".format(rate=m["container_bytes"] / (p["check"] / 1000.0),
           scl=m["container_bytes"] * 9 / (p["check"] / 1000.0) / 1000.0,
           container=m["container_bytes"], check=p["check"] / 1000.0,
           connect=p["connect"] / 1000.0, erase=p["erase"] / 1000.0, write=p["write"] / 1000.0,
           verify=p["verify"] / 1000.0, start=p["start"] / 1000.0, job=m["job_ms"] / 1000.0,
           total=m["seconds_press_to_result"], theirs=theirs["virtual_seconds"],
           ratio=m["ratio"], i2c=m["i2c_bytes"], tt=m["bytes_to_target"],
           th=m["bytes_to_host"], reads=m["read_memory_commands"], progs=m["ram_programs"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stm32isp")
    ap.add_argument("--work", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--doc")
    ap.add_argument("--limit", type=float, default=0.55)
    ap.add_argument("--bluepill")
    ap.add_argument("--firmware")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    cases = [c for c in CASES if not args.quick or c[0] == "random-64k"]
    results = []
    for case in cases:
        r = measure(args.stm32isp, args.work, case)
        results.append(r)
        print("%-48s stm32isp %7.3f s  stm32flash %7.3f s  ratio %.3f" % (
            r["what"], r["ours"]["virtual_seconds"], r["theirs"]["virtual_seconds"], r["ratio"]))
    r64 = next(r for r in results if r["name"] == "random-64k")
    master = None
    if args.bluepill:
        master = measure_master(args.bluepill, args.firmware, args.stm32isp, args.work,
                                r64["theirs"])
        print("%-48s master   %7.3f s  stm32flash %7.3f s  ratio %.3f" % (
            "64 KiB random, Blue Pill from a 24M01", master["seconds_press_to_result"],
            r64["theirs"]["virtual_seconds"], master["ratio"]))
    print()
    print(table(results))
    if args.doc:
        write_doc(args.doc, args.work, results, "make bench", master)
        print("\nbench: wrote %s" % args.doc)
    print("\nbench: 64 KiB program + verify: stm32isp / stm32flash = %.3f (limit %.2f)"
          % (r64["ratio"], args.limit))
    if r64["ratio"] > args.limit:
        fail("the 64 KiB ratio %.3f is above %.2f" % (r64["ratio"], args.limit))


if __name__ == "__main__":
    main()

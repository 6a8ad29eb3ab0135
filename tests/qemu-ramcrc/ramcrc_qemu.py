#!/usr/bin/env python3
"""The RAM CRC program as real ARM code, under QEMU (docs/ram-crc.md).

usage: ramcrc_qemu.py RAMCRC_BIN WORKDIR

QEMU's stm32vldiscovery (an STM32F100, Cortex-M3, USART1 at 0x40013800)
boots with its flash preloaded and the program with its parameter block
preloaded into RAM, where the library would put them on an F1. There is no
bootloader: the flash's vector table points the core at the program, which
then starts exactly as after the bootloader's Go (stack pointer = the
parameter block, PC = its entry). Its USART1 is a socket this script reads.
The CRC it sends must equal zlib's over the same flash bytes, and its
commands must do what they say: send again, start the application at its
vector table (VTOR and stack pointer set), reset the chip on 0x7F.

QEMU stubs RCC and GPIO (they read 0): the program's clock and pin set-up
runs against nothing here, its bounded waits end; the virtual STM32F1
(tests/unit/test_vmcu.c, test_ramcrc.c) is where that set-up is checked.
This run is a second opinion on the rest.
"""
import os
import random
import socket
import struct
import subprocess
import sys
import time
import zlib

FLASH = 0x08000000
FLASH_SIZE = 128 * 1024
RAM_START = 0x20000200  # the F1 bootloader's free RAM starts here
STACK = 1536            # STM32ISP_RAMCRC_STACK_SIZE
PARAMS = RAM_START + STACK
USART1 = 0x40013800
APP = FLASH + 0x1000    # the test's application, with its vector table
APP_SP = 0x20001800
MAGIC = 0x4D525073
REPLY_START = 0x5A
CMD_START, CMD_RESEND, SYNC_RESET, ACK = 0x47, 0x41, 0x7F, 0x79
BAUD = 115200
PINS_USART1 = 9 | 0 << 4 | 10 << 8 | 0 << 12  # TX PA9, RX PA10
EXIT_APP_OK = 0x42

APP_SOURCE = r"""
    .syntax unified
    .thumb
    .section .text
vectors:
    .word 0x%08x
    .word reset
    .global reset
    .type reset, %%function
    .thumb_func
reset:
    ldr r0, =0xE000ED08   @ VTOR: the program must have pointed it here
    ldr r0, [r0]
    ldr r1, =0x%08x
    movs r4, #1
    cmp r0, r1
    bne done
    mov r2, sp            @ and loaded the stack pointer from word 0
    ldr r3, =0x%08x
    cmp r2, r3
    bne done
    movs r4, #0x%02x
done:
    ldr r1, =0x20026      @ ADP_Stopped_ApplicationExit, exit code r4
    push {r1, r4}
    mov r1, sp
    movs r0, #0x20        @ SYS_EXIT_EXTENDED
    bkpt 0xab
1:  b 1b
    .ltorg
""" % (APP_SP, APP, APP_SP, EXIT_APP_OK)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def build_app(work):
    src = os.path.join(work, "app.S")
    elf = os.path.join(work, "app.elf")
    binary = os.path.join(work, "app.bin")
    with open(src, "w") as f:
        f.write(APP_SOURCE)
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-nostdlib",
                    "-Wl,-Ttext=0x%08x" % APP, "-Wl,-e,reset", "-Wl,--no-warn-rwx-segments", src, "-o", elf],
                   check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", elf, binary], check=True)
    return open(binary, "rb").read()


def params_block(ranges, nonce, usart=USART1, vector_table=APP, damage=False):
    words = [MAGIC, nonce, usart, vector_table, BAUD, PINS_USART1, 0, len(ranges)]
    for address, length in ranges:
        words += [address, length]
    body = struct.pack("<%dI" % len(words), *words)
    check = zlib.crc32(body)
    if damage:
        check ^= 1
    return body + struct.pack("<I", check), zlib.crc32(body)


def ram_image(blob, params):
    code = (PARAMS + len(params) + 7) & ~7
    entry = struct.unpack_from("<I", blob, 4)[0]
    program = struct.pack("<II", PARAMS, code + entry) + blob[8:]
    return params + bytes(code - PARAMS - len(params)) + program, code, entry


class Target:
    """One QEMU run: flash and RAM preloaded, USART1 on a socket."""

    def __init__(self, work, name, flash, ram):
        self.sock_path = os.path.join(work, name + ".sock")
        flash_path = os.path.join(work, name + ".flash")
        ram_path = os.path.join(work, name + ".ram")
        open(flash_path, "wb").write(flash)
        open(ram_path, "wb").write(ram)
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        self.err = open(os.path.join(work, name + ".qemu-err"), "w")
        self.qemu = subprocess.Popen(
            ["timeout", "30", "qemu-system-arm", "-M", "stm32vldiscovery", "-display", "none",
             "-monitor", "none", "-no-reboot", "-semihosting-config", "enable=on,target=native",
             "-device", "loader,file=%s,addr=0x%08x" % (flash_path, FLASH),
             "-device", "loader,file=%s,addr=0x%08x" % (ram_path, PARAMS),
             "-chardev", "socket,id=usart1,path=%s,server=on,wait=on" % self.sock_path,
             "-serial", "chardev:usart1", "-serial", "null"],
            stderr=self.err)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(200):
            try:
                self.sock.connect(self.sock_path)
                break
            except OSError:
                if self.qemu.poll() is not None:
                    fail("%s: QEMU exited early (%d)" % (name, self.qemu.returncode))
                time.sleep(0.05)
        else:
            fail("%s: QEMU's socket never accepted a connection" % name)
        self.name = name

    def recv(self, n, timeout=10.0):
        self.sock.settimeout(timeout)
        data = b""
        try:
            while len(data) < n:
                chunk = self.sock.recv(n - len(data))
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        return data

    def reply(self):
        r = self.recv(15)
        if len(r) != 15:
            fail("%s: reply has %d bytes: %s" % (self.name, len(r), r.hex()))
        x = 0
        for b in r:
            x ^= b
        if r[0] != REPLY_START or x != 0:
            fail("%s: malformed reply %s" % (self.name, r.hex()))
        status = r[1]
        crc, count, check = struct.unpack_from("<III", r, 2)
        return status, crc, count, check, r

    def send(self, data):
        self.sock.sendall(bytes(data))

    def command(self, cmd):
        self.send([cmd, cmd ^ 0xFF])

    def exit_code(self):
        try:
            rc = self.qemu.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.qemu.kill()
            fail("%s: QEMU did not exit" % self.name)
        self.sock.close()
        if rc == 124:
            fail("%s: QEMU timed out (the program hung?)" % self.name)
        return rc


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ramcrc_qemu.py RAMCRC_BIN WORKDIR")
    blob = open(sys.argv[1], "rb").read()
    work = sys.argv[2]
    os.makedirs(work, exist_ok=True)
    app = build_app(work)

    rng = random.Random(7)
    flash = bytearray(rng.getrandbits(8) for _ in range(FLASH_SIZE))
    flash[APP - FLASH:APP - FLASH + len(app)] = app
    # Two ranges with a gap and an odd length, and one to the end of flash.
    ranges = [(FLASH, 0x1000 + len(app)), (FLASH + 0x4001, 12345), (FLASH + 0x18000, 0x8000)]
    params, check = params_block(ranges, nonce=0x5EED)
    ram, code, entry = ram_image(blob, params)
    # The core boots from the flash's vector table: into the program, as
    # the bootloader's Go would start it.
    struct.pack_into("<II", flash, 0, PARAMS, code + entry)
    expected = 0
    for address, length in ranges:
        expected = zlib.crc32(flash[address - FLASH:address - FLASH + length], expected)
    total = sum(length for _, length in ranges)

    # 1. The CRC, the reply sent again, then the application started.
    t = Target(work, "start", bytes(flash), ram)
    started = time.monotonic()
    status, crc, count, echo, raw = t.reply()
    took = time.monotonic() - started
    if status != 0 or crc != expected or count != total or echo != check:
        fail("start: status %d crc 0x%08x (want 0x%08x) bytes %d (want %d) check 0x%08x (want "
             "0x%08x)" % (status, crc, expected, count, total, echo, check))
    print("ok 1 - CRC-32 0x%08x over %d bytes in 3 ranges, as zlib computes it (%.2f s)"
          % (crc, count, took))
    t.command(CMD_RESEND)
    again = t.recv(15)
    if again != raw:
        fail("start: the reply sent again differs: %s" % again.hex())
    t.send([0x12, 0x34, CMD_START])  # not a command; a lone first byte
    if t.recv(1, timeout=0.5):
        fail("start: an answer to bytes that are no command")
    t.command(CMD_START)
    ack = t.recv(1)
    rc = t.exit_code()
    if ack != bytes([ACK]) or rc != EXIT_APP_OK:
        fail("start: answer %s, exit code %d (want 0x%02x: the application found VTOR and its "
             "stack pointer set)" % (ack.hex(), rc, EXIT_APP_OK))
    print("ok 2 - the reply again on request; the start command ran the application with "
          "VTOR and SP from its vector table")

    # 2. A flash byte changed: a different CRC; then 0x7F resets the chip.
    flash[0x4001 + 100] ^= 0x01
    t = Target(work, "changed", bytes(flash), ram)
    status, crc, _, _, _ = t.reply()
    if status != 0 or crc == expected:
        fail("changed: one changed flash byte gave status %d crc 0x%08x" % (status, crc))
    t.send([SYNC_RESET])
    answer = t.recv(1, timeout=0.5)
    rc = t.exit_code()  # -no-reboot: the system reset ends QEMU
    if answer or rc != 0:
        fail("changed: 0x7F answered %s, exit code %d" % (answer.hex(), rc))
    print("ok 3 - one changed flash byte changes the CRC; 0x7F resets the chip, unanswered")

    # 3. A damaged parameter block: refused, on USART1, and no start.
    params, _ = params_block(ranges, nonce=1, damage=True)
    ram, code, entry = ram_image(blob, params)
    struct.pack_into("<II", flash, 0, PARAMS, code + entry)
    t = Target(work, "damaged", bytes(flash), ram)
    status, crc, count, _, _ = t.reply()
    if status != 2 or crc != 0 or count != 0:
        fail("damaged: status %d crc 0x%08x bytes %d" % (status, crc, count))
    t.command(CMD_START)
    if t.recv(1, timeout=0.5):
        fail("damaged: the program started an application on parameters it refused")
    t.send([0x7F])
    rc = t.exit_code()
    if rc != 0:
        fail("damaged: 0x7F did not reset the chip (exit code %d)" % rc)
    print("ok 4 - a damaged parameter block is refused, no start; 0x7F resets at once")
    print("RAM CRC program under QEMU: all passed")


if __name__ == "__main__":
    main()

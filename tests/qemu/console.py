#!/usr/bin/env python3
"""Types one command on the master firmware's console (a pseudo-terminal that
QEMU made for its USART2) and prints what comes back, up to the next prompt.

usage: console.py PTY COMMAND [TIMEOUT_SECONDS]
Exit 0 once the prompt came back, 1 on timeout (what came is printed anyway).
For "reset", which ends the firmware under QEMU, exit 0 once the other side
of the terminal has closed instead.
The terminal is opened without becoming the controlling one, and raw: the
firmware echoes, and the test reads exactly what it sent.
"""
import os
import select
import sys
import termios
import time
import tty

PROMPT = b"\r\n> "


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    path, command = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) == 4 else 30.0
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd, termios.TCSANOW)
        # What the firmware said before (the end of a load) is not the answer.
        while select.select([fd], [], [], 0.3)[0]:
            try:
                os.read(fd, 4096)
            except OSError:
                break
        got = b""
        echo = command.encode() + b"\r\n"
        os.write(fd, command.encode() + b"\r")
        deadline = time.monotonic() + timeout
        # The echo of the command comes first; the prompt after its output.
        # QEMU reads only while the terminal is open: it stays open until then.
        while echo not in got or PROMPT not in got[got.index(echo):]:
            left = deadline - time.monotonic()
            if left <= 0:
                sys.stdout.write(got.decode(errors="replace"))
                return 1
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: QEMU has closed its side
                    data = b""
                if not data:  # the end: QEMU has closed its side
                    sys.stdout.write(got.decode(errors="replace"))
                    return 0 if command == "reset" else 1
                got += data
        sys.stdout.write(got.decode(errors="replace").replace("\r\n", "\n"))
        return 0
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())

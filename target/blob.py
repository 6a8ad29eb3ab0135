"""What the make_blob.py scripts of the RAM programs share.

A program that the host loads wherever the target's free RAM starts is
linked twice, at 0 and at BASE: the two images may differ only in the entry
word (offset 4), by exactly BASE; any other difference is an absolute
address in the code and fails the build. Word 0, the stack pointer, must be
0: the host writes it. The result is a C array of the bytes.
"""
import os
import re
import struct
import sys


def protocol_constant(header_text, name):
    """The value of `#define NAME value` in a protocol header."""
    m = re.search(r"#define\s+%s\s+(0x[0-9A-Fa-f]+|\d+)u?\b" % name, header_text)
    if m is None:
        sys.exit("make_blob: %s not found in the protocol header" % name)
    return int(m.group(1), 0)


def check_signature(blob, header_path, signature_name, version_name):
    """Words 2 and 3 of a program are its signature and protocol version:
    they must be the header's, which the host side is built from."""
    header_text = open(header_path).read()
    signature, version = struct.unpack_from("<2I", blob, 8)
    name = os.path.basename(header_path)
    if signature != protocol_constant(header_text, signature_name):
        sys.exit("make_blob: signature word differs from %s" % name)
    if version != protocol_constant(header_text, version_name):
        sys.exit("make_blob: version word differs from %s" % name)
    return header_text


def load_position_independent(bin0_path, bin1_path, base, min_size, max_size):
    """The image linked at 0, checked against the one linked at `base`;
    returns (bytes, entry word)."""
    blob = open(bin0_path, "rb").read()
    moved = open(bin1_path, "rb").read()
    if len(blob) != len(moved) or len(blob) < min_size or len(blob) % 4 != 0:
        sys.exit("make_blob: the two links differ in size or are too short (%d, %d)"
                 % (len(blob), len(moved)))
    if len(blob) > max_size:
        sys.exit("make_blob: the program is %d bytes, over its %d-byte budget" % (len(blob), max_size))
    for offset in range(0, len(blob), 4):
        a = struct.unpack_from("<I", blob, offset)[0]
        b = struct.unpack_from("<I", moved, offset)[0]
        if offset == 4:
            if b - a != base or a & 1 == 0 or a < 8 or a >= len(blob):
                sys.exit("make_blob: the entry word is not a Thumb address inside the program")
        elif a != b:
            sys.exit("make_blob: word at offset 0x%x depends on the load address (0x%08x vs "
                     "0x%08x): the code is not position independent" % (offset, a, b))
    sp, entry = struct.unpack_from("<2I", blob, 0)
    if sp != 0:
        sys.exit("make_blob: word 0 must be 0 (the host writes the stack pointer)")
    return blob, entry


def stack_bytes(su_path):
    """Every frame of gcc's -fstack-usage file added up: a bound on the
    deepest call chain. A dynamic frame fails the build."""
    stack = 0
    for line in open(su_path):
        fields = line.rstrip("\n").split("\t")
        if len(fields) == 3:
            if fields[2] != "static":
                sys.exit("make_blob: %s has a dynamic stack frame" % fields[0])
            stack += int(fields[1])
    return stack


def c_array(blob):
    """The lines of `static const uint8_t code[N] = {...};`."""
    lines = ["static const uint8_t code[%d] = {" % len(blob)]
    for offset in range(0, len(blob), 12):
        lines.append("    " + " ".join("0x%02x," % b for b in blob[offset:offset + 12]))
    return lines + ["};"]


def program_definition(c_type, name, stack=None):
    """The C definition of a program's descriptor: its code array (from
    c_array()), its size and, for a program with a stack, its depth."""
    return ["", "const %s %s = {" % (c_type, name), "    .code = code,", "    .size = sizeof code,"] + \
        (["    .stack_bytes = %d," % stack] if stack is not None else []) + ["};", ""]


def write_atomic(path, lines):
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(path + ".tmp", path)

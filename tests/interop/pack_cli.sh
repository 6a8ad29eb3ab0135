#!/usr/bin/env bash
# `stm32isp pack` and `stm32isp info`: containers made from every input
# format and from several inputs at once, read back by `info` and, as
# docs/image-format.md tells a user to, by an independent parser in Python
# (zlib.crc32 for both CRCs); EEPROM dumps, reproducible builds, the >32
# segment rule, and the refusals (with their exit codes, and no output file
# left behind), then damaged files shown to `info`.
#
# usage: pack_cli.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"




# No file but the expected ones: nothing half-written, no temporary left.
only_files() { # only_files DIR NAME...
    local want got
    want=$(printf '%s\n' "${@:2}" | sort)
    got=$(ls -A "$1" | sort)
    [[ $got == "$want" ]] || fail "$1 holds [$got], expected [$want]"
}

isp=(timeout 60 "$stm32isp")

# The container as docs/image-format.md describes it, parsed with no help
# from stm32isp: every rule checked, both CRCs with zlib.crc32. Prints the
# fields as key=value lines; `--flash OUT` also writes the image as flash
# from 0x08000000 (0xFF where no segment is).
cat >parse.py <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
def die(msg):
    print('parse.py: ' + msg, file=sys.stderr)
    sys.exit(1)
if data[0:4] != b'SIMG':
    die('no magic')
(major, minor, header_length, flags, payload_length, payload_crc, created, min_flash,
 start, segment_count, segments_offset, pid_count) = struct.unpack_from('<BBHIIIIIIHHB', data, 4)
if major != 1 or flags & ~0xF:
    die('version')
if segments_offset < 104 or header_length != segments_offset + 8 * segment_count + 4:
    die('lengths')
if not 1 <= segment_count <= 32 or pid_count > 8 or data[37:40] != b'\0\0\0':
    die('counts')
header_crc, = struct.unpack_from('<I', data, header_length - 4)
if zlib.crc32(data[:header_length - 4]) != header_crc:
    die('header CRC')
pids = struct.unpack_from('<8H', data, 40)
name = data[56:88].split(b'\0')[0].decode()
version = data[88:104].split(b'\0')[0].decode()
segments = [struct.unpack_from('<II', data, segments_offset + 8 * i) for i in range(segment_count)]
end = 0
for address, length in segments:
    if length == 0 or address < end or address + length > 1 << 32:
        die('segments')
    end = address + length
if sum(length for _, length in segments) != payload_length:
    die('payload_length')
payload = data[header_length:header_length + payload_length]
if len(payload) != payload_length:
    die('truncated')
if zlib.crc32(payload) != payload_crc:
    die('payload CRC')
rest = data[header_length + payload_length:]
print('major=%d minor=%d' % (major, minor))
print('header_length=%d' % header_length)
print('flags=%d' % flags)
print('payload_length=%d' % payload_length)
print('payload_crc=0x%08x' % payload_crc)
print('header_crc=0x%08x' % header_crc)
print('created=%d' % created)
print('min_flash=%d' % min_flash)
print('start=0x%08x' % start)
print('pids=' + ','.join('0x%03x' % p for p in pids[:pid_count]))
print('name=' + name)
print('version=' + version)
print('segments=' + ' '.join('0x%08x+%d' % s for s in segments))
print('rest=%d %s' % (len(rest), 'blank' if rest == b'\xff' * len(rest) else 'data'))
if len(sys.argv) > 3 and sys.argv[2] == '--flash':
    base = 0x08000000
    flash = bytearray(b'\xff' * (end - base))
    at = 0
    for address, length in segments:
        flash[address - base:address - base + length] = payload[at:at + length]
        at += length
    open(sys.argv[3], 'wb').write(flash)
EOF
flip() { # flip FILE OFFSET: invert one byte
    python3 -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); d = bytearray(open(p, "rb").read()); d[o] ^= 0xFF; open(p, "wb").write(d)' "$1" "$2"
}
parse() { python3 parse.py "$@" >"$1.fields" || fail "parse.py $1: $(cat "$1.fields")"; }
field() { grep "^$2=" "$1.fields" | cut -d= -f2-; }


# 1. A raw binary: at 0x08000000 by default, every field as given, read
#    back by info (human and JSON) and by the Python parser.
make_image 5000 app.bin
"${isp[@]}" pack app.bin -o app.simg --name blinky --version 1.2.3 --pid 0x410 --pid 0x414 \
    --min-flash-kb 64 --created 1700000000 >pack.txt
json_has pack.txt "app.simg: 5116 bytes: header 116, payload 5000 in 1 segment"
"${isp[@]}" info app.simg >info.txt
for line in "name        blinky" "version     1.2.3" \
    "created     2023-11-14 22:13:20 UTC (1700000000)" "flags       verify, start (0x05)" \
    "targets     0x410 STM32F10x medium density" "            0x414 STM32F10x high density" \
    "min flash   64 KiB" "0: address 0x08000000, length 5000, end 0x08001388" \
    "payload     5000 bytes" "header      116 bytes" "total       5116 bytes" "integrity   OK"; do
    json_has info.txt "$line"
done
"${isp[@]}" info app.simg --json >info.json
json_has info.json '"ok": true'
json_has info.json '"integrity": "ok"'
json_has info.json '"segments": [{"address": "0x08000000", "length": 5000, "end": "0x08001388"}]'
json_has info.json '"pids": [{"pid": "0x410", "name": "STM32F10x medium density"}, {"pid": "0x414"'
parse app.simg --flash app.flash
[[ $(field app.simg name) == blinky && $(field app.simg version) == 1.2.3 ]] || fail "texts"
[[ $(field app.simg pids) == 0x410,0x414 && $(field app.simg min_flash) == 65536 ]] ||
    fail "pids, min flash: $(cat app.simg.fields)"
[[ $(field app.simg created) == 1700000000 && $(field app.simg flags) == 5 ]] || fail "created"
[[ $(field app.simg rest) == "0 blank" ]] || fail "a bare container has nothing after it"
json_has info.txt "payload     5000 bytes, CRC-32 $(field app.simg payload_crc)"
json_has info.txt "header      116 bytes, CRC-32 $(field app.simg header_crc)"
cmp app.bin app.flash || fail "payload differs from app.bin"
"${isp[@]}" pack app.bin --address 0x08004000 -o moved.simg --quiet >moved.txt
[[ ! -s moved.txt ]] || fail "--quiet printed: $(cat moved.txt)"
parse moved.simg
[[ $(field moved.simg segments) == "0x08004000+5000" ]] || fail "--address: $(cat moved.simg.fields)"
[[ $(field moved.simg name) == app.bin && $(field moved.simg pids) == "" ]] || fail "defaults"
ok "pack a .bin (default address and --address), info and an independent parser agree"

# 2. Intel HEX and SREC from objcopy, with a gap; an ELF from the cross
#    compiler with .data at its load address.
objcopy=arm-none-eabi-objcopy
make_image 3000 part1.bin
head -c 5000 /dev/urandom >part2.bin
for fmt in ihex srec; do
    "$objcopy" -I binary -O "$fmt" --change-addresses 0x08000000 part1.bin "p1.$fmt"
    "$objcopy" -I binary -O "$fmt" --change-addresses 0x08003100 part2.bin "p2.$fmt"
done
{ grep -v '^:00000001FF' p1.ihex; cat p2.ihex; } | tr -d '\r' >gap.hex
{ grep -v '^S[789]' p1.srec; grep -v '^S0' p2.srec; } >gap.srec
for fmt in hex srec; do
    "${isp[@]}" pack "gap.$fmt" -o "gap-$fmt.simg" --quiet
    "${isp[@]}" info "gap-$fmt.simg" >"gap-$fmt.txt"
    json_has "gap-$fmt.txt" "segments    2"
    json_has "gap-$fmt.txt" "1: address 0x08003100, length 5000, end 0x08004488"
    parse "gap-$fmt.simg" --flash "gap-$fmt.flash"
    [[ $(field "gap-$fmt.simg" segments) == "0x08000000+3000 0x08003100+5000" ]] ||
        fail "$fmt segments: $(cat "gap-$fmt.simg.fields")"
    cmp -n 3000 part1.bin "gap-$fmt.flash" || fail "$fmt: first segment"
    cmp -n 5000 part2.bin "gap-$fmt.flash" 0 $((0x3100)) || fail "$fmt: second segment"
done

make_elf 16
"${isp[@]}" pack app.elf -o elf.simg --quiet
"${isp[@]}" info elf.simg >elf.txt
json_has elf.txt "integrity   OK"
parse elf.simg --flash elf.flash
cmp app.flat elf.flash || fail "ELF payload differs from objcopy's flat binary"
grep -c $'\x78\x56\x34\x12' elf.flash >/dev/null || fail ".data initial value not in the payload"
ok "pack Intel HEX and SREC with a gap, and an ELF with .data at its load address"

# 3. Several inputs: a bootloader (raw, FILE@ADDR) and an application (HEX);
#    overlaps are accepted where the bytes agree, refused naming both files
#    where they differ.
make_image 2048 boot.bin
"$objcopy" -I binary -O ihex --change-addresses 0x08004000 part2.bin app4000.hex
"${isp[@]}" pack boot.bin app4000.hex -o both.simg --quiet
parse both.simg --flash both.flash
[[ $(field both.simg segments) == "0x08000000+2048 0x08004000+5000" ]] ||
    fail "two inputs: $(cat both.simg.fields)"
cmp -n 2048 boot.bin both.flash || fail "bootloader bytes"
cmp -n 5000 part2.bin both.flash 0 $((0x4000)) || fail "application bytes"
"${isp[@]}" pack app4000.hex@0x1 boot.bin part2.bin@0x08004000 -o same.simg --quiet 2>same.err
json_has same.err "applies to raw binaries only"
parse same.simg
[[ $(field same.simg segments) == "0x08000000+2048 0x08004000+5000" ]] ||
    fail "identical overlap: $(cat same.simg.fields)"
# Touching inputs become one segment.
head -c 100 /dev/urandom >tail.bin
"${isp[@]}" pack boot.bin tail.bin@0x08000800 -o touch.simg --quiet
parse touch.simg
[[ $(field touch.simg segments) == "0x08000000+2148" ]] || fail "touching: $(cat touch.simg.fields)"
mkdir refuse
cp app.simg refuse/keep.simg
# The complement of boot.bin's bytes there: different at every byte, so the
# first difference is at 0x08000100 whatever the random data.
python3 -c 'import sys; d = open("boot.bin", "rb").read()[256:272]; sys.stdout.buffer.write(bytes(b ^ 0xFF for b in d))' >other.bin
expect_exit 4 "${isp[@]}" pack boot.bin other.bin@0x08000100 -o refuse/keep.simg
json_has last.err "boot.bin and other.bin overlap with different data at 0x08000100"
[[ $(wc -l <last.err) -le 2 ]] || fail "more than an error and a hint: $(cat last.err)"
cmp app.simg refuse/keep.simg || fail "a refused pack changed the existing output"
expect_exit 4 "${isp[@]}" pack boot.bin other.bin@0x08000100 -o refuse/new.simg
only_files refuse keep.simg
ok "several inputs merged (FILE@ADDR, HEX); differing overlaps refused naming both files"

# 4. EEPROM dumps: the container at 0, 0xFF to the part's size; an image that
#    does not fit is refused, naming the part that would.
"${isp[@]}" pack app.bin -o app.eep --eeprom 24c256 --created 1700000000 --name blinky \
    --version 1.2.3 --pid 0x410 --pid 0x414 --min-flash-kb 64 >eep.txt
json_has eep.txt "EEPROM dump for a 24c256: 32768 bytes, 15.6% used"
[[ $(stat -c %s app.eep) == 32768 ]] || fail "dump size $(stat -c %s app.eep)"
cmp -n 5116 app.simg app.eep || fail "the dump does not start with the same container"
parse app.eep
[[ $(field app.eep rest) == "27652 blank" ]] || fail "padding: $(field app.eep rest)"
"${isp[@]}" info app.eep >eepinfo.txt
json_has eepinfo.txt "eeprom      dump of a 24c256: 5116 of 32768 bytes used (15.6%), the rest 0xFF"
json_has eepinfo.txt "integrity   OK"
"${isp[@]}" info app.eep --json >eepinfo.json
json_has eepinfo.json '"eeprom": {"part": "24c256", "size": 32768, "used": 5116'
"${isp[@]}" pack app.bin -o small.eep --eeprom AT24C64 --quiet
[[ $(stat -c %s small.eep) == 8192 ]] || fail "24c64 dump size"
mkdir eep
make_image 40000 big.bin
expect_exit 4 "${isp[@]}" pack big.bin -o eep/big.eep --eeprom 24c256
json_has last.err "the container is 40116 bytes; the 24c256 holds 32768: 7348 bytes too many"
json_has last.err "hint: the smallest part that holds it is the 24c512 (65536 bytes)"
make_image 300000 huge.bin
expect_exit 4 "${isp[@]}" pack huge.bin -o eep/huge.eep --eeprom 24m01
json_has last.err "no supported EEPROM holds it (the largest, the 24m02, has 262144 bytes)"
expect_exit 2 "${isp[@]}" pack app.bin -o eep/x.eep --eeprom 24c99
json_has last.err "known parts: 24c01, 24c02"
only_files eep
ok "--eeprom dumps are the part's size, 0xFF-padded; too-big images refused with the part that fits"

# 5. Reproducible: SOURCE_DATE_EPOCH fixes the time, --created overrides it;
#    the flags say what the options asked.
SOURCE_DATE_EPOCH=1600000000 "${isp[@]}" pack gap.hex -o r1.simg --quiet
sleep 1.1
SOURCE_DATE_EPOCH=1600000000 "${isp[@]}" pack gap.hex -o r2.simg --quiet
cmp r1.simg r2.simg || fail "SOURCE_DATE_EPOCH did not make the output reproducible"
parse r1.simg
[[ $(field r1.simg created) == 1600000000 ]] || fail "created from SOURCE_DATE_EPOCH"
SOURCE_DATE_EPOCH=1600000000 "${isp[@]}" pack gap.hex -o r3.simg --created 7 --quiet
parse r3.simg
[[ $(field r3.simg created) == 7 ]] || fail "--created over SOURCE_DATE_EPOCH"
SOURCE_DATE_EPOCH=yesterday expect_exit 2 "${isp[@]}" pack gap.hex -o r4.simg
json_has last.err "SOURCE_DATE_EPOCH='yesterday' is not a Unix time"
"${isp[@]}" pack app.bin -o flags.simg --no-verify --no-start --readout-protect --unprotect \
    --start-address 0x08000000 --quiet
parse flags.simg
[[ $(field flags.simg flags) == 10 && $(field flags.simg start) == 0x08000000 ]] ||
    fail "flags: $(cat flags.simg.fields)"
"${isp[@]}" info flags.simg >flags.txt
json_has flags.txt "flags       no verify, no start, readout-protect, unprotect (0x0a)"
json_has flags.txt "start at    0x08000000"
"${isp[@]}" info flags.simg --json >flags.json
json_has flags.json '"flags": {"value": 10, "verify": false, "readout_protect": true, "start": false, "unprotect": true}'
ok "SOURCE_DATE_EPOCH makes packs byte-identical; --created and the flag options land in the header"

# 6. More than 32 segments: gaps shorter than the smallest erase unit are
#    filled with 0xFF; larger gaps are refused with a hint.
python3 - <<'EOF'
import random
def ihex(segments, path):
    lines, upper = [], None
    for address, data in segments:
        for i in range(0, len(data), 16):
            a, chunk = address + i, data[i:i + 16]
            if a >> 16 != upper:
                upper = a >> 16
                rec = [2, 0, 0, 4, upper >> 8, upper & 255]
                lines.append(':' + ''.join('%02X' % b for b in rec) + '%02X' % (-sum(rec) & 255))
            rec = [len(chunk), (a >> 8) & 255, a & 255, 0] + list(chunk)
            lines.append(':' + ''.join('%02X' % b for b in rec) + '%02X' % (-sum(rec) & 255))
    lines.append(':00000001FF')
    open(path, 'w').write('\n'.join(lines) + '\n')
r = random.Random(4)
def data(n):
    return bytes(r.randrange(256) for _ in range(n))
# 40 pieces of 32 bytes, 16 bytes apart, then 20 pieces far apart.
ihex([(0x08000000 + 48 * i, data(32)) for i in range(40)], 'small-gaps.hex')
ihex([(0x08000000 + 1024 * i, data(32)) for i in range(40)], 'wide-gaps.hex')
EOF
"${isp[@]}" pack small-gaps.hex -o many.simg >many.txt
json_has many.txt "filled 8 gaps between segments with 128 bytes of 0xFF to stay within 32 segments"
parse many.simg --flash many.flash
[[ $(field many.simg payload_length) == $((40 * 32 + 8 * 16)) ]] || fail "fill bytes counted"
"$objcopy" -I ihex -O binary --gap-fill 0xFF small-gaps.hex many.expected
cmp many.expected many.flash || fail "the filled image differs from the HEX file with 0xFF gaps"
mkdir wide
expect_exit 4 "${isp[@]}" pack wide-gaps.hex -o wide/wide.simg
json_has last.err "the image has 40 separate segments; a container holds 32"
json_has last.err "objcopy --gap-fill"
only_files wide
ok "more than 32 segments: small gaps filled with 0xFF, wide gaps refused"

# 7. Refusals: the command line (2), files that cannot be read or written (3),
#    images that cannot be packed (4); nothing is left behind.
mkdir out
printf ':10000000ZZ\n' >bad.hex
expect_exit 2 "${isp[@]}" pack app.bin
json_has last.err "no output file (-o OUT)"
expect_exit 2 "${isp[@]}" pack -o out/x.simg
json_has last.err "no input file"
expect_exit 2 "${isp[@]}" pack app.bin -o
expect_exit 2 "${isp[@]}" pack app.bin -o out/x.simg --bogus
expect_exit 2 "${isp[@]}" pack app.bin -o out/x.simg --pid 0x999
json_has last.err "--pid '0x999' is not a known PID"
expect_exit 2 "${isp[@]}" pack app.bin -o out/x.simg --name "$(printf '%040d' 0)"
json_has last.err "--name is 40 bytes; the header holds at most 31"
expect_exit 2 "${isp[@]}" pack app.bin -o out/x.simg --version 1.0.0-rc1+build7
expect_exit 2 "${isp[@]}" pack app.bin -o out/x.simg --format zip
expect_exit 2 "${isp[@]}" pack app.bin -o out/x.simg --created -1
expect_exit 2 "${isp[@]}" pack app.bin -o out/x.simg --pid 0x410 --pid 0x411 --pid 0x412 \
    --pid 0x413 --pid 0x414 --pid 0x415 --pid 0x416 --pid 0x417 --pid 0x418
json_has last.err "more than 8 --pid values"
expect_exit 3 "${isp[@]}" pack missing.bin -o out/x.simg
json_has last.err "cannot read missing.bin"
expect_exit 3 "${isp[@]}" pack app.bin -o no-such-dir/x.simg
json_has last.err "cannot write no-such-dir/x.simg"
expect_exit 4 "${isp[@]}" pack bad.hex -o out/x.simg
json_has last.err "bad.hex:1:"
: >empty.bin
expect_exit 4 "${isp[@]}" pack empty.bin -o out/x.simg
expect_exit 4 "${isp[@]}" pack app.bin --address 0x20000000 --pid 0x410 -o out/x.simg
json_has last.err "but PID 0x410 (STM32F10x medium density) has at most 128 KiB of flash"
expect_exit 4 "${isp[@]}" pack app.bin --pid 0x410 --min-flash-kb 256 -o out/x.simg
only_files out
ok "refusals: usage (2), unreadable input or unwritable output (3), bad images (4), no file left"

# 8. info on files that hold no intact container: each names what is wrong
#    and exits 4 (3 when the file cannot be read).
info_fails() { # info_fails FILE TEXT...: exit 4, the report says each TEXT
    local file=$1
    shift
    expect_exit 4 "${isp[@]}" info "$file"
    for text in "$@"; do
        grep -qF -- "$text" last.out last.err || fail "info $file lacks '$text': $(cat last.out last.err)"
    done
    expect_exit 4 "${isp[@]}" info "$file" --json
    json_has last.out '"ok": false'
    json_has last.out '"exit_code": 4'
}
cp app.eep header.eep
flip header.eep 60
info_fails header.eep "header CRC-32 stored $(field app.eep header_crc)" \
    "image container's header is damaged" "hint: write the image to the EEPROM again"
cp app.eep payload.eep
flip payload.eep 3000
info_fails payload.eep "payload CRC-32 stored $(field app.eep payload_crc)" \
    "integrity   FAILED: the image in the EEPROM is damaged or half-written" "name        blinky"
head -c 4000 app.simg >short.simg
info_fails short.simg "the file has 4000: truncated"
head -c 100 app.simg >shorter.simg
info_fails shorter.simg "header_length 116 is longer than the file (100 bytes)"
head -c 8192 /dev/zero | tr '\0' '\377' >blank.eep
info_fails blank.eep "every byte is 0xFF: an erased EEPROM (24c64), no image" "blank"
expect_exit 4 "${isp[@]}" info blank.eep --json
json_has last.out '"blank": true'
json_has last.out '"error": "no-container"'
cp app.simg major.simg
printf '\x02' | dd of=major.simg bs=1 seek=4 conv=notrunc status=none
info_fails major.simg "format major version 2" "format version this firmware does not know"
info_fails app.elf "not the magic \"SIMG\" (an ELF file"
info_fails app.bin "no stm32isp image"
expect_exit 3 "${isp[@]}" info missing.simg
expect_exit 2 "${isp[@]}" info
expect_exit 2 "${isp[@]}" info app.simg extra
"${isp[@]}" info app.simg >/dev/null || fail "the original is intact"
ok "info: damaged header and payload, truncation, blank EEPROM, other major, foreign files"

echo "pack_cli: $n scenarios passed"

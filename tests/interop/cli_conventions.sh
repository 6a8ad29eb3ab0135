#!/usr/bin/env bash
# What a user of stm32flash, esptool or STM32CubeProgrammer expects of a
# command line, against `stm32isp sim`: each command takes only its own
# options and documents every one; help, version; '-' for standard input
# and output; exit codes as documented; several files and FILE@ADDRESS;
# `verify` without writing; reads to .hex; the progress bar's width; -v;
# Ctrl-C in the middle of a flash; and a simulator that never takes a
# path that is not its own.
#
# usage: cli_conventions.sh STM32ISP WORKDIR
set -euo pipefail

stm32isp=$1
work=$2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

isp=(timeout 120 "$stm32isp")
commands=(probe flash verify read erase go reset protect unprotect pack info master load sim)

# 1. Each command accepts only its own options, and says whose an option is.
expect_exit 2 "${isp[@]}" master --no-start --eeprom x --eeprom-type 24c256 --port /dev/null
json_has last.err "'--no-start' is not an option of master"
json_has last.err "--no-start is an option of flash"
expect_exit 2 "${isp[@]}" erase --all --verify none --port /dev/null
json_has last.err "'--verify' is not an option of erase"
expect_exit 2 "${isp[@]}" probe --erase all --format elf --port /dev/null
json_has last.err "'--erase' is not an option of probe"
expect_exit 2 "${isp[@]}" read -x --port /dev/null -o x.bin
json_has last.err "'-x' is not an option of read"
[[ ! -e x.bin ]] || fail "a refused command line left a file"
ok "options of other commands are refused (exit 2), naming the command they belong to"

# 2. help CMD is CMD --help; every option it lists is one the command takes.
for cmd in "${commands[@]}"; do
    "$stm32isp" help "$cmd" >help.txt || fail "help $cmd"
    "$stm32isp" "$cmd" --help >help2.txt || fail "$cmd --help"
    cmp -s help.txt help2.txt || fail "help $cmd differs from $cmd --help"
    mapfile -t opts < <(grep -oE '^  (-[a-zA-Z], |    )--[a-z0-9-]+' help.txt | grep -oE -- '--[a-z0-9-]+')
    ((${#opts[@]} > 0)) || fail "help $cmd lists no option: $(cat help.txt)"
    for opt in "${opts[@]}"; do
        # A value the option may refuse, then --help: what matters is that
        # the option itself is known.
        got=0
        "$stm32isp" "$cmd" "$opt" 1 --help >/dev/null 2>opt.err || got=$?
        if grep -q "is not an option" opt.err; then fail "$cmd lists $opt but refuses it"; fi
        # Every option is described: its line has text after the name.
        grep -qE -- "$opt( [A-Z]+)? +[a-zA-Z(]" help.txt || fail "$cmd: $opt has no description"
    done
done
expect_exit 2 "$stm32isp" help nosuch
"$stm32isp" --version | grep -qE '^stm32isp [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
"$stm32isp" -V | grep -qE '^stm32isp [0-9]+\.[0-9]+\.[0-9]+$' || fail "-V"
ok "help CMD for ${#commands[@]} commands, each option listed is accepted and described; --version, -V"

# 3. Values are checked before anything opens: a bad --baud is a command
#    line error, as is a bad --retries.
expect_exit 2 "${isp[@]}" probe --port /nonexistent --baud 12345
json_has last.err "--baud 12345 is not a rate the port takes"
json_has last.err "115200"
expect_exit 2 "${isp[@]}" probe --port /nonexistent --retries 0
expect_exit 2 "${isp[@]}" protect --port /nonexistent --write 3-1
ok "a bad --baud, --retries or sector list: exit 2 before the port is opened"

make_image 6000 boot.bin
make_image 3000 app.bin
start_sim t --device f103md
port=$work/t.tty

# 4. --reset-seq on a pseudo-terminal: it has no modem lines.
expect_exit 2 "${isp[@]}" probe --port "$port" --reset-seq nrst=rts,boot0=dtr
json_has last.err "pseudo-terminal"
json_has last.err "no modem lines"
if grep -q "unplugged" last.err; then fail "pty blamed on the adapter: $(cat last.err)"; fi
expect_exit 2 "${isp[@]}" probe --port "$port" --reset-seq nrst=rts,boot0=dtr,pulse=0
json_has last.err "pulse=0"
ok "--reset-seq on a pty says it has no modem lines; pulse= and wait= are checked"

# 5. Several files, FILE@ADDRESS, and the bytes read back through stdout.
"${isp[@]}" flash boot.bin app.bin@0x08004000 --port "$port" --no-start >flash.txt 2>flash.err ||
    fail "flash two files: $(cat flash.err)"
grep -q "from 2 files" flash.txt || fail "summary: $(cat flash.txt)"
"${isp[@]}" read --port "$port" --address 0x08000000 --length 6000 -o - >back1.bin 2>read.err ||
    fail "read -o -: $(cat read.err)"
cmp boot.bin back1.bin || fail "boot.bin read back differs"
grep -q "into standard output" read.err || fail "status not on stderr: $(cat read.err)"
"${isp[@]}" read --port "$port" --address 0x08004000 --length 3000 -o - >back2.bin 2>/dev/null
cmp app.bin back2.bin || fail "app.bin@0x08004000 read back differs"
ok "flash boot.bin app.bin@0x08004000; read -o - gives the bytes on stdout, status on stderr"

# 6. verify: the same files hold; another does not, and the address is named.
"${isp[@]}" verify boot.bin app.bin@0x08004000 --port "$port" >verify.txt ||
    fail "verify: $(cat verify.txt)"
grep -q "holds the image" verify.txt || fail "verify: $(cat verify.txt)"
cp boot.bin other.bin
printf '\x5a' | dd of=other.bin bs=1 seek=100 conv=notrunc 2>/dev/null
expect_exit 1 "${isp[@]}" verify other.bin --port "$port" --verify read -v
json_has last.err "differs from the image, first at 0x08000064"
expect_exit 1 "${isp[@]}" verify other.bin --port "$port"
json_has last.err "differs from the image"
"${isp[@]}" verify boot.bin --port "$port" --json >verify.json
json_has verify.json '"equal": true'
json_has verify.json '"verified_by": "ram-crc"'
ok "verify: exit 0 when the flash holds the files, 1 naming the first difference when not"

# 7. Standard input for images.
arm-none-eabi-objcopy -I binary -O ihex --change-addresses 0x08008000 app.bin app.hex
"${isp[@]}" flash - --port "$port" --no-start <app.hex >/dev/null 2>stdin.err ||
    fail "flash -: $(cat stdin.err)"
"${isp[@]}" verify - --port "$port" <app.hex >/dev/null || fail "verify - after flash -"
expect_exit 2 "${isp[@]}" verify - - --port "$port" <app.hex
ok "'-' reads an image from standard input (once)"

# 8. read to Intel HEX, checked by an independent reader (objcopy).
"${isp[@]}" read --port "$port" --address 0x08004000 --length 3000 -o back.hex >/dev/null
head -c 1 back.hex | grep -q ':' || fail "back.hex is not Intel HEX"
arm-none-eabi-objcopy -I ihex -O binary back.hex back-hex.bin
cmp app.bin back-hex.bin || fail "back.hex holds other bytes than app.bin"
expect_exit 2 "${isp[@]}" read --port "$port" -o - --json
ok "read -o FILE.hex writes Intel HEX (objcopy reads back the same bytes)"

# 9. read past the flash: a command-line error naming the memories.
expect_exit 2 "${isp[@]}" read --port "$port" --address 0x0800FF00 --length 1K -o past.bin
json_has last.err "runs past the end of the flash"
json_has last.err "flash 0x08000000-0x0800ffff"
[[ ! -e past.bin ]] || fail "a refused read left a file"
if grep -qi "image" last.err; then fail "read blamed an image: $(cat last.err)"; fi
ok "read past the flash: exit 2 with the part's memories, no file"

# 10. The progress bar: none when stderr is not a terminal; on a 40-column
#     terminal no line is wider than 40.
"${isp[@]}" flash boot.bin --port "$port" --no-start 2>plain.err >/dev/null
if grep -q $'\r' plain.err; then fail "a bar was drawn into a file"; fi
script -qefc "stty cols 40 rows 20; $stm32isp flash $work/boot.bin --port $port --no-start" \
    tty.log >/dev/null || fail "flash under a terminal: $(cat tty.log)"
grep -q '#' tty.log || fail "no bar on a terminal: $(cat tty.log)"
# Each redraw of the bar starts with a carriage return; the summary lines
# after it are text the terminal may wrap like any other.
widest=$(tr '\r' '\n' <tty.log | grep -F '] ' | awk '{ if (length($0) > w) w = length($0) } END { print w }')
((widest <= 40)) || fail "a line of $widest columns on a 40-column terminal"
ok "the bar only on a terminal, and within its 40 columns (widest line $widest)"

# 11. -v says what the tool does on success too.
"${isp[@]}" flash boot.bin --port "$port" --no-start -v >/dev/null 2>verbose.err
json_has verbose.err "connected:"
json_has verbose.err "write: "
ok "-v prints what happens on success"

# 12. Ctrl-C in the middle of a flash, a master job and an erase, on a
#     simulator that answers in real time (a 20 KB write takes about 2.5 s,
#     an erase command of 32 pages 0.6 s), so that the signal lands inside
#     the phase.
stop_sim
start_sim rt --device f103md --realtime
port=$work/rt.tty
interrupt() { # interrupt PHASE CMD...: Ctrl-C 0.2 s after CMD -v enters PHASE
    local phase=$1
    shift
    rm -f int.err
    # Job control on: a script's background job would ignore SIGINT.
    set -m
    "$@" -v >int.out 2>int.err &
    tool=$!
    set +m
    for _ in $(seq 1 1000); do
        grep -q "$phase" int.err && break
        sleep 0.01
    done
    grep -q "$phase" int.err || fail "$* never reached '$phase': $(cat int.err)"
    sleep 0.2
    kill -INT "$tool"
    got=0
    wait "$tool" || got=$?
    ((got == 130)) || fail "Ctrl-C: exit $got, not 130: $(cat int.err)"
    [[ $(grep -c "stopped (Ctrl-C)" int.err) == 1 ]] || fail "not one line: $(cat int.err)"
}
make_image 20000 big.bin
interrupt "write: [0-9]" "$stm32isp" flash big.bin --port "$port" --no-start
json_has int.err "stm32isp flash: stopped (Ctrl-C) while flashing: the flash is partly written: run the same command again"
expect_exit 1 "${isp[@]}" verify big.bin --port "$port" --verify read
"${isp[@]}" flash big.bin --port "$port" --no-start >/dev/null 2>rerun.err ||
    fail "the same command again: $(cat rerun.err)"
"${isp[@]}" verify big.bin --port "$port" >/dev/null || fail "verify after the rerun"
ok "Ctrl-C mid-write: exit 130, one line with the state, the bootloader answers; a rerun finishes"

"$stm32isp" pack big.bin --eeprom 24c256 --no-start -o big.ee --quiet
"${isp[@]}" erase --all --port "$port" --quiet
interrupt "write: [0-9]" "$stm32isp" master --eeprom big.ee --eeprom-type 24c256 --port "$port"
json_has int.err "stopped (Ctrl-C) while running the job: the flash is partly written: run the same command again"
"${isp[@]}" master --eeprom big.ee --eeprom-type 24c256 --port "$port" --quiet 2>rerun.err ||
    fail "master after Ctrl-C: $(cat rerun.err) -- the interrupted run: $(cat int.err)"
interrupt "erase: [0-9]" "$stm32isp" erase --address 0x08000000 --length 60K --port "$port"
json_has int.err "stopped (Ctrl-C) while erasing: the flash is partly erased: run the same command again"
"${isp[@]}" probe --port "$port" --quiet || fail "the bootloader does not answer after Ctrl-C"
ok "Ctrl-C in master and in erase: exit 130 and the state; the bootloader answers after it"
stop_sim

# 13. The simulator takes only a path that is free or its own stale link.
echo "keep me" >mine.tty
expect_exit 3 "${isp[@]}" sim --port-link mine.tty --quiet --idle-exit 1
[[ $(cat mine.tty) == "keep me" ]] || fail "the simulator replaced a file"
json_has last.err "not a link a simulator made"
start_sim a
expect_exit 3 "${isp[@]}" sim --port-link "$work/a.tty" --quiet --idle-exit 1
json_has last.err "another simulator"
"${isp[@]}" probe --port "$work/a.tty" --quiet || fail "the first simulator lost its link"
stop_sim
[[ ! -e a.tty && ! -L a.tty ]] || fail "the simulator left its link"
ln -s /dev/pts/99999 stale.tty
start_sim stale
"${isp[@]}" probe --port "$work/stale.tty" --quiet || fail "a stale link was not taken over"
stop_sim
echo "keep me" >sock.path
expect_exit 3 "${isp[@]}" sim --unix sock.path --quiet --idle-exit 1
[[ $(cat sock.path) == "keep me" ]] || fail "sim --unix replaced a file"
ok "sim refuses a file and a live simulator's link, takes over a stale link, removes only its own"

# 14. Write protection decoded by pages; option bytes set and read back;
#     refused where the family's layout is not in the device database.
start_sim ob --device f103hd
port=$work/ob.tty
"${isp[@]}" protect --port "$port" --write 0-3 >wrp.txt || fail "protect --write 0-3: $(cat wrp.txt)"
"${isp[@]}" probe --port "$port" >probe-wrp.txt
json_has probe-wrp.txt "write-prot  pages 0-7 (0x08000000-0x08003fff, WRP bits 0-3)"
"${isp[@]}" protect --port "$port" --option-bytes data0=0x12,wrp=0x7fffffff >ob.txt ||
    fail "--option-bytes: $(cat ob.txt)"
json_has ob.txt "read back equal"
"${isp[@]}" probe --port "$port" --json >probe-ob.json
json_has probe-ob.json '"data0": "0x12"'
json_has probe-ob.json '"wrp": "0x7fffffff"'
json_has probe-ob.json '"first_page": 62, "last_page": 255'
expect_exit 2 "${isp[@]}" protect --port "$port" --option-bytes rdp=0x00
json_has last.err "'protect --read' sets readout protection"
expect_exit 2 "${isp[@]}" protect --port "$port" --option-bytes data0=0x100
"${isp[@]}" probe --port "$port" --json >probe-ob2.json
json_has probe-ob2.json '"data0": "0x12"'
stop_sim
# An F4's identity on a model whose ROM NACKs the F4's addresses (an F1
# model would ACK them and take the length for commands, as an F1 does).
start_sim f4 --device f072 --pid 0x413
expect_exit 2 "${isp[@]}" protect --port "$work/f4.tty" --device 0x413 --option-bytes data0=1
json_has last.err "option-byte layout of the F4 family"
json_has last.err "nothing was written"
stop_sim
ok "probe shows write protection as pages; --option-bytes writes, resets and reads back; rdp= and unknown layouts refused"

# 16. reset without reset lines: the RAM program resets the chip (the
#     simulator counts it), which then answers in its bootloader again.
start_sim rs --device f103md --stats "$work/rs.json"
"${isp[@]}" reset --port "$work/rs.tty" >reset.txt || fail "reset: $(cat reset.txt)"
json_has reset.txt "system reset requested from RAM"
"${isp[@]}" probe --port "$work/rs.tty" --quiet || fail "no bootloader after reset"
expect_exit 2 "${isp[@]}" reset --port "$work/rs.tty" --bootloader
json_has last.err "--bootloader needs reset lines"
stop_sim
json_has rs.json '"resets": 1,'
ok "reset without reset lines: one system reset, the bootloader answers after it; --bootloader refused"

# Shared by the interop scripts: a work folder, failure reporting, and the
# simulator started in the background with cleanup on exit.
# Source it after setting `stm32isp` and `work`.

rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# TAP-style progress: ok TEXT prints "ok N - TEXT".
n=0
ok() {
    n=$((n + 1))
    echo "ok $n - $*"
}

# expect_exit CODE CMD...: runs CMD (output in last.out, last.err), which must
# exit with CODE.
expect_exit() {
    local want=$1
    shift
    local got=0
    "$@" >last.out 2>last.err || got=$?
    ((got == want)) || fail "expected exit $want, got $got from: $* -- $(cat last.err)"
}

# json_has FILE TEXT: FILE (a JSON record or any text) contains TEXT.
json_has() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2': $(cat "$1")"; }

# make_image SIZE FILE: a vector table the model accepts (SP 0x20004000,
# entry 0x080000C1), then random bytes.
make_image() {
    {
        printf '\x00\x40\x00\x20\xc1\x00\x00\x08'
        head -c $(($1 - 8)) /dev/urandom
    } >"$2"
}

sim_pid=
cleanup() { if [[ -n $sim_pid ]]; then kill -KILL "$sim_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

wait_link() { # the simulator links its port once it serves
    for _ in $(seq 1 100); do
        [[ -e $1 ]] && return 0
        sleep 0.05
    done
    fail "no simulator port appeared at $1"
}

start_sim() { # start_sim NAME ARGS...: serve on $work/NAME.tty
    local name=$1
    shift
    "$stm32isp" sim --port-link "$work/$name.tty" --quiet --idle-exit 60 "$@" &
    sim_pid=$!
    wait_link "$work/$name.tty"
}

stop_sim() { # SIGTERM, then wait: the simulator writes its outputs on exit
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" || fail "the simulator exited with an error"
    sim_pid=
}

# make_elf RAM_KIB: app.elf from the cross compiler (a vector table, a loop,
# .data whose initial value 0x12345678 is loaded at its load address in
# flash) and app.flat, its flash image as objcopy lays it out.
make_elf() {
    cat >app.c <<'EOF'
#include <stdint.h>
extern uint32_t _stack_top;
void reset(void);
volatile uint32_t counter = 0x12345678u;
__attribute__((section(".vectors"), used)) const void *const vectors[2] = {&_stack_top, reset};
void reset(void)
{
    for (;;) {
        counter++;
    }
}
EOF
    cat >app.ld <<EOF
MEMORY { FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 64K
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = ${1}K }
_stack_top = ORIGIN(RAM) + LENGTH(RAM);
SECTIONS {
    .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH
    .data : { *(.data*) } > RAM AT > FLASH
    .bss : { *(.bss*) } > RAM
}
EOF
    arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -Os -nostdlib -T app.ld app.c -o app.elf
    arm-none-eabi-objcopy -O binary app.elf app.flat
}

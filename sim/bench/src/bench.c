/*
 * The virtual Blue Pill bench (bench.h): the master's virtual MCU, the
 * target's bootloader model and the EEPROM model, wired as docs/wiring.md
 * wires them, on the master's clock.
 *
 * The run loop advances the master in slices no longer than one byte time
 * of the target link. After each slice the target catches up to the
 * master's time; a byte the target has decided to send ends a slice at its
 * stop bit, so the master receives it exactly then. A byte decided later
 * cannot end before the next slice does (it takes a byte time on the
 * wire). Pin changes reach the target (BOOT0, NRST) and the EEPROM (SCL,
 * SDA) from inside the master's register write, so the EEPROM's answer on
 * SDA is there for the master's next read.
 */
#include "bench/bench.h"

#include "eesim/eesim_bus.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Blue Pill's pins (firmware/boards/bluepill/board.h, docs/wiring.md). */
#define PIN_TARGET_TX  VMCU_PORT_A, 9u
#define PIN_TARGET_RX  VMCU_PORT_A, 10u
#define PIN_CONSOLE_TX VMCU_PORT_A, 2u
#define PIN_CONSOLE_RX VMCU_PORT_A, 3u
#define PIN_BOOT0      VMCU_PORT_B, 0u
#define PIN_NRST       VMCU_PORT_B, 1u
#define PIN_SCL        VMCU_PORT_B, 6u
#define PIN_SDA        VMCU_PORT_B, 7u
#define PIN_BUTTON     VMCU_PORT_B, 12u
#define PIN_LED        VMCU_PORT_C, 13u

#define MASTER_RAM    (20u * 1024u) /* STM32F103C8 */
#define SYSMEM_BASE   0x1FFFF000u
#define CONSOLE_BAUD  115200.0
#define TARGET_QUEUE  64u
#define CONSOLE_QUEUE 4096u

/* STM32F103x8 datasheet, NRST pin characteristics: VIH(NRST) is 2 V at
 * least; the supply is 3.3 V. */
#define NRST_VIH 2.0
#define VDD      3.3

typedef struct wire_byte {
    uint16_t word;
    uint64_t end_ns;
} wire_byte;

struct bench {
    bench_config cfg;
    vmcu *mcu;
    blsim *target;
    eesim *eeprom;
    eesim_bus *bus;
    uint8_t *flash, *ram, *sysmem;
    uint8_t option_bytes[16];
    uint32_t flash_size;

    /* Master to target, in order of their stop bits. */
    wire_byte to_target[TARGET_QUEUE];
    size_t to_target_head, to_target_count;
    uint64_t target_byte_ns;

    /* NRST: what the target sees, and when the RC rise reaches VIH. */
    bool nrst_high;
    uint64_t nrst_rise_at;
    uint64_t nrst_rise_ns;

    /* The console driver's bytes to the master, one frame time apart. */
    uint8_t console_in[CONSOLE_QUEUE];
    size_t console_in_head, console_in_count;
    uint64_t console_next_ns;
    char *console_out;
    size_t console_len, console_cap;

    /* The LED since the last clear. */
    bool led_was_lit;
    uint64_t led_changed_ns;
    bench_led_record led;

    bench_stats stats;
    char error[400];
};

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ------------------------------------------------------------------------- */
/* Messages                                                                   */

static void logf_at(bench *b, const char *fmt, ...)
{
    if (b->cfg.log == NULL) {
        return;
    }
    char line[480];
    int n = snprintf(line, sizeof line, "[%10.3f ms] ", (double)vmcu_now_ns(b->mcu) / 1e6);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    b->cfg.log(b->cfg.ctx, line);
}

static void forward_log(void *ctx, const char *line)
{
    logf_at(ctx, "%s", line);
}

/* ------------------------------------------------------------------------- */
/* The target's side                                                          */

static void target_frame(const bench *b, vmcu_uart_frame *f)
{
    *f = (vmcu_uart_frame){.baud = 1e9 * 11.0 / (double)b->target_byte_ns,
                           .data_bits = 8,
                           .parity = VMCU_PARITY_EVEN,
                           .stop_bits = 1};
}

/* The target takes the master's bytes whose stop bits ended by t, then
 * runs up to t. */
static void target_catch_up(bench *b, uint64_t t)
{
    while (b->to_target_count > 0 && b->to_target[b->to_target_head].end_ns <= t) {
        wire_byte w = b->to_target[b->to_target_head];
        b->to_target_head = (b->to_target_head + 1u) % TARGET_QUEUE;
        b->to_target_count--;
        /* blsim_host_send() puts the byte on the line from now to its stop
         * bit: start it a byte time before the master's stop bit ended. */
        if (w.end_ns > b->target_byte_ns) {
            blsim_advance_to(b->target, w.end_ns - b->target_byte_ns);
        }
        uint8_t byte = (uint8_t)w.word;
        blsim_host_send(b->target, &byte, 1);
    }
    /* Not past the start of a byte still on its way: it must begin on
     * time. */
    uint64_t until = t;
    if (b->to_target_count > 0) {
        uint64_t end = b->to_target[b->to_target_head].end_ns;
        until = min64(until, end > b->target_byte_ns ? end - b->target_byte_ns : 0);
    }
    blsim_advance_to(b->target, until);
}

static bool boot0_driven(const bench *b)
{
    return vmcu_pin_driven_by_mcu(b->mcu, PIN_BOOT0) || !b->cfg.no_boot0_pull_down;
}

/* NRST reached the target's threshold: it leaves reset, sampling BOOT0. */
static void target_nrst_rises(bench *b)
{
    blsim_advance_to(b->target, b->nrst_rise_at);
    b->nrst_rise_at = UINT64_MAX;
    b->nrst_high = true;
    b->stats.target_resets++;
    if (!boot0_driven(b)) {
        b->stats.boot0_floating_samples++;
        logf_at(b, "the target left reset with BOOT0 floating: it may start its bootloader");
    }
    blsim_set_boot0(b->target, vmcu_pin_level(b->mcu, PIN_BOOT0));
    blsim_set_nrst(b->target, true);
}

/* ------------------------------------------------------------------------- */
/* Pins                                                                       */

static void i2c_changed(bench *b, uint64_t at_ns)
{
    eesim_bus_master(b->bus, !vmcu_pin_pulled_low_by_mcu(b->mcu, PIN_SCL),
                     !vmcu_pin_pulled_low_by_mcu(b->mcu, PIN_SDA), at_ns);
    vmcu_pin_drive(b->mcu, PIN_SDA,
                   eesim_bus_sda_pulled_low(b->bus) ? VMCU_DRIVE_LOW : VMCU_DRIVE_PULL_UP);
}

static void led_changed(bench *b, uint64_t at_ns)
{
    bool lit = bench_led_lit(b);
    if (lit == b->led_was_lit) {
        return;
    }
    uint64_t spent = at_ns - b->led_changed_ns;
    if (b->led_was_lit) {
        b->led.lit_ns += spent;
    } else {
        b->led.dark_ns += spent;
        b->led.flashes++;
    }
    b->led_was_lit = lit;
    b->led_changed_ns = at_ns;
}

static void on_pin_change(void *ctx, unsigned port, unsigned pin, uint64_t at_ns)
{
    bench *b = ctx;
    if (port == VMCU_PORT_B && (pin == 6u || pin == 7u)) {
        i2c_changed(b, at_ns);
    } else if (port == VMCU_PORT_B && pin == 0u) {
        if (vmcu_pin_driven_by_mcu(b->mcu, PIN_BOOT0) &&
            b->stats.boot0_first_driven_ns == UINT64_MAX) {
            b->stats.boot0_first_driven_ns = at_ns;
        }
        /* The target samples BOOT0 only as it leaves reset. */
    } else if (port == VMCU_PORT_B && pin == 1u) {
        bool high = vmcu_pin_level(b->mcu, PIN_NRST);
        if (!high) {
            b->nrst_rise_at = UINT64_MAX;
            if (b->nrst_high) {
                target_catch_up(b, at_ns);
                b->nrst_high = false;
                blsim_set_nrst(b->target, false);
            }
        } else if (!b->nrst_high && b->nrst_rise_at == UINT64_MAX) {
            b->nrst_rise_at = at_ns + b->nrst_rise_ns;
        }
    } else if (port == VMCU_PORT_C && pin == 13u) {
        led_changed(b, at_ns);
    }
}

/* ------------------------------------------------------------------------- */
/* Serial lines                                                               */

static void console_append(bench *b, char c)
{
    if (b->console_len + 2u > b->console_cap) {
        size_t cap = b->console_cap ? b->console_cap * 2u : 4096u;
        char *grown = realloc(b->console_out, cap);
        if (grown == NULL) {
            return;
        }
        b->console_out = grown;
        b->console_cap = cap;
    }
    b->console_out[b->console_len++] = c;
    b->console_out[b->console_len] = '\0';
}

static void on_uart_tx(void *ctx, unsigned port, unsigned pin, uint16_t word,
                       const vmcu_uart_frame *frame, uint64_t end_ns)
{
    bench *b = ctx;
    vmcu_uart_frame want;
    if (port == VMCU_PORT_A && pin == 9u) {
        target_frame(b, &want);
    } else if (port == VMCU_PORT_A && pin == 2u) {
        want = (vmcu_uart_frame){
            .baud = CONSOLE_BAUD, .data_bits = 8, .parity = VMCU_PARITY_NONE, .stop_bits = 1};
    } else {
        logf_at(b, "a frame on P%c%u, where nothing listens", 'A' + port, pin);
        return;
    }
    vmcu_uart_received r;
    vmcu_uart_receive(frame, word, &want, &r);
    if (!r.intact) {
        logf_at(b, "%s receives a frame sent at %.0f baud (%u data bits, parity %d) as 0x%02x%s%s",
                pin == 9u ? "the target" : "the console", frame->baud, frame->data_bits,
                (int)frame->parity, r.data, r.parity_error ? ", parity error" : "",
                r.framing_error ? ", framing error" : "");
    }
    if (!r.started) {
        return;
    }
    if (pin == 2u) {
        console_append(b, (char)r.data);
        return;
    }
    b->stats.frames_to_target++;
    if (!r.intact) {
        b->stats.frames_garbled++;
    }
    if (b->to_target_count == TARGET_QUEUE) {
        logf_at(b, "the bench's queue to the target overflowed");
        return;
    }
    b->to_target[(b->to_target_head + b->to_target_count++) % TARGET_QUEUE] =
        (wire_byte){.word = (uint16_t)(r.data & 0xFFu), .end_ns = end_ns};
}

static const vmcu_ops master_ops = {
    .uart_tx = on_uart_tx,
    .log = forward_log,
    .pin_change = on_pin_change,
};

/* ------------------------------------------------------------------------- */
/* Power-up                                                                   */

static void start_master(bench *b)
{
    vmcu_reset(b->mcu, false);
    /* The board around the pins: pull-ups on I2C and on the target's
     * NRST; the BOOT0 net's pull-down; the button open. */
    vmcu_pin_drive(b->mcu, PIN_SCL, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->mcu, PIN_SDA, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->mcu, PIN_NRST, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->mcu, PIN_BOOT0,
                   b->cfg.no_boot0_pull_down ? VMCU_DRIVE_NONE : VMCU_DRIVE_PULL_DOWN);
    vmcu_pin_drive(b->mcu, PIN_TARGET_RX, VMCU_DRIVE_HIGH); /* the target's TX idles high */
    vmcu_pin_drive(b->mcu, PIN_CONSOLE_RX, VMCU_DRIVE_HIGH);
    /* Every pin is an input after reset: the I2C lines are let go. */
    eesim_bus_master(b->bus, true, true, vmcu_now_ns(b->mcu));
    vmcu_boot(b->mcu);
}

static void default_option_bytes(uint8_t ob[16])
{
    /* RM0008 / PM0075 2.5: RDP 0xA5 (no protection), the rest erased
     * (0xFF), each with its complement. */
    for (unsigned i = 0; i < 16u; i += 2u) {
        ob[i] = 0xFF;
        ob[i + 1u] = 0x00;
    }
    ob[0] = 0xA5;
    ob[1] = 0x5A;
}

bench *bench_new(const bench_config *config)
{
    const blsim_device *master_part = blsim_device_find("f103md");
    const stm32isp_eeprom_part *ee_part =
        eesim_part_find(config->eeprom_part ? config->eeprom_part : "24c256");
    const blsim_device *target_part =
        blsim_device_find(config->target_device ? config->target_device : "f103md");
    if (master_part == NULL || ee_part == NULL || target_part == NULL || config->firmware == NULL ||
        config->eeprom_size > ee_part->size) {
        return NULL;
    }
    uint32_t flash_size = 128u * 1024u; /* many F103C8 carry 128 KiB; the firmware needs less */
    if (config->firmware_size > flash_size) {
        return NULL;
    }
    bench *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    b->cfg = *config;
    b->flash_size = flash_size;
    b->flash = malloc(flash_size);
    b->ram = calloc(1, MASTER_RAM);
    b->sysmem = calloc(1, 0x800u);
    if (b->flash == NULL || b->ram == NULL || b->sysmem == NULL) {
        bench_free(b);
        return NULL;
    }
    memset(b->flash, 0xFF, flash_size);
    memcpy(b->flash, config->firmware, config->firmware_size);
    /* The flash size register (RM0008 30.1) at 0x1FFFF7E0, in KiB. */
    b->sysmem[0x7E0] = (uint8_t)(flash_size / 1024u);
    b->sysmem[0x7E1] = (uint8_t)(flash_size / 1024u >> 8);
    default_option_bytes(b->option_bytes);

    vmcu_config mc = {
        .flash = blsim_device_flash_geometry(master_part, flash_size),
        .flash_bytes = b->flash,
        .ram = b->ram,
        .ram_size = MASTER_RAM,
        .sysmem = b->sysmem,
        .sysmem_base = SYSMEM_BASE,
        .option_bytes = b->option_bytes,
        .hse_hz = config->no_crystal ? 0u : 8000000u,
        .hsi_ppm = config->hsi_ppm,
        .ops = &master_ops,
        .ctx = b,
    };
    blsim_config tc = {
        .device = target_part,
        .boot0 = false,
        .faults = config->target_faults,
        .no_crystal = config->target_no_crystal,
        .app_banner = "app\n",
        .log = forward_log,
        .log_ctx = b,
    };
    eesim_config ec = {.part = ee_part,
                       .bus_hz = config->i2c_class_hz ? config->i2c_class_hz : 400000u};
    b->mcu = vmcu_new(&mc);
    b->target = blsim_new(&tc);
    b->eeprom = eesim_new(&ec);
    if (b->mcu == NULL || b->target == NULL || b->eeprom == NULL) {
        bench_free(b);
        return NULL;
    }
    eesim_bus_config bc = {.part = b->eeprom, .bus_hz = ec.bus_hz, .log = forward_log, .ctx = b};
    b->bus = eesim_bus_new(&bc);
    if (b->bus == NULL) {
        bench_free(b);
        return NULL;
    }
    if (config->eeprom_size > 0) {
        memcpy(eesim_memory(b->eeprom), config->eeprom_bytes, config->eeprom_size);
    }
    b->target_byte_ns = blsim_byte_time_ns(b->target);
    double r = config->nrst_pull_up_ohm ? config->nrst_pull_up_ohm : 40000.0;
    double c = (config->nrst_cap_nf ? config->nrst_cap_nf : 100.0) * 1e-9;
    b->nrst_rise_ns = (uint64_t)(r * c * log(VDD / (VDD - NRST_VIH)) * 1e9);
    b->stats.boot0_first_driven_ns = UINT64_MAX;

    /* Both boards power up together: the target's NRST is low until its
     * pull-up has charged the capacitor, unless the master holds it. */
    blsim_set_nrst(b->target, false);
    b->nrst_high = false;
    b->nrst_rise_at = b->nrst_rise_ns;
    b->led_changed_ns = 0;
    start_master(b);
    return b;
}

void bench_free(bench *b)
{
    if (b == NULL) {
        return;
    }
    if (b->bus != NULL) {
        eesim_bus_free(b->bus);
    }
    if (b->eeprom != NULL) {
        eesim_free(b->eeprom);
    }
    if (b->target != NULL) {
        blsim_free(b->target);
    }
    if (b->mcu != NULL) {
        vmcu_free(b->mcu);
    }
    free(b->flash);
    free(b->ram);
    free(b->sysmem);
    free(b->console_out);
    free(b);
}

/* ------------------------------------------------------------------------- */
/* Running                                                                    */

/* Everything due by the master's time t: the target catches up, its bytes
 * and the console's reach the master, NRST rises. */
static void settle(bench *b, uint64_t t)
{
    if (b->nrst_rise_at <= t) {
        target_catch_up(b, b->nrst_rise_at);
        target_nrst_rises(b);
    }
    target_catch_up(b, t);
    vmcu_uart_frame from_target;
    target_frame(b, &from_target);
    while (blsim_next_tx_ns(b->target) <= t) {
        uint8_t byte;
        uint64_t end = blsim_next_tx_ns(b->target);
        if (blsim_host_recv(b->target, &byte, 1, 0) != 1) {
            break;
        }
        vmcu_uart_deliver(b->mcu, PIN_TARGET_RX, byte, &from_target, end);
    }
    if (b->console_in_count > 0 && b->console_next_ns <= t) {
        vmcu_uart_frame f = {
            .baud = CONSOLE_BAUD, .data_bits = 8, .parity = VMCU_PARITY_NONE, .stop_bits = 1};
        uint8_t byte = b->console_in[b->console_in_head];
        b->console_in_head = (b->console_in_head + 1u) % CONSOLE_QUEUE;
        b->console_in_count--;
        vmcu_uart_deliver(b->mcu, PIN_CONSOLE_RX, byte, &f, b->console_next_ns);
        b->console_next_ns += (uint64_t)(1e9 * 10.0 / CONSOLE_BAUD);
    }
}

bench_status bench_run_until(bench *b, uint64_t t_ns)
{
    for (;;) {
        uint64_t now = vmcu_now_ns(b->mcu);
        settle(b, now);
        if (now >= t_ns) {
            return BENCH_OK;
        }
        uint64_t end = min64(t_ns, now + b->target_byte_ns);
        end = min64(end, blsim_next_tx_ns(b->target));
        end = min64(end, b->nrst_rise_at);
        if (b->console_in_count > 0) {
            end = min64(end, b->console_next_ns);
        }
        if (end <= now) {
            end = now + 1u;
        }
        vmcu_stop why = vmcu_run(b->mcu, end, 0);
        switch (why) {
        case VMCU_STOP_TIME:
        case VMCU_STOP_TX:
        case VMCU_STOP_WAITING:
        case VMCU_STOP_EXEC_FLASH:
            break;
        case VMCU_STOP_RESET:
            b->stats.master_resets++;
            logf_at(b, "the master resets (%s)", vmcu_stop_reason(b->mcu));
            start_master(b);
            break;
        default:
            snprintf(b->error, sizeof b->error, "the master's MCU stopped at %.3f ms: %s",
                     (double)vmcu_now_ns(b->mcu) / 1e6, vmcu_stop_reason(b->mcu));
            logf_at(b, "%s", b->error);
            return BENCH_MCU_ERROR;
        }
    }
}

bench_status bench_run_ms(bench *b, uint32_t ms)
{
    return bench_run_until(b, vmcu_now_ns(b->mcu) + (uint64_t)ms * 1000000u);
}

uint64_t bench_now_ns(const bench *b)
{
    return vmcu_now_ns(b->mcu);
}

const char *bench_error(const bench *b)
{
    return b->error;
}

/* ------------------------------------------------------------------------- */
/* The test's side                                                            */

void bench_console_send(bench *b, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    if (b->console_in_count == 0) {
        b->console_next_ns = vmcu_now_ns(b->mcu) + (uint64_t)(1e9 * 10.0 / CONSOLE_BAUD);
    }
    for (size_t i = 0; i < len && b->console_in_count < CONSOLE_QUEUE; i++) {
        b->console_in[(b->console_in_head + b->console_in_count++) % CONSOLE_QUEUE] = p[i];
    }
}

/* The output holds binary frames of the load protocol too (NUL bytes
 * included): search all of it. */
static bool console_has(const bench *b, const char *text)
{
    size_t n = strlen(text);
    for (size_t i = 0; n <= b->console_len && i <= b->console_len - n; i++) {
        if (memcmp(b->console_out + i, text, n) == 0) {
            return true;
        }
    }
    return false;
}

bench_status bench_console_wait(bench *b, const char *text, uint32_t timeout_ms)
{
    uint64_t deadline = vmcu_now_ns(b->mcu) + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        if (console_has(b, text)) {
            return BENCH_OK;
        }
        uint64_t now = vmcu_now_ns(b->mcu);
        if (now >= deadline) {
            return BENCH_TIMEOUT;
        }
        bench_status s = bench_run_until(b, min64(deadline, now + 1000000u));
        if (s != BENCH_OK) {
            return s;
        }
    }
}

const char *bench_console_output(const bench *b)
{
    return b->console_out != NULL ? b->console_out : "";
}

size_t bench_console_length(const bench *b)
{
    return b->console_len;
}

void bench_console_clear(bench *b)
{
    b->console_len = 0;
    if (b->console_out != NULL) {
        b->console_out[0] = '\0';
    }
}

void bench_button(bench *b, bool pressed)
{
    vmcu_pin_drive(b->mcu, PIN_BUTTON, pressed ? VMCU_DRIVE_LOW : VMCU_DRIVE_NONE);
}

bool bench_led_lit(const bench *b)
{
    /* Lit when PC13 sinks the LED's current (board.h: active low). */
    return vmcu_pin_driven_by_mcu(b->mcu, PIN_LED) && !vmcu_pin_level(b->mcu, PIN_LED);
}

bench_led_record bench_led_since_clear(const bench *b)
{
    bench_led_record r = b->led;
    uint64_t spent = vmcu_now_ns(b->mcu) - b->led_changed_ns;
    if (b->led_was_lit) {
        r.lit_ns += spent;
    } else {
        r.dark_ns += spent;
    }
    return r;
}

void bench_led_clear(bench *b)
{
    b->led = (bench_led_record){0};
    b->led_was_lit = bench_led_lit(b);
    b->led_changed_ns = vmcu_now_ns(b->mcu);
}

const bench_stats *bench_get_stats(bench *b)
{
    const eesim_bus_stats *s = eesim_bus_get_stats(b->bus);
    b->stats.i2c_violations = s->violations;
    snprintf(b->stats.i2c_first_violation, sizeof b->stats.i2c_first_violation, "%s",
             s->first_violation);
    b->stats.i2c_bytes = s->bytes_to_part + s->bytes_from_part;
    return &b->stats;
}

blsim *bench_target(bench *b)
{
    return b->target;
}

eesim *bench_eeprom(bench *b)
{
    return b->eeprom;
}

vmcu *bench_master(bench *b)
{
    return b->mcu;
}

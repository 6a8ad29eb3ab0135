/*
 * The Blue Pill master firmware as built (build-fw/bluepill/master.bin),
 * run on the virtual STM32F103 (sim/mcu, docs/virtual-mcu.md) with the
 * board's resistors around it, and its target lines watched every 20 us of
 * virtual time from reset on:
 *
 * - BOOT0 is driven low before the clocks are started (without a crystal
 *   their start-up waits take a quarter of a second), NRST is never pulled
 *   and TX never driven while the master comes up;
 * - BOOT0 is released only once board init is done and 50 ms have passed;
 * - a probe takes the lines, resets the target with the library's schedule
 *   of waits before each 0x7F (20, 50, 150, 300 ms), holds BOOT0 low 50 ms
 *   after the last NRST release and lets every line go again;
 * - a job refused for its image never touches a line.
 *
 * The firmware's path is the first argument; a missing firmware fails.
 */
#include "vmcu/vmcu.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NS_PER_MS   1000000ull
#define STEP_NS     20000ull /* how often the pins are looked at */
#define FLASH_BYTES (64u * 1024u)
#define RAM_BYTES   (20u * 1024u)
#define MAX_EDGES   256u
#define MAX_FRAMES  64u

static const char *firmware_path;

/* The target lines the test watches. */
enum { LINE_BOOT0, LINE_NRST, LINE_TX, LINES };
static const struct {
    unsigned port, pin;
    const char *name;
} lines[LINES] = {
    [LINE_BOOT0] = {VMCU_PORT_B, 0, "BOOT0 (PB0)"},
    [LINE_NRST] = {VMCU_PORT_B, 1, "NRST (PB1)"},
    [LINE_TX] = {VMCU_PORT_A, 9, "TX (PA9)"},
};

/* A line changed: whether the master drives it, and its level. */
typedef struct edge {
    uint64_t ns;
    unsigned line;
    bool driven, level;
} edge;

typedef struct master {
    vmcu *m;
    uint8_t flash[FLASH_BYTES], ram[RAM_BYTES], sysmem[0x800], option_bytes[16];
    char console[8192];
    size_t console_len;
    uint64_t console_first_ns;           /* the first byte on the console; 0: none yet */
    uint64_t frame_start_ns[MAX_FRAMES]; /* bytes sent to the target, when they began */
    uint8_t frame_byte[MAX_FRAMES];
    unsigned frames;
    edge edges[MAX_EDGES];
    unsigned edge_count;
    bool driven[LINES], level[LINES];
    uint64_t clock_up_ns; /* the core left the 8 MHz HSI; 0: not yet */
} master;

static void on_uart_tx(void *ctx, unsigned port, unsigned pin, uint16_t word,
                       const vmcu_uart_frame *frame, uint64_t end_ns)
{
    master *b = ctx;
    if (port == VMCU_PORT_A && pin == 2) {
        if (b->console_len == 0) {
            b->console_first_ns = end_ns;
        }
        if (b->console_len + 1 < sizeof b->console) {
            b->console[b->console_len++] = (char)word;
            b->console[b->console_len] = '\0';
        }
    } else if (port == VMCU_PORT_A && pin == 9 && b->frames < MAX_FRAMES) {
        double bit_ns = 1e9 / frame->baud;
        b->frame_start_ns[b->frames] =
            end_ns - (uint64_t)(vmcu_uart_frame_bits(frame) * bit_ns + 0.5);
        b->frame_byte[b->frames++] = (uint8_t)word;
    }
}

static void on_log(void *ctx, const char *line)
{
    (void)ctx;
    print_message("virtual MCU: %s\n", line);
}

static const vmcu_ops master_ops = {.uart_tx = on_uart_tx, .log = on_log};

static void sample(master *b)
{
    for (unsigned l = 0; l < LINES; l++) {
        bool driven = vmcu_pin_driven_by_mcu(b->m, lines[l].port, lines[l].pin);
        bool level = vmcu_pin_level(b->m, lines[l].port, lines[l].pin);
        if (driven != b->driven[l] || level != b->level[l]) {
            assert_true(b->edge_count < MAX_EDGES);
            b->edges[b->edge_count++] =
                (edge){.ns = vmcu_now_ns(b->m), .line = l, .driven = driven, .level = level};
            b->driven[l] = driven;
            b->level[l] = level;
        }
    }
    if (b->clock_up_ns == 0 && vmcu_hclk_hz(b->m) != 8000000u) {
        b->clock_up_ns = vmcu_now_ns(b->m);
    }
}

/* Runs the firmware until `until_ns`, looking at the lines every STEP_NS. */
static void run_until(master *b, uint64_t until_ns)
{
    while (vmcu_now_ns(b->m) < until_ns) {
        uint64_t next = vmcu_now_ns(b->m) + STEP_NS;
        vmcu_stop why = vmcu_run(b->m, next < until_ns ? next : until_ns, 0);
        if (why != VMCU_STOP_TIME) {
            fail_msg("the firmware stopped at %.3f ms: %s", (double)vmcu_now_ns(b->m) / 1e6,
                     vmcu_stop_reason(b->m));
        }
        sample(b);
    }
}

/* Powers the master up, with the resistors of docs/wiring.md around it:
 * the pull-down on BOOT0, the target's pull-up on NRST, the pull-up on the
 * target's RX (PA9), the target's TX idle (PA10), the I2C pull-ups (no
 * EEPROM answers) and the console adapter's idle TX (PA3). */
static master *power_up(bool crystal)
{
    master *b = calloc(1, sizeof *b);
    assert_non_null(b);
    FILE *f = fopen(firmware_path, "rb");
    if (f == NULL) {
        fail_msg("no firmware at %s: build it first (make firmware)", firmware_path);
    }
    memset(b->flash, 0xFF, sizeof b->flash);
    size_t n = fread(b->flash, 1, sizeof b->flash, f);
    fclose(f);
    assert_true(n > 1024);
    memset(b->option_bytes, 0xFF, sizeof b->option_bytes);
    b->option_bytes[0] = 0xA5; /* RDP level 0 */
    b->option_bytes[1] = 0x5A;
    vmcu_config c = {
        .flash = {.base = 0x08000000u,
                  .size = FLASH_BYTES,
                  .page_size = 1024,
                  .wrp_pages_per_bit = 4,
                  .halfword_ns_typ = 52500,
                  .halfword_ns_max = 70000,
                  .page_erase_ns_typ = 20000000,
                  .page_erase_ns_max = 40000000,
                  .mass_erase_ns_typ = 20000000,
                  .mass_erase_ns_max = 40000000},
        .flash_bytes = b->flash,
        .ram = b->ram,
        .ram_size = RAM_BYTES,
        .sysmem = b->sysmem,
        .sysmem_base = 0x1FFFF000u,
        .option_bytes = b->option_bytes,
        .hse_hz = crystal ? 8000000u : 0u,
        .ops = &master_ops,
        .ctx = b,
    };
    b->m = vmcu_new(&c);
    assert_non_null(b->m);
    vmcu_pin_drive(b->m, VMCU_PORT_B, 0, VMCU_DRIVE_PULL_DOWN);
    vmcu_pin_drive(b->m, VMCU_PORT_B, 1, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->m, VMCU_PORT_A, 9, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->m, VMCU_PORT_A, 10, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->m, VMCU_PORT_B, 6, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->m, VMCU_PORT_B, 7, VMCU_DRIVE_PULL_UP);
    vmcu_pin_drive(b->m, VMCU_PORT_A, 3, VMCU_DRIVE_PULL_UP);
    vmcu_reset(b->m, false);
    for (unsigned l = 0; l < LINES; l++) {
        b->driven[l] = vmcu_pin_driven_by_mcu(b->m, lines[l].port, lines[l].pin);
        b->level[l] = vmcu_pin_level(b->m, lines[l].port, lines[l].pin);
    }
    vmcu_boot(b->m);
    return b;
}

static void power_down(master *b)
{
    vmcu_free(b->m);
    free(b);
}

/* Types `text` on the console, 115200 8N1, one character after another. */
static void type(master *b, const char *text)
{
    const vmcu_uart_frame frame = {
        .baud = 115200, .data_bits = 8, .parity = VMCU_PARITY_NONE, .stop_bits = 1};
    uint64_t frame_ns = (uint64_t)(vmcu_uart_frame_bits(&frame) * 1e9 / frame.baud) + 1;
    for (const char *c = text; *c != '\0'; c++) {
        run_until(b, vmcu_now_ns(b->m) + frame_ns);
        assert_true(
            vmcu_uart_deliver(b->m, VMCU_PORT_A, 3, (uint8_t)*c, &frame, vmcu_now_ns(b->m)));
    }
}

/* The edges of one line from edge index `from` on, copied into `out`. */
static unsigned edges_of(const master *b, unsigned line, unsigned from, edge *out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = from; i < b->edge_count && n < max; i++) {
        if (b->edges[i].line == line) {
            out[n++] = b->edges[i];
        }
    }
    return n;
}

/* The level of a line at `ns`, from its edges (`initial` before the first). */
static bool level_at(const master *b, unsigned line, uint64_t ns, bool initial)
{
    bool level = initial;
    for (unsigned i = 0; i < b->edge_count && b->edges[i].ns <= ns; i++) {
        if (b->edges[i].line == line) {
            level = b->edges[i].level;
        }
    }
    return level;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* ---- Power-up --------------------------------------------------------------- */

static void test_boot0_is_driven_low_before_the_clocks_start(void **state)
{
    (void)state;
    for (int crystal = 0; crystal < 2; crystal++) {
        master *b = power_up(crystal == 1);
        run_until(b, 400 * NS_PER_MS);
        edge boot0[8] = {0};
        unsigned n = edges_of(b, LINE_BOOT0, 0, boot0, 8);
        assert_true(n >= 1);
        /* Driven low within the first tens of microseconds: before .data
         * is copied, and long before the core leaves the HSI (which without
         * a crystal takes the HSE's and the PLL's start-up waits). */
        assert_true(boot0[0].driven && !boot0[0].level);
        if (boot0[0].ns > 100000u) {
            fail_msg("BOOT0 driven only at %.3f ms", ms(boot0[0].ns));
        }
        assert_true(b->clock_up_ns > boot0[0].ns);
        if (crystal == 0) {
            assert_true(b->clock_up_ns > 100 * NS_PER_MS);
        }
        /* While the master comes up, nothing else moves: BOOT0 is never
         * high, NRST never pulled low, TX never driven. */
        for (unsigned i = 0; i < b->edge_count; i++) {
            const edge *e = &b->edges[i];
            if ((e->line == LINE_BOOT0 && e->level) || (e->line == LINE_NRST && !e->level) ||
                (e->line == LINE_TX && e->driven)) {
                fail_msg("%s at %.3f ms: %s, %s", lines[e->line].name, ms(e->ns),
                         e->driven ? "driven" : "released", e->level ? "high" : "low");
            }
        }
        power_down(b);
    }
}

static void test_boot0_is_released_after_init_and_50_ms(void **state)
{
    (void)state;
    for (int crystal = 0; crystal < 2; crystal++) {
        master *b = power_up(crystal == 1);
        run_until(b, 400 * NS_PER_MS);
        edge boot0[8] = {0};
        unsigned n = edges_of(b, LINE_BOOT0, 0, boot0, 8);
        /* Driven low once, released once: no glitch in between. */
        assert_int_equal(n, 2);
        assert_true(boot0[0].driven);
        assert_false(boot0[1].driven);
        uint64_t released = boot0[1].ns;
        if (released < 50 * NS_PER_MS || released < b->clock_up_ns) {
            fail_msg("%s crystal: BOOT0 released at %.3f ms (clock up at %.3f ms)",
                     crystal ? "with a" : "without a", ms(released), ms(b->clock_up_ns));
        }
        /* Board init ends before the banner, and BOOT0 was released by then. */
        assert_true(b->console_first_ns > released);
        assert_non_null(strstr(b->console, "stm32isp master"));
        if (crystal == 1) {
            assert_true(released < 80 * NS_PER_MS); /* no later than it must be */
        }
        /* Between jobs: every target line released, NRST high. */
        assert_false(b->driven[LINE_BOOT0]);
        assert_false(b->driven[LINE_TX]);
        assert_true(b->level[LINE_NRST]);
        power_down(b);
    }
}

/* ---- Jobs ------------------------------------------------------------------- */

static void test_a_probe_takes_the_lines_waits_by_the_schedule_and_lets_go(void **state)
{
    (void)state;
    master *b = power_up(true);
    run_until(b, 300 * NS_PER_MS);
    unsigned from = b->edge_count;
    uint64_t typed = vmcu_now_ns(b->m);
    type(b, "probe\r");
    run_until(b, typed + 3000 * NS_PER_MS);
    assert_non_null(strstr(b->console, "no-sync")); /* nothing answers */

    /* TX was taken before the first byte went out, and let go at the end. */
    edge tx[8] = {0};
    unsigned tx_edges = edges_of(b, LINE_TX, from, tx, 8);
    assert_int_equal(tx_edges, 2);
    assert_true(tx[0].driven && tx[0].level);
    assert_true(b->frames > 0);
    assert_true(tx[0].ns <= b->frame_start_ns[0]);
    assert_true(tx[1].ns > b->frame_start_ns[b->frames - 1]);

    /* Four resets into the bootloader, each 0x7F after the schedule's wait
     * (plus the drain of stale input: 10 ms, twice before the first). */
    edge nrst[16] = {0};
    unsigned nrst_edges = edges_of(b, LINE_NRST, from, nrst, 16);
    static const uint64_t schedule_ms[] = {20, 50, 150, 300};
    unsigned rises = 0;
    uint64_t last_rise = 0;
    for (unsigned i = 0; i < nrst_edges; i++) {
        if (!nrst[i].level) {
            continue;
        }
        assert_true(rises < 4);
        last_rise = nrst[i].ns;
        assert_true(level_at(b, LINE_BOOT0, last_rise, false)); /* into the bootloader */
        unsigned f = 0;
        while (f < b->frames && b->frame_start_ns[f] < last_rise) {
            f++;
        }
        assert_true(f < b->frames);
        assert_int_equal(b->frame_byte[f], 0x7F);
        uint64_t waited = b->frame_start_ns[f] - last_rise;
        uint64_t want = schedule_ms[rises] * NS_PER_MS;
        if (waited < want || waited > want + 25 * NS_PER_MS) {
            fail_msg("reset %u: 0x7F %.3f ms after NRST rose, the schedule says %u ms", rises,
                     ms(waited), (unsigned)schedule_ms[rises]);
        }
        rises++;
    }
    assert_int_equal(rises, 4);

    /* BOOT0 went high for the resets, then low, and was released only
     * 50 ms after NRST last rose; every line is let go at the end. */
    edge boot0[16] = {0};
    unsigned boot0_edges = edges_of(b, LINE_BOOT0, from, boot0, 16);
    if (boot0_edges < 3) {
        fail_msg("BOOT0 changed %u times in the probe", boot0_edges);
        return;
    }
    assert_true(boot0[0].driven);
    const edge *release = &boot0[boot0_edges - 1];
    assert_false(release->driven);
    assert_false(boot0[boot0_edges - 2].level); /* low while held */
    if (release->ns < last_rise + 50 * NS_PER_MS) {
        fail_msg("BOOT0 released %.3f ms after NRST last rose", ms(release->ns - last_rise));
    }
    assert_false(b->driven[LINE_BOOT0]);
    assert_false(b->driven[LINE_TX]);
    assert_true(b->level[LINE_NRST]);
    power_down(b);
}

static void test_a_job_refused_for_its_image_never_touches_a_line(void **state)
{
    (void)state;
    master *b = power_up(true);
    run_until(b, 300 * NS_PER_MS);
    unsigned from = b->edge_count;
    type(b, "flash\r");
    run_until(b, vmcu_now_ns(b->m) + 1000 * NS_PER_MS);
    assert_non_null(strstr(b->console, "eeprom-nack")); /* no EEPROM on the bus */
    assert_non_null(strstr(b->console, "the target was not touched"));
    for (unsigned i = from; i < b->edge_count; i++) {
        const edge *e = &b->edges[i];
        fail_msg("%s moved at %.3f ms", lines[e->line].name, ms(e->ns));
    }
    assert_int_equal(b->frames, 0);
    power_down(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s BLUEPILL_MASTER_BIN\n", argv[0]);
        return 2;
    }
    firmware_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot0_is_driven_low_before_the_clocks_start),
        cmocka_unit_test(test_boot0_is_released_after_init_and_50_ms),
        cmocka_unit_test(test_a_probe_takes_the_lines_waits_by_the_schedule_and_lets_go),
        cmocka_unit_test(test_a_job_refused_for_its_image_never_touches_a_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

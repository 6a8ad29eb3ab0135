/*
 * stm32isp_reset_target() (lib/src/reset.c, docs/reset.md) against the
 * bootloader model. Without reset lines the real reset program, the bytes
 * the build made from target/sysreset/, is loaded and started with Go, and
 * the model runs it on the virtual STM32F1 from the state the F103's ROM
 * leaves: the chip must reset because the program asked it to (AIRCR), and
 * a copy whose request lacks the key must not reset it. With reset lines,
 * BOOT0 and NRST as the model's pins see them. Then the refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_port.h"
#include "stm32isp/reset.h"
#include "vmcu/vmcu.h"

#include <string.h>

#define FLASH_BASE 0x08000000u
#define PROG       (&stm32isp_sysreset_program_cm)
/* The AIRCR value the program writes: VECTKEY 0x05FA, SYSRESETREQ. */
#define AIRCR_RESET 0x05FA0004u

/* The model's port, recording what the host does with the pins. */
typedef struct pin_port {
    sim_port inner;
    bool pins;
    bool boot0;            /* the level last driven */
    bool boot0_at_release; /* BOOT0 when NRST was last released */
    uint32_t asserted_ms;  /* when NRST was last pulled low */
    uint32_t pulse_ms;     /* how long it stayed low */
    unsigned pulses;
    unsigned boot0_changes; /* calls of set_boot0 */
} pin_port;

static const stm32isp_port_ops *inner_ops(const pin_port *p)
{
    return p->pins ? &sim_port_ops_with_pins : &sim_port_ops_no_pins;
}

static int pp_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    pin_port *p = ctx;
    return inner_ops(p)->read(&p->inner, buf, len, timeout_ms);
}

static int pp_write(void *ctx, const uint8_t *buf, size_t len)
{
    pin_port *p = ctx;
    return inner_ops(p)->write(&p->inner, buf, len);
}

static uint32_t pp_now_ms(void *ctx)
{
    pin_port *p = ctx;
    return inner_ops(p)->now_ms(&p->inner);
}

static void pp_delay_ms(void *ctx, uint32_t ms)
{
    pin_port *p = ctx;
    inner_ops(p)->delay_ms(&p->inner, ms);
}

static int pp_set_boot0(void *ctx, bool high)
{
    pin_port *p = ctx;
    p->boot0 = high;
    p->boot0_changes++;
    return inner_ops(p)->set_boot0(&p->inner, high);
}

static int pp_set_reset(void *ctx, bool asserted)
{
    pin_port *p = ctx;
    uint32_t now = pp_now_ms(p);
    if (asserted) {
        p->asserted_ms = now;
    } else {
        p->pulse_ms = now - p->asserted_ms;
        p->boot0_at_release = p->boot0;
        p->pulses++;
    }
    return inner_ops(p)->set_reset(&p->inner, asserted);
}

static const stm32isp_port_ops pin_ops = {.read = pp_read,
                                          .write = pp_write,
                                          .now_ms = pp_now_ms,
                                          .delay_ms = pp_delay_ms,
                                          .set_boot0 = pp_set_boot0,
                                          .set_reset = pp_set_reset};
static const stm32isp_port_ops no_pin_ops = {
    .read = pp_read, .write = pp_write, .now_ms = pp_now_ms, .delay_ms = pp_delay_ms};

typedef struct rig {
    blsim *sim;
    pin_port port;
    stm32isp_client client;
} rig;

/* A powered target with BOOT0 high (the model's default) and an
 * application in flash that the core accepts, with the banner "app". */
static void rig_open_cfg(rig *r, const char *device, bool pins, bool rdp,
                         const stm32isp_config *cfg)
{
    memset(r, 0, sizeof *r);
    blsim_config sc = {.device = blsim_device_find(device),
                       .boot0 = true,
                       .readout_protected = rdp,
                       .app_banner = "app"};
    assert_non_null(sc.device);
    r->sim = blsim_new(&sc);
    assert_non_null(r->sim);
    /* Stack at the top of 8 KiB of RAM, Thumb entry in flash. */
    static const uint8_t vectors[8] = {0x00, 0x20, 0x00, 0x20, 0x01, 0x01, 0x00, 0x08};
    memcpy(blsim_flash(r->sim), vectors, sizeof vectors);
    blsim_idle(r->sim, 5000);
    r->port.inner.sim = r->sim;
    r->port.pins = pins;
    r->port.boot0 = true;
    stm32isp_client_init(&r->client, pins ? &pin_ops : &no_pin_ops, &r->port, cfg);
}

static void rig_open(rig *r, const char *device, bool pins, bool rdp)
{
    rig_open_cfg(r, device, pins, rdp, NULL);
}

static void rig_close(rig *r)
{
    blsim_free(r->sim);
}

static uint32_t peek32(const blsim *sim, uint32_t address)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        uint8_t b = 0;
        assert_true(blsim_peek(sim, address + i, &b));
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

/* The program as the host must have laid it out in the target's RAM: at the
 * user RAM's start, stack pointer at its top, entry moved by the load
 * address, every other byte the blob's. */
static void assert_program_in_ram(const rig *r, const stm32isp_sysreset_program *prog)
{
    const blsim_device *d = blsim_get_device(r->sim);
    const stm32isp_device *dev = r->client.target.device;
    /* The library's database and the model agree on the user RAM. */
    assert_int_equal(dev->ram_start, d->ram_user_start);
    assert_int_equal(dev->ram_end, d->ram_base + d->ram_size);
    uint32_t load = d->ram_user_start;
    uint32_t entry = (uint32_t)prog->code[4] | (uint32_t)prog->code[5] << 8 |
                     (uint32_t)prog->code[6] << 16 | (uint32_t)prog->code[7] << 24;
    assert_int_equal(peek32(r->sim, load), d->ram_base + d->ram_size);
    assert_int_equal(peek32(r->sim, load + 4), load + entry);
    for (uint32_t i = 8; i < prog->size; i++) {
        uint8_t b = 0;
        assert_true(blsim_peek(r->sim, load + i, &b));
        assert_int_equal(b, prog->code[i]);
    }
}

/* ------------------------------------------------------------------------- */
/* The program itself                                                         */

static void test_blob_is_a_vector_table_then_code(void **state)
{
    (void)state;
    /* What the build checks, seen from the library's side. */
    assert_true(PROG->size >= 12 && PROG->size <= 256 && PROG->size % 4 == 0);
    const uint8_t *p = PROG->code;
    assert_int_equal(p[0] | p[1] | p[2] | p[3], 0); /* the host writes the stack pointer */
    uint32_t entry = (uint32_t)p[4] | (uint32_t)p[5] << 8;
    assert_true((entry & 1u) != 0 && entry > 8 && entry < PROG->size);
    assert_int_equal(p[6] | p[7], 0);
    print_message("reset program: %u bytes, entry at +0x%x\n", (unsigned)PROG->size,
                  (unsigned)(entry & ~1u));
}

/* ------------------------------------------------------------------------- */
/* Without reset lines: the program runs on the virtual F1                    */

static void reset_without_pins_on(const char *device)
{
    rig r;
    rig_open(&r, device, false, false);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    const blsim_stats *s = blsim_get_stats(r.sim);
    uint64_t resets = s->resets;
    assert_int_equal(s->ram_programs, 0);

    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_OK);
    assert_false(r.client.connected);
    assert_int_equal(s->gos, 1);
    assert_program_in_ram(&r, PROG);
    /* The virtual MCU ran the bytes, and the reset came from them: a
     * software reset (AIRCR.SYSRESETREQ), no fault, and within a few dozen
     * cycles of the entry, not after the program's wait. */
    assert_int_equal(s->ram_programs, 1);
    assert_int_equal(s->resets, resets + 1);
    const vmcu *mcu = blsim_get_mcu(r.sim);
    assert_non_null(mcu);
    assert_int_equal(vmcu_last_reset_cause(mcu), VMCU_RESET_SOFTWARE);
    assert_string_equal(blsim_fault_reason(r.sim), "");
    assert_true(s->mcu_cycles > 0 && s->mcu_cycles < 100);
    print_message("%s: the reset program ran %llu cycles before the reset\n", device,
                  (unsigned long long)s->mcu_cycles);
    /* BOOT0 is high: the bootloader is back, waiting for 0x7F. */
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_int_equal(r.client.target.pid, blsim_get_device(r.sim)->pid);
    assert_int_equal(r.client.stats.resets, 0); /* no NRST pulse */
    rig_close(&r);
}

static void test_without_pins_the_program_resets_the_f103(void **state)
{
    (void)state;
    reset_without_pins_on("f103md");
    reset_without_pins_on("f103hd");
}

/* The bytes are what runs: the same program with its AIRCR write's key
 * changed (the core ignores the write) leaves the chip spinning in RAM. */
static void test_without_the_key_the_program_does_not_reset(void **state)
{
    (void)state;
    uint8_t copy[256];
    memcpy(copy, PROG->code, PROG->size);
    unsigned found = 0;
    for (uint32_t i = 8; i + 4 <= PROG->size; i += 4) {
        uint32_t w = (uint32_t)copy[i] | (uint32_t)copy[i + 1] << 8 | (uint32_t)copy[i + 2] << 16 |
                     (uint32_t)copy[i + 3] << 24;
        if (w == AIRCR_RESET) {
            copy[i + 2] ^= 0x01; /* VECTKEY 0x05FB */
            found++;
        }
    }
    assert_int_equal(found, 1); /* the value is one literal of the program */
    const stm32isp_sysreset_program patched = {.code = copy, .size = PROG->size};

    rig r;
    rig_open(&r, "f103md", false, false);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    const blsim_stats *s = blsim_get_stats(r.sim);
    uint64_t resets = s->resets;
    assert_int_equal(stm32isp_reset_target(&r.client, &patched, false), STM32ISP_OK);
    blsim_idle(r.sim, 200000);
    assert_int_equal(s->ram_programs, 1);
    assert_int_equal(s->resets, resets);
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_RAM_PROGRAM);
    assert_int_equal(vmcu_last_reset_cause(blsim_get_mcu(r.sim)), VMCU_RESET_NONE);
    /* 200 ms at 8 MHz: the program asked again and again, in vain. */
    assert_true(s->mcu_cycles > 1000000u);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_ERR_NO_SYNC);
    rig_close(&r);
}

/* A Write Memory refused once is sent again; the reset follows. */
static void test_without_pins_a_refused_write_is_retried(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", false, false);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    /* ACKs of the Write Memory: opcode, address, data. The third becomes a
     * NACK. */
    blsim_faults f = {.nack_at_ack = (uint32_t)blsim_get_stats(r.sim)->acks + 3};
    blsim_set_faults(r.sim, &f);
    uint64_t resets = blsim_get_stats(r.sim)->resets;
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_OK);
    assert_int_equal(blsim_get_stats(r.sim)->faults_nacks, 1);
    assert_int_equal(r.client.stats.retries, 1);
    assert_int_equal(blsim_get_stats(r.sim)->resets, resets + 1);
    assert_int_equal(vmcu_last_reset_cause(blsim_get_mcu(r.sim)), VMCU_RESET_SOFTWARE);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    rig_close(&r);
}

/*
 * The F072 is a Cortex-M0, and the model has no virtual MCU for it: its Go
 * into RAM starts a silent "application" without running anything. Only
 * what the host sends is checked here: the program laid out in its user RAM
 * and the Go to it. (The program is built for the Cortex-M0, so the bytes
 * are ones its core can execute; the F1 tests above run the same bytes.)
 */
static void test_without_pins_on_the_f072_the_host_sends_program_and_go(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f072", false, false);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_OK);
    assert_false(r.client.connected);
    const blsim_stats *s = blsim_get_stats(r.sim);
    assert_int_equal(s->gos, 1);
    assert_int_equal(s->command_count[0x31], 1);
    assert_int_equal(s->ram_programs, 0); /* not modelled */
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_APP);
    assert_program_in_ram(&r, PROG);
    rig_close(&r);
}

/* ------------------------------------------------------------------------- */
/* With reset lines                                                           */

static void test_with_pins_into_the_bootloader(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", true, false);
    blsim_set_boot0(r.sim, false); /* whatever BOOT0 was, the host sets it */
    r.port.boot0 = false;
    uint64_t resets = blsim_get_stats(r.sim)->resets;
    /* No connection needed, no program used. */
    assert_int_equal(stm32isp_reset_target(&r.client, NULL, true), STM32ISP_OK);
    assert_int_equal(r.port.pulses, 1);
    assert_true(r.port.boot0_at_release);
    assert_int_equal(r.port.pulse_ms, r.client.cfg.reset_pulse_ms);
    assert_int_equal(blsim_get_stats(r.sim)->resets, resets + 1);
    assert_int_equal(r.client.stats.resets, 1);
    assert_int_equal(blsim_get_stats(r.sim)->bytes_to_target, 0);
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_WAIT_SYNC);
    assert_false(r.client.connected);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);

    /* From a connected session too: the session is over. */
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, true), STM32ISP_OK);
    assert_false(r.client.connected);
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    rig_close(&r);
}

static void test_with_pins_into_the_application(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", true, false);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    uint64_t resets = blsim_get_stats(r.sim)->resets;
    uint32_t pulses = r.port.pulses;
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_OK);
    assert_false(r.client.connected);
    assert_int_equal(r.port.pulses, pulses + 1);
    assert_false(r.port.boot0_at_release);
    assert_int_equal(r.port.pulse_ms, r.client.cfg.reset_pulse_ms);
    assert_int_equal(blsim_get_stats(r.sim)->resets, resets + 1);
    blsim_idle(r.sim, 5000); /* the part boots */
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_APP);
    assert_int_equal(blsim_get_stats(r.sim)->gos, 0); /* a reset, not Go */
    assert_int_equal(blsim_get_stats(r.sim)->ram_programs, 0);
    uint8_t banner[3];
    size_t got = 0;
    while (got < sizeof banner) {
        size_t n = blsim_host_recv(r.sim, banner + got, sizeof banner - got, 100000);
        assert_true(n > 0);
        got += n;
    }
    assert_memory_equal(banner, "app", 3);
    rig_close(&r);
}

/* ------------------------------------------------------------------------- */
/* Refusals                                                                   */

static void test_refusals_send_nothing(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", false, false);
    const blsim_stats *s = blsim_get_stats(r.sim);
    /* Not connected yet. */
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_ERR_NOT_CONNECTED);
    assert_int_equal(s->bytes_to_target, 0);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    uint64_t sent = s->bytes_to_target;
    /* Into the bootloader needs BOOT0, which the host does not drive. */
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, true), STM32ISP_ERR_NO_RESET_LINES);
    /* No program, or bytes that are not one. */
    assert_int_equal(stm32isp_reset_target(&r.client, NULL, false), STM32ISP_ERR_INVALID_ARG);
    uint8_t bad[16];
    memcpy(bad, PROG->code, sizeof bad);
    bad[4] &= 0xFE; /* an ARM-state entry */
    const stm32isp_sysreset_program not_thumb = {.code = bad, .size = sizeof bad};
    assert_int_equal(stm32isp_reset_target(&r.client, &not_thumb, false), STM32ISP_ERR_INVALID_ARG);
    static const uint8_t big[260] = {0};
    const stm32isp_sysreset_program too_big = {.code = big, .size = sizeof big};
    assert_int_equal(stm32isp_reset_target(&r.client, &too_big, false), STM32ISP_ERR_INVALID_ARG);
    /* A stop flag already up. */
    volatile bool stop = true;
    stm32isp_set_stop_flag(&r.client, &stop);
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_ERR_CANCELLED);
    stm32isp_set_stop_flag(&r.client, NULL);
    assert_int_equal(s->bytes_to_target, sent);
    assert_true(r.client.connected);
    assert_int_equal(s->resets, 0);
    rig_close(&r);

    /* Readout protection: Write Memory would be refused. */
    rig_open(&r, "f103md", false, true);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_true(r.client.target.readout_protected);
    sent = blsim_get_stats(r.sim)->bytes_to_target;
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_ERR_READ_PROTECTED);
    assert_int_equal(blsim_get_stats(r.sim)->bytes_to_target, sent);
    rig_close(&r);

    /* User RAM too small for the program and an exception frame. */
    stm32isp_device small = *stm32isp_device_by_pid(0x410);
    small.ram_end = small.ram_start + PROG->size + 16;
    stm32isp_config cfg = {.device_override = &small};
    rig_open_cfg(&r, "f103md", false, false, &cfg);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    sent = blsim_get_stats(r.sim)->bytes_to_target;
    assert_int_equal(stm32isp_reset_target(&r.client, PROG, false), STM32ISP_ERR_UNSUPPORTED);
    assert_int_equal(blsim_get_stats(r.sim)->bytes_to_target, sent);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_is_a_vector_table_then_code),
        cmocka_unit_test(test_without_pins_the_program_resets_the_f103),
        cmocka_unit_test(test_without_the_key_the_program_does_not_reset),
        cmocka_unit_test(test_without_pins_a_refused_write_is_retried),
        cmocka_unit_test(test_without_pins_on_the_f072_the_host_sends_program_and_go),
        cmocka_unit_test(test_with_pins_into_the_bootloader),
        cmocka_unit_test(test_with_pins_into_the_application),
        cmocka_unit_test(test_refusals_send_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

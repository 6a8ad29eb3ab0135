/*
 * The host side of the RAM CRC program (lib/src/ramcrc.c) against the
 * bootloader model, which runs the program's protocol on its virtual clock:
 * what it refuses before sending anything, a match and a mismatch with and
 * without reset lines, a program that never answers or whose answers are
 * lost, and line noise, under which a wrong flash must never pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_port.h"
#include "stm32isp/container.h"
#include "stm32isp/ramcrc.h"

#include <stdio.h>
#include <string.h>

#define FLASH_BASE 0x08000000u
#define PROG       (&stm32isp_ramcrc_program_m3)

/* The model's port, with a way to lose what the target sends after the Go
 * and what the host sends after a given byte. */
typedef struct lossy_port {
    sim_port inner;
    bool pins;
    bool deaf_after_go; /* reads see nothing once the Go's last ACK came */
    int go_stage;       /* 1: Go opcode sent, 2: its address, 3: its ACK read */
    bool drop_writes;   /* the host's bytes never arrive */
} lossy_port;

static const stm32isp_port_ops *inner_ops(const lossy_port *p)
{
    return p->pins ? &sim_port_ops_with_pins : &sim_port_ops_no_pins;
}

static int lp_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    lossy_port *p = ctx;
    if (p->deaf_after_go && p->go_stage == 3) {
        blsim_idle(p->inner.sim, (uint64_t)timeout_ms * 1000u);
        return 0;
    }
    int n = inner_ops(p)->read(&p->inner, buf, len, timeout_ms);
    if (n > 0 && p->go_stage == 2) {
        p->go_stage = 3;
    }
    return n;
}

static int lp_write(void *ctx, const uint8_t *buf, size_t len)
{
    lossy_port *p = ctx;
    if (len == 2 && buf[0] == 0x21 && buf[1] == 0xDE) {
        p->go_stage = 1;
    } else if (p->go_stage == 1) {
        p->go_stage = 2;
    }
    if (p->drop_writes) {
        return 0;
    }
    return inner_ops(p)->write(&p->inner, buf, len);
}

static uint32_t lp_now_ms(void *ctx)
{
    lossy_port *p = ctx;
    return inner_ops(p)->now_ms(&p->inner);
}

static void lp_delay_ms(void *ctx, uint32_t ms)
{
    lossy_port *p = ctx;
    inner_ops(p)->delay_ms(&p->inner, ms);
}

static int lp_set_boot0(void *ctx, bool high)
{
    lossy_port *p = ctx;
    return inner_ops(p)->set_boot0(&p->inner, high);
}

static int lp_set_reset(void *ctx, bool asserted)
{
    lossy_port *p = ctx;
    return inner_ops(p)->set_reset(&p->inner, asserted);
}

static const stm32isp_port_ops lossy_with_pins = {.read = lp_read,
                                                  .write = lp_write,
                                                  .now_ms = lp_now_ms,
                                                  .delay_ms = lp_delay_ms,
                                                  .set_boot0 = lp_set_boot0,
                                                  .set_reset = lp_set_reset};
static const stm32isp_port_ops lossy_no_pins = {
    .read = lp_read, .write = lp_write, .now_ms = lp_now_ms, .delay_ms = lp_delay_ms};

typedef struct rig {
    blsim *sim;
    lossy_port port;
    stm32isp_client client;
    uint32_t crc; /* of the image below */
} rig;

/* Two segments of pattern bytes already in flash; BOOT0 high. */
static const stm32isp_segment segments[] = {{FLASH_BASE, 20000}, {FLASH_BASE + 0x8003, 1111}};

static void rig_open(rig *r, const char *device, bool pins, const blsim_faults *faults, bool rdp,
                     const stm32isp_config *cfg)
{
    memset(r, 0, sizeof *r);
    blsim_config sc = {.device = blsim_device_find(device),
                       .boot0 = true,
                       .readout_protected = rdp,
                       .app_banner = "app"};
    if (faults != NULL) {
        sc.faults = *faults;
    }
    r->sim = blsim_new(&sc);
    assert_non_null(r->sim);
    uint8_t *flash = blsim_flash(r->sim);
    for (uint32_t i = 0; i < 0x10000; i++) {
        flash[i] = (uint8_t)(i * 7u + (i >> 9));
    }
    /* A vector table the model runs. */
    static const uint8_t vectors[8] = {0x00, 0x20, 0x00, 0x20, 0x01, 0x01, 0x00, 0x08};
    memcpy(flash, vectors, sizeof vectors);
    r->crc = 0;
    for (size_t i = 0; i < 2; i++) {
        r->crc = stm32isp_crc32_ieee(r->crc, flash + (segments[i].address - FLASH_BASE),
                                     segments[i].length);
    }
    blsim_idle(r->sim, 5000);
    r->port.inner.sim = r->sim;
    r->port.pins = pins;
    stm32isp_client_init(&r->client, pins ? &lossy_with_pins : &lossy_no_pins, &r->port, cfg);
}

static void rig_close(rig *r)
{
    blsim_free(r->sim);
}

static void test_check_refuses_before_sending_anything(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", true, NULL, false, NULL);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, 2), STM32ISP_ERR_NOT_CONNECTED);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, 2), STM32ISP_OK);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, 0), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, STM32ISP_RAMCRC_MAX_RANGES),
                     STM32ISP_OK);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, STM32ISP_RAMCRC_MAX_RANGES + 1),
                     STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, NULL, 2), STM32ISP_ERR_INVALID_ARG);
    uint64_t sent = blsim_get_stats(r.sim)->bytes_to_target;
    assert_int_equal(stm32isp_ramcrc_verify(&r.client, PROG, segments, 0, 0, 0, NULL),
                     STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(blsim_get_stats(r.sim)->bytes_to_target, sent);
    rig_close(&r);

    /* Not an F1: the F072's Cortex-M0 cannot run it. */
    rig_open(&r, "f072", true, NULL, false, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, 2), STM32ISP_ERR_UNSUPPORTED);
    rig_close(&r);

    /* Readout protection: Write Memory and Go are refused anyway. */
    rig_open(&r, "f103md", true, NULL, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, 2), STM32ISP_ERR_READ_PROTECTED);
    rig_close(&r);

    /* An F1 whose free RAM cannot hold stack, parameters and program. */
    stm32isp_device small = *stm32isp_device_by_pid(0x410);
    small.ram_end = small.ram_start + STM32ISP_RAMCRC_STACK_SIZE + 512;
    stm32isp_config cfg = {.device_override = &small};
    rig_open(&r, "f103md", true, NULL, false, &cfg);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, 2), STM32ISP_ERR_UNSUPPORTED);
    small.ram_end = small.ram_start + STM32ISP_RAMCRC_STACK_SIZE + STM32ISP_RAMCRC_PARAM_SIZE(2) +
                    PROG->size + 8;
    assert_int_equal(stm32isp_ramcrc_check(&r.client, PROG, 2), STM32ISP_OK);
    rig_close(&r);
}

static void test_match_mismatch_and_leaving(void **state)
{
    (void)state;
    for (int pins = 0; pins < 2; pins++) {
        rig r;
        rig_open(&r, "f103md", pins, NULL, false, NULL);
        assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
        stm32isp_ramcrc_report rep;
        assert_int_equal(stm32isp_ramcrc_verify(&r.client, PROG, segments, 2, r.crc, 0, &rep),
                         STM32ISP_OK);
        assert_int_equal(rep.crc, r.crc);
        assert_int_equal(rep.bytes, 21111);
        assert_int_equal(rep.replies, 1);
        assert_int_equal(rep.load_address, 0x20000200u + STM32ISP_RAMCRC_STACK_SIZE);
        assert_true(rep.ram_used < 3000);
        assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_RAM_PROGRAM);
        assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_START_APP), STM32ISP_OK);
        blsim_idle(r.sim, 20000);
        assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_APP);

        /* A mismatch is believed when the program says it twice. */
        assert_int_equal(stm32isp_connect(&r.client), pins ? STM32ISP_OK : STM32ISP_ERR_NO_SYNC);
        if (!pins) {
            blsim_set_nrst(r.sim, false); /* a power cycle, by hand */
            blsim_set_nrst(r.sim, true);
            blsim_idle(r.sim, 5000);
            assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
        }
        assert_int_equal(stm32isp_ramcrc_verify(&r.client, PROG, segments, 2, r.crc ^ 1, 0, &rep),
                         STM32ISP_ERR_VERIFY);
        assert_int_equal(rep.crc, r.crc);
        assert_int_equal(rep.replies, 2);
        assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_BOOTLOADER), STM32ISP_OK);
        assert_true(r.client.connected);
        assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
        assert_int_equal(r.client.target.pid, 0x410);
        rig_close(&r);
    }
}

/* A program that never answers costs a bounded wait, and either way back
 * to the bootloader works: the reset command, or without it the 0x7F of
 * the sync. */
static void test_silence_is_bounded_and_the_bootloader_comes_back(void **state)
{
    (void)state;
    for (int lose_reset = 0; lose_reset < 2; lose_reset++) {
        rig r;
        rig_open(&r, "f103md", false, NULL, false, NULL);
        assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
        r.port.deaf_after_go = true;
        uint64_t t0 = blsim_now_ns(r.sim);
        assert_int_equal(stm32isp_ramcrc_verify(&r.client, PROG, segments, 2, r.crc, 0, NULL),
                         STM32ISP_ERR_TIMEOUT);
        uint64_t waited_ms = (blsim_now_ns(r.sim) - t0) / 1000000u;
        print_message("silent program: gave up after %llu ms (virtual)\n",
                      (unsigned long long)waited_ms);
        assert_true(waited_ms > 20 && waited_ms < 500);
        assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_RAM_PROGRAM);
        r.port.deaf_after_go = false;
        if (lose_reset) {
            /* The reset command is lost on the line. */
            r.port.drop_writes = true;
            uint8_t b[2] = {STM32ISP_RAMCRC_CMD_RESET, (uint8_t)~STM32ISP_RAMCRC_CMD_RESET};
            (void)lossy_no_pins.write(&r.port, b, 2);
            r.port.drop_writes = false;
            assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
        } else {
            assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_BOOTLOADER),
                             STM32ISP_OK);
        }
        assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
        rig_close(&r);
    }
}

/* Bit flips, drops and noise bytes on both lines: the flash is either right
 * or has one wrong byte, and a wrong one must never pass. After any
 * failure the way back to the bootloader must work. */
static void test_line_noise_never_passes_a_wrong_flash(void **state)
{
    (void)state;
    unsigned ok = 0, verify = 0, errors = 0, wrong_ok = 0;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        blsim_faults faults = {
            .seed = seed, .bit_flip_rate = 1e-4, .drop_rate = 2e-4, .insert_rate = 2e-4};
        rig r;
        bool pins = seed % 2 == 0;
        rig_open(&r, "f103md", pins, &faults, false, NULL);
        bool wrong = seed % 3 == 0;
        if (wrong) {
            blsim_flash(r.sim)[(seed * 97) % 20000] ^= (uint8_t)(1u << (seed % 8));
        }
        if (stm32isp_connect(&r.client) != STM32ISP_OK) {
            rig_close(&r);
            continue;
        }
        stm32isp_err err = stm32isp_ramcrc_verify(&r.client, PROG, segments, 2, r.crc, 0, NULL);
        if (err == STM32ISP_OK) {
            ok++;
            wrong_ok += wrong;
        } else if (err == STM32ISP_ERR_VERIFY) {
            verify++;
            assert_true(wrong);
        } else {
            errors++;
        }
        if (err != STM32ISP_OK) {
            blsim_faults none = {0};
            blsim_set_faults(r.sim, &none);
            assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_BOOTLOADER),
                             STM32ISP_OK);
        }
        rig_close(&r);
    }
    print_message("line noise: %u matched, %u mismatches confirmed, %u link errors\n", ok, verify,
                  errors);
    assert_int_equal(wrong_ok, 0);
    assert_true(ok > 100 && verify > 50 && errors > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_refuses_before_sending_anything),
        cmocka_unit_test(test_match_mismatch_and_leaving),
        cmocka_unit_test(test_silence_is_bounded_and_the_bootloader_comes_back),
        cmocka_unit_test(test_line_noise_never_passes_a_wrong_flash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

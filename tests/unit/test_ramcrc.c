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
#include "test_programs.h"
#include "stm32isp/container.h"
#include "stm32isp/ramcrc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define FLASH_BASE 0x08000000u
#define PROG       (&stm32isp_ramcrc_program_m3)

/* The model's port, with a way to lose what the target sends after the Go
 * and what the host sends after a given byte. */
typedef struct lossy_port {
    sim_port inner;
    bool pins;
    bool deaf_after_go;   /* reads see nothing once the Go's last ACK came */
    int go_stage;         /* 1: Go opcode sent, 2: its address, 3: its ACK read */
    unsigned drop_writes; /* so many of the host's next writes never arrive */
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
    if (p->drop_writes > 0) {
        p->drop_writes--;
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

/* A target as `sc` describes it (BOOT0 high, banner "app" set here). */
static void rig_open_target(rig *r, blsim_config sc, bool pins, const stm32isp_config *cfg)
{
    memset(r, 0, sizeof *r);
    sc.boot0 = true;
    sc.app_banner = "app";
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

static void rig_open(rig *r, const char *device, bool pins, const blsim_faults *faults, bool rdp,
                     const stm32isp_config *cfg)
{
    blsim_config sc = {.device = blsim_device_find(device), .readout_protected = rdp};
    if (faults != NULL) {
        sc.faults = *faults;
    }
    rig_open_target(r, sc, pins, cfg);
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

/* A reply that never arrives costs a bounded wait, and the way back to the
 * bootloader works, even when the first bytes of the way back are lost:
 * the recovery's 0x7F bytes make the program reset. */
static void test_silence_is_bounded_and_the_bootloader_comes_back(void **state)
{
    (void)state;
    for (unsigned lose = 0; lose < 2; lose++) {
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
        r.port.drop_writes = lose;
        assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_BOOTLOADER), STM32ISP_OK);
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

/* The program on both parts it is built for, from both hand-over states
 * the model knows and at three rates: the CRC is right and the program's
 * start command runs the application with its own stack and vector table. */
static void test_runs_from_every_go_state_rate_and_part(void **state)
{
    (void)state;
    const char *devices[] = {"f103md", "f103hd"};
    const blsim_go_state states[] = {BLSIM_GO_F103_V22, BLSIM_GO_RESET_VALUES};
    const uint32_t bauds[] = {9600, 57600, 115200};
    for (size_t d = 0; d < 2; d++) {
        for (size_t g = 0; g < 2; g++) {
            for (size_t b = 0; b < 3; b++) {
                rig r;
                blsim_config sc = {.device = blsim_device_find(devices[d]),
                                   .baud = bauds[b],
                                   .go_state = states[g]};
                stm32isp_config cfg = {.baud = bauds[b]};
                rig_open_target(&r, sc, false, &cfg);
                assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
                stm32isp_ramcrc_report rep;
                assert_int_equal(
                    stm32isp_ramcrc_verify(&r.client, PROG, segments, 2, r.crc, 0, &rep),
                    STM32ISP_OK);
                assert_int_equal(rep.crc, r.crc);
                assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_START_APP),
                                 STM32ISP_OK);
                blsim_idle(r.sim, 20000);
                assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_APP);
                const blsim_app_entry *e = blsim_get_app_entry(r.sim);
                assert_true(e->from_ram_program);
                assert_int_equal(e->pc, 0x08000100u);
                assert_int_equal(e->sp, 0x20002000u);
                assert_int_equal(e->vtor, FLASH_BASE);
                rig_close(&r);
            }
        }
    }
}

/* A test program (tests/mcu-programs) loaded as if it were the RAM CRC
 * program: the host cannot tell until it does not answer. */
static stm32isp_ramcrc_program as_ram_program(const test_program *t)
{
    return (stm32isp_ramcrc_program){.code = t->code, .size = (uint32_t)t->size, .stack_bytes = 64};
}

/*
 * A RAM program that does not answer, with no reset lines: the host still
 * ends with the target back in its bootloader (and the flash can be read
 * back), or with a clear error, in bounded time. Ours resets itself once
 * it has heard no command for STM32ISP_RAMCRC_IDLE_RESET_MS, so the host
 * waits that long; one that never resets leaves NO_SYNC.
 */
static void test_a_program_that_does_not_answer(void **state)
{
    (void)state;
    const stm32isp_ramcrc_program resets = as_ram_program(&test_program_mute_resets);
    const stm32isp_ramcrc_program forever = as_ram_program(&test_program_mute_forever);
    for (int pins = 0; pins < 2; pins++) {
        for (int never = 0; never < 2; never++) {
            rig r;
            rig_open(&r, "f103md", pins, NULL, false, NULL);
            assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
            uint64_t t0 = blsim_now_ns(r.sim);
            assert_int_equal(stm32isp_ramcrc_verify(&r.client, never ? &forever : &resets, segments,
                                                    2, r.crc, 0, NULL),
                             STM32ISP_ERR_TIMEOUT);
            stm32isp_err back = stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_BOOTLOADER);
            uint64_t took_ms = (blsim_now_ns(r.sim) - t0) / 1000000u;
            print_message("mute program (%s, %s): %s after %llu ms (virtual)\n",
                          never ? "never resets" : "resets itself",
                          pins ? "reset lines" : "no reset lines", stm32isp_strerror(back),
                          (unsigned long long)took_ms);
            assert_true(took_ms < 8000u);
            if (never && !pins) {
                assert_int_equal(back, STM32ISP_ERR_NO_SYNC);
            } else {
                /* Back in the bootloader, connected: the flash can be
                 * verified another way (here by the real program). */
                assert_int_equal(back, STM32ISP_OK);
                assert_true(r.client.connected);
                assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
                assert_int_equal(
                    stm32isp_ramcrc_verify(&r.client, PROG, segments, 2, r.crc, 0, NULL),
                    STM32ISP_OK);
            }
            rig_close(&r);
        }
    }
}

/* An HSI far from 8 MHz (hot or cold silicon): the F103's ROM autobauds
 * with it, and the program takes its USART divisor from what the ROM
 * measured. After a ROM that left nothing to measure, the program's rate
 * is off and it is not heard: the host waits for its idle reset and gets
 * the bootloader back. */
static void test_an_hsi_off_trim(void **state)
{
    (void)state;
    for (int g = 0; g < 2; g++) {
        rig r;
        blsim_config sc = {.device = blsim_device_find("f103md"),
                           .hsi_ppm = -40000,
                           .go_state = g == 0 ? BLSIM_GO_F103_V22 : BLSIM_GO_RESET_VALUES};
        rig_open_target(&r, sc, false, NULL);
        assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
        stm32isp_err err = stm32isp_ramcrc_verify(&r.client, PROG, segments, 2, r.crc, 0, NULL);
        if (g == 0) {
            assert_int_equal(err, STM32ISP_OK);
            assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_START_APP),
                             STM32ISP_OK);
        } else {
            assert_int_not_equal(err, STM32ISP_OK);
            assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_BOOTLOADER),
                             STM32ISP_OK);
            assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
        }
        rig_close(&r);
    }
}

/* What is uploaded is what runs: a program changed after its header never
 * verifies a flash, right or wrong. */
static void test_a_changed_program_never_passes(void **state)
{
    (void)state;
    uint8_t changed[2048];
    assert_true(PROG->size <= sizeof changed);
    stm32isp_ramcrc_program copy = *PROG;
    copy.code = changed;
    unsigned passed_right = 0, tried = 0;
    /* The body zeroed, then one byte at a time at 64 places across it. */
    for (int k = -1; k < 64; k++) {
        memcpy(changed, PROG->code, PROG->size);
        if (k < 0) {
            memset(changed + STM32ISP_RAMCRC_HEADER_SIZE, 0,
                   PROG->size - STM32ISP_RAMCRC_HEADER_SIZE);
        } else {
            uint32_t body = PROG->size - STM32ISP_RAMCRC_HEADER_SIZE;
            changed[STM32ISP_RAMCRC_HEADER_SIZE + (uint32_t)k * body / 64u] ^= 0x5A;
        }
        for (int wrong = 0; wrong < 2; wrong++) {
            rig r;
            rig_open(&r, "f103md", true, NULL, false, NULL);
            if (wrong) {
                blsim_flash(r.sim)[1234] ^= 0x01;
            }
            assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
            stm32isp_err err =
                stm32isp_ramcrc_verify(&r.client, &copy, segments, 2, r.crc, 0, NULL);
            tried++;
            if (k < 0 || wrong) {
                assert_int_not_equal(err, STM32ISP_OK);
            } else if (err == STM32ISP_OK) {
                passed_right++; /* a byte the right flash never exercises */
            }
            assert_int_equal(stm32isp_ramcrc_leave(&r.client, STM32ISP_RAMCRC_BOOTLOADER),
                             STM32ISP_OK);
            rig_close(&r);
        }
    }
    print_message("changed program: %u runs, %u of 64 one-byte changes still verified the "
                  "right flash, none a wrong one\n",
                  tried, passed_right);
    assert_true(passed_right < 32);
}

/* The 64 KiB CRC on the virtual MCU costs well under a second of host time:
 * no hook runs per instruction. */
static void test_64k_crc_host_time(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", true, NULL, false, NULL);
    const stm32isp_segment all = {FLASH_BASE, 0x10000};
    uint32_t crc = stm32isp_crc32_ieee(0, blsim_flash(r.sim), 0x10000);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t cycles0 = blsim_get_stats(r.sim)->mcu_cycles;
    assert_int_equal(stm32isp_ramcrc_verify(&r.client, PROG, &all, 1, crc, 0, NULL), STM32ISP_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double host_s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("64 KiB CRC: %.3f s of host time, %llu core cycles\n", host_s,
                  (unsigned long long)(blsim_get_stats(r.sim)->mcu_cycles - cycles0));
    assert_true(host_s < 1.0);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_refuses_before_sending_anything),
        cmocka_unit_test(test_match_mismatch_and_leaving),
        cmocka_unit_test(test_silence_is_bounded_and_the_bootloader_comes_back),
        cmocka_unit_test(test_line_noise_never_passes_a_wrong_flash),
        cmocka_unit_test(test_runs_from_every_go_state_rate_and_part),
        cmocka_unit_test(test_a_program_that_does_not_answer),
        cmocka_unit_test(test_an_hsi_off_trim),
        cmocka_unit_test(test_a_changed_program_never_passes),
        cmocka_unit_test(test_64k_crc_host_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

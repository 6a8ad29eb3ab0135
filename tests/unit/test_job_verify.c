/*
 * stm32isp_job_verify(), the master console's `verify`, against the
 * bootloader model: it finds a flash that holds the image and one that does
 * not (a byte changed, a blank part), by reading back and with the RAM CRC
 * program, and never erases or writes; it refuses what the job refuses
 * (a bad image untouched, a foreign part, a protected one); and it lets the
 * target go as documented: into its application with reset lines, left in
 * its bootloader without.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_port.h"
#include "stm32isp/job.h"

#include <string.h>

#define FLASH_BASE 0x08000000u
#define PAYLOAD    3000u

typedef struct image {
    uint8_t bytes[512 + PAYLOAD];
    uint32_t size;
    uint8_t *payload;
} image;

static void make_image(image *im, uint16_t pid, uint32_t flags)
{
    memset(im, 0, sizeof *im);
    stm32isp_container h;
    memset(&h, 0, sizeof h);
    h.flags = flags;
    h.segment_count = 1;
    h.segments[0] = (stm32isp_segment){FLASH_BASE, PAYLOAD};
    h.payload_length = PAYLOAD;
    h.pid_count = 1;
    h.pids[0] = pid;
    strcpy(h.name, "verify");
    size_t hl = stm32isp_container_header_length(1);
    im->payload = im->bytes + hl;
    for (uint32_t i = 0; i < PAYLOAD; i++) {
        im->payload[i] = (uint8_t)(i * 13u + 5u);
    }
    /* A vector table the model can start: stack in RAM, Thumb entry in flash. */
    static const uint8_t vectors[8] = {0x00, 0x20, 0x00, 0x20, 0x01, 0x01, 0x00, 0x08};
    memcpy(im->payload, vectors, sizeof vectors);
    h.payload_crc = stm32isp_crc32_ieee(0, im->payload, PAYLOAD);
    assert_int_equal(stm32isp_container_write_header(&h, im->bytes, hl), hl);
    im->size = (uint32_t)(hl + PAYLOAD);
}

static stm32isp_err image_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    const image *im = ctx;
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = offset + i < im->size ? im->bytes[offset + i] : 0xFF;
    }
    return STM32ISP_OK;
}

typedef struct rig {
    blsim *sim;
    sim_port port;
    bool pins;
    stm32isp_job job;
    stm32isp_job_result result;
    image im;
    stm32isp_container_source source;
} rig;

static void rig_open(rig *r, bool pins, bool rdp)
{
    memset(r, 0, sizeof *r);
    blsim_config cfg = {.device = blsim_device_find("f103md"),
                        .boot0 = !pins,
                        .readout_protected = rdp,
                        .app_banner = "app up"};
    r->sim = blsim_new(&cfg);
    assert_non_null(r->sim);
    r->port.sim = r->sim;
    r->pins = pins;
    blsim_idle(r->sim, 5000);
    r->source = (stm32isp_container_source){.read = image_read, .ctx = &r->im, .size = 32768};
}

static stm32isp_err rig_verify(rig *r, const stm32isp_ramcrc_program *prog)
{
    stm32isp_job_config cfg = {.ops = r->pins ? &sim_port_ops_with_pins : &sim_port_ops_no_pins,
                               .port = &r->port,
                               .source = &r->source,
                               .ram_program = prog};
    stm32isp_err err = stm32isp_job_verify(&r->job, &cfg, &r->result);
    assert_int_equal(r->result.status, err);
    assert_false(r->result.target_modified);
    blsim_idle(r->sim, 20000); /* a started application needs its boot time */
    return err;
}

/* The image's bytes put straight into the model's flash. */
static void preload(rig *r)
{
    memcpy(blsim_flash(r->sim), r->im.payload, PAYLOAD);
}

static void test_verify_finds_match_and_difference(void **state)
{
    (void)state;
    const stm32isp_ramcrc_program *progs[] = {NULL, &stm32isp_ramcrc_program_m3};
    for (int pins = 0; pins < 2; pins++) {
        for (size_t p = 0; p < 2; p++) {
            for (int kind = 0; kind < 3; kind++) {
                rig r;
                rig_open(&r, pins != 0, false);
                make_image(&r.im, 0x410, STM32ISP_CONTAINER_VERIFY | STM32ISP_CONTAINER_START);
                if (kind != 2) {
                    preload(&r);
                }
                if (kind == 1) {
                    blsim_flash(r.sim)[PAYLOAD / 2] ^= 0x04;
                }
                stm32isp_err err = rig_verify(&r, progs[p]);
                assert_int_equal(err, kind == 0 ? STM32ISP_OK : STM32ISP_ERR_VERIFY);
                assert_int_equal(r.result.phase, STM32ISP_PHASE_VERIFY);
                assert_true(r.result.target_touched);
                assert_int_equal(r.result.pid, 0x410);
                assert_int_equal(r.result.verified_by_ram_crc, p == 1 && kind == 0);
                const blsim_stats *st = blsim_get_stats(r.sim);
                assert_int_equal(st->pages_erased, 0);
                assert_int_equal(st->mass_erases, 0);
                assert_int_equal(st->halfwords_programmed, 0);
                /* Let go: the application runs with pins; without, the
                 * bootloader still answers (no Go was sent to flash). */
                if (pins) {
                    /* (A blank flash holds no program to run.) */
                    assert_int_equal(blsim_get_state(r.sim),
                                     kind == 2 ? BLSIM_STATE_HARDFAULT : BLSIM_STATE_APP);
                    assert_true(r.result.started);
                } else {
                    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
                    assert_false(r.result.started);
                }
                blsim_free(r.sim);
            }
        }
    }
}

static void test_verify_refuses_what_the_job_refuses(void **state)
{
    (void)state;
    /* A damaged image: the target never sees a byte. */
    rig r;
    rig_open(&r, true, false);
    make_image(&r.im, 0x410, STM32ISP_CONTAINER_VERIFY);
    preload(&r);
    r.im.payload[10] ^= 1;
    assert_int_equal(rig_verify(&r, NULL), STM32ISP_ERR_CONTAINER_PAYLOAD);
    assert_false(r.result.target_touched);
    assert_int_equal(blsim_get_stats(r.sim)->bytes_to_target, 0);
    blsim_free(r.sim);

    /* An image for another part. */
    rig_open(&r, true, false);
    make_image(&r.im, 0x414, STM32ISP_CONTAINER_VERIFY);
    assert_int_equal(rig_verify(&r, NULL), STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    blsim_free(r.sim);

    /* Readout protection: refused, even with the UNPROTECT flag (verify
     * never erases). */
    rig_open(&r, true, true);
    make_image(&r.im, 0x410, STM32ISP_CONTAINER_VERIFY | STM32ISP_CONTAINER_UNPROTECT);
    assert_int_equal(rig_verify(&r, NULL), STM32ISP_ERR_READ_PROTECTED);
    assert_true(blsim_readout_protected(r.sim));
    assert_int_equal(blsim_get_stats(r.sim)->mass_erases, 0);
    blsim_free(r.sim);

    /* Bad arguments. */
    stm32isp_job_result res;
    assert_int_equal(stm32isp_job_verify(NULL, NULL, &res), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(res.status, STM32ISP_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_finds_match_and_difference),
        cmocka_unit_test(test_verify_refuses_what_the_job_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

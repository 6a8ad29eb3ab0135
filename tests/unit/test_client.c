/*
 * The client library against the bootloader model, in process and on the
 * model's virtual clock: every simulated device, images of many shapes, the
 * erase modes, protection, starting the application, and a fault campaign
 * whose every run must end in a correct target or a clean error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_port.h"
#include "stm32isp/an3155.h"
#include "stm32isp/client.h"
#include "stm32isp/program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLASH_BASE 0x08000000u

/* ------------------------------------------------------------------------- */
/* Fixtures                                                                   */

/* A deterministic generator, so a failing case can be replayed. */
static uint32_t rng_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

static void fill_random(uint8_t *p, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rng_next(state);
    }
}

/* An image held in memory: segments and their payload end to end. */
typedef struct mem_image {
    stm32isp_segment segments[8];
    size_t count;
    uint8_t *payload;
    uint32_t size;
    unsigned reads;
} mem_image;

static int mem_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    mem_image *m = ctx;
    assert_true(offset + len <= m->size);
    memcpy(buf, m->payload + offset, len);
    m->reads++;
    return 0;
}

static void mem_add(mem_image *m, uint32_t address, uint32_t length, uint64_t *rng)
{
    assert_true(m->count < 8);
    m->segments[m->count++] = (stm32isp_segment){address, length};
    m->payload = realloc(m->payload, m->size + length);
    assert_non_null(m->payload);
    fill_random(m->payload + m->size, length, rng);
    m->size += length;
}

static stm32isp_image mem_as_image(mem_image *m)
{
    return (stm32isp_image){
        .segments = m->segments, .segment_count = m->count, .read = mem_read, .ctx = m};
}

static void mem_free(mem_image *m)
{
    free(m->payload);
    memset(m, 0, sizeof *m);
}

/* Flash as the image says it must be: `expect` holds the prior contents. */
static void mem_apply(const mem_image *m, uint8_t *expect)
{
    uint32_t at = 0;
    for (size_t i = 0; i < m->count; i++) {
        memcpy(expect + (m->segments[i].address - FLASH_BASE), m->payload + at,
               m->segments[i].length);
        at += m->segments[i].length;
    }
}

/* True when every image byte is in the target's flash. */
static bool target_holds(blsim *sim, const mem_image *m)
{
    const uint8_t *flash = blsim_flash_const(sim);
    uint32_t at = 0;
    for (size_t i = 0; i < m->count; i++) {
        if (memcmp(flash + (m->segments[i].address - FLASH_BASE), m->payload + at,
                   m->segments[i].length) != 0) {
            return false;
        }
        at += m->segments[i].length;
    }
    return true;
}

typedef struct rig {
    blsim *sim;
    sim_port port;
    stm32isp_client client;
} rig;

static void rig_open_checksum(rig *r, const char *device, uint32_t flash_kb, bool pins,
                              const blsim_faults *faults, bool get_checksum)
{
    memset(r, 0, sizeof *r);
    blsim_config cfg = {.device = blsim_device_find(device),
                        .flash_kb = flash_kb,
                        .boot0 = true,
                        .get_checksum = get_checksum};
    assert_non_null(cfg.device);
    if (faults != NULL) {
        cfg.faults = *faults;
    }
    r->sim = blsim_new(&cfg);
    assert_non_null(r->sim);
    r->port.sim = r->sim;
    stm32isp_client_init(&r->client, pins ? &sim_port_ops_with_pins : &sim_port_ops_no_pins,
                         &r->port, NULL);
}

static void rig_open(rig *r, const char *device, uint32_t flash_kb, bool pins,
                     const blsim_faults *faults)
{
    rig_open_checksum(r, device, flash_kb, pins, faults, false);
}

static void rig_close(rig *r)
{
    blsim_free(r->sim);
    r->sim = NULL;
}

static const struct {
    const char *name;
    uint32_t flash_kb;
    uint16_t pid;
    uint8_t erase_opcode;
} devices[] = {
    {"f103md", 64, 0x410, 0x43},  {"f103md", 128, 0x410, 0x43}, {"f103hd", 256, 0x414, 0x43},
    {"f103hd", 512, 0x414, 0x43}, {"f072", 64, 0x448, 0x44},    {"f072", 128, 0x448, 0x44},
};
#define DEVICE_COUNT (sizeof devices / sizeof devices[0])

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

static void test_every_error_has_message_hint_and_unique_name(void **state)
{
    (void)state;
    for (int e = 0; e < STM32ISP_ERR__COUNT; e++) {
        assert_true(strlen(stm32isp_strerror((stm32isp_err)e)) > 5);
        assert_true(strlen(stm32isp_err_name((stm32isp_err)e)) > 1);
        if (e != STM32ISP_OK) {
            assert_true(strlen(stm32isp_hint((stm32isp_err)e)) > 10);
        }
        for (int f = 0; f < e; f++) {
            assert_string_not_equal(stm32isp_err_name((stm32isp_err)e),
                                    stm32isp_err_name((stm32isp_err)f));
        }
    }
    /* Out-of-range values still get a string rather than a crash. */
    assert_non_null(stm32isp_strerror(STM32ISP_ERR__COUNT));
    assert_non_null(stm32isp_hint((stm32isp_err)-1));
    assert_non_null(strstr(stm32isp_hint(STM32ISP_ERR_NO_SYNC), "BOOT0"));
    assert_non_null(strstr(stm32isp_strerror(STM32ISP_ERR_READ_PROTECTED), "protect"));
}

/* ------------------------------------------------------------------------- */
/* Connecting                                                                 */

static void test_connect_identifies_every_device(void **state)
{
    (void)state;
    for (size_t i = 0; i < DEVICE_COUNT; i++) {
        for (int pins = 0; pins < 2; pins++) {
            rig r;
            rig_open(&r, devices[i].name, devices[i].flash_kb, pins, NULL);
            assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
            const stm32isp_target_info *t = &r.client.target;
            assert_int_equal(t->pid, devices[i].pid);
            assert_non_null(t->device);
            assert_int_equal(t->device->pid, devices[i].pid);
            assert_int_equal(t->erase_opcode, devices[i].erase_opcode);
            assert_int_equal(t->bootloader_version, blsim_get_device(r.sim)->bootloader_version);
            assert_int_equal(t->flash_size, devices[i].flash_kb * 1024u);
            assert_true(t->flash_size_from_register);
            assert_false(t->readout_protected);
            assert_true(t->uid_valid);
            for (unsigned k = 0; k < 12; k++) {
                uint8_t b;
                assert_true(blsim_peek(r.sim, stm32isp_device_uid_reg(t->device) + k, &b));
                assert_int_equal(t->uid[k], b);
            }
            assert_int_equal(r.client.stats.resets, pins ? 1 : 0);
            assert_true(r.client.connected);
            rig_close(&r);
        }
    }
}

static void test_connect_resyncs_with_a_bootloader_already_synchronised(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", 64, false, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    /* A second session on the same running bootloader: its 0x7F is taken
     * as an opcode, the second one gets a NACK; both mean "listening". */
    stm32isp_client again;
    stm32isp_client_init(&again, &sim_port_ops_no_pins, &r.port, NULL);
    assert_int_equal(stm32isp_connect(&again), STM32ISP_OK);
    assert_int_equal(again.target.pid, 0x410);
    rig_close(&r);
}

static void test_no_answer_is_no_sync_within_a_bound(void **state)
{
    (void)state;
    for (int pins = 0; pins < 2; pins++) {
        rig r;
        rig_open(&r, "f103md", 64, pins, NULL);
        /* The application runs instead of the bootloader: silence. */
        blsim_set_boot0(r.sim, false);
        blsim_set_nrst(r.sim, false);
        blsim_set_nrst(r.sim, true);
        if (pins) {
            /* Wiring fault: BOOT0 not connected, so the pin has no effect. */
            static stm32isp_port_ops no_boot0;
            no_boot0 = sim_port_ops_with_pins;
            no_boot0.set_boot0 = NULL;
            no_boot0.set_reset = NULL;
            stm32isp_client_init(&r.client, &no_boot0, &r.port, NULL);
        }
        uint64_t t0 = blsim_now_ns(r.sim);
        assert_int_equal(stm32isp_connect(&r.client), STM32ISP_ERR_NO_SYNC);
        uint64_t spent_ms = (blsim_now_ns(r.sim) - t0) / 1000000u;
        assert_true(spent_ms < 2000);
        assert_false(r.client.connected);
        rig_close(&r);
    }
}

static void test_unknown_pid_is_refused_unless_overridden(void **state)
{
    (void)state;
    blsim_config cfg = {
        .device = blsim_device_find("f103md"), .boot0 = true, .pid_override = 0x7AB};
    blsim *sim = blsim_new(&cfg);
    sim_port port = {.sim = sim};
    stm32isp_client c;
    stm32isp_client_init(&c, &sim_port_ops_with_pins, &port, NULL);
    assert_int_equal(stm32isp_connect(&c), STM32ISP_ERR_UNKNOWN_DEVICE);
    assert_int_equal(c.target.pid, 0x7AB);

    stm32isp_config override = {.device_override = stm32isp_device_by_pid(0x410)};
    assert_non_null(override.device_override);
    stm32isp_client_init(&c, &sim_port_ops_with_pins, &port, &override);
    assert_int_equal(stm32isp_connect(&c), STM32ISP_OK);
    assert_int_equal(c.target.pid, 0x7AB);
    assert_int_equal(c.target.device->pid, 0x410);
    assert_int_equal(c.target.flash_size, 64 * 1024);
    blsim_free(sim);
}

static void test_without_pins_resets_are_refused(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", 64, false, NULL);
    assert_false(stm32isp_has_reset_lines(&r.client));
    assert_int_equal(stm32isp_enter_bootloader(&r.client), STM32ISP_ERR_NO_RESET_LINES);
    rig_close(&r);
}

static void test_target_that_goes_silent_times_out(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", 64, false, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    blsim_set_nrst(r.sim, false); /* held in reset: deaf and silent */
    uint8_t buf[16];
    uint64_t t0 = blsim_now_ns(r.sim);
    assert_int_equal(stm32isp_cmd_read(&r.client, FLASH_BASE, buf, sizeof buf),
                     STM32ISP_ERR_TIMEOUT);
    assert_true((blsim_now_ns(r.sim) - t0) / 1000000u < 500);
    rig_close(&r);
}

/* ------------------------------------------------------------------------- */
/* Single commands                                                            */

static void test_get_version_and_read_write(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f072", 64, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    uint8_t version, options[2];
    assert_int_equal(stm32isp_cmd_get_version(&r.client, &version, options), STM32ISP_OK);
    assert_int_equal(version, 0x31);
    assert_true(stm32isp_offers(&r.client, AN3155_CMD_EXTENDED_ERASE));
    assert_false(stm32isp_offers(&r.client, AN3155_CMD_ERASE));

    uint8_t data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, back[12];
    uint16_t page = 3;
    assert_int_equal(stm32isp_cmd_erase_units(&r.client, &page, 1), STM32ISP_OK);
    assert_int_equal(stm32isp_cmd_write(&r.client, FLASH_BASE + 3 * 2048, data, 12), STM32ISP_OK);
    assert_int_equal(stm32isp_cmd_read(&r.client, FLASH_BASE + 3 * 2048, back, 12), STM32ISP_OK);
    assert_memory_equal(back, data, 12);
    /* Writing over programmed flash is refused by the part. */
    assert_int_equal(stm32isp_cmd_write(&r.client, FLASH_BASE + 3 * 2048, back, 4),
                     STM32ISP_ERR_WRITE_FAILED);
    /* A read outside every memory is refused on the address. */
    assert_int_equal(stm32isp_sync(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_cmd_read(&r.client, 0x60000000, back, 4), STM32ISP_ERR_ADDRESS);
    assert_int_equal(stm32isp_cmd_read(&r.client, FLASH_BASE, back, 0), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_cmd_read(&r.client, FLASH_BASE, back, 257), STM32ISP_ERR_INVALID_ARG);
    rig_close(&r);
}

static void test_erase_with_one_byte_page_numbers_refuses_high_pages(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103hd", 512, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    uint16_t pages[2] = {200, 255};
    uint8_t *flash = blsim_flash(r.sim);
    memset(flash + 200 * 2048, 0x00, 2048);
    memset(flash + 255 * 2048, 0x00, 2048);
    assert_int_equal(stm32isp_cmd_erase_units(&r.client, pages, 2), STM32ISP_OK);
    assert_int_equal(flash[200 * 2048 + 7], 0xFF);
    assert_int_equal(flash[255 * 2048 + 2047], 0xFF);
    uint16_t high = 256;
    assert_int_equal(stm32isp_cmd_erase_units(&r.client, &high, 1), STM32ISP_ERR_UNSUPPORTED);
    rig_close(&r);
}

static void test_erase_splits_long_page_lists(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f072", 128, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    uint16_t pages[64];
    for (unsigned i = 0; i < 64; i++) {
        pages[i] = (uint16_t)i;
    }
    memset(blsim_flash(r.sim), 0x11, 128 * 1024);
    uint32_t commands_before = r.client.stats.commands;
    assert_int_equal(stm32isp_cmd_erase_units(&r.client, pages, 64), STM32ISP_OK);
    assert_true(r.client.stats.commands - commands_before >= 2);
    for (uint32_t a = 0; a < 128 * 1024; a++) {
        assert_int_equal(blsim_flash_const(r.sim)[a], a < 64 * 2048 ? 0xFF : 0x11);
    }
    assert_int_equal(blsim_get_stats(r.sim)->pages_erased, 64);
    rig_close(&r);
}

/* ------------------------------------------------------------------------- */
/* Programming                                                                */

typedef struct shape {
    const char *what;
    uint32_t offsets[3], lengths[3];
} shape;

/* Offsets from the flash base; a length of 0 ends the list. UINT32_MAX as an
 * offset means "ends exactly at the end of flash". */
static const shape shapes[] = {
    {"one byte", {0}, {1}},
    {"odd start and length", {1}, {3}},
    {"one window", {0}, {256}},
    {"window plus one, unaligned", {0x102}, {257}},
    {"crosses pages", {0x3F0}, {5000}},
    {"two segments in one window", {0x10, 0x17}, {5, 7}},
    {"two segments sharing a word", {0x21, 0x23}, {1, 1}},
    {"gap of pages", {0x0, 0x2400, 0x2B01}, {300, 100, 2000}},
    {"ends at the end of flash", {UINT32_MAX}, {700}},
    {"20 KiB", {0x800}, {20 * 1024}},
};
#define SHAPE_COUNT (sizeof shapes / sizeof shapes[0])

static void build_shape(mem_image *m, const shape *s, uint32_t flash_size, uint64_t *rng)
{
    memset(m, 0, sizeof *m);
    for (int k = 0; k < 3 && s->lengths[k] != 0; k++) {
        uint32_t off = s->offsets[k] == UINT32_MAX ? flash_size - s->lengths[k] : s->offsets[k];
        mem_add(m, FLASH_BASE + off, s->lengths[k], rng);
    }
}

/* Every unit [lo, hi) of the image touches, erased in `expect`. */
static void expect_units_erased(const mem_image *m, const stm32isp_device *dev, uint32_t flash_size,
                                uint8_t *expect)
{
    for (size_t i = 0; i < m->count; i++) {
        uint32_t a = m->segments[i].address;
        uint32_t end = a + m->segments[i].length;
        while (a < end) {
            uint32_t index, start, size;
            assert_true(stm32isp_device_unit_at(dev, flash_size, a, &index, &start, &size));
            memset(expect + (start - FLASH_BASE), 0xFF, size);
            a = start + size;
        }
    }
}

static void test_program_every_device_every_shape_keeps_the_rest(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (size_t d = 0; d < DEVICE_COUNT; d++) {
        for (size_t s = 0; s < SHAPE_COUNT; s++) {
            rig r;
            rig_open(&r, devices[d].name, devices[d].flash_kb, d % 2 == 0, NULL);
            uint32_t flash_size = devices[d].flash_kb * 1024u;
            fill_random(blsim_flash(r.sim), flash_size, &rng);
            uint8_t *expect = malloc(flash_size);
            memcpy(expect, blsim_flash_const(r.sim), flash_size);

            assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
            mem_image m;
            build_shape(&m, &shapes[s], flash_size, &rng);
            stm32isp_image image = mem_as_image(&m);
            stm32isp_program_options opts = {.erase = STM32ISP_ERASE_UNITS, .verify = true};
            stm32isp_program_report rep;
            stm32isp_err err = stm32isp_program(&r.client, &image, &opts, &rep);
            if (err != STM32ISP_OK) {
                fail_msg("%s/%u KiB, %s: %s", devices[d].name, devices[d].flash_kb, shapes[s].what,
                         stm32isp_strerror(err));
            }
            expect_units_erased(&m, r.client.target.device, flash_size, expect);
            mem_apply(&m, expect);
            /* Exactly the image, erased units around it, and nothing else
             * touched. */
            assert_memory_equal(blsim_flash_const(r.sim), expect, flash_size);
            assert_int_equal(rep.bytes_image, m.size);
            assert_false(rep.mass_erased);
            assert_true(rep.units_erased > 0);
            assert_int_equal(blsim_get_stats(r.sim)->program_errors, 0);
            mem_free(&m);
            free(expect);
            rig_close(&r);
        }
    }
}

/* The default erase never touches flash the image does not cover: 40 KiB
 * erases 40 pages and keeps the rest (calibration data, emulated EEPROM);
 * only an image over every page gets the quicker mass erase. */
static void test_auto_erase_keeps_what_the_image_does_not_cover(void **state)
{
    (void)state;
    uint64_t rng = 7;
    rig r;
    rig_open(&r, "f103md", 64, true, NULL);
    memset(blsim_flash(r.sim), 0x00, 64 * 1024);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 40 * 1024, &rng);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_AUTO, .verify = true};
    stm32isp_program_report rep;
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, &rep), STM32ISP_OK);
    assert_false(rep.mass_erased);
    assert_int_equal(rep.units_erased, 40);
    assert_int_equal(blsim_get_stats(r.sim)->mass_erases, 0);
    assert_true(target_holds(r.sim, &m));
    assert_int_equal(blsim_flash_const(r.sim)[50 * 1024], 0x00); /* beyond: kept */
    assert_int_equal(blsim_flash_const(r.sim)[63 * 1024], 0x00);
    mem_free(&m);

    /* Every page: one mass erase. */
    memset(&m, 0, sizeof m);
    mem_add(&m, FLASH_BASE, 64 * 1024, &rng);
    image = mem_as_image(&m);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, &rep), STM32ISP_OK);
    assert_true(rep.mass_erased);
    assert_int_equal(blsim_get_stats(r.sim)->mass_erases, 1);
    assert_true(target_holds(r.sim, &m));
    mem_free(&m);

    /* One page: a page erase, the rest of flash kept. */
    memset(&m, 0, sizeof m);
    mem_add(&m, FLASH_BASE + 0x8000, 100, &rng);
    blsim_flash(r.sim)[0] = 0x12;
    image = mem_as_image(&m);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, &rep), STM32ISP_OK);
    assert_false(rep.mass_erased);
    assert_int_equal(rep.units_erased, 1);
    assert_int_equal(blsim_flash_const(r.sim)[0], 0x12);
    assert_true(target_holds(r.sim, &m));
    mem_free(&m);
    rig_close(&r);
}

static void test_all_ff_blocks_are_skipped_after_erase(void **state)
{
    (void)state;
    uint64_t rng = 9;
    rig r;
    rig_open(&r, "f103md", 64, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 4096, &rng);
    memset(m.payload + 1024, 0xFF, 2048); /* windows 4..11 are blank */
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_UNITS, .verify = true};
    stm32isp_program_report rep;
    memset(blsim_flash(r.sim), 0, 4096);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, &rep), STM32ISP_OK);
    assert_int_equal(rep.blocks_skipped, 8);
    assert_int_equal(rep.blocks_written, 8);
    assert_int_equal(rep.bytes_written, 2048);
    assert_true(target_holds(r.sim, &m));
    mem_free(&m);
    rig_close(&r);
}

static void test_image_that_does_not_fit_is_refused_before_any_erase(void **state)
{
    (void)state;
    uint64_t rng = 3;
    rig r;
    rig_open(&r, "f103md", 64, true, NULL);
    memset(blsim_flash(r.sim), 0x5A, 64 * 1024);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_AUTO, .verify = true};

    /* 64 KiB part (its register says so) though the PID allows 128 KiB. */
    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 64 * 1024 + 4, &rng);
    stm32isp_image image = mem_as_image(&m);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL),
                     STM32ISP_ERR_IMAGE_TOO_LARGE);
    mem_free(&m);

    /* Below flash, and beyond it. */
    memset(&m, 0, sizeof m);
    mem_add(&m, 0x20000000, 16, &rng);
    image = mem_as_image(&m);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_ERR_ADDRESS);
    mem_free(&m);
    memset(&m, 0, sizeof m);
    mem_add(&m, FLASH_BASE, 16, &rng);
    mem_add(&m, FLASH_BASE + 64 * 1024, 16, &rng);
    image = mem_as_image(&m);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_ERR_ADDRESS);
    mem_free(&m);

    /* Overlapping and unsorted segments. */
    memset(&m, 0, sizeof m);
    mem_add(&m, FLASH_BASE + 0x100, 16, &rng);
    mem_add(&m, FLASH_BASE + 0x108, 16, &rng);
    image = mem_as_image(&m);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_ERR_INVALID_ARG);
    mem_free(&m);

    const blsim_stats *st = blsim_get_stats(r.sim);
    assert_int_equal(st->pages_erased, 0);
    assert_int_equal(st->mass_erases, 0);
    assert_int_equal(st->halfwords_programmed, 0);
    for (uint32_t a = 0; a < 64 * 1024; a++) {
        assert_int_equal(blsim_flash_const(r.sim)[a], 0x5A);
    }
    rig_close(&r);
}

typedef struct progress_log {
    unsigned calls;
    stm32isp_phase last_phase;
    uint32_t last_done, last_total;
    bool went_backwards;
    bool saw[STM32ISP_PHASE_START + 1];
} progress_log;

static void on_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    progress_log *p = ctx;
    if (p->calls > 0 && phase == p->last_phase && done < p->last_done) {
        p->went_backwards = true;
    }
    assert_true(done <= total);
    p->saw[phase] = true;
    p->calls++;
    p->last_phase = phase;
    p->last_done = done;
    p->last_total = total;
}

static void test_progress_and_start_with_pins(void **state)
{
    (void)state;
    uint64_t rng = 5;
    rig r;
    rig_open(&r, "f103md", 64, true, NULL);
    progress_log log = {0};
    stm32isp_set_progress(&r.client, on_progress, &log);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 3000, &rng);
    /* A vector table the core accepts: stack in RAM, Thumb entry in flash. */
    const uint8_t vectors[8] = {0x00, 0x50, 0x00, 0x20, 0x01, 0x01, 0x00, 0x08};
    memcpy(m.payload, vectors, 8);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_AUTO, .verify = true, .start = true};
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_OK);
    blsim_idle(r.sim, 5000); /* the part boots */
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_APP);
    assert_int_equal(blsim_get_stats(r.sim)->gos, 0); /* a reset, not Go */
    assert_false(r.client.connected);
    assert_true(log.saw[STM32ISP_PHASE_CONNECT] && log.saw[STM32ISP_PHASE_ERASE] &&
                log.saw[STM32ISP_PHASE_WRITE] && log.saw[STM32ISP_PHASE_VERIFY] &&
                log.saw[STM32ISP_PHASE_START]);
    assert_false(log.went_backwards);
    assert_int_equal(log.last_phase, STM32ISP_PHASE_START);
    assert_int_equal(log.last_done, 1);
    mem_free(&m);
    rig_close(&r);
}

static void test_start_without_pins_uses_go(void **state)
{
    (void)state;
    uint64_t rng = 6;
    rig r;
    rig_open(&r, "f072", 128, false, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 1000, &rng);
    const uint8_t vectors[8] = {0x00, 0x40, 0x00, 0x20, 0xC1, 0x00, 0x00, 0x08};
    memcpy(m.payload, vectors, 8);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_UNITS, .verify = true, .start = true};
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_OK);
    assert_int_equal(blsim_get_stats(r.sim)->gos, 1);
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_APP);
    mem_free(&m);
    rig_close(&r);
}

/* Ctrl-C in the PC tool: a stop flag raised in the middle of the writes. */
typedef struct stopper {
    volatile bool stop;
    uint32_t stop_after; /* bytes written */
    uint32_t commands_at_stop;
    stm32isp_client *client;
} stopper;

static void stop_during_write(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    (void)total;
    stopper *s = ctx;
    if (phase == STM32ISP_PHASE_WRITE && done >= s->stop_after && !s->stop) {
        s->stop = true;
        s->commands_at_stop = s->client->stats.commands;
    }
}

static void test_stop_flag_ends_at_a_command_boundary(void **state)
{
    (void)state;
    uint64_t rng = 11;
    rig r;
    rig_open(&r, "f103md", 64, false, NULL);
    stopper st = {.stop_after = 4096, .client = &r.client};
    stm32isp_set_progress(&r.client, stop_during_write, &st);
    stm32isp_set_stop_flag(&r.client, &st.stop);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 20000, &rng);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_AUTO, .verify = true};
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_ERR_CANCELLED);
    assert_true(st.stop);
    /* Not one command after the flag, and the bootloader is at a command
     * boundary: it answers at once when the flag is lowered. */
    assert_int_equal(r.client.stats.commands, st.commands_at_stop);
    assert_false(target_holds(r.sim, &m));
    st.stop = false;
    stm32isp_set_progress(&r.client, NULL, NULL); /* the flag stays down */
    uint8_t version, option_bytes[2];
    assert_int_equal(stm32isp_cmd_get_version(&r.client, &version, option_bytes), STM32ISP_OK);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_OK);
    assert_true(target_holds(r.sim, &m));
    mem_free(&m);
    rig_close(&r);
}

static int collect(void *ctx, const uint8_t *data, uint32_t len)
{
    uint8_t **at = ctx;
    memcpy(*at, data, len);
    *at += len;
    return 0;
}

static void test_read_memory_streams_to_a_sink(void **state)
{
    (void)state;
    uint64_t rng = 11;
    rig r;
    rig_open(&r, "f103hd", 256, true, NULL);
    fill_random(blsim_flash(r.sim), 256 * 1024, &rng);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    static uint8_t back[3000];
    uint8_t *at = back;
    assert_int_equal(stm32isp_read_memory(&r.client, FLASH_BASE + 77, sizeof back, collect, &at),
                     STM32ISP_OK);
    assert_memory_equal(back, blsim_flash_const(r.sim) + 77, sizeof back);
    rig_close(&r);
}

/* ------------------------------------------------------------------------- */
/* Get Checksum                                                               */

static void test_crc_matches_the_reference_value(void **state)
{
    (void)state;
    /* The STM32 CRC unit's documented check: the word 0x12345678 → 0xDF8A8A2B. */
    const uint8_t word[4] = {0x78, 0x56, 0x34, 0x12};
    assert_int_equal(stm32isp_crc32_update(STM32ISP_CRC_INIT, word, 4), 0xDF8A8A2Bu);
    /* Streaming in pieces equals one pass. */
    uint8_t data[64];
    uint64_t rng = 1;
    fill_random(data, sizeof data, &rng);
    uint32_t one = stm32isp_crc32_update(STM32ISP_CRC_INIT, data, 64);
    uint32_t two =
        stm32isp_crc32_update(stm32isp_crc32_update(STM32ISP_CRC_INIT, data, 20), data + 20, 44);
    assert_int_equal(one, two);
}

static void test_checksum_command_and_verify(void **state)
{
    (void)state;
    uint64_t rng = 23;
    rig r;
    rig_open_checksum(&r, "f072", 128, true, NULL, true);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_true(stm32isp_offers(&r.client, AN3155_CMD_GET_CHECKSUM));
    fill_random(blsim_flash(r.sim), 128 * 1024, &rng);
    uint32_t crc;
    assert_int_equal(stm32isp_cmd_get_checksum(&r.client, FLASH_BASE + 0x100, 0x2000, &crc),
                     STM32ISP_OK);
    assert_int_equal(
        crc, stm32isp_crc32_update(STM32ISP_CRC_INIT, blsim_flash_const(r.sim) + 0x100, 0x2000));
    assert_int_equal(stm32isp_cmd_get_checksum(&r.client, FLASH_BASE + 2, 8, &crc),
                     STM32ISP_ERR_INVALID_ARG);

    mem_image m = {0};
    mem_add(&m, FLASH_BASE + 0x800, 40000, &rng);
    mem_add(&m, FLASH_BASE + 0x10001, 333, &rng);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_UNITS, .verify = true};
    stm32isp_program_report rep;
    const blsim_stats *st = blsim_get_stats(r.sim);
    uint64_t reads_before = st->command_count[AN3155_CMD_READ_MEMORY];
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, &rep), STM32ISP_OK);
    assert_true(rep.verified_by_checksum);
    assert_true(target_holds(r.sim, &m));
    assert_int_equal(st->command_count[AN3155_CMD_READ_MEMORY], reads_before);
    assert_true(st->command_count[AN3155_CMD_GET_CHECKSUM] >= 4); /* 16 KiB spans, 2 segments */

    /* One byte off: the checksum sees it, the read-back finds where. */
    uint32_t bad;
    assert_int_equal(stm32isp_verify_image(&r.client, &image, &bad), STM32ISP_OK);
    blsim_flash(r.sim)[0x800 + 30000] ^= 0x10;
    assert_int_equal(stm32isp_verify_image(&r.client, &image, &bad), STM32ISP_ERR_VERIFY);
    assert_int_equal(bad, FLASH_BASE + 0x800 + 30000);

    /* Programming again repairs it, and reading back can be asked for. */
    opts.verify_by_reading = true;
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, &rep), STM32ISP_OK);
    assert_false(rep.verified_by_checksum);
    assert_true(st->command_count[AN3155_CMD_READ_MEMORY] > reads_before + 100);
    assert_true(target_holds(r.sim, &m));
    mem_free(&m);
    rig_close(&r);
}

/* ------------------------------------------------------------------------- */
/* Protection                                                                 */

static void test_readout_protection_round_trip(void **state)
{
    (void)state;
    uint64_t rng = 13;
    rig r;
    rig_open(&r, "f103md", 64, true, NULL);
    memset(blsim_flash(r.sim), 0x33, 64 * 1024);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_cmd_readout_protect(&r.client), STM32ISP_OK);
    assert_true(blsim_readout_protected(r.sim));
    assert_true(r.client.target.readout_protected);
    assert_true(r.client.connected);

    /* Connecting afresh sees it too; reading and programming are refused
     * before anything is erased. */
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    assert_true(r.client.target.readout_protected);
    uint8_t buf[4];
    uint8_t *at = buf;
    assert_int_equal(stm32isp_read_memory(&r.client, FLASH_BASE, 4, collect, &at),
                     STM32ISP_ERR_READ_PROTECTED);
    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 512, &rng);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_AUTO, .verify = true};
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_ERR_READ_PROTECTED);
    assert_int_equal(blsim_get_stats(r.sim)->pages_erased, 0);
    assert_int_equal(blsim_flash_const(r.sim)[100], 0x33);

    /* Unprotecting, asked for, mass-erases; then programming works. */
    assert_int_equal(stm32isp_cmd_readout_unprotect(&r.client), STM32ISP_OK);
    assert_false(blsim_readout_protected(r.sim));
    assert_false(r.client.target.readout_protected);
    assert_int_equal(blsim_flash_const(r.sim)[100], 0xFF);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_OK);
    assert_true(target_holds(r.sim, &m));
    mem_free(&m);
    rig_close(&r);
}

static void test_write_protection_blocks_programming_until_removed(void **state)
{
    (void)state;
    uint64_t rng = 17;
    rig r;
    rig_open(&r, "f072", 64, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    const uint8_t sectors[1] = {0}; /* pages 0-1 */
    assert_int_equal(stm32isp_cmd_write_protect(&r.client, sectors, 1), STM32ISP_OK);
    assert_true(r.client.connected);

    mem_image m = {0};
    mem_add(&m, FLASH_BASE, 600, &rng);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_UNITS, .verify = true};
    stm32isp_err err = stm32isp_program(&r.client, &image, &opts, NULL);
    assert_int_not_equal(err, STM32ISP_OK);
    assert_false(target_holds(r.sim, &m));

    assert_int_equal(stm32isp_cmd_write_unprotect(&r.client), STM32ISP_OK);
    assert_int_equal(stm32isp_program(&r.client, &image, &opts, NULL), STM32ISP_OK);
    assert_true(target_holds(r.sim, &m));
    mem_free(&m);
    rig_close(&r);
}

/* Option bytes written with Write Memory: the chip resets, the client
 * synchronises again, and a WRP bit written this way protects its pages. */
static void test_option_bytes_write_and_reload(void **state)
{
    (void)state;
    for (int pins = 0; pins < 2; pins++) {
        rig r;
        rig_open(&r, "f103md", 64, pins == 1, NULL);
        assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
        const stm32isp_device *d = r.client.target.device;
        uint8_t raw[STM32ISP_OPTION_BYTES_RAW_SIZE];
        assert_int_equal(
            stm32isp_cmd_read(&r.client, stm32isp_device_option_start(d), raw, sizeof raw),
            STM32ISP_OK);
        stm32isp_option_bytes ob;
        assert_int_equal(stm32isp_option_bytes_decode(d, raw, &ob, NULL),
                         STM32ISP_OPTION_BYTES_VALID);
        ob.data0 = 0x5A;
        stm32isp_option_bytes_set_wrp(&ob, 1, true); /* pages 4-7 */
        assert_true(stm32isp_option_bytes_encode(d, &ob, raw));
        assert_int_equal(stm32isp_write_option_bytes(&r.client, raw, sizeof raw), STM32ISP_OK);
        assert_true(r.client.connected);
        const uint8_t *held = blsim_option_bytes(r.sim);
        assert_int_equal(held[4], 0x5A);
        assert_int_equal(held[5], 0xA5);
        assert_int_equal(held[8], 0xFD);
        assert_int_equal(held[0], 0xA5); /* still readable: RDP level 0 */
        assert_int_equal(blsim_get_stats(r.sim)->resets, (uint64_t)(pins == 1 ? 2 : 1));
        /* Page 5 is protected now: an erase of it does not happen. */
        const uint16_t page5 = 5;
        uint8_t before[4];
        memcpy(before, blsim_flash(r.sim) + 5 * 1024, 4);
        stm32isp_cmd_erase_units(&r.client, &page5, 1);
        assert_memory_equal(blsim_flash(r.sim) + 5 * 1024, before, 4);
        assert_int_equal(stm32isp_write_option_bytes(&r.client, raw, 17), STM32ISP_ERR_INVALID_ARG);
        rig_close(&r);
    }
}

/* ------------------------------------------------------------------------- */
/* Addresses an F1 must never be sent                                         */

/* One Read or Write Memory; true when the call sent nothing at all. */
static bool sent_nothing(rig *r, bool write, uint32_t address, size_t len, stm32isp_err *err)
{
    uint8_t buf[256];
    memset(buf, 0x5A, sizeof buf);
    uint64_t before = blsim_get_stats(r->sim)->bytes_to_target;
    *err = write ? stm32isp_cmd_write(&r->client, address, buf, len)
                 : stm32isp_cmd_read(&r->client, address, buf, len);
    return blsim_get_stats(r->sim)->bytes_to_target == before;
}

static void test_f1_addresses_outside_the_windows_are_refused_before_sending(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", 64, true, NULL); /* the model ACKs a bad address, as the ROM does */
    assert_true(blsim_get_device(r.sim)->acks_bad_address);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    const uint32_t flash_end = FLASH_BASE + 64 * 1024;
    static const struct {
        bool write;
        uint32_t address;
        size_t len;
    } outside[] = {
        {false, 0x30000000u, 4},     /* nothing there */
        {false, flash_end - 2, 4},   /* runs off the flash's end */
        {false, flash_end, 4},       /* past it (the part says 64 KiB) */
        {false, 0x20005000u - 2, 4}, /* runs off the RAM */
        {false, 0x1FFFEFFEu, 4},     /* starts below system memory */
        {false, 0x1FFFF80Eu, 4},     /* runs off the option bytes */
        {true, 0x1FFFF000u, 4},      /* system memory is not writable */
        {true, 0x20000000u, 4},      /* the bootloader's own RAM */
        {true, 0x1FFFF802u, 2},      /* option bytes, not from their base */
        {true, flash_end - 4, 8},    /* runs off the flash's end */
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        stm32isp_err err;
        if (!sent_nothing(&r, outside[i].write, outside[i].address, outside[i].len, &err) ||
            err != STM32ISP_ERR_ADDRESS) {
            fail_msg("%s 0x%08x+%zu: %s", outside[i].write ? "write" : "read", outside[i].address,
                     outside[i].len, stm32isp_err_name(err));
        }
    }
    assert_int_equal(stm32isp_frame_size(&r.client), 256); /* no frame counted as lost */
    /* The target is still at a command boundary, and everything inside the
     * windows goes through, edges included. */
    static const struct {
        bool write;
        uint32_t address;
        size_t len;
    } inside[] = {
        {false, flash_end - 4, 4}, {false, 0x20000000u, 16},   {false, 0x20005000u - 4, 4},
        {false, 0x1FFFF7E0u, 2},   {false, 0x1FFFF7E8u, 12},   {false, 0x1FFFF800u, 16},
        {true, 0x20000200u, 8},    {true, 0x20005000u - 4, 4}, {true, flash_end - 4, 4},
    };
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        stm32isp_err err;
        assert_false(sent_nothing(&r, inside[i].write, inside[i].address, inside[i].len, &err));
        if (err != STM32ISP_OK) {
            fail_msg("%s 0x%08x+%zu: %s", inside[i].write ? "write" : "read", inside[i].address,
                     inside[i].len, stm32isp_err_name(err));
        }
    }
    rig_close(&r);

    /* A part whose ROM NACKs a bad address is left to say so itself. */
    rig_open(&r, "f072", 64, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    stm32isp_err err;
    assert_false(sent_nothing(&r, false, 0x30000000u, 4, &err));
    assert_int_equal(err, STM32ISP_ERR_ADDRESS);
    rig_close(&r);
}

/* ------------------------------------------------------------------------- */
/* How long the long commands are waited for                                  */

/*
 * A port that lets a chosen command's first `acks_before` answers through
 * and then hears nothing more: the client waits for the command's last
 * answer as long as its timeout says, and the port adds up that wait until
 * the client does something else (sends, moves a pin) or gives up.
 */
typedef struct mute_port {
    sim_port inner;
    uint8_t opcode;       /* the command to go silent in */
    unsigned acks_before; /* its answers that still arrive */
    enum { MUTE_OFF, MUTE_IDLE, MUTE_ARMED, MUTE_SILENT, MUTE_DONE } state;
    unsigned acks_seen;
    uint64_t silent_ms; /* the client's wait for the answer that never came */
} mute_port;

static int mute_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    mute_port *p = ctx;
    if (p->state == MUTE_SILENT) {
        blsim_idle(p->inner.sim, (uint64_t)timeout_ms * 1000u);
        p->silent_ms += timeout_ms;
        return 0;
    }
    int n = sim_port_ops_with_pins.read(&p->inner, buf, len, timeout_ms);
    if (p->state == MUTE_ARMED && n > 0) {
        p->acks_seen += (unsigned)n;
        if (p->acks_seen >= p->acks_before) {
            p->state = MUTE_SILENT;
        }
    }
    return n;
}

/* The silence ends with the client's next action, once it has waited. */
static void mute_action(mute_port *p)
{
    if (p->state == MUTE_SILENT && p->silent_ms > 0) {
        p->state = MUTE_DONE;
    }
}

static int mute_write(void *ctx, const uint8_t *buf, size_t len)
{
    mute_port *p = ctx;
    mute_action(p);
    if (p->state == MUTE_IDLE && len == 2 && buf[0] == p->opcode && (buf[0] ^ buf[1]) == 0xFF) {
        p->state = MUTE_ARMED;
    }
    return sim_port_ops_with_pins.write(&p->inner, buf, len);
}

static uint32_t mute_now_ms(void *ctx)
{
    mute_port *p = ctx;
    return sim_port_ops_with_pins.now_ms(&p->inner);
}

static void mute_delay_ms(void *ctx, uint32_t ms)
{
    mute_port *p = ctx;
    sim_port_ops_with_pins.delay_ms(&p->inner, ms);
}

static int mute_set_boot0(void *ctx, bool high)
{
    mute_port *p = ctx;
    mute_action(p);
    return sim_port_ops_with_pins.set_boot0(&p->inner, high);
}

static int mute_set_reset(void *ctx, bool asserted)
{
    mute_port *p = ctx;
    mute_action(p);
    return sim_port_ops_with_pins.set_reset(&p->inner, asserted);
}

static const stm32isp_port_ops mute_ops = {
    .read = mute_read,
    .write = mute_write,
    .now_ms = mute_now_ms,
    .delay_ms = mute_delay_ms,
    .set_boot0 = mute_set_boot0,
    .set_reset = mute_set_reset,
};

typedef enum long_command {
    LONG_READOUT_PROTECT,
    LONG_READOUT_UNPROTECT,
    LONG_WRITE_PROTECT,
    LONG_WRITE_UNPROTECT,
    LONG_MASS_ERASE,
    LONG_OPTION_BYTES,
} long_command;

/* Connects to `device` (as `pid` when nonzero), then runs `cmd` with its
 * last answer lost; returns how long the client waited for it. */
static uint64_t wait_for_lost_answer(const char *device, uint16_t pid, long_command cmd)
{
    rig r;
    rig_open(&r, device, 0, true, NULL);
    mute_port port = {.inner = {.sim = r.sim}};
    stm32isp_config cfg = {.device_override = pid != 0 ? stm32isp_device_by_pid(pid) : NULL};
    stm32isp_client c;
    stm32isp_client_init(&c, &mute_ops, &port, &cfg);
    assert_int_equal(stm32isp_connect(&c), STM32ISP_OK);
    const uint8_t sector = 0;
    uint8_t raw[STM32ISP_OPTION_BYTES_RAW_SIZE];
    stm32isp_err err = STM32ISP_OK;
    port.state = MUTE_IDLE; /* connected: from here on the command is watched for */
    port.acks_before = 1;
    switch (cmd) {
    case LONG_READOUT_PROTECT:
        port.opcode = AN3155_CMD_READOUT_PROTECT;
        err = stm32isp_cmd_readout_protect(&c);
        break;
    case LONG_READOUT_UNPROTECT:
        port.opcode = AN3155_CMD_READOUT_UNPROTECT;
        err = stm32isp_cmd_readout_unprotect(&c);
        break;
    case LONG_WRITE_PROTECT:
        port.opcode = AN3155_CMD_WRITE_PROTECT;
        err = stm32isp_cmd_write_protect(&c, &sector, 1);
        break;
    case LONG_WRITE_UNPROTECT:
        port.opcode = AN3155_CMD_WRITE_UNPROTECT;
        err = stm32isp_cmd_write_unprotect(&c);
        break;
    case LONG_MASS_ERASE:
        port.opcode = c.target.erase_opcode;
        err = stm32isp_cmd_mass_erase(&c);
        break;
    case LONG_OPTION_BYTES:
        /* Write Memory: the opcode's and the address's answers arrive. */
        port.opcode = AN3155_CMD_WRITE_MEMORY;
        port.acks_before = 2;
        memset(raw, 0xFF, sizeof raw);
        raw[0] = 0xA5;
        raw[1] = 0x5A;
        err = stm32isp_write_option_bytes(&c, raw, sizeof raw);
        break;
    }
    (void)err; /* a timeout, or a retry that got through: the wait is what counts */
    assert_true(port.state == MUTE_SILENT || port.state == MUTE_DONE);
    rig_close(&r);
    return port.silent_ms;
}

static void test_protection_and_mass_erase_wait_at_least_a_second(void **state)
{
    (void)state;
    static const char *const names[] = {"readout protect", "readout unprotect", "write protect",
                                        "write unprotect", "mass erase",        "option bytes"};
    const char *devices_[] = {"f103md", "f103hd", "f072"};
    for (size_t d = 0; d < 3; d++) {
        for (long_command cmd = LONG_READOUT_PROTECT; cmd <= LONG_OPTION_BYTES; cmd++) {
            uint64_t waited = wait_for_lost_answer(devices_[d], 0, cmd);
            if (waited < 1000) {
                fail_msg("%s, %s: the last answer was waited for %llu ms", devices_[d], names[cmd],
                         (unsigned long long)waited);
            }
        }
    }
    /* A part whose mass erase takes longer keeps its longer wait: an F4's
     * 32 s (the model is an F072 that NACKs the F4's addresses). */
    assert_true(wait_for_lost_answer("f072", 0x413, LONG_MASS_ERASE) >= 32000u * 3u / 2u);
    assert_true(wait_for_lost_answer("f072", 0x413, LONG_READOUT_UNPROTECT) >= 32000u * 3u / 2u);
}

/* ------------------------------------------------------------------------- */
/* Recovery of a write, branch by branch, with deterministic faults          */

/*
 * A target (f103md: 1 KiB pages, so 4 windows of 256 bytes a unit) whose
 * first two pages are erased for a 2 KiB image, ready to be written: the
 * tests put a fault or a flash state in place and then write.
 */
typedef struct write_rig {
    rig r;
    mem_image m;
    stm32isp_image image;
    stm32isp_program_report rep;
    uint64_t acks, commands; /* the model's counts once erased */
} write_rig;

static void write_rig_open(write_rig *w, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    uint64_t rng = seed;
    rig_open(&w->r, "f103md", 64, true, NULL);
    fill_random(blsim_flash(w->r.sim), 64 * 1024, &rng);
    assert_int_equal(stm32isp_connect(&w->r.client), STM32ISP_OK);
    mem_add(&w->m, FLASH_BASE, 2048, &rng);
    w->image = mem_as_image(&w->m);
    assert_int_equal(
        stm32isp_erase_for_image(&w->r.client, &w->image, STM32ISP_ERASE_UNITS, &w->rep),
        STM32ISP_OK);
    const blsim_stats *st = blsim_get_stats(w->r.sim);
    assert_int_equal(st->pages_erased, 2);
    w->acks = st->acks;
    w->commands = st->commands;
}

/* Faults from now on; counts are the model's since it started. */
static void write_rig_faults(write_rig *w, const char *spec)
{
    blsim_faults f = {0};
    char err[96];
    assert_int_equal(blsim_faults_parse(spec, &f, err, sizeof err), 0);
    blsim_set_faults(w->r.sim, &f);
}

static void write_rig_close(write_rig *w)
{
    mem_free(&w->m);
    rig_close(&w->r);
}

/* Every Write Memory of a block gets three ACKs; the last one says it is
 * programmed. When that one is lost (a NACK instead), the block is read
 * back, found right, and not written again. */
static void test_write_whose_ack_was_lost_is_read_back_and_kept(void **state)
{
    (void)state;
    write_rig w;
    write_rig_open(&w, 31);
    blsim_faults f = {.nack_at_ack = (uint32_t)w.acks + 3 * 2 + 3}; /* the third block's last */
    blsim_set_faults(w.r.sim, &f);
    assert_int_equal(stm32isp_write_image(&w.r.client, &w.image, true, &w.rep), STM32ISP_OK);
    const blsim_stats *st = blsim_get_stats(w.r.sim);
    assert_int_equal(st->faults_nacks, 1);
    assert_true(target_holds(w.r.sim, &w.m));
    assert_int_equal(w.rep.units_repaired, 0);
    assert_int_equal(st->pages_erased, 2);
    assert_int_equal(st->halfwords_programmed, 1024); /* each half-word once */
    assert_true(w.r.client.stats.resyncs >= 1);
    write_rig_close(&w);
}

/* A write refused on its address (it never reached the flash) is read
 * back, found erased and sent again. */
static void test_write_that_did_not_land_is_sent_again(void **state)
{
    (void)state;
    write_rig w;
    write_rig_open(&w, 32);
    blsim_faults f = {.nack_at_ack = (uint32_t)w.acks + 3 * 5 + 2}; /* the sixth's address */
    blsim_set_faults(w.r.sim, &f);
    assert_int_equal(stm32isp_write_image(&w.r.client, &w.image, true, &w.rep), STM32ISP_OK);
    const blsim_stats *st = blsim_get_stats(w.r.sim);
    assert_int_equal(st->faults_nacks, 1);
    assert_true(target_holds(w.r.sim, &w.m));
    assert_int_equal(w.rep.units_repaired, 0);
    assert_int_equal(st->pages_erased, 2);
    assert_int_equal(st->halfwords_programmed, 1024);
    assert_int_equal(st->program_errors, 0);
    write_rig_close(&w);
}

/* The flash under a block is no longer blank but already holds the
 * block's data (a retried write that had in fact landed): the target
 * refuses the write, the block is read back, found right, and kept. */
static void test_refused_write_over_the_right_data_goes_on(void **state)
{
    (void)state;
    write_rig w;
    write_rig_open(&w, 33);
    memcpy(blsim_flash(w.r.sim) + 0x100, w.m.payload + 0x100, 256);
    assert_int_equal(stm32isp_write_image(&w.r.client, &w.image, true, &w.rep), STM32ISP_OK);
    const blsim_stats *st = blsim_get_stats(w.r.sim);
    assert_int_equal(st->program_errors, 1);
    assert_true(target_holds(w.r.sim, &w.m));
    assert_int_equal(w.rep.units_repaired, 0);
    assert_int_equal(st->pages_erased, 2);
    write_rig_close(&w);
}

/* The flash under the last block of a unit holds something else (a stray
 * command): the target refuses the write, the block reads back wrong
 * twice alike, and the unit is erased and every one of its blocks written
 * again, the three written before it included; the next unit is left as
 * it was erased and written once. */
static void test_refused_write_over_other_data_rewrites_its_whole_unit(void **state)
{
    (void)state;
    write_rig w;
    write_rig_open(&w, 34);
    blsim_flash(w.r.sim)[0x3F0] = 0x00;
    assert_int_equal(stm32isp_write_image(&w.r.client, &w.image, true, &w.rep), STM32ISP_OK);
    const blsim_stats *st = blsim_get_stats(w.r.sim);
    assert_true(target_holds(w.r.sim, &w.m));
    assert_int_equal(w.rep.units_repaired, 1);
    assert_int_equal(st->pages_erased, 3);
    /* 3 blocks, the unit's 4 again, the next unit's 4. */
    assert_int_equal(w.rep.blocks_written, 11);
    assert_int_equal(st->halfwords_programmed, 1024 + 3 * 128 + 120);
    write_rig_close(&w);
}

/* A reset in the middle of a Write Memory leaves the block half
 * programmed: it reads back neither right nor blank, and its unit is
 * erased and written again. */
static void test_write_cut_by_a_reset_is_repaired(void **state)
{
    (void)state;
    write_rig w;
    write_rig_open(&w, 35);
    blsim_faults f = {.reset_in_command = (uint32_t)w.commands + 6}; /* the sixth block */
    blsim_set_faults(w.r.sim, &f);
    assert_int_equal(stm32isp_write_image(&w.r.client, &w.image, true, &w.rep), STM32ISP_OK);
    const blsim_stats *st = blsim_get_stats(w.r.sim);
    assert_int_equal(st->faults_resets, 1);
    assert_true(target_holds(w.r.sim, &w.m));
    assert_int_equal(w.rep.units_repaired, 1);
    assert_int_equal(st->pages_erased, 3);
    write_rig_close(&w);
}

/* Reads that noise damages do not pass for a flash difference: with every
 * reply from the target noisy (ACKs and read data; the writes arrive
 * intact) and one block already right in flash, every refused or
 * unanswered write is read back until what the flash holds is certain,
 * and nothing is erased again. */
static void test_read_noise_does_not_make_a_repair(void **state)
{
    (void)state;
    uint64_t flips = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        write_rig w;
        write_rig_open(&w, 40 + seed);
        memcpy(blsim_flash(w.r.sim) + 0x500, w.m.payload + 0x500, 256);
        char spec[64];
        snprintf(spec, sizeof spec, "dir=tx,flip=1e-3,seed=%llu", (unsigned long long)seed);
        write_rig_faults(&w, spec);
        assert_int_equal(stm32isp_write_image(&w.r.client, &w.image, true, &w.rep), STM32ISP_OK);
        const blsim_stats *st = blsim_get_stats(w.r.sim);
        flips += st->faults_bit_flips;
        assert_true(target_holds(w.r.sim, &w.m));
        assert_int_equal(w.rep.units_repaired, 0);
        assert_int_equal(st->pages_erased, 2);
        write_rig_close(&w);
    }
    assert_true(flips >= 6);
}

/* An erase whose final ACK is lost is sent again (erasing is idempotent)
 * rather than given up. */
static void test_erase_whose_ack_was_lost_is_sent_again(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f072", 64, true, NULL);
    assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
    /* The erase's second ACK, sent once the pages are erased. */
    blsim_faults f = {.nack_at_ack = (uint32_t)blsim_get_stats(r.sim)->acks + 2};
    blsim_set_faults(r.sim, &f);
    const uint16_t pages[3] = {4, 5, 9};
    assert_int_equal(stm32isp_cmd_erase_units(&r.client, pages, 3), STM32ISP_OK);
    assert_int_equal(blsim_get_stats(r.sim)->faults_nacks, 1);
    assert_int_equal(blsim_get_stats(r.sim)->pages_erased, 6);
    rig_close(&r);
}

/* A NACK instead of any ACK while connecting is noise, not readout
 * protection: on the flash-size read's opcode (the sixth ACK: sync, Get,
 * Get ID) nor on the UID read's (the ninth). */
static void test_nack_while_identifying_is_retried(void **state)
{
    (void)state;
    for (unsigned nack = 2; nack <= 11; nack++) {
        blsim_faults f = {.nack_at_ack = nack};
        rig r;
        rig_open(&r, "f103md", 64, true, &f);
        assert_int_equal(stm32isp_connect(&r.client), STM32ISP_OK);
        assert_int_equal(blsim_get_stats(r.sim)->faults_nacks, 1);
        assert_false(r.client.target.readout_protected);
        assert_int_equal(r.client.target.pid, 0x410);
        rig_close(&r);
    }
}

/* One error in a thousand bytes, of each kind (bit flips, lost bytes,
 * noise bytes) both ways: frames shrink until they get through, and every
 * run ends with the image in flash, verified. */
static void test_bad_line_programs_and_verifies(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        char spec[96];
        snprintf(spec, sizeof spec, "flip=1.25e-4,drop=1e-3,insert=1e-3,dir=both,seed=%llu",
                 (unsigned long long)seed);
        blsim_faults f = {0};
        assert_int_equal(blsim_faults_parse(spec, &f, NULL, 0), 0);
        rig r;
        rig_open(&r, seed % 2 != 0 ? "f103md" : "f072", 0, true, &f);
        uint64_t rng = seed;
        mem_image m = {0};
        mem_add(&m, FLASH_BASE + 0x800, 9000, &rng);
        stm32isp_image image = mem_as_image(&m);
        stm32isp_program_options opts = {.erase = STM32ISP_ERASE_UNITS, .verify = true};
        stm32isp_err err = stm32isp_connect(&r.client);
        if (err == STM32ISP_OK) {
            err = stm32isp_program(&r.client, &image, &opts, NULL);
        }
        const blsim_stats *st = blsim_get_stats(r.sim);
        print_message("bad line, seed %llu: %s; %llu flips, %llu drops, %llu inserts, %u "
                      "retries\n",
                      (unsigned long long)seed, stm32isp_err_name(err),
                      (unsigned long long)st->faults_bit_flips,
                      (unsigned long long)st->faults_drops, (unsigned long long)st->faults_inserts,
                      r.client.stats.retries);
        assert_int_equal(err, STM32ISP_OK);
        assert_true(target_holds(r.sim, &m));
        assert_true(st->faults_drops > 0 && st->faults_inserts > 0 && st->faults_bit_flips > 0);
        mem_free(&m);
        rig_close(&r);
    }
}

/* ------------------------------------------------------------------------- */
/* Faults                                                                     */

typedef struct outcome_counts {
    unsigned correct, clean_error, wrong;
    unsigned by_error[STM32ISP_ERR__COUNT];
} outcome_counts;

/* One programming run under faults; returns nonzero virtual milliseconds. */
static void fault_run(const char *device, bool pins, const blsim_faults *faults, uint64_t seed,
                      outcome_counts *out)
{
    rig r;
    /* The F072 runs model a bootloader with Get Checksum, so that both
     * ways of verifying meet the faults. */
    rig_open_checksum(&r, device, 0, pins, faults, strcmp(device, "f072") == 0);
    uint64_t rng = seed * 7919u + 1u;
    fill_random(blsim_flash(r.sim), blsim_flash_size(r.sim), &rng);
    mem_image m = {0};
    mem_add(&m, FLASH_BASE + 0x400, 6000, &rng);
    mem_add(&m, FLASH_BASE + 0x2000, 700, &rng);
    stm32isp_image image = mem_as_image(&m);
    stm32isp_program_options opts = {.erase = STM32ISP_ERASE_UNITS, .verify = true};

    uint64_t t0 = blsim_now_ns(r.sim);
    stm32isp_err err = stm32isp_connect(&r.client);
    if (err == STM32ISP_OK) {
        err = stm32isp_program(&r.client, &image, &opts, NULL);
    }
    /* Never hangs: bounded in virtual time whatever the faults. */
    assert_true((blsim_now_ns(r.sim) - t0) / 1000000000u < 120);
    if (err == STM32ISP_OK) {
        if (target_holds(r.sim, &m)) {
            out->correct++;
        } else {
            out->wrong++;
            print_message("WRONG TARGET: %s pins=%d seed=%llu\n", device, pins,
                          (unsigned long long)seed);
        }
    } else {
        assert_true(err > STM32ISP_OK && err < STM32ISP_ERR__COUNT);
        if (getenv("CAMPAIGN_VERBOSE") != NULL) {
            print_message("  %s pins=%d seed=%llu: %s\n", device, pins, (unsigned long long)seed,
                          stm32isp_err_name(err));
        }
        out->clean_error++;
        out->by_error[err]++;
    }
    mem_free(&m);
    rig_close(&r);
}

typedef struct scenario {
    const char *name;
    const char *spec; /* blsim_faults_parse syntax; '@' takes a swept count */
    /* Share of runs that must end correct, with and without reset lines. A
     * target that resets while bytes are on the way hears them instead of
     * its autobaud 0x7F and goes deaf: without an NRST line nothing brings
     * it back, so those runs may only end in a clean error. */
    unsigned min_correct_pct_pins, min_correct_pct_no_pins;
} scenario;

static const scenario scenarios[] = {
    {"bit flips 1e-5", "flip=1e-5", 95, 95},       {"bit flips 1e-4", "flip=1e-4", 90, 85},
    {"bit flips 1e-3", "flip=1e-3", 0, 0}, /* most runs fail: must fail cleanly */
    {"bytes dropped 1e-4", "drop=1e-4", 95, 90},   {"bytes inserted 1e-4", "insert=1e-4", 95, 90},
    {"NACK instead of ACK", "nack=@", 95, 95},     {"reset after byte N", "reset-byte=@", 95, 0},
    {"reset mid-command N", "reset-cmd=@", 95, 0}, {"slowest flash", "slow", 100, 100},
};

static void test_fault_campaign_never_reports_a_wrong_target(void **state)
{
    (void)state;
    const unsigned seeds = 40;
    outcome_counts total = {0};
    static const char *const targets[] = {"f103md", "f072"};
    for (size_t s = 0; s < sizeof scenarios / sizeof scenarios[0]; s++) {
        for (int pins = 1; pins >= 0; pins--) {
            outcome_counts counts = {0};
            for (unsigned seed = 1; seed <= seeds; seed++) {
                char spec[96];
                const char *at = strchr(scenarios[s].spec, '@');
                if (at != NULL) {
                    /* Count-based faults sweep their position with the seed. */
                    snprintf(spec, sizeof spec, "%.*s%u,seed=%u", (int)(at - scenarios[s].spec),
                             scenarios[s].spec, 3 + seed * 37 % 400, seed);
                } else {
                    snprintf(spec, sizeof spec, "%s,seed=%u", scenarios[s].spec, seed);
                }
                blsim_faults faults = {0};
                char perr[128];
                assert_int_equal(blsim_faults_parse(spec, &faults, perr, sizeof perr), 0);
                fault_run(targets[seed % 2], pins, &faults, seed, &counts);
            }
            unsigned runs = counts.correct + counts.clean_error + counts.wrong;
            print_message("fault campaign: %-20s %-9s runs %3u  correct %3u  clean error %3u  "
                          "wrong %u\n",
                          scenarios[s].name, pins ? "reset" : "no-reset", runs, counts.correct,
                          counts.clean_error, counts.wrong);
            assert_int_equal(counts.wrong, 0);
            unsigned min_pct =
                pins ? scenarios[s].min_correct_pct_pins : scenarios[s].min_correct_pct_no_pins;
            assert_true(counts.correct * 100 >= min_pct * runs);
            total.correct += counts.correct;
            total.clean_error += counts.clean_error;
            total.wrong += counts.wrong;
            for (int e = 0; e < STM32ISP_ERR__COUNT; e++) {
                total.by_error[e] += counts.by_error[e];
            }
        }
    }
    print_message("fault campaign total: correct %u, clean error %u, wrong %u\n", total.correct,
                  total.clean_error, total.wrong);
    for (int e = 0; e < STM32ISP_ERR__COUNT; e++) {
        if (total.by_error[e] != 0) {
            print_message("  clean errors %-18s %u\n", stm32isp_err_name((stm32isp_err)e),
                          total.by_error[e]);
        }
    }
    assert_int_equal(total.wrong, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_has_message_hint_and_unique_name),
        cmocka_unit_test(test_connect_identifies_every_device),
        cmocka_unit_test(test_connect_resyncs_with_a_bootloader_already_synchronised),
        cmocka_unit_test(test_no_answer_is_no_sync_within_a_bound),
        cmocka_unit_test(test_unknown_pid_is_refused_unless_overridden),
        cmocka_unit_test(test_without_pins_resets_are_refused),
        cmocka_unit_test(test_target_that_goes_silent_times_out),
        cmocka_unit_test(test_get_version_and_read_write),
        cmocka_unit_test(test_erase_with_one_byte_page_numbers_refuses_high_pages),
        cmocka_unit_test(test_erase_splits_long_page_lists),
        cmocka_unit_test(test_program_every_device_every_shape_keeps_the_rest),
        cmocka_unit_test(test_auto_erase_keeps_what_the_image_does_not_cover),
        cmocka_unit_test(test_all_ff_blocks_are_skipped_after_erase),
        cmocka_unit_test(test_image_that_does_not_fit_is_refused_before_any_erase),
        cmocka_unit_test(test_progress_and_start_with_pins),
        cmocka_unit_test(test_start_without_pins_uses_go),
        cmocka_unit_test(test_stop_flag_ends_at_a_command_boundary),
        cmocka_unit_test(test_read_memory_streams_to_a_sink),
        cmocka_unit_test(test_crc_matches_the_reference_value),
        cmocka_unit_test(test_checksum_command_and_verify),
        cmocka_unit_test(test_readout_protection_round_trip),
        cmocka_unit_test(test_write_protection_blocks_programming_until_removed),
        cmocka_unit_test(test_protection_and_mass_erase_wait_at_least_a_second),
        cmocka_unit_test(test_f1_addresses_outside_the_windows_are_refused_before_sending),
        cmocka_unit_test(test_option_bytes_write_and_reload),
        cmocka_unit_test(test_write_whose_ack_was_lost_is_read_back_and_kept),
        cmocka_unit_test(test_write_that_did_not_land_is_sent_again),
        cmocka_unit_test(test_refused_write_over_the_right_data_goes_on),
        cmocka_unit_test(test_refused_write_over_other_data_rewrites_its_whole_unit),
        cmocka_unit_test(test_write_cut_by_a_reset_is_repaired),
        cmocka_unit_test(test_read_noise_does_not_make_a_repair),
        cmocka_unit_test(test_erase_whose_ack_was_lost_is_sent_again),
        cmocka_unit_test(test_nack_while_identifying_is_retried),
        cmocka_unit_test(test_bad_line_programs_and_verifies),
        cmocka_unit_test(test_fault_campaign_never_reports_a_wrong_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

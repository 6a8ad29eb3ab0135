/*
 * The 24Cxx driver against the EEPROM model, for every part: whole-array
 * round trips, page splitting at every column, write-cycle polling and its
 * timing, block-select addressing, and each fault the model injects. Also
 * the model alone: page roll-over, commit at STOP, the pointer, files and
 * the fault spec.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "eesim/eesim.h"
#include "stm32isp/eeprom.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define BASE   0x50u
#define BIT_NS 2500u /* 400 kHz */

static uint64_t rng_state;

static uint8_t next_byte(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(rng_state >> 56);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        p[i] = next_byte();
    }
}

static size_t part_count(void)
{
    size_t n = 0;
    while (stm32isp_eeprom_part_at(n) != NULL) {
        n++;
    }
    return n;
}

/* A model of the part the driver knows by this name, from the model's own
 * table, with the given faults. */
static eesim *model(const char *name, const eesim_faults *faults)
{
    eesim_config cfg = {.part = eesim_part_find(name)};
    assert_non_null(cfg.part);
    if (faults != NULL) {
        cfg.faults = *faults;
    }
    eesim *sim = eesim_new(&cfg);
    assert_non_null(sim);
    return sim;
}

static void driver(stm32isp_eeprom *ee, eesim *sim, const char *name)
{
    const stm32isp_eeprom_part *part = stm32isp_eeprom_part_find(name);
    assert_non_null(part);
    stm32isp_eeprom_init(ee, &eesim_i2c_ops, sim, part, BASE);
}

/* Wire time of a page write of `len` data bytes: START, address, word
 * address, data, STOP. */
static uint64_t page_write_ns(const stm32isp_eeprom_part *p, uint32_t len)
{
    return (uint64_t)(1 + 9 * (1 + p->address_bytes + len) + 1) * BIT_NS;
}

/* ---- parts --------------------------------------------------------------- */

static void test_part_tables_agree(void **state)
{
    (void)state;
    assert_int_equal(part_count(), 12);
    for (size_t i = 0; i < part_count(); i++) {
        const stm32isp_eeprom_part *d = stm32isp_eeprom_part_at(i);
        const stm32isp_eeprom_part *m = eesim_part_at(i);
        assert_non_null(m);
        assert_string_equal(d->name, m->name);
        assert_int_equal(d->size, m->size);
        assert_int_equal(d->page_size, m->page_size);
        assert_int_equal(d->address_bytes, m->address_bytes);
        assert_int_equal(d->block_bits, m->block_bits);
        assert_int_equal(d->write_cycle_ms_max, m->write_cycle_ms_max);
        /* Smallest first, and the addressing reaches exactly the array. */
        if (i > 0) {
            assert_int_equal(d->size, stm32isp_eeprom_part_at(i - 1)->size * 2);
        }
        uint64_t reach = 1ull << (8u * d->address_bytes + d->block_bits);
        assert_true(d->size <= reach);
        assert_true(d->block_bits == 0 || d->size * 2 > reach);
        assert_int_equal(d->size % d->page_size, 0);
    }
    assert_null(eesim_part_at(part_count()));
}

static void test_part_lookup_by_vendor_names(void **state)
{
    (void)state;
    static const struct {
        const char *name, *want;
    } ok[] = {
        {"24c256", "24c256"},   {"24C256", "24c256"},  {"24lc256", "24c256"},
        {"at24c256", "24c256"}, {"24aa256", "24c256"}, {"AT24C256", "24c256"},
        {"24LC01", "24c01"},    {"24fc512", "24c512"}, {"cat24c16", "24c16"},
        {"m24c64", "24c64"},    {"24m01", "24m01"},    {"at24cm01", "24m01"},
        {"M24M02", "24m02"},    {"24cs02", "24c02"},   {"24aa128", "24c128"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const stm32isp_eeprom_part *p = stm32isp_eeprom_part_find(ok[i].name);
        if (p == NULL || strcmp(p->name, ok[i].want) != 0) {
            fail_msg("'%s' should be %s, got %s", ok[i].name, ok[i].want,
                     p != NULL ? p->name : "nothing");
        }
    }
    static const char *const bad[] = {"",         "24",      "24c",     "24c03",      "24c1",
                                      "24lc1025", "24m256",  "24c256x", "abcd24c256", "24xx256",
                                      "24lc32a",  "25lc256", "24c2560", "24c 256"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (stm32isp_eeprom_part_find(bad[i]) != NULL) {
            fail_msg("'%s' should be unknown", bad[i]);
        }
    }
    assert_null(stm32isp_eeprom_part_find(NULL));
    assert_ptr_equal(eesim_part_find("24C512"), eesim_part_at(9));
    assert_null(eesim_part_find("24lc512")); /* the model takes canonical names */
}

/* ---- round trips --------------------------------------------------------- */

static void test_full_size_round_trip_every_part(void **state)
{
    (void)state;
    for (size_t i = 0; i < part_count(); i++) {
        const stm32isp_eeprom_part *part = stm32isp_eeprom_part_at(i);
        eesim *sim = model(part->name, NULL);
        stm32isp_eeprom ee;
        driver(&ee, sim, part->name);
        uint8_t *data = malloc(part->size);
        uint8_t *back = malloc(part->size);
        assert_non_null(data);
        assert_non_null(back);
        fill_random(data, part->size, i + 1);
        assert_int_equal(stm32isp_eeprom_write(&ee, 0, data, part->size), STM32ISP_OK);
        assert_memory_equal(eesim_memory(sim), data, part->size);
        memset(back, 0, part->size);
        assert_int_equal(stm32isp_eeprom_read(&ee, 0, back, part->size), STM32ISP_OK);
        assert_memory_equal(back, data, part->size);
        assert_int_equal(ee.pages_written, part->size / part->page_size);
        assert_int_equal(ee.bytes_written, part->size);
        assert_int_equal(ee.bytes_read, part->size);
        const eesim_stats *st = eesim_get_stats(sim);
        assert_int_equal(st->page_writes, part->size / part->page_size);
        assert_int_equal(st->bytes_written, part->size);
        assert_int_equal(st->bytes_read, part->size);
        /* One read transfer per block. */
        uint64_t reads = st->transfers - st->page_writes - ee.busy_polls - st->page_writes;
        assert_int_equal(reads, 1u << part->block_bits);
        free(data);
        free(back);
        eesim_free(sim);
    }
}

static uint32_t pages_touched(uint32_t offset, uint32_t len, uint32_t page)
{
    return (offset + len - 1) / page - offset / page + 1;
}

static void test_writes_across_pages_at_every_column(void **state)
{
    (void)state;
    for (size_t i = 0; i < part_count(); i++) {
        const stm32isp_eeprom_part *part = stm32isp_eeprom_part_at(i);
        uint32_t page = part->page_size;
        const uint32_t lengths[] = {1, 2, page - 1, page, page + 1, 2 * page + 3};
        eesim *sim = model(part->name, NULL);
        uint8_t *expect = malloc(part->size);
        assert_non_null(expect);
        fill_random(eesim_memory(sim), part->size, 99 + i);
        memcpy(expect, eesim_memory(sim), part->size);
        stm32isp_eeprom ee;
        driver(&ee, sim, part->name);
        uint8_t data[2 * 256 + 3], back[4 * 256 + 3];
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
            for (uint32_t col = 0; col < page; col++) {
                uint32_t len = lengths[l];
                /* Somewhere in the middle, different for each case. */
                uint32_t offset =
                    ((uint32_t)(l * page + col * 7u) * page) % (part->size / 2) + page + col;
                fill_random(data, len, l * 1000u + col);
                uint32_t before = ee.pages_written;
                assert_int_equal(stm32isp_eeprom_write(&ee, offset, data, len), STM32ISP_OK);
                memcpy(expect + offset, data, len);
                assert_int_equal(ee.pages_written - before, pages_touched(offset, len, page));
                /* The pages around the write hold exactly what they should. */
                uint32_t from = offset - page;
                uint32_t span = len + 2 * page;
                if (from + span > part->size) {
                    span = part->size - from;
                }
                assert_memory_equal(eesim_memory(sim) + from, expect + from, span);
                assert_int_equal(stm32isp_eeprom_read(&ee, from, back, span), STM32ISP_OK);
                assert_memory_equal(back, expect + from, span);
            }
        }
        assert_memory_equal(eesim_memory(sim), expect, part->size);
        free(expect);
        eesim_free(sim);
    }
}

/* A page write handed to the bus as one transfer wraps inside its page:
 * the split the driver does is what puts the bytes in the right place. */
static void test_unsplit_page_write_wraps_in_the_model(void **state)
{
    (void)state;
    for (size_t i = 0; i < part_count(); i++) {
        const stm32isp_eeprom_part *part = eesim_part_at(i);
        uint32_t page = part->page_size;
        uint32_t offset = 3 * page - 2; /* two bytes before a page end */
        uint8_t frame[2 + 8];
        size_t w = 0;
        if (part->address_bytes == 2) {
            frame[w++] = (uint8_t)(offset >> 8);
        }
        frame[w++] = (uint8_t)offset;
        const uint8_t data[5] = {0xA1, 0xA2, 0xA3, 0xA4, 0xA5};
        memcpy(frame + w, data, sizeof data);

        eesim *naive = model(part->name, NULL);
        assert_int_equal(eesim_i2c_ops.write(naive, BASE, frame, w + sizeof data), 0);
        const uint8_t *m = eesim_memory(naive);
        uint32_t page_start = 2 * page;
        assert_int_equal(m[offset], 0xA1);
        assert_int_equal(m[offset + 1], 0xA2);
        assert_int_equal(m[page_start], 0xA3); /* wrapped to the page's start */
        assert_int_equal(m[page_start + 1], 0xA4);
        assert_int_equal(m[page_start + 2], 0xA5);
        assert_int_equal(m[offset + 2], 0xFF); /* the next page is untouched */
        assert_int_equal(eesim_get_stats(naive)->page_writes, 1);

        eesim *sim = model(part->name, NULL);
        stm32isp_eeprom ee;
        driver(&ee, sim, part->name);
        assert_int_equal(stm32isp_eeprom_write(&ee, offset, data, sizeof data), STM32ISP_OK);
        assert_memory_equal(eesim_memory(sim) + offset, data, sizeof data);
        assert_int_equal(eesim_memory(sim)[page_start], 0xFF);
        assert_int_equal(ee.pages_written, 2);
        eesim_free(naive);
        eesim_free(sim);
    }
}

/* ---- write cycles -------------------------------------------------------- */

static void test_write_cycle_polling_and_its_time(void **state)
{
    (void)state;
    const stm32isp_eeprom_part *part = stm32isp_eeprom_part_find("24c256");
    uint8_t data[4 * 64];
    fill_random(data, sizeof data, 5);
    const uint64_t cycle_ns = 3500000u;
    const uint64_t pages = 4;

    /* With delay_ms: polls 1 ms apart, so each page may end up to 1 ms (and
     * one poll) after its cycle. */
    eesim *sim = model("24c256", NULL);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c256");
    uint64_t t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_write(&ee, 128, data, sizeof data), STM32ISP_OK);
    uint64_t elapsed = eesim_now_ns(sim) - t0;
    uint64_t floor_ns = pages * (cycle_ns + page_write_ns(part, 64));
    assert_true(elapsed >= floor_ns);
    assert_true(elapsed <= floor_ns + pages * 1100000u);
    assert_true(ee.busy_polls >= pages * 3);
    assert_true(ee.busy_polls <= pages * 5); /* 1 ms apart, not back to back */
    assert_int_equal(ee.busy_polls, eesim_get_stats(sim)->busy_nacks);
    assert_false(eesim_busy(sim)); /* write() returns when the last cycle is over */
    eesim_free(sim);

    /* Without delay_ms: back-to-back polls of 11 bit times each. */
    stm32isp_i2c_ops no_delay = eesim_i2c_ops;
    no_delay.delay_ms = NULL;
    sim = model("24c256", NULL);
    stm32isp_eeprom_init(&ee, &no_delay, sim, part, BASE);
    t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_write(&ee, 128, data, sizeof data), STM32ISP_OK);
    elapsed = eesim_now_ns(sim) - t0;
    uint64_t poll_ns = 11u * BIT_NS;
    /* Each cycle ends during at most one poll. */
    assert_true(elapsed > floor_ns);
    assert_true(elapsed <= floor_ns + pages * poll_ns);
    assert_true(ee.busy_polls >= pages * (cycle_ns / poll_ns - 1));
    eesim_free(sim);

    /* "slow": every cycle takes the part's 5 ms maximum, still within the bound. */
    eesim_faults slow_cycles = {.slow = true};
    sim = model("24c256", &slow_cycles);
    driver(&ee, sim, "24c256");
    t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_write(&ee, 128, data, sizeof data), STM32ISP_OK);
    elapsed = eesim_now_ns(sim) - t0;
    assert_true(elapsed >= pages * (5000000u + page_write_ns(part, 64)));
    assert_memory_equal(eesim_memory(sim) + 128, data, sizeof data);
    eesim_free(sim);

    /* The 24M02's 10 ms maximum fits its default bound (4 cycles). */
    sim = model("24m02", &slow_cycles);
    driver(&ee, sim, "24m02");
    assert_int_equal(stm32isp_eeprom_write(&ee, 1000, data, sizeof data), STM32ISP_OK);
    assert_memory_equal(eesim_memory(sim) + 1000, data, sizeof data);
    eesim_free(sim);
}

static void test_read_and_probe_wait_for_a_running_cycle(void **state)
{
    (void)state;
    eesim *sim = model("24c64", NULL);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c64");
    const uint8_t frame[] = {0x01, 0x00, 0x42};
    assert_int_equal(eesim_write(sim, BASE, frame, sizeof frame), STM32ISP_I2C_OK);
    assert_true(eesim_busy(sim));
    uint8_t b = 0;
    assert_int_equal(stm32isp_eeprom_read(&ee, 0x100, &b, 1), STM32ISP_OK);
    assert_int_equal(b, 0x42);
    assert_true(ee.busy_polls > 0);

    assert_int_equal(eesim_write(sim, BASE, frame, sizeof frame), STM32ISP_I2C_OK);
    uint32_t polls = ee.busy_polls;
    assert_int_equal(stm32isp_eeprom_probe(&ee), STM32ISP_OK);
    assert_true(ee.busy_polls > polls);
    assert_false(eesim_busy(sim));
    eesim_free(sim);
}

static void test_timeout_when_the_part_stays_busy(void **state)
{
    (void)state;
    uint8_t data[40];
    fill_random(data, sizeof data, 3);
    /* A part whose first write cycle never ends: the default bound is four
     * cycles of 5 ms, at least 20 ms. */
    eesim_faults never_done = {.stuck = true};
    eesim *sim = model("24c32", &never_done);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c32");
    uint64_t t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_write(&ee, 0, data, sizeof data), STM32ISP_ERR_EEPROM_TIMEOUT);
    uint64_t elapsed = eesim_now_ns(sim) - t0;
    assert_true(elapsed >= 20000000u);
    assert_true(elapsed <= 23000000u);
    assert_int_equal(ee.pages_written, 1); /* gave up after the first page */
    eesim_free(sim);

    /* A cycle longer than an explicit bound. */
    eesim_config cfg = {.part = eesim_part_find("24c512"), .write_cycle_us = 30000};
    sim = eesim_new(&cfg);
    assert_non_null(sim);
    driver(&ee, sim, "24c512");
    ee.write_timeout_ms = 7;
    t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_write(&ee, 0, data, 1), STM32ISP_ERR_EEPROM_TIMEOUT);
    elapsed = eesim_now_ns(sim) - t0;
    assert_true(elapsed >= 7000000u && elapsed <= 9000000u);
    /* Given time, the same part works. */
    ee.write_timeout_ms = 50;
    assert_int_equal(stm32isp_eeprom_write(&ee, 0, data, sizeof data), STM32ISP_OK);
    assert_memory_equal(eesim_memory(sim), data, sizeof data);
    eesim_free(sim);

    /* A part quicker than 5 ms still gets the 20 ms floor. */
    stm32isp_eeprom_part quick = *stm32isp_eeprom_part_find("24c02");
    quick.write_cycle_ms_max = 2;
    sim = model("24c02", &never_done);
    stm32isp_eeprom_init(&ee, &eesim_i2c_ops, sim, &quick, BASE);
    t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_write(&ee, 5, data, 1), STM32ISP_ERR_EEPROM_TIMEOUT);
    elapsed = eesim_now_ns(sim) - t0;
    assert_true(elapsed >= 20000000u && elapsed <= 23000000u);
    eesim_free(sim);

    /* 24M02: the default bound is 4 x 10 ms. */
    sim = model("24m02", &never_done);
    driver(&ee, sim, "24m02");
    t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_write(&ee, 5, data, 1), STM32ISP_ERR_EEPROM_TIMEOUT);
    elapsed = eesim_now_ns(sim) - t0;
    assert_true(elapsed >= 40000000u && elapsed <= 43000000u);
    eesim_free(sim);
}

/* ---- addressing ---------------------------------------------------------- */

typedef struct recorder {
    eesim *sim;
    uint8_t addresses[64];
    size_t count;
} recorder;

static void record(recorder *r, uint8_t address)
{
    if (r->count < sizeof r->addresses) {
        r->addresses[r->count] = address;
    }
    r->count++;
}

static int rec_write(void *ctx, uint8_t address, const uint8_t *data, size_t len)
{
    recorder *r = ctx;
    record(r, address);
    return eesim_write(r->sim, address, data, len);
}

static int rec_write_read(void *ctx, uint8_t address, const uint8_t *wdata, size_t wlen,
                          uint8_t *rdata, size_t rlen)
{
    recorder *r = ctx;
    record(r, address);
    return eesim_write_read(r->sim, address, wdata, wlen, rdata, rlen);
}

static uint32_t rec_now_ms(void *ctx)
{
    const recorder *r = ctx;
    return (uint32_t)(eesim_now_ns(r->sim) / 1000000u);
}

static void rec_delay_ms(void *ctx, uint32_t ms)
{
    const recorder *r = ctx;
    eesim_idle_us(r->sim, (uint64_t)ms * 1000u);
}

static const stm32isp_i2c_ops recording_ops = {
    .write = rec_write,
    .write_read = rec_write_read,
    .now_ms = rec_now_ms,
    .delay_ms = rec_delay_ms,
};

static void test_block_select_addressing(void **state)
{
    (void)state;
    static const char *const names[] = {"24c04", "24c08", "24c16", "24m01", "24m02"};
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        const stm32isp_eeprom_part *part = stm32isp_eeprom_part_find(names[n]);
        uint32_t block = 1u << (8u * part->address_bytes);
        uint32_t blocks = 1u << part->block_bits;
        assert_int_equal(part->size, block * blocks);
        eesim *sim = model(names[n], NULL);
        recorder rec = {.sim = sim};
        stm32isp_eeprom ee;
        stm32isp_eeprom_init(&ee, &recording_ops, &rec, part, BASE);

        /* A marker at the start of each block, written through the driver,
         * is read back by the model at device address base + block. */
        for (uint32_t b = 0; b < blocks; b++) {
            uint8_t marker[3] = {(uint8_t)(0xB0 + b), 0x5A, (uint8_t)b};
            assert_int_equal(stm32isp_eeprom_write(&ee, b * block, marker, 3), STM32ISP_OK);
            assert_memory_equal(eesim_memory(sim) + b * block, marker, 3);
            uint8_t word[2] = {0, 0};
            uint8_t got[3];
            assert_int_equal(
                eesim_write_read(sim, (uint8_t)(BASE + b), word, part->address_bytes, got, 3),
                STM32ISP_I2C_OK);
            assert_memory_equal(got, marker, 3);
        }

        /* A write and a read across each block boundary: the bytes land on
         * both sides, and the read takes one transfer per block. */
        for (uint32_t b = 1; b < blocks; b++) {
            uint8_t data[24], back[24];
            fill_random(data, sizeof data, b);
            uint32_t offset = b * block - 10;
            assert_int_equal(stm32isp_eeprom_write(&ee, offset, data, sizeof data), STM32ISP_OK);
            assert_memory_equal(eesim_memory(sim) + offset, data, sizeof data);
            rec.count = 0;
            assert_int_equal(stm32isp_eeprom_read(&ee, offset, back, sizeof back), STM32ISP_OK);
            assert_memory_equal(back, data, sizeof data);
            assert_int_equal(rec.count, 2);
            assert_int_equal(rec.addresses[0], BASE + b - 1);
            assert_int_equal(rec.addresses[1], BASE + b);
        }
        eesim_free(sim);
    }

    /* Address pins wired high on a part with one block bit: 24C04 at
     * 0x54/0x55. The driver replaces the block bit of its base address. */
    eesim_config cfg = {.part = eesim_part_find("24c04"), .base_address = 0x54};
    eesim *sim = eesim_new(&cfg);
    assert_non_null(sim);
    stm32isp_eeprom ee;
    stm32isp_eeprom_init(&ee, &eesim_i2c_ops, sim, stm32isp_eeprom_part_find("24c04"), 0x55);
    const uint8_t two[2] = {0x12, 0x34};
    assert_int_equal(stm32isp_eeprom_write(&ee, 255, two, 2), STM32ISP_OK);
    assert_int_equal(eesim_memory(sim)[255], 0x12);
    assert_int_equal(eesim_memory(sim)[256], 0x34);
    stm32isp_eeprom_init(&ee, &eesim_i2c_ops, sim, stm32isp_eeprom_part_find("24c04"), 0x50);
    uint8_t b;
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, &b, 1), STM32ISP_ERR_EEPROM_NACK);
    eesim_free(sim);
}

static void test_absent_device_is_a_nack(void **state)
{
    (void)state;
    eesim *sim = model("24c256", NULL);
    stm32isp_eeprom ee;
    stm32isp_eeprom_init(&ee, &eesim_i2c_ops, sim, stm32isp_eeprom_part_find("24c256"), 0x51);
    uint8_t buf[16] = {0};
    uint64_t t0 = eesim_now_ns(sim);
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, buf, sizeof buf), STM32ISP_ERR_EEPROM_NACK);
    uint64_t elapsed = eesim_now_ns(sim) - t0;
    assert_true(elapsed >= 20000000u && elapsed <= 22000000u); /* bounded */
    assert_int_equal(stm32isp_eeprom_write(&ee, 0, buf, sizeof buf), STM32ISP_ERR_EEPROM_NACK);
    assert_int_equal(stm32isp_eeprom_probe(&ee), STM32ISP_ERR_EEPROM_NACK);
    assert_int_equal(ee.pages_written, 0);
    assert_int_equal(ee.bytes_read, 0);
    const eesim_stats *st = eesim_get_stats(sim);
    assert_int_equal(st->foreign_nacks, st->transfers);
    assert_int_equal(st->page_writes, 0);
    eesim_free(sim);
}

/* ---- faults -------------------------------------------------------------- */

static void test_write_protect_refuses_and_keeps_memory(void **state)
{
    (void)state;
    eesim_faults wp = {.write_protect = true};
    eesim *sim = model("24c16", &wp);
    fill_random(eesim_memory(sim), eesim_size(sim), 11);
    uint8_t before[2048];
    memcpy(before, eesim_memory(sim), sizeof before);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c16");
    uint8_t data[100];
    fill_random(data, sizeof data, 12);
    assert_int_equal(stm32isp_eeprom_write(&ee, 500, data, sizeof data), STM32ISP_ERR_EEPROM_NACK);
    assert_memory_equal(eesim_memory(sim), before, sizeof before);
    assert_int_equal(eesim_get_stats(sim)->page_writes, 0);
    assert_true(eesim_get_stats(sim)->wp_refusals >= 1);
    assert_false(eesim_busy(sim));
    /* Reads still work; WP low lets the write through. */
    uint8_t back[100];
    assert_int_equal(stm32isp_eeprom_read(&ee, 500, back, sizeof back), STM32ISP_OK);
    assert_memory_equal(back, before + 500, sizeof back);
    eesim_set_write_protect(sim, false);
    assert_int_equal(stm32isp_eeprom_write(&ee, 500, data, sizeof data), STM32ISP_OK);
    assert_memory_equal(eesim_memory(sim) + 500, data, sizeof data);
    eesim_free(sim);
}

static void test_bus_error(void **state)
{
    (void)state;
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    eesim_faults f = {.bus_error_at = 1};
    eesim *sim = model("24c02", &f);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c02");
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, buf, sizeof buf), STM32ISP_ERR_EEPROM_BUS);
    assert_int_equal(eesim_get_stats(sim)->faults_bus_errors, 1);
    assert_int_equal(eesim_get_stats(sim)->transfers, 1); /* no retry on a bus error */
    eesim_free(sim);

    /* On the second page write of three: the first page is in, the rest
     * not. A fault-free run of the first page counts its transfers. */
    uint8_t data[24];
    fill_random(data, sizeof data, 4);
    sim = model("24c02", NULL);
    driver(&ee, sim, "24c02");
    assert_int_equal(stm32isp_eeprom_write(&ee, 16, data, 8), STM32ISP_OK);
    f.bus_error_at = (uint32_t)eesim_get_stats(sim)->transfers + 1;
    eesim_free(sim);
    sim = model("24c02", &f);
    driver(&ee, sim, "24c02");
    assert_int_equal(stm32isp_eeprom_write(&ee, 16, data, sizeof data), STM32ISP_ERR_EEPROM_BUS);
    assert_memory_equal(eesim_memory(sim) + 16, data, 8);
    assert_int_equal(eesim_memory(sim)[24], 0xFF);
    assert_int_equal(eesim_memory(sim)[39], 0xFF);
    eesim_free(sim);
}

static void test_nack_faults(void **state)
{
    (void)state;
    uint8_t data[8] = {9, 8, 7, 6, 5, 4, 3, 2};
    /* An address NACKed once is taken for a busy part: polled again. */
    eesim_faults f = {.nack_addr_at = 1};
    eesim *sim = model("24c08", &f);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c08");
    assert_int_equal(stm32isp_eeprom_write(&ee, 700, data, sizeof data), STM32ISP_OK);
    assert_memory_equal(eesim_memory(sim) + 700, data, sizeof data);
    assert_int_equal(eesim_get_stats(sim)->faults_nack_addr, 1);
    eesim_free(sim);

    /* A data byte refused: the driver says so and the page is not written. */
    eesim_faults g = {.nack_data_at = 3};
    sim = model("24c08", &g);
    driver(&ee, sim, "24c08");
    assert_int_equal(stm32isp_eeprom_write(&ee, 704, data, sizeof data), STM32ISP_ERR_EEPROM_NACK);
    for (size_t i = 0; i < sizeof data; i++) {
        assert_int_equal(eesim_memory(sim)[704 + i], 0xFF);
    }
    assert_int_equal(eesim_get_stats(sim)->faults_nack_data, 1);
    assert_int_equal(eesim_faults_injected(sim), 1);
    eesim_free(sim);
}

static unsigned bit_differences(const uint8_t *a, const uint8_t *b, size_t n)
{
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        for (uint8_t x = (uint8_t)(a[i] ^ b[i]); x != 0; x &= (uint8_t)(x - 1)) {
            bits++;
        }
    }
    return bits;
}

static void test_bit_errors_reach_the_reader(void **state)
{
    (void)state;
    static uint8_t data[8192], back[8192], again[8192];
    fill_random(data, sizeof data, 21);
    eesim_faults f = {.bit_flip_rate = 1e-3, .seed = 7};
    uint8_t *reads[2] = {back, again};
    for (int run = 0; run < 2; run++) {
        eesim *sim = model("24c64", &f);
        memcpy(eesim_memory(sim), data, sizeof data);
        stm32isp_eeprom ee;
        driver(&ee, sim, "24c64");
        assert_int_equal(stm32isp_eeprom_read(&ee, 0, reads[run], sizeof data), STM32ISP_OK);
        unsigned flips = bit_differences(reads[run], data, sizeof data);
        assert_true(flips > 20 && flips < 200); /* about 65 expected */
        assert_int_equal(flips, eesim_get_stats(sim)->faults_bit_flips);
        assert_memory_equal(eesim_memory(sim), data, sizeof data); /* the array is intact */
        eesim_free(sim);
    }
    assert_memory_equal(back, again, sizeof back); /* same seed, same errors */
    f.seed = 8;
    eesim *sim = model("24c64", &f);
    memcpy(eesim_memory(sim), data, sizeof data);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c64");
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, again, sizeof data), STM32ISP_OK);
    assert_memory_not_equal(back, again, sizeof back);
    eesim_free(sim);
}

static void test_power_loss_keeps_committed_pages(void **state)
{
    (void)state;
    /* 24C32, 32-byte pages: power fails at the 10th byte of the 5th page. */
    eesim_faults f = {.power_loss_at = 4 * 32 + 10};
    eesim *sim = model("24c32", &f);
    uint8_t old[320], data[320];
    fill_random(old, sizeof old, 31);
    fill_random(data, sizeof data, 32);
    memcpy(eesim_memory(sim) + 64, old, sizeof old);
    stm32isp_eeprom ee;
    driver(&ee, sim, "24c32");
    stm32isp_err err = stm32isp_eeprom_write(&ee, 64, data, sizeof data);
    assert_int_equal(err, STM32ISP_ERR_EEPROM_NACK);
    assert_false(eesim_powered(sim));
    assert_int_equal(eesim_get_stats(sim)->power_losses, 1);
    assert_int_equal(ee.pages_written, 4);
    /* A dead part does not answer at all. */
    uint8_t b;
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, &b, 1), STM32ISP_ERR_EEPROM_NACK);

    eesim_power_on(sim);
    uint8_t back[320];
    assert_int_equal(stm32isp_eeprom_read(&ee, 64, back, sizeof back), STM32ISP_OK);
    assert_memory_equal(back, data, 4 * 32);                        /* committed */
    assert_memory_equal(back + 4 * 32, old + 4 * 32, 320 - 4 * 32); /* untouched */
    /* Writing again completes the image. */
    assert_int_equal(stm32isp_eeprom_write(&ee, 64, data, sizeof data), STM32ISP_OK);
    assert_memory_equal(eesim_memory(sim) + 64, data, sizeof data);
    eesim_free(sim);
}

static void test_out_of_range_is_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < part_count(); i++) {
        const stm32isp_eeprom_part *part = stm32isp_eeprom_part_at(i);
        eesim *sim = model(part->name, NULL);
        stm32isp_eeprom ee;
        driver(&ee, sim, part->name);
        uint8_t buf[4] = {0};
        uint32_t size = part->size;
        assert_int_equal(stm32isp_eeprom_read(&ee, size, buf, 1), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(stm32isp_eeprom_read(&ee, size - 1, buf, 2), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(stm32isp_eeprom_read(&ee, UINT32_MAX, buf, 2), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(stm32isp_eeprom_read(&ee, 1, buf, UINT32_MAX), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(stm32isp_eeprom_write(&ee, size, buf, 1), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(stm32isp_eeprom_write(&ee, size - 3, buf, 4), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(stm32isp_eeprom_read(&ee, 0, NULL, 1), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(stm32isp_eeprom_write(&ee, 0, NULL, 1), STM32ISP_ERR_INVALID_ARG);
        assert_int_equal(eesim_get_stats(sim)->transfers, 0);
        /* The last bytes and empty requests are fine. */
        assert_int_equal(stm32isp_eeprom_write(&ee, size - 4, buf, 4), STM32ISP_OK);
        assert_int_equal(stm32isp_eeprom_read(&ee, size - 4, buf, 4), STM32ISP_OK);
        assert_int_equal(stm32isp_eeprom_read(&ee, size, buf, 0), STM32ISP_OK);
        eesim_free(sim);
    }
    stm32isp_eeprom ee;
    uint8_t b = 0;
    stm32isp_eeprom_init(&ee, &eesim_i2c_ops, NULL, NULL, BASE);
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, &b, 1), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_eeprom_probe(&ee), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_eeprom_read(NULL, 0, &b, 1), STM32ISP_ERR_INVALID_ARG);
}

/* ---- the model alone ----------------------------------------------------- */

static void test_model_commits_at_stop_only(void **state)
{
    (void)state;
    eesim *sim = model("24c02", NULL);
    /* A write cut by a repeated START (a write_read with data) is dropped. */
    const uint8_t frame[] = {0x20, 0x11, 0x22};
    uint8_t got[2];
    assert_int_equal(eesim_write_read(sim, BASE, frame, sizeof frame, got, 2), STM32ISP_I2C_OK);
    assert_int_equal(eesim_memory(sim)[0x20], 0xFF);
    assert_false(eesim_busy(sim));
    /* A word address alone (a dummy write) starts no cycle either. */
    assert_int_equal(eesim_write(sim, BASE, frame, 1), STM32ISP_I2C_OK);
    assert_false(eesim_busy(sim));
    assert_int_equal(eesim_pointer(sim), 0x20);
    /* A real write: busy for the cycle, NACKing its address, then done. */
    assert_int_equal(eesim_write(sim, BASE, frame, sizeof frame), STM32ISP_I2C_OK);
    assert_true(eesim_busy(sim));
    assert_int_equal(eesim_write(sim, BASE, NULL, 0), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(eesim_write_read(sim, BASE, frame, 1, got, 1), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(eesim_get_stats(sim)->busy_nacks, 2);
    eesim_idle_us(sim, 3400);
    assert_true(eesim_busy(sim));
    eesim_idle_us(sim, 100);
    assert_false(eesim_busy(sim));
    assert_int_equal(eesim_write(sim, BASE, NULL, 0), STM32ISP_I2C_OK);
    assert_int_equal(eesim_memory(sim)[0x20], 0x11);
    assert_int_equal(eesim_memory(sim)[0x21], 0x22);
    /* Other addresses are not this part. */
    assert_int_equal(eesim_write(sim, 0x51, NULL, 0), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(eesim_write(sim, 0x50 | 0x80, NULL, 0), STM32ISP_I2C_OK); /* 7 bits */
    eesim_free(sim);
}

static void test_model_pointer_and_rollover(void **state)
{
    (void)state;
    eesim *sim = model("24c32", NULL);
    uint8_t *m = eesim_memory(sim);
    for (size_t i = 0; i < eesim_size(sim); i++) {
        m[i] = (uint8_t)(i * 7u + (i >> 8));
    }
    /* Random read, then current-address reads carry on from the pointer. */
    const uint8_t word[2] = {0x01, 0x10};
    uint8_t got[4];
    assert_int_equal(eesim_write_read(sim, BASE, word, 2, got, 3), STM32ISP_I2C_OK);
    assert_memory_equal(got, m + 0x110, 3);
    assert_int_equal(eesim_pointer(sim), 0x113);
    assert_int_equal(eesim_read(sim, BASE, got, 2), STM32ISP_I2C_OK);
    assert_memory_equal(got, m + 0x113, 2);
    assert_int_equal(eesim_write_read(sim, BASE, NULL, 0, got, 1), STM32ISP_I2C_OK);
    assert_int_equal(got[0], m[0x115]);
    /* A half-sent word address moves nothing. */
    assert_int_equal(eesim_write_read(sim, BASE, word, 1, got, 1), STM32ISP_I2C_OK);
    assert_int_equal(got[0], m[0x116]);
    /* Sequential reads roll over from the last byte to the first. */
    const uint8_t end[2] = {0x0F, 0xFE};
    assert_int_equal(eesim_write_read(sim, BASE, end, 2, got, 4), STM32ISP_I2C_OK);
    assert_int_equal(got[0], m[0xFFE]);
    assert_int_equal(got[1], m[0xFFF]);
    assert_int_equal(got[2], m[0]);
    assert_int_equal(got[3], m[1]);
    /* Address bits above the array are ignored (a 24C32 has 12). */
    const uint8_t high[2] = {0xF0, 0x05};
    assert_int_equal(eesim_write_read(sim, BASE, high, 2, got, 1), STM32ISP_I2C_OK);
    assert_int_equal(got[0], m[5]);
    /* After a write the pointer follows the last byte, wrapping in its page. */
    const uint8_t w[] = {0x00, 0x1F, 0xAA, 0xBB};
    assert_int_equal(eesim_write(sim, BASE, w, sizeof w), STM32ISP_I2C_OK);
    assert_int_equal(eesim_pointer(sim), 0x01);
    /* The wire time: START, 3 address bytes, 4 data bytes, STOP... */
    uint64_t t0 = eesim_now_ns(sim);
    eesim_idle_us(sim, 5000);
    assert_int_equal(eesim_write_read(sim, BASE, word, 2, got, 4), STM32ISP_I2C_OK);
    assert_int_equal(eesim_now_ns(sim) - t0 - 5000000u, (1 + 9 * 3 + 1 + 9 + 9 * 4 + 1) * BIT_NS);
    eesim_free(sim);
}

static void test_model_config_checks(void **state)
{
    (void)state;
    assert_null(eesim_new(NULL));
    eesim_config cfg = {0};
    assert_null(eesim_new(&cfg));
    stm32isp_eeprom_part odd = {"odd", 1000, 16, 2, 0, 5};
    cfg.part = &odd;
    assert_null(eesim_new(&cfg)); /* not a power of two */
    stm32isp_eeprom_part big = {"big", 1u << 17, 64, 2, 0, 5};
    cfg.part = &big;
    assert_null(eesim_new(&cfg)); /* the addressing cannot reach it */
    big.block_bits = 1;
    eesim *sim = eesim_new(&cfg);
    assert_non_null(sim);
    assert_int_equal(eesim_get_part(sim)->size, 1u << 17);
    eesim_free(sim);
    eesim_free(NULL);
}

static void test_model_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_eeprom_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], big[128];
    snprintf(path, sizeof path, "%s/ee.bin", dir);
    snprintf(big, sizeof big, "%s/big.bin", dir);
    char err[200];

    eesim *sim = model("24c02", NULL);
    fill_random(eesim_memory(sim), 256, 41);
    assert_int_equal(eesim_save_file(sim, path, err, sizeof err), 0);
    eesim *other = model("24c02", NULL);
    assert_int_equal(eesim_load_file(other, path, err, sizeof err), 0);
    assert_memory_equal(eesim_memory(other), eesim_memory(sim), 256);

    /* A short file: the rest reads as erased. */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("abc", 1, 3, f), 3);
    fclose(f);
    assert_int_equal(eesim_load_file(other, path, err, sizeof err), 0);
    assert_memory_equal(eesim_memory(other), "abc", 3);
    assert_int_equal(eesim_memory(other)[3], 0xFF);
    assert_int_equal(eesim_memory(other)[255], 0xFF);

    /* A file larger than the part is refused, with the part named. */
    eesim *large = model("24c04", NULL);
    assert_int_equal(eesim_save_file(large, big, err, sizeof err), 0);
    memset(err, 0, sizeof err);
    assert_int_equal(eesim_load_file(other, big, err, sizeof err), -1);
    assert_non_null(strstr(err, "24c02"));
    assert_int_equal(eesim_load_file(other, "/nonexistent/ee.bin", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/ee.bin"));
    assert_int_equal(eesim_save_file(sim, "/nonexistent/ee.bin", err, sizeof err), -1);

    unlink(path);
    unlink(big);
    assert_int_equal(rmdir(dir), 0); /* no temporary file left behind */
    eesim_free(sim);
    eesim_free(other);
    eesim_free(large);
}

static void test_fault_spec_parsing(void **state)
{
    (void)state;
    eesim_faults f = {0};
    char err[200];
    assert_int_equal(eesim_faults_parse("nack-addr=3,bitflip=1e-4,seed=7,nack-data=2,bus-error=9,"
                                        "power-loss=100,wp,slow,stuck",
                                        &f, err, sizeof err),
                     0);
    assert_int_equal(f.nack_addr_at, 3);
    assert_true(f.bit_flip_rate > 0.99e-4 && f.bit_flip_rate < 1.01e-4);
    assert_int_equal(f.seed, 7);
    assert_int_equal(f.nack_data_at, 2);
    assert_int_equal(f.bus_error_at, 9);
    assert_int_equal(f.power_loss_at, 100);
    assert_true(f.write_protect && f.slow && f.stuck);
    static const struct {
        const char *spec, *says;
    } bad[] = {
        {"bogus=1", "unknown"},  {"nack-addr=0", "from 1"},   {"nack-addr", "needs a value"},
        {"bitflip=2", "0 to 1"}, {"wp=1", "no value"},        {"seed=x", "whole number"},
        {",slow", "malformed"},  {"power-loss=-1", "from 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eesim_faults g = {0};
        err[0] = '\0';
        assert_int_equal(eesim_faults_parse(bad[i].spec, &g, err, sizeof err), -1);
        if (strstr(err, bad[i].says) == NULL) {
            fail_msg("'%s': message '%s' does not say '%s'", bad[i].spec, err, bad[i].says);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_part_tables_agree),
        cmocka_unit_test(test_part_lookup_by_vendor_names),
        cmocka_unit_test(test_full_size_round_trip_every_part),
        cmocka_unit_test(test_writes_across_pages_at_every_column),
        cmocka_unit_test(test_unsplit_page_write_wraps_in_the_model),
        cmocka_unit_test(test_write_cycle_polling_and_its_time),
        cmocka_unit_test(test_read_and_probe_wait_for_a_running_cycle),
        cmocka_unit_test(test_timeout_when_the_part_stays_busy),
        cmocka_unit_test(test_block_select_addressing),
        cmocka_unit_test(test_absent_device_is_a_nack),
        cmocka_unit_test(test_write_protect_refuses_and_keeps_memory),
        cmocka_unit_test(test_bus_error),
        cmocka_unit_test(test_nack_faults),
        cmocka_unit_test(test_bit_errors_reach_the_reader),
        cmocka_unit_test(test_power_loss_keeps_committed_pages),
        cmocka_unit_test(test_out_of_range_is_invalid),
        cmocka_unit_test(test_model_commits_at_stop_only),
        cmocka_unit_test(test_model_pointer_and_rollover),
        cmocka_unit_test(test_model_config_checks),
        cmocka_unit_test(test_model_files),
        cmocka_unit_test(test_fault_spec_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

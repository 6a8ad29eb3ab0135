/*
 * The EEPROM model at the bit level (sim/eeprom, eesim_bus.h): a small
 * bit-banging master in this file drives SCL and SDA with timings it is
 * told, and every result is compared with what the transfer-level API
 * (eesim_write & co.) gives on a twin part with the same content. Then the
 * timing checks: a clean run in each speed class, and for each of the eight
 * parameters a run that breaks that one alone. Last, the master firmware's
 * own bit-banged I2C and the EEPROM driver over the bus.
 */
#include "eesim/eesim.h"
#include "eesim/eesim_bus.h"
#include "i2c_bitbang.h"
#include "stm32isp/eeprom.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define BASE     0x50u
#define CYCLE_US 300u

/* ---- The test's master ----------------------------------------------------- */

/* What the master waits at each step, in ns. A data bit: SCL falls, SDA
 * changes hd_dat later, SCL rises at `low` (so tSU;DAT = low - hd_dat),
 * stays high for `high`. */
typedef struct timing {
    uint32_t low, high, hd_dat, su_sta, hd_sta, su_sto, buf;
} timing;

/* 400 kHz (a 2.5 us period, SCL low longer than high, as fast-mode
 * masters do to meet tLOW), every time above the fast-mode minimums. */
static const timing FAST_400 = {.low = 1300,
                                .high = 1200,
                                .hd_dat = 300,
                                .su_sta = 700,
                                .hd_sta = 700,
                                .su_sto = 700,
                                .buf = 1400};
/* 1 MHz, above the fast-mode plus minimums. */
static const timing FMP_1M = {.low = 500,
                              .high = 500,
                              .hd_dat = 100,
                              .su_sta = 300,
                              .hd_sta = 300,
                              .su_sto = 300,
                              .buf = 600};

/* A master timed from its half-period alone: SCL low and high for `half`,
 * each START and STOP time one half-period, SDA changing a quarter into the
 * low half. */
static timing half_period(uint32_t half)
{
    timing t = {.low = half,
                .high = half,
                .hd_dat = half / 4,
                .su_sta = half,
                .hd_sta = half,
                .su_sto = half,
                .buf = half};
    return t;
}

typedef struct master {
    eesim_bus *bus;
    timing tm;
    uint64_t t;
    bool scl, sda;           /* what it drives: true when released */
    bool sda_preset;         /* the next bit's SDA was already set (an early change) */
    uint64_t t_addr_decided; /* when the last address byte's 8th bit ended */
} master;

static void drive(master *m)
{
    eesim_bus_master(m->bus, m->scl, m->sda, m->t);
}

static void set_scl(master *m, bool released)
{
    m->scl = released;
    drive(m);
}

static void set_sda(master *m, bool released)
{
    m->sda = released;
    drive(m);
}

static void pause(master *m, uint32_t ns)
{
    m->t += ns;
}

static bool sda_level(const master *m)
{
    return m->sda && !eesim_bus_sda_pulled_low(m->bus);
}

/* START on an idle bus (SCL high), or a repeated START (SCL low). */
static void start(master *m)
{
    if (m->scl) {
        pause(m, m->tm.buf);
    } else {
        pause(m, m->tm.hd_dat);
        set_sda(m, true);
        pause(m, m->tm.low - m->tm.hd_dat);
        set_scl(m, true);
        pause(m, m->tm.su_sta);
    }
    set_sda(m, false);
    pause(m, m->tm.hd_sta);
    set_scl(m, false);
}

/* From SCL just fallen: SDA low, SCL up, SDA up. */
static void stop(master *m)
{
    pause(m, m->tm.hd_dat);
    set_sda(m, false);
    pause(m, m->tm.low - m->tm.hd_dat);
    set_scl(m, true);
    pause(m, m->tm.su_sto);
    set_sda(m, true);
}

/* One clock from SCL just fallen to SCL fallen again, SDA = bit. With
 * early_ns, SDA takes next_bit early_ns before SCL falls (while SCL is still
 * high): the fault of the tHD;DAT tests. Returns SDA as sampled. */
static bool clock_bit(master *m, bool bit, uint32_t early_ns, bool next_bit)
{
    if (m->sda_preset) {
        m->sda_preset = false;
        pause(m, m->tm.low);
    } else {
        pause(m, m->tm.hd_dat);
        set_sda(m, bit);
        pause(m, m->tm.low - m->tm.hd_dat);
    }
    set_scl(m, true);
    bool sampled = sda_level(m);
    if (early_ns > 0) {
        pause(m, m->tm.high - early_ns);
        set_sda(m, next_bit);
        pause(m, early_ns);
        m->sda_preset = true;
    } else {
        pause(m, m->tm.high);
    }
    set_scl(m, false);
    return sampled;
}

/* A byte out, MSB first, with SDA of bit `early_bit` (0 = MSB) set
 * early_ns early; then the acknowledge clock. Returns the ACK. */
static bool write_byte_early(master *m, uint8_t byte, int early_bit, uint32_t early_ns)
{
    for (int i = 0; i < 8; i++) {
        bool bit = ((byte >> (7 - i)) & 1u) != 0;
        bool next = i < 7 && ((byte >> (6 - i)) & 1u) != 0;
        clock_bit(m, bit, i + 1 == early_bit ? early_ns : 0, next);
    }
    m->t_addr_decided = m->t;
    return !clock_bit(m, true, 0, false);
}

static bool write_byte(master *m, uint8_t byte)
{
    return write_byte_early(m, byte, -1, 0);
}

static uint8_t read_byte(master *m, bool ack)
{
    uint8_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (uint8_t)(v << 1 | (clock_bit(m, true, 0, false) ? 1u : 0u));
    }
    clock_bit(m, !ack, 0, false);
    return v;
}

/* The three transfers of the ops table, bit by bit; results as the
 * transfer-level functions give them. */
static int m_write(master *m, uint8_t address, const uint8_t *data, size_t len)
{
    start(m);
    int result = STM32ISP_I2C_OK;
    if (!write_byte(m, (uint8_t)(address << 1))) {
        result = STM32ISP_I2C_NACK_ADDRESS;
    }
    for (size_t i = 0; result == STM32ISP_I2C_OK && i < len; i++) {
        if (!write_byte(m, data[i])) {
            result = STM32ISP_I2C_NACK_DATA;
        }
    }
    stop(m);
    return result;
}

static int m_read_part(master *m, uint8_t address, uint8_t *rdata, size_t rlen)
{
    if (!write_byte(m, (uint8_t)(address << 1 | 1u))) {
        stop(m);
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    for (size_t i = 0; i < rlen; i++) {
        rdata[i] = read_byte(m, i + 1 < rlen);
    }
    stop(m);
    return STM32ISP_I2C_OK;
}

static int m_write_read(master *m, uint8_t address, const uint8_t *wdata, size_t wlen,
                        uint8_t *rdata, size_t rlen)
{
    start(m);
    if (!write_byte(m, (uint8_t)(address << 1))) {
        stop(m);
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    for (size_t i = 0; i < wlen; i++) {
        if (!write_byte(m, wdata[i])) {
            stop(m);
            return STM32ISP_I2C_NACK_DATA;
        }
    }
    start(m);
    return m_read_part(m, address, rdata, rlen);
}

static int m_read(master *m, uint8_t address, uint8_t *rdata, size_t rlen)
{
    start(m);
    return m_read_part(m, address, rdata, rlen);
}

/* ---- The bench: part, twin, bus, master, log -------------------------------- */

#define MAX_LOG 64

typedef struct bench {
    eesim *part, *twin;
    eesim_bus *bus;
    master m;
    char log[MAX_LOG][256];
    size_t log_count;
} bench;

static void log_line(void *ctx, const char *line)
{
    bench *b = ctx;
    if (b->log_count < MAX_LOG) {
        snprintf(b->log[b->log_count], sizeof b->log[0], "%s", line);
    }
    b->log_count++;
}

static bench *bench_new(const char *part_name, uint32_t bus_hz, const timing *tm)
{
    bench *b = calloc(1, sizeof *b);
    assert_non_null(b);
    eesim_config cfg = {.part = eesim_part_find(part_name), .write_cycle_us = CYCLE_US};
    assert_non_null(cfg.part);
    b->part = eesim_new(&cfg);
    b->twin = eesim_new(&cfg);
    assert_non_null(b->part);
    assert_non_null(b->twin);
    /* The same random content in both. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < eesim_size(b->part); i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        eesim_memory(b->part)[i] = eesim_memory(b->twin)[i] = (uint8_t)(x >> 56);
    }
    eesim_bus_config bc = {.part = b->part, .bus_hz = bus_hz, .log = log_line, .ctx = b};
    b->bus = eesim_bus_new(&bc);
    assert_non_null(b->bus);
    b->m = (master){.bus = b->bus, .tm = *tm, .scl = true, .sda = true};
    return b;
}

static void bench_free(bench *b)
{
    eesim_bus_free(b->bus);
    eesim_free(b->part);
    eesim_free(b->twin);
    free(b);
}

static const eesim_bus_stats *stats(const bench *b)
{
    return eesim_bus_get_stats(b->bus);
}

static void assert_same_memory(bench *b)
{
    assert_memory_equal(eesim_memory(b->part), eesim_memory(b->twin), eesim_size(b->part));
}

static bool logged(const bench *b, const char *text)
{
    for (size_t i = 0; i < b->log_count && i < MAX_LOG; i++) {
        if (strstr(b->log[i], text) != NULL) {
            return true;
        }
    }
    return false;
}

/* Polls the part with address-only writes until it acknowledges; returns
 * the number of NACKed polls. Each poll's answer must match the write
 * cycle: NACK exactly while the address byte ended before ready_at. */
static unsigned poll_until_ready(bench *b, uint64_t ready_at)
{
    for (unsigned nacks = 0; nacks < 1000; nacks++) {
        int result = m_write(&b->m, BASE, NULL, 0);
        bool busy = b->m.t_addr_decided < ready_at;
        assert_int_equal(result, busy ? STM32ISP_I2C_NACK_ADDRESS : STM32ISP_I2C_OK);
        if (result == STM32ISP_I2C_OK) {
            return nacks;
        }
    }
    fail_msg("the part never became ready");
    return 0;
}

/* The twin's write cycle is over at once: only its content matters. */
static void twin_write(bench *b, uint8_t address, const uint8_t *data, size_t len, int expected)
{
    assert_int_equal(eesim_write(b->twin, address, data, len), expected);
    eesim_idle_us(b->twin, CYCLE_US);
}

/* A page write, ACK polling, a random read, a sequential read across a
 * page boundary, a current-address read; every result checked against the
 * twin. Used as is by the timing tests: a violation is reported, the part
 * still works. */
static void run_scenario(bench *b)
{
    uint8_t frame[2 + 16];
    frame[0] = 0x00;
    frame[1] = 0x40;
    for (size_t i = 0; i < 16; i++) {
        frame[2 + i] = (uint8_t)(0xA5u ^ (i * 7u));
    }
    assert_int_equal(m_write(&b->m, BASE, frame, sizeof frame), STM32ISP_I2C_OK);
    uint64_t stopped = b->m.t;
    twin_write(b, BASE, frame, sizeof frame, STM32ISP_I2C_OK);
    assert_true(eesim_busy(b->part));
    assert_true(poll_until_ready(b, stopped + CYCLE_US * 1000ull) > 0);

    uint8_t got[40] = {0}, want[40] = {0};
    const uint8_t word[2] = {0x00, 0x40};
    assert_int_equal(m_write_read(&b->m, BASE, word, 2, got, 16), STM32ISP_I2C_OK);
    assert_memory_equal(got, frame + 2, 16);

    const uint8_t across[2] = {0x00, 0x7C}; /* 4 bytes before the end of a 64-byte page */
    assert_int_equal(m_write_read(&b->m, BASE, across, 2, got, 12), STM32ISP_I2C_OK);
    assert_int_equal(eesim_write_read(b->twin, BASE, across, 2, want, 12), STM32ISP_I2C_OK);
    assert_memory_equal(got, want, 12);

    assert_int_equal(m_read(&b->m, BASE, got, 3), STM32ISP_I2C_OK);
    assert_int_equal(eesim_read(b->twin, BASE, want, 3), STM32ISP_I2C_OK);
    assert_memory_equal(got, want, 3);
    assert_int_equal(eesim_pointer(b->part), eesim_pointer(b->twin));
    assert_same_memory(b);
}

/* ---- Protocol, against the transfer-level twin ---------------------------- */

static void test_page_write_and_ack_polling(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    uint8_t frame[2 + 64]; /* page 3 whole: 0x00C0..0x00FF */
    frame[0] = 0x00;
    frame[1] = 0xC0;
    for (size_t i = 0; i < 64; i++) {
        frame[2 + i] = (uint8_t)(i * 13u + 1u);
    }
    assert_int_equal(m_write(&b->m, BASE, frame, sizeof frame), STM32ISP_I2C_OK);
    uint64_t stopped = b->m.t;
    twin_write(b, BASE, frame, sizeof frame, STM32ISP_I2C_OK);
    assert_true(eesim_busy(b->part));
    assert_int_equal(eesim_get_stats(b->part)->page_writes, 1);

    unsigned nacks = poll_until_ready(b, stopped + CYCLE_US * 1000ull);
    /* A poll is under 30 us at 400 kHz: the 300 us cycle takes about ten. */
    assert_in_range(nacks, 8, 14);
    assert_false(eesim_busy(b->part));
    assert_memory_equal(eesim_memory(b->part) + 0xC0, frame + 2, 64);
    assert_same_memory(b);

    const eesim_bus_stats *s = stats(b);
    assert_int_equal(s->starts, 1 + nacks + 1);
    assert_int_equal(s->stops, s->starts);
    assert_int_equal(s->repeated_starts, 0);
    assert_int_equal(s->bytes_to_part, 1 + 2 + 64 + nacks + 1);
    assert_int_equal(s->nacks, nacks);
    assert_int_equal(s->bytes_from_part, 0);
    assert_int_equal(eesim_get_stats(b->part)->busy_nacks, nacks);
    assert_int_equal(s->violations, 0);
    bench_free(b);
}

/* Microchip's ACK polling flow: after the STOP that starts the cycle, a
 * START and the address, and while NACKed a repeated START and the address
 * again; each is a transfer of its own for the part. */
static void test_ack_polling_with_repeated_starts(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    const uint8_t frame[3] = {0x12, 0x34, 0x5A};
    assert_int_equal(m_write(&b->m, BASE, frame, sizeof frame), STM32ISP_I2C_OK);
    uint64_t ready_at = b->m.t + CYCLE_US * 1000ull;
    uint64_t transfers_before = eesim_get_stats(b->part)->transfers;
    start(&b->m);
    unsigned polls = 1;
    while (!write_byte(&b->m, BASE << 1)) {
        assert_true(b->m.t_addr_decided < ready_at);
        start(&b->m);
        polls++;
        assert_true(polls < 1000);
    }
    assert_true(b->m.t_addr_decided >= ready_at);
    stop(&b->m);
    assert_true(polls > 1);
    assert_int_equal(stats(b)->repeated_starts, polls - 1);
    assert_int_equal(eesim_get_stats(b->part)->transfers, transfers_before + polls);
    assert_int_equal(eesim_get_stats(b->part)->busy_nacks, polls - 1);
    assert_int_equal(eesim_memory(b->part)[0x1234], 0x5A);
    assert_int_equal(stats(b)->violations, 0);
    bench_free(b);
}

static void test_random_and_sequential_reads(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    uint8_t got[80] = {0}, want[80] = {0};
    /* Random read of one byte. */
    const uint8_t word[2] = {0x01, 0x23};
    assert_int_equal(m_write_read(&b->m, BASE, word, 2, got, 1), STM32ISP_I2C_OK);
    assert_int_equal(eesim_write_read(b->twin, BASE, word, 2, want, 1), STM32ISP_I2C_OK);
    assert_int_equal(got[0], want[0]);
    assert_int_equal(got[0], eesim_memory(b->part)[0x0123]);
    /* Sequential read across the page boundary at 0x0100. */
    const uint8_t across[2] = {0x00, 0xE0};
    assert_int_equal(m_write_read(&b->m, BASE, across, 2, got, 80), STM32ISP_I2C_OK);
    assert_int_equal(eesim_write_read(b->twin, BASE, across, 2, want, 80), STM32ISP_I2C_OK);
    assert_memory_equal(got, want, 80);
    assert_memory_equal(got, eesim_memory(b->part) + 0xE0, 80);
    /* A current-address read goes on from there. */
    assert_int_equal(m_read(&b->m, BASE, got, 5), STM32ISP_I2C_OK);
    assert_int_equal(eesim_read(b->twin, BASE, want, 5), STM32ISP_I2C_OK);
    assert_memory_equal(got, want, 5);
    assert_memory_equal(got, eesim_memory(b->part) + 0xE0 + 80, 5);
    assert_int_equal(eesim_pointer(b->part), 0xE0 + 85);
    /* And rolls over from the end of memory to 0. */
    const uint8_t end[2] = {0x7F, 0xFE};
    assert_int_equal(m_write_read(&b->m, BASE, end, 2, got, 4), STM32ISP_I2C_OK);
    assert_int_equal(eesim_write_read(b->twin, BASE, end, 2, want, 4), STM32ISP_I2C_OK);
    assert_memory_equal(got, want, 4);
    assert_int_equal(got[2], eesim_memory(b->part)[0]);

    /* A random read is one transfer, its repeated START included. */
    assert_int_equal(eesim_get_stats(b->part)->transfers, 4);
    assert_int_equal(eesim_get_stats(b->part)->transfers, eesim_get_stats(b->twin)->transfers);
    const eesim_bus_stats *s = stats(b);
    assert_int_equal(s->bytes_from_part, 1 + 80 + 5 + 4);
    assert_int_equal(eesim_get_stats(b->part)->bytes_read, 1 + 80 + 5 + 4);
    assert_int_equal(s->starts, 4);
    assert_int_equal(s->repeated_starts, 3);
    assert_int_equal(s->nacks, 0);
    assert_int_equal(s->violations, 0);
    bench_free(b);
}

/* 24C04 and 24C16: the top of the offset goes in the device address. */
static void test_block_bits(void **state)
{
    (void)state;
    static const struct {
        const char *part;
        uint32_t offset;
    } cases[] = {{"24c04", 0x1A3}, {"24c16", 0x5A3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bench *b = bench_new(cases[c].part, 400000, &FAST_400);
        uint8_t device = (uint8_t)(BASE | (cases[c].offset >> 8));
        uint8_t frame[1 + 10];
        frame[0] = (uint8_t)cases[c].offset;
        for (size_t i = 0; i < 10; i++) {
            frame[1 + i] = (uint8_t)(0x30u + i);
        }
        assert_int_equal(m_write(&b->m, device, frame, sizeof frame), STM32ISP_I2C_OK);
        twin_write(b, device, frame, sizeof frame, STM32ISP_I2C_OK);
        poll_until_ready(b, b->m.t + CYCLE_US * 1000ull);
        assert_memory_equal(eesim_memory(b->part) + cases[c].offset, frame + 1, 10);
        assert_same_memory(b);

        uint8_t got[10] = {0}, want[10] = {0};
        assert_int_equal(m_write_read(&b->m, device, frame, 1, got, 10), STM32ISP_I2C_OK);
        assert_memory_equal(got, frame + 1, 10);
        /* The same word address in block 0 is another byte. */
        assert_int_equal(m_write_read(&b->m, BASE, frame, 1, got, 1), STM32ISP_I2C_OK);
        assert_int_equal(eesim_write_read(b->twin, BASE, frame, 1, want, 1), STM32ISP_I2C_OK);
        assert_int_equal(got[0], want[0]);
        assert_int_equal(got[0], eesim_memory(b->part)[cases[c].offset & 0xFFu]);
        /* A device address outside the part's blocks is not acknowledged. */
        assert_int_equal(m_write(&b->m, BASE + 8, NULL, 0), STM32ISP_I2C_NACK_ADDRESS);
        assert_int_equal(stats(b)->violations, 0);
        bench_free(b);
    }
}

static void test_write_protect_nacks_data(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    eesim_set_write_protect(b->part, true);
    eesim_set_write_protect(b->twin, true);
    const uint8_t frame[2 + 4] = {0x02, 0x00, 1, 2, 3, 4};
    uint8_t before = eesim_memory(b->part)[0x0200];
    assert_int_equal(m_write(&b->m, BASE, frame, sizeof frame), STM32ISP_I2C_NACK_DATA);
    twin_write(b, BASE, frame, sizeof frame, STM32ISP_I2C_NACK_DATA);
    /* Address and word address acknowledged, the first data byte not. */
    assert_int_equal(stats(b)->bytes_to_part, 4);
    assert_int_equal(stats(b)->nacks, 1);
    assert_int_equal(eesim_get_stats(b->part)->wp_refusals, 1);
    assert_false(eesim_busy(b->part));
    assert_int_equal(eesim_memory(b->part)[0x0200], before);
    assert_same_memory(b);
    assert_int_equal(stats(b)->violations, 0);
    bench_free(b);
}

/* The transfer-counted faults hit the same transfers on the lines as on
 * the twin; an injected bus error is an address left unanswered. */
static void test_faults_on_the_lines(void **state)
{
    (void)state;
    eesim_config cfg = {.part = eesim_part_find("24c256"),
                        .write_cycle_us = CYCLE_US,
                        .faults = {.nack_addr_at = 2, .bus_error_at = 3, .nack_data_at = 2}};
    eesim *part = eesim_new(&cfg);
    eesim *twin = eesim_new(&cfg);
    assert_non_null(part);
    assert_non_null(twin);
    eesim_bus_config bc = {.part = part, .bus_hz = 400000};
    eesim_bus *bus = eesim_bus_new(&bc);
    assert_non_null(bus);
    master m = {.bus = bus, .tm = FAST_400, .scl = true, .sda = true};
    const uint8_t word[2] = {0x00, 0x10};
    const uint8_t frame[2 + 3] = {0x00, 0x10, 7, 8, 9};
    uint8_t got[4] = {0}, want[4] = {0};

    assert_int_equal(m_write_read(&m, BASE, word, 2, got, 4), STM32ISP_I2C_OK);
    assert_int_equal(eesim_write_read(twin, BASE, word, 2, want, 4), STM32ISP_I2C_OK);
    assert_memory_equal(got, want, 4);
    assert_int_equal(m_write_read(&m, BASE, word, 2, got, 4), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(eesim_write_read(twin, BASE, word, 2, want, 4), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(m_write(&m, BASE, frame, sizeof frame), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(eesim_write(twin, BASE, frame, sizeof frame), STM32ISP_I2C_BUS_ERROR);
    /* The second data byte is the faulted one: the write is dropped. */
    assert_int_equal(m_write(&m, BASE, frame, sizeof frame), STM32ISP_I2C_NACK_DATA);
    assert_int_equal(eesim_write(twin, BASE, frame, sizeof frame), STM32ISP_I2C_NACK_DATA);
    assert_int_equal(eesim_get_stats(part)->faults_nack_addr, 1);
    assert_int_equal(eesim_get_stats(part)->faults_bus_errors, 1);
    assert_int_equal(eesim_get_stats(part)->faults_nack_data, 1);
    assert_int_equal(eesim_get_stats(part)->page_writes, 0);
    assert_memory_equal(eesim_memory(part), eesim_memory(twin), eesim_size(part));
    assert_int_equal(eesim_bus_get_stats(bus)->nacks, 3);
    assert_int_equal(eesim_bus_get_stats(bus)->violations, 0);
    eesim_bus_free(bus);
    eesim_free(part);
    eesim_free(twin);
}

/* A START just after SCL rose on an idle bus needs its setup time too (a
 * master whose pins come up with SCL low). */
static void test_start_after_scl_rises_needs_setup(void **state)
{
    (void)state;
    bench *b = bench_new("24c02", 400000, &FAST_400);
    eesim_bus_master(b->bus, false, true, 1000);
    eesim_bus_master(b->bus, true, true, 3000);
    eesim_bus_master(b->bus, true, false, 3200);
    assert_int_equal(stats(b)->violations, 1);
    assert_memory_equal(stats(b)->first_violation, "tSU;STA", 7);
    /* With the setup time kept, nothing. */
    bench *c = bench_new("24c02", 400000, &FAST_400);
    eesim_bus_master(c->bus, false, true, 1000);
    eesim_bus_master(c->bus, true, true, 3000);
    eesim_bus_master(c->bus, true, false, 3600);
    assert_int_equal(stats(c)->violations, 0);
    assert_int_equal(stats(c)->starts, 1);
    bench_free(b);
    bench_free(c);
}

/* The part's clock follows the bench's and never goes back. */
static void test_part_clock_follows_the_bench(void **state)
{
    (void)state;
    bench *b = bench_new("24c02", 400000, &FAST_400);
    eesim_bus_master(b->bus, true, true, 5000);
    assert_int_equal(eesim_now_ns(b->part), 5000);
    eesim_advance_to_ns(b->part, 4000);
    assert_int_equal(eesim_now_ns(b->part), 5000);
    eesim_advance_to_ns(b->part, 9000);
    assert_int_equal(eesim_now_ns(b->part), 9000);
    /* The bench's clock going back is logged and taken as the last time. */
    eesim_bus_master(b->bus, true, true, 4000);
    assert_int_equal(stats(b)->oddities, 1);
    assert_true(logged(b, "time went back"));
    assert_int_equal(stats(b)->violations, 0);
    bench_free(b);
}

static void test_config_checks(void **state)
{
    (void)state;
    eesim_config cfg = {.part = eesim_part_find("24c02")};
    eesim *part = eesim_new(&cfg);
    assert_non_null(part);
    assert_null(eesim_bus_new(NULL));
    eesim_bus_config bc = {.part = NULL};
    assert_null(eesim_bus_new(&bc));
    bc.part = part;
    bc.bus_hz = 1000001;
    assert_null(eesim_bus_new(&bc));
    /* 0 is 400 kHz: a 1 MHz master is too fast for it, and no log is
     * needed to count that. */
    bc.bus_hz = 0;
    eesim_bus *bus = eesim_bus_new(&bc);
    assert_non_null(bus);
    master m = {.bus = bus, .tm = FMP_1M, .scl = true, .sda = true};
    assert_int_equal(m_write(&m, BASE, NULL, 0), STM32ISP_I2C_OK);
    assert_true(eesim_bus_get_stats(bus)->violations > 0);
    assert_non_null(strstr(eesim_bus_get_stats(bus)->first_violation, "fast mode"));
    eesim_bus_free(bus);
    eesim_free(part);
}

/* ---- Timing ---------------------------------------------------------------- */

static void test_clean_run_at_400khz(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    run_scenario(b);
    assert_int_equal(stats(b)->violations, 0);
    assert_string_equal(stats(b)->first_violation, "");
    assert_int_equal(b->log_count, 0);
    assert_true(stats(b)->starts > 5 && stats(b)->repeated_starts == 2);
    bench_free(b);
}

/* Runs the scenario with one time of FAST_400 changed; exactly that
 * parameter must be reported, every time it is broken, and nothing else. */
static void expect_only(const timing *tm, const char *param)
{
    bench *b = bench_new("24c256", 400000, tm);
    run_scenario(b);
    const eesim_bus_stats *s = stats(b);
    assert_true(s->violations > 0);
    assert_int_equal(s->violations, b->log_count);
    size_t n = strlen(param);
    assert_memory_equal(s->first_violation, param, n);
    assert_true(s->first_violation[n] == ' ' || s->first_violation[n] == ':');
    assert_non_null(strstr(s->first_violation, "fast mode"));
    for (size_t i = 0; i < b->log_count && i < MAX_LOG; i++) {
        if (strncmp(b->log[i], param, n) != 0) {
            fail_msg("expected only %s, got: %s", param, b->log[i]);
        }
    }
    bench_free(b);
}

static void test_breaking_tlow(void **state)
{
    (void)state;
    timing tm = FAST_400;
    tm.low = 1000;
    expect_only(&tm, "tLOW");
}

static void test_breaking_thigh(void **state)
{
    (void)state;
    timing tm = FAST_400;
    tm.high = 400;
    expect_only(&tm, "tHIGH");
}

static void test_breaking_tsu_sta(void **state)
{
    (void)state;
    timing tm = FAST_400;
    tm.su_sta = 300;
    expect_only(&tm, "tSU;STA");
}

static void test_breaking_thd_sta(void **state)
{
    (void)state;
    timing tm = FAST_400;
    tm.hd_sta = 300;
    expect_only(&tm, "tHD;STA");
}

static void test_breaking_tsu_dat(void **state)
{
    (void)state;
    timing tm = FAST_400;
    tm.hd_dat = 1250; /* SDA 50 ns before SCL rises */
    expect_only(&tm, "tSU;DAT");
}

static void test_breaking_tsu_sto(void **state)
{
    (void)state;
    timing tm = FAST_400;
    tm.su_sto = 300;
    expect_only(&tm, "tSU;STO");
}

static void test_breaking_tbuf(void **state)
{
    (void)state;
    timing tm = FAST_400;
    tm.buf = 600;
    expect_only(&tm, "tBUF");
}

/* tHD;DAT: the data byte 0x20 (0,0,1,...) with its third bit put on SDA
 * 200 ns before the second bit's SCL fall. SDA rises while SCL is high two
 * bits into the byte: a STOP to the part, which aborts the write (no write
 * cycle, nothing written) and is the one violation. */
static void test_breaking_thd_dat_stop_inside_a_byte(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    uint8_t before[4];
    memcpy(before, eesim_memory(b->part) + 0x0300, sizeof before);
    start(&b->m);
    assert_true(write_byte(&b->m, BASE << 1));
    assert_true(write_byte(&b->m, 0x03));
    assert_true(write_byte(&b->m, 0x00));
    assert_true(write_byte(&b->m, 0x11));                /* loaded in the page buffer */
    assert_false(write_byte_early(&b->m, 0x20, 2, 200)); /* the part has left */
    stop(&b->m);

    const eesim_bus_stats *s = stats(b);
    assert_int_equal(s->violations, 1);
    assert_int_equal(b->log_count, 1);
    assert_memory_equal(s->first_violation, "tHD;DAT", 7);
    assert_non_null(strstr(s->first_violation, "SDA changed while SCL high inside a byte"));
    assert_int_equal(s->stops, 2);
    assert_false(eesim_busy(b->part));
    assert_int_equal(eesim_get_stats(b->part)->page_writes, 0);
    assert_memory_equal(eesim_memory(b->part) + 0x0300, before, sizeof before);
    bench_free(b);
}

/* The same with SDA falling (data 0xE0, fourth bit early): a START inside
 * a byte. The part aborts the write and takes what follows as a new
 * transfer; the master's closing STOP then falls inside that one's first
 * byte, so it is reported too, and still nothing is written. */
static void test_start_inside_a_byte_aborts_the_write(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    uint8_t before = eesim_memory(b->part)[0x0300];
    start(&b->m);
    assert_true(write_byte(&b->m, BASE << 1));
    assert_true(write_byte(&b->m, 0x03));
    assert_true(write_byte(&b->m, 0x00));
    assert_true(write_byte(&b->m, 0x11));
    write_byte_early(&b->m, 0xE0, 3, 200);
    stop(&b->m);

    const eesim_bus_stats *s = stats(b);
    assert_true(s->violations >= 1);
    assert_int_equal(s->repeated_starts, 1);
    for (size_t i = 0; i < b->log_count && i < MAX_LOG; i++) {
        assert_non_null(strstr(b->log[i], "tHD;DAT: SDA changed while SCL high inside a byte"));
    }
    assert_false(eesim_busy(b->part));
    assert_int_equal(eesim_get_stats(b->part)->page_writes, 0);
    assert_int_equal(eesim_memory(b->part)[0x0300], before);
    bench_free(b);
}

static void test_100khz_master_is_clean_in_fast_mode(void **state)
{
    (void)state;
    timing tm = half_period(5000);
    bench *b = bench_new("24c256", 400000, &tm);
    run_scenario(b);
    assert_int_equal(stats(b)->violations, 0);
    assert_int_equal(b->log_count, 0);
    bench_free(b);
}

static void test_400khz_master_breaks_standard_mode(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 100000, &FAST_400);
    run_scenario(b);
    assert_true(stats(b)->violations > 0);
    assert_true(logged(b, "tLOW (SCL low): 1300 ns, standard mode"));
    assert_true(logged(b, "tHIGH (SCL high): 1200 ns, standard mode"));
    bench_free(b);
}

static void test_1mhz_master_in_fast_mode_plus(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 1000000, &FMP_1M);
    run_scenario(b);
    assert_int_equal(stats(b)->violations, 0);
    bench_free(b);
    /* The same master against the fast-mode limits is too fast. */
    b = bench_new("24c256", 400000, &FMP_1M);
    run_scenario(b);
    assert_true(logged(b, "tLOW (SCL low): 500 ns, fast mode"));
    bench_free(b);
}

/* A master that keeps SDA low while the part sends a 1 reads a 0: logged
 * as an oddity, not a timing violation. */
static void test_sda_collision_is_logged(void **state)
{
    (void)state;
    bench *b = bench_new("24c02", 400000, &FAST_400);
    eesim_memory(b->part)[0x10] = 0xFF;
    start(&b->m);
    assert_true(write_byte(&b->m, BASE << 1));
    assert_true(write_byte(&b->m, 0x10));
    start(&b->m);
    assert_true(write_byte(&b->m, BASE << 1 | 1u));
    bool first = clock_bit(&b->m, false, 0, false); /* SDA held low by mistake */
    assert_false(first);
    uint8_t rest = 0;
    for (int i = 0; i < 7; i++) {
        rest = (uint8_t)(rest << 1 | (clock_bit(&b->m, true, 0, false) ? 1u : 0u));
    }
    clock_bit(&b->m, true, 0, false); /* NACK */
    stop(&b->m);
    assert_int_equal(rest, 0x7F);
    assert_int_equal(stats(b)->oddities, 1);
    assert_true(logged(b, "SDA collision"));
    assert_int_equal(stats(b)->violations, 0);
    bench_free(b);
}

/* ---- The firmware's bit-banged I2C over the bus --------------------------- */

/* firmware/core/i2c_bitbang.c's pins on the bus: the pins take no time,
 * delays move the bench's clock. */
typedef struct fw_pins {
    eesim_bus *bus;
    uint64_t t;
    bool scl, sda;
} fw_pins;

static void fw_scl(void *ctx, bool release)
{
    fw_pins *p = ctx;
    p->scl = release;
    eesim_bus_master(p->bus, p->scl, p->sda, p->t);
}

static void fw_sda(void *ctx, bool release)
{
    fw_pins *p = ctx;
    p->sda = release;
    eesim_bus_master(p->bus, p->scl, p->sda, p->t);
}

static bool fw_scl_read(void *ctx)
{
    const fw_pins *p = ctx;
    return p->scl;
}

static bool fw_sda_read(void *ctx)
{
    const fw_pins *p = ctx;
    return p->sda && !eesim_bus_sda_pulled_low(p->bus);
}

static void fw_delay_ns(void *ctx, uint32_t ns)
{
    fw_pins *p = ctx;
    p->t += ns;
}

static uint32_t fw_now_ms(void *ctx)
{
    fw_pins *p = ctx;
    p->t += 100; /* reading the clock is not free: no poll loop stands still */
    return (uint32_t)(p->t / 1000000u);
}

static const i2c_pins fw_pin_ops = {
    .scl = fw_scl,
    .sda = fw_sda,
    .scl_read = fw_scl_read,
    .sda_read = fw_sda_read,
    .delay_ns = fw_delay_ns,
    .now_ms = fw_now_ms,
};

static void test_firmware_driver_over_the_bus(void **state)
{
    (void)state;
    bench *b = bench_new("24c256", 400000, &FAST_400);
    fw_pins pins = {.bus = b->bus, .scl = true, .sda = true};
    i2c_bitbang i2c;
    i2c_bitbang_init(&i2c, &fw_pin_ops, &pins, 400000);
    stm32isp_eeprom ee;
    stm32isp_eeprom_init(&ee, &i2c_bitbang_ops, &i2c, stm32isp_eeprom_part_find("24c256"), BASE);

    uint8_t data[200], got[200] = {0};
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 31u + 5u);
    }
    assert_int_equal(stm32isp_eeprom_write(&ee, 0x0135, data, sizeof data), STM32ISP_OK);
    assert_memory_equal(eesim_memory(b->part) + 0x0135, data, sizeof data);
    assert_int_equal(stm32isp_eeprom_read(&ee, 0x0120, got, sizeof got), STM32ISP_OK);
    assert_memory_equal(got, eesim_memory(b->part) + 0x0120, sizeof got);
    /* Four pages (0x135..0x1FC spans 0x100, 0x140, 0x180, 0x1C0), each
     * polled through its write cycle. */
    assert_int_equal(eesim_get_stats(b->part)->page_writes, 4);
    assert_true(ee.busy_polls > 0);
    assert_int_equal(stats(b)->violations, 0);
    assert_int_equal(b->log_count, 0);
    bench_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_write_and_ack_polling),
        cmocka_unit_test(test_ack_polling_with_repeated_starts),
        cmocka_unit_test(test_random_and_sequential_reads),
        cmocka_unit_test(test_block_bits),
        cmocka_unit_test(test_write_protect_nacks_data),
        cmocka_unit_test(test_faults_on_the_lines),
        cmocka_unit_test(test_start_after_scl_rises_needs_setup),
        cmocka_unit_test(test_part_clock_follows_the_bench),
        cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_clean_run_at_400khz),
        cmocka_unit_test(test_breaking_tlow),
        cmocka_unit_test(test_breaking_thigh),
        cmocka_unit_test(test_breaking_tsu_sta),
        cmocka_unit_test(test_breaking_thd_sta),
        cmocka_unit_test(test_breaking_tsu_dat),
        cmocka_unit_test(test_breaking_thd_dat_stop_inside_a_byte),
        cmocka_unit_test(test_breaking_tsu_sto),
        cmocka_unit_test(test_breaking_tbuf),
        cmocka_unit_test(test_start_inside_a_byte_aborts_the_write),
        cmocka_unit_test(test_100khz_master_is_clean_in_fast_mode),
        cmocka_unit_test(test_400khz_master_breaks_standard_mode),
        cmocka_unit_test(test_1mhz_master_in_fast_mode_plus),
        cmocka_unit_test(test_sda_collision_is_logged),
        cmocka_unit_test(test_firmware_driver_over_the_bus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

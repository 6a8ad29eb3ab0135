/*
 * The master firmware's software I2C (firmware/core/i2c_bitbang.c), the
 * real driver code, run on the host against a bit-level fake of the bus:
 * two wired-AND lines, a 24Cxx that reacts to every SCL and SDA edge as the
 * part does, and a checker of every bus timing of the I2C specification on
 * a virtual nanosecond clock (the pins take no time; only the driver's
 * delays advance it, so the measured times are the least the real bus
 * would see).
 *
 * The pins come in two tables: the six plain operations (each wait a
 * delay counted from the call), and the same with the fast path, whose
 * tick clock is the virtual ns (offset so that the 32-bit count wraps
 * within a test) and whose edges are made at deadlines. The fast pins can
 * also cost time per operation, like the real GPIO and call overhead, and
 * take pseudo-random "interrupts" before and after their edges: none of it
 * may shorten a phase.
 *
 * Faults: a slave left driving SDA in the middle of a read, SDA or SCL
 * shorted low, clock stretching, a busy part, data NACKed (write protect),
 * an absent part, a second driver pulling SDA low.
 */
#include "i2c_bitbang.h"

#include "stm32isp/eeprom.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* ---- The fake bus and 24Cxx ------------------------------------------------ */

#define NEVER UINT64_MAX

typedef struct spec_times {
    uint32_t low, high, su_sta, hd_sta, su_sto, buf, su_dat, hd_dat, period;
} spec_times;

/* Fast mode (400 kHz) and standard mode (100 kHz) minima, written from the
 * I2C specification, independently of the driver's table; at 100 kHz
 * tSU;STO is the AT24CM02's 4.7 us, the strictest 24Cxx figure. The SDA
 * hold of 300 ns is the driver's own promise (the specification allows
 * 0). */
static const spec_times FAST = {1300, 600, 600, 600, 600, 1300, 100, 300, 2500};
static const spec_times STANDARD = {4700, 4000, 4700, 4000, 4700, 4700, 250, 300, 10000};

typedef enum { S_IDLE, S_RECV, S_SEND } slave_role;
typedef enum { P_ADDR, P_WORD, P_DATA, P_READ } slave_phase;

typedef struct fake {
    uint64_t ns;
    /* What each side drives (true: released). */
    bool m_scl, m_sda, s_sda;
    /* The lines as last evaluated. */
    bool scl, sda;
    /* Faults and behaviour. */
    bool sda_shorted, scl_shorted;
    uint32_t stretch_ns; /* the slave holds SCL low this long after each fall */
    uint64_t s_scl_low_until;
    int rogue_at_rise; /* at this SCL rise after a START, SDA is pulled low */
    bool rogue_active;

    /* The part. */
    bool present;
    uint8_t base;
    uint8_t address_bytes, block_bits;
    uint32_t size;
    uint16_t page;
    uint64_t write_cycle_ns, busy_until;
    int nack_data_after; /* data bytes accepted before NACKs (write protect); -1: never */
    bool nack_word;      /* refuse the word address */
    uint8_t mem[65536];

    /* Protocol state. */
    slave_role role;
    slave_phase phase;
    int bit;
    uint8_t sr, cur;
    bool acked, master_ack, rw;
    uint32_t block, word, pointer;
    int word_bytes, data_count, rises_since_start;
    uint8_t pend[256];
    bool pend_valid[256];
    uint32_t page_base, col;
    bool write_aborted;

    /* Timing checker. */
    const spec_times *spec;
    uint64_t t_rise, t_fall, t_start, t_stop, t_m_sda;
    bool last_was_start, last_was_stop;
    uint64_t min_period, min_low, min_high;
    int violations;
    char first_violation[160];

    /* Counters. */
    unsigned starts, stops, commits, master_acks, master_nacks, bytes_sent, scl_rises;

    /* The fast path: the tick count is (ns + tick_base) mod 2^32; each
     * fast operation first costs op_ns; with `interrupts`, a pseudo-random
     * delay (0..2 us) lands before or after some edges. */
    uint64_t tick_base;
    uint32_t op_ns;
    bool interrupts;
    uint32_t rng;
    bool clock_stands_still; /* ticks_of_ns() reports no clock */
    /* The sda_at() call of this number (from 1) is delayed by
     * delay_sda_ns between its wait and its edge. */
    unsigned sda_calls, delay_sda_call;
    uint32_t delay_sda_ns;
    unsigned fast_calls;
    uint64_t min_su_dat;
} fake;

static void violation(fake *f, const char *what, uint64_t got, uint32_t min)
{
    if (f->violations++ == 0) {
        snprintf(f->first_violation, sizeof f->first_violation,
                 "%s: %llu ns, at least %u ns needed (t=%llu ns)", what, (unsigned long long)got,
                 min, (unsigned long long)f->ns);
    }
}

static void check_min(fake *f, const char *what, uint64_t since, uint32_t min)
{
    if (since != NEVER && f->ns - since < min) {
        violation(f, what, f->ns - since, min);
    }
}

static void load_byte(fake *f)
{
    f->cur = f->mem[f->pointer];
    f->pointer = (f->pointer + 1u) & (f->size - 1u);
    f->bytes_sent++;
    f->bit = 0;
    f->s_sda = (f->cur & 0x80u) != 0;
}

/* A whole byte has been received: acknowledge it or not. */
static bool take_byte(fake *f, uint8_t byte)
{
    switch (f->phase) {
    case P_ADDR: {
        uint8_t addr = byte >> 1;
        uint8_t mask = (uint8_t)((1u << f->block_bits) - 1u);
        if (!f->present || (addr & (uint8_t)~mask) != f->base || f->ns < f->busy_until) {
            return false;
        }
        f->rw = byte & 1u;
        f->block = addr & mask;
        f->phase = f->rw ? P_READ : P_WORD;
        f->word = 0;
        f->word_bytes = 0;
        return true;
    }
    case P_WORD:
        if (f->nack_word) {
            return false;
        }
        f->word = (f->word << 8) | byte;
        if (++f->word_bytes == f->address_bytes) {
            f->pointer = ((f->block << (8u * f->address_bytes)) | f->word) & (f->size - 1u);
            f->page_base = f->pointer & ~(uint32_t)(f->page - 1u);
            f->col = f->pointer - f->page_base;
            memset(f->pend_valid, 0, sizeof f->pend_valid);
            f->data_count = 0;
            f->phase = P_DATA;
        }
        return true;
    case P_DATA:
        if (f->nack_data_after >= 0 && f->data_count >= f->nack_data_after) {
            f->write_aborted = true;
            return false;
        }
        f->pend[f->col] = byte;
        f->pend_valid[f->col] = true;
        f->col = (f->col + 1u) % f->page;
        f->data_count++;
        return true;
    case P_READ:
    default:
        return false;
    }
}

static void on_start(fake *f)
{
    if (f->last_was_stop) {
        check_min(f, "tBUF (STOP to START)", f->t_stop, f->spec->buf);
    } else if (f->t_rise != NEVER) {
        check_min(f, "tSU;STA (SCL high to repeated START)", f->t_rise, f->spec->su_sta);
    }
    f->t_start = f->ns;
    f->last_was_start = true;
    f->last_was_stop = false;
    f->starts++;
    f->role = S_RECV;
    f->phase = P_ADDR;
    f->bit = 0;
    f->sr = 0;
    f->s_sda = true;
    f->write_aborted = false;
    f->data_count = 0;
    f->rises_since_start = 0;
}

static void on_stop(fake *f)
{
    check_min(f, "tSU;STO (SCL high to STOP)", f->t_rise, f->spec->su_sto);
    f->t_stop = f->ns;
    f->last_was_stop = true;
    f->last_was_start = false;
    f->stops++;
    if (f->phase == P_DATA && f->data_count > 0 && !f->write_aborted) {
        for (uint32_t c = 0; c < f->page; c++) {
            if (f->pend_valid[c]) {
                f->mem[f->page_base + c] = f->pend[c];
            }
        }
        f->commits++;
        f->busy_until = f->ns + f->write_cycle_ns;
    }
    f->role = S_IDLE;
    f->phase = P_ADDR;
    f->s_sda = true;
}

static void on_scl_rise(fake *f)
{
    check_min(f, "tLOW", f->t_fall, f->spec->low);
    if (f->t_fall != NEVER && f->ns - f->t_fall < f->min_low) {
        f->min_low = f->ns - f->t_fall;
    }
    if (f->t_rise != NEVER) {
        uint64_t period = f->ns - f->t_rise;
        if (period < f->min_period) {
            f->min_period = period;
        }
        check_min(f, "SCL period", f->t_rise, f->spec->period);
    }
    if (f->t_m_sda != NEVER && f->t_fall != NEVER && f->t_m_sda > f->t_fall) {
        check_min(f, "tSU;DAT (SDA set to SCL rise)", f->t_m_sda, f->spec->su_dat);
        if (f->ns - f->t_m_sda < f->min_su_dat) {
            f->min_su_dat = f->ns - f->t_m_sda;
        }
    }
    f->t_rise = f->ns;
    f->scl_rises++;
    f->last_was_start = false;
    f->last_was_stop = false;
    if (++f->rises_since_start == f->rogue_at_rise) {
        f->rogue_active = true;
    }
    if (f->role == S_RECV && f->bit < 8) {
        f->sr = (uint8_t)((f->sr << 1) | (f->sda ? 1u : 0u));
        f->bit++;
    } else if (f->role == S_SEND && f->bit == 8) {
        f->master_ack = !f->sda;
        if (f->master_ack) {
            f->master_acks++;
        } else {
            f->master_nacks++;
        }
    }
}

static void on_scl_fall(fake *f)
{
    check_min(f, "tHIGH", f->t_rise, f->spec->high);
    if (f->t_rise != NEVER && f->ns - f->t_rise < f->min_high) {
        f->min_high = f->ns - f->t_rise;
    }
    if (f->last_was_start) {
        check_min(f, "tHD;STA (START to SCL low)", f->t_start, f->spec->hd_sta);
    }
    f->t_fall = f->ns;
    f->last_was_start = false;
    f->rogue_active = false;
    if (f->stretch_ns > 0) {
        f->s_scl_low_until = f->ns + f->stretch_ns;
    }
    if (f->role == S_RECV) {
        /* Bits are counted on the rising edges; the fall after the eighth
         * opens the acknowledge slot (bit 9), the next one closes it. */
        if (f->bit == 8) {
            f->acked = take_byte(f, f->sr);
            f->s_sda = !f->acked;
            f->bit = 9;
        } else if (f->bit == 9) {
            f->s_sda = true;
            if (!f->acked) {
                f->role = S_IDLE;
            } else if (f->phase == P_READ) {
                f->role = S_SEND;
                load_byte(f);
            } else {
                f->bit = 0;
                f->sr = 0;
            }
        }
    } else if (f->role == S_SEND) {
        if (f->bit < 8) {
            if (++f->bit < 8) {
                f->s_sda = ((f->cur >> (7 - f->bit)) & 1u) != 0;
            } else {
                f->s_sda = true; /* the master's acknowledge slot */
            }
        } else if (f->master_ack) {
            load_byte(f);
        } else {
            f->role = S_IDLE;
            f->s_sda = true;
        }
    }
}

static void update(fake *f)
{
    for (int guard = 0; guard < 16; guard++) {
        bool scl = f->m_scl && !f->scl_shorted && f->ns >= f->s_scl_low_until;
        bool sda = f->m_sda && f->s_sda && !f->sda_shorted && !f->rogue_active;
        if (scl != f->scl) {
            f->scl = scl;
            if (scl) {
                on_scl_rise(f);
            } else {
                on_scl_fall(f);
            }
            continue;
        }
        if (sda != f->sda) {
            f->sda = sda;
            if (f->scl && !sda) {
                on_start(f);
            } else if (f->scl && sda) {
                on_stop(f);
            }
            continue;
        }
        return;
    }
    fail_msg("the fake bus did not settle");
}

/* ---- The pins, as the driver sees them ---------------------------------- */

static void pin_scl(void *ctx, bool release)
{
    fake *f = ctx;
    f->m_scl = release;
    update(f);
}

static void pin_sda(void *ctx, bool release)
{
    fake *f = ctx;
    if (release != f->m_sda) {
        if (!f->scl) {
            check_min(f, "tHD;DAT (SCL low to SDA change)", f->t_fall, f->spec->hd_dat);
        }
        f->t_m_sda = f->ns;
    }
    f->m_sda = release;
    update(f);
}

static bool read_scl(void *ctx)
{
    fake *f = ctx;
    update(f);
    return f->scl;
}

static bool read_sda(void *ctx)
{
    fake *f = ctx;
    update(f);
    return f->sda;
}

static void delay_ns(void *ctx, uint32_t ns)
{
    fake *f = ctx;
    uint64_t end = f->ns + ns;
    if (f->s_scl_low_until > f->ns && f->s_scl_low_until <= end) {
        f->ns = f->s_scl_low_until; /* the stretched SCL rises in the middle */
        update(f);
    }
    f->ns = end;
    update(f);
}

static uint32_t now_ms(void *ctx)
{
    fake *f = ctx;
    f->ns += 100; /* a clock read is not free: no loop can stand still */
    update(f);
    return (uint32_t)(f->ns / 1000000u);
}

/* The six plain operations only: every wait is a delay from the call. */
static const i2c_pins plain_pins = {
    .scl = pin_scl,
    .sda = pin_sda,
    .scl_read = read_scl,
    .sda_read = read_sda,
    .delay_ns = delay_ns,
    .now_ms = now_ms,
};

/* ---- The fast path -------------------------------------------------------------- */

static uint32_t ticks_now(const fake *f)
{
    return (uint32_t)(f->ns + f->tick_base);
}

/* An interrupt, perhaps: 0..2 us, about one call in four. */
static void maybe_interrupt(fake *f)
{
    if (!f->interrupts) {
        return;
    }
    f->rng = f->rng * 1103515245u + 12345u;
    uint32_t r = f->rng >> 16;
    if ((r & 3u) == 0u) {
        delay_ns(f, (r >> 2) % 2000u);
    }
}

/* The operation's own cost, then the wait until `n` ticks after `since`. */
static void wait_since(fake *f, uint32_t since, uint32_t n)
{
    f->fast_calls++;
    delay_ns(f, f->op_ns);
    uint32_t gone = ticks_now(f) - since;
    if (gone < n) {
        delay_ns(f, n - gone);
    }
    maybe_interrupt(f);
}

static uint32_t fast_ticks_of_ns(void *ctx, uint32_t ns)
{
    const fake *f = ctx;
    return f->clock_stands_still ? 0u : ns; /* a tick is a ns */
}

static uint32_t fast_scl_low_at(void *ctx, uint32_t since, uint32_t n)
{
    fake *f = ctx;
    wait_since(f, since, n);
    pin_scl(f, false);
    maybe_interrupt(f); /* between the edge and its time stamp */
    return ticks_now(f);
}

static uint32_t fast_sda_at(void *ctx, bool release, uint32_t since, uint32_t n)
{
    fake *f = ctx;
    wait_since(f, since, n);
    if (++f->sda_calls == f->delay_sda_call) {
        delay_ns(f, f->delay_sda_ns);
    }
    pin_sda(f, release);
    maybe_interrupt(f);
    return ticks_now(f);
}

static uint32_t fast_scl_rise_at(void *ctx, uint32_t since, uint32_t n, unsigned *lines)
{
    fake *f = ctx;
    wait_since(f, since, n);
    pin_scl(f, true);
    maybe_interrupt(f);
    /* SCL as it reads now (still low: stretched), SDA with it. */
    *lines = (read_scl(f) ? I2C_SCL_HIGH : 0u) | (read_sda(f) ? I2C_SDA_HIGH : 0u);
    return ticks_now(f);
}

static uint32_t fast_scl_pulse_at(void *ctx, uint32_t since, uint32_t n, uint32_t high,
                                  unsigned *lines)
{
    fake *f = ctx;
    uint32_t rose = fast_scl_rise_at(ctx, since, n, lines);
    if ((*lines & I2C_SCL_HIGH) == 0u) {
        return rose;
    }
    wait_since(f, rose, high);
    pin_scl(f, false);
    maybe_interrupt(f);
    return ticks_now(f);
}

static const i2c_pins fake_pins = {
    .scl = pin_scl,
    .sda = pin_sda,
    .scl_read = read_scl,
    .sda_read = read_sda,
    .delay_ns = delay_ns,
    .now_ms = now_ms,
    .ticks_of_ns = fast_ticks_of_ns,
    .scl_low_at = fast_scl_low_at,
    .sda_at = fast_sda_at,
    .scl_rise_at = fast_scl_rise_at,
    .scl_pulse_at = fast_scl_pulse_at,
};

/* ---- Fixtures ----------------------------------------------------------------- */

typedef struct fixture {
    fake f;
    i2c_bitbang bus;
} fixture;

/* A 24C256: 32 KiB, 64-byte pages, 2 address bytes, at 0x50. */
static void fake_init(fake *f, const spec_times *spec)
{
    memset(f, 0, sizeof *f);
    f->m_scl = f->m_sda = f->s_sda = true;
    f->scl = f->sda = true;
    f->present = true;
    f->base = 0x50;
    f->address_bytes = 2;
    f->size = 32768;
    f->page = 64;
    f->write_cycle_ns = 5000000;
    f->nack_data_after = -1;
    f->spec = spec;
    f->t_rise = f->t_fall = f->t_start = f->t_stop = f->t_m_sda = NEVER;
    f->min_period = f->min_low = f->min_high = f->min_su_dat = NEVER;
    f->rogue_at_rise = -1;
    /* The tick count wraps 5 ms into the test. */
    f->tick_base = 0xFFFFFFFFu - 5000000u;
    f->rng = 1;
    for (uint32_t i = 0; i < sizeof f->mem; i++) {
        f->mem[i] = (uint8_t)(i * 13u + 7u);
    }
}

static fixture fx;

static int setup(void **state)
{
    fake_init(&fx.f, &FAST);
    i2c_bitbang_init(&fx.bus, &fake_pins, &fx.f, 400000);
    *state = &fx;
    return 0;
}

static void assert_clean(const fake *f)
{
    if (f->violations != 0) {
        fail_msg("%d timing violations; first: %s", f->violations, f->first_violation);
    }
}

static void assert_idle(fake *f)
{
    update(f);
    assert_true(f->scl);
    assert_true(f->sda);
    assert_true(f->m_scl);
    assert_true(f->m_sda);
}

/* The master was reset while SCL was low and the part drove SDA low: when
 * the master's pins let go, SCL rises but SDA stays low, and the part is
 * waiting for the clocks of the rest of its byte. */
static void master_reset_mid_transfer(fake *f, slave_role role, slave_phase phase, int bit)
{
    f->m_scl = false;
    update(f);
    f->role = role;
    f->phase = phase;
    f->bit = bit;
    f->cur = 0x00;
    f->acked = true;
    f->s_sda = false;
    update(f);
    f->ns += 100000; /* the master's reset takes a while */
    f->m_scl = true;
    f->m_sda = true;
    update(f);
    assert_true(f->scl);
    assert_false(f->sda);
}

static void wait_write_cycle(fixture *x)
{
    i2c_bitbang_delay_ms(&x->bus, 6);
}

/* ---- Tests --------------------------------------------------------------------- */

static void test_timing_table(void **state)
{
    (void)state;
    /* Asked for, and what it must not exceed (400 kHz at most); the
     * longest rise time of the mode (UM10204 table 10; the fall time is
     * 300 ns in both). */
    static const struct {
        uint32_t asked, max_hz, tr;
        const spec_times *spec;
    } cases[] = {
        {10000, 10000, 1000, &STANDARD}, {100000, 100000, 1000, &STANDARD},
        {250000, 250000, 300, &FAST},    {400000, 400000, 300, &FAST},
        {1000000, 400000, 300, &FAST},
    };
    const uint32_t tf = 300;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        i2c_timing t = i2c_bitbang_timing(cases[i].asked);
        const spec_times *s = cases[i].spec;
        uint32_t tr = cases[i].tr;
        assert_true(t.period >= 1000000000u / cases[i].max_hz);
        assert_true((uint64_t)t.low + t.high >= t.period);
        /* Each minimum, plus the transition of the edge it is measured
         * from: a fall the master makes, SCL seen high, SDA let go. */
        assert_true(t.low >= s->low + tf && t.hd_sta >= s->hd_sta + tf);
        assert_true(t.high >= s->high + tr && t.su_sta >= s->su_sta + tr &&
                    t.su_sto >= s->su_sto + tr);
        assert_true(t.buf >= s->buf + tr * 3 / 2 && t.su_dat >= s->su_dat + tr * 3 / 2);
        assert_true(t.hd_dat >= 300 && t.hd_dat < t.low && t.su_dat < t.low);
    }
    /* In fast mode the minima and transitions fill the 2.5 us exactly:
     * nothing is added on top. */
    i2c_timing t = i2c_bitbang_timing(400000);
    assert_int_equal(t.low, 1600);
    assert_int_equal(t.high, 900);
    /* The AT24CM02's tSU;STO in standard mode. */
    assert_true(i2c_bitbang_timing(100000).su_sto >= 4700);
}

static void test_write_then_read_back(void **state)
{
    fixture *x = *state;
    uint8_t msg[2 + 16] = {0x01, 0x10};
    for (int i = 0; i < 16; i++) {
        msg[2 + i] = (uint8_t)(0xA0 + i);
    }
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_OK);
    assert_int_equal(x->f.commits, 1);
    assert_memory_equal(&x->f.mem[0x0110], msg + 2, 16);
    assert_idle(&x->f);

    /* In its write cycle the part does not answer; afterwards it does. */
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_NACK_ADDRESS);
    wait_write_cycle(x);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_OK);

    uint8_t addr[2] = {0x01, 0x10};
    uint8_t back[16];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, addr, 2, back, sizeof back),
                     STM32ISP_I2C_OK);
    assert_memory_equal(back, msg + 2, 16);
    assert_idle(&x->f);
    assert_clean(&x->f);
}

static void test_read_lengths(void **state)
{
    fixture *x = *state;
    static const size_t lens[] = {1, 2, 3, 64, 300};
    uint8_t back[300];
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        /* Each read but the first runs over the end of the memory, where
         * the part wraps to 0. */
        uint32_t at = (0x8000u - (uint32_t)lens[i] / 2u) & 0x7FFFu;
        uint8_t addr[2] = {(uint8_t)(at >> 8), (uint8_t)at};
        unsigned acks = x->f.master_acks, nacks = x->f.master_nacks, stops = x->f.stops;
        memset(back, 0, sizeof back);
        assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, addr, 2, back, lens[i]),
                         STM32ISP_I2C_OK);
        for (size_t j = 0; j < lens[i]; j++) {
            assert_int_equal(back[j], x->f.mem[(at + j) & 0x7FFFu]);
        }
        /* Every byte acknowledged but the last, which ends the read. */
        assert_int_equal(x->f.master_acks - acks, lens[i] - 1);
        assert_int_equal(x->f.master_nacks - nacks, 1);
        assert_int_equal(x->f.stops - stops, 1);
        assert_idle(&x->f);
    }
    assert_clean(&x->f);
}

static void test_runs_at_400khz(void **state)
{
    fixture *x = *state;
    uint8_t addr[2] = {0, 0};
    uint8_t back[256];
    uint64_t t0 = x->f.ns;
    unsigned rises0 = x->f.scl_rises;
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, addr, 2, back, sizeof back),
                     STM32ISP_I2C_OK);
    assert_clean(&x->f);
    /* Never faster than 400 kHz ... */
    assert_true(x->f.min_period >= 2500);
    /* ... and not much slower with pins that take no time: 9 clocks a byte,
     * plus STARTs and the STOP. */
    uint64_t per_clock = (x->f.ns - t0) / (x->f.scl_rises - rises0);
    assert_true(per_clock <= 2700);
}

static void test_standard_mode(void **state)
{
    fixture *x = *state;
    fake_init(&x->f, &STANDARD);
    i2c_bitbang_init(&x->bus, &fake_pins, &x->f, 100000);
    uint8_t msg[3] = {0x00, 0x20, 0x5A};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, 3), STM32ISP_I2C_OK);
    wait_write_cycle(x);
    uint8_t back[4];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, msg, 2, back, 4), STM32ISP_I2C_OK);
    assert_int_equal(back[0], 0x5A);
    assert_clean(&x->f);
    assert_true(x->f.min_period >= 10000);
}

static void test_absent_part(void **state)
{
    fixture *x = *state;
    x->f.present = false;
    uint8_t msg[3] = {0, 0, 1};
    uint8_t back[1];
    unsigned stops = x->f.stops;
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, 3), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, msg, 2, back, 1),
                     STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x51, NULL, 0), STM32ISP_I2C_NACK_ADDRESS);
    assert_int_equal(x->f.stops - stops, 3); /* each NACK ends with a STOP */
    assert_int_equal(x->f.commits, 0);
    assert_idle(&x->f);
    assert_clean(&x->f);
}

static void test_data_nack(void **state)
{
    fixture *x = *state;
    x->f.nack_data_after = 2;
    uint8_t before[8];
    memcpy(before, &x->f.mem[0x40], sizeof before);
    uint8_t msg[2 + 5] = {0x00, 0x40, 1, 2, 3, 4, 5};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_NACK_DATA);
    assert_memory_equal(&x->f.mem[0x40], before, sizeof before);
    assert_idle(&x->f);

    /* A refused word address before a read is a data NACK too, and no
     * read follows. */
    x->f.nack_data_after = -1;
    x->f.nack_word = true;
    unsigned sent = x->f.bytes_sent;
    uint8_t back[1];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, msg, 2, back, 1),
                     STM32ISP_I2C_NACK_DATA);
    assert_int_equal(x->f.bytes_sent, sent);
    assert_idle(&x->f);
    assert_clean(&x->f);
}

static void test_block_select(void **state)
{
    fixture *x = *state;
    /* A 24C16: 2 KiB, 16-byte pages, one address byte, three block bits. */
    x->f.address_bytes = 1;
    x->f.block_bits = 3;
    x->f.size = 2048;
    x->f.page = 16;
    uint8_t msg[1 + 4] = {0x10, 9, 8, 7, 6};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x53, msg, sizeof msg), STM32ISP_I2C_OK);
    assert_memory_equal(&x->f.mem[0x310], msg + 1, 4);
    wait_write_cycle(x);
    uint8_t back[4];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x53, msg, 1, back, 4), STM32ISP_I2C_OK);
    assert_memory_equal(back, msg + 1, 4);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x58, NULL, 0), STM32ISP_I2C_NACK_ADDRESS);
    assert_clean(&x->f);
}

static void test_page_wrap_is_the_parts_business(void **state)
{
    fixture *x = *state;
    /* 4 bytes from the last two of a page: the part wraps them to the
     * page's start. The bus driver sends them as given. */
    uint8_t msg[2 + 4] = {0x00, 0x3E, 0xB0, 0xB1, 0xB2, 0xB3};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_OK);
    assert_int_equal(x->f.mem[0x3E], 0xB0);
    assert_int_equal(x->f.mem[0x3F], 0xB1);
    assert_int_equal(x->f.mem[0x00], 0xB2);
    assert_int_equal(x->f.mem[0x01], 0xB3);
    assert_clean(&x->f);
}

static void test_recovers_a_slave_stuck_mid_read(void **state)
{
    fixture *x = *state;
    /* The master was reset while the part was sending a 0 bit: it holds SDA
     * low and waits for clocks. */
    master_reset_mid_transfer(&x->f, S_SEND, P_READ, 0);

    uint8_t addr[2] = {0x00, 0x08};
    uint8_t back[4];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, addr, 2, back, sizeof back),
                     STM32ISP_I2C_OK);
    assert_memory_equal(back, &x->f.mem[8], sizeof back);
    assert_int_equal(x->bus.recoveries, 1);
    assert_idle(&x->f);
    assert_clean(&x->f);
}

static void test_recovery_from_a_stuck_ack(void **state)
{
    fixture *x = *state;
    /* Reset in a write, while the part acknowledged a byte. */
    master_reset_mid_transfer(&x->f, S_RECV, P_WORD, 9);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_OK);
    assert_int_equal(x->bus.recoveries, 1);
    assert_int_equal(x->f.commits, 0);
    assert_clean(&x->f);
}

static void test_sda_shorted_low(void **state)
{
    fixture *x = *state;
    x->f.sda_shorted = true;
    uint64_t t0 = x->f.ns;
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_BUS_ERROR);
    uint8_t back[1];
    uint8_t addr[2] = {0, 0};
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, addr, 2, back, 1),
                     STM32ISP_I2C_BUS_ERROR);
    /* Nine clocks each, then it gives up: well under a millisecond. */
    assert_true(x->f.ns - t0 < 1000000u);
    assert_int_equal(x->bus.bus_errors, 2);
    assert_true(x->f.m_sda && x->f.m_scl); /* nothing left driven */
    x->f.sda_shorted = false;
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_OK);
}

static void test_scl_shorted_low(void **state)
{
    fixture *x = *state;
    x->f.scl_shorted = true;
    uint64_t t0 = x->f.ns;
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_BUS_ERROR);
    uint64_t took = x->f.ns - t0;
    /* Bounded by the stretch timeout (5 ms), with the clock's 1 ms grain. */
    assert_true(took >= (uint64_t)I2C_STRETCH_TIMEOUT_MS * 1000000u);
    assert_true(took <= (uint64_t)(I2C_STRETCH_TIMEOUT_MS + 2) * 1000000u);

    /* A slave that stretches beyond the bound in the middle of a transfer:
     * a bus error, and the bus still ends up idle for the next one. */
    x->f.scl_shorted = false;
    x->f.stretch_ns = 10000000;
    uint8_t msg[2 + 2] = {0x00, 0x00, 1, 2};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_BUS_ERROR);
    assert_int_equal(x->f.commits, 0);
    x->f.stretch_ns = 0;
    i2c_bitbang_delay_ms(&x->bus, 11);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_OK);
    assert_int_equal(x->f.commits, 1);
}

static void test_clock_stretching(void **state)
{
    fixture *x = *state;
    x->f.stretch_ns = 20000; /* 20 us after every fall */
    uint8_t msg[2 + 8] = {0x02, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_OK);
    wait_write_cycle(x);
    uint8_t back[8];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, msg, 2, back, 8), STM32ISP_I2C_OK);
    assert_memory_equal(back, msg + 2, 8);
    assert_clean(&x->f);
}

static void test_another_driver_on_sda(void **state)
{
    fixture *x = *state;
    /* At the first clock of the address byte (0xA0: its top bit is a 1)
     * something else pulls SDA low: the master must notice that it does not
     * own the line, and stop instead of carrying on. */
    x->f.rogue_at_rise = 1;
    uint8_t msg[2 + 1] = {0, 0, 0x42};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_BUS_ERROR);
    assert_int_equal(x->f.commits, 0);
    assert_true(x->f.m_sda && x->f.m_scl);
    x->f.rogue_at_rise = -1;
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_OK);
    assert_int_equal(x->f.mem[0], 0x42);
}

static void test_bad_arguments(void **state)
{
    fixture *x = *state;
    uint8_t b[2] = {0, 0};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x80, b, 2), STM32ISP_I2C_BUS_ERROR);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 2), STM32ISP_I2C_BUS_ERROR);
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, b, 2, b, 0), STM32ISP_I2C_BUS_ERROR);
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, b, 2, NULL, 1), STM32ISP_I2C_BUS_ERROR);
    assert_int_equal(x->f.starts, 0); /* refused before the bus was touched */
}

static void test_ops_table(void **state)
{
    fixture *x = *state;
    const stm32isp_i2c_ops *ops = &i2c_bitbang_ops;
    uint32_t t0 = ops->now_ms(&x->bus);
    ops->delay_ms(&x->bus, 3);
    uint32_t t1 = ops->now_ms(&x->bus);
    assert_true(t1 - t0 >= 3 && t1 - t0 <= 4);
    uint8_t msg[3] = {0x00, 0x05, 0x99};
    assert_int_equal(ops->write(&x->bus, 0x50, msg, 3), STM32ISP_I2C_OK);
    ops->delay_ms(&x->bus, 6);
    uint8_t back;
    assert_int_equal(ops->write_read(&x->bus, 0x50, msg, 2, &back, 1), STM32ISP_I2C_OK);
    assert_int_equal(back, 0x99);
}

/* The library's EEPROM driver on this bus: pages, write-cycle polling and
 * sequential reads, as the master will run them. */
static void test_eeprom_driver_on_the_bus(void **state)
{
    fixture *x = *state;
    const stm32isp_eeprom_part *part = stm32isp_eeprom_part_find("24c256");
    assert_non_null(part);
    stm32isp_eeprom ee;
    stm32isp_eeprom_init(&ee, &i2c_bitbang_ops, &x->bus, part, 0x50);
    static uint8_t data[1000], back[1000];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 31u + 5u);
    }
    assert_int_equal(stm32isp_eeprom_probe(&ee), STM32ISP_OK);
    assert_int_equal(stm32isp_eeprom_write(&ee, 1003, data, sizeof data), STM32ISP_OK);
    assert_memory_equal(&x->f.mem[1003], data, sizeof data);
    assert_true(ee.busy_polls > 0); /* it waited for the write cycles by polling */
    assert_int_equal(stm32isp_eeprom_read(&ee, 1003, back, sizeof back), STM32ISP_OK);
    assert_memory_equal(back, data, sizeof data);
    assert_clean(&x->f);

    x->f.present = false;
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, back, 16), STM32ISP_ERR_EEPROM_NACK);
    x->f.present = true;
    x->f.sda_shorted = true;
    assert_int_equal(stm32isp_eeprom_read(&ee, 0, back, 16), STM32ISP_ERR_EEPROM_BUS);
}

/* ---- Timing from the edges (the fast path) ------------------------------------ */

/* The driver's own waits, its table with the transition allowances, as
 * the checker's minima: stricter than the specification's. */
static spec_times own_spec(uint32_t hz)
{
    i2c_timing t = i2c_bitbang_timing(hz);
    return (spec_times){t.low, t.high,   t.su_sta, t.hd_sta, t.su_sto,
                        t.buf, t.su_dat, t.hd_dat, t.period};
}

/* Every kind of phase: a write, its write cycle, a read back across a
 * repeated START (ACKs, the final NACK, STOPs) and an absent address. */
static void exercise(fixture *x)
{
    uint8_t msg[2 + 5] = {0x01, 0x23, 0x00, 0xFF, 0x5A, 0xA5, 0x01};
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_OK);
    wait_write_cycle(x);
    uint8_t back[5];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, msg, 2, back, sizeof back),
                     STM32ISP_I2C_OK);
    assert_memory_equal(back, msg + 2, sizeof back);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x57, NULL, 0), STM32ISP_I2C_NACK_ADDRESS);
}

static spec_times own; /* the fake keeps a pointer to it */

/* With pins that take no time, every phase is exactly the driver's own
 * minimum: never shorter, and no wait added on top of another. */
static void test_phases_are_their_minimum_without_overhead(void **state)
{
    fixture *x = *state;
    static const uint32_t rates[] = {400000, 100000};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        own = own_spec(rates[i]);
        fake_init(&x->f, &own);
        i2c_bitbang_init(&x->bus, &fake_pins, &x->f, rates[i]);
        exercise(x);
        assert_clean(&x->f);
        assert_int_equal(x->f.min_low, own.low);
        assert_int_equal(x->f.min_high, own.high);
        assert_int_equal(x->f.min_period, own.period);
        assert_true(x->f.fast_calls > 0);
    }
}

/* Each fast operation costs 300 ns (a call and a GPIO access): the time
 * is part of the phase, not added to it, so the clock stays at 400 kHz. */
static void test_overhead_counts_towards_the_phase(void **state)
{
    fixture *x = *state;
    own = own_spec(400000);
    fake_init(&x->f, &own);
    x->f.op_ns = 300;
    i2c_bitbang_init(&x->bus, &fake_pins, &x->f, 400000);
    uint8_t addr[2] = {0, 0};
    uint8_t back[256];
    uint64_t t0 = x->f.ns;
    unsigned rises0 = x->f.scl_rises;
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, addr, 2, back, sizeof back),
                     STM32ISP_I2C_OK);
    assert_clean(&x->f);
    assert_int_equal(x->f.min_period, 2500);
    assert_true((x->f.ns - t0) / (x->f.scl_rises - rises0) <= 2600);
}

/* An interrupt anywhere, before an edge or between an edge and its time
 * stamp, only makes a phase longer. */
static void test_interrupts_only_lengthen_a_phase(void **state)
{
    fixture *x = *state;
    static const uint32_t rates[] = {400000, 100000};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        own = own_spec(rates[i]);
        fake_init(&x->f, &own);
        x->f.interrupts = true;
        x->f.op_ns = 100;
        i2c_bitbang_init(&x->bus, &fake_pins, &x->f, rates[i]);
        for (int k = 0; k < 4; k++) {
            exercise(x);
        }
        assert_clean(&x->f);
    }
}

/* SDA changed late in the low phase (an interrupt before it): SCL then
 * rises tSU;DAT after SDA, which is later than tLOW after SCL fell. */
static void test_late_sda_keeps_its_setup_time(void **state)
{
    fixture *x = *state;
    own = own_spec(400000);
    fake_init(&x->f, &own);
    i2c_bitbang_init(&x->bus, &fake_pins, &x->f, 400000);
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_OK);
    assert_true(x->f.min_su_dat > own.su_dat); /* as a rule it is far from binding */
    /* In the next transfer SDA moves first for the START, then for the
     * address's first bit (a 1): that one 1.5 us late, at 1.8 us into the
     * low phase, after tLOW (1.6 us) less tSU;DAT. */
    x->f.min_su_dat = NEVER;
    x->f.sda_calls = 0;
    x->f.delay_sda_call = 2;
    x->f.delay_sda_ns = 1500;
    assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, NULL, 0), STM32ISP_I2C_OK);
    assert_clean(&x->f);
    assert_int_equal(x->f.min_su_dat, own.su_dat);
    assert_true(x->f.min_low >= own.low);
}

/* The 32-bit tick count wraps in the middle of a transfer: at 97
 * different points of the first 40 us (an address and two data bytes,
 * every kind of edge), then in the middle of a long read. */
static void test_tick_counter_wraps_mid_transfer(void **state)
{
    fixture *x = *state;
    own = own_spec(400000);
    uint8_t msg[2 + 2] = {0x5A, 0xC3, 0x96, 0x0F};
    for (uint32_t at = 0; at < 40000u; at += 413u) {
        fake_init(&x->f, &own);
        i2c_bitbang_init(&x->bus, &fake_pins, &x->f, 400000);
        x->f.tick_base = 0x100000000ull - x->f.ns - at;
        assert_int_equal(i2c_bitbang_write(&x->bus, 0x50, msg, sizeof msg), STM32ISP_I2C_OK);
        assert_clean(&x->f);
        assert_int_equal(x->f.min_low, own.low);
        assert_int_equal(x->f.min_high, own.high);
    }
    fake_init(&x->f, &own);
    x->f.tick_base = 0x100000000ull - x->f.ns - 100000u; /* 100 us from now */
    i2c_bitbang_init(&x->bus, &fake_pins, &x->f, 400000);
    uint32_t before = ticks_now(&x->f);
    uint8_t addr[2] = {0, 0};
    uint8_t back[256];
    assert_int_equal(i2c_bitbang_write_read(&x->bus, 0x50, addr, 2, back, sizeof back),
                     STM32ISP_I2C_OK);
    assert_true(ticks_now(&x->f) < before);
    assert_memory_equal(back, x->f.mem, sizeof back);
    assert_clean(&x->f);
    assert_int_equal(x->f.min_low, own.low);
    assert_int_equal(x->f.min_high, own.high);
}

/* Pins with the six plain operations only (tests/unit/test_eesim_bus.c
 * has such a table): every wait a delay from the call, never shorter. */
static void test_plain_pins(void **state)
{
    fixture *x = *state;
    own = own_spec(400000);
    fake_init(&x->f, &own);
    i2c_bitbang_init(&x->bus, &plain_pins, &x->f, 400000);
    exercise(x);
    assert_clean(&x->f);
    assert_true(x->f.min_period >= 2500);
}

/* A part without a cycle counter: the pins say so (ticks_of_ns() is 0)
 * and the driver uses the plain operations. */
static void test_clock_that_stands_still(void **state)
{
    fixture *x = *state;
    own = own_spec(400000);
    fake_init(&x->f, &own);
    x->f.clock_stands_still = true;
    i2c_bitbang_init(&x->bus, &fake_pins, &x->f, 400000);
    exercise(x);
    assert_clean(&x->f);
    assert_int_equal(x->f.fast_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_table),
        cmocka_unit_test_setup(test_write_then_read_back, setup),
        cmocka_unit_test_setup(test_read_lengths, setup),
        cmocka_unit_test_setup(test_runs_at_400khz, setup),
        cmocka_unit_test_setup(test_standard_mode, setup),
        cmocka_unit_test_setup(test_absent_part, setup),
        cmocka_unit_test_setup(test_data_nack, setup),
        cmocka_unit_test_setup(test_block_select, setup),
        cmocka_unit_test_setup(test_page_wrap_is_the_parts_business, setup),
        cmocka_unit_test_setup(test_recovers_a_slave_stuck_mid_read, setup),
        cmocka_unit_test_setup(test_recovery_from_a_stuck_ack, setup),
        cmocka_unit_test_setup(test_sda_shorted_low, setup),
        cmocka_unit_test_setup(test_scl_shorted_low, setup),
        cmocka_unit_test_setup(test_clock_stretching, setup),
        cmocka_unit_test_setup(test_another_driver_on_sda, setup),
        cmocka_unit_test_setup(test_bad_arguments, setup),
        cmocka_unit_test_setup(test_ops_table, setup),
        cmocka_unit_test_setup(test_eeprom_driver_on_the_bus, setup),
        cmocka_unit_test_setup(test_phases_are_their_minimum_without_overhead, setup),
        cmocka_unit_test_setup(test_overhead_counts_towards_the_phase, setup),
        cmocka_unit_test_setup(test_interrupts_only_lengthen_a_phase, setup),
        cmocka_unit_test_setup(test_late_sda_keeps_its_setup_time, setup),
        cmocka_unit_test_setup(test_tick_counter_wraps_mid_transfer, setup),
        cmocka_unit_test_setup(test_plain_pins, setup),
        cmocka_unit_test_setup(test_clock_that_stands_still, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

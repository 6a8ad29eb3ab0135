/*
 * Software I2C master. The bus protocol as the I2C specification (NXP
 * UM10204) defines it: SDA changes only while SCL is low, except for START
 * (SDA falls while SCL is high) and STOP (SDA rises while SCL is high);
 * the receiver acknowledges each byte by pulling SDA low in a ninth clock.
 *
 * Every edge is made no sooner than the minimum after the edge it depends
 * on: SDA tHD;DAT after SCL fell, SCL up tLOW after it fell and tSU;DAT
 * after SDA moved, SCL down tHIGH after it was seen high. With the pins'
 * tick clock these are deadlines from the time stamp of that edge, so the
 * code run in between (calls, GPIO accesses, an interrupt) is part of the
 * phase rather than added to it; an interrupt can only make a phase
 * longer. Only waits are used for timing, so the code can only ever be
 * slower than the bus allows, never faster.
 */
#include "i2c_bitbang.h"

/* The longest delay between two polls of a stretched SCL. */
#define STRETCH_POLL_NS 1000u
/* Clock pulses that free any slave stuck in the middle of a byte: it gives
 * up SDA within 8 data bits and an acknowledge. */
#define RECOVERY_CLOCKS 9

#define PINS (bus->pins)
#define CTX  (bus->ctx)

i2c_timing i2c_bitbang_timing(uint32_t hz)
{
    i2c_timing t;
    if (hz == 0 || hz > 400000u) {
        hz = 400000u;
    }
    t.period = (1000000000u + hz - 1u) / hz;
    /* The longest fall and rise times a bus may have (UM10204 table 10). */
    const uint32_t tf = 300;
    uint32_t tr;
    if (hz <= 100000u) { /* standard mode */
        tr = 1000;
        t.low = 4700;
        t.su_sta = 4700;
        t.hd_sta = 4000;
        t.su_sto = 4700; /* AT24CM02; the I2C specification says 4000 */
        t.buf = 4700;
        t.high = 4000;
        t.su_dat = 250;
    } else { /* fast mode */
        tr = 300;
        t.low = 1300;
        t.su_sta = 600;
        t.hd_sta = 600;
        t.su_sto = 600;
        t.buf = 1300;
        t.high = 600;
        t.su_dat = 100;
    }
    /* From a fall the master makes; from SCL seen high; from SDA let go. */
    t.low += tf;
    t.hd_sta += tf;
    t.high += tr;
    t.su_sta += tr;
    t.su_sto += tr;
    t.buf += tr + tr / 2u;
    t.su_dat += tr + tr / 2u;
    /* The high phase takes whatever the period leaves over the low phase,
     * so that a whole clock is never shorter than 1/hz. */
    if (t.period > t.low + t.high) {
        t.high = t.period - t.low;
    }
    /* Devices must hold SDA 300 ns past SCL's fall internally; the master
     * waits as long (tf) before changing SDA, so that a slow falling edge
     * of SCL never sees SDA move. */
    t.hd_dat = tf;
    return t;
}

/* ---- The fast path made of the six plain operations --------------------------
 *
 * For pins without a tick clock: every tick count is 0 and a tick is a ns,
 * so that each wait is a delay_ns() of its whole length from the call,
 * after whatever the code took since the edge: slower, never shorter. The
 * ctx of these is the bus. */

static uint32_t plain_scl_low_at(void *ctx, uint32_t since, uint32_t n)
{
    i2c_bitbang *bus = ctx;
    (void)since;
    PINS->delay_ns(CTX, n);
    PINS->scl(CTX, false);
    return 0u;
}

static uint32_t plain_sda_at(void *ctx, bool release, uint32_t since, uint32_t n)
{
    i2c_bitbang *bus = ctx;
    (void)since;
    PINS->delay_ns(CTX, n);
    PINS->sda(CTX, release);
    return 0u;
}

static uint32_t plain_scl_rise_at(void *ctx, uint32_t since, uint32_t n, unsigned *lines)
{
    i2c_bitbang *bus = ctx;
    (void)since;
    PINS->delay_ns(CTX, n);
    PINS->scl(CTX, true);
    *lines = (PINS->scl_read(CTX) ? I2C_SCL_HIGH : 0u) | (PINS->sda_read(CTX) ? I2C_SDA_HIGH : 0u);
    return 0u;
}

static uint32_t plain_scl_pulse_at(void *ctx, uint32_t since, uint32_t n, uint32_t high,
                                   unsigned *lines)
{
    i2c_bitbang *bus = ctx;
    uint32_t rose = plain_scl_rise_at(ctx, since, n, lines);
    if ((*lines & I2C_SCL_HIGH) == 0u) {
        return rose;
    }
    PINS->delay_ns(CTX, high);
    PINS->scl(CTX, false);
    return 0u;
}

static const i2c_pins plain_fast = {
    .scl_low_at = plain_scl_low_at,
    .sda_at = plain_sda_at,
    .scl_rise_at = plain_scl_rise_at,
    .scl_pulse_at = plain_scl_pulse_at,
};

void i2c_bitbang_init(i2c_bitbang *bus, const i2c_pins *pins, void *ctx, uint32_t hz)
{
    bus->pins = pins;
    bus->ctx = ctx;
    bus->t = i2c_bitbang_timing(hz);
    bus->ticks = bus->t;
    if (pins->ticks_of_ns != NULL && pins->scl_low_at != NULL && pins->sda_at != NULL &&
        pins->scl_rise_at != NULL && pins->scl_pulse_at != NULL &&
        pins->ticks_of_ns(ctx, 1000u) != 0u) {
        bus->fast = pins;
        bus->fast_ctx = ctx;
        /* Converted once here: no division per bit. */
        const i2c_timing *ns = &bus->t;
        i2c_timing *ticks = &bus->ticks;
        ticks->low = pins->ticks_of_ns(ctx, ns->low);
        ticks->high = pins->ticks_of_ns(ctx, ns->high);
        ticks->su_sta = pins->ticks_of_ns(ctx, ns->su_sta);
        ticks->hd_sta = pins->ticks_of_ns(ctx, ns->hd_sta);
        ticks->su_sto = pins->ticks_of_ns(ctx, ns->su_sto);
        ticks->buf = pins->ticks_of_ns(ctx, ns->buf);
        ticks->hd_dat = pins->ticks_of_ns(ctx, ns->hd_dat);
        ticks->su_dat = pins->ticks_of_ns(ctx, ns->su_dat);
        ticks->period = pins->ticks_of_ns(ctx, ns->period);
        /* sda_set() counts on it: true of every mode, kept if rounding broke it. */
        if (bus->ticks.su_dat > bus->ticks.low) {
            bus->ticks.low = bus->ticks.su_dat;
        }
    } else {
        bus->fast = &plain_fast;
        bus->fast_ctx = bus;
    }
    /* Long enough ago (or, across a wrap of the counter, at most one wait
     * more: slower, never faster). */
    bus->rose = bus->fell = bus->moved = bus->rise_since = 0u;
    bus->rise_n = bus->ticks.low;
    /* Not known: the first transfer sets it (and, with it, the line). */
    bus->sda_released = false;
    bus->stretch_timeout_ms = I2C_STRETCH_TIMEOUT_MS;
    bus->recoveries = 0;
    bus->bus_errors = 0;
}

/* ---- Edges and phases ---------------------------------------------------------
 *
 * Each edge is made no sooner than `n` ticks after the tick count `since`
 * and returns the tick count after it. What runs in every bit is always
 * inlined, whatever -Os thinks of it. */
#define HOT  static inline __attribute__((always_inline))
#define FAST (bus->fast)
#define FCTX (bus->fast_ctx)

/* SCL fell at `t`: it may rise again tLOW later. */
HOT void scl_fell(i2c_bitbang *bus, uint32_t t)
{
    bus->fell = t;
    bus->rise_since = t;
    bus->rise_n = bus->ticks.low;
}

/* SDA changed while SCL is high (START, STOP). */
HOT void sda_edge(i2c_bitbang *bus, bool release, uint32_t since, uint32_t n)
{
    bus->sda_released = release;
    bus->moved = FAST->sda_at(FCTX, release, since, n);
}

/* SDA set while SCL is low, tHD;DAT after it fell; nothing moves if it is
 * there already. SCL may then rise no sooner than tSU;DAT after SDA
 * moved, which is later than tLOW after SCL fell only when something
 * delayed the SDA change (init made su_dat < low). */
HOT void sda_set(i2c_bitbang *bus, bool release)
{
    if (release == bus->sda_released) {
        return;
    }
    sda_edge(bus, release, bus->fell, bus->ticks.hd_dat);
    if (bus->moved - bus->fell > bus->ticks.low - bus->ticks.su_dat) {
        bus->rise_since = bus->moved;
        bus->rise_n = bus->ticks.su_dat;
    }
}

/* SCL was let go but reads low: a slave stretches the clock. Waits until
 * it is high, but not beyond stretch_timeout_ms: bounded by the clock and,
 * should the clock stand still, by a count of polls. Then `*lines` and
 * bus->rose as scl_rise_at() gives them. */
static __attribute__((noinline)) int wait_stretch(i2c_bitbang *bus, unsigned *lines)
{
    uint32_t start = PINS->now_ms(CTX);
    uint32_t max_polls = (bus->stretch_timeout_ms + 1u) * (1000000u / STRETCH_POLL_NS);
    for (uint32_t polls = 0; !PINS->scl_read(CTX); polls++) {
        if (PINS->now_ms(CTX) - start > bus->stretch_timeout_ms || polls >= max_polls) {
            return STM32ISP_I2C_BUS_ERROR;
        }
        PINS->delay_ns(CTX, STRETCH_POLL_NS);
    }
    /* SCL is high: letting it go again moves nothing and time-stamps it. */
    bus->rose = FAST->scl_rise_at(FCTX, 0u, 0u, lines);
    return STM32ISP_I2C_OK;
}

/*
 * SCL low on entry, SDA set: SCL let go as soon as it may and seen high (a
 * slave stretching it is waited out, bounded). Records the rise in
 * bus->rose and `*lines` as read then, I2C_SCL_HIGH | I2C_SDA_HIGH; false:
 * SCL was held low too long. For START, STOP and recovery.
 */
static bool clock_up(i2c_bitbang *bus, unsigned *lines)
{
    bus->rose = FAST->scl_rise_at(FCTX, bus->rise_since, bus->rise_n, lines);
    return (*lines & I2C_SCL_HIGH) != 0u || wait_stretch(bus, lines) == STM32ISP_I2C_OK;
}

/* The end of a high phase: SCL pulled low tHIGH after it was seen high.
 * Also right after a failure, while SCL may be high. */
HOT void clock_down(i2c_bitbang *bus)
{
    scl_fell(bus, FAST->scl_low_at(FCTX, bus->rose, bus->ticks.high));
}

/*
 * One data or acknowledge bit, SCL low on entry and on return: SDA set
 * (sda_set()), then a whole clock pulse, its high phase tHIGH from when
 * SCL was seen high, a slave stretching the clock waited out (bounded).
 * Returns SDA as read when SCL was seen high, I2C_SDA_HIGH or 0 (the
 * specification has the transmitter's data valid tSU;DAT before SCL
 * rises; a 24Cxx's tAA, at most 900 ns after the fall, is well inside the
 * low phase), or a bus error: SCL held low too long.
 */
HOT int clock_bit(i2c_bitbang *bus, bool sda_release)
{
    sda_set(bus, sda_release);
    unsigned lines;
    uint32_t t = FAST->scl_pulse_at(FCTX, bus->rise_since, bus->rise_n, bus->ticks.high, &lines);
    if ((lines & I2C_SCL_HIGH) == 0u) {
        if (wait_stretch(bus, &lines) != STM32ISP_I2C_OK) {
            return STM32ISP_I2C_BUS_ERROR;
        }
        clock_down(bus);
    } else {
        scl_fell(bus, t);
        /* The rise was before the fall: timing from the fall is only
         * longer. */
        bus->rose = t;
    }
    return (int)(lines & I2C_SDA_HIGH);
}

/*
 * Sends a byte, then lets SDA go for the slave's acknowledge (the ninth
 * clock): returns OK (ACK), 1 (NACK), or a bus error. A released SDA that
 * reads low while the master sends a 1 is another driver on the bus (a
 * second master, a confused slave, a short): a bus error.
 */
static int send_byte(i2c_bitbang *bus, uint8_t byte)
{
    int sda = 0;
    for (unsigned i = 0; i < 9u; i++) {
        bool mine = i < 8u;
        bool one = !mine || ((byte << i) & 0x80u) != 0u;
        sda = clock_bit(bus, one);
        if (sda < 0 || (mine && one && sda == 0)) {
            return STM32ISP_I2C_BUS_ERROR;
        }
    }
    return sda != 0 ? 1 : STM32ISP_I2C_OK;
}

/*
 * Reads a byte, eight clocks with SDA let go, and acknowledges it in the
 * ninth, or not (the last byte of a read: the NACK tells the slave to let
 * SDA go so that the STOP can be made; SDA must then read high).
 */
static int receive_byte(i2c_bitbang *bus, uint8_t *byte, bool ack)
{
    unsigned v = 0;
    for (unsigned i = 0; i < 9u; i++) {
        int sda = clock_bit(bus, i < 8u || !ack);
        if (sda < 0) {
            return STM32ISP_I2C_BUS_ERROR;
        }
        v = (v << 1) | (unsigned)sda / I2C_SDA_HIGH;
    }
    if (!ack && (v & 1u) == 0u) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    *byte = (uint8_t)(v >> 1);
    return STM32ISP_I2C_OK;
}

/* SCL and SDA high on entry (an idle bus, or the high phase before a
 * repeated START); SDA falls tSU;STA after SCL was last seen rising (on an
 * idle bus that was in recover(); tBUF was waited after the STOP), SCL
 * tHD;STA after it. Ends with SCL low. */
static int start_condition(i2c_bitbang *bus)
{
    if (!PINS->sda_read(CTX) || !PINS->scl_read(CTX)) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    sda_edge(bus, false, bus->rose, bus->ticks.su_sta);
    scl_fell(bus, FAST->scl_low_at(FCTX, bus->moved, bus->ticks.hd_sta));
    return STM32ISP_I2C_OK;
}

/* From SCL low after an acknowledge: SDA up, SCL up, then START. */
static int repeated_start(i2c_bitbang *bus)
{
    unsigned lines;
    sda_set(bus, true);
    if (!clock_up(bus, &lines)) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    return start_condition(bus);
}

/* From SCL low: SDA low, SCL up, SDA up tSU;STO later while SCL is high;
 * then the bus free time before anything else may start (a plain delay:
 * once per transfer). */
static int stop_condition(i2c_bitbang *bus)
{
    unsigned lines;
    sda_set(bus, false);
    if (!clock_up(bus, &lines)) {
        sda_set(bus, true);
        return STM32ISP_I2C_BUS_ERROR;
    }
    sda_edge(bus, true, bus->rose, bus->ticks.su_sto);
    PINS->delay_ns(CTX, bus->t.buf);
    return PINS->sda_read(CTX) ? STM32ISP_I2C_OK : STM32ISP_I2C_BUS_ERROR;
}

int i2c_bitbang_recover(i2c_bitbang *bus)
{
    /* SDA let go, SCL let go and seen high. */
    unsigned lines;
    sda_set(bus, true);
    if (!clock_up(bus, &lines)) {
        bus->bus_errors++;
        return STM32ISP_I2C_BUS_ERROR; /* SCL held low: nothing to do from here */
    }
    if ((lines & I2C_SDA_HIGH) != 0u) {
        return STM32ISP_I2C_OK;
    }
    /* A slave is in the middle of sending a byte (the master was reset
     * during a read): clock it out; it lets go at the latest in the
     * acknowledge slot, where our released SDA reads as a NACK. */
    bus->recoveries++;
    for (int i = 0; i < RECOVERY_CLOCKS && (lines & I2C_SDA_HIGH) == 0u; i++) {
        clock_down(bus);
        if (!clock_up(bus, &lines)) {
            bus->bus_errors++;
            return STM32ISP_I2C_BUS_ERROR;
        }
    }
    if ((lines & I2C_SDA_HIGH) == 0u) {
        bus->bus_errors++;
        return STM32ISP_I2C_BUS_ERROR; /* SDA shorted low */
    }
    /* SCL is high and SDA free: a START and a STOP right here, without
     * another low phase in which the slave could drive its next bit, reset
     * every slave's bus logic. */
    sda_edge(bus, false, bus->rose, bus->ticks.su_sta);
    sda_edge(bus, true, bus->moved,
             bus->ticks.hd_sta > bus->ticks.su_sto ? bus->ticks.hd_sta : bus->ticks.su_sto);
    PINS->delay_ns(CTX, bus->t.buf);
    if (!PINS->sda_read(CTX) || !PINS->scl_read(CTX)) {
        bus->bus_errors++;
        return STM32ISP_I2C_BUS_ERROR;
    }
    return STM32ISP_I2C_OK;
}

/* After a failure in the middle of a transfer: try to leave the bus idle
 * with a STOP, and count the error. The next transfer recovers the bus if
 * this did not. SCL may still be high (tHIGH applies) or already low. */
static int fail(i2c_bitbang *bus)
{
    bus->bus_errors++;
    clock_down(bus);
    (void)stop_condition(bus);
    return STM32ISP_I2C_BUS_ERROR;
}

/* START and the address byte. Returns OK, NACK_ADDRESS (a STOP has been
 * sent) or a bus error. */
static int begin(i2c_bitbang *bus, uint8_t address, bool read, bool repeated)
{
    int rc = repeated ? repeated_start(bus) : start_condition(bus);
    if (rc != STM32ISP_I2C_OK) {
        return fail(bus);
    }
    rc = send_byte(bus, (uint8_t)((address << 1) | (read ? 1u : 0u)));
    if (rc < 0) {
        return fail(bus);
    }
    if (rc > 0) {
        return stop_condition(bus) == STM32ISP_I2C_OK ? STM32ISP_I2C_NACK_ADDRESS : fail(bus);
    }
    return STM32ISP_I2C_OK;
}

/* Sends `len` bytes after the address; OK, NACK_DATA (STOP sent) or a bus
 * error. */
static int send_all(i2c_bitbang *bus, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int rc = send_byte(bus, data[i]);
        if (rc < 0) {
            return fail(bus);
        }
        if (rc > 0) {
            return stop_condition(bus) == STM32ISP_I2C_OK ? STM32ISP_I2C_NACK_DATA : fail(bus);
        }
    }
    return STM32ISP_I2C_OK;
}

int i2c_bitbang_write(void *ctx, uint8_t address, const uint8_t *data, size_t len)
{
    i2c_bitbang *bus = ctx;
    if (address > 0x7Fu || (len > 0 && data == NULL)) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    if (i2c_bitbang_recover(bus) != STM32ISP_I2C_OK) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    int rc = begin(bus, address, false, false);
    if (rc != STM32ISP_I2C_OK) {
        return rc;
    }
    rc = send_all(bus, data, len);
    if (rc != STM32ISP_I2C_OK) {
        return rc;
    }
    return stop_condition(bus) == STM32ISP_I2C_OK ? STM32ISP_I2C_OK : fail(bus);
}

int i2c_bitbang_write_read(void *ctx, uint8_t address, const uint8_t *wdata, size_t wlen,
                           uint8_t *rdata, size_t rlen)
{
    i2c_bitbang *bus = ctx;
    if (address > 0x7Fu || (wlen > 0 && wdata == NULL) || rlen == 0 || rdata == NULL) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    if (i2c_bitbang_recover(bus) != STM32ISP_I2C_OK) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    int rc = begin(bus, address, false, false);
    if (rc != STM32ISP_I2C_OK) {
        return rc;
    }
    rc = send_all(bus, wdata, wlen);
    if (rc != STM32ISP_I2C_OK) {
        return rc;
    }
    rc = begin(bus, address, true, true);
    if (rc != STM32ISP_I2C_OK) {
        return rc;
    }
    for (size_t i = 0; i < rlen; i++) {
        if (receive_byte(bus, &rdata[i], i + 1 < rlen) != STM32ISP_I2C_OK) {
            return fail(bus);
        }
    }
    return stop_condition(bus) == STM32ISP_I2C_OK ? STM32ISP_I2C_OK : fail(bus);
}

uint32_t i2c_bitbang_now_ms(void *ctx)
{
    i2c_bitbang *bus = ctx;
    return PINS->now_ms(CTX);
}

void i2c_bitbang_delay_ms(void *ctx, uint32_t ms)
{
    i2c_bitbang *bus = ctx;
    for (uint32_t i = 0; i < ms; i++) {
        PINS->delay_ns(CTX, 1000000u);
    }
}

const stm32isp_i2c_ops i2c_bitbang_ops = {
    .write = i2c_bitbang_write,
    .write_read = i2c_bitbang_write_read,
    .now_ms = i2c_bitbang_now_ms,
    .delay_ms = i2c_bitbang_delay_ms,
};

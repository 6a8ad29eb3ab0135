/*
 * Software I2C master. The bus protocol as the I2C specification (NXP
 * UM10204) defines it: SDA changes only while SCL is low, except for START
 * (SDA falls while SCL is high) and STOP (SDA rises while SCL is high);
 * the receiver acknowledges each byte by pulling SDA low in a ninth clock.
 *
 * Every SCL low phase begins with the SDA hold time, then SDA is set, then
 * the rest of tLOW; every high phase waits for SCL to really be high (a
 * slave may stretch it) and then tHIGH. Only delays are used for timing,
 * so the code can only ever be slower than the bus allows, never faster.
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

void i2c_bitbang_init(i2c_bitbang *bus, const i2c_pins *pins, void *ctx, uint32_t hz)
{
    bus->pins = pins;
    bus->ctx = ctx;
    bus->t = i2c_bitbang_timing(hz);
    bus->stretch_timeout_ms = I2C_STRETCH_TIMEOUT_MS;
    bus->recoveries = 0;
    bus->bus_errors = 0;
}

static void wait_ns(i2c_bitbang *bus, uint32_t ns)
{
    PINS->delay_ns(CTX, ns);
}

/* Lets SCL go and waits until it is high: a slave may hold it low for a
 * while (clock stretching), but not beyond stretch_timeout_ms. Bounded by
 * the clock and, should the clock stand still, by a count of polls. */
static int scl_high(i2c_bitbang *bus)
{
    PINS->scl(CTX, true);
    if (PINS->scl_read(CTX)) {
        return STM32ISP_I2C_OK;
    }
    uint32_t start = PINS->now_ms(CTX);
    uint32_t max_polls = (bus->stretch_timeout_ms + 1u) * (1000000u / STRETCH_POLL_NS);
    for (uint32_t polls = 0; !PINS->scl_read(CTX); polls++) {
        if (PINS->now_ms(CTX) - start > bus->stretch_timeout_ms || polls >= max_polls) {
            return STM32ISP_I2C_BUS_ERROR;
        }
        wait_ns(bus, STRETCH_POLL_NS);
    }
    return STM32ISP_I2C_OK;
}

/* SCL is low on entry and on a successful return. */
static int clock_bit_out(i2c_bitbang *bus, bool bit)
{
    wait_ns(bus, bus->t.hd_dat);
    PINS->sda(CTX, bit);
    wait_ns(bus, bus->t.low - bus->t.hd_dat);
    if (scl_high(bus) != STM32ISP_I2C_OK) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    wait_ns(bus, bus->t.high);
    /* A released SDA that reads low: another driver on the bus (a second
     * master, a confused slave, a short). Stop driving and report it. */
    if (bit && !PINS->sda_read(CTX)) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    PINS->scl(CTX, false);
    return STM32ISP_I2C_OK;
}

/* SCL low on entry and return; `*bit` is SDA sampled at the end of the
 * high phase, when the slave's data has long been valid. */
static int clock_bit_in(i2c_bitbang *bus, bool *bit)
{
    wait_ns(bus, bus->t.hd_dat);
    PINS->sda(CTX, true);
    wait_ns(bus, bus->t.low - bus->t.hd_dat);
    if (scl_high(bus) != STM32ISP_I2C_OK) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    wait_ns(bus, bus->t.high);
    *bit = PINS->sda_read(CTX);
    PINS->scl(CTX, false);
    return STM32ISP_I2C_OK;
}

/* Sends a byte and reads the acknowledge: OK (ACK), 1 (NACK), or a bus
 * error. */
static int send_byte(i2c_bitbang *bus, uint8_t byte)
{
    for (int i = 7; i >= 0; i--) {
        if (clock_bit_out(bus, (byte >> i) & 1u) != STM32ISP_I2C_OK) {
            return STM32ISP_I2C_BUS_ERROR;
        }
    }
    bool nack;
    if (clock_bit_in(bus, &nack) != STM32ISP_I2C_OK) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    return nack ? 1 : STM32ISP_I2C_OK;
}

/* Reads a byte and acknowledges it, or not (the last byte of a read: the
 * NACK tells the slave to let SDA go so that the STOP can be made). */
static int receive_byte(i2c_bitbang *bus, uint8_t *byte, bool ack)
{
    uint8_t v = 0;
    for (int i = 0; i < 8; i++) {
        bool bit;
        if (clock_bit_in(bus, &bit) != STM32ISP_I2C_OK) {
            return STM32ISP_I2C_BUS_ERROR;
        }
        v = (uint8_t)((v << 1) | (bit ? 1u : 0u));
    }
    *byte = v;
    return clock_bit_out(bus, !ack);
}

/* SCL and SDA high on entry (an idle bus, or the high phase before a
 * repeated START); ends with SCL low. */
static int start_condition(i2c_bitbang *bus)
{
    if (!PINS->sda_read(CTX) || !PINS->scl_read(CTX)) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    PINS->sda(CTX, false);
    wait_ns(bus, bus->t.hd_sta);
    PINS->scl(CTX, false);
    return STM32ISP_I2C_OK;
}

/* From SCL low after an acknowledge: SDA up, SCL up, then START. */
static int repeated_start(i2c_bitbang *bus)
{
    wait_ns(bus, bus->t.hd_dat);
    PINS->sda(CTX, true);
    wait_ns(bus, bus->t.low - bus->t.hd_dat);
    if (scl_high(bus) != STM32ISP_I2C_OK) {
        return STM32ISP_I2C_BUS_ERROR;
    }
    wait_ns(bus, bus->t.su_sta);
    return start_condition(bus);
}

/* From SCL low: SDA low, SCL up, SDA up while SCL is high; then the bus
 * free time before anything else may start. */
static int stop_condition(i2c_bitbang *bus)
{
    wait_ns(bus, bus->t.hd_dat);
    PINS->sda(CTX, false);
    wait_ns(bus, bus->t.low - bus->t.hd_dat);
    if (scl_high(bus) != STM32ISP_I2C_OK) {
        PINS->sda(CTX, true);
        return STM32ISP_I2C_BUS_ERROR;
    }
    wait_ns(bus, bus->t.su_sto);
    PINS->sda(CTX, true);
    wait_ns(bus, bus->t.buf);
    return PINS->sda_read(CTX) ? STM32ISP_I2C_OK : STM32ISP_I2C_BUS_ERROR;
}

int i2c_bitbang_recover(i2c_bitbang *bus)
{
    PINS->sda(CTX, true);
    if (scl_high(bus) != STM32ISP_I2C_OK) {
        bus->bus_errors++;
        return STM32ISP_I2C_BUS_ERROR; /* SCL held low: nothing to do from here */
    }
    if (PINS->sda_read(CTX)) {
        return STM32ISP_I2C_OK;
    }
    /* A slave is in the middle of sending a byte (the master was reset
     * during a read): clock it out; it lets go at the latest in the
     * acknowledge slot, where our released SDA reads as a NACK. */
    bus->recoveries++;
    for (int i = 0; i < RECOVERY_CLOCKS && !PINS->sda_read(CTX); i++) {
        wait_ns(bus, bus->t.high);
        PINS->scl(CTX, false);
        wait_ns(bus, bus->t.low);
        if (scl_high(bus) != STM32ISP_I2C_OK) {
            bus->bus_errors++;
            return STM32ISP_I2C_BUS_ERROR;
        }
    }
    if (!PINS->sda_read(CTX)) {
        bus->bus_errors++;
        return STM32ISP_I2C_BUS_ERROR; /* SDA shorted low */
    }
    /* SCL is high and SDA free: a START and a STOP right here, without
     * another low phase in which the slave could drive its next bit, reset
     * every slave's bus logic. */
    wait_ns(bus, bus->t.su_sta);
    PINS->sda(CTX, false);
    wait_ns(bus, bus->t.hd_sta > bus->t.su_sto ? bus->t.hd_sta : bus->t.su_sto);
    PINS->sda(CTX, true);
    wait_ns(bus, bus->t.buf);
    if (!PINS->sda_read(CTX) || !PINS->scl_read(CTX)) {
        bus->bus_errors++;
        return STM32ISP_I2C_BUS_ERROR;
    }
    return STM32ISP_I2C_OK;
}

/* After a failure in the middle of a transfer: try to leave the bus idle
 * with a STOP, and count the error. The next transfer recovers the bus if
 * this did not. */
static int fail(i2c_bitbang *bus)
{
    bus->bus_errors++;
    PINS->scl(CTX, false);
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
        wait_ns(bus, 1000000u);
    }
}

const stm32isp_i2c_ops i2c_bitbang_ops = {
    .write = i2c_bitbang_write,
    .write_read = i2c_bitbang_write_read,
    .now_ms = i2c_bitbang_now_ms,
    .delay_ms = i2c_bitbang_delay_ms,
};

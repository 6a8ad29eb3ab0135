/*
 * An I2C master on two open-drain pins, driven by software. It implements
 * the library's stm32isp_i2c_ops (stm32isp/eeprom.h), so the EEPROM driver
 * runs on it unchanged.
 *
 * The pins sit behind a small ops table (i2c_pins): on the MCU two GPIOs
 * and the cycle counter (i2c_gpio.c), on the host a bit-level model of a
 * 24Cxx (tests/unit/test_fw_i2c.c) that also checks every bus timing.
 *
 * Why software and not the F103's I2C peripheral: docs/firmware.md.
 *
 * Every wait is bounded: a slave may stretch SCL for at most
 * `stretch_timeout_ms`, after which the transfer is a bus error. A slave
 * left holding SDA low (the master was reset in the middle of a read) is
 * freed before the next transfer by clocking SCL until it lets go, at most
 * nine times, then a STOP.
 */
#ifndef FW_I2C_BITBANG_H
#define FW_I2C_BITBANG_H

#include "stm32isp/eeprom.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct i2c_pins {
    /* Lets the line go (true: the pull-up raises it) or pulls it low. */
    void (*scl)(void *ctx, bool release);
    void (*sda)(void *ctx, bool release);
    /* The line's level as it is on the wire. */
    bool (*scl_read)(void *ctx);
    bool (*sda_read)(void *ctx);
    /* Waits at least `ns` nanoseconds (longer is always safe). */
    void (*delay_ns)(void *ctx, uint32_t ns);
    /* A millisecond clock, which bounds clock stretching. */
    uint32_t (*now_ms)(void *ctx);

    /*
     * Optional, all five or none: the fast path, with a tick clock (on the
     * MCU the CPU's cycle counter). Each edge is then made at a deadline,
     * a number of ticks after the time stamp of the edge it depends on, so
     * that the time the code takes in between (calls, GPIO accesses, an
     * interrupt) counts towards the phase instead of adding to it. Without
     * them each wait is a delay_ns() counted from when it is asked, after
     * that time: slower, never shorter (tests/unit/test_eesim_bus.c's pins
     * are such a table). Tick counts wrap at 2^32 and are only ever
     * subtracted; a time stamp is read after its edge has reached the pin,
     * never before.
     */
    /* Ticks in `ns` nanoseconds, rounded up; called by init only. 0 for a
     * non-zero `ns`: there is no clock after all (an F103 clone without a
     * cycle counter), and the plain operations are used. */
    uint32_t (*ticks_of_ns)(void *ctx, uint32_t ns);
    /* Each changes a line as scl()/sda() do, once at least `n` ticks have
     * passed since the tick count `since`, and returns the tick count read
     * after the change has reached the pin. */
    uint32_t (*scl_low_at)(void *ctx, uint32_t since, uint32_t n);
    uint32_t (*sda_at)(void *ctx, bool release, uint32_t since, uint32_t n);
    /* Lets SCL go and polls it, a bounded number of times, until it reads
     * high; the tick count is read after the last poll, and `*lines` is
     * what that poll read: I2C_SCL_HIGH | I2C_SDA_HIGH. SCL still low is a
     * slave stretching the clock, for the caller to wait out. */
    uint32_t (*scl_rise_at)(void *ctx, uint32_t since, uint32_t n, unsigned *lines);
    /* A whole clock pulse in one call, so that no call overhead lands in
     * the high phase: scl_rise_at(), then, if SCL was seen high, SCL
     * pulled low once `high` ticks have passed since then. Returns the
     * tick count after the fall, or, if SCL was not seen high (it is left
     * let go), the one scl_rise_at() would have returned. */
    uint32_t (*scl_pulse_at)(void *ctx, uint32_t since, uint32_t n, uint32_t high, unsigned *lines);
} i2c_pins;

#define I2C_SCL_HIGH 1u
#define I2C_SDA_HIGH 2u

/*
 * The master's waits, in ns: each the I2C minimum (UM10204 table 10; at
 * 100 kHz tSU;STO is the AT24CM02's stricter 4.7 us) plus the transition
 * of the edge it is measured from, which the specification counts at 0.3
 * or 0.7 VDD while the master only knows when it moved the pin: tf (300 ns)
 * after it pulls a line low; tr (300 ns fast mode, 1 us standard mode)
 * after SCL reads high, as the F103 sees a rising line high well below
 * 0.7 VDD; 1.5 tr after it lets SDA go (an RC edge takes 1.2 RC from 0 to
 * 0.7 VDD, tr is 0.85 RC). In fast mode tLOW + tf + tHIGH + tr is exactly
 * the 2.5 us period; `period` is 1/hz, and `high` is lengthened to fill it.
 */
/* Adding a field: convert it in i2c_bitbang_init() too. */
typedef struct i2c_timing {
    uint32_t low, high, su_sta, hd_sta, su_sto, buf, hd_dat, su_dat, period;
} i2c_timing;

typedef struct i2c_bitbang {
    const i2c_pins *pins;
    void *ctx;
    i2c_timing t;     /* in ns */
    i2c_timing ticks; /* the same in the pins' ticks (ns without a clock) */
    /* The fast path's operations: the pins', or the driver's own made of
     * the plain ones (their ctx is then the bus). */
    const i2c_pins *fast;
    void *fast_ctx;
    /* Tick counts of the last SCL rise (seen high), SCL fall and SDA
     * change; SDA as the master last set it; SCL may rise next no sooner
     * than rise_n ticks after rise_since. */
    uint32_t rose, fell, moved;
    bool sda_released;
    uint32_t rise_since, rise_n;
    uint32_t stretch_timeout_ms;
    /* Counters for diagnostics and tests. */
    uint32_t recoveries; /* times a stuck SDA was clocked free */
    uint32_t bus_errors;
} i2c_bitbang;

#define I2C_STRETCH_TIMEOUT_MS 5u

/* Prepares the bus for SCL at most `hz` (clamped to 400 kHz; 100 kHz and
 * below use the standard-mode timings). No pin moves. */
void i2c_bitbang_init(i2c_bitbang *bus, const i2c_pins *pins, void *ctx, uint32_t hz);

/* The timings init() chose for `hz`. */
i2c_timing i2c_bitbang_timing(uint32_t hz);

/* stm32isp_i2c_ops functions; `ctx` is the i2c_bitbang. */
int i2c_bitbang_write(void *ctx, uint8_t address, const uint8_t *data, size_t len);
int i2c_bitbang_write_read(void *ctx, uint8_t address, const uint8_t *wdata, size_t wlen,
                           uint8_t *rdata, size_t rlen);
uint32_t i2c_bitbang_now_ms(void *ctx);
void i2c_bitbang_delay_ms(void *ctx, uint32_t ms);

/* The four together, ready for stm32isp_eeprom_init(). */
extern const stm32isp_i2c_ops i2c_bitbang_ops;

/*
 * Makes the bus idle: waits (bounded) for SCL, clocks a slave that holds
 * SDA low free and ends with a STOP. Done before every transfer anyway;
 * exposed for start-up. Returns STM32ISP_I2C_OK or STM32ISP_I2C_BUS_ERROR
 * (a line stuck low: a short, no pull-up, a dead slave).
 */
int i2c_bitbang_recover(i2c_bitbang *bus);

#endif /* FW_I2C_BITBANG_H */

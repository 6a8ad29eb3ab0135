/*
 * The driver for the master's I2C EEPROM: 24C01 up to 24C512, 24M01 and
 * 24M02. It sits on one small ops table (the I2C port), so the same code runs
 * on the master MCU (hardware I2C or bit-banged pins) and on a PC against the
 * EEPROM model in sim/eeprom.
 *
 * Caller-owned context, no allocation, no globals; every wait is bounded.
 *
 * How the parts differ, and what the driver does about it:
 * - Word address: 1 byte (24C01..24C16) or 2 bytes (24C32..24M02).
 * - Block select: address bits above the word address go into the low bits
 *   of the 7-bit device address (24C04/08/16: 1..3 bits with 1-byte words;
 *   24M01/24M02: 1..2 bits with 2-byte words).
 * - Page size 8..256 bytes: a write that runs past the end of a page wraps
 *   to the page's start, so the driver splits every write at page
 *   boundaries.
 * - Write cycle (5 ms max on most parts): the part ignores its address (NACK)
 *   until the cycle ends; the driver polls with an address-only write,
 *   bounded by a timeout.
 */
#ifndef STM32ISP_EEPROM_H
#define STM32ISP_EEPROM_H

#include "stm32isp/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What an I2C transfer returns (negative values are other bus errors). */
enum {
    STM32ISP_I2C_OK = 0,
    STM32ISP_I2C_NACK_ADDRESS = 1, /* no device acknowledged the address byte */
    STM32ISP_I2C_NACK_DATA = 2,    /* the device refused a data byte */
    STM32ISP_I2C_BUS_ERROR = -1,   /* arbitration lost, a stuck line, a misplaced START/STOP */
};

typedef struct stm32isp_i2c_ops {
    /*
     * One write transfer: START, `address` (7 bits) with R/W = 0, the `len`
     * bytes of `data`, STOP. `len` may be 0 (an address-only probe, used to
     * poll for the end of a write cycle). Returns STM32ISP_I2C_OK when every
     * byte was acknowledged, NACK_ADDRESS or NACK_DATA (a STOP has been sent
     * either way), or a negative value on a bus error. Must return within a
     * bounded time (a held SCL is a bus error, not a wait). Required.
     */
    int (*write)(void *ctx, uint8_t address, const uint8_t *data, size_t len);

    /*
     * A write then a read in one transfer: START, `address` + W, the `wlen`
     * bytes of `wdata`, repeated START, `address` + R, `rlen` bytes read into
     * `rdata` (each acknowledged but the last), STOP. `rlen` >= 1. Returns as
     * write() does. Required.
     */
    int (*write_read)(void *ctx, uint8_t address, const uint8_t *wdata, size_t wlen, uint8_t *rdata,
                      size_t rlen);

    /* A monotonic millisecond clock (may wrap). Required: write-cycle
     * polling is bounded with it. */
    uint32_t (*now_ms)(void *ctx);

    /* Waits about `ms` milliseconds between polls. May be NULL (the driver
     * then polls back to back, still bounded by now_ms). */
    void (*delay_ms)(void *ctx, uint32_t ms);
} stm32isp_i2c_ops;

/* One EEPROM part number: its geometry as the driver needs it. A caller may
 * describe a part of its own; the driver takes pages of up to 256 bytes. */
typedef struct stm32isp_eeprom_part {
    const char *name;           /* "24c01" ... "24c512", "24m01", "24m02" */
    uint32_t size;              /* bytes */
    uint16_t page_size;         /* bytes per write page */
    uint8_t address_bytes;      /* word address bytes: 1 or 2 */
    uint8_t block_bits;         /* address bits carried in the device address */
    uint8_t write_cycle_ms_max; /* datasheet maximum of a write cycle */
} stm32isp_eeprom_part;

/* Looks a part up by name, case-insensitive: the table's names and the
 * vendors' spellings of them (a maker prefix such as AT, M or CAT, then 24,
 * then C, LC, AA, FC, CS, or M/CM for the megabit parts, then the size:
 * "24C256", "24lc256", "at24c256", "24aa256", "at24cm01"). Revision suffixes
 * ("24lc32a") are not accepted. NULL when unknown. */
const stm32isp_eeprom_part *stm32isp_eeprom_part_find(const char *name);
/* Iteration over every part, smallest first: NULL past the end. */
const stm32isp_eeprom_part *stm32isp_eeprom_part_at(size_t index);

typedef struct stm32isp_eeprom {
    const stm32isp_i2c_ops *ops;
    void *ctx;
    const stm32isp_eeprom_part *part;
    uint8_t base_address;      /* 7-bit device address with A2..A0 as wired; usually 0x50.
                                  Its block-select bits are replaced by the offset's. */
    uint32_t write_timeout_ms; /* 0: the part's maximum write cycle times 4, at least 20.
                                  Also how long an address NACK is taken for "busy"
                                  before the part is declared absent. */
    /* Counters, for tests and the console's info command. */
    uint32_t bytes_read, bytes_written, pages_written, busy_polls;
} stm32isp_eeprom;

/* Prepares a driver; no I/O. */
void stm32isp_eeprom_init(stm32isp_eeprom *ee, const stm32isp_i2c_ops *ops, void *ctx,
                          const stm32isp_eeprom_part *part, uint8_t base_address);

/*
 * Reads `len` bytes from `offset` into `buf` (sequential reads, split only
 * where a block-select boundary needs a new device address).
 * Returns OK, INVALID_ARG (range outside the part, or no ops or part),
 * EEPROM_NACK, EEPROM_BUS. The driver does not check what it reads: bit
 * errors on the bus reach the caller, whose data needs its own CRC.
 * A part still in a write cycle NACKs; the read waits for it like a write.
 */
stm32isp_err stm32isp_eeprom_read(stm32isp_eeprom *ee, uint32_t offset, uint8_t *buf, uint32_t len);

/*
 * Writes `len` bytes at `offset`, split at page boundaries; waits for each
 * write cycle by polling (bounded). Returns when the last cycle has ended.
 * Returns OK, INVALID_ARG, EEPROM_NACK (absent, or a data byte refused,
 * e.g. with WP high), EEPROM_BUS, EEPROM_TIMEOUT.
 */
stm32isp_err stm32isp_eeprom_write(stm32isp_eeprom *ee, uint32_t offset, const uint8_t *data,
                                   uint32_t len);

/* Waits (bounded) until the part acknowledges its address: present and not
 * in a write cycle. Returns OK, EEPROM_NACK (nothing there), EEPROM_BUS,
 * INVALID_ARG (no ops or part). */
stm32isp_err stm32isp_eeprom_probe(stm32isp_eeprom *ee);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_EEPROM_H */

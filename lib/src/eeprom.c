/*
 * The 24Cxx EEPROM driver. Runs on the master MCU and on a PC (against
 * sim/eeprom): no allocation, no globals with state, and every wait is
 * bounded by write_timeout_ms on the ops' clock. docs/eeprom.md describes the
 * parts and the addressing.
 */
#include "stm32isp/eeprom.h"

#include <string.h>

/* The largest page of any part in the table, plus its 2-byte word address:
 * a page write goes out as one transfer, so it is assembled here. */
#define MAX_PAGE       256u
#define MAX_WORD_BYTES 2u

/* write_timeout_ms = 0 means: this many write cycles, and never less than
 * MIN_TIMEOUT_MS (a slow part at low voltage, a master that polls late). */
#define TIMEOUT_CYCLES 4u
#define MIN_TIMEOUT_MS 20u

/* Geometry from the manufacturers' datasheets (Microchip 24AA/24LC/AT24C,
 * ST M24, onsemi CAT24). Write cycles are the maxima over those vendors'
 * current parts; the megabit parts have a 256-byte page like AT24CM01/02
 * (Microchip's 24xx1025, with 128-byte pages and the block bit elsewhere in
 * the device address, is a different part and is not listed). */
static const stm32isp_eeprom_part parts[] = {
    {"24c01", 128u, 8u, 1u, 0u, 5u},      {"24c02", 256u, 8u, 1u, 0u, 5u},
    {"24c04", 512u, 16u, 1u, 1u, 5u},     {"24c08", 1024u, 16u, 1u, 2u, 5u},
    {"24c16", 2048u, 16u, 1u, 3u, 5u},    {"24c32", 4096u, 32u, 2u, 0u, 5u},
    {"24c64", 8192u, 32u, 2u, 0u, 5u},    {"24c128", 16384u, 64u, 2u, 0u, 5u},
    {"24c256", 32768u, 64u, 2u, 0u, 5u},  {"24c512", 65536u, 128u, 2u, 0u, 5u},
    {"24m01", 131072u, 256u, 2u, 1u, 5u}, {"24m02", 262144u, 256u, 2u, 2u, 10u},
};

#define PART_COUNT (sizeof parts / sizeof parts[0])

/* ------------------------------------------------------------------------- */
/* Part lookup                                                               */

/* As an int, so that no narrowing back to char is needed to compare. */
static int lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static bool is_letter(char c)
{
    int l = lower(c);
    return l >= 'a' && l <= 'z';
}

/* The letters between "24" and the size in the vendors' names: 24C (generic,
 * Atmel, ST), 24LC/24AA/24FC (Microchip), 24CS (with serial number), and
 * 24M/24CM for the megabit parts. */
static bool known_series(const char *s, size_t n)
{
    static const struct {
        char text[2];
        uint8_t length;
    } series[] = {{"c", 1}, {"lc", 2}, {"aa", 2}, {"fc", 2}, {"cs", 2}, {"m", 1}, {"cm", 2}};
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
        if (series[i].length != n) {
            continue;
        }
        size_t k = 0;
        while (k < n && lower(s[k]) == series[i].text[k]) {
            k++;
        }
        if (k == n) {
            return true;
        }
    }
    return false;
}

/* The MCU build links no str* functions (tests/mcu/library_size.sh). */
static bool same_text(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

const stm32isp_eeprom_part *stm32isp_eeprom_part_find(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    /* <maker letters, up to 3 (AT, M, CAT)> "24" <series> <size digits> */
    size_t maker = 0;
    while (is_letter(name[maker])) {
        maker++;
    }
    if (maker > 3 || name[maker] != '2' || name[maker + 1] != '4') {
        return NULL;
    }
    const char *series = name + maker + 2;
    size_t n = 0;
    while (is_letter(series[n])) {
        n++;
    }
    if (n == 0 || !known_series(series, n)) {
        return NULL;
    }
    char kind = lower(series[n - 1]) == 'm' ? 'm' : 'c';
    const char *digits = series + n;
    for (size_t i = 0; i < PART_COUNT; i++) {
        /* Table names are "24" + kind + digits. */
        if (parts[i].name[2] == kind && same_text(parts[i].name + 3, digits)) {
            return &parts[i];
        }
    }
    return NULL;
}

const stm32isp_eeprom_part *stm32isp_eeprom_part_at(size_t index)
{
    return index < PART_COUNT ? &parts[index] : NULL;
}

/* ------------------------------------------------------------------------- */
/* Transfers                                                                 */

void stm32isp_eeprom_init(stm32isp_eeprom *ee, const stm32isp_i2c_ops *ops, void *ctx,
                          const stm32isp_eeprom_part *part, uint8_t base_address)
{
    memset(ee, 0, sizeof *ee);
    ee->ops = ops;
    ee->ctx = ctx;
    ee->part = part;
    ee->base_address = base_address;
}

static bool usable(const stm32isp_eeprom *ee)
{
    return ee != NULL && ee->ops != NULL && ee->ops->write != NULL && ee->ops->write_read != NULL &&
           ee->ops->now_ms != NULL && ee->part != NULL && ee->part->page_size >= 1 &&
           ee->part->page_size <= MAX_PAGE && ee->part->address_bytes >= 1 &&
           ee->part->address_bytes <= MAX_WORD_BYTES;
}

static uint32_t timeout_ms(const stm32isp_eeprom *ee)
{
    if (ee->write_timeout_ms != 0) {
        return ee->write_timeout_ms;
    }
    uint32_t t = (uint32_t)ee->part->write_cycle_ms_max * TIMEOUT_CYCLES;
    return t < MIN_TIMEOUT_MS ? MIN_TIMEOUT_MS : t;
}

/* The device address for a byte offset: the offset's bits above the word
 * address select the block. Those bits of base_address are replaced, not
 * ORed, since a part with block bits does not decode the matching pins. */
static uint8_t device_address(const stm32isp_eeprom *ee, uint32_t offset)
{
    unsigned word_bits = 8u * ee->part->address_bytes;
    uint8_t mask = (uint8_t)((1u << ee->part->block_bits) - 1u);
    uint8_t block = (uint8_t)(offset >> word_bits) & mask;
    return (uint8_t)((ee->base_address & ~mask & 0x7Fu) | block);
}

static size_t put_word_address(const stm32isp_eeprom *ee, uint32_t offset, uint8_t *out)
{
    if (ee->part->address_bytes == 2) {
        out[0] = (uint8_t)(offset >> 8);
        out[1] = (uint8_t)offset;
        return 2;
    }
    out[0] = (uint8_t)offset;
    return 1;
}

static void pause(stm32isp_eeprom *ee)
{
    if (ee->ops->delay_ms != NULL) {
        ee->ops->delay_ms(ee->ctx, 1);
    }
}

/*
 * One transfer (a write, or a write then a read when rlen > 0). A NACK of
 * the address means "busy in a write cycle" as well as "absent", so the
 * transfer is repeated, which is the acknowledge poll itself (a NACKed
 * address costs one byte on the bus whatever follows it), until the part
 * answers or the bound passes; then it is taken as absent.
 */
static stm32isp_err transfer(stm32isp_eeprom *ee, uint8_t address, const uint8_t *wdata,
                             size_t wlen, uint8_t *rdata, size_t rlen)
{
    uint32_t limit = timeout_ms(ee);
    uint32_t start = ee->ops->now_ms(ee->ctx);
    for (;;) {
        int r = rlen > 0 ? ee->ops->write_read(ee->ctx, address, wdata, wlen, rdata, rlen)
                         : ee->ops->write(ee->ctx, address, wdata, wlen);
        if (r == STM32ISP_I2C_OK) {
            return STM32ISP_OK;
        }
        if (r == STM32ISP_I2C_NACK_DATA) {
            return STM32ISP_ERR_EEPROM_NACK;
        }
        if (r != STM32ISP_I2C_NACK_ADDRESS) {
            return STM32ISP_ERR_EEPROM_BUS;
        }
        if (ee->ops->now_ms(ee->ctx) - start >= limit) {
            return STM32ISP_ERR_EEPROM_NACK;
        }
        ee->busy_polls++;
        pause(ee);
    }
}

/* Waits for the write cycle a page write has started: the part has just
 * acknowledged, so silence until the bound is a timeout, not an absence. */
static stm32isp_err wait_write_cycle(stm32isp_eeprom *ee, uint8_t address)
{
    stm32isp_err err = transfer(ee, address, NULL, 0, NULL, 0);
    return err == STM32ISP_ERR_EEPROM_NACK ? STM32ISP_ERR_EEPROM_TIMEOUT : err;
}

static bool in_range(const stm32isp_eeprom *ee, uint32_t offset, uint32_t len)
{
    return offset <= ee->part->size && len <= ee->part->size - offset;
}

stm32isp_err stm32isp_eeprom_read(stm32isp_eeprom *ee, uint32_t offset, uint8_t *buf, uint32_t len)
{
    if (!usable(ee) || (buf == NULL && len > 0) || !in_range(ee, offset, len)) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    /* A sequential read may stop at a block boundary on some parts (the
     * counter covers the word address only), so each block is read with its
     * own device address. */
    uint32_t block_size = 1u << (8u * ee->part->address_bytes);
    while (len > 0) {
        uint32_t chunk = block_size - (offset & (block_size - 1u));
        if (chunk > len) {
            chunk = len;
        }
        uint8_t word[MAX_WORD_BYTES];
        size_t wlen = put_word_address(ee, offset, word);
        stm32isp_err err = transfer(ee, device_address(ee, offset), word, wlen, buf, chunk);
        if (err != STM32ISP_OK) {
            return err;
        }
        ee->bytes_read += chunk;
        offset += chunk;
        buf += chunk;
        len -= chunk;
    }
    return STM32ISP_OK;
}

stm32isp_err stm32isp_eeprom_write(stm32isp_eeprom *ee, uint32_t offset, const uint8_t *data,
                                   uint32_t len)
{
    if (!usable(ee) || (data == NULL && len > 0) || !in_range(ee, offset, len)) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    uint32_t page = ee->part->page_size;
    while (len > 0) {
        /* Bytes past the end of a page would wrap to its start. */
        uint32_t chunk = page - offset % page;
        if (chunk > len) {
            chunk = len;
        }
        uint8_t frame[MAX_WORD_BYTES + MAX_PAGE];
        size_t wlen = put_word_address(ee, offset, frame);
        memcpy(frame + wlen, data, chunk);
        uint8_t address = device_address(ee, offset);
        stm32isp_err err = transfer(ee, address, frame, wlen + chunk, NULL, 0);
        if (err == STM32ISP_OK) {
            ee->pages_written++;
            ee->bytes_written += chunk;
            err = wait_write_cycle(ee, address);
        }
        if (err != STM32ISP_OK) {
            return err;
        }
        offset += chunk;
        data += chunk;
        len -= chunk;
    }
    return STM32ISP_OK;
}

stm32isp_err stm32isp_eeprom_probe(stm32isp_eeprom *ee)
{
    if (!usable(ee)) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    return transfer(ee, device_address(ee, 0), NULL, 0, NULL, 0);
}

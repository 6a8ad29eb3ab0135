#include "eeprom_file.h"

#include "semihosting.h"
#include "systick.h"

#include <string.h>

int eeprom_file_open(eeprom_file *ee, const char *path, const stm32isp_eeprom_part *part,
                     uint8_t base_address, uint32_t (*now_ms)(void))
{
    memset(ee, 0, sizeof *ee);
    ee->part = part;
    ee->base_address = base_address;
    ee->now_ms = now_ms;
    ee->fd = sh_open(path, SH_MODE_RB_PLUS);
    if (ee->fd < 0) {
        ee->fd = sh_open(path, SH_MODE_WB_PLUS); /* a new, blank part */
    }
    if (ee->fd < 0) {
        return -1;
    }
    long len = sh_flen(ee->fd);
    ee->file_length = len > 0 ? (uint32_t)len : 0;
    return 0;
}

void eeprom_file_close(eeprom_file *ee)
{
    if (ee->fd >= 0) {
        (void)sh_close(ee->fd);
        ee->fd = -1;
    }
}

/* Does the part answer to this device address? Sets the block bits. */
static bool selected(eeprom_file *ee, uint8_t address, uint32_t *block)
{
    uint8_t mask = (uint8_t)((1u << ee->part->block_bits) - 1u);
    if (ee->fd < 0 || (address & (uint8_t)~mask) != ee->base_address) {
        return false;
    }
    if (ee->busy && (int32_t)(ee->now_ms() - ee->busy_until) < 0) {
        return false; /* in a write cycle: the part ignores its address */
    }
    ee->busy = false;
    *block = address & mask;
    return true;
}

/* Reads memory bytes from the file; 0xFF past its end. */
static int file_read(eeprom_file *ee, uint32_t at, uint8_t *buf, uint32_t len)
{
    uint32_t in_file = at < ee->file_length ? ee->file_length - at : 0;
    if (in_file > len) {
        in_file = len;
    }
    if (in_file > 0 && (sh_seek(ee->fd, at) != 0 || sh_read(ee->fd, buf, in_file) != 0)) {
        return -1;
    }
    memset(buf + in_file, 0xFF, len - in_file);
    return 0;
}

/* Writes memory bytes; a file shorter than `at` is first padded with 0xFF
 * (a blank part), since the host would fill the gap with zeros. */
static int file_write(eeprom_file *ee, uint32_t at, const uint8_t *data, uint32_t len)
{
    static const uint8_t blank[16] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    while (ee->file_length < at) {
        uint32_t n = at - ee->file_length < sizeof blank ? at - ee->file_length : sizeof blank;
        if (sh_seek(ee->fd, ee->file_length) != 0 || sh_write(ee->fd, blank, n) != 0) {
            return -1;
        }
        ee->file_length += n;
    }
    if (sh_seek(ee->fd, at) != 0 || sh_write(ee->fd, data, len) != 0) {
        return -1;
    }
    if (at + len > ee->file_length) {
        ee->file_length = at + len;
    }
    return 0;
}

/* The word address from the first bytes of a write. Returns how many bytes
 * it took (0 when the write is too short to carry one). */
static size_t take_address(eeprom_file *ee, uint32_t block, const uint8_t *data, size_t len)
{
    size_t n = ee->part->address_bytes;
    if (len < n) {
        return 0;
    }
    uint32_t word = 0;
    for (size_t i = 0; i < n; i++) {
        word = (word << 8) | data[i];
    }
    ee->pointer = ((block << (8u * n)) | word) & (ee->part->size - 1u);
    return n;
}

static int ef_write(void *ctx, uint8_t address, const uint8_t *data, size_t len)
{
    eeprom_file *ee = ctx;
    uint32_t block;
    if (!selected(ee, address, &block)) {
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    size_t skip = take_address(ee, block, data, len);
    if (skip == 0 || skip == len) {
        return STM32ISP_I2C_OK; /* a probe, or only an address: nothing is written */
    }
    data += skip;
    len -= skip;
    /* The part latches the bytes into its page buffer: past the page's end
     * they wrap to its start, and the last ones written win. */
    uint32_t page = ee->part->page_size;
    uint32_t page_start = ee->pointer & ~(page - 1u);
    uint32_t col = ee->pointer - page_start;
    if (len > page) {
        col = (uint32_t)((col + len - page) % page);
        data += len - page;
        len = page;
    }
    while (len > 0) {
        uint32_t run = page - col < len ? page - col : (uint32_t)len;
        if (file_write(ee, page_start + col, data, run) != 0) {
            return STM32ISP_I2C_BUS_ERROR;
        }
        data += run;
        len -= run;
        col = (col + run) % page;
    }
    ee->pointer = page_start + col;
    ee->busy = true;
    ee->busy_until = ee->now_ms() + EEPROM_FILE_WRITE_CYCLE_MS;
    return STM32ISP_I2C_OK;
}

static int ef_write_read(void *ctx, uint8_t address, const uint8_t *wdata, size_t wlen,
                         uint8_t *rdata, size_t rlen)
{
    eeprom_file *ee = ctx;
    uint32_t block;
    if (!selected(ee, address, &block)) {
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    if (wlen > 0 && take_address(ee, block, wdata, wlen) != wlen) {
        return STM32ISP_I2C_NACK_DATA; /* data bytes before a read: not a thing a part takes */
    }
    while (rlen > 0) {
        uint32_t to_end = ee->part->size - ee->pointer;
        uint32_t run = to_end < rlen ? to_end : (uint32_t)rlen;
        if (file_read(ee, ee->pointer, rdata, run) != 0) {
            return STM32ISP_I2C_BUS_ERROR;
        }
        rdata += run;
        rlen -= run;
        ee->pointer = (ee->pointer + run) & (ee->part->size - 1u);
    }
    return STM32ISP_I2C_OK;
}

static uint32_t ef_now_ms(void *ctx)
{
    const eeprom_file *ee = ctx;
    return ee->now_ms();
}

static void ef_delay_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    systick_delay_ms(ms);
}

const stm32isp_i2c_ops eeprom_file_ops = {
    .write = ef_write,
    .write_read = ef_write_read,
    .now_ms = ef_now_ms,
    .delay_ms = ef_delay_ms,
};

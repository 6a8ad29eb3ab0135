/*
 * The image container (docs/image-format.md). Portable MCU code: the source
 * is read in pieces through the caller's scratch buffer, and every
 * little-endian field is assembled byte by byte, so nothing depends on the
 * host's byte order or alignment.
 */
#include "stm32isp/container.h"

#include <string.h>

/* Offsets of the 1.0 fixed part. */
enum {
    OFF_MAGIC = 0,
    OFF_MAJOR = 4,
    OFF_MINOR = 5,
    OFF_HEADER_LENGTH = 6,
    OFF_FLAGS = 8,
    OFF_PAYLOAD_LENGTH = 12,
    OFF_PAYLOAD_CRC = 16,
    OFF_CREATED = 20,
    OFF_MIN_FLASH = 24,
    OFF_START = 28,
    OFF_SEGMENT_COUNT = 32,
    OFF_SEGMENTS_OFFSET = 34,
    OFF_PID_COUNT = 36,
    OFF_RESERVED = 37,
    OFF_PIDS = 40,
    OFF_NAME = 56,
    OFF_VERSION = 88,
    /* Magic to payload_length: enough to tell a container, its major
     * version and how much header to stream. */
    FIRST_READ = 16,
    SEGMENT_ENTRY = 8,
    CRC_SIZE = 4,
    /* One segment is the least a valid header describes. */
    MIN_HEADER = STM32ISP_CONTAINER_FIXED_SIZE + SEGMENT_ENTRY + CRC_SIZE,
};

_Static_assert(OFF_VERSION + STM32ISP_CONTAINER_VERSION_SIZE == STM32ISP_CONTAINER_FIXED_SIZE,
               "the fixed part ends with the version text");
_Static_assert(OFF_PIDS + 2 * STM32ISP_CONTAINER_MAX_PIDS == OFF_NAME, "pids precede the name");
_Static_assert(OFF_NAME + STM32ISP_CONTAINER_NAME_SIZE == OFF_VERSION, "name precedes version");
_Static_assert(STM32ISP_CONTAINER_MAX_HEADER <= 0xFFFF, "header_length is 16 bits");

/* ------------------------------------------------------------------------- */
/* CRC-32                                                                     */

/* The reflected polynomial 0xEDB88320 applied to each 4-bit value: 64 bytes
 * of table, where the byte-wise table would cost 1 KiB of the master's
 * flash, for half the speed, which reading an I2C EEPROM never notices. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t stm32isp_crc32_ieee(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
    }
    return ~crc;
}

/* ------------------------------------------------------------------------- */
/* Little-endian fields                                                       */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] | (unsigned)p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ------------------------------------------------------------------------- */
/* Field checks shared by the reader and the writer                           */

/* The length of a text field's value; `size` when it has no NUL. (The MCU
 * build allows no C library but memcpy/memset/memcmp/memmove.) */
static size_t text_length(const char *text, size_t size)
{
    size_t n = 0;
    while (n < size && text[n] != '\0') {
        n++;
    }
    return n;
}

/* At least one NUL; with `padded`, nothing but NULs after the first, so that
 * a header has one byte image per value. */
static bool text_ok(const char *text, size_t size, bool padded)
{
    size_t n = text_length(text, size);
    if (n == size) {
        return false;
    }
    for (size_t i = n; padded && i < size; i++) {
        if (text[i] != '\0') {
            return false;
        }
    }
    return true;
}

/* Everything but the lengths and the texts' padding, which only a header
 * read from a medium can get wrong. */
static bool fields_ok(const stm32isp_container *ct)
{
    if (ct->segment_count < 1 || ct->segment_count > STM32ISP_CONTAINER_MAX_SEGMENTS ||
        ct->pid_count > STM32ISP_CONTAINER_MAX_PIDS) {
        return false;
    }
    /* Allowed PIDs first, then zeros: a 0 inside the list, or a PID after it,
     * means pid_count and the list disagree. */
    for (unsigned i = 0; i < STM32ISP_CONTAINER_MAX_PIDS; i++) {
        if ((ct->pids[i] == 0) != (i >= ct->pid_count)) {
            return false;
        }
    }
    uint64_t total = 0;
    uint64_t previous_end = 0;
    for (unsigned i = 0; i < ct->segment_count; i++) {
        const stm32isp_segment *s = &ct->segments[i];
        uint64_t end = (uint64_t)s->address + s->length;
        if (s->length == 0 || end > 0x100000000ull || s->address < previous_end) {
            return false;
        }
        previous_end = end;
        total += s->length;
    }
    return total == ct->payload_length;
}

/* ------------------------------------------------------------------------- */
/* Reading                                                                    */

/* Decodes the fixed part; the segments were decoded while streaming. */
static void decode_fixed(stm32isp_container *ct, const uint8_t *h)
{
    ct->major = h[OFF_MAJOR];
    ct->minor = h[OFF_MINOR];
    ct->header_length = get16(h + OFF_HEADER_LENGTH);
    ct->flags = get32(h + OFF_FLAGS);
    ct->payload_length = get32(h + OFF_PAYLOAD_LENGTH);
    ct->payload_crc = get32(h + OFF_PAYLOAD_CRC);
    ct->created = get32(h + OFF_CREATED);
    ct->min_flash_size = get32(h + OFF_MIN_FLASH);
    ct->start_address = get32(h + OFF_START);
    ct->segment_count = get16(h + OFF_SEGMENT_COUNT);
    ct->pid_count = h[OFF_PID_COUNT];
    for (unsigned i = 0; i < STM32ISP_CONTAINER_MAX_PIDS; i++) {
        ct->pids[i] = get16(h + OFF_PIDS + 2 * i);
    }
    memcpy(ct->name, h + OFF_NAME, STM32ISP_CONTAINER_NAME_SIZE);
    memcpy(ct->version, h + OFF_VERSION, STM32ISP_CONTAINER_VERSION_SIZE);
}

/* Byte `b` at `offset` of the segment table, for a table at `table` with
 * `count` entries: only entries that fit ct->segments are kept (a larger
 * count is refused later). */
static void take_segment_byte(stm32isp_container *ct, uint32_t table, uint32_t count,
                              uint32_t offset, uint8_t b)
{
    if (offset < table) {
        return;
    }
    uint32_t rel = offset - table;
    uint32_t index = rel / SEGMENT_ENTRY;
    if (index >= count || index >= STM32ISP_CONTAINER_MAX_SEGMENTS) {
        return;
    }
    uint32_t in_entry = rel % SEGMENT_ENTRY;
    uint32_t shift = 8u * (in_entry % 4u);
    if (in_entry < 4) {
        ct->segments[index].address |= (uint32_t)b << shift;
    } else {
        ct->segments[index].length |= (uint32_t)b << shift;
    }
}

stm32isp_err stm32isp_container_open(stm32isp_container *ct,
                                     const stm32isp_container_source *source, uint8_t *scratch,
                                     size_t scratch_size)
{
    if (ct == NULL || source == NULL || source->read == NULL || scratch == NULL ||
        scratch_size < FIRST_READ) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    memset(ct, 0, sizeof *ct);
    ct->source = source;
    ct->source_error = STM32ISP_OK;

    /* Magic, then version: a blank or foreign medium, or a format with
     * another layout, is named as such before any length is trusted. */
    if (source->size < 4) {
        return STM32ISP_ERR_NO_CONTAINER;
    }
    uint32_t first = source->size < FIRST_READ ? source->size : FIRST_READ;
    stm32isp_err err = source->read(source->ctx, 0, scratch, first);
    if (err != STM32ISP_OK) {
        return err;
    }
    if (memcmp(scratch + OFF_MAGIC, STM32ISP_CONTAINER_MAGIC, 4) != 0) {
        return STM32ISP_ERR_NO_CONTAINER;
    }
    if (first <= OFF_MAJOR) {
        return STM32ISP_ERR_CONTAINER_HEADER;
    }
    if (scratch[OFF_MAJOR] != STM32ISP_CONTAINER_MAJOR) {
        return STM32ISP_ERR_CONTAINER_VERSION;
    }
    if (first < FIRST_READ) {
        return STM32ISP_ERR_CONTAINER_HEADER;
    }
    uint32_t header_length = get16(scratch + OFF_HEADER_LENGTH);
    if (header_length < MIN_HEADER || header_length > source->size) {
        return STM32ISP_ERR_CONTAINER_HEADER;
    }

    /* One pass over the header: the CRC over all but its last 4 bytes, the
     * fixed part kept, the segment table decoded on the way (the fixed part,
     * which says where the table is, has passed by then). */
    uint8_t fixed[STM32ISP_CONTAINER_FIXED_SIZE];
    uint8_t stored[CRC_SIZE];
    uint32_t crc_end = header_length - CRC_SIZE;
    uint32_t crc = 0;
    uint32_t table = 0, count = 0;
    for (uint32_t at = 0; at < header_length;) {
        uint32_t n = header_length - at;
        if (n > scratch_size) {
            n = (uint32_t)scratch_size;
        }
        err = source->read(source->ctx, at, scratch, n);
        if (err != STM32ISP_OK) {
            return err;
        }
        if (at < crc_end) {
            crc = stm32isp_crc32_ieee(crc, scratch, n < crc_end - at ? n : crc_end - at);
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t offset = at + i;
            if (offset < STM32ISP_CONTAINER_FIXED_SIZE) {
                fixed[offset] = scratch[i];
                if (offset == STM32ISP_CONTAINER_FIXED_SIZE - 1) {
                    table = get16(fixed + OFF_SEGMENTS_OFFSET);
                    count = get16(fixed + OFF_SEGMENT_COUNT);
                }
            } else if (offset >= crc_end) {
                stored[offset - crc_end] = scratch[i];
            } else {
                take_segment_byte(ct, table, count, offset, scratch[i]);
            }
        }
        at += n;
    }
    if (get32(stored) != crc) {
        return STM32ISP_ERR_CONTAINER_HEADER;
    }
    decode_fixed(ct, fixed);

    /* An intact header with a flag this code does not know comes from a
     * newer writer: a version matter, not damage (a flipped flag bit fails
     * the CRC above). */
    if ((ct->flags & ~(uint32_t)STM32ISP_CONTAINER_KNOWN_FLAGS) != 0) {
        return STM32ISP_ERR_CONTAINER_VERSION;
    }
    if (table < STM32ISP_CONTAINER_FIXED_SIZE ||
        header_length != table + SEGMENT_ENTRY * count + CRC_SIZE || !fields_ok(ct) ||
        fixed[OFF_RESERVED] != 0 || fixed[OFF_RESERVED + 1] != 0 || fixed[OFF_RESERVED + 2] != 0 ||
        !text_ok(ct->name, STM32ISP_CONTAINER_NAME_SIZE, true) ||
        !text_ok(ct->version, STM32ISP_CONTAINER_VERSION_SIZE, true) ||
        (uint64_t)header_length + ct->payload_length > source->size) {
        return STM32ISP_ERR_CONTAINER_HEADER;
    }
    return STM32ISP_OK;
}

stm32isp_err stm32isp_container_check_payload(stm32isp_container *ct, uint8_t *scratch,
                                              size_t scratch_size)
{
    if (ct == NULL || ct->source == NULL || ct->source->read == NULL || scratch == NULL ||
        scratch_size == 0) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    const stm32isp_container_source *source = ct->source;
    uint32_t crc = 0;
    for (uint32_t at = 0; at < ct->payload_length;) {
        uint32_t n = ct->payload_length - at;
        if (n > scratch_size) {
            n = (uint32_t)scratch_size;
        }
        stm32isp_err err = source->read(source->ctx, ct->header_length + at, scratch, n);
        if (err != STM32ISP_OK) {
            return err;
        }
        crc = stm32isp_crc32_ieee(crc, scratch, n);
        at += n;
    }
    return crc == ct->payload_crc ? STM32ISP_OK : STM32ISP_ERR_CONTAINER_PAYLOAD;
}

stm32isp_err stm32isp_container_allows(const stm32isp_container *ct, uint16_t pid,
                                       uint32_t flash_size)
{
    if (ct == NULL) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    if (ct->min_flash_size != 0 && flash_size < ct->min_flash_size) {
        return STM32ISP_ERR_DEVICE_NOT_ALLOWED;
    }
    if (ct->pid_count == 0) {
        return STM32ISP_OK;
    }
    for (unsigned i = 0; i < ct->pid_count && i < STM32ISP_CONTAINER_MAX_PIDS; i++) {
        if (ct->pids[i] == pid) {
            return STM32ISP_OK;
        }
    }
    return STM32ISP_ERR_DEVICE_NOT_ALLOWED;
}

/* The stm32isp_image read: payload offsets become source offsets. */
static int image_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    stm32isp_container *ct = ctx;
    if (ct->source == NULL || ct->source->read == NULL) {
        ct->source_error = STM32ISP_ERR_INVALID_ARG;
        return -1;
    }
    if (offset > ct->payload_length || len > ct->payload_length - offset) {
        ct->source_error = STM32ISP_ERR_INVALID_ARG;
        return -1;
    }
    stm32isp_err err = ct->source->read(ct->source->ctx, ct->header_length + offset, buf, len);
    if (err != STM32ISP_OK) {
        ct->source_error = err;
        return -1;
    }
    return 0;
}

void stm32isp_container_image(stm32isp_container *ct, stm32isp_image *image)
{
    image->segments = ct->segments;
    image->segment_count = ct->segment_count;
    image->read = image_read;
    image->ctx = ct;
}

/* ------------------------------------------------------------------------- */
/* Writing                                                                    */

size_t stm32isp_container_header_length(uint16_t segment_count)
{
    return (size_t)STM32ISP_CONTAINER_FIXED_SIZE + SEGMENT_ENTRY * (size_t)segment_count + CRC_SIZE;
}

size_t stm32isp_container_write_header(stm32isp_container *ct, uint8_t *out, size_t out_size)
{
    if (ct == NULL || out == NULL || !fields_ok(ct) ||
        (ct->flags & ~(uint32_t)STM32ISP_CONTAINER_KNOWN_FLAGS) != 0 ||
        !text_ok(ct->name, STM32ISP_CONTAINER_NAME_SIZE, false) ||
        !text_ok(ct->version, STM32ISP_CONTAINER_VERSION_SIZE, false)) {
        return 0;
    }
    size_t length = stm32isp_container_header_length(ct->segment_count);
    if (out_size < length) {
        return 0;
    }
    memset(out, 0, length);
    memcpy(out + OFF_MAGIC, STM32ISP_CONTAINER_MAGIC, 4);
    out[OFF_MAJOR] = STM32ISP_CONTAINER_MAJOR;
    out[OFF_MINOR] = STM32ISP_CONTAINER_MINOR;
    put16(out + OFF_HEADER_LENGTH, (uint16_t)length);
    put32(out + OFF_FLAGS, ct->flags);
    put32(out + OFF_PAYLOAD_LENGTH, ct->payload_length);
    put32(out + OFF_PAYLOAD_CRC, ct->payload_crc);
    put32(out + OFF_CREATED, ct->created);
    put32(out + OFF_MIN_FLASH, ct->min_flash_size);
    put32(out + OFF_START, ct->start_address);
    put16(out + OFF_SEGMENT_COUNT, ct->segment_count);
    put16(out + OFF_SEGMENTS_OFFSET, STM32ISP_CONTAINER_FIXED_SIZE);
    out[OFF_PID_COUNT] = ct->pid_count;
    for (unsigned i = 0; i < STM32ISP_CONTAINER_MAX_PIDS; i++) {
        put16(out + OFF_PIDS + 2 * i, ct->pids[i]);
    }
    /* Up to the NUL only: whatever follows it in the caller's array is not
     * part of the value, and the reader wants NUL padding. */
    memcpy(out + OFF_NAME, ct->name, text_length(ct->name, STM32ISP_CONTAINER_NAME_SIZE));
    memcpy(out + OFF_VERSION, ct->version,
           text_length(ct->version, STM32ISP_CONTAINER_VERSION_SIZE));
    uint8_t *entry = out + STM32ISP_CONTAINER_FIXED_SIZE;
    for (unsigned i = 0; i < ct->segment_count; i++, entry += SEGMENT_ENTRY) {
        put32(entry, ct->segments[i].address);
        put32(entry + 4, ct->segments[i].length);
    }
    put32(out + length - CRC_SIZE, stm32isp_crc32_ieee(0, out, length - CRC_SIZE));
    ct->major = STM32ISP_CONTAINER_MAJOR;
    ct->minor = STM32ISP_CONTAINER_MINOR;
    ct->header_length = (uint16_t)length;
    return length;
}

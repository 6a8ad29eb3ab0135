/*
 * Fuzzes the container reader (lib/src/container.c) over an in-memory
 * source: open, check_payload, the image view and the writer's round trip.
 *
 * Input: two control bytes, then the medium's bytes.
 *   ctl[0] bit 0  recompute the header CRC before parsing
 *          bit 1  recompute the payload CRC before parsing
 *          bits 2-4  scratch size (16 .. 1000 bytes)
 *          bits 5-7  piece size for reads through the image view
 *   ctl[1] the source fails on that read call (0: never)
 * Without the CRC fix-ups random mutations would almost never get past the
 * header CRC, and the field checks behind it would go unexercised.
 */
#include "stm32isp/container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_container: %s:%d: check failed: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct medium {
    const uint8_t *bytes;
    uint32_t size;
    unsigned reads;
    unsigned fail_at; /* 1-based read call that fails; 0: none */
    bool failed;      /* that read has happened */
} medium;

static stm32isp_err medium_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    medium *m = ctx;
    /* The reader checks every length against the source's size first: a
     * read outside the medium is a bug in it, not a source error. */
    CHECK(offset <= m->size && len <= m->size - offset);
    if (++m->reads == m->fail_at) {
        m->failed = true;
        return STM32ISP_ERR_EEPROM_NACK;
    }
    memcpy(buf, m->bytes + offset, len);
    return STM32ISP_OK;
}

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | get16(p + 2) << 16;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void fix_crcs(uint8_t *buf, size_t size, unsigned ctl)
{
    if (size < STM32ISP_CONTAINER_FIXED_SIZE) {
        return;
    }
    uint32_t header_length = get16(buf + 6);
    uint32_t payload_length = get32(buf + 12);
    if ((ctl & 2) != 0 && header_length <= size && payload_length <= size - header_length) {
        put32(buf + 16, stm32isp_crc32_ieee(0, buf + header_length, payload_length));
    }
    if ((ctl & 1) != 0 && header_length >= 20 && header_length <= size) {
        put32(buf + header_length - 4, stm32isp_crc32_ieee(0, buf, header_length - 4));
    }
}

static bool valid_err(stm32isp_err err)
{
    return (int)err >= 0 && err < STM32ISP_ERR__COUNT;
}

/* What open promises about a header it accepted. */
static void check_header(const stm32isp_container *ct, uint32_t size)
{
    CHECK(ct->major == STM32ISP_CONTAINER_MAJOR);
    CHECK(ct->header_length <= size && ct->payload_length <= size - ct->header_length);
    CHECK(ct->header_length >= stm32isp_container_header_length(ct->segment_count));
    CHECK((ct->flags & ~(uint32_t)STM32ISP_CONTAINER_KNOWN_FLAGS) == 0);
    CHECK(ct->segment_count >= 1 && ct->segment_count <= STM32ISP_CONTAINER_MAX_SEGMENTS);
    CHECK(ct->pid_count <= STM32ISP_CONTAINER_MAX_PIDS);
    CHECK(memchr(ct->name, 0, sizeof ct->name) != NULL);
    CHECK(memchr(ct->version, 0, sizeof ct->version) != NULL);
    uint64_t total = 0, end = 0;
    for (unsigned i = 0; i < ct->segment_count; i++) {
        const stm32isp_segment *s = &ct->segments[i];
        CHECK(s->length > 0 && s->address >= end);
        end = (uint64_t)s->address + s->length;
        CHECK(end <= 0x100000000ull);
        total += s->length;
    }
    CHECK(total == ct->payload_length);
}

/* Reads the whole payload through the image view, in pieces, and compares
 * it with the medium; a read past the payload must fail. */
static void check_image_view(stm32isp_container *ct, const medium *m, uint32_t piece)
{
    stm32isp_image image;
    stm32isp_container_image(ct, &image);
    CHECK(image.segments == ct->segments && image.segment_count == ct->segment_count);
    uint8_t *buf = malloc(piece);
    CHECK(buf != NULL);
    for (uint32_t at = 0; at < ct->payload_length; at += piece) {
        uint32_t n = ct->payload_length - at < piece ? ct->payload_length - at : piece;
        if (image.read(image.ctx, at, buf, n) != 0) {
            CHECK(ct->source_error != STM32ISP_OK && valid_err(ct->source_error));
            break;
        }
        CHECK(memcmp(buf, m->bytes + ct->header_length + at, n) == 0);
    }
    ct->source_error = STM32ISP_OK;
    CHECK(image.read(image.ctx, ct->payload_length, buf, 1) != 0);
    CHECK(ct->source_error == STM32ISP_ERR_INVALID_ARG);
    free(buf);
}

/* The writer turns an accepted header back into bytes that open accepts
 * with the same fields; for a 1.0 header they are the very same bytes. */
static void check_round_trip(const stm32isp_container *ct, const medium *m, uint8_t *scratch,
                             size_t scratch_size)
{
    stm32isp_container copy = *ct;
    uint8_t header[STM32ISP_CONTAINER_MAX_HEADER];
    size_t length = stm32isp_container_write_header(&copy, header, sizeof header);
    CHECK(length == stm32isp_container_header_length(ct->segment_count));
    if (ct->minor == 0 && ct->header_length == length) {
        CHECK(memcmp(header, m->bytes, length) == 0);
    }
    uint8_t *again = malloc(length + ct->payload_length);
    CHECK(again != NULL);
    memcpy(again, header, length);
    memcpy(again + length, m->bytes + ct->header_length, ct->payload_length);
    medium m2 = {again, (uint32_t)length + ct->payload_length, 0, 0, false};
    stm32isp_container_source src2 = {medium_read, &m2, m2.size};
    stm32isp_container back;
    CHECK(stm32isp_container_open(&back, &src2, scratch, scratch_size) == STM32ISP_OK);
    CHECK(back.minor == STM32ISP_CONTAINER_MINOR && back.header_length == length);
    CHECK(back.flags == ct->flags && back.payload_length == ct->payload_length);
    CHECK(back.payload_crc == ct->payload_crc && back.created == ct->created);
    CHECK(back.min_flash_size == ct->min_flash_size && back.start_address == ct->start_address);
    CHECK(back.segment_count == ct->segment_count && back.pid_count == ct->pid_count);
    CHECK(memcmp(back.pids, ct->pids, sizeof back.pids) == 0);
    CHECK(memcmp(back.name, ct->name, sizeof back.name) == 0);
    CHECK(memcmp(back.version, ct->version, sizeof back.version) == 0);
    CHECK(memcmp(back.segments, ct->segments, ct->segment_count * sizeof ct->segments[0]) == 0);
    free(again);
}

static void check_allows(const stm32isp_container *ct)
{
    uint16_t pid = ct->pid_count > 0 ? ct->pids[0] : 0x410;
    uint32_t flash = ct->min_flash_size;
    CHECK(stm32isp_container_allows(ct, pid, flash) == STM32ISP_OK);
    if (ct->min_flash_size > 0) {
        CHECK(stm32isp_container_allows(ct, pid, flash - 1) == STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    }
    bool listed = ct->pid_count == 0;
    for (unsigned i = 0; i < ct->pid_count; i++) {
        listed = listed || ct->pids[i] == 0xFFFF;
    }
    CHECK((stm32isp_container_allows(ct, 0xFFFF, flash) == STM32ISP_OK) == listed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t scratch_sizes[8] = {16, 17, 31, 64, 100, 256, 512, 1000};
    static const uint32_t pieces[8] = {1, 3, 16, 63, 128, 256, 1000, 4096};
    if (size < 2 || size - 2 > 0xFFFFFFFFu) {
        return 0;
    }
    unsigned ctl = data[0];
    uint8_t *buf = malloc(size - 2 + 1); /* +1: malloc(0) may return NULL */
    CHECK(buf != NULL);
    memcpy(buf, data + 2, size - 2);
    fix_crcs(buf, size - 2, ctl);

    medium m = {buf, (uint32_t)(size - 2), 0, data[1], false};
    stm32isp_container_source source = {medium_read, &m, m.size};
    size_t scratch_size = scratch_sizes[(ctl >> 2) & 7];
    uint8_t *scratch = malloc(scratch_size);
    CHECK(scratch != NULL);

    stm32isp_container ct;
    stm32isp_err err = stm32isp_container_open(&ct, &source, scratch, scratch_size);
    CHECK(valid_err(err));
    if (err == STM32ISP_OK) {
        check_header(&ct, m.size);
        err = stm32isp_container_check_payload(&ct, scratch, scratch_size);
        bool failed_read = m.failed;
        CHECK(err == STM32ISP_OK || err == STM32ISP_ERR_CONTAINER_PAYLOAD ||
              (failed_read && err == STM32ISP_ERR_EEPROM_NACK));
        if ((ctl & 2) != 0 && !failed_read) {
            CHECK(err == STM32ISP_OK);
        }
        check_image_view(&ct, &m, pieces[ctl >> 5]);
        check_round_trip(&ct, &m, scratch, scratch_size);
        check_allows(&ct);
    }
    free(scratch);
    free(buf);
    return 0;
}

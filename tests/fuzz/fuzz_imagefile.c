/*
 * Fuzzes the firmware file readers (tools/imagefile): image_load_buffer
 * with each format and with AUTO, then checks what a loaded image promises
 * and that it survives a round trip through Intel HEX or SREC.
 *
 * Input: two control bytes (imagefile_input.h), then the file's bytes.
 * Without the checksum fix-up random mutations would rarely get a record
 * past its checksum, and the checks behind it would go unexercised.
 */
#include "imagefile_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_imagefile: %s:%d: check failed: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Round trips are skipped above this payload: they would only slow the
 * fuzzer down on inputs that say nothing new. */
#define ROUND_TRIP_MAX (64u * 1024u)

/* A growing text buffer. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void emit(text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        CHECK(t->p != NULL);
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

/* One record: `lead` ("S3" or ":"), then the bytes as hex, with the sum
 * byte appended by the caller's rule. */
static void emit_record(text *t, const char *lead, const uint8_t *bytes, size_t n)
{
    char line[2 * 300 + 8];
    size_t at = (size_t)snprintf(line, sizeof line, "%s", lead);
    for (size_t i = 0; i < n; i++) {
        at += (size_t)snprintf(line + at, sizeof line - at, "%02X", bytes[i]);
    }
    snprintf(line + at, sizeof line - at, "\n");
    emit(t, line);
}

static void emit_ihex(text *t, const uint8_t *rec, size_t n)
{
    uint8_t buf[1 + 2 + 1 + 32 + 1];
    uint8_t sum = 0;
    memcpy(buf, rec, n);
    for (size_t i = 0; i < n; i++) {
        sum = (uint8_t)(sum + rec[i]);
    }
    buf[n] = (uint8_t)(0x100u - sum);
    emit_record(t, ":", buf, n + 1);
}

static void write_ihex(const loaded_image *img, text *t)
{
    const uint8_t *p = img->payload;
    uint32_t upper = 0;
    for (size_t s = 0; s < img->segment_count; s++) {
        uint64_t address = img->segments[s].address;
        uint64_t end = address + img->segments[s].length;
        while (address < end) {
            uint32_t hi = (uint32_t)(address >> 16);
            if (hi != upper) {
                uint8_t ext[6] = {2, 0, 0, 4, (uint8_t)(hi >> 8), (uint8_t)hi};
                emit_ihex(t, ext, sizeof ext);
                upper = hi;
            }
            /* At most 32 bytes, not across a 64 KiB boundary. */
            uint64_t n = end - address < 32 ? end - address : 32;
            uint64_t to_boundary = 0x10000u - (address & 0xFFFFu);
            n = n < to_boundary ? n : to_boundary;
            uint8_t rec[4 + 32] = {(uint8_t)n, (uint8_t)(address >> 8), (uint8_t)address, 0};
            memcpy(rec + 4, p, (size_t)n);
            emit_ihex(t, rec, 4 + (size_t)n);
            p += n;
            address += n;
        }
    }
    emit(t, ":00000001FF\n");
}

static void emit_srec(text *t, const char *type, const uint8_t *rec, size_t n)
{
    uint8_t buf[1 + 4 + 32 + 1];
    buf[0] = (uint8_t)(n + 1);
    memcpy(buf + 1, rec, n);
    uint8_t sum = 0;
    for (size_t i = 0; i < n + 1; i++) {
        sum = (uint8_t)(sum + buf[i]);
    }
    buf[n + 1] = (uint8_t)(0xFFu - sum);
    emit_record(t, type, buf, n + 2);
}

static void write_srec(const loaded_image *img, text *t)
{
    const uint8_t *p = img->payload;
    static const uint8_t header[2 + 4] = {0, 0, 'f', 'u', 'z', 'z'};
    emit_srec(t, "S0", header, sizeof header);
    for (size_t s = 0; s < img->segment_count; s++) {
        uint64_t address = img->segments[s].address;
        uint64_t end = address + img->segments[s].length;
        while (address < end) {
            uint64_t n = end - address < 32 ? end - address : 32;
            uint8_t rec[4 + 32] = {(uint8_t)(address >> 24), (uint8_t)(address >> 16),
                                   (uint8_t)(address >> 8), (uint8_t)address};
            memcpy(rec + 4, p, (size_t)n);
            emit_srec(t, "S3", rec, 4 + (size_t)n);
            p += n;
            address += n;
        }
    }
    static const uint8_t start[4] = {0, 0, 0, 0};
    emit_srec(t, "S7", start, sizeof start);
}

static int hex_value(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

/* Rewrites the last byte of each record made of hex digits (':' or 'S'
 * and a digit, then an even number of digits) as the record's checksum. */
static void fix_checksums(uint8_t *file, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && file[end] != '\n') {
            end++;
        }
        /* The record without the blanks around it, as the reader sees it. */
        uint8_t *line = file + at;
        size_t n = end - at;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) {
            n--;
        }
        size_t skip = 0;
        while (skip < n && (line[skip] == ' ' || line[skip] == '\t')) {
            skip++;
        }
        line += skip;
        n -= skip;
        size_t hex = 0; /* where the hex digits start; 0: not a record */
        bool ihex = false;
        if (n >= 1 && line[0] == ':') {
            hex = 1;
            ihex = true;
        } else if (n >= 2 && line[0] == 'S' && line[1] >= '0' && line[1] <= '9') {
            hex = 2;
        }
        bool ok = hex != 0 && n - hex >= 4 && (n - hex) % 2 == 0;
        uint8_t sum = 0;
        for (size_t i = hex; ok && i + 2 < n; i += 2) {
            int hi = hex_value(line[i]), lo = hex_value(line[i + 1]);
            ok = hi >= 0 && lo >= 0;
            sum = ok ? (uint8_t)(sum + (unsigned)(hi << 4 | lo)) : sum;
        }
        if (ok) {
            uint8_t check = ihex ? (uint8_t)(0x100u - sum) : (uint8_t)(0xFFu - sum);
            line[n - 2] = (uint8_t)digits[check >> 4];
            line[n - 1] = (uint8_t)digits[check & 15];
        }
        at = end + 1;
    }
}

/* What a loaded image promises: sorted, separated (touching runs merged),
 * non-empty segments inside 4 GiB whose lengths add up to the payload. */
static void check_image(const loaded_image *img)
{
    CHECK(img->segment_count >= 1 && img->segment_count <= IMAGE_MAX_SEGMENTS);
    CHECK(img->payload_size <= IMAGE_MAX_FILE_SIZE && img->payload != NULL);
    uint64_t total = 0, end = 0;
    for (size_t i = 0; i < img->segment_count; i++) {
        const stm32isp_segment *s = &img->segments[i];
        CHECK(s->length > 0);
        CHECK(i == 0 || s->address > end); /* a gap: touching runs are merged */
        end = (uint64_t)s->address + s->length;
        CHECK(end <= 0x100000000ull);
        /* The payload offset of a segment's first and last byte. */
        CHECK(image_payload_offset(img, s->address) == (int64_t)total);
        CHECK(image_payload_offset(img, (uint32_t)(end - 1)) == (int64_t)(total + s->length - 1));
        if (s->address > 0 && (i == 0 || s->address - 1 >= img->segments[i - 1].address +
                                                               img->segments[i - 1].length)) {
            CHECK(image_payload_offset(img, s->address - 1) == -1);
        }
        total += s->length;
    }
    CHECK(total == img->payload_size);

    stm32isp_image view;
    image_as_stm32isp(img, &view);
    CHECK(view.segment_count == img->segment_count);
    uint8_t block[256];
    uint32_t n = img->payload_size < sizeof block ? img->payload_size : sizeof block;
    CHECK(view.read(view.ctx, img->payload_size - n, block, n) == 0);
    CHECK(memcmp(block, img->payload + img->payload_size - n, n) == 0);
    CHECK(view.read(view.ctx, img->payload_size, block, 1) != 0);
}

static void check_round_trip(const loaded_image *img, bool srec)
{
    if (img->payload_size > ROUND_TRIP_MAX) {
        return;
    }
    text t = {0};
    if (srec) {
        write_srec(img, &t);
    } else {
        write_ihex(img, &t);
    }
    loaded_image back;
    char err[512];
    int rc = image_load_buffer("roundtrip", (const uint8_t *)t.p, t.len,
                               srec ? IMAGE_FORMAT_SREC : IMAGE_FORMAT_IHEX, false, 0, &back, err,
                               sizeof err);
    if (rc != 0) {
        fprintf(stderr, "fuzz_imagefile: round trip refused: %s\n", err);
    }
    CHECK(rc == 0);
    CHECK(back.segment_count == img->segment_count && back.payload_size == img->payload_size);
    CHECK(memcmp(back.segments, img->segments, img->segment_count * sizeof img->segments[0]) == 0);
    CHECK(memcmp(back.payload, img->payload, img->payload_size) == 0);
    image_free(&back);
    free(t.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    unsigned ctl = data[0];
    imagefile_args args = imagefile_input_args(data[0], data[1]);
    image_format format = args.format;
    const char *name = args.name;
    bool has_address = args.has_address;
    uint32_t address = args.address;

    /* A private copy, so that ASan sees a read one past the file's end. */
    size_t len = size - 2;
    uint8_t *file = malloc(len + 1);
    CHECK(file != NULL);
    memcpy(file, data + 2, len);
    if ((data[1] & IMAGEFILE_IN_FIX_SUMS) != 0) {
        fix_checksums(file, len);
    }

    loaded_image img;
    char err[512];
    memset(err, 'x', sizeof err);
    int rc =
        image_load_buffer(name, file, len, format, has_address, address, &img, err, sizeof err);
    CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        /* One line that names the file; nothing handed out. */
        CHECK(memchr(err, '\0', sizeof err) != NULL);
        CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        CHECK(strncmp(err, name, strlen(name)) == 0);
        CHECK(img.segments == NULL && img.payload == NULL && img.segment_count == 0);
    } else {
        CHECK(img.format != IMAGE_FORMAT_AUTO);
        CHECK(format == IMAGE_FORMAT_AUTO || img.format == format);
        check_image(&img);
        if (img.format == IMAGE_FORMAT_BIN) {
            CHECK(has_address && img.segment_count == 1 && img.segments[0].address == address);
            CHECK(img.payload_size == len && memcmp(img.payload, file, len) == 0);
        }
        check_round_trip(&img, (ctl & IMAGEFILE_IN_SREC) != 0);
        image_free(&img);
    }
    free(file);
    return 0;
}

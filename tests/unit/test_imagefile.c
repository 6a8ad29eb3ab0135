/*
 * The image readers: each format read into the right segments and bytes,
 * and every malformed input refused with a message that says where.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "imagefile.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Helpers ------------------------------------------------------------ */

/* A growing text buffer for the writers below. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* A piece of an image to write: `length` bytes at `address`, valued from
 * `seed` so that every piece differs. */
typedef struct piece {
    uint32_t address;
    uint32_t length;
    uint8_t seed;
} piece;

static uint8_t piece_byte(const piece *p, uint32_t i)
{
    return (uint8_t)(p->seed + i * 7u + (i >> 8));
}

static uint32_t at_most(uint32_t x, uint32_t limit)
{
    return x < limit ? x : limit;
}

/* One Intel HEX record with its checksum. */
static void ihex_record(text *t, uint8_t type, uint16_t offset, const uint8_t *data, size_t n,
                        const char *eol)
{
    uint8_t sum = (uint8_t)(n + (offset >> 8) + (offset & 0xFF) + type);
    put(t, ":%02X%04X%02X", (unsigned)n, offset, type);
    for (size_t i = 0; i < n; i++) {
        put(t, "%02X", data[i]);
        sum = (uint8_t)(sum + data[i]);
    }
    put(t, "%02X%s", (uint8_t)(0x100u - sum), eol);
}

/* Intel HEX for `pieces` in the order given: 16-byte records that never
 * cross a 64 KiB boundary, type 04 whenever the upper half changes. */
static void ihex_write(text *t, const piece *pieces, size_t n, const char *eol)
{
    uint32_t upper = 0;
    for (size_t k = 0; k < n; k++) {
        const piece *p = &pieces[k];
        uint32_t i = 0;
        while (i < p->length) {
            uint32_t a = p->address + i;
            uint32_t chunk = at_most(p->length - i, 16);
            chunk = at_most(chunk, 0x10000u - (a & 0xFFFF));
            if (a >> 16 != upper) {
                upper = a >> 16;
                uint8_t ext[2] = {(uint8_t)(upper >> 8), (uint8_t)upper};
                ihex_record(t, 0x04, 0, ext, 2, eol);
            }
            uint8_t data[16];
            for (uint32_t j = 0; j < chunk; j++) {
                data[j] = piece_byte(p, i + j);
            }
            ihex_record(t, 0x00, (uint16_t)a, data, chunk, eol);
            i += chunk;
        }
    }
    ihex_record(t, 0x01, 0, NULL, 0, eol);
}

/* One S-record of `type` with `ab` address bytes. */
static void srec_record(text *t, int type, int ab, uint32_t address, const uint8_t *data, size_t n)
{
    uint8_t count = (uint8_t)(ab + n + 1);
    uint8_t sum = count;
    put(t, "S%d%02X", type, count);
    for (int i = ab - 1; i >= 0; i--) {
        uint8_t byte = (uint8_t)(address >> (8 * i));
        put(t, "%02X", byte);
        sum = (uint8_t)(sum + byte);
    }
    for (size_t i = 0; i < n; i++) {
        put(t, "%02X", data[i]);
        sum = (uint8_t)(sum + data[i]);
    }
    put(t, "%02X\n", (uint8_t)~sum);
}

/* SREC with data records S`type` (1, 2 or 3), an S5 count and the matching
 * termination record. */
static void srec_write(text *t, int type, const piece *pieces, size_t n)
{
    int ab = type + 1;
    unsigned records = 0;
    srec_record(t, 0, 2, 0, (const uint8_t *)"test", 4);
    for (size_t k = 0; k < n; k++) {
        const piece *p = &pieces[k];
        for (uint32_t i = 0; i < p->length; i += 32) {
            uint32_t chunk = at_most(p->length - i, 32);
            uint8_t data[32];
            for (uint32_t j = 0; j < chunk; j++) {
                data[j] = piece_byte(p, i + j);
            }
            srec_record(t, type, ab, p->address + i, data, chunk);
            records++;
        }
    }
    srec_record(t, 5, 2, records, NULL, 0);
    srec_record(t, 10 - type, ab, pieces[0].address, NULL, 0);
}

/* Checks that `img` holds exactly `want` (sorted, not touching) pieces. */
static void expect_pieces(const loaded_image *img, const piece *want, size_t n)
{
    assert_int_equal(img->segment_count, n);
    uint32_t at = 0;
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(img->segments[k].address, want[k].address);
        assert_int_equal(img->segments[k].length, want[k].length);
        for (uint32_t i = 0; i < want[k].length; i++) {
            if (img->payload[at + i] != piece_byte(&want[k], i)) {
                fail_msg("segment %zu byte %u: 0x%02X, want 0x%02X", k, i, img->payload[at + i],
                         piece_byte(&want[k], i));
            }
        }
        assert_int_equal(image_payload_offset(img, want[k].address), at);
        at += want[k].length;
    }
    assert_int_equal(img->payload_size, at);
}

static int load_text(const char *name, const char *text_, loaded_image *img, char *err)
{
    return image_load_buffer(name, (const uint8_t *)text_, strlen(text_), IMAGE_FORMAT_AUTO, false,
                             0, img, err, 256);
}

static void expect_loads(const char *name, const char *text_, loaded_image *img)
{
    char err[256] = "";
    if (load_text(name, text_, img, err) != 0) {
        fail_msg("%s", err);
    }
}

/* Loads text that must fail; the message must contain `want`. */
static void expect_error(const char *name, const char *text_, const char *want)
{
    loaded_image img;
    char err[256] = "";
    assert_int_equal(load_text(name, text_, &img, err), -1);
    if (strstr(err, want) == NULL) {
        fail_msg("message '%s' lacks '%s'", err, want);
    }
    assert_null(img.segments);
    assert_null(img.payload);
    assert_int_equal(img.segment_count, 0);
}

static void expect_contains(const char *err, const char *want)
{
    if (strstr(err, want) == NULL) {
        fail_msg("message '%s' lacks '%s'", err, want);
    }
}

/* A test image: out of order, one piece crossing a 64 KiB boundary, one
 * piece touching another (so the two merge). */
static const piece sample[] = {
    {0x08020000, 5, 0x30},   {0x08000000, 300, 0x10},      {0x0800FFF0, 40, 0x20},
    {0x08000200, 100, 0x40}, {0x08000000 + 300, 20, 0x50},
};

/* ---- Intel HEX ---------------------------------------------------------- */

static void check_sample(const loaded_image *img)
{
    /* Sorted; 0x08000000 + 300 + 20 is short of 0x08000200, so apart. */
    const piece want[] = {{0x08000000, 300, 0x10},
                          {0x08000000 + 300, 20, 0x50},
                          {0x08000200, 100, 0x40},
                          {0x0800FFF0, 40, 0x20},
                          {0x08020000, 5, 0x30}};
    /* The first two touch: one segment whose bytes are both pieces'. */
    assert_int_equal(img->segment_count, 4);
    assert_int_equal(img->segments[0].address, 0x08000000);
    assert_int_equal(img->segments[0].length, 320);
    for (uint32_t i = 0; i < 320; i++) {
        uint8_t want_byte = i < 300 ? piece_byte(&want[0], i) : piece_byte(&want[1], i - 300);
        assert_int_equal(img->payload[i], want_byte);
    }
    loaded_image rest = *img;
    rest.segments += 1;
    rest.segment_count -= 1;
    rest.payload += 320;
    rest.payload_size -= 320;
    expect_pieces(&rest, want + 2, 3);
    assert_int_equal(image_payload_offset(img, 0x08000200), 320);
    assert_int_equal(image_payload_offset(img, 0x08000000 + 319), 319);
    assert_int_equal(image_payload_offset(img, 0x08000000 + 320), -1);
    assert_int_equal(image_payload_offset(img, 0x07FFFFFF), -1);
    assert_int_equal(image_payload_offset(img, 0x08020004), img->payload_size - 1);
    assert_int_equal(image_payload_offset(img, 0x08020005), -1);
}

static void test_ihex_round_trip(void **state)
{
    (void)state;
    static const char *const eols[] = {"\n", "\r\n"};
    for (int e = 0; e < 2; e++) {
        text t = {0};
        ihex_write(&t, sample, sizeof sample / sizeof sample[0], eols[e]);
        put(&t, "%s%s", eols[e], eols[e]); /* trailing blank lines */
        loaded_image img;
        expect_loads("fw.hex", t.s, &img);
        assert_int_equal(img.format, IMAGE_FORMAT_IHEX);
        check_sample(&img);

        stm32isp_image as;
        image_as_stm32isp(&img, &as);
        assert_ptr_equal(as.segments, img.segments);
        assert_int_equal(as.segment_count, img.segment_count);
        uint8_t buf[8];
        assert_int_equal(as.read(as.ctx, img.payload_size - 8, buf, 8), 0);
        assert_memory_equal(buf, img.payload + img.payload_size - 8, 8);
        assert_int_not_equal(as.read(as.ctx, img.payload_size - 7, buf, 8), 0);
        image_free(&img);
        assert_null(img.segments);
        free(t.s);
    }
}

static void test_ihex_segment_address_and_unsorted_records(void **state)
{
    (void)state;
    /* Type 02: base 0x1000 << 4 = 0x10000; records out of order; start
     * address records (03, 05) ignored; blank lines and blanks accepted. */
    const char *hex = "\n  :020000021000EC  \n"
                      ":02001000BBBB78\n"
                      "\n"
                      ":0400000300001000E9\n"
                      ":02000000AAAAAA\n"
                      ":0400000508000101ED\n"
                      ":00000001FF\n";
    loaded_image img;
    expect_loads("x.hex", hex, &img);
    assert_int_equal(img.segment_count, 2);
    assert_int_equal(img.segments[0].address, 0x10000);
    assert_int_equal(img.segments[1].address, 0x10010);
    const uint8_t want[] = {0xAA, 0xAA, 0xBB, 0xBB};
    assert_int_equal(img.payload_size, 4);
    assert_memory_equal(img.payload, want, 4);
    image_free(&img);
}

static void test_ihex_errors_name_the_line(void **state)
{
    (void)state;
    expect_error("a.hex", ":0400000001020304F3\n:00000001FF\n",
                 "a.hex:1: checksum mismatch (record says 0xF3, computed 0xF2)");
    expect_error("a.hex", "\n:00000001FF\n:0400000001020304F2\n",
                 "a.hex:3: data after the end-of-file record (line 2)");
    expect_error("a.hex", ":0400000001020304F2\n", "a.hex:1: no end-of-file record");
    expect_error("a.hex", ":0400000001020304F2\n:04000000ZZ020304F2\n:00000001FF\n",
                 "a.hex:2: invalid hex digit 'Z' in column 10");
    expect_error("a.hex", ":0400000001020304F\n:00000001FF\n", "a.hex:1: odd number of hex digits");
    expect_error("a.hex", ":0500000001020304F1\n:00000001FF\n",
                 "a.hex:1: byte count 0x05 says 5 data bytes, the record has 4");
    expect_error("a.hex", ":00000001\n", "a.hex:1: record too short");
    expect_error("a.hex", ":0400000601020304EC\n:00000001FF\n",
                 "a.hex:1: unknown record type 0x06");
    expect_error("a.hex", ":0400000001020304F2\n0400000001020304F2\n:00000001FF\n",
                 "a.hex:2: a record must start with ':'");
    expect_error("a.hex", ":0100000401FA\n:00000001FF\n", "a.hex:1: an address record");
    expect_error("a.hex", ":0100000155A9\n", "a.hex:1: the end-of-file record carries 1");
    expect_error("a.hex", ":020000040800F2\n:00000001FF\n", "a.hex: the file holds no data");
}

static void test_overlaps(void **state)
{
    (void)state;
    /* Identical overlapping bytes are accepted and appear once. */
    const char *same = ":0400000001020304F2\n"
                       ":020002000304F5\n"
                       ":03000300040506EB\n"
                       ":00000001FF\n";
    loaded_image img;
    expect_loads("same.hex", same, &img);
    assert_int_equal(img.segment_count, 1);
    assert_int_equal(img.segments[0].length, 6);
    const uint8_t want[] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(img.payload_size, 6);
    assert_memory_equal(img.payload, want, 6);
    image_free(&img);
    /* A record wholly inside another, with the same bytes. */
    expect_loads("in.hex", ":0400000001020304F2\n:0100010002FC\n:00000001FF\n", &img);
    assert_int_equal(img.payload_size, 4);
    image_free(&img);

    /* Different bytes: both lines and the address are named. */
    expect_error("diff.hex", ":020000040800F2\n:0400000001020304F2\n:02000200030BEE\n:00000001FF\n",
                 "diff.hex:3: overlapping data differs at 0x08000003 (0x0B here, 0x04 from line "
                 "2)");
    /* The later line lower in memory: still both lines. */
    expect_error("diff.hex", ":020002000305F4\n:0400000001020304F2\n:00000001FF\n",
                 "diff.hex:1: overlapping data differs at 0x00000003 (0x05 here, 0x04 from "
                 "line 2)");
    /* SREC too. */
    expect_error("d.srec", "S10800000102030405E8\nS1050002090AE5\nS9030000FC\n",
                 "d.srec:2: overlapping data differs at 0x00000002");
}

static void test_address_overflow(void **state)
{
    (void)state;
    /* Ends exactly at 0xFFFFFFFF: fine. */
    loaded_image img;
    expect_loads("top.hex", ":02000004FFFFFC\n:04FFFC0001020304F7\n:00000001FF\n", &img);
    assert_int_equal(img.segments[0].address, 0xFFFFFFFC);
    assert_int_equal(img.segments[0].length, 4);
    image_free(&img);
    expect_error("o.hex", ":02000004FFFFFC\n:04FFFE0001020304F5\n:00000001FF\n",
                 "o.hex:2: data at 0xfffffffe (4 bytes) runs past the end of the 4 GiB");
    expect_error("o.s37", "S309FFFFFFFE01020304F1\nS70500000000FA\n",
                 "o.s37:1: data at 0xfffffffe");
    char err[256];
    const uint8_t data[5] = {0};
    assert_int_equal(image_load_buffer("w.bin", data, 5, IMAGE_FORMAT_BIN, true, 0xFFFFFFFE, &img,
                                       err, sizeof err),
                     -1);
    expect_contains(err, "w.bin: data at 0xfffffffe");
    assert_int_equal(image_load_buffer("w.bin", data, 5, IMAGE_FORMAT_BIN, true, 0xFFFFFFFB, &img,
                                       err, sizeof err),
                     0);
    image_free(&img);
}

/* ---- SREC --------------------------------------------------------------- */

static void test_srec_round_trip(void **state)
{
    (void)state;
    for (int type = 1; type <= 3; type++) {
        text t = {0};
        piece pieces[3] = {{0x8100, 70, 0x11}, {0x1000, 33, 0x22}, {0x1000 + 33, 3, 0x33}};
        if (type > 1) {
            for (int i = 0; i < 3; i++) {
                pieces[i].address |= type == 2 ? 0x120000u : 0x08000000u;
            }
        }
        srec_write(&t, type, pieces, 3);
        loaded_image img;
        expect_loads(type == 1 ? "fw.s19" : type == 2 ? "fw.s28" : "fw.s37", t.s, &img);
        assert_int_equal(img.format, IMAGE_FORMAT_SREC);
        assert_int_equal(img.segment_count, 2);
        assert_int_equal(img.segments[0].address, pieces[1].address);
        assert_int_equal(img.segments[0].length, 36);
        for (uint32_t i = 0; i < 36; i++) {
            uint8_t want = i < 33 ? piece_byte(&pieces[1], i) : piece_byte(&pieces[2], i - 33);
            assert_int_equal(img.payload[i], want);
        }
        expect_pieces(&(loaded_image){img.segments + 1, 1, img.payload + 36, img.payload_size - 36,
                                      IMAGE_FORMAT_SREC},
                      &pieces[0], 1);
        image_free(&img);
        free(t.s);
    }
}

static void test_srec_mixed_address_sizes(void **state)
{
    (void)state;
    const char *srec = "S00600004844521B\r\n"
                       "S3090800000001020304E4\r\n"
                       "S2070100100A0B0CC6\r\n"
                       "S1050200EEFF0B\r\n"
                       "S5030003F9\r\n"
                       "S70508000000F2\r\n";
    loaded_image img;
    expect_loads("fw.mot", srec, &img);
    assert_int_equal(img.format, IMAGE_FORMAT_SREC);
    assert_int_equal(img.segment_count, 3);
    assert_int_equal(img.segments[0].address, 0x0200);
    assert_int_equal(img.segments[1].address, 0x010010);
    assert_int_equal(img.segments[2].address, 0x08000000);
    assert_int_equal(img.segments[2].length, 4);
    const uint8_t want[] = {0xEE, 0xFF, 0x0A, 0x0B, 0x0C, 1, 2, 3, 4};
    assert_int_equal(img.payload_size, sizeof want);
    assert_memory_equal(img.payload, want, sizeof want);
    image_free(&img);
}

static void test_srec_errors(void **state)
{
    (void)state;
    expect_error("b.srec", "S3090800000001020304DD\nS70508000000F2\n",
                 "b.srec:1: checksum mismatch (record says 0xDD, computed 0xE4)");
    expect_error("b.srec", "S3090800000001020304E4\n", "b.srec:1: no termination record");
    expect_error("b.srec", "S3090800000001020304E4\nS5030002FA\nS70508000000F2\n",
                 "b.srec:2: record count says 2 data records, the file has 1");
    expect_error("b.srec", "S3090800000001020304E4\nS604000002F9\nS70508000000F2\n",
                 "b.srec:2: record count says 2");
    expect_error("b.srec", "S3090800000001020304E4\nX\nS70508000000F2\n",
                 "b.srec:2: a record must start with S0..S9");
    expect_error("b.srec", "S4030000FC\nS70508000000F2\n", "b.srec:1: S4 is not a valid");
    expect_error("b.srec", "S70508000000F2\nS3090800000001020304E4\n",
                 "b.srec:2: data after the termination record (line 1)");
    expect_error("b.srec", "S3090800000001020G04E4\nS70508000000F2\n",
                 "b.srec:1: invalid hex digit 'G' in column 18");
    expect_error("b.srec", "S30A0800000001020304E3\nS70508000000F2\n",
                 "b.srec:1: byte count 0x0A says 10 bytes follow, the record has 9");
    expect_error("b.srec", "S3030800F4\nS70508000000F2\n", "b.srec:1: S3 record too short");
    expect_error("b.srec", "S00600004844521B\nS9030000FC\n", "b.srec: the file holds no data");
}

/* ---- Binary, detection, files ------------------------------------------- */

static void test_binary_needs_an_address(void **state)
{
    (void)state;
    const uint8_t data[5] = {9, 8, 7, 6, 5};
    loaded_image img;
    char err[256];
    assert_int_equal(
        image_load_buffer("fw.bin", data, 5, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "fw.bin: a raw binary has no address: give it with --address");
    assert_int_equal(image_load_buffer("fw.bin", data, 5, IMAGE_FORMAT_AUTO, true, 0x08004000, &img,
                                       err, sizeof err),
                     0);
    assert_int_equal(img.format, IMAGE_FORMAT_BIN);
    assert_int_equal(img.segment_count, 1);
    assert_int_equal(img.segments[0].address, 0x08004000);
    assert_int_equal(img.payload_size, 5);
    assert_memory_equal(img.payload, data, 5);
    image_free(&img);
}

static void test_empty_and_too_large(void **state)
{
    (void)state;
    loaded_image img;
    char err[256];
    const uint8_t one = 0;
    assert_int_equal(
        image_load_buffer("e.bin", &one, 0, IMAGE_FORMAT_BIN, true, 0, &img, err, sizeof err), -1);
    expect_contains(err, "e.bin: the file is empty");
    assert_int_equal(
        image_load_buffer("e.hex", NULL, 0, IMAGE_FORMAT_AUTO, true, 0, &img, err, sizeof err), -1);
    expect_contains(err, "e.hex: the file is empty");
    expect_error("only-eof.hex", ":00000001FF\n", "only-eof.hex: the file holds no data");

    size_t big = IMAGE_MAX_FILE_SIZE + 1;
    uint8_t *data = calloc(big, 1);
    assert_non_null(data);
    assert_int_equal(
        image_load_buffer("big.bin", data, big, IMAGE_FORMAT_BIN, true, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "big.bin: file too large (16777217 bytes; the limit is 16 MiB)");
    /* Exactly the limit is accepted. */
    assert_int_equal(image_load_buffer("max.bin", data, big - 1, IMAGE_FORMAT_BIN, true, 0, &img,
                                       err, sizeof err),
                     0);
    assert_int_equal(img.payload_size, IMAGE_MAX_FILE_SIZE);
    image_free(&img);
    free(data);

    /* And from a (sparse) file. */
    char path[] = "/tmp/test_imagefile_big_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)big), 0);
    close(fd);
    assert_int_equal(image_load(path, IMAGE_FORMAT_BIN, true, 0, &img, err, sizeof err), -1);
    expect_contains(err, path);
    expect_contains(err, "file too large");
    unlink(path);
}

static void test_too_many_segments(void **state)
{
    (void)state;
    /* One byte every other address: as many segments as records. */
    text t = {0};
    uint32_t upper = 0xFFFFFFFF;
    for (uint32_t i = 0; i <= IMAGE_MAX_SEGMENTS; i++) {
        uint32_t a = i * 2;
        if (a >> 16 != upper) {
            upper = a >> 16;
            uint8_t ext[2] = {(uint8_t)(upper >> 8), (uint8_t)upper};
            ihex_record(&t, 0x04, 0, ext, 2, "\n");
        }
        uint8_t byte = (uint8_t)i;
        ihex_record(&t, 0x00, (uint16_t)a, &byte, 1, "\n");
    }
    ihex_record(&t, 0x01, 0, NULL, 0, "\n");
    expect_error("many.hex", t.s, "many.hex: more than 65536 separate segments");
    free(t.s);
}

static void test_detection(void **state)
{
    (void)state;
    loaded_image img;
    char err[256];
    /* Content beats the extension. */
    expect_loads("fw.s19", ":0100000055AA\n:00000001FF\n", &img);
    assert_int_equal(img.format, IMAGE_FORMAT_IHEX);
    image_free(&img);
    expect_loads("fw.hex", "\r\n S1040000AA51\nS9030000FC\n", &img);
    assert_int_equal(img.format, IMAGE_FORMAT_SREC);
    image_free(&img);
    /* The extension decides when the content does not. */
    expect_error("fw.hex", "hello\n", "fw.hex:1: a record must start with ':', not 'h'");
    expect_error("fw.SREC", "hello\n", "fw.SREC:1: a record must start with S0..S9");
    expect_error("fw.axf", "hello\n", "fw.axf: not an ELF file");
    expect_error("fw.dat", "hello\n", "fw.dat: a raw binary has no address");
    /* A .bin is raw even when it looks like text. */
    const char *colon = ":0100000055AA\n";
    assert_int_equal(image_load_buffer("fw.bin", (const uint8_t *)colon, strlen(colon),
                                       IMAGE_FORMAT_AUTO, true, 0x08000000, &img, err, sizeof err),
                     0);
    assert_int_equal(img.format, IMAGE_FORMAT_BIN);
    assert_int_equal(img.payload_size, strlen(colon));
    image_free(&img);
    /* An explicit format is obeyed. */
    assert_int_equal(image_load_buffer("fw.hex", (const uint8_t *)colon, strlen(colon),
                                       IMAGE_FORMAT_BIN, true, 0x08000000, &img, err, sizeof err),
                     0);
    assert_int_equal(img.format, IMAGE_FORMAT_BIN);
    image_free(&img);
}

static void test_format_names(void **state)
{
    (void)state;
    image_format f;
    assert_true(image_format_parse("HEX", &f) && f == IMAGE_FORMAT_IHEX);
    assert_true(image_format_parse("ihex", &f) && f == IMAGE_FORMAT_IHEX);
    assert_true(image_format_parse("s19", &f) && f == IMAGE_FORMAT_SREC);
    assert_true(image_format_parse("srec", &f) && f == IMAGE_FORMAT_SREC);
    assert_true(image_format_parse("elf", &f) && f == IMAGE_FORMAT_ELF);
    assert_true(image_format_parse("bin", &f) && f == IMAGE_FORMAT_BIN);
    assert_true(image_format_parse("auto", &f) && f == IMAGE_FORMAT_AUTO);
    assert_false(image_format_parse("uf2", &f));
    assert_false(image_format_parse("", &f));
    assert_string_equal(image_format_name(IMAGE_FORMAT_SREC), "srec");
    assert_string_equal(image_format_name(IMAGE_FORMAT_IHEX), "hex");
    assert_string_equal(image_format_name(IMAGE_FORMAT_ELF), "elf");
    assert_string_equal(image_format_name(IMAGE_FORMAT_BIN), "bin");
    assert_string_equal(image_format_name(IMAGE_FORMAT_AUTO), "auto");
}

static void test_garbage_is_refused_without_crashing(void **state)
{
    (void)state;
    uint8_t junk[512];
    uint64_t x = 99;
    loaded_image img;
    char err[256];
    static const image_format formats[] = {IMAGE_FORMAT_IHEX, IMAGE_FORMAT_SREC, IMAGE_FORMAT_ELF,
                                           IMAGE_FORMAT_AUTO};
    for (int round = 0; round < 400; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 6364136223846793005ull + 1;
            junk[i] = (uint8_t)(x >> 56);
        }
        image_format fmt = formats[round % 4];
        if (round % 4 == 0) {
            junk[0] = ':';
        } else if (round % 4 == 1) {
            junk[0] = 'S';
            junk[1] = '3';
        } else if (round % 4 == 2) {
            memcpy(junk, "\177ELF\001\001\001", 7);
        }
        size_t len = 1 + (size_t)(x >> 20) % sizeof junk;
        assert_int_equal(image_load_buffer("junk", junk, len, fmt, false, 0, &img, err, sizeof err),
                         -1);
        assert_true(strncmp(err, "junk", 4) == 0);
        assert_null(img.segments);
    }
}

static void test_unreadable_files(void **state)
{
    (void)state;
    loaded_image img;
    char err[256];
    assert_int_equal(
        image_load("/nonexistent/fw.hex", IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err), -1);
    expect_contains(err, "cannot open /nonexistent/fw.hex: No such file or directory");
    assert_int_equal(image_load("/tmp", IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err), -1);
    expect_contains(err, "/tmp: Is a directory");

    /* A real file loads like the buffer. */
    char path[] = "/tmp/test_imagefile_hex_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    text t = {0};
    ihex_write(&t, sample, sizeof sample / sizeof sample[0], "\r\n");
    assert_int_equal(write(fd, t.s, t.len), (ssize_t)t.len);
    close(fd);
    if (image_load(path, IMAGE_FORMAT_IHEX, false, 0, &img, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    check_sample(&img);
    image_free(&img);
    free(t.s);
    /* Errors name the path. */
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ":00000001FF\n", 12), 12);
    close(fd);
    assert_int_equal(image_load(path, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err), -1);
    expect_contains(err, path);
    expect_contains(err, "data after the end-of-file record");
    unlink(path);
}

/* ---- ELF ---------------------------------------------------------------- */

typedef struct elf_seg {
    const uint8_t *bytes;
    uint32_t filesz, memsz;
    uint32_t vaddr, paddr;
} elf_seg;

/* Builds a 32-bit ARM executable with one PT_LOAD per `segs` entry (each
 * over its own section) in a temporary file named into `path` (31 bytes);
 * returns its bytes. */
static uint8_t *build_elf(const elf_seg *segs, size_t n, bool big_endian, char *path, size_t *size)
{
    assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
    strcpy(path, "/tmp/test_imagefile_elf_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    Elf *e = elf_begin(fd, ELF_C_WRITE, NULL);
    assert_non_null(e);
    Elf32_Ehdr *eh = elf32_newehdr(e);
    assert_non_null(eh);
    eh->e_ident[EI_DATA] = big_endian ? ELFDATA2MSB : ELFDATA2LSB;
    eh->e_machine = EM_ARM;
    eh->e_type = ET_EXEC;
    Elf32_Phdr *ph = elf32_newphdr(e, n);
    assert_non_null(ph);
    for (size_t i = 0; i < n; i++) {
        Elf_Scn *scn = elf_newscn(e);
        assert_non_null(scn);
        Elf_Data *d = elf_newdata(scn);
        assert_non_null(d);
        d->d_buf = (void *)(uintptr_t)segs[i].bytes;
        d->d_size = segs[i].filesz;
        d->d_type = ELF_T_BYTE;
        d->d_align = 4;
        Elf32_Shdr *sh = elf32_getshdr(scn);
        sh->sh_type = segs[i].filesz != 0 ? SHT_PROGBITS : SHT_NOBITS;
        sh->sh_flags = SHF_ALLOC;
    }
    assert_true(elf_update(e, ELF_C_NULL) >= 0);
    /* The program headers over the sections' file offsets. */
    Elf_Scn *scn = NULL;
    for (size_t i = 0; i < n; i++) {
        scn = elf_nextscn(e, scn);
        const Elf32_Shdr *sh = elf32_getshdr(scn);
        ph[i] = (Elf32_Phdr){.p_type = PT_LOAD,
                             .p_offset = sh->sh_offset,
                             .p_vaddr = segs[i].vaddr,
                             .p_paddr = segs[i].paddr,
                             .p_filesz = segs[i].filesz,
                             .p_memsz = segs[i].memsz,
                             .p_flags = PF_R,
                             .p_align = 4};
    }
    elf_flagphdr(e, ELF_C_SET, ELF_F_DIRTY);
    assert_true(elf_update(e, ELF_C_WRITE) >= 0);
    elf_end(e);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *size = (size_t)st.st_size;
    uint8_t *bytes = malloc(*size);
    assert_non_null(bytes);
    assert_int_equal(pread(fd, bytes, *size, 0), (ssize_t)*size);
    close(fd);
    return bytes;
}

static const uint8_t elf_text[16] = {0x00, 0x50, 0x00, 0x20, 0x09, 0x00, 0x00, 0x08,
                                     1,    2,    3,    4,    5,    6,    7,    8};
static const uint8_t elf_data[4] = {0x78, 0x56, 0x34, 0x12};
static const uint8_t elf_more[4] = {0xA1, 0xA2, 0xA3, 0xA4};

/* .text at 0x08000000; .data in RAM (vaddr) loaded at 0x08000400 (paddr);
 * a segment with a .bss tail (memsz > filesz) at 0x08000800; a .bss-only
 * segment (filesz 0) in RAM. */
static const elf_seg elf_sample[] = {
    {elf_text, sizeof elf_text, sizeof elf_text, 0x08000000, 0x08000000},
    {elf_data, sizeof elf_data, sizeof elf_data, 0x20000000, 0x08000400},
    {elf_more, sizeof elf_more, 0x40, 0x08000800, 0x08000800},
    {NULL, 0, 0x100, 0x20000100, 0x20000100},
};

static void test_elf_loads_at_the_load_address(void **state)
{
    (void)state;
    char path[] = "/tmp/test_imagefile_elf_XXXXXX";
    size_t size;
    uint8_t *bytes = build_elf(elf_sample, 4, false, path, &size);
    loaded_image img;
    char err[256];
    if (image_load(path, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(img.format, IMAGE_FORMAT_ELF);
    assert_int_equal(img.segment_count, 3);
    assert_int_equal(img.segments[0].address, 0x08000000);
    assert_int_equal(img.segments[0].length, 16);
    assert_int_equal(img.segments[1].address, 0x08000400); /* p_paddr, not p_vaddr */
    assert_int_equal(img.segments[1].length, 4);
    assert_int_equal(img.segments[2].address, 0x08000800);
    assert_int_equal(img.segments[2].length, 4); /* p_filesz, not p_memsz */
    assert_int_equal(img.payload_size, 24);
    assert_memory_equal(img.payload, elf_text, 16);
    assert_memory_equal(img.payload + 16, elf_data, 4);
    assert_memory_equal(img.payload + 20, elf_more, 4);
    image_free(&img);
    unlink(path);

    /* Truncated anywhere before the end of the last loaded byte: refused,
     * with the name; beyond it (section headers lost): no crash. */
    uint32_t last_end = 0;
    for (int i = 0; i < 3; i++) {
        /* Program header i starts at e_phoff + i * 32; p_offset is at +4. */
        uint32_t phoff, off;
        memcpy(&phoff, bytes + 28, 4);
        memcpy(&off, bytes + phoff + (uint32_t)i * 32 + 4, 4);
        if (off + elf_sample[i].filesz > last_end) {
            last_end = off + elf_sample[i].filesz;
        }
    }
    assert_true(last_end <= size);
    for (size_t len = 0; len < size; len++) {
        int rc = image_load_buffer("cut.elf", bytes, len, IMAGE_FORMAT_AUTO, true, 0, &img, err,
                                   sizeof err);
        if (len < last_end) {
            if (rc != -1) {
                fail_msg("truncated at %zu of %zu: loaded", len, size);
            }
            assert_true(strncmp(err, "cut.elf", 7) == 0);
        } else if (rc == 0) {
            assert_int_equal(img.payload_size, 24);
            image_free(&img);
        }
    }
    assert_int_equal(
        image_load_buffer("cut.elf", bytes, 40, IMAGE_FORMAT_ELF, true, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "cut.elf: truncated ELF header");
    free(bytes);
}

static void test_elf_refusals(void **state)
{
    (void)state;
    char path[] = "/tmp/test_imagefile_elf_XXXXXX";
    size_t size;
    loaded_image img;
    char err[256];

    uint8_t *bytes = build_elf(elf_sample, 2, true, path, &size);
    assert_int_equal(image_load(path, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err), -1);
    expect_contains(err, path);
    expect_contains(err, "a big-endian ELF file");
    unlink(path);
    free(bytes);

    /* Two program headers putting different bytes at one address. */
    const elf_seg clash[] = {
        {elf_text, sizeof elf_text, sizeof elf_text, 0x08000000, 0x08000000},
        {elf_data, sizeof elf_data, sizeof elf_data, 0x20000000, 0x08000008},
    };
    bytes = build_elf(clash, 2, false, path, &size);
    unlink(path);
    assert_int_equal(
        image_load_buffer("c.elf", bytes, size, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "c.elf: program headers 0 and 1 overlap with different data at "
                         "0x08000008 (0x01 and 0x78)");
    free(bytes);

    /* p_filesz > p_memsz is malformed. */
    const elf_seg bad[] = {{elf_text, sizeof elf_text, 4, 0x08000000, 0x08000000}};
    bytes = build_elf(bad, 1, false, path, &size);
    unlink(path);
    assert_int_equal(
        image_load_buffer("m.elf", bytes, size, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "m.elf: program header 0: file size 0x10 larger than memory size 0x4");
    free(bytes);

    /* Only a .bss segment: nothing to program. */
    bytes = build_elf(elf_sample + 3, 1, false, path, &size);
    unlink(path);
    assert_int_equal(
        image_load_buffer("b.elf", bytes, size, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "b.elf: no loadable segment with data");
    free(bytes);

    /* A segment past 4 GiB. */
    const elf_seg high[] = {{elf_text, sizeof elf_text, sizeof elf_text, 0, 0xFFFFFFF8}};
    bytes = build_elf(high, 1, false, path, &size);
    unlink(path);
    assert_int_equal(
        image_load_buffer("h.elf", bytes, size, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "h.elf: data at 0xfffffff8 (16 bytes) runs past the end");
    free(bytes);

    /* ELF64, and a file that is only an identification. */
    uint8_t ident[64] = {0x7F, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT};
    assert_int_equal(image_load_buffer("x.elf", ident, sizeof ident, IMAGE_FORMAT_AUTO, false, 0,
                                       &img, err, sizeof err),
                     -1);
    expect_contains(err, "x.elf: a 64-bit ELF file");
    ident[EI_CLASS] = ELFCLASS32;
    assert_int_equal(
        image_load_buffer("x.elf", ident, 52, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "x.elf: ");
    assert_int_equal(
        image_load_buffer("x.elf", ident, 20, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    expect_contains(err, "x.elf: truncated ELF header");
}

/* Intel HEX output: checksums, 04 records at 64 KiB boundaries, and the
 * bytes back through the reader. */
static void check_ihex_lines(const char *hex, size_t size)
{
    size_t at = 0;
    while (at < size) {
        const char *line = hex + at;
        const char *nl = memchr(line, '\n', size - at);
        assert_non_null(nl);
        size_t len = (size_t)(nl - line);
        assert_true(len >= 11 && len % 2 == 1 && line[0] == ':');
        unsigned sum = 0;
        for (size_t i = 1; i < len; i += 2) {
            unsigned b;
            assert_int_equal(sscanf(line + i, "%2X", &b), 1);
            sum += b;
        }
        assert_int_equal(sum & 0xFF, 0);
        unsigned count, offset;
        assert_int_equal(sscanf(line + 1, "%2X%4X", &count, &offset), 2);
        assert_int_equal(len, 11 + 2 * count);
        /* A data record never runs past a 64 KiB boundary. */
        if (line[7] == '0' && line[8] == '0') {
            assert_true(offset + count <= 0x10000);
        }
        at += len + 1;
    }
}

static void test_ihex_output(void **state)
{
    (void)state;
    /* Exact hex, checksums worked out by hand: 04 record for 0x0800,
     * 3 bytes at 0x0010, end. */
    const uint8_t three[3] = {0x01, 0x02, 0xAB};
    char *hex;
    size_t size;
    assert_int_equal(image_format_ihex(three, 3, 0x08000010, &hex, &size), 0);
    const char *want = ":020000040800F2\n:03001000010 2AB3F\n:00000001FF\n";
    char expected[64];
    size_t k = 0;
    for (const char *p = want; *p != '\0'; p++) {
        if (*p != ' ') {
            expected[k++] = *p;
        }
    }
    expected[k] = '\0';
    assert_int_equal(size, strlen(expected));
    assert_memory_equal(hex, expected, size);
    free(hex);

    assert_int_equal(image_format_ihex(NULL, 0, 0x08000000, &hex, &size), 0);
    assert_int_equal(size, 12);
    assert_memory_equal(hex, ":00000001FF\n", 12);
    free(hex);

    static const size_t sizes[] = {1, 15, 16, 17, 65536 + 100};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *bytes = malloc(n);
        assert_non_null(bytes);
        for (size_t j = 0; j < n; j++) {
            bytes[j] = (uint8_t)(j * 7 + i);
        }
        uint32_t address = n > 65536 ? 0x0800FFF8u : 0x08000000u;
        assert_int_equal(image_format_ihex(bytes, n, address, &hex, &size), 0);
        check_ihex_lines(hex, size);
        if (n > 65536) {
            /* Two 64 KiB windows and a third: three 04 records. */
            assert_non_null(strstr(hex, ":020000040800F2\n"));
            assert_non_null(strstr(hex, ":020000040801F1\n"));
            assert_non_null(strstr(hex, ":020000040802F0\n"));
        }
        loaded_image img;
        char err[256];
        assert_int_equal(image_load_buffer("back.hex", (const uint8_t *)hex, size,
                                           IMAGE_FORMAT_IHEX, false, 0, &img, err, sizeof err),
                         0);
        assert_int_equal(img.segment_count, 1);
        assert_int_equal(img.segments[0].address, address);
        assert_int_equal(img.payload_size, n);
        assert_memory_equal(img.payload, bytes, n);
        image_free(&img);
        free(hex);
        free(bytes);
    }
    assert_int_equal(image_format_ihex(three, 3, 0xFFFFFFFEu, &hex, &size), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ihex_round_trip),
        cmocka_unit_test(test_ihex_segment_address_and_unsorted_records),
        cmocka_unit_test(test_ihex_errors_name_the_line),
        cmocka_unit_test(test_overlaps),
        cmocka_unit_test(test_address_overflow),
        cmocka_unit_test(test_srec_round_trip),
        cmocka_unit_test(test_srec_mixed_address_sizes),
        cmocka_unit_test(test_srec_errors),
        cmocka_unit_test(test_binary_needs_an_address),
        cmocka_unit_test(test_empty_and_too_large),
        cmocka_unit_test(test_too_many_segments),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_garbage_is_refused_without_crashing),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_elf_loads_at_the_load_address),
        cmocka_unit_test(test_elf_refusals),
        cmocka_unit_test(test_ihex_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

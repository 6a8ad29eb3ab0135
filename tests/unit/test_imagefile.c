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
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* ---- Intel HEX writer --------------------------------------------------- */

/* What check_written_ihex found. */
typedef struct ihex_counts {
    size_t data_records;
    size_t ext_records;
} ihex_counts;

static unsigned hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return (unsigned)(ch - '0');
    }
    if (ch >= 'A' && ch <= 'F') {
        return (unsigned)(ch - 'A' + 10);
    }
    fail_msg("'%c' is not an uppercase hex digit", ch);
    return 0;
}

/*
 * Reads the writer's text on its own, without the library's reader: every
 * line ":" + uppercase hex + CR LF, its byte count matching its length, its
 * bytes (checksum included) summing to 0 mod 256; 04 records only where the
 * upper half changes; data records after an 04, within one 64 KiB block,
 * and, when `size` is not SIZE_MAX, exactly the 16-byte run from `address`
 * (shorter only at the end or at a 64 KiB boundary); no other record type;
 * the end record last and once.
 */
static ihex_counts check_written_ihex(const char *s, size_t len, uint32_t address, size_t size)
{
    ihex_counts c = {0};
    bool have_upper = false, ended = false;
    uint32_t upper = 0;
    size_t done = 0;
    size_t pos = 0;
    while (pos < len) {
        assert_false(ended); /* nothing after the end record */
        assert_int_equal(s[pos], ':');
        const char *eol = memchr(s + pos, '\n', len - pos);
        assert_non_null(eol);
        size_t line_len = (size_t)(eol - (s + pos)) + 1;
        assert_true(line_len >= 13);
        assert_int_equal(eol[-1], '\r');
        size_t digits = line_len - 3; /* ':' and CR LF */
        assert_int_equal(digits % 2, 0);
        uint8_t b[5 + 255] = {0};
        size_t nb = digits / 2;
        assert_true(nb >= 5 && nb <= sizeof b);
        unsigned sum = 0;
        for (size_t i = 0; i < nb; i++) {
            b[i] = (uint8_t)(hex_value(s[pos + 1 + 2 * i]) << 4 | hex_value(s[pos + 2 + 2 * i]));
            sum += b[i];
        }
        if ((sum & 0xFF) != 0) {
            fail_msg("line at offset %zu: bytes sum to 0x%02X, not 0", pos, sum & 0xFF);
        }
        size_t n = b[0];
        unsigned offset = (unsigned)b[1] << 8 | b[2];
        assert_int_equal(nb, 5 + n);
        switch (b[3]) {
        case 0x00: {
            assert_true(have_upper);
            assert_true(n >= 1 && n <= 16);
            assert_true(offset + n <= 0x10000u); /* never crosses 64 KiB */
            c.data_records++;
            if (size == SIZE_MAX) {
                break;
            }
            uint64_t want = (uint64_t)address + done;
            assert_int_equal(upper << 16 | offset, (uint32_t)want);
            size_t want_n = 16;
            if (want_n > size - done) {
                want_n = size - done;
            }
            if (want_n > 0x10000u - offset) {
                want_n = 0x10000u - offset;
            }
            assert_int_equal(n, want_n);
            done += n;
            break;
        }
        case 0x04: {
            assert_int_equal(n, 2);
            assert_int_equal(offset, 0);
            uint32_t next = (uint32_t)b[4] << 8 | b[5];
            assert_true(!have_upper || next != upper); /* only where it changes */
            have_upper = true;
            upper = next;
            c.ext_records++;
            break;
        }
        case 0x01:
            assert_int_equal(line_len, 13);
            assert_memory_equal(s + pos, ":00000001FF\r\n", 13);
            ended = true;
            break;
        default:
            fail_msg("record type 0x%02X written", b[3]);
        }
        pos += line_len;
    }
    assert_true(ended);
    if (size != SIZE_MAX) {
        assert_int_equal(done, size);
    }
    return c;
}

static uint8_t *pattern(size_t size, unsigned seed)
{
    uint8_t *data = malloc(size != 0 ? size : 1);
    assert_non_null(data);
    for (size_t i = 0; i < size; i++) {
        data[i] = (uint8_t)(seed + i * 13u + (i >> 8));
    }
    return data;
}

/* Writes `size` bytes at `address`, checks the text, reads it back. */
static void ihex_write_and_read_back(size_t size, uint32_t address)
{
    uint8_t *data = pattern(size, address >> 4);
    char *hex = NULL;
    size_t hex_size = 0;
    assert_int_equal(image_format_ihex(data, size, address, &hex, &hex_size), 0);
    assert_non_null(hex);
    assert_int_equal(strlen(hex), hex_size);
    ihex_counts c = check_written_ihex(hex, hex_size, address, size);
    /* One 04 per 64 KiB block the data touches: the first and each change. */
    uint32_t last = (uint32_t)(address + size - 1);
    assert_int_equal(c.ext_records, (last >> 16) - (address >> 16) + 1);

    loaded_image img;
    char err[256] = "";
    if (image_load_buffer("read.hex", (const uint8_t *)hex, hex_size, IMAGE_FORMAT_AUTO, false, 0,
                          &img, err, sizeof err) != 0) {
        fail_msg("size %zu at 0x%08X: %s", size, address, err);
    }
    assert_int_equal(img.format, IMAGE_FORMAT_IHEX);
    assert_int_equal(img.segment_count, 1);
    assert_int_equal(img.segments[0].address, address);
    assert_int_equal(img.segments[0].length, size);
    assert_int_equal(img.payload_size, size);
    assert_memory_equal(img.payload, data, size);
    image_free(&img);
    free(hex);
    free(data);
}

static void test_ihex_writer_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 15, 16, 17, 65536 + 100};
    static const uint32_t addresses[] = {0x08000000, 0x0800FFF8, 0x00000000, 0x2000FFFF};
    for (size_t a = 0; a < sizeof addresses / sizeof addresses[0]; a++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            ihex_write_and_read_back(sizes[k], addresses[a]);
        }
    }
    /* Up to the last byte of the address space. */
    ihex_write_and_read_back(16, 0xFFFFFFF0u);
    ihex_write_and_read_back(1, 0xFFFFFFFFu);
}

/* 65636 bytes from 0x0800FFF8 cross into 0x0801xxxx and 0x0802xxxx: an 04
 * record before each, and the record before each boundary cut short. */
static void test_ihex_writer_splits_at_64k(void **state)
{
    (void)state;
    size_t size = 65536 + 100;
    uint8_t *data = pattern(size, 1);
    char *hex = NULL;
    size_t hex_size = 0;
    assert_int_equal(image_format_ihex(data, size, 0x0800FFF8, &hex, &hex_size), 0);
    ihex_counts c = check_written_ihex(hex, hex_size, 0x0800FFF8, size);
    assert_int_equal(c.ext_records, 3);
    /* 8 bytes up to 0x08010000, 4096 full records, 92 bytes = 5 full + 12. */
    assert_int_equal(c.data_records, 1 + 4096 + 6);
    assert_int_equal(strncmp(hex, ":020000040800F2\r\n:08FFF800", 26), 0);
    const char *second = strstr(hex, ":020000040801F1\r\n");
    const char *third = strstr(hex, ":020000040802F0\r\n");
    assert_non_null(second);
    assert_non_null(third);
    assert_true(second < third);
    /* Right after each 04, the data restart at offset 0000. */
    assert_int_equal(strncmp(second + 17, ":10000000", 9), 0);
    assert_int_equal(strncmp(third + 17, ":10000000", 9), 0);
    free(hex);
    free(data);
}

/* Byte for byte, against records whose checksums are worked out here:
 * checksum = 0x100 - (sum of the record's bytes & 0xFF). */
static void test_ihex_writer_exact_text(void **state)
{
    (void)state;
    uint8_t seq[17];
    for (unsigned i = 0; i < sizeof seq; i++) {
        seq[i] = (uint8_t)i;
    }
    char *hex = NULL;
    size_t hex_size = 0;
    assert_int_equal(image_format_ihex(seq, sizeof seq, 0x08000000, &hex, &hex_size), 0);
    static const char want1[] =
        /* 02+00+00+04+08+00 = 0x0E -> 0xF2 */
        ":020000040800F2\r\n"
        /* 10+00+00+00 + (0+1+...+15 = 0x78) = 0x88 -> 0x78 */
        ":10000000000102030405060708090A0B0C0D0E0F78\r\n"
        /* 01+00+10+00+10 = 0x21 -> 0xDF */
        ":0100100010DF\r\n"
        /* 00+00+00+01 = 0x01 -> 0xFF */
        ":00000001FF\r\n";
    assert_int_equal(hex_size, sizeof want1 - 1);
    assert_string_equal(hex, want1);
    free(hex);

    /* Four bytes across 0x08010000: split, with an 04 between the halves. */
    static const uint8_t across[] = {0xAA, 0xBB, 0xCC, 0xDD};
    assert_int_equal(image_format_ihex(across, sizeof across, 0x0800FFFE, &hex, &hex_size), 0);
    static const char want2[] = ":020000040800F2\r\n"
                                /* 02+FF+FE+00+AA+BB = 0x364 -> 0x64 -> 0x9C */
                                ":02FFFE00AABB9C\r\n"
                                /* 02+00+00+04+08+01 = 0x0F -> 0xF1 */
                                ":020000040801F1\r\n"
                                /* 02+00+00+00+CC+DD = 0x1AB -> 0xAB -> 0x55 */
                                ":02000000CCDD55\r\n"
                                ":00000001FF\r\n";
    assert_int_equal(hex_size, sizeof want2 - 1);
    assert_string_equal(hex, want2);
    free(hex);

    /* Address 0 still starts with an 04 record (upper half 0000). */
    static const uint8_t one = 0x5A;
    assert_int_equal(image_format_ihex(&one, 1, 0x1234, &hex, &hex_size), 0);
    /* 02+00+00+04+00+00 = 0x06 -> 0xFA; 01+12+34+00+5A = 0xA1 -> 0x5F */
    assert_string_equal(hex, ":020000040000FA\r\n:011234005A5F\r\n:00000001FF\r\n");
    free(hex);
}

/* size 0: the end record alone, which the reader refuses as empty. */
static void test_ihex_writer_empty(void **state)
{
    (void)state;
    char *hex = NULL;
    size_t hex_size = 0;
    assert_int_equal(image_format_ihex(NULL, 0, 0x08000000, &hex, &hex_size), 0);
    assert_string_equal(hex, ":00000001FF\r\n");
    assert_int_equal(hex_size, 13);
    expect_error("read.hex", hex, "the file holds no data to program");
    free(hex);
    /* At the very top, size 0 is not past 4 GiB. */
    assert_int_equal(image_format_ihex(NULL, 0, 0xFFFFFFFFu, &hex, &hex_size), 0);
    assert_string_equal(hex, ":00000001FF\r\n");
    free(hex);
}

static void test_ihex_writer_refuses_past_4gib(void **state)
{
    (void)state;
    uint8_t data[17] = {0};
    char *hex = (char *)data; /* must come back NULL */
    size_t hex_size = 99;
    assert_int_equal(image_format_ihex(data, 17, 0xFFFFFFF0u, &hex, &hex_size), -1);
    assert_null(hex);
    assert_int_equal(hex_size, 0);
    assert_int_equal(image_format_ihex(data, 2, 0xFFFFFFFFu, &hex, &hex_size), -1);
    assert_null(hex);
}

/* Any loaded image to Intel HEX: the sample (segments in three 64 KiB
 * blocks) from SREC and back through the Intel HEX reader. */
static void test_ihex_writer_image(void **state)
{
    (void)state;
    text t = {0};
    srec_write(&t, 3, sample, sizeof sample / sizeof sample[0]);
    loaded_image img;
    expect_loads("fw.srec", t.s, &img);
    free(t.s);
    char *hex = NULL;
    size_t hex_size = 0;
    assert_int_equal(image_format_ihex_image(&img, &hex, &hex_size), 0);
    ihex_counts c = check_written_ihex(hex, hex_size, 0, SIZE_MAX);
    assert_int_equal(c.ext_records, 3); /* 0800, 0801, 0802 */
    image_free(&img);
    expect_loads("fw.hex", hex, &img);
    assert_int_equal(img.format, IMAGE_FORMAT_IHEX);
    check_sample(&img);
    image_free(&img);
    free(hex);

    /* No segments: the end record alone. A segment past the payload: -1. */
    loaded_image none = {0};
    assert_int_equal(image_format_ihex_image(&none, &hex, &hex_size), 0);
    assert_string_equal(hex, ":00000001FF\r\n");
    free(hex);
    uint8_t byte = 0;
    stm32isp_segment seg = {0x08000000, 2};
    loaded_image bad = {.segments = &seg, .segment_count = 1, .payload = &byte, .payload_size = 1};
    assert_int_equal(image_format_ihex_image(&bad, &hex, &hex_size), -1);
    assert_null(hex);
}

#ifdef TEST_OBJCOPY
/* Runs objcopy with `args` (NULL-terminated, after the program name). */
static void run_objcopy(const char *const *args)
{
    char *argv[12] = {(char *)TEST_OBJCOPY};
    size_t n = 1;
    for (; args[n - 1] != NULL; n++) {
        assert_true(n + 1 < sizeof argv / sizeof argv[0]);
        argv[n] = (char *)args[n - 1];
    }
    argv[n] = NULL;
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, TEST_OBJCOPY, NULL, NULL, argv, environ), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    close(fd);
}

static char *read_file(const char *path, size_t *size)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    char *data = malloc((size_t)st.st_size + 1);
    assert_non_null(data);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, data, (size_t)st.st_size), (ssize_t)st.st_size);
    close(fd);
    data[st.st_size] = '\0';
    *size = (size_t)st.st_size;
    return data;
}
#endif

/* GNU objcopy as an independent reader and writer: its binary of our text
 * is the input, and its Intel HEX of the input is our text. */
static void test_ihex_writer_matches_objcopy(void **state)
{
    (void)state;
#ifndef TEST_OBJCOPY
    skip();
#else
    char dir[] = "/tmp/test_imagefile_objcopy_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ours[64], bin[64], theirs[64];
    snprintf(ours, sizeof ours, "%s/ours.hex", dir);
    snprintf(bin, sizeof bin, "%s/data.bin", dir);
    snprintf(theirs, sizeof theirs, "%s/theirs.hex", dir);

    static const struct {
        size_t size;
        uint32_t address;
    } cases[] = {{65536 + 100, 0x0800FFF8}, {17, 0x08000000}, {1, 0x20000003}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t *data = pattern(cases[k].size, (unsigned)k);
        char *hex = NULL;
        size_t hex_size = 0;
        assert_int_equal(image_format_ihex(data, cases[k].size, cases[k].address, &hex, &hex_size),
                         0);
        write_file(ours, hex, hex_size);

        const char *const to_bin[] = {"-I", "ihex", "-O", "binary", ours, bin, NULL};
        run_objcopy(to_bin);
        size_t bin_size = 0;
        char *back = read_file(bin, &bin_size);
        assert_int_equal(bin_size, cases[k].size);
        assert_memory_equal(back, data, bin_size);
        free(back);

        /* The other way: the bytes placed at the address (the section, not
         * the start address, so objcopy writes no type 05 record). */
        write_file(bin, data, cases[k].size);
        char place[48];
        snprintf(place, sizeof place, ".data+0x%08X", cases[k].address);
        const char *const to_hex[] = {"-I",  "binary", "-O",   "ihex", "--change-section-address",
                                      place, bin,      theirs, NULL};
        run_objcopy(to_hex);
        size_t their_size = 0;
        char *their_text = read_file(theirs, &their_size);
        if (their_size != hex_size || memcmp(their_text, hex, hex_size) != 0) {
            size_t at = 0, line = 1;
            while (at < hex_size && at < their_size && their_text[at] == hex[at]) {
                line += hex[at++] == '\n';
            }
            fail_msg("objcopy's text differs from ours at line %zu (offset %zu)", line, at);
        }
        free(their_text);
        free(hex);
        free(data);
    }
    unlink(ours);
    unlink(bin);
    unlink(theirs);
    rmdir(dir);
#endif
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
        cmocka_unit_test(test_ihex_writer_exact_text),
        cmocka_unit_test(test_ihex_writer_round_trip),
        cmocka_unit_test(test_ihex_writer_splits_at_64k),
        cmocka_unit_test(test_ihex_writer_empty),
        cmocka_unit_test(test_ihex_writer_refuses_past_4gib),
        cmocka_unit_test(test_ihex_writer_image),
        cmocka_unit_test(test_ihex_writer_matches_objcopy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

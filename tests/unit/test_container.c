/*
 * The image container: headers written and read back for every segment
 * count, every header byte and every field value that is wrong refused by
 * the check meant for it, damaged payloads, short, blank and foreign media,
 * the forward-compatibility rules, the image view, and sources that fail.
 *
 * Headers are made two ways: by stm32isp_container_write_header(), and by
 * an encoder in this file that writes each field from the layout in
 * container.h, so that a field can be given any value, bad ones included,
 * with a correct CRC.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "stm32isp/container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- A source in memory ------------------------------------------------- */

typedef struct mem_source {
    stm32isp_container_source source;
    const uint8_t *data;
    uint32_t fail_from; /* reads reaching this offset fail with fail_err */
    stm32isp_err fail_err;
    uint32_t longest_read;
    unsigned reads;
} mem_source;

static stm32isp_err mem_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    mem_source *m = ctx;
    m->reads++;
    if (len > m->longest_read) {
        m->longest_read = len;
    }
    if ((uint64_t)offset + len > m->source.size) {
        fail_msg("read of %u bytes at %u past the source's %u bytes", len, offset, m->source.size);
    }
    if ((uint64_t)offset + len > m->fail_from) {
        return m->fail_err;
    }
    memcpy(buf, m->data + offset, len);
    return STM32ISP_OK;
}

static void mem_init(mem_source *m, const uint8_t *data, size_t size)
{
    memset(m, 0, sizeof *m);
    m->source.read = mem_read;
    m->source.ctx = m;
    m->source.size = (uint32_t)size;
    m->data = data;
    m->fail_from = UINT32_MAX;
}

/* Reads from `from` on fail with `err`. */
static void fail_reads(mem_source *m, uint32_t from, stm32isp_err err)
{
    m->fail_from = from;
    m->fail_err = err;
}

static void forget_reads(mem_source *m)
{
    m->longest_read = 0;
    m->reads = 0;
}

static stm32isp_err open_buffer(stm32isp_container *ct, mem_source *m, const uint8_t *data,
                                size_t size, size_t scratch_size)
{
    uint8_t scratch[512];
    assert_true(scratch_size <= sizeof scratch);
    mem_init(m, data, size);
    return stm32isp_container_open(ct, &m->source, scratch, scratch_size);
}

/* Open and check the payload, as the job does. */
static stm32isp_err open_and_check(const uint8_t *data, size_t size)
{
    mem_source m;
    stm32isp_container ct;
    stm32isp_err err = open_buffer(&ct, &m, data, size, 64);
    if (err == STM32ISP_OK) {
        uint8_t scratch[64];
        err = stm32isp_container_check_payload(&ct, scratch, sizeof scratch);
    }
    return err;
}

static void le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint8_t payload_byte(uint32_t i)
{
    return (uint8_t)(i * 13u + (i >> 7) + 5u);
}

/* ---- An independent encoder --------------------------------------------- */

#define MAX_ENTRIES 40
#define BUF_SIZE    16384

typedef struct raw {
    char magic[4];
    uint8_t major, minor;
    uint16_t header_length;       /* 0: segments_offset + 8 * entries + 4 */
    uint16_t header_length_field; /* 0: header_length; else stored instead of it */
    uint32_t flags;
    uint32_t payload_length; /* also the payload bytes appended */
    bool payload_length_auto;
    uint32_t payload_crc;
    bool payload_crc_auto;
    uint32_t created, min_flash_size, start_address;
    uint16_t segment_count;
    uint16_t segments_offset;
    uint8_t pid_count;
    uint8_t reserved[3];
    uint16_t pids[8];
    char name[32];
    char version[16];
    uint8_t extra; /* value of the bytes between 104 and segments_offset */
    stm32isp_segment segments[MAX_ENTRIES];
    unsigned entries; /* segment table entries written */
} raw;

static void raw_good(raw *r, unsigned n)
{
    memset(r, 0, sizeof *r);
    memcpy(r->magic, "SIMG", 4);
    r->major = 1;
    r->flags = STM32ISP_CONTAINER_VERIFY | STM32ISP_CONTAINER_START;
    r->payload_length_auto = true;
    r->payload_crc_auto = true;
    r->created = 1700000000u;
    r->min_flash_size = 64 * 1024;
    r->start_address = 0x08000000u;
    r->segment_count = (uint16_t)n;
    r->segments_offset = 104;
    r->pid_count = 2;
    r->pids[0] = 0x410;
    r->pids[1] = 0x414;
    strcpy(r->name, "blinky");
    strcpy(r->version, "1.2.3");
    for (unsigned i = 0; i < n; i++) {
        r->segments[i] = (stm32isp_segment){0x08000000u + i * 0x400u, 3u + i * 5u};
    }
    r->entries = n;
}

/* Writes header and payload into buf; returns the total size. */
static size_t raw_build(raw *r, uint8_t *buf)
{
    if (r->payload_length_auto) {
        r->payload_length = 0;
        for (unsigned i = 0; i < r->entries; i++) {
            r->payload_length += r->segments[i].length;
        }
    }
    uint32_t hl =
        r->header_length != 0 ? r->header_length : r->segments_offset + 8u * r->entries + 4u;
    assert_true(hl + (size_t)r->payload_length <= BUF_SIZE);
    memset(buf, 0, hl);
    memcpy(buf, r->magic, 4);
    buf[4] = r->major;
    buf[5] = r->minor;
    le16(buf + 6, r->header_length_field != 0 ? r->header_length_field : hl);
    le32(buf + 8, r->flags);
    le32(buf + 12, r->payload_length);
    le32(buf + 20, r->created);
    le32(buf + 24, r->min_flash_size);
    le32(buf + 28, r->start_address);
    le16(buf + 32, r->segment_count);
    le16(buf + 34, r->segments_offset);
    buf[36] = r->pid_count;
    memcpy(buf + 37, r->reserved, 3);
    for (int i = 0; i < 8; i++) {
        le16(buf + 40 + 2 * i, r->pids[i]);
    }
    memcpy(buf + 56, r->name, 32);
    memcpy(buf + 88, r->version, 16);
    for (uint32_t at = 104; at < r->segments_offset && at < hl; at++) {
        buf[at] = r->extra;
    }
    for (unsigned i = 0; i < r->entries; i++) {
        uint32_t at = r->segments_offset + 8u * i;
        if (at + 8 <= hl - 4) {
            le32(buf + at, r->segments[i].address);
            le32(buf + at + 4, r->segments[i].length);
        }
    }
    for (uint32_t i = 0; i < r->payload_length; i++) {
        buf[hl + i] = payload_byte(i);
    }
    if (r->payload_crc_auto) {
        r->payload_crc = stm32isp_crc32_ieee(0, buf + hl, r->payload_length);
    }
    le32(buf + 16, r->payload_crc);
    le32(buf + hl - 4, stm32isp_crc32_ieee(0, buf, hl - 4));
    return hl + r->payload_length;
}

static stm32isp_err raw_open(raw *r)
{
    static uint8_t buf[BUF_SIZE];
    size_t size = raw_build(r, buf);
    return open_and_check(buf, size);
}

/* ---- CRC ---------------------------------------------------------------- */

static void test_crc32_check_value(void **state)
{
    (void)state;
    const uint8_t check[] = "123456789";
    assert_int_equal(stm32isp_crc32_ieee(0, check, 9), 0xCBF43926u);
    assert_int_equal(stm32isp_crc32_ieee(0, NULL, 0), 0);
    /* Pieces in order give the CRC of the whole. */
    uint32_t crc = 0;
    for (size_t i = 0; i < 9; i += 2) {
        crc = stm32isp_crc32_ieee(crc, check + i, i + 2 <= 9 ? 2 : 1);
    }
    assert_int_equal(crc, 0xCBF43926u);
    /* Another known value: 32 zero bytes (zlib.crc32(bytes(32))). */
    uint8_t zeros[32] = {0};
    assert_int_equal(stm32isp_crc32_ieee(0, zeros, sizeof zeros), 0x190A55ADu);
}

/* ---- Round trip --------------------------------------------------------- */

static void fill_container(stm32isp_container *ct, unsigned n)
{
    memset(ct, 0, sizeof *ct);
    ct->flags = STM32ISP_CONTAINER_VERIFY | STM32ISP_CONTAINER_READOUT_PROTECT;
    ct->created = 1234567890u + n;
    ct->min_flash_size = 128u * 1024u;
    ct->start_address = 0x08004000u;
    ct->segment_count = (uint16_t)n;
    ct->pid_count = (uint8_t)(n % 9);
    for (unsigned i = 0; i < ct->pid_count; i++) {
        ct->pids[i] = (uint16_t)(0x410 + i);
    }
    snprintf(ct->name, sizeof ct->name, "image with %u segments", n);
    snprintf(ct->version, sizeof ct->version, "v%u", n);
    uint32_t address = 0x08000000u;
    for (unsigned i = 0; i < n; i++) {
        /* Touching, gapped and single-byte segments. */
        uint32_t length = i % 3 == 0 ? 1u : 17u * i;
        ct->segments[i] = (stm32isp_segment){address, length};
        address += length + (i % 2 == 0 ? 0u : 100u * i);
        ct->payload_length += length;
    }
}

static void test_round_trip_1_to_32_segments(void **state)
{
    (void)state;
    static uint8_t buf[BUF_SIZE];
    static const size_t scratch_sizes[] = {16, 17, 64, 500};
    for (unsigned n = 1; n <= STM32ISP_CONTAINER_MAX_SEGMENTS; n++) {
        stm32isp_container in;
        fill_container(&in, n);
        uint32_t crc = 0;
        for (uint32_t i = 0; i < in.payload_length; i++) {
            uint8_t b = payload_byte(i);
            crc = stm32isp_crc32_ieee(crc, &b, 1);
        }
        in.payload_crc = crc;
        size_t hl = stm32isp_container_write_header(&in, buf, sizeof buf);
        assert_int_equal(hl, stm32isp_container_header_length((uint16_t)n));
        assert_int_equal(hl, 104 + 8 * n + 4);
        assert_int_equal(in.header_length, hl);
        assert_int_equal(in.major, 1);
        assert_int_equal(in.minor, 0);
        for (uint32_t i = 0; i < in.payload_length; i++) {
            buf[hl + i] = payload_byte(i);
        }
        for (size_t s = 0; s < sizeof scratch_sizes / sizeof scratch_sizes[0]; s++) {
            mem_source m;
            stm32isp_container out;
            assert_int_equal(open_buffer(&out, &m, buf, hl + in.payload_length, scratch_sizes[s]),
                             STM32ISP_OK);
            assert_true(m.longest_read <= scratch_sizes[s]);
            assert_int_equal(out.major, 1);
            assert_int_equal(out.minor, 0);
            assert_int_equal(out.header_length, hl);
            assert_int_equal(out.flags, in.flags);
            assert_int_equal(out.payload_length, in.payload_length);
            assert_int_equal(out.payload_crc, in.payload_crc);
            assert_int_equal(out.created, in.created);
            assert_int_equal(out.min_flash_size, in.min_flash_size);
            assert_int_equal(out.start_address, in.start_address);
            assert_int_equal(out.segment_count, n);
            assert_int_equal(out.pid_count, in.pid_count);
            assert_memory_equal(out.pids, in.pids, sizeof in.pids);
            assert_string_equal(out.name, in.name);
            assert_string_equal(out.version, in.version);
            assert_memory_equal(out.segments, in.segments, n * sizeof in.segments[0]);
            assert_ptr_equal(out.source, &m.source);
            uint8_t scratch[500];
            forget_reads(&m);
            assert_int_equal(stm32isp_container_check_payload(&out, scratch, scratch_sizes[s]),
                             STM32ISP_OK);
            assert_true(m.longest_read <= scratch_sizes[s]);
        }
    }
}

/* The writer and this file's encoder agree byte for byte. */
static void test_writer_matches_the_layout(void **state)
{
    (void)state;
    static uint8_t a[BUF_SIZE], b[BUF_SIZE];
    raw r;
    raw_good(&r, 3);
    size_t size = raw_build(&r, a);
    stm32isp_container ct = {0};
    ct.flags = r.flags;
    ct.payload_length = r.payload_length;
    ct.payload_crc = r.payload_crc;
    ct.created = r.created;
    ct.min_flash_size = r.min_flash_size;
    ct.start_address = r.start_address;
    ct.segment_count = r.segment_count;
    ct.pid_count = r.pid_count;
    memcpy(ct.pids, r.pids, sizeof ct.pids);
    memcpy(ct.name, r.name, sizeof ct.name);
    memcpy(ct.version, r.version, sizeof ct.version);
    memcpy(ct.segments, r.segments, sizeof r.segments[0] * 3);
    /* Bytes after the NUL are not part of the text: the writer pads. */
    ct.name[30] = 'x';
    size_t hl = stm32isp_container_write_header(&ct, b, sizeof b);
    assert_int_equal(hl, 104 + 3 * 8 + 4);
    assert_memory_equal(a, b, hl);
    assert_int_equal(size, hl + r.payload_length);
}

static void test_writer_refuses_bad_fields(void **state)
{
    (void)state;
    uint8_t out[STM32ISP_CONTAINER_MAX_HEADER];
    stm32isp_container good;
    fill_container(&good, 4);
    stm32isp_container ct = good;
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 104 + 32 + 4);
    assert_int_equal(stm32isp_container_write_header(&ct, out, 104 + 32 + 3), 0);
    assert_int_equal(stm32isp_container_write_header(&ct, NULL, sizeof out), 0);
    assert_int_equal(stm32isp_container_write_header(NULL, out, sizeof out), 0);

    ct = good;
    ct.segment_count = 0;
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    ct.segment_count = 33;
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    ct.flags |= 1u << 4;
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    ct.payload_length++;
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    ct.segments[1].address = ct.segments[0].address; /* overlaps */
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    ct.segments[2].length = 0;
    ct.payload_length -= good.segments[2].length;
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    ct.pid_count = 9;
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    ct.pids[ct.pid_count] = 0x410; /* past the count */
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    memset(ct.name, 'a', sizeof ct.name);
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
    ct = good;
    memset(ct.version, 'a', sizeof ct.version);
    assert_int_equal(stm32isp_container_write_header(&ct, out, sizeof out), 0);
}

/* ---- Damage ------------------------------------------------------------- */

/* Every header byte flipped (all eight bits, then one) is refused, each by
 * the check the order of checks gives it: the magic, the major version, then
 * the header CRC. */
static void test_every_header_byte_flipped_is_refused(void **state)
{
    (void)state;
    static uint8_t good[BUF_SIZE], bad[BUF_SIZE];
    raw r;
    raw_good(&r, 5);
    size_t size = raw_build(&r, good);
    uint32_t hl = 104 + 5 * 8 + 4;
    assert_int_equal(open_and_check(good, size), STM32ISP_OK);
    static const uint8_t masks[] = {0xFF, 0x01, 0x80};
    for (size_t k = 0; k < sizeof masks; k++) {
        for (uint32_t i = 0; i < hl; i++) {
            memcpy(bad, good, size);
            bad[i] ^= masks[k];
            stm32isp_err want = i < 4    ? STM32ISP_ERR_NO_CONTAINER
                                : i == 4 ? STM32ISP_ERR_CONTAINER_VERSION
                                         : STM32ISP_ERR_CONTAINER_HEADER;
            stm32isp_err got = open_and_check(bad, size);
            if (got != want) {
                fail_msg("byte %u ^ 0x%02x: got %s, expected %s", i, masks[k],
                         stm32isp_err_name(got), stm32isp_err_name(want));
            }
        }
    }
}

typedef struct field_case {
    const char *what;
    void (*spoil)(raw *r);
    stm32isp_err want;
} field_case;

static void longer_header(raw *r)
{
    r->header_length = (uint16_t)(104 + 8 * r->entries + 4 + 1);
}
static void shorter_header(raw *r)
{
    r->header_length = (uint16_t)(104 + 8 * r->entries + 4 - 1);
}
static void header_longer_than_source(raw *r)
{
    r->header_length_field = 0xFFFF;
}
static void table_inside_fixed_part(raw *r)
{
    /* The table then starts inside the version text: an address of 0 keeps
     * those bytes NUL padding, so that only the offset is wrong. */
    r->segments_offset = 100;
    r->segments[0].address = 0;
}
static void no_segments(raw *r)
{
    r->segment_count = 0;
    r->entries = 0;
}
static void count_says_fewer(raw *r)
{
    r->segment_count--; /* the table has one entry more than the count */
}
static void thirty_three_segments(raw *r)
{
    raw_good(r, 33);
}
static void nine_pids(raw *r)
{
    /* Every slot used, so that only the count is wrong. */
    r->pid_count = 9;
    for (int i = 0; i < 8; i++) {
        r->pids[i] = (uint16_t)(0x410 + i);
    }
}
static void pid_count_too_high(raw *r)
{
    r->pid_count = 3; /* pids[2] is 0 */
}
static void pid_after_the_list(raw *r)
{
    r->pids[5] = 0x410;
}
static void pid_zero_in_list(raw *r)
{
    r->pids[0] = 0;
}
static void reserved_0(raw *r)
{
    r->reserved[0] = 1;
}
static void reserved_1(raw *r)
{
    r->reserved[1] = 0x80;
}
static void reserved_2(raw *r)
{
    r->reserved[2] = 0xFF;
}
static void name_without_nul(raw *r)
{
    memset(r->name, 'n', sizeof r->name);
}
static void name_not_padded(raw *r)
{
    r->name[31] = 'x';
}
static void version_without_nul(raw *r)
{
    memset(r->version, 'v', sizeof r->version);
}
static void version_not_padded(raw *r)
{
    r->version[10] = 'x';
}
static void segments_unsorted(raw *r)
{
    stm32isp_segment s = r->segments[1];
    r->segments[1] = r->segments[2];
    r->segments[2] = s;
}
static void segments_overlap(raw *r)
{
    r->segments[2].address = r->segments[1].address + r->segments[1].length - 1;
}
static void segment_empty(raw *r)
{
    r->segments[3].length = 0;
}
static void segment_wraps(raw *r)
{
    /* The last segment, so that it is still sorted; one byte too long. */
    r->segments[r->entries - 1] = (stm32isp_segment){0xFFFFFF00u, 0x101};
}
static void payload_length_plus_one(raw *r)
{
    r->payload_length_auto = false;
    r->payload_length = 0;
    for (unsigned i = 0; i < r->entries; i++) {
        r->payload_length += r->segments[i].length;
    }
    r->payload_length++;
}
static void payload_length_minus_one(raw *r)
{
    payload_length_plus_one(r);
    r->payload_length -= 2;
}
static void major_2(raw *r)
{
    r->major = 2;
}
static void major_0(raw *r)
{
    r->major = 0;
}
static void flag_bit_4(raw *r)
{
    r->flags |= 1u << 4;
}
static void flag_bit_31(raw *r)
{
    r->flags |= 1u << 31;
}
static void wrong_magic(raw *r)
{
    memcpy(r->magic, "SIMH", 4);
}

/* With the CRC right, each wrong value is caught by its own check. */
static void test_each_bad_field_is_caught(void **state)
{
    (void)state;
    static const field_case cases[] = {
        {"header_length + 1", longer_header, STM32ISP_ERR_CONTAINER_HEADER},
        {"header_length - 1", shorter_header, STM32ISP_ERR_CONTAINER_HEADER},
        {"header_length past the source", header_longer_than_source, STM32ISP_ERR_CONTAINER_HEADER},
        {"segments_offset 100", table_inside_fixed_part, STM32ISP_ERR_CONTAINER_HEADER},
        {"segment_count 0", no_segments, STM32ISP_ERR_CONTAINER_HEADER},
        {"segment_count one short", count_says_fewer, STM32ISP_ERR_CONTAINER_HEADER},
        {"segment_count 33", thirty_three_segments, STM32ISP_ERR_CONTAINER_HEADER},
        {"pid_count 9", nine_pids, STM32ISP_ERR_CONTAINER_HEADER},
        {"pid_count past the list", pid_count_too_high, STM32ISP_ERR_CONTAINER_HEADER},
        {"a PID after the list", pid_after_the_list, STM32ISP_ERR_CONTAINER_HEADER},
        {"PID 0 in the list", pid_zero_in_list, STM32ISP_ERR_CONTAINER_HEADER},
        {"reserved byte 37", reserved_0, STM32ISP_ERR_CONTAINER_HEADER},
        {"reserved byte 38", reserved_1, STM32ISP_ERR_CONTAINER_HEADER},
        {"reserved byte 39", reserved_2, STM32ISP_ERR_CONTAINER_HEADER},
        {"name without NUL", name_without_nul, STM32ISP_ERR_CONTAINER_HEADER},
        {"name not NUL-padded", name_not_padded, STM32ISP_ERR_CONTAINER_HEADER},
        {"version without NUL", version_without_nul, STM32ISP_ERR_CONTAINER_HEADER},
        {"version not NUL-padded", version_not_padded, STM32ISP_ERR_CONTAINER_HEADER},
        {"segments unsorted", segments_unsorted, STM32ISP_ERR_CONTAINER_HEADER},
        {"segments overlap by a byte", segments_overlap, STM32ISP_ERR_CONTAINER_HEADER},
        {"a zero-length segment", segment_empty, STM32ISP_ERR_CONTAINER_HEADER},
        {"a segment past 4 GiB", segment_wraps, STM32ISP_ERR_CONTAINER_HEADER},
        {"payload_length + 1", payload_length_plus_one, STM32ISP_ERR_CONTAINER_HEADER},
        {"payload_length - 1", payload_length_minus_one, STM32ISP_ERR_CONTAINER_HEADER},
        {"major 2", major_2, STM32ISP_ERR_CONTAINER_VERSION},
        {"major 0", major_0, STM32ISP_ERR_CONTAINER_VERSION},
        {"unknown flag bit 4", flag_bit_4, STM32ISP_ERR_CONTAINER_VERSION},
        {"unknown flag bit 31", flag_bit_31, STM32ISP_ERR_CONTAINER_VERSION},
        {"magic SIMH", wrong_magic, STM32ISP_ERR_NO_CONTAINER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raw r;
        raw_good(&r, 6);
        assert_int_equal(raw_open(&r), STM32ISP_OK);
        cases[i].spoil(&r);
        stm32isp_err got = raw_open(&r);
        if (got != cases[i].want) {
            fail_msg("%s: got %s, expected %s", cases[i].what, stm32isp_err_name(got),
                     stm32isp_err_name(cases[i].want));
        }
    }
}

/* The edges of what is valid are accepted. */
static void test_valid_edges_are_accepted(void **state)
{
    (void)state;
    raw r;
    raw_good(&r, 3);
    r.segments[1].address = r.segments[0].address + r.segments[0].length; /* touching */
    r.segments[2] = (stm32isp_segment){0xFFFFFF00u, 0x100};               /* ends at 4 GiB */
    assert_int_equal(raw_open(&r), STM32ISP_OK);
    raw_good(&r, 1);
    r.pid_count = 8;
    for (int i = 0; i < 8; i++) {
        r.pids[i] = (uint16_t)(0x400 + i);
    }
    memset(r.name, 'n', 31);
    memset(r.version, 'v', 15);
    r.flags = STM32ISP_CONTAINER_KNOWN_FLAGS;
    assert_int_equal(raw_open(&r), STM32ISP_OK);
    raw_good(&r, 32);
    r.pid_count = 0;
    memset(r.pids, 0, sizeof r.pids);
    r.flags = 0;
    memset(r.name, 0, sizeof r.name);
    memset(r.version, 0, sizeof r.version);
    assert_int_equal(raw_open(&r), STM32ISP_OK);
}

/* A 1.1 writer may add fields between 104 and segments_offset: a 1.0 reader
 * skips them (they are still under the header CRC). */
static void test_newer_minor_with_extra_fields(void **state)
{
    (void)state;
    static uint8_t buf[BUF_SIZE];
    raw r;
    raw_good(&r, 4);
    r.minor = 1;
    r.segments_offset = 104 + 20;
    r.extra = 0xA5;
    size_t size = raw_build(&r, buf);
    mem_source m;
    stm32isp_container ct;
    assert_int_equal(open_buffer(&ct, &m, buf, size, 16), STM32ISP_OK);
    assert_int_equal(ct.minor, 1);
    assert_int_equal(ct.header_length, 124 + 4 * 8 + 4);
    assert_int_equal(ct.segment_count, 4);
    assert_memory_equal(ct.segments, r.segments, 4 * sizeof r.segments[0]);
    uint8_t scratch[16];
    assert_int_equal(stm32isp_container_check_payload(&ct, scratch, sizeof scratch), STM32ISP_OK);
    /* ... and a flip inside them is damage. */
    buf[110] ^= 1;
    assert_int_equal(open_buffer(&ct, &m, buf, size, 16), STM32ISP_ERR_CONTAINER_HEADER);
}

static void test_payload_bit_flips(void **state)
{
    (void)state;
    static uint8_t buf[BUF_SIZE];
    raw r;
    raw_good(&r, 3);
    size_t size = raw_build(&r, buf);
    uint32_t hl = 104 + 3 * 8 + 4;
    for (uint32_t i = hl; i < size; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (uint8_t)(1u << bit);
            mem_source m;
            stm32isp_container ct;
            assert_int_equal(open_buffer(&ct, &m, buf, size, 16), STM32ISP_OK);
            uint8_t scratch[16];
            if (stm32isp_container_check_payload(&ct, scratch, sizeof scratch) !=
                STM32ISP_ERR_CONTAINER_PAYLOAD) {
                fail_msg("payload byte %u bit %d: not caught", i - hl, bit);
            }
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(open_and_check(buf, size), STM32ISP_OK);
    /* The stored payload CRC itself wrong. */
    r.payload_crc_auto = false;
    r.payload_crc ^= 0x10000u;
    assert_int_equal(raw_open(&r), STM32ISP_ERR_CONTAINER_PAYLOAD);
}

/* A half-written medium: every length short of the whole. */
static void test_truncated_sources(void **state)
{
    (void)state;
    static uint8_t buf[BUF_SIZE];
    raw r;
    raw_good(&r, 2);
    size_t size = raw_build(&r, buf);
    assert_int_equal(open_and_check(buf, size), STM32ISP_OK);
    for (size_t len = 0; len < size; len++) {
        stm32isp_err want = len < 4 ? STM32ISP_ERR_NO_CONTAINER : STM32ISP_ERR_CONTAINER_HEADER;
        stm32isp_err got = open_and_check(buf, len);
        if (got != want) {
            fail_msg("%zu of %zu bytes: got %s", len, size, stm32isp_err_name(got));
        }
    }
}

static void test_blank_zero_and_foreign_media(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    memset(buf, 0xFF, sizeof buf);
    assert_int_equal(open_and_check(buf, sizeof buf), STM32ISP_ERR_NO_CONTAINER);
    memset(buf, 0, sizeof buf);
    assert_int_equal(open_and_check(buf, sizeof buf), STM32ISP_ERR_NO_CONTAINER);
    assert_int_equal(open_and_check(buf, 0), STM32ISP_ERR_NO_CONTAINER);
    memcpy(buf,
           "\x7F"
           "ELF",
           4);
    assert_int_equal(open_and_check(buf, sizeof buf), STM32ISP_ERR_NO_CONTAINER);
    memcpy(buf, "simg", 4); /* the magic is case-sensitive */
    assert_int_equal(open_and_check(buf, sizeof buf), STM32ISP_ERR_NO_CONTAINER);
}

/* ---- allows() ----------------------------------------------------------- */

static void test_allows(void **state)
{
    (void)state;
    stm32isp_container ct = {0};
    /* No list, no minimum: anything. */
    assert_int_equal(stm32isp_container_allows(&ct, 0x410, 16 * 1024), STM32ISP_OK);
    assert_int_equal(stm32isp_container_allows(&ct, 0x999, 0), STM32ISP_OK);
    ct.pid_count = 2;
    ct.pids[0] = 0x410;
    ct.pids[1] = 0x448;
    assert_int_equal(stm32isp_container_allows(&ct, 0x410, 64 * 1024), STM32ISP_OK);
    assert_int_equal(stm32isp_container_allows(&ct, 0x448, 64 * 1024), STM32ISP_OK);
    assert_int_equal(stm32isp_container_allows(&ct, 0x414, 64 * 1024),
                     STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    /* An unused slot holds 0; PID 0 is still not allowed. */
    assert_int_equal(stm32isp_container_allows(&ct, 0, 64 * 1024), STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    ct.min_flash_size = 64 * 1024;
    assert_int_equal(stm32isp_container_allows(&ct, 0x410, 64 * 1024), STM32ISP_OK);
    assert_int_equal(stm32isp_container_allows(&ct, 0x410, 128 * 1024), STM32ISP_OK);
    assert_int_equal(stm32isp_container_allows(&ct, 0x410, 64 * 1024 - 1),
                     STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    assert_int_equal(stm32isp_container_allows(&ct, 0x414, 128 * 1024),
                     STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    ct.pid_count = 0;
    assert_int_equal(stm32isp_container_allows(&ct, 0x414, 32 * 1024),
                     STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    assert_int_equal(stm32isp_container_allows(&ct, 0x414, 64 * 1024), STM32ISP_OK);
}

/* ---- The image view ----------------------------------------------------- */

static void test_image_view(void **state)
{
    (void)state;
    static uint8_t buf[BUF_SIZE];
    raw r;
    raw_good(&r, 4);
    size_t size = raw_build(&r, buf);
    uint32_t hl = 104 + 4 * 8 + 4;
    mem_source m;
    stm32isp_container ct;
    assert_int_equal(open_buffer(&ct, &m, buf, size, 16), STM32ISP_OK);
    stm32isp_image image;
    stm32isp_container_image(&ct, &image);
    assert_ptr_equal(image.segments, ct.segments);
    assert_int_equal(image.segment_count, 4);
    /* Every piece of the payload, at every offset, is the bytes after the
     * header. */
    for (uint32_t off = 0; off < ct.payload_length; off++) {
        for (uint32_t len = 0; off + len <= ct.payload_length && len < 9; len++) {
            uint8_t got[9];
            assert_int_equal(image.read(image.ctx, off, got, len), 0);
            for (uint32_t i = 0; i < len; i++) {
                assert_int_equal(got[i], payload_byte(off + i));
                assert_int_equal(got[i], buf[hl + off + i]);
            }
        }
    }
    uint8_t one;
    assert_int_equal(ct.source_error, STM32ISP_OK);
    assert_int_equal(image.read(image.ctx, ct.payload_length, &one, 1), -1);
    assert_int_equal(ct.source_error, STM32ISP_ERR_INVALID_ARG);
    /* A source error is kept for the caller, which only sees -1. */
    fail_reads(&m, hl + 10, STM32ISP_ERR_EEPROM_NACK);
    uint8_t got[8];
    assert_int_equal(image.read(image.ctx, 0, got, 8), 0);
    assert_int_equal(image.read(image.ctx, 8, got, 8), -1);
    assert_int_equal(ct.source_error, STM32ISP_ERR_EEPROM_NACK);
    fail_reads(&m, hl + 10, STM32ISP_ERR_EEPROM_BUS);
    assert_int_equal(image.read(image.ctx, 9, got, 2), -1);
    assert_int_equal(ct.source_error, STM32ISP_ERR_EEPROM_BUS);
}

/* ---- Failing sources and bad arguments ---------------------------------- */

static void test_source_errors_pass_through(void **state)
{
    (void)state;
    static uint8_t buf[BUF_SIZE];
    raw r;
    raw_good(&r, 8);
    size_t size = raw_build(&r, buf);
    uint32_t hl = 104 + 8 * 8 + 4;
    static const stm32isp_err errors[] = {STM32ISP_ERR_EEPROM_NACK, STM32ISP_ERR_EEPROM_BUS,
                                          STM32ISP_ERR_IMAGE_SOURCE};
    for (size_t e = 0; e < sizeof errors / sizeof errors[0]; e++) {
        /* A failure anywhere in the header (the first read, or a later piece
         * of the stream) is the open's answer. */
        for (uint32_t from = 0; from < hl; from += 7) {
            mem_source m;
            stm32isp_container ct;
            uint8_t scratch[16];
            mem_init(&m, buf, size);
            fail_reads(&m, from, errors[e]);
            assert_int_equal(stm32isp_container_open(&ct, &m.source, scratch, sizeof scratch),
                             errors[e]);
        }
        /* ... and anywhere in the payload, check_payload's. */
        for (uint32_t from = hl; from < size; from += 11) {
            mem_source m;
            stm32isp_container ct;
            uint8_t scratch[16];
            mem_init(&m, buf, size);
            fail_reads(&m, from, errors[e]);
            assert_int_equal(stm32isp_container_open(&ct, &m.source, scratch, sizeof scratch),
                             STM32ISP_OK);
            assert_int_equal(stm32isp_container_check_payload(&ct, scratch, sizeof scratch),
                             errors[e]);
        }
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    static uint8_t buf[BUF_SIZE];
    raw r;
    raw_good(&r, 1);
    size_t size = raw_build(&r, buf);
    mem_source m;
    mem_init(&m, buf, size);
    stm32isp_container ct;
    uint8_t scratch[16];
    assert_int_equal(stm32isp_container_open(&ct, &m.source, scratch, 15),
                     STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_container_open(&ct, &m.source, NULL, 16), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_container_open(&ct, NULL, scratch, 16), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_container_open(NULL, &m.source, scratch, 16),
                     STM32ISP_ERR_INVALID_ARG);
    stm32isp_container_source no_read = {0};
    assert_int_equal(stm32isp_container_open(&ct, &no_read, scratch, 16), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(m.reads, 0);
    assert_int_equal(stm32isp_container_open(&ct, &m.source, scratch, 16), STM32ISP_OK);
    assert_int_equal(stm32isp_container_check_payload(&ct, scratch, 0), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_container_check_payload(&ct, NULL, 16), STM32ISP_ERR_INVALID_ARG);
    assert_int_equal(stm32isp_container_check_payload(&ct, scratch, 1), STM32ISP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_round_trip_1_to_32_segments),
        cmocka_unit_test(test_writer_matches_the_layout),
        cmocka_unit_test(test_writer_refuses_bad_fields),
        cmocka_unit_test(test_every_header_byte_flipped_is_refused),
        cmocka_unit_test(test_each_bad_field_is_caught),
        cmocka_unit_test(test_valid_edges_are_accepted),
        cmocka_unit_test(test_newer_minor_with_extra_fields),
        cmocka_unit_test(test_payload_bit_flips),
        cmocka_unit_test(test_truncated_sources),
        cmocka_unit_test(test_blank_zero_and_foreign_media),
        cmocka_unit_test(test_allows),
        cmocka_unit_test(test_image_view),
        cmocka_unit_test(test_source_errors_pass_through),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

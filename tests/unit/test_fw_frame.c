/*
 * The master firmware's load protocol, built for the host: the frame parser
 * (firmware/app/frame.c) fed whole, byte by byte, damaged at every bit and
 * behind noise; and the master's side of a transfer (firmware/app/loader.c)
 * writing into the EEPROM model through the library's driver, broken off
 * after every frame, refused in every way, with EEPROM faults. Whatever
 * happens, the EEPROM ends with the old image untouched, no image, or the
 * new image checked: never a half image a reader could take for valid.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "frame.h"
#include "loader.h"

#include "eesim/eesim.h"
#include "stm32isp/container.h"
#include "stm32isp/job.h"

#include <string.h>

/* ------------------------------------------------------------------------- */
/* Frames                                                                     */

/* Written out from docs/firmware.md with Python's zlib.crc32. */
static const uint8_t golden_end[] = {0xA5, 0x45, 0x07, 0x00, 0x00, 0x96, 0x61, 0xC1, 0x88};
static const uint8_t golden_data[] = {0xA5, 0x44, 0x01, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00,
                                      0x41, 0x42, 0x43, 0x44, 0xD9, 0x21, 0xCD, 0xC6};

static void test_encoding_matches_the_documented_bytes(void **state)
{
    (void)state;
    uint8_t out[FRAME_MAX];
    assert_int_equal(frame_encode(out, sizeof out, FRAME_END, 7, NULL, 0), sizeof golden_end);
    assert_memory_equal(out, golden_end, sizeof golden_end);
    const uint8_t payload[] = {0x00, 0x01, 0x00, 0x00, 'A', 'B', 'C', 'D'};
    assert_int_equal(frame_encode(out, sizeof out, FRAME_DATA, 1, payload, sizeof payload),
                     sizeof golden_data);
    assert_memory_equal(out, golden_data, sizeof golden_data);
    /* Too long, or no room. */
    uint8_t big[FRAME_PAYLOAD_MAX + 1] = {0};
    assert_int_equal(frame_encode(out, sizeof out, FRAME_DATA, 0, big, sizeof big), 0);
    assert_int_equal(frame_encode(out, 8, FRAME_END, 0, NULL, 0), 0);
}

/* Feeds `len` bytes in pieces of `piece`, collecting every frame. */
typedef struct collected {
    unsigned ready, damaged, bad_length;
    frame last;
    uint8_t last_payload[FRAME_PAYLOAD_MAX];
} collected;

static void feed(frame_parser *p, const uint8_t *data, size_t len, size_t piece, collected *c)
{
    while (len > 0) {
        size_t n = len < piece ? len : piece;
        const uint8_t *chunk = data;
        data += n;
        len -= n;
        do {
            size_t used;
            frame f;
            frame_status st = frame_parse(p, chunk, n, &used, &f);
            assert_true(used <= n);
            chunk += used;
            n -= used;
            if (st == FRAME_READY) {
                c->ready++;
                c->last = f;
                memcpy(c->last_payload, f.payload, f.length);
            } else if (st == FRAME_DAMAGED) {
                c->damaged++;
            } else if (st == FRAME_BAD_LENGTH) {
                c->bad_length++;
            } else {
                assert_int_equal(n, 0); /* MORE: every byte taken */
            }
        } while (n > 0);
    }
}

static void test_round_trip_whole_and_byte_by_byte(void **state)
{
    (void)state;
    uint8_t payload[FRAME_PAYLOAD_MAX];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i * 37u + 11u);
    }
    static const size_t lengths[] = {0, 1, 3, 4, 5, 64, FRAME_PAYLOAD_MAX - 1, FRAME_PAYLOAD_MAX};
    static const size_t pieces[] = {1, 2, 7, FRAME_MAX};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
            uint8_t buf[FRAME_MAX];
            size_t n = frame_encode(buf, sizeof buf, 'x', (uint8_t)l, payload, lengths[l]);
            assert_int_equal(n, FRAME_HEADER + lengths[l] + FRAME_TRAILER);
            frame_parser p;
            frame_parser_reset(&p);
            p.skipped = 0;
            collected c = {0};
            feed(&p, buf, n, pieces[k], &c);
            assert_int_equal(c.ready, 1);
            assert_int_equal(c.damaged + c.bad_length, 0);
            assert_int_equal(c.last.type, 'x');
            assert_int_equal(c.last.seq, l);
            assert_int_equal(c.last.length, lengths[l]);
            assert_memory_equal(c.last_payload, payload, lengths[l]);
            assert_int_equal(p.skipped, 0);
        }
    }
}

static void test_text_around_frames_is_skipped(void **state)
{
    (void)state;
    uint8_t buf[3 * FRAME_MAX];
    size_t n = 0;
    const char *text = "load\r\nload: ready, 32768 bytes (24c256)\r\n";
    memcpy(buf, text, strlen(text));
    n += strlen(text);
    n += frame_encode(buf + n, sizeof buf - n, 'R', 1, (const uint8_t *)"\0\0\0", 3);
    memcpy(buf + n, "> ", 2);
    n += 2;
    n += frame_encode(buf + n, sizeof buf - n, 'R', 2, (const uint8_t *)"\0\0\0", 3);
    frame_parser p;
    memset(&p, 0, sizeof p);
    collected c = {0};
    feed(&p, buf, n, n, &c);
    assert_int_equal(c.ready, 2);
    assert_int_equal(c.last.seq, 2);
    assert_int_equal(p.skipped, strlen(text) + 2);
}

/* No single flipped bit anywhere in a frame gives a READY frame. */
static void test_every_bit_flip_is_caught(void **state)
{
    (void)state;
    const uint8_t payload[] = {0x10, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t good[FRAME_MAX];
    size_t n = frame_encode(good, sizeof good, FRAME_DATA, 9, payload, sizeof payload);
    unsigned caught = 0;
    for (size_t bit = 0; bit < n * 8; bit++) {
        uint8_t bad[FRAME_MAX];
        memcpy(bad, good, n);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        frame_parser p;
        memset(&p, 0, sizeof p);
        collected c = {0};
        feed(&p, bad, n, 1, &c);
        assert_int_equal(c.ready, 0);
        caught += c.damaged + c.bad_length > 0 || p.have > 0 || p.skipped > 0;
        /* Sent again intact, it goes through: the parser was not wedged. */
        frame_parser_reset(&p);
        feed(&p, good, n, 3, &c);
        assert_int_equal(c.ready, 1);
    }
    assert_int_equal(caught, n * 8);
}

/* Noise that looks like a start byte must not hide the frame behind it. */
static void test_false_start_before_a_frame(void **state)
{
    (void)state;
    unsigned recovered_in_place = 0;
    for (unsigned seq = 0; seq < 256; seq++) {
        const uint8_t payload[] = {(uint8_t)seq, 0, 0};
        uint8_t buf[1 + FRAME_MAX];
        buf[0] = FRAME_SOF;
        size_t n = 1 + frame_encode(buf + 1, sizeof buf - 1, 'R', (uint8_t)seq, payload, 3);
        frame_parser p;
        memset(&p, 0, sizeof p);
        collected c = {0};
        feed(&p, buf, n, 1, &c);
        if (c.ready == 0) {
            /* The false header asked for more bytes than came: the next
             * frame (the PC sends it again) must get through. */
            size_t again = frame_encode(buf, sizeof buf, 'R', (uint8_t)seq, payload, 3);
            for (unsigned k = 0; k < 200 && c.ready == 0; k++) {
                feed(&p, buf, again, again, &c);
            }
        } else {
            recovered_in_place++;
        }
        assert_int_equal(c.ready, 1);
        assert_int_equal(c.last.seq, seq);
    }
    assert_true(recovered_in_place > 0);
}

static void test_bad_length_then_good_frame(void **state)
{
    (void)state;
    uint8_t buf[2 * FRAME_MAX];
    const uint8_t bad_header[] = {FRAME_SOF, 'D', 0, 0xFF, 0x7F};
    memcpy(buf, bad_header, sizeof bad_header);
    size_t n = sizeof bad_header;
    n += frame_encode(buf + n, sizeof buf - n, FRAME_END, 3, NULL, 0);
    frame_parser p;
    memset(&p, 0, sizeof p);
    collected c = {0};
    feed(&p, buf, n, n, &c);
    assert_int_equal(c.bad_length, 1);
    assert_int_equal(c.ready, 1);
    assert_int_equal(c.last.type, FRAME_END);
}

/* A fixed sequence (xorshift32), so that a failure can be replayed. */
static uint32_t next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void test_random_bytes_never_overflow(void **state)
{
    (void)state;
    uint32_t seed = 5;
    frame_parser p;
    memset(&p, 0, sizeof p);
    collected c = {0};
    uint8_t buf[4096];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            /* Plenty of start bytes and small lengths, to reach every state. */
            uint32_t r = next_random(&seed);
            buf[i] = r % 8 == 0 ? FRAME_SOF : r % 8 == 1 ? 0 : (uint8_t)(r >> 8);
        }
        feed(&p, buf, sizeof buf, 1 + next_random(&seed) % 300, &c);
        assert_true(p.have < FRAME_MAX);
    }
}

/* ------------------------------------------------------------------------- */
/* The loader on the EEPROM model                                             */

#define PART "24c256"

typedef struct rig {
    eesim *model;
    stm32isp_eeprom ee;
    stm32isp_container ct;
    uint8_t scratch[256];
    loader l;
    uint8_t seq;
    struct {
        uint8_t result, why, err, seq;
        uint8_t extra[16];
        size_t extra_len;
    } r;
} rig;

static void rig_open(rig *g, const eesim_faults *faults)
{
    memset(g, 0, sizeof *g);
    eesim_config cfg = {.part = eesim_part_find(PART)};
    if (faults != NULL) {
        cfg.faults = *faults;
    }
    g->model = eesim_new(&cfg);
    assert_non_null(g->model);
    stm32isp_eeprom_init(&g->ee, &eesim_i2c_ops, g->model, stm32isp_eeprom_part_find(PART), 0x50);
    loader_init(&g->l, &g->ee, &g->ct, g->scratch, sizeof g->scratch);
}

static void rig_close(rig *g)
{
    eesim_free(g->model);
}

/* A container of `payload` bytes for an F103, in `out`; returns its length. */
static uint32_t make_container(uint8_t *out, size_t size, uint32_t payload, uint8_t salt)
{
    stm32isp_container ct;
    memset(&ct, 0, sizeof ct);
    ct.flags = STM32ISP_CONTAINER_VERIFY | STM32ISP_CONTAINER_START;
    ct.payload_length = payload;
    ct.segment_count = 1;
    ct.segments[0].address = 0x08000000u;
    ct.segments[0].length = payload;
    ct.pid_count = 1;
    ct.pids[0] = 0x410;
    strcpy(ct.name, "unit");
    strcpy(ct.version, "1");
    size_t h = stm32isp_container_header_length(1);
    assert_true(h + payload <= size);
    for (uint32_t i = 0; i < payload; i++) {
        out[h + i] = (uint8_t)(i * 7u + salt);
    }
    ct.payload_crc = stm32isp_crc32_ieee(0, out + h, payload);
    assert_int_equal(stm32isp_container_write_header(&ct, out, size), h);
    return (uint32_t)(h + payload);
}

/* Sends one frame to the loader and decodes its reply (which must be a
 * well-formed R frame). */
static void send(rig *g, uint8_t type, uint8_t seq, const uint8_t *payload, size_t len)
{
    uint8_t buf[FRAME_MAX];
    size_t n = frame_encode(buf, sizeof buf, type, seq, payload, len);
    assert_true(n > 0);
    frame_parser p;
    memset(&p, 0, sizeof p);
    size_t used;
    frame f;
    assert_int_equal(frame_parse(&p, buf, n, &used, &f), FRAME_READY);
    size_t rn = loader_handle(&g->l, FRAME_READY, &f);
    memset(&g->r, 0xEE, sizeof g->r);
    if (rn == 0) {
        g->r.extra_len = 0;
        return;
    }
    frame_parser rp;
    memset(&rp, 0, sizeof rp);
    frame rf;
    assert_int_equal(frame_parse(&rp, g->l.reply, rn, &used, &rf), FRAME_READY);
    assert_int_equal(used, rn);
    assert_int_equal(rf.type, FRAME_REPLY);
    assert_true(rf.length >= 3);
    g->r.seq = rf.seq;
    g->r.result = rf.payload[0];
    g->r.why = rf.payload[1];
    g->r.err = rf.payload[2];
    g->r.extra_len = rf.length - 3u;
    assert_true(g->r.extra_len <= sizeof g->r.extra);
    memcpy(g->r.extra, rf.payload + 3, g->r.extra_len);
}

static void begin(rig *g, uint32_t total)
{
    uint8_t p[4];
    frame_put_u32(p, total);
    send(g, FRAME_BEGIN, g->seq++, p, sizeof p);
}

static void data(rig *g, const uint8_t *container, uint32_t at, uint32_t n)
{
    uint8_t p[4 + FRAME_DATA_MAX];
    frame_put_u32(p, at);
    memcpy(p + 4, container + at, n);
    send(g, FRAME_DATA, g->seq++, p, 4 + n);
}

static stm32isp_err ee_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    return stm32isp_eeprom_read(ctx, offset, buf, len);
}

/* The EEPROM as the job reads it, checked as the job checks it. */
static stm32isp_err check_eeprom(rig *g)
{
    stm32isp_container ct;
    uint8_t buf[64];
    stm32isp_container_source src = {.read = ee_read, .ctx = &g->ee, .size = g->ee.part->size};
    return stm32isp_job_check_image(&ct, &src, buf, sizeof buf);
}

/* Writes a container the plain way: the "old image" a transfer replaces. */
static void preload(rig *g, const uint8_t *c, uint32_t len)
{
    memcpy(eesim_memory(g->model), c, len);
    assert_int_equal(check_eeprom(g), STM32ISP_OK);
}

static void full_transfer(rig *g, const uint8_t *c, uint32_t len)
{
    begin(g, len);
    assert_int_equal(g->r.result, LOAD_OK);
    for (uint32_t at = 0; at < len; at += FRAME_DATA_MAX) {
        data(g, c, at, len - at < FRAME_DATA_MAX ? len - at : FRAME_DATA_MAX);
        assert_int_equal(g->r.result, LOAD_OK);
    }
    send(g, FRAME_END, g->seq++, NULL, 0);
}

/* The same, but it stops where the master refuses (an EEPROM fault). */
static void transfer_until_refused(rig *g, const uint8_t *c, uint32_t len)
{
    begin(g, len);
    for (uint32_t at = 0; at < len && !g->l.over; at += FRAME_DATA_MAX) {
        data(g, c, at, len - at < FRAME_DATA_MAX ? len - at : FRAME_DATA_MAX);
    }
    if (!g->l.over) {
        send(g, FRAME_END, g->seq++, NULL, 0);
    }
}

static uint8_t old_image[8192], new_image[8192];

static void test_transfer_writes_and_checks(void **state)
{
    (void)state;
    rig g;
    rig_open(&g, NULL);
    uint32_t old_len = make_container(old_image, sizeof old_image, 5000, 1);
    uint32_t len = make_container(new_image, sizeof new_image, 3000, 2);
    preload(&g, old_image, old_len);
    begin(&g, len);
    assert_int_equal(g.r.result, LOAD_OK);
    assert_int_equal(g.r.extra_len, LOADER_GEOMETRY);
    assert_int_equal(frame_get_u32(g.r.extra), 32768);
    assert_int_equal(g.r.extra[4] | g.r.extra[5] << 8, 64);
    /* From BEGIN on, the old image is gone: a reader finds no container. */
    assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
    for (uint32_t at = 0; at < len; at += FRAME_DATA_MAX) {
        data(&g, new_image, at, len - at < FRAME_DATA_MAX ? len - at : FRAME_DATA_MAX);
        assert_int_equal(g.r.result, LOAD_OK);
        assert_false(g.l.over);
        assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
    }
    send(&g, FRAME_END, g.seq++, NULL, 0);
    assert_int_equal(g.r.result, LOAD_OK);
    assert_true(g.l.over);
    assert_int_equal(g.l.reason, LOAD_R_NONE);
    assert_int_equal(frame_get_u32(g.r.extra), g.ct.payload_crc);
    assert_int_equal(frame_get_u32(g.r.extra + 4), len);
    assert_memory_equal(eesim_memory(g.model), new_image, len);
    assert_int_equal(check_eeprom(&g), STM32ISP_OK);
    /* Over is over: nothing more is answered. */
    send(&g, FRAME_END, g.seq++, NULL, 0);
    assert_int_equal(g.r.extra_len, 0);
    rig_close(&g);
}

/* The PC stops after every frame in turn: the EEPROM never holds a valid
 * image until END, whatever the old one was. */
static void test_broken_after_every_frame_leaves_no_image(void **state)
{
    (void)state;
    uint32_t old_len = make_container(old_image, sizeof old_image, 700, 3);
    uint32_t len = make_container(new_image, sizeof new_image, 1000, 4);
    uint32_t frames = (len + FRAME_DATA_MAX - 1) / FRAME_DATA_MAX;
    for (uint32_t stop = 0; stop <= frames; stop++) {
        rig g;
        rig_open(&g, NULL);
        preload(&g, old_image, old_len);
        begin(&g, len);
        for (uint32_t k = 0, at = 0; k < stop; k++, at += FRAME_DATA_MAX) {
            data(&g, new_image, at, len - at < FRAME_DATA_MAX ? len - at : FRAME_DATA_MAX);
        }
        assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
        if (stop < frames) {
            /* END too early is refused and leaves it so. */
            send(&g, FRAME_END, g.seq++, NULL, 0);
            assert_int_equal(g.r.result, LOAD_REFUSED);
            assert_int_equal(g.r.why, LOAD_R_STATE);
            assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
        }
        rig_close(&g);
    }
}

static void test_lost_answer_and_damaged_frame(void **state)
{
    (void)state;
    rig g;
    rig_open(&g, NULL);
    uint32_t len = make_container(new_image, sizeof new_image, 600, 5);
    begin(&g, len);
    data(&g, new_image, 0, FRAME_DATA_MAX);
    assert_int_equal(g.r.result, LOAD_OK);
    /* Its answer was lost: the PC sends the same frame again. */
    g.seq--;
    data(&g, new_image, 0, FRAME_DATA_MAX);
    assert_int_equal(g.r.result, LOAD_OK);
    assert_int_equal(g.r.seq, g.seq - 1);
    assert_false(g.l.over);
    /* A damaged frame is answered with RESEND and the number expected. */
    size_t rn = loader_handle(&g.l, FRAME_DAMAGED, NULL);
    assert_true(rn > 0);
    assert_int_equal(g.l.reply[FRAME_HEADER], LOAD_RESEND);
    assert_int_equal(g.l.reply[2], g.seq);
    for (uint32_t at = FRAME_DATA_MAX; at < len; at += FRAME_DATA_MAX) {
        data(&g, new_image, at, len - at < FRAME_DATA_MAX ? len - at : FRAME_DATA_MAX);
        assert_int_equal(g.r.result, LOAD_OK);
    }
    send(&g, FRAME_END, g.seq++, NULL, 0);
    assert_int_equal(g.r.result, LOAD_OK);
    assert_int_equal(check_eeprom(&g), STM32ISP_OK);
    rig_close(&g);
}

/* Refusals before BEGIN was taken leave the old image exactly as it was. */
static void test_refused_begin_keeps_the_old_image(void **state)
{
    (void)state;
    uint32_t old_len = make_container(old_image, sizeof old_image, 900, 6);
    struct {
        uint32_t total;
        const char *geometry_of; /* NULL: none sent */
        load_reason why;
    } cases[] = {
        {32769, NULL, LOAD_R_SIZE},
        {LOADER_MIN_LENGTH - 1, NULL, LOAD_R_SIZE},
        {1000, "24c512", LOAD_R_PART},
        {1000, "24c02", LOAD_R_PART},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rig g;
        rig_open(&g, NULL);
        preload(&g, old_image, old_len);
        uint8_t p[4 + LOADER_GEOMETRY];
        frame_put_u32(p, cases[i].total);
        size_t n = 4;
        if (cases[i].geometry_of != NULL) {
            const stm32isp_eeprom_part *want = stm32isp_eeprom_part_find(cases[i].geometry_of);
            frame_put_u32(p + 4, want->size);
            p[8] = (uint8_t)want->page_size;
            p[9] = (uint8_t)(want->page_size >> 8);
            p[10] = want->address_bytes;
            p[11] = want->block_bits;
            n += LOADER_GEOMETRY;
        }
        send(&g, FRAME_BEGIN, 0, p, n);
        assert_int_equal(g.r.result, LOAD_REFUSED);
        assert_int_equal(g.r.why, cases[i].why);
        assert_int_equal(g.r.extra_len, LOADER_GEOMETRY); /* the master's part, for the PC */
        assert_true(g.l.over);
        assert_false(g.l.begun);
        assert_memory_equal(eesim_memory(g.model), old_image, old_len);
        rig_close(&g);
    }
    /* The right geometry is taken. */
    rig g;
    rig_open(&g, NULL);
    uint8_t p[4 + LOADER_GEOMETRY];
    frame_put_u32(p, 1000);
    frame_put_u32(p + 4, 32768);
    p[8] = 64;
    p[9] = 0;
    p[10] = 2;
    p[11] = 0;
    send(&g, FRAME_BEGIN, 0, p, sizeof p);
    assert_int_equal(g.r.result, LOAD_OK);
    rig_close(&g);
}

static void test_protocol_errors_end_the_transfer(void **state)
{
    (void)state;
    uint32_t len = make_container(new_image, sizeof new_image, 600, 7);
    /* DATA before BEGIN. */
    rig g;
    rig_open(&g, NULL);
    data(&g, new_image, 0, 16);
    assert_int_equal(g.r.result, LOAD_REFUSED);
    assert_int_equal(g.r.why, LOAD_R_STATE);
    rig_close(&g);
    /* A skipped sequence number; data not at the next offset; a frame type
     * nobody knows; a DATA frame without data. */
    for (int kind = 0; kind < 4; kind++) {
        rig_open(&g, NULL);
        begin(&g, len);
        data(&g, new_image, 0, 64);
        if (kind == 0) {
            g.seq++;
            data(&g, new_image, 64, 64);
            assert_int_equal(g.r.why, LOAD_R_SEQUENCE);
        } else if (kind == 1) {
            data(&g, new_image, 100, 64);
            assert_int_equal(g.r.why, LOAD_R_SEQUENCE);
        } else if (kind == 2) {
            send(&g, 'Z', g.seq++, NULL, 0);
            assert_int_equal(g.r.why, LOAD_R_STATE);
        } else {
            uint8_t p[4] = {64, 0, 0, 0};
            send(&g, FRAME_DATA, g.seq++, p, sizeof p);
            assert_int_equal(g.r.why, LOAD_R_STATE);
        }
        assert_int_equal(g.r.result, LOAD_REFUSED);
        assert_true(g.l.over);
        assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
        rig_close(&g);
    }
    /* ABORT: over, no image. */
    rig_open(&g, NULL);
    begin(&g, len);
    data(&g, new_image, 0, 64);
    send(&g, FRAME_ABORT, g.seq, NULL, 0);
    assert_int_equal(g.r.result, LOAD_OK);
    assert_int_equal(g.l.reason, LOAD_R_ABORTED);
    assert_true(g.l.over);
    assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
    rig_close(&g);
}

/* Bytes that are not a valid container are refused at END; the magic stays
 * blank, so the EEPROM holds no image rather than a bad one. */
static void test_invalid_container_refused_at_end(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        rig g;
        rig_open(&g, NULL);
        uint32_t len = make_container(new_image, sizeof new_image, 800, 8);
        stm32isp_err want = STM32ISP_ERR_CONTAINER_PAYLOAD;
        uint32_t sent = len;
        if (kind == 0) {
            new_image[len - 1] ^= 1; /* payload */
        } else if (kind == 1) {
            new_image[50] ^= 1; /* header */
            want = STM32ISP_ERR_CONTAINER_HEADER;
        } else {
            sent = len + 10; /* more bytes than the container: a PC bug */
            want = STM32ISP_ERR_CONTAINER_HEADER;
        }
        full_transfer(&g, new_image, sent);
        assert_int_equal(g.r.result, LOAD_REFUSED);
        assert_int_equal(g.r.why, LOAD_R_CHECK);
        assert_int_equal(g.r.err, want);
        assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
        rig_close(&g);
    }
}

/* EEPROM faults: a write-protected part keeps its image; a power loss in
 * the middle leaves none; bit errors on reads never let a bad image pass. */
static void test_eeprom_faults(void **state)
{
    (void)state;
    uint32_t old_len = make_container(old_image, sizeof old_image, 900, 9);
    uint32_t len = make_container(new_image, sizeof new_image, 2000, 10);

    eesim_faults wp = {.write_protect = true};
    rig g;
    rig_open(&g, &wp);
    preload(&g, old_image, old_len);
    begin(&g, len);
    assert_int_equal(g.r.result, LOAD_REFUSED);
    assert_int_equal(g.r.why, LOAD_R_EEPROM);
    assert_int_equal(g.r.err, STM32ISP_ERR_EEPROM_NACK);
    assert_false(g.l.begun);
    assert_int_equal(check_eeprom(&g), STM32ISP_OK); /* the old image, intact */
    rig_close(&g);

    for (uint32_t at = 1; at < len; at += 97) {
        eesim_faults loss = {.power_loss_at = at};
        rig_open(&g, &loss);
        transfer_until_refused(&g, new_image, len);
        eesim_power_on(g.model);
        stm32isp_err after = check_eeprom(&g);
        if (g.l.reason == LOAD_R_NONE) {
            assert_int_equal(after, STM32ISP_OK);
        } else {
            assert_int_equal(g.r.result, LOAD_REFUSED);
            assert_int_equal(after, STM32ISP_ERR_NO_CONTAINER);
        }
        rig_close(&g);
    }

    unsigned refused = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        eesim_faults flips = {.seed = seed, .bit_flip_rate = 2e-5};
        rig_open(&g, &flips);
        full_transfer(&g, new_image, len);
        if (g.r.result != LOAD_OK) {
            refused++;
            assert_int_equal(g.r.why, LOAD_R_CHECK);
        }
        /* Whatever the reads said, the array holds the image or no magic. */
        uint8_t *mem = eesim_memory(g.model);
        if (g.r.result == LOAD_OK) {
            assert_memory_equal(mem, new_image, len);
        } else {
            assert_memory_equal(mem, "\xFF\xFF\xFF\xFF", 4);
        }
        rig_close(&g);
    }
    assert_true(refused > 0); /* the rate is high enough to matter */
}

/* An image that fails the check at END must never get its magic, even for
 * an instant that a power loss could freeze: it is checked before the magic
 * is written, with the held bytes laid over the blank one. */
static void test_power_loss_around_end_of_an_invalid_image(void **state)
{
    (void)state;
    uint32_t len = make_container(new_image, sizeof new_image, 500, 11);
    new_image[len - 1] ^= 0x40;
    /* Data bytes written: 4 (the blank magic), len - 4, then what END writes. */
    for (uint32_t at = len - 8; at <= len + 12; at++) {
        eesim_faults loss = {.power_loss_at = at};
        rig g;
        rig_open(&g, &loss);
        transfer_until_refused(&g, new_image, len);
        assert_int_equal(g.r.result, LOAD_REFUSED);
        eesim_power_on(g.model);
        assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
        rig_close(&g);
    }
}

/* A part that acknowledges the write of the magic and does not keep it (a
 * brown-out in its write cycle): only the check of what was read back
 * after writing it can tell. */
typedef struct forgetful {
    eesim *model;
    unsigned dropped;
} forgetful;

static int forgetful_write(void *ctx, uint8_t address, const uint8_t *data, size_t len)
{
    forgetful *f = ctx;
    if (len == 6 && data[0] == 0 && data[1] == 0 && memcmp(data + 2, "SIMG", 4) == 0) {
        f->dropped++;
        return STM32ISP_I2C_OK;
    }
    return eesim_i2c_ops.write(f->model, address, data, len);
}

static int forgetful_write_read(void *ctx, uint8_t address, const uint8_t *wdata, size_t wlen,
                                uint8_t *rdata, size_t rlen)
{
    forgetful *f = ctx;
    return eesim_i2c_ops.write_read(f->model, address, wdata, wlen, rdata, rlen);
}

static uint32_t forgetful_now_ms(void *ctx)
{
    forgetful *f = ctx;
    return eesim_i2c_ops.now_ms(f->model);
}

static void forgetful_delay_ms(void *ctx, uint32_t ms)
{
    forgetful *f = ctx;
    eesim_i2c_ops.delay_ms(f->model, ms);
}

static const stm32isp_i2c_ops forgetful_ops = {
    .write = forgetful_write,
    .write_read = forgetful_write_read,
    .now_ms = forgetful_now_ms,
    .delay_ms = forgetful_delay_ms,
};

static void test_a_magic_that_did_not_stick_is_refused(void **state)
{
    (void)state;
    rig g;
    rig_open(&g, NULL);
    forgetful f = {.model = g.model};
    stm32isp_eeprom_init(&g.ee, &forgetful_ops, &f, stm32isp_eeprom_part_find(PART), 0x50);
    uint32_t len = make_container(new_image, sizeof new_image, 700, 12);
    full_transfer(&g, new_image, len);
    assert_int_equal(f.dropped, 1);
    assert_int_equal(g.r.result, LOAD_REFUSED);
    assert_int_equal(g.r.why, LOAD_R_CHECK);
    assert_int_equal(g.r.err, STM32ISP_ERR_NO_CONTAINER);
    assert_int_equal(check_eeprom(&g), STM32ISP_ERR_NO_CONTAINER);
    rig_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding_matches_the_documented_bytes),
        cmocka_unit_test(test_round_trip_whole_and_byte_by_byte),
        cmocka_unit_test(test_text_around_frames_is_skipped),
        cmocka_unit_test(test_every_bit_flip_is_caught),
        cmocka_unit_test(test_false_start_before_a_frame),
        cmocka_unit_test(test_bad_length_then_good_frame),
        cmocka_unit_test(test_random_bytes_never_overflow),
        cmocka_unit_test(test_transfer_writes_and_checks),
        cmocka_unit_test(test_broken_after_every_frame_leaves_no_image),
        cmocka_unit_test(test_lost_answer_and_damaged_frame),
        cmocka_unit_test(test_refused_begin_keeps_the_old_image),
        cmocka_unit_test(test_protocol_errors_end_the_transfer),
        cmocka_unit_test(test_invalid_container_refused_at_end),
        cmocka_unit_test(test_eeprom_faults),
        cmocka_unit_test(test_power_loss_around_end_of_an_invalid_image),
        cmocka_unit_test(test_a_magic_that_did_not_stick_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

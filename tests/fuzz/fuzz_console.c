/*
 * Fuzzes the master firmware's console frame parser (firmware/app/frame.c,
 * the load protocol), built for the host: the bytes a PC, or noise, sends
 * to the console while it is in load mode.
 *
 * Input: one control byte (seeds the chunk sizes), then the byte stream.
 * The stream goes through two parsers, one taking it all at once and one in
 * chunks of 1 to 16 bytes; both must report the same frames and errors, and
 * account for every byte: skipped, in a frame, or still held.
 */
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_console: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_EVENTS 4096

/* What one frame_parse call reported (MORE is not recorded). */
typedef struct event {
    frame_status status;
    uint8_t type, seq;
    uint16_t length;
    uint8_t first, last; /* payload bytes, to compare cheaply */
} event;

typedef struct run {
    frame_parser parser;
    event events[MAX_EVENTS];
    size_t count;
    uint64_t in_frames; /* bytes of the frames returned READY */
} run;

/* A frame handed out must be whole, inside the parser, and encode back to
 * the same frame. */
static void check_frame(const frame_parser *p, const frame *f)
{
    CHECK(f->length <= FRAME_PAYLOAD_MAX);
    CHECK(f->payload == p->buf + FRAME_HEADER);
    uint8_t again[FRAME_MAX];
    size_t n = frame_encode(again, sizeof again, f->type, f->seq, f->payload, f->length);
    CHECK(n == FRAME_HEADER + f->length + FRAME_TRAILER);
    CHECK(memcmp(again, p->buf, n) == 0);
    CHECK(frame_encode(again, n - 1, f->type, f->seq, f->payload, f->length) == 0);
}

static void feed(run *r, const uint8_t *data, size_t len)
{
    /* Each call takes a byte, or drops a held one, or clears a frame: so
     * this many calls always suffice. */
    size_t bound = 2 * len + 2 * FRAME_MAX + 4;
    size_t at = 0;
    for (size_t calls = 0;; calls++) {
        CHECK(calls <= bound);
        size_t used = 0;
        frame f;
        frame_status st = frame_parse(&r->parser, data + at, len - at, &used, &f);
        CHECK(used <= len - at);
        CHECK(r->parser.have <= FRAME_MAX);
        at += used;
        if (st == FRAME_MORE) {
            CHECK(at == len);
            return;
        }
        CHECK(st == FRAME_READY || st == FRAME_DAMAGED || st == FRAME_BAD_LENGTH);
        event e;
        memset(&e, 0, sizeof e); /* compared with memcmp: no stray padding */
        e.status = st;
        if (st == FRAME_READY) {
            check_frame(&r->parser, &f);
            e.type = f.type;
            e.seq = f.seq;
            e.length = f.length;
            e.first = f.length > 0 ? f.payload[0] : 0;
            e.last = f.length > 0 ? f.payload[f.length - 1] : 0;
            r->in_frames += FRAME_HEADER + f.length + FRAME_TRAILER;
        }
        CHECK(r->count < MAX_EVENTS);
        r->events[r->count++] = e;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint32_t rng = data[0] * 2654435761u + 1u;
    const uint8_t *stream = data + 1;
    size_t len = size - 1;
    if (len > MAX_EVENTS) {
        return 0; /* every event takes at least one byte */
    }

    static run whole, pieces;
    memset(&whole, 0, sizeof whole);
    memset(&pieces, 0, sizeof pieces);
    frame_parser_reset(&whole.parser);
    frame_parser_reset(&pieces.parser);

    feed(&whole, stream, len);
    for (size_t at = 0; at < len;) {
        rng = rng * 1103515245u + 12345u;
        size_t n = 1 + (rng >> 16) % 16;
        n = n < len - at ? n : len - at;
        feed(&pieces, stream + at, n);
        at += n;
    }

    /* Where the stream is cut does not matter. */
    CHECK(whole.count == pieces.count);
    CHECK(memcmp(whole.events, pieces.events, whole.count * sizeof whole.events[0]) == 0);
    CHECK(whole.parser.skipped == pieces.parser.skipped);
    CHECK(whole.parser.have == pieces.parser.have);
    /* Every byte is skipped, part of a frame, or held for the next one. */
    CHECK(whole.parser.skipped + whole.in_frames + whole.parser.have == len);
    return 0;
}

#include "frame.h"

#include "stm32isp/container.h"

#include <string.h>

void frame_parser_reset(frame_parser *p)
{
    p->have = 0;
    p->skipped = 0;
    p->delivered = 0;
}

/* Drops the first `from` held bytes, then any up to the next start byte, so
 * that the held bytes again begin with one (or there are none). */
static void drop_to_start(frame_parser *p, uint16_t from)
{
    uint16_t k = from;
    while (k < p->have && p->buf[k] != FRAME_SOF) {
        k++;
    }
    p->have = (uint16_t)(p->have - k);
    memmove(p->buf, p->buf + k, p->have);
}

/* Drops the held frame's start byte and keeps what follows the next start
 * byte among the held bytes, if any: that may be the real frame. */
static void resync(frame_parser *p)
{
    uint16_t before = p->have;
    drop_to_start(p, 1);
    p->skipped += (uint16_t)(before - p->have);
}

/* What the held bytes amount to. */
static frame_status check(frame_parser *p, frame *out)
{
    if (p->have < FRAME_HEADER) {
        return FRAME_MORE;
    }
    uint16_t n = (uint16_t)(p->buf[3] | p->buf[4] << 8);
    if (n > FRAME_PAYLOAD_MAX) {
        resync(p);
        return FRAME_BAD_LENGTH;
    }
    uint16_t total = (uint16_t)(FRAME_HEADER + n + FRAME_TRAILER);
    if (p->have < total) {
        return FRAME_MORE;
    }
    uint32_t crc = stm32isp_crc32_ieee(0, p->buf + 1, FRAME_HEADER - 1u + n);
    if (crc != frame_get_u32(p->buf + FRAME_HEADER + n)) {
        resync(p);
        return FRAME_DAMAGED;
    }
    out->type = p->buf[1];
    out->seq = p->buf[2];
    out->length = n;
    out->payload = p->buf + FRAME_HEADER;
    /* The frame stays in buf for the caller until the next call; bytes
     * held behind it (found after a resync) are the next frame's. */
    p->delivered = total;
    return FRAME_READY;
}

frame_status frame_parse(frame_parser *p, const uint8_t *data, size_t len, size_t *used, frame *out)
{
    size_t i = 0;
    if (p->delivered != 0) {
        /* The frame handed out last time goes; noise behind it counts as
         * skipped. */
        uint16_t after = (uint16_t)(p->have - p->delivered);
        drop_to_start(p, p->delivered);
        p->skipped += (uint16_t)(after - p->have);
        p->delivered = 0;
    }
    for (;;) {
        /* Held bytes first: after a resync they may already be a frame. */
        frame_status st = check(p, out);
        if (st != FRAME_MORE || i == len) {
            *used = i;
            return st;
        }
        uint8_t b = data[i++];
        if (p->have == 0 && b != FRAME_SOF) {
            p->skipped++;
            continue;
        }
        p->buf[p->have++] = b;
    }
}

size_t frame_encode(uint8_t *out, size_t out_size, uint8_t type, uint8_t seq,
                    const uint8_t *payload, size_t len)
{
    size_t total = FRAME_HEADER + len + FRAME_TRAILER;
    if (len > FRAME_PAYLOAD_MAX || out_size < total || (len > 0 && payload == NULL)) {
        return 0;
    }
    if (len > 0) {
        memmove(out + FRAME_HEADER, payload, len); /* the payload may already be in place */
    }
    out[0] = FRAME_SOF;
    out[1] = type;
    out[2] = seq;
    out[3] = (uint8_t)len;
    out[4] = (uint8_t)(len >> 8);
    frame_put_u32(out + FRAME_HEADER + len,
                  stm32isp_crc32_ieee(0, out + 1, FRAME_HEADER - 1u + len));
    return total;
}

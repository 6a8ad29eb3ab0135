/*
 * The frames of the console's binary load protocol (docs/firmware.md, "The
 * load protocol"): `stm32isp load` on the PC sends a container to the
 * master in frames, the master answers each with a frame.
 *
 *   offset size
 *     0     1   start byte FRAME_SOF (0xA5: never part of the console's text)
 *     1     1   type
 *     2     1   sequence number
 *     3     2   payload length, little-endian, 0..FRAME_PAYLOAD_MAX
 *     5     n   payload
 *   5+n     4   CRC-32/ISO-HDLC (as the container's) of bytes 1 .. 4+n,
 *               little-endian
 *
 * Portable C with no firmware dependency, so that the host builds it too
 * (tests/unit/test_fw_frame.c, and the fuzzer).
 */
#ifndef FW_FRAME_H
#define FW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_SOF         0xA5u
#define FRAME_HEADER      5u
#define FRAME_TRAILER     4u
#define FRAME_DATA_MAX    128u                  /* container bytes per DATA frame */
#define FRAME_PAYLOAD_MAX (4u + FRAME_DATA_MAX) /* a DATA frame: offset, then the bytes */
#define FRAME_MAX         (FRAME_HEADER + FRAME_PAYLOAD_MAX + FRAME_TRAILER)

/* Frame types. The PC sends the upper-case letters, the master answers R. */
enum {
    FRAME_BEGIN = 'B', /* u32 container length, then optionally the EEPROM geometry expected */
    FRAME_DATA = 'D',  /* u32 offset, then 1..FRAME_DATA_MAX bytes */
    FRAME_END = 'E',   /* no payload: check the container as stored */
    FRAME_ABORT = 'A', /* no payload: give up */
    FRAME_REPLY = 'R', /* the master's answer, with the sequence number answered */
};

/* A received frame; `payload` points into the parser and is valid until its
 * next call. */
typedef struct frame {
    uint8_t type;
    uint8_t seq;
    uint16_t length;
    const uint8_t *payload;
} frame;

typedef enum frame_status {
    FRAME_MORE,       /* every byte was taken; no frame is complete yet */
    FRAME_READY,      /* a frame with a good CRC is in *out */
    FRAME_DAMAGED,    /* a frame ended with a wrong CRC: it must be sent again */
    FRAME_BAD_LENGTH, /* a header announced more than FRAME_PAYLOAD_MAX bytes */
} frame_status;

typedef struct frame_parser {
    uint16_t have;    /* bytes of the current frame held; 0: looking for FRAME_SOF */
    uint32_t skipped; /* bytes dropped while looking for a start */
    /* Length of the frame last returned: it stays at the start of buf for the
     * caller until the next call, which drops it and keeps what followed. */
    uint16_t delivered;
    uint8_t buf[FRAME_MAX];
} frame_parser;

void frame_parser_reset(frame_parser *p);

/*
 * Takes bytes from `data` until a frame is complete or found bad, and
 * returns what happened; `*used` says how many bytes it took (call again
 * with the rest). After a damaged frame or a bad length, the bytes held are
 * searched again for a start byte, so a false start (noise that looked like
 * FRAME_SOF) does not hide a good frame right behind it.
 */
frame_status frame_parse(frame_parser *p, const uint8_t *data, size_t len, size_t *used,
                         frame *out);

/* Builds a frame into `out` (FRAME_HEADER + len + FRAME_TRAILER bytes).
 * Returns its length, or 0 when it does not fit or len is too long. */
size_t frame_encode(uint8_t *out, size_t out_size, uint8_t type, uint8_t seq,
                    const uint8_t *payload, size_t len);

/* Little-endian helpers for payloads. */
static inline uint32_t frame_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void frame_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#endif /* FW_FRAME_H */

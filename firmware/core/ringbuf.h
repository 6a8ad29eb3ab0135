/*
 * A single-producer single-consumer byte queue between an interrupt handler
 * (the producer) and the main loop (the consumer). Each side writes only its
 * own index, so no lock is needed; the indices run freely and wrap, and the
 * size is a power of two so that the difference is always the fill level.
 */
#ifndef FW_RINGBUF_H
#define FW_RINGBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ringbuf {
    uint8_t *buf;
    uint32_t mask;             /* size - 1 */
    volatile uint32_t head;    /* written by the producer only */
    volatile uint32_t tail;    /* written by the consumer only */
    volatile uint32_t dropped; /* bytes that found the queue full */
} ringbuf;

/* `size` must be a power of two. */
static inline void ringbuf_init(ringbuf *r, uint8_t *buf, uint32_t size)
{
    r->buf = buf;
    r->mask = size - 1u;
    r->head = 0;
    r->tail = 0;
    r->dropped = 0;
}

static inline uint32_t ringbuf_level(const ringbuf *r)
{
    return r->head - r->tail;
}

/* Producer side. A full queue drops the new byte: the protocol above
 * notices the gap, while overwriting would corrupt what the reader holds. */
static inline void ringbuf_put(ringbuf *r, uint8_t byte)
{
    uint32_t head = r->head;
    if (head - r->tail > r->mask) {
        r->dropped++;
        return;
    }
    r->buf[head & r->mask] = byte;
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the byte before the index */
    r->head = head + 1u;
}

/* Consumer side: up to `len` bytes, returns how many. */
static inline size_t ringbuf_get(ringbuf *r, uint8_t *out, size_t len)
{
    uint32_t tail = r->tail;
    uint32_t avail = r->head - tail;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    size_t n = 0;
    while (n < len && n < avail) {
        out[n++] = r->buf[tail & r->mask];
        tail++;
    }
    r->tail = tail;
    return n;
}

/* Consumer side: forgets everything queued. */
static inline void ringbuf_flush(ringbuf *r)
{
    r->tail = r->head;
}

#endif /* FW_RINGBUF_H */

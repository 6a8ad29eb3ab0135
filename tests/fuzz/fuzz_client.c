/*
 * Fuzzes the client's handling of target replies: a fake port whose read()
 * serves the fuzz input as the bytes "the target" sends, driving
 * stm32isp_connect, stm32isp_program on a small image and single commands
 * (client_session.c). A target that sends arbitrary bytes must not crash,
 * hang or overflow the master.
 *
 * Input: the session configuration (client_session.h), then the target's
 * bytes as chunks, each a length (one byte below 0x80; else two, 15 bits)
 * and that many bytes. Chunk 0 is on the line from the start; chunk k
 * arrives when the client has made its k-th write, as a reply would. When
 * the chunks run out the target is silent: every read times out and the
 * fake clock jumps by the timeout, so nothing waits in real time.
 *
 * No hang: the session must end within MAX_PORT_CALLS port calls and
 * MAX_FAKE_MS of fake time, and no single wait may exceed MAX_WAIT_MS.
 */
#include "client_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_client: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Bounds far above what any session needs (docs/fuzzing.md has the
 * measured maxima): crossing one means a loop that does not end. */
#define MAX_PORT_CALLS 200000u
#define MAX_FAKE_MS    (6u * 3600u * 1000u)
#define MAX_WAIT_MS    (10u * 60u * 1000u)
/* The longest write the client makes: a Write Memory frame (N, 256 bytes,
 * checksum). */
#define MAX_WRITE 258u

typedef struct fake_port {
    const uint8_t *chunks; /* the undelivered rest of the input */
    size_t chunks_left;
    uint8_t *line; /* bytes delivered and not yet read */
    size_t line_len, line_read;
    uint64_t now_ms;
    unsigned calls;
    unsigned fail_from; /* port calls from this one on fail; 0: never */
    session_watch watch;
    int last_opcode; /* the last opcode + complement pair written; -1: none */
} fake_port;

/* Puts the next chunk on the line. */
static void deliver_chunk(fake_port *p)
{
    if (p->chunks_left == 0) {
        return;
    }
    size_t len = p->chunks[0];
    size_t head = 1;
    if (len >= 0x80) {
        len = p->chunks_left >= 2 ? (len & 0x7F) << 8 | p->chunks[1] : 0;
        head = 2;
    }
    head = head < p->chunks_left ? head : p->chunks_left;
    len = len < p->chunks_left - head ? len : p->chunks_left - head;
    memcpy(p->line + p->line_len, p->chunks + head, len);
    p->line_len += len;
    p->chunks += head + len;
    p->chunks_left -= head + len;
}

/* Counts a port call; false when the port is to fail. */
static bool port_call(fake_port *p)
{
    p->calls++;
    CHECK(p->calls <= MAX_PORT_CALLS);
    CHECK(p->now_ms <= MAX_FAKE_MS);
    return p->fail_from == 0 || p->calls < p->fail_from;
}

static int port_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    fake_port *p = ctx;
    CHECK(len > 0);
    CHECK(timeout_ms <= MAX_WAIT_MS);
    if (!port_call(p)) {
        return -1;
    }
    size_t avail = p->line_len - p->line_read;
    if (avail == 0) {
        p->now_ms += timeout_ms != 0 ? timeout_ms : 1;
        return 0;
    }
    size_t n = len < avail ? len : avail;
    memcpy(buf, p->line + p->line_read, n);
    p->line_read += n;
    p->now_ms += 1; /* time passes while bytes arrive */
    return (int)n;
}

/* A write starts inside a segment, or before it in its first window. */
static bool in_image(const session_watch *w, uint32_t address)
{
    for (size_t i = 0; i < w->segment_count; i++) {
        const stm32isp_segment *s = &w->segments[i];
        if ((s->address & ~0xFFu) <= address && address < (uint64_t)s->address + s->length) {
            return true;
        }
    }
    return false;
}

/*
 * While connecting and programming, the client sends nothing it was not
 * asked for, whatever the target said. Opcodes go out as one 2-byte write
 * (opcode, complement); the sizes the session reads never make a Read
 * Memory length pair look like one of the opcodes checked here.
 */
static void watch_write(fake_port *p, const uint8_t *buf, size_t len)
{
    const session_watch *w = &p->watch;
    int last = p->last_opcode;
    p->last_opcode = len == 2 && buf[1] == (uint8_t)~buf[0] ? buf[0] : -1;
    if (!w->programming) {
        return;
    }
    if (p->last_opcode >= 0) {
        uint8_t op = (uint8_t)p->last_opcode;
        /* Protection changes and Readout Unprotect's mass erase. */
        CHECK(op != 0x63 && op != 0x73 && op != 0x82 && op != 0x92);
        CHECK(op != 0x21 || w->go_allowed);
        /* Connecting reads; it never erases or writes. */
        CHECK(w->segments != NULL || (op != 0x31 && op != 0x43 && op != 0x44));
    }
    bool global = (last == 0x44 && len == 3 && buf[0] == 0xFF && buf[1] == 0xFF) ||
                  (last == 0x43 && len == 2 && buf[0] == 0xFF && buf[1] == 0x00);
    if (global) {
        CHECK(w->erase == STM32ISP_ERASE_AUTO || w->erase == STM32ISP_ERASE_MASS);
    }
    if (last == 0x31 && len == 4) {
        uint32_t address =
            (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
        CHECK(in_image(w, address));
    }
}

static int port_write(void *ctx, const uint8_t *buf, size_t len)
{
    fake_port *p = ctx;
    CHECK(len > 0 && len <= MAX_WRITE);
    watch_write(p, buf, len);
    if (!port_call(p)) {
        return -1;
    }
    deliver_chunk(p);
    p->now_ms += 1;
    return 0;
}

static uint32_t port_now_ms(void *ctx)
{
    const fake_port *p = ctx;
    return (uint32_t)p->now_ms;
}

static void port_delay_ms(void *ctx, uint32_t ms)
{
    fake_port *p = ctx;
    CHECK(ms <= MAX_WAIT_MS);
    p->now_ms += ms;
}

static int port_pin(void *ctx, bool level)
{
    fake_port *p = ctx;
    (void)level;
    return port_call(p) ? 0 : -1;
}

static int port_set_baud(void *ctx, uint32_t baud)
{
    fake_port *p = ctx;
    CHECK(baud > 0);
    return port_call(p) ? 0 : -1;
}

static void port_log(void *ctx, stm32isp_log_level level, const char *msg)
{
    (void)ctx;
    CHECK(level <= STM32ISP_LOG_DEBUG && msg != NULL && msg[0] != '\0');
}

static const stm32isp_port_ops ops_with_pins = {
    .read = port_read,
    .write = port_write,
    .now_ms = port_now_ms,
    .delay_ms = port_delay_ms,
    .set_boot0 = port_pin,
    .set_reset = port_pin,
    .set_baud = port_set_baud,
    .log = port_log,
};

static const stm32isp_port_ops ops_no_pins = {
    .read = port_read,
    .write = port_write,
    .now_ms = port_now_ms,
    .delay_ms = port_delay_ms,
    .log = port_log,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    session_config cfg;
    size_t used = session_config_decode(data, size, &cfg);
    fake_port p = {
        .chunks = data + used,
        .chunks_left = size - used,
        .line = malloc(size + 1),
        .fail_from = 8u * cfg.port_fail,
        .last_opcode = -1,
    };
    CHECK(p.line != NULL);
    deliver_chunk(&p);
    session_result result;
    session_run(&cfg, (cfg.flags & SESSION_PINS) != 0 ? &ops_with_pins : &ops_no_pins, &p, &result,
                &p.watch);
    static int verbose = -1;
    if (verbose < 0) {
        verbose = getenv("FUZZ_CLIENT_VERBOSE") != NULL;
    }
    if (verbose) {
        /* For replaying one input by hand: what the session saw. */
        fprintf(stderr, "connect %s, program %s, %u commands:", stm32isp_err_name(result.connect),
                stm32isp_err_name(result.program), cfg.command_count);
        for (unsigned i = 0; i < cfg.command_count; i++) {
            fprintf(stderr, " %s", stm32isp_err_name(result.commands[i]));
        }
        fprintf(stderr, "; %u port calls, %llu fake ms\n", p.calls, (unsigned long long)p.now_ms);
    }
    free(p.line);
    return 0;
}

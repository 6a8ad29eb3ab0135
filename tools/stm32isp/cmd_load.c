/*
 * load: writes an image container into the master board's EEPROM through
 * the master's console (USART2, 8N1), with the framed protocol described in
 * docs/firmware.md ("The load protocol"): a BEGIN frame, DATA frames of up
 * to 128 bytes at their offset, and END, each acknowledged by the master and
 * sent again when its answer is damaged or does not come. The master then
 * checks the whole container as it reads it back from the EEPROM.
 *
 * The frames are built and parsed here from that description, apart from
 * the firmware's code (firmware/app/frame.c), so that the end-to-end test
 * under QEMU checks the two against each other.
 */
#include "cli.h"
#include "fileio.h"
#include "pc_serial.h"
#include "stm32isp/container.h"
#include "stm32isp/eeprom.h"
#include "stm32isp/job.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The protocol (docs/firmware.md). */
enum {
    SOF = 0xA5,
    T_BEGIN = 'B',
    T_DATA = 'D',
    T_END = 'E',
    T_ABORT = 'A',
    T_REPLY = 'R',
};
enum { RESULT_OK = 0, RESULT_RESEND = 1, RESULT_REFUSED = 2 };
enum {
    WHY_NONE,
    WHY_DAMAGED,
    WHY_SEQUENCE,
    WHY_STATE,
    WHY_SIZE,
    WHY_PART,
    WHY_EEPROM,
    WHY_CHECK,
    WHY_ABORTED,
};
#define HEADER      5u
#define TRAILER     4u
#define DATA_MAX    128u
#define GEOMETRY    8u
#define REPLY_MAX   32u /* a reply's payload: 3 bytes and what the frame asks for */
#define MIN_LENGTH  (STM32ISP_CONTAINER_FIXED_SIZE + 8u + 4u + 1u)
#define ATTEMPTS    8u    /* sends of one frame that get no answer at all */
#define RESENDS     32u   /* sends the master asked for (it got the frame damaged) */
#define READY_MS    5000u /* the master answers "load" within this */
#define REPLY_MS    1000u /* and each frame within this (a few EEPROM pages) */
#define LINE_ERASES 80u   /* backspaces: clear whatever is typed on its console */

typedef struct load_options {
    const char *port;
    const char *file;
    const char *eeprom_type;
    uint32_t baud;
    bool quiet, verbose;
} load_options;

typedef struct reply {
    uint8_t seq;
    uint8_t result, why, err;
    uint8_t extra[REPLY_MAX];
    size_t extra_len;
} reply;

typedef struct console_link {
    pc_serial serial;
    const load_options *o;
    uint8_t seq;     /* of the next frame */
    uint32_t resent; /* frames sent again */
    uint8_t rx[HEADER + REPLY_MAX + TRAILER];
    size_t have;
} console_link;

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t now_ms(console_link *l)
{
    return pc_serial_ops.now_ms(&l->serial);
}

static int send_raw(console_link *l, const void *data, size_t len)
{
    return pc_serial_ops.write(&l->serial, data, len);
}

static int send_frame(console_link *l, uint8_t type, uint8_t seq, const uint8_t *payload,
                      size_t len)
{
    uint8_t f[HEADER + 4 + DATA_MAX + TRAILER];
    f[0] = SOF;
    f[1] = type;
    f[2] = seq;
    f[3] = (uint8_t)len;
    f[4] = (uint8_t)(len >> 8);
    if (len > 0) {
        memcpy(f + HEADER, payload, len);
    }
    put_u32(f + HEADER + len, stm32isp_crc32_ieee(0, f + 1, HEADER - 1 + len));
    return send_raw(l, f, HEADER + len + TRAILER);
}

/* Takes the held bytes' first reply frame, if whole and intact: 1 then, 0
 * when more bytes are needed. Bytes that cannot start one are dropped. */
static int take_reply(console_link *l, reply *r)
{
    for (;;) {
        size_t skip = 0;
        while (skip < l->have && l->rx[skip] != SOF) {
            skip++; /* text (the echo, the ready line) or noise */
        }
        memmove(l->rx, l->rx + skip, l->have - skip);
        l->have -= skip;
        if (l->have < HEADER) {
            return 0;
        }
        size_t n = (size_t)l->rx[3] | (size_t)l->rx[4] << 8;
        bool sane = l->rx[1] == T_REPLY && n >= 3 && n <= REPLY_MAX;
        if (sane && l->have < HEADER + n + TRAILER) {
            return 0;
        }
        if (sane &&
            stm32isp_crc32_ieee(0, l->rx + 1, HEADER - 1 + n) == get_u32(l->rx + HEADER + n)) {
            r->seq = l->rx[2];
            r->result = l->rx[HEADER];
            r->why = l->rx[HEADER + 1];
            r->err = l->rx[HEADER + 2];
            r->extra_len = n - 3;
            memcpy(r->extra, l->rx + HEADER + 3, r->extra_len);
            l->have -= HEADER + n + TRAILER;
            memmove(l->rx, l->rx + HEADER + n + TRAILER, l->have);
            return 1;
        }
        /* A false start or a damaged reply: look again from the next byte. */
        memmove(l->rx, l->rx + 1, l->have - 1);
        l->have--;
    }
}

/* Waits for one reply: 1, 0 on timeout, -1 on a port error. */
static int read_reply(console_link *l, uint32_t timeout_ms, reply *r)
{
    uint32_t start = now_ms(l);
    for (;;) {
        int got = take_reply(l, r);
        if (got != 0) {
            return got;
        }
        uint32_t spent = now_ms(l) - start;
        if (spent >= timeout_ms) {
            return 0;
        }
        int n = pc_serial_ops.read(&l->serial, l->rx + l->have, sizeof l->rx - l->have,
                                   timeout_ms - spent);
        if (n < 0) {
            return -1;
        }
        l->have += (size_t)n;
    }
}

/*
 * Sends a frame until the master answers it: again when the answer says the
 * frame arrived damaged or when none comes in time; answers to other
 * frames (late ones, to a frame sent twice) are ignored. A master that asks
 * for the frame again is alive: after a stall, copies of a frame sent while
 * it could not answer can arrive cut short and be answered that way, so
 * those requests have a budget of their own, apart from the sends that got
 * no answer at all. Returns 0 with the answer, -1 on a port error, -2 when
 * the master never answered, -3 when every copy arrived damaged.
 */
static int exchange(console_link *l, uint8_t type, const uint8_t *payload, size_t len,
                    uint32_t timeout_ms, reply *r)
{
    uint8_t seq = l->seq;
    unsigned unanswered = 0, asked = 0;
    bool damaged = false; /* why the last send is repeated */
    for (unsigned attempt = 0; unanswered < ATTEMPTS && asked <= RESENDS; attempt++) {
        if (attempt > 0) {
            l->resent++;
            if (l->o->verbose) {
                fprintf(stderr, "stm32isp load: frame %u sent again (%s)\n", seq,
                        damaged ? "the master got it damaged" : "no answer in time");
            }
        }
        if (send_frame(l, type, seq, payload, len) != 0) {
            return -1;
        }
        uint32_t start = now_ms(l);
        for (;;) {
            uint32_t spent = now_ms(l) - start;
            int got = spent < timeout_ms ? read_reply(l, timeout_ms - spent, r) : 0;
            if (got < 0) {
                return -1;
            }
            if (got == 0) {
                unanswered++;
                damaged = false;
                break; /* send it again */
            }
            if (r->result == RESULT_RESEND && r->seq == seq) {
                asked++;
                damaged = true;
                break;
            }
            if (r->seq == seq && r->result != RESULT_RESEND) {
                l->seq++;
                return 0;
            }
        }
    }
    return asked > RESENDS ? -3 : -2;
}

/* Puts the master's console into its load mode: clears anything typed on
 * it, sends "load" and waits for "load: ready". Returns 0, -1 on a port
 * error, -2 when the master does not answer. */
static int enter_load_mode(console_link *l)
{
    uint8_t erase[LINE_ERASES];
    memset(erase, 0x7F, sizeof erase);
    if (send_raw(l, erase, sizeof erase) != 0 || send_raw(l, "load\r", 5) != 0) {
        return -1;
    }
    static const char ready[] = "load: ready";
    size_t matched = 0;
    uint32_t start = now_ms(l);
    for (;;) {
        uint32_t spent = now_ms(l) - start;
        if (spent >= READY_MS) {
            return -2;
        }
        uint8_t c;
        int n = pc_serial_ops.read(&l->serial, &c, 1, READY_MS - spent);
        if (n < 0) {
            return -1;
        }
        if (n == 1) {
            matched = c == (uint8_t)ready[matched] ? matched + 1 : c == (uint8_t)ready[0];
            if (matched == sizeof ready - 1) {
                return 0;
            }
        }
    }
}

/* The part a geometry describes, by name, for messages. */
static const char *part_name(const uint8_t *g, char *buf, size_t size)
{
    const stm32isp_eeprom_part *p;
    for (size_t i = 0; (p = stm32isp_eeprom_part_at(i)) != NULL; i++) {
        if (p->size == get_u32(g) && p->page_size == (g[4] | g[5] << 8) &&
            p->address_bytes == g[6] && p->block_bits == g[7]) {
            snprintf(buf, size, "a %s (%" PRIu32 " bytes)", p->name, p->size);
            return buf;
        }
    }
    snprintf(buf, size, "an EEPROM of %" PRIu32 " bytes", get_u32(g));
    return buf;
}

static const char *why_text(const reply *r)
{
    switch (r->why) {
    case WHY_SEQUENCE:
        return "a frame out of order";
    case WHY_STATE:
        return "a frame it did not expect";
    case WHY_ABORTED:
        return "the transfer was aborted";
    default:
        return "a reason this stm32isp does not know";
    }
}

/* Reports a refusal and returns the exit code. `begun`: the master had
 * cleared its image already. */
static int refused(const load_options *o, const reply *r, uint32_t length, bool begun)
{
    const char *state = begun ? "its EEPROM now holds no image (cleared before writing): load "
                                "again"
                              : "its EEPROM was not changed";
    char name[64];
    const char *cmd = "load";
    if (r->why == WHY_SIZE && r->extra_len >= GEOMETRY) {
        cli_error(cmd, "a larger EEPROM on the master, or a smaller image",
                  "%s is %" PRIu32 " bytes; the master has %s; %s", o->file, length,
                  part_name(r->extra, name, sizeof name), state);
        return EXIT_IMAGE_REFUSED;
    }
    if (r->why == WHY_PART && r->extra_len >= GEOMETRY) {
        cli_error(cmd, "give the master's EEPROM type, or leave --eeprom-type out",
                  "the master has %s, not a %s; %s", part_name(r->extra, name, sizeof name),
                  o->eeprom_type, state);
        return EXIT_IMAGE_REFUSED;
    }
    if (r->why == WHY_EEPROM || r->why == WHY_CHECK) {
        stm32isp_err err = (stm32isp_err)r->err;
        cli_error(cmd, stm32isp_hint(err), "the master %s: %s; %s",
                  r->why == WHY_EEPROM ? "could not write its EEPROM"
                                       : "found the image invalid as stored",
                  stm32isp_strerror(err), state);
        return EXIT_FAILURE_GENERIC;
    }
    cli_error(cmd, "run load again; if it persists, update the master's firmware",
              "the master refused %s; %s", why_text(r), state);
    return EXIT_FAILURE_GENERIC;
}

static void progress(const load_options *o, uint32_t done, uint32_t total)
{
    if (o->quiet || !isatty(STDERR_FILENO)) {
        return;
    }
    int filled = (int)((uint64_t)done * 40u / total);
    fprintf(stderr, "\r  load    [%.*s%.*s] %3d%%", filled,
            "########################################", 40 - filled,
            "........................................", (int)((uint64_t)done * 100u / total));
    if (done == total) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

/* Sends the container; returns the exit code. */
static int transfer(console_link *l, const uint8_t *data, uint32_t length,
                    const stm32isp_eeprom_part *expected)
{
    const load_options *o = l->o;
    const char *cmd = "load";
    reply r;
    uint8_t payload[4 + DATA_MAX];
    put_u32(payload, length);
    size_t begin_len = 4;
    if (expected != NULL) {
        put_u32(payload + 4, expected->size);
        payload[8] = (uint8_t)expected->page_size;
        payload[9] = (uint8_t)(expected->page_size >> 8);
        payload[10] = expected->address_bytes;
        payload[11] = expected->block_bits;
        begin_len += GEOMETRY;
    }
    int rc = exchange(l, T_BEGIN, payload, begin_len, REPLY_MS, &r);
    if (rc != 0) {
        cli_error(cmd, "check the port and that the master runs its firmware",
                  rc == -1 ? "%s failed while sending the first frame"
                           : "the master on %s did not answer the first frame",
                  o->port);
        return EXIT_IO;
    }
    if (r.result != RESULT_OK) {
        return refused(o, &r, length, false);
    }
    if (!o->quiet) {
        char name[64];
        printf("master: %s; its old image is cleared first\n",
               r.extra_len >= GEOMETRY ? part_name(r.extra, name, sizeof name) : "?");
        printf("sending %" PRIu32 " bytes in %" PRIu32 " frames\n", length,
               (length + DATA_MAX - 1) / DATA_MAX);
        fflush(stdout);
    }
    for (uint32_t at = 0; at < length;) {
        uint32_t n = length - at < DATA_MAX ? length - at : DATA_MAX;
        put_u32(payload, at);
        memcpy(payload + 4, data + at, n);
        rc = exchange(l, T_DATA, payload, 4 + n, REPLY_MS, &r);
        if (rc != 0) {
            (void)send_frame(l, T_ABORT, l->seq, NULL, 0);
            cli_error(cmd, "check the cable; then run load again",
                      rc == -3 ? "the master got every copy of a frame damaged after %" PRIu32
                                 " of %" PRIu32 " bytes; its EEPROM now holds no image (cleared "
                                 "before writing)"
                               : "the master stopped answering after %" PRIu32 " of %" PRIu32
                                 " bytes; its EEPROM now holds no image (cleared before writing)",
                      at, length);
            return EXIT_IO;
        }
        if (r.result != RESULT_OK) {
            return refused(o, &r, length, true);
        }
        at += n;
        progress(o, at, length);
    }
    /* The master reads the whole container back, twice: allow for the
     * largest part at 400 kHz. */
    uint32_t end_ms = 10000u + length / 10u;
    rc = exchange(l, T_END, NULL, 0, end_ms, &r);
    if (rc != 0) {
        cli_error(cmd, "type 'info' on the master's console to see what its EEPROM holds",
                  "the master did not report its check of the stored image");
        return EXIT_IO;
    }
    if (r.result != RESULT_OK) {
        return refused(o, &r, length, true);
    }
    if (!o->quiet) {
        printf("loaded: the master read the image back from its EEPROM and checked it "
               "(CRC-32 0x%08" PRIx32 ", %" PRIu32 " frames sent again)\n",
               r.extra_len >= 4 ? get_u32(r.extra) : 0, l->resent);
    }
    return EXIT_OK;
}

static stm32isp_err memory_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    memcpy(buf, (const uint8_t *)ctx + offset, len);
    return STM32ISP_OK;
}

enum { L_PORT, L_BAUD, L_EEPROM_TYPE, L_QUIET, L_VERBOSE };

static const cli_option load_cli_options[] = {
    [L_PORT] = {"port", 'p', "PATH",
                "the master's console (a USB serial adapter on its USART2),\n8N1; required"},
    [L_BAUD] = {"baud", 'b', "N", "the console's rate (default 115200)"},
    [L_EEPROM_TYPE] = {"eeprom-type", 0, "TYPE",
                       "refuse unless the master's EEPROM is this part\n"
                       "(24c01 ... 24c512, 24m01, 24m02)"},
    [L_QUIET] = {"quiet", 'q', NULL, "errors only"},
    [L_VERBOSE] = {"verbose", 'v', NULL, "report every frame sent again"},
    {NULL, 0, NULL, NULL},
};

static int load_take(void *ctx, int option, const char *value)
{
    load_options *o = ctx;
    uint32_t v;
    switch (option) {
    case L_PORT:
        o->port = value;
        return EXIT_OK;
    case L_BAUD:
        if (!cli_parse_u32(value, &v) || !pc_serial_rate_supported(v)) {
            cli_error("load", "the master's console runs at 115200", "bad --baud '%s'", value);
            return EXIT_USAGE;
        }
        o->baud = v;
        return EXIT_OK;
    case L_EEPROM_TYPE:
        o->eeprom_type = value;
        return EXIT_OK;
    case L_QUIET:
        o->quiet = true;
        return EXIT_OK;
    case L_VERBOSE:
        o->verbose = true;
        return EXIT_OK;
    default:
        return EXIT_USAGE;
    }
}

static int load_run(const cli_command *cmd, int argc, char **argv)
{
    load_options o = {.baud = 115200};
    int first;
    int code = cli_parse(cmd, argc, argv, load_take, &o, &first);
    if (code != EXIT_OK) {
        return code == CLI_HELP ? EXIT_OK : code;
    }
    if (first != argc - 1) {
        cli_error("load", "usage: stm32isp load --port PATH FILE", "give exactly one image file");
        return EXIT_USAGE;
    }
    o.file = argv[first];
    if (o.port == NULL) {
        cli_error("load", "the master's console, e.g. --port /dev/ttyUSB0", "no --port given");
        return EXIT_USAGE;
    }
    const stm32isp_eeprom_part *expected = NULL;
    if (o.eeprom_type != NULL && (expected = stm32isp_eeprom_part_find(o.eeprom_type)) == NULL) {
        cli_error("load",
                  "one of 24c01 24c02 24c04 24c08 24c16 24c32 24c64 24c128 24c256 24c512 "
                  "24m01 24m02",
                  "unknown --eeprom-type '%s'", o.eeprom_type);
        return EXIT_USAGE;
    }

    /* The file is checked with the master's own code before the port opens. */
    uint8_t *data;
    size_t size;
    if (fileio_read_all(o.file, &data, &size) != 0) {
        cli_error("load", NULL, "cannot read %s: %s", o.file, strerror(errno));
        return EXIT_IO;
    }
    stm32isp_container ct;
    uint8_t scratch[256];
    stm32isp_container_source src = {
        .read = memory_read, .ctx = data, .size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size};
    stm32isp_err err = stm32isp_job_check_image(&ct, &src, scratch, sizeof scratch);
    if (err != STM32ISP_OK) {
        cli_error("load", "make one with 'stm32isp pack'; nothing was sent",
                  "%s is not a valid image container: %s", o.file, stm32isp_strerror(err));
        free(data);
        return EXIT_IMAGE_REFUSED;
    }
    uint32_t length = (uint32_t)ct.header_length + ct.payload_length;
    if (length < MIN_LENGTH) {
        cli_error("load", "pack an image with at least one byte; nothing was sent",
                  "%s holds an empty image", o.file);
        free(data);
        return EXIT_IMAGE_REFUSED;
    }
    if (expected != NULL && length > expected->size) {
        cli_error("load", "a larger EEPROM on the master, or a smaller image; nothing was sent",
                  "the container is %" PRIu32 " bytes; a %s holds %" PRIu32, length, expected->name,
                  expected->size);
        free(data);
        return EXIT_IMAGE_REFUSED;
    }
    if (!o.quiet) {
        printf("%s: \"%s\" %s, %" PRIu32 " bytes (payload %" PRIu32 ", CRC-32 0x%08" PRIx32 ")%s\n",
               o.file, ct.name, ct.version, length, ct.payload_length, ct.payload_crc,
               size > length ? "; the rest of the file (an EEPROM dump) is not sent" : "");
    }

    console_link l;
    memset(&l, 0, sizeof l);
    l.o = &o;
    char why[256];
    if (pc_serial_open(&l.serial, o.port, o.baud, why, sizeof why) != 0) {
        cli_error("load", "the master's console port (its USART2 on a USB serial adapter)", "%s",
                  why);
        free(data);
        return EXIT_IO;
    }
    if (pc_serial_set_8n1(&l.serial) != 0) {
        cli_error("load", NULL, "cannot set %s to 8N1: %s", o.port, strerror(errno));
        code = EXIT_IO;
    } else {
        int rc = enter_load_mode(&l);
        if (rc != 0) {
            cli_error("load",
                      "check the port and that the master runs its firmware; it does not "
                      "listen while it programs a target",
                      rc == -1 ? "%s failed" : "the master on %s did not answer 'load'", o.port);
            code = EXIT_IO;
        } else {
            code = transfer(&l, data, length, expected);
        }
    }
    pc_serial_close(&l.serial);
    free(data);
    return code;
}

const cli_command cmd_load = {
    .name = "load",
    .summary = "write an image into the master board's EEPROM through its console",
    .usage = "load --port PATH FILE [--eeprom-type TYPE] [options]",
    .about = "Writes the image container FILE (made by 'stm32isp pack', or an EEPROM dump\n"
             "made by 'stm32isp pack --eeprom': its container part is sent) into the\n"
             "master board's EEPROM through the master's console, which then reads it\n"
             "back and checks it. A transfer that breaks leaves the EEPROM with no image,\n"
             "never half of one.",
    .options = load_cli_options,
    .target = false,
    .run = load_run,
};

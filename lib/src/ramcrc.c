/*
 * The host side of the RAM CRC program (ramcrc.h, docs/ram-crc.md): lay it
 * out in the target's free RAM, load it, start it, read and check its reply,
 * and end its run. Runs on the master MCU and on a PC alike.
 */
#include "stm32isp/ramcrc.h"

#include "stm32isp/container.h"

#include <string.h>

#define USART1_F1 0x40013800u
/* The F1 bootloader's USART1 pins: TX PA9, RX PA10 (AN2606). */
#define PINS_F1 STM32ISP_RAMCRC_PINS(0u, 9u, 0u, 10u)
/* The margin on the program's cycle count at its clock (the HSI, trimmed
 * to a few per cent): the timeout must hold on any F1. */
#define CYCLE_MARGIN 2u
/* After the program's reset: the bootloader's start (about 1.5 ms), with
 * margin. */
#define RESTART_MS 50u
/* A program that does not answer resets itself STM32ISP_RAMCRC_IDLE_RESET_MS
 * after it last sent anything, counted on its HSI: allow for the HSI
 * running up to 10 % slow, then the bootloader's start. */
#define SELF_RESET_WAIT_MS                                                                         \
    (STM32ISP_RAMCRC_IDLE_RESET_MS + STM32ISP_RAMCRC_IDLE_RESET_MS / 10u + RESTART_MS)
#define SELF_RESET_WAITS 2u
/* Bytes that may precede a reply's start byte (line noise) before the
 * reply is given up as garbage. */
#define MAX_SKIPPED 64u
/* Replies read before a disagreement is given up as line trouble. */
#define MAX_REPLIES 3u

/* Where the run lives in RAM: stack below the parameters, code above. */
typedef struct layout {
    uint32_t stack_low;
    uint32_t params;
    uint32_t param_size;
    uint32_t code;
    uint32_t end;
} layout;

/* What the parameter block says; its words are produced on demand. */
typedef struct params {
    const stm32isp_segment *ranges;
    uint32_t count;
    uint32_t nonce;
    uint32_t usart;
    uint32_t vector_table;
    uint32_t baud;
    uint32_t pins;
    uint32_t check;
} params;

/* ------------------------------------------------------------------------- */
/* Planning                                                                   */

/* The USART the family's bootloader talks on, 0 when the program does not
 * run on the family (only Cortex-M3 parts with the F1 USART so far). */
static uint32_t usart_of(const stm32isp_device *d)
{
    const char *f = stm32isp_device_family(d);
    return f != NULL && f[0] == 'F' && f[1] == '1' && f[2] == '\0' ? USART1_F1 : 0;
}

static uint32_t round_up8(uint32_t v)
{
    return (v + 7u) & ~7u;
}

static bool plan(const stm32isp_client *c, const stm32isp_ramcrc_program *prog, size_t count,
                 layout *l)
{
    const stm32isp_device *d = c->target.device;
    if (prog->stack_bytes > STM32ISP_RAMCRC_STACK_SIZE || d->ram_end <= d->ram_start) {
        return false;
    }
    l->stack_low = round_up8(d->ram_start);
    l->params = l->stack_low + STM32ISP_RAMCRC_STACK_SIZE;
    l->param_size = STM32ISP_RAMCRC_PARAM_SIZE((uint32_t)count);
    l->code = round_up8(l->params + l->param_size);
    l->end = l->code + prog->size;
    return l->end <= d->ram_end && l->end > l->code;
}

stm32isp_err stm32isp_ramcrc_check(const stm32isp_client *c, const stm32isp_ramcrc_program *prog,
                                   size_t range_count)
{
    if (prog == NULL || prog->code == NULL || prog->size < STM32ISP_RAMCRC_HEADER_SIZE ||
        range_count == 0 || range_count > STM32ISP_RAMCRC_MAX_RANGES) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    if (!c->connected || c->target.device == NULL) {
        return STM32ISP_ERR_NOT_CONNECTED;
    }
    if (c->target.readout_protected) {
        return STM32ISP_ERR_READ_PROTECTED;
    }
    layout l = {0};
    if (usart_of(c->target.device) == 0 || !plan(c, prog, range_count, &l)) {
        return STM32ISP_ERR_UNSUPPORTED;
    }
    return STM32ISP_OK;
}

/* ------------------------------------------------------------------------- */
/* The bytes loaded into RAM                                                  */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Word `k` of the parameter block, the check word excepted. */
static uint32_t param_word(const params *p, uint32_t k)
{
    switch (k) {
    case 0:
        return STM32ISP_RAMCRC_PARAM_MAGIC;
    case 1:
        return p->nonce;
    case STM32ISP_RAMCRC_WORD_USART:
        return p->usart;
    case STM32ISP_RAMCRC_WORD_VECTORS:
        return p->vector_table;
    case STM32ISP_RAMCRC_WORD_BAUD:
        return p->baud;
    case STM32ISP_RAMCRC_WORD_PINS:
        return p->pins;
    case STM32ISP_RAMCRC_WORD_REMAP:
        return 0; /* the F1 bootloader's USART1 is not remapped */
    case STM32ISP_RAMCRC_WORD_COUNT:
        return p->count;
    default:
        break;
    }
    uint32_t i = k - STM32ISP_RAMCRC_PARAM_WORDS;
    return (i & 1u) == 0 ? p->ranges[i / 2].address : p->ranges[i / 2].length;
}

static uint32_t param_check(const params *p)
{
    uint32_t crc = 0;
    uint32_t words = STM32ISP_RAMCRC_PARAM_WORDS + 2u * p->count;
    for (uint32_t k = 0; k < words; k++) {
        uint32_t w = param_word(p, k);
        uint8_t b[4] = {(uint8_t)w, (uint8_t)(w >> 8), (uint8_t)(w >> 16), (uint8_t)(w >> 24)};
        crc = stm32isp_crc32_ieee(crc, b, 4);
    }
    return crc;
}

/* Byte `offset` of what is written from l->params up: the parameter block,
 * padding, then the program with its first two words filled in. */
static uint8_t load_byte(const layout *l, const params *p, const stm32isp_ramcrc_program *prog,
                         uint32_t offset)
{
    if (offset < l->param_size) {
        uint32_t k = offset / 4;
        uint32_t w = k == l->param_size / 4 - 1 ? p->check : param_word(p, k);
        return (uint8_t)(w >> (8 * (offset % 4)));
    }
    if (offset < l->code - l->params) {
        return 0;
    }
    uint32_t at = offset - (l->code - l->params);
    if (at < STM32ISP_RAMCRC_OFFSET_SIGNATURE) {
        uint32_t w = at < STM32ISP_RAMCRC_OFFSET_ENTRY
                         ? l->params
                         : l->code + le32(prog->code + STM32ISP_RAMCRC_OFFSET_ENTRY);
        return (uint8_t)(w >> (8 * (at % 4)));
    }
    return prog->code[at];
}

static stm32isp_err load(stm32isp_client *c, const layout *l, const params *p,
                         const stm32isp_ramcrc_program *prog)
{
    const uint32_t total = l->end - l->params;
    const uint32_t room = (uint32_t)sizeof c->scratch; /* and what one Write Memory takes */
    for (uint32_t done = 0; done < total;) {
        uint32_t n = total - done;
        if (n > room) {
            n = room;
        }
        for (uint32_t i = 0; i < n; i++) {
            c->scratch[i] = load_byte(l, p, prog, done + i);
        }
        stm32isp_err err = STM32ISP_ERR_TIMEOUT;
        /* Writing RAM is idempotent and cannot fail but on the line (a NACK
         * is a damaged frame here): every failure is worth another try. */
        for (unsigned attempt = 0; attempt <= c->cfg.command_retries; attempt++) {
            if (attempt > 0) {
                c->stats.retries++;
                stm32isp_err rec = stm32isp_recover(c);
                if (rec != STM32ISP_OK) {
                    return rec;
                }
            }
            err = stm32isp_cmd_write(c, l->params + done, c->scratch, n);
            if (err == STM32ISP_OK || err == STM32ISP_ERR_PORT) {
                break;
            }
        }
        if (err != STM32ISP_OK) {
            return err;
        }
        done += n;
    }
    return STM32ISP_OK;
}

/* ------------------------------------------------------------------------- */
/* Talking to the program                                                     */

static stm32isp_err send_command(stm32isp_client *c, uint8_t command)
{
    uint8_t b[2] = {command, (uint8_t)~command};
    c->stats.commands++;
    if (c->ops->write(c->port, b, 2) != 0) {
        return STM32ISP_ERR_PORT;
    }
    c->stats.bytes_sent += 2;
    return STM32ISP_OK;
}

/* One byte within what is left of `timeout_ms` since `start`. */
static stm32isp_err recv_byte(stm32isp_client *c, uint8_t *b, uint32_t start, uint32_t timeout_ms)
{
    for (;;) {
        uint32_t elapsed = c->ops->now_ms(c->port) - start;
        if (elapsed > timeout_ms) {
            return STM32ISP_ERR_TIMEOUT;
        }
        int n = c->ops->read(c->port, b, 1, timeout_ms - elapsed);
        if (n < 0) {
            return STM32ISP_ERR_PORT;
        }
        if (n > 0) {
            c->stats.bytes_received++;
            return STM32ISP_OK;
        }
        if (c->ops->now_ms(c->port) - start >= timeout_ms) {
            return STM32ISP_ERR_TIMEOUT;
        }
    }
}

/* A reply frame: the start byte (after at most MAX_SKIPPED others), 14 more
 * bytes, and a XOR of zero over all of them. */
static stm32isp_err read_reply(stm32isp_client *c, uint32_t timeout_ms,
                               uint8_t reply[STM32ISP_RAMCRC_REPLY_SIZE])
{
    uint32_t start = c->ops->now_ms(c->port);
    unsigned skipped = 0;
    stm32isp_err err;
    do {
        if ((err = recv_byte(c, &reply[0], start, timeout_ms)) != STM32ISP_OK) {
            return err;
        }
    } while (reply[0] != STM32ISP_RAMCRC_REPLY_START && ++skipped <= MAX_SKIPPED);
    if (reply[0] != STM32ISP_RAMCRC_REPLY_START) {
        return STM32ISP_ERR_BAD_REPLY;
    }
    uint8_t x = reply[0];
    for (uint32_t i = 1; i < STM32ISP_RAMCRC_REPLY_SIZE; i++) {
        if ((err = recv_byte(c, &reply[i], start, timeout_ms)) != STM32ISP_OK) {
            return err;
        }
        x ^= reply[i];
    }
    return x == 0 ? STM32ISP_OK : STM32ISP_ERR_BAD_REPLY;
}

/* The wait for a reply: the CRC at the program's clock with margin, the
 * reply's wire time and the client's usual margins. */
static uint32_t reply_timeout_ms(const stm32isp_client *c, uint32_t bytes)
{
    const uint32_t khz = STM32ISP_RAMCRC_CLOCK_HZ / 1000u;
    uint64_t cycles = STM32ISP_RAMCRC_SETUP_CYCLES +
                      (uint64_t)bytes * STM32ISP_RAMCRC_CYCLES_PER_BYTE * CYCLE_MARGIN;
    uint32_t work_ms = (uint32_t)((cycles + khz - 1) / khz);
    return stm32isp_reply_timeout_ms(c, STM32ISP_RAMCRC_REPLY_SIZE, work_ms);
}

stm32isp_err stm32isp_ramcrc_verify(stm32isp_client *c, const stm32isp_ramcrc_program *prog,
                                    const stm32isp_segment *ranges, size_t count,
                                    uint32_t expected_crc, uint32_t app_vector_table,
                                    stm32isp_ramcrc_report *report)
{
    stm32isp_ramcrc_report scratch_report;
    if (report == NULL) {
        report = &scratch_report;
    }
    memset(report, 0, sizeof *report);
    stm32isp_err err = stm32isp_ramcrc_check(c, prog, count);
    if (err != STM32ISP_OK) {
        return err;
    }
    layout l = {0};
    (void)plan(c, prog, count, &l);
    params p = {
        .ranges = ranges,
        .count = (uint32_t)count,
        /* Differs from run to run, so that a reply from an earlier run
         * (stale bytes, a program left running) cannot pass for this one. */
        .nonce = c->ops->now_ms(c->port) * 2654435761u ^ c->stats.bytes_sent ^ expected_crc,
        .usart = usart_of(c->target.device),
        .vector_table =
            app_vector_table != 0 ? app_vector_table : stm32isp_device_flash_base(c->target.device),
        /* The program answers at the rate the host talks: what the
         * bootloader measured. */
        .baud = c->cfg.baud != 0 ? c->cfg.baud : 115200u,
        .pins = PINS_F1,
    };
    p.check = param_check(&p);
    uint32_t total = 0;
    for (size_t i = 0; i < count; i++) {
        total += ranges[i].length;
    }
    report->load_address = l.params;
    report->ram_used = l.end - l.stack_low;
    if (c->progress != NULL) {
        c->progress(c->progress_ctx, STM32ISP_PHASE_VERIFY, 0, total);
    }

    if ((err = load(c, &l, &p, prog)) != STM32ISP_OK ||
        (err = stm32isp_cmd_go(c, l.code)) != STM32ISP_OK) {
        return err;
    }
    /* Believe a match at once; a mismatch only when the program says the
     * same twice, as line noise that slipped past the XOR could fake one. */
    uint32_t mismatch = 0;
    bool have_mismatch = false;
    for (unsigned attempt = 0; attempt < MAX_REPLIES; attempt++) {
        if (attempt > 0 && (err = send_command(c, STM32ISP_RAMCRC_CMD_RESEND)) != STM32ISP_OK) {
            return err;
        }
        uint8_t reply[STM32ISP_RAMCRC_REPLY_SIZE];
        err = read_reply(c, reply_timeout_ms(c, total), reply);
        if (err == STM32ISP_ERR_BAD_REPLY) {
            continue; /* a damaged frame: ask again */
        }
        if (err != STM32ISP_OK) {
            return err;
        }
        report->replies++;
        /* Another run's reply, or parameters the program read otherwise
         * than they were written: nothing it says applies to this image. */
        if (reply[1] != STM32ISP_RAMCRC_STATUS_OK || le32(reply + 10) != p.check) {
            return STM32ISP_ERR_BAD_REPLY;
        }
        report->crc = le32(reply + 2);
        report->bytes = le32(reply + 6);
        if (report->bytes != total) {
            return STM32ISP_ERR_BAD_REPLY;
        }
        if (report->crc == expected_crc) {
            if (c->progress != NULL) {
                c->progress(c->progress_ctx, STM32ISP_PHASE_VERIFY, total, total);
            }
            return STM32ISP_OK;
        }
        if (have_mismatch && mismatch == report->crc) {
            return STM32ISP_ERR_VERIFY;
        }
        have_mismatch = true;
        mismatch = report->crc;
    }
    return STM32ISP_ERR_BAD_REPLY;
}

stm32isp_err stm32isp_ramcrc_leave(stm32isp_client *c, stm32isp_ramcrc_next next)
{
    bool pins = stm32isp_has_reset_lines(c);
    if (next == STM32ISP_RAMCRC_START_APP) {
        if (pins) {
            return stm32isp_start_application(c, 0);
        }
        if (c->progress != NULL) {
            c->progress(c->progress_ctx, STM32ISP_PHASE_START, 0, 1);
        }
        uint8_t ack = 0;
        stm32isp_err err = send_command(c, STM32ISP_RAMCRC_CMD_START);
        if (err == STM32ISP_OK) {
            err = recv_byte(c, &ack, c->ops->now_ms(c->port), stm32isp_reply_timeout_ms(c, 1, 0));
        }
        if (err == STM32ISP_OK && ack != STM32ISP_RAMCRC_ACK) {
            err = STM32ISP_ERR_BAD_REPLY;
        }
        if (err == STM32ISP_OK && c->progress != NULL) {
            c->progress(c->progress_ctx, STM32ISP_PHASE_START, 1, 1);
        }
        c->connected = false;
        return err;
    }
    if (!pins) {
        /*
         * Only 0x7F bytes, the recovery's: whatever runs now, they bring
         * the bootloader back. The program resets at the first it reads;
         * a bootloader waiting inside a frame (a load or Go that failed)
         * completes it; a bootloader that started again (the program
         * faulted, and the F103's ROM resets on a HardFault) takes it as
         * its autobaud byte. Any other byte would leave that last one deaf
         * until the next reset.
         */
        stm32isp_err err = stm32isp_recover(c);
        if (err == STM32ISP_ERR_PORT) {
            return err;
        }
        if (err != STM32ISP_OK) {
            /* Nothing answers at all: a program that cannot hear us (its
             * USART at another rate, say). Ours resets itself once it has
             * heard no command for a while; keep quiet until then, twice
             * at most (noise that happened to form a command restarts its
             * count). */
            if (c->ops->log != NULL) {
                c->ops->log(c->port, STM32ISP_LOG_WARN,
                            "the RAM program does not answer: waiting for it to reset the target");
            }
            for (unsigned wait = 0; wait < SELF_RESET_WAITS; wait++) {
                c->ops->delay_ms(c->port, SELF_RESET_WAIT_MS);
                err = stm32isp_connect(c);
                if (err != STM32ISP_ERR_NO_SYNC) {
                    return err;
                }
            }
            return err;
        }
    }
    return stm32isp_connect(c);
}

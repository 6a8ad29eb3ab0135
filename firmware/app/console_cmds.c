#include "console_cmds.h"

#include "actions.h"
#include "console.h"
#include "out.h"
#include "systick.h"

#include "stm32isp/client.h"

#include <inttypes.h>

/* A transfer with no complete frame for this long is given up: the PC is
 * gone (its own timeouts are much shorter). */
#define LOAD_IDLE_MS 10000u
/* A frame whose bytes stop for this long is dropped; the PC sends it again
 * when its answer does not come. USB serial adapters may hold bytes back
 * for some 16 ms. */
#define LOAD_GAP_MS 200u
/* After the transfer, what still arrives within this silence is dropped
 * rather than read as commands. */
#define LOAD_DRAIN_MS 100u

/* load_reason, and one more: nothing came. */
#define LOAD_R_TIMEOUT 9u

static const char *load_reason_text(unsigned reason)
{
    static const char *const texts[] = {
        [LOAD_R_NONE] = "ok",
        [LOAD_R_DAMAGED] = "damaged frames",
        [LOAD_R_SEQUENCE] = "frame out of order",
        [LOAD_R_STATE] = "unexpected frame",
        [LOAD_R_SIZE] = "image too large for the EEPROM",
        [LOAD_R_PART] = "another EEPROM type expected",
        [LOAD_R_EEPROM] = "EEPROM write failed",
        [LOAD_R_CHECK] = "image as stored is not valid",
        [LOAD_R_ABORTED] = "aborted by the PC",
        [LOAD_R_TIMEOUT] = "no frame for 10 s",
    };
    return reason < sizeof texts / sizeof texts[0] ? texts[reason] : "?";
}

static void cmd_log(const app *a)
{
    out("log: %" PRIu32 " run(s) since reset\n", a->log.count);
    const run_entry *e;
    for (size_t i = 0; (e = runlog_at(&a->log, i)) != NULL; i++) {
        /* A load's outcome is the protocol's: its phase field holds it. */
        bool load = e->kind == RUN_LOAD;
        bool differs = e->kind == RUN_VERIFY && e->status == STM32ISP_ERR_VERIFY;
        bool ok = load ? e->phase == LOAD_R_NONE : e->status == STM32ISP_OK;
        bool where = !ok && !load && !differs;
        out("  #%" PRIu32 " at %" PRIu32 " s: %s %s%s%s", e->number, e->at_ms / 1000u,
            run_kind_name((run_kind)e->kind),
            ok        ? "ok"
            : load    ? load_reason_text(e->phase)
            : differs ? "differs"
                      : stm32isp_err_name((stm32isp_err)e->status),
            where ? " in " : "", where ? stm32isp_phase_name((stm32isp_phase)e->phase) : "");
        if (e->pid != 0) {
            out(", PID 0x%03X", e->pid);
        }
        out(", %" PRIu32 " bytes, %" PRIu32 " ms\n", e->bytes, e->ms);
    }
}

/* Feeds received bytes to the parser and answers every frame. */
static void load_bytes(app *a, const uint8_t *data, size_t len, uint32_t *last_frame)
{
    for (;;) {
        size_t used;
        frame f;
        frame_status st = frame_parse(&a->parser, data, len, &used, &f);
        data += used;
        len -= used;
        if (st == FRAME_MORE) {
            return; /* every byte taken */
        }
        *last_frame = systick_ms();
        if (st == FRAME_DAMAGED) {
            /* The PC sends the whole frame again; what is held is the damaged
             * one's, and a start byte inside it would only begin a false frame. */
            frame_parser_reset(&a->parser);
        }
        size_t n = loader_handle(&a->loader, st, &f);
        if (n > 0) {
            console_write_bytes(a->loader.reply, n);
        }
        if (a->loader.over) {
            return;
        }
    }
}

/* The console's binary mode for `stm32isp load` (docs/firmware.md). */
static void cmd_load(app *a)
{
    out("load: ready, %" PRIu32 " bytes (%s)\n", a->eeprom.part->size, a->eeprom.part->name);
    led_show(&a->led, LED_BUSY, 0, systick_ms());
    loader *l = &a->loader;
    loader_init(l, &a->eeprom, &a->job.container, a->job.buf, sizeof a->job.buf);
    frame_parser_reset(&a->parser);
    uint32_t t0 = systick_ms();
    uint32_t last_byte = t0, last_frame = t0;
    unsigned reason = LOAD_R_TIMEOUT;
    for (;;) {
        uint8_t buf[32];
        size_t n = console_read(buf, sizeof buf, 20);
        if (n > 0) {
            last_byte = systick_ms();
            load_bytes(a, buf, n, &last_frame);
        }
        /* Read after the frames were handled, never before: a time taken
         * earlier than last_frame would make `now - last_frame` wrap round
         * to a huge idle time and end the transfer at once (it did, when a
         * tick fell between the two reads). */
        uint32_t now = systick_ms();
        if (l->over) {
            reason = l->reason;
            break;
        }
        if (a->parser.have > 0 && now - last_byte >= LOAD_GAP_MS) {
            frame_parser_reset(&a->parser);
        }
        if (now - last_frame >= LOAD_IDLE_MS) {
            break;
        }
    }
    /* Bounded too: a sender that never stops gets the console back after
     * a second, reading its bytes as text. */
    uint8_t junk[16];
    uint32_t drain_start = systick_ms();
    while (systick_ms() - drain_start < 10u * LOAD_DRAIN_MS &&
           console_read(junk, sizeof junk, LOAD_DRAIN_MS) > 0) {
    }

    stm32isp_err err = l->err;
    if (reason == LOAD_R_NONE) {
        out("load: ok: \"%s\"%s%s, %" PRIu32 " bytes, checked in the EEPROM\n", l->ct->name,
            l->ct->version[0] != '\0' ? " " : "", l->ct->version, l->total);
    } else {
        out("load: failed: %s; %s\n", load_reason_text(reason),
            l->begun ? "the EEPROM holds no image now: load again" : "the EEPROM is unchanged");
        if (err != STM32ISP_OK) {
            print_error(err);
        } else {
            err = STM32ISP_ERR_IMAGE_SOURCE; /* for the LED: no image came */
        }
    }
    uint32_t now = systick_ms();
    run_entry e = {
        .at_ms = now,
        .bytes = l->received,
        .ms = now - t0,
        .kind = RUN_LOAD,
        .status = (uint8_t)err,
        .phase = (uint8_t)reason,
    };
    runlog_add(&a->log, &e);
    led_show_result(&a->led, reason == LOAD_R_NONE ? STM32ISP_OK : err, now);
}

/* Whether `text` starts with the word `word` (ended by a space or NUL). */
static bool word_is(const char *text, const char *word)
{
    while (*word != '\0' && *text == *word) {
        text++;
        word++;
    }
    return *word == '\0' && (*text == '\0' || *text == ' ');
}

/* In the order of the switch below. */
static const char *const commands[] = {"help",  "info", "probe", "flash", "verify",
                                       "erase", "log",  "load",  "reset"};

void console_cmds_run(app *a, const char *line)
{
    while (*line == ' ') {
        line++;
    }
    if (*line == '\0') {
        return;
    }
    size_t i = 0;
    while (i < sizeof commands / sizeof commands[0] && !word_is(line, commands[i])) {
        i++;
    }
    switch (i) {
    case 0:
        out("commands: info, probe, flash, verify, erase yes, log, load, reset "
            "(docs/firmware.md)\n");
        break;
    case 1:
        (void)action_info(a);
        break;
    case 2:
        (void)action_probe(a);
        break;
    case 3:
        (void)action_flash(a);
        break;
    case 4:
        (void)action_verify(a);
        break;
    case 5:
        if (word_is(line + 5 + (line[5] == ' '), "yes")) {
            (void)action_erase(a);
        } else {
            out("erase: type 'erase yes' to erase the target's whole flash\n");
        }
        break;
    case 6:
        cmd_log(a);
        break;
    case 7:
        cmd_load(a);
        break;
    case 8:
        out("reset\n");
        board_reset();
    default:
        out("unknown command; type help\n");
        break;
    }
}

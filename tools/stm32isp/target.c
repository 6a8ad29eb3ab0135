/*
 * Connection options and sessions for the target commands (target.h).
 */
#include "target.h"

#include "stm32isp/devices.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- Options ------------------------------------------------------------ */

enum {
    T_PORT,
    T_BAUD,
    T_RESET_SEQ,
    T_DEVICE,
    T_RETRIES,
    T_JSON,
    T_QUIET,
    T_VERBOSE,
};

const cli_option target_options[] = {
    [T_PORT] = {"port", 'p', "PATH",
                "serial port (e.g. /dev/ttyUSB0) or pseudo-terminal; required"},
    [T_BAUD] = {"baud", 'b', "N",
                "baud rate, 8E1 (default 115200); a standard rate from 1200\nto 921600"},
    [T_RESET_SEQ] = {"reset-seq", 0, "SPEC",
                     "how BOOT0 and NRST are wired, and the reset's timing, e.g.\n"
                     "nrst=rts,boot0=!dtr or nrst=gpio:gpiochip0:17,\n"
                     "boot0=gpio:gpiochip0:27,pulse=50,wait=100 (ms NRST is held\n"
                     "low, ms from its release to the first byte; see\n"
                     "docs/serial-and-reset.md). Without it the target must\n"
                     "already be in its bootloader"},
    [T_DEVICE] = {"device", 0, "PID", "treat the target as this known PID (clones)"},
    [T_RETRIES] = {"retries", 0, "N",
                   "send a failed block read or write again up to N times\n(1 to 20, default 3)"},
    [T_JSON] = {"json", 0, NULL, "print one JSON object with the result on stdout"},
    [T_QUIET] = {"quiet", 'q', NULL, "no progress and no summary: errors only"},
    [T_VERBOSE] = {"verbose", 'v', NULL, "say what the tool and the library do"},
    {NULL, 0, NULL, NULL},
};

int target_take(const char *cmd, target_opts *t, int option, const char *value)
{
    uint32_t v;
    switch (option - CLI_TARGET_OPTION) {
    case T_PORT:
        t->port = value;
        return EXIT_OK;
    case T_BAUD:
        if (!cli_parse_u32(value, &v) || !pc_serial_rate_supported(v)) {
            cli_error(cmd, "one of " PC_SERIAL_RATES, "--baud %s is not a rate the port takes",
                      value);
            return EXIT_USAGE;
        }
        t->baud = v;
        return EXIT_OK;
    case T_RESET_SEQ:
        t->reset_seq = value;
        return EXIT_OK;
    case T_DEVICE:
        if (!cli_parse_u32(value, &v) || v > 0xFFFF ||
            (t->device = stm32isp_device_by_pid((uint16_t)v)) == NULL) {
            cli_error(cmd, "docs/devices.md lists the known PIDs, e.g. --device 0x410",
                      "--device %s is not a known PID", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case T_RETRIES:
        if (!cli_parse_u32(value, &v) || v < 1 || v > 20) {
            cli_error(cmd, "from 1 to 20", "--retries %s is not a number of retries", value);
            return EXIT_USAGE;
        }
        t->retries = (uint8_t)v;
        return EXIT_OK;
    case T_JSON:
        t->json = true;
        return EXIT_OK;
    case T_QUIET:
        t->quiet = true;
        return EXIT_OK;
    case T_VERBOSE:
        t->verbose = true;
        return EXIT_OK;
    default:
        return EXIT_USAGE;
    }
}

int target_check(const char *cmd, const target_opts *t)
{
    if (t->port == NULL) {
        cli_error(cmd, "e.g. --port /dev/ttyUSB0", "no --port given");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

bool target_parse(const cli_command *cmd, int argc, char **argv, cli_take_fn take, void *ctx,
                  const target_opts *t, int *exit_code)
{
    int first;
    int code = cli_parse(cmd, argc, argv, take, ctx, &first);
    if (code == EXIT_OK && first < argc) {
        cli_error(cmd->name, NULL, "unexpected argument '%s'", argv[first]);
        code = EXIT_USAGE;
    }
    if (code == EXIT_OK) {
        code = target_check(cmd->name, t);
    }
    *exit_code = code == CLI_HELP ? EXIT_OK : code;
    return code == EXIT_OK;
}

bool target_parse_images(const cli_command *cmd, int argc, char **argv, cli_take_fn take, void *ctx,
                         const target_opts *t, const image_opts *images, image_set *set,
                         int *exit_code)
{
    int first;
    int code = cli_parse(cmd, argc, argv, take, ctx, &first);
    if (code == EXIT_OK && first >= argc) {
        char hint[80];
        snprintf(hint, sizeof hint, "usage: stm32isp %s FILE... --port PATH", cmd->name);
        cli_error(cmd->name, hint, "no image file given");
        code = EXIT_USAGE;
    }
    if (code == EXIT_OK) {
        code = target_check(cmd->name, t);
    }
    /* The files are read and checked before the port (whose modem lines
     * may reset the target) is opened. */
    if (code == EXIT_OK) {
        code = image_set_load(cmd->name, argv + first, (size_t)(argc - first), images, set);
        if (code != EXIT_OK) {
            image_set_free(set);
        }
    }
    *exit_code = code == CLI_HELP ? EXIT_OK : code;
    return code == EXIT_OK;
}

/* ---- Ctrl-C ------------------------------------------------------------- */

/* Set by the handler, read by the library before each command. A bool store
 * is a single byte write on every host this tool builds for. */
static volatile bool stop_flag;
static struct sigaction saved_int, saved_term;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = true;
}

bool session_stop_requested(void)
{
    return stop_flag;
}

/* The first Ctrl-C asks the library to stop at the next command boundary;
 * SA_RESETHAND gives a second one its default action, for a user who will
 * not wait for a long erase to end. A SIGINT the tool was started with
 * ignored (a background job of a script, nohup) stays ignored, as the
 * shell meant. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, NULL, &saved_int);
    if (saved_int.sa_handler != SIG_IGN) {
        sigaction(SIGINT, &sa, NULL);
    }
    sigaction(SIGTERM, &sa, &saved_term);
}

static void release_stop_signals(void)
{
    sigaction(SIGINT, &saved_int, NULL);
    sigaction(SIGTERM, &saved_term, NULL);
}

/* ---- Output ------------------------------------------------------------- */

bool session_human(const session *s)
{
    return !s->t->quiet && !s->t->json;
}

static void on_log(void *ctx, stm32isp_log_level level, const char *msg)
{
    session *s = ctx;
    if (s->t->verbose || level <= STM32ISP_LOG_WARN) {
        session_end_bar(s);
        fprintf(stderr, "stm32isp %s: %s\n", s->cmd, msg);
    }
}

void session_note(session *s, const char *fmt, ...)
{
    if (!s->t->verbose) {
        return;
    }
    session_end_bar(s);
    va_list ap;
    fprintf(stderr, "stm32isp %s: ", s->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* "  write   [####....] 42%" must fit one terminal line, or every redraw
 * wraps into a new one. */
static int bar_width_for_terminal(void)
{
    struct winsize ws;
    int columns = 80;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        columns = ws.ws_col;
    }
    int width = columns - 18; /* the text around the bar, and a spare column */
    if (width > 40) {
        width = 40;
    }
    return width < 10 ? 0 : width;
}

void session_end_bar(session *s)
{
    if (s->bar && s->last_percent >= 0) {
        fputc('\n', stderr);
        s->last_percent = -1;
    }
}

static const char *unit_name(stm32isp_phase phase)
{
    return phase == STM32ISP_PHASE_ERASE ? "erase units" : "bytes";
}

void session_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    session *s = ctx;
    bool new_phase = !s->any_phase || phase != s->phase;
    s->any_phase = true;
    s->phase = phase;
    if (phase == STM32ISP_PHASE_ERASE || phase == STM32ISP_PHASE_WRITE) {
        s->modified = true;
    }
    if (new_phase && s->t->verbose && phase != STM32ISP_PHASE_CONNECT) {
        if (total > 1) {
            session_note(s, "%s: %" PRIu32 " %s", stm32isp_phase_name(phase), total,
                         unit_name(phase));
        } else {
            session_note(s, "%s", stm32isp_phase_name(phase));
        }
    }
    if (!s->bar || total == 0 || phase == STM32ISP_PHASE_CONNECT || phase == STM32ISP_PHASE_START) {
        return;
    }
    int percent = (int)((uint64_t)done * 100u / total);
    if (!new_phase && percent == s->last_percent) {
        return;
    }
    if (new_phase) {
        session_end_bar(s);
    }
    s->last_percent = percent;
    if (s->bar_width == 0) {
        fprintf(stderr, "\r  %-7s %3d%%", stm32isp_phase_name(phase), percent);
    } else {
        char bar[41];
        int filled = percent * s->bar_width / 100;
        memset(bar, '#', (size_t)filled);
        memset(bar + filled, '.', (size_t)(s->bar_width - filled));
        bar[s->bar_width] = '\0';
        fprintf(stderr, "\r  %-7s [%s] %3d%%", stm32isp_phase_name(phase), bar, percent);
    }
    fflush(stderr);
}

/* ---- Sessions ----------------------------------------------------------- */

int session_open(session *s, const char *cmd, const target_opts *t)
{
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->t = t;
    s->last_percent = -1;
    s->bar = !t->quiet && !t->json && isatty(STDERR_FILENO);
    s->bar_width = s->bar ? bar_width_for_terminal() : 0;
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    stop_flag = false;
    catch_stop_signals();

    uint32_t baud = t->baud != 0 ? t->baud : 115200;
    char err[512];
    if (pc_serial_open(&s->serial, t->port, baud, err, sizeof err) != 0) {
        cli_error(cmd, NULL, "%s", err);
        return EXIT_IO;
    }
    s->serial_open = true;
    if (t->reset_seq != NULL &&
        pc_serial_set_reset_seq(&s->serial, t->reset_seq, err, sizeof err) != 0) {
        cli_error(cmd,
                  strstr(err, "pseudo-terminal") != NULL
                      ? "leave --reset-seq out: the simulator's target already sits in its "
                        "bootloader"
                      : "see docs/serial-and-reset.md",
                  "--reset-seq: %s", err);
        return EXIT_USAGE;
    }
    s->serial.log = on_log;
    s->serial.log_ctx = s;
    s->cfg = (stm32isp_config){
        .baud = t->baud,
        .command_retries = t->retries,
        .reset_pulse_ms = s->serial.reset_pulse_ms,
        .boot_wait_ms = s->serial.boot_wait_ms,
        .device_override = t->device,
    };
    const stm32isp_port_ops *ops =
        pc_serial_has_reset_lines(&s->serial) ? &pc_serial_ops : &pc_serial_ops_no_pins;
    stm32isp_client_init(&s->client, ops, &s->serial, &s->cfg);
    stm32isp_set_progress(&s->client, session_progress, s);
    stm32isp_set_stop_flag(&s->client, &stop_flag);
    session_note(s, "%s at %" PRIu32 " baud, %s", t->port, baud,
                 pc_serial_has_reset_lines(&s->serial)
                     ? "BOOT0 and NRST driven by the tool"
                     : "no reset lines: the target must already be in its bootloader");
    return EXIT_OK;
}

int session_connect(session *s)
{
    stm32isp_err err = stm32isp_connect(&s->client);
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "connecting");
    }
    const stm32isp_target_info *t = &s->client.target;
    session_note(s, "connected: %s (PID 0x%03x), bootloader v%u.%u, %" PRIu32 " KiB flash%s",
                 t->device->name, t->pid, (unsigned)(t->bootloader_version >> 4),
                 (unsigned)(t->bootloader_version & 0xF), t->flash_size / 1024,
                 t->readout_protected ? ", readout protected" : "");
    return EXIT_OK;
}

/* What a Ctrl-C left behind, by how far the library had got. */
static const char *state_after_stop(const session *s)
{
    if (!s->modified) {
        return "the target was not changed";
    }
    switch (s->phase) {
    case STM32ISP_PHASE_ERASE:
        return "the flash is partly erased: run the same command again";
    case STM32ISP_PHASE_WRITE:
        return "the flash is partly written: run the same command again";
    case STM32ISP_PHASE_VERIFY:
        return "the flash is written but not verified: run the same command again";
    default:
        return "the flash was changed and not checked: run the same command again";
    }
}

void session_record(session *s, stm32isp_err err, const char *during)
{
    session_end_bar(s);
    s->err = err;
    snprintf(s->during, sizeof s->during, "%s", during);
}

int session_fail(session *s, stm32isp_err err, const char *during)
{
    session_record(s, err, during);
    if (err == STM32ISP_ERR_CANCELLED) {
        cli_error(s->cmd, NULL, "stopped (Ctrl-C) while %s: %s", during, state_after_stop(s));
        return EXIT_INTERRUPTED;
    }
    const char *hint = stm32isp_hint(err);
    if (err == STM32ISP_ERR_READ_PROTECTED && strcmp(s->cmd, "unprotect") != 0) {
        hint = "readout protection is active: 'stm32isp unprotect --read' removes it and "
               "ERASES THE WHOLE FLASH";
    }
    cli_error(s->cmd, hint, "%s: %s", during, stm32isp_strerror(err));
    switch (err) {
    case STM32ISP_ERR_PORT:
    case STM32ISP_ERR_EEPROM_NACK:
    case STM32ISP_ERR_EEPROM_BUS:
    case STM32ISP_ERR_EEPROM_TIMEOUT:
        return EXIT_IO;
    case STM32ISP_ERR_IMAGE_TOO_LARGE:
    case STM32ISP_ERR_ADDRESS:
        return s->image_command ? EXIT_IMAGE_REFUSED : EXIT_FAILURE_GENERIC;
    case STM32ISP_ERR_NO_CONTAINER:
    case STM32ISP_ERR_CONTAINER_VERSION:
    case STM32ISP_ERR_CONTAINER_HEADER:
    case STM32ISP_ERR_CONTAINER_PAYLOAD:
    case STM32ISP_ERR_DEVICE_NOT_ALLOWED:
        return EXIT_IMAGE_REFUSED;
    case STM32ISP_ERR_READ_PROTECTED:
        return EXIT_PROTECTED;
    default:
        return EXIT_FAILURE_GENERIC;
    }
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void json_target(json *j, const stm32isp_target_info *t)
{
    json_object(j, "target");
    json_format(j, "pid", "0x%03x", t->pid);
    if (t->device != NULL) {
        json_string(j, "name", t->device->name);
        json_string(j, "family", stm32isp_device_family(t->device));
        json_hex32(j, "flash_base", stm32isp_device_flash_base(t->device));
        json_uint(j, "flash_size", t->flash_size);
        json_bool(j, "flash_size_from_register", t->flash_size_from_register);
    }
    json_format(j, "bootloader_version", "%u.%u", (unsigned)(t->bootloader_version >> 4),
                (unsigned)(t->bootloader_version & 0xF));
    json_bool(j, "readout_protected", t->readout_protected);
    if (t->uid_valid) {
        json_hex_bytes(j, "uid", t->uid, sizeof t->uid);
    }
    json_close_object(j);
}

int session_finish(session *s, int code, void (*extra)(json *, void *), void *extra_ctx)
{
    session_end_bar(s);
    if (s->t != NULL && s->t->json) {
        json j;
        json_begin(&j, stdout);
        json_string(&j, "command", s->cmd);
        json_bool(&j, "ok", code == EXIT_OK);
        json_int(&j, "exit_code", code);
        if (s->err != STM32ISP_OK) {
            json_string(&j, "error", stm32isp_err_name(s->err));
            json_string(&j, "message", stm32isp_strerror(s->err));
            json_string(&j, "hint", stm32isp_hint(s->err));
            json_string(&j, "during", s->during);
        }
        if (s->client.target.pid != 0) {
            json_target(&j, &s->client.target);
        }
        if (extra != NULL) {
            extra(&j, extra_ctx);
        }
        const stm32isp_link_stats *st = &s->client.stats;
        json_object(&j, "link");
        json_uint(&j, "bytes_sent", st->bytes_sent);
        json_uint(&j, "bytes_received", st->bytes_received);
        json_uint(&j, "commands", st->commands);
        json_uint(&j, "retries", st->retries);
        json_uint(&j, "resyncs", st->resyncs);
        json_uint(&j, "resets", st->resets);
        json_close_object(&j);
        json_fixed(&j, "seconds", seconds_since(&s->started), 3);
        json_end(&j);
    }
    if (s->serial_open) {
        pc_serial_close(&s->serial);
        s->serial_open = false;
    }
    release_stop_signals();
    return code;
}

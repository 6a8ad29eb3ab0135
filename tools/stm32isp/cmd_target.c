/*
 * The commands that talk to a real (or simulated) target through a serial
 * port: probe, flash, read, erase, go, protect, unprotect, and master (the
 * master board's flashing job, with its EEPROM modelled on the PC). They share one
 * option set and one session setup; each is a short function on top of the
 * client library, so that the PC does exactly what the master MCU does.
 */
#include "cli.h"
#include "fileio.h"
#include "imagefile.h"
#include "pc_serial.h"
#include "stm32isp/an3155.h"
#include "stm32isp/client.h"
#include "stm32isp/eeprom.h"
#include "stm32isp/job.h"
#include "stm32isp/program.h"
#include "stm32isp/ramcrc.h"

#include "eesim/eesim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* Options                                                                    */

enum {
    OPT_PORT = 'p',
    OPT_BAUD = 'b',
    OPT_QUIET = 'q',
    OPT_VERBOSE = 'v',
    OPT_OUTPUT = 'o',
    OPT_HELP = 'h',
    OPT_RESET_SEQ = 256,
    OPT_DEVICE,
    OPT_JSON,
    OPT_ADDRESS,
    OPT_LENGTH,
    OPT_FORMAT,
    OPT_NO_VERIFY,
    OPT_VERIFY,
    OPT_NO_START,
    OPT_ERASE,
    OPT_ALL,
    OPT_READ,
    OPT_WRITE,
    OPT_GO_ADDRESS,
    OPT_EEPROM,
    OPT_EEPROM_TYPE,
    OPT_EEPROM_ADDRESS,
    OPT_EEPROM_FAULTS,
};

/* flash --verify: how the flash is checked after writing. */
typedef enum verify_mode {
    VERIFY_DEFAULT, /* crc where the RAM CRC program runs, else what the bootloader offers */
    VERIFY_CRC,     /* the RAM CRC program, or a refusal before anything is erased */
    VERIFY_READ,    /* every byte read back */
    VERIFY_NONE,
} verify_mode;

typedef struct options {
    const char *cmd;
    const char *port;
    uint32_t baud;
    const char *reset_seq;
    const char *device_pid;
    bool quiet, verbose, json;
    /* per command */
    const char *file; /* flash: image; read: output */
    bool has_address, has_length;
    uint32_t address, length;
    image_format format;
    bool no_start;
    verify_mode verify;
    stm32isp_erase_mode erase;
    bool all, read_protection, write_protection;
    const char *write_sectors;
    bool has_go_address;
    uint32_t go_address;
    /* master */
    const char *eeprom_file, *eeprom_type, *eeprom_faults;
    uint32_t eeprom_address;
} options;

/* Accepts 64K / 1M suffixes for lengths. */
static bool parse_length(const char *text, uint32_t *out)
{
    char buf[32];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof buf) {
        return false;
    }
    memcpy(buf, text, n + 1);
    uint32_t scale = 1;
    if (buf[n - 1] == 'K' || buf[n - 1] == 'k') {
        scale = 1024;
        buf[n - 1] = '\0';
    } else if (buf[n - 1] == 'M' || buf[n - 1] == 'm') {
        scale = 1024 * 1024;
        buf[n - 1] = '\0';
    }
    uint32_t v;
    if (!cli_parse_u32(buf, &v) || (uint64_t)v * scale > 0xFFFFFFFFull) {
        return false;
    }
    *out = v * scale;
    return true;
}

static const char common_help[] =
    "  -p, --port PATH        serial port (e.g. /dev/ttyUSB0) or pseudo-terminal\n"
    "  -b, --baud N           baud rate (default 115200), 8E1\n"
    "      --reset-seq SPEC   BOOT0/NRST wiring, e.g. nrst=rts,boot0=!dtr or\n"
    "                         nrst=gpio:gpiochip0:17,boot0=gpio:gpiochip0:27\n"
    "                         (docs/serial-and-reset.md); without it the target must\n"
    "                         already be in its bootloader\n"
    "      --device PID       treat the target as this known PID (clones)\n"
    "      --json             print one JSON object with the result on stdout\n"
    "  -q, --quiet            no progress and no summary, errors only\n"
    "  -v, --verbose          log what the library does\n"
    "  -h, --help             this text\n";

static void print_help(const char *cmd)
{
    static const struct {
        const char *cmd, *usage, *text;
    } help[] = {
        {"probe", "probe --port PATH [options]",
         "Connects and reports the chip, bootloader, flash size and protection.\n"},
        {"flash", "flash FILE --port PATH [--address A] [options]",
         "Programs FILE (.bin with --address, Intel HEX, SREC or ELF), verifies it and\n"
         "starts it.\n"
         "      --address A        load address of a raw .bin (default 0x08000000)\n"
         "      --format F         bin|hex|srec|elf (default: detected)\n"
         "      --erase MODE       auto (default): pages the image touches, or all when\n"
         "                         cheaper; pages: only those (keeps the rest); all\n"
         "      --verify MODE      crc: the target computes the CRC-32 of what was written\n"
         "                         with a small program loaded into its RAM (STM32F1;\n"
         "                         docs/ram-crc.md); read: read every byte back; none.\n"
         "                         Default: crc where the part runs it, else Get Checksum\n"
         "                         where the bootloader offers it, else read\n"
         "      --no-verify        the same as --verify none (not recommended)\n"
         "      --no-start         leave the target in its bootloader\n"
         "      --go-address A     vector table to start from (default: flash base)\n"},
        {"read", "read --port PATH -o FILE [--address A] [--length N] [options]",
         "Reads memory into FILE (raw binary). Default: the whole flash.\n"},
        {"erase", "erase --port PATH (--all | --address A --length N) [options]",
         "Erases the whole flash, or the pages/sectors that hold [A, A+N).\n"},
        {"go", "go --port PATH [--address A] [options]",
         "Starts the code at A (default: flash base) with the Go command.\n"},
        {"protect", "protect --port PATH (--read | --write SECTORS) [options]",
         "Sets readout protection, or write protection of SECTORS (e.g. 0-3,8).\n"
         "The target resets to apply it.\n"},
        {"unprotect", "unprotect --port PATH (--read | --write) [options]",
         "Removes readout protection (THE TARGET ERASES ITS WHOLE FLASH), or all\n"
         "write protection.\n"},
        {"master", "master --eeprom FILE --eeprom-type TYPE --port PATH [options]",
         "Runs the master board's flashing job on this PC: the same code as the\n"
         "firmware, with the EEPROM modelled at the I2C level and backed by FILE (a\n"
         "dump made by 'stm32isp pack --eeprom TYPE'). Checks the image in the EEPROM\n"
         "before touching the target, then connects, erases, programs, verifies\n"
         "against the image's CRC and starts the target as the image says.\n"
         "      --verify MODE          crc (default): the target computes the CRC with\n"
         "                             the RAM CRC program where it runs it, else the\n"
         "                             flash is read back; read: always read back\n"
         "      --eeprom FILE          the EEPROM's contents (read only)\n"
         "      --eeprom-type TYPE     24c01 ... 24c512, 24m01, 24m02\n"
         "      --eeprom-address A     7-bit I2C address (default 0x50)\n"
         "      --eeprom-faults SPEC   inject EEPROM faults, e.g. bitflip=1e-4,seed=3\n"
         "                             (docs/eeprom.md)\n"},
    };
    for (size_t i = 0; i < sizeof help / sizeof help[0]; i++) {
        if (strcmp(help[i].cmd, cmd) == 0) {
            printf("usage: stm32isp %s\n\n%s\noptions:\n%s", help[i].usage, help[i].text,
                   common_help);
        }
    }
}

/* Returns EXIT_OK, or EXIT_USAGE after printing what is wrong. -1: --help. */
static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, OPT_PORT},
        {"baud", required_argument, NULL, OPT_BAUD},
        {"reset-seq", required_argument, NULL, OPT_RESET_SEQ},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"help", no_argument, NULL, OPT_HELP},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"address", required_argument, NULL, OPT_ADDRESS},
        {"length", required_argument, NULL, OPT_LENGTH},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
        {"verify", required_argument, NULL, OPT_VERIFY},
        {"no-start", no_argument, NULL, OPT_NO_START},
        {"erase", required_argument, NULL, OPT_ERASE},
        {"all", no_argument, NULL, OPT_ALL},
        {"read", no_argument, NULL, OPT_READ},
        {"write", optional_argument, NULL, OPT_WRITE},
        {"go-address", required_argument, NULL, OPT_GO_ADDRESS},
        {"eeprom", required_argument, NULL, OPT_EEPROM},
        {"eeprom-type", required_argument, NULL, OPT_EEPROM_TYPE},
        {"eeprom-address", required_argument, NULL, OPT_EEPROM_ADDRESS},
        {"eeprom-faults", required_argument, NULL, OPT_EEPROM_FAULTS},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = o->cmd;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:b:qvo:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_PORT:
            o->port = optarg;
            break;
        case OPT_BAUD:
            if (!cli_parse_u32(optarg, &o->baud) || o->baud < 1200 || o->baud > 4000000) {
                cli_error(cmd, "use a rate such as 57600 or 115200", "bad --baud '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_RESET_SEQ:
            o->reset_seq = optarg;
            break;
        case OPT_DEVICE:
            o->device_pid = optarg;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_VERBOSE:
            o->verbose = true;
            break;
        case OPT_HELP:
            print_help(cmd);
            return -1;
        case OPT_OUTPUT:
            o->file = optarg;
            break;
        case OPT_ADDRESS:
            if (!cli_parse_u32(optarg, &o->address)) {
                cli_error(cmd, "give it in hex, e.g. 0x08004000", "bad --address '%s'", optarg);
                return EXIT_USAGE;
            }
            o->has_address = true;
            break;
        case OPT_LENGTH:
            if (!parse_length(optarg, &o->length) || o->length == 0) {
                cli_error(cmd, "e.g. 4096, 0x1000 or 64K", "bad --length '%s'", optarg);
                return EXIT_USAGE;
            }
            o->has_length = true;
            break;
        case OPT_FORMAT:
            if (!image_format_parse(optarg, &o->format)) {
                cli_error(cmd, "one of bin, hex, srec, elf", "unknown --format '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_NO_VERIFY:
            o->verify = VERIFY_NONE;
            break;
        case OPT_VERIFY:
            if (strcmp(optarg, "crc") == 0) {
                o->verify = VERIFY_CRC;
            } else if (strcmp(optarg, "read") == 0) {
                o->verify = VERIFY_READ;
            } else if (strcmp(optarg, "none") == 0) {
                o->verify = VERIFY_NONE;
            } else {
                cli_error(cmd, "one of crc, read, none", "unknown --verify '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_NO_START:
            o->no_start = true;
            break;
        case OPT_ERASE:
            if (strcmp(optarg, "auto") == 0) {
                o->erase = STM32ISP_ERASE_AUTO;
            } else if (strcmp(optarg, "pages") == 0) {
                o->erase = STM32ISP_ERASE_UNITS;
            } else if (strcmp(optarg, "all") == 0) {
                o->erase = STM32ISP_ERASE_MASS;
            } else {
                cli_error(cmd, "one of auto, pages, all", "unknown --erase '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_ALL:
            o->all = true;
            break;
        case OPT_READ:
            o->read_protection = true;
            break;
        case OPT_WRITE:
            o->write_protection = true;
            o->write_sectors = optarg;
            break;
        case OPT_GO_ADDRESS:
            if (!cli_parse_u32(optarg, &o->go_address)) {
                cli_error(cmd, "give it in hex, e.g. 0x08000000", "bad --go-address '%s'", optarg);
                return EXIT_USAGE;
            }
            o->has_go_address = true;
            break;
        case OPT_EEPROM:
            o->eeprom_file = optarg;
            break;
        case OPT_EEPROM_TYPE:
            o->eeprom_type = optarg;
            break;
        case OPT_EEPROM_ADDRESS:
            if (!cli_parse_u32(optarg, &o->eeprom_address) || o->eeprom_address < 0x08 ||
                o->eeprom_address > 0x77) {
                cli_error(cmd, "a 7-bit address such as 0x50", "bad --eeprom-address '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_EEPROM_FAULTS:
            o->eeprom_faults = optarg;
            break;
        case ':':
            cli_error(cmd, NULL, "option '%s' needs a value", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            cli_error(cmd, "see 'stm32isp COMMAND --help'", "unknown option '%s'",
                      argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (strcmp(cmd, "flash") == 0) {
        if (optind != argc - 1) {
            cli_error(cmd, "usage: stm32isp flash FILE --port PATH", "give exactly one image file");
            return EXIT_USAGE;
        }
        o->file = argv[optind];
    } else if (optind != argc) {
        cli_error(cmd, NULL, "unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (o->port == NULL) {
        cli_error(cmd, "e.g. --port /dev/ttyUSB0", "no --port given");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------------- */
/* Output: progress bar, human lines, JSON                                    */

typedef struct ui {
    const options *o;
    bool bar; /* stderr is a terminal and we may draw */
    stm32isp_phase phase;
    int last_percent;
    struct timespec started;
} ui;

static void on_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    ui *u = ctx;
    if (!u->bar || total == 0 || phase == STM32ISP_PHASE_CONNECT || phase == STM32ISP_PHASE_START) {
        return;
    }
    int percent = (int)((uint64_t)done * 100u / total);
    if (phase == u->phase && percent == u->last_percent) {
        return;
    }
    if (phase != u->phase && u->last_percent >= 0) {
        fputc('\n', stderr);
    }
    u->phase = phase;
    u->last_percent = percent;
    char bar[41];
    int filled = percent * 40 / 100;
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(40 - filled));
    bar[40] = '\0';
    fprintf(stderr, "\r  %-7s [%s] %3d%%", stm32isp_phase_name(phase), bar, percent);
    fflush(stderr);
}

static void ui_end_bar(ui *u)
{
    if (u->bar && u->last_percent >= 0) {
        fputc('\n', stderr);
        u->last_percent = -1;
    }
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void on_log(void *ctx, stm32isp_log_level level, const char *msg)
{
    const options *o = ctx;
    if (o->verbose || level <= STM32ISP_LOG_WARN) {
        fprintf(stderr, "stm32isp %s: %s\n", o->cmd, msg);
    }
}

/* Human output goes to stdout unless --quiet or --json. */
static bool human(const options *o)
{
    return !o->quiet && !o->json;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

static void json_target(FILE *f, const stm32isp_target_info *t)
{
    fprintf(f, "\"target\": {\"pid\": \"0x%03x\", ", t->pid);
    if (t->device != NULL) {
        fprintf(f, "\"name\": ");
        json_string(f, t->device->name);
        fprintf(f, ", \"family\": ");
        json_string(f, stm32isp_device_family(t->device));
        fprintf(f, ", \"flash_base\": \"0x%08" PRIx32 "\", \"flash_size\": %" PRIu32 ", ",
                stm32isp_device_flash_base(t->device), t->flash_size);
        fprintf(f, "\"flash_size_from_register\": %s, ",
                t->flash_size_from_register ? "true" : "false");
    }
    fprintf(f, "\"bootloader_version\": \"%u.%u\", \"readout_protected\": %s",
            (unsigned)(t->bootloader_version >> 4), (unsigned)(t->bootloader_version & 0xF),
            t->readout_protected ? "true" : "false");
    if (t->uid_valid) {
        fprintf(f, ", \"uid\": \"");
        for (int i = 0; i < 12; i++) {
            fprintf(f, "%02x", t->uid[i]);
        }
        fputc('"', f);
    }
    fprintf(f, "}");
}

/* ------------------------------------------------------------------------- */
/* Sessions                                                                   */

typedef struct session {
    options *o;
    pc_serial serial;
    bool serial_open;
    stm32isp_config cfg;
    stm32isp_client client;
    ui ui;
    stm32isp_err err; /* the library's verdict, for JSON */
    const char *fail_what;
} session;

/* Maps a library error to an exit code and prints it with its hint. */
static int report_error(session *s, stm32isp_err err, const char *doing)
{
    ui_end_bar(&s->ui);
    s->err = err;
    s->fail_what = doing;
    const char *hint = stm32isp_hint(err);
    if (err == STM32ISP_ERR_READ_PROTECTED && strcmp(s->o->cmd, "unprotect") != 0) {
        hint = "readout protection is active: 'stm32isp unprotect --read' removes it and "
               "ERASES THE WHOLE FLASH";
    }
    cli_error(s->o->cmd, hint, "%s: %s", doing, stm32isp_strerror(err));
    switch (err) {
    case STM32ISP_ERR_PORT:
    case STM32ISP_ERR_EEPROM_NACK:
    case STM32ISP_ERR_EEPROM_BUS:
    case STM32ISP_ERR_EEPROM_TIMEOUT:
        return EXIT_IO;
    case STM32ISP_ERR_IMAGE_TOO_LARGE:
    case STM32ISP_ERR_ADDRESS:
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

static int session_open(session *s, options *o)
{
    memset(s, 0, sizeof *s);
    s->o = o;
    s->ui.o = o;
    s->ui.bar = !o->quiet && !o->json && isatty(STDERR_FILENO);
    s->ui.last_percent = -1;
    clock_gettime(CLOCK_MONOTONIC, &s->ui.started);

    stm32isp_config cfg = {.baud = o->baud};
    if (o->device_pid != NULL) {
        uint32_t pid;
        if (!cli_parse_u32(o->device_pid, &pid) || pid > 0xFFFF ||
            (cfg.device_override = stm32isp_device_by_pid((uint16_t)pid)) == NULL) {
            cli_error(o->cmd, "docs/devices.md lists the known PIDs, e.g. --device 0x410",
                      "--device '%s' is not a known PID", o->device_pid);
            return EXIT_USAGE;
        }
    }
    char err[256];
    if (pc_serial_open(&s->serial, o->port, o->baud != 0 ? o->baud : 115200, err, sizeof err) !=
        0) {
        cli_error(o->cmd, NULL, "%s", err);
        return EXIT_IO;
    }
    s->serial_open = true;
    if (o->reset_seq != NULL &&
        pc_serial_set_reset_seq(&s->serial, o->reset_seq, err, sizeof err) != 0) {
        cli_error(o->cmd, "see docs/serial-and-reset.md", "%s", err);
        return EXIT_USAGE;
    }
    s->serial.log = on_log;
    s->serial.log_ctx = o;
    const stm32isp_port_ops *ops =
        pc_serial_has_reset_lines(&s->serial) ? &pc_serial_ops : &pc_serial_ops_no_pins;
    s->cfg = cfg;
    stm32isp_client_init(&s->client, ops, &s->serial, &cfg);
    stm32isp_set_progress(&s->client, on_progress, &s->ui);
    return EXIT_OK;
}

static void session_close(session *s)
{
    if (s->serial_open) {
        pc_serial_close(&s->serial);
        s->serial_open = false;
    }
}

static int session_connect(session *s)
{
    stm32isp_err err = stm32isp_connect(&s->client);
    if (err != STM32ISP_OK) {
        return report_error(s, err, "connecting");
    }
    return EXIT_OK;
}

/* The JSON record every command ends with: "ok", the error, the target and
 * whatever the command adds through `extra`. */
static void json_result(session *s, int code, void (*extra)(FILE *, void *), void *extra_ctx)
{
    if (!s->o->json) {
        return;
    }
    FILE *f = stdout;
    fprintf(f, "{\"command\": ");
    json_string(f, s->o->cmd);
    fprintf(f, ", \"ok\": %s, \"exit_code\": %d", code == EXIT_OK ? "true" : "false", code);
    if (s->err != STM32ISP_OK) {
        fprintf(f, ", \"error\": ");
        json_string(f, stm32isp_err_name(s->err));
        fprintf(f, ", \"message\": ");
        json_string(f, stm32isp_strerror(s->err));
        fprintf(f, ", \"hint\": ");
        json_string(f, stm32isp_hint(s->err));
        fprintf(f, ", \"during\": ");
        json_string(f, s->fail_what != NULL ? s->fail_what : "");
    }
    if (s->client.target.pid != 0) {
        fprintf(f, ", ");
        json_target(f, &s->client.target);
    }
    if (extra != NULL) {
        extra(f, extra_ctx);
    }
    const stm32isp_link_stats *st = &s->client.stats;
    fprintf(f,
            ", \"link\": {\"bytes_sent\": %" PRIu32 ", \"bytes_received\": %" PRIu32
            ", \"commands\": %" PRIu32 ", \"retries\": %" PRIu32 ", \"resyncs\": %" PRIu32
            ", \"resets\": %" PRIu32 "}, \"seconds\": %.3f}\n",
            st->bytes_sent, st->bytes_received, st->commands, st->retries, st->resyncs, st->resets,
            seconds_since(&s->ui.started));
    fflush(f);
}

/* ------------------------------------------------------------------------- */
/* probe                                                                      */

static void print_target(const session *s)
{
    const stm32isp_target_info *t = &s->client.target;
    const stm32isp_device *d = t->device;
    printf("device      %s (PID 0x%03x, %s)\n", d->name, t->pid, stm32isp_device_family(d));
    printf("bootloader  v%u.%u, erase command 0x%02x, %u commands:",
           (unsigned)(t->bootloader_version >> 4), (unsigned)(t->bootloader_version & 0xF),
           t->erase_opcode, t->command_count);
    for (unsigned i = 0; i < t->command_count; i++) {
        printf(" %02x", t->commands[i]);
    }
    printf("\n");
    uint32_t units = stm32isp_device_unit_count(d, t->flash_size);
    printf("flash       %" PRIu32 " KiB at 0x%08" PRIx32 " (%s), %" PRIu32 " erase units\n",
           t->flash_size / 1024, stm32isp_device_flash_base(d),
           t->flash_size_from_register ? "from the flash-size register"
                                       : "the PID's maximum: the register was not readable",
           units);
    printf("ram         0x%08" PRIx32 "-0x%08" PRIx32 " usable by the host\n", d->ram_start,
           d->ram_end - 1);
    printf("readout     %s\n",
           t->readout_protected ? "PROTECTED (flash cannot be read)" : "not protected");
    if (t->uid_valid) {
        printf("uid         ");
        for (int i = 0; i < 12; i++) {
            printf("%02x", t->uid[i]);
        }
        printf("\n");
    }
}

typedef struct probe_extra {
    bool have_options;
    uint32_t option_count;
    uint8_t option_bytes[16];
} probe_extra;

static void probe_json(FILE *f, void *ctx)
{
    const probe_extra *p = ctx;
    if (p->have_options) {
        fprintf(f, ", \"option_bytes\": \"");
        for (uint32_t i = 0; i < p->option_count; i++) {
            fprintf(f, "%02x", p->option_bytes[i]);
        }
        fputc('"', f);
    }
}

static int run_probe(session *s)
{
    int code = session_connect(s);
    probe_extra extra = {0};
    if (code == EXIT_OK && !s->client.target.readout_protected) {
        const stm32isp_device *d = s->client.target.device;
        uint32_t option_start = stm32isp_device_option_start(d);
        uint32_t option_end = stm32isp_device_option_end(d);
        uint32_t n = option_end > option_start ? option_end - option_start : 0;
        if (n > sizeof extra.option_bytes) {
            n = sizeof extra.option_bytes;
        }
        if (n != 0 &&
            stm32isp_cmd_read(&s->client, option_start, extra.option_bytes, n) == STM32ISP_OK) {
            extra.have_options = true;
            extra.option_count = n;
        }
    }
    if (code == EXIT_OK && human(s->o)) {
        print_target(s);
        if (extra.have_options) {
            printf("options     ");
            for (uint32_t i = 0; i < extra.option_count; i++) {
                printf("%02x%s", extra.option_bytes[i], i % 2 == 1 ? " " : "");
            }
            printf("\n");
        }
    }
    json_result(s, code, probe_json, &extra);
    return code;
}

/* ------------------------------------------------------------------------- */
/* flash                                                                      */

typedef struct flash_extra {
    const loaded_image *img;
    stm32isp_program_report rep;
    bool verified, started;
    bool ram_crc;       /* verified by the RAM CRC program */
    bool ram_fell_back; /* it was tried, the link failed, the flash was read back */
    stm32isp_ramcrc_report ram;
} flash_extra;

static void flash_json(FILE *f, void *ctx)
{
    const flash_extra *x = ctx;
    fprintf(f,
            ", \"image\": {\"format\": \"%s\", \"segments\": %zu, \"bytes\": %" PRIu32
            "}, \"erase\": {\"mass\": %s, \"units\": %" PRIu32 ", \"ms\": %" PRIu32
            "}, \"write\": {\"bytes\": %" PRIu32 ", \"blocks\": %" PRIu32
            ", \"blocks_skipped\": %" PRIu32 ", \"ms\": %" PRIu32 "}, \"verified\": %s"
            ", \"verified_by\": \"%s\", \"verify_ms\": %" PRIu32 ", \"units_repaired\": %" PRIu32
            ", \"started\": %s",
            image_format_name(x->img->format), x->img->segment_count, x->img->payload_size,
            x->rep.mass_erased ? "true" : "false", x->rep.units_erased, x->rep.ms_erase,
            x->rep.bytes_written, x->rep.blocks_written, x->rep.blocks_skipped, x->rep.ms_write,
            x->verified ? "true" : "false",
            !x->verified                  ? "none"
            : x->ram_crc                  ? "ram-crc"
            : x->rep.verified_by_checksum ? "checksum"
                                          : "read-back",
            x->rep.ms_verify, x->rep.units_repaired, x->started ? "true" : "false");
}

/* Decides whether the RAM CRC program verifies (docs/ram-crc.md): *use is
 * set when it will; returns EXIT_OK, or EXIT_USAGE after saying why an
 * explicit --verify crc cannot be honoured (before anything is erased). */
static int choose_ram_crc(session *s, const loaded_image *img, bool *use)
{
    const options *o = s->o;
    *use = false;
    if (o->verify != VERIFY_DEFAULT && o->verify != VERIFY_CRC) {
        return EXIT_OK;
    }
    stm32isp_err why =
        stm32isp_ramcrc_check(&s->client, &stm32isp_ramcrc_program_m3, img->segment_count);
    *use = why == STM32ISP_OK;
    if (*use || o->verify == VERIFY_DEFAULT) {
        return EXIT_OK;
    }
    const stm32isp_target_info *t = &s->client.target;
    if (why == STM32ISP_ERR_INVALID_ARG) {
        cli_error(o->cmd, "use --verify read",
                  "--verify crc covers at most %u segments, the image has %zu; nothing was erased",
                  (unsigned)STM32ISP_RAMCRC_MAX_RANGES, img->segment_count);
    } else if (why == STM32ISP_ERR_READ_PROTECTED) {
        cli_error(o->cmd, "remove readout protection first (stm32isp unprotect --read)",
                  "--verify crc: the target is readout protected; nothing was erased");
    } else {
        cli_error(o->cmd, "use --verify read, or leave --verify out",
                  "--verify crc: the RAM CRC program does not run on the %s (%s family, or too "
                  "little free RAM); nothing was erased",
                  t->device->name, stm32isp_device_family(t->device));
    }
    return EXIT_USAGE;
}

/*
 * Verifies with the RAM CRC program, against the CRC of the image as loaded
 * here, and then starts the application or returns the target to its
 * bootloader as --no-start says. Link trouble while it runs falls back to
 * reading back.
 */
static int verify_in_ram(session *s, const loaded_image *img, const stm32isp_image *image,
                         flash_extra *extra)
{
    const options *o = s->o;
    stm32isp_client *c = &s->client;
    uint32_t t0 = c->ops->now_ms(c->port);
    uint32_t expected = stm32isp_crc32_ieee(0, img->payload, img->payload_size);
    uint32_t go = o->has_go_address ? o->go_address : 0;
    stm32isp_err err = stm32isp_ramcrc_verify(c, &stm32isp_ramcrc_program_m3, img->segments,
                                              img->segment_count, expected, go, &extra->ram);
    if (err == STM32ISP_OK) {
        extra->rep.ms_verify = c->ops->now_ms(c->port) - t0;
        extra->verified = extra->ram_crc = true;
        ui_end_bar(&s->ui);
        if (o->no_start) {
            err = stm32isp_ramcrc_leave(c, STM32ISP_RAMCRC_BOOTLOADER);
            return err == STM32ISP_OK
                       ? EXIT_OK
                       : report_error(s, err, "returning to the bootloader (the flash is right)");
        }
        err = stm32isp_ramcrc_leave(c, STM32ISP_RAMCRC_START_APP);
        if (err != STM32ISP_OK) {
            return report_error(s, err, "starting the application (the flash is right)");
        }
        extra->started = true;
        return EXIT_OK;
    }
    stm32isp_err back = stm32isp_ramcrc_leave(c, STM32ISP_RAMCRC_BOOTLOADER);
    if (err == STM32ISP_ERR_VERIFY) {
        ui_end_bar(&s->ui);
        cli_error(o->cmd, NULL,
                  "the target computed CRC-32 0x%08" PRIx32 " over the %" PRIu32
                  " bytes written, the image has 0x%08" PRIx32,
                  extra->ram.crc, extra->ram.bytes, expected);
        return report_error(s, err, "verifying (CRC computed on the target)");
    }
    if (back != STM32ISP_OK) {
        ui_end_bar(&s->ui);
        s->err = back;
        s->fail_what = "verifying";
        cli_error(o->cmd,
                  stm32isp_has_reset_lines(c)
                      ? "check the target's BOOT0 and NRST wiring, then run the same command again"
                      : "reset the target with BOOT0 high (or give --reset-seq so that the tool "
                        "can), then run the same command again; --verify read avoids the RAM "
                        "program",
                  "the flash is written but NOT verified: the RAM CRC program did not answer "
                  "(%s) and the target did not come back to its bootloader (%s)",
                  stm32isp_strerror(err), stm32isp_strerror(back));
        return EXIT_FAILURE_GENERIC;
    }
    on_log((void *)o, STM32ISP_LOG_WARN,
           "the RAM CRC program did not answer properly: reading the flash back instead");
    extra->ram_fell_back = true;
    uint32_t bad;
    err = stm32isp_verify_image(c, image, &bad);
    extra->rep.ms_verify = c->ops->now_ms(c->port) - t0;
    if (err != STM32ISP_OK) {
        return report_error(s, err, "verifying (read back)");
    }
    extra->verified = true;
    return EXIT_OK;
}

static int run_flash(session *s, const loaded_image *img)
{
    int code = session_connect(s);
    flash_extra extra = {.img = img};
    if (code == EXIT_OK) {
        stm32isp_image image;
        image_as_stm32isp(img, &image);
        const options *o = s->o;
        bool ram_crc = false;
        code = choose_ram_crc(s, img, &ram_crc);
        stm32isp_program_options popts = {
            .erase = o->erase,
            /* The RAM CRC, when it is used, comes after stm32isp_program(). */
            .verify = o->verify != VERIFY_NONE && !ram_crc,
            .verify_by_reading = o->verify == VERIFY_READ,
            /* Started separately below, so a start failure is told apart. */
            .start = false,
        };
        /* The library checks the image against the part before it erases;
         * this is only the clearer message. */
        stm32isp_err err = stm32isp_check_image(&s->client, &image);
        if (err == STM32ISP_ERR_IMAGE_TOO_LARGE || err == STM32ISP_ERR_ADDRESS) {
            const stm32isp_target_info *t = &s->client.target;
            const stm32isp_segment *last = &img->segments[img->segment_count - 1];
            cli_error(o->cmd, NULL,
                      "the image spans 0x%08" PRIx32 "-0x%08" PRIx32 " but this %s has %" PRIu32
                      " KiB of flash at 0x%08" PRIx32 "-0x%08" PRIx32 "; nothing was erased",
                      img->segments[0].address, last->address + last->length - 1, t->device->name,
                      t->flash_size / 1024, stm32isp_device_flash_base(t->device),
                      stm32isp_device_flash_base(t->device) + t->flash_size - 1);
        }
        if (err == STM32ISP_OK && code == EXIT_OK) {
            err = stm32isp_program(&s->client, &image, &popts, &extra.rep);
        }
        if (code != EXIT_OK) {
            /* --verify crc refused: said so already */
        } else if (err != STM32ISP_OK) {
            code = report_error(s, err, "flashing");
        } else {
            if (ram_crc) {
                /* Starts the application itself when it verified. */
                code = verify_in_ram(s, img, &image, &extra);
            } else {
                extra.verified = popts.verify;
            }
            ui_end_bar(&s->ui);
            if (code == EXIT_OK && !extra.ram_crc && !o->no_start) {
                uint32_t go = o->has_go_address ? o->go_address : 0;
                err = stm32isp_start_application(&s->client, go);
                if (err != STM32ISP_OK) {
                    code = report_error(s, err, "starting the application (the flash is right)");
                } else {
                    extra.started = true;
                }
            }
        }
        if (code == EXIT_OK && human(o)) {
            const stm32isp_target_info *t = &s->client.target;
            printf("flashed %" PRIu32 " bytes (%zu segment%s, %s) to %s, %" PRIu32 " KiB\n",
                   img->payload_size, img->segment_count, img->segment_count == 1 ? "" : "s",
                   image_format_name(img->format), t->device->name, t->flash_size / 1024);
            if (extra.rep.mass_erased) {
                printf("  erased    whole flash (%.2f s)\n", extra.rep.ms_erase / 1000.0);
            } else {
                printf("  erased    %" PRIu32 " units (%.2f s)\n", extra.rep.units_erased,
                       extra.rep.ms_erase / 1000.0);
            }
            printf("  written   %" PRIu32 " blocks, %" PRIu32 " blank blocks skipped (%.2f s)\n",
                   extra.rep.blocks_written, extra.rep.blocks_skipped, extra.rep.ms_write / 1000.0);
            printf("  verified  %s (%.2f s)\n",
                   !extra.verified ? "NO (--verify none)"
                   : extra.ram_crc
                       ? "CRC-32 computed on the target (RAM program) equal to the image's"
                   : extra.ram_fell_back ? "read back, equal to the image (the RAM program failed)"
                   : extra.rep.verified_by_checksum ? "Get Checksum CRC equal to the image's"
                                                    : "read back, equal to the image",
                   extra.rep.ms_verify / 1000.0);
            if (extra.rep.units_repaired != 0) {
                printf("  repaired  %" PRIu32 " units re-erased and rewritten\n",
                       extra.rep.units_repaired);
            }
            printf("  started   %s\n",
                   !extra.started ? "no (--no-start): the target stays in its bootloader"
                   : stm32isp_has_reset_lines(&s->client) ? "BOOT0 low and a reset"
                   : extra.ram_crc
                       ? "by the RAM program (no reset lines; it sets VTOR to the vector table)"
                       : "with Go (no reset lines: system memory stays mapped at 0)");
        }
    }
    json_result(s, code, flash_json, &extra);
    return code;
}

/* ------------------------------------------------------------------------- */
/* master                                                                     */

/* The master board's EEPROM, modelled at the I2C level and read through the
 * same driver the firmware uses. */
typedef struct master_eeprom {
    eesim *model;
    stm32isp_eeprom driver;
    stm32isp_container_source source;
} master_eeprom;

static stm32isp_err eeprom_source_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    master_eeprom *m = ctx;
    return stm32isp_eeprom_read(&m->driver, offset, buf, len);
}

static int master_eeprom_open(master_eeprom *m, const options *o)
{
    memset(m, 0, sizeof *m);
    const stm32isp_eeprom_part *part = stm32isp_eeprom_part_find(o->eeprom_type);
    if (part == NULL) {
        cli_error(o->cmd,
                  "one of 24c01 24c02 24c04 24c08 24c16 24c32 24c64 24c128 24c256 24c512 "
                  "24m01 24m02",
                  "unknown --eeprom-type '%s'", o->eeprom_type);
        return EXIT_USAGE;
    }
    eesim_config cfg = {.part = part, .base_address = (uint8_t)o->eeprom_address};
    char err[256];
    if (o->eeprom_faults != NULL &&
        eesim_faults_parse(o->eeprom_faults, &cfg.faults, err, sizeof err) != 0) {
        cli_error(o->cmd, "see docs/eeprom.md", "--eeprom-faults: %s", err);
        return EXIT_USAGE;
    }
    m->model = eesim_new(&cfg);
    if (m->model == NULL) {
        cli_error(o->cmd, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    if (eesim_load_file(m->model, o->eeprom_file, err, sizeof err) != 0) {
        cli_error(o->cmd, "make one with 'stm32isp pack --eeprom TYPE -o FILE ...'", "%s", err);
        return EXIT_IO;
    }
    stm32isp_eeprom_init(&m->driver, &eesim_i2c_ops, m->model, part, (uint8_t)o->eeprom_address);
    m->source =
        (stm32isp_container_source){.read = eeprom_source_read, .ctx = m, .size = part->size};
    return EXIT_OK;
}

static void master_eeprom_close(master_eeprom *m)
{
    eesim_free(m->model);
    m->model = NULL;
}

typedef struct master_ui {
    session *s;
    stm32isp_phase phase;
    bool any;
} master_ui;

/* The bar where there is a terminal; otherwise one line as each phase
 * begins, so that a log shows how far a failed run got. */
static void on_master_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    master_ui *m = ctx;
    if (m->s->ui.bar) {
        on_progress(&m->s->ui, phase, done, total);
        return;
    }
    if (human(m->s->o) && (!m->any || phase != m->phase)) {
        printf("  %s...\n", stm32isp_phase_name(phase));
        fflush(stdout);
    }
    m->any = true;
    m->phase = phase;
}

static void master_json(FILE *f, void *ctx)
{
    const stm32isp_job_result *r = ctx;
    fprintf(f,
            ", \"image\": {\"bytes\": %" PRIu32 ", \"segments\": %u, \"crc\": \"0x%08" PRIx32
            "\"}, \"phase\": \"%s\", \"target_touched\": %s, \"target_modified\": %s"
            ", \"unprotected\": %s, \"readout_protected_after\": %s, \"started\": %s"
            ", \"erase\": {\"mass\": %s, \"units\": %" PRIu32 "}, \"write\": {\"bytes\": %" PRIu32
            ", \"blocks\": %" PRIu32 ", \"blocks_skipped\": %" PRIu32
            "}, \"ms\": {\"check\": %" PRIu32 ", \"connect\": %" PRIu32 ", \"erase\": %" PRIu32
            ", \"write\": %" PRIu32 ", \"verify\": %" PRIu32 ", \"protect\": %" PRIu32
            ", \"start\": %" PRIu32 ", \"total\": %" PRIu32 "}",
            r->image_bytes, r->segment_count, r->image_crc, stm32isp_phase_name(r->phase),
            r->target_touched ? "true" : "false", r->target_modified ? "true" : "false",
            r->unprotected ? "true" : "false", r->readout_protected_after ? "true" : "false",
            r->started ? "true" : "false", r->program.mass_erased ? "true" : "false",
            r->program.units_erased, r->program.bytes_written, r->program.blocks_written,
            r->program.blocks_skipped, r->ms_check, r->ms_connect, r->ms_erase, r->ms_write,
            r->ms_verify, r->ms_protect, r->ms_start, r->ms_total);
}

static void print_master_summary(const session *s, const stm32isp_job *job,
                                 const stm32isp_job_result *r)
{
    const stm32isp_container *ct = &job->container;
    printf("programmed \"%s\" %s: %" PRIu32 " bytes in %u segment%s (CRC-32 0x%08" PRIx32 ")\n",
           ct->name, ct->version, r->image_bytes, r->segment_count,
           r->segment_count == 1 ? "" : "s", r->image_crc);
    printf("  target    %s, PID 0x%03x, bootloader v%u.%u, %" PRIu32 " KiB flash\n",
           r->device != NULL ? r->device->name : "?", r->pid,
           (unsigned)(r->bootloader_version >> 4), (unsigned)(r->bootloader_version & 0xF),
           r->flash_size / 1024);
    if (r->unprotected) {
        printf("  unprotect readout protection removed (the flash was mass-erased)\n");
    }
    printf("  check     image in the EEPROM: header and payload CRC good (%.2f s)\n",
           r->ms_check / 1000.0);
    printf("  connect   %.2f s\n", r->ms_connect / 1000.0);
    if (r->program.mass_erased) {
        printf("  erase     whole flash (%.2f s)\n", r->ms_erase / 1000.0);
    } else {
        printf("  erase     %" PRIu32 " units (%.2f s)\n", r->program.units_erased,
               r->ms_erase / 1000.0);
    }
    printf("  write     %" PRIu32 " blocks, %" PRIu32 " blank blocks skipped (%.2f s)\n",
           r->program.blocks_written, r->program.blocks_skipped, r->ms_write / 1000.0);
    if ((ct->flags & STM32ISP_CONTAINER_VERIFY) != 0) {
        printf("  verify    %s, CRC-32 equal to the image's (%.2f s)\n",
               r->verified_by_ram_crc ? "computed on the target (RAM program)" : "read back",
               r->ms_verify / 1000.0);
    } else {
        printf("  verify    NO: the image was packed with --no-verify\n");
    }
    if (r->readout_protected_after) {
        printf("  protect   readout protection set (%.2f s)\n", r->ms_protect / 1000.0);
    }
    printf("  start     %s\n",
           !r->started                            ? "no: the image was packed with --no-start"
           : stm32isp_has_reset_lines(&s->client) ? "BOOT0 low and a reset"
           : r->verified_by_ram_crc
               ? "by the RAM program (no reset lines; it sets VTOR to the vector table)"
               : "with Go (no reset lines: system memory stays mapped at 0)");
    printf("  total     %.2f s\n", r->ms_total / 1000.0);
}

static int run_master(session *s, master_eeprom *ee)
{
    stm32isp_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cli_error(s->o->cmd, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    master_ui mui = {.s = s};
    stm32isp_job_config cfg = {.ops = s->client.ops,
                               .port = s->client.port,
                               .client = &s->cfg,
                               .source = &ee->source,
                               .ram_program =
                                   s->o->verify == VERIFY_READ ? NULL : &stm32isp_ramcrc_program_m3,
                               .progress = on_master_progress,
                               .progress_ctx = &mui};
    stm32isp_job_result result;
    stm32isp_err err = stm32isp_job_run(job, &cfg, &result);
    /* The session's view of the target, for the JSON record. */
    s->client.target = job->client.target;
    s->client.stats = result.link;
    int code = EXIT_OK;
    if (err != STM32ISP_OK) {
        char doing[160];
        snprintf(doing, sizeof doing, "%s (%s)", stm32isp_phase_name(result.phase),
                 !result.target_touched    ? "the target was not touched"
                 : !result.target_modified ? "nothing was erased"
                                           : "run it again to finish");
        code = report_error(s, err, doing);
        json_result(s, code, master_json, &result);
        s->fail_what = NULL; /* it pointed at `doing` */
    } else {
        ui_end_bar(&s->ui);
        if (human(s->o)) {
            print_master_summary(s, job, &result);
        }
        json_result(s, code, master_json, &result);
    }
    free(job);
    return code;
}

/* ------------------------------------------------------------------------- */
/* read                                                                       */

typedef struct read_sink {
    uint8_t *buf;
    uint32_t at;
} read_sink;

static int sink_to_buffer(void *ctx, const uint8_t *data, uint32_t len)
{
    read_sink *r = ctx;
    memcpy(r->buf + r->at, data, len);
    r->at += len;
    return 0;
}

static int run_read(session *s)
{
    const options *o = s->o;
    int code = session_connect(s);
    if (code == EXIT_OK) {
        const stm32isp_target_info *t = &s->client.target;
        uint32_t flash_base = stm32isp_device_flash_base(t->device);
        uint32_t address = o->has_address ? o->address : flash_base;
        uint32_t length = o->has_length ? o->length
                          : address >= flash_base && address - flash_base < t->flash_size
                              ? t->flash_size - (address - flash_base)
                              : 256;
        read_sink sink = {.buf = malloc(length)};
        if (sink.buf == NULL) {
            cli_error(o->cmd, NULL, "out of memory for %" PRIu32 " bytes", length);
            code = EXIT_FAILURE_GENERIC;
        } else {
            stm32isp_err err =
                stm32isp_read_memory(&s->client, address, length, sink_to_buffer, &sink);
            if (err != STM32ISP_OK) {
                code = report_error(s, err, "reading");
            } else if (fileio_write_atomic(o->file, sink.buf, length) != 0) {
                ui_end_bar(&s->ui);
                cli_error(o->cmd, NULL, "cannot write %s: %s", o->file, strerror(errno));
                code = EXIT_IO;
            } else {
                ui_end_bar(&s->ui);
                if (human(o)) {
                    printf("read %" PRIu32 " bytes from 0x%08" PRIx32 " into %s\n", length, address,
                           o->file);
                }
            }
            free(sink.buf);
        }
    }
    json_result(s, code, NULL, NULL);
    return code;
}

/* ------------------------------------------------------------------------- */
/* erase, go                                                                  */

/* Erasing reads no image data; this source exists to satisfy the checks. */
static int blank_source(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    (void)ctx;
    (void)offset;
    memset(buf, 0xFF, len);
    return 0;
}

static int run_erase(session *s)
{
    const options *o = s->o;
    int code = session_connect(s);
    if (code != EXIT_OK) {
        json_result(s, code, NULL, NULL);
        return code;
    }
    stm32isp_err err;
    stm32isp_program_report rep = {0};
    if (o->all) {
        err = stm32isp_cmd_mass_erase(&s->client);
    } else {
        /* A one-segment image stands for the range: the erase logic then
         * picks exactly the units it touches, after the same checks. */
        stm32isp_segment seg = {o->address, o->length};
        stm32isp_image range = {.segments = &seg, .segment_count = 1, .read = blank_source};
        err = stm32isp_check_image(&s->client, &range);
        if (err == STM32ISP_OK) {
            err = stm32isp_erase_for_image(&s->client, &range, STM32ISP_ERASE_UNITS, &rep);
        }
    }
    if (err != STM32ISP_OK) {
        code = report_error(s, err, "erasing");
    } else {
        ui_end_bar(&s->ui);
        if (human(o)) {
            if (o->all) {
                printf("erased the whole flash\n");
            } else {
                printf("erased %" PRIu32 " units covering 0x%08" PRIx32 "-0x%08" PRIx32 "\n",
                       rep.units_erased, o->address, o->address + o->length - 1);
            }
        }
    }
    json_result(s, code, NULL, NULL);
    return code;
}

static int run_go(session *s)
{
    int code = session_connect(s);
    if (code == EXIT_OK) {
        uint32_t address =
            s->o->has_address ? s->o->address : stm32isp_device_flash_base(s->client.target.device);
        stm32isp_err err = stm32isp_cmd_go(&s->client, address);
        if (err != STM32ISP_OK) {
            code = report_error(s, err, "Go");
        } else if (human(s->o)) {
            printf("started the code at 0x%08" PRIx32 "\n", address);
        }
    }
    json_result(s, code, NULL, NULL);
    return code;
}

/* ------------------------------------------------------------------------- */
/* protect, unprotect                                                         */

/* "0-3,8" into sector codes. */
static bool parse_sectors(const char *text, uint8_t *out, size_t *count)
{
    *count = 0;
    const char *p = text;
    while (*p != '\0') {
        char *end;
        unsigned long a = strtoul(p, &end, 0), b = a;
        if (end == p || a > 255) {
            return false;
        }
        p = end;
        if (*p == '-') {
            b = strtoul(p + 1, &end, 0);
            if (end == p + 1 || b > 255 || b < a) {
                return false;
            }
            p = end;
        }
        for (unsigned long v = a; v <= b; v++) {
            if (*count == 255) {
                return false;
            }
            out[(*count)++] = (uint8_t)v;
        }
        if (*p == ',') {
            p++;
        } else if (*p != '\0') {
            return false;
        }
    }
    return *count > 0;
}

static int run_protection(session *s, bool protect)
{
    const options *o = s->o;
    uint8_t sectors[255];
    size_t count = 0;
    if (protect && o->write_protection) {
        parse_sectors(o->write_sectors, sectors, &count); /* checked by validate() */
    }
    int code = session_connect(s);
    if (code != EXIT_OK) {
        json_result(s, code, NULL, NULL);
        return code;
    }
    stm32isp_err err;
    const char *done;
    if (protect && o->read_protection) {
        err = stm32isp_cmd_readout_protect(&s->client);
        done = "readout protection set: the flash can no longer be read or written";
    } else if (protect) {
        err = stm32isp_cmd_write_protect(&s->client, sectors, count);
        done = "write protection set";
    } else if (o->read_protection) {
        if (human(o)) {
            fprintf(stderr, "stm32isp unprotect: removing readout protection: the target "
                            "erases its whole flash\n");
        }
        err = stm32isp_cmd_readout_unprotect(&s->client);
        done = "readout protection removed; the flash was erased";
    } else {
        err = stm32isp_cmd_write_unprotect(&s->client);
        done = "write protection removed";
    }
    if (err != STM32ISP_OK) {
        code = report_error(s, err, protect ? "protecting" : "unprotecting");
    } else if (human(o)) {
        printf("%s\n", done);
    }
    json_result(s, code, NULL, NULL);
    return code;
}

/* ------------------------------------------------------------------------- */
/* Entry points                                                               */

/* What each command needs besides the port, checked before anything opens. */
static int validate(const options *o)
{
    const char *cmd = o->cmd;
    if (strcmp(cmd, "master") == 0 && (o->eeprom_file == NULL || o->eeprom_type == NULL)) {
        cli_error(cmd, "e.g. --eeprom eeprom.bin --eeprom-type 24c256",
                  "give the EEPROM's file and type");
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "master") == 0 && o->verify == VERIFY_NONE) {
        cli_error(cmd, "pack the image with --no-verify instead",
                  "the image decides whether master verifies");
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "read") == 0 && o->file == NULL) {
        cli_error(cmd, "e.g. -o flash.bin", "no output file (-o FILE)");
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "erase") == 0 &&
        (o->all == (o->has_address || o->has_length) || o->has_address != o->has_length)) {
        cli_error(cmd, "either --all, or --address A --length N", "say what to erase");
        return EXIT_USAGE;
    }
    bool protect = strcmp(cmd, "protect") == 0;
    if (protect || strcmp(cmd, "unprotect") == 0) {
        uint8_t sectors[255];
        size_t count;
        if (o->read_protection == o->write_protection) {
            cli_error(cmd, protect ? "--read, or --write=SECTORS" : "--read or --write",
                      "say which protection");
            return EXIT_USAGE;
        }
        if (protect && o->write_protection &&
            (o->write_sectors == NULL || !parse_sectors(o->write_sectors, sectors, &count))) {
            cli_error(cmd, "e.g. --write=0-3,8 (sector codes as the bootloader numbers them)",
                      "bad or missing sector list");
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

static int run_command(int argc, char **argv, const char *cmd)
{
    options o = {.cmd = cmd,
                 .erase = STM32ISP_ERASE_AUTO,
                 .format = IMAGE_FORMAT_AUTO,
                 .eeprom_address = 0x50};
    int code = parse_options(argc, argv, &o);
    if (code != EXIT_OK) {
        return code < 0 ? EXIT_OK : code;
    }
    if ((code = validate(&o)) != EXIT_OK) {
        return code;
    }
    /* The image is read and checked before the port is even opened. */
    loaded_image img;
    memset(&img, 0, sizeof img);
    if (strcmp(cmd, "flash") == 0) {
        char err[512];
        bool bin_address = o.has_address;
        uint32_t address = o.has_address ? o.address : 0x08000000u;
        int why = fileio_readable(o.file);
        if (why != 0) {
            cli_error(cmd, NULL, "cannot read %s: %s", o.file, strerror(why));
            return EXIT_IO;
        }
        if (image_load(o.file, o.format, true, address, &img, err, sizeof err) != 0) {
            cli_error(cmd, "nothing was sent to the target", "%s", err);
            return EXIT_IMAGE_REFUSED;
        }
        if (bin_address && img.format != IMAGE_FORMAT_BIN) {
            fprintf(stderr,
                    "stm32isp flash: --address applies to raw binaries only; %s carries "
                    "its own addresses\n",
                    o.file);
        }
    }
    /* The master's EEPROM too: a bad image is refused before the port (whose
     * modem lines may reset the target) is opened. */
    bool master = strcmp(cmd, "master") == 0;
    master_eeprom ee;
    memset(&ee, 0, sizeof ee);
    if (master) {
        code = master_eeprom_open(&ee, &o);
        if (code == EXIT_OK) {
            stm32isp_container ct;
            uint8_t buf[256];
            stm32isp_err err = stm32isp_job_check_image(&ct, &ee.source, buf, sizeof buf);
            if (err != STM32ISP_OK) {
                cli_error(cmd, stm32isp_hint(err), "%s: %s; the target was not touched",
                          o.eeprom_file, stm32isp_strerror(err));
                code = err == STM32ISP_ERR_EEPROM_NACK || err == STM32ISP_ERR_EEPROM_BUS ||
                               err == STM32ISP_ERR_EEPROM_TIMEOUT
                           ? EXIT_IO
                           : EXIT_IMAGE_REFUSED;
            }
        }
        if (code != EXIT_OK) {
            master_eeprom_close(&ee);
            return code;
        }
    }
    session s;
    code = session_open(&s, &o);
    if (code == EXIT_OK) {
        if (master) {
            code = run_master(&s, &ee);
        } else if (strcmp(cmd, "probe") == 0) {
            code = run_probe(&s);
        } else if (strcmp(cmd, "flash") == 0) {
            code = run_flash(&s, &img);
        } else if (strcmp(cmd, "read") == 0) {
            code = run_read(&s);
        } else if (strcmp(cmd, "erase") == 0) {
            code = run_erase(&s);
        } else if (strcmp(cmd, "go") == 0) {
            code = run_go(&s);
        } else {
            code = run_protection(&s, strcmp(cmd, "protect") == 0);
        }
    }
    session_close(&s);
    image_free(&img);
    master_eeprom_close(&ee);
    return code;
}

int cmd_probe(int argc, char **argv)
{
    return run_command(argc, argv, "probe");
}

int cmd_flash(int argc, char **argv)
{
    return run_command(argc, argv, "flash");
}

int cmd_read(int argc, char **argv)
{
    return run_command(argc, argv, "read");
}

int cmd_erase(int argc, char **argv)
{
    return run_command(argc, argv, "erase");
}

int cmd_go(int argc, char **argv)
{
    return run_command(argc, argv, "go");
}

int cmd_protect(int argc, char **argv)
{
    return run_command(argc, argv, "protect");
}

int cmd_unprotect(int argc, char **argv)
{
    return run_command(argc, argv, "unprotect");
}

int cmd_master(int argc, char **argv)
{
    return run_command(argc, argv, "master");
}

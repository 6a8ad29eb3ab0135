/*
 * read: copies target memory (by default the whole flash) into a file, as
 * raw binary or Intel HEX, or to standard output.
 */
#include "cli.h"
#include "fileio.h"
#include "imagefile.h"
#include "stm32isp/devices.h"
#include "stm32isp/program.h"
#include "target.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { R_OUTPUT, R_ADDRESS, R_LENGTH, R_FORMAT };

static const cli_option read_options[] = {
    [R_OUTPUT] = {"output", 'o', "FILE",
                  "where to write (through a temporary file and a rename);\n"
                  "'-': standard output, with status text on stderr"},
    [R_ADDRESS] = {"address", 0, "A", "first address (default: the flash base)"},
    [R_LENGTH] = {"length", 0, "N",
                  "bytes, with K or M suffixes (default: to the end of the\n"
                  "flash, or of the memory A is in)"},
    [R_FORMAT] = {"format", 0, "F",
                  "bin or hex (Intel HEX at the addresses read); default: hex\n"
                  "for a FILE ending in .hex, .ihex or .ihx, else bin"},
    {NULL, 0, NULL, NULL},
};

typedef struct read_opts {
    target_opts t;
    const char *output;
    bool has_address, has_length;
    uint32_t address, length;
    image_format format; /* AUTO, BIN or IHEX */
} read_opts;

static int read_take(void *ctx, int option, const char *value)
{
    read_opts *o = ctx;
    const char *cmd = "read";
    switch (option) {
    case R_OUTPUT:
        o->output = value;
        return EXIT_OK;
    case R_ADDRESS:
        if (!cli_parse_u32(value, &o->address)) {
            cli_error(cmd, "give it in hex, e.g. 0x08004000", "bad --address '%s'", value);
            return EXIT_USAGE;
        }
        o->has_address = true;
        return EXIT_OK;
    case R_LENGTH:
        if (!cli_parse_length(value, &o->length) || o->length == 0) {
            cli_error(cmd, "e.g. 4096, 0x1000 or 64K", "bad --length '%s'", value);
            return EXIT_USAGE;
        }
        o->has_length = true;
        return EXIT_OK;
    case R_FORMAT:
        if (!image_format_parse(value, &o->format) ||
            (o->format != IMAGE_FORMAT_BIN && o->format != IMAGE_FORMAT_IHEX)) {
            cli_error(cmd, "bin or hex", "read writes bin or hex, not '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    default:
        return target_take(cmd, &o->t, option, value);
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* A memory the bootloader reads: [start, end). */
typedef struct region {
    const char *name;
    uint32_t start, end;
} region;

/* The memories of the part that answered, from the device database. */
static size_t regions_of(const stm32isp_target_info *t, region *out)
{
    const stm32isp_device *d = t->device;
    uint32_t base = stm32isp_device_flash_base(d);
    size_t n = 0;
    out[n++] = (region){"flash", base, base + t->flash_size};
    out[n++] = (region){"RAM", 0x20000000u, d->ram_end};
    if (stm32isp_device_sysmem_end(d) > stm32isp_device_sysmem_start(d)) {
        out[n++] = (region){"system memory", stm32isp_device_sysmem_start(d),
                            stm32isp_device_sysmem_end(d)};
    }
    if (stm32isp_device_option_end(d) > stm32isp_device_option_start(d)) {
        out[n++] = (region){"option bytes", stm32isp_device_option_start(d),
                            stm32isp_device_option_end(d)};
    }
    return n;
}

/* Settles address and length against the part's memories: EXIT_OK, or
 * EXIT_USAGE after one line naming them (nothing was read). */
static int choose_range(session *s, const read_opts *o, uint32_t *address, uint32_t *length)
{
    const stm32isp_target_info *t = &s->client.target;
    region regions[4];
    size_t count = regions_of(t, regions);
    *address = o->has_address ? o->address : regions[0].start;
    const region *in = NULL;
    for (size_t i = 0; i < count; i++) {
        if (*address >= regions[i].start && *address < regions[i].end) {
            in = &regions[i];
        }
    }
    *length = o->has_length ? o->length : in != NULL ? in->end - *address : 0;
    uint64_t end = (uint64_t)*address + *length;
    if (in != NULL && end <= in->end) {
        return EXIT_OK;
    }
    char list[512];
    size_t at = 0;
    for (size_t i = 0; i < count && at < sizeof list; i++) {
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s 0x%08" PRIx32 "-0x%08" PRIx32,
                               i == 0 ? "" : ", ", regions[i].name, regions[i].start,
                               regions[i].end - 1);
    }
    session_record(s, STM32ISP_ERR_ADDRESS, "choosing what to read");
    if (in != NULL) {
        cli_error(s->cmd, list,
                  "0x%08" PRIx32 "-0x%08" PRIx64 " runs past the end of the %s of this %s "
                  "(0x%08" PRIx32 "); nothing was read",
                  *address, end - 1, in->name, t->device->name, in->end - 1);
    } else {
        cli_error(s->cmd, list,
                  "0x%08" PRIx32 " is in no memory the bootloader reads on this %s; nothing was "
                  "read",
                  *address, t->device->name);
    }
    return EXIT_USAGE;
}

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

static int write_stdout(const void *data, size_t size)
{
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t n = write(STDOUT_FILENO, p, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/* The bytes as the chosen format, to the file or standard output. */
static int save(session *s, const read_opts *o, const uint8_t *data, uint32_t address,
                uint32_t length)
{
    const void *out = data;
    size_t out_size = length;
    char *text = NULL;
    if (o->format == IMAGE_FORMAT_IHEX) {
        if (image_format_ihex(data, length, address, &text, &out_size) != 0) {
            cli_error(s->cmd, NULL, "out of memory");
            return EXIT_FAILURE_GENERIC;
        }
        out = text;
    }
    bool to_stdout = strcmp(o->output, "-") == 0;
    int rc =
        to_stdout ? write_stdout(out, out_size) : fileio_write_atomic(o->output, out, out_size);
    int saved = errno;
    free(text);
    if (rc != 0) {
        cli_error(s->cmd, NULL, "cannot write %s: %s", to_stdout ? "standard output" : o->output,
                  strerror(saved));
        return EXIT_IO;
    }
    return EXIT_OK;
}

static int read_steps(session *s, const read_opts *o, uint32_t *address, uint32_t *length)
{
    int code = session_connect(s);
    if (code != EXIT_OK) {
        return code;
    }
    if ((code = choose_range(s, o, address, length)) != EXIT_OK) {
        return code;
    }
    session_note(s, "read: 0x%08" PRIx32 "-0x%08" PRIx32 " (%" PRIu32 " bytes)", *address,
                 *address + *length - 1, *length);
    read_sink sink = {.buf = malloc(*length)};
    if (sink.buf == NULL) {
        cli_error(s->cmd, NULL, "out of memory for %" PRIu32 " bytes", *length);
        return EXIT_FAILURE_GENERIC;
    }
    stm32isp_err err = stm32isp_read_memory(&s->client, *address, *length, sink_to_buffer, &sink);
    if (err != STM32ISP_OK) {
        code = session_fail(s, err, "reading");
    } else {
        session_end_bar(s);
        code = save(s, o, sink.buf, *address, *length);
    }
    free(sink.buf);
    return code;
}

static int read_run(const cli_command *cmd, int argc, char **argv)
{
    read_opts o = {.format = IMAGE_FORMAT_AUTO};
    int code;
    if (!target_parse(cmd, argc, argv, read_take, &o, &o.t, &code)) {
        return code;
    }
    if (o.output == NULL) {
        cli_error(cmd->name, "e.g. -o flash.bin, -o flash.hex, or -o - for standard output",
                  "no output file (-o FILE)");
        return EXIT_USAGE;
    }
    bool to_stdout = strcmp(o.output, "-") == 0;
    if (o.format == IMAGE_FORMAT_AUTO) {
        o.format = !to_stdout && (ends_with(o.output, ".hex") || ends_with(o.output, ".ihex") ||
                                  ends_with(o.output, ".ihx"))
                       ? IMAGE_FORMAT_IHEX
                       : IMAGE_FORMAT_BIN;
    }
    if (to_stdout && o.t.json) {
        cli_error(cmd->name, "write the data to a file with -o FILE",
                  "--json and -o - would both write to standard output");
        return EXIT_USAGE;
    }
    if (to_stdout && o.format == IMAGE_FORMAT_BIN && isatty(STDOUT_FILENO)) {
        cli_error(cmd->name, "redirect it (> flash.bin), pipe it, or use --format hex",
                  "standard output is a terminal: binary data would garble it");
        return EXIT_USAGE;
    }
    session s;
    code = session_open(&s, cmd->name, &o.t);
    uint32_t address = 0, length = 0;
    if (code == EXIT_OK) {
        code = read_steps(&s, &o, &address, &length);
    }
    if (code == EXIT_OK && session_human(&s)) {
        /* With -o - the data owns standard output. */
        fprintf(to_stdout ? stderr : stdout,
                "read %" PRIu32 " bytes from 0x%08" PRIx32 " into %s (%s)\n", length, address,
                to_stdout ? "standard output" : o.output,
                o.format == IMAGE_FORMAT_IHEX ? "Intel HEX" : "binary");
    }
    return session_finish(&s, code, NULL, NULL);
}

const cli_command cmd_read = {
    .name = "read",
    .summary = "read memory into a .bin or .hex file, or standard output",
    .usage = "read --port PATH -o FILE [--address A] [--length N] [options]",
    .about = "Reads target memory, by default the whole flash, and writes it only once\n"
             "every byte has arrived. A range outside the part's flash, RAM, system\n"
             "memory and option bytes is refused before anything is read (exit 2).",
    .options = read_options,
    .target = true,
    .run = read_run,
};

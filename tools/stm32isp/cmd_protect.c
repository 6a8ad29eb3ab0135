/*
 * protect: sets readout protection, write protection of pages, or the
 * option bytes.
 */
#include "cli.h"
#include "target.h"

#include <stdlib.h>
#include <string.h>

enum { P_READ, P_WRITE };

static const cli_option protect_options[] = {
    [P_READ] = {"read", 0, NULL,
                "set readout protection: the flash can no longer be read\n"
                "or written until `unprotect --read` (which erases it)"},
    [P_WRITE] = {"write", 0, "SECTORS",
                 "write-protect these sectors, e.g. 0-3,8: the bootloader's\n"
                 "numbers, one per write-protection bit (`probe` shows the\n"
                 "pages each covers)"},
    {NULL, 0, NULL, NULL},
};

typedef struct protect_opts {
    target_opts t;
    bool read;
    const char *sectors;
} protect_opts;

/* "0-3,8" into sector codes. */
static bool parse_sectors(const char *text, uint8_t *out, size_t *count)
{
    *count = 0;
    const char *p = text;
    while (*p != '\0') {
        char *end;
        unsigned long a = strtoul(p, &end, 0), b = a;
        if (end == p || a > 255 || *p == '-') {
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

static int protect_take(void *ctx, int option, const char *value)
{
    protect_opts *o = ctx;
    uint8_t sectors[255];
    size_t count;
    switch (option) {
    case P_READ:
        o->read = true;
        return EXIT_OK;
    case P_WRITE:
        if (!parse_sectors(value, sectors, &count)) {
            cli_error("protect", "e.g. --write 0-3,8 (sector codes as the bootloader numbers them)",
                      "bad sector list '%s'", value);
            return EXIT_USAGE;
        }
        o->sectors = value;
        return EXIT_OK;
    default:
        return target_take("protect", &o->t, option, value);
    }
}

static int protect_steps(session *s, const protect_opts *o)
{
    int code = session_connect(s);
    if (code != EXIT_OK) {
        return code;
    }
    stm32isp_err err;
    const char *done;
    if (o->read) {
        err = stm32isp_cmd_readout_protect(&s->client);
        done = "readout protection set: the flash can no longer be read or written";
    } else {
        uint8_t sectors[255];
        size_t count = 0;
        parse_sectors(o->sectors, sectors, &count); /* checked when parsed */
        err = stm32isp_cmd_write_protect(&s->client, sectors, count);
        done = "write protection set";
    }
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "protecting");
    }
    if (session_human(s)) {
        printf("%s\n", done);
    }
    return EXIT_OK;
}

static int protect_run(const cli_command *cmd, int argc, char **argv)
{
    protect_opts o = {0};
    int first;
    int code = cli_parse(cmd, argc, argv, protect_take, &o, &first);
    if (code != EXIT_OK) {
        return code == CLI_HELP ? EXIT_OK : code;
    }
    if (first < argc) {
        cli_error(cmd->name, NULL, "unexpected argument '%s'", argv[first]);
        return EXIT_USAGE;
    }
    if ((int)o.read + (o.sectors != NULL) != 1) {
        cli_error(cmd->name, "--read, or --write SECTORS", "say which protection to set (one)");
        return EXIT_USAGE;
    }
    if ((code = target_check(cmd->name, &o.t)) != EXIT_OK) {
        return code;
    }
    session s;
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = protect_steps(&s, &o);
    }
    return session_finish(&s, code, NULL, NULL);
}

const cli_command cmd_protect = {
    .name = "protect",
    .summary = "set readout or write protection",
    .usage = "protect --port PATH (--read | --write SECTORS) [options]",
    .about = "Sets readout protection, or write protection of sectors. The target\n"
             "resets to apply it.",
    .options = protect_options,
    .target = true,
    .run = protect_run,
};

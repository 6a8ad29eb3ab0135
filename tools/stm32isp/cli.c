/*
 * The parts of the command line every command shares: messages, numbers,
 * and parsing and --help made from each command's option table (cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *cmd, const char *hint, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "stm32isp %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (hint != NULL) {
        fprintf(stderr, "  hint: %s\n", hint);
    }
}

bool cli_parse_u32(const char *text, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || v > 0xFFFFFFFFull || text[0] == '-') {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool cli_parse_length(const char *text, uint32_t *out)
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

/* ---- Parsing ------------------------------------------------------------ */

/* getopt_long's value for --help, and the base of the values that stand
 * for a command's own options. */
enum { HELP_VALUE = 5000, OWN_VALUE = 6000, TARGET_VALUE = 7000 };

static size_t count_options(const cli_option *options)
{
    size_t n = 0;
    while (options != NULL && options[n].name != NULL) {
        n++;
    }
    return n;
}

/* The long option `name` (without "--", up to '=' if any) is in the table. */
static bool table_has(const cli_option *options, const char *name, size_t len)
{
    for (size_t i = 0; options != NULL && options[i].name != NULL; i++) {
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Says that `arg` is not an option of `cmd`, and which command has it. */
static void unknown_option(const cli_command *cmd, const char *arg)
{
    char hint[160];
    snprintf(hint, sizeof hint, "'stm32isp help %s' lists its options", cmd->name);
    if (strncmp(arg, "--", 2) == 0) {
        const char *name = arg + 2;
        size_t len = strcspn(name, "=");
        const char *owners[16];
        size_t owner_count = 0;
        for (size_t i = 0; i < cli_command_count && owner_count < 16; i++) {
            const cli_command *other = cli_commands[i];
            if (table_has(other->options, name, len) ||
                (other->target && table_has(target_options, name, len))) {
                owners[owner_count++] = other->name;
            }
        }
        if (owner_count > 0) {
            size_t at = 0;
            at += (size_t)snprintf(hint + at, sizeof hint - at, "--%.*s is an option of",
                                   (int)(len < 40 ? len : 40), name);
            for (size_t i = 0; i < owner_count && at < sizeof hint; i++) {
                at += (size_t)snprintf(hint + at, sizeof hint - at, "%s %s",
                                       i == 0 ? "" : (i + 1 == owner_count ? " and" : ","),
                                       owners[i]);
            }
        }
    }
    cli_error(cmd->name, hint, "'%s' is not an option of %s", arg, cmd->name);
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli_take_fn take, void *ctx,
              int *first)
{
    size_t own = count_options(cmd->options);
    size_t shared = cmd->target ? count_options(target_options) : 0;
    struct option *longopts = calloc(own + shared + 2, sizeof *longopts);
    /* ':' first: a missing value is reported as ':', an unknown option as
     * '?'; at most two characters per option. */
    char *shortopts = calloc(2 * (own + shared) + 4, 1);
    if (longopts == NULL || shortopts == NULL) {
        free(longopts);
        free(shortopts);
        cli_error(cmd->name, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    size_t n = 0, s = 0;
    shortopts[s++] = ':';
    for (size_t k = 0; k < own + shared; k++) {
        const cli_option *o = k < own ? &cmd->options[k] : &target_options[k - own];
        int value = k < own ? OWN_VALUE + (int)k : TARGET_VALUE + (int)(k - own);
        longopts[n++] = (struct option){o->name, o->value != NULL ? required_argument : no_argument,
                                        NULL, value};
        if (o->short_name != 0) {
            shortopts[s++] = o->short_name;
            if (o->value != NULL) {
                shortopts[s++] = ':';
            }
        }
    }
    longopts[n++] = (struct option){"help", no_argument, NULL, HELP_VALUE};
    shortopts[s++] = 'h';

    int code = EXIT_OK;
    optind = 1;
    opterr = 0;
    int c;
    while (code == EXIT_OK && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == HELP_VALUE || c == 'h') {
            cli_print_help(cmd, stdout);
            code = CLI_HELP;
        } else if (c == ':') {
            cli_error(cmd->name, NULL, "'%s' needs a value", argv[optind - 1]);
            code = EXIT_USAGE;
        } else if (c == '?') {
            /* optopt is the letter of an unknown short option, 0 for a long
             * one (then argv[optind - 1] is the word given). */
            char word[3] = {'-', (char)optopt, '\0'};
            unknown_option(cmd, optopt != 0 ? word : argv[optind - 1]);
            code = EXIT_USAGE;
        } else if (c >= TARGET_VALUE) {
            code = take(ctx, CLI_TARGET_OPTION + (c - TARGET_VALUE), optarg);
        } else if (c >= OWN_VALUE) {
            code = take(ctx, c - OWN_VALUE, optarg);
        } else {
            /* A short option: find which. */
            for (size_t k = 0; k < own + shared; k++) {
                const cli_option *o = k < own ? &cmd->options[k] : &target_options[k - own];
                if (o->short_name == c) {
                    code = take(ctx, k < own ? (int)k : CLI_TARGET_OPTION + (int)(k - own), optarg);
                    break;
                }
            }
        }
    }
    free(longopts);
    free(shortopts);
    *first = optind;
    return code;
}

/* ---- Help --------------------------------------------------------------- */

/* Option texts start in this column and end before HELP_WIDTH. */
#define HELP_COLUMN 26
#define HELP_WIDTH  80

/* Prints `text` in words from `column` on, wrapped to HELP_WIDTH with the
 * following lines indented to HELP_COLUMN; a '\n' in it is a space. */
static void print_wrapped(const char *text, int column, FILE *out)
{
    if (column >= HELP_COLUMN) {
        fputc('\n', out);
        column = 0;
    }
    fprintf(out, "%*s", HELP_COLUMN - column, "");
    column = HELP_COLUMN;
    bool line_start = true;
    while (*text != '\0') {
        while (*text == ' ' || *text == '\n') {
            text++;
        }
        size_t len = strcspn(text, " \n");
        if (len == 0) {
            break;
        }
        if (!line_start && column + 1 + (int)len > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_COLUMN, "");
            column = HELP_COLUMN;
            line_start = true;
        }
        if (!line_start) {
            fputc(' ', out);
            column++;
        }
        fprintf(out, "%.*s", (int)len, text);
        column += (int)len;
        line_start = false;
        text += len;
    }
    fputc('\n', out);
}

static void print_options(const cli_option *options, FILE *out)
{
    for (size_t i = 0; options != NULL && options[i].name != NULL; i++) {
        const cli_option *o = &options[i];
        int n = fprintf(out, "  %c%c%c --%s%s%s", o->short_name ? '-' : ' ',
                        o->short_name ? o->short_name : ' ', o->short_name ? ',' : ' ', o->name,
                        o->value != NULL ? " " : "", o->value != NULL ? o->value : "");
        print_wrapped(o->help, n, out);
    }
}

void cli_print_help(const cli_command *cmd, FILE *out)
{
    fprintf(out, "usage: stm32isp %s\n\n%s\n", cmd->usage, cmd->about);
    if (count_options(cmd->options) > 0) {
        fprintf(out, "\noptions:\n");
        print_options(cmd->options, out);
    }
    if (cmd->target) {
        fprintf(out, "\nconnection (every command that talks to a target):\n");
        print_options(target_options, out);
    }
    static const cli_option help[] = {{"help", 'h', NULL, "this text"}, {NULL, 0, NULL, NULL}};
    if (!cmd->target && count_options(cmd->options) == 0) {
        fprintf(out, "\noptions:\n");
    }
    print_options(help, out);
}

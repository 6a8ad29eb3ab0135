/*
 * What the stm32isp commands share: exit codes, messages, number parsing,
 * and the option tables from which each command's parsing and --help are
 * made. Every command is one cmd_*.c file defining one cli_command; main.c
 * holds the table of them.
 */
#ifndef STM32ISP_TOOL_CLI_H
#define STM32ISP_TOOL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, documented in docs/cli.md. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_GENERIC = 1, /* the operation ran and failed */
    EXIT_USAGE = 2,           /* bad command line: nothing was done */
    EXIT_IO = 3,              /* a file or port could not be read or written */
    EXIT_IMAGE_REFUSED = 4,   /* the image is malformed or does not fit: nothing erased */
    EXIT_PROTECTED = 5,       /* readout protection is active: nothing erased */
    EXIT_INTERRUPTED = 130,   /* Ctrl-C: stopped between two commands (128 + SIGINT) */
};

/* Prints "stm32isp <cmd>: <message>" and, when hint is not NULL, a second
 * line saying what to do. */
void cli_error(const char *cmd, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A number in C notation (decimal, 0x hex, 0 octal) that fits 32 bits, with
 * nothing after it; false otherwise. */
bool cli_parse_u32(const char *text, uint32_t *out);
/* The same with a K or M suffix (x1024, x1048576), for lengths. */
bool cli_parse_length(const char *text, uint32_t *out);

/* ---- Options ------------------------------------------------------------ */

/* One option of a command. A table of them ends with {NULL}; the option's
 * index in its table is what cli_parse() hands to the command. */
typedef struct cli_option {
    const char *name;  /* long name, without "--" */
    char short_name;   /* one letter, or 0 */
    const char *value; /* the value's name in --help; NULL: the option takes none */
    const char *help;  /* what it does; lines after the first start with "\n" */
} cli_option;

typedef struct cli_command cli_command;

struct cli_command {
    const char *name;
    const char *summary; /* one line, for `stm32isp --help` */
    const char *usage;   /* what follows "usage: stm32isp " */
    const char *about;   /* the paragraphs before the options */
    const cli_option *options;
    bool target; /* also takes the target options (--port, --baud ...) */
    int (*run)(const cli_command *cmd, int argc, char **argv);
};

/* Options of the commands that talk to a target (target.c), numbered after
 * a command's own: option index CLI_TARGET_OPTION + i is target_options[i]. */
#define CLI_TARGET_OPTION 1000
extern const cli_option target_options[];

/* Receives one option given on the command line: its index (see above) and
 * its value (NULL for a flag). Returns EXIT_OK, or an exit code after
 * saying what is wrong. */
typedef int (*cli_take_fn)(void *ctx, int option, const char *value);

/*
 * Parses argv[1..] against the command's options (and the target options
 * if it takes them): nothing else is accepted. Options may come before,
 * between and after the positional arguments; "--" ends them. Returns
 * EXIT_OK with the positional arguments moved to argv[*first..argc-1],
 * CLI_HELP after printing --help, or EXIT_USAGE after saying what is wrong.
 */
#define CLI_HELP (-1)
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_take_fn take, void *ctx,
              int *first);

/* The command's --help: usage, text, then every option it takes. */
void cli_print_help(const cli_command *cmd, FILE *out);

/* The commands, in the order `stm32isp --help` lists them (main.c). */
extern const cli_command cmd_probe, cmd_flash, cmd_verify, cmd_read, cmd_erase, cmd_go, cmd_reset,
    cmd_protect, cmd_unprotect, cmd_master, cmd_pack, cmd_info, cmd_load, cmd_sim;
extern const cli_command *const cli_commands[];
extern const size_t cli_command_count;

#endif

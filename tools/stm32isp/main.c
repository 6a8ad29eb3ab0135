/*
 * stm32isp: the PC side of the project. Each command is one cmd_*.c file
 * defining a cli_command; this file holds the table of them and
 * dispatches.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#ifndef STM32ISP_VERSION
#define STM32ISP_VERSION "0.1.0"
#endif

const cli_command *const cli_commands[] = {
    &cmd_probe,   &cmd_flash,     &cmd_verify, &cmd_read, &cmd_erase,  &cmd_go,   &cmd_reset,
    &cmd_protect, &cmd_unprotect, &cmd_pack,   &cmd_info, &cmd_master, &cmd_load, &cmd_sim,
};
const size_t cli_command_count = sizeof cli_commands / sizeof cli_commands[0];

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < cli_command_count; i++) {
        if (strcmp(cli_commands[i]->name, name) == 0) {
            return cli_commands[i];
        }
    }
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: stm32isp COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < cli_command_count; i++) {
        fprintf(out, "  %-10s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
    }
    fprintf(out, "\n'stm32isp help COMMAND' (or 'stm32isp COMMAND --help') describes a command;\n"
                 "'stm32isp --version' prints the version.\n"
                 "Exit codes: 0 success, 1 the operation failed, 2 bad command line,\n"
                 "3 a file or port could not be used, 4 the image was refused (nothing\n"
                 "erased), 5 the target is readout-protected (nothing erased), 130 stopped\n"
                 "by Ctrl-C (the message says what state the target is in).\n");
}

static int unknown_command(const char *name)
{
    fprintf(stderr,
            "stm32isp: unknown command '%s'\n  hint: 'stm32isp --help' lists the commands\n", name);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        printf("stm32isp %s\n", STM32ISP_VERSION);
        return EXIT_OK;
    }
    if (strcmp(first, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return EXIT_OK;
        }
        const cli_command *cmd = find_command(argv[2]);
        if (cmd == NULL || argc > 3) {
            return cmd == NULL ? unknown_command(argv[2])
                               : (fprintf(stderr, "stm32isp help: give one command\n"), EXIT_USAGE);
        }
        cli_print_help(cmd, stdout);
        return EXIT_OK;
    }
    const cli_command *cmd = find_command(first);
    if (cmd == NULL) {
        return unknown_command(first);
    }
    return cmd->run(cmd, argc - 1, argv + 1);
}

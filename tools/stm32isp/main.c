/*
 * stm32isp: the PC side of the project. Each subcommand lives in its own
 * cmd_*.c file; this file only dispatches.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef STM32ISP_VERSION
#define STM32ISP_VERSION "0.1.0"
#endif

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"probe", cmd_probe, "identify the target: chip, bootloader, flash, protection"},
    {"flash", cmd_flash, "program an image (.bin, Intel HEX, SREC, ELF), verify, start"},
    {"read", cmd_read, "read memory into a file"},
    {"erase", cmd_erase, "erase the whole flash or the pages of a range"},
    {"go", cmd_go, "start code at an address with the Go command"},
    {"protect", cmd_protect, "set readout or write protection"},
    {"unprotect", cmd_unprotect, "remove readout (erases the flash) or write protection"},
    {"pack", cmd_pack, "pack firmware files into an image container or EEPROM dump"},
    {"info", cmd_info, "show and check an image container or EEPROM dump"},
    {"master", cmd_master, "run the master board's flashing job from an EEPROM image file"},
    {"load", cmd_load, "write an image into the master board's EEPROM through its console"},
    {"sim", cmd_sim, "simulate an STM32 ROM bootloader on a pseudo-terminal"},
};

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

static void usage(FILE *out)
{
    fprintf(out, "usage: stm32isp COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    }
    fprintf(out, "\n'stm32isp COMMAND --help' describes a command.\n"
                 "Exit codes: 0 success, 1 the operation failed, 2 bad command line,\n"
                 "3 a file or port could not be used, 4 the image was refused (nothing\n"
                 "erased), 5 the target is readout-protected (nothing erased).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("stm32isp %s\n", STM32ISP_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            return subcommands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr,
            "stm32isp: unknown command '%s'\n  hint: 'stm32isp --help' lists the commands\n",
            argv[1]);
    return EXIT_USAGE;
}

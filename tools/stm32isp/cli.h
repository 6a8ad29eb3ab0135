/* Shared pieces of the stm32isp command line: exit codes and messages. */
#ifndef STM32ISP_TOOL_CLI_H
#define STM32ISP_TOOL_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes, documented in docs/cli.md. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_GENERIC = 1, /* the operation ran and failed */
    EXIT_USAGE = 2,           /* bad command line: nothing was done */
    EXIT_IO = 3,              /* a file or port could not be read or written */
    EXIT_IMAGE_REFUSED = 4,   /* the image is malformed or does not fit: nothing erased */
    EXIT_PROTECTED = 5,       /* readout protection is active: nothing erased */
};

/* Prints "stm32isp <cmd>: <message>" and, when hint is not NULL, a second
 * line saying what to do. */
void cli_error(const char *cmd, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A number in C notation (decimal, 0x hex, 0 octal) that fits 32 bits, with
 * nothing after it; false otherwise. */
bool cli_parse_u32(const char *text, uint32_t *out);

int cmd_sim(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_flash(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_erase(int argc, char **argv);
int cmd_go(int argc, char **argv);
int cmd_protect(int argc, char **argv);
int cmd_unprotect(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_master(int argc, char **argv);
int cmd_load(int argc, char **argv);

#endif

/*
 * ARM semihosting (the "Semihosting for AArch32 and AArch64" specification):
 * the firmware asks the debugger, here QEMU with -semihosting-config
 * enable=on,target=native, to do I/O on the host. A BKPT 0xAB with the
 * operation in r0 and a parameter block in r1. On a board without a
 * debugger BKPT faults: only the QEMU board uses this.
 */
#ifndef FW_SEMIHOSTING_H
#define FW_SEMIHOSTING_H

#include <stddef.h>
#include <stdint.h>

/* Open modes (ISO C fopen modes, in the specification's order). */
#define SH_MODE_RB      1 /* "rb" */
#define SH_MODE_RB_PLUS 3 /* "r+b" */
#define SH_MODE_WB_PLUS 7 /* "w+b" */

/* Returns a handle, or -1. */
int sh_open(const char *name, int mode);
int sh_close(int fd);
/* Returns the number of bytes NOT transferred (0: all), or -1. */
int sh_write(int fd, const void *buf, size_t len);
int sh_read(int fd, void *buf, size_t len);
/* Returns 0, or negative. */
int sh_seek(int fd, uint32_t pos);
/* The file's length, or -1. */
long sh_flen(int fd);
/* Prints a NUL-terminated string on the host's stderr. */
void sh_write0(const char *s);
/* The command line the host gives the program (QEMU: the kernel's name and
 * -append). Returns 0 with `buf` NUL-terminated, or -1. */
int sh_get_cmdline(char *buf, size_t size);
/* Ends the emulation with an exit code (QEMU exits with code & 0xFF). */
__attribute__((noreturn)) void sh_exit(int code);

#endif /* FW_SEMIHOSTING_H */

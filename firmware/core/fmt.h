/*
 * Number formatting for plain-text output, instead of printf (which would
 * bring newlib's formatted I/O, a few KiB of flash, into the firmware).
 */
#ifndef FW_FMT_H
#define FW_FMT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_U32_MAX 11 /* "4294967295" and the NUL */

/* Writes `v` in decimal with a NUL into `out` (FMT_U32_MAX bytes); returns
 * the length. */
size_t fmt_u32(char *out, uint32_t v);

/* Writes `v` as exactly `digits` (1..8) upper-case hex digits and a NUL;
 * returns `digits`. */
size_t fmt_hex(char *out, uint32_t v, unsigned digits);

#endif /* FW_FMT_H */

/*
 * The console: plain lines of text on a USART (USART2 to the PC), and line
 * input with echo and backspace. Output is polled, so it also works from a
 * fault handler; input arrives through the USART's receive interrupt.
 */
#ifndef FW_CONSOLE_H
#define FW_CONSOLE_H

#include "usart.h"

#include <stddef.h>
#include <stdint.h>

#define CONSOLE_LINE_MAX 80

void console_init(usart *u);

/* Writes `s`; "\n" goes out as "\r\n" for terminals. */
void console_write(const char *s);
void console_write_u32(uint32_t v);
/* "0x" and `digits` hex digits. */
void console_write_hex(uint32_t v, unsigned digits);

/*
 * Collects one line of input (ended by CR, LF or CR LF), echoing it, with
 * backspace. Returns the line's length with the line in `buf` (NUL
 * terminated, at most `size` - 1 characters: the rest is dropped), or -1
 * when `timeout_ms` passes first; the characters typed so far are kept for
 * the next call. 0 waits not at all.
 */
int console_readline(char *buf, size_t size, uint32_t timeout_ms);

/*
 * Raw bytes, for the binary load protocol: no echo, no line editing, no
 * CR LF translation. console_read() returns as soon as at least one byte
 * is there (up to `len`), or 0 once `timeout_ms` has passed without one.
 */
size_t console_read(uint8_t *buf, size_t len, uint32_t timeout_ms);
void console_write_bytes(const uint8_t *buf, size_t len);

#endif /* FW_CONSOLE_H */

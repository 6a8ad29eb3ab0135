/*
 * Formatted console output with a formatter of our own: %s, %u, %X and %%,
 * with the 'l' of PRIu32/PRIX32 on the MCU; a width only on %X, which always
 * pads with zeros ("0x%03X"). One call per line keeps the application small;
 * newlib's printf, with its formatted I/O and heap, is not linked.
 */
#ifndef FW_OUT_H
#define FW_OUT_H

__attribute__((format(printf, 1, 2))) void out(const char *fmt, ...);

#endif /* FW_OUT_H */

/*
 * The PC port of the client library: a Linux serial device through termios
 * (8E1, raw), with the target's BOOT0 and NRST on the adapter's modem lines
 * (RTS/DTR) or on Linux GPIO lines. docs/serial-and-reset.md explains the
 * wiring and the --reset-seq grammar.
 */
#ifndef STM32ISP_PC_SERIAL_H
#define STM32ISP_PC_SERIAL_H

#include "stm32isp/port.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pc_line_kind {
    PC_LINE_NONE,
    PC_LINE_RTS,
    PC_LINE_DTR,
    PC_LINE_GPIO,
} pc_line_kind;

/* Where one target signal (BOOT0 or NRST) is wired. */
typedef struct pc_line {
    pc_line_kind kind;
    bool inverted;   /* '!' in the spec: the adapter inverts the line */
    char chip[64];   /* GPIO: /dev/gpiochipN */
    unsigned offset; /* GPIO: line offset on that chip */
    int request_fd;  /* GPIO: the line request, once taken; -1 before */
} pc_line;

typedef struct pc_serial {
    int fd;
    uint32_t baud;
    char path[256];
    pc_line boot0, nrst;
    /* From --reset-seq's pulse= and wait= (ms); 0 where not given: the
     * library's defaults (stm32isp_config.reset_pulse_ms; boot_wait_ms,
     * a floor under the library's schedule of waits). */
    uint16_t reset_pulse_ms, boot_wait_ms;
    /* Optional: receives the library's log lines (see port.h). */
    void (*log)(void *ctx, stm32isp_log_level level, const char *msg);
    void *log_ctx;
} pc_serial;

/*
 * Opens `path` (a serial device or a pseudo-terminal) exclusively, raw,
 * 8 data bits, even parity, 1 stop bit, no flow control, at `baud` (a
 * standard rate from 1200 to 921600), and discards stale input. A pty takes
 * the parity setting without carrying it, which is what the simulator
 * expects. Returns 0, or -1 with a one-line reason in err that says what to
 * do (missing path, not a terminal, busy, permission).
 */
int pc_serial_open(pc_serial *s, const char *path, uint32_t baud, char *err, size_t err_size);
void pc_serial_close(pc_serial *s);

/* The rates pc_serial_open() takes: 1200 to 921600 baud, the standard ones. */
bool pc_serial_rate_supported(uint32_t baud);
#define PC_SERIAL_RATES                                                                            \
    "1200 2400 4800 9600 19200 38400 57600 115200 230400 460800 500000 576000 921600"

/* Switches an open port to no parity (8N1), as the master's console uses.
 * Returns 0, or -1 with errno set. */
int pc_serial_set_8n1(pc_serial *s);

/*
 * Wiring of BOOT0 and NRST, e.g. "nrst=rts,boot0=!dtr" or
 * "nrst=gpio:gpiochip0:17,boot0=gpio:gpiochip0:27", and optionally the
 * reset's timing: "pulse=MS" (NRST held low) and "wait=MS" (from NRST's
 * release to the first byte), 1 to 10000 ms each. LINE is rts, dtr or
 * gpio:CHIP:OFFSET, with '!' in front when an inverter (a transistor) sits
 * between the line and the target pin. Polarity, without '!': the modem
 * pins RTS# and DTR# are active low, so "on" drives them low and "nrst=rts"
 * holds the target in reset while RTS is on; a GPIO's level is the target
 * pin's level (an NRST GPIO is an open-drain output). Modem lines on a
 * pseudo-terminal are refused (a pty has none); call it after
 * pc_serial_open() for that check. Returns 0, or -1 with the reason in err.
 */
int pc_serial_set_reset_seq(pc_serial *s, const char *spec, char *err, size_t err_size);
bool pc_serial_has_reset_lines(const pc_serial *s);

/* The ops table for the library; the context is the pc_serial. */
extern const stm32isp_port_ops pc_serial_ops;         /* BOOT0/NRST through the wiring */
extern const stm32isp_port_ops pc_serial_ops_no_pins; /* the target is already in its bootloader */

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_PC_SERIAL_H */

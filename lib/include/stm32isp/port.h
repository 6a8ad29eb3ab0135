/*
 * The hardware boundary of the client: one const ops table per platform
 * (the master MCU's USART and GPIOs, a PC serial port, the simulator), and a
 * context pointer the library hands back to every call.
 *
 * The library never blocks outside these functions and never waits without a
 * bound: every wait is a read with a timeout or a delay of a known length.
 */
#ifndef STM32ISP_PORT_H
#define STM32ISP_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum stm32isp_log_level {
    STM32ISP_LOG_ERROR,
    STM32ISP_LOG_WARN,
    STM32ISP_LOG_INFO,
    STM32ISP_LOG_DEBUG,
} stm32isp_log_level;

typedef struct stm32isp_port_ops {
    /*
     * Reads up to `len` bytes received from the target. Returns as soon as at
     * least one byte is available, or when `timeout_ms` has passed with none.
     * Returns the number of bytes read (0 on timeout), or a negative value on
     * a port error (the library reports STM32ISP_ERR_PORT). Required.
     */
    int (*read)(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms);

    /*
     * Sends all `len` bytes to the target, in order, and returns 0 once they
     * are handed to the hardware (not necessarily on the wire yet), or a
     * negative value on a port error. Required.
     */
    int (*write)(void *ctx, const uint8_t *buf, size_t len);

    /*
     * A monotonic millisecond clock; it may wrap (the library only uses
     * differences). Required: every timeout is measured with it.
     */
    uint32_t (*now_ms)(void *ctx);

    /* Waits `ms` milliseconds. Required. */
    void (*delay_ms)(void *ctx, uint32_t ms);

    /*
     * Drives the target's BOOT0 pin (true = high = system memory). Returns 0
     * or negative on error. NULL when the port has no BOOT0 line: the target
     * must then be put in its bootloader by other means.
     */
    int (*set_boot0)(void *ctx, bool high);

    /*
     * Drives the target's NRST pin: true holds the target in reset (NRST
     * low), false releases it (open drain: the line is let go, not driven
     * high). Returns 0 or negative on error. NULL when there is no NRST line.
     */
    int (*set_reset)(void *ctx, bool asserted);

    /*
     * Sets the link's baud rate (8 data bits, even parity, 1 stop bit).
     * Returns 0 or negative on error. NULL when the rate is fixed.
     */
    int (*set_baud)(void *ctx, uint32_t baud);

    /*
     * Receives one line about what the library is doing. `msg` is a constant
     * string (the library formats nothing). May be NULL.
     */
    void (*log)(void *ctx, stm32isp_log_level level, const char *msg);
} stm32isp_port_ops;

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_PORT_H */

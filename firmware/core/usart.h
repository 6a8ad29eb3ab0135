/*
 * USART driver for the STM32F10x (RM0008 section 27): reception through
 * the RXNE interrupt into a ring buffer, polled transmission. Polling the
 * transmitter keeps the driver simple and works in QEMU, whose USART model
 * does not raise TXE/TC interrupts; the receiver must not lose a byte while
 * the main loop is busy, so it is interrupt-driven.
 */
#ifndef FW_USART_H
#define FW_USART_H

#include "ringbuf.h"
#include "stm32f1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum usart_framing {
    USART_8N1,
    USART_8E1, /* the STM32 bootloader's framing: 9-bit word with even parity */
} usart_framing;

typedef struct usart {
    usart_regs *regs;
    uint32_t pclk_hz;
    usart_framing framing;
    ringbuf rx;
    /* Receive errors seen, for diagnostics (the byte is still queued: the
     * protocol's checksums decide what to do with it). */
    volatile uint32_t parity_errors, framing_errors, overruns;
} usart;

/*
 * Configures and enables one USART (clock, registers, interrupt). The
 * caller has enabled the peripheral clock and sets the pins up afterwards,
 * so that the TX pin becomes an output only once the USART drives it idle
 * (high). `rx_buf_size` must be a power of two. Only USART1 and USART2.
 */
void usart_init(usart *u, usart_regs *regs, uint32_t pclk_hz, uint32_t baud, usart_framing framing,
                uint8_t *rx_buf, uint32_t rx_buf_size);

/* Changes the baud rate after the last byte has left. Returns 0, or -1
 * when the rate cannot be reached within 3 % from this clock. */
int usart_set_baud(usart *u, uint32_t baud);

/* Takes up to `len` received bytes; never waits. */
size_t usart_read(usart *u, uint8_t *buf, size_t len);

/* Forgets every byte received so far. */
void usart_flush_rx(usart *u);

/* Sends `len` bytes, waiting for room for each (bounded: a transmitter that
 * never frees up is a failure, not a hang). Returns 0 or -1. */
int usart_write(usart *u, const uint8_t *buf, size_t len);

/* Waits (bounded) until the last byte written has left the shift register. */
void usart_drain(usart *u);

/* The interrupt's work, called from the vector (exposed for it only). */
void usart_irq(usart *u);

/* BRR value for a baud rate from a peripheral clock (16x oversampling,
 * rounded to the nearest): host-testable arithmetic. */
static inline uint32_t usart_brr(uint32_t pclk_hz, uint32_t baud)
{
    return (pclk_hz + baud / 2u) / baud;
}

#endif /* FW_USART_H */

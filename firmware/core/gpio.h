/*
 * GPIO pins of the STM32F10x: a pin is a port and a number; its mode is one
 * of the 4-bit configurations of RM0008 section 9.2.1 (GPIO_CFG_* in
 * stm32f1.h). Boards name their pins in board.c; drivers take them as
 * parameters.
 */
#ifndef FW_GPIO_H
#define FW_GPIO_H

#include "stm32f1.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct gpio_pin {
    gpio_regs *port;
    uint8_t pin; /* 0..15 */
} gpio_pin;

/*
 * Sets the pin's output level (or, for an input with pull, up or down)
 * first and then its configuration, so that an output never shows the
 * wrong level for an instant (a glitch on the target's NRST or on its RX
 * line is exactly what must not happen).
 */
void gpio_config(gpio_pin p, uint32_t cfg, bool level);

static inline void gpio_write(gpio_pin p, bool high)
{
    /* BSRR: one store, atomic against the interrupt handlers. */
    p.port->BSRR = high ? (1u << p.pin) : (1u << (p.pin + 16u));
}

static inline bool gpio_read(gpio_pin p)
{
    return (p.port->IDR >> p.pin) & 1u;
}

#endif /* FW_GPIO_H */

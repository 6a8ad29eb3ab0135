/*
 * The pins of the software I2C master (i2c_bitbang.h) on an STM32F10x: two
 * GPIOs in open-drain output mode (whose input register still reads the
 * line) and the Cortex-M3 cycle counter (DWT CYCCNT) for the
 * sub-microsecond waits, as the ticks of i2c_pins' fast path.
 * The lines need external pull-ups (2.2-4.7 kOhm to 3.3 V): the F1 has
 * no pull-up in open-drain output mode.
 */
#ifndef FW_I2C_GPIO_H
#define FW_I2C_GPIO_H

#include "gpio.h"
#include "i2c_bitbang.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct i2c_gpio {
    gpio_pin scl, sda;
    uint32_t scl_bit, sda_bit; /* each pin's bit in its port's registers */
    uint32_t cpu_mhz;
    bool cycle_counter; /* false: the waits fall back to a counted loop */
} i2c_gpio;

/* Configures both pins released (high) and starts the cycle counter. */
void i2c_gpio_init(i2c_gpio *g, gpio_pin scl, gpio_pin sda, uint32_t cpu_hz);

extern const i2c_pins i2c_gpio_pins;

#endif /* FW_I2C_GPIO_H */

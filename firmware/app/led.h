/*
 * The status LED's patterns (docs/firmware.md, "LED"). The pattern is a
 * pure function of the time since it was chosen, so the SysTick interrupt
 * can drive the pin every millisecond while the main loop is busy with a
 * job, and the host can test it.
 *
 *   idle     a 50 ms flash every 2 s: powered, waiting
 *   busy     5 Hz: a job, a load or a console command is running
 *   ok       steady on: the last run succeeded
 *   error    N flashes of 250 ms, a 1.5 s pause, repeated: the error class
 */
#ifndef FW_LED_H
#define FW_LED_H

#include "stm32isp/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum led_mode {
    LED_IDLE,
    LED_BUSY,
    LED_OK,
    LED_ERROR,
} led_mode;

/* Written by the main loop, read by the interrupt: a torn read lasts one
 * millisecond of a wrong level at worst. */
typedef struct led {
    volatile uint8_t mode;
    volatile uint8_t blinks;
    volatile uint32_t since_ms;
} led;

/* Error classes, as the number of flashes. */
enum {
    LED_BLINKS_TARGET = 1,    /* the target does not answer properly: wiring, BOOT0/NRST, baud */
    LED_BLINKS_EEPROM = 2,    /* the EEPROM does not answer or its bus fails */
    LED_BLINKS_IMAGE = 3,     /* no valid image in the EEPROM */
    LED_BLINKS_WRONG = 4,     /* the image is not for this target (PID, size, address) */
    LED_BLINKS_PROTECTED = 5, /* the target is readout protected */
    LED_BLINKS_PROGRAM = 6,   /* erase, write or verify failed */
};

void led_show(led *l, led_mode mode, uint8_t blinks, uint32_t now_ms);

/* Shows a result: ok, or the error class of `err`. */
void led_show_result(led *l, stm32isp_err err, uint32_t now_ms);

/* Whether the LED is lit at `now_ms`. */
bool led_level(const led *l, uint32_t now_ms);

/* The number of flashes for an error (LED_BLINKS_*). */
uint8_t led_error_blinks(stm32isp_err err);

#endif /* FW_LED_H */

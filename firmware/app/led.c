#include "led.h"

#define IDLE_PERIOD_MS  2000u
#define IDLE_ON_MS      50u
#define BUSY_PERIOD_MS  200u
#define BLINK_PERIOD_MS 500u
#define BLINK_ON_MS     250u
#define ERROR_PAUSE_MS  1500u

/* Indexed by stm32isp_err: the class a user can count on the LED. */
static const uint8_t blinks_of[STM32ISP_ERR__COUNT] = {
    [STM32ISP_ERR_NO_SYNC] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_TIMEOUT] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_BAD_REPLY] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_NACK] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_READ_PROTECTED] = LED_BLINKS_PROTECTED,
    [STM32ISP_ERR_UNSUPPORTED] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_PORT] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_NO_RESET_LINES] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_UNKNOWN_DEVICE] = LED_BLINKS_WRONG,
    [STM32ISP_ERR_ADDRESS] = LED_BLINKS_WRONG,
    [STM32ISP_ERR_IMAGE_TOO_LARGE] = LED_BLINKS_WRONG,
    [STM32ISP_ERR_ERASE_FAILED] = LED_BLINKS_PROGRAM,
    [STM32ISP_ERR_WRITE_FAILED] = LED_BLINKS_PROGRAM,
    [STM32ISP_ERR_VERIFY] = LED_BLINKS_PROGRAM,
    [STM32ISP_ERR_PROTECT_FAILED] = LED_BLINKS_PROTECTED,
    [STM32ISP_ERR_INVALID_ARG] = LED_BLINKS_PROGRAM,
    [STM32ISP_ERR_IMAGE_SOURCE] = LED_BLINKS_IMAGE,
    [STM32ISP_ERR_NOT_CONNECTED] = LED_BLINKS_TARGET,
    [STM32ISP_ERR_EEPROM_NACK] = LED_BLINKS_EEPROM,
    [STM32ISP_ERR_EEPROM_BUS] = LED_BLINKS_EEPROM,
    [STM32ISP_ERR_EEPROM_TIMEOUT] = LED_BLINKS_EEPROM,
    [STM32ISP_ERR_NO_CONTAINER] = LED_BLINKS_IMAGE,
    [STM32ISP_ERR_CONTAINER_VERSION] = LED_BLINKS_IMAGE,
    [STM32ISP_ERR_CONTAINER_HEADER] = LED_BLINKS_IMAGE,
    [STM32ISP_ERR_CONTAINER_PAYLOAD] = LED_BLINKS_IMAGE,
    [STM32ISP_ERR_DEVICE_NOT_ALLOWED] = LED_BLINKS_WRONG,
};

uint8_t led_error_blinks(stm32isp_err err)
{
    if ((unsigned)err >= STM32ISP_ERR__COUNT || blinks_of[err] == 0) {
        return LED_BLINKS_PROGRAM; /* whatever else went wrong while programming */
    }
    return blinks_of[err];
}

void led_show(led *l, led_mode mode, uint8_t blinks, uint32_t now_ms)
{
    l->mode = (uint8_t)mode;
    l->blinks = blinks;
    l->since_ms = now_ms;
}

void led_show_result(led *l, stm32isp_err err, uint32_t now_ms)
{
    if (err == STM32ISP_OK) {
        led_show(l, LED_OK, 0, now_ms);
    } else {
        led_show(l, LED_ERROR, led_error_blinks(err), now_ms);
    }
}

bool led_level(const led *l, uint32_t now_ms)
{
    uint32_t t = now_ms - l->since_ms;
    switch ((led_mode)l->mode) {
    case LED_IDLE:
        return t % IDLE_PERIOD_MS < IDLE_ON_MS;
    case LED_BUSY:
        return t % BUSY_PERIOD_MS < BUSY_PERIOD_MS / 2u;
    case LED_OK:
        return true;
    case LED_ERROR: {
        uint32_t flashes = (uint32_t)l->blinks * BLINK_PERIOD_MS;
        t %= flashes + ERROR_PAUSE_MS;
        return t < flashes && t % BLINK_PERIOD_MS < BLINK_ON_MS;
    }
    }
    return false;
}

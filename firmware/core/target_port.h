/*
 * The library's port (stm32isp/port.h) on the master MCU: the target's
 * USART at 8E1, its BOOT0 and NRST pins, and SysTick for time. Boards put
 * these functions into their own stm32isp_port_ops table, leaving out the
 * pin functions where they have no pins.
 */
#ifndef FW_TARGET_PORT_H
#define FW_TARGET_PORT_H

#include "gpio.h"
#include "usart.h"

#include "stm32isp/port.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct target_port {
    usart *link;
    gpio_pin boot0; /* push-pull output, high selects system memory */
    gpio_pin nrst;  /* open-drain output: low holds the target in reset */
    /* Lowest library log level that reaches the console (STM32ISP_LOG_*);
     * messages above it are dropped. */
    stm32isp_log_level log_level;
} target_port;

int target_port_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms);
int target_port_write(void *ctx, const uint8_t *buf, size_t len);
uint32_t target_port_now_ms(void *ctx);
void target_port_delay_ms(void *ctx, uint32_t ms);
int target_port_set_boot0(void *ctx, bool high);
int target_port_set_reset(void *ctx, bool asserted);
int target_port_set_baud(void *ctx, uint32_t baud);
void target_port_log(void *ctx, stm32isp_log_level level, const char *msg);

#endif /* FW_TARGET_PORT_H */

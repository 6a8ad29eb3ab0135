/*
 * The library's port (stm32isp/port.h) on the master MCU: the target's
 * USART at 8E1, its BOOT0 and NRST pins, and SysTick for time. Boards put
 * these functions into their own stm32isp_port_ops table, leaving out the
 * pin functions where they have no pins.
 *
 * Between jobs the master lets the target's lines go: its TX and BOOT0 are
 * floating inputs and NRST is released, so an application that uses those
 * pins never finds the master driving against it (external resistors hold
 * the levels: docs/wiring.md). The first write or pin change of a job
 * takes the lines (TX in its alternate function, BOOT0 driven, low unless
 * asked otherwise); target_port_release() lets them go when the job ends,
 * whatever its result.
 */
#ifndef FW_TARGET_PORT_H
#define FW_TARGET_PORT_H

#include "gpio.h"
#include "usart.h"

#include "stm32isp/port.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long BOOT0 stays driven low after NRST was last let go (and after
 * the master's own reset) before it is released: see target_port.c. */
#define TARGET_BOOT0_HOLD_MS 50u

typedef struct target_port {
    usart *link;
    gpio_pin tx;    /* the link's TX pin; port NULL: a board without lines to take */
    gpio_pin boot0; /* push-pull output while taken, high selects system memory */
    gpio_pin nrst;  /* open-drain output: low holds the target in reset */
    bool engaged;   /* the lines are taken for a job (BOOT0 driven) */
    /* systick_ms() when NRST was last let go; 0 for the master's reset. */
    uint32_t nrst_released_ms;
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

/*
 * Lets the target's lines go after a job (or at power-up): waits until the
 * last byte has left the USART and BOOT0 has been low for
 * TARGET_BOOT0_HOLD_MS since NRST was last let go (at most that long),
 * then makes TX and BOOT0 floating inputs and leaves NRST released. Does
 * nothing when the lines are not taken, or the board has none.
 */
void target_port_release(target_port *p);

#endif /* FW_TARGET_PORT_H */

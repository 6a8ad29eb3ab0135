#include "target_port.h"

#include "console.h"
#include "cortexm.h"
#include "systick.h"

int target_port_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    target_port *p = ctx;
    uint32_t start = systick_ms();
    for (;;) {
        size_t n = usart_read(p->link, buf, len);
        if (n > 0) {
            return (int)n;
        }
        if (systick_ms() - start >= timeout_ms) {
            return 0;
        }
        /* Masked, so that a byte landing between the check and the sleep
         * still wakes the core (WFI wakes on a pending interrupt). */
        cpu_irq_disable();
        if (ringbuf_level(&p->link->rx) == 0) {
            cpu_wait_for_interrupt();
        }
        cpu_irq_enable();
    }
}

/* Takes the lines for a job, before its first byte or pin change: BOOT0
 * driven low (the caller sets the level it wants next) and NRST let go,
 * then TX in its alternate function, which the USART (enabled since
 * board_init) already holds idle high, so the target never sees an edge
 * it could take for the start of its autobaud byte. */
static void engage(target_port *p)
{
    if (p->engaged || p->tx.port == NULL) {
        return;
    }
    gpio_config(p->nrst, GPIO_CFG_OUT_OD_2MHZ, true);
    gpio_config(p->boot0, GPIO_CFG_OUT_PP_2MHZ, false);
    gpio_config(p->tx, GPIO_CFG_AF_PP_10MHZ, true);
    p->engaged = true;
}

int target_port_write(void *ctx, const uint8_t *buf, size_t len)
{
    target_port *p = ctx;
    engage(p);
    return usart_write(p->link, buf, len);
}

uint32_t target_port_now_ms(void *ctx)
{
    (void)ctx;
    return systick_ms();
}

void target_port_delay_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    systick_delay_ms(ms);
}

int target_port_set_boot0(void *ctx, bool high)
{
    target_port *p = ctx;
    engage(p);
    gpio_write(p->boot0, high);
    return 0;
}

int target_port_set_reset(void *ctx, bool asserted)
{
    target_port *p = ctx;
    engage(p);
    /* Open drain: writing 1 lets the line go, the target's pull-up
     * raises it. */
    gpio_write(p->nrst, !asserted);
    if (!asserted) {
        p->nrst_released_ms = systick_ms();
    }
    return 0;
}

void target_port_release(target_port *p)
{
    if (!p->engaged) {
        return;
    }
    usart_drain(p->link); /* the last byte leaves whole (bounded: 20 ms) */
    /* The target takes its boot mode from BOOT0 as it leaves reset: the
     * BOOT pins are latched a few clock cycles after NRST rises (RM0008
     * §3.4). NRST rises only after the target's power-on reset delay
     * (tRSTTEMPO, datasheet §5.3.3) and as fast as its pull-up can charge
     * the capacitor on the line, milliseconds after the master let it go;
     * and at power-up the target's own reset ends about when the master's
     * does. A BOOT0 floated before then may be latched high, and the
     * target would start its bootloader instead of its application. So
     * BOOT0 stays low for TARGET_BOOT0_HOLD_MS (many times a 100 nF
     * capacitor's charging time), bounded by that. */
    while (systick_ms() - p->nrst_released_ms < TARGET_BOOT0_HOLD_MS) {
        cpu_wait_for_interrupt();
    }
    gpio_config(p->tx, GPIO_CFG_INPUT_FLOATING, true);
    gpio_config(p->boot0, GPIO_CFG_INPUT_FLOATING, false);
    gpio_config(p->nrst, GPIO_CFG_OUT_OD_2MHZ, true);
    p->engaged = false;
}

int target_port_set_baud(void *ctx, uint32_t baud)
{
    target_port *p = ctx;
    return usart_set_baud(p->link, baud);
}

void target_port_log(void *ctx, stm32isp_log_level level, const char *msg)
{
    const target_port *p = ctx;
    if (level > p->log_level) {
        return;
    }
    console_write(level == STM32ISP_LOG_ERROR  ? "target: error: "
                  : level == STM32ISP_LOG_WARN ? "target: warning: "
                                               : "target: ");
    console_write(msg);
    console_write("\n");
}

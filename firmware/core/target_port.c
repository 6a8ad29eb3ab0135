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

int target_port_write(void *ctx, const uint8_t *buf, size_t len)
{
    target_port *p = ctx;
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
    gpio_write(p->boot0, high);
    return 0;
}

int target_port_set_reset(void *ctx, bool asserted)
{
    target_port *p = ctx;
    /* Open drain: writing 1 lets the line go, the target's pull-up
     * raises it. */
    gpio_write(p->nrst, !asserted);
    return 0;
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

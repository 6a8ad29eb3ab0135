#include "systick.h"

#include "cortexm.h"
#include "startup.h"

/* SysTick is the least urgent interrupt: the USART receivers must never
 * wait behind it. */
#define SYSTICK_PRIORITY 0xC0u

static volatile uint32_t ticks;
static void (*volatile tick_hook)(uint32_t now_ms);

void systick_handler(void)
{
    uint32_t now = ticks + 1u;
    ticks = now;
    void (*hook)(uint32_t) = tick_hook;
    if (hook != NULL) {
        hook(now);
    }
}

void systick_set_hook(void (*hook)(uint32_t now_ms))
{
    tick_hook = hook;
}

void systick_init(uint32_t clock_hz)
{
    uint32_t reload = clock_hz / 1000u - 1u;
    if (reload > SYSTICK_LOAD_MAX) {
        reload = SYSTICK_LOAD_MAX;
    }
    SYSTICK->CTRL = 0;
    SYSTICK->LOAD = reload;
    SYSTICK->VAL = 0;
    SCB->SHPR3 = (SCB->SHPR3 & 0x00FFFFFFu) | (SYSTICK_PRIORITY << 24);
    SYSTICK->CTRL = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
}

uint32_t systick_ms(void)
{
    return ticks;
}

void systick_delay_ms(uint32_t ms)
{
    uint32_t start = ticks;
    /* `<=`: the first tick may come at once, so one more makes the minimum. */
    while (ticks - start <= ms) {
        cpu_wait_for_interrupt();
    }
}

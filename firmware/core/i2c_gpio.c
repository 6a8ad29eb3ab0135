#include "i2c_gpio.h"

#include "cortexm.h"
#include "systick.h"

void i2c_gpio_init(i2c_gpio *g, gpio_pin scl, gpio_pin sda, uint32_t cpu_hz)
{
    g->scl = scl;
    g->sda = sda;
    g->cpu_mhz = (cpu_hz + 999999u) / 1000000u;
    /* 2 MHz output speed: the gentlest edges, well inside fast mode's
     * 300 ns fall time; the pull-up makes the rising edge anyway. */
    gpio_config(scl, GPIO_CFG_OUT_OD_2MHZ, true);
    gpio_config(sda, GPIO_CFG_OUT_OD_2MHZ, true);

    DEMCR |= DEMCR_TRCENA;
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    uint32_t before = DWT_CYCCNT;
    for (volatile int i = 0; i < 4; i++) {
    }
    /* Some F103 clones leave the counter out; it then reads still. */
    g->cycle_counter = DWT_CYCCNT != before;
}

static void pin_scl(void *ctx, bool release)
{
    const i2c_gpio *g = ctx;
    gpio_write(g->scl, release);
}

static void pin_sda(void *ctx, bool release)
{
    const i2c_gpio *g = ctx;
    gpio_write(g->sda, release);
}

static bool read_scl(void *ctx)
{
    const i2c_gpio *g = ctx;
    return gpio_read(g->scl);
}

static bool read_sda(void *ctx)
{
    const i2c_gpio *g = ctx;
    return gpio_read(g->sda);
}

static void delay_ns(void *ctx, uint32_t ns)
{
    const i2c_gpio *g = ctx;
    uint32_t cycles = (ns * g->cpu_mhz + 999u) / 1000u;
    if (g->cycle_counter) {
        uint32_t start = DWT_CYCCNT;
        while (DWT_CYCCNT - start < cycles) {
        }
    } else {
        /* Each pass takes more than one cycle: never shorter than asked. */
        for (volatile uint32_t i = 0; i < cycles; i++) {
        }
    }
}

static uint32_t now_ms(void *ctx)
{
    (void)ctx;
    return systick_ms();
}

const i2c_pins i2c_gpio_pins = {
    .scl = pin_scl,
    .sda = pin_sda,
    .scl_read = read_scl,
    .sda_read = read_sda,
    .delay_ns = delay_ns,
    .now_ms = now_ms,
};

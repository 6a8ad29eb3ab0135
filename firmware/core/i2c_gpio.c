#include "i2c_gpio.h"

#include "cortexm.h"
#include "systick.h"

#include <stddef.h>

void i2c_gpio_init(i2c_gpio *g, gpio_pin scl, gpio_pin sda, uint32_t cpu_hz)
{
    g->scl = scl;
    g->sda = sda;
    g->scl_bit = 1u << scl.pin;
    g->sda_bit = 1u << sda.pin;
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

/* ---- The six plain operations ------------------------------------------------ */

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

/* ---- The fast path: ticks are CPU cycles ---------------------------------------
 *
 * Leaf functions that write BSRR and read IDR themselves, with as few
 * branches as can be: every instruction here is time the bus spends in a
 * phase. They assume the cycle counter; without one ticks_of_ns() says
 * so and the driver uses the plain operations above. */

/* Reads of a released SCL before giving up on seeing it high: each takes
 * several cycles (an APB2 load, a test, a branch), so 16 outlast the
 * slowest rise a bus may have (1 us) at 72 MHz. */
#define RISE_POLLS 16u

static uint32_t ticks_of_ns(void *ctx, uint32_t ns)
{
    const i2c_gpio *g = ctx;
    if (!g->cycle_counter) {
        return 0u;
    }
    /* ceil(ns * MHz / 1000), without overflow for any ns. */
    return ns / 1000u * g->cpu_mhz + (ns % 1000u * g->cpu_mhz + 999u) / 1000u;
}

/*
 * The edge: once `n` cycles have passed since the cycle count `since`,
 * writes `value` to the port's BSRR (the low half sets: lets the line go,
 * open drain; the high half resets: pulls it low; one store, atomic
 * against interrupts, RM0008 9.1.2 and 9.2.5), reads the port's IDR back
 * into `*idr` and returns the cycle count read after that.
 *
 * In assembly for one reason: the store is made in the same loop pass as
 * the check that found the time up (an IT block), so that no branch and no
 * other code lies between the deadline and the edge. The read-back cannot
 * complete before the store has (the core's one-entry write buffer drains
 * first, Cortex-M3 TRM 3.5; accesses to one port stay in order), so the
 * count is never taken before the edge and a phase measured from it can
 * only come out longer. Bounded: the counter runs (init checked it).
 */
static inline __attribute__((always_inline)) uint32_t
edge_at(gpio_regs *port, uint32_t value, uint32_t since, uint32_t n, uint32_t *idr)
{
    uint32_t t, in;
    __asm__ volatile("1:  ldr   %[t], [%[cyccnt]]\n"
                     "    subs  %[t], %[t], %[since]\n"
                     "    cmp   %[t], %[n]\n"
                     "    ittt  cs\n"
                     "    strcs %[value], [%[port], %[bsrr]]\n"
                     "    ldrcs %[in], [%[port], %[idr]]\n"
                     "    ldrcs %[t], [%[cyccnt]]\n"
                     "    bcc   1b\n"
                     : [t] "=&r"(t), [in] "=&r"(in)
                     : [cyccnt] "r"(&DWT_CYCCNT), [since] "r"(since), [n] "r"(n),
                       [value] "r"(value), [port] "r"(port), [bsrr] "I"(offsetof(gpio_regs, BSRR)),
                       [idr] "I"(offsetof(gpio_regs, IDR))
                     : "cc", "memory");
    *idr = in;
    return t;
}

static uint32_t scl_low_at(void *ctx, uint32_t since, uint32_t n)
{
    const i2c_gpio *g = ctx;
    uint32_t idr;
    return edge_at(g->scl.port, g->scl_bit << 16, since, n, &idr);
}

static uint32_t sda_at(void *ctx, bool release, uint32_t since, uint32_t n)
{
    const i2c_gpio *g = ctx;
    uint32_t idr;
    /* Set (bit) or reset (bit << 16), without a branch. */
    return edge_at(g->sda.port, g->sda_bit << (16u * !release), since, n, &idr);
}

/* SCL let go but not high yet: a slow rise, or a slave stretching the
 * clock. Reads it until it is high, a bounded number of times (stretching
 * is the driver's business); returns the last read. */
static __attribute__((noinline)) uint32_t poll_high(const i2c_gpio *g)
{
    uint32_t idr;
    unsigned polls = 0;
    do {
        idr = g->scl.port->IDR;
    } while ((idr & g->scl_bit) == 0u && ++polls < RISE_POLLS);
    return idr;
}

/* SCL let go; what follows counts from when it reads high (the pull-up
 * makes the rise; IDR samples the pin every APB2 clock, RM0008 9.1.8), and
 * SDA is read then, while SCL is high. */
static inline __attribute__((always_inline)) uint32_t rise_at(void *ctx, uint32_t since, uint32_t n,
                                                              unsigned *lines)
{
    const i2c_gpio *g = ctx;
    uint32_t idr;
    uint32_t rose = edge_at(g->scl.port, g->scl_bit, since, n, &idr);
    if ((idr & g->scl_bit) == 0u) {
        idr = poll_high(g);
        rose = DWT_CYCCNT; /* after the read that saw it high */
    }
    *lines = ((idr >> g->scl.pin) & 1u) * I2C_SCL_HIGH |
             ((g->sda.port->IDR >> g->sda.pin) & 1u) * I2C_SDA_HIGH;
    return rose;
}

static uint32_t scl_rise_at(void *ctx, uint32_t since, uint32_t n, unsigned *lines)
{
    return rise_at(ctx, since, n, lines);
}

/* The one of every bit: the whole high phase inside, so that nothing but
 * the wait lies between the rise and the fall. */
static uint32_t scl_pulse_at(void *ctx, uint32_t since, uint32_t n, uint32_t high, unsigned *lines)
{
    const i2c_gpio *g = ctx;
    uint32_t rose = rise_at(ctx, since, n, lines);
    if ((*lines & I2C_SCL_HIGH) == 0u) {
        return rose;
    }
    uint32_t idr;
    return edge_at(g->scl.port, g->scl_bit << 16, rose, high, &idr);
}

const i2c_pins i2c_gpio_pins = {
    .scl = pin_scl,
    .sda = pin_sda,
    .scl_read = read_scl,
    .sda_read = read_sda,
    .delay_ns = delay_ns,
    .now_ms = now_ms,
    .ticks_of_ns = ticks_of_ns,
    .scl_low_at = scl_low_at,
    .sda_at = sda_at,
    .scl_rise_at = scl_rise_at,
    .scl_pulse_at = scl_pulse_at,
};

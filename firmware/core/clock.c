/*
 * Clock tree set-up for the STM32F10x (RM0008 section 7.2).
 */
#include "clock.h"

#include "stm32f1.h"

#define HSI_HZ        8000000u
#define SYSCLK_MAX_HZ 72000000u

/*
 * Bounds of the busy waits, in polls of a status bit (a few cycles each at
 * the 8 MHz the core runs on here). 0x20000 polls are well over 50 ms, many
 * times the crystal's typical start-up of 2 ms and the PLL's lock time of
 * 200 us; they only ever run out when the part is missing (no crystal) or
 * the RCC is not really there (an emulator).
 */
#define OSC_START_POLLS 0x20000u
#define PLL_LOCK_POLLS  0x20000u
#define SWITCH_POLLS    0x1000u

static int wait_bits(const volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t polls)
{
    for (uint32_t i = 0; i < polls; i++) {
        if ((*reg & mask) == want) {
            return 0;
        }
    }
    return -1;
}

/* Flash wait states for a core clock, with the prefetch buffer on. */
static void set_flash_latency(uint32_t hz)
{
#ifdef FW_BENCH_BREAK_FLASH_LATENCY
    /* Only in a build that exists to prove the virtual bench catches this
     * mistake (tests/bluepill): 0 wait states at 72 MHz. */
    (void)hz;
    uint32_t ws = 0;
#else
    uint32_t ws = hz <= 24000000u ? 0u : hz <= 48000000u ? 1u : 2u;
#endif
    FLASH->ACR = (FLASH->ACR & ~FLASH_ACR_LATENCY_MASK) | FLASH_ACR_PRFTBE | FLASH_ACR_LATENCY(ws);
}

/* Back to the reset state: HSI as the system clock, PLL off. The HSI is
 * never switched off here (the core runs on it until a switch succeeds),
 * so there is no start-up to wait for. */
static void run_on_hsi(void)
{
    RCC->CR |= RCC_CR_HSION;
    RCC->CFGR &= ~RCC_CFGR_SW_MASK;
    (void)wait_bits(&RCC->CFGR, RCC_CFGR_SWS_MASK, 0, SWITCH_POLLS);
    RCC->CR &= ~RCC_CR_PLLON;
    (void)wait_bits(&RCC->CR, RCC_CR_PLLRDY, 0, PLL_LOCK_POLLS);
}

/*
 * Starts the PLL from `pll_src_bits` with multiplier `mul` and switches the
 * system clock to it. APB1 is divided by 2 (it must stay at or below
 * 36 MHz); AHB and APB2 run at the system clock. Returns 0, or -1 with the
 * system back on the HSI.
 */
static int run_on_pll(uint32_t pll_src_bits, uint32_t mul, uint32_t sysclk_hz)
{
    uint32_t cfgr = RCC->CFGR;
    cfgr &= ~(RCC_CFGR_HPRE_MASK | RCC_CFGR_PPRE1_MASK | RCC_CFGR_PPRE2_MASK | RCC_CFGR_PLLSRC_HSE |
              RCC_CFGR_PLLXTPRE | RCC_CFGR_PLLMUL_MASK | RCC_CFGR_USBPRE | RCC_CFGR_MCO_MASK);
    cfgr |= pll_src_bits | RCC_CFGR_PLLMUL(mul) | RCC_CFGR_PPRE1_DIV2;
    RCC->CFGR = cfgr;
    RCC->CR |= RCC_CR_PLLON;
    if (wait_bits(&RCC->CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY, PLL_LOCK_POLLS) != 0) {
        run_on_hsi();
        return -1;
    }
    /* More wait states first: the switch makes the core faster at once. */
    set_flash_latency(sysclk_hz);
    RCC->CFGR = (RCC->CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL;
    if (wait_bits(&RCC->CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL, SWITCH_POLLS) != 0) {
        run_on_hsi();
        set_flash_latency(HSI_HZ);
        return -1;
    }
    return 0;
}

clock_info clock_init(uint32_t hse_hz)
{
    clock_info info = {.source = CLOCK_HSI, .sysclk_hz = HSI_HZ};
    run_on_hsi();
    set_flash_latency(HSI_HZ);

    uint32_t mul = hse_hz != 0 ? SYSCLK_MAX_HZ / hse_hz : 0;
    if (mul > 16u) {
        mul = 16u;
    }
    if (mul >= 2u) {
        RCC->CR = (RCC->CR & ~RCC_CR_HSEBYP) | RCC_CR_HSEON;
        if (wait_bits(&RCC->CR, RCC_CR_HSERDY, RCC_CR_HSERDY, OSC_START_POLLS) == 0 &&
            run_on_pll(RCC_CFGR_PLLSRC_HSE, mul, hse_hz * mul) == 0) {
            info.source = CLOCK_HSE_PLL;
            info.sysclk_hz = hse_hz * mul;
        } else {
            /* A crystal that did not start is switched off, so that it
             * cannot come up half-way later and disturb anything. */
            RCC->CR &= ~RCC_CR_HSEON;
        }
    }
    if (info.source == CLOCK_HSI) {
        const uint32_t hsi_pll_hz = HSI_HZ / 2u * 16u;
        if (run_on_pll(0, 16u, hsi_pll_hz) == 0) {
            info.source = CLOCK_HSI_PLL;
            info.sysclk_hz = hsi_pll_hz;
        }
    }
    if (info.source == CLOCK_HSI) {
        /* No PLL: APB1 need not be divided. */
        RCC->CFGR &= ~(RCC_CFGR_HPRE_MASK | RCC_CFGR_PPRE1_MASK | RCC_CFGR_PPRE2_MASK);
        info.pclk1_hz = info.sysclk_hz;
    } else {
        info.pclk1_hz = info.sysclk_hz / 2u;
    }
    info.pclk2_hz = info.sysclk_hz;
    return info;
}

const char *clock_source_name(clock_source source)
{
    switch (source) {
    case CLOCK_HSE_PLL:
        return "crystal (HSE) through the PLL";
    case CLOCK_HSI_PLL:
        return "internal RC (HSI) through the PLL: no crystal";
    case CLOCK_HSI:
    default:
        return "internal RC (HSI) alone: no crystal, no PLL";
    }
}

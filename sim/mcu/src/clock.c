/*
 * RCC and the clock tree (RM0008 section 7: 7.2 clocks, 7.3 registers;
 * start-up times from the STM32F103x8/xB datasheet, tables 22-27).
 *
 * SYSCLK is the HSI (8 MHz, off by cfg.hsi_ppm), the HSE (cfg.hse_hz, or
 * none) or the PLL (HSI/2 or HSE or HSE/2, times 2..16). HCLK, PCLK1 and
 * PCLK2 follow the AHB and APB prescalers. A clock switch takes effect when
 * the source is ready, as RM0008 7.3.2 (SW) describes; a clock out of the
 * datasheet's limits stops the run.
 */
#include "internal.h"

#define CR_HSION      (1u << 0)
#define CR_HSIRDY     (1u << 1)
#define CR_HSEON      (1u << 16)
#define CR_HSERDY     (1u << 17)
#define CR_HSEBYP     (1u << 18)
#define CR_CSSON      (1u << 19)
#define CR_PLLON      (1u << 24)
#define CR_PLLRDY     (1u << 25)
#define CR_WRITABLE   (CR_HSION | (0x1Fu << 3) | CR_HSEON | CR_HSEBYP | CR_CSSON | CR_PLLON)
#define CFGR_PLL_BITS (0xFu << 18 | 1u << 17 | 1u << 16)
#define SW_HSI        0u
#define SW_HSE        1u
#define SW_PLL        2u

/* Datasheet DS5319: tSU(HSE) 2 ms typical for an 8 MHz crystal (table 22),
 * tsu(HSI) 2 us at most (table 24), tLOCK 200 us at most (table 27; no
 * typical is given, so the bound is used). */
#define HSE_STARTUP_PS (2000ull * 1000000ull)
#define HSI_STARTUP_PS (2ull * 1000000ull)
#define PLL_LOCK_PS    (200ull * 1000000ull)
#define HSI_HZ         8000000u
#define PLL_OUT_MIN_HZ 16000000u /* DS5319 table 27 */
#define SYSCLK_MAX_HZ  72000000u
#define PCLK1_MAX_HZ   36000000u

static uint32_t hsi_hz(const vmcu *m)
{
    return (uint32_t)((int64_t)HSI_HZ + (int64_t)HSI_HZ * m->cfg.hsi_ppm / 1000000);
}

static bool ready(const vmcu *m, uint64_t at)
{
    return at != NEVER && m->now_ps >= at;
}

static bool source_ready(const vmcu *m, uint32_t sw)
{
    switch (sw) {
    case SW_HSI:
        return (m->rcc.cr & CR_HSION) != 0 && ready(m, m->rcc.hsi_ready_ps);
    case SW_HSE:
        return (m->rcc.cr & CR_HSEON) != 0 && ready(m, m->rcc.hse_ready_ps);
    case SW_PLL:
        return (m->rcc.cr & CR_PLLON) != 0 && ready(m, m->rcc.pll_ready_ps);
    default:
        return false;
    }
}

static uint32_t pll_hz(const vmcu *m)
{
    uint32_t cfgr = m->rcc.cfgr;
    uint32_t mul = ((cfgr >> 18) & 0xFu) + 2u;
    if (mul > 16u) {
        mul = 16u; /* 1110 and 1111 both mean x16 */
    }
    uint32_t in;
    if ((cfgr & (1u << 16)) == 0) {
        in = hsi_hz(m) / 2u;
    } else {
        in = (cfgr & (1u << 17)) != 0 ? m->cfg.hse_hz / 2u : m->cfg.hse_hz;
    }
    return in * mul;
}

uint32_t rcc_sysclk_hz(const vmcu *m)
{
    switch (m->rcc.sws) {
    case SW_HSE:
        return m->cfg.hse_hz;
    case SW_PLL:
        return pll_hz(m);
    default:
        return hsi_hz(m);
    }
}

static uint32_t ahb_divider(uint32_t hpre)
{
    static const uint32_t div[8] = {2, 4, 8, 16, 64, 128, 256, 512};
    return (hpre & 8u) != 0 ? div[hpre & 7u] : 1u;
}

static uint32_t apb_divider(uint32_t ppre)
{
    return (ppre & 4u) != 0 ? 2u << (ppre & 3u) : 1u;
}

/* Recomputes HCLK and the APB clocks and tells the peripherals that count
 * with them. */
static void clocks_changed(vmcu *m)
{
    rcc_state *r = &m->rcc;
    uint32_t old_hclk = r->hclk_hz;
    uint32_t sysclk = rcc_sysclk_hz(m);
    r->hclk_hz = sysclk / ahb_divider((r->cfgr >> 4) & 0xFu);
    r->pclk1_hz = r->hclk_hz / apb_divider((r->cfgr >> 8) & 7u);
    r->pclk2_hz = r->hclk_hz / apb_divider((r->cfgr >> 11) & 7u);
    if (sysclk > SYSCLK_MAX_HZ) {
        vmcu_request_stop(m, VMCU_STOP_INVALID,
                          "SYSCLK %u Hz is above the F103's 72 MHz (RM0008 7.2, DS5319 table 9)",
                          sysclk);
    } else if (r->pclk1_hz > PCLK1_MAX_HZ) {
        vmcu_request_stop(m, VMCU_STOP_INVALID,
                          "PCLK1 %u Hz is above the APB1 limit of 36 MHz (RM0008 7.2): set PPRE1",
                          r->pclk1_hz);
    }
    if (old_hclk != 0 && old_hclk != r->hclk_hz) {
        systick_clock_changed(m, old_hclk);
        usart_clock_changed(m);
    }
}

void rcc_reset(vmcu *m)
{
    rcc_state *r = &m->rcc;
    /* RM0008 7.3.10: the reset flags survive a system reset. */
    uint32_t csr_flags = r->csr & 0xFF000000u;
    r->cr = CR_HSION | CR_HSIRDY | (16u << 3) | (0x5Au << 8); /* HSITRIM 16, a factory HSICAL */
    r->cfgr = 0;
    r->cir = 0;
    r->ahbenr = 0x14u; /* SRAMEN, FLITFEN */
    r->apb2enr = 0;
    r->apb1enr = 0;
    r->csr = csr_flags;
    r->hsi_ready_ps = 0;
    r->hse_ready_ps = NEVER;
    r->pll_ready_ps = NEVER;
    r->sws = SW_HSI;
    r->hclk_hz = 0; /* SysTick and the USARTs are reset with everything else */
    clocks_changed(m);
}

bool rcc_clock_on(vmcu *m, uint32_t base)
{
    const rcc_state *r = &m->rcc;
    if (base == RCC_BASE || base == FLASH_BASE || base == IWDG_BASE) {
        return true; /* no enable bit: FLITFEN only gates the clock in Sleep mode */
    }
    if (base == CRC_BASE) {
        return (r->ahbenr & (1u << 6)) != 0;
    }
    /* RM0008 7.3.7/7.3.8: on each APB the enable bit's position is the
     * peripheral's 1 KiB slot number (AFIO 0, GPIOA 2 .. USART1 14 on
     * APB2; USART2 17, USART3 18 on APB1). */
    if (base >= AFIO_BASE) {
        return (r->apb2enr & (1u << (((base - AFIO_BASE) >> 10) & 31u))) != 0;
    }
    return (r->apb1enr & (1u << (((base - APB_START) >> 10) & 31u))) != 0;
}

uint32_t rcc_read(vmcu *m, unsigned unit, uint32_t offset)
{
    (void)unit; /* one of a kind */
    rcc_state *r = &m->rcc;
    switch (offset) {
    case 0x00: {
        uint32_t cr = r->cr & ~(CR_HSIRDY | CR_HSERDY | CR_PLLRDY);
        cr |= source_ready(m, SW_HSI) ? CR_HSIRDY : 0u;
        cr |= source_ready(m, SW_HSE) ? CR_HSERDY : 0u;
        cr |= source_ready(m, SW_PLL) ? CR_PLLRDY : 0u;
        return cr;
    }
    case 0x04:
        return (r->cfgr & ~0xCu) | r->sws << 2;
    case 0x08:
        return r->cir;
    case 0x0C:
    case 0x10:
        return 0; /* reset registers: the model resets at once */
    case 0x14:
        return r->ahbenr;
    case 0x18:
        return r->apb2enr;
    case 0x1C:
        return r->apb1enr;
    case 0x20:
        return r->bdcr;
    case 0x24:
        /* LSIRDY with LSION (tsu(LSI) 85 us is not modelled) or while the
         * watchdog forces the LSI on. */
        return r->csr | ((r->csr & 1u) != 0 || m->iwdg.running ? 2u : 0u);
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "read of RCC offset 0x%02x (not modelled)",
                          offset);
        return 0;
    }
}

static void write_cr(vmcu *m, uint32_t value)
{
    rcc_state *r = &m->rcc;
    uint32_t old = r->cr;
    uint32_t cr = (old & ~CR_WRITABLE) | (value & CR_WRITABLE);
    bool pll_sysclk = r->sws == SW_PLL || (r->cfgr & 3u) == SW_PLL;
    bool pll_from_hse = (r->cfgr & (1u << 16)) != 0;
    /* RM0008 7.3.1: a clock in use as SYSCLK (directly or through the
     * PLL) cannot be switched off; the bit stays set. */
    if ((cr & CR_HSION) == 0 && (r->sws == SW_HSI || (pll_sysclk && !pll_from_hse))) {
        cr |= CR_HSION;
    }
    if ((cr & CR_HSEON) == 0 && (r->sws == SW_HSE || (pll_sysclk && pll_from_hse))) {
        cr |= CR_HSEON;
    }
    if ((cr & CR_PLLON) == 0 && pll_sysclk) {
        cr |= CR_PLLON;
    }
    /* HSEBYP is writable only with the HSE off. */
    if ((old & CR_HSEON) != 0) {
        cr = (cr & ~CR_HSEBYP) | (old & CR_HSEBYP);
    }
    r->cr = cr;
    if ((cr & CR_HSION) != 0 && (old & CR_HSION) == 0) {
        r->hsi_ready_ps = m->now_ps + HSI_STARTUP_PS;
    }
    if ((cr & CR_HSEON) != 0 && (old & CR_HSEON) == 0) {
        /* No crystal (or no clock on OSC_IN with HSEBYP): HSERDY never sets. */
        r->hse_ready_ps = m->cfg.hse_hz != 0 ? m->now_ps + HSE_STARTUP_PS : NEVER;
    } else if ((cr & CR_HSEON) == 0) {
        r->hse_ready_ps = NEVER;
    }
    if ((cr & CR_PLLON) != 0 && (old & CR_PLLON) == 0) {
        uint32_t out = pll_hz(m);
        if (out < PLL_OUT_MIN_HZ || out > SYSCLK_MAX_HZ) {
            vmcu_request_stop(m, VMCU_STOP_INVALID,
                              "PLL started for %u Hz, outside the datasheet's 16-72 MHz "
                              "(DS5319 table 27)",
                              out);
        }
        uint64_t input_ready = (r->cfgr & (1u << 16)) != 0 ? r->hse_ready_ps : r->hsi_ready_ps;
        if ((r->cfgr & (1u << 16)) != 0 && (cr & CR_HSEON) == 0) {
            input_ready = NEVER;
        }
        r->pll_ready_ps = input_ready == NEVER
                              ? NEVER
                              : (input_ready > m->now_ps ? input_ready : m->now_ps) + PLL_LOCK_PS;
    } else if ((cr & CR_PLLON) == 0) {
        r->pll_ready_ps = NEVER;
    }
    vmcu_activity(m);
}

static void write_cfgr(vmcu *m, uint32_t value)
{
    rcc_state *r = &m->rcc;
    uint32_t cfgr = value & ~0xCu; /* SWS is read only */
    /* RM0008 7.3.2: PLLSRC, PLLXTPRE and PLLMUL only while the PLL is off. */
    if ((r->cr & CR_PLLON) != 0) {
        cfgr = (cfgr & ~CFGR_PLL_BITS) | (r->cfgr & CFGR_PLL_BITS);
    }
    if ((cfgr & 3u) == 3u) {
        vmcu_logf(m, "RCC_CFGR.SW = 11 is not allowed (RM0008 7.3.2): SYSCLK stays as it is");
        cfgr = (cfgr & ~3u) | r->sws;
    }
    r->cfgr = cfgr;
    rcc_events(m);
    clocks_changed(m);
    vmcu_activity(m);
}

void rcc_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value)
{
    (void)unit; /* one of a kind */
    rcc_state *r = &m->rcc;
    switch (offset) {
    case 0x00:
        write_cr(m, value);
        return;
    case 0x04:
        write_cfgr(m, value);
        return;
    case 0x08:
        r->cir = value & 0x00001F00u; /* enables; flags and clears not modelled */
        return;
    case 0x0C: /* APB2RSTR: the USARTs are reset at once (the others are not modelled) */
        if ((value & (1u << 14)) != 0) {
            usart_reset_one(m, 0);
        }
        return;
    case 0x10: /* APB1RSTR */
        for (unsigned i = 1; i < 3; i++) {
            if ((value & (1u << (16u + i))) != 0) {
                usart_reset_one(m, i);
            }
        }
        return;
    case 0x14:
        r->ahbenr = value & 0x557u;
        return;
    case 0x18:
        r->apb2enr = value & 0x0038FFFDu; /* bits 0, 2-15, 19-21 */
        return;
    case 0x1C:
        r->apb1enr = value & 0x3AFEC83Fu;
        return;
    case 0x20:
        r->bdcr = value;
        return;
    case 0x24:
        if ((value & (1u << 24)) != 0) {
            r->csr &= 0x00FFFFFFu; /* RMVF clears the reset flags */
        }
        r->csr = (r->csr & ~1u) | (value & 1u);
        return;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "write of RCC offset 0x%02x (not modelled)",
                          offset);
        return;
    }
}

/* A clock switch waits for its source (RM0008 7.3.2). */
uint64_t rcc_next_event(const vmcu *m)
{
    const rcc_state *r = &m->rcc;
    uint32_t sw = r->cfgr & 3u;
    if (sw == r->sws) {
        return NEVER;
    }
    uint64_t at = sw == SW_HSE ? r->hse_ready_ps : sw == SW_PLL ? r->pll_ready_ps : r->hsi_ready_ps;
    return at;
}

void rcc_events(vmcu *m)
{
    rcc_state *r = &m->rcc;
    uint32_t sw = r->cfgr & 3u;
    if (sw != r->sws && source_ready(m, sw)) {
        r->sws = sw;
        clocks_changed(m);
    }
}

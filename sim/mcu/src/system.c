/*
 * The core's peripherals (PM0056 section 4: SysTick 4.5, NVIC 4.3, SCB 4.4;
 * DWT's cycle counter from the ARMv7-M architecture manual) and two small
 * STM32 peripherals: the independent watchdog (RM0008 section 19) and the
 * CRC unit (RM0008 section 4).
 */
#include "internal.h"

#define SYST_ENABLE    (1u << 0)
#define SYST_TICKINT   (1u << 1)
#define SYST_CLKSOURCE (1u << 2)
#define SYST_COUNTFLAG (1u << 16)
/* STK_CALIB on the F103: TENMS = 9000, 1 ms at 9 MHz = 72 MHz / 8 (PM0056
 * 4.5.4; unconfirmed whether NOREF/SKEW read 0). */
#define SYST_CALIB    9000u
#define CPUID_M3_R1P1 0x411FC231u
#define AIRCR_VECTKEY 0x05FAu
#define LSI_HZ        40000u /* DS5319 table 25: 30..60 kHz, typically 40 */

/* ------------------------------------------------------------------------- */
/* SysTick                                                                    */

static uint64_t tick_ps(const vmcu *m)
{
    uint64_t hz = m->rcc.hclk_hz;
    if ((m->systick.ctrl & SYST_CLKSOURCE) == 0) {
        hz /= 8u; /* RM0008 7.2: the external clock is HCLK / 8 */
    }
    return hz != 0 ? 1000000000000ull / hz : NEVER;
}

static bool systick_counting(const vmcu *m)
{
    return (m->systick.ctrl & SYST_ENABLE) != 0;
}

/* Ticks until the counter next reaches 0 from `val`: a counter at 0 loads
 * LOAD at the next tick and counts down from there. */
static uint64_t ticks_to_zero(const vmcu *m, uint32_t val)
{
    return val != 0 ? val : (uint64_t)m->systick.load + 1u;
}

static uint32_t systick_value(const vmcu *m)
{
    const systick_state *s = &m->systick;
    if (!systick_counting(m) || s->load == 0) {
        return s->val_at_origin;
    }
    uint64_t k = (m->now_ps - s->origin_ps) / tick_ps(m);
    uint64_t v0 = s->val_at_origin;
    if (k <= v0) {
        return (uint32_t)(v0 - k);
    }
    uint64_t period = (uint64_t)s->load + 1u;
    uint64_t j = (k - v0) % period; /* ticks since the counter last reached 0 */
    return j == 0 ? 0u : (uint32_t)(period - j);
}

static uint64_t systick_zero_ps(const vmcu *m)
{
    const systick_state *s = &m->systick;
    if (!systick_counting(m) || s->load == 0) {
        return NEVER;
    }
    return s->origin_ps + ticks_to_zero(m, s->val_at_origin) * tick_ps(m);
}

static void systick_rebase(vmcu *m, uint32_t value)
{
    m->systick.origin_ps = m->now_ps;
    m->systick.val_at_origin = value;
}

void systick_clock_changed(vmcu *m, uint32_t old_hclk)
{
    (void)old_hclk;
    /* The value now was counted at the old rate: keep it, count on at the
     * new one. (origin_ps and the old tick length give it.) */
    uint32_t hclk = m->rcc.hclk_hz;
    m->rcc.hclk_hz = old_hclk;
    uint32_t v = systick_value(m);
    m->rcc.hclk_hz = hclk;
    systick_rebase(m, v);
}

/* ------------------------------------------------------------------------- */
/* Exceptions: what is pending and what may be taken                          */

static bool irq_enabled(const vmcu *m, unsigned irq)
{
    return (m->nvic_enabled[irq / 8] & (1u << (irq % 8))) != 0;
}

static bool irq_pending(const vmcu *m, unsigned irq)
{
    if ((m->nvic_pending[irq / 8] & (1u << (irq % 8))) != 0) {
        return true;
    }
    /* The USART lines are level sensitive: pending while asserted. */
    return irq >= IRQ_USART1 && irq < IRQ_USART1 + 3u && usart_irq_line(m, irq - IRQ_USART1);
}

static bool is_active(const vmcu *m, unsigned exc)
{
    for (unsigned i = 0; i < m->active_count; i++) {
        if (m->active[i] == exc) {
            return true;
        }
    }
    return false;
}

/* HardFault has the fixed priority -1 (PM0056 2.3.2). */
static int priority_of(const vmcu *m, unsigned exc)
{
    if (exc == EXC_HARDFAULT) {
        return -1;
    }
    if (exc == EXC_SYSTICK) {
        return (int)((m->shpr[2] >> 24) & 0xF0u);
    }
    return (int)(m->nvic_priority[exc - EXC_IRQ0] & 0xF0u);
}

/* The preempting part of a priority under AIRCR.PRIGROUP. */
static int group_of(const vmcu *m, int priority)
{
    unsigned sub_bits = m->aircr_prigroup + 1u;
    if (priority < 0 || sub_bits >= 8u) {
        return priority < 0 ? priority : 0;
    }
    return (int)((unsigned)priority & (0xFFu << sub_bits) & 0xFFu);
}

unsigned exception_to_take(vmcu *m, exception_test test)
{
    unsigned enabled = 0;
    for (unsigned i = 0; i < sizeof m->nvic_enabled; i++) {
        enabled |= m->nvic_enabled[i];
    }
    if (!m->systick_pending && enabled == 0) {
        return EXC_NONE; /* called between most blocks: the cheap answer first */
    }
    unsigned best = EXC_NONE;
    int best_priority = 0x100;
    if (m->systick_pending && !is_active(m, EXC_SYSTICK)) {
        best = EXC_SYSTICK;
        best_priority = priority_of(m, EXC_SYSTICK);
    }
    for (unsigned irq = 0; irq < IRQ_COUNT; irq++) {
        if (m->nvic_enabled[irq / 8] == 0) {
            irq |= 7u; /* none of these eight is enabled: the common case */
            continue;
        }
        if (!irq_enabled(m, irq) || !irq_pending(m, irq) || is_active(m, EXC_IRQ0 + irq)) {
            continue;
        }
        int p = priority_of(m, EXC_IRQ0 + irq);
        if (p < best_priority) {
            best = EXC_IRQ0 + irq;
            best_priority = p;
        }
    }
    if (best == EXC_NONE || test == EXCEPTION_PENDING) {
        return best;
    }
    int running = 0x100;
    for (unsigned i = 0; i < m->active_count; i++) {
        int p = group_of(m, priority_of(m, m->active[i]));
        running = p < running ? p : running;
    }
    uint32_t primask = 0, basepri = 0, faultmask = 0;
    uc_reg_read(m->uc, UC_ARM_REG_PRIMASK, &primask);
    uc_reg_read(m->uc, UC_ARM_REG_BASEPRI, &basepri);
    uc_reg_read(m->uc, UC_ARM_REG_FAULTMASK, &faultmask);
    /* WFI wakes on an exception that would preempt were PRIMASK clear:
     * BASEPRI, FAULTMASK and the running priority still count (PM0056
     * 2.5.2, "Wakeup from WFI"). */
    if (((primask & 1u) != 0 && test == EXCEPTION_TAKEN) || (faultmask & 1u) != 0) {
        return EXC_NONE;
    }
    basepri &= 0xF0u;
    if (basepri != 0 && group_of(m, (int)basepri) < running) {
        running = group_of(m, (int)basepri);
    }
    return group_of(m, best_priority) < running ? best : EXC_NONE;
}

/* ------------------------------------------------------------------------- */
/* The independent watchdog                                                   */

static uint64_t iwdg_timeout_ps(const vmcu *m)
{
    uint32_t pr = m->iwdg.pr > 6u ? 6u : m->iwdg.pr;
    uint64_t lsi_ticks = (4ull << pr) * ((uint64_t)m->iwdg.rlr + 1u);
    return lsi_ticks * (1000000000000ull / LSI_HZ);
}

void iwdg_refresh(vmcu *m)
{
    m->iwdg.expires_ps = m->now_ps + iwdg_timeout_ps(m);
}

void iwdg_reset(vmcu *m)
{
    iwdg_state *w = &m->iwdg;
    w->pr = 0;
    w->rlr = 0xFFFu;
    w->unlocked = false;
    /* USER option byte bit 0 (WDG_SW) = 0: the hardware watchdog starts
     * at reset (RM0008 19.3.2). */
    w->running = (m->cfg.option_bytes[2] & 1u) == 0;
    w->expires_ps = m->now_ps + iwdg_timeout_ps(m);
}

uint32_t iwdg_read(vmcu *m, unsigned unit, uint32_t offset)
{
    (void)unit; /* one of a kind */
    switch (offset) {
    case 0x00:
        return 0;
    case 0x04:
        return m->iwdg.pr;
    case 0x08:
        return m->iwdg.rlr;
    case 0x0C:
        return 0; /* PVU, RVU: updates take effect at once in the model */
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "read of IWDG offset 0x%02x (not modelled)",
                          offset);
        return 0;
    }
}

void iwdg_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value)
{
    (void)unit; /* one of a kind */
    iwdg_state *w = &m->iwdg;
    switch (offset) {
    case 0x00:
        switch (value & 0xFFFFu) {
        case 0xCCCCu:
            if (!w->running) {
                w->running = true;
                w->expires_ps = m->now_ps + iwdg_timeout_ps(m);
            }
            break;
        case 0xAAAAu:
            w->expires_ps = m->now_ps + iwdg_timeout_ps(m);
            w->unlocked = false;
            break;
        case 0x5555u:
            w->unlocked = true;
            break;
        default:
            w->unlocked = false;
            break;
        }
        return;
    case 0x04:
        if (w->unlocked) {
            w->pr = value & 7u;
        }
        return;
    case 0x08:
        if (w->unlocked) {
            w->rlr = value & 0xFFFu;
        }
        return;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "write of IWDG offset 0x%02x (not modelled)",
                          offset);
        return;
    }
}

/* ------------------------------------------------------------------------- */
/* The CRC unit: CRC-32, polynomial 0x04C11DB7, whole words, MSB first      */

uint32_t crc_read(vmcu *m, unsigned unit, uint32_t offset)
{
    (void)unit; /* one of a kind */
    switch (offset) {
    case 0x00:
        return m->crc_dr;
    case 0x04:
        return m->crc_idr;
    case 0x08:
        return 0;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "read of CRC offset 0x%02x (not modelled)",
                          offset);
        return 0;
    }
}

void crc_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value)
{
    (void)unit; /* one of a kind */
    switch (offset) {
    case 0x00: {
        uint32_t crc = m->crc_dr ^ value;
        for (int bit = 0; bit < 32; bit++) {
            crc = (crc & 0x80000000u) != 0 ? crc << 1 ^ 0x04C11DB7u : crc << 1;
        }
        m->crc_dr = crc;
        return;
    }
    case 0x04:
        m->crc_idr = value & 0xFFu;
        return;
    case 0x08:
        if ((value & 1u) != 0) {
            m->crc_dr = 0xFFFFFFFFu;
        }
        return;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "write of CRC offset 0x%02x (not modelled)",
                          offset);
        return;
    }
}

/* ------------------------------------------------------------------------- */
/* Events                                                                     */

uint64_t system_next_event(const vmcu *m)
{
    uint64_t e = systick_zero_ps(m);
    /* While the CPU is held the ROM model runs, and it refreshes the
     * watchdog as the real ROM does. */
    if (m->iwdg.running && m->cpu != CPU_HELD && m->iwdg.expires_ps < e) {
        e = m->iwdg.expires_ps;
    }
    return e;
}

void system_events(vmcu *m)
{
    uint64_t zero = systick_zero_ps(m);
    if (zero <= m->now_ps) {
        m->systick.countflag = true;
        if ((m->systick.ctrl & SYST_TICKINT) != 0) {
            m->systick_pending = true;
        }
        m->systick.origin_ps = zero;
        m->systick.val_at_origin = 0;
    }
    if (m->cpu == CPU_HELD) {
        m->iwdg.expires_ps = m->now_ps + iwdg_timeout_ps(m);
    } else if (m->iwdg.running && m->iwdg.expires_ps <= m->now_ps) {
        m->iwdg.expires_ps = NEVER;
        vmcu_system_reset_request(m, VMCU_RESET_WATCHDOG);
    }
}

/* ------------------------------------------------------------------------- */
/* The private peripheral bus                                                 */

void system_reset_core(vmcu *m)
{
    m->systick = (systick_state){.origin_ps = m->now_ps};
    m->systick_pending = false;
    m->vtor = 0;
    m->aircr_prigroup = 0;
    m->shpr[0] = m->shpr[1] = m->shpr[2] = 0;
    m->scr = 0;
    m->ccr = 0;
    m->demcr = 0;
    m->dwt_ctrl = 0;
    m->dwt_at_origin = 0;
    m->dwt_origin_cycles = m->cycles;
    for (unsigned i = 0; i < sizeof m->nvic_enabled; i++) {
        m->nvic_enabled[i] = 0;
        m->nvic_pending[i] = 0;
    }
    for (unsigned i = 0; i < IRQ_COUNT; i++) {
        m->nvic_priority[i] = 0;
    }
    m->active_count = 0;
}

static uint32_t dwt_cyccnt(const vmcu *m)
{
    if ((m->dwt_ctrl & 1u) == 0 || (m->demcr & (1u << 24)) == 0) {
        return m->dwt_at_origin;
    }
    return m->dwt_at_origin + (uint32_t)(m->cycles - m->dwt_origin_cycles);
}

static uint32_t bits_of(const uint8_t *bytes, uint32_t word)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        unsigned at = word * 4u + i;
        if (at < (IRQ_COUNT + 7u) / 8u) {
            v |= (uint32_t)bytes[at] << (8u * i);
        }
    }
    return v;
}

static void set_bits(uint8_t *bytes, uint32_t word, uint32_t value, bool set)
{
    for (unsigned i = 0; i < 4; i++) {
        unsigned at = word * 4u + i;
        if (at < (IRQ_COUNT + 7u) / 8u) {
            uint8_t b = (uint8_t)(value >> (8u * i));
            bytes[at] = set ? (uint8_t)(bytes[at] | b) : (uint8_t)(bytes[at] & ~b);
        }
    }
}

static void unmodelled(vmcu *m, const char *what, uint32_t address)
{
    vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                      "%s of core register 0x%08x (not modelled) from PC 0x%08x", what, address,
                      vmcu_current_pc(m));
}

uint32_t ppb_peek(const vmcu *m, uint32_t address)
{
    if (address >= 0xE000E400u && address < 0xE000E400u + IRQ_COUNT) {
        unsigned irq = address - 0xE000E400u;
        uint32_t v = 0;
        for (unsigned i = 0; i < 4 && irq + i < IRQ_COUNT; i++) {
            v |= (uint32_t)m->nvic_priority[irq + i] << (8u * i);
        }
        return v;
    }
    if (address >= 0xE000ED18u && address <= 0xE000ED20u) {
        return m->shpr[(address - 0xE000ED18u) / 4u];
    }
    return 0;
}

uint32_t ppb_read(vmcu *m, uint32_t address)
{
    if (address >= 0xE000E100u && address < 0xE000E120u) {
        return bits_of(m->nvic_enabled, (address - 0xE000E100u) / 4u);
    }
    if (address >= 0xE000E180u && address < 0xE000E1A0u) {
        return bits_of(m->nvic_enabled, (address - 0xE000E180u) / 4u);
    }
    if (address >= 0xE000E200u && address < 0xE000E220u) {
        return bits_of(m->nvic_pending, (address - 0xE000E200u) / 4u);
    }
    if (address >= 0xE000E280u && address < 0xE000E2A0u) {
        return bits_of(m->nvic_pending, (address - 0xE000E280u) / 4u);
    }
    if (address >= 0xE000E400u && address < 0xE000E400u + IRQ_COUNT) {
        unsigned irq = address - 0xE000E400u;
        uint32_t v = 0;
        for (unsigned i = 0; i < 4 && irq + i < IRQ_COUNT; i++) {
            v |= (uint32_t)m->nvic_priority[irq + i] << (8u * i);
        }
        return v;
    }
    switch (address) {
    case 0xE0001000u:
        return m->dwt_ctrl;
    case 0xE0001004u:
        return dwt_cyccnt(m);
    case 0xE000E010u: {
        uint32_t v = m->systick.ctrl | (m->systick.countflag ? SYST_COUNTFLAG : 0u);
        m->systick.countflag = false; /* COUNTFLAG clears when read */
        return v;
    }
    case 0xE000E014u:
        return m->systick.load;
    case 0xE000E018u:
        return systick_value(m);
    case 0xE000E01Cu:
        return SYST_CALIB;
    case 0xE000ED00u:
        return CPUID_M3_R1P1;
    case 0xE000ED04u: {
        uint32_t active = m->active_count > 0 ? m->active[m->active_count - 1] : 0u;
        return active | (m->systick_pending ? 1u << 26 : 0u);
    }
    case 0xE000ED08u:
        return m->vtor;
    case 0xE000ED0Cu:
        return 0xFA050000u | m->aircr_prigroup << 8;
    case 0xE000ED10u:
        return m->scr;
    case 0xE000ED14u:
        return m->ccr;
    case 0xE000ED18u:
    case 0xE000ED1Cu:
    case 0xE000ED20u:
        return m->shpr[(address - 0xE000ED18u) / 4u];
    case 0xE000EDFCu:
        return m->demcr;
    default:
        unmodelled(m, "read", address);
        return 0;
    }
}

void ppb_write(vmcu *m, uint32_t address, uint32_t value)
{
    if (address >= 0xE000E100u && address < 0xE000E120u) {
        set_bits(m->nvic_enabled, (address - 0xE000E100u) / 4u, value, true);
        return;
    }
    if (address >= 0xE000E180u && address < 0xE000E1A0u) {
        set_bits(m->nvic_enabled, (address - 0xE000E180u) / 4u, value, false);
        return;
    }
    if (address >= 0xE000E200u && address < 0xE000E220u) {
        set_bits(m->nvic_pending, (address - 0xE000E200u) / 4u, value, true);
        return;
    }
    if (address >= 0xE000E280u && address < 0xE000E2A0u) {
        set_bits(m->nvic_pending, (address - 0xE000E280u) / 4u, value, false);
        return;
    }
    if (address >= 0xE000E400u && address < 0xE000E400u + IRQ_COUNT) {
        unsigned irq = address - 0xE000E400u;
        for (unsigned i = 0; i < 4 && irq + i < IRQ_COUNT; i++) {
            m->nvic_priority[irq + i] = (uint8_t)(value >> (8u * i)) & 0xF0u;
        }
        return;
    }
    switch (address) {
    case 0xE0001000u:
        m->dwt_at_origin = dwt_cyccnt(m);
        m->dwt_origin_cycles = m->cycles;
        m->dwt_ctrl = value;
        return;
    case 0xE0001004u:
        m->dwt_at_origin = value;
        m->dwt_origin_cycles = m->cycles;
        return;
    case 0xE000E010u: {
        uint32_t v = systick_value(m);
        m->systick.ctrl = value & (SYST_ENABLE | SYST_TICKINT | SYST_CLKSOURCE);
        systick_rebase(m, v);
        return;
    }
    case 0xE000E014u:
        m->systick.load = value & 0x00FFFFFFu;
        return;
    case 0xE000E018u:
        /* Any write clears the counter and COUNTFLAG. */
        m->systick.countflag = false;
        systick_rebase(m, 0);
        return;
    case 0xE000ED04u:
        if ((value & (1u << 26)) != 0) {
            m->systick_pending = true;
        }
        if ((value & (1u << 25)) != 0) {
            m->systick_pending = false;
        }
        return;
    case 0xE000ED08u:
        /* TBLOFF is bits 29:9 on the F1's Cortex-M3 (PM0056 4.4.4): a
         * table must sit on a 512-byte boundary. */
        if ((value & 0x1FFu) != 0) {
            vmcu_logf(m, "VTOR written 0x%08x: bits 8:0 are reserved, the table is taken at 0x%08x",
                      value, value & 0x3FFFFE00u);
        }
        m->vtor = value & 0x3FFFFE00u;
        return;
    case 0xE000ED0Cu:
        if ((value >> 16) != AIRCR_VECTKEY) {
            return; /* writes without the key are ignored */
        }
        m->aircr_prigroup = (value >> 8) & 7u;
        if ((value & (1u << 2)) != 0) {
            vmcu_system_reset_request(m, VMCU_RESET_SOFTWARE);
        }
        return;
    case 0xE000ED10u:
        m->scr = value & 0x16u;
        return;
    case 0xE000ED14u:
        m->ccr = value & 0x31Bu;
        return;
    case 0xE000ED18u:
    case 0xE000ED1Cu:
    case 0xE000ED20u:
        m->shpr[(address - 0xE000ED18u) / 4u] = value & 0xF0F0F0F0u;
        return;
    case 0xE000EDFCu:
        m->dwt_at_origin = dwt_cyccnt(m);
        m->dwt_origin_cycles = m->cycles;
        m->demcr = value;
        return;
    default:
        unmodelled(m, "write", address);
        return;
    }
}

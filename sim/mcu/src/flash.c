/*
 * The flash interface as the CPU sees it: FLASH_ACR's wait states against
 * the clock (RM0008 3.3.3), and the program/erase controller's registers
 * (PM0075 sections 2.3 and 3: KEYR, SR, CR, AR, OBR, WRPR) around the
 * operations of fpec.c.
 */
#include "internal.h"

#define ACR_LATENCY 7u
#define ACR_HLFCYA  (1u << 3)
#define ACR_PRFTBE  (1u << 4)
#define ACR_PRFTBS  (1u << 5)
#define CR_PG       (1u << 0)
#define CR_PER      (1u << 1)
#define CR_MER      (1u << 2)
#define CR_OPTPG    (1u << 4)
#define CR_OPTER    (1u << 5)
#define CR_STRT     (1u << 6)
#define CR_LOCK     (1u << 7)
#define CR_OPTWRE   (1u << 9)
#define CR_WRITABLE                                                                                \
    (CR_PG | CR_PER | CR_MER | CR_OPTPG | CR_OPTER | CR_STRT | CR_LOCK | CR_OPTWRE | (1u << 10) |  \
     (1u << 12))
#define SR_FLAGS (VMCU_FLASH_SR_PGERR | VMCU_FLASH_SR_WRPRTERR | VMCU_FLASH_SR_EOP)
#define KEY1     0x45670123u
#define KEY2     0xCDEF89ABu

void flash_reset(vmcu *m)
{
    flash_state *f = &m->flash;
    f->acr = ACR_PRFTBE | ACR_PRFTBS; /* 0x30 */
    f->cr = CR_LOCK;
    f->sr = 0;
    f->ar = 0;
    f->key_stage = 0;
    f->key_fault = false;
    f->opt_key_stage = 0;
    f->busy_until_ps = 0;
    f->pending_flags = 0;
}

unsigned flash_wait_states(const vmcu *m)
{
    return m->flash.acr & ACR_LATENCY;
}

static bool busy(const vmcu *m)
{
    return m->flash.busy_until_ps > m->now_ps;
}

uint64_t flash_next_event(const vmcu *m)
{
    return m->flash.busy_until_ps > 0 ? m->flash.busy_until_ps : NEVER;
}

/* The operation in progress ends: BSY falls, EOP rises (PM0075 3.4). */
void flash_events(vmcu *m)
{
    flash_state *f = &m->flash;
    if (f->busy_until_ps == 0 || f->busy_until_ps > m->now_ps) {
        return;
    }
    f->busy_until_ps = 0;
    f->sr |= VMCU_FLASH_SR_EOP;
    f->cr &= ~CR_STRT;
}

/* The option bytes as FLASH_OBR shows them (PM0075 3.9). */
static uint32_t obr(const vmcu *m)
{
    const uint8_t *ob = m->cfg.option_bytes;
    uint32_t v = 0;
    for (unsigned i = 0; i < 8; i += 2) {
        if ((uint8_t)(ob[i] ^ ob[i + 1]) != 0xFFu) {
            v |= 1u; /* OPTERR: a byte and its complement disagree */
        }
    }
    v |= ob[0] != 0xA5u ? 2u : 0u;
    v |= (uint32_t)ob[2] << 2;
    v |= (uint32_t)ob[4] << 10;
    v |= (uint32_t)ob[6] << 18;
    return v;
}

uint32_t flash_read(vmcu *m, unsigned unit, uint32_t offset)
{
    (void)unit; /* one of a kind */
    flash_state *f = &m->flash;
    switch (offset) {
    case 0x00:
        return f->acr;
    case 0x04:
    case 0x08:
        return 0; /* the key registers are write only */
    case 0x0C:
        flash_events(m); /* an operation that ended in this block shows EOP */
        return f->sr | (busy(m) ? VMCU_FLASH_SR_BSY : 0u);
    case 0x10:
        return f->cr;
    case 0x14:
        return f->ar;
    case 0x1C:
        return obr(m);
    case 0x20:
        return m->fpec.wrpr;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "read of FLASH offset 0x%02x (not modelled)",
                          offset);
        return 0;
    }
}

static void start_operation(vmcu *m, uint32_t flags, uint64_t ns)
{
    flash_state *f = &m->flash;
    f->sr |= flags;
    if (ns > 0) {
        f->busy_until_ps = m->now_ps + ns * PS_PER_NS;
        m->code_changed = true;
    } else {
        f->cr &= ~CR_STRT;
    }
    vmcu_activity(m);
}

/* PM0075 2.3.2: the FPEC programs and erases only with the HSI on. */
static bool hsi_on(vmcu *m)
{
    if ((m->rcc.cr & 1u) == 0) {
        vmcu_request_stop(m, VMCU_STOP_INVALID,
                          "flash program or erase with the HSI off (RM0008 3.3.3 needs it on)");
        return false;
    }
    return true;
}

static void write_cr(vmcu *m, uint32_t value)
{
    flash_state *f = &m->flash;
    if ((f->cr & CR_LOCK) != 0) {
        vmcu_logf(m, "FLASH_CR written (0x%08x) while locked: ignored (PM0075 2.3.1)", value);
        return;
    }
    if (busy(m)) {
        vmcu_logf(m, "FLASH_CR written while BSY: ignored");
        return;
    }
    f->cr = value & CR_WRITABLE;
    if ((f->cr & (CR_OPTPG | CR_OPTER)) != 0) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "option byte erase/program through FLASH_CR: not modelled");
        return;
    }
    if ((f->cr & CR_STRT) == 0) {
        return;
    }
    if (!hsi_on(m)) {
        return;
    }
    uint64_t ns = 0;
    uint32_t flags = 0;
    if ((f->cr & CR_MER) != 0) {
        flags = vmcu_fpec_mass_erase(&m->fpec, &ns);
    } else if ((f->cr & CR_PER) != 0) {
        flags = vmcu_fpec_erase_page(&m->fpec, f->ar, &ns);
    } else {
        f->cr &= ~CR_STRT;
        return;
    }
    start_operation(m, flags, ns);
}

static void write_keyr(vmcu *m, uint32_t value)
{
    flash_state *f = &m->flash;
    bool expected = !f->key_fault && (f->cr & CR_LOCK) != 0 &&
                    ((f->key_stage == 0 && value == KEY1) || (f->key_stage == 1 && value == KEY2));
    if (!expected) {
        /* PM0075 2.3.1: a wrong sequence locks the FPEC until the next
         * reset and returns a bus error. */
        f->key_fault = true;
        f->cr |= CR_LOCK;
        vmcu_core_fault(m,
                        "FLASH_KEYR written 0x%08x out of the unlock sequence: bus error, "
                        "FPEC locked until reset (PM0075 2.3.1)",
                        value);
        return;
    }
    if (++f->key_stage == 2) {
        f->key_stage = 0;
        f->cr &= ~CR_LOCK;
    }
}

void flash_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value)
{
    (void)unit; /* one of a kind */
    flash_state *f = &m->flash;
    switch (offset) {
    case 0x00: {
        uint32_t acr = (f->acr & ACR_PRFTBS) | (value & (ACR_LATENCY | ACR_HLFCYA | ACR_PRFTBE));
        /* PRFTBS follows PRFTBE. */
        f->acr = (acr & ~ACR_PRFTBS) | ((acr & ACR_PRFTBE) != 0 ? ACR_PRFTBS : 0u);
        return;
    }
    case 0x04:
        write_keyr(m, value);
        return;
    case 0x08:
        f->opt_key_stage = (f->opt_key_stage + 1u) % 2u;
        return;
    case 0x0C:
        f->sr &= ~(value & SR_FLAGS); /* write 1 to clear */
        return;
    case 0x10:
        write_cr(m, value);
        return;
    case 0x14:
        if (!busy(m)) {
            f->ar = value;
        }
        return;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "write of FLASH offset 0x%02x (not modelled)",
                          offset);
        return;
    }
}

bool flash_access_ok(vmcu *m, uint32_t address, const char *what)
{
    if (busy(m)) {
        /* PM0075 2.3: a flash read while BSY stalls the bus until the
         * operation ends. */
        vmcu_wait_until(m, m->flash.busy_until_ps);
        flash_events(m);
    }
    uint32_t sysclk = rcc_sysclk_hz(m);
    unsigned need = sysclk > 48000000u ? 2u : sysclk > 24000000u ? 1u : 0u;
    unsigned have = flash_wait_states(m);
    if (have < need) {
        vmcu_request_stop(m, VMCU_STOP_INVALID,
                          "%s from flash at 0x%08x with %u wait state%s at SYSCLK %u Hz: "
                          "RM0008 3.3.3 needs %u (FLASH_ACR.LATENCY)",
                          what, address, have, have == 1 ? "" : "s", sysclk, need);
        return false;
    }
    if ((m->flash.acr & ACR_HLFCYA) != 0 && (sysclk > 8000000u || m->rcc.sws == 2u)) {
        vmcu_request_stop(m, VMCU_STOP_INVALID,
                          "%s from flash with half-cycle access at SYSCLK %u Hz: RM0008 3.3.3 "
                          "allows it only at 8 MHz or less, not from the PLL",
                          what, sysclk);
        return false;
    }
    return true;
}

void flash_bus_write(vmcu *m, uint32_t address, unsigned size, uint32_t value)
{
    flash_state *f = &m->flash;
    if (busy(m)) {
        vmcu_wait_until(m, f->busy_until_ps); /* the bus waits for the operation */
        flash_events(m);
    }
    if ((f->cr & CR_PG) == 0) {
        /* PM0075 does not say what a write without PG does; the model
         * leaves the flash as it is and raises PGERR, so that a program
         * that checks its flags sees the failure (docs/virtual-mcu.md). */
        vmcu_logf(m, "write of 0x%x to flash at 0x%08x without FLASH_CR.PG%s: nothing written",
                  value, address, (f->cr & CR_LOCK) != 0 ? " (the FPEC is locked)" : "");
        f->sr |= VMCU_FLASH_SR_PGERR;
        return;
    }
    if (size != 2) {
        vmcu_core_fault(m,
                        "%u-byte write to flash at 0x%08x with PG set: the FPEC programs "
                        "half-words only, anything else is a bus error (PM0075 2.3.3)",
                        size, address);
        return;
    }
    if (!hsi_on(m)) {
        return;
    }
    uint64_t ns = 0;
    uint32_t flags = vmcu_fpec_program(&m->fpec, address, (uint16_t)value, &ns);
    start_operation(m, flags, ns);
}

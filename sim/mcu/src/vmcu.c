/*
 * The virtual STM32F1's core: Unicorn's Cortex-M3 with our memory map, the
 * virtual clock, exception entry and return, and the run loop. The
 * peripherals live in the other files of this folder (internal.h).
 *
 * Time: the block hook charges each basic block before it runs (cycle
 * model: block_cycles() below and docs/virtual-mcu.md), and stops the CPU
 * when the clock reaches the end of the current slice: the next peripheral
 * event or the time the embedder asked for. Peripheral events are then
 * handled at their own times and pending exceptions taken, between blocks,
 * as the core takes interrupts between instructions. No hook runs per
 * instruction.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* QEMU's exception numbers as Unicorn's interrupt hook reports them. */
#define QEMU_EXCP_UDEF           1u
#define QEMU_EXCP_SWI            2u
#define QEMU_EXCP_PREFETCH_ABORT 3u
#define QEMU_EXCP_DATA_ABORT     4u
#define QEMU_EXCP_BKPT           7u
#define QEMU_EXCP_EXCEPTION_EXIT 8u
#define QEMU_EXCP_INVSTATE       18u

/* Never a PC: the address uc_emu_start() is told to stop at. */
#define NO_UNTIL 0xFFFFFFFEull

/* The exception entry's cost (PM0056 / Cortex-M3 TRM: 12 cycles). */
#define EXCEPTION_ENTRY_CYCLES 12u

/* ------------------------------------------------------------------------- */
/* Messages                                                                   */

void vmcu_logf(vmcu *m, const char *fmt, ...)
{
    if (m->cfg.ops == NULL || m->cfg.ops->log == NULL) {
        return;
    }
    char line[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    m->cfg.ops->log(m->cfg.ctx, line);
}

void vmcu_request_stop(vmcu *m, vmcu_stop why, const char *fmt, ...)
{
    if (m->stop_requested) {
        return;
    }
    m->stop_requested = true;
    m->stop = why;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->reason, sizeof m->reason, fmt, ap);
    va_end(ap);
    /* A fault stops at once; the other reasons at the next block. */
    if (why != VMCU_STOP_TX && why != VMCU_STOP_WAITING && why != VMCU_STOP_EXEC_FLASH) {
        uc_emu_stop(m->uc);
    }
}

void vmcu_core_fault(vmcu *m, const char *fmt, ...)
{
    if (m->stop_requested) {
        return;
    }
    char text[sizeof m->reason];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    vmcu_request_stop(m, VMCU_STOP_FAULT, "%s", text);
    m->core_fault = true;
}

uint32_t vmcu_current_pc(const vmcu *m)
{
    uint32_t pc = 0;
    uc_reg_read(m->uc, UC_ARM_REG_PC, &pc);
    return pc;
}

/* ------------------------------------------------------------------------- */
/* Time                                                                       */

static void advance_cycles(vmcu *m, uint64_t cycles)
{
    uint64_t hz = m->rcc.hclk_hz;
    uint64_t total = cycles * 1000000000000ull + m->cycle_rem;
    m->now_ps += total / hz;
    m->cycle_rem = total % hz;
    m->cycles += cycles;
}

void vmcu_wait_until(vmcu *m, uint64_t t)
{
    if (t > m->now_ps) {
        if (m->cpu == CPU_RUNNING) { /* a bus stall: the core's clock runs */
            uint64_t dt_ns = (t - m->now_ps) / PS_PER_NS;
            m->cycles += dt_ns * m->rcc.hclk_hz / 1000000000ull;
        }
        m->now_ps = t;
    }
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t next_event_ps(const vmcu *m)
{
    uint64_t e = rcc_next_event(m);
    e = min_u64(e, flash_next_event(m));
    e = min_u64(e, usart_next_event(m));
    e = min_u64(e, system_next_event(m));
    return e;
}

/* Handles every peripheral event due by now, each at its own time. */
static void process_events(vmcu *m)
{
    for (unsigned guard = 0; guard < 100000u && next_event_ps(m) <= m->now_ps; guard++) {
        rcc_events(m);
        flash_events(m);
        usart_events(m);
        system_events(m);
    }
}

void vmcu_replan(vmcu *m)
{
    m->slice_end_ps = min_u64(m->run_until_ps, next_event_ps(m));
    m->exception_masked = false;
    if (exception_to_take(m, EXCEPTION_PENDING) == EXC_NONE) {
        return; /* nothing pending: the usual case, and a cheap one */
    }
    if (m->cpu == CPU_RUNNING && exception_to_take(m, EXCEPTION_TAKEN) != EXC_NONE) {
        m->slice_end_ps = m->now_ps; /* take it before the next block */
    } else {
        /* Pending behind PRIMASK, BASEPRI or a running handler: CPSIE and
         * MSR change no register the model sees, so the block hook looks
         * at every block. */
        m->exception_masked = true;
    }
}

void vmcu_activity(vmcu *m)
{
    m->idle_polls = 0;
}

/* ------------------------------------------------------------------------- */
/* Memory map                                                                 */

static bool in_window(uint32_t address, uint32_t base, uint32_t size)
{
    return address >= base && address - base < size;
}

/* Host bytes behind an executable address, for counting instructions. */
static const uint8_t *code_bytes(const vmcu *m, uint32_t address, uint32_t size)
{
    if (in_window(address, SRAM_BASE, m->cfg.ram_size) &&
        address - SRAM_BASE + size <= m->cfg.ram_size) {
        return m->cfg.ram + (address - SRAM_BASE);
    }
    if (in_window(address, FLASH_ALIAS, m->cfg.flash.size) &&
        address - FLASH_ALIAS + size <= m->cfg.flash.size) {
        return m->cfg.flash_bytes + (address - FLASH_ALIAS);
    }
    if (!m->boot_from_sysmem && address < m->alias_size && size <= m->alias_size - address) {
        return m->cfg.flash_bytes + address;
    }
    return NULL;
}

/* Flash address of an access through the boot alias or directly; 0 when
 * the address is not flash. */
static uint32_t flash_address(const vmcu *m, uint32_t address)
{
    if (in_window(address, FLASH_ALIAS, m->cfg.flash.size)) {
        return address;
    }
    if (!m->boot_from_sysmem && address < m->alias_size) {
        return FLASH_ALIAS + address;
    }
    return 0;
}

static bool in_sysmem(const vmcu *m, uint32_t address)
{
    return in_window(address, m->cfg.sysmem_base, m->sysmem_size) ||
           (m->boot_from_sysmem && address < m->alias_size);
}

/*
 * Cycles of a basic block (docs/virtual-mcu.md, "Time"): one per
 * instruction; one more per load or store and per register a multiple
 * transfer moves (Cortex-M3 TRM table 18-1: LDR/STR 2, LDM/STM/PUSH/POP
 * 1 + N); two for the branch or exception that ends the block (pipeline
 * refill, "1 + P" with P = 1..3).
 */
static uint64_t block_cycles(const uint8_t *code, uint32_t size)
{
    uint64_t cycles = 2;
    uint32_t i = 0;
    while (i + 1 < size) {
        uint32_t hw = (uint32_t)code[i] | (uint32_t)code[i + 1] << 8;
        uint32_t top5 = hw >> 11;
        if ((top5 == 0x1D || top5 == 0x1E || top5 == 0x1F) && i + 3 < size) {
            uint32_t hw2 = (uint32_t)code[i + 2] | (uint32_t)code[i + 3] << 8;
            cycles += 1;
            if ((hw & 0xFF80u) == 0xE880u || (hw & 0xFF80u) == 0xE900u) {
                cycles += (uint64_t)__builtin_popcount(hw2);
            } else if ((hw & 0xFE00u) == 0xF800u || (hw & 0xFE00u) == 0xE800u) {
                cycles += 1;
            }
            i += 4;
            continue;
        }
        cycles += 1;
        if ((hw & 0xF800u) == 0x4800u || (hw & 0xF000u) == 0x5000u || (hw & 0xE000u) == 0x6000u ||
            (hw & 0xF000u) == 0x8000u || (hw & 0xF000u) == 0x9000u) {
            cycles += 1;
        } else if ((hw & 0xF600u) == 0xB400u) { /* PUSH, POP */
            cycles += (uint64_t)__builtin_popcount(hw & 0x1FFu);
        } else if ((hw & 0xF000u) == 0xC000u) { /* STM, LDM */
            cycles += (uint64_t)__builtin_popcount(hw & 0xFFu);
        }
        i += 2;
    }
    return cycles;
}

/* ------------------------------------------------------------------------- */
/* Hooks                                                                      */

static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    vmcu *m = user;
    if (m->stop_requested || m->now_ps >= m->slice_end_ps ||
        (m->exception_masked && exception_to_take(m, EXCEPTION_TAKEN) != EXC_NONE)) {
        /* This block has not run: it is charged when it does. */
        m->hook_stopped = true;
        uc_emu_stop(uc);
        return;
    }
    uint32_t pc = (uint32_t)address;
    uint64_t cycles = 0;
    if (flash_address(m, pc) != 0) {
        if ((m->run_flags & VMCU_RUN_STOP_AT_FLASH) != 0) {
            vmcu_request_stop(m, VMCU_STOP_EXEC_FLASH, "executing flash at 0x%08x", pc);
            uc_emu_stop(uc);
            return;
        }
        if (!flash_access_ok(m, flash_address(m, pc), "instruction fetch")) {
            uc_emu_stop(uc);
            return;
        }
        cycles += flash_wait_states(m);
    } else if (in_sysmem(m, pc)) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "executing system memory at 0x%08x: the ROM's code is not modelled", pc);
        return;
    }
    /* A block's own cycles depend only on its bytes: remembered, until the
     * code changes. */
    block_cost *cost = &m->block_costs[(pc >> 1) % BLOCK_COSTS];
    if (cost->pc != pc || cost->size != size) {
        const uint8_t *code = code_bytes(m, pc, size);
        *cost = (block_cost){pc, size, code != NULL ? block_cycles(code, size) : 2u + size / 2u};
    }
    advance_cycles(m, cycles + cost->cycles);
}

/* Exception return (PM0056 2.3.7): the frame back off the main stack. */
static void exception_return(vmcu *m, uint32_t exc_return)
{
    if (exc_return != 0xFFFFFFF1u && exc_return != 0xFFFFFFF9u) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "exception return 0x%08x: only the main stack is modelled", exc_return);
        return;
    }
    uint32_t sp = 0, frame[8];
    uc_reg_read(m->uc, UC_ARM_REG_SP, &sp);
    if (uc_mem_read(m->uc, sp, frame, sizeof frame) != UC_ERR_OK) {
        vmcu_request_stop(m, VMCU_STOP_FAULT, "exception return: stack at 0x%08x unreadable", sp);
        return;
    }
    static const int regs[6] = {UC_ARM_REG_R0, UC_ARM_REG_R1,  UC_ARM_REG_R2,
                                UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR};
    for (int i = 0; i < 6; i++) {
        uc_reg_write(m->uc, regs[i], &frame[i]);
    }
    uint32_t xpsr = frame[7];
    sp += 32u + ((xpsr & (1u << 9)) != 0 ? 4u : 0u);
    uc_reg_write(m->uc, UC_ARM_REG_SP, &sp);
    xpsr &= ~(1u << 9);
    uc_reg_write(m->uc, UC_ARM_REG_XPSR, &xpsr);
    uint32_t ipsr = xpsr & 0x1FFu;
    uc_reg_write(m->uc, UC_ARM_REG_IPSR, &ipsr);
    if (m->active_count > 0) {
        m->active_count--;
    }
    uint32_t pc = frame[6] | 1u;
    uc_reg_write(m->uc, UC_ARM_REG_PC, &pc);
    vmcu_replan(m); /* a pending exception may tail-chain */
}

static void on_interrupt(uc_engine *uc, uint32_t intno, void *user)
{
    vmcu *m = user;
    uint32_t pc = vmcu_current_pc(m);
    switch (intno) {
    case QEMU_EXCP_EXCEPTION_EXIT:
        exception_return(m, pc | 1u);
        return;
    case QEMU_EXCP_UDEF:
        vmcu_core_fault(m, "undefined instruction at 0x%08x (UsageFault)", pc);
        break;
    case QEMU_EXCP_SWI:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "SVC at 0x%08x: supervisor calls are not modelled", pc);
        break;
    case QEMU_EXCP_BKPT:
        vmcu_core_fault(m, "BKPT at 0x%08x: with no debugger attached the core faults", pc);
        break;
    case QEMU_EXCP_INVSTATE:
        vmcu_core_fault(m, "branch to an ARM-state address near 0x%08x (UsageFault INVSTATE)", pc);
        break;
    case QEMU_EXCP_PREFETCH_ABORT:
    case QEMU_EXCP_DATA_ABORT:
        vmcu_core_fault(m, "bus fault at 0x%08x", pc);
        break;
    default:
        vmcu_core_fault(m, "core exception %u at 0x%08x", intno, pc);
        break;
    }
    uc_emu_stop(uc);
}

static const char *access_name(uc_mem_type type)
{
    switch (type) {
    case UC_MEM_READ_UNMAPPED:
    case UC_MEM_READ_PROT:
        return "read";
    case UC_MEM_WRITE_UNMAPPED:
    case UC_MEM_WRITE_PROT:
        return "write";
    default:
        return "instruction fetch";
    }
}

static bool on_unmapped(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
                        void *user)
{
    (void)uc;
    (void)value;
    vmcu *m = user;
    uint32_t a = (uint32_t)address;
    /* The peripheral and core regions hold parts the model leaves out;
     * anywhere else an F103 has nothing either, and the bus faults. */
    bool peripheral = (a >= 0x40000000u && a < 0x60000000u) || a >= PPB_START;
    if (peripheral) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "%s of %d bytes at 0x%08x, where nothing is modelled, from PC 0x%08x",
                          access_name(type), size, a, vmcu_current_pc(m));
    } else {
        vmcu_core_fault(m,
                        "%s of %d bytes at 0x%08x, where an F103 has no memory (bus fault), "
                        "from PC 0x%08x",
                        access_name(type), size, a, vmcu_current_pc(m));
    }
    return false;
}

/* Writes to flash or system memory: the flash controller decides. */
static bool on_write_prot(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                          int64_t value, void *user)
{
    (void)uc;
    (void)type;
    vmcu *m = user;
    uint32_t at = flash_address(m, (uint32_t)address);
    if (at == 0) {
        vmcu_core_fault(m,
                        "write to system memory at 0x%08x from PC 0x%08x (read only: a bus fault)",
                        (uint32_t)address, vmcu_current_pc(m));
        return false;
    }
    flash_bus_write(m, at, (unsigned)size, (uint32_t)value);
    vmcu_replan(m); /* the operation ends at a time the slice must not pass */
    return !m->stop_requested || m->stop == VMCU_STOP_TX || m->stop == VMCU_STOP_WAITING;
}

static bool on_fetch_prot(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                          int64_t value, void *user)
{
    (void)uc;
    (void)type;
    (void)size;
    (void)value;
    vmcu *m = user;
    vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                      "executing system memory at 0x%08x: the ROM's code is not modelled",
                      (uint32_t)address);
    return false;
}

static void on_flash_read(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                          int64_t value, void *user)
{
    (void)uc;
    (void)type;
    (void)size;
    (void)value;
    vmcu *m = user;
    uint32_t at = flash_address(m, (uint32_t)address);
    if (at != 0) {
        advance_cycles(m, flash_wait_states(m));
        (void)flash_access_ok(m, at, "data read");
    }
}

/* ------------------------------------------------------------------------- */
/* Peripheral buses                                                           */

/* The peripherals on the APB buses and the AHB (RM0008 table 3): each row
 * some consecutive 1 KiB slots, their registers, the unit of the first. */
typedef struct apb_peripheral {
    uint32_t base;
    uint32_t slots;
    unsigned first_unit;
    register_read_fn read;
    register_write_fn write;
} apb_peripheral;

static const apb_peripheral apb_peripherals[] = {
    {IWDG_BASE, 1, 0, iwdg_read, iwdg_write},
    {USART2_BASE, 2, 1, usart_read, usart_write}, /* USART2, USART3 */
    {AFIO_BASE, 1, 0, afio_read, afio_write},
    {GPIOA_BASE, VMCU_PORTS, 0, gpio_read, gpio_write},
    {USART1_BASE, 1, 0, usart_read, usart_write},
    {RCC_BASE, 1, 0, rcc_read, rcc_write},
    {FLASH_BASE, 1, 0, flash_read, flash_write},
    {CRC_BASE, 1, 0, crc_read, crc_write},
};

/* Fills m->apb_slot: which row of apb_peripherals (plus one) answers in
 * each 1 KiB slot, 0 for none. */
static void map_apb_slots(vmcu *m)
{
    for (size_t i = 0; i < sizeof apb_peripherals / sizeof apb_peripherals[0]; i++) {
        uint32_t first = (apb_peripherals[i].base - APB_START) >> 10;
        for (uint32_t s = 0; s < apb_peripherals[i].slots; s++) {
            m->apb_slot[first + s] = (uint8_t)(i + 1u);
        }
    }
}

/* Returns false when nothing is modelled at `address`. */
static bool apb_access(vmcu *m, uint32_t address, bool write, uint32_t *value)
{
    uint32_t base = address & ~0x3FFu, offset = address & 0x3FFu;
    uint32_t slot = (address - APB_START) >> 10;
    if (address < APB_START || slot >= sizeof m->apb_slot || m->apb_slot[slot] == 0) {
        return false;
    }
    const apb_peripheral *p = &apb_peripherals[m->apb_slot[slot] - 1u];
    /* RM0008 7.3.6-7.3.8: a peripheral whose clock is off does not
     * respond; its registers read 0. */
    if (!rcc_clock_on(m, base)) {
        if (!m->clock_off_logged[slot]) {
            m->clock_off_logged[slot] = true;
            vmcu_logf(m,
                      "access to 0x%08x from PC 0x%08x with the peripheral's clock off (RCC "
                      "enable bit clear): reads give 0, writes are lost",
                      address, vmcu_current_pc(m));
        }
        if (!write) {
            *value = 0;
        }
        return true;
    }
    unsigned unit = p->first_unit + (base - p->base) / 0x400u;
    if (write) {
        p->write(m, unit, offset, *value);
    } else {
        *value = p->read(m, unit, offset);
    }
    return true;
}

static uint64_t on_apb_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    vmcu *m = user;
    uint32_t address = APB_START + (uint32_t)offset;
    uint32_t shift = 8u * (address & 3u), value = 0;
    if (!apb_access(m, address & ~3u, false, &value)) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "read of peripheral register 0x%08x (not modelled) from PC 0x%08x",
                          address, vmcu_current_pc(m));
        return 0;
    }
    value >>= shift;
    return size >= 4 ? value : value & ((1u << (8u * size)) - 1u);
}

static void on_apb_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    (void)uc;
    vmcu *m = user;
    uint32_t address = APB_START + (uint32_t)offset;
    uint32_t v = (uint32_t)value;
    if ((address & 3u) != 0) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "%u-byte write to 0x%08x: only accesses at a register's start are "
                          "modelled (PC 0x%08x)",
                          size, address, vmcu_current_pc(m));
        return;
    }
    if (size < 4) {
        v &= (1u << (8u * size)) - 1u;
    }
    if (!apb_access(m, address, true, &v)) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "write of peripheral register 0x%08x (not modelled) from PC 0x%08x",
                          address, vmcu_current_pc(m));
        return;
    }
    vmcu_replan(m);
}

static uint64_t on_ppb_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    vmcu *m = user;
    uint32_t address = PPB_START + (uint32_t)offset;
    uint32_t value = ppb_read(m, address & ~3u) >> (8u * (address & 3u));
    return size >= 4 ? value : value & ((1u << (8u * size)) - 1u);
}

static void on_ppb_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    (void)uc;
    vmcu *m = user;
    uint32_t address = PPB_START + (uint32_t)offset;
    if (size < 4) {
        /* Byte and half-word stores: merged into the priority registers,
         * which take them; anywhere else the other bytes are written 0. */
        uint32_t shift = 8u * (address & 3u);
        uint32_t mask = ((1u << (8u * size)) - 1u) << shift;
        uint32_t old = ppb_peek(m, address & ~3u);
        value = (old & ~mask) | (((uint32_t)value << shift) & mask);
    }
    ppb_write(m, address & ~3u, (uint32_t)value);
    vmcu_replan(m);
}

static uint64_t on_option_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    vmcu *m = user;
    if (offset + size > 16u) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "read at 0x%08x past the option bytes from PC 0x%08x",
                          OPTION_BASE + (uint32_t)offset, vmcu_current_pc(m));
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)m->cfg.option_bytes[offset + i] << (8u * i);
    }
    return v;
}

static void on_option_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                            void *user)
{
    (void)uc;
    (void)size;
    (void)value;
    vmcu *m = user;
    vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                      "write to the option bytes at 0x%08x from PC 0x%08x: option byte "
                      "programming is not modelled",
                      OPTION_BASE + (uint32_t)offset, vmcu_current_pc(m));
}

/* ------------------------------------------------------------------------- */
/* Exceptions                                                                 */

/* Exception entry (PM0056 2.3.7): the frame onto the main stack, LR =
 * EXC_RETURN, PC from the vector table at VTOR. */
static void exception_entry(vmcu *m, unsigned exc)
{
    static const int regs[6] = {UC_ARM_REG_R0, UC_ARM_REG_R1,  UC_ARM_REG_R2,
                                UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR};
    uint32_t frame[8], sp = 0, ipsr = 0, control = 0;
    uc_reg_read(m->uc, UC_ARM_REG_CONTROL, &control);
    if ((control & 2u) != 0) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "exception %u taken on the process stack: not modelled", exc);
        return;
    }
    for (int i = 0; i < 6; i++) {
        uc_reg_read(m->uc, regs[i], &frame[i]);
    }
    frame[6] = vmcu_current_pc(m);
    uc_reg_read(m->uc, UC_ARM_REG_XPSR, &frame[7]);
    uc_reg_read(m->uc, UC_ARM_REG_IPSR, &ipsr);
    uc_reg_read(m->uc, UC_ARM_REG_SP, &sp);
    frame[7] = (frame[7] & ~0x1FFu) | ipsr | (1u << 24);
    if ((sp & 4u) != 0 && (m->ccr & (1u << 9)) != 0) { /* CCR.STKALIGN: 8-byte aligned */
        sp -= 4u;
        frame[7] |= 1u << 9;
    }
    sp -= 32u;
    uint32_t vector = 0;
    uint32_t table = m->vtor + 4u * exc;
    if (in_sysmem(m, table)) {
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED,
                          "exception %u vectors through the ROM's table at 0x%08x (VTOR "
                          "0x%08x): the ROM's code is not modelled",
                          exc, table, m->vtor);
        return;
    }
    if (uc_mem_write(m->uc, sp, frame, sizeof frame) != UC_ERR_OK ||
        uc_mem_read(m->uc, table, &vector, 4) != UC_ERR_OK || (vector & 1u) == 0) {
        vmcu_request_stop(
            m, VMCU_STOP_FAULT,
            "lockup: exception %u with its stack 0x%08x or vector at 0x%08x (0x%08x) unusable", exc,
            sp, table, vector);
        return;
    }
    uint32_t exc_return = ipsr == 0 ? 0xFFFFFFF9u : 0xFFFFFFF1u;
    uint32_t new_ipsr = exc;
    uc_reg_write(m->uc, UC_ARM_REG_SP, &sp);
    uc_reg_write(m->uc, UC_ARM_REG_LR, &exc_return);
    uc_reg_write(m->uc, UC_ARM_REG_IPSR, &new_ipsr);
    uc_reg_write(m->uc, UC_ARM_REG_PC, &vector);
    if (exc == EXC_SYSTICK) {
        m->systick_pending = false;
    } else if (exc >= EXC_IRQ0) {
        unsigned irq = exc - EXC_IRQ0;
        m->nvic_pending[irq / 8] &= (uint8_t) ~(1u << (irq % 8));
    }
    if (m->active_count < EXC_COUNT) {
        m->active[m->active_count++] = (uint8_t)exc;
    }
    advance_cycles(m, EXCEPTION_ENTRY_CYCLES);
}

/*
 * A fault the core takes, escalated to HardFault (PM0056 2.4): through the
 * program's vector table, as the core does. When VTOR still points at the
 * ROM's table the handler is the ROM's, which the model does not run: the
 * stop stands and vmcu_fault_in_rom() tells the embedder. A fault inside
 * the HardFault handler locks the core up: the stop stands too.
 */
static void take_hardfault(vmcu *m)
{
    m->core_fault = false;
    if (in_sysmem(m, m->vtor + 4u * EXC_HARDFAULT)) {
        m->fault_in_rom = true;
        return;
    }
    for (unsigned i = 0; i < m->active_count; i++) {
        if (m->active[i] == EXC_HARDFAULT) {
            size_t used = strlen(m->reason);
            snprintf(m->reason + used, sizeof m->reason - used,
                     " (in the HardFault handler: lockup)");
            return;
        }
    }
    vmcu_logf(m, "HardFault: %s", m->reason);
    m->stop_requested = false;
    m->reason[0] = '\0';
    exception_entry(m, EXC_HARDFAULT);
}

/* ------------------------------------------------------------------------- */
/* Running                                                                    */

static bool is_sleep_instruction(const vmcu *m, uint32_t pc)
{
    const uint8_t *p = code_bytes(m, pc - 2u, 2);
    if (p == NULL) {
        return false;
    }
    uint32_t hw = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    return hw == 0xBF30u || hw == 0xBF20u; /* WFI, WFE */
}

static vmcu_stop finish(vmcu *m, vmcu_stop why)
{
    if (why != VMCU_STOP_TIME && why != VMCU_STOP_TX && why != VMCU_STOP_WAITING &&
        why != VMCU_STOP_EXEC_FLASH) {
        m->cpu = CPU_HELD;
    }
    if (why == VMCU_STOP_RESET) {
        vmcu_reset(m, m->boot_from_sysmem);
    }
    m->stop_requested = false;
    return why;
}

vmcu_stop vmcu_run(vmcu *m, uint64_t until_ns, unsigned flags)
{
    m->run_until_ps = until_ns * PS_PER_NS;
    m->run_flags = flags;
    m->stop_requested = false;
    m->core_fault = false;
    m->fault_in_rom = false;
    m->reason[0] = '\0';
    for (;;) {
        process_events(m);
        if (m->stop_requested && m->stop == VMCU_STOP_FAULT && m->core_fault) {
            take_hardfault(m);
        }
        if (m->stop_requested) {
            return finish(m, m->stop);
        }
        if (m->now_ps >= m->run_until_ps) {
            return m->cpu == CPU_HELD ? VMCU_STOP_HELD : VMCU_STOP_TIME;
        }
        uint64_t next = min_u64(next_event_ps(m), m->run_until_ps);
        if (m->cpu == CPU_HELD) {
            vmcu_wait_until(m, next);
            continue;
        }
        if (m->cpu == CPU_SLEEPING) {
            if (exception_to_take(m, EXCEPTION_WAKES) == EXC_NONE) {
                if ((flags & VMCU_RUN_STOP_WHEN_WAITING) != 0) {
                    snprintf(m->reason, sizeof m->reason, "sleeping in WFI");
                    return VMCU_STOP_WAITING;
                }
                vmcu_wait_until(m, next);
                continue;
            }
            m->cpu = CPU_RUNNING;
        }
        unsigned exc = exception_to_take(m, EXCEPTION_TAKEN);
        if (exc != EXC_NONE) {
            exception_entry(m, exc);
            if (m->stop_requested) {
                continue;
            }
        }
        vmcu_replan(m);
        if (m->slice_end_ps <= m->now_ps && exception_to_take(m, EXCEPTION_TAKEN) == EXC_NONE) {
            m->slice_end_ps = m->now_ps + 1; /* at least one block */
        }
        if (m->code_changed) {
            memset(m->block_costs, 0, sizeof m->block_costs);
            /* Drop the blocks translated from RAM and flash. (A flush of the
             * whole cache would touch all of Unicorn's 1 GiB code buffer.) */
            uc_ctl_remove_cache(m->uc, (uint64_t)SRAM_BASE, (uint64_t)SRAM_BASE + m->cfg.ram_size);
            uc_ctl_remove_cache(m->uc, (uint64_t)FLASH_ALIAS,
                                (uint64_t)FLASH_ALIAS + m->cfg.flash.size);
            uc_ctl_remove_cache(m->uc, (uint64_t)0, (uint64_t)m->alias_size);
            m->code_changed = false;
        }
        uint32_t pc = vmcu_current_pc(m);
        m->hook_stopped = false;
        uc_err err = uc_emu_start(m->uc, pc | 1u, NO_UNTIL, 0, 0);
        if (m->stop_requested) {
            continue;
        }
        if (err != UC_ERR_OK) {
            vmcu_core_fault(m, "the core stopped at 0x%08x: %s", vmcu_current_pc(m),
                            uc_strerror(err));
            continue;
        }
        pc = vmcu_current_pc(m);
        if (!m->hook_stopped && is_sleep_instruction(m, pc)) {
            m->cpu = CPU_SLEEPING;
            m->idle_polls = 0;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Creation, reset and starting code                                          */

/*
 * Maps caller-owned memory the CPU may not write. Unicorn 2.0's
 * uc_mem_map_ptr() records the permissions but leaves the memory writable
 * underneath: a store the write-protection hook handled would still land.
 * uc_mem_protect() over the whole region makes it read-only for real, so a
 * store the hook handles is dropped and the flash controller's model alone
 * decides what the array holds.
 */
static bool map_read_only(vmcu *m, uint32_t address, uint32_t size, uint32_t perms, void *bytes)
{
    return uc_mem_map_ptr(m->uc, address, size, perms, bytes) == UC_ERR_OK &&
           uc_mem_protect(m->uc, address, size, perms) == UC_ERR_OK;
}

static bool map_alias(vmcu *m)
{
    if (m->alias_size != 0) {
        uc_mem_unmap(m->uc, 0, m->alias_size);
    }
    if (m->boot_from_sysmem) {
        m->alias_size = m->sysmem_size;
        return map_read_only(m, 0, m->alias_size, UC_PROT_READ, (void *)(uintptr_t)m->cfg.sysmem);
    }
    m->alias_size = m->cfg.flash.size;
    return map_read_only(m, 0, m->alias_size, UC_PROT_READ | UC_PROT_EXEC, m->cfg.flash_bytes);
}

static bool add_hook(vmcu *m, int type, void *callback, uint64_t begin, uint64_t end)
{
    if (m->hook_count == sizeof m->hooks / sizeof m->hooks[0]) {
        return false;
    }
    return uc_hook_add(m->uc, &m->hooks[m->hook_count++], type, callback, m, begin, end) ==
           UC_ERR_OK;
}

static bool setup_unicorn(vmcu *m)
{
    const vmcu_config *c = &m->cfg;
    if (uc_open(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS, &m->uc) != UC_ERR_OK) {
        m->uc = NULL;
        return false;
    }
    bool ok = uc_ctl_set_cpu_model(m->uc, UC_CPU_ARM_CORTEX_M3) == UC_ERR_OK;
    ok = ok &&
         map_read_only(m, FLASH_ALIAS, c->flash.size, UC_PROT_READ | UC_PROT_EXEC, c->flash_bytes);
    ok = ok && uc_mem_map_ptr(m->uc, SRAM_BASE, c->ram_size, UC_PROT_ALL, c->ram) == UC_ERR_OK;
    ok = ok && map_read_only(m, c->sysmem_base, m->sysmem_size, UC_PROT_READ,
                             (void *)(uintptr_t)c->sysmem);
    ok = ok &&
         uc_mmio_map(m->uc, OPTION_BASE, 0x400, on_option_read, m, on_option_write, m) == UC_ERR_OK;
    ok =
        ok && uc_mmio_map(m->uc, APB_START, APB_SIZE, on_apb_read, m, on_apb_write, m) == UC_ERR_OK;
    ok =
        ok && uc_mmio_map(m->uc, PPB_START, PPB_SIZE, on_ppb_read, m, on_ppb_write, m) == UC_ERR_OK;
    ok = ok && add_hook(m, UC_HOOK_BLOCK, (void *)on_block, 1, 0);
    ok = ok && add_hook(m, UC_HOOK_INTR, (void *)on_interrupt, 1, 0);
    ok = ok && add_hook(m, UC_HOOK_MEM_UNMAPPED, (void *)on_unmapped, 1, 0);
    ok = ok && add_hook(m, UC_HOOK_MEM_WRITE_PROT, (void *)on_write_prot, 1, 0);
    ok = ok && add_hook(m, UC_HOOK_MEM_FETCH_PROT, (void *)on_fetch_prot, 1, 0);
    ok = ok && add_hook(m, UC_HOOK_MEM_READ, (void *)on_flash_read, FLASH_ALIAS,
                        FLASH_ALIAS + c->flash.size - 1u);
    ok = ok && add_hook(m, UC_HOOK_MEM_READ, (void *)on_flash_read, 0, c->flash.size - 1u);
    return ok;
}

vmcu *vmcu_new(const vmcu_config *config)
{
    const vmcu_config *c = config;
    if (c->flash_bytes == NULL || c->ram == NULL || c->sysmem == NULL || c->option_bytes == NULL ||
        c->flash.size == 0 || c->flash.size % 1024u != 0 || c->ram_size == 0 ||
        c->ram_size % 1024u != 0 || c->sysmem_base >= OPTION_BASE ||
        (OPTION_BASE - c->sysmem_base) % 1024u != 0 || c->flash.page_size == 0 ||
        c->flash.wrp_pages_per_bit == 0) {
        return NULL;
    }
    vmcu *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    m->cfg = *config;
    m->sysmem_size = OPTION_BASE - c->sysmem_base;
    m->boot_from_sysmem = true;
    map_apb_slots(m);
    vmcu_fpec_init(&m->fpec, &c->flash, c->flash_bytes, c->option_bytes);
    m->fpec.max_timings = c->flash_max_timings;
    if (!setup_unicorn(m) || !map_alias(m)) {
        vmcu_free(m);
        return NULL;
    }
    vmcu_reset(m, true);
    /* A power-on reset: RCC_CSR's PORRSTF and PINRSTF (RM0008 7.3.10). */
    m->rcc.csr |= (1u << 27) | (1u << 26);
    return m;
}

void vmcu_free(vmcu *m)
{
    if (m == NULL) {
        return;
    }
    if (m->uc != NULL) {
        uc_close(m->uc);
    }
    free(m);
}

void vmcu_reset(vmcu *m, bool boot_from_sysmem)
{
    if (boot_from_sysmem != m->boot_from_sysmem) {
        m->boot_from_sysmem = boot_from_sysmem;
        (void)map_alias(m);
    }
    m->cpu = CPU_HELD;
    rcc_reset(m);
    flash_reset(m);
    vmcu_fpec_reset(&m->fpec);
    usart_reset(m);
    gpio_reset(m);
    iwdg_reset(m);
    system_reset_core(m);
    m->crc_dr = 0xFFFFFFFFu;
    m->crc_idr = 0;
    m->idle_polls = 0;
    m->code_changed = true;
}

static void set_core(vmcu *m, uint32_t sp, uint32_t pc, bool primask)
{
    uint32_t zero = 0, pm = primask ? 1u : 0u, xpsr = 1u << 24;
    static const int regs[13] = {UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2,  UC_ARM_REG_R3,
                                 UC_ARM_REG_R4, UC_ARM_REG_R5, UC_ARM_REG_R6,  UC_ARM_REG_R7,
                                 UC_ARM_REG_R8, UC_ARM_REG_R9, UC_ARM_REG_R10, UC_ARM_REG_R11,
                                 UC_ARM_REG_R12};
    for (int i = 0; i < 13; i++) {
        uc_reg_write(m->uc, regs[i], &zero);
    }
    uint32_t lr = 0xFFFFFFFFu;
    uc_reg_write(m->uc, UC_ARM_REG_CONTROL, &zero);
    uc_reg_write(m->uc, UC_ARM_REG_XPSR, &xpsr);
    uc_reg_write(m->uc, UC_ARM_REG_IPSR, &zero);
    uc_reg_write(m->uc, UC_ARM_REG_MSP, &sp);
    uc_reg_write(m->uc, UC_ARM_REG_SP, &sp);
    uc_reg_write(m->uc, UC_ARM_REG_LR, &lr);
    uc_reg_write(m->uc, UC_ARM_REG_PRIMASK, &pm);
    uc_reg_write(m->uc, UC_ARM_REG_BASEPRI, &zero);
    uc_reg_write(m->uc, UC_ARM_REG_FAULTMASK, &zero);
    uint32_t entry = pc & ~1u;
    uc_reg_write(m->uc, UC_ARM_REG_PC, &entry);
    m->active_count = 0;
    iwdg_refresh(m);
    /* RAM and flash may hold another program than the last run's: their
     * owner writes them directly, behind the translation cache's back. */
    m->code_changed = true;
    m->cpu = CPU_RUNNING;
    m->idle_polls = 0;
}

void vmcu_boot(vmcu *m)
{
    uint32_t v[2] = {0, 0};
    uc_mem_read(m->uc, 0, v, sizeof v);
    set_core(m, v[0] & ~3u, v[1], false);
    if ((v[1] & 1u) == 0) {
        vmcu_core_fault(m, "reset vector 0x%08x is not a Thumb address", v[1]);
    }
}

void vmcu_jump(vmcu *m, uint32_t sp, uint32_t pc, bool primask)
{
    set_core(m, sp, pc, primask);
}

void vmcu_hold(vmcu *m)
{
    m->cpu = CPU_HELD;
}

void vmcu_system_reset_request(vmcu *m, vmcu_reset_cause cause)
{
    m->reset_cause = cause;
    /* RM0008 7.3.10: SFTRSTF / IWDGRSTF record the cause across the reset. */
    m->rcc.csr |= cause == VMCU_RESET_WATCHDOG ? (1u << 29) : (1u << 28);
    vmcu_request_stop(m, VMCU_STOP_RESET, "%s",
                      cause == VMCU_RESET_WATCHDOG ? "independent watchdog reset"
                                                   : "system reset request (AIRCR.SYSRESETREQ)");
}

void vmcu_poke32(vmcu *m, uint32_t address, uint32_t value)
{
    if (address >= PPB_START) {
        ppb_write(m, address, value);
    } else if (!apb_access(m, address, true, &value)) {
        vmcu_logf(m, "poke at 0x%08x: no modelled register there", address);
    }
}

uint32_t vmcu_peek32(vmcu *m, uint32_t address)
{
    uint32_t value = 0;
    if (address >= PPB_START) {
        return ppb_read(m, address);
    }
    if (!apb_access(m, address, false, &value)) {
        vmcu_logf(m, "peek at 0x%08x: no modelled register there", address);
    }
    return value;
}

/* ------------------------------------------------------------------------- */
/* Accessors                                                                  */

uint64_t vmcu_now_ns(const vmcu *m)
{
    return m->now_ps / PS_PER_NS;
}

uint64_t vmcu_cycles(const vmcu *m)
{
    return m->cycles;
}

bool vmcu_fault_in_rom(const vmcu *m)
{
    return m->fault_in_rom;
}

const char *vmcu_stop_reason(const vmcu *m)
{
    return m->reason;
}

vmcu_reset_cause vmcu_last_reset_cause(const vmcu *m)
{
    return m->reset_cause;
}

uint32_t vmcu_reg(const vmcu *m, unsigned index)
{
    static const int regs[16] = {UC_ARM_REG_R0,  UC_ARM_REG_R1, UC_ARM_REG_R2,  UC_ARM_REG_R3,
                                 UC_ARM_REG_R4,  UC_ARM_REG_R5, UC_ARM_REG_R6,  UC_ARM_REG_R7,
                                 UC_ARM_REG_R8,  UC_ARM_REG_R9, UC_ARM_REG_R10, UC_ARM_REG_R11,
                                 UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR,  UC_ARM_REG_PC};
    uint32_t v = 0;
    if (index < 16) {
        uc_reg_read(m->uc, regs[index], &v);
    }
    return v;
}

uint32_t vmcu_vtor(const vmcu *m)
{
    return m->vtor;
}

uint32_t vmcu_hclk_hz(const vmcu *m)
{
    return m->rcc.hclk_hz;
}

uint32_t vmcu_pclk2_hz(const vmcu *m)
{
    return m->rcc.pclk2_hz;
}

const vmcu_fpec *vmcu_flash(const vmcu *m)
{
    return &m->fpec;
}

uint32_t vmcu_flash_sr(vmcu *m)
{
    process_events(m);
    return flash_read(m, 0, 0x0C);
}

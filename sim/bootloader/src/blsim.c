/*
 * The bootloader model. One parser function, blsim_rx_byte(), takes the
 * target's received bytes one at a time; everything the target does follows
 * from it and from the pins. Timing is event driven on a virtual clock.
 */
#include "internal.h"

#include "stm32isp/an3155.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_US 1000ull
/* AN2606/datasheet: the bootloader listens about 1.3 ms after reset. */
#define BOOT_TIME_NS (1500ull * NS_PER_US)
#define TXQ_SIZE     2048u
#define OPTION_BYTES 16u
/* Longest command body collected at once: Extended Erase of 512 pages. */
#define MAX_EXT_ERASE_PAGES 512u
#define COLLECT_MAX         (2u + 2u * MAX_EXT_ERASE_PAGES + 1u)

typedef enum parse_phase {
    PHASE_OPCODE,
    PHASE_COMPLEMENT,
    PHASE_COLLECT,
} parse_phase;

/* What happens when the bytes being collected are complete. */
typedef enum collect_step {
    STEP_READ_ADDRESS,
    STEP_READ_LENGTH,
    STEP_GO_ADDRESS,
    STEP_WRITE_ADDRESS,
    STEP_WRITE_LENGTH,
    STEP_WRITE_DATA,
    STEP_ERASE_COUNT,
    STEP_ERASE_GLOBAL,
    STEP_ERASE_PAGES,
    STEP_EXT_ERASE_COUNT,
    STEP_EXT_ERASE_SPECIAL,
    STEP_EXT_ERASE_PAGES,
    STEP_WRP_COUNT,
    STEP_WRP_SECTORS,
    STEP_CHECKSUM_ADDRESS,
    STEP_CHECKSUM_LENGTH,
} collect_step;

/* Something the target will do at a set time with no further input. */
typedef enum timed_action {
    ACTION_NONE,
    ACTION_SYSTEM_RESET, /* after a protect/unprotect or option-byte write */
    ACTION_JUMP,         /* Go: leave the bootloader */
} timed_action;

typedef struct tx_slot {
    uint8_t byte;
    uint64_t ready_ns;
} tx_slot;

struct blsim {
    const blsim_device *dev;
    blsim_config cfg;
    uint32_t flash_size;
    uint8_t *flash;
    uint8_t *ram;
    uint8_t *sysmem;
    uint32_t sysmem_size;
    uint8_t option_bytes[OPTION_BYTES];

    bool boot0, nrst;
    blsim_state state;
    bool app_from_flash; /* the running application is the one in flash */

    /* Virtual time. */
    uint64_t now_ns;
    /* Time accounting per command: the command that began last, and when
     * (-1: none since power-on). */
    int timed_op;
    uint64_t timed_since_ns;
    uint32_t byte_ns;
    uint64_t boot_done_ns;
    uint64_t busy_until_ns; /* the CPU is not polling RX before this */
    int pending_rx;         /* byte latched in the USART while busy, or -1 */
    uint64_t tx_free_ns;    /* the TX line is free from here */
    timed_action action;
    uint64_t action_ns;
    uint32_t jump_address;

    /* The flash controller the ROM's commands drive (PM0075). */
    vmcu_fpec fpec;
    /* Code Go starts in RAM runs here (docs/virtual-mcu.md); created at the
     * first such Go. */
    vmcu *mcu;
    bool mcu_waiting; /* it polls for input: nothing happens until the host sends */
    blsim_app_entry entry;
    char fault[256];
    bool host_spoke; /* the host sent since the target last answered */

    tx_slot txq[TXQ_SIZE];
    size_t txq_head, txq_count;

    /* Parser. */
    parse_phase phase;
    uint8_t opcode;
    collect_step step;
    uint8_t collect[COLLECT_MAX];
    size_t have, need;
    uint32_t address;
    uint32_t length;                     /* N + 1 */
    uint32_t pages[MAX_EXT_ERASE_PAGES]; /* validated page list of an erase */

    /* Faults. */
    uint64_t rng;
    uint64_t acks_attempted;
    uint64_t bytes_received; /* by the target, for reset-after-byte */

    blsim_stats stats;
};

/* ------------------------------------------------------------------------- */
/* Small helpers                                                             */

static uint64_t rng_next(blsim *sim)
{
    /* splitmix64: tiny, seedable, good enough for fault placement. */
    uint64_t z = (sim->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool chance(blsim *sim, double probability)
{
    if (probability <= 0.0) {
        return false;
    }
    return (double)(rng_next(sim) >> 11) * (1.0 / 9007199254740992.0) < probability;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint8_t xor_of(const uint8_t *p, size_t n)
{
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= p[i];
    }
    return x;
}

static bool in_range(uint32_t addr, uint32_t len, uint32_t base, uint32_t size)
{
    return addr >= base && len <= size && addr - base <= size - len;
}

static uint32_t page_count(const blsim *sim)
{
    return sim->flash_size / sim->dev->page_size;
}

static bool fault_dir_hits(const blsim *sim, bool to_target)
{
    blsim_fault_dir d = sim->cfg.faults.direction;
    return d == BLSIM_DIR_BOTH || (to_target ? d == BLSIM_DIR_TO_TARGET : d == BLSIM_DIR_TO_HOST);
}

/* Bit flips on one byte travelling in the given direction. */
static uint8_t line_noise(blsim *sim, uint8_t byte, bool to_target)
{
    if (!fault_dir_hits(sim, to_target)) {
        return byte;
    }
    for (int bit = 0; bit < 8; bit++) {
        if (chance(sim, sim->cfg.faults.bit_flip_rate)) {
            byte ^= (uint8_t)(1u << bit);
            sim->stats.faults_bit_flips++;
        }
    }
    return byte;
}

/* ------------------------------------------------------------------------- */
/* Memory map                                                                */

bool blsim_readout_protected(const blsim *sim)
{
    return sim->option_bytes[0] != sim->dev->rdp_level0;
}

/* Pointer to a mapped byte range as the CPU sees it, or NULL. */
static uint8_t *map(blsim *sim, uint32_t addr, uint32_t len)
{
    const blsim_device *d = sim->dev;
    if (in_range(addr, len, d->flash_base, sim->flash_size)) {
        return sim->flash + (addr - d->flash_base);
    }
    if (in_range(addr, len, d->ram_base, d->ram_size)) {
        return sim->ram + (addr - d->ram_base);
    }
    if (in_range(addr, len, d->sysmem_base, sim->sysmem_size)) {
        return sim->sysmem + (addr - d->sysmem_base);
    }
    if (in_range(addr, len, d->option_bytes_base, OPTION_BYTES)) {
        return sim->option_bytes + (addr - d->option_bytes_base);
    }
    return NULL;
}

bool blsim_peek(const blsim *sim, uint32_t address, uint8_t *value)
{
    const uint8_t *p = map((blsim *)sim, address, 1);
    if (p == NULL) {
        return false;
    }
    *value = *p;
    return true;
}

/* Where Write Memory may start: flash, user RAM, or the option bytes' base. */
static bool write_address_valid(const blsim *sim, uint32_t addr)
{
    const blsim_device *d = sim->dev;
    return in_range(addr, 1, d->flash_base, sim->flash_size) ||
           in_range(addr, 1, d->ram_user_start, d->ram_base + d->ram_size - d->ram_user_start) ||
           addr == d->option_bytes_base;
}

static bool go_address_valid(const blsim *sim, uint32_t addr)
{
    const blsim_device *d = sim->dev;
    return in_range(addr, 1, d->flash_base, sim->flash_size) ||
           in_range(addr, 1, d->ram_user_start, d->ram_base + d->ram_size - d->ram_user_start);
}

/* ------------------------------------------------------------------------- */
/* Transmit side                                                             */

static void tx_enqueue(blsim *sim, uint8_t byte, uint64_t ready_ns)
{
    if (sim->txq_count == TXQ_SIZE) {
        return; /* cannot happen with the replies modelled; never overwrite */
    }
    sim->txq[(sim->txq_head + sim->txq_count) % TXQ_SIZE] = (tx_slot){byte, ready_ns};
    sim->txq_count++;
}

static void count_turnaround(blsim *sim)
{
    if (sim->host_spoke) {
        sim->host_spoke = false;
        sim->stats.turnarounds++;
    }
}

/* The target writes one byte to its USART no earlier than at_ns. */
static void emit(blsim *sim, uint8_t byte, uint64_t at_ns)
{
    bool faults = fault_dir_hits(sim, false);
    count_turnaround(sim);
    if (faults && chance(sim, sim->cfg.faults.insert_rate)) {
        sim->tx_free_ns = max_u64(at_ns, sim->tx_free_ns) + sim->byte_ns;
        tx_enqueue(sim, (uint8_t)rng_next(sim), sim->tx_free_ns);
        sim->stats.faults_inserts++;
    }
    sim->tx_free_ns = max_u64(at_ns, sim->tx_free_ns) + sim->byte_ns;
    sim->stats.bytes_to_host++;
    if (faults && chance(sim, sim->cfg.faults.drop_rate)) {
        sim->stats.faults_drops++;
        return;
    }
    tx_enqueue(sim, line_noise(sim, byte, false), sim->tx_free_ns);
}

static void emit_ack(blsim *sim, uint64_t at_ns)
{
    sim->acks_attempted++;
    if (sim->cfg.faults.nack_at_ack != 0 && sim->acks_attempted == sim->cfg.faults.nack_at_ack) {
        sim->stats.faults_nacks++;
        sim->stats.nacks++;
        emit(sim, AN3155_NACK, at_ns);
        return;
    }
    sim->stats.acks++;
    emit(sim, AN3155_ACK, at_ns);
}

static void emit_nack(blsim *sim, uint64_t at_ns)
{
    sim->stats.nacks++;
    emit(sim, AN3155_NACK, at_ns);
}

/* A multi-byte reply keeps the CPU busy until the last byte is in the USART. */
static void busy_while_sending(blsim *sim)
{
    sim->busy_until_ns = max_u64(sim->busy_until_ns, sim->tx_free_ns - sim->byte_ns);
}

static void emit_banner(blsim *sim, uint64_t at_ns)
{
    if (sim->cfg.app_banner == NULL) {
        return;
    }
    for (const char *c = sim->cfg.app_banner; *c != '\0'; c++) {
        emit(sim, (uint8_t)*c, at_ns);
    }
}

/* ------------------------------------------------------------------------- */
/* Resets and starting code                                                  */

static void parser_idle(blsim *sim)
{
    sim->phase = PHASE_OPCODE;
    sim->have = sim->need = 0;
}

/* A system reset at t_ns: bytes still being shifted out are lost. */
static void system_reset(blsim *sim, uint64_t t_ns)
{
    size_t kept = 0;
    for (size_t i = 0; i < sim->txq_count; i++) {
        tx_slot s = sim->txq[(sim->txq_head + i) % TXQ_SIZE];
        if (s.ready_ns <= t_ns) {
            sim->txq[(sim->txq_head + kept) % TXQ_SIZE] = s;
            kept++;
        }
    }
    sim->txq_count = kept;
    sim->tx_free_ns = t_ns;
    sim->busy_until_ns = t_ns;
    sim->pending_rx = -1;
    sim->action = ACTION_NONE;
    parser_idle(sim);
    sim->stats.resets++;
    sim->mcu_waiting = false;
    /* The option bytes are loaded again: write protection changes now. */
    vmcu_fpec_reset(&sim->fpec);
    if (sim->mcu != NULL) {
        vmcu_run(sim->mcu, t_ns, 0);
        vmcu_reset(sim->mcu, sim->boot0);
    }
    if (sim->nrst) {
        sim->state = BLSIM_STATE_BOOTING;
        sim->boot_done_ns = t_ns + BOOT_TIME_NS;
    } else {
        sim->state = BLSIM_STATE_RESET;
    }
}

/* Loads MSP and PC from a vector table as the Cortex-M core does; a program
 * whose stack pointer is not in RAM or whose entry is not Thumb code in flash
 * or RAM faults at once instead of running. */
static bool vector_table_runs(blsim *sim, uint32_t table)
{
    const uint8_t *v = map(sim, table, 8);
    if (v == NULL) {
        return false;
    }
    uint32_t sp = le32(v), pc = le32(v + 4);
    const blsim_device *d = sim->dev;
    bool sp_ok = sp > d->ram_base && sp <= d->ram_base + d->ram_size;
    bool pc_ok = (pc & 1u) != 0 && (in_range(pc & ~1u, 2, d->flash_base, sim->flash_size) ||
                                    in_range(pc & ~1u, 2, d->ram_base, d->ram_size));
    return sp_ok && pc_ok;
}

/* ------------------------------------------------------------------------- */
/* Code started by Go in RAM, on the virtual STM32F1 (docs/virtual-mcu.md)    */

#define HOST_PORT VMCU_PORT_A
#define HOST_RX   10u /* the target's RX: where the host's bytes arrive */
#define HOST_TX   9u  /* the target's TX */

static void log_line(blsim *sim, const char *line)
{
    if (sim->cfg.log != NULL) {
        sim->cfg.log(sim->cfg.log_ctx, line);
    }
}

static void mcu_log(void *ctx, const char *line)
{
    blsim *sim = ctx;
    char text[360];
    snprintf(text, sizeof text, "virtual MCU: %s", line);
    log_line(sim, text);
}

/* What the host's line carries: 8E1 at the configured rate. */
static vmcu_uart_frame host_frame(const blsim *sim)
{
    return (vmcu_uart_frame){
        .baud = 11e9 / (double)sim->byte_ns,
        .data_bits = 8,
        .parity = VMCU_PARITY_EVEN,
        .stop_bits = 1,
    };
}

/* A frame from the virtual MCU reaches the host's receiver, as that
 * receiver reads it. */
static void mcu_uart_tx(void *ctx, unsigned port, unsigned pin, uint16_t word,
                        const vmcu_uart_frame *frame, uint64_t end_ns)
{
    blsim *sim = ctx;
    if (port != HOST_PORT || pin != HOST_TX || sim->state != BLSIM_STATE_RAM_PROGRAM) {
        return; /* a pin the host is not wired to */
    }
    vmcu_uart_frame host = host_frame(sim);
    vmcu_uart_received r;
    vmcu_uart_receive(frame, word, &host, &r);
    if (!r.intact) {
        char line[200];
        snprintf(line, sizeof line,
                 "host receives a frame sent at %.0f baud as 0x%02x%s%s%s (host at %.0f baud)",
                 frame->baud, r.data, r.started ? "" : " (no start bit: nothing)",
                 r.parity_error ? ", parity error" : "", r.framing_error ? ", framing error" : "",
                 host.baud);
        log_line(sim, line);
    }
    if (!r.started) {
        return;
    }
    count_turnaround(sim);
    sim->stats.bytes_to_host++;
    bool faults = fault_dir_hits(sim, false);
    if (faults && chance(sim, sim->cfg.faults.drop_rate)) {
        sim->stats.faults_drops++;
        return;
    }
    tx_enqueue(sim, line_noise(sim, (uint8_t)r.data, false), end_ns);
}

static const vmcu_ops mcu_ops = {.uart_tx = mcu_uart_tx, .log = mcu_log};

static blsim_go_state go_state(const blsim *sim)
{
    return sim->cfg.go_state != BLSIM_GO_DEVICE ? sim->cfg.go_state : sim->dev->go_state;
}

static bool create_mcu(blsim *sim)
{
    if (sim->mcu != NULL) {
        return true;
    }
    const blsim_device *d = sim->dev;
    vmcu_config c = {
        .flash = sim->fpec.geometry,
        .flash_bytes = sim->flash,
        .ram = sim->ram,
        .ram_size = d->ram_size,
        .sysmem = sim->sysmem,
        .sysmem_base = d->sysmem_base,
        .option_bytes = sim->option_bytes,
        .hse_hz = sim->cfg.no_crystal ? 0u : 8000000u,
        .hsi_ppm = sim->cfg.hsi_ppm,
        .flash_max_timings = sim->cfg.faults.max_flash_timings,
        .ops = &mcu_ops,
        .ctx = sim,
    };
    sim->mcu = vmcu_new(&c);
    return sim->mcu != NULL;
}

/* Go into RAM: the program's bytes run on the virtual MCU from the state
 * the ROM leaves. */
static void run_in_mcu(blsim *sim, uint32_t table, uint64_t t_ns)
{
    if (!create_mcu(sim)) {
        snprintf(sim->fault, sizeof sim->fault, "the virtual MCU could not be created");
        sim->state = BLSIM_STATE_NOT_MODELLED;
        return;
    }
    const uint8_t *v = map(sim, table, 8);
    vmcu_run(sim->mcu, t_ns, 0); /* its clock catches up while the ROM ran */
    blsim_apply_go_state(sim->mcu, go_state(sim), (uint32_t)(11000000000ull / sim->byte_ns),
                         sim->cfg.hsi_ppm);
    vmcu_jump(sim->mcu, le32(v), le32(v + 4), false);
    sim->state = BLSIM_STATE_RAM_PROGRAM;
    sim->mcu_waiting = false;
    sim->fault[0] = '\0';
    sim->stats.ram_programs++;
}

static void start_code(blsim *sim, uint32_t table, uint64_t t_ns)
{
    parser_idle(sim);
    if (!vector_table_runs(sim, table)) {
        sim->state = BLSIM_STATE_HARDFAULT;
        snprintf(sim->fault, sizeof sim->fault,
                 "no valid stack pointer and Thumb entry point at 0x%08x", table);
        return;
    }
    bool in_ram = in_range(table, 1, sim->dev->ram_base, sim->dev->ram_size);
    if (in_ram && go_state(sim) != BLSIM_GO_NOT_MODELLED) {
        run_in_mcu(sim, table, t_ns);
        return;
    }
    sim->state = BLSIM_STATE_APP;
    sim->entry = (blsim_app_entry){0};
    sim->app_from_flash = in_range(table, 1, sim->dev->flash_base, sim->flash_size);
    if (sim->app_from_flash) {
        emit_banner(sim, t_ns);
    }
}

/* The program in RAM jumped into flash: the application starts (the model
 * does not run it, it prints its banner). */
static void mcu_started_app(blsim *sim)
{
    uint64_t t = vmcu_now_ns(sim->mcu);
    sim->entry = (blsim_app_entry){
        .from_ram_program = true,
        .pc = vmcu_reg(sim->mcu, VMCU_REG_PC),
        .sp = vmcu_reg(sim->mcu, VMCU_REG_SP),
        .vtor = vmcu_vtor(sim->mcu),
    };
    vmcu_hold(sim->mcu);
    sim->state = BLSIM_STATE_APP;
    sim->app_from_flash = true;
    emit_banner(sim, t);
}

/*
 * Runs the virtual MCU up to t_ns, or until it stops for one of `flags`
 * (VMCU_RUN_STOP_ON_TX, VMCU_RUN_STOP_WHEN_WAITING), and turns what it did
 * into the target's state: the application starting, a reset, a fault.
 */
static void run_mcu(blsim *sim, uint64_t t_ns, unsigned flags)
{
    while (sim->state == BLSIM_STATE_RAM_PROGRAM && vmcu_now_ns(sim->mcu) < t_ns) {
        vmcu_stop why = vmcu_run(sim->mcu, t_ns, flags | VMCU_RUN_STOP_AT_FLASH);
        uint64_t now = vmcu_now_ns(sim->mcu);
        sim->stats.mcu_cycles = vmcu_cycles(sim->mcu);
        switch (why) {
        case VMCU_STOP_TIME:
        case VMCU_STOP_HELD:
            break;
        case VMCU_STOP_TX:
            return;
        case VMCU_STOP_WAITING:
            sim->mcu_waiting = true;
            return;
        case VMCU_STOP_EXEC_FLASH:
            mcu_started_app(sim);
            return;
        case VMCU_STOP_RESET:
            system_reset(sim, now);
            return;
        case VMCU_STOP_FAULT:
            if (vmcu_fault_in_rom(sim->mcu) && go_state(sim) == BLSIM_GO_F103_V22) {
                /* VTOR still points at the ROM, whose HardFault handler
                 * resets the chip (the disassembly's handler writes
                 * SYSRESETREQ): with BOOT0 high the bootloader is back. */
                snprintf(sim->fault, sizeof sim->fault,
                         "%s; the ROM's HardFault handler resets the chip",
                         vmcu_stop_reason(sim->mcu));
                log_line(sim, sim->fault);
                system_reset(sim, now);
                return;
            }
            /* fall through */
        case VMCU_STOP_INVALID:
        case VMCU_STOP_UNMODELLED:
            snprintf(sim->fault, sizeof sim->fault, "%s", vmcu_stop_reason(sim->mcu));
            sim->state =
                why == VMCU_STOP_UNMODELLED ? BLSIM_STATE_NOT_MODELLED : BLSIM_STATE_HARDFAULT;
            log_line(sim, sim->fault);
            return;
        }
    }
}

static uint64_t mcu_now(const blsim *sim)
{
    return sim->mcu != NULL ? vmcu_now_ns(sim->mcu) : 0;
}

/* ------------------------------------------------------------------------- */
/* Flash                                                                      */

static uint64_t halfword_ns(const blsim *sim)
{
    const blsim_device *d = sim->dev;
    uint32_t x10 =
        sim->cfg.faults.max_flash_timings ? d->halfword_us_max_x10 : d->halfword_us_typ_x10;
    return (uint64_t)x10 * NS_PER_US / 10u;
}

static uint64_t page_erase_ns(const blsim *sim)
{
    const blsim_device *d = sim->dev;
    return (sim->cfg.faults.max_flash_timings ? d->page_erase_us_max : d->page_erase_us_typ) *
           NS_PER_US;
}

static uint64_t mass_erase_ns(const blsim *sim)
{
    const blsim_device *d = sim->dev;
    return (sim->cfg.faults.max_flash_timings ? d->mass_erase_us_max : d->mass_erase_us_typ) *
           NS_PER_US;
}

/*
 * Programs half-words as the F1 ROM does (PG, one half-word store, wait,
 * check PGERR), through the flash controller's model: it stops at the
 * first half-word that was not erased (PGERR). Write-protected pages are
 * left as they were and the ROM, which checks only PGERR, goes on: only
 * verification shows it. Programs at most `limit` half-words (a reset in
 * the middle of the command). Returns true when every half-word was
 * programmed; *cost_ns gets the time.
 */
static bool flash_program(blsim *sim, uint32_t offset, const uint8_t *data, uint32_t len,
                          uint32_t limit, uint64_t *cost_ns)
{
    uint32_t done = 0;
    *cost_ns = 0;
    for (uint32_t i = 0; i + 1 < len; i += 2, done++) {
        if (done == limit) {
            return false;
        }
        uint64_t ns = 0;
        uint16_t value = (uint16_t)(data[i] | data[i + 1] << 8);
        uint32_t flags =
            vmcu_fpec_program(&sim->fpec, sim->dev->flash_base + offset + i, value, &ns);
        *cost_ns += ns;
        if ((flags & VMCU_FLASH_SR_PGERR) != 0) {
            sim->stats.program_errors++;
            return false;
        }
        if (flags == 0) {
            sim->stats.halfwords_programmed++;
        }
    }
    return true;
}

/* A page erase (PER, AR, STRT); the ROM does not look at WRPRTERR. */
static uint64_t erase_page(blsim *sim, uint32_t page)
{
    uint64_t ns = 0;
    if (vmcu_fpec_erase_page(&sim->fpec, sim->dev->flash_base + page * sim->dev->page_size, &ns) ==
        0) {
        sim->stats.pages_erased++;
    }
    return ns;
}

/* The ROM's global erase is a hardware mass erase (MER, STRT), which PM0075
 * refuses as a whole while any page is write protected. */
static uint64_t mass_erase(blsim *sim)
{
    uint64_t ns = 0;
    if (vmcu_fpec_mass_erase(&sim->fpec, &ns) == 0) {
        sim->stats.mass_erases++;
        sim->stats.pages_erased += page_count(sim);
    }
    return ns;
}

static void option_bytes_program(blsim *sim, const uint8_t *data, uint32_t len)
{
    memset(sim->option_bytes, 0xFF, OPTION_BYTES);
    memcpy(sim->option_bytes, data, len);
}

static void option_bytes_set_rdp(blsim *sim, uint8_t rdp)
{
    sim->option_bytes[0] = rdp;
    sim->option_bytes[1] = (uint8_t)~rdp;
}

/* ------------------------------------------------------------------------- */
/* The command parser                                                         */

static void collect(blsim *sim, collect_step step, size_t count)
{
    sim->phase = PHASE_COLLECT;
    sim->step = step;
    sim->have = 0;
    sim->need = count;
}

/* Keeps the bytes collected so far (a checksum will cover them) and waits
 * until `total` bytes are there. */
static void collect_more(blsim *sim, collect_step step, size_t total)
{
    sim->phase = PHASE_COLLECT;
    sim->step = step;
    sim->need = total;
}

static bool command_offered(const blsim *sim, uint8_t op)
{
    switch (op) {
    case AN3155_CMD_GET:
    case AN3155_CMD_GET_VERSION:
    case AN3155_CMD_GET_ID:
    case AN3155_CMD_READ_MEMORY:
    case AN3155_CMD_GO:
    case AN3155_CMD_WRITE_MEMORY:
    case AN3155_CMD_WRITE_PROTECT:
    case AN3155_CMD_WRITE_UNPROTECT:
    case AN3155_CMD_READOUT_PROTECT:
    case AN3155_CMD_READOUT_UNPROTECT:
        return true;
    case AN3155_CMD_ERASE:
    case AN3155_CMD_EXTENDED_ERASE:
        return op == sim->dev->erase_opcode;
    case AN3155_CMD_GET_CHECKSUM:
        return sim->cfg.get_checksum;
    default:
        return false;
    }
}

static bool allowed_under_rdp(uint8_t op)
{
    return op == AN3155_CMD_GET || op == AN3155_CMD_GET_VERSION || op == AN3155_CMD_GET_ID ||
           op == AN3155_CMD_READOUT_UNPROTECT;
}

/* The reset-cmd fault: true when this command is the one to be cut short. */
static bool cut_this_command(const blsim *sim)
{
    return sim->cfg.faults.reset_in_command != 0 &&
           sim->stats.commands == sim->cfg.faults.reset_in_command;
}

static void fault_reset(blsim *sim, uint64_t t_ns)
{
    sim->stats.faults_resets++;
    system_reset(sim, t_ns);
}

/* After a reset-causing command: the final ACK goes out, then the reset. */
static void schedule_reset_after_reply(blsim *sim, uint64_t extra_ns)
{
    sim->action = ACTION_SYSTEM_RESET;
    sim->action_ns = sim->tx_free_ns + extra_ns;
    sim->busy_until_ns = max_u64(sim->busy_until_ns, sim->action_ns);
}

static void run_get(blsim *sim, uint64_t t)
{
    static const uint8_t common[] = {AN3155_CMD_GET,    AN3155_CMD_GET_VERSION,
                                     AN3155_CMD_GET_ID, AN3155_CMD_READ_MEMORY,
                                     AN3155_CMD_GO,     AN3155_CMD_WRITE_MEMORY};
    static const uint8_t tail[] = {AN3155_CMD_WRITE_PROTECT, AN3155_CMD_WRITE_UNPROTECT,
                                   AN3155_CMD_READOUT_PROTECT, AN3155_CMD_READOUT_UNPROTECT};
    bool checksum = command_offered(sim, AN3155_CMD_GET_CHECKSUM);
    emit_ack(sim, t);
    /* N = bytes that follow - 1 */
    emit(sim, (uint8_t)(sizeof common + 1 + sizeof tail + (checksum ? 1 : 0)), t);
    emit(sim, sim->dev->bootloader_version, t);
    for (size_t i = 0; i < sizeof common; i++) {
        emit(sim, common[i], t);
    }
    emit(sim, sim->dev->erase_opcode, t);
    for (size_t i = 0; i < sizeof tail; i++) {
        emit(sim, tail[i], t);
    }
    if (checksum) {
        emit(sim, AN3155_CMD_GET_CHECKSUM, t);
    }
    emit_ack(sim, t);
    busy_while_sending(sim);
}

static void run_get_version(blsim *sim, uint64_t t)
{
    emit_ack(sim, t);
    emit(sim, sim->dev->bootloader_version, t);
    emit(sim, 0x00, t); /* option bytes kept for compatibility: always 0 */
    emit(sim, 0x00, t);
    emit_ack(sim, t);
    busy_while_sending(sim);
}

static void run_get_id(blsim *sim, uint64_t t)
{
    emit_ack(sim, t);
    emit(sim, 0x01, t); /* N: two PID bytes follow */
    uint16_t pid = sim->cfg.pid_override != 0 ? sim->cfg.pid_override : sim->dev->pid;
    emit(sim, (uint8_t)(pid >> 8), t);
    emit(sim, (uint8_t)pid, t);
    emit_ack(sim, t);
    busy_while_sending(sim);
}

/* Charges the time since the last command began (its reply, the flash work
 * and the host's pause before the next one) to that command, so that the
 * times per opcode add up to the whole session. */
static void account_time(blsim *sim, uint64_t until_ns)
{
    if (until_ns <= sim->timed_since_ns) {
        return;
    }
    uint64_t spent = until_ns - sim->timed_since_ns;
    if (sim->timed_op >= 0) {
        sim->stats.command_ns[sim->timed_op] += spent;
    } else {
        sim->stats.before_commands_ns += spent;
    }
    sim->timed_since_ns = until_ns;
}

/* Opcode and complement received: start the command. */
static void start_command(blsim *sim, uint64_t t)
{
    uint8_t op = sim->opcode;
    sim->stats.commands++;
    sim->stats.command_count[op]++;
    account_time(sim, t - 2u * sim->byte_ns);
    sim->timed_op = op;
    parser_idle(sim);

    /* The reset-cmd fault cuts commands that change flash in the middle of
     * that work (see the write, erase and readout-unprotect paths); any
     * other command is cut as soon as it is recognised. */
    bool changes_flash = op == AN3155_CMD_WRITE_MEMORY || op == AN3155_CMD_ERASE ||
                         op == AN3155_CMD_EXTENDED_ERASE || op == AN3155_CMD_READOUT_UNPROTECT;
    if (cut_this_command(sim) && !(changes_flash && command_offered(sim, op))) {
        fault_reset(sim, t);
        return;
    }

    if (blsim_readout_protected(sim) && !allowed_under_rdp(op)) {
        emit_nack(sim, t);
        return;
    }
    switch (op) {
    case AN3155_CMD_GET:
        run_get(sim, t);
        return;
    case AN3155_CMD_GET_VERSION:
        run_get_version(sim, t);
        return;
    case AN3155_CMD_GET_ID:
        run_get_id(sim, t);
        return;
    case AN3155_CMD_READ_MEMORY:
        emit_ack(sim, t);
        collect(sim, STEP_READ_ADDRESS, 5);
        return;
    case AN3155_CMD_GO:
        emit_ack(sim, t);
        collect(sim, STEP_GO_ADDRESS, 5);
        return;
    case AN3155_CMD_WRITE_MEMORY:
        emit_ack(sim, t);
        collect(sim, STEP_WRITE_ADDRESS, 5);
        return;
    case AN3155_CMD_ERASE:
        if (op != sim->dev->erase_opcode) {
            break;
        }
        emit_ack(sim, t);
        collect(sim, STEP_ERASE_COUNT, 1);
        return;
    case AN3155_CMD_EXTENDED_ERASE:
        if (op != sim->dev->erase_opcode) {
            break;
        }
        emit_ack(sim, t);
        collect(sim, STEP_EXT_ERASE_COUNT, 2);
        return;
    case AN3155_CMD_WRITE_PROTECT:
        emit_ack(sim, t);
        collect(sim, STEP_WRP_COUNT, 1);
        return;
    case AN3155_CMD_GET_CHECKSUM:
        if (!command_offered(sim, op)) {
            break;
        }
        emit_ack(sim, t);
        collect(sim, STEP_CHECKSUM_ADDRESS, 5);
        return;
    case AN3155_CMD_WRITE_UNPROTECT: {
        emit_ack(sim, t);
        for (int i = 8; i < 16; i += 2) {
            sim->option_bytes[i] = 0xFF;
            sim->option_bytes[i + 1] = 0x00;
        }
        uint64_t cost = page_erase_ns(sim) + 8 * halfword_ns(sim);
        emit_ack(sim, t + cost);
        schedule_reset_after_reply(sim, 0);
        return;
    }
    case AN3155_CMD_READOUT_PROTECT: {
        emit_ack(sim, t);
        option_bytes_set_rdp(sim, 0x00);
        uint64_t cost = page_erase_ns(sim) + 8 * halfword_ns(sim);
        emit_ack(sim, t + cost);
        schedule_reset_after_reply(sim, 0);
        return;
    }
    case AN3155_CMD_READOUT_UNPROTECT: {
        emit_ack(sim, t);
        /* Removing readout protection mass-erases flash (write protection
         * does not apply) and the bootloader clears RAM. */
        uint64_t cost = mass_erase_ns(sim) + page_erase_ns(sim) + 8 * halfword_ns(sim);
        if (cut_this_command(sim)) {
            /* Power lost half way: half the flash erased, still protected. */
            memset(sim->flash, 0xFF, sim->flash_size / 2);
            fault_reset(sim, t + cost / 2);
            return;
        }
        memset(sim->flash, 0xFF, sim->flash_size);
        memset(sim->ram, 0x00, sim->dev->ram_size);
        sim->stats.mass_erases++;
        sim->stats.pages_erased += page_count(sim);
        option_bytes_set_rdp(sim, sim->dev->rdp_level0);
        emit_ack(sim, t + cost);
        schedule_reset_after_reply(sim, 0);
        return;
    }
    default:
        break;
    }
    emit_nack(sim, t);
}

static bool acks_bad_address(const blsim *sim)
{
    switch (sim->cfg.faults.address_quirk) {
    case BLSIM_ADDRESS_QUIRK_ON:
        return true;
    case BLSIM_ADDRESS_QUIRK_OFF:
        return false;
    case BLSIM_ADDRESS_QUIRK_DEVICE:
    default:
        return sim->dev->acks_bad_address;
    }
}

/* Invalid address in Read or Write: NACK; or, as the F1 ROM does, ACK and
 * back to the command loop, which takes the length (and data) that follow
 * for opcodes. */
static void reject_address(blsim *sim, uint64_t t)
{
    parser_idle(sim);
    if (acks_bad_address(sim)) {
        emit_ack(sim, t);
    } else {
        emit_nack(sim, t);
    }
}

static void step_read(blsim *sim, uint64_t t)
{
    const uint8_t *c = sim->collect;
    if (sim->step == STEP_READ_ADDRESS) {
        if (xor_of(c, 5) != 0) {
            parser_idle(sim);
            emit_nack(sim, t);
            return;
        }
        sim->address = be32(c);
        if (map(sim, sim->address, 1) == NULL) {
            reject_address(sim, t);
            return;
        }
        emit_ack(sim, t);
        collect(sim, STEP_READ_LENGTH, 2);
        return;
    }
    parser_idle(sim);
    uint32_t len = (uint32_t)c[0] + 1;
    const uint8_t *src = map(sim, sim->address, len);
    if ((c[0] ^ c[1]) != 0xFF || src == NULL) {
        emit_nack(sim, t);
        return;
    }
    emit_ack(sim, t);
    for (uint32_t i = 0; i < len; i++) {
        emit(sim, src[i], t);
    }
    busy_while_sending(sim);
}

static void step_go(blsim *sim, uint64_t t)
{
    parser_idle(sim);
    uint32_t addr = be32(sim->collect);
    if (xor_of(sim->collect, 5) != 0 || !go_address_valid(sim, addr)) {
        emit_nack(sim, t);
        return;
    }
    emit_ack(sim, t);
    sim->stats.gos++;
    sim->action = ACTION_JUMP;
    sim->jump_address = addr;
    sim->action_ns = sim->tx_free_ns;
    sim->busy_until_ns = max_u64(sim->busy_until_ns, sim->action_ns);
}

static void step_write_data(blsim *sim, uint64_t t)
{
    const blsim_device *d = sim->dev;
    uint32_t addr = sim->address, len = sim->length;
    uint8_t *data = sim->collect + 1;
    parser_idle(sim);
    if (xor_of(sim->collect, len + 2) != 0) {
        emit_nack(sim, t);
        return;
    }
    bool cut = cut_this_command(sim);
    if (in_range(addr, len, d->flash_base, sim->flash_size)) {
        if (addr % 4 != 0 || len % 4 != 0) {
            emit_nack(sim, t);
            return;
        }
        uint64_t cost;
        uint32_t limit = cut ? len / 4 : UINT32_MAX;
        bool ok = flash_program(sim, addr - d->flash_base, data, len, limit, &cost);
        if (cut) {
            fault_reset(sim, t + cost);
            return;
        }
        sim->busy_until_ns = t + cost;
        if (ok) {
            emit_ack(sim, t + cost);
        } else {
            emit_nack(sim, t + cost);
        }
        return;
    }
    if (in_range(addr, len, d->ram_user_start, d->ram_base + d->ram_size - d->ram_user_start)) {
        uint32_t n = cut ? len / 2 : len;
        memcpy(sim->ram + (addr - d->ram_base), data, n);
        if (cut) {
            fault_reset(sim, t);
            return;
        }
        emit_ack(sim, t);
        return;
    }
    if (addr == d->option_bytes_base && len <= OPTION_BYTES) {
        /* The option bytes page is erased, then programmed, then the chip
         * resets to load them. */
        uint64_t cost = page_erase_ns(sim) + (len + 1) / 2 * halfword_ns(sim);
        if (cut) {
            memset(sim->option_bytes, 0xFF, OPTION_BYTES);
            fault_reset(sim, t + cost / 2);
            return;
        }
        option_bytes_program(sim, data, len);
        sim->busy_until_ns = t + cost;
        emit_ack(sim, t + cost);
        schedule_reset_after_reply(sim, 0);
        return;
    }
    emit_nack(sim, t);
}

static void step_write(blsim *sim, uint64_t t)
{
    const uint8_t *c = sim->collect;
    switch (sim->step) {
    case STEP_WRITE_ADDRESS:
        if (xor_of(c, 5) != 0) {
            parser_idle(sim);
            emit_nack(sim, t);
            return;
        }
        sim->address = be32(c);
        if (!write_address_valid(sim, sim->address)) {
            reject_address(sim, t);
            return;
        }
        emit_ack(sim, t);
        collect(sim, STEP_WRITE_LENGTH, 1);
        return;
    case STEP_WRITE_LENGTH:
        sim->length = (uint32_t)c[0] + 1;
        collect_more(sim, STEP_WRITE_DATA, 1 + sim->length + 1);
        return;
    default:
        step_write_data(sim, t);
        return;
    }
}

/* Erases the listed pages (validated), all of them or half when cut short. */
static void erase_pages_then_reply(blsim *sim, const uint32_t *pages, uint32_t count, uint64_t t)
{
    bool cut = cut_this_command(sim);
    uint32_t todo = cut ? count / 2 : count;
    uint64_t cost = 0;
    for (uint32_t i = 0; i < todo; i++) {
        cost += erase_page(sim, pages[i]);
    }
    if (cut) {
        fault_reset(sim, t + cost);
        return;
    }
    sim->busy_until_ns = t + cost;
    emit_ack(sim, t + cost);
}

static void global_erase_then_reply(blsim *sim, uint64_t t)
{
    if (cut_this_command(sim)) {
        /* Power lost half way through a mass erase: the array is left
         * partly erased (unless protection refused the whole operation). */
        bool refused = false;
        for (uint32_t p = 0; p < page_count(sim); p++) {
            refused = refused || vmcu_fpec_page_protected(&sim->fpec, sim->dev->flash_base +
                                                                          p * sim->dev->page_size);
        }
        if (!refused) {
            memset(sim->flash, 0xFF, sim->flash_size / 2);
        }
        fault_reset(sim, t + mass_erase_ns(sim) / 2);
        return;
    }
    uint64_t cost = mass_erase(sim);
    sim->busy_until_ns = t + cost;
    emit_ack(sim, t + cost);
}

/*
 * The collected body of an Erase (width 1) or Extended Erase (width 2): the
 * count field, `count` page numbers of `width` bytes each, big endian, and
 * the XOR of everything. All pages are checked before any is erased.
 */
static void erase_page_list(blsim *sim, uint64_t t, uint32_t width, uint32_t count)
{
    const uint8_t *list = sim->collect + width;
    parser_idle(sim);
    bool ok = xor_of(sim->collect, width + width * count + 1) == 0;
    for (uint32_t i = 0; ok && i < count; i++) {
        const uint8_t *p = list + width * i;
        sim->pages[i] = width == 1 ? p[0] : (uint32_t)p[0] << 8 | p[1];
        ok = sim->pages[i] < page_count(sim);
    }
    if (!ok) {
        emit_nack(sim, t);
        return;
    }
    erase_pages_then_reply(sim, sim->pages, count, t);
}

static void step_erase(blsim *sim, uint64_t t)
{
    const uint8_t *c = sim->collect;
    switch (sim->step) {
    case STEP_ERASE_COUNT:
        if (c[0] == AN3155_ERASE_GLOBAL) {
            collect(sim, STEP_ERASE_GLOBAL, 1);
        } else {
            collect_more(sim, STEP_ERASE_PAGES, 1 + (size_t)c[0] + 1 + 1);
        }
        return;
    case STEP_ERASE_GLOBAL:
        parser_idle(sim);
        if (c[0] != 0x00) {
            emit_nack(sim, t);
            return;
        }
        global_erase_then_reply(sim, t);
        return;
    default:
        erase_page_list(sim, t, 1, (uint32_t)c[0] + 1);
        return;
    }
}

static void step_ext_erase(blsim *sim, uint64_t t)
{
    const uint8_t *c = sim->collect;
    uint16_t code = (uint16_t)(c[0] << 8 | c[1]);
    switch (sim->step) {
    case STEP_EXT_ERASE_COUNT:
        if (code >= AN3155_EXT_ERASE_RESERVED_MIN) {
            /* Special code: only its checksum byte follows. */
            collect_more(sim, STEP_EXT_ERASE_SPECIAL, 3);
        } else if ((uint32_t)code + 1 > MAX_EXT_ERASE_PAGES) {
            parser_idle(sim);
            emit_nack(sim, t);
        } else {
            collect_more(sim, STEP_EXT_ERASE_PAGES, 2 + 2 * ((size_t)code + 1) + 1);
        }
        return;
    case STEP_EXT_ERASE_SPECIAL:
        parser_idle(sim);
        /* Only mass erase exists on a single-bank part; bank codes and the
         * reserved range get NACK. */
        if (xor_of(c, 3) != 0 || code != AN3155_EXT_ERASE_MASS) {
            emit_nack(sim, t);
            return;
        }
        global_erase_then_reply(sim, t);
        return;
    default:
        erase_page_list(sim, t, 2, (uint32_t)code + 1);
        return;
    }
}

static void step_write_protect(blsim *sim, uint64_t t)
{
    const uint8_t *c = sim->collect;
    if (sim->step == STEP_WRP_COUNT) {
        collect_more(sim, STEP_WRP_SECTORS, 1 + (size_t)c[0] + 1 + 1);
        return;
    }
    parser_idle(sim);
    uint32_t count = (uint32_t)c[0] + 1;
    bool ok = xor_of(c, count + 2) == 0;
    for (uint32_t i = 0; ok && i < count; i++) {
        ok = c[1 + i] < sim->dev->wrp.bits;
    }
    if (!ok) {
        emit_nack(sim, t);
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint8_t bit = c[1 + i];
        sim->option_bytes[8 + 2 * (bit / 8)] &= (uint8_t) ~(1u << (bit % 8));
        sim->option_bytes[9 + 2 * (bit / 8)] = (uint8_t)~sim->option_bytes[8 + 2 * (bit / 8)];
    }
    uint64_t cost = page_erase_ns(sim) + 8 * halfword_ns(sim);
    emit_ack(sim, t + cost);
    schedule_reset_after_reply(sim, 0);
}

/* The CRC unit's CRC-32: polynomial 0x04C11DB7, initial value 0xFFFFFFFF,
 * fed 32-bit little-endian words most significant bit first, no final XOR. */
static uint32_t crc32_words(const uint8_t *p, uint32_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < len; i += 4) {
        crc ^= (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
               (uint32_t)p[i + 3] << 24;
        for (int bit = 0; bit < 32; bit++) {
            crc = (crc & 0x80000000u) != 0 ? crc << 1 ^ 0x04C11DB7u : crc << 1;
        }
    }
    return crc;
}

/* Get Checksum (bootloader v3.3 and later): address, then a byte count,
 * both word aligned and each with its XOR; ACK, then a second ACK once the
 * CRC is computed, the CRC most significant byte first and its XOR. */
static void step_checksum(blsim *sim, uint64_t t)
{
    const uint8_t *c = sim->collect;
    if (sim->step == STEP_CHECKSUM_ADDRESS) {
        sim->address = be32(c);
        if (xor_of(c, 5) != 0 || sim->address % 4 != 0 || map(sim, sim->address, 4) == NULL) {
            parser_idle(sim);
            emit_nack(sim, t);
            return;
        }
        emit_ack(sim, t);
        collect(sim, STEP_CHECKSUM_LENGTH, 5);
        return;
    }
    parser_idle(sim);
    uint32_t len = be32(c);
    const uint8_t *src = len != 0 ? map(sim, sim->address, len) : NULL;
    if (xor_of(c, 5) != 0 || len % 4 != 0 || src == NULL) {
        emit_nack(sim, t);
        return;
    }
    emit_ack(sim, t);
    uint32_t crc = crc32_words(src, len);
    uint8_t reply[5] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                        (uint8_t)crc, 0};
    reply[4] = xor_of(reply, 4);
    /* The CRC unit takes a few cycles per word; count 25 ns per byte. */
    uint64_t done = t + (uint64_t)len * 25u;
    emit_ack(sim, done);
    for (int i = 0; i < 5; i++) {
        emit(sim, reply[i], done);
    }
    busy_while_sending(sim);
}

static void collected(blsim *sim, uint64_t t)
{
    switch (sim->step) {
    case STEP_READ_ADDRESS:
    case STEP_READ_LENGTH:
        step_read(sim, t);
        return;
    case STEP_GO_ADDRESS:
        step_go(sim, t);
        return;
    case STEP_WRITE_ADDRESS:
    case STEP_WRITE_LENGTH:
    case STEP_WRITE_DATA:
        step_write(sim, t);
        return;
    case STEP_ERASE_COUNT:
    case STEP_ERASE_GLOBAL:
    case STEP_ERASE_PAGES:
        step_erase(sim, t);
        return;
    case STEP_EXT_ERASE_COUNT:
    case STEP_EXT_ERASE_SPECIAL:
    case STEP_EXT_ERASE_PAGES:
        step_ext_erase(sim, t);
        return;
    case STEP_WRP_COUNT:
    case STEP_WRP_SECTORS:
        step_write_protect(sim, t);
        return;
    case STEP_CHECKSUM_ADDRESS:
    case STEP_CHECKSUM_LENGTH:
        step_checksum(sim, t);
        return;
    }
}

/*
 * The bootloader's receive path: one byte, as the CPU reads it from the USART
 * at t. This is the function to fuzz; it never blocks and never reads past
 * its buffers, whatever the bytes.
 */
static void blsim_rx_byte(blsim *sim, uint8_t byte, uint64_t t)
{
    switch (sim->state) {
    case BLSIM_STATE_WAIT_SYNC:
        if (byte == AN3155_SYNC) {
            sim->state = BLSIM_STATE_COMMANDS;
            parser_idle(sim);
            emit_ack(sim, t);
        } else {
            sim->state = BLSIM_STATE_DEAF;
        }
        return;
    case BLSIM_STATE_COMMANDS:
        break;
    default:
        return; /* reset, booting, deaf, application, fault, code in RAM (the
                   virtual MCU's USART takes it): the ROM does not listen */
    }

    switch (sim->phase) {
    case PHASE_OPCODE:
        sim->opcode = byte;
        sim->phase = PHASE_COMPLEMENT;
        return;
    case PHASE_COMPLEMENT:
        if ((uint8_t)(sim->opcode ^ byte) != 0xFF || !command_offered(sim, sim->opcode)) {
            parser_idle(sim);
            emit_nack(sim, t);
            return;
        }
        start_command(sim, t);
        return;
    case PHASE_COLLECT:
        sim->collect[sim->have++] = byte;
        if (sim->have == sim->need) {
            collected(sim, t);
        }
        return;
    }
}

/* ------------------------------------------------------------------------- */
/* Events on the virtual clock                                               */

#define NO_EVENT UINT64_MAX

static uint64_t next_event_ns(const blsim *sim)
{
    uint64_t e = NO_EVENT;
    if (sim->state == BLSIM_STATE_BOOTING) {
        e = sim->boot_done_ns;
    }
    if (sim->pending_rx >= 0 && sim->busy_until_ns < e) {
        e = sim->busy_until_ns;
    }
    if (sim->action != ACTION_NONE && sim->action_ns < e) {
        e = sim->action_ns;
    }
    return e;
}

static void run_next_event(blsim *sim)
{
    uint64_t e = next_event_ns(sim);
    if (sim->state == BLSIM_STATE_BOOTING && sim->boot_done_ns == e) {
        if (sim->boot0) {
            sim->state = BLSIM_STATE_WAIT_SYNC;
        } else {
            start_code(sim, sim->dev->flash_base, e);
        }
        return;
    }
    if (sim->action != ACTION_NONE && sim->action_ns == e) {
        timed_action a = sim->action;
        sim->action = ACTION_NONE;
        if (a == ACTION_SYSTEM_RESET) {
            system_reset(sim, e);
        } else {
            start_code(sim, sim->jump_address, e);
        }
        return;
    }
    /* The CPU comes back to the USART and finds the latched byte. */
    uint8_t byte = (uint8_t)sim->pending_rx;
    sim->pending_rx = -1;
    blsim_rx_byte(sim, byte, e);
}

/* Everything the target does up to t, the virtual MCU's code included. */
static void settle_until(blsim *sim, uint64_t t)
{
    for (;;) {
        if (sim->state == BLSIM_STATE_RAM_PROGRAM && mcu_now(sim) < t) {
            run_mcu(sim, t, 0);
            continue;
        }
        if (next_event_ns(sim) > t) {
            return;
        }
        run_next_event(sim);
    }
}

/* A byte's stop bit arrives at the target at t. */
static void deliver(blsim *sim, uint8_t byte, uint64_t t)
{
    if (sim->state == BLSIM_STATE_RESET || sim->state == BLSIM_STATE_BOOTING) {
        return; /* USART not running yet: the byte is lost */
    }
    sim->bytes_received++;
    if (sim->state == BLSIM_STATE_RAM_PROGRAM) {
        vmcu_uart_frame f = host_frame(sim);
        vmcu_uart_deliver(sim->mcu, HOST_PORT, HOST_RX, byte, &f, t);
        sim->mcu_waiting = false;
    } else if (t < sim->busy_until_ns) {
        if (sim->pending_rx < 0) {
            sim->pending_rx = byte;
        } else {
            sim->stats.overruns++;
        }
    } else {
        blsim_rx_byte(sim, byte, t);
    }
    if (sim->cfg.faults.reset_after_byte != 0 &&
        sim->bytes_received == sim->cfg.faults.reset_after_byte) {
        fault_reset(sim, t);
    }
}

void blsim_host_send(blsim *sim, const uint8_t *bytes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        bool faults = fault_dir_hits(sim, true);
        if (faults && chance(sim, sim->cfg.faults.insert_rate)) {
            sim->stats.faults_inserts++;
            settle_until(sim, sim->now_ns + sim->byte_ns);
            sim->now_ns += sim->byte_ns;
            deliver(sim, (uint8_t)rng_next(sim), sim->now_ns);
        }
        settle_until(sim, sim->now_ns + sim->byte_ns);
        sim->now_ns += sim->byte_ns;
        sim->stats.bytes_to_target++;
        sim->host_spoke = true;
        if (faults && chance(sim, sim->cfg.faults.drop_rate)) {
            sim->stats.faults_drops++;
            continue;
        }
        deliver(sim, line_noise(sim, bytes[i], true), sim->now_ns);
    }
}

static size_t pop_ready(blsim *sim, uint8_t *buf, size_t max)
{
    size_t n = 0;
    while (n < max && sim->txq_count > 0 && sim->txq[sim->txq_head].ready_ns <= sim->now_ns) {
        buf[n++] = sim->txq[sim->txq_head].byte;
        sim->txq_head = (sim->txq_head + 1) % TXQ_SIZE;
        sim->txq_count--;
    }
    return n;
}

size_t blsim_host_recv(blsim *sim, uint8_t *buf, size_t max, uint64_t timeout_us)
{
    uint64_t deadline = sim->now_ns + timeout_us * NS_PER_US;
    for (;;) {
        uint64_t head = sim->txq_count > 0 ? sim->txq[sim->txq_head].ready_ns : NO_EVENT;
        if (sim->state == BLSIM_STATE_RAM_PROGRAM) {
            /* The code runs until the first byte it sends is complete or
             * the deadline; a frame it starts may complete before either. */
            uint64_t until = head < deadline ? head : deadline;
            if (mcu_now(sim) < until) {
                run_mcu(sim, until, VMCU_RUN_STOP_ON_TX);
                continue;
            }
        }
        uint64_t event = next_event_ns(sim);
        if (head <= deadline && head <= event) {
            sim->now_ns = max_u64(sim->now_ns, head);
            /* What the target does at the same instant (start the code it
             * jumps to, reset) is visible as soon as the byte is. */
            settle_until(sim, sim->now_ns);
            return pop_ready(sim, buf, max);
        }
        if (event > deadline) {
            sim->now_ns = deadline;
            return 0;
        }
        run_next_event(sim);
    }
}

/* Longest the code in RAM may run at one drain without asking for input:
 * a program that never waits for the host cannot hang the pty server. */
#define DRAIN_CODE_LIMIT_NS (1000000000ull)

size_t blsim_host_drain(blsim *sim, uint8_t *buf, size_t max)
{
    size_t n = 0;
    uint64_t code_limit = max_u64(sim->now_ns, mcu_now(sim)) + DRAIN_CODE_LIMIT_NS;
    while (n < max) {
        uint64_t head = sim->txq_count > 0 ? sim->txq[sim->txq_head].ready_ns : NO_EVENT;
        if (sim->state == BLSIM_STATE_RAM_PROGRAM && !sim->mcu_waiting &&
            mcu_now(sim) < code_limit) {
            if (n > 0) {
                /* Hand over what is ready (an ACK the host times) before
                 * the code runs on: the next call goes on from here. */
                break;
            }
            uint64_t until = head < code_limit ? head : code_limit;
            if (mcu_now(sim) < until) {
                /* Until it waits for the host, or sends. */
                run_mcu(sim, until, VMCU_RUN_STOP_ON_TX | VMCU_RUN_STOP_WHEN_WAITING);
                continue;
            }
        }
        uint64_t event = next_event_ns(sim);
        if (head == NO_EVENT && event == NO_EVENT) {
            break;
        }
        if (head <= event) {
            sim->now_ns = max_u64(sim->now_ns, head);
            n += pop_ready(sim, buf + n, max - n);
        } else {
            sim->now_ns = max_u64(sim->now_ns, event);
            run_next_event(sim);
        }
    }
    /* Code waiting for the host has spent its time too. */
    if (sim->state == BLSIM_STATE_RAM_PROGRAM) {
        sim->now_ns = max_u64(sim->now_ns, mcu_now(sim));
    }
    return n;
}

void blsim_advance_to(blsim *sim, uint64_t t_ns)
{
    if (t_ns <= sim->now_ns) {
        return;
    }
    settle_until(sim, t_ns);
    sim->now_ns = t_ns;
}

uint64_t blsim_next_tx_ns(const blsim *sim)
{
    return sim->txq_count > 0 ? sim->txq[sim->txq_head].ready_ns : UINT64_MAX;
}

void blsim_idle(blsim *sim, uint64_t us)
{
    uint64_t t = sim->now_ns + us * NS_PER_US;
    settle_until(sim, t);
    sim->now_ns = t;
}

/* ------------------------------------------------------------------------- */
/* Pins                                                                       */

void blsim_set_boot0(blsim *sim, bool high)
{
    sim->boot0 = high;
}

void blsim_set_nrst(blsim *sim, bool high)
{
    settle_until(sim, sim->now_ns);
    if (high == sim->nrst) {
        return;
    }
    sim->nrst = high;
    if (!high) {
        system_reset(sim, sim->now_ns); /* counts the reset; state RESET */
        return;
    }
    sim->state = BLSIM_STATE_BOOTING;
    sim->boot_done_ns = sim->now_ns + BOOT_TIME_NS;
}

/* ------------------------------------------------------------------------- */
/* Creation and accessors                                                     */

vmcu_flash_geometry blsim_device_flash_geometry(const blsim_device *d, uint32_t flash_size)
{
    return (vmcu_flash_geometry){
        .base = d->flash_base,
        .size = flash_size,
        .page_size = d->page_size,
        .wrp_pages_per_bit = d->wrp.pages_per_bit,
        .wrp_last_bit_covers_rest = d->wrp.last_bit_covers_rest,
        .halfword_ns_typ = d->halfword_us_typ_x10 * 100u,
        .halfword_ns_max = d->halfword_us_max_x10 * 100u,
        .page_erase_ns_typ = d->page_erase_us_typ * 1000u,
        .page_erase_ns_max = d->page_erase_us_max * 1000u,
        .mass_erase_ns_typ = d->mass_erase_us_typ * 1000u,
        .mass_erase_ns_max = d->mass_erase_us_max * 1000u,
    };
}

static void fill_system_memory(blsim *sim, uint32_t flash_kb)
{
    const blsim_device *d = sim->dev;
    /* The ROM's code is not ours to copy; a fixed pattern stands for it. */
    for (uint32_t i = 0; i < sim->sysmem_size; i++) {
        sim->sysmem[i] = (uint8_t)(i * 37u + 11u);
    }
    uint8_t *size_reg = sim->sysmem + (d->flash_size_reg - d->sysmem_base);
    size_reg[0] = (uint8_t)flash_kb;
    size_reg[1] = (uint8_t)(flash_kb >> 8);
    uint8_t *uid = sim->sysmem + (d->uid_reg - d->sysmem_base);
    bool zero = true;
    for (int i = 0; i < 12; i++) {
        zero = zero && sim->cfg.uid[i] == 0;
    }
    for (int i = 0; i < 12; i++) {
        uid[i] = zero ? (uint8_t)(0x30 + i * 7) : sim->cfg.uid[i];
    }
}

blsim *blsim_new(const blsim_config *config)
{
    const blsim_device *d = config->device;
    if (d == NULL) {
        return NULL;
    }
    uint32_t kb = config->flash_kb != 0 ? config->flash_kb : d->flash_kb_default;
    if (kb < d->flash_kb_min || kb > d->flash_kb_max || (kb * 1024u) % d->page_size != 0) {
        return NULL;
    }
    blsim *sim = calloc(1, sizeof *sim);
    if (sim == NULL) {
        return NULL;
    }
    sim->dev = d;
    sim->cfg = *config;
    sim->timed_op = -1;
    sim->flash_size = kb * 1024u;
    sim->sysmem_size = d->option_bytes_base - d->sysmem_base;
    sim->flash = malloc(sim->flash_size);
    sim->ram = calloc(1, d->ram_size);
    sim->sysmem = malloc(sim->sysmem_size);
    if (sim->flash == NULL || sim->ram == NULL || sim->sysmem == NULL) {
        blsim_free(sim);
        return NULL;
    }
    memset(sim->flash, 0xFF, sim->flash_size);
    fill_system_memory(sim, kb);
    for (int i = 2; i < 16; i += 2) {
        sim->option_bytes[i] = 0xFF;
        sim->option_bytes[i + 1] = 0x00;
    }
    option_bytes_set_rdp(sim, config->readout_protected ? 0x00 : d->rdp_level0);
    vmcu_flash_geometry g = blsim_device_flash_geometry(d, sim->flash_size);
    vmcu_fpec_init(&sim->fpec, &g, sim->flash, sim->option_bytes);
    sim->fpec.max_timings = config->faults.max_flash_timings;

    uint32_t baud = config->baud != 0 ? config->baud : 115200;
    sim->byte_ns = (uint32_t)((11ull * 1000000000ull + baud / 2) / baud);
    sim->rng = config->faults.seed;
    sim->pending_rx = -1;
    sim->boot0 = config->boot0;
    sim->nrst = true;
    sim->state = BLSIM_STATE_BOOTING;
    sim->boot_done_ns = BOOT_TIME_NS;
    parser_idle(sim);
    return sim;
}

void blsim_free(blsim *sim)
{
    if (sim == NULL) {
        return;
    }
    vmcu_free(sim->mcu);
    free(sim->flash);
    free(sim->ram);
    free(sim->sysmem);
    free(sim);
}

uint64_t blsim_now_ns(const blsim *sim)
{
    return sim->now_ns;
}

uint32_t blsim_byte_time_ns(const blsim *sim)
{
    return sim->byte_ns;
}

void blsim_set_host_baud(blsim *sim, uint32_t baud)
{
    if (baud != 0) {
        sim->byte_ns = (uint32_t)((11ull * 1000000000ull + baud / 2) / baud);
    }
}

blsim_state blsim_get_state(const blsim *sim)
{
    return sim->state;
}

const char *blsim_state_name(blsim_state state)
{
    switch (state) {
    case BLSIM_STATE_RESET:
        return "reset";
    case BLSIM_STATE_BOOTING:
        return "booting";
    case BLSIM_STATE_WAIT_SYNC:
        return "waiting for 0x7F";
    case BLSIM_STATE_DEAF:
        return "deaf (bad autobaud byte)";
    case BLSIM_STATE_COMMANDS:
        return "bootloader commands";
    case BLSIM_STATE_APP:
        return "application";
    case BLSIM_STATE_RAM_PROGRAM:
        return "code in RAM (virtual MCU)";
    case BLSIM_STATE_HARDFAULT:
        return "hard fault";
    case BLSIM_STATE_NOT_MODELLED:
        return "stopped: not modelled";
    }
    return "?";
}

const blsim_stats *blsim_get_stats(const blsim *sim)
{
    return &sim->stats;
}

const blsim_device *blsim_get_device(const blsim *sim)
{
    return sim->dev;
}

uint32_t blsim_flash_size(const blsim *sim)
{
    return sim->flash_size;
}

uint8_t *blsim_flash(blsim *sim)
{
    return sim->flash;
}

const uint8_t *blsim_flash_const(const blsim *sim)
{
    return sim->flash;
}

void blsim_set_faults(blsim *sim, const blsim_faults *faults)
{
    sim->cfg.faults = *faults;
    sim->rng = faults->seed;
    sim->fpec.max_timings = faults->max_flash_timings;
}

const char *blsim_fault_reason(const blsim *sim)
{
    return sim->fault;
}

const blsim_app_entry *blsim_get_app_entry(const blsim *sim)
{
    return &sim->entry;
}

const struct vmcu *blsim_get_mcu(const blsim *sim)
{
    return sim->mcu;
}

const uint8_t *blsim_option_bytes(const blsim *sim)
{
    return sim->option_bytes;
}

int blsim_stats_json(const blsim *sim, char *buf, size_t size)
{
    const blsim_stats *s = &sim->stats;
    char unused;
    if (buf == NULL) { /* measuring only, like snprintf(NULL, 0, ...) */
        buf = &unused;
        size = 0;
    }
    char commands[1024];
    char seconds[1536];
    size_t used = 0, used_s = 0;
    commands[0] = '\0';
    seconds[0] = '\0';
    /* The last command's time runs up to now. */
    uint64_t tail_ns = sim->now_ns > sim->timed_since_ns ? sim->now_ns - sim->timed_since_ns : 0;
    for (int op = 0; op < 256 && used < sizeof commands && used_s < sizeof seconds; op++) {
        if (s->command_count[op] != 0) {
            int n = snprintf(commands + used, sizeof commands - used, "%s\"0x%02X\": %llu",
                             used != 0 ? ", " : "", op, (unsigned long long)s->command_count[op]);
            used += n > 0 ? (size_t)n : 0;
            uint64_t ns = s->command_ns[op] + (op == sim->timed_op ? tail_ns : 0);
            n = snprintf(seconds + used_s, sizeof seconds - used_s, "%s\"0x%02X\": %.6f",
                         used_s != 0 ? ", " : "", op, (double)ns / 1e9);
            used_s += n > 0 ? (size_t)n : 0;
        }
    }
    double before_s = (double)(s->before_commands_ns + (sim->timed_op < 0 ? tail_ns : 0)) / 1e9;
    return snprintf(
        buf, size,
        "{\"device\": \"%s\", \"pid\": \"0x%03X\", \"flash_kb\": %u, \"baud\": %u,"
        " \"virtual_seconds\": %.6f, \"state\": \"%s\", \"readout_protected\": %s,"
        " \"bytes_to_target\": %llu, \"bytes_to_host\": %llu,"
        " \"commands\": %llu, \"commands_by_opcode\": {%s},"
        " \"seconds_before_commands\": %.6f, \"seconds_by_opcode\": {%s},"
        " \"acks\": %llu, \"nacks\": %llu,"
        " \"pages_erased\": %llu, \"mass_erases\": %llu, \"halfwords_programmed\": %llu,"
        " \"program_errors\": %llu, \"resets\": %llu, \"overruns\": %llu, \"gos\": %llu,"
        " \"ram_programs\": %llu, \"mcu_cycles\": %llu, \"turnarounds\": %llu,"
        " \"faults\": {\"bit_flips\": %llu, \"drops\": %llu, \"inserts\": %llu,"
        " \"nacks\": %llu, \"resets\": %llu}}",
        sim->dev->name, sim->dev->pid, sim->flash_size / 1024u,
        (unsigned)(11000000000ull / sim->byte_ns), (double)sim->now_ns / 1e9,
        blsim_state_name(sim->state), blsim_readout_protected(sim) ? "true" : "false",
        (unsigned long long)s->bytes_to_target, (unsigned long long)s->bytes_to_host,
        (unsigned long long)s->commands, commands, before_s, seconds, (unsigned long long)s->acks,
        (unsigned long long)s->nacks, (unsigned long long)s->pages_erased,
        (unsigned long long)s->mass_erases, (unsigned long long)s->halfwords_programmed,
        (unsigned long long)s->program_errors, (unsigned long long)s->resets,
        (unsigned long long)s->overruns, (unsigned long long)s->gos,
        (unsigned long long)s->ram_programs, (unsigned long long)s->mcu_cycles,
        (unsigned long long)s->turnarounds, (unsigned long long)s->faults_bit_flips,
        (unsigned long long)s->faults_drops, (unsigned long long)s->faults_inserts,
        (unsigned long long)s->faults_nacks, (unsigned long long)s->faults_resets);
}

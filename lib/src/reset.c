/*
 * Resetting the target without flashing it (reset.h, docs/reset.md): with
 * the reset lines, a pulse on NRST with BOOT0 set as asked; without them,
 * the reset program (target/sysreset/) loaded into the target's free RAM
 * and started with Go. Runs on the master MCU and on a PC alike.
 */
#include "stm32isp/reset.h"

#include "stm32isp/an3155.h"

#include <string.h>

/* The vector table at the program's start: stack pointer, entry. */
#define OFFSET_SP    0u
#define OFFSET_ENTRY 4u
#define VECTORS_SIZE 8u
#define MAX_SIZE     256u
/* Room left between the program and its stack pointer: one exception
 * frame (8 words), should anything fault before the reset. */
#define EXCEPTION_ROOM 32u

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static stm32isp_err reset_with_lines(stm32isp_client *c, bool into_bootloader)
{
    stm32isp_err err = STM32ISP_OK;
    if (into_bootloader) {
        err = stm32isp_enter_bootloader(c);
    } else if (c->ops->set_boot0(c->port, false) != 0 || c->ops->set_reset(c->port, true) != 0) {
        err = STM32ISP_ERR_PORT;
    } else {
        /* BOOT0 is latched when NRST rises: low, the application boots. */
        c->ops->delay_ms(c->port, c->cfg.reset_pulse_ms);
        if (c->ops->set_reset(c->port, false) != 0) {
            err = STM32ISP_ERR_PORT;
        } else {
            c->stats.resets++;
        }
    }
    c->connected = false;
    return err;
}

/* A program of the shape reset.h describes. */
static bool program_valid(const stm32isp_sysreset_program *prog)
{
    if (prog == NULL || prog->code == NULL || prog->size < VECTORS_SIZE + 2u ||
        prog->size > MAX_SIZE) {
        return false;
    }
    uint32_t entry = le32(prog->code + OFFSET_ENTRY);
    return le32(prog->code + OFFSET_SP) == 0 && (entry & 1u) != 0 && entry > VECTORS_SIZE &&
           entry < prog->size;
}

/* Where the program goes: its first byte, and the stack pointer above it. */
static bool plan(const stm32isp_device *d, const stm32isp_sysreset_program *prog, uint32_t *load,
                 uint32_t *sp)
{
    *load = (d->ram_start + 7u) & ~7u;
    *sp = d->ram_end & ~7u;
    return *load >= d->ram_start && *sp > *load && *sp - *load >= prog->size + EXCEPTION_ROOM;
}

/* One Write Memory of the whole program; a failure is worth another try,
 * as writing RAM is idempotent and fails only on the line. */
static stm32isp_err load(stm32isp_client *c, uint32_t address, uint32_t size)
{
    stm32isp_err err = STM32ISP_ERR_TIMEOUT;
    for (unsigned attempt = 0; attempt <= c->cfg.command_retries; attempt++) {
        if (attempt > 0) {
            c->stats.retries++;
            stm32isp_err rec = stm32isp_recover(c);
            if (rec != STM32ISP_OK) {
                return rec;
            }
        }
        err = stm32isp_cmd_write(c, address, c->scratch, size);
        if (err == STM32ISP_OK || err == STM32ISP_ERR_PORT || err == STM32ISP_ERR_CANCELLED) {
            break;
        }
    }
    return err;
}

stm32isp_err stm32isp_reset_target(stm32isp_client *c, const stm32isp_sysreset_program *prog,
                                   bool into_bootloader)
{
    if (c->stop != NULL && *c->stop) {
        return STM32ISP_ERR_CANCELLED;
    }
    if (stm32isp_has_reset_lines(c)) {
        return reset_with_lines(c, into_bootloader);
    }
    /* Without NRST the chip can only reset itself, and then boots as its
     * BOOT0 pin says: the host cannot choose. */
    if (into_bootloader) {
        return STM32ISP_ERR_NO_RESET_LINES;
    }
    if (!program_valid(prog) || prog->size > sizeof c->scratch) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    if (!c->connected || c->target.device == NULL) {
        return STM32ISP_ERR_NOT_CONNECTED;
    }
    if (c->target.readout_protected) {
        return STM32ISP_ERR_READ_PROTECTED;
    }
    uint32_t address = 0;
    uint32_t sp = 0;
    if (!stm32isp_offers(c, AN3155_CMD_WRITE_MEMORY) || !stm32isp_offers(c, AN3155_CMD_GO) ||
        !plan(c->target.device, prog, &address, &sp)) {
        return STM32ISP_ERR_UNSUPPORTED;
    }

    memcpy(c->scratch, prog->code, prog->size);
    put_le32(c->scratch + OFFSET_SP, sp);
    put_le32(c->scratch + OFFSET_ENTRY, address + le32(prog->code + OFFSET_ENTRY));
    stm32isp_err err = load(c, address, prog->size);
    if (err != STM32ISP_OK) {
        return err;
    }
    /* The Go's ACK comes before the jump; the program resets the chip a few
     * cycles after it starts. Whatever the Go's outcome, the session may be
     * over: a lost ACK does not mean the program did not run. */
    err = stm32isp_cmd_go(c, address);
    c->connected = false;
    if (err == STM32ISP_OK) {
        c->ops->delay_ms(c->port, stm32isp_boot_wait_ms(c, 0));
    }
    return err;
}

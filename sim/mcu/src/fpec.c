/*
 * The flash controller's operations (fpec.h): PM0075 section 2.3 (program,
 * page erase, mass erase) and 2.4 (write protection).
 */
#include "vmcu/fpec.h"

#include <string.h>

#define OPTION_WRP0 8u /* WRP0..WRP3 at option bytes 8, 10, 12, 14 */

void vmcu_fpec_init(vmcu_fpec *f, const vmcu_flash_geometry *geometry, uint8_t *flash,
                    const uint8_t *option_bytes)
{
    memset(f, 0, sizeof *f);
    f->geometry = *geometry;
    f->flash = flash;
    f->option_bytes = option_bytes;
    vmcu_fpec_reset(f);
}

void vmcu_fpec_reset(vmcu_fpec *f)
{
    /* FLASH_WRPR holds WRP3..WRP0 as loaded at reset (PM0075 3.10). */
    f->wrpr = 0;
    for (unsigned i = 0; i < 4; i++) {
        f->wrpr |= (uint32_t)f->option_bytes[OPTION_WRP0 + 2u * i] << (8u * i);
    }
}

bool vmcu_fpec_page_protected(const vmcu_fpec *f, uint32_t address)
{
    const vmcu_flash_geometry *g = &f->geometry;
    uint32_t page = (address - g->base) / g->page_size;
    uint32_t bit = page / g->wrp_pages_per_bit;
    if (bit >= 32u) {
        if (!g->wrp_last_bit_covers_rest) {
            return false;
        }
        bit = 31u;
    }
    return (f->wrpr & (1u << bit)) == 0;
}

static bool in_flash(const vmcu_fpec *f, uint32_t address, uint32_t len)
{
    const vmcu_flash_geometry *g = &f->geometry;
    return address >= g->base && len <= g->size && address - g->base <= g->size - len;
}

uint32_t vmcu_fpec_program(vmcu_fpec *f, uint32_t address, uint16_t value, uint64_t *ns)
{
    *ns = 0;
    if (!in_flash(f, address, 2) || (address & 1u) != 0) {
        return VMCU_FLASH_SR_PGERR;
    }
    if (vmcu_fpec_page_protected(f, address)) {
        f->protect_errors++;
        return VMCU_FLASH_SR_WRPRTERR;
    }
    uint8_t *p = f->flash + (address - f->geometry.base);
    uint16_t old = (uint16_t)(p[0] | p[1] << 8);
    if (old != 0xFFFFu && value != 0x0000u) {
        f->program_errors++;
        return VMCU_FLASH_SR_PGERR;
    }
    p[0] = (uint8_t)value;
    p[1] = (uint8_t)(value >> 8);
    f->halfwords_programmed++;
    *ns = f->max_timings ? f->geometry.halfword_ns_max : f->geometry.halfword_ns_typ;
    return 0;
}

uint32_t vmcu_fpec_erase_page(vmcu_fpec *f, uint32_t address, uint64_t *ns)
{
    const vmcu_flash_geometry *g = &f->geometry;
    *ns = 0;
    if (!in_flash(f, address, 1)) {
        return 0; /* an address outside the array selects no page */
    }
    if (vmcu_fpec_page_protected(f, address)) {
        f->protect_errors++;
        return VMCU_FLASH_SR_WRPRTERR;
    }
    uint32_t start = (address - g->base) / g->page_size * g->page_size;
    memset(f->flash + start, 0xFF, g->page_size);
    f->pages_erased++;
    *ns = f->max_timings ? g->page_erase_ns_max : g->page_erase_ns_typ;
    return 0;
}

uint32_t vmcu_fpec_mass_erase(vmcu_fpec *f, uint64_t *ns)
{
    const vmcu_flash_geometry *g = &f->geometry;
    *ns = 0;
    for (uint32_t at = 0; at < g->size; at += g->page_size) {
        if (vmcu_fpec_page_protected(f, g->base + at)) {
            f->protect_errors++;
            return VMCU_FLASH_SR_WRPRTERR;
        }
    }
    memset(f->flash, 0xFF, g->size);
    f->mass_erases++;
    f->pages_erased += g->size / g->page_size;
    *ns = f->max_timings ? g->mass_erase_ns_max : g->mass_erase_ns_typ;
    return 0;
}

/*
 * The STM32F1 flash program/erase controller (FPEC, PM0075 section 2.3;
 * RM0008 section 3.3): what a half-word program, a page erase and a mass
 * erase do to the flash array, with the flags they raise and the time they
 * take. One model for both users of the flash: the virtual STM32F1
 * (vmcu.h), where the CPU drives it through the FLASH registers, and the
 * ROM bootloader model (blsim), whose Write Memory and Erase commands run
 * the same operations the ROM runs.
 *
 * The array and the option bytes are caller-owned; this model only keeps
 * the controller's state. Host-side simulator code: plain C, no allocation.
 */
#ifndef VMCU_FPEC_H
#define VMCU_FPEC_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FLASH_SR bits (PM0075 section 3.4). */
#define VMCU_FLASH_SR_BSY      (1u << 0)
#define VMCU_FLASH_SR_PGERR    (1u << 2)
#define VMCU_FLASH_SR_WRPRTERR (1u << 4)
#define VMCU_FLASH_SR_EOP      (1u << 5)

/* How the flash of one part is laid out and how long its operations take. */
typedef struct vmcu_flash_geometry {
    uint32_t base;      /* 0x08000000 */
    uint32_t size;      /* bytes */
    uint32_t page_size; /* erase unit: 1 KiB (low/medium density) or 2 KiB */
    /* Write protection: each WRP option bit (WRP0..WRP3, a cleared bit
     * protects) covers this many pages; on high-density parts the last bit
     * covers every page above the others. */
    uint32_t wrp_pages_per_bit;
    bool wrp_last_bit_covers_rest;
    /* Datasheet flash characteristics (F103: tPROG 40/52.5/70 us, tERASE
     * and tME 20/40 ms), nanoseconds: typical, and maximum on request. */
    uint32_t halfword_ns_typ, halfword_ns_max;
    uint32_t page_erase_ns_typ, page_erase_ns_max;
    uint32_t mass_erase_ns_typ, mass_erase_ns_max;
} vmcu_flash_geometry;

typedef struct vmcu_fpec {
    vmcu_flash_geometry geometry;
    uint8_t *flash;              /* geometry.size bytes, caller-owned */
    const uint8_t *option_bytes; /* the 16 option bytes, caller-owned */
    bool max_timings;            /* operations take the datasheet maximum */
    /* FLASH_WRPR: the write protection in force, loaded from the option
     * bytes at reset (changing the option bytes takes a reset to apply). */
    uint32_t wrpr;
    /* Counters. */
    uint64_t halfwords_programmed;
    uint64_t pages_erased;
    uint64_t mass_erases;
    uint64_t program_errors; /* PGERR: a half-word that was not erased */
    uint64_t protect_errors; /* WRPRTERR */
} vmcu_fpec;

/* Prepares the controller for `flash` and `option_bytes` and loads the write
 * protection, as a reset does. */
void vmcu_fpec_init(vmcu_fpec *f, const vmcu_flash_geometry *geometry, uint8_t *flash,
                    const uint8_t *option_bytes);

/* A system reset: the option bytes are loaded again (FLASH_WRPR). */
void vmcu_fpec_reset(vmcu_fpec *f);

/* True when write protection covers the page holding `address`. */
bool vmcu_fpec_page_protected(const vmcu_fpec *f, uint32_t address);

/*
 * Programs the half-word at `address` (even, inside the flash): written only
 * onto an erased half-word (0xFFFF), or when the value is 0x0000; otherwise
 * PGERR and the flash is left as it was. A protected page gives WRPRTERR and
 * no change. Returns the SR flags the operation raised (0, PGERR or
 * WRPRTERR) and its duration in *ns (0 when it was refused before starting).
 */
uint32_t vmcu_fpec_program(vmcu_fpec *f, uint32_t address, uint16_t value, uint64_t *ns);

/* Erases the page holding `address`; WRPRTERR and no change when it is
 * protected. Returns the flags raised, the duration in *ns. */
uint32_t vmcu_fpec_erase_page(vmcu_fpec *f, uint32_t address, uint64_t *ns);

/*
 * Mass erase (MER then STRT): every page of the main flash. With any page
 * write protected, PM0075 has the operation refused as a whole: WRPRTERR and
 * nothing erased (see docs/virtual-mcu.md for the source). Returns the
 * flags raised, the duration in *ns.
 */
uint32_t vmcu_fpec_mass_erase(vmcu_fpec *f, uint64_t *ns);

#ifdef __cplusplus
}
#endif

#endif /* VMCU_FPEC_H */

/*
 * The STM32 device database: what the host must know about a part whose ROM
 * bootloader speaks USART, keyed by the product ID (PID) that Get ID returns.
 * Facts come from ST's AN2606 (bootloader memory map, RAM the bootloader
 * keeps), the reference manuals (flash organisation, option bytes, flash-size
 * and UID registers) and the datasheets (flash timings). docs/devices.md
 * lists every entry with its sources.
 */
#ifndef STM32ISP_DEVICES_H
#define STM32ISP_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* `count` consecutive erase units (pages or sectors) of `size` bytes. */
typedef struct stm32isp_erase_run {
    uint16_t count;
    uint32_t size;
} stm32isp_erase_run;

enum {
    STM32ISP_DEV_DUAL_BANK = 1u << 0, /* two flash banks (bank erase codes apply) */
};

/*
 * One part, as its PID names it. The table is compact, so that the master
 * firmware can carry all of it in its 24 KiB of flash: what a family of
 * parts shares (system memory base, option bytes, flash-size and UID
 * registers, write alignment, timings) is kept once per family, the erase
 * layouts once each, and the values are read through the functions below.
 * `pid`, `name`, `ram_start`, `ram_end` and `flags` are plain fields; the
 * others are the table's encoding. A copy of an entry (to adjust its RAM,
 * say) works with every function.
 */
typedef struct stm32isp_device {
    uint16_t pid;
    uint8_t family_index; /* the family entry */
    uint8_t layout_index; /* the erase layout */
    const char *name;     /* e.g. "STM32F10x medium density"; "" in a build without
                             names (STM32ISP_DEVICE_NAMES=0, the master firmware) */
    uint32_t ram_start;   /* RAM the host may write: [ram_start, ram_end) */
    uint32_t ram_end;
    uint16_t flash_kb;                     /* flash of the largest part with this PID, KiB */
    uint16_t sysmem_start64, sysmem_end64; /* system memory, 64-byte units past the family's base */
    uint8_t flags;                         /* STM32ISP_DEV_* */
} stm32isp_device;

/* The functions below read only the table and `dev`, and change nothing:
 * compilers that know it keep what they loaded before a call. */
#if defined(__GNUC__)
#define STM32ISP_PURE __attribute__((pure))
#else
#define STM32ISP_PURE
#endif

/* The family, e.g. "F1". */
STM32ISP_PURE const char *stm32isp_device_family(const stm32isp_device *dev);
/* Flash start: 0x08000000 on every family so far. */
STM32ISP_PURE uint32_t stm32isp_device_flash_base(const stm32isp_device *dev);
/* Bytes of flash of the largest part with this PID. */
STM32ISP_PURE uint32_t stm32isp_device_flash_size_max(const stm32isp_device *dev);
/*
 * Erase units from the flash base upwards, in the numbering the bootloader's
 * Erase / Extended Erase commands use: uniform pages are one run; F2/F4/F7
 * sectors of 16/64/128 KiB are several. The runs add up to
 * flash_size_max. Returns the number of runs, with the first in *runs.
 */
size_t stm32isp_device_layout(const stm32isp_device *dev, const stm32isp_erase_run **runs);
/* System memory [start, end). */
STM32ISP_PURE uint32_t stm32isp_device_sysmem_start(const stm32isp_device *dev);
STM32ISP_PURE uint32_t stm32isp_device_sysmem_end(const stm32isp_device *dev);
/* Option bytes [start, end); both 0 where the bootloader shows none. */
STM32ISP_PURE uint32_t stm32isp_device_option_start(const stm32isp_device *dev);
STM32ISP_PURE uint32_t stm32isp_device_option_end(const stm32isp_device *dev);
/* The 16-bit flash size register (KiB); 0 if none. */
STM32ISP_PURE uint32_t stm32isp_device_flash_size_reg(const stm32isp_device *dev);
/* The 96-bit unique ID; 0 if none. */
STM32ISP_PURE uint32_t stm32isp_device_uid_reg(const stm32isp_device *dev);
/* Write Memory to flash: address and length are multiples of this. */
STM32ISP_PURE uint32_t stm32isp_device_write_align(const stm32isp_device *dev);
/* Datasheet maxima, which every timeout is derived from: erasing the
 * largest erase unit, a mass erase, programming 256 bytes. */
STM32ISP_PURE uint32_t stm32isp_device_erase_unit_ms_max(const stm32isp_device *dev);
STM32ISP_PURE uint32_t stm32isp_device_mass_erase_ms_max(const stm32isp_device *dev);
STM32ISP_PURE uint32_t stm32isp_device_write256_ms_max(const stm32isp_device *dev);

/* The entry for a PID, or NULL when the PID is unknown. */
const stm32isp_device *stm32isp_device_by_pid(uint16_t pid);

/* Iteration over the whole table: NULL past the end. */
const stm32isp_device *stm32isp_device_at(size_t index);

/*
 * The erase unit holding `address` in a part with `flash_size` bytes of
 * flash: its index (as Erase/Extended Erase number it), start and size.
 * Returns false when the address is outside that flash.
 */
bool stm32isp_device_unit_at(const stm32isp_device *dev, uint32_t flash_size, uint32_t address,
                             uint32_t *index, uint32_t *start, uint32_t *size);

/* Number of erase units in a part with `flash_size` bytes of flash. */
uint32_t stm32isp_device_unit_count(const stm32isp_device *dev, uint32_t flash_size);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_DEVICES_H */

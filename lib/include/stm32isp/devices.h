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

typedef struct stm32isp_device {
    uint16_t pid;
    const char *name;   /* e.g. "STM32F10x medium density" */
    const char *family; /* e.g. "F1" */

    uint32_t flash_base;     /* 0x08000000 on every family so far */
    uint32_t flash_size_max; /* bytes: the largest part with this PID */
    /*
     * Erase units from flash_base upwards, in the numbering the bootloader's
     * Erase / Extended Erase commands use. Uniform pages are one run; F2/F4/F7
     * sectors of 16/64/128 KiB are several. The runs add up to flash_size_max.
     */
    const stm32isp_erase_run *layout;
    uint8_t layout_runs;

    uint32_t ram_start, ram_end;       /* RAM the host may write [start, end) */
    uint32_t sysmem_start, sysmem_end; /* system memory [start, end) */
    uint32_t option_start, option_end; /* option bytes [start, end) */
    uint32_t flash_size_reg;           /* 16-bit flash size in KiB; 0 if none */
    uint32_t uid_reg;                  /* 96-bit unique ID; 0 if none */
    uint8_t write_align;               /* Write Memory to flash: address and length multiple */
    uint8_t flags;                     /* STM32ISP_DEV_* */

    /* Datasheet maxima, which every timeout is derived from. */
    uint32_t erase_unit_ms_max; /* erasing the largest erase unit */
    uint32_t mass_erase_ms_max;
    uint32_t write256_ms_max; /* programming 256 bytes of flash */
} stm32isp_device;

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

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
    /* The ROM does not NACK a Read or Write Memory address outside its
     * windows: it ACKs it, drops the command and parses the length and data
     * that follow as new commands (the F1 ROMs; seen in a public disassembly
     * of the F103's v2.2). The client checks every such address against
     * the windows below before it sends it (client.h). */
    STM32ISP_DEV_ACKS_BAD_ADDRESS = 1u << 1,
};

/*
 * One part, as its PID names it. The table is compact, so that the master
 * firmware can carry all of it within its flash budget: what a family of
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
    uint8_t wrp_index; /* write-protection granularity (0: not in the database); it fills
                          what was padding, so an entry is no larger */
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

/*
 * Option bytes and write protection (WRP), for the families whose option-byte
 * layout is in the database: F0, F1 and F3. They share 16 bytes at the
 * option-byte base (0x1FFFF800), each option byte followed by its complement
 * (PM0075 §2.5, RM0091 §4, RM0365 §5, RM0313 §4):
 *
 *   offset  0 RDP    1 nRDP    2 USER   3 nUSER   4 Data0  5 nData0  6 Data1  7 nData1
 *   offset  8 WRP0   9 nWRP0  10 WRP1  11 nWRP1  12 WRP2  13 nWRP2  14 WRP3  15 nWRP3
 *
 * Every other family lays them out otherwise (per-sector nWRP bits on
 * F2/F4/F7, option words of their own on G0/G4/L0/L1/L4/WB/WL/C0, none the
 * bootloader shows on H7/L5/U5); for those the functions below answer
 * "not in the database" (false, or STM32ISP_OPTION_BYTES_LAYOUT_NOT_KNOWN)
 * rather than guess. docs/devices.md lists the sources.
 */
#define STM32ISP_OPTION_BYTES_RAW_SIZE 16u

/* The eight option bytes without their complements. */
typedef struct stm32isp_option_bytes {
    uint8_t rdp;   /* read protection: the family's level-0 value is "off", see below */
    uint8_t user;  /* watchdog, reset on Stop/Standby, nBOOT1...: family-specific bits */
    uint8_t data0; /* two bytes free for the user */
    uint8_t data1;
    uint8_t wrp[4]; /* WRP0..WRP3: WRP bit n is bit n % 8 of wrp[n / 8]; active low,
                       0 = the erase units of that bit are write protected */
} stm32isp_option_bytes;

typedef enum stm32isp_option_bytes_status {
    STM32ISP_OPTION_BYTES_VALID,               /* every byte matches its complement */
    STM32ISP_OPTION_BYTES_COMPLEMENT_MISMATCH, /* at least one does not: see decode */
    STM32ISP_OPTION_BYTES_LAYOUT_NOT_KNOWN,    /* the family is not in the database */
} stm32isp_option_bytes_status;

/* True for the families whose option-byte layout is the one above. */
STM32ISP_PURE bool stm32isp_device_option_layout_known(const stm32isp_device *dev);

/*
 * `raw`: the STM32ISP_OPTION_BYTES_RAW_SIZE bytes a Read Memory of the
 * option-byte base returns. Fills *out with what the chip's option byte
 * loader takes from them: a byte whose complement matches, or 0xFF where it
 * does not. On every reset the loader compares each byte with its
 * complement; on a mismatch it flags an option byte error (OPTERR in
 * FLASH_OBR) and uses 0xFF instead, which for RDP means readout protection
 * on. A byte and complement that are both 0xFF (the erased state) are not an
 * error: the comparison is off for them (RM0091 §4, RM0365 §5; F1 has the
 * same complements and OPTERR flag, PM0075 §2.5 and §3.9, and is taken to
 * load the same way). When `mismatched` is not NULL, bit i of *mismatched
 * is set for option byte i in the order of the struct (0 RDP, 1 USER,
 * 2 Data0, 3 Data1, 4..7 WRP0..WRP3).
 * Returns LAYOUT_NOT_KNOWN, leaving *out and *mismatched untouched, for a
 * family without the layout.
 */
stm32isp_option_bytes_status stm32isp_option_bytes_decode(const stm32isp_device *dev,
                                                          const uint8_t *raw,
                                                          stm32isp_option_bytes *out,
                                                          uint8_t *mismatched);

/*
 * The STM32ISP_OPTION_BYTES_RAW_SIZE bytes, complements included, for one
 * Write Memory of the whole area at stm32isp_device_option_start(): AN3155
 * has the bootloader erase the option bytes, program the new ones and reset
 * the chip, so the link is gone afterwards and the new values apply from
 * that reset. Returns false, leaving `raw` untouched, for a family without
 * the layout.
 */
bool stm32isp_option_bytes_encode(const stm32isp_device *dev, const stm32isp_option_bytes *ob,
                                  uint8_t *raw);

/*
 * The RDP value that means "no readout protection" (level 0): 0xA5 on F1
 * (PM0075 §2.4), 0xAA on F0/F3 (RM0091 §3.3, RM0365 §4.3.1). Any other
 * value turns readout protection on, and going back to level 0 mass-erases
 * the flash. False for a family without the layout.
 */
bool stm32isp_device_rdp_level0(const stm32isp_device *dev, uint8_t *value);
/*
 * The RDP value of level 2 on F0/F3 (0xCC): permanent, with debug and the
 * bootloader disabled for good, so a tool must never write it by accident.
 * False where there is no such level (F1) or the family is not in the
 * database.
 */
bool stm32isp_device_rdp_level2(const stm32isp_device *dev, uint8_t *value);

/* How the WRP bits map onto erase units. */
typedef struct stm32isp_wrp_layout {
    uint8_t units_per_bit;     /* erase units (pages) one WRP bit protects */
    uint8_t bits;              /* WRP bits that protect something: 8, 16 or 32 */
    bool last_bit_covers_rest; /* the last bit protects every unit from its first to the end
                                  of flash (F1 high density and up: bit 31 = page 62 on) */
} stm32isp_wrp_layout;

/* The part's WRP layout; false, leaving *layout untouched, when not in the
 * database. WRP bits past `bits` protect nothing; keep them at 1 (RM0365 §5
 * asks that of the WRP bytes a part does not have). */
bool stm32isp_device_wrp_layout(const stm32isp_device *dev, stm32isp_wrp_layout *layout);

/*
 * The erase units [*first, *first + *count) that WRP bit `bit` protects in a
 * part with `flash_size` bytes of flash, in the numbering of
 * stm32isp_device_unit_at(). *count is 0 when the bit lies beyond that
 * flash (bits 16..31 of a 64 KiB medium-density F1). Returns false, leaving
 * both untouched, when the layout is not known or `bit` >= its `bits`.
 */
bool stm32isp_device_wrp_bit_units(const stm32isp_device *dev, uint32_t flash_size, unsigned bit,
                                   uint32_t *first, uint32_t *count);

/* WRP bit `bit` (0..31) of decoded option bytes, with the active-low sense
 * turned round: true = protected. */
bool stm32isp_option_bytes_wrp_protected(const stm32isp_option_bytes *ob, unsigned bit);
/* Sets WRP bit `bit` (0..31) to protect (cleared) or not (set); others stay. */
void stm32isp_option_bytes_set_wrp(stm32isp_option_bytes *ob, unsigned bit, bool protect);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_DEVICES_H */

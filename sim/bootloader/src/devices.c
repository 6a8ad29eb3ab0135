/*
 * The parts the simulator models. Values come from AN2606 (bootloader
 * version, RAM the bootloader keeps, system memory), RM0008 / RM0091 (memory
 * map, option bytes, write-protection granularity) and the datasheets' flash
 * characteristics. See docs/simulator.md for the sources of each field.
 */
#include "blsim/blsim.h"

#include <string.h>

static const blsim_device devices[] = {
    {
        .name = "f103md",
        .description = "STM32F103 medium density (F103x8/xB)",
        .pid = 0x410,
        .bootloader_version = 0x22,
        .erase_opcode = 0x43,
        .flash_base = 0x08000000,
        .page_size = 1024,
        .flash_kb_default = 64,
        .flash_kb_min = 64,
        .flash_kb_max = 128,
        .ram_base = 0x20000000,
        .ram_size = 20 * 1024,
        .ram_user_start = 0x20000200,
        .sysmem_base = 0x1FFFF000,
        .option_bytes_base = 0x1FFFF800,
        .flash_size_reg = 0x1FFFF7E0,
        .uid_reg = 0x1FFFF7E8,
        .rdp_level0 = 0xA5,
        /* WRP0..3: one bit per 4 pages (4 KiB), 32 bits cover 128 KiB. */
        .wrp = {.pages_per_bit = 4, .bits = 32, .last_bit_covers_rest = false},
        .halfword_us_typ_x10 = 525,
        .halfword_us_max_x10 = 700,
        .page_erase_us_typ = 20000,
        .page_erase_us_max = 40000,
        .mass_erase_us_typ = 20000,
        .mass_erase_us_max = 40000,
        .go_state = BLSIM_GO_F103_V22,
        /* Seen in a public disassembly of this ROM (v2.2): a Read or Write
         * Memory address outside its windows is ACKed, then dropped. */
        .acks_bad_address = true,
    },
    {
        .name = "f103hd",
        .description = "STM32F103 high density (F103xC/xD/xE)",
        .pid = 0x414,
        .bootloader_version = 0x22,
        .erase_opcode = 0x43,
        .flash_base = 0x08000000,
        .page_size = 2048,
        .flash_kb_default = 512,
        .flash_kb_min = 256,
        .flash_kb_max = 512,
        .ram_base = 0x20000000,
        .ram_size = 64 * 1024,
        .ram_user_start = 0x20000200,
        .sysmem_base = 0x1FFFF000,
        .option_bytes_base = 0x1FFFF800,
        .flash_size_reg = 0x1FFFF7E0,
        .uid_reg = 0x1FFFF7E8,
        .rdp_level0 = 0xA5,
        /* Bits 0..30 protect 2 pages each; bit 31 protects pages 62 and up. */
        .wrp = {.pages_per_bit = 2, .bits = 32, .last_bit_covers_rest = true},
        .halfword_us_typ_x10 = 525,
        .halfword_us_max_x10 = 700,
        .page_erase_us_typ = 20000,
        .page_erase_us_max = 40000,
        .mass_erase_us_typ = 20000,
        .mass_erase_us_max = 40000,
        /* The high-density ROM is taken to hand over as the medium-density
         * one does (the disassembly is of the latter). */
        .go_state = BLSIM_GO_F103_V22,
        /* The same v2.2 command loop, taken to check addresses the same way. */
        .acks_bad_address = true,
    },
    {
        /* Bootloader v3.1: Extended Erase 0x44 with 2-byte page numbers. */
        .name = "f072",
        .description = "STM32F072 (F070xB/F071/F072)",
        .pid = 0x448,
        .bootloader_version = 0x31,
        .erase_opcode = 0x44,
        .flash_base = 0x08000000,
        .page_size = 2048,
        .flash_kb_default = 128,
        .flash_kb_min = 64,
        .flash_kb_max = 128,
        .ram_base = 0x20000000,
        .ram_size = 16 * 1024,
        .ram_user_start = 0x20001800,
        .sysmem_base = 0x1FFFC800,
        .option_bytes_base = 0x1FFFF800,
        .flash_size_reg = 0x1FFFF7CC,
        .uid_reg = 0x1FFFF7AC,
        .rdp_level0 = 0xAA,
        /* WRP0..3: one bit per 2 pages (4 KiB). */
        .wrp = {.pages_per_bit = 2, .bits = 32, .last_bit_covers_rest = false},
        .halfword_us_typ_x10 = 535,
        .halfword_us_max_x10 = 700,
        .page_erase_us_typ = 20000,
        .page_erase_us_max = 40000,
        .mass_erase_us_typ = 20000,
        .mass_erase_us_max = 40000,
        .go_state = BLSIM_GO_NOT_MODELLED, /* a Cortex-M0: no virtual MCU for it */
        .acks_bad_address = false,         /* v3.1 NACKs a bad address (AN3155) */
    },
};

const blsim_device *blsim_device_at(size_t index)
{
    if (index >= sizeof devices / sizeof devices[0]) {
        return NULL;
    }
    return &devices[index];
}

const blsim_device *blsim_device_find(const char *name)
{
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
        if (strcmp(devices[i].name, name) == 0) {
            return &devices[i];
        }
    }
    return NULL;
}

/*
 * The device table. Values come from AN2606 (the bootloader's memory map and
 * the RAM it keeps for itself), the reference manuals (flash organisation,
 * option bytes, flash-size and UID registers) and the datasheets' flash
 * timing maxima. docs/devices.md lists every entry with its sources and says
 * which values are not yet confirmed on silicon.
 *
 * Compact, for the master firmware's flash budget: 24 bytes a part plus
 * its name, with what a family shares in `families` and the erase layouts in
 * `run_pool` (6.4 KiB of Cortex-M3 flash as a table of full entries; about 3 KiB
 * now). Sorted by family, then by flash size. Lookup is a linear scan: some
 * sixty entries, done once per connection.
 */
#include "stm32isp/devices.h"

#include <stddef.h>

#define KIB  1024u
#define DUAL STM32ISP_DEV_DUAL_BANK
/* On every F1 entry: seen on the F103's ROM v2.2 only, but a client that
 * checks addresses itself loses nothing where a ROM would NACK them. */
#define ACKB STM32ISP_DEV_ACKS_BAD_ADDRESS

/* Built with STM32ISP_DEVICE_NAMES=0 (the master firmware), the parts have
 * empty names: 1.1 KiB of text its flash cannot spare. It shows the family
 * and the PID instead; every other field is the same. */
#if defined(STM32ISP_DEVICE_NAMES) && !STM32ISP_DEVICE_NAMES
#define NAME(text) ""
#else
#define NAME(text) text
#endif

/* What the parts of one family (or one variant of it) share. */
typedef struct family {
    const char *name;
    uint32_t sysmem_base; /* the devices' system memory is given from here */
    uint32_t option_start;
    uint32_t flash_size_reg;
    uint32_t uid_reg;
    uint16_t erase_unit_ms_max, mass_erase_ms_max, write256_ms_max;
    uint8_t option_size;
    /* Two fields share the last byte, so that an entry stays 28 bytes on the
     * MCU (a byte of its own would cost 4 with padding, 84 in all). */
    unsigned write_align : 6;   /* bytes: 4 to 32 */
    unsigned option_format : 2; /* OB_*: how the option bytes are laid out */
} family;
_Static_assert(sizeof(family) == offsetof(family, option_size) + 2,
               "write_align and option_format share one byte");

/* Option-byte layouts (devices.h shows the 16 bytes of the classic one). */
enum {
    OB_NOT_KNOWN,     /* not in the database: every option-byte function says so */
    OB_CLASSIC_F1,    /* RDP level 0 = 0xA5, no level 2 (PM0075 §2.4, §2.5) */
    OB_CLASSIC_F0_F3, /* RDP level 0 = 0xAA, level 2 = 0xCC (RM0091 §3.3 and §4,
                         RM0365 §4.3.1 and §5, RM0313 §4) */
};

/* WRP granularities, named erase units per bit x bits. A part's wrp_index
 * picks one; 0 is "not in the database". docs/devices.md gives each part's
 * source. */
enum {
    WRP_NOT_KNOWN,
    WRP_4x8,       /* 32 pages of 1 KiB: WRP0 only */
    WRP_4x16,      /* 64 pages of 1 KiB: WRP0, WRP1 */
    WRP_4x32,      /* 128 pages of 1 KiB */
    WRP_2x16,      /* 32 pages of 2 KiB: WRP0, WRP1 */
    WRP_2x32,      /* 64 pages of 2 KiB */
    WRP_2x32_REST, /* more than 64 pages of 2 KiB: bit 31 covers page 62 to the end */
};
static const stm32isp_wrp_layout wrp_layouts[] = {
    [WRP_NOT_KNOWN] = {0, 0, false}, [WRP_4x8] = {4, 8, false},   [WRP_4x16] = {4, 16, false},
    [WRP_4x32] = {4, 32, false},     [WRP_2x16] = {2, 16, false}, [WRP_2x32] = {2, 32, false},
    [WRP_2x32_REST] = {2, 32, true},
};

/* The erase runs of every layout, laid end to end: a layout is a slice. */
static const stm32isp_erase_run run_pool[] = {
    {4, 16 * KIB},  {1, 64 * KIB},  {7, 128 * KIB}, {4, 16 * KIB},  {1, 64 * KIB},
    {7, 128 * KIB}, {4, 16 * KIB},  {1, 64 * KIB},  {3, 128 * KIB}, {4, 16 * KIB},
    {1, 64 * KIB},  {1, 128 * KIB}, {4, 16 * KIB},  {1, 64 * KIB},  {11, 128 * KIB},
    {4, 32 * KIB},  {1, 128 * KIB}, {3, 256 * KIB}, {4, 32 * KIB},  {1, 128 * KIB},
    {7, 256 * KIB}, {64, 1 * KIB},  {128, 2 * KIB}, {32, 1 * KIB},  {64, 2 * KIB},
    {128, 1 * KIB}, {256, 2 * KIB}, {512, 2 * KIB}, {32, 2 * KIB},  {16, 128 * KIB},
    {256, 8 * KIB}, {8, 128 * KIB}, {128, 128},     {256, 128},     {512, 128},
    {1536, 128},    {512, 256},     {1024, 256},    {1536, 256},    {2048, 256},
    {512, 4 * KIB}, {256, 4 * KIB}, {16, 2 * KIB},
};

/* Layouts: the first run in run_pool[] and the number of runs. */
static const uint8_t layouts[][2] = {
    {21, 1}, /* 0: 64x1K */
    {22, 1}, /* 1: 128x2K */
    {23, 1}, /* 2: 32x1K */
    {24, 1}, /* 3: 64x2K */
    {25, 1}, /* 4: 128x1K */
    {26, 1}, /* 5: 256x2K */
    {27, 1}, /* 6: 512x2K */
    {0, 3},  /* 7: 4x16K + 1x64K + 7x128K */
    {28, 1}, /* 8: 32x2K */
    {0, 6},  /* 9: 4x16K + 1x64K + 7x128K + 4x16K + 1x64K + 7x128K */
    {6, 3},  /* 10: 4x16K + 1x64K + 3x128K */
    {9, 3},  /* 11: 4x16K + 1x64K + 1x128K */
    {0, 2},  /* 12: 4x16K + 1x64K */
    {12, 3}, /* 13: 4x16K + 1x64K + 11x128K */
    {15, 3}, /* 14: 4x32K + 1x128K + 3x256K */
    {18, 3}, /* 15: 4x32K + 1x128K + 7x256K */
    {29, 1}, /* 16: 16x128K */
    {30, 1}, /* 17: 256x8K */
    {31, 1}, /* 18: 8x128K */
    {32, 1}, /* 19: 128x128 */
    {33, 1}, /* 20: 256x128 */
    {34, 1}, /* 21: 512x128 */
    {35, 1}, /* 22: 1536x128 */
    {36, 1}, /* 23: 512x256 */
    {37, 1}, /* 24: 1024x256 */
    {38, 1}, /* 25: 1536x256 */
    {39, 1}, /* 26: 2048x256 */
    {40, 1}, /* 27: 512x4K */
    {41, 1}, /* 28: 256x4K */
    {42, 1}, /* 29: 16x2K */
};

enum {
    FAM_F0,
    FAM_F1,
    FAM_F2,
    FAM_F3,
    FAM_F4,
    FAM_F4_2M,
    FAM_F7,
    FAM_F72X,
    FAM_G0,
    FAM_G4,
    FAM_H7,
    FAM_H7A3,
    FAM_L0,
    FAM_L1_CAT12,
    FAM_L1_CAT3,
    FAM_L4,
    FAM_L5,
    FAM_U5,
    FAM_WB,
    FAM_WL,
    FAM_C0,
};

/* name, system memory base, option bytes, flash-size register, UID, erase unit / mass erase /
 * 256-byte write maxima in ms, option bytes size, write alignment, option-byte layout */
static const family families[] = {
    [FAM_F0] = {"F0", 0x1FFFC400u, 0x1FFFF800u, 0x1FFFF7CCu, 0x1FFFF7ACu, 40, 40, 10, 16, 4,
                OB_CLASSIC_F0_F3},
    [FAM_F1] = {"F1", 0x1FFFB000u, 0x1FFFF800u, 0x1FFFF7E0u, 0x1FFFF7E8u, 40, 40, 10, 16, 4,
                OB_CLASSIC_F1},
    [FAM_F2] = {"F2", 0x1FFF0000u, 0x1FFFC000u, 0x1FFF7A22u, 0x1FFF7A10u, 4000, 32000, 10, 16, 4,
                OB_NOT_KNOWN},
    [FAM_F3] = {"F3", 0x1FFFD800u, 0x1FFFF800u, 0x1FFFF7CCu, 0x1FFFF7ACu, 40, 40, 10, 16, 4,
                OB_CLASSIC_F0_F3},
    [FAM_F4] = {"F4", 0x1FFF0000u, 0x1FFFC000u, 0x1FFF7A22u, 0x1FFF7A10u, 4000, 32000, 10, 16, 4,
                OB_NOT_KNOWN},
    [FAM_F4_2M] = {"F4", 0x1FFF0000u, 0x1FFFC000u, 0x1FFF7A22u, 0x1FFF7A10u, 4000, 64000, 10, 16, 4,
                   OB_NOT_KNOWN},
    [FAM_F7] = {"F7", 0x1FF00000u, 0x1FFF0000u, 0x1FF0F442u, 0x1FF0F420u, 5000, 32000, 10, 32, 4,
                OB_NOT_KNOWN},
    [FAM_F72X] = {"F7", 0x1FF00000u, 0x1FFF0000u, 0x1FF07A22u, 0x1FF07A10u, 4000, 32000, 10, 32, 4,
                  OB_NOT_KNOWN},
    [FAM_G0] = {"G0", 0x1FFF0000u, 0x1FFF7800u, 0x1FFF75E0u, 0x1FFF7590u, 40, 40, 5, 128, 8,
                OB_NOT_KNOWN},
    [FAM_G4] = {"G4", 0x1FFF0000u, 0x1FFF7800u, 0x1FFF75E0u, 0x1FFF7590u, 40, 40, 5, 48, 8,
                OB_NOT_KNOWN},
    [FAM_H7] = {"H7", 0x1FF00000u, 0x00000000u, 0x1FF1E880u, 0x1FF1E800u, 4000, 32000, 10, 0, 32,
                OB_NOT_KNOWN},
    [FAM_H7A3] = {"H7", 0x1FF00000u, 0x00000000u, 0x08FFF80Cu, 0x08FFF800u, 100, 32000, 10, 0, 16,
                  OB_NOT_KNOWN},
    [FAM_L0] = {"L0", 0x1FF00000u, 0x1FF80000u, 0x1FF8007Cu, 0x1FF80050u, 4, 6000, 210, 32, 4,
                OB_NOT_KNOWN},
    [FAM_L1_CAT12] = {"L1", 0x1FF00000u, 0x1FF80000u, 0x1FF8004Cu, 0x1FF80050u, 4, 10000, 260, 32,
                      4, OB_NOT_KNOWN},
    [FAM_L1_CAT3] = {"L1", 0x1FF00000u, 0x1FF80000u, 0x1FF800CCu, 0x1FF800D0u, 4, 10000, 260, 32, 4,
                     OB_NOT_KNOWN},
    [FAM_L4] = {"L4", 0x1FFF0000u, 0x1FFF7800u, 0x1FFF75E0u, 0x1FFF7590u, 25, 25, 5, 16, 8,
                OB_NOT_KNOWN},
    [FAM_L5] = {"L5", 0x0BF90000u, 0x00000000u, 0x0BFA05E0u, 0x0BFA0590u, 25, 25, 5, 0, 8,
                OB_NOT_KNOWN},
    [FAM_U5] = {"U5", 0x0BF90000u, 0x00000000u, 0x0BFA07A0u, 0x0BFA0700u, 25, 25, 5, 0, 16,
                OB_NOT_KNOWN},
    [FAM_WB] = {"WB", 0x1FFF0000u, 0x1FFF7800u, 0x1FFF75E0u, 0x1FFF7590u, 25, 25, 5, 128, 8,
                OB_NOT_KNOWN},
    [FAM_WL] = {"WL", 0x1FFF0000u, 0x1FFF7800u, 0x1FFF75E0u, 0x1FFF7590u, 25, 25, 5, 128, 8,
                OB_NOT_KNOWN},
    [FAM_C0] = {"C0", 0x1FFF0000u, 0x1FFF7800u, 0x1FFF75A0u, 0x1FFF7550u, 40, 40, 5, 128, 8,
                OB_NOT_KNOWN},
};

/* pid, family, layout, name, user RAM [start, end), flash KiB, system memory
 * [start, end) in 64-byte units from the family's base, flags, WRP granularity */
static const stm32isp_device devices[] = {
    {0x440, FAM_F0, 0, NAME("STM32F030x8/F05x"), 0x20000800u, 0x20002000u, 64, 160, 208, 0,
     WRP_4x16},
    {0x442, FAM_F0, 1, NAME("STM32F030xC/F09x"), 0x20001800u, 0x20008000u, 256, 80, 208, 0,
     WRP_2x32_REST},
    {0x444, FAM_F0, 2, NAME("STM32F03x"), 0x20000800u, 0x20001000u, 32, 160, 208, 0, WRP_4x8},
    {0x445, FAM_F0, 2, NAME("STM32F04x/F070x6"), 0x20001800u, 0x20001800u, 32, 0, 208, 0, WRP_4x8},
    {0x448, FAM_F0, 3, NAME("STM32F070xB/F071/F072"), 0x20001800u, 0x20004000u, 128, 16, 208, 0,
     WRP_2x32},
    {0x412, FAM_F1, 2, NAME("STM32F10x low density"), 0x20000200u, 0x20002800u, 32, 256, 288, ACKB,
     WRP_4x8},
    {0x410, FAM_F1, 4, NAME("STM32F10x medium density"), 0x20000200u, 0x20005000u, 128, 256, 288,
     ACKB, WRP_4x32},
    {0x414, FAM_F1, 5, NAME("STM32F10x high density"), 0x20000200u, 0x20010000u, 512, 256, 288,
     ACKB, WRP_2x32_REST},
    {0x418, FAM_F1, 1, NAME("STM32F105/F107 connectivity line"), 0x20001000u, 0x20010000u, 256, 0,
     288, ACKB, WRP_2x32_REST},
    {0x420, FAM_F1, 4, NAME("STM32F100 value line low/medium density"), 0x20000200u, 0x20002000u,
     128, 256, 288, ACKB, WRP_4x32},
    {0x428, FAM_F1, 5, NAME("STM32F100 value line high density"), 0x20000200u, 0x20008000u, 512,
     256, 288, ACKB, WRP_2x32_REST},
    {0x430, FAM_F1, 6, NAME("STM32F10x XL density"), 0x20000800u, 0x20018000u, 1024, 192, 288,
     DUAL | ACKB, WRP_2x32_REST},
    {0x411, FAM_F2, 7, NAME("STM32F2xx"), 0x20002000u, 0x20020000u, 1024, 0, 480, 0, WRP_NOT_KNOWN},
    {0x422, FAM_F3, 1, NAME("STM32F302xB/C, F303xB/C, F358"), 0x20001400u, 0x2000A000u, 256, 0, 128,
     0, WRP_2x32_REST},
    {0x432, FAM_F3, 1, NAME("STM32F37x"), 0x20001400u, 0x20008000u, 256, 0, 128, 0, WRP_2x32_REST},
    {0x438, FAM_F3, 8, NAME("STM32F303x4/6/8, F334, F328"), 0x20001800u, 0x20003000u, 64, 0, 128, 0,
     WRP_2x16},
    {0x439, FAM_F3, 8, NAME("STM32F301, F302x4/6/8, F318"), 0x20001800u, 0x20004000u, 64, 0, 128, 0,
     WRP_2x16},
    {0x446, FAM_F3, 5, NAME("STM32F302xD/E, F303xD/E, F398"), 0x20001800u, 0x20010000u, 512, 0, 128,
     0, WRP_2x32_REST},
    {0x413, FAM_F4, 7, NAME("STM32F40x/F41x"), 0x20003000u, 0x20020000u, 1024, 0, 480, 0,
     WRP_NOT_KNOWN},
    {0x419, FAM_F4_2M, 9, NAME("STM32F42x/F43x"), 0x20003000u, 0x20030000u, 2048, 0, 480, DUAL,
     WRP_NOT_KNOWN},
    {0x421, FAM_F4, 10, NAME("STM32F446"), 0x20003000u, 0x20020000u, 512, 0, 480, 0, WRP_NOT_KNOWN},
    {0x423, FAM_F4, 11, NAME("STM32F401xB/C"), 0x20003000u, 0x20010000u, 256, 0, 480, 0,
     WRP_NOT_KNOWN},
    {0x431, FAM_F4, 10, NAME("STM32F411"), 0x20003000u, 0x20020000u, 512, 0, 480, 0, WRP_NOT_KNOWN},
    {0x433, FAM_F4, 10, NAME("STM32F401xD/E"), 0x20003000u, 0x20018000u, 512, 0, 480, 0,
     WRP_NOT_KNOWN},
    {0x434, FAM_F4_2M, 9, NAME("STM32F469/F479"), 0x20003000u, 0x20060000u, 2048, 0, 480, DUAL,
     WRP_NOT_KNOWN},
    {0x441, FAM_F4, 7, NAME("STM32F412"), 0x20003000u, 0x20040000u, 1024, 0, 480, 0, WRP_NOT_KNOWN},
    {0x458, FAM_F4, 12, NAME("STM32F410"), 0x20003000u, 0x20008000u, 128, 0, 480, 0, WRP_NOT_KNOWN},
    {0x463, FAM_F4, 13, NAME("STM32F413/F423"), 0x20003000u, 0x20050000u, 1536, 0, 480, 0,
     WRP_NOT_KNOWN},
    {0x449, FAM_F7, 14, NAME("STM32F74x/F75x"), 0x20004000u, 0x20050000u, 1024, 0, 951, 0,
     WRP_NOT_KNOWN},
    {0x451, FAM_F7, 15, NAME("STM32F76x/F77x"), 0x20004000u, 0x20080000u, 2048, 0, 951, 0,
     WRP_NOT_KNOWN},
    {0x452, FAM_F72X, 10, NAME("STM32F72x/F73x"), 0x20004000u, 0x20040000u, 512, 0, 951, 0,
     WRP_NOT_KNOWN},
    {0x466, FAM_G0, 8, NAME("STM32G03x/G04x"), 0x20001000u, 0x20002000u, 64, 0, 128, 0,
     WRP_NOT_KNOWN},
    {0x456, FAM_G0, 8, NAME("STM32G05x/G06x"), 0x20001000u, 0x20004800u, 64, 0, 128, 0,
     WRP_NOT_KNOWN},
    {0x460, FAM_G0, 3, NAME("STM32G07x/G08x"), 0x20002700u, 0x20009000u, 128, 0, 448, 0,
     WRP_NOT_KNOWN},
    {0x467, FAM_G0, 5, NAME("STM32G0Bx/G0Cx"), 0x20004000u, 0x20024000u, 512, 0, 448, DUAL,
     WRP_NOT_KNOWN},
    {0x468, FAM_G4, 3, NAME("STM32G431/G441"), 0x20004000u, 0x20005800u, 128, 0, 448, 0,
     WRP_NOT_KNOWN},
    {0x469, FAM_G4, 5, NAME("STM32G47x/G48x"), 0x20004000u, 0x20018000u, 512, 0, 448, DUAL,
     WRP_NOT_KNOWN},
    {0x479, FAM_G4, 5, NAME("STM32G491/G4A1"), 0x20004000u, 0x2001C000u, 512, 0, 448, 0,
     WRP_NOT_KNOWN},
    {0x450, FAM_H7, 16, NAME("STM32H74x/H75x"), 0x24004000u, 0x24080000u, 2048, 0, 1952, DUAL,
     WRP_NOT_KNOWN},
    {0x480, FAM_H7A3, 17, NAME("STM32H7A3/H7B3"), 0x24004000u, 0x24100000u, 2048, 0, 1280, DUAL,
     WRP_NOT_KNOWN},
    {0x483, FAM_H7, 18, NAME("STM32H72x/H73x"), 0x24004000u, 0x24050000u, 1024, 0, 1952, 0,
     WRP_NOT_KNOWN},
    {0x457, FAM_L0, 19, NAME("STM32L01x/L02x"), 0x20000800u, 0x20000800u, 16, 0, 64, 0,
     WRP_NOT_KNOWN},
    {0x425, FAM_L0, 20, NAME("STM32L031/L041"), 0x20001000u, 0x20002000u, 32, 0, 64, 0,
     WRP_NOT_KNOWN},
    {0x417, FAM_L0, 21, NAME("STM32L05x/L06x"), 0x20001000u, 0x20002000u, 64, 0, 64, 0,
     WRP_NOT_KNOWN},
    {0x447, FAM_L0, 22, NAME("STM32L07x/L08x"), 0x20002000u, 0x20005000u, 192, 0, 128, 0,
     WRP_NOT_KNOWN},
    {0x416, FAM_L1_CAT12, 23, NAME("STM32L1xx category 1"), 0x20000800u, 0x20004000u, 128, 0, 64, 0,
     WRP_NOT_KNOWN},
    {0x429, FAM_L1_CAT12, 23, NAME("STM32L1xx category 2"), 0x20001000u, 0x20008000u, 128, 0, 64, 0,
     WRP_NOT_KNOWN},
    {0x427, FAM_L1_CAT3, 24, NAME("STM32L1xx category 3"), 0x20001000u, 0x20008000u, 256, 0, 64, 0,
     WRP_NOT_KNOWN},
    {0x436, FAM_L1_CAT3, 25, NAME("STM32L1xx category 4 / 3-H"), 0x20001000u, 0x20014000u, 384, 0,
     128, DUAL, WRP_NOT_KNOWN},
    {0x437, FAM_L1_CAT3, 26, NAME("STM32L1xx category 5/6"), 0x20001000u, 0x20014000u, 512, 0, 128,
     DUAL, WRP_NOT_KNOWN},
    {0x464, FAM_L4, 3, NAME("STM32L41x/L42x"), 0x20003100u, 0x20008000u, 128, 0, 448, 0,
     WRP_NOT_KNOWN},
    {0x435, FAM_L4, 1, NAME("STM32L43x/L44x"), 0x20003100u, 0x2000C000u, 256, 0, 448, 0,
     WRP_NOT_KNOWN},
    {0x462, FAM_L4, 5, NAME("STM32L45x/L46x"), 0x20003100u, 0x20020000u, 512, 0, 448, 0,
     WRP_NOT_KNOWN},
    {0x415, FAM_L4, 6, NAME("STM32L47x/L48x"), 0x20003100u, 0x20018000u, 1024, 0, 448, DUAL,
     WRP_NOT_KNOWN},
    {0x461, FAM_L4, 6, NAME("STM32L496/L4A6"), 0x20003100u, 0x20040000u, 1024, 0, 448, DUAL,
     WRP_NOT_KNOWN},
    {0x470, FAM_L4, 27, NAME("STM32L4Rx/L4Sx"), 0x20003200u, 0x200A0000u, 2048, 0, 448, DUAL,
     WRP_NOT_KNOWN},
    {0x471, FAM_L4, 28, NAME("STM32L4P5/L4Q5"), 0x20003200u, 0x20050000u, 1024, 0, 448, DUAL,
     WRP_NOT_KNOWN},
    {0x472, FAM_L5, 5, NAME("STM32L55x/L56x"), 0x20004000u, 0x20040000u, 512, 0, 512, DUAL,
     WRP_NOT_KNOWN},
    {0x482, FAM_U5, 17, NAME("STM32U575/U585"), 0x20004000u, 0x200C0000u, 2048, 0, 1024, DUAL,
     WRP_NOT_KNOWN},
    {0x495, FAM_WB, 28, NAME("STM32WB55/WB35"), 0x20004000u, 0x2000C000u, 1024, 0, 448, 0,
     WRP_NOT_KNOWN},
    {0x497, FAM_WL, 1, NAME("STM32WLE5/WL55"), 0x20002000u, 0x20010000u, 256, 0, 256, 0,
     WRP_NOT_KNOWN},
    {0x443, FAM_C0, 29, NAME("STM32C011/C031"), 0x20001000u, 0x20003000u, 32, 0, 96, 0,
     WRP_NOT_KNOWN},
    {0x453, FAM_C0, 3, NAME("STM32C071"), 0x20001000u, 0x20006000u, 128, 0, 128, 0, WRP_NOT_KNOWN},
};

#define DEVICE_COUNT (sizeof devices / sizeof devices[0])

const stm32isp_device *stm32isp_device_by_pid(uint16_t pid)
{
    for (size_t i = 0; i < DEVICE_COUNT; i++) {
        if (devices[i].pid == pid) {
            return &devices[i];
        }
    }
    return NULL;
}

const stm32isp_device *stm32isp_device_at(size_t index)
{
    return index < DEVICE_COUNT ? &devices[index] : NULL;
}

static const family *family_of(const stm32isp_device *dev)
{
    return &families[dev->family_index];
}

const char *stm32isp_device_family(const stm32isp_device *dev)
{
    return family_of(dev)->name;
}

uint32_t stm32isp_device_flash_base(const stm32isp_device *dev)
{
    (void)dev;
    return 0x08000000u;
}

uint32_t stm32isp_device_flash_size_max(const stm32isp_device *dev)
{
    return (uint32_t)dev->flash_kb * KIB;
}

size_t stm32isp_device_layout(const stm32isp_device *dev, const stm32isp_erase_run **first)
{
    *first = &run_pool[layouts[dev->layout_index][0]];
    return layouts[dev->layout_index][1];
}

uint32_t stm32isp_device_sysmem_start(const stm32isp_device *dev)
{
    return family_of(dev)->sysmem_base + dev->sysmem_start64 * 64u;
}

uint32_t stm32isp_device_sysmem_end(const stm32isp_device *dev)
{
    return family_of(dev)->sysmem_base + dev->sysmem_end64 * 64u;
}

uint32_t stm32isp_device_option_start(const stm32isp_device *dev)
{
    return family_of(dev)->option_start;
}

uint32_t stm32isp_device_option_end(const stm32isp_device *dev)
{
    return family_of(dev)->option_start + family_of(dev)->option_size;
}

uint32_t stm32isp_device_flash_size_reg(const stm32isp_device *dev)
{
    return family_of(dev)->flash_size_reg;
}

uint32_t stm32isp_device_uid_reg(const stm32isp_device *dev)
{
    return family_of(dev)->uid_reg;
}

uint32_t stm32isp_device_write_align(const stm32isp_device *dev)
{
    return family_of(dev)->write_align;
}

uint32_t stm32isp_device_erase_unit_ms_max(const stm32isp_device *dev)
{
    return family_of(dev)->erase_unit_ms_max;
}

uint32_t stm32isp_device_mass_erase_ms_max(const stm32isp_device *dev)
{
    return family_of(dev)->mass_erase_ms_max;
}

uint32_t stm32isp_device_write256_ms_max(const stm32isp_device *dev)
{
    return family_of(dev)->write256_ms_max;
}

bool stm32isp_device_unit_at(const stm32isp_device *dev, uint32_t flash_size, uint32_t address,
                             uint32_t *index, uint32_t *start, uint32_t *size)
{
    if (address < stm32isp_device_flash_base(dev) ||
        address - stm32isp_device_flash_base(dev) >= flash_size) {
        return false;
    }
    uint32_t base = stm32isp_device_flash_base(dev);
    uint32_t offset = address - base;
    uint32_t run_start = 0, unit = 0;
    const stm32isp_erase_run *runs;
    size_t n = stm32isp_device_layout(dev, &runs);
    for (size_t r = 0; r < n; r++) {
        const stm32isp_erase_run *run = &runs[r];
        uint32_t run_bytes = (uint32_t)run->count * run->size;
        if (offset < run_start + run_bytes) {
            uint32_t k = (offset - run_start) / run->size;
            *index = unit + k;
            *start = base + run_start + k * run->size;
            *size = run->size;
            return true;
        }
        run_start += run_bytes;
        unit += run->count;
    }
    /* A part whose register reports more flash than the table knows (a
     * clone): the last unit size goes on. */
    const stm32isp_erase_run *last = &runs[n - 1];
    uint32_t k = (offset - run_start) / last->size;
    *index = unit + k;
    *start = base + run_start + k * last->size;
    *size = last->size;
    return true;
}

uint32_t stm32isp_device_unit_count(const stm32isp_device *dev, uint32_t flash_size)
{
    uint32_t index, start, size;
    if (flash_size == 0 ||
        !stm32isp_device_unit_at(dev, flash_size, stm32isp_device_flash_base(dev) + flash_size - 1,
                                 &index, &start, &size)) {
        return 0;
    }
    return index + 1;
}

bool stm32isp_device_option_layout_known(const stm32isp_device *dev)
{
    return family_of(dev)->option_format != OB_NOT_KNOWN;
}

stm32isp_option_bytes_status stm32isp_option_bytes_decode(const stm32isp_device *dev,
                                                          const uint8_t *raw,
                                                          stm32isp_option_bytes *out,
                                                          uint8_t *mismatched)
{
    if (!stm32isp_device_option_layout_known(dev)) {
        return STM32ISP_OPTION_BYTES_LAYOUT_NOT_KNOWN;
    }
    /* The struct's order is the raw order without the complements. */
    uint8_t *const fields[8] = {&out->rdp,    &out->user,   &out->data0,  &out->data1,
                                &out->wrp[0], &out->wrp[1], &out->wrp[2], &out->wrp[3]};
    uint8_t bad = 0;
    for (unsigned i = 0; i < 8; i++) {
        uint8_t value = raw[2 * i];
        uint8_t complement = raw[2 * i + 1];
        bool erased = value == 0xFFu && complement == 0xFFu;
        if ((uint8_t)(value ^ complement) != 0xFFu && !erased) {
            bad = (uint8_t)(bad | (1u << i));
            value = 0xFFu; /* what the option byte loader puts in its place */
        }
        *fields[i] = value;
    }
    if (mismatched != NULL) {
        *mismatched = bad;
    }
    return bad != 0 ? STM32ISP_OPTION_BYTES_COMPLEMENT_MISMATCH : STM32ISP_OPTION_BYTES_VALID;
}

bool stm32isp_option_bytes_encode(const stm32isp_device *dev, const stm32isp_option_bytes *ob,
                                  uint8_t *raw)
{
    if (!stm32isp_device_option_layout_known(dev)) {
        return false;
    }
    const uint8_t values[8] = {ob->rdp,    ob->user,   ob->data0,  ob->data1,
                               ob->wrp[0], ob->wrp[1], ob->wrp[2], ob->wrp[3]};
    for (unsigned i = 0; i < 8; i++) {
        raw[2 * i] = values[i];
        raw[2 * i + 1] = (uint8_t)~values[i];
    }
    return true;
}

bool stm32isp_device_rdp_level0(const stm32isp_device *dev, uint8_t *value)
{
    switch (family_of(dev)->option_format) {
    case OB_CLASSIC_F1:
        *value = 0xA5u;
        return true;
    case OB_CLASSIC_F0_F3:
        *value = 0xAAu;
        return true;
    default:
        return false;
    }
}

bool stm32isp_device_rdp_level2(const stm32isp_device *dev, uint8_t *value)
{
    if (family_of(dev)->option_format != OB_CLASSIC_F0_F3) {
        return false;
    }
    *value = 0xCCu;
    return true;
}

bool stm32isp_device_wrp_layout(const stm32isp_device *dev, stm32isp_wrp_layout *layout)
{
    /* An index past the table (a hand-made entry) is as unknown as 0. */
    if (dev->wrp_index == WRP_NOT_KNOWN ||
        dev->wrp_index >= sizeof wrp_layouts / sizeof wrp_layouts[0]) {
        return false;
    }
    *layout = wrp_layouts[dev->wrp_index];
    return true;
}

bool stm32isp_device_wrp_bit_units(const stm32isp_device *dev, uint32_t flash_size, unsigned bit,
                                   uint32_t *first, uint32_t *count)
{
    stm32isp_wrp_layout layout;
    if (!stm32isp_device_wrp_layout(dev, &layout) || bit >= layout.bits) {
        return false;
    }
    uint32_t units = stm32isp_device_unit_count(dev, flash_size);
    uint32_t start = (uint32_t)bit * layout.units_per_bit;
    uint32_t end = start + layout.units_per_bit;
    if (layout.last_bit_covers_rest && bit + 1u == layout.bits) {
        end = units;
    }
    if (end > units) {
        end = units; /* a smaller part: the bit covers what there is of it */
    }
    *first = start;
    *count = end > start ? end - start : 0;
    return true;
}

bool stm32isp_option_bytes_wrp_protected(const stm32isp_option_bytes *ob, unsigned bit)
{
    return bit < 32 && (ob->wrp[bit / 8] & (1u << (bit % 8))) == 0;
}

void stm32isp_option_bytes_set_wrp(stm32isp_option_bytes *ob, unsigned bit, bool protect)
{
    if (bit >= 32) {
        return;
    }
    uint8_t mask = (uint8_t)(1u << (bit % 8));
    ob->wrp[bit / 8] =
        protect ? (uint8_t)(ob->wrp[bit / 8] & ~mask) : (uint8_t)(ob->wrp[bit / 8] | mask);
}

/*
 * How fuzz_imagefile's two control bytes choose the reader's arguments:
 * shared with the seed generator, which checks that each seed loads.
 *
 *   ctl[0] bits 0-2  format: AUTO, BIN, IHEX, SREC, ELF, then AUTO again
 *          bits 3-5  file name (its extension steers AUTO)
 *          bit 6     a load address is given (raw binaries need one)
 *          bit 7     round trip through SREC instead of Intel HEX
 *   ctl[1] bits 0-1  the load address
 *          bit 2     recompute the checksum of every Intel HEX and SREC
 *                    record before loading
 */
#ifndef FUZZ_IMAGEFILE_INPUT_H
#define FUZZ_IMAGEFILE_INPUT_H

#include "imagefile.h"

enum {
    IMAGEFILE_IN_ADDRESS = 1u << 6,  /* ctl[0] */
    IMAGEFILE_IN_SREC = 1u << 7,     /* ctl[0] */
    IMAGEFILE_IN_FIX_SUMS = 1u << 2, /* ctl[1] */
};

typedef struct imagefile_args {
    image_format format;
    const char *name;
    bool has_address;
    uint32_t address;
} imagefile_args;

static inline imagefile_args imagefile_input_args(uint8_t ctl0, uint8_t ctl1)
{
    static const image_format formats[8] = {
        IMAGE_FORMAT_AUTO, IMAGE_FORMAT_BIN,  IMAGE_FORMAT_IHEX, IMAGE_FORMAT_SREC,
        IMAGE_FORMAT_ELF,  IMAGE_FORMAT_AUTO, IMAGE_FORMAT_AUTO, IMAGE_FORMAT_AUTO,
    };
    static const char *const names[8] = {
        "fw", "fw.hex", "fw.srec", "fw.elf", "fw.bin", "dir.bin/fw", "FW.S19", "fw.",
    };
    static const uint32_t addresses[4] = {0x08000000u, 0u, 0xFFFFFF00u, 0x20000000u};
    return (imagefile_args){formats[ctl0 & 7], names[(ctl0 >> 3) & 7],
                            (ctl0 & IMAGEFILE_IN_ADDRESS) != 0, addresses[ctl1 & 3]};
}

#endif

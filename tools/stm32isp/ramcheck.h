/*
 * Checking a target's flash against an image, as `flash` does after writing
 * and `verify` does alone: with the RAM CRC program where the part runs it
 * (docs/ram-crc.md), else with Get Checksum or by reading back.
 */
#ifndef STM32ISP_TOOL_RAMCHECK_H
#define STM32ISP_TOOL_RAMCHECK_H

#include "imagefile.h"
#include "stm32isp/ramcrc.h"
#include "target.h"

typedef enum verify_method {
    VERIFY_DEFAULT, /* crc where the RAM CRC program runs, else what the bootloader offers */
    VERIFY_CRC,     /* the RAM CRC program, or a refusal before anything is erased */
    VERIFY_READ,    /* every byte read back */
    VERIFY_NONE,
} verify_method;

/*
 * Checks the image against the part that answered (inside its flash, no
 * larger than it): EXIT_OK, or after one line naming both spans and ending
 * with `consequence` ("nothing was erased"): EXIT_IMAGE_REFUSED.
 */
int image_check_fits(session *s, const loaded_image *img, const char *consequence);

/* "crc", "read" or "none" (only when allow_none). */
bool verify_method_parse(const char *text, bool allow_none, verify_method *out);

/*
 * Whether the RAM CRC program checks `img` on this target: *use. Returns
 * EXIT_OK, or EXIT_USAGE after saying why an explicit `crc` cannot be
 * honoured (nothing has been erased yet).
 */
int ram_crc_choose(session *s, const loaded_image *img, verify_method method, bool *use);

typedef struct ram_crc_outcome {
    bool verified;  /* the flash equals the image */
    bool fell_back; /* the program did not answer properly: the flash was read back */
    bool started;   /* the program started the application */
    uint32_t ms;
    uint32_t image_crc;
    stm32isp_ramcrc_report ram;
} ram_crc_outcome;

/*
 * Runs the RAM CRC program over the image's segments and compares its CRC
 * with the image's; then starts the application at `go` (0: the flash
 * base) when `start`, else returns the target to its bootloader. Link
 * trouble while it runs falls back to reading the flash back. Returns an
 * exit code, after one error line when the flash differs or the target is
 * lost.
 */
int ram_crc_verify(session *s, const loaded_image *img, uint32_t go, bool start,
                   ram_crc_outcome *out);

#endif

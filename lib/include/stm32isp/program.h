/*
 * Programming a connected target: check that the image fits, erase what it
 * needs, write it in 256-byte blocks streamed from an image source, verify,
 * and start the application. The image is never held in RAM as a whole: the
 * master has 20 KiB and the image may be 128 KiB or more.
 */
#ifndef STM32ISP_PROGRAM_H
#define STM32ISP_PROGRAM_H

#include "stm32isp/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A run of image bytes destined for [address, address + length). */
typedef struct stm32isp_segment {
    uint32_t address;
    uint32_t length;
} stm32isp_segment;

/*
 * An image: segments sorted by address, not overlapping, and a source of
 * their bytes. The bytes of all segments, laid end to end in segment order,
 * form the payload; `read` copies `len` payload bytes from `offset` into
 * `buf` and returns 0, or a negative value on failure (the library reports
 * STM32ISP_ERR_IMAGE_SOURCE). A file, a RAM buffer or an EEPROM can stand
 * behind it.
 */
typedef struct stm32isp_image {
    const stm32isp_segment *segments;
    size_t segment_count;
    int (*read)(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len);
    void *ctx;
} stm32isp_image;

typedef enum stm32isp_erase_mode {
    STM32ISP_ERASE_AUTO,  /* the units the image touches; a mass erase only when it
                             touches every one (never erases what it does not cover) */
    STM32ISP_ERASE_UNITS, /* only the units the image touches: flash outside them is kept */
    STM32ISP_ERASE_MASS,  /* everything */
    STM32ISP_ERASE_NONE,  /* the caller knows the flash is blank */
} stm32isp_erase_mode;

typedef struct stm32isp_program_options {
    stm32isp_erase_mode erase;
    /* Check the flash against the image afterwards (recommended; the default
     * in every front end): with Get Checksum where the target offers it,
     * otherwise by reading every block back. */
    bool verify;
    bool verify_by_reading; /* read back even when Get Checksum is offered */
    bool start;             /* start the application afterwards */
    uint32_t start_address; /* vector table for Go; 0: the flash base */
    uint8_t repairs;        /* units re-erased and rewritten after a failure; 0: 2 */
} stm32isp_program_options;

/* What a programming run did, for reports. Times come from the port clock. */
typedef struct stm32isp_program_report {
    uint32_t bytes_image;   /* payload bytes */
    uint32_t bytes_written; /* bytes sent with Write Memory (padding included) */
    uint32_t blocks_written;
    uint32_t blocks_skipped; /* all 0xFF after an erase: nothing to write */
    uint32_t units_erased;   /* 0 after a mass erase */
    bool mass_erased;
    uint32_t units_repaired;   /* units re-erased and rewritten */
    bool verified_by_checksum; /* Get Checksum spans matched (else read back) */
    uint32_t ms_erase, ms_write, ms_verify;
} stm32isp_program_report;

/*
 * Checks, without touching the target, that every segment lies inside its
 * flash and that the segments are sorted and do not overlap.
 * Returns OK, NOT_CONNECTED, ADDRESS (outside flash), IMAGE_TOO_LARGE (the
 * image runs past the end of this part's flash), INVALID_ARG (unsorted,
 * overlapping or empty).
 */
stm32isp_err stm32isp_check_image(const stm32isp_client *c, const stm32isp_image *image);

/*
 * The whole job on a connected target: check, erase, write, verify, start.
 * A readout-protected target is refused (READ_PROTECTED) before anything is
 * erased: unprotecting is the caller's decision. `report` may be NULL.
 * Returns OK only when every step succeeded (and verification, when asked
 * for, found the flash equal to the image).
 */
stm32isp_err stm32isp_program(stm32isp_client *c, const stm32isp_image *image,
                              const stm32isp_program_options *options,
                              stm32isp_program_report *report);

/* The steps, for front ends that run them separately. */
stm32isp_err stm32isp_erase_for_image(stm32isp_client *c, const stm32isp_image *image,
                                      stm32isp_erase_mode mode, stm32isp_program_report *report);
stm32isp_err stm32isp_write_image(stm32isp_client *c, const stm32isp_image *image, bool erased,
                                  stm32isp_program_report *report);
/* VERIFY when the flash differs; *first_bad gets the first differing address
 * (with Get Checksum where the target offers it, else reading back). */
stm32isp_err stm32isp_verify_image(stm32isp_client *c, const stm32isp_image *image,
                                   uint32_t *first_bad);
/* The same, always reading every block back. */
stm32isp_err stm32isp_verify_image_by_reading(stm32isp_client *c, const stm32isp_image *image,
                                              uint32_t *first_bad);

/*
 * Compares the flash with the image block by block, as the verify step of
 * stm32isp_program() does, and repairs what differs: its units are erased
 * and every block of them written again, at most twice. For callers that
 * verify otherwise (a CRC) and found a difference. OK when the flash now
 * holds the image; `report` counts what was repaired.
 */
stm32isp_err stm32isp_repair_image(stm32isp_client *c, const stm32isp_image *image,
                                   stm32isp_program_report *report);

/*
 * Reads back the flash under the image's segments, their bytes only, 256
 * at a time, and hands each block to `sink` as the flash holds it. Read
 * Memory carries no checksum, so every block is compared with the image
 * read from its source: a read equal to it is taken at once, any other
 * only once two reads agree, and then the read-back stops with VERIFY.
 * For a caller that checks the result against a CRC of its own (the
 * flashing job): noise on the line cannot make the flash look wrong, nor
 * an image source that misread make it look right.
 */
stm32isp_err stm32isp_read_back_image(stm32isp_client *c, const stm32isp_image *image,
                                      int (*sink)(void *ctx, const uint8_t *data, uint32_t len),
                                      void *sink_ctx);

/* Reads `len` bytes from `address` into a caller's sink, block by block. */
stm32isp_err stm32isp_read_memory(stm32isp_client *c, uint32_t address, uint32_t len,
                                  int (*sink)(void *ctx, const uint8_t *data, uint32_t len),
                                  void *sink_ctx);

/*
 * Starts the application: with reset lines, BOOT0 low and an NRST pulse (the
 * part boots normally); without, Go to `vector_table` (0: the flash base),
 * which leaves system memory mapped at 0, so the application must set VTOR.
 */
stm32isp_err stm32isp_start_application(stm32isp_client *c, uint32_t vector_table);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_PROGRAM_H */

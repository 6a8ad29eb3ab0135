/*
 * The image container: how a firmware image is kept in the master's EEPROM
 * (or in a file made by `stm32isp pack`). docs/image-format.md is the
 * reference, with a hexdump; this header is its C face.
 *
 * A container is a header followed by the payload. The header says which
 * segments (address, length) the payload fills, which targets the image is
 * for and what the job should do, and carries a CRC of itself and of the
 * payload, so that a blank, foreign, damaged or half-written EEPROM is told
 * apart from a good image before the target is touched.
 *
 * Layout, all integers little-endian (format 1.0):
 *
 *   offset size field
 *     0     4  magic "SIMG"
 *     4     1  format major version (1): a reader refuses another major
 *     5     1  format minor version (0): a newer minor only adds fields
 *               between offset 104 and segments_offset, which older
 *               readers skip
 *     6     2  header_length: bytes from offset 0 to the payload
 *     8     4  flags (STM32ISP_CONTAINER_*): an unknown bit is refused
 *    12     4  payload_length: the sum of the segment lengths
 *    16     4  payload_crc: CRC-32 (ISO-HDLC, as zlib's crc32) of the payload
 *    20     4  created: Unix time (UTC) of packing, 0 if unknown
 *    24     4  min_flash_size: bytes of flash the target must have, 0: any
 *    28     4  start_address: the vector table to start, 0: the flash base
 *    32     2  segment_count (1..STM32ISP_CONTAINER_MAX_SEGMENTS)
 *    34     2  segments_offset: where the segment table starts (104 in 1.0)
 *    36     1  pid_count (0..8; 0 allows any part)
 *    37     3  reserved, zero
 *    40    16  pids: 8 allowed product IDs, unused ones 0
 *    56    32  name: text, NUL-padded, at least one NUL
 *    88    16  version: text, NUL-padded, at least one NUL
 *   104   8*n  segment table: address, length (u32 each), sorted by address,
 *              not overlapping, each length > 0
 *   ...     4  header_crc: CRC-32 of every header byte before it
 *
 *   header_length = segments_offset + 8 * segment_count + 4; the payload
 *   follows at header_length.
 */
#ifndef STM32ISP_CONTAINER_H
#define STM32ISP_CONTAINER_H

#include "stm32isp/error.h"
#include "stm32isp/program.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STM32ISP_CONTAINER_MAGIC        "SIMG"
#define STM32ISP_CONTAINER_MAJOR        1
#define STM32ISP_CONTAINER_MINOR        0
#define STM32ISP_CONTAINER_FIXED_SIZE   104 /* bytes before the segment table in 1.0 */
#define STM32ISP_CONTAINER_MAX_SEGMENTS 32
#define STM32ISP_CONTAINER_MAX_PIDS     8
#define STM32ISP_CONTAINER_NAME_SIZE    32
#define STM32ISP_CONTAINER_VERSION_SIZE 16
/* The largest header a 1.0 writer makes. */
#define STM32ISP_CONTAINER_MAX_HEADER                                                              \
    (STM32ISP_CONTAINER_FIXED_SIZE + 8 * STM32ISP_CONTAINER_MAX_SEGMENTS + 4)

/* Flags: what the job does with the image. */
enum {
    STM32ISP_CONTAINER_VERIFY = 1u << 0,          /* verify the flash after writing */
    STM32ISP_CONTAINER_READOUT_PROTECT = 1u << 1, /* set readout protection afterwards */
    STM32ISP_CONTAINER_START = 1u << 2,           /* start the application afterwards */
    /* A readout-protected target is unprotected (which mass-erases it) and
     * programmed; without this flag it is refused untouched. */
    STM32ISP_CONTAINER_UNPROTECT = 1u << 3,
    STM32ISP_CONTAINER_KNOWN_FLAGS = 0xF,
};

/*
 * Where the container's bytes come from: an EEPROM, a file, a RAM buffer.
 * `read` copies `len` bytes from `offset` into `buf`; it returns STM32ISP_OK
 * or the error that stopped it (EEPROM_NACK, EEPROM_BUS, IMAGE_SOURCE ...).
 * `size` is the number of bytes the medium holds.
 */
typedef struct stm32isp_container_source {
    stm32isp_err (*read)(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len);
    void *ctx;
    uint32_t size;
} stm32isp_container_source;

/* A parsed header, and the source it was read from. */
typedef struct stm32isp_container {
    uint8_t major, minor;
    uint16_t header_length;
    uint32_t flags;
    uint32_t payload_length;
    uint32_t payload_crc;
    uint32_t created;
    uint32_t min_flash_size;
    uint32_t start_address;
    uint16_t segment_count;
    uint8_t pid_count;
    uint16_t pids[STM32ISP_CONTAINER_MAX_PIDS];
    char name[STM32ISP_CONTAINER_NAME_SIZE];
    char version[STM32ISP_CONTAINER_VERSION_SIZE];
    stm32isp_segment segments[STM32ISP_CONTAINER_MAX_SEGMENTS];

    const stm32isp_container_source *source;
    /* The error behind the last failed source read made through the
     * stm32isp_image view (which can only say IMAGE_SOURCE). */
    stm32isp_err source_error;
} stm32isp_container;

/*
 * Reads and checks the header, in this order: magic (else NO_CONTAINER),
 * major version (else CONTAINER_VERSION), header CRC (else CONTAINER_HEADER),
 * flags (an unknown bit in an intact header: CONTAINER_VERSION; a flipped
 * bit fails the CRC first), every field (else CONTAINER_HEADER: lengths that
 * disagree, segments unsorted, overlapping, empty or wrapping past 4 GiB,
 * counts over their limits, text without a NUL or not NUL-padded, nonzero
 * reserved bytes or unused PID slots, a container longer than the source).
 * Reads the source in pieces of at most `scratch_size` bytes (>= 16) through
 * `scratch`. The payload is not read: see stm32isp_container_check_payload().
 * A source error is returned as it is.
 */
stm32isp_err stm32isp_container_open(stm32isp_container *ct,
                                     const stm32isp_container_source *source, uint8_t *scratch,
                                     size_t scratch_size);

/* Streams the payload through `scratch` and checks its CRC: OK,
 * CONTAINER_PAYLOAD, or the source's error. */
stm32isp_err stm32isp_container_check_payload(stm32isp_container *ct, uint8_t *scratch,
                                              size_t scratch_size);

/* OK when the image may go to a part with this PID and flash size, else
 * DEVICE_NOT_ALLOWED. */
stm32isp_err stm32isp_container_allows(const stm32isp_container *ct, uint16_t pid,
                                       uint32_t flash_size);

/* A view of the payload as an image for stm32isp_program(); it reads through
 * the container's source and records the source's errors in
 * ct->source_error. `ct` must outlive the image. */
void stm32isp_container_image(stm32isp_container *ct, stm32isp_image *image);

/*
 * Writes the header for `ct` into `out` (at least
 * stm32isp_container_header_length(ct->segment_count) bytes): the caller
 * fills every field but major, minor, header_length and the CRC, which this
 * sets (ct->header_length too). Returns the header length, or 0 when a field
 * is invalid (the same checks as stm32isp_container_open()).
 */
size_t stm32isp_container_write_header(stm32isp_container *ct, uint8_t *out, size_t out_size);

/* segments_offset + 8 * segment_count + 4 for a 1.0 header. */
size_t stm32isp_container_header_length(uint16_t segment_count);

/* CRC-32/ISO-HDLC (zlib's crc32): start from 0, feed pieces in order. */
uint32_t stm32isp_crc32_ieee(uint32_t crc, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_CONTAINER_H */

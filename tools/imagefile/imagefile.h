/*
 * Firmware files into segments for the flashing library (PC side): raw
 * binary, Intel HEX, Motorola SREC and ELF. docs/image-files.md describes
 * what each reader accepts and refuses.
 */
#ifndef STM32ISP_IMAGEFILE_H
#define STM32ISP_IMAGEFILE_H

#include "stm32isp/program.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum image_format {
    IMAGE_FORMAT_AUTO,
    IMAGE_FORMAT_BIN,
    IMAGE_FORMAT_IHEX,
    IMAGE_FORMAT_SREC,
    IMAGE_FORMAT_ELF,
} image_format;

typedef struct loaded_image {
    stm32isp_segment *segments; /* sorted, not overlapping, adjacent runs merged */
    size_t segment_count;
    uint8_t *payload; /* the segments' bytes end to end */
    uint32_t payload_size;
    image_format format;
} loaded_image;

/* Files larger than this are refused: no STM32 has nearly as much flash. */
#define IMAGE_MAX_FILE_SIZE (16u * 1024u * 1024u)
/* Images split into more separate segments than this are refused. */
#define IMAGE_MAX_SEGMENTS 65536u

/* "bin", "hex"/"ihex", "srec"/"s19", "elf" or "auto" (any case); false when
 * unknown. */
bool image_format_parse(const char *name, image_format *out);
const char *image_format_name(image_format format);

/*
 * Loads a file. AUTO looks at the content (ELF magic, ':' for Intel HEX,
 * 'S' and a digit for SREC; a ".bin" name is always a raw binary), then at
 * the extension; anything else is a raw binary, which needs has_address (its
 * load address). Returns 0 with `out` filled (free it with image_free), or -1
 * with `out` zeroed and one line in err naming the file, the line for text
 * formats, and what is wrong. Overlapping records are accepted only where
 * their bytes agree.
 */
int image_load(const char *path, image_format format, bool has_address, uint32_t address,
               loaded_image *out, char *err, size_t err_size);

/* The same from memory; `name` is used in messages and for the extension. */
int image_load_buffer(const char *name, const uint8_t *data, size_t size, image_format format,
                      bool has_address, uint32_t address, loaded_image *out, char *err,
                      size_t err_size);

void image_free(loaded_image *img);

/*
 * Intel HEX text for `size` bytes that belong at `address`, as `read -o
 * FILE.hex` writes it: an extended linear address record (type 04) first and
 * wherever the upper 16 address bits change, data records of up to 16 bytes
 * that never cross a 64 KiB boundary, and the end record. No start address
 * record: a read-back has no entry point. Uppercase hex, LF line ends (what
 * objcopy writes on Linux). size 0 gives the end record alone. Returns 0
 * with a malloc'ed text the caller frees, or -1 (out of memory, or the
 * bytes would run past 4 GiB).
 */
int image_format_ihex(const uint8_t *data, size_t size, uint32_t address, char **out,
                      size_t *out_size);

/* An stm32isp_image reading from the loaded payload; `img` must outlive it. */
void image_as_stm32isp(const loaded_image *img, stm32isp_image *out);

/* The payload offset of `address`, for messages: -1 if it is in no segment. */
int64_t image_payload_offset(const loaded_image *img, uint32_t address);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_IMAGEFILE_H */

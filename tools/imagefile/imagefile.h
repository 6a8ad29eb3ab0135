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

/* Files larger than this are refused: no STM32 has more flash. */
#define IMAGE_MAX_FILE_SIZE (64u * 1024u * 1024u)

/* "bin", "hex"/"ihex", "srec"/"s19", "elf" or "auto"; false when unknown. */
bool image_format_parse(const char *name, image_format *out);
const char *image_format_name(image_format format);

/*
 * Loads a file. AUTO looks at the content (ELF magic, ':' for Intel HEX,
 * 'S' and a digit for SREC), then at the extension; anything else is a raw
 * binary, which needs has_address (its load address). Returns 0, or -1 with
 * one line in err naming the file, the line for text formats, and what is
 * wrong.
 */
int image_load(const char *path, image_format format, bool has_address, uint32_t address,
               loaded_image *out, char *err, size_t err_size);

/* The same from memory; `name` is used in messages and for the extension. */
int image_load_buffer(const char *name, const uint8_t *data, size_t size, image_format format,
                      bool has_address, uint32_t address, loaded_image *out, char *err,
                      size_t err_size);

void image_free(loaded_image *img);

/* An stm32isp_image reading from the loaded payload. */
void image_as_stm32isp(const loaded_image *img, stm32isp_image *out);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_IMAGEFILE_H */

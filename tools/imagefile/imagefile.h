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

/* An stm32isp_image reading from the loaded payload; `img` must outlive it. */
void image_as_stm32isp(const loaded_image *img, stm32isp_image *out);

/* The payload offset of `address`, for messages: -1 if it is in no segment. */
int64_t image_payload_offset(const loaded_image *img, uint32_t address);

/*
 * Intel HEX writer (`stm32isp read` into a .hex; docs/image-files.md).
 *
 * Formats the `size` bytes at `data`, which belong at `address`, as Intel
 * HEX text:
 *  - a type 04 (extended linear address) record first, and again whenever
 *    the upper 16 bits of the address change;
 *  - type 00 data records of 16 bytes from `address` on, shorter only at the
 *    end and where a record would cross a 64 KiB boundary: it is split
 *    there, so no reader has to carry into the upper half;
 *  - the end record :00000001FF.
 * No type 05 (start linear address) record: a read-back of flash has no
 * entry point to state (and flashing ignores one).
 *
 * Digits are uppercase and every line ends in CR LF, as GNU objcopy writes
 * on Linux too (binutils' ihex back end always does): from 64 KiB up the
 * text is byte for byte what `objcopy -I binary -O ihex` gives for the same
 * bytes at the same address. Below that objcopy leaves out the first type 04
 * record; this writer always writes it, so the file never depends on what a
 * reader starts from. Readers, ours included, take LF and CRLF.
 *
 * size 0 gives the end record alone (":00000001FF\r\n"): a valid empty
 * file, which image_load refuses as holding no data; `data` may be NULL.
 *
 * Returns 0 with `*out` a malloc'ed text of `*out_size` characters plus a
 * terminating NUL (not counted; the caller frees it), or -1 with `*out`
 * NULL and `*out_size` 0: out of memory, or address + size beyond 4 GiB.
 */
int image_format_ihex(const uint8_t *data, size_t size, uint32_t address, char **out,
                      size_t *out_size);

/* The same for every segment of a loaded image, in order, with one end
 * record (type 04 records only where the upper half changes, within a
 * segment or between two): any format the loaders read, as Intel HEX. An
 * image with no segments gives the end record alone. Returns 0 as above, or
 * -1: out of memory, or segments that overrun the payload or run past
 * 4 GiB (the loaders never make such an image). */
int image_format_ihex_image(const loaded_image *img, char **out, size_t *out_size);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_IMAGEFILE_H */

/*
 * Firmware files named on a command line, as `pack`, `flash` and `verify`
 * take them: FILE, FILE@ADDR (a raw binary's load address), or "-" for
 * standard input; several are merged into one image, where their bytes
 * must agree wherever they overlap.
 */
#ifndef STM32ISP_TOOL_INPUTS_H
#define STM32ISP_TOOL_INPUTS_H

#include "imagefile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a raw binary goes when neither @ADDR nor --address says. */
#define DEFAULT_BIN_ADDRESS 0x08000000u

typedef struct image_input {
    const char *path; /* as given, without @ADDR */
    const char *name; /* for messages: the path, or "standard input" */
    char *owned_path;
    bool has_address; /* FILE@ADDR */
    uint32_t address;
    loaded_image img;
} image_input;

typedef struct image_set {
    image_input *inputs;
    size_t count;
    /* Every input's bytes: segments sorted by address, contiguous ones
     * joined; `format` is the first input's. */
    loaded_image merged;
} image_set;

/* --address and --format, as flash, verify and pack take them. */
typedef struct image_opts {
    image_format format; /* AUTO: detected from each file */
    bool has_address;
    uint32_t address; /* raw binaries without @ADDR */
} image_opts;

/* Each takes one of them: EXIT_OK, or EXIT_USAGE after saying what is
 * wrong with the value. */
int image_take_address(const char *cmd, const char *value, image_opts *o);
int image_take_format(const char *cmd, const char *value, image_opts *o);

/*
 * Loads `count` inputs. o->format applies to each (AUTO: detected); a raw
 * binary goes to its @ADDR, else to o->address when given, else to
 * DEFAULT_BIN_ADDRESS. Returns EXIT_OK, or after one error line: EXIT_USAGE
 * (standard input named twice), EXIT_IO (a file cannot be read),
 * EXIT_IMAGE_REFUSED (a file is malformed, or two overlap with different
 * bytes). `*set` is to be freed with image_set_free() either way.
 */
int image_set_load(const char *cmd, char *const *args, size_t count, const image_opts *o,
                   image_set *set);
void image_set_free(image_set *set);

#endif

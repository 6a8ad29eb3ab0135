/*
 * What `pack` and `info` share about showing an image container: its flag
 * words, untrusted header text, EEPROM parts by size, and a container held
 * in memory as the library's source.
 */
#ifndef STM32ISP_TOOL_CTVIEW_H
#define STM32ISP_TOOL_CTVIEW_H

#include "stm32isp/container.h"
#include "stm32isp/eeprom.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "verify, start, readout-protect": the flags as words. */
void ctview_flag_words(uint32_t flags, char *buf, size_t size);

/* Text from a header is untrusted: control bytes are shown as \xNN. */
void ctview_print_text(FILE *f, const char *s);

/* The EEPROM part whose size is exactly `bytes`, or NULL. */
const stm32isp_eeprom_part *ctview_part_of_size(uint64_t bytes);

/* A container in memory, read by the library's reader. */
typedef struct ctview_buffer {
    const uint8_t *data;
    stm32isp_container_source source;
} ctview_buffer;

void ctview_buffer_init(ctview_buffer *b, const uint8_t *data, uint32_t size);

#endif

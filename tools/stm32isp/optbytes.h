/*
 * The option bytes of a connected target, read and decoded with the device
 * database, for `probe` and `protect`: write protection as page ranges.
 */
#ifndef STM32ISP_TOOL_OPTBYTES_H
#define STM32ISP_TOOL_OPTBYTES_H

#include "json.h"
#include "stm32isp/client.h"
#include "stm32isp/devices.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct option_state {
    uint32_t raw_count; /* bytes read; 0: none could be read */
    uint8_t raw[32];
    bool decoded; /* the family's layout is in the database */
    stm32isp_option_bytes ob;
    uint8_t mismatched; /* bit i: option byte i had a wrong complement */
} option_state;

/* Reads and decodes them: OK, or the library's error (READ_PROTECTED, a
 * NACK where the bootloader does not show them, CANCELLED). */
stm32isp_err option_state_read(stm32isp_client *c, option_state *st);

/* "pages 0-15 (0x08000000-0x08003fff)" for every run of protected WRP
 * bits, or "none"; one line each, after `label`. */
void option_state_print(const stm32isp_target_info *t, const option_state *st, FILE *out);

/* "option_bytes" (raw hex) and, when decoded, "option_bytes_decoded" with
 * the fields and "write_protected": [{first_page, last_page, address, end}]. */
void option_state_json(json *j, const stm32isp_target_info *t, const option_state *st);

#endif

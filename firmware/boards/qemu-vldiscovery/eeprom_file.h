/*
 * A 24Cxx EEPROM seen through stm32isp_i2c_ops, kept in a host file through
 * semihosting: QEMU's STM32 machine has no I2C model, so the QEMU board
 * puts this behind the same ops table the real bus uses, and the EEPROM
 * driver above cannot tell the difference.
 *
 * It answers like the part: its device address (with the block-select
 * bits), the word address from the first bytes of a write, a write that
 * wraps inside its page, a sequential read that wraps at the end of the
 * memory, and a write cycle during which it does not acknowledge. Bytes
 * past the end of the file read as 0xFF (a blank part); writes there
 * extend the file.
 */
#ifndef FW_EEPROM_FILE_H
#define FW_EEPROM_FILE_H

#include "stm32isp/eeprom.h"

#include <stdint.h>

/* Write cycle modelled (the parts take up to 5 ms): long enough that the
 * driver's polling is exercised, short enough to keep tests quick. */
#define EEPROM_FILE_WRITE_CYCLE_MS 2u

typedef struct eeprom_file {
    int fd; /* -1: no file, the part is absent (every address NACKs) */
    const stm32isp_eeprom_part *part;
    uint8_t base_address;
    uint32_t file_length;
    uint32_t pointer;    /* the part's address counter */
    uint32_t busy_until; /* ms: the write cycle ends then */
    bool busy;
    uint32_t (*now_ms)(void);
} eeprom_file;

/* Opens (or creates) `path` on the host. Returns 0, or -1 with the part
 * absent. */
int eeprom_file_open(eeprom_file *ee, const char *path, const stm32isp_eeprom_part *part,
                     uint8_t base_address, uint32_t (*now_ms)(void));
void eeprom_file_close(eeprom_file *ee);

extern const stm32isp_i2c_ops eeprom_file_ops;

#endif /* FW_EEPROM_FILE_H */

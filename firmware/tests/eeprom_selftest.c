/*
 * A test image for the QEMU board's EEPROM (boards/qemu-vldiscovery/
 * eeprom_file.c), run by tests/qemu/eeprom_file.sh: the library's EEPROM
 * driver copies a block of the host file to past the file's end, and raw
 * transfers check the part's page wrap and read roll-over. The host script
 * then checks the file byte by byte. Exit 0, or the number of the failed
 * step.
 */
#include "board_api.h"
#include "console.h"

#include "stm32isp/eeprom.h"

#include <string.h>

#define COPY_FROM 100u
#define COPY_TO   25000u /* past the end of the 20000-byte file the test gives */
#define COPY_LEN  1000u

static uint8_t a[COPY_LEN], b[COPY_LEN];

static int step(int number, bool ok, const char *what)
{
    console_write(ok ? "ok " : "FAILED ");
    console_write_u32((uint32_t)number);
    console_write(" - ");
    console_write(what);
    console_write("\n");
    return ok ? 0 : number;
}

int main(void)
{
    const board *bd = board_init();
    const stm32isp_eeprom_part *part = bd->eeprom_part;
    stm32isp_eeprom ee;
    stm32isp_eeprom_init(&ee, bd->i2c_ops, bd->i2c, part, bd->eeprom_address);
    int rc = step(1, part != NULL && part->page_size == 64 && part->size == 32768,
                  "the board models a 24c256");

    if (rc == 0) {
        rc = step(2,
                  stm32isp_eeprom_probe(&ee) == STM32ISP_OK &&
                      stm32isp_eeprom_read(&ee, COPY_FROM, a, COPY_LEN) == STM32ISP_OK &&
                      stm32isp_eeprom_write(&ee, COPY_TO, a, COPY_LEN) == STM32ISP_OK,
                  "copied 1000 bytes to past the end of the file");
    }
    if (rc == 0) {
        rc = step(3,
                  ee.busy_polls > 0 &&
                      stm32isp_eeprom_read(&ee, COPY_TO, b, COPY_LEN) == STM32ISP_OK &&
                      memcmp(a, b, COPY_LEN) == 0,
                  "the write cycles were polled and the copy reads back");
    }
    const stm32isp_i2c_ops *ops = bd->i2c_ops;
    if (rc == 0) {
        /* Four bytes from the last two of a page: the part wraps to the
         * page's start. */
        static const uint8_t wrap[2 + 4] = {0x7F, 0xFE, 'W', 'X', 'Y', 'Z'};
        uint8_t busy = 0;
        int first = ops->write(bd->i2c, bd->eeprom_address, wrap, sizeof wrap);
        while (ops->write(bd->i2c, bd->eeprom_address, NULL, 0) == STM32ISP_I2C_NACK_ADDRESS &&
               busy < 100) {
            busy++;
            ops->delay_ms(bd->i2c, 1);
        }
        rc = step(4, first == STM32ISP_I2C_OK && busy > 0 && busy < 100,
                  "a page write wraps and the part is busy for a while after it");
    }
    if (rc == 0) {
        /* A sequential read rolls over from the last byte to the first. */
        static const uint8_t last[2] = {0x7F, 0xFF};
        static const uint8_t zero[2] = {0x00, 0x00};
        uint8_t two[2], first_byte;
        rc =
            step(5,
                 ops->write_read(bd->i2c, bd->eeprom_address, last, 2, two, 2) == STM32ISP_I2C_OK &&
                     ops->write_read(bd->i2c, bd->eeprom_address, zero, 2, &first_byte, 1) ==
                         STM32ISP_I2C_OK &&
                     two[0] == 'X' && two[1] == first_byte,
                 "a read rolls over from the last byte to the first");
    }
    if (rc == 0) {
        rc = step(
            6, ops->write(bd->i2c, bd->eeprom_address + 1u, NULL, 0) == STM32ISP_I2C_NACK_ADDRESS,
            "another device address is not answered");
    }
    board_finish(rc);
    return rc;
}

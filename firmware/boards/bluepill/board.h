/*
 * The Blue Pill (STM32F103C8, 8 MHz crystal) as the master: every pin and
 * clock of the firmware is named here and nowhere else. docs/firmware.md
 * has the same table for wiring.
 */
#ifndef FW_BOARD_BLUEPILL_H
#define FW_BOARD_BLUEPILL_H

#include "gpio.h"

#define BOARD_NAME   "bluepill"
#define BOARD_HSE_HZ 8000000u

/* The target's bootloader link: USART1, PA9 = TX to the target's RX
 * (its PA10), PA10 = RX from the target's TX (its PA9). */
#define PIN_TARGET_TX ((gpio_pin){GPIOA, 9})
#define PIN_TARGET_RX ((gpio_pin){GPIOA, 10})
#define TARGET_BAUD   115200u
/* The target's BOOT0 (push-pull, high = system memory) and NRST
 * (open-drain: the target has its own pull-up and may pull it low too). */
#define PIN_TARGET_BOOT0 ((gpio_pin){GPIOB, 0})
#define PIN_TARGET_NRST  ((gpio_pin){GPIOB, 1})

/* Console to the PC: USART2, PA2 = TX, PA3 = RX, 115200 8N1. */
#define PIN_CONSOLE_TX ((gpio_pin){GPIOA, 2})
#define PIN_CONSOLE_RX ((gpio_pin){GPIOA, 3})
#define CONSOLE_BAUD   115200u

/* The EEPROM: software I2C on I2C1's pins (PB6 = SCL, PB7 = SDA), with
 * external pull-ups; a 24C256 at 0x50 (A2..A0 grounded). The part is
 * described here rather than looked up by name, which keeps the name
 * parser out of the flash (docs/eeprom.md has every part's values). */
#define PIN_I2C_SCL ((gpio_pin){GPIOB, 6})
#define PIN_I2C_SDA ((gpio_pin){GPIOB, 7})
#define I2C_HZ      400000u
#if defined(FW_EEPROM_24M01)
/* A 128 KiB part (cmake -DFW_EEPROM=24m01): room for a 64 KiB image and
 * its container, which a 24C512 has not. */
#define EEPROM_NAME       "24m01"
#define EEPROM_SIZE       131072u
#define EEPROM_PAGE       256u
#define EEPROM_WORD_BYTES 2u
#define EEPROM_BLOCK_BITS 1u
#define EEPROM_CYCLE_MS   5u
#else
#define EEPROM_NAME       "24c256"
#define EEPROM_SIZE       32768u
#define EEPROM_PAGE       64u
#define EEPROM_WORD_BYTES 2u /* word address bytes */
#define EEPROM_BLOCK_BITS 0u /* address bits in the device address */
#define EEPROM_CYCLE_MS   5u /* write cycle, datasheet maximum */
#endif
#define EEPROM_ADDRESS 0x50u

/* The green LED on PC13, lit when the pin is low. */
#define PIN_LED        ((gpio_pin){GPIOC, 13})
#define LED_ACTIVE_LOW 1
/* The "program" button: PB12 to ground, internal pull-up. */
#define PIN_BUTTON ((gpio_pin){GPIOB, 12})

/* Automatic programming at power-up: the build option FW_AUTO_PROGRAM
 * (cmake -DFW_AUTO_PROGRAM=ON) runs the flashing job once at every reset,
 * so a master without a button programs each target it is powered with. */
#ifdef FW_AUTO_PROGRAM
#define BOARD_BOOT BOARD_BOOT_FLASH
#else
#define BOARD_BOOT BOARD_BOOT_CONSOLE
#endif

#endif /* FW_BOARD_BLUEPILL_H */

/*
 * What every board offers the application. One folder per board
 * (boards/<name>/board.c) implements it; the application and the drivers
 * never ask which board they run on.
 */
#ifndef FW_BOARD_API_H
#define FW_BOARD_API_H

#include "clock.h"

#include "stm32isp/eeprom.h"
#include "stm32isp/port.h"

#include <stdbool.h>
#include <stdint.h>

/* What the application does right after start-up, before it waits for
 * the button and the console. */
typedef enum board_boot {
    BOARD_BOOT_CONSOLE, /* nothing: wait for the button or a command */
    BOARD_BOOT_FLASH,   /* run the flashing job at once (automatic programming) */
    BOARD_BOOT_PROBE,   /* identify the target at once */
} board_boot;

typedef struct board {
    const char *name;
    clock_info clock;
    /* The link to the target: USART1 at 8E1, with BOOT0 and NRST where the
     * board has them (set_boot0/set_reset are NULL where it has not, and
     * the library then starts the application with Go). */
    const stm32isp_port_ops *target_ops;
    void *target_port;
    /* The EEPROM's I2C bus, and the part the board is fitted with. */
    const stm32isp_i2c_ops *i2c_ops;
    void *i2c;
    const stm32isp_eeprom_part *eeprom_part; /* never NULL */
    uint8_t eeprom_address;                  /* 7-bit device address, A2..A0 as wired */
    board_boot boot;
} board;

/*
 * Brings the board up: clocks, SysTick, pins (the target's lines idle and
 * released), the USARTs and the console. Returns the board's description;
 * called once, first thing in main().
 */
const board *board_init(void);

/* The status LED (true: lit, whatever the pin's polarity). */
void board_led(bool on);

/* True once per debounced press of the "program" button; never waits. */
bool board_button_pressed(void);

/*
 * The result of the run made at start-up (board->boot). Where the board has
 * a host to report to (QEMU) it exits with `code`; on hardware it returns
 * and the application goes on.
 */
void board_finish(int code);

/* Restarts the master (the console's `reset`), leaving the target running
 * its application. QEMU, which has nothing to restart into, exits with 0. */
__attribute__((noreturn)) void board_reset(void);

/* An unrecoverable state (a fault, main returning): reports `why` where it
 * can and restarts or stops the board. */
__attribute__((noreturn)) void board_panic(const char *why);

#endif /* FW_BOARD_API_H */

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
 * The first thing the reset handler calls, before RAM is initialised and
 * before any clock is started: the pins that must not float from power-up
 * on (the target's BOOT0 driven low, NRST let go), since starting the
 * clocks can take a quarter of a second without a crystal. It may touch
 * registers only, no variable.
 */
void board_early_init(void);

/*
 * Brings the board up: clocks, SysTick, pins, the USARTs and the console;
 * then lets the target's lines go (target_port_release(): BOOT0, low since
 * reset, is released once board init is done and TARGET_BOOT0_HOLD_MS have
 * passed since reset). Returns the board's description; called once, first
 * thing in main().
 */
const board *board_init(void);

/* Lets the target's lines go after a job, probe or erase, whatever its
 * result (target_port_release()); the next one takes them again. */
void board_target_release(void);

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

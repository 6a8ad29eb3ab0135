/*
 * The test programs for the virtual STM32F1 (the C files of tests/mcu-programs), built
 * for the Cortex-M3 at every build and linked into the tests as arrays.
 * Each is position independent: load it anywhere in RAM, set word 0 (the
 * stack pointer: its block of inputs and results) and add the load address
 * to word 1 (the entry), then start it with Go.
 */
#ifndef TEST_PROGRAMS_H
#define TEST_PROGRAMS_H

#include <stddef.h>
#include <stdint.h>

typedef struct test_program {
    const uint8_t *code;
    size_t size;
} test_program;

/* "HELLO", then an echo, on USART1 as the ROM left it. */
extern const test_program test_program_hello_rom_usart;
/* The same after setting clock, pins and USART itself (block[0] = baud). */
extern const test_program test_program_hello_own_usart;
/* 64 MHz from the PLL, then a flash read: with 0 and with 2 wait states. */
extern const test_program test_program_pll_no_latency;
extern const test_program test_program_pll_latency;
/* Programs 0x1234 then 0x5678 at block[0]: locked, unlocked, wrong keys. */
extern const test_program test_program_flash_locked;
extern const test_program test_program_flash_unlocked;
extern const test_program test_program_flash_wrong_key;
/* Never answers; resets itself after 1 s, or never. */
extern const test_program test_program_mute_resets;
extern const test_program test_program_mute_forever;
/* SysTick interrupts through its own vector table, sleeping in WFI. */
extern const test_program test_program_systick_irq;
/* Starts the watchdog and never refreshes it. */
extern const test_program test_program_watchdog;
/* A bus fault taken as HardFault through its own vector table. */
extern const test_program test_program_hardfault;

#endif

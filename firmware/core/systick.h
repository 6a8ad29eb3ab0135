/*
 * The 1 ms time base: SysTick interrupts once a millisecond and counts.
 * Every timeout in the firmware is measured with systick_ms(); busy loops
 * are never used for time (they are not calibrated, and an emulator runs
 * them at any speed).
 */
#ifndef FW_SYSTICK_H
#define FW_SYSTICK_H

#include <stdint.h>

/* Starts the tick from SysTick's input clock `clock_hz` (the core clock on
 * an F103; a fixed 24 MHz in QEMU's model). */
void systick_init(uint32_t clock_hz);

/* Milliseconds since systick_init(); wraps after 49 days. */
uint32_t systick_ms(void);

/* Calls `hook` from the SysTick interrupt after every tick, with the new
 * time (NULL: none). It runs at the lowest interrupt priority and must be
 * short: the status LED's pattern is driven from here. */
void systick_set_hook(void (*hook)(uint32_t now_ms));

/* Waits at least `ms` milliseconds (at most one more), sleeping between
 * ticks. */
void systick_delay_ms(uint32_t ms);

#endif /* FW_SYSTICK_H */

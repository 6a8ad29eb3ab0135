/*
 * The system clock: 72 MHz from an 8 MHz crystal through the PLL when the
 * crystal starts, else the internal RC oscillator (HSI) through the PLL at
 * 64 MHz, else the HSI alone at 8 MHz. Every wait for the oscillator or the
 * PLL is bounded, so a board without a crystal (or an emulator whose RCC
 * reads 0) still boots, on the next clock down.
 */
#ifndef FW_CLOCK_H
#define FW_CLOCK_H

#include <stdint.h>

typedef enum clock_source {
    CLOCK_HSE_PLL, /* crystal through the PLL: the intended configuration */
    CLOCK_HSI_PLL, /* no crystal: the 8 MHz RC oscillator /2 x16 = 64 MHz */
    CLOCK_HSI,     /* neither the crystal nor the PLL started: 8 MHz RC */
} clock_source;

typedef struct clock_info {
    clock_source source;
    uint32_t sysclk_hz; /* the core and AHB (HCLK) */
    uint32_t pclk1_hz;  /* APB1: USART2, at most 36 MHz */
    uint32_t pclk2_hz;  /* APB2: USART1, GPIO */
} clock_info;

/*
 * Sets the clock tree up. `hse_hz` is the crystal's frequency (8 MHz on
 * the Blue Pill; 0 when there is none); the PLL multiplies it to at most
 * 72 MHz. Sets the flash wait states to match. Returns what it achieved.
 */
clock_info clock_init(uint32_t hse_hz);

/* "HSE 8 MHz crystal, PLL" and the like, for the console banner. */
const char *clock_source_name(clock_source source);

#endif /* FW_CLOCK_H */

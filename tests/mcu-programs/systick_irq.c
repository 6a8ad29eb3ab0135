/*
 * Takes SysTick interrupts through a vector table of its own: sets VTOR to
 * a table it builds in RAM, enables the tick at 1 kHz with TICKINT and
 * sleeps in WFI between ticks. The handler counts in block[2]; after 10
 * ticks the program writes 0x600D to block[3] and sleeps on with the tick
 * off. block[1] is where to build the table (512-byte aligned, PM0056
 * 4.4.4).
 */
#include "program.h"

PROGRAM_HEADER(5)

#define SCB_VTOR 0xE000ED08u
#define TICKS_AT 0x20001F00u /* where the handler finds the block's address */

void tick_handler(void);

void tick_handler(void)
{
    volatile uint32_t *block = *(volatile uint32_t **)TICKS_AT;
    block[2]++;
}

void program_main(volatile uint32_t *block)
{
    *(volatile uint32_t **)TICKS_AT = block;
    volatile uint32_t *table = (volatile uint32_t *)block[1];
    /* The handler's address where the program runs, not where it was
     * linked: ADR is relative to the PC. */
    uint32_t handler;
    __asm__ volatile("adr %0, tick_handler" : "=r"(handler));
    table[15] = handler | 1u; /* Thumb */
    REG(SCB_VTOR) = block[1];
    REG(SYST_RVR) = HSI_HZ / 1000u - 1u;
    REG(SYST_CVR) = 0;
    REG(SYST_CSR) = 7u; /* core clock, TICKINT, enabled */
    while (block[2] < 10u) {
        __asm__ volatile("wfi");
    }
    REG(SYST_CSR) = 0;
    block[3] = 0x600Du;
    for (;;) {
        __asm__ volatile("wfi");
    }
}

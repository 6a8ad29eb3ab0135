/*
 * A RAM program that never answers: it ignores the USART and, with
 * RESET_AFTER_MS, resets the chip that long after it started (counted with
 * SysTick at the HSI it runs on, as the RAM CRC program counts its idle
 * time); without, it runs for ever. For the host's handling of a program
 * that does not answer (lib/src/ramcrc.c, stm32isp_ramcrc_leave()).
 */
#include "program.h"

PROGRAM_HEADER(4)

void program_main(volatile uint32_t *block)
{
    (void)block;
#ifdef RESET_AFTER_MS
    REG(SYST_CSR) = 0;
    REG(SYST_RVR) = HSI_HZ / 1000u - 1u;
    REG(SYST_CVR) = 0;
    REG(SYST_CSR) = 5u; /* core clock, enabled */
    for (uint32_t ms = 0; ms < RESET_AFTER_MS;) {
        if ((REG(SYST_CSR) & (1u << 16)) != 0) {
            ms++;
        }
    }
    REG(SCB_AIRCR) = 0x05FA0004u;
#endif
    stop_here();
}

/*
 * Runs the core at 64 MHz (PLL: HSI / 2 x 16, APB1 at half that, within
 * its 36 MHz) and reads a word of flash.
 * With SET_LATENCY it first sets FLASH_ACR to the 2 wait states RM0008
 * 3.3.3 asks above 48 MHz; without, the read comes with 0 wait states and
 * a real part returns garbage: the model must stop it. block[0] is the
 * address to read; block[1] gets what was read, block[2] 0x600D at the end.
 */
#include "program.h"

PROGRAM_HEADER(2)

void program_main(volatile uint32_t *block)
{
#ifdef SET_LATENCY
    REG(FLASH_ACR) = (REG(FLASH_ACR) & ~7u) | 2u;
#endif
    REG(RCC_CFGR) = (REG(RCC_CFGR) & ~(0xFu << 18 | 1u << 16 | 7u << 8)) | 0xEu << 18 | 4u << 8;
    REG(RCC_CR) |= 1u << 24;
    while ((REG(RCC_CR) & (1u << 25)) == 0) {
    }
    REG(RCC_CFGR) = (REG(RCC_CFGR) & ~3u) | 2u;
    while ((REG(RCC_CFGR) & 0xCu) != 0x8u) {
    }
    block[1] = *(volatile const uint32_t *)block[0];
    block[2] = 0x600Du;
    stop_here();
}

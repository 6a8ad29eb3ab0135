/*
 * Starts the independent watchdog with a 100 ms timeout (prescaler /4,
 * reload 999 at the LSI's 40 kHz, RM0008 19.3) and never refreshes it: the
 * chip must reset. block[1] = 0x600D once the watchdog is started.
 */
#include "program.h"

PROGRAM_HEADER(6)

#define IWDG_KR  0x40003000u
#define IWDG_PR  0x40003004u
#define IWDG_RLR 0x40003008u

void program_main(volatile uint32_t *block)
{
    REG(IWDG_KR) = 0x5555u;
    REG(IWDG_PR) = 0;
    REG(IWDG_RLR) = 999u;
    REG(IWDG_KR) = 0xAAAAu;
    REG(IWDG_KR) = 0xCCCCu;
    block[1] = 0x600Du;
    stop_here();
}

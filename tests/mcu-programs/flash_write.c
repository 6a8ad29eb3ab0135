/*
 * Programs flash at block[0]: the value 0x1234, then 0x5678 over it.
 *
 * With UNLOCK it unlocks the controller first (PM0075 2.3.1); without, its
 * FLASH_CR writes are ignored and nothing may be written; with WRONG_KEY it
 * writes the keys in the wrong order, which is a bus error. block[1] and
 * block[2] get FLASH_SR after each write, block[3] 0x600D at the end.
 */
#include "program.h"

PROGRAM_HEADER(3)

static uint32_t program_halfword(uint32_t address, uint16_t value)
{
    REG(FLASH_CR) = 1u; /* PG */
    REG16(address) = value;
    while ((REG(FLASH_SR) & 1u) != 0) { /* BSY */
    }
    uint32_t sr = REG(FLASH_SR);
    REG(FLASH_SR) = 0x34u; /* clear EOP, WRPRTERR, PGERR */
    REG(FLASH_CR) = 0;
    return sr;
}

void program_main(volatile uint32_t *block)
{
#if defined(UNLOCK)
    REG(FLASH_KEYR) = 0x45670123u;
    REG(FLASH_KEYR) = 0xCDEF89ABu;
#elif defined(WRONG_KEY)
    REG(FLASH_KEYR) = 0xCDEF89ABu;
    REG(FLASH_KEYR) = 0x45670123u;
#endif
    block[1] = program_halfword(block[0], 0x1234u);
    block[2] = program_halfword(block[0], 0x5678u);
    block[3] = 0x600Du;
    stop_here();
}

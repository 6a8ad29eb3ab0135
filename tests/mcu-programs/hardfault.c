/*
 * Takes a HardFault through a vector table of its own: builds the table in
 * RAM at block[1] (512-byte aligned, PM0056 4.4.4), sets VTOR, then reads block[0], an
 * address where an F103 has nothing. The handler writes 0xFA17 to block[2]
 * and stays there.
 */
#include "program.h"

PROGRAM_HEADER(7)

#define SCB_VTOR 0xE000ED08u
#define BLOCK_AT 0x20001F00u /* where the handler finds the block's address */

void fault_handler(void);

void fault_handler(void)
{
    volatile uint32_t *block = *(volatile uint32_t **)BLOCK_AT;
    block[2] = 0xFA17u;
    stop_here();
}

void program_main(volatile uint32_t *block)
{
    *(volatile uint32_t **)BLOCK_AT = block;
    volatile uint32_t *table = (volatile uint32_t *)block[1];
    uint32_t handler;
    __asm__ volatile("adr %0, fault_handler" : "=r"(handler));
    table[3] = handler | 1u; /* HardFault, Thumb */
    REG(SCB_VTOR) = block[1];
    block[3] = *(volatile const uint32_t *)block[0];
    block[2] = 0xBADu; /* not reached */
    stop_here();
}

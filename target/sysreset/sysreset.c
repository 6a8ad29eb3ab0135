/*
 * The reset program: runs on the TARGET, loaded by the host into the RAM its
 * ROM bootloader leaves free and started with Go (AN3155), when the host has
 * no NRST line to reset the chip with (docs/reset.md). It asks the core for
 * a system reset, and the chip then boots as its BOOT0 pin says.
 *
 * The request is the architecture's, not a peripheral's, so one build serves
 * every part: the System Control Block's AIRCR at 0xE000ED0C, written with
 * VECTKEY 0x05FA in bits 31:16 (any other key and the core ignores the
 * write) and SYSRESETREQ, bit 2 (ARMv7-M Architecture Reference Manual,
 * "Application Interrupt and Reset Control Register, AIRCR" and "Reset
 * management"; ST's PM0056 4.4.5, SCB_AIRCR, for the STM32F1's Cortex-M3
 * (4.4.4 is VTOR), and PM0215, "Application interrupt and reset control
 * register", for the STM32F0's Cortex-M0, whose AIRCR has the same key and
 * bit). The architecture has
 * a DSB come first, so that no memory access is outstanding when the reset
 * is requested, and the reset takes effect some cycles after the write: the
 * program waits for it.
 *
 * Built with -mcpu=cortex-m0: only ARMv6-M instructions, which a Cortex-M3
 * (ARMv7-M) runs too. Linked at address 0 and position independent (no
 * absolute address but the core's registers, no data, no stack), so the
 * host can load it wherever the part's free RAM starts.
 */
#include <stdint.h>

#define REG(address) (*(volatile uint32_t *)(address))

#define SCB_AIRCR         0xE000ED0Cu
#define AIRCR_VECTKEY     (0x05FAu << 16)
#define AIRCR_SYSRESETREQ (1u << 2)
/* The wait for the reset to take effect, in loop turns of about 5 cycles
 * (subs, cmp, bne on either core): some 60 ms at the 8 MHz HSI a
 * bootloader hands over with, far beyond the few cycles the reset takes. */
#define RESET_WAIT_TURNS 100000u

void sysreset_entry(void) __attribute__((noreturn));

/* The vector table the bootloader's Go reads. The host writes word 0, the
 * stack pointer (the program uses no stack: it is there for an exception
 * that might come first), and adds the load address to word 1. */
__attribute__((section(".vectors"), used)) const uint32_t sysreset_vectors[2] = {
    0u,
    (uint32_t)&sysreset_entry,
};

void sysreset_entry(void)
{
    /* No interrupt the ROM left enabled runs between here and the reset. */
    __asm__ volatile("cpsid i" ::: "memory");
    for (;;) {
        __asm__ volatile("dsb" ::: "memory");
        REG(SCB_AIRCR) = AIRCR_VECTKEY | AIRCR_SYSRESETREQ;
        __asm__ volatile("dsb" ::: "memory");
        /* The reset comes during this wait. Should it not (a debugger
         * holding the core, say), ask again rather than run off the end. */
        for (uint32_t turn = RESET_WAIT_TURNS; turn != 0u; turn--) {
            __asm__ volatile("" ::: "memory");
        }
    }
}

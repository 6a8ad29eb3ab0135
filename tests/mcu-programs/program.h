/*
 * What the test programs for the virtual STM32F1 share (tests/mcu-programs,
 * docs/virtual-mcu.md "Tests"): the layout of a program started by Go, as
 * the RAM CRC program's (a vector table whose stack pointer the loader
 * sets to a block of words, the program's inputs and results), and the F1
 * registers they touch (RM0008 sections 3, 7, 9, 27; PM0056 4).
 *
 * Each program is built position independent at 0 (target/crc32/ramcrc.ld)
 * and loaded anywhere in RAM; `block` is where the loader pointed SP.
 */
#ifndef TEST_MCU_PROGRAM_H
#define TEST_MCU_PROGRAM_H

#include <stdint.h>

#define REG(address)   (*(volatile uint32_t *)(address))
#define REG16(address) (*(volatile uint16_t *)(address))

#define RCC_CR      0x40021000u
#define RCC_CFGR    0x40021004u
#define RCC_APB2ENR 0x40021018u
#define FLASH_ACR   0x40022000u
#define FLASH_KEYR  0x40022004u
#define FLASH_SR    0x4002200Cu
#define FLASH_CR    0x40022010u
#define GPIOA_CRH   0x40010804u
#define USART1_SR   0x40013800u
#define USART1_DR   0x40013804u
#define USART1_BRR  0x40013808u
#define USART1_CR1  0x4001380Cu
#define SYST_CSR    0xE000E010u
#define SYST_RVR    0xE000E014u
#define SYST_CVR    0xE000E018u
#define SCB_AIRCR   0xE000ED0Cu

#define HSI_HZ 8000000u

void program_entry(void);
void program_main(volatile uint32_t *block) __attribute__((noreturn));

/* Word 0 is the stack pointer the loader fills in (the block's address);
 * words 2 and 3 name the program for the reader of a dump. */
#define PROGRAM_HEADER(tag)                                                                        \
    __attribute__((section(".vectors"), used)) const uint32_t program_header[4] = {                \
        0u, (uint32_t)&program_entry, 0x54534554u /* "TEST" */, (tag)};                            \
    __attribute__((naked, noreturn)) void program_entry(void)                                      \
    {                                                                                              \
        __asm__ volatile("mov r0, sp\n\tb program_main\n");                                        \
    }

static inline __attribute__((noreturn)) void stop_here(void)
{
    for (;;) {
    }
}

#endif

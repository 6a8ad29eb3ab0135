/*
 * Sends "HELLO" on USART1, then echoes what it receives, for ever.
 *
 * Built twice: with OWN_SETUP it sets its clock, pins and USART itself at
 * the rate in block[0] from the HSI (what the RAM CRC program does); without
 * it, it uses USART1 as the ROM left it, BRR included: on an F103 the ROM's
 * Go leaves the core on the 8 MHz HSI with BRR counted for 24 MHz, so the
 * host hears garbage at a third of its rate. block[1] counts bytes sent.
 */
#include "program.h"

PROGRAM_HEADER(1)

static void send(uint8_t byte)
{
    while ((REG(USART1_SR) & (1u << 7)) == 0) {
    }
    REG(USART1_DR) = byte;
}

void program_main(volatile uint32_t *block)
{
#ifdef OWN_SETUP
    REG(RCC_CFGR) &= ~0x3FF3u;                            /* SYSCLK = HSI, buses / 1 */
    REG(RCC_APB2ENR) |= (1u << 14) | (1u << 2);           /* USART1, GPIOA */
    REG(GPIOA_CRH) = (REG(GPIOA_CRH) & ~0xFF0u) | 0x4B0u; /* PA9 AF push-pull, PA10 input */
    REG(USART1_CR1) = 0;
    REG(USART1_BRR) = (HSI_HZ + block[0] / 2u) / block[0];
    REG(USART1_CR1) = 0x340Cu; /* 8E1, TE, RE, UE */
#endif
    /* The text as immediates: a constant table would be an absolute
     * address, which a program loaded anywhere cannot use. */
    uint32_t text = 0x4C4C4548u; /* "HELL" */
    for (unsigned i = 0; i < 4; i++) {
        send((uint8_t)(text >> (8u * i)));
        block[1] = i + 1u;
    }
    send('O');
    block[1] = 5;
    for (;;) {
        if ((REG(USART1_SR) & (1u << 5)) != 0) {
            send((uint8_t)REG(USART1_DR));
        }
    }
}

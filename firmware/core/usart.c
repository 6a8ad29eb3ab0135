#include "usart.h"

#include "cortexm.h"
#include "startup.h"
#include "systick.h"

/* The receivers outrank everything else: at 115200 baud a byte arrives
 * every 87 us and the data register holds only one. */
#define USART_IRQ_PRIORITY 0x40u

/* One byte at the slowest rate the bootloader knows (1200 baud, 11 bits)
 * takes 9.2 ms; a transmitter that is not free after 20 ms is broken. The
 * poll cap keeps the wait bounded even where the tick does not run
 * (interrupts masked in a fault handler). */
#define TX_BYTE_TIMEOUT_MS 20u
#define TX_POLL_CAP        4000000u

static usart *instances[2]; /* USART1, USART2: for the interrupt vectors */

void usart1_irq_handler(void)
{
    if (instances[0] != NULL) {
        usart_irq(instances[0]);
    }
}

void usart2_irq_handler(void)
{
    if (instances[1] != NULL) {
        usart_irq(instances[1]);
    }
}

void usart_irq(usart *u)
{
    usart_regs *r = u->regs;
    uint32_t sr = r->SR;
    /* Reading SR then DR clears RXNE and the error flags together. */
    while (sr & (USART_SR_RXNE | USART_SR_ORE)) {
        uint8_t byte = (uint8_t)r->DR; /* bit 8 is the parity bit in 8E1: drop it */
        if (sr & USART_SR_PE) {
            u->parity_errors++;
        }
        if (sr & USART_SR_FE) {
            u->framing_errors++;
        }
        if (sr & USART_SR_ORE) {
            u->overruns++;
        }
        if (sr & USART_SR_RXNE) {
            ringbuf_put(&u->rx, byte);
        }
        sr = r->SR;
    }
}

static bool baud_ok(uint32_t pclk_hz, uint32_t baud)
{
    if (baud == 0) {
        return false;
    }
    uint32_t brr = usart_brr(pclk_hz, baud);
    if (brr < 16u || brr > 0xFFFFu) {
        return false;
    }
    uint32_t actual = pclk_hz / brr;
    uint32_t diff = actual > baud ? actual - baud : baud - actual;
    return diff * 100u <= baud * 3u;
}

void usart_init(usart *u, usart_regs *regs, uint32_t pclk_hz, uint32_t baud, usart_framing framing,
                uint8_t *rx_buf, uint32_t rx_buf_size)
{
    u->regs = regs;
    u->pclk_hz = pclk_hz;
    u->framing = framing;
    u->parity_errors = u->framing_errors = u->overruns = 0;
    ringbuf_init(&u->rx, rx_buf, rx_buf_size);

    unsigned irq = regs == USART1 ? IRQ_USART1 : IRQ_USART2;
    instances[regs == USART1 ? 0 : 1] = u;

    regs->CR1 = 0;
    regs->CR2 = 0; /* 1 stop bit */
    regs->CR3 = 0; /* no flow control */
    regs->BRR = usart_brr(pclk_hz, baud);
    uint32_t cr1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    if (framing == USART_8E1) {
        cr1 |= USART_CR1_8E1;
    }
    regs->CR1 = cr1;
    nvic_enable(irq, USART_IRQ_PRIORITY);
}

int usart_set_baud(usart *u, uint32_t baud)
{
    if (!baud_ok(u->pclk_hz, baud)) {
        return -1;
    }
    usart_drain(u);
    /* BRR may only change with the USART disabled (RM0008 27.6.3). */
    uint32_t cr1 = u->regs->CR1;
    u->regs->CR1 = cr1 & ~USART_CR1_UE;
    u->regs->BRR = usart_brr(u->pclk_hz, baud);
    u->regs->CR1 = cr1;
    return 0;
}

size_t usart_read(usart *u, uint8_t *buf, size_t len)
{
    return ringbuf_get(&u->rx, buf, len);
}

void usart_flush_rx(usart *u)
{
    ringbuf_flush(&u->rx);
}

static int wait_flag(usart *u, uint32_t flag)
{
    uint32_t start = systick_ms();
    for (uint32_t polls = 0; (u->regs->SR & flag) == 0; polls++) {
        if (systick_ms() - start > TX_BYTE_TIMEOUT_MS || polls > TX_POLL_CAP) {
            return -1;
        }
    }
    return 0;
}

int usart_write(usart *u, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (wait_flag(u, USART_SR_TXE) != 0) {
            return -1;
        }
        u->regs->DR = buf[i]; /* in 8E1 the hardware adds the parity bit */
    }
    return 0;
}

void usart_drain(usart *u)
{
    (void)wait_flag(u, USART_SR_TC);
}

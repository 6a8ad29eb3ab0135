/*
 * The RAM CRC program: runs on the TARGET (an STM32F1, Cortex-M3), loaded
 * into the RAM its ROM bootloader leaves free and started with Go. It
 * computes the CRC-32 of the flash ranges the host lists, sends it on the
 * USART the parameter block names, and then starts the application or
 * resets the chip as the host says. docs/ram-crc.md describes the protocol
 * (stm32isp/ramcrc_protocol.h is its C face).
 *
 * It relies on nothing the ROM leaves behind but RAM: the F103's ROM hands
 * over with SYSCLK back on the 8 MHz HSI and USART1's BRR still set for
 * 24 MHz (a third of the host's rate), and AN3155 allows a ROM to put
 * every peripheral back to its reset value. So the program selects the
 * HSI itself, enables the clocks of its GPIO ports and USART, sets its pins
 * and sets the USART to 8E1 at the host's baud from the clock it chose.
 *
 * Built with -Os -nostdlib and linked at address 0, it is position
 * independent: no absolute address but the peripherals', no data but the
 * stack, so the host can load it wherever the part's free RAM starts.
 */
#include "stm32isp/ramcrc_protocol.h"

#include <stdint.h>

#define REG(address) (*(volatile uint32_t *)(address))

/* RCC (RM0008 7.3). */
#define RCC_CR        0x40021000u
#define RCC_CFGR      0x40021004u
#define RCC_APB2ENR   0x40021018u
#define RCC_APB1ENR   0x4002101Cu
#define CR_HSION      (1u << 0)
#define CR_HSIRDY     (1u << 1)
#define CR_PLLON      (1u << 24)
#define CFGR_SW_MASK  0x3u
#define CFGR_SWS_MASK 0xCu
/* SW, HPRE, PPRE1, PPRE2: 0 selects the HSI, every bus at SYSCLK / 1. */
#define CFGR_CLOCK_BITS 0x3FF3u
#define APB2_BASE       0x40010000u
#define APB1_BASE       0x40000000u
#define AFIO_MAPR       0x40010004u
#define APB2_AFIOEN     (1u << 0)
/* GPIO (RM0008 9.2). */
#define GPIOA_BASE 0x40010800u
#define GPIO_CRL   0x00u
#define GPIO_BSRR  0x10u
#define PIN_AF_PP  0xBu /* alternate-function push-pull, 50 MHz */
#define PIN_PULL   0x8u /* input with pull-up or pull-down (ODR picks up) */
/* USART (RM0008 27.6), the F1 layout. */
#define USART_SR  0x00u
#define USART_DR  0x04u
#define USART_BRR 0x08u
#define USART_CR1 0x0Cu
#define USART_CR2 0x10u
#define USART_CR3 0x14u
#define SR_RXNE   (1u << 5)
#define SR_TC     (1u << 6)
#define SR_TXE    (1u << 7)
/* UE, M (9 bits: 8 data + parity), PCE (even), TE, RE: 8E1 as AN3155. */
#define CR1_8E1_ON  0x340Cu
#define USART1_F1   0x40013800u /* where to answer when the parameters are unusable */
#define PINS_USART1 STM32ISP_RAMCRC_PINS(0, 9, 0, 10)
/* The core. */
#define SYST_CSR    0xE000E010u
#define SYST_RVR    0xE000E014u
#define SYST_CVR    0xE000E018u
#define CSR_ENABLE  (1u << 0)
#define CSR_CPU_CLK (1u << 2)
#define CSR_WRAPPED (1u << 16)
#define SCB_VTOR    0xE000ED08u
#define SCB_AIRCR   0xE000ED0Cu
#define AIRCR_RESET 0x05FA0004u /* VECTKEY | SYSRESETREQ */
#define IWDG_KR     0x40003000u
#define IWDG_RELOAD 0xAAAAu
#define CRC32_POLY  0xEDB88320u /* ISO-HDLC, reflected */
#define CHUNK       4096u       /* bytes between watchdog refreshes */
#define SPINS       200000u     /* bound of one register wait: > 25 ms at 8 MHz */
#define HZ          STM32ISP_RAMCRC_CLOCK_HZ
#define BAUD_MIN    1200u
#define BAUD_MAX    (HZ / 16u)

void ramcrc_entry(void);
void ramcrc_main(const uint32_t *params, uint32_t primask) __attribute__((noreturn));

/* The vector table the bootloader's Go reads, then what the host checks. */
__attribute__((section(".vectors"), used)) const uint32_t ramcrc_header[4] = {
    0u, /* the host writes the parameter block's address here */
    (uint32_t)&ramcrc_entry,
    STM32ISP_RAMCRC_SIGNATURE,
    STM32ISP_RAMCRC_VERSION,
};

/* The parameter block's address is the stack pointer the core loaded from
 * word 0; take it (and the interrupt mask) before anything is pushed. */
__attribute__((naked, noreturn)) void ramcrc_entry(void)
{
    __asm__ volatile("mov r0, sp\n\t"
                     "mrs r1, primask\n\t"
                     "cpsid i\n\t"
                     "b ramcrc_main\n");
}

static void watchdog_refresh(void)
{
    /* Harmless when the watchdog is off; needed when the option bytes
     * start it in hardware, as the bootloader then keeps it running. */
    REG(IWDG_KR) = IWDG_RELOAD;
}

static __attribute__((noreturn)) void system_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    REG(SCB_AIRCR) = AIRCR_RESET;
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}

/* Waits, bounded, until (REG(address) & mask) == value. */
static void wait_bits(uint32_t address, uint32_t mask, uint32_t value)
{
    for (uint32_t spin = 0; spin < SPINS && (REG(address) & mask) != value; spin++) {
    }
}

/*
 * SYSCLK from the HSI, every bus at SYSCLK (RM0008 7.3.1, 7.3.2): after
 * any ROM, whatever it left. The HSI is on out of reset and after the
 * F103 ROM's Go; it is switched on again anyway. The PLL goes off once
 * nothing runs from it, as after a reset: the application then starts
 * from the clock state it expects. 8 MHz needs no flash wait state, so
 * FLASH_ACR may stay as it is for the CRC's reads.
 */
static void clock_init(void)
{
    REG(RCC_CR) |= CR_HSION;
    wait_bits(RCC_CR, CR_HSIRDY, CR_HSIRDY);
    REG(RCC_CFGR) &= ~CFGR_CLOCK_BITS;
    wait_bits(RCC_CFGR, CFGR_SWS_MASK, 0);
    REG(RCC_CR) &= ~CR_PLLON;
}

/* The enable bit of the peripheral at `base` (RM0008 7.3.7, 7.3.8: its
 * 1 KiB slot number on its bus). */
static void clock_enable(uint32_t base)
{
    if (base >= APB2_BASE) {
        REG(RCC_APB2ENR) |= 1u << (((base - APB2_BASE) >> 10) & 31u);
    } else {
        REG(RCC_APB1ENR) |= 1u << (((base - APB1_BASE) >> 10) & 31u);
    }
}

/* Sets one pin's CNF/MODE nibble in CRL or CRH (RM0008 9.2.1, 9.2.2). */
static void pin_mode(uint32_t port, uint32_t pin, uint32_t mode)
{
    uint32_t gpio = GPIOA_BASE + 0x400u * port;
    clock_enable(gpio);
    uint32_t cr = gpio + GPIO_CRL + 4u * (pin >> 3);
    uint32_t shift = 4u * (pin & 7u);
    REG(cr) = (REG(cr) & ~(0xFu << shift)) | mode << shift;
}

static void send_byte(uint32_t usart, uint8_t byte)
{
    wait_bits(usart + USART_SR, SR_TXE, SR_TXE);
    REG(usart + USART_DR) = byte;
}

/* Until the last stop bit is out: the next step may reset the chip or hand
 * the USART to an application that reprograms it. */
static void wait_sent(uint32_t usart)
{
    wait_bits(usart + USART_SR, SR_TC, SR_TC);
}

/*
 * The divisor for `baud` on the HSI (RM0008 27.3.4: baud = fPCLK / BRR).
 * The HSI is trimmed to about 1 % at 25 C and drifts a few per cent over
 * temperature (DS5319 table 24), too much for a USART on its nominal
 * 8 MHz. The F103's ROM leaves USART1's BRR as it measured the host's
 * 0x7F: one bit in cycles of its 24 MHz clock, three HSI periods each, so
 * a third of it is the bit time in cycles of the HSI this program runs on,
 * whatever its real frequency. A BRR that is not near three times the
 * nominal one was not left so (peripherals at reset or a clock off: 0,
 * another ROM).
 */
static uint32_t divisor(uint32_t usart, uint32_t baud)
{
    uint32_t nominal = (HZ + baud / 2u) / baud;
    uint32_t measured = (REG(usart + USART_BRR) + 1u) / 3u;
    /* Within 1/8 of the nominal one (unsigned: below it wraps high). */
    return measured - nominal + nominal / 8u <= nominal / 4u ? measured : nominal;
}

/* The USART and its pins, 8E1 at `baud`. */
static void usart_init(uint32_t usart, uint32_t baud, uint32_t pins, uint32_t remap)
{
    uint32_t brr = divisor(usart, baud);
    if (remap != 0) {
        REG(RCC_APB2ENR) |= APB2_AFIOEN;
        /* SWJ_CFG (bits 26:24) is write only and reads undefined (RM0008
         * 9.4.2): written 000, the reset state, not whatever was read. */
        REG(AFIO_MAPR) = (REG(AFIO_MAPR) & 0x00FFFFFFu) | remap;
    }
    uint32_t rx_port = (pins >> 12) & 0xFu, rx_pin = (pins >> 8) & 0xFu;
    uint32_t rx_gpio = GPIOA_BASE + 0x400u * rx_port;
    pin_mode((pins >> 4) & 0xFu, pins & 0xFu, PIN_AF_PP);
    /* A pull-up on RX: a line nobody drives does not read as a start bit.
     * ODR picks up before the pin becomes a pulled input. */
    clock_enable(rx_gpio);
    REG(rx_gpio + GPIO_BSRR) = 1u << rx_pin;
    pin_mode(rx_port, rx_pin, PIN_PULL);
    clock_enable(usart);
    REG(usart + USART_CR1) = 0;
    REG(usart + USART_CR2) = 0; /* 1 stop bit */
    REG(usart + USART_CR3) = 0;
    REG(usart + USART_BRR) = brr;
    REG(usart + USART_CR1) = CR1_8E1_ON;
}

static void make_table(uint32_t *table)
{
    for (uint32_t i = 0; i < 256u; i++) {
        uint32_t c = i;
        for (int bit = 0; bit < 8; bit++) {
            c = (c & 1u) != 0 ? (c >> 1) ^ CRC32_POLY : c >> 1;
        }
        table[i] = c;
    }
}

/* Raw CRC register update (no initial or final inversion). Not inlined, so
 * that the table's address stays in a register through the loop. */
static __attribute__((noinline)) uint32_t crc_update(const uint32_t *table, uint32_t crc,
                                                     const uint8_t *p, uint32_t len)
{
    if (len == 0) {
        return crc;
    }
    /* Counted on the Cortex-M3: ldrb 2, eors 1, uxtb 1, ldr 2, cmp 1, eor 1,
     * bne taken 3: 11 cycles a byte (STM32ISP_RAMCRC_CYCLES_PER_BYTE adds
     * one for code fetched from SRAM sharing the bus with the table). */
    do {
        crc = table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    } while (--len != 0);
    return crc;
}

static void send_reply(uint32_t usart, const uint8_t *reply)
{
    for (uint32_t i = 0; i < STM32ISP_RAMCRC_REPLY_SIZE; i++) {
        send_byte(usart, reply[i]);
    }
}

/* One word store (smaller code than four byte stores, and the program is
 * sent on every run); the callers' addresses are word aligned, so this holds
 * even should the bootloader have made unaligned accesses trap. */
static void put_le32(uint8_t *p, uint32_t v)
{
    __builtin_memcpy(p, &v, 4);
}

/* SysTick on the core clock, wrapping every millisecond. */
static void millisecond_tick(void)
{
    REG(SYST_CSR) = 0;
    REG(SYST_RVR) = HZ / 1000u - 1u;
    REG(SYST_CVR) = 0;
    REG(SYST_CSR) = CSR_CPU_CLK | CSR_ENABLE;
}

/* The next received byte, or -1 once `*idle_ms` reaches the idle limit:
 * the caller resets the chip then. The count goes on across calls, so that
 * bytes that are not a command do not extend the program's life. */
static int receive_byte(uint32_t usart, uint32_t *idle_ms)
{
    while ((REG(usart + USART_SR) & SR_RXNE) == 0) {
        watchdog_refresh();
        if ((REG(SYST_CSR) & CSR_WRAPPED) != 0 && ++*idle_ms >= STM32ISP_RAMCRC_IDLE_RESET_MS) {
            return -1;
        }
    }
    /* Reading SR then DR also clears an overrun or a framing error. */
    return (int)(REG(usart + USART_DR) & 0xFFu);
}

static __attribute__((noreturn)) void start_application(uint32_t vector_table, uint32_t primask)
{
    REG(SYST_CSR) = 0;
    REG(SCB_VTOR) = vector_table;
    uint32_t sp = ((const volatile uint32_t *)vector_table)[0];
    uint32_t pc = ((const volatile uint32_t *)vector_table)[1];
    __asm__ volatile("msr primask, %0\n\t"
                     "msr msp, %1\n\t"
                     "bx %2\n"
                     :
                     : "r"(primask), "r"(sp), "r"(pc)
                     : "memory");
    for (;;) {
    }
}

/* Checks the parameter block and returns a status; *trusted when its own
 * CRC matched, so that its words (the USART's address) may be used. */
static uint32_t check_params(const uint32_t *table, const uint32_t *params, uint32_t *check,
                             int *trusted)
{
    *check = 0;
    *trusted = 0;
    if (params[0] != STM32ISP_RAMCRC_PARAM_MAGIC) {
        return STM32ISP_RAMCRC_STATUS_BAD_MAGIC;
    }
    uint32_t n = params[STM32ISP_RAMCRC_WORD_COUNT];
    if (n == 0 || n > STM32ISP_RAMCRC_MAX_RANGES) {
        return STM32ISP_RAMCRC_STATUS_BAD_RANGES;
    }
    uint32_t words = STM32ISP_RAMCRC_PARAM_WORDS + 2u * n;
    *check = ~crc_update(table, 0xFFFFFFFFu, (const uint8_t *)params, 4u * words);
    if (*check != params[words]) {
        return STM32ISP_RAMCRC_STATUS_BAD_CHECK;
    }
    uint32_t baud = params[STM32ISP_RAMCRC_WORD_BAUD];
    if (baud < BAUD_MIN || baud > BAUD_MAX) {
        return STM32ISP_RAMCRC_STATUS_BAD_RANGES;
    }
    *trusted = 1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t address = params[STM32ISP_RAMCRC_PARAM_WORDS + 2u * i];
        uint32_t length = params[STM32ISP_RAMCRC_PARAM_WORDS + 2u * i + 1u];
        if (length == 0 || address + length < address) {
            return STM32ISP_RAMCRC_STATUS_BAD_RANGES;
        }
    }
    return STM32ISP_RAMCRC_STATUS_OK;
}

void ramcrc_main(const uint32_t *params, uint32_t primask)
{
    uint32_t table[256];
    make_table(table);
    uint32_t check;
    int trusted;
    uint32_t status = check_params(table, params, &check, &trusted);
    /* A damaged block may name anything: answer on the F1 bootloader's
     * USART1 then, at the most common rate. */
    uint32_t usart = USART1_F1, baud = 115200u, pins = PINS_USART1, remap = 0;
    if (trusted) {
        usart = params[STM32ISP_RAMCRC_WORD_USART];
        baud = params[STM32ISP_RAMCRC_WORD_BAUD];
        pins = params[STM32ISP_RAMCRC_WORD_PINS];
        remap = params[STM32ISP_RAMCRC_WORD_REMAP];
    }
    /* A ROM may jump while its last ACK is still shifting out (the F103's
     * leaves USART1 running): it ends at the clock and rate it began with,
     * before either changes. (A USART with its clock off reads 0.) */
    if ((REG(usart + USART_CR1) & CR1_8E1_ON) != 0) {
        wait_sent(usart);
    }
    clock_init();
    millisecond_tick();
    usart_init(usart, baud, pins, remap);

    uint32_t crc = 0xFFFFFFFFu, total = 0;
    if (status == STM32ISP_RAMCRC_STATUS_OK) {
        for (uint32_t i = 0; i < params[STM32ISP_RAMCRC_WORD_COUNT]; i++) {
            const uint8_t *p = (const uint8_t *)params[STM32ISP_RAMCRC_PARAM_WORDS + 2u * i];
            uint32_t left = params[STM32ISP_RAMCRC_PARAM_WORDS + 2u * i + 1u];
            total += left;
            while (left > 0) {
                uint32_t n = left < CHUNK ? left : CHUNK;
                crc = crc_update(table, crc, p, n);
                p += n;
                left -= n;
                watchdog_refresh();
            }
        }
        crc = ~crc;
    } else {
        crc = 0;
    }

    /* The reply two bytes into a word array: its three words fall on word
     * boundaries. */
    uint32_t reply_words[(STM32ISP_RAMCRC_REPLY_SIZE + 2u + 3u) / 4u];
    uint8_t *reply = (uint8_t *)reply_words + 2;
    reply[0] = STM32ISP_RAMCRC_REPLY_START;
    reply[1] = (uint8_t)status;
    put_le32(reply + 2, crc);
    put_le32(reply + 6, total);
    put_le32(reply + 10, check);
    uint8_t x = 0;
    for (uint32_t i = 0; i < STM32ISP_RAMCRC_REPLY_SIZE - 1u; i++) {
        x ^= reply[i];
    }
    reply[STM32ISP_RAMCRC_REPLY_SIZE - 1u] = x;
    send_reply(usart, reply);

    uint32_t idle_ms = 0;      /* since the program last sent something */
    uint32_t pending = 0x100u; /* no command byte yet */
    for (;;) {
        int b = receive_byte(usart, &idle_ms);
        if (b < 0 || b == STM32ISP_RAMCRC_SYNC_RESET) {
            system_reset();
        }
        if (pending > 0xFFu || (uint8_t)(pending ^ (uint32_t)b) != 0xFFu) {
            pending = (uint32_t)b;
            continue;
        }
        uint8_t command = (uint8_t)pending;
        pending = 0x100u;
        if (command == STM32ISP_RAMCRC_CMD_RESEND) {
            send_reply(usart, reply);
            idle_ms = 0;
            continue;
        }
        if (command == STM32ISP_RAMCRC_CMD_START && status == STM32ISP_RAMCRC_STATUS_OK) {
            send_byte(usart, STM32ISP_RAMCRC_ACK);
            wait_sent(usart);
            start_application(params[STM32ISP_RAMCRC_WORD_VECTORS], primask);
        }
    }
}

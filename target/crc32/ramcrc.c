/*
 * The RAM CRC program: runs on the TARGET (an STM32F1, Cortex-M3), loaded
 * into the RAM its ROM bootloader leaves free and started with Go. It
 * computes the CRC-32 of the flash ranges the host lists, sends it on the
 * USART the bootloader left configured, and then starts the application or
 * resets the chip as the host says. docs/ram-crc.md describes the protocol
 * (stm32isp/ramcrc_protocol.h is its C face).
 *
 * Built with -Os -nostdlib and linked at address 0, it is position
 * independent: no absolute address but the peripherals', no data but the
 * stack, so the host can load it wherever the part's free RAM starts.
 */
#include "stm32isp/ramcrc_protocol.h"

#include <stdint.h>

#define REG(address) (*(volatile uint32_t *)(address))

/* USART (F1 layout): status, data, control 1. */
#define USART_SR    0x00u
#define USART_DR    0x04u
#define USART_CR1   0x0Cu
#define SR_RXNE     (1u << 5)
#define SR_TC       (1u << 6)
#define SR_TXE      (1u << 7)
#define CR1_RE      (1u << 2)
#define CR1_TE      (1u << 3)
#define CR1_UE      (1u << 13)
#define USART1_F1   0x40013800u /* where to answer when the parameters are unusable */
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
#define TX_SPINS    200000u     /* bound of one TXE/TC wait: far above a byte at 1200 baud */
/* SysTick wraps every 2^24 cycles: 0.7 s at the F1 bootloader's 24 MHz. */
#define IDLE_WRAPS (STM32ISP_RAMCRC_IDLE_RESET_S * 24000000u / 16777216u)

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

static void send_byte(uint32_t usart, uint8_t byte)
{
    for (uint32_t spin = 0; spin < TX_SPINS && (REG(usart + USART_SR) & SR_TXE) == 0; spin++) {
    }
    REG(usart + USART_DR) = byte;
}

/* Until the last stop bit is out: the next step may reset the chip or hand
 * the USART to an application that reprograms it. */
static void wait_sent(uint32_t usart)
{
    for (uint32_t spin = 0; spin < TX_SPINS && (REG(usart + USART_SR) & SR_TC) == 0; spin++) {
    }
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

/* The next received byte; resets the chip when none comes for about
 * STM32ISP_RAMCRC_IDLE_RESET_S seconds, so the program never outlives its
 * host by much. */
static uint8_t receive_byte(uint32_t usart)
{
    uint32_t wraps = 0;
    while ((REG(usart + USART_SR) & SR_RXNE) == 0) {
        watchdog_refresh();
        if ((REG(SYST_CSR) & CSR_WRAPPED) != 0 && ++wraps >= IDLE_WRAPS) {
            system_reset();
        }
    }
    /* Reading SR then DR also clears an overrun. */
    return (uint8_t)REG(usart + USART_DR);
}

static __attribute__((noreturn)) void start_application(uint32_t vector_table, uint32_t primask)
{
    REG(SYST_CSR) = 0;
    REG(SYST_RVR) = 0;
    REG(SYST_CVR) = 0;
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
    uint32_t n = params[4];
    if (n == 0 || n > STM32ISP_RAMCRC_MAX_RANGES) {
        return STM32ISP_RAMCRC_STATUS_BAD_RANGES;
    }
    uint32_t words = STM32ISP_RAMCRC_PARAM_WORDS + 2u * n;
    *check = ~crc_update(table, 0xFFFFFFFFu, (const uint8_t *)params, 4u * words);
    if (*check != params[words]) {
        return STM32ISP_RAMCRC_STATUS_BAD_CHECK;
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
    REG(SYST_CSR) = 0;
    REG(SYST_RVR) = 0x00FFFFFFu;
    REG(SYST_CVR) = 0;
    REG(SYST_CSR) = CSR_CPU_CLK | CSR_ENABLE;

    uint32_t check;
    int trusted;
    uint32_t status = check_params(table, params, &check, &trusted);
    /* A damaged block may name any address: answer on USART1 then. */
    uint32_t usart = trusted ? params[2] : USART1_F1;
    /* Without a bootloader before it (QEMU) the USART is still off. The
     * baud rate the bootloader measured stays as it is. */
    uint32_t cr1 = REG(usart + USART_CR1);
    if ((cr1 & (CR1_UE | CR1_TE | CR1_RE)) != (CR1_UE | CR1_TE | CR1_RE)) {
        REG(usart + USART_CR1) = cr1 | CR1_UE | CR1_TE | CR1_RE;
    }

    uint32_t crc = 0xFFFFFFFFu, total = 0;
    if (status == STM32ISP_RAMCRC_STATUS_OK) {
        for (uint32_t i = 0; i < params[4]; i++) {
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

    uint32_t pending = 0x100u; /* no command byte yet */
    for (;;) {
        uint8_t b = receive_byte(usart);
        if (b == STM32ISP_RAMCRC_SYNC_RESET) {
            system_reset();
        }
        if (pending > 0xFFu || (uint8_t)(pending ^ b) != 0xFFu) {
            pending = b;
            continue;
        }
        uint8_t command = (uint8_t)pending;
        pending = 0x100u;
        if (command == STM32ISP_RAMCRC_CMD_RESEND) {
            send_reply(usart, reply);
            continue;
        }
        if (command == STM32ISP_RAMCRC_CMD_RESET ||
            (command == STM32ISP_RAMCRC_CMD_START && status == STM32ISP_RAMCRC_STATUS_OK)) {
            send_byte(usart, STM32ISP_RAMCRC_ACK);
            wait_sent(usart);
            if (command == STM32ISP_RAMCRC_CMD_RESET) {
                system_reset();
            }
            start_application(params[3], primask);
        }
    }
}

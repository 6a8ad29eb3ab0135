/*
 * The stub flasher: runs on the TARGET (an STM32F1, Cortex-M3), loaded with
 * Write Memory into the RAM the ROM bootloader leaves free and started with
 * Go. It speaks the framed protocol of docs/spec/stub.md (stub_protocol.h)
 * on USART1 (PA9/PA10): faster clock, faster link, a window of frames in
 * flight, and the flash programmed while the next block arrives.
 *
 * Same rules as the RAM CRC program (docs/ram-crc.md): position
 * independent (no data, no bss, no constant table: everything lives in one
 * context on the stack the host gives it), relies on nothing the ROM leaves
 * but RAM and, for the rate calibration only, USART1's BRR. Every wait is
 * bounded. The CPU runs from RAM, so it keeps serving the USART while the
 * flash controller is busy (PM0075 2.3: only flash accesses stall).
 */
#include "stub_protocol.h"

#include <stdint.h>

#define REG(address)  (*(volatile uint32_t *)(address))
#define HALF(address) (*(volatile uint16_t *)(address))

/* RCC (RM0008 7.3). */
#define RCC_CR           0x40021000u
#define RCC_CFGR         0x40021004u
#define RCC_APB2ENR      0x40021018u
#define CR_HSION         (1u << 0)
#define CR_HSIRDY        (1u << 1)
#define CR_HSEON         (1u << 16)
#define CR_HSERDY        (1u << 17)
#define CR_PLLON         (1u << 24)
#define CR_PLLRDY        (1u << 25)
#define CFGR_SW_PLL      0x2u
#define CFGR_SWS_MASK    0xCu
#define CFGR_SWS_PLL     0x8u
#define CFGR_PLLSRC      (1u << 16)
#define CFGR_PLLMUL(x)   ((uint32_t)((x)-2u) << 18)
#define CFGR_PPRE1_2     (4u << 8) /* PCLK1 at most 36 MHz (RM0008 7.3.2) */
#define APB2_IOPA_USART1 ((1u << 2) | (1u << 14))
/* GPIOA (RM0008 9.2). */
#define GPIOA_CRH  0x40010804u
#define GPIOA_BSRR 0x40010810u
/* USART1 (RM0008 27.6). */
#define U1         0x40013800u
#define U_SR       (U1 + 0x00u)
#define U_DR       (U1 + 0x04u)
#define U_BRR      (U1 + 0x08u)
#define U_CR1      (U1 + 0x0Cu)
#define U_CR2      (U1 + 0x10u)
#define U_CR3      (U1 + 0x14u)
#define SR_PE      (1u << 0)
#define SR_FE      (1u << 1)
#define SR_NE      (1u << 2)
#define SR_ORE     (1u << 3)
#define SR_RXNE    (1u << 5)
#define SR_TC      (1u << 6)
#define SR_TXE     (1u << 7)
#define CR1_UE     (1u << 13)
#define CR1_8E1    0x340Cu /* UE, M (8 data + parity), PCE even, TE, RE: as AN3155 */
#define CR1_RXNEIE (1u << 5)
/* Flash interface (RM0008 3.3.3, PM0075 3). */
#define FLASH_ACR      0x40022000u
#define FLASH_KEYR     0x40022004u
#define FLASH_SR       0x4002200Cu
#define FLASH_CR       0x40022010u
#define FLASH_AR       0x40022014u
#define ACR_72MHZ      0x12u /* PRFTBE, LATENCY 2: 48 < SYSCLK <= 72 MHz (PM0075 3.1) */
#define ACR_RESET      0x30u
#define FSR_BSY        (1u << 0)
#define FSR_PGERR      (1u << 2)
#define FSR_WRPRTERR   (1u << 4)
#define FSR_EOP        (1u << 5)
#define FCR_PG         (1u << 0)
#define FCR_PER        (1u << 1)
#define FCR_MER        (1u << 2)
#define FCR_STRT       (1u << 6)
#define FCR_LOCK       (1u << 7)
#define FLASH_KEY1     0x45670123u
#define FLASH_KEY2     0xCDEF89ABu
#define FLASH_BASE     0x08000000u
#define FLASH_SIZE_REG 0x1FFFF7E0u
#define SYSMEM_BASE    0x1FFFF000u
#define SYSMEM_END     0x1FFFF810u /* system memory and option bytes, readable */
/* The core (PM0056 4.4, 4.5). */
#define SYST_CSR       0xE000E010u
#define SYST_RVR       0xE000E014u
#define SYST_CVR       0xE000E018u
#define CSR_ON         0x7u /* ENABLE, TICKINT (to wake WFI), CLKSOURCE = HCLK */
#define CSR_WRAPPED    (1u << 16)
#define SCB_ICSR       0xE000ED04u
#define ICSR_PENDSTCLR (1u << 25)
#define NVIC_ISER1     0xE000E104u
#define NVIC_ICER1     0xE000E184u
#define NVIC_ICPR1     0xE000E284u
#define IRQ_USART1     (1u << (37u - 32u)) /* RM0008 table 63 */
#define SCB_VTOR       0xE000ED08u
#define SCB_AIRCR      0xE000ED0Cu
#define AIRCR_RESET    0x05FA0004u
#define IWDG_KR        0x40003000u
#define IWDG_RELOAD    0xAAAAu
#define CRC32_POLY     0xEDB88320u

/* Bounds, in milliseconds of SysTick. */
#define HSE_WAIT_MS     20u   /* DS5319 table 22: tSU(HSE) 2 ms typical */
#define PLL_WAIT_MS     3u    /* DS5319 table 27: tLOCK 200 us max */
#define PROGRAM_WAIT_MS 3u    /* DS5319 table 28: tPROG 70 us max */
#define ERASE_WAIT_MS   100u  /* DS5319 table 28: tERASE/tME 40 ms max */
#define TX_WAIT_MS      12u   /* one frame at 1200 baud is 9.2 ms: TXE within that */
#define FRAME_GAP_MS    20u   /* a frame with a longer silence inside is dropped */
#define IDLE_RESET_MS   3000u /* no host traffic for this long: reset the chip */
#define SNAP_PERCENT    3u    /* a ROM-measured rate this close to a standard one is it */

enum { SLOT_FREE = 0, SLOT_READY = 1 };

typedef struct slot {
    uint32_t state, status, type, seq, len;
    uint8_t data[STUB_MAX_PAYLOAD] __attribute__((aligned(4)));
} slot;

/* What the hello reports, in this order (docs/spec/stub.md). */
enum { INFO_PCLK, INFO_BRR_ROM, INFO_BAUD, INFO_FLASH_KB, INFO_LIMITS, INFO_IDLE_MS, INFO_WORDS };

/* The words used most first: LDR/STR reach the first 124 bytes with a
 * 16-bit instruction. */
typedef struct stub {
    uint32_t ms, last_ms;
    /* receiver */
    uint32_t rx_slot, rx_pos, rx_crc, rx_got, rx_type, rx_seq, rx_len, rx_skip, rx_ms;
    uint32_t exec_slot, expected_seq;
    uint32_t overruns, line_errors, overflows;
    /* transmitter, and the two words of the reply being built */
    uint32_t tx_crc, v1, v2;
    /* clock and rate */
    uint32_t clock, hsi_mul, brr; /* hsi_mul: PCLK2 / f_HSI, 0 on the HSE */
    uint32_t info[INFO_WORDS];
    uint32_t switch_from, switch_ms, switch_window; /* a rate switch not yet synced */
    /* declared ranges */
    uint32_t page_size, nranges, range_addr[STUB_MAX_RANGES], range_len[STUB_MAX_RANGES];
    uint32_t flash_end;
    uint32_t crc_table[16];
    slot slots[STUB_WINDOW];
} stub;

#define PCLK(s)    ((s)->info[INFO_PCLK])
#define BRR_ROM(s) ((s)->info[INFO_BRR_ROM])
#define BAUD(s)    ((s)->info[INFO_BAUD])

void stub_entry(void) __attribute__((noreturn));

/* The vector table Go reads (word 0, the stack pointer, the host writes),
 * then what the host checks. */
__attribute__((section(".vectors"), used)) const uint32_t stub_header[4] = {
    0u,
    (uint32_t)&stub_entry,
    STUB_SIGNATURE,
    STUB_VERSION,
};

static __attribute__((noreturn)) void system_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    REG(SCB_AIRCR) = AIRCR_RESET; /* PM0056 4.4.4: SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}

static uint32_t crc_byte(const stub *s, uint32_t crc, uint32_t b)
{
    crc = (crc >> 4) ^ s->crc_table[(crc ^ b) & 15u];
    return (crc >> 4) ^ s->crc_table[(crc ^ (b >> 4)) & 15u];
}

/* One SysTick wrap is one millisecond: counted here, and the watchdog
 * refreshed with it (harmless when the IWDG is off; needed when the option
 * bytes start it in hardware, RM0008 19.3). */
static void tick(stub *s)
{
    if ((REG(SYST_CSR) & CSR_WRAPPED) != 0) {
        s->ms++;
        REG(SCB_ICSR) = ICSR_PENDSTCLR; /* PRIMASK keeps it from being taken */
        REG(IWDG_KR) = IWDG_RELOAD;
    }
}

static void set_systick(uint32_t hz)
{
    REG(SYST_CSR) = 0;
    REG(SYST_RVR) = hz / 1000u - 1u;
    REG(SYST_CVR) = 0;
    REG(SYST_CSR) = CSR_ON;
}

/* A whole frame has arrived (or was refused by its header). */
static void rx_complete(stub *s, uint32_t status)
{
    s->rx_pos = 0;
    if (s->rx_skip != 0) {
        s->overflows++; /* the host sent more than its window */
        return;
    }
    slot *sl = &s->slots[s->rx_slot];
    sl->status = status;
    sl->type = s->rx_type;
    sl->seq = s->rx_seq;
    sl->len = s->rx_len;
    sl->state = SLOT_READY;
    s->rx_slot = (s->rx_slot + 1u) % STUB_WINDOW;
}

static void rx_byte(stub *s, uint32_t b)
{
    uint32_t pos = s->rx_pos;
    if (pos == 0) {
        if (b == STUB_SOF) {
            s->rx_pos = 1;
            s->rx_crc = 0xFFFFFFFFu;
            s->rx_got = 0;
            s->rx_skip = s->slots[s->rx_slot].state != SLOT_FREE;
        }
        return;
    }
    s->rx_pos = pos + 1u;
    uint32_t end = STUB_HEADER_BYTES + s->rx_len; /* valid once pos > 4 */
    if (pos < 5u || pos < end) {
        s->rx_crc = crc_byte(s, s->rx_crc, b);
    }
    if (pos == 1u) {
        s->rx_type = b;
    } else if (pos == 2u) {
        s->rx_seq = b;
    } else if (pos == 3u) {
        s->rx_len = b;
    } else if (pos == 4u) {
        s->rx_len |= b << 8;
        if (s->rx_len > STUB_MAX_PAYLOAD) {
            s->rx_len = 0;
            rx_complete(s, STUB_STATUS_BAD_LENGTH);
        }
    } else if (pos < end) {
        if (s->rx_skip == 0) {
            s->slots[s->rx_slot].data[pos - STUB_HEADER_BYTES] = (uint8_t)b;
        }
    } else {
        s->rx_got |= b << (8u * (pos - end));
        if (pos - end == 3u) {
            rx_complete(s, s->rx_got == ~s->rx_crc ? STUB_STATUS_OK : STUB_STATUS_BAD_CRC);
        }
    }
}

/*
 * The one place the receiver is read: called at least once per byte time
 * from every loop (at 2 Mbaud a byte takes 5.5 us, 352 cycles at 64 MHz;
 * no loop of this program runs that long between two calls). DR holds one
 * byte while the next shifts in, so a byte is lost (ORE, RM0008 27.6.1)
 * only when two byte times pass without a call: counted, and reported by
 * PING.
 */
static void poll(stub *s)
{
    tick(s);
    uint32_t sr = REG(U_SR);
    if ((sr & SR_RXNE) == 0) {
        if (s->rx_pos != 0 && s->ms - s->rx_ms > FRAME_GAP_MS) {
            s->rx_pos = 0; /* a frame cut short: hunt for the next SOF */
        }
        return;
    }
    uint32_t b = REG(U_DR) & 0xFFu; /* bit 8 is the parity bit (M = 1, PCE) */
    if ((sr & SR_ORE) != 0) {
        s->overruns++;
    }
    if ((sr & (SR_PE | SR_FE | SR_NE)) != 0) {
        s->line_errors++;
    }
    s->rx_ms = s->ms;
    s->last_ms = s->ms;
    rx_byte(s, b);
}

/* Waits, at most `ms` (with WAIT_CLEAR: for the bits of mask to clear,
 * else to be set), serving the receiver meanwhile. Returns 0 on timeout. */
#define WAIT_CLEAR 0x80000000u
static uint32_t wait_poll(stub *s, uint32_t address, uint32_t mask, uint32_t ms)
{
    uint32_t start = s->ms, want = (ms & WAIT_CLEAR) != 0 ? 0u : mask;
    while ((REG(address) & mask) != want) {
        poll(s);
        if (s->ms - start > (ms & ~WAIT_CLEAR)) {
            return 0;
        }
    }
    return 1;
}

static void send_raw(stub *s, uint32_t b)
{
    wait_poll(s, U_SR, SR_TXE, TX_WAIT_MS);
    REG(U_DR) = b & 0xFFu;
}

static void send_byte(stub *s, uint32_t b)
{
    s->tx_crc = crc_byte(s, s->tx_crc, b);
    send_raw(s, b);
}

/*
 * A frame whose payload is the common head (status, v1, v2: 9 bytes) then
 * `body` (may be flash). Every byte waits for TXE with the receiver served.
 */
static void send_frame(stub *s, uint32_t type, uint32_t seq, uint32_t status,
                       const volatile uint8_t *body, uint32_t body_len)
{
    uint8_t head[14];
    uint32_t len = 9u + body_len;
    head[0] = (uint8_t)type;
    head[1] = (uint8_t)seq;
    head[2] = (uint8_t)len;
    head[3] = (uint8_t)(len >> 8);
    head[4] = (uint8_t)status;
    __builtin_memcpy(head + 5, &s->v1, 4);
    __builtin_memcpy(head + 9, &s->v2, 4);
    s->tx_crc = 0xFFFFFFFFu;
    send_raw(s, STUB_SOF);
    for (uint32_t i = 0; i < 13u; i++) {
        send_byte(s, head[i]);
    }
    for (uint32_t i = 0; i < body_len; i++) {
        send_byte(s, body[i]);
    }
    uint32_t crc = ~s->tx_crc;
    for (uint32_t i = 0; i < 32u; i += 8u) {
        send_raw(s, crc >> i);
    }
    s->last_ms = s->ms;
}

/* A little-endian word at any alignment: one LDR, the Cortex-M3 takes
 * unaligned word accesses (PM0056 3.3.5). */
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/* Sets USART1 on PA9/PA10 to 8E1 with divisor `brr` (RM0008 27.3.4). */
static void usart_setup(stub *s, uint32_t brr)
{
    REG(RCC_APB2ENR) |= APB2_IOPA_USART1;
    /* PA9 alternate-function push-pull, PA10 input with pull-up (a line
     * nobody drives is not a start bit). RM0008 9.2.2, 9.1.11. */
    REG(GPIOA_CRH) = (REG(GPIOA_CRH) & ~0xFF0u) | 0x8B0u;
    REG(GPIOA_BSRR) = 1u << 10;
    REG(U_CR1) = 0;
    REG(U_CR2) = 0;
    REG(U_CR3) = 0;
    REG(U_BRR) = brr;
    REG(U_CR1) = CR1_8E1 | CR1_RXNEIE; /* RXNE wakes WFI; PRIMASK masks the IRQ */
    REG(NVIC_ISER1) = IRQ_USART1;
    (void)REG(U_SR);
    (void)REG(U_DR);
    s->brr = brr;
    s->rx_pos = 0;
}

/* The divisor for `baud` on this clock; 0 when it misses by over 2 %. */
static uint32_t divisor(const stub *s, uint32_t baud)
{
    if (baud == 0) {
        return 0;
    }
    uint32_t brr = (PCLK(s) + baud / 2u) / baud;
    if (brr < 16u || brr > 0xFFFFu) {
        return 0;
    }
    uint32_t got = PCLK(s) / brr;
    uint32_t off = got > baud ? got - baud : baud - got;
    return off * 50u <= baud ? brr : 0;
}

/*
 * The clock (RM0008 7.2, 7.3.1, 7.3.2): HSE 8 MHz x9 = 72 MHz when the
 * crystal starts within HSE_WAIT_MS, else HSI/2 x16 = 64 MHz; HSI 8 MHz
 * should the PLL not lock. Two flash wait states before the switch
 * (PM0075 3.1: 48 < SYSCLK <= 72 MHz; RM0008 3.3.3). PCLK1 at /2 (36 MHz
 * at most), PCLK2 = SYSCLK for USART1. The HSI stays on: the FPEC needs it
 * to program and erase (RM0008 3.3.3).
 */
static void clock_setup(stub *s)
{
    REG(RCC_CR) |= CR_HSION;
    set_systick(8000000u);
    wait_poll(s, RCC_CR, CR_HSIRDY, 2u);
    REG(RCC_CFGR) = 0; /* SYSCLK = HSI, every bus /1 */
    wait_poll(s, RCC_CFGR, CFGR_SWS_MASK, WAIT_CLEAR | 2u);
    REG(RCC_CR) &= ~CR_PLLON; /* PLL settings are writable only when off */
    wait_poll(s, RCC_CR, CR_PLLRDY, WAIT_CLEAR | 2u);
    REG(RCC_CR) |= CR_HSEON;
    uint32_t cfgr;
    if (wait_poll(s, RCC_CR, CR_HSERDY, HSE_WAIT_MS)) {
        cfgr = CFGR_PLLSRC | CFGR_PLLMUL(9u) | CFGR_PPRE1_2;
        s->clock = STUB_CLOCK_HSE_PLL;
        PCLK(s) = 72000000u; /* the crystal's: exact */
    } else {
        REG(RCC_CR) &= ~CR_HSEON;
        cfgr = CFGR_PLLMUL(16u) | CFGR_PPRE1_2;
        s->clock = STUB_CLOCK_HSI_PLL;
        s->hsi_mul = 8u; /* PCLK2 = 8 f_HSI */
        PCLK(s) = 64000000u;
    }
    REG(RCC_CFGR) = cfgr;
    REG(FLASH_ACR) = ACR_72MHZ;
    REG(RCC_CR) |= CR_PLLON;
    if (wait_poll(s, RCC_CR, CR_PLLRDY, PLL_WAIT_MS)) {
        REG(RCC_CFGR) = cfgr | CFGR_SW_PLL;
        if (wait_poll(s, RCC_CFGR, CFGR_SWS_PLL, 2u)) {
            return;
        }
    }
    REG(RCC_CFGR) = 0;
    s->clock = STUB_CLOCK_HSI;
    s->hsi_mul = 1u;
    PCLK(s) = 8000000u;
}

/* Back to the reset clock (HSI, PLL and HSE off, no wait states) for the
 * application, which expects to find the chip as after a reset. */
static void clock_restore(stub *s)
{
    REG(SYST_CSR) = 0;
    /* Nothing pending for the application once it clears PRIMASK. */
    REG(U_CR1) = CR1_8E1;
    REG(NVIC_ICER1) = IRQ_USART1;
    REG(NVIC_ICPR1) = IRQ_USART1;
    REG(SCB_ICSR) = ICSR_PENDSTCLR;
    REG(RCC_CFGR) &= ~3u;
    wait_poll(s, RCC_CFGR, CFGR_SWS_MASK, WAIT_CLEAR | 2u);
    REG(RCC_CFGR) = 0;
    REG(RCC_CR) &= ~(CR_PLLON | CR_HSEON);
    REG(FLASH_ACR) = ACR_RESET;
}

/*
 * How fast PCLK2 really runs, from the divisor the ROM measured
 * (docs/spec/stub.md, "Rate calibration"). The F103 ROM measured the
 * host's 0x7F at 24 MHz = 3 x HSI, so BRR_rom = 3 f_HSI / B0. With the
 * host's exact rate B0 (a standard rate the measurement lies within 3 %
 * of, or the one the host tells), f_HSI = BRR_rom B0 / 3, whatever the
 * HSI's trim error. On the HSE the clock is the crystal's.
 */
static void calibrate(stub *s, uint32_t host_baud)
{
    uint32_t b0 = host_baud;
    uint32_t est = BRR_ROM(s) != 0 ? 24000000u / BRR_ROM(s) : 0u; /* the HSI as nominal */
    /* A rate from the host more than 1/16 away from what the ROM measured
     * is not the autobaud's (and would overflow below): not used. */
    if (est != 0 && (b0 > est + est / 16u || b0 < est - est / 16u)) {
        b0 = est; /* then snapped to a standard rate */
        for (uint32_t base = 1200u; base <= 1800u; base += 600u) {
            for (uint32_t r = base; r <= 230400u; r *= 2u) {
                uint32_t off = r > b0 ? r - b0 : b0 - r;
                if (off * 100u <= r * SNAP_PERCENT) {
                    b0 = r;
                }
            }
        }
    }
    BAUD(s) = b0 != 0 ? b0 : 115200u;
    if (s->hsi_mul != 0 && BRR_ROM(s) != 0) {
        PCLK(s) = s->hsi_mul * (BRR_ROM(s) * BAUD(s) / 3u);
    }
}

/* ---- flash ---------------------------------------------------------- */

static uint32_t in_declared(const stub *s, uint32_t address, uint32_t len)
{
    for (uint32_t i = 0; i < s->nranges; i++) {
        uint32_t a = s->range_addr[i], n = s->range_len[i];
        if (address >= a && len <= n && address - a <= n - len) {
            return 1;
        }
    }
    return 0;
}

static uint32_t readable(const stub *s, uint32_t address, uint32_t len)
{
    uint32_t end = address + len;
    if (end < address) {
        return 0;
    }
    return (address >= FLASH_BASE && end <= s->flash_end) ||
           (address >= SYSMEM_BASE && end <= SYSMEM_END);
}

/* Waits for the FPEC (bounded), serving the USART; returns a status with
 * the controller's error flags by name (PM0075 3.4). */
static uint32_t fpec_wait(stub *s, uint32_t ms)
{
    uint32_t done = wait_poll(s, FLASH_SR, FSR_BSY, WAIT_CLEAR | ms);
    uint32_t sr = REG(FLASH_SR);
    REG(FLASH_SR) = FSR_PGERR | FSR_WRPRTERR | FSR_EOP; /* write 1 to clear */
    if (!done) {
        return STUB_STATUS_FLASH_TIMEOUT;
    }
    if ((sr & FSR_WRPRTERR) != 0) {
        return STUB_STATUS_WRPRTERR;
    }
    if ((sr & FSR_PGERR) != 0) {
        return STUB_STATUS_PGERR;
    }
    return STUB_STATUS_OK;
}

/* PM0075 2.3.1: KEY1 then KEY2; a wrong sequence locks until reset. */
static uint32_t fpec_unlock(void)
{
    if ((REG(FLASH_CR) & FCR_LOCK) != 0) {
        REG(FLASH_KEYR) = FLASH_KEY1;
        REG(FLASH_KEYR) = FLASH_KEY2;
    }
    return (REG(FLASH_CR) & FCR_LOCK) == 0;
}

/* Page erase or mass erase (PM0075 2.3.4). */
static uint32_t fpec_erase(stub *s, uint32_t address, uint32_t mass)
{
    uint32_t op = mass ? FCR_MER : FCR_PER;
    REG(FLASH_CR) = op;
    if (!mass) {
        REG(FLASH_AR) = address;
    }
    REG(FLASH_CR) = op | FCR_STRT;
    uint32_t status = fpec_wait(s, ERASE_WAIT_MS);
    REG(FLASH_CR) = 0;
    return status;
}

/* Half-words (PM0075 2.3.3), erased ones (0xFFFF) skipped; each checked by
 * reading it back. v1 gets the address of the last one tried. */
static uint32_t fpec_program(stub *s, uint32_t address, const uint8_t *data, uint32_t len)
{
    uint32_t status = STUB_STATUS_OK;
    REG(FLASH_CR) = FCR_PG;
    for (uint32_t i = 0; i < len && status == STUB_STATUS_OK; i += 2u) {
        uint32_t v = data[i] | (uint32_t)data[i + 1u] << 8;
        s->v1 = address + i;
        if (v == 0xFFFFu) {
            continue;
        }
        HALF(address + i) = (uint16_t)v;
        status = fpec_wait(s, PROGRAM_WAIT_MS);
        if (status == STUB_STATUS_OK && HALF(address + i) != v) {
            status = STUB_STATUS_VERIFY;
        }
    }
    REG(FLASH_CR) = 0;
    return status;
}

/* ---- commands ------------------------------------------------------- */

static uint32_t cmd_declare(stub *s, const uint8_t *d, uint32_t len)
{
    uint32_t n = (len - 4u) / 8u, page = get32(d);
    s->nranges = 0;
    if (len < 4u || (len - 4u) % 8u != 0 || n > STUB_MAX_RANGES) {
        return STUB_STATUS_BAD_LENGTH;
    }
    if (page != 1024u && page != 2048u) {
        return STUB_STATUS_BAD_ALIGN;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = get32(d + 4u + 8u * i), size = get32(d + 8u + 8u * i);
        if (size == 0 || a < FLASH_BASE || !readable(s, a, size) || a + size > s->flash_end) {
            return STUB_STATUS_NOT_DECLARED;
        }
        s->range_addr[i] = a;
        s->range_len[i] = size;
    }
    s->page_size = page;
    s->nranges = n;
    return STUB_STATUS_OK;
}

static uint32_t cmd_erase(stub *s, uint32_t a, uint32_t len)
{
    if (a == 0xFFFFFFFFu) {
        return in_declared(s, FLASH_BASE, s->flash_end - FLASH_BASE) ? fpec_erase(s, 0, 1)
                                                                     : STUB_STATUS_NOT_DECLARED;
    }
    if (s->page_size == 0 || len == 0 || ((a | len) & (s->page_size - 1u)) != 0) {
        return STUB_STATUS_BAD_ALIGN;
    }
    if (!in_declared(s, a, len)) {
        return STUB_STATUS_NOT_DECLARED;
    }
    uint32_t status = STUB_STATUS_OK;
    for (uint32_t off = 0; off < len && status == STUB_STATUS_OK; off += s->page_size) {
        s->v1 = a + off;
        status = fpec_erase(s, a + off, 0);
    }
    return status;
}

static uint32_t cmd_crc(stub *s, const uint8_t *d, uint32_t len)
{
    if (len % 8u != 0 || len == 0 || len > 8u * STUB_MAX_RANGES) {
        return STUB_STATUS_BAD_LENGTH;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < len; i += 8u) {
        uint32_t a = get32(d + i), n = get32(d + i + 4u);
        if (!readable(s, a, n)) {
            return STUB_STATUS_NOT_DECLARED;
        }
        for (uint32_t k = 0; k < n; k++) {
            c = crc_byte(s, c, *(const volatile uint8_t *)(a + k));
            if ((k & 7u) == 0) {
                poll(s); /* 8 bytes of CRC: about 200 cycles, under a byte time */
            }
        }
    }
    s->v1 = ~c;
    return STUB_STATUS_OK;
}

static __attribute__((noreturn)) void start_application(stub *s, uint32_t vectors)
{
    clock_restore(s);
    if (vectors == 0xFFFFFFFFu) {
        system_reset();
    }
    REG(SCB_VTOR) = vectors; /* PM0056 4.4.4 */
    uint32_t sp = REG(vectors), pc = REG(vectors + 4u);
    __asm__ volatile("msr msp, %0\n\t"
                     "cpsie i\n\t"
                     "bx %1\n" ::"r"(sp),
                     "r"(pc)
                     : "memory");
    __builtin_unreachable();
}

/*
 * One frame, in sequence. The reply is the common head (status, v1, v2)
 * and, for PING and READ, a body. Work the reply must precede (a rate
 * switch, starting the application) comes after it.
 */
static void execute(stub *s, const slot *sl)
{
    const uint8_t *d = sl->data;
    uint32_t type = sl->type, len = sl->len;
    uint32_t a = get32(d), n = get32(d + 4);
    uint32_t status = STUB_STATUS_OK, brr = 0;
    const volatile uint8_t *body = 0;
    uint32_t body_len = 0;
    s->v1 = a;
    s->v2 = n;
    if (type == STUB_CMD_PING) {
        s->v1 = s->overruns;
        s->v2 = s->line_errors | s->overflows << 16;
        body = d;
        body_len = len;
    } else if (type == STUB_CMD_BAUD) {
        /* rate, the rate the ROM's autobaud measured (calibration; 0: the
         * snapped estimate), sync window ms */
        status = STUB_STATUS_BAD_LENGTH;
        if (len == 12u) {
            calibrate(s, n);
            brr = divisor(s, a);
            status = brr != 0 ? STUB_STATUS_OK : STUB_STATUS_BAD_RATE;
            s->v1 = brr != 0 ? PCLK(s) / brr : 0;
            s->v2 = brr;
        }
    } else if (type == STUB_CMD_DECLARE) {
        status = cmd_declare(s, d, len);
    } else if (type == STUB_CMD_ERASE || type == STUB_CMD_WRITE) {
        if (!fpec_unlock()) {
            status = STUB_STATUS_LOCKED;
        } else if (type == STUB_CMD_ERASE) {
            status = len == 8u ? cmd_erase(s, a, n) : STUB_STATUS_BAD_LENGTH;
        } else if (len < 6u || len > STUB_MAX_DATA + 4u) {
            status = STUB_STATUS_BAD_LENGTH;
        } else if (((a | len) & 1u) != 0) {
            status = STUB_STATUS_BAD_ALIGN;
        } else if (!in_declared(s, a, len - 4u)) {
            status = STUB_STATUS_NOT_DECLARED;
        } else {
            status = fpec_program(s, a, d + 4, len - 4u);
        }
    } else if (type == STUB_CMD_CRC) {
        status = cmd_crc(s, d, len);
    } else if (type == STUB_CMD_READ) {
        if (len != 8u || n > STUB_MAX_DATA) {
            status = STUB_STATUS_BAD_LENGTH;
        } else if (!readable(s, a, n)) {
            status = STUB_STATUS_NOT_DECLARED;
        } else {
            body = (const volatile uint8_t *)a;
            body_len = n;
        }
    } else if (type == STUB_CMD_START || type == STUB_CMD_RESET) {
        if (type == STUB_CMD_RESET || len != 4u) {
            a = 0xFFFFFFFFu;
        }
        if (a != 0xFFFFFFFFu && (!readable(s, a, 8) || (a & 0x1FFu) != 0)) {
            status = STUB_STATUS_BAD_ALIGN; /* VTOR: TBLOFF is bits 29:9 (PM0056 4.4.4) */
        }
    } else if (type != STUB_CMD_SYNC) {
        status = STUB_STATUS_BAD_TYPE;
    }
    send_frame(s, type | STUB_REPLY, sl->seq, status, body, body_len);
    if (status != STUB_STATUS_OK ||
        (brr == 0 && type != STUB_CMD_START && type != STUB_CMD_RESET)) {
        return;
    }
    wait_poll(s, U_SR, SR_TC, TX_WAIT_MS); /* the reply out at the old rate */
    if (brr == 0) {
        start_application(s, a);
    }
    /* Rate switch (docs/spec/stub.md): the first good frame at the new rate
     * (the host's SYNC) settles it; none within the host's window and
     * run() goes back to the old divisor, as the host does. */
    uint32_t window = get32(d + 8);
    s->switch_window = window < 10u ? 10u : window > 2000u ? 2000u : window;
    s->switch_from = s->brr;
    s->switch_ms = s->ms;
    usart_setup(s, brr);
}

static __attribute__((noreturn)) void run(stub *s)
{
    s->v1 = STUB_VERSION;
    s->v2 = s->clock | (uint32_t)fpec_unlock() << 8;
    s->info[INFO_FLASH_KB] = (s->flash_end - FLASH_BASE) >> 10;
    s->info[INFO_LIMITS] = STUB_MAX_DATA | STUB_WINDOW << 16;
    s->info[INFO_IDLE_MS] = IDLE_RESET_MS;
    send_frame(s, STUB_HELLO, 0, STUB_STATUS_OK, (const uint8_t *)s->info, sizeof s->info);

    for (;;) {
        poll(s);
        slot *sl = &s->slots[s->exec_slot];
        if (sl->state != SLOT_READY) {
            if (s->switch_from != 0 && s->ms - s->switch_ms > s->switch_window) {
                usart_setup(s, s->switch_from); /* no sync at the new rate: back */
                s->switch_from = 0;
            }
            if (s->ms - s->last_ms > IDLE_RESET_MS) {
                system_reset(); /* the host is gone: back to the ROM or the application */
            }
            /* Nothing to do until a byte or the next millisecond: sleep.
             * With PRIMASK set, a pending RXNE interrupt or SysTick wakes
             * WFI without being taken (PM0056 2.5.2); the USART's latched
             * pending bit is cleared first, and one that comes after the
             * check makes WFI return at once. */
            REG(NVIC_ICPR1) = IRQ_USART1;
            if ((REG(U_SR) & SR_RXNE) == 0) {
                __asm__ volatile("wfi" ::: "memory");
            }
            continue;
        }
        uint32_t behind = (s->expected_seq - sl->seq) & 0xFFu;
        s->v1 = s->v2 = 0;
        if (sl->status != STUB_STATUS_OK) {
            send_frame(s, STUB_NAK, sl->seq, sl->status, 0, 0);
        } else if (behind != 0) {
            /* Go-back-N: frames after a refused one are refused too; one
             * that already ran (its reply lost) is not run again. */
            s->switch_from = 0; /* a good frame: the new rate works */
            send_frame(s, STUB_NAK, sl->seq,
                       behind <= 2u * STUB_WINDOW ? STUB_STATUS_DUPLICATE : STUB_STATUS_BAD_SEQ, 0,
                       0);
        } else {
            s->switch_from = 0;
            s->expected_seq = (s->expected_seq + 1u) & 0xFFu;
            execute(s, sl);
        }
        sl->state = SLOT_FREE;
        s->exec_slot = (s->exec_slot + 1u) % STUB_WINDOW;
    }
}

void stub_entry(void)
{
    __asm__ volatile("cpsid i" ::: "memory"); /* VTOR still points at the ROM */
    uint32_t brr_rom = REG(U_BRR);
    /* A frame the ROM still sends (its last ACK) ends at its own rate. */
    for (uint32_t i = 0; i < 100000u && (REG(U_CR1) & CR1_UE) != 0 && (REG(U_SR) & SR_TC) == 0;
         i++) {
    }
    stub ctx;
    uint32_t *w = (uint32_t *)&ctx;
    for (uint32_t i = 0; i < sizeof ctx / 4u; i++) {
        w[i] = 0;
    }
    stub *s = &ctx;
    for (uint32_t i = 0; i < 16u; i++) {
        uint32_t c = i;
        for (uint32_t k = 0; k < 4u; k++) {
            c = (c & 1u) != 0 ? (c >> 1) ^ CRC32_POLY : c >> 1;
        }
        s->crc_table[i] = c;
    }
    /* 24 MHz / BRR_rom from 1200 to 500000 baud, else not the F1 ROM's. */
    BRR_ROM(s) = brr_rom >= 48u && brr_rom <= 20000u ? brr_rom : 0u;
    clock_setup(s);
    calibrate(s, 0);
    set_systick(PCLK(s));
    s->flash_end = FLASH_BASE + ((uint32_t)HALF(FLASH_SIZE_REG) << 10);
    usart_setup(s, divisor(s, BAUD(s)) != 0 ? divisor(s, BAUD(s)) : PCLK(s) / BAUD(s));
    run(s);
}

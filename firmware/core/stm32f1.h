/*
 * The STM32F10x peripheral registers this firmware uses, written from the
 * reference manual RM0008 (memory map, RCC, FLASH, GPIO/AFIO, USART) and
 * the Cortex-M3 system control space. Only what the drivers touch is here.
 *
 * Every register block is a struct; the _Static_asserts below pin each
 * offset and base address to the manual's numbers, so a missing reserved
 * word or a typo in a base address fails the build instead of writing to
 * the wrong register.
 */
#ifndef FW_STM32F1_H
#define FW_STM32F1_H

#include <stddef.h>
#include <stdint.h>

#define FW_REG volatile uint32_t

/* ---- Memory map (RM0008 section 3.3) -------------------------------------- */

#define PERIPH_BASE 0x40000000u
#define APB1_BASE   PERIPH_BASE
#define APB2_BASE   (PERIPH_BASE + 0x10000u)
#define AHB_BASE    (PERIPH_BASE + 0x18000u)

#define USART2_BASE (APB1_BASE + 0x4400u)
#define AFIO_BASE   (APB2_BASE + 0x0000u)
#define GPIOA_BASE  (APB2_BASE + 0x0800u)
#define GPIOB_BASE  (APB2_BASE + 0x0C00u)
#define GPIOC_BASE  (APB2_BASE + 0x1000u)
#define USART1_BASE (APB2_BASE + 0x3800u)
#define RCC_BASE    (AHB_BASE + 0x9000u)
#define FLASH_BASE  (AHB_BASE + 0xA000u)

_Static_assert(USART2_BASE == 0x40004400u, "USART2 at 0x40004400");
_Static_assert(AFIO_BASE == 0x40010000u, "AFIO at 0x40010000");
_Static_assert(GPIOA_BASE == 0x40010800u, "GPIOA at 0x40010800");
_Static_assert(GPIOB_BASE == 0x40010C00u, "GPIOB at 0x40010C00");
_Static_assert(GPIOC_BASE == 0x40011000u, "GPIOC at 0x40011000");
_Static_assert(USART1_BASE == 0x40013800u, "USART1 at 0x40013800");
_Static_assert(RCC_BASE == 0x40021000u, "RCC at 0x40021000");
_Static_assert(FLASH_BASE == 0x40022000u, "flash interface at 0x40022000");

/* ---- RCC (RM0008 section 7.3) --------------------------------------------- */

typedef struct rcc_regs {
    FW_REG CR;
    FW_REG CFGR;
    FW_REG CIR;
    FW_REG APB2RSTR;
    FW_REG APB1RSTR;
    FW_REG AHBENR;
    FW_REG APB2ENR;
    FW_REG APB1ENR;
    FW_REG BDCR;
    FW_REG CSR;
} rcc_regs;
_Static_assert(offsetof(rcc_regs, CFGR) == 0x04, "RCC_CFGR");
_Static_assert(offsetof(rcc_regs, APB2ENR) == 0x18, "RCC_APB2ENR");
_Static_assert(offsetof(rcc_regs, APB1ENR) == 0x1C, "RCC_APB1ENR");
_Static_assert(offsetof(rcc_regs, CSR) == 0x24, "RCC_CSR");

#define RCC ((rcc_regs *)RCC_BASE)

#define RCC_CR_HSION  (1u << 0)
#define RCC_CR_HSIRDY (1u << 1)
#define RCC_CR_HSEON  (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_CSSON  (1u << 19)
#define RCC_CR_PLLON  (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)

#define RCC_CFGR_SW_MASK     (3u << 0)
#define RCC_CFGR_SW_HSI      (0u << 0)
#define RCC_CFGR_SW_HSE      (1u << 0)
#define RCC_CFGR_SW_PLL      (2u << 0)
#define RCC_CFGR_SWS_MASK    (3u << 2)
#define RCC_CFGR_SWS_PLL     (2u << 2)
#define RCC_CFGR_HPRE_MASK   (15u << 4)
#define RCC_CFGR_PPRE1_MASK  (7u << 8)
#define RCC_CFGR_PPRE1_DIV2  (4u << 8)
#define RCC_CFGR_PPRE2_MASK  (7u << 11)
#define RCC_CFGR_PLLSRC_HSE  (1u << 16)
#define RCC_CFGR_PLLXTPRE    (1u << 17)
#define RCC_CFGR_PLLMUL_MASK (15u << 18)
#define RCC_CFGR_PLLMUL(n)   ((uint32_t)((n)-2u) << 18) /* x2 .. x16 */
#define RCC_CFGR_USBPRE      (1u << 22)
#define RCC_CFGR_MCO_MASK    (7u << 24)
_Static_assert(RCC_CFGR_PLLMUL(9) == 0x001C0000u, "PLLMUL x9 is 0111 in bits 21:18");
_Static_assert(RCC_CFGR_PLLMUL(16) == 0x00380000u, "PLLMUL x16 is 1110 in bits 21:18");
_Static_assert(RCC_CFGR_PPRE1_DIV2 == 0x00000400u, "APB1 /2 is 100 in bits 10:8");

#define RCC_APB2ENR_AFIOEN     (1u << 0)
#define RCC_APB2ENR_IOPAEN     (1u << 2)
#define RCC_APB2ENR_IOPBEN     (1u << 3)
#define RCC_APB2ENR_IOPCEN     (1u << 4)
#define RCC_APB2ENR_USART1EN   (1u << 14)
#define RCC_APB1ENR_USART2EN   (1u << 17)
#define RCC_APB2RSTR_USART1RST (1u << 14)
#define RCC_APB1RSTR_USART2RST (1u << 17)

/* ---- Flash interface (RM0008 section 3.3.3) -------------------------------- */

typedef struct flash_regs {
    FW_REG ACR;
} flash_regs;

#define FLASH ((flash_regs *)FLASH_BASE)

#define FLASH_ACR_LATENCY_MASK (7u << 0)
#define FLASH_ACR_LATENCY(n)   ((uint32_t)(n) << 0) /* 0: <= 24 MHz, 1: <= 48, 2: <= 72 */
#define FLASH_ACR_PRFTBE       (1u << 4)

/* ---- GPIO and AFIO (RM0008 section 9) ------------------------------------- */

typedef struct gpio_regs {
    FW_REG CRL; /* pins 0-7, 4 bits each: CNF[1:0] MODE[1:0] */
    FW_REG CRH; /* pins 8-15 */
    FW_REG IDR;
    FW_REG ODR;
    FW_REG BSRR; /* low half sets, high half resets: atomic against interrupts */
    FW_REG BRR;
    FW_REG LCKR;
} gpio_regs;
_Static_assert(offsetof(gpio_regs, IDR) == 0x08, "GPIOx_IDR");
_Static_assert(offsetof(gpio_regs, BSRR) == 0x10, "GPIOx_BSRR");
_Static_assert(offsetof(gpio_regs, BRR) == 0x14, "GPIOx_BRR");

#define GPIOA ((gpio_regs *)GPIOA_BASE)
#define GPIOB ((gpio_regs *)GPIOB_BASE)
#define GPIOC ((gpio_regs *)GPIOC_BASE)

/* A pin's 4-bit configuration nibble, MODE in bits 1:0 and CNF in 3:2. */
#define GPIO_CFG(cnf, mode)     ((uint32_t)(((cnf) << 2) | (mode)))
#define GPIO_CFG_INPUT_FLOATING GPIO_CFG(1u, 0u)
#define GPIO_CFG_INPUT_PULL     GPIO_CFG(2u, 0u) /* ODR selects up (1) or down (0) */
#define GPIO_CFG_OUT_PP_2MHZ    GPIO_CFG(0u, 2u)
#define GPIO_CFG_OUT_OD_2MHZ    GPIO_CFG(1u, 2u)
#define GPIO_CFG_OUT_OD_10MHZ   GPIO_CFG(1u, 1u)
#define GPIO_CFG_AF_PP_10MHZ    GPIO_CFG(2u, 1u)
_Static_assert(GPIO_CFG_INPUT_FLOATING == 0x4u, "reset state of a pin is 0100");
_Static_assert(GPIO_CFG_INPUT_PULL == 0x8u, "input with pull is CNF=10 MODE=00");
_Static_assert(GPIO_CFG_OUT_OD_2MHZ == 0x6u, "open-drain 2 MHz is CNF=01 MODE=10");
_Static_assert(GPIO_CFG_AF_PP_10MHZ == 0x9u, "AF push-pull 10 MHz is CNF=10 MODE=01");

typedef struct afio_regs {
    FW_REG EVCR;
    FW_REG MAPR;
} afio_regs;
#define AFIO ((afio_regs *)AFIO_BASE)

/* ---- USART (RM0008 section 27.6) ------------------------------------------ */

typedef struct usart_regs {
    FW_REG SR;
    FW_REG DR;
    FW_REG BRR;
    FW_REG CR1;
    FW_REG CR2;
    FW_REG CR3;
    FW_REG GTPR;
} usart_regs;
_Static_assert(offsetof(usart_regs, BRR) == 0x08, "USART_BRR");
_Static_assert(offsetof(usart_regs, CR1) == 0x0C, "USART_CR1");
_Static_assert(offsetof(usart_regs, CR3) == 0x14, "USART_CR3");

#define USART1 ((usart_regs *)USART1_BASE)
#define USART2 ((usart_regs *)USART2_BASE)

#define USART_SR_PE   (1u << 0)
#define USART_SR_FE   (1u << 1)
#define USART_SR_NE   (1u << 2)
#define USART_SR_ORE  (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TC   (1u << 6)
#define USART_SR_TXE  (1u << 7)

#define USART_CR1_RE     (1u << 2)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_PS     (1u << 9) /* 1: odd parity */
#define USART_CR1_PCE    (1u << 10)
#define USART_CR1_M      (1u << 12) /* 9-bit word: 8 data bits + parity when PCE */
#define USART_CR1_UE     (1u << 13)
/* 8 data bits, even parity: the 9-bit word carries the parity bit. */
#define USART_CR1_8E1 (USART_CR1_M | USART_CR1_PCE)
_Static_assert(USART_CR1_8E1 == 0x1400u, "8E1 is M (bit 12) + PCE (bit 10), PS = 0");
_Static_assert(USART_CR1_UE == 0x2000u, "UE is bit 13");
_Static_assert(USART_SR_RXNE == 0x20u && USART_SR_TXE == 0x80u, "RXNE bit 5, TXE bit 7");

/* ---- Interrupt numbers (RM0008 table 63, connectivity line excluded) ------- */

#define IRQ_USART1     37
#define IRQ_USART2     38
#define IRQ_COUNT_F103 43 /* up to USBWakeUp: the vector table's peripheral entries */

/* ---- System memory ---------------------------------------------------------- */

#define SYSMEM_FLASH_SIZE_KB 0x1FFFF7E0u /* 16-bit flash size in KiB */

#endif /* FW_STM32F1_H */

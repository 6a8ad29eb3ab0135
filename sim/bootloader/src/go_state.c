/*
 * What a ROM bootloader leaves in the chip when its Go command jumps into
 * RAM: the state a program started by Go finds, replayed on the virtual F1
 * as the register writes the ROM makes (docs/simulator.md, "Code started by
 * Go"). The ROM's own code is not ours to run; its effect on the registers
 * is what a program must cope with.
 */
#include "internal.h"

/* Register addresses (RM0008 table 3 and the sections named below). */
#define RCC_CR      0x40021000u
#define RCC_CFGR    0x40021004u
#define RCC_APB2ENR 0x40021018u
#define GPIOA_CRH   0x40010804u
#define USART1_BRR  0x40013808u
#define USART1_CR1  0x4001380Cu
#define USART1_CR2  0x40013810u
#define USART1_GTPR 0x40013818u
#define IWDG_KR     0x40003000u
#define IWDG_PR     0x40003004u
#define SYST_CSR    0xE000E010u
#define SYST_RVR    0xE000E014u
#define SCB_VTOR    0xE000ED08u

/* The F103's ROM runs its USART from the PLL at HSI / 2 x 6. */
#define F103_ROM_PCLK2_HZ 24000000ll

/*
 * The STM32F103 ROM bootloader v2.2, from a public disassembly of the
 * medium-density part's system memory (../shared/notes/stm32-bootloader-
 * facts.md has the facts, docs/simulator.md the source):
 *
 * at start  IWDG prescaler /256 and a reload (the watchdog runs only if the
 *           option bytes start it); RCC_CFGR = 0x00100000 (PLL from HSI/2,
 *           x6), PLLON, RCC_CFGR = 0x00100002 (SYSCLK = PLL, 24 MHz);
 *           APB2ENR = 0x4004 (GPIOA, USART1); VTOR = 0; PA9 alternate
 *           function push-pull, PA10 floating input (GPIOA_CRH = 0x444444B4);
 *           SysTick on the core clock, stopped, LOAD = 0x80000.
 * at sync   BRR = the core cycles of one bit of the host's 0x7F (the ROM
 *           times seven bits with SysTick), CR2 = 0, GTPR = 0, CR1 = 0x340C
 *           (UE, M, PCE, TE, RE: 8 data bits, even parity).
 * at Go     RCC_CFGR &= 0xF8FF0000 (SYSCLK back to the HSI, prescalers 1);
 *           RCC_CR &= 0xFEF6FFFF (PLL, CSS, HSE off); RCC_CR &= ~HSEBYP;
 *           RCC_CFGR &= ~0x007F0000 (PLL source and multiplier); SysTick
 *           stopped; interrupts enabled. USART1, GPIOA and APB2ENR stay.
 *
 * So the program runs at 8 MHz on the HSI while USART1's BRR still holds
 * the value measured at 24 MHz: one third of the host's rate.
 */
static void f103_v22(vmcu *m, uint32_t host_baud, int32_t hsi_ppm)
{
    vmcu_poke32(m, IWDG_KR, 0x5555u);
    vmcu_poke32(m, IWDG_PR, 6u);
    vmcu_poke32(m, IWDG_KR, 0xAAAAu);
    vmcu_poke32(m, RCC_CFGR, 0x00100000u);
    vmcu_poke32(m, RCC_CR, vmcu_peek32(m, RCC_CR) | (1u << 24));
    vmcu_poke32(m, RCC_CFGR, 0x00100002u);
    vmcu_poke32(m, RCC_APB2ENR, 0x4004u);
    vmcu_poke32(m, SCB_VTOR, 0);
    vmcu_poke32(m, GPIOA_CRH, 0x444444B4u);
    vmcu_poke32(m, SYST_CSR, 4u);
    vmcu_poke32(m, SYST_RVR, 0x80000u);

    /* Counted in cycles of the ROM's real clock: BRR follows the HSI. */
    int64_t rom_hz = F103_ROM_PCLK2_HZ + F103_ROM_PCLK2_HZ * hsi_ppm / 1000000;
    vmcu_poke32(m, USART1_BRR, (uint32_t)(rom_hz / host_baud));
    vmcu_poke32(m, USART1_CR2, 0);
    vmcu_poke32(m, USART1_GTPR, 0);
    vmcu_poke32(m, USART1_CR1, 0x340Cu);

    vmcu_poke32(m, RCC_CFGR, vmcu_peek32(m, RCC_CFGR) & 0xF8FF0000u);
    vmcu_poke32(m, RCC_CR, vmcu_peek32(m, RCC_CR) & 0xFEF6FFFFu);
    vmcu_poke32(m, RCC_CR, vmcu_peek32(m, RCC_CR) & ~(1u << 18));
    vmcu_poke32(m, RCC_CFGR, vmcu_peek32(m, RCC_CFGR) & ~0x007F0000u);
    vmcu_poke32(m, SYST_CSR, 0);
}

void blsim_apply_go_state(vmcu *m, blsim_go_state state, uint32_t host_baud, int32_t hsi_ppm)
{
    vmcu_reset(m, true); /* BOOT0 high: system memory at 0 */
    if (state == BLSIM_GO_F103_V22) {
        f103_v22(m, host_baud, hsi_ppm);
    }
    /* BLSIM_GO_RESET_VALUES: AN3155 has the bootloader put the peripherals
     * it used back to their reset values before the jump. */
}

const char *blsim_go_state_name(blsim_go_state state)
{
    switch (state) {
    case BLSIM_GO_F103_V22:
        return "f103-v2.2";
    case BLSIM_GO_RESET_VALUES:
        return "reset-values";
    default:
        return "not-modelled";
    }
}

/*
 * The Cortex-M3 system control space as this firmware uses it (ARMv7-M
 * architecture reference: SysTick, NVIC, SCB, DWT cycle counter), and the
 * few instructions C cannot express.
 */
#ifndef FW_CORTEXM_H
#define FW_CORTEXM_H

#include <stddef.h>
#include <stdint.h>

typedef struct systick_regs {
    volatile uint32_t CTRL;
    volatile uint32_t LOAD; /* 24 bits */
    volatile uint32_t VAL;
    volatile uint32_t CALIB;
} systick_regs;
#define SYSTICK_BASE           0xE000E010u
#define SYSTICK                ((systick_regs *)SYSTICK_BASE)
#define SYSTICK_CTRL_ENABLE    (1u << 0)
#define SYSTICK_CTRL_TICKINT   (1u << 1)
#define SYSTICK_CTRL_CLKSOURCE (1u << 2) /* 1: the processor clock */
#define SYSTICK_LOAD_MAX       0x00FFFFFFu

/* Interrupt set-enable registers, one bit per IRQ, 32 per word. */
#define NVIC_ISER ((volatile uint32_t *)0xE000E100u)
/* Priority bytes, one per IRQ; the F1 implements the top 4 bits. */
#define NVIC_IPR ((volatile uint8_t *)0xE000E400u)

typedef struct scb_regs {
    volatile uint32_t CPUID;
    volatile uint32_t ICSR;
    volatile uint32_t VTOR;
    volatile uint32_t AIRCR;
    volatile uint32_t SCR;
    volatile uint32_t CCR;
    volatile uint32_t SHPR1;
    volatile uint32_t SHPR2;
    volatile uint32_t SHPR3; /* bits 31:24 SysTick priority */
} scb_regs;
#define SCB_BASE 0xE000ED00u
#define SCB      ((scb_regs *)SCB_BASE)
_Static_assert(offsetof(scb_regs, VTOR) == 0x08, "SCB_VTOR at 0xE000ED08");
_Static_assert(offsetof(scb_regs, AIRCR) == 0x0C, "SCB_AIRCR at 0xE000ED0C");
_Static_assert(offsetof(scb_regs, SHPR3) == 0x20, "SCB_SHPR3 at 0xE000ED20");
#define SCB_AIRCR_VECTKEY     (0x05FAu << 16)
#define SCB_AIRCR_SYSRESETREQ (1u << 2)

/* Debug exception and monitor control: TRCENA powers the DWT. */
#define DEMCR              (*(volatile uint32_t *)0xE000EDFCu)
#define DEMCR_TRCENA       (1u << 24)
#define DWT_CTRL           (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT         (*(volatile uint32_t *)0xE0001004u)
#define DWT_CTRL_CYCCNTENA (1u << 0)

static inline void cpu_wait_for_interrupt(void)
{
    __asm__ volatile("wfi" ::: "memory");
}

static inline void cpu_irq_disable(void)
{
    __asm__ volatile("cpsid i" ::: "memory");
}

static inline void cpu_irq_enable(void)
{
    __asm__ volatile("cpsie i" ::: "memory");
}

static inline void cpu_barrier(void)
{
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

static inline void nvic_enable(unsigned irq, uint8_t priority)
{
    NVIC_IPR[irq] = priority;
    NVIC_ISER[irq / 32u] = 1u << (irq % 32u);
}

/* Resets the whole chip; does not return. */
__attribute__((noreturn)) static inline void cpu_system_reset(void)
{
    cpu_barrier();
    SCB->AIRCR = SCB_AIRCR_VECTKEY | SCB_AIRCR_SYSRESETREQ;
    cpu_barrier();
    for (;;) {
    }
}

#endif /* FW_CORTEXM_H */

/*
 * Reset and the vector table, in C. The linker script (sections.ld) places
 * `vectors` at the start of flash and defines the symbols used below.
 */
#include "startup.h"

#include "board_api.h"
#include "cortexm.h"
#include "stm32f1.h"

#include <stddef.h>
#include <string.h>

/* From the linker script. */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _sstack[], _estack[];

typedef void (*vector_fn)(void);

/* ARMv7-M: the initial stack pointer, 15 system exceptions, then one entry
 * per peripheral interrupt (RM0008 table 63). */
typedef struct vector_table {
    const uint32_t *initial_sp;
    vector_fn system[15];
    vector_fn irq[IRQ_COUNT_F103];
} vector_table;
_Static_assert(offsetof(vector_table, system) == 0x04, "reset vector at offset 4");
_Static_assert(offsetof(vector_table, irq) == 16 * 4, "IRQ 0 at offset 0x40");
_Static_assert(offsetof(vector_table, irq[IRQ_USART1]) == 0xD4, "USART1 vector at 0xD4");
_Static_assert(offsetof(vector_table, irq[IRQ_USART2]) == 0xD8, "USART2 vector at 0xD8");
_Static_assert(IRQ_USART2 == IRQ_USART1 + 1, "the table below fills the IRQs around the two");

__attribute__((section(".isr_vector"), used)) const vector_table vectors = {
    .initial_sp = _estack,
    .system =
        {
            reset_handler,  /* 1 reset */
            fault_handler,  /* 2 NMI */
            fault_handler,  /* 3 HardFault */
            fault_handler,  /* 4 MemManage */
            fault_handler,  /* 5 BusFault */
            fault_handler,  /* 6 UsageFault */
            NULL,           /* 7-10 reserved */
            NULL,           /* */
            NULL,           /* */
            NULL,           /* */
            fault_handler,  /* 11 SVCall: never used */
            fault_handler,  /* 12 debug monitor: never used */
            NULL,           /* 13 reserved */
            fault_handler,  /* 14 PendSV: never used */
            systick_handler /* 15 SysTick */
        },
    .irq =
        {
            [0 ... IRQ_USART1 - 1] = fault_handler,
            [IRQ_USART1] = usart1_irq_handler,
            [IRQ_USART2] = usart2_irq_handler,
            [IRQ_USART2 + 1 ... IRQ_COUNT_F103 - 1] = fault_handler,
        },
};

#define STACK_PAINT 0xA5A5A5A5u

/* The linker's symbols are addresses, not C objects: compare and subtract
 * them as numbers. */
static uintptr_t addr(const void *symbol)
{
    return (uintptr_t)symbol;
}

void reset_handler(void)
{
    /* Before anything that takes time (copying .data, the clocks' start-up
     * waits): the pins the target must not see floating. */
    board_early_init();
    memcpy(_sdata, _sidata, addr(_edata) - addr(_sdata));
    memset(_sbss, 0, addr(_ebss) - addr(_sbss));
    /* Paint the stack below what this function uses, so that its
     * high-water mark can be measured later. */
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uintptr_t a = addr(_sstack); a + 64u < sp; a += 4u) {
        *(volatile uint32_t *)a = STACK_PAINT;
    }
    /* The vector table may be reached through the alias at 0 (boot from
     * flash) or not (started by a bootloader's Go): name it explicitly. */
    SCB->VTOR = (uint32_t)(uintptr_t)&vectors;
    cpu_barrier();
    (void)main();
    board_panic("main returned");
}

void fault_handler(void)
{
    board_panic("fault");
}

uint32_t stack_size(void)
{
    return (uint32_t)(addr(_estack) - addr(_sstack));
}

uint32_t stack_used_max(void)
{
    uintptr_t a = addr(_sstack);
    while (a < addr(_estack) && *(const volatile uint32_t *)a == STACK_PAINT) {
        a += 4u;
    }
    return (uint32_t)(addr(_estack) - a);
}

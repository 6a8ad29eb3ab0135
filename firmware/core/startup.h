/*
 * The exception and interrupt handlers the vector table (startup.c) names,
 * and what the startup code offers the rest of the firmware.
 */
#ifndef FW_STARTUP_H
#define FW_STARTUP_H

#include <stdint.h>

void reset_handler(void);
void fault_handler(void);
void systick_handler(void);
void usart1_irq_handler(void);
void usart2_irq_handler(void);

/* The most stack used since reset, in bytes (the stack is painted at
 * reset and the untouched part measured), and the stack's size. */
uint32_t stack_used_max(void);
uint32_t stack_size(void);

int main(void);

#endif /* FW_STARTUP_H */

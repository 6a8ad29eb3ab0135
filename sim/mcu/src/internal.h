/*
 * The virtual STM32F1's state, shared by its source files: vmcu.c (the
 * core, memory map, time, exceptions), clock.c (RCC), flash.c (the flash
 * interface), usart.c, gpio.c (GPIO and AFIO), system.c (SysTick, NVIC,
 * SCB, DWT, IWDG, CRC unit).
 */
#ifndef VMCU_INTERNAL_H
#define VMCU_INTERNAL_H

#include "vmcu/vmcu.h"

#include <unicorn/unicorn.h>

#include <stdarg.h>

#define PS_PER_NS 1000ull
/* Polls of an empty receiver, with nothing else happening, after which the
 * CPU counts as waiting for input (VMCU_STOP_WAITING). */
#define IDLE_POLLS 64u
#define NEVER      UINT64_MAX

/* Peripheral bases (RM0008 table 3) and the core's (PM0056 4.1). */
#define IWDG_BASE   0x40003000u
#define USART2_BASE 0x40004400u
#define USART3_BASE 0x40004800u
#define AFIO_BASE   0x40010000u
#define GPIOA_BASE  0x40010800u
#define USART1_BASE 0x40013800u
#define RCC_BASE    0x40021000u
#define FLASH_BASE  0x40022000u
#define CRC_BASE    0x40023000u
#define APB_START   0x40000000u
#define APB_SIZE    0x24000u /* up to the end of the CRC unit's slot */
#define PPB_START   0xE0000000u
#define PPB_SIZE    0x100000u
#define OPTION_BASE 0x1FFFF800u
#define FLASH_ALIAS 0x08000000u
#define SRAM_BASE   0x20000000u

/* Exception numbers (PM0056 2.3.2). */
#define EXC_HARDFAULT 3u
#define EXC_SYSTICK   15u
#define EXC_IRQ0      16u
#define IRQ_USART1    37u
#define IRQ_COUNT     60u /* IRQs the F1 NVIC has, the connectivity line's included */
#define EXC_COUNT     (EXC_IRQ0 + IRQ_COUNT)
#define EXC_NONE      0u

typedef enum cpu_state {
    CPU_HELD, /* not executing: after reset, or while a ROM model runs */
    CPU_RUNNING,
    CPU_SLEEPING, /* in WFI/WFE until an exception is pending */
} cpu_state;

/* RCC (RM0008 7.3). Ready flags rise at their time; 0 means off. */
typedef struct rcc_state {
    uint32_t cr, cfgr, cir, ahbenr, apb2enr, apb1enr, bdcr, csr;
    uint64_t hsi_ready_ps, hse_ready_ps, pll_ready_ps; /* NEVER: not coming */
    uint32_t sws;                                      /* the clock in use: 0 HSI, 1 HSE, 2 PLL */
    uint32_t hclk_hz, pclk1_hz, pclk2_hz;
} rcc_state;

/* The flash interface's registers around the controller (PM0075 3). */
typedef struct flash_state {
    uint32_t acr, cr, sr, ar;
    unsigned key_stage; /* KEYR writes seen of the unlock sequence */
    bool key_fault;     /* a wrong key: locked until reset */
    unsigned opt_key_stage;
    uint64_t busy_until_ps; /* BSY until then */
    uint32_t pending_flags; /* raised when the operation ends */
} flash_state;

typedef struct usart_state {
    uint32_t base;
    uint32_t sr, rdr, tdr, brr, cr1, cr2, cr3, gtpr;
    bool tdr_full;         /* TXE clear: a word waits in DR */
    bool shifting;         /* the shift register sends a frame */
    uint64_t shift_end_ps; /* when that frame's stop bit ends */
    bool sr_read;          /* SR was read since the last DR read (error flags clear) */
    bool warned_clock;     /* logged: used with its clock off */
} usart_state;

typedef struct gpio_state {
    uint32_t crl, crh, odr, lckr;
    uint8_t drive[16]; /* vmcu_drive from the board, per pin */
} gpio_state;

typedef struct systick_state {
    uint32_t ctrl, load;
    uint32_t val_at_origin; /* counter value at origin_ps */
    uint64_t origin_ps;
    bool countflag;
} systick_state;

/* The cycles of a basic block, by its address (block_cycles()). */
typedef struct block_cost {
    uint32_t pc, size;
    uint64_t cycles;
} block_cost;
#define BLOCK_COSTS 256u

typedef struct iwdg_state {
    bool running;
    bool unlocked; /* 0x5555 written: PR and RLR writable */
    uint32_t pr, rlr;
    uint64_t expires_ps;
} iwdg_state;

struct vmcu {
    vmcu_config cfg;
    uc_engine *uc;
    uc_hook hooks[8];
    unsigned hook_count;
    bool boot_from_sysmem;
    uint32_t alias_size; /* what is mapped at 0 */
    uint32_t sysmem_size;

    /* Time. */
    uint64_t now_ps;
    uint64_t cycles;
    uint64_t cycle_rem; /* remainder of the cycles-to-picoseconds division */
    uint64_t run_until_ps;
    uint64_t slice_end_ps; /* the block hook stops the CPU here */
    unsigned run_flags;
    bool hook_stopped;     /* the block hook stopped the CPU (not WFI) */
    bool exception_masked; /* an exception is pending behind PRIMASK/BASEPRI */
    bool code_changed;     /* memory was changed behind the translation cache */

    /* Why the CPU stopped. */
    bool stop_requested;
    vmcu_stop stop;
    char reason[256];
    vmcu_reset_cause reset_cause;
    bool core_fault;   /* the requested FAULT is one the core takes as HardFault */
    bool fault_in_rom; /* it went to the ROM's handler */

    /* The core. */
    cpu_state cpu;
    uint32_t vtor;
    uint32_t aircr_prigroup;
    uint32_t shpr[3];
    uint32_t scr, ccr;
    uint32_t demcr, dwt_ctrl;
    uint64_t dwt_origin_cycles;
    uint32_t dwt_at_origin;
    uint8_t nvic_enabled[(IRQ_COUNT + 7) / 8];
    uint8_t nvic_pending[(IRQ_COUNT + 7) / 8];
    uint8_t nvic_priority[IRQ_COUNT];
    bool systick_pending;
    uint8_t active[EXC_COUNT]; /* exceptions being handled, in nesting order */
    unsigned active_count;
    unsigned idle_polls; /* receiver polls with nothing happening (VMCU_STOP_WAITING) */

    rcc_state rcc;
    vmcu_fpec fpec;
    flash_state flash;
    usart_state usart[3];
    gpio_state gpio[VMCU_PORTS];
    uint32_t afio_mapr, afio_evcr, afio_exticr[4];
    systick_state systick;
    iwdg_state iwdg;
    uint32_t crc_dr, crc_idr;
    bool clock_off_logged[APB_SIZE >> 10]; /* per peripheral slot */
    uint8_t apb_slot[APB_SIZE >> 10];      /* row of the peripheral table + 1, 0: none */
    block_cost block_costs[BLOCK_COSTS];
};

/* vmcu.c */
void vmcu_logf(vmcu *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stops the CPU at the next block boundary (or at once for faults) with a
 * reason; the first reason given wins. */
void vmcu_request_stop(vmcu *m, vmcu_stop why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A fault the core takes (PM0056 2.4: bus fault, usage fault, escalated to
 * HardFault): through the program's vector table, or a stop. */
void vmcu_core_fault(vmcu *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint32_t vmcu_current_pc(const vmcu *m);
/* Something changed the next event or made an exception pending: the CPU
 * looks again at the next block. */
void vmcu_replan(vmcu *m);
/* The CPU did something other than wait for input. */
void vmcu_activity(vmcu *m);
void vmcu_system_reset_request(vmcu *m, vmcu_reset_cause cause);
/* The CPU does nothing until `ps` (held, asleep, or stalled on the bus). */
void vmcu_wait_until(vmcu *m, uint64_t ps);

/*
 * Each peripheral's registers: reads and writes of the 32-bit register at
 * `offset` in the instance `unit` (the USART's index, the GPIO port; 0 for
 * peripherals of which there is one). Called with the peripheral's clock on.
 */
typedef uint32_t (*register_read_fn)(vmcu *m, unsigned unit, uint32_t offset);
typedef void (*register_write_fn)(vmcu *m, unsigned unit, uint32_t offset, uint32_t value);

/* clock.c */
void rcc_reset(vmcu *m);
uint32_t rcc_read(vmcu *m, unsigned unit, uint32_t offset);
void rcc_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value);
uint64_t rcc_next_event(const vmcu *m);
void rcc_events(vmcu *m);
uint32_t rcc_sysclk_hz(const vmcu *m);
/* True when the peripheral at `base` has its clock enabled. */
bool rcc_clock_on(vmcu *m, uint32_t base);

/* flash.c */
void flash_reset(vmcu *m);
uint32_t flash_read(vmcu *m, unsigned unit, uint32_t offset);
void flash_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value);
uint64_t flash_next_event(const vmcu *m);
void flash_events(vmcu *m);
/* A CPU access to the flash array (data read, fetch or write): stalls while
 * BSY and checks the wait states against the clock. False: stop the run. */
bool flash_access_ok(vmcu *m, uint32_t address, const char *what);
void flash_bus_write(vmcu *m, uint32_t address, unsigned size, uint32_t value);
unsigned flash_wait_states(const vmcu *m);

/* usart.c */
void usart_reset(vmcu *m);
/* One USART back to its reset values (RCC_APBxRSTR). */
void usart_reset_one(vmcu *m, unsigned index);
uint32_t usart_read(vmcu *m, unsigned index, uint32_t offset);
void usart_write(vmcu *m, unsigned index, uint32_t offset, uint32_t value);
uint64_t usart_next_event(const vmcu *m);
void usart_events(vmcu *m);
bool usart_irq_line(const vmcu *m, unsigned index);
/* The bus clock changed: nothing in flight changes, new frames use it. */
void usart_clock_changed(vmcu *m);

/* gpio.c */
void gpio_reset(vmcu *m);
uint32_t gpio_read(vmcu *m, unsigned port, uint32_t offset);
void gpio_write(vmcu *m, unsigned port, uint32_t offset, uint32_t value);
uint32_t afio_read(vmcu *m, unsigned unit, uint32_t offset);
void afio_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value);
/* The pin's mode nibble (CNF:MODE) from CRL/CRH. */
unsigned gpio_mode(const vmcu *m, unsigned port, unsigned pin);
/* Where USART `index` has its TX and RX pins with the current remap. */
void usart_pins(const vmcu *m, unsigned index, unsigned *tx_port, unsigned *tx_pin,
                unsigned *rx_port, unsigned *rx_pin);

/* system.c */
void system_reset_core(vmcu *m);
uint32_t ppb_read(vmcu *m, uint32_t address);
/* The priority registers' bytes, without a read's side effects: what a
 * byte or half-word store merges with; 0 elsewhere. */
uint32_t ppb_peek(const vmcu *m, uint32_t address);
void ppb_write(vmcu *m, uint32_t address, uint32_t value);
void iwdg_reset(vmcu *m);
/* A reload (KR = 0xAAAA), as the ROM does before it hands over. */
void iwdg_refresh(vmcu *m);
uint32_t iwdg_read(vmcu *m, unsigned unit, uint32_t offset);
void iwdg_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value);
uint32_t crc_read(vmcu *m, unsigned unit, uint32_t offset);
void crc_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value);
uint64_t system_next_event(const vmcu *m);
void system_events(vmcu *m);
/* SysTick's clock changed (HCLK): re-base its counter. */
void systick_clock_changed(vmcu *m, uint32_t old_hclk);
typedef enum exception_test {
    EXCEPTION_PENDING, /* the pending exception of highest priority, whatever masks it */
    EXCEPTION_WAKES,   /* one that wakes the core from WFI: masks but PRIMASK apply */
    EXCEPTION_TAKEN,   /* one the core takes now */
} exception_test;
/* The exception that passes `test`, EXC_NONE if none. */
unsigned exception_to_take(vmcu *m, exception_test test);

#endif /* VMCU_INTERNAL_H */

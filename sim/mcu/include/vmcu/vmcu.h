/*
 * vmcu: a virtual STM32F1 that runs Cortex-M3 machine code, as it will be
 * flashed, against register models written from RM0008 (the F1 reference
 * manual), PM0075 (its flash programming manual) and PM0056 (the Cortex-M3
 * programming manual). The CPU is Unicorn 2's; everything around it is
 * here: RCC and the clock tree, the flash interface and controller,
 * USART1..3, GPIO A..E and AFIO, SysTick, the NVIC and SCB as far as they
 * are used, the independent watchdog and the CRC unit.
 * docs/virtual-mcu.md says what is modelled, from which section, and what
 * is not.
 *
 * Time is virtual: executed instructions at the current core clock (the
 * cycle model is in docs/virtual-mcu.md), and peripheral events (a USART
 * frame, a flash operation, a SysTick wrap) at their own times. The
 * embedder owns the clock: vmcu_run() executes up to a time it names and
 * the MCU never runs ahead of it, so a simulator on the other side of a
 * pin (blsim's host line, an EEPROM) can interleave with it exactly.
 *
 * The model is strict where a real board would misbehave quietly: a fetch
 * or read from flash with too few wait states for the clock, a clock out
 * of specification, an access to an address nothing answers at, code
 * running in system memory (the ROM's code is not modelled) all stop the
 * run with the reason and the PC.
 *
 * Host-side simulator code: it allocates, and it is not built for the MCU.
 */
#ifndef VMCU_H
#define VMCU_H

#include "vmcu/fpec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Serial frames on a wire, and what a receiver makes of them
 */
typedef enum vmcu_parity {
    VMCU_PARITY_NONE,
    VMCU_PARITY_EVEN,
    VMCU_PARITY_ODD,
} vmcu_parity;

typedef struct vmcu_uart_frame {
    double baud;       /* bits per second as actually clocked */
    uint8_t data_bits; /* data bits, parity not counted: 8 for 8E1, 7 for 7E1 */
    vmcu_parity parity;
    uint8_t stop_bits; /* 1 or 2 (0.5 and 1.5 count as 1 and 2) */
} vmcu_uart_frame;

/* Bit times of one frame: start, data, parity, stop. */
unsigned vmcu_uart_frame_bits(const vmcu_uart_frame *frame);

typedef struct vmcu_uart_received {
    bool started;       /* the receiver saw a valid start bit at all */
    uint16_t data;      /* the data bits it sampled */
    uint8_t parity_bit; /* the parity bit it sampled (with parity on) */
    bool parity_error;  /* its parity check failed */
    bool framing_error; /* the stop bit was not high, or the rates disagree beyond tolerance */
    bool intact;        /* data equals what was sent, with no error */
} vmcu_uart_received;

/* Largest difference between the sender's and the receiver's rates for
 * which a frame is taken as intact (the design rule: tighter than
 * RM0008's 27.3.5 tolerance, which assumes ideal edges). */
#define VMCU_UART_TOLERANCE 0.025

/*
 * What a receiver set up as `receiver` makes of `data` sent as `sent`: the
 * word arrives intact only when both frames agree (data bits, parity, stop
 * bits) and the rates are within VMCU_UART_TOLERANCE. Otherwise it samples
 * the sender's waveform at the middle of its own bit times (start bit,
 * data, parity, stop, with the line idle high after the frame), which gives
 * the garbage, parity and framing errors a real receiver reports; should
 * every sample still fall right, the last data bit is taken wrong with a
 * framing error when the rates are beyond the tolerance (a real receiver
 * at such a distance fails at random). Only the first stop bit counts.
 */
void vmcu_uart_receive(const vmcu_uart_frame *sent, uint16_t data, const vmcu_uart_frame *receiver,
                       vmcu_uart_received *out);

/* ---------------------------------------------------------------------------
 * Creating a virtual MCU
 */

/* GPIO ports, as in the register names: port 0 is GPIOA. */
#define VMCU_PORT_A 0u
#define VMCU_PORT_B 1u
#define VMCU_PORT_C 2u
#define VMCU_PORT_D 3u
#define VMCU_PORT_E 4u
#define VMCU_PORTS  5u

typedef struct vmcu vmcu;

/* What the MCU tells the board around it. Every member may be NULL. */
typedef struct vmcu_ops {
    /*
     * A USART's TX pin sends a frame: the far side sees its stop bit end at
     * end_ns. `word` carries the data bits (parity excluded), `frame` the
     * rate and format the USART actually clocks. Called when the frame
     * starts, before the MCU's clock reaches end_ns.
     */
    void (*uart_tx)(void *ctx, unsigned port, unsigned pin, uint16_t word,
                    const vmcu_uart_frame *frame, uint64_t end_ns);
    /* One line about something a board designer should know: a frame the
     * receiver could not read, a peripheral used with its clock off. */
    void (*log)(void *ctx, const char *line);
    /*
     * A GPIO register write changed what the MCU does to a pin (drives it
     * high or low, lets it go, pulls it): at_ns is the write's time. Called
     * from inside the write, so the board may answer at once with
     * vmcu_pin_drive() (an I2C slave pulling SDA low) and the program's
     * next read of IDR sees it. Not called for a reset: after
     * VMCU_STOP_RESET every pin is an input again.
     */
    void (*pin_change)(void *ctx, unsigned port, unsigned pin, uint64_t at_ns);
} vmcu_ops;

typedef struct vmcu_config {
    /* Main flash at 0x08000000 (its size a multiple of 1 KiB), with its
     * page size, protection layout and timings; the buffer is the
     * caller's and the CPU reads it in place. */
    vmcu_flash_geometry flash;
    uint8_t *flash_bytes;
    /* SRAM at 0x20000000, caller-owned, size a multiple of 1 KiB. */
    uint8_t *ram;
    uint32_t ram_size;
    /* System memory (the ROM, the flash size register and the UID) from
     * sysmem_base up to 0x1FFFF800, read only; the option bytes (16 bytes,
     * caller-owned) at 0x1FFFF800. */
    const uint8_t *sysmem;
    uint32_t sysmem_base;
    uint8_t *option_bytes;
    /* The crystal on the board: 0 when there is none (HSERDY never sets). */
    uint32_t hse_hz;
    /* How far the HSI is from 8 MHz, parts per million (the F103's factory
     * trim leaves about +-1 % at 25 C). */
    int32_t hsi_ppm;
    bool flash_max_timings; /* flash operations take the datasheet maximum */
    const vmcu_ops *ops;
    void *ctx;
} vmcu_config;

/* A powered-on MCU with every register at its reset value and the CPU held
 * (vmcu_boot() or vmcu_jump() starts it). NULL on a bad config or when the
 * CPU cannot be created. */
vmcu *vmcu_new(const vmcu_config *config);
void vmcu_free(vmcu *m);

/*
 * A system reset (RM0008 7.1.2): every peripheral and the core back to
 * reset values, the flash's write protection reloaded from the option
 * bytes; the CPU is held. `boot_from_sysmem` selects what is aliased at
 * address 0 (BOOT0 high: system memory; low: flash).
 */
void vmcu_reset(vmcu *m, bool boot_from_sysmem);

/* Starts the core as after reset: MSP and PC from the vector table at 0. */
void vmcu_boot(vmcu *m);

/*
 * Starts the core at `pc` (a Thumb address, bit 0 set) with MSP = `sp`,
 * thread mode, privileged, PRIMASK as given: what a ROM bootloader's Go
 * does. The peripherals are left as they are.
 */
void vmcu_jump(vmcu *m, uint32_t sp, uint32_t pc, bool primask);

/* Holds the CPU (the ROM model runs instead); time and peripherals go on. */
void vmcu_hold(vmcu *m);

/*
 * A peripheral register write or read as the CPU would make it, through the
 * same models (clock enables included): how a ROM model sets up the state
 * its own code leaves behind. The address must be a modelled peripheral
 * register; 32-bit access.
 */
void vmcu_poke32(vmcu *m, uint32_t address, uint32_t value);
uint32_t vmcu_peek32(vmcu *m, uint32_t address);

/* ---------------------------------------------------------------------------
 * Running
 */
typedef enum vmcu_stop {
    VMCU_STOP_TIME,       /* the clock reached the time asked for */
    VMCU_STOP_TX,         /* a USART began a frame (VMCU_RUN_STOP_ON_TX) */
    VMCU_STOP_WAITING,    /* the CPU waits for input (VMCU_RUN_STOP_WHEN_WAITING): it
                             polls an empty receiver, or sleeps in WFI */
    VMCU_STOP_EXEC_FLASH, /* the CPU is about to execute flash (VMCU_RUN_STOP_AT_FLASH) */
    VMCU_STOP_RESET,      /* a system reset: SYSRESETREQ or the watchdog; the CPU is held */
    VMCU_STOP_FAULT,      /* the core faulted and its HardFault handler is the ROM's
                             (vmcu_fault_in_rom()), or it locked up */
    VMCU_STOP_INVALID,    /* the program did what a real part leaves undefined: flash
                             read with too few wait states, a clock out of specification */
    VMCU_STOP_UNMODELLED, /* something the model does not cover: an address, a feature */
    VMCU_STOP_HELD,       /* the CPU is held: nothing runs (the time still advanced) */
} vmcu_stop;

#define VMCU_RUN_STOP_ON_TX        (1u << 0)
#define VMCU_RUN_STOP_WHEN_WAITING (1u << 1)
#define VMCU_RUN_STOP_AT_FLASH     (1u << 2)

/*
 * Runs the MCU until its clock reaches `until_ns` or something in `flags`
 * (or a reset, a fault, an unmodelled access) stops it earlier. The clock
 * never passes until_ns by more than one basic block. Returns why it
 * stopped; vmcu_stop_reason() says more. A core fault (bus fault,
 * undefined instruction...) is taken as a HardFault through the program's
 * own vector table when VTOR points at RAM or flash. After RESET, FAULT,
 * INVALID and UNMODELLED the CPU is held until vmcu_boot() or vmcu_jump().
 */
vmcu_stop vmcu_run(vmcu *m, uint64_t until_ns, unsigned flags);

/* After VMCU_STOP_FAULT: true when the fault went to the HardFault handler
 * of the ROM's vector table (VTOR in system memory), which the model does
 * not run; the embedder knows what its ROM does (the F103's resets). False
 * for a lockup (a fault in the HardFault handler, or no usable stack). */
bool vmcu_fault_in_rom(const vmcu *m);

/* Virtual time since the MCU was created. */
uint64_t vmcu_now_ns(const vmcu *m);
/* Core clock cycles executed since creation. */
uint64_t vmcu_cycles(const vmcu *m);
/* Why the last run stopped, in words: "" after TIME. */
const char *vmcu_stop_reason(const vmcu *m);

typedef enum vmcu_reset_cause {
    VMCU_RESET_NONE,
    VMCU_RESET_SOFTWARE, /* AIRCR.SYSRESETREQ */
    VMCU_RESET_WATCHDOG, /* the IWDG counted down to 0 */
} vmcu_reset_cause;
vmcu_reset_cause vmcu_last_reset_cause(const vmcu *m);

/* The core's registers as the CPU left them: r0..r12, sp, lr, pc. */
uint32_t vmcu_reg(const vmcu *m, unsigned index);
#define VMCU_REG_SP 13u
#define VMCU_REG_LR 14u
#define VMCU_REG_PC 15u
/* SCB_VTOR. */
uint32_t vmcu_vtor(const vmcu *m);
/* The core clock (HCLK) and the APB2 clock now, Hz. */
uint32_t vmcu_hclk_hz(const vmcu *m);
uint32_t vmcu_pclk2_hz(const vmcu *m);

/* The flash controller, for its counters and the flags it raised. */
const vmcu_fpec *vmcu_flash(const vmcu *m);
/* FLASH_SR as the CPU would read it now. */
uint32_t vmcu_flash_sr(vmcu *m);

/* ---------------------------------------------------------------------------
 * Pins and the far side of the wires
 */

/* What the board drives onto a pin from outside. */
typedef enum vmcu_drive {
    VMCU_DRIVE_NONE,      /* nothing: the pin floats unless the MCU drives it */
    VMCU_DRIVE_LOW,       /* driven low (push-pull or open drain) */
    VMCU_DRIVE_HIGH,      /* driven high (push-pull) */
    VMCU_DRIVE_PULL_UP,   /* a resistor to VDD */
    VMCU_DRIVE_PULL_DOWN, /* a resistor to ground */
} vmcu_drive;

void vmcu_pin_drive(vmcu *m, unsigned port, unsigned pin, vmcu_drive drive);
/* The level on the wire: MCU and board together (open drain is a wired
 * AND; a floating pin reads low). */
bool vmcu_pin_level(const vmcu *m, unsigned port, unsigned pin);
/* True when the MCU drives the pin (output or alternate function mode). */
bool vmcu_pin_driven_by_mcu(const vmcu *m, unsigned port, unsigned pin);
/* True when the MCU itself pulls the pin low (push-pull or open drain
 * output at 0): what an open-drain bus's other devices see of it, whatever
 * the board does. */
bool vmcu_pin_pulled_low_by_mcu(const vmcu *m, unsigned port, unsigned pin);

/*
 * A frame arrives on a pin: the USART whose RX is mapped there (AFIO_MAPR)
 * receives it if its clock, UE and RE are on and the pin is an input;
 * `end_ns` is when its stop bit ends (the MCU should have run up to it).
 * Returns true when some USART took it (intact or not).
 */
bool vmcu_uart_deliver(vmcu *m, unsigned port, unsigned pin, uint16_t word,
                       const vmcu_uart_frame *frame, uint64_t end_ns);

#ifdef __cplusplus
}
#endif

#endif /* VMCU_H */

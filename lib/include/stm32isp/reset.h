/*
 * Resetting the target without flashing it (docs/reset.md), as `stm32flash
 * -R` does: the chip restarts, into its bootloader or its application.
 *
 * With reset lines (stm32isp_has_reset_lines()) the host drives BOOT0 and
 * pulses NRST, so it chooses where the chip boots. Without them it can only
 * ask the chip to reset itself: it loads a tiny program (target/sysreset/)
 * into the RAM the bootloader leaves free and starts it with Go; the program
 * requests a system reset through the core's AIRCR.SYSRESETREQ, and the
 * chip then boots as its BOOT0 pin says, which the host cannot change: back
 * into the bootloader when BOOT0 is tied high, into the application when it
 * is low.
 *
 * Typical use:
 *
 *     err = stm32isp_reset_target(c, &stm32isp_sysreset_program_cm, false);
 *
 * Caller-owned buffers only (the client's), no allocation, bounded waits.
 */
#ifndef STM32ISP_RESET_H
#define STM32ISP_RESET_H

#include "stm32isp/client.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A build of the reset program: its bytes as linked at address 0. They
 * start with the two words the bootloader's Go reads:
 *
 *   0x00  initial stack pointer: 0 in the blob; the host writes the top of
 *         the device's user RAM (ram_end rounded down to 8)
 *   0x04  entry point | 1, relative to the blob's start; the host adds the
 *         load address (the code itself is position independent)
 *
 * then position-independent code that uses no stack.
 */
typedef struct stm32isp_sysreset_program {
    const uint8_t *code;
    uint32_t size; /* at most 256: one Write Memory command */
} stm32isp_sysreset_program;

/*
 * The program, built for the Cortex-M0 (ARMv6-M), which runs unchanged on
 * the Cortex-M3 and later cores: every STM32 with an AIRCR. It is generated
 * at build time into the stm32isp_sysreset_blob library, which whoever uses
 * it links; this library (stm32isp_reset) does not depend on it.
 */
extern const stm32isp_sysreset_program stm32isp_sysreset_program_cm;

/*
 * Resets the target.
 *
 * With reset lines: BOOT0 high when `into_bootloader`, else low, and an
 * NRST pulse of cfg.reset_pulse_ms (counted in stats.resets); into the
 * bootloader the client then waits as stm32isp_enter_bootloader() does
 * (stm32isp_boot_wait_ms()) and drops what the line holds. No connection
 * is needed and `prog` is not used (it may be NULL). Returns OK or PORT.
 *
 * Without reset lines: the client must be connected to an unprotected
 * target. `prog` is written with Write Memory at the start of the device's
 * user RAM (ram_start rounded up to 8), with the stack pointer and entry
 * filled in as above, and started with Go; the Go's ACK comes before the
 * program runs. The client then waits stm32isp_boot_wait_ms(c, 0), for
 * the chip to restart. Returns OK; NO_RESET_LINES when `into_bootloader`
 * (the chip boots as its BOOT0 pin says, and the host cannot change that
 * pin; with BOOT0 tied high a reset with `into_bootloader` false brings it
 * back to its bootloader all the same); INVALID_ARG (no program, or one that is not
 * a vector table and code of at most 256 bytes); NOT_CONNECTED;
 * READ_PROTECTED (Write Memory is refused under readout protection);
 * UNSUPPORTED (the bootloader does not offer Write Memory or Go, or the
 * user RAM cannot hold the program and an exception frame); nothing is sent
 * for any of these. Or the error of the write (WRITE_FAILED, TIMEOUT, ...)
 * or of the Go (ADDRESS, TIMEOUT, ...).
 *
 * Afterwards c->connected is false, except for the errors where nothing was
 * sent and for a failed write (the bootloader is then still at a command
 * boundary, or the client's recovery failed and said so). CANCELLED when
 * the stop flag (stm32isp_set_stop_flag) is up before anything is done.
 */
stm32isp_err stm32isp_reset_target(stm32isp_client *c, const stm32isp_sysreset_program *prog,
                                   bool into_bootloader);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_RESET_H */

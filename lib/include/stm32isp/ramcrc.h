/*
 * Verifying the flash with a program in the target's RAM instead of reading
 * it back (docs/ram-crc.md). The program (target/crc32/, built by the
 * project) is loaded with Write Memory into the RAM the bootloader leaves
 * free, started with Go, computes the CRC-32 of the programmed ranges and
 * sends it back: a few hundred bytes on the wire instead of the whole image.
 * Then it starts the application or resets the chip into its bootloader, as
 * the host says.
 *
 * Typical use, after stm32isp_program() without verification:
 *
 *     if (stm32isp_ramcrc_check(c, &stm32isp_ramcrc_program_m3, n) == STM32ISP_OK) {
 *         err = stm32isp_ramcrc_verify(c, &stm32isp_ramcrc_program_m3, segs, n,
 *                                      expected_crc, 0, &report);
 *         ...  // OK or VERIFY: the program waits for what comes next
 *         err = stm32isp_ramcrc_leave(c, STM32ISP_RAMCRC_START_APP);
 *     }
 *
 * Caller-owned buffers only (the client's), no allocation, bounded waits.
 */
#ifndef STM32ISP_RAMCRC_H
#define STM32ISP_RAMCRC_H

#include "stm32isp/client.h"
#include "stm32isp/program.h"
#include "stm32isp/ramcrc_protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A build of the RAM program: its bytes as linked at address 0. */
typedef struct stm32isp_ramcrc_program {
    const uint8_t *code;
    uint32_t size;
    uint32_t stack_bytes; /* the most stack it can use */
} stm32isp_ramcrc_program;

/*
 * The program for Cortex-M3 parts with the F1 USART (target/crc32/). It is
 * generated at build time into the stm32isp_ramcrc_blob library, which
 * whoever uses it links; this library does not depend on it.
 */
extern const stm32isp_ramcrc_program stm32isp_ramcrc_program_m3;

/* What a run of the program did. */
typedef struct stm32isp_ramcrc_report {
    uint32_t crc;          /* what the target computed */
    uint32_t bytes;        /* how many bytes it covered */
    uint32_t load_address; /* the parameter block; the code follows it */
    uint32_t ram_used;     /* bytes of RAM from the lowest stack byte to the code's end */
    uint32_t replies;      /* replies read: 2 or 3 when a mismatch was confirmed */
} stm32isp_ramcrc_report;

/*
 * Whether `prog` can verify `range_count` ranges on the connected target
 * without touching it: the part's family is one it is built for (F1:
 * Cortex-M3, USART1), its free RAM holds stack, parameters and code, and
 * readout protection is off. Returns OK, NOT_CONNECTED, UNSUPPORTED (the
 * family, or too little RAM), READ_PROTECTED or INVALID_ARG (no program, no
 * range or more than STM32ISP_RAMCRC_MAX_RANGES).
 */
stm32isp_err stm32isp_ramcrc_check(const stm32isp_client *c, const stm32isp_ramcrc_program *prog,
                                   size_t range_count);

/*
 * Loads the program and its parameters (the ranges, laid end to end, and
 * the application's vector table, 0: the flash base), starts it with Go and
 * reads its reply. The reply must carry this run's parameter check (so a
 * stale or foreign reply cannot pass) and an intact frame. A CRC other than
 * `expected_crc` is believed only when the program sends it twice.
 *
 * Returns OK (the CRC equals expected_crc) or VERIFY (it differs), and then
 * the program waits for stm32isp_ramcrc_leave(); UNSUPPORTED (see
 * stm32isp_ramcrc_check(); nothing was sent); or WRITE_FAILED, NACK,
 * TIMEOUT, BAD_REPLY, PORT, after which the target may be anywhere between
 * its bootloader and the program: stm32isp_ramcrc_leave(c,
 * STM32ISP_RAMCRC_BOOTLOADER) brings it back. `report` may be NULL.
 */
stm32isp_err stm32isp_ramcrc_verify(stm32isp_client *c, const stm32isp_ramcrc_program *prog,
                                    const stm32isp_segment *ranges, size_t count,
                                    uint32_t expected_crc, uint32_t app_vector_table,
                                    stm32isp_ramcrc_report *report);

typedef enum stm32isp_ramcrc_next {
    /* Run the application: with reset lines BOOT0 low and an NRST pulse (a
     * normal boot); without, the program's start command (VTOR, stack
     * pointer and entry from the vector table given to verify). */
    STM32ISP_RAMCRC_START_APP,
    /* Back to the bootloader, connected and identified again: with reset
     * lines a reset with BOOT0 high; without, 0x7F bytes, at which the
     * program resets the chip (BOOT0 is high, or the bootloader would not
     * have run it). */
    STM32ISP_RAMCRC_BOOTLOADER,
} stm32isp_ramcrc_next;

/*
 * Ends the program's run. Works from any state a failed verify can leave
 * (docs/ram-crc.md, "When the program does not answer"): without reset
 * lines it sends only 0x7F bytes, and when nothing answers it keeps quiet
 * for the program's idle reset before it connects. Returns OK, or the
 * error of the start or of connecting (NO_SYNC: nothing came back).
 */
stm32isp_err stm32isp_ramcrc_leave(stm32isp_client *c, stm32isp_ramcrc_next next);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_RAMCRC_H */

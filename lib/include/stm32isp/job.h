/*
 * The flashing job: what the master runs when its button is pressed. It
 * takes the image container from the EEPROM (or any container source) and
 * programs the target through its ROM bootloader:
 *
 *   1. check the whole container (header, segment table, payload CRC) while
 *      the target is not touched at all: no pin moves, no byte is sent;
 *   2. reset the target into its bootloader, connect, identify it;
 *   3. check that the image is meant for this part and fits its flash;
 *   4. handle readout protection as the container says (refuse by default);
 *   5. erase what the image needs, program it streaming from the source in
 *      256-byte blocks (the image is never held in RAM);
 *   6. verify: compare the CRC-32 of the programmed flash with the
 *      container's payload CRC, which was checked in step 1; so a byte that
 *      the EEPROM delivered wrong while programming cannot pass. The target
 *      computes it with the RAM CRC program where it runs that
 *      (ramcrc.h), else the flash is read back;
 *   7. optionally set readout protection;
 *   8. release BOOT0 and reset the target into its application (or Go).
 *
 * Every step is idempotent, so running the job again after any interruption
 * (master reset, target reset, line glitch, EEPROM read error) converges on a
 * correct target.
 *
 * All working memory is the caller's stm32isp_job (about 1.5 KiB); nothing
 * is allocated, printed or kept in globals.
 */
#ifndef STM32ISP_JOB_H
#define STM32ISP_JOB_H

#include "stm32isp/client.h"
#include "stm32isp/container.h"
#include "stm32isp/program.h"
#include "stm32isp/ramcrc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct stm32isp_job_config {
    const stm32isp_port_ops *ops; /* the link to the target, with its pins */
    void *port;
    const stm32isp_config *client; /* NULL: defaults */
    const stm32isp_container_source *source;
    /* The RAM CRC program to verify with (normally &stm32isp_ramcrc_program_m3)
     * on the parts it runs on; NULL, or another part: every byte is read
     * back. Link trouble while it runs falls back to reading back too. */
    const stm32isp_ramcrc_program *ram_program;
    /* Progress events: CHECK_IMAGE (bytes of payload checked), CONNECT, ERASE,
     * WRITE, VERIFY, PROTECT, START. May be NULL. */
    stm32isp_progress_fn progress;
    void *progress_ctx;
    /* May be NULL. Once it reads true the job sends no further command and
     * ends with CANCELLED (stm32isp_set_stop_flag): a PC's Ctrl-C. */
    const volatile bool *stop;
} stm32isp_job_config;

/* What a run did; filled in whatever the outcome. */
typedef struct stm32isp_job_result {
    stm32isp_err status;
    stm32isp_phase phase; /* the phase the job ended in (the failing one on error) */
    /* False when the job stopped before any pin moved or byte was sent: a bad
     * image never reaches the target. */
    bool target_touched;
    bool target_modified; /* an erase or a write was sent */

    /* The image (valid from the CHECK_IMAGE phase on). */
    uint32_t image_bytes;
    uint32_t image_crc;
    uint16_t segment_count;

    /* The target (valid once connected). */
    uint16_t pid;
    const stm32isp_device *device; /* NULL when unknown */
    uint32_t flash_size;
    uint8_t bootloader_version;
    bool was_readout_protected;
    bool unprotected; /* readout protection was removed (flash mass-erased) */
    bool readout_protected_after;
    bool started;             /* the application was started */
    bool verified_by_ram_crc; /* the target computed the CRC (else it was read back) */

    stm32isp_program_report program;
    /* Milliseconds per phase, on the port's clock. */
    uint32_t ms_check, ms_connect, ms_erase, ms_write, ms_verify, ms_protect, ms_start, ms_total;
    stm32isp_link_stats link;
} stm32isp_job_result;

/* The caller-owned working memory of a run. */
typedef struct stm32isp_job {
    stm32isp_client client;
    stm32isp_container container;
    uint8_t buf[256];
} stm32isp_job;

/*
 * Runs the whole job. Returns OK only when the target's flash was verified
 * to hold the image (or verification was turned off in the container) and
 * every requested step succeeded; otherwise the first error: a container
 * error (NO_CONTAINER, CONTAINER_*, EEPROM_*), with the target untouched; a
 * target error (NO_SYNC, UNKNOWN_DEVICE, DEVICE_NOT_ALLOWED, ADDRESS,
 * IMAGE_TOO_LARGE, READ_PROTECTED) before anything was erased; or an error
 * while programming (ERASE_FAILED, WRITE_FAILED, VERIFY, TIMEOUT, EEPROM_*
 * ...), after which running the job again is the remedy. `result` may be NULL.
 */
stm32isp_err stm32isp_job_run(stm32isp_job *job, const stm32isp_job_config *cfg,
                              stm32isp_job_result *result);

/*
 * Step 1 alone: opens the container and checks its payload CRC, touching no
 * target (the console's `info` command and `stm32isp info` use it).
 */
stm32isp_err stm32isp_job_check_image(stm32isp_container *ct,
                                      const stm32isp_container_source *source, uint8_t *buf,
                                      size_t buf_size);

/*
 * Verification alone (the master console's `verify`): checks the image as
 * step 1 does, connects, checks that the image is meant for this part and
 * that its flash is readable, and compares the CRC-32 of the flash under
 * the segments with the container's payload CRC (by the RAM CRC program
 * where it runs, else by reading back). Erases and writes nothing, whatever
 * the container's flags say. Then lets the target go: with reset lines
 * BOOT0 low and a reset (it runs its application); without, it stays in its
 * bootloader. Returns OK when the flash holds the image, VERIFY when it does
 * not, or the error that stopped it (as stm32isp_job_run, READ_PROTECTED
 * included). `result` may be NULL.
 */
stm32isp_err stm32isp_job_verify(stm32isp_job *job, const stm32isp_job_config *cfg,
                                 stm32isp_job_result *result);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_JOB_H */

#include "actions.h"

#include "out.h"
#include "startup.h"
#include "systick.h"

#include "stm32isp/client.h"
#include "stm32isp/container.h"
#include "stm32isp/ramcrc.h"

#include <inttypes.h>

static stm32isp_err eeprom_source_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    return stm32isp_eeprom_read(ctx, offset, buf, len);
}

void actions_init(app *a, const board *b)
{
    a->b = b;
    const stm32isp_eeprom_part *part = b->eeprom_part;
    stm32isp_eeprom_init(&a->eeprom, b->i2c_ops, b->i2c, part, b->eeprom_address);
    a->source = (stm32isp_container_source){
        .read = eeprom_source_read, .ctx = &a->eeprom, .size = part != NULL ? part->size : 0};
}

/* ------------------------------------------------------------------------- */
/* Output                                                                     */

void print_error(stm32isp_err err)
{
    out("error: %s (%s)\nhint: %s\n", stm32isp_strerror(err), stm32isp_err_name(err),
        stm32isp_hint(err));
}

/* The firmware's device table has no part names: the family stands in. */
static void print_target(uint16_t pid, const stm32isp_device *d, uint8_t bootloader,
                         uint32_t flash_size)
{
    out("target: STM32%s, PID 0x%03X, bootloader v%u.%u, %" PRIu32 " KiB flash",
        d != NULL ? stm32isp_device_family(d) : "?", pid, bootloader >> 4, bootloader & 15u,
        flash_size / 1024u);
}

void actions_print_stack(void)
{
    out("stack: %" PRIu32 " of %" PRIu32 " bytes used\n", stack_used_max(), stack_size());
}

/* Each phase's name as it starts; write and verify by quarters too. */
static void on_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    app *a = ctx;
    const char *name = stm32isp_phase_name(phase);
    if (!a->progress_any || phase != a->progress_phase) {
        out("  %s\n", name);
        a->progress_any = true;
        a->progress_phase = (uint8_t)phase;
        a->progress_shown = 0;
    }
    uint8_t quarter = total == 0 ? 0 : (uint8_t)(done <= UINT32_MAX / 4u ? done * 4u / total : 4u);
    if (quarter > a->progress_shown &&
        (phase == STM32ISP_PHASE_WRITE || phase == STM32ISP_PHASE_VERIFY)) {
        out("  %s %u/4\n", name, quarter);
        a->progress_shown = quarter;
    }
}

static void begin(app *a)
{
    a->progress_any = false;
    led_show(&a->led, LED_BUSY, 0, systick_ms());
}

static void log_run(app *a, run_kind kind, stm32isp_err err, stm32isp_phase phase, uint16_t pid,
                    uint32_t bytes, uint32_t t0)
{
    uint32_t now = systick_ms();
    run_entry e = {
        .at_ms = now,
        .bytes = bytes,
        .ms = now - t0,
        .pid = pid,
        .kind = (uint8_t)kind,
        .status = (uint8_t)err,
        .phase = (uint8_t)phase,
    };
    runlog_add(&a->log, &e);
    led_show_result(&a->led, err, now);
}

static void print_failure(stm32isp_err err, stm32isp_phase phase, const char *state)
{
    out("result: failed in %s: %s; %s\n", stm32isp_phase_name(phase), stm32isp_err_name(err),
        state);
    print_error(err);
}

/* The result record of a job run (docs/firmware.md, "Console"). */
static void report_job(const app *a, const stm32isp_job_result *r, bool verify_only)
{
    const stm32isp_container *ct = &a->job.container;
    if (verify_only && r->status == STM32ISP_ERR_VERIFY) {
        out("result: differs from the image\n");
    } else if (r->status != STM32ISP_OK) {
        print_failure(r->status, r->phase,
                      !r->target_touched    ? "the target was not touched"
                      : !r->target_modified ? "nothing was erased"
                                            : "target changed: flash again");
    } else {
        out("result: ok\n");
    }
    /* How the flash was compared with the image: a passed verify that the
     * RAM program did not do was a read-back (a part it does not run on, or
     * link trouble while it ran). */
    if (r->verified_by_ram_crc) {
        out("verify: crc on the target\n");
    } else if (r->status == STM32ISP_OK &&
               (verify_only || (ct->flags & STM32ISP_CONTAINER_VERIFY) != 0)) {
        out("verify: read back\n");
    }
    if (r->segment_count > 0) {
        out("image: \"%s\"%s%s, %" PRIu32 " bytes, %u segment(s), CRC-32 0x%08" PRIX32 "\n",
            ct->name, ct->version[0] != '\0' ? " " : "", ct->version, r->image_bytes,
            r->segment_count, r->image_crc);
    }
    if (r->pid != 0) {
        print_target(r->pid, r->device, r->bootloader_version, r->flash_size);
        out("\n");
    }
    out("time: %" PRIu32 " ms (check %" PRIu32 ", connect %" PRIu32 ", erase %" PRIu32
        ", write %" PRIu32 ", verify %" PRIu32 ", protect %" PRIu32 ", start %" PRIu32 ")\n",
        r->ms_total, r->ms_check, r->ms_connect, r->ms_erase, r->ms_write, r->ms_verify,
        r->ms_protect, r->ms_start);
}

/* ------------------------------------------------------------------------- */
/* The job: flash and verify                                                  */

static stm32isp_err run_job(app *a, bool verify_only)
{
    begin(a);
    stm32isp_job_config cfg = {
        .ops = a->b->target_ops,
        .port = a->b->target_port,
        .source = &a->source,
        /* The job verifies with it on the parts it runs on (F1: Cortex-M3,
         * USART1) and reads the flash back on the others, as the PC's
         * `flash` does. */
        .ram_program = &stm32isp_ramcrc_program_m3,
        .progress = on_progress,
        .progress_ctx = a,
    };
    stm32isp_job_result r;
    uint32_t t0 = systick_ms();
    stm32isp_err err =
        verify_only ? stm32isp_job_verify(&a->job, &cfg, &r) : stm32isp_job_run(&a->job, &cfg, &r);
    board_target_release(); /* between jobs the target's lines are its own */
    report_job(a, &r, verify_only);
    log_run(a, verify_only ? RUN_VERIFY : RUN_FLASH, err, r.phase, r.pid, r.image_bytes, t0);
    return err;
}

stm32isp_err action_flash(app *a)
{
    return run_job(a, false);
}

stm32isp_err action_verify(app *a)
{
    return run_job(a, true);
}

/* ------------------------------------------------------------------------- */
/* probe, erase                                                               */

/*
 * probe and erase: connect with a fresh client in the job's memory, print
 * the target, erase it all for RUN_ERASE, then let it go: with reset lines
 * BOOT0 low and a reset, so it runs its application; without, it stays in
 * its bootloader.
 */
static stm32isp_err target_command(app *a, run_kind kind)
{
    uint32_t t0 = systick_ms();
    begin(a);
    stm32isp_client *c = &a->job.client;
    const stm32isp_target_info *t = &c->target;
    stm32isp_client_init(c, a->b->target_ops, a->b->target_port, NULL);
    stm32isp_set_progress(c, on_progress, a);
    stm32isp_phase phase = STM32ISP_PHASE_CONNECT;
    stm32isp_err err = stm32isp_connect(c);
    if (err == STM32ISP_OK) {
        print_target(t->pid, t->device, t->bootloader_version, t->flash_size);
        out("%s%s\n", t->flash_size_from_register ? "" : " (assumed)",
            t->readout_protected ? ", readout protected" : "");
        if (kind == RUN_ERASE) {
            /* A protected target refuses; unprotecting is a PC's job. */
            phase = STM32ISP_PHASE_ERASE;
            on_progress(a, phase, 0, 1);
            err = t->readout_protected ? STM32ISP_ERR_READ_PROTECTED : stm32isp_cmd_mass_erase(c);
        }
    }
    if (err == STM32ISP_OK) {
        out("result: ok\n");
    } else {
        print_failure(err, phase,
                      phase == STM32ISP_PHASE_ERASE ? "the flash may be partly erased"
                                                    : "nothing was erased");
    }
    if (stm32isp_has_reset_lines(c)) {
        if (c->connected) {
            (void)stm32isp_start_application(c, 0);
        } else {
            (void)c->ops->set_boot0(c->port, false);
            (void)c->ops->set_reset(c->port, false);
        }
        out("target: released\n");
    }
    board_target_release();
    log_run(a, kind, err, phase, t->pid, 0, t0);
    return err;
}

stm32isp_err action_probe(app *a)
{
    return target_command(a, RUN_PROBE);
}

stm32isp_err action_erase(app *a)
{
    return target_command(a, RUN_ERASE);
}

/* ------------------------------------------------------------------------- */
/* info                                                                       */

static void print_container(const app *a)
{
    const stm32isp_container *ct = &a->job.container;
    out("image: \"%s\"%s%s, %" PRIu32 " bytes, CRC-32 0x%08" PRIX32 ", flags 0x%" PRIX32
        ", PIDs:%s",
        ct->name, ct->version[0] != '\0' ? " " : "", ct->version, ct->payload_length,
        ct->payload_crc, ct->flags, ct->pid_count == 0 ? " any" : "");
    for (uint8_t i = 0; i < ct->pid_count; i++) {
        out(" 0x%03X", ct->pids[i]);
    }
    out("\n");
    for (uint16_t i = 0; i < ct->segment_count; i++) {
        out("  segment 0x%08" PRIX32 ", %" PRIu32 " bytes\n", ct->segments[i].address,
            ct->segments[i].length);
    }
}

stm32isp_err action_info(app *a)
{
    out("master: " FW_VERSION " on %s, up %" PRIu32 " s, ", a->b->name, systick_ms() / 1000u);
    actions_print_stack();
    out("eeprom: %s at 0x%02X\n", a->eeprom.part->name, a->eeprom.base_address);
    stm32isp_err err =
        stm32isp_job_check_image(&a->job.container, &a->source, a->job.buf, sizeof a->job.buf);
    if (err == STM32ISP_OK || err == STM32ISP_ERR_CONTAINER_PAYLOAD) {
        print_container(a); /* the header is good */
    }
    if (err == STM32ISP_OK) {
        out("check: ok\n");
    } else {
        print_error(err);
    }
    return err;
}

/*
 * The flashing job (job.h): container checks first, target second, and a
 * verification against the CRC that was checked before anything was erased.
 */
#include "stm32isp/job.h"

#include <string.h>

/* Everything a run needs to keep between steps, on the caller's stack. */
typedef struct run {
    stm32isp_job *job;
    const stm32isp_job_config *cfg;
    stm32isp_job_result *result;
    stm32isp_phase phase;
    uint32_t phase_started_ms;
    /* The CRC read-back of the verify step. */
    uint32_t crc;
    uint32_t verified;
    /* The RAM CRC program verified the flash and waits to be told what next. */
    bool in_ram_program;
} run;

static uint32_t now_ms(const run *r)
{
    return r->cfg->ops->now_ms(r->cfg->port);
}

static void emit(const run *r, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    if (r->cfg->progress != NULL) {
        r->cfg->progress(r->cfg->progress_ctx, phase, done, total);
    }
}

/* The client's progress comes through here: a read during the verify step
 * is verification, whatever the client calls it. */
static void on_client_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    run *r = ctx;
    if (phase == STM32ISP_PHASE_READ && r->phase == STM32ISP_PHASE_VERIFY) {
        return; /* the verify step reports its own totals */
    }
    if (phase == STM32ISP_PHASE_CONNECT && r->phase != STM32ISP_PHASE_CONNECT) {
        return; /* back to the bootloader after the RAM CRC: part of this phase */
    }
    if (phase == STM32ISP_PHASE_ERASE || phase == STM32ISP_PHASE_WRITE) {
        r->result->target_modified = true;
    }
    emit(r, phase, done, total);
}

/* Closes the current phase's clock into its field and starts the next. */
static void enter_phase(run *r, stm32isp_phase next)
{
    uint32_t t = now_ms(r);
    uint32_t spent = t - r->phase_started_ms;
    switch (r->phase) {
    case STM32ISP_PHASE_CHECK_IMAGE:
        r->result->ms_check += spent;
        break;
    case STM32ISP_PHASE_CONNECT:
        r->result->ms_connect += spent;
        break;
    case STM32ISP_PHASE_VERIFY:
        r->result->ms_verify += spent;
        break;
    case STM32ISP_PHASE_PROTECT:
        r->result->ms_protect += spent;
        break;
    case STM32ISP_PHASE_START:
        r->result->ms_start += spent;
        break;
    case STM32ISP_PHASE_ERASE:
    case STM32ISP_PHASE_WRITE:
    case STM32ISP_PHASE_READ:
        /* stm32isp_program() times erase and write itself. */
        break;
    }
    r->phase = next;
    r->phase_started_ms = t;
    r->result->phase = next;
}

stm32isp_err stm32isp_job_check_image(stm32isp_container *ct,
                                      const stm32isp_container_source *source, uint8_t *buf,
                                      size_t buf_size)
{
    stm32isp_err err = stm32isp_container_open(ct, source, buf, buf_size);
    if (err == STM32ISP_OK) {
        err = stm32isp_container_check_payload(ct, buf, buf_size);
    }
    return err;
}

/* The image view can only say IMAGE_SOURCE; the container knows why. */
static stm32isp_err source_cause(const stm32isp_job *job, stm32isp_err err)
{
    if (err == STM32ISP_ERR_IMAGE_SOURCE && job->container.source_error != STM32ISP_OK) {
        return job->container.source_error;
    }
    return err;
}

static int crc_sink(void *ctx, const uint8_t *data, uint32_t len)
{
    run *r = ctx;
    r->crc = stm32isp_crc32_ieee(r->crc, data, len);
    r->verified += len;
    emit(r, STM32ISP_PHASE_VERIFY, r->verified, r->result->image_bytes);
    return 0;
}

/*
 * Reads every programmed byte back and compares the CRC-32 of the segments
 * laid end to end with the container's payload CRC. What the flash holds is
 * compared with what was checked before anything was erased, so neither a
 * bad EEPROM read during programming nor a write the target dropped can
 * pass. Read Memory replies carry no checksum: the library reads a block
 * again until it equals the image or two reads agree
 * (stm32isp_read_back_image()), so line noise does not look like a wrong
 * flash.
 */
static stm32isp_err verify_against_container(run *r)
{
    stm32isp_container *ct = &r->job->container;
    stm32isp_image image;
    stm32isp_container_image(ct, &image);
    r->crc = 0;
    r->verified = 0;
    stm32isp_err err = stm32isp_read_back_image(&r->job->client, &image, crc_sink, r);
    if (err == STM32ISP_OK && r->crc != ct->payload_crc) {
        err = STM32ISP_ERR_VERIFY;
    }
    return source_cause(r->job, err);
}

/* Ends the RAM CRC program's run: into the application, or back into the
 * bootloader, connected, for whatever comes next. */
static stm32isp_err leave_ram_program(run *r, stm32isp_ramcrc_next next)
{
    r->in_ram_program = false;
    return stm32isp_ramcrc_leave(&r->job->client, next);
}

/*
 * The same comparison with the CRC computed by the target (ramcrc.h), where
 * the part runs the RAM CRC program: a few hundred bytes on the wire instead
 * of the image. Sets *done when this settled the verify step; otherwise the
 * flash is to be read back (no program for this part, or link trouble
 * while it ran, after which the target is back in its bootloader).
 */
static stm32isp_err verify_in_ram(run *r, bool *done)
{
    stm32isp_client *c = &r->job->client;
    const stm32isp_container *ct = &r->job->container;
    const stm32isp_ramcrc_program *prog = r->cfg->ram_program;
    *done = false;
    if (prog == NULL || stm32isp_ramcrc_check(c, prog, ct->segment_count) != STM32ISP_OK) {
        return STM32ISP_OK;
    }
    r->in_ram_program = true;
    stm32isp_err err = stm32isp_ramcrc_verify(c, prog, ct->segments, ct->segment_count,
                                              ct->payload_crc, ct->start_address, NULL);
    if (err == STM32ISP_OK) {
        *done = true;
        r->result->verified_by_ram_crc = true;
        emit(r, STM32ISP_PHASE_VERIFY, r->result->image_bytes, r->result->image_bytes);
        return STM32ISP_OK;
    }
    /* A wrong flash is refused with the target back in its bootloader,
     * as after a read-back; after link trouble it is read back there. */
    stm32isp_err back = leave_ram_program(r, STM32ISP_RAMCRC_BOOTLOADER);
    *done = err == STM32ISP_ERR_VERIFY || back != STM32ISP_OK;
    return err == STM32ISP_ERR_VERIFY ? err : back;
}

/* The verify step: the RAM CRC program where it runs, else a read-back. */
static stm32isp_err verify_flash(run *r)
{
    bool done;
    stm32isp_err err = verify_in_ram(r, &done);
    return done ? err : verify_against_container(r);
}

static stm32isp_err connect_and_identify(run *r)
{
    stm32isp_client *c = &r->job->client;
    stm32isp_job_result *res = r->result;
    r->result->target_touched = true;
    stm32isp_err err = stm32isp_connect(c);
    if (err != STM32ISP_OK) {
        return err;
    }
    res->pid = c->target.pid;
    res->device = c->target.device;
    res->flash_size = c->target.flash_size;
    res->bootloader_version = c->target.bootloader_version;
    res->was_readout_protected = c->target.readout_protected;
    return STM32ISP_OK;
}

/* Everything that can refuse the target is checked before anything is
 * erased, readout protection included. */
static stm32isp_err check_target(run *r)
{
    stm32isp_job *job = r->job;
    stm32isp_err err = stm32isp_container_allows(&job->container, job->client.target.pid,
                                                 job->client.target.flash_size);
    if (err != STM32ISP_OK) {
        return err;
    }
    stm32isp_image image;
    stm32isp_container_image(&job->container, &image);
    err = stm32isp_check_image(&job->client, &image);
    if (err != STM32ISP_OK) {
        return err;
    }
    if (!job->client.target.readout_protected) {
        return STM32ISP_OK;
    }
    if ((job->container.flags & STM32ISP_CONTAINER_UNPROTECT) == 0) {
        return STM32ISP_ERR_READ_PROTECTED;
    }
    /* The container's owner asked for it: this mass-erases the target. */
    r->result->target_modified = true;
    err = stm32isp_cmd_readout_unprotect(&job->client);
    if (err == STM32ISP_OK) {
        r->result->unprotected = true;
        /* The flash size register may only now be readable. */
        r->result->flash_size = job->client.target.flash_size;
        if (job->client.target.readout_protected) {
            err = STM32ISP_ERR_PROTECT_FAILED;
        }
    }
    return err;
}

static stm32isp_err program_and_verify(run *r)
{
    stm32isp_job *job = r->job;
    const stm32isp_container *ct = &job->container;
    stm32isp_image image;
    stm32isp_container_image(&job->container, &image);
    stm32isp_program_options options = {
        .erase = STM32ISP_ERASE_AUTO,
        .verify = false, /* done below, against the container's CRC */
        .start = false,  /* after protection, below */
    };
    enter_phase(r, STM32ISP_PHASE_ERASE);
    stm32isp_err err = stm32isp_program(&job->client, &image, &options, &r->result->program);
    r->result->ms_erase = r->result->program.ms_erase;
    r->result->ms_write = r->result->program.ms_write;
    if (err != STM32ISP_OK) {
        r->result->phase = r->result->program.ms_write > 0 || r->result->program.blocks_written > 0
                               ? STM32ISP_PHASE_WRITE
                               : STM32ISP_PHASE_ERASE;
        return source_cause(job, err);
    }
    if ((ct->flags & STM32ISP_CONTAINER_VERIFY) == 0) {
        return STM32ISP_OK;
    }
    enter_phase(r, STM32ISP_PHASE_VERIFY);
    err = verify_flash(r);
    if (err == STM32ISP_ERR_VERIFY) {
        /* A block the target took wrongly (a frame that noise reshaped with
         * its checksum still right, a stray command) or written from a
         * misread EEPROM: compare every block with the image, write again
         * what differs, and check the whole once more. */
        err = stm32isp_repair_image(&job->client, &image, &r->result->program);
        err = err == STM32ISP_OK ? verify_flash(r) : source_cause(job, err);
    }
    return err;
}

static stm32isp_err protect_and_start(run *r)
{
    stm32isp_job *job = r->job;
    stm32isp_client *c = &job->client;
    const stm32isp_container *ct = &job->container;
    if ((ct->flags & STM32ISP_CONTAINER_READOUT_PROTECT) != 0) {
        enter_phase(r, STM32ISP_PHASE_PROTECT);
        emit(r, STM32ISP_PHASE_PROTECT, 0, 1);
        /* More to do: the bootloader sets the protection. */
        stm32isp_err err =
            r->in_ram_program ? leave_ram_program(r, STM32ISP_RAMCRC_BOOTLOADER) : STM32ISP_OK;
        if (err == STM32ISP_OK) {
            err = stm32isp_cmd_readout_protect(c);
        }
        if (err != STM32ISP_OK) {
            return err;
        }
        if (!c->target.readout_protected) {
            return STM32ISP_ERR_PROTECT_FAILED;
        }
        r->result->readout_protected_after = true;
        emit(r, STM32ISP_PHASE_PROTECT, 1, 1);
    }
    if ((ct->flags & STM32ISP_CONTAINER_START) == 0) {
        /* Not started: left in its bootloader, as without the RAM CRC. */
        return r->in_ram_program ? leave_ram_program(r, STM32ISP_RAMCRC_BOOTLOADER) : STM32ISP_OK;
    }
    enter_phase(r, STM32ISP_PHASE_START);
    if (r->in_ram_program) {
        /* BOOT0 low and a reset with reset lines; the program's start
         * command without (which sets VTOR, unlike the bootloader's Go). */
        stm32isp_err err = leave_ram_program(r, STM32ISP_RAMCRC_START_APP);
        r->result->started = err == STM32ISP_OK;
        return err;
    }
    /* A protected bootloader refuses Go: only a pin reset can start it. */
    if (c->target.readout_protected && !stm32isp_has_reset_lines(c)) {
        return STM32ISP_ERR_NO_RESET_LINES;
    }
    stm32isp_err err = stm32isp_start_application(c, ct->start_address);
    r->result->started = err == STM32ISP_OK;
    return err;
}

/* Leaves BOOT0 low whatever happened, so that the target boots its
 * application at its next reset rather than staying in the bootloader. */
static void release_boot0(const run *r)
{
    if (r->result->target_touched && r->cfg->ops->set_boot0 != NULL) {
        (void)r->cfg->ops->set_boot0(r->cfg->port, false);
    }
}

/*
 * What every run does first: check the image with the target untouched,
 * then reset the target into its bootloader, connect and identify it.
 * Returns OK with the client connected, or the first error.
 */
static stm32isp_err begin(run *r)
{
    stm32isp_job *job = r->job;
    const stm32isp_job_config *cfg = r->cfg;
    emit(r, STM32ISP_PHASE_CHECK_IMAGE, 0, 1);
    stm32isp_err err =
        stm32isp_job_check_image(&job->container, cfg->source, job->buf, sizeof job->buf);
    if (err != STM32ISP_OK) {
        return err;
    }
    r->result->image_bytes = job->container.payload_length;
    r->result->image_crc = job->container.payload_crc;
    r->result->segment_count = job->container.segment_count;
    emit(r, STM32ISP_PHASE_CHECK_IMAGE, 1, 1);
    stm32isp_client_init(&job->client, cfg->ops, cfg->port, cfg->client);
    stm32isp_set_progress(&job->client, on_client_progress, r);
    stm32isp_set_stop_flag(&job->client, cfg->stop);
    enter_phase(r, STM32ISP_PHASE_CONNECT);
    return connect_and_identify(r);
}

/* What every run does last: the clocks and the status. */
static stm32isp_err finish(run *r, uint32_t t0, stm32isp_err err)
{
    if (r->result->target_touched) {
        r->result->link = r->job->client.stats;
    }
    stm32isp_phase phase_at_end = r->result->phase;
    enter_phase(r, phase_at_end);
    r->result->ms_total = now_ms(r) - t0;
    r->result->status = err;
    return err;
}

/* Prepares `result` and `r`; false (with INVALID_ARG in result) when the
 * arguments cannot make a run. */
static bool prepare(run *r, stm32isp_job *job, const stm32isp_job_config *cfg,
                    stm32isp_job_result *result)
{
    memset(result, 0, sizeof *result);
    if (job == NULL || cfg == NULL || cfg->ops == NULL || cfg->source == NULL) {
        result->status = STM32ISP_ERR_INVALID_ARG;
        return false;
    }
    *r = (run){.job = job, .cfg = cfg, .result = result, .phase = STM32ISP_PHASE_CHECK_IMAGE};
    r->phase_started_ms = now_ms(r);
    result->phase = STM32ISP_PHASE_CHECK_IMAGE;
    return true;
}

stm32isp_err stm32isp_job_run(stm32isp_job *job, const stm32isp_job_config *cfg,
                              stm32isp_job_result *result)
{
    stm32isp_job_result scratch_result;
    if (result == NULL) {
        result = &scratch_result;
    }
    run r;
    if (!prepare(&r, job, cfg, result)) {
        return result->status;
    }
    uint32_t t0 = r.phase_started_ms;
    stm32isp_err err = begin(&r); /* 1-2: the image, then the target */
    if (err == STM32ISP_OK) {
        err = check_target(&r); /* 3-4 */
    }
    if (err == STM32ISP_OK) {
        err = program_and_verify(&r); /* 5-6 */
    }
    if (err == STM32ISP_OK) {
        err = protect_and_start(&r); /* 7-8 */
    }
    if (!result->started) {
        release_boot0(&r);
    }
    return finish(&r, t0, err);
}

/* ------------------------------------------------------------------------- */
/* Verify only: the master's console `verify`                                 */

/* What must hold before the flash is read: the image is meant for this
 * part and the flash is readable. Nothing is unprotected here. */
static stm32isp_err check_target_readable(const run *r)
{
    stm32isp_job *job = r->job;
    stm32isp_err err = stm32isp_container_allows(&job->container, job->client.target.pid,
                                                 job->client.target.flash_size);
    if (err == STM32ISP_OK) {
        stm32isp_image image;
        stm32isp_container_image(&job->container, &image);
        err = stm32isp_check_image(&job->client, &image);
    }
    if (err == STM32ISP_OK && job->client.target.readout_protected) {
        err = STM32ISP_ERR_READ_PROTECTED;
    }
    return err;
}

stm32isp_err stm32isp_job_verify(stm32isp_job *job, const stm32isp_job_config *cfg,
                                 stm32isp_job_result *result)
{
    stm32isp_job_result scratch_result;
    if (result == NULL) {
        result = &scratch_result;
    }
    run r;
    if (!prepare(&r, job, cfg, result)) {
        return result->status;
    }
    uint32_t t0 = r.phase_started_ms;
    stm32isp_err err = begin(&r);
    if (result->target_touched) {
        stm32isp_client *c = &job->client;
        if (err == STM32ISP_OK) {
            err = check_target_readable(&r);
        }
        if (err == STM32ISP_OK) {
            enter_phase(&r, STM32ISP_PHASE_VERIFY);
            err = verify_flash(&r);
        }
        /* Released as after a probe: with reset lines the target runs its
         * application again; without, it stays in its bootloader. */
        bool pins = stm32isp_has_reset_lines(c);
        stm32isp_err left = STM32ISP_OK;
        if (r.in_ram_program) {
            left = leave_ram_program(&r,
                                     pins ? STM32ISP_RAMCRC_START_APP : STM32ISP_RAMCRC_BOOTLOADER);
            result->started = pins && left == STM32ISP_OK;
        } else if (pins && c->connected) {
            left = stm32isp_start_application(c, 0);
            result->started = left == STM32ISP_OK;
        }
        if (!result->started) {
            release_boot0(&r);
        }
        err = err != STM32ISP_OK ? err : left;
    }
    return finish(&r, t0, err);
}

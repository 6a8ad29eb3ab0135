/*
 * master: the master board's flashing job, run on this PC: the same library
 * code as the firmware, with the master's EEPROM modelled at the I2C level
 * and backed by a file.
 */
#include "cli.h"
#include "stm32isp/eeprom.h"
#include "stm32isp/job.h"
#include "stm32isp/ramcrc.h"
#include "target.h"

#include "eesim/eesim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { M_EEPROM, M_EEPROM_TYPE, M_EEPROM_ADDRESS, M_EEPROM_FAULTS, M_VERIFY };

static const cli_option master_options[] = {
    [M_EEPROM] = {"eeprom", 0, "FILE", "the EEPROM's contents (read only); required"},
    [M_EEPROM_TYPE] = {"eeprom-type", 0, "TYPE", "24c01 ... 24c512, 24m01, 24m02; required"},
    [M_EEPROM_ADDRESS] = {"eeprom-address", 0, "A", "its 7-bit I2C address (default 0x50)"},
    [M_EEPROM_FAULTS] = {"eeprom-faults", 0, "SPEC",
                         "inject EEPROM faults, e.g. bitflip=1e-4,seed=3\n(docs/eeprom.md)"},
    [M_VERIFY] = {"verify", 0, "MODE",
                  "crc (default): the target computes the CRC with the RAM\n"
                  "CRC program where it runs it, else the flash is read\n"
                  "back; read: always read back. Whether to verify at all\n"
                  "is the image's to say (pack --no-verify)"},
    {NULL, 0, NULL, NULL},
};

typedef struct master_opts {
    target_opts t;
    const char *eeprom_file, *eeprom_type, *eeprom_faults;
    uint32_t eeprom_address;
    bool read_back;
} master_opts;

static int master_take(void *ctx, int option, const char *value)
{
    master_opts *o = ctx;
    const char *cmd = "master";
    switch (option) {
    case M_EEPROM:
        o->eeprom_file = value;
        return EXIT_OK;
    case M_EEPROM_TYPE:
        o->eeprom_type = value;
        return EXIT_OK;
    case M_EEPROM_ADDRESS:
        if (!cli_parse_u32(value, &o->eeprom_address) || o->eeprom_address < 0x08 ||
            o->eeprom_address > 0x77) {
            cli_error(cmd, "a 7-bit address such as 0x50", "bad --eeprom-address '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case M_EEPROM_FAULTS:
        o->eeprom_faults = value;
        return EXIT_OK;
    case M_VERIFY:
        if (strcmp(value, "crc") == 0 || strcmp(value, "read") == 0) {
            o->read_back = strcmp(value, "read") == 0;
            return EXIT_OK;
        }
        cli_error(cmd,
                  strcmp(value, "none") == 0 ? "pack the image with --no-verify instead"
                                             : "crc or read",
                  "unknown --verify '%s': the image decides whether master verifies", value);
        return EXIT_USAGE;
    default:
        return target_take(cmd, &o->t, option, value);
    }
}

/* The master board's EEPROM, modelled at the I2C level and read through the
 * same driver the firmware uses. */
typedef struct master_eeprom {
    eesim *model;
    stm32isp_eeprom driver;
    stm32isp_container_source source;
} master_eeprom;

static stm32isp_err eeprom_source_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    master_eeprom *m = ctx;
    return stm32isp_eeprom_read(&m->driver, offset, buf, len);
}

static int eeprom_open(master_eeprom *m, const master_opts *o)
{
    const char *cmd = "master";
    memset(m, 0, sizeof *m);
    const stm32isp_eeprom_part *part = stm32isp_eeprom_part_find(o->eeprom_type);
    if (part == NULL) {
        cli_error(cmd,
                  "one of 24c01 24c02 24c04 24c08 24c16 24c32 24c64 24c128 24c256 24c512 "
                  "24m01 24m02",
                  "unknown --eeprom-type '%s'", o->eeprom_type);
        return EXIT_USAGE;
    }
    eesim_config cfg = {.part = part, .base_address = (uint8_t)o->eeprom_address};
    char err[256];
    if (o->eeprom_faults != NULL &&
        eesim_faults_parse(o->eeprom_faults, &cfg.faults, err, sizeof err) != 0) {
        cli_error(cmd, "see docs/eeprom.md", "--eeprom-faults: %s", err);
        return EXIT_USAGE;
    }
    m->model = eesim_new(&cfg);
    if (m->model == NULL) {
        cli_error(cmd, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    if (eesim_load_file(m->model, o->eeprom_file, err, sizeof err) != 0) {
        cli_error(cmd, "make one with 'stm32isp pack --eeprom TYPE -o FILE ...'", "%s", err);
        return EXIT_IO;
    }
    stm32isp_eeprom_init(&m->driver, &eesim_i2c_ops, m->model, part, (uint8_t)o->eeprom_address);
    m->source =
        (stm32isp_container_source){.read = eeprom_source_read, .ctx = m, .size = part->size};
    return EXIT_OK;
}

/* The image in the EEPROM, checked before the port (whose modem lines may
 * reset the target) is opened. */
static int eeprom_check(master_eeprom *m, const master_opts *o)
{
    stm32isp_container ct;
    uint8_t buf[256];
    stm32isp_err err = stm32isp_job_check_image(&ct, &m->source, buf, sizeof buf);
    if (err == STM32ISP_OK) {
        return EXIT_OK;
    }
    cli_error("master", stm32isp_hint(err), "%s: %s; the target was not touched", o->eeprom_file,
              stm32isp_strerror(err));
    return err == STM32ISP_ERR_EEPROM_NACK || err == STM32ISP_ERR_EEPROM_BUS ||
                   err == STM32ISP_ERR_EEPROM_TIMEOUT
               ? EXIT_IO
               : EXIT_IMAGE_REFUSED;
}

typedef struct master_run {
    session *s;
    stm32isp_job_result result;
    bool have_result;
    stm32isp_phase printed_phase;
    bool printed_any;
} master_run;

/* The bar where there is a terminal; otherwise one line as each phase
 * begins, so that a log shows how far a failed run got. */
static void on_master_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    master_run *m = ctx;
    session_progress(m->s, phase, done, total);
    if (!m->s->bar && session_human(m->s) && !m->s->t->verbose &&
        (!m->printed_any || phase != m->printed_phase)) {
        printf("  %s...\n", stm32isp_phase_name(phase));
        fflush(stdout);
    }
    m->printed_any = true;
    m->printed_phase = phase;
}

static void master_json(json *j, void *ctx)
{
    const master_run *m = ctx;
    if (!m->have_result) {
        return;
    }
    const stm32isp_job_result *r = &m->result;
    json_object(j, "image");
    json_uint(j, "bytes", r->image_bytes);
    json_uint(j, "segments", r->segment_count);
    json_hex32(j, "crc", r->image_crc);
    json_close_object(j);
    json_string(j, "phase", stm32isp_phase_name(r->phase));
    json_bool(j, "target_touched", r->target_touched);
    json_bool(j, "target_modified", r->target_modified);
    json_bool(j, "unprotected", r->unprotected);
    json_bool(j, "readout_protected_after", r->readout_protected_after);
    json_bool(j, "started", r->started);
    json_object(j, "erase");
    json_bool(j, "mass", r->program.mass_erased);
    json_uint(j, "units", r->program.units_erased);
    json_close_object(j);
    json_object(j, "write");
    json_uint(j, "bytes", r->program.bytes_written);
    json_uint(j, "blocks", r->program.blocks_written);
    json_uint(j, "blocks_skipped", r->program.blocks_skipped);
    json_close_object(j);
    json_object(j, "ms");
    json_uint(j, "check", r->ms_check);
    json_uint(j, "connect", r->ms_connect);
    json_uint(j, "erase", r->ms_erase);
    json_uint(j, "write", r->ms_write);
    json_uint(j, "verify", r->ms_verify);
    json_uint(j, "protect", r->ms_protect);
    json_uint(j, "start", r->ms_start);
    json_uint(j, "total", r->ms_total);
    json_close_object(j);
}

static void print_summary(const session *s, const stm32isp_job *job, const stm32isp_job_result *r)
{
    const stm32isp_container *ct = &job->container;
    printf("programmed \"%s\" %s: %" PRIu32 " bytes in %u segment%s (CRC-32 0x%08" PRIx32 ")\n",
           ct->name, ct->version, r->image_bytes, r->segment_count,
           r->segment_count == 1 ? "" : "s", r->image_crc);
    printf("  target    %s, PID 0x%03x, bootloader v%u.%u, %" PRIu32 " KiB flash\n",
           r->device != NULL ? r->device->name : "?", r->pid,
           (unsigned)(r->bootloader_version >> 4), (unsigned)(r->bootloader_version & 0xF),
           r->flash_size / 1024);
    if (r->unprotected) {
        printf("  unprotect readout protection removed (the flash was mass-erased)\n");
    }
    printf("  check     image in the EEPROM: header and payload CRC good (%.2f s)\n",
           r->ms_check / 1000.0);
    printf("  connect   %.2f s\n", r->ms_connect / 1000.0);
    if (r->program.mass_erased) {
        printf("  erase     whole flash (%.2f s)\n", r->ms_erase / 1000.0);
    } else {
        printf("  erase     %" PRIu32 " units (%.2f s)\n", r->program.units_erased,
               r->ms_erase / 1000.0);
    }
    printf("  write     %" PRIu32 " blocks, %" PRIu32 " blank blocks skipped (%.2f s)\n",
           r->program.blocks_written, r->program.blocks_skipped, r->ms_write / 1000.0);
    if ((ct->flags & STM32ISP_CONTAINER_VERIFY) != 0) {
        printf("  verify    %s, CRC-32 equal to the image's (%.2f s)\n",
               r->verified_by_ram_crc ? "computed on the target (RAM program)" : "read back",
               r->ms_verify / 1000.0);
    } else {
        printf("  verify    NO: the image was packed with --no-verify\n");
    }
    if (r->readout_protected_after) {
        printf("  protect   readout protection set (%.2f s)\n", r->ms_protect / 1000.0);
    }
    printf("  start     %s\n",
           !r->started                            ? "no: the image was packed with --no-start"
           : stm32isp_has_reset_lines(&s->client) ? "BOOT0 low and a reset"
           : r->verified_by_ram_crc
               ? "by the RAM program (no reset lines; it sets VTOR to the vector table)"
               : "with Go (no reset lines: system memory stays mapped at 0)");
    printf("  total     %.2f s\n", r->ms_total / 1000.0);
}

static int master_steps(master_run *m, const master_opts *o, master_eeprom *ee)
{
    session *s = m->s;
    stm32isp_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cli_error(s->cmd, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    stm32isp_job_config cfg = {
        .ops = s->client.ops,
        .port = s->client.port,
        .client = &s->cfg,
        .source = &ee->source,
        .ram_program = o->read_back ? NULL : &stm32isp_ramcrc_program_m3,
        .progress = on_master_progress,
        .progress_ctx = m,
        .stop = s->client.stop,
    };
    stm32isp_err err = stm32isp_job_run(job, &cfg, &m->result);
    m->have_result = true;
    /* The session's view of the target, for the JSON record. */
    s->client.target = job->client.target;
    s->client.stats = m->result.link;
    int code = EXIT_OK;
    if (err != STM32ISP_OK) {
        /* The job knows what it touched better than the progress did. */
        s->modified = m->result.target_modified;
        s->phase = m->result.phase;
        char during[160];
        snprintf(during, sizeof during, "%s (%s)", stm32isp_phase_name(m->result.phase),
                 !m->result.target_touched    ? "the target was not touched"
                 : !m->result.target_modified ? "nothing was erased"
                                              : "run it again to finish");
        code = session_fail(s, err, err == STM32ISP_ERR_CANCELLED ? "running the job" : during);
    } else {
        session_end_bar(s);
        if (session_human(s)) {
            print_summary(s, job, &m->result);
        }
    }
    free(job);
    return code;
}

static int master_cmd_run(const cli_command *cmd, int argc, char **argv)
{
    master_opts o = {.eeprom_address = 0x50};
    int first;
    int code = cli_parse(cmd, argc, argv, master_take, &o, &first);
    if (code != EXIT_OK) {
        return code == CLI_HELP ? EXIT_OK : code;
    }
    if (first < argc) {
        cli_error(cmd->name, "the EEPROM's file goes with --eeprom", "unexpected argument '%s'",
                  argv[first]);
        return EXIT_USAGE;
    }
    if (o.eeprom_file == NULL || o.eeprom_type == NULL) {
        cli_error(cmd->name, "e.g. --eeprom eeprom.bin --eeprom-type 24c256",
                  "give the EEPROM's file and type");
        return EXIT_USAGE;
    }
    if ((code = target_check(cmd->name, &o.t)) != EXIT_OK) {
        return code;
    }
    master_eeprom ee;
    code = eeprom_open(&ee, &o);
    if (code == EXIT_OK) {
        code = eeprom_check(&ee, &o);
    }
    if (code == EXIT_OK) {
        session s;
        master_run m = {.s = NULL};
        code = session_open(&s, cmd->name, &o.t);
        s.image_command = true;
        m.s = &s;
        if (code == EXIT_OK) {
            code = master_steps(&m, &o, &ee);
        }
        code = session_finish(&s, code, master_json, &m);
    }
    eesim_free(ee.model);
    return code;
}

const cli_command cmd_master = {
    .name = "master",
    .summary = "run the master board's flashing job from an EEPROM image file",
    .usage = "master --eeprom FILE --eeprom-type TYPE --port PATH [options]",
    .about = "Runs the master board's flashing job on this PC: the same code as the\n"
             "firmware, with the EEPROM modelled at the I2C level and backed by FILE (a\n"
             "dump made by 'stm32isp pack --eeprom TYPE'). Checks the image in the EEPROM\n"
             "before touching the target, then connects, erases, programs, verifies\n"
             "against the image's CRC and starts the target as the image says (how it\n"
             "starts, whether it verifies: the image's flags, set by `pack`).",
    .options = master_options,
    .target = true,
    .run = master_cmd_run,
};

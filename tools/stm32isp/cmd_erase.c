/* erase: the whole flash, or the pages or sectors that hold a range. */
#include "cli.h"
#include "stm32isp/program.h"
#include "target.h"

#include <inttypes.h>
#include <string.h>

enum { E_ALL, E_ADDRESS, E_LENGTH };

static const cli_option erase_options[] = {
    [E_ALL] = {"all", 0, NULL, "erase the whole flash (a mass erase)"},
    [E_ADDRESS] = {"address", 0, "A", "first address of the range"},
    [E_LENGTH] = {"length", 0, "N", "bytes, with K or M suffixes"},
    {NULL, 0, NULL, NULL},
};

typedef struct erase_opts {
    target_opts t;
    bool all, has_address, has_length;
    uint32_t address, length;
} erase_opts;

static int erase_take(void *ctx, int option, const char *value)
{
    erase_opts *o = ctx;
    const char *cmd = "erase";
    switch (option) {
    case E_ALL:
        o->all = true;
        return EXIT_OK;
    case E_ADDRESS:
        if (!cli_parse_u32(value, &o->address)) {
            cli_error(cmd, "give it in hex, e.g. 0x08004000", "bad --address '%s'", value);
            return EXIT_USAGE;
        }
        o->has_address = true;
        return EXIT_OK;
    case E_LENGTH:
        if (!cli_parse_length(value, &o->length) || o->length == 0) {
            cli_error(cmd, "e.g. 4096, 0x1000 or 64K", "bad --length '%s'", value);
            return EXIT_USAGE;
        }
        o->has_length = true;
        return EXIT_OK;
    default:
        return target_take(cmd, &o->t, option, value);
    }
}

/* Erasing reads no image data; this source exists to satisfy the checks. */
static int blank_source(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    (void)ctx;
    (void)offset;
    memset(buf, 0xFF, len);
    return 0;
}

typedef struct erase_result {
    bool done, mass;
    uint32_t units;
} erase_result;

static void erase_json(json *j, void *ctx)
{
    const erase_result *r = ctx;
    json_object(j, "erase");
    json_bool(j, "mass", r->done && r->mass);
    json_uint(j, "units", r->units);
    json_close_object(j);
}

static int erase_steps(session *s, const erase_opts *o, erase_result *r)
{
    int code = session_connect(s);
    if (code != EXIT_OK) {
        return code;
    }
    stm32isp_err err;
    if (o->all) {
        session_progress(s, STM32ISP_PHASE_ERASE, 0, 1);
        err = stm32isp_cmd_mass_erase(&s->client);
        r->mass = true;
    } else {
        /* A one-segment image stands for the range: the erase logic then
         * picks exactly the units it touches, after the same checks. */
        stm32isp_segment seg = {o->address, o->length};
        stm32isp_image range = {.segments = &seg, .segment_count = 1, .read = blank_source};
        stm32isp_program_report rep = {0};
        err = stm32isp_check_image(&s->client, &range);
        if (err == STM32ISP_ERR_ADDRESS || err == STM32ISP_ERR_IMAGE_TOO_LARGE) {
            const stm32isp_target_info *t = &s->client.target;
            uint32_t base = stm32isp_device_flash_base(t->device);
            session_record(s, err, "choosing what to erase");
            cli_error(s->cmd, NULL,
                      "0x%08" PRIx32 "-0x%08" PRIx64 " is not inside the flash of this %s "
                      "(0x%08" PRIx32 "-0x%08" PRIx32 "); nothing was erased",
                      o->address, (uint64_t)o->address + o->length - 1, t->device->name, base,
                      base + t->flash_size - 1);
            return EXIT_USAGE;
        }
        if (err == STM32ISP_OK) {
            err = stm32isp_erase_for_image(&s->client, &range, STM32ISP_ERASE_UNITS, &rep);
        }
        r->units = rep.units_erased;
        r->mass = rep.mass_erased;
    }
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "erasing");
    }
    r->done = true;
    return EXIT_OK;
}

static int erase_run(const cli_command *cmd, int argc, char **argv)
{
    erase_opts o = {0};
    int code;
    if (!target_parse(cmd, argc, argv, erase_take, &o, &o.t, &code)) {
        return code;
    }
    if (o.all == (o.has_address || o.has_length) || o.has_address != o.has_length) {
        cli_error(cmd->name, "either --all, or --address A --length N", "say what to erase");
        return EXIT_USAGE;
    }
    session s;
    erase_result r = {0};
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = erase_steps(&s, &o, &r);
    }
    if (code == EXIT_OK && session_human(&s)) {
        if (r.mass) {
            printf("erased the whole flash\n");
        } else {
            printf("erased %" PRIu32 " units covering 0x%08" PRIx32 "-0x%08" PRIx32 "\n", r.units,
                   o.address, o.address + o.length - 1);
        }
    }
    return session_finish(&s, code, erase_json, &r);
}

const cli_command cmd_erase = {
    .name = "erase",
    .summary = "erase the whole flash, or the pages of a range",
    .usage = "erase --port PATH (--all | --address A --length N) [options]",
    .about = "Erases the whole flash, or the pages or sectors that hold [A, A+N): flash\n"
             "outside them is kept.",
    .options = erase_options,
    .target = true,
    .run = erase_run,
};

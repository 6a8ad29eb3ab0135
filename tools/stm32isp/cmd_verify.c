/*
 * verify: checks a target's flash against firmware files without writing
 * anything: the answer to "does this board hold that image?".
 */
#include "cli.h"
#include "inputs.h"
#include "ramcheck.h"
#include "stm32isp/an3155.h"
#include "stm32isp/container.h"
#include "stm32isp/program.h"
#include "target.h"

#include <inttypes.h>
#include <string.h>

enum { V_ADDRESS, V_FORMAT, V_VERIFY };

static const cli_option verify_options[] = {
    [V_ADDRESS] = {"address", 0, "A",
                   "load address of raw binaries (default 0x08000000);\n"
                   "FILE@A gives one file its own"},
    [V_FORMAT] = {"format", 0, "F", "bin|hex|srec|elf for every file (default: detected)"},
    [V_VERIFY] = {"verify", 0, "MODE",
                  "crc: the target computes the CRC-32 with a small program\n"
                  "in its RAM (STM32F1, docs/ram-crc.md); read: every byte\n"
                  "read back. Default: crc where the part runs it, else Get\n"
                  "Checksum where the bootloader offers it, else read"},
    {NULL, 0, NULL, NULL},
};

typedef struct verify_opts {
    target_opts t;
    image_opts images;
    verify_method method;
} verify_opts;

static int verify_take(void *ctx, int option, const char *value)
{
    verify_opts *o = ctx;
    const char *cmd = "verify";
    switch (option) {
    case V_ADDRESS:
        return image_take_address(cmd, value, &o->images);
    case V_FORMAT:
        return image_take_format(cmd, value, &o->images);
    case V_VERIFY:
        if (!verify_method_parse(value, false, &o->method)) {
            cli_error(cmd, "one of crc, read", "unknown --verify '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    default:
        return target_take(cmd, &o->t, option, value);
    }
}

typedef struct verify_result {
    const image_set *set;
    bool checked, equal;
    const char *by; /* ram-crc, checksum, read-back */
    bool has_difference;
    uint32_t first_difference;
    uint32_t ms;
} verify_result;

static void verify_json(json *j, void *ctx)
{
    const verify_result *r = ctx;
    json_object(j, "image");
    json_uint(j, "files", r->set->count);
    json_uint(j, "segments", r->set->merged.segment_count);
    json_uint(j, "bytes", r->set->merged.payload_size);
    json_hex32(j, "crc",
               stm32isp_crc32_ieee(0, r->set->merged.payload, r->set->merged.payload_size));
    json_close_object(j);
    json_bool(j, "equal", r->checked && r->equal);
    json_string(j, "verified_by", r->checked ? r->by : "none");
    if (r->has_difference) {
        json_hex32(j, "first_difference", r->first_difference);
    }
    json_uint(j, "verify_ms", r->ms);
}

static int verify_steps(session *s, const verify_opts *o, verify_result *r)
{
    const loaded_image *img = &r->set->merged;
    int code = session_connect(s);
    if (code != EXIT_OK) {
        return code;
    }
    stm32isp_client *c = &s->client;
    stm32isp_image image;
    image_as_stm32isp(img, &image);
    if ((code = image_check_fits(s, img, "it cannot hold this image")) != EXIT_OK) {
        return code;
    }
    stm32isp_err err;
    if (c->target.readout_protected) {
        return session_fail(s, STM32ISP_ERR_READ_PROTECTED, "verifying");
    }
    bool ram_crc;
    if ((code = ram_crc_choose(s, img, o->method, &ram_crc)) != EXIT_OK) {
        return code;
    }
    if (ram_crc) {
        ram_crc_outcome out;
        code = ram_crc_verify(s, img, 0, false, &out);
        r->ms = out.ms;
        r->by = out.fell_back ? "read-back" : "ram-crc";
        r->checked = out.verified || s->err == STM32ISP_ERR_VERIFY;
        r->equal = out.verified;
        return code;
    }
    uint32_t t0 = c->ops->now_ms(c->port);
    uint32_t bad = 0;
    /* As the library decides: Get Checksum spans are whole words. */
    bool by_reading = o->method == VERIFY_READ || !stm32isp_offers(c, AN3155_CMD_GET_CHECKSUM) ||
                      stm32isp_device_write_align(c->target.device) % 4 != 0;
    err = by_reading ? stm32isp_verify_image_by_reading(c, &image, &bad)
                     : stm32isp_verify_image(c, &image, &bad);
    r->ms = c->ops->now_ms(c->port) - t0;
    r->by = by_reading ? "read-back" : "checksum";
    if (err == STM32ISP_ERR_VERIFY) {
        r->checked = true;
        r->has_difference = true;
        r->first_difference = bad;
        session_record(s, err, "verifying");
        cli_error(s->cmd, NULL, "the flash differs from the image, first at 0x%08" PRIx32, bad);
        return EXIT_FAILURE_GENERIC;
    }
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "verifying");
    }
    r->checked = r->equal = true;
    return EXIT_OK;
}

static int verify_run(const cli_command *cmd, int argc, char **argv)
{
    verify_opts o = {.images.format = IMAGE_FORMAT_AUTO};
    image_set set;
    int code;
    if (!target_parse_images(cmd, argc, argv, verify_take, &o, &o.t, &o.images, &set, &code)) {
        return code;
    }
    {
        verify_result r = {.set = &set, .by = "none"};
        session s;
        code = session_open(&s, cmd->name, &o.t);
        s.image_command = true;
        if (code == EXIT_OK) {
            code = verify_steps(&s, &o, &r);
        }
        if (code == EXIT_OK && session_human(&s)) {
            printf("the flash of the %s holds the image: %" PRIu32 " bytes in %zu segment%s, "
                   "CRC-32 0x%08" PRIx32 " (%s, %.2f s)\n",
                   s.client.target.device->name, set.merged.payload_size, set.merged.segment_count,
                   set.merged.segment_count == 1 ? "" : "s",
                   stm32isp_crc32_ieee(0, set.merged.payload, set.merged.payload_size),
                   strcmp(r.by, "ram-crc") == 0    ? "CRC computed on the target"
                   : strcmp(r.by, "checksum") == 0 ? "Get Checksum"
                                                   : "read back",
                   r.ms / 1000.0);
        }
        code = session_finish(&s, code, verify_json, &r);
    }
    image_set_free(&set);
    return code;
}

const cli_command cmd_verify = {
    .name = "verify",
    .summary = "check a target's flash against images, without writing",
    .usage = "verify FILE[@ADDRESS]... --port PATH [options]",
    .about = "Checks that the target's flash holds the files (as `flash` would have\n"
             "written them) and changes nothing in flash. Exit code 0 when it does,\n"
             "1 when it does not (with the first differing address where the method\n"
             "can tell), 4 when the image cannot fit this target at all. With the RAM\n"
             "CRC program the target is reset back into its bootloader afterwards.",
    .options = verify_options,
    .target = true,
    .run = verify_run,
};

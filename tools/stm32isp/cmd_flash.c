/*
 * flash: programs one or more firmware files into the target, checks the
 * flash against them and starts the application.
 */
#include "cli.h"
#include "inputs.h"
#include "ramcheck.h"
#include "stm32isp/program.h"
#include "target.h"

#include <inttypes.h>
#include <string.h>

enum {
    F_ADDRESS,
    F_FORMAT,
    F_ERASE,
    F_VERIFY,
    F_NO_VERIFY,
    F_NO_START,
    F_GO_ADDRESS,
};

static const cli_option flash_options[] = {
    [F_ADDRESS] = {"address", 0, "A",
                   "load address of raw binaries (default 0x08000000);\n"
                   "FILE@A gives one file its own"},
    [F_FORMAT] = {"format", 0, "F", "bin|hex|srec|elf for every file (default: detected)"},
    [F_ERASE] = {"erase", 0, "MODE",
                 "auto (default) or pages: the pages or sectors the image\n"
                 "touches, everything else is kept (a mass erase only when\n"
                 "the image touches every one); all: the whole flash"},
    [F_VERIFY] = {"verify", 0, "MODE",
                  "crc: the target computes the CRC-32 of what was written\n"
                  "with a small program in its RAM (STM32F1, docs/ram-crc.md);\n"
                  "read: every byte read back; none. Default: crc where the\n"
                  "part runs it, else Get Checksum where the bootloader\n"
                  "offers it, else read"},
    [F_NO_VERIFY] = {"no-verify", 0, NULL, "the same as --verify none (not recommended)"},
    [F_NO_START] = {"no-start", 0, NULL, "leave the target in its bootloader"},
    [F_GO_ADDRESS] = {"go-address", 0, "A", "vector table to start from (default: flash base)"},
    {NULL, 0, NULL, NULL},
};

typedef struct flash_opts {
    target_opts t;
    image_opts images;
    stm32isp_erase_mode erase;
    verify_method verify;
    bool no_start;
    uint32_t go_address; /* 0: the flash base */
} flash_opts;

static int flash_take(void *ctx, int option, const char *value)
{
    flash_opts *o = ctx;
    const char *cmd = "flash";
    switch (option) {
    case F_ADDRESS:
        return image_take_address(cmd, value, &o->images);
    case F_FORMAT:
        return image_take_format(cmd, value, &o->images);
    case F_ERASE:
        if (strcmp(value, "auto") == 0) {
            o->erase = STM32ISP_ERASE_AUTO;
        } else if (strcmp(value, "pages") == 0) {
            o->erase = STM32ISP_ERASE_UNITS;
        } else if (strcmp(value, "all") == 0) {
            o->erase = STM32ISP_ERASE_MASS;
        } else {
            cli_error(cmd, "one of auto, pages, all", "unknown --erase '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case F_VERIFY:
        if (!verify_method_parse(value, true, &o->verify)) {
            cli_error(cmd, "one of crc, read, none", "unknown --verify '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case F_NO_VERIFY:
        o->verify = VERIFY_NONE;
        return EXIT_OK;
    case F_NO_START:
        o->no_start = true;
        return EXIT_OK;
    case F_GO_ADDRESS:
        if (!cli_parse_u32(value, &o->go_address) || o->go_address == 0) {
            cli_error(cmd, "give it in hex, e.g. 0x08000000", "bad --go-address '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    default:
        return target_take(cmd, &o->t, option, value);
    }
}

typedef struct flash_result {
    const image_set *set;
    stm32isp_program_report rep;
    bool verified, started;
    bool ram_crc; /* verified by the RAM CRC program */
    ram_crc_outcome ram;
} flash_result;

static const char *verified_by(const flash_result *r)
{
    return !r->verified                  ? "none"
           : r->ram_crc                  ? "ram-crc"
           : r->rep.verified_by_checksum ? "checksum"
                                         : "read-back";
}

static void flash_json(json *j, void *ctx)
{
    const flash_result *r = ctx;
    const loaded_image *img = &r->set->merged;
    json_object(j, "image");
    json_string(j, "format", image_format_name(img->format));
    json_uint(j, "files", r->set->count);
    json_uint(j, "segments", img->segment_count);
    json_uint(j, "bytes", img->payload_size);
    json_close_object(j);
    json_object(j, "erase");
    json_bool(j, "mass", r->rep.mass_erased);
    json_uint(j, "units", r->rep.units_erased);
    json_uint(j, "ms", r->rep.ms_erase);
    json_close_object(j);
    json_object(j, "write");
    json_uint(j, "bytes", r->rep.bytes_written);
    json_uint(j, "blocks", r->rep.blocks_written);
    json_uint(j, "blocks_skipped", r->rep.blocks_skipped);
    json_uint(j, "ms", r->rep.ms_write);
    json_close_object(j);
    json_bool(j, "verified", r->verified);
    json_string(j, "verified_by", verified_by(r));
    json_uint(j, "verify_ms", r->rep.ms_verify);
    json_uint(j, "units_repaired", r->rep.units_repaired);
    json_bool(j, "started", r->started);
}

static void print_summary(const session *s, const flash_opts *o, const flash_result *r)
{
    const loaded_image *img = &r->set->merged;
    const stm32isp_target_info *t = &s->client.target;
    printf("flashed %" PRIu32 " bytes (%zu segment%s", img->payload_size, img->segment_count,
           img->segment_count == 1 ? "" : "s");
    if (r->set->count == 1) {
        printf(", %s", image_format_name(img->format));
    } else {
        printf(" from %zu files", r->set->count);
    }
    printf(") to %s, %" PRIu32 " KiB\n", t->device->name, t->flash_size / 1024);
    if (r->rep.mass_erased) {
        printf("  erased    whole flash (%.2f s)\n", r->rep.ms_erase / 1000.0);
    } else {
        printf("  erased    %" PRIu32 " units (%.2f s)\n", r->rep.units_erased,
               r->rep.ms_erase / 1000.0);
    }
    printf("  written   %" PRIu32 " blocks, %" PRIu32 " blank blocks skipped (%.2f s)\n",
           r->rep.blocks_written, r->rep.blocks_skipped, r->rep.ms_write / 1000.0);
    printf("  verified  %s (%.2f s)\n",
           !r->verified       ? "NO (--verify none)"
           : r->ram_crc       ? "CRC-32 computed on the target (RAM program) equal to the image's"
           : r->ram.fell_back ? "read back, equal to the image (the RAM program failed)"
           : r->rep.verified_by_checksum ? "Get Checksum CRC equal to the image's"
                                         : "read back, equal to the image",
           r->rep.ms_verify / 1000.0);
    if (r->rep.units_repaired != 0) {
        printf("  repaired  %" PRIu32 " units re-erased and rewritten\n", r->rep.units_repaired);
    }
    printf("  started   %s\n",
           !r->started
               ? (o->no_start ? "no (--no-start): the target stays in its bootloader" : "no")
           : stm32isp_has_reset_lines(&s->client) ? "BOOT0 low and a reset"
           : r->ram_crc ? "by the RAM program (no reset lines; it sets VTOR to the vector table)"
                        : "with Go (no reset lines: system memory stays mapped at 0)");
}

static int flash_steps(session *s, const flash_opts *o, flash_result *r)
{
    const loaded_image *img = &r->set->merged;
    int code = session_connect(s);
    if (code != EXIT_OK) {
        return code;
    }
    stm32isp_image image;
    image_as_stm32isp(img, &image);
    bool ram_crc = false;
    if ((code = ram_crc_choose(s, img, o->verify, &ram_crc)) != EXIT_OK ||
        (code = image_check_fits(s, img, "nothing was erased")) != EXIT_OK) {
        return code;
    }
    stm32isp_program_options popts = {
        .erase = o->erase,
        /* The RAM CRC, when it is used, comes after stm32isp_program(). */
        .verify = o->verify != VERIFY_NONE && !ram_crc,
        .verify_by_reading = o->verify == VERIFY_READ,
        /* Started separately below, so that a start failure is told apart. */
        .start = false,
    };
    stm32isp_err err = stm32isp_program(&s->client, &image, &popts, &r->rep);
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "flashing");
    }
    if (ram_crc) {
        code = ram_crc_verify(s, img, o->go_address, !o->no_start, &r->ram);
        r->verified = r->ram.verified;
        r->ram_crc = r->ram.verified && !r->ram.fell_back;
        r->started = r->ram.started;
        r->rep.ms_verify = r->ram.ms;
        if (code != EXIT_OK) {
            return code;
        }
    } else {
        r->verified = popts.verify;
    }
    session_end_bar(s);
    if (!r->started && !o->no_start) {
        err = stm32isp_start_application(&s->client, o->go_address);
        if (err != STM32ISP_OK) {
            return session_fail(s, err, "starting the application (the flash is right)");
        }
        r->started = true;
    }
    return EXIT_OK;
}

static int flash_run(const cli_command *cmd, int argc, char **argv)
{
    flash_opts o = {.images.format = IMAGE_FORMAT_AUTO, .erase = STM32ISP_ERASE_AUTO};
    image_set set;
    int code;
    if (!target_parse_images(cmd, argc, argv, flash_take, &o, &o.t, &o.images, &set, &code)) {
        return code;
    }
    {
        flash_result r = {.set = &set};
        session s;
        code = session_open(&s, cmd->name, &o.t);
        s.image_command = true;
        if (code == EXIT_OK) {
            code = flash_steps(&s, &o, &r);
        }
        if (code == EXIT_OK && session_human(&s)) {
            print_summary(&s, &o, &r);
        }
        code = session_finish(&s, code, flash_json, &r);
    }
    image_set_free(&set);
    return code;
}

const cli_command cmd_flash = {
    .name = "flash",
    .summary = "program images (.bin, Intel HEX, SREC, ELF), verify, start",
    .usage = "flash FILE[@ADDRESS]... --port PATH [options]",
    .about = "Programs the files (raw binaries at --address or their @ADDRESS, Intel HEX,\n"
             "SREC and ELF at their own addresses; '-' reads one from standard input),\n"
             "merged into one image, checks the flash against it and starts it. The\n"
             "files are checked before the port is opened, and the image against the\n"
             "target before anything is erased. Ctrl-C stops between two commands\n"
             "and says what state the flash is in (exit code 130).",
    .options = flash_options,
    .target = true,
    .run = flash_run,
};

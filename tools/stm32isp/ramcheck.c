/* Checking a flash against an image (ramcheck.h). */
#include "ramcheck.h"

#include "stm32isp/container.h"

#include <inttypes.h>
#include <string.h>

int image_check_fits(session *s, const loaded_image *img, const char *consequence)
{
    stm32isp_image image;
    image_as_stm32isp(img, &image);
    stm32isp_err err = stm32isp_check_image(&s->client, &image);
    if (err == STM32ISP_ERR_IMAGE_TOO_LARGE || err == STM32ISP_ERR_ADDRESS) {
        const stm32isp_target_info *t = &s->client.target;
        const stm32isp_segment *last = &img->segments[img->segment_count - 1];
        uint32_t base = stm32isp_device_flash_base(t->device);
        session_record(s, err, "checking the image");
        cli_error(s->cmd, NULL,
                  "the image spans 0x%08" PRIx32 "-0x%08" PRIx32 " but this %s has %" PRIu32
                  " KiB of flash at 0x%08" PRIx32 "-0x%08" PRIx32 "; %s",
                  img->segments[0].address, last->address + last->length - 1, t->device->name,
                  t->flash_size / 1024, base, base + t->flash_size - 1, consequence);
        return EXIT_IMAGE_REFUSED;
    }
    return err == STM32ISP_OK ? EXIT_OK : session_fail(s, err, "checking the image");
}

bool verify_method_parse(const char *text, bool allow_none, verify_method *out)
{
    if (strcmp(text, "crc") == 0) {
        *out = VERIFY_CRC;
    } else if (strcmp(text, "read") == 0) {
        *out = VERIFY_READ;
    } else if (allow_none && strcmp(text, "none") == 0) {
        *out = VERIFY_NONE;
    } else {
        return false;
    }
    return true;
}

int ram_crc_choose(session *s, const loaded_image *img, verify_method method, bool *use)
{
    *use = false;
    if (method != VERIFY_DEFAULT && method != VERIFY_CRC) {
        return EXIT_OK;
    }
    stm32isp_err why =
        stm32isp_ramcrc_check(&s->client, &stm32isp_ramcrc_program_m3, img->segment_count);
    *use = why == STM32ISP_OK;
    if (*use || method == VERIFY_DEFAULT) {
        return EXIT_OK;
    }
    const stm32isp_target_info *t = &s->client.target;
    if (why == STM32ISP_ERR_INVALID_ARG) {
        cli_error(s->cmd, "use --verify read",
                  "--verify crc covers at most %u segments, the image has %zu; nothing was erased",
                  (unsigned)STM32ISP_RAMCRC_MAX_RANGES, img->segment_count);
    } else if (why == STM32ISP_ERR_READ_PROTECTED) {
        cli_error(s->cmd, "remove readout protection first (stm32isp unprotect --read)",
                  "--verify crc: the target is readout protected; nothing was erased");
    } else {
        cli_error(s->cmd, "use --verify read, or leave --verify out",
                  "--verify crc: the RAM CRC program does not run on the %s (%s family, or too "
                  "little free RAM); nothing was erased",
                  t->device->name, stm32isp_device_family(t->device));
    }
    return EXIT_USAGE;
}

int ram_crc_verify(session *s, const loaded_image *img, uint32_t go, bool start,
                   ram_crc_outcome *out)
{
    stm32isp_client *c = &s->client;
    memset(out, 0, sizeof *out);
    uint32_t t0 = c->ops->now_ms(c->port);
    out->image_crc = stm32isp_crc32_ieee(0, img->payload, img->payload_size);
    session_note(s, "verify: the RAM CRC program computes the CRC-32 of %zu segment%s",
                 img->segment_count, img->segment_count == 1 ? "" : "s");
    stm32isp_err err = stm32isp_ramcrc_verify(c, &stm32isp_ramcrc_program_m3, img->segments,
                                              img->segment_count, out->image_crc, go, &out->ram);
    if (err == STM32ISP_OK) {
        out->ms = c->ops->now_ms(c->port) - t0;
        out->verified = true;
        session_end_bar(s);
        if (!start) {
            err = stm32isp_ramcrc_leave(c, STM32ISP_RAMCRC_BOOTLOADER);
            return err == STM32ISP_OK
                       ? EXIT_OK
                       : session_fail(s, err, "returning to the bootloader (the flash is right)");
        }
        err = stm32isp_ramcrc_leave(c, STM32ISP_RAMCRC_START_APP);
        if (err != STM32ISP_OK) {
            return session_fail(s, err, "starting the application (the flash is right)");
        }
        out->started = true;
        return EXIT_OK;
    }
    if (err == STM32ISP_ERR_CANCELLED) {
        return session_fail(s, err, "verifying");
    }
    stm32isp_err back = stm32isp_ramcrc_leave(c, STM32ISP_RAMCRC_BOOTLOADER);
    if (err == STM32ISP_ERR_VERIFY) {
        session_record(s, err, "verifying (CRC computed on the target)");
        cli_error(s->cmd, NULL,
                  "verifying: the flash differs from the image: the target computed CRC-32 "
                  "0x%08" PRIx32 " over the image's %" PRIu32 " bytes, the image has 0x%08" PRIx32,
                  out->ram.crc, out->ram.bytes, out->image_crc);
        return EXIT_FAILURE_GENERIC;
    }
    if (back != STM32ISP_OK) {
        session_record(s, back, "verifying");
        cli_error(s->cmd,
                  stm32isp_has_reset_lines(c)
                      ? "check the target's BOOT0 and NRST wiring, then run the same command again"
                      : "reset the target with BOOT0 high (or give --reset-seq so that the tool "
                        "can), then run the same command again; --verify read avoids the RAM "
                        "program",
                  "%s: the RAM CRC program did not answer (%s) and the target did not come "
                  "back to its bootloader (%s)",
                  strcmp(s->cmd, "flash") == 0 ? "the flash is written but NOT verified"
                                               : "the flash was NOT checked",
                  stm32isp_strerror(err), stm32isp_strerror(back));
        return EXIT_FAILURE_GENERIC;
    }
    session_end_bar(s);
    fprintf(stderr,
            "stm32isp %s: the RAM CRC program did not answer properly: reading the flash "
            "back instead\n",
            s->cmd);
    out->fell_back = true;
    stm32isp_image image;
    image_as_stm32isp(img, &image);
    uint32_t bad;
    err = stm32isp_verify_image_by_reading(c, &image, &bad);
    out->ms = c->ops->now_ms(c->port) - t0;
    if (err == STM32ISP_ERR_VERIFY) {
        session_record(s, err, "verifying (read back)");
        cli_error(s->cmd, NULL, "verifying: the flash differs from the image at 0x%08" PRIx32, bad);
        return EXIT_FAILURE_GENERIC;
    }
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "verifying (read back)");
    }
    out->verified = true;
    return EXIT_OK;
}

/*
 * info: reads an image container, or an EEPROM dump holding one, with the
 * library code the master runs, and says what is in it and whether it is
 * intact.
 */
#include "cli.h"
#include "ctview.h"
#include "fileio.h"
#include "json.h"
#include "stm32isp/devices.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct info_report {
    const char *path;
    const uint8_t *data;
    uint32_t size;
    bool blank;
    stm32isp_err open_err, payload_err;
    stm32isp_container ct;
    char detail[256]; /* why the header was refused, when it can be told */
    uint32_t payload_crc_computed;
    /* After the container: an EEPROM's rest. */
    uint32_t container_size;
    const stm32isp_eeprom_part *part;
    bool rest_blank;
} info_report;

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Says which rule a refused file breaks. The library's error is all the
 * master needs; a person fixing a packer or a dump needs more. */
static void diagnose(info_report *r)
{
    const uint8_t *d = r->data;
    switch (r->open_err) {
    case STM32ISP_ERR_NO_CONTAINER:
        if (r->size >= 4 && !r->blank) {
            snprintf(r->detail, sizeof r->detail,
                     "the file starts with %02x %02x %02x %02x, not the magic \"SIMG\"%s", d[0],
                     d[1], d[2], d[3],
                     d[0] == 0x7F && d[1] == 'E' && d[2] == 'L' && d[3] == 'F'
                         ? " (an ELF file: pack it with stm32isp pack)"
                         : "");
        }
        return;
    case STM32ISP_ERR_CONTAINER_VERSION:
        if (d[4] != STM32ISP_CONTAINER_MAJOR) {
            snprintf(r->detail, sizeof r->detail,
                     "format major version %u; this stm32isp reads version %d", d[4],
                     STM32ISP_CONTAINER_MAJOR);
        } else {
            snprintf(r->detail, sizeof r->detail,
                     "flags 0x%08" PRIx32 " hold bits this stm32isp does not know (0x%08" PRIx32
                     ")",
                     r->ct.flags, r->ct.flags & ~(uint32_t)STM32ISP_CONTAINER_KNOWN_FLAGS);
        }
        return;
    case STM32ISP_ERR_CONTAINER_HEADER:
        break;
    default:
        return;
    }
    if (r->size < 16) {
        snprintf(r->detail, sizeof r->detail,
                 "the file ends after %" PRIu32 " bytes, inside the header: truncated", r->size);
        return;
    }
    uint32_t hl = (uint32_t)d[6] | (uint32_t)d[7] << 8;
    uint32_t least = (uint32_t)stm32isp_container_header_length(1);
    if (hl < least) {
        snprintf(r->detail, sizeof r->detail,
                 "header_length %" PRIu32 " is less than the %" PRIu32 " of a one-segment header",
                 hl, least);
        return;
    }
    if (hl > r->size) {
        snprintf(r->detail, sizeof r->detail,
                 "header_length %" PRIu32 " is longer than the file (%" PRIu32 " bytes): truncated",
                 hl, r->size);
        return;
    }
    uint32_t stored = le32_at(d + hl - 4);
    uint32_t computed = stm32isp_crc32_ieee(0, d, hl - 4);
    if (stored != computed) {
        snprintf(r->detail, sizeof r->detail,
                 "header CRC-32 stored 0x%08" PRIx32 ", computed 0x%08" PRIx32
                 " over its first %" PRIu32 " bytes",
                 stored, computed, hl - 4);
        return;
    }
    uint32_t payload = le32_at(d + 12);
    if ((uint64_t)hl + payload > r->size) {
        snprintf(r->detail, sizeof r->detail,
                 "header (%" PRIu32 ") and payload (%" PRIu32 ") need %" PRIu64
                 " bytes; the file has %" PRIu32 ": truncated",
                 hl, payload, (uint64_t)hl + payload, r->size);
        return;
    }
    snprintf(r->detail, sizeof r->detail,
             "the header CRC is right but a field breaks a rule of the format "
             "(docs/image-format.md)");
}

static void info_read(info_report *r)
{
    ctview_buffer b;
    ctview_buffer_init(&b, r->data, r->size);
    uint8_t scratch[256];
    r->blank = r->size > 0;
    for (uint32_t i = 0; i < r->size && r->blank; i++) {
        r->blank = r->data[i] == 0xFF;
    }
    r->open_err = stm32isp_container_open(&r->ct, &b.source, scratch, sizeof scratch);
    r->payload_err = STM32ISP_OK;
    diagnose(r);
    if (r->open_err != STM32ISP_OK) {
        return;
    }
    r->payload_err = stm32isp_container_check_payload(&r->ct, scratch, sizeof scratch);
    r->payload_crc_computed =
        stm32isp_crc32_ieee(0, r->data + r->ct.header_length, r->ct.payload_length);
    r->container_size = r->ct.header_length + r->ct.payload_length;
    r->part = ctview_part_of_size(r->size);
    r->rest_blank = true;
    for (uint32_t i = r->container_size; i < r->size && r->rest_blank; i++) {
        r->rest_blank = r->data[i] == 0xFF;
    }
}

static stm32isp_err info_error(const info_report *r)
{
    return r->open_err != STM32ISP_OK ? r->open_err : r->payload_err;
}

static void format_time(uint32_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(buf, size, "unknown");
        return;
    }
    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static uint32_t header_crc(const info_report *r)
{
    return le32_at(r->data + r->ct.header_length - 4);
}

static void info_print(const info_report *r)
{
    const stm32isp_container *ct = &r->ct;
    printf("file        %s (%" PRIu32 " bytes)\n", r->path, r->size);
    if (r->blank) {
        const stm32isp_eeprom_part *p = ctview_part_of_size(r->size);
        printf("blank       every byte is 0xFF: an erased EEPROM%s%s%s, no image\n",
               p != NULL ? " (" : "", p != NULL ? p->name : "", p != NULL ? ")" : "");
    }
    if (r->open_err != STM32ISP_OK) {
        if (r->detail[0] != '\0') {
            printf("detail      %s\n", r->detail);
        }
        printf("integrity   FAILED: %s\n", stm32isp_strerror(r->open_err));
        return;
    }
    char words[96], when[64];
    ctview_flag_words(ct->flags, words, sizeof words);
    format_time(ct->created, when, sizeof when);
    printf("format      %u.%u\n", ct->major, ct->minor);
    printf("name        ");
    ctview_print_text(stdout, ct->name);
    printf("\nversion     ");
    ctview_print_text(stdout, ct->version);
    printf("\ncreated     %s (%" PRIu32 ")\n", when, ct->created);
    printf("flags       %s (0x%02" PRIx32 ")\n", words, ct->flags);
    if (ct->pid_count == 0) {
        printf("targets     any part\n");
    }
    for (unsigned i = 0; i < ct->pid_count; i++) {
        const stm32isp_device *d = stm32isp_device_by_pid(ct->pids[i]);
        printf("%s 0x%03x %s\n", i == 0 ? "targets    " : "           ", ct->pids[i],
               d != NULL ? d->name : "(not in the device database)");
    }
    if (ct->min_flash_size == 0) {
        printf("min flash   any\n");
    } else {
        printf("min flash   %" PRIu32 " KiB (%" PRIu32 " bytes)\n", ct->min_flash_size / 1024,
               ct->min_flash_size);
    }
    if (ct->start_address == 0) {
        printf("start at    the flash base\n");
    } else {
        printf("start at    0x%08" PRIx32 "\n", ct->start_address);
    }
    printf("segments    %u\n", (unsigned)ct->segment_count);
    for (unsigned i = 0; i < ct->segment_count; i++) {
        const stm32isp_segment *s = &ct->segments[i];
        printf("  %2u: address 0x%08" PRIx32 ", length %" PRIu32 ", end 0x%08" PRIx64 "\n", i,
               s->address, s->length, (uint64_t)s->address + s->length);
    }
    printf("payload     %" PRIu32 " bytes, CRC-32 0x%08" PRIx32 "\n", ct->payload_length,
           ct->payload_crc);
    printf("header      %u bytes, CRC-32 0x%08" PRIx32 "\n", (unsigned)ct->header_length,
           header_crc(r));
    printf("total       %" PRIu32 " bytes\n", r->container_size);
    if (r->size > r->container_size) {
        uint32_t rest = r->size - r->container_size;
        if (r->part != NULL) {
            printf("eeprom      dump of a %s: %" PRIu32 " of %" PRIu32 " bytes used (%.1f%%), "
                   "the rest %s\n",
                   r->part->name, r->container_size, r->size,
                   100.0 * (double)r->container_size / (double)r->size,
                   r->rest_blank ? "0xFF" : "not blank (left from an earlier image; ignored)");
        } else {
            printf("after it    %" PRIu32 " bytes, %s\n", rest,
                   r->rest_blank ? "all 0xFF" : "not blank (ignored)");
        }
    }
    if (r->payload_err != STM32ISP_OK) {
        if (r->payload_err == STM32ISP_ERR_CONTAINER_PAYLOAD) {
            printf("detail      payload CRC-32 stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 "\n",
                   ct->payload_crc, r->payload_crc_computed);
        }
        printf("integrity   FAILED: %s\n", stm32isp_strerror(r->payload_err));
    } else {
        printf("integrity   OK\n");
    }
}

static void info_json(const info_report *r, int code)
{
    stm32isp_err err = info_error(r);
    json j;
    json_begin(&j, stdout);
    json_string(&j, "command", "info");
    json_string(&j, "file", r->path);
    json_bool(&j, "ok", code == EXIT_OK);
    json_int(&j, "exit_code", code);
    json_uint(&j, "size", r->size);
    json_bool(&j, "blank", r->blank);
    json_string(&j, "integrity", err == STM32ISP_OK ? "ok" : stm32isp_err_name(err));
    if (err != STM32ISP_OK) {
        json_string(&j, "error", stm32isp_err_name(err));
        json_string(&j, "message", stm32isp_strerror(err));
        json_string(&j, "hint", stm32isp_hint(err));
        if (r->detail[0] != '\0') {
            json_string(&j, "detail", r->detail);
        }
    }
    if (r->open_err == STM32ISP_OK) {
        const stm32isp_container *ct = &r->ct;
        char when[64];
        format_time(ct->created, when, sizeof when);
        json_object(&j, "container");
        json_format(&j, "format", "%u.%u", ct->major, ct->minor);
        json_string(&j, "name", ct->name);
        json_string(&j, "version", ct->version);
        json_uint(&j, "created", ct->created);
        json_string(&j, "created_utc", when);
        json_object(&j, "flags");
        json_uint(&j, "value", ct->flags);
        json_bool(&j, "verify", (ct->flags & STM32ISP_CONTAINER_VERIFY) != 0);
        json_bool(&j, "readout_protect", (ct->flags & STM32ISP_CONTAINER_READOUT_PROTECT) != 0);
        json_bool(&j, "start", (ct->flags & STM32ISP_CONTAINER_START) != 0);
        json_bool(&j, "unprotect", (ct->flags & STM32ISP_CONTAINER_UNPROTECT) != 0);
        json_close_object(&j);
        json_array(&j, "pids");
        for (unsigned i = 0; i < ct->pid_count; i++) {
            const stm32isp_device *d = stm32isp_device_by_pid(ct->pids[i]);
            json_object(&j, NULL);
            json_format(&j, "pid", "0x%03x", ct->pids[i]);
            json_string(&j, "name", d != NULL ? d->name : NULL);
            json_close_object(&j);
        }
        json_close_array(&j);
        json_uint(&j, "min_flash_size", ct->min_flash_size);
        json_hex32(&j, "start_address", ct->start_address);
        json_array(&j, "segments");
        for (unsigned i = 0; i < ct->segment_count; i++) {
            const stm32isp_segment *seg = &ct->segments[i];
            json_object(&j, NULL);
            json_hex32(&j, "address", seg->address);
            json_uint(&j, "length", seg->length);
            json_format(&j, "end", "0x%08" PRIx64, (uint64_t)seg->address + seg->length);
            json_close_object(&j);
        }
        json_close_array(&j);
        json_uint(&j, "payload_length", ct->payload_length);
        json_hex32(&j, "payload_crc", ct->payload_crc);
        json_hex32(&j, "payload_crc_computed", r->payload_crc_computed);
        json_uint(&j, "header_length", ct->header_length);
        json_hex32(&j, "header_crc", header_crc(r));
        json_uint(&j, "total_size", r->container_size);
        json_close_object(&j);
        if (r->part != NULL) {
            json_object(&j, "eeprom");
            json_string(&j, "part", r->part->name);
            json_uint(&j, "size", r->size);
            json_uint(&j, "used", r->container_size);
            json_fixed(&j, "fill_percent", 100.0 * (double)r->container_size / (double)r->size, 1);
            json_bool(&j, "rest_blank", r->rest_blank);
            json_close_object(&j);
        }
    }
    json_end(&j);
}

enum { I_JSON };

static const cli_option info_options[] = {
    [I_JSON] = {"json", 0, NULL, "one JSON object on stdout"},
    {NULL, 0, NULL, NULL},
};

static int info_take(void *ctx, int option, const char *value)
{
    (void)value;
    bool *json_wanted = ctx;
    if (option == I_JSON) {
        *json_wanted = true;
        return EXIT_OK;
    }
    return EXIT_USAGE;
}

static int info_run(const cli_command *cmd, int argc, char **argv)
{
    bool json_wanted = false;
    int first;
    int code = cli_parse(cmd, argc, argv, info_take, &json_wanted, &first);
    if (code != EXIT_OK) {
        return code == CLI_HELP ? EXIT_OK : code;
    }
    if (first != argc - 1) {
        cli_error(cmd->name, "usage: stm32isp info FILE [--json]", "give exactly one file");
        return EXIT_USAGE;
    }
    info_report r;
    memset(&r, 0, sizeof r);
    r.path = argv[first];
    uint8_t *data = NULL;
    size_t size = 0;
    if (fileio_read_all(r.path, &data, &size) != 0) {
        cli_error(cmd->name, NULL, "cannot read %s: %s", r.path, strerror(errno));
        return EXIT_IO;
    }
    if (size > 0xFFFFFFFFu) {
        cli_error(cmd->name, "a container and an EEPROM dump are far smaller", "%s is over 4 GiB",
                  r.path);
        free(data);
        return EXIT_IMAGE_REFUSED;
    }
    r.data = data;
    r.size = (uint32_t)size;
    info_read(&r);
    stm32isp_err err = info_error(&r);
    code = err == STM32ISP_OK ? EXIT_OK : EXIT_IMAGE_REFUSED;
    if (json_wanted) {
        info_json(&r, code);
    } else {
        info_print(&r);
    }
    if (err != STM32ISP_OK) {
        const char *what = r.blank ? "the file is blank (all 0xFF): " : "";
        cli_error(cmd->name, stm32isp_hint(err), "%s: %s%s", r.path, what, stm32isp_strerror(err));
    }
    free(data);
    return code;
}

const cli_command cmd_info = {
    .name = "info",
    .summary = "show and check an image container or EEPROM dump",
    .usage = "info FILE [--json]",
    .about = "Reads an image container, or an EEPROM dump holding one (`stm32isp pack\n"
             "--eeprom`, or `stm32isp read` of the master's EEPROM), prints every field and\n"
             "checks both CRCs with the code the master runs. Exit code 4 when the file\n"
             "holds no intact container.",
    .options = info_options,
    .target = false,
    .run = info_run,
};

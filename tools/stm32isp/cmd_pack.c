/*
 * pack: turns firmware files into the image container the master keeps in
 * its EEPROM (docs/image-format.md), or into a raw dump of that EEPROM.
 */
#include "cli.h"
#include "ctview.h"
#include "fileio.h"
#include "inputs.h"
#include "stm32isp/container.h"
#include "stm32isp/devices.h"
#include "stm32isp/eeprom.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The library's write window: segments closer than this share windows. */
#define WRITE_WINDOW 256u

static void eeprom_names(char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; stm32isp_eeprom_part_at(i) != NULL && at < size; i++) {
        int n = snprintf(buf + at, size - at, "%s%s", i == 0 ? "" : ", ",
                         stm32isp_eeprom_part_at(i)->name);
        at += n > 0 ? (size_t)n : 0;
    }
}

/* The smallest part that holds `bytes`, or NULL. */
static const stm32isp_eeprom_part *smallest_part_for(uint64_t bytes)
{
    for (size_t i = 0; stm32isp_eeprom_part_at(i) != NULL; i++) {
        if (stm32isp_eeprom_part_at(i)->size >= bytes) {
            return stm32isp_eeprom_part_at(i);
        }
    }
    return NULL;
}

enum {
    P_OUTPUT,
    P_EEPROM,
    P_FORMAT,
    P_ADDRESS,
    P_PID,
    P_MIN_FLASH_KB,
    P_NAME,
    P_VERSION,
    P_NO_VERIFY,
    P_NO_START,
    P_READOUT_PROTECT,
    P_UNPROTECT,
    P_START_ADDRESS,
    P_CREATED,
    P_QUIET,
};

static const cli_option pack_cli_options[] = {
    [P_OUTPUT] = {"output", 'o', "OUT", "the file to write (through a temporary file); required"},
    [P_EEPROM] = {"eeprom", 0, "TYPE",
                  "write a raw EEPROM dump for this part (24c01..24c512,\n"
                  "24m01, 24m02): the container, then 0xFF to its size"},
    [P_FORMAT] = {"format", 0, "F", "bin|hex|srec|elf for every input (default: detected)"},
    [P_ADDRESS] = {"address", 0, "ADDR", "load address of raw binaries (default 0x08000000)"},
    [P_PID] = {"pid", 0, "PID", "allow only this target (repeat, up to 8; default any)"},
    [P_MIN_FLASH_KB] = {"min-flash-kb", 0, "N", "refuse targets with less flash than N KiB"},
    [P_NAME] = {"name", 0, "TEXT", "up to 31 bytes (default: the first input's file name)"},
    [P_VERSION] = {"version", 0, "TEXT", "up to 15 bytes (default: empty)"},
    [P_NO_VERIFY] = {"no-verify", 0, NULL, "the job does not verify the flash afterwards"},
    [P_NO_START] = {"no-start", 0, NULL, "the job leaves the target in its bootloader"},
    [P_READOUT_PROTECT] = {"readout-protect", 0, NULL,
                           "the job sets readout protection afterwards"},
    [P_UNPROTECT] = {"unprotect", 0, NULL, "the job unprotects (mass-erases) a protected target"},
    [P_START_ADDRESS] = {"start-address", 0, "A",
                         "vector table the job starts (default: flash base)"},
    [P_CREATED] = {"created", 0, "T",
                   "Unix time stored in the header (default:\n$SOURCE_DATE_EPOCH, else now)"},
    [P_QUIET] = {"quiet", 'q', NULL, "print errors only"},
    {NULL, 0, NULL, NULL},
};

typedef struct pack_options {
    const char *output;
    const stm32isp_eeprom_part *eeprom;
    image_opts images;
    uint16_t pids[STM32ISP_CONTAINER_MAX_PIDS];
    unsigned pid_count;
    uint32_t min_flash_size;
    const char *name, *version;
    bool no_verify, readout_protect, no_start, unprotect, quiet;
    uint32_t start_address;
    bool has_created;
    uint32_t created;
} pack_options;

/* Text for the header: printable, short enough for its field. */
static bool text_fits(const char *cmd, const char *option, const char *text, size_t field)
{
    size_t n = strlen(text);
    if (n >= field) {
        cli_error(cmd, NULL, "%s is %zu bytes; the header holds at most %zu", option, n, field - 1);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch < 0x20 || ch == 0x7F) {
            cli_error(cmd, "use printable text", "%s contains a control character", option);
            return false;
        }
    }
    return true;
}

static int pack_take(void *ctx, int option, const char *value)
{
    pack_options *o = ctx;
    const char *cmd = "pack";
    uint32_t v;
    switch (option) {
    case P_OUTPUT:
        o->output = value;
        return EXIT_OK;
    case P_EEPROM:
        o->eeprom = stm32isp_eeprom_part_find(value);
        if (o->eeprom == NULL) {
            char names[256], hint[300];
            eeprom_names(names, sizeof names);
            snprintf(hint, sizeof hint, "known parts: %s", names);
            cli_error(cmd, hint, "unknown EEPROM type '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case P_FORMAT:
        return image_take_format(cmd, value, &o->images);
    case P_ADDRESS:
        return image_take_address(cmd, value, &o->images);
    case P_PID: {
        if (!cli_parse_u32(value, &v) || v > 0xFFFF ||
            stm32isp_device_by_pid((uint16_t)v) == NULL) {
            cli_error(cmd, "docs/devices.md lists the known PIDs, e.g. --pid 0x410",
                      "--pid '%s' is not a known PID", value);
            return EXIT_USAGE;
        }
        bool seen = false;
        for (unsigned i = 0; i < o->pid_count; i++) {
            seen = seen || o->pids[i] == v;
        }
        if (!seen) {
            if (o->pid_count == STM32ISP_CONTAINER_MAX_PIDS) {
                cli_error(cmd, "leave --pid out to allow any target", "more than %d --pid values",
                          STM32ISP_CONTAINER_MAX_PIDS);
                return EXIT_USAGE;
            }
            o->pids[o->pid_count++] = (uint16_t)v;
        }
        return EXIT_OK;
    }
    case P_MIN_FLASH_KB:
        if (!cli_parse_u32(value, &v) || v == 0 || v > 0xFFFFFFFFu / 1024u) {
            cli_error(cmd, "KiB, e.g. --min-flash-kb 128", "bad --min-flash-kb '%s'", value);
            return EXIT_USAGE;
        }
        o->min_flash_size = v * 1024u;
        return EXIT_OK;
    case P_NAME:
        if (!text_fits(cmd, "--name", value, STM32ISP_CONTAINER_NAME_SIZE)) {
            return EXIT_USAGE;
        }
        o->name = value;
        return EXIT_OK;
    case P_VERSION:
        if (!text_fits(cmd, "--version", value, STM32ISP_CONTAINER_VERSION_SIZE)) {
            return EXIT_USAGE;
        }
        o->version = value;
        return EXIT_OK;
    case P_NO_VERIFY:
        o->no_verify = true;
        return EXIT_OK;
    case P_READOUT_PROTECT:
        o->readout_protect = true;
        return EXIT_OK;
    case P_NO_START:
        o->no_start = true;
        return EXIT_OK;
    case P_UNPROTECT:
        o->unprotect = true;
        return EXIT_OK;
    case P_START_ADDRESS:
        if (!cli_parse_u32(value, &o->start_address)) {
            cli_error(cmd, "give it in hex, e.g. 0x08004000", "bad --start-address '%s'", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case P_CREATED:
        if (!cli_parse_u32(value, &o->created)) {
            cli_error(cmd, "seconds since 1970-01-01 UTC, e.g. $(date +%s)", "bad --created '%s'",
                      value);
            return EXIT_USAGE;
        }
        o->has_created = true;
        return EXIT_OK;
    case P_QUIET:
        o->quiet = true;
        return EXIT_OK;
    default:
        return EXIT_USAGE;
    }
}

/* Reproducible builds set SOURCE_DATE_EPOCH: the same inputs then give the
 * same bytes. */
static int choose_created(pack_options *o)
{
    if (o->has_created) {
        return EXIT_OK;
    }
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    if (epoch != NULL && *epoch != '\0') {
        if (!cli_parse_u32(epoch, &o->created)) {
            cli_error("pack", "unset it, or give --created",
                      "SOURCE_DATE_EPOCH='%s' is not a Unix time", epoch);
            return EXIT_USAGE;
        }
    } else {
        time_t now = time(NULL);
        o->created = now > 0 && (uint64_t)now <= 0xFFFFFFFFull ? (uint32_t)now : 0;
    }
    return EXIT_OK;
}

/*
 * Gaps shorter than this may be filled with 0xFF: every erase unit and every
 * write window that overlaps such a gap also holds bytes of its neighbours,
 * so the job erases the same units and writes the same windows with or
 * without the fill, and the library pads a window's uncovered bytes with
 * 0xFF anyway (docs/image-format.md, "More than 32 segments").
 */
static uint32_t harmless_gap(void)
{
    uint32_t smallest = WRITE_WINDOW;
    for (size_t i = 0; stm32isp_device_at(i) != NULL; i++) {
        const stm32isp_device *d = stm32isp_device_at(i);
        const stm32isp_erase_run *runs;
        size_t run_count = stm32isp_device_layout(d, &runs);
        for (size_t r = 0; r < run_count; r++) {
            if (runs[r].size < smallest) {
                smallest = runs[r].size;
            }
        }
    }
    return smallest;
}

typedef struct gap {
    size_t after; /* index of the run before the gap */
    uint32_t length;
} gap;

static int by_gap_length(const void *a, const void *b)
{
    const gap *x = a, *y = b;
    if (x->length != y->length) {
        return x->length < y->length ? -1 : 1;
    }
    return x->after < y->after ? -1 : x->after > y->after;
}

/*
 * Final segments: the runs, with the smallest harmless gaps filled until at
 * most 32 remain. `join[i]` says run i+1 continues segment of run i.
 */
static int plan_segments(const loaded_image *m, stm32isp_container *ct, bool *join,
                         uint32_t *filled, size_t *fills)
{
    size_t n = m->segment_count;
    *filled = 0;
    *fills = 0;
    memset(join, 0, n * sizeof *join);
    if (n > STM32ISP_CONTAINER_MAX_SEGMENTS) {
        uint32_t limit = harmless_gap();
        gap *gaps = calloc(n - 1, sizeof *gaps);
        if (gaps == NULL) {
            cli_error("pack", NULL, "out of memory");
            return EXIT_FAILURE_GENERIC;
        }
        for (size_t i = 0; i + 1 < n; i++) {
            gaps[i] = (gap){i, m->segments[i + 1].address -
                                   (m->segments[i].address + m->segments[i].length)};
        }
        qsort(gaps, n - 1, sizeof *gaps, by_gap_length);
        size_t need = n - STM32ISP_CONTAINER_MAX_SEGMENTS;
        if (gaps[need - 1].length >= limit) {
            size_t small = 0;
            while (small < n - 1 && gaps[small].length < limit) {
                small++;
            }
            cli_error("pack",
                      "fill the gaps when building (e.g. objcopy --gap-fill 0xFF, or a linker "
                      "script without holes), or pack fewer inputs",
                      "the image has %zu separate segments; a container holds %d, and only %zu "
                      "of the gaps are shorter than %" PRIu32 " bytes (the size that is safe "
                      "to fill with 0xFF)",
                      n, STM32ISP_CONTAINER_MAX_SEGMENTS, small, limit);
            free(gaps);
            return EXIT_IMAGE_REFUSED;
        }
        for (size_t i = 0; i < need; i++) {
            join[gaps[i].after] = true;
            *filled += gaps[i].length;
        }
        *fills = need;
        free(gaps);
    }
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || !join[i - 1]) {
            ct->segments[seg++] = (stm32isp_segment){m->segments[i].address, m->segments[i].length};
        } else {
            stm32isp_segment *s = &ct->segments[seg - 1];
            s->length = m->segments[i].address + m->segments[i].length - s->address;
        }
    }
    ct->segment_count = (uint16_t)seg;
    return EXIT_OK;
}

/* Every segment inside the flash of every allowed part: the job would refuse
 * the image on that part, so say it now. */
static int check_against_pids(const pack_options *o, const stm32isp_container *ct)
{
    const stm32isp_segment *first = &ct->segments[0];
    const stm32isp_segment *last = &ct->segments[ct->segment_count - 1];
    uint64_t end = (uint64_t)last->address + last->length;
    for (unsigned i = 0; i < o->pid_count; i++) {
        const stm32isp_device *d = stm32isp_device_by_pid(o->pids[i]);
        uint32_t flash_base = stm32isp_device_flash_base(d);
        uint32_t flash_size_max = stm32isp_device_flash_size_max(d);
        uint64_t flash_end = (uint64_t)flash_base + flash_size_max;
        if (first->address < flash_base || end > flash_end) {
            cli_error("pack", "check the load addresses, or the --pid list",
                      "the image spans 0x%08" PRIx32 "-0x%08" PRIx64 " but PID 0x%03x (%s) "
                      "has at most %" PRIu32 " KiB of flash at 0x%08" PRIx32,
                      first->address, end - 1, d->pid, d->name, flash_size_max / 1024, flash_base);
            return EXIT_IMAGE_REFUSED;
        }
        if (o->min_flash_size > flash_size_max) {
            cli_error("pack", "lower --min-flash-kb, or drop that --pid",
                      "--min-flash-kb %" PRIu32 " exceeds the largest flash of PID 0x%03x (%s), "
                      "%" PRIu32 " KiB: no such target would be accepted",
                      o->min_flash_size / 1024, d->pid, d->name, flash_size_max / 1024);
            return EXIT_IMAGE_REFUSED;
        }
    }
    return EXIT_OK;
}

/* The name by default: the first input's file name, cut to fit (at a UTF-8
 * character boundary) and without control bytes. */
static void default_name(const char *path, char *name, size_t size)
{
    /* path is never NULL: pack refuses a command line without inputs. */
    const char *base = strrchr(path, '/'); // NOLINT(clang-analyzer-core.NonNullParamChecker)
    base = base != NULL ? base + 1 : path;
    size_t n = 0;
    for (; base[n] != '\0' && n + 1 < size; n++) {
        unsigned char ch = (unsigned char)base[n];
        name[n] = base[n];
        if (ch < 0x20 || ch == 0x7F) {
            name[n] = '_';
        }
    }
    if (base[n] != '\0') {
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    name[n] = '\0';
}

/* The reader the master runs, on what is about to be written. */
static stm32isp_err read_back(const uint8_t *data, uint32_t size)
{
    ctview_buffer b;
    ctview_buffer_init(&b, data, size);
    stm32isp_container ct;
    uint8_t scratch[256];
    stm32isp_err err = stm32isp_container_open(&ct, &b.source, scratch, sizeof scratch);
    if (err == STM32ISP_OK) {
        err = stm32isp_container_check_payload(&ct, scratch, sizeof scratch);
    }
    return err;
}

static int pack_build(const pack_options *o, const image_set *set)
{
    const char *cmd = "pack";
    const loaded_image *m = &set->merged;
    int code = EXIT_OK;
    stm32isp_container ct;
    memset(&ct, 0, sizeof ct);
    bool *join = calloc(m->segment_count != 0 ? m->segment_count : 1, sizeof *join);
    uint32_t filled = 0;
    size_t fills = 0;
    if (join == NULL) {
        cli_error(cmd, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    code = plan_segments(m, &ct, join, &filled, &fills);
    if (code == EXIT_OK) {
        code = check_against_pids(o, &ct);
    }
    uint64_t payload = (uint64_t)m->payload_size + filled;
    size_t header_length = stm32isp_container_header_length(ct.segment_count);
    uint64_t container_size = header_length + payload;
    if (code == EXIT_OK && container_size > 0xFFFFFFFFull) {
        cli_error(cmd, NULL, "the container would be %" PRIu64 " bytes: more than 4 GiB",
                  container_size);
        code = EXIT_IMAGE_REFUSED;
    }
    if (code == EXIT_OK && o->eeprom != NULL && container_size > o->eeprom->size) {
        const stm32isp_eeprom_part *fits = smallest_part_for(container_size);
        char hint[160];
        if (fits != NULL) {
            snprintf(hint, sizeof hint,
                     "the smallest part that holds it is the %s (%" PRIu32 " bytes): --eeprom %s",
                     fits->name, fits->size, fits->name);
        } else {
            const stm32isp_eeprom_part *largest = NULL;
            for (size_t i = 0; stm32isp_eeprom_part_at(i) != NULL; i++) {
                largest = stm32isp_eeprom_part_at(i);
            }
            snprintf(hint, sizeof hint,
                     "no supported EEPROM holds it (the largest, the %s, has %" PRIu32
                     " bytes): make the image smaller",
                     largest != NULL ? largest->name : "?", largest != NULL ? largest->size : 0);
        }
        cli_error(cmd, hint,
                  "the container is %" PRIu64 " bytes; the %s holds %" PRIu32 ": %" PRIu64
                  " bytes too many",
                  container_size, o->eeprom->name, o->eeprom->size,
                  container_size - o->eeprom->size);
        code = EXIT_IMAGE_REFUSED;
    }
    uint8_t *out = NULL;
    size_t out_size = 0;
    if (code == EXIT_OK) {
        out_size = o->eeprom != NULL ? o->eeprom->size : (size_t)container_size;
        out = malloc(out_size);
        if (out == NULL) {
            cli_error(cmd, NULL, "out of memory");
            code = EXIT_FAILURE_GENERIC;
        }
    }
    if (code == EXIT_OK) {
        /* Gaps, and an EEPROM's unused end, read as erased. */
        memset(out, 0xFF, out_size);
        uint8_t *payload_at = out + header_length;
        size_t seg = 0;
        uint32_t seg_at = 0; /* payload offset of segment `seg` */
        size_t run_at = 0;   /* offset of run i in the merged payload */
        for (size_t i = 0; i < m->segment_count; i++) {
            if (i > 0 && !join[i - 1]) {
                seg_at += ct.segments[seg].length;
                seg++;
            }
            memcpy(payload_at + seg_at + (m->segments[i].address - ct.segments[seg].address),
                   m->payload + run_at, m->segments[i].length);
            run_at += m->segments[i].length;
        }
        ct.payload_length = (uint32_t)payload;
        ct.payload_crc = stm32isp_crc32_ieee(0, payload_at, (size_t)payload);
        ct.flags = (o->no_verify ? 0u : STM32ISP_CONTAINER_VERIFY) |
                   (o->no_start ? 0u : STM32ISP_CONTAINER_START) |
                   (o->readout_protect ? STM32ISP_CONTAINER_READOUT_PROTECT : 0u) |
                   (o->unprotect ? STM32ISP_CONTAINER_UNPROTECT : 0u);
        ct.created = o->created;
        ct.min_flash_size = o->min_flash_size;
        ct.start_address = o->start_address;
        ct.pid_count = (uint8_t)o->pid_count;
        memcpy(ct.pids, o->pids, sizeof ct.pids);
        if (o->name != NULL) {
            snprintf(ct.name, sizeof ct.name, "%s", o->name);
        } else {
            default_name(set->inputs[0].name, ct.name, sizeof ct.name);
        }
        snprintf(ct.version, sizeof ct.version, "%s", o->version != NULL ? o->version : "");
        if (stm32isp_container_write_header(&ct, out, header_length) != header_length) {
            cli_error(cmd, "report this as a bug", "the header could not be written");
            code = EXIT_FAILURE_GENERIC;
        } else {
            stm32isp_err err = read_back(out, (uint32_t)out_size);
            if (err != STM32ISP_OK) {
                cli_error(cmd, "report this as a bug",
                          "the packed container does not read back: %s", stm32isp_strerror(err));
                code = EXIT_FAILURE_GENERIC;
            }
        }
    }
    if (code == EXIT_OK && fileio_write_atomic(o->output, out, out_size) != 0) {
        cli_error(cmd, NULL, "cannot write %s: %s", o->output, strerror(errno));
        code = EXIT_IO;
    }
    if (code == EXIT_OK && o->start_address != 0 && !o->quiet) {
        bool inside = false;
        for (unsigned i = 0; i < ct.segment_count; i++) {
            inside = inside || (o->start_address >= ct.segments[i].address &&
                                o->start_address - ct.segments[i].address < ct.segments[i].length);
        }
        if (!inside) {
            fprintf(stderr,
                    "stm32isp pack: note: --start-address 0x%08" PRIx32
                    " is outside the image: the target must already hold code there\n",
                    o->start_address);
        }
    }
    if (code == EXIT_OK && !o->quiet) {
        char words[96];
        ctview_flag_words(ct.flags, words, sizeof words);
        printf("%s: %" PRIu64 " bytes: header %zu, payload %" PRIu32 " in %u segment%s, CRC-32 "
               "0x%08" PRIx32 "\n",
               o->output, container_size, header_length, ct.payload_length,
               (unsigned)ct.segment_count, ct.segment_count == 1 ? "" : "s", ct.payload_crc);
        printf("  name \"");
        ctview_print_text(stdout, ct.name);
        printf("\", version \"");
        ctview_print_text(stdout, ct.version);
        printf("\", %s\n", words);
        if (fills != 0) {
            printf("  filled %zu gap%s between segments with %" PRIu32
                   " bytes of 0xFF to stay within %d segments\n",
                   fills, fills == 1 ? "" : "s", filled, STM32ISP_CONTAINER_MAX_SEGMENTS);
        }
        if (o->eeprom != NULL) {
            printf("  EEPROM dump for a %s: %zu bytes, %.1f%% used\n", o->eeprom->name, out_size,
                   100.0 * (double)container_size / (double)out_size);
        }
    }
    free(out);
    free(join);
    return code;
}

static int pack_run(const cli_command *cmd, int argc, char **argv)
{
    pack_options o = {.images.format = IMAGE_FORMAT_AUTO};
    int first;
    int code = cli_parse(cmd, argc, argv, pack_take, &o, &first);
    if (code != EXIT_OK) {
        return code == CLI_HELP ? EXIT_OK : code;
    }
    if (first >= argc) {
        cli_error(cmd->name, "usage: stm32isp pack INPUT... -o OUT", "no input file");
        return EXIT_USAGE;
    }
    if (o.output == NULL) {
        cli_error(cmd->name, "e.g. -o firmware.simg", "no output file (-o OUT)");
        return EXIT_USAGE;
    }
    if ((code = choose_created(&o)) != EXIT_OK) {
        return code;
    }
    image_set set;
    code = image_set_load(cmd->name, argv + first, (size_t)(argc - first), &o.images, &set);
    if (code == EXIT_OK) {
        code = pack_build(&o, &set);
    }
    image_set_free(&set);
    return code;
}

const cli_command cmd_pack = {
    .name = "pack",
    .summary = "pack firmware files into an image container or EEPROM dump",
    .usage = "pack INPUT[@ADDR]... -o OUT [options]",
    .about = "Packs firmware files (.bin, Intel HEX, SREC, ELF; '-' reads one from\n"
             "standard input) into one image container for the master's EEPROM\n"
             "(docs/image-format.md). Several inputs are merged, e.g. a bootloader and\n"
             "an application; where they overlap their bytes must agree. A raw binary\n"
             "goes to --address (default 0x08000000, as in `flash`), or to ADDR when\n"
             "given as FILE@ADDR.",
    .options = pack_cli_options,
    .target = false,
    .run = pack_run,
};

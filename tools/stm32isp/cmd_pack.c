/*
 * pack and info: the PC side of the image container (docs/image-format.md).
 * `pack` turns firmware files into a container, or into a raw dump of the
 * master's EEPROM; `info` reads one back with the same library code the
 * master runs, and says what is in it and whether it is intact.
 */
#include "cli.h"
#include "fileio.h"
#include "imagefile.h"
#include "stm32isp/container.h"
#include "stm32isp/devices.h"
#include "stm32isp/eeprom.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_BIN_ADDRESS 0x08000000u
/* The library's write window: segments closer than this share windows. */
#define WRITE_WINDOW 256u

/* ------------------------------------------------------------------------- */
/* Shared helpers                                                             */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7F) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

/* Text from a header is untrusted: control bytes are shown as \xNN. */
static void print_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7F || ch == '\\') {
            fprintf(f, "\\x%02x", ch);
        } else {
            fputc(ch, f);
        }
    }
}

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

/* The part whose size is exactly `bytes`, or NULL. */
static const stm32isp_eeprom_part *part_of_size(uint64_t bytes)
{
    for (size_t i = 0; stm32isp_eeprom_part_at(i) != NULL; i++) {
        if (stm32isp_eeprom_part_at(i)->size == bytes) {
            return stm32isp_eeprom_part_at(i);
        }
    }
    return NULL;
}

static void flag_words(uint32_t flags, char *buf, size_t size)
{
    snprintf(buf, size, "%s, %s%s%s",
             (flags & STM32ISP_CONTAINER_VERIFY) != 0 ? "verify" : "no verify",
             (flags & STM32ISP_CONTAINER_START) != 0 ? "start" : "no start",
             (flags & STM32ISP_CONTAINER_READOUT_PROTECT) != 0 ? ", readout-protect" : "",
             (flags & STM32ISP_CONTAINER_UNPROTECT) != 0 ? ", unprotect" : "");
}

/* ------------------------------------------------------------------------- */
/* pack: options                                                              */

enum {
    OPT_OUTPUT = 'o',
    OPT_QUIET = 'q',
    OPT_HELP = 'h',
    OPT_EEPROM = 256,
    OPT_FORMAT,
    OPT_ADDRESS,
    OPT_PID,
    OPT_MIN_FLASH_KB,
    OPT_NAME,
    OPT_VERSION,
    OPT_NO_VERIFY,
    OPT_READOUT_PROTECT,
    OPT_NO_START,
    OPT_UNPROTECT,
    OPT_START_ADDRESS,
    OPT_CREATED,
    OPT_JSON,
};

typedef struct pack_options {
    const char *output;
    const stm32isp_eeprom_part *eeprom;
    image_format format;
    bool has_address;
    uint32_t address;
    uint16_t pids[STM32ISP_CONTAINER_MAX_PIDS];
    unsigned pid_count;
    uint32_t min_flash_size;
    const char *name, *version;
    bool no_verify, readout_protect, no_start, unprotect, quiet;
    uint32_t start_address;
    bool has_created;
    uint32_t created;
    char **inputs;
    int input_count;
} pack_options;

static const char pack_usage[] =
    "usage: stm32isp pack INPUT... -o OUT [options]\n"
    "\n"
    "Packs firmware files (.bin, Intel HEX, SREC, ELF) into one image container\n"
    "for the master's EEPROM (docs/image-format.md). Several inputs are merged,\n"
    "e.g. a bootloader and an application; where they overlap their bytes must\n"
    "agree. A raw binary goes to --address (default 0x08000000, as in `flash`),\n"
    "or to ADDR when given as FILE@ADDR.\n"
    "\n"
    "options:\n"
    "  -o, --output OUT        the file to write (through a temporary file)\n"
    "      --eeprom TYPE       write a raw EEPROM dump for this part (24c01..24c512,\n"
    "                          24m01, 24m02): the container, then 0xFF to its size\n"
    "      --format F          bin|hex|srec|elf for every input (default: detected)\n"
    "      --address ADDR      load address of raw binaries (default 0x08000000)\n"
    "      --pid PID           allow only this target (repeat, up to 8; default any)\n"
    "      --min-flash-kb N    refuse targets with less flash than N KiB\n"
    "      --name TEXT         up to 31 bytes (default: the first input's file name)\n"
    "      --version TEXT      up to 15 bytes (default: empty)\n"
    "      --no-verify         the job does not verify the flash afterwards\n"
    "      --no-start          the job leaves the target in its bootloader\n"
    "      --readout-protect   the job sets readout protection afterwards\n"
    "      --unprotect         the job unprotects (mass-erases) a protected target\n"
    "      --start-address A   vector table the job starts (default: flash base)\n"
    "      --created T         Unix time stored in the header (default:\n"
    "                          $SOURCE_DATE_EPOCH, else now)\n"
    "  -q, --quiet             print errors only\n"
    "  -h, --help              this text\n";

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

static int pack_parse(int argc, char **argv, pack_options *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"eeprom", required_argument, NULL, OPT_EEPROM},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"address", required_argument, NULL, OPT_ADDRESS},
        {"pid", required_argument, NULL, OPT_PID},
        {"min-flash-kb", required_argument, NULL, OPT_MIN_FLASH_KB},
        {"name", required_argument, NULL, OPT_NAME},
        {"version", required_argument, NULL, OPT_VERSION},
        {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
        {"readout-protect", no_argument, NULL, OPT_READOUT_PROTECT},
        {"no-start", no_argument, NULL, OPT_NO_START},
        {"unprotect", no_argument, NULL, OPT_UNPROTECT},
        {"start-address", required_argument, NULL, OPT_START_ADDRESS},
        {"created", required_argument, NULL, OPT_CREATED},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "pack";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
        uint32_t v;
        switch (c) {
        case OPT_OUTPUT:
            o->output = optarg;
            break;
        case OPT_EEPROM:
            o->eeprom = stm32isp_eeprom_part_find(optarg);
            if (o->eeprom == NULL) {
                char names[256], hint[300];
                eeprom_names(names, sizeof names);
                snprintf(hint, sizeof hint, "known parts: %s", names);
                cli_error(cmd, hint, "unknown EEPROM type '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_FORMAT:
            if (!image_format_parse(optarg, &o->format)) {
                cli_error(cmd, "one of bin, hex, srec, elf", "unknown --format '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_ADDRESS:
            if (!cli_parse_u32(optarg, &o->address)) {
                cli_error(cmd, "give it in hex, e.g. 0x08004000", "bad --address '%s'", optarg);
                return EXIT_USAGE;
            }
            o->has_address = true;
            break;
        case OPT_PID: {
            if (!cli_parse_u32(optarg, &v) || v > 0xFFFF ||
                stm32isp_device_by_pid((uint16_t)v) == NULL) {
                cli_error(cmd, "docs/devices.md lists the known PIDs, e.g. --pid 0x410",
                          "--pid '%s' is not a known PID", optarg);
                return EXIT_USAGE;
            }
            bool seen = false;
            for (unsigned i = 0; i < o->pid_count; i++) {
                seen = seen || o->pids[i] == v;
            }
            if (!seen) {
                if (o->pid_count == STM32ISP_CONTAINER_MAX_PIDS) {
                    cli_error(cmd, "leave --pid out to allow any target",
                              "more than %d --pid values", STM32ISP_CONTAINER_MAX_PIDS);
                    return EXIT_USAGE;
                }
                o->pids[o->pid_count++] = (uint16_t)v;
            }
            break;
        }
        case OPT_MIN_FLASH_KB:
            if (!cli_parse_u32(optarg, &v) || v == 0 || v > 0xFFFFFFFFu / 1024u) {
                cli_error(cmd, "KiB, e.g. --min-flash-kb 128", "bad --min-flash-kb '%s'", optarg);
                return EXIT_USAGE;
            }
            o->min_flash_size = v * 1024u;
            break;
        case OPT_NAME:
            if (!text_fits(cmd, "--name", optarg, STM32ISP_CONTAINER_NAME_SIZE)) {
                return EXIT_USAGE;
            }
            o->name = optarg;
            break;
        case OPT_VERSION:
            if (!text_fits(cmd, "--version", optarg, STM32ISP_CONTAINER_VERSION_SIZE)) {
                return EXIT_USAGE;
            }
            o->version = optarg;
            break;
        case OPT_NO_VERIFY:
            o->no_verify = true;
            break;
        case OPT_READOUT_PROTECT:
            o->readout_protect = true;
            break;
        case OPT_NO_START:
            o->no_start = true;
            break;
        case OPT_UNPROTECT:
            o->unprotect = true;
            break;
        case OPT_START_ADDRESS:
            if (!cli_parse_u32(optarg, &o->start_address)) {
                cli_error(cmd, "give it in hex, e.g. 0x08004000", "bad --start-address '%s'",
                          optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_CREATED:
            if (!cli_parse_u32(optarg, &o->created)) {
                cli_error(cmd, "seconds since 1970-01-01 UTC, e.g. $(date +%s)",
                          "bad --created '%s'", optarg);
                return EXIT_USAGE;
            }
            o->has_created = true;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_HELP:
            fputs(pack_usage, stdout);
            return -1;
        case ':':
            cli_error(cmd, NULL, "option '%s' needs a value", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            cli_error(cmd, "see 'stm32isp pack --help'", "unknown option '%s'", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error(cmd, "usage: stm32isp pack INPUT... -o OUT", "no input file");
        return EXIT_USAGE;
    }
    if (o->output == NULL) {
        cli_error(cmd, "e.g. -o firmware.simg", "no output file (-o OUT)");
        return EXIT_USAGE;
    }
    o->inputs = argv + optind;
    o->input_count = argc - optind;
    if (!o->has_created) {
        /* Reproducible builds set it: the same inputs give the same bytes. */
        const char *epoch = getenv("SOURCE_DATE_EPOCH");
        if (epoch != NULL && *epoch != '\0') {
            if (!cli_parse_u32(epoch, &o->created)) {
                cli_error(cmd, "unset it, or give --created",
                          "SOURCE_DATE_EPOCH='%s' is not a "
                          "Unix time",
                          epoch);
                return EXIT_USAGE;
            }
        } else {
            time_t now = time(NULL);
            o->created = now > 0 && (uint64_t)now <= 0xFFFFFFFFull ? (uint32_t)now : 0;
        }
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------------- */
/* pack: loading and merging the inputs                                       */

typedef struct input {
    const char *path; /* as given, without @ADDR */
    char *owned_path;
    bool has_address;
    uint32_t address;
    loaded_image img;
} input;

/* A segment of one input, for the merge. */
typedef struct piece {
    uint32_t address, length;
    const uint8_t *bytes;
    size_t input;
} piece;

static int by_address(const void *a, const void *b)
{
    const piece *x = a, *y = b;
    if (x->address != y->address) {
        return x->address < y->address ? -1 : 1;
    }
    return x->input < y->input ? -1 : x->input > y->input;
}

/* Merged runs of bytes, before and after filling small gaps. */
typedef struct run {
    uint32_t address, length;
    size_t offset; /* into the merged payload */
} run;

typedef struct merged {
    run *runs;
    size_t count;
    uint8_t *bytes;
    size_t size;
} merged;

static void merged_free(merged *m)
{
    free(m->runs);
    free(m->bytes);
    memset(m, 0, sizeof *m);
}

/* "FILE@ADDR" names a raw binary's address, unless FILE@ADDR is a file. */
static int split_input(const char *arg, input *in)
{
    in->path = arg;
    const char *at = strrchr(arg, '@');
    FILE *f = fopen(arg, "rb");
    if (f != NULL) {
        fclose(f);
        return 0;
    }
    if (at == NULL || at == arg) {
        return 0;
    }
    uint32_t address;
    if (!cli_parse_u32(at + 1, &address)) {
        return 0;
    }
    in->owned_path = strndup(arg, (size_t)(at - arg));
    if (in->owned_path == NULL) {
        return -1;
    }
    in->path = in->owned_path;
    in->has_address = true;
    in->address = address;
    return 0;
}

static int load_inputs(const pack_options *o, input *inputs)
{
    const char *cmd = "pack";
    bool address_used = false;
    for (int i = 0; i < o->input_count; i++) {
        input *in = &inputs[i];
        if (split_input(o->inputs[i], in) != 0) {
            cli_error(cmd, NULL, "out of memory");
            return EXIT_FAILURE_GENERIC;
        }
        int why = fileio_readable(in->path);
        if (why != 0) {
            cli_error(cmd, NULL, "cannot read %s: %s", in->path, strerror(why));
            return EXIT_IO;
        }
        uint32_t address = in->has_address  ? in->address
                           : o->has_address ? o->address
                                            : DEFAULT_BIN_ADDRESS;
        char err[512];
        if (image_load(in->path, o->format, true, address, &in->img, err, sizeof err) != 0) {
            cli_error(cmd, "nothing was written", "%s", err);
            return EXIT_IMAGE_REFUSED;
        }
        if (in->img.format == IMAGE_FORMAT_BIN) {
            address_used = address_used || !in->has_address;
        } else if (in->has_address) {
            fprintf(stderr,
                    "stm32isp pack: @0x%08" PRIx32 " applies to raw binaries only; %s carries "
                    "its own addresses\n",
                    in->address, in->path);
        }
    }
    if (o->has_address && !address_used) {
        fprintf(stderr, "stm32isp pack: --address applies to raw binaries only; no input used "
                        "it\n");
    }
    return EXIT_OK;
}

/* The input whose piece (other than `self`) holds `address`. */
static size_t other_owner(const piece *pieces, size_t self, uint32_t address)
{
    for (size_t j = self; j-- > 0;) {
        if (pieces[j].address <= address && address - pieces[j].address < pieces[j].length) {
            return pieces[j].input;
        }
    }
    return pieces[self].input;
}

/* Sorts every input's segments by address and merges them into runs of
 * contiguous bytes; overlaps must hold the same bytes. */
static int merge_inputs(const input *inputs, size_t count, merged *out)
{
    size_t piece_count = 0, total = 0;
    for (size_t i = 0; i < count; i++) {
        piece_count += inputs[i].img.segment_count;
        total += inputs[i].img.payload_size;
    }
    piece *pieces = calloc(piece_count, sizeof *pieces);
    out->runs = calloc(piece_count, sizeof *out->runs);
    out->bytes = malloc(total != 0 ? total : 1);
    if (pieces == NULL || out->runs == NULL || out->bytes == NULL) {
        free(pieces);
        cli_error("pack", NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        const loaded_image *img = &inputs[i].img;
        size_t at = 0;
        for (size_t s = 0; s < img->segment_count; s++) {
            pieces[k++] =
                (piece){img->segments[s].address, img->segments[s].length, img->payload + at, i};
            at += img->segments[s].length;
        }
    }
    qsort(pieces, piece_count, sizeof *pieces, by_address);
    uint64_t run_end = 0;
    for (size_t i = 0; i < piece_count; i++) {
        const piece *p = &pieces[i];
        uint64_t p_end = (uint64_t)p->address + p->length;
        if (out->count == 0 || p->address > run_end) {
            out->runs[out->count++] = (run){p->address, p->length, out->size};
            memcpy(out->bytes + out->size, p->bytes, p->length);
            out->size += p->length;
            run_end = p_end;
            continue;
        }
        run *r = &out->runs[out->count - 1];
        uint64_t same_end = p_end < run_end ? p_end : run_end;
        for (uint64_t a = p->address; a < same_end; a++) {
            uint8_t had = out->bytes[r->offset + (a - r->address)];
            uint8_t now = p->bytes[a - p->address];
            if (had != now) {
                size_t other = other_owner(pieces, i, (uint32_t)a);
                cli_error("pack", "the inputs overlap: build them for separate flash areas",
                          "%s and %s overlap with different data at 0x%08" PRIx32
                          " (0x%02X and 0x%02X)",
                          inputs[other].path, inputs[p->input].path, (uint32_t)a, had, now);
                free(pieces);
                return EXIT_IMAGE_REFUSED;
            }
        }
        if (p_end > run_end) {
            uint32_t extra = (uint32_t)(p_end - run_end);
            memcpy(out->bytes + out->size, p->bytes + (p->length - extra), extra);
            out->size += extra;
            r->length += extra;
            run_end = p_end;
        }
    }
    free(pieces);
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
static int plan_segments(const merged *m, stm32isp_container *ct, bool *join, uint32_t *filled,
                         size_t *fills)
{
    size_t n = m->count;
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
            gaps[i] = (gap){i, m->runs[i + 1].address - (m->runs[i].address + m->runs[i].length)};
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
            ct->segments[seg++] = (stm32isp_segment){m->runs[i].address, m->runs[i].length};
        } else {
            stm32isp_segment *s = &ct->segments[seg - 1];
            s->length = m->runs[i].address + m->runs[i].length - s->address;
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

/* In-memory source for the library's reader. */
typedef struct buffer_source {
    const uint8_t *data;
    stm32isp_container_source source;
} buffer_source;

static stm32isp_err buffer_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    const buffer_source *b = ctx;
    if ((uint64_t)offset + len > b->source.size) {
        return STM32ISP_ERR_IMAGE_SOURCE;
    }
    memcpy(buf, b->data + offset, len);
    return STM32ISP_OK;
}

static void buffer_source_init(buffer_source *b, const uint8_t *data, uint32_t size)
{
    b->data = data;
    b->source.read = buffer_read;
    b->source.ctx = b;
    b->source.size = size;
}

/* The reader the master runs, on what is about to be written. */
static stm32isp_err read_back(const uint8_t *data, uint32_t size)
{
    buffer_source b;
    buffer_source_init(&b, data, size);
    stm32isp_container ct;
    uint8_t scratch[256];
    stm32isp_err err = stm32isp_container_open(&ct, &b.source, scratch, sizeof scratch);
    if (err == STM32ISP_OK) {
        err = stm32isp_container_check_payload(&ct, scratch, sizeof scratch);
    }
    return err;
}

static int pack_build(const pack_options *o, input *inputs)
{
    const char *cmd = "pack";
    merged m = {0};
    int code = merge_inputs(inputs, (size_t)o->input_count, &m);
    if (code != EXIT_OK) {
        merged_free(&m);
        return code;
    }
    stm32isp_container ct;
    memset(&ct, 0, sizeof ct);
    bool *join = calloc(m.count, sizeof *join);
    uint32_t filled = 0;
    size_t fills = 0;
    if (join == NULL) {
        cli_error(cmd, NULL, "out of memory");
        merged_free(&m);
        return EXIT_FAILURE_GENERIC;
    }
    code = plan_segments(&m, &ct, join, &filled, &fills);
    if (code == EXIT_OK) {
        code = check_against_pids(o, &ct);
    }
    uint64_t payload = (uint64_t)m.size + filled;
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
        for (size_t i = 0; i < m.count; i++) {
            if (i > 0 && !join[i - 1]) {
                seg_at += ct.segments[seg].length;
                seg++;
            }
            memcpy(payload_at + seg_at + (m.runs[i].address - ct.segments[seg].address),
                   m.bytes + m.runs[i].offset, m.runs[i].length);
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
            default_name(inputs[0].path, ct.name, sizeof ct.name);
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
        flag_words(ct.flags, words, sizeof words);
        printf("%s: %" PRIu64 " bytes: header %zu, payload %" PRIu32 " in %u segment%s, CRC-32 "
               "0x%08" PRIx32 "\n",
               o->output, container_size, header_length, ct.payload_length,
               (unsigned)ct.segment_count, ct.segment_count == 1 ? "" : "s", ct.payload_crc);
        printf("  name \"");
        print_text(stdout, ct.name);
        printf("\", version \"");
        print_text(stdout, ct.version);
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
    merged_free(&m);
    return code;
}

int cmd_pack(int argc, char **argv)
{
    pack_options o = {.format = IMAGE_FORMAT_AUTO};
    int code = pack_parse(argc, argv, &o);
    if (code != EXIT_OK) {
        return code < 0 ? EXIT_OK : code;
    }
    input *inputs = calloc((size_t)o.input_count, sizeof *inputs);
    if (inputs == NULL) {
        cli_error("pack", NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    code = load_inputs(&o, inputs);
    if (code == EXIT_OK) {
        code = pack_build(&o, inputs);
    }
    for (int i = 0; i < o.input_count; i++) {
        image_free(&inputs[i].img);
        free(inputs[i].owned_path);
    }
    free(inputs);
    return code;
}

/* ------------------------------------------------------------------------- */
/* info                                                                       */

static const char info_usage[] =
    "usage: stm32isp info FILE [--json]\n"
    "\n"
    "Reads an image container, or an EEPROM dump holding one (`stm32isp pack\n"
    "--eeprom`, or `stm32isp read` of the master's EEPROM), prints every field and\n"
    "checks both CRCs with the code the master runs. Exit code 4 when the file\n"
    "holds no intact container.\n"
    "\n"
    "options:\n"
    "      --json   one JSON object on stdout\n"
    "  -h, --help   this text\n";

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
    buffer_source b;
    buffer_source_init(&b, r->data, r->size);
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
    r->part = part_of_size(r->size);
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
        const stm32isp_eeprom_part *p = part_of_size(r->size);
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
    flag_words(ct->flags, words, sizeof words);
    format_time(ct->created, when, sizeof when);
    printf("format      %u.%u\n", ct->major, ct->minor);
    printf("name        ");
    print_text(stdout, ct->name);
    printf("\nversion     ");
    print_text(stdout, ct->version);
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
    FILE *f = stdout;
    stm32isp_err err = info_error(r);
    fprintf(f, "{\"command\": \"info\", \"file\": ");
    json_string(f, r->path);
    fprintf(f, ", \"ok\": %s, \"exit_code\": %d, \"size\": %" PRIu32 ", \"blank\": %s",
            code == EXIT_OK ? "true" : "false", code, r->size, r->blank ? "true" : "false");
    fprintf(f, ", \"integrity\": ");
    json_string(f, err == STM32ISP_OK ? "ok" : stm32isp_err_name(err));
    if (err != STM32ISP_OK) {
        fprintf(f, ", \"error\": ");
        json_string(f, stm32isp_err_name(err));
        fprintf(f, ", \"message\": ");
        json_string(f, stm32isp_strerror(err));
        fprintf(f, ", \"hint\": ");
        json_string(f, stm32isp_hint(err));
        if (r->detail[0] != '\0') {
            fprintf(f, ", \"detail\": ");
            json_string(f, r->detail);
        }
    }
    if (r->open_err == STM32ISP_OK) {
        const stm32isp_container *ct = &r->ct;
        char when[64];
        format_time(ct->created, when, sizeof when);
        fprintf(f, ", \"container\": {\"format\": \"%u.%u\", \"name\": ", ct->major, ct->minor);
        json_string(f, ct->name);
        fprintf(f, ", \"version\": ");
        json_string(f, ct->version);
        fprintf(f, ", \"created\": %" PRIu32 ", \"created_utc\": ", ct->created);
        json_string(f, when);
        fprintf(f,
                ", \"flags\": {\"value\": %" PRIu32 ", \"verify\": %s, \"readout_protect\": %s, "
                "\"start\": %s, \"unprotect\": %s}, \"pids\": [",
                ct->flags, (ct->flags & STM32ISP_CONTAINER_VERIFY) ? "true" : "false",
                (ct->flags & STM32ISP_CONTAINER_READOUT_PROTECT) ? "true" : "false",
                (ct->flags & STM32ISP_CONTAINER_START) ? "true" : "false",
                (ct->flags & STM32ISP_CONTAINER_UNPROTECT) ? "true" : "false");
        for (unsigned i = 0; i < ct->pid_count; i++) {
            const stm32isp_device *d = stm32isp_device_by_pid(ct->pids[i]);
            fprintf(f, "%s{\"pid\": \"0x%03x\", \"name\": ", i == 0 ? "" : ", ", ct->pids[i]);
            if (d != NULL) {
                json_string(f, d->name);
            } else {
                fprintf(f, "null");
            }
            fputc('}', f);
        }
        fprintf(f,
                "], \"min_flash_size\": %" PRIu32 ", \"start_address\": \"0x%08" PRIx32
                "\", \"segments\": [",
                ct->min_flash_size, ct->start_address);
        for (unsigned i = 0; i < ct->segment_count; i++) {
            const stm32isp_segment *s = &ct->segments[i];
            fprintf(f,
                    "%s{\"address\": \"0x%08" PRIx32 "\", \"length\": %" PRIu32
                    ", \"end\": \"0x%08" PRIx64 "\"}",
                    i == 0 ? "" : ", ", s->address, s->length, (uint64_t)s->address + s->length);
        }
        fprintf(f,
                "], \"payload_length\": %" PRIu32 ", \"payload_crc\": \"0x%08" PRIx32
                "\", \"payload_crc_computed\": \"0x%08" PRIx32 "\", \"header_length\": %u"
                ", \"header_crc\": \"0x%08" PRIx32 "\", \"total_size\": %" PRIu32 "}",
                ct->payload_length, ct->payload_crc, r->payload_crc_computed,
                (unsigned)ct->header_length, header_crc(r), r->container_size);
        if (r->part != NULL) {
            fprintf(f, ", \"eeprom\": {\"part\": ");
            json_string(f, r->part->name);
            fprintf(f,
                    ", \"size\": %" PRIu32 ", \"used\": %" PRIu32
                    ", \"fill_percent\": %.1f, \"rest_blank\": %s}",
                    r->size, r->container_size, 100.0 * (double)r->container_size / (double)r->size,
                    r->rest_blank ? "true" : "false");
        }
    }
    fprintf(f, "}\n");
}

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "info";
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            json = true;
            break;
        case OPT_HELP:
            fputs(info_usage, stdout);
            return EXIT_OK;
        default:
            cli_error(cmd, "see 'stm32isp info --help'", "unknown option '%s'", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error(cmd, "usage: stm32isp info FILE [--json]", "give exactly one file");
        return EXIT_USAGE;
    }
    info_report r;
    memset(&r, 0, sizeof r);
    r.path = argv[optind];
    uint8_t *data = NULL;
    size_t size = 0;
    if (fileio_read_all(r.path, &data, &size) != 0) {
        cli_error(cmd, NULL, "cannot read %s: %s", r.path, strerror(errno));
        return EXIT_IO;
    }
    if (size > 0xFFFFFFFFu) {
        cli_error(cmd, "a container and an EEPROM dump are far smaller", "%s is over 4 GiB",
                  r.path);
        free(data);
        return EXIT_IMAGE_REFUSED;
    }
    r.data = data;
    r.size = (uint32_t)size;
    info_read(&r);
    stm32isp_err err = info_error(&r);
    int code = err == STM32ISP_OK ? EXIT_OK : EXIT_IMAGE_REFUSED;
    if (json) {
        info_json(&r, code);
    } else {
        info_print(&r);
    }
    if (err != STM32ISP_OK) {
        const char *what = r.blank ? "the file is blank (all 0xFF): " : "";
        cli_error(cmd, stm32isp_hint(err), "%s: %s%s", r.path, what, stm32isp_strerror(err));
    }
    free(data);
    return code;
}

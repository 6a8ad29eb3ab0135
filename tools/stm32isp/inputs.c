/* Firmware files from the command line (inputs.h). */
#include "inputs.h"

#include "cli.h"
#include "fileio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "FILE@ADDR" names a raw binary's address, unless FILE@ADDR is a file. */
static int split_input(const char *arg, image_input *in)
{
    in->path = arg;
    const char *at = strrchr(arg, '@');
    if (strcmp(arg, "-") == 0 || fileio_readable(arg) == 0 || at == NULL || at == arg) {
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

/* Standard input, up to one byte more than a file may have. */
static int read_stdin(uint8_t **data, size_t *size)
{
    size_t capacity = 65536, used = 0;
    uint8_t *buf = malloc(capacity);
    if (buf == NULL) {
        return -1;
    }
    for (;;) {
        if (used == capacity) {
            if (capacity > IMAGE_MAX_FILE_SIZE) {
                break;
            }
            uint8_t *bigger = realloc(buf, capacity * 2);
            if (bigger == NULL) {
                free(buf);
                return -1;
            }
            buf = bigger;
            capacity *= 2;
        }
        ssize_t n = read(STDIN_FILENO, buf + used, capacity - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int saved = errno;
            free(buf);
            errno = saved;
            return -1;
        }
        if (n == 0) {
            break;
        }
        used += (size_t)n;
    }
    *data = buf;
    *size = used;
    return 0;
}

static int load_one(const char *cmd, image_input *in, image_format format, uint32_t address)
{
    char err[512];
    if (strcmp(in->path, "-") == 0) {
        in->name = "standard input";
        uint8_t *data;
        size_t size;
        if (read_stdin(&data, &size) != 0) {
            cli_error(cmd, NULL, "cannot read standard input: %s", strerror(errno));
            return EXIT_IO;
        }
        int rc = image_load_buffer(in->name, data, size, format, true, address, &in->img, err,
                                   sizeof err);
        free(data);
        if (rc != 0) {
            cli_error(cmd, "nothing was changed", "%s", err);
            return EXIT_IMAGE_REFUSED;
        }
        return EXIT_OK;
    }
    in->name = in->path;
    int why = fileio_readable(in->path);
    if (why != 0) {
        cli_error(cmd, NULL, "cannot read %s: %s", in->path, strerror(why));
        return EXIT_IO;
    }
    if (image_load(in->path, format, true, address, &in->img, err, sizeof err) != 0) {
        cli_error(cmd, "nothing was changed", "%s", err);
        return EXIT_IMAGE_REFUSED;
    }
    return EXIT_OK;
}

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

/* Sorts every input's segments by address and joins them into runs of
 * contiguous bytes; overlaps must hold the same bytes. */
static int merge(const char *cmd, image_set *set)
{
    size_t piece_count = 0, total = 0;
    for (size_t i = 0; i < set->count; i++) {
        piece_count += set->inputs[i].img.segment_count;
        total += set->inputs[i].img.payload_size;
    }
    loaded_image *out = &set->merged;
    piece *pieces = calloc(piece_count != 0 ? piece_count : 1, sizeof *pieces);
    out->segments = calloc(piece_count != 0 ? piece_count : 1, sizeof *out->segments);
    out->payload = malloc(total != 0 ? total : 1);
    if (pieces == NULL || out->segments == NULL || out->payload == NULL) {
        free(pieces);
        cli_error(cmd, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    out->format = set->count > 0 ? set->inputs[0].img.format : IMAGE_FORMAT_AUTO;
    size_t k = 0;
    for (size_t i = 0; i < set->count; i++) {
        const loaded_image *img = &set->inputs[i].img;
        size_t at = 0;
        for (size_t s = 0; s < img->segment_count; s++) {
            pieces[k++] =
                (piece){img->segments[s].address, img->segments[s].length, img->payload + at, i};
            at += img->segments[s].length;
        }
    }
    qsort(pieces, piece_count, sizeof *pieces, by_address);
    uint64_t run_end = 0;
    size_t size = 0, run_offset = 0;
    for (size_t i = 0; i < piece_count; i++) {
        const piece *p = &pieces[i];
        uint64_t p_end = (uint64_t)p->address + p->length;
        if (out->segment_count == 0 || p->address > run_end) {
            out->segments[out->segment_count++] = (stm32isp_segment){p->address, p->length};
            run_offset = size;
            memcpy(out->payload + size, p->bytes, p->length);
            size += p->length;
            run_end = p_end;
            continue;
        }
        stm32isp_segment *r = &out->segments[out->segment_count - 1];
        uint64_t same_end = p_end < run_end ? p_end : run_end;
        for (uint64_t a = p->address; a < same_end; a++) {
            uint8_t had = out->payload[run_offset + (a - r->address)];
            uint8_t now = p->bytes[a - p->address];
            if (had != now) {
                size_t other = other_owner(pieces, i, (uint32_t)a);
                cli_error(
                    cmd, "the inputs overlap: build them for separate flash areas",
                    "%s and %s overlap with different data at 0x%08" PRIx32 " (0x%02X and 0x%02X)",
                    set->inputs[other].name, set->inputs[p->input].name, (uint32_t)a, had, now);
                free(pieces);
                return EXIT_IMAGE_REFUSED;
            }
        }
        if (p_end > run_end) {
            uint32_t extra = (uint32_t)(p_end - run_end);
            memcpy(out->payload + size, p->bytes + (p->length - extra), extra);
            size += extra;
            r->length += extra;
            run_end = p_end;
        }
    }
    out->payload_size = (uint32_t)size;
    free(pieces);
    return EXIT_OK;
}

int image_take_address(const char *cmd, const char *value, image_opts *o)
{
    if (!cli_parse_u32(value, &o->address)) {
        cli_error(cmd, "give it in hex, e.g. 0x08004000", "bad --address '%s'", value);
        return EXIT_USAGE;
    }
    o->has_address = true;
    return EXIT_OK;
}

int image_take_format(const char *cmd, const char *value, image_opts *o)
{
    if (!image_format_parse(value, &o->format)) {
        cli_error(cmd, "one of bin, hex, srec, elf", "unknown --format '%s'", value);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int image_set_load(const char *cmd, char *const *args, size_t count, const image_opts *o,
                   image_set *set)
{
    image_format format = o->format;
    bool has_address = o->has_address;
    uint32_t address = o->address;
    memset(set, 0, sizeof *set);
    set->inputs = calloc(count != 0 ? count : 1, sizeof *set->inputs);
    if (set->inputs == NULL) {
        cli_error(cmd, NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    set->count = count;
    bool stdin_used = false, address_used = false;
    for (size_t i = 0; i < count; i++) {
        image_input *in = &set->inputs[i];
        if (split_input(args[i], in) != 0) {
            cli_error(cmd, NULL, "out of memory");
            return EXIT_FAILURE_GENERIC;
        }
        if (strcmp(in->path, "-") == 0) {
            if (stdin_used) {
                cli_error(cmd, "name standard input once", "'-' is given twice");
                return EXIT_USAGE;
            }
            stdin_used = true;
        }
        uint32_t at = in->has_address ? in->address : has_address ? address : DEFAULT_BIN_ADDRESS;
        int code = load_one(cmd, in, format, at);
        if (code != EXIT_OK) {
            return code;
        }
        if (in->img.format == IMAGE_FORMAT_BIN) {
            address_used = address_used || !in->has_address;
        } else if (in->has_address) {
            fprintf(stderr,
                    "stm32isp %s: @0x%08" PRIx32 " applies to raw binaries only; %s carries "
                    "its own addresses\n",
                    cmd, in->address, in->name);
        }
    }
    if (has_address && !address_used) {
        fprintf(stderr, "stm32isp %s: --address applies to raw binaries only; no input used it\n",
                cmd);
    }
    return merge(cmd, set);
}

void image_set_free(image_set *set)
{
    for (size_t i = 0; set->inputs != NULL && i < set->count; i++) {
        image_free(&set->inputs[i].img);
        free(set->inputs[i].owned_path);
    }
    free(set->inputs);
    image_free(&set->merged);
    memset(set, 0, sizeof *set);
}

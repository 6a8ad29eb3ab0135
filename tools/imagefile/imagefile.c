/*
 * Firmware file readers. Each reader turns its input into chunks (address,
 * bytes); a common step sorts them, refuses overlaps, and merges touching
 * chunks into segments. Every length and address is checked before use:
 * these functions see files from anywhere.
 */
#include "imagefile.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct chunk {
    uint32_t address;
    uint32_t length;
    size_t offset; /* into the pool */
} chunk;

typedef struct builder {
    const char *name;
    chunk *chunks;
    size_t count, capacity;
    uint8_t *pool;
    size_t pool_size, pool_capacity;
    char *err;
    size_t err_size;
} builder;

__attribute__((format(printf, 3, 4))) static int fail(builder *b, unsigned line, const char *fmt,
                                                      ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line != 0) {
        snprintf(b->err, b->err_size, "%s:%u: %s", b->name, line, what);
    } else {
        snprintf(b->err, b->err_size, "%s: %s", b->name, what);
    }
    return -1;
}

static int add_chunk(builder *b, unsigned line, uint64_t address, const uint8_t *data,
                     size_t length)
{
    if (length == 0) {
        return 0;
    }
    if (address + length > 0x100000000ull) {
        return fail(b, line, "data at 0x%08" PRIx64 " runs past the 4 GiB address space", address);
    }
    if (b->pool_size + length > IMAGE_MAX_FILE_SIZE) {
        return fail(b, line, "more than %u MiB of data", IMAGE_MAX_FILE_SIZE >> 20);
    }
    if (b->count == b->capacity) {
        size_t cap = b->capacity != 0 ? b->capacity * 2 : 64;
        chunk *c = realloc(b->chunks, cap * sizeof *c);
        if (c == NULL) {
            return fail(b, line, "out of memory");
        }
        b->chunks = c;
        b->capacity = cap;
    }
    if (b->pool_size + length > b->pool_capacity) {
        size_t cap = b->pool_capacity != 0 ? b->pool_capacity : 4096;
        while (cap < b->pool_size + length) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->pool, cap);
        if (p == NULL) {
            return fail(b, line, "out of memory");
        }
        b->pool = p;
        b->pool_capacity = cap;
    }
    memcpy(b->pool + b->pool_size, data, length);
    b->chunks[b->count++] = (chunk){(uint32_t)address, (uint32_t)length, b->pool_size};
    b->pool_size += length;
    return 0;
}

static int by_address(const void *a, const void *b)
{
    const chunk *x = a, *y = b;
    if (x->address != y->address) {
        return x->address < y->address ? -1 : 1;
    }
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorts, refuses overlaps, merges touching chunks into segments. */
static int finish(builder *b, image_format format, loaded_image *out)
{
    if (b->count == 0) {
        return fail(b, 0, "the file holds no data to program");
    }
    qsort(b->chunks, b->count, sizeof *b->chunks, by_address);
    out->segments = calloc(b->count, sizeof *out->segments);
    out->payload = malloc(b->pool_size);
    if (out->segments == NULL || out->payload == NULL) {
        image_free(out);
        return fail(b, 0, "out of memory");
    }
    size_t seg = 0;
    uint32_t at = 0;
    for (size_t i = 0; i < b->count; i++) {
        const chunk *c = &b->chunks[i];
        if (i > 0) {
            const chunk *p = &b->chunks[i - 1];
            uint64_t prev_end = (uint64_t)p->address + p->length;
            if (c->address < prev_end) {
                image_free(out);
                return fail(b, 0, "data overlaps at 0x%08" PRIx32 " (two records for one address)",
                            c->address);
            }
            if (c->address == prev_end) {
                out->segments[seg - 1].length += c->length;
                memcpy(out->payload + at, b->pool + c->offset, c->length);
                at += c->length;
                continue;
            }
        }
        out->segments[seg++] = (stm32isp_segment){c->address, c->length};
        memcpy(out->payload + at, b->pool + c->offset, c->length);
        at += c->length;
    }
    out->segment_count = seg;
    out->payload_size = at;
    out->format = format;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Text formats                                                               */

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

/* Decodes `len` hex characters into len/2 bytes; false on a non-hex digit. */
static bool decode_hex(const char *text, size_t len, uint8_t *out)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Iterates over lines, without their line ends; false at the end. */
typedef struct line_reader {
    const char *text;
    size_t size, at;
    unsigned number;
} line_reader;

static bool next_line(line_reader *r, const char **line, size_t *len)
{
    if (r->at >= r->size) {
        return false;
    }
    const char *start = r->text + r->at;
    const char *nl = memchr(start, '\n', r->size - r->at);
    size_t n = nl != NULL ? (size_t)(nl - start) : r->size - r->at;
    r->at += n + (nl != NULL ? 1 : 0);
    r->number++;
    while (n > 0 && (start[n - 1] == '\r' || start[n - 1] == ' ' || start[n - 1] == '\t')) {
        n--;
    }
    while (n > 0 && (*start == ' ' || *start == '\t')) {
        start++;
        n--;
    }
    *line = start;
    *len = n;
    return true;
}

static int load_ihex(builder *b, const uint8_t *data, size_t size, loaded_image *out)
{
    line_reader r = {(const char *)data, size, 0, 0};
    const char *line;
    size_t len;
    uint32_t base = 0;
    bool ended = false;
    uint8_t rec[1 + 2 + 1 + 255 + 1];
    while (next_line(&r, &line, &len)) {
        if (len == 0) {
            continue;
        }
        if (ended) {
            return fail(b, r.number, "data after the end-of-file record");
        }
        if (line[0] != ':') {
            return fail(b, r.number, "a record must start with ':'");
        }
        if (len < 11 || (len - 1) % 2 != 0) {
            return fail(b, r.number, "record too short or odd number of digits");
        }
        size_t bytes = (len - 1) / 2;
        if (bytes > sizeof rec || !decode_hex(line + 1, len - 1, rec)) {
            return fail(b, r.number, "not a hexadecimal record");
        }
        uint8_t count = rec[0];
        if (bytes != (size_t)count + 5) {
            return fail(b, r.number, "byte count 0x%02X does not match the record's length", count);
        }
        uint8_t sum = 0;
        for (size_t i = 0; i < bytes; i++) {
            sum = (uint8_t)(sum + rec[i]);
        }
        if (sum != 0) {
            return fail(b, r.number, "checksum mismatch (record says 0x%02X, computed 0x%02X)",
                        rec[bytes - 1], (uint8_t)(rec[bytes - 1] - sum));
        }
        uint16_t offset = (uint16_t)(rec[1] << 8 | rec[2]);
        const uint8_t *payload = rec + 4;
        switch (rec[3]) {
        case 0x00:
            if (add_chunk(b, r.number, (uint64_t)base + offset, payload, count) != 0) {
                return -1;
            }
            break;
        case 0x01:
            ended = true;
            break;
        case 0x02:
        case 0x04:
            if (count != 2) {
                return fail(b, r.number, "an address record carries 2 bytes");
            }
            base = rec[3] == 0x02 ? (uint32_t)(payload[0] << 8 | payload[1]) << 4
                                  : (uint32_t)(payload[0] << 8 | payload[1]) << 16;
            break;
        case 0x03:
        case 0x05:
            break; /* start address: the part boots from its vector table */
        default:
            return fail(b, r.number, "unknown record type 0x%02X", rec[3]);
        }
    }
    if (!ended) {
        return fail(b, r.number, "no end-of-file record (:00000001FF): the file is truncated");
    }
    return finish(b, IMAGE_FORMAT_IHEX, out);
}

static int load_srec(builder *b, const uint8_t *data, size_t size, loaded_image *out)
{
    line_reader r = {(const char *)data, size, 0, 0};
    const char *line;
    size_t len;
    bool ended = false;
    uint32_t data_records = 0;
    uint8_t rec[256];
    while (next_line(&r, &line, &len)) {
        if (len == 0) {
            continue;
        }
        if (ended) {
            return fail(b, r.number, "data after the termination record");
        }
        if (len < 4 || line[0] != 'S' || line[1] < '0' || line[1] > '9') {
            return fail(b, r.number, "a record must start with S0..S9");
        }
        int type = line[1] - '0';
        if ((len - 2) % 2 != 0 || (len - 2) / 2 > sizeof rec ||
            !decode_hex(line + 2, len - 2, rec)) {
            return fail(b, r.number, "not a hexadecimal record");
        }
        size_t bytes = (len - 2) / 2;
        if (bytes != (size_t)rec[0] + 1) {
            return fail(b, r.number, "byte count 0x%02X does not match the record's length",
                        rec[0]);
        }
        uint8_t sum = 0;
        for (size_t i = 0; i + 1 < bytes; i++) {
            sum = (uint8_t)(sum + rec[i]);
        }
        uint8_t expected = (uint8_t)(0xFFu - sum); /* one's complement of the sum */
        if (expected != rec[bytes - 1]) {
            return fail(b, r.number, "checksum mismatch (record says 0x%02X, computed 0x%02X)",
                        rec[bytes - 1], expected);
        }
        static const int address_bytes[10] = {2, 2, 3, 4, 0, 2, 3, 4, 3, 2};
        int ab = address_bytes[type];
        if (type == 4 || bytes < (size_t)ab + 2) {
            return fail(b, r.number, "malformed S%d record", type);
        }
        uint32_t address = 0;
        for (int i = 0; i < ab; i++) {
            address = address << 8 | rec[1 + i];
        }
        const uint8_t *payload = rec + 1 + ab;
        size_t payload_len = bytes - 1 - (size_t)ab - 1;
        switch (type) {
        case 1:
        case 2:
        case 3:
            data_records++;
            if (add_chunk(b, r.number, address, payload, payload_len) != 0) {
                return -1;
            }
            break;
        case 5:
        case 6:
            if (address != data_records) {
                return fail(b, r.number,
                            "record count says %" PRIu32 " data records, the file has %" PRIu32,
                            address, data_records);
            }
            break;
        case 7:
        case 8:
        case 9:
            ended = true;
            break;
        default:
            break; /* S0: header text */
        }
    }
    if (!ended) {
        return fail(b, r.number, "no termination record (S7/S8/S9): the file is truncated");
    }
    return finish(b, IMAGE_FORMAT_SREC, out);
}

/* ------------------------------------------------------------------------- */
/* ELF                                                                        */

static int load_elf(builder *b, const uint8_t *data, size_t size, loaded_image *out)
{
    if (elf_version(EV_CURRENT) == EV_NONE) {
        return fail(b, 0, "libelf is unusable");
    }
    /* libelf wants a writable buffer; it does not change it in read mode. */
    Elf *e = elf_memory((char *)(uintptr_t)data, size);
    if (e == NULL || elf_kind(e) != ELF_K_ELF) {
        if (e != NULL) {
            elf_end(e);
        }
        return fail(b, 0, "not a valid ELF file");
    }
    int rc = -1;
    GElf_Ehdr eh;
    size_t phnum;
    if (gelf_getehdr(e, &eh) == NULL || elf_getphdrnum(e, &phnum) != 0) {
        fail(b, 0, "malformed ELF header: %s", elf_errmsg(-1));
        goto out;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS32) {
        fail(b, 0, "a 64-bit ELF file: STM32 images are 32-bit");
        goto out;
    }
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        fail(b, 0, "a big-endian ELF file: STM32 images are little-endian");
        goto out;
    }
    size_t loads = 0;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(e, (int)i, &ph) == NULL) {
            fail(b, 0, "malformed program header %zu", i);
            goto out;
        }
        if (ph.p_type != PT_LOAD || ph.p_filesz == 0) {
            continue;
        }
        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset) {
            fail(b, 0, "segment %zu lies beyond the end of the file (truncated?)", i);
            goto out;
        }
        /* The load address: where .data's initial values sit in flash. */
        if (add_chunk(b, 0, ph.p_paddr, data + ph.p_offset, ph.p_filesz) != 0) {
            goto out;
        }
        loads++;
    }
    if (loads == 0) {
        fail(b, 0, "no loadable segment with data (is it an object file, not a linked image?)");
        goto out;
    }
    rc = finish(b, IMAGE_FORMAT_ELF, out);
out:
    elf_end(e);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Entry points                                                               */

bool image_format_parse(const char *name, image_format *out)
{
    static const struct {
        const char *name;
        image_format format;
    } names[] = {
        {"auto", IMAGE_FORMAT_AUTO}, {"bin", IMAGE_FORMAT_BIN},   {"binary", IMAGE_FORMAT_BIN},
        {"hex", IMAGE_FORMAT_IHEX},  {"ihex", IMAGE_FORMAT_IHEX}, {"srec", IMAGE_FORMAT_SREC},
        {"s19", IMAGE_FORMAT_SREC},  {"elf", IMAGE_FORMAT_ELF},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].format;
            return true;
        }
    }
    return false;
}

const char *image_format_name(image_format format)
{
    switch (format) {
    case IMAGE_FORMAT_BIN:
        return "bin";
    case IMAGE_FORMAT_IHEX:
        return "hex";
    case IMAGE_FORMAT_SREC:
        return "srec";
    case IMAGE_FORMAT_ELF:
        return "elf";
    case IMAGE_FORMAT_AUTO:
        break;
    }
    return "auto";
}

static bool has_extension(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    for (; dot != NULL && *exts != NULL; exts++) {
        if (strcasecmp(dot + 1, *exts) == 0) {
            return true;
        }
    }
    return false;
}

static image_format detect(const char *name, const uint8_t *data, size_t size)
{
    static const char *const hex_ext[] = {"hex", "ihex", "ihx", NULL};
    static const char *const srec_ext[] = {"srec", "s19", "s28", "s37", "mot", NULL};
    static const char *const elf_ext[] = {"elf", "axf", "out", NULL};
    if (size >= 4 && memcmp(data, "\177ELF", 4) == 0) {
        return IMAGE_FORMAT_ELF;
    }
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) {
        i++;
    }
    if (i < size && data[i] == ':' && !has_extension(name, (const char *const[]){"bin", NULL})) {
        return IMAGE_FORMAT_IHEX;
    }
    if (i + 1 < size && data[i] == 'S' && data[i + 1] >= '0' && data[i + 1] <= '9' &&
        !has_extension(name, (const char *const[]){"bin", NULL})) {
        return IMAGE_FORMAT_SREC;
    }
    if (has_extension(name, hex_ext)) {
        return IMAGE_FORMAT_IHEX;
    }
    if (has_extension(name, srec_ext)) {
        return IMAGE_FORMAT_SREC;
    }
    if (has_extension(name, elf_ext)) {
        return IMAGE_FORMAT_ELF;
    }
    return IMAGE_FORMAT_BIN;
}

int image_load_buffer(const char *name, const uint8_t *data, size_t size, image_format format,
                      bool has_address, uint32_t address, loaded_image *out, char *err,
                      size_t err_size)
{
    memset(out, 0, sizeof *out);
    builder b = {.name = name, .err = err, .err_size = err_size};
    if (format == IMAGE_FORMAT_AUTO) {
        format = detect(name, data, size);
    }
    int rc;
    switch (format) {
    case IMAGE_FORMAT_IHEX:
        rc = load_ihex(&b, data, size, out);
        break;
    case IMAGE_FORMAT_SREC:
        rc = load_srec(&b, data, size, out);
        break;
    case IMAGE_FORMAT_ELF:
        rc = load_elf(&b, data, size, out);
        break;
    default:
        if (!has_address) {
            rc = fail(&b, 0, "a raw binary has no address: give it with --address");
        } else {
            rc = add_chunk(&b, 0, address, data, size);
            rc = rc == 0 ? finish(&b, IMAGE_FORMAT_BIN, out) : rc;
        }
        break;
    }
    free(b.chunks);
    free(b.pool);
    return rc;
}

int image_load(const char *path, image_format format, bool has_address, uint32_t address,
               loaded_image *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *data = NULL;
    size_t size = 0, capacity = 0;
    for (;;) {
        if (size == capacity) {
            if (capacity >= IMAGE_MAX_FILE_SIZE) {
                snprintf(err, err_size, "%s: larger than %u MiB; not a firmware image", path,
                         IMAGE_MAX_FILE_SIZE >> 20);
                free(data);
                fclose(f);
                return -1;
            }
            capacity = capacity != 0 ? capacity * 2 : 65536;
            uint8_t *p = realloc(data, capacity);
            if (p == NULL) {
                snprintf(err, err_size, "%s: out of memory", path);
                free(data);
                fclose(f);
                return -1;
            }
            data = p;
        }
        size_t n = fread(data + size, 1, capacity - size, f);
        size += n;
        if (n == 0) {
            break;
        }
    }
    bool read_error = ferror(f) != 0;
    fclose(f);
    if (read_error) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        free(data);
        return -1;
    }
    int rc = image_load_buffer(path, data != NULL ? data : (const uint8_t *)"", size, format,
                               has_address, address, out, err, err_size);
    free(data);
    return rc;
}

void image_free(loaded_image *img)
{
    free(img->segments);
    free(img->payload);
    memset(img, 0, sizeof *img);
}

static int payload_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    const loaded_image *img = ctx;
    if (offset > img->payload_size || len > img->payload_size - offset) {
        return -1;
    }
    memcpy(buf, img->payload + offset, len);
    return 0;
}

void image_as_stm32isp(const loaded_image *img, stm32isp_image *out)
{
    out->segments = img->segments;
    out->segment_count = img->segment_count;
    out->read = payload_read;
    out->ctx = (void *)(uintptr_t)img;
}

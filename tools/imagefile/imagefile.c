/*
 * Firmware file readers. Each reader turns its input into chunks (address,
 * bytes, where in the file); a common step sorts them, accepts overlaps only
 * where the bytes agree, and merges touching chunks into segments. Every
 * length and address is checked before use: these functions see files from
 * anywhere.
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
#include <sys/stat.h>
#include <unistd.h>

typedef struct chunk {
    uint32_t address;
    uint32_t length;
    size_t offset;  /* into the pool */
    unsigned where; /* line (text formats) or program header index (ELF) */
} chunk;

typedef struct builder {
    const char *name;
    bool where_is_line; /* false: `where` is an ELF program header index */
    chunk *chunks;
    size_t count, capacity;
    uint8_t *pool;
    size_t pool_size, pool_capacity;
    char *err;
    size_t err_size;
} builder;

/* Writes "name:line: what" (or "name: what" for line 0) and returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(builder *b, unsigned line, const char *fmt,
                                                      ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (b->err == NULL || b->err_size == 0) {
        return -1;
    }
    if (line != 0) {
        snprintf(b->err, b->err_size, "%s:%u: %s", b->name, line, what);
    } else {
        snprintf(b->err, b->err_size, "%s: %s", b->name, what);
    }
    return -1;
}

static int add_chunk(builder *b, unsigned where, uint64_t address, const uint8_t *data,
                     size_t length)
{
    unsigned line = b->where_is_line ? where : 0;
    if (length == 0) {
        return 0;
    }
    if (address > 0xFFFFFFFFull || length > 0x100000000ull - address) {
        return fail(b, line,
                    "data at 0x%08" PRIx64 " (%zu bytes) runs past the end of the 4 GiB "
                    "address space (0xFFFFFFFF)",
                    address, length);
    }
    if (length > IMAGE_MAX_FILE_SIZE || b->pool_size > IMAGE_MAX_FILE_SIZE - length) {
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
    b->chunks[b->count++] = (chunk){(uint32_t)address, (uint32_t)length, b->pool_size, where};
    b->pool_size += length;
    return 0;
}

/* By address; equal addresses keep file order (the pool grows in it). */
static int by_address(const void *a, const void *b)
{
    const chunk *x = a, *y = b;
    if (x->address != y->address) {
        return x->address < y->address ? -1 : 1;
    }
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The message for chunk `i` disagreeing, at `address`, with bytes already
 * taken from an earlier chunk (any earlier chunk covering `address` holds
 * the same byte as the payload, or loading would have stopped there). */
static int overlap_error(builder *b, size_t i, uint32_t address, uint8_t had)
{
    const chunk *c = &b->chunks[i];
    uint8_t now = b->pool[c->offset + (address - c->address)];
    unsigned other = 0;
    for (size_t j = i; j-- > 0;) {
        const chunk *p = &b->chunks[j];
        if (p->address <= address && address - p->address < p->length) {
            other = p->where;
            break;
        }
    }
    if (b->where_is_line) {
        return fail(b, c->where,
                    "overlapping data differs at 0x%08" PRIx32
                    " (0x%02X here, 0x%02X from line %u)",
                    address, now, had, other);
    }
    return fail(b, 0,
                "program headers %u and %u overlap with different data at 0x%08" PRIx32
                " (0x%02X and 0x%02X)",
                other, c->where, address, had, now);
}

/* Sorts, checks overlaps, merges touching and overlapping chunks into
 * segments, and hands the result to `out` (left zeroed on failure). */
static int finish(builder *b, image_format format, loaded_image *out)
{
    if (b->count == 0) {
        return fail(b, 0, "the file holds no data to program");
    }
    qsort(b->chunks, b->count, sizeof *b->chunks, by_address);
    loaded_image img = {0};
    size_t seg_capacity = b->count < IMAGE_MAX_SEGMENTS ? b->count : IMAGE_MAX_SEGMENTS;
    img.segments = calloc(seg_capacity, sizeof *img.segments);
    img.payload = malloc(b->pool_size);
    if (img.segments == NULL || img.payload == NULL) {
        image_free(&img);
        return fail(b, 0, "out of memory");
    }
    size_t seg = 0;
    uint32_t at = 0;        /* payload bytes so far */
    uint32_t seg_start = 0; /* payload offset of the current segment */
    uint64_t seg_end = 0;   /* one past the current segment's last address */
    for (size_t i = 0; i < b->count; i++) {
        const chunk *c = &b->chunks[i];
        const uint8_t *bytes = b->pool + c->offset;
        uint64_t c_end = (uint64_t)c->address + c->length;
        if (seg == 0 || c->address > seg_end) {
            if (seg == IMAGE_MAX_SEGMENTS) {
                image_free(&img);
                return fail(b, 0, "more than %u separate segments", IMAGE_MAX_SEGMENTS);
            }
            img.segments[seg++] = (stm32isp_segment){c->address, c->length};
            seg_start = at;
            seg_end = c_end;
            memcpy(img.payload + at, bytes, c->length);
            at += c->length;
            continue;
        }
        /* Touches or overlaps the current segment. */
        stm32isp_segment *s = &img.segments[seg - 1];
        uint64_t same_end = c_end < seg_end ? c_end : seg_end;
        for (uint64_t a = c->address; a < same_end; a++) {
            uint8_t had = img.payload[seg_start + (a - s->address)];
            if (had != bytes[a - c->address]) {
                image_free(&img);
                return overlap_error(b, i, (uint32_t)a, had);
            }
        }
        if (c_end > seg_end) {
            uint32_t extra = (uint32_t)(c_end - seg_end);
            memcpy(img.payload + at, bytes + (c->length - extra), extra);
            at += extra;
            s->length += extra;
            seg_end = c_end;
        }
    }
    img.segment_count = seg;
    img.payload_size = at;
    img.format = format;
    *out = img;
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

/* Decodes `len` (even) hex characters into len/2 bytes. Returns the index
 * of the first character that is not a hex digit, or `len`. */
static size_t decode_hex(const char *text, size_t len, uint8_t *out)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
        if (hi < 0) {
            return i;
        }
        if (lo < 0) {
            return i + 1;
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return len;
}

/* "'Z'" for a printable character, "byte 0x00" otherwise. */
static const char *show_char(char ch, char *buf, size_t size)
{
    unsigned char u = (unsigned char)ch;
    if (u >= 0x21 && u < 0x7F) {
        snprintf(buf, size, "'%c'", ch);
    } else {
        snprintf(buf, size, "byte 0x%02X", u);
    }
    return buf;
}

/* Checks the digits of a record whose text is `line` and whose hex part
 * starts at `first`; decodes into `rec` (at most `rec_size` bytes). */
static int decode_record(builder *b, unsigned number, const char *line, size_t len, size_t first,
                         uint8_t *rec, size_t rec_size, size_t *bytes)
{
    size_t digits = len - first;
    for (size_t i = first; i < len; i++) {
        if (hex_digit(line[i]) < 0) {
            char shown[16];
            return fail(b, number, "invalid hex digit %s in column %zu",
                        show_char(line[i], shown, sizeof shown), i + 1);
        }
    }
    if (digits % 2 != 0) {
        return fail(b, number, "odd number of hex digits (%zu)", digits);
    }
    if (digits / 2 > rec_size) {
        return fail(b, number, "record too long (%zu bytes)", digits / 2);
    }
    (void)decode_hex(line + first, digits, rec);
    *bytes = digits / 2;
    return 0;
}

/* Iterates over lines, without their line ends and surrounding blanks;
 * false at the end. */
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
    unsigned ended = 0; /* the end-of-file record's line */
    uint8_t rec[1 + 2 + 1 + 255 + 1];
    b->where_is_line = true;
    while (next_line(&r, &line, &len)) {
        if (len == 0) {
            continue;
        }
        if (ended != 0) {
            return fail(b, r.number, "data after the end-of-file record (line %u)", ended);
        }
        if (line[0] != ':') {
            char shown[16];
            return fail(b, r.number, "a record must start with ':', not %s",
                        show_char(line[0], shown, sizeof shown));
        }
        size_t bytes = 0;
        if (decode_record(b, r.number, line, len, 1, rec, sizeof rec, &bytes) != 0) {
            return -1;
        }
        if (bytes < 5) {
            return fail(b, r.number, "record too short (%zu bytes, at least 5)", bytes);
        }
        uint8_t count = rec[0];
        if (bytes != (size_t)count + 5) {
            return fail(b, r.number, "byte count 0x%02X says %u data bytes, the record has %zu",
                        count, count, bytes - 5);
        }
        uint8_t sum = 0;
        for (size_t i = 0; i + 1 < bytes; i++) {
            sum = (uint8_t)(sum + rec[i]);
        }
        uint8_t expected = (uint8_t)(0x100u - sum); /* two's complement of the sum */
        if (expected != rec[bytes - 1]) {
            return fail(b, r.number, "checksum mismatch (record says 0x%02X, computed 0x%02X)",
                        rec[bytes - 1], expected);
        }
        uint16_t offset = (uint16_t)(rec[1] << 8 | rec[2]);
        const uint8_t *payload = rec + 4;
        switch (rec[3]) {
        case 0x00:
            /* A record crossing a 64 KiB boundary continues linearly. */
            if (add_chunk(b, r.number, (uint64_t)base + offset, payload, count) != 0) {
                return -1;
            }
            break;
        case 0x01:
            if (count != 0) {
                return fail(b, r.number, "the end-of-file record carries %u data bytes", count);
            }
            ended = r.number;
            break;
        case 0x02:
        case 0x04:
            if (count != 2) {
                return fail(b, r.number, "an address record (type 0x%02X) carries 2 bytes, not %u",
                            rec[3], count);
            }
            base = rec[3] == 0x02 ? (uint32_t)(payload[0] << 8 | payload[1]) << 4
                                  : (uint32_t)(payload[0] << 8 | payload[1]) << 16;
            break;
        case 0x03:
        case 0x05:
            if (count != 4) {
                return fail(b, r.number,
                            "a start address record (type 0x%02X) carries 4 bytes, "
                            "not %u",
                            rec[3], count);
            }
            break; /* the part boots from its vector table */
        default:
            return fail(b, r.number, "unknown record type 0x%02X", rec[3]);
        }
    }
    if (ended == 0) {
        return fail(b, r.number, "no end-of-file record (:00000001FF): the file is truncated");
    }
    return finish(b, IMAGE_FORMAT_IHEX, out);
}

static int load_srec(builder *b, const uint8_t *data, size_t size, loaded_image *out)
{
    static const int address_bytes[10] = {2, 2, 3, 4, 0, 2, 3, 4, 3, 2};
    line_reader r = {(const char *)data, size, 0, 0};
    const char *line;
    size_t len;
    unsigned ended = 0; /* the termination record's line */
    uint32_t data_records = 0;
    uint8_t rec[256];
    b->where_is_line = true;
    while (next_line(&r, &line, &len)) {
        if (len == 0) {
            continue;
        }
        if (ended != 0) {
            return fail(b, r.number, "data after the termination record (line %u)", ended);
        }
        if (len < 2 || line[0] != 'S' || line[1] < '0' || line[1] > '9') {
            return fail(b, r.number, "a record must start with S0..S9");
        }
        int type = line[1] - '0';
        if (type == 4) {
            return fail(b, r.number, "S4 is not a valid record type");
        }
        size_t bytes = 0;
        if (decode_record(b, r.number, line, len, 2, rec, sizeof rec, &bytes) != 0) {
            return -1;
        }
        int ab = address_bytes[type];
        if (bytes < (size_t)ab + 2) {
            return fail(b, r.number, "S%d record too short (%zu bytes, at least %d)", type, bytes,
                        ab + 2);
        }
        if (bytes != (size_t)rec[0] + 1) {
            return fail(b, r.number, "byte count 0x%02X says %u bytes follow, the record has %zu",
                        rec[0], rec[0], bytes - 1);
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
            ended = r.number; /* its address (the entry point) is not needed */
            break;
        default:
            break; /* S0: header text */
        }
    }
    if (ended == 0) {
        return fail(b, r.number, "no termination record (S7/S8/S9): the file is truncated");
    }
    return finish(b, IMAGE_FORMAT_SREC, out);
}

/* ------------------------------------------------------------------------- */
/* ELF                                                                        */

static int load_elf_headers(builder *b, Elf *e, const uint8_t *data, size_t size)
{
    GElf_Ehdr eh;
    size_t phnum;
    if (elf_kind(e) != ELF_K_ELF || gelf_getehdr(e, &eh) == NULL) {
        return fail(b, 0, "malformed ELF header: %s", elf_errmsg(-1));
    }
    if (elf_getphdrnum(e, &phnum) != 0) {
        return fail(b, 0, "malformed program header table: %s", elf_errmsg(-1));
    }
    if (phnum == 0) {
        return fail(b, 0, "no program headers (is it an object file, not a linked image?)");
    }
    if (eh.e_phoff > size || (uint64_t)phnum * eh.e_phentsize > size - eh.e_phoff ||
        eh.e_phentsize != sizeof(Elf32_Phdr)) {
        return fail(b, 0, "the program header table lies beyond the end of the file (truncated?)");
    }
    size_t loads = 0;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (i > (size_t)INT32_MAX || gelf_getphdr(e, (int)i, &ph) == NULL) {
            return fail(b, 0, "malformed program header %zu: %s", i, elf_errmsg(-1));
        }
        if (ph.p_type != PT_LOAD || ph.p_filesz == 0) {
            continue;
        }
        if (ph.p_filesz > ph.p_memsz) {
            return fail(b, 0,
                        "program header %zu: file size 0x%" PRIx64
                        " larger than memory size 0x%" PRIx64,
                        i, (uint64_t)ph.p_filesz, (uint64_t)ph.p_memsz);
        }
        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset) {
            return fail(b, 0,
                        "program header %zu: its %" PRIu64 " bytes at file offset 0x%" PRIx64
                        " lie beyond the end of the file (%zu bytes; truncated?)",
                        i, (uint64_t)ph.p_filesz, (uint64_t)ph.p_offset, size);
        }
        /* The load address: where .data's initial values sit in flash. */
        if (add_chunk(b, (unsigned)i, ph.p_paddr, data + ph.p_offset, ph.p_filesz) != 0) {
            return -1;
        }
        loads++;
    }
    if (loads == 0) {
        return fail(b, 0,
                    "no loadable segment with data (is it an object file, not a linked "
                    "image?)");
    }
    return 0;
}

static int load_elf(builder *b, const uint8_t *data, size_t size, loaded_image *out)
{
    b->where_is_line = false;
    /* Class and byte order from the raw identification, before libelf. */
    if (size < EI_NIDENT || memcmp(data, ELFMAG, SELFMAG) != 0) {
        return fail(b, 0, "not an ELF file (no 7F 'E' 'L' 'F' magic)");
    }
    if (data[EI_CLASS] == ELFCLASS64) {
        return fail(b, 0, "a 64-bit ELF file: STM32 images are ELF32");
    }
    if (data[EI_CLASS] != ELFCLASS32) {
        return fail(b, 0, "unknown ELF class %u", data[EI_CLASS]);
    }
    if (data[EI_DATA] == ELFDATA2MSB) {
        return fail(b, 0, "a big-endian ELF file: STM32 images are little-endian");
    }
    if (data[EI_DATA] != ELFDATA2LSB) {
        return fail(b, 0, "unknown ELF byte order %u", data[EI_DATA]);
    }
    if (size < sizeof(Elf32_Ehdr)) {
        return fail(b, 0, "truncated ELF header (%zu bytes, %zu needed)", size, sizeof(Elf32_Ehdr));
    }
    if (elf_version(EV_CURRENT) == EV_NONE) {
        return fail(b, 0, "libelf is unusable: %s", elf_errmsg(-1));
    }
    /* libelf takes a writable buffer: give it a private copy. */
    char *copy = malloc(size);
    if (copy == NULL) {
        return fail(b, 0, "out of memory");
    }
    memcpy(copy, data, size);
    Elf *e = elf_memory(copy, size);
    int rc;
    if (e == NULL) {
        rc = fail(b, 0, "malformed ELF file: %s", elf_errmsg(-1));
    } else {
        rc = load_elf_headers(b, e, data, size);
        elf_end(e);
    }
    free(copy);
    return rc == 0 ? finish(b, IMAGE_FORMAT_ELF, out) : rc;
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
    if (name == NULL) {
        return false;
    }
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
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash != NULL ? slash : name, '.');
    for (; dot != NULL && *exts != NULL; exts++) {
        if (strcasecmp(dot + 1, *exts) == 0) {
            return true;
        }
    }
    return false;
}

static image_format detect(const char *name, const uint8_t *data, size_t size)
{
    static const char *const bin_ext[] = {"bin", NULL};
    static const char *const hex_ext[] = {"hex", "ihex", "ihx", NULL};
    static const char *const srec_ext[] = {"srec", "s19", "s28", "s37", "mot", NULL};
    static const char *const elf_ext[] = {"elf", "axf", "out", NULL};
    if (size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0) {
        return IMAGE_FORMAT_ELF;
    }
    if (has_extension(name, bin_ext)) {
        return IMAGE_FORMAT_BIN; /* raw bytes may well start with ':' or "S1" */
    }
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) {
        i++;
    }
    if (i < size && data[i] == ':') {
        return IMAGE_FORMAT_IHEX;
    }
    if (i + 1 < size && data[i] == 'S' && data[i + 1] >= '0' && data[i + 1] <= '9') {
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
    if (err != NULL && err_size != 0) {
        err[0] = '\0';
    }
    builder b = {.name = name != NULL ? name : "(buffer)", .err = err, .err_size = err_size};
    if (data == NULL || size == 0) {
        return fail(&b, 0, "the file is empty: no data to program");
    }
    if (size > IMAGE_MAX_FILE_SIZE) {
        return fail(&b, 0, "file too large (%zu bytes; the limit is %u MiB)", size,
                    IMAGE_MAX_FILE_SIZE >> 20);
    }
    if (format == IMAGE_FORMAT_AUTO) {
        format = detect(b.name, data, size);
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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(EISDIR));
        close(fd);
        return -1;
    }
    if (S_ISREG(st.st_mode) && st.st_size > (off_t)IMAGE_MAX_FILE_SIZE) {
        snprintf(err, err_size, "%s: file too large (%jd bytes; the limit is %u MiB)", path,
                 (intmax_t)st.st_size, IMAGE_MAX_FILE_SIZE >> 20);
        close(fd);
        return -1;
    }
    /* Read up to one byte past the limit: pipes and growing files have no
     * trustworthy size. */
    size_t capacity = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
    uint8_t *data = malloc(capacity);
    size_t size = 0;
    int rc = -1;
    if (data == NULL) {
        snprintf(err, err_size, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (size == capacity) {
            if (capacity > IMAGE_MAX_FILE_SIZE) {
                snprintf(err, err_size, "%s: file too large (more than %u MiB)", path,
                         IMAGE_MAX_FILE_SIZE >> 20);
                goto out;
            }
            size_t grown =
                capacity * 2 > IMAGE_MAX_FILE_SIZE + 1 ? IMAGE_MAX_FILE_SIZE + 1 : capacity * 2;
            uint8_t *p = realloc(data, grown);
            if (p == NULL) {
                snprintf(err, err_size, "%s: out of memory", path);
                goto out;
            }
            data = p;
            capacity = grown;
        }
        ssize_t n = read(fd, data + size, capacity - size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0) {
            break;
        }
        size += (size_t)n;
    }
    rc = image_load_buffer(path, data, size, format, has_address, address, out, err, err_size);
out:
    free(data);
    close(fd);
    return rc;
}

void image_free(loaded_image *img)
{
    if (img == NULL) {
        return;
    }
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
    if (len != 0) {
        memcpy(buf, img->payload + offset, len);
    }
    return 0;
}

void image_as_stm32isp(const loaded_image *img, stm32isp_image *out)
{
    out->segments = img->segments;
    out->segment_count = img->segment_count;
    out->read = payload_read;
    out->ctx = (void *)(uintptr_t)img;
}

int64_t image_payload_offset(const loaded_image *img, uint32_t address)
{
    /* Binary search for the last segment starting at or below `address`. */
    size_t lo = 0, hi = img->segment_count;
    int64_t offset = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (img->segments[mid].address <= address) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return -1;
    }
    const stm32isp_segment *s = &img->segments[lo - 1];
    if (address - s->address >= s->length) {
        return -1;
    }
    for (size_t i = 0; i + 1 < lo; i++) {
        offset += img->segments[i].length;
    }
    return offset + (address - s->address);
}

/* ------------------------------------------------------------------------- */
/* Intel HEX writer                                                           */

/* Two passes over the same records: the first (buf NULL) only counts the
 * characters, so the second writes into one exact allocation. */
typedef struct ihex_writer {
    char *buf;
    size_t len;
    bool overflow;   /* the count passed SIZE_MAX (32-bit hosts) */
    bool have_upper; /* a type 04 record has been written */
    uint32_t upper;  /* the upper 16 address bits it set */
} ihex_writer;

static char *ihex_byte(char *p, unsigned byte)
{
    static const char digits[] = "0123456789ABCDEF";
    p[0] = digits[(byte >> 4) & 0xF];
    p[1] = digits[byte & 0xF];
    return p + 2;
}

/* ":" count(2) offset(4) type(2) data(2n) checksum(2) CR LF: 13 + 2n
 * characters; the checksum is the two's complement of the sum of every byte
 * before it. */
static void ihex_record(ihex_writer *w, unsigned type, unsigned offset, const uint8_t *bytes,
                        size_t n)
{
    size_t line = 13 + 2 * n;
    if (w->buf == NULL) {
        if (w->len > SIZE_MAX - line) {
            w->overflow = true;
        } else {
            w->len += line;
        }
        return;
    }
    char *p = w->buf + w->len;
    unsigned sum = (unsigned)n + (offset >> 8) + (offset & 0xFF) + type;
    *p++ = ':';
    p = ihex_byte(p, (unsigned)n);
    p = ihex_byte(p, offset >> 8);
    p = ihex_byte(p, offset & 0xFF);
    p = ihex_byte(p, type);
    for (size_t i = 0; i < n; i++) {
        p = ihex_byte(p, bytes[i]);
        sum += bytes[i];
    }
    p = ihex_byte(p, (0x100u - (sum & 0xFF)) & 0xFF);
    p[0] = '\r';
    p[1] = '\n';
    w->len += line;
}

/* `size` bytes at `address`; address + size is at most 4 GiB. */
static void ihex_run(ihex_writer *w, const uint8_t *data, size_t size, uint32_t address)
{
    size_t i = 0;
    while (i < size && !w->overflow) {
        uint32_t a = (uint32_t)(address + i); /* below 4 GiB: a byte is left */
        size_t n = 16;
        if (n > size - i) {
            n = size - i;
        }
        if (n > 0x10000u - (a & 0xFFFFu)) { /* up to the 64 KiB boundary */
            n = 0x10000u - (a & 0xFFFFu);
        }
        if (!w->have_upper || a >> 16 != w->upper) {
            const uint8_t ext[2] = {(uint8_t)(a >> 24), (uint8_t)(a >> 16)};
            ihex_record(w, 0x04, 0, ext, 2);
            w->have_upper = true;
            w->upper = a >> 16;
        }
        ihex_record(w, 0x00, a & 0xFFFFu, data + i, n);
        i += n;
    }
}

/* Either one run (img NULL) or every segment of img, then the end record. */
static void ihex_emit(ihex_writer *w, const loaded_image *img, const uint8_t *data, size_t size,
                      uint32_t address)
{
    if (img == NULL) {
        ihex_run(w, data, size, address);
    } else {
        size_t at = 0;
        for (size_t k = 0; k < img->segment_count; k++) {
            ihex_run(w, img->payload + at, img->segments[k].length, img->segments[k].address);
            at += img->segments[k].length;
        }
    }
    ihex_record(w, 0x01, 0, NULL, 0);
}

static int ihex_text(const loaded_image *img, const uint8_t *data, size_t size, uint32_t address,
                     char **out, size_t *out_size)
{
    ihex_writer count = {0};
    ihex_emit(&count, img, data, size, address);
    if (count.overflow || count.len == SIZE_MAX) {
        return -1;
    }
    char *buf = malloc(count.len + 1);
    if (buf == NULL) {
        return -1;
    }
    ihex_writer w = {.buf = buf};
    ihex_emit(&w, img, data, size, address);
    buf[w.len] = '\0';
    *out = buf;
    *out_size = w.len;
    return 0;
}

int image_format_ihex(const uint8_t *data, size_t size, uint32_t address, char **out,
                      size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    if ((uint64_t)size > 0x100000000ull - address) {
        return -1;
    }
    return ihex_text(NULL, data, size, address, out, out_size);
}

int image_format_ihex_image(const loaded_image *img, char **out, size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    /* The loaders never make these, but a hand-built image could. */
    uint64_t at = 0;
    for (size_t k = 0; k < img->segment_count; k++) {
        const stm32isp_segment *s = &img->segments[k];
        at += s->length;
        if ((uint64_t)s->address + s->length > 0x100000000ull || at > img->payload_size) {
            return -1;
        }
    }
    return ihex_text(img, NULL, 0, 0, out, out_size);
}

/*
 * The master's flash image from its ELF file: the PT_LOAD segments at their
 * physical (load) addresses, which is what a programmer writes (objcopy -O
 * binary gives the same bytes). ELF32 little-endian only: the Cortex-M
 * builds are nothing else.
 */
#include "bench/bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLASH_BASE 0x08000000u
#define FLASH_MAX  (1024u * 1024u) /* the largest F1 part */
#define PT_LOAD    1u

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint8_t *fail(char *err, size_t err_size, uint8_t *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    free(file);
    return NULL;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t have = 0, cap = 0;
    for (;;) {
        if (have == cap) {
            cap = cap ? cap * 2u : 65536u;
            uint8_t *grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t n = fread(buf + have, 1, cap - have, f);
        have += n;
        if (n == 0) {
            break;
        }
    }
    fclose(f);
    *len = have;
    return buf;
}

uint8_t *bench_load_elf(const char *path, size_t *size, char *err, size_t err_size)
{
    size_t len = 0;
    uint8_t *file = read_all(path, &len);
    if (file == NULL) {
        return fail(err, err_size, NULL, "%s: cannot read it (build the firmware: make firmware)",
                    path);
    }
    if (len < 52 || memcmp(file, "\177ELF", 4) != 0 || file[4] != 1 || file[5] != 1) {
        return fail(err, err_size, file, "%s: not a 32-bit little-endian ELF file", path);
    }
    uint32_t phoff = rd32(file + 28);
    uint16_t phentsize = rd16(file + 42), phnum = rd16(file + 44);
    if (phentsize < 32 || phoff > len || (size_t)phnum * phentsize > len - phoff) {
        return fail(err, err_size, file, "%s: its program headers are cut short", path);
    }
    uint32_t end = 0;
    for (unsigned pass = 0; pass < 2; pass++) {
        uint8_t *image = NULL;
        if (pass == 1) {
            if (end == 0) {
                return fail(err, err_size, file, "%s: nothing to load into flash", path);
            }
            image = malloc(end);
            if (image == NULL) {
                return fail(err, err_size, file, "out of memory");
            }
            memset(image, 0xFF, end);
        }
        for (unsigned i = 0; i < phnum; i++) {
            const uint8_t *ph = file + phoff + (size_t)i * phentsize;
            uint32_t offset = rd32(ph + 4), paddr = rd32(ph + 12), filesz = rd32(ph + 16);
            if (rd32(ph) != PT_LOAD || filesz == 0) {
                continue;
            }
            if (paddr < FLASH_BASE || paddr - FLASH_BASE > FLASH_MAX ||
                filesz > FLASH_MAX - (paddr - FLASH_BASE) || offset > len ||
                filesz > len - offset) {
                free(image);
                return fail(err, err_size, file,
                            "%s: a segment loads at 0x%08x, %u bytes: not in flash", path,
                            (unsigned)paddr, (unsigned)filesz);
            }
            uint32_t seg_end = paddr - FLASH_BASE + filesz;
            if (pass == 0) {
                end = seg_end > end ? seg_end : end;
            } else {
                memcpy(image + (paddr - FLASH_BASE), file + offset, filesz);
            }
        }
        if (pass == 1) {
            free(file);
            *size = end;
            return image;
        }
    }
    return fail(err, err_size, file, "unreachable");
}

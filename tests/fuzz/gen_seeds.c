/*
 * Writes the seed corpora of the fuzzers: `fuzz_seeds DIR` makes
 * DIR/<target>/<seed> for every target. The seeds come from the real
 * formats and the real protocol, not from hand-typed bytes:
 *
 * - container: headers made by stm32isp_container_write_header;
 * - imagefile: small Intel HEX, SREC, ELF32 and raw files;
 * - client, blsim: the client session of client_session.c run against the
 *   bootloader model and recorded, once as the model's replies (what
 *   fuzz_client serves), once as the host's operations (what fuzz_blsim
 *   replays);
 * - eeprom: driver writes across page and block boundaries, read back.
 *
 * Deterministic: the same build writes the same bytes.
 */
#include "blsim_input.h"
#include "client_session.h"
#include "imagefile_input.h"
#include "frame.h"
#include "stm32isp/container.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_dir;
static int failures;

/* ------------------------------------------------------------------------- */
/* Output                                                                     */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n)
{
    if (n == 0) {
        return;
    }
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            fprintf(stderr, "fuzz_seeds: out of memory\n");
            exit(1);
        }
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_byte(bytes *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_text(bytes *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Writes DIR/target/name through a temporary name, so that an interrupted
 * run leaves no half-written seed. */
static void save(const char *target, const char *name, const bytes *b)
{
    char dir[4096], path[4096], tmp[4200];
    snprintf(dir, sizeof dir, "%s/%s", out_dir, target);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz_seeds: cannot create %s: %s\n", dir, strerror(errno));
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "fuzz_seeds: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    printf("%-40s %6zu bytes\n", path, b->len);
}

static void save_free(const char *target, const char *name, bytes *b)
{
    save(target, name, b);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------------- */
/* Container                                                                  */

static stm32isp_err mem_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    const bytes *b = ctx;
    if (offset > b->len || len > b->len - offset) {
        return STM32ISP_ERR_IMAGE_SOURCE;
    }
    memcpy(buf, b->p + offset, len);
    return STM32ISP_OK;
}

/* A container of `ct`'s segments with a patterned payload, behind the two
 * control bytes fuzz_container reads. */
static void container_seed(const char *name, stm32isp_container *ct, uint8_t ctl)
{
    uint8_t header[STM32ISP_CONTAINER_MAX_HEADER];
    bytes payload = {0};
    for (unsigned i = 0; i < ct->segment_count; i++) {
        for (uint32_t k = 0; k < ct->segments[i].length; k++) {
            put_byte(&payload, (uint8_t)(k * 7u + i));
        }
    }
    ct->payload_length = (uint32_t)payload.len;
    ct->payload_crc = stm32isp_crc32_ieee(0, payload.p, payload.len);
    size_t hl = stm32isp_container_write_header(ct, header, sizeof header);
    if (hl == 0) {
        fprintf(stderr, "fuzz_seeds: container %s: the writer refused it\n", name);
        exit(1);
    }
    bytes medium = {0};
    put(&medium, header, hl);
    put(&medium, payload.p, payload.len);
    stm32isp_container_source src = {mem_read, &medium, (uint32_t)medium.len};
    stm32isp_container back;
    uint8_t scratch[64];
    if (stm32isp_container_open(&back, &src, scratch, sizeof scratch) != STM32ISP_OK ||
        stm32isp_container_check_payload(&back, scratch, sizeof scratch) != STM32ISP_OK) {
        fprintf(stderr, "fuzz_seeds: container %s does not read back\n", name);
        failures++;
    }
    bytes seed = {0};
    put_byte(&seed, ctl);
    put_byte(&seed, 0);
    put(&seed, medium.p, medium.len);
    save_free("container", name, &seed);
    free(medium.p);
    free(payload.p);
}

static void container_seeds(void)
{
    stm32isp_container ct = {0};
    ct.segment_count = 1;
    ct.segments[0] = (stm32isp_segment){0x08000000u, 200};
    ct.flags = STM32ISP_CONTAINER_VERIFY | STM32ISP_CONTAINER_START;
    strcpy(ct.name, "blink");
    strcpy(ct.version, "1.0");
    container_seed("one-segment", &ct, 0x0C); /* scratch 64, no fix-ups */

    memset(&ct, 0, sizeof ct);
    ct.segment_count = 3;
    ct.segments[0] = (stm32isp_segment){0x08000000u, 64};
    ct.segments[1] = (stm32isp_segment){0x08000400u, 300};
    ct.segments[2] = (stm32isp_segment){0x0801FFF0u, 16};
    ct.flags = STM32ISP_CONTAINER_KNOWN_FLAGS;
    ct.pid_count = 2;
    ct.pids[0] = 0x410;
    ct.pids[1] = 0x414;
    ct.min_flash_size = 128u * 1024u;
    ct.start_address = 0x08000000u;
    ct.created = 1700000000u;
    strcpy(ct.name, "three segments and two parts");
    strcpy(ct.version, "2.3.4-rc1");
    container_seed("three-segments-pids", &ct, 0x03 | 0x14 | 0x40); /* fix-ups on */
}

/* ------------------------------------------------------------------------- */
/* Image files                                                                */

/* Saves an image file seed after checking that fuzz_imagefile's reader
 * arguments for these control bytes load it. */
static void image_seed(const char *name, uint8_t ctl0, uint8_t ctl1, const bytes *file)
{
    imagefile_args args = imagefile_input_args(ctl0, ctl1);
    loaded_image img;
    char err[256];
    if (image_load_buffer(args.name, file->p, file->len, args.format, args.has_address,
                          args.address, &img, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_seeds: image %s does not load: %s\n", name, err);
        failures++;
    }
    image_free(&img);
    bytes seed = {0};
    put_byte(&seed, ctl0);
    put_byte(&seed, ctl1);
    put(&seed, file->p, file->len);
    save_free("imagefile", name, &seed);
}

/* One Intel HEX record with its checksum. */
static void ihex_record(bytes *b, uint8_t type, uint16_t offset, const uint8_t *data, uint8_t n)
{
    uint8_t rec[4 + 255 + 1] = {n, (uint8_t)(offset >> 8), (uint8_t)offset, type};
    if (n > 0) {
        memcpy(rec + 4, data, n);
    }
    uint8_t sum = 0;
    for (unsigned i = 0; i < 4u + n; i++) {
        sum = (uint8_t)(sum + rec[i]);
    }
    rec[4 + n] = (uint8_t)(0x100u - sum);
    char line[2 * sizeof rec + 4];
    size_t at = (size_t)snprintf(line, sizeof line, ":");
    for (unsigned i = 0; i < 5u + n; i++) {
        at += (size_t)snprintf(line + at, sizeof line - at, "%02X", rec[i]);
    }
    snprintf(line + at, sizeof line - at, "\r\n");
    put_text(b, line);
}

static void srec_record(bytes *b, int type, uint32_t address, int address_bytes,
                        const uint8_t *data, uint8_t n)
{
    uint8_t rec[1 + 4 + 250 + 1];
    size_t len = 0;
    rec[len++] = (uint8_t)(address_bytes + n + 1);
    for (int i = address_bytes - 1; i >= 0; i--) {
        rec[len++] = (uint8_t)(address >> (8 * i));
    }
    if (n > 0) {
        memcpy(rec + len, data, n);
    }
    len += n;
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) {
        sum = (uint8_t)(sum + rec[i]);
    }
    rec[len++] = (uint8_t)(0xFFu - sum);
    char line[2 * sizeof rec + 8];
    size_t at = (size_t)snprintf(line, sizeof line, "S%d", type);
    for (size_t i = 0; i < len; i++) {
        at += (size_t)snprintf(line + at, sizeof line - at, "%02X", rec[i]);
    }
    snprintf(line + at, sizeof line - at, "\n");
    put_text(b, line);
}

static void put_le(bytes *b, uint32_t v, int n)
{
    for (int i = 0; i < n; i++) {
        put_byte(b, (uint8_t)(v >> (8 * i)));
    }
}

/* A linked Cortex-M image as a linker lays it out: code at its flash
 * address, .data stored in flash after it (LMA) but run from RAM (VMA), and
 * .bss with no file bytes. No section headers: the loader needs none. */
static void elf_file(bytes *b)
{
    enum { PHNUM = 3, CODE = 64, DATA = 16 };
    const uint32_t phoff = sizeof(Elf32_Ehdr);
    const uint32_t code_off = phoff + PHNUM * sizeof(Elf32_Phdr);
    uint8_t ident[EI_NIDENT] = {ELFMAG0,    ELFMAG1,     ELFMAG2,    ELFMAG3,
                                ELFCLASS32, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE};
    put(b, ident, sizeof ident);
    put_le(b, ET_EXEC, 2);
    put_le(b, EM_ARM, 2);
    put_le(b, EV_CURRENT, 4);
    put_le(b, 0x08000009u, 4); /* entry: Reset_Handler, Thumb */
    put_le(b, phoff, 4);
    put_le(b, 0, 4); /* no section headers */
    put_le(b, 0x05000200u, 4);
    put_le(b, sizeof(Elf32_Ehdr), 2);
    put_le(b, sizeof(Elf32_Phdr), 2);
    put_le(b, PHNUM, 2);
    put_le(b, sizeof(Elf32_Shdr), 2);
    put_le(b, 0, 2);
    put_le(b, 0, 2);
    const uint32_t ph[PHNUM][8] = {
        /* type, offset, vaddr, paddr, filesz, memsz, flags, align */
        {PT_LOAD, code_off, 0x08000000u, 0x08000000u, CODE, CODE, PF_R | PF_X, 4},
        {PT_LOAD, code_off + CODE, 0x20000000u, 0x08000000u + CODE, DATA, DATA + 8, PF_R | PF_W, 4},
        {PT_LOAD, 0, 0x20000018u, 0x20000018u, 0, 32, PF_R | PF_W, 4},
    };
    for (int i = 0; i < PHNUM; i++) {
        for (int k = 0; k < 8; k++) {
            put_le(b, ph[i][k], 4);
        }
    }
    for (unsigned i = 0; i < CODE + DATA; i++) {
        put_byte(b, (uint8_t)(i * 5u + 1u));
    }
}

static void imagefile_seeds(void)
{
    uint8_t data[32];
    for (unsigned i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(0xA0u + i);
    }
    /* Intel HEX: extended linear address, two runs, a start record. */
    bytes hex = {0};
    static const uint8_t upper[2] = {0x08, 0x00};
    static const uint8_t start[4] = {0x08, 0x00, 0x01, 0x01};
    ihex_record(&hex, 4, 0, upper, 2);
    ihex_record(&hex, 0, 0x0000, data, 16);
    ihex_record(&hex, 0, 0x0010, data + 16, 16);
    ihex_record(&hex, 0, 0xFFF8, data, 16); /* runs over a 64 KiB boundary */
    ihex_record(&hex, 5, 0, start, 4);
    ihex_record(&hex, 1, 0, NULL, 0);
    image_seed("ihex", 0x02 | 0x08, 4, &hex); /* IHEX, fw.hex */
    image_seed("ihex-auto", 0x00, 0, &hex);   /* AUTO, no extension */
    free(hex.p);

    /* Intel HEX whose data ends at 4 GiB exactly. */
    bytes top = {0};
    static const uint8_t top_upper[2] = {0xFF, 0xFF};
    ihex_record(&top, 4, 0, top_upper, 2);
    ihex_record(&top, 0, 0xFFE0, data, 32);
    ihex_record(&top, 1, 0, NULL, 0);
    image_seed("ihex-top", 0x02 | 0x08, 4, &top);
    free(top.p);

    /* Intel HEX with a segment address record (type 02). */
    bytes hex16 = {0};
    static const uint8_t segment[2] = {0x10, 0x00};
    ihex_record(&hex16, 2, 0, segment, 2);
    ihex_record(&hex16, 0, 0x0100, data, 8);
    ihex_record(&hex16, 1, 0, NULL, 0);
    image_seed("ihex-segment", 0x02 | 0x08, 0, &hex16);
    free(hex16.p);

    /* SREC: a header, S3 data, a count, S7. */
    bytes srec = {0};
    static const uint8_t head[4] = {'s', 'e', 'e', 'd'};
    srec_record(&srec, 0, 0, 2, head, 4);
    srec_record(&srec, 3, 0x08000000u, 4, data, 16);
    srec_record(&srec, 3, 0x08000100u, 4, data + 16, 16);
    srec_record(&srec, 3, 0xFFFFFFF0u, 4, data, 16); /* ends at 4 GiB exactly */
    srec_record(&srec, 5, 3, 2, NULL, 0);
    srec_record(&srec, 7, 0x08000000u, 4, NULL, 0);
    image_seed("srec", 0x03 | 0x10, 4, &srec); /* SREC, fw.srec */
    free(srec.p);

    /* S19: 16-bit addresses, S1 and S9. */
    bytes s19 = {0};
    srec_record(&s19, 1, 0x1000, 2, data, 20);
    srec_record(&s19, 9, 0x1000, 2, NULL, 0);
    image_seed("s19-auto", 0x30, 4, &s19); /* AUTO, FW.S19 */
    free(s19.p);

    bytes elf = {0};
    elf_file(&elf);
    image_seed("elf", 0x04 | 0x18, 0, &elf); /* ELF, fw.elf */
    image_seed("elf-auto", 0x00, 0, &elf);   /* AUTO: the magic decides */
    free(elf.p);

    bytes bin = {0};
    put(&bin, data, sizeof data);
    image_seed("bin", 0x01 | 0x20 | IMAGEFILE_IN_ADDRESS, 0, &bin); /* BIN, fw.bin, at 0x08000000 */
    free(bin.p);
}

/* ------------------------------------------------------------------------- */
/* Client and bootloader model: a recorded session                            */

typedef struct recorder {
    blsim *sim;
    bytes replies; /* fuzz_client chunks */
    bytes current; /* the chunk being collected */
    bytes ops;     /* fuzz_blsim operations */
    bool boot0, nrst;
} recorder;

static void flush_chunk(recorder *r)
{
    size_t n = r->current.len;
    if (n < 0x80) {
        put_byte(&r->replies, (uint8_t)n);
    } else {
        put_byte(&r->replies, (uint8_t)(0x80 | n >> 8));
        put_byte(&r->replies, (uint8_t)n);
    }
    put(&r->replies, r->current.p, n);
    r->current.len = 0;
}

static unsigned wait_code(uint32_t ms, unsigned max_t)
{
    unsigned t = 0;
    while (t < max_t && t * t + 1 < ms) {
        t++;
    }
    return t;
}

static int rec_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    recorder *r = ctx;
    put_byte(&r->ops, (uint8_t)(BLSIM_OP_RECV | wait_code(timeout_ms, 63)));
    size_t n = blsim_host_recv(r->sim, buf, len, (uint64_t)timeout_ms * 1000u);
    put(&r->current, buf, n);
    return (int)n;
}

static int rec_write(void *ctx, const uint8_t *buf, size_t len)
{
    recorder *r = ctx;
    flush_chunk(r);
    for (size_t at = 0; at < len; at += 128) {
        size_t n = len - at < 128 ? len - at : 128;
        put_byte(&r->ops, (uint8_t)(n - 1));
        put(&r->ops, buf + at, n);
    }
    blsim_host_send(r->sim, buf, len);
    return 0;
}

static uint32_t rec_now_ms(void *ctx)
{
    const recorder *r = ctx;
    return (uint32_t)(blsim_now_ns(r->sim) / 1000000u);
}

static void rec_delay_ms(void *ctx, uint32_t ms)
{
    recorder *r = ctx;
    for (uint32_t left = ms; left > 0;) {
        unsigned t = wait_code(left, 30);
        put_byte(&r->ops, (uint8_t)(BLSIM_OP_IDLE | t));
        left -= t * t + 1 < left ? t * t + 1 : left;
    }
    blsim_idle(r->sim, (uint64_t)ms * 1000u);
}

static void rec_pins(recorder *r)
{
    put_byte(&r->ops, (uint8_t)(BLSIM_OP_PINS | (r->boot0 ? 1 : 0) | (r->nrst ? 2 : 0)));
}

static int rec_set_boot0(void *ctx, bool high)
{
    recorder *r = ctx;
    r->boot0 = high;
    rec_pins(r);
    blsim_set_boot0(r->sim, high);
    return 0;
}

static int rec_set_reset(void *ctx, bool asserted)
{
    recorder *r = ctx;
    r->nrst = !asserted;
    rec_pins(r);
    blsim_set_nrst(r->sim, !asserted);
    return 0;
}

static const stm32isp_port_ops rec_with_pins = {
    .read = rec_read,
    .write = rec_write,
    .now_ms = rec_now_ms,
    .delay_ms = rec_delay_ms,
    .set_boot0 = rec_set_boot0,
    .set_reset = rec_set_reset,
};

static const stm32isp_port_ops rec_no_pins = {
    .read = rec_read,
    .write = rec_write,
    .now_ms = rec_now_ms,
    .delay_ms = rec_delay_ms,
};

/* Runs the session on the model configured by `model` (blsim_input.h) and
 * saves it as a client seed and as a blsim seed. `expect_program` is what
 * stm32isp_program must return, so a seed that no longer reaches its
 * depth is noticed. */
static void session_seed(const char *name, const session_config *cfg, const uint8_t model[2],
                         stm32isp_err expect_program)
{
    recorder r = {.boot0 = (model[0] & BLSIM_IN_BOOT0) != 0, .nrst = true};
    blsim_config bcfg;
    blsim_input_config(model, &bcfg);
    r.sim = blsim_new(&bcfg);
    if (r.sim == NULL) {
        fprintf(stderr, "fuzz_seeds: blsim_new failed for %s\n", name);
        exit(1);
    }
    put(&r.ops, model, 2);
    session_result result;
    session_run(cfg, (cfg->flags & SESSION_PINS) != 0 ? &rec_with_pins : &rec_no_pins, &r, &result,
                NULL);
    flush_chunk(&r);
    /* Whatever the target does after the last command (start the
     * application, print its banner) happens in the model only when time
     * moves on. */
    put_byte(&r.ops, BLSIM_OP_DRAIN);
    if (result.connect != STM32ISP_OK || result.program != expect_program) {
        fprintf(stderr, "fuzz_seeds: session %s: connect %s, program %s (expected %s)\n", name,
                stm32isp_err_name(result.connect), stm32isp_err_name(result.program),
                stm32isp_err_name(expect_program));
        failures++;
    }
    uint8_t head[4 + SESSION_MAX_COMMANDS];
    size_t hl = session_config_encode(cfg, head, sizeof head);
    bytes client = {0};
    put(&client, head, hl);
    put(&client, r.replies.p, r.replies.len);
    save_free("client", name, &client);
    save("blsim", name, &r.ops);
    free(r.ops.p);
    free(r.replies.p);
    free(r.current.p);
    blsim_free(r.sim);
}

static void session_seeds(void)
{
    /* Devices by index in the model's table: 0 f103md (Erase 0x43),
     * 1 f103hd, 2 f072 (Extended Erase 0x44). */
    session_config cfg = {
        .flags = SESSION_PINS | SESSION_VERIFY | SESSION_START,
        .shape = 2,
    };
    const uint8_t f103md[2] = {BLSIM_IN_BOOT0 | BLSIM_IN_BANNER, 0}; /* device 0 */
    session_seed("f103md-pins-program", &cfg, f103md, STM32ISP_OK);

    cfg = (session_config){
        .flags = SESSION_VERIFY | (STM32ISP_ERASE_UNITS << SESSION_ERASE_SHIFT),
        .shape = 1,
        .command_count = 6,
        .commands = {SESSION_CMD_GET_VERSION, SESSION_CMD_GET_CHECKSUM, SESSION_CMD_READ_MEMORY,
                     SESSION_CMD_READ, SESSION_CMD_WRITE, SESSION_CMD_GO},
    };
    const uint8_t f072[2] = {2 | BLSIM_IN_BOOT0 | BLSIM_IN_CHECKSUM, 0};
    session_seed("f072-no-pins-checksum", &cfg, f072, STM32ISP_OK);

    cfg = (session_config){
        .flags = SESSION_PINS | SESSION_VERIFY | SESSION_VERIFY_READ |
                 (STM32ISP_ERASE_MASS << SESSION_ERASE_SHIFT),
        .shape = 3,
        .command_count = 7,
        .commands = {SESSION_CMD_WRITE_PROTECT, SESSION_CMD_WRITE_UNPROTECT,
                     SESSION_CMD_READOUT_PROTECT, SESSION_CMD_READOUT_UNPROTECT,
                     SESSION_CMD_ERASE_UNITS, SESSION_CMD_MASS_ERASE, SESSION_CMD_VERIFY_IMAGE},
    };
    const uint8_t f103hd[2] = {1 | BLSIM_IN_BOOT0, BLSIM_IN_FLASH_MAX};
    session_seed("f103hd-pins-protect", &cfg, f103hd, STM32ISP_OK);

    cfg = (session_config){
        .flags = SESSION_ONE_RETRY | SESSION_VERIFY,
        .shape = 4,
        .command_count = 3,
        .commands = {SESSION_CMD_GET_ID, SESSION_CMD_READOUT_UNPROTECT, SESSION_CMD_GET},
    };
    const uint8_t rdp[2] = {BLSIM_IN_BOOT0 | BLSIM_IN_RDP, 0}; /* device 0 */
    session_seed("f103md-no-pins-rdp", &cfg, rdp, STM32ISP_ERR_READ_PROTECTED);
}

/* ------------------------------------------------------------------------- */
/* EEPROM                                                                     */

/* Part index, faults, fault position; then driver writes across page (and
 * block) boundaries, reads back, a raw poll, WP up and down, a probe. */
static void eeprom_seed(const char *name, uint8_t part_index, uint32_t size)
{
    bytes b = {0};
    put_byte(&b, part_index);
    put_byte(&b, 0);
    put_byte(&b, 0);
    const uint32_t offsets[3] = {5, size / 2 - 3, size - 60};
    for (unsigned i = 0; i < 3; i++) {
        put_byte(&b, 5); /* op 0x05: a driver write of 56 bytes */
        put_byte(&b, (uint8_t)(offsets[i] >> 16));
        put_byte(&b, (uint8_t)(offsets[i] >> 8));
        put_byte(&b, (uint8_t)offsets[i]);
        put_byte(&b, (uint8_t)(0x30 + i));
        put_byte(&b, 0x40 | 5); /* read them back */
        put_byte(&b, (uint8_t)(offsets[i] >> 16));
        put_byte(&b, (uint8_t)(offsets[i] >> 8));
        put_byte(&b, (uint8_t)offsets[i]);
    }
    put_byte(&b, 0x80); /* raw poll of 0x50 */
    put_byte(&b, 0x50);
    put_byte(&b, 0xD1); /* WP high: a write is refused */
    put_byte(&b, 0x01);
    put_byte(&b, 0);
    put_byte(&b, 0);
    put_byte(&b, 0);
    put_byte(&b, 0x11);
    put_byte(&b, 0xD0);
    put_byte(&b, 0xF0); /* probe */
    put_byte(&b, 0xE3); /* power cycle, idle */
    put_byte(&b, 0xC3); /* current-address read */
    put_byte(&b, 0x50);
    static const char part_name[] = "AT24C256";
    put_byte(&b, 0xEF); /* a part name */
    put_byte(&b, (uint8_t)strlen(part_name));
    put_text(&b, part_name);
    save_free("eeprom", name, &b);
}

static void eeprom_seeds(void)
{
    /* Indexes in the driver's table: 1 24c02, 4 24c16 (block bits), 11
     * 24m02 (two address bytes and block bits). */
    eeprom_seed("24c02", 1, 256);
    eeprom_seed("24c16", 4, 2048);
    eeprom_seed("24m02", 11, 262144);
}

/* ------------------------------------------------------------------------- */
/* The console's load protocol                                                */

static void put_frame(bytes *b, uint8_t type, uint8_t seq, const uint8_t *payload, size_t len)
{
    uint8_t f[FRAME_MAX];
    size_t n = frame_encode(f, sizeof f, type, seq, payload, len);
    if (n == 0) {
        fprintf(stderr, "fuzz_seeds: frame_encode refused a frame\n");
        exit(1);
    }
    put(b, f, n);
}

/* A load session as `stm32isp load` sends it: BEGIN with the length, DATA
 * frames of up to FRAME_DATA_MAX bytes with their offsets, END. */
static void console_session(bytes *b, uint32_t length)
{
    uint8_t payload[FRAME_PAYLOAD_MAX];
    uint8_t seq = 0;
    frame_put_u32(payload, length);
    put_frame(b, FRAME_BEGIN, seq++, payload, 4);
    for (uint32_t at = 0; at < length; at += FRAME_DATA_MAX) {
        uint32_t n = length - at; /* at least 1: at < length */
        if (n > FRAME_DATA_MAX) {
            n = FRAME_DATA_MAX;
        }
        frame_put_u32(payload, at);
        for (uint32_t i = 0; i < n; i++) {
            payload[4 + i] = (uint8_t)(at + i);
        }
        put_frame(b, FRAME_DATA, seq++, payload, 4 + n);
    }
    put_frame(b, FRAME_END, seq, NULL, 0);
}

static void console_seeds(void)
{
    bytes b = {0};
    put_byte(&b, 0); /* chunking seed */
    console_session(&b, 300);
    save_free("console", "load-session", &b);

    /* Text typed before load mode, a damaged frame, a false start right
     * before a good frame, a header announcing too much, then ABORT. */
    put_byte(&b, 7);
    put_text(&b, "help\r\n");
    uint8_t data[4 + 8] = {0};
    put_frame(&b, FRAME_DATA, 1, data, sizeof data);
    b.p[b.len - 6] ^= 0x01; /* a bit flipped in the payload */
    put_byte(&b, FRAME_SOF);
    put_frame(&b, FRAME_DATA, 1, data, sizeof data);
    static const uint8_t too_long[5] = {FRAME_SOF, FRAME_DATA, 2, 0xFF, 0x7F};
    put(&b, too_long, sizeof too_long);
    put_frame(&b, FRAME_ABORT, 3, NULL, 0);
    save_free("console", "noise-and-damage", &b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds DIR  (writes DIR/<target>/<seed>)\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz_seeds: cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    container_seeds();
    imagefile_seeds();
    session_seeds();
    eeprom_seeds();
    console_seeds();
    if (failures != 0) {
        fprintf(stderr, "fuzz_seeds: %d seed(s) do not do what they should\n", failures);
        return 1;
    }
    return 0;
}

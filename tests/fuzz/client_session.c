#include "client_session.h"

#include "stm32isp/program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "client session: %s:%d: check failed: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define DEFAULT_BASE  0x08000000u
#define MAX_SEGMENTS  3
#define READ_MEM_SIZE 600u

size_t session_config_decode(const uint8_t *data, size_t size, session_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    size_t at = 0;
    cfg->flags = at < size ? data[at++] : 0;
    cfg->shape = at < size ? data[at++] : 0;
    cfg->port_fail = at < size ? data[at++] : 0;
    uint8_t count = at < size ? (uint8_t)(data[at++] % (SESSION_MAX_COMMANDS + 1)) : 0;
    while (cfg->command_count < count && at < size) {
        cfg->commands[cfg->command_count++] = data[at++];
    }
    return at;
}

size_t session_config_encode(const session_config *cfg, uint8_t *out, size_t size)
{
    size_t need = 4u + cfg->command_count;
    if (size < need || cfg->command_count > SESSION_MAX_COMMANDS) {
        return 0;
    }
    out[0] = cfg->flags;
    out[1] = cfg->shape;
    out[2] = cfg->port_fail;
    out[3] = cfg->command_count;
    memcpy(out + 4, cfg->commands, cfg->command_count);
    return need;
}

/* ------------------------------------------------------------------------- */
/* The image                                                                  */

typedef struct session_image {
    stm32isp_segment segments[MAX_SEGMENTS];
    size_t count;
    uint8_t payload[600];
    uint32_t size;
} session_image;

static int image_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    const session_image *img = ctx;
    /* The library walks the segments it was given: a read outside the
     * payload is its bug. */
    CHECK(offset <= img->size && len <= img->size - offset);
    memcpy(buf, img->payload + offset, len);
    return 0;
}

static void add_segment(session_image *img, uint32_t address, uint32_t length)
{
    CHECK(img->count < MAX_SEGMENTS && img->size + length <= sizeof img->payload);
    img->segments[img->count++] = (stm32isp_segment){address, length};
    img->size += length;
}

/* The start of a vector table that the model's part runs (stack in RAM,
 * reset handler in flash, Thumb), so that starting the application works. */
static void put_vectors(uint8_t *p, uint32_t base)
{
    const uint32_t words[2] = {0x20001000u, base + 0x101u};
    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(words[i / 4] >> (8 * (i % 4)));
    }
}

/* Small shapes that reach the interesting corners of the write walk: one
 * byte, a run over a window boundary, a gap, the end of flash, segments
 * sharing a window. Addresses follow the part the target claims to be. */
static void make_image(session_image *img, unsigned shape, uint32_t base, uint32_t flash_size)
{
    memset(img, 0, sizeof *img);
    switch (shape % SESSION_SHAPES) {
    case 0:
        add_segment(img, base, 1);
        break;
    case 1:
        add_segment(img, base + 0x10, 300);
        break;
    case 2:
        add_segment(img, base, 16);
        add_segment(img, base + 0x400, 260);
        break;
    case 3:
        add_segment(img, base + (flash_size >= 8 ? flash_size - 8 : 0), 8);
        break;
    default:
        add_segment(img, base + 0x100, 3);
        add_segment(img, base + 0x105, 2);
        add_segment(img, base + 0x1F0, 0x20);
        break;
    }
    for (uint32_t i = 0; i < img->size; i++) {
        img->payload[i] = (uint8_t)(i * 13u + 7u + shape);
    }
    if (shape % SESSION_SHAPES == 4) {
        /* A window with nothing but 0xFF: after an erase it is skipped. */
        memset(img->payload + img->size - 16, 0xFF, 16);
    }
    if (img->segments[0].address == base && img->segments[0].length >= 8) {
        put_vectors(img->payload, base);
    }
}

static stm32isp_image as_image(session_image *img)
{
    return (stm32isp_image){
        .segments = img->segments, .segment_count = img->count, .read = image_read, .ctx = img};
}

/* ------------------------------------------------------------------------- */
/* Checks                                                                     */

static void check_err(stm32isp_err err)
{
    CHECK((int)err >= 0 && err < STM32ISP_ERR__COUNT);
    CHECK(stm32isp_strerror(err) != NULL && stm32isp_hint(err) != NULL);
}

static void on_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    (void)ctx;
    CHECK(phase <= STM32ISP_PHASE_PROTECT);
    CHECK(done <= total);
}

static void check_target(const stm32isp_client *c)
{
    const stm32isp_target_info *t = &c->target;
    CHECK(t->command_count <= STM32ISP_MAX_COMMANDS);
    CHECK(t->erase_opcode == 0 || t->erase_opcode == 0x43 || t->erase_opcode == 0x44);
    if (c->connected) {
        CHECK(t->device != NULL && t->flash_size > 0);
    }
}

typedef struct read_sink {
    uint32_t total;
} read_sink;

static int sink(void *ctx, const uint8_t *data, uint32_t len)
{
    read_sink *s = ctx;
    (void)data;
    CHECK(len >= 1 && len <= 256);
    s->total += len;
    CHECK(s->total <= READ_MEM_SIZE);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* The session                                                                */

static stm32isp_err run_command(stm32isp_client *c, uint8_t command, session_image *img,
                                uint32_t base)
{
    switch (command % SESSION_CMD_COUNT) {
    case SESSION_CMD_GET_VERSION: {
        uint8_t version, options[2];
        return stm32isp_cmd_get_version(c, &version, options);
    }
    case SESSION_CMD_GET_ID: {
        uint16_t pid;
        return stm32isp_cmd_get_id(c, &pid);
    }
    case SESSION_CMD_GET:
        return stm32isp_cmd_get(c);
    case SESSION_CMD_READ: {
        uint8_t buf[5]; /* exactly the length asked for: ASan sees one more byte */
        return stm32isp_cmd_read(c, base, buf, sizeof buf);
    }
    case SESSION_CMD_WRITE: {
        uint8_t data[16] = {0};
        put_vectors(data, base);
        return stm32isp_cmd_write(c, base, data, sizeof data);
    }
    case SESSION_CMD_GO:
        return stm32isp_cmd_go(c, base);
    case SESSION_CMD_ERASE_UNITS: {
        static const uint16_t units[3] = {0, 1, 2};
        return stm32isp_cmd_erase_units(c, units, 3);
    }
    case SESSION_CMD_MASS_ERASE:
        return stm32isp_cmd_mass_erase(c);
    case SESSION_CMD_GET_CHECKSUM: {
        uint32_t crc;
        return stm32isp_cmd_get_checksum(c, base, 1024, &crc);
    }
    case SESSION_CMD_WRITE_PROTECT: {
        static const uint8_t sectors[2] = {0, 1};
        return stm32isp_cmd_write_protect(c, sectors, sizeof sectors);
    }
    case SESSION_CMD_WRITE_UNPROTECT:
        return stm32isp_cmd_write_unprotect(c);
    case SESSION_CMD_READOUT_PROTECT:
        return stm32isp_cmd_readout_protect(c);
    case SESSION_CMD_READOUT_UNPROTECT:
        return stm32isp_cmd_readout_unprotect(c);
    case SESSION_CMD_READ_MEMORY: {
        read_sink s = {0};
        stm32isp_err err = stm32isp_read_memory(c, base, READ_MEM_SIZE, sink, &s);
        CHECK(err != STM32ISP_OK || s.total == READ_MEM_SIZE);
        return err;
    }
    case SESSION_CMD_VERIFY_IMAGE: {
        stm32isp_image image = as_image(img);
        uint32_t first_bad;
        return stm32isp_verify_image(c, &image, &first_bad);
    }
    default:
        return stm32isp_recover(c);
    }
}

void session_run(const session_config *cfg, const stm32isp_port_ops *ops, void *port,
                 session_result *result, session_watch *watch)
{
    session_watch unwatched;
    if (watch == NULL) {
        watch = &unwatched;
    }
    memset(watch, 0, sizeof *watch);
    stm32isp_config ccfg = {0};
    if ((cfg->flags & SESSION_ONE_RETRY) != 0) {
        ccfg.command_retries = 1;
    }
    if ((cfg->flags & SESSION_OVERRIDE) != 0) {
        ccfg.device_override = stm32isp_device_by_pid(0x410);
        CHECK(ccfg.device_override != NULL);
    }
    stm32isp_client *c = malloc(sizeof *c); /* on the heap: ASan guards its edges */
    CHECK(c != NULL);
    stm32isp_client_init(c, ops, port, &ccfg);
    stm32isp_set_progress(c, on_progress, NULL);
    memset(result, 0, sizeof *result);

    /* Until the image exists, any write is outside it. */
    watch->programming = true;
    result->connect = stm32isp_connect(c);
    check_err(result->connect);
    check_target(c);
    CHECK(result->connect != STM32ISP_OK || c->connected);

    session_image *img = malloc(sizeof *img);
    CHECK(img != NULL);
    uint32_t base =
        c->target.device != NULL ? stm32isp_device_flash_base(c->target.device) : DEFAULT_BASE;
    make_image(img, cfg->shape, base, c->target.flash_size);
    result->program = STM32ISP_ERR_NOT_CONNECTED;
    if (result->connect == STM32ISP_OK) {
        stm32isp_image image = as_image(img);
        stm32isp_program_options options = {
            .erase = (stm32isp_erase_mode)((cfg->flags >> SESSION_ERASE_SHIFT) & 3),
            .verify = (cfg->flags & SESSION_VERIFY) != 0,
            .verify_by_reading = (cfg->flags & SESSION_VERIFY_READ) != 0,
            .start = (cfg->flags & SESSION_START) != 0,
        };
        watch->segments = img->segments;
        watch->segment_count = img->count;
        watch->erase = options.erase;
        watch->go_allowed = options.start && !stm32isp_has_reset_lines(c);
        stm32isp_program_report report;
        result->program = stm32isp_program(c, &image, &options, &report);
        check_err(result->program);
        check_target(c);
        CHECK(report.bytes_image == img->size || result->program != STM32ISP_OK);
        CHECK(report.blocks_written <= 64 && report.bytes_written <= 64u * 256u);
    }
    watch->programming = false;
    for (unsigned i = 0; i < cfg->command_count && i < SESSION_MAX_COMMANDS; i++) {
        result->commands[i] = run_command(c, cfg->commands[i], img, base);
        check_err(result->commands[i]);
        check_target(c);
    }
    free(img);
    free(c);
}

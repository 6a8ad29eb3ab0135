#include "loader.h"

#include "stm32isp/job.h"

#include <string.h>

#define MAGIC_SIZE 4u

static const uint8_t blank_magic[MAGIC_SIZE] = {0xFF, 0xFF, 0xFF, 0xFF};

void loader_init(loader *l, stm32isp_eeprom *ee, stm32isp_container *ct, uint8_t *scratch,
                 size_t scratch_size)
{
    memset(l, 0, sizeof *l);
    l->ee = ee;
    l->ct = ct;
    l->scratch = scratch;
    l->scratch_size = scratch_size;
}

static size_t reply(loader *l, uint8_t seq, uint8_t result, load_reason reason, stm32isp_err err,
                    const uint8_t *extra, size_t extra_len)
{
    uint8_t *p = l->reply + FRAME_HEADER;
    p[0] = result;
    p[1] = (uint8_t)reason;
    p[2] = (uint8_t)err;
    if (extra_len > 0) {
        memcpy(p + 3, extra, extra_len);
    }
    l->reply_len = frame_encode(l->reply, sizeof l->reply, FRAME_REPLY, seq, p, 3u + extra_len);
    return l->reply_len;
}

static size_t finish(loader *l, uint8_t seq, load_reason reason, stm32isp_err err,
                     const uint8_t *extra, size_t extra_len)
{
    l->over = true;
    l->reason = reason;
    l->err = err;
    return reply(l, seq, reason == LOAD_R_NONE || reason == LOAD_R_ABORTED ? LOAD_OK : LOAD_REFUSED,
                 reason, err, extra, extra_len);
}

/* The EEPROM as the checks see it: with the held first bytes laid over the
 * blank magic while `overlay` is set. */
static stm32isp_err read_stored(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    const loader *l = ctx;
    stm32isp_err err = stm32isp_eeprom_read(l->ee, offset, buf, len);
    if (err == STM32ISP_OK && l->overlay) {
        for (uint32_t i = offset; i < MAGIC_SIZE && i - offset < len; i++) {
            buf[i - offset] = l->head[i];
        }
    }
    return err;
}

/* The job's own check of the whole container (header, segment table,
 * payload CRC), which must also span exactly the bytes that were sent. */
static stm32isp_err check_stored(loader *l, bool overlay)
{
    stm32isp_container_source src = {.read = read_stored, .ctx = l, .size = l->ee->part->size};
    l->overlay = overlay;
    stm32isp_err err = stm32isp_job_check_image(l->ct, &src, l->scratch, l->scratch_size);
    l->overlay = false;
    l->ct->source = NULL; /* `src` is gone after this */
    if (err == STM32ISP_OK && (uint32_t)l->ct->header_length + l->ct->payload_length != l->total) {
        err = STM32ISP_ERR_CONTAINER_HEADER;
    }
    return err;
}

/* A part's geometry as BEGIN and its answer carry it: size, page size,
 * word address bytes, block-select bits (LOADER_GEOMETRY bytes). */
static void put_geometry(uint8_t *out, const stm32isp_eeprom_part *p)
{
    frame_put_u32(out, p->size);
    out[4] = (uint8_t)p->page_size;
    out[5] = (uint8_t)(p->page_size >> 8);
    out[6] = p->address_bytes;
    out[7] = p->block_bits;
}

static size_t begin(loader *l, const frame *f)
{
    /* Every answer to BEGIN describes this master's part, so the PC can
     * say what fits. */
    uint8_t mine[LOADER_GEOMETRY];
    put_geometry(mine, l->ee->part);
    if (f->length != 4 && f->length != 4 + LOADER_GEOMETRY) {
        return finish(l, f->seq, LOAD_R_STATE, STM32ISP_OK, mine, sizeof mine);
    }
    /* The PC may name the part it expects (stm32isp load --eeprom-type):
     * the same geometry is the same part, whatever it is called. */
    if (f->length > 4 && memcmp(f->payload + 4, mine, sizeof mine) != 0) {
        return finish(l, f->seq, LOAD_R_PART, STM32ISP_OK, mine, sizeof mine);
    }
    uint32_t total = frame_get_u32(f->payload);
    if (total < LOADER_MIN_LENGTH || total > l->ee->part->size) {
        return finish(l, f->seq, LOAD_R_SIZE, STM32ISP_OK, mine, sizeof mine);
    }
    /* From here until END has checked the new image, the EEPROM holds no
     * container: a reader stops at the magic with `no-container`. */
    stm32isp_err err = stm32isp_eeprom_write(l->ee, 0, blank_magic, MAGIC_SIZE);
    if (err != STM32ISP_OK) {
        return finish(l, f->seq, LOAD_R_EEPROM, err, mine, sizeof mine);
    }
    l->begun = true;
    l->total = total;
    l->received = 0;
    l->expected = (uint8_t)(f->seq + 1u);
    memset(l->head, 0xFF, sizeof l->head);
    return reply(l, f->seq, LOAD_OK, LOAD_R_NONE, STM32ISP_OK, mine, sizeof mine);
}

static size_t data(loader *l, const frame *f)
{
    if (f->length < 5) {
        return finish(l, f->seq, LOAD_R_STATE, STM32ISP_OK, NULL, 0);
    }
    uint32_t offset = frame_get_u32(f->payload);
    uint32_t n = f->length - 4u;
    const uint8_t *bytes = f->payload + 4;
    if (offset != l->received || n > l->total - l->received) {
        return finish(l, f->seq, LOAD_R_SEQUENCE, STM32ISP_OK, NULL, 0);
    }
    l->received += n;
    /* The magic waits in RAM until the rest is in and checked. */
    while (n > 0 && offset < MAGIC_SIZE) {
        l->head[offset++] = *bytes++;
        n--;
    }
    if (n > 0) {
        stm32isp_err err = stm32isp_eeprom_write(l->ee, offset, bytes, n);
        if (err != STM32ISP_OK) {
            return finish(l, f->seq, LOAD_R_EEPROM, err, NULL, 0);
        }
    }
    return reply(l, f->seq, LOAD_OK, LOAD_R_NONE, STM32ISP_OK, NULL, 0);
}

static size_t end(loader *l, const frame *f)
{
    if (l->received != l->total) {
        return finish(l, f->seq, LOAD_R_STATE, STM32ISP_OK, NULL, 0);
    }
    stm32isp_err err = check_stored(l, true);
    if (err != STM32ISP_OK) {
        return finish(l, f->seq, LOAD_R_CHECK, err, NULL, 0);
    }
    err = stm32isp_eeprom_write(l->ee, 0, l->head, MAGIC_SIZE);
    load_reason why = LOAD_R_EEPROM;
    if (err == STM32ISP_OK) {
        why = LOAD_R_CHECK;
        err = check_stored(l, false);
    }
    if (err != STM32ISP_OK) {
        /* Best effort: a magic that may have made it is blanked again. */
        (void)stm32isp_eeprom_write(l->ee, 0, blank_magic, MAGIC_SIZE);
        return finish(l, f->seq, why, err, NULL, 0);
    }
    l->begun = false;
    uint8_t info[8];
    frame_put_u32(info, l->ct->payload_crc);
    frame_put_u32(info + 4, l->total);
    return finish(l, f->seq, LOAD_R_NONE, STM32ISP_OK, info, sizeof info);
}

size_t loader_handle(loader *l, frame_status status, const frame *f)
{
    l->reply_len = 0;
    if (l->over) {
        return 0;
    }
    if (status == FRAME_DAMAGED || status == FRAME_BAD_LENGTH) {
        /* Numbered as the frame the PC must send (again). */
        return reply(l, l->expected, LOAD_RESEND, LOAD_R_DAMAGED, STM32ISP_OK, NULL, 0);
    }
    if (status != FRAME_READY || f == NULL) {
        return 0;
    }
    switch (f->type) {
    case FRAME_BEGIN:
        return begin(l, f); /* always a fresh start: a repeated BEGIN is harmless */
    case FRAME_ABORT:
        return finish(l, f->seq, LOAD_R_ABORTED, STM32ISP_OK, NULL, 0);
    default:
        break;
    }
    if (!l->begun) {
        return finish(l, f->seq, LOAD_R_STATE, STM32ISP_OK, NULL, 0);
    }
    if (f->seq == (uint8_t)(l->expected - 1u)) {
        /* Our answer was lost and the PC sent the frame again: it was
         * taken (a refused one would have ended the transfer). */
        return reply(l, f->seq, LOAD_OK, LOAD_R_NONE, STM32ISP_OK, NULL, 0);
    }
    if (f->seq != l->expected) {
        return finish(l, f->seq, LOAD_R_SEQUENCE, STM32ISP_OK, NULL, 0);
    }
    l->expected++;
    if (f->type == FRAME_DATA) {
        return data(l, f);
    }
    if (f->type == FRAME_END) {
        return end(l, f);
    }
    return finish(l, f->seq, LOAD_R_STATE, STM32ISP_OK, NULL, 0);
}

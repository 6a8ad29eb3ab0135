/*
 * Erase, write, verify and start, streaming the image block by block.
 *
 * The image is walked in 256-byte windows aligned to 256: each window that
 * holds image bytes becomes one Write Memory, with bytes of the window that
 * no segment covers set to 0xFF (what erased flash reads anyway), trimmed to
 * the covered span rounded out to the part's write alignment. So segments
 * that share a window, or an alignment unit, are written together and never
 * overwrite each other's padding.
 */
#include "stm32isp/program.h"

#include "stm32isp/an3155.h"

#include <string.h>

#define WINDOW          AN3155_MAX_TRANSFER
#define DEFAULT_REPAIRS 2u
#define ERASE_BATCH     32u /* units handed to stm32isp_cmd_erase_units at once */
#define NO_ADDRESS      0xFFFFFFFFu
#define CHECKSUM_SPAN   (16u * 1024u) /* bytes per Get Checksum: bounds the re-read on a mismatch */

/* ------------------------------------------------------------------------- */
/* Walking the image                                                          */

typedef struct window_cursor {
    const stm32isp_image *image;
    size_t segment;        /* first segment not yet fully consumed */
    uint32_t payload_at;   /* payload offset of that segment's first byte */
    uint32_t next_address; /* windows below this are done */
} window_cursor;

/* Positions the cursor at the first window at or above `address`. */
static void cursor_seek(window_cursor *cur, const stm32isp_image *image, uint32_t address)
{
    cur->image = image;
    cur->segment = 0;
    cur->payload_at = 0;
    cur->next_address = address & ~(uint32_t)(WINDOW - 1);
    while (cur->segment < image->segment_count) {
        const stm32isp_segment *s = &image->segments[cur->segment];
        if (s->address + s->length > cur->next_address) {
            break;
        }
        cur->payload_at += s->length;
        cur->segment++;
    }
}

/*
 * Loads the next window holding image data into `buf` (256 bytes) and gives
 * the span to program: [*address, *address + *len). Returns false at the end,
 * or with *err set when the image source fails.
 */
static bool next_window(window_cursor *cur, uint32_t align, uint8_t *buf, uint32_t *address,
                        uint32_t *len, stm32isp_err *err)
{
    const stm32isp_image *image = cur->image;
    *err = STM32ISP_OK;
    if (cur->segment >= image->segment_count) {
        return false;
    }
    const stm32isp_segment *first = &image->segments[cur->segment];
    uint32_t from = first->address > cur->next_address ? first->address : cur->next_address;
    uint32_t window = from & ~(uint32_t)(WINDOW - 1);
    uint32_t window_end = window + WINDOW;
    uint32_t lo = WINDOW, hi = 0;
    memset(buf, 0xFF, WINDOW);

    size_t s = cur->segment;
    uint32_t payload = cur->payload_at;
    while (s < image->segment_count && image->segments[s].address < window_end) {
        const stm32isp_segment *seg = &image->segments[s];
        uint32_t seg_end = seg->address + seg->length;
        uint32_t a = seg->address > window ? seg->address : window;
        uint32_t b = seg_end < window_end ? seg_end : window_end;
        if (a < b) {
            if (image->read(image->ctx, payload + (a - seg->address), buf + (a - window), b - a) !=
                0) {
                *err = STM32ISP_ERR_IMAGE_SOURCE;
                return false;
            }
            lo = a - window < lo ? a - window : lo;
            hi = b - window > hi ? b - window : hi;
        }
        if (seg_end > window_end) {
            break; /* the segment goes on into the next window */
        }
        payload += seg->length;
        s++;
    }
    cur->segment = s;
    cur->payload_at = payload;
    cur->next_address = window_end;

    lo &= ~(align - 1);
    hi = (hi + align - 1) & ~(align - 1);
    *address = window + lo;
    *len = hi - lo;
    /* Shift the span to the buffer's start so callers see just the bytes. */
    memmove(buf, buf + lo, *len);
    return true;
}

static uint32_t write_align(const stm32isp_client *c)
{
    uint32_t a = stm32isp_device_write_align(c->target.device);
    return a >= 2 ? a : 4;
}

static bool all_erased(const uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        if (p[i] != 0xFF) {
            return false;
        }
    }
    return true;
}

static void report_progress(stm32isp_client *c, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    if (c->progress != NULL) {
        c->progress(c->progress_ctx, phase, done, total);
    }
}

static uint32_t payload_size(const stm32isp_image *image)
{
    uint32_t total = 0;
    for (size_t i = 0; i < image->segment_count; i++) {
        total += image->segments[i].length;
    }
    return total;
}

/* ------------------------------------------------------------------------- */
/* Checks                                                                     */

stm32isp_err stm32isp_check_image(const stm32isp_client *c, const stm32isp_image *image)
{
    if (!c->connected || c->target.device == NULL) {
        return STM32ISP_ERR_NOT_CONNECTED;
    }
    if (image == NULL || image->segment_count == 0 || image->read == NULL) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    uint32_t base = stm32isp_device_flash_base(c->target.device);
    uint32_t size = c->target.flash_size;
    uint32_t previous_end = 0;
    for (size_t i = 0; i < image->segment_count; i++) {
        const stm32isp_segment *s = &image->segments[i];
        if (s->length == 0 || s->address < previous_end) {
            return STM32ISP_ERR_INVALID_ARG; /* empty, unsorted or overlapping */
        }
        if (s->address < base || s->address - base >= size) {
            return STM32ISP_ERR_ADDRESS;
        }
        if (s->length > size - (s->address - base)) {
            return STM32ISP_ERR_IMAGE_TOO_LARGE;
        }
        previous_end = s->address + s->length;
    }
    return STM32ISP_OK;
}

/* ------------------------------------------------------------------------- */
/* Erasing                                                                    */

/*
 * Calls `visit` for every erase unit that [lo, hi) touches, in order, each
 * once. Returns the first error `visit` returns.
 */
typedef struct unit_batch {
    stm32isp_client *c;
    uint16_t units[ERASE_BATCH];
    size_t count;
    uint32_t total; /* units seen */
    bool dry_run;   /* only count */
    uint32_t last;  /* last unit seen, to skip repeats */
} unit_batch;

static stm32isp_err batch_flush(unit_batch *b)
{
    stm32isp_err err = STM32ISP_OK;
    if (!b->dry_run && b->count > 0) {
        err = stm32isp_cmd_erase_units(b->c, b->units, b->count);
    }
    b->count = 0;
    return err;
}

static stm32isp_err batch_add_range(unit_batch *b, uint32_t lo, uint32_t hi)
{
    const stm32isp_client *c = b->c;
    uint32_t address = lo;
    while (address < hi) {
        uint32_t index, start, size;
        if (!stm32isp_device_unit_at(c->target.device, c->target.flash_size, address, &index,
                                     &start, &size)) {
            return STM32ISP_ERR_ADDRESS;
        }
        if (index != b->last) {
            b->last = index;
            b->total++;
            b->units[b->count++] = (uint16_t)index;
            if (b->count == ERASE_BATCH) {
                stm32isp_err err = batch_flush(b);
                if (err != STM32ISP_OK) {
                    return err;
                }
            }
        }
        address = start + size;
    }
    return STM32ISP_OK;
}

static stm32isp_err erase_image_units(stm32isp_client *c, const stm32isp_image *image, bool dry_run,
                                      uint32_t *count)
{
    unit_batch b = {.c = c, .dry_run = dry_run, .last = NO_ADDRESS};
    for (size_t i = 0; i < image->segment_count; i++) {
        const stm32isp_segment *s = &image->segments[i];
        stm32isp_err err = batch_add_range(&b, s->address, s->address + s->length);
        if (err != STM32ISP_OK) {
            return err;
        }
    }
    *count = b.total;
    return batch_flush(&b);
}

stm32isp_err stm32isp_erase_for_image(stm32isp_client *c, const stm32isp_image *image,
                                      stm32isp_erase_mode mode, stm32isp_program_report *report)
{
    uint32_t units = 0;
    stm32isp_err err = erase_image_units(c, image, true, &units);
    if (err != STM32ISP_OK || mode == STM32ISP_ERASE_NONE) {
        return err;
    }
    if (mode == STM32ISP_ERASE_AUTO) {
        /* A mass erase is quicker than erasing units one by one, but users
         * keep calibration data and emulated EEPROM in pages their image
         * does not cover: only when it covers them all. */
        mode = units == stm32isp_device_unit_count(c->target.device, c->target.flash_size)
                   ? STM32ISP_ERASE_MASS
                   : STM32ISP_ERASE_UNITS;
    }
    report_progress(c, STM32ISP_PHASE_ERASE, 0, mode == STM32ISP_ERASE_MASS ? 1 : units);
    if (mode == STM32ISP_ERASE_MASS) {
        err = stm32isp_cmd_mass_erase(c);
        report->mass_erased = err == STM32ISP_OK;
        return err;
    }
    err = erase_image_units(c, image, false, &units);
    if (err == STM32ISP_OK) {
        report->units_erased += units;
    }
    return err;
}

/* ------------------------------------------------------------------------- */
/* Reading and writing blocks with retries                                    */

static bool link_error(stm32isp_err err)
{
    return err == STM32ISP_ERR_TIMEOUT || err == STM32ISP_ERR_BAD_REPLY;
}

/* Failures a block may see before it is given up: frames shrink on a
 * noisy line, so there are more of them to fail. */
static unsigned block_attempts(const stm32isp_client *c)
{
    return 2u * (c->cfg.command_retries + 1u);
}

/* Reads one block; link errors are retried after a recovery. A NACK is
 * retried too: a bit flip in the opcode or address shows as one, and the
 * target was found unprotected when it connected. */
static stm32isp_err read_block(stm32isp_client *c, uint32_t address, uint8_t *buf, uint32_t len)
{
    stm32isp_err err = STM32ISP_ERR_TIMEOUT;
    for (unsigned attempt = 0; attempt < block_attempts(c); attempt++) {
        if (attempt > 0) {
            c->stats.retries++;
            /* Even after a NACK: noise may have made one of an ACK, and the
             * target then still waits for the rest of the frame. */
            stm32isp_err r = stm32isp_recover(c);
            if (r != STM32ISP_OK) {
                return r;
            }
        }
        err = stm32isp_cmd_read(c, address, buf, len);
        if (err == STM32ISP_OK || (!link_error(err) && err != STM32ISP_ERR_ADDRESS &&
                                   err != STM32ISP_ERR_READ_PROTECTED)) {
            return err;
        }
    }
    return err;
}

/* What a block of flash holds, as far as reads through line noise tell. */
typedef enum block_state {
    BLOCK_EQUAL,   /* the expected bytes */
    BLOCK_ERASED,  /* all 0xFF (and something else was expected) */
    BLOCK_DIFFERS, /* anything else, partly written ones included */
} block_state;

/*
 * Reads [address, address + len) into c->compare, in frames of
 * stm32isp_frame_size(), and settles what it holds. Read Memory carries no
 * checksum, so line noise looks like a flash difference; but noise does
 * not turn a frame into exactly the expected bytes, nor into exactly all
 * 0xFF: either is believed at once, anything else only once two reads in
 * a row agree (the previous one waits in c->frame, free while reading). A
 * frame may fail block_attempts() times (link errors and reads that settle
 * nothing); then the link error, or TIMEOUT.
 */
static stm32isp_err read_settled(stm32isp_client *c, uint32_t address, const uint8_t *expect,
                                 uint32_t len, block_state *state)
{
    bool equal = true, erased = true, have_previous = false;
    unsigned failures = 0;
    for (uint32_t at = 0; at < len;) {
        uint32_t n = len - at < stm32isp_frame_size(c) ? len - at : stm32isp_frame_size(c);
        uint8_t *got = c->compare + at;
        bool same = false, blank = false, settled = false;
        stm32isp_err err = stm32isp_cmd_read(c, address + at, got, n);
        if (err == STM32ISP_OK) {
            same = memcmp(got, expect + at, n) == 0;
            blank = all_erased(got, n);
            settled = same || blank || (have_previous && memcmp(got, c->frame, n) == 0);
            memcpy(c->frame, got, n);
            have_previous = true;
        } else if (!link_error(err) && err != STM32ISP_ERR_ADDRESS &&
                   err != STM32ISP_ERR_READ_PROTECTED) {
            return err;
        }
        if (settled) {
            equal = equal && same;
            erased = erased && blank;
            at += n;
            have_previous = false;
            failures = 0;
            continue;
        }
        if (err == STM32ISP_OK) {
            stm32isp_note_frame(c, false); /* delivered, but damaged */
        }
        if (++failures >= block_attempts(c)) {
            return err != STM32ISP_OK ? err : STM32ISP_ERR_TIMEOUT;
        }
        c->stats.retries++;
        /* After a NACK too (noise may have made one of an ACK, and the
         * target then still waits for the rest of the frame), and after
         * damaged data (an inserted byte leaves the last one waiting). */
        if ((err = stm32isp_recover(c)) != STM32ISP_OK) {
            return err;
        }
    }
    *state = equal ? BLOCK_EQUAL : erased ? BLOCK_ERASED : BLOCK_DIFFERS;
    return STM32ISP_OK;
}

/*
 * Writes one block, in frames of stm32isp_frame_size(). When a frame fails
 * it is read back: if it holds the data, the write went through (only its
 * ACK was lost); if it is still erased, it is sent again; anything else
 * (the flash was not blank: a write that landed wrongly, a stray command)
 * needs an erase first, which is the caller's job (WRITE_FAILED), as is a
 * block that failed block_attempts() times.
 */
static stm32isp_err write_block(stm32isp_client *c, uint32_t address, const uint8_t *data,
                                uint32_t len)
{
    unsigned failures = 0;
    for (uint32_t at = 0; at < len;) {
        uint32_t n = len - at < stm32isp_frame_size(c) ? len - at : stm32isp_frame_size(c);
        stm32isp_err err = stm32isp_cmd_write(c, address + at, data + at, n);
        if (err == STM32ISP_ERR_PORT || err == STM32ISP_ERR_CANCELLED) {
            return err;
        }
        if (err != STM32ISP_OK) {
            if (++failures >= block_attempts(c)) {
                return STM32ISP_ERR_WRITE_FAILED;
            }
            c->stats.retries++;
            /* Whatever went wrong, the target may still be in the middle of
             * the frame (a NACK can be a damaged ACK): recover the framing. */
            stm32isp_err r = stm32isp_recover(c);
            block_state state = BLOCK_ERASED;
            if (r == STM32ISP_OK) {
                r = read_settled(c, address + at, data + at, n, &state);
            }
            if (r == STM32ISP_ERR_PORT || r == STM32ISP_ERR_NO_SYNC ||
                r == STM32ISP_ERR_CANCELLED) {
                return r;
            }
            if (r == STM32ISP_OK && state == BLOCK_DIFFERS) {
                return STM32ISP_ERR_WRITE_FAILED;
            }
            if (r != STM32ISP_OK || state == BLOCK_ERASED) {
                continue; /* not written, or not known: send it again */
            }
        }
        at += n;
    }
    return STM32ISP_OK;
}

/* ------------------------------------------------------------------------- */
/* Writing and verifying ranges, with repair                                  */

typedef struct job {
    stm32isp_client *c;
    const stm32isp_image *image;
    stm32isp_program_report *report;
    unsigned repairs_left;
    uint32_t total, done; /* progress, payload bytes */
    uint32_t first_bad;   /* first differing address a verify found */
} job;

/* Erases the units around [lo, hi), widened to whole windows and units,
 * and returns the widened range. */
static stm32isp_err erase_around(job *j, uint32_t *lo, uint32_t *hi)
{
    stm32isp_client *c = j->c;
    uint32_t index, start, size;
    uint32_t a = *lo & ~(uint32_t)(WINDOW - 1);
    uint32_t b = (*hi + WINDOW - 1) & ~(uint32_t)(WINDOW - 1);
    if (!stm32isp_device_unit_at(c->target.device, c->target.flash_size, a, &index, &start,
                                 &size)) {
        return STM32ISP_ERR_ADDRESS;
    }
    a = start;
    if (!stm32isp_device_unit_at(c->target.device, c->target.flash_size, b - 1, &index, &start,
                                 &size)) {
        return STM32ISP_ERR_ADDRESS;
    }
    b = start + size;
    unit_batch batch = {.c = c, .last = NO_ADDRESS};
    stm32isp_err err = batch_add_range(&batch, a, b);
    if (err == STM32ISP_OK) {
        err = batch_flush(&batch);
    }
    j->report->units_erased += batch.total;
    j->report->units_repaired += batch.total;
    *lo = a;
    *hi = b;
    return err;
}

static stm32isp_err write_range(job *j, uint32_t lo, uint32_t hi, bool erased);

/* Re-erases the units around a failed window and writes them again;
 * [*lo, *hi) gets the range repaired. */
static stm32isp_err repair(job *j, uint32_t address, uint32_t *lo, uint32_t *hi)
{
    if (j->repairs_left == 0) {
        return STM32ISP_ERR_WRITE_FAILED;
    }
    j->repairs_left--;
    *lo = address;
    *hi = address + 1;
    stm32isp_err err = erase_around(j, lo, hi);
    return err == STM32ISP_OK ? write_range(j, *lo, *hi, true) : err;
}

static stm32isp_err write_range(job *j, uint32_t lo, uint32_t hi, bool erased)
{
    stm32isp_client *c = j->c;
    window_cursor cur;
    uint32_t address, len;
    stm32isp_err err = STM32ISP_OK;
    cursor_seek(&cur, j->image, lo);
    while (cur.next_address < hi &&
           next_window(&cur, write_align(c), c->scratch, &address, &len, &err)) {
        if (address >= hi) {
            break;
        }
        if (erased && all_erased(c->scratch, len)) {
            j->report->blocks_skipped++;
        } else {
            err = write_block(c, address, c->scratch, len);
            if (err == STM32ISP_ERR_WRITE_FAILED) {
                uint32_t repaired_lo, repaired_hi;
                err = repair(j, address, &repaired_lo, &repaired_hi);
                if (err != STM32ISP_OK) {
                    return err;
                }
                cursor_seek(&cur, j->image, repaired_hi);
                continue;
            }
            if (err != STM32ISP_OK) {
                return err;
            }
            j->report->blocks_written++;
            j->report->bytes_written += len;
        }
        j->done += len;
        report_progress(c, STM32ISP_PHASE_WRITE, j->done < j->total ? j->done : j->total, j->total);
    }
    return err;
}

stm32isp_err stm32isp_write_image(stm32isp_client *c, const stm32isp_image *image, bool erased,
                                  stm32isp_program_report *report)
{
    stm32isp_program_report scratch_report = {0};
    job j = {.c = c,
             .image = image,
             .report = report != NULL ? report : &scratch_report,
             .repairs_left = DEFAULT_REPAIRS,
             .total = payload_size(image)};
    return write_range(&j, 0, NO_ADDRESS, erased);
}

/* Compares [lo, hi) with the image; on a difference, repairs and checks the
 * repaired range again while repairs last. */
static stm32isp_err verify_range(job *j, uint32_t lo, uint32_t hi, uint32_t *first_bad)
{
    stm32isp_client *c = j->c;
    window_cursor cur;
    uint32_t address, len;
    stm32isp_err err = STM32ISP_OK;
    cursor_seek(&cur, j->image, lo);
    while (cur.next_address < hi &&
           next_window(&cur, write_align(c), c->scratch, &address, &len, &err)) {
        block_state state;
        if ((err = read_settled(c, address, c->scratch, len, &state)) != STM32ISP_OK) {
            return err;
        }
        if (state != BLOCK_EQUAL) {
            uint32_t at = 0;
            while (c->scratch[at] == c->compare[at]) {
                at++;
            }
            *first_bad = address + at;
            uint32_t repaired_lo, repaired_hi;
            if (repair(j, address, &repaired_lo, &repaired_hi) != STM32ISP_OK) {
                return STM32ISP_ERR_VERIFY;
            }
            cursor_seek(&cur, j->image, repaired_lo); /* check the repair too */
            continue;
        }
        j->done += len;
        report_progress(c, STM32ISP_PHASE_VERIFY, j->done < j->total ? j->done : j->total,
                        j->total);
    }
    return err;
}

/* One Get Checksum over [lo, hi), whose image CRC is `expected`; link
 * errors are retried after a recovery. */
static stm32isp_err checksum_span(stm32isp_client *c, uint32_t lo, uint32_t hi, uint32_t expected,
                                  bool *equal)
{
    stm32isp_err err = STM32ISP_ERR_TIMEOUT;
    for (unsigned attempt = 0; attempt <= c->cfg.command_retries; attempt++) {
        if (attempt > 0) {
            c->stats.retries++;
            stm32isp_err r = stm32isp_recover(c);
            if (r != STM32ISP_OK) {
                return r;
            }
        }
        uint32_t crc;
        err = stm32isp_cmd_get_checksum(c, lo, hi - lo, &crc);
        if (err == STM32ISP_OK) {
            *equal = crc == expected;
            return STM32ISP_OK;
        }
        if (err == STM32ISP_ERR_PORT || err == STM32ISP_ERR_UNSUPPORTED ||
            err == STM32ISP_ERR_INVALID_ARG) {
            return err;
        }
    }
    return err;
}

/*
 * Verifies with Get Checksum: the written spans are joined into contiguous
 * runs of up to CHECKSUM_SPAN bytes, and the CRC of each run as the image
 * has it is compared with the target's. A run that differs is read back
 * block by block, which finds the difference and repairs it.
 */
static stm32isp_err verify_by_checksum(job *j)
{
    stm32isp_client *c = j->c;
    window_cursor cur;
    uint32_t address, len, lo = 0, hi = 0, crc = STM32ISP_CRC_INIT;
    bool open = false;
    stm32isp_err err = STM32ISP_OK;
    cursor_seek(&cur, j->image, 0);
    j->done = 0;
    for (;;) {
        bool more = next_window(&cur, write_align(c), c->scratch, &address, &len, &err);
        if (err != STM32ISP_OK) {
            return err;
        }
        if (open && (!more || address != hi || hi - lo >= CHECKSUM_SPAN)) {
            bool equal;
            if ((err = checksum_span(c, lo, hi, crc, &equal)) != STM32ISP_OK) {
                return err;
            }
            if (!equal) {
                uint32_t resume = cur.next_address;
                if ((err = verify_range(j, lo, hi, &j->first_bad)) != STM32ISP_OK) {
                    return err;
                }
                cursor_seek(&cur, j->image, resume);
                more = next_window(&cur, write_align(c), c->scratch, &address, &len, &err);
                if (err != STM32ISP_OK) {
                    return err;
                }
            }
            j->done += hi - lo;
            report_progress(c, STM32ISP_PHASE_VERIFY, j->done < j->total ? j->done : j->total,
                            j->total);
            open = false;
        }
        if (!more) {
            return STM32ISP_OK;
        }
        if (!open) {
            lo = address;
            crc = STM32ISP_CRC_INIT;
            open = true;
        }
        crc = stm32isp_crc32_update(crc, c->scratch, len);
        hi = address + len;
    }
}

static bool checksum_usable(const stm32isp_client *c, const stm32isp_program_options *options)
{
    /* Spans are rounded to the write alignment; the CRC unit takes words. */
    return !options->verify_by_reading && stm32isp_offers(c, AN3155_CMD_GET_CHECKSUM) &&
           write_align(c) % 4 == 0;
}

static stm32isp_err verify_image(stm32isp_client *c, const stm32isp_image *image, bool by_reading,
                                 uint32_t *first_bad)
{
    stm32isp_program_report scratch_report = {0};
    stm32isp_program_options defaults = {.verify = true, .verify_by_reading = by_reading};
    job j = {.c = c,
             .image = image,
             .report = &scratch_report,
             .total = payload_size(image),
             .first_bad = NO_ADDRESS};
    stm32isp_err err = stm32isp_check_image(c, image);
    if (err == STM32ISP_OK) {
        /* No repairs here: a difference is reported, not fixed. */
        err = checksum_usable(c, &defaults) ? verify_by_checksum(&j)
                                            : verify_range(&j, 0, NO_ADDRESS, &j.first_bad);
    }
    if (first_bad != NULL) {
        *first_bad = j.first_bad;
    }
    return err;
}

stm32isp_err stm32isp_verify_image(stm32isp_client *c, const stm32isp_image *image,
                                   uint32_t *first_bad)
{
    return verify_image(c, image, false, first_bad);
}

stm32isp_err stm32isp_verify_image_by_reading(stm32isp_client *c, const stm32isp_image *image,
                                              uint32_t *first_bad)
{
    return verify_image(c, image, true, first_bad);
}

stm32isp_err stm32isp_repair_image(stm32isp_client *c, const stm32isp_image *image,
                                   stm32isp_program_report *report)
{
    job j = {.c = c,
             .image = image,
             .report = report,
             .repairs_left = DEFAULT_REPAIRS,
             .total = payload_size(image),
             .first_bad = NO_ADDRESS};
    return verify_range(&j, 0, NO_ADDRESS, &j.first_bad);
}

stm32isp_err stm32isp_read_back_image(stm32isp_client *c, const stm32isp_image *image,
                                      int (*sink)(void *ctx, const uint8_t *data, uint32_t len),
                                      void *sink_ctx)
{
    uint32_t payload = 0;
    for (size_t i = 0; i < image->segment_count; i++) {
        const stm32isp_segment *s = &image->segments[i];
        for (uint32_t done = 0; done < s->length;) {
            uint32_t n = s->length - done < WINDOW ? s->length - done : WINDOW;
            block_state state;
            if (image->read(image->ctx, payload + done, c->scratch, n) != 0) {
                return STM32ISP_ERR_IMAGE_SOURCE;
            }
            stm32isp_err err = read_settled(c, s->address + done, c->scratch, n, &state);
            if (err != STM32ISP_OK) {
                return err;
            }
            if (state != BLOCK_EQUAL) {
                return STM32ISP_ERR_VERIFY;
            }
            if (sink(sink_ctx, c->compare, n) != 0) {
                return STM32ISP_ERR_IMAGE_SOURCE;
            }
            done += n;
        }
        payload += s->length;
    }
    return STM32ISP_OK;
}

/* ------------------------------------------------------------------------- */
/* The whole job                                                              */

stm32isp_err stm32isp_program(stm32isp_client *c, const stm32isp_image *image,
                              const stm32isp_program_options *options,
                              stm32isp_program_report *report)
{
    stm32isp_program_report scratch_report;
    if (report == NULL) {
        report = &scratch_report;
    }
    memset(report, 0, sizeof *report);
    stm32isp_err err = stm32isp_check_image(c, image);
    if (err != STM32ISP_OK) {
        return err;
    }
    if (c->target.readout_protected) {
        return STM32ISP_ERR_READ_PROTECTED;
    }
    job j = {.c = c,
             .image = image,
             .report = report,
             .repairs_left = options->repairs != 0 ? options->repairs : DEFAULT_REPAIRS,
             .total = payload_size(image)};
    report->bytes_image = j.total;

    uint32_t t0 = c->ops->now_ms(c->port);
    err = stm32isp_erase_for_image(c, image, options->erase, report);
    uint32_t t1 = c->ops->now_ms(c->port);
    report->ms_erase = t1 - t0;
    if (err == STM32ISP_OK) {
        err = write_range(&j, 0, NO_ADDRESS, options->erase != STM32ISP_ERASE_NONE);
    }
    uint32_t t2 = c->ops->now_ms(c->port);
    report->ms_write = t2 - t1;
    if (err == STM32ISP_OK && options->verify) {
        uint32_t bad;
        j.done = 0;
        if (checksum_usable(c, options)) {
            err = verify_by_checksum(&j);
            report->verified_by_checksum = err == STM32ISP_OK;
        } else {
            err = verify_range(&j, 0, NO_ADDRESS, &bad);
        }
        report->ms_verify = c->ops->now_ms(c->port) - t2;
    }
    if (err == STM32ISP_OK && options->start) {
        err = stm32isp_start_application(c, options->start_address);
    }
    return err;
}

/* ------------------------------------------------------------------------- */
/* Reading and starting                                                       */

stm32isp_err stm32isp_read_memory(stm32isp_client *c, uint32_t address, uint32_t len,
                                  int (*sink)(void *ctx, const uint8_t *data, uint32_t len),
                                  void *sink_ctx)
{
    if (!c->connected) {
        return STM32ISP_ERR_NOT_CONNECTED;
    }
    if (c->target.readout_protected) {
        return STM32ISP_ERR_READ_PROTECTED;
    }
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < WINDOW ? len - done : WINDOW;
        stm32isp_err err = read_block(c, address + done, c->scratch, n);
        if (err != STM32ISP_OK) {
            return err;
        }
        if (sink(sink_ctx, c->scratch, n) != 0) {
            return STM32ISP_ERR_IMAGE_SOURCE;
        }
        done += n;
        report_progress(c, STM32ISP_PHASE_READ, done, len);
    }
    return STM32ISP_OK;
}

stm32isp_err stm32isp_start_application(stm32isp_client *c, uint32_t vector_table)
{
    report_progress(c, STM32ISP_PHASE_START, 0, 1);
    if (stm32isp_has_reset_lines(c)) {
        /* A normal boot: the application finds the machine as after power-on. */
        if (c->ops->set_boot0(c->port, false) != 0 || c->ops->set_reset(c->port, true) != 0) {
            return STM32ISP_ERR_PORT;
        }
        c->ops->delay_ms(c->port, c->cfg.reset_pulse_ms);
        if (c->ops->set_reset(c->port, false) != 0) {
            return STM32ISP_ERR_PORT;
        }
        c->stats.resets++;
        c->connected = false;
    } else {
        uint32_t address =
            vector_table != 0 ? vector_table : stm32isp_device_flash_base(c->target.device);
        stm32isp_err err = stm32isp_cmd_go(c, address);
        if (err != STM32ISP_OK) {
            return err;
        }
    }
    report_progress(c, STM32ISP_PHASE_START, 1, 1);
    return STM32ISP_OK;
}

/*
 * The flashing job against the bootloader model, in process and on the
 * model's virtual clock, with containers held in memory: every simulated
 * device, every way a container can be bad (the target must not even see a
 * byte), targets the image is not for, readout protection, and power loss at
 * hundreds of points on the master's side, the target's side and the
 * EEPROM's, each followed by a second run that must leave exactly the image.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_port.h"
#include "stm32isp/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLASH_BASE 0x08000000u

/* ------------------------------------------------------------------------- */
/* Containers in memory                                                       */

static uint32_t rng_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

typedef struct mem_container {
    stm32isp_container header; /* what was packed */
    uint8_t *bytes;
    uint32_t size;
    uint8_t *payload; /* points into bytes */
} mem_container;

/* Packs `n` segments of random bytes (`lengths` at `addresses`). */
static void pack(mem_container *m, const uint32_t *addresses, const uint32_t *lengths, size_t n,
                 uint32_t flags, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    stm32isp_container *h = &m->header;
    h->flags = flags;
    h->segment_count = (uint16_t)n;
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++) {
        h->segments[i] = (stm32isp_segment){addresses[i], lengths[i]};
        total += lengths[i];
    }
    h->payload_length = total;
    h->created = 1764000000u;
    snprintf(h->name, sizeof h->name, "test image");
    snprintf(h->version, sizeof h->version, "1.0");
    size_t header_length = stm32isp_container_header_length(h->segment_count);
    m->size = (uint32_t)(header_length + total);
    m->bytes = malloc(m->size);
    assert_non_null(m->bytes);
    m->payload = m->bytes + header_length;
    for (uint32_t i = 0; i < total; i++) {
        m->payload[i] = (uint8_t)rng_next(&seed);
    }
    /* A vector table the model accepts (stack in RAM, Thumb entry in
     * flash), so that "the application started" can be checked. */
    if (n > 0 && addresses[0] == FLASH_BASE && lengths[0] >= 8) {
        static const uint8_t vectors[8] = {0x00, 0x20, 0x00, 0x20, 0x01, 0x01, 0x00, 0x08};
        memcpy(m->payload, vectors, sizeof vectors);
    }
    h->payload_crc = stm32isp_crc32_ieee(0, m->payload, total);
    assert_int_equal(stm32isp_container_write_header(h, m->bytes, header_length), header_length);
}

static void pack_one(mem_container *m, uint32_t length, uint32_t flags, uint64_t seed)
{
    const uint32_t address = FLASH_BASE;
    pack(m, &address, &length, 1, flags, seed);
}

/* Rewrites the header after a change to m->header's fields. */
static void repack(mem_container *m)
{
    size_t header_length = stm32isp_container_header_length(m->header.segment_count);
    assert_int_equal(stm32isp_container_write_header(&m->header, m->bytes, header_length),
                     header_length);
}

static void container_free(mem_container *m)
{
    free(m->bytes);
    memset(m, 0, sizeof *m);
}

/* A source over a container, padded with 0xFF up to `size` like an EEPROM,
 * that can fail or deliver a wrong bit on its Nth read. */
typedef struct mem_source {
    const mem_container *m;
    unsigned reads;
    unsigned fail_at_read; /* 1-based; 0: never */
    unsigned flip_at_read; /* 1-based; 0: never */
    uint32_t truncate_to;  /* bytes of the container that exist; 0: all */
    stm32isp_container_source source;
} mem_source;

static stm32isp_err mem_source_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    mem_source *s = ctx;
    s->reads++;
    if (s->reads == s->fail_at_read) {
        return STM32ISP_ERR_EEPROM_NACK;
    }
    if ((uint64_t)offset + len > s->source.size) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    uint32_t exist = s->truncate_to != 0 ? s->truncate_to : s->m->size;
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = offset + i < exist ? s->m->bytes[offset + i] : 0xFF;
    }
    if (s->reads == s->flip_at_read && len > 0) {
        buf[len / 2] ^= 0x10;
    }
    return STM32ISP_OK;
}

static void source_init(mem_source *s, const mem_container *m, uint32_t eeprom_size)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    s->source.read = mem_source_read;
    s->source.ctx = s;
    s->source.size = eeprom_size != 0 ? eeprom_size : m->size;
}

/* ------------------------------------------------------------------------- */
/* A target, and a master that can lose power                                 */

/*
 * The port the job talks through: the model's pins and line, until the
 * master "loses power" after `budget` bytes sent; from then on every call
 * fails, as a master that has reset would never finish its sentence.
 */
typedef struct dying_port {
    sim_port inner;
    uint32_t budget;      /* bytes the master may still send; UINT32_MAX: no limit */
    uint32_t writes_left; /* write calls it may still make; UINT32_MAX: no limit */
    bool dead;
    unsigned pin_changes;
    uint32_t sent;       /* bytes sent in all */
    uint32_t sent_at_go; /* bytes sent before the last Go began */
    /* 1 + the flash offset of a byte that goes bad when the master sends
     * its first Go (after programming, before verifying); 0: none. */
    uint32_t corrupt_at_go;
    bool corrupt_every_go; /* at every Go: a cell that does not hold */
} dying_port;

static int dp_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    dying_port *p = ctx;
    return p->dead ? -1 : sim_port_ops_with_pins.read(&p->inner, buf, len, timeout_ms);
}

static int dp_write(void *ctx, const uint8_t *buf, size_t len)
{
    dying_port *p = ctx;
    if (p->dead) {
        return -1;
    }
    if (len == 2 && buf[0] == 0x21 && buf[1] == 0xDE) {
        p->sent_at_go = p->sent;
        if (p->corrupt_at_go != 0) {
            blsim_flash(p->inner.sim)[p->corrupt_at_go - 1] ^= 0x20;
            p->corrupt_at_go = p->corrupt_every_go ? p->corrupt_at_go : 0;
        }
    }
    p->sent += (uint32_t)len;
    if (p->writes_left != UINT32_MAX && p->writes_left-- == 0) {
        p->dead = true;
        return -1;
    }
    if (p->budget != UINT32_MAX && len > p->budget) {
        sim_port_ops_with_pins.write(&p->inner, buf, p->budget);
        p->dead = true;
        return -1;
    }
    if (p->budget != UINT32_MAX) {
        p->budget -= (uint32_t)len;
    }
    return sim_port_ops_with_pins.write(&p->inner, buf, len);
}

static uint32_t dp_now_ms(void *ctx)
{
    dying_port *p = ctx;
    return sim_port_ops_with_pins.now_ms(&p->inner);
}

static void dp_delay_ms(void *ctx, uint32_t ms)
{
    dying_port *p = ctx;
    sim_port_ops_with_pins.delay_ms(&p->inner, ms);
}

static int dp_set_boot0(void *ctx, bool high)
{
    dying_port *p = ctx;
    p->pin_changes++;
    return p->dead ? -1 : sim_port_ops_with_pins.set_boot0(&p->inner, high);
}

static int dp_set_reset(void *ctx, bool asserted)
{
    dying_port *p = ctx;
    p->pin_changes++;
    return p->dead ? -1 : sim_port_ops_with_pins.set_reset(&p->inner, asserted);
}

static const stm32isp_port_ops dying_ops = {
    .read = dp_read,
    .write = dp_write,
    .now_ms = dp_now_ms,
    .delay_ms = dp_delay_ms,
    .set_boot0 = dp_set_boot0,
    .set_reset = dp_set_reset,
};

/* A plain serial link: BOOT0 strapped high, no reset line. */
static const stm32isp_port_ops dying_ops_no_pins = {
    .read = dp_read,
    .write = dp_write,
    .now_ms = dp_now_ms,
    .delay_ms = dp_delay_ms,
};

typedef struct rig {
    blsim *sim;
    dying_port port;
    stm32isp_job job;
    stm32isp_job_result result;
    const stm32isp_ramcrc_program *ram_program; /* what the job verifies with */
    bool no_pins;                               /* BOOT0 strapped high, no NRST line */
    /* Where the verify step began: bytes the master had sent and the
     * target had received. */
    uint32_t sent_at_verify;
    uint64_t received_at_verify;
} rig;

static void rig_open(rig *r, const char *device, uint32_t flash_kb, const blsim_faults *faults,
                     bool rdp)
{
    memset(r, 0, sizeof *r);
    blsim_config cfg = {.device = blsim_device_find(device),
                        .flash_kb = flash_kb,
                        .boot0 = false,
                        .readout_protected = rdp,
                        .app_banner = "app up"};
    assert_non_null(cfg.device);
    if (faults != NULL) {
        cfg.faults = *faults;
    }
    r->sim = blsim_new(&cfg);
    assert_non_null(r->sim);
    r->port.inner.sim = r->sim;
    r->port.budget = UINT32_MAX;
    r->port.writes_left = UINT32_MAX;
    r->ram_program = &stm32isp_ramcrc_program_m3;
}

/* BOOT0 strapped high and no reset line: the target sits in its bootloader
 * and the job talks to it over the bare serial line. */
static void rig_without_pins(rig *r)
{
    r->no_pins = true;
    blsim_set_boot0(r->sim, true);
    blsim_set_nrst(r->sim, false);
    blsim_set_nrst(r->sim, true);
    blsim_idle(r->sim, 5000);
}

/* The master comes back from its power loss. */
static void rig_revive(rig *r)
{
    r->port.dead = false;
    r->port.budget = UINT32_MAX;
    r->port.writes_left = UINT32_MAX;
}

static void rig_close(rig *r)
{
    blsim_free(r->sim);
    r->sim = NULL;
}

static void rig_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    rig *r = ctx;
    (void)total;
    if (phase == STM32ISP_PHASE_VERIFY && done == 0) {
        r->sent_at_verify = r->port.sent;
        r->received_at_verify = blsim_get_stats(r->sim)->bytes_to_target;
    }
}

static stm32isp_err rig_run(rig *r, mem_source *src)
{
    stm32isp_job_config cfg = {.ops = r->no_pins ? &dying_ops_no_pins : &dying_ops,
                               .port = &r->port,
                               .source = &src->source,
                               .ram_program = r->ram_program,
                               .progress = rig_progress,
                               .progress_ctx = r};
    stm32isp_err err = stm32isp_job_run(&r->job, &cfg, &r->result);
    assert_int_equal(r->result.status, err);
    return err;
}

/* The application runs once the boot time after a reset has passed. */
static blsim_state settled_state(blsim *sim)
{
    blsim_idle(sim, 20000);
    return blsim_get_state(sim);
}

/* True when every image byte is in the target's flash. */
static bool target_holds(const blsim *sim, const mem_container *m)
{
    const uint8_t *flash = blsim_flash_const(sim);
    const uint8_t *p = m->payload;
    for (uint16_t i = 0; i < m->header.segment_count; i++) {
        const stm32isp_segment *s = &m->header.segments[i];
        if (memcmp(flash + (s->address - FLASH_BASE), p, s->length) != 0) {
            return false;
        }
        p += s->length;
    }
    return true;
}

/* The target never saw a byte, a pin change, an erase or a write. */
static void assert_untouched(const rig *r)
{
    const blsim_stats *st = blsim_get_stats(r->sim);
    assert_int_equal(st->bytes_to_target, 0);
    assert_int_equal(st->pages_erased + st->mass_erases, 0);
    assert_int_equal(st->halfwords_programmed, 0);
    assert_int_equal(r->port.pin_changes, 0);
    assert_false(r->result.target_touched);
    assert_false(r->result.target_modified);
}

/* Nothing was erased or written, though the target may have been asked who
 * it is. */
static void assert_unmodified(const rig *r)
{
    const blsim_stats *st = blsim_get_stats(r->sim);
    assert_int_equal(st->pages_erased + st->mass_erases, 0);
    assert_int_equal(st->halfwords_programmed, 0);
    assert_false(r->result.target_modified);
}

static const struct {
    const char *name;
    uint32_t flash_kb;
    uint16_t pid;
} devices[] = {
    {"f103md", 64, 0x410},  {"f103md", 128, 0x410}, {"f103hd", 256, 0x414},
    {"f103hd", 512, 0x414}, {"f072", 64, 0x448},    {"f072", 128, 0x448},
};
#define DEVICE_COUNT (sizeof devices / sizeof devices[0])

#define DEFAULT_FLAGS (STM32ISP_CONTAINER_VERIFY | STM32ISP_CONTAINER_START)

/* ------------------------------------------------------------------------- */
/* Programming                                                                */

static void test_every_device_gets_the_image_and_starts_it(void **state)
{
    (void)state;
    for (size_t d = 0; d < DEVICE_COUNT; d++) {
        /* Three segments with gaps and odd lengths, the last one ending at
         * the very end of the flash. */
        uint32_t flash = devices[d].flash_kb * 1024u;
        const uint32_t addresses[] = {FLASH_BASE, FLASH_BASE + 0x1403, FLASH_BASE + flash - 700};
        const uint32_t lengths[] = {5000, 77, 700};
        mem_container m;
        pack(&m, addresses, lengths, 3, DEFAULT_FLAGS, d + 1);
        m.header.pids[0] = devices[d].pid;
        m.header.pid_count = 1;
        m.header.min_flash_size = flash;
        repack(&m);
        mem_source src;
        source_init(&src, &m, 64 * 1024);
        rig r;
        rig_open(&r, devices[d].name, devices[d].flash_kb, NULL, false);
        stm32isp_err err = rig_run(&r, &src);
        if (err != STM32ISP_OK) {
            fail_msg("%s %u KiB: %s", devices[d].name, devices[d].flash_kb, stm32isp_err_name(err));
        }
        assert_true(target_holds(r.sim, &m));
        assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
        assert_true(r.result.started);
        assert_int_equal(r.result.pid, devices[d].pid);
        assert_int_equal(r.result.flash_size, flash);
        assert_int_equal(r.result.image_bytes, 5777);
        assert_int_equal(r.result.image_crc, m.header.payload_crc);
        assert_int_equal(r.result.segment_count, 3);
        assert_true(r.result.target_modified);
        assert_true(r.result.ms_total >= r.result.ms_write + r.result.ms_verify);
        assert_true(r.result.ms_write > 0 && r.result.ms_verify > 0);
        rig_close(&r);
        container_free(&m);
    }
}

typedef struct phase_log {
    stm32isp_phase seen[32];
    unsigned count;
    uint32_t verify_done, verify_total;
} phase_log;

static void log_phase(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total)
{
    phase_log *l = ctx;
    if (l->count == 0 || l->seen[l->count - 1] != phase) {
        assert_true(l->count < 32);
        l->seen[l->count++] = phase;
    }
    if (phase == STM32ISP_PHASE_VERIFY) {
        assert_true(done <= total);
        l->verify_done = done;
        l->verify_total = total;
    }
}

static void test_progress_reports_every_phase_in_order(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 3000, DEFAULT_FLAGS | STM32ISP_CONTAINER_READOUT_PROTECT, 9);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    phase_log log = {0};
    stm32isp_job_config cfg = {.ops = &dying_ops,
                               .port = &r.port,
                               .source = &src.source,
                               .progress = log_phase,
                               .progress_ctx = &log};
    assert_int_equal(stm32isp_job_run(&r.job, &cfg, &r.result), STM32ISP_OK);
    const stm32isp_phase want[] = {STM32ISP_PHASE_CHECK_IMAGE, STM32ISP_PHASE_CONNECT,
                                   STM32ISP_PHASE_ERASE,       STM32ISP_PHASE_WRITE,
                                   STM32ISP_PHASE_VERIFY,      STM32ISP_PHASE_PROTECT,
                                   STM32ISP_PHASE_START};
    assert_int_equal(log.count, sizeof want / sizeof want[0]);
    for (unsigned i = 0; i < log.count; i++) {
        assert_int_equal(log.seen[i], want[i]);
    }
    assert_int_equal(log.verify_done, 3000);
    assert_int_equal(log.verify_total, 3000);
    /* Protected, and the flash holds the image all the same. */
    assert_true(blsim_readout_protected(r.sim));
    assert_true(r.result.readout_protected_after);
    assert_true(target_holds(r.sim, &m));
    assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
    rig_close(&r);
    container_free(&m);
}

static void test_options_no_verify_no_start(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 2048, 0, 3);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f072", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    assert_true(target_holds(r.sim, &m));
    assert_false(r.result.started);
    assert_int_equal(r.result.ms_verify, 0);
    /* Not started, but BOOT0 is released: the next reset boots the image. */
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
    blsim_set_nrst(r.sim, false);
    blsim_set_nrst(r.sim, true);
    blsim_idle(r.sim, 10000);
    assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
    rig_close(&r);
    container_free(&m);
}

/* A target programmed before keeps nothing of its old image where the new
 * one goes, and a second run over a correct target changes nothing. */
static void test_reprogramming_and_idempotence(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    mem_container a, b;
    pack_one(&a, 20000, DEFAULT_FLAGS, 1);
    pack_one(&b, 9000, DEFAULT_FLAGS, 2);
    mem_source sa, sb;
    source_init(&sa, &a, 0);
    source_init(&sb, &b, 0);
    assert_int_equal(rig_run(&r, &sa), STM32ISP_OK);
    assert_int_equal(rig_run(&r, &sb), STM32ISP_OK);
    assert_true(target_holds(r.sim, &b));
    assert_int_equal(rig_run(&r, &sb), STM32ISP_OK);
    assert_true(target_holds(r.sim, &b));
    rig_close(&r);
    container_free(&a);
    container_free(&b);
}

/* ------------------------------------------------------------------------- */
/* Refusals                                                                   */

static void test_every_damaged_header_byte_is_refused_untouched(void **state)
{
    (void)state;
    const uint32_t addresses[] = {FLASH_BASE, FLASH_BASE + 0x800};
    const uint32_t lengths[] = {100, 60};
    mem_container m;
    pack(&m, addresses, lengths, 2, DEFAULT_FLAGS, 5);
    uint32_t header_length = m.header.header_length;
    unsigned tried = 0;
    for (uint32_t at = 0; at < header_length; at++) {
        for (unsigned bit = 0; bit < 8; bit += 3) {
            m.bytes[at] ^= (uint8_t)(1u << bit);
            mem_source src;
            source_init(&src, &m, 4096);
            rig r;
            rig_open(&r, "f103md", 64, NULL, false);
            stm32isp_err err = rig_run(&r, &src);
            if (err != STM32ISP_ERR_NO_CONTAINER && err != STM32ISP_ERR_CONTAINER_HEADER &&
                err != STM32ISP_ERR_CONTAINER_VERSION) {
                fail_msg("byte %u bit %u flipped: %s", at, bit, stm32isp_err_name(err));
            }
            assert_untouched(&r);
            assert_int_equal(r.result.phase, STM32ISP_PHASE_CHECK_IMAGE);
            rig_close(&r);
            m.bytes[at] ^= (uint8_t)(1u << bit);
            tried++;
        }
    }
    print_message("damaged header: %u single-bit corruptions refused, target untouched\n", tried);
    container_free(&m);
}

static void test_damaged_payload_truncation_and_blank_are_refused_untouched(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 4000, DEFAULT_FLAGS, 6);
    uint32_t header_length = m.header.header_length;
    /* Payload bit flips anywhere. */
    for (uint32_t at = header_length; at < m.size; at += 397) {
        m.bytes[at] ^= 0x01;
        mem_source src;
        source_init(&src, &m, 8192);
        rig r;
        rig_open(&r, "f103md", 64, NULL, false);
        assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_CONTAINER_PAYLOAD);
        assert_untouched(&r);
        rig_close(&r);
        m.bytes[at] ^= 0x01;
    }
    /* A half-written EEPROM: the rest still erased (0xFF). */
    static const uint32_t cuts[] = {1, 50, 120, 2000, 4000 + 100};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        mem_source src;
        source_init(&src, &m, 8192);
        src.truncate_to = cuts[i] < m.size ? cuts[i] : m.size - 1;
        rig r;
        rig_open(&r, "f103md", 64, NULL, false);
        stm32isp_err err = rig_run(&r, &src);
        assert_true(err == STM32ISP_ERR_CONTAINER_PAYLOAD || err == STM32ISP_ERR_CONTAINER_HEADER ||
                    err == STM32ISP_ERR_NO_CONTAINER);
        assert_untouched(&r);
        rig_close(&r);
    }
    /* A medium shorter than the container says. */
    {
        mem_source src;
        source_init(&src, &m, m.size - 1);
        rig r;
        rig_open(&r, "f103md", 64, NULL, false);
        assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_CONTAINER_HEADER);
        assert_untouched(&r);
        rig_close(&r);
    }
    /* A blank EEPROM, and one that cannot be read. */
    {
        mem_source src;
        source_init(&src, &m, 8192);
        src.truncate_to = 0;
        mem_container blank = m;
        uint8_t ff[256];
        memset(ff, 0xFF, sizeof ff);
        blank.bytes = ff;
        blank.size = sizeof ff;
        src.m = &blank;
        rig r;
        rig_open(&r, "f103md", 64, NULL, false);
        assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_NO_CONTAINER);
        assert_untouched(&r);
        rig_close(&r);
        source_init(&src, &m, 8192);
        src.fail_at_read = 1;
        rig_open(&r, "f103md", 64, NULL, false);
        assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_EEPROM_NACK);
        assert_untouched(&r);
        rig_close(&r);
    }
    container_free(&m);
}

static void test_wrong_part_or_too_large_is_refused_before_erase(void **state)
{
    (void)state;
    /* A PID list without this part. */
    mem_container m;
    pack_one(&m, 1000, DEFAULT_FLAGS, 7);
    m.header.pid_count = 2;
    m.header.pids[0] = 0x414;
    m.header.pids[1] = 0x448;
    repack(&m);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    assert_unmodified(&r);
    assert_int_equal(r.result.pid, 0x410);
    rig_close(&r);
    /* The same image allowed on 0x410 but wanting 128 KiB of flash. */
    m.header.pids[1] = 0x410;
    m.header.min_flash_size = 128 * 1024;
    repack(&m);
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_DEVICE_NOT_ALLOWED);
    assert_unmodified(&r);
    rig_close(&r);
    rig_open(&r, "f103md", 128, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    rig_close(&r);
    container_free(&m);

    /* Larger than the flash: 65 KiB on a 64 KiB part. */
    pack_one(&m, 65 * 1024, DEFAULT_FLAGS, 8);
    source_init(&src, &m, 0);
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_IMAGE_TOO_LARGE);
    assert_unmodified(&r);
    rig_close(&r);
    container_free(&m);

    /* Outside the flash altogether (RAM). */
    const uint32_t address = 0x20000000;
    const uint32_t length = 64;
    pack(&m, &address, &length, 1, DEFAULT_FLAGS, 9);
    source_init(&src, &m, 0);
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_ADDRESS);
    assert_unmodified(&r);
    rig_close(&r);
    container_free(&m);
}

static void test_readout_protected_target_is_refused_unless_the_image_says(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 1500, DEFAULT_FLAGS, 10);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, true);
    uint8_t before[64];
    memcpy(before, blsim_flash_const(r.sim), sizeof before);
    assert_int_equal(rig_run(&r, &src), STM32ISP_ERR_READ_PROTECTED);
    assert_true(r.result.was_readout_protected);
    assert_unmodified(&r);
    assert_true(blsim_readout_protected(r.sim));
    assert_memory_equal(blsim_flash_const(r.sim), before, sizeof before);
    rig_close(&r);

    m.header.flags |= STM32ISP_CONTAINER_UNPROTECT;
    repack(&m);
    rig_open(&r, "f103md", 64, NULL, true);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    assert_true(r.result.unprotected);
    assert_false(blsim_readout_protected(r.sim));
    assert_true(target_holds(r.sim, &m));
    rig_close(&r);
    container_free(&m);
}

/* A wrong byte delivered by the EEPROM while programming (after the image
 * was checked) must not pass verification. */
static void test_eeprom_bit_error_while_programming_is_caught(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 6000, DEFAULT_FLAGS, 11);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    unsigned clean_reads = src.reads;
    rig_close(&r);
    unsigned caught = 0;
    for (unsigned n = 5; n <= clean_reads; n += 3) {
        source_init(&src, &m, 0);
        src.flip_at_read = n;
        rig_open(&r, "f103md", 64, NULL, false);
        stm32isp_err err = rig_run(&r, &src);
        bool holds = target_holds(r.sim, &m);
        if (err == STM32ISP_OK) {
            assert_true(holds);
        } else {
            caught++;
        }
        /* And a second run, with the EEPROM behaving, puts it right. */
        source_init(&src, &m, 0);
        assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
        assert_true(target_holds(r.sim, &m));
        rig_close(&r);
    }
    assert_true(caught > 0);
    container_free(&m);
}

/* ------------------------------------------------------------------------- */
/* Power loss                                                                 */

typedef struct campaign {
    unsigned points, first_run_ok, first_run_failed;
} campaign;

static void rerun_must_converge(rig *r, const mem_container *m, campaign *c, stm32isp_err first)
{
    c->points++;
    if (first == STM32ISP_OK) {
        c->first_run_ok++;
        assert_true(target_holds(r->sim, m));
    } else {
        c->first_run_failed++;
    }
    rig_revive(r);
    mem_source src;
    source_init(&src, m, 0);
    stm32isp_err err = rig_run(r, &src);
    if (err != STM32ISP_OK) {
        fail_msg("rerun after interruption: %s", stm32isp_err_name(err));
    }
    assert_true(target_holds(r->sim, m));
    assert_int_equal(settled_state(r->sim), BLSIM_STATE_APP);
}

static void report(const char *what, const campaign *c)
{
    print_message("power loss, %-34s %4u points: first run failed %4u, ok %3u; "
                  "every rerun correct\n",
                  what, c->points, c->first_run_failed, c->first_run_ok);
}

static void test_master_power_loss_at_every_nth_byte_and_call(void **state)
{
    (void)state;
    static const char *const targets[] = {"f103md", "f072"};
    for (size_t t = 0; t < 2; t++) {
        mem_container m;
        pack_one(&m, 12 * 1024 + 100, DEFAULT_FLAGS, 20 + t);
        mem_source src;
        source_init(&src, &m, 0);
        rig r;
        rig_open(&r, targets[t], 64, NULL, false);
        assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
        uint32_t bytes = r.result.link.bytes_sent;
        uint32_t commands = r.result.link.commands;
        rig_close(&r);

        campaign by_byte = {0};
        uint32_t stride = bytes / 150 + 1;
        for (uint32_t n = 0; n < bytes; n += stride) {
            rig_open(&r, targets[t], 64, NULL, false);
            r.port.budget = n;
            source_init(&src, &m, 0);
            rerun_must_converge(&r, &m, &by_byte, rig_run(&r, &src));
            rig_close(&r);
        }
        campaign by_call = {0};
        /* Every write call up to the image's first blocks, then a stride:
         * each is a command boundary or a piece of one. */
        for (uint32_t n = 0; n < commands * 3; n += n < 40 ? 1 : commands / 40 + 1) {
            rig_open(&r, targets[t], 64, NULL, false);
            r.port.writes_left = n;
            source_init(&src, &m, 0);
            rerun_must_converge(&r, &m, &by_call, rig_run(&r, &src));
            rig_close(&r);
        }
        char what[64];
        snprintf(what, sizeof what, "master, every Nth byte (%s)", targets[t]);
        report(what, &by_byte);
        snprintf(what, sizeof what, "master, every Nth write call (%s)", targets[t]);
        report(what, &by_call);
        assert_true(by_byte.first_run_failed > 100);
        container_free(&m);
    }
}

static void test_target_reset_at_every_nth_byte_and_command(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 12 * 1024 + 100, DEFAULT_FLAGS, 30);
    mem_source src;
    rig r;
    source_init(&src, &m, 0);
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    uint64_t bytes = blsim_get_stats(r.sim)->bytes_to_target;
    uint64_t commands = blsim_get_stats(r.sim)->commands;
    rig_close(&r);

    campaign by_byte = {0}, by_command = {0};
    for (uint64_t n = 1; n < bytes; n += bytes / 150 + 1) {
        blsim_faults faults = {.seed = n, .reset_after_byte = (uint32_t)n};
        rig_open(&r, "f103md", 64, &faults, false);
        source_init(&src, &m, 0);
        rerun_must_converge(&r, &m, &by_byte, rig_run(&r, &src));
        rig_close(&r);
    }
    for (uint64_t n = 1; n <= commands; n += n < 20 ? 1 : commands / 60 + 1) {
        blsim_faults faults = {.seed = n, .reset_in_command = (uint32_t)n};
        rig_open(&r, "f103md", 64, &faults, false);
        source_init(&src, &m, 0);
        rerun_must_converge(&r, &m, &by_command, rig_run(&r, &src));
        rig_close(&r);
    }
    report("target reset after every Nth byte", &by_byte);
    report("target reset inside every Nth command", &by_command);
    assert_true(by_byte.points > 100);
    container_free(&m);
}

static void test_eeprom_read_error_at_every_read(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 8 * 1024, DEFAULT_FLAGS, 40);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    unsigned reads = src.reads;
    rig_close(&r);
    campaign c = {0};
    for (unsigned n = 1; n <= reads; n++) {
        rig_open(&r, "f103md", 64, NULL, false);
        source_init(&src, &m, 0);
        src.fail_at_read = n;
        stm32isp_err err = rig_run(&r, &src);
        /* The error is the EEPROM's, not a vague "image source". */
        assert_true(err == STM32ISP_OK || err == STM32ISP_ERR_EEPROM_NACK);
        rerun_must_converge(&r, &m, &c, err);
        rig_close(&r);
    }
    report("EEPROM read error at every read", &c);
    assert_int_equal(c.first_run_failed, reads);
    container_free(&m);
}

/* ------------------------------------------------------------------------- */
/* Verifying with the RAM CRC program                                         */

static void test_ram_crc_verifies_f1_parts_and_reads_back_the_others(void **state)
{
    (void)state;
    for (size_t d = 0; d < DEVICE_COUNT; d++) {
        const uint32_t addresses[] = {FLASH_BASE, FLASH_BASE + 0x2403};
        const uint32_t lengths[] = {9000, 3001};
        mem_container m;
        pack(&m, addresses, lengths, 2, DEFAULT_FLAGS, 50 + d);
        mem_source src;
        source_init(&src, &m, 0);
        rig r;
        rig_open(&r, devices[d].name, devices[d].flash_kb, NULL, false);
        assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
        assert_true(target_holds(r.sim, &m));
        assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
        const blsim_stats *st = blsim_get_stats(r.sim);
        bool f1 = devices[d].pid != 0x448;
        assert_int_equal(r.result.verified_by_ram_crc, f1);
        assert_int_equal(st->ram_programs, f1 ? 1 : 0);
        if (f1) {
            /* Identification reads (flash size, UID) and nothing else. */
            assert_int_equal(st->command_count[0x11], 2);
            assert_true(st->bytes_to_host < 1000);
        } else {
            assert_true(st->command_count[0x11] >= 12000 / 256);
        }
        rig_close(&r);

        /* Without the program the same part is read back, more slowly. */
        uint32_t ms_ram = r.result.ms_verify;
        source_init(&src, &m, 0);
        rig_open(&r, devices[d].name, devices[d].flash_kb, NULL, false);
        r.ram_program = NULL;
        assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
        assert_false(r.result.verified_by_ram_crc);
        assert_true(blsim_get_stats(r.sim)->command_count[0x11] >= 12000 / 256);
        if (f1) {
            assert_true(ms_ram * 5 < r.result.ms_verify);
        }
        rig_close(&r);
        container_free(&m);
    }
}

/* A byte that is wrong in flash after programming (the job cannot know
 * why: a write the part dropped, a frame that noise reshaped with its
 * checksum still right) is found wherever it is, and its unit erased and
 * written again; a byte that goes bad again (a cell that does not hold)
 * fails the job, with the target back in its bootloader. A byte outside
 * the image does not matter. */
static void test_ram_crc_catches_a_wrong_flash_byte(void **state)
{
    (void)state;
    const uint32_t addresses[] = {FLASH_BASE, FLASH_BASE + 0x1001, FLASH_BASE + 0x8000};
    const uint32_t lengths[] = {3000, 77, 4096};
    const uint32_t bad[] = {0, 8, 2999, 0x1001, 0x1001 + 76, 0x8000, 0x8000 + 2048, 0x8FFF};
    mem_container m;
    pack(&m, addresses, lengths, 3, DEFAULT_FLAGS, 60);
    for (int pins = 0; pins < 2; pins++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            /* Once: repaired. */
            mem_source src;
            source_init(&src, &m, 0);
            rig r;
            rig_open(&r, "f103md", 64, NULL, false);
            if (!pins) {
                rig_without_pins(&r);
            }
            r.port.corrupt_at_go = bad[i] + 1;
            if (rig_run(&r, &src) != STM32ISP_OK) {
                fail_msg("flash byte 0x%x wrong once (%s): %s", bad[i], pins ? "pins" : "no pins",
                         stm32isp_err_name(r.result.status));
            }
            assert_true(target_holds(r.sim, &m));
            assert_true(r.result.verified_by_ram_crc);
            assert_int_equal(r.result.program.units_repaired, 1);
            assert_int_equal(blsim_get_stats(r.sim)->ram_programs, 2);
            assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
            rig_close(&r);

            /* Every time: refused. */
            source_init(&src, &m, 0);
            rig_open(&r, "f103md", 64, NULL, false);
            if (!pins) {
                rig_without_pins(&r);
            }
            r.port.corrupt_at_go = bad[i] + 1;
            r.port.corrupt_every_go = true;
            if (rig_run(&r, &src) != STM32ISP_ERR_VERIFY) {
                fail_msg("flash byte 0x%x wrong (%s): %s", bad[i], pins ? "pins" : "no pins",
                         stm32isp_err_name(r.result.status));
            }
            assert_int_equal(r.result.phase, STM32ISP_PHASE_VERIFY);
            assert_false(r.result.started);
            assert_false(r.result.verified_by_ram_crc);
            assert_false(target_holds(r.sim, &m));
            assert_int_equal(blsim_get_stats(r.sim)->ram_programs, 2);
            assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
            /* The next run puts it right. */
            r.port.corrupt_at_go = 0;
            source_init(&src, &m, 0);
            assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
            assert_true(target_holds(r.sim, &m));
            assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
            rig_close(&r);
        }
    }
    /* In the gap between segments: not the image's, not checked. */
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    r.port.corrupt_at_go = 0x2000 + 1;
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    assert_true(r.result.verified_by_ram_crc);
    rig_close(&r);
    container_free(&m);
}

/* With readout protection asked for, the program hands the target back to
 * the bootloader, which sets it; then the application starts. Without
 * reset lines the program itself starts the application. */
static void test_ram_crc_then_protect_or_start_without_pins(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 5000, DEFAULT_FLAGS | STM32ISP_CONTAINER_READOUT_PROTECT, 61);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    assert_true(r.result.verified_by_ram_crc);
    assert_true(r.result.readout_protected_after);
    assert_true(blsim_readout_protected(r.sim));
    assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
    rig_close(&r);
    container_free(&m);

    pack_one(&m, 5000, DEFAULT_FLAGS, 62);
    source_init(&src, &m, 0);
    rig_open(&r, "f103md", 64, NULL, false);
    rig_without_pins(&r);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    assert_true(r.result.verified_by_ram_crc);
    assert_true(r.result.started);
    assert_int_equal(settled_state(r.sim), BLSIM_STATE_APP);
    assert_int_equal(r.port.pin_changes, 0);
    rig_close(&r);

    /* Not started: back in the bootloader, as a read-back would leave it. */
    m.header.flags = STM32ISP_CONTAINER_VERIFY;
    repack(&m);
    source_init(&src, &m, 0);
    rig_open(&r, "f103md", 64, NULL, false);
    rig_without_pins(&r);
    assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
    assert_true(r.result.verified_by_ram_crc);
    assert_false(r.result.started);
    assert_int_equal(blsim_get_state(r.sim), BLSIM_STATE_COMMANDS);
    rig_close(&r);
    container_free(&m);
}

static void test_power_loss_during_the_ram_crc_step_converges(void **state)
{
    (void)state;
    mem_container m;
    pack_one(&m, 12 * 1024 + 100, DEFAULT_FLAGS, 63);
    mem_source src;
    rig r;
    for (int pins = 1; pins >= 0; pins--) {
        source_init(&src, &m, 0);
        rig_open(&r, "f103md", 64, NULL, false);
        if (!pins) {
            rig_without_pins(&r);
        }
        assert_int_equal(rig_run(&r, &src), STM32ISP_OK);
        assert_true(r.result.verified_by_ram_crc);
        uint32_t from = r.sent_at_verify, to = r.port.sent, go = r.port.sent_at_go;
        uint64_t from_rx = r.received_at_verify, to_rx = blsim_get_stats(r.sim)->bytes_to_target;
        rig_close(&r);
        /* Without reset lines a cut in the middle of loading the program
         * leaves the bootloader inside a Write Memory frame, which a plain
         * sync cannot complete (as for any frame cut short there): from
         * the Go on, every point; and once the application runs, nothing
         * brings such a target back, so the last byte is not a point. */
        if (!pins) {
            from = go;
        }
        assert_true(to > from);

        campaign master = {0}, target = {0};
        for (uint32_t n = from; n < to; n += pins ? 3 : 1) {
            rig_open(&r, "f103md", 64, NULL, false);
            if (!pins) {
                rig_without_pins(&r);
            }
            r.port.budget = n;
            source_init(&src, &m, 0);
            rerun_must_converge(&r, &m, &master, rig_run(&r, &src));
            rig_close(&r);
        }
        for (uint64_t n = from_rx; pins && n <= to_rx; n += 3) {
            blsim_faults faults = {.seed = n, .reset_after_byte = (uint32_t)n};
            rig_open(&r, "f103md", 64, &faults, false);
            source_init(&src, &m, 0);
            rerun_must_converge(&r, &m, &target, rig_run(&r, &src));
            rig_close(&r);
        }
        report(pins ? "master, in the RAM CRC step" : "master, RAM CRC step, no pins", &master);
        assert_true(master.first_run_failed > 0);
        if (pins) {
            report("target reset in the RAM CRC step", &target);
            assert_true(target.points > 100);
        }
    }
    container_free(&m);
}

/* ------------------------------------------------------------------------- */
/* The wait between NRST and the first 0x7F                                   */

/*
 * A board whose NRST rises slowly: for `rise_ms` after the master lets the
 * line go, the target is not yet out of reset, and a byte whose start bit
 * meets it then is measured wrong by the ROM's autobaud (the model is given
 * a 0x00 in its place), after which it is deaf until the next reset. The
 * port notes, for every release of NRST, how long the master waited before
 * its first byte.
 */
typedef struct slow_nrst_port {
    sim_port inner;
    uint32_t rise_ms;
    uint32_t released_at_ms;
    bool waiting_for_first_byte;
    uint32_t waits[16]; /* ms from each NRST release to the next byte */
    unsigned wait_count;
} slow_nrst_port;

static int sn_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    slow_nrst_port *p = ctx;
    return sim_port_ops_with_pins.read(&p->inner, buf, len, timeout_ms);
}

static uint32_t sn_now_ms(void *ctx)
{
    slow_nrst_port *p = ctx;
    return sim_port_ops_with_pins.now_ms(&p->inner);
}

static int sn_write(void *ctx, const uint8_t *buf, size_t len)
{
    slow_nrst_port *p = ctx;
    uint32_t since = sn_now_ms(p) - p->released_at_ms;
    if (p->waiting_for_first_byte) {
        p->waiting_for_first_byte = false;
        assert_true(p->wait_count < 16);
        p->waits[p->wait_count++] = since;
    }
    if (len > 0 && since < p->rise_ms) {
        const uint8_t garbled = 0x00;
        sim_port_ops_with_pins.write(&p->inner, &garbled, 1);
        buf++;
        len--;
    }
    return len > 0 ? sim_port_ops_with_pins.write(&p->inner, buf, len) : 0;
}

static void sn_delay_ms(void *ctx, uint32_t ms)
{
    slow_nrst_port *p = ctx;
    sim_port_ops_with_pins.delay_ms(&p->inner, ms);
}

static int sn_set_boot0(void *ctx, bool high)
{
    slow_nrst_port *p = ctx;
    return sim_port_ops_with_pins.set_boot0(&p->inner, high);
}

static int sn_set_reset(void *ctx, bool asserted)
{
    slow_nrst_port *p = ctx;
    if (!asserted) {
        p->released_at_ms = sn_now_ms(p);
        p->waiting_for_first_byte = true;
    }
    return sim_port_ops_with_pins.set_reset(&p->inner, asserted);
}

static const stm32isp_port_ops slow_nrst_ops = {
    .read = sn_read,
    .write = sn_write,
    .now_ms = sn_now_ms,
    .delay_ms = sn_delay_ms,
    .set_boot0 = sn_set_boot0,
    .set_reset = sn_set_reset,
};

/* Runs the job against an f103md whose NRST takes `rise_ms` to rise. */
static stm32isp_err run_with_slow_nrst(slow_nrst_port *port, uint32_t rise_ms,
                                       const stm32isp_config *client, stm32isp_job_result *result)
{
    mem_container m;
    pack_one(&m, 2048, DEFAULT_FLAGS, 21);
    mem_source src;
    source_init(&src, &m, 0);
    rig r;
    rig_open(&r, "f103md", 64, NULL, false);
    memset(port, 0, sizeof *port);
    port->inner.sim = r.sim;
    port->rise_ms = rise_ms;
    stm32isp_job_config cfg = {
        .ops = &slow_nrst_ops, .port = port, .client = client, .source = &src.source};
    stm32isp_err err = stm32isp_job_run(&r.job, &cfg, result);
    if (err == STM32ISP_OK) {
        assert_true(target_holds(r.sim, &m));
    }
    rig_close(&r);
    container_free(&m);
    return err;
}

/* What the master waited after each NRST release, against the schedule:
 * at least the step, and no more than the drain of stale input after it
 * (10 ms, twice before the very first 0x7F). */
static void assert_waits(const slow_nrst_port *port, const uint32_t *want, unsigned count)
{
    assert_true(port->wait_count >= count);
    for (unsigned i = 0; i < count; i++) {
        if (port->waits[i] < want[i] || port->waits[i] > want[i] + 25u) {
            fail_msg("reset %u: %u ms before the first 0x7F, the schedule says %u", i,
                     port->waits[i], want[i]);
        }
    }
}

static void test_the_wait_before_0x7f_grows_until_a_slow_nrst_is_met(void **state)
{
    (void)state;
    /* NRST takes 120 ms to rise: the 20 and 50 ms waits send into the
     * reset, the 150 ms wait is the first to reach the bootloader. */
    slow_nrst_port port;
    stm32isp_job_result result;
    assert_int_equal(run_with_slow_nrst(&port, 120, NULL, &result), STM32ISP_OK);
    const uint32_t want[] = {20, 50, 150};
    assert_waits(&port, want, 3);
    assert_int_equal(result.link.resets, 4); /* three into the bootloader, one to start */
}

static void test_the_wait_schedule_without_an_answer_and_its_floor(void **state)
{
    (void)state;
    /* No answer at all: every attempt the client makes, each longer. */
    slow_nrst_port port;
    stm32isp_job_result result;
    stm32isp_config six = {.sync_attempts = 6};
    assert_int_equal(run_with_slow_nrst(&port, UINT32_MAX, &six, &result), STM32ISP_ERR_NO_SYNC);
    const uint32_t want[] = {20, 50, 150, 300, 300, 300};
    assert_int_equal(port.wait_count, 6);
    assert_waits(&port, want, 6);
    assert_false(result.target_modified);

    /* The configured wait is a floor under the schedule, not a replacement. */
    stm32isp_config floor = {.boot_wait_ms = 100};
    assert_int_equal(run_with_slow_nrst(&port, UINT32_MAX, &floor, &result), STM32ISP_ERR_NO_SYNC);
    const uint32_t floored[] = {100, 100, 150, 300};
    assert_int_equal(port.wait_count, 4);
    assert_waits(&port, floored, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_device_gets_the_image_and_starts_it),
        cmocka_unit_test(test_progress_reports_every_phase_in_order),
        cmocka_unit_test(test_options_no_verify_no_start),
        cmocka_unit_test(test_reprogramming_and_idempotence),
        cmocka_unit_test(test_every_damaged_header_byte_is_refused_untouched),
        cmocka_unit_test(test_damaged_payload_truncation_and_blank_are_refused_untouched),
        cmocka_unit_test(test_wrong_part_or_too_large_is_refused_before_erase),
        cmocka_unit_test(test_readout_protected_target_is_refused_unless_the_image_says),
        cmocka_unit_test(test_eeprom_bit_error_while_programming_is_caught),
        cmocka_unit_test(test_master_power_loss_at_every_nth_byte_and_call),
        cmocka_unit_test(test_target_reset_at_every_nth_byte_and_command),
        cmocka_unit_test(test_eeprom_read_error_at_every_read),
        cmocka_unit_test(test_ram_crc_verifies_f1_parts_and_reads_back_the_others),
        cmocka_unit_test(test_ram_crc_catches_a_wrong_flash_byte),
        cmocka_unit_test(test_ram_crc_then_protect_or_start_without_pins),
        cmocka_unit_test(test_power_loss_during_the_ram_crc_step_converges),
        cmocka_unit_test(test_the_wait_before_0x7f_grows_until_a_slow_nrst_is_met),
        cmocka_unit_test(test_the_wait_schedule_without_an_answer_and_its_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

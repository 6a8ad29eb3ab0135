/*
 * Fuzzes the 24Cxx EEPROM driver (lib/src/eeprom.c) against the EEPROM
 * model (sim/eeprom), and the model's own handling of raw I2C transfers.
 *
 * Input: three configuration bytes, then operations.
 *   cfg[0] the part (modulo the table); bit 7: the driver looks for the part
 *          at another device address than it has
 *   cfg[1] bit 0 WP high, bit 1 slow write cycles, bit 2 a write cycle that
 *          never ends, bit 3 read bit flips, bits 4-6 one counted fault
 *          (none, address NACK, data NACK, bus error, power loss)
 *   cfg[2] the counted fault's position (1-based), and the flips' seed
 *   op 0x00-0x3F  driver write: 3 offset bytes, 1 data seed byte
 *   op 0x40-0x7F  driver read: 3 offset bytes
 *   op 0x80-0x9F  raw write: device address, then (op & 0x1F) data bytes
 *   op 0xA0-0xBF  raw write-read: device address, (op & 3) word bytes,
 *                 reading ((op >> 2) & 7) + 1 bytes
 *   op 0xC0-0xCF  raw current-address read of (op & 0xF) + 1 bytes
 *   op 0xD0-0xDF  WP pin: op & 1
 *   op 0xE0-0xEE  power on again, then idle (op & 0xF) ms
 *   op 0xEF       look a part name up: a length byte (at most 15), the name
 *   op 0xF0-0xFF  driver probe
 * Offsets run a little past the part's end, so range checks are tried too.
 *
 * With no fault configured and WP low, a driver write must succeed, change
 * exactly its bytes, and a driver read must return what the array holds.
 */
#include "eesim/eesim.h"
#include "stm32isp/eeprom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_eeprom: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_LEN 700u /* longer than the largest page, shorter than a 24C08 */
/* Bounds on one driver call: far above a page write's polling, crossing
 * them means a wait without an end. */
#define MAX_CALL_NS        (2ull * 1000000000ull)
#define MAX_CALL_TRANSFERS 200000u

typedef struct run {
    eesim *sim;
    stm32isp_eeprom ee;
    uint32_t size;
    bool faulty; /* any fault that may make a driver call fail legitimately */
    bool wp;
    uint8_t *before; /* the array before a driver write */
} run;

static size_t part_count(void)
{
    size_t n = 0;
    while (stm32isp_eeprom_part_at(n) != NULL) {
        n++;
    }
    return n;
}

static bool valid_err(stm32isp_err err)
{
    return (int)err >= 0 && err < STM32ISP_ERR__COUNT;
}

/* Measures one driver call in virtual time and transfers. */
typedef struct call_bound {
    uint64_t ns, transfers;
} call_bound;

static call_bound bound_start(const run *r)
{
    return (call_bound){eesim_now_ns(r->sim), eesim_get_stats(r->sim)->transfers};
}

static void bound_check(const run *r, call_bound b)
{
    CHECK(eesim_now_ns(r->sim) - b.ns <= MAX_CALL_NS);
    CHECK(eesim_get_stats(r->sim)->transfers - b.transfers <= MAX_CALL_TRANSFERS);
}

static void driver_write(run *r, uint32_t offset, uint32_t len, uint8_t seed)
{
    uint8_t buf[MAX_LEN];
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 31u);
    }
    bool in_range = offset <= r->size && len <= r->size - offset;
    memcpy(r->before, eesim_memory(r->sim), r->size);
    call_bound b = bound_start(r);
    stm32isp_err err = stm32isp_eeprom_write(&r->ee, offset, buf, len);
    bound_check(r, b);
    CHECK(valid_err(err));
    const uint8_t *mem = eesim_memory(r->sim);
    if (!in_range) {
        CHECK(err == STM32ISP_ERR_INVALID_ARG);
        CHECK(memcmp(mem, r->before, r->size) == 0);
        return;
    }
    if (r->faulty) {
        return;
    }
    if (r->wp) {
        CHECK(err == STM32ISP_ERR_EEPROM_NACK);
        CHECK(memcmp(mem, r->before, r->size) == 0);
        return;
    }
    CHECK(err == STM32ISP_OK);
    /* Exactly the bytes written changed: nothing wrapped inside a page. */
    CHECK(memcmp(mem + offset, buf, len) == 0);
    CHECK(memcmp(mem, r->before, offset) == 0);
    CHECK(memcmp(mem + offset + len, r->before + offset + len, r->size - offset - len) == 0);
}

static void driver_read(run *r, uint32_t offset, uint32_t len)
{
    uint8_t *buf = malloc(len + 1); /* exact size: ASan sees an overrun */
    CHECK(buf != NULL);
    bool in_range = offset <= r->size && len <= r->size - offset;
    call_bound b = bound_start(r);
    stm32isp_err err = stm32isp_eeprom_read(&r->ee, offset, buf, len);
    bound_check(r, b);
    CHECK(valid_err(err));
    if (!in_range) {
        CHECK(err == STM32ISP_ERR_INVALID_ARG);
    } else if (!r->faulty) {
        CHECK(err == STM32ISP_OK);
        CHECK(memcmp(buf, eesim_memory(r->sim) + offset, len) == 0);
    }
    free(buf);
}

/* The driver's lookup of a user's part name ("AT24C256", "24lc16b" ...):
 * what it finds is a part it finds again by its canonical name, and the
 * model, whose table is written apart, agrees on its geometry. */
static void check_part_name(const char *text, size_t n)
{
    char name[16];
    memcpy(name, text, n);
    name[n] = '\0';
    const stm32isp_eeprom_part *p = stm32isp_eeprom_part_find(name);
    if (p == NULL) {
        return;
    }
    CHECK(stm32isp_eeprom_part_find(p->name) == p);
    const stm32isp_eeprom_part *m = eesim_part_find(p->name);
    CHECK(m != NULL && m->size == p->size && m->page_size == p->page_size);
    CHECK(m->address_bytes == p->address_bytes && m->block_bits == p->block_bits);
}

static uint32_t get24(const uint8_t *p, size_t left)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 3; i++) {
        v = v << 8 | (i < left ? p[i] : 0);
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t parts;
    if (parts == 0) {
        parts = part_count();
        CHECK(parts > 0);
    }
    if (size < 3) {
        return 0;
    }
    const stm32isp_eeprom_part *part = stm32isp_eeprom_part_at((data[0] & 0x7Fu) % parts);
    CHECK(part != NULL);
    const stm32isp_eeprom_part *model_part = eesim_part_find(part->name);
    CHECK(model_part != NULL);

    eesim_config cfg = {.part = model_part, .base_address = 0x50};
    unsigned f = data[1];
    cfg.faults.write_protect = (f & 1) != 0;
    cfg.faults.slow = (f & 2) != 0;
    cfg.faults.stuck = (f & 4) != 0;
    cfg.faults.bit_flip_rate = (f & 8) != 0 ? 1e-3 : 0.0;
    cfg.faults.seed = data[2];
    uint32_t at_n = (uint32_t)data[2] + 1u;
    switch ((f >> 4) & 7) {
    case 1:
        cfg.faults.nack_addr_at = at_n;
        break;
    case 2:
        cfg.faults.nack_data_at = at_n;
        break;
    case 3:
        cfg.faults.bus_error_at = at_n;
        break;
    case 4:
        cfg.faults.power_loss_at = at_n;
        break;
    default:
        break;
    }
    run r = {.sim = eesim_new(&cfg)};
    CHECK(r.sim != NULL);
    r.size = (uint32_t)eesim_size(r.sim);
    CHECK(r.size == part->size);
    r.before = malloc(r.size);
    CHECK(r.before != NULL);
    bool elsewhere = (data[0] & 0x80) != 0;
    r.faulty = elsewhere || (f & 0x7E) != 0;
    r.wp = cfg.faults.write_protect;
    /* Seen from an address no part answers, every transfer is NACKed. */
    stm32isp_eeprom_init(&r.ee, &eesim_i2c_ops, r.sim, part, elsewhere ? 0x27 : 0x50);

    uint8_t buf[64];
    for (size_t at = 3; at < size;) {
        uint8_t op = data[at++];
        size_t left = size - at;
        if (op < 0x80) {
            /* Lengths from 1 to MAX_LEN, offsets up to 16 bytes past the end. */
            uint32_t len = 1u + (uint32_t)(op & 0x3Fu) * (MAX_LEN - 1u) / 0x3Fu;
            uint32_t offset = get24(data + at, left) % (r.size + 16u);
            at += left < 3 ? left : 3;
            if (op < 0x40) {
                uint8_t seed = at < size ? data[at++] : 0;
                driver_write(&r, offset, len, seed);
            } else {
                driver_read(&r, offset, len);
            }
        } else if (op < 0xC0) {
            uint8_t address = at < size ? data[at++] : 0x50;
            left = size - at;
            if (op < 0xA0) {
                size_t n = (size_t)(op & 0x1F) < left ? (size_t)(op & 0x1F) : left;
                int rc = eesim_write(r.sim, address, data + at, n);
                CHECK(rc >= -1 && rc <= 2);
                at += n;
            } else {
                size_t wlen = (size_t)(op & 3) < left ? (size_t)(op & 3) : left;
                size_t rlen = ((size_t)(op >> 2) & 7) + 1;
                int rc = eesim_write_read(r.sim, address, data + at, wlen, buf, rlen);
                CHECK(rc >= -1 && rc <= 2);
                at += wlen;
            }
            CHECK(eesim_pointer(r.sim) < r.size);
        } else if (op < 0xD0) {
            uint8_t address = at < size ? data[at++] : 0x50;
            int rc = eesim_read(r.sim, address, buf, (size_t)(op & 0xF) + 1);
            CHECK(rc >= -1 && rc <= 2);
        } else if (op < 0xE0) {
            eesim_set_write_protect(r.sim, (op & 1) != 0);
            r.wp = (op & 1) != 0;
        } else if (op == 0xEF) {
            size_t n = at < size ? data[at++] % 16u : 0;
            n = n < size - at ? n : size - at;
            check_part_name((const char *)data + at, n);
            at += n;
        } else if (op < 0xF0) {
            eesim_power_on(r.sim);
            eesim_idle_us(r.sim, (uint64_t)(op & 0xF) * 1000u);
        } else {
            call_bound b = bound_start(&r);
            stm32isp_err err = stm32isp_eeprom_probe(&r.ee);
            bound_check(&r, b);
            CHECK(valid_err(err));
            CHECK(r.faulty || err == STM32ISP_OK);
        }
    }
    free(r.before);
    eesim_free(r.sim);
    return 0;
}

/* The 24Cxx EEPROM model: see eesim.h for what it does and docs/eeprom.md. */
#define _POSIX_C_SOURCE 200809L

#include "eesim/eesim.h"

#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_BASE     0x50u
#define DEFAULT_CYCLE_US 3500u
#define DEFAULT_BUS_HZ   400000u
#define MAX_PAGE         256u

/* The model's own part table (see eesim.h for why it is not the driver's),
 * from the vendors' datasheets: name, bytes, page bytes, word address bytes,
 * block-select bits, write cycle maximum in ms. */
#define PART(n, bytes, page, words, blocks, ms)                                                    \
    {                                                                                              \
        .name = (n), .size = (bytes), .page_size = (page), .address_bytes = (words),               \
        .block_bits = (blocks), .write_cycle_ms_max = (ms)                                         \
    }

static const stm32isp_eeprom_part model_parts[] = {
    PART("24c01", 128, 8, 1, 0, 5),      PART("24c02", 256, 8, 1, 0, 5),
    PART("24c04", 512, 16, 1, 1, 5),     PART("24c08", 1024, 16, 1, 2, 5),
    PART("24c16", 2048, 16, 1, 3, 5),    PART("24c32", 4096, 32, 2, 0, 5),
    PART("24c64", 8192, 32, 2, 0, 5),    PART("24c128", 16384, 64, 2, 0, 5),
    PART("24c256", 32768, 64, 2, 0, 5),  PART("24c512", 65536, 128, 2, 0, 5),
    PART("24m01", 131072, 256, 2, 1, 5), PART("24m02", 262144, 256, 2, 2, 10),
};

#define MODEL_PART_COUNT (sizeof model_parts / sizeof model_parts[0])

const stm32isp_eeprom_part *eesim_part_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < MODEL_PART_COUNT; i++) {
        if (strcasecmp(model_parts[i].name, name) == 0) {
            return &model_parts[i];
        }
    }
    return NULL;
}

const stm32isp_eeprom_part *eesim_part_at(size_t index)
{
    return index < MODEL_PART_COUNT ? &model_parts[index] : NULL;
}

/* ------------------------------------------------------------------------- */

struct eesim {
    stm32isp_eeprom_part part;
    uint8_t base;
    uint8_t block_mask;
    uint64_t cycle_ns;
    uint64_t bit_ns;
    eesim_faults faults;
    uint64_t rng;

    uint8_t *mem;
    uint64_t now_ns;
    uint64_t busy_until_ns;
    bool stuck_armed;
    bool powered;
    bool wp;
    uint32_t pointer;
    uint64_t data_bytes; /* data bytes received, for the byte-counted faults */

    /* Where the transfer in progress is (core.h's steps move it). */
    enum {
        PHASE_IDLE,     /* no transfer: after a STOP */
        PHASE_ADDRESS,  /* after a START, the address byte is next */
        PHASE_WORD,     /* after address+W: word address bytes */
        PHASE_DATA_IN,  /* the word address is complete: data to the page buffer */
        PHASE_DATA_OUT, /* after address+R: the part sends */
        PHASE_IGNORE,   /* a NACK or an abort: deaf until START or STOP */
    } phase;
    uint8_t address;    /* the 7-bit address acknowledged (its block bits) */
    uint32_t word;      /* the word address so far */
    uint8_t word_bytes; /* and how many of its bytes came */

    /* The page buffer of the write in progress. */
    uint32_t page_base;
    uint32_t column;
    uint8_t page[MAX_PAGE];
    bool loaded[MAX_PAGE];
    uint32_t loaded_count;

    eesim_stats stats;
};

static bool power_of_two(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static bool geometry_ok(const stm32isp_eeprom_part *p)
{
    if (p == NULL || p->address_bytes < 1 || p->address_bytes > 2 || p->block_bits > 3 ||
        !power_of_two(p->size) || !power_of_two(p->page_size) || p->page_size > MAX_PAGE ||
        p->page_size > p->size) {
        return false;
    }
    /* The word address and the block bits must reach every byte. */
    unsigned bits = 8u * p->address_bytes + p->block_bits;
    return (uint64_t)p->size <= (1ull << bits);
}

eesim *eesim_new(const eesim_config *config)
{
    if (config == NULL || !geometry_ok(config->part)) {
        return NULL;
    }
    eesim *sim = calloc(1, sizeof *sim);
    if (sim == NULL) {
        return NULL;
    }
    sim->mem = malloc(config->part->size);
    if (sim->mem == NULL) {
        free(sim);
        return NULL;
    }
    memset(sim->mem, 0xFF, config->part->size);
    sim->part = *config->part;
    sim->block_mask = (uint8_t)((1u << sim->part.block_bits) - 1u);
    sim->base =
        (uint8_t)((config->base_address != 0 ? config->base_address : DEFAULT_BASE) & 0x7Fu);
    sim->faults = config->faults;
    uint64_t cycle_us = config->write_cycle_us != 0 ? config->write_cycle_us : DEFAULT_CYCLE_US;
    if (config->faults.slow) {
        cycle_us = (uint64_t)sim->part.write_cycle_ms_max * 1000u;
    }
    sim->cycle_ns = cycle_us * 1000u;
    uint32_t hz = config->bus_hz != 0 ? config->bus_hz : DEFAULT_BUS_HZ;
    sim->bit_ns = (1000000000ull + hz - 1) / hz;
    sim->rng = config->faults.seed;
    sim->wp = config->faults.write_protect;
    sim->stuck_armed = config->faults.stuck;
    sim->powered = true;
    return sim;
}

void eesim_free(eesim *sim)
{
    if (sim != NULL) {
        free(sim->mem);
        free(sim);
    }
}

/* ------------------------------------------------------------------------- */
/* Random numbers for bit flips                                              */

static uint64_t rng_next(eesim *sim)
{
    /* splitmix64: small, seedable, and the same sequence on every host. */
    uint64_t z = (sim->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool chance(eesim *sim, double probability)
{
    return (double)(rng_next(sim) >> 11) * (1.0 / 9007199254740992.0) < probability;
}

static uint8_t on_the_wire(eesim *sim, uint8_t byte)
{
    if (sim->faults.bit_flip_rate <= 0.0) {
        return byte;
    }
    for (unsigned bit = 0; bit < 8; bit++) {
        if (chance(sim, sim->faults.bit_flip_rate)) {
            byte ^= (uint8_t)(1u << bit);
            sim->stats.faults_bit_flips++;
        }
    }
    return byte;
}

/* ------------------------------------------------------------------------- */
/* The byte-level steps (core.h), shared by both front ends                  */

static bool own_address(const eesim *sim, uint8_t address)
{
    return (address & 0x7Fu & (uint8_t)~sim->block_mask) == (sim->base & (uint8_t)~sim->block_mask);
}

static void drop_page_buffer(eesim *sim)
{
    memset(sim->loaded, 0, sizeof sim->loaded);
    sim->loaded_count = 0;
}

void eesim_core_start(eesim *sim)
{
    bool engaged =
        sim->phase == PHASE_WORD || sim->phase == PHASE_DATA_IN || sim->phase == PHASE_DATA_OUT;
    if (!engaged) {
        /* A START the part is not following a transfer through opens a new
         * one: polls made of repeated STARTs after a NACK count, as the
         * faults' "Nth transfer (polls included)" needs. */
        sim->stats.transfers++;
    }
    drop_page_buffer(sim);
    sim->phase = PHASE_ADDRESS;
}

int eesim_core_address(eesim *sim, uint8_t byte)
{
    if (sim->phase != PHASE_ADDRESS) {
        sim->phase = PHASE_IGNORE;
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    uint8_t address = byte >> 1;
    sim->phase = PHASE_IGNORE;
    /* The transfer-counted faults act on the transfer's first address: a
     * second one (after the repeated START of a random read) only comes
     * when the first was acknowledged, so it is never the faulted one. */
    if (sim->faults.bus_error_at != 0 && sim->stats.transfers == sim->faults.bus_error_at) {
        sim->stats.faults_bus_errors++;
        return STM32ISP_I2C_BUS_ERROR;
    }
    if (sim->faults.nack_addr_at != 0 && sim->stats.transfers == sim->faults.nack_addr_at) {
        sim->stats.faults_nack_addr++;
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    if (!sim->powered) {
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    if (!own_address(sim, address)) {
        sim->stats.foreign_nacks++;
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    if (sim->now_ns < sim->busy_until_ns) {
        sim->stats.busy_nacks++;
        return STM32ISP_I2C_NACK_ADDRESS;
    }
    sim->address = address;
    if (byte & 1u) {
        sim->phase = PHASE_DATA_OUT;
    } else {
        sim->phase = PHASE_WORD;
        sim->word = 0;
        sim->word_bytes = 0;
        drop_page_buffer(sim);
    }
    return STM32ISP_I2C_OK;
}

/* The word address is complete: the pointer moves, a new page buffer opens. */
static void set_pointer(eesim *sim)
{
    uint32_t block = sim->address & sim->block_mask;
    uint32_t full = (block << (8u * sim->part.address_bytes)) | sim->word;
    sim->pointer = full & (sim->part.size - 1u);
    sim->page_base = sim->pointer & ~(uint32_t)(sim->part.page_size - 1u);
    sim->column = sim->pointer - sim->page_base;
    drop_page_buffer(sim);
}

/* A data byte refused: the transfer ends there and its page buffer with it. */
static int refuse_data(eesim *sim)
{
    drop_page_buffer(sim);
    sim->phase = PHASE_IGNORE;
    return STM32ISP_I2C_NACK_DATA;
}

int eesim_core_write_byte(eesim *sim, uint8_t byte)
{
    if (sim->phase == PHASE_WORD) {
        /* A partial word address sets nothing: the pointer moves only once
         * it is complete. */
        sim->word = (sim->word << 8) | byte;
        if (++sim->word_bytes == sim->part.address_bytes) {
            set_pointer(sim);
            sim->phase = PHASE_DATA_IN;
        }
        return STM32ISP_I2C_OK;
    }
    if (sim->phase != PHASE_DATA_IN) {
        return refuse_data(sim);
    }
    sim->data_bytes++;
    if (sim->faults.power_loss_at != 0 && sim->data_bytes == sim->faults.power_loss_at) {
        sim->stats.power_losses++;
        sim->powered = false;
        return refuse_data(sim);
    }
    if (sim->faults.nack_data_at != 0 && sim->data_bytes == sim->faults.nack_data_at) {
        sim->stats.faults_nack_data++;
        return refuse_data(sim);
    }
    if (sim->wp) {
        sim->stats.wp_refusals++;
        return refuse_data(sim);
    }
    /* The column wraps inside the page: the datasheets' roll-over. */
    sim->page[sim->column] = byte;
    if (!sim->loaded[sim->column]) {
        sim->loaded[sim->column] = true;
        sim->loaded_count++;
    }
    sim->column = (sim->column + 1u) % sim->part.page_size;
    return STM32ISP_I2C_OK;
}

uint8_t eesim_core_read_byte(eesim *sim)
{
    uint8_t byte = on_the_wire(sim, sim->mem[sim->pointer]);
    sim->pointer = (sim->pointer + 1u) & (sim->part.size - 1u);
    sim->stats.bytes_read++;
    return byte;
}

bool eesim_core_master_ack(eesim *sim, bool ack)
{
    if (!ack || sim->phase != PHASE_DATA_OUT) {
        sim->phase = PHASE_IGNORE;
        return false;
    }
    return true;
}

void eesim_core_abort(eesim *sim)
{
    drop_page_buffer(sim);
    sim->phase = PHASE_IGNORE;
}

/* STOP after a write: a loaded page buffer goes to the array and the write
 * cycle starts. */
static void commit(eesim *sim)
{
    if (sim->loaded_count == 0) {
        return;
    }
    for (uint32_t c = 0; c < sim->part.page_size; c++) {
        if (sim->loaded[c]) {
            sim->mem[sim->page_base + c] = sim->page[c];
        }
    }
    sim->stats.bytes_written += sim->loaded_count;
    sim->stats.page_writes++;
    sim->pointer = sim->page_base + sim->column;
    sim->busy_until_ns = sim->now_ns + sim->cycle_ns;
    if (sim->stuck_armed) {
        sim->busy_until_ns = UINT64_MAX;
        sim->stuck_armed = false;
    }
    drop_page_buffer(sim);
}

void eesim_core_stop(eesim *sim)
{
    if (sim->phase == PHASE_DATA_IN) {
        commit(sim);
    }
    drop_page_buffer(sim);
    sim->phase = PHASE_IDLE;
}

/* ------------------------------------------------------------------------- */
/* The transfer-level front end: the steps above, each charged its bit times */

static void spend_bits(eesim *sim, uint64_t bits)
{
    sim->now_ns += bits * sim->bit_ns;
}

/* START and the address byte with its ACK bit. A NACKed address ends the
 * transfer with a STOP; a bus error ends it on the spot. */
static int transfer_start(eesim *sim, uint8_t address, bool read)
{
    eesim_core_start(sim);
    spend_bits(sim, 1 + 9);
    int result = eesim_core_address(sim, (uint8_t)((address & 0x7Fu) << 1 | (read ? 1u : 0u)));
    if (result == STM32ISP_I2C_NACK_ADDRESS) {
        spend_bits(sim, 1);
    }
    if (result != STM32ISP_I2C_OK) {
        eesim_core_stop(sim);
    }
    return result;
}

/* Bytes after address+W, each with its ACK bit, until one is NACKed. */
static int send_bytes(eesim *sim, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        spend_bits(sim, 9);
        int result = eesim_core_write_byte(sim, data[i]);
        if (result != STM32ISP_I2C_OK) {
            return result;
        }
    }
    return STM32ISP_I2C_OK;
}

/* rlen bytes after address+R, each ACKed by the master but the last, then
 * STOP. */
static void receive_bytes(eesim *sim, uint8_t *rdata, size_t rlen)
{
    for (size_t i = 0; i < rlen; i++) {
        spend_bits(sim, 9);
        rdata[i] = eesim_core_read_byte(sim);
        eesim_core_master_ack(sim, i + 1 < rlen);
    }
    spend_bits(sim, 1); /* STOP */
    eesim_core_stop(sim);
}

int eesim_write(eesim *sim, uint8_t address, const uint8_t *data, size_t len)
{
    int result = transfer_start(sim, address, false);
    if (result != STM32ISP_I2C_OK) {
        return result;
    }
    result = send_bytes(sim, data, len);
    spend_bits(sim, 1); /* STOP: commits unless a byte was refused */
    eesim_core_stop(sim);
    return result;
}

int eesim_write_read(eesim *sim, uint8_t address, const uint8_t *wdata, size_t wlen, uint8_t *rdata,
                     size_t rlen)
{
    int result = transfer_start(sim, address, false);
    if (result != STM32ISP_I2C_OK) {
        return result;
    }
    result = send_bytes(sim, wdata, wlen);
    if (result != STM32ISP_I2C_OK) {
        spend_bits(sim, 1); /* STOP */
        eesim_core_stop(sim);
        return result;
    }
    /* The repeated START drops whatever data followed the word address:
     * only a STOP commits. */
    eesim_core_start(sim);
    spend_bits(sim, 1 + 9); /* repeated START, address+R */
    result = eesim_core_address(sim, (uint8_t)((address & 0x7Fu) << 1 | 1u));
    if (result != STM32ISP_I2C_OK) {
        spend_bits(sim, 1);
        eesim_core_stop(sim);
        return result;
    }
    receive_bytes(sim, rdata, rlen);
    return STM32ISP_I2C_OK;
}

int eesim_read(eesim *sim, uint8_t address, uint8_t *rdata, size_t rlen)
{
    int result = transfer_start(sim, address, true);
    if (result == STM32ISP_I2C_OK) {
        receive_bytes(sim, rdata, rlen);
    }
    return result;
}

/* ------------------------------------------------------------------------- */
/* Ops table                                                                 */

static int ops_write(void *ctx, uint8_t address, const uint8_t *data, size_t len)
{
    return eesim_write(ctx, address, data, len);
}

static int ops_write_read(void *ctx, uint8_t address, const uint8_t *wdata, size_t wlen,
                          uint8_t *rdata, size_t rlen)
{
    return eesim_write_read(ctx, address, wdata, wlen, rdata, rlen);
}

static uint32_t ops_now_ms(void *ctx)
{
    const eesim *sim = ctx;
    return (uint32_t)(sim->now_ns / 1000000u);
}

static void ops_delay_ms(void *ctx, uint32_t ms)
{
    eesim_idle_us(ctx, (uint64_t)ms * 1000u);
}

const stm32isp_i2c_ops eesim_i2c_ops = {
    .write = ops_write,
    .write_read = ops_write_read,
    .now_ms = ops_now_ms,
    .delay_ms = ops_delay_ms,
};

/* ------------------------------------------------------------------------- */
/* Time, pins, state                                                         */

void eesim_idle_us(eesim *sim, uint64_t us)
{
    sim->now_ns += us * 1000u;
}

void eesim_advance_to_ns(eesim *sim, uint64_t t_ns)
{
    if (t_ns > sim->now_ns) {
        sim->now_ns = t_ns;
    }
}

uint64_t eesim_now_ns(const eesim *sim)
{
    return sim->now_ns;
}

void eesim_set_write_protect(eesim *sim, bool high)
{
    sim->wp = high;
}

bool eesim_busy(const eesim *sim)
{
    return sim->powered && sim->now_ns < sim->busy_until_ns;
}

bool eesim_powered(const eesim *sim)
{
    return sim->powered;
}

void eesim_power_on(eesim *sim)
{
    sim->powered = true;
    sim->busy_until_ns = 0;
    sim->pointer = 0;
    sim->phase = PHASE_IDLE;
    drop_page_buffer(sim);
}

uint32_t eesim_pointer(const eesim *sim)
{
    return sim->pointer;
}

uint8_t *eesim_memory(eesim *sim)
{
    return sim->mem;
}

size_t eesim_size(const eesim *sim)
{
    return sim->part.size;
}

const stm32isp_eeprom_part *eesim_get_part(const eesim *sim)
{
    return &sim->part;
}

const eesim_stats *eesim_get_stats(const eesim *sim)
{
    return &sim->stats;
}

uint64_t eesim_faults_injected(const eesim *sim)
{
    const eesim_stats *s = &sim->stats;
    return s->faults_nack_addr + s->faults_nack_data + s->faults_bus_errors + s->faults_bit_flips +
           s->wp_refusals + s->power_losses;
}

/* ------------------------------------------------------------------------- */
/* Files                                                                     */

int eesim_load_file(eesim *sim, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_size, "cannot open EEPROM file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t size = sim->part.size;
    uint8_t *buf = malloc(size + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, err_size, "out of memory loading %s", path);
        return -1;
    }
    size_t got = fread(buf, 1, size + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        snprintf(err, err_size, "cannot read EEPROM file %s", path);
        return -1;
    }
    if (got > size) {
        free(buf);
        snprintf(err, err_size,
                 "EEPROM file %s is larger than the %s (%zu bytes): give the right part type", path,
                 sim->part.name, size);
        return -1;
    }
    memset(sim->mem, 0xFF, size);
    memcpy(sim->mem, buf, got);
    free(buf);
    return 0;
}

int eesim_save_file(const eesim *sim, const char *path, char *err, size_t err_size)
{
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (tmp == NULL) {
        snprintf(err, err_size, "out of memory saving %s", path);
        return -1;
    }
    snprintf(tmp, len, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create a temporary file next to %s: %s", path,
                 strerror(errno));
        free(tmp);
        return -1;
    }
    size_t done = 0;
    int e = 0;
    while (done < sim->part.size) {
        ssize_t n = write(fd, sim->mem + done, sim->part.size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    if (e == 0 && fsync(fd) != 0) {
        e = errno;
    }
    if (close(fd) != 0 && e == 0) {
        e = errno;
    }
    if (e == 0 && rename(tmp, path) != 0) {
        e = errno;
    }
    if (e != 0) {
        unlink(tmp);
        snprintf(err, err_size, "cannot write EEPROM file %s: %s", path, strerror(e));
    }
    free(tmp);
    return e == 0 ? 0 : -1;
}

/*
 * eesim: a model of 24Cxx I2C EEPROMs (24C01 up to 24C512, 24M01, 24M02) at
 * the level of I2C transfers, for tests and for `stm32isp sim`.
 *
 * The model is one part on the bus, seen through the two transfers the
 * driver's ops table has (lib/include/stm32isp/eeprom.h): a write
 * (START, address+W, bytes, STOP) and a write-then-read (START, address+W,
 * bytes, repeated START, address+R, bytes, STOP). It behaves as the
 * datasheets describe:
 *
 * - It acknowledges the device addresses base | block bits (the block bits
 *   carry the top of the memory address on 24C04/08/16 and 24M01/02).
 * - The word address bytes (1 or 2) after address+W set the internal
 *   address pointer; the pointer persists between transfers.
 * - Data bytes of a write go into the page buffer at the pointer's column,
 *   and the column wraps inside the page: bytes past the end of a page land
 *   at its start. The page is committed at STOP (not at a repeated START)
 *   and a write cycle starts, during which the part NACKs its address.
 * - Reads run sequentially over the whole array and roll over from the end
 *   of memory to 0.
 * - With the WP pin high, data bytes are NACKed and nothing is written.
 *
 * Time is virtual and deterministic: each transfer advances the clock by its
 * bit times on the bus (400 kHz unless configured: 9 bits per byte with the
 * ACK, one for START, repeated START and STOP), delay_ms by what it asks.
 * Write cycles take write_cycle_us (default 3.5 ms, a typical value).
 *
 * eesim_bus.h puts the same part on the SCL and SDA lines, bit by bit; both
 * levels run the same byte-level steps.
 *
 * Host-side code: it allocates (the memory is sized at creation).
 */
#ifndef EESIM_H
#define EESIM_H

#include "stm32isp/eeprom.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Parts. The model keeps its own table, written apart from the driver's, so
 * that a wrong entry in either is caught by the test that compares them.
 */

/* Canonical names only, case-insensitive: "24c01" ... "24c512", "24m01",
 * "24m02" (the driver's stm32isp_eeprom_part_find() knows the vendors'
 * spellings and returns these names). NULL when unknown. */
const stm32isp_eeprom_part *eesim_part_find(const char *name);
/* Smallest first; NULL past the end. */
const stm32isp_eeprom_part *eesim_part_at(size_t index);

/* ---------------------------------------------------------------------------
 * Faults: seeded and reproducible. Counts are 1-based; 0 disables.
 */
typedef struct eesim_faults {
    uint64_t seed;          /* for bit_flip_rate */
    double bit_flip_rate;   /* probability per bit that a byte read reaches the
                               master with that bit flipped (the array is intact) */
    uint32_t nack_addr_at;  /* the Nth transfer (polls included) has its address
                               NACKed, as by a part that is not there */
    uint32_t nack_data_at;  /* the Nth data byte written is NACKed; the transfer
                               ends and its page buffer is dropped */
    uint32_t bus_error_at;  /* the Nth transfer fails with a bus error and has no
                               effect */
    uint32_t power_loss_at; /* power fails as the Nth data byte arrives: the page
                               buffer is lost, committed pages stay; the part is
                               dead (NACKs) until eesim_power_on() */
    bool write_protect;     /* the WP pin is high from the start */
    bool slow;              /* every write cycle takes the part's maximum */
    bool stuck;             /* the first write cycle never ends: the part NACKs
                               until eesim_power_on() */
} eesim_faults;

/*
 * Parses a spec such as "nack-addr=3,bitflip=1e-4,seed=7" into faults (which
 * the caller zeroes first). Keys: seed=N, bitflip=RATE (0..1), nack-addr=N,
 * nack-data=N, bus-error=N, power-loss=N, wp, slow, stuck.
 * Returns 0, or -1 with a one-line message in err.
 */
int eesim_faults_parse(const char *spec, eesim_faults *faults, char *err, size_t err_size);

/* ---------------------------------------------------------------------------
 * Creating a model
 */
typedef struct eesim_config {
    const stm32isp_eeprom_part *part; /* geometry; required */
    uint8_t base_address;             /* 7-bit address with A2..A0 as wired; 0: 0x50 */
    uint32_t write_cycle_us;          /* 0: 3500 (faults.slow overrides with the maximum) */
    uint32_t bus_hz;                  /* SCL frequency for the clock; 0: 400000 */
    eesim_faults faults;
} eesim_config;

typedef struct eesim eesim;

/* Returns a powered part, memory all 0xFF (erased), pointer at 0; NULL when
 * out of memory or the part's geometry is inconsistent. */
eesim *eesim_new(const eesim_config *config);
void eesim_free(eesim *sim);

/* ---------------------------------------------------------------------------
 * I2C transfers, on the virtual clock. They return STM32ISP_I2C_OK,
 * STM32ISP_I2C_NACK_ADDRESS, STM32ISP_I2C_NACK_DATA or
 * STM32ISP_I2C_BUS_ERROR, as the ops table's functions do.
 */

/* START, address+W, data (len may be 0: an address-only poll), STOP. */
int eesim_write(eesim *sim, uint8_t address, const uint8_t *data, size_t len);
/* START, address+W, wdata, repeated START, address+R, rlen bytes, STOP.
 * wdata of exactly the word address length sets the pointer (a random
 * read); wlen 0 reads from the pointer; a partial word address leaves the
 * pointer as it was. */
int eesim_write_read(eesim *sim, uint8_t address, const uint8_t *wdata, size_t wlen, uint8_t *rdata,
                     size_t rlen);
/* START, address+R, rlen bytes, STOP: a current-address read. */
int eesim_read(eesim *sim, uint8_t address, uint8_t *rdata, size_t rlen);

/* The ops table over the model: ctx is the eesim *. */
extern const stm32isp_i2c_ops eesim_i2c_ops;

/* Lets virtual time pass with no traffic. */
void eesim_idle_us(eesim *sim, uint64_t us);
/* Moves the clock to the absolute time t_ns, for a caller that keeps its
 * own clock (the bit-level front end, eesim_bus.h, follows the bench's).
 * The clock never goes back: a t_ns before now is ignored. */
void eesim_advance_to_ns(eesim *sim, uint64_t t_ns);
uint64_t eesim_now_ns(const eesim *sim);

/* ---------------------------------------------------------------------------
 * Pins, power and state
 */
void eesim_set_write_protect(eesim *sim, bool high);
/* True while a write cycle runs (the part NACKs its address). */
bool eesim_busy(const eesim *sim);
bool eesim_powered(const eesim *sim);
/* Powers the part (back) on: no write cycle, empty page buffer, pointer 0;
 * the array keeps what was committed. */
void eesim_power_on(eesim *sim);
/* The internal address pointer (the next byte a current-address read
 * returns). */
uint32_t eesim_pointer(const eesim *sim);

/* Direct access to the array (no timing, no protection), for loading an
 * image and checking results. */
uint8_t *eesim_memory(eesim *sim);
size_t eesim_size(const eesim *sim);
const stm32isp_eeprom_part *eesim_get_part(const eesim *sim);

/* Loads the array from a file of at most the part's size; bytes past the
 * file's end are 0xFF. Returns 0, or -1 with a one-line message in err. */
int eesim_load_file(eesim *sim, const char *path, char *err, size_t err_size);
/* Saves the whole array through a temporary file renamed over path (path
 * is the old file or the new one, never half written). Returns 0, or -1
 * with a one-line message in err. */
int eesim_save_file(const eesim *sim, const char *path, char *err, size_t err_size);

typedef struct eesim_stats {
    uint64_t transfers;     /* every START: polls, NACKed and failed ones included */
    uint64_t bytes_read;    /* data bytes sent to the master */
    uint64_t bytes_written; /* bytes committed to the array */
    uint64_t page_writes;   /* write cycles started */
    uint64_t busy_nacks;    /* addresses NACKed because a write cycle ran */
    uint64_t foreign_nacks; /* addresses that were not this part's */
    uint64_t faults_nack_addr, faults_nack_data, faults_bus_errors, faults_bit_flips;
    uint64_t wp_refusals; /* data bytes NACKed because WP was high */
    uint64_t power_losses;
} eesim_stats;

const eesim_stats *eesim_get_stats(const eesim *sim);
/* Every fault injected so far, of every kind (WP refusals included). */
uint64_t eesim_faults_injected(const eesim *sim);

#ifdef __cplusplus
}
#endif

#endif /* EESIM_H */

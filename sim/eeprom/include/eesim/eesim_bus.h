/*
 * eesim_bus: the 24Cxx model (eesim.h) at the level of the two I2C lines,
 * for a bench where the real master firmware bit-bangs SCL and SDA (the
 * virtual Blue Pill: PB6 SCL, PB7 SDA, open drain with pull-ups).
 *
 * The bench reports every change of what the master drives, with the time
 * on its own clock; the bus finds the START and STOP conditions, the bits
 * and the bytes in them, runs the part through the same byte-level steps as
 * eesim_write() and friends, and says when the part pulls SDA low. It also
 * checks the master's timing against the datasheets' minimums for the
 * speed class configured, and reports each violation.
 *
 * The lines:
 * - Each line is a wired AND: high only when the master releases it and
 *   no one else pulls it low. The part never stretches SCL, so SCL is the
 *   master's drive; SDA is low while either side pulls it.
 * - The part changes SDA only right after SCL falls: its ACK, or the next
 *   bit of a byte it sends. (A real part's output is valid tAA after the
 *   fall, at most 900 ns in fast mode; a master that keeps SCL low for tLOW
 *   before sampling has covered it, so the model needs no delay of its own.)
 * - START: SDA falls while SCL is high; STOP: SDA rises while SCL is high;
 *   a bit is sampled on the rising edge of SCL, 8 bits and an acknowledge
 *   bit to a byte.
 * - When the master changes both lines in one call, a falling SCL is taken
 *   before the SDA change and a rising SCL after it: the SDA change always
 *   lands while SCL is low (a hold time of 0 at a fall, which is legal; a
 *   setup time of 0 at a rise, which is a tSU;DAT violation).
 * - A START or STOP in the middle of a byte (two or more of its bits
 *   clocked) aborts what the part was doing: the partial byte and the page
 *   buffer are dropped and no write cycle starts, as the ST M24xxx
 *   datasheets state (the write cycle starts only on a STOP right after a
 *   data byte's acknowledge bit) and as the bus-recovery sequence of the
 *   Atmel/Microchip AT24C datasheets relies on (clock until SDA is high,
 *   then START). It is also a timing violation (below).
 *
 * The part's clock follows the bench's: every call moves it to t_ns
 * (eesim_advance_to_ns), so a write cycle started at a STOP ends
 * write_cycle_us later on the bench's clock, and the part NACKs its address
 * until then. Mixing transfer-level calls on the same part moves its clock
 * ahead; it then waits for the bench's clock to catch up.
 *
 * Faults of eesim_faults act as they do on transfers; an injected bus error
 * shows on the lines as the address not acknowledged.
 *
 * Timing checks, each against the minimum of the speed class of bus_hz
 * (the figures and their sources are in bus.c):
 *   tLOW     SCL low, fall to rise
 *   tHIGH    SCL high, rise to fall
 *   tSU;STA  SCL rise to the SDA fall of a repeated START
 *   tHD;STA  the SDA fall of a START to the next SCL fall
 *   tSU;DAT  the master's SDA change to the next SCL rise
 *   tHD;DAT  SCL fall to the master's next SDA change; the minimum is 0, so
 *            what breaks it is an SDA change while SCL is still high inside
 *            a byte, reported as "SDA changed while SCL high inside a byte"
 *   tSU;STO  SCL rise to the SDA rise of a STOP
 *   tBUF     a STOP to the next START
 * START/STOP timings are not checked on a START or STOP inside a byte: that
 * is already the tHD;DAT violation. Every violation is counted and logged
 * (one line, with the parameter, the measured and the required ns, and the
 * time); the first is kept in the stats.
 *
 * Host-side code: it allocates.
 */
#ifndef EESIM_BUS_H
#define EESIM_BUS_H

#include "eesim/eesim.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eesim_bus_config {
    eesim *part;     /* the part on the bus (caller-owned, outlives the bus); required */
    uint32_t bus_hz; /* the speed class whose timing limits are checked: <= 100 kHz
                        standard mode, <= 400 kHz fast mode, <= 1 MHz fast-mode plus;
                        0: 400 kHz; above 1 MHz is refused */
    /* One line (no newline) per timing violation or protocol oddity; may be
     * NULL. The line is only valid during the call. */
    void (*log)(void *ctx, const char *line);
    void *ctx;
} eesim_bus_config;

typedef struct eesim_bus eesim_bus;

/* A bus with both lines released (high) and no transfer under way, the
 * part not pulling SDA. NULL when config or its part is NULL, bus_hz is
 * above 1 MHz, or out of memory. */
eesim_bus *eesim_bus_new(const eesim_bus_config *config);
void eesim_bus_free(eesim_bus *bus);

/*
 * The master's drive on the lines at t_ns (the bench's clock, which never
 * goes back; a t_ns earlier than the last one is taken as the last one and
 * logged). released (true) lets the pull-up raise the line unless the part
 * pulls it low. Called on every change; a call with no change only moves
 * the part's clock.
 */
void eesim_bus_master(eesim_bus *bus, bool scl_released, bool sda_released, uint64_t t_ns);

/* True while the part pulls SDA low (its ACK, or a 0 bit it sends). The
 * level the master reads is sda_released && !eesim_bus_sda_pulled_low(). */
bool eesim_bus_sda_pulled_low(const eesim_bus *bus);

typedef struct eesim_bus_stats {
    uint64_t starts;          /* STARTs on an idle bus (after a STOP, or the first) */
    uint64_t repeated_starts; /* STARTs with no STOP since the last START */
    uint64_t stops;
    uint64_t bytes_to_part;    /* bytes the part took in and answered: address bytes included */
    uint64_t bytes_from_part;  /* bytes the part sent, all 8 bits clocked */
    uint64_t nacks;            /* bytes the part did not acknowledge (address or data) */
    uint64_t violations;       /* timing violations found */
    char first_violation[200]; /* the first one, in words: parameter, measured, required */
    uint64_t oddities;         /* protocol oddities logged that are not timing violations (the
                                  master pulling SDA low while the part sends a 1, time going back) */
} eesim_bus_stats;

const eesim_bus_stats *eesim_bus_get_stats(const eesim_bus *bus);

#ifdef __cplusplus
}
#endif

#endif /* EESIM_BUS_H */

/* The bit-level front end of the 24Cxx model: see eesim_bus.h. */
#include "eesim/eesim_bus.h"

#include "core.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Timing limits                                                             */

enum param { T_LOW, T_HIGH, T_SU_STA, T_HD_STA, T_SU_DAT, T_HD_DAT, T_SU_STO, T_BUF, T_COUNT };

static const char *const param_name[T_COUNT] = {
    "tLOW", "tHIGH", "tSU;STA", "tHD;STA", "tSU;DAT", "tHD;DAT", "tSU;STO", "tBUF",
};

typedef struct speed_class {
    const char *name;
    uint32_t max_hz;
    uint32_t min_ns[T_COUNT]; /* in enum param order */
} speed_class;

/*
 * Minimums in ns, from the AC characteristics tables of:
 * - Microchip 24AA256/24LC256/24FC256 (DS20001203), Table 1-2: standard
 *   mode is its 1.7 V <= Vcc < 2.5 V rows (100 kHz), fast mode its 2.5 V to
 *   5.5 V rows, fast-mode plus the 24FC256's 1 MHz rows;
 * - Microchip AT24CM02, section 4.4 "AC Characteristics" (standard, fast
 *   and fast-mode plus columns);
 * - ST M24512-x/M24256-Bx, Table 16 "AC characteristics" (400 kHz; the
 *   older M24256/M24128 datasheet's Table 10 has the same figures); ST's
 *   100 kHz and 1 MHz tables were not among the sources;
 * - Atmel AT24C256B (5279C), Table 3-3, and AT24C128C (8734B), Table 5-3:
 *   400 kHz (1.7/1.8 V) and 1 MHz (2.5 V, 5 V) columns.
 * Where they differ the largest minimum is taken, so a master that passes
 * here passes on any of these parts:
 * - standard mode tSU;DAT: 250 (24xx256) over 200 (AT24CM02); tSU;STO: 4700
 *   (AT24CM02) over 4000 (24xx256);
 * - fast mode tLOW and tBUF: 1300 (all of the above; some other AT24C parts
 *   quote 1200);
 * - fast-mode plus tLOW: 500 (24FC256, AT24CM02) over 400 (AT24C256B/
 *   AT24C128C); tHIGH: 500 (24FC256) over 400 (AT24CM02, AT24C256B/
 *   AT24C128C); tSU;DAT: 100 (all three, where the I2C specification allows
 *   50).
 * tHD;DAT is 0 in every table: the parts hold SDA internally past the SCL
 * fall, so only an SDA change before the fall breaks it.
 */
static const speed_class speed_classes[] = {
    /*                                   tLOW  tHIGH SU;STA HD;STA SU;DAT HD;DAT SU;STO tBUF */
    {"standard mode (<=100 kHz)", 100000, {4700, 4000, 4700, 4000, 250, 0, 4700, 4700}},
    {"fast mode (<=400 kHz)", 400000, {1300, 600, 600, 600, 100, 0, 600, 1300}},
    {"fast-mode plus (<=1 MHz)", 1000000, {500, 500, 250, 250, 100, 0, 250, 500}},
};

#define SPEED_CLASS_COUNT (sizeof speed_classes / sizeof speed_classes[0])
#define DEFAULT_BUS_HZ    400000u
#define NEVER             UINT64_MAX

/* ------------------------------------------------------------------------- */

/* What the part is doing on the bus, in a byte frame of 8 bits and the
 * acknowledge bit. */
typedef enum {
    ROLE_DEAF,       /* no transfer, or it NACKed or was aborted: waits for START */
    ROLE_RECEIVE,    /* shifting in a byte from the master */
    ROLE_ACK,        /* the acknowledge bit of a byte it received */
    ROLE_SEND,       /* shifting out a byte */
    ROLE_MASTER_ACK, /* the master's acknowledge bit after a byte it sent */
} part_role;

struct eesim_bus {
    eesim *part;
    const speed_class *limits;
    void (*log)(void *ctx, const char *line);
    void *ctx;

    uint64_t now;
    bool m_scl, m_sda; /* the master's drive: true when released */
    bool sda;          /* the SDA line (wired AND) as last evaluated */
    bool part_low;     /* the part pulls SDA low */

    bool in_transfer; /* a START and no STOP since */
    unsigned bit;     /* SCL rises in the current byte frame, 0..9 */
    part_role role;
    bool address_next; /* the byte coming in is an address byte */
    bool acked;        /* the part's answer to the byte it just took in */
    bool reading;      /* the part acknowledged address+R */
    bool master_acked;
    uint8_t shift; /* the byte coming in, or going out */

    /* When each event last happened; NEVER before the first. */
    uint64_t t_rise, t_fall, t_start, t_stop;
    uint64_t t_sda;         /* the master's last SDA change while SCL was low */
    bool sda_set_while_low; /* the master changed SDA since SCL fell */
    bool hd_sta_open;       /* a START whose hold time ends at the next SCL fall */

    eesim_bus_stats stats;
};

/* ------------------------------------------------------------------------- */
/* Reports                                                                   */

static void emit(const eesim_bus *bus, const char *line)
{
    if (bus->log != NULL) {
        bus->log(bus->ctx, line);
    }
}

static void report_violation(eesim_bus *bus, const char *line)
{
    if (bus->stats.violations++ == 0) {
        /* Cut to fit: the log has the whole line. */
        snprintf(bus->stats.first_violation, sizeof bus->stats.first_violation, "%.*s",
                 (int)sizeof bus->stats.first_violation - 1, line);
    }
    emit(bus, line);
}

__attribute__((format(printf, 2, 3))) static void oddity(eesim_bus *bus, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    bus->stats.oddities++;
    emit(bus, line);
}

/* One timing check: `what` ended now, `since` is when it began. */
static void check_min(eesim_bus *bus, enum param p, uint64_t since, const char *what)
{
    if (since == NEVER) {
        return;
    }
    uint64_t measured = bus->now - since;
    uint32_t min = bus->limits->min_ns[p];
    if (measured >= min) {
        return;
    }
    char line[256];
    snprintf(line, sizeof line,
             "%s (%s): %" PRIu64 " ns, %s needs at least %" PRIu32 " ns (t=%" PRIu64 " ns)",
             param_name[p], what, measured, bus->limits->name, min, bus->now);
    report_violation(bus, line);
}

/* ------------------------------------------------------------------------- */
/* The part on the lines                                                     */

static void update_sda(eesim_bus *bus)
{
    bus->sda = bus->m_sda && !bus->part_low;
}

/* The part puts the next byte's MSB on SDA (right after an SCL fall). */
static void start_sending(eesim_bus *bus)
{
    bus->shift = eesim_core_read_byte(bus->part);
    bus->role = ROLE_SEND;
    bus->part_low = (bus->shift & 0x80u) == 0;
}

/* Eight bits are in: the byte goes to the part, which answers on the
 * acknowledge bit that follows. */
static void byte_received(eesim_bus *bus)
{
    int result;
    bus->stats.bytes_to_part++;
    if (bus->address_next) {
        bus->address_next = false;
        result = eesim_core_address(bus->part, bus->shift);
        bus->reading = (bus->shift & 1u) != 0; /* if acknowledged */
    } else {
        result = eesim_core_write_byte(bus->part, bus->shift);
    }
    /* An injected bus error is an address the part leaves unanswered. */
    bus->acked = result == STM32ISP_I2C_OK;
    if (!bus->acked) {
        bus->stats.nacks++;
    }
    bus->part_low = bus->acked;
    bus->role = ROLE_ACK;
}

static void scl_fall(eesim_bus *bus)
{
    check_min(bus, T_HIGH, bus->t_rise, "SCL high");
    if (bus->hd_sta_open) {
        check_min(bus, T_HD_STA, bus->t_start, "START to SCL fall");
        bus->hd_sta_open = false;
    }
    bus->t_fall = bus->now;
    bus->sda_set_while_low = false;
    if (!bus->in_transfer) {
        return;
    }
    /* The part changes SDA here and only here. */
    if (bus->bit == 8) {
        if (bus->role == ROLE_RECEIVE) {
            byte_received(bus);
        } else if (bus->role == ROLE_SEND) {
            bus->stats.bytes_from_part++;
            bus->part_low = false; /* the master's acknowledge bit */
            bus->role = ROLE_MASTER_ACK;
        }
    } else if (bus->bit == 9) {
        bus->bit = 0;
        bus->part_low = false;
        if (bus->role == ROLE_ACK) {
            if (!bus->acked) {
                bus->role = ROLE_DEAF;
            } else if (bus->reading) {
                start_sending(bus);
            } else {
                bus->role = ROLE_RECEIVE;
                bus->shift = 0;
            }
        } else if (bus->role == ROLE_MASTER_ACK) {
            if (eesim_core_master_ack(bus->part, bus->master_acked)) {
                start_sending(bus);
            } else {
                bus->role = ROLE_DEAF;
            }
        }
    } else if (bus->role == ROLE_SEND && bus->bit >= 1) {
        bus->part_low = ((bus->shift >> (7u - bus->bit)) & 1u) == 0;
    }
    update_sda(bus);
}

static void scl_rise(eesim_bus *bus)
{
    check_min(bus, T_LOW, bus->t_fall, "SCL low");
    if (bus->sda_set_while_low) {
        /* Only the master's changes: the part's come at the fall, and its
         * data-out delay (tAA) is inside the master's tLOW. */
        check_min(bus, T_SU_DAT, bus->t_sda, "SDA change to SCL rise");
    }
    bus->t_rise = bus->now;
    if (!bus->in_transfer) {
        return;
    }
    if (bus->bit < 9) {
        bus->bit++;
    }
    if (bus->role == ROLE_RECEIVE && bus->bit <= 8) {
        bus->shift = (uint8_t)(bus->shift << 1 | (bus->sda ? 1u : 0u));
    } else if (bus->role == ROLE_SEND && bus->bit <= 8 && !bus->part_low && !bus->m_sda) {
        oddity(bus,
               "SDA collision: the master held SDA low while the part sent a 1 (bit %u of a "
               "byte read, t=%" PRIu64 " ns)",
               bus->bit, bus->now);
    } else if (bus->role == ROLE_MASTER_ACK && bus->bit == 9) {
        bus->master_acked = !bus->sda;
    }
}

static void start_condition(eesim_bus *bus, bool inside_byte)
{
    if (!inside_byte) {
        bool rose_since_stop =
            bus->t_rise != NEVER && (bus->t_stop == NEVER || bus->t_rise > bus->t_stop);
        if (!bus->in_transfer && bus->t_stop != NEVER) {
            check_min(bus, T_BUF, bus->t_stop, "STOP to START");
        }
        if (bus->in_transfer || rose_since_stop) {
            check_min(bus, T_SU_STA, bus->t_rise, "SCL rise to START");
        }
    }
    if (bus->in_transfer) {
        bus->stats.repeated_starts++;
    } else {
        bus->stats.starts++;
    }
    eesim_core_start(bus->part);
    bus->in_transfer = true;
    bus->bit = 0;
    bus->role = ROLE_RECEIVE;
    bus->address_next = true;
    bus->reading = false;
    bus->shift = 0;
    bus->part_low = false;
    bus->t_start = bus->now;
    bus->hd_sta_open = !inside_byte;
}

static void stop_condition(eesim_bus *bus, bool inside_byte)
{
    if (!inside_byte) {
        check_min(bus, T_SU_STO, bus->t_rise, "SCL rise to STOP");
    }
    bus->stats.stops++;
    eesim_core_stop(bus->part);
    bus->in_transfer = false;
    bus->bit = 0;
    bus->role = ROLE_DEAF;
    bus->part_low = false;
    bus->t_stop = bus->now;
    bus->hd_sta_open = false;
}

static void master_sda(eesim_bus *bus, bool released)
{
    bus->m_sda = released;
    if (!bus->m_scl) {
        check_min(bus, T_HD_DAT, bus->t_fall, "SCL fall to SDA change");
        bus->t_sda = bus->now;
        bus->sda_set_while_low = true;
    }
    bool before = bus->sda;
    update_sda(bus);
    if (!bus->m_scl || bus->sda == before) {
        return;
    }
    /* SDA moved while SCL is high: a START or a STOP, whatever the master
     * meant. Two or more bits into a byte frame it cannot be one the
     * master planned (those come one setup clock after a byte boundary):
     * it is the master's data changing before SCL fell. */
    bool inside_byte = bus->in_transfer && bus->bit >= 2;
    if (inside_byte) {
        char line[256];
        snprintf(line, sizeof line,
                 "%s: SDA changed while SCL high inside a byte (after bit %u of 9, %" PRIu64
                 " ns after SCL rose): SDA must hold until SCL falls, and at least %" PRIu32
                 " ns after (t=%" PRIu64 " ns)",
                 param_name[T_HD_DAT], bus->bit, bus->now - bus->t_rise,
                 bus->limits->min_ns[T_HD_DAT], bus->now);
        report_violation(bus, line);
        eesim_core_abort(bus->part);
    }
    if (!bus->sda) {
        start_condition(bus, inside_byte);
    } else {
        stop_condition(bus, inside_byte);
    }
}

/* ------------------------------------------------------------------------- */
/* API                                                                       */

eesim_bus *eesim_bus_new(const eesim_bus_config *config)
{
    if (config == NULL || config->part == NULL) {
        return NULL;
    }
    uint32_t hz = config->bus_hz != 0 ? config->bus_hz : DEFAULT_BUS_HZ;
    const speed_class *limits = NULL;
    for (size_t i = 0; i < SPEED_CLASS_COUNT && limits == NULL; i++) {
        if (hz <= speed_classes[i].max_hz) {
            limits = &speed_classes[i];
        }
    }
    if (limits == NULL) {
        return NULL;
    }
    eesim_bus *bus = calloc(1, sizeof *bus);
    if (bus == NULL) {
        return NULL;
    }
    bus->part = config->part;
    bus->limits = limits;
    bus->log = config->log;
    bus->ctx = config->ctx;
    bus->m_scl = bus->m_sda = bus->sda = true;
    bus->role = ROLE_DEAF;
    bus->t_rise = bus->t_fall = bus->t_start = bus->t_stop = NEVER;
    return bus;
}

void eesim_bus_free(eesim_bus *bus)
{
    free(bus);
}

void eesim_bus_master(eesim_bus *bus, bool scl_released, bool sda_released, uint64_t t_ns)
{
    if (t_ns < bus->now) {
        oddity(bus, "time went back: %" PRIu64 " ns after %" PRIu64 " ns, taken as the latter",
               t_ns, bus->now);
        t_ns = bus->now;
    }
    bus->now = t_ns;
    eesim_advance_to_ns(bus->part, t_ns);
    bool scl_changes = scl_released != bus->m_scl;
    /* A falling SCL before the SDA change, a rising one after it: an SDA
     * change at the same instant always lands while SCL is low. */
    if (scl_changes && !scl_released) {
        bus->m_scl = false;
        scl_fall(bus);
    }
    if (sda_released != bus->m_sda) {
        master_sda(bus, sda_released);
    }
    if (scl_changes && scl_released) {
        bus->m_scl = true;
        scl_rise(bus);
    }
}

bool eesim_bus_sda_pulled_low(const eesim_bus *bus)
{
    return bus->part_low;
}

const eesim_bus_stats *eesim_bus_get_stats(const eesim_bus *bus)
{
    return &bus->stats;
}

/* Parsing of the fault spec given to the EEPROM model (--eeprom-faults). */
#include "eesim/eesim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_count(const char *value, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 0);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int apply(eesim_faults *f, const char *key, const char *value, char *err, size_t err_size)
{
    bool *flag = NULL;
    if (strcmp(key, "wp") == 0) {
        flag = &f->write_protect;
    } else if (strcmp(key, "slow") == 0) {
        flag = &f->slow;
    } else if (strcmp(key, "stuck") == 0) {
        flag = &f->stuck;
    }
    if (flag != NULL) {
        if (value != NULL) {
            return fail(err, err_size, "EEPROM fault '%s' takes no value", key);
        }
        *flag = true;
        return 0;
    }
    bool rate = strcmp(key, "bitflip") == 0;
    bool seed = strcmp(key, "seed") == 0;
    uint32_t *count = NULL;
    if (strcmp(key, "nack-addr") == 0) {
        count = &f->nack_addr_at;
    } else if (strcmp(key, "nack-data") == 0) {
        count = &f->nack_data_at;
    } else if (strcmp(key, "bus-error") == 0) {
        count = &f->bus_error_at;
    } else if (strcmp(key, "power-loss") == 0) {
        count = &f->power_loss_at;
    }
    if (!rate && !seed && count == NULL) {
        return fail(err, err_size,
                    "unknown EEPROM fault '%s' (known: seed, bitflip, nack-addr, nack-data, "
                    "bus-error, power-loss, wp, slow, stuck)",
                    key);
    }
    if (value == NULL || *value == '\0') {
        return fail(err, err_size, "EEPROM fault '%s' needs a value, as in %s=N", key, key);
    }
    uint64_t n;
    if (rate) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno != 0 || end == value || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
            return fail(err, err_size,
                        "EEPROM fault 'bitflip=%s': the rate must be a number from 0 to 1", value);
        }
        f->bit_flip_rate = v;
        return 0;
    }
    if (seed) {
        if (parse_count(value, UINT64_MAX, &n) != 0) {
            return fail(err, err_size, "EEPROM fault 'seed=%s': not a whole number", value);
        }
        f->seed = n;
        return 0;
    }
    if (count == NULL || parse_count(value, UINT32_MAX, &n) != 0 || n == 0) {
        return fail(err, err_size, "EEPROM fault '%s=%s': give a count from 1 up", key, value);
    }
    *count = (uint32_t)n;
    return 0;
}

int eesim_faults_parse(const char *spec, eesim_faults *faults, char *err, size_t err_size)
{
    if (spec == NULL || faults == NULL) {
        return fail(err, err_size, "no EEPROM fault spec");
    }
    char item[128];
    const char *p = spec;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item) {
            return fail(err, err_size, "malformed EEPROM fault spec near '%.20s'", p);
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (eq != NULL) {
            *eq = '\0';
        }
        if (apply(faults, item, eq != NULL ? eq + 1 : NULL, err, err_size) != 0) {
            return -1;
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return 0;
}

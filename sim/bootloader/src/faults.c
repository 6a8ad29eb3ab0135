/* Parsing of the fault spec given to `stm32isp sim --faults`. */
#include "blsim/blsim.h"

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

static int parse_rate(const char *value, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        return -1;
    }
    *out = v;
    return 0;
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

static int apply(blsim_faults *f, const char *key, const char *value, char *err, size_t err_size)
{
    uint64_t n;
    if (strcmp(key, "slow") == 0 || strcmp(key, "silent-abort") == 0 ||
        strcmp(key, "nack-address") == 0) {
        if (value != NULL) {
            return fail(err, err_size, "fault '%s' takes no value", key);
        }
        if (key[1] == 'l') {
            f->max_flash_timings = true;
        } else {
            f->address_quirk = key[0] == 's' ? BLSIM_ADDRESS_QUIRK_ON : BLSIM_ADDRESS_QUIRK_OFF;
        }
        return 0;
    }
    if (value == NULL || *value == '\0') {
        return fail(err, err_size, "fault '%s' needs a value, as in %s=N", key, key);
    }
    if (strcmp(key, "flip") == 0 || strcmp(key, "drop") == 0 || strcmp(key, "insert") == 0) {
        double *rate = key[0] == 'f'   ? &f->bit_flip_rate
                       : key[0] == 'd' ? &f->drop_rate
                                       : &f->insert_rate;
        if (parse_rate(value, rate) != 0) {
            return fail(err, err_size, "fault '%s=%s': the rate must be a number from 0 to 1", key,
                        value);
        }
        return 0;
    }
    if (strcmp(key, "dir") == 0) {
        if (strcmp(value, "both") == 0) {
            f->direction = BLSIM_DIR_BOTH;
        } else if (strcmp(value, "rx") == 0) {
            f->direction = BLSIM_DIR_TO_TARGET;
        } else if (strcmp(value, "tx") == 0) {
            f->direction = BLSIM_DIR_TO_HOST;
        } else {
            return fail(err, err_size, "fault 'dir=%s': use both, rx (to the target) or tx", value);
        }
        return 0;
    }
    if (strcmp(key, "seed") == 0) {
        if (parse_count(value, UINT64_MAX, &n) != 0) {
            return fail(err, err_size, "fault 'seed=%s': not a whole number", value);
        }
        f->seed = n;
        return 0;
    }
    uint32_t *count = strcmp(key, "nack") == 0         ? &f->nack_at_ack
                      : strcmp(key, "reset-byte") == 0 ? &f->reset_after_byte
                      : strcmp(key, "reset-cmd") == 0  ? &f->reset_in_command
                                                       : NULL;
    if (count == NULL) {
        return fail(err, err_size,
                    "unknown fault '%s' (known: seed, dir, flip, drop, insert, nack, reset-byte, "
                    "reset-cmd, slow, silent-abort, nack-address)",
                    key);
    }
    if (parse_count(value, UINT32_MAX, &n) != 0 || n == 0) {
        return fail(err, err_size, "fault '%s=%s': give a count from 1 up", key, value);
    }
    *count = (uint32_t)n;
    return 0;
}

int blsim_faults_parse(const char *spec, blsim_faults *faults, char *err, size_t err_size)
{
    char item[128];
    const char *p = spec;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item) {
            return fail(err, err_size, "malformed fault spec near '%.20s'", p);
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

/*
 * The one JSON writer of the tool: `--json` records are written field by
 * field straight to a stream, with the commas and the escaping done here.
 * Keys are plain ASCII chosen in the code; every string value is escaped.
 */
#ifndef STM32ISP_TOOL_JSON_H
#define STM32ISP_TOOL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 8

typedef struct json {
    FILE *out;
    int depth;
    bool first[JSON_MAX_DEPTH]; /* no member written yet at this depth */
} json;

/* Starts the top-level object on `out`. */
void json_begin(json *j, FILE *out);
/* Ends it with a newline and flushes: one record per line. */
void json_end(json *j);

/* Members. In an array, `key` is NULL. */
void json_string(json *j, const char *key, const char *value); /* NULL value: null */
void json_bool(json *j, const char *key, bool value);
void json_uint(json *j, const char *key, uint64_t value);
void json_int(json *j, const char *key, int64_t value);
void json_fixed(json *j, const char *key, double value, int decimals);
/* A string made with printf rules, e.g. json_format(j, "pid", "0x%03x", pid). */
void json_format(json *j, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "0x0800f000": addresses and CRCs as the docs show them. */
void json_hex32(json *j, const char *key, uint32_t value);
/* Lowercase hex digits of a byte string, e.g. a UID. */
void json_hex_bytes(json *j, const char *key, const uint8_t *bytes, size_t count);

/* Nested containers, closed by json_close(). */
void json_object(json *j, const char *key);
void json_array(json *j, const char *key);
void json_close_object(json *j);
void json_close_array(json *j);

#endif

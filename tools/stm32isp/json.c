/* The JSON writer (json.h). */
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

static void write_escaped(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7F) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

/* The comma before a member, and its key. */
static void member(json *j, const char *key)
{
    if (!j->first[j->depth]) {
        fputs(", ", j->out);
    }
    j->first[j->depth] = false;
    if (key != NULL) {
        write_escaped(j->out, key);
        fputs(": ", j->out);
    }
}

static void open_container(json *j, const char *key, char bracket)
{
    member(j, key);
    fputc(bracket, j->out);
    if (j->depth + 1 < JSON_MAX_DEPTH) {
        j->depth++;
    }
    j->first[j->depth] = true;
}

void json_begin(json *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
    fputc('{', out);
    j->first[0] = true;
}

void json_end(json *j)
{
    fputs("}\n", j->out);
    fflush(j->out);
}

void json_string(json *j, const char *key, const char *value)
{
    member(j, key);
    if (value == NULL) {
        fputs("null", j->out);
    } else {
        write_escaped(j->out, value);
    }
}

void json_bool(json *j, const char *key, bool value)
{
    member(j, key);
    fputs(value ? "true" : "false", j->out);
}

void json_uint(json *j, const char *key, uint64_t value)
{
    member(j, key);
    fprintf(j->out, "%" PRIu64, value);
}

void json_int(json *j, const char *key, int64_t value)
{
    member(j, key);
    fprintf(j->out, "%" PRId64, value);
}

void json_fixed(json *j, const char *key, double value, int decimals)
{
    member(j, key);
    fprintf(j->out, "%.*f", decimals, value);
}

void json_format(json *j, const char *key, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_string(j, key, text);
}

void json_hex32(json *j, const char *key, uint32_t value)
{
    json_format(j, key, "0x%08" PRIx32, value);
}

void json_hex_bytes(json *j, const char *key, const uint8_t *bytes, size_t count)
{
    member(j, key);
    fputc('"', j->out);
    for (size_t i = 0; i < count; i++) {
        fprintf(j->out, "%02x", bytes[i]);
    }
    fputc('"', j->out);
}

void json_object(json *j, const char *key)
{
    open_container(j, key, '{');
}

void json_array(json *j, const char *key)
{
    open_container(j, key, '[');
}

void json_close_object(json *j)
{
    fputc('}', j->out);
    if (j->depth > 0) {
        j->depth--;
    }
}

void json_close_array(json *j)
{
    fputc(']', j->out);
    if (j->depth > 0) {
        j->depth--;
    }
}

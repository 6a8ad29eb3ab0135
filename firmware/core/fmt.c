#include "fmt.h"

size_t fmt_u32(char *out, uint32_t v)
{
    char tmp[FMT_U32_MAX];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\0';
    return n;
}

size_t fmt_hex(char *out, uint32_t v, unsigned digits)
{
    static const char hex[] = "0123456789ABCDEF";
    if (digits < 1u) {
        digits = 1u;
    } else if (digits > 8u) {
        digits = 8u;
    }
    for (unsigned i = 0; i < digits; i++) {
        out[digits - 1 - i] = hex[(v >> (4u * i)) & 15u];
    }
    out[digits] = '\0';
    return digits;
}

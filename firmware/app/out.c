#include "out.h"

#include "console.h"
#include "fmt.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt != '\0'; fmt++) {
        if (*fmt != '%') {
            /* console_write() turns "\n" into CR LF. */
            char one[2] = {*fmt, '\0'};
            console_write(one);
            continue;
        }
        unsigned width = 0;
        while (*++fmt == '0' || (*fmt >= '1' && *fmt <= '9')) {
            width = width * 10u + (unsigned)(*fmt - '0');
        }
        if (*fmt == 'l') {
            fmt++;
        }
        if (*fmt == '\0') {
            break; /* a format that ends in '%' */
        }
        char digits[FMT_U32_MAX];
        if (*fmt == 's') {
            console_write(va_arg(ap, const char *));
        } else if (*fmt == 'u') {
            (void)fmt_u32(digits, va_arg(ap, uint32_t));
            console_write(digits);
        } else if (*fmt == 'X') {
            /* As many digits as the value needs, at least `width` (the
             * formats here always ask for leading zeros: "%03X"). */
            uint32_t v = va_arg(ap, uint32_t);
            unsigned len = 1;
            while (len < 8u && (v >> (4u * len)) != 0) {
                len++;
            }
            (void)fmt_hex(digits, v, len > width ? len : width);
            console_write(digits);
        } else {
            console_write("%"); /* "%%" */
        }
    }
    va_end(ap);
}

/*
 * memcpy, memmove, memset and memcmp in a few bytes each. newlib-nano's
 * ARM versions are unrolled for speed (about 740 bytes for the four); the
 * master copies 256-byte blocks at most, at a pace set by a 115200-baud
 * link, so speed buys nothing here and the flash is better spent.
 *
 * Built without link-time optimisation (CMakeLists.txt) and with GCC's
 * loop-pattern recognition off, so that the compiler neither drops them
 * before it emits its own calls to them nor turns these loops back into
 * calls to themselves.
 */
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__)
#define PLAIN_LOOPS __attribute__((used, optimize("no-tree-loop-distribute-patterns")))
#else
#define PLAIN_LOOPS __attribute__((used))
#endif

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

PLAIN_LOOPS void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d < s) {
        while (n-- > 0) {
            *d++ = *s++;
        }
    } else {
        while (n-- > 0) {
            d[n] = s[n];
        }
    }
    return dst;
}

PLAIN_LOOPS void *memcpy(void *dst, const void *src, size_t n)
{
    return memmove(dst, src, n);
}

PLAIN_LOOPS void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n-- > 0) {
        *d++ = (uint8_t)c;
    }
    return dst;
}

PLAIN_LOOPS int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a;
    const uint8_t *y = b;
    for (; n > 0; n--, x++, y++) {
        if (*x != *y) {
            return *x < *y ? -1 : 1;
        }
    }
    return 0;
}

#include "console.h"

#include "cortexm.h"
#include "fmt.h"
#include "systick.h"

#include <string.h>

static struct {
    usart *u;
    char line[CONSOLE_LINE_MAX];
    size_t len;
    bool after_cr; /* a LF right after a CR ends no second line */
} con;

void console_init(usart *u)
{
    con.u = u;
    con.len = 0;
    con.after_cr = false;
}

static void put(const char *s, size_t n)
{
    if (con.u != NULL) {
        (void)usart_write(con.u, (const uint8_t *)s, n);
    }
}

void console_write(const char *s)
{
    const char *start = s;
    for (; *s != '\0'; s++) {
        if (*s == '\n') {
            put(start, (size_t)(s - start));
            put("\r\n", 2);
            start = s + 1;
        }
    }
    put(start, (size_t)(s - start));
}

void console_write_u32(uint32_t v)
{
    char buf[FMT_U32_MAX];
    put(buf, fmt_u32(buf, v));
}

void console_write_hex(uint32_t v, unsigned digits)
{
    char buf[2 + 8 + 1] = "0x";
    put(buf, 2 + fmt_hex(buf + 2, v, digits));
}

/* Takes one received character into the line; true when it ended it. */
static bool take(char c)
{
    if (c == '\r' || c == '\n') {
        bool skip = c == '\n' && con.after_cr;
        con.after_cr = c == '\r';
        if (!skip) {
            put("\r\n", 2);
        }
        return !skip;
    }
    con.after_cr = false;
    if (c == '\b' || c == 0x7F) {
        if (con.len > 0) {
            con.len--;
            put("\b \b", 3);
        }
    } else if (c >= ' ' && c < 0x7F && con.len < sizeof con.line) {
        con.line[con.len++] = c;
        put(&c, 1);
    }
    return false;
}

/* Sleeps until the next interrupt unless a byte is waiting: masked, so
 * that a byte arriving between the check and the sleep still wakes us. */
static void wait_for_input(void)
{
    cpu_irq_disable();
    if (ringbuf_level(&con.u->rx) == 0) {
        cpu_wait_for_interrupt();
    }
    cpu_irq_enable();
}

int console_readline(char *buf, size_t size, uint32_t timeout_ms)
{
    if (con.u == NULL || size == 0) {
        return -1;
    }
    uint32_t start = systick_ms();
    for (;;) {
        uint8_t c;
        while (usart_read(con.u, &c, 1) == 1) {
            if (take((char)c)) {
                size_t n = con.len < size - 1 ? con.len : size - 1;
                memcpy(buf, con.line, n);
                buf[n] = '\0';
                con.len = 0;
                return (int)n;
            }
        }
        if (systick_ms() - start >= timeout_ms) {
            return -1;
        }
        wait_for_input();
    }
}

size_t console_read(uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    if (con.u == NULL) {
        return 0;
    }
    uint32_t start = systick_ms();
    for (;;) {
        size_t n = usart_read(con.u, buf, len);
        if (n > 0 || systick_ms() - start >= timeout_ms) {
            return n;
        }
        wait_for_input();
    }
}

void console_write_bytes(const uint8_t *buf, size_t len)
{
    put((const char *)buf, len);
}

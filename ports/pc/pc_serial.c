/*
 * termios serial port and BOOT0/NRST lines for the PC. Every wait is a
 * poll() with a timeout, so a cable pulled out or a device that stops
 * reading turns into an error, never a hang.
 */
#include "pc_serial.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* A write that makes no progress for this long is given up: the device is
 * gone or wedged. */
#define WRITE_STALL_MS 2000

static const struct {
    uint32_t baud;
    speed_t speed;
} rates[] = {
    {1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},     {19200, B19200},
    {38400, B38400},   {57600, B57600},   {115200, B115200}, {230400, B230400}, {460800, B460800},
    {500000, B500000}, {576000, B576000}, {921600, B921600},
};

static bool speed_of(uint32_t baud, speed_t *speed)
{
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        if (rates[i].baud == baud) {
            *speed = rates[i].speed;
            return true;
        }
    }
    return false;
}

bool pc_serial_rate_supported(uint32_t baud)
{
    speed_t speed;
    return speed_of(baud, &speed);
}

/* Unix98 pseudo-terminal slaves have majors 136 to 143 (devices.txt). */
static bool is_pty(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) >= 136 &&
           major(st.st_rdev) <= 143;
}

/* 8 data bits, even parity, one stop bit, raw, no flow control. */
static int configure(int fd, uint32_t baud)
{
    speed_t speed;
    struct termios t;
    if (!speed_of(baud, &speed) || tcgetattr(fd, &t) != 0) {
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | CSTOPB | PARODD | CRTSCTS);
    t.c_cflag |= CS8 | PARENB | CLOCAL | CREAD;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY | INPCK | PARMRK | IGNPAR);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, speed) != 0 || cfsetospeed(&t, speed) != 0) {
        return -1;
    }
    if (tcsetattr(fd, TCSANOW, &t) == 0) {
        return 0;
    }
    /* A pseudo-terminal has no parity to set, and glibc reports the setting
     * it could not apply as EINVAL from the second call on: take the pty
     * as it is (8N1, which the simulator expects). A real port must take
     * 8E1. */
    if (errno == EINVAL && is_pty(fd)) {
        t.c_cflag &= ~(tcflag_t)PARENB;
        return tcsetattr(fd, TCSANOW, &t);
    }
    return -1;
}

static void line_init(pc_line *l)
{
    memset(l, 0, sizeof *l);
    l->request_fd = -1;
}

int pc_serial_open(pc_serial *s, const char *path, uint32_t baud, char *err, size_t err_size)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    line_init(&s->boot0);
    line_init(&s->nrst);
    speed_t speed;
    if (!speed_of(baud, &speed)) {
        snprintf(err, err_size, "%" PRIu32 " baud is not a standard rate (e.g. 57600, 115200)",
                 baud);
        return -1;
    }
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES) {
            snprintf(err, err_size,
                     "cannot open %s: permission denied (add yourself to the dialout group)", path);
        } else if (e == ENOENT) {
            snprintf(err, err_size, "cannot open %s: no such device (is the adapter plugged in?)",
                     path);
        } else {
            snprintf(err, err_size, "cannot open %s: %s", path, strerror(e));
        }
        return -1;
    }
    if (!isatty(fd)) {
        snprintf(err, err_size, "%s is not a serial port", path);
        close(fd);
        return -1;
    }
    if (ioctl(fd, TIOCEXCL) != 0 && errno != ENOTTY) {
        snprintf(err, err_size, "%s is busy: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (configure(fd, baud) != 0) {
        snprintf(err, err_size, "cannot set %s to %" PRIu32 " baud 8E1: %s", path, baud,
                 strerror(errno));
        close(fd);
        return -1;
    }
    tcflush(fd, TCIOFLUSH); /* stale bytes from before are not replies */
    s->fd = fd;
    s->baud = baud;
    snprintf(s->path, sizeof s->path, "%s", path);
    return 0;
}

int pc_serial_set_8n1(pc_serial *s)
{
    struct termios t;
    if (tcgetattr(s->fd, &t) != 0) {
        return -1;
    }
    t.c_cflag &= ~(tcflag_t)PARENB;
    return tcsetattr(s->fd, TCSANOW, &t);
}

static void line_release(pc_line *l)
{
    if (l->request_fd >= 0) {
        close(l->request_fd);
    }
    l->request_fd = -1;
}

void pc_serial_close(pc_serial *s)
{
    line_release(&s->boot0);
    line_release(&s->nrst);
    if (s->fd >= 0) {
        (void)ioctl(s->fd, TIOCNXCL); /* the next user may open it */
        close(s->fd);
    }
    s->fd = -1;
}

/* ------------------------------------------------------------------------- */
/* --reset-seq                                                                */

/* Longer than any reset supervisor or boot delay a board needs. */
#define MAX_DELAY_MS 10000u

/* Decimal milliseconds, 1 to MAX_DELAY_MS. */
static int parse_ms(const char *text, size_t len, uint16_t *out)
{
    unsigned v = 0;
    if (len == 0 || len > 5) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned)(text[i] - '0');
    }
    if (v == 0 || v > MAX_DELAY_MS) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

static int parse_line(const char *text, size_t len, pc_line *l, char *err, size_t err_size)
{
    line_init(l);
    if (len > 0 && text[0] == '!') {
        l->inverted = true;
        text++;
        len--;
    }
    if (len == 3 && strncmp(text, "rts", 3) == 0) {
        l->kind = PC_LINE_RTS;
        return 0;
    }
    if (len == 3 && strncmp(text, "dtr", 3) == 0) {
        l->kind = PC_LINE_DTR;
        return 0;
    }
    if (len > 5 && strncmp(text, "gpio:", 5) == 0) {
        const char *chip = text + 5;
        const char *colon = memchr(chip, ':', len - 5);
        if (colon == NULL || colon == chip) {
            snprintf(err, err_size, "'%.*s': write gpio:CHIP:OFFSET, e.g. gpio:gpiochip0:17",
                     (int)len, text);
            return -1;
        }
        size_t chip_len = (size_t)(colon - chip);
        const char *digits = colon + 1;
        size_t digits_len = len - 5 - chip_len - 1;
        unsigned offset = 0;
        if (digits_len == 0 || digits_len > 4) {
            snprintf(err, err_size, "'%.*s': the line offset is missing or too large", (int)len,
                     text);
            return -1;
        }
        for (size_t i = 0; i < digits_len; i++) {
            if (digits[i] < '0' || digits[i] > '9') {
                snprintf(err, err_size, "'%.*s': the line offset must be a number", (int)len, text);
                return -1;
            }
            offset = offset * 10 + (unsigned)(digits[i] - '0');
        }
        const char *prefix = chip[0] == '/' ? "" : "/dev/";
        if (strlen(prefix) + chip_len >= sizeof l->chip) {
            snprintf(err, err_size, "'%.*s': chip name too long", (int)len, text);
            return -1;
        }
        snprintf(l->chip, sizeof l->chip, "%s%.*s", prefix, (int)chip_len, chip);
        l->kind = PC_LINE_GPIO;
        l->offset = offset;
        return 0;
    }
    snprintf(err, err_size, "'%.*s' is not a line: use rts, dtr or gpio:CHIP:OFFSET", (int)len,
             text);
    return -1;
}

int pc_serial_set_reset_seq(pc_serial *s, const char *spec, char *err, size_t err_size)
{
    pc_line boot0, nrst;
    line_init(&boot0);
    line_init(&nrst);
    uint16_t pulse_ms = 0, wait_ms = 0;
    const char *p = spec;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq == NULL) {
            snprintf(err, err_size, "'%.*s': write SIGNAL=LINE, e.g. nrst=rts", (int)len, p);
            return -1;
        }
        size_t name_len = (size_t)(eq - p);
        pc_line *target = NULL;
        uint16_t *delay = NULL;
        if (name_len == 5 && strncmp(p, "pulse", 5) == 0) {
            delay = &pulse_ms;
        } else if (name_len == 4 && strncmp(p, "wait", 4) == 0) {
            delay = &wait_ms;
        }
        if (delay != NULL) {
            if (parse_ms(eq + 1, len - name_len - 1, delay) != 0) {
                snprintf(err, err_size, "'%.*s': give milliseconds from 1 to %u, e.g. %.*s=50",
                         (int)len, p, MAX_DELAY_MS, (int)name_len, p);
                return -1;
            }
            p = end != NULL ? end + 1 : p + len;
            continue;
        }
        if (name_len == 5 && strncmp(p, "boot0", 5) == 0) {
            target = &boot0;
        } else if (name_len == 4 && strncmp(p, "nrst", 4) == 0) {
            target = &nrst;
        } else {
            snprintf(err, err_size, "'%.*s': the keys are boot0, nrst, pulse and wait",
                     (int)name_len, p);
            return -1;
        }
        if (target->kind != PC_LINE_NONE) {
            snprintf(err, err_size, "%.*s is given twice", (int)name_len, p);
            return -1;
        }
        if (parse_line(eq + 1, len - name_len - 1, target, err, err_size) != 0) {
            return -1;
        }
        p = end != NULL ? end + 1 : p + len;
    }
    if (boot0.kind == PC_LINE_NONE || nrst.kind == PC_LINE_NONE) {
        snprintf(err, err_size,
                 "--reset-seq needs both boot0= and nrst=, e.g. nrst=rts,boot0=!dtr");
        return -1;
    }
    if (boot0.kind == nrst.kind && boot0.kind != PC_LINE_GPIO) {
        snprintf(err, err_size, "boot0 and nrst cannot share one modem line");
        return -1;
    }
    if ((boot0.kind != PC_LINE_GPIO || nrst.kind != PC_LINE_GPIO) && s->fd >= 0 && is_pty(s->fd)) {
        snprintf(err, err_size,
                 "%s is a pseudo-terminal: it has no modem lines (RTS, DTR) to drive BOOT0 "
                 "and NRST",
                 s->path);
        return -1;
    }
    line_release(&s->boot0);
    line_release(&s->nrst);
    s->boot0 = boot0;
    s->nrst = nrst;
    s->reset_pulse_ms = pulse_ms;
    s->boot_wait_ms = wait_ms;
    return 0;
}

bool pc_serial_has_reset_lines(const pc_serial *s)
{
    return s->boot0.kind != PC_LINE_NONE && s->nrst.kind != PC_LINE_NONE;
}

/* ------------------------------------------------------------------------- */
/* Driving the lines                                                          */

static int gpio_request(pc_line *l, bool open_drain, bool level)
{
    int chip = open(l->chip, O_RDWR | O_CLOEXEC);
    if (chip < 0) {
        return -1;
    }
    struct gpio_v2_line_request req;
    memset(&req, 0, sizeof req);
    req.offsets[0] = l->offset;
    req.num_lines = 1;
    req.config.flags = GPIO_V2_LINE_FLAG_OUTPUT | (open_drain ? GPIO_V2_LINE_FLAG_OPEN_DRAIN : 0);
    req.config.num_attrs = 1;
    req.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
    req.config.attrs[0].attr.values = level ? 1 : 0;
    req.config.attrs[0].mask = 1;
    snprintf(req.consumer, sizeof req.consumer, "stm32isp");
    int rc = ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &req);
    close(chip);
    if (rc != 0) {
        return -1;
    }
    l->request_fd = req.fd;
    return 0;
}

/* Puts the target pin at `high`. */
static int drive(pc_serial *s, pc_line *l, bool high, bool open_drain)
{
    if (l->kind == PC_LINE_GPIO) {
        bool level = high != l->inverted;
        if (l->request_fd < 0) {
            return gpio_request(l, open_drain, level);
        }
        struct gpio_v2_line_values v = {.bits = level ? 1 : 0, .mask = 1};
        return ioctl(l->request_fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) == 0 ? 0 : -1;
    }
    /* RTS#/DTR# are low while the signal is on. */
    bool on = !high != l->inverted;
    int bit = l->kind == PC_LINE_RTS ? TIOCM_RTS : TIOCM_DTR;
    return ioctl(s->fd, on ? TIOCMBIS : TIOCMBIC, &bit) == 0 ? 0 : -1;
}

static int port_set_boot0(void *ctx, bool high)
{
    pc_serial *s = ctx;
    return drive(s, &s->boot0, high, false);
}

static int port_set_reset(void *ctx, bool asserted)
{
    pc_serial *s = ctx;
    return drive(s, &s->nrst, !asserted, true);
}

/* ------------------------------------------------------------------------- */
/* Bytes and time                                                             */

static uint32_t port_now_ms(void *ctx)
{
    (void)ctx;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

static void port_delay_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    struct timespec left = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

static int port_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    pc_serial *s = ctx;
    uint32_t start = port_now_ms(ctx);
    for (;;) {
        uint32_t spent = port_now_ms(ctx) - start;
        int wait = spent >= timeout_ms ? 0 : (int)(timeout_ms - spent);
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int r = poll(&p, 1, wait);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            return 0;
        }
        if ((p.revents & POLLIN) != 0) {
            ssize_t n = read(s->fd, buf, len);
            if (n > 0) {
                return (int)n;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            return -1; /* 0 with POLLIN: end of file, the other side is gone */
        }
        if ((p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
            return -1;
        }
    }
}

static int port_write(void *ctx, const uint8_t *buf, size_t len)
{
    pc_serial *s = ctx;
    size_t done = 0;
    while (done < len) {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        int r = poll(&p, 1, WRITE_STALL_MS);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
            return -1;
        }
        ssize_t n = write(s->fd, buf + done, len - done);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int port_set_baud(void *ctx, uint32_t baud)
{
    pc_serial *s = ctx;
    if (configure(s->fd, baud) != 0) {
        return -1;
    }
    s->baud = baud;
    return 0;
}

static void port_log(void *ctx, stm32isp_log_level level, const char *msg)
{
    pc_serial *s = ctx;
    if (s->log != NULL) {
        s->log(s->log_ctx, level, msg);
    }
}

const stm32isp_port_ops pc_serial_ops = {
    .read = port_read,
    .write = port_write,
    .now_ms = port_now_ms,
    .delay_ms = port_delay_ms,
    .set_boot0 = port_set_boot0,
    .set_reset = port_set_reset,
    .set_baud = port_set_baud,
    .log = port_log,
};

const stm32isp_port_ops pc_serial_ops_no_pins = {
    .read = port_read,
    .write = port_write,
    .now_ms = port_now_ms,
    .delay_ms = port_delay_ms,
    .set_baud = port_set_baud,
    .log = port_log,
};

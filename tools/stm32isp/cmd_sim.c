/*
 * `stm32isp sim`: serves the bootloader model on a pseudo-terminal so that any
 * AN3155 client (ours, stm32flash, STM32CubeProgrammer's CLI) can talk to it
 * as to a real target behind a USB-serial adapter; or on a unix-domain socket,
 * where QEMU's `-serial unix:PATH` plugs an emulated MCU's USART into it.
 */
#include "cli.h"
#include "fileio.h"

#include "blsim/blsim.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

typedef struct sim_options {
    const char *port_link;
    const char *unix_path;
    const char *device;
    unsigned long flash_kb;
    const char *flash_in;
    const char *flash_out;
    const char *stats;
    const char *faults;
    const char *banner;
    unsigned long baud;
    bool rdp;
    bool get_checksum;
    unsigned long pid;
    bool exit_on_go;
    bool quiet;
    bool verbose;
    bool realtime;
    double idle_exit;
    blsim_go_state go_state;
    long hsi_ppm;
    bool no_crystal;
    bool weak_byte; /* --weak-byte was given */
    unsigned long weak_offset;
} sim_options;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_ulong(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Room for the ".tmpPID" suffix of the name a socket is bound to before it
 * is renamed into place. */
#define SOCKET_TMP_SUFFIX 16

static size_t sun_path_size(void)
{
    struct sockaddr_un a;
    return sizeof a.sun_path;
}

enum {
    S_PORT_LINK,
    S_UNIX,
    S_DEVICE,
    S_FLASH_KB,
    S_FLASH_IN,
    S_FLASH_OUT,
    S_STATS,
    S_RDP,
    S_GET_CHECKSUM,
    S_PID,
    S_FAULTS,
    S_BANNER,
    S_GO_STATE,
    S_HSI_PPM,
    S_NO_CRYSTAL,
    S_WEAK_BYTE,
    S_BAUD,
    S_EXIT_ON_GO,
    S_IDLE_EXIT,
    S_QUIET,
    S_VERBOSE,
    S_REALTIME,
};

static const cli_option sim_cli_options[] = {
    [S_PORT_LINK] = {"port-link", 0, "PATH",
                     "where to link the pty's client side (a new path, or a\n"
                     "stale link left by an earlier simulator)"},
    [S_UNIX] = {"unix", 0, "PATH", "serve on a unix-domain socket at PATH instead"},
    [S_DEVICE] = {"device", 0, "NAME", "f103md (default), f103hd or f072"},
    [S_FLASH_KB] = {"flash-kb", 0, "N",
                    "flash size in KiB (f103md: 64 or 128; f103hd: 256-512;\nf072: 64-128)"},
    [S_FLASH_IN] = {"flash-in", 0, "FILE", "initial flash contents (the rest reads 0xFF)"},
    [S_FLASH_OUT] = {"flash-out", 0, "FILE", "write the flash contents here on exit"},
    [S_STATS] = {"stats", 0, "FILE",
                 "write a JSON record here on exit: virtual seconds,\n"
                 "bytes each way, commands, pages erased, resets, faults"},
    [S_RDP] = {"rdp", 0, NULL, "start with readout protection active"},
    [S_GET_CHECKSUM] = {"get-checksum", 0, NULL,
                        "also offer Get Checksum 0xA1 (as bootloaders v3.3+ do)"},
    [S_PID] = {"pid", 0, "PID", "answer Get ID with PID instead (a clone)"},
    [S_FAULTS] = {"faults", 0, "SPEC",
                  "inject faults, e.g. flip=1e-4,drop=1e-3,nack=5,seed=7\n"
                  "keys: seed, dir=both|rx|tx, flip, drop, insert (rates),\n"
                  "nack=N (Nth ACK), reset-byte=N, reset-cmd=N, slow,\n"
                  "silent-abort (a bad Read/Write address is ACKed and\n"
                  "dropped, as the F1 parts do by default), nack-address\n"
                  "(NACKed, on the F1 parts too)"},
    [S_BANNER] = {"app-banner", 0, "TEXT", "the application prints TEXT when it starts"},
    [S_GO_STATE] = {"go-state", 0, "STATE",
                    "what a program started by Go in RAM finds: f103-v2.2\n"
                    "(the F103 ROM's hand-over: HSI, USART1 at the rate it\n"
                    "measured for 24 MHz) or reset-values (every peripheral at\n"
                    "reset, as AN3155 describes); default: the device's"},
    [S_HSI_PPM] = {"hsi-ppm", 0, "N",
                   "the target's HSI is N ppm off 8 MHz (the ROM's autobaud\n"
                   "follows it; code assuming 8 MHz does not)"},
    [S_NO_CRYSTAL] = {"no-crystal", 0, NULL, "the board has no HSE crystal"},
    [S_WEAK_BYTE] = {"weak-byte", 0, "OFFSET",
                     "the flash byte at OFFSET does not hold what is written:\n"
                     "once programmed, its bit 5 flips (a worn cell); the\n"
                     "write is acknowledged, only verification shows it"},
    [S_BAUD] = {"baud", 0, "N", "baud rate for the virtual clock (default 115200)"},
    [S_EXIT_ON_GO] = {"exit-on-go", 0, NULL, "exit once Go has started the application"},
    [S_IDLE_EXIT] = {"idle-exit", 0, "SECS", "exit after SECS seconds with no traffic"},
    [S_QUIET] = {"quiet", 0, NULL, "no status lines on stderr"},
    [S_VERBOSE] = {"verbose", 0, NULL,
                   "also print what the virtual MCU logs (frames at the\n"
                   "wrong rate, faults) on stderr"},
    [S_REALTIME] = {"realtime", 0, NULL,
                    "answer no sooner than the part would: an erase or a write\n"
                    "takes its datasheet time in wall-clock time too (default:\n"
                    "as fast as the client reads)"},
    {NULL, 0, NULL, NULL},
};

static int sim_take(void *ctx, int option, const char *value)
{
    sim_options *o = ctx;
    unsigned long v;
    char *end;
    switch (option) {
    case S_PORT_LINK:
        o->port_link = value;
        return EXIT_OK;
    case S_UNIX:
        o->unix_path = value;
        return EXIT_OK;
    case S_DEVICE:
        o->device = value;
        return EXIT_OK;
    case S_FLASH_KB:
        if (parse_ulong(value, 65535, &o->flash_kb) != 0 || o->flash_kb == 0) {
            cli_error("sim", "give the size in KiB, e.g. --flash-kb 128",
                      "--flash-kb '%s' is not a size", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case S_FLASH_IN:
        o->flash_in = value;
        return EXIT_OK;
    case S_FLASH_OUT:
        o->flash_out = value;
        return EXIT_OK;
    case S_STATS:
        o->stats = value;
        return EXIT_OK;
    case S_RDP:
        o->rdp = true;
        return EXIT_OK;
    case S_GET_CHECKSUM:
        o->get_checksum = true;
        return EXIT_OK;
    case S_PID:
        if (parse_ulong(value, 0xFFFF, &o->pid) != 0 || o->pid == 0) {
            cli_error("sim", "e.g. --pid 0x7AB", "--pid '%s' is not a product ID", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case S_FAULTS:
        o->faults = value;
        return EXIT_OK;
    case S_BANNER:
        o->banner = value;
        return EXIT_OK;
    case S_BAUD:
        if (parse_ulong(value, 4000000, &v) != 0 || v < 1200) {
            cli_error("sim", "the bootloader autobauds from 1200 to 115200 baud",
                      "--baud '%s' is not a usable baud rate", value);
            return EXIT_USAGE;
        }
        o->baud = v;
        return EXIT_OK;
    case S_EXIT_ON_GO:
        o->exit_on_go = true;
        return EXIT_OK;
    case S_IDLE_EXIT:
        errno = 0;
        o->idle_exit = strtod(value, &end);
        if (errno != 0 || end == value || *end != '\0' || !(o->idle_exit > 0)) {
            cli_error("sim", NULL, "--idle-exit '%s' is not a number of seconds", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case S_QUIET:
        o->quiet = true;
        return EXIT_OK;
    case S_GO_STATE:
        if (strcmp(value, blsim_go_state_name(BLSIM_GO_F103_V22)) == 0) {
            o->go_state = BLSIM_GO_F103_V22;
        } else if (strcmp(value, blsim_go_state_name(BLSIM_GO_RESET_VALUES)) == 0) {
            o->go_state = BLSIM_GO_RESET_VALUES;
        } else {
            cli_error("sim", "use --go-state f103-v2.2 or --go-state reset-values",
                      "--go-state '%s' is not a known state", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case S_HSI_PPM:
        errno = 0;
        o->hsi_ppm = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || o->hsi_ppm < -200000 ||
            o->hsi_ppm > 200000) {
            cli_error("sim", "e.g. --hsi-ppm -30000 for an HSI 3 % slow",
                      "--hsi-ppm '%s' is not a number of ppm within +-200000", value);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    case S_NO_CRYSTAL:
        o->no_crystal = true;
        return EXIT_OK;
    case S_WEAK_BYTE:
        if (parse_ulong(value, UINT32_MAX, &o->weak_offset) != 0) {
            cli_error("sim", "an offset into the flash, e.g. --weak-byte 0x400",
                      "--weak-byte '%s' is not an offset", value);
            return EXIT_USAGE;
        }
        o->weak_byte = true;
        return EXIT_OK;
    case S_VERBOSE:
        o->verbose = true;
        return EXIT_OK;
    case S_REALTIME:
        o->realtime = true;
        return EXIT_OK;
    default:
        return EXIT_USAGE;
    }
}

/* What the options must say together: EXIT_OK or EXIT_USAGE. */
static int check_options(const sim_options *o)
{
    if (o->port_link != NULL && o->unix_path != NULL) {
        cli_error("sim", "serve either on a pty (--port-link) or on a socket (--unix)",
                  "--port-link and --unix cannot be used together");
        return EXIT_USAGE;
    }
    if (o->port_link == NULL && o->unix_path == NULL) {
        cli_error("sim",
                  "e.g. stm32isp sim --port-link /tmp/target-tty, or --unix /tmp/target.sock",
                  "--port-link PATH is required (or --unix PATH)");
        return EXIT_USAGE;
    }
    if (o->unix_path != NULL && strlen(o->unix_path) + SOCKET_TMP_SUFFIX >= sun_path_size()) {
        cli_error("sim",
                  "use a shorter path, e.g. in /tmp (socket names are limited to about 90 bytes)",
                  "--unix '%s' is too long for a unix socket", o->unix_path);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void log_to_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "stm32isp sim: %s\n", line);
}

/* Builds the model from the options; returns an exit code (EXIT_OK with
 * *out set, or the reason it could not). */
static int create_model(const sim_options *o, blsim **out)
{
    blsim_config cfg = {0};
    cfg.device = blsim_device_find(o->device);
    if (cfg.device == NULL) {
        cli_error("sim", "known devices: f103md, f103hd, f072", "unknown device '%s'", o->device);
        return EXIT_USAGE;
    }
    cfg.flash_kb = (uint32_t)o->flash_kb;
    if (cfg.flash_kb != 0 &&
        (cfg.flash_kb < cfg.device->flash_kb_min || cfg.flash_kb > cfg.device->flash_kb_max ||
         (cfg.flash_kb * 1024u) % cfg.device->page_size != 0)) {
        cli_error("sim", NULL, "%s has %u to %u KiB of flash in %u-byte pages; %lu does not fit",
                  cfg.device->name, cfg.device->flash_kb_min, cfg.device->flash_kb_max,
                  cfg.device->page_size, o->flash_kb);
        return EXIT_USAGE;
    }
    cfg.baud = (uint32_t)o->baud;
    cfg.boot0 = true; /* a pty has no pins: the target sits in its bootloader */
    cfg.readout_protected = o->rdp;
    cfg.get_checksum = o->get_checksum;
    cfg.pid_override = (uint16_t)o->pid;
    cfg.app_banner = o->banner;
    cfg.go_state = o->go_state;
    cfg.hsi_ppm = (int32_t)o->hsi_ppm;
    cfg.no_crystal = o->no_crystal;
    if (o->verbose) {
        cfg.log = log_to_stderr;
    }
    if (o->faults != NULL) {
        char err[256];
        if (blsim_faults_parse(o->faults, &cfg.faults, err, sizeof err) != 0) {
            cli_error("sim", "see 'stm32isp sim --help' for the fault keys", "%s", err);
            return EXIT_USAGE;
        }
    }
    blsim *sim = blsim_new(&cfg);
    if (sim == NULL) {
        cli_error("sim", NULL, "out of memory");
        return EXIT_FAILURE_GENERIC;
    }
    if (o->flash_in != NULL) {
        uint8_t *data;
        size_t size;
        if (fileio_read_all(o->flash_in, &data, &size) != 0) {
            cli_error("sim", NULL, "cannot read --flash-in %s: %s", o->flash_in, strerror(errno));
            blsim_free(sim);
            return EXIT_IO;
        }
        if (size > blsim_flash_size(sim)) {
            cli_error("sim", "use a larger --flash-kb or a smaller file",
                      "--flash-in %s holds %zu bytes but the flash has %u", o->flash_in, size,
                      blsim_flash_size(sim));
            free(data);
            blsim_free(sim);
            return EXIT_USAGE;
        }
        memcpy(blsim_flash(sim), data, size);
        free(data);
    }
    if (o->weak_byte && o->weak_offset >= blsim_flash_size(sim)) {
        cli_error("sim", "give an offset from the flash's start, below its size",
                  "--weak-byte 0x%lx is past the flash's %u bytes", o->weak_offset,
                  blsim_flash_size(sim));
        blsim_free(sim);
        return EXIT_USAGE;
    }
    *out = sim;
    return EXIT_OK;
}

/* Opens a pty in raw mode; returns the master fd, keeps a slave fd open so
 * that clients can come and go without the master seeing a hang-up. */
static int open_pty(int *slave_fd, char *slave_name, size_t name_size)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (master < 0) {
        return -1;
    }
    const char *name;
    if (grantpt(master) != 0 || unlockpt(master) != 0 || (name = ptsname(master)) == NULL) {
        close(master);
        return -1;
    }
    snprintf(slave_name, name_size, "%s", name);
    *slave_fd = open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave_fd < 0) {
        close(master);
        return -1;
    }
    struct termios tio;
    if (tcgetattr(*slave_fd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(*slave_fd, TCSANOW, &tio);
    }
    return master;
}

/* Where the symlink at `path` points, or "" when it is not a symlink. */
static void link_target(const char *path, char *buf, size_t size)
{
    ssize_t n = readlink(path, buf, size - 1);
    buf[n > 0 ? (size_t)n : 0] = '\0';
}

/*
 * Links the pty at PATH, which must not exist, or be a stale link an
 * earlier simulator left: one to a pseudo-terminal that no longer exists.
 * Anything else (a file, a live simulator's link) is the user's and is
 * left alone. symlink() creates the link in one step and fails if a name
 * appeared meanwhile, so two simulators cannot take PATH from each other.
 * Returns 0, or -1 after saying why.
 */
static int link_port(const char *pty, const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        char old[PATH_MAX];
        link_target(path, old, sizeof old);
        bool pty_link = S_ISLNK(st.st_mode) && strncmp(old, "/dev/pts/", 9) == 0;
        if (!pty_link) {
            cli_error("sim", "choose another --port-link, or remove that file yourself",
                      "--port-link %s exists and is not a link a simulator made; it was left "
                      "alone",
                      path);
            return -1;
        }
        if (access(old, F_OK) == 0) {
            cli_error("sim", "stop that simulator first, or choose another --port-link",
                      "--port-link %s links to %s, a pseudo-terminal that exists: another "
                      "simulator (or program) uses it",
                      path, old);
            return -1;
        }
        /* Stale: its pseudo-terminal is gone. */
        if (unlink(path) != 0 && errno != ENOENT) {
            cli_error("sim", NULL, "cannot remove the stale link %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (symlink(pty, path) != 0) {
        cli_error("sim", "choose a --port-link in a folder you can write",
                  "cannot link %s at %s: %s", pty, path,
                  errno == EEXIST ? "another process created it meanwhile" : strerror(errno));
        return -1;
    }
    return 0;
}

/* Removes the link at PATH if it is still the one to our pty. */
static void unlink_port(const char *pty, const char *path)
{
    char now[PATH_MAX];
    link_target(path, now, sizeof now);
    if (strcmp(now, pty) == 0) {
        unlink(path);
    }
}

/*
 * Puts the target's TX bytes on the pty. A real target's UART never waits for
 * a listener, so neither does this: when the client has stopped reading and
 * the pty stays full for TX_STALL_MS, the rest is dropped (and counted).
 * Returns -1 only for a real I/O error.
 */
#define TX_STALL_MS 2000

static size_t tx_dropped;

static int write_all(int fd, const uint8_t *p, size_t n)
{
    int stalled_ms = 0;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && errno == EAGAIN) {
            if (stalled_ms >= TX_STALL_MS || stop_requested) {
                tx_dropped += n;
                return 0;
            }
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 50);
            stalled_ms += 50;
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        stalled_ms = 0;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Where the model's bytes go: the pty's master side (the slave side kept
 * open), or a connected socket. */
typedef struct sim_link {
    int fd;
    int slave_fd; /* pty only; -1 for a socket */
} sim_link;

/* Bytes sent that the client has not read yet, or -1 if unknown. */
static int unread_by_client(const sim_link *link)
{
    int queued = 0;
    if (link->slave_fd >= 0) {
        return ioctl(link->slave_fd, FIONREAD, &queued) == 0 ? queued : -1;
    }
    /* On a unix stream socket the sender is charged for a message until the
     * receiver has consumed it: the output queue is what is still unread. */
    return ioctl(link->fd, SIOCOUTQ, &queued) == 0 ? queued : -1;
}

/* Waits (bounded) until the client has read what we sent, but for up to
 * `leftover` bytes it may never read (the application's banner). */
static void wait_client_read(const sim_link *link, size_t leftover)
{
    /* Bytes written to a pty's master reach the slave's queue a moment
     * later (the kernel pushes them from a worker thread): a queue found
     * empty right after the write does not mean they were read, and closing
     * then loses them. So the queue must stay empty for 50 ms. */
    int quiet = 0;
    for (int i = 0; i < 200 && quiet < 5; i++) {
        int queued = unread_by_client(link);
        if (queued < 0) {
            return;
        }
        quiet = (size_t)queued <= leftover ? quiet + 1 : 0;
        usleep(10000);
    }
}

static int save_outputs(const sim_options *o, const blsim *sim)
{
    int rc = EXIT_OK;
    if (o->flash_out != NULL &&
        fileio_write_atomic(o->flash_out, blsim_flash_const(sim), blsim_flash_size(sim)) != 0) {
        cli_error("sim", NULL, "cannot write --flash-out %s: %s", o->flash_out, strerror(errno));
        rc = EXIT_IO;
    }
    if (o->stats != NULL) {
        int need = blsim_stats_json(sim, NULL, 0);
        char *json = malloc((size_t)need + 2);
        if (json == NULL) {
            return EXIT_IO;
        }
        blsim_stats_json(sim, json, (size_t)need + 1);
        json[need] = '\n';
        if (fileio_write_atomic(o->stats, json, (size_t)need + 1) != 0) {
            cli_error("sim", NULL, "cannot write --stats %s: %s", o->stats, strerror(errno));
            rc = EXIT_IO;
        }
        free(json);
    }
    return rc;
}

static bool session_over(const blsim *sim)
{
    blsim_state s = blsim_get_state(sim);
    return blsim_get_stats(sim)->gos > 0 && (s == BLSIM_STATE_APP || s == BLSIM_STATE_HARDFAULT);
}

/*
 * --realtime: replies leave no earlier than the virtual clock says, counted
 * from when the request arrived, so that an erase or a long write takes
 * the time it would on a real part (a user can watch it, and interrupt
 * it). The anchor pairs a wall-clock time with the virtual time then.
 */
static bool realtime;
static double anchor_wall;
static uint64_t anchor_virtual_ns;

static void realtime_anchor(const blsim *sim)
{
    anchor_wall = monotonic_seconds();
    anchor_virtual_ns = blsim_now_ns(sim);
}

static void realtime_wait(const blsim *sim)
{
    double due = anchor_wall + (double)(blsim_now_ns(sim) - anchor_virtual_ns) / 1e9;
    /* In steps, so that a signal ends the wait; a model's longest step (a
     * mass erase) is well within the bound. */
    for (int steps = 0; steps < 6000 && !stop_requested; steps++) {
        double left = due - monotonic_seconds();
        if (left <= 0) {
            break;
        }
        usleep((useconds_t)((left < 0.01 ? left : 0.01) * 1e6));
    }
}

/*
 * --weak-byte: a flash cell that does not hold what is written, so that a
 * client's verification can be shown to catch a write that was
 * acknowledged but did not take (docs/simulator.md). The model has no such
 * fault; the server applies it between the model's steps: whenever the
 * byte has changed to a programmed value since the last look, one bit
 * flips. It looks after every chunk the model takes and every drain, so a
 * write is spoilt before the client's next byte reaches the model: nothing
 * (a Read Memory, code that Go starts) can see the value as written. An
 * erase leaves it erased.
 */
#define WEAK_BIT 0x20u
static bool weak_on;
static uint32_t weak_offset;
static uint8_t weak_seen; /* the byte as the last look left it */

static void weak_byte_init(const sim_options *o, blsim *sim)
{
    weak_on = o->weak_byte;
    weak_offset = (uint32_t)o->weak_offset;
    weak_seen = weak_on ? blsim_flash(sim)[weak_offset] : 0;
}

static void weak_byte_apply(blsim *sim)
{
    if (!weak_on) {
        return;
    }
    uint8_t *b = blsim_flash(sim) + weak_offset;
    if (*b != weak_seen && *b != 0xFF) {
        *b ^= WEAK_BIT;
    }
    weak_seen = *b;
}

/* Sends everything the model has to say, advancing its clock as needed. */
static int flush_model(blsim *sim, int master)
{
    uint8_t out[1024];
    weak_byte_apply(sim);
    for (;;) {
        size_t m = blsim_host_drain(sim, out, sizeof out);
        weak_byte_apply(sim);
        if (m == 0) {
            break;
        }
        if (realtime) {
            realtime_wait(sim);
        }
        if (write_all(master, out, m) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Hands the client's bytes to the model a few at a time, so that a client
 * that sends many commands without reading cannot overflow its reply queue. */
static int feed(blsim *sim, int master, const uint8_t *in, size_t n)
{
    enum { CHUNK = 16 };
    /* Let pending events (boot after a reset) happen first: a real host
     * waits at least that long between sessions. */
    if (flush_model(sim, master) != 0) {
        return -1;
    }
    realtime_anchor(sim); /* the bytes arrived now */
    for (size_t at = 0; at < n; at += CHUNK) {
        blsim_host_send(sim, in + at, n - at < CHUNK ? n - at : CHUNK);
        if (flush_model(sim, master) != 0) {
            return -1;
        }
    }
    return 0;
}

static int serve(const sim_options *o, blsim *sim, const sim_link *link)
{
    uint8_t in[4096];
    double last_traffic = monotonic_seconds();
    double last_advance = last_traffic; /* the virtual clock followed the client to here */
    const char *why = "stopped by signal";
    size_t banner_len = o->banner != NULL ? strlen(o->banner) : 0;
    const bool socket_link = link->slave_fd < 0;
    const char *what = socket_link ? "socket" : "pty";

    while (!stop_requested) {
        struct pollfd pfd = {.fd = link->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, 50);
        if (ready < 0 && errno != EINTR) {
            cli_error("sim", NULL, "poll failed: %s", strerror(errno));
            return EXIT_IO;
        }
        short events = socket_link ? (POLLIN | POLLHUP | POLLERR) : POLLIN;
        if (ready > 0 && (pfd.revents & events)) {
            ssize_t n = read(link->fd, in, sizeof in);
            if (socket_link && (n == 0 || (n < 0 && errno == ECONNRESET))) {
                why = "the client closed the connection";
                break;
            }
            if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EIO) {
                cli_error("sim", NULL, "reading the %s failed: %s", what, strerror(errno));
                return EXIT_IO;
            }
            if (n > 0) {
                last_traffic = monotonic_seconds();
                last_advance = last_traffic;
                if (feed(sim, link->fd, in, (size_t)n) != 0) {
                    if (socket_link && (errno == EPIPE || errno == ECONNRESET)) {
                        why = "the client closed the connection";
                        break;
                    }
                    cli_error("sim", NULL, "writing the %s failed: %s", what, strerror(errno));
                    return EXIT_IO;
                }
                if (o->exit_on_go && session_over(sim)) {
                    wait_client_read(link, banner_len);
                    why = "Go started the application";
                    break;
                }
            }
        } else if (ready == 0 && blsim_get_state(sim) == BLSIM_STATE_RAM_PROGRAM) {
            /* Code in RAM runs on while the client is silent, as on a real
             * target: its timeouts and its idle reset happen in the time
             * the client waits. The ROM model needs no such time: it only
             * waits for bytes. */
            double now = monotonic_seconds();
            blsim_idle(sim, (uint64_t)((now - last_advance) * 1e6));
            last_advance = now;
            realtime_anchor(sim);
            if (flush_model(sim, link->fd) != 0) {
                cli_error("sim", NULL, "writing the %s failed: %s", what, strerror(errno));
                return EXIT_IO;
            }
            if (o->exit_on_go && session_over(sim)) {
                wait_client_read(link, banner_len);
                why = "Go started the application";
                break;
            }
        }
        if (o->idle_exit > 0 && monotonic_seconds() - last_traffic > o->idle_exit) {
            why = "idle timeout";
            break;
        }
    }
    if (!o->quiet) {
        fprintf(stderr, "stm32isp sim: %s; target state: %s\n", why,
                blsim_state_name(blsim_get_state(sim)));
        if (tx_dropped > 0) {
            fprintf(stderr, "stm32isp sim: %zu bytes the client never read were dropped\n",
                    tx_dropped);
        }
    }
    return EXIT_OK;
}

/*
 * Listens on a unix-domain stream socket at `path`. The socket is bound to a
 * temporary name, listens, and is then renamed to `path`: a client that
 * waits for `path` to exist can connect at once, never too early.
 */
static int listen_unix(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s.tmp%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    unlink(addr.sun_path);
    if (bind(fd, (const struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1) != 0 ||
        rename(addr.sun_path, path) != 0) {
        int saved = errno;
        unlink(addr.sun_path);
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Waits for the one client, bounded by signals and --idle-exit. Returns the
 * connected socket (non-blocking), or -1 with `*why` saying what ended the
 * wait (and *rc an exit code when it was an error). */
static int accept_client(const sim_options *o, int listener, const char **why, int *rc)
{
    double start = monotonic_seconds();
    *rc = EXIT_OK;
    while (!stop_requested) {
        struct pollfd pfd = {.fd = listener, .events = POLLIN};
        int ready = poll(&pfd, 1, 50);
        if (ready < 0 && errno != EINTR) {
            cli_error("sim", NULL, "poll failed: %s", strerror(errno));
            *rc = EXIT_IO;
            return -1;
        }
        if (ready > 0) {
            int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) {
                return fd;
            }
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                cli_error("sim", NULL, "accepting a connection failed: %s", strerror(errno));
                *rc = EXIT_IO;
                return -1;
            }
        }
        if (o->idle_exit > 0 && monotonic_seconds() - start > o->idle_exit) {
            *why = "idle timeout (no client connected)";
            return -1;
        }
    }
    *why = "stopped by signal (no client connected)";
    return -1;
}

static void announce(const sim_options *o, const blsim *sim, const char *where)
{
    if (o->quiet) {
        return;
    }
    const blsim_device *d = blsim_get_device(sim);
    fprintf(stderr, "stm32isp sim: %s (PID 0x%03X, bootloader v%u.%u, %u KiB flash%s) %s\n",
            d->description, d->pid, (unsigned)d->bootloader_version >> 4,
            (unsigned)d->bootloader_version & 15u, blsim_flash_size(sim) / 1024,
            blsim_readout_protected(sim) ? ", readout protected" : "", where);
}

/* --unix PATH may be new, or a socket nobody listens on any more (left by
 * an earlier simulator); anything else is not ours to replace. Returns 0,
 * or -1 after saying why. */
static int socket_path_free(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return 0;
    }
    if (S_ISSOCK(st.st_mode)) {
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = fd >= 0 ? connect(fd, (const struct sockaddr *)&addr, sizeof addr) : -1;
        int why = errno;
        if (fd >= 0) {
            close(fd);
        }
        if (rc != 0 && why == ECONNREFUSED) {
            return 0; /* stale */
        }
        cli_error("sim", "stop that server first, or choose another --unix path",
                  "--unix %s: a server is listening there", path);
        return -1;
    }
    cli_error("sim", "choose another --unix path, or remove that file yourself",
              "--unix %s exists and is not a socket; it was left alone", path);
    return -1;
}

/* --unix: one client on a socket, then the same loop as on a pty. */
static int run_on_socket(const sim_options *o, blsim *sim, bool *served)
{
    if (socket_path_free(o->unix_path) != 0) {
        return EXIT_IO;
    }
    int listener = listen_unix(o->unix_path);
    if (listener < 0) {
        cli_error("sim", "choose a --unix path in a folder you can write",
                  "cannot listen on a unix socket at %s: %s", o->unix_path, strerror(errno));
        return EXIT_IO;
    }
    char where[256];
    snprintf(where, sizeof where, "on unix socket %s; a byte stream, no framing", o->unix_path);
    announce(o, sim, where);
    *served = true;

    const char *why = NULL;
    int rc;
    int fd = accept_client(o, listener, &why, &rc);
    /* One client only: nobody else may connect to a session in progress. */
    close(listener);
    unlink(o->unix_path);
    if (fd < 0) {
        if (rc == EXIT_OK && !o->quiet) {
            fprintf(stderr, "stm32isp sim: %s; target state: %s\n", why,
                    blsim_state_name(blsim_get_state(sim)));
        }
        return rc;
    }
    if (!o->quiet) {
        fprintf(stderr, "stm32isp sim: client connected\n");
    }
    sim_link link = {.fd = fd, .slave_fd = -1};
    rc = serve(o, sim, &link);
    close(fd);
    return rc;
}

static int run_on_pty(const sim_options *o, blsim *sim, bool *served)
{
    char slave_name[128];
    sim_link link = {.slave_fd = -1};
    link.fd = open_pty(&link.slave_fd, slave_name, sizeof slave_name);
    if (link.fd < 0) {
        cli_error("sim", NULL, "cannot create a pseudo-terminal: %s", strerror(errno));
        return EXIT_IO;
    }
    if (link_port(slave_name, o->port_link) != 0) {
        close(link.fd);
        close(link.slave_fd);
        return EXIT_IO;
    }
    char where[1024];
    snprintf(where, sizeof where, "on %s, linked at %s; 8N1 on the pty", slave_name, o->port_link);
    announce(o, sim, where);
    *served = true;
    int rc = serve(o, sim, &link);
    unlink_port(slave_name, o->port_link);
    close(link.fd);
    close(link.slave_fd);
    return rc;
}

static int sim_run(const cli_command *cmd, int argc, char **argv)
{
    sim_options o = {.device = "f103md"};
    int first;
    int rc = cli_parse(cmd, argc, argv, sim_take, &o, &first);
    if (rc != EXIT_OK) {
        return rc == CLI_HELP ? EXIT_OK : rc;
    }
    if (first < argc) {
        cli_error("sim", "see 'stm32isp help sim'", "unexpected argument '%s'", argv[first]);
        return EXIT_USAGE;
    }
    if ((rc = check_options(&o)) != EXIT_OK) {
        return rc;
    }
    blsim *sim = NULL;
    rc = create_model(&o, &sim);
    if (rc != EXIT_OK) {
        return rc;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    realtime = o.realtime;
    weak_byte_init(&o, sim);
    bool served = false;
    rc = o.unix_path != NULL ? run_on_socket(&o, sim, &served) : run_on_pty(&o, sim, &served);
    /* Once serving began the outputs are written whatever the ending. */
    int save_rc = served ? save_outputs(&o, sim) : EXIT_OK;
    blsim_free(sim);
    return rc != EXIT_OK ? rc : save_rc;
}

const cli_command cmd_sim = {
    .name = "sim",
    .summary = "simulate an STM32 ROM bootloader on a pseudo-terminal",
    .usage = "sim --port-link PATH [options]\n       stm32isp sim --unix PATH [options]",
    .about = "Simulates the ROM bootloader of an STM32 (AN3155 over USART) on a\n"
             "pseudo-terminal whose client side is linked at PATH. Point a client at\n"
             "PATH as if it were a serial port. PATH must not exist, or be a link to a\n"
             "pseudo-terminal that no longer exists (one an earlier simulator left):\n"
             "the simulator never replaces another file, nor a live simulator's link,\n"
             "and on exit removes the link only if it is still its own.\n"
             "\n"
             "A pseudo-terminal cannot carry parity: the simulator takes 8N1 framing on\n"
             "it, so clients must not ask for even parity (stm32flash: -m 8n1).\n"
             "\n"
             "With --unix it listens on a unix-domain stream socket at PATH instead and\n"
             "serves the first client that connects, until that client disconnects:\n"
             "a byte stream with no framing at all, which is what QEMU's\n"
             "'-serial unix:PATH' connects an emulated USART to (QEMU ignores the\n"
             "USART's parity and word length, so the firmware's 8E1 works unchanged).\n"
             "PATH appears only once the socket accepts connections: start the client\n"
             "when it exists.\n"
             "\n"
             "Code that Go starts in RAM (stm32isp's RAM CRC program, say) runs as its\n"
             "bytes on a virtual STM32F1 (docs/virtual-mcu.md).\n"
             "\n"
             "It serves until Go (with --exit-on-go), SIGINT/SIGTERM, the idle timeout\n"
             "or (--unix) the client's disconnection.",
    .options = sim_cli_options,
    .target = false,
    .run = sim_run,
};

/*
 * A stand-in for the master's console on a pseudo-terminal, for testing
 * `stm32isp load` against a link that loses and damages bytes: the
 * firmware's own load code (firmware/app/frame.c and loader.c) on the EEPROM
 * model, behind a console that answers "load" as the firmware does, with
 * faults injected on the frames and the answers.
 *
 * usage: fake_console LINK [--eeprom-in FILE] [--eeprom-out FILE] [FAULT...]
 *   LINK                 where to link the terminal's client side
 *   --eeprom-in FILE     the EEPROM's contents at the start (default blank)
 *   --eeprom-out FILE    its contents at the end
 *   drop-reply=N         the Nth answer is never sent
 *   damage-reply=N       the Nth answer is sent with a byte changed
 *   damage-frame=N       the Nth frame received gets a byte changed
 *   damage-from=N        so does every frame from the Nth on (a line too noisy)
 *   mute-from=N          no answer is sent from the Nth on
 * It ends when the transfer is over, or after 20 s without a byte.
 * Exit 0, or 2 on a bad command line or terminal.
 */
#include "frame.h"
#include "loader.h"

#include "eesim/eesim.h"
#include "stm32isp/job.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

typedef struct faults {
    unsigned drop_reply, damage_reply, damage_frame, damage_from, mute_from;
} faults;

static int fail(const char *what)
{
    fprintf(stderr, "fake_console: %s: %s\n", what, strerror(errno));
    return 2;
}

static unsigned number(const char *arg, const char *key)
{
    size_t n = strlen(key);
    return strncmp(arg, key, n) == 0 && arg[n] == '=' ? (unsigned)strtoul(arg + n + 1, NULL, 10)
                                                      : 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fake_console LINK [--eeprom-in F] [--eeprom-out F] [FAULT...]\n");
        return 2;
    }
    const char *link_path = argv[1];
    const char *in = NULL;
    const char *out = NULL;
    faults f = {0};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--eeprom-in") == 0 && i + 1 < argc) {
            in = argv[++i];
        } else if (strcmp(argv[i], "--eeprom-out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (number(argv[i], "drop-reply") != 0) {
            f.drop_reply = number(argv[i], "drop-reply");
        } else if (number(argv[i], "damage-reply") != 0) {
            f.damage_reply = number(argv[i], "damage-reply");
        } else if (number(argv[i], "damage-frame") != 0) {
            f.damage_frame = number(argv[i], "damage-frame");
        } else if (number(argv[i], "damage-from") != 0) {
            f.damage_from = number(argv[i], "damage-from");
        } else if (number(argv[i], "mute-from") != 0) {
            f.mute_from = number(argv[i], "mute-from");
        } else {
            fprintf(stderr, "fake_console: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }

    eesim_config cfg = {.part = eesim_part_find("24c256")};
    eesim *model = eesim_new(&cfg);
    char err[256];
    if (model == NULL || (in != NULL && eesim_load_file(model, in, err, sizeof err) != 0)) {
        fprintf(stderr, "fake_console: cannot set the EEPROM up\n");
        return 2;
    }
    stm32isp_eeprom ee;
    stm32isp_eeprom_init(&ee, &eesim_i2c_ops, model, stm32isp_eeprom_part_find("24c256"), 0x50);
    static stm32isp_container ct;
    static uint8_t scratch[256];
    static loader l;
    static frame_parser parser;
    loader_init(&l, &ee, &ct, scratch, sizeof scratch);
    frame_parser_reset(&parser);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        return fail("cannot make a pseudo-terminal");
    }
    const char *slave_name = ptsname(master);
    /* The client side stays open here too, so that the client's close is
     * not a hang-up, and raw, so that no byte is changed on the way. */
    int slave = slave_name != NULL ? open(slave_name, O_RDWR | O_NOCTTY) : -1;
    struct termios t;
    if (slave < 0 || tcgetattr(slave, &t) != 0) {
        return fail("cannot open the pseudo-terminal");
    }
    cfmakeraw(&t);
    if (tcsetattr(slave, TCSANOW, &t) != 0) {
        return fail("cannot make the pseudo-terminal raw");
    }
    (void)unlink(link_path);
    if (symlink(slave_name, link_path) != 0) {
        return fail(link_path);
    }

    char line[96];
    size_t line_len = 0;
    bool binary = false;
    unsigned frames = 0, replies = 0;
    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        int r = poll(&p, 1, 20000);
        if (r <= 0) {
            break; /* 20 s of silence */
        }
        uint8_t buf[256];
        ssize_t n = read(master, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n && !binary; i++) {
            /* The console: backspace, and lines ended by CR. */
            if (buf[i] == 0x7F) {
                line_len -= line_len > 0;
            } else if (buf[i] == '\r') {
                line[line_len] = '\0';
                line_len = 0;
                if (strcmp(line, "load") == 0) {
                    static const char ready[] = "load\r\nload: ready, 32768 bytes (24c256)\r\n";
                    if (write_all(master, ready, sizeof ready - 1) != 0) {
                        return fail("write");
                    }
                    binary = true; /* the rest of this read is frames */
                    memmove(buf, buf + i + 1, (size_t)(n - i - 1));
                    n -= i + 1;
                    break;
                }
            } else if (line_len + 1 < sizeof line) {
                line[line_len++] = (char)buf[i];
            }
        }
        if (!binary) {
            continue;
        }
        const uint8_t *data = buf;
        size_t len = (size_t)n;
        while (len > 0 && !l.over) {
            size_t used;
            frame fr;
            /* Damage lands on the Nth frame's first byte after its start. */
            bool damage_this = (f.damage_frame != 0 && frames + 1 == f.damage_frame) ||
                               (f.damage_from != 0 && frames + 1 >= f.damage_from &&
                                *data != FRAME_ABORT); /* the type byte: let the abort end it */
            if (damage_this && parser.have == 1) {
                buf[data - buf] ^= 0x10;
                f.damage_frame = 0;
            }
            frame_status st = frame_parse(&parser, data, 1, &used, &fr);
            data += used;
            len -= used;
            if (st == FRAME_MORE) {
                continue;
            }
            frames++;
            if (st == FRAME_DAMAGED) {
                frame_parser_reset(&parser); /* as the firmware's load session does */
            }
            size_t rn = loader_handle(&l, st, &fr);
            replies += rn > 0;
            if (rn == 0 || replies == f.drop_reply ||
                (f.mute_from != 0 && replies >= f.mute_from)) {
                continue;
            }
            if (replies == f.damage_reply) {
                l.reply[rn - 1] ^= 0x01;
            }
            if (write_all(master, l.reply, rn) != 0) {
                return fail("write");
            }
        }
        if (l.over) {
            break;
        }
    }
    usleep(200000); /* let the client read the last answer */
    (void)unlink(link_path);
    if (out != NULL && eesim_save_file(model, out, err, sizeof err) != 0) {
        fprintf(stderr, "fake_console: %s\n", err);
        return 2;
    }
    printf("frames %u, replies %u, over %d, reason %d\n", frames, replies, l.over, l.reason);
    close(slave);
    close(master);
    eesim_free(model);
    return 0;
}

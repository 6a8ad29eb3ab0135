/*
 * The PC serial port on a pseudo-terminal (the test holds the master side):
 * 8E1 raw settings, bytes both ways, bounded reads, stale input flushed,
 * clear refusals of things that are not serial ports, the --reset-seq
 * grammar, and a hang-up reported instead of waited on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pc_serial.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

typedef struct pty {
    int master;
    char slave[128];
} pty;

static void pty_open(pty *p)
{
    p->master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(p->master >= 0);
    assert_int_equal(grantpt(p->master), 0);
    assert_int_equal(unlockpt(p->master), 0);
    snprintf(p->slave, sizeof p->slave, "%s", ptsname(p->master));
}

static uint32_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)(t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

static void test_open_sets_raw_8bit_and_moves_bytes(void **state)
{
    (void)state;
    pty p;
    pty_open(&p);
    pc_serial s;
    char err[256];
    assert_int_equal(pc_serial_open(&s, p.slave, 115200, err, sizeof err), 0);
    struct termios t;
    assert_int_equal(tcgetattr(s.fd, &t), 0);
    assert_int_equal(t.c_cflag & CSIZE, CS8);
    assert_int_equal(t.c_cflag & CSTOPB, 0);
    assert_int_equal(t.c_lflag & (ICANON | ECHO), 0);
    assert_int_equal(cfgetospeed(&t), B115200);

    const uint8_t out[3] = {0x7F, 0x00, 0xFF};
    assert_int_equal(pc_serial_ops.write(&s, out, 3), 0);
    uint8_t got[3];
    size_t have = 0;
    while (have < 3) {
        ssize_t n = read(p.master, got + have, 3 - have);
        assert_true(n > 0);
        have += (size_t)n;
    }
    assert_memory_equal(got, out, 3);

    const uint8_t in[2] = {0x79, 0x1F};
    assert_int_equal(write(p.master, in, 2), 2);
    uint8_t buf[8];
    int n = pc_serial_ops.read(&s, buf, sizeof buf, 1000);
    assert_true(n >= 1);
    assert_int_equal(buf[0], 0x79);
    assert_int_equal(pc_serial_ops.set_baud(&s, 57600), 0);
    assert_int_equal(tcgetattr(s.fd, &t), 0);
    assert_int_equal(cfgetospeed(&t), B57600);
    pc_serial_close(&s);
    close(p.master);
}

static void test_read_times_out_and_stale_bytes_are_flushed(void **state)
{
    (void)state;
    pty p;
    pty_open(&p);
    pc_serial s;
    char err[256];
    /* Bytes sent before the port opens belong to nobody. */
    int keep = open(p.slave, O_RDWR | O_NOCTTY);
    assert_int_equal(write(p.master, "old", 3), 3);
    usleep(20000);
    assert_int_equal(pc_serial_open(&s, p.slave, 115200, err, sizeof err), 0);
    close(keep);
    uint8_t buf[8];
    uint32_t t0 = now_ms();
    assert_int_equal(pc_serial_ops.read(&s, buf, sizeof buf, 120), 0);
    uint32_t spent = now_ms() - t0;
    assert_true(spent >= 100 && spent < 1000);
    pc_serial_close(&s);
    close(p.master);
}

static void test_hang_up_is_an_error_not_a_wait(void **state)
{
    (void)state;
    pty p;
    pty_open(&p);
    pc_serial s;
    char err[256];
    assert_int_equal(pc_serial_open(&s, p.slave, 115200, err, sizeof err), 0);
    close(p.master);
    uint8_t buf[4];
    uint32_t t0 = now_ms();
    assert_true(pc_serial_ops.read(&s, buf, sizeof buf, 5000) < 0);
    assert_true(now_ms() - t0 < 1000);
    pc_serial_close(&s);
}

static void test_refuses_what_is_not_a_serial_port(void **state)
{
    (void)state;
    pc_serial s;
    char err[256];
    assert_int_equal(pc_serial_open(&s, "/dev/null", 115200, err, sizeof err), -1);
    assert_non_null(strstr(err, "/dev/null is not a serial port"));
    assert_int_equal(pc_serial_open(&s, "/dev/ttyNOPE9", 115200, err, sizeof err), -1);
    assert_non_null(strstr(err, "/dev/ttyNOPE9"));
    char file[] = "/tmp/test_pc_serial_XXXXXX";
    int fd = mkstemp(file);
    close(fd);
    assert_int_equal(pc_serial_open(&s, file, 115200, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a serial port"));
    unlink(file);
    pty p;
    pty_open(&p);
    assert_int_equal(pc_serial_open(&s, p.slave, 123456, err, sizeof err), -1);
    assert_non_null(strstr(err, "123456"));
    close(p.master);
}

static void test_reset_seq_grammar(void **state)
{
    (void)state;
    /* The grammar on a port not opened (no file to tell a pty by): the
     * state pc_serial_open() starts from. */
    pc_serial s;
    char err[256];
    memset(&s, 0, sizeof s);
    s.fd = -1;
    s.boot0.request_fd = s.nrst.request_fd = -1;
    assert_false(pc_serial_has_reset_lines(&s));

    assert_int_equal(pc_serial_set_reset_seq(&s, "nrst=rts,boot0=!dtr", err, sizeof err), 0);
    assert_true(pc_serial_has_reset_lines(&s));
    assert_int_equal(s.nrst.kind, PC_LINE_RTS);
    assert_false(s.nrst.inverted);
    assert_int_equal(s.boot0.kind, PC_LINE_DTR);
    assert_true(s.boot0.inverted);

    assert_int_equal(pc_serial_set_reset_seq(&s,
                                             "boot0=gpio:gpiochip0:27,nrst=!gpio:/dev/gpiochip1:4",
                                             err, sizeof err),
                     0);
    assert_int_equal(s.boot0.kind, PC_LINE_GPIO);
    assert_string_equal(s.boot0.chip, "/dev/gpiochip0");
    assert_int_equal(s.boot0.offset, 27);
    assert_string_equal(s.nrst.chip, "/dev/gpiochip1");
    assert_true(s.nrst.inverted);
    assert_int_equal(s.reset_pulse_ms, 0);
    assert_int_equal(s.boot_wait_ms, 0);

    assert_int_equal(
        pc_serial_set_reset_seq(&s, "wait=250,nrst=rts,boot0=dtr,pulse=50", err, sizeof err), 0);
    assert_int_equal(s.reset_pulse_ms, 50);
    assert_int_equal(s.boot_wait_ms, 250);

    static const struct {
        const char *spec, *says;
    } bad[] = {
        {"nrst=rts", "both"},
        {"nrst=rts,boot0=rts", "share"},
        {"nrst=cts,boot0=dtr", "not a line"},
        {"reset=rts,boot0=dtr", "boot0, nrst, pulse and wait"},
        {"nrst=rts,nrst=dtr", "twice"},
        {"nrst", "SIGNAL=LINE"},
        {"nrst=gpio:chip,boot0=dtr", "gpio:CHIP:OFFSET"},
        {"nrst=gpio:chip:x1,boot0=dtr", "number"},
        {"nrst=rts,boot0=dtr,pulse=0", "milliseconds"},
        {"nrst=rts,boot0=dtr,wait=10001", "milliseconds"},
        {"nrst=rts,boot0=dtr,pulse=5ms", "milliseconds"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(pc_serial_set_reset_seq(&s, bad[i].spec, err, sizeof err), -1);
        if (strstr(err, bad[i].says) == NULL) {
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].spec, err, bad[i].says);
        }
    }
    pc_serial_close(&s);
}

static void test_pins_fail_cleanly_where_there_are_none(void **state)
{
    (void)state;
    pty p;
    pty_open(&p);
    pc_serial s;
    char err[256];
    assert_int_equal(pc_serial_open(&s, p.slave, 115200, err, sizeof err), 0);
    /* A pty has no modem lines: wiring them is refused, saying so. A
     * missing GPIO chip cannot be opened: an error the library reports as
     * STM32ISP_ERR_PORT. */
    assert_int_equal(pc_serial_set_reset_seq(&s, "nrst=rts,boot0=dtr", err, sizeof err), -1);
    assert_non_null(strstr(err, "pseudo-terminal"));
    assert_non_null(strstr(err, "no modem lines"));
    assert_false(pc_serial_has_reset_lines(&s));
    assert_int_equal(pc_serial_set_reset_seq(&s, "nrst=gpio:gpiochip99:1,boot0=gpio:gpiochip99:2",
                                             err, sizeof err),
                     0);
    assert_int_not_equal(pc_serial_ops.set_boot0(&s, true), 0);
    assert_null(pc_serial_ops_no_pins.set_boot0);
    assert_null(pc_serial_ops_no_pins.set_reset);
    pc_serial_close(&s);
    close(p.master);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_sets_raw_8bit_and_moves_bytes),
        cmocka_unit_test(test_read_times_out_and_stale_bytes_are_flushed),
        cmocka_unit_test(test_hang_up_is_an_error_not_a_wait),
        cmocka_unit_test(test_refuses_what_is_not_a_serial_port),
        cmocka_unit_test(test_reset_seq_grammar),
        cmocka_unit_test(test_pins_fail_cleanly_where_there_are_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

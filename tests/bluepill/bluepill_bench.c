/*
 * The Blue Pill master firmware, the very build a user flashes, run end to
 * end on the virtual bench (sim/bench): button, LED, console, EEPROM at the
 * bit level, the target's bootloader at the frame level, on one virtual
 * clock. One scenario per run, so that ctest runs them side by side:
 *
 *   bluepill_bench SCENARIO FIRMWARE_DIR STM32ISP WORKDIR
 *
 * FIRMWARE_DIR is build-fw/bluepill (master.elf and the bench's variants),
 * STM32ISP the PC tool (it packs the images, as a user does). Prints what it
 * checks as TAP lines; exits 1 at the first check that fails, with the
 * console's output and the bench's log.
 */
#include "bench/bench.h"

#include "frame.h"
#include "loader.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *fw_dir, *tool, *work;
static bench *the_bench;
static char bench_log[1 << 16];
static unsigned checks;

static void on_log(void *ctx, const char *line)
{
    (void)ctx;
    size_t used = strlen(bench_log);
    if (used + strlen(line) + 2 < sizeof bench_log) {
        snprintf(bench_log + used, sizeof bench_log - used, "%s\n", line);
    }
}

static _Noreturn void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("not ok %u - ", ++checks);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (the_bench != NULL) {
        /* Text, with the load protocol's binary frames shown as dots. */
        const char *out = bench_console_output(the_bench);
        printf("# console:\n");
        for (size_t i = 0; i < bench_console_length(the_bench); i++) {
            char c = out[i];
            putchar(c == '\n' || (c >= ' ' && c < 0x7F) ? c : c == '\r' ? '\r' : '.');
        }
        printf("\n");
    }
    printf("# bench log (last part):\n%s\n",
           strlen(bench_log) > 6000 ? bench_log + strlen(bench_log) - 6000 : bench_log);
    exit(1);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fail(__VA_ARGS__);                                                                     \
        }                                                                                          \
        printf("ok %u - ", ++checks);                                                              \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail("cannot read %s", path);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1u);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fail("cannot read %s", path);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fail("cannot write %s", path);
    }
}

/* A random image of `size` bytes, deterministic per seed. */
static uint8_t *random_image(size_t size, uint32_t seed)
{
    uint8_t *p = malloc(size);
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    /* A vector table the target can start: the stack at the top of 20 KiB
     * of RAM, the reset handler in flash. */
    static const uint8_t vectors[8] = {0x00, 0x50, 0x00, 0x20, 0x01, 0x01, 0x00, 0x08};
    memcpy(p, vectors, size < sizeof vectors ? size : sizeof vectors);
    return p;
}

/* Packs `image` with the PC tool into a container; returns its bytes (an
 * EEPROM holds them from address 0, blank after). */
static uint8_t *pack(const uint8_t *image, size_t size, size_t *len)
{
    char bin[512], out[512];
    snprintf(bin, sizeof bin, "%s/image.bin", work);
    snprintf(out, sizeof out, "%s/image.simg", work);
    write_file(bin, image, size);
    char *const argv[] = {(char *)tool, "pack",    bin,  "--pid", "0x410", "--name",
                          "bench",      "--quiet", "-o", out,     NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execv(tool, argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fail("%s pack %s failed (status 0x%x)", tool, bin, (unsigned)status);
    }
    return read_file(out, len);
}

typedef struct setup {
    const char *elf; /* in FIRMWARE_DIR; master.elf when NULL */
    bool no_crystal, no_boot0_pull_down;
    const char *eeprom_part;
    const uint8_t *eeprom;
    size_t eeprom_size;
    uint32_t nrst_cap_nf;
} setup;

static bench *power_up(const setup *s)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s", fw_dir, s->elf ? s->elf : "master.elf");
    size_t size;
    uint8_t *fw = bench_load_elf(path, &size, err, sizeof err);
    if (fw == NULL) {
        fail("%s", err);
    }
    bench_config c = {
        .firmware = fw,
        .firmware_size = size,
        .no_crystal = s->no_crystal,
        .eeprom_part = s->eeprom_part,
        .eeprom_bytes = s->eeprom,
        .eeprom_size = s->eeprom_size,
        .no_boot0_pull_down = s->no_boot0_pull_down,
        .nrst_cap_nf = s->nrst_cap_nf,
        .log = on_log,
    };
    bench *b = bench_new(&c);
    free(fw);
    if (b == NULL) {
        fail("the bench could not be built");
    }
    the_bench = b;
    return b;
}

static void wait_console(bench *b, const char *text, uint32_t ms)
{
    bench_status st = bench_console_wait(b, text, ms);
    if (st == BENCH_MCU_ERROR) {
        fail("the master stopped while waiting for '%s': %s", text, bench_error(b));
    }
    CHECK(st == BENCH_OK, "the console says '%s' (at %.1f ms)", text,
          (double)bench_now_ns(b) / 1e6);
}

/* The job's result record ends with its time line; the LED shows the
 * result once the record is out. Returns when the record ended. */
static uint64_t wait_job_end(bench *b)
{
    wait_console(b, "time: ", 120000);
    if (bench_console_wait(b, ")\r\n", 1000) != BENCH_OK) {
        fail("the result record did not end: %s", bench_error(b));
    }
    uint64_t ended = bench_now_ns(b);
    if (bench_run_ms(b, 20) != BENCH_OK) {
        fail("the master stopped: %s", bench_error(b));
    }
    return ended;
}

static void press_button(bench *b)
{
    bench_button(b, true);
    if (bench_run_ms(b, 100) != BENCH_OK) {
        fail("the master stopped: %s", bench_error(b));
    }
    bench_button(b, false);
}

/* The LED: steady for 3 s (OK), or flashing an error class: groups of n
 * flashes with a pause of more than a second between groups
 * (docs/firmware.md, "LED"). Watched for 7 s, which hold two whole groups
 * of even the longest class (6 flashes of 0.5 s and a 1.5 s pause). */
static void expect_led(bench *b, bool ok, uint32_t flashes)
{
    bench_led_clear(b);
    if (ok) {
        if (bench_run_ms(b, 3000) != BENCH_OK) {
            fail("the master stopped: %s", bench_error(b));
        }
        bench_led_record r = bench_led_since_clear(b);
        CHECK(r.dark_ns == 0 && r.flashes == 0, "the LED stays lit: OK (dark %.0f ms)",
              (double)r.dark_ns / 1e6);
        return;
    }
    uint32_t groups[8] = {0}, group_count = 0, in_group = 0, dark_ms = 0;
    bool was_lit = bench_led_lit(b), seen_pause = false;
    for (unsigned ms = 0; ms < 7000u; ms += 10u) {
        if (bench_run_ms(b, 10) != BENCH_OK) {
            fail("the master stopped: %s", bench_error(b));
        }
        bool lit = bench_led_lit(b);
        if (lit && !was_lit) {
            if (dark_ms > 1000u) { /* a pause ended a group */
                if (seen_pause && in_group > 0 && group_count < 8u) {
                    groups[group_count++] = in_group;
                }
                seen_pause = true;
                in_group = 0;
            }
            in_group++;
        }
        dark_ms = lit ? 0 : dark_ms + 10u;
        was_lit = lit;
    }
    CHECK(group_count >= 1 && groups[0] == flashes && (group_count < 2 || groups[1] == flashes),
          "the LED flashes an error in groups of %u (whole groups seen: %u, of %u and %u)", flashes,
          group_count, groups[0], groups[1]);
}

static void expect_target_holds(bench *b, const uint8_t *image, size_t size)
{
    const uint8_t *flash = blsim_flash_const(bench_target(b));
    CHECK(memcmp(flash, image, size) == 0, "the target's flash holds the image (%zu bytes)", size);
}

static void expect_clean_wires(bench *b)
{
    const bench_stats *s = bench_get_stats(b);
    CHECK(s->i2c_violations == 0,
          "the I2C bus timing meets the 24Cxx limits (%" PRIu64 " bytes; %s)", s->i2c_bytes,
          s->i2c_violations ? s->i2c_first_violation : "no violation");
    CHECK(s->frames_garbled == 0, "every frame reached the target intact (%" PRIu64 ")",
          s->frames_to_target);
}

/* ------------------------------------------------------------------------- */

static int button_job(bool no_crystal)
{
    size_t size = 9000, ct_len;
    uint8_t *image = random_image(size, 1);
    uint8_t *ct = pack(image, size, &ct_len);
    setup s = {.no_crystal = no_crystal, .eeprom = ct, .eeprom_size = ct_len};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    CHECK(strstr(bench_console_output(b), no_crystal ? "HSI" : "72 MHz") != NULL,
          "the master runs on %s", no_crystal ? "its HSI" : "the crystal's PLL at 72 MHz");
    bench_console_clear(b);
    press_button(b);
    wait_job_end(b);
    CHECK(strstr(bench_console_output(b), "result: ok") != NULL, "the job reports ok");
    expect_led(b, true, 0);
    expect_target_holds(b, image, size);
    CHECK(blsim_get_state(bench_target(b)) == BLSIM_STATE_APP,
          "the target runs its new application (%s)",
          blsim_state_name(blsim_get_state(bench_target(b))));
    const blsim_stats *ts = blsim_get_stats(bench_target(b));
    CHECK(strstr(bench_console_output(b), "verify: crc on the target") != NULL &&
              ts->ram_programs == 1 && ts->command_count[0x11] <= 2u &&
              ts->bytes_to_host < size / 10u,
          "verified by the RAM CRC program, the flash not read back (%" PRIu64
          " Read Memory, %" PRIu64 " bytes back)",
          ts->command_count[0x11], ts->bytes_to_host);
    expect_clean_wires(b);
    free(image);
    free(ct);
    return 0;
}

static int corrupt_eeprom(void)
{
    size_t size = 5000, ct_len;
    uint8_t *image = random_image(size, 2);
    uint8_t *ct = pack(image, size, &ct_len);
    ct[ct_len - 100] ^= 0x01; /* one bit of the payload */
    setup s = {.eeprom = ct, .eeprom_size = ct_len};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    uint8_t before[1024];
    memcpy(before, blsim_flash_const(bench_target(b)), sizeof before);
    uint64_t frames_before = bench_get_stats(b)->frames_to_target;
    press_button(b);
    wait_job_end(b);
    CHECK(strstr(bench_console_output(b), "the target was not touched") != NULL,
          "the job refuses the image before touching the target");
    expect_led(b, false, 3);
    CHECK(bench_get_stats(b)->frames_to_target == frames_before, "not one byte went to the target");
    CHECK(memcmp(before, blsim_flash_const(bench_target(b)), sizeof before) == 0,
          "the target's flash is as it was");
    free(image);
    free(ct);
    return 0;
}

/* The console's load protocol, as `stm32isp load` speaks it. */
static void load_frame(bench *b, uint8_t type, uint8_t seq, const uint8_t *payload, size_t len)
{
    uint8_t f[FRAME_MAX];
    size_t n = frame_encode(f, sizeof f, type, seq, payload, len);
    if (n == 0) {
        fail("frame_encode");
    }
    size_t reply_at = bench_console_length(b);
    bench_console_send(b, f, n);
    frame_parser p;
    frame_parser_reset(&p);
    uint64_t deadline = bench_now_ns(b) + 2000000000ull;
    while (bench_now_ns(b) < deadline) {
        if (bench_run_ms(b, 1) != BENCH_OK) {
            fail("the master stopped during load: %s", bench_error(b));
        }
        size_t len_now = bench_console_length(b);
        if (len_now <= reply_at) {
            continue;
        }
        const uint8_t *out = (const uint8_t *)bench_console_output(b) + reply_at;
        size_t avail = len_now - reply_at, used = 0;
        frame r;
        frame_status st = frame_parse(&p, out, avail, &used, &r);
        reply_at += used;
        if (st == FRAME_READY && r.type == FRAME_REPLY && r.seq == seq) {
            if (r.length < 3 || r.payload[0] != LOAD_OK) {
                fail("the master refused frame %u: result %u reason %u", seq,
                     r.length ? r.payload[0] : 255u, r.length > 1 ? r.payload[1] : 255u);
            }
            return;
        }
    }
    size_t total = bench_console_length(b);
    const uint8_t *all = (const uint8_t *)bench_console_output(b);
    char hex[3 * 64 + 1] = "";
    for (size_t i = total > 64 ? total - 64 : 0, k = 0; i < total; i++, k += 3) {
        snprintf(hex + k, sizeof hex - k, "%02x ", all[i]);
    }
    fail("no answer to load frame %u (the console's last bytes: %s)", seq, hex);
}

static int console_load(void)
{
    size_t size = 7000, ct_len;
    uint8_t *image = random_image(size, 3);
    uint8_t *ct = pack(image, size, &ct_len);
    setup s = {0};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    bench_console_send(b, "load\r", 5);
    wait_console(b, "load: ready", 2000);
    uint8_t payload[4 + FRAME_DATA_MAX];
    uint8_t seq = 0;
    frame_put_u32(payload, (uint32_t)ct_len);
    load_frame(b, FRAME_BEGIN, seq++, payload, 4);
    for (size_t at = 0; at < ct_len; at += FRAME_DATA_MAX) {
        size_t n = ct_len - at < FRAME_DATA_MAX ? ct_len - at : FRAME_DATA_MAX;
        frame_put_u32(payload, (uint32_t)at);
        memcpy(payload + 4, ct + at, n);
        load_frame(b, FRAME_DATA, seq++, payload, 4 + n);
    }
    load_frame(b, FRAME_END, seq++, NULL, 0);
    wait_console(b, "load: ok", 5000);
    CHECK(memcmp(eesim_memory(bench_eeprom(b)), ct, ct_len) == 0,
          "the EEPROM holds the container, bit by bit over the bus");
    bench_console_clear(b);
    bench_console_send(b, "flash\r", 6);
    wait_job_end(b);
    CHECK(strstr(bench_console_output(b), "result: ok") != NULL, "flash from the console: ok");
    expect_target_holds(b, image, size);
    expect_clean_wires(b);
    free(image);
    free(ct);
    return 0;
}

/* A build with its flash wait states left at 0: the virtual MCU must stop it
 * at its first fetch from flash at 72 MHz, as a real part would misread. */
static int broken_latency(void)
{
    setup s = {.elf = "bench-broken-latency.elf"};
    bench *b = power_up(&s);
    bench_status st = bench_run_ms(b, 500);
    CHECK(st == BENCH_MCU_ERROR && strstr(bench_error(b), "wait state") != NULL,
          "the bench stops the broken build: %s", bench_error(b));
    CHECK(bench_console_length(b) == 0, "it never reached its banner");
    return 0;
}

/* A build that sets USART1 up with its clock off: nothing reaches the
 * target, the job fails with the target-class LED, and the bench says why. */
static int broken_usart_clock(void)
{
    size_t size = 3000, ct_len;
    uint8_t *image = random_image(size, 4);
    uint8_t *ct = pack(image, size, &ct_len);
    setup s = {.elf = "bench-broken-usart-clock.elf", .eeprom = ct, .eeprom_size = ct_len};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    press_button(b);
    wait_job_end(b);
    CHECK(strstr(bench_console_output(b), "result: failed in connect") != NULL,
          "the job fails to reach the target");
    CHECK(bench_get_stats(b)->frames_to_target == 0, "not one frame left USART1");
    CHECK(strstr(bench_log, "clock") != NULL, "the bench log names the clock");
    expect_led(b, false, 1);
    free(image);
    free(ct);
    return 0;
}

/* A board without a crystal and without the BOOT0 pull-down: the master
 * must drive BOOT0 low before its clock waits, so the target's power-on
 * boot never samples a floating BOOT0. */
static int boot0_at_power_up(void)
{
    setup s = {.no_crystal = true, .no_boot0_pull_down = true};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    const bench_stats *st = bench_get_stats(b);
    CHECK(st->boot0_first_driven_ns < 1000000u, "the master drives BOOT0 %.3f ms after reset",
          st->boot0_first_driven_ns == UINT64_MAX ? -1.0 : (double)st->boot0_first_driven_ns / 1e6);
    CHECK(st->boot0_floating_samples == 0, "the target never left reset with BOOT0 floating");
    CHECK(blsim_get_state(bench_target(b)) == BLSIM_STATE_APP ||
              blsim_get_state(bench_target(b)) == BLSIM_STATE_HARDFAULT,
          "the target started its own flash, not its bootloader (%s)",
          blsim_state_name(blsim_get_state(bench_target(b))));
    return 0;
}

/* After a job the master lets go of the target's lines: TX and BOOT0 are
 * inputs, NRST is not pulled low, so an application that uses those pins
 * never fights the master. */
static void expect_lines_released(bench *b)
{
    vmcu *m = bench_master(b);
    CHECK(!vmcu_pin_driven_by_mcu(m, VMCU_PORT_A, 9), "USART1 TX (PA9) is an input between jobs");
    CHECK(!vmcu_pin_driven_by_mcu(m, VMCU_PORT_B, 0), "BOOT0 (PB0) is an input between jobs");
    CHECK(vmcu_pin_level(m, VMCU_PORT_B, 1), "NRST (PB1) is let go between jobs");
}

static int lines_released(void)
{
    size_t size = 2000, ct_len;
    uint8_t *image = random_image(size, 5);
    uint8_t *ct = pack(image, size, &ct_len);
    setup s = {.eeprom = ct, .eeprom_size = ct_len};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    if (bench_run_ms(b, 200) != BENCH_OK) {
        fail("the master stopped: %s", bench_error(b));
    }
    expect_lines_released(b);
    press_button(b);
    wait_job_end(b);
    CHECK(strstr(bench_console_output(b), "result: ok") != NULL, "the job reports ok");
    expect_lines_released(b);
    free(image);
    free(ct);
    return 0;
}

/* NRST with a large capacitor (3.3 uF: the RC rise takes some 120 ms): the
 * waits before the first 0x7F grow with each attempt, so a later one finds
 * the bootloader listening. */
static int slow_nrst(void)
{
    size_t size = 2000, ct_len;
    uint8_t *image = random_image(size, 6);
    uint8_t *ct = pack(image, size, &ct_len);
    setup s = {.eeprom = ct, .eeprom_size = ct_len, .nrst_cap_nf = 3300};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    press_button(b);
    wait_job_end(b);
    CHECK(strstr(bench_console_output(b), "result: ok") != NULL,
          "the job reaches the target behind a slow NRST");
    expect_target_holds(b, image, size);
    free(image);
    free(ct);
    return 0;
}

/* The benchmark's master row (tests/bench/bench.py, `make bench`): the
 * image in IMAGE_BIN (the benchmark's 64 KiB random image) from a 24M01 at
 * 400 kHz, by the button, end to end on the bench's clock. Prints one JSON
 * object: the time from the press to the result on the bench's clock, the
 * phases as the master's result line gives them, and the traffic. */
static int measure(const char *image_path)
{
    size_t size, ct_len;
    uint8_t *image = read_file(image_path, &size);
    uint8_t *ct = pack(image, size, &ct_len);
    setup s = {
        .elf = "bench-24m01.elf", .eeprom_part = "24m01", .eeprom = ct, .eeprom_size = ct_len};
    bench *b = power_up(&s);
    wait_console(b, "type help", 2000);
    bench_console_clear(b);
    uint64_t pressed = bench_now_ns(b);
    press_button(b);
    uint64_t done = wait_job_end(b);
    const char *out = bench_console_output(b);
    CHECK(strstr(out, "result: ok") != NULL, "the job reports ok");
    expect_target_holds(b, image, size);
    expect_clean_wires(b);
    unsigned total, check, connect, erase, write, verify, protect, start;
    const char *t = strstr(out, "time: ");
    if (t == NULL ||
        sscanf(t,
               "time: %u ms (check %u, connect %u, erase %u, write %u, verify %u, "
               "protect %u, start %u)",
               &total, &check, &connect, &erase, &write, &verify, &protect, &start) != 8) {
        fail("the result's time line does not parse");
    }
    const blsim_stats *ts = blsim_get_stats(bench_target(b));
    const bench_stats *bs = bench_get_stats(b);
    printf("{\"image_bytes\": %zu, \"container_bytes\": %zu, \"eeprom\": \"24m01\", "
           "\"i2c_hz\": 400000, \"seconds_press_to_result\": %.3f, \"job_ms\": %u, "
           "\"phases_ms\": {\"check\": %u, \"connect\": %u, \"erase\": %u, \"write\": %u, "
           "\"verify\": %u, \"start\": %u}, \"i2c_bytes\": %" PRIu64
           ", \"bytes_to_target\": %" PRIu64 ", \"bytes_to_host\": %" PRIu64
           ", \"read_memory_commands\": %" PRIu64 ", \"ram_programs\": %" PRIu64 "}\n",
           size, ct_len, (double)(done - pressed) / 1e9, total, check, connect, erase, write,
           verify, start, bs->i2c_bytes, ts->bytes_to_target, ts->bytes_to_host,
           ts->command_count[0x11], ts->ram_programs);
    free(image);
    free(ct);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 && !(argc == 6 && strcmp(argv[1], "measure") == 0)) {
        fprintf(stderr, "usage: bluepill_bench SCENARIO FIRMWARE_DIR STM32ISP WORKDIR\n"
                        "       bluepill_bench measure FIRMWARE_DIR STM32ISP WORKDIR IMAGE_BIN\n");
        return 2;
    }
    fw_dir = argv[2];
    tool = argv[3];
    work = argv[4];
    const char *scenario = argv[1];
    int rc;
    if (strcmp(scenario, "button-job") == 0) {
        rc = button_job(false);
    } else if (strcmp(scenario, "no-crystal") == 0) {
        rc = button_job(true);
    } else if (strcmp(scenario, "corrupt-eeprom") == 0) {
        rc = corrupt_eeprom();
    } else if (strcmp(scenario, "console-load") == 0) {
        rc = console_load();
    } else if (strcmp(scenario, "boot0-at-power-up") == 0) {
        rc = boot0_at_power_up();
    } else if (strcmp(scenario, "lines-released") == 0) {
        rc = lines_released();
    } else if (strcmp(scenario, "slow-nrst") == 0) {
        rc = slow_nrst();
    } else if (strcmp(scenario, "measure") == 0) {
        rc = measure(argv[5]);
    } else if (strcmp(scenario, "broken-latency") == 0) {
        rc = broken_latency();
    } else if (strcmp(scenario, "broken-usart-clock") == 0) {
        rc = broken_usart_clock();
    } else {
        fprintf(stderr, "bluepill_bench: no scenario '%s'\n", scenario);
        return 2;
    }
    bench_free(the_bench);
    printf("1..%u\n", checks);
    return rc;
}

/*
 * The stub flasher (target/flasher, docs/spec/stub.md): its real bytes,
 * loaded into the bootloader model's RAM with Write Memory and started with
 * Go, run on the virtual STM32F103 from the state the ROM leaves. The test
 * is the host: it speaks the stub's protocol on the model's line.
 */
#include "blsim/blsim.h"
#include "sim_host.h"
#include "stm32isp/an3155.h"
#include "stub_protocol.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ACK       AN3155_ACK
#define FLASH     0x08000000u
#define LOAD      0x20000200u
#define STACK_TOP 0x20005000u /* end of the F103's 20 KiB */
#define IMAGE     (64u * 1024u)
#define BLOCK     STUB_MAX_DATA

typedef struct link {
    blsim *sim;
    uint8_t seq;   /* of the next frame */
    uint32_t baud; /* the line's rate now */
    /* The rate the ROM's autobaud measured: the stub calibrates from it. */
    uint32_t rom_baud;
} link;

typedef struct frame {
    uint8_t type, seq, status;
    uint16_t len;
    uint32_t v1, v2;
    uint8_t payload[STUB_MAX_PAYLOAD + 16u];
} frame;

/* Statuses compared by name: a failure says "PGERR", not 8. */
#define assert_status(f, want)                                                                     \
    assert_string_equal(stub_status_name((f)->status), stub_status_name(want))

static uint32_t crc32_ieee(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1u) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
    }
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void send_frame(link *l, uint8_t type, uint8_t seq, const uint8_t *payload, size_t len,
                       bool corrupt)
{
    uint8_t f[STUB_HEADER_BYTES + STUB_MAX_PAYLOAD + 4u];
    assert_true(len <= STUB_MAX_PAYLOAD);
    f[0] = STUB_SOF;
    f[1] = type;
    f[2] = seq;
    f[3] = (uint8_t)len;
    f[4] = (uint8_t)(len >> 8);
    if (len > 0) {
        memcpy(f + 5, payload, len);
    }
    put32(f + 5 + len, crc32_ieee(0, f + 1, 4 + len) ^ (corrupt ? 1u : 0u));
    blsim_host_send(l->sim, f, 9 + len);
}

/* The next whole frame from the stub with a good CRC, or false. */
static bool recv_frame(link *l, frame *f, uint32_t timeout_ms)
{
    uint8_t b = 0;
    memset(f, 0, sizeof *f);
    do {
        if (host_recv(l->sim, &b, 1, timeout_ms) != 1) {
            return false;
        }
    } while (b != STUB_SOF);
    uint8_t h[4], c[4];
    if (host_recv(l->sim, h, 4, 5) != 4) {
        return false;
    }
    f->type = h[0];
    f->seq = h[1];
    f->len = (uint16_t)(h[2] | h[3] << 8);
    if (f->len > sizeof f->payload || host_recv(l->sim, f->payload, f->len, 5) != f->len ||
        host_recv(l->sim, c, 4, 5) != 4) {
        return false;
    }
    uint32_t crc = crc32_ieee(crc32_ieee(0, h, 4), f->payload, f->len);
    if (crc != get32(c)) {
        return false;
    }
    if (f->len >= 9) {
        f->status = f->payload[0];
        f->v1 = get32(f->payload + 1);
        f->v2 = get32(f->payload + 5);
    }
    return true;
}

/* One command and its reply, in sequence. */
static frame *command(link *l, uint8_t type, const uint8_t *payload, size_t len,
                      uint32_t timeout_ms)
{
    static frame f;
    uint8_t seq = l->seq++;
    send_frame(l, type, seq, payload, len, false);
    assert_true(recv_frame(l, &f, timeout_ms));
    assert_int_equal(f.type, type | STUB_REPLY);
    assert_int_equal(f.seq, seq);
    return &f;
}

/* What the virtual MCU saw that a board designer should know: printed,
 * so a failing run says why. */
static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "  model: %s\n", line);
}

static blsim *target_in(bool no_crystal, int32_t hsi_ppm, blsim_go_state go)
{
    blsim_config cfg = {0};
    cfg.go_state = go;
    cfg.device = blsim_device_find("f103md");
    cfg.boot0 = true;
    cfg.no_crystal = no_crystal;
    cfg.hsi_ppm = hsi_ppm;
    cfg.log = log_line;
    blsim *sim = blsim_new(&cfg);
    assert_non_null(sim);
    blsim_idle(sim, 5000);
    return sim;
}

static blsim *target(bool no_crystal, int32_t hsi_ppm)
{
    return target_in(no_crystal, hsi_ppm, BLSIM_GO_DEVICE);
}

/* Write Memory + Go, as the ROM takes them; returns the hello. */
static void start_stub(link *l, blsim *sim, frame *hello)
{
    l->sim = sim;
    l->seq = 0;
    l->baud = 115200;
    l->rom_baud = 115200;
    assert_int_equal(host_sync(sim), ACK);
    const stub_program *p = &stub_program_f1;
    uint8_t code[4096] = {0};
    assert_true(p->size <= sizeof code);
    memcpy(code, p->code, p->size);
    put32(code, STACK_TOP);                  /* word 0: the stack pointer Go loads */
    put32(code + 4, LOAD + get32(code + 4)); /* word 1: linked at 0, loaded at LOAD */
    for (size_t off = 0; off < p->size; off += 256) {
        size_t n = p->size - off < 256 ? p->size - off : 256;
        assert_int_equal(host_write(sim, LOAD + (uint32_t)off, code + off, n), ACK);
    }
    assert_int_equal(host_go(sim, LOAD), ACK);
    bool got = recv_frame(l, hello, 100);
    if (!got) {
        fprintf(stderr, "no hello: %s, %s\n", blsim_state_name(blsim_get_state(sim)),
                blsim_fault_reason(sim));
    }
    assert_true(got);
    assert_int_equal(hello->type, STUB_HELLO);
    assert_status(hello, STUB_STATUS_OK);
    assert_int_equal(hello->v1, STUB_VERSION);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
}

/* The rate switch of docs/spec/stub.md; host_rate is what the host's side
 * really switches to (a different one makes the sync fail). */
static bool switch_rate(link *l, uint32_t rate, uint32_t host_rate, frame *reply)
{
    uint8_t p[12];
    put32(p, rate);
    put32(p + 4, l->rom_baud);
    put32(p + 8, 50); /* sync window, ms */
    *reply = *command(l, STUB_CMD_BAUD, p, sizeof p, 100);
    assert_status(reply, STUB_STATUS_OK);
    blsim_set_host_baud(l->sim, host_rate);
    blsim_idle(l->sim, 100); /* the stub's reply left; it switches at TC */
    frame f;
    for (int attempt = 0; attempt < 3; attempt++) {
        send_frame(l, STUB_CMD_SYNC, l->seq, NULL, 0, false);
        if (recv_frame(l, &f, 10) && f.type == (STUB_CMD_SYNC | STUB_REPLY) && f.seq == l->seq) {
            l->seq++;
            l->baud = rate;
            return true;
        }
    }
    /* No sync: past the stub's window both go back to the old rate. */
    blsim_idle(l->sim, 60000);
    blsim_set_host_baud(l->sim, l->baud);
    uint8_t junk[64];
    while (blsim_host_recv(l->sim, junk, sizeof junk, 0) > 0) {
    }
    return false;
}

static frame *ping(link *l)
{
    uint8_t echo[3] = {1, 2, 3};
    frame *f = command(l, STUB_CMD_PING, echo, sizeof echo, 50);
    assert_status(f, STUB_STATUS_OK);
    assert_int_equal(f->len, 9 + sizeof echo);
    assert_memory_equal(f->payload + 9, echo, sizeof echo);
    return f;
}

static frame *declare(link *l, uint32_t address, uint32_t len)
{
    uint8_t p[12];
    put32(p, 1024);
    put32(p + 4, address);
    put32(p + 8, len);
    return command(l, STUB_CMD_DECLARE, p, sizeof p, 50);
}

static frame *erase(link *l, uint32_t address, uint32_t len)
{
    uint8_t p[8];
    put32(p, address);
    put32(p + 4, len);
    return command(l, STUB_CMD_ERASE, p, sizeof p, 3000);
}

static frame *write_block(link *l, uint32_t address, const uint8_t *data, size_t len)
{
    uint8_t p[STUB_MAX_PAYLOAD];
    put32(p, address);
    memcpy(p + 4, data, len);
    return command(l, STUB_CMD_WRITE, p, 4 + len, 200);
}

/* The image in blocks with up to STUB_WINDOW frames in flight. */
static void write_windowed(link *l, uint32_t address, const uint8_t *image, size_t size)
{
    size_t blocks = (size + BLOCK - 1) / BLOCK, sent = 0, done = 0;
    uint8_t base = l->seq;
    uint8_t p[STUB_MAX_PAYLOAD];
    while (done < blocks) {
        while (sent < blocks && sent - done < STUB_WINDOW) {
            size_t n = size - sent * BLOCK < BLOCK ? size - sent * BLOCK : BLOCK;
            put32(p, address + (uint32_t)(sent * BLOCK));
            memcpy(p + 4, image + sent * BLOCK, n);
            send_frame(l, STUB_CMD_WRITE, (uint8_t)(base + sent), p, 4 + n, false);
            sent++;
        }
        frame f;
        assert_true(recv_frame(l, &f, 200));
        assert_int_equal(f.type, STUB_CMD_WRITE | STUB_REPLY);
        assert_int_equal(f.seq, (uint8_t)(base + done));
        assert_status(&f, STUB_STATUS_OK);
        done++;
    }
    l->seq = (uint8_t)(base + blocks);
}

static uint32_t crc_of(link *l, uint32_t address, uint32_t len)
{
    uint8_t p[8];
    put32(p, address);
    put32(p + 4, len);
    frame *f = command(l, STUB_CMD_CRC, p, sizeof p, 500);
    assert_status(f, STUB_STATUS_OK);
    return f->v1;
}

static void random_image(uint8_t *image, size_t size, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < size; i++) {
        image[i] = (uint8_t)rand();
    }
    /* A vector table the start command can use: stack, Thumb reset. */
    put32(image, STACK_TOP);
    put32(image + 4, FLASH + 0x101u);
}

/* Declare, mass erase, write 64 KiB with the window, CRC: the virtual time
 * from the erase to the CRC's reply. */
static uint64_t program_64k(link *l, const uint8_t *image)
{
    assert_status(declare(l, FLASH, IMAGE), STUB_STATUS_OK);
    uint64_t t0 = blsim_now_ns(l->sim);
    assert_status(erase(l, 0xFFFFFFFFu, 0), STUB_STATUS_OK);
    write_windowed(l, FLASH, image, IMAGE);
    assert_int_equal(crc_of(l, FLASH, IMAGE), crc32_ieee(0, image, IMAGE));
    uint64_t took = blsim_now_ns(l->sim) - t0;
    assert_memory_equal(blsim_flash_const(l->sim), image, IMAGE);
    return took;
}

/* ---- tests --------------------------------------------------------------- */

static void test_flash_64k_at_2mbaud_and_start(void **state)
{
    (void)state;
    link l;
    frame hello, f;
    blsim *sim = target(false, 0);
    uint64_t t_sync = blsim_now_ns(sim);
    start_stub(&l, sim, &hello);
    assert_int_equal(hello.v2 & 0xFFu, STUB_CLOCK_HSE_PLL);
    assert_int_equal(hello.len, 9 + 24);
    assert_int_equal(get32(hello.payload + 9), 72000000u);            /* PCLK2 */
    assert_int_equal(get32(hello.payload + 9 + 8), 115200u);          /* host rate */
    assert_int_equal(get32(hello.payload + 9 + 12), 64u);             /* flash KiB */
    assert_int_equal(get32(hello.payload + 9 + 16) & 0xFFFFu, BLOCK); /* max data */

    assert_true(switch_rate(&l, 2000000, 2000000, &f));
    assert_int_equal(f.v2, 36u); /* 72 MHz / 2 Mbaud */
    printf("stub flasher: sync, load, Go, hello and rate switch: %.3f s virtual\n",
           (double)(blsim_now_ns(l.sim) - t_sync) / 1e9);
    uint8_t *image = malloc(IMAGE);
    assert_non_null(image);
    random_image(image, IMAGE, 13);
    uint64_t took = program_64k(&l, image);
    printf("stub flasher: 64 KiB erase+write+CRC at 2 Mbaud: %.3f s virtual\n", (double)took / 1e9);
    assert_true(took < 2000000000ull); /* the F103's own limit is about 1.74 s */

    /* Read back a range. */
    uint8_t p[8];
    put32(p, FLASH + 0x1234u);
    put32(p + 4, BLOCK);
    frame *r = command(&l, STUB_CMD_READ, p, sizeof p, 50);
    assert_status(r, STUB_STATUS_OK);
    assert_int_equal(r->len, 9 + BLOCK);
    assert_memory_equal(r->payload + 9, image + 0x1234, BLOCK);
    /* No byte lost at 2 Mbaud while the flash was busy. */
    assert_int_equal(ping(&l)->v1, 0u);

    /* Start the application: the stub jumps to its vector table. */
    put32(p, FLASH);
    assert_status(command(&l, STUB_CMD_START, p, 4, 50), STUB_STATUS_OK);
    blsim_idle(l.sim, 1000);
    assert_int_equal(blsim_get_state(l.sim), BLSIM_STATE_APP);
    const blsim_app_entry *e = blsim_get_app_entry(l.sim);
    assert_true(e->from_ram_program);
    assert_int_equal(e->vtor, FLASH);
    assert_int_equal(e->sp, STACK_TOP);
    assert_int_equal(e->pc & ~1u, FLASH + 0x100u);
    free(image);
    blsim_free(l.sim);
}

static void test_flash_64k_at_115200(void **state)
{
    (void)state;
    link l;
    frame hello;
    start_stub(&l, target(false, 0), &hello);
    uint8_t *image = malloc(IMAGE);
    assert_non_null(image);
    random_image(image, IMAGE, 7);
    uint64_t took = program_64k(&l, image);
    printf("stub flasher: 64 KiB erase+write+CRC at 115200: %.3f s virtual\n", (double)took / 1e9);
    assert_int_equal(ping(&l)->v1, 0u);
    /* Reset: SYSRESETREQ, BOOT0 still high, so the ROM again. */
    uint64_t resets = blsim_get_stats(l.sim)->resets;
    assert_status(command(&l, STUB_CMD_RESET, NULL, 0, 50), STUB_STATUS_OK);
    blsim_idle(l.sim, 10000);
    assert_int_equal(blsim_get_stats(l.sim)->resets, resets + 1);
    assert_int_equal(blsim_get_state(l.sim), BLSIM_STATE_WAIT_SYNC);
    free(image);
    blsim_free(l.sim);
}

static void test_refusals_and_flash_errors(void **state)
{
    (void)state;
    link l;
    frame hello;
    start_stub(&l, target(false, 0), &hello);
    uint8_t data[BLOCK];
    memset(data, 0x5A, sizeof data);

    /* Nothing declared yet: refused. */
    assert_status(write_block(&l, FLASH, data, 64), STUB_STATUS_NOT_DECLARED);
    assert_status(declare(&l, FLASH, 4096), STUB_STATUS_OK);
    assert_status(erase(&l, FLASH, 2048), STUB_STATUS_OK);
    /* Outside the declared range: refused, flash untouched. */
    frame *f = write_block(&l, FLASH + 8192, data, 64);
    assert_status(f, STUB_STATUS_NOT_DECLARED);
    assert_int_equal(blsim_flash_const(l.sim)[8192], 0xFF);
    assert_status(erase(&l, FLASH + 4096, 1024), STUB_STATUS_NOT_DECLARED);
    assert_status(erase(&l, 0xFFFFFFFFu, 0), STUB_STATUS_NOT_DECLARED); /* not all */
    /* Astride the range's end, odd address, unaligned erase. */
    assert_int_equal(write_block(&l, FLASH + 4096 - 32, data, 64)->status,
                     STUB_STATUS_NOT_DECLARED);
    assert_status(write_block(&l, FLASH + 1, data, 64), STUB_STATUS_BAD_ALIGN);
    assert_status(erase(&l, FLASH + 512, 1024), STUB_STATUS_BAD_ALIGN);
    /* Declared ranges outside the flash are refused. */
    assert_status(declare(&l, 0x20000000u, 1024), STUB_STATUS_NOT_DECLARED);
    assert_status(declare(&l, FLASH, 4096), STUB_STATUS_OK);

    /* A write onto programmed flash: PGERR, with the half-word's address. */
    assert_status(write_block(&l, FLASH, data, 64), STUB_STATUS_OK);
    data[10] = 0x00;
    f = write_block(&l, FLASH, data, 64);
    assert_status(f, STUB_STATUS_PGERR);
    assert_int_equal(f->v1, FLASH);
    /* Blank half-words are skipped, so 0xFFFF over programmed flash is no error. */
    memset(data, 0xFF, 64);
    assert_status(write_block(&l, FLASH, data, 64), STUB_STATUS_OK);

    /* A corrupted frame: NAK BAD_CRC, not run; sent again, it runs. */
    uint8_t p[8];
    put32(p, FLASH);
    put32(p + 4, 16);
    send_frame(&l, STUB_CMD_READ, l.seq, p, sizeof p, true);
    frame r;
    assert_true(recv_frame(&l, &r, 50));
    assert_int_equal(r.type, STUB_NAK);
    assert_status(&r, STUB_STATUS_BAD_CRC);
    assert_status(command(&l, STUB_CMD_READ, p, sizeof p, 50), STUB_STATUS_OK);
    /* A frame sent again after it ran (its reply lost): DUPLICATE, not run again. */
    send_frame(&l, STUB_CMD_READ, (uint8_t)(l.seq - 1), p, sizeof p, false);
    assert_true(recv_frame(&l, &r, 50));
    assert_int_equal(r.type, STUB_NAK);
    assert_status(&r, STUB_STATUS_DUPLICATE);
    /* Unknown command. */
    assert_status(command(&l, 0x3C, NULL, 0, 50), STUB_STATUS_BAD_TYPE);
    blsim_free(l.sim);
}

static void test_write_protected_page_reports_wrprterr(void **state)
{
    (void)state;
    blsim *sim = target(false, 0);
    /* The ROM's Write Protect: sector 1 = pages 4..7; the chip resets. */
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_command(sim, AN3155_CMD_WRITE_PROTECT), ACK);
    uint8_t sectors[2] = {0x00, 0x01};
    host_send_xor(sim, sectors, 2);
    assert_int_equal(host_reply(sim, 100), ACK);
    blsim_idle(sim, 10000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);

    link l;
    frame hello;
    start_stub(&l, sim, &hello);
    assert_status(declare(&l, FLASH, IMAGE), STUB_STATUS_OK);
    frame *f = erase(&l, FLASH + 4096, 1024);
    assert_status(f, STUB_STATUS_WRPRTERR);
    assert_int_equal(f->v1, FLASH + 4096);
    uint8_t data[64];
    memset(data, 0x11, sizeof data);
    f = write_block(&l, FLASH + 4096 + 64, data, sizeof data);
    assert_status(f, STUB_STATUS_WRPRTERR);
    assert_int_equal(blsim_flash_const(sim)[4096 + 64], 0xFF);
    /* A mass erase with a page protected is refused as a whole. */
    assert_status(erase(&l, 0xFFFFFFFFu, 0), STUB_STATUS_WRPRTERR);
    /* The pages around it still work. */
    assert_status(erase(&l, FLASH, 1024), STUB_STATUS_OK);
    assert_status(write_block(&l, FLASH, data, sizeof data), STUB_STATUS_OK);
    blsim_free(sim);
}

static void test_rate_switch_falls_back_when_sync_fails(void **state)
{
    (void)state;
    link l;
    frame hello, f;
    start_stub(&l, target(false, 0), &hello);
    /* The host's adapter ends up at 1 Mbaud, the stub at 2: no sync. */
    assert_false(switch_rate(&l, 2000000, 1000000, &f));
    assert_int_equal(l.baud, 115200u);
    /* Both back at 115200: the link works. */
    ping(&l);
    /* An unreachable rate is refused at the old rate, nothing changes. */
    uint8_t p[12];
    put32(p, 5000000);
    put32(p + 4, 115200);
    put32(p + 8, 50);
    assert_status(command(&l, STUB_CMD_BAUD, p, sizeof p, 50), STUB_STATUS_BAD_RATE);
    ping(&l);
    /* And a proper switch afterwards works, and a second one from there. */
    assert_true(switch_rate(&l, 1000000, 1000000, &f));
    ping(&l);
    assert_true(switch_rate(&l, 2000000, 2000000, &f));
    assert_int_equal(f.v2, 36u);
    ping(&l);
    blsim_free(l.sim);
}

/* No crystal: HSI/2 x16 = 64 MHz, the rate calibrated from the ROM's BRR;
 * with the HSI 1 % off either way the link holds at 2 Mbaud. */
static void no_crystal(int32_t ppm)
{
    link l;
    frame hello, f;
    start_stub(&l, target(true, ppm), &hello);
    assert_int_equal(hello.v2 & 0xFFu, STUB_CLOCK_HSI_PLL);
    double real_pclk = 64e6 * (1.0 + ppm / 1e6);
    double est = get32(hello.payload + 9);
    assert_true(est > real_pclk * 0.995 && est < real_pclk * 1.005);
    assert_true(switch_rate(&l, 2000000, 2000000, &f));
    double rate = real_pclk / f.v2;
    printf("stub flasher: no crystal, HSI %+d ppm: BRR %u, %.0f baud for 2000000 (%+.2f %%)\n",
           (int)ppm, (unsigned)f.v2, rate, (rate / 2e6 - 1.0) * 100.0);
    assert_true(rate > 2e6 * 0.98 && rate < 2e6 * 1.02);
    uint8_t image[8192];
    random_image(image, sizeof image, (unsigned)ppm);
    assert_status(declare(&l, FLASH, sizeof image), STUB_STATUS_OK);
    assert_status(erase(&l, FLASH, sizeof image), STUB_STATUS_OK);
    write_windowed(&l, FLASH, image, sizeof image);
    assert_int_equal(crc_of(&l, FLASH, sizeof image), crc32_ieee(0, image, sizeof image));
    assert_memory_equal(blsim_flash_const(l.sim), image, sizeof image);
    assert_int_equal(ping(&l)->v1, 0u);
    blsim_free(l.sim);
}

static void test_no_crystal_hsi_fast(void **state)
{
    (void)state;
    no_crystal(10000);
}

static void test_no_crystal_hsi_slow(void **state)
{
    (void)state;
    no_crystal(-10000);
}

/* A frame beyond the window, sent while four are still buffered, is
 * dropped unanswered and counted; sent again (go-back), it runs. */
static void test_frame_beyond_the_window_is_dropped(void **state)
{
    (void)state;
    link l;
    frame hello, f;
    start_stub(&l, target(false, 0), &hello);
    assert_true(switch_rate(&l, 2000000, 2000000, &f));
    assert_status(declare(&l, FLASH, 8192), STUB_STATUS_OK);
    assert_status(erase(&l, FLASH, 8192), STUB_STATUS_OK);
    uint8_t image[6 * BLOCK];
    random_image(image, sizeof image, 5);
    uint8_t p[STUB_MAX_PAYLOAD];
    uint8_t base = l.seq;
    /* Six frames at once: a block programs in 13 ms, a frame takes 2.9 ms
     * on the wire, so the fifth and sixth find all four buffers taken. */
    for (uint32_t i = 0; i < 6; i++) {
        put32(p, FLASH + i * BLOCK);
        memcpy(p + 4, image + i * BLOCK, BLOCK);
        send_frame(&l, STUB_CMD_WRITE, (uint8_t)(base + i), p, 4 + BLOCK, false);
    }
    for (uint32_t i = 0; i < 4; i++) {
        assert_true(recv_frame(&l, &f, 100));
        assert_int_equal(f.seq, (uint8_t)(base + i));
        assert_status(&f, STUB_STATUS_OK);
    }
    assert_false(recv_frame(&l, &f, 50)); /* nothing for the dropped ones */
    l.seq = (uint8_t)(base + 4);
    assert_int_equal(ping(&l)->v2 >> 16, 2u);
    /* Go back to the first unanswered frame. */
    for (uint32_t i = 4; i < 6; i++) {
        assert_status(write_block(&l, FLASH + i * BLOCK, image + i * BLOCK, BLOCK), STUB_STATUS_OK);
    }
    assert_memory_equal(blsim_flash_const(l.sim), image, sizeof image);
    blsim_free(l.sim);
}

/* With the crystal, PCLK2 is exact but the hello's rate comes from the
 * ROM's BRR, measured on the HSI: snapped to the standard rate it is
 * exact too, with the HSI 2 % off either way. */
static void crystal_hsi_off(int32_t ppm)
{
    link l;
    frame hello;
    start_stub(&l, target(false, ppm), &hello);
    assert_int_equal(hello.v2 & 0xFFu, STUB_CLOCK_HSE_PLL);
    assert_int_equal(get32(hello.payload + 9), 72000000u);
    assert_int_equal(get32(hello.payload + 9 + 8), 115200u);
    ping(&l);
    blsim_free(l.sim);
}

static void test_crystal_hsi_2_percent_fast(void **state)
{
    (void)state;
    crystal_hsi_off(20000);
}

static void test_crystal_hsi_2_percent_slow(void **state)
{
    (void)state;
    crystal_hsi_off(-20000);
}

/* A ROM that puts every peripheral back to its reset value before the
 * jump (AN3155 allows it): BRR reads 0, the stub sets up the clocks, pins
 * and USART itself and takes 115200 on the crystal's exact clock. */
static void test_rom_leaving_reset_values(void **state)
{
    (void)state;
    link l;
    frame hello, f;
    start_stub(&l, target_in(false, 0, BLSIM_GO_RESET_VALUES), &hello);
    assert_int_equal(hello.v2 & 0xFFu, STUB_CLOCK_HSE_PLL);
    assert_int_equal(get32(hello.payload + 9 + 4), 0u); /* no BRR_rom */
    assert_int_equal(get32(hello.payload + 9 + 8), 115200u);
    assert_true(switch_rate(&l, 2000000, 2000000, &f));
    ping(&l);
    blsim_free(l.sim);
}

/* No host traffic for the idle time: the stub resets the chip. */
static void test_idle_host_resets_the_chip(void **state)
{
    (void)state;
    link l;
    frame hello;
    start_stub(&l, target(false, 0), &hello);
    uint32_t idle_ms = get32(hello.payload + 9 + 20);
    assert_int_equal(idle_ms, 3000u);
    blsim_idle(l.sim, (idle_ms - 500u) * 1000u);
    assert_int_equal(blsim_get_state(l.sim), BLSIM_STATE_RAM_PROGRAM);
    ping(&l); /* traffic: the count starts again */
    blsim_idle(l.sim, (idle_ms - 500u) * 1000u);
    assert_int_equal(blsim_get_state(l.sim), BLSIM_STATE_RAM_PROGRAM);
    blsim_idle(l.sim, 1000u * 1000u);
    assert_int_equal(blsim_get_state(l.sim), BLSIM_STATE_WAIT_SYNC);
    blsim_free(l.sim);
}

/* "--only PATTERN" runs the tests whose names match (a cmocka glob),
 * "--skip PATTERN" the others: ctest runs the long 64 KiB cases apart,
 * side by side with the rest. */
int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--only") == 0) {
        cmocka_set_test_filter(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "--skip") == 0) {
        cmocka_set_skip_filter(argv[2]);
    } else if (argc != 1) {
        fprintf(stderr, "usage: test_flasher [--only PATTERN | --skip PATTERN]\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flash_64k_at_2mbaud_and_start),
        cmocka_unit_test(test_flash_64k_at_115200),
        cmocka_unit_test(test_refusals_and_flash_errors),
        cmocka_unit_test(test_write_protected_page_reports_wrprterr),
        cmocka_unit_test(test_rate_switch_falls_back_when_sync_fails),
        cmocka_unit_test(test_no_crystal_hsi_fast),
        cmocka_unit_test(test_no_crystal_hsi_slow),
        cmocka_unit_test(test_frame_beyond_the_window_is_dropped),
        cmocka_unit_test(test_crystal_hsi_2_percent_fast),
        cmocka_unit_test(test_crystal_hsi_2_percent_slow),
        cmocka_unit_test(test_rom_leaving_reset_values),
        cmocka_unit_test(test_idle_host_resets_the_chip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

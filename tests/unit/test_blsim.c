/*
 * Unit tests of the bootloader model: every command path, every NACK path,
 * every fault kind, resets, pins and readout protection, on the virtual clock.
 */
#include "sim_host.h"

#include "stm32isp/an3155.h"
#include "stm32isp/ramcrc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define FLASH       0x08000000u
#define F1_OPTBYTES 0x1FFFF800u
#define ACK         AN3155_ACK
#define NACK        AN3155_NACK

static blsim *synced(const char *device)
{
    blsim *sim = host_target(device, NULL, NULL);
    assert_non_null(sim);
    assert_int_equal(host_sync(sim), ACK);
    return sim;
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(i * 131u + seed * 7u + (i >> 8));
    }
}

/* A vector table that the model accepts as a program: SP in RAM, Thumb entry. */
static void put_vector_table(blsim *sim, uint32_t offset)
{
    uint8_t vt[8] = {0x00, 0x50, 0x00, 0x20, 0x09, 0x01, 0x00, 0x08};
    memcpy(blsim_flash(sim) + offset, vt, sizeof vt);
}

/* ---- creation and devices ------------------------------------------------ */

static void test_devices_and_config(void **state)
{
    (void)state;
    assert_non_null(blsim_device_find("f103md"));
    assert_non_null(blsim_device_find("f103hd"));
    assert_non_null(blsim_device_find("f072"));
    assert_null(blsim_device_find("f999"));
    assert_null(blsim_device_at(3));

    blsim_config cfg = {.device = blsim_device_find("f103md"), .flash_kb = 32};
    assert_null(blsim_new(&cfg)); /* medium density is 64 or 128 KiB */
    cfg.flash_kb = 128;
    blsim *sim = blsim_new(&cfg);
    assert_non_null(sim);
    assert_int_equal(blsim_flash_size(sim), 128 * 1024);
    blsim_free(sim);
    cfg.device = NULL;
    assert_null(blsim_new(&cfg));
}

/* ---- autobaud and framing ----------------------------------------------- */

static void test_sync_acks_and_enters_command_mode(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, NULL);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    uint64_t t0 = blsim_now_ns(sim);
    assert_int_equal(host_sync(sim), ACK);
    /* 0x7F goes out (one byte time), ACK comes back (one more). */
    assert_int_equal(blsim_now_ns(sim) - t0, 2u * blsim_byte_time_ns(sim));
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_COMMANDS);
    blsim_free(sim);
}

/* blsim_set_host_baud(): the line runs at the new rate both ways from then
 * on (the stub flasher's rate switch needs the host side to follow). */
static void test_set_host_baud_changes_the_byte_time(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, NULL);
    assert_int_equal(blsim_byte_time_ns(sim), 95486u); /* 11 bits at 115200 */
    assert_int_equal(host_sync(sim), ACK);
    blsim_set_host_baud(sim, 2000000);
    assert_int_equal(blsim_byte_time_ns(sim), 5500u);
    blsim_set_host_baud(sim, 0); /* ignored */
    assert_int_equal(blsim_byte_time_ns(sim), 5500u);
    uint64_t t0 = blsim_now_ns(sim);
    /* Get Version: 2 bytes out, ACK, version, 2 option bytes, ACK back. */
    assert_int_equal(host_command(sim, 0x01), ACK);
    uint8_t rest[4];
    assert_int_equal(host_recv(sim, rest, sizeof rest, 10), sizeof rest);
    assert_int_equal(rest[3], ACK);
    assert_int_equal(blsim_now_ns(sim) - t0, 7u * 5500u);
    blsim_free(sim);
}

static void test_wrong_first_byte_leaves_target_deaf_until_reset(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, NULL);
    host_send_byte(sim, 0x00);
    assert_int_equal(host_reply(sim, 100), NO_REPLY);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_DEAF);
    assert_int_equal(host_sync(sim), NO_REPLY);
    assert_int_equal(host_command(sim, AN3155_CMD_GET), NO_REPLY);
    host_reset(sim, true);
    assert_int_equal(host_sync(sim), ACK);
    blsim_free(sim);
}

static void test_bytes_during_boot_are_lost(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, NULL);
    blsim_set_nrst(sim, false);
    blsim_idle(sim, 1000);
    blsim_set_nrst(sim, true);
    /* Straight after reset the bootloader is not listening yet. */
    assert_int_equal(host_sync(sim), NO_REPLY);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(host_sync(sim), ACK);
    blsim_free(sim);
}

static void test_spare_sync_after_sync_gets_nack(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    /* A lone 0x7F is an opcode waiting for its complement: no answer... */
    assert_int_equal(host_sync(sim), NO_REPLY);
    /* ...and the next 0x7F completes a bad pair: NACK. */
    assert_int_equal(host_sync(sim), NACK);
    /* The parser is back at the start: a real command works. */
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK);
    blsim_free(sim);
}

static void test_bad_complement_and_unknown_opcodes_get_nack(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    uint8_t bad[2] = {AN3155_CMD_GET, 0x00};
    host_send(sim, bad, 2);
    assert_int_equal(host_reply(sim, 100), NACK);
    /* F1 offers 0x43, never 0x44; no Get Checksum before v3.3. */
    assert_int_equal(host_command(sim, AN3155_CMD_EXTENDED_ERASE), NACK);
    assert_int_equal(host_command(sim, AN3155_CMD_GET_CHECKSUM), NACK);
    assert_int_equal(host_command(sim, 0x55), NACK);
    blsim_free(sim);

    sim = synced("f072");
    assert_int_equal(host_command(sim, AN3155_CMD_ERASE), NACK);
    blsim_free(sim);
}

/* ---- Get, Get Version, Get ID: byte for byte ----------------------------- */

static void test_get_replies_byte_for_byte(void **state)
{
    (void)state;
    static const uint8_t f1[] = {0x0B, 0x22, 0x00, 0x01, 0x02, 0x11, 0x21,
                                 0x31, 0x43, 0x63, 0x73, 0x82, 0x92, ACK};
    static const uint8_t f072[] = {0x0B, 0x31, 0x00, 0x01, 0x02, 0x11, 0x21,
                                   0x31, 0x44, 0x63, 0x73, 0x82, 0x92, ACK};
    uint8_t buf[32];

    blsim *sim = synced("f103md");
    assert_int_equal(host_command(sim, AN3155_CMD_GET), ACK);
    assert_int_equal(host_recv(sim, buf, sizeof f1, 100), sizeof f1);
    assert_memory_equal(buf, f1, sizeof f1);
    assert_int_equal(host_reply(sim, 100), NO_REPLY); /* nothing more */
    blsim_free(sim);

    sim = synced("f072");
    assert_int_equal(host_command(sim, AN3155_CMD_GET), ACK);
    assert_int_equal(host_recv(sim, buf, sizeof f072, 100), sizeof f072);
    assert_memory_equal(buf, f072, sizeof f072);
    blsim_free(sim);
}

static void test_get_version_and_id(void **state)
{
    (void)state;
    struct {
        const char *name;
        uint8_t version, pid_hi, pid_lo;
    } cases[] = {
        {"f103md", 0x22, 0x04, 0x10}, {"f103hd", 0x22, 0x04, 0x14}, {"f072", 0x31, 0x04, 0x48}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blsim *sim = synced(cases[i].name);
        uint8_t buf[4];
        assert_int_equal(host_command(sim, AN3155_CMD_GET_VERSION), ACK);
        assert_int_equal(host_recv(sim, buf, 4, 100), 4);
        uint8_t version[4] = {cases[i].version, 0x00, 0x00, ACK};
        assert_memory_equal(buf, version, 4);

        assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK);
        assert_int_equal(host_recv(sim, buf, 4, 100), 4);
        uint8_t id[4] = {0x01, cases[i].pid_hi, cases[i].pid_lo, ACK};
        assert_memory_equal(buf, id, 4);
        blsim_free(sim);
    }
}

/* ---- Read Memory --------------------------------------------------------- */

static void test_read_memory_regions(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    fill_pattern(blsim_flash(sim), 1024, 1);
    uint8_t buf[256];

    assert_int_equal(host_read(sim, FLASH, buf, 256), ACK);
    assert_memory_equal(buf, blsim_flash(sim), 256);
    /* No ACK after the data. */
    assert_int_equal(host_reply(sim, 100), NO_REPLY);

    /* Flash size register: 64 KiB; option bytes: RDP 0xA5 and complement. */
    assert_int_equal(host_read(sim, 0x1FFFF7E0, buf, 2), ACK);
    assert_int_equal(buf[0] | buf[1] << 8, 64);
    assert_int_equal(host_read(sim, F1_OPTBYTES, buf, 16), ACK);
    assert_int_equal(buf[0], 0xA5);
    assert_int_equal(buf[1], 0x5A);
    /* Unique ID: 12 bytes readable. */
    assert_int_equal(host_read(sim, 0x1FFFF7E8, buf, 12), ACK);
    /* One byte read at the very end of flash. */
    assert_int_equal(host_read(sim, FLASH + 64 * 1024 - 1, buf, 1), ACK);
    assert_int_equal(buf[0], 0xFF);
    blsim_free(sim);

    sim = synced("f072");
    assert_int_equal(host_read(sim, 0x1FFFF7CC, buf, 2), ACK);
    assert_int_equal(buf[0] | buf[1] << 8, 128);
    blsim_free(sim);
}

static void test_read_memory_nack_paths(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    uint8_t buf[256];

    /* Unmapped address. */
    assert_int_equal(host_read(sim, 0x30000000, buf, 4), NACK);
    /* Range running past the end of flash. */
    assert_int_equal(host_read(sim, FLASH + 64 * 1024 - 4, buf, 8), NACK);

    /* Bad address checksum. */
    assert_int_equal(host_command(sim, AN3155_CMD_READ_MEMORY), ACK);
    uint8_t a[5] = {0x08, 0x00, 0x00, 0x00, 0x00};
    host_send(sim, a, 5);
    assert_int_equal(host_reply(sim, 100), NACK);

    /* Length without its complement. */
    assert_int_equal(host_command(sim, AN3155_CMD_READ_MEMORY), ACK);
    uint8_t ok[5] = {0x08, 0x00, 0x00, 0x00, 0x08};
    host_send(sim, ok, 5);
    assert_int_equal(host_reply(sim, 100), ACK);
    uint8_t n[2] = {0x0F, 0x0F};
    host_send(sim, n, 2);
    assert_int_equal(host_reply(sim, 100), NACK);

    /* Still in step after every NACK. */
    assert_int_equal(host_read(sim, FLASH, buf, 4), ACK);
    blsim_free(sim);
}

/* Sends opcode + complement and the address with its checksum; returns the
 * answer to the address. */
static int send_command_at(blsim *sim, uint8_t opcode, uint32_t address)
{
    assert_int_equal(host_command(sim, opcode), ACK);
    uint8_t a[4] = {(uint8_t)(address >> 24), (uint8_t)(address >> 16), (uint8_t)(address >> 8),
                    (uint8_t)address};
    host_send_xor(sim, a, 4);
    return host_reply(sim, 100);
}

/* Get Version's whole answer: ACK, v2.2, 00, 00, ACK. */
static void expect_get_version_answer(blsim *sim)
{
    uint8_t got[5] = {0};
    const uint8_t want[5] = {ACK, 0x22, 0x00, 0x00, ACK};
    assert_int_equal(host_recv(sim, got, 5, 100), 5);
    assert_memory_equal(got, want, 5);
}

static void test_f1_acks_a_bad_address_and_takes_what_follows_for_commands(void **state)
{
    (void)state;
    const char *f1[] = {"f103md", "f103hd"};
    for (size_t d = 0; d < 2; d++) {
        assert_true(blsim_device_find(f1[d])->acks_bad_address);
        blsim *sim = synced(f1[d]);
        uint64_t reads = blsim_get_stats(sim)->command_count[AN3155_CMD_READ_MEMORY];

        /* Read Memory of 2 bytes in no window: the address is ACKed... */
        assert_int_equal(send_command_at(sim, AN3155_CMD_READ_MEMORY, 0x30000000), ACK);
        /* ...and its length, N = 1 with its complement, is "01 FE": Get
         * Version, answered in full. */
        const uint8_t n[2] = {0x01, 0xFE};
        host_send(sim, n, 2);
        expect_get_version_answer(sim);
        assert_int_equal(blsim_get_stats(sim)->command_count[AN3155_CMD_GET_VERSION], 1);

        /* Write Memory in system memory (not writable): ACKed too, and the
         * frame N = 1, FE, 02, checksum FD is Get Version then Get ID (sent
         * in two halves: the second would land while the ROM still sends
         * the first's answer, and be lost to an overrun). */
        assert_int_equal(send_command_at(sim, AN3155_CMD_WRITE_MEMORY, 0x1FFFF000), ACK);
        const uint8_t frame[4] = {0x01, 0xFE, 0x02, 0x01 ^ 0xFE ^ 0x02};
        host_send(sim, frame, 2);
        expect_get_version_answer(sim);
        host_send(sim, frame + 2, 2);
        uint8_t id[5] = {0};
        const uint16_t pid = blsim_get_device(sim)->pid;
        const uint8_t want_id[5] = {ACK, 0x01, (uint8_t)(pid >> 8), (uint8_t)pid, ACK};
        assert_int_equal(host_recv(sim, id, 5, 100), 5);
        assert_memory_equal(id, want_id, 5);

        /* Nothing was read or written, and the parser is at a command
         * boundary: a good read works. */
        assert_int_equal(blsim_get_stats(sim)->command_count[AN3155_CMD_READ_MEMORY], reads + 1);
        assert_int_equal(blsim_get_stats(sim)->halfwords_programmed, 0);
        uint8_t buf[4];
        assert_int_equal(host_read(sim, FLASH, buf, 4), ACK);
        blsim_free(sim);
    }
}

static void test_other_families_nack_a_bad_address_and_the_quirk_can_be_switched(void **state)
{
    (void)state;
    assert_false(blsim_device_find("f072")->acks_bad_address);
    blsim *sim = synced("f072");
    uint8_t buf[4];
    assert_int_equal(host_read(sim, 0x30000000, buf, 4), NACK);
    assert_int_equal(host_write(sim, 0x30000000, buf, 4), NACK);
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK); /* in step */
    blsim_free(sim);

    /* Forced on for the F072, off for an F103. */
    blsim_faults on = {.address_quirk = BLSIM_ADDRESS_QUIRK_ON};
    sim = host_target("f072", &on, NULL);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(send_command_at(sim, AN3155_CMD_READ_MEMORY, 0x30000000), ACK);
    const uint8_t n[2] = {0x01, 0xFE};
    host_send(sim, n, 2);
    uint8_t got[5];
    assert_int_equal(host_recv(sim, got, 5, 100), 5);
    assert_int_equal(got[1], 0x31); /* Get Version: the F072's v3.1 */
    blsim_free(sim);

    blsim_faults off = {.address_quirk = BLSIM_ADDRESS_QUIRK_OFF};
    sim = host_target("f103md", &off, NULL);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_read(sim, 0x30000000, buf, 4), NACK);
    blsim_free(sim);
}

/* ---- Write Memory -------------------------------------------------------- */

static void test_write_flash_and_read_back(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    uint8_t data[256], back[256];
    fill_pattern(data, sizeof data, 3);
    uint64_t before = blsim_now_ns(sim);
    assert_int_equal(host_write(sim, FLASH + 1024, data, 256), ACK);
    /* Wire: 2+5+1+256+1 bytes out, 3 ACKs back, plus 128 half-words at 52.5 us. */
    uint64_t wire = (2 + 5 + 1 + 256 + 1 + 3) * (uint64_t)blsim_byte_time_ns(sim);
    assert_int_equal(blsim_now_ns(sim) - before, wire + 128 * 52500u);
    assert_int_equal(host_read(sim, FLASH + 1024, back, 256), ACK);
    assert_memory_equal(back, data, 256);
    assert_int_equal(blsim_get_stats(sim)->halfwords_programmed, 128);
    blsim_free(sim);
}

static void test_write_flash_nack_paths(void **state)
{
    (void)state;
    /* An F103 whose ROM NACKs a bad address (the quirk off), so that every
     * refusal shows. */
    blsim_faults nack_address = {.address_quirk = BLSIM_ADDRESS_QUIRK_OFF};
    blsim *sim = host_target("f103md", &nack_address, NULL);
    assert_int_equal(host_sync(sim), ACK);
    uint8_t data[16];
    fill_pattern(data, sizeof data, 5);

    assert_int_equal(host_write(sim, FLASH + 2, data, 8), NACK);             /* address not /4 */
    assert_int_equal(host_write(sim, FLASH, data, 6), NACK);                 /* length not /4 */
    assert_int_equal(host_write(sim, 0x30000000, data, 4), NACK);            /* unmapped */
    assert_int_equal(host_write(sim, 0x1FFFF000, data, 4), NACK);            /* system memory */
    assert_int_equal(host_write(sim, FLASH + 64 * 1024 - 4, data, 8), NACK); /* past the end */

    /* Bad data checksum. */
    assert_int_equal(host_command(sim, AN3155_CMD_WRITE_MEMORY), ACK);
    uint8_t a[5] = {0x08, 0x00, 0x00, 0x00, 0x08};
    host_send(sim, a, 5);
    assert_int_equal(host_reply(sim, 100), ACK);
    uint8_t frame[6] = {3, 1, 2, 3, 4, 0x55};
    host_send(sim, frame, sizeof frame);
    assert_int_equal(host_reply(sim, 100), NACK);

    /* None of that touched flash. */
    for (uint32_t i = 0; i < blsim_flash_size(sim); i++) {
        assert_int_equal(blsim_flash(sim)[i], 0xFF);
    }
    blsim_free(sim);
}

static void test_write_over_programmed_flash_fails(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t ff[8];
    memset(ff, 0xFF, sizeof ff);
    assert_int_equal(host_write(sim, FLASH, data, 8), ACK);
    /* Not erased: the first half-word fails (PGERR) and the write is NACKed,
     * even when the new data is 0xFF or equal to what is there. */
    assert_int_equal(host_write(sim, FLASH, data, 8), NACK);
    assert_int_equal(host_write(sim, FLASH, ff, 8), NACK);
    assert_true(blsim_get_stats(sim)->program_errors >= 2);
    uint8_t back[8];
    assert_int_equal(host_read(sim, FLASH, back, 8), ACK);
    assert_memory_equal(back, data, 8);
    blsim_free(sim);
}

static void test_write_ram(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    uint8_t data[7] = {9, 8, 7, 6, 5, 4, 3}, back[7];
    /* RAM takes any length and alignment, from 0x20000200 up. */
    assert_int_equal(host_write(sim, 0x20000201, data, 7), ACK);
    assert_int_equal(host_read(sim, 0x20000201, back, 7), ACK);
    assert_memory_equal(back, data, 7);
    /* The bootloader's own RAM is not writable. */
    assert_int_equal(host_write(sim, 0x20000000, data, 4), NACK);
    /* Past the end of RAM (20 KiB). */
    assert_int_equal(host_write(sim, 0x20004FFC, data, 7), NACK);
    blsim_free(sim);

    sim = synced("f072");
    assert_int_equal(host_write(sim, 0x20001000, data, 4), NACK);
    assert_int_equal(host_write(sim, 0x20001800, data, 4), ACK);
    blsim_free(sim);
}

static void test_write_option_bytes_resets(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    /* RDP = 0x00 (protected), everything else erased-default. */
    uint8_t ob[16] = {0x00, 0xFF, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00,
                      0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00};
    uint64_t resets = blsim_get_stats(sim)->resets;
    assert_int_equal(host_write(sim, F1_OPTBYTES, ob, 16), ACK);
    blsim_idle(sim, 100000);
    assert_int_equal(blsim_get_stats(sim)->resets, resets + 1);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_true(blsim_readout_protected(sim));
    assert_int_equal(host_sync(sim), ACK);
    uint8_t buf[4];
    assert_int_equal(host_read(sim, FLASH, buf, 4), NACK);
    /* Writing inside the option bytes but not from their base is refused. */
    blsim_free(sim);

    sim = synced("f103md");
    assert_int_equal(host_write(sim, F1_OPTBYTES + 2, ob, 4), NACK);
    blsim_free(sim);
}

/* ---- Erase 0x43 ---------------------------------------------------------- */

static void test_erase_pages(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    memset(blsim_flash(sim), 0x00, blsim_flash_size(sim));
    uint8_t pages[2] = {1, 3};
    uint64_t before = blsim_now_ns(sim);
    assert_int_equal(host_erase(sim, pages, 2), ACK);
    /* 2 + 4 bytes out, 2 ACKs, 2 pages x 20 ms. */
    uint64_t wire = 8u * blsim_byte_time_ns(sim);
    assert_int_equal(blsim_now_ns(sim) - before, wire + 2u * 20000000u);
    const uint8_t *f = blsim_flash_const(sim);
    assert_int_equal(f[0], 0x00);
    assert_int_equal(f[1023], 0x00);
    assert_int_equal(f[1024], 0xFF);
    assert_int_equal(f[2047], 0xFF);
    assert_int_equal(f[2048], 0x00);
    assert_int_equal(f[3 * 1024], 0xFF);
    assert_int_equal(f[4 * 1024], 0x00);
    assert_int_equal(blsim_get_stats(sim)->pages_erased, 2);
    blsim_free(sim);
}

static void test_erase_global_and_nack_paths(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    memset(blsim_flash(sim), 0x00, blsim_flash_size(sim));

    /* 0xFF followed by anything but 0x00 is refused. */
    assert_int_equal(host_command(sim, AN3155_CMD_ERASE), ACK);
    uint8_t bad_global[2] = {0xFF, 0xFF};
    host_send(sim, bad_global, 2);
    assert_int_equal(host_reply(sim, 100), NACK);
    /* Page past the end of a 64 KiB part. */
    uint8_t page = 64;
    assert_int_equal(host_erase(sim, &page, 1), NACK);
    /* Bad checksum. */
    assert_int_equal(host_command(sim, AN3155_CMD_ERASE), ACK);
    uint8_t frame[3] = {0x00, 0x02, 0x00};
    host_send(sim, frame, 3);
    assert_int_equal(host_reply(sim, 100), NACK);
    assert_int_equal(blsim_flash(sim)[2048], 0x00);

    assert_int_equal(host_erase(sim, NULL, 0), ACK);
    for (uint32_t i = 0; i < blsim_flash_size(sim); i++) {
        assert_int_equal(blsim_flash(sim)[i], 0xFF);
    }
    assert_int_equal(blsim_get_stats(sim)->mass_erases, 1);
    blsim_free(sim);
}

/* ---- Extended Erase 0x44 ------------------------------------------------- */

static void test_extended_erase(void **state)
{
    (void)state;
    blsim *sim = synced("f072");
    memset(blsim_flash(sim), 0x00, blsim_flash_size(sim));
    uint16_t pages[3] = {0, 2, 63};
    assert_int_equal(host_ext_erase(sim, pages, 3), ACK);
    const uint8_t *f = blsim_flash_const(sim);
    assert_int_equal(f[0], 0xFF);
    assert_int_equal(f[2047], 0xFF);
    assert_int_equal(f[2048], 0x00);
    assert_int_equal(f[2 * 2048], 0xFF);
    assert_int_equal(f[63 * 2048 + 2047], 0xFF);
    assert_int_equal(f[62 * 2048], 0x00);

    /* A page past the end. */
    uint16_t past = 64;
    assert_int_equal(host_ext_erase(sim, &past, 1), NACK);

    /* Special codes: bank erases do not exist on a single-bank part,
     * reserved codes are refused, 0xFFFF is a mass erase. */
    uint16_t codes[] = {AN3155_EXT_ERASE_BANK1, AN3155_EXT_ERASE_BANK2, 0xFFF0, 0xFFFC};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_int_equal(host_command(sim, AN3155_CMD_EXTENDED_ERASE), ACK);
        uint8_t c[2] = {(uint8_t)(codes[i] >> 8), (uint8_t)codes[i]};
        host_send_xor(sim, c, 2);
        assert_int_equal(host_reply(sim, 100), NACK);
    }
    /* Mass erase with a wrong checksum. */
    assert_int_equal(host_command(sim, AN3155_CMD_EXTENDED_ERASE), ACK);
    uint8_t bad[3] = {0xFF, 0xFF, 0xFF};
    host_send(sim, bad, 3);
    assert_int_equal(host_reply(sim, 100), NACK);
    assert_int_equal(f[2048], 0x00);

    assert_int_equal(host_command(sim, AN3155_CMD_EXTENDED_ERASE), ACK);
    uint8_t mass[2] = {0xFF, 0xFF};
    host_send_xor(sim, mass, 2);
    assert_int_equal(host_reply(sim, 100), ACK);
    for (uint32_t i = 0; i < blsim_flash_size(sim); i++) {
        assert_int_equal(f[i], 0xFF);
    }
    blsim_free(sim);
}

/* ---- Go ------------------------------------------------------------------ */

static void test_go_starts_application_with_banner(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, "APP OK\n");
    put_vector_table(sim, 0);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_go(sim, FLASH), ACK);
    char banner[8] = {0};
    assert_int_equal(host_recv(sim, (uint8_t *)banner, 7, 100), 7);
    assert_string_equal(banner, "APP OK\n");
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_APP);
    /* The bootloader session is over: nobody answers. */
    assert_int_equal(host_sync(sim), NO_REPLY);
    assert_int_equal(host_command(sim, AN3155_CMD_GET), NO_REPLY);
    blsim_free(sim);
}

static void test_go_nack_paths_and_blank_flash(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, "APP\n");
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_go(sim, 0x1FFFF000), NACK); /* system memory */
    assert_int_equal(host_go(sim, 0x20000000), NACK); /* bootloader RAM */
    assert_int_equal(host_go(sim, 0x40000000), NACK);
    /* Blank flash: the core loads 0xFFFFFFFF as SP and faults, silently. */
    assert_int_equal(host_go(sim, FLASH), ACK);
    assert_int_equal(host_reply(sim, 100), NO_REPLY);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_HARDFAULT);
    blsim_free(sim);
}

/* Go into RAM runs the code there on the virtual MCU (test_vmcu.c has
 * more): here two instructions that loop, then code that faults. */
static void test_go_to_ram(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    /* SP 0x20004000, PC 0x20000409; at 0x20000408: "adds r0, #1; b ." */
    uint8_t code[12] = {0x00, 0x40, 0x00, 0x20, 0x09, 0x04, 0x00, 0x20, 0x01, 0x30, 0xFE, 0xE7};
    assert_int_equal(host_write(sim, 0x20000400, code, sizeof code), ACK);
    assert_int_equal(host_go(sim, 0x20000400), ACK);
    blsim_idle(sim, 1000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    assert_int_equal(blsim_get_stats(sim)->gos, 1);
    assert_int_equal(blsim_get_stats(sim)->ram_programs, 1);
    assert_true(blsim_get_stats(sim)->mcu_cycles > 1000);
    /* On the F072 there is no virtual MCU: the code is taken as an
     * application that says nothing. */
    blsim_free(sim);
    sim = synced("f072");
    code[5] = 0x18; /* PC in the F072's free RAM */
    assert_int_equal(host_write(sim, 0x20001800, code, 8), ACK);
    assert_int_equal(host_go(sim, 0x20001800), ACK);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_APP);
    blsim_free(sim);
}

/* ---- Pins ---------------------------------------------------------------- */

static void test_boot0_low_runs_the_application(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, "hello\n");
    put_vector_table(sim, 0);
    host_reset(sim, false);
    char buf[7] = {0};
    assert_int_equal(host_recv(sim, (uint8_t *)buf, 6, 100), 6);
    assert_string_equal(buf, "hello\n");
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_APP);
    assert_int_equal(host_sync(sim), NO_REPLY);

    /* Back to the bootloader with BOOT0 high. */
    host_reset(sim, true);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(host_sync(sim), ACK);
    blsim_free(sim);
}

static void test_nrst_low_holds_the_chip(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    blsim_set_nrst(sim, false);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RESET);
    assert_int_equal(host_command(sim, AN3155_CMD_GET), NO_REPLY);
    blsim_set_nrst(sim, true);
    blsim_idle(sim, 5000);
    assert_int_equal(host_sync(sim), ACK);
    blsim_free(sim);
}

static void test_blank_flash_with_boot0_low_is_silent(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, "hello\n");
    host_reset(sim, false);
    assert_int_equal(host_reply(sim, 100), NO_REPLY);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_HARDFAULT);
    blsim_free(sim);
}

/* ---- Protection ------------------------------------------------------------ */

static void test_write_protect_and_unprotect(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    /* Protect sector 1 = pages 4..7. */
    assert_int_equal(host_command(sim, AN3155_CMD_WRITE_PROTECT), ACK);
    uint8_t frame[2] = {0x00, 0x01};
    host_send_xor(sim, frame, 2);
    assert_int_equal(host_reply(sim, 100), ACK);
    blsim_idle(sim, 10000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC); /* it reset */
    assert_int_equal(blsim_option_bytes(sim)[8], 0xFD);
    assert_int_equal(host_sync(sim), ACK);

    /* A write into a protected page is acknowledged but does nothing. */
    uint8_t data[4] = {1, 2, 3, 4};
    assert_int_equal(host_write(sim, FLASH + 4 * 1024, data, 4), ACK);
    assert_int_equal(blsim_flash(sim)[4 * 1024], 0xFF);
    /* An unprotected page is written. */
    assert_int_equal(host_write(sim, FLASH, data, 4), ACK);
    assert_int_equal(blsim_flash(sim)[0], 1);
    /* Erasing a protected page leaves it. */
    memset(blsim_flash(sim) + 4 * 1024, 0x00, 1024);
    uint8_t page = 4;
    assert_int_equal(host_erase(sim, &page, 1), ACK);
    assert_int_equal(blsim_flash(sim)[4 * 1024], 0x00);
    /* The global erase is the hardware's mass erase (MER, STRT), which
     * PM0075 refuses as a whole while a page is protected: nothing is
     * erased, the unprotected pages neither. The ROM does not check. */
    uint64_t mass = blsim_get_stats(sim)->mass_erases;
    assert_int_equal(host_erase(sim, NULL, 0), ACK);
    assert_int_equal(blsim_flash(sim)[0], 1);
    assert_int_equal(blsim_flash(sim)[4 * 1024], 0x00);
    assert_int_equal(blsim_get_stats(sim)->mass_erases, mass);

    /* Sector codes beyond the WRP bits are refused. */
    assert_int_equal(host_command(sim, AN3155_CMD_WRITE_PROTECT), ACK);
    uint8_t bad[2] = {0x00, 32};
    host_send_xor(sim, bad, 2);
    assert_int_equal(host_reply(sim, 100), NACK);

    assert_int_equal(host_command(sim, AN3155_CMD_WRITE_UNPROTECT), ACK);
    assert_int_equal(host_reply(sim, 100), ACK);
    blsim_idle(sim, 10000);
    assert_int_equal(blsim_option_bytes(sim)[8], 0xFF);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_erase(sim, &page, 1), ACK);
    assert_int_equal(blsim_flash(sim)[4 * 1024], 0xFF);
    blsim_free(sim);
}

static void test_readout_protection_cycle(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    uint8_t data[4] = {0xDE, 0xAD, 0xBE, 0xEF}, buf[4];
    assert_int_equal(host_write(sim, FLASH, data, 4), ACK);
    assert_int_equal(host_write(sim, 0x20000400, data, 4), ACK);

    assert_int_equal(host_command(sim, AN3155_CMD_READOUT_PROTECT), ACK);
    assert_int_equal(host_reply(sim, 100), ACK);
    blsim_idle(sim, 10000);
    assert_true(blsim_readout_protected(sim));
    assert_int_equal(host_sync(sim), ACK);

    /* Only Get, Get Version, Get ID and Readout Unprotect are accepted. */
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK);
    assert_int_equal(host_recv(sim, buf, 4, 100), 4);
    assert_int_equal(host_command(sim, AN3155_CMD_GET_VERSION), ACK);
    assert_int_equal(host_recv(sim, buf, 4, 100), 4);
    assert_int_equal(host_command(sim, AN3155_CMD_GET), ACK);
    uint8_t get[14];
    assert_int_equal(host_recv(sim, get, 14, 100), 14);
    static const uint8_t refused[] = {
        AN3155_CMD_READ_MEMORY,    AN3155_CMD_WRITE_MEMORY,  AN3155_CMD_GO,
        AN3155_CMD_ERASE,          AN3155_CMD_WRITE_PROTECT, AN3155_CMD_WRITE_UNPROTECT,
        AN3155_CMD_READOUT_PROTECT};
    for (size_t i = 0; i < sizeof refused; i++) {
        assert_int_equal(host_command(sim, refused[i]), NACK);
    }
    assert_int_equal(blsim_flash(sim)[0], 0xDE); /* still there, unreadable */

    /* Readout Unprotect: ACK, mass erase, ACK, reset. */
    assert_int_equal(host_command(sim, AN3155_CMD_READOUT_UNPROTECT), ACK);
    assert_int_equal(host_reply(sim, 100), ACK);
    blsim_idle(sim, 10000);
    assert_false(blsim_readout_protected(sim));
    assert_int_equal(blsim_flash(sim)[0], 0xFF);
    uint8_t ram;
    assert_true(blsim_peek(sim, 0x20000400, &ram));
    assert_int_equal(ram, 0x00);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_read(sim, FLASH, buf, 4), ACK);
    blsim_free(sim);
}

static void test_start_protected(void **state)
{
    (void)state;
    blsim_config cfg = {
        .device = blsim_device_find("f072"), .boot0 = true, .readout_protected = true};
    blsim *sim = blsim_new(&cfg);
    blsim_idle(sim, 5000);
    assert_int_equal(host_sync(sim), ACK);
    uint8_t buf[4];
    assert_int_equal(host_read(sim, FLASH, buf, 4), NACK);
    blsim_free(sim);
}

/* ---- Timing --------------------------------------------------------------- */

static void test_erase_time_typical_and_maximum(void **state)
{
    (void)state;
    for (int slow = 0; slow <= 1; slow++) {
        blsim_faults f = {.max_flash_timings = slow != 0};
        blsim *sim = host_target("f103md", &f, NULL);
        assert_int_equal(host_sync(sim), ACK);
        assert_int_equal(host_command(sim, AN3155_CMD_ERASE), ACK);
        uint8_t frame[2] = {0x00, 0x05};
        host_send_xor(sim, frame, 2);
        uint32_t erase_ms = slow ? 40 : 20;
        /* Nothing before the page erase time is up... */
        assert_int_equal(host_reply(sim, erase_ms - 1), NO_REPLY);
        /* ...then the ACK. */
        assert_int_equal(host_reply(sim, 2), ACK);
        blsim_free(sim);
    }
}

static void test_bytes_sent_while_busy_overrun(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    assert_int_equal(host_command(sim, AN3155_CMD_ERASE), ACK);
    uint8_t frame[2] = {0x00, 0x05};
    host_send_xor(sim, frame, 2);
    /* While the page is erasing, send a Get: its first byte is latched, the
     * second overruns. */
    uint8_t get[2] = {AN3155_CMD_GET, 0xFF};
    host_send(sim, get, 2);
    assert_int_equal(host_reply(sim, 100), ACK); /* the erase */
    assert_int_equal(blsim_get_stats(sim)->overruns, 1);
    /* The latched 0x00 waits for its complement. */
    uint8_t ff = 0xFF;
    host_send(sim, &ff, 1);
    assert_int_equal(host_reply(sim, 100), ACK);
    blsim_free(sim);
}

/* ---- Faults ---------------------------------------------------------------- */

static void test_fault_spec_parsing(void **state)
{
    (void)state;
    blsim_faults f = {0};
    char err[256];
    assert_int_equal(blsim_faults_parse("seed=42,dir=tx,flip=1e-4,drop=0.5,insert=0.25,nack=3,"
                                        "reset-byte=100,reset-cmd=7,slow,silent-abort",
                                        &f, err, sizeof err),
                     0);
    assert_int_equal(f.seed, 42);
    assert_int_equal(f.direction, BLSIM_DIR_TO_HOST);
    assert_true(f.bit_flip_rate == 1e-4);
    assert_true(f.drop_rate == 0.5);
    assert_true(f.insert_rate == 0.25);
    assert_int_equal(f.nack_at_ack, 3);
    assert_int_equal(f.reset_after_byte, 100);
    assert_int_equal(f.reset_in_command, 7);
    assert_true(f.max_flash_timings);
    assert_int_equal(f.address_quirk, BLSIM_ADDRESS_QUIRK_ON);
    blsim_faults nack = {0};
    assert_int_equal(blsim_faults_parse("nack-address", &nack, err, sizeof err), 0);
    assert_int_equal(nack.address_quirk, BLSIM_ADDRESS_QUIRK_OFF);

    const char *bad[] = {"flip=2", "flip=-1", "flip=x",        "nack=0", "nack=",         "bogus=1",
                         "slow=1", "dir=up",  "reset-byte=-3", ",",      "seed=1,,flip=0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        blsim_faults g = {0};
        err[0] = '\0';
        assert_int_equal(blsim_faults_parse(bad[i], &g, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
    }
}

static void test_fault_nack_at_chosen_ack(void **state)
{
    (void)state;
    blsim_faults f = {.nack_at_ack = 2};
    blsim *sim = host_target("f103md", &f, NULL);
    assert_int_equal(host_sync(sim), ACK);                        /* ACK #1 */
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), NACK); /* ACK #2 */
    assert_int_equal(blsim_get_stats(sim)->faults_nacks, 1);
    blsim_free(sim);
}

static void test_fault_drop_and_flip_and_insert(void **state)
{
    (void)state;
    /* Every byte to the target dropped: nothing ever answers. */
    blsim_faults drop = {.drop_rate = 1.0, .direction = BLSIM_DIR_TO_TARGET};
    blsim *sim = host_target("f103md", &drop, NULL);
    assert_int_equal(host_sync(sim), NO_REPLY);
    assert_int_equal(blsim_get_stats(sim)->faults_drops, 1);
    blsim_free(sim);

    /* Every bit flipped on the way back: ACK 0x79 arrives as 0x86. */
    blsim_faults flip = {.bit_flip_rate = 1.0, .direction = BLSIM_DIR_TO_HOST};
    sim = host_target("f103md", &flip, NULL);
    assert_int_equal(host_sync(sim), 0x86);
    assert_int_equal(blsim_get_stats(sim)->faults_bit_flips, 8);
    blsim_free(sim);

    /* A noise byte before every byte to the target: the first byte the
     * bootloader measures is noise, so it goes deaf (unless the noise happened
     * to be 0x7F; the seed makes it reproducible). */
    blsim_faults insert = {.insert_rate = 1.0, .direction = BLSIM_DIR_TO_TARGET, .seed = 1};
    sim = host_target("f103md", &insert, NULL);
    host_sync(sim);
    assert_int_equal(blsim_get_stats(sim)->faults_inserts, 1);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_DEAF);
    blsim_free(sim);
}

static void test_fault_reset_after_byte(void **state)
{
    (void)state;
    blsim_faults f = {.reset_after_byte = 3};
    blsim *sim = host_target("f103md", &f, NULL);
    assert_int_equal(host_sync(sim), ACK);         /* byte 1 */
    uint8_t get_id[2] = {AN3155_CMD_GET_ID, 0xFD}; /* bytes 2, 3 */
    host_send(sim, get_id, 2);
    /* Reset on the complement: the reply is lost, the bootloader restarts. */
    assert_int_equal(host_reply(sim, 100), NO_REPLY);
    assert_int_equal(blsim_get_stats(sim)->faults_resets, 1);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(host_sync(sim), ACK);
    blsim_free(sim);
}

static void test_fault_reset_in_write_leaves_half_programmed(void **state)
{
    (void)state;
    /* Command 1 is the write (the sync is not a command). */
    blsim_faults f = {.reset_in_command = 1};
    blsim *sim = host_target("f103md", &f, NULL);
    assert_int_equal(host_sync(sim), ACK);
    uint8_t data[256];
    fill_pattern(data, sizeof data, 9);
    assert_int_equal(host_write(sim, FLASH, data, 256), NO_REPLY);
    const uint8_t *flash = blsim_flash_const(sim);
    assert_memory_equal(flash, data, 128);
    for (int i = 128; i < 256; i++) {
        assert_int_equal(flash[i], 0xFF);
    }
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    blsim_free(sim);
}

static void test_fault_reset_in_erase_and_in_plain_command(void **state)
{
    (void)state;
    blsim_faults f = {.reset_in_command = 2};
    blsim *sim = host_target("f103md", &f, NULL);
    memset(blsim_flash(sim), 0x00, blsim_flash_size(sim));
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK); /* command 1 */
    uint8_t rest[4];
    host_recv(sim, rest, 4, 100);
    uint8_t pages[4] = {0, 1, 2, 3};
    assert_int_equal(host_erase(sim, pages, 4), NO_REPLY); /* command 2, cut */
    assert_int_equal(blsim_flash(sim)[0], 0xFF);
    assert_int_equal(blsim_flash(sim)[1024], 0xFF);
    assert_int_equal(blsim_flash(sim)[2048], 0x00);
    blsim_free(sim);

    blsim_faults g = {.reset_in_command = 1};
    sim = host_target("f103md", &g, NULL);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(host_command(sim, AN3155_CMD_GET), NO_REPLY);
    assert_int_equal(blsim_get_stats(sim)->faults_resets, 1);
    blsim_free(sim);
}

/* The same seed gives the same run; another seed a different one. */
static void run_noisy_session(uint64_t seed, blsim_stats *out, uint8_t *flash_copy)
{
    blsim_faults f = {.seed = seed, .bit_flip_rate = 2e-3, .drop_rate = 2e-3, .insert_rate = 2e-3};
    blsim *sim = host_target("f103md", &f, NULL);
    uint8_t data[256];
    for (int round = 0; round < 40; round++) {
        if (host_sync(sim) == NO_REPLY) {
            host_reset(sim, true);
            continue;
        }
        fill_pattern(data, sizeof data, (unsigned)round);
        host_write(sim, FLASH + (uint32_t)round * 256u, data, 256);
    }
    *out = *blsim_get_stats(sim);
    memcpy(flash_copy, blsim_flash_const(sim), 16 * 1024);
    blsim_free(sim);
}

static void test_faults_are_reproducible(void **state)
{
    (void)state;
    static blsim_stats a, b, c;
    static uint8_t fa[16 * 1024], fb[16 * 1024], fc[16 * 1024];
    run_noisy_session(7, &a, fa);
    run_noisy_session(7, &b, fb);
    run_noisy_session(8, &c, fc);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_equal(fa, fb, sizeof fa);
    assert_true(a.faults_bit_flips + a.faults_drops + a.faults_inserts > 0);
    assert_true(memcmp(&a, &c, sizeof a) != 0);
}

/* ---- Robustness ---------------------------------------------------------- */

static void test_random_byte_streams_never_break_the_model(void **state)
{
    (void)state;
    /* Arbitrary bytes, pin toggles and reads on every device: the model must
     * stay within its buffers (ASan watches) and always answer in bounded
     * virtual time. */
    uint64_t x = 12345;
    for (size_t d = 0; blsim_device_at(d) != NULL; d++) {
        blsim_config cfg = {.device = blsim_device_at(d), .boot0 = true, .app_banner = "x"};
        blsim *sim = blsim_new(&cfg);
        blsim_idle(sim, 5000);
        host_sync(sim);
        for (int i = 0; i < 20000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint8_t b = (uint8_t)x;
            if ((x >> 40) % 997 == 0) {
                host_reset(sim, (x >> 20) & 1);
                host_sync(sim);
            }
            /* Bias towards valid opcode pairs so that deep paths are reached. */
            if ((x >> 32) % 4 == 0) {
                uint8_t pair[2] = {b, (uint8_t)~b};
                host_send(sim, pair, 2);
            } else {
                host_send(sim, &b, 1);
            }
            uint8_t sink[512];
            blsim_host_recv(sim, sink, sizeof sink, 0);
        }
        uint8_t sink[4096];
        uint64_t before = blsim_now_ns(sim);
        blsim_host_drain(sim, sink, sizeof sink);
        /* Nothing the model does takes longer than a mass erase and a reply. */
        assert_true(blsim_now_ns(sim) - before < 200000000ull);
        blsim_free(sim);
    }
}

static void test_stats_json(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK);
    char json[2048];
    int n = blsim_stats_json(sim, json, sizeof json);
    assert_true(n > 0 && (size_t)n < sizeof json);
    assert_non_null(strstr(json, "\"device\": \"f103md\""));
    assert_non_null(strstr(json, "\"pid\": \"0x410\""));
    assert_non_null(strstr(json, "\"0x02\": 1"));
    assert_non_null(strstr(json, "\"bytes_to_target\": 3"));
    assert_non_null(strstr(json, "\"virtual_seconds\": "));
    assert_int_equal(blsim_stats_json(sim, NULL, 0), n);
    blsim_free(sim);
}

/* Virtual time is charged to the command that was running: each opcode's
 * share runs from its first byte to the next command's, and every share with
 * the time before the first command adds up to the whole session. */
static void test_time_by_opcode_adds_up(void **state)
{
    (void)state;
    blsim *sim = synced("f103md");
    uint64_t t_get_id = blsim_now_ns(sim);
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK);
    uint8_t reply[3];
    assert_int_equal(host_recv(sim, reply, 3, 10), 3);
    assert_int_equal(host_reply(sim, 10), ACK);
    blsim_idle(sim, 1000);
    uint64_t t_erase = blsim_now_ns(sim);
    assert_int_equal(host_command(sim, AN3155_CMD_ERASE), ACK);
    const uint8_t global[2] = {0xFF, 0x00};
    host_send(sim, global, 2);
    assert_int_equal(host_reply(sim, 100), ACK);
    uint64_t t_get = blsim_now_ns(sim);
    assert_int_equal(host_command(sim, AN3155_CMD_GET), ACK);

    const blsim_stats *st = blsim_get_stats(sim);
    assert_int_equal(st->command_ns[AN3155_CMD_GET_ID], t_erase - t_get_id);
    /* The mass erase (20 ms typical) is the erase command's. */
    assert_int_equal(st->command_ns[AN3155_CMD_ERASE], t_get - t_erase);
    assert_true(st->command_ns[AN3155_CMD_ERASE] >= 20000000u);
    assert_int_equal(st->before_commands_ns, t_get_id);
    char json[4096];
    assert_true(blsim_stats_json(sim, json, sizeof json) < (int)sizeof json);
    assert_non_null(strstr(json, "\"seconds_by_opcode\": {\"0x00\": "));
    assert_non_null(strstr(json, "\"seconds_before_commands\": "));
    blsim_free(sim);
}

/* ---- Code started by Go in RAM: stm32isp's RAM CRC program ---------------- */

/* The real program's bytes run on the virtual MCU (docs/virtual-mcu.md);
 * its parameters are written here from the protocol description,
 * independently of the library's loader, so that the two are checked
 * against each other. */
#define RAM_PARAMS 0x20000800u /* f103md: free RAM from 0x20000200, 1.5 KiB stack */
#define RAM_USART1 0x40013800u

static uint32_t ieee_crc(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static void put_le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A parameter block: magic, nonce, USART, vector table, baud, pins, remap,
 * n, ranges, CRC. */
typedef struct ram_params {
    uint8_t bytes[STM32ISP_RAMCRC_PARAM_MAX_SIZE];
    size_t size;
} ram_params;

static void make_params(ram_params *p, const uint32_t *ranges, uint32_t n, uint32_t usart)
{
    const uint32_t head[8] = {STM32ISP_RAMCRC_PARAM_MAGIC,       0x1234u, usart, FLASH, 115200u,
                              STM32ISP_RAMCRC_PINS(0, 9, 0, 10), 0,       n};
    size_t at = 0;
    for (int i = 0; i < 8; i++, at += 4) {
        put_le(p->bytes + at, head[i]);
    }
    for (uint32_t i = 0; i < 2 * n; i++, at += 4) {
        put_le(p->bytes + at, ranges[i]);
    }
    put_le(p->bytes + at, ieee_crc(0, p->bytes, at));
    p->size = at + 4;
}

/* Writes the block at RAM_PARAMS and `code` (the program, or a changed
 * copy) after it, fills in its vector words, and starts it with Go.
 * Returns the Go's last reply. */
static int run_code(blsim *sim, const ram_params *p, const uint8_t *code_bytes, uint32_t size)
{
    uint32_t code = (RAM_PARAMS + (uint32_t)p->size + 7u) & ~7u;
    uint8_t image[2048];
    assert_true(size <= sizeof image);
    memcpy(image, code_bytes, size);
    put_le(image, RAM_PARAMS);
    put_le(image + 4, code + get_le(code_bytes + 4));
    for (size_t at = 0; at < p->size; at += 256) {
        size_t n = p->size - at < 256 ? p->size - at : 256;
        assert_int_equal(host_write(sim, RAM_PARAMS + (uint32_t)at, p->bytes + at, n), ACK);
    }
    for (uint32_t at = 0; at < size; at += 256) {
        size_t n = size - at < 256 ? size - at : 256;
        assert_int_equal(host_write(sim, code + at, image + at, n), ACK);
    }
    return host_go(sim, code);
}

static int run_ram_program(blsim *sim, const ram_params *p)
{
    const stm32isp_ramcrc_program *prog = &stm32isp_ramcrc_program_m3;
    return run_code(sim, p, prog->code, prog->size);
}

/* Reads a reply and checks its frame; returns its status. */
static int ram_reply(blsim *sim, uint8_t reply[STM32ISP_RAMCRC_REPLY_SIZE])
{
    if (host_recv(sim, reply, STM32ISP_RAMCRC_REPLY_SIZE, 1000) != STM32ISP_RAMCRC_REPLY_SIZE) {
        return NO_REPLY;
    }
    uint8_t x = 0;
    for (size_t i = 0; i < STM32ISP_RAMCRC_REPLY_SIZE; i++) {
        x ^= reply[i];
    }
    assert_int_equal(x, 0);
    assert_int_equal(reply[0], STM32ISP_RAMCRC_REPLY_START);
    return reply[1];
}

static void test_ram_program_crc_of_its_ranges_after_its_cpu_time(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, "app\n");
    fill_pattern(blsim_flash(sim), 64 * 1024, 3);
    put_vector_table(sim, 0);
    assert_int_equal(host_sync(sim), ACK);
    const uint32_t ranges[] = {FLASH, 0x2000, FLASH + 0x3001, 77, FLASH + 0xC000, 0x4000};
    ram_params p;
    make_params(&p, ranges, 3, RAM_USART1);
    assert_int_equal(run_ram_program(sim, &p), ACK);
    uint64_t started = blsim_now_ns(sim);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);

    uint8_t reply[STM32ISP_RAMCRC_REPLY_SIZE];
    assert_int_equal(ram_reply(sim, reply), STM32ISP_RAMCRC_STATUS_OK);
    const uint8_t *f = blsim_flash_const(sim);
    uint32_t crc = ieee_crc(0, f, 0x2000);
    crc = ieee_crc(crc, f + 0x3001, 77);
    crc = ieee_crc(crc, f + 0xC000, 0x4000);
    assert_int_equal(get_le(reply + 2), crc);
    assert_int_equal(get_le(reply + 6), 0x2000 + 77 + 0x4000);
    assert_int_equal(get_le(reply + 10), get_le(p.bytes + p.size - 4));
    assert_int_equal(blsim_get_stats(sim)->ram_programs, 1);
    /* The reply comes after the program's cycles at its 8 MHz and the
     * reply's wire time: at least the CRC loop's 7 instructions a byte,
     * at most the host's budget of STM32ISP_RAMCRC_CYCLES_PER_BYTE. */
    uint64_t bytes = p.size - 4 + 0x2000 + 77 + 0x4000;
    uint64_t fastest = bytes * 7u * 1000u / 8u;
    uint64_t slowest =
        (STM32ISP_RAMCRC_SETUP_CYCLES + bytes * STM32ISP_RAMCRC_CYCLES_PER_BYTE) * 1000u / 8u;
    uint64_t took = blsim_now_ns(sim) - started;
    uint64_t wire = (uint64_t)STM32ISP_RAMCRC_REPLY_SIZE * blsim_byte_time_ns(sim);
    print_message("CRC of %llu bytes: %llu us on the virtual clock, %llu core cycles\n",
                  (unsigned long long)bytes, (unsigned long long)(took - wire) / 1000u,
                  (unsigned long long)blsim_get_stats(sim)->mcu_cycles);
    assert_true(took >= fastest + wire - blsim_byte_time_ns(sim));
    assert_true(took <= slowest + wire);
    /* A flash byte in a range changes it; one outside does not. */
    blsim_flash(sim)[0x3001 + 40] ^= 0x04;
    blsim_flash(sim)[0x3100] ^= 0x04;
    host_reset(sim, true);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(ram_reply(sim, reply), STM32ISP_RAMCRC_STATUS_OK);
    assert_int_not_equal(get_le(reply + 2), crc);
    blsim_free(sim);
}

static void test_ram_program_commands(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, "app\n");
    fill_pattern(blsim_flash(sim), 4096, 5);
    put_vector_table(sim, 0);
    assert_int_equal(host_sync(sim), ACK);
    const uint32_t range[] = {FLASH, 4096};
    ram_params p;
    make_params(&p, range, 1, RAM_USART1);
    uint8_t first[STM32ISP_RAMCRC_REPLY_SIZE], again[STM32ISP_RAMCRC_REPLY_SIZE];
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(ram_reply(sim, first), STM32ISP_RAMCRC_STATUS_OK);

    /* Send the reply again; a pair that is no command, and a lone byte,
     * get nothing. */
    assert_int_equal(host_command(sim, STM32ISP_RAMCRC_CMD_RESEND), STM32ISP_RAMCRC_REPLY_START);
    again[0] = STM32ISP_RAMCRC_REPLY_START;
    assert_int_equal(host_recv(sim, again + 1, STM32ISP_RAMCRC_REPLY_SIZE - 1, 100),
                     STM32ISP_RAMCRC_REPLY_SIZE - 1);
    assert_memory_equal(first, again, sizeof first);
    assert_int_equal(host_command(sim, 0x12), NO_REPLY);
    host_send_byte(sim, STM32ISP_RAMCRC_CMD_START);
    assert_int_equal(host_reply(sim, 50), NO_REPLY);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);

    /* Start: the answer, then the application at the vector table, with
     * VTOR and its stack pointer set. */
    assert_int_equal(host_command(sim, STM32ISP_RAMCRC_CMD_START), STM32ISP_RAMCRC_ACK);
    char banner[5] = {0};
    assert_int_equal(host_recv(sim, (uint8_t *)banner, 4, 100), 4);
    assert_string_equal(banner, "app\n");
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_APP);
    const blsim_app_entry *entry = blsim_get_app_entry(sim);
    assert_true(entry->from_ram_program);
    assert_int_equal(entry->pc, 0x08000108u); /* the vector's 0x08000109, Thumb bit off */
    assert_int_equal(entry->sp, 0x20005000u);
    assert_int_equal(entry->vtor, FLASH);

    /* 0x7F resets at once, unanswered: a host's sync finds the bootloader
     * with its second 0x7F. */
    host_reset(sim, true);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(ram_reply(sim, first), STM32ISP_RAMCRC_STATUS_OK);
    uint64_t resets = blsim_get_stats(sim)->resets;
    assert_int_equal(host_sync(sim), NO_REPLY);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(blsim_get_stats(sim)->resets, resets + 1);

    /* With no valid command for STM32ISP_RAMCRC_IDLE_RESET_MS after it last
     * sent something, it resets the chip: bytes that are no command do not
     * keep it alive, a command does. Counted at the clock it runs. */
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(ram_reply(sim, first), STM32ISP_RAMCRC_STATUS_OK);
    blsim_idle(sim, (STM32ISP_RAMCRC_IDLE_RESET_MS - 500u) * 1000u);
    host_send_byte(sim, 0x12); /* noise */
    blsim_idle(sim, 400000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    assert_int_equal(host_command(sim, STM32ISP_RAMCRC_CMD_RESEND), STM32ISP_RAMCRC_REPLY_START);
    assert_int_equal(host_recv(sim, again + 1, STM32ISP_RAMCRC_REPLY_SIZE - 1, 100),
                     STM32ISP_RAMCRC_REPLY_SIZE - 1);
    blsim_idle(sim, (STM32ISP_RAMCRC_IDLE_RESET_MS - 100u) * 1000u);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    blsim_idle(sim, 200000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(host_sync(sim), ACK);

    /* With BOOT0 low, that reset runs the application. */
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(ram_reply(sim, first), STM32ISP_RAMCRC_STATUS_OK);
    blsim_set_boot0(sim, false);
    host_send_byte(sim, STM32ISP_RAMCRC_SYNC_RESET);
    assert_int_equal(host_recv(sim, (uint8_t *)banner, 4, 100), 4);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_APP);
    assert_true(blsim_get_stats(sim)->turnarounds > 20);
    blsim_free(sim);
}

static void test_ram_program_bad_parameters(void **state)
{
    (void)state;
    blsim *sim = host_target("f103md", NULL, "app\n");
    put_vector_table(sim, 0);
    const uint32_t range[] = {FLASH, 1024};
    uint8_t reply[STM32ISP_RAMCRC_REPLY_SIZE];
    ram_params p;
    static const struct {
        int change; /* 0 magic, 1 check, 2 no range, 3 wrapping range */
        int status;
    } cases[] = {{0, STM32ISP_RAMCRC_STATUS_BAD_MAGIC},
                 {1, STM32ISP_RAMCRC_STATUS_BAD_CHECK},
                 {2, STM32ISP_RAMCRC_STATUS_BAD_RANGES},
                 {3, STM32ISP_RAMCRC_STATUS_BAD_RANGES}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        host_reset(sim, true);
        assert_int_equal(host_sync(sim), ACK);
        make_params(&p, range, 1, RAM_USART1);
        if (cases[i].change == 0) {
            p.bytes[0] ^= 1;
        } else if (cases[i].change == 1) {
            p.bytes[36] ^= 1; /* a range's length, under the block's CRC */
        } else if (cases[i].change == 2) {
            make_params(&p, range, 0, RAM_USART1);
        } else {
            const uint32_t wraps[] = {0xFFFFFF00u, 0x200};
            make_params(&p, wraps, 1, RAM_USART1);
        }
        assert_int_equal(run_ram_program(sim, &p), ACK);
        assert_int_equal(ram_reply(sim, reply), cases[i].status);
        assert_int_equal(get_le(reply + 2), 0);
        assert_int_equal(get_le(reply + 6), 0);
        /* It will not start an application on parameters it refused. */
        assert_int_equal(host_command(sim, STM32ISP_RAMCRC_CMD_START), NO_REPLY);
        assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    }
    /* A range nothing answers at: a bus fault, and with VTOR still on the
     * ROM's table the F103 ROM's HardFault handler resets the chip. */
    host_reset(sim, true);
    assert_int_equal(host_sync(sim), ACK);
    const uint32_t unmapped[] = {0x30000000u, 16};
    make_params(&p, unmapped, 1, RAM_USART1);
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(host_reply(sim, 100), NO_REPLY);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_non_null(strstr(blsim_fault_reason(sim), "bus fault"));
    assert_int_equal(host_sync(sim), ACK);
    /* Another USART: the program runs, but this line hears nothing. */
    make_params(&p, range, 1, 0x40004400u);
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(host_reply(sim, 100), NO_REPLY);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    /* The model runs the bytes it was given, not a program it recognises:
     * a changed polynomial gives another CRC. */
    host_reset(sim, true);
    assert_int_equal(host_sync(sim), ACK);
    make_params(&p, range, 1, RAM_USART1);
    assert_int_equal(run_ram_program(sim, &p), ACK);
    assert_int_equal(ram_reply(sim, reply), STM32ISP_RAMCRC_STATUS_OK);
    uint32_t right = get_le(reply + 2);
    const stm32isp_ramcrc_program *prog = &stm32isp_ramcrc_program_m3;
    uint8_t changed[2048];
    memcpy(changed, prog->code, prog->size);
    size_t poly = 0;
    for (size_t at = STM32ISP_RAMCRC_HEADER_SIZE; at + 4 <= prog->size; at += 2) {
        if (get_le(changed + at) == 0xEDB88320u) {
            poly = at;
        }
    }
    assert_true(poly != 0);
    changed[poly] ^= 0x10;
    host_reset(sim, true);
    assert_int_equal(host_sync(sim), ACK);
    assert_int_equal(run_code(sim, &p, changed, prog->size), ACK);
    int status = ram_reply(sim, reply);
    /* Its own parameter check fails with the other table, or its CRC
     * differs: never the right answer. */
    assert_true(status == STM32ISP_RAMCRC_STATUS_BAD_CHECK ||
                (status == STM32ISP_RAMCRC_STATUS_OK && get_le(reply + 2) != right));
    blsim_free(sim);
}

/* Round trips: one each time the target answers what the host sent. */
static void test_turnarounds_count_round_trips(void **state)
{
    (void)state;
    blsim *sim = synced("f103md"); /* 1: the sync's ACK */
    assert_int_equal(host_command(sim, AN3155_CMD_GET_ID), ACK);
    uint8_t rest[4];
    assert_int_equal(host_recv(sim, rest, 4, 100), 4); /* 2: ACK, N, PID, ACK */
    uint8_t data[16];
    assert_int_equal(host_read(sim, FLASH, data, 16), ACK); /* 3, 4, 5 */
    assert_int_equal(blsim_get_stats(sim)->turnarounds, 5);
    char json[4096];
    assert_true(blsim_stats_json(sim, json, sizeof json) < (int)sizeof json);
    assert_non_null(strstr(json, "\"turnarounds\": 5"));
    assert_non_null(strstr(json, "\"ram_programs\": 0"));
    blsim_free(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devices_and_config),
        cmocka_unit_test(test_sync_acks_and_enters_command_mode),
        cmocka_unit_test(test_set_host_baud_changes_the_byte_time),
        cmocka_unit_test(test_wrong_first_byte_leaves_target_deaf_until_reset),
        cmocka_unit_test(test_bytes_during_boot_are_lost),
        cmocka_unit_test(test_spare_sync_after_sync_gets_nack),
        cmocka_unit_test(test_bad_complement_and_unknown_opcodes_get_nack),
        cmocka_unit_test(test_get_replies_byte_for_byte),
        cmocka_unit_test(test_get_version_and_id),
        cmocka_unit_test(test_read_memory_regions),
        cmocka_unit_test(test_read_memory_nack_paths),
        cmocka_unit_test(test_f1_acks_a_bad_address_and_takes_what_follows_for_commands),
        cmocka_unit_test(test_other_families_nack_a_bad_address_and_the_quirk_can_be_switched),
        cmocka_unit_test(test_write_flash_and_read_back),
        cmocka_unit_test(test_write_flash_nack_paths),
        cmocka_unit_test(test_write_over_programmed_flash_fails),
        cmocka_unit_test(test_write_ram),
        cmocka_unit_test(test_write_option_bytes_resets),
        cmocka_unit_test(test_erase_pages),
        cmocka_unit_test(test_erase_global_and_nack_paths),
        cmocka_unit_test(test_extended_erase),
        cmocka_unit_test(test_go_starts_application_with_banner),
        cmocka_unit_test(test_go_nack_paths_and_blank_flash),
        cmocka_unit_test(test_go_to_ram),
        cmocka_unit_test(test_boot0_low_runs_the_application),
        cmocka_unit_test(test_nrst_low_holds_the_chip),
        cmocka_unit_test(test_blank_flash_with_boot0_low_is_silent),
        cmocka_unit_test(test_write_protect_and_unprotect),
        cmocka_unit_test(test_readout_protection_cycle),
        cmocka_unit_test(test_start_protected),
        cmocka_unit_test(test_erase_time_typical_and_maximum),
        cmocka_unit_test(test_bytes_sent_while_busy_overrun),
        cmocka_unit_test(test_fault_spec_parsing),
        cmocka_unit_test(test_fault_nack_at_chosen_ack),
        cmocka_unit_test(test_fault_drop_and_flip_and_insert),
        cmocka_unit_test(test_fault_reset_after_byte),
        cmocka_unit_test(test_fault_reset_in_write_leaves_half_programmed),
        cmocka_unit_test(test_fault_reset_in_erase_and_in_plain_command),
        cmocka_unit_test(test_faults_are_reproducible),
        cmocka_unit_test(test_random_byte_streams_never_break_the_model),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_time_by_opcode_adds_up),
        cmocka_unit_test(test_ram_program_crc_of_its_ranges_after_its_cpu_time),
        cmocka_unit_test(test_ram_program_commands),
        cmocka_unit_test(test_ram_program_bad_parameters),
        cmocka_unit_test(test_turnarounds_count_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

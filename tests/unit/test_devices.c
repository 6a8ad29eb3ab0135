/*
 * The device database: every entry is self-consistent, the parts the
 * simulator models agree with it, and erase units are found right on
 * uniform pages and on the variable sectors of F2/F4/F7. The option bytes
 * of F0/F1/F3 decode and encode with their complements, WRP bits map onto
 * the pages the reference manuals give, and every other family answers
 * "not in the database".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "stm32isp/devices.h"
#include "blsim/blsim.h"

#include <string.h>

static void test_every_entry_is_consistent(void **state)
{
    (void)state;
    size_t count = 0;
    for (const stm32isp_device *d; (d = stm32isp_device_at(count)) != NULL; count++) {
        uint64_t total = 0;
        const stm32isp_erase_run *runs = NULL;
        size_t run_count = stm32isp_device_layout(d, &runs);
        assert_true(run_count > 0);
        assert_non_null(runs);
        for (size_t r = 0; r < run_count; r++) {
            assert_true(runs[r].count > 0);
            assert_true(runs[r].size >= 128);
            assert_int_equal(runs[r].size & (runs[r].size - 1), 0);
            total += (uint64_t)runs[r].count * runs[r].size;
        }
        if (total != stm32isp_device_flash_size_max(d)) {
            fail_msg("PID 0x%03x: layout adds up to %llu, not %u", d->pid,
                     (unsigned long long)total, stm32isp_device_flash_size_max(d));
        }
        assert_int_equal(stm32isp_device_flash_base(d), 0x08000000u);
        assert_true(d->ram_start <= d->ram_end);
        assert_true(d->ram_start >= 0x20000000u);
        assert_true(stm32isp_device_sysmem_start(d) < stm32isp_device_sysmem_end(d));
        assert_true(stm32isp_device_option_start(d) <= stm32isp_device_option_end(d));
        uint32_t align = stm32isp_device_write_align(d);
        assert_true(align >= 1 && align <= 32);
        assert_int_equal(align & (align - 1), 0);
        assert_true(stm32isp_device_erase_unit_ms_max(d) > 0);
        assert_true(stm32isp_device_mass_erase_ms_max(d) > 0);
        assert_true(stm32isp_device_write256_ms_max(d) > 0);
        assert_non_null(d->name);
        assert_true(strlen(stm32isp_device_family(d)) == 2);
        assert_ptr_equal(stm32isp_device_by_pid(d->pid), d); /* PIDs are unique */
        /* The family's name starts the part's: "STM32F10x ..." is an F1. */
        assert_true(strncmp(d->name, "STM32", 5) == 0);
        assert_true(d->name[5] == stm32isp_device_family(d)[0]);
    }
    assert_true(count >= 60);
}

static void test_every_usart_family_is_present(void **state)
{
    (void)state;
    static const char *const families[] = {"F0", "F1", "F2", "F3", "F4", "F7", "G0", "G4", "H7",
                                           "L0", "L1", "L4", "L5", "U5", "WB", "WL", "C0"};
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        bool found = false;
        for (size_t i = 0; stm32isp_device_at(i) != NULL; i++) {
            found =
                found || strcmp(stm32isp_device_family(stm32isp_device_at(i)), families[f]) == 0;
        }
        if (!found) {
            fail_msg("no %s part in the database", families[f]);
        }
    }
}

static void test_simulated_parts_match_the_simulator(void **state)
{
    (void)state;
    const stm32isp_erase_run *runs;
    const stm32isp_device *md = stm32isp_device_by_pid(0x410);
    assert_non_null(md);
    assert_int_equal(stm32isp_device_flash_size_max(md), 128 * 1024);
    assert_int_equal(stm32isp_device_layout(md, &runs), 1);
    assert_int_equal(runs[0].size, 1024);
    assert_int_equal(md->ram_start, 0x20000200);
    assert_int_equal(md->ram_end, 0x20005000);
    assert_int_equal(stm32isp_device_flash_size_reg(md), 0x1FFFF7E0);
    assert_int_equal(stm32isp_device_uid_reg(md), 0x1FFFF7E8);
    assert_int_equal(stm32isp_device_option_start(md), 0x1FFFF800);
    assert_int_equal(stm32isp_device_option_end(md), 0x1FFFF810);
    assert_int_equal(stm32isp_device_sysmem_start(md), 0x1FFFF000);
    assert_int_equal(stm32isp_device_sysmem_end(md), 0x1FFFF800);
    const stm32isp_device *hd = stm32isp_device_by_pid(0x414);
    assert_non_null(hd);
    assert_int_equal(stm32isp_device_flash_size_max(hd), 512 * 1024);
    assert_int_equal(stm32isp_device_layout(hd, &runs), 1);
    assert_int_equal(runs[0].size, 2048);
    const stm32isp_device *f072 = stm32isp_device_by_pid(0x448);
    assert_non_null(f072);
    assert_int_equal(f072->ram_start, 0x20001800);
    assert_int_equal(stm32isp_device_sysmem_start(f072), 0x1FFFC800);
    assert_int_equal(stm32isp_device_flash_size_reg(f072), 0x1FFFF7CC);
    assert_int_equal(stm32isp_device_uid_reg(f072), 0x1FFFF7AC);
}

/* The compact table against values written out in full, from every corner
 * of it: a family variant, a shared layout, odd system memory ends. */
static void test_compact_table_keeps_every_value(void **state)
{
    (void)state;
    static const struct {
        uint16_t pid;
        const char *family;
        uint32_t flash, ram_start, ram_end, sysmem_start, sysmem_end, option_start, option_end;
        uint32_t size_reg, uid_reg, align, erase_ms, mass_ms, write_ms;
        size_t runs;
        uint32_t last_run_size;
        bool dual;
    } want[] = {
        {0x440, "F0", 64 * 1024, 0x20000800, 0x20002000, 0x1FFFEC00, 0x1FFFF800, 0x1FFFF800,
         0x1FFFF810, 0x1FFFF7CC, 0x1FFFF7AC, 4, 40, 40, 10, 1, 1024, false},
        {0x430, "F1", 1024 * 1024, 0x20000800, 0x20018000, 0x1FFFE000, 0x1FFFF800, 0x1FFFF800,
         0x1FFFF810, 0x1FFFF7E0, 0x1FFFF7E8, 4, 40, 40, 10, 1, 2048, true},
        {0x419, "F4", 2048 * 1024, 0x20003000, 0x20030000, 0x1FFF0000, 0x1FFF7800, 0x1FFFC000,
         0x1FFFC010, 0x1FFF7A22, 0x1FFF7A10, 4, 4000, 64000, 10, 6, 128 * 1024, true},
        {0x449, "F7", 1024 * 1024, 0x20004000, 0x20050000, 0x1FF00000, 0x1FF0EDC0, 0x1FFF0000,
         0x1FFF0020, 0x1FF0F442, 0x1FF0F420, 4, 5000, 32000, 10, 3, 256 * 1024, false},
        {0x452, "F7", 512 * 1024, 0x20004000, 0x20040000, 0x1FF00000, 0x1FF0EDC0, 0x1FFF0000,
         0x1FFF0020, 0x1FF07A22, 0x1FF07A10, 4, 4000, 32000, 10, 3, 128 * 1024, false},
        {0x480, "H7", 2048 * 1024, 0x24004000, 0x24100000, 0x1FF00000, 0x1FF14000, 0, 0, 0x08FFF80C,
         0x08FFF800, 16, 100, 32000, 10, 1, 8 * 1024, true},
        {0x436, "L1", 384 * 1024, 0x20001000, 0x20014000, 0x1FF00000, 0x1FF02000, 0x1FF80000,
         0x1FF80020, 0x1FF800CC, 0x1FF800D0, 4, 4, 10000, 260, 1, 256, true},
        {0x482, "U5", 2048 * 1024, 0x20004000, 0x200C0000, 0x0BF90000, 0x0BFA0000, 0, 0, 0x0BFA07A0,
         0x0BFA0700, 16, 25, 25, 5, 1, 8 * 1024, true},
        {0x443, "C0", 32 * 1024, 0x20001000, 0x20003000, 0x1FFF0000, 0x1FFF1800, 0x1FFF7800,
         0x1FFF7880, 0x1FFF75A0, 0x1FFF7550, 8, 40, 40, 5, 1, 2048, false},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const stm32isp_device *d = stm32isp_device_by_pid(want[i].pid);
        assert_non_null(d);
        assert_string_equal(stm32isp_device_family(d), want[i].family);
        assert_int_equal(stm32isp_device_flash_size_max(d), want[i].flash);
        assert_int_equal(d->ram_start, want[i].ram_start);
        assert_int_equal(d->ram_end, want[i].ram_end);
        assert_int_equal(stm32isp_device_sysmem_start(d), want[i].sysmem_start);
        assert_int_equal(stm32isp_device_sysmem_end(d), want[i].sysmem_end);
        assert_int_equal(stm32isp_device_option_start(d), want[i].option_start);
        assert_int_equal(stm32isp_device_option_end(d), want[i].option_end);
        assert_int_equal(stm32isp_device_flash_size_reg(d), want[i].size_reg);
        assert_int_equal(stm32isp_device_uid_reg(d), want[i].uid_reg);
        assert_int_equal(stm32isp_device_write_align(d), want[i].align);
        assert_int_equal(stm32isp_device_erase_unit_ms_max(d), want[i].erase_ms);
        assert_int_equal(stm32isp_device_mass_erase_ms_max(d), want[i].mass_ms);
        assert_int_equal(stm32isp_device_write256_ms_max(d), want[i].write_ms);
        const stm32isp_erase_run *runs;
        size_t n = stm32isp_device_layout(d, &runs);
        assert_int_equal(n, want[i].runs);
        assert_int_equal(runs[n - 1].size, want[i].last_run_size);
        assert_int_equal((d->flags & STM32ISP_DEV_DUAL_BANK) != 0, want[i].dual);
    }
    /* A copy, adjusted, is read the same way (tests shrink a part's RAM). */
    stm32isp_device copy = *stm32isp_device_by_pid(0x410);
    copy.ram_end = copy.ram_start + 1000;
    assert_int_equal(copy.ram_end, 0x20000200 + 1000);
    assert_int_equal(stm32isp_device_uid_reg(&copy), 0x1FFFF7E8);
    assert_string_equal(stm32isp_device_family(&copy), "F1");
}

static void test_unknown_pid_is_null(void **state)
{
    (void)state;
    assert_null(stm32isp_device_by_pid(0x000));
    assert_null(stm32isp_device_by_pid(0x7AB));
    assert_null(stm32isp_device_by_pid(0xFFFF));
}

static void test_units_on_uniform_pages(void **state)
{
    (void)state;
    const stm32isp_device *md = stm32isp_device_by_pid(0x410);
    uint32_t index, start, size;
    assert_true(stm32isp_device_unit_at(md, 64 * 1024, 0x08000000, &index, &start, &size));
    assert_int_equal(index, 0);
    assert_int_equal(size, 1024);
    assert_true(stm32isp_device_unit_at(md, 64 * 1024, 0x080047FF, &index, &start, &size));
    assert_int_equal(index, 17);
    assert_int_equal(start, 0x08004400);
    assert_true(stm32isp_device_unit_at(md, 64 * 1024, 0x0800FFFF, &index, &start, &size));
    assert_int_equal(index, 63);
    /* Past a 64 KiB part's end, and below flash. */
    assert_false(stm32isp_device_unit_at(md, 64 * 1024, 0x08010000, &index, &start, &size));
    assert_false(stm32isp_device_unit_at(md, 64 * 1024, 0x07FFFFFF, &index, &start, &size));
    assert_true(stm32isp_device_unit_at(md, 128 * 1024, 0x08010000, &index, &start, &size));
    assert_int_equal(index, 64);
    assert_int_equal(stm32isp_device_unit_count(md, 64 * 1024), 64);
    assert_int_equal(stm32isp_device_unit_count(md, 128 * 1024), 128);
    assert_int_equal(stm32isp_device_unit_count(md, 0), 0);
}

static void test_units_on_variable_sectors(void **state)
{
    (void)state;
    const stm32isp_device *f4 = stm32isp_device_by_pid(0x413); /* 4x16K, 64K, 7x128K */
    assert_non_null(f4);
    uint32_t index, start, size;
    assert_true(stm32isp_device_unit_at(f4, 1024 * 1024, 0x08003FFF, &index, &start, &size));
    assert_int_equal(index, 0);
    assert_int_equal(size, 16 * 1024);
    assert_true(stm32isp_device_unit_at(f4, 1024 * 1024, 0x0800C000, &index, &start, &size));
    assert_int_equal(index, 3);
    assert_true(stm32isp_device_unit_at(f4, 1024 * 1024, 0x08010000, &index, &start, &size));
    assert_int_equal(index, 4);
    assert_int_equal(size, 64 * 1024);
    assert_true(stm32isp_device_unit_at(f4, 1024 * 1024, 0x08020000, &index, &start, &size));
    assert_int_equal(index, 5);
    assert_int_equal(start, 0x08020000);
    assert_int_equal(size, 128 * 1024);
    assert_true(stm32isp_device_unit_at(f4, 1024 * 1024, 0x080FFFFF, &index, &start, &size));
    assert_int_equal(index, 11);
    assert_int_equal(start, 0x080E0000);
    /* A 512 KiB part with the same PID has sectors 0..7. */
    assert_int_equal(stm32isp_device_unit_count(f4, 512 * 1024), 8);
    assert_false(stm32isp_device_unit_at(f4, 512 * 1024, 0x08080000, &index, &start, &size));

    /* Dual-bank F42x: bank 2 continues the numbering at 12. */
    const stm32isp_device *f42 = stm32isp_device_by_pid(0x419);
    assert_non_null(f42);
    assert_true((f42->flags & STM32ISP_DEV_DUAL_BANK) != 0);
    assert_true(stm32isp_device_unit_at(f42, 2048 * 1024, 0x08100000, &index, &start, &size));
    assert_int_equal(index, 12);
    assert_int_equal(size, 16 * 1024);

    /* F7: 32 KiB sectors first. */
    const stm32isp_device *f7 = stm32isp_device_by_pid(0x449);
    assert_non_null(f7);
    assert_true(stm32isp_device_unit_at(f7, 1024 * 1024, 0x08020000, &index, &start, &size));
    assert_int_equal(index, 4);
    assert_int_equal(size, 128 * 1024);
}

static bool has_classic_option_bytes(const stm32isp_device *d)
{
    const char *family = stm32isp_device_family(d);
    return strcmp(family, "F0") == 0 || strcmp(family, "F1") == 0 || strcmp(family, "F3") == 0;
}

/* F0, F1 and F3 share the 16 bytes at 0x1FFFF800; every other family is
 * "not in the database" through every function, and touches nothing. */
static void test_option_layout_known_only_for_f0_f1_f3(void **state)
{
    (void)state;
    size_t known = 0, unknown = 0;
    for (size_t i = 0; stm32isp_device_at(i) != NULL; i++) {
        const stm32isp_device *d = stm32isp_device_at(i);
        bool classic = has_classic_option_bytes(d);
        if (stm32isp_device_option_layout_known(d) != classic) {
            fail_msg("PID 0x%03x (%s): layout known is %d", d->pid, stm32isp_device_family(d),
                     stm32isp_device_option_layout_known(d));
        }
        uint8_t raw[STM32ISP_OPTION_BYTES_RAW_SIZE];
        memset(raw, 0x5C, sizeof raw);
        stm32isp_option_bytes ob;
        memset(&ob, 0x3E, sizeof ob);
        uint8_t mismatched = 0x77, rdp = 0x11;
        stm32isp_wrp_layout wrp = {7, 7, true};
        uint32_t first = 99, count = 99;
        if (classic) {
            known++;
            assert_int_equal(stm32isp_device_option_start(d), 0x1FFFF800u);
            assert_int_equal(stm32isp_device_option_end(d) - stm32isp_device_option_start(d),
                             STM32ISP_OPTION_BYTES_RAW_SIZE);
            assert_true(stm32isp_device_rdp_level0(d, &rdp));
            assert_true(stm32isp_option_bytes_encode(d, &ob, raw));
            continue;
        }
        unknown++;
        assert_int_equal(stm32isp_option_bytes_decode(d, raw, &ob, &mismatched),
                         STM32ISP_OPTION_BYTES_LAYOUT_NOT_KNOWN);
        assert_int_equal(ob.rdp, 0x3E);
        assert_int_equal(ob.wrp[3], 0x3E);
        assert_int_equal(mismatched, 0x77);
        assert_false(stm32isp_option_bytes_encode(d, &ob, raw));
        assert_int_equal(raw[0], 0x5C);
        assert_int_equal(raw[15], 0x5C);
        assert_false(stm32isp_device_rdp_level0(d, &rdp));
        assert_false(stm32isp_device_rdp_level2(d, &rdp));
        assert_int_equal(rdp, 0x11);
        assert_false(stm32isp_device_wrp_layout(d, &wrp));
        assert_int_equal(wrp.units_per_bit, 7);
        assert_false(
            stm32isp_device_wrp_bit_units(d, stm32isp_device_flash_size_max(d), 0, &first, &count));
        assert_int_equal(first, 99);
        assert_int_equal(count, 99);
    }
    assert_int_equal(known, 17); /* 5 F0 + 7 F1 + 5 F3 PIDs */
    assert_true(unknown > 40);
}

/* The raw order is RDP, nRDP, USER, nUSER, Data0, nData0, Data1, nData1,
 * WRP0, nWRP0 ... WRP3, nWRP3; encode and decode invert each other. */
static void test_option_bytes_round_trip(void **state)
{
    (void)state;
    const stm32isp_device *md = stm32isp_device_by_pid(0x410);
    assert_non_null(md);
    const stm32isp_option_bytes ob = {
        .rdp = 0xA5, .user = 0xFE, .data0 = 0x12, .data1 = 0x34, .wrp = {0xF0, 0xFF, 0x7F, 0x00}};
    uint8_t raw[STM32ISP_OPTION_BYTES_RAW_SIZE];
    assert_true(stm32isp_option_bytes_encode(md, &ob, raw));
    static const uint8_t want[STM32ISP_OPTION_BYTES_RAW_SIZE] = {0xA5, 0x5A, 0xFE, 0x01, 0x12, 0xED,
                                                                 0x34, 0xCB, 0xF0, 0x0F, 0xFF, 0x00,
                                                                 0x7F, 0x80, 0x00, 0xFF};
    assert_memory_equal(raw, want, sizeof want);

    stm32isp_option_bytes back;
    memset(&back, 0, sizeof back);
    uint8_t mismatched = 0xFF;
    assert_int_equal(stm32isp_option_bytes_decode(md, raw, &back, &mismatched),
                     STM32ISP_OPTION_BYTES_VALID);
    assert_int_equal(mismatched, 0);
    assert_memory_equal(&back, &ob, sizeof ob);

    /* And from the raw side, on an F0: decode then encode gives the bytes back. */
    const stm32isp_device *f072 = stm32isp_device_by_pid(0x448);
    assert_non_null(f072);
    static const uint8_t read_back[STM32ISP_OPTION_BYTES_RAW_SIZE] = {
        0xAA, 0x55, 0x7F, 0x80, 0xFF, 0x00, 0xFF, 0x00,
        0xFC, 0x03, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00};
    assert_int_equal(stm32isp_option_bytes_decode(f072, read_back, &back, NULL),
                     STM32ISP_OPTION_BYTES_VALID);
    assert_int_equal(back.rdp, 0xAA);
    assert_int_equal(back.user, 0x7F);
    assert_int_equal(back.wrp[0], 0xFC);
    assert_true(stm32isp_option_bytes_encode(f072, &back, raw));
    assert_memory_equal(raw, read_back, sizeof read_back);
}

/* A byte whose complement disagrees is reported, and is 0xFF in the
 * result as the option byte loader makes it; erased pairs are valid. */
static void test_complement_mismatch_detected(void **state)
{
    (void)state;
    const stm32isp_device *md = stm32isp_device_by_pid(0x410);
    const stm32isp_option_bytes ob = {
        .rdp = 0xA5, .user = 0xFF, .data0 = 0x00, .data1 = 0xFF, .wrp = {0xFF, 0x0F, 0xFF, 0xFF}};
    uint8_t raw[STM32ISP_OPTION_BYTES_RAW_SIZE];
    assert_true(stm32isp_option_bytes_encode(md, &ob, raw));

    raw[11] ^= 0x01; /* nWRP1 */
    stm32isp_option_bytes got;
    uint8_t mismatched = 0;
    assert_int_equal(stm32isp_option_bytes_decode(md, raw, &got, &mismatched),
                     STM32ISP_OPTION_BYTES_COMPLEMENT_MISMATCH);
    assert_int_equal(mismatched, 1u << 5); /* WRP1 is option byte 5 */
    assert_int_equal(got.wrp[1], 0xFF);    /* loaded as 0xFF: pages 32..63 not protected */
    assert_int_equal(got.rdp, 0xA5);
    assert_int_equal(got.data0, 0x00);

    raw[1] = 0x00; /* nRDP no longer 0x5A: the chip loads RDP 0xFF, protection on */
    assert_int_equal(stm32isp_option_bytes_decode(md, raw, &got, &mismatched),
                     STM32ISP_OPTION_BYTES_COMPLEMENT_MISMATCH);
    assert_int_equal(mismatched, (1u << 5) | 1u);
    assert_int_equal(got.rdp, 0xFF);

    /* A byte equal to its complement is a mismatch too (0x00/0x00: half-programmed). */
    assert_true(stm32isp_option_bytes_encode(md, &ob, raw));
    raw[6] = 0x00;
    raw[7] = 0x00;
    assert_int_equal(stm32isp_option_bytes_decode(md, raw, &got, &mismatched),
                     STM32ISP_OPTION_BYTES_COMPLEMENT_MISMATCH);
    assert_int_equal(mismatched, 1u << 3);

    /* The erased area: no error, every byte 0xFF, so RDP is not level 0. */
    memset(raw, 0xFF, sizeof raw);
    assert_int_equal(stm32isp_option_bytes_decode(md, raw, &got, &mismatched),
                     STM32ISP_OPTION_BYTES_VALID);
    assert_int_equal(mismatched, 0);
    assert_int_equal(got.rdp, 0xFF);
    assert_int_equal(got.wrp[2], 0xFF);
}

static void test_rdp_values_per_family(void **state)
{
    (void)state;
    static const struct {
        uint16_t pid;
        uint8_t level0;
        bool has_level2;
    } want[] = {
        {0x410, 0xA5, false}, {0x414, 0xA5, false}, {0x430, 0xA5, false}, {0x448, 0xAA, true},
        {0x440, 0xAA, true},  {0x422, 0xAA, true},  {0x446, 0xAA, true},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const stm32isp_device *d = stm32isp_device_by_pid(want[i].pid);
        assert_non_null(d);
        uint8_t value = 0;
        assert_true(stm32isp_device_rdp_level0(d, &value));
        assert_int_equal(value, want[i].level0);
        value = 0;
        assert_int_equal(stm32isp_device_rdp_level2(d, &value), want[i].has_level2);
        assert_int_equal(value, want[i].has_level2 ? 0xCC : 0);
    }
}

/* Medium density: one bit per 4 pages of 1 KiB, 32 bits for 128 KiB; a
 * 64 KiB part has nothing behind bits 16..31. */
static void test_wrp_bits_on_medium_density(void **state)
{
    (void)state;
    const stm32isp_device *md = stm32isp_device_by_pid(0x410);
    stm32isp_wrp_layout layout;
    assert_true(stm32isp_device_wrp_layout(md, &layout));
    assert_int_equal(layout.units_per_bit, 4);
    assert_int_equal(layout.bits, 32);
    assert_false(layout.last_bit_covers_rest);

    uint32_t first = 0, count = 0;
    assert_true(stm32isp_device_wrp_bit_units(md, 64 * 1024, 0, &first, &count));
    assert_int_equal(first, 0);
    assert_int_equal(count, 4);
    assert_true(stm32isp_device_wrp_bit_units(md, 64 * 1024, 15, &first, &count));
    assert_int_equal(first, 60);
    assert_int_equal(count, 4);
    assert_true(stm32isp_device_wrp_bit_units(md, 64 * 1024, 16, &first, &count));
    assert_int_equal(count, 0);
    assert_true(stm32isp_device_wrp_bit_units(md, 64 * 1024, 31, &first, &count));
    assert_int_equal(count, 0);

    assert_true(stm32isp_device_wrp_bit_units(md, 128 * 1024, 16, &first, &count));
    assert_int_equal(first, 64);
    assert_int_equal(count, 4);
    assert_true(stm32isp_device_wrp_bit_units(md, 128 * 1024, 31, &first, &count));
    assert_int_equal(first, 124);
    assert_int_equal(count, 4);
    first = count = 7;
    assert_false(stm32isp_device_wrp_bit_units(md, 128 * 1024, 32, &first, &count));
    assert_int_equal(first, 7);
    assert_int_equal(count, 7);
}

/* High density and XL: bits 0..30 protect 2 pages of 2 KiB, bit 31 from
 * page 62 to the end of whatever flash the part has. */
static void test_wrp_last_bit_covers_rest(void **state)
{
    (void)state;
    const stm32isp_device *hd = stm32isp_device_by_pid(0x414);
    stm32isp_wrp_layout layout;
    assert_true(stm32isp_device_wrp_layout(hd, &layout));
    assert_int_equal(layout.units_per_bit, 2);
    assert_int_equal(layout.bits, 32);
    assert_true(layout.last_bit_covers_rest);

    uint32_t first = 0, count = 0;
    assert_true(stm32isp_device_wrp_bit_units(hd, 512 * 1024, 30, &first, &count));
    assert_int_equal(first, 60);
    assert_int_equal(count, 2);
    assert_true(stm32isp_device_wrp_bit_units(hd, 512 * 1024, 31, &first, &count));
    assert_int_equal(first, 62);
    assert_int_equal(count, 256 - 62);
    assert_true(stm32isp_device_wrp_bit_units(hd, 256 * 1024, 31, &first, &count));
    assert_int_equal(first, 62);
    assert_int_equal(count, 128 - 62);

    const stm32isp_device *xl = stm32isp_device_by_pid(0x430);
    assert_true(stm32isp_device_wrp_bit_units(xl, 1024 * 1024, 31, &first, &count));
    assert_int_equal(first, 62);
    assert_int_equal(count, 512 - 62);
    /* F072 (64 pages): bit 31 is pages 62-63 and nothing more. */
    const stm32isp_device *f072 = stm32isp_device_by_pid(0x448);
    assert_true(stm32isp_device_wrp_bit_units(f072, 128 * 1024, 31, &first, &count));
    assert_int_equal(first, 62);
    assert_int_equal(count, 2);
}

/* The granularity of every F0/F1/F3 PID, as docs/devices.md lists it
 * (PM0075, RM0091, RM0365/RM0316, RM0313, RM0364, RM0366). */
static void test_wrp_layout_of_every_known_part(void **state)
{
    (void)state;
    static const struct {
        uint16_t pid;
        uint8_t units_per_bit, bits;
        bool rest;
    } want[] = {
        {0x440, 4, 16, false}, {0x442, 2, 32, true},  {0x444, 4, 8, false},  {0x445, 4, 8, false},
        {0x448, 2, 32, false}, {0x412, 4, 8, false},  {0x410, 4, 32, false}, {0x414, 2, 32, true},
        {0x418, 2, 32, true},  {0x420, 4, 32, false}, {0x428, 2, 32, true},  {0x430, 2, 32, true},
        {0x422, 2, 32, true},  {0x432, 2, 32, true},  {0x438, 2, 16, false}, {0x439, 2, 16, false},
        {0x446, 2, 32, true},
    };
    size_t known = 0;
    for (size_t i = 0; stm32isp_device_at(i) != NULL; i++) {
        stm32isp_wrp_layout layout;
        known += stm32isp_device_wrp_layout(stm32isp_device_at(i), &layout) ? 1 : 0;
    }
    assert_int_equal(known, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const stm32isp_device *d = stm32isp_device_by_pid(want[i].pid);
        assert_non_null(d);
        stm32isp_wrp_layout layout;
        if (!stm32isp_device_wrp_layout(d, &layout) ||
            layout.units_per_bit != want[i].units_per_bit || layout.bits != want[i].bits ||
            layout.last_bit_covers_rest != want[i].rest) {
            fail_msg("PID 0x%03x: WRP layout differs from the reference manual", want[i].pid);
        }
    }
}

/* Every known WRP layout fits its part: the bits cover at most the largest
 * part's units, and together exactly all of them; a bit is 4 KiB (the WRP
 * granularity of F0/F1/F3), and WRP is only known where the option-byte
 * layout is. */
static void test_wrp_layouts_fit_their_flash(void **state)
{
    (void)state;
    for (size_t i = 0; stm32isp_device_at(i) != NULL; i++) {
        const stm32isp_device *d = stm32isp_device_at(i);
        stm32isp_wrp_layout layout;
        if (!stm32isp_device_wrp_layout(d, &layout)) {
            continue;
        }
        assert_true(stm32isp_device_option_layout_known(d));
        uint32_t flash = stm32isp_device_flash_size_max(d);
        uint32_t units = stm32isp_device_unit_count(d, flash);
        assert_true(layout.bits == 8 || layout.bits == 16 || layout.bits == 32);
        if ((uint32_t)layout.bits * layout.units_per_bit > units) {
            fail_msg("PID 0x%03x: %u bits x %u units exceed its %u units", d->pid, layout.bits,
                     layout.units_per_bit, units);
        }
        const stm32isp_erase_run *runs;
        assert_int_equal(stm32isp_device_layout(d, &runs), 1); /* uniform pages */
        assert_int_equal(layout.units_per_bit * runs[0].size, 4096);
        uint32_t covered = 0, next = 0;
        for (unsigned bit = 0; bit < layout.bits; bit++) {
            uint32_t first, count;
            assert_true(stm32isp_device_wrp_bit_units(d, flash, bit, &first, &count));
            assert_int_equal(first, next); /* contiguous, in order, no overlap */
            next = first + count;
            covered += count;
        }
        if (covered != units) {
            fail_msg("PID 0x%03x: the WRP bits cover %u of %u units", d->pid, covered, units);
        }
    }
}

/* The simulator's parts (sim/bootloader/src/devices.c) protect the same
 * pages with the same bits, use the same RDP level 0 and base, and answer
 * a bad Read/Write address the same way. */
static void test_wrp_matches_the_simulator(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t i = 0; blsim_device_at(i) != NULL; i++) {
        const blsim_device *sim = blsim_device_at(i);
        const stm32isp_device *d = stm32isp_device_by_pid(sim->pid);
        assert_non_null(d);
        stm32isp_wrp_layout layout;
        assert_true(stm32isp_device_wrp_layout(d, &layout));
        if (layout.units_per_bit != sim->wrp.pages_per_bit || layout.bits != sim->wrp.bits ||
            layout.last_bit_covers_rest != sim->wrp.last_bit_covers_rest) {
            fail_msg("%s (PID 0x%03x): WRP layout differs from the simulator's", sim->name,
                     sim->pid);
        }
        const stm32isp_erase_run *runs;
        stm32isp_device_layout(d, &runs);
        assert_int_equal(runs[0].size, sim->page_size);
        uint8_t level0 = 0;
        assert_true(stm32isp_device_rdp_level0(d, &level0));
        assert_int_equal(level0, sim->rdp_level0);
        assert_int_equal(stm32isp_device_option_start(d), sim->option_bytes_base);
        /* The F1 ROM's ACK of a bad address: the client checks addresses
         * itself exactly for the parts the model gives the quirk to. */
        if (((d->flags & STM32ISP_DEV_ACKS_BAD_ADDRESS) != 0) != sim->acks_bad_address) {
            fail_msg("%s (PID 0x%03x): the ACK of a bad address differs from the simulator's",
                     sim->name, sim->pid);
        }
        checked++;
    }
    assert_int_equal(checked, 3); /* f103md, f103hd, f072 */
}

/* Every F1 part is taken to ACK a bad Read/Write address as the F103's
 * ROM does (the client then checks addresses itself); no other family. */
static void test_f1_parts_and_only_they_ack_a_bad_address(void **state)
{
    (void)state;
    unsigned f1 = 0;
    for (size_t i = 0; stm32isp_device_at(i) != NULL; i++) {
        const stm32isp_device *d = stm32isp_device_at(i);
        bool is_f1 = strcmp(stm32isp_device_family(d), "F1") == 0;
        bool flagged = (d->flags & STM32ISP_DEV_ACKS_BAD_ADDRESS) != 0;
        if (is_f1 != flagged) {
            fail_msg("PID 0x%03x (%s): %s", d->pid, stm32isp_device_family(d),
                     flagged ? "flagged, not an F1" : "an F1 without the flag");
        }
        f1 += is_f1 ? 1u : 0u;
    }
    assert_int_equal(f1, 7);
}

/* What a tool prints: WRP0 = 0xF0 on a medium-density F1 is bits 0-3
 * cleared, pages 0-15 protected. */
static void test_wrp_bits_read_and_set(void **state)
{
    (void)state;
    const stm32isp_device *md = stm32isp_device_by_pid(0x410);
    static const uint8_t raw[STM32ISP_OPTION_BYTES_RAW_SIZE] = {0xA5, 0x5A, 0xFF, 0x00, 0xFF, 0x00,
                                                                0xFF, 0x00, 0xF0, 0x0F, 0xFF, 0x00,
                                                                0xFF, 0x00, 0xFF, 0x00};
    stm32isp_option_bytes ob;
    assert_int_equal(stm32isp_option_bytes_decode(md, raw, &ob, NULL), STM32ISP_OPTION_BYTES_VALID);
    uint32_t lowest = UINT32_MAX, highest = 0;
    unsigned protected_bits = 0;
    for (unsigned bit = 0; bit < 32; bit++) {
        uint32_t first, count;
        assert_true(stm32isp_device_wrp_bit_units(md, 64 * 1024, bit, &first, &count));
        if (stm32isp_option_bytes_wrp_protected(&ob, bit) && count > 0) {
            protected_bits++;
            lowest = first < lowest ? first : lowest;
            highest = first + count - 1 > highest ? first + count - 1 : highest;
        }
    }
    assert_int_equal(protected_bits, 4);
    assert_int_equal(lowest, 0);
    assert_int_equal(highest, 15);

    /* Setting: active low, one bit at a time, in the right byte. */
    stm32isp_option_bytes set = {.rdp = 0xA5, .wrp = {0xFF, 0xFF, 0xFF, 0xFF}};
    stm32isp_option_bytes_set_wrp(&set, 9, true);
    assert_int_equal(set.wrp[1], 0xFD);
    assert_true(stm32isp_option_bytes_wrp_protected(&set, 9));
    assert_false(stm32isp_option_bytes_wrp_protected(&set, 8));
    stm32isp_option_bytes_set_wrp(&set, 31, true);
    assert_int_equal(set.wrp[3], 0x7F);
    stm32isp_option_bytes_set_wrp(&set, 9, false);
    assert_int_equal(set.wrp[1], 0xFF);

    /* No bit 32: reading it says "not protected" even with bit 0 cleared,
     * and setting it writes nothing, not even past the struct. */
    struct {
        stm32isp_option_bytes ob;
        uint8_t after[4];
    } guarded;
    memset(&guarded, 0xFF, sizeof guarded);
    guarded.ob.wrp[0] = 0xFE;
    assert_true(stm32isp_option_bytes_wrp_protected(&guarded.ob, 0));
    assert_false(stm32isp_option_bytes_wrp_protected(&guarded.ob, 32));
    stm32isp_option_bytes_set_wrp(&guarded.ob, 32, true);
    stm32isp_option_bytes_set_wrp(&guarded.ob, 40, true);
    assert_int_equal(guarded.ob.wrp[0], 0xFE);
    assert_int_equal(guarded.ob.wrp[3], 0xFF);
    assert_int_equal(guarded.after[0], 0xFF);
    assert_int_equal(guarded.after[1], 0xFF);
}

/* A hand-made entry whose WRP index is past the table reads as unknown:
 * every index answers either a sane layout or false (the sanitizer build
 * catches a read past the table). */
static void test_wrp_index_out_of_range_is_unknown(void **state)
{
    (void)state;
    stm32isp_device copy = *stm32isp_device_by_pid(0x410);
    stm32isp_wrp_layout layout;
    assert_true(stm32isp_device_wrp_layout(&copy, &layout));
    copy.wrp_index = 0;
    assert_false(stm32isp_device_wrp_layout(&copy, &layout));
    assert_true(stm32isp_device_option_layout_known(&copy)); /* the family's, still */
    unsigned known = 0;
    for (unsigned index = 0; index <= UINT8_MAX; index++) {
        copy.wrp_index = (uint8_t)index;
        layout = (stm32isp_wrp_layout){0, 0, false};
        if (!stm32isp_device_wrp_layout(&copy, &layout)) {
            continue;
        }
        known++;
        if ((layout.units_per_bit != 2 && layout.units_per_bit != 4) ||
            (layout.bits != 8 && layout.bits != 16 && layout.bits != 32)) {
            fail_msg("WRP index %u gives %u units x %u bits", index, layout.units_per_bit,
                     layout.bits);
        }
    }
    assert_int_equal(known, 6); /* the granularities the F0/F1/F3 parts use */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_entry_is_consistent),
        cmocka_unit_test(test_every_usart_family_is_present),
        cmocka_unit_test(test_simulated_parts_match_the_simulator),
        cmocka_unit_test(test_compact_table_keeps_every_value),
        cmocka_unit_test(test_unknown_pid_is_null),
        cmocka_unit_test(test_units_on_uniform_pages),
        cmocka_unit_test(test_units_on_variable_sectors),
        cmocka_unit_test(test_option_layout_known_only_for_f0_f1_f3),
        cmocka_unit_test(test_option_bytes_round_trip),
        cmocka_unit_test(test_complement_mismatch_detected),
        cmocka_unit_test(test_rdp_values_per_family),
        cmocka_unit_test(test_wrp_bits_on_medium_density),
        cmocka_unit_test(test_wrp_last_bit_covers_rest),
        cmocka_unit_test(test_wrp_layout_of_every_known_part),
        cmocka_unit_test(test_wrp_layouts_fit_their_flash),
        cmocka_unit_test(test_wrp_matches_the_simulator),
        cmocka_unit_test(test_f1_parts_and_only_they_ack_a_bad_address),
        cmocka_unit_test(test_wrp_bits_read_and_set),
        cmocka_unit_test(test_wrp_index_out_of_range_is_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

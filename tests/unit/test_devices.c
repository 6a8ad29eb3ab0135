/*
 * The device database: every entry is self-consistent, the parts the
 * simulator models agree with it, and erase units are found right on
 * uniform pages and on the variable sectors of F2/F4/F7.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "stm32isp/devices.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

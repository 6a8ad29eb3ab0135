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
        assert_true(d->layout_runs > 0);
        for (unsigned r = 0; r < d->layout_runs; r++) {
            assert_true(d->layout[r].count > 0);
            assert_true(d->layout[r].size >= 128);
            assert_int_equal(d->layout[r].size & (d->layout[r].size - 1), 0);
            total += (uint64_t)d->layout[r].count * d->layout[r].size;
        }
        if (total != d->flash_size_max) {
            fail_msg("PID 0x%03x: layout adds up to %llu, not %u", d->pid,
                     (unsigned long long)total, d->flash_size_max);
        }
        assert_int_equal(d->flash_base, 0x08000000u);
        assert_true(d->ram_start <= d->ram_end);
        assert_true(d->ram_start >= 0x20000000u);
        assert_true(d->sysmem_start < d->sysmem_end);
        assert_true(d->option_start <= d->option_end);
        assert_true(d->write_align >= 1 && d->write_align <= 32);
        assert_int_equal(d->write_align & (d->write_align - 1), 0);
        assert_true(d->erase_unit_ms_max > 0 && d->mass_erase_ms_max > 0);
        assert_true(d->write256_ms_max > 0);
        assert_non_null(d->name);
        assert_true(strlen(d->family) == 2);
        assert_ptr_equal(stm32isp_device_by_pid(d->pid), d); /* PIDs are unique */
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
            found = found || strcmp(stm32isp_device_at(i)->family, families[f]) == 0;
        }
        if (!found) {
            fail_msg("no %s part in the database", families[f]);
        }
    }
}

static void test_simulated_parts_match_the_simulator(void **state)
{
    (void)state;
    const stm32isp_device *md = stm32isp_device_by_pid(0x410);
    assert_non_null(md);
    assert_int_equal(md->flash_size_max, 128 * 1024);
    assert_int_equal(md->layout[0].size, 1024);
    assert_int_equal(md->ram_start, 0x20000200);
    assert_int_equal(md->ram_end, 0x20005000);
    assert_int_equal(md->flash_size_reg, 0x1FFFF7E0);
    assert_int_equal(md->uid_reg, 0x1FFFF7E8);
    assert_int_equal(md->option_start, 0x1FFFF800);
    const stm32isp_device *hd = stm32isp_device_by_pid(0x414);
    assert_non_null(hd);
    assert_int_equal(hd->flash_size_max, 512 * 1024);
    assert_int_equal(hd->layout[0].size, 2048);
    const stm32isp_device *f072 = stm32isp_device_by_pid(0x448);
    assert_non_null(f072);
    assert_int_equal(f072->ram_start, 0x20001800);
    assert_int_equal(f072->sysmem_start, 0x1FFFC800);
    assert_int_equal(f072->flash_size_reg, 0x1FFFF7CC);
    assert_int_equal(f072->uid_reg, 0x1FFFF7AC);
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
        cmocka_unit_test(test_unknown_pid_is_null),
        cmocka_unit_test(test_units_on_uniform_pages),
        cmocka_unit_test(test_units_on_variable_sectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

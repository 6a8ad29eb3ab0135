/*
 * The virtual STM32F1 (sim/mcu, docs/virtual-mcu.md), driven as a host
 * drives a target: small Cortex-M3 programs (tests/mcu-programs) written
 * into RAM with Write Memory and started with Go on the bootloader model,
 * from the state each ROM leaves. Each model must be seen to catch what a
 * real part gets wrong: a USART left at the ROM's rate, a clock too fast for
 * the flash wait states, flash written without unlocking or over programmed
 * half-words, a wrong key, an address nothing answers at; and what it must
 * get right: interrupts, WFI, the watchdog, a software reset.
 */
#include "sim_host.h"
#include "test_programs.h"

#include "stm32isp/an3155.h"
#include "vmcu/vmcu.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define ACK         AN3155_ACK
#define FLASH       0x08000000u
#define LOAD        0x20001000u /* where the programs go */
#define BLOCK       0x20000C00u /* their block of inputs and results (SP) */
#define TABLE       0x20000800u /* a vector table a program builds (512-byte aligned, PM0056 4.4.4) */
#define BLOCK_WORDS 8u

/* What the virtual MCU and the host line logged, for the tests to read. */
static char logged[16384];

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%s\n", line);
}

static blsim *target(const char *device, blsim_go_state go, uint32_t baud)
{
    blsim_config c = {.device = blsim_device_find(device),
                      .boot0 = true,
                      .baud = baud,
                      .app_banner = "app\n",
                      .go_state = go,
                      .log = log_line};
    logged[0] = '\0';
    blsim *sim = blsim_new(&c);
    assert_non_null(sim);
    blsim_idle(sim, 5000);
    assert_int_equal(host_sync(sim), ACK);
    return sim;
}

static void put_le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t peek32(const blsim *sim, uint32_t address)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        uint8_t b = 0;
        assert_true(blsim_peek(sim, address + (uint32_t)i, &b));
        v = v << 8 | b;
    }
    return v;
}

/* Loads `prog` at LOAD with its stack pointer at BLOCK (holding `inputs`),
 * and starts it with Go, as the host library does with the RAM CRC
 * program. */
static void run_program(blsim *sim, const test_program *prog, const uint32_t *inputs, size_t count)
{
    uint8_t block[4 * BLOCK_WORDS] = {0};
    for (size_t i = 0; i < count; i++) {
        put_le(block + 4 * i, inputs[i]);
    }
    assert_int_equal(host_write(sim, BLOCK, block, sizeof block), ACK);
    uint8_t image[1024];
    assert_true(prog->size <= sizeof image);
    memcpy(image, prog->code, prog->size);
    put_le(image, BLOCK);
    put_le(image + 4,
           LOAD + (uint32_t)(image[4] | image[5] << 8 | image[6] << 16 | image[7] << 24));
    for (size_t at = 0; at < prog->size; at += 256) {
        size_t n = prog->size - at < 256 ? prog->size - at : 256;
        /* Write Memory takes a multiple of 4 bytes; the tail is padding. */
        assert_int_equal(host_write(sim, LOAD + (uint32_t)at, image + at, (n + 3) & ~(size_t)3),
                         ACK);
    }
    assert_int_equal(host_go(sim, LOAD), ACK);
}

static uint32_t result(const blsim *sim, unsigned word)
{
    return peek32(sim, BLOCK + 4u * word);
}

/* ---- USART1 after the ROM's Go -------------------------------------------- */

static void test_rom_usart_is_garbage_after_the_f103_go(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    run_program(sim, &test_program_hello_rom_usart, NULL, 0);
    uint8_t got[5] = {0};
    size_t n = host_recv(sim, got, 5, 200);
    /* Every byte went out (at a third of the rate) and none arrived right. */
    blsim_idle(sim, 10000);
    assert_int_equal(result(sim, 1), 5);
    assert_true(n > 0);
    assert_memory_not_equal(got, "HELLO", n);
    /* The model says why: BRR counted for 24 MHz, the core at 8 MHz. */
    assert_non_null(strstr(logged, "sent at 38462 baud"));
    assert_int_equal(vmcu_hclk_hz(blsim_get_mcu(sim)), 8000000u);
    blsim_free(sim);
}

static void test_own_usart_works_under_both_go_states(void **state)
{
    (void)state;
    const blsim_go_state states[] = {BLSIM_GO_F103_V22, BLSIM_GO_RESET_VALUES};
    const uint32_t bauds[] = {9600, 57600, 115200};
    const char *devices[] = {"f103md", "f103hd"};
    for (size_t d = 0; d < 2; d++) {
        for (size_t s = 0; s < 2; s++) {
            for (size_t b = 0; b < 3; b++) {
                blsim *sim = target(devices[d], states[s], bauds[b]);
                run_program(sim, &test_program_hello_own_usart, &bauds[b], 1);
                uint8_t got[6] = {0};
                assert_int_equal(host_recv(sim, got, 5, 500), 5);
                assert_string_equal((char *)got, "HELLO");
                host_send_byte(sim, 'x'); /* and it hears the host */
                assert_int_equal(host_reply(sim, 100), 'x');
                blsim_free(sim);
            }
        }
    }
}

static void test_rom_usart_is_silent_with_peripherals_at_reset(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_RESET_VALUES, 115200);
    run_program(sim, &test_program_hello_rom_usart, NULL, 0);
    assert_int_equal(host_reply(sim, 200), NO_REPLY);
    assert_non_null(strstr(logged, "clock off"));
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    blsim_free(sim);
}

/* What the F103's ROM leaves, register by register (go_state.c). */
static void test_go_states_leave_the_registers_the_rom_leaves(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 57600);
    run_program(sim, &test_program_mute_forever, NULL, 0);
    vmcu *m = (vmcu *)blsim_get_mcu(sim);
    assert_int_equal(vmcu_peek32(m, 0x40013808u), 24000000u / 57600u); /* USART1_BRR */
    assert_int_equal(vmcu_peek32(m, 0x4001380Cu), 0x340Cu);            /* USART1_CR1 */
    assert_int_equal(vmcu_peek32(m, 0x40021018u), 0x4004u);            /* RCC_APB2ENR */
    assert_int_equal(vmcu_peek32(m, 0x40010804u), 0x444444B4u);        /* GPIOA_CRH */
    assert_int_equal(vmcu_peek32(m, 0x40021004u), 0);                  /* RCC_CFGR */
    assert_int_equal(vmcu_peek32(m, 0x40021000u) & (1u << 24), 0);     /* PLL off */
    assert_int_equal(vmcu_vtor(m), 0);
    assert_int_equal(vmcu_hclk_hz(m), 8000000u);
    blsim_free(sim);

    sim = target("f103md", BLSIM_GO_RESET_VALUES, 57600);
    run_program(sim, &test_program_mute_forever, NULL, 0);
    m = (vmcu *)blsim_get_mcu(sim);
    assert_int_equal(vmcu_peek32(m, 0x40021018u), 0);
    assert_int_equal(vmcu_peek32(m, 0x40021004u), 0);
    /* GPIOA and USART1 have their clocks off: their registers read 0. */
    assert_int_equal(vmcu_peek32(m, 0x40010804u), 0);
    assert_int_equal(vmcu_peek32(m, 0x4001380Cu), 0);
    blsim_free(sim);
}

/* ---- The flash interface ------------------------------------------------- */

static void test_flash_wait_states_against_the_clock(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    blsim_flash(sim)[0x100] = 0x5A;
    uint32_t address = FLASH + 0x100;
    run_program(sim, &test_program_pll_no_latency, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_HARDFAULT);
    assert_non_null(strstr(blsim_fault_reason(sim), "0 wait states at SYSCLK 64000000 Hz"));
    assert_int_not_equal(result(sim, 2), 0x600Du);
    blsim_free(sim);

    sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    blsim_flash(sim)[0x100] = 0x5A;
    run_program(sim, &test_program_pll_latency, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(result(sim, 2), 0x600Du);
    assert_int_equal(result(sim, 1) & 0xFFu, 0x5A);
    assert_int_equal(vmcu_hclk_hz(blsim_get_mcu(sim)), 64000000u);
    blsim_free(sim);
}

static void test_flash_write_without_unlock_writes_nothing(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    uint32_t address = FLASH + 0x2000;
    run_program(sim, &test_program_flash_locked, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(result(sim, 3), 0x600Du);
    assert_int_equal(blsim_flash(sim)[0x2000], 0xFF);
    assert_int_equal(blsim_flash(sim)[0x2001], 0xFF);
    assert_true((result(sim, 1) & VMCU_FLASH_SR_PGERR) != 0);
    assert_true((result(sim, 1) & VMCU_FLASH_SR_EOP) == 0);
    assert_non_null(strstr(logged, "while locked"));
    blsim_free(sim);
}

static void test_flash_programs_once_then_pgerr(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    uint32_t address = FLASH + 0x2000;
    uint64_t before = blsim_now_ns(sim);
    run_program(sim, &test_program_flash_unlocked, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(result(sim, 3), 0x600Du);
    assert_int_equal(result(sim, 1), VMCU_FLASH_SR_EOP); /* programmed, no error */
    assert_int_equal(result(sim, 2) & VMCU_FLASH_SR_PGERR, VMCU_FLASH_SR_PGERR);
    assert_int_equal(blsim_flash(sim)[0x2000], 0x34);
    assert_int_equal(blsim_flash(sim)[0x2001], 0x12);
    const vmcu_fpec *f = vmcu_flash(blsim_get_mcu(sim));
    assert_int_equal(f->halfwords_programmed, 1);
    assert_int_equal(f->program_errors, 1);
    assert_true(blsim_now_ns(sim) - before > 52500u);
    blsim_free(sim);
}

/* A wrong key is a bus error: the core takes a HardFault, and with VTOR on
 * the ROM's table the F103 ROM's handler resets the chip into the
 * bootloader. With another ROM's hand-over the model cannot know. */
static void test_wrong_flash_key_is_a_bus_error(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    uint32_t address = FLASH + 0x2000;
    run_program(sim, &test_program_flash_wrong_key, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_non_null(strstr(blsim_fault_reason(sim), "FLASH_KEYR"));
    assert_non_null(strstr(blsim_fault_reason(sim), "HardFault handler resets"));
    assert_int_equal(blsim_flash(sim)[0x2000], 0xFF);
    blsim_free(sim);

    sim = target("f103md", BLSIM_GO_RESET_VALUES, 115200);
    run_program(sim, &test_program_flash_wrong_key, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_HARDFAULT);
    blsim_free(sim);
}

/* With a vector table of its own, the program's HardFault handler runs. */
static void test_hardfault_through_the_programs_vector_table(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    const uint32_t inputs[2] = {0x30000000u, TABLE};
    run_program(sim, &test_program_hardfault, inputs, 2);
    blsim_idle(sim, 5000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    assert_int_equal(result(sim, 2), 0xFA17u);
    assert_non_null(strstr(logged, "HardFault: read of 4 bytes at 0x30000000"));
    blsim_free(sim);
}

/* ---- Addresses nothing answers at ---------------------------------------- */

static void test_unmodelled_and_empty_addresses_stop_the_run(void **state)
{
    (void)state;
    /* TIM2 exists on the part but not in the model. */
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    uint32_t address = 0x40000000u;
    run_program(sim, &test_program_pll_latency, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_NOT_MODELLED);
    assert_non_null(strstr(blsim_fault_reason(sim), "0x40000000"));
    assert_non_null(strstr(blsim_fault_reason(sim), "PC 0x2000"));
    blsim_free(sim);
    /* Nothing at all there on an F103: a bus fault. */
    sim = target("f103md", BLSIM_GO_RESET_VALUES, 115200);
    address = 0x30000000u;
    run_program(sim, &test_program_pll_latency, &address, 1);
    blsim_idle(sim, 5000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_HARDFAULT);
    assert_non_null(strstr(blsim_fault_reason(sim), "bus fault"));
    blsim_free(sim);
}

/* ---- The core: interrupts, sleep, resets ---------------------------------- */

static void test_systick_interrupts_through_a_ram_vector_table(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    const uint32_t inputs[2] = {LOAD, TABLE};
    run_program(sim, &test_program_systick_irq, inputs, 2);
    uint64_t started = blsim_now_ns(sim);
    blsim_idle(sim, 9000);
    assert_int_equal(result(sim, 3), 0); /* 9 ms: 9 ticks at most */
    blsim_idle(sim, 3000);
    assert_int_equal(result(sim, 3), 0x600Du);
    assert_int_equal(result(sim, 2), 10);
    assert_int_equal(vmcu_vtor(blsim_get_mcu(sim)), TABLE);
    /* Asleep in WFI the core runs no cycles: 12 ms at 8 MHz would be 96000. */
    assert_true(vmcu_cycles(blsim_get_mcu(sim)) < 20000u);
    assert_true(blsim_now_ns(sim) - started >= 12000000u);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    blsim_free(sim);
}

static void test_software_reset_and_watchdog_restart_the_bootloader(void **state)
{
    (void)state;
    blsim *sim = target("f103md", BLSIM_GO_F103_V22, 115200);
    run_program(sim, &test_program_mute_resets, NULL, 0);
    uint64_t resets = blsim_get_stats(sim)->resets;
    blsim_idle(sim, 990000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    blsim_idle(sim, 20000); /* 1 s counted with SysTick on the HSI */
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(blsim_get_stats(sim)->resets, resets + 1);
    assert_int_equal(vmcu_last_reset_cause(blsim_get_mcu(sim)), VMCU_RESET_SOFTWARE);
    assert_int_equal(host_sync(sim), ACK);

    run_program(sim, &test_program_watchdog, NULL, 0);
    blsim_idle(sim, 90000);
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_RAM_PROGRAM);
    assert_int_equal(result(sim, 1), 0x600Du);
    blsim_idle(sim, 20000); /* 4 x 1000 / 40 kHz = 100 ms */
    assert_int_equal(blsim_get_state(sim), BLSIM_STATE_WAIT_SYNC);
    assert_int_equal(vmcu_last_reset_cause(blsim_get_mcu(sim)), VMCU_RESET_WATCHDOG);
    /* With BOOT0 low the reset starts the application instead. */
    assert_int_equal(host_sync(sim), ACK);
    run_program(sim, &test_program_mute_resets, NULL, 0);
    blsim_set_boot0(sim, false);
    uint8_t vt[8] = {0x00, 0x50, 0x00, 0x20, 0x09, 0x01, 0x00, 0x08};
    memcpy(blsim_flash(sim), vt, sizeof vt);
    char banner[5] = {0};
    assert_int_equal(host_recv(sim, (uint8_t *)banner, 4, 1100), 4);
    assert_string_equal(banner, "app\n");
    blsim_free(sim);
}

/* ---- The wire ------------------------------------------------------------- */

static void test_uart_receiver_tolerance(void **state)
{
    (void)state;
    vmcu_uart_frame tx = {115200, 8, VMCU_PARITY_EVEN, 1};
    vmcu_uart_frame rx = tx;
    vmcu_uart_received r;
    for (unsigned b = 0; b < 256; b++) {
        rx.baud = 115200 * 1.02; /* within 2.5 % */
        vmcu_uart_receive(&tx, (uint16_t)b, &rx, &r);
        assert_true(r.intact);
        assert_int_equal(r.data, b);
        rx.baud = 115200 * 1.03; /* beyond: never taken as intact */
        vmcu_uart_receive(&tx, (uint16_t)b, &rx, &r);
        assert_false(r.intact);
        assert_true(r.framing_error || r.parity_error || r.data != b || !r.started);
    }
    /* Two stop bits sent, one expected: only the first is checked. */
    vmcu_uart_frame two = {115200, 8, VMCU_PARITY_EVEN, 2};
    vmcu_uart_receive(&two, 0xA5, &tx, &r);
    assert_true(r.intact);
    /* Another frame (8N1 against 8E1) at the same rate: framing errors
     * wherever the parity bit, read as the stop bit, is 0. */
    rx = (vmcu_uart_frame){115200, 8, VMCU_PARITY_NONE, 1};
    unsigned wrong = 0;
    for (unsigned b = 0; b < 256; b++) {
        vmcu_uart_receive(&tx, (uint16_t)b, &rx, &r);
        assert_false(r.intact);
        wrong += r.framing_error || r.data != b;
    }
    assert_int_equal(wrong, 128);
    /* A third of the rate: the receiver sees the start bit, then garbage. */
    rx = tx;
    rx.baud = 115200 / 3.0;
    vmcu_uart_receive(&tx, 'H', &rx, &r);
    assert_true(r.started);
    assert_false(r.intact);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rom_usart_is_garbage_after_the_f103_go),
        cmocka_unit_test(test_own_usart_works_under_both_go_states),
        cmocka_unit_test(test_rom_usart_is_silent_with_peripherals_at_reset),
        cmocka_unit_test(test_go_states_leave_the_registers_the_rom_leaves),
        cmocka_unit_test(test_flash_wait_states_against_the_clock),
        cmocka_unit_test(test_flash_write_without_unlock_writes_nothing),
        cmocka_unit_test(test_flash_programs_once_then_pgerr),
        cmocka_unit_test(test_wrong_flash_key_is_a_bus_error),
        cmocka_unit_test(test_hardfault_through_the_programs_vector_table),
        cmocka_unit_test(test_unmodelled_and_empty_addresses_stop_the_run),
        cmocka_unit_test(test_systick_interrupts_through_a_ram_vector_table),
        cmocka_unit_test(test_software_reset_and_watchdog_restart_the_bootloader),
        cmocka_unit_test(test_uart_receiver_tolerance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

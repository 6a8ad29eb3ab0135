/*
 * Bring-up of the Blue Pill master (pins and clocks in board.h).
 */
#include "board.h"

#include "board_api.h"
#include "button.h"
#include "clock.h"
#include "console.h"
#include "cortexm.h"
#include "i2c_bitbang.h"
#include "i2c_gpio.h"
#include "systick.h"
#include "target_port.h"
#include "usart.h"

static usart target_usart, console_usart;
/* The target's longest reply (a 256-byte Read Memory) fits whole. */
static uint8_t target_rx[512];
/* A whole load-protocol frame (141 bytes) fits, whatever the main loop
 * is doing when it arrives. */
static uint8_t console_rx[256];
static target_port target;
static i2c_gpio i2c_pins_state;
static i2c_bitbang i2c_bus;
static debounce button;
static board the_board;
static const stm32isp_eeprom_part eeprom_part = {
    .name = EEPROM_NAME,
    .size = EEPROM_SIZE,
    .page_size = EEPROM_PAGE,
    .address_bytes = EEPROM_WORD_BYTES,
    .block_bits = EEPROM_BLOCK_BITS,
    .write_cycle_ms_max = EEPROM_CYCLE_MS,
};

/* No set_baud: the link runs at TARGET_BAUD, set once in board_init(),
 * and the library leaves a fixed rate alone. */
static const stm32isp_port_ops target_ops = {
    .read = target_port_read,
    .write = target_port_write,
    .now_ms = target_port_now_ms,
    .delay_ms = target_port_delay_ms,
    .set_boot0 = target_port_set_boot0,
    .set_reset = target_port_set_reset,
    .log = target_port_log,
};

void board_early_init(void)
{
    /* At reset every pin floats (RM0008 §9.1), and without a crystal
     * clock_init() waits out the HSE and the PLL for up to ~260 ms: long
     * enough for a target powered with the master to leave its own reset
     * and latch a floating BOOT0 high. Its NRST is let go, as the open
     * drain's reset state leaves it. Registers only: RAM is not set up. */
    RCC->APB2ENR |= RCC_APB2ENR_IOPBEN;
    (void)RCC->APB2ENR; /* the clock is on before the first access */
    gpio_config(PIN_TARGET_BOOT0, GPIO_CFG_OUT_PP_2MHZ, false);
    gpio_config(PIN_TARGET_NRST, GPIO_CFG_OUT_OD_2MHZ, true);
}

const board *board_init(void)
{
    clock_info clk = clock_init(BOARD_HSE_HZ);
    systick_init(clk.sysclk_hz);

    RCC->APB2ENR |= RCC_APB2ENR_AFIOEN | RCC_APB2ENR_IOPAEN | RCC_APB2ENR_IOPBEN |
                    RCC_APB2ENR_IOPCEN | RCC_APB2ENR_USART1EN;
#ifdef FW_BENCH_BREAK_USART_CLOCK
    /* Only in a build that exists to prove the virtual bench catches this
     * mistake (tests/bluepill): USART1 set up with its clock off. */
    RCC->APB2ENR &= ~RCC_APB2ENR_USART1EN;
#endif
    RCC->APB1ENR |= RCC_APB1ENR_USART2EN;
    (void)RCC->APB1ENR; /* the clocks are on before the first access */

    /* The USART now, its TX pin only when a job takes the lines (then the
     * USART already holds the line idle high); until then PA9 floats, as
     * since reset, and the pull-up on the target's RX holds the line. */
    usart_init(&target_usart, USART1, clk.pclk2_hz, TARGET_BAUD, USART_8E1, target_rx,
               sizeof target_rx);
    gpio_config(PIN_TARGET_RX, GPIO_CFG_INPUT_PULL, true);
    target.link = &target_usart;
    target.tx = PIN_TARGET_TX;
    target.boot0 = PIN_TARGET_BOOT0;
    target.nrst = PIN_TARGET_NRST;
    /* BOOT0 has been driven low since board_early_init(); the master's
     * reset stands for the target's, as both boards come up together. */
    target.engaged = true;
    target.nrst_released_ms = 0;
    target.log_level = STM32ISP_LOG_INFO;

    usart_init(&console_usart, USART2, clk.pclk1_hz, CONSOLE_BAUD, USART_8N1, console_rx,
               sizeof console_rx);
    gpio_config(PIN_CONSOLE_TX, GPIO_CFG_AF_PP_10MHZ, true);
    gpio_config(PIN_CONSOLE_RX, GPIO_CFG_INPUT_PULL, true);
    console_init(&console_usart);

    gpio_config(PIN_LED, GPIO_CFG_OUT_PP_2MHZ, LED_ACTIVE_LOW);
    gpio_config(PIN_BUTTON, GPIO_CFG_INPUT_PULL, true);

    i2c_gpio_init(&i2c_pins_state, PIN_I2C_SCL, PIN_I2C_SDA, clk.sysclk_hz);
    i2c_bitbang_init(&i2c_bus, &i2c_gpio_pins, &i2c_pins_state, I2C_HZ);
    (void)i2c_bitbang_recover(&i2c_bus); /* a slave left mid-read by our reset */

    the_board = (board){
        .name = BOARD_NAME,
        .clock = clk,
        .target_ops = &target_ops,
        .target_port = &target,
        .i2c_ops = &i2c_bitbang_ops,
        .i2c = &i2c_bus,
        .eeprom_part = &eeprom_part,
        .eeprom_address = EEPROM_ADDRESS,
        .boot = BOARD_BOOT,
    };
    /* Board init is done: BOOT0 is released once TARGET_BOOT0_HOLD_MS
     * have passed since reset (at once when the clocks took longer). */
    target_port_release(&target);
    return &the_board;
}

void board_target_release(void)
{
    target_port_release(&target);
}

void board_led(bool on)
{
    gpio_write(PIN_LED, LED_ACTIVE_LOW ? !on : on);
}

bool board_button_pressed(void)
{
    return debounce_update(&button, !gpio_read(PIN_BUTTON), systick_ms());
}

void board_finish(int code)
{
    (void)code; /* no host to tell: the application carries on */
}

/* Leaves the target running its application and restarts the master. */
static __attribute__((noreturn)) void restart(void)
{
    if (target.engaged) {
        /* In the middle of a job (a panic): BOOT0 low for the target's
         * next reset, NRST let go; the master's reset then floats the
         * lines until board_early_init() drives BOOT0 low again. */
        gpio_write(PIN_TARGET_BOOT0, false);
        gpio_write(PIN_TARGET_NRST, true);
    }
    if (console_usart.regs != NULL) {
        usart_drain(&console_usart);
    }
    cpu_system_reset();
}

void board_reset(void)
{
    cpu_irq_disable();
    restart();
}

void board_panic(const char *why)
{
    cpu_irq_disable();
    console_write("\npanic: ");
    console_write(why);
    console_write("; restarting\n");
    restart();
}

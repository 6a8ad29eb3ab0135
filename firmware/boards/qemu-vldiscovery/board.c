/*
 * Bring-up of the QEMU board (what differs from real hardware: board.h).
 */
#include "board.h"

#include "board_api.h"
#include "clock.h"
#include "console.h"
#include "cortexm.h"
#include "eeprom_file.h"
#include "semihosting.h"
#include "systick.h"
#include "target_port.h"
#include "usart.h"

#include <string.h>

static usart target_usart, console_usart;
static uint8_t target_rx[512];
static uint8_t console_rx[256];
static target_port target;
static eeprom_file eeprom;
static board the_board;

/* No set_boot0/set_reset: see board.h; no set_baud: the rate is fixed. */
static const stm32isp_port_ops target_ops = {
    .read = target_port_read,
    .write = target_port_write,
    .now_ms = target_port_now_ms,
    .delay_ms = target_port_delay_ms,
    .log = target_port_log,
};

/* Copies the value of `key=` from the space-separated command line into
 * `out`, or `fallback` when absent. Returns false when the value does not
 * fit: a path cut short would name another file. */
static bool option(const char *cmdline, const char *key, const char *fallback, char *out,
                   size_t size)
{
    size_t klen = strlen(key);
    const char *p = cmdline;
    while (*p != '\0') {
        while (*p == ' ') {
            p++;
        }
        const char *end = p;
        while (*end != '\0' && *end != ' ') {
            end++;
        }
        if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            fallback = p + klen + 1;
            size_t n = (size_t)(end - fallback);
            if (n >= size) {
                return false;
            }
            memcpy(out, fallback, n);
            out[n] = '\0';
            return true;
        }
        p = end;
    }
    strncpy(out, fallback, size - 1);
    out[size - 1] = '\0';
    return true;
}

static __attribute__((noreturn)) void usage_error(const char *msg, const char *hint)
{
    console_write("error: ");
    console_write(msg);
    console_write("\nhint: ");
    console_write(hint);
    console_write("\n");
    sh_write0("qemu board: ");
    sh_write0(msg);
    sh_write0("\n");
    usart_drain(&console_usart);
    sh_exit(EXIT_USAGE);
}

static uint32_t now(void)
{
    return systick_ms();
}

/* The options of the semihosting command line (QEMU's -append). */
static void take_options(void)
{
    char cmdline[256];
    char path[160];
    char part_name[16];
    char mode[16];
    /* QEMU refuses a command line longer than the buffer. */
    if (sh_get_cmdline(cmdline, sizeof cmdline) != 0) {
        usage_error("the command line (-append) is too long",
                    "shorten the EEPROM file's path: run QEMU in its folder");
    }
    if (!option(cmdline, "mode", "flash", mode, sizeof mode) ||
        !option(cmdline, "eeprom", EEPROM_DEFAULT_FILE, path, sizeof path) ||
        !option(cmdline, "eeprom-type", EEPROM_DEFAULT_PART, part_name, sizeof part_name)) {
        usage_error("an option's value on the command line is too long",
                    "eeprom= takes a path of up to 159 characters");
    }
    if (strcmp(mode, "flash") == 0) {
        the_board.boot = BOARD_BOOT_FLASH;
    } else if (strcmp(mode, "probe") == 0) {
        the_board.boot = BOARD_BOOT_PROBE;
    } else if (strcmp(mode, "console") == 0) {
        the_board.boot = BOARD_BOOT_CONSOLE;
    } else {
        usage_error(
            "unknown mode on the command line",
            "mode=flash (run the job and exit with its result), mode=probe or mode=console");
    }
    const stm32isp_eeprom_part *part = stm32isp_eeprom_part_find(part_name);
    if (part == NULL) {
        usage_error("unknown eeprom-type on the command line",
                    "use a part name such as 24c256 (QEMU: -append 'eeprom-type=24c256')");
    }
    if (eeprom_file_open(&eeprom, path, part, EEPROM_ADDRESS, now) != 0) {
        console_write("warning: cannot open the EEPROM file ");
        console_write(path);
        console_write(": the EEPROM is absent\n");
    }
    the_board.eeprom_part = part;
}

void board_early_init(void)
{
    /* No BOOT0/NRST lines (board.h): nothing may float that matters. */
}

const board *board_init(void)
{
    /* The same clock code as on hardware: QEMU's RCC reads 0, so every
     * bounded wait runs out and the core stays on the HSI. */
    clock_info clk = clock_init(BOARD_HSE_HZ);
    systick_init(QEMU_SYSTICK_HZ);

    RCC->APB2ENR |= RCC_APB2ENR_AFIOEN | RCC_APB2ENR_IOPAEN | RCC_APB2ENR_USART1EN;
    RCC->APB1ENR |= RCC_APB1ENR_USART2EN;

    usart_init(&target_usart, USART1, clk.pclk2_hz, TARGET_BAUD, USART_8E1, target_rx,
               sizeof target_rx);
    target.link = &target_usart;
    target.log_level = STM32ISP_LOG_INFO;
    usart_init(&console_usart, USART2, clk.pclk1_hz, CONSOLE_BAUD, USART_8N1, console_rx,
               sizeof console_rx);
    console_init(&console_usart);

    the_board = (board){
        .name = BOARD_NAME,
        .clock = clk,
        .target_ops = &target_ops,
        .target_port = &target,
        .i2c_ops = &eeprom_file_ops,
        .i2c = &eeprom,
        .eeprom_address = EEPROM_ADDRESS,
    };
    take_options();
    return &the_board;
}

void board_target_release(void)
{
    /* No lines to let go: the link's TX is not wired to a pin here (QEMU's
     * GPIO is a stub) and target.tx stays unset. */
}

void board_led(bool on)
{
    (void)on; /* GPIO is a stub in QEMU */
}

bool board_button_pressed(void)
{
    return false;
}

void board_finish(int code)
{
    eeprom_file_close(&eeprom);
    usart_drain(&console_usart);
    sh_exit(code);
}

void board_reset(void)
{
    /* QEMU runs with -no-reboot: a restart would end it anyway. */
    eeprom_file_close(&eeprom);
    usart_drain(&console_usart);
    sh_exit(0);
}

void board_panic(const char *why)
{
    cpu_irq_disable();
    console_write("\npanic: ");
    console_write(why);
    console_write("\n");
    sh_write0("qemu board: panic: ");
    sh_write0(why);
    sh_write0("\n");
    sh_exit(EXIT_PANIC);
}

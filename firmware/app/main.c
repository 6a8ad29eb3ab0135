/*
 * The master's application: at start-up what the board asks for (nothing,
 * the flashing job, or a probe: board->boot), then the "program" button and
 * the console's commands, one at a time. The modules: actions.c (what is
 * done to the target and the EEPROM, and its report), console_cmds.c (the
 * commands and the load session), loader.c + frame.c (the load protocol),
 * led.c, runlog.c.
 *
 * Result code of the start-up run (QEMU's exit code): 0, or the
 * stm32isp_err value of the failure (1..99).
 */
#include "actions.h"
#include "app.h"
#include "board_api.h"
#include "console.h"
#include "console_cmds.h"
#include "out.h"
#include "systick.h"

#include <inttypes.h>

/* The job inside holds about 1.5 KiB: static, not on the stack. */
static app the_app;

/* From the SysTick interrupt, every millisecond. */
static void led_tick(uint32_t now_ms)
{
    board_led(led_level(&the_app.led, now_ms));
}

int main(void)
{
    const board *b = board_init();
    app *a = &the_app;
    actions_init(a, b);
    led_show(&a->led, LED_IDLE, 0, systick_ms());
    systick_set_hook(led_tick);

    out("\nstm32isp master " FW_VERSION " on %s\nclock: %" PRIu32 " MHz, %s\n", b->name,
        b->clock.sysclk_hz / 1000000u, clock_source_name(b->clock.source));

    if (b->boot != BOARD_BOOT_CONSOLE) {
        stm32isp_err err = b->boot == BOARD_BOOT_PROBE ? action_probe(a) : action_flash(a);
        actions_print_stack();
        board_finish((int)err);
    }
    out("type help for the commands\n> ");
    char line[CONSOLE_LINE_MAX + 1];
    for (;;) {
        if (board_button_pressed()) {
            out("\nbutton pressed\n");
            (void)action_flash(a);
            out("> ");
        }
        /* Sleeps between interrupts; the button is sampled every 10 ms. */
        if (console_readline(line, sizeof line, 10) >= 0) {
            console_cmds_run(a, line);
            out("> ");
        }
    }
}

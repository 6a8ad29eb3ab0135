/*
 * reset: restarts the target without programming it (stm32flash's -R):
 * with reset lines an NRST pulse with BOOT0 as asked; without them a tiny
 * program in the target's RAM requests a system reset (docs/reset.md).
 */
#include "cli.h"
#include "stm32isp/reset.h"
#include "target.h"

enum { RS_BOOTLOADER };

static const cli_option reset_options[] = {
    [RS_BOOTLOADER] = {"bootloader", 0, NULL,
                       "restart into the ROM bootloader (BOOT0 high) instead of\n"
                       "the application; needs --reset-seq (without it the chip\n"
                       "boots as its BOOT0 pin says)"},
    {NULL, 0, NULL, NULL},
};

typedef struct reset_opts {
    target_opts t;
    bool bootloader;
} reset_opts;

static int reset_take(void *ctx, int option, const char *value)
{
    reset_opts *o = ctx;
    if (option == RS_BOOTLOADER) {
        o->bootloader = true;
        return EXIT_OK;
    }
    return target_take("reset", &o->t, option, value);
}

static int reset_steps(session *s, const reset_opts *o)
{
    stm32isp_client *c = &s->client;
    bool pins = stm32isp_has_reset_lines(c);
    if (!pins && o->bootloader) {
        cli_error(s->cmd, "wire BOOT0 and NRST (--reset-seq), or set BOOT0 high and reset by hand",
                  "--bootloader needs reset lines: without them the chip boots as its BOOT0 pin "
                  "says");
        return EXIT_USAGE;
    }
    if (!pins) {
        /* The program goes in through the bootloader. */
        int code = session_connect(s);
        if (code != EXIT_OK) {
            return code;
        }
        session_note(s, "no reset lines: a program in RAM requests a system reset");
    }
    stm32isp_err err = stm32isp_reset_target(c, &stm32isp_sysreset_program_cm, o->bootloader);
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "resetting");
    }
    return EXIT_OK;
}

static int reset_run(const cli_command *cmd, int argc, char **argv)
{
    reset_opts o = {0};
    int code;
    if (!target_parse(cmd, argc, argv, reset_take, &o, &o.t, &code)) {
        return code;
    }
    session s;
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = reset_steps(&s, &o);
    }
    if (code == EXIT_OK && session_human(&s)) {
        printf("reset the target: %s\n", o.bootloader ? "BOOT0 high, it runs its bootloader"
                                         : stm32isp_has_reset_lines(&s.client)
                                             ? "BOOT0 low, it runs its application"
                                             : "by a system reset requested from RAM; "
                                               "it boots as its BOOT0 pin says");
    }
    return session_finish(&s, code, NULL, NULL);
}

const cli_command cmd_reset = {
    .name = "reset",
    .summary = "reset the target without programming it",
    .usage = "reset --port PATH [--bootloader] [options]",
    .about = "Resets the target without programming it. With --reset-seq: BOOT0 low\n"
             "(high with --bootloader) and an NRST pulse. Without reset lines the target\n"
             "must be in its bootloader: a 48-byte program loaded into its RAM and\n"
             "started with Go requests a system reset, after which the chip boots as\n"
             "its BOOT0 pin says (docs/reset.md).",
    .options = reset_options,
    .target = true,
    .run = reset_run,
};

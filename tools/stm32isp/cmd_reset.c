/* reset: restarts the target without programming it. */
#include "cli.h"
#include "stm32isp/program.h"
#include "target.h"

enum { RS_BOOTLOADER };

static const cli_option reset_options[] = {
    [RS_BOOTLOADER] = {"bootloader", 0, NULL,
                       "restart into the ROM bootloader (BOOT0 high) instead of\n"
                       "the application; needs --reset-seq"},
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
    stm32isp_err err;
    if (!stm32isp_has_reset_lines(c)) {
        cli_error(s->cmd, "give --reset-seq with the wiring of BOOT0 and NRST",
                  "without reset lines the tool cannot reset the target");
        return EXIT_USAGE;
    }
    err = o->bootloader ? stm32isp_enter_bootloader(c) : stm32isp_start_application(c, 0);
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "resetting");
    }
    return EXIT_OK;
}

static int reset_run(const cli_command *cmd, int argc, char **argv)
{
    reset_opts o = {0};
    int first;
    int code = cli_parse(cmd, argc, argv, reset_take, &o, &first);
    if (code != EXIT_OK) {
        return code == CLI_HELP ? EXIT_OK : code;
    }
    if (first < argc) {
        cli_error(cmd->name, NULL, "unexpected argument '%s'", argv[first]);
        return EXIT_USAGE;
    }
    if ((code = target_check(cmd->name, &o.t)) != EXIT_OK) {
        return code;
    }
    session s;
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = reset_steps(&s, &o);
    }
    if (code == EXIT_OK && session_human(&s)) {
        printf("reset the target into its %s\n", o.bootloader ? "bootloader" : "application");
    }
    return session_finish(&s, code, NULL, NULL);
}

const cli_command cmd_reset = {
    .name = "reset",
    .summary = "reset the target without programming it",
    .usage = "reset --port PATH [--bootloader] [options]",
    .about = "Resets the target: with --reset-seq, BOOT0 low (high with --bootloader)\n"
             "and an NRST pulse.",
    .options = reset_options,
    .target = true,
    .run = reset_run,
};

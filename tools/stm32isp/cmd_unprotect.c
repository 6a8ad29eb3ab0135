/* unprotect: removes readout protection (the target erases its flash) or
 * write protection. */
#include "cli.h"
#include "target.h"

enum { U_READ, U_WRITE };

static const cli_option unprotect_options[] = {
    [U_READ] = {"read", 0, NULL, "remove readout protection: THE TARGET ERASES ITS WHOLE FLASH"},
    [U_WRITE] = {"write", 0, NULL, "remove the write protection of every page"},
    {NULL, 0, NULL, NULL},
};

typedef struct unprotect_opts {
    target_opts t;
    bool read, write;
} unprotect_opts;

static int unprotect_take(void *ctx, int option, const char *value)
{
    unprotect_opts *o = ctx;
    switch (option) {
    case U_READ:
        o->read = true;
        return EXIT_OK;
    case U_WRITE:
        o->write = true;
        return EXIT_OK;
    default:
        return target_take("unprotect", &o->t, option, value);
    }
}

static int unprotect_run(const cli_command *cmd, int argc, char **argv)
{
    unprotect_opts o = {0};
    int code;
    if (!target_parse(cmd, argc, argv, unprotect_take, &o, &o.t, &code)) {
        return code;
    }
    if (o.read == o.write) {
        cli_error(cmd->name, "--read or --write", "say which protection to remove (one)");
        return EXIT_USAGE;
    }
    session s;
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = session_connect(&s);
    }
    if (code == EXIT_OK) {
        stm32isp_err err;
        const char *done;
        if (o.read) {
            if (session_human(&s)) {
                fprintf(stderr, "stm32isp unprotect: removing readout protection: the target "
                                "erases its whole flash\n");
            }
            s.modified = true;
            err = stm32isp_cmd_readout_unprotect(&s.client);
            done = "readout protection removed; the flash was erased";
        } else {
            err = stm32isp_cmd_write_unprotect(&s.client);
            done = "write protection removed";
        }
        if (err != STM32ISP_OK) {
            code = session_fail(&s, err, "unprotecting");
        } else if (session_human(&s)) {
            printf("%s\n", done);
        }
    }
    return session_finish(&s, code, NULL, NULL);
}

const cli_command cmd_unprotect = {
    .name = "unprotect",
    .summary = "remove readout (erases the flash) or write protection",
    .usage = "unprotect --port PATH (--read | --write) [options]",
    .about = "Removes readout protection (THE TARGET ERASES ITS WHOLE FLASH), or all\n"
             "write protection. The target resets to apply it.",
    .options = unprotect_options,
    .target = true,
    .run = unprotect_run,
};

/* go: starts code at an address with the bootloader's Go command. */
#include "cli.h"
#include "target.h"

#include <inttypes.h>

enum { G_ADDRESS };

static const cli_option go_options[] = {
    [G_ADDRESS] = {"address", 0, "A",
                   "the vector table: initial stack pointer at A, entry at A+4\n"
                   "(default: the flash base)"},
    {NULL, 0, NULL, NULL},
};

typedef struct go_opts {
    target_opts t;
    bool has_address;
    uint32_t address;
} go_opts;

static int go_take(void *ctx, int option, const char *value)
{
    go_opts *o = ctx;
    if (option == G_ADDRESS) {
        if (!cli_parse_u32(value, &o->address)) {
            cli_error("go", "give it in hex, e.g. 0x08000000", "bad --address '%s'", value);
            return EXIT_USAGE;
        }
        o->has_address = true;
        return EXIT_OK;
    }
    return target_take("go", &o->t, option, value);
}

static int go_run(const cli_command *cmd, int argc, char **argv)
{
    go_opts o = {0};
    int code;
    if (!target_parse(cmd, argc, argv, go_take, &o, &o.t, &code)) {
        return code;
    }
    session s;
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = session_connect(&s);
    }
    if (code == EXIT_OK) {
        uint32_t address =
            o.has_address ? o.address : stm32isp_device_flash_base(s.client.target.device);
        stm32isp_err err = stm32isp_cmd_go(&s.client, address);
        if (err != STM32ISP_OK) {
            code = session_fail(&s, err, "Go");
        } else if (session_human(&s)) {
            printf("started the code at 0x%08" PRIx32 "\n", address);
        }
    }
    return session_finish(&s, code, NULL, NULL);
}

const cli_command cmd_go = {
    .name = "go",
    .summary = "start code at an address with the Go command",
    .usage = "go --port PATH [--address A] [options]",
    .about = "Starts the code whose vector table is at A with the bootloader's Go\n"
             "command. System memory stays mapped at address 0: code started this way\n"
             "must set its vector table offset (VTOR) itself. `reset` boots the part\n"
             "normally where the tool drives NRST.",
    .options = go_options,
    .target = true,
    .run = go_run,
};

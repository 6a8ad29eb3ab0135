/*
 * probe: identifies the target: chip, bootloader, flash, protection and
 * option bytes, as the library learns them.
 */
#include "cli.h"
#include "optbytes.h"
#include "stm32isp/devices.h"
#include "target.h"

#include <inttypes.h>
#include <string.h>

typedef struct probe_opts {
    target_opts t;
} probe_opts;

static int probe_take(void *ctx, int option, const char *value)
{
    probe_opts *o = ctx;
    return target_take("probe", &o->t, option, value);
}

typedef struct probe_result {
    const stm32isp_target_info *target;
    option_state options;
} probe_result;

static void probe_json(json *j, void *ctx)
{
    const probe_result *p = ctx;
    if (p->target != NULL) {
        option_state_json(j, p->target, &p->options);
    }
}

static void print_target(const session *s, const probe_result *p)
{
    const stm32isp_target_info *t = &s->client.target;
    const stm32isp_device *d = t->device;
    printf("device      %s (PID 0x%03x, %s)\n", d->name, t->pid, stm32isp_device_family(d));
    printf("bootloader  v%u.%u, erase command 0x%02x, %u commands:",
           (unsigned)(t->bootloader_version >> 4), (unsigned)(t->bootloader_version & 0xF),
           t->erase_opcode, t->command_count);
    for (unsigned i = 0; i < t->command_count; i++) {
        printf(" %02x", t->commands[i]);
    }
    printf("\n");
    uint32_t units = stm32isp_device_unit_count(d, t->flash_size);
    printf("flash       %" PRIu32 " KiB at 0x%08" PRIx32 " (%s), %" PRIu32 " erase units\n",
           t->flash_size / 1024, stm32isp_device_flash_base(d),
           t->flash_size_from_register ? "from the flash-size register"
                                       : "the PID's maximum: the register was not readable",
           units);
    printf("ram         0x%08" PRIx32 "-0x%08" PRIx32 " usable by the host\n", d->ram_start,
           d->ram_end - 1);
    printf("readout     %s\n",
           t->readout_protected ? "PROTECTED (flash cannot be read)" : "not protected");
    if (t->uid_valid) {
        printf("uid         ");
        for (int i = 0; i < 12; i++) {
            printf("%02x", t->uid[i]);
        }
        printf("\n");
    }
    option_state_print(t, &p->options, stdout);
}

static int probe_steps(session *s, probe_result *p)
{
    int code = session_connect(s);
    if (code != EXIT_OK || s->client.target.readout_protected) {
        return code;
    }
    p->target = &s->client.target;
    stm32isp_err err = option_state_read(&s->client, &p->options);
    if (err == STM32ISP_ERR_CANCELLED) {
        return session_fail(s, err, "reading the option bytes");
    }
    /* Some bootloaders refuse to show them: the probe stands without. */
    return EXIT_OK;
}

static int probe_run(const cli_command *cmd, int argc, char **argv)
{
    probe_opts o = {0};
    int code;
    if (!target_parse(cmd, argc, argv, probe_take, &o, &o.t, &code)) {
        return code;
    }
    session s;
    probe_result p;
    memset(&p, 0, sizeof p);
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = probe_steps(&s, &p);
    }
    if (code == EXIT_OK && session_human(&s)) {
        print_target(&s, &p);
    }
    return session_finish(&s, code, probe_json, &p);
}

const cli_command cmd_probe = {
    .name = "probe",
    .summary = "identify the target: chip, bootloader, flash, protection",
    .usage = "probe --port PATH [options]",
    .about = "Connects and reports the chip, its bootloader, flash size, readout and\n"
             "write protection and option bytes. Changes nothing.",
    .options = NULL,
    .target = true,
    .run = probe_run,
};

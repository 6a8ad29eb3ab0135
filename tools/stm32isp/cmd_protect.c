/*
 * protect: sets readout protection, write protection of pages, or the
 * option bytes.
 */
#include "cli.h"
#include "optbytes.h"
#include "target.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { P_READ, P_WRITE, P_OPTION_BYTES };

static const cli_option protect_options[] = {
    [P_READ] = {"read", 0, NULL,
                "set readout protection: the flash can no longer be read\n"
                "or written until `unprotect --read` (which erases it)"},
    [P_WRITE] = {"write", 0, "SECTORS",
                 "write-protect these sectors, e.g. 0-3,8: the bootloader's\n"
                 "numbers, one per write-protection bit (`probe` shows the\n"
                 "pages each covers)"},
    [P_OPTION_BYTES] = {"option-bytes", 0, "KEY=VALUE,...",
                        "set option bytes, as STM32CubeProgrammer's -ob: user=,\n"
                        "data0=, data1= (bytes), wrp= (the 32 WRP bits as one number,\n"
                        "bit n for WRP bit n, 0 = protected). The rest keep their\n"
                        "values; the result is read back. Families whose layout\n"
                        "is not in the device database are refused. RDP is left\n"
                        "alone: use --read and unprotect --read"},
    {NULL, 0, NULL, NULL},
};

/* --option-bytes: which fields to change, and to what. */
typedef struct option_change {
    bool user, data0, data1, wrp;
    stm32isp_option_bytes to;
    uint32_t wrp_bits;
} option_change;

typedef struct protect_opts {
    target_opts t;
    bool read;
    const char *sectors;
    bool option_bytes;
    option_change change;
} protect_opts;

/* "user=0xfe,data0=0x12,wrp=0xfffffff0" */
static bool parse_option_change(const char *text, option_change *ch, char *why, size_t why_size)
{
    while (*text != '\0') {
        size_t len = strcspn(text, ",");
        const char *eq = memchr(text, '=', len);
        char value[32];
        if (eq == NULL || (size_t)(text + len - eq - 1) >= sizeof value) {
            snprintf(why, why_size, "'%.*s': write KEY=VALUE", (int)len, text);
            return false;
        }
        size_t key_len = (size_t)(eq - text);
        memcpy(value, eq + 1, (size_t)(text + len - eq - 1));
        value[text + len - eq - 1] = '\0';
        uint32_t v;
        if (!cli_parse_u32(value, &v)) {
            snprintf(why, why_size, "'%.*s': the value is not a number", (int)len, text);
            return false;
        }
        bool byte_ok = v <= 0xFF;
        if (key_len == 4 && strncmp(text, "user", 4) == 0 && byte_ok) {
            ch->user = true;
            ch->to.user = (uint8_t)v;
        } else if (key_len == 5 && strncmp(text, "data0", 5) == 0 && byte_ok) {
            ch->data0 = true;
            ch->to.data0 = (uint8_t)v;
        } else if (key_len == 5 && strncmp(text, "data1", 5) == 0 && byte_ok) {
            ch->data1 = true;
            ch->to.data1 = (uint8_t)v;
        } else if (key_len == 3 && strncmp(text, "wrp", 3) == 0) {
            ch->wrp = true;
            ch->wrp_bits = v;
        } else if (key_len == 3 && strncmp(text, "rdp", 3) == 0) {
            snprintf(why, why_size,
                     "rdp is not set this way: 'protect --read' sets readout protection, "
                     "'unprotect --read' removes it (erasing the flash)");
            return false;
        } else {
            snprintf(why, why_size, "'%.*s': the keys are user, data0, data1 (bytes) and wrp",
                     (int)len, text);
            return false;
        }
        text += len;
        if (*text == ',') {
            text++;
        }
    }
    return ch->user || ch->data0 || ch->data1 || ch->wrp;
}

/* "0-3,8" into sector codes. */
static bool parse_sectors(const char *text, uint8_t *out, size_t *count)
{
    *count = 0;
    const char *p = text;
    while (*p != '\0') {
        char *end;
        unsigned long a = strtoul(p, &end, 0), b = a;
        if (end == p || a > 255 || *p == '-') {
            return false;
        }
        p = end;
        if (*p == '-') {
            b = strtoul(p + 1, &end, 0);
            if (end == p + 1 || b > 255 || b < a) {
                return false;
            }
            p = end;
        }
        for (unsigned long v = a; v <= b; v++) {
            if (*count == 255) {
                return false;
            }
            out[(*count)++] = (uint8_t)v;
        }
        if (*p == ',') {
            p++;
        } else if (*p != '\0') {
            return false;
        }
    }
    return *count > 0;
}

static int protect_take(void *ctx, int option, const char *value)
{
    protect_opts *o = ctx;
    uint8_t sectors[255];
    size_t count;
    switch (option) {
    case P_READ:
        o->read = true;
        return EXIT_OK;
    case P_WRITE:
        if (!parse_sectors(value, sectors, &count)) {
            cli_error("protect", "e.g. --write 0-3,8 (sector codes as the bootloader numbers them)",
                      "bad sector list '%s'", value);
            return EXIT_USAGE;
        }
        o->sectors = value;
        return EXIT_OK;
    case P_OPTION_BYTES: {
        char why[200] = "give at least one KEY=VALUE";
        if (!parse_option_change(value, &o->change, why, sizeof why)) {
            cli_error("protect", "e.g. --option-bytes data0=0x12,wrp=0xfffffff0",
                      "--option-bytes: %s", why);
            return EXIT_USAGE;
        }
        o->option_bytes = true;
        return EXIT_OK;
    }
    default:
        return target_take("protect", &o->t, option, value);
    }
}

static void apply_change(const option_change *ch, stm32isp_option_bytes *ob)
{
    if (ch->user) {
        ob->user = ch->to.user;
    }
    if (ch->data0) {
        ob->data0 = ch->to.data0;
    }
    if (ch->data1) {
        ob->data1 = ch->to.data1;
    }
    if (ch->wrp) {
        for (unsigned i = 0; i < 4; i++) {
            ob->wrp[i] = (uint8_t)(ch->wrp_bits >> (8 * i));
        }
    }
}

/* --option-bytes: read, change the fields asked for, write, read back. */
static int write_option_bytes(session *s, const option_change *ch)
{
    stm32isp_client *c = &s->client;
    const stm32isp_target_info *t = &c->target;
    if (t->readout_protected) {
        return session_fail(s, STM32ISP_ERR_READ_PROTECTED, "reading the option bytes");
    }
    if (!stm32isp_device_option_layout_known(t->device)) {
        cli_error(s->cmd,
                  "set them with the vendor's tool (STM32CubeProgrammer -ob), or add the layout "
                  "to the device database (docs/devices.md)",
                  "--option-bytes: the option-byte layout of the %s family (%s) is not in the "
                  "device database; nothing was written",
                  stm32isp_device_family(t->device), t->device->name);
        return EXIT_USAGE;
    }
    option_state now;
    stm32isp_err err = option_state_read(c, &now);
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "reading the option bytes");
    }
    uint8_t level0;
    stm32isp_device_rdp_level0(t->device, &level0);
    if (now.ob.rdp != level0) {
        cli_error(s->cmd, "check the target; nothing was written",
                  "--option-bytes: RDP reads 0x%02x, not level 0 (0x%02x): writing the option "
                  "bytes back would keep or set readout protection",
                  now.ob.rdp, level0);
        return EXIT_FAILURE_GENERIC;
    }
    stm32isp_option_bytes want = now.ob;
    apply_change(ch, &want);
    if (memcmp(&want, &now.ob, sizeof want) == 0 && now.mismatched == 0) {
        if (session_human(s)) {
            printf("the option bytes already hold these values: nothing was written\n");
        }
        return EXIT_OK;
    }
    uint8_t raw[STM32ISP_OPTION_BYTES_RAW_SIZE];
    stm32isp_option_bytes_encode(t->device, &want, raw);
    session_note(s, "writing the option bytes: the target resets to load them");
    err = stm32isp_write_option_bytes(c, raw, sizeof raw);
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "writing the option bytes");
    }
    option_state after;
    err = option_state_read(c, &after);
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "reading the option bytes back");
    }
    if (memcmp(&after.ob, &want, sizeof want) != 0 || after.mismatched != 0) {
        session_record(s, STM32ISP_ERR_VERIFY, "reading the option bytes back");
        cli_error(s->cmd, "run probe to see them; try once more",
                  "the option bytes read back as user 0x%02x data0 0x%02x data1 0x%02x wrp "
                  "%02x%02x%02x%02x, not as written",
                  after.ob.user, after.ob.data0, after.ob.data1, after.ob.wrp[3], after.ob.wrp[2],
                  after.ob.wrp[1], after.ob.wrp[0]);
        return EXIT_FAILURE_GENERIC;
    }
    if (session_human(s)) {
        printf("option bytes written, the target reset, and read back equal:\n");
        option_state_print(t, &after, stdout);
    }
    return EXIT_OK;
}

static int protect_steps(session *s, const protect_opts *o)
{
    int code = session_connect(s);
    if (code != EXIT_OK) {
        return code;
    }
    if (o->option_bytes) {
        return write_option_bytes(s, &o->change);
    }
    stm32isp_err err;
    const char *done;
    if (o->read) {
        err = stm32isp_cmd_readout_protect(&s->client);
        done = "readout protection set: the flash can no longer be read or written";
    } else {
        uint8_t sectors[255];
        size_t count = 0;
        parse_sectors(o->sectors, sectors, &count); /* checked when parsed */
        err = stm32isp_cmd_write_protect(&s->client, sectors, count);
        done = "write protection set";
    }
    if (err != STM32ISP_OK) {
        return session_fail(s, err, "protecting");
    }
    if (session_human(s)) {
        printf("%s\n", done);
        /* What the reset loaded, where the layout is known. */
        option_state after;
        if (!o->read && option_state_read(&s->client, &after) == STM32ISP_OK && after.decoded) {
            option_state_print(&s->client.target, &after, stdout);
        }
    }
    return EXIT_OK;
}

static int protect_run(const cli_command *cmd, int argc, char **argv)
{
    protect_opts o = {0};
    int code;
    if (!target_parse(cmd, argc, argv, protect_take, &o, &o.t, &code)) {
        return code;
    }
    if ((int)o.read + (o.sectors != NULL) + (int)o.option_bytes != 1) {
        cli_error(cmd->name, "--read, --write SECTORS or --option-bytes KEY=VALUE,...",
                  "say what to set (one of them)");
        return EXIT_USAGE;
    }
    session s;
    code = session_open(&s, cmd->name, &o.t);
    if (code == EXIT_OK) {
        code = protect_steps(&s, &o);
    }
    return session_finish(&s, code, NULL, NULL);
}

const cli_command cmd_protect = {
    .name = "protect",
    .summary = "set readout or write protection",
    .usage = "protect --port PATH (--read | --write SECTORS | --option-bytes KEY=VALUE,...)\n"
             "       [options]",
    .about = "Sets readout protection, write protection of sectors, or option bytes.\n"
             "The target resets to apply them; the tool synchronises again.",
    .options = protect_options,
    .target = true,
    .run = protect_run,
};

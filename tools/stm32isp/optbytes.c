/* Option bytes for probe and protect (optbytes.h). */
#include "optbytes.h"

#include <inttypes.h>
#include <string.h>

stm32isp_err option_state_read(stm32isp_client *c, option_state *st)
{
    memset(st, 0, sizeof *st);
    const stm32isp_device *d = c->target.device;
    uint32_t start = stm32isp_device_option_start(d);
    uint32_t end = stm32isp_device_option_end(d);
    uint32_t n = end > start ? end - start : 0;
    if (n > sizeof st->raw) {
        n = sizeof st->raw;
    }
    if (n == 0) {
        return STM32ISP_ERR_UNSUPPORTED;
    }
    stm32isp_err err = stm32isp_cmd_read(c, start, st->raw, n);
    if (err != STM32ISP_OK) {
        return err;
    }
    st->raw_count = n;
    st->decoded = n >= STM32ISP_OPTION_BYTES_RAW_SIZE &&
                  stm32isp_option_bytes_decode(d, st->raw, &st->ob, &st->mismatched) !=
                      STM32ISP_OPTION_BYTES_LAYOUT_NOT_KNOWN;
    return STM32ISP_OK;
}

/* Calls `fn` for each run of consecutive erase units that protected WRP
 * bits cover, in a part with the target's flash size. */
typedef void (*range_fn)(void *ctx, uint32_t first_unit, uint32_t last_unit, unsigned first_bit,
                         unsigned last_bit);

static void for_each_protected_range(const stm32isp_target_info *t, const option_state *st,
                                     range_fn fn, void *ctx)
{
    stm32isp_wrp_layout layout;
    if (!st->decoded || !stm32isp_device_wrp_layout(t->device, &layout)) {
        return;
    }
    bool open = false;
    uint32_t run_first = 0, run_last = 0;
    unsigned bit_first = 0, bit_last = 0;
    for (unsigned bit = 0; bit < layout.bits; bit++) {
        uint32_t first, count;
        bool on = stm32isp_option_bytes_wrp_protected(&st->ob, bit) &&
                  stm32isp_device_wrp_bit_units(t->device, t->flash_size, bit, &first, &count) &&
                  count > 0;
        if (on && open && first == run_last + 1) {
            run_last = first + count - 1;
            bit_last = bit;
            continue;
        }
        if (open) {
            fn(ctx, run_first, run_last, bit_first, bit_last);
            open = false;
        }
        if (on) {
            open = true;
            run_first = first;
            run_last = first + count - 1;
            bit_first = bit_last = bit;
        }
    }
    if (open) {
        fn(ctx, run_first, run_last, bit_first, bit_last);
    }
}

typedef struct print_ctx {
    const stm32isp_target_info *t;
    FILE *out;
    int runs;
} print_ctx;

/* The flash addresses of erase units [first, last]: [*start, *end). */
static void unit_span(const stm32isp_target_info *t, uint32_t first, uint32_t last, uint32_t *start,
                      uint32_t *end)
{
    uint32_t base = stm32isp_device_flash_base(t->device);
    *start = *end = base;
    uint32_t index, unit_start, size;
    for (uint32_t a = base; a - base < t->flash_size; a = unit_start + size) {
        if (!stm32isp_device_unit_at(t->device, t->flash_size, a, &index, &unit_start, &size)) {
            break;
        }
        if (index == first) {
            *start = unit_start;
        }
        if (index == last) {
            *end = unit_start + size;
            break;
        }
    }
}

static void print_range(void *ctx, uint32_t first, uint32_t last, unsigned first_bit,
                        unsigned last_bit)
{
    print_ctx *p = ctx;
    uint32_t start, end;
    unit_span(p->t, first, last, &start, &end);
    fprintf(p->out,
            "%s pages %" PRIu32 "-%" PRIu32 " (0x%08" PRIx32 "-0x%08" PRIx32 ", WRP bit%s %u",
            p->runs == 0 ? "write-prot " : "           ", first, last, start, end - 1,
            first_bit == last_bit ? "" : "s", first_bit);
    if (last_bit != first_bit) {
        fprintf(p->out, "-%u", last_bit);
    }
    fprintf(p->out, ")\n");
    p->runs++;
}

void option_state_print(const stm32isp_target_info *t, const option_state *st, FILE *out)
{
    if (st->raw_count == 0) {
        return;
    }
    fprintf(out, "options     ");
    for (uint32_t i = 0; i < st->raw_count; i++) {
        fprintf(out, "%02x%s", st->raw[i], i % 2 == 1 ? " " : "");
    }
    fprintf(out, "\n");
    if (!st->decoded) {
        fprintf(out,
                "write-prot  not decoded: the %s family's option-byte layout is not in the "
                "device database\n",
                stm32isp_device_family(t->device));
        return;
    }
    uint8_t level0;
    stm32isp_device_rdp_level0(t->device, &level0);
    fprintf(out,
            "            rdp 0x%02x (%s), user 0x%02x, data0 0x%02x, data1 0x%02x, wrp "
            "%02x%02x%02x%02x\n",
            st->ob.rdp, st->ob.rdp == level0 ? "level 0" : "readout protection", st->ob.user,
            st->ob.data0, st->ob.data1, st->ob.wrp[3], st->ob.wrp[2], st->ob.wrp[1], st->ob.wrp[0]);
    if (st->mismatched != 0) {
        fprintf(out,
                "            WARNING: option bytes with a wrong complement (mask 0x%02x): the "
                "chip loads 0xFF for them\n",
                st->mismatched);
    }
    print_ctx p = {.t = t, .out = out};
    for_each_protected_range(t, st, print_range, &p);
    if (p.runs == 0) {
        fprintf(out, "write-prot  none\n");
    }
}

typedef struct json_ctx {
    const stm32isp_target_info *t;
    json *j;
} json_ctx;

static void json_range(void *ctx, uint32_t first, uint32_t last, unsigned first_bit,
                       unsigned last_bit)
{
    json_ctx *p = ctx;
    uint32_t start, end;
    unit_span(p->t, first, last, &start, &end);
    json_object(p->j, NULL);
    json_uint(p->j, "first_page", first);
    json_uint(p->j, "last_page", last);
    json_hex32(p->j, "address", start);
    json_hex32(p->j, "end", end);
    json_uint(p->j, "first_bit", first_bit);
    json_uint(p->j, "last_bit", last_bit);
    json_close_object(p->j);
}

void option_state_json(json *j, const stm32isp_target_info *t, const option_state *st)
{
    if (st->raw_count == 0) {
        return;
    }
    json_hex_bytes(j, "option_bytes", st->raw, st->raw_count);
    if (!st->decoded) {
        return;
    }
    json_object(j, "option_bytes_decoded");
    json_format(j, "rdp", "0x%02x", st->ob.rdp);
    json_format(j, "user", "0x%02x", st->ob.user);
    json_format(j, "data0", "0x%02x", st->ob.data0);
    json_format(j, "data1", "0x%02x", st->ob.data1);
    json_format(j, "wrp", "0x%02x%02x%02x%02x", st->ob.wrp[3], st->ob.wrp[2], st->ob.wrp[1],
                st->ob.wrp[0]);
    json_uint(j, "complement_mismatch_mask", st->mismatched);
    json_array(j, "write_protected");
    json_ctx p = {.t = t, .j = j};
    for_each_protected_range(t, st, json_range, &p);
    json_close_array(j);
    json_close_object(j);
}

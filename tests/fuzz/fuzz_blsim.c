/*
 * Fuzzes the bootloader model's command parser (sim/bootloader): bytes go
 * in with blsim_host_send, replies come out with blsim_host_recv, and some
 * input bytes move the BOOT0 and NRST pins or let time pass.
 *
 * Input: two configuration bytes (blsim_input.h), then operations.
 *   op 0x00-0x7F      send the next (op + 1) bytes
 *   op 0x80-0xBF      receive, waiting at most t * t + 1 ms (t = op & 0x3F)
 *   op 0xC0-0xDF      pins: bit 0 BOOT0 high, bit 1 NRST high (released)
 *   op 0xE0-0xFE      idle (t * t + 1) ms (t = op & 0x1F)
 *   op 0xFF           drain everything the target will send unprompted
 */
#include "blsim_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_blsim: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_state(const blsim *sim, uint64_t *last_ns, uint64_t received)
{
    uint64_t now = blsim_now_ns(sim);
    CHECK(now >= *last_ns); /* the virtual clock never runs backwards */
    *last_ns = now;
    CHECK(blsim_get_state(sim) <= BLSIM_STATE_HARDFAULT);
    CHECK(blsim_state_name(blsim_get_state(sim)) != NULL);
    const blsim_stats *st = blsim_get_stats(sim);
    /* Line noise may add bytes the target never sent. */
    CHECK(received <= st->bytes_to_host + st->faults_inserts);
    CHECK(st->acks + st->nacks <= st->bytes_to_host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    blsim_config cfg;
    blsim_input_config(data, &cfg);
    const blsim_device *dev = cfg.device;
    blsim *sim = blsim_new(&cfg);
    CHECK(sim != NULL);

    uint8_t buf[4096];
    uint64_t last_ns = 0, received = 0;
    for (size_t at = 2; at < size;) {
        uint8_t op = data[at++];
        if (op < 0x80) {
            size_t n = (size_t)op + 1 < size - at ? (size_t)op + 1 : size - at;
            blsim_host_send(sim, data + at, n);
            at += n;
        } else if (op < 0xC0) {
            unsigned t = op & 0x3Fu;
            size_t n = blsim_host_recv(sim, buf, 260, ((uint64_t)t * t + 1) * 1000u);
            CHECK(n <= 260);
            received += n;
        } else if (op < 0xE0) {
            blsim_set_boot0(sim, (op & 1) != 0);
            blsim_set_nrst(sim, (op & 2) != 0);
        } else if (op < 0xFF) {
            unsigned t = op & 0x1Fu;
            blsim_idle(sim, ((uint64_t)t * t + 1) * 1000u);
        } else {
            size_t n = blsim_host_drain(sim, buf, sizeof buf);
            CHECK(n <= sizeof buf);
            received += n;
        }
        check_state(sim, &last_ns, received);
    }
    /* The statistics report works from any state. */
    char json[8192];
    int need = blsim_stats_json(sim, json, sizeof json);
    CHECK(need > 0 && (size_t)need < sizeof json && strlen(json) == (size_t)need);
    uint8_t value;
    (void)blsim_peek(sim, dev->flash_base, &value);
    blsim_free(sim);
    return 0;
}

/*
 * How fuzz_blsim's first two input bytes configure the model: shared with
 * the seed generator, so that a recorded seed runs on the model it was
 * recorded from.
 *
 *   cfg[0] bits 0-1 device (modulo the model's devices), bit 2 BOOT0 at
 *          power-on, bit 3 readout protected, bit 4 Get Checksum offered,
 *          bit 5 the bad-address quirk on any device, bit 6 maximum flash timings,
 *          bit 7 an application banner
 *   cfg[1] bit 0 largest flash size instead of smallest, bit 1 9600 baud,
 *          bit 2 a clone's PID, bit 3 line noise (bit flips, drops and
 *          inserted bytes, seeded by bits 6-7), bit 4 the third ACK becomes
 *          a NACK, bit 5 a reset in the middle of the second command's work
 */
#ifndef FUZZ_BLSIM_INPUT_H
#define FUZZ_BLSIM_INPUT_H

#include "blsim/blsim.h"

#include <string.h>

enum {
    BLSIM_IN_BOOT0 = 1u << 2,
    BLSIM_IN_RDP = 1u << 3,
    BLSIM_IN_CHECKSUM = 1u << 4,
    BLSIM_IN_SILENT_ABORT = 1u << 5,
    BLSIM_IN_SLOW = 1u << 6,
    BLSIM_IN_BANNER = 1u << 7,
    BLSIM_IN_FLASH_MAX = 1u << 0, /* cfg[1] */
    BLSIM_IN_9600 = 1u << 1,      /* cfg[1] */
    BLSIM_IN_CLONE = 1u << 2,     /* cfg[1] */
    BLSIM_IN_NOISE = 1u << 3,     /* cfg[1] */
    BLSIM_IN_NACK = 1u << 4,      /* cfg[1] */
    BLSIM_IN_CUT = 1u << 5,       /* cfg[1] */
};

/* Receive operations: 0x80 | t waits at most t * t + 1 ms. */
#define BLSIM_OP_RECV 0x80u
#define BLSIM_OP_PINS 0xC0u
/* Idle operations: 0xE0 | t (t < 31) idles t * t + 1 ms. */
#define BLSIM_OP_IDLE  0xE0u
#define BLSIM_OP_DRAIN 0xFFu

static inline void blsim_input_config(const uint8_t cfg[2], blsim_config *out)
{
    size_t devices = 0;
    while (blsim_device_at(devices) != NULL) {
        devices++;
    }
    const blsim_device *dev = blsim_device_at((cfg[0] & 3u) % devices);
    memset(out, 0, sizeof *out);
    out->device = dev;
    out->flash_kb = (cfg[1] & BLSIM_IN_FLASH_MAX) != 0 ? dev->flash_kb_max : dev->flash_kb_min;
    out->baud = (cfg[1] & BLSIM_IN_9600) != 0 ? 9600 : 0;
    out->boot0 = (cfg[0] & BLSIM_IN_BOOT0) != 0;
    out->readout_protected = (cfg[0] & BLSIM_IN_RDP) != 0;
    out->get_checksum = (cfg[0] & BLSIM_IN_CHECKSUM) != 0;
    out->app_banner = (cfg[0] & BLSIM_IN_BANNER) != 0 ? "app\r\n" : NULL;
    out->pid_override = (cfg[1] & BLSIM_IN_CLONE) != 0 ? 0x0413 : 0;
    out->faults.address_quirk =
        (cfg[0] & BLSIM_IN_SILENT_ABORT) != 0 ? BLSIM_ADDRESS_QUIRK_ON : BLSIM_ADDRESS_QUIRK_DEVICE;
    out->faults.max_flash_timings = (cfg[0] & BLSIM_IN_SLOW) != 0;
    if ((cfg[1] & BLSIM_IN_NOISE) != 0) {
        out->faults.seed = cfg[1] >> 6;
        out->faults.bit_flip_rate = 1e-3;
        out->faults.drop_rate = 1e-3;
        out->faults.insert_rate = 1e-3;
    }
    out->faults.nack_at_ack = (cfg[1] & BLSIM_IN_NACK) != 0 ? 3 : 0;
    out->faults.reset_in_command = (cfg[1] & BLSIM_IN_CUT) != 0 ? 2 : 0;
}

#endif

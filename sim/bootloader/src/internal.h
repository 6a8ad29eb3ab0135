/*
 * Shared between the bootloader model's source files.
 */
#ifndef BLSIM_INTERNAL_H
#define BLSIM_INTERNAL_H

#include "blsim/blsim.h"
#include "vmcu/vmcu.h"

/* Resets the virtual F1 and replays what the ROM leaves behind when its Go
 * jumps (go_state.c); the ROM measured `host_baud` with an HSI off by
 * `hsi_ppm`. */
void blsim_apply_go_state(vmcu *m, blsim_go_state state, uint32_t host_baud, int32_t hsi_ppm);

#endif /* BLSIM_INTERNAL_H */

/*
 * A port over the in-process bootloader model (sim_port.h) whose master can
 * lose power: after `budget` bytes sent or `writes_left` write calls, the
 * sentence in progress is cut and every later call fails, as a master that
 * has reset never finishes what it was saying. rig tests then run the job
 * again (master_port_revive) and check that the target converges.
 */
#ifndef TEST_MASTER_PORT_H
#define TEST_MASTER_PORT_H

#include "sim_port.h"

#include <stdbool.h>
#include <stdint.h>

#define MASTER_PORT_UNLIMITED UINT32_MAX

typedef struct master_port {
    sim_port inner;
    uint32_t budget;      /* bytes the master may still send */
    uint32_t writes_left; /* write calls it may still make */
    bool dead;
    unsigned pin_changes; /* BOOT0/NRST calls, to prove a target was not touched */
} master_port;

/* BOOT0 and NRST wired to the model's pins; ctx is the master_port. */
extern const stm32isp_port_ops master_port_ops;

/* A healthy master on `sim`, with no power loss planned. */
void master_port_init(master_port *p, blsim *sim);
/* The master is back after its power loss, with none planned. */
void master_port_revive(master_port *p);

#endif

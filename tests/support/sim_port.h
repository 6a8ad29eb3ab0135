/*
 * A port (stm32isp_port_ops) over the in-process bootloader model: the
 * library's I/O goes to blsim on its virtual clock, so tests are fast and
 * deterministic and see exactly a real part's timing.
 */
#ifndef TEST_SIM_PORT_H
#define TEST_SIM_PORT_H

#include "blsim/blsim.h"
#include "stm32isp/port.h"

typedef struct sim_port {
    blsim *sim;
    unsigned log_lines;
} sim_port;

/* BOOT0 and NRST wired to the model's pins. */
extern const stm32isp_port_ops sim_port_ops_with_pins;
/* A plain serial link: the target must already be in its bootloader. */
extern const stm32isp_port_ops sim_port_ops_no_pins;

#endif

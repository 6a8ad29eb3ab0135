/*
 * The byte-level steps of the 24Cxx model: what the part does at each event
 * of an I2C transfer, and nothing about time on the wire. Both front ends
 * drive the part through these and only these, so the protocol is written
 * once:
 *
 * - eesim.c's transfer-level functions (eesim_write, eesim_write_read,
 *   eesim_read), which also charge each step's bit times to the clock;
 * - bus.c's bit-level front end (eesim_bus), which finds the steps in the
 *   SCL/SDA edges a master drives and takes time from the bench's clock.
 *
 * Private to the library: the model's state stays in eesim.c.
 */
#ifndef EESIM_CORE_H
#define EESIM_CORE_H

#include "eesim/eesim.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * START. Inside a transfer whose address the part acknowledged (and which
 * it still follows) this is a repeated START: the transfer goes on (the
 * dummy write of a random read), but the page buffer is dropped, because
 * only a STOP commits. Anywhere else it opens a new transfer: it is counted
 * in eesim_stats.transfers, and the transfer-counted faults apply to its
 * first address byte. Either way the part then expects an address byte.
 */
void eesim_core_start(eesim *sim);

/*
 * The address byte after a START: the 7-bit address << 1 | R/W. Returns
 * STM32ISP_I2C_OK (the part acknowledges), STM32ISP_I2C_NACK_ADDRESS (not
 * its address, busy in a write cycle, unpowered, or the nack-addr fault),
 * or STM32ISP_I2C_BUS_ERROR (the bus-error fault). After anything but OK
 * the part ignores the bus until the next START or STOP.
 */
int eesim_core_address(eesim *sim, uint8_t byte);

/*
 * A byte the master writes after address+W: the word address bytes, then
 * data into the page buffer. Returns STM32ISP_I2C_OK (ACK) or
 * STM32ISP_I2C_NACK_DATA (WP high, a fault, or the part is not in a write);
 * after a NACK the part ignores the bus until the next START or STOP.
 */
int eesim_core_write_byte(eesim *sim, uint8_t byte);

/*
 * The next byte the part sends after address+R (a bit flip fault may
 * change it on the wire); the pointer moves on as it is fetched. Only
 * meaningful after an acknowledged address+R or a master ACK.
 */
uint8_t eesim_core_read_byte(eesim *sim);

/* The master's ACK (true) or NACK after a byte the part sent. Returns true
 * when the part goes on to send another byte. */
bool eesim_core_master_ack(eesim *sim, bool ack);

/*
 * A START or STOP that came in the middle of a byte: the part drops the
 * partial byte and the page buffer, so the STOP that may follow starts no
 * write cycle. The caller then reports the START or STOP itself.
 */
void eesim_core_abort(eesim *sim);

/* STOP: a page buffer loaded in this transfer is committed and a write
 * cycle starts (at the clock's present time); the part goes idle. */
void eesim_core_stop(eesim *sim);

#endif /* EESIM_CORE_H */

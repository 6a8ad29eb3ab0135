/*
 * A minimal AN3155 host for driving the simulator in tests, written directly
 * from the protocol description so that the tests do not depend on the
 * client library they will later check.
 */
#ifndef TEST_SIM_HOST_H
#define TEST_SIM_HOST_H

#include "blsim/blsim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NO_REPLY (-1)

/* A powered target of the named device with BOOT0 high, already booted. */
blsim *host_target(const char *device, const blsim_faults *faults, const char *banner);

/* Receives exactly n bytes, each within timeout_ms; returns the count. */
size_t host_recv(blsim *sim, uint8_t *buf, size_t n, uint32_t timeout_ms);
/* One byte within timeout_ms, or NO_REPLY. */
int host_reply(blsim *sim, uint32_t timeout_ms);
void host_send(blsim *sim, const uint8_t *bytes, size_t n);
void host_send_byte(blsim *sim, uint8_t byte);
/* Sends bytes followed by their XOR. */
void host_send_xor(blsim *sim, const uint8_t *bytes, size_t n);

/* Sends 0x7F and returns the reply. */
int host_sync(blsim *sim);
/* Sends opcode + complement, returns the reply. */
int host_command(blsim *sim, uint8_t opcode);

/* Full commands; each returns the last reply byte (ACK/NACK) or NO_REPLY. */
int host_read(blsim *sim, uint32_t address, uint8_t *out, size_t len);
int host_write(blsim *sim, uint32_t address, const uint8_t *data, size_t len);
int host_erase(blsim *sim, const uint8_t *pages, size_t count);
int host_ext_erase(blsim *sim, const uint16_t *pages, size_t count);
int host_go(blsim *sim, uint32_t address);

/* Pulses NRST with the given BOOT0 level and lets the chip boot. */
void host_reset(blsim *sim, bool boot0);

#endif

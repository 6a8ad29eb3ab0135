#include "sim_host.h"

#include "stm32isp/an3155.h"

#include <stdlib.h>

#define REPLY_MS 1000u /* far above any modelled operation */

blsim *host_target(const char *device, const blsim_faults *faults, const char *banner)
{
    blsim_config cfg = {0};
    cfg.device = blsim_device_find(device);
    cfg.boot0 = true;
    cfg.app_banner = banner;
    if (faults != NULL) {
        cfg.faults = *faults;
    }
    blsim *sim = blsim_new(&cfg);
    if (sim != NULL) {
        blsim_idle(sim, 5000);
    }
    return sim;
}

size_t host_recv(blsim *sim, uint8_t *buf, size_t n, uint32_t timeout_ms)
{
    size_t got = 0;
    while (got < n) {
        size_t r = blsim_host_recv(sim, buf + got, n - got, (uint64_t)timeout_ms * 1000u);
        if (r == 0) {
            break;
        }
        got += r;
    }
    return got;
}

int host_reply(blsim *sim, uint32_t timeout_ms)
{
    uint8_t b;
    return host_recv(sim, &b, 1, timeout_ms) == 1 ? b : NO_REPLY;
}

void host_send(blsim *sim, const uint8_t *bytes, size_t n)
{
    blsim_host_send(sim, bytes, n);
}

void host_send_byte(blsim *sim, uint8_t byte)
{
    blsim_host_send(sim, &byte, 1);
}

void host_send_xor(blsim *sim, const uint8_t *bytes, size_t n)
{
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= bytes[i];
    }
    blsim_host_send(sim, bytes, n);
    blsim_host_send(sim, &x, 1);
}

int host_sync(blsim *sim)
{
    host_send_byte(sim, AN3155_SYNC);
    return host_reply(sim, REPLY_MS);
}

int host_command(blsim *sim, uint8_t opcode)
{
    uint8_t b[2] = {opcode, (uint8_t)~opcode};
    host_send(sim, b, 2);
    return host_reply(sim, REPLY_MS);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Opcode, then the address with its checksum: the start of Read, Write, Go. */
static int command_at(blsim *sim, uint8_t opcode, uint32_t address)
{
    int r = host_command(sim, opcode);
    if (r != AN3155_ACK) {
        return r;
    }
    uint8_t a[4];
    put_be32(a, address);
    host_send_xor(sim, a, 4);
    return host_reply(sim, REPLY_MS);
}

int host_read(blsim *sim, uint32_t address, uint8_t *out, size_t len)
{
    int r = command_at(sim, AN3155_CMD_READ_MEMORY, address);
    if (r != AN3155_ACK) {
        return r;
    }
    uint8_t n[2] = {(uint8_t)(len - 1), (uint8_t) ~(len - 1)};
    host_send(sim, n, 2);
    if ((r = host_reply(sim, REPLY_MS)) != AN3155_ACK) {
        return r;
    }
    return host_recv(sim, out, len, REPLY_MS) == len ? (int)AN3155_ACK : NO_REPLY;
}

int host_write(blsim *sim, uint32_t address, const uint8_t *data, size_t len)
{
    int r = command_at(sim, AN3155_CMD_WRITE_MEMORY, address);
    if (r != AN3155_ACK) {
        return r;
    }
    uint8_t frame[258];
    frame[0] = (uint8_t)(len - 1);
    for (size_t i = 0; i < len; i++) {
        frame[1 + i] = data[i];
    }
    host_send_xor(sim, frame, len + 1);
    return host_reply(sim, REPLY_MS);
}

int host_erase(blsim *sim, const uint8_t *pages, size_t count)
{
    int r = host_command(sim, AN3155_CMD_ERASE);
    if (r != AN3155_ACK) {
        return r;
    }
    if (pages == NULL) {
        uint8_t global[2] = {0xFF, 0x00};
        host_send(sim, global, 2);
        return host_reply(sim, REPLY_MS);
    }
    uint8_t frame[257];
    frame[0] = (uint8_t)(count - 1);
    for (size_t i = 0; i < count; i++) {
        frame[1 + i] = pages[i];
    }
    host_send_xor(sim, frame, count + 1);
    return host_reply(sim, REPLY_MS);
}

int host_ext_erase(blsim *sim, const uint16_t *pages, size_t count)
{
    int r = host_command(sim, AN3155_CMD_EXTENDED_ERASE);
    if (r != AN3155_ACK) {
        return r;
    }
    uint8_t frame[2 + 2 * 512];
    frame[0] = (uint8_t)((count - 1) >> 8);
    frame[1] = (uint8_t)(count - 1);
    for (size_t i = 0; i < count; i++) {
        frame[2 + 2 * i] = (uint8_t)(pages[i] >> 8);
        frame[3 + 2 * i] = (uint8_t)pages[i];
    }
    host_send_xor(sim, frame, 2 + 2 * count);
    return host_reply(sim, REPLY_MS);
}

int host_go(blsim *sim, uint32_t address)
{
    return command_at(sim, AN3155_CMD_GO, address);
}

void host_reset(blsim *sim, bool boot0)
{
    blsim_set_boot0(sim, boot0);
    blsim_set_nrst(sim, false);
    blsim_idle(sim, 1000);
    blsim_set_nrst(sim, true);
    blsim_idle(sim, 5000);
}

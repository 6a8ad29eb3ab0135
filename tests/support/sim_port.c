#include "sim_port.h"

static int port_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    sim_port *p = ctx;
    return (int)blsim_host_recv(p->sim, buf, len, (uint64_t)timeout_ms * 1000u);
}

static int port_write(void *ctx, const uint8_t *buf, size_t len)
{
    sim_port *p = ctx;
    blsim_host_send(p->sim, buf, len);
    return 0;
}

static uint32_t port_now_ms(void *ctx)
{
    sim_port *p = ctx;
    return (uint32_t)(blsim_now_ns(p->sim) / 1000000u);
}

static void port_delay_ms(void *ctx, uint32_t ms)
{
    sim_port *p = ctx;
    blsim_idle(p->sim, (uint64_t)ms * 1000u);
}

static int port_set_boot0(void *ctx, bool high)
{
    sim_port *p = ctx;
    blsim_set_boot0(p->sim, high);
    return 0;
}

static int port_set_reset(void *ctx, bool asserted)
{
    sim_port *p = ctx;
    blsim_set_nrst(p->sim, !asserted);
    return 0;
}

static void port_log(void *ctx, stm32isp_log_level level, const char *msg)
{
    sim_port *p = ctx;
    (void)level;
    (void)msg;
    p->log_lines++;
}

const stm32isp_port_ops sim_port_ops_with_pins = {
    .read = port_read,
    .write = port_write,
    .now_ms = port_now_ms,
    .delay_ms = port_delay_ms,
    .set_boot0 = port_set_boot0,
    .set_reset = port_set_reset,
    .log = port_log,
};

const stm32isp_port_ops sim_port_ops_no_pins = {
    .read = port_read,
    .write = port_write,
    .now_ms = port_now_ms,
    .delay_ms = port_delay_ms,
    .log = port_log,
};

#include "master_port.h"

static int mp_read(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    master_port *p = ctx;
    return p->dead ? -1 : sim_port_ops_with_pins.read(&p->inner, buf, len, timeout_ms);
}

static int mp_write(void *ctx, const uint8_t *buf, size_t len)
{
    master_port *p = ctx;
    if (p->dead) {
        return -1;
    }
    if (p->writes_left != MASTER_PORT_UNLIMITED && p->writes_left-- == 0) {
        p->dead = true;
        return -1;
    }
    if (p->budget != MASTER_PORT_UNLIMITED && len > p->budget) {
        sim_port_ops_with_pins.write(&p->inner, buf, p->budget);
        p->dead = true;
        return -1;
    }
    if (p->budget != MASTER_PORT_UNLIMITED) {
        p->budget -= (uint32_t)len;
    }
    return sim_port_ops_with_pins.write(&p->inner, buf, len);
}

static uint32_t mp_now_ms(void *ctx)
{
    master_port *p = ctx;
    return sim_port_ops_with_pins.now_ms(&p->inner);
}

static void mp_delay_ms(void *ctx, uint32_t ms)
{
    master_port *p = ctx;
    sim_port_ops_with_pins.delay_ms(&p->inner, ms);
}

static int mp_set_boot0(void *ctx, bool high)
{
    master_port *p = ctx;
    p->pin_changes++;
    return p->dead ? -1 : sim_port_ops_with_pins.set_boot0(&p->inner, high);
}

static int mp_set_reset(void *ctx, bool asserted)
{
    master_port *p = ctx;
    p->pin_changes++;
    return p->dead ? -1 : sim_port_ops_with_pins.set_reset(&p->inner, asserted);
}

const stm32isp_port_ops master_port_ops = {
    .read = mp_read,
    .write = mp_write,
    .now_ms = mp_now_ms,
    .delay_ms = mp_delay_ms,
    .set_boot0 = mp_set_boot0,
    .set_reset = mp_set_reset,
};

void master_port_init(master_port *p, blsim *sim)
{
    *p = (master_port){.inner = {.sim = sim}};
    master_port_revive(p);
}

void master_port_revive(master_port *p)
{
    p->dead = false;
    p->budget = MASTER_PORT_UNLIMITED;
    p->writes_left = MASTER_PORT_UNLIMITED;
}

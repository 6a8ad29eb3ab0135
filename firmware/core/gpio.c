#include "gpio.h"

void gpio_config(gpio_pin p, uint32_t cfg, bool level)
{
    gpio_write(p, level);
    volatile uint32_t *cr = p.pin < 8u ? &p.port->CRL : &p.port->CRH;
    unsigned shift = (p.pin & 7u) * 4u;
    *cr = (*cr & ~(0xFu << shift)) | (cfg << shift);
}

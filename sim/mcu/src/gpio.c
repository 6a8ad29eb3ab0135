/*
 * GPIO ports A..E and AFIO (RM0008 section 9: 9.1 pin configurations and
 * table 20, 9.2 GPIO registers, 9.3 alternate function remapping, 9.4
 * AFIO registers).
 *
 * A pin's level is what the MCU and the board drive together: a pin drives
 * only in output or alternate-function mode; open drain only pulls low;
 * input pull-up/down are weak (ODR picks which). A floating pin reads low.
 */
#include "internal.h"

#define MODE_INPUT 0u
#define CNF_ANALOG 0u
#define CNF_FLOAT  1u
#define CNF_PULL   2u

/* What a pin's driver does, in order of strength. */
typedef enum level_drive {
    DRIVE_NONE,
    DRIVE_WEAK_LOW,
    DRIVE_WEAK_HIGH,
    DRIVE_STRONG_LOW,
    DRIVE_STRONG_HIGH,
} level_drive;

static const char port_letter[VMCU_PORTS] = {'A', 'B', 'C', 'D', 'E'};

void gpio_reset(vmcu *m)
{
    for (unsigned p = 0; p < VMCU_PORTS; p++) {
        gpio_state *g = &m->gpio[p];
        g->crl = 0x44444444u; /* every pin a floating input */
        g->crh = 0x44444444u;
        g->odr = 0;
        g->lckr = 0;
    }
    m->afio_mapr = 0;
    m->afio_evcr = 0;
    for (unsigned i = 0; i < 4; i++) {
        m->afio_exticr[i] = 0;
    }
}

unsigned gpio_mode(const vmcu *m, unsigned port, unsigned pin)
{
    const gpio_state *g = &m->gpio[port];
    uint32_t cr = pin < 8u ? g->crl : g->crh;
    return (cr >> (4u * (pin % 8u))) & 0xFu;
}

/* What the MCU does to the pin. */
static level_drive mcu_drive(const vmcu *m, unsigned port, unsigned pin)
{
    unsigned mode = gpio_mode(m, port, pin);
    unsigned cnf = mode >> 2;
    bool odr = ((m->gpio[port].odr >> pin) & 1u) != 0;
    if ((mode & 3u) == MODE_INPUT) {
        if (cnf == CNF_PULL) {
            return odr ? DRIVE_WEAK_HIGH : DRIVE_WEAK_LOW;
        }
        return DRIVE_NONE;
    }
    bool open_drain = (cnf & 1u) != 0;
    /* An alternate function's output idles high (a USART's TX between
     * frames); frames themselves travel through the USART model. */
    bool high = (cnf & 2u) != 0 ? true : odr;
    if (open_drain) {
        return high ? DRIVE_NONE : DRIVE_STRONG_LOW;
    }
    return high ? DRIVE_STRONG_HIGH : DRIVE_STRONG_LOW;
}

static level_drive board_drive(const vmcu *m, unsigned port, unsigned pin)
{
    switch ((vmcu_drive)m->gpio[port].drive[pin]) {
    case VMCU_DRIVE_LOW:
        return DRIVE_STRONG_LOW;
    case VMCU_DRIVE_HIGH:
        return DRIVE_STRONG_HIGH;
    case VMCU_DRIVE_PULL_UP:
        return DRIVE_WEAK_HIGH;
    case VMCU_DRIVE_PULL_DOWN:
        return DRIVE_WEAK_LOW;
    default:
        return DRIVE_NONE;
    }
}

static bool resolve(level_drive a, level_drive b)
{
    bool a_strong = a >= DRIVE_STRONG_LOW, b_strong = b >= DRIVE_STRONG_LOW;
    if (a_strong && b_strong) {
        return a == DRIVE_STRONG_HIGH && b == DRIVE_STRONG_HIGH; /* a fight: low wins */
    }
    if (a_strong || b_strong) {
        return (a_strong ? a : b) == DRIVE_STRONG_HIGH;
    }
    if (a != DRIVE_NONE && b != DRIVE_NONE) {
        return a == DRIVE_WEAK_HIGH && b == DRIVE_WEAK_HIGH;
    }
    return a == DRIVE_WEAK_HIGH || b == DRIVE_WEAK_HIGH;
}

bool vmcu_pin_level(const vmcu *m, unsigned port, unsigned pin)
{
    if (port >= VMCU_PORTS || pin > 15u) {
        return false;
    }
    return resolve(mcu_drive(m, port, pin), board_drive(m, port, pin));
}

bool vmcu_pin_driven_by_mcu(const vmcu *m, unsigned port, unsigned pin)
{
    return port < VMCU_PORTS && pin <= 15u && (gpio_mode(m, port, pin) & 3u) != MODE_INPUT;
}

bool vmcu_pin_pulled_low_by_mcu(const vmcu *m, unsigned port, unsigned pin)
{
    return port < VMCU_PORTS && pin <= 15u && mcu_drive(m, port, pin) == DRIVE_STRONG_LOW;
}

static void check_contention(vmcu *m, unsigned port, unsigned pin)
{
    level_drive a = mcu_drive(m, port, pin), b = board_drive(m, port, pin);
    if (a >= DRIVE_STRONG_LOW && b >= DRIVE_STRONG_LOW && a != b) {
        vmcu_logf(m, "P%c%u: the MCU drives it %s while the board drives it %s", port_letter[port],
                  pin, a == DRIVE_STRONG_HIGH ? "high" : "low",
                  b == DRIVE_STRONG_HIGH ? "high" : "low");
    }
}

void vmcu_pin_drive(vmcu *m, unsigned port, unsigned pin, vmcu_drive drive)
{
    if (port >= VMCU_PORTS || pin > 15u) {
        return;
    }
    m->gpio[port].drive[pin] = (uint8_t)drive;
    check_contention(m, port, pin);
}

static void check_port(vmcu *m, unsigned port)
{
    for (unsigned pin = 0; pin < 16u; pin++) {
        check_contention(m, port, pin);
    }
}

uint32_t gpio_read(vmcu *m, unsigned port, uint32_t offset)
{
    gpio_state *g = &m->gpio[port];
    switch (offset) {
    case 0x00:
        return g->crl;
    case 0x04:
        return g->crh;
    case 0x08: {
        uint32_t idr = 0;
        for (unsigned pin = 0; pin < 16u; pin++) {
            unsigned mode = gpio_mode(m, port, pin);
            bool analog = (mode & 3u) == MODE_INPUT && (mode >> 2) == CNF_ANALOG;
            if (!analog && vmcu_pin_level(m, port, pin)) {
                idr |= 1u << pin; /* an analog input reads 0 (RM0008 9.1.10) */
            }
        }
        return idr;
    }
    case 0x0C:
        return g->odr;
    case 0x10:
    case 0x14:
        return 0;
    case 0x18:
        return g->lckr;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "read of GPIO%c offset 0x%02x (not modelled)",
                          port_letter[port], offset);
        return 0;
    }
}

/* Tells the board about every pin whose drive a register write changed. */
static void report_changes(vmcu *m, unsigned port, const level_drive before[16])
{
    if (m->cfg.ops == NULL || m->cfg.ops->pin_change == NULL) {
        return;
    }
    for (unsigned pin = 0; pin < 16u; pin++) {
        if (mcu_drive(m, port, pin) != before[pin]) {
            m->cfg.ops->pin_change(m->cfg.ctx, port, pin, vmcu_now_ns(m));
        }
    }
}

void gpio_write(vmcu *m, unsigned port, uint32_t offset, uint32_t value)
{
    gpio_state *g = &m->gpio[port];
    vmcu_activity(m);
    level_drive before[16];
    for (unsigned pin = 0; pin < 16u; pin++) {
        before[pin] = mcu_drive(m, port, pin);
    }
    switch (offset) {
    case 0x00:
        g->crl = value;
        break;
    case 0x04:
        g->crh = value;
        break;
    case 0x08:
        return; /* IDR is read only */
    case 0x0C:
        g->odr = value & 0xFFFFu;
        break;
    case 0x10: /* BSRR: set wins over reset */
        g->odr = (g->odr & ~(value >> 16)) | (value & 0xFFFFu);
        break;
    case 0x14:
        g->odr &= ~(value & 0xFFFFu);
        break;
    case 0x18:
        g->lckr = value & 0x1FFFFu; /* the lock sequence itself is not modelled */
        return;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "write of GPIO%c offset 0x%02x (not modelled)",
                          port_letter[port], offset);
        return;
    }
    check_port(m, port);
    report_changes(m, port, before);
}

uint32_t afio_read(vmcu *m, unsigned unit, uint32_t offset)
{
    (void)unit; /* one of a kind */
    switch (offset) {
    case 0x00:
        return m->afio_evcr;
    case 0x04:
        return m->afio_mapr & ~(7u << 24); /* SWJ_CFG is write only */
    case 0x08:
    case 0x0C:
    case 0x10:
    case 0x14:
        return m->afio_exticr[(offset - 0x08u) / 4u];
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "read of AFIO offset 0x%02x (not modelled)",
                          offset);
        return 0;
    }
}

void afio_write(vmcu *m, unsigned unit, uint32_t offset, uint32_t value)
{
    (void)unit; /* one of a kind */
    vmcu_activity(m);
    switch (offset) {
    case 0x00:
        m->afio_evcr = value & 0xFFu;
        return;
    case 0x04:
        m->afio_mapr = value;
        return;
    case 0x08:
    case 0x0C:
    case 0x10:
    case 0x14:
        m->afio_exticr[(offset - 0x08u) / 4u] = value & 0xFFFFu;
        return;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "write of AFIO offset 0x%02x (not modelled)",
                          offset);
        return;
    }
}

/* RM0008 9.3.8: USART1 PA9/PA10, remapped PB6/PB7; USART2 PA2/PA3,
 * remapped PD5/PD6; USART3 PB10/PB11, partly remapped PC10/PC11, fully
 * PD8/PD9. */
void usart_pins(const vmcu *m, unsigned index, unsigned *tx_port, unsigned *tx_pin,
                unsigned *rx_port, unsigned *rx_pin)
{
    uint32_t mapr = m->afio_mapr;
    switch (index) {
    case 0:
        if ((mapr & (1u << 2)) != 0) {
            *tx_port = *rx_port = VMCU_PORT_B;
            *tx_pin = 6;
            *rx_pin = 7;
        } else {
            *tx_port = *rx_port = VMCU_PORT_A;
            *tx_pin = 9;
            *rx_pin = 10;
        }
        return;
    case 1:
        if ((mapr & (1u << 3)) != 0) {
            *tx_port = *rx_port = VMCU_PORT_D;
            *tx_pin = 5;
            *rx_pin = 6;
        } else {
            *tx_port = *rx_port = VMCU_PORT_A;
            *tx_pin = 2;
            *rx_pin = 3;
        }
        return;
    default:
        switch ((mapr >> 4) & 3u) {
        case 1:
            *tx_port = *rx_port = VMCU_PORT_C;
            *tx_pin = 10;
            *rx_pin = 11;
            return;
        case 3:
            *tx_port = *rx_port = VMCU_PORT_D;
            *tx_pin = 8;
            *rx_pin = 9;
            return;
        default:
            *tx_port = *rx_port = VMCU_PORT_B;
            *tx_pin = 10;
            *rx_pin = 11;
            return;
        }
    }
}

/*
 * USART1..3 (RM0008 section 27: 27.3.2 transmitter, 27.3.3 receiver, 27.3.4
 * baud rate, 27.6 registers) and the wire between two UARTs.
 *
 * A frame is clocked at the rate BRR and the bus clock give (baud = PCLK /
 * BRR: USARTDIV = BRR / 16 with 16 times oversampling), with the word
 * length, parity and stop bits of CR1/CR2. It leaves the chip only through
 * a TX pin in alternate-function output mode; it is received only through
 * an RX pin in input mode. The far side gets what vmcu_uart_receive()
 * makes of it.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>

#define SR_PE      (1u << 0)
#define SR_FE      (1u << 1)
#define SR_NE      (1u << 2)
#define SR_ORE     (1u << 3)
#define SR_IDLE    (1u << 4)
#define SR_RXNE    (1u << 5)
#define SR_TC      (1u << 6)
#define SR_TXE     (1u << 7)
#define SR_ERRORS  (SR_PE | SR_FE | SR_NE | SR_ORE | SR_IDLE)
#define CR1_RE     (1u << 2)
#define CR1_TE     (1u << 3)
#define CR1_IDLEIE (1u << 4)
#define CR1_RXNEIE (1u << 5)
#define CR1_TCIE   (1u << 6)
#define CR1_TXEIE  (1u << 7)
#define CR1_PEIE   (1u << 8)
#define CR1_PS     (1u << 9)
#define CR1_PCE    (1u << 10)
#define CR1_M      (1u << 12)
#define CR1_UE     (1u << 13)

static const uint32_t bases[3] = {USART1_BASE, USART2_BASE, USART3_BASE};

/* ------------------------------------------------------------------------- */
/* The wire                                                                   */

unsigned vmcu_uart_frame_bits(const vmcu_uart_frame *frame)
{
    return 1u + frame->data_bits + (frame->parity != VMCU_PARITY_NONE ? 1u : 0u) + frame->stop_bits;
}

static unsigned parity_bit(uint16_t data, unsigned bits, vmcu_parity parity)
{
    unsigned ones = (unsigned)__builtin_popcount(data & ((1u << bits) - 1u)) & 1u;
    return parity == VMCU_PARITY_EVEN ? ones : ones ^ 1u;
}

/* The sender's line level `x` bit times after its start bit began. */
static unsigned line_level(const vmcu_uart_frame *sent, uint16_t data, double x)
{
    if (x < 1.0) {
        return 0; /* start bit */
    }
    unsigned bit = (unsigned)x - 1u;
    if (bit < sent->data_bits) {
        return (data >> bit) & 1u;
    }
    if (bit == sent->data_bits && sent->parity != VMCU_PARITY_NONE) {
        return parity_bit(data, sent->data_bits, sent->parity);
    }
    return 1; /* stop bits, then the idle line */
}

void vmcu_uart_receive(const vmcu_uart_frame *sent, uint16_t data, const vmcu_uart_frame *receiver,
                       vmcu_uart_received *out)
{
    uint16_t mask = (uint16_t)((1u << receiver->data_bits) - 1u);
    /* A receiver checks only the first stop bit: one that expects fewer
     * than the sender sends takes the frame as its own. */
    bool same_format = sent->data_bits == receiver->data_bits && sent->parity == receiver->parity &&
                       receiver->stop_bits <= sent->stop_bits;
    double deviation = fabs(receiver->baud - sent->baud) / sent->baud;
    *out = (vmcu_uart_received){0};
    if (same_format && deviation <= VMCU_UART_TOLERANCE) {
        out->started = true;
        out->data = data & mask;
        out->parity_bit = (uint8_t)parity_bit(data, receiver->data_bits, receiver->parity);
        out->intact = true;
        return;
    }
    /* The receiver samples the middle of each of its own bit times. */
    double ratio = sent->baud / receiver->baud;
    if (line_level(sent, data, 0.5 * ratio) != 0) {
        return; /* no valid start bit: nothing received */
    }
    out->started = true;
    unsigned k = 1;
    for (unsigned i = 0; i < receiver->data_bits; i++, k++) {
        out->data |= (uint16_t)(line_level(sent, data, (k + 0.5) * ratio) << i);
    }
    if (receiver->parity != VMCU_PARITY_NONE) {
        unsigned p = line_level(sent, data, (k + 0.5) * ratio);
        out->parity_bit = (uint8_t)p;
        out->parity_error = p != parity_bit(out->data, receiver->data_bits, receiver->parity);
        k++;
    }
    /* Only the first stop bit is checked (RM0008 27.3.3). */
    out->framing_error = line_level(sent, data, (k + 0.5) * ratio) == 0;
    if (deviation > VMCU_UART_TOLERANCE && !out->parity_error && !out->framing_error &&
        out->data == (data & mask)) {
        /* The middle of every bit still fell inside it, but with the rates
         * this far apart a real receiver (its start edge found up to 1/16
         * bit late, the sender's edges not ideal) loses the bits nearest
         * the end: the last data bit is taken wrong, with a framing error.
         * Beyond the tolerance a link never works by luck in the model. */
        out->data ^= (uint16_t)(1u << (receiver->data_bits - 1u));
        out->framing_error = true;
    }
}

/* ------------------------------------------------------------------------- */
/* The peripheral                                                             */

static usart_state *usart(vmcu *m, unsigned index)
{
    return &m->usart[index];
}

static uint32_t bus_hz(const vmcu *m, unsigned index)
{
    return index == 0 ? m->rcc.pclk2_hz : m->rcc.pclk1_hz;
}

static void frame_of(const vmcu *m, unsigned index, vmcu_uart_frame *f)
{
    const usart_state *u = &m->usart[index];
    unsigned word = (u->cr1 & CR1_M) != 0 ? 9u : 8u;
    bool parity = (u->cr1 & CR1_PCE) != 0;
    unsigned stop = (u->cr2 >> 12) & 3u; /* 00: 1, 01: 0.5, 10: 2, 11: 1.5 */
    f->baud = u->brr != 0 ? (double)bus_hz(m, index) / (double)u->brr : 0.0;
    f->data_bits = (uint8_t)(parity ? word - 1u : word);
    f->parity = !parity                  ? VMCU_PARITY_NONE
                : (u->cr1 & CR1_PS) != 0 ? VMCU_PARITY_ODD
                                         : VMCU_PARITY_EVEN;
    f->stop_bits = stop >= 2u ? 2u : 1u;
}

static const char *frame_text(const vmcu_uart_frame *f, char *buf, size_t size)
{
    snprintf(buf, size, "%.0f baud %u%c%u", f->baud, f->data_bits,
             f->parity == VMCU_PARITY_NONE   ? 'N'
             : f->parity == VMCU_PARITY_EVEN ? 'E'
                                             : 'O',
             f->stop_bits);
    return buf;
}

static const char port_letter[VMCU_PORTS] = {'A', 'B', 'C', 'D', 'E'};

void usart_reset_one(vmcu *m, unsigned index)
{
    m->usart[index] = (usart_state){.base = bases[index], .sr = SR_TXE | SR_TC};
}

void usart_reset(vmcu *m)
{
    for (unsigned i = 0; i < 3; i++) {
        usart_reset_one(m, i);
    }
}

void usart_clock_changed(vmcu *m)
{
    (void)m; /* a frame in flight keeps its timing; the next uses the new clock */
}

/* Starts the next frame if the transmitter is free and a word waits. */
static void start_frame(vmcu *m, unsigned index, uint64_t at_ps)
{
    usart_state *u = usart(m, index);
    if (u->shifting || !u->tdr_full || (u->cr1 & (CR1_UE | CR1_TE)) != (CR1_UE | CR1_TE)) {
        return;
    }
    vmcu_uart_frame f;
    frame_of(m, index, &f);
    if (f.baud <= 0.0) {
        vmcu_logf(m, "USART%u: a word is written with BRR = 0: nothing is sent", index + 1u);
        return;
    }
    u->tdr_full = false; /* the word moves to the shift register: TXE */
    u->shifting = true;  /* TC clears only by SR-then-DR or a 0 written (RM0008 27.6.1) */
    double frame_ps = vmcu_uart_frame_bits(&f) * 1e12 / f.baud;
    u->shift_end_ps = at_ps + (uint64_t)(frame_ps + 0.5);
    uint16_t word = (uint16_t)(u->tdr & ((1u << f.data_bits) - 1u));
    unsigned tx_port, tx_pin, rx_port, rx_pin;
    usart_pins(m, index, &tx_port, &tx_pin, &rx_port, &rx_pin);
    unsigned mode = gpio_mode(m, tx_port, tx_pin);
    /* MODE != 00 and CNF = 1x: alternate-function output (RM0008 9.1.11). */
    if ((mode & 3u) == 0 || (mode & 8u) == 0) {
        char text[48];
        vmcu_logf(m,
                  "USART%u sends 0x%02x at %s but P%c%u is not an alternate-function output "
                  "(CR nibble 0x%x): nothing leaves the chip",
                  index + 1u, word, frame_text(&f, text, sizeof text), port_letter[tx_port], tx_pin,
                  mode);
    } else if (m->cfg.ops != NULL && m->cfg.ops->uart_tx != NULL) {
        m->cfg.ops->uart_tx(m->cfg.ctx, tx_port, tx_pin, word, &f, u->shift_end_ps / PS_PER_NS);
    }
    if ((m->run_flags & VMCU_RUN_STOP_ON_TX) != 0) {
        vmcu_request_stop(m, VMCU_STOP_TX, "USART%u began a frame", index + 1u);
    }
}

uint64_t usart_next_event(const vmcu *m)
{
    uint64_t e = NEVER;
    for (unsigned i = 0; i < 3; i++) {
        if (m->usart[i].shifting && m->usart[i].shift_end_ps < e) {
            e = m->usart[i].shift_end_ps;
        }
    }
    return e;
}

void usart_events(vmcu *m)
{
    for (unsigned i = 0; i < 3; i++) {
        usart_state *u = usart(m, i);
        if (!u->shifting || u->shift_end_ps > m->now_ps) {
            continue;
        }
        u->shifting = false;
        uint64_t end = u->shift_end_ps;
        start_frame(m, i, end);
        if (!u->shifting) {
            u->sr |= SR_TC; /* the last stop bit is out and nothing waits */
        }
    }
}

bool usart_irq_line(const vmcu *m, unsigned index)
{
    const usart_state *u = &m->usart[index];
    uint32_t sr = u->sr | (u->tdr_full ? 0u : SR_TXE);
    uint32_t cr1 = u->cr1;
    return ((cr1 & CR1_RXNEIE) != 0 && (sr & (SR_RXNE | SR_ORE)) != 0) ||
           ((cr1 & CR1_TXEIE) != 0 && (sr & SR_TXE) != 0) ||
           ((cr1 & CR1_TCIE) != 0 && (sr & SR_TC) != 0) ||
           ((cr1 & CR1_PEIE) != 0 && (sr & SR_PE) != 0) ||
           ((cr1 & CR1_IDLEIE) != 0 && (sr & SR_IDLE) != 0);
}

uint32_t usart_read(vmcu *m, unsigned index, uint32_t offset)
{
    usart_state *u = usart(m, index);
    switch (offset) {
    case 0x00: {
        uint32_t sr = (u->sr & ~SR_TXE) | (u->tdr_full ? 0u : SR_TXE);
        u->sr_read = true;
        bool idle_line = (sr & (SR_RXNE | SR_TXE | SR_TC)) == (SR_TXE | SR_TC);
        if (idle_line && (u->cr1 & (CR1_UE | CR1_RE)) == (CR1_UE | CR1_RE)) {
            if (++m->idle_polls >= IDLE_POLLS && (m->run_flags & VMCU_RUN_STOP_WHEN_WAITING) != 0) {
                vmcu_request_stop(m, VMCU_STOP_WAITING, "polling USART%u for input", index + 1u);
            }
        }
        return sr;
    }
    case 0x04: {
        uint32_t v = u->rdr;
        u->sr &= ~SR_RXNE;
        if (u->sr_read) {
            u->sr &= ~SR_ERRORS; /* SR then DR clears the error flags */
        }
        u->sr_read = false;
        vmcu_replan(m);
        return v;
    }
    case 0x08:
        return u->brr;
    case 0x0C:
        return u->cr1;
    case 0x10:
        return u->cr2;
    case 0x14:
        return u->cr3;
    case 0x18:
        return u->gtpr;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "read of USART%u offset 0x%02x (not modelled)",
                          index + 1u, offset);
        return 0;
    }
}

void usart_write(vmcu *m, unsigned index, uint32_t offset, uint32_t value)
{
    usart_state *u = usart(m, index);
    vmcu_activity(m);
    switch (offset) {
    case 0x00:
        /* RXNE and TC clear when written 0; the others are read only. */
        u->sr &= value | ~(SR_RXNE | SR_TC);
        return;
    case 0x04:
        if ((u->cr1 & CR1_UE) == 0) {
            vmcu_logf(m, "USART%u: DR written with UE = 0: the word is lost", index + 1u);
            return;
        }
        if (u->tdr_full) {
            vmcu_logf(m, "USART%u: DR written while TXE = 0: the waiting word is overwritten",
                      index + 1u);
        }
        u->tdr = value & 0x1FFu;
        u->tdr_full = true;
        if (u->sr_read) {
            u->sr &= ~SR_TC; /* SR then DR clears TC */
        }
        u->sr_read = false;
        start_frame(m, index, m->now_ps);
        return;
    case 0x08:
        u->brr = value & 0xFFFFu;
        return;
    case 0x0C:
        u->cr1 = value & 0x3FFFu;
        start_frame(m, index, m->now_ps);
        return;
    case 0x10:
        u->cr2 = value & 0x7F7Fu;
        return;
    case 0x14:
        u->cr3 = value & 0x7FFu;
        return;
    case 0x18:
        u->gtpr = value & 0xFFFFu;
        return;
    default:
        vmcu_request_stop(m, VMCU_STOP_UNMODELLED, "write of USART%u offset 0x%02x (not modelled)",
                          index + 1u, offset);
        return;
    }
}

bool vmcu_uart_deliver(vmcu *m, unsigned port, unsigned pin, uint16_t word,
                       const vmcu_uart_frame *frame, uint64_t end_ns)
{
    (void)end_ns; /* the embedder has run the MCU up to it */
    char sent_text[48], own_text[48];
    for (unsigned i = 0; i < 3; i++) {
        unsigned tx_port, tx_pin, rx_port, rx_pin;
        usart_pins(m, i, &tx_port, &tx_pin, &rx_port, &rx_pin);
        if (rx_port != port || rx_pin != pin) {
            continue;
        }
        usart_state *u = usart(m, i);
        unsigned mode = gpio_mode(m, port, pin);
        bool input = (mode & 3u) == 0 && ((mode >> 2) == 1u || (mode >> 2) == 2u);
        if (!rcc_clock_on(m, bases[i]) || (u->cr1 & (CR1_UE | CR1_RE)) != (CR1_UE | CR1_RE) ||
            !input) {
            vmcu_logf(m, "a frame (0x%02x) reaches P%c%u but USART%u is not receiving there%s",
                      word, port_letter[port], pin, i + 1u,
                      input ? "" : " (the pin is not a floating or pulled input)");
            continue;
        }
        vmcu_uart_frame own;
        frame_of(m, i, &own);
        vmcu_uart_received r;
        if (own.baud <= 0.0) {
            r = (vmcu_uart_received){0};
        } else {
            vmcu_uart_receive(frame, word, &own, &r);
        }
        if (!r.intact) {
            vmcu_logf(m, "USART%u set for %s received 0x%02x sent at %s: %s%s%s (0x%02x)", i + 1u,
                      frame_text(&own, own_text, sizeof own_text), word,
                      frame_text(frame, sent_text, sizeof sent_text),
                      r.started ? "garbage" : "no start bit",
                      r.parity_error ? ", parity error" : "",
                      r.framing_error ? ", framing error" : "", r.data);
        }
        vmcu_activity(m);
        if (!r.started) {
            return true;
        }
        if ((u->sr & SR_RXNE) != 0) {
            u->sr |= SR_ORE; /* the word in DR is kept, the new one lost */
        } else {
            /* With parity on, DR's top data bit is the parity bit received
             * (RM0008 27.6.2). */
            u->rdr =
                r.data |
                (own.parity != VMCU_PARITY_NONE ? (uint32_t)r.parity_bit << own.data_bits : 0u);
            u->sr |= SR_RXNE | (r.parity_error ? SR_PE : 0u) | (r.framing_error ? SR_FE : 0u);
        }
        vmcu_replan(m);
        return true;
    }
    return false;
}

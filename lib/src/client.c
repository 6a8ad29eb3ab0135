/*
 * The AN3155 client. Everything here runs on the master MCU as well as on a
 * PC: no allocation, no formatted output, and no wait without a timeout.
 */
#include "stm32isp/client.h"

#include "stm32isp/an3155.h"

#include <string.h>

#define DEFAULT_BAUD           115200u
#define DEFAULT_SYNC_ATTEMPTS  4u
#define DEFAULT_RETRIES        3u
#define DEFAULT_RESET_PULSE_MS 10u

/* A reply starts within microseconds of the last byte of a command; this
 * margin covers USB-serial latency (up to 16 ms per transfer) and scheduling. */
#define REPLY_MARGIN_MS 50u
/* Input is considered drained after this long without a byte. */
#define QUIET_MS 10u
/* Work done by the bootloader whose datasheet maximum we cannot know before
 * the part is identified (Get, Get ID): generous. */
#define UNKNOWN_WORK_MS 0u
/* After a reset-causing command: the reset itself, option-byte reload and
 * the bootloader's start (about 1.3 ms) with margin. */
#define RESTART_MS 50u
/* The least wait for the answer that ends a readout or write (un)protect,
 * an option-byte write or a mass erase. The datasheet maxima the timeouts
 * are derived from cover one flash operation; the ROM does more around it
 * (an XL-density F1 erases both banks one after the other, an unprotect
 * mass-erases and then rewrites the option bytes), and a client that gives
 * up early sends its recovery into a part that is still busy. */
#define LONG_REPLY_MIN_MS 1000u
/* Extended Erase pages per command: keeps each command's timeout bounded
 * and progress moving. */
#define UNITS_PER_ERASE_COMMAND 32u
/* Framing recovery: bytes sent per burst, bursts. Their product exceeds the
 * longest frame a bootloader may be waiting to complete (a Write: 258). */
#define RECOVERY_BURST  64u
#define RECOVERY_ROUNDS 5u
/* Frame sizes: 256 >> MAX_FRAME_SHIFT at the least, one step up after
 * FRAMES_TO_GROW clean frames in a row. */
#define MAX_FRAME_SHIFT 2u
#define FRAMES_TO_GROW  8u

/* ------------------------------------------------------------------------- */
/* Port access                                                               */

static void log_msg(stm32isp_client *c, stm32isp_log_level level, const char *msg)
{
    if (c->ops->log != NULL) {
        c->ops->log(c->port, level, msg);
    }
}

static stm32isp_err send_bytes(stm32isp_client *c, const uint8_t *buf, size_t len)
{
    if (c->ops->write(c->port, buf, len) != 0) {
        return STM32ISP_ERR_PORT;
    }
    c->stats.bytes_sent += (uint32_t)len;
    return STM32ISP_OK;
}

/* Reads exactly `len` bytes within `timeout_ms` in all. */
static stm32isp_err recv_bytes(stm32isp_client *c, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    uint32_t start = c->ops->now_ms(c->port);
    size_t got = 0;
    while (got < len) {
        uint32_t elapsed = c->ops->now_ms(c->port) - start;
        if (elapsed > timeout_ms) {
            return STM32ISP_ERR_TIMEOUT;
        }
        int n = c->ops->read(c->port, buf + got, len - got, timeout_ms - elapsed);
        if (n < 0) {
            return STM32ISP_ERR_PORT;
        }
        if (n == 0 && c->ops->now_ms(c->port) - start >= timeout_ms) {
            return STM32ISP_ERR_TIMEOUT;
        }
        got += (size_t)n;
        c->stats.bytes_received += (uint32_t)n;
    }
    return STM32ISP_OK;
}

/* Discards whatever the target is still sending: stale bytes from an
 * earlier session or the tail of a reply we gave up on. Bounded. */
static stm32isp_err drain_input(stm32isp_client *c)
{
    uint8_t sink[64];
    for (int i = 0; i < 64; i++) {
        int n = c->ops->read(c->port, sink, sizeof sink, QUIET_MS);
        if (n < 0) {
            return STM32ISP_ERR_PORT;
        }
        if (n == 0) {
            return STM32ISP_OK;
        }
    }
    return STM32ISP_ERR_BAD_REPLY; /* a target that never stops talking */
}

static uint32_t wire_ms(const stm32isp_client *c, uint32_t bytes)
{
    /* 11 bit times per byte (8E1), rounded up. In 32 bits, whole seconds
     * first and then the rest, exact up to 4 Mbaud: a 64-bit division
     * would bring 700 bytes of libgcc into the master firmware. */
    uint32_t baud = c->cfg.baud;
    uint32_t bits = bytes < UINT32_MAX / 11u ? bytes * 11u : UINT32_MAX / 11u * 11u;
    return bits / baud * 1000u + ((bits % baud) * 1000u + baud - 1u) / baud;
}

uint32_t stm32isp_reply_timeout_ms(const stm32isp_client *c, uint32_t reply_bytes, uint32_t work_ms)
{
    /* The work gets half again its datasheet maximum. */
    return wire_ms(c, reply_bytes) + work_ms + work_ms / 2 + REPLY_MARGIN_MS;
}

/* The timeout for the answer that ends one of the long commands (see
 * LONG_REPLY_MIN_MS): what the work's maximum gives, and never less. */
static uint32_t long_reply_timeout_ms(const stm32isp_client *c, uint32_t reply_bytes,
                                      uint32_t work_ms)
{
    uint32_t t = stm32isp_reply_timeout_ms(c, reply_bytes, work_ms);
    return t > LONG_REPLY_MIN_MS ? t : LONG_REPLY_MIN_MS;
}

/* One ACK within timeout_ms; NACK maps to `on_nack`. */
static stm32isp_err expect_ack(stm32isp_client *c, uint32_t timeout_ms, stm32isp_err on_nack)
{
    uint8_t b;
    stm32isp_err err = recv_bytes(c, &b, 1, timeout_ms);
    if (err != STM32ISP_OK) {
        return err;
    }
    if (b == AN3155_ACK) {
        return STM32ISP_OK;
    }
    return b == AN3155_NACK ? on_nack : STM32ISP_ERR_BAD_REPLY;
}

static uint8_t xor_of(const uint8_t *p, size_t n)
{
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= p[i];
    }
    return x;
}

/* Sends bytes followed by their XOR checksum. */
static stm32isp_err send_with_xor(stm32isp_client *c, const uint8_t *p, size_t n)
{
    uint8_t x = xor_of(p, n);
    stm32isp_err err = send_bytes(c, p, n);
    return err != STM32ISP_OK ? err : send_bytes(c, &x, 1);
}

static stm32isp_err send_address(stm32isp_client *c, uint32_t address)
{
    uint8_t a[4] = {(uint8_t)(address >> 24), (uint8_t)(address >> 16), (uint8_t)(address >> 8),
                    (uint8_t)address};
    return send_with_xor(c, a, 4);
}

static bool stop_requested(const stm32isp_client *c)
{
    return c->stop != NULL && *c->stop;
}

/* Opcode and complement, then the ACK. A NACK here means the command is not
 * accepted in this state: on_nack says what that means for this command. */
static stm32isp_err send_opcode(stm32isp_client *c, uint8_t opcode, stm32isp_err on_nack)
{
    if (stop_requested(c)) {
        return STM32ISP_ERR_CANCELLED; /* between two commands: no frame is cut */
    }
    uint8_t b[2] = {opcode, (uint8_t)~opcode};
    c->stats.commands++;
    stm32isp_err err = send_bytes(c, b, 2);
    if (err != STM32ISP_OK) {
        return err;
    }
    return expect_ack(c, stm32isp_reply_timeout_ms(c, 3, 0), on_nack);
}

/* ------------------------------------------------------------------------- */
/* Pins, sync and recovery                                                    */

void stm32isp_client_init(stm32isp_client *c, const stm32isp_port_ops *ops, void *port,
                          const stm32isp_config *cfg)
{
    memset(c, 0, sizeof *c);
    c->ops = ops;
    c->port = port;
    if (cfg != NULL) {
        c->cfg = *cfg;
    }
    if (c->cfg.baud == 0) {
        c->cfg.baud = DEFAULT_BAUD;
    }
    if (c->cfg.sync_attempts == 0) {
        c->cfg.sync_attempts = DEFAULT_SYNC_ATTEMPTS;
    }
    if (c->cfg.command_retries == 0) {
        c->cfg.command_retries = DEFAULT_RETRIES;
    }
    if (c->cfg.reset_pulse_ms == 0) {
        c->cfg.reset_pulse_ms = DEFAULT_RESET_PULSE_MS;
    }
}

const char *stm32isp_phase_name(stm32isp_phase phase)
{
    switch (phase) {
    case STM32ISP_PHASE_CONNECT:
        return "connect";
    case STM32ISP_PHASE_ERASE:
        return "erase";
    case STM32ISP_PHASE_WRITE:
        return "write";
    case STM32ISP_PHASE_VERIFY:
        return "verify";
    case STM32ISP_PHASE_READ:
        return "read";
    case STM32ISP_PHASE_START:
        return "start";
    case STM32ISP_PHASE_CHECK_IMAGE:
        return "check";
    case STM32ISP_PHASE_PROTECT:
        return "protect";
    }
    return "?";
}

void stm32isp_set_progress(stm32isp_client *c, stm32isp_progress_fn fn, void *ctx)
{
    c->progress = fn;
    c->progress_ctx = ctx;
}

void stm32isp_set_stop_flag(stm32isp_client *c, const volatile bool *stop)
{
    c->stop = stop;
}

bool stm32isp_has_reset_lines(const stm32isp_client *c)
{
    return c->ops->set_boot0 != NULL && c->ops->set_reset != NULL;
}

uint32_t stm32isp_boot_wait_ms(const stm32isp_client *c, unsigned attempt)
{
    /* The ROM listens about 1.3 ms after it leaves reset (AN2606); the
     * first step leaves margin for a line with a 100 nF capacitor, the
     * later ones for slower supervisors and RC filters. */
    static const uint16_t schedule_ms[] = {20, 50, 150, 300};
    const unsigned last = sizeof schedule_ms / sizeof schedule_ms[0] - 1u;
    uint32_t ms = schedule_ms[attempt < last ? attempt : last];
    return ms > c->cfg.boot_wait_ms ? ms : c->cfg.boot_wait_ms;
}

stm32isp_err stm32isp_enter_bootloader(stm32isp_client *c)
{
    if (!stm32isp_has_reset_lines(c)) {
        return STM32ISP_ERR_NO_RESET_LINES;
    }
    /* BOOT0 is latched when NRST rises: set it first, hold reset long
     * enough to be seen, then give the bootloader time to start. */
    if (c->ops->set_boot0(c->port, true) != 0 || c->ops->set_reset(c->port, true) != 0) {
        return STM32ISP_ERR_PORT;
    }
    c->ops->delay_ms(c->port, c->cfg.reset_pulse_ms);
    if (c->ops->set_reset(c->port, false) != 0) {
        return STM32ISP_ERR_PORT;
    }
    c->stats.resets++;
    c->ops->delay_ms(c->port, stm32isp_boot_wait_ms(c, c->boot_attempt));
    return drain_input(c);
}

stm32isp_err stm32isp_sync(stm32isp_client *c)
{
    /* No stop check here: a recovery ends with a sync, and it must finish
     * so that the next run finds the bootloader at a command boundary. */
    const uint8_t sync = AN3155_SYNC;
    const uint32_t timeout = stm32isp_reply_timeout_ms(c, 2, 0);
    for (unsigned attempt = 0; attempt < c->cfg.sync_attempts; attempt++) {
        if (attempt > 0 && stm32isp_has_reset_lines(c)) {
            /* A target that took noise for its autobaud byte is deaf until
             * reset: start over rather than talk to it, and wait longer
             * this time in case the 0x7F met NRST still rising. */
            if (c->boot_attempt < UINT8_MAX) {
                c->boot_attempt++;
            }
            stm32isp_err err = stm32isp_enter_bootloader(c);
            if (err != STM32ISP_OK) {
                return err;
            }
        } else {
            stm32isp_err err = drain_input(c);
            if (err == STM32ISP_ERR_PORT) {
                return err;
            }
        }
        /* A bootloader synchronised earlier takes a lone 0x7F as an opcode
         * and says nothing; the second 0x7F completes a bad pair: NACK.
         * Either answer means it is listening, at a command boundary. */
        for (int tries = 0; tries < 2; tries++) {
            uint8_t reply;
            stm32isp_err err = send_bytes(c, &sync, 1);
            if (err != STM32ISP_OK) {
                return err;
            }
            err = recv_bytes(c, &reply, 1, timeout);
            if (err == STM32ISP_ERR_PORT) {
                return err;
            }
            if (err == STM32ISP_OK && (reply == AN3155_ACK || reply == AN3155_NACK)) {
                return drain_input(c) == STM32ISP_ERR_PORT ? STM32ISP_ERR_PORT : STM32ISP_OK;
            }
            if (err == STM32ISP_OK) {
                log_msg(c, STM32ISP_LOG_DEBUG, "sync: unexpected byte instead of ACK");
                break; /* garbage: drain and start this attempt over */
            }
        }
        log_msg(c, STM32ISP_LOG_INFO, "sync: no answer to 0x7F, retrying");
    }
    return STM32ISP_ERR_NO_SYNC;
}

/* With reset lines the surest way back is a reset. Without, 0x7F bytes go
 * out until the pending frame is complete (the target answers), then sync
 * lines up on a NACKed 0x7F pair. */
stm32isp_err stm32isp_recover(stm32isp_client *c)
{
    /* Runs even once the stop flag is up: it is bounded, and it leaves the
     * bootloader at a command boundary after a command that failed. */
    c->stats.resyncs++;
    log_msg(c, STM32ISP_LOG_INFO, "recovering the command framing");
    if (stm32isp_has_reset_lines(c)) {
        stm32isp_err err = stm32isp_enter_bootloader(c);
        return err != STM32ISP_OK ? err : stm32isp_sync(c);
    }
    stm32isp_err err = drain_input(c);
    if (err == STM32ISP_ERR_PORT) {
        return err;
    }
    uint8_t burst[RECOVERY_BURST];
    memset(burst, AN3155_SYNC, sizeof burst);
    for (unsigned round = 0; round < RECOVERY_ROUNDS; round++) {
        uint8_t reply;
        if ((err = send_bytes(c, burst, sizeof burst)) != STM32ISP_OK) {
            return err;
        }
        err = recv_bytes(c, &reply, 1, stm32isp_reply_timeout_ms(c, RECOVERY_BURST + 1, 0));
        if (err == STM32ISP_ERR_PORT) {
            return err;
        }
        if (err == STM32ISP_OK) {
            break;
        }
    }
    /* The burst may have left one 0x7F pending as an opcode; sync's pair
     * logic lines us up either way (a target that reset answers ACK). */
    return stm32isp_sync(c);
}

/* ------------------------------------------------------------------------- */
/* Commands                                                                   */

uint32_t stm32isp_frame_size(const stm32isp_client *c)
{
    return AN3155_MAX_TRANSFER >> c->frame_shift;
}

void stm32isp_note_frame(stm32isp_client *c, bool delivered)
{
    if (delivered) {
        if (c->frame_shift > 0 && ++c->clean_frames >= FRAMES_TO_GROW) {
            c->frame_shift--;
            c->clean_frames = 0;
        }
    } else {
        c->clean_frames = 0;
        if (c->frame_shift < MAX_FRAME_SHIFT) {
            c->frame_shift++;
        }
    }
}

/* Every Read and Write Memory tells how the line carries frames. */
static stm32isp_err note_frame(stm32isp_client *c, stm32isp_err err)
{
    stm32isp_note_frame(c, err == STM32ISP_OK);
    return err;
}

bool stm32isp_offers(const stm32isp_client *c, uint8_t opcode)
{
    for (unsigned i = 0; i < c->target.command_count; i++) {
        if (c->target.commands[i] == opcode) {
            return true;
        }
    }
    return false;
}

stm32isp_err stm32isp_cmd_get(stm32isp_client *c)
{
    stm32isp_err err = send_opcode(c, AN3155_CMD_GET, STM32ISP_ERR_NACK);
    if (err != STM32ISP_OK) {
        return err;
    }
    uint8_t n;
    if ((err = recv_bytes(c, &n, 1, stm32isp_reply_timeout_ms(c, 1, 0))) != STM32ISP_OK) {
        return err;
    }
    /* N + 1 bytes follow: the version and N opcodes. */
    if (n == 0 || n > STM32ISP_MAX_COMMANDS) {
        return STM32ISP_ERR_BAD_REPLY;
    }
    uint8_t body[1 + STM32ISP_MAX_COMMANDS];
    err = recv_bytes(c, body, (size_t)n + 1, stm32isp_reply_timeout_ms(c, n + 1u, 0));
    if (err == STM32ISP_OK) {
        err = expect_ack(c, stm32isp_reply_timeout_ms(c, 1, 0), STM32ISP_ERR_BAD_REPLY);
    }
    if (err != STM32ISP_OK) {
        return err;
    }
    c->target.bootloader_version = body[0];
    c->target.command_count = n;
    memcpy(c->target.commands, body + 1, n);
    bool has_erase = stm32isp_offers(c, AN3155_CMD_ERASE);
    bool has_ext_erase = stm32isp_offers(c, AN3155_CMD_EXTENDED_ERASE);
    c->target.erase_opcode = has_ext_erase ? AN3155_CMD_EXTENDED_ERASE
                             : has_erase   ? AN3155_CMD_ERASE
                                           : 0;
    /* Every bootloader offers one of them: a list without is one that noise
     * damaged (the reply has no checksum), to be asked for again. */
    return c->target.erase_opcode != 0 ? STM32ISP_OK : STM32ISP_ERR_BAD_REPLY;
}

stm32isp_err stm32isp_cmd_get_version(stm32isp_client *c, uint8_t *version, uint8_t options[2])
{
    stm32isp_err err = send_opcode(c, AN3155_CMD_GET_VERSION, STM32ISP_ERR_NACK);
    if (err != STM32ISP_OK) {
        return err;
    }
    uint8_t reply[3];
    err = recv_bytes(c, reply, 3, stm32isp_reply_timeout_ms(c, 3, 0));
    if (err == STM32ISP_OK) {
        err = expect_ack(c, stm32isp_reply_timeout_ms(c, 1, 0), STM32ISP_ERR_BAD_REPLY);
    }
    if (err != STM32ISP_OK) {
        return err;
    }
    *version = reply[0];
    options[0] = reply[1];
    options[1] = reply[2];
    return STM32ISP_OK;
}

stm32isp_err stm32isp_cmd_get_id(stm32isp_client *c, uint16_t *pid)
{
    stm32isp_err err = send_opcode(c, AN3155_CMD_GET_ID, STM32ISP_ERR_NACK);
    if (err != STM32ISP_OK) {
        return err;
    }
    uint8_t reply[3];
    err = recv_bytes(c, reply, 3, stm32isp_reply_timeout_ms(c, 3, 0));
    if (err == STM32ISP_OK) {
        err = expect_ack(c, stm32isp_reply_timeout_ms(c, 1, 0), STM32ISP_ERR_BAD_REPLY);
    }
    if (err != STM32ISP_OK) {
        return err;
    }
    /* N = 1: two PID bytes. Parts with longer IDs put the PID last. */
    if (reply[0] != 0x01) {
        return STM32ISP_ERR_BAD_REPLY;
    }
    *pid = (uint16_t)(reply[1] << 8 | reply[2]);
    return STM32ISP_OK;
}

/* Every part whose ROM the client checks addresses for has its SRAM here
 * (the F1 family, RM0008 §3.3); the host may read all of it. */
#define SRAM_BASE 0x20000000u

static bool within(uint32_t address, size_t len, uint32_t start, uint32_t end)
{
    return start < end && address >= start && address < end && len <= end - address;
}

/*
 * Whether Read (or Write) Memory of [address, address + len) may be sent.
 * To a part whose ROM ACKs an address outside its windows and then takes
 * the length and data for commands (STM32ISP_DEV_ACKS_BAD_ADDRESS) nothing
 * else is ever sent: read from flash (as large as the part says it is),
 * RAM, system memory or the option bytes; write into flash, the user RAM
 * or the option bytes from their base, within one of them. Other parts
 * NACK such an address themselves, and their ROMs serve areas the database
 * does not list (OTP, data EEPROM), so it is left to them; so is a part
 * not yet identified.
 */
static bool range_allowed(const stm32isp_client *c, uint32_t address, size_t len, bool write)
{
    const stm32isp_device *d = c->target.device;
    if (d == NULL || (d->flags & STM32ISP_DEV_ACKS_BAD_ADDRESS) == 0) {
        return true;
    }
    uint32_t flash = stm32isp_device_flash_base(d);
    uint32_t options = stm32isp_device_option_start(d);
    if (within(address, len, flash, flash + c->target.flash_size)) {
        return true;
    }
    if (write) {
        return within(address, len, d->ram_start, d->ram_end) ||
               (address == options && within(address, len, options, stm32isp_device_option_end(d)));
    }
    return within(address, len, SRAM_BASE, d->ram_end) ||
           within(address, len, stm32isp_device_sysmem_start(d), stm32isp_device_sysmem_end(d)) ||
           within(address, len, options, stm32isp_device_option_end(d));
}

static stm32isp_err cmd_read(stm32isp_client *c, uint32_t address, uint8_t *buf, size_t len)
{
    /* A NACK right after the opcode is how readout protection shows. */
    stm32isp_err err = send_opcode(c, AN3155_CMD_READ_MEMORY, STM32ISP_ERR_READ_PROTECTED);
    if (err != STM32ISP_OK) {
        return err;
    }
    if ((err = send_address(c, address)) != STM32ISP_OK ||
        (err = expect_ack(c, stm32isp_reply_timeout_ms(c, 6, 0), STM32ISP_ERR_ADDRESS)) !=
            STM32ISP_OK) {
        return err;
    }
    uint8_t n[2] = {(uint8_t)(len - 1), (uint8_t) ~(len - 1)};
    if ((err = send_bytes(c, n, 2)) != STM32ISP_OK ||
        (err = expect_ack(c, stm32isp_reply_timeout_ms(c, 3, 0), STM32ISP_ERR_ADDRESS)) !=
            STM32ISP_OK) {
        return err;
    }
    return recv_bytes(c, buf, len, stm32isp_reply_timeout_ms(c, (uint32_t)len, 0));
}

stm32isp_err stm32isp_cmd_read(stm32isp_client *c, uint32_t address, uint8_t *buf, size_t len)
{
    if (len == 0 || len > AN3155_MAX_TRANSFER) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    if (!range_allowed(c, address, len, false)) {
        return STM32ISP_ERR_ADDRESS; /* nothing sent: no frame to count */
    }
    return note_frame(c, cmd_read(c, address, buf, len));
}

static uint32_t write_work_ms(const stm32isp_client *c)
{
    /* Before identification assume a slow part. */
    return c->target.device != NULL ? stm32isp_device_write256_ms_max(c->target.device) : 100u;
}

/* Write Memory; the last ACK is waited for `final_timeout_ms`. */
static stm32isp_err cmd_write(stm32isp_client *c, uint32_t address, const uint8_t *data, size_t len,
                              uint32_t final_timeout_ms)
{
    stm32isp_err err = send_opcode(c, AN3155_CMD_WRITE_MEMORY, STM32ISP_ERR_WRITE_FAILED);
    if (err != STM32ISP_OK) {
        return err;
    }
    if ((err = send_address(c, address)) != STM32ISP_OK ||
        (err = expect_ack(c, stm32isp_reply_timeout_ms(c, 6, 0), STM32ISP_ERR_ADDRESS)) !=
            STM32ISP_OK) {
        return err;
    }
    c->frame[0] = (uint8_t)(len - 1);
    memcpy(c->frame + 1, data, len);
    if ((err = send_with_xor(c, c->frame, len + 1)) != STM32ISP_OK) {
        return err;
    }
    return expect_ack(c, final_timeout_ms, STM32ISP_ERR_WRITE_FAILED);
}

stm32isp_err stm32isp_cmd_write(stm32isp_client *c, uint32_t address, const uint8_t *data,
                                size_t len)
{
    if (len == 0 || len > AN3155_MAX_TRANSFER) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    if (!range_allowed(c, address, len, true)) {
        return STM32ISP_ERR_ADDRESS; /* nothing sent: no frame to count */
    }
    return note_frame(c,
                      cmd_write(c, address, data, len,
                                stm32isp_reply_timeout_ms(c, (uint32_t)len + 3, write_work_ms(c))));
}

stm32isp_err stm32isp_cmd_go(stm32isp_client *c, uint32_t address)
{
    stm32isp_err err = send_opcode(c, AN3155_CMD_GO, STM32ISP_ERR_NACK);
    if (err != STM32ISP_OK) {
        return err;
    }
    if ((err = send_address(c, address)) != STM32ISP_OK) {
        return err;
    }
    err = expect_ack(c, stm32isp_reply_timeout_ms(c, 6, 0), STM32ISP_ERR_ADDRESS);
    if (err == STM32ISP_OK) {
        c->connected = false; /* the bootloader session is over */
    }
    return err;
}

static uint32_t unit_erase_ms(const stm32isp_client *c)
{
    return c->target.device != NULL ? stm32isp_device_erase_unit_ms_max(c->target.device) : 5000u;
}

static uint32_t mass_erase_ms(const stm32isp_client *c)
{
    return c->target.device != NULL ? stm32isp_device_mass_erase_ms_max(c->target.device) : 40000u;
}

/* One Erase / Extended Erase command for up to UNITS_PER_ERASE_COMMAND
 * units, or with `units` NULL the global erase (0x43 FF 00, 0x44 FFFF 00). */
static stm32isp_err erase_once(stm32isp_client *c, const uint16_t *units, size_t count)
{
    uint8_t body[2 + 2 * UNITS_PER_ERASE_COMMAND];
    size_t len = 0;
    bool ext = c->target.erase_opcode == AN3155_CMD_EXTENDED_ERASE;
    uint32_t work = units == NULL ? mass_erase_ms(c) : (uint32_t)count * unit_erase_ms(c);
    if (units == NULL) {
        /* 0x43's global code FF 00 has no checksum; 0x44's FFFF has 00. */
        body[len++] = 0xFF;
        body[len++] = ext ? 0xFF : 0x00;
        body[len] = 0x00;
        len += ext ? 1u : 0u;
    } else if (!ext) {
        body[len++] = (uint8_t)(count - 1);
        for (size_t i = 0; i < count; i++) {
            if (units[i] > 0xFF) {
                return STM32ISP_ERR_UNSUPPORTED; /* 0x43 numbers pages with one byte */
            }
            body[len++] = (uint8_t)units[i];
        }
    } else {
        body[len++] = (uint8_t)((count - 1) >> 8);
        body[len++] = (uint8_t)(count - 1);
        for (size_t i = 0; i < count; i++) {
            body[len++] = (uint8_t)(units[i] >> 8);
            body[len++] = (uint8_t)units[i];
        }
    }
    stm32isp_err err = send_opcode(c, c->target.erase_opcode, STM32ISP_ERR_ERASE_FAILED);
    if (err == STM32ISP_OK) {
        err = units == NULL ? send_bytes(c, body, len) : send_with_xor(c, body, len);
    }
    if (err == STM32ISP_OK) {
        uint32_t timeout = units == NULL ? long_reply_timeout_ms(c, (uint32_t)len + 2, work)
                                         : stm32isp_reply_timeout_ms(c, (uint32_t)len + 2, work);
        err = expect_ack(c, timeout, STM32ISP_ERR_ERASE_FAILED);
    }
    return err;
}

/*
 * Erasing is idempotent, so a failed command is sent again after a
 * recovery of the framing, a NACK included: the client refuses protected
 * targets before it erases, so a NACK here is a frame that noise damaged
 * (and a target that means it says it again, within the retries).
 */
static stm32isp_err erase_retried(stm32isp_client *c, const uint16_t *units, size_t count)
{
    if (c->target.erase_opcode == 0) {
        return STM32ISP_ERR_UNSUPPORTED;
    }
    stm32isp_err err;
    for (unsigned attempt = 0;; attempt++) {
        err = erase_once(c, units, count);
        if (err == STM32ISP_OK || err == STM32ISP_ERR_PORT || err == STM32ISP_ERR_UNSUPPORTED ||
            err == STM32ISP_ERR_CANCELLED || attempt >= c->cfg.command_retries) {
            break;
        }
        c->stats.retries++;
        if (stm32isp_recover(c) != STM32ISP_OK) {
            break;
        }
    }
    return err == STM32ISP_ERR_TIMEOUT || err == STM32ISP_ERR_BAD_REPLY ? STM32ISP_ERR_ERASE_FAILED
                                                                        : err;
}

stm32isp_err stm32isp_cmd_erase_units(stm32isp_client *c, const uint16_t *units, size_t count)
{
    for (size_t done = 0; done < count;) {
        size_t n = count - done < UNITS_PER_ERASE_COMMAND ? count - done : UNITS_PER_ERASE_COMMAND;
        stm32isp_err err = erase_retried(c, units + done, n);
        if (err != STM32ISP_OK) {
            return err;
        }
        done += n;
        if (c->progress != NULL) {
            c->progress(c->progress_ctx, STM32ISP_PHASE_ERASE, (uint32_t)done, (uint32_t)count);
        }
    }
    return STM32ISP_OK;
}

stm32isp_err stm32isp_cmd_mass_erase(stm32isp_client *c)
{
    stm32isp_err err = erase_retried(c, NULL, 0);
    if (err == STM32ISP_OK && c->progress != NULL) {
        c->progress(c->progress_ctx, STM32ISP_PHASE_ERASE, 1, 1);
    }
    return err;
}

uint32_t stm32isp_crc32_update(uint32_t crc, const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i + 4 <= len; i += 4) {
        crc ^= (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
               (uint32_t)data[i + 3] << 24;
        for (int bit = 0; bit < 32; bit++) {
            crc = (crc & 0x80000000u) != 0 ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
        }
    }
    return crc;
}

stm32isp_err stm32isp_cmd_get_checksum(stm32isp_client *c, uint32_t address, uint32_t length,
                                       uint32_t *crc)
{
    if (!stm32isp_offers(c, AN3155_CMD_GET_CHECKSUM)) {
        return STM32ISP_ERR_UNSUPPORTED;
    }
    if (length == 0 || address % 4 != 0 || length % 4 != 0) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    stm32isp_err err = send_opcode(c, AN3155_CMD_GET_CHECKSUM, STM32ISP_ERR_READ_PROTECTED);
    if (err != STM32ISP_OK) {
        return err;
    }
    if ((err = send_address(c, address)) != STM32ISP_OK ||
        (err = expect_ack(c, stm32isp_reply_timeout_ms(c, 6, 0), STM32ISP_ERR_ADDRESS)) !=
            STM32ISP_OK) {
        return err;
    }
    if ((err = send_address(c, length)) != STM32ISP_OK ||
        (err = expect_ack(c, stm32isp_reply_timeout_ms(c, 6, 0), STM32ISP_ERR_ADDRESS)) !=
            STM32ISP_OK) {
        return err;
    }
    /* The CRC unit runs at a word per few cycles: a millisecond per 16 KiB
     * leaves a wide margin even at 8 MHz. */
    uint32_t work_ms = length / (16u * 1024u) + 1u;
    err = expect_ack(c, stm32isp_reply_timeout_ms(c, 1, work_ms), STM32ISP_ERR_NACK);
    uint8_t reply[5];
    if (err == STM32ISP_OK) {
        err = recv_bytes(c, reply, 5, stm32isp_reply_timeout_ms(c, 5, 0));
    }
    if (err != STM32ISP_OK) {
        return err;
    }
    if (xor_of(reply, 5) != 0) {
        return STM32ISP_ERR_BAD_REPLY;
    }
    *crc = (uint32_t)reply[0] << 24 | (uint32_t)reply[1] << 16 | (uint32_t)reply[2] << 8 | reply[3];
    return STM32ISP_OK;
}

/* ------------------------------------------------------------------------- */
/* Identification                                                             */

static stm32isp_err read_flash_size(stm32isp_client *c)
{
    const stm32isp_device *d = c->target.device;
    c->target.flash_size = stm32isp_device_flash_size_max(d);
    c->target.flash_size_from_register = false;
    uint8_t kb[2];
    uint32_t size_reg = stm32isp_device_flash_size_reg(d);
    uint32_t probe = size_reg != 0 ? size_reg : stm32isp_device_flash_base(d);
    size_t len = size_reg != 0 ? 2 : 1;
    stm32isp_err err = stm32isp_cmd_read(c, probe, kb, len);
    /* A NACK or two may be line noise; protection NACKs every time. */
    for (unsigned again = 0; err == STM32ISP_ERR_READ_PROTECTED && again < 2; again++) {
        err = stm32isp_sync(c);
        if (err == STM32ISP_OK) {
            err = stm32isp_cmd_read(c, probe, kb, len);
        }
    }
    if (err == STM32ISP_ERR_READ_PROTECTED) {
        c->target.readout_protected = true;
        return STM32ISP_OK;
    }
    if (err != STM32ISP_OK || size_reg == 0) {
        /* Some parts keep the register where the bootloader cannot read
         * it (a NACK on the address): fall back to the PID's maximum. */
        return err == STM32ISP_ERR_ADDRESS ? STM32ISP_OK : err;
    }
    uint32_t size = (uint32_t)(kb[0] | kb[1] << 8) * 1024u;
    /* An erased (0xFFFF) or zero register says nothing. Clones sometimes
     * report more than the PID's maximum; trust the register then too, as
     * the flash is really there, up to the 16 MiB no STM32 exceeds. */
    if (size != 0 && size != 0xFFFFu * 1024u && size <= 16u * 1024u * 1024u) {
        c->target.flash_size = size;
        c->target.flash_size_from_register = true;
    }
    return STM32ISP_OK;
}

static stm32isp_err identify(stm32isp_client *c)
{
    c->target.readout_protected = false;
    c->target.uid_valid = false;
    stm32isp_err err = stm32isp_cmd_get(c);
    if (err == STM32ISP_OK) {
        err = stm32isp_cmd_get_id(c, &c->target.pid);
    }
    if (err != STM32ISP_OK) {
        return err;
    }
    c->target.device = c->cfg.device_override != NULL ? c->cfg.device_override
                                                      : stm32isp_device_by_pid(c->target.pid);
    if (c->target.device == NULL) {
        return STM32ISP_ERR_UNKNOWN_DEVICE;
    }
    if ((err = read_flash_size(c)) != STM32ISP_OK) {
        return err;
    }
    const stm32isp_device *d = c->target.device;
    if (!c->target.readout_protected && stm32isp_device_uid_reg(d) != 0) {
        err = stm32isp_cmd_read(c, stm32isp_device_uid_reg(d), c->target.uid, sizeof c->target.uid);
        if (err == STM32ISP_OK) {
            c->target.uid_valid = true;
        } else if (err == STM32ISP_ERR_ADDRESS) {
            err = STM32ISP_OK; /* not readable through this bootloader */
        }
    }
    return err;
}

stm32isp_err stm32isp_connect(stm32isp_client *c)
{
    c->connected = false;
    c->boot_attempt = 0;
    memset(&c->target, 0, sizeof c->target);
    if (c->ops->set_baud != NULL && c->ops->set_baud(c->port, c->cfg.baud) != 0) {
        return STM32ISP_ERR_PORT;
    }
    if (c->progress != NULL) {
        c->progress(c->progress_ctx, STM32ISP_PHASE_CONNECT, 0, 1);
    }
    stm32isp_err err = STM32ISP_OK;
    if (stm32isp_has_reset_lines(c)) {
        err = stm32isp_enter_bootloader(c);
    }
    if (err == STM32ISP_OK) {
        err = stm32isp_sync(c);
    }
    /* Identification is a few short commands: a recovery is worth it when
     * noise hit them, whatever it made of a reply (a NACK on the UID read
     * looks like protection, a flipped PID like an unknown part). */
    for (unsigned attempt = 0; err == STM32ISP_OK; attempt++) {
        err = identify(c);
        if (err == STM32ISP_OK || attempt >= c->cfg.command_retries || err == STM32ISP_ERR_PORT ||
            err == STM32ISP_ERR_CANCELLED) {
            break;
        }
        c->stats.retries++;
        err = stm32isp_recover(c);
    }
    if (err != STM32ISP_OK) {
        return err;
    }
    c->connected = true;
    if (c->progress != NULL) {
        c->progress(c->progress_ctx, STM32ISP_PHASE_CONNECT, 1, 1);
    }
    return STM32ISP_OK;
}

/* ------------------------------------------------------------------------- */
/* Protection: each command ends in a system reset                            */

/* After the final ACK the target resets (BOOT0 is still high, so into the
 * bootloader again): wait for it, sync and learn its new state. */
static stm32isp_err after_reset(stm32isp_client *c)
{
    c->ops->delay_ms(c->port, RESTART_MS);
    stm32isp_err err = stm32isp_sync(c);
    if (err == STM32ISP_OK) {
        err = identify(c);
    }
    c->connected = err == STM32ISP_OK;
    return err;
}

/* Option bytes are rewritten: an erase of their page plus a few half-words. */
static uint32_t option_work_ms(const stm32isp_client *c)
{
    return unit_erase_ms(c) + write_work_ms(c);
}

static stm32isp_err protection_command(stm32isp_client *c, uint8_t opcode, const uint8_t *body,
                                       size_t body_len, uint32_t work_ms)
{
    if (!stm32isp_offers(c, opcode)) {
        return STM32ISP_ERR_UNSUPPORTED;
    }
    stm32isp_err err = send_opcode(c, opcode, STM32ISP_ERR_PROTECT_FAILED);
    if (err == STM32ISP_OK && body != NULL) {
        err = send_with_xor(c, body, body_len);
    }
    if (err == STM32ISP_OK) {
        err = expect_ack(c, long_reply_timeout_ms(c, (uint32_t)body_len + 2, work_ms),
                         STM32ISP_ERR_PROTECT_FAILED);
    }
    return err == STM32ISP_OK ? after_reset(c) : err;
}

stm32isp_err stm32isp_cmd_write_protect(stm32isp_client *c, const uint8_t *sectors, size_t count)
{
    uint8_t body[1 + 255];
    if (count == 0 || count > 255) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    body[0] = (uint8_t)(count - 1);
    memcpy(body + 1, sectors, count);
    return protection_command(c, AN3155_CMD_WRITE_PROTECT, body, count + 1, option_work_ms(c));
}

stm32isp_err stm32isp_cmd_write_unprotect(stm32isp_client *c)
{
    return protection_command(c, AN3155_CMD_WRITE_UNPROTECT, NULL, 0, option_work_ms(c));
}

stm32isp_err stm32isp_cmd_readout_protect(stm32isp_client *c)
{
    return protection_command(c, AN3155_CMD_READOUT_PROTECT, NULL, 0, option_work_ms(c));
}

stm32isp_err stm32isp_write_option_bytes(stm32isp_client *c, const uint8_t *raw, size_t len)
{
    if (!c->connected) {
        return STM32ISP_ERR_NOT_CONNECTED;
    }
    const stm32isp_device *d = c->target.device;
    uint32_t start = stm32isp_device_option_start(d);
    if (len == 0 || start == 0 || len > stm32isp_device_option_end(d) - start) {
        return STM32ISP_ERR_INVALID_ARG;
    }
    stm32isp_err err = cmd_write(c, start, raw, len,
                                 long_reply_timeout_ms(c, (uint32_t)len + 3, option_work_ms(c)));
    return err == STM32ISP_OK ? after_reset(c) : err;
}

stm32isp_err stm32isp_cmd_readout_unprotect(stm32isp_client *c)
{
    /* The target mass-erases before its second ACK. */
    return protection_command(c, AN3155_CMD_READOUT_UNPROTECT, NULL, 0,
                              mass_erase_ms(c) + option_work_ms(c));
}

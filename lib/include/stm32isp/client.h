/*
 * The AN3155 client: connects to an STM32's ROM bootloader through a port
 * (port.h) and sends its commands. Caller-owned context, no allocation, no
 * globals, no formatted output; every wait is bounded by a timeout derived
 * from the datasheet maximum of the operation, with margin.
 *
 * Typical use:
 *
 *     stm32isp_client c;
 *     stm32isp_client_init(&c, &my_port_ops, &my_port, NULL);
 *     err = stm32isp_connect(&c);               // reset into the bootloader, sync, identify
 *     err = stm32isp_program(&c, &image, &opts); // program.h: erase, write, verify, start
 */
#ifndef STM32ISP_CLIENT_H
#define STM32ISP_CLIENT_H

#include "stm32isp/devices.h"
#include "stm32isp/error.h"
#include "stm32isp/port.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STM32ISP_MAX_COMMANDS 20 /* opcodes a Get reply may list */

typedef enum stm32isp_phase {
    STM32ISP_PHASE_CONNECT,
    STM32ISP_PHASE_ERASE,
    STM32ISP_PHASE_WRITE,
    STM32ISP_PHASE_VERIFY,
    STM32ISP_PHASE_READ,
    STM32ISP_PHASE_START,
    STM32ISP_PHASE_CHECK_IMAGE, /* the flashing job checks the stored image (job.h) */
    STM32ISP_PHASE_PROTECT,     /* the flashing job sets readout protection */
} stm32isp_phase;

/* "connect", "erase", "write", ...: a short name for progress lines. */
const char *stm32isp_phase_name(stm32isp_phase phase);

/* Progress: `done` of `total` units (bytes, or erase units in PHASE_ERASE). */
typedef void (*stm32isp_progress_fn)(void *ctx, stm32isp_phase phase, uint32_t done,
                                     uint32_t total);

typedef struct stm32isp_config {
    uint32_t baud;         /* link rate, for timeouts and set_baud; 0: 115200 */
    uint8_t sync_attempts; /* 0x7F attempts (each after a fresh reset when possible); 0: 4 */
    /* Retries of a failed command; 0: 3. Reading or writing a block of
     * flash may fail 2 * (retries + 1) times before it is given up: its
     * frames shrink on a noisy line (stm32isp_frame_size()). */
    uint8_t command_retries;
    uint16_t reset_pulse_ms; /* NRST low time; 0: 10 */
    /* The least wait after NRST is released before the first 0x7F (a
     * board whose BOOT0 settles slowly); 0: none beyond the schedule of
     * stm32isp_boot_wait_ms(), which it never shortens. */
    uint16_t boot_wait_ms;
    /* Treat the target as this device whatever its PID says (clones with an
     * unknown PID). NULL: look the PID up. */
    const stm32isp_device *device_override;
} stm32isp_config;

/* What stm32isp_connect() learned about the target. */
typedef struct stm32isp_target_info {
    uint8_t bootloader_version; /* 0x22 means protocol v2.2 */
    uint8_t command_count;
    uint8_t commands[STM32ISP_MAX_COMMANDS];
    uint8_t erase_opcode; /* 0x43 or 0x44, from the Get reply */
    uint16_t pid;
    const stm32isp_device *device;
    uint32_t flash_size;           /* bytes */
    bool flash_size_from_register; /* false: the PID's maximum was assumed */
    bool readout_protected;
    bool uid_valid;
    uint8_t uid[12];
} stm32isp_target_info;

/* Counters for reports and benchmarks. */
typedef struct stm32isp_link_stats {
    uint32_t bytes_sent, bytes_received;
    uint32_t commands;
    uint32_t retries; /* commands sent again after a failure */
    uint32_t resyncs; /* recoveries of the command framing */
    uint32_t resets;  /* target resets through NRST */
} stm32isp_link_stats;

typedef struct stm32isp_client {
    const stm32isp_port_ops *ops;
    void *port;
    stm32isp_config cfg;
    stm32isp_target_info target;
    bool connected;
    stm32isp_progress_fn progress;
    void *progress_ctx;
    /* When set and true, the next command is not sent: CANCELLED (a PC
     * tool's Ctrl-C; stm32isp_set_stop_flag). */
    const volatile bool *stop;
    stm32isp_link_stats stats;
    /* The step of stm32isp_boot_wait_ms() the next reset into the
     * bootloader waits: 0 at each connect, one more after each attempt that
     * got no answer, kept once the target answers (a board that needed the
     * longer wait needs it for the recoveries too). */
    uint8_t boot_attempt;
    /* What Read and Write Memory learn of the line: frames are 256 bytes
     * shifted right by frame_shift (see stm32isp_frame_size()). */
    uint8_t frame_shift, clean_frames;
    uint8_t frame[1 + 256 + 1]; /* N, data, checksum of a Write Memory */
    uint8_t scratch[256];       /* image data or read-back, one block */
    uint8_t compare[256];       /* the other side of a verify */
} stm32isp_client;

/* Prepares a client; `cfg` may be NULL for defaults. Does no I/O. */
void stm32isp_client_init(stm32isp_client *c, const stm32isp_port_ops *ops, void *port,
                          const stm32isp_config *cfg);

void stm32isp_set_progress(stm32isp_client *c, stm32isp_progress_fn fn, void *ctx);

/*
 * A flag the caller may set at any time (from a signal handler, say):
 * once it is true, no further command is sent and the call in progress
 * returns CANCELLED at the next command boundary, so a frame is never cut
 * in the middle. A recovery of the framing after a command that failed
 * still runs (it is bounded), for the same reason. NULL removes it.
 */
void stm32isp_set_stop_flag(stm32isp_client *c, const volatile bool *stop);

/* True when the port can drive BOOT0 and NRST. */
bool stm32isp_has_reset_lines(const stm32isp_client *c);

/*
 * Connects: with reset lines, BOOT0 high and an NRST pulse; then 0x7F sync
 * (ACK, or NACK from a bootloader that was already synchronised), Get, Get
 * ID, and a read of the flash-size register and UID. Without reset lines the
 * target must already be in its bootloader.
 * Returns STM32ISP_OK (a readout-protected target connects too: see
 * target.readout_protected), NO_SYNC, UNKNOWN_DEVICE, TIMEOUT, BAD_REPLY, PORT.
 */
stm32isp_err stm32isp_connect(stm32isp_client *c);

/*
 * Resets into the bootloader with the pins (NO_RESET_LINES without them):
 * BOOT0 high, NRST low for cfg.reset_pulse_ms, released, then
 * stm32isp_boot_wait_ms(c, c->boot_attempt) before anything is sent.
 */
stm32isp_err stm32isp_enter_bootloader(stm32isp_client *c);

/*
 * How long to wait after NRST is released before the first 0x7F, for the
 * `attempt`th reset of a connect (0 first): 20, 50, 150, 300 ms, then 300,
 * and never less than cfg.boot_wait_ms. It grows because an NRST line that
 * rises slowly (a large capacitor, a supervisor) may still be below its
 * threshold when a short wait ends; a 0x7F whose start bit meets the ROM
 * as it comes out of reset is measured wrong, and the ROM then stays deaf
 * until the next reset. The one schedule for the PC tool and the master
 * firmware alike.
 */
uint32_t stm32isp_boot_wait_ms(const stm32isp_client *c, unsigned attempt);

/* Sends 0x7F until the bootloader answers; see stm32isp_connect(). */
stm32isp_err stm32isp_sync(stm32isp_client *c);

/*
 * Brings the bootloader back to a command boundary after a failed command,
 * when it may still be waiting for the rest of a frame: with reset lines by a
 * reset and sync; without, by 0x7F bytes until the pending frame completes,
 * then a sync. Returns OK, NO_SYNC or PORT.
 */
stm32isp_err stm32isp_recover(stm32isp_client *c);

/*
 * How many bytes a Read or Write Memory should carry on this line: 256
 * while frames get through, halved (down to 64) after each one that
 * failed, and doubled again after 8 clean ones in a row. On a line with
 * three errors in a thousand bytes (a flipped, a lost and a noise byte), a
 * 256-byte frame arrives intact about half the time, a 64-byte one four
 * times in five.
 */
uint32_t stm32isp_frame_size(const stm32isp_client *c);
/* Tells the client whether a frame got through. Read and Write Memory do
 * it themselves; a caller that finds a read's data damaged (a reply has no
 * checksum) tells it too. */
void stm32isp_note_frame(stm32isp_client *c, bool delivered);

/* True when the target's Get reply lists `opcode`. */
bool stm32isp_offers(const stm32isp_client *c, uint8_t opcode);

/* ---- The AN3155 commands, one call each ---------------------------------- */

/* Get: version and command list into c->target. */
stm32isp_err stm32isp_cmd_get(stm32isp_client *c);
/* Get Version: the version byte and the two option bytes it reports. */
stm32isp_err stm32isp_cmd_get_version(stm32isp_client *c, uint8_t *version, uint8_t options[2]);
stm32isp_err stm32isp_cmd_get_id(stm32isp_client *c, uint16_t *pid);
/* Read Memory, 1..256 bytes. READ_PROTECTED when the target refuses.
 * ADDRESS, with nothing sent, for a range outside the windows of a part
 * whose ROM would ACK it (STM32ISP_DEV_ACKS_BAD_ADDRESS: the F1s); ADDRESS
 * too when another part NACKs it. */
stm32isp_err stm32isp_cmd_read(stm32isp_client *c, uint32_t address, uint8_t *buf, size_t len);
/* Write Memory, 1..256 bytes as given (no padding). WRITE_FAILED on NACK;
 * ADDRESS as for Read Memory (windows: flash, user RAM, option bytes from
 * their base). */
stm32isp_err stm32isp_cmd_write(stm32isp_client *c, uint32_t address, const uint8_t *data,
                                size_t len);
/* Go: the target leaves its bootloader and runs from `address`. */
stm32isp_err stm32isp_cmd_go(stm32isp_client *c, uint32_t address);
/* Erases the listed units with 0x43 or 0x44, as the target offers,
 * splitting into as many commands as needed. */
stm32isp_err stm32isp_cmd_erase_units(stm32isp_client *c, const uint16_t *units, size_t count);
/* Global erase: 0x43 FF 00 or 0x44 FFFF. */
stm32isp_err stm32isp_cmd_mass_erase(stm32isp_client *c);
/*
 * The protection commands. Each makes the target reset; the client waits
 * for it, synchronises again and refreshes c->target. Readout Unprotect
 * mass-erases the flash: call it only when the user asked for that.
 */
stm32isp_err stm32isp_cmd_write_protect(stm32isp_client *c, const uint8_t *sectors, size_t count);
stm32isp_err stm32isp_cmd_write_unprotect(stm32isp_client *c);
stm32isp_err stm32isp_cmd_readout_protect(stm32isp_client *c);
stm32isp_err stm32isp_cmd_readout_unprotect(stm32isp_client *c);
/*
 * Writes the option-byte area with Write Memory at its base: the bootloader
 * erases the option bytes, programs `raw` (complements included, see
 * stm32isp_option_bytes_encode) and resets the chip; the client then
 * synchronises again and identifies the target, as after the protection
 * commands. INVALID_ARG when the part has no option bytes the bootloader
 * shows or `len` exceeds them.
 */
stm32isp_err stm32isp_write_option_bytes(stm32isp_client *c, const uint8_t *raw, size_t len);

/*
 * Get Checksum (0xA1, bootloaders v3.3 and later): the CRC-32 the target's
 * CRC unit computes over [address, address + length), both multiples of 4.
 * UNSUPPORTED when the Get reply does not list it.
 */
stm32isp_err stm32isp_cmd_get_checksum(stm32isp_client *c, uint32_t address, uint32_t length,
                                       uint32_t *crc);

/* The same CRC computed here, over `len` bytes (a multiple of 4) continuing
 * from `crc`; start from STM32ISP_CRC_INIT. Polynomial 0x04C11DB7 over 32-bit
 * little-endian words, most significant bit first, no final XOR. */
#define STM32ISP_CRC_INIT 0xFFFFFFFFu
uint32_t stm32isp_crc32_update(uint32_t crc, const uint8_t *data, uint32_t len);

/* ---- Timeouts ------------------------------------------------------------- */

/* Milliseconds to wait for a reply of `reply_bytes` bytes to a command whose
 * target-side work takes at most `work_ms`: wire time plus margins. */
uint32_t stm32isp_reply_timeout_ms(const stm32isp_client *c, uint32_t reply_bytes,
                                   uint32_t work_ms);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_CLIENT_H */

/*
 * blsim: a byte-by-byte model of the STM32 system-memory bootloader (USART,
 * ST AN3155 and AN2606), for tests and for `stm32isp sim`.
 *
 * The model is a target chip seen from its USART and two pins:
 *
 *   host --bytes--> blsim_host_send()      the target's RX line
 *   host <--bytes-- blsim_host_recv()      the target's TX line
 *   blsim_set_boot0(), blsim_set_nrst()    the BOOT0 and NRST pins
 *
 * Time is virtual and deterministic. Every byte costs 11 bit times (8E1) at
 * the configured baud on the wire; flash program and erase cost the
 * datasheet's typical (or, on request, maximum) times. blsim_host_send()
 * returns when the last byte has been clocked out of the host; a reply byte
 * becomes readable when its stop bit has arrived. blsim_host_recv() waits (in
 * virtual time) at most its timeout. So a test sees exactly the timing a real
 * part would give, and a client's timeouts are exercised for real.
 *
 * The host-side simulator may allocate (memories are sized at creation); it
 * is not code that runs on the master MCU.
 */
#ifndef BLSIM_H
#define BLSIM_H

#include "vmcu/fpec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Devices
 */

/*
 * The state a program started by Go in RAM finds (docs/simulator.md): the
 * model runs such a program, as its bytes, on the virtual STM32F1
 * (sim/mcu, docs/virtual-mcu.md) from this state.
 */
typedef enum blsim_go_state {
    BLSIM_GO_DEVICE = 0,   /* in a config: the device's own */
    BLSIM_GO_NOT_MODELLED, /* no virtual MCU for this family: the code is not run */
    BLSIM_GO_F103_V22,     /* what the STM32F103's ROM v2.2 leaves: SYSCLK back on the
                              HSI (8 MHz), USART1 8E1 with the BRR it measured at 24 MHz,
                              PA9/PA10 set up, GPIOA and USART1 clocks on, VTOR 0 */
    BLSIM_GO_RESET_VALUES, /* every peripheral at its reset value, as AN3155 describes */
} blsim_go_state;

/* "f103-v2.2", "reset-values", "not-modelled". */
const char *blsim_go_state_name(blsim_go_state state);

/* How the Write Protect command's "sector" codes map onto flash pages. */
typedef struct blsim_wrp_layout {
    uint32_t pages_per_bit;    /* pages covered by one WRP option bit */
    uint32_t bits;             /* number of WRP bits (at most 32) */
    bool last_bit_covers_rest; /* the last bit protects every page above it (F1 HD) */
} blsim_wrp_layout;

typedef struct blsim_device {
    const char *name;           /* short name used by --device, e.g. "f103md" */
    const char *description;    /* human readable, e.g. "STM32F103 medium density" */
    uint16_t pid;               /* what Get ID returns */
    uint8_t bootloader_version; /* what Get and Get Version return, e.g. 0x22 = v2.2 */
    uint8_t erase_opcode;       /* 0x43 (Erase) or 0x44 (Extended Erase), never both */
    uint32_t flash_base;
    uint32_t page_size;
    uint32_t flash_kb_default;
    uint32_t flash_kb_min, flash_kb_max; /* sizes the --flash-kb option accepts */
    uint32_t ram_base, ram_size;
    uint32_t ram_user_start;    /* the bootloader owns RAM below this address */
    uint32_t sysmem_base;       /* system memory runs up to option_bytes_base */
    uint32_t option_bytes_base; /* 16 bytes: RDP, USER, DATA0, DATA1, WRP0..3 + complements */
    uint32_t flash_size_reg;    /* 16-bit flash size in KiB */
    uint32_t uid_reg;           /* 96-bit unique ID */
    uint8_t rdp_level0;         /* RDP option byte value that means "no protection" */
    blsim_wrp_layout wrp;
    /* Flash timings, microseconds: typical and maximum. */
    uint32_t halfword_us_typ_x10, halfword_us_max_x10; /* tenths of a microsecond */
    uint32_t page_erase_us_typ, page_erase_us_max;
    uint32_t mass_erase_us_typ, mass_erase_us_max;
    blsim_go_state go_state; /* what its ROM's Go leaves behind */
    /* The F1 ROM's (v2.2) answer to a Read or Write Memory address outside
     * its windows: an ACK, after which it drops the command and goes back
     * to its command loop, so the length and data that follow are parsed
     * as new commands (N = 1 arrives as "01 FE", Get Version). False: the
     * address is NACKed, as later ROMs do. */
    bool acks_bad_address;
} blsim_device;

/* The devices the model knows; returns NULL past the end. */
const blsim_device *blsim_device_at(size_t index);
/* Looks a device up by its short name; NULL when unknown. */
const blsim_device *blsim_device_find(const char *name);
/* The device's flash as the virtual MCU's flash controller models it, for
 * `flash_size` bytes (a board model with an F1 of its own uses it too). */
vmcu_flash_geometry blsim_device_flash_geometry(const blsim_device *d, uint32_t flash_size);

/* ---------------------------------------------------------------------------
 * Faults: seeded, reproducible. All counts are 1-based; 0 disables.
 */
typedef enum blsim_fault_dir {
    BLSIM_DIR_BOTH = 0,
    BLSIM_DIR_TO_TARGET, /* only bytes the host sends */
    BLSIM_DIR_TO_HOST,   /* only bytes the target sends */
} blsim_fault_dir;

/* Whether a bad Read/Write Memory address is ACKed and the command dropped
 * (blsim_device.acks_bad_address), whatever the device does. */
typedef enum blsim_address_quirk {
    BLSIM_ADDRESS_QUIRK_DEVICE = 0, /* as the device table says (on for the F1 parts) */
    BLSIM_ADDRESS_QUIRK_ON,         /* ACK and drop on any device */
    BLSIM_ADDRESS_QUIRK_OFF,        /* NACK on any device, the F1 parts included */
} blsim_address_quirk;

typedef struct blsim_faults {
    uint64_t seed;
    blsim_fault_dir direction;         /* which line bit flips, drops and inserts hit */
    double bit_flip_rate;              /* probability per bit */
    double drop_rate;                  /* probability per byte that it vanishes */
    double insert_rate;                /* probability per byte that a noise byte precedes it */
    uint32_t nack_at_ack;              /* the Nth ACK the target sends becomes a NACK */
    uint32_t reset_after_byte;         /* system reset after the Nth byte received */
    uint32_t reset_in_command;         /* system reset in the middle of the Nth command's work:
                                          a write or erase is left half done */
    bool max_flash_timings;            /* program and erase take the datasheet's maximum */
    blsim_address_quirk address_quirk; /* a bad Read/Write address: ACK and drop, or NACK */
} blsim_faults;

/*
 * Parses a fault spec such as "flip=1e-4,drop=1e-3,nack=5,seed=7" into
 * faults (which the caller zeroes first). Keys: seed, dir=both|rx|tx, flip,
 * drop, insert, nack, reset-byte, reset-cmd, slow, silent-abort (the
 * address quirk on any device), nack-address (off on any device).
 * Returns 0, or -1 with a message in err.
 */
int blsim_faults_parse(const char *spec, blsim_faults *faults, char *err, size_t err_size);

/* ---------------------------------------------------------------------------
 * Creating a model
 */
typedef struct blsim_config {
    const blsim_device *device;
    uint32_t flash_kb;      /* 0: the device's default */
    uint32_t baud;          /* 0: 115200 */
    bool boot0;             /* BOOT0 level at power-on */
    bool readout_protected; /* start with RDP active */
    const char *app_banner; /* printed on TX when the application starts; NULL: silent */
    blsim_faults faults;
    uint8_t uid[12];         /* unique ID; all zero picks a fixed pattern */
    uint16_t pid_override;   /* nonzero: Get ID answers this instead (a clone) */
    bool get_checksum;       /* also offer Get Checksum 0xA1, as bootloaders v3.3+ do */
    blsim_go_state go_state; /* BLSIM_GO_DEVICE: the device's */
    bool no_crystal;         /* the board has no 8 MHz crystal: HSERDY never sets */
    int32_t hsi_ppm;         /* the HSI's error, parts per million: the ROM's autobaud
                                follows it, a program that assumes 8 MHz does not */
    /* Receives one line about what the virtual MCU saw that a board
     * designer should know (a frame sent at the wrong rate, a fault). */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} blsim_config;

typedef struct blsim blsim;

/* Returns a powered-on target (NRST released) or NULL if out of memory or
 * the config is invalid (unknown flash size, no device). */
blsim *blsim_new(const blsim_config *config);
void blsim_free(blsim *sim);

/* Replaces the faults of a running model (the chip's memories and state are
 * kept): a campaign switches faults off to check that a second run repairs
 * what the first one left. Count-based faults count from the model's start. */
void blsim_set_faults(blsim *sim, const blsim_faults *faults);

/* ---------------------------------------------------------------------------
 * Pins
 */

/* BOOT0 is sampled when NRST is released. */
void blsim_set_boot0(blsim *sim, bool high);
/* NRST low holds the chip in reset (deaf and silent); releasing it boots the
 * bootloader (BOOT0 high) or the application (BOOT0 low). */
void blsim_set_nrst(blsim *sim, bool high);

/* ---------------------------------------------------------------------------
 * The serial line, on the virtual clock
 */

/* Puts bytes on the target's RX line, starting now; the clock advances to
 * the end of the last stop bit. */
void blsim_host_send(blsim *sim, const uint8_t *bytes, size_t count);

/* Reads up to max bytes that the target has sent. Waits in virtual time at
 * most timeout_us for the first byte, then takes every byte already
 * complete. Returns the count; 0 means the timeout passed. */
size_t blsim_host_recv(blsim *sim, uint8_t *buf, size_t max, uint64_t timeout_us);

/* Takes every byte the target will send without further input, advancing the
 * clock as far as needed (used by the pty server, which has no timeouts of
 * its own). Returns the count, at most max. Code running in RAM runs until
 * it waits for the host (at most 1 s of its time), and the bytes already
 * sent are returned before it runs on: call again until it returns 0. */
size_t blsim_host_drain(blsim *sim, uint8_t *buf, size_t max);

/* Lets virtual time pass with no traffic (a host waiting after a reset). */
void blsim_idle(blsim *sim, uint64_t us);

uint64_t blsim_now_ns(const blsim *sim);
uint32_t blsim_byte_time_ns(const blsim *sim);

/* Changes the host's rate from now on (8E1 frames of 11 bits): what a
 * program in RAM that switches its USART's rate needs the host to follow
 * (the stub flasher, docs/spec/stub.md). Bytes already queued for the host
 * keep the time they were given. 0 is ignored. The ROM model's own timing
 * uses the new byte time too. */
void blsim_set_host_baud(blsim *sim, uint32_t baud);

/*
 * For a board model whose host side runs on its own clock (the virtual
 * bench: a master MCU on the other end of the wires). blsim_advance_to()
 * lets the target run up to t_ns (a time already passed is a no-op);
 * blsim_next_tx_ns() is when the stop bit of the next byte the target has
 * already decided to send reaches the host (UINT64_MAX: none). A byte the
 * target decides to send later completes at least one byte time after the
 * decision, so a host that never runs more than blsim_byte_time_ns() ahead
 * of the target, and takes each byte (blsim_host_recv with timeout 0) at
 * its time, sees every byte exactly when it ends.
 */
void blsim_advance_to(blsim *sim, uint64_t t_ns);
uint64_t blsim_next_tx_ns(const blsim *sim);

/* ---------------------------------------------------------------------------
 * State, for tests and for --flash-in / --flash-out / --stats
 */
typedef enum blsim_state {
    BLSIM_STATE_RESET,     /* NRST held low */
    BLSIM_STATE_BOOTING,   /* reset released, bootloader not yet listening */
    BLSIM_STATE_WAIT_SYNC, /* bootloader waiting for the autobaud 0x7F */
    BLSIM_STATE_DEAF,      /* first byte was not 0x7F: nothing until reset */
    BLSIM_STATE_COMMANDS,  /* synchronised, taking commands */
    BLSIM_STATE_APP,       /* the user application runs (BOOT0 low, or after Go) */
    /* Go started code in RAM: it runs on the virtual MCU */
    BLSIM_STATE_RAM_PROGRAM,
    BLSIM_STATE_HARDFAULT,    /* Go or reset into code that is not a valid program, or the
                                 code faulted (blsim_fault_reason() says how) */
    BLSIM_STATE_NOT_MODELLED, /* the code used something the virtual MCU does not model */
} blsim_state;

typedef struct blsim_stats {
    uint64_t bytes_to_target, bytes_to_host;
    uint64_t commands;           /* complete opcode + complement pairs accepted */
    uint64_t command_count[256]; /* by opcode */
    /* Virtual time by opcode: from a command's opcode to the next command's
     * (its reply, the flash work and the host's pause); the time before the
     * first command (boot, sync) apart. With the time since the last command
     * began (in blsim_stats_json) they add up to the whole session. */
    uint64_t command_ns[256];
    uint64_t before_commands_ns;
    uint64_t acks, nacks;
    uint64_t pages_erased, mass_erases;
    uint64_t halfwords_programmed;
    uint64_t program_errors; /* write onto a non-erased half-word */
    uint64_t resets;         /* every system reset: pin, command or fault */
    uint64_t overruns;       /* bytes lost because the target was busy */
    uint64_t gos;
    uint64_t ram_programs; /* programs Go started in RAM, run on the virtual MCU */
    uint64_t mcu_cycles;   /* core cycles they executed */
    /* Round trips: how often the target began to answer after the host had
     * sent something since its last answer. */
    uint64_t turnarounds;
    uint64_t faults_bit_flips, faults_drops, faults_inserts, faults_nacks, faults_resets;
} blsim_stats;

blsim_state blsim_get_state(const blsim *sim);
const char *blsim_state_name(blsim_state state);
const blsim_stats *blsim_get_stats(const blsim *sim);
const blsim_device *blsim_get_device(const blsim *sim);
bool blsim_readout_protected(const blsim *sim);

uint32_t blsim_flash_size(const blsim *sim);
/* Direct access to flash contents (no timing, no protection): for loading an
 * initial image and checking results. */
uint8_t *blsim_flash(blsim *sim);
const uint8_t *blsim_flash_const(const blsim *sim);
/* The 16 option bytes as the chip holds them. */
const uint8_t *blsim_option_bytes(const blsim *sim);
/* Reads any mapped byte as the CPU would (flash, RAM, system memory, option
 * bytes); returns false for an unmapped address. */
bool blsim_peek(const blsim *sim, uint32_t address, uint8_t *value);

/* What the last fault or model limit was, in words ("" if none). */
const char *blsim_fault_reason(const blsim *sim);

/* How the application was started last: from the virtual MCU (a program in
 * RAM jumped into flash), with the core's state at that moment. */
typedef struct blsim_app_entry {
    bool from_ram_program; /* false: by reset or by the ROM's Go */
    uint32_t pc, sp, vtor;
    bool primask;
} blsim_app_entry;
const blsim_app_entry *blsim_get_app_entry(const blsim *sim);

/* The virtual MCU, when Go has started code in RAM (NULL before). */
const struct vmcu *blsim_get_mcu(const blsim *sim);

/* Writes the statistics as one JSON object (no trailing newline) into buf;
 * returns the length it needed, like snprintf. */
int blsim_stats_json(const blsim *sim, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* BLSIM_H */

/*
 * The client session fuzz_client runs, shared with the seed generator,
 * which runs the same session against the bootloader model and records the
 * model's replies: so a seed is a valid exchange for exactly this session.
 *
 * A session: stm32isp_connect(); when that succeeds, stm32isp_program() of
 * a small image; then a list of single commands, connected or not.
 */
#ifndef FUZZ_CLIENT_SESSION_H
#define FUZZ_CLIENT_SESSION_H

#include "stm32isp/program.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bits of session_config.flags. */
enum {
    SESSION_PINS = 1u << 0,        /* the port drives BOOT0 and NRST */
    SESSION_ERASE_SHIFT = 1,       /* two bits: stm32isp_erase_mode */
    SESSION_VERIFY = 1u << 3,      /* program options */
    SESSION_VERIFY_READ = 1u << 4, /* read back even when Get Checksum is offered */
    SESSION_START = 1u << 5,       /* start the application */
    SESSION_OVERRIDE = 1u << 6,    /* treat any PID as an STM32F103 medium density */
    SESSION_ONE_RETRY = 1u << 7,   /* command_retries 1 instead of the default */
};

/* Single commands run after programming. */
enum {
    SESSION_CMD_GET_VERSION,
    SESSION_CMD_GET_ID,
    SESSION_CMD_GET,
    SESSION_CMD_READ,
    SESSION_CMD_WRITE,
    SESSION_CMD_GO,
    SESSION_CMD_ERASE_UNITS,
    SESSION_CMD_MASS_ERASE,
    SESSION_CMD_GET_CHECKSUM,
    SESSION_CMD_WRITE_PROTECT,
    SESSION_CMD_WRITE_UNPROTECT,
    SESSION_CMD_READOUT_PROTECT,
    SESSION_CMD_READOUT_UNPROTECT,
    SESSION_CMD_READ_MEMORY,
    SESSION_CMD_VERIFY_IMAGE,
    SESSION_CMD_RECOVER,
    SESSION_CMD_COUNT,
};

#define SESSION_MAX_COMMANDS 7
#define SESSION_SHAPES       5

typedef struct session_config {
    uint8_t flags;
    uint8_t shape;     /* which image, modulo SESSION_SHAPES */
    uint8_t port_fail; /* the fake port fails from call 8 * port_fail on; 0: never */
    uint8_t command_count;
    uint8_t commands[SESSION_MAX_COMMANDS];
} session_config;

/* Decodes the configuration at the start of a fuzz input; returns the bytes
 * it took (the rest are the target's bytes). */
size_t session_config_decode(const uint8_t *data, size_t size, session_config *cfg);
/* The inverse, for the seed generator; returns the bytes written. */
size_t session_config_encode(const session_config *cfg, uint8_t *out, size_t size);

typedef struct session_result {
    stm32isp_err connect, program;
    stm32isp_err commands[SESSION_MAX_COMMANDS];
} session_result;

/*
 * What the port may watch for while the session connects and programs: the
 * client must then send no command nobody asked for, whatever the target
 * answers (no protection change, no Go unless starting, no mass erase when
 * told to keep the flash outside the image, no write outside the image).
 * The session fills it in; the port reads it.
 */
typedef struct session_watch {
    bool programming; /* connect and stm32isp_program are running */
    const stm32isp_segment *segments;
    size_t segment_count;
    stm32isp_erase_mode erase;
    bool go_allowed; /* starting without reset lines is a Go */
} session_watch;

/* Runs the session over `ops`; aborts (a fuzzing finding) when the library
 * breaks one of its promises: an error outside the enum, progress beyond
 * its total, a target description out of range. `watch` may be NULL. */
void session_run(const session_config *cfg, const stm32isp_port_ops *ops, void *port,
                 session_result *result, session_watch *watch);

#endif

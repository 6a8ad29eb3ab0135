/*
 * What the commands that talk to a target share: the connection options
 * (--port, --baud, --reset-seq, ...), parsed once for all of them, and a
 * session: the port, the client library, the progress bar, Ctrl-C, the
 * error report and the --json record.
 */
#ifndef STM32ISP_TOOL_TARGET_H
#define STM32ISP_TOOL_TARGET_H

#include "cli.h"
#include "inputs.h"
#include "json.h"
#include "pc_serial.h"
#include "stm32isp/client.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct target_opts {
    const char *port;
    uint32_t baud; /* 0: 115200 */
    const char *reset_seq;
    const stm32isp_device *device; /* --device: this entry whatever the PID says */
    uint8_t retries;               /* --retries; 0: the library's default */
    bool json, quiet, verbose;
} target_opts;

/* Takes target option `option` (CLI_TARGET_OPTION + i) for `cmd`: EXIT_OK,
 * or EXIT_USAGE after saying what is wrong with the value. */
int target_take(const char *cmd, target_opts *t, int option, const char *value);

/* After parsing: EXIT_OK, or EXIT_USAGE when --port is missing. */
int target_check(const char *cmd, const target_opts *t);

/*
 * The command line of a target command that takes no positional argument:
 * its options through `take` (which hands the target options to
 * target_take() with `t`), nothing else, and a --port. Returns true to go
 * on; false with *exit_code set after --help (EXIT_OK) or an error.
 */
bool target_parse(const cli_command *cmd, int argc, char **argv, cli_take_fn take, void *ctx,
                  const target_opts *t, int *exit_code);

typedef struct session {
    const char *cmd;
    const target_opts *t;
    pc_serial serial;
    bool serial_open;
    stm32isp_config cfg;
    stm32isp_client client;
    struct timespec started;
    /* Progress: the phase the library is in, and whether it changed flash. */
    stm32isp_phase phase;
    bool any_phase;
    bool modified;
    bool bar;      /* stderr is a terminal: draw the bar */
    int bar_width; /* its width in characters; 0: the percentage only */
    int last_percent;
    /* ADDRESS and IMAGE_TOO_LARGE are the image's fault (exit 4) in
     * commands that take an image; elsewhere they are the command's. */
    bool image_command;
    /* The failure, for --json. */
    stm32isp_err err;
    char during[160];
} session;

/*
 * Opens the port with the wiring and timing of --reset-seq, prepares the
 * client, and makes Ctrl-C stop the library between two commands. Returns
 * EXIT_OK, or an exit code after saying what is wrong; session_finish()
 * must follow either way.
 */
int session_open(session *s, const char *cmd, const target_opts *t);

/*
 * The same for a command that takes image files (flash, verify): at least
 * one FILE, and the files loaded and merged into *set as `images` says,
 * before any port is opened. True to go on (then image_set_free(set)).
 */
bool target_parse_images(const cli_command *cmd, int argc, char **argv, cli_take_fn take, void *ctx,
                         const target_opts *t, const image_opts *images, image_set *set,
                         int *exit_code);

/* Connects (reset into the bootloader where there are pins, sync, Get,
 * Get ID, flash size, UID). EXIT_OK, or the code after the error. */
int session_connect(session *s);

/*
 * Reports a library error: one line "stm32isp CMD: DURING: message" and
 * the hint; Ctrl-C as the state the target was left in. Returns the exit
 * code (docs/cli.md).
 */
int session_fail(session *s, stm32isp_err err, const char *during);

/* Records a failure for --json without printing it: for a command that
 * said what went wrong in its own, clearer line. */
void session_record(session *s, stm32isp_err err, const char *during);

/* A library function's progress callback: the bar, -v lines, and the phase
 * for a Ctrl-C report. `ctx` is the session. */
void session_progress(void *ctx, stm32isp_phase phase, uint32_t done, uint32_t total);

/* Ends the bar's line, before any other output. */
void session_end_bar(session *s);

/* Human output (stdout) is wanted: neither --quiet nor --json. */
bool session_human(const session *s);

/* With -v: one line on stderr saying what the tool does. */
void session_note(session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The flag Ctrl-C raises: true once the user asked to stop. */
bool session_stop_requested(void);

/* With --json, prints the record: command, ok, exit code, the error, the
 * target, what `extra` adds, link counters and seconds. Then closes the
 * port and restores Ctrl-C. Returns `code`. */
int session_finish(session *s, int code, void (*extra)(json *, void *), void *extra_ctx);

#endif

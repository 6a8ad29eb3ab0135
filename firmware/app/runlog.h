/*
 * The results of the recent runs, for the console's `log` command: a ring
 * of RUNLOG_SIZE entries in RAM, the oldest overwritten. It is not kept
 * across resets: the only non-volatile stores are the EEPROM, which holds
 * the image and should not be written on every run, and the master's own
 * flash, which holds the firmware (docs/firmware.md).
 */
#ifndef FW_RUNLOG_H
#define FW_RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#define RUNLOG_SIZE 8u

typedef enum run_kind {
    RUN_FLASH,
    RUN_VERIFY,
    RUN_PROBE,
    RUN_ERASE,
    RUN_LOAD,
} run_kind;

typedef struct run_entry {
    uint32_t number; /* 1 for the first run since reset */
    uint32_t at_ms;  /* when it ended, in ms since reset */
    uint32_t bytes;  /* image bytes (flash, verify, load) */
    uint32_t ms;     /* how long it took */
    uint16_t pid;    /* the target's, 0 when not known */
    uint8_t kind;    /* run_kind */
    uint8_t status;  /* stm32isp_err */
    uint8_t phase;   /* stm32isp_phase it ended in */
} run_entry;

typedef struct runlog {
    run_entry entries[RUNLOG_SIZE];
    uint32_t count; /* runs recorded since reset */
} runlog;

/* Records a run (its `number` is set here). */
void runlog_add(runlog *r, const run_entry *e);

/* The kept runs, oldest first: NULL past the last. */
const run_entry *runlog_at(const runlog *r, size_t index);

const char *run_kind_name(run_kind kind);

#endif /* FW_RUNLOG_H */

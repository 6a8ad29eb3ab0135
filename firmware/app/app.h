/*
 * The application's state, owned by main.c and handed to every module:
 * the board, the EEPROM driver, the working memory of the target
 * operations (one stm32isp_job, shared by flash, verify, probe, erase, info
 * and the load checks, which never run at the same time), the run log and
 * the LED.
 */
#ifndef FW_APP_H
#define FW_APP_H

#include "board_api.h"
#include "frame.h"
#include "led.h"
#include "loader.h"
#include "runlog.h"

#include "stm32isp/eeprom.h"
#include "stm32isp/job.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct app {
    const board *b;
    stm32isp_eeprom eeprom;
    stm32isp_container_source source; /* the EEPROM, as the job reads it */
    stm32isp_job job;
    runlog log;
    led led;
    /* The console's load protocol (console_cmds.c). */
    frame_parser parser;
    loader loader;
    /* Progress lines: the phase shown last and how far. */
    uint8_t progress_phase;
    uint8_t progress_shown; /* percent, in steps of 25 */
    bool progress_any;
} app;

#endif /* FW_APP_H */

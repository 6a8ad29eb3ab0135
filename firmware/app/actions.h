/*
 * What the master does to the target and its EEPROM, each with its console
 * report (plain lines, docs/firmware.md "Console"), an entry in the run log
 * and the LED's verdict. The button and the console commands call these.
 */
#ifndef FW_ACTIONS_H
#define FW_ACTIONS_H

#include "app.h"

/* Sets the EEPROM driver and its container source up; no I/O. */
void actions_init(app *a, const board *b);

/* The flashing job from the EEPROM (the button, `flash`). */
stm32isp_err action_flash(app *a);
/* Compares the target's flash with the image, writing nothing. */
stm32isp_err action_verify(app *a);
/* Connects, prints the chip and releases the target. */
stm32isp_err action_probe(app *a);
/* Erases the target's whole flash. */
stm32isp_err action_erase(app *a);
/* The EEPROM part and the container in it, checked. */
stm32isp_err action_info(app *a);

/* "error: MESSAGE (name)" and "hint: HINT". */
void print_error(stm32isp_err err);

/* "stack: USED of SIZE bytes used": the high-water mark since reset. */
void actions_print_stack(void);

#endif /* FW_ACTIONS_H */

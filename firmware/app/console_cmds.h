/*
 * The console's commands (docs/firmware.md, "Console"): one line in, plain
 * lines out. `load` switches the console to the binary load protocol
 * until the transfer ends.
 */
#ifndef FW_CONSOLE_CMDS_H
#define FW_CONSOLE_CMDS_H

#include "app.h"

/* Runs one command line (without its line ending). */
void console_cmds_run(app *a, const char *line);

#endif /* FW_CONSOLE_CMDS_H */

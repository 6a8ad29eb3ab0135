/* File helpers for the PC tool: whole-file reads and crash-safe writes. */
#ifndef STM32ISP_TOOL_FILEIO_H
#define STM32ISP_TOOL_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Reads a whole file into a malloc'ed buffer. Returns 0, or -1 with errno set. */
int fileio_read_all(const char *path, uint8_t **data, size_t *size);

/* 0 when path can be opened for reading and is not a folder; otherwise the
 * errno that says why (EISDIR for a folder). Used to tell "cannot read the
 * file" (exit 3) from "the file's contents are refused" (exit 4). */
int fileio_readable(const char *path);

/* Writes data to path through a temporary file in the same folder that is
 * fsync'ed and renamed over path, so that path is either the old file or the
 * complete new one, never a half-written one. Returns 0, or -1 with errno set
 * (the temporary file is removed). */
int fileio_write_atomic(const char *path, const void *data, size_t size);

#endif

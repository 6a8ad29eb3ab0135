/*
 * Messages and hints for the error enum. They are written for the person at
 * the bench: what happened, then what to check, in that order; and short,
 * because the master firmware carries them in its 32 KiB of flash.
 *
 * They are kept as one string of NUL-separated texts (name, message, hint
 * per error, in enum order) rather than a table of pointers: 12 bytes less
 * per error on the MCU, and a lookup walks a few hundred bytes at most.
 */
#include "stm32isp/error.h"

/* X(enum value, name, message, hint), in enum order (checked below). */
#define STM32ISP_ERRORS(X)                                                                         \
    X(STM32ISP_OK, "ok", "success", "")                                                            \
    X(STM32ISP_ERR_NO_SYNC, "no-sync", "no answer to the 0x7F sync byte",                          \
      "check TX to PA10, RX to PA9, ground, BOOT0 high at reset, NRST; 8E1, 115200 baud or less")  \
    X(STM32ISP_ERR_TIMEOUT, "timeout", "the target stopped answering",                             \
      "a loose wire, noise, or a target that reset")                                               \
    X(STM32ISP_ERR_BAD_REPLY, "bad-reply", "invalid reply from the target",                        \
      "noise or a wrong baud rate: lower it, check 8E1 and ground")                                \
    X(STM32ISP_ERR_NACK, "nack", "the target refused a command (NACK)",                            \
      "a bad address for this part, or readout protection")                                        \
    X(STM32ISP_ERR_READ_PROTECTED, "read-protected", "the flash is readout protected",             \
      "stm32isp unprotect --read removes it and ERASES the flash")                                 \
    X(STM32ISP_ERR_UNSUPPORTED, "unsupported", "the bootloader lacks this command",                \
      "stm32isp probe lists what it offers")                                                       \
    X(STM32ISP_ERR_PORT, "port", "the serial port or a pin driver failed",                         \
      "is the adapter plugged in, and used by nothing else?")                                      \
    X(STM32ISP_ERR_NO_RESET_LINES, "no-reset-lines", "this needs control of BOOT0 and NRST",       \
      "wire them (--reset-seq), or set BOOT0 high and reset by hand")                              \
    X(STM32ISP_ERR_UNKNOWN_DEVICE, "unknown-device", "unknown PID: not in the device database",    \
      "a clone or a newer part: --device PID names a compatible one")                              \
    X(STM32ISP_ERR_ADDRESS, "address", "an address outside the target's memory",                   \
      "check the image's load address (--address for .bin)")                                       \
    X(STM32ISP_ERR_IMAGE_TOO_LARGE, "image-too-large",                                             \
      "the image does not fit the target's flash",                                                 \
      "build for this part, or use one with more flash")                                           \
    X(STM32ISP_ERR_ERASE_FAILED, "erase-failed", "an erase was refused or did not finish",         \
      "check write protection (stm32isp unprotect --write)")                                       \
    X(STM32ISP_ERR_WRITE_FAILED, "write-failed", "the target refused to program flash",            \
      "flash must be erased first; check write protection")                                        \
    X(STM32ISP_ERR_VERIFY, "verify", "the flash does not hold the image",                          \
      "check write protection (stm32isp probe), then program again")                               \
    X(STM32ISP_ERR_PROTECT_FAILED, "protect-failed", "a protection change was refused",            \
      "remove readout protection first")                                                           \
    X(STM32ISP_ERR_INVALID_ARG, "invalid-argument", "a parameter is out of range",                 \
      "a bug in the caller: please report it")                                                     \
    X(STM32ISP_ERR_IMAGE_SOURCE, "image-source", "reading the image failed",                       \
      "check the image's file or EEPROM")                                                          \
    X(STM32ISP_ERR_NOT_CONNECTED, "not-connected", "the target is not connected",                  \
      "connect to it first")                                                                       \
    X(STM32ISP_ERR_EEPROM_NACK, "eeprom-nack", "the EEPROM does not answer",                       \
      "check its SDA, SCL, pull-ups, power, address pins and type")                                \
    X(STM32ISP_ERR_EEPROM_BUS, "eeprom-bus", "the EEPROM's I2C bus failed",                        \
      "check the pull-ups (2.2-4.7 kOhm to 3.3 V), a device holding SDA")                          \
    X(STM32ISP_ERR_EEPROM_TIMEOUT, "eeprom-timeout", "an EEPROM write did not finish",             \
      "check the EEPROM type, and that WP is low")                                                 \
    X(STM32ISP_ERR_NO_CONTAINER, "no-container", "the EEPROM holds no stm32isp image",             \
      "stm32isp load writes one, or a dump from stm32isp pack --eeprom")                           \
    X(STM32ISP_ERR_CONTAINER_VERSION, "container-version",                                         \
      "the image has a format version this firmware does not know",                                \
      "pack it with a matching stm32isp, or update the master")                                    \
    X(STM32ISP_ERR_CONTAINER_HEADER, "container-header",                                           \
      "the image container's header is damaged or invalid", REWRITE_HINT)                          \
    X(STM32ISP_ERR_CONTAINER_PAYLOAD, "container-payload",                                         \
      "the image in the EEPROM is damaged or half-written",                                        \
      "load the image again; the target was not touched")                                          \
    X(STM32ISP_ERR_DEVICE_NOT_ALLOWED, "device-not-allowed",                                       \
      "the image is not meant for this target",                                                    \
      "connect the right target, or pack it with its PID (--pid)")                                 \
    X(STM32ISP_ERR_CANCELLED, "cancelled", "stopped on request, between two commands",             \
      "run the same command again to finish")

#define REWRITE_HINT                                                                               \
    "write the image to the EEPROM again (stm32isp load); the target was not touched"

/* Each enum value must sit at its own position in the list. */
#define ERROR_POSITION(e, name, message, hint) POSITION_OF_##e,
enum { STM32ISP_ERRORS(ERROR_POSITION) ERROR_TEXT_COUNT };
#define ERROR_IN_ORDER(e, name, message, hint)                                                     \
    _Static_assert((int)POSITION_OF_##e == (int)(e), #e " is out of order");
STM32ISP_ERRORS(ERROR_IN_ORDER)
_Static_assert((int)ERROR_TEXT_COUNT == (int)STM32ISP_ERR__COUNT, "an error without its texts");

#define ERROR_TEXTS(e, name, message, hint) name "\0" message "\0" hint "\0"
static const char texts[] = STM32ISP_ERRORS(ERROR_TEXTS);

/* The `which`th text (0 name, 1 message, 2 hint) of `err`. */
static const char *lookup(stm32isp_err err, unsigned which)
{
    static const char *const unknown[] = {"unknown", "unknown error", "report this as a bug"};
    if ((unsigned)err >= STM32ISP_ERR__COUNT) {
        return unknown[which];
    }
    const char *p = texts;
    for (unsigned skip = (unsigned)err * 3u + which; skip > 0; skip--) {
        while (*p++ != '\0') {
        }
    }
    return p;
}

const char *stm32isp_strerror(stm32isp_err err)
{
    return lookup(err, 1);
}

const char *stm32isp_hint(stm32isp_err err)
{
    return lookup(err, 2);
}

const char *stm32isp_err_name(stm32isp_err err)
{
    return lookup(err, 0);
}

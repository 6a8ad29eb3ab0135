/*
 * Messages and hints for the error enum. They are written for the person at
 * the bench: what happened, then what to check, in that order.
 */
#include "stm32isp/error.h"

typedef struct error_text {
    const char *name;
    const char *message;
    const char *hint;
} error_text;

/* Indexed by stm32isp_err; a test checks that every value has all three. */
static const error_text texts[STM32ISP_ERR__COUNT] = {
    [STM32ISP_OK] = {"ok", "success", ""},
    [STM32ISP_ERR_NO_SYNC] = {"no-sync",
                              "the target does not answer the bootloader's 0x7F sync byte",
                              "check wiring (master TX to target RX PA10, RX to TX PA9, common "
                              "ground), that BOOT0 is high when NRST is released, the NRST line, "
                              "and use 115200 baud or less with 8E1 framing"},
    [STM32ISP_ERR_TIMEOUT] =
        {"timeout", "the target stopped answering in the middle of a command",
         "check for a loose wire or noise on the link; a target that was reset "
         "or lost power needs to be reconnected"},
    [STM32ISP_ERR_BAD_REPLY] = {"bad-reply", "the target sent a byte that is not a valid reply",
                                "noise or a wrong baud rate: lower the baud rate, check parity "
                                "(8E1) and ground"},
    [STM32ISP_ERR_NACK] = {"nack", "the target refused a command (NACK)",
                           "the address or length may be invalid for this part, or readout "
                           "protection may be active"},
    [STM32ISP_ERR_READ_PROTECTED] = {"read-protected", "the target's flash is readout protected",
                                     "removing readout protection mass-erases the flash; do it "
                                     "only on purpose (stm32isp unprotect --read)"},
    [STM32ISP_ERR_UNSUPPORTED] = {"unsupported", "this bootloader does not offer the command",
                                  "see the target's Get reply (stm32isp probe) for what it offers"},
    [STM32ISP_ERR_PORT] = {"port", "the serial port or a pin driver failed",
                           "check that the adapter is still plugged in and not used by another "
                           "program"},
    [STM32ISP_ERR_NO_RESET_LINES] = {"no-reset-lines",
                                     "this needs control of the target's BOOT0 and NRST pins",
                                     "wire BOOT0/NRST to the adapter and pass --reset-seq, or set "
                                     "BOOT0 high and reset the target by hand"},
    [STM32ISP_ERR_UNKNOWN_DEVICE] = {"unknown-device",
                                     "the target's product ID is not in the device database",
                                     "a clone or a newer part: name a known part with --device "
                                     "PID if it is compatible, or report the PID"},
    [STM32ISP_ERR_ADDRESS] = {"address", "an address or range lies outside the target's memory",
                              "check the image's load address (--address for raw binaries) "
                              "against the part's flash"},
    [STM32ISP_ERR_IMAGE_TOO_LARGE] = {"image-too-large",
                                      "the image does not fit the target's flash",
                                      "build for the right part, or use a part with more flash"},
    [STM32ISP_ERR_ERASE_FAILED] = {"erase-failed", "the target refused or did not finish an erase",
                                   "the pages may be write protected (stm32isp unprotect --write) "
                                   "or readout protection is active"},
    [STM32ISP_ERR_WRITE_FAILED] = {"write-failed", "the target refused to program flash",
                                   "flash must be erased before it is written; the pages may also "
                                   "be write protected"},
    [STM32ISP_ERR_VERIFY] = {"verify", "the flash does not hold the image after programming",
                             "write protection makes writes fail silently: check it (stm32isp "
                             "probe), then program again"},
    [STM32ISP_ERR_PROTECT_FAILED] = {"protect-failed",
                                     "the target refused to change its protection",
                                     "readout protection blocks write-protection changes; remove "
                                     "it first"},
    [STM32ISP_ERR_INVALID_ARG] = {"invalid-argument", "a parameter is out of range",
                                  "this is a bug in the caller; report it"},
    [STM32ISP_ERR_IMAGE_SOURCE] = {"image-source", "reading the image to program failed",
                                   "check the image's storage (file or EEPROM)"},
    [STM32ISP_ERR_NOT_CONNECTED] = {"not-connected", "the target is not connected",
                                    "connect to the target first"},
    [STM32ISP_ERR_EEPROM_NACK] = {"eeprom-nack", "the EEPROM does not answer on the I2C bus",
                                  "check the EEPROM's wiring (SDA, SCL, pull-ups, power), its "
                                  "address pins and the EEPROM type"},
    [STM32ISP_ERR_EEPROM_BUS] = {"eeprom-bus", "the I2C bus to the EEPROM failed",
                                 "check the SDA/SCL pull-ups (2.2-4.7 kOhm to 3.3 V) and for "
                                 "another device holding the bus"},
    [STM32ISP_ERR_EEPROM_TIMEOUT] = {"eeprom-timeout",
                                     "the EEPROM did not finish a write cycle in time",
                                     "check the EEPROM type and its write-protect (WP) pin"},
    [STM32ISP_ERR_NO_CONTAINER] = {"no-container", "the EEPROM holds no stm32isp image",
                                   "write one with stm32isp load (or program a dump made by "
                                   "stm32isp pack --eeprom)"},
    [STM32ISP_ERR_CONTAINER_VERSION] = {"container-version",
                                        "the image container has a format version this "
                                        "firmware does not know",
                                        "pack the image with a matching stm32isp, or update "
                                        "the master's firmware"},
    [STM32ISP_ERR_CONTAINER_HEADER] = {"container-header",
                                       "the image container's header is damaged or invalid",
                                       "write the image to the EEPROM again (stm32isp load); "
                                       "the target was not touched"},
    [STM32ISP_ERR_CONTAINER_PAYLOAD] = {"container-payload",
                                        "the image in the EEPROM is damaged or half-written "
                                        "(CRC mismatch)",
                                        "write the image to the EEPROM again (stm32isp load); "
                                        "the target was not touched"},
    [STM32ISP_ERR_DEVICE_NOT_ALLOWED] = {"device-not-allowed",
                                         "the image is not meant for this target (its chip or "
                                         "flash size is not one the image allows)",
                                         "check that the right target is connected, or pack the "
                                         "image with the target's PID (stm32isp pack --pid)"},
};

static const error_text *lookup(stm32isp_err err)
{
    static const error_text unknown = {"unknown", "unknown error", "report this as a bug"};
    if ((unsigned)err >= STM32ISP_ERR__COUNT || texts[err].name == 0) {
        return &unknown;
    }
    return &texts[err];
}

const char *stm32isp_strerror(stm32isp_err err)
{
    return lookup(err)->message;
}

const char *stm32isp_hint(stm32isp_err err)
{
    return lookup(err)->hint;
}

const char *stm32isp_err_name(stm32isp_err err)
{
    return lookup(err)->name;
}

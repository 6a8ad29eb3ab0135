/*
 * The one error enum of the library. Every public function returns one of
 * these; stm32isp_strerror() says what happened and stm32isp_hint() what to
 * do about it, in words a user can act on.
 */
#ifndef STM32ISP_ERROR_H
#define STM32ISP_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum stm32isp_err {
    STM32ISP_OK = 0,
    /* Link and protocol */
    STM32ISP_ERR_NO_SYNC,        /* no answer to 0x7F after every retry */
    STM32ISP_ERR_TIMEOUT,        /* the target stopped answering mid-command */
    STM32ISP_ERR_BAD_REPLY,      /* a byte that is neither ACK nor NACK, or a malformed reply */
    STM32ISP_ERR_NACK,           /* the target refused a command */
    STM32ISP_ERR_READ_PROTECTED, /* NACK on Read Memory: readout protection is active */
    STM32ISP_ERR_UNSUPPORTED,    /* the bootloader does not offer this command */
    STM32ISP_ERR_PORT,           /* the port's read/write/pin function failed */
    STM32ISP_ERR_NO_RESET_LINES, /* the operation needs BOOT0/NRST control the port lacks */
    /* Device */
    STM32ISP_ERR_UNKNOWN_DEVICE,  /* PID not in the device database */
    STM32ISP_ERR_ADDRESS,         /* address or range outside the target's memory */
    STM32ISP_ERR_IMAGE_TOO_LARGE, /* image larger than the target's flash */
    STM32ISP_ERR_ERASE_FAILED,    /* NACK or timeout while erasing */
    STM32ISP_ERR_WRITE_FAILED,    /* NACK while programming */
    STM32ISP_ERR_VERIFY,          /* flash differs from the image after programming */
    STM32ISP_ERR_PROTECT_FAILED,  /* a protect/unprotect command was refused */
    /* Caller */
    STM32ISP_ERR_INVALID_ARG,   /* a parameter is out of range */
    STM32ISP_ERR_IMAGE_SOURCE,  /* the image source's read function failed */
    STM32ISP_ERR_NOT_CONNECTED, /* call stm32isp_connect() first */
    /* The master's EEPROM and the image container in it */
    STM32ISP_ERR_EEPROM_NACK,        /* the EEPROM did not acknowledge (absent, or still busy) */
    STM32ISP_ERR_EEPROM_BUS,         /* I2C bus error, arbitration lost or a stuck bus */
    STM32ISP_ERR_EEPROM_TIMEOUT,     /* a write cycle did not end within its bound */
    STM32ISP_ERR_NO_CONTAINER,       /* no container magic: the EEPROM is blank or foreign */
    STM32ISP_ERR_CONTAINER_VERSION,  /* a container format this code does not know */
    STM32ISP_ERR_CONTAINER_HEADER,   /* header CRC or a header field is wrong */
    STM32ISP_ERR_CONTAINER_PAYLOAD,  /* payload CRC mismatch: a damaged or half-written image */
    STM32ISP_ERR_DEVICE_NOT_ALLOWED, /* the target's PID or flash size is not one the image allows
                                      */
    STM32ISP_ERR_CANCELLED,          /* the caller asked to stop (stm32isp_set_stop_flag) */
    STM32ISP_ERR__COUNT
} stm32isp_err;

/* One line saying what went wrong; never NULL. */
const char *stm32isp_strerror(stm32isp_err err);
/* One line saying what to check or do; never NULL (empty for STM32ISP_OK). */
const char *stm32isp_hint(stm32isp_err err);
/* A stable identifier such as "no-sync", for logs and JSON output. */
const char *stm32isp_err_name(stm32isp_err err);

#ifdef __cplusplus
}
#endif

#endif /* STM32ISP_ERROR_H */

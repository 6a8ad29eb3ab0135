/*
 * The stub flasher's wire protocol (docs/spec/stub.md), shared by the
 * program that runs on the target (target/flasher/flasher.c) and the host.
 * Everything little-endian. Version 1.
 */
#ifndef STM32ISP_STUB_PROTOCOL_H
#define STM32ISP_STUB_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define STUB_SIGNATURE 0x42555473u /* "sTUB" */
#define STUB_VERSION   1u

/* Frame: SOF, type, seq, len (2), payload (len), CRC-32 (4) over type..payload. */
#define STUB_SOF          0xA5u
#define STUB_HEADER_BYTES 5u   /* SOF type seq len */
#define STUB_MAX_DATA     512u /* fits 4 buffers in the 0x420 part's 7.5 KiB */
#define STUB_MAX_PAYLOAD  (STUB_MAX_DATA + 8u)
#define STUB_WINDOW       4u /* frames the host may have unanswered */

/* Host -> stub. The reply is type | STUB_REPLY, same seq, payload[0] a status. */
#define STUB_CMD_PING    0x01u /* anything: echoed after the status and counters */
#define STUB_CMD_BAUD    0x02u /* u32 new rate, u32 rate of the ROM's autobaud, u32 sync window ms */
#define STUB_CMD_DECLARE 0x03u /* u32 page size, then n x (u32 address, u32 length), n <= 8 */
#define STUB_CMD_ERASE   0x04u /* u32 address, u32 length (pages); or 0xFFFFFFFF, 0: mass */
#define STUB_CMD_WRITE   0x05u /* u32 address, then data (even, <= STUB_MAX_DATA bytes) */
#define STUB_CMD_CRC     0x06u /* n x (u32 address, u32 length), n <= 8 -> u32 CRC */
#define STUB_CMD_READ    0x07u /* u32 address, u32 length (<= STUB_MAX_DATA) -> data */
#define STUB_CMD_START   0x08u /* u32 vector table: jump; 0xFFFFFFFF: SYSRESETREQ */
#define STUB_CMD_RESET   0x09u /* SYSRESETREQ */
#define STUB_CMD_SYNC    0x0Au /* the first frame at a new rate */
#define STUB_REPLY       0x80u
/* Stub -> host on its own. */
#define STUB_HELLO 0xC0u /* seq 0; see stub.md for the payload */
#define STUB_NAK   0xFFu /* a frame refused before it ran: payload[0] a status */

#define STUB_MAX_RANGES 8u

/* Clock sources the hello reports. */
#define STUB_CLOCK_HSI     0u /* the PLL did not lock: HSI 8 MHz */
#define STUB_CLOCK_HSI_PLL 1u /* HSI/2 x16 = 64 MHz */
#define STUB_CLOCK_HSE_PLL 2u /* HSE 8 MHz x9 = 72 MHz */

/* Reply statuses: the byte after the frame header of every reply and NAK. */
enum stub_status {
    STUB_STATUS_OK = 0,
    STUB_STATUS_BAD_CRC = 1,        /* frame CRC wrong: not executed */
    STUB_STATUS_BAD_LENGTH = 2,     /* payload too long or of the wrong shape */
    STUB_STATUS_BAD_TYPE = 3,       /* unknown command */
    STUB_STATUS_BAD_SEQ = 4,        /* not the sequence number expected: go back */
    STUB_STATUS_DUPLICATE = 5,      /* this sequence number already ran */
    STUB_STATUS_NOT_DECLARED = 6,   /* outside the declared ranges (or the flash) */
    STUB_STATUS_BAD_ALIGN = 7,      /* odd address or length, not a page */
    STUB_STATUS_PGERR = 8,          /* FLASH_SR.PGERR: half-word not erased */
    STUB_STATUS_WRPRTERR = 9,       /* FLASH_SR.WRPRTERR: page write protected */
    STUB_STATUS_FLASH_TIMEOUT = 10, /* FLASH_SR.BSY never cleared */
    STUB_STATUS_VERIFY = 11,        /* read back differs though no error flag */
    STUB_STATUS_LOCKED = 12,        /* FPEC unlock sequence failed */
    STUB_STATUS_BAD_RATE = 13,      /* rate not reachable within 2 % */
};

/* The host's name for a status (the stub never calls it). */
static inline const char *stub_status_name(unsigned status)
{
    switch (status) {
    case STUB_STATUS_OK:
        return "OK";
    case STUB_STATUS_BAD_CRC:
        return "BAD_CRC";
    case STUB_STATUS_BAD_LENGTH:
        return "BAD_LENGTH";
    case STUB_STATUS_BAD_TYPE:
        return "BAD_TYPE";
    case STUB_STATUS_BAD_SEQ:
        return "BAD_SEQ";
    case STUB_STATUS_DUPLICATE:
        return "DUPLICATE";
    case STUB_STATUS_NOT_DECLARED:
        return "NOT_DECLARED";
    case STUB_STATUS_BAD_ALIGN:
        return "BAD_ALIGN";
    case STUB_STATUS_PGERR:
        return "PGERR";
    case STUB_STATUS_WRPRTERR:
        return "WRPRTERR";
    case STUB_STATUS_FLASH_TIMEOUT:
        return "FLASH_TIMEOUT";
    case STUB_STATUS_VERIFY:
        return "VERIFY";
    case STUB_STATUS_LOCKED:
        return "LOCKED";
    case STUB_STATUS_BAD_RATE:
        return "BAD_RATE";
    default:
        return "?";
    }
}

/* The blob the host build makes from flasher.c (stub_blob.c, generated). */
typedef struct stub_program {
    const uint8_t *code;
    size_t size;        /* bytes, loaded at the part's free-RAM start */
    size_t stack_bytes; /* below the stack pointer the host gives it */
} stub_program;

extern const stub_program stub_program_f1;

#endif

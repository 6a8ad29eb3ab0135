/*
 * Wire constants of the STM32 ROM bootloader's USART protocol (ST AN3155).
 *
 * Shared by the client library and the bootloader simulator: both sides must
 * agree on the bytes, but nothing else is shared, so that a misreading of the
 * protocol in one does not hide the same misreading in the other.
 */
#ifndef STM32ISP_AN3155_H
#define STM32ISP_AN3155_H

#define AN3155_SYNC 0x7Fu /* autobaud byte, first byte after reset */
#define AN3155_ACK  0x79u
#define AN3155_NACK 0x1Fu

/* Opcodes; each is sent followed by its complement (opcode ^ 0xFF). */
#define AN3155_CMD_GET               0x00u
#define AN3155_CMD_GET_VERSION       0x01u
#define AN3155_CMD_GET_ID            0x02u
#define AN3155_CMD_READ_MEMORY       0x11u
#define AN3155_CMD_GO                0x21u
#define AN3155_CMD_WRITE_MEMORY      0x31u
#define AN3155_CMD_ERASE             0x43u
#define AN3155_CMD_EXTENDED_ERASE    0x44u
#define AN3155_CMD_WRITE_PROTECT     0x63u
#define AN3155_CMD_WRITE_UNPROTECT   0x73u
#define AN3155_CMD_READOUT_PROTECT   0x82u
#define AN3155_CMD_READOUT_UNPROTECT 0x92u
#define AN3155_CMD_GET_CHECKSUM      0xA1u

/* Read Memory and Write Memory move at most this many bytes per command. */
#define AN3155_MAX_TRANSFER 256u

/* Erase 0x43: the two bytes that request a global (mass) erase. */
#define AN3155_ERASE_GLOBAL 0xFFu

/* Extended Erase 0x44: special 16-bit "page count" codes. */
#define AN3155_EXT_ERASE_MASS  0xFFFFu
#define AN3155_EXT_ERASE_BANK1 0xFFFEu
#define AN3155_EXT_ERASE_BANK2 0xFFFDu
/* Codes from here up to 0xFFFC are reserved and are refused. */
#define AN3155_EXT_ERASE_RESERVED_MIN 0xFFF0u

#endif /* STM32ISP_AN3155_H */

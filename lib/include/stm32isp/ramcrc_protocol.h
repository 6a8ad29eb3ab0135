/*
 * The wire format of the RAM CRC program (docs/ram-crc.md): what the host
 * writes into the target's RAM, what the program sends back and which
 * commands it takes afterwards. Shared by the program itself
 * (target/crc32/), the host library (ramcrc.h) and the simulator, which
 * models the program; constants only, so that it builds freestanding.
 *
 * Every multi-byte field is little-endian: the target is a Cortex-M, and the
 * program then reads its parameters as plain words.
 */
#ifndef STM32ISP_RAMCRC_PROTOCOL_H
#define STM32ISP_RAMCRC_PROTOCOL_H

/*
 * The program as built: a two-word vector table (as the bootloader's Go
 * reads it) followed by a signature, the protocol version and the code.
 *
 *   0x00  initial stack pointer: 0 in the blob; the host writes the address
 *         of the parameter block, which the program finds in SP at entry
 *   0x04  entry point | 1, relative to the blob's start; the host adds the
 *         load address (the code itself is position independent)
 *   0x08  STM32ISP_RAMCRC_SIGNATURE
 *   0x0C  STM32ISP_RAMCRC_VERSION
 */
#define STM32ISP_RAMCRC_SIGNATURE        0x43524373u /* "sCRC" in memory */
#define STM32ISP_RAMCRC_VERSION          1u
#define STM32ISP_RAMCRC_OFFSET_SP        0u
#define STM32ISP_RAMCRC_OFFSET_ENTRY     4u
#define STM32ISP_RAMCRC_OFFSET_SIGNATURE 8u
#define STM32ISP_RAMCRC_OFFSET_VERSION   12u
#define STM32ISP_RAMCRC_HEADER_SIZE      16u

/*
 * The parameter block, 32-bit words at the address the stack pointer holds
 * at entry (the stack grows down from there, away from it):
 *
 *   word 0  STM32ISP_RAMCRC_PARAM_MAGIC
 *   word 1  nonce: chosen by the host, so that a reply to an earlier run
 *           cannot pass for this one (it is inside the echoed check)
 *   word 2  the USART's base address (F1: USART1, 0x40013800)
 *   word 3  the application's vector table, for the start command
 *   word 4  n, the number of ranges (1..STM32ISP_RAMCRC_MAX_RANGES)
 *   then n  address, length: the CRC covers these ranges laid end to end
 *   last    CRC-32/ISO-HDLC of every byte of the block before it
 */
#define STM32ISP_RAMCRC_PARAM_MAGIC    0x4d525073u /* "sPRM" in memory */
#define STM32ISP_RAMCRC_PARAM_WORDS    5u          /* fixed words before the ranges */
#define STM32ISP_RAMCRC_MAX_RANGES     32u
#define STM32ISP_RAMCRC_PARAM_SIZE(n)  (4u * (STM32ISP_RAMCRC_PARAM_WORDS + 2u * (n) + 1u))
#define STM32ISP_RAMCRC_PARAM_MAX_SIZE STM32ISP_RAMCRC_PARAM_SIZE(STM32ISP_RAMCRC_MAX_RANGES)
/* RAM below the parameter block kept for the program's stack: its CRC table
 * (1 KiB) and a few frames. */
#define STM32ISP_RAMCRC_STACK_SIZE 1536u

/*
 * The reply, 15 bytes, sent once the CRC is computed:
 *
 *   0      STM32ISP_RAMCRC_REPLY_START
 *   1      status (STM32ISP_RAMCRC_STATUS_*)
 *   2..5   CRC-32/ISO-HDLC of the ranges laid end to end (zlib's crc32)
 *   6..9   bytes covered
 *   10..13 the CRC the program computed over the parameter block: equal to
 *          the block's last word when the block arrived intact
 *   14     XOR of bytes 0..13
 *
 * With a bad status the CRC and byte count are 0.
 */
#define STM32ISP_RAMCRC_REPLY_START 0x5Au
#define STM32ISP_RAMCRC_REPLY_SIZE  15u

#define STM32ISP_RAMCRC_STATUS_OK         0u
#define STM32ISP_RAMCRC_STATUS_BAD_MAGIC  1u /* no parameter block where SP pointed */
#define STM32ISP_RAMCRC_STATUS_BAD_CHECK  2u /* the block's CRC does not match */
#define STM32ISP_RAMCRC_STATUS_BAD_RANGES 3u /* no range, too many, or one that wraps */

/*
 * Then the program waits for a command: a byte and its complement. It
 * answers STM32ISP_RAMCRC_ACK (and waits until the byte has left the USART)
 * before it acts. Any 0x7F, the byte every AN3155 session starts with,
 * makes it reset the chip at once, without an answer: a host that lost
 * track of the target finds its bootloader again with its usual sync. With
 * no command for about STM32ISP_RAMCRC_IDLE_RESET_S seconds (at the F1
 * bootloader's clock) it resets the chip too.
 */
#define STM32ISP_RAMCRC_CMD_START    0x47u /* 'G': VTOR, MSP, jump to the application */
#define STM32ISP_RAMCRC_CMD_RESET    0x52u /* 'R': system reset (AIRCR.SYSRESETREQ) */
#define STM32ISP_RAMCRC_CMD_RESEND   0x41u /* 'A': send the reply again */
#define STM32ISP_RAMCRC_ACK          0x79u
#define STM32ISP_RAMCRC_SYNC_RESET   0x7Fu
#define STM32ISP_RAMCRC_IDLE_RESET_S 10u

/*
 * Timing of the program's CRC loop, for the simulator's model and the host's
 * timeout: CPU cycles per byte (counted on the Cortex-M3 from the loop's
 * instructions, with margin for fetching code from SRAM) and cycles before
 * the first byte (building the table, checking the parameters).
 */
#define STM32ISP_RAMCRC_CYCLES_PER_BYTE 12u
#define STM32ISP_RAMCRC_SETUP_CYCLES    20000u

#endif /* STM32ISP_RAMCRC_PROTOCOL_H */

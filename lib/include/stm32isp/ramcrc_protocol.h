/*
 * The wire format of the RAM CRC program (docs/ram-crc.md): what the host
 * writes into the target's RAM, what the program sends back and which
 * commands it takes afterwards. Shared by the program itself
 * (target/crc32/) and the host library (ramcrc.h); constants only, so that
 * it builds freestanding.
 *
 * Every multi-byte field is little-endian: the target is a Cortex-M, and the
 * program then reads its parameters as plain words.
 */
#ifndef STM32ISP_RAMCRC_PROTOCOL_H
#define STM32ISP_RAMCRC_PROTOCOL_H

#include <stdint.h>

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
#define STM32ISP_RAMCRC_SIGNATURE 0x43524373u /* "sCRC" in memory */
/* 2: the program sets its own clock, pins and USART from the parameter
 * block (1 relied on what the ROM left, which on the F103 answers at a
 * third of the host's rate). */
#define STM32ISP_RAMCRC_VERSION          2u
#define STM32ISP_RAMCRC_OFFSET_SP        0u
#define STM32ISP_RAMCRC_OFFSET_ENTRY     4u
#define STM32ISP_RAMCRC_OFFSET_SIGNATURE 8u
#define STM32ISP_RAMCRC_OFFSET_VERSION   12u
#define STM32ISP_RAMCRC_HEADER_SIZE      16u

/*
 * The parameter block, 32-bit words at the address the stack pointer holds
 * at entry (the stack grows down from there, away from it). The program
 * relies on nothing the ROM leaves but RAM: it sets up its clock, pins and
 * USART from these words.
 *
 *   word 0  STM32ISP_RAMCRC_PARAM_MAGIC
 *   word 1  nonce: chosen by the host, so that a reply to an earlier run
 *           cannot pass for this one (it is inside the echoed check)
 *   word 2  the USART's base address (F1: USART1, 0x40013800)
 *   word 3  the application's vector table, for the start command
 *   word 4  the baud rate: the host's, which the program sets from its own
 *           clock (8E1 as the bootloader)
 *   word 5  the USART's pins: bits 0-3 TX pin, 4-7 TX port (0 = GPIOA),
 *           bits 8-11 RX pin, 12-15 RX port
 *   word 6  bits to set in AFIO_MAPR for those pins (0: no remap)
 *   word 7  n, the number of ranges (1..STM32ISP_RAMCRC_MAX_RANGES)
 *   then n  address, length: the CRC covers these ranges laid end to end
 *   last    CRC-32/ISO-HDLC of every byte of the block before it
 */
#define STM32ISP_RAMCRC_PARAM_MAGIC  0x4d525073u /* "sPRM" in memory */
#define STM32ISP_RAMCRC_PARAM_WORDS  8u          /* fixed words before the ranges */
#define STM32ISP_RAMCRC_WORD_USART   2u
#define STM32ISP_RAMCRC_WORD_VECTORS 3u
#define STM32ISP_RAMCRC_WORD_BAUD    4u
#define STM32ISP_RAMCRC_WORD_PINS    5u
#define STM32ISP_RAMCRC_WORD_REMAP   6u
#define STM32ISP_RAMCRC_WORD_COUNT   7u
#define STM32ISP_RAMCRC_PINS(tx_port, tx_pin, rx_port, rx_pin)                                     \
    ((uint32_t)(tx_pin) | (uint32_t)(tx_port) << 4 | (uint32_t)(rx_pin) << 8 |                     \
     (uint32_t)(rx_port) << 12)
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
 * no valid command for STM32ISP_RAMCRC_IDLE_RESET_MS since it last sent
 * something it resets the chip too; bytes that are not a command (noise, a
 * host at another rate) do not keep it alive, so a host that hears nothing
 * knows the target is back in its bootloader after that long.
 */
#define STM32ISP_RAMCRC_CMD_START     0x47u /* 'G': VTOR, MSP, jump to the application */
#define STM32ISP_RAMCRC_CMD_RESEND    0x41u /* 'A': send the reply again */
#define STM32ISP_RAMCRC_ACK           0x79u
#define STM32ISP_RAMCRC_SYNC_RESET    0x7Fu
#define STM32ISP_RAMCRC_IDLE_RESET_MS 2000u

/*
 * Timing of the program, for the host's timeout: the clock it runs at (the
 * F1's HSI), CPU cycles per byte of its CRC loop (counted on the Cortex-M3
 * from the loop's instructions, with margin for fetching code from SRAM)
 * and cycles before the first byte (clock and USART set-up, the table, the
 * parameter check).
 */
#define STM32ISP_RAMCRC_CLOCK_HZ        8000000u
#define STM32ISP_RAMCRC_CYCLES_PER_BYTE 12u
#define STM32ISP_RAMCRC_SETUP_CYCLES    20000u

#endif /* STM32ISP_RAMCRC_PROTOCOL_H */

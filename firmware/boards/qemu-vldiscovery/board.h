/*
 * The same firmware on QEMU 7.2's stm32vldiscovery machine (an STM32F100
 * with the F1's USARTs, SysTick and NVIC; RCC, GPIO and I2C are stubs that
 * read 0, RAM is 8 KiB). What differs from the Blue Pill, all here:
 *
 * - USART1 (the first -serial) is the target link, USART2 (the second) the
 *   console; QEMU ignores baud rate, parity and word length.
 * - SysTick counts a fixed 24 MHz whatever the RCC says.
 * - The EEPROM is a host file through semihosting (eeprom_file.c).
 * - No BOOT0/NRST lines: the simulated target on the other end of USART1
 *   sits in its bootloader, and the library starts the application with Go.
 * - The run's result leaves through the semihosting exit code.
 *
 * Options come from the semihosting command line (QEMU's -append):
 *   mode=flash        run the flashing job at start-up and exit with its
 *                     result (the default); mode=probe identifies the target
 *                     and exits; mode=console waits for console commands
 *                     (the console's `reset` exits with 0)
 *   eeprom=PATH       the EEPROM file (default eeprom.bin in QEMU's folder)
 *   eeprom-type=NAME  the part it models (default 24c256)
 */
#ifndef FW_BOARD_QEMU_H
#define FW_BOARD_QEMU_H

#define BOARD_NAME          "qemu-vldiscovery"
#define BOARD_HSE_HZ        8000000u /* asked for; QEMU's RCC never reports it ready */
#define QEMU_SYSTICK_HZ     24000000u
#define TARGET_BAUD         115200u
#define CONSOLE_BAUD        115200u
#define EEPROM_DEFAULT_FILE "eeprom.bin"
#define EEPROM_DEFAULT_PART "24c256"
#define EEPROM_ADDRESS      0x50u

/* Exit codes of the board itself (the application's are below 100). */
#define EXIT_PANIC 100
#define EXIT_USAGE 101

#endif /* FW_BOARD_QEMU_H */

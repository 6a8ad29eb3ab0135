/*
 * The virtual Blue Pill bench: the master firmware a user flashes
 * (build-fw/bluepill/master.elf, its loadable bytes exactly), run on the
 * virtual STM32F1 (sim/mcu) inside a model of the board as docs/wiring.md
 * wires it:
 *
 * - USART1 (PA9/PA10) to a target's ROM bootloader model (blsim), frame by
 *   frame at the rates both sides actually clock; BOOT0 (PB0) and NRST
 *   (PB1) to the target's pins. NRST is open drain with the target's
 *   internal pull-up and a 100 nF capacitor: the target leaves reset only
 *   when the RC rise crosses its input threshold.
 * - The I2C pins (PB6 SCL, PB7 SDA), open drain with pull-ups, to a 24Cxx
 *   model at the bit level (eesim_bus), which checks the bus timing
 *   against the datasheets' limits for the speed class.
 * - The "program" button (PB12) and the LED (PC13) for tests to press and
 *   watch; the console (USART2, PA2/PA3) to a test driver.
 *
 * Everything runs on the master's virtual clock: the target never runs
 * more than one byte time behind it, and every byte crosses a wire at the
 * time its stop bit ends. Host-side simulator code: it allocates.
 */
#ifndef BENCH_H
#define BENCH_H

#include "blsim/blsim.h"
#include "eesim/eesim.h"
#include "vmcu/vmcu.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_config {
    /* The master's flash image from address 0x08000000 (bench_load_elf). */
    const uint8_t *firmware;
    size_t firmware_size;
    bool no_crystal; /* the master has no 8 MHz crystal (its HSI fallback) */
    int32_t hsi_ppm; /* the master's HSI error */

    /* The target: a blsim device name ("f103" when NULL) and its options. */
    const char *target_device;
    blsim_faults target_faults;
    bool target_no_crystal;

    /* The EEPROM: a part name ("24c256" when NULL), its contents (all 0xFF
     * past `eeprom_size`, which may be 0), and the I2C speed class the
     * bus timing is checked against (400000 when 0). */
    const char *eeprom_part;
    const uint8_t *eeprom_bytes;
    size_t eeprom_size;
    uint32_t i2c_class_hz;

    /* The BOOT0 net's pull-down (docs/wiring.md asks for 10-47 kOhm); a
     * board built without it leaves BOOT0 floating whenever the master's
     * pin is an input. */
    bool no_boot0_pull_down;
    /* The target's NRST pull-up in ohms (the F103 datasheet's RPU: 30-50
     * kOhm, 40 typical) and the capacitor on the net in nF. 0: 40000 and
     * 100. */
    uint32_t nrst_pull_up_ohm;
    uint32_t nrst_cap_nf;

    /* Every line the models log (a frame at the wrong rate, a bus timing
     * violation, a pin fight), with the time; may be NULL. */
    void (*log)(void *ctx, const char *line);
    void *ctx;
} bench_config;

typedef struct bench bench;

/*
 * Reads an ELF file's loadable segments (their load addresses, as a
 * programmer writes them) into a flash image starting at 0x08000000, unused
 * bytes 0xFF. Returns the image (free() it) and its size, or NULL with the
 * reason in err.
 */
uint8_t *bench_load_elf(const char *path, size_t *size, char *err, size_t err_size);

/* A powered-up board, the master's CPU started from its reset vector; NULL
 * on a bad config. */
bench *bench_new(const bench_config *config);
void bench_free(bench *b);

/* Why the last run stopped early. */
typedef enum bench_status {
    BENCH_OK,        /* the clock reached the time asked for, or the awaited text came */
    BENCH_TIMEOUT,   /* bench_console_wait: the text never came */
    BENCH_MCU_ERROR, /* the master's MCU stopped: a fault, an invalid or unmodelled access */
} bench_status;

/* Runs the board up to the master's time t_ns, or for `ms` more. */
bench_status bench_run_until(bench *b, uint64_t t_ns);
bench_status bench_run_ms(bench *b, uint32_t ms);
uint64_t bench_now_ns(const bench *b);
/* After BENCH_MCU_ERROR: the MCU's reason, with the PC. */
const char *bench_error(const bench *b);

/* The console (USART2 at 115200 8N1, as an adapter sends it). */
void bench_console_send(bench *b, const void *bytes, size_t len);
/* Runs until the console's output (since the last bench_console_clear)
 * contains `text`, at most timeout_ms more. */
bench_status bench_console_wait(bench *b, const char *text, uint32_t timeout_ms);
/* Everything the master printed since the last clear, NUL-terminated. */
const char *bench_console_output(const bench *b);
size_t bench_console_length(const bench *b);
void bench_console_clear(bench *b);

/* The button: pressed (to ground) or released. */
void bench_button(bench *b, bool pressed);
/* The LED now, and how it behaved since the last bench_led_clear: time
 * lit, time dark, and the number of times it was lit. */
bool bench_led_lit(const bench *b);
typedef struct bench_led_record {
    uint64_t lit_ns, dark_ns;
    uint32_t flashes;
} bench_led_record;
bench_led_record bench_led_since_clear(const bench *b);
void bench_led_clear(bench *b);

typedef struct bench_stats {
    uint64_t i2c_violations; /* bus timing outside the datasheets' limits */
    char i2c_first_violation[200];
    uint64_t i2c_bytes;              /* bytes that crossed the I2C bus, both ways */
    uint64_t frames_to_target;       /* USART1 frames the target received */
    uint64_t frames_garbled;         /* ... not intact (rate or format wrong) */
    uint64_t target_resets;          /* NRST edges the target saw */
    uint64_t boot0_floating_samples; /* the target left reset with BOOT0 undriven */
    uint64_t boot0_first_driven_ns;  /* when the master first drove BOOT0 (UINT64_MAX: never) */
    uint64_t master_resets;
} bench_stats;
/* Brings the EEPROM bus's counts in first: not const. */
const bench_stats *bench_get_stats(bench *b);

/* The parts, for tests to read or change. */
blsim *bench_target(bench *b);
eesim *bench_eeprom(bench *b);
vmcu *bench_master(bench *b);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_H */

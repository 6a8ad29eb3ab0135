/*
 * The master's side of `stm32isp load`: takes the frames of a container
 * (frame.h) and writes it into the EEPROM so that a transfer broken at any
 * point never leaves a valid-looking half image (docs/firmware.md, "The
 * load protocol"):
 *
 *   BEGIN  overwrites the stored container's magic (its first 4 bytes) with
 *          0xFF: from here on the EEPROM holds no container at all;
 *   DATA   writes the bytes at their offset, in order, except the new
 *          container's first 4 bytes, which are held in RAM;
 *   END    checks the whole container as stored, with the held bytes laid
 *          over the blank magic; only if that passes writes the magic, then
 *          checks the container once more as read back from the EEPROM
 *          (and blanks the magic again if that fails).
 *
 * So the EEPROM holds either the old image untouched (a refused BEGIN), no
 * container (magic blank: `no-container`), or the new image, checked.
 *
 * Portable C on the library's EEPROM driver: the host builds it against the
 * EEPROM model (tests/unit/test_fw_frame.c). The caller runs the I/O loop
 * and the timeouts.
 */
#ifndef FW_LOADER_H
#define FW_LOADER_H

#include "frame.h"

#include "stm32isp/container.h"
#include "stm32isp/eeprom.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reply payload: result, reason, library error, then what the frame asks
 * for (BEGIN: the EEPROM's geometry; END: the payload CRC and the
 * container's length). The EEPROM's geometry, in BEGIN (optional: the part
 * the PC expects) and in its answer: u32 size, u16 page size, word address
 * bytes, block-select bits. */
enum {
    LOAD_OK = 0,      /* done; go on */
    LOAD_RESEND = 1,  /* the frame arrived damaged: send it again */
    LOAD_REFUSED = 2, /* the transfer is over: the reason says why */
};

typedef enum load_reason {
    LOAD_R_NONE = 0,
    LOAD_R_DAMAGED = 1,  /* frame CRC or length wrong (with LOAD_RESEND) */
    LOAD_R_SEQUENCE = 2, /* a frame out of order, or data not at the next offset */
    LOAD_R_STATE = 3,    /* DATA or END without BEGIN, END before every byte, unknown frame */
    LOAD_R_SIZE = 4,     /* the container is shorter than a header or longer than the EEPROM */
    LOAD_R_PART = 5,     /* the PC expects another EEPROM part */
    LOAD_R_EEPROM = 6,   /* writing the EEPROM failed (error: the driver's) */
    LOAD_R_CHECK = 7,    /* the container as stored is not valid (error: the check's) */
    LOAD_R_ABORTED = 8,  /* the PC gave up */
} load_reason;

#define LOADER_GEOMETRY   8u
#define LOADER_REPLY_MAX  (FRAME_HEADER + 3u + LOADER_GEOMETRY + FRAME_TRAILER)
#define LOADER_MIN_LENGTH (STM32ISP_CONTAINER_FIXED_SIZE + 8u + 4u + 1u)

typedef struct loader {
    stm32isp_eeprom *ee;
    /* Borrowed for the checks at END. */
    stm32isp_container *ct;
    uint8_t *scratch;
    size_t scratch_size;

    bool begun;         /* a BEGIN was taken: the stored magic is blank */
    bool over;          /* the transfer ended: leave the protocol */
    bool overlay;       /* reads see `head` over offsets 0..3 */
    uint8_t expected;   /* sequence number of the next new frame */
    uint32_t total;     /* container length announced by BEGIN */
    uint32_t received;  /* bytes taken, in order */
    uint8_t head[4];    /* the new container's first bytes, written last */
    load_reason reason; /* why it ended */
    stm32isp_err err;   /* the driver's or the check's error behind it */

    uint8_t reply[LOADER_REPLY_MAX];
    size_t reply_len;
} loader;

void loader_init(loader *l, stm32isp_eeprom *ee, stm32isp_container *ct, uint8_t *scratch,
                 size_t scratch_size);

/*
 * Handles what frame_parse() returned (READY with the frame, or DAMAGED /
 * BAD_LENGTH) and returns the length of the reply frame to send, in
 * l->reply (0: nothing to send). l->over tells when the transfer ended;
 * after a good END, l->ct holds the container's header.
 */
size_t loader_handle(loader *l, frame_status status, const frame *f);

#endif /* FW_LOADER_H */

/*
 * Debouncing of a push button: the level must stay the same for
 * DEBOUNCE_MS before it counts, which hides contact bounce (a few ms) and
 * short spikes on a long wire.
 */
#ifndef FW_BUTTON_H
#define FW_BUTTON_H

#include <stdbool.h>
#include <stdint.h>

#define DEBOUNCE_MS 20u

typedef struct debounce {
    bool raw;          /* last level read */
    bool stable;       /* the debounced level */
    uint32_t since_ms; /* when `raw` last changed */
} debounce;

/* Feeds one reading (`pressed` as read now). Returns true exactly once per
 * press: when the debounced level becomes pressed. */
static inline bool debounce_update(debounce *d, bool pressed, uint32_t now_ms)
{
    if (pressed != d->raw) {
        d->raw = pressed;
        d->since_ms = now_ms;
        return false;
    }
    if (pressed != d->stable && now_ms - d->since_ms >= DEBOUNCE_MS) {
        d->stable = pressed;
        return pressed;
    }
    return false;
}

#endif /* FW_BUTTON_H */

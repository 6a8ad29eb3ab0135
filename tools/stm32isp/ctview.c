/* Showing image containers (ctview.h). */
#include "ctview.h"

#include <string.h>

void ctview_flag_words(uint32_t flags, char *buf, size_t size)
{
    snprintf(buf, size, "%s, %s%s%s",
             (flags & STM32ISP_CONTAINER_VERIFY) != 0 ? "verify" : "no verify",
             (flags & STM32ISP_CONTAINER_START) != 0 ? "start" : "no start",
             (flags & STM32ISP_CONTAINER_READOUT_PROTECT) != 0 ? ", readout-protect" : "",
             (flags & STM32ISP_CONTAINER_UNPROTECT) != 0 ? ", unprotect" : "");
}

void ctview_print_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7F || ch == '\\') {
            fprintf(f, "\\x%02x", ch);
        } else {
            fputc(ch, f);
        }
    }
}

const stm32isp_eeprom_part *ctview_part_of_size(uint64_t bytes)
{
    for (size_t i = 0; stm32isp_eeprom_part_at(i) != NULL; i++) {
        if (stm32isp_eeprom_part_at(i)->size == bytes) {
            return stm32isp_eeprom_part_at(i);
        }
    }
    return NULL;
}

static stm32isp_err buffer_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    const ctview_buffer *b = ctx;
    if ((uint64_t)offset + len > b->source.size) {
        return STM32ISP_ERR_IMAGE_SOURCE;
    }
    memcpy(buf, b->data + offset, len);
    return STM32ISP_OK;
}

void ctview_buffer_init(ctview_buffer *b, const uint8_t *data, uint32_t size)
{
    b->data = data;
    b->source.read = buffer_read;
    b->source.ctx = b;
    b->source.size = size;
}

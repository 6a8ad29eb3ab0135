/*
 * The firmware's stand-in for lib/src/ramcrc.c. The RAM CRC program (about
 * 1 KiB of target code plus 1.4 KiB of host code) does not fit the
 * master's 24 KiB of flash, so the firmware runs the job with no
 * ram_program and verifies by reading the flash back. The job still calls
 * into the RAM CRC module on paths that a NULL program never takes; these
 * definitions let the linker drop that module instead of carrying it.
 */
#include "stm32isp/ramcrc.h"

stm32isp_err stm32isp_ramcrc_check(const stm32isp_client *c, const stm32isp_ramcrc_program *prog,
                                   size_t range_count)
{
    (void)c;
    (void)prog;
    (void)range_count;
    return STM32ISP_ERR_UNSUPPORTED;
}

stm32isp_err stm32isp_ramcrc_verify(stm32isp_client *c, const stm32isp_ramcrc_program *prog,
                                    const stm32isp_segment *ranges, size_t count,
                                    uint32_t expected_crc, uint32_t app_vector_table,
                                    stm32isp_ramcrc_report *report)
{
    (void)c;
    (void)prog;
    (void)ranges;
    (void)count;
    (void)expected_crc;
    (void)app_vector_table;
    (void)report;
    return STM32ISP_ERR_UNSUPPORTED;
}

stm32isp_err stm32isp_ramcrc_leave(stm32isp_client *c, stm32isp_ramcrc_next next)
{
    (void)c;
    (void)next;
    return STM32ISP_OK;
}

#include "semihosting.h"

#include <string.h>

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_SEEK = 0x0A,
    SYS_FLEN = 0x0C,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
};
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int call(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int sh_open(const char *name, int mode)
{
    const uint32_t args[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, strlen(name)};
    return call(SYS_OPEN, args);
}

int sh_close(int fd)
{
    const uint32_t args[1] = {(uint32_t)fd};
    return call(SYS_CLOSE, args);
}

int sh_write(int fd, const void *buf, size_t len)
{
    const uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, len};
    return call(SYS_WRITE, args);
}

int sh_read(int fd, void *buf, size_t len)
{
    const uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, len};
    return call(SYS_READ, args);
}

int sh_seek(int fd, uint32_t pos)
{
    const uint32_t args[2] = {(uint32_t)fd, pos};
    return call(SYS_SEEK, args);
}

long sh_flen(int fd)
{
    const uint32_t args[1] = {(uint32_t)fd};
    return call(SYS_FLEN, args);
}

void sh_write0(const char *s)
{
    (void)call(SYS_WRITE0, s);
}

int sh_get_cmdline(char *buf, size_t size)
{
    uint32_t args[2] = {(uint32_t)(uintptr_t)buf, size};
    if (size == 0 || call(SYS_GET_CMDLINE, args) != 0) {
        return -1;
    }
    buf[args[1] < size ? args[1] : size - 1] = '\0';
    return 0;
}

void sh_exit(int code)
{
    const uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    (void)call(SYS_EXIT_EXTENDED, args);
    /* A host without the extended call: the plain one, without the code. */
    (void)call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
    for (;;) {
    }
}

/*
 * The image readers: each format read into the right segments and bytes,
 * and every malformed input refused with a message that says where.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "imagefile.h"

#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int load_text(const char *name, const char *text, loaded_image *img, char *err)
{
    return image_load_buffer(name, (const uint8_t *)text, strlen(text), IMAGE_FORMAT_AUTO, false, 0,
                             img, err, 256);
}

/* Loads text that must fail; the message must contain `want`. */
static void expect_error(const char *name, const char *text, const char *want)
{
    loaded_image img;
    char err[256] = "";
    assert_int_equal(load_text(name, text, &img, err), -1);
    if (strstr(err, want) == NULL) {
        fail_msg("message '%s' lacks '%s'", err, want);
    }
    assert_null(img.segments);
}

/* ---- Intel HEX ---------------------------------------------------------- */

static void test_ihex_with_extended_address_and_gap(void **state)
{
    (void)state;
    const char *text = ":020000040800F2\r\n"
                       ":0400000001020304F2\r\n"
                       ":02000400AABB95\r\n"
                       "\n"
                       ":01100000CC23\n"
                       ":0400000508000101ED\n"
                       ":00000001FF\n";
    loaded_image img;
    char err[256];
    assert_int_equal(load_text("fw.hex", text, &img, err), 0);
    assert_int_equal(img.format, IMAGE_FORMAT_IHEX);
    /* 0x08000000..05 is contiguous (two records merged), 0x08001000 apart. */
    assert_int_equal(img.segment_count, 2);
    assert_int_equal(img.segments[0].address, 0x08000000);
    assert_int_equal(img.segments[0].length, 6);
    assert_int_equal(img.segments[1].address, 0x08001000);
    assert_int_equal(img.segments[1].length, 1);
    const uint8_t want[] = {1, 2, 3, 4, 0xAA, 0xBB, 0xCC};
    assert_int_equal(img.payload_size, sizeof want);
    assert_memory_equal(img.payload, want, sizeof want);

    stm32isp_image as;
    image_as_stm32isp(&img, &as);
    uint8_t buf[3];
    assert_int_equal(as.read(as.ctx, 4, buf, 3), 0);
    assert_memory_equal(buf, want + 4, 3);
    assert_int_not_equal(as.read(as.ctx, 5, buf, 3), 0); /* past the payload */
    image_free(&img);
}

static void test_ihex_segment_address_and_unsorted_records(void **state)
{
    (void)state;
    /* Type 02: base 0x1000 << 4 = 0x10000; records out of order. */
    const char *text = ":020000021000EC\n"
                       ":02001000BBBB78\n"
                       ":02000000AAAAAA\n"
                       ":00000001FF\n";
    loaded_image img;
    char err[256];
    assert_int_equal(load_text("x.hex", text, &img, err), 0);
    assert_int_equal(img.segment_count, 2);
    assert_int_equal(img.segments[0].address, 0x10000);
    assert_int_equal(img.segments[1].address, 0x10010);
    assert_int_equal(img.payload[0], 0xAA);
    assert_int_equal(img.payload[2], 0xBB);
    image_free(&img);
}

static void test_ihex_errors_name_the_line(void **state)
{
    (void)state;
    expect_error("a.hex", ":0400000001020304F3\n:00000001FF\n", "a.hex:1: checksum mismatch");
    expect_error("a.hex", ":00000001FF\n:0400000001020304F2\n",
                 "a.hex:2: data after the end-of-file");
    expect_error("a.hex", ":0400000001020304F2\n", "no end-of-file record");
    expect_error("a.hex", ":0400000001020304F2\n:04000000ZZ020304F2\n:00000001FF\n",
                 "a.hex:2: not a hexadecimal record");
    expect_error("a.hex", ":0500000001020304F2\n:00000001FF\n", "a.hex:1: byte count");
    expect_error("a.hex", ":0400000601020304EC\n:00000001FF\n", "unknown record type 0x06");
    expect_error("a.hex", ":020000040800F2\n:00000001FF\n", "no data");
    /* Two records for one address. */
    expect_error("a.hex", ":0400000001020304F2\n:020002000506F1\n:00000001FF\n", "overlaps");
    /* Data that runs past 4 GiB. */
    expect_error("a.hex", ":02000004FFFFFC\n:04FFFE0001020304F5\n:00000001FF\n", "4 GiB");
}

/* ---- SREC --------------------------------------------------------------- */

static void test_srec_all_address_sizes(void **state)
{
    (void)state;
    const char *text = "S00600004844521B\n"
                       "S3090800000001020304E4\n"
                       "S2070100100A0B0CC6\n"
                       "S1050200EEFF0B\n"
                       "S5030003F9\n"
                       "S70508000000F2\n";
    loaded_image img;
    char err[256];
    if (load_text("fw.s19", text, &img, err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(img.format, IMAGE_FORMAT_SREC);
    assert_int_equal(img.segment_count, 3);
    assert_int_equal(img.segments[0].address, 0x0200);
    assert_int_equal(img.segments[1].address, 0x010010);
    assert_int_equal(img.segments[2].address, 0x08000000);
    assert_int_equal(img.segments[2].length, 4);
    assert_int_equal(img.payload[0], 0xEE);
    assert_int_equal(img.payload[5], 0x01);
    image_free(&img);
}

static void test_srec_errors(void **state)
{
    (void)state;
    expect_error("b.srec", "S3090800000001020304DD\nS70508000000F2\n",
                 "b.srec:1: checksum mismatch");
    expect_error("b.srec", "S3090800000001020304E4\n", "no termination record");
    expect_error("b.srec", "S3090800000001020304E4\nS5030002FA\nS70508000000F2\n", "record count");
    expect_error("b.srec", "S3090800000001020304E4\nX\nS70508000000F2\n", "b.srec:2:");
    expect_error("b.srec", "S4030000FC\nS70508000000F2\n", "malformed S4");
}

/* ---- Binary and detection ----------------------------------------------- */

static void test_binary_needs_an_address(void **state)
{
    (void)state;
    const uint8_t data[5] = {9, 8, 7, 6, 5};
    loaded_image img;
    char err[256];
    assert_int_equal(
        image_load_buffer("fw.bin", data, 5, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err),
        -1);
    assert_non_null(strstr(err, "--address"));
    assert_int_equal(image_load_buffer("fw.bin", data, 5, IMAGE_FORMAT_AUTO, true, 0x08004000, &img,
                                       err, sizeof err),
                     0);
    assert_int_equal(img.format, IMAGE_FORMAT_BIN);
    assert_int_equal(img.segment_count, 1);
    assert_int_equal(img.segments[0].address, 0x08004000);
    assert_memory_equal(img.payload, data, 5);
    image_free(&img);
    /* Empty binary, and one that wraps past 4 GiB. */
    assert_int_equal(
        image_load_buffer("e.bin", data, 0, IMAGE_FORMAT_BIN, true, 0, &img, err, sizeof err), -1);
    assert_int_equal(image_load_buffer("w.bin", data, 5, IMAGE_FORMAT_BIN, true, 0xFFFFFFFE, &img,
                                       err, sizeof err),
                     -1);
}

static void test_format_names(void **state)
{
    (void)state;
    image_format f;
    assert_true(image_format_parse("HEX", &f) && f == IMAGE_FORMAT_IHEX);
    assert_true(image_format_parse("s19", &f) && f == IMAGE_FORMAT_SREC);
    assert_true(image_format_parse("elf", &f) && f == IMAGE_FORMAT_ELF);
    assert_true(image_format_parse("bin", &f) && f == IMAGE_FORMAT_BIN);
    assert_false(image_format_parse("uf2", &f));
    assert_string_equal(image_format_name(IMAGE_FORMAT_SREC), "srec");
}

static void test_garbage_is_refused_without_crashing(void **state)
{
    (void)state;
    uint8_t junk[512];
    uint64_t x = 99;
    loaded_image img;
    char err[256];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 6364136223846793005ull + 1;
            junk[i] = (uint8_t)(x >> 56);
        }
        /* Force each text format and ELF onto random bytes. */
        static const image_format formats[] = {IMAGE_FORMAT_IHEX, IMAGE_FORMAT_SREC,
                                               IMAGE_FORMAT_ELF};
        image_format fmt = formats[round % 3];
        if (round % 3 == 0) {
            junk[0] = ':';
        } else if (round % 3 == 2) {
            memcpy(junk, "\177ELF", 4);
        }
        assert_int_equal(
            image_load_buffer("junk", junk, sizeof junk, fmt, false, 0, &img, err, sizeof err), -1);
        assert_true(strlen(err) > 6);
    }
}

/* ---- ELF ---------------------------------------------------------------- */

/* Writes a 32-bit ARM ELF with two PT_LOAD segments: .text at 0x08000000,
 * and .data whose virtual address is in RAM but whose load address follows
 * .text in flash, with p_memsz > p_filesz (a .bss tail that is not loaded). */
static void write_elf(const char *path, bool big_endian)
{
    static const uint8_t text[16] = {0x00, 0x50, 0x00, 0x20, 0x09, 0x00, 0x00, 0x08,
                                     1,    2,    3,    4,    5,    6,    7,    8};
    static const uint8_t data[4] = {0x78, 0x56, 0x34, 0x12};
    assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    int fd = fileno(f);
    Elf *e = elf_begin(fd, ELF_C_WRITE, NULL);
    assert_non_null(e);
    Elf32_Ehdr *eh = elf32_newehdr(e);
    assert_non_null(eh);
    eh->e_ident[EI_DATA] = big_endian ? ELFDATA2MSB : ELFDATA2LSB;
    eh->e_machine = EM_ARM;
    eh->e_type = ET_EXEC;
    Elf32_Phdr *ph = elf32_newphdr(e, 2);
    assert_non_null(ph);
    const uint8_t *bodies[2] = {text, data};
    size_t sizes[2] = {sizeof text, sizeof data};
    for (int i = 0; i < 2; i++) {
        Elf_Scn *scn = elf_newscn(e);
        Elf_Data *d = elf_newdata(scn);
        d->d_buf = (void *)(uintptr_t)bodies[i];
        d->d_size = sizes[i];
        d->d_type = ELF_T_BYTE;
        d->d_align = 4;
        Elf32_Shdr *sh = elf32_getshdr(scn);
        sh->sh_type = SHT_PROGBITS;
        sh->sh_flags = SHF_ALLOC;
    }
    assert_true(elf_update(e, ELF_C_NULL) >= 0);
    /* Place the segments over the sections' file offsets. */
    Elf_Scn *scn = NULL;
    for (int i = 0; i < 2; i++) {
        scn = elf_nextscn(e, scn);
        Elf32_Shdr *sh = elf32_getshdr(scn);
        ph[i].p_type = PT_LOAD;
        ph[i].p_offset = sh->sh_offset;
        ph[i].p_filesz = (Elf32_Word)sizes[i];
        ph[i].p_align = 4;
    }
    ph[0].p_vaddr = ph[0].p_paddr = 0x08000000;
    ph[0].p_memsz = sizeof text;
    ph[1].p_vaddr = 0x20000000;
    ph[1].p_paddr = 0x08000000 + sizeof text;
    ph[1].p_memsz = 64;
    elf_flagphdr(e, ELF_C_SET, ELF_F_DIRTY);
    assert_true(elf_update(e, ELF_C_WRITE) >= 0);
    elf_end(e);
    fclose(f);
}

static void test_elf_loads_at_the_load_address(void **state)
{
    (void)state;
    char path[] = "/tmp/test_imagefile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_elf(path, false);
    loaded_image img;
    char err[256];
    if (image_load(path, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(img.format, IMAGE_FORMAT_ELF);
    /* .text and .data's initial values, one contiguous run in flash. */
    assert_int_equal(img.segment_count, 1);
    assert_int_equal(img.segments[0].address, 0x08000000);
    assert_int_equal(img.segments[0].length, 20);
    assert_int_equal(img.payload[16], 0x78);
    assert_int_equal(img.payload[19], 0x12);
    image_free(&img);

    /* Big-endian, and truncated, are refused. */
    write_elf(path, true);
    assert_int_equal(image_load(path, IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "big-endian"));
    write_elf(path, false);
    assert_int_equal(truncate(path, 60), 0);
    assert_int_equal(image_load(path, IMAGE_FORMAT_ELF, false, 0, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    unlink(path);
}

static void test_missing_file_names_it(void **state)
{
    (void)state;
    loaded_image img;
    char err[256];
    assert_int_equal(
        image_load("/nonexistent/fw.hex", IMAGE_FORMAT_AUTO, false, 0, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/fw.hex"));
    assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ihex_with_extended_address_and_gap),
        cmocka_unit_test(test_ihex_segment_address_and_unsorted_records),
        cmocka_unit_test(test_ihex_errors_name_the_line),
        cmocka_unit_test(test_srec_all_address_sizes),
        cmocka_unit_test(test_srec_errors),
        cmocka_unit_test(test_binary_needs_an_address),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_garbage_is_refused_without_crashing),
        cmocka_unit_test(test_elf_loads_at_the_load_address),
        cmocka_unit_test(test_missing_file_names_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Images: probing sizes from headers, refusing bombs and broken files with messages that name the
 * file and the reason, decoding exact pixels, and resize/crop/flip. Every fixture is made at test
 * time in a fresh temporary folder: stb_image_write for the real images, byte arrays for the
 * hostile ones. */
#include "tagger/image.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "tests/unit/check.h"

static char dir[64];

/* name inside the fixture folder; a few results stay valid at once */
static const char *at(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static void write_bytes(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(at(name), "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_INT(fwrite(data, 1, n, f), n);
    fclose(f);
}

static uint8_t *read_bytes(const char *name, size_t *n)
{
    FILE *f = fopen(at(name), "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*n);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static size_t find(const uint8_t *b, size_t n, const void *needle, size_t k)
{
    const uint8_t *p = memmem(b, n, needle, k);
    return p ? (size_t)(p - b) : SIZE_MAX;
}

/* --- hand-made PNG chunks (with real CRCs, though neither we nor stb_image check them) --- */

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* Appends a chunk at b + *n. */
static void png_chunk(uint8_t *b, size_t *n, const char *type, const uint8_t *data, uint32_t len)
{
    put_be32(b + *n, len);
    memcpy(b + *n + 4, type, 4);
    if (len)
        memcpy(b + *n + 8, data, len);
    put_be32(b + *n + 8 + len, crc32_png(b + *n + 4, len + 4));
    *n += 12 + len;
}

static void write_png_header(const char *name, uint32_t w, uint32_t h)
{
    uint8_t b[64], ihdr[13] = {0};
    size_t n = 8;
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8, ihdr[9] = 2; /* 8-bit RGB */
    png_chunk(b, &n, "IHDR", ihdr, 13);
    png_chunk(b, &n, "IEND", NULL, 0);
    write_bytes(name, b, n);
}

/* SOI, a baseline frame header of w x h, EOI: all a probe needs. */
static void write_jpeg_header(const char *name, int w, int h)
{
    uint8_t b[] = {0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, (uint8_t)(h >> 8), (uint8_t)h,
                   (uint8_t)(w >> 8), (uint8_t)w, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1,
                   0xFF, 0xD9};
    write_bytes(name, b, sizeof b);
}

/* A BITMAPINFOHEADER BMP header of w x h, 24-bit, followed by `pixels` bytes. */
static void write_bmp(const char *name, int32_t w, int32_t h, const uint8_t *pixels, size_t n)
{
    uint8_t b[54 + 64] = {'B', 'M'};
    put_le32(b + 2, (uint32_t)(54 + n));
    put_le32(b + 10, 54);
    put_le32(b + 14, 40);
    put_le32(b + 18, (uint32_t)w);
    put_le32(b + 22, (uint32_t)h);
    b[26] = 1, b[28] = 24;
    memcpy(b + 54, pixels, n);
    write_bytes(name, b, 54 + n);
}

/* The known 3x2 image the decode tests compare against. */
static const uint8_t known[3 * 2 * 3] = {
    255, 0, 0,    0, 255, 0,      0, 0, 255,
    10, 20, 30,   200, 100, 50,   255, 255, 255,
};

/* --- helpers for refusals --- */

static void check_msg(const char *msg, const char *name, const char *word)
{
    CHECK(strstr(msg, name) != NULL);
    CHECK(strstr(msg, word) != NULL);
    if (!strstr(msg, name) || !strstr(msg, word))
        fprintf(stderr, "    message: %s\n    wanted: %s and %s\n", msg, name, word);
}

/* The probe refuses `name` with a message naming it and containing `word`; so does the load. */
static void check_probe_refused(const char *name, const char *word)
{
    tg_error err = {{0}};
    image_info info;
    image img = {0, 0, NULL};
    CHECK_INT(image_probe(at(name), &info, &err), -1);
    check_msg(err.msg, name, word);
    err.msg[0] = '\0';
    CHECK_INT(image_load(at(name), &img, &err), -1);
    CHECK(img.px == NULL);
    check_msg(err.msg, name, word);
}

/* The probe accepts `name` but the load refuses it. */
static void check_load_refused(const char *name, const char *word)
{
    tg_error err = {{0}};
    image_info info;
    image img = {0, 0, NULL};
    CHECK_INT(image_probe(at(name), &info, &err), 0);
    CHECK_INT(image_load(at(name), &img, &err), -1);
    CHECK(img.px == NULL);
    check_msg(err.msg, name, word);
}

static void check_probe(const char *name, image_format f, int w, int h, int channels)
{
    tg_error err = {{0}};
    image_info info = {0};
    CHECK_INT(image_probe(at(name), &info, &err), 0);
    if (err.msg[0])
        fprintf(stderr, "    %s\n", err.msg);
    CHECK_INT(info.format, f);
    CHECK_INT(info.w, w);
    CHECK_INT(info.h, h);
    CHECK_INT(info.channels, channels);
}

/* --- probe --- */

static void test_probe_real_files(void)
{
    CHECK(stbi_write_png(at("known.png"), 3, 2, 3, known, 9));
    CHECK(stbi_write_bmp(at("known.bmp"), 3, 2, 3, known));
    CHECK(stbi_write_jpg(at("known.jpg"), 3, 2, 3, known, 95));
    check_probe("known.png", IMAGE_PNG, 3, 2, 3);
    check_probe("known.bmp", IMAGE_BMP, 3, 2, 3);
    check_probe("known.jpg", IMAGE_JPEG, 3, 2, 3);
    image_info info = {0};
    CHECK_INT(image_probe(at("known.png"), &info, NULL), 0);
    CHECK_INT(info.decodable, 1);
}

static void test_probe_by_content_not_name(void)
{
    CHECK(stbi_write_jpg(at("really_jpeg.png"), 3, 2, 3, known, 95));
    check_probe("really_jpeg.png", IMAGE_JPEG, 3, 2, 3);
    image img = {0, 0, NULL};
    tg_error err = {{0}};
    CHECK_INT(image_load(at("really_jpeg.png"), &img, &err), 0);
    CHECK_INT(img.w, 3);
    image_free(&img);
}

/* The frame header can sit behind a large EXIF segment, beyond the first read. */
static void test_probe_jpeg_after_large_segment(void)
{
    uint8_t px[16 * 8 * 3];
    memset(px, 128, sizeof px);
    CHECK(stbi_write_jpg(at("plain.jpg"), 16, 8, 3, px, 90));
    size_t n = 0;
    uint8_t *jpg = read_bytes("plain.jpg", &n);
    CHECK(jpg != NULL);
    if (!jpg)
        return;
    size_t seg = 60000;
    uint8_t *out = calloc(n + seg + 4, 1);
    memcpy(out, jpg, 2);
    out[2] = 0xFF, out[3] = 0xE1, out[4] = (uint8_t)((seg + 2) >> 8), out[5] = (uint8_t)(seg + 2);
    memcpy(out + 6 + seg, jpg + 2, n - 2);
    write_bytes("exif.jpg", out, n + seg + 4);
    check_probe("exif.jpg", IMAGE_JPEG, 16, 8, 3);
    image img = {0, 0, NULL};
    CHECK_INT(image_load(at("exif.jpg"), &img, NULL), 0);
    CHECK_INT(img.w * img.h, 128);
    image_free(&img);
    free(out);
    free(jpg);
}

static void test_probe_webp_headers(void)
{
    uint8_t vp8[32] = "RIFF\x18\0\0\0WEBPVP8 \x0c\0\0\0";
    vp8[20] = 0x50, vp8[21] = 0x02, vp8[22] = 0x00; /* key frame (bit 0 clear) */
    memcpy(vp8 + 23, "\x9d\x01\x2a", 3);
    vp8[26] = 300 & 0xFF, vp8[27] = 300 >> 8, vp8[28] = 200, vp8[29] = 0;
    write_bytes("lossy.webp", vp8, sizeof vp8);
    check_probe("lossy.webp", IMAGE_WEBP, 300, 200, 3);

    uint8_t vp8l[32] = "RIFF\x18\0\0\0WEBPVP8L\x0a\0\0\0\x2f";
    put_le32(vp8l + 21, (640 - 1) | (uint32_t)(480 - 1) << 14 | 1u << 28); /* alpha used */
    write_bytes("lossless.webp", vp8l, sizeof vp8l);
    check_probe("lossless.webp", IMAGE_WEBP, 640, 480, 4);

    uint8_t vp8x[30] = "RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0";
    vp8x[20] = 0x00; /* no alpha */
    vp8x[24] = (1920 - 1) & 0xFF, vp8x[25] = (1920 - 1) >> 8;
    vp8x[27] = (1080 - 1) & 0xFF, vp8x[28] = (1080 - 1) >> 8;
    write_bytes("extended.webp", vp8x, sizeof vp8x);
    check_probe("extended.webp", IMAGE_WEBP, 1920, 1080, 3);

    image_info info = {0};
    CHECK_INT(image_probe(at("extended.webp"), &info, NULL), 0);
    CHECK_INT(info.decodable, 0);
    image img = {0, 0, NULL};
    tg_error err = {{0}};
    CHECK_INT(image_load(at("lossy.webp"), &img, &err), -1);
    CHECK(strstr(err.msg, "lossy.webp: WebP is not decoded (stb_image has no WebP support)") != NULL);

    vp8x[24] = 0x1F, vp8x[25] = 0x4E, vp8x[27] = 0x1F, vp8x[28] = 0x4E; /* 20000 x 20000 */
    write_bytes("bomb.webp", vp8x, sizeof vp8x);
    check_probe_refused("bomb.webp", "declared size 20000x20000 exceeds the 178956970-pixel limit");
}

/* --- refusals before decoding --- */

static void test_refuse_png_bomb(void)
{
    write_png_header("big.png", 100000, 100000);
    tg_error err = {{0}};
    image_info info;
    CHECK_INT(image_probe(at("big.png"), &info, &err), -1);
    char want[512];
    snprintf(want, sizeof want, "%s: declared size 100000x100000 exceeds the 178956970-pixel "
             "limit; refusing to decode", at("big.png"));
    CHECK_STR(err.msg, want);
    check_probe_refused("big.png", "refusing to decode");

    write_png_header("wide.png", 70000, 10);
    check_probe_refused("wide.png", "declared size 70000x10 exceeds the 65535-pixel side limit");
    write_png_header("flat.png", 0, 10);
    check_probe_refused("flat.png", "declared size 0x10 is empty");
}

/* A JPEG frame header holds 16-bit sides, so 65535 is the most it can declare: a 65000x65000
 * frame is over the pixel limit although each side is within IMAGE_MAX_SIDE. */
static void test_refuse_jpeg_bomb(void)
{
    write_jpeg_header("big.jpg", 65000, 65000);
    check_probe_refused("big.jpg", "declared size 65000x65000 exceeds the 178956970-pixel limit");
    write_jpeg_header("noheight.jpg", 10, 0);
    check_probe_refused("noheight.jpg", "declared size 10x0 is empty");
}

static void test_refuse_bmp_bomb(void)
{
    uint8_t row[8] = {0};
    write_bmp("big.bmp", 30000, -30000, row, sizeof row); /* negative: top-down rows */
    check_probe_refused("big.bmp", "declared size 30000x30000 exceeds the 178956970-pixel limit");
    write_bmp("long.bmp", 100000, 1, row, sizeof row);
    check_probe_refused("long.bmp", "exceeds the 65535-pixel side limit");
    write_bmp("mirror.bmp", -4, 4, row, sizeof row);
    check_probe_refused("mirror.bmp", "negative width");
    write_bmp("intmin.bmp", 1, INT32_MIN, row, sizeof row);
    check_probe_refused("intmin.bmp", "declared size 1x2147483648 exceeds");
}

static void test_refuse_empty_and_not_images(void)
{
    write_bytes("empty.png", "", 0);
    check_probe_refused("empty.png", "empty file (0 bytes)");

    uint8_t noise[256];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        s = s * 1103515245u + 12345u;
        noise[i] = (uint8_t)(s >> 16);
    }
    noise[0] = 'x'; /* no magic can start with it */
    write_bytes("noise.png", noise, sizeof noise);
    check_probe_refused("noise.png", "not an image");

    write_bytes("anim.png", "GIF89a\x01\0\x01\0", 10);
    check_probe_refused("anim.png", "GIF");
    write_bytes("wave.webp", "RIFF\x24\0\0\0WAVEfmt ", 16);
    check_probe_refused("wave.webp", "not an image");
}

static void test_refuse_truncated_headers(void)
{
    CHECK(stbi_write_png(at("whole.png"), 3, 2, 3, known, 9));
    size_t n = 0;
    uint8_t *png = read_bytes("whole.png", &n);
    CHECK(png != NULL && n > 33);
    if (png) {
        write_bytes("short.png", png, 20);
        check_probe_refused("short.png", "PNG header truncated");
        write_bytes("sig.png", png, 5);
        check_probe_refused("sig.png", "PNG header truncated");
    }
    free(png);
    write_bytes("short.jpg", "\xff\xd8\xff\xe0\x00\x10JF", 8);
    check_probe_refused("short.jpg", "JPEG header truncated");
    write_bytes("short.bmp", "BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\x03\0", 20);
    check_probe_refused("short.bmp", "BMP header truncated");
    write_bytes("short.webp", "RIFF\x18\0\0\0WEBPVP8 ", 16);
    check_probe_refused("short.webp", "WebP header truncated");
}

/* Exit status 0 when probing `name` fails with a "cannot open: Permission denied" message. */
static int probe_denied(const char *name)
{
    tg_error err = {{0}};
    image_info info;
    if (image_probe(at(name), &info, &err) != -1 || !strstr(err.msg, name))
        return 1;
    return strstr(err.msg, "cannot open") && strstr(err.msg, strerror(EACCES)) ? 0 : 1;
}

/* Root reads a mode-000 file anyway, so as root the check runs in a child that has given up root
 * for nobody; where that is not possible either, it is skipped with a note. */
static void test_refuse_unreadable(void)
{
    check_probe_refused("missing.png", "cannot open: No such file or directory");
    CHECK_INT(mkdir(at("folder.png"), 0755), 0);
    check_probe_refused("folder.png", "not a regular file");

    CHECK(stbi_write_png(at("secret.png"), 3, 2, 3, known, 9));
    CHECK_INT(chmod(at("secret.png"), 0), 0);
    if (geteuid() != 0) {
        CHECK_INT(probe_denied("secret.png"), 0);
        return;
    }
    chmod(dir, 0711); /* let nobody reach the file, so that only its own mode refuses */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(setgid(65534) || setuid(65534) ? 2 : probe_denied("secret.png"));
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
        printf("note: test_refuse_unreadable: running as root and cannot switch to nobody; the "
               "permission check is skipped\n");
    else
        CHECK_INT(WEXITSTATUS(status), 0);
    chmod(dir, 0700);
}

/* --- truncated data: the header is intact, the load must say "truncated" --- */

static void test_refuse_truncated_png(void)
{
    uint8_t px[32 * 32 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7 % 251);
    CHECK(stbi_write_png(at("full.png"), 32, 32, 3, px, 32 * 3));
    size_t n = 0;
    uint8_t *png = read_bytes("full.png", &n);
    size_t idat = png ? find(png, n, "IDAT", 4) : SIZE_MAX;
    CHECK(idat != SIZE_MAX);
    if (idat == SIZE_MAX) {
        free(png);
        return;
    }
    write_bytes("cut.png", png, idat + (n - idat) / 2);
    check_load_refused("cut.png", "truncated PNG");
    check_load_refused("cut.png", "'IDAT' chunk");
    write_bytes("noend.png", png, n - 12); /* every IDAT whole, IEND missing */
    check_load_refused("noend.png", "truncated PNG: no IEND chunk");
    free(png);
}

static void test_refuse_truncated_jpeg(void)
{
    uint8_t px[32 * 32 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 13 % 251);
    CHECK(stbi_write_jpg(at("full.jpg"), 32, 32, 3, px, 90));
    size_t n = 0;
    uint8_t *jpg = read_bytes("full.jpg", &n);
    size_t sos = jpg ? find(jpg, n, "\xff\xda", 2) : SIZE_MAX;
    CHECK(sos != SIZE_MAX);
    if (sos == SIZE_MAX) {
        free(jpg);
        return;
    }
    write_bytes("cut.jpg", jpg, sos + (n - sos) / 2);
    check_load_refused("cut.jpg", "truncated JPEG");
    write_bytes("noeoi.jpg", jpg, n - 2);
    check_load_refused("noeoi.jpg", "truncated JPEG");
    /* bytes after EOI (some cameras append data) are not truncation */
    uint8_t *tail = malloc(n + 16);
    memcpy(tail, jpg, n);
    memset(tail + n, 0xAB, 16);
    write_bytes("tail.jpg", tail, n + 16);
    image img = {0, 0, NULL};
    CHECK_INT(image_load(at("tail.jpg"), &img, NULL), 0);
    image_free(&img);
    free(tail);
    free(jpg);
}

static void test_refuse_truncated_bmp(void)
{
    uint8_t px[16 * 16 * 3] = {0};
    CHECK(stbi_write_bmp(at("full.bmp"), 16, 16, 3, px));
    size_t n = 0;
    uint8_t *bmp = read_bytes("full.bmp", &n);
    CHECK(bmp != NULL);
    if (bmp) {
        write_bytes("cut.bmp", bmp, n / 2);
        check_load_refused("cut.bmp", "truncated BMP");
        write_bytes("bare.bmp", bmp, 54); /* header only: stb_image would return a black image */
        check_load_refused("bare.bmp", "truncated BMP");
    }
    free(bmp);
}

/* --- decoding --- */

static void check_pixels(const image *img, int w, int h, const uint8_t *want)
{
    CHECK_INT(img->w, w);
    CHECK_INT(img->h, h);
    if (img->w == w && img->h == h && img->px)
        for (int i = 0; i < w * h * 3; i++)
            CHECK_INT(img->px[i], want[i]);
}

static void test_load_exact_rgb(void)
{
    CHECK(stbi_write_png(at("k.png"), 3, 2, 3, known, 9));
    CHECK(stbi_write_bmp(at("k.bmp"), 3, 2, 3, known));
    const char *names[] = {"k.png", "k.bmp"};
    for (int i = 0; i < 2; i++) {
        image img = {0, 0, NULL};
        tg_error err = {{0}};
        CHECK_INT(image_load(at(names[i]), &img, &err), 0);
        check_pixels(&img, 3, 2, known);
        image_free(&img);
        CHECK(img.px == NULL);
    }
}

/* BMP rows are stored bottom-up unless the height is negative. */
static void test_load_top_down_bmp(void)
{
    const uint8_t rows[] = {
        /* top row, BGR, padded to 8 bytes */ 3, 2, 1, 6, 5, 4, 0, 0,
        /* bottom row */ 9, 8, 7, 12, 11, 10, 0, 0,
    };
    write_bmp("topdown.bmp", 2, -2, rows, sizeof rows);
    check_probe("topdown.bmp", IMAGE_BMP, 2, 2, 3);
    image img = {0, 0, NULL};
    CHECK_INT(image_load(at("topdown.bmp"), &img, NULL), 0);
    const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    check_pixels(&img, 2, 2, want);
    image_free(&img);
}

static void test_load_jpeg(void)
{
    uint8_t px[16 * 16 * 3];
    for (int i = 0; i < 16 * 16; i++)
        px[i * 3] = 90, px[i * 3 + 1] = 160, px[i * 3 + 2] = 220;
    CHECK(stbi_write_jpg(at("flat.jpg"), 16, 16, 3, px, 95));
    image img = {0, 0, NULL};
    CHECK_INT(image_load(at("flat.jpg"), &img, NULL), 0);
    CHECK_INT(img.w, 16);
    CHECK_INT(img.h, 16);
    for (int i = 0; img.px && i < 16 * 16 * 3; i += 3) { /* lossy: close, not exact */
        CHECK_NEAR(img.px[i], 90, 4);
        CHECK_NEAR(img.px[i + 1], 160, 4);
        CHECK_NEAR(img.px[i + 2], 220, 4);
    }
    image_free(&img);
}

static uint8_t over_white(uint8_t c, uint8_t a)
{
    return (uint8_t)((c * a + 255 * (255 - a) + 127) / 255);
}

static void test_load_alpha_on_white(void)
{
    const uint8_t rgba[] = {200, 100, 0, 128,  10, 20, 30, 0,  1, 2, 3, 255};
    const uint8_t want[] = {over_white(200, 128), over_white(100, 128), over_white(0, 128),
                            255, 255, 255,  1, 2, 3};
    CHECK(stbi_write_png(at("alpha.png"), 3, 1, 4, rgba, 12));
    CHECK(stbi_write_bmp(at("alpha.bmp"), 3, 1, 4, rgba)); /* 32-bit BMP with an alpha mask */
    const char *names[] = {"alpha.png", "alpha.bmp"};
    for (int i = 0; i < 2; i++) {
        check_probe(names[i], i ? IMAGE_BMP : IMAGE_PNG, 3, 1, 4);
        image img = {0, 0, NULL};
        CHECK_INT(image_load(at(names[i]), &img, NULL), 0);
        check_pixels(&img, 3, 1, want);
        CHECK_NEAR(img.px ? img.px[0] : 0, 200 * 128 / 255.0 + 255 * 127 / 255.0, 0.5);
        image_free(&img);
    }
    const uint8_t ga[] = {100, 0, 100, 255}; /* grey + alpha */
    CHECK(stbi_write_png(at("ga.png"), 2, 1, 2, ga, 4));
    check_probe("ga.png", IMAGE_PNG, 2, 1, 2);
    image img = {0, 0, NULL};
    CHECK_INT(image_load(at("ga.png"), &img, NULL), 0);
    const uint8_t ga_want[] = {255, 255, 255, 100, 100, 100};
    check_pixels(&img, 2, 1, ga_want);
    image_free(&img);
}

/* An RGB PNG with a tRNS chunk declares no alpha in IHDR, yet one colour is transparent. */
static void test_load_png_trns(void)
{
    const uint8_t rgb[] = {10, 20, 30, 40, 50, 60};
    CHECK(stbi_write_png(at("plain.png"), 2, 1, 3, rgb, 6));
    size_t n = 0;
    uint8_t *png = read_bytes("plain.png", &n);
    size_t idat = png ? find(png, n, "IDAT", 4) : SIZE_MAX;
    CHECK(idat != SIZE_MAX);
    if (idat == SIZE_MAX) {
        free(png);
        return;
    }
    uint8_t *out = malloc(n + 18);
    size_t m = idat - 4;
    memcpy(out, png, m);
    const uint8_t key[6] = {0, 10, 0, 20, 0, 30}; /* 16-bit samples of the transparent colour */
    png_chunk(out, &m, "tRNS", key, 6);
    memcpy(out + m, png + idat - 4, n - (idat - 4));
    write_bytes("trns.png", out, n + 18);
    check_probe("trns.png", IMAGE_PNG, 2, 1, 4);
    image img = {0, 0, NULL};
    CHECK_INT(image_load(at("trns.png"), &img, NULL), 0);
    const uint8_t want[] = {255, 255, 255, 40, 50, 60};
    check_pixels(&img, 2, 1, want);
    image_free(&img);
    free(out);
    free(png);
}

static void test_load_grey(void)
{
    const uint8_t g[] = {0, 77, 255};
    CHECK(stbi_write_png(at("grey.png"), 3, 1, 1, g, 3));
    check_probe("grey.png", IMAGE_PNG, 3, 1, 1);
    image img = {0, 0, NULL};
    CHECK_INT(image_load(at("grey.png"), &img, NULL), 0);
    const uint8_t want[] = {0, 0, 0, 77, 77, 77, 255, 255, 255};
    check_pixels(&img, 3, 1, want);
    image_free(&img);
}

static void test_format_names(void)
{
    CHECK_INT(image_format_from_name("a/b/photo.PNG"), IMAGE_PNG);
    CHECK_INT(image_format_from_name("x.JpEg"), IMAGE_JPEG);
    CHECK_INT(image_format_from_name("x.jpg"), IMAGE_JPEG);
    CHECK_INT(image_format_from_name("x.bmp"), IMAGE_BMP);
    CHECK_INT(image_format_from_name("x.webp"), IMAGE_WEBP);
    CHECK_INT(image_format_from_name("x.txt"), IMAGE_UNKNOWN);
    CHECK_INT(image_format_from_name("dir.png/readme"), IMAGE_UNKNOWN);
    CHECK_INT(image_format_from_name("png"), IMAGE_UNKNOWN);
    CHECK_STR(image_format_name(IMAGE_JPEG), "JPEG");
    CHECK_STR(image_format_name(IMAGE_WEBP), "WebP");
    CHECK_STR(image_format_name(IMAGE_UNKNOWN), "unknown");
}

/* --- resize, crop, flip --- */

static image image_filled(int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    image img = {w, h, malloc((size_t)w * h * 3)};
    for (int i = 0; i < w * h; i++)
        img.px[i * 3] = r, img.px[i * 3 + 1] = g, img.px[i * 3 + 2] = b;
    return img;
}

static void test_resize_constant_stays_constant(void)
{
    image src = image_filled(7, 5, 123, 45, 255);
    const int sizes[][2] = {{3, 2}, {11, 13}, {7, 5}, {1, 1}, {20, 3}, {2, 17}, {6, 4}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        image dst = {0, 0, NULL};
        CHECK_INT(image_resize(&src, sizes[s][0], sizes[s][1], &dst, NULL), 0);
        CHECK_INT(dst.w, sizes[s][0]);
        CHECK_INT(dst.h, sizes[s][1]);
        for (int i = 0; dst.px && i < dst.w * dst.h; i++) {
            CHECK_INT(dst.px[i * 3], 123);
            CHECK_INT(dst.px[i * 3 + 1], 45);
            CHECK_INT(dst.px[i * 3 + 2], 255);
        }
        image_free(&dst);
    }
    image_free(&src);
}

static void test_resize_shrink_averages(void)
{
    image src = image_filled(4, 4, 0, 0, 0);
    /* red: each 2x2 block holds 10, 20, 30, 40 plus a per-block offset; green: a 0/255 checker */
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            uint8_t *p = src.px + (y * 4 + x) * 3;
            p[0] = (uint8_t)(10 * (1 + (x & 1) + 2 * (y & 1)) + 100 * (x / 2) + 50 * (y / 2));
            p[1] = (x + y) % 2 ? 255 : 0;
            p[2] = (uint8_t)(y * 4 + x);
        }
    image dst = {0, 0, NULL};
    CHECK_INT(image_resize(&src, 2, 2, &dst, NULL), 0);
    /* blue blocks: (0+1+4+5)/4 = 2.5 -> 3, (2+3+6+7)/4 = 4.5 -> 5, 10.5 -> 11, 12.5 -> 13 */
    const uint8_t want[] = {25, 128, 3,  125, 128, 5,  75, 128, 11,  175, 128, 13};
    check_pixels(&dst, 2, 2, want);
    image_free(&dst);

    CHECK_INT(image_resize(&src, 1, 1, &dst, NULL), 0); /* everything: red 100, blue 7.5 -> 8 */
    const uint8_t all[] = {100, 128, 8};
    check_pixels(&dst, 1, 1, all);
    image_free(&dst);
    image_free(&src);
}

static void test_resize_enlarge_bilinear(void)
{
    image src = image_filled(2, 1, 0, 0, 0);
    src.px[3] = 100;
    image dst = {0, 0, NULL};
    /* centres of 4 outputs fall at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped) in the source */
    CHECK_INT(image_resize(&src, 4, 1, &dst, NULL), 0);
    CHECK_INT(dst.w, 4);
    const int want4[] = {0, 25, 75, 100};
    for (int i = 0; dst.px && i < 4; i++)
        CHECK_INT(dst.px[i * 3], want4[i]);
    image_free(&dst);
    /* per axis: shrink across (2 -> 1 averages), enlarge down (1 -> 3 copies) */
    CHECK_INT(image_resize(&src, 1, 3, &dst, NULL), 0);
    const uint8_t want[] = {50, 0, 0, 50, 0, 0, 50, 0, 0};
    check_pixels(&dst, 1, 3, want);
    image_free(&dst);
    image_free(&src);
}

static void test_resize_refuses_bad_sizes(void)
{
    image src = image_filled(2, 2, 1, 2, 3);
    image dst = {0, 0, NULL};
    tg_error err = {{0}};
    CHECK_INT(image_resize(&src, 0, 5, &dst, &err), -1);
    CHECK(strstr(err.msg, "resize to 0x5") != NULL);
    CHECK_INT(image_resize(&src, 70000, 1, &dst, &err), -1);
    CHECK_INT(image_resize(&src, 20000, 20000, &dst, &err), -1);
    CHECK(dst.px == NULL);
    image_free(&src);
}

static image image_numbered(int w, int h)
{
    image img = {w, h, malloc((size_t)w * h * 3)};
    for (int i = 0; i < w * h * 3; i++)
        img.px[i] = (uint8_t)i;
    return img;
}

static void test_crop(void)
{
    image src = image_numbered(4, 3);
    image dst = {0, 0, NULL};
    CHECK_INT(image_crop(&src, 1, 1, 2, 2, &dst, NULL), 0);
    /* pixel (x, y) starts at byte (y * 4 + x) * 3 */
    const uint8_t want[] = {15, 16, 17, 18, 19, 20,  27, 28, 29, 30, 31, 32};
    check_pixels(&dst, 2, 2, want);
    image_free(&dst);
    CHECK_INT(image_crop(&src, 0, 0, 4, 3, &dst, NULL), 0);
    check_pixels(&dst, 4, 3, src.px);
    image_free(&dst);

    tg_error err = {{0}};
    CHECK_INT(image_crop(&src, 3, 0, 2, 1, &dst, &err), -1);
    CHECK_STR(err.msg, "crop 2x1 at (3,0) does not fit inside the 4x3 image");
    CHECK_INT(image_crop(&src, -1, 0, 2, 1, &dst, &err), -1);
    CHECK_INT(image_crop(&src, 0, 2, 1, 2, &dst, &err), -1);
    CHECK_INT(image_crop(&src, 0, 0, 0, 1, &dst, &err), -1);
    CHECK_INT(image_crop(&src, INT_MAX, 0, INT_MAX, 1, &dst, &err), -1);
    CHECK_INT(image_crop(&src, 1, 0, INT_MAX, 1, &dst, &err), -1);
    CHECK(dst.px == NULL);
    image_free(&src);
}

static void test_flip(void)
{
    image img = image_numbered(3, 2);
    image_flip(&img);
    const uint8_t want[] = {6, 7, 8, 3, 4, 5, 0, 1, 2,  15, 16, 17, 12, 13, 14, 9, 10, 11};
    check_pixels(&img, 3, 2, want);
    image_flip(&img);
    image orig = image_numbered(3, 2);
    check_pixels(&img, 3, 2, orig.px);
    image_free(&orig);
    image_free(&img);

    image one = image_numbered(1, 2);
    image_flip(&one);
    const uint8_t same[] = {0, 1, 2, 3, 4, 5};
    check_pixels(&one, 1, 2, same);
    image_free(&one);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

int main(void)
{
    strcpy(dir, "/tmp/test_image.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_probe_real_files);
    RUN(test_probe_by_content_not_name);
    RUN(test_probe_jpeg_after_large_segment);
    RUN(test_probe_webp_headers);
    RUN(test_refuse_png_bomb);
    RUN(test_refuse_jpeg_bomb);
    RUN(test_refuse_bmp_bomb);
    RUN(test_refuse_empty_and_not_images);
    RUN(test_refuse_truncated_headers);
    RUN(test_refuse_unreadable);
    RUN(test_refuse_truncated_png);
    RUN(test_refuse_truncated_jpeg);
    RUN(test_refuse_truncated_bmp);
    RUN(test_load_exact_rgb);
    RUN(test_load_top_down_bmp);
    RUN(test_load_jpeg);
    RUN(test_load_alpha_on_white);
    RUN(test_load_png_trns);
    RUN(test_load_grey);
    RUN(test_format_names);
    RUN(test_resize_constant_stays_constant);
    RUN(test_resize_shrink_averages);
    RUN(test_resize_enlarge_bilinear);
    RUN(test_resize_refuses_bad_sizes);
    RUN(test_crop);
    RUN(test_flip);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_finish();
}

/* image_load: decode to 8-bit RGB with stb_image, behind two guards of our own. The header is
 * probed first, so a decompression bomb never reaches the decoder. And the data must be complete:
 * stb_image reads past the end of a short buffer as zeros, so it returns a truncated BMP as a
 * whole image with black rows, and reports a cut PNG or JPEG only as "outofdata" or
 * "expected marker". We look for the end ourselves (PNG IEND, JPEG EOI, BMP pixel bytes) and say
 * "truncated". */
#include "tagger/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>

typedef struct blob {
    uint8_t *data;
    size_t len;
} blob;

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le32(const uint8_t *p) { return le16(p + 2) << 16 | le16(p); }

static int read_all(int fd, const char *path, blob *b, tg_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return error_set(err, "%s: cannot stat: %s", path, strerror(errno));
    if (st.st_size > INT_MAX) /* stb_image takes the length as an int */
        return error_set(err, "%s: %lld bytes is too large to decode (at most %d)", path,
                         (long long)st.st_size, INT_MAX);
    b->data = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!b->data)
        return error_set(err, "%s: out of memory reading %lld bytes", path, (long long)st.st_size);
    b->len = 0;
    while (b->len < (size_t)st.st_size) {
        ssize_t got = read(fd, b->data + b->len, (size_t)st.st_size - b->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(b->data);
            return error_set(err, "%s: cannot read: %s", path, strerror(e));
        }
        if (got == 0) /* shrank since fstat: the completeness checks judge what is there */
            break;
        b->len += (size_t)got;
    }
    return 0;
}

static int file_read(const char *path, blob *b, tg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* never hang on a FIFO */
    if (fd < 0)
        return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, "%s: not a regular file", path);
    }
    int rc = read_all(fd, path, b, err);
    close(fd);
    return rc;
}

/* Bytes from the file (a chunk type, or stb's reason that quotes one) shown as printable ASCII:
 * a corrupt file must not put control bytes into a message. */
static const char *text_printable(const char *in, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    for (; i < n && in[i] && i + 1 < cap; i++)
        out[i] = in[i] >= 0x20 && in[i] < 0x7F ? in[i] : '?';
    out[i] = '\0';
    return out;
}

/* A PNG is complete when its chunks, each inside the file, lead to IEND. */
static int png_complete(const blob *b, const char *path, tg_error *err)
{
    size_t off = 8;
    while (off + 8 <= b->len) {
        uint32_t len = be32(b->data + off);
        char type[5];
        if ((uint64_t)len + 12 > b->len - off)
            return error_set(err, "%s: truncated PNG: the '%s' chunk at byte %zu needs %llu bytes "
                             "but the file ends at byte %zu", path,
                             text_printable((const char *)b->data + off + 4, 4, type, sizeof type),
                             off, (unsigned long long)len + 12, b->len);
        if (!memcmp(b->data + off + 4, "IEND", 4))
            return 0;
        off += 12 + (size_t)len;
    }
    return error_set(err, "%s: truncated PNG: no IEND chunk before the end of the file (byte %zu)",
                     path, b->len);
}

/* Skips entropy-coded data: returns the offset of the next real marker, or the length when the
 * data runs to the end. 0xFF00 is a stuffed byte, 0xFFD0-D7 restart markers, 0xFFFF fill. */
static size_t jpeg_scan_end(const blob *b, size_t off)
{
    while (off < b->len) {
        const uint8_t *ff = memchr(b->data + off, 0xFF, b->len - off);
        if (!ff)
            return b->len;
        size_t i = (size_t)(ff - b->data);
        if (i + 1 >= b->len)
            return b->len;
        uint8_t c = b->data[i + 1];
        if (c == 0x00 || (c >= 0xD0 && c <= 0xD7))
            off = i + 2;
        else if (c == 0xFF)
            off = i + 1;
        else
            return i;
    }
    return b->len;
}

/* A JPEG is complete when its segments and scans lead to the EOI marker. Progressive files have
 * several scans with tables between them, so the walk resumes after each scan. */
static int jpeg_complete(const blob *b, const char *path, tg_error *err)
{
    size_t off = 2;
    while (off + 2 <= b->len) {
        const uint8_t *p = b->data + off;
        if (p[0] != 0xFF)
            return error_set(err, "%s: invalid JPEG: expected a marker at byte %zu", path, off);
        if (p[1] == 0xD9)
            return 0;
        if (p[1] == 0xFF || p[1] == 0x01 || p[1] == 0xD8 || (p[1] >= 0xD0 && p[1] <= 0xD7)) {
            off += p[1] == 0xFF ? 1 : 2;
            continue;
        }
        if (off + 4 > b->len || 2 + (size_t)be16(p + 2) > b->len - off)
            break;
        size_t next = off + 2 + be16(p + 2);
        off = p[1] == 0xDA ? jpeg_scan_end(b, next) : next;
    }
    return error_set(err, "%s: truncated JPEG: the file ends at byte %zu without an end-of-image "
                     "marker", path, b->len);
}

/* An uncompressed BMP is complete when every row the header declares is in the file. */
static int bmp_complete(const blob *b, const char *path, tg_error *err)
{
    const uint8_t *p = b->data;
    if (b->len < 30)
        return error_set(err, "%s: truncated BMP: header cut at byte %zu", path, b->len);
    uint32_t hsz = le32(p + 14);
    int64_t w, h, bpp;
    if (hsz == 12) {
        w = le16(p + 18), h = le16(p + 20), bpp = le16(p + 24);
    } else {
        w = (int32_t)le32(p + 18), h = (int32_t)le32(p + 22), bpp = le16(p + 28);
    }
    if (w < 0 || w > IMAGE_MAX_SIDE || h < -IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return 0; /* changed since the probe: the header comparison before decoding refuses it */
    int64_t stride = (w * bpp + 31) / 32 * 4;
    int64_t need = (int64_t)le32(p + 10) + stride * (h < 0 ? -h : h);
    if (need > (int64_t)b->len)
        return error_set(err, "%s: truncated BMP: the pixel rows end at byte %lld but the file "
                         "has %zu bytes", path, (long long)need, b->len);
    return 0;
}

static int data_complete(const blob *b, image_format f, const char *path, tg_error *err)
{
    switch (f) {
    case IMAGE_PNG: return png_complete(b, path, err);
    case IMAGE_JPEG: return jpeg_complete(b, path, err);
    case IMAGE_BMP: return bmp_complete(b, path, err);
    default: return 0;
    }
}

static int undecodable(const char *path, image_format f, tg_error *err)
{
    switch (f) {
    case IMAGE_WEBP:
        return error_set(err, "%s: WebP is not decoded (stb_image has no WebP support)", path);
    case IMAGE_JPEG:
        return error_set(err, "%s: this JPEG is not decoded: stb_image reads only 8-bit baseline "
                         "and progressive JPEGs (not lossless, arithmetic-coded or 12-bit)", path);
    default:
        return error_set(err, "%s: this %s is not decoded by stb_image (compressed or unusual "
                         "variant)", path, image_format_name(f));
    }
}

/* Lays RGBA over white, in place: each 3-byte pixel is written at or before the 4-byte pixel it
 * comes from, which has been read already. */
static void alpha_flatten(uint8_t *px, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = px + 4 * i;
        unsigned a = s[3], r = s[0], g = s[1], b = s[2];
        uint8_t *d = px + 3 * i;
        d[0] = (uint8_t)((r * a + 255 * (255 - a) + 127) / 255);
        d[1] = (uint8_t)((g * a + 255 * (255 - a) + 127) / 255);
        d[2] = (uint8_t)((b * a + 255 * (255 - a) + 127) / 255);
    }
}

static int stb_failed(const char *path, image_format f, tg_error *err)
{
    /* stb's reasons are terse ("outofdata"), may quote a chunk type from the file, and can be
     * empty: an unknown chunk type made of zero bytes yields "" */
    const char *why = stbi_failure_reason();
    char text[64];
    return error_set(err, "%s: cannot decode %s (stb_image: %s)", path, image_format_name(f),
                     why && *why ? text_printable(why, sizeof text, text, sizeof text)
                                 : "corrupt data");
}

static int blob_decode(const blob *b, const image_info *info, const char *path, image *img,
                       tg_error *err)
{
    int w = 0, h = 0, n = 0;
    /* The file may have changed since the probe: stb's own header reading allocates nothing, and
     * the decode goes ahead only for the size the probe approved. stbi_info tries every format
     * in turn, so its failure reason is the last format's ("bad png sig" for a broken JPEG). */
    if (!stbi_info_from_memory(b->data, (int)b->len, &w, &h, &n))
        return error_set(err, "%s: cannot decode %s: stb_image rejects its header (corrupt or "
                         "unsupported)", path, image_format_name(info->format));
    if (info->format == IMAGE_BMP && h < 0 && h != INT_MIN)
        h = -h; /* stbi_info passes on a top-down BMP's negative height; stbi_load does not */
    if (w != info->w || h != info->h)
        return error_set(err, "%s: stb_image reads a %dx%d header where the probe read %dx%d (file "
                         "changed?); refusing to decode", path, w, h, info->w, info->h);
    int want = info->channels == 2 || info->channels == 4 ? 4 : 3;
    uint8_t *px = stbi_load_from_memory(b->data, (int)b->len, &w, &h, &n, want);
    if (!px)
        return stb_failed(path, info->format, err);
    if (want == 4) {
        alpha_flatten(px, (size_t)w * h);
        uint8_t *shrunk = realloc(px, (size_t)w * h * 3);
        if (shrunk)
            px = shrunk;
    }
    /* stb_image allocates with malloc (STBI_MALLOC's default, as Debian's libstb is built), so
     * the buffer is ours to free() in image_free. */
    *img = (image){w, h, px};
    return 0;
}

int image_load(const char *path, image *img, tg_error *err)
{
    image_info info;
    if (image_probe(path, &info, err))
        return -1;
    if (!info.decodable)
        return undecodable(path, info.format, err);
    blob b = {NULL, 0};
    if (file_read(path, &b, err))
        return -1;
    int rc = data_complete(&b, info.format, path, err);
    if (rc == 0)
        rc = blob_decode(&b, &info, path, img, err);
    free(b.data);
    return rc;
}

void image_free(image *img)
{
    if (!img)
        return;
    free(img->px);
    *img = (image){0, 0, NULL};
}

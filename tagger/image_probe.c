/* image_probe: the size, channels and format of an image from its header alone. The format comes
 * from the magic bytes, not the name, and every declared number is checked before anyone may
 * allocate by it: a crafted 100000x100000 header must cost a few reads, not gigabytes. */
#include "tagger/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a header declares, kept wide so that a message quotes the file's own numbers. */
typedef struct probed {
    int64_t w, h;
    int channels;
    image_format format;
    int decodable;
} probed;

/* Header fields live at arbitrary offsets (JPEG segments, PNG chunks), so reads go through a small
 * window over the file: most probes cost one pread. */
typedef struct reader {
    int fd;
    int64_t size;
    int64_t win_off;
    size_t win_len;
    uint8_t win[4096];
    int err; /* errno of a failed read, 0 if none */
} reader;

/* Copies n bytes at off into dst. 0 on success; -1 when the file ends first (or a read failed,
 * with r->err set). */
static int reader_at(reader *r, int64_t off, void *dst, size_t n)
{
    if (off < 0 || n > sizeof r->win || off + (int64_t)n > r->size)
        return -1;
    if (off < r->win_off || off + (int64_t)n > r->win_off + (int64_t)r->win_len) {
        ssize_t got = pread(r->fd, r->win, sizeof r->win, off);
        if (got < 0) {
            r->err = errno;
            return -1;
        }
        r->win_off = off;
        r->win_len = (size_t)got;
        if (got < (ssize_t)n) /* the file shrank since fstat */
            return -1;
    }
    memcpy(dst, r->win + (off - r->win_off), n);
    return 0;
}

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le24(const uint8_t *p) { return (uint32_t)p[2] << 16 | le16(p); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | le24(p); }

/* What went wrong while reading a header: a failed read is reported with its errno, running off
 * the end as a truncated header. */
static int header_short(const reader *r, const char *path, const char *fmt, tg_error *err)
{
    if (r->err)
        return error_set(err, "%s: cannot read: %s", path, strerror(r->err));
    return error_set(err, "%s: %s header truncated (the file is %lld bytes)", path, fmt,
                     (long long)r->size);
}

static int png_depth_valid(int color, int depth)
{
    switch (color) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return 0;
    }
}

/* A tRNS chunk before IDAT adds an alpha channel that IHDR does not declare; walking the chunk
 * headers (not their data) up to IDAT finds it. */
static bool png_has_trns(reader *r, int64_t off)
{
    uint8_t h[8];
    while (reader_at(r, off, h, 8) == 0) {
        if (!memcmp(h + 4, "tRNS", 4))
            return true;
        if (!memcmp(h + 4, "IDAT", 4) || !memcmp(h + 4, "IEND", 4))
            return false;
        off += 12 + (int64_t)be32(h);
    }
    return false;
}

static int probe_png(reader *r, const char *path, probed *info, tg_error *err)
{
    uint8_t h[25];
    int64_t off = 8;
    if (reader_at(r, off, h, 8))
        return header_short(r, path, "PNG", err);
    if (!memcmp(h + 4, "CgBI", 4)) /* Apple's iPhone PNGs put this chunk before IHDR */
        off += 12 + (int64_t)be32(h);
    if (reader_at(r, off, h, 25))
        return header_short(r, path, "PNG", err);
    if (memcmp(h + 4, "IHDR", 4) || be32(h) != 13)
        return error_set(err, "%s: invalid PNG: the first chunk is not a 13-byte IHDR", path);
    int depth = h[16], color = h[17];
    if (!png_depth_valid(color, depth) || h[18] != 0 || h[19] != 0 || h[20] > 1)
        return error_set(err, "%s: invalid PNG header (colour type %d, bit depth %d, compression %d, "
                         "filter %d, interlace %d)", path, color, depth, h[18], h[19], h[20]);
    static const int channels_of[7] = {1, 0, 3, 3, 2, 0, 4};
    info->w = be32(h + 8);
    info->h = be32(h + 12);
    info->channels = channels_of[color];
    if ((color == 0 || color == 2 || color == 3) && png_has_trns(r, off + 25))
        info->channels++;
    info->format = IMAGE_PNG;
    info->decodable = 1;
    return 0;
}

static bool jpeg_is_sof(int m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

static int jpeg_frame(reader *r, int64_t off, int marker, const char *path, probed *info,
                      tg_error *err)
{
    uint8_t f[8];
    if (reader_at(r, off + 2, f, 8))
        return header_short(r, path, "JPEG", err);
    int comps = f[7];
    if (be16(f) < 8 || comps == 0 || comps > 4)
        return error_set(err, "%s: invalid JPEG frame header (length %u, %d components)", path,
                         (unsigned)be16(f), comps);
    info->h = be16(f + 3);
    info->w = be16(f + 5);
    info->channels = comps;
    info->format = IMAGE_JPEG;
    /* stb_image decodes baseline and progressive Huffman JPEGs of 8-bit samples only; lossless,
     * arithmetic-coded and 12-bit files are probed but not decoded. */
    info->decodable = marker <= 0xC2 && f[2] == 8 && comps != 2;
    return 0;
}

/* Walks the marker segments from SOI to the frame header (SOFn), which may sit behind tens of
 * kilobytes of EXIF, ICC and XMP segments. */
static int probe_jpeg(reader *r, const char *path, probed *info, tg_error *err)
{
    int64_t off = 2;
    for (;;) {
        uint8_t m[4];
        if (reader_at(r, off, m, 2))
            return header_short(r, path, "JPEG", err);
        if (m[0] != 0xFF)
            return error_set(err, "%s: invalid JPEG: expected a marker at byte %lld", path,
                             (long long)off);
        if (m[1] == 0xFF) { /* fill byte before a marker */
            off++;
            continue;
        }
        if (m[1] == 0x01 || m[1] == 0xD8 || (m[1] >= 0xD0 && m[1] <= 0xD7)) {
            off += 2; /* markers without a length */
            continue;
        }
        if (m[1] == 0xDA || m[1] == 0xD9)
            return error_set(err, "%s: invalid JPEG: no frame header (SOF) before the image data",
                             path);
        if (jpeg_is_sof(m[1]))
            return jpeg_frame(r, off, m[1], path, info, err);
        if (reader_at(r, off + 2, m + 2, 2))
            return header_short(r, path, "JPEG", err);
        if (be16(m + 2) < 2)
            return error_set(err, "%s: invalid JPEG: segment at byte %lld has length %u", path,
                             (long long)off, (unsigned)be16(m + 2));
        off += 2 + be16(m + 2);
    }
}

/* Which BMPs stb_image decodes: its known header sizes, uncompressed or bit-field pixels. */
static int bmp_decodable(uint32_t hsz, int bpp, uint32_t compression)
{
    bool header = hsz == 12 || hsz == 40 || hsz == 56 || hsz == 108 || hsz == 124;
    bool depth = bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32;
    return header && depth && (compression == 0 || compression == 3);
}

static bool bmp_header_size_known(uint32_t hsz)
{
    static const uint32_t known[] = {12, 16, 40, 52, 56, 64, 108, 124};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (hsz == known[i])
            return true;
    return false;
}

static int probe_bmp(reader *r, const char *path, probed *info, tg_error *err)
{
    uint8_t h[34], last;
    if (reader_at(r, 0, h, 18))
        return header_short(r, path, "BMP", err);
    uint32_t hsz = le32(h + 14);
    if (!bmp_header_size_known(hsz))
        return error_set(err, "%s: invalid BMP: unknown info header size %u", path, (unsigned)hsz);
    if (reader_at(r, 0, h, 14 + (hsz < 20 ? hsz : 20)) || reader_at(r, 14 + hsz - 1, &last, 1))
        return header_short(r, path, "BMP", err);
    if (hsz == 12) { /* OS/2 BITMAPCOREHEADER: unsigned 16-bit sides, no compression field */
        info->w = le16(h + 18);
        info->h = le16(h + 20);
        info->channels = 3;
        info->decodable = bmp_decodable(hsz, (int)le16(h + 24), 0);
    } else {
        int bpp = (int)le16(h + 28);
        info->w = (int32_t)le32(h + 18);
        info->h = (int32_t)le32(h + 22);
        if (info->h < 0) /* rows stored top-down */
            info->h = -info->h;
        info->channels = bpp == 32 ? 4 : 3; /* stb_image reads a 32-bit BMP's fourth byte as alpha */
        info->decodable = bmp_decodable(hsz, bpp, hsz >= 40 ? le32(h + 30) : 0);
    }
    if (info->w < 0)
        return error_set(err, "%s: invalid BMP: negative width %lld", path, (long long)info->w);
    info->format = IMAGE_BMP;
    return 0;
}

static int probe_webp(reader *r, const char *path, probed *info, tg_error *err)
{
    uint8_t h[30];
    if (reader_at(r, 0, h, 30))
        return header_short(r, path, "WebP", err);
    info->format = IMAGE_WEBP;
    info->decodable = 0;
    if (!memcmp(h + 12, "VP8 ", 4)) { /* lossy: key-frame start code, then 14-bit sides */
        if ((h[20] & 1) || memcmp(h + 23, "\x9d\x01\x2a", 3))
            return error_set(err, "%s: invalid WebP: VP8 data does not start with a key frame", path);
        info->w = le16(h + 26) & 0x3FFF;
        info->h = le16(h + 28) & 0x3FFF;
        info->channels = 3;
    } else if (!memcmp(h + 12, "VP8L", 4)) { /* lossless: 14-bit sides minus one, alpha hint */
        uint32_t bits = le32(h + 21);
        if (h[20] != 0x2F || bits >> 29 != 0)
            return error_set(err, "%s: invalid WebP: bad VP8L signature or version", path);
        info->w = (bits & 0x3FFF) + 1;
        info->h = (bits >> 14 & 0x3FFF) + 1;
        info->channels = (bits >> 28 & 1) ? 4 : 3;
    } else if (!memcmp(h + 12, "VP8X", 4)) { /* extended: 24-bit canvas sides minus one */
        info->w = (int64_t)le24(h + 24) + 1;
        info->h = (int64_t)le24(h + 27) + 1;
        info->channels = (h[20] & 0x10) ? 4 : 3;
    } else {
        char type[5];
        for (int i = 0; i < 4; i++) /* printable only: these are bytes from the file */
            type[i] = h[12 + i] >= 0x20 && h[12 + i] < 0x7F ? (char)h[12 + i] : '?';
        type[4] = '\0';
        return error_set(err, "%s: invalid WebP: unknown first chunk '%s'", path, type);
    }
    return 0;
}

/* The declared size against the limits, before anything is allocated. */
static int size_check(const char *path, const probed *info, tg_error *err)
{
    int64_t w = info->w, h = info->h;
    if (w <= 0 || h <= 0)
        return error_set(err, "%s: declared size %lldx%lld is empty (zero width or height)", path,
                         (long long)w, (long long)h);
    if (w * h > IMAGE_MAX_PIXELS)
        return error_set(err, "%s: declared size %lldx%lld exceeds the %lld-pixel limit; refusing "
                         "to decode", path, (long long)w, (long long)h, IMAGE_MAX_PIXELS);
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return error_set(err, "%s: declared size %lldx%lld exceeds the %d-pixel side limit; "
                         "refusing to decode", path, (long long)w, (long long)h, IMAGE_MAX_SIDE);
    return 0;
}

typedef struct magic {
    const char *bytes;
    size_t len;
    image_format format;
} magic;

static const magic magics[] = {
    {"\x89PNG\r\n\x1a\n", 8, IMAGE_PNG},
    {"\xff\xd8\xff", 3, IMAGE_JPEG},
    {"BM", 2, IMAGE_BMP},
    {"RIFF", 4, IMAGE_WEBP}, /* and "WEBP" at byte 8, checked below */
};

/* The format the first bytes announce. A file shorter than a signature but equal to its start is
 * reported as that format so that the caller can call it truncated. */
static image_format format_sniff(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
        const magic *m = &magics[i];
        size_t k = n < m->len ? n : m->len;
        if (k >= 2 && !memcmp(b, m->bytes, k)) {
            if (m->format != IMAGE_WEBP || n < 12 || !memcmp(b + 8, "WEBP", 4))
                return m->format;
        }
    }
    return IMAGE_UNKNOWN;
}

static int probe_open(const char *path, reader *r, tg_error *err)
{
    memset(r, 0, sizeof *r);
    /* O_NONBLOCK: a FIFO named like an image must not hang us (refused below as not regular) */
    r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (r->fd < 0)
        return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        int e = errno;
        close(r->fd);
        return error_set(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(r->fd);
        return error_set(err, "%s: not a regular file", path);
    }
    r->size = st.st_size;
    return 0;
}

static int probe_format(reader *r, const char *path, probed *info, tg_error *err)
{
    uint8_t head[12];
    size_t n = r->size < 12 ? (size_t)r->size : 12;
    if (reader_at(r, 0, head, n))
        return header_short(r, path, "image", err);
    switch (format_sniff(head, n)) {
    case IMAGE_PNG: return probe_png(r, path, info, err);
    case IMAGE_JPEG: return probe_jpeg(r, path, info, err);
    case IMAGE_BMP: return probe_bmp(r, path, info, err);
    case IMAGE_WEBP: return probe_webp(r, path, info, err);
    default: break;
    }
    if (n >= 4 && !memcmp(head, "GIF8", 4))
        return error_set(err, "%s: a GIF image; only PNG, JPEG, BMP and WebP are read", path);
    return error_set(err, "%s: not an image (the content is not PNG, JPEG, BMP or WebP)", path);
}

int image_probe(const char *path, image_info *info, tg_error *err)
{
    reader *r = malloc(sizeof *r); /* a 4 KiB window: kept off the caller's stack */
    if (!r)
        return error_set(err, "%s: out of memory", path);
    probed got = {0};
    int rc = probe_open(path, r, err);
    if (rc == 0) {
        if (r->size == 0)
            rc = error_set(err, "%s: empty file (0 bytes)", path);
        else
            rc = probe_format(r, path, &got, err);
        close(r->fd);
    }
    free(r);
    if (rc == 0)
        rc = size_check(path, &got, err);
    if (rc == 0)
        *info = (image_info){(int)got.w, (int)got.h, got.channels, got.format, got.decodable};
    return rc;
}

image_format image_format_from_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return IMAGE_UNKNOWN;
    static const struct { const char *ext; image_format f; } exts[] = {
        {".png", IMAGE_PNG}, {".jpg", IMAGE_JPEG}, {".jpeg", IMAGE_JPEG},
        {".bmp", IMAGE_BMP}, {".webp", IMAGE_WEBP},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i].ext))
            return exts[i].f;
    return IMAGE_UNKNOWN;
}

const char *image_format_name(image_format f)
{
    switch (f) {
    case IMAGE_PNG: return "PNG";
    case IMAGE_JPEG: return "JPEG";
    case IMAGE_BMP: return "BMP";
    case IMAGE_WEBP: return "WebP";
    default: return "unknown";
    }
}

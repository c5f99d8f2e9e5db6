/* Images: probe the size from the header without decoding, decode (stb_image), and the resize,
 * crop and flip the trainer and the previews need. A header is never trusted: a declared size
 * over the limits is refused before anything is allocated, and truncated data is an error. */
#ifndef TAGGER_IMAGE_H
#define TAGGER_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"

/* PIL refuses images over 2 x 89,478,485 pixels as decompression bombs; we refuse over this many
 * pixels, or over IMAGE_MAX_SIDE on either side. */
#define IMAGE_MAX_PIXELS 178956970LL
#define IMAGE_MAX_SIDE 65535

typedef enum image_format {
    IMAGE_UNKNOWN = 0,
    IMAGE_PNG,
    IMAGE_JPEG,
    IMAGE_BMP,
    IMAGE_WEBP,
} image_format;

typedef struct image_info {
    int w, h;
    int channels;       /* as declared by the file: 1 grey, 2 grey+alpha, 3 colour, 4 with alpha
                           (a PNG's tRNS chunk and a 32-bit BMP count as alpha; JPEG CMYK is 4) */
    image_format format;
    int decodable;      /* 1 if image_load can decode this format (WebP: probe only) */
} image_info;

/* An 8-bit RGB image, rows top to bottom, no padding. */
typedef struct image {
    int w, h;
    uint8_t *px; /* w * h * 3 bytes */
} image;

/* Format from the file's extension (case-insensitive); IMAGE_UNKNOWN if not an image name. */
image_format image_format_from_name(const char *path);
const char *image_format_name(image_format f);

/* Reads only the header; the format comes from the magic bytes, whatever the name says. Errors
 * name the file: unreadable, zero bytes, not an image, header truncated, invalid header,
 * dimensions over the limits. On error *info is untouched. */
int image_probe(const char *path, image_info *info, tg_error *err);
/* Decodes to RGB (alpha composited on white). Errors as image_probe plus truncated data (a PNG
 * without IEND, a JPEG without EOI, a BMP short of its rows: the message says "truncated") and
 * formats stb_image does not decode (WebP; lossless, arithmetic or 12-bit JPEG; RLE BMP).
 * On error *img is untouched; on success free it with image_free. */
int image_load(const char *path, image *img, tg_error *err);
/* Frees the pixels and zeroes the struct; a zeroed image or NULL is fine. */
void image_free(image *img);

/* Resamples src to w x h into a new image dst, chosen per axis: area-averaging on an axis that
 * shrinks, bilinear between pixel centres on one that grows. w x h must be within the limits. */
int image_resize(const image *src, int w, int h, image *dst, tg_error *err);
/* Copies the w x h window at (x, y), which must lie inside src, into a new image dst. */
int image_crop(const image *src, int x, int y, int w, int h, image *dst, tg_error *err);
/* Mirrors left-right in place (flip_aug). */
void image_flip(image *img);

#endif

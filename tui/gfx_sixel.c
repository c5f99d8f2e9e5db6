/* Sixel through libsixel's low-level API (reference/terminal.md §1.2). Two paths:
 *  - few colours (flat art, the shapes dataset, plots): we map pixels to palette indices
 *    ourselves and hand libsixel an 8-bit paletted image, because its histogram samples only
 *    every 6th pixel and keeps 5 bits per channel, so flat colours would come out shifted or
 *    missing;
 *  - photos: libsixel's median cut and Floyd-Steinberg on a scratch copy, because sixel_encode
 *    dithers its input in place and the caller's pixels must survive. */
#include "tui/gfx_encode.h"

#include <sixel.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    gfx_buf *out;
    bool doubled; /* tmux passthrough body */
    bool failed;
} sink;

static int sink_write(char *data, int size, void *priv)
{
    sink *s = priv;
    if (size <= 0 || s->failed)
        return 0;
    int rc = s->doubled ? gfx_buf_put_doubled(s->out, data, (size_t)size)
                        : gfx_buf_put(s->out, data, (size_t)size);
    s->failed = rc < 0;
    return rc < 0 ? 0 : size;
}

/* Palette indices when the image has at most max distinct colours: idx gets one byte per
 * pixel, pal the colours (3 bytes each), *npal their count. -1 when there are more. */
static int palette_exact(const image *img, int max, uint8_t *pal, int *npal, uint8_t *idx)
{
    enum { SLOTS = 1024 }; /* open addressing, at most 256 of 1024 used */
    uint32_t key[SLOTS] = {0};
    uint8_t val[SLOTS];
    size_t n = (size_t)img->w * (size_t)img->h;
    uint32_t prev_key = 0;
    uint8_t prev_idx = 0;
    *npal = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->px + 3 * i;
        uint32_t k = ((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]) + 1; /* 0 = empty */
        if (k == prev_key) {
            idx[i] = prev_idx;
            continue;
        }
        uint32_t h = (k * 2654435761u) >> 22;
        while (key[h] && key[h] != k)
            h = (h + 1) & (SLOTS - 1);
        if (!key[h]) {
            if (*npal == max)
                return -1;
            key[h] = k;
            val[h] = (uint8_t)*npal;
            memcpy(pal + 3 * *npal, p, 3);
            ++*npal;
        }
        idx[i] = prev_idx = val[h];
        prev_key = k;
    }
    return 0;
}

/* Exact colours: libsixel encodes our indices and palette as they are. */
static SIXELSTATUS encode_paletted(const image *img, int max, sixel_output_t *o, bool *fits)
{
    uint8_t pal[256 * 3];
    int npal;
    uint8_t *idx = malloc((size_t)img->w * (size_t)img->h);
    if (!idx)
        return SIXEL_BAD_ALLOCATION;
    *fits = palette_exact(img, max, pal, &npal, idx) == 0;
    SIXELSTATUS st = SIXEL_OK;
    sixel_dither_t *d = NULL;
    if (*fits) {
        st = sixel_dither_new(&d, npal, NULL);
        if (SIXEL_SUCCEEDED(st)) {
            sixel_dither_set_palette(d, pal);
            sixel_dither_set_pixelformat(d, SIXEL_PIXELFORMAT_PAL8);
            st = sixel_encode(idx, img->w, img->h, 1, d, o);
        }
    }
    if (d)
        sixel_dither_unref(d);
    free(idx);
    return st;
}

/* Many colours: quantised by libsixel on a copy it may scribble on. */
static SIXELSTATUS encode_quantised(const image *img, int ncolors, sixel_output_t *o)
{
    size_t bytes = (size_t)img->w * (size_t)img->h * 3;
    uint8_t *scratch = malloc(bytes);
    if (!scratch)
        return SIXEL_BAD_ALLOCATION;
    memcpy(scratch, img->px, bytes);
    sixel_dither_t *d = NULL;
    SIXELSTATUS st = sixel_dither_new(&d, ncolors, NULL);
    if (SIXEL_SUCCEEDED(st))
        st = sixel_dither_initialize(d, scratch, img->w, img->h, SIXEL_PIXELFORMAT_RGB888,
                                     SIXEL_LARGE_AUTO, SIXEL_REP_AUTO, SIXEL_QUALITY_AUTO);
    if (SIXEL_SUCCEEDED(st))
        st = sixel_encode(scratch, img->w, img->h, 3, d, o);
    if (d)
        sixel_dither_unref(d);
    free(scratch);
    return st;
}

int gfx_sixel_encode(const image *img, int ncolors, bool tmux_wrap, gfx_buf *out, tg_error *err)
{
    if (!img || !img->px || img->w < 1 || img->h < 1)
        return error_set(err, "sixel: empty image");
    ncolors = ncolors < 2 ? 2 : ncolors > 256 ? 256 : ncolors;
    size_t start = out->len;
    sink s = {out, tmux_wrap, false};
    if (tmux_wrap && gfx_buf_puts(out, GFX_TMUX_OPEN) < 0)
        return error_set(err, "sixel: out of memory");
    sixel_output_t *o = NULL;
    SIXELSTATUS st = sixel_output_new(&o, sink_write, &s, NULL);
    if (SIXEL_SUCCEEDED(st)) {
        /* fewer bytes over SSH for the same pixels (§1.3: ~10% smaller, no slower) */
        sixel_output_set_encode_policy(o, SIXEL_ENCODEPOLICY_SIZE);
        bool fits = false;
        st = encode_paletted(img, ncolors, o, &fits);
        if (SIXEL_SUCCEEDED(st) && !fits)
            st = encode_quantised(img, ncolors, o);
    }
    if (o)
        sixel_output_unref(o);
    if (SIXEL_SUCCEEDED(st) && !s.failed && tmux_wrap && gfx_buf_puts(out, GFX_TMUX_CLOSE) < 0)
        s.failed = true;
    if (SIXEL_FAILED(st) || s.failed) {
        out->len = start;
        return error_set(err, "sixel: %s", s.failed || st == SIXEL_BAD_ALLOCATION
                                               ? "out of memory"
                                               : sixel_helper_format_error(st));
    }
    return 0;
}

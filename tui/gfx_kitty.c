/* kitty graphics protocol: raw RGB, base64, chunked. The first chunk carries the keys, the
 * others only m (and q, so that no chunk ever makes the terminal answer into our input). */
#include "tui/gfx_encode.h"

#include <stdio.h>
#include <string.h>

#define CHUNK 4096 /* base64 bytes per chunk: the protocol's maximum, a multiple of 4 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of n bytes (n a multiple of 3 except for the very last group) into dst. */
static size_t base64_encode(const uint8_t *src, size_t n, char *dst)
{
    size_t k = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        dst[k++] = b64[v >> 18];
        dst[k++] = b64[v >> 12 & 63];
        dst[k++] = b64[v >> 6 & 63];
        dst[k++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0);
        dst[k++] = b64[v >> 18];
        dst[k++] = b64[v >> 12 & 63];
        dst[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        dst[k++] = '=';
    }
    return k;
}

/* One APC command: ESC _ G keys ; payload ESC \ (wrapped for tmux when asked). */
static int apc_put(gfx_buf *out, bool tmux_wrap, const char *keys, const char *payload,
                   size_t n)
{
    int (*put)(gfx_buf *, const void *, size_t) = tmux_wrap ? gfx_buf_put_doubled : gfx_buf_put;
    int rc = tmux_wrap ? gfx_buf_puts(out, GFX_TMUX_OPEN) : 0;
    rc |= put(out, "\033_G", 3) | put(out, keys, strlen(keys));
    if (n)
        rc |= put(out, ";", 1) | put(out, payload, n);
    rc |= put(out, "\033\\", 2);
    if (tmux_wrap)
        rc |= gfx_buf_puts(out, GFX_TMUX_CLOSE);
    return rc ? -1 : 0;
}

int gfx_kitty_encode(const image *img, uint32_t id, bool tmux_wrap, gfx_buf *out, tg_error *err)
{
    if (!img || !img->px || img->w < 1 || img->h < 1)
        return error_set(err, "kitty: empty image");
    size_t start = out->len;
    size_t total = (size_t)img->w * (size_t)img->h * 3;
    const size_t raw_per_chunk = CHUNK / 4 * 3;
    char payload[CHUNK];
    char keys[96];
    for (size_t off = 0; off < total; off += raw_per_chunk) {
        size_t raw = total - off < raw_per_chunk ? total - off : raw_per_chunk;
        size_t n = base64_encode(img->px + off, raw, payload);
        int more = off + raw < total;
        if (off == 0)
            snprintf(keys, sizeof keys, "a=T,f=24,s=%d,v=%d,i=%u,q=2,C=1,m=%d", img->w, img->h,
                     (unsigned)id, more);
        else
            snprintf(keys, sizeof keys, "m=%d,q=2", more);
        if (apc_put(out, tmux_wrap, keys, payload, n) < 0) {
            out->len = start;
            return error_set(err, "kitty: out of memory");
        }
    }
    return 0;
}

void gfx_kitty_delete(uint32_t id, bool tmux_wrap, gfx_buf *out)
{
    char keys[64];
    snprintf(keys, sizeof keys, "a=d,d=I,i=%u,q=2", (unsigned)id);
    apc_put(out, tmux_wrap, keys, NULL, 0);
}

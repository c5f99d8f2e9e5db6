/* The image layer of the full-screen app: encoders checked byte by byte (sixel decoded back to
 * pixels by a small decoder written here, kitty chunks parsed and base64-decoded), half-block
 * colours, fitting, capability detection on the replies real terminals sent (terminal.md §3.1)
 * and through a real pty, and the preview layer's frame protocol on a headless ncurses screen. */
#include "tui/gfx_encode.h"
#include "tui/preview.h"
#include "tui/term_caps.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "tests/unit/fixture.h"

/* ---- images made here ---- */

static image img_new(int w, int h)
{
    image im = {w, h, calloc((size_t)w * h * 3, 1)};
    return im;
}

static void px_set(image *im, int x, int y, uint32_t rgb)
{
    uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
    p[0] = rgb >> 16, p[1] = rgb >> 8 & 255, p[2] = rgb & 255;
}

static uint32_t px_get(const uint8_t *px, int w, int x, int y)
{
    const uint8_t *p = px + ((size_t)y * w + x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Four flat quadrants: top-left red, top-right blue, bottom-left green, bottom-right white;
 * the horizontal split at row `split`. */
static image img_quadrants(int w, int h, int split)
{
    image im = img_new(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px_set(&im, x, y, y < split ? (x < w / 2 ? 0xff0000 : 0x0000ff)
                                        : (x < w / 2 ? 0x00ff00 : 0xffffff));
    return im;
}

/* Smooth gradients: thousands of colours, so libsixel has to quantise. */
static image img_photo(int w, int h)
{
    image im = img_new(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px_set(&im, x, y, (uint32_t)(x * 255 / (w - 1)) << 16 |
                                  (uint32_t)(y * 255 / (h - 1)) << 8 |
                                  (uint32_t)((x + 2 * y) * 255 / (w + 2 * h)));
    return im;
}

/* ---- a sixel decoder (enough of DEC's format for what encoders emit) ---- */

typedef struct decoded {
    int w, h;     /* from the raster attributes */
    uint8_t *px;  /* RGB */
    uint8_t *set; /* 1 where a pixel was drawn */
    int colours;  /* palette entries defined */
} decoded;

static int num_parse(const char *s, size_t n, size_t *i)
{
    int v = 0;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        v = v * 10 + (s[(*i)++] - '0');
    return v;
}

/* 0 when s[0..n) holds one well-formed sixel image, decoded into d. */
static int sixel_decode(const char *s, size_t n, decoded *d)
{
    memset(d, 0, sizeof *d);
    const char *start = memmem(s, n, "\033P", 2);
    if (!start)
        return -1;
    size_t i = (size_t)(start - s) + 2;
    while (i < n && s[i] != 'q')
        i++;
    if (++i >= n || s[i] != '"')
        return -1;
    i++;
    int pan = num_parse(s, n, &i);
    int pad = (i++, num_parse(s, n, &i));
    d->w = (i++, num_parse(s, n, &i));
    d->h = (i++, num_parse(s, n, &i));
    if (pan != 1 || pad != 1 || d->w < 1 || d->h < 1)
        return -1;
    d->px = calloc((size_t)d->w * d->h, 3);
    d->set = calloc((size_t)d->w * d->h, 1);
    uint8_t pal[256][3] = {{0}};
    int cur = 0, x = 0, y = 0;
    while (i < n) {
        char c = s[i++];
        int count = 1;
        if (c == '\033')
            return i < n && s[i] == '\\' ? 0 : -1;
        if (c == '#') {
            cur = num_parse(s, n, &i) & 255;
            if (i < n && s[i] == ';') {
                i++;
                int kind = num_parse(s, n, &i), rgb[3];
                for (int k = 0; k < 3; k++)
                    rgb[k] = (i++, num_parse(s, n, &i));
                if (kind != 2)
                    return -1;
                for (int k = 0; k < 3; k++)
                    pal[cur][k] = (uint8_t)((rgb[k] * 255 + 50) / 100);
                d->colours++;
            }
            continue;
        }
        if (c == '$') {
            x = 0;
            continue;
        }
        if (c == '-') {
            x = 0;
            y += 6;
            continue;
        }
        if (c == '!') {
            count = num_parse(s, n, &i);
            c = i < n ? s[i++] : 0;
        }
        if (c < 63 || c > 126)
            return -1;
        for (int k = 0; k < count; k++, x++)
            for (int b = 0; b < 6; b++)
                if ((c - 63) >> b & 1 && x < d->w && y + b < d->h) {
                    size_t at = (size_t)(y + b) * d->w + x;
                    memcpy(d->px + 3 * at, pal[cur], 3);
                    d->set[at] = 1;
                }
    }
    return -1; /* no ST */
}

static void decoded_free(decoded *d)
{
    free(d->px);
    free(d->set);
}

static bool all_set(const decoded *d)
{
    for (size_t i = 0; i < (size_t)d->w * d->h; i++)
        if (!d->set[i])
            return false;
    return true;
}

static bool starts_with(const gfx_buf *b, const char *s)
{
    return b->len >= strlen(s) && memcmp(b->data, s, strlen(s)) == 0;
}

static bool ends_with(const gfx_buf *b, const char *s)
{
    size_t k = strlen(s);
    return b->len >= k && memcmp(b->data + b->len - k, s, k) == 0;
}

/* ---- sixel ---- */

static void test_sixel_framing(void)
{
    image im = img_quadrants(8, 12, 6);
    gfx_buf b = {0};
    tg_error err = {{0}};
    CHECK_INT(gfx_sixel_encode(&im, 256, false, &b, &err), 0);
    CHECK(starts_with(&b, "\033P"));
    const char *q = b.len ? memchr(b.data, 'q', b.len) : NULL;
    CHECK(q != NULL);
    if (q) {
        for (const char *p = b.data + 2; p < q; p++) /* DCS parameters only */
            CHECK((*p >= '0' && *p <= '9') || *p == ';');
        CHECK(strncmp(q + 1, "\"1;1;8;12", 9) == 0);
    }
    CHECK(ends_with(&b, "\033\\"));
    gfx_buf_free(&b);
    free(im.px);
}

static void test_sixel_exact_colours(void)
{
    image im = img_quadrants(16, 18, 7); /* band boundary and split do not line up */
    uint8_t *before = malloc(16 * 18 * 3);
    memcpy(before, im.px, 16 * 18 * 3);
    gfx_buf b = {0};
    tg_error err = {{0}};
    CHECK_INT(gfx_sixel_encode(&im, 256, false, &b, &err), 0);
    decoded d;
    CHECK_INT(sixel_decode(b.data, b.len, &d), 0);
    CHECK_INT(d.w, 16);
    CHECK_INT(d.h, 18);
    CHECK_INT(d.colours, 4);
    CHECK(d.px && all_set(&d));
    int wrong = 0;
    for (int y = 0; d.px && y < 18; y++)
        for (int x = 0; x < 16; x++)
            wrong += px_get(d.px, 16, x, y) != px_get(im.px, 16, x, y);
    CHECK_INT(wrong, 0);
    CHECK(memcmp(before, im.px, 16 * 18 * 3) == 0); /* the caller's pixels are untouched */
    decoded_free(&d);
    gfx_buf_free(&b);
    free(before);
    free(im.px);
}

static void test_sixel_photo_close(void)
{
    image im = img_photo(96, 60);
    uint8_t *before = malloc(96 * 60 * 3);
    memcpy(before, im.px, 96 * 60 * 3);
    gfx_buf b = {0};
    tg_error err = {{0}};
    CHECK_INT(gfx_sixel_encode(&im, 256, false, &b, &err), 0);
    decoded d;
    CHECK_INT(sixel_decode(b.data, b.len, &d), 0);
    CHECK(d.px && all_set(&d));
    CHECK(d.colours > 16 && d.colours <= 256);
    long diff = 0;
    int worst = 0;
    for (size_t i = 0; d.px && i < (size_t)96 * 60 * 3; i++) {
        int e = abs((int)d.px[i] - (int)im.px[i]);
        diff += e;
        worst = e > worst ? e : worst;
    }
    double mean = (double)diff / (96 * 60 * 3);
    CHECK(mean < 8.0);
    CHECK(worst < 80);
    CHECK(memcmp(before, im.px, 96 * 60 * 3) == 0); /* libsixel dithered a copy, not ours */
    /* fewer registers than colours: at most that many come out */
    gfx_buf small = {0};
    CHECK_INT(gfx_sixel_encode(&im, 16, false, &small, &err), 0);
    decoded d16;
    CHECK_INT(sixel_decode(small.data, small.len, &d16), 0);
    CHECK(d16.colours >= 2 && d16.colours <= 16);
    decoded_free(&d16);
    gfx_buf_free(&small);
    decoded_free(&d);
    gfx_buf_free(&b);
    free(before);
    free(im.px);
}

/* Undoes tmux framing: OPEN, body with every ESC doubled, CLOSE. -1 when malformed. */
static int tmux_unwrap(const char *s, size_t n, size_t *i, gfx_buf *out)
{
    size_t open = strlen(GFX_TMUX_OPEN);
    if (n - *i < open || memcmp(s + *i, GFX_TMUX_OPEN, open) != 0)
        return -1;
    for (size_t j = *i + open; j + 1 < n; j++) {
        if (s[j] != '\033') {
            gfx_buf_put(out, s + j, 1);
            continue;
        }
        if (s[j + 1] == '\033') { /* doubled: one ESC of the body */
            gfx_buf_put(out, s + j, 1);
            j++;
        } else if (s[j + 1] == '\\') {
            *i = j + 2;
            return 0;
        } else {
            return -1; /* a lone ESC would end tmux's passthrough early */
        }
    }
    return -1;
}

static void test_sixel_tmux_wrap(void)
{
    image im = img_quadrants(10, 12, 5);
    gfx_buf plain = {0}, wrapped = {0}, body = {0};
    tg_error err = {{0}};
    CHECK_INT(gfx_sixel_encode(&im, 256, false, &plain, &err), 0);
    CHECK_INT(gfx_sixel_encode(&im, 256, true, &wrapped, &err), 0);
    size_t i = 0;
    CHECK_INT(tmux_unwrap(wrapped.data, wrapped.len, &i, &body), 0);
    CHECK_INT(i, wrapped.len);
    CHECK_INT(body.len, plain.len);
    CHECK(body.len == plain.len && memcmp(body.data, plain.data, plain.len) == 0);
    CHECK(starts_with(&wrapped, "\033Ptmux;\033\033P"));
    CHECK(ends_with(&wrapped, "\033\033\\\033\\"));
    gfx_buf_free(&plain);
    gfx_buf_free(&wrapped);
    gfx_buf_free(&body);
    free(im.px);
}

/* ---- kitty ---- */

static int b64_value(char c)
{
    const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(t, c) : NULL;
    return p ? (int)(p - t) : -1;
}

static int b64_decode(const char *s, size_t n, gfx_buf *out)
{
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            v[k] = s[i + k] == '=' ? (pad++, 0) : b64_value(s[i + k]);
            if (v[k] < 0)
                return -1;
        }
        uint8_t o[3] = {(uint8_t)(v[0] << 2 | v[1] >> 4), (uint8_t)(v[1] << 4 | v[2] >> 2),
                        (uint8_t)(v[2] << 6 | v[3])};
        gfx_buf_put(out, o, (size_t)(3 - pad));
    }
    return 0;
}

typedef struct kitty_parsed {
    int chunks, bad_m, too_long;
    char first_keys[128];
    bool last_m0;
    gfx_buf data;
} kitty_parsed;

/* Parses a stream of ESC _ G keys ; payload ESC \ commands. */
static int kitty_parse(const char *s, size_t n, kitty_parsed *k)
{
    memset(k, 0, sizeof *k);
    gfx_buf b64 = {0};
    size_t i = 0;
    while (i < n) {
        if (n - i < 3 || memcmp(s + i, "\033_G", 3) != 0)
            return -1;
        const char *end = memmem(s + i, n - i, "\033\\", 2);
        if (!end)
            return -1;
        const char *body = s + i + 3, *semi = memchr(body, ';', (size_t)(end - body));
        size_t klen = (size_t)((semi ? semi : end) - body);
        char keys[128] = "";
        memcpy(keys, body, klen < 127 ? klen : 127);
        if (k->chunks == 0)
            strcpy(k->first_keys, keys);
        bool more = strstr(keys, "m=1") != NULL;
        size_t plen = semi ? (size_t)(end - semi - 1) : 0;
        k->too_long += plen > 4096;
        if (semi)
            gfx_buf_put(&b64, semi + 1, plen);
        i = (size_t)(end - s) + 2;
        k->chunks++;
        k->last_m0 = !more && strstr(keys, "m=0") != NULL;
        k->bad_m += i < n && !more; /* every chunk but the last says more follows */
    }
    int rc = b64_decode(b64.data, b64.len, &k->data);
    gfx_buf_free(&b64);
    return rc;
}

static void test_kitty_roundtrip(void)
{
    int sizes[][2] = {{1, 1}, {50, 40}, {100, 100}, {33, 7}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        image im = img_photo(sizes[t][0] < 2 ? 2 : sizes[t][0], sizes[t][1] < 2 ? 2 : sizes[t][1]);
        im.w = sizes[t][0];
        im.h = sizes[t][1];
        gfx_buf b = {0};
        tg_error err = {{0}};
        CHECK_INT(gfx_kitty_encode(&im, 7, false, &b, &err), 0);
        kitty_parsed k;
        CHECK_INT(kitty_parse(b.data, b.len, &k), 0);
        size_t bytes = (size_t)im.w * im.h * 3;
        CHECK_INT(k.data.len, bytes);
        CHECK(k.data.len == bytes && memcmp(k.data.data, im.px, bytes) == 0);
        CHECK_INT(k.chunks, (int)((bytes + 3071) / 3072));
        CHECK_INT(k.bad_m, 0);
        CHECK_INT(k.too_long, 0);
        CHECK(k.last_m0);
        char want[96];
        snprintf(want, sizeof want, "a=T,f=24,s=%d,v=%d,i=7,q=2,C=1,m=%d", im.w, im.h,
                 k.chunks > 1);
        CHECK_STR(k.first_keys, want);
        gfx_buf_free(&k.data);
        gfx_buf_free(&b);
        free(im.px);
    }
}

static void test_kitty_tmux_and_delete(void)
{
    image im = img_photo(40, 40); /* 4800 bytes: two chunks */
    gfx_buf plain = {0}, wrapped = {0}, body = {0};
    tg_error err = {{0}};
    CHECK_INT(gfx_kitty_encode(&im, 9, false, &plain, &err), 0);
    CHECK_INT(gfx_kitty_encode(&im, 9, true, &wrapped, &err), 0);
    int wraps = 0;
    for (size_t i = 0; i < wrapped.len; wraps++)
        if (tmux_unwrap(wrapped.data, wrapped.len, &i, &body) < 0)
            break;
    CHECK_INT(wraps, 2); /* each chunk in its own passthrough */
    CHECK(body.len == plain.len && memcmp(body.data, plain.data, plain.len) == 0);
    gfx_buf del = {0};
    gfx_kitty_delete(9, false, &del);
    CHECK(del.len == strlen("\033_Ga=d,d=I,i=9,q=2\033\\") &&
          memcmp(del.data, "\033_Ga=d,d=I,i=9,q=2\033\\", del.len) == 0);
    gfx_buf_free(&del);
    gfx_kitty_delete(9, true, &del);
    CHECK(starts_with(&del, "\033Ptmux;\033\033_Ga=d,d=I,i=9"));
    gfx_buf_free(&del);
    gfx_buf_free(&plain);
    gfx_buf_free(&wrapped);
    gfx_buf_free(&body);
    free(im.px);
}

/* ---- half blocks ---- */

static void test_blocks_colours(void)
{
    CHECK_INT(gfx_rgb_to_256(255, 0, 0), 196);
    CHECK_INT(gfx_rgb_to_256(255, 255, 255), 231);
    CHECK_INT(gfx_rgb_to_256(0, 0, 0), 16);
    CHECK_INT(gfx_rgb_to_256(0, 255, 0), 46);
    CHECK_INT(gfx_rgb_to_256(0, 0, 255), 21);
    CHECK_INT(gfx_rgb_to_256(128, 128, 128), 244); /* grey ramp: 8 + 10 * 12 */
    CHECK_INT(gfx_rgb_to_256(8, 8, 8), 232);
    CHECK_INT(gfx_rgb_to_256(238, 238, 238), 255);
    CHECK_INT(gfx_rgb_to_256(95, 135, 175), 67);   /* an exact cube colour */
    CHECK_INT(gfx_rgb_to_256(250, 10, 5), 196);
    image im = img_new(2, 4);
    px_set(&im, 0, 0, 0xff0000), px_set(&im, 0, 1, 0x0000ff);
    px_set(&im, 1, 0, 0xffffff), px_set(&im, 1, 1, 0x000000);
    px_set(&im, 0, 2, 0x808080), px_set(&im, 0, 3, 0x00ff00);
    px_set(&im, 1, 2, 0x123456), px_set(&im, 1, 3, 0xabcdef);
    gfx_cell cells[4];
    gfx_blocks_render(&im, false, cells);
    CHECK_INT(cells[0].fg, 196);
    CHECK_INT(cells[0].bg, 21);
    CHECK_INT(cells[1].fg, 231);
    CHECK_INT(cells[1].bg, 16);
    CHECK_INT(cells[2].fg, 244);
    CHECK_INT(cells[2].bg, 46);
    gfx_blocks_render(&im, true, cells);
    CHECK_INT(cells[3].fg, 0x123456);
    CHECK_INT(cells[3].bg, 0xabcdef);
    free(im.px);
}

/* ---- fitting ---- */

static void fit(gfx_mode m, int iw, int ih, int cols, int rows, int want[4])
{
    term_caps caps = {.gfx = m, .cell_w = 10, .cell_h = 20};
    int got[4];
    gfx_fit(iw, ih, cols, rows, &caps, &got[0], &got[1], &got[2], &got[3]);
    for (int i = 0; i < 4; i++)
        CHECK_INT(got[i], want[i]);
}

static void test_fit(void)
{
    /* box 40x20 cells = 400x400 px */
    fit(GFX_SIXEL, 1000, 500, 40, 20, (int[]){396, 198, 40, 10});  /* wide: 200 -> 198 */
    fit(GFX_SIXEL, 500, 1000, 40, 20, (int[]){198, 396, 20, 20});  /* tall */
    fit(GFX_SIXEL, 100, 100, 1, 1, (int[]){6, 6, 1, 1});           /* tiny box: 10x20 px */
    fit(GFX_SIXEL, 64, 64, 40, 20, (int[]){396, 396, 40, 20});     /* upscaled to fill */
    fit(GFX_KITTY, 1000, 500, 40, 20, (int[]){400, 200, 40, 10});  /* no band rounding */
    fit(GFX_BLOCKS, 1000, 500, 40, 20, (int[]){40, 20, 40, 10});   /* 1x2 pixels a cell */
    fit(GFX_BLOCKS, 500, 1000, 40, 20, (int[]){20, 40, 20, 20});
    fit(GFX_NONE, 1000, 500, 40, 20, (int[]){0, 0, 0, 0});
    fit(GFX_SIXEL, 1000, 500, 0, 20, (int[]){0, 0, 0, 0});
    fit(GFX_SIXEL, 0, 500, 40, 20, (int[]){0, 0, 0, 0});
    for (int h = 1; h < 40; h++) { /* a sixel never spills past its box */
        term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 9, .cell_h = 19};
        int pw, ph, uc, ur;
        gfx_fit(300, 7 * h, 12, 5, &caps, &pw, &ph, &uc, &ur);
        CHECK(ph % 6 == 0 && ph <= 5 * 19 && pw <= 12 * 9 && uc <= 12 && ur <= 5);
    }
}

/* ---- capability detection ---- */

#define DA1_VT340 "\033[?63;1;2;4;6;9;15;16;22;28c"
#define DA1_XTERM "\033[?64;1;2;6;9;15;16;17;18;21;22;28c"
#define XTVERSION_XTERM "\033P>|XTerm(379)\033\\"

static term_caps caps_of(const char *replies, const char *const *env)
{
    term_caps c;
    term_caps_from_replies(replies, strlen(replies), env, &c);
    return c;
}

static void test_caps_xterm(void)
{
    const char *env[] = {"TERM=xterm-256color", NULL};
    term_caps c = caps_of(XTVERSION_XTERM "\033[?1;0;1024S" DA1_VT340, env);
    CHECK_INT(c.gfx, GFX_SIXEL);
    CHECK_INT(c.sixel_colors, 1024);
    CHECK_STR(c.terminal, "XTerm(379)");
    CHECK(strstr(c.why, "DA1 has 4") != NULL);
    CHECK(!c.in_tmux && !c.passthrough);
    c = caps_of(XTVERSION_XTERM "\033[?1;3S" DA1_XTERM, env); /* default xterm: no sixel */
    CHECK_INT(c.gfx, GFX_BLOCKS);
    CHECK_INT(c.sixel_colors, 256);
    CHECK(strstr(c.why, "without 4") != NULL);
    /* mlterm: no XTVERSION, cell size from CSI 16 t */
    c = caps_of("\033[?1;0;1024S\033[6;19;10t\033[?63;1;2;3;4;6;7;15;18;22;29c", env);
    CHECK_INT(c.gfx, GFX_SIXEL);
    CHECK_INT(c.cell_w, 10);
    CHECK_INT(c.cell_h, 19);
    CHECK_STR(c.terminal, "xterm-256color");
    c = caps_of("\033_Gi=31;OK\033\\\033[?62;22c", env);
    CHECK_INT(c.gfx, GFX_KITTY);
    c = caps_of("\033_Gi=31;EINVAL:bad\033\\" DA1_XTERM, env);
    CHECK_INT(c.gfx, GFX_BLOCKS);
}

static void test_caps_keystrokes(void)
{
    const char *env[] = {"TERM=xterm", NULL};
    /* typed keys (j, arrow up, F12, a lone 4, Alt+x) around and between the replies */
    term_caps c = caps_of("j\033[A4" XTVERSION_XTERM "k\033[24~\033[?1;0;1024Sq\033x" DA1_VT340
                          "zz", env);
    CHECK_INT(c.gfx, GFX_SIXEL);
    CHECK_INT(c.sixel_colors, 1024);
    CHECK_STR(c.terminal, "XTerm(379)");
    c = caps_of("4;4c\033[4~\033[1;4A" DA1_XTERM, env); /* 4s in keys are not DA1's 4 */
    CHECK_INT(c.gfx, GFX_BLOCKS);
    c = caps_of("\033P>|ev\001il\033[31m\033\\" DA1_XTERM, env); /* name sanitised */
    CHECK_STR(c.terminal, "ev?il?[31m");
    c = caps_of(XTVERSION_XTERM "\033[?1;0;1024S", env); /* DA1 never came */
    CHECK_INT(c.gfx, GFX_BLOCKS);
    CHECK(strstr(c.why, "no reply") != NULL);
}

static void test_caps_tmux(void)
{
    const char *env[] = {"TERM=tmux-256color", "TMUX=/tmp/tmux-0/default,42,0", NULL};
    term_caps c = caps_of("\033P>|tmux 3.3a\033\\\033[?1;2c", env);
    CHECK(c.in_tmux);
    CHECK_INT(c.gfx, GFX_BLOCKS);
    CHECK(!c.passthrough);
    CHECK_STR(c.terminal, "tmux 3.3a");
    tmux_facts off = {.allow_passthrough = false, .features = "256,RGB,sixel"};
    term_caps d = c;
    term_caps_apply_tmux(&d, &off);
    CHECK_INT(d.gfx, GFX_BLOCKS);
    CHECK(!d.passthrough);
    tmux_facts six = {.allow_passthrough = true, .features = "256,RGB,sixel,title"};
    d = c;
    term_caps_apply_tmux(&d, &six);
    CHECK_INT(d.gfx, GFX_SIXEL);
    CHECK(d.passthrough);
    tmux_facts kit = {.allow_passthrough = true, .features = "256,RGB", .termname = "xterm-kitty"};
    d = c;
    term_caps_apply_tmux(&d, &kit);
    CHECK_INT(d.gfx, GFX_KITTY);
    CHECK(d.passthrough);
    tmux_facts unknown = {.allow_passthrough = true, .features = "256,sixelish",
                          .termname = "xterm-256color"};
    d = c;
    term_caps_apply_tmux(&d, &unknown);
    CHECK_INT(d.gfx, GFX_BLOCKS);
    CHECK(d.passthrough); /* a sixel forced by the user is wrapped */
    /* tmux >= 3.4 built with sixel draws it itself: no wrapping */
    d = caps_of("\033P>|tmux 3.5a\033\\\033[?1;2;4c", env);
    term_caps_apply_tmux(&d, &six);
    CHECK_INT(d.gfx, GFX_SIXEL);
    CHECK(!d.passthrough);
    /* XTVERSION alone says tmux (e.g. $TMUX not forwarded through sudo) */
    const char *plain[] = {"TERM=screen", NULL};
    CHECK(caps_of("\033P>|tmux 3.3a\033\\\033[?1;2c", plain).in_tmux);
}

static void test_caps_env(void)
{
    struct { const char *env[4]; gfx_mode want; } cases[] = {
        {{"TERM=xterm-kitty", NULL}, GFX_KITTY},
        {{"TERM=xterm-256color", "KITTY_WINDOW_ID=1", NULL}, GFX_KITTY},
        {{"TERM=xterm", "MLTERM=3.9.0", NULL}, GFX_SIXEL},
        {{"TERM=foot", NULL}, GFX_SIXEL},
        {{"TERM=xterm-256color", NULL}, GFX_BLOCKS},
        {{"TERM=dumb", NULL}, GFX_NONE},
        {{NULL}, GFX_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_INT(caps_of("", cases[i].env).gfx, cases[i].want);
    const char *tc[] = {"TERM=xterm-256color", "COLORTERM=truecolor", NULL};
    term_caps c = caps_of("", tc);
    CHECK(c.truecolor);
    CHECK_INT(c.cell_w, 10);
    CHECK_INT(c.cell_h, 20);
    const char *no_tc[] = {"TERM=xterm-256color", "COLORTERM=yes", NULL};
    CHECK(!caps_of("", no_tc).truecolor);
    gfx_mode m = GFX_NONE;
    CHECK_INT(gfx_mode_parse("kitty", &m), 0);
    CHECK_INT(m, GFX_KITTY);
    CHECK_INT(gfx_mode_parse("blocks", &m), 0);
    CHECK_INT(m, GFX_BLOCKS);
    CHECK_INT(gfx_mode_parse("auto", &m), -1);
    CHECK_INT(gfx_mode_parse("sixels", &m), -2);
    CHECK_STR(gfx_mode_name(GFX_SIXEL), "sixel");
}

/* ---- term_probe through a pty: the child owns the slave as its controlling terminal ---- */

typedef struct probe_result {
    term_caps caps;
    long elapsed_ms;
    bool termios_restored;
} probe_result;

static long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static pid_t probe_child(int master, int timeout_ms, int out_fd)
{
    const char *slave = ptsname(master);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setsid();
    int fd = open(slave, O_RDWR);
    ioctl(fd, TIOCSCTTY, 0);
    unsetenv("TMUX");
    setenv("TERM", "xterm-256color", 1);
    struct termios before, after;
    tcgetattr(fd, &before);
    probe_result r = {0};
    long t0 = ms_now();
    term_probe(fd, timeout_ms, &r.caps);
    r.elapsed_ms = ms_now() - t0;
    tcgetattr(fd, &after);
    r.termios_restored = before.c_lflag == after.c_lflag && before.c_cc[VMIN] == after.c_cc[VMIN];
    if (write(out_fd, &r, sizeof r) != sizeof r)
        _exit(1);
    _exit(0);
}

/* Reads what the child wrote to its terminal until the DA1 query arrives. */
static size_t read_queries(int master, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap && !memmem(buf, n, "\033[c", 3)) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 3000) <= 0)
            break;
        ssize_t got = read(master, buf + n, cap - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    return n;
}

static int pty_open(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
        return -1;
    struct winsize ws = {.ws_row = 30, .ws_col = 100, .ws_xpixel = 904, .ws_ypixel = 574};
    ioctl(m, TIOCSWINSZ, &ws);
    return m;
}

static void test_probe_pty(void)
{
    int master = pty_open(), pipefd[2];
    CHECK(master >= 0);
    if (master < 0 || pipe(pipefd) < 0)
        return;
    pid_t pid = probe_child(master, 3000, pipefd[1]);
    char q[512];
    size_t n = read_queries(master, q, sizeof q);
    CHECK(n >= 3 && memcmp(q + n - 3, "\033[c", 3) == 0); /* DA1 last */
    CHECK(memmem(q, n, "\033[>0q", 5) != NULL);
    CHECK(memmem(q, n, "\033[?1;1;0S", 9) != NULL);
    CHECK(memmem(q, n, "\033[16t", 5) != NULL);
    CHECK(memmem(q, n, "\033_Gi=31,", 8) != NULL);
    const char *answer = "j" XTVERSION_XTERM "\033[?1;0;1024S" DA1_VT340;
    CHECK_INT(write(master, answer, strlen(answer)), (long long)strlen(answer));
    probe_result r = {0};
    CHECK_INT(read(pipefd[0], &r, sizeof r), (long long)sizeof r);
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK_INT(status, 0);
    CHECK_INT(r.caps.gfx, GFX_SIXEL);
    CHECK_INT(r.caps.sixel_colors, 1024);
    CHECK_STR(r.caps.terminal, "XTerm(379)");
    CHECK_INT(r.caps.cell_w, 9); /* TIOCGWINSZ: 904x574 px over 100x30 */
    CHECK_INT(r.caps.cell_h, 19);
    CHECK(r.termios_restored);
    close(pipefd[0]);
    close(pipefd[1]);
    close(master);
}

static void test_probe_silent_terminal(void)
{
    int master = pty_open(), pipefd[2];
    CHECK(master >= 0);
    if (master < 0 || pipe(pipefd) < 0)
        return;
    pid_t pid = probe_child(master, 300, pipefd[1]);
    char q[512];
    read_queries(master, q, sizeof q); /* and never answer */
    probe_result r = {0};
    CHECK_INT(read(pipefd[0], &r, sizeof r), (long long)sizeof r);
    waitpid(pid, NULL, 0);
    CHECK(r.elapsed_ms >= 250 && r.elapsed_ms < 2000);
    CHECK_INT(r.caps.gfx, GFX_BLOCKS); /* TERM=xterm-256color */
    CHECK(strstr(r.caps.why, "no reply") != NULL);
    CHECK(r.termios_restored);
    close(pipefd[0]);
    close(pipefd[1]);
    close(master);
}

/* ---- the preview layer on a headless ncurses screen ---- */

static char *dir;
static SCREEN *screen;
static FILE *screen_out, *screen_in;
static int pipe_rd = -1, pipe_wr = -1;

static void curses_start(void)
{
    setenv("LINES", "30", 1);
    setenv("COLUMNS", "100", 1);
    screen_out = fopen("/dev/null", "w");
    screen_in = fopen("/dev/null", "r");
    screen = newterm("xterm-256color", screen_out, screen_in);
    CHECK(screen != NULL);
    set_term(screen);
    start_color();
    int fds[2];
    if (pipe(fds) == 0) {
        pipe_rd = fds[0], pipe_wr = fds[1];
        fcntl(pipe_wr, F_SETPIPE_SZ, 1 << 20);
        fcntl(pipe_rd, F_SETFL, O_NONBLOCK);
    }
}

static void curses_stop(void)
{
    endwin();
    delscreen(screen);
    fclose(screen_out);
    fclose(screen_in);
    close(pipe_rd);
    close(pipe_wr);
}

/* What the last emit wrote. */
static size_t drain(gfx_buf *b)
{
    char chunk[65536];
    b->len = 0;
    for (ssize_t got; (got = read(pipe_rd, chunk, sizeof chunk)) > 0;)
        gfx_buf_put(b, chunk, (size_t)got);
    return b->len;
}

static const char *png(const char *name, const image *im)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    CHECK(stbi_write_png(p, im->w, im->h, 3, im->px, im->w * 3));
    return p;
}

static const char *png_flat(const char *name, int w, int h, uint32_t rgb)
{
    image im = img_new(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px_set(&im, x, y, rgb);
    const char *p = png(name, &im);
    free(im.px);
    return p;
}

/* One frame: places every (path, y, x, rows, cols), updates, emits into the pipe. */
typedef struct place_arg {
    const char *path;
    int y, x, rows, cols;
} place_arg;

static size_t frame(preview *pv, const place_arg *a, int n, gfx_buf *out)
{
    preview_frame_begin(pv);
    for (int i = 0; i < n; i++)
        preview_place(pv, a[i].y, a[i].x, a[i].rows, a[i].cols, a[i].path);
    preview_frame_end(pv);
    wnoutrefresh(stdscr);
    doupdate();
    size_t wrote = preview_emit(pv, pipe_wr);
    size_t got = drain(out);
    CHECK_INT(got, wrote);
    return wrote;
}

static bool has(const gfx_buf *b, const char *s)
{
    return b->len && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static void test_preview_sixel_once(void)
{
    term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 10, .cell_h = 20, .sixel_colors = 1024};
    image q = img_quadrants(40, 40, 20);
    place_arg a = {png("quad.png", &q), 2, 3, 10, 20};
    preview *pv = preview_new(&caps);
    gfx_buf out = {0}, first = {0};
    size_t n1 = frame(pv, &a, 1, &out);
    preview_info info;
    CHECK(preview_last(pv, &info) && info.ok);
    CHECK_INT(info.px_w, 198);
    CHECK_INT(info.px_h, 198);
    CHECK_INT(info.y, 2);
    CHECK_INT(info.x, 3);
    CHECK(n1 > 0 && starts_with(&out, "\0337\033[3;4H\033P"));
    CHECK(ends_with(&out, "\033\\\0338"));
    decoded d;
    CHECK_INT(sixel_decode(out.data, out.len, &d), 0);
    CHECK(d.px && px_get(d.px, d.w, 10, 10) == 0xff0000 && px_get(d.px, d.w, 190, 190) == 0xffffff);
    decoded_free(&d);
    gfx_buf_put(&first, out.data, out.len);
    CHECK_INT(frame(pv, &a, 1, &out), 0); /* unchanged: nothing */
    CHECK_INT(frame(pv, &a, 1, &out), 0);
    preview_invalidate(pv);
    CHECK_INT(frame(pv, &a, 1, &out), n1); /* re-sent, same bytes */
    CHECK(out.len == first.len && memcmp(out.data, first.data, first.len) == 0);
    CHECK_INT(frame(pv, &a, 1, &out), 0);
    preview_free(pv);
    gfx_buf_free(&out);
    gfx_buf_free(&first);
    free(q.px);
}

static void test_preview_sixel_moves(void)
{
    term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 10, .cell_h = 20, .sixel_colors = 256};
    const char *red = png_flat("red.png", 30, 30, 0xff0000);
    const char *blue = png_flat("blue.png", 30, 30, 0x0000ff);
    const char *green = png_flat("green.png", 30, 30, 0x00ff00);
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    place_arg three[] = {{red, 2, 3, 5, 10}, {blue, 2, 50, 5, 10}, {green, 15, 3, 5, 10}};
    CHECK(frame(pv, three, 3, &out) > 0);
    CHECK(has(&out, "\033[3;4H") && has(&out, "\033[3;51H") && has(&out, "\033[16;4H"));
    /* red goes away: its rows are repainted, which takes blue's pixels on the same rows too */
    preview_frame_begin(pv);
    preview_place(pv, 2, 50, 5, 10, blue);
    preview_place(pv, 15, 3, 5, 10, green);
    preview_frame_end(pv);
    CHECK(is_linetouched(stdscr, 2) && is_linetouched(stdscr, 6));
    CHECK(!is_linetouched(stdscr, 7) && !is_linetouched(stdscr, 15));
    wnoutrefresh(stdscr);
    doupdate();
    CHECK(preview_emit(pv, pipe_wr) > 0);
    drain(&out);
    CHECK(has(&out, "\033[3;51H"));  /* blue re-sent */
    CHECK(!has(&out, "\033[3;4H"));  /* red not */
    CHECK(!has(&out, "\033[16;4H")); /* green untouched */
    /* blue moves down: wiped at the old rows, sent at the new place */
    place_arg moved[] = {{blue, 8, 50, 5, 10}, {green, 15, 3, 5, 10}};
    preview_frame_begin(pv);
    preview_place(pv, 8, 50, 5, 10, blue);
    preview_place(pv, 15, 3, 5, 10, green);
    preview_frame_end(pv);
    CHECK(is_linetouched(stdscr, 2) && !is_linetouched(stdscr, 15));
    wnoutrefresh(stdscr);
    doupdate();
    preview_emit(pv, pipe_wr);
    drain(&out);
    CHECK(has(&out, "\033[9;51H") && !has(&out, "\033[16;4H"));
    CHECK_INT(frame(pv, moved, 2, &out), 0);
    preview_free(pv);
    gfx_buf_free(&out);
}

static void test_preview_kitty(void)
{
    term_caps caps = {.gfx = GFX_KITTY, .cell_w = 10, .cell_h = 20};
    image q = img_quadrants(40, 40, 20);
    place_arg a = {png("quad.png", &q), 4, 10, 6, 12};
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    CHECK(frame(pv, &a, 1, &out) > 0);
    CHECK(starts_with(&out, "\0337\033[5;11H\033_Ga=T,f=24,s=120,v=120,i="));
    kitty_parsed k;
    const char *body = out.len ? memmem(out.data, out.len, "\033_G", 3) : NULL;
    CHECK(body != NULL);
    if (body) {
        CHECK_INT(kitty_parse(body, out.len - (size_t)(body - out.data) - 2, &k), 0);
        CHECK_INT(k.data.len, 120 * 120 * 3);
        CHECK(k.data.len && px_get((uint8_t *)k.data.data, 120, 5, 5) == 0xff0000);
        gfx_buf_free(&k.data);
    }
    char id[32] = "";
    const char *at = has(&out, ",i=") ? memmem(out.data, out.len, ",i=", 3) : NULL;
    if (at)
        snprintf(id, sizeof id, "a=d,d=I,i=%u,", (unsigned)strtoul(at + 3, NULL, 10));
    CHECK_INT(frame(pv, &a, 1, &out), 0);
    CHECK(frame(pv, NULL, 0, &out) > 0); /* gone: deleted by id */
    CHECK(id[0] && has(&out, id) && !has(&out, "a=T"));
    CHECK_INT(frame(pv, NULL, 0, &out), 0);
    preview_free(pv);
    gfx_buf_free(&out);
    free(q.px);
}

static void test_preview_suspend(void)
{
    term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 10, .cell_h = 20, .sixel_colors = 256};
    place_arg a = {png_flat("red.png", 30, 30, 0xff0000), 3, 3, 5, 10};
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    CHECK(frame(pv, &a, 1, &out) > 0);
    preview_suspend(pv, true);
    preview_frame_begin(pv);
    preview_place(pv, a.y, a.x, a.rows, a.cols, a.path);
    preview_frame_end(pv);
    CHECK(is_linetouched(stdscr, 3)); /* the image is wiped under the overlay */
    wnoutrefresh(stdscr);
    doupdate();
    CHECK_INT(preview_emit(pv, pipe_wr), 0);
    drain(&out);
    CHECK_INT(frame(pv, &a, 1, &out), 0);
    preview_suspend(pv, false);
    CHECK(frame(pv, &a, 1, &out) > 0);
    CHECK(has(&out, "\033[4;4H"));
    CHECK_INT(frame(pv, &a, 1, &out), 0);
    preview_free(pv);
    gfx_buf_free(&out);
}

/* The colour pair's fg and bg at a cell holding an upper half block. */
static bool cell_colours(int y, int x, int *fg, int *bg)
{
    cchar_t cc;
    wchar_t wch[CCHARW_MAX + 1];
    attr_t attrs;
    short pair_short;
    int pair = 0;
    if (mvin_wch(y, x, &cc) == ERR || getcchar(&cc, wch, &attrs, &pair_short, &pair) == ERR)
        return false;
    if (wch[0] != 0x2580)
        return false;
    return extended_pair_content(pair, fg, bg) == OK;
}

static void test_preview_blocks(void)
{
    term_caps caps = {.gfx = GFX_BLOCKS, .cell_w = 10, .cell_h = 20};
    image q = img_quadrants(40, 40, 22); /* rows 20,21 top colour; 22,23 bottom */
    const char *path = png("quad22.png", &q);
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    werase(stdscr);
    place_arg a = {path, 1, 2, 10, 20};
    CHECK_INT(frame(pv, &a, 1, &out), 0); /* nothing for the graphics layer */
    preview_info info;
    CHECK(preview_last(pv, &info));
    CHECK_INT(info.rows, 10);
    CHECK_INT(info.cols, 20);
    int fg = -1, bg = -1;
    CHECK(cell_colours(1, 2, &fg, &bg));
    CHECK_INT(fg, 196);
    CHECK_INT(bg, 196);
    CHECK(cell_colours(1, 21, &fg, &bg));
    CHECK_INT(fg, 21);
    CHECK(cell_colours(10, 2, &fg, &bg));
    CHECK_INT(fg, 46);
    CHECK(cell_colours(10, 21, &fg, &bg));
    CHECK_INT(bg, 231);
    CHECK(cell_colours(1 + 5, 2, &fg, &bg)); /* split inside the cell: red over green */
    CHECK_INT(fg, 196);
    CHECK_INT(bg, 46);
    CHECK(!cell_colours(1, 22, &fg, &bg)); /* nothing outside the image */
    preview_free(pv);
    gfx_buf_free(&out);
    free(q.px);
}

static void test_preview_error_text(void)
{
    term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 10, .cell_h = 20, .sixel_colors = 256};
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    werase(stdscr);
    char path[512];
    snprintf(path, sizeof path, "%s/\033[2Jevil\n\xc2\x9b.png", dir);
    place_arg a = {path, 5, 4, 3, 30};
    CHECK_INT(frame(pv, &a, 1, &out), 0);
    preview_info info;
    CHECK(!preview_last(pv, &info)); /* an error is not a placement */
    char text[4][64], joined[128] = "";
    bool esc = false;
    for (int r = 0; r < 4; r++) {
        mvinnstr(5 + r, 0, text[r], 63);
        esc |= strchr(text[r], '\033') != NULL;
        if (r < 3)
            strncat(joined, text[r] + 4, 30); /* the box's columns, rows joined */
    }
    CHECK(!esc);
    CHECK(strstr(joined, "\\x1b[2Jevil\\n\\xc2\\x9b.png") != NULL);
    CHECK(strspn(text[3], " ") == strlen(text[3])); /* clipped to the box's 3 rows */
    CHECK(strncmp(text[0], "    ", 4) == 0);        /* and its column */
    preview_free(pv);
    gfx_buf_free(&out);
}

static void test_preview_clamp(void)
{
    term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 10, .cell_h = 20, .sixel_colors = 256};
    const char *tall = png_flat("tall.png", 20, 400, 0x00ff00);
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    place_arg a = {tall, 22, 90, 30, 40};
    CHECK(frame(pv, &a, 1, &out) > 0);
    preview_info info;
    CHECK(preview_last(pv, &info));
    CHECK(info.y + info.rows <= LINES - 1); /* never the last row */
    CHECK(info.x + info.cols <= COLS);
    CHECK(info.px_h <= 7 * 20 && info.px_h % 6 == 0);
    preview_free(pv);
    gfx_buf_free(&out);
}

static void test_preview_prefetch(void)
{
    term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 10, .cell_h = 20, .sixel_colors = 256};
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    const uint32_t colours[6] = {0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0x00ffff, 0xff00ff};
    char paths[6][512];
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d.png", i);
        snprintf(paths[i], sizeof paths[i], "%s", png_flat(name, 64, 48, colours[i]));
        preview_prefetch(pv, paths[i], 8, 16);
    }
    for (int i = 5; i >= 0; i--) {
        place_arg a = {paths[i], 1, 1, 8, 16};
        CHECK(frame(pv, &a, 1, &out) > 0);
        decoded d;
        CHECK_INT(sixel_decode(out.data, out.len, &d), 0);
        CHECK(d.px && px_get(d.px, d.w, d.w / 2, d.h / 2) == colours[i]);
        decoded_free(&d);
    }
    /* scrolling: the next image is requested while this one is shown, so the main thread
       keeps meeting the worker on the very entry it is building */
    for (int step = 0; step < 24; step++) {
        int i = step % 6, rows = 4 + step / 6;
        preview_prefetch(pv, paths[(i + 1) % 6], rows, 16);
        place_arg a = {paths[i], 1, 1, rows, 16};
        CHECK(frame(pv, &a, 1, &out) > 0);
        decoded d;
        CHECK_INT(sixel_decode(out.data, out.len, &d), 0);
        CHECK(d.px && px_get(d.px, d.w, d.w / 2, d.h / 2) == colours[i]);
        decoded_free(&d);
    }
    preview_free(pv);
    /* freed with requests still queued */
    pv = preview_new(&caps);
    for (int i = 0; i < 6; i++)
        preview_prefetch(pv, paths[i], 20, 40);
    preview_free(pv);
    gfx_buf_free(&out);
}

static void test_preview_file_rewritten(void)
{
    term_caps caps = {.gfx = GFX_SIXEL, .cell_w = 10, .cell_h = 20, .sixel_colors = 256};
    preview *pv = preview_new(&caps);
    gfx_buf out = {0};
    const char *path = png_flat("sample.png", 32, 32, 0xff0000);
    place_arg a = {path, 1, 1, 6, 12};
    CHECK(frame(pv, &a, 1, &out) > 0);
    CHECK_INT(frame(pv, &a, 1, &out), 0);
    png_flat("sample.png", 32, 32, 0x0000ff); /* the trainer wrote a new sample */
    struct timespec later[2] = {{0, UTIME_OMIT}, {time(NULL) + 5, 0}};
    utimensat(AT_FDCWD, path, later, 0);
    CHECK(frame(pv, &a, 1, &out) > 0);
    decoded d;
    CHECK_INT(sixel_decode(out.data, out.len, &d), 0);
    CHECK(d.px && px_get(d.px, d.w, 3, 3) == 0x0000ff);
    decoded_free(&d);
    preview_free(pv);
    gfx_buf_free(&out);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    signal(SIGPIPE, SIG_IGN);
    RUN(test_sixel_framing);
    RUN(test_sixel_exact_colours);
    RUN(test_sixel_photo_close);
    RUN(test_sixel_tmux_wrap);
    RUN(test_kitty_roundtrip);
    RUN(test_kitty_tmux_and_delete);
    RUN(test_blocks_colours);
    RUN(test_fit);
    RUN(test_caps_xterm);
    RUN(test_caps_keystrokes);
    RUN(test_caps_tmux);
    RUN(test_caps_env);
    RUN(test_probe_pty);
    RUN(test_probe_silent_terminal);
    dir = fixture_make();
    if (!dir)
        return 1;
    curses_start();
    RUN(test_preview_sixel_once);
    RUN(test_preview_sixel_moves);
    RUN(test_preview_kitty);
    RUN(test_preview_suspend);
    RUN(test_preview_blocks);
    RUN(test_preview_error_text);
    RUN(test_preview_clamp);
    RUN(test_preview_prefetch);
    RUN(test_preview_file_rewritten);
    curses_stop();
    fixture_remove(dir);
    return check_finish();
}

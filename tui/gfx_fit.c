/* How big a preview is: the source scaled to fill its box with the aspect kept, in the units the
 * chosen protocol draws in. Integer arithmetic throughout so that a size never rounds up past
 * the box. */
#include "tui/gfx_encode.h"

/* Largest w x h with w:h = iw:ih inside bw x bh (at least 1 x 1). */
static void fit_box(long iw, long ih, long bw, long bh, long *w, long *h)
{
    if (iw * bh >= ih * bw) { /* wider than the box: width decides */
        *w = bw;
        *h = ih * bw / iw;
    } else {
        *h = bh;
        *w = iw * bh / ih;
    }
    *w = *w < 1 ? 1 : *w;
    *h = *h < 1 ? 1 : *h;
}

static int ceil_div(long a, long b)
{
    return (int)((a + b - 1) / b);
}

void gfx_fit(int iw, int ih, int cols, int rows, const term_caps *caps, int *pw, int *ph,
             int *used_cols, int *used_rows)
{
    *pw = *ph = *used_cols = *used_rows = 0;
    int cw = caps->cell_w > 0 ? caps->cell_w : 10, ch = caps->cell_h > 0 ? caps->cell_h : 20;
    if (iw < 1 || ih < 1 || cols < 1 || rows < 1 || caps->gfx == GFX_NONE)
        return;
    long bw = (long)cols * cw, bh = (long)rows * ch, w, h;
    fit_box(iw, ih, bw, bh, &w, &h);
    if (caps->gfx == GFX_BLOCKS) {
        /* a cell shows 1 x 2 image pixels; judge the aspect in screen pixels */
        int uc = (int)((w + cw / 2) / cw), ur = (int)((h + ch / 2) / ch);
        *used_cols = *pw = uc < 1 ? 1 : uc > cols ? cols : uc;
        *used_rows = ur < 1 ? 1 : ur > rows ? rows : ur;
        *ph = 2 * *used_rows;
        return;
    }
    if (caps->gfx == GFX_SIXEL && bh >= 6) {
        long h6 = h / 6 * 6;
        if (h6 < 6)
            h6 = 6;
        if (h6 != h) {
            w = (long)iw * h6 / ih;
            w = w < 1 ? 1 : w > bw ? bw : w;
            h = h6;
        }
    }
    *pw = (int)w;
    *ph = (int)h;
    *used_cols = ceil_div(w, cw);
    *used_rows = ceil_div(h, ch);
}

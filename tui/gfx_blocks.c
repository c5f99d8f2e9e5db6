/* The fallback when the terminal has no graphics protocol: one upper half block per cell, its
 * foreground the top pixel and its background the bottom one (reference/terminal.md §4). Colours
 * go to the xterm-256 cube and grey ramp only: 240 x 240 fg/bg combinations fit in ncurses'
 * 65535 colour pairs, so alloc_pair never has to evict a pair that is on screen. */
#include "tui/gfx_encode.h"

static const uint8_t cube_level[6] = {0, 95, 135, 175, 215, 255};

/* Index 0..5 of the nearest cube level. */
static int cube_index(int v)
{
    return v < 48 ? 0 : v < 115 ? 1 : (v - 35) / 40;
}

static int dist2(int r, int g, int b, int r2, int g2, int b2)
{
    return (r - r2) * (r - r2) + (g - g2) * (g - g2) + (b - b2) * (b - b2);
}

uint8_t gfx_rgb_to_256(uint8_t r, uint8_t g, uint8_t b)
{
    int ri = cube_index(r), gi = cube_index(g), bi = cube_index(b);
    int cube = dist2(r, g, b, cube_level[ri], cube_level[gi], cube_level[bi]);
    int k = ((r + g + b) - 24 + 15) / 30; /* round((mean - 8) / 10) */
    k = k < 0 ? 0 : k > 23 ? 23 : k;
    int level = 8 + 10 * k;
    int grey = dist2(r, g, b, level, level, level);
    if (grey < cube)
        return (uint8_t)(232 + k);
    return (uint8_t)(16 + 36 * ri + 6 * gi + bi);
}

static uint32_t pixel_colour(const uint8_t *p, bool truecolor)
{
    if (truecolor)
        return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return gfx_rgb_to_256(p[0], p[1], p[2]);
}

void gfx_blocks_render(const image *img, bool truecolor, gfx_cell *cells)
{
    int rows = img->h / 2;
    size_t stride = (size_t)img->w * 3;
    for (int r = 0; r < rows; r++) {
        const uint8_t *top = img->px + (size_t)(2 * r) * stride;
        const uint8_t *bottom = top + stride;
        for (int c = 0; c < img->w; c++) {
            gfx_cell *cell = &cells[(size_t)r * img->w + c];
            cell->fg = pixel_colour(top + 3 * c, truecolor);
            cell->bg = pixel_colour(bottom + 3 * c, truecolor);
        }
    }
}

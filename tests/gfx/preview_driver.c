/* A small full-screen program around the preview layer, for tests/gfx/test_xterm_sixel.sh: text
 * on the left, one photo-like image (thousands of colours) on the right, a status bar on the last
 * row, and keys that exercise the frame protocol:
 *   h hide / s show the image, m move it to the lower box, o open / c close an overlay,
 *   r full repaint (as Ctrl-L), q quit; a terminal resize is handled like the app does.
 * After every frame it rewrites STATE (argv[1]) with one line the script polls:
 *   frame=N gfx=MODE cell=WxH img=Y,X,ROWS,COLS px=WxH bytes=B
 * Usage: preview_driver STATE [--gfx=sixel|kitty|blocks|none] */
#include <curses.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "tui/preview.h"
#include "tui/term_caps.h"

typedef struct state {
    bool show, moved, overlay;
    int frame;
    size_t bytes;
} state;

/* A 320x240 gradient with a diagonal pattern: far more colours than a sixel palette holds, so a
 * rendered image is easy to tell from text in a screenshot. */
static int photo_write(const char *path)
{
    enum { W = 320, H = 240 };
    static unsigned char px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = px + 3 * (y * W + x);
            p[0] = (unsigned char)(x * 255 / (W - 1));
            p[1] = (unsigned char)(y * 255 / (H - 1));
            p[2] = (unsigned char)(((x + y) * 4) & 255);
        }
    return stbi_write_png(path, W, H, 3, px, W * 3) ? 0 : -1;
}

static void state_write(const char *path, const state *s, const term_caps *caps,
                        const preview *pv)
{
    preview_info info = {0};
    bool placed = preview_last(pv, &info);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "frame=%d gfx=%s cell=%dx%d img=%d,%d,%d,%d px=%dx%d bytes=%zu why=%s\n",
            s->frame, gfx_mode_name(caps->gfx), caps->cell_w, caps->cell_h,
            placed ? info.y : -1, placed ? info.x : -1, placed ? info.rows : 0,
            placed ? info.cols : 0, info.px_w, info.px_h, s->bytes, caps->why);
    fclose(f);
    rename(tmp, path);
}

static void text_draw(const state *s, const term_caps *caps)
{
    werase(stdscr);
    mvprintw(0, 0, "preview driver  gfx=%s  cell=%dx%d  terminal=%s", gfx_mode_name(caps->gfx),
             caps->cell_w, caps->cell_h, caps->terminal);
    for (int r = 2; r < LINES - 2 && r < 26; r++)
        mvprintw(r, 1, "line %2d: tags, caption, text %c%c%c", r, 'a' + r % 26, 'b' + r % 25,
                 'c' + r % 24);
    attron(A_REVERSE);
    mvprintw(LINES - 1, 0, "%-*s", COLS, "h hide  s show  m move  o overlay  c close  q quit");
    mvprintw(LINES - 1, COLS - 12, "frame %d", s->frame);
    attroff(A_REVERSE);
}

static WINDOW *overlay_draw(void)
{
    WINDOW *w = newwin(8, 40, 4, 30);
    box(w, 0, 0);
    mvwprintw(w, 2, 2, "an overlay (help, prompt)");
    mvwprintw(w, 4, 2, "images hidden while it is open");
    wnoutrefresh(w);
    return w;
}

static void frame_run(preview *pv, const char *img, state *s, const term_caps *caps)
{
    s->frame++;
    text_draw(s, caps);
    preview_frame_begin(pv);
    if (s->show)
        preview_place(pv, s->moved ? 16 : 2, 50, s->moved ? 12 : 14, 45, img);
    preview_frame_end(pv);
    wnoutrefresh(stdscr);
    WINDOW *ov = s->overlay ? overlay_draw() : NULL;
    doupdate();
    s->bytes = preview_emit(pv, STDOUT_FILENO);
    if (ov)
        delwin(ov);
}

static bool key_handle(int ch, preview *pv, state *s, term_caps *caps)
{
    switch (ch) {
    case 'h': s->show = false; break;
    case 's': s->show = true; break;
    case 'm': s->moved = !s->moved; break;
    case 'o':
        s->overlay = true;
        preview_suspend(pv, true);
        break;
    case 'c':
        s->overlay = false;
        preview_suspend(pv, false);
        break;
    case 'r':
    case KEY_RESIZE:
        term_caps_update_cell(STDIN_FILENO, caps);
        preview_invalidate(pv);
        clearok(curscr, TRUE);
        break;
    case 'q': return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: preview_driver STATE [--gfx=MODE]\n");
        return 2;
    }
    setlocale(LC_ALL, "");
    char img[64];
    snprintf(img, sizeof img, "/tmp/preview-driver-%d.png", (int)getpid());
    if (photo_write(img) < 0)
        return 1;
    term_caps caps;
    term_probe(STDIN_FILENO, 2000, &caps);
    gfx_mode forced;
    if (argc > 2 && strncmp(argv[2], "--gfx=", 6) == 0 && gfx_mode_parse(argv[2] + 6, &forced) == 0)
        caps.gfx = forced;
    initscr();
    raw();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    start_color();
    idcok(stdscr, FALSE);
    preview *pv = preview_new(&caps);
    state s = {.show = true};
    for (bool go = pv != NULL; go; go = key_handle(getch(), pv, &s, &caps)) {
        frame_run(pv, img, &s, &caps);
        state_write(argv[1], &s, &caps, pv);
    }
    preview_free(pv);
    endwin();
    unlink(img);
    return 0;
}

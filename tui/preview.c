/* The preview layer: placements recorded per frame, compared with the previous frame to know
 * what to wipe and what to send (reference/terminal.md §2.2). Sixel pixels stay on screen until
 * ncurses writes over their cells, and ncurses only writes cells it believes changed; so a
 * placement that did not change costs nothing, and one that went away is wiped by making
 * ncurses repaint its rows (wredrawln), which also wipes any other image on those rows, so those
 * are sent again. kitty images live on their own layer and are deleted by id instead. */
#include "tui/preview.h"

#include <curses.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "tagger/caption.h"
#include "tui/preview_cache.h"

#define CACHE_LIMIT ((size_t)64 << 20)

typedef struct placement {
    int y, x, rows, cols; /* the box, clamped to the screen */
    int iy, ix;           /* the image's top-left cell */
    pv_entry *e;
    uint32_t kitty_id;    /* 0 until first sent */
    bool kitty_live;      /* the terminal holds kitty_id */
    bool shown;           /* its pixels are on screen and current */
    bool kept;            /* previous frame only: this frame has the same placement */
} placement;

typedef struct plist {
    placement *v;
    size_t n, cap;
} plist;

struct preview {
    const term_caps *src;
    term_caps caps;
    pv_cache *cache;
    plist cur, prev;
    gfx_buf pending; /* kitty deletes for the next emit */
    uint32_t next_id;
    bool suspended;
    bool have_last;
    preview_info last;
};

preview *preview_new(const term_caps *caps)
{
    preview *pv = calloc(1, sizeof *pv);
    if (!pv)
        return NULL;
    pv->cache = pv_cache_new(CACHE_LIMIT);
    if (!pv->cache) {
        free(pv);
        return NULL;
    }
    pv->src = caps;
    pv->caps = *caps;
    /* ids from the pid: two sessions in one kitty window should not delete each other's */
    pv->next_id = ((uint32_t)getpid() & 0xfff) << 16;
    return pv;
}

static void plist_release(preview *pv, plist *l)
{
    for (size_t i = 0; i < l->n; i++)
        pv_entry_release(pv->cache, l->v[i].e);
    l->n = 0;
}

void preview_free(preview *pv)
{
    if (!pv)
        return;
    plist_release(pv, &pv->cur);
    plist_release(pv, &pv->prev);
    free(pv->cur.v);
    free(pv->prev.v);
    gfx_buf_free(&pv->pending);
    pv_cache_free(pv->cache);
    free(pv);
}

static bool is_pixels(gfx_mode m)
{
    return m == GFX_SIXEL || m == GFX_KITTY;
}

void preview_frame_begin(preview *pv)
{
    plist_release(pv, &pv->prev);
    plist t = pv->prev;
    pv->prev = pv->cur;
    pv->cur = t;
    for (size_t i = 0; i < pv->prev.n; i++)
        pv->prev.v[i].kept = false;
    pv->have_last = false;
    if (is_pixels(pv->caps.gfx) && stdscr)
        idcok(stdscr, FALSE);
}

/* ---- text in a box (error messages) ---- */

/* One displayable piece of s at i: its bytes (or an escape for them) and width. */
static size_t text_unit(const char *s, size_t n, size_t i, char *out, int *width)
{
    size_t len = utf8_seq_len(s + i, n - i);
    unsigned char b = (unsigned char)s[i];
    if (len == 1 && b >= 0x20 && b != 0x7f) {
        out[0] = (char)b;
        out[1] = '\0';
        *width = 1;
        return 1;
    }
    if (len > 1) {
        wchar_t wc;
        mbstate_t st = {0};
        int w = mbrtowc(&wc, s + i, len, &st) == len ? wcwidth(wc) : -1;
        bool c1 = len == 2 && b == 0xc2 && (unsigned char)s[i + 1] < 0xa0;
        if (w > 0 && !c1) {
            memcpy(out, s + i, len);
            out[len] = '\0';
            *width = w;
            return len;
        }
    }
    if (len == 1 && (b == '\n' || b == '\t' || b == '\r'))
        snprintf(out, 8, "\\%c", b == '\n' ? 'n' : b == '\t' ? 't' : 'r');
    else
        snprintf(out, 8, "\\x%02x", b);
    *width = (int)strlen(out);
    return 1;
}

/* msg wrapped into the box, clipped; control characters shown as visible escapes. */
static void box_text(int y, int x, int rows, int cols, const char *msg)
{
    size_t n = strlen(msg);
    int r = 0, c = 0;
    for (size_t i = 0; i < n && r < rows;) {
        char unit[8];
        int w;
        i += text_unit(msg, n, i, unit, &w);
        if (w > cols)
            continue;
        if (c + w > cols) {
            r++;
            c = 0;
            if (r >= rows)
                break;
        }
        mvwaddstr(stdscr, y + r, x + c, unit);
        c += w;
    }
}

/* ---- half blocks ---- */

static bool blocks_truecolor(const preview *pv)
{
    return pv->caps.truecolor && COLORS >= 0x1000000;
}

static void blocks_draw(const pv_entry *e, int iy, int ix)
{
    wchar_t glyph[2] = {0x2580, 0}; /* upper half block: fg on top, bg below */
    for (int r = 0; r < e->used_rows; r++)
        for (int c = 0; c < e->used_cols; c++) {
            const gfx_cell *cell = &e->cells[(size_t)r * e->used_cols + c];
            int pair = alloc_pair((int)cell->fg, (int)cell->bg);
            cchar_t cc;
            pair = pair < 0 ? 0 : pair;
            /* the pair goes through opts: COLOR_PAIR() keeps only 8 bits */
            setcchar(&cc, glyph, A_NORMAL, 0, &pair);
            mvwadd_wch(stdscr, iy + r, ix + c, &cc);
        }
}

/* ---- placing ---- */

/* The key of path in a rows x cols box now; s->path borrows path (the cache copies it). */
static void spec_make(const preview *pv, const char *path, int rows, int cols, pv_spec *s)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    s->path = (char *)path;
    if (stat(path, &st) == 0) {
        s->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        s->size = (long long)st.st_size;
    } else {
        s->size = -1;
    }
    s->rows = rows;
    s->cols = cols;
    s->cell_w = pv->caps.cell_w;
    s->cell_h = pv->caps.cell_h;
    s->mode = pv->caps.gfx;
    s->colors = pv->caps.sixel_colors > 256 ? 256 : pv->caps.sixel_colors;
    s->wrap = pv->caps.passthrough;
    s->truecolor = pv->caps.gfx == GFX_BLOCKS && blocks_truecolor(pv);
    pv_spec_hash(s);
}

/* Clamps the box to the screen minus the last row; false when nothing is left. */
static bool box_clamp(int *y, int *x, int *rows, int *cols)
{
    if (*y < 0)
        *rows += *y, *y = 0;
    if (*x < 0)
        *cols += *x, *x = 0;
    if (*y + *rows > LINES - 1)
        *rows = LINES - 1 - *y;
    if (*x + *cols > COLS)
        *cols = COLS - *x;
    return *rows > 0 && *cols > 0;
}

static bool plist_push(plist *l, const placement *p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        placement *v = realloc(l->v, sizeof *v * cap);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *p;
    return true;
}

/* The same image in the same place last frame: its state carries over. */
static void inherit(preview *pv, placement *p)
{
    for (size_t i = 0; i < pv->prev.n; i++) {
        placement *q = &pv->prev.v[i];
        if (q->kept || q->iy != p->iy || q->ix != p->ix || !pv_spec_equal(&q->e->key, &p->e->key))
            continue;
        q->kept = true;
        p->shown = q->shown;
        p->kitty_id = q->kitty_id;
        p->kitty_live = q->kitty_live;
        q->kitty_live = false; /* the id moved to p */
        return;
    }
}

void preview_place(preview *pv, int y, int x, int rows, int cols, const char *path)
{
    pv->have_last = false;
    if (!path || pv->caps.gfx == GFX_NONE || !box_clamp(&y, &x, &rows, &cols))
        return;
    if (pv->caps.gfx == GFX_BLOCKS && COLORS < 256) {
        box_text(y, x, rows, cols, "(no preview: the terminal has fewer than 256 colours)");
        return;
    }
    pv_spec s;
    spec_make(pv, path, rows, cols, &s);
    pv_entry *e = pv_cache_get(pv->cache, &s);
    if (!e || e->error) {
        box_text(y, x, rows, cols, e ? e->error : "out of memory");
        pv_entry_release(pv->cache, e);
        return;
    }
    placement p = {y, x, rows, cols, y + (rows - e->used_rows) / 2, x + (cols - e->used_cols) / 2,
                   e, 0, false, false, false};
    if (e->key.mode == GFX_BLOCKS)
        blocks_draw(e, p.iy, p.ix);
    inherit(pv, &p);
    if (!plist_push(&pv->cur, &p)) {
        pv_entry_release(pv->cache, e);
        return;
    }
    pv->have_last = true;
    pv->last = (preview_info){p.iy, p.ix, e->used_rows, e->used_cols, e->pw, e->ph, true};
}

bool preview_last(const preview *pv, preview_info *info)
{
    if (pv->have_last)
        *info = pv->last;
    return pv->have_last;
}

void preview_prefetch(preview *pv, const char *path, int rows, int cols)
{
    int y = 0, x = 0;
    if (!path || pv->caps.gfx == GFX_NONE || !box_clamp(&y, &x, &rows, &cols))
        return;
    pv_spec s;
    spec_make(pv, path, rows, cols, &s);
    pv_cache_prefetch(pv->cache, &s);
}

/* ---- wiping and sending ---- */

/* Takes p off the screen: sixel rows marked for repaint, kitty delete queued. */
static void unshow(preview *pv, placement *p, bool *dirty)
{
    if (p->e->key.mode == GFX_SIXEL && p->shown)
        for (int r = p->iy; r < p->iy + p->e->used_rows && r < LINES; r++)
            dirty[r] = true;
    if (p->e->key.mode == GFX_KITTY && p->kitty_live) {
        gfx_kitty_delete(p->kitty_id, p->e->key.wrap, &pv->pending);
        p->kitty_live = false;
    }
    p->shown = false;
}

void preview_frame_end(preview *pv)
{
    if (LINES <= 0)
        return;
    bool *dirty = calloc((size_t)LINES, sizeof *dirty);
    if (!dirty)
        return;
    for (size_t i = 0; i < pv->prev.n; i++)
        if (!pv->prev.v[i].kept)
            unshow(pv, &pv->prev.v[i], dirty);
    for (size_t i = 0; pv->suspended && i < pv->cur.n; i++)
        unshow(pv, &pv->cur.v[i], dirty);
    for (int r = 0; r < LINES;) {
        int start = r;
        while (r < LINES && dirty[r])
            r++;
        if (r > start)
            wredrawln(stdscr, start, r - start);
        r += r == start;
    }
    for (size_t i = 0; i < pv->cur.n; i++) { /* repainted rows took their pixels too */
        placement *p = &pv->cur.v[i];
        for (int r = p->iy; p->e->key.mode == GFX_SIXEL && r < p->iy + p->e->used_rows; r++)
            if (r < LINES && dirty[r])
                p->shown = false;
    }
    free(dirty);
}

static size_t write_all(int fd, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd q = {.fd = fd, .events = POLLOUT};
            if (poll(&q, 1, 1000) <= 0)
                break;
        } else if (!(w < 0 && errno == EINTR)) {
            break;
        }
    }
    return done;
}

/* Flushes b to fd and empties it; adds to *total. */
static void flush(int fd, gfx_buf *b, size_t *total)
{
    *total += write_all(fd, b->data, b->len);
    b->len = 0;
}

/* One image at its cell, cursor saved and restored around it so ncurses' idea of the cursor
 * stays true. Inside tmux, the passthrough bytes go to the outer terminal wherever tmux last
 * put its cursor, so the CUP is flushed first and tmux gets a moment to move there. */
static void emit_one(preview *pv, placement *p, int fd, gfx_buf *b, size_t *total)
{
    char head[32];
    const pv_entry *e = p->e;
    size_t start = b->len;
    bool head_sent = false;
    snprintf(head, sizeof head, "\0337\033[%d;%dH", p->iy + 1, p->ix + 1);
    int rc = gfx_buf_puts(b, head);
    if (rc == 0 && e->key.wrap) {
        flush(fd, b, total);
        start = 0;
        head_sent = true;
        usleep(3000);
    }
    if (e->key.mode == GFX_SIXEL) {
        rc |= gfx_buf_put(b, e->sixel.data, e->sixel.len);
    } else {
        if (p->kitty_live) /* a=T over a live id would leave its old placement */
            gfx_kitty_delete(p->kitty_id, e->key.wrap, b);
        if (!p->kitty_id && !++pv->next_id) /* 0 means "no id" in the protocol */
            ++pv->next_id;
        p->kitty_id = p->kitty_id ? p->kitty_id : pv->next_id;
        tg_error err;
        if (gfx_kitty_encode(&e->img, p->kitty_id, e->key.wrap, b, &err) < 0)
            rc = -1; /* the delete above is dropped with the rest: kitty_live stays true */
        else
            p->kitty_live = true;
    }
    rc |= gfx_buf_puts(b, "\0338");
    if (rc) { /* out of memory: never half an image; DECRC if the CUP already went out */
        b->len = start;
        if (head_sent)
            gfx_buf_puts(b, "\0338");
        return;
    }
    p->shown = true;
}

size_t preview_emit(preview *pv, int fd)
{
    size_t total = 0;
    if (fd == STDOUT_FILENO)
        fflush(stdout); /* anything the app printed through stdio goes first */
    gfx_buf b = pv->pending;
    pv->pending = (gfx_buf){0};
    for (size_t i = 0; !pv->suspended && i < pv->cur.n; i++) {
        placement *p = &pv->cur.v[i];
        if (!p->shown && is_pixels(p->e->key.mode))
            emit_one(pv, p, fd, &b, &total);
    }
    flush(fd, &b, &total);
    gfx_buf_free(&b);
    return total;
}

static void plist_unshow_all(plist *l)
{
    for (size_t i = 0; i < l->n; i++)
        l->v[i].shown = false;
}

void preview_invalidate(preview *pv)
{
    term_caps old = pv->caps;
    pv->caps = *pv->src;
    if (old.cell_w != pv->caps.cell_w || old.cell_h != pv->caps.cell_h || old.gfx != pv->caps.gfx)
        pv_cache_drop_other(pv->cache, pv->caps.cell_w, pv->caps.cell_h, pv->caps.gfx);
    plist_unshow_all(&pv->cur);
    plist_unshow_all(&pv->prev);
}

void preview_suspend(preview *pv, bool on)
{
    if (on == pv->suspended)
        return;
    pv->suspended = on;
    if (!on) {
        plist_unshow_all(&pv->cur);
        plist_unshow_all(&pv->prev);
    }
}

/* bench_tui: the speed targets for the full-screen app, measured headless on a generated
 * kohya-style dataset of 100,000 images (bench/synth.h) and on a small dataset of 1024x1024
 * photo-like JPEGs:
 *   first screen <= 1 s, key press -> redraw done <= 16 ms, preview of a 1024x1024 JPEG <= 50 ms.
 * It reports figures (median, max and min of many repetitions) and never fails on time; it exits
 * non-zero only when something breaks: the app cannot open a dataset, a key does not do what it
 * should (the cursor is not where the keys put it, a filter selects nothing), or a preview that
 * should have been shown was not.
 *
 * How it drives the app: ncurses runs on newterm("xterm-256color", out, in) with a 160x48 screen
 * (LINES/COLUMNS), `out` on an in-memory file (memfd) so that every byte ncurses writes is
 * counted, and `in` on a pipe nobody writes to. fd 1, where the image layer writes its sixel and
 * kitty bytes, is another memfd for the run. The app is opened with app_open() (the same call the
 * app makes), journaling is started as app_main.c does, term_caps is filled by hand (cell 10x20
 * pixels, the graphics mode of the section) and a->pv = preview_new(&a->caps). Keys go through
 * app_key() and every key is followed by app_draw(), which ends with doupdate() and preview_emit():
 * the figure is the time from the key to the last byte of the frame written. Writing into a memfd
 * is a memcpy; a real terminal (a pty, SSH) adds its own time on top, not measured here. */
#include <cJSON.h>
#include <curses.h>
#include <dirent.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stb_image_write.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "bench/bench_term.h"
#include "bench/bench_util.h"
#include "bench/synth.h"
#include "tagger/image.h"
#include "tagger/journal.h"
#include "tagger/pipeline_stats.h"
#include "tui/app.h"
#include "tui/app_loop.h"
#include "tui/caption_form.h"
#include "tui/captions_config.h"
#include "tui/gfx_encode.h"
#include "tui/keymap.h"
#include "tui/preview.h"
#include "tui/theme.h"

extern char **environ;

#define SCREEN_COLS 160
#define SCREEN_ROWS 48
#define CELL_W 10
#define CELL_H 20
#define PHOTO_SIDE 1024
#define PHOTO_QUALITY 90

typedef struct opts {
    size_t images;
    int reps;   /* the base count: first screen runs; the other counts derive from it */
    int photos; /* distinct 1024x1024 JPEGs */
    bool keep, json;
} opts;

typedef struct samples {
    double *v;
    int n, cap;
} samples;

typedef enum unit { U_SECONDS, U_BYTES, U_COUNT } unit;

typedef struct metric {
    const char *key, *label, *target;
    unit u;
    samples s;
} metric;

/* The preview rows repeat per mode (sixel, kitty, blocks), PV_N apart. */
enum { PV_COLD, PV_BTB, PV_PAUSE, PV_WARM, PV_IMG_BYTES, PV_TXT_BYTES, PV_RESIZE, PV_ENCODE, PV_N };
enum { MODE_SIXEL, MODE_KITTY, MODE_BLOCKS, N_MODES };

enum {
    M_GEN_100K, M_GEN_PHOTOS, M_JPEG_BYTES,
    M_FIRST_NONE, M_FIRST_SIXEL, M_OPEN, M_DS_OPEN, M_JOURNAL, M_DRAW1_NONE, M_DRAW1_SIXEL, M_DRAW1_BYTES,
    M_DS_J, M_DS_K, M_DS_PGDN, M_DS_END, M_DS_FILTER_TYPE, M_DS_FILTER_APPLY, M_DS_ADD_TYPE,
    M_TAGS_ENTER, M_TAGS_J, M_TAGS_PGDN, M_TAGS_SORT,
    M_CAP_ENTER, M_CAP_J, M_CAP_N, M_CAP_STEP, M_STATS,
    M_TEXT_BYTES, M_DS_J_SIXEL, M_DS_J_SIXEL_BYTES,
    M_PV_DECODE,
    M_PV_BASE,
    M_IMG2SIXEL = M_PV_BASE + N_MODES * PV_N, M_IMG2SIXEL_BYTES,
    M_COUNT
};

static const char *const mode_names[N_MODES] = {"sixel", "kitty", "blocks"};
static const gfx_mode mode_gfx[N_MODES] = {GFX_SIXEL, GFX_KITTY, GFX_BLOCKS};

static const metric metric_defs[M_PV_BASE] = {
    [M_GEN_100K] = {"generate_list_s", "generate the list dataset (setup)", "-", U_SECONDS},
    [M_GEN_PHOTOS] = {"generate_photos_s", "generate the JPEG dataset (setup)", "-", U_SECONDS},
    [M_JPEG_BYTES] = {"jpeg_bytes", "one 1024x1024 JPEG, quality 90", "-", U_BYTES},
    [M_FIRST_NONE] = {"first_screen_none_s", "first screen, none: open + journal + 1st draw", "<= 1 s", U_SECONDS},
    [M_FIRST_SIXEL] = {"first_screen_sixel_s", "first screen, sixel: open + journal + 1st draw", "<= 1 s", U_SECONDS},
    [M_OPEN] = {"app_open_s", "  app_open (both modes)", "-", U_SECONDS},
    [M_DS_OPEN] = {"dataset_open_s", "    of which dataset_open (timed alone, same folder)", "-", U_SECONDS},
    [M_JOURNAL] = {"journal_start_s", "  journal pending check + start (both modes)", "-", U_SECONDS},
    [M_DRAW1_NONE] = {"first_draw_none_s", "  first app_draw, none", "-", U_SECONDS},
    [M_DRAW1_SIXEL] = {"first_draw_sixel_s", "  first app_draw, sixel (1x1 PNG fills the box)", "-", U_SECONDS},
    [M_DRAW1_BYTES] = {"first_draw_ncurses_bytes", "  first frame: bytes from ncurses", "-", U_BYTES},
    [M_DS_J] = {"dataset_j_s", "Dataset: j (next image)", "<= 16 ms", U_SECONDS},
    [M_DS_K] = {"dataset_k_s", "Dataset: k (previous image)", "<= 16 ms", U_SECONDS},
    [M_DS_PGDN] = {"dataset_pgdn_s", "Dataset: PgDn", "<= 16 ms", U_SECONDS},
    [M_DS_END] = {"dataset_end_home_s", "Dataset: G / g (last / first image)", "<= 16 ms", U_SECONDS},
    [M_DS_FILTER_TYPE] = {"dataset_filter_typing_s", "Dataset: a key typed in the / filter prompt", "<= 16 ms", U_SECONDS},
    [M_DS_FILTER_APPLY] = {"dataset_filter_apply_s", "Dataset: Enter applies the filter (all images)", "-", U_SECONDS},
    [M_DS_ADD_TYPE] = {"dataset_add_typing_s", "Dataset: a key typed in the add-tag prompt", "<= 16 ms", U_SECONDS},
    [M_TAGS_ENTER] = {"tags_enter_s", "Tags: 2 (switch to the screen)", "-", U_SECONDS},
    [M_TAGS_J] = {"tags_j_s", "Tags: j (next tag)", "<= 16 ms", U_SECONDS},
    [M_TAGS_PGDN] = {"tags_pgdn_s", "Tags: PgDn", "<= 16 ms", U_SECONDS},
    [M_TAGS_SORT] = {"tags_sort_s", "Tags: s (sort by name / by count)", "-", U_SECONDS},
    [M_CAP_ENTER] = {"captions_enter_s", "Captions: 3 (switch; stats over the dataset)", "-", U_SECONDS},
    [M_CAP_J] = {"captions_j_s", "Captions: j (next option)", "<= 16 ms", U_SECONDS},
    [M_CAP_N] = {"captions_n_s", "Captions: n (next image)", "<= 16 ms", U_SECONDS},
    [M_CAP_STEP] = {"captions_step_s", "Captions: + / - keep_tokens (stats + save)", "-", U_SECONDS},
    [M_STATS] = {"pipeline_stats_s", "  of which pipeline_stats_compute (timed alone)", "-", U_SECONDS},
    [M_TEXT_BYTES] = {"dataset_j_ncurses_bytes", "Dataset: j, bytes from ncurses per frame", "-", U_BYTES},
    [M_DS_J_SIXEL] = {"dataset_j_sixel_png_s", "Dataset: j, sixel, 1x1 PNGs back to back", "-", U_SECONDS},
    [M_DS_J_SIXEL_BYTES] = {"dataset_j_sixel_png_bytes", "  bytes per frame on fd 1 (sixel)", "-", U_BYTES},
    [M_PV_DECODE] = {"jpeg_decode_s", "preview parts: decode the JPEG (image_load)", "-", U_SECONDS},
};

typedef struct sink {
    int fd;         /* a memfd */
    size_t total;   /* bytes written before the last reset */
} sink;

typedef struct bench {
    opts o;
    synth s;                       /* the 100k dataset */
    char *photo_root;              /* the JPEG dataset */
    char **photo_path;             /* absolute paths, in the app's order after open */
    metric m[M_COUNT];
    char labels[M_COUNT][80], keys[M_COUNT][48];
    sink txt, img;                 /* ncurses output and fd 1 */
    int saved_stdout;
    SCREEN *scr;
    int px_w, px_h;                /* the sixel preview's pixel size (img2sixel gets the same) */
    int box_rows, box_cols;
    char img2sixel_note[256];
    char load_before[31], load_after[31]; /* /proc/loadavg, 30 characters: others' work skews the figures */
    int failures;
} bench;

/* ---- time, samples ---- */

static void sample_add(bench *b, int m, double v)
{
    samples *s = &b->m[m].s;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        double *nv = realloc(s->v, sizeof *nv * (size_t)cap);
        if (!nv)
            return;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
}

typedef struct stats {
    double min, median, max;
} stats;

static stats samples_stats(const samples *s)
{
    stats st = {0, 0, 0};
    if (!s->n)
        return st;
    double *t = malloc(sizeof *t * (size_t)s->n);
    if (!t)
        return st;
    memcpy(t, s->v, sizeof *t * (size_t)s->n);
    qsort(t, (size_t)s->n, sizeof *t, bench_cmp_double);
    st.min = t[0];
    st.max = t[s->n - 1];
    st.median = s->n % 2 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
    free(t);
    return st;
}

static void failf(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_tui: WRONG RESULT: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    b->failures++;
}

/* ---- byte sinks ---- */

static size_t sink_bytes(const sink *k)
{
    off_t pos = lseek(k->fd, 0, SEEK_CUR);
    return k->total + (pos > 0 ? (size_t)pos : 0);
}

/* Empties the memfd when it grows (outside the timed sections): memory, not the count. */
static void sink_trim(sink *k)
{
    off_t pos = lseek(k->fd, 0, SEEK_CUR);
    if (pos < (off_t)32 << 20)
        return;
    k->total += (size_t)pos;
    if (ftruncate(k->fd, 0) == 0)
        lseek(k->fd, 0, SEEK_SET);
}

/* ---- the photo-like JPEGs ---- */

/* Sky-to-ground gradient, a few soft blobs of colour (subjects, lights), a fine texture and
 * per-pixel noise: smooth areas and grain, like a photo, and different for every seed. */
static unsigned char *photo_pixels(uint64_t seed)
{
    enum { BLOBS = 7 };
    unsigned char *px = malloc((size_t)PHOTO_SIDE * PHOTO_SIDE * 3);
    if (!px)
        return NULL;
    uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 12345;
    double top[3], bottom[3], bx[BLOBS], by[BLOBS], br[BLOBS], bc[BLOBS][3];
    for (int c = 0; c < 3; c++) {
        top[c] = 60 + 180 * synth_unit(&state);
        bottom[c] = 20 + 140 * synth_unit(&state);
    }
    for (int k = 0; k < BLOBS; k++) {
        bx[k] = PHOTO_SIDE * synth_unit(&state);
        by[k] = PHOTO_SIDE * synth_unit(&state);
        br[k] = 60 + 260 * synth_unit(&state);
        for (int c = 0; c < 3; c++)
            bc[k][c] = 255 * synth_unit(&state);
    }
    double fx = 0.02 + 0.05 * synth_unit(&state), fy = 0.02 + 0.05 * synth_unit(&state);
    for (int y = 0; y < PHOTO_SIDE; y++) {
        double t = (double)y / (PHOTO_SIDE - 1);
        for (int x = 0; x < PHOTO_SIDE; x++) {
            double v[3];
            for (int c = 0; c < 3; c++)
                v[c] = top[c] * (1 - t) + bottom[c] * t;
            for (int k = 0; k < BLOBS; k++) {
                double dx = x - bx[k], dy = y - by[k];
                double w = exp(-(dx * dx + dy * dy) / (2 * br[k] * br[k]));
                for (int c = 0; c < 3; c++)
                    v[c] = v[c] * (1 - 0.8 * w) + bc[k][c] * 0.8 * w;
            }
            double tex = 10 * sin(x * fx + y * fy) * sin(y * fx * 0.7);
            uint64_t r = synth_rand(&state);
            for (int c = 0; c < 3; c++) {
                double noise = (double)((r >> (c * 8)) & 0xff) / 255.0 * 24 - 12;
                double q = v[c] + tex + noise;
                px[((size_t)y * PHOTO_SIDE + x) * 3 + c] = (unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    }
    return px;
}

static int photos_generate(bench *b)
{
    const char *tmp = getenv("TMPDIR");
    char folder[PATH_MAX], path[PATH_MAX + 32];
    if (asprintf(&b->photo_root, "%s/tagbench-bench-tui-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
        b->photo_root = NULL;
        return -1;
    }
    if (!mkdtemp(b->photo_root))
        return -1;
    snprintf(folder, sizeof folder, "%s/10_photo person", b->photo_root);
    if (mkdir(folder, 0755) < 0)
        return -1;
    for (int i = 0; i < b->o.photos; i++) {
        unsigned char *px = photo_pixels((uint64_t)i + 1);
        snprintf(path, sizeof path, "%s/photo_%03d.jpg", folder, i);
        int ok = px && stbi_write_jpg(path, PHOTO_SIDE, PHOTO_SIDE, 3, px, PHOTO_QUALITY);
        free(px);
        if (!ok)
            return -1;
        struct stat st;
        if (stat(path, &st) == 0)
            sample_add(b, M_JPEG_BYTES, (double)st.st_size);
        static const char caption[] = "1girl, solo, outdoors, sky, looking at viewer, photo\n";
        snprintf(path, sizeof path, "%s/photo_%03d.txt", folder, i);
        if (synth_write_file(path, caption, sizeof caption - 1) < 0)
            return -1;
    }
    return 0;
}

/* ---- the headless terminal ---- */

/* ncurses on a memfd, the screen 160x48; fd 1 on another memfd. As app_main.c's terminal_start,
 * minus the probe. */
static int terminal_start(bench *b)
{
    b->txt.fd = memfd_create("bench-tui-ncurses", MFD_CLOEXEC);
    b->img.fd = memfd_create("bench-tui-images", MFD_CLOEXEC);
    if (b->txt.fd < 0 || b->img.fd < 0)
        return -1;
    fflush(stdout);
    b->saved_stdout = dup(STDOUT_FILENO);
    if (b->saved_stdout < 0 || dup2(b->img.fd, STDOUT_FILENO) < 0)
        return -1;
    return bench_term_start(&b->scr, b->txt.fd, SCREEN_COLS, SCREEN_ROWS, "bench_tui");
}

static void terminal_end(bench *b)
{
    bench_term_end(&b->scr);
    if (b->saved_stdout >= 0) {
        fflush(stdout);
        dup2(b->saved_stdout, STDOUT_FILENO);
        close(b->saved_stdout);
        b->saved_stdout = -1;
    }
}

/* ---- the app ---- */

static void caps_fill(term_caps *c, gfx_mode m)
{
    bench_caps_fill(c, m, CELL_W, CELL_H, "bench_tui");
}

/* What app_run does before its loop, minus the terminal: app_open, journal, preview. Times the
 * parts into the given metrics (or nowhere when m_open < 0). */
static int app_start(bench *b, app *a, const char *dir, gfx_mode m, int m_open, int m_journal)
{
    memset(a, 0, sizeof *a);
    app_opts o = {.dir = dir, .gfx = (int)m, .mouse = false};
    double t0 = bench_now();
    if (app_open(a, &o) < 0) {
        fprintf(stderr, "bench_tui: app_open(%s) failed\n", dir);
        return -1;
    }
    double t1 = bench_now();
    tg_error err;
    long pending = dataset_journal_pending(a->ds, &err);
    if (pending != 0 || dataset_journal_start(a->ds, &err) < 0) {
        fprintf(stderr, "bench_tui: journal: %s\n", pending > 0 ? "an earlier journal is pending" : err.msg);
        return -1;
    }
    double t2 = bench_now();
    caps_fill(&a->caps, m);
    if (!(a->pv = preview_new(&a->caps))) {
        fprintf(stderr, "bench_tui: out of memory\n");
        return -1;
    }
    a->running = true;
    if (m_open >= 0) {
        sample_add(b, m_open, t1 - t0);
        sample_add(b, m_journal, t2 - t1);
    }
    return 0;
}

/* A key and the frame after it, timed; the bytes of that frame go to the counters. */
typedef struct frame {
    double secs;
    size_t txt, img;
} frame;

static frame key_frame(bench *b, app *a, int key)
{
    sink_trim(&b->txt);
    sink_trim(&b->img);
    size_t t0b = sink_bytes(&b->txt), i0b = sink_bytes(&b->img);
    double t0 = bench_now();
    if (key)
        app_key(a, key);
    app_draw(a);
    double t1 = bench_now();
    return (frame){t1 - t0, sink_bytes(&b->txt) - t0b, sink_bytes(&b->img) - i0b};
}

static void key_timed(bench *b, app *a, int key, int m)
{
    frame f = key_frame(b, a, key);
    if (m >= 0)
        sample_add(b, m, f.secs);
}

static void keys_timed(bench *b, app *a, const char *s, int m)
{
    for (; *s; s++)
        key_timed(b, a, (unsigned char)*s, m);
}

/* The worker that prefetches previews has nothing left to do: every thread but this one sleeps
 * (state S in /proc), twice in a row 2 ms apart; at most 5 s. */
static void wait_idle(void)
{
    pid_t self = (pid_t)syscall(SYS_gettid);
    int calm = 0;
    for (int tries = 0; tries < 2500 && calm < 2; tries++) {
        bool busy = false;
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.' || atoi(e->d_name) == self)
                continue;
            char path[300], buf[512];
            snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
            FILE *f = fopen(path, "r");
            size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            if (f)
                fclose(f);
            buf[n] = '\0';
            char *p = strrchr(buf, ')');
            if (p && p[1] == ' ' && p[2] != 'S')
                busy = true;
        }
        if (d)
            closedir(d);
        calm = busy ? 0 : calm + 1;
        usleep(2000);
    }
}

static char *current_path(app *a, size_t k)
{
    return k < a->n_view ? dataset_path(a->ds, a->ds->items[a->view[k]].image) : NULL;
}

/* ---- previews of 1024x1024 JPEGs ---- */

typedef enum pv_pass { PASS_COLD, PASS_BTB, PASS_PAUSE } pv_pass;

/* One walk down the JPEG dataset in mode md: every image visited once with j.
 *   PASS_COLD:  before each j, wait for the prefetch worker to finish, then give the next file a
 *               new mtime, so neither the cache nor the worker has it: the frame decodes,
 *               resizes and encodes it on the main thread (what a first view costs). Then k back
 *               up the list: every image is cached (warm), only the frame and its bytes remain.
 *   PASS_BTB:   j back to back; the previous frame asked the worker for this image, so the frame
 *               waits for what is left of that build (holding j down, keys faster than builds).
 *   PASS_PAUSE: wait for the worker before each j: the image is ready (a user who looks). */
static int preview_pass(bench *b, int md, pv_pass pass)
{
    app a;
    if (app_start(b, &a, b->photo_root, mode_gfx[md], -1, -1) < 0) {
        app_close(&a);
        return -1;
    }
    int base = M_PV_BASE + md * PV_N;
    clearok(curscr, TRUE);
    key_timed(b, &a, 0, -1); /* the first image: not counted */
    for (size_t k = 1; k < a.n_view; k++) {
        if (pass != PASS_BTB)
            wait_idle();
        if (pass == PASS_COLD) {
            char *p = current_path(&a, k);
            if (!p || utimensat(AT_FDCWD, p, NULL, 0) < 0)
                failf(b, "cannot touch %s", p ? p : "(out of memory)");
            free(p);
        }
        frame f = key_frame(b, &a, 'j');
        preview_info info;
        bool shown = preview_last(a.pv, &info) && info.ok;
        if (a.files.cur != k || !shown)
            failf(b, "%s: j onto image %zu: cursor at %zu, preview %s", mode_names[md], k,
                  a.files.cur, shown ? "shown" : "missing");
        if ((md != MODE_BLOCKS) && f.img == 0)
            failf(b, "%s: j onto image %zu wrote no image bytes", mode_names[md], k);
        sample_add(b, base + (pass == PASS_COLD ? PV_COLD : pass == PASS_BTB ? PV_BTB : PV_PAUSE), f.secs);
        if (pass == PASS_COLD) {
            sample_add(b, base + PV_IMG_BYTES, (double)f.img);
            sample_add(b, base + PV_TXT_BYTES, (double)f.txt);
            if (md == MODE_SIXEL) {
                b->px_w = info.px_w;
                b->px_h = info.px_h;
            }
        }
    }
    if (pass == PASS_COLD) {
        wait_idle();
        for (size_t k = a.n_view - 1; k-- > 0;) {
            frame f = key_frame(b, &a, 'k');
            if (a.files.cur != k)
                failf(b, "%s: k: cursor at %zu, expected %zu", mode_names[md], a.files.cur, k);
            sample_add(b, base + PV_WARM, f.secs);
        }
    }
    app_close(&a);
    return 0;
}

/* The box the Dataset screen gives the preview (dataset_layout_get at 160x48), from a frame. */
static void preview_parts(bench *b, const char *path)
{
    int reps = 4 * b->o.reps;
    tg_error err;
    for (int r = 0; r < reps; r++) {
        image src = {0};
        double t0 = bench_now();
        if (image_load(path, &src, &err) < 0) {
            failf(b, "image_load(%s): %s", path, err.msg);
            return;
        }
        sample_add(b, M_PV_DECODE, bench_now() - t0);
        for (int md = 0; md < N_MODES; md++) {
            term_caps c;
            caps_fill(&c, mode_gfx[md]);
            int pw, ph, uc, ur;
            gfx_fit(src.w, src.h, b->box_cols, b->box_rows, &c, &pw, &ph, &uc, &ur);
            image scaled = {0};
            gfx_buf out = {0};
            double t1 = bench_now();
            int rc = image_resize(&src, pw, ph, &scaled, &err);
            double t2 = bench_now();
            if (rc == 0 && md == MODE_SIXEL)
                rc = gfx_sixel_encode(&scaled, 256, false, &out, &err);
            else if (rc == 0 && md == MODE_KITTY)
                rc = gfx_kitty_encode(&scaled, 1, false, &out, &err);
            else if (rc == 0) {
                gfx_cell *cells = malloc(sizeof *cells * (size_t)uc * (size_t)ur);
                if (cells)
                    gfx_blocks_render(&scaled, false, cells);
                rc = cells ? 0 : -1;
                free(cells);
            }
            double t3 = bench_now();
            if (rc < 0)
                failf(b, "%s: resize/encode failed", mode_names[md]);
            sample_add(b, M_PV_BASE + md * PV_N + PV_RESIZE, t2 - t1);
            sample_add(b, M_PV_BASE + md * PV_N + PV_ENCODE, t3 - t2);
            image_free(&scaled);
            gfx_buf_free(&out);
        }
        image_free(&src);
    }
}

static int bench_previews(bench *b)
{
    for (int md = 0; md < N_MODES; md++) {
        fprintf(stderr, "previews: %s\n", mode_names[md]);
        if (preview_pass(b, md, PASS_COLD) < 0 || preview_pass(b, md, PASS_BTB) < 0 ||
            preview_pass(b, md, PASS_PAUSE) < 0)
            return -1;
    }
    /* the box, as the Dataset screen computes it (screen_dataset.c dataset_layout_get) */
    int rows = LINES - 3, list_w = COLS * 2 / 5 > 60 ? 60 : COLS * 2 / 5;
    b->box_rows = rows / 2;
    b->box_cols = COLS - (list_w + 1) - 1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/10_photo person/photo_000.jpg", b->photo_root);
    preview_parts(b, path);
    return 0;
}

/* ---- img2sixel, the peer ---- */

static int spawn_wait(const char *const *argv, int out_fd, double *secs)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    pid_t pid;
    double t0 = bench_now();
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    int st = 0;
    if (rc == 0 && waitpid(pid, &st, 0) != pid)
        rc = -1;
    *secs = bench_now() - t0;
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void bench_img2sixel(bench *b)
{
    char path[PATH_MAX], w[16], h[16];
    snprintf(path, sizeof path, "%s/10_photo person/photo_000.jpg", b->photo_root);
    snprintf(w, sizeof w, "%d", b->px_w);
    snprintf(h, sizeof h, "%d", b->px_h);
    const char *argv[] = {"img2sixel", "-w", w, "-h", h, path, NULL};
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int count_fd = memfd_create("bench-tui-img2sixel", MFD_CLOEXEC);
    double secs;
    if (!b->px_w || null_fd < 0 || count_fd < 0 || spawn_wait(argv, count_fd, &secs) < 0) {
        snprintf(b->img2sixel_note, sizeof b->img2sixel_note,
                 "NOTE: img2sixel not run (%s); install libsixel-bin for the side-by-side row",
                 !b->px_w ? "no sixel preview size" : "not found or it failed");
    } else {
        struct stat st;
        if (fstat(count_fd, &st) == 0)
            sample_add(b, M_IMG2SIXEL_BYTES, (double)st.st_size);
        for (int r = 0; r < 4 * b->o.reps; r++)
            if (spawn_wait(argv, null_fd, &secs) == 0)
                sample_add(b, M_IMG2SIXEL, secs);
    }
    if (null_fd >= 0)
        close(null_fd);
    if (count_fd >= 0)
        close(count_fd);
}

/* ---- the 100k dataset ---- */

/* First screen: app_open (scan, captions, completer, run config, screens, view), the journal
 * check, the preview layer and the first app_draw onto a blank screen. The app stays open (the
 * last sixel run's) for the key sections. */
static int bench_first_screen(bench *b, app *a)
{
    for (int r = 0; r < 2 * b->o.reps; r++) {
        bool sixel = r % 2;
        fprintf(stderr, "first screen: run %d/%d (%s)\n", r + 1, 2 * b->o.reps, sixel ? "sixel" : "none");
        clearok(curscr, TRUE); /* the first frame paints everything, as after initscr */
        double t0 = bench_now();
        int rc = app_start(b, a, b->s.root, sixel ? GFX_SIXEL : GFX_NONE, M_OPEN, M_JOURNAL);
        double t1 = bench_now();
        frame f = rc == 0 ? key_frame(b, a, 0) : (frame){0};
        if (rc < 0) {
            app_close(a);
            return -1;
        }
        sample_add(b, sixel ? M_FIRST_SIXEL : M_FIRST_NONE, t1 - t0 + f.secs);
        sample_add(b, sixel ? M_DRAW1_SIXEL : M_DRAW1_NONE, f.secs);
        sample_add(b, M_DRAW1_BYTES, (double)f.txt);
        if (a->ds->n_items != b->s.n_images || a->n_view != b->s.n_images)
            failf(b, "the app shows %zu of %zu images (%zu found)", a->n_view, b->s.n_images,
                  a->ds->n_items);
        if (sixel && f.img == 0)
            failf(b, "the first sixel frame wrote no image bytes");
        if (r + 1 < 2 * b->o.reps)
            app_close(a);
    }
    for (int r = 0; r < b->o.reps; r++) { /* how much of app_open is the dataset itself */
        tg_error err;
        double t = bench_now();
        dataset *ds = dataset_open(b->s.root, NULL, &err);
        double d = bench_now() - t;
        if (!ds)
            return fprintf(stderr, "bench_tui: dataset_open: %s\n", err.msg), -1;
        sample_add(b, M_DS_OPEN, d);
        dataset_close(ds);
    }
    return 0;
}

static void expect_cur(bench *b, const char *what, size_t got, size_t want)
{
    if (got != want)
        failf(b, "%s: cursor at %zu, expected %zu", what, got, want);
}

/* Where a cursor moved to k ends in a list of n. */
static size_t clamp_to(long k, size_t n)
{
    return k < 0 ? 0 : (size_t)k >= n ? n - 1 : (size_t)k;
}

static void set_gfx(app *a, gfx_mode m)
{
    preview_free(a->pv);
    caps_fill(&a->caps, m);
    a->pv = preview_new(&a->caps);
}

static int bench_keys(bench *b, app *a)
{
    int walk = 400 * b->o.reps, few = 2 * b->o.reps; /* j walks down, k comes back a quarter */
    size_t page = (size_t)LINES - 6;
    set_gfx(a, GFX_NONE);
    if (!a->pv)
        return -1;
    clearok(curscr, TRUE);
    key_timed(b, a, 0, -1);
    fprintf(stderr, "keys: Dataset\n");
    for (int r = 0; r < walk; r++) {
        frame f = key_frame(b, a, 'j');
        sample_add(b, M_DS_J, f.secs);
        sample_add(b, M_TEXT_BYTES, (double)f.txt);
    }
    expect_cur(b, "Dataset j", a->files.cur, clamp_to(walk, a->n_view));
    for (int r = 0; r < walk / 4; r++)
        key_timed(b, a, 'k', M_DS_K);
    expect_cur(b, "Dataset k", a->files.cur, clamp_to((long)clamp_to(walk, a->n_view) - walk / 4, a->n_view));
    size_t before = a->files.cur;
    for (int r = 0; r < walk / 10; r++)
        key_timed(b, a, KEY_FN(KEY_NPAGE), M_DS_PGDN);
    expect_cur(b, "Dataset PgDn", a->files.cur, clamp_to((long)(before + (size_t)(walk / 10) * page), a->n_view));
    for (int r = 0; r < 2 * few; r++)
        key_timed(b, a, r % 2 ? 'g' : 'G', M_DS_END);
    expect_cur(b, "Dataset G/g", a->files.cur, 0);

    /* the filter prompt: typing, then Enter runs the filter over every image */
    const char *expr = "long hair & !solo";
    for (int r = 0; r < few; r++) {
        app_set_filter(a, NULL);
        key_timed(b, a, '/', M_DS_FILTER_TYPE);
        keys_timed(b, a, expr, M_DS_FILTER_TYPE);
        key_timed(b, a, '\r', M_DS_FILTER_APPLY);
        if (!a->filter_text || a->n_view == 0 || a->n_view >= a->ds->n_items)
            failf(b, "filter \"%s\" shows %zu of %zu images", expr, a->n_view, a->ds->n_items);
    }
    app_set_filter(a, NULL);
    /* the add-tag prompt suggests tags from the dataset as one types; Esc leaves it */
    for (int r = 0; r < few; r++) {
        key_timed(b, a, 'a', M_DS_ADD_TYPE);
        keys_timed(b, a, "long h", M_DS_ADD_TYPE);
        key_timed(b, a, KEY_ESC, M_DS_ADD_TYPE);
        if (a->prompt)
            failf(b, "Esc did not close the add-tag prompt");
    }
    if (a->ds->n_dirty)
        failf(b, "the key walk edited %zu captions", a->ds->n_dirty);

    fprintf(stderr, "keys: Tags\n");
    for (int r = 0; r < few; r++) {
        key_timed(b, a, '1', -1);
        key_timed(b, a, '2', M_TAGS_ENTER);
    }
    if (a->screen != SCREEN_TAGS)
        failf(b, "2 did not show the Tags screen");
    for (int r = 0; r < walk; r++)
        key_timed(b, a, 'j', M_TAGS_J);
    for (int r = 0; r < walk / 10; r++)
        key_timed(b, a, KEY_FN(KEY_NPAGE), M_TAGS_PGDN);
    for (int r = 0; r < 2 * few; r++)
        key_timed(b, a, 's', M_TAGS_SORT);

    fprintf(stderr, "keys: Captions\n");
    for (int r = 0; r < few; r++) {
        key_timed(b, a, '1', -1);
        key_timed(b, a, '3', M_CAP_ENTER);
    }
    if (a->screen != SCREEN_CAPTIONS)
        failf(b, "3 did not show the Captions screen");
    int fields_walk = walk / 4 / n_caption_fields * n_caption_fields; /* back on keep_tokens */
    for (int r = 0; r < fields_walk; r++)
        key_timed(b, a, 'j', M_CAP_J);
    before = a->files.cur;
    for (int r = 0; r < walk / 4; r++)
        key_timed(b, a, 'n', M_CAP_N);
    expect_cur(b, "Captions n", a->files.cur, clamp_to((long)before + walk / 4, a->n_view));
    for (int r = 0; r < 2 * few; r++)
        key_timed(b, a, r % 2 ? '-' : '+', M_CAP_STEP);
    if (a->msg_error)
        failf(b, "Captions +/-: %s", a->msg);
    for (int r = 0; r < few; r++) { /* what 3 and +/- recompute, on its own */
        pipeline_opts po;
        pipeline_stats ps;
        tg_error err;
        captions_config_get(a, &po);
        double t = bench_now();
        int rc = pipeline_stats_compute(a->ds, &po, &ps, &err);
        sample_add(b, M_STATS, bench_now() - t);
        if (rc < 0)
            failf(b, "pipeline_stats_compute: %s", err.msg);
        else if (ps.n_captions != a->ds->n_items)
            failf(b, "pipeline_stats_compute counted %zu captions of %zu", ps.n_captions, a->ds->n_items);
        if (rc == 0)
            pipeline_stats_free(&ps);
    }

    fprintf(stderr, "keys: Dataset, sixel previews of 1x1 PNGs\n");
    key_timed(b, a, '1', -1);
    set_gfx(a, GFX_SIXEL);
    if (!a->pv)
        return -1;
    clearok(curscr, TRUE);
    key_timed(b, a, 'g', -1);
    for (int r = 0; r < walk / 4; r++) {
        frame f = key_frame(b, a, 'j');
        sample_add(b, M_DS_J_SIXEL, f.secs);
        sample_add(b, M_DS_J_SIXEL_BYTES, (double)f.img);
    }
    expect_cur(b, "Dataset j (sixel)", a->files.cur, clamp_to(walk / 4, a->n_view));
    return 0;
}

/* ---- report ---- */

static void fmt_value(unit u, double v, char *out, size_t size)
{
    if (u == U_BYTES)
        snprintf(out, size, v >= 1e6 ? "%.2f MB" : v >= 1e3 ? "%.1f kB" : "%.0f B",
                 v >= 1e6 ? v / 1e6 : v >= 1e3 ? v / 1e3 : v);
    else if (u == U_COUNT)
        snprintf(out, size, "%.0f", v);
    else if (v < 1e-3)
        snprintf(out, size, "%.0f us", v * 1e6);
    else if (v < 1)
        snprintf(out, size, "%.2f ms", v * 1e3);
    else
        snprintf(out, size, "%.3f s", v);
}

static void print_header(FILE *out, const bench *b)
{
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    fprintf(out, "tagbench full-screen app benchmark (bench_tui)\n");
    fprintf(out, "machine: nproc %ld, CPU \"%s\", %.1f GiB RAM\n", sysconf(_SC_NPROCESSORS_ONLN), cpu,
            (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1 << 30));
    fprintf(out, "load average (1/5/15 min, running/total, last pid) at start: %s; at end: %s\n",
            b->load_before, b->load_after);
    fprintf(out, "list dataset: %zu images (1x1 PNG + caption, bench/synth.h) in %zu N_name folders; "
            "JPEG dataset: %d photo-like %dx%d JPEGs (quality %d)\n", b->s.n_images, b->s.n_folders,
            b->o.photos, PHOTO_SIDE, PHOTO_SIDE, PHOTO_QUALITY);
    fprintf(out, "headless ncurses (xterm-256color) %dx%d cells of %dx%d px, output into memfds; "
            "preview box %dx%d cells, sixel image %dx%d px\n", SCREEN_COLS, SCREEN_ROWS, CELL_W,
            CELL_H, b->box_cols, b->box_rows, b->px_w, b->px_h);
    fprintf(out, "a key row = app_key + app_draw (through doupdate and preview_emit); CLOCK_MONOTONIC; "
            "targets are not pass/fail\n\n");
}

static void print_table(FILE *out, bench *b)
{
    print_header(out, b);
    fprintf(out, "%-62s %10s %10s %10s %5s  %s\n", "metric", "median", "max", "min", "n", "target");
    for (int k = 0; k < M_COUNT; k++) {
        metric *m = &b->m[k];
        if (!m->s.n)
            continue;
        if (k == M_FIRST_NONE || k == M_DS_J || k == M_PV_DECODE || k == M_IMG2SIXEL ||
            (k >= M_PV_BASE && k < M_IMG2SIXEL && (k - M_PV_BASE) % PV_N == 0))
            fputc('\n', out);
        stats st = samples_stats(&m->s);
        char a[32], x[32], n[32];
        fmt_value(m->u, st.median, a, sizeof a);
        fmt_value(m->u, st.max, x, sizeof x);
        fmt_value(m->u, st.min, n, sizeof n);
        fprintf(out, "%-62s %10s %10s %10s %5d  %s\n", m->label, a, x, n, m->s.n, m->target);
    }
    const samples *ours = &b->m[M_PV_BASE + MODE_SIXEL * PV_N + PV_COLD].s;
    const samples *peer = &b->m[M_IMG2SIXEL].s;
    fputc('\n', out);
    if (peer->n && ours->n) {
        double o = samples_stats(ours).median, p = samples_stats(peer).median;
        double parts = samples_stats(&b->m[M_PV_DECODE].s).median +
                       samples_stats(&b->m[M_PV_BASE + MODE_SIXEL * PV_N + PV_RESIZE].s).median +
                       samples_stats(&b->m[M_PV_BASE + MODE_SIXEL * PV_N + PV_ENCODE].s).median;
        fprintf(out, "sixel, ours / img2sixel (medians): cold frame %.2f (%.1f ms / %.1f ms); "
                "decode+resize+encode alone %.2f (%.1f ms)\n", o / p, o * 1e3, p * 1e3, parts / p,
                parts * 1e3);
        fprintf(out, "  ours cold frame = j + whole frame: header probe, decode, resize, quantise + "
                "encode on the main thread, ncurses update, emit into a memfd\n");
        fprintf(out, "  img2sixel = posix_spawn + exec + dynamic loading + decode + resize + "
                "quantise + encode + write to /dev/null + exit + waitpid\n");
    }
    if (*b->img2sixel_note)
        fprintf(out, "%s\n", b->img2sixel_note);
}

static void print_json(bench *b)
{
    cJSON *o = cJSON_CreateObject(), *ms = cJSON_CreateObject();
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    cJSON_AddStringToObject(o, "bench", "tui");
    cJSON_AddNumberToObject(o, "images", (double)b->s.n_images);
    cJSON_AddNumberToObject(o, "photos", b->o.photos);
    cJSON_AddNumberToObject(o, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(o, "cpu", cpu);
    cJSON_AddNumberToObject(o, "preview_px_w", b->px_w);
    cJSON_AddNumberToObject(o, "preview_px_h", b->px_h);
    for (int k = 0; k < M_COUNT; k++) {
        if (!b->m[k].s.n)
            continue;
        stats st = samples_stats(&b->m[k].s);
        cJSON *v = cJSON_AddObjectToObject(ms, b->m[k].key);
        cJSON_AddNumberToObject(v, "median", st.median);
        cJSON_AddNumberToObject(v, "max", st.max);
        cJSON_AddNumberToObject(v, "min", st.min);
        cJSON_AddNumberToObject(v, "n", b->m[k].s.n);
        if (b->m[k].s.n <= 64)
            cJSON_AddItemToObject(v, "runs", cJSON_CreateDoubleArray(b->m[k].s.v, b->m[k].s.n));
    }
    cJSON_AddItemToObject(o, "metrics", ms);
    cJSON_AddNumberToObject(o, "wrong_results", b->failures);
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(o);
}

/* ---- main ---- */

static void metrics_init(bench *b)
{
    memcpy(b->m, metric_defs, sizeof metric_defs);
    static const struct {
        const char *key, *label, *target;
        unit u;
    } pv[PV_N] = {
        [PV_COLD] = {"cold_s", "cold: j onto an image nothing prefetched", "<= 50 ms", U_SECONDS},
        [PV_BTB] = {"back_to_back_s", "j back to back (its prefetch in flight)", "-", U_SECONDS},
        [PV_PAUSE] = {"after_pause_s", "j after a pause (prefetched)", "-", U_SECONDS},
        [PV_WARM] = {"warm_s", "warm: k back onto a cached image", "-", U_SECONDS},
        [PV_IMG_BYTES] = {"image_bytes", "  bytes per preview on fd 1 (image layer)", "-", U_BYTES},
        [PV_TXT_BYTES] = {"ncurses_bytes", "  bytes per frame from ncurses", "-", U_BYTES},
        [PV_RESIZE] = {"resize_s", "  part: resize to the box (image_resize)", "-", U_SECONDS},
        [PV_ENCODE] = {"encode_s", "  part: encode", "-", U_SECONDS},
    };
    for (int md = 0; md < N_MODES; md++)
        for (int k = 0; k < PV_N; k++) {
            int i = M_PV_BASE + md * PV_N + k;
            snprintf(b->labels[i], sizeof b->labels[i], "%s%s: %s", pv[k].label[0] == ' ' ? "  " : "",
                     mode_names[md], pv[k].label + (pv[k].label[0] == ' ' ? 2 : 0));
            snprintf(b->keys[i], sizeof b->keys[i], "preview_%s_%s", mode_names[md], pv[k].key);
            b->m[i] = (metric){b->keys[i], b->labels[i], pv[k].target, pv[k].u, {0}};
        }
    b->m[M_IMG2SIXEL] = (metric){"img2sixel_s", "img2sixel -w W -h H (same JPEG, same size)", "-", U_SECONDS, {0}};
    b->m[M_IMG2SIXEL_BYTES] = (metric){"img2sixel_bytes", "  img2sixel: bytes written", "-", U_BYTES, {0}};
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_tui [--images N] [--reps N] [--photos N] [--keep] [--json]\n"
            "  --images N   images in the list dataset (default 100000)\n"
            "  --reps N     base repetitions (default 5): first screen 2N runs (N per mode),\n"
            "               j walks 400N keys, img2sixel and the preview parts 4N runs\n"
            "  --photos N   distinct 1024x1024 JPEGs (default 24): N-1 previews per pass\n"
            "  --keep       leave both datasets in place (their paths go to stderr)\n"
            "  --json       one JSON line on stdout; the table goes to stderr\n");
}

static int opts_parse(int argc, char **argv, opts *o)
{
    *o = (opts){.images = 100000, .reps = 5, .photos = 24};
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        long v = 0;
        if ((!strcmp(argv[i], "--images") || !strcmp(argv[i], "--reps") || !strcmp(argv[i], "--photos")) &&
            i + 1 < argc) {
            v = strtol(argv[i + 1], &end, 10);
            bool ok = *end == '\0' && (argv[i][2] == 'i' ? v >= 100 && v <= 10000000
                                       : argv[i][2] == 'r' ? v >= 1 && v <= 1000 : v >= 3 && v <= 1000);
            if (!ok)
                return fprintf(stderr, "bench_tui: bad value \"%s\" for %s\n", argv[i + 1], argv[i]), 2;
            if (argv[i][2] == 'i')
                o->images = (size_t)v;
            else if (argv[i][2] == 'r')
                o->reps = (int)v;
            else
                o->photos = (int)v;
            i++;
        } else if (!strcmp(argv[i], "--keep")) {
            o->keep = true;
        } else if (!strcmp(argv[i], "--json")) {
            o->json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            return usage(stdout), 1;
        } else {
            return usage(stderr), 2;
        }
    }
    return 0;
}

static int run_all(bench *b)
{
    double t = bench_now();
    if (synth_generate(&b->s, b->o.images) < 0) {
        fprintf(stderr, "bench_tui: cannot write the dataset under %s: %s\n",
                b->s.root ? b->s.root : "$TMPDIR", strerror(errno));
        return -1;
    }
    sample_add(b, M_GEN_100K, bench_now() - t);
    t = bench_now();
    if (photos_generate(b) < 0) {
        fprintf(stderr, "bench_tui: cannot write the JPEG dataset: %s\n", strerror(errno));
        return -1;
    }
    sample_add(b, M_GEN_PHOTOS, bench_now() - t);
    if (bench_locale_utf8() < 0) {
        fprintf(stderr, "bench_tui: the app needs a UTF-8 locale (e.g. LANG=C.UTF-8)\n");
        return -1;
    }
    if (terminal_start(b) < 0) {
        fprintf(stderr, "bench_tui: cannot set up the headless terminal: %s\n", strerror(errno));
        return -1;
    }
    if (bench_previews(b) < 0)
        return -1;
    fprintf(stderr, "img2sixel\n");
    bench_img2sixel(b);
    app a;
    if (bench_first_screen(b, &a) < 0)
        return -1;
    int rc = bench_keys(b, &a);
    app_close(&a);
    return rc;
}

int main(int argc, char **argv)
{
    static bench b;
    b.saved_stdout = -1;
    int rc = opts_parse(argc, argv, &b.o);
    if (rc)
        return rc == 1 ? 0 : rc;
    metrics_init(&b);
    bench_loadavg(b.load_before, sizeof b.load_before, false);
    rc = run_all(&b);
    bench_loadavg(b.load_after, sizeof b.load_after, false);
    terminal_end(&b);
    print_table(b.o.json ? stderr : stdout, &b);
    if (b.o.json)
        print_json(&b);
    const char *roots[] = {b.s.root, b.photo_root};
    for (int k = 0; k < 2; k++) {
        if (!roots[k])
            continue;
        if (b.o.keep)
            fprintf(stderr, "dataset kept at %s\n", roots[k]);
        else if (bench_remove_tree(roots[k]) < 0)
            fprintf(stderr, "bench_tui: could not remove %s: %s\n", roots[k], strerror(errno));
    }
    synth_free(&b.s);
    free(b.photo_root);
    if (b.failures)
        fprintf(stderr, "bench_tui: %d wrong result(s)\n", b.failures);
    return rc < 0 || b.failures ? 1 : 0;
}

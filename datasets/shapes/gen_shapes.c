/*
 * gen_shapes: writes tagbench's bundled demo datasets, kohya-style folders of small
 * synthetic images of ONE coloured shape on a plain background, each with a booru-style
 * caption whose every tag is backed by what the pixels show.
 *
 *   gen_shapes [--force] OUTDIR              writes OUTDIR/10_shapes/0001.png + 0001.txt ... 0288.*
 *   gen_shapes [--force] --set lora OUTDIR   writes OUTDIR/5_purple/0001.png + 0001.txt ... 0072.*
 *
 * The "shapes" set (the default) is what the demo's base model trains on; the "lora" set
 * shows one colour that set never has (purple), for the LoRA demo on top of that base. A set
 * is data (see `sets` below): its colours, folder, seed and copies; everything else is shared.
 *
 * Why synthetic and this small: the tiny diffusion model trained in the demo must learn the
 * set on a 2-core CPU in minutes, so the images are 64x64, flat, noise-free and every
 * attribute is a separate, clearly visible factor. See datasets/shapes/README.md and
 * datasets/shapes_lora/README.md.
 *
 * Why everything here is integer arithmetic: the committed PNGs are compared byte-for-byte
 * with a fresh run (tests/cli/test_demo_dataset.sh), built at -O2 and under ASan at -O1, by
 * gcc or clang, on any CPU. Floating point (FMA contraction, libm's sqrt/sin) could differ by
 * one ulp between those builds and flip an edge pixel; integers cannot. The PRNG is our own
 * for the same reason: libc's rand() differs between C libraries.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h> /* implementation lives in libstb.so; never define it here */

#define IMG 64           /* image side in pixels */
#define SUB 8            /* supersamples per pixel per axis: 64 per pixel, 65 coverage levels */
#define FIX 16           /* geometry unit: 1/16 pixel, so sample centres sit on odd values */
#define JITTER (4 * FIX) /* centre moves at most 4 px from the middle, in 1/16 px steps */

typedef struct { const char *name; unsigned char r, g, b; } Colour;

enum { CIRCLE, SQUARE, TRIANGLE, N_SHAPES };
static const char *const shape_names[N_SHAPES] = {"circle", "square", "triangle"};

/* Every shape colour of every set: saturated, well-separated hues. Each is at least MIN_DIST
 * (RGB distance) from every background and from every other colour, checked at start-up, so
 * "red" on "gray" is never a guess and purple is not a shade of a colour the base model knows
 * (nearest: gray 118, blue 133). A set uses a run of this table (Set.colour, Set.n_colours). */
static const Colour colours[] = {
    {"red", 220, 40, 40},
    {"green", 40, 170, 60},
    {"blue", 40, 90, 230},
    {"yellow", 245, 205, 30},
    {"purple", 160, 40, 200}, /* only in the "lora" set */
};
static const Colour backgrounds[] = {
    {"white", 255, 255, 255},
    {"gray", 128, 128, 128},
    {"black", 0, 0, 0},
};
#define N_COLOURS ((int)(sizeof colours / sizeof colours[0]))
#define N_BACKGROUNDS ((int)(sizeof backgrounds / sizeof backgrounds[0]))
#define MIN_DIST 100

/* A dataset this program can write. Every set renders every (shape, size, background) with
 * each of its colours `copies` times, shuffled and jittered by its own seeded PRNG stream. */
typedef struct {
    const char *name;     /* --set NAME */
    const char *subdir;   /* kohya repeats folder "<repeats>_<class token>" inside OUTDIR */
    const char *about;    /* one line for --help */
    int colour, n_colours; /* colours[colour] .. colours[colour + n_colours - 1] */
    int copies;           /* images per (shape, colour, size, background) combination */
    uint64_t seed;        /* any fixed value, never the time; one per set */
} Set;

static const Set sets[] = {
    /* the default: 3 x 4 x 2 x 3 x 4 = 288 images; the demo's base model trains on it */
    {"shapes", "10_shapes", "the demo dataset; the base model trains on it", 0, 4, 4,
     0x7461676265ull /* "tagbe" */},
    /* 3 x 1 x 2 x 3 x 4 = 72 images of a colour "shapes" never shows: the LoRA demo */
    {"lora", "5_purple", "a colour the base never saw; the LoRA demo trains on it", 4, 1, 4,
     0x707572706cull /* "purpl" */},
};
#define N_SETS ((int)(sizeof sets / sizeof sets[0]))

/* Size is the side of the shape's bounding box. 2x linear = 4x area within a shape, and the
 * largest small shape (square, 22*22 = 484 px) is still half the smallest large one (triangle,
 * 44*44/2 = 968 px), so "small" and "large" are separable by area alone. The large ones plus
 * the jitter keep at least 6 px of background on every side. */
enum { SMALL, LARGE, N_SIZES };
static const char *const size_names[N_SIZES] = {"small", "large"};
static const int size_px[N_SIZES] = {22, 44};
/* Nominal areas are 380 (circle) 484 (square) 242 (triangle) small, 1521 1936 968 large;
 * the check below allows for edge sampling. */
#define SMALL_MAX_AREA 500
#define LARGE_MIN_AREA 940

static int set_images(const Set *set) {
    return N_SHAPES * set->n_colours * N_SIZES * N_BACKGROUNDS * set->copies;
}

static const char *prog = "gen_shapes";

/* splitmix64: tiny, well mixed, and defined entirely by uint64_t arithmetic. Seeded from the
 * set in build_all. */
static uint64_t rng_state;
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform-enough integer in [0, n); the modulo bias (n < 2^10 against 2^64) is invisible. */
static int rng_below(int n) { return (int)(rng_next() % (uint64_t)n); }

typedef struct { int shape, colour, size, bg; int cx, cy; /* centre, 1/16 px */ } Item;

/* Is the sample point (x, y) (1/16 px) inside the shape? Exact integer tests only. */
static int inside(const Item *it, int x, int y) {
    int h = size_px[it->size] * FIX / 2; /* half the bounding box */
    int dx = x - it->cx, dy = y - it->cy;
    switch (it->shape) {
    case CIRCLE: return dx * dx + dy * dy <= h * h;
    case SQUARE: return -h <= dx && dx < h && -h <= dy && dy < h; /* half-open: exactly 2h */
    default: /* TRIANGLE: apex up at (0,-h), base from (-h,h) to (h,h); half-width (dy+h)/2 */
        return dy < h && 2 * abs(dx) <= dy + h;
    }
}

/* Renders with SUBxSUB supersampling so edges are anti-aliased: a diffusion model trained on
 * stair-stepped edges learns the stairs. Coverage blends background and shape colour. */
static void render(const Item *it, unsigned char *px, int *cover) {
    const Colour *fg = &colours[it->colour], *bg = &backgrounds[it->bg];
    for (int py = 0; py < IMG; py++)
        for (int pxl = 0; pxl < IMG; pxl++) {
            int c = 0;
            for (int sy = 0; sy < SUB; sy++)
                for (int sx = 0; sx < SUB; sx++)
                    c += inside(it, pxl * FIX + sx * 2 + 1, py * FIX + sy * 2 + 1);
            int n = SUB * SUB;
            unsigned char *p = px + 3 * (py * IMG + pxl);
            p[0] = (unsigned char)((bg->r * (n - c) + fg->r * c + n / 2) / n);
            p[1] = (unsigned char)((bg->g * (n - c) + fg->g * c + n / 2) / n);
            p[2] = (unsigned char)((bg->b * (n - c) + fg->b * c + n / 2) / n);
            cover[py * IMG + pxl] = c;
        }
}

/* Re-derives every tag from the rendered pixels and fails if one is not backed by them, so an
 * edit to the sizes, jitter or geometry above cannot silently produce a lying caption:
 *   background: a 2 px frame is exactly the background colour (also: shape fully inside);
 *   colour:     some pixels are exactly the shape colour (fully covered ones);
 *   size:       covered area is in the size's range (see size_px);
 *   shape:      area / bounding-box area tells square (~1), circle (~pi/4), triangle (~1/2). */
static const char *check(const Item *it, const unsigned char *px, const int *cover) {
    const Colour *fg = &colours[it->colour], *bg = &backgrounds[it->bg];
    long area = 0; /* in 1/64 px */
    int solid = 0, x0 = IMG, y0 = IMG, x1 = -1, y1 = -1;
    for (int y = 0; y < IMG; y++)
        for (int x = 0; x < IMG; x++) {
            const unsigned char *p = px + 3 * (y * IMG + x);
            int c = cover[y * IMG + x];
            int frame = x < 2 || y < 2 || x >= IMG - 2 || y >= IMG - 2;
            if (frame && (c || p[0] != bg->r || p[1] != bg->g || p[2] != bg->b))
                return "shape touches the 2 px frame";
            if (p[0] == fg->r && p[1] == fg->g && p[2] == fg->b) solid++;
            if (!c) continue;
            area += c;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    if (solid == 0) return "no pixel shows the shape colour";
    long n = SUB * SUB;
    if (it->size == SMALL ? area > SMALL_MAX_AREA * n : area < LARGE_MIN_AREA * n)
        return "area does not match the size tag";
    long fill = area * 100 / ((long)(x1 - x0 + 1) * (y1 - y0 + 1) * n); /* percent */
    static const int lo[N_SHAPES] = {65, 86, 38}, hi[N_SHAPES] = {84, 100, 58};
    if (fill < lo[it->shape] || fill > hi[it->shape]) return "fill ratio does not match the shape tag";
    return NULL;
}

/* ---- output files, built in memory first so refusal is decided before anything is written */

typedef struct { char name[16]; unsigned char *data; size_t len, cap; int oom; } Blob;

static void blob_put(void *ctx, void *data, int size) {
    Blob *b = ctx;
    if (b->oom || size <= 0) return;
    if (b->len + (size_t)size > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + (size_t)size) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) { b->oom = 1; return; }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, data, (size_t)size);
    b->len += (size_t)size;
}

static Blob *files; /* caption then image, per item: 2 * n_images */
static int n_files;

static int too_close(const Colour *a, const Colour *b) {
    int dr = a->r - b->r, dg = a->g - b->g, db = a->b - b->b;
    return dr * dr + dg * dg + db * db < MIN_DIST * MIN_DIST;
}

/* The palette rule above, for every colour of every set (so a set's colours are checked even
 * when another set is written). Returns 0, or 1 after reporting. */
static int check_palette(void) {
    for (int c = 0; c < N_COLOURS; c++) {
        for (int b = 0; b < N_BACKGROUNDS; b++)
            if (too_close(&colours[c], &backgrounds[b])) {
                fprintf(stderr, "%s: colour %s is too close to background %s\n", prog,
                        colours[c].name, backgrounds[b].name);
                return 1;
            }
        for (int o = 0; o < c; o++)
            if (too_close(&colours[c], &colours[o])) {
                fprintf(stderr, "%s: colour %s is too close to colour %s\n", prog,
                        colours[c].name, colours[o].name);
                return 1;
            }
    }
    for (int i = 0; i < N_SETS; i++)
        if (sets[i].colour < 0 || sets[i].n_colours < 1 ||
            sets[i].colour + sets[i].n_colours > N_COLOURS) {
            fprintf(stderr, "%s: set %s names colours outside the table\n", prog, sets[i].name);
            return 1;
        }
    return 0;
}

/* Builds all images and captions of one set into files[]. Returns 0, or 1 after reporting
 * on stderr. */
static int build_all(const Set *set) {
    /* The stb PNG encoder is deterministic for given settings; pin them rather than trust
     * the defaults of whichever libstb is installed. */
    stbi_write_png_compression_level = 8;
    stbi_write_force_png_filter = 0; /* no filter: 14% smaller than the heuristic on flat art */

    if (check_palette()) return 1;
    int n_images = set_images(set);
    n_files = 2 * n_images;
    files = calloc((size_t)n_files, sizeof *files);
    Item *items = calloc((size_t)n_images, sizeof *items);
    if (!files || !items) {
        fprintf(stderr, "%s: out of memory\n", prog);
        free(items);
        return 1;
    }
    rng_state = set->seed;

    /* Every combination `copies` times (balanced), then a seeded shuffle so that any run of
     * consecutive files (the first screen of a browser, a small batch) shows a mix. */
    int k = 0;
    for (int copy = 0; copy < set->copies; copy++)
        for (int s = 0; s < N_SHAPES; s++)
            for (int c = set->colour; c < set->colour + set->n_colours; c++)
                for (int z = 0; z < N_SIZES; z++)
                    for (int b = 0; b < N_BACKGROUNDS; b++)
                        items[k++] = (Item){s, c, z, b, 0, 0};
    for (int i = n_images - 1; i > 0; i--) {
        int j = rng_below(i + 1);
        Item t = items[i];
        items[i] = items[j], items[j] = t;
    }

    static unsigned char px[IMG * IMG * 3];
    static int cover[IMG * IMG];
    int rc = 0;
    for (int i = 0; !rc && i < n_images; i++) {
        Item *it = &items[i];
        it->cx = IMG * FIX / 2 + rng_below(2 * JITTER + 1) - JITTER;
        it->cy = IMG * FIX / 2 + rng_below(2 * JITTER + 1) - JITTER;
        render(it, px, cover);
        Blob *txt = &files[2 * i], *png = &files[2 * i + 1];
        snprintf(txt->name, sizeof txt->name, "%04d.txt", i + 1);
        snprintf(png->name, sizeof png->name, "%04d.png", i + 1);
        const char *why = check(it, px, cover);
        if (why) {
            fprintf(stderr, "%s: %s/%s: %s (generator bug)\n", prog, set->subdir, png->name, why);
            rc = 1;
            break;
        }
        /* One line, ", "-separated, "\n"-terminated: what kohya's tagger scripts write. */
        char line[96];
        int n = snprintf(line, sizeof line, "%s %s, %s, %s background\n", colours[it->colour].name,
                         shape_names[it->shape], size_names[it->size], backgrounds[it->bg].name);
        blob_put(txt, line, n);
        if (!stbi_write_png_to_func(blob_put, png, IMG, IMG, 3, px, IMG * 3) || png->oom ||
            txt->oom) {
            fprintf(stderr, "%s: %s: cannot encode PNG (out of memory)\n", prog, png->name);
            rc = 1;
        }
    }
    free(items);
    return rc;
}

/* ---- the folder */

static const Blob *find_blob(const char *name) {
    for (int i = 0; i < n_files; i++)
        if (strcmp(files[i].name, name) == 0) return &files[i];
    return NULL;
}

/* Names this program writes or may have left behind: NNNN.png / NNNN.txt (returns OURS) and
 * their temporaries .NNNN.png.tmp / .NNNN.txt.tmp from an interrupted run (returns OURS_TMP). */
enum { FOREIGN, OURS, OURS_TMP };
static int owner(const char *name) {
    int tmp = name[0] == '.';
    const char *p = name + tmp;
    for (int i = 0; i < 4; i++)
        if (p[i] < '0' || p[i] > '9') return FOREIGN;
    p += 4;
    if (strncmp(p, ".png", 4) != 0 && strncmp(p, ".txt", 4) != 0) return FOREIGN;
    p += 4;
    if (tmp) return strcmp(p, ".tmp") == 0 ? OURS_TMP : FOREIGN;
    return *p == '\0' ? OURS : FOREIGN;
}

/* 1 if the file at path holds exactly b's bytes (a regular file, not a link). */
static int same_content(const char *path, const Blob *b) {
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != b->len) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char buf[4096];
    size_t off = 0, n;
    int same = 1;
    while (same && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (off + n > b->len || memcmp(buf, b->data + off, n) != 0) same = 0;
        off += n;
    }
    if (ferror(f)) same = 0;
    fclose(f);
    return same && off == b->len;
}

#define PATH_BUF 4352 /* PATH_MAX plus a file name */

/* out = dir/prefix name suffix; 1 (reported) if it does not fit. */
static int join(char *out, const char *dir, const char *prefix, const char *name,
                const char *suffix) {
    int n = snprintf(out, PATH_BUF, "%s/%s%s%s", dir, prefix, name, suffix);
    if (n >= 0 && n < PATH_BUF) return 0;
    fprintf(stderr, "%s: %s/%s: path too long\n", prog, dir, name);
    return 1;
}

/* Write to a temporary in the same folder, fsync, rename: a reader (or a crash) sees the old
 * file or the complete new one, never half a PNG. */
static int write_atomic(const char *dir, const Blob *b) {
    char path[PATH_BUF], tmp[PATH_BUF];
    if (join(path, dir, "", b->name, "") || join(tmp, dir, ".", b->name, ".tmp")) return 1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
        return 1;
    }
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) != 0) goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
fail:
    fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    return 1;
}

/* Creates dir if missing; fails if it exists as something else. */
static int ensure_dir(const char *dir) {
    struct stat st;
    if (mkdir(dir, 0777) == 0) return 0;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    fprintf(stderr, "%s: %s: %s\n", prog, dir,
            errno == EEXIST ? "exists and is not a directory" : strerror(errno));
    return 1;
}

/* Writes the dataset into dir. An existing, non-empty dir is only touched when every entry
 * already matches the generator's output (then only missing files are added: this makes a
 * repeated `make dataset` a harmless no-op) or with --force (then files the generator owns are
 * rewritten or removed, and anything else is left alone and named). Hand edits are never
 * overwritten silently. */
static int write_dataset(const char *dir, int force) {
    char path[PATH_BUF];
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        return 1;
    }
    int rc = 0, blocking = 0;
    struct dirent *e;
    /* First pass: decide; touch nothing unless the whole folder is acceptable. */
    for (errno = 0; !rc && (e = readdir(d)) != NULL; errno = 0) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int own = owner(e->d_name);
        if (own == OURS_TMP) continue; /* leftover of an interrupted run: removed below */
        const Blob *b = own == OURS ? find_blob(e->d_name) : NULL;
        if (join(path, dir, "", e->d_name, "")) {
            rc = 1;
            break;
        }
        if (b && same_content(path, b)) continue;
        if (force && own == OURS) continue; /* rewritten or removed below */
        const char *what = b              ? "differs from the generator's output"
                           : own == OURS ? "not part of this dataset"
                                         : "not written by gen_shapes";
        if (force) {
            fprintf(stderr, "%s: %s: %s; left in place\n", prog, path, what);
        } else if (++blocking <= 5) { /* name a few, not hundreds */
            fprintf(stderr, "%s: %s: %s\n", prog, path, what);
        }
    }
    if (!rc && errno) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        rc = 1;
    }
    if (!rc && blocking) {
        fprintf(stderr, "%s: %s: not empty (%d file(s) not matching its output); refusing to "
                "write (use --force)\n", prog, dir, blocking);
        rc = 1;
    }
    /* Second pass: clear leftovers and (with --force) our stale files beyond this dataset. */
    if (!rc) {
        rewinddir(d);
        while ((e = readdir(d)) != NULL) {
            int own = owner(e->d_name);
            if (own == FOREIGN || (own == OURS && find_blob(e->d_name))) continue;
            if (join(path, dir, "", e->d_name, "")) {
                rc = 1;
                break;
            }
            if (unlink(path) != 0) {
                fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
                rc = 1;
            }
        }
    }
    closedir(d);
    /* Caption before image: if a run is cut short, every image that exists has its caption
     * (kohya would otherwise train a lone image on the bare class token). */
    int written = 0;
    for (int i = 0; !rc && i < n_files; i++) {
        if (join(path, dir, "", files[i].name, "")) return 1;
        if (same_content(path, &files[i])) continue;
        rc = write_atomic(dir, &files[i]);
        written++;
    }
    if (rc) return rc;
    int fd = open(dir, O_RDONLY); /* make the renames themselves durable */
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    printf("%s: %d images with captions (%d files written, %d already up to date)\n", dir,
           n_files / 2, written, n_files - written);
    return 0;
}

static const Set *find_set(const char *name) {
    for (int i = 0; i < N_SETS; i++)
        if (strcmp(sets[i].name, name) == 0) return &sets[i];
    return NULL;
}

/* "shapes, lora": the names --set accepts, for messages. */
static const char *set_names(void) {
    static char buf[128];
    size_t n = 0;
    for (int i = 0; i < N_SETS && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", sets[i].name);
    return buf;
}

static void usage(void) {
    printf("Usage: %s [--force] OUTDIR\n"
           "       %s [--force] --set SET OUTDIR\n"
           "Writes one of tagbench's demo datasets in kohya layout, OUTDIR/FOLDER/0001.png +\n"
           "0001.txt ... (%dx%d RGB, one coloured shape on a plain background, captions such as\n"
           "\"red circle, large, gray background\"). Output is byte-identical on every run.\n"
           "\n"
           "Sets:\n",
           prog, prog, IMG, IMG);
    for (int i = 0; i < N_SETS; i++) {
        const Set *set = &sets[i];
        printf("  %-8s %sOUTDIR/%s, %d images, ", set->name, i == 0 ? "(default) " : "",
               set->subdir, set_images(set));
        for (int c = 0; c < set->n_colours; c++)
            printf("%s%s", c ? "/" : "", colours[set->colour + c].name);
        printf(":\n           %s\n", set->about);
    }
    printf("\n"
           "  --set SET  which set to write (default: %s)\n"
           "  --force    write even if OUTDIR/FOLDER holds files that differ from this\n"
           "             generator's output (they are replaced; files it did not write are kept)\n"
           "  --help     show this help\n"
           "\n"
           "Without --force an existing, non-empty FOLDER is refused unless it already matches\n"
           "the output exactly. Exit status: 0 done, 1 error or refused, 2 bad usage.\n",
           sets[0].name);
}

int main(int argc, char **argv) {
    const char *outdir = NULL;
    const Set *set = &sets[0];
    int force = 0, opts = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && strcmp(a, "--") == 0) {
            opts = 0;
        } else if (opts && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            usage();
            return 0;
        } else if (opts && strcmp(a, "--force") == 0) {
            force = 1;
        } else if (opts && strcmp(a, "--set") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "%s: '--set' needs a set name (%s)\n", prog, set_names());
                return 2;
            }
            if (!(set = find_set(argv[++i]))) {
                fprintf(stderr, "%s: unknown set '%s' (sets: %s)\n", prog, argv[i], set_names());
                return 2;
            }
        } else if (opts && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, a);
            return 2;
        } else if (!outdir) {
            outdir = a;
        } else {
            fprintf(stderr, "%s: more than one OUTDIR ('%s', '%s')\n", prog, outdir, a);
            return 2;
        }
    }
    if (!outdir || !*outdir) {
        fprintf(stderr, "Usage: %s [--force] [--set SET] OUTDIR (see --help)\n", prog);
        return 2;
    }
    char dir[PATH_BUF];
    if (join(dir, outdir, "", set->subdir, "")) return 2;
    int rc = build_all(set);
    if (!rc) rc = ensure_dir(outdir);
    if (!rc) rc = ensure_dir(dir);
    if (!rc) rc = write_dataset(dir, force);
    for (int i = 0; files && i < n_files; i++) free(files[i].data);
    free(files);
    return rc;
}

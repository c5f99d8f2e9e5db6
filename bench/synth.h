/* A synthetic kohya-style dataset for the benchmarks: N_name folders of images (a real 1x1 PNG
 * each, so `tagbench check` could probe them) with booru-style captions of 15-40 tags drawn from a
 * 20,000-tag vocabulary with a Zipf-like distribution.
 *
 * Everything derives from a fixed seed, and each caption from its own index alone, so a benchmark
 * can regenerate the exact text any caption should have (renamed or not) to check what a save
 * wrote, without holding 100k captions in memory. Header-only because the Makefile builds each
 * bench/bench_*.c on its own. */
#ifndef BENCH_SYNTH_H
#define BENCH_SYNTH_H
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_util.h"

#define SYNTH_SEED 20261123ULL
#define SYNTH_VOCAB 20000
#define SYNTH_MIN_TAGS 15
#define SYNTH_MAX_TAGS 40
#define SYNTH_FOLDERS 10
#define SYNTH_TEXT_MAX 8192 /* 40 tags of at most ~40 bytes, with room to spare */
#define SYNTH_NAME_MAX 64

typedef struct synth {
    char *root;
    size_t n_images, n_folders;
    char **vocab;           /* rank -> tag text; rank 0 is the most frequent */
    double *cdf;            /* Zipf cumulative distribution over ranks */
    uint32_t *count;        /* rank -> captions carrying it */
    uint32_t *folder_count; /* folder * SYNTH_VOCAB + rank -> captions of that folder carrying it */
    uint64_t caption_bytes;
    size_t crlf_captions;
} synth;

typedef struct synth_caption {
    uint32_t tags[SYNTH_MAX_TAGS], n; /* ranks, distinct, in caption order */
    int eol;                          /* 0: no final line ending, 1: LF, 2: CRLF */
} synth_caption;

/* splitmix64: tiny, fast, and good enough to turn (seed, index) into independent streams. */
static inline uint64_t synth_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline double synth_unit(uint64_t *s)
{
    return (double)(synth_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* The head of a real booru tag distribution, most frequent first, so that the tag the benchmark
 * renames is a believable one ("smile", "open mouth"). */
static const char *const synth_common[] = {
    "1girl", "solo", "looking at viewer", "smile", "long hair", "open mouth", "blush",
    "short hair", "simple background", "brown hair", "white background", "black hair",
    "blue eyes", "upper body", "shirt", "long sleeves", "closed mouth", "hair ornament",
    "red eyes", "blonde hair", "bangs", "holding", "standing", "jewelry", "skirt", "dress",
    "brown eyes", "outdoors", "white shirt", "hat", "1boy", "closed eyes", "sitting", "gloves",
    "full body", "multiple girls", "ribbon", "green eyes", "purple eyes", "day", "sky",
    "jacket", "collarbone", "twintails", "ponytail", "sidelocks", "teeth", "flower", "cloud",
    "indoors", "hair between eyes", "very long hair", "parted lips", "school uniform",
    "pleated skirt", "looking back", "from side", ":d", "^_^", "night", "tree", "grin",
};

static const char *const synth_colors[] = {
    "blue", "red", "green", "black", "white", "pink", "purple", "yellow", "orange", "grey",
    "silver", "aqua", "brown", "gold",
};

static const char *const synth_things[] = {
    "hair", "eyes", "dress", "shirt", "skirt", "ribbon", "bow", "gloves", "footwear", "jacket",
    "background", "flower", "headwear", "nails", "thighhighs", "sleeves", "cape", "scarf",
    "necktie", "hairband", "umbrella", "book", "cup", "sword", "bag", "fan", "staff", "phone",
};

static const char *const synth_syllables[64] = {
    "ka", "ki", "ku", "ke", "ko", "sa", "shi", "su", "se", "so", "ta", "chi", "tsu", "te", "to",
    "na", "ni", "nu", "ne", "no", "ha", "hi", "fu", "he", "ho", "ma", "mi", "mu", "me", "mo",
    "ya", "yu", "yo", "ra", "ri", "ru", "re", "ro", "wa", "ga", "gi", "gu", "ge", "go", "za",
    "ji", "zu", "ze", "zo", "da", "de", "do", "ba", "bi", "bu", "be", "bo", "pa", "pi", "pu",
    "pe", "po", "n", "ai",
};

#define SYNTH_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A pseudo-word unique to j (j < 64^3): the tail of the vocabulary, character and artist names. */
static inline void synth_word(uint32_t j, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s", synth_syllables[j % 64], synth_syllables[j / 64 % 64],
             synth_syllables[j / 4096 % 64]);
}

/* Tag text of a tail rank: artist, character (series), "<name> <thing>" or "<color> <name>".
 * Each contains its unique pseudo-word, so no two tail tags are equal. */
static inline void synth_tail_tag(uint32_t j, char *out, size_t size)
{
    char w[12], series[12]; /* three syllables of at most 3 letters */
    synth_word(j, w, sizeof w);
    synth_word(4096 + j / 97 % 1024, series, sizeof series);
    switch (j % 4) {
    case 0: snprintf(out, size, "%s", w); break;
    case 1: snprintf(out, size, "%s (%s)", w, series); break;
    case 2: snprintf(out, size, "%s %s", w, synth_things[j % SYNTH_LEN(synth_things)]); break;
    default: snprintf(out, size, "%s %s", synth_colors[j % SYNTH_LEN(synth_colors)], w); break;
    }
}

/* Candidate c of the vocabulary: the common head, then color combinations, then the tail. */
static inline void synth_tag_text(uint32_t c, char *out, size_t size)
{
    size_t nc = SYNTH_LEN(synth_common), nk = SYNTH_LEN(synth_colors) * SYNTH_LEN(synth_things);
    if (c < nc)
        snprintf(out, size, "%s", synth_common[c]);
    else if (c < nc + nk)
        snprintf(out, size, "%s %s", synth_colors[(c - nc) % SYNTH_LEN(synth_colors)],
                 synth_things[(c - nc) / SYNTH_LEN(synth_colors)]);
    else
        synth_tail_tag((uint32_t)(c - nc - nk), out, size);
}

static inline bool synth_is_common(const char *t)
{
    for (size_t k = 0; k < SYNTH_LEN(synth_common); k++)
        if (strcmp(synth_common[k], t) == 0)
            return true;
    return false;
}

static inline int synth_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two equal tags would make the generator's counts disagree with any correct reader. */
static inline bool synth_vocab_unique(char **vocab)
{
    char **sorted = malloc(sizeof *sorted * SYNTH_VOCAB);
    bool ok = sorted != NULL;
    if (ok) {
        memcpy(sorted, vocab, sizeof *sorted * SYNTH_VOCAB);
        qsort(sorted, SYNTH_VOCAB, sizeof *sorted, synth_str_cmp);
    }
    for (size_t r = 1; ok && r < SYNTH_VOCAB; r++)
        ok = strcmp(sorted[r - 1], sorted[r]) != 0;
    free(sorted);
    return ok;
}

static inline int synth_vocab_build(synth *s)
{
    s->vocab = calloc(SYNTH_VOCAB, sizeof *s->vocab);
    s->cdf = malloc(sizeof *s->cdf * SYNTH_VOCAB);
    if (!s->vocab || !s->cdf)
        return -1;
    double total = 0;
    for (uint32_t c = 0, r = 0; r < SYNTH_VOCAB; c++) {
        char buf[SYNTH_NAME_MAX];
        synth_tag_text(c, buf, sizeof buf);
        if (c >= SYNTH_LEN(synth_common) && synth_is_common(buf))
            continue; /* "blue eyes" is both a common tag and a color combination */
        if (!(s->vocab[r] = strdup(buf)))
            return -1;
        total += 1.0 / (r + 1.0); /* Zipf, exponent 1: rank r is drawn with weight 1/(r+1) */
        s->cdf[r++] = total;
    }
    for (uint32_t r = 0; r < SYNTH_VOCAB; r++)
        s->cdf[r] /= total;
    return synth_vocab_unique(s->vocab) ? 0 : (errno = EINVAL, -1);
}

static inline uint32_t synth_draw_rank(const synth *s, uint64_t *rng)
{
    double u = synth_unit(rng);
    uint32_t lo = 0, hi = SYNTH_VOCAB - 1;
    while (lo < hi) { /* first rank whose cumulative weight exceeds u */
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Caption i: its tags and line ending, from (seed, i) alone. */
static inline void synth_caption_of(const synth *s, size_t i, synth_caption *c)
{
    uint64_t rng = SYNTH_SEED ^ ((uint64_t)i * 0xd1342543de82ef95ULL);
    c->n = 0;
    uint32_t want = SYNTH_MIN_TAGS + (uint32_t)(synth_rand(&rng) % (SYNTH_MAX_TAGS - SYNTH_MIN_TAGS + 1));
    while (c->n < want) {
        uint32_t r = synth_draw_rank(s, &rng), k = 0;
        while (k < c->n && c->tags[k] != r)
            k++;
        if (k == c->n) /* a booru caption names a tag once */
            c->tags[c->n++] = r;
    }
    uint64_t style = synth_rand(&rng) % 10; /* 10% CRLF (Windows tools), 30% no final newline */
    c->eol = style == 0 ? 2 : style < 7 ? 1 : 0;
}

/* The caption's text as a tagger writes it; with `from` renamed to `to` when from < SYNTH_VOCAB.
 * Returns the length. */
static inline size_t synth_text(const synth *s, const synth_caption *c, uint32_t from,
                                const char *to, char *out)
{
    size_t len = 0;
    for (uint32_t k = 0; k < c->n; k++) {
        const char *t = c->tags[k] == from ? to : s->vocab[c->tags[k]];
        len += (size_t)sprintf(out + len, "%s%s", k ? ", " : "", t);
    }
    len += (size_t)sprintf(out + len, "%s", c->eol == 2 ? "\r\n" : c->eol == 1 ? "\n" : "");
    return len;
}

/* Captions are spread evenly over the folders, the first ones taking the remainder. */
static inline size_t synth_folder_first(const synth *s, size_t f)
{
    size_t per = s->n_images / s->n_folders, extra = s->n_images % s->n_folders;
    return f * per + (f < extra ? f : extra);
}

static inline size_t synth_folder_of(const synth *s, size_t i)
{
    size_t f = 0;
    while (f + 1 < s->n_folders && synth_folder_first(s, f + 1) <= i)
        f++;
    return f;
}

/* kohya `N_name` folder: N repeats, class tokens "synthNN person". */
static inline void synth_folder_name(size_t f, char *out, size_t size)
{
    snprintf(out, size, "%zu_synth%02zu person", 1 + f % 10, f);
}

/* root/folder/NNNNNN.ext */
static inline void synth_file_path(const synth *s, size_t i, const char *ext, char *out, size_t size)
{
    char folder[SYNTH_NAME_MAX];
    synth_folder_name(synth_folder_of(s, i), folder, sizeof folder);
    snprintf(out, size, "%s/%s/%06zu%s", s->root, folder, i, ext);
}

static inline int synth_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, data, len); /* small files: one write, checked below */
    int rc = close(fd);
    return w == (ssize_t)len && rc == 0 ? 0 : -1;
}

/* A valid 1x1 RGBA PNG: the scanner pairs by name, but the file should still be an image. */
static const unsigned char synth_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
    0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
    0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
    0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static inline int synth_write_item(synth *s, size_t i, char *text)
{
    synth_caption c;
    synth_caption_of(s, i, &c);
    size_t f = synth_folder_of(s, i), len = synth_text(s, &c, SYNTH_VOCAB, NULL, text);
    for (uint32_t k = 0; k < c.n; k++) {
        s->count[c.tags[k]]++;
        s->folder_count[f * SYNTH_VOCAB + c.tags[k]]++;
    }
    s->caption_bytes += len;
    s->crlf_captions += c.eol == 2;
    char path[PATH_MAX];
    synth_file_path(s, i, ".png", path, sizeof path);
    if (synth_write_file(path, synth_png, sizeof synth_png) < 0)
        return -1;
    synth_file_path(s, i, ".txt", path, sizeof path);
    return synth_write_file(path, text, len);
}

static inline int synth_make_folders(const synth *s)
{
    for (size_t f = 0; f < s->n_folders; f++) {
        char folder[SYNTH_NAME_MAX], path[PATH_MAX];
        synth_folder_name(f, folder, sizeof folder);
        snprintf(path, sizeof path, "%s/%s", s->root, folder);
        if (mkdir(path, 0755) < 0)
            return -1;
    }
    return 0;
}

/* Makes a fresh folder under $TMPDIR (or /tmp) and writes the dataset into it, with a progress
 * line on stderr every 10%. Returns 0, or -1 with errno set. */
static inline int synth_generate(synth *s, size_t n_images)
{
    memset(s, 0, sizeof *s);
    const char *tmp = getenv("TMPDIR");
    s->n_images = n_images;
    s->n_folders = n_images >= SYNTH_FOLDERS ? SYNTH_FOLDERS : 1;
    s->count = calloc(SYNTH_VOCAB, sizeof *s->count);
    s->folder_count = calloc(SYNTH_VOCAB * s->n_folders, sizeof *s->folder_count);
    char *text = malloc(SYNTH_TEXT_MAX);
    if (asprintf(&s->root, "%s/tagbench-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        s->root = NULL;
    int rc = s->count && s->folder_count && text && s->root && mkdtemp(s->root) &&
             synth_vocab_build(s) == 0 && synth_make_folders(s) == 0 ? 0 : -1;
    for (size_t i = 0; i < n_images && rc == 0; i++) {
        rc = synth_write_item(s, i, text);
        if ((i + 1) % (n_images / 10 ? n_images / 10 : 1) == 0)
            fprintf(stderr, "generate: %zu/%zu captions\n", i + 1, n_images);
    }
    free(text);
    return rc;
}

/* rm -rf the dataset's root */
static inline int synth_remove(const synth *s)
{
    return bench_remove_tree(s->root);
}

static inline void synth_free(synth *s)
{
    for (size_t r = 0; s->vocab && r < SYNTH_VOCAB; r++)
        free(s->vocab[r]);
    free(s->vocab);
    free(s->cdf);
    free(s->count);
    free(s->folder_count);
    free(s->root);
    memset(s, 0, sizeof *s);
}

#endif

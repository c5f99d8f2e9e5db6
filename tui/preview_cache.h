/* Private to preview*.c: the cache of decoded, resized and encoded previews, and the worker
 * thread that fills it ahead of time. */
#ifndef TUI_PREVIEW_CACHE_H
#define TUI_PREVIEW_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/image.h"
#include "tui/gfx_encode.h"
#include "tui/term_caps.h"

/* Everything the result depends on; the file's mtime and size make a rewritten file (a sample
 * image the trainer just replaced) a new key. */
typedef struct pv_spec {
    char *path;
    long long mtime_ns, size;
    int rows, cols;
    int cell_w, cell_h;
    gfx_mode mode;
    int colors;     /* sixel registers */
    bool wrap;      /* tmux passthrough */
    bool truecolor; /* blocks as 0xRRGGBB */
    uint64_t hash;  /* of all the above, to skip most comparisons */
} pv_spec;

/* A result; immutable once built, shared by reference count. */
typedef struct pv_entry {
    pv_spec key;
    int pw, ph, used_cols, used_rows;
    image img;      /* kitty: the resized pixels (encoded per placement id at emit) */
    gfx_buf sixel;  /* sixel: the stream */
    gfx_cell *cells;/* blocks: used_cols x used_rows */
    char *error;    /* set when the file cannot be shown */
    size_t bytes;
    int refs;       /* holders outside the cache */
    bool cached;    /* still in the cache's list */
    struct pv_entry *prev, *next;
} pv_entry;

typedef struct pv_cache pv_cache;

pv_cache *pv_cache_new(size_t limit_bytes);
void pv_cache_free(pv_cache *c);
/* The entry for s, built on this thread on a miss (unless the worker is building it right now:
 * then we wait for that one). Referenced: give it back with pv_entry_release. NULL on OOM. */
pv_entry *pv_cache_get(pv_cache *c, const pv_spec *s);
void pv_entry_release(pv_cache *c, pv_entry *e);
/* Queues s for the worker (started on first use) unless cached or queued. */
void pv_cache_prefetch(pv_cache *c, const pv_spec *s);
/* Drops every entry whose cell size or mode differs from these. */
void pv_cache_drop_other(pv_cache *c, int cell_w, int cell_h, gfx_mode mode);
size_t pv_cache_bytes(pv_cache *c);

/* Spec copy/free (the path is duplicated); hash filled by pv_spec_hash. */
int pv_spec_copy(pv_spec *dst, const pv_spec *src);
void pv_spec_free(pv_spec *s);
void pv_spec_hash(pv_spec *s);
bool pv_spec_equal(const pv_spec *a, const pv_spec *b);
/* Decode + fit + resize + encode. Never NULL unless out of memory; a failure is an entry with
 * error set. Thread-safe (touches no shared state). */
pv_entry *pv_entry_build(const pv_spec *s);
void pv_entry_free(pv_entry *e);

#endif

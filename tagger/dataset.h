/* A dataset: a folder of images with caption files beside them, scanned recursively, in kohya's
 * layout when its sub-folders are named `N_name` (N repeats, class tokens `name`). Captions are
 * read at open (tags interned to ids); image headers are probed only when asked.
 *
 * Edits go through dataset_apply (edit.h) as undoable steps, are journaled on disk as they happen
 * (a crash loses nothing: dataset_journal_* replays them), and reach the caption files only through
 * dataset_save, which writes atomically and refuses to overwrite a file changed on disk since it
 * was read. The structs are visible for fast read-only access; change them only through these
 * functions. */
#ifndef TAGGER_DATASET_H
#define TAGGER_DATASET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"
#include "tagger/private/dict.h"

typedef struct ds_folder {
    char *rel;          /* path relative to the dataset root; "" for the root itself */
    char *name;         /* basename (what kohya keys ss_tag_frequency by); "." for the root */
    int repeats;        /* N of an `N_name` folder directly under the root; 0 otherwise */
    char *class_tokens; /* `name` of an `N_name` folder; NULL otherwise */
    uint32_t n_items;
} ds_folder;

typedef struct ds_item {
    char *image;            /* image path relative to the root */
    char *caption;          /* caption path relative to the root (the file may not exist) */
    uint32_t folder;
    uint32_t *tags, n_tags, cap_tags;  /* current tags (tag ids, in order) */
    uint32_t *orig, n_orig; /* tags as on disk; set on the first edit (NULL: never edited) */
    char *rest;             /* caption lines after the first, kept verbatim */
    uint32_t rest_len;
    uint64_t disk_hash;     /* hash of the caption bytes as read (0 when there is no file) */
    uint8_t has_file, bom, crlf, trailing_eol;
    uint8_t dirty;          /* current tags differ from the file */
    uint8_t locked;         /* caption unreadable: shown, never edited */
    int32_t w, h;           /* image size; 0 = not probed yet, -1 = probe failed */
} ds_item;

typedef enum ds_note_kind {
    NOTE_ORPHAN_CAPTION, /* caption file without an image */
    NOTE_SKIPPED,        /* a file or folder left out, with the reason */
    NOTE_UNREADABLE,     /* could not be read */
    NOTE_STALE_TEMP,     /* a temporary file of a save that was interrupted (see save.h) */
} ds_note_kind;

typedef struct ds_note {
    ds_note_kind kind;
    char *path;   /* relative to the root */
    char *reason;
} ds_note;

typedef struct history history;
typedef struct journal journal;

typedef struct dataset {
    char *root;
    char *caption_ext;      /* ".txt" by default */
    ds_item *items;
    size_t n_items;
    ds_folder *folders;
    size_t n_folders;
    ds_note *notes;
    size_t n_notes;
    dict tags;              /* tag id <-> text */
    uint32_t *occ;          /* tag id -> number of images carrying it (kept current on edits) */
    uint32_t occ_cap;
    struct occ_folder_map *occ_folder; /* (folder, tag) -> images; built on first use */
    uint32_t *mark;         /* scratch: per tag id, for de-duplicating one caption's tags */
    uint32_t mark_epoch;
    history *hist;
    journal *jr;
    size_t n_dirty;
} dataset;

typedef struct dataset_opts {
    const char *caption_ext; /* NULL = ".txt"; a missing leading dot is added */
} dataset_opts;

/* Scans root. A folder that cannot be read, a symlink loop, a skipped file or an orphan caption
 * becomes a note, not an error; an error is returned only when root itself cannot be opened.
 * Returns NULL with err set. */
dataset *dataset_open(const char *root, const dataset_opts *opts, tg_error *err);
void dataset_close(dataset *ds);

/* Tag text of an item's k-th tag. */
static inline const char *dataset_tag(const dataset *ds, const ds_item *it, uint32_t k)
{
    return dict_str(&ds->tags, it->tags[k]);
}
/* Number of tag ids (ids run 0..n-1; a tag no image carries any more keeps its id, count 0). */
static inline uint32_t dataset_n_tags(const dataset *ds)
{
    return ds->tags.n;
}

/* Id of a tag spelled exactly `text`, or -1 when no image ever had it. */
long dataset_tag_id(const dataset *ds, const char *text);

/* Absolute-ish path (root joined with rel), malloc'd. */
char *dataset_path(const dataset *ds, const char *rel);
/* Reads the image header of item i (if not done yet); returns 0 or -1 with err. */
int dataset_probe(dataset *ds, size_t i, tg_error *err);
/* The text dataset_save would write for the item: its tags in canonical form, with the file's
 * BOM, line ending, final newline and extra lines kept. malloc'd; NULL when out of memory. */
char *dataset_caption_text(const dataset *ds, size_t i, size_t *len);

/* The bytes of item i's caption file as they are on disk now (an empty string when it has none),
 * malloc'd and NUL-terminated, length in *len; NULL with err (naming the file) when unreadable. */
char *dataset_caption_read(const dataset *ds, size_t i, size_t *len, tg_error *err);

/* Occurrence: number of images carrying tag id (whole dataset, or one folder). The first
 * per-folder question builds the per-folder counts (not thread-safe, like everything here). */
uint32_t dataset_occurrence(const dataset *ds, uint32_t tag);
uint32_t dataset_folder_occurrence(const dataset *ds, uint32_t folder, uint32_t tag);

#endif

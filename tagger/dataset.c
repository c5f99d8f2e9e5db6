/* Dataset lifetime and the small accessors; scanning, reading, editing, saving and the journal
 * live in their own files. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/caption.h"
#include "tagger/private/history.h"
#include "tagger/image.h"
#include "tagger/journal.h"
#include "tagger/private/journal_write.h"
#include "tagger/private/dataset_build.h"

char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

int messages_add(char ***list, size_t *n, char *msg)
{
    char **m = msg ? realloc(*list, sizeof *m * (*n + 1)) : NULL;
    if (!m) {
        free(msg);
        return -1;
    }
    *list = m;
    m[(*n)++] = msg;
    return 0;
}

int dataset_add_note(dataset *ds, ds_note_kind kind, const char *path, const char *reason)
{
    ds_note *ns = realloc(ds->notes, sizeof *ns * (ds->n_notes + 1));
    if (!ns)
        return -1;
    ds->notes = ns;
    ds_note *n = &ns[ds->n_notes];
    n->kind = kind;
    n->path = strdup(*path ? path : ".");
    n->reason = strdup(reason);
    if (!n->path || !n->reason)
        return -1;
    ds->n_notes++;
    return 0;
}

static char *ext_normalise(const char *ext)
{
    if (!ext || !*ext)
        return strdup(".txt");
    return ext[0] == '.' ? strdup(ext) : str_printf(".%s", ext);
}

dataset *dataset_open(const char *root, const dataset_opts *opts, tg_error *err)
{
    dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        error_set(err, "out of memory");
        return NULL;
    }
    dict_init(&ds->tags);
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--; /* "dir/" and "dir" name the same dataset */
    ds->root = str_printf("%.*s", (int)rl, root);
    ds->caption_ext = ext_normalise(opts ? opts->caption_ext : NULL);
    ds->hist = history_new();
    if (!ds->root || !ds->caption_ext || !ds->hist) {
        error_set(err, "out of memory");
        dataset_close(ds);
        return NULL;
    }
    int rc = dataset_scan(ds, err);
    if (rc == 0 && dataset_read_captions(ds) < 0)
        rc = error_set(err, "%s: out of memory while reading captions", root);
    if (rc < 0) {
        dataset_close(ds);
        return NULL;
    }
    return ds;
}

static void item_free(ds_item *it)
{
    free(it->image);
    free(it->caption);
    free(it->tags);
    free(it->orig);
    free(it->rest);
}

void dataset_close(dataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n_items; i++)
        item_free(&ds->items[i]);
    for (size_t i = 0; i < ds->n_folders; i++) {
        free(ds->folders[i].rel);
        free(ds->folders[i].name);
        free(ds->folders[i].class_tokens);
    }
    for (size_t i = 0; i < ds->n_notes; i++) {
        free(ds->notes[i].path);
        free(ds->notes[i].reason);
    }
    journal_close(ds->jr);
    history_free(ds->hist);
    occ_free(ds);
    dict_free(&ds->tags);
    free(ds->items);
    free(ds->folders);
    free(ds->notes);
    free(ds->root);
    free(ds->caption_ext);
    free(ds);
}

char *dataset_path(const dataset *ds, const char *rel)
{
    return str_printf("%s/%s", ds->root, rel);
}

int dataset_probe(dataset *ds, size_t i, tg_error *err)
{
    ds_item *it = &ds->items[i];
    if (it->w > 0)
        return 0;
    char *path = dataset_path(ds, it->image);
    if (!path)
        return error_set(err, "out of memory");
    image_info info;
    int rc = image_probe(path, &info, err);
    free(path);
    it->w = rc == 0 ? info.w : -1;
    it->h = rc == 0 ? info.h : -1;
    return rc;
}

static bool tags_equal(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, sizeof *a * na) == 0);
}

int item_set_tags(dataset *ds, ds_item *it, const uint32_t *tags, uint32_t n)
{
    if (n > it->cap_tags) {
        uint32_t *t = realloc(it->tags, sizeof *t * n);
        if (!t)
            return -1;
        it->tags = t;
        it->cap_tags = n;
    }
    if (occ_add_item(ds, it, -1) < 0)
        return -1;
    if (n)
        memmove(it->tags, tags, sizeof *tags * n);
    it->n_tags = n;
    if (occ_add_item(ds, it, +1) < 0)
        return -1;
    uint8_t dirty = it->orig ? !tags_equal(it->tags, n, it->orig, it->n_orig) : 0;
    ds->n_dirty += (size_t)dirty - (size_t)it->dirty;
    it->dirty = dirty;
    return 0;
}

char *dataset_caption_text(const dataset *ds, size_t i, size_t *len)
{
    const ds_item *it = &ds->items[i];
    caption_layout l = it->has_file
        ? (caption_layout){it->bom, it->crlf, it->trailing_eol, it->rest, it->rest_len}
        : caption_layout_new();
    const char **strs = malloc(sizeof *strs * (it->n_tags + 1));
    uint32_t *lens = malloc(sizeof *lens * (it->n_tags + 1));
    char *text = NULL;
    if (strs && lens) {
        for (uint32_t k = 0; k < it->n_tags; k++) {
            strs[k] = dict_str(&ds->tags, it->tags[k]);
            lens[k] = dict_len(&ds->tags, it->tags[k]);
        }
        text = caption_format(strs, lens, it->n_tags, &l, len);
    }
    free(strs);
    free(lens);
    return text;
}

long dataset_tag_id(const dataset *ds, const char *text)
{
    uint32_t id = dict_find(&ds->tags, text, strlen(text));
    return id == DICT_NONE ? -1 : (long)id;
}

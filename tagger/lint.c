/* The checks of dataset_lint, one function per family: notes from the scan, the layout kohya
 * expects, each caption file's bytes, each image, and tags that are variants of one another. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/caption.h"
#include "tagger/image.h"
#include "tagger/lint.h"
#include "tagger/private/dataset_build.h"

__attribute__((format(printf, 5, 6)))
static int add(lint_report *rep, lint_severity sev, const char *code, const char *path,
               const char *fmt, ...)
{
    lint_finding *f = realloc(rep->f, sizeof *f * (rep->n + 1));
    if (!f)
        return -1;
    rep->f = f;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    f[rep->n] = (lint_finding){sev, code, strdup(*path ? path : "."), msg};
    if (!f[rep->n].path || !msg) {
        free(f[rep->n].path);
        free(msg);
        return -1;
    }
    rep->n++;
    rep->count[sev]++;
    return 0;
}

static int lint_notes(const dataset *ds, lint_report *rep)
{
    int rc = 0;
    for (size_t i = 0; i < ds->n_notes && rc == 0; i++) {
        const ds_note *n = &ds->notes[i];
        if (n->kind == NOTE_ORPHAN_CAPTION)
            rc = add(rep, LINT_WARNING, "orphan-caption", n->path, "%s", n->reason);
        else if (n->kind == NOTE_SKIPPED)
            rc = add(rep, LINT_WARNING, "skipped", n->path, "%s", n->reason);
        else if (n->kind == NOTE_STALE_TEMP)
            rc = add(rep, LINT_WARNING, "stale-temp", n->path, "%s", n->reason);
        else
            rc = add(rep, LINT_ERROR, "unreadable", n->path, "%s", n->reason);
    }
    return rc;
}

static int lint_layout(const dataset *ds, lint_report *rep)
{
    size_t kohya = 0;
    for (size_t f = 0; f < ds->n_folders; f++)
        kohya += ds->folders[f].repeats > 0;
    int rc = 0;
    if (ds->n_items == 0)
        rc = add(rep, LINT_ERROR, "no-images", "", "no images found (looked for .png .jpg .jpeg .bmp .webp)");
    for (size_t f = 0; f < ds->n_folders && rc == 0; f++) {
        const ds_folder *fd = &ds->folders[f];
        if (!fd->n_items || fd->repeats > 0)
            continue;
        if (!*fd->rel && kohya)
            rc = add(rep, LINT_WARNING, "kohya-layout", "", "%u image(s) directly in the dataset "
                     "folder: kohya reads only its N_name sub-folders", fd->n_items);
        else if (*fd->rel && !strchr(fd->rel, '/'))
            rc = add(rep, LINT_WARNING, "kohya-layout", fd->rel, "not named N_name (repeats_class): "
                     "kohya skips this folder when it is train_data_dir's sub-folder");
        else if (*fd->rel)
            rc = add(rep, LINT_WARNING, "kohya-layout", fd->rel, "nested folder: kohya does not look "
                     "into sub-folders of its N_name folders");
    }
    return rc;
}

static int lint_text(const ds_item *it, const caption *c, const char *text, lint_report *rep)
{
    const char *p = it->caption;
    int rc = 0;
    if (c->n == 0)
        rc = add(rep, LINT_ERROR, "empty-caption", p, "no tags: kohya stops with an assertion on an "
                 "empty caption file");
    if (rc == 0 && c->bom)
        rc = add(rep, LINT_WARNING, "bom", p, "starts with a UTF-8 BOM: kohya and TagGUI read it as "
                 "part of the first tag");
    if (rc == 0 && c->crlf)
        rc = add(rep, LINT_INFO, "crlf", p, "Windows line endings (CRLF); kept when edited");
    if (rc == 0 && c->non_utf8)
        rc = add(rep, LINT_ERROR, "non-utf8", p, "bytes that are not UTF-8: kohya fails to read it");
    if (rc == 0 && c->multiline)
        rc = add(rep, LINT_WARNING, "multi-line", p, "more than one line: kohya uses only the first "
                 "unless enable_wildcard picks one at random");
    if (rc == 0 && c->empty_tags)
        rc = add(rep, LINT_WARNING, "empty-tag", p, "empty tag between commas (\"a,,b\" or a "
                 "trailing comma)");
    if (rc == 0 && c->duplicates)
        rc = add(rep, LINT_WARNING, "duplicate-tag", p, "a tag appears twice: kohya trains it twice "
                 "and counts it twice in ss_tag_frequency");
    for (size_t k = 0; k < c->n && rc == 0; k++) {
        const char *t = text + c->tags[k].off;
        size_t n = c->tags[k].len;
        if (memchr(t, ';', n) || memchr(t, '\t', n) || memchr(t, '|', n))
            rc = add(rep, LINT_WARNING, "separator", p, "tag \"%.*s\" holds ';', '|' or a tab: "
                     "another separator mixed with commas?", (int)(n > 60 ? 60 : n), t);
    }
    return rc;
}

static int lint_captions(dataset *ds, lint_report *rep, size_t *spaced, size_t *tight)
{
    int rc = 0;
    for (size_t i = 0; i < ds->n_items && rc == 0; i++) {
        const ds_item *it = &ds->items[i];
        if (!it->has_file) {
            const ds_folder *f = &ds->folders[it->folder];
            rc = f->class_tokens
                ? add(rep, LINT_WARNING, "missing-caption", it->image, "no %s file: kohya trains it "
                      "with the class tokens \"%s\"", ds->caption_ext, f->class_tokens)
                : add(rep, LINT_WARNING, "missing-caption", it->image, "no %s file: it trains with "
                      "an empty caption", ds->caption_ext);
            continue;
        }
        size_t len;
        char *text = it->locked ? NULL : dataset_caption_read(ds, i, &len, NULL);
        if (!text)
            continue; /* unreadable: already a note from the scan */
        caption c;
        rc = caption_parse(text, len, &c);
        if (rc == 0) {
            rc = lint_text(it, &c, text, rep);
            if (c.n > 1)
                (memmem(text, len, ", ", 2) ? (*spaced)++ : (*tight)++);
            caption_free(&c);
        }
        free(text);
    }
    return rc;
}

/* Image errors start with the path they were given; the finding names the file already. */
static const char *msg_without_path(const char *msg, const char *path)
{
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

static int lint_images(dataset *ds, const lint_opts *o, lint_report *rep)
{
    int rc = 0;
    for (size_t i = 0; i < ds->n_items && rc == 0; i++) {
        if (o->progress && i % 256 == 0)
            o->progress(o->progress_ctx, i, ds->n_items);
        tg_error e;
        image img;
        char *path = dataset_path(ds, ds->items[i].image);
        if (!path)
            return -1;
        if (dataset_probe(ds, i, &e) < 0)
            rc = add(rep, LINT_ERROR, "bad-image", ds->items[i].image, "%s", msg_without_path(e.msg, path));
        else if (o->decode && image_load(path, &img, &e) < 0)
            rc = add(rep, strstr(e.msg, "WebP") ? LINT_INFO : LINT_ERROR, "bad-image",
                     ds->items[i].image, "%s", msg_without_path(e.msg, path));
        else if (o->decode)
            image_free(&img);
        free(path);
    }
    if (o->progress)
        o->progress(o->progress_ctx, ds->n_items, ds->n_items);
    return rc;
}

/* The key two spellings of one tag share: lower case, '_' as space. */
static char *variant_key(const char *s)
{
    char *k = strdup(s);
    for (char *p = k; k && *p; p++)
        *p = *p == '_' ? ' ' : (char)tolower((unsigned char)*p);
    return k;
}

static int lint_variants(const dataset *ds, lint_report *rep)
{
    dict keys;
    dict_init(&keys);
    uint32_t *first = malloc(sizeof *first * (ds->tags.n + 1)); /* key id -> first tag id */
    int rc = first ? 0 : -1;
    for (uint32_t t = 0; t < ds->tags.n && rc == 0; t++) {
        if (!dataset_occurrence(ds, t))
            continue;
        char *k = variant_key(dict_str(&ds->tags, t));
        uint32_t n_before = keys.n, id = k ? dict_intern(&keys, k, strlen(k)) : DICT_NONE;
        free(k);
        if (id == DICT_NONE)
            rc = -1;
        else if (id == n_before)
            first[id] = t;
        else
            rc = add(rep, LINT_WARNING, "tag-variants", "", "\"%s\" (%u image(s)) and \"%s\" (%u) "
                     "differ only in case or '_': kohya trains them as different tags",
                     dict_str(&ds->tags, first[id]), dataset_occurrence(ds, first[id]),
                     dict_str(&ds->tags, t), dataset_occurrence(ds, t));
    }
    free(first);
    dict_free(&keys);
    return rc;
}

int dataset_lint(dataset *ds, const lint_opts *o, lint_report *rep, tg_error *err)
{
    lint_opts defaults = {0};
    o = o ? o : &defaults;
    memset(rep, 0, sizeof *rep);
    size_t spaced = 0, tight = 0;
    int rc = lint_notes(ds, rep);
    if (rc == 0)
        rc = lint_layout(ds, rep);
    if (rc == 0)
        rc = lint_captions(ds, rep, &spaced, &tight);
    if (rc == 0 && spaced && tight)
        rc = add(rep, LINT_WARNING, "mixed-separators", "", "%zu caption(s) separate tags with "
                 "\", \" and %zu with \",\" alone (TagGUI splits on \", \" and reads those as one "
                 "tag)", spaced, tight);
    if (rc == 0)
        rc = lint_images(ds, o, rep);
    if (rc == 0)
        rc = lint_variants(ds, rep);
    return rc < 0 ? error_set(err, "out of memory while checking") : 0;
}

void lint_report_free(lint_report *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        free(rep->f[i].path);
        free(rep->f[i].message);
    }
    free(rep->f);
    memset(rep, 0, sizeof *rep);
}

const char *lint_severity_name(lint_severity s)
{
    return s == LINT_ERROR ? "error" : s == LINT_WARNING ? "warning" : "info";
}

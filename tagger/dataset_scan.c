/* Walking the dataset folder: images paired with captions, kohya `N_name` folders, notes for
 * everything left out. Entries are visited in byte order of their names so that a dataset always
 * opens in the same order (kohya sorts its glob too). Hidden entries (dot files, our own
 * `.tagbench` folder) are skipped; symlinked folders are followed unless they loop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/image.h"
#include "tagger/private/dataset_build.h"
#include "tagger/save.h"

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id;

typedef struct scan {
    dataset *ds;
    dir_id stack[256]; /* folders on the current path, to detect symlink loops */
    int depth;
    size_t items_cap;
} scan;

typedef struct entry {
    char *name;
    unsigned char is_dir;
    unsigned char stale;  /* a save's leftover temporary file (hidden, but worth a note) */
    unsigned char d_type; /* from readdir: DT_UNKNOWN or DT_LNK need a stat to tell a folder */
} entry;

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static char *path_join(const char *a, const char *b)
{
    return *a ? str_printf("%s/%s", a, b) : strdup(b);
}

/* kohya: a folder directly under the root named N_name gives N repeats and class tokens name. */
static void folder_parse_kohya(ds_folder *f, int top_level)
{
    const char *us = strchr(f->name, '_');
    if (!top_level || !us || us == f->name)
        return;
    char *end;
    long n = strtol(f->name, &end, 10);
    if (end != us || n < 1 || n > 1000000)
        return;
    f->repeats = (int)n;
    f->class_tokens = strdup(us + 1);
}

static int folder_add(dataset *ds, const char *rel, int top_level)
{
    ds_folder *fs = realloc(ds->folders, sizeof *fs * (ds->n_folders + 1));
    if (!fs)
        return -1;
    ds->folders = fs;
    ds_folder *f = &fs[ds->n_folders];
    memset(f, 0, sizeof *f);
    f->rel = strdup(rel);
    const char *slash = strrchr(rel, '/');
    f->name = strdup(*rel ? (slash ? slash + 1 : rel) : ".");
    if (!f->rel || !f->name)
        return -1;
    folder_parse_kohya(f, top_level);
    return (int)ds->n_folders++;
}

static int list_dir(int fd, entry **out, size_t *n)
{
    int dupfd = dup(fd);
    DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
    if (!d) {
        if (dupfd >= 0)
            close(dupfd);
        return -1;
    }
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        bool stale = save_temp_name(e->d_name);
        if (e->d_name[0] == '.' && !stale)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            entry *t = realloc(*out, sizeof *t * cap);
            if (!t)
                goto oom;
            *out = t;
        }
        if (!((*out)[*n].name = strdup(e->d_name)))
            goto oom;
        (*out)[*n].d_type = e->d_type;
        (*out)[*n].stale = stale;
        (*out)[(*n)++].is_dir = e->d_type == DT_DIR;
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, *n, sizeof **out, entry_cmp);
    return 0;
oom:
    closedir(d);
    for (size_t k = 0; k < *n; k++)
        free((*out)[k].name);
    free(*out);
    *out = NULL;
    *n = 0;
    errno = ENOMEM;
    return -1;
}

static bool name_has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcmp(name + n - e, ext) == 0;
}

/* Caption name of an image: same stem (text before the last dot) + the caption extension. */
static char *caption_name(const char *img, const char *ext)
{
    const char *dot = strrchr(img, '.');
    size_t stem = dot ? (size_t)(dot - img) : strlen(img);
    return str_printf("%.*s%s", (int)stem, img, ext);
}

/* Image formats people put in datasets that we do not read: say so instead of ignoring them. */
static int note_unsupported(dataset *ds, const char *rel, const char *name)
{
    static const char *exts[] = {".gif", ".tif", ".tiff", ".avif", ".jxl", ".heic", ".heif", ".jfif"};
    const char *dot = strrchr(name, '.');
    for (size_t k = 0; dot && k < sizeof exts / sizeof exts[0]; k++) {
        if (strcasecmp(dot, exts[k]) != 0)
            continue;
        char *p = path_join(rel, name);
        int rc = p ? dataset_add_note(ds, NOTE_SKIPPED, p, "image format not supported (PNG, JPEG, "
                                      "BMP and WebP are)") : -1;
        free(p);
        return rc;
    }
    return 0;
}

static entry *find_entry(entry *es, size_t n, const char *name)
{
    entry key = {(char *)name, 0, 0, 0};
    return bsearch(&key, es, n, sizeof *es, entry_cmp);
}

static int item_add(scan *s, const char *rel, const char *img, const char *cap,
                    bool cap_exists, uint32_t folder)
{
    dataset *ds = s->ds;
    if (ds->n_items == s->items_cap) { /* geometric growth: 100k images cost ~17 reallocs */
        size_t grown = s->items_cap ? s->items_cap * 2 : 256;
        ds_item *items = realloc(ds->items, sizeof *items * grown);
        if (!items)
            return -1;
        ds->items = items;
        s->items_cap = grown;
    }
    ds_item *it = &ds->items[ds->n_items];
    memset(it, 0, sizeof *it);
    it->image = path_join(rel, img);
    it->caption = path_join(rel, cap);
    it->folder = folder;
    if (!it->image || !it->caption)
        return -1;
    ds->n_items++;
    ds->folders[folder].n_items++;
    it->has_file = cap_exists; /* read after the scan, on all cores (dataset_read.c) */
    return 0;
}

static int scan_dir(scan *s, int fd, const char *rel);

static int scan_subdir(scan *s, int fd, const char *rel, const char *name)
{
    char *sub = path_join(rel, name);
    if (!sub)
        return -1;
    int cfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (cfd < 0) {
        if (errno != ENOTDIR)
            rc = dataset_add_note(s->ds, NOTE_UNREADABLE, sub, strerror(errno));
    } else {
        rc = scan_dir(s, cfd, sub);
        close(cfd);
    }
    free(sub);
    return rc;
}

static bool is_dir_at(int fd, entry *e)
{
    if (e->is_dir)
        return true;
    if (e->d_type != DT_UNKNOWN && e->d_type != DT_LNK)
        return false;
    struct stat st;
    /* DT_UNKNOWN filesystems and symlinks: ask stat, which follows links */
    return fstatat(fd, e->name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static int scan_files(scan *s, const char *rel, entry *es, size_t n, uint32_t folder)
{
    dataset *ds = s->ds;
    const char *ext = ds->caption_ext;
    char *claimed = calloc(n ? n : 1, 1); /* caption entries paired with an image */
    dict taken; /* caption names given to an image, whether the file exists or not */
    dict_init(&taken);
    if (!claimed)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (es[i].stale) {
            char *p = path_join(rel, es[i].name);
            rc = p ? dataset_add_note(ds, NOTE_STALE_TEMP, p, "temporary file of an interrupted "
                                      "save (tagbench recover removes it)") : -1;
            free(p);
            continue;
        }
        if (es[i].is_dir || image_format_from_name(es[i].name) == IMAGE_UNKNOWN) {
            if (!es[i].is_dir)
                rc = note_unsupported(ds, rel, es[i].name);
            continue;
        }
        char *cap = caption_name(es[i].name, ext);
        entry *ce = cap ? find_entry(es, n, cap) : NULL;
        uint32_t before = taken.n, id = cap ? dict_intern(&taken, cap, strlen(cap)) : DICT_NONE;
        if (!cap || id == DICT_NONE) {
            rc = -1;
        } else if (id < before) {
            char *p = path_join(rel, es[i].name);
            rc = dataset_add_note(ds, NOTE_SKIPPED, p,
                                  "shares its caption file with another image of the same name; "
                                  "rename one of them to caption it separately");
            free(p);
        } else {
            if (ce)
                claimed[ce - es] = 1;
            rc = item_add(s, rel, es[i].name, cap, ce != NULL, folder);
        }
        free(cap);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (es[i].is_dir || es[i].stale || claimed[i] || image_format_from_name(es[i].name) != IMAGE_UNKNOWN)
            continue;
        char *p = path_join(rel, es[i].name);
        if (name_has_ext(es[i].name, ext))
            rc = dataset_add_note(ds, NOTE_ORPHAN_CAPTION, p, "caption file without an image");
        free(p);
    }
    free(claimed);
    dict_free(&taken);
    return rc;
}

static bool on_stack(const scan *s, dir_id id)
{
    for (int i = 0; i < s->depth; i++)
        if (s->stack[i].dev == id.dev && s->stack[i].ino == id.ino)
            return true;
    return false;
}

static int scan_dir(scan *s, int fd, const char *rel)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return dataset_add_note(s->ds, NOTE_UNREADABLE, rel, strerror(errno));
    dir_id id = {st.st_dev, st.st_ino};
    if (on_stack(s, id))
        return dataset_add_note(s->ds, NOTE_SKIPPED, rel, "symlink loop: this folder contains itself");
    if (s->depth == (int)(sizeof s->stack / sizeof s->stack[0]))
        return dataset_add_note(s->ds, NOTE_SKIPPED, rel, "folders nested too deep (256 levels)");
    entry *es;
    size_t n;
    if (list_dir(fd, &es, &n) < 0)
        return dataset_add_note(s->ds, NOTE_UNREADABLE, *rel ? rel : ".", strerror(errno));
    s->stack[s->depth++] = id;
    int folder = folder_add(s->ds, rel, s->depth == 2);
    int rc = folder < 0 ? -1 : 0;
    for (size_t i = 0; i < n; i++)
        es[i].is_dir = es[i].is_dir || is_dir_at(fd, &es[i]);
    if (rc == 0)
        rc = scan_files(s, rel, es, n, (uint32_t)folder);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (es[i].is_dir)
            rc = scan_subdir(s, fd, rel, es[i].name);
    for (size_t i = 0; i < n; i++)
        free(es[i].name);
    free(es);
    s->depth--;
    return rc;
}

int dataset_scan(dataset *ds, tg_error *err)
{
    int fd = open(ds->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, "%s: %s", ds->root, strerror(errno));
    scan s = {.ds = ds};
    int rc = scan_dir(&s, fd, "");
    close(fd);
    if (rc < 0)
        return error_set(err, "%s: out of memory while scanning", ds->root);
    return 0;
}

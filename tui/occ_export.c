/* The occurrence export (occ_export.h). Tag text is written as it is in the captions: this is a
 * file, not the terminal. */
#include "tui/occ_export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int table_write(FILE *f, const dataset *ds, uint32_t folder, occ_sort sort)
{
    size_t n;
    occ_entry *e = occurrence_list(ds, folder, sort, &n);
    if (!e)
        return -1;
    uint32_t images = folder == OCC_ALL_FOLDERS ? (uint32_t)ds->n_items : ds->folders[folder].n_items;
    fprintf(f, "%7s %6s  %s\n", "images", "share", "tag");
    for (size_t k = 0; k < n; k++)
        fprintf(f, "%7u %5.1f%%  %s\n", e[k].count, images ? 100.0 * e[k].count / images : 0.0,
                dataset_tag_text(ds, e[k].tag));
    free(e);
    return 0;
}

/* Creates the parent folder when it is the dataset's own .tagbench/ (or any missing last level). */
static void parent_make(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        mkdir(dir, 0777);
    }
}

int occ_export(const dataset *ds, uint32_t folder, occ_sort sort, const char *path, tg_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    parent_make(path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return error_set(err, "%s: %s", path, strerror(errno));
    int rc = table_write(f, ds, folder, sort);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -1;
    int e = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        unlink(tmp);
        return error_set(err, "%s: %s", path, strerror(e ? e : ENOMEM));
    }
    return 0;
}

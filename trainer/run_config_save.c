/* Writing the run configuration (run_config_save): the fields through the key table into JSON
 * text, then, unless the file changed on disk since it was loaded, an atomic replace of the
 * file. */
#include "trainer/run_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/private/run_config_keys.h"

/* ---- field -> JSON ---- */

static cJSON *field_json(const run_config *c, const key_def *k)
{
    const void *f = field_of(c, k);
    if (kind_is_string(k->kind)) {
        const char *s = *(char *const *)f;
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    }
    char args[160];
    switch (k->kind) {
    case K_OPTARGS: /* kohya's form, so that sd-scripts reads the same values */
        run_config_optimizer_args(c, args, sizeof args);
        return cJSON_CreateString(args);
    case K_BOOL: return cJSON_CreateBool(*(const bool *)f);
    case K_INT: return cJSON_CreateNumber(*(const int *)f);
    case K_SEED: return c->has_seed ? cJSON_CreateNumber(c->seed) : cJSON_CreateNull();
    default: return cJSON_CreateNumber(*(const double *)f);
    }
}

/* The file's text: known keys in table order (section by section), then the kept ones as they
 * were; NULL when out of memory. */
char *run_config_text(const run_config *c, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    for (size_t i = 0; ok && i < config_n_keys; i++) {
        if (config_keys[i].flags & F_NOSAVE)
            continue;
        cJSON *v = field_json(c, &config_keys[i]);
        ok = v && cJSON_AddItemToObject(root, config_keys[i].name, v);
        if (v && !ok)
            cJSON_Delete(v);
    }
    for (const cJSON *u = c->unknown ? c->unknown->child : NULL; ok && u; u = u->next)
        ok = cJSON_AddRawToObject(root, u->string, u->valuestring) != NULL;
    char *body = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    char *text = body ? realloc(body, strlen(body) + 2) : NULL;
    if (!text) {
        free(body);
        return NULL;
    }
    *len = strlen(text);
    memcpy(text + *len, "\n", 2);
    ++*len;
    return text;
}

/* 0 when path may be written: it is what c was loaded from and is unchanged (or gone). */
static int disk_check(const run_config *c, const char *path, tg_error *err)
{
    char why[256];
    size_t len = 0;
    char *now = config_file_slurp(path, &len, why, sizeof why);
    bool exists = now || errno != ENOENT || *why;
    bool ours = c->loaded_path && strcmp(c->loaded_path, path) == 0;
    int rc = 0;
    if (exists && !ours)
        rc = error_set(err, "%s: already exists and this configuration was not loaded from it; "
                       "not overwriting it", path);
    else if (exists && !now)
        rc = error_set(err, "%s: %s", path, *why ? why : strerror(errno));
    else if (now && !c->disk_text)
        rc = error_set(err, "%s: was created by another program since the configuration was "
                       "loaded; not overwriting it (load it again)", path);
    else if (now && (len != c->disk_len || memcmp(now, c->disk_text, len) != 0))
        rc = error_set(err, "%s: was changed on disk since it was loaded; not overwriting it "
                       "(load it again to see the change)", path);
    free(now);
    return rc;
}

/* The folder of path (malloc'd), "." when it has none. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

static void folder_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Writes text into a new temporary file in dir; its path in *tmp. The mode is the old file's,
 * or 0644 for a new one (mkstemp's 0600 would hide the config from a trainer run as another
 * user of the same group). */
static int temp_write(const char *dir, const char *path, const char *text, size_t len,
                      char **tmp, tg_error *err)
{
    const char *base = strrchr(path, '/');
    size_t n = strlen(dir) + strlen(base ? base + 1 : path) + 24;
    if (!(*tmp = malloc(n)))
        return error_set(err, "out of memory");
    snprintf(*tmp, n, "%s/.%s.tmp-XXXXXX", dir, base ? base + 1 : path);
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        error_set(err, "%s: cannot create a temporary file in %s: %s", path, dir, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
    const char *step = NULL;
    size_t done = 0;
    while (!step && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno != EINTR)
            step = "write";
        done += w > 0 ? (size_t)w : 0;
    }
    if (!step && fchmod(fd, mode) < 0)
        step = "chmod";
    if (!step && fsync(fd) < 0)
        step = "fsync";
    if (close(fd) < 0 && !step)
        step = "close";
    if (step)
        return error_set(err, "%s: cannot write %s (%s): %s", path, *tmp, step, strerror(errno));
    return 0;
}

static int file_replace(const char *path, const char *text, size_t len, tg_error *err)
{
    char *dir = folder_of(path), *tmp = NULL;
    if (!dir)
        return error_set(err, "out of memory");
    int rc = 0;
    if (mkdir(dir, 0777) < 0 && errno != EEXIST)
        rc = error_set(err, "%s: cannot create the folder %s: %s", path, dir, strerror(errno));
    if (rc == 0)
        rc = temp_write(dir, path, text, len, &tmp, err);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = error_set(err, "%s: cannot replace it: %s", path, strerror(errno));
    if (rc == 0)
        folder_sync(dir); /* best effort: some file systems cannot sync a folder, and the file
                           * itself is in place and synced */
    if (tmp && rc < 0)
        unlink(tmp); /* after a failed rename; once renamed the name is gone anyway */
    free(tmp);
    free(dir);
    return rc;
}

int run_config_save(const char *path, run_config *c, tg_error *err)
{
    tg_error why;
    if (run_config_validate(c, &why) < 0)
        return error_set(err, "%s: %s", path, why.msg);
    size_t len;
    char *text = run_config_text(c, &len);
    if (!text)
        return error_set(err, "out of memory");
    char *copy = strdup(path);
    int rc = copy ? disk_check(c, path, err) : error_set(err, "out of memory");
    if (rc == 0)
        rc = file_replace(path, text, len, err);
    if (rc < 0) {
        free(text);
        free(copy);
        return -1;
    }
    free(c->loaded_path);
    free(c->disk_text);
    c->loaded_path = copy;
    c->disk_text = text;
    c->disk_len = len;
    return 0;
}

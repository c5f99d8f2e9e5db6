/* The run configuration file (run_config.h). Known keys are described once, in a table, and
 * every step (load, check, save) walks that table. Unknown keys keep their value's text from the
 * file: cJSON parses the whole file (so bad JSON is caught and located), and a small scanner,
 * run only on text cJSON accepted, finds where each top-level value starts and ends. */
#include "trainer/run_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A configuration is a few kilobytes; anything this large is not one. */
#define CONFIG_MAX_BYTES ((size_t)16 << 20)
#define SEED_MAX 4294967295.0

/* ---- the known keys ---- */

typedef enum key_kind {
    K_STRING,     /* a string or null */
    K_SEPARATOR,  /* a non-empty string */
    K_EXTENSION,  /* a string without '/' */
    K_RESOLUTION, /* "SIZE" or "WIDTH,HEIGHT", or null */
    K_SEED,       /* an integer in [0, 2^32 - 1], or null */
    K_COUNT,      /* an integer >= 0 */
    K_RATE,       /* a number in [0, 1] */
    K_STEPS,      /* a finite number >= 0 */
    K_BOOL,
} key_kind;

/* What a key of each kind must be, for the messages ("KEY: must be ..., got ..."). */
static const char *const kind_expect[] = {
    [K_STRING] = "a string or null",
    [K_SEPARATOR] = "a non-empty string",
    [K_EXTENSION] = "a string without '/' such as \".txt\"",
    [K_RESOLUTION] = "\"SIZE\" or \"WIDTH,HEIGHT\" with positive integers (e.g. \"512\" or "
                     "\"512,768\"), or null",
    [K_SEED] = "an integer in [0, 4294967295] or null",
    [K_COUNT] = "an integer >= 0",
    [K_RATE] = "a number in [0, 1]",
    [K_STEPS] = "a number >= 0",
    [K_BOOL] = "true or false",
};

typedef struct key_def {
    const char *name;
    key_kind kind;
    size_t off; /* of the field in run_config */
} key_def;

#define KEY(field, kind) {#field, kind, offsetof(run_config, field)}

/* The order they are written in. */
static const key_def keys[] = {
    KEY(train_data_dir, K_STRING),
    KEY(caption_extension, K_EXTENSION),
    KEY(resolution, K_RESOLUTION),
    KEY(seed, K_SEED),
    KEY(shuffle_caption, K_BOOL),
    KEY(keep_tokens, K_COUNT),
    KEY(keep_tokens_separator, K_STRING),
    KEY(caption_separator, K_SEPARATOR),
    KEY(secondary_separator, K_STRING),
    KEY(caption_prefix, K_STRING),
    KEY(caption_suffix, K_STRING),
    KEY(caption_tag_dropout_rate, K_RATE),
    KEY(caption_dropout_rate, K_RATE),
    KEY(caption_dropout_every_n_epochs, K_COUNT),
    KEY(enable_wildcard, K_BOOL),
    KEY(token_warmup_min, K_COUNT),
    KEY(token_warmup_step, K_STEPS),
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static bool kind_is_string(key_kind k)
{
    return k == K_STRING || k == K_SEPARATOR || k == K_EXTENSION || k == K_RESOLUTION;
}

static char **field_str(run_config *c, const key_def *k)
{
    return (char **)((char *)c + k->off);
}

static const void *field_of(const run_config *c, const key_def *k)
{
    return (const char *)c + k->off;
}

static const key_def *key_find(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* ---- value checks, shared by load and validate ---- */

/* "512" or "512,768", spaces allowed around the numbers (Python's int() strips them). */
static bool resolution_ok(const char *s)
{
    for (int part = 0; part < 2; part++) {
        char *end;
        while (*s == ' ')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || v <= 0 || v > 1000000)
            return false;
        for (s = end; *s == ' ';)
            s++;
        if (*s == '\0')
            return true;
        if (*s++ != ',' || part == 1)
            return false;
    }
    return false;
}

static bool string_ok(key_kind kind, const char *s)
{
    switch (kind) {
    case K_SEPARATOR: return s && *s;
    case K_EXTENSION: return s && !strchr(s, '/');
    case K_RESOLUTION: return !s || resolution_ok(s);
    default: return true;
    }
}

static bool number_ok(key_kind kind, double x)
{
    switch (kind) {
    case K_COUNT: return x >= 0 && x <= INT_MAX && x == floor(x);
    case K_SEED: return x >= 0 && x <= SEED_MAX && x == floor(x);
    case K_RATE: return x >= 0 && x <= 1;
    case K_STEPS: return x >= 0 && isfinite(x);
    default: return false;
    }
}

static int key_error(tg_error *err, const char *path, const key_def *k, const char *got)
{
    return error_set(err, "%s%s%s: must be %s, got %s", path ? path : "", path ? ": " : "",
                     k->name, kind_expect[k->kind], got);
}

/* ---- JSON value -> field ---- */

/* The value's JSON text for a message, shortened. */
static void json_got(const cJSON *v, char *buf, size_t size)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s && strlen(s) > 60)
        memcpy(s + 57, "...", 4);
    snprintf(buf, size, "%s", s ? s : "(a value)");
    free(s);
}

/* A number, or a string holding one (the kohya_ss GUI writes "keep_tokens": "0"). */
static bool json_number(const cJSON *v, double *x)
{
    if (cJSON_IsNumber(v)) {
        *x = v->valuedouble;
        return true;
    }
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!s || strpbrk(s, "xXnN")) /* no hex, inf or nan */
        return false;
    char *end;
    *x = strtod(s, &end);
    while (*end == ' ')
        end++;
    return end != s && *end == '\0' && isfinite(*x);
}

static int string_load(run_config *c, const key_def *k, const cJSON *v)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!s && k->kind == K_RESOLUTION && cJSON_IsNumber(v)) {
        char num[32]; /* "resolution": 512 is kohya's "512" */
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        return string_ok(k->kind, num) ? run_config_string_set(field_str(c, k), num) : 1;
    }
    if (!s && !(cJSON_IsNull(v) && string_ok(k->kind, NULL)))
        return 1;
    if (!string_ok(k->kind, s))
        return 1;
    return run_config_string_set(field_str(c, k), s);
}

/* 0, 1 (the value does not fit the key) or -1 (out of memory). */
static int value_load(run_config *c, const key_def *k, const cJSON *v)
{
    if (kind_is_string(k->kind))
        return string_load(c, k, v);
    if (k->kind == K_BOOL) {
        if (!cJSON_IsBool(v))
            return 1;
        *(bool *)((char *)c + k->off) = cJSON_IsTrue(v);
        return 0;
    }
    bool unset = cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring);
    if (k->kind == K_SEED && unset) {
        c->has_seed = false; /* the GUI writes "" for no seed */
        return 0;
    }
    double x;
    if (!json_number(v, &x) || !number_ok(k->kind, x))
        return 1;
    void *f = (char *)c + k->off;
    if (k->kind == K_COUNT)
        *(int *)f = (int)x;
    else if (k->kind == K_SEED)
        c->seed = (uint32_t)x, c->has_seed = true;
    else
        *(double *)f = x;
    return 0;
}

/* ---- where each top-level value lies in the text ---- */

typedef struct span {
    size_t start, end;
} span;

static size_t ws_skip(const char *s, size_t i)
{
    while (s[i] && (unsigned char)s[i] <= 32) /* what cJSON counts as whitespace */
        i++;
    return i;
}

static size_t string_skip(const char *s, size_t i) /* s[i] is the opening quote */
{
    for (i++; s[i] && s[i] != '"'; i++)
        if (s[i] == '\\' && s[i + 1])
            i++;
    return s[i] ? i + 1 : i;
}

static size_t value_skip(const char *s, size_t i)
{
    if (s[i] == '"')
        return string_skip(s, i);
    if (s[i] != '{' && s[i] != '[') {
        while ((unsigned char)s[i] > 32 && !strchr(",}]", s[i]))
            i++;
        return i;
    }
    for (int depth = 0; s[i];) {
        if (s[i] == '"') {
            i = string_skip(s, i);
            continue;
        }
        depth += (s[i] == '{' || s[i] == '[') - (s[i] == '}' || s[i] == ']');
        i++;
        if (depth == 0)
            break;
    }
    return i;
}

/* The value spans of the object's members, in order; text is one cJSON accepted. */
static span *members_scan(const char *text, size_t n_members)
{
    span *v = calloc(n_members ? n_members : 1, sizeof *v);
    size_t i = 0;
    if (!v)
        return NULL;
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3; /* cJSON skips a byte order mark too */
    i = ws_skip(text, i) + 1; /* the '{' */
    for (size_t m = 0; m < n_members; m++) {
        i = ws_skip(text, i);
        i = ws_skip(text, string_skip(text, i)) + 1; /* the key and the ':' */
        v[m].start = i = ws_skip(text, i);
        v[m].end = i = value_skip(text, i);
        i = ws_skip(text, i) + 1; /* the ',' or the '}' */
    }
    return v;
}

/* ---- init and free ---- */

int run_config_init(run_config *c, tg_error *err)
{
    memset(c, 0, sizeof *c);
    pipeline_opts o;
    pipeline_opts_default(&o);
    o.keep_tokens_separator = ""; /* kohya's default; NULL would be written as null */
    c->unknown = cJSON_CreateObject();
    if (!c->unknown || run_config_pipeline_set(c, &o, err) < 0 ||
        run_config_string_set(&c->caption_extension, ".caption") < 0) {
        run_config_free(c);
        return error_set(err, "out of memory");
    }
    return 0;
}

void run_config_free(run_config *c)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (kind_is_string(keys[i].kind))
            free(*field_str(c, &keys[i]));
    cJSON_Delete(c->unknown);
    free(c->loaded_path);
    free(c->disk_text);
    memset(c, 0, sizeof *c);
}

/* ---- load ---- */

/* The file's bytes, NUL-terminated; NULL with errno set (ENOENT: no file) or with *why. */
static char *file_slurp(const char *path, size_t *len, char *why, size_t wsize)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    *why = '\0';
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
        snprintf(why, wsize, "not a regular file");
    else if ((size_t)st.st_size > CONFIG_MAX_BYTES)
        snprintf(why, wsize, "%lld bytes is too large for a configuration",
                 (long long)st.st_size);
    else if ((buf = malloc((size_t)st.st_size + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)st.st_size, f);
        buf[*len] = '\0';
        if (ferror(f)) {
            snprintf(why, wsize, "cannot read: %s", strerror(errno));
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (!buf && !*why)
        snprintf(why, wsize, "out of memory");
    return buf;
}

/* Line and column (from 1) of offset `at` in text. */
static void position_of(const char *text, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at && text[i]; i++) {
        if (text[i] == '\n')
            ++*line, *col = 1;
        else
            ++*col;
    }
}

static cJSON *json_parse(const char *path, const char *text, size_t len, tg_error *err)
{
    if (strlen(text) != len)
        return error_set(err, "%s: holds a NUL byte at offset %zu: not a JSON file", path,
                         strlen(text)), NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, true);
    if (!root) {
        int line, col;
        position_of(text, end ? (size_t)(end - text) : 0, &line, &col);
        return error_set(err, "%s:%d:%d: not valid JSON%s", path, line, col,
                         len ? "" : " (the file is empty)"), NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return error_set(err, "%s: must hold a JSON object ({\"key\": value, ...})", path), NULL;
    }
    return root;
}

static bool key_repeated(const cJSON *root, const cJSON *item)
{
    for (const cJSON *o = root->child; o != item; o = o->next)
        if (strcmp(o->string, item->string) == 0)
            return true;
    return false;
}

/* Known members into c, unknown ones (their text from the file) into c->unknown. */
static int members_load(run_config *c, const char *path, const char *text, const cJSON *root,
                        tg_error *err)
{
    span *spans = members_scan(text, (size_t)cJSON_GetArraySize(root));
    if (!spans)
        return error_set(err, "out of memory");
    int rc = 0;
    size_t m = 0;
    for (const cJSON *item = root->child; item && rc == 0; item = item->next, m++) {
        const key_def *k = key_find(item->string);
        char got[80];
        if (key_repeated(root, item)) {
            rc = error_set(err, "%s: key \"%s\" appears twice", path, item->string);
        } else if (k) {
            int r = value_load(c, k, item);
            if (r > 0) {
                json_got(item, got, sizeof got);
                rc = key_error(err, path, k, got);
            } else if (r < 0) {
                rc = error_set(err, "out of memory");
            }
        } else {
            char *raw = strndup(text + spans[m].start, spans[m].end - spans[m].start);
            if (!raw || !cJSON_AddRawToObject(c->unknown, item->string, raw))
                rc = error_set(err, "out of memory");
            free(raw);
        }
    }
    free(spans);
    return rc;
}

static int loaded_set(run_config *c, const char *path, char *text, size_t len)
{
    c->loaded_path = strdup(path);
    c->disk_text = text;
    c->disk_len = len;
    return c->loaded_path ? 0 : -1;
}

int run_config_load(const char *path, run_config *c, tg_error *err)
{
    if (run_config_init(c, err) < 0)
        return -1;
    char why[256];
    size_t len = 0;
    char *text = file_slurp(path, &len, why, sizeof why);
    if (!text && errno == ENOENT && !*why)
        return loaded_set(c, path, NULL, 0) < 0 ? error_set(err, "out of memory") : 0;
    if (!text)
        return error_set(err, "%s: %s", path, *why ? why : strerror(errno));
    cJSON *root = json_parse(path, text, len, err);
    int rc = root ? members_load(c, path, text, root, err) : -1;
    cJSON_Delete(root);
    if (rc == 0 && loaded_set(c, path, text, len) < 0)
        rc = error_set(err, "out of memory");
    if (rc < 0) {
        if (c->disk_text != text)
            free(text);
        run_config_free(c);
        run_config_init(c, NULL);
    }
    return rc;
}

/* ---- validate ---- */

static void field_got(const run_config *c, const key_def *k, char *buf, size_t size)
{
    const void *f = field_of(c, k);
    if (kind_is_string(k->kind)) {
        const char *s = *(char *const *)f;
        snprintf(buf, size, s ? "\"%.60s\"" : "null", s);
    } else if (k->kind == K_COUNT) {
        snprintf(buf, size, "%d", *(const int *)f);
    } else {
        snprintf(buf, size, "%g", *(const double *)f);
    }
}

static bool field_ok(const run_config *c, const key_def *k)
{
    const void *f = field_of(c, k);
    if (kind_is_string(k->kind))
        return string_ok(k->kind, *(char *const *)f);
    if (k->kind == K_COUNT)
        return number_ok(K_COUNT, *(const int *)f);
    if (k->kind == K_RATE || k->kind == K_STEPS)
        return number_ok(k->kind, *(const double *)f);
    return true; /* bools, and the seed, whose type holds only valid values */
}

int run_config_validate(const run_config *c, tg_error *err)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!field_ok(c, &keys[i])) {
            char got[80];
            field_got(c, &keys[i], got, sizeof got);
            return key_error(err, NULL, &keys[i], got);
        }
    }
    return 0;
}

/* ---- save ---- */

static cJSON *field_json(const run_config *c, const key_def *k)
{
    const void *f = field_of(c, k);
    if (kind_is_string(k->kind)) {
        const char *s = *(char *const *)f;
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    }
    switch (k->kind) {
    case K_BOOL: return cJSON_CreateBool(*(const bool *)f);
    case K_COUNT: return cJSON_CreateNumber(*(const int *)f);
    case K_SEED: return c->has_seed ? cJSON_CreateNumber(c->seed) : cJSON_CreateNull();
    default: return cJSON_CreateNumber(*(const double *)f);
    }
}

/* The file's text: known keys in table order, then the unknown ones; NULL when out of memory. */
static char *config_text(const run_config *c, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    for (size_t i = 0; ok && i < N_KEYS; i++) {
        cJSON *v = field_json(c, &keys[i]);
        ok = v && cJSON_AddItemToObject(root, keys[i].name, v);
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
    char *now = file_slurp(path, &len, why, sizeof why);
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
    char *text = config_text(c, &len);
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

/* ---- pipeline options, strings, unknown keys, path ---- */

void run_config_pipeline(const run_config *c, pipeline_opts *o)
{
    *o = (pipeline_opts){
        .keep_tokens = c->keep_tokens,
        .keep_tokens_separator = c->keep_tokens_separator,
        .caption_separator = c->caption_separator,
        .secondary_separator = c->secondary_separator,
        .shuffle_caption = c->shuffle_caption,
        .caption_tag_dropout_rate = c->caption_tag_dropout_rate,
        .caption_dropout_rate = c->caption_dropout_rate,
        .caption_dropout_every_n_epochs = c->caption_dropout_every_n_epochs,
        .caption_prefix = c->caption_prefix,
        .caption_suffix = c->caption_suffix,
        .enable_wildcard = c->enable_wildcard,
        .token_warmup_min = c->token_warmup_min,
        .token_warmup_step = c->token_warmup_step,
    };
}

static bool dup_or_null(const char *s, char **out)
{
    *out = s ? strdup(s) : NULL;
    return !s || *out;
}

int run_config_pipeline_set(run_config *c, const pipeline_opts *o, tg_error *err)
{
    if (pipeline_opts_validate(o, err) < 0)
        return -1;
    /* all the copies first, so that running out of memory leaves c as it was */
    char *s[5];
    bool ok = dup_or_null(o->keep_tokens_separator, &s[0]) &
              dup_or_null(o->caption_separator ? o->caption_separator : ",", &s[1]) &
              dup_or_null(o->secondary_separator, &s[2]) &
              dup_or_null(o->caption_prefix, &s[3]) & dup_or_null(o->caption_suffix, &s[4]);
    char **dst[5] = {&c->keep_tokens_separator, &c->caption_separator, &c->secondary_separator,
                     &c->caption_prefix, &c->caption_suffix};
    for (int i = 0; i < 5; i++) {
        free(ok ? *dst[i] : s[i]);
        if (ok)
            *dst[i] = s[i];
    }
    if (!ok)
        return error_set(err, "out of memory");
    c->keep_tokens = o->keep_tokens;
    c->shuffle_caption = o->shuffle_caption;
    c->caption_tag_dropout_rate = o->caption_tag_dropout_rate;
    c->caption_dropout_rate = o->caption_dropout_rate;
    c->caption_dropout_every_n_epochs = o->caption_dropout_every_n_epochs;
    c->enable_wildcard = o->enable_wildcard;
    c->token_warmup_min = o->token_warmup_min;
    c->token_warmup_step = o->token_warmup_step;
    return 0;
}

int run_config_string_set(char **field, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

size_t run_config_unknown_count(const run_config *c)
{
    return c->unknown ? (size_t)cJSON_GetArraySize(c->unknown) : 0;
}

const char *run_config_unknown_key(const run_config *c, size_t i)
{
    const cJSON *u = c->unknown ? cJSON_GetArrayItem(c->unknown, (int)i) : NULL;
    return u ? u->string : NULL;
}

char *run_config_default_path(const char *dataset_dir)
{
    size_t n = strlen(dataset_dir);
    while (n > 1 && dataset_dir[n - 1] == '/')
        n--;
    size_t size = n + sizeof "/.tagbench/run.json";
    char *p = malloc(size);
    if (p)
        snprintf(p, size, "%.*s/.tagbench/run.json", (int)n, dataset_dir);
    return p;
}

/* Reading the run configuration (run_config_load). cJSON parses the whole file, so bad JSON is
 * caught and located; known keys go through the key table into their fields, and unknown keys
 * keep their value's text from the file, found by a small scanner run only on text cJSON
 * accepted. */
#include "trainer/run_config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer/private/run_config_keys.h"

/* A configuration is a few kilobytes; anything this large is not one. */
#define CONFIG_MAX_BYTES ((size_t)16 << 20)

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
        return config_string_ok(k->kind, num) ? run_config_string_set(field_str(c, k), num) : 1;
    }
    if (!s && !(cJSON_IsNull(v) && config_string_ok(k->kind, NULL)))
        return 1;
    if (!config_string_ok(k->kind, s))
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
    if (!json_number(v, &x) || !config_number_ok(k->kind, x))
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

/* ---- reading the file ---- */

/* Whole, into memory: cJSON needs the text in one piece, and unknown keys keep slices of it.
 * Save uses this too, to see whether the file changed since it was loaded. */
char *config_file_slurp(const char *path, size_t *len, char *why, size_t wsize)
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

/* ---- load ---- */

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
        const key_def *k = config_key_find(item->string);
        char got[80];
        if (key_repeated(root, item)) {
            rc = error_set(err, "%s: key \"%s\" appears twice", path, item->string);
        } else if (k) {
            int r = value_load(c, k, item);
            if (r > 0) {
                json_got(item, got, sizeof got);
                rc = config_key_error(err, path, k, got);
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
    char *text = config_file_slurp(path, &len, why, sizeof why);
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

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
#include <strings.h>
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

/* null, "", or the GUI's unset spellings: what F_BLANK keys read as their default */
static bool json_blank(const cJSON *v)
{
    return cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring);
}

static int string_load(run_config *c, const key_def *k, const cJSON *v)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!s && k->kind == K_RESOLUTION && cJSON_IsNumber(v)) {
        char num[32]; /* "resolution": 512 is kohya's "512" */
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        return config_string_ok(k, num) ? run_config_string_set(field_str(c, k), num) : 1;
    }
    if (k->kind == K_CHOICE) {
        if ((k->flags & F_BLANK) && json_blank(v))
            return run_config_string_set(field_str(c, k), k->sdef);
        if (s && config_choice(k, s))
            s = config_choice(k, s); /* F_NOCASE: as the table spells it */
        else if (config_choice_later(k, s))
            return 2;
    }
    if (!s && !(cJSON_IsNull(v) && config_string_ok(k, NULL)))
        return 1;
    if (!config_string_ok(k, s))
        return 1;
    return run_config_string_set(field_str(c, k), s);
}

/* lr_warmup_steps: a number, or "10%" as sd-scripts' int_or_float reads it */
static bool warmup_number(const cJSON *v, double *x)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || s[n - 1] != '%')
        return json_number(v, x);
    cJSON *num = cJSON_CreateString(s);
    if (!num)
        return false;
    num->valuestring[n - 1] = '\0';
    bool ok = json_number(num, x) && *x >= 0 && *x < 100;
    cJSON_Delete(num);
    *x /= 100;
    return ok;
}

/* 0, 1 (the value does not fit the key), 2 (a kohya value tagbench does not do yet) or -1 (out
 * of memory). */
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
    bool unset = json_blank(v);
    if (k->kind == K_SEED && unset) {
        c->has_seed = false; /* the GUI writes "" for no seed */
        return 0;
    }
    void *f = (char *)c + k->off;
    if ((k->flags & F_BLANK) && unset) {
        if (k->kind == K_INT)
            *(int *)f = (int)k->def;
        else
            *(double *)f = k->def;
        return 0;
    }
    double x;
    if (!(k->kind == K_WARMUP ? warmup_number(v, &x) : json_number(v, &x)) ||
        !config_number_ok(k, x))
        return 1;
    if (k->kind == K_INT)
        *(int *)f = (int)x;
    else if (k->kind == K_SEED)
        c->seed = (uint32_t)x, c->has_seed = true;
    else
        *(double *)f = x;
    return 0;
}

/* A value_load result other than 0 as the error it is, naming the key as the file spells it. */
static int value_error(int r, tg_error *err, const char *path, const key_def *k, const char *name,
                       const cJSON *v)
{
    char got[80];
    json_got(v, got, sizeof got);
    if (r < 0)
        return error_set(err, "out of memory");
    if (r == 2) {
        char list[160] = "";
        size_t n = 0;
        for (const char *const *o = k->choices; *o && n < sizeof list; o++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s\"%s\"", n ? ", " : "", *o);
        return config_key_fail(err, path, name, "%s is not supported yet (tagbench has %s)", got,
                               list);
    }
    key_def named = *k;
    named.name = name;
    return config_key_error(err, path, &named, got);
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

/* false, 0, "", "0", "false", "none" or null: what a GUI writes for a feature it leaves off */
static bool json_off(const cJSON *v)
{
    double x;
    if (cJSON_IsFalse(v) || json_blank(v))
        return true;
    if (json_number(v, &x))
        return x == 0;
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    return s && (!strcasecmp(s, "false") || !strcasecmp(s, "none"));
}

/* A known-and-ignored key with a value that would change what is trained (v2, sdxl, ...). */
static int ignored_check(const char *path, const cJSON *item, tg_error *err)
{
    const char *why, *accept;
    if (!config_ignored_find(item->string, &why, &accept) || !accept || json_off(item))
        return 0;
    if (*accept && cJSON_IsString(item) && strcmp(item->valuestring, accept) == 0)
        return 0;
    char got[80];
    json_got(item, got, sizeof got);
    return config_key_fail(err, path, item->string, "%s is not supported (%s)", got, why);
}

/* What optimizer_args and the plain keys weight_decay, adam_beta1/2, adam_epsilon set. */
typedef struct optargs_seen {
    double val[4];
    bool given[4];
    const char *from[4]; /* the key that set it */
} optargs_seen;

static int optarg_note(optargs_seen *o, int slot, double x, const char *from, const char *path,
                       tg_error *err)
{
    if (o->given[slot] && o->val[slot] != x)
        return config_key_fail(err, path, config_optarg_keys[slot],
                               "set twice: %.9g by %s and %.9g by %s", o->val[slot],
                               o->from[slot], x, from);
    o->val[slot] = x;
    o->given[slot] = true;
    o->from[slot] = from;
    return 0;
}

static int optargs_load(run_config *c, const cJSON *item, optargs_seen *o, const char *path,
                        tg_error *err)
{
    if (json_blank(item))
        return 0;
    double vals[4] = {0};
    bool given[4] = {false};
    char why[256];
    if (config_optargs_parse(item, vals, given, why, sizeof why))
        return config_key_fail(err, path, "optimizer_args", "%s", why);
    for (int i = 0; i < 4; i++) {
        if (!given[i])
            continue;
        const key_def *k = config_key_find(config_optarg_keys[i]);
        if (!config_number_ok(k, vals[i])) {
            char got[40];
            snprintf(got, sizeof got, "%.9g", vals[i]);
            tg_error inner;
            config_key_error(&inner, NULL, k, got);
            return error_set(err, "%s%soptimizer_args: %s", path ? path : "", path ? ": " : "",
                             inner.msg);
        }
        if (optarg_note(o, i, vals[i], "optimizer_args", path, err) < 0)
            return -1;
        *(double *)((char *)c + k->off) = vals[i];
    }
    return 0;
}

/* A GUI name read as the kohya key when the file leaves that one absent or unset. */
static int alias_load(run_config *c, const config_alias *a, const cJSON *root, const char *path,
                      tg_error *err)
{
    const cJSON *gui = cJSON_GetObjectItemCaseSensitive(root, a->gui);
    const cJSON *own = cJSON_GetObjectItemCaseSensitive(root, a->key);
    if (!gui || json_off(gui) || (own && !json_off(own)))
        return 0;
    const key_def *k = config_key_find(a->key);
    if (a->scale != 1) { /* lr_warmup: a percentage, and the GUI drops it for "constant" */
        double x;
        if (c->lr_scheduler && strcmp(c->lr_scheduler, "constant") == 0)
            return 0;
        if (!json_number(gui, &x) || x < 0 || x >= 100)
            return config_key_fail(err, path, a->gui, "must be a percentage in [0, 100), got %s",
                                   cJSON_IsString(gui) ? gui->valuestring : "(a value)");
        c->lr_warmup_steps = x * a->scale;
        return 0;
    }
    int r = value_load(c, k, gui);
    return r ? value_error(r, err, path, k, a->gui, gui) : 0;
}

/* Known members into c, unknown ones (their text from the file) into c->unknown. */
static int members_load(run_config *c, const char *path, const char *text, const cJSON *root,
                        tg_error *err)
{
    span *spans = members_scan(text, (size_t)cJSON_GetArraySize(root));
    if (!spans)
        return error_set(err, "out of memory");
    optargs_seen seen;
    memset(&seen, 0, sizeof seen);
    int rc = 0;
    size_t m = 0;
    for (const cJSON *item = root->child; item && rc == 0; item = item->next, m++) {
        const key_def *k = config_key_find(item->string);
        if (key_repeated(root, item)) {
            rc = error_set(err, "%s: key \"%s\" appears twice", path, item->string);
        } else if (k && k->kind == K_OPTARGS) {
            rc = optargs_load(c, item, &seen, path, err);
        } else if (k) {
            int r = value_load(c, k, item);
            if (r)
                rc = value_error(r, err, path, k, k->name, item);
            for (int i = 0; rc == 0 && i < 4; i++)
                if ((k->flags & F_NOSAVE) && strcmp(k->name, config_optarg_keys[i]) == 0)
                    rc = optarg_note(&seen, i, *(double *)((char *)c + k->off), k->name, path,
                                     err);
        } else if ((rc = ignored_check(path, item, err)) == 0) {
            char *raw = strndup(text + spans[m].start, spans[m].end - spans[m].start);
            if (!raw || !cJSON_AddRawToObject(c->unknown, item->string, raw))
                rc = error_set(err, "out of memory");
            free(raw);
        }
    }
    free(spans);
    /* optimizer_args may come before the plain keys: each wins where it was given */
    for (int i = 0; rc == 0 && i < 4; i++)
        if (seen.given[i])
            *(double *)((char *)c + config_key_find(config_optarg_keys[i])->off) = seen.val[i];
    for (size_t i = 0; rc == 0 && i < config_n_aliases; i++)
        rc = alias_load(c, &config_aliases[i], root, path, err);
    tg_error why;
    if (rc == 0 && run_config_validate(c, &why) < 0)
        rc = error_set(err, "%s: %s", path, why.msg);
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

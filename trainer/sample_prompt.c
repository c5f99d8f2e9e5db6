/* kohya sample prompt lines and .txt prompt files (see sample_prompt.h). */
#include "trainer/sample_prompt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { MAX_FILE = 16 << 20 };

static const char *const samplers[] = {
    "ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpm_2", "dpm_2_a", "dpmsolver",
    "dpmsolver++", "dpmsingle", "k_lms", "k_euler", "k_euler_a", "k_dpm_2", "k_dpm_2_a",
};

static const struct {
    const char *name;
    unsigned bit;
} ignored_opts[] = {
    {"g", SP_IGNORED_G},       {"cn", SP_IGNORED_CN}, {"ctr", SP_IGNORED_CTR},
    {"rcfg", SP_IGNORED_RCFG}, {"fs", SP_IGNORED_FS}, {"f", SP_IGNORED_F},
};

bool sample_sampler_known(const char *name)
{
    for (size_t i = 0; i < sizeof samplers / sizeof samplers[0]; i++)
        if (!strcasecmp(name, samplers[i]))
            return true;
    return false;
}

const char *sample_prompt_ignored_names(unsigned ignored, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    buf[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < sizeof ignored_opts / sizeof ignored_opts[0]; i++) {
        if (!(ignored & ignored_opts[i].bit))
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", ignored_opts[i].name);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* s[0..n) without blanks at both ends, malloc'd. */
static char *trimmed(const char *s, size_t n)
{
    while (n && blank(*s))
        s++, n--;
    while (n && blank(s[n - 1]))
        n--;
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

/* A value for messages: quoted, cut at 40 bytes. */
static void quote(char *out, size_t n, const char *v)
{
    size_t len = strlen(v);
    snprintf(out, n, "\"%.*s%s\"", len > 40 ? 40 : (int)len, v, len > 40 ? "..." : "");
}

/* Digits only, at most max. */
static int parse_uint(const char *opt, const char *v, unsigned long long max, unsigned long long *out,
                      tg_error *err)
{
    char q[64];
    quote(q, sizeof q, v);
    if (!*v)
        return error_set(err, "--%s needs a value", opt);
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9')
            return error_set(err, "--%s: expected a whole number, got %s", opt, q);
    errno = 0;
    unsigned long long x = strtoull(v, NULL, 10);
    if (errno == ERANGE || x > max)
        return error_set(err, "--%s: %s is too large (at most %llu)", opt, q, max);
    *out = x;
    return 0;
}

/* Digits and dots, one number (kohya's [\d.]+ then float()). */
static int parse_scale(const char *opt, const char *v, double *out, tg_error *err)
{
    char q[64];
    quote(q, sizeof q, v);
    if (!*v)
        return error_set(err, "--%s needs a value", opt);
    int digits = 0, dots = 0;
    for (const char *p = v; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.')
            dots++;
        else
            return error_set(err, "--%s: expected a number like 7.5, got %s", opt, q);
    }
    if (!digits || dots > 1)
        return error_set(err, "--%s: expected a number like 7.5, got %s", opt, q);
    *out = strtod(v, NULL);
    if (*out > 1e6)
        return error_set(err, "--%s: %s is too large", opt, q);
    return 0;
}

static int set_text(char **dst, const char *opt, const char *v, tg_error *err)
{
    if (!*v)
        return error_set(err, "--%s needs a value", opt);
    char *c = strdup(v);
    if (!c)
        return error_set(err, "out of memory");
    free(*dst);
    *dst = c;
    return 0;
}

static int side(int x)
{
    x -= x % 8;
    return x < 64 ? 64 : x;
}

/* One option segment ("w 512"): name up to the first blank, value the rest, trimmed. */
static int apply_option(sample_prompt *p, const char *seg, size_t n, tg_error *err)
{
    size_t k = 0;
    while (k < n && !blank(seg[k]))
        k++;
    char name[16];
    char *val = trimmed(seg + k, n - k);
    if (!val)
        return error_set(err, "out of memory");
    if (k == 0) {
        free(val);
        return error_set(err, "\"--\" without an option name (a prompt cannot contain \" --\" in "
                              "this syntax)");
    }
    if (k >= sizeof name) {
        free(val);
        return error_set(err, "unknown option --%.*s%s", (int)(k > 20 ? 20 : k), seg, k > 20 ? "..." : "");
    }
    memcpy(name, seg, k);
    name[k] = 0;
    for (size_t i = 0; i < k; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (char)(name[i] - 'A' + 'a');

    int rc = 0;
    unsigned long long u;
    if (!strcmp(name, "n")) {
        rc = set_text(&p->negative, name, val, err);
    } else if (!strcmp(name, "w") || !strcmp(name, "h")) {
        rc = parse_uint(name, val, SP_MAX_SIDE, &u, err);
        if (!rc)
            *(name[0] == 'w' ? &p->width : &p->height) = side((int)u);
    } else if (!strcmp(name, "s")) {
        rc = parse_uint(name, val, ~0ull, &u, err);
        if (!rc)
            p->steps = u < 1 ? 1 : u > SP_MAX_STEPS ? SP_MAX_STEPS : (int)u;
    } else if (!strcmp(name, "d")) {
        rc = parse_uint(name, val, INT64_MAX, &u, err);
        if (!rc)
            p->seed = (int64_t)u;
    } else if (!strcmp(name, "l")) {
        rc = parse_scale(name, val, &p->cfg_scale, err);
    } else if (!strcmp(name, "ss")) {
        if (!*val) {
            rc = error_set(err, "--ss needs a value");
        } else if (!sample_sampler_known(val)) {
            char q[64];
            quote(q, sizeof q, val);
            rc = error_set(err, "--ss: unknown sampler %s (kohya's: ddim, pndm, lms, euler, euler_a, "
                                "heun, dpm_2, dpm_2_a, dpmsolver, dpmsolver++, dpmsingle, k_lms, "
                                "k_euler, k_euler_a, k_dpm_2, k_dpm_2_a)", q);
        } else {
            for (char *c = val; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            rc = set_text(&p->sampler, name, val, err);
        }
    } else {
        size_t i;
        for (i = 0; i < sizeof ignored_opts / sizeof ignored_opts[0]; i++)
            if (!strcmp(name, ignored_opts[i].name))
                break;
        if (i == sizeof ignored_opts / sizeof ignored_opts[0]) {
            rc = error_set(err, "unknown option --%s (known: --n --w --h --s --l --d --ss)", name);
        } else if (!*val) {
            rc = error_set(err, "--%s needs a value", name);
        } else {
            p->ignored |= ignored_opts[i].bit;
        }
    }
    free(val);
    return rc;
}

static void prompt_defaults(sample_prompt *p)
{
    memset(p, 0, sizeof *p);
    p->width = p->height = SP_DEFAULT_SIDE;
    p->steps = SP_DEFAULT_STEPS;
    p->cfg_scale = SP_DEFAULT_CFG;
    p->seed = -1;
}

/* line[0..n), without line ends. */
static int parse_n(const char *line, size_t n, sample_prompt *p, tg_error *err)
{
    prompt_defaults(p);
    while (n && blank(*line))
        line++, n--;
    /* Segments: the prompt, then after each " --" an option. A line that starts with "--" has an
     * empty prompt. */
    const char *end = line + n;
    const char *seg = line;
    bool first = true;
    if (n >= 2 && line[0] == '-' && line[1] == '-') {
        p->prompt = strdup("");
        if (!p->prompt)
            return error_set(err, "out of memory");
        seg = line + 2;
        first = false;
    }
    for (;;) {
        const char *next = NULL;
        for (const char *q = seg; q + 3 <= end; q++)
            if (q[0] == ' ' && q[1] == '-' && q[2] == '-') {
                next = q;
                break;
            }
        const char *stop = next ? next : end;
        if (first) {
            p->prompt = trimmed(seg, (size_t)(stop - seg));
            if (!p->prompt)
                return error_set(err, "out of memory");
            first = false;
        } else if (apply_option(p, seg, (size_t)(stop - seg), err) < 0) {
            return -1;
        }
        if (!next)
            break;
        seg = next + 3;
    }
    if (!p->negative && !(p->negative = strdup("")))
        return error_set(err, "out of memory");
    return 0;
}

int sample_prompt_parse(const char *line, sample_prompt *p, tg_error *err)
{
    size_t n = strlen(line);
    if (memchr(line, '\n', n))
        n = (size_t)((const char *)memchr(line, '\n', n) - line);
    return parse_n(line, n, p, err);
}

void sample_prompt_free(sample_prompt *p)
{
    if (!p)
        return;
    free(p->prompt);
    free(p->negative);
    free(p->sampler);
    p->prompt = p->negative = p->sampler = NULL;
}

void sample_prompts_free(sample_prompt_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        sample_prompt_free(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

int sample_prompts_parse(const char *text, size_t len, const char *name, sample_prompt_list *out,
                         tg_error *err)
{
    out->items = NULL;
    out->count = 0;
    size_t cap = 0;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        text += 3, len -= 3;
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - l) : len - pos;
        pos += n + (nl ? 1 : 0);
        lineno++;
        if (memchr(l, '\0', n)) {
            sample_prompts_free(out);
            return error_set(err, "%s:%d: a NUL byte (is this a text file?)", name, lineno);
        }
        size_t k = 0;
        while (k < n && (blank(l[k])))
            k++;
        if (k == n || l[k] == '#')
            continue;
        if (out->count == cap) {
            size_t nc = cap ? 2 * cap : 8;
            sample_prompt *g = realloc(out->items, nc * sizeof *g);
            if (!g) {
                sample_prompts_free(out);
                return error_set(err, "%s: out of memory", name);
            }
            out->items = g;
            cap = nc;
        }
        sample_prompt *p = &out->items[out->count];
        tg_error e = {{0}};
        if (parse_n(l, n, p, &e) < 0) {
            sample_prompt_free(p);
            sample_prompts_free(out);
            return error_set(err, "%s:%d: %s", name, lineno, e.msg);
        }
        p->line = lineno;
        out->count++;
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

int sample_prompts_load(const char *path, sample_prompt_list *out, tg_error *err)
{
    out->items = NULL;
    out->count = 0;
    if (ends_with(path, ".toml") || ends_with(path, ".json"))
        return error_set(err, "%s: .toml and .json prompt files are not supported yet; write one "
                              "prompt per line in a .txt file (kohya's --n --w --h --s --l --d --ss)",
                         path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return error_set(err, "%s: is a folder, not a prompt file", path);
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return error_set(err, "%s: out of memory", path);
    }
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_FILE) {
                free(buf);
                fclose(f);
                return error_set(err, "%s: larger than 16 MiB; not a prompt file?", path);
            }
            char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                fclose(f);
                return error_set(err, "%s: out of memory", path);
            }
            buf = g, cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return error_set(err, "%s: read error", path);
    }
    int rc = sample_prompts_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

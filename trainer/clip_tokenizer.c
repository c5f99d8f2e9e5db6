/* Loading the CLIP vocabulary (clip_tokenizer.h): finding the files, reading them (a .gz through
 * `gzip -dc`), deriving the ids from the merges as simple_tokenizer does, and checking a vocab.json
 * against them. Tokenizing is in clip_bpe.c. */
#include "trainer/clip_tokenizer.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trainer/private/clip_bpe.h"

#define MAX_FILE_BYTES (64u << 20)

extern char **environ;

/* ---- bytes_to_unicode ---- */

/* The 188 bytes that stand for themselves: '!'..'~', U+00A1..U+00AC, U+00AE..U+00FF. */
static bool byte_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

/* The character byte b is written as in the vocabulary; the others map to U+0100 + n in order. */
static uint32_t byte_char(unsigned b)
{
    if (byte_printable(b))
        return b;
    uint32_t n = 0;
    for (unsigned k = 0; k < b; k++)
        n += !byte_printable(k);
    return 256 + n;
}

static bool char_is_byte_char(uint32_t cp)
{
    return (cp < 256 && byte_printable(cp)) || (cp >= 256 && cp < 256 + 68);
}

/* ---- messages ---- */

/* s[0..len) for a message: quoted elsewhere, control bytes as \xNN, cut after 60 bytes. */
static const char *shown(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 60) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- reading files ---- */

static char *read_fd(int fd, const char *path, size_t *len, tg_error *err)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        error_set(err, "%s: out of memory", path);
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                free(buf);
                error_set(err, "%s: larger than %u MiB, not a tokenizer file", path, MAX_FILE_BYTES >> 20);
                return NULL;
            }
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                free(buf);
                error_set(err, "%s: out of memory", path);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            error_set(err, "%s: %s", path, strerror(errno));
            free(buf);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The decompressed bytes of a gzip file: `gzip -dc -- path`, run without a shell. */
static char *read_gzip(const char *path, size_t *len, tg_error *err)
{
    int fds[2];
    if (pipe(fds) < 0) {
        error_set(err, "%s: cannot run gzip: %s", path, strerror(errno));
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char *argv[] = {"gzip", "-dc", "--", (char *)path, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "gzip", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        error_set(err, "%s: cannot run gzip to decompress it (%s); decompress it with gunzip and "
                  "give the .txt file", path, strerror(rc));
        return NULL;
    }
    tg_error rerr = {{0}};
    char *text = read_fd(fds[0], path, len, &rerr);
    close(fds[0]); /* if we stopped early, gzip ends on SIGPIPE */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!text) {
        error_set(err, "%s", rerr.msg);
        return NULL;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(text);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            error_set(err, "%s: gzip was not found; decompress the file with gunzip and give the .txt "
                      "file", path);
        else
            error_set(err, "%s: not valid gzip data (gzip -dc failed)", path);
        return NULL;
    }
    return text;
}

/* The bytes of path, decompressed when it is gzip data. */
static char *read_text(const char *path, size_t *len, tg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char magic[2];
    ssize_t got = read(fd, magic, 2);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        close(fd);
        return read_gzip(path, len, err);
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        error_set(err, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    char *text = read_fd(fd, path, len, err);
    close(fd);
    return text;
}

/* ---- finding the files ---- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static bool is_file(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The merges file (and the vocab.json to check, or NULL) that path names; -1 with err. */
static int find_files(const char *path, char **merges, char **vocab, tg_error *err)
{
    struct stat st;
    *merges = *vocab = NULL;
    if (stat(path, &st) < 0)
        return error_set(err, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        static const char *const tries[][2] = {
            {"tokenizer/merges.txt", "tokenizer/vocab.json"},
            {"merges.txt", "vocab.json"},
            {"bpe_simple_vocab_16e6.txt.gz", NULL},
            {"bpe_simple_vocab_16e6.txt", NULL},
        };
        for (size_t k = 0; k < sizeof tries / sizeof tries[0]; k++) {
            char *m = join(path, tries[k][0]);
            if (!m)
                return error_set(err, "%s: out of memory", path);
            if (is_file(m)) {
                *merges = m;
                if (tries[k][1]) {
                    char *v = join(path, tries[k][1]);
                    if (is_file(v))
                        *vocab = v;
                    else
                        free(v);
                }
                return 0;
            }
            free(m);
        }
        return error_set(err, "%s: no CLIP tokenizer in this folder (looked for tokenizer/merges.txt "
                         "as in a diffusers model folder, merges.txt and bpe_simple_vocab_16e6.txt.gz)", path);
    }
    const char *base = base_name(path);
    size_t dir_len = (size_t)(base - path);
    char *dir = dir_len ? strndup(path, dir_len - 1) : strdup(".");
    if (!dir)
        return error_set(err, "%s: out of memory", path);
    int rc = 0;
    if (strcmp(base, "vocab.json") == 0) {
        *merges = join(dir[0] ? dir : "/", "merges.txt");
        *vocab = strdup(path);
        if (!*merges || !*vocab)
            rc = error_set(err, "%s: out of memory", path);
        else if (!is_file(*merges))
            rc = error_set(err, "%s: vocab.json needs merges.txt beside it, and %s is missing", path, *merges);
    } else {
        *merges = strdup(path);
        if (!*merges)
            rc = error_set(err, "%s: out of memory", path);
        else if (strcmp(base, "merges.txt") == 0) {
            char *v = join(dir[0] ? dir : "/", "vocab.json");
            if (is_file(v))
                *vocab = v;
            else
                free(v);
        }
    }
    free(dir);
    if (rc < 0) {
        free(*merges);
        free(*vocab);
        *merges = *vocab = NULL;
    }
    return rc;
}

/* ---- the merges ---- */

typedef struct merge_line {
    const char *a, *b;
    uint32_t a_len, b_len;
} merge_line;

/* A merges token: byte-level characters, optionally ending in "</w>" with at least one before. */
static int check_token(const char *s, size_t len, const char *file, long line, tg_error *err)
{
    char show[256];
    size_t body = len >= 4 && memcmp(s + len - 4, "</w>", 4) == 0 ? len - 4 : len;
    if (body == 0)
        return error_set(err, "%s:%ld: \"%s\" is not a token (nothing before </w>)", file, line,
                         shown(show, sizeof show, s, len));
    for (size_t i = 0; i < len;) {
        const unsigned char *p = (const unsigned char *)s + i;
        uint32_t cp = UINT32_MAX; /* byte-level characters are below U+0144: one or two bytes */
        size_t n = 1;
        if (p[0] < 0x80)
            cp = p[0];
        else if ((p[0] & 0xe0) == 0xc0 && p[0] >= 0xc2 && i + 1 < len && (p[1] & 0xc0) == 0x80) {
            cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
            n = 2;
        }
        if (!char_is_byte_char(cp))
            return error_set(err, "%s:%ld: \"%s\" is not made of byte-level BPE characters (as in CLIP's "
                             "merges.txt, where a space is written \"\u0120\")", file, line,
                             shown(show, sizeof show, s, len));
        i += n;
    }
    return 0;
}

/* Splits text into the header and up to CLIP_MAX_MERGES merge lines; -1 with err (file:line). */
static int parse_merges(const char *text, size_t len, const char *file, merge_line **out, int32_t *n_out,
                        tg_error *err)
{
    const char *p = text, *end = text + len;
    char show[256];
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    if (!memmem(p, (size_t)(eol - p), "#version", 8))
        return error_set(err, "%s:1: not a BPE merges file (the first line should be a \"#version\" header, "
                         "as in CLIP's merges.txt)", file);
    p = eol < end ? eol + 1 : end;
    merge_line *m = malloc(sizeof *m * CLIP_MAX_MERGES);
    if (!m)
        return error_set(err, "%s: out of memory", file);
    int32_t n = 0;
    long line = 1;
    while (p < end && n < CLIP_MAX_MERGES) {
        line++;
        eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *e = eol ? eol : end;
        if (e > p && e[-1] == '\r')
            e--;
        if (e == p) {
            /* blank: fine only when nothing but blank lines follows among the merges */
            int32_t left = CLIP_MAX_MERGES - n;
            for (const char *q = next; q < end && left > 0; left--) {
                const char *qe = memchr(q, '\n', (size_t)(end - q));
                const char *qn = qe ? qe + 1 : end;
                if (!qe)
                    qe = end;
                if (qe > q && qe[-1] == '\r')
                    qe--;
                if (qe > q) {
                    free(m);
                    return error_set(err, "%s:%ld: empty line among the merges", file, line);
                }
                q = qn;
            }
            break;
        }
        const char *a = p, *ae = p;
        while (ae < e && *ae != ' ' && *ae != '\t')
            ae++;
        const char *b = ae;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        const char *be = b;
        while (be < e && *be != ' ' && *be != '\t')
            be++;
        const char *rest = be;
        while (rest < e && (*rest == ' ' || *rest == '\t'))
            rest++;
        if (ae == a || b == ae || be == b || rest != e) {
            free(m);
            return error_set(err, "%s:%ld: expected two tokens separated by a space, got \"%s\"", file, line,
                             shown(show, sizeof show, p, (size_t)(e - p)));
        }
        if (check_token(a, (size_t)(ae - a), file, line, err) < 0 ||
            check_token(b, (size_t)(be - b), file, line, err) < 0) {
            free(m);
            return -1;
        }
        m[n++] = (merge_line){a, b, (uint32_t)(ae - a), (uint32_t)(be - b)};
        p = next;
    }
    *out = m;
    *n_out = n;
    return 0;
}

/* ---- building the tokenizer ---- */

static int vocab_add(clip_tokenizer *t, const char *s, size_t len, int32_t id)
{
    uint64_t old;
    if (tok_map_get(&t->vocab, s, len, &old))
        t->id_entry[old] = CLIP_NO_ENTRY; /* a later token with the same text takes it, as in a dict */
    return tok_map_put(&t->vocab, s, len, (uint64_t)id, &t->id_entry[id]);
}

static int pair_add(clip_tokenizer *t, int32_t left, int32_t right, uint64_t val)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    for (uint32_t s = (uint32_t)(h >> 32) & t->pair_mask;; s = (s + 1) & t->pair_mask)
        if (t->pair_key[s] == key || t->pair_key[s] == CLIP_PAIR_EMPTY) {
            t->pair_key[s] = key;
            t->pair_val[s] = val; /* a repeated merge takes its later rank, as in a dict */
            return 0;
        }
}

static int build(clip_tokenizer *t, const merge_line *m, int32_t n, const char *file, tg_error *err)
{
    t->n_merges = n;
    t->vocab_size = 512 + n + 2;
    t->bos = 512 + n;
    t->eos = 513 + n;
    t->id_entry = malloc(sizeof *t->id_entry * (size_t)t->vocab_size);
    uint32_t slots = 1024;
    while (slots < (uint32_t)n * 2 + 2)
        slots *= 2;
    t->pair_key = malloc(sizeof *t->pair_key * slots);
    t->pair_val = malloc(sizeof *t->pair_val * slots);
    if (!t->id_entry || !t->pair_key || !t->pair_val)
        return error_set(err, "%s: out of memory", file);
    memset(t->pair_key, 0xff, sizeof *t->pair_key * slots);
    t->pair_mask = slots - 1;

    /* 256 byte tokens in bytes_to_unicode order (the printable bytes first), then with "</w>" */
    int32_t id = 0;
    for (int pass = 0; pass < 2; pass++)
        for (unsigned b = 0; b < 256; b++)
            if (byte_printable(b) == (pass == 0))
                t->byte_id[b] = id++;
    for (unsigned b = 0; b < 256; b++) {
        char s[8];
        uint32_t cp = byte_char(b);
        size_t len = cp < 0x80 ? 1 : 2;
        if (len == 1)
            s[0] = (char)cp;
        else {
            s[0] = (char)(0xc0 | cp >> 6);
            s[1] = (char)(0x80 | (cp & 0x3f));
        }
        memcpy(s + len, "</w>", 4);
        if (vocab_add(t, s, len, t->byte_id[b]) < 0 || vocab_add(t, s, len + 4, t->byte_id[b] + 256) < 0)
            return error_set(err, "%s: out of memory", file);
    }
    size_t cap = 256;
    char *buf = malloc(cap);
    for (int32_t k = 0; k < n && buf; k++) {
        size_t len = (size_t)m[k].a_len + m[k].b_len;
        if (len > cap) {
            char *nb = realloc(buf, len);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap = len;
        }
        memcpy(buf, m[k].a, m[k].a_len);
        memcpy(buf + m[k].a_len, m[k].b, m[k].b_len);
        if (vocab_add(t, buf, len, 512 + k) < 0) {
            free(buf);
            buf = NULL;
        }
    }
    if (!buf || vocab_add(t, "<|startoftext|>", 15, t->bos) < 0 || vocab_add(t, "<|endoftext|>", 13, t->eos) < 0) {
        free(buf);
        return error_set(err, "%s: out of memory", file);
    }
    /* merges whose halves no word can hold never apply; the others by rank */
    for (int32_t k = 0; k < n; k++) {
        uint64_t left, right, merged;
        size_t len = (size_t)m[k].a_len + m[k].b_len;
        if (!tok_map_get(&t->vocab, m[k].a, m[k].a_len, &left) ||
            !tok_map_get(&t->vocab, m[k].b, m[k].b_len, &right))
            continue;
        memcpy(buf, m[k].a, m[k].a_len);
        memcpy(buf + m[k].a_len, m[k].b, m[k].b_len);
        tok_map_get(&t->vocab, buf, len, &merged);
        pair_add(t, (int32_t)left, (int32_t)right, (uint64_t)k << 32 | merged);
    }
    free(buf);
    return 0;
}

/* What an id is, for a message about it. */
static const char *id_origin(const clip_tokenizer *t, int32_t id, char *buf, size_t size)
{
    if (id < 512)
        snprintf(buf, size, "a byte token");
    else if (id < t->bos)
        snprintf(buf, size, "the merge on line %ld", (long)id - 512 + 2);
    else
        snprintf(buf, size, "a special token");
    return buf;
}

static long line_of(const char *text, const char *at)
{
    long line = 1;
    for (const char *p = text; p < at && *p; p++)
        line += *p == '\n';
    return line;
}

/* vocab.json must give every token the id the merges give it, and hold no other token. */
static int check_vocab(clip_tokenizer *t, const char *vocab_path, const char *merges_path, tg_error *err)
{
    size_t len;
    char *text = read_text(vocab_path, &len, err);
    if (!text)
        return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long line = at && at >= text && at <= text + len ? line_of(text, at) : 0;
        free(text);
        return error_set(err, "%s:%ld: not valid JSON", vocab_path, line);
    }
    free(text);
    char show[256], what[64];
    int rc = 0;
    uint8_t *seen = calloc((size_t)t->vocab_size, 1);
    if (!seen)
        rc = error_set(err, "%s: out of memory", vocab_path);
    else if (!cJSON_IsObject(root))
        rc = error_set(err, "%s: expected a JSON object of token -> id", vocab_path);
    long count = 0;
    for (cJSON *e = root->child; rc == 0 && e; e = e->next, count++) {
        const char *key = e->string ? e->string : "";
        size_t klen = strlen(key);
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        uint64_t ours;
        if (!cJSON_IsNumber(e) || v < 0 || v > 2147483647.0 || v != (double)(int32_t)v)
            rc = error_set(err, "%s: token \"%s\": the id must be an integer >= 0", vocab_path,
                           shown(show, sizeof show, key, klen));
        else if (!tok_map_get(&t->vocab, key, klen, &ours))
            rc = error_set(err, "%s: token \"%s\" (id %d) is not made by %s: the two files do not belong "
                           "together", vocab_path, shown(show, sizeof show, key, klen), (int)v, merges_path);
        else if ((int64_t)ours != (int64_t)v)
            rc = error_set(err, "%s: token \"%s\" has id %d, but %s gives it id %d (%s): the two files do not "
                           "belong together", vocab_path, shown(show, sizeof show, key, klen), (int)v,
                           merges_path, (int)ours, id_origin(t, (int32_t)ours, what, sizeof what));
        else
            seen[ours] = 1;
    }
    if (rc == 0 && count != (long)t->vocab.n) {
        int32_t missing = -1;
        for (int32_t id = 0; id < t->vocab_size && missing < 0; id++)
            if (t->id_entry[id] != CLIP_NO_ENTRY && !seen[id])
                missing = id;
        if (missing >= 0) {
            const char *s = tok_map_key(&t->vocab, t->id_entry[missing]);
            rc = error_set(err, "%s: has %ld tokens, %s makes %u: token \"%s\" (id %d, %s) is missing",
                           vocab_path, count, merges_path, t->vocab.n, shown(show, sizeof show, s, strlen(s)),
                           (int)missing, id_origin(t, missing, what, sizeof what));
        } else {
            rc = error_set(err, "%s: has %ld tokens, %s makes %u (a token is listed twice)", vocab_path, count,
                           merges_path, t->vocab.n);
        }
    }
    free(seen);
    cJSON_Delete(root);
    return rc;
}

clip_tokenizer *clip_tokenizer_load(const char *path, tg_error *err)
{
    char *merges_path, *vocab_path;
    if (find_files(path, &merges_path, &vocab_path, err) < 0)
        return NULL;
    clip_tokenizer *t = calloc(1, sizeof *t);
    size_t len = 0;
    char *text = t ? read_text(merges_path, &len, err) : NULL;
    merge_line *m = NULL;
    int32_t n = 0;
    int rc = !t ? error_set(err, "%s: out of memory", path) : !text ? -1 : 0;
    if (t) {
        tok_map_init(&t->vocab);
        tok_map_init(&t->cache);
        pthread_mutex_init(&t->lock, NULL);
    }
    if (rc == 0)
        rc = parse_merges(text, len, merges_path, &m, &n, err);
    if (rc == 0)
        rc = build(t, m, n, merges_path, err);
    free(m);
    free(text);
    if (rc == 0 && vocab_path)
        rc = check_vocab(t, vocab_path, merges_path, err);
    if (rc == 0) {
        size_t sn = strlen(merges_path) + 32;
        t->source = malloc(sn);
        if (t->source)
            snprintf(t->source, sn, "%s%s", merges_path, vocab_path ? " + vocab.json" : "");
        else
            rc = error_set(err, "%s: out of memory", path);
    }
    free(merges_path);
    free(vocab_path);
    if (rc < 0) {
        clip_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void clip_tokenizer_free(clip_tokenizer *t)
{
    if (!t)
        return;
    tok_map_free(&t->vocab);
    tok_map_free(&t->cache);
    pthread_mutex_destroy(&t->lock);
    free(t->cache_ids);
    free(t->id_entry);
    free(t->pair_key);
    free(t->pair_val);
    free(t->source);
    free(t);
}

int32_t clip_vocab_size(const clip_tokenizer *t) { return t->vocab_size; }
int32_t clip_bos_id(const clip_tokenizer *t) { return t->bos; }
int32_t clip_eos_id(const clip_tokenizer *t) { return t->eos; }
const char *clip_tokenizer_source(const clip_tokenizer *t) { return t->source; }

const char *clip_token_text(const clip_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->vocab_size || t->id_entry[id] == CLIP_NO_ENTRY)
        return NULL;
    return tok_map_key(&t->vocab, t->id_entry[id]);
}

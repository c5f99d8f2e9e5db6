/* The tag tokenizer (tag_tokenizer.h): a vocabulary of tags, a hash from tag text to id, its JSON
 * file, and captions split into ids. */
#include "trainer/tag_tokenizer.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/occurrence.h"
#include "trainer/file_atomic.h"
#include "trainer/private/tok_map.h"

#define MAX_FILE_BYTES (256u << 20)

struct tag_tokenizer {
    tok_map tags; /* tag -> index; entry k is the tag of id TAG_FIRST_ID + k */
};

static const char *const special_text[TAG_FIRST_ID] = {"<pad>", "<bos>", "<eos>", "<unk>"};

/* What the caption splitter trims (the dataset's own trim, plus line ends). */
static bool trim_char(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Why text cannot be a tag of a caption, or NULL. */
static const char *tag_problem(const char *s, size_t len)
{
    if (len == 0)
        return "is empty";
    if (memchr(s, ',', len))
        return "contains a comma";
    if (trim_char(s[0]) || trim_char(s[len - 1]))
        return "begins or ends with whitespace";
    return NULL;
}

/* tag as shown in a message: cut after 60 bytes, control bytes as \xNN. */
static const char *shown(char *buf, size_t size, const char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 60) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

/* Adds tags in id order; `where` names the source in messages ("tags[3]" is appended). */
static int add_tag(tag_tokenizer *t, const char *s, size_t len, size_t k, const char *where, tg_error *err)
{
    char show[256];
    const char *why = tag_problem(s, len);
    if (why)
        return error_set(err, "%s%stags[%zu]: \"%s\" %s, which no caption can spell", where, *where ? ": " : "",
                         k, shown(show, sizeof show, s), why);
    uint64_t prev;
    if (tok_map_get(&t->tags, s, len, &prev))
        return error_set(err, "%s%stags[%zu]: \"%s\" is listed twice (also tags[%llu])", where, *where ? ": " : "",
                         k, shown(show, sizeof show, s), (unsigned long long)prev);
    if (tok_map_put(&t->tags, s, len, (uint64_t)k, NULL) < 0)
        return error_set(err, "%s%sout of memory", where, *where ? ": " : "");
    return 0;
}

static tag_tokenizer *tokenizer_new(tg_error *err)
{
    tag_tokenizer *t = malloc(sizeof *t);
    if (!t) {
        error_set(err, "out of memory");
        return NULL;
    }
    tok_map_init(&t->tags);
    return t;
}

void tag_tokenizer_free(tag_tokenizer *t)
{
    if (!t)
        return;
    tok_map_free(&t->tags);
    free(t);
}

tag_tokenizer *tag_tokenizer_from_tags(const char *const *tags, size_t n, tg_error *err)
{
    tag_tokenizer *t = tokenizer_new(err);
    for (size_t k = 0; t && k < n; k++)
        if (add_tag(t, tags[k], strlen(tags[k]), k, "", err) < 0) {
            tag_tokenizer_free(t);
            t = NULL;
        }
    return t;
}

tag_tokenizer *tag_tokenizer_from_dataset(const dataset *ds, uint32_t min_count, tg_error *err)
{
    size_t n = 0;
    occ_entry *e = occurrence_list(ds, OCC_ALL_FOLDERS, OCC_BY_COUNT, &n);
    if (!e) {
        error_set(err, "%s: out of memory", ds->root);
        return NULL;
    }
    tag_tokenizer *t = tokenizer_new(err);
    for (size_t k = 0; t && k < n && e[k].count >= (min_count ? min_count : 1); k++) {
        const char *s = dataset_tag_text(ds, e[k].tag);
        if (add_tag(t, s, strlen(s), k, ds->root, err) < 0) {
            tag_tokenizer_free(t);
            t = NULL;
        }
    }
    free(e);
    return t;
}

int32_t tag_vocab_size(const tag_tokenizer *t) { return (int32_t)t->tags.n + TAG_FIRST_ID + TAG_NEW_IDS; }
size_t tag_count(const tag_tokenizer *t) { return t->tags.n; }

const char *tag_token_text(const tag_tokenizer *t, int32_t id)
{
    static const char *const new_text[TAG_NEW_IDS] = {
#define N8(a) "<new" #a "0>", "<new" #a "1>", "<new" #a "2>", "<new" #a "3>", "<new" #a "4>", "<new" #a "5>", \
              "<new" #a "6>", "<new" #a "7>"
        N8(0), N8(1), N8(2), N8(3), N8(4), N8(5), N8(6), N8(7)
#undef N8
    };
    if (id < 0 || id >= tag_vocab_size(t))
        return NULL;
    if (id < TAG_FIRST_ID)
        return special_text[id];
    uint32_t k = (uint32_t)(id - TAG_FIRST_ID);
    return k < t->tags.n ? tok_map_key(&t->tags, k) : new_text[k - t->tags.n];
}

/* FNV-1a: a stable hash, the same on every machine and in every version. */
static uint32_t new_slot(const char *text, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    return h % TAG_NEW_IDS;
}

int32_t tag_token_id(const tag_tokenizer *t, const char *text, size_t len)
{
    uint64_t k;
    if (tok_map_get(&t->tags, text, len, &k))
        return (int32_t)k + TAG_FIRST_ID;
    return TAG_FIRST_ID + (int32_t)t->tags.n + (int32_t)new_slot(text, len);
}

int tag_tokenize(const tag_tokenizer *t, const char *caption, int32_t *ids, int max_len, int *n_real)
{
    if (max_len < 2)
        return -1;
    const char *p = caption ? caption : "";
    if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf)
        p += 3;
    int total = 0, kept = 0;
    ids[0] = TAG_BOS_ID;
    for (;;) {
        const char *end = strchr(p, ',');
        const char *stop = end ? end : p + strlen(p);
        const char *a = p, *b = stop;
        while (a < b && trim_char(*a))
            a++;
        while (b > a && trim_char(b[-1]))
            b--;
        if (b > a) {
            if (kept < max_len - 2)
                ids[1 + kept++] = tag_token_id(t, a, (size_t)(b - a));
            total++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    ids[kept + 1] = TAG_EOS_ID;
    for (int i = kept + 2; i < max_len; i++)
        ids[i] = TAG_PAD_ID;
    if (n_real)
        *n_real = kept + 2;
    return total;
}

/* ---- the vocabulary file ---- */

int tag_tokenizer_save(const tag_tokenizer *t, const char *path, tg_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *tags = cJSON_CreateArray();
    bool ok = root && tags && cJSON_AddNumberToObject(root, "version", 1);
    if (ok)
        cJSON_AddItemToObject(root, "tags", tags);
    else
        cJSON_Delete(tags);
    for (uint32_t k = 0; ok && k < t->tags.n; k++) {
        cJSON *s = cJSON_CreateString(tok_map_key(&t->tags, k));
        ok = s && cJSON_AddItemToArray(tags, s);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return error_set(err, "%s: out of memory", path);
    size_t n = strlen(text);
    char *line = realloc(text, n + 2); /* the file ends with a line end */
    if (!line) {
        free(text);
        return error_set(err, "%s: out of memory", path);
    }
    memcpy(line + n, "\n", 2);
    int rc = file_write_atomic(path, line, n + 1, err);
    free(line);
    return rc;
}

static char *read_all(const char *path, size_t *len, tg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        error_set(err, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE_BYTES) {
        close(fd);
        error_set(err, "%s: %s", path, S_ISREG(st.st_mode) ? "too large for a tag vocabulary" : "not a file");
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    while (buf && n < (size_t)st.st_size) {
        ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (!buf || n != (size_t)st.st_size) {
        error_set(err, "%s: %s", path, buf ? "could not read it whole" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

tag_tokenizer *tag_tokenizer_load(const char *path, tg_error *err)
{
    size_t len;
    char *text = read_all(path, &len, err);
    if (!text)
        return NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long line = 1;
        for (const char *p = text; at && p < at && p < text + len; p++)
            line += *p == '\n';
        error_set(err, "%s:%ld: not valid JSON", path, line);
        free(text);
        return NULL;
    }
    free(text);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "tags");
    tag_tokenizer *t = NULL;
    if (!cJSON_IsObject(root))
        error_set(err, "%s: expected a JSON object {\"version\": 1, \"tags\": [...]}", path);
    else if (!cJSON_IsNumber(version) || version->valuedouble != 1)
        error_set(err, "%s: version: expected 1%s", path,
                  cJSON_IsNumber(version) ? " (a newer tagbench wrote this file?)" : "");
    else if (!cJSON_IsArray(tags))
        error_set(err, "%s: tags: expected an array of strings", path);
    else
        t = tokenizer_new(err);
    size_t k = 0;
    for (const cJSON *e = t ? tags->child : NULL; e; e = e->next, k++) {
        if (!cJSON_IsString(e) || !e->valuestring) {
            error_set(err, "%s: tags[%zu]: expected a string", path, k);
        } else if (add_tag(t, e->valuestring, strlen(e->valuestring), k, path, err) == 0) {
            continue;
        }
        tag_tokenizer_free(t);
        t = NULL;
        break;
    }
    cJSON_Delete(root);
    return t;
}

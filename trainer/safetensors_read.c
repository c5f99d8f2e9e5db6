/* Reading safetensors files: map, validate the header completely, then hand out views into the
 * mapping. Nothing in the file is trusted before it is checked: the header length against the
 * file, the header text as UTF-8 JSON, each tensor's dtype, shape and byte range, and the ranges
 * against each other. */
#include "trainer/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/caption.h"
#include "trainer/dtype.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors data is little-endian; this code reads it in place");

typedef struct st_meta_kv {
    const char *key, *value;
} st_meta_kv;

struct st_file {
    char *path;
    const unsigned char *map;
    size_t map_len;
    uint64_t header_len;
    st_tensor *tensors; /* sorted by name */
    size_t n;
    st_meta_kv *meta;   /* sorted by key */
    size_t n_meta;
    char *strings;      /* every name, key and value, NUL-terminated, one after another */
};

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},   [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I32] = {"I32", 4},   [ST_U32] = {"U32", 4}, [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8}, [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(st_dtype dt)
{
    return (unsigned)dt < ST_DTYPE_COUNT ? dtypes[dt].name : "?";
}

size_t st_dtype_size(st_dtype dt)
{
    return (unsigned)dt < ST_DTYPE_COUNT ? dtypes[dt].size : 0;
}

int st_dtype_parse(const char *s, st_dtype *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    return -1;
}

/* ---- small helpers for messages ---- */

/* What a JSON value is, for "x is ..., not ..." messages: its number, a short quoted string, or
 * its kind. */
static const char *json_what(const cJSON *v, char *buf, size_t size)
{
    if (cJSON_IsNumber(v))
        snprintf(buf, size, "%.17g", v->valuedouble);
    else if (cJSON_IsString(v))
        snprintf(buf, size, "the string \"%.40s\"", v->valuestring);
    else
        snprintf(buf, size, "%s", cJSON_IsArray(v) ? "an array" : cJSON_IsObject(v) ? "an object"
                                  : cJSON_IsNull(v) ? "null" : cJSON_IsBool(v) ? "a boolean" : "?");
    return buf;
}

static const char *shape_text(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

/* A non-negative integer that a double holds exactly (JSON numbers arrive as doubles). */
static bool json_count(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
        return false;
    *out = (uint64_t)d;
    return true;
}

/* ---- header text ---- */

/* 0 if the header is UTF-8 with no NUL, raw or escaped (cJSON would cut a name short at one and
 * two different names could then look alike); else -1 with err. */
static int header_text_check(const char *path, const char *h, size_t len, tg_error *err)
{
    for (size_t i = 0, n; i < len; i += n) {
        if (h[i] == '\0')
            return error_set(err, "%s: header has a NUL byte at byte %zu", path, i);
        if (!(n = utf8_seq_len(h + i, len - i)))
            return error_set(err, "%s: header is not valid UTF-8 (at byte %zu)", path, i);
        if (h[i] == '\\' && i + 1 < len && (unsigned char)h[i + 1] < 0x80 && h[i + 1]) {
            if (len - i >= 6 && h[i + 1] == 'u' && memcmp(h + i + 2, "0000", 4) == 0)
                return error_set(err, "%s: header has an escaped NUL (\\u0000) at byte %zu", path, i);
            n = 2; /* skip the escaped character, so that "\\u0000" is not taken for one */
        }
    }
    return 0;
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- entries ---- */

typedef struct entry {
    const cJSON *item;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel, nbytes, begin, end;
} entry;

#define TENSOR_ERR(fmt, ...) error_set(err, "%s: tensor '%.200s': " fmt, path, name, __VA_ARGS__)

static int entry_parse(const char *path, const cJSON *item, uint64_t data_len, entry *e,
                       tg_error *err)
{
    const char *name = item->string;
    char what[80], sh[200];
    e->item = item;
    if (!cJSON_IsObject(item))
        return TENSOR_ERR("entry is %s, not an object", json_what(item, what, sizeof what));

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!dt)
        return TENSOR_ERR("%s", "no dtype");
    if (!cJSON_IsString(dt))
        return TENSOR_ERR("dtype is %s, not a string", json_what(dt, what, sizeof what));
    if (st_dtype_parse(dt->valuestring, &e->dtype) < 0)
        return TENSOR_ERR("unknown dtype '%.40s'", dt->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    if (!shape)
        return TENSOR_ERR("%s", "no shape");
    if (!cJSON_IsArray(shape))
        return TENSOR_ERR("shape is %s, not an array", json_what(shape, what, sizeof what));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return TENSOR_ERR("shape has %d dimensions (at most %d are supported)", ndim, ST_MAX_DIMS);
    e->ndim = 0;
    e->numel = 1;
    bool overflow = false;
    for (const cJSON *d = shape->child; d; d = d->next) {
        uint64_t v;
        if (!json_count(d, &v))
            return TENSOR_ERR("shape[%d] is %s, not a non-negative integer", e->ndim,
                              json_what(d, what, sizeof what));
        e->shape[e->ndim++] = (int64_t)v;
        overflow |= __builtin_mul_overflow(e->numel, v, &e->numel);
    }
    shape_text(e->shape, e->ndim, sh, sizeof sh);
    if (overflow || __builtin_mul_overflow(e->numel, st_dtype_size(e->dtype), &e->nbytes))
        return TENSOR_ERR("shape %s of %s is too large (its byte size overflows 64 bits)", sh,
                          dt->valuestring);

    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!offs)
        return TENSOR_ERR("%s", "no data_offsets");
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return TENSOR_ERR("data_offsets is %s, not [begin, end]", json_what(offs, what, sizeof what));
    for (int k = 0; k < 2; k++) {
        const cJSON *o = cJSON_GetArrayItem(offs, k);
        if (!json_count(o, k ? &e->end : &e->begin))
            return TENSOR_ERR("data_offsets[%d] is %s, not a non-negative integer", k,
                              json_what(o, what, sizeof what));
    }
    unsigned long long b = e->begin, en = e->end;
    if (en < b)
        return TENSOR_ERR("data_offsets [%llu, %llu] end before they begin", b, en);
    if (en > data_len)
        return TENSOR_ERR("data_offsets [%llu, %llu] run past the end of the data (%llu bytes "
                          "after the header)", b, en, (unsigned long long)data_len);
    if (en - b != e->nbytes)
        return TENSOR_ERR("data_offsets [%llu, %llu] hold %llu bytes, shape %s of %s needs %llu",
                          b, en, en - b, sh, dt->valuestring, (unsigned long long)e->nbytes);
    return 0;
}

static int meta_parse(const char *path, const cJSON *meta, tg_error *err)
{
    char what[80];
    if (!cJSON_IsObject(meta))
        return error_set(err, "%s: __metadata__ is %s, not an object", path,
                         json_what(meta, what, sizeof what));
    for (const cJSON *kv = meta->child; kv; kv = kv->next)
        if (!cJSON_IsString(kv))
            return error_set(err, "%s: __metadata__ '%.200s': value is %s, not a string", path,
                             kv->string, json_what(kv, what, sizeof what));
    return 0;
}

static int entry_by_name(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->item->string, ((const entry *)b)->item->string);
}

static int entry_by_begin(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : strcmp(x->item->string, y->item->string);
}

static int kv_by_key(const void *a, const void *b)
{
    return strcmp(((const st_meta_kv *)a)->key, ((const st_meta_kv *)b)->key);
}

/* Entries sorted by name: a name given twice is refused, and no two tensors may share a byte
 * (tensors without elements occupy none). */
static int entries_check(const char *path, entry *ents, size_t n, tg_error *err)
{
    qsort(ents, n, sizeof *ents, entry_by_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ents[i].item->string, ents[i - 1].item->string) == 0)
            return error_set(err, "%s: tensor '%.200s' appears twice in the header", path,
                             ents[i].item->string);
    entry **by = malloc(sizeof *by * (n ? n : 1));
    if (!by)
        return error_set(err, "%s: out of memory", path);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ents[i].nbytes)
            by[m++] = &ents[i];
    qsort(by, m, sizeof *by, entry_by_begin);
    int rc = 0;
    for (size_t i = 1; i < m && rc == 0; i++)
        if (by[i]->begin < by[i - 1]->end)
            rc = error_set(err, "%s: tensor '%.200s': data_offsets [%llu, %llu] overlap those of "
                           "tensor '%.200s' [%llu, %llu]", path, by[i]->item->string,
                           (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end,
                           by[i - 1]->item->string, (unsigned long long)by[i - 1]->begin,
                           (unsigned long long)by[i - 1]->end);
    free(by);
    return rc;
}

static char *arena_put(char **at, const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = memcpy(*at, s, len);
    *at += len;
    return p;
}

/* Builds f's tensors and metadata from the checked header. */
static int file_build(st_file *f, const entry *ents, size_t n, const cJSON *meta, tg_error *err)
{
    size_t bytes = 0, n_meta = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(ents[i].item->string) + 1;
    for (const cJSON *kv = meta ? meta->child : NULL; kv; kv = kv->next, n_meta++)
        bytes += strlen(kv->string) + strlen(kv->valuestring) + 2;
    f->strings = malloc(bytes ? bytes : 1);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->meta = calloc(n_meta ? n_meta : 1, sizeof *f->meta);
    if (!f->strings || !f->tensors || !f->meta)
        return error_set(err, "%s: out of memory", f->path);
    char *at = f->strings;
    const unsigned char *data = f->map + 8 + f->header_len;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &ents[i];
        st_tensor *t = &f->tensors[i];
        t->name = arena_put(&at, e->item->string);
        t->dtype = e->dtype;
        t->ndim = e->ndim;
        memcpy(t->shape, e->shape, sizeof t->shape);
        t->numel = (size_t)e->numel;
        t->nbytes = (size_t)e->nbytes;
        t->offset = 8 + f->header_len + e->begin;
        t->data = data + e->begin;
        t->file = f->path;
    }
    f->n = n;
    for (const cJSON *kv = meta ? meta->child : NULL; kv; kv = kv->next) {
        st_meta_kv *m = &f->meta[f->n_meta++];
        m->key = arena_put(&at, kv->string);
        m->value = arena_put(&at, kv->valuestring);
    }
    qsort(f->meta, f->n_meta, sizeof *f->meta, kv_by_key);
    for (size_t i = 1; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, f->meta[i - 1].key) == 0)
            return error_set(err, "%s: __metadata__ '%.200s' appears twice", f->path, f->meta[i].key);
    return 0;
}

/* Parses and checks the header of the mapped file into f. */
static int header_load(st_file *f, tg_error *err)
{
    const char *path = f->path;
    const char *h = (const char *)f->map + 8;
    size_t len = (size_t)f->header_len;
    if (header_text_check(path, h, len, err) < 0)
        return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, len, &end, 0);
    if (!root)
        return error_set(err, "%s: header is not valid JSON (at byte %zu of %zu)", path,
                         end ? (size_t)(end - h) : 0, len);
    int rc = 0;
    while (end && end < h + len && json_space(*end))
        end++;
    if (end != h + len)
        rc = error_set(err, "%s: header has text after its JSON value (at byte %zu of %zu)", path,
                       (size_t)(end - h), len);
    else if (!cJSON_IsObject(root)) {
        char what[80];
        rc = error_set(err, "%s: header is %s, not a JSON object", path,
                       json_what(root, what, sizeof what));
    }
    size_t n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = rc == 0 ? root->child : NULL; c && rc == 0; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0)
            n++;
        else if (meta)
            rc = error_set(err, "%s: __metadata__ appears twice in the header", path);
        else if ((rc = meta_parse(path, c, err)) == 0)
            meta = c;
    }
    entry *ents = rc == 0 ? calloc(n ? n : 1, sizeof *ents) : NULL;
    if (rc == 0 && !ents)
        rc = error_set(err, "%s: out of memory", path);
    uint64_t data_len = f->map_len - 8 - f->header_len;
    size_t k = 0;
    for (const cJSON *c = rc == 0 ? root->child : NULL; c && rc == 0; c = c->next)
        if (strcmp(c->string, "__metadata__") != 0)
            rc = entry_parse(path, c, data_len, &ents[k++], err);
    if (rc == 0)
        rc = entries_check(path, ents, n, err);
    if (rc == 0)
        rc = file_build(f, ents, n, meta, err);
    free(ents);
    cJSON_Delete(root);
    return rc;
}

st_file *st_open(const char *path, tg_error *err)
{
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        error_set(err, "%s: out of memory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    int rc = 0;
    if (fd < 0)
        rc = error_set(err, "%s: cannot open: %s", path, strerror(errno));
    else if (fstat(fd, &st) < 0)
        rc = error_set(err, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = error_set(err, "%s: not a regular file", path);
    else if (st.st_size < 8)
        rc = error_set(err, "%s: %lld bytes is too short for a safetensors file (the header length "
                       "alone takes 8)", path, (long long)st.st_size);
    else if ((uint64_t)st.st_size > SIZE_MAX)
        rc = error_set(err, "%s: too large to map on this machine", path);
    if (rc == 0) {
        f->map_len = (size_t)st.st_size;
        void *m = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = error_set(err, "%s: cannot map: %s", path, strerror(errno));
        else
            f->map = m;
    }
    if (fd >= 0)
        close(fd); /* the mapping keeps the file */
    if (rc == 0) {
        uint64_t n = 0;
        memcpy(&n, f->map, 8);
        f->header_len = n;
        unsigned long long un = n;
        if (n == 0)
            rc = error_set(err, "%s: header length is 0 (not even \"{}\")", path);
        else if (n > ST_MAX_HEADER)
            rc = error_set(err, "%s: header length %llu is over the limit of %u bytes", path, un,
                           ST_MAX_HEADER);
        else if (n > f->map_len - 8)
            rc = error_set(err, "%s: header length %llu runs past the end of the file (%zu bytes)",
                           path, un, f->map_len);
        else
            rc = header_load(f, err);
    }
    if (rc < 0) {
        st_close(f);
        return NULL;
    }
    return f;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap((void *)f->map, f->map_len);
    free(f->tensors);
    free(f->meta);
    free(f->strings);
    free(f->path);
    free(f);
}

const char *st_path(const st_file *f) { return f->path; }
uint64_t st_file_size(const st_file *f) { return f->map_len; }
uint64_t st_header_size(const st_file *f) { return f->header_len; }
size_t st_count(const st_file *f) { return f->n; }

const st_tensor *st_at(const st_file *f, size_t i)
{
    return i < f->n ? &f->tensors[i] : NULL;
}

static int name_cmp(const void *key, const void *t)
{
    return strcmp(key, ((const st_tensor *)t)->name);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    return bsearch(name, f->tensors, f->n, sizeof *f->tensors, name_cmp);
}

static int key_cmp(const void *key, const void *kv)
{
    return strcmp(key, ((const st_meta_kv *)kv)->key);
}

const char *st_meta(const st_file *f, const char *key)
{
    const st_meta_kv *kv = bsearch(key, f->meta, f->n_meta, sizeof *f->meta, key_cmp);
    return kv ? kv->value : NULL;
}

size_t st_meta_count(const st_file *f) { return f->n_meta; }

void st_meta_at(const st_file *f, size_t i, const char **key, const char **value)
{
    *key = i < f->n_meta ? f->meta[i].key : NULL;
    *value = i < f->n_meta ? f->meta[i].value : NULL;
}

/* Integer and bool dtypes: element i of p as a float. */
static float int_at(st_dtype dt, const unsigned char *p, size_t i)
{
    switch (dt) {
#define LOAD(T) do { T v; memcpy(&v, p + i * sizeof v, sizeof v); return (float)v; } while (0)
    case ST_BOOL: return p[i] != 0;
    case ST_U8: LOAD(uint8_t);
    case ST_I8: LOAD(int8_t);
    case ST_I16: LOAD(int16_t);
    case ST_U16: LOAD(uint16_t);
    case ST_I32: LOAD(int32_t);
    case ST_U32: LOAD(uint32_t);
    case ST_I64: LOAD(int64_t);
    case ST_U64: LOAD(uint64_t);
    case ST_F64: LOAD(double);
#undef LOAD
    default: return NAN;
    }
}

int st_read_f32(const st_tensor *t, float *dst, size_t n, tg_error *err)
{
    if (n != t->numel)
        return error_set(err, "%s: tensor '%.200s': has %zu elements, the caller expected %zu",
                         t->file, t->name, t->numel, n);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case ST_F32:
        if (n)
            memcpy(dst, p, n * sizeof *dst);
        break;
    case ST_F16:
        f16_to_f32_n(dst, p, n);
        break;
    case ST_BF16:
        bf16_to_f32_n(dst, p, n);
        break;
    case ST_F8_E4M3:
        for (size_t i = 0; i < n; i++)
            dst[i] = f8e4m3_to_f32(p[i]);
        break;
    case ST_F8_E5M2:
        for (size_t i = 0; i < n; i++)
            dst[i] = f8e5m2_to_f32(p[i]);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            dst[i] = int_at(t->dtype, p, i);
    }
    return 0;
}

void st_release(const st_file *f, const st_tensor *t)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !t->nbytes)
        return;
    /* Whole pages inside the tensor only: a neighbour sharing an edge page keeps it. */
    uintptr_t base = (uintptr_t)f->map, lo = (uintptr_t)t->data, hi = lo + t->nbytes;
    uintptr_t a = base + ((lo - base + (uintptr_t)page - 1) / (uintptr_t)page) * (uintptr_t)page;
    uintptr_t b = base + ((hi - base) / (uintptr_t)page) * (uintptr_t)page;
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

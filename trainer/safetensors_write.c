/* Writing safetensors files. The header text is what the reference library (serde_json, compact)
 * writes for the same tensors, and the data is laid out in its order: decreasing alignment, then
 * name. Data is borrowed from the caller and written straight from its buffers; f32 data stored
 * as f16/bf16 is converted through a small buffer while writing. */
#include "trainer/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/caption.h"
#include "trainer/dtype.h"

typedef struct w_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel, nbytes;
    const void *data;   /* in dtype's encoding, or NULL when src is set */
    const float *src;   /* f32 to convert to dtype while writing */
    uint64_t begin;
} w_tensor;

typedef struct w_meta {
    char *key, *value;
} w_meta;

struct st_writer {
    w_tensor *t;
    size_t n, cap;
    w_meta *meta;
    size_t n_meta, cap_meta;
};

st_writer *st_writer_new(void)
{
    return calloc(1, sizeof(st_writer));
}

void st_writer_free(st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->t);
    free(w->meta);
    free(w);
}

size_t st_writer_count(const st_writer *w)
{
    return w->n;
}

static int tensor_add(st_writer *w, const char *name, st_dtype dt, int ndim, const int64_t *shape,
                      const void *data, const float *src, tg_error *err)
{
    if ((unsigned)dt >= ST_DTYPE_COUNT)
        return error_set(err, "tensor '%.200s': dtype %d is not one of the format's", name, (int)dt);
    if (!*name || strcmp(name, "__metadata__") == 0 || !utf8_valid(name, strlen(name)))
        return error_set(err, "tensor '%.200s': not a usable name (empty, \"__metadata__\", or not "
                         "UTF-8)", name);
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return error_set(err, "tensor '%.200s': %d dimensions (0 to %d are supported)", name, ndim,
                         ST_MAX_DIMS);
    size_t numel = 1, nbytes;
    bool overflow = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return error_set(err, "tensor '%.200s': dimension %d is %lld", name, i,
                             (long long)shape[i]);
        overflow |= __builtin_mul_overflow(numel, (size_t)shape[i], &numel);
    }
    if (overflow || __builtin_mul_overflow(numel, st_dtype_size(dt), &nbytes))
        return error_set(err, "tensor '%.200s': too many elements", name);
    if (numel && !data && !src)
        return error_set(err, "tensor '%.200s': no data", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        w_tensor *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return error_set(err, "tensor '%.200s': out of memory", name);
        w->t = t;
        w->cap = cap;
    }
    w_tensor *t = &w->t[w->n];
    *t = (w_tensor){.dtype = dt, .ndim = ndim, .numel = numel, .nbytes = nbytes,
                    .data = data, .src = src};
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    if (!(t->name = strdup(name)))
        return error_set(err, "tensor '%.200s': out of memory", name);
    w->n++;
    return 0;
}

int st_writer_add(st_writer *w, const char *name, st_dtype dt, int ndim, const int64_t *shape,
                  const void *data, tg_error *err)
{
    return tensor_add(w, name, dt, ndim, shape, data, NULL, err);
}

int st_writer_add_f32_as(st_writer *w, const char *name, st_dtype dt, int ndim,
                         const int64_t *shape, const float *src, tg_error *err)
{
    if (dt != ST_F32 && dt != ST_F16 && dt != ST_BF16)
        return error_set(err, "tensor '%.200s': f32 data can be stored as F32, F16 or BF16, not %s",
                         name, st_dtype_name(dt));
    if (dt == ST_F32)
        return tensor_add(w, name, dt, ndim, shape, src, NULL, err);
    return tensor_add(w, name, dt, ndim, shape, NULL, src, err);
}

int st_writer_meta(st_writer *w, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return -1;
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return 0;
        }
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? w->cap_meta * 2 : 16;
        w_meta *m = realloc(w->meta, cap * sizeof *m);
        if (!m) {
            free(v);
            return -1;
        }
        w->meta = m;
        w->cap_meta = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return -1;
    }
    w->meta[w->n_meta++] = (w_meta){k, v};
    return 0;
}

/* ---- header text ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void buf_put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_put(b, tmp, (size_t)n);
}

/* A JSON string as serde_json writes it: `"` and `\` escaped, \b \f \n \r \t, other control
 * characters as \u00xx, everything else (UTF-8 included) as is. */
static void buf_json_string(buf *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_put(b, run, (size_t)(s - run));
        if (!c)
            break;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : NULL;
        if (esc)
            buf_put(b, esc, strlen(esc));
        else
            buf_printf(b, "\\u%04x", c);
        run = s + 1;
    }
    buf_put(b, "\"", 1);
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const w_meta *)a)->key, ((const w_meta *)b)->key);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const w_tensor *const *)a)->name, (*(const w_tensor *const *)b)->name);
}

/* The reference library's data order: larger alignment first (so each tensor starts aligned),
 * then name. */
static int by_layout(const void *a, const void *b)
{
    const w_tensor *x = a, *y = b;
    if (x->dtype != y->dtype)
        return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sorts and checks the tensors and metadata and returns the padded header text (malloc'd). */
static char *header_build(st_writer *w, const char *path, size_t *len, uint64_t *data_len,
                          tg_error *err)
{
    for (size_t i = 0; i < w->n_meta; i++)
        if (!utf8_valid(w->meta[i].key, strlen(w->meta[i].key)) ||
            !utf8_valid(w->meta[i].value, strlen(w->meta[i].value))) {
            error_set(err, "%s: __metadata__ '%.200s': not valid UTF-8", path, w->meta[i].key);
            return NULL;
        }
    const w_tensor **names = malloc((w->n ? w->n : 1) * sizeof *names);
    if (!names) {
        error_set(err, "%s: out of memory", path);
        return NULL;
    }
    for (size_t i = 0; i < w->n; i++)
        names[i] = &w->t[i];
    qsort(names, w->n, sizeof *names, by_name);
    int dup = -1;
    for (size_t i = 1; i < w->n && dup < 0; i++)
        if (strcmp(names[i]->name, names[i - 1]->name) == 0)
            dup = (int)i;
    if (dup >= 0)
        error_set(err, "%s: tensor '%.200s' was added twice", path, names[dup]->name);
    free(names);
    if (dup >= 0)
        return NULL;

    if (w->n)
        qsort(w->t, w->n, sizeof *w->t, by_layout);
    if (w->n_meta)
        qsort(w->meta, w->n_meta, sizeof *w->meta, by_key);
    buf b = {0};
    buf_put(&b, "{", 1);
    if (w->n_meta) {
        buf_put(&b, "\"__metadata__\":{", 16);
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i)
                buf_put(&b, ",", 1);
            buf_json_string(&b, w->meta[i].key);
            buf_put(&b, ":", 1);
            buf_json_string(&b, w->meta[i].value);
        }
        buf_put(&b, "}", 1);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n; i++) {
        w_tensor *t = &w->t[i];
        if (i || w->n_meta)
            buf_put(&b, ",", 1);
        buf_json_string(&b, t->name);
        buf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            buf_printf(&b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        t->begin = offset;
        offset += t->nbytes;
        buf_printf(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)t->begin,
                   (unsigned long long)offset);
    }
    buf_put(&b, "}", 1);
    while (!b.oom && b.len % 8)
        buf_put(&b, " ", 1);
    if (b.oom) {
        error_set(err, "%s: out of memory", path);
        free(b.p);
        return NULL;
    }
    if (b.len > ST_MAX_HEADER) {
        error_set(err, "%s: the header would take %zu bytes, over the %u that readers accept (too "
                  "much metadata?)", path, b.len, ST_MAX_HEADER);
        free(b.p);
        return NULL;
    }
    *len = b.len;
    *data_len = offset;
    return b.p;
}

/* ---- the file ---- */

static int write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len) {
        ssize_t n = write(fd, c, len > (1u << 30) ? (1u << 30) : len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

/* f32 values written as f16/bf16, converted a chunk at a time. */
static int write_converted(int fd, const w_tensor *t)
{
    enum { CHUNK = 32768 };
    uint16_t half[CHUNK];
    for (size_t i = 0; i < t->numel; i += CHUNK) {
        size_t n = t->numel - i < CHUNK ? t->numel - i : CHUNK;
        if (t->dtype == ST_F16)
            f16_from_f32_n(half, t->src + i, n);
        else
            bf16_from_f32_n(half, t->src + i, n);
        if (write_all(fd, half, n * sizeof *half) < 0)
            return -1;
    }
    return 0;
}

static int file_write(int fd, const char *header, size_t hlen, const st_writer *w)
{
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    if (write_all(fd, len8, 8) < 0 || write_all(fd, header, hlen) < 0)
        return -1;
    for (size_t i = 0; i < w->n; i++) {
        const w_tensor *t = &w->t[i];
        if (t->numel && (t->src ? write_converted(fd, t) : write_all(fd, t->data, t->nbytes)) < 0)
            return -1;
    }
    return 0;
}

/* A disk too full for the file fails here, before gigabytes are written; filesystems that cannot
 * reserve space just skip it. */
static int space_reserve(int fd, uint64_t size)
{
    if (fallocate(fd, 0, 0, (off_t)size) < 0 && errno != EOPNOTSUPP && errno != ENOSYS)
        return -1;
    return 0;
}

static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

int st_writer_save(st_writer *w, const char *path, tg_error *err)
{
    size_t hlen;
    uint64_t data_len;
    char *header = header_build(w, path, &hlen, &data_len, err);
    if (!header)
        return -1;
    char *dir = folder_of(path);
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!dir || !tmp) {
        free(header);
        free(dir);
        free(tmp);
        return error_set(err, "%s: out of memory", path);
    }
    const char *base = strrchr(path, '/');
    snprintf(tmp, tlen, "%s/.%s.tmp-XXXXXX", dir, base ? base + 1 : path);
    int rc = 0;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = error_set(err, "%s: cannot create a temporary file in %s: %s", path, dir,
                       strerror(errno));
    } else {
        /* mkstemp's 0600 would hide a LoRA from the web UI run as another user: keep the mode of
         * the file replaced, else the usual 0644. */
        struct stat st;
        mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
        const char *step = space_reserve(fd, 8 + hlen + data_len) < 0 ? "reserve space"
                         : file_write(fd, header, hlen, w) < 0 ? "write" : fchmod(fd, mode) < 0 ? "chmod" : fsync(fd) < 0 ? "fsync" : NULL;
        int e = errno;
        if (close(fd) < 0 && !step) {
            step = "close";
            e = errno;
        }
        if (!step && rename(tmp, path) < 0) {
            step = "rename";
            e = errno;
        }
        if (step) {
            unlink(tmp);
            rc = error_set(err, "%s: cannot save (%s): %s; the file is unchanged", path, step,
                           strerror(e));
        } else {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd); /* the rename itself must survive a crash too */
                close(dfd);
            }
        }
    }
    free(header);
    free(dir);
    free(tmp);
    return rc;
}

/* safetensors files (docs/safetensors.md): the format of SD checkpoints, LoRA files and the
 * `tagbench model` test tensors. An 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw little-endian row-major data.
 *
 * Reading maps the file (read-only, private) and never copies it: opening a 4 GB checkpoint reads
 * only its header, and a tensor's pages come in from the page cache when it is touched. Every
 * number in the header is checked before it is used; a file that fails a check is refused with a
 * message naming the file, the tensor and the reason, never read out of bounds.
 *
 * Writing collects tensors whose data the caller keeps (borrowed until st_writer_save returns) and
 * writes the file the way the reference Python/Rust library does (same header text, same data
 * order), atomically: a temporary file in the same folder, fsync, rename. */
#ifndef TRAINER_SAFETENSORS_H
#define TRAINER_SAFETENSORS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000u /* bytes; the reference library refuses larger headers */

/* The dtypes of the format, in the reference library's order of increasing alignment (the writer
 * lays data out in decreasing order of it, so every tensor starts aligned to its element size). */
typedef enum st_dtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3, /* "F8_E4M3": the E4M3FN variant (no infinities, max 448) */
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_F64,
    ST_I64,
    ST_U64,
    ST_DTYPE_COUNT
} st_dtype;

/* "F32", "BF16", ...; "?" for a value out of range. */
const char *st_dtype_name(st_dtype dt);
/* Bytes per element (0 for a value out of range). */
size_t st_dtype_size(st_dtype dt);
/* The dtype named s (exact, case-sensitive as in the format); 0, or -1 if unknown. */
int st_dtype_parse(const char *s, st_dtype *out);

/* ---- reading ---- */

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;                       /* 0 for a scalar (shape []) */
    int64_t shape[ST_MAX_DIMS];
    size_t numel;                   /* product of the shape (1 for a scalar, 0 if a dimension is 0) */
    size_t nbytes;                  /* numel * st_dtype_size(dtype) */
    uint64_t offset;                /* of the data from the start of the file */
    /* Into the mapping; valid until st_close. Not necessarily aligned to the element size (a
     * foreign writer may not pad its header), so read it through st_read_f32 or memcpy. */
    const void *data;
    const char *file;               /* the path it was opened as, for messages */
} st_tensor;

typedef struct st_file st_file;

/* Opens and validates path; NULL with err set (naming path) if it is not a valid safetensors
 * file. The tensors, their names and the metadata stay valid until st_close. */
st_file *st_open(const char *path, tg_error *err);
void st_close(st_file *f);

const char *st_path(const st_file *f);
/* Size of the file in bytes, and of its header (the JSON text, padding included). */
uint64_t st_file_size(const st_file *f);
uint64_t st_header_size(const st_file *f);

/* The tensors in order of name (strcmp); st_at(f, i) for i < st_count(f). */
size_t st_count(const st_file *f);
const st_tensor *st_at(const st_file *f, size_t i);
/* The tensor named name, or NULL (binary search). */
const st_tensor *st_find(const st_file *f, const char *name);

/* The `__metadata__` value of key, or NULL. Keys in order of name: st_meta_at(f, i, &k, &v). */
const char *st_meta(const st_file *f, const char *key);
size_t st_meta_count(const st_file *f);
void st_meta_at(const st_file *f, size_t i, const char **key, const char **value);

/* Converts the tensor's elements into dst[0..n), where n must equal t->numel. F32, F16, BF16,
 * F64, the F8 formats and the integer/bool dtypes are converted (integers beyond 2^24 and F64
 * beyond f32's range/precision round as C casts do). 0, or -1 with err naming file and tensor. */
int st_read_f32(const st_tensor *t, float *dst, size_t n, tg_error *err);

/* Tells the kernel that t's pages will not be needed again (after uploading it to a GPU, say), so
 * that they stop counting in the process's resident memory; touching t->data afterwards reads the
 * file again. */
void st_release(const st_file *f, const st_tensor *t);

/* ---- writing ---- */

typedef struct st_writer st_writer;

st_writer *st_writer_new(void);
void st_writer_free(st_writer *w);

/* Adds a tensor whose data (numel elements in dt's encoding, little-endian) stays the caller's:
 * it is borrowed, not copied, and must stay valid and unchanged until st_writer_save returns.
 * data may be NULL only when the tensor has no elements. ndim in [0, ST_MAX_DIMS], dimensions
 * >= 0. A name that is empty, "__metadata__", or not valid UTF-8 is refused; a name added twice
 * is refused by st_writer_save. 0, or -1 with err. */
int st_writer_add(st_writer *w, const char *name, st_dtype dt, int ndim, const int64_t *shape,
                  const void *data, tg_error *err);
/* The same for f32 data stored as dt (F32, F16 or BF16; rounding to nearest, ties to even). src is
 * borrowed too and converted in small chunks while saving, so no converted copy is ever held. */
int st_writer_add_f32_as(st_writer *w, const char *name, st_dtype dt, int ndim,
                         const int64_t *shape, const float *src, tg_error *err);
/* Sets `__metadata__` key to value (both copied; a key set again is replaced). 0, or -1 when out
 * of memory. Written in order of key; with no key set, the header has no `__metadata__`. */
int st_writer_meta(st_writer *w, const char *key, const char *value);
size_t st_writer_count(const st_writer *w);

/* Writes the file: header (`__metadata__` first, then the tensors in data order: decreasing
 * alignment, then name; padded with spaces to a multiple of 8 bytes), then the data. Atomic:
 * path is either the old file or the complete new one. Saving over a file that is open with
 * st_open is safe (the mapping keeps the old file). 0, or -1 with err naming path. */
int st_writer_save(st_writer *w, const char *path, tg_error *err);

#endif

/* safetensors: f16/bf16 conversions (every value, every rounding boundary), round trips of every
 * dtype, the format's exact bytes, hostile files refused with the right message, and a sparse
 * 7.7 GB file with every key and shape of an unpruned fp32 SD 1.x checkpoint opened without
 * reading it. */
#include "trainer/safetensors.h"

#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"
#include "trainer/dtype.h"

static uint32_t bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static float from_bits(uint32_t x)
{
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident memory of this process in KiB. */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- dtype conversions ---- */

/* The value of an f16 from its definition, independently of f16_to_f32. */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (h & 0x8000) ? -v : v;
}

static void test_f16_every_value(void)
{
    int bad_value = 0, bad_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((uint16_t)h);
        bool special = ((h >> 10) & 0x1f) == 0x1f;
        if (!special && (double)f != f16_value((uint16_t)h))
            bad_value++;
        if (!special && !!signbit(f) != !!(h & 0x8000))
            bad_value++;
        if (special && ((h & 0x3ff) ? !isnan(f) : !isinf(f)))
            bad_value++;
        if (f16_from_f32(f) != h) /* every value, NaN payloads included, comes back bit for bit */
            bad_trip++;
    }
    CHECK_INT(bad_value, 0);
    CHECK_INT(bad_trip, 0);
}

static void test_bf16_every_value(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((uint16_t)h);
        bad += bits(f) != h << 16;
        bad += bf16_from_f32(f) != h;
    }
    CHECK_INT(bad, 0);
}

/* Between every two neighbouring finite f16 values a < b: the midpoint goes to the even one, and
 * the floats just below and above it go to a and b. 65504's upper neighbour is 65536 (infinity). */
static void test_f16_rounding_boundaries(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        double a = f16_value((uint16_t)h), b = h + 1 < 0x7c00 ? f16_value((uint16_t)(h + 1)) : 65536.0;
        float mid = (float)((a + b) / 2); /* exact: 12 significant bits */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        for (int s = 0; s < 2; s++) {
            float sg = s ? -1.0f : 1.0f;
            uint16_t sb = s ? 0x8000 : 0;
            bad += f16_from_f32(sg * mid) != (even | sb);
            bad += f16_from_f32(sg * nextafterf(mid, 0)) != (h | sb);
            bad += f16_from_f32(sg * nextafterf(mid, INFINITY)) != ((h + 1) | sb);
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(f16_from_f32(65504.0f), 0x7bff);
    CHECK_INT(f16_from_f32(65519.99f), 0x7bff);
    CHECK_INT(f16_from_f32(65520.0f), 0x7c00);
    CHECK_INT(f16_from_f32(1e10f), 0x7c00);
    CHECK_INT(f16_from_f32(-INFINITY), 0xfc00);
    CHECK_INT(f16_from_f32(0x1p-24f), 0x0001);   /* smallest subnormal */
    CHECK_INT(f16_from_f32(0x1p-25f), 0x0000);   /* half of it: tie to even, zero */
    CHECK_INT(f16_from_f32(0x1.8p-25f), 0x0001);
    CHECK_INT(f16_from_f32(0x1p-14f), 0x0400);   /* smallest normal */
    CHECK_INT(f16_from_f32(-0.0f), 0x8000);
    CHECK_INT(f16_from_f32(0.1f), 0x2e66);
    CHECK_INT(f16_from_f32(1.0f / 3), 0x3555);
    uint16_t n = f16_from_f32(from_bits(0xffc00001)); /* a NaN whose payload is all below f16's */
    CHECK(((n >> 10) & 0x1f) == 0x1f && (n & 0x3ff) && (n & 0x8000));
}

static void test_bf16_rounding_boundaries(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 0x7f80; h++) {
        double a = bf16_to_f32((uint16_t)h);
        double b = h + 1 < 0x7f80 ? (double)bf16_to_f32((uint16_t)(h + 1)) : ldexp(1, 128);
        float mid = (float)((a + b) / 2);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad += bf16_from_f32(mid) != even;
        bad += bf16_from_f32(nextafterf(mid, 0)) != h;
        bad += bf16_from_f32(nextafterf(mid, INFINITY)) != h + 1;
        bad += bf16_from_f32(-mid) != (even | 0x8000);
    }
    CHECK_INT(bad, 0);
    CHECK_INT(bf16_from_f32(FLT_MAX), 0x7f80); /* rounds past the largest bf16 */
    CHECK_INT(bf16_from_f32(1.0f), 0x3f80);
    CHECK_INT(bf16_from_f32(0.1f), 0x3dcd);
    uint16_t n = bf16_from_f32(from_bits(0x7f800001));
    CHECK(((n >> 7) & 0xff) == 0xff && (n & 0x7f));
}

/* bf16 by a different method: the two candidates around |f| compared in double. */
static uint16_t bf16_oracle(float f)
{
    uint32_t x = bits(f), lo = x & 0xffff0000, hi = lo + 0x10000;
    double af = fabs((double)f), alo = fabs((double)from_bits(lo));
    double ahi = (hi & 0x7fffffff) == 0x7f800000 ? ldexp(1, 128) : fabs((double)from_bits(hi));
    double dl = af - alo, dh = ahi - af;
    bool up = dh < dl || (dh == dl && (lo & 0x10000));
    return (uint16_t)((up ? hi : lo) >> 16);
}

/* A sweep of the whole f32 range against the compiler's _Float16 (where it has one) and the
 * bf16 oracle. */
static void test_from_f32_against_oracles(void)
{
    int bad16 = 0, bad_bf = 0, n = 0;
    for (uint64_t x = 0; x < 0x100000000ull; x += 1021, n++) {
        float f = from_bits((uint32_t)x);
        if (isnan(f))
            continue;
#ifdef __FLT16_MAX__
        _Float16 g = (_Float16)f;
        uint16_t want;
        memcpy(&want, &g, 2);
        bad16 += f16_from_f32(f) != want;
#endif
        bad_bf += bf16_from_f32(f) != bf16_oracle(f);
    }
    CHECK(n > 4000000);
    CHECK_INT(bad16, 0);
    CHECK_INT(bad_bf, 0);
}

static void test_f8_every_value(void)
{
    int bad = 0;
    for (int b = 0; b < 256; b++) {
        int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
        float got = f8e4m3_to_f32((uint8_t)b);
        if (e == 15 && m == 7) {
            bad += !isnan(got);
        } else {
            double v = e ? ldexp(8 + m, e - 10) : ldexp(m, -9);
            bad += (double)got != (s ? -v : v) || !!signbit(got) != s;
        }
        float g2 = f8e5m2_to_f32((uint8_t)b);
        bad += bits(g2) != bits(f16_to_f32((uint16_t)(b << 8)));
    }
    CHECK_INT(bad, 0);
    CHECK(f8e4m3_to_f32(0x7e) == 448.0f);
    CHECK(f8e5m2_to_f32(0x7b) == 57344.0f);
}

/* ---- files ---- */

static st_file *open_ok(const char *path)
{
    tg_error err = {{0}};
    st_file *f = st_open(path, &err);
    CHECK(f != NULL);
    if (!f)
        fprintf(stderr, "    st_open: %s\n", err.msg);
    return f;
}

static bool save_ok(st_writer *w, const char *path)
{
    tg_error err = {{0}};
    int rc = st_writer_save(w, path, &err);
    CHECK_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "    st_writer_save: %s\n", err.msg);
    return rc == 0;
}

static void add_ok(st_writer *w, const char *name, st_dtype dt, int ndim, const int64_t *shape,
                   const void *data)
{
    tg_error err = {{0}};
    int rc = st_writer_add(w, name, dt, ndim, shape, data, &err);
    CHECK_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "    st_writer_add(%s): %s\n", name, err.msg);
}

static void add_f32_ok(st_writer *w, const char *name, st_dtype dt, int ndim, const int64_t *shape,
                       const float *src)
{
    tg_error err = {{0}};
    int rc = st_writer_add_f32_as(w, name, dt, ndim, shape, src, &err);
    CHECK_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "    st_writer_add_f32_as(%s): %s\n", name, err.msg);
}

static bool shape_is(const st_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return false;
    return true;
}

/* Every dtype, with shapes from a scalar to 8 dimensions and with empty ones, plus metadata:
 * the bytes come back as written, and st_read_f32 converts them. */
static void test_round_trip_every_dtype(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "all.safetensors");
    static const int64_t shapes[][ST_MAX_DIMS] = {{0}, {3}, {2, 3}, {2, 0, 3}, {1, 2, 1, 2, 1, 2, 1, 3}};
    static const int ndims[] = {0, 1, 2, 3, 8};
    enum { NS = 5 };
    unsigned char data[ST_DTYPE_COUNT][NS][24 * 8];
    st_writer *w = st_writer_new();
    for (int dt = 0; dt < ST_DTYPE_COUNT; dt++)
        for (int s = 0; s < NS; s++) {
            char name[64];
            snprintf(name, sizeof name, "%s.s%d", st_dtype_name((st_dtype)dt), s);
            for (size_t k = 0; k < sizeof data[dt][s]; k++) /* small values, valid in every dtype */
                data[dt][s][k] = (unsigned char)((dt * 31 + s * 7 + k) % 5);
            if (dt == ST_BOOL)
                for (size_t k = 0; k < sizeof data[dt][s]; k++)
                    data[dt][s][k] &= 1;
            add_ok(w, name, (st_dtype)dt, ndims[s], shapes[s], data[dt][s]);
        }
    float src[6] = {1.0f, -2.5f, 0.1f, 65504.0f, 1e-7f, -0.0f};
    int64_t six = 6;
    add_f32_ok(w, "as.f16", ST_F16, 1, &six, src);
    add_f32_ok(w, "as.bf16", ST_BF16, 1, &six, src);
    add_f32_ok(w, "as.f32", ST_F32, 1, &six, src);
    CHECK_INT(st_writer_meta(w, "ss_network_dim", "4"), 0);
    CHECK_INT(st_writer_meta(w, "ss_tag_frequency", "{\"10_x\": {\"cat\": 2}}"), 0);
    CHECK_INT(st_writer_meta(w, "ss_network_dim", "8"), 0); /* replaced */
    CHECK_INT(st_writer_meta(w, "note", "é \"quoted\"\n\ttab\x01"), 0);
    CHECK_INT(st_writer_count(w), ST_DTYPE_COUNT * NS + 3);
    bool saved = save_ok(w, path);
    st_writer_free(w);
    st_file *f = saved ? open_ok(path) : NULL;
    if (f) {
        CHECK_INT(st_count(f), ST_DTYPE_COUNT * NS + 3);
        CHECK_INT(st_header_size(f) % 8, 0);
        for (size_t i = 1; i < st_count(f); i++)
            CHECK(strcmp(st_at(f, i - 1)->name, st_at(f, i)->name) < 0);
        for (int dt = 0; dt < ST_DTYPE_COUNT; dt++)
            for (int s = 0; s < NS; s++) {
                char name[64];
                snprintf(name, sizeof name, "%s.s%d", st_dtype_name((st_dtype)dt), s);
                const st_tensor *t = st_find(f, name);
                CHECK(t != NULL);
                if (!t)
                    continue;
                size_t numel = 1;
                for (int d = 0; d < ndims[s]; d++)
                    numel *= (size_t)shapes[s][d];
                CHECK_INT(t->dtype, dt);
                CHECK(shape_is(t, ndims[s], shapes[s]));
                CHECK_INT(t->numel, numel);
                CHECK_INT(t->nbytes, numel * st_dtype_size((st_dtype)dt));
                CHECK(memcmp(t->data, data[dt][s], t->nbytes) == 0);
                CHECK_INT(t->offset % st_dtype_size((st_dtype)dt), 0); /* aligned data */
                float out[24];
                tg_error err = {{0}};
                CHECK_INT(st_read_f32(t, out, numel, &err), 0);
                if (numel && dt != ST_F8_E4M3 && dt != ST_F8_E5M2) {
                    /* element 0 as the dtype defines it (the bytes are small: integers are
                     * positive, F64 is a tiny subnormal that becomes 0) */
                    const unsigned char *p = data[dt][s];
                    uint64_t le = 0;
                    for (size_t b = 0; b < st_dtype_size((st_dtype)dt); b++)
                        le |= (uint64_t)p[b] << (8 * b);
                    double want = dt == ST_F32 ? (double)from_bits((uint32_t)le)
                                : dt == ST_F16 ? f16_value((uint16_t)le)
                                : dt == ST_BF16 ? (double)from_bits((uint32_t)le << 16)
                                : dt == ST_F64 ? 0.0 : (double)(float)le;
                    CHECK((double)out[0] == want);
                }
            }
        float out[6];
        tg_error err = {{0}};
        const st_tensor *t16 = st_find(f, "as.f16"), *tb = st_find(f, "as.bf16"), *t32 = st_find(f, "as.f32");
        CHECK(t16 && t16->dtype == ST_F16 && tb && tb->dtype == ST_BF16 && t32 && t32->dtype == ST_F32);
        if (t16 && st_read_f32(t16, out, 6, &err) == 0)
            for (int i = 0; i < 6; i++)
                CHECK(bits(out[i]) == bits(f16_to_f32(f16_from_f32(src[i]))));
        if (tb && st_read_f32(tb, out, 6, &err) == 0)
            for (int i = 0; i < 6; i++)
                CHECK(bits(out[i]) == bits(bf16_to_f32(bf16_from_f32(src[i]))));
        if (t32 && st_read_f32(t32, out, 6, &err) == 0)
            CHECK(memcmp(out, src, sizeof src) == 0);
        CHECK_INT(st_read_f32(t32, out, 5, &err), -1);
        CHECK(strstr(err.msg, "all.safetensors: tensor 'as.f32': has 6 elements, the caller expected 5"));
        CHECK_STR(st_meta(f, "ss_network_dim"), "8");
        CHECK_STR(st_meta(f, "ss_tag_frequency"), "{\"10_x\": {\"cat\": 2}}");
        CHECK_STR(st_meta(f, "note"), "é \"quoted\"\n\ttab\x01");
        CHECK(st_meta(f, "missing") == NULL);
        CHECK(st_find(f, "missing") == NULL && st_find(f, "") == NULL);
        CHECK_INT(st_meta_count(f), 3);
        const char *k, *v;
        st_meta_at(f, 0, &k, &v);
        CHECK_STR(k, "note");
        st_close(f);
    }
    free(path);
    fixture_remove(root);
}

/* The writer's bytes, exactly: header JSON as serde_json writes it, padded with spaces to a
 * multiple of 8, data in order of decreasing alignment then name. The first file is the
 * reference library's own alignment example. */
static void test_writer_exact_bytes(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "exact.safetensors");
    st_writer *w = st_writer_new();
    float v[6] = {0, 1, 2, 3, 4, 5};
    int64_t shape[4] = {1, 1, 2, 3};
    add_ok(w, "attn0", ST_F32, 4, shape, v);
    static const char want1[] =
        "\x48\0\0\0\0\0\0\0"
        "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}"
        "       "
        "\0\0\0\0" "\0\0\x80\x3f" "\0\0\0\x40" "\0\0\x40\x40" "\0\0\x80\x40" "\0\0\xa0\x40";
    size_t len = 0;
    char *got = save_ok(w, path) ? fixture_read(root, "exact.safetensors", &len) : NULL;
    CHECK_INT(len, sizeof want1 - 1);
    CHECK(got && len == sizeof want1 - 1 && memcmp(got, want1, len) == 0);
    free(got);
    st_writer_free(w);

    w = st_writer_new();
    float a[2] = {1.0f, -0.0f}, b[3] = {1.0f, 0.5f, -2.0f};
    int64_t c = 7;
    uint16_t d = 0x3f80;
    int64_t two = 2, three = 3, one = 1, zero = 0;
    add_f32_ok(w, "b", ST_F16, 1, &three, b);
    add_ok(w, "a", ST_F32, 1, &two, a);
    add_ok(w, "c", ST_I64, 0, NULL, &c);
    add_ok(w, "e", ST_U8, 1, &zero, NULL);
    add_ok(w, "d", ST_BF16, 1, &one, &d);
    st_writer_meta(w, "ss_network_dim", "4");
    st_writer_meta(w, "a\"b", "x\ny");
    static const char want2[] =
        "\x48\x01\0\0\0\0\0\0"
        "{\"__metadata__\":{\"a\\\"b\":\"x\\ny\",\"ss_network_dim\":\"4\"},"
        "\"c\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
        "\"d\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[16,18]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[18,24]},"
        "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[24,24]}}"
        "    "
        "\x07\0\0\0\0\0\0\0" "\0\0\x80\x3f" "\0\0\0\x80" "\x80\x3f" "\0\x3c" "\0\x38" "\0\xc0";
    got = save_ok(w, path) ? fixture_read(root, "exact.safetensors", &len) : NULL;
    CHECK_INT(len, sizeof want2 - 1);
    CHECK(got && len == sizeof want2 - 1 && memcmp(got, want2, len) == 0);
    if (got && len == sizeof want2 - 1 && memcmp(got, want2, len) != 0)
        fprintf(stderr, "    got header: %.*s\n", (int)(len - 32), got + 8);
    free(got);
    st_writer_free(w);
    /* No tensors: the reference library's "{}" and six spaces, and with metadata only. */
    w = st_writer_new();
    got = save_ok(w, path) ? fixture_read(root, "exact.safetensors", &len) : NULL;
    CHECK(got && len == 16 && memcmp(got, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    free(got);
    st_writer_meta(w, "framework", "pt");
    static const char want3[] = "\x28\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":\"pt\"}}     ";
    got = save_ok(w, path) ? fixture_read(root, "exact.safetensors", &len) : NULL;
    CHECK(got && len == sizeof want3 - 1 && memcmp(got, want3, len) == 0);
    free(got);
    st_writer_free(w);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    CHECK_INT(fixture_count_named(root, ".tmp-"), 0);
    free(path);
    fixture_remove(root);
}

static char *write_bytes(const char *root, const char *name, const void *bytes, size_t len)
{
    CHECK_INT(fixture_write_bytes(root, name, bytes, len), 0);
    return fixture_path(root, name);
}

/* A file: the 8-byte length of header, header, then data_len bytes of data (0, 1, 2, ...). */
static char *write_st(const char *root, const char *name, const char *header, size_t data_len)
{
    size_t hl = strlen(header), len = 8 + hl + data_len;
    unsigned char *b = malloc(len);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hl + i] = (unsigned char)i;
    char *p = write_bytes(root, name, b, len);
    free(b);
    return p;
}

/* Files written by hand, not by our writer: unpadded headers (data not aligned), entries out of
 * order, gaps and trailing bytes, extra fields, an empty header object. */
static void test_reader_hand_made_files(void)
{
    char *root = fixture_make();
    /* The reference library's first example: 64-byte header, F32 [1,2,3]. */
    static const char ex[] =
        "\x40\0\0\0\0\0\0\0"
        "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}"
        "\0\0\0\0" "\0\0\x80\x3f" "\0\0\0\x40" "\0\0\x40\x40" "\0\0\x80\x40" "\0\0\xa0\x40";
    char *p = write_bytes(root, "ex.safetensors", ex, sizeof ex - 1);
    st_file *f = open_ok(p);
    if (f) {
        const st_tensor *t = st_find(f, "attn.0");
        float out[6];
        tg_error err = {{0}};
        CHECK(t && t->ndim == 3 && t->shape[2] == 3 && t->offset == 72);
        CHECK(t && st_read_f32(t, out, 6, &err) == 0 && out[0] == 0 && out[5] == 5);
        CHECK_INT(st_meta_count(f), 0);
        st_close(f);
    }
    free(p);

    /* Header of 61 bytes: the data starts at byte 69, so F32 and F16 data are misaligned in
     * memory; "z" comes first in the header and last in the data; 4 bytes of gap; an unknown
     * field; 3 trailing bytes. */
    const char *h = "{\"z\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[12,16],\"x\":1},"
                    "\"a\":{\"shape\":[2],\"data_offsets\":[0,8],\"dtype\":\"F32\"}}";
    size_t hl = strlen(h);
    unsigned char file[512];
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(file + 8, h, hl);
    unsigned char data[19] = {0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc1, 9, 9, 9, 9, 0, 0x3c, 0x55, 0x35, 1, 2, 3};
    memcpy(file + 8 + hl, data, sizeof data);
    p = write_bytes(root, "hand.safetensors", file, 8 + hl + sizeof data);
    f = open_ok(p);
    if (f) {
        CHECK_INT(st_count(f), 2);
        CHECK_STR(st_at(f, 0)->name, "a");
        CHECK_STR(st_at(f, 1)->name, "z");
        float out[2];
        tg_error err = {{0}};
        CHECK(st_read_f32(st_find(f, "a"), out, 2, &err) == 0 && out[0] == 1.0f && out[1] == -10.0f);
        CHECK(st_read_f32(st_find(f, "z"), out, 2, &err) == 0 && out[0] == 1.0f &&
              out[1] == f16_to_f32(0x3555));
        CHECK_INT(st_find(f, "z")->offset, 8 + hl + 12);
        st_close(f);
    }
    free(p);

    /* An empty tensor may sit anywhere, even inside another's bytes: it has none. */
    p = write_st(root, "empty.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[8,8]}}", 16);
    f = open_ok(p);
    if (f) {
        const st_tensor *e = st_find(f, "e");
        CHECK(e && e->numel == 0 && e->nbytes == 0 && e->ndim == 2);
        float none;
        tg_error err = {{0}};
        CHECK(e && st_read_f32(e, &none, 0, &err) == 0);
        st_close(f);
    }
    free(p);

    /* What the reference library writes for no tensors: "{}" and six spaces. */
    p = write_bytes(root, "none.safetensors", "\x08\0\0\0\0\0\0\0{}      ", 16);
    f = open_ok(p);
    if (f)
        CHECK_INT(st_count(f), 0);
    st_close(f);
    free(p);
    fixture_remove(root);
}

static void expect_refused_path(const char *path, const char *want)
{
    tg_error err = {{0}};
    st_file *f = st_open(path, &err);
    CHECK(f == NULL);
    CHECK(strstr(err.msg, path) == err.msg);
    CHECK(strstr(err.msg, want) != NULL);
    if (f || !strstr(err.msg, want))
        fprintf(stderr, "    %s: expected \"%s\", got \"%s\"\n", path, want, f ? "(opened)" : err.msg);
    st_close(f);
}

static void expect_refused(const char *root, const char *header, size_t data_len, const char *want)
{
    char *p = write_st(root, "bad.safetensors", header, data_len);
    expect_refused_path(p, want);
    free(p);
}

#define T(body) "{\"x\":{" body "}}"

static void test_hostile_files(void)
{
    char *root = fixture_make();
    char *p = write_bytes(root, "bad.safetensors", "\x05\0\0\0", 4);
    expect_refused_path(p, "bad.safetensors: 4 bytes is too short for a safetensors file");
    free(p);
    p = write_bytes(root, "bad.safetensors", "\0\0\0\0\0\0\0\0{}", 10);
    expect_refused_path(p, "header length is 0");
    free(p);
    p = write_bytes(root, "bad.safetensors", "\0\0\0\x10\0\0\0\0{}", 10); /* 256 MiB */
    expect_refused_path(p, "header length 268435456 is over the limit of 100000000 bytes");
    free(p);
    p = write_bytes(root, "bad.safetensors", "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10);
    expect_refused_path(p, "is over the limit");
    free(p);
    p = write_bytes(root, "bad.safetensors", "\x10\0\0\0\0\0\0\0{}      ", 16);
    expect_refused_path(p, "header length 16 runs past the end of the file (16 bytes)");
    free(p);
    p = fixture_path(root, "missing.safetensors");
    expect_refused_path(p, "missing.safetensors: cannot open: No such file or directory");
    free(p);
    expect_refused_path(root, "not a regular file");

    expect_refused(root, "{\"x\":", 0, "header is not valid JSON (at byte ");
    expect_refused(root, "not json", 0, "header is not valid JSON");
    expect_refused(root, "[1, 2]", 0, "header is an array, not a JSON object");
    expect_refused(root, "\"text\"", 0, "header is the string \"text\", not a JSON object");
    expect_refused(root, "{} {}", 0, "header has text after its JSON value (at byte 3 of 5)");
    expect_refused(root, "{\"x\xff\":1}", 0, "header is not valid UTF-8 (at byte 3)");
    expect_refused(root, "{\"\xc0\xaf\":1}", 0, "not valid UTF-8"); /* overlong '/' */
    char nul[] = "{\"a\":1}";
    nul[3] = '\0';
    p = fixture_path(root, "bad.safetensors");
    fixture_write_bytes(root, "bad.safetensors", "\x07\0\0\0\0\0\0\0", 8);
    FILE *fp = fopen(p, "ab");
    fwrite(nul, 1, 7, fp);
    fclose(fp);
    expect_refused_path(p, "header has a NUL byte at byte 3");
    free(p);
    expect_refused(root, "{\"a\\u0000b\":{}}", 0, "escaped NUL");
    expect_refused(root, "{\"a\\\\u0000b\":7}", 0, "tensor 'a\\u0000b': entry is 7, not an object");

    expect_refused(root, "{\"x\":5}", 0, "bad.safetensors: tensor 'x': entry is 5, not an object");
    expect_refused(root, T("\"shape\":[1],\"data_offsets\":[0,4]"), 4, "tensor 'x': no dtype");
    expect_refused(root, T("\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]"), 4,
                   "tensor 'x': dtype is 4, not a string");
    expect_refused(root, T("\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
                   "tensor 'x': unknown dtype 'F7'");
    expect_refused(root, T("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
                   "unknown dtype 'f32'");
    expect_refused(root, T("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, "tensor 'x': no shape");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]"), 4,
                   "tensor 'x': shape is an object, not an array");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,4]"), 4,
                   "tensor 'x': shape[1] is -3, not a non-negative integer");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]"), 4,
                   "shape[0] is 1.5, not a non-negative integer");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,4]"), 4,
                   "shape[0] is the string \"2\", not a non-negative integer");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]"), 4,
                   "shape[0] is 1.0000000000000001e+300, not a non-negative integer");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,4]"), 4,
                   "tensor 'x': shape [4294967296, 4294967296, 2] of F32 is too large (its byte size "
                   "overflows 64 bits)");
    expect_refused(root, T("\"dtype\":\"F64\",\"shape\":[4503599627370496,512],\"data_offsets\":[0,4]"), 4,
                   "shape [4503599627370496, 512] of F64 is too large");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]"), 4,
                   "tensor 'x': shape has 9 dimensions (at most 8 are supported)");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1]"), 4, "tensor 'x': no data_offsets");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]"), 8,
                   "tensor 'x': data_offsets is an array, not [begin, end]");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4"), 8,
                   "data_offsets is 4, not [begin, end]");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), 8,
                   "tensor 'x': data_offsets[0] is -4, not a non-negative integer");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,null]"), 8,
                   "data_offsets[1] is null, not a non-negative integer");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]"), 8,
                   "tensor 'x': data_offsets [8, 4] end before they begin");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[6,10]"), 8,
                   "tensor 'x': data_offsets [6, 10] run past the end of the data (8 bytes after the header)");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e30]"), 8,
                   "data_offsets[1] is 1e+30, not a non-negative integer");
    expect_refused(root, T("\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]"), 24,
                   "bad.safetensors: tensor 'x': data_offsets [0, 12] hold 12 bytes, shape [2, 3] of "
                   "F32 needs 24");
    expect_refused(root, T("\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]"), 4,
                   "data_offsets [0, 4] hold 4 bytes, shape [] of BF16 needs 2");
    expect_refused(root, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
                         "\"c\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 20,
                   "tensor 'c': data_offsets [4, 12] overlap those of tensor 'a' [0, 8]");
    expect_refused(root, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                         "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
                   "overlap those of tensor 'a' [0, 2]");
    expect_refused(root, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                         "\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4,
                   "bad.safetensors: tensor 'x' appears twice in the header");
    expect_refused(root, "{\"__metadata__\":{\"k\":1}}", 0,
                   "bad.safetensors: __metadata__ 'k': value is 1, not a string");
    expect_refused(root, "{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", 0,
                   "__metadata__ 'k': value is an object, not a string");
    expect_refused(root, "{\"__metadata__\":{\"k\":null}}", 0, "value is null, not a string");
    expect_refused(root, "{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is an array, not an object");
    expect_refused(root, "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                   "__metadata__ appears twice in the header");
    expect_refused(root, "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0,
                   "__metadata__ 'k' appears twice");
    /* the first bad tensor is the one named */
    expect_refused(root, "{\"ok\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                         "\"bad\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,2]}}", 2,
                   "tensor 'bad': data_offsets [1, 2] hold 1 bytes, shape [2] of U8 needs 2");
    fixture_remove(root);
}

static void test_writer_refusals(void)
{
    char *root = fixture_make();
    st_writer *w = st_writer_new();
    tg_error err = {{0}};
    float v[4] = {0};
    int64_t two = 2, neg = -1, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_INT(st_writer_add(w, "", ST_F32, 1, &two, v, &err), -1);
    CHECK(strstr(err.msg, "not a usable name"));
    CHECK_INT(st_writer_add(w, "__metadata__", ST_F32, 1, &two, v, &err), -1);
    CHECK_INT(st_writer_add(w, "bad\xff", ST_F32, 1, &two, v, &err), -1);
    CHECK_INT(st_writer_add(w, "x", ST_F32, 1, &neg, v, &err), -1);
    CHECK(strstr(err.msg, "tensor 'x': dimension 0 is -1"));
    CHECK_INT(st_writer_add(w, "x", ST_F32, 9, nine, v, &err), -1);
    CHECK(strstr(err.msg, "9 dimensions"));
    CHECK_INT(st_writer_add(w, "x", ST_F32, 1, &two, NULL, &err), -1);
    CHECK(strstr(err.msg, "tensor 'x': no data"));
    CHECK_INT(st_writer_add(w, "x", ST_DTYPE_COUNT, 1, &two, v, &err), -1);
    CHECK_INT(st_writer_add_f32_as(w, "x", ST_I32, 1, &two, v, &err), -1);
    CHECK(strstr(err.msg, "F32, F16 or BF16, not I32"));
    CHECK_INT(st_writer_count(w), 0);

    add_ok(w, "x", ST_F32, 1, &two, v);
    add_f32_ok(w, "x", ST_F16, 1, &two, v);
    char *path = fixture_path(root, "dup.safetensors");
    CHECK_INT(st_writer_save(w, path, &err), -1);
    CHECK(strstr(err.msg, "dup.safetensors: tensor 'x' was added twice"));
    CHECK(!fixture_exists(root, "dup.safetensors"));
    st_writer_free(w);
    free(path);

    w = st_writer_new();
    add_ok(w, "x", ST_F32, 1, &two, v);
    path = fixture_path(root, "no/such/folder/x.safetensors");
    CHECK_INT(st_writer_save(w, path, &err), -1);
    CHECK(strstr(err.msg, path) == err.msg && strstr(err.msg, "cannot create a temporary file"));
    free(path);
    st_writer_meta(w, "k", "bad\xff");
    path = fixture_path(root, "meta.safetensors");
    CHECK_INT(st_writer_save(w, path, &err), -1);
    CHECK(strstr(err.msg, "__metadata__ 'k': not valid UTF-8"));
    CHECK_INT(fixture_count_named(root, ".tmp-"), 0);
    st_writer_free(w);
    free(path);
    fixture_remove(root);
}

/* A file replaced while it is open: the open one keeps its old tensors (its mapping keeps the old
 * inode), and the new file can be written from them. */
static void test_save_over_open_file(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "lora.safetensors");
    float v[3] = {1, 2, 3};
    int64_t three = 3;
    st_writer *w = st_writer_new();
    add_ok(w, "w", ST_F32, 1, &three, v);
    bool saved = save_ok(w, path);
    st_writer_free(w);
    st_file *old = saved ? open_ok(path) : NULL;
    if (old) {
        const st_tensor *t = st_find(old, "w");
        w = st_writer_new();
        add_ok(w, "w", ST_F32, 1, t->shape, t->data); /* borrowed from the open file */
        add_f32_ok(w, "w2", ST_BF16, 1, &three, v);
        st_writer_meta(w, "ss_output_name", "lora");
        save_ok(w, path);
        st_writer_free(w);
        float out[3];
        tg_error err = {{0}};
        CHECK(st_read_f32(t, out, 3, &err) == 0 && out[2] == 3.0f);
        CHECK_INT(st_count(old), 1);
        st_file *f = open_ok(path);
        if (f) {
            CHECK_INT(st_count(f), 2);
            CHECK(st_read_f32(st_find(f, "w"), out, 3, &err) == 0 && out[0] == 1 && out[2] == 3);
            CHECK(st_read_f32(st_find(f, "w2"), out, 3, &err) == 0 && out[1] == 2);
            CHECK_STR(st_meta(f, "ss_output_name"), "lora");
        }
        st_close(f);
        st_close(old);
    }
    free(path);
    fixture_remove(root);
}

/* ---- an SD 1.x checkpoint: every key and shape (reference/engines.md §3.4, §4.1, §5) ---- */

typedef struct key {
    char name[288];
    st_dtype dtype;
    int ndim;
    int64_t shape[4];
    uint64_t begin, nbytes;
} key;

typedef struct keys {
    key *k;
    size_t n;
} keys;

static void key_add(keys *ks, const char *prefix, const char *name, int ndim, int64_t a, int64_t b,
                    int64_t c, int64_t d)
{
    key *k = &ks->k[ks->n++];
    snprintf(k->name, sizeof k->name, "%s%s", prefix, name);
    k->dtype = ST_F32;
    k->ndim = ndim;
    int64_t s[4] = {a, b, c, d};
    memcpy(k->shape, s, sizeof s);
}

#define W1(p, n, a) key_add(ks, p, n, 1, a, 0, 0, 0)
#define W2(p, n, a, b) key_add(ks, p, n, 2, a, b, 0, 0)
#define W4(p, n, a, b, c, d) key_add(ks, p, n, 4, a, b, c, d)

static void join(char *out, size_t size, const char *a, const char *b)
{
    snprintf(out, size, "%s%s", a, b);
}

static void unet_res(keys *ks, const char *p, int64_t i, int64_t o)
{
    W1(p, "in_layers.0.weight", i); W1(p, "in_layers.0.bias", i);
    W4(p, "in_layers.2.weight", o, i, 3, 3); W1(p, "in_layers.2.bias", o);
    W2(p, "emb_layers.1.weight", o, 1280); W1(p, "emb_layers.1.bias", o);
    W1(p, "out_layers.0.weight", o); W1(p, "out_layers.0.bias", o);
    W4(p, "out_layers.3.weight", o, o, 3, 3); W1(p, "out_layers.3.bias", o);
    if (i != o) {
        W4(p, "skip_connection.weight", o, i, 1, 1);
        W1(p, "skip_connection.bias", o);
    }
}

static void unet_st(keys *ks, const char *p, int64_t c)
{
    char t[128];
    W1(p, "norm.weight", c); W1(p, "norm.bias", c);
    W4(p, "proj_in.weight", c, c, 1, 1); W1(p, "proj_in.bias", c);
    W4(p, "proj_out.weight", c, c, 1, 1); W1(p, "proj_out.bias", c);
    join(t, sizeof t, p, "transformer_blocks.0.");
    for (int a = 1; a <= 2; a++) {
        char n[64];
        int64_t kv = a == 1 ? c : 768;
        snprintf(n, sizeof n, "attn%d.to_q.weight", a); W2(t, n, c, c);
        snprintf(n, sizeof n, "attn%d.to_k.weight", a); W2(t, n, c, kv);
        snprintf(n, sizeof n, "attn%d.to_v.weight", a); W2(t, n, c, kv);
        snprintf(n, sizeof n, "attn%d.to_out.0.weight", a); W2(t, n, c, c);
        snprintf(n, sizeof n, "attn%d.to_out.0.bias", a); W1(t, n, c);
        snprintf(n, sizeof n, "norm%d.weight", a); W1(t, n, c);
        snprintf(n, sizeof n, "norm%d.bias", a); W1(t, n, c);
    }
    W1(t, "norm3.weight", c); W1(t, "norm3.bias", c);
    W2(t, "ff.net.0.proj.weight", 8 * c, c); W1(t, "ff.net.0.proj.bias", 8 * c);
    W2(t, "ff.net.2.weight", c, 4 * c); W1(t, "ff.net.2.bias", c);
}

static void sd_unet(keys *ks)
{
    const char *P = "model.diffusion_model.";
    static const int mult[4] = {1, 2, 4, 4};
    char p[128];
    W2(P, "time_embed.0.weight", 1280, 320); W1(P, "time_embed.0.bias", 1280);
    W2(P, "time_embed.2.weight", 1280, 1280); W1(P, "time_embed.2.bias", 1280);
    W4(P, "input_blocks.0.0.weight", 320, 4, 3, 3); W1(P, "input_blocks.0.0.bias", 320);
    int64_t ch = 320, chans[16] = {320};
    int nch = 1, b = 1;
    for (int l = 0; l < 4; l++) {
        for (int r = 0; r < 2; r++, b++) {
            snprintf(p, sizeof p, "%sinput_blocks.%d.0.", P, b);
            unet_res(ks, p, ch, 320 * mult[l]);
            ch = 320 * mult[l];
            if (l < 3) {
                snprintf(p, sizeof p, "%sinput_blocks.%d.1.", P, b);
                unet_st(ks, p, ch);
            }
            chans[nch++] = ch;
        }
        if (l < 3) {
            snprintf(p, sizeof p, "%sinput_blocks.%d.0.op.", P, b++);
            W4(p, "weight", ch, ch, 3, 3); W1(p, "bias", ch);
            chans[nch++] = ch;
        }
    }
    snprintf(p, sizeof p, "%smiddle_block.0.", P); unet_res(ks, p, ch, ch);
    snprintf(p, sizeof p, "%smiddle_block.1.", P); unet_st(ks, p, ch);
    snprintf(p, sizeof p, "%smiddle_block.2.", P); unet_res(ks, p, ch, ch);
    b = 0;
    for (int l = 3; l >= 0; l--)
        for (int i = 0; i < 3; i++, b++) {
            snprintf(p, sizeof p, "%soutput_blocks.%d.0.", P, b);
            unet_res(ks, p, ch + chans[--nch], 320 * mult[l]);
            ch = 320 * mult[l];
            int k = 1;
            if (l < 3) {
                snprintf(p, sizeof p, "%soutput_blocks.%d.1.", P, b);
                unet_st(ks, p, ch);
                k = 2;
            }
            if (l > 0 && i == 2) {
                snprintf(p, sizeof p, "%soutput_blocks.%d.%d.conv.", P, b, k);
                W4(p, "weight", ch, ch, 3, 3); W1(p, "bias", ch);
            }
        }
    W1(P, "out.0.weight", 320); W1(P, "out.0.bias", 320);
    W4(P, "out.2.weight", 4, 320, 3, 3); W1(P, "out.2.bias", 4);
}

static void sd_clip(keys *ks)
{
    const char *P = "cond_stage_model.transformer.text_model.";
    char p[128];
    W2(P, "embeddings.token_embedding.weight", 49408, 768);
    W2(P, "embeddings.position_embedding.weight", 77, 768);
    for (int i = 0; i < 12; i++) {
        snprintf(p, sizeof p, "%sencoder.layers.%d.", P, i);
        static const char *proj[] = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.",
                                     "self_attn.out_proj."};
        for (int k = 0; k < 4; k++) {
            char q[160];
            join(q, sizeof q, p, proj[k]);
            W2(q, "weight", 768, 768); W1(q, "bias", 768);
        }
        W1(p, "layer_norm1.weight", 768); W1(p, "layer_norm1.bias", 768);
        W1(p, "layer_norm2.weight", 768); W1(p, "layer_norm2.bias", 768);
        W2(p, "mlp.fc1.weight", 3072, 768); W1(p, "mlp.fc1.bias", 3072);
        W2(p, "mlp.fc2.weight", 768, 3072); W1(p, "mlp.fc2.bias", 768);
    }
    W1(P, "final_layer_norm.weight", 768); W1(P, "final_layer_norm.bias", 768);
}

static void vae_res(keys *ks, const char *p, int64_t i, int64_t o)
{
    W1(p, "norm1.weight", i); W1(p, "norm1.bias", i);
    W4(p, "conv1.weight", o, i, 3, 3); W1(p, "conv1.bias", o);
    W1(p, "norm2.weight", o); W1(p, "norm2.bias", o);
    W4(p, "conv2.weight", o, o, 3, 3); W1(p, "conv2.bias", o);
    if (i != o) {
        W4(p, "nin_shortcut.weight", o, i, 1, 1);
        W1(p, "nin_shortcut.bias", o);
    }
}

static void vae_mid(keys *ks, const char *p)
{
    char q[128];
    join(q, sizeof q, p, "mid.block_1."); vae_res(ks, q, 512, 512);
    join(q, sizeof q, p, "mid.block_2."); vae_res(ks, q, 512, 512);
    join(q, sizeof q, p, "mid.attn_1.");
    W1(q, "norm.weight", 512); W1(q, "norm.bias", 512);
    static const char *names[] = {"q.", "k.", "v.", "proj_out."};
    for (int k = 0; k < 4; k++) {
        char r[160];
        join(r, sizeof r, q, names[k]);
        W4(r, "weight", 512, 512, 1, 1); W1(r, "bias", 512);
    }
}

static void sd_vae(keys *ks)
{
    const char *P = "first_stage_model.";
    static const int mult[4] = {1, 2, 4, 4};
    char p[128];
    W4(P, "encoder.conv_in.weight", 128, 3, 3, 3); W1(P, "encoder.conv_in.bias", 128);
    int64_t bi = 128;
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 2; j++) {
            snprintf(p, sizeof p, "%sencoder.down.%d.block.%d.", P, i, j);
            vae_res(ks, p, bi, 128 * mult[i]);
            bi = 128 * mult[i];
        }
        if (i < 3) {
            snprintf(p, sizeof p, "%sencoder.down.%d.downsample.conv.", P, i);
            W4(p, "weight", bi, bi, 3, 3); W1(p, "bias", bi);
        }
    }
    snprintf(p, sizeof p, "%sencoder.", P); vae_mid(ks, p);
    W1(P, "encoder.norm_out.weight", 512); W1(P, "encoder.norm_out.bias", 512);
    W4(P, "encoder.conv_out.weight", 8, 512, 3, 3); W1(P, "encoder.conv_out.bias", 8);
    W4(P, "quant_conv.weight", 8, 8, 1, 1); W1(P, "quant_conv.bias", 8);
    W4(P, "post_quant_conv.weight", 4, 4, 1, 1); W1(P, "post_quant_conv.bias", 4);
    W4(P, "decoder.conv_in.weight", 512, 4, 3, 3); W1(P, "decoder.conv_in.bias", 512);
    snprintf(p, sizeof p, "%sdecoder.", P); vae_mid(ks, p);
    bi = 512;
    for (int i = 3; i >= 0; i--) {
        for (int j = 0; j < 3; j++) {
            snprintf(p, sizeof p, "%sdecoder.up.%d.block.%d.", P, i, j);
            vae_res(ks, p, bi, 128 * mult[i]);
            bi = 128 * mult[i];
        }
        if (i > 0) {
            snprintf(p, sizeof p, "%sdecoder.up.%d.upsample.conv.", P, i);
            W4(p, "weight", bi, bi, 3, 3); W1(p, "bias", bi);
        }
    }
    W1(P, "decoder.norm_out.weight", 128); W1(P, "decoder.norm_out.bias", 128);
    W4(P, "decoder.conv_out.weight", 3, 128, 3, 3); W1(P, "decoder.conv_out.bias", 3);
}

static uint64_t params(const keys *ks, size_t from, size_t to)
{
    uint64_t n = 0;
    for (size_t i = from; i < to; i++) {
        uint64_t e = 1;
        for (int d = 0; d < ks->k[i].ndim; d++)
            e *= (uint64_t)ks->k[i].shape[d];
        n += e;
    }
    return n;
}

/* The reference writer's layout: larger alignment first, then name. */
static int key_layout(const void *a, const void *b)
{
    const key *x = a, *y = b;
    if (x->dtype != y->dtype)
        return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static const key *key_named(const keys *ks, const char *name)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->k[i].name, name) == 0)
            return &ks->k[i];
    return NULL;
}

static bool pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
    return pwrite(fd, p, len, (off_t)off) == (ssize_t)len;
}

/* Every key of an unpruned fp32 SD 1.x checkpoint (UNet, its EMA copy, CLIP with its int64
 * position_ids, VAE) in a sparse 7.7 GB file: only the header and a few values are written.
 * Opening it must read only the header: fast, and resident memory barely moves; lookups of all
 * 1819 names are fast; tensors beyond 4 GiB read right. */
static void test_sparse_sd_checkpoint(void)
{
    keys ks = {calloc(2000, sizeof(key)), 0};
    keys *k = &ks;
    sd_unet(k);
    size_t n_unet = ks.n;
    CHECK_INT(n_unet, 686);
    CHECK_INT(params(k, 0, n_unet), 859520964);
    sd_clip(k);
    size_t n_clip = ks.n - n_unet;
    CHECK_INT(n_clip, 196);
    CHECK_INT(params(k, n_unet, ks.n), 123060480);
    sd_vae(k);
    CHECK_INT(ks.n - n_unet - n_clip, 248);
    CHECK_INT(params(k, n_unet + n_clip, ks.n), 83653863);
    key_add(k, "cond_stage_model.transformer.text_model.", "embeddings.position_ids", 2, 1, 77, 0, 0);
    ks.k[ks.n - 1].dtype = ST_I64;
    /* The UNet's EMA copy, as unpruned checkpoints carry it: "model_ema." + the name after
     * "model." without its dots, plus two scalars. */
    for (size_t i = 0; i < n_unet; i++) {
        key *e = &ks.k[ks.n++];
        *e = ks.k[i];
        char *o = e->name + snprintf(e->name, sizeof e->name, "model_ema.");
        for (const char *c = ks.k[i].name + strlen("model."); *c; c++)
            if (*c != '.')
                *o++ = *c;
        *o = '\0';
    }
    key_add(k, "model_ema.", "decay", 0, 0, 0, 0, 0);
    key_add(k, "model_ema.", "num_updates", 0, 0, 0, 0, 0);
    ks.k[ks.n - 1].dtype = ST_I32;
    CHECK_INT(ks.n, 1819);

    qsort(ks.k, ks.n, sizeof *ks.k, key_layout);
    uint64_t off = 0;
    size_t hcap = 1 << 20, hl = 0;
    char *h = malloc(hcap);
    hl += (size_t)snprintf(h + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < ks.n; i++) {
        key *e = &ks.k[i];
        e->nbytes = st_dtype_size(e->dtype);
        for (int d = 0; d < e->ndim; d++)
            e->nbytes *= (uint64_t)e->shape[d];
        e->begin = off;
        off += e->nbytes;
        hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e->name,
                               st_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++)
            hl += (size_t)snprintf(h + hl, hcap - hl, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        hl += (size_t)snprintf(h + hl, hcap - hl, "],\"data_offsets\":[%llu,%llu]}",
                               (unsigned long long)e->begin, (unsigned long long)off);
    }
    hl += (size_t)snprintf(h + hl, hcap - hl, "}");
    while (hl % 8)
        h[hl++] = ' ';
    CHECK(hl < hcap);
    uint64_t total = 8 + hl + off;
    CHECK(total > 7700000000ull && total < 7710000000ull); /* v1-5-pruned.safetensors: 7.7 GB */

    char *root = fixture_make();
    char *path = fixture_path(root, "sd15-fp32.safetensors");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct stat st;
    bool sparse = fd >= 0 && ftruncate(fd, (off_t)total) == 0 && fstat(fd, &st) == 0 &&
                  (uint64_t)st.st_blocks * 512 < (64u << 20);
    if (!sparse) {
        printf("NOTE test_sparse_sd_checkpoint skipped: %s cannot hold a sparse %.2f GB file\n",
               root, (double)total / 1e9);
        if (fd >= 0)
            close(fd);
        free(path);
        fixture_remove(root);
        free(h);
        free(ks.k);
        return;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    bool ok = pwrite_all(fd, len8, 8, 0) && pwrite_all(fd, h, hl, 8);
    uint64_t data0 = 8 + hl;
    /* position_ids 0..76; out.2.bias; the first and last values of the last tensor (> 4 GiB) */
    const key *pos = key_named(k, "cond_stage_model.transformer.text_model.embeddings.position_ids");
    const key *outb = key_named(k, "model.diffusion_model.out.2.bias");
    const key *last = NULL; /* the f32 tensor furthest into the file */
    for (size_t i = 0; i < ks.n; i++)
        if (ks.k[i].dtype == ST_F32)
            last = &ks.k[i];
    int64_t ids[77];
    for (int i = 0; i < 77; i++)
        ids[i] = i;
    float ob[4] = {0.25f, -1.5f, 3.0f, 1e-3f}, edge[2] = {-7.0f, 42.0f};
    CHECK(pos && pos->begin == 0 && outb);
    CHECK(data0 + last->begin > (4ull << 30));
    ok = ok && pwrite_all(fd, ids, sizeof ids, data0 + pos->begin) &&
         pwrite_all(fd, ob, sizeof ob, data0 + outb->begin) &&
         pwrite_all(fd, &edge[0], 4, data0 + last->begin) &&
         pwrite_all(fd, &edge[1], 4, data0 + last->begin + last->nbytes - 4);
    close(fd);
    CHECK(ok);

    long rss0 = rss_kb();
    double t0 = now_s();
    st_file *f = ok ? open_ok(path) : NULL;
    double t_open = now_s() - t0;
    long rss_open = rss_kb() - rss0;
    if (f) {
        CHECK_INT(st_count(f), 1819);
        CHECK_INT(st_file_size(f), total);
        CHECK_STR(st_meta(f, "format"), "pt");
        CHECK(t_open < 2.0);      /* a header of ~250 KB; a read of the file would take far longer */
        CHECK(rss_open < 32768);  /* KiB: the header and its index, not the 7.7 GB */
        int bad = 0;
        for (size_t i = 0; i < ks.n; i++) {
            const st_tensor *t = st_find(f, ks.k[i].name);
            bad += !t || t->dtype != ks.k[i].dtype || !shape_is(t, ks.k[i].ndim, ks.k[i].shape) ||
                   t->offset != data0 + ks.k[i].begin || t->nbytes != ks.k[i].nbytes;
        }
        CHECK_INT(bad, 0);
        enum { ROUNDS = 200 };
        size_t found = 0;
        t0 = now_s();
        for (int r = 0; r < ROUNDS; r++)
            for (size_t i = 0; i < ks.n; i++)
                found += st_find(f, ks.k[i].name) != NULL;
        double per = (now_s() - t0) / (double)(ROUNDS * ks.n);
        CHECK_INT(found, ROUNDS * ks.n);
        CHECK(per < 20e-6);

        tg_error err = {{0}};
        float idf[77], obf[4];
        CHECK(st_read_f32(st_find(f, pos->name), idf, 77, &err) == 0 && idf[0] == 0 && idf[76] == 76);
        CHECK(st_read_f32(st_find(f, outb->name), obf, 4, &err) == 0 && memcmp(obf, ob, sizeof ob) == 0);
        const st_tensor *lt = st_find(f, last->name);
        float *big = lt ? malloc(lt->numel * sizeof *big) : NULL;
        long rss_before_read = rss_kb();
        if (big && st_read_f32(lt, big, lt->numel, &err) == 0) {
            CHECK(big[0] == -7.0f && big[lt->numel - 1] == 42.0f && big[lt->numel / 2] == 0.0f);
            long touched = rss_kb() - rss_before_read;
            st_release(f, lt);
            long released = rss_kb() - rss_before_read;
            printf("  %s (%zu values at byte %llu): resident memory +%ld KiB after reading, +%ld "
                   "KiB after st_release\n", lt->name, lt->numel, (unsigned long long)lt->offset,
                   touched, released);
            CHECK(released < touched);
        }
        free(big);
        printf("  sparse unpruned SD 1.x fp32 checkpoint: %.2f GB, header %zu bytes, %zu tensors; opened in "
               "%.1f ms, resident memory +%ld KiB; st_find %.0f ns\n", (double)total / 1e9, hl,
               ks.n, t_open * 1e3, rss_open, per * 1e9);
        st_close(f);
    }
    free(path);
    fixture_remove(root);
    free(h);
    free(ks.k);
}

int main(void)
{
    RUN(test_f16_every_value);
    RUN(test_bf16_every_value);
    RUN(test_f16_rounding_boundaries);
    RUN(test_bf16_rounding_boundaries);
    RUN(test_from_f32_against_oracles);
    RUN(test_f8_every_value);
    RUN(test_round_trip_every_dtype);
    RUN(test_writer_exact_bytes);
    RUN(test_reader_hand_made_files);
    RUN(test_hostile_files);
    RUN(test_writer_refusals);
    RUN(test_save_over_open_file);
    RUN(test_sparse_sd_checkpoint);
    return check_finish();
}

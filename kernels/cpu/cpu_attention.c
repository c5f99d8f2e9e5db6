/* Multi-head attention on the CPU, flash-attention style: never more than one tile of scores
 * (64 queries x bk keys) per thread, so memory stays O(T) at any sequence length (SD's
 * 4096-token self-attention would need 64 MiB per head for the full matrix).
 *
 * q (B, Tq, C), k and v (B, Tk, C), C = H * D with head h in columns h*D .. h*D + D - 1; a head is
 * a strided slice (leading dimension C), which BLAS reads in place. S = scale * q k^T per head;
 * with `causal`, key j > query i is masked (top-left aligned, as in CLIP's text encoder).
 *
 * Forward, per query tile: stream over key tiles keeping each row's running max m and sum l of
 * exp(s - m); O is rescaled by exp(m_old - m_new) whenever the max grows. out = O / l and
 * lse = m + log l are written; nothing else is kept.
 * Backward, with P recomputed tile by tile as exp(S - lse) and Dv_i = dout_i . out_i:
 *   dS = P * (dout v^T - Dv),  dq += scale dS k,  dk += scale dS^T q,  dv += P^T dout.
 * dq is computed in one pass over query tiles, dk and dv in a second pass over key tiles, so every
 * task owns the rows it writes: no atomics or per-thread copies of the gradients, the same bits for
 * any thread count, at the price of computing the score tiles twice.
 *
 * Tiles are multiplied with OpenBLAS from inside the worker pool, which the rest of the backend
 * avoids. Every call here has M*N*K <= 4 * 65536, the size up to which OpenBLAS runs a GEMM in the
 * calling thread (interface/gemm.c, SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD), so its own
 * threads stay asleep while the pool's run. */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_threads.h"
#include "kernels/cpu/cpu_vmath.h"
#include "kernels/private/k_check.h"

#define BQ 64                 /* queries per tile */
#define GEMM_MNK (4 * 65536)  /* the largest M*N*K OpenBLAS runs in the calling thread */

typedef struct attn_job {
    float *out, *lse, *dq, *dk, *dv;
    const float *q, *k, *v, *dout, *o;
    float *dvec;         /* backward: (B, H, Tq) dout . out per row */
    float *scratch;      /* slots * slot floats */
    int64_t B, Tq, Tk, C, H, D, bk, nqb, nkb, slots, slot; /* bk: keys per tile */
    float scale;
    bool causal;
    int64_t ntasks;
    atomic_llong next;   /* the next task to hand out */
    void (*task)(struct attn_job *j, int64_t t, float *w);
} attn_job;

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Keys per tile for head dim D: the most (a multiple of 8, 64 to 128) for which every product of
 * a tile, (queries x keys x head-dim piece of at most 64), stays within GEMM_MNK. D = 40 gives 96:
 * SD's cross-attention (77 keys) is then one tile. */
static int64_t keys_per_tile(int64_t D)
{
    int64_t bk = GEMM_MNK / (BQ * min64(D, 64)) / 8 * 8;
    return bk < 64 ? 64 : bk > 128 ? 128 : bk;
}

/* C (M, N) = alpha op(A) op(B) + beta C, row-major, with N and K cut into pieces of at most `cut`
 * (the tile width): M, N, K are then a tile's queries, keys and at most one head-dim piece, whose
 * product keeps the call in this thread (the file comment says why). */
static void gemm_tile(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *Bm, int64_t ldb, float beta, float *Cm, int64_t ldc,
                      int64_t cut)
{
    for (int64_t n0 = 0; n0 < N; n0 += cut)
        for (int64_t k0 = 0; k0 < K; k0 += cut) {
            const float *a = ta ? A + k0 * lda : A + k0;
            const float *b = tb ? Bm + n0 * ldb + k0 : Bm + k0 * ldb + n0;
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        (int)M, (int)min64(cut, N - n0), (int)min64(cut, K - k0), alpha, a, (int)lda, b,
                        (int)ldb, k0 ? 1.f : beta, Cm + n0, (int)ldc);
        }
}

/* Runs tasks handed out one at a time to each slot (a slot is one worker's scratch), so uneven
 * tasks (causal tiles) balance themselves; which slot runs a task never changes its result. */
static void slots_run(void *arg, int64_t begin, int64_t end)
{
    attn_job *j = arg;
    for (int64_t s = begin; s < end; s++)
        for (int64_t t; (t = atomic_fetch_add(&j->next, 1)) < j->ntasks;)
            j->task(j, t, j->scratch + s * j->slot);
}

static void tasks_run(kctx *k, attn_job *j, int64_t ntasks, void (*task)(attn_job *, int64_t, float *))
{
    j->ntasks = ntasks;
    j->task = task;
    atomic_store(&j->next, 0);
    cpu_parallel_for(k, j->slots, 1, slots_run, j);
}

/* ---- exp, four at a time: exp4 in cpu_vmath.h ----
 * One exp per score against 2 D flops of GEMM: with libm's scalar expf (~3.5 ns) the softmax took
 * most of the time. */

/* dst (n) = a * src (n); dst may be src. Vectorised by hand: -O2 leaves loops of unknown length
 * scalar, and with 77 keys this scaling costs as much as the exponentials. */
static void row_scale(float *dst, const float *src, int64_t n, float a)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        store4(dst + i, load4(src + i) * SPLAT(a));
    for (; i < n; i++)
        dst[i] = src[i] * a;
}

static float hmax4(f32x4 v)
{
    float a = v[0] > v[1] ? v[0] : v[1], b = v[2] > v[3] ? v[2] : v[3];
    return a > b ? a : b;
}

/* ---- tiles ---- */

/* Columns of a tile rounded up to whole vectors; the extra ones hold -inf, so exp gives 0. */
static int64_t cols4(int64_t nk)
{
    return (nk + 3) & ~(int64_t)3;
}

/* S (nq, nk; ld) for queries i0.. and keys j0..: entries with key j > query i set to -inf. */
static void tile_mask(float *S, int64_t ld, int64_t nq, int64_t nk, int64_t i0, int64_t j0)
{
    for (int64_t r = 0; r < nq; r++)
        for (int64_t c = i0 + r - j0 + 1 > 0 ? i0 + r - j0 + 1 : 0; c < nk; c++)
            S[r * ld + c] = -INFINITY;
}

/* S (nq, cols4(nk); ld bk) = scale * q k^T for one head's query rows i0.. and key rows j0..,
 * masked, padded with -inf. */
static void tile_scores(const attn_job *j, float *S, int64_t b, int64_t h, int64_t i0, int64_t nq,
                        int64_t j0, int64_t nk)
{
    const float *q = j->q + (b * j->Tq + i0) * j->C + h * j->D;
    const float *kk = j->k + (b * j->Tk + j0) * j->C + h * j->D;
    gemm_tile(false, true, nq, nk, j->D, j->scale, q, j->C, kk, j->C, 0.f, S, j->bk, j->bk);
    if (j->causal && j0 + nk - 1 > i0)
        tile_mask(S, j->bk, nq, nk, i0, j0);
    for (int64_t r = 0; r < nq; r++)
        for (int64_t c = nk; c < cols4(nk); c++)
            S[r * j->bk + c] = -INFINITY;
}

/* Online softmax over one key tile: S (nq, nk; ld) becomes exp(S - m_new) per row, m and l (nq)
 * are updated, and O (nq, D) rows are rescaled to the new max. */
static void tile_softmax_online(float *S, int64_t ld, int64_t nq, int64_t nk, float *m, float *l,
                                float *O, int64_t D)
{
    for (int64_t r = 0; r < nq; r++) {
        float *s = S + r * ld;
        f32x4 mx4 = SPLAT(m[r]);
        for (int64_t c = 0; c < cols4(nk); c += 4) {
            f32x4 v = load4(s + c);
            mx4 = select4(v > mx4, v, mx4);
        }
        float mx = hmax4(mx4);
        if (mx == -INFINITY) { /* every key so far masked: nothing to add yet */
            for (int64_t c = 0; c < cols4(nk); c += 4)
                store4(s + c, SPLAT(0.f));
            continue;
        }
        float corr = expf(m[r] - mx); /* m = -inf on the first tile: corr = 0 */
        f32x4 sum4 = SPLAT(0.f);
        for (int64_t c = 0; c < cols4(nk); c += 4) {
            f32x4 p = exp4(load4(s + c) - SPLAT(mx));
            store4(s + c, p);
            sum4 += p;
        }
        l[r] = l[r] * corr + ((sum4[0] + sum4[1]) + (sum4[2] + sum4[3]));
        m[r] = mx;
        if (corr != 1.f)
            row_scale(O + r * D, O + r * D, D, corr);
    }
}

/* S (nq, nk; ld) = exp(S - lse_r), the forward's probabilities (masked scores are -inf: 0). */
static void tile_probs(float *S, int64_t ld, int64_t nq, int64_t nk, const float *lse)
{
    for (int64_t r = 0; r < nq; r++)
        for (int64_t c = 0; c < cols4(nk); c += 4)
            store4(S + r * ld + c, exp4(load4(S + r * ld + c) - SPLAT(lse[r])));
}

/* dP (nq, nk; ld) = P * (dP - Dv_r): the gradient of the scores (before the scale). */
static void tile_dscores(float *dP, const float *P, int64_t ld, int64_t nq, int64_t nk, const float *dvec)
{
    for (int64_t r = 0; r < nq; r++)
        for (int64_t c = 0; c < nk; c++)
            dP[r * ld + c] = P[r * ld + c] * (dP[r * ld + c] - dvec[r]);
}

/* Keys a query tile i0 .. i0+nq-1 can see. */
static int64_t keys_end(const attn_job *j, int64_t i0, int64_t nq)
{
    return j->causal ? min64(j->Tk, i0 + nq) : j->Tk;
}

/* ---- forward ---- */

/* Task t: query tile (largest first when causal) of one (b, h): out rows, lse (B, H, Tq). */
static void fwd_task(attn_job *j, int64_t t, float *w)
{
    int64_t bh = t % (j->B * j->H), b = bh / j->H, h = bh % j->H, D = j->D, bk = j->bk;
    int64_t i0 = (j->nqb - 1 - t / (j->B * j->H)) * BQ, nq = min64(BQ, j->Tq - i0);
    float *S = w, *O = S + BQ * bk, *m = O + BQ * D, *l = m + BQ;
    for (int64_t r = 0; r < nq; r++) {
        m[r] = -INFINITY;
        l[r] = 0.f;
    }
    for (int64_t i = 0; i < nq * D; i++)
        O[i] = 0.f;
    for (int64_t j0 = 0, end = keys_end(j, i0, nq); j0 < end; j0 += bk) {
        int64_t nk = min64(bk, end - j0);
        tile_scores(j, S, b, h, i0, nq, j0, nk);
        tile_softmax_online(S, bk, nq, nk, m, l, O, D);
        const float *v = j->v + (b * j->Tk + j0) * j->C + h * D;
        gemm_tile(false, false, nq, D, nk, 1.f, S, bk, v, j->C, 1.f, O, D, bk);
    }
    for (int64_t r = 0; r < nq; r++) {
        row_scale(j->out + (b * j->Tq + i0 + r) * j->C + h * D, O + r * D, D, 1.f / l[r]);
        if (j->lse)
            j->lse[bh * j->Tq + i0 + r] = m[r] + logf(l[r]);
    }
}

/* Fills the geometry of j from q (B, Tq, C) and k (B, Tk, C) and takes the scratch: per slot the
 * forward's S tile, O, m, l, or the backward's S and dP tiles; the backward also gets D_i. */
static bool job_setup(kctx *k, attn_job *j, const tensor *q, const tensor *kk, int heads, bool backward)
{
    j->B = q->shape[0];
    j->Tq = q->shape[1];
    j->Tk = kk->shape[1];
    j->C = q->shape[2];
    j->H = heads;
    j->D = j->C / heads;
    j->bk = keys_per_tile(j->D);
    j->nqb = (j->Tq + BQ - 1) / BQ;
    j->nkb = (j->Tk + j->bk - 1) / j->bk;
    j->slots = k->threads > 0 ? k->threads : 1;
    int64_t slot = backward ? 2 * BQ * j->bk : BQ * j->bk + BQ * j->D + 2 * BQ;
    int64_t extra = backward ? j->B * j->H * j->Tq : 0;
    j->slot = (slot + 15) & ~(int64_t)15; /* each slot on its own cache lines */
    j->scratch = cpu_scratch(k, (size_t)(j->slots * j->slot + extra) * sizeof(float));
    if (!j->scratch)
        k_fail(k, "attention: out of memory for %lld floats of tiles",
               (long long)(j->slots * j->slot + extra));
    j->dvec = backward && j->scratch ? j->scratch + j->slots * j->slot : NULL;
    return j->scratch != NULL;
}

/* out (B, Tq, C), lse (B, heads, Tq) or NULL; q (B, Tq, C), kk and v (B, Tk, C). */
void cpu_attention_fwd(kctx *k, tensor *out, tensor *lse, const tensor *q, const tensor *kk,
                       const tensor *v, int heads, float scale, bool causal)
{
    attn_job j = {.out = out->data, .lse = lse ? lse->data : NULL, .q = q->data, .k = kk->data,
                  .v = v->data, .scale = scale, .causal = causal};
    if (job_setup(k, &j, q, kk, heads, false))
        tasks_run(k, &j, j.B * j.H * j.nqb, fwd_task);
}

/* ---- backward ---- */

/* Rows [begin, end) of (B, Tq): dvec (B, H, Tq) = dout . out per head, in double. */
static void dvec_range(void *arg, int64_t begin, int64_t end)
{
    const attn_job *j = arg;
    for (int64_t row = begin; row < end; row++) {
        int64_t b = row / j->Tq, i = row % j->Tq;
        for (int64_t h = 0; h < j->H; h++) {
            const float *g = j->dout + row * j->C + h * j->D, *o = j->o + row * j->C + h * j->D;
            double s = 0;
            for (int64_t d = 0; d < j->D; d++)
                s += (double)g[d] * o[d];
            j->dvec[(b * j->H + h) * j->Tq + i] = (float)s;
        }
    }
}

/* Task t: dq rows of one query tile (largest first when causal) of one (b, h). */
static void dq_task(attn_job *j, int64_t t, float *w)
{
    int64_t bh = t % (j->B * j->H), b = bh / j->H, h = bh % j->H, D = j->D, C = j->C, bk = j->bk;
    int64_t i0 = (j->nqb - 1 - t / (j->B * j->H)) * BQ, nq = min64(BQ, j->Tq - i0);
    float *S = w, *dP = w + BQ * bk;
    const float *dout = j->dout + (b * j->Tq + i0) * C + h * D;
    float *dq = j->dq + (b * j->Tq + i0) * C + h * D;
    for (int64_t j0 = 0, end = keys_end(j, i0, nq); j0 < end; j0 += bk) {
        int64_t nk = min64(bk, end - j0);
        const float *kk = j->k + (b * j->Tk + j0) * C + h * D, *v = j->v + (b * j->Tk + j0) * C + h * D;
        tile_scores(j, S, b, h, i0, nq, j0, nk);
        tile_probs(S, bk, nq, nk, j->lse + bh * j->Tq + i0);
        gemm_tile(false, true, nq, nk, D, 1.f, dout, C, v, C, 0.f, dP, bk, bk);
        tile_dscores(dP, S, bk, nq, nk, j->dvec + bh * j->Tq + i0);
        gemm_tile(false, false, nq, D, nk, j->scale, dP, bk, kk, C, 1.f, dq, C, bk);
    }
}

/* Task t: dk and dv rows of one key tile (the most-seen first when causal) of one (b, h). */
static void dkv_task(attn_job *j, int64_t t, float *w)
{
    int64_t bh = t % (j->B * j->H), b = bh / j->H, h = bh % j->H, D = j->D, C = j->C, bk = j->bk;
    int64_t j0 = t / (j->B * j->H) * bk, nk = min64(bk, j->Tk - j0);
    float *S = w, *dP = w + BQ * bk;
    const float *v = j->v + (b * j->Tk + j0) * C + h * D;
    float *dk = j->dk ? j->dk + (b * j->Tk + j0) * C + h * D : NULL;
    float *dv = j->dv ? j->dv + (b * j->Tk + j0) * C + h * D : NULL;
    for (int64_t i0 = j->causal ? j0 / BQ * BQ : 0; i0 < j->Tq; i0 += BQ) { /* causal: i >= j only */
        int64_t nq = min64(BQ, j->Tq - i0);
        const float *q = j->q + (b * j->Tq + i0) * C + h * D, *dout = j->dout + (b * j->Tq + i0) * C + h * D;
        tile_scores(j, S, b, h, i0, nq, j0, nk);
        tile_probs(S, bk, nq, nk, j->lse + bh * j->Tq + i0);
        if (dv)
            gemm_tile(true, false, nk, D, nq, 1.f, S, bk, dout, C, 1.f, dv, C, bk);
        if (!dk)
            continue;
        gemm_tile(false, true, nq, nk, D, 1.f, dout, C, v, C, 0.f, dP, bk, bk);
        tile_dscores(dP, S, bk, nq, nk, j->dvec + bh * j->Tq + i0);
        gemm_tile(true, false, nk, D, nq, j->scale, dP, bk, q, C, 1.f, dk, C, bk);
    }
}

/* dq, dout, out, q (B, Tq, C); dk, dv, kk, v (B, Tk, C); lse (B, heads, Tq); gradients += . */
void cpu_attention_bwd(kctx *k, tensor *dq, tensor *dk, tensor *dv, const tensor *dout,
                       const tensor *out, const tensor *lse, const tensor *q, const tensor *kk,
                       const tensor *v, int heads, float scale, bool causal)
{
    attn_job j = {.dq = dq ? dq->data : NULL, .dk = dk ? dk->data : NULL, .dv = dv ? dv->data : NULL,
                  .dout = dout->data, .o = out->data, .lse = lse->data, .q = q->data, .k = kk->data,
                  .v = v->data, .scale = scale, .causal = causal};
    if (!job_setup(k, &j, q, kk, heads, true))
        return;
    cpu_parallel_for(k, j.B * j.Tq, 64, dvec_range, &j);
    if (j.dq)
        tasks_run(k, &j, j.B * j.H * j.nqb, dq_task);
    if (j.dk || j.dv)
        tasks_run(k, &j, j.B * j.H * j.nkb, dkv_task);
}

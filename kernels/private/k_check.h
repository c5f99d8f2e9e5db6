/* Argument checks shared by the public wrappers (k_*.c). Each returns 0 when the argument is fine,
 * or -1 with k->msg naming the op, the argument and what was wrong, so a wrapper reads as a list of
 * requirements: `if (k_check_f32(k, "linear", "x", x) || ...) return -1;`. */
#ifndef KERNELS_PRIVATE_K_CHECK_H
#define KERNELS_PRIVATE_K_CHECK_H
#include "kernels/kernels.h"

/* Sets k->msg from a printf format and returns -1. */
int k_fail(kctx *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "(2, 3, 5)" into buf (at least K_SHAPE_STR bytes); returns buf. */
#define K_SHAPE_STR 96
const char *k_shape_str(const tensor *t, char *buf);
/* t is a usable F32 tensor: non-NULL, data set, 1..K_MAX_DIMS dims each >= 1. */
int k_check_f32(kctx *k, const char *op, const char *name, const tensor *t);
/* As k_check_f32, and exactly ndim dims. */
int k_check_ndim(kctx *k, const char *op, const char *name, const tensor *t, int ndim);
/* b has a's shape (b named bname, a named aname in the message). */
int k_check_same(kctx *k, const char *op, const char *aname, const tensor *a, const char *bname,
                 const tensor *b);
/* t has the same numel as ref (for ops that treat tensors as flat arrays). */
int k_check_numel(kctx *k, const char *op, const char *name, const tensor *t, const char *refname,
                  const tensor *ref);
bool k_same_shape(const tensor *a, const tensor *b);

/* Around a backend call: k_call_begin clears k->msg; k_call_end returns -1 when the backend wrote
 * one (it could not finish), else 0. */
static inline void k_call_begin(kctx *k)
{
    k->msg[0] = '\0';
}
static inline int k_call_end(const kctx *k)
{
    return k->msg[0] ? -1 : 0;
}

#endif

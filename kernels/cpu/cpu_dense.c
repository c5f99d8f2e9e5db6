/* TEMPORARY stubs so that libkernels links while the real ops are written. */
#include "kernels/cpu/cpu_ops.h"

void cpu_linear_fwd(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b) { (void)k; (void)y; (void)x; (void)w; (void)b;  }
void cpu_linear_bwd(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x, const tensor *w) { (void)k; (void)dx; (void)dw; (void)db; (void)dy; (void)x; (void)w;  }
void cpu_conv2d_fwd(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b, int stride, int pad) { (void)k; (void)y; (void)x; (void)w; (void)b; (void)stride; (void)pad;  }
void cpu_conv2d_bwd(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x, const tensor *w, int stride, int pad) { (void)k; (void)dx; (void)dw; (void)db; (void)dy; (void)x; (void)w; (void)stride; (void)pad;  }
void cpu_embedding_fwd(kctx *k, tensor *y, const int32_t *ids, const tensor *table) { (void)k; (void)y; (void)ids; (void)table;  }
void cpu_embedding_bwd(kctx *k, tensor *dtable, const tensor *dy, const int32_t *ids) { (void)k; (void)dtable; (void)dy; (void)ids;  }

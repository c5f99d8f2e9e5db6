/* TEMPORARY stubs so that libkernels links while the real ops are written. */
#include "kernels/cpu/cpu_ops.h"

void cpu_mse_fwd(kctx *k, float *loss, const tensor *pred, const tensor *target, const float *wb) { (void)k; (void)loss; (void)pred; (void)target; (void)wb;  }
void cpu_mse_bwd(kctx *k, tensor *dpred, const tensor *pred, const tensor *target, const float *wb, float grad_scale) { (void)k; (void)dpred; (void)pred; (void)target; (void)wb; (void)grad_scale;  }
void cpu_adamw(kctx *k, tensor *p, const tensor *g, tensor *m, tensor *v, int t, float lr, float beta1, float beta2, float eps, float wd) { (void)k; (void)p; (void)g; (void)m; (void)v; (void)t; (void)lr; (void)beta1; (void)beta2; (void)eps; (void)wd;  }
double cpu_sum_squares(kctx *k, const tensor *g) { (void)k; (void)g; return 0; }
void cpu_randn(kctx *k, tensor *t, k_rng *r, float mean, float std) { (void)k; (void)t; (void)r; (void)mean; (void)std;  }
void cpu_rand_uniform(kctx *k, tensor *t, k_rng *r, float lo, float hi) { (void)k; (void)t; (void)r; (void)lo; (void)hi;  }

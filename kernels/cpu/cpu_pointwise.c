/* TEMPORARY stubs so that libkernels links while the real ops are written. */
#include "kernels/cpu/cpu_ops.h"

void cpu_act_fwd(kctx *k, k_act act, tensor *y, const tensor *x) { (void)k; (void)act; (void)y; (void)x;  }
void cpu_act_bwd(kctx *k, k_act act, tensor *dx, const tensor *dy, const tensor *x) { (void)k; (void)act; (void)dx; (void)dy; (void)x;  }
void cpu_geglu_fwd(kctx *k, tensor *y, const tensor *x) { (void)k; (void)y; (void)x;  }
void cpu_geglu_bwd(kctx *k, tensor *dx, const tensor *dy, const tensor *x) { (void)k; (void)dx; (void)dy; (void)x;  }
void cpu_add(kctx *k, tensor *y, const tensor *a, const tensor *b) { (void)k; (void)y; (void)a; (void)b;  }
void cpu_add_bcast_bc(kctx *k, tensor *y, const tensor *a, const tensor *b) { (void)k; (void)y; (void)a; (void)b;  }
void cpu_add_bcast_bc_bwd(kctx *k, tensor *db, const tensor *dy) { (void)k; (void)db; (void)dy;  }
void cpu_axpby(kctx *k, tensor *y, float alpha, const tensor *x, float beta) { (void)k; (void)y; (void)alpha; (void)x; (void)beta;  }
void cpu_concat_fwd(kctx *k, tensor *y, const tensor *a, const tensor *b) { (void)k; (void)y; (void)a; (void)b;  }
void cpu_concat_bwd(kctx *k, tensor *da, tensor *db, const tensor *dy) { (void)k; (void)da; (void)db; (void)dy;  }
void cpu_upsample2x_fwd(kctx *k, tensor *y, const tensor *x) { (void)k; (void)y; (void)x;  }
void cpu_upsample2x_bwd(kctx *k, tensor *dx, const tensor *dy) { (void)k; (void)dx; (void)dy;  }
void cpu_nchw_to_nlc(kctx *k, tensor *y, const tensor *x) { (void)k; (void)y; (void)x;  }
void cpu_nlc_to_nchw(kctx *k, tensor *y, const tensor *x) { (void)k; (void)y; (void)x;  }

/* kohya sd-scripts' learning-rate schedulers (reference/trainers.md §4.5; docs/schedules.md):
 * constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial, each the
 * multiplier λ(s) of huggingface transformers' LambdaLR functions that kohya's get_scheduler_fix
 * builds, computed with the same double arithmetic.
 *
 * s is the scheduler's step: the number of optimizer updates done so far. The update number
 * s + 1 uses lr = base_lr · λ(s), so with a warm-up the very first update has lr 0, as in kohya.
 * (kohya steps the scheduler once per optimizer update, i.e. per gradient_accumulation_steps
 * micro-batches, and logs get_last_lr() after stepping: the log line of global step g shows λ(g).)
 * Every parameter group (unet_lr, text_encoder_lr) uses the same λ on its own base lr. */
#ifndef TRAINER_LR_SCHEDULE_H
#define TRAINER_LR_SCHEDULE_H
#include <stdbool.h>

#include "tagger/error.h"

typedef enum lr_scheduler_kind {
    LR_CONSTANT,
    LR_CONSTANT_WITH_WARMUP,
    LR_LINEAR,
    LR_COSINE,
    LR_COSINE_WITH_RESTARTS,
    LR_POLYNOMIAL,
} lr_scheduler_kind;

/* Exact, lower-case kohya names. Anything else is an error naming lr_scheduler and listing the six
 * valid names (kohya's other schedulers, e.g. cosine_with_min_lr, are named as not supported). */
int lr_scheduler_parse(const char *name, lr_scheduler_kind *out, tg_error *err);
const char *lr_scheduler_name(lr_scheduler_kind kind);

typedef struct lr_schedule_opts {
    lr_scheduler_kind kind;  /* LR_CONSTANT (kohya's default) */
    /* lr_warmup_steps: a whole number >= 0 of steps, or a fraction in (0, 1) of total_steps,
     * turned into int(fraction · total_steps) (truncated, as kohya). Default 0. */
    double warmup;
    long total_steps;        /* num_training_steps = max_train_steps × processes; >= 1 */
    int num_cycles;          /* lr_scheduler_num_cycles (cosine_with_restarts), >= 0, default 1 */
    double power;            /* lr_scheduler_power (polynomial), >= 0, default 1 */
    double lr_init;          /* learning_rate: polynomial's λ is relative to it; default 1e-4 */
    double lr_end;           /* polynomial's final lr, 1e-7 (transformers' default; kohya passes none) */
} lr_schedule_opts;

typedef struct lr_schedule {
    lr_scheduler_kind kind;
    long warmup;             /* W, resolved to steps */
    long total;              /* T */
    int num_cycles;
    double power, lr_init, lr_end;
} lr_schedule;

void lr_schedule_opts_default(lr_schedule_opts *o);

/* lr_warmup_steps to steps: an integer >= 0 as it is, a fraction in (0, 1) as
 * (long)(value · total_steps). Negative, non-finite or non-integer values >= 1 are errors naming
 * lr_warmup_steps. */
int lr_warmup_resolve(double value, long total_steps, long *steps, tg_error *err);

/* Checks and resolves the options. Errors, each naming the option, as kohya/transformers refuse:
 *  - constant with a warm-up that resolves to != 0 steps (kohya: "constant does not require
 *    `num_warmup_steps`. Set None or 0.");
 *  - polynomial with learning_rate <= lr_end (transformers' ValueError), and with
 *    lr_warmup_steps == total steps (transformers divides by T − W = 0 at the last step);
 *  - total_steps < 1, num_cycles < 0, power < 0 or not finite. */
int lr_schedule_init(lr_schedule *s, const lr_schedule_opts *o, tg_error *err);

/* λ(s), the multiplier on the base lr after s updates (s < 0 is taken as 0). */
double lr_schedule_factor(const lr_schedule *s, long step);
/* base_lr · λ(s). */
double lr_schedule_lr(const lr_schedule *s, double base_lr, long step);

#endif

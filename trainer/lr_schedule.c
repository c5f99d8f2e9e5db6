/* LR schedulers (lr_schedule.h): transformers' lambdas in transformers' order of operations, so
 * that λ(s) matches Python's float results. Formulas and sources: docs/schedules.md. */
#include "trainer/lr_schedule.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define VALID_NAMES "constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial"

static const char *const names[] = {
    [LR_CONSTANT] = "constant",
    [LR_CONSTANT_WITH_WARMUP] = "constant_with_warmup",
    [LR_LINEAR] = "linear",
    [LR_COSINE] = "cosine",
    [LR_COSINE_WITH_RESTARTS] = "cosine_with_restarts",
    [LR_POLYNOMIAL] = "polynomial",
};

/* kohya accepts these (transformers' or diffusers' other schedulers); we say so rather than call
 * them unknown. */
static const char *const unsupported[] = {
    "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
    "warmup_stable_decay", "piecewise_constant", "adafactor",
};

int lr_scheduler_parse(const char *name, lr_scheduler_kind *out, tg_error *err)
{
    if (!name)
        return error_set(err, "lr_scheduler: missing; valid: " VALID_NAMES);
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++) {
        if (strcmp(name, names[k]) == 0) {
            *out = (lr_scheduler_kind)k;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        if (strncmp(name, unsupported[i], strlen(unsupported[i])) == 0)
            return error_set(err, "lr_scheduler: \"%s\" is a kohya scheduler tagbench does not "
                             "support yet; valid: " VALID_NAMES, name);
    }
    return error_set(err, "lr_scheduler: unknown scheduler \"%s\"; valid: " VALID_NAMES, name);
}

const char *lr_scheduler_name(lr_scheduler_kind kind)
{
    if ((int)kind >= 0 && (int)kind < (int)(sizeof names / sizeof names[0]))
        return names[kind];
    return "?";
}

void lr_schedule_opts_default(lr_schedule_opts *o)
{
    *o = (lr_schedule_opts){
        .kind = LR_CONSTANT,
        .warmup = 0,
        .total_steps = 1600, /* kohya's max_train_steps */
        .num_cycles = 1,
        .power = 1.0,
        .lr_init = 1e-4,
        .lr_end = 1e-7,
    };
}

int lr_warmup_resolve(double value, long total_steps, long *steps, tg_error *err)
{
    if (!isfinite(value) || value < 0)
        return error_set(err, "lr_warmup_steps: must be a whole number of steps >= 0 or a fraction "
                         "in (0, 1) of the training steps, got %g", value);
    if (value < 1) {
        /* kohya: int(lr_warmup_steps * num_training_steps) */
        *steps = (long)(value * (double)total_steps);
        return 0;
    }
    if (value != floor(value) || value > (double)LONG_MAX / 2)
        return error_set(err, "lr_warmup_steps: %g is neither a whole number of steps nor a "
                         "fraction below 1", value);
    *steps = (long)value;
    return 0;
}

int lr_schedule_init(lr_schedule *s, const lr_schedule_opts *o, tg_error *err)
{
    memset(s, 0, sizeof *s);
    if ((int)o->kind < 0 || (int)o->kind >= (int)(sizeof names / sizeof names[0]))
        return error_set(err, "lr_scheduler: unknown scheduler; valid: " VALID_NAMES);
    if (o->total_steps < 1)
        return error_set(err, "max_train_steps: the scheduler needs at least 1 training step, "
                         "got %ld", o->total_steps);
    long w;
    if (lr_warmup_resolve(o->warmup, o->total_steps, &w, err))
        return -1;
    if (o->kind == LR_CONSTANT && w != 0)
        return error_set(err, "lr_warmup_steps: the constant scheduler takes no warm-up (got %ld "
                         "steps); set 0, or use constant_with_warmup", w);
    if (o->num_cycles < 0)
        return error_set(err, "lr_scheduler_num_cycles: must be >= 0, got %d", o->num_cycles);
    if (!isfinite(o->power) || o->power < 0)
        return error_set(err, "lr_scheduler_power: must be a number >= 0, got %g", o->power);
    if (o->kind == LR_POLYNOMIAL) {
        if (!(o->lr_init > o->lr_end))
            return error_set(err, "learning_rate: the polynomial scheduler needs it above its end "
                             "value %g, got %g", o->lr_end, o->lr_init);
        if (w == o->total_steps)
            return error_set(err, "lr_warmup_steps: the polynomial scheduler needs fewer warm-up "
                             "steps than training steps (%ld), got %ld", o->total_steps, w);
    }
    *s = (lr_schedule){
        .kind = o->kind,
        .warmup = w,
        .total = o->total_steps,
        .num_cycles = o->num_cycles,
        .power = o->power,
        .lr_init = o->lr_init,
        .lr_end = o->lr_end,
    };
    return 0;
}

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

double lr_schedule_factor(const lr_schedule *s, long step)
{
    double st = (double)(step < 0 ? 0 : step);
    double W = (double)s->warmup, T = (double)s->total;
    if (s->kind == LR_CONSTANT)
        return 1.0;
    if (st < W)
        return st / maxd(1.0, W);
    /* for cosine and cosine_with_restarts */
    double progress = (st - W) / maxd(1.0, T - W);
    switch (s->kind) {
    case LR_CONSTANT:
    case LR_CONSTANT_WITH_WARMUP:
        return 1.0;
    case LR_LINEAR:
        return maxd(0.0, (T - st) / maxd(1.0, T - W));
    case LR_COSINE: /* num_cycles 0.5: half a cosine, 1 -> 0 */
        return maxd(0.0, 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress)));
    case LR_COSINE_WITH_RESTARTS:
        if (progress >= 1.0)
            return 0.0;
        return maxd(0.0, 0.5 * (1.0 + cos(M_PI * fmod((double)s->num_cycles * progress, 1.0))));
    case LR_POLYNOMIAL:
        if (st > T)
            return s->lr_end / s->lr_init;
        double pct_remaining = 1.0 - (st - W) / (T - W);
        return ((s->lr_init - s->lr_end) * pow(pct_remaining, s->power) + s->lr_end) / s->lr_init;
    }
    return 1.0;
}

double lr_schedule_lr(const lr_schedule *s, double base_lr, long step)
{
    return base_lr * lr_schedule_factor(s, step);
}

/* The Train screen's form: every key of the run config (trainer/run_config.h), in its sections,
 * with its kind, how +/- steps it and a one-line hint. Fields are read and written through the
 * public struct, and every change is checked by run_config_validate as a whole, so a value the
 * config would refuse on load is refused here, with the same message, and leaves it unchanged. */
#ifndef TUI_TRAIN_FORM_H
#define TUI_TRAIN_FORM_H
#include <stdbool.h>
#include <stddef.h>

#include "trainer/run_config.h"

typedef enum train_kind {
    TK_TEXT,   /* a string, unset when typed empty */
    TK_CHOICE, /* one string of a list; +/- cycle */
    TK_INT,
    TK_NUM,
    TK_BOOL,
    TK_SEED,   /* has_seed + seed: empty is "random" */
    TK_WARMUP, /* lr_warmup_steps: steps, or a fraction of the run below 1 */
} train_kind;

/* How +/- moves a number. */
typedef enum train_stepping {
    TS_ADD,    /* by `step` */
    TS_DOUBLE, /* doubles / halves */
    TS_125,    /* 1, 2, 5, 10, 20, ... (learning rates) */
    TS_DECADE, /* times / over ten (epsilon) */
} train_stepping;

typedef struct train_field {
    const char *key;            /* kohya's option name */
    const char *section;        /* as in run_config.h and docs/run_config.md */
    train_kind kind;
    size_t off;                 /* of the field in run_config */
    train_stepping stepping;
    double step;                /* TS_ADD */
    const char *const *choices; /* TK_CHOICE, NULL-terminated */
    bool nullable;              /* TK_CHOICE: may be unset too */
    const char *hint;           /* NULL: the Captions screen's (caption_fields) */
} train_field;

extern const train_field train_fields[];
extern const int n_train_fields;

/* The one-line hint of field f. */
const char *train_field_hint(int f);
/* The value as shown: "0.0001", "true", "cosine", "(unset)", "(random)". */
void train_field_value(const run_config *c, int f, char *out, size_t size);
/* The value as typed into the editor: like train_field_value but "" for unset. */
void train_field_text(const run_config *c, int f, char *out, size_t size);
/* The field is unset (a null string, no seed): shown dimmed. */
bool train_field_unset(const run_config *c, int f);

/* Each change below is refused (-1, err naming the key and why, c unchanged) when the text does
 * not parse or the config would not pass run_config_validate afterwards; 0 when it is made. */
int train_field_set(run_config *c, int f, const char *text, tg_error *err);
/* +1 / -1: numbers as their stepping says, booleans toggle, choices cycle (wrapping), the seed
 * counts (below 0: random). A text field is refused (it is typed). */
int train_field_step(run_config *c, int f, int dir, tg_error *err);
/* Back to the value of `defaults` (a run_config_init config). */
int train_field_reset(run_config *c, int f, const run_config *defaults, tg_error *err);
/* A choice's options for a picker: the list (NULL entries: unset), how many in *n. */
int train_field_choices(int f, const char **out, int max);
/* Sets a choice (NULL: unset). */
int train_field_choose(run_config *c, int f, const char *choice, tg_error *err);
/* The index of the current value in train_field_choices' list, -1 when none. */
int train_field_choice_index(const run_config *c, int f);

#endif

/* The caption pipeline: what one training step sees of a caption. Same order and semantics as
 * kohya sd-scripts' BaseDataset.process_caption (reference/trainers.md §1.3), and read_caption
 * for how a caption file becomes the pipeline's input. All randomness comes from an explicit rng. */
#ifndef TAGGER_PIPELINE_H
#define TAGGER_PIPELINE_H
#include <stdbool.h>
#include <stddef.h>

#include "tagger/error.h"
#include "tagger/rng.h"

/* Option names and defaults are kohya's (sd-scripts argparse), except caption_separator which is
 * the split string ("," by default). NULL strings mean "unset". */
typedef struct pipeline_opts {
    int keep_tokens;                     /* 0 */
    const char *keep_tokens_separator;   /* NULL/"" = off, e.g. "|||" */
    const char *caption_separator;       /* "," */
    const char *secondary_separator;     /* NULL, e.g. ";;;" */
    bool shuffle_caption;                /* false */
    double caption_tag_dropout_rate;     /* 0.0 */
    double caption_dropout_rate;         /* 0.0 */
    int caption_dropout_every_n_epochs;  /* 0 */
    const char *caption_prefix;          /* NULL */
    const char *caption_suffix;          /* NULL */
    bool enable_wildcard;                /* false */
    int token_warmup_min;                /* 1 */
    double token_warmup_step;            /* 0 = off; < 1 means a fraction of max_train_steps */
} pipeline_opts;

/* Where in training the draw happens (epochs are 1-based as in kohya; steps 0-based). */
typedef struct pipeline_when {
    int epoch;           /* current_epoch, >= 1 */
    long step;           /* current_step */
    long max_train_steps;
} pipeline_when;

void pipeline_opts_default(pipeline_opts *o);
/* Checks ranges (rates in [0,1], keep_tokens >= 0, ...); the message names the option. */
int pipeline_opts_validate(const pipeline_opts *o, tg_error *err);

/* kohya's read_caption: the text of a caption file as the pipeline gets it. Without wildcards,
 * the first line, stripped; with them, every non-empty stripped line joined by "\n". The input
 * may carry a UTF-8 BOM and CRLF line ends; a BOM is kept as kohya keeps it (it ends up in the
 * first tag). Returns a malloc'd string (NULL on allocation failure). */
char *pipeline_read_caption(const char *file_text, size_t len, bool enable_wildcard);

/* One draw: process `caption` (as from pipeline_read_caption) into a malloc'd string.
 * `kept`, if not NULL, receives the number of leading fixed tags in the result (0 when the
 * caption was dropped or left verbatim), so a preview can highlight them. */
char *pipeline_process(const char *caption, const pipeline_opts *o, const pipeline_when *when,
                       rng *r, size_t *kept);

#endif

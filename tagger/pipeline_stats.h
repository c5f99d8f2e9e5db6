/* What the caption options imply for a whole dataset: how many captions keep_tokens or the
 * keep_tokens_separator act on, which tags end up fixed and how often, and how many tags (and
 * characters) a training step sees on average. For the Captions screen, computed from the
 * dataset's current tags (edits included; no file is read) in one pass.
 *
 * A caption is what the trainer would read for the item: its tags joined by ", " (the first line
 * of dataset_caption_text), or, for an image without a caption file and without tags, its
 * N_name folder's class tokens, as kohya does. Items whose caption is unreadable (locked) are left
 * out. The caption is then seen as pipeline_process sees it: prefix and suffix joined with a
 * space, split into tags on caption_separator, fixed / flex / fixed suffix exactly by the rule of
 * docs/pipeline.md (order of operations, step 4.1). "Tags" below are those pieces; a
 * secondary_separator group is one tag. */
#ifndef TAGGER_PIPELINE_STATS_H
#define TAGGER_PIPELINE_STATS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/dataset.h"
#include "tagger/error.h"
#include "tagger/pipeline.h"

typedef struct pipeline_kept_tag {
    char *tag;      /* the fixed tag's text, stripped, as the pipeline splits it */
    uint32_t count; /* captions that keep it fixed (a caption counts once) */
} pipeline_kept_tag;

typedef struct pipeline_stats {
    size_t n_captions;       /* captions counted (every item but the locked ones) */
    size_t n_locked;         /* items left out: their caption could not be read */
    size_t n_empty;          /* captions with no text (no tags, no class tokens) */
    size_t n_class_tokens;   /* of n_captions: no caption file, the class tokens stand in */
    /* Non-empty captions split by keep_tokens (no separator in them) with fewer tags than
     * keep_tokens: the whole caption is fixed. Prefix and suffix tags count. */
    size_t n_fewer_than_keep;
    size_t n_all_fixed;      /* non-empty captions with no flex tag: nothing to shuffle or drop */
    /* With keep_tokens_separator set: captions (prefix and suffix included) that contain it,
     * and those that do not, which kohya splits by keep_tokens instead (nothing is fixed there
     * when keep_tokens is 0). Both 0 when the separator is unset. */
    size_t n_with_separator, n_without_separator;
    /* With enable_wildcard: captions holding `{`, `}` or a line break. Their figures take the
     * text as written (the first line, no wildcard choice made). */
    size_t n_wildcard;
    /* shuffle_caption, caption_tag_dropout_rate > 0 or token_warmup_step > 0. When false the
     * trainer uses captions verbatim: the fixed figures and the kept list say what keep_tokens
     * and the separator would fix, but they change nothing, and the tag figures count the
     * verbatim caption's tags. */
    bool tags_processed;

    /* Means over the n_captions captions, each image once (repeats are not weighted in). */
    double tags_mean;      /* tags in a caption before any dropout (empty tags not counted) */
    double fixed_mean;     /* fixed tags (prefix and suffix parts together) */
    /* Expected tags, and bytes, of the caption one training step sees on an ordinary epoch,
     * after caption dropout (rate q) and tag dropout (rate p), warm-up finished. Exact:
     * a caption with F fixed and M flex tags (F' and M' of them non-empty) yields
     * (1 - q) * (F' + (1 - p) * M') tags, and, with L_f and L_m the summed lengths of its fixed and
     * flex tags (after the secondary separator is replaced), (1 - q) * (L_f + (1 - p) * L_m +
     * 2 * (F + (1 - p) * M - 1 + [F = 0] * p^M)) bytes: every kept tag but the first brings a
     * ", ", and p^M is the chance that nothing is left to join. A verbatim caption (tags not
     * processed) yields its own length. (A secondary separator is counted inside each tag: one
     * that would straddle a ", " joint is not seen.) On a dropout epoch of
     * caption_dropout_every_n_epochs every caption is "" (0 tags, 0 bytes); dropout_epoch_share is
     * the share of such epochs, 1/N (0 when off), so a whole run averages
     * (1 - share) * expected_tags. */
    double expected_tags;
    double expected_chars;
    double dropout_epoch_share;

    /* Every tag that some caption keeps fixed, by count (descending), then by text (byte order):
     * the first N are the top N. */
    pipeline_kept_tag *kept;
    size_t n_kept;
} pipeline_stats;

/* Validates o (pipeline_opts_validate; its message names the option), then fills st. On error
 * st is left empty (safe to free). 100k captions of 25 tags take a few milliseconds with the
 * default caption_separator and no prefix or suffix, some tens of milliseconds otherwise. */
int pipeline_stats_compute(const dataset *ds, const pipeline_opts *o, pipeline_stats *st,
                           tg_error *err);
void pipeline_stats_free(pipeline_stats *st);

#endif

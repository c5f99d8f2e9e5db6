/* The two ways pipeline_stats_compute reads a caption, and what they share. The text path
 * (pipeline_stats.c) rebuilds each caption as the trainer reads it and splits it as
 * pipeline_process does; it is the reference. The id path (pipeline_stats_ids.c) takes the same
 * figures straight from the tag ids, for the captions whose text would split back into exactly
 * their own tags under the options at hand: most captions, at a fraction of the cost. */
#ifndef TAGGER_PRIVATE_PIPELINE_STATS_PATH_H
#define TAGGER_PRIVATE_PIPELINE_STATS_PATH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/pipeline_stats.h"
#include "tagger/private/dict.h"

/* One caption split into fixed (prefix and suffix parts together) and flex tags. */
typedef struct tally {
    size_t fixed, flex;       /* tags, empty ones included (they still take a ", ") */
    size_t fixed_ne, flex_ne; /* non-empty tags */
    size_t fixed_len, flex_len;
} tally;

/* One caption's figures, whichever path found them. */
typedef struct caption_fig {
    size_t raw_len;  /* bytes of the caption alone (no prefix, no suffix) */
    bool pinned;     /* split by keep_tokens_separator */
    tally t;
    double verbatim_tags, verbatim_chars; /* the caption as is: only when tags are not processed */
} caption_fig;

/* A fixed tag on its way into pipeline_stats.kept, from either path. */
typedef struct kept_src {
    uint32_t count;
    uint64_t key;   /* its first 8 bytes, big-endian: orders most equal counts without strcmp */
    const char *s;
} kept_src;

enum { POW_CACHED = 64 };

typedef struct stats_run {
    const pipeline_opts *o;
    const char *sep, *sec; /* caption_separator; secondary_separator or NULL */
    size_t seplen, seclen;
    bool sec_here;         /* the caption being looked at holds sec: only then count it per tag */
    size_t prefix_len, suffix_len;
    char *buf;             /* the caption being looked at */
    size_t cap;
    dict kept;             /* fixed tag text -> id */
    uint32_t *count, *last; /* per kept id: captions, and the last caption (+1) that counted */
    uint32_t ncap;
    uint32_t caption;      /* number of the caption being looked at, from 1 */
    bool oom;
    double tags, chars, tags_raw, fixed_raw;
    /* caption_tag_dropout_rate^M for M < POW_CACHED, from pow() itself (so the same bits): one
     * pow per caption was a third of the id path */
    double pow_p[POW_CACHED];
    /* The id path, per dataset tag id: the tag's length when a caption of such tags can be
     * read from its ids (0: it cannot, or the tag is over 65535 bytes; 16 bits keep the table
     * in the L1 cache, which halved the pass), and the kept counts, as count / last above.
     * NULL when the options rule the id path out altogether. */
    uint16_t *plain_len;
    uint32_t *id_count, *id_last;
    size_t ids_taken;      /* captions read by their ids */
} stats_run;

/* ---- pipeline_stats.c, for the id path ---- */

/* Adds one caption's figures to st and r (both paths end here, in item order, so the sums are
 * made in the same order whichever path a caption took). */
void stats_caption_count(stats_run *r, pipeline_stats *st, const caption_fig *f);

/* ---- pipeline_stats_ids.c ---- */

/* Decides for r's options whether the id path may run, and if so which tag ids it may read;
 * -1 when out of memory. */
int stats_ids_begin(stats_run *r, const dataset *ds);
/* Counts item it by its ids if every one of its tags allows it; false: the text path must. */
bool stats_ids_caption(stats_run *r, pipeline_stats *st, const ds_item *it);
/* Moves the text path's kept counts of texts that are dataset tags over to the id path's, so
 * that each kept text has one count. */
void stats_ids_end(stats_run *r, const dataset *ds);
/* The id path's kept tags into out (NULL: only counts them); returns how many. */
size_t stats_ids_kept(const stats_run *r, const dataset *ds, kept_src *out);
void stats_ids_free(stats_run *r);

/* For tests only. on = false sends every caption down the text path, so the two paths can be
 * compared; taken, when not NULL, gets added the number of captions each later call read by
 * their ids (to see that a test exercises the id path). Production never calls it. */
void pipeline_stats_ids_test(bool on, size_t *taken);

#endif

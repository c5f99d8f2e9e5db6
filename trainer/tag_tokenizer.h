/* The tiny model's tokenizer: one token per dataset tag. The vocabulary is the dataset's tags that
 * at least min_count images carry, most frequent first (ties by name, byte order), after four
 * special ids; it is saved beside a trained tiny model as JSON, {"version":1,"tags":[...]} (tags in
 * id order), so that the model keeps meaning what it learnt when the dataset changes.
 *
 * A caption (as the caption pipeline outputs it: tags joined by ", ") is split on commas, each tag
 * trimmed of spaces, tabs and line ends (a leading UTF-8 BOM dropped), empty ones skipped, and
 * matched exactly as written (case and '_' as they are, like the dataset compares them); a tag
 * not in the vocabulary gets one of the TAG_NEW_IDS hashed ids. Read-only once built: share it between threads freely. */
#ifndef TRAINER_TAG_TOKENIZER_H
#define TRAINER_TAG_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#include "tagger/dataset.h"
#include "tagger/error.h"

enum { TAG_PAD_ID = 0, TAG_BOS_ID = 1, TAG_EOS_ID = 2, TAG_UNK_ID = 3, TAG_FIRST_ID = 4 };

/* Ids for tags outside the vocabulary: a tag the model never saw gets one of TAG_NEW_IDS ids
 * after the vocabulary's, chosen by a hash of its text, so that a new trigger word has an id of
 * its own (a LoRA can teach it a meaning) while the vocabulary stays that of the base model. Two
 * new tags share an id with probability 1/TAG_NEW_IDS. TAG_UNK_ID is reserved and unused. */
enum { TAG_NEW_IDS = 64 };

typedef struct tag_tokenizer tag_tokenizer;

/* The vocabulary of ds's current tags carried by >= min_count images (0 counts as 1). */
tag_tokenizer *tag_tokenizer_from_dataset(const dataset *ds, uint32_t min_count, tg_error *err);
/* A vocabulary of tags[0..n) in id order (tags[k] gets id TAG_FIRST_ID + k). Refused, naming the
 * tag: an empty one, one with a comma or surrounding whitespace (no caption could spell it), one
 * listed twice. */
tag_tokenizer *tag_tokenizer_from_tags(const char *const *tags, size_t n, tg_error *err);
void tag_tokenizer_free(tag_tokenizer *t);

/* Writes {"version":1,"tags":[...]} to path, atomically (a temporary file beside it, renamed). */
int tag_tokenizer_save(const tag_tokenizer *t, const char *path, tg_error *err);
/* Reads what tag_tokenizer_save wrote; the message names the file and the reason (bad JSON with
 * its line, another version, a tag that is not a string or fails the checks above). */
tag_tokenizer *tag_tokenizer_load(const char *path, tg_error *err);

int32_t tag_vocab_size(const tag_tokenizer *t); /* 4 + tags + TAG_NEW_IDS */
size_t tag_count(const tag_tokenizer *t);       /* tags */
/* The tag of an id >= TAG_FIRST_ID; "<pad>", "<bos>", "<eos>", "<unk>" for the special ids,
 * "<new00>".."<new77>" for the ids of new tags; NULL out of range. */
const char *tag_token_text(const tag_tokenizer *t, int32_t id);
/* The id of tag text[0..len) (exact), or its hashed id when it is not in the vocabulary. */
int32_t tag_token_id(const tag_tokenizer *t, const char *text, size_t len);

/* BOS, the caption's tag ids cut to max_len - 2, EOS, then TAG_PAD_ID up to max_len. *n_real
 * (may be NULL) receives the positions before the padding. Returns the number of tags in the
 * caption before cutting, or -1 when max_len < 2. */
int tag_tokenize(const tag_tokenizer *t, const char *caption, int32_t *ids, int max_len, int *n_real);

#endif

/* Tag completion for the prompts that add or rename a tag: what the user has typed so far becomes a
 * short list of tags to insert, drawn from the dataset's own vocabulary and, when one is given, a
 * booru tag table (the CSV of a1111-sd-webui-tagcomplete, `danbooru.csv`; docs/tag_csv.md).
 *
 * Matching ignores ASCII case and reads '_' and ' ' as the same character, so `Long_H` finds
 * `long hair`. A candidate matches as a prefix (`lon` → `long hair`), a word prefix (`hai` → `long
 * hair`: the start of a later word, words split on ' ' and '_'), through an alias of a CSV tag
 * (`longhair` → `long_hair`; alias prefixes only), or as a substring (`ong` → `long hair`).
 *
 * Ranking, best first:
 *   1. dataset tags matched as prefix, then alias, then word prefix;
 *   2. CSV tags the dataset does not carry, matched the same ways, in the same order;
 *   3. dataset tags matched as a substring only;
 *   4. CSV tags matched as a substring only;
 * within each, dataset tags by the number of images carrying them and CSV tags by post count
 * (descending), ties by name. A substring hit in the dataset (`chair` for `hai`) is noise next to a
 * CSV tag that starts with the text, hence 3 after 2. Empty text: the dataset's most common tags.
 *
 * Spelling. A CSV tag equal to a tag the dataset carries (same text up to case and '_'/' ') is
 * never offered in the CSV's spelling: the dataset's own tag is offered instead, with the CSV's
 * count and category attached. Other CSV tags are presented in the dataset's style: when most of
 * the dataset's multi-word tags are written with underscores, CSV tags keep `long_hair`; otherwise
 * (spaces, a tie, or no multi-word tag) they become `long hair`. Tags of 3 characters or fewer
 * (`^_^`, `o_o`) are left as written, as sd-scripts' --remove_underscore leaves them. So accepting
 * a suggestion never adds a second spelling of a tag the dataset already has.
 *
 * The dataset changes as the user edits. Counts are read from it at every query (a tag no image
 * carries any more is never offered); what depends only on a tag's text (its folded form, its CSV
 * row) is computed once per tag id, which is safe because an id's text never changes. */
#ifndef TUI_COMPLETE_H
#define TUI_COMPLETE_H
#include <stddef.h>
#include <stdint.h>

#include "tagger/dataset.h"
#include "tagger/error.h"

/* ---- the booru tag table (tui/tag_csv.c) ---- */

#define TAG_CSV_NONE UINT32_MAX

typedef struct tag_csv_entry {
    const char *name; /* as in the file, surrounding spaces trimmed */
    const char *fold; /* the name folded (tag_fold), NUL-terminated, inside tag_csv.folded */
    uint32_t len;     /* bytes of name, and of fold */
    uint32_t count;   /* post count; 0 when the column is empty or absent */
    int32_t type;     /* category (0 general, 1 artist, 3 copyright, 4 character, 5 meta); -1 if none */
} tag_csv_entry;

/* A searchable string: a folded name, the folded text from a later word of a name on, or a folded
 * alias; entry is the tag it leads to. */
typedef struct tag_csv_key {
    const char *fold;
    const char *text; /* aliases: the alias as in the file; otherwise NULL */
    uint32_t entry;
} tag_csv_key;

/* Read-only after tag_csv_read. */
typedef struct tag_csv {
    tag_csv_entry *entries; /* post count descending, then name (byte order) */
    uint32_t n;
    char *folded;           /* every entry's fold followed by '\0', in entry order, so that one
                             * memmem over it visits tags from the most to the least used */
    size_t folded_len;
    tag_csv_key *by_name;   /* n keys, sorted by fold */
    tag_csv_key *words;     /* one per word start after the first, sorted by the text from there */
    uint32_t n_words;
    tag_csv_key *aliases;   /* sorted by fold */
    uint32_t n_aliases;
    /* for each pair of bytes b0 b1, the entries whose fold holds it, in entry order: entries
     * pair_entries[pair_start[p] .. pair_start[p + 1]) with p = b0 << 8 | b1, so that a substring
     * search walks the shortest such list instead of the whole table */
    uint32_t *pair_start;   /* 65537 offsets */
    uint32_t *pair_entries;
    size_t rows;            /* data rows read, skipped ones included */
    size_t skipped;         /* rows left out: a name with invalid UTF-8, a control character or a comma */
    char first_skip[128];   /* "line 17: invalid UTF-8"; "" when none */
    char *pool, *alias_folded; /* storage */
} tag_csv;

/* Reads a tag CSV (docs/tag_csv.md). Rows are name,type,count,aliases (aliases: one field, a
 * comma-separated list, usually quoted); extra columns are ignored; a first line that names its
 * columns (`name`/`tag`, `type`/`category`, `count`/`post_count`, `aliases`) maps them, which
 * reads the WD tagger's selected_tags.csv too. A UTF-8 BOM, CRLF, quoted fields with commas and
 * "" escapes are handled; blank lines are ignored. A count or type that is not a number, an empty
 * name, an unterminated quote or text after a closing quote is an error "path:line: reason". A row
 * whose name cannot be a caption tag (invalid UTF-8, control characters, a comma) is skipped and
 * counted; an alias like that is dropped. Rows with the same folded name become one (the larger
 * count wins; aliases of both kept). Returns NULL with err set. */
tag_csv *tag_csv_read(const char *path, tg_error *err);
void tag_csv_free(tag_csv *t);

/* Index of the entry whose fold is fold[0..len), or TAG_CSV_NONE. */
uint32_t tag_csv_find(const tag_csv *t, const char *fold, size_t len);
/* Keys (sorted by fold) whose fold starts with fold[0..len): [*first, *first + return value). */
size_t tag_csv_prefix(const tag_csv_key *keys, size_t n, const char *fold, size_t len, size_t *first);

/* dst[0..len) = src[0..len) folded for matching: ASCII lower case, '_' read as ' ', control bytes
 * (which never match typed text) as 0x01, other bytes as they are. dst may be src. */
void tag_fold(char *dst, const char *src, size_t len);

/* ---- completion (tui/complete.c) ---- */

typedef struct completer completer;

/* A completer over ds (which must outlive it) and, when csv_path is not NULL, that tag CSV.
 * Returns NULL with err set when the CSV cannot be read (tag_csv_read) or memory runs out. */
completer *completer_new(const dataset *ds, const char *csv_path, tg_error *err);
void completer_free(completer *c);

typedef struct completion {
    const char *text;           /* what would be inserted (valid until the next query) */
    uint32_t count;             /* images in the dataset carrying it (0 if only in the CSV) */
    uint32_t csv_count;         /* post count from the CSV (0 if none) */
    int csv_type;               /* booru category (0 general, 1 artist, 3 copyright, 4 character,
                                 * 5 meta), -1 if none */
    const char *alias_of_typed; /* non-NULL when matched through an alias: that alias, as in the CSV */
} completion;

/* Up to max candidates for typed (leading spaces ignored), best first, into out. Tags whose
 * folded text equals one of exclude[0..n_exclude) (the current image's tags; may be NULL) are left
 * out. Typed text holding a control character matches nothing. Returns the number written; 0 also
 * when memory runs out. */
size_t completer_query(completer *c, const char *typed, const char *const *exclude, size_t n_exclude,
                       completion *out, size_t max);

typedef enum tag_style { TAG_STYLE_SPACES, TAG_STYLE_UNDERSCORES } tag_style;

/* The dataset's style now (see above), as CSV suggestions are presented in it. */
tag_style completer_style(completer *c);

/* What came of the CSV, for a line such as "tags.csv: 3 rows skipped (line 17: invalid UTF-8)".
 * All zero / NULL without a CSV. */
typedef struct completer_csv_info {
    size_t tags;             /* distinct tags */
    size_t aliases;
    size_t rows;             /* data rows read */
    size_t skipped;          /* rows left out */
    const char *first_skip;  /* "line 17: invalid UTF-8"; NULL when none */
} completer_csv_info;

completer_csv_info completer_csv(const completer *c);

#endif

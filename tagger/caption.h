/* Caption files <-> tags. A caption is one line of comma-separated tags (kohya reads only the
 * first line unless wildcards are on). Parsing never changes a file: an unedited caption is never
 * rewritten, so it round-trips byte for byte. An edited caption is written in the canonical form
 * `tag, tag, tag`, keeping the file's BOM (if it had one), its line ending (LF or CRLF), whether it
 * ended with a line ending, and every line after the first, verbatim. docs/captions.md lists each
 * decision (BOM, CRLF, empty tags, duplicates, whitespace, non-UTF-8). */
#ifndef TAGGER_CAPTION_H
#define TAGGER_CAPTION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct caption_span {
    uint32_t off, len; /* a tag: bytes [off, off+len) of the parsed text, whitespace trimmed */
} caption_span;

typedef struct caption {
    caption_span *tags;
    size_t n;
    bool bom;          /* starts with the UTF-8 byte order mark EF BB BF */
    bool crlf;         /* the first line ends with \r\n */
    bool trailing_eol; /* the text ends with a line ending */
    size_t rest_off;   /* where the lines after the first begin (== length when none) */
    /* facts for the linter; none of them changes how the caption is read */
    bool non_utf8;     /* some bytes are not valid UTF-8 */
    bool multiline;    /* a line after the first holds non-blank text */
    bool empty_tags;   /* `a,,b` or a trailing comma */
    bool canonical;    /* the first line is exactly the tags joined by ", " */
    bool duplicates;   /* a tag appears twice */
} caption;

/* Splits text[0..len) into tags and fills every field. Returns 0, or -1 when out of memory. */
int caption_parse(const char *text, size_t len, caption *c);
/* The same without the linter's facts (non_utf8, multiline, canonical, duplicates stay false):
 * what opening a dataset of 100k captions needs, at a fraction of the cost. */
int caption_split(const char *text, size_t len, caption *c);
void caption_free(caption *c);

/* How an edited caption is laid out on disk: what to keep from the file it replaces. */
typedef struct caption_layout {
    bool bom, crlf, trailing_eol;
    const char *rest; /* lines after the first, verbatim (may be NULL) */
    size_t rest_len;
} caption_layout;

/* The layout of a parsed caption; `text` is the text it was parsed from. */
caption_layout caption_layout_of(const caption *c, const char *text, size_t len);
/* The layout of a caption file that does not exist yet: LF, ending with a newline. */
caption_layout caption_layout_new(void);

/* The canonical text of tags[0..n) under layout; malloc'd, length in *out_len. */
char *caption_format(const char *const *tags, const uint32_t *lens, size_t n,
                     const caption_layout *layout, size_t *out_len);

bool utf8_valid(const char *s, size_t len);
/* Length (1..4) of the valid UTF-8 sequence that starts s[0..n), or 0 if none does. */
size_t utf8_seq_len(const char *s, size_t n);

#endif

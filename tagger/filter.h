/* Tag filter expressions that select images, e.g. `red circle & !large | (blue* , ~back)`.
 *   term       a tag, compared after trimming surrounding whitespace (of the term and of the
 *              image's tags), case as written; it runs to the next & | , ! ( ) or "
 *   "text"     a quoted tag (may contain operator characters; \" and \\ escape), taken literally
 *   glob*      an unquoted term holding * ? or [..] matches tags with fnmatch(3)
 *   ~text      substring: any tag containing text (literal; ~"text" may hold operators)
 *   !x  x & y  x , y (same as &)  x | y  ( x )      not binds tightest, then and, then or
 * An empty or all-whitespace expression matches everything. */
#ifndef TAGGER_FILTER_H
#define TAGGER_FILTER_H
#include <stdbool.h>
#include <stddef.h>

#include "tagger/error.h"

typedef struct tag_filter tag_filter;

/* Parses; NULL on error, whose message gives the 1-based column (in characters) and what was
 * expected, e.g. "column 7: expected a tag after '&'". */
tag_filter *filter_parse(const char *expr, tg_error *err);
void filter_free(tag_filter *f);
/* The term that matches exactly the tag `tag`: "tag" with \" and \\ escaped, so that a tag
 * holding operator characters or glob patterns means itself. Truncated to size bytes (a tag that
 * long is cut, never left unterminated). */
void filter_quote(const char *tag, char *out, size_t size);

/* True when the image whose tags are tags[0..n) matches. */
bool filter_match(const tag_filter *f, const char *const *tags, size_t n);

#endif

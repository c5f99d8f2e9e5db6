/* Caption files <-> tags: how a file is split into tags, what the parser notices about it, and the
 * promise that formatting the tags of a canonical file under its own layout gives back its bytes. */
#include "tagger/caption.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

/* Parses text (NUL-terminated, or len bytes when len != 0). */
static caption parse(const char *text, size_t len)
{
    caption c;
    int rc = caption_parse(text, len ? len : strlen(text), &c);
    CHECK_INT(rc, 0);
    return c;
}

/* Tag k of c as a NUL-terminated copy in buf. */
static const char *tag_at(const caption *c, const char *text, size_t k, char *buf, size_t size)
{
    if (k >= c->n)
        return "(missing)";
    size_t n = c->tags[k].len < size - 1 ? c->tags[k].len : size - 1;
    memcpy(buf, text + c->tags[k].off, n);
    buf[n] = '\0';
    return buf;
}

#define CHECK_TAG(c, text, k, want) do { char tag_buf_[256]; \
    CHECK_STR(tag_at(&(c), (text), (k), tag_buf_, sizeof tag_buf_), (want)); } while (0)

/* Formats the parsed tags of text under its own layout; the result must be text, byte for byte. */
static void check_round_trip(const char *text, size_t len)
{
    caption c = parse(text, len);
    const char *strs[64];
    uint32_t lens[64];
    for (size_t k = 0; k < c.n && k < 64; k++) {
        strs[k] = text + c.tags[k].off;
        lens[k] = c.tags[k].len;
    }
    caption_layout l = caption_layout_of(&c, text, len);
    size_t out_len = 0;
    char *out = caption_format(strs, lens, c.n, &l, &out_len);
    CHECK(out != NULL);
    CHECK(c.canonical);
    CHECK_INT(out_len, len);
    if (out && out_len == len && memcmp(out, text, len) != 0) {
        check_current_failed++;
        fprintf(stderr, "  FAIL round trip of \"%s\" gave \"%s\"\n", text, out);
    }
    free(out);
    caption_free(&c);
}

/* Formats tags[] (a NULL-terminated list) under layout. */
static char *format_list(const char *const *tags, const caption_layout *l, size_t *len)
{
    uint32_t lens[16];
    size_t n = 0;
    while (tags[n]) {
        lens[n] = (uint32_t)strlen(tags[n]);
        n++;
    }
    return caption_format(tags, lens, n, l, len);
}

#define TAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_parse_canonical(void)
{
    const char *t = "a, b, c";
    caption c = parse(t, 0);
    CHECK_INT(c.n, 3);
    CHECK_TAG(c, t, 0, "a");
    CHECK_TAG(c, t, 1, "b");
    CHECK_TAG(c, t, 2, "c");
    CHECK(c.canonical);
    CHECK(!c.bom && !c.crlf && !c.trailing_eol && !c.multiline);
    CHECK(!c.empty_tags && !c.duplicates && !c.non_utf8);
    CHECK_INT(c.rest_off, strlen(t));
    caption_free(&c);
}

static void test_parse_without_spaces_is_not_canonical(void)
{
    const char *t = "a,b";
    caption c = parse(t, 0);
    CHECK_INT(c.n, 2);
    CHECK_TAG(c, t, 0, "a");
    CHECK_TAG(c, t, 1, "b");
    CHECK(!c.canonical);
    CHECK(!c.empty_tags);
    caption_free(&c);
}

static void test_parse_trims_and_skips_empty_tags(void)
{
    const char *t = "  a ,b  ,, c,";
    caption c = parse(t, 0);
    CHECK_INT(c.n, 3);
    CHECK_TAG(c, t, 0, "a");
    CHECK_TAG(c, t, 1, "b");
    CHECK_TAG(c, t, 2, "c");
    CHECK(c.empty_tags);
    CHECK(!c.canonical);
    caption_free(&c);
}

static void test_parse_keeps_inner_spaces(void)
{
    const char *t = "\tred  circle ,  blue\t";
    caption c = parse(t, 0);
    CHECK_INT(c.n, 2);
    CHECK_TAG(c, t, 0, "red  circle");
    CHECK_TAG(c, t, 1, "blue");
    caption_free(&c);
}

static void test_parse_leading_comma_is_an_empty_tag(void)
{
    caption c = parse(",a", 0);
    CHECK_INT(c.n, 1);
    CHECK(c.empty_tags);
    caption_free(&c);
}

static void test_parse_bom(void)
{
    const char *t = "\xef\xbb\xbf" "a, b\n";
    caption c = parse(t, 0);
    CHECK(c.bom);
    CHECK_INT(c.n, 2);
    CHECK_TAG(c, t, 0, "a"); /* the BOM is not part of the first tag */
    CHECK_INT(c.tags[0].off, 3);
    CHECK(c.canonical);
    CHECK(!c.non_utf8);
    caption_free(&c);
}

static void test_parse_crlf(void)
{
    const char *t = "a, b\r\n";
    caption c = parse(t, 0);
    CHECK(c.crlf);
    CHECK(c.trailing_eol);
    CHECK_INT(c.n, 2);
    CHECK_TAG(c, t, 1, "b"); /* no \r in the last tag */
    CHECK(c.canonical);
    CHECK(!c.multiline);
    CHECK_INT(c.rest_off, strlen(t));
    caption_free(&c);
}

static void test_parse_lf_is_not_crlf(void)
{
    caption c = parse("a\nb\r\n", 0);
    CHECK(!c.crlf); /* the first line's ending decides */
    CHECK(c.multiline);
    caption_free(&c);
}

static void test_parse_trailing_newline_or_not(void)
{
    caption with = parse("a, b\n", 0), without = parse("a, b", 0);
    CHECK(with.trailing_eol);
    CHECK(!without.trailing_eol);
    CHECK_INT(with.n, 2);
    CHECK_INT(without.n, 2);
    CHECK(with.canonical && without.canonical);
    CHECK(!with.multiline);
    caption_free(&with);
    caption_free(&without);
}

static void test_parse_multiline_reads_first_line_only(void)
{
    const char *t = "a, b\nsecond, line\n\nthird";
    caption c = parse(t, 0);
    CHECK_INT(c.n, 2);
    CHECK_TAG(c, t, 1, "b");
    CHECK(c.multiline);
    CHECK(!c.trailing_eol);
    CHECK_INT(c.rest_off, 5);
    caption_layout l = caption_layout_of(&c, t, strlen(t));
    CHECK_INT(l.rest_len, strlen("second, line\n\nthird"));
    if (l.rest)
        CHECK(memcmp(l.rest, "second, line\n\nthird", l.rest_len) == 0);
    caption_free(&c);
}

static void test_parse_blank_rest_lines_are_not_multiline(void)
{
    caption c = parse("a\n \t\n\n", 0);
    CHECK(!c.multiline);
    CHECK_INT(c.n, 1);
    caption_free(&c);
}

static void test_parse_empty_file(void)
{
    caption c;
    CHECK_INT(caption_parse("", 0, &c), 0);
    CHECK_INT(c.n, 0);
    CHECK(!c.bom && !c.crlf && !c.trailing_eol && !c.multiline);
    CHECK(!c.empty_tags && !c.duplicates && !c.non_utf8);
    CHECK_INT(c.rest_off, 0);
    caption_free(&c);
}

static void test_parse_only_whitespace(void)
{
    caption c = parse("   \t \n", 0);
    CHECK_INT(c.n, 0);
    CHECK(!c.empty_tags); /* nothing at all is not an empty tag between commas */
    CHECK(c.trailing_eol);
    CHECK(!c.canonical);  /* writing it back would drop the spaces */
    caption_free(&c);
}

static void test_parse_duplicates(void)
{
    caption dup = parse("a, b, a", 0), spaced = parse("a , b,a", 0), none = parse("a, b, ab", 0);
    CHECK(dup.duplicates);
    CHECK_INT(dup.n, 3); /* flagged, not dropped */
    CHECK(spaced.duplicates);
    CHECK(!none.duplicates);
    caption_free(&dup);
    caption_free(&spaced);
    caption_free(&none);
}

static void test_parse_case_and_underscores_kept(void)
{
    const char *t = "Red_Circle, red circle";
    caption c = parse(t, 0);
    CHECK_INT(c.n, 2);
    CHECK_TAG(c, t, 0, "Red_Circle");
    CHECK(!c.duplicates);
    caption_free(&c);
}

static void test_parse_non_utf8_bytes_kept(void)
{
    const char *t = "caf\xe9, b\xff" "c\n";
    caption c = parse(t, 0);
    CHECK(c.non_utf8);
    CHECK_INT(c.n, 2);
    CHECK_TAG(c, t, 0, "caf\xe9");
    CHECK_TAG(c, t, 1, "b\xff" "c");
    caption_free(&c);
}

static void test_parse_non_utf8_in_rest_lines(void)
{
    caption c = parse("a\n\x80\n", 0);
    CHECK(c.non_utf8);
    caption_free(&c);
}

static void test_parse_utf8_is_not_flagged(void)
{
    caption c = parse("caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\x98\x80", 0);
    CHECK(!c.non_utf8);
    CHECK_INT(c.n, 3);
    caption_free(&c);
}

static void test_round_trip_canonical_files(void)
{
    static const char *texts[] = {
        "a, b, c",
        "a, b, c\n",
        "a, b\r\n",
        "single tag\n",
        "\xef\xbb\xbf" "a, b",
        "\xef\xbb\xbf" "a, b\r\n",
        "\xef\xbb\xbf" "a, b\r\nsecond line\r\nthird",
        "\xef\xbb\xbf" "a, b\r\nsecond line\r\nthird\r\n",
        "a, b\nrest, kept\nverbatim",
        "a, b\nrest\n",
        "a\n\n",
        "a\r\nlf rest\n",
        "\n",
        "\r\n",
        "\xef\xbb\xbf",
        "\xef\xbb\xbf\n",
        "caf\xe9, \xff\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        check_round_trip(texts[i], strlen(texts[i]));
    check_round_trip("", 0);
}

static void test_format_canonicalises_first_line_only(void)
{
    const char *t = "\xef\xbb\xbf" " a,b ,,c\r\n  rest ,, as is \r\n";
    caption c = parse(t, 0);
    CHECK(!c.canonical);
    caption_layout l = caption_layout_of(&c, t, strlen(t));
    size_t len;
    char *out = format_list(TAGS("x", "y z"), &l, &len);
    CHECK_STR(out, "\xef\xbb\xbf" "x, y z\r\n  rest ,, as is \r\n");
    CHECK_INT(len, strlen("\xef\xbb\xbf" "x, y z\r\n  rest ,, as is \r\n"));
    free(out);
    caption_free(&c);
}

static void test_format_keeps_missing_final_newline(void)
{
    caption c = parse("a,b", 0);
    caption_layout l = caption_layout_of(&c, "a,b", 3);
    size_t len;
    char *out = format_list(TAGS("a", "b", "c"), &l, &len);
    CHECK_STR(out, "a, b, c");
    free(out);
    caption_free(&c);
}

static void test_format_keeps_crlf_and_rest_without_final_newline(void)
{
    const char *t = "a\r\nrest";
    caption c = parse(t, 0);
    caption_layout l = caption_layout_of(&c, t, strlen(t));
    size_t len;
    char *out = format_list(TAGS("b"), &l, &len);
    CHECK_STR(out, "b\r\nrest");
    free(out);
    caption_free(&c);
}

static void test_format_no_tags(void)
{
    caption_layout fresh = caption_layout_new();
    size_t len = 99;
    char *out = format_list(TAGS(NULL), &fresh, &len);
    CHECK_STR(out, "\n");
    CHECK_INT(len, 1);
    free(out);
    caption c = parse("a, b", 0);
    caption_layout l = caption_layout_of(&c, "a, b", 4);
    out = format_list(TAGS(NULL), &l, &len);
    CHECK_STR(out, "");
    CHECK_INT(len, 0);
    free(out);
    caption_free(&c);
}

static void test_layout_new_is_lf_with_final_newline(void)
{
    caption_layout l = caption_layout_new();
    CHECK(!l.bom && !l.crlf && l.trailing_eol);
    CHECK_INT(l.rest_len, 0);
    size_t len;
    char *out = format_list(TAGS("a", "b"), &l, &len);
    CHECK_STR(out, "a, b\n");
    free(out);
}

/* utf8_valid on a byte string given as a literal (length from sizeof, so NULs count). */
#define VALID(lit) utf8_valid((lit), sizeof(lit) - 1)

static void test_utf8_valid_accepts_well_formed(void)
{
    CHECK(VALID(""));
    CHECK(VALID("plain ascii, tags"));
    CHECK(VALID("a\0b"));
    CHECK(VALID("\xc2\x80"));          /* U+0080, smallest 2-byte */
    CHECK(VALID("\xdf\xbf"));          /* U+07FF */
    CHECK(VALID("\xe0\xa0\x80"));      /* U+0800, smallest 3-byte */
    CHECK(VALID("\xed\x9f\xbf"));      /* U+D7FF, just below the surrogates */
    CHECK(VALID("\xee\x80\x80"));      /* U+E000, just above */
    CHECK(VALID("\xef\xbf\xbf"));      /* U+FFFF */
    CHECK(VALID("\xf0\x90\x80\x80"));  /* U+10000, smallest 4-byte */
    CHECK(VALID("\xf0\x9f\x98\x80"));  /* emoji */
    CHECK(VALID("\xf4\x8f\xbf\xbf"));  /* U+10FFFF, the largest code point */
    CHECK(VALID("x\xf4\x8f\xbf\xbf"));
}

static void test_utf8_valid_rejects_overlong(void)
{
    CHECK(!VALID("\xc0\x80"));
    CHECK(!VALID("\xc1\xbf"));
    CHECK(!VALID("\xe0\x80\x80"));
    CHECK(!VALID("\xe0\x9f\xbf"));
    CHECK(!VALID("\xf0\x80\x80\x80"));
    CHECK(!VALID("\xf0\x8f\xbf\xbf"));
}

static void test_utf8_valid_rejects_surrogates_and_beyond_max(void)
{
    CHECK(!VALID("\xed\xa0\x80")); /* U+D800 */
    CHECK(!VALID("\xed\xbf\xbf")); /* U+DFFF */
    CHECK(!VALID("\xf4\x90\x80\x80")); /* U+110000 */
    CHECK(!VALID("\xf5\x80\x80\x80"));
    CHECK(!VALID("\xf8\x88\x80\x80\x80"));
    CHECK(!VALID("\xfe"));
    CHECK(!VALID("\xff"));
}

static void test_utf8_valid_rejects_truncated_and_stray(void)
{
    CHECK(!VALID("\xc3"));
    CHECK(!VALID("\xe2\x82"));
    CHECK(!VALID("\xf0\x9f\x98"));
    CHECK(!VALID("a\xe2\x82"));
    CHECK(!VALID("\xe2\x82" "a"));   /* interrupted by ASCII */
    CHECK(!VALID("\xc3" "\xc3\xa9"));
    CHECK(!VALID("\x80"));           /* continuation byte without a lead */
    CHECK(!VALID("a\xbf" "b"));
    CHECK(!utf8_valid("\xc3\xa9", 1)); /* the length given is the end, not the NUL */
    CHECK(utf8_valid("\xc3\xa9", 2));
}

int main(void)
{
    RUN(test_parse_canonical);
    RUN(test_parse_without_spaces_is_not_canonical);
    RUN(test_parse_trims_and_skips_empty_tags);
    RUN(test_parse_keeps_inner_spaces);
    RUN(test_parse_leading_comma_is_an_empty_tag);
    RUN(test_parse_bom);
    RUN(test_parse_crlf);
    RUN(test_parse_lf_is_not_crlf);
    RUN(test_parse_trailing_newline_or_not);
    RUN(test_parse_multiline_reads_first_line_only);
    RUN(test_parse_blank_rest_lines_are_not_multiline);
    RUN(test_parse_empty_file);
    RUN(test_parse_only_whitespace);
    RUN(test_parse_duplicates);
    RUN(test_parse_case_and_underscores_kept);
    RUN(test_parse_non_utf8_bytes_kept);
    RUN(test_parse_non_utf8_in_rest_lines);
    RUN(test_parse_utf8_is_not_flagged);
    RUN(test_round_trip_canonical_files);
    RUN(test_format_canonicalises_first_line_only);
    RUN(test_format_keeps_missing_final_newline);
    RUN(test_format_keeps_crlf_and_rest_without_final_newline);
    RUN(test_format_no_tags);
    RUN(test_layout_new_is_lf_with_final_newline);
    RUN(test_utf8_valid_accepts_well_formed);
    RUN(test_utf8_valid_rejects_overlong);
    RUN(test_utf8_valid_rejects_surrogates_and_beyond_max);
    RUN(test_utf8_valid_rejects_truncated_and_stray);
    return check_finish();
}

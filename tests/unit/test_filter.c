/* Tag filter expressions: what selects an image, how operators bind, and the messages a user gets
 * for a mistyped expression (column and what was expected). */
#include "tagger/filter.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

#define TAGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_TAGS ((const char *const[]){NULL})

/* 1 or 0 as filter_match answers; -1 (and a failed check) when the expression does not parse. */
static int match(const char *expr, const char *const *tags)
{
    tg_error err = {{0}};
    tag_filter *f = filter_parse(expr, &err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "    parsing `%s`: %s\n", expr, err.msg);
        return -1;
    }
    size_t n = 0;
    while (tags[n])
        n++;
    int hit = filter_match(f, tags, n);
    filter_free(f);
    return hit;
}

/* The expression must be refused with exactly this message. */
static void check_refused(const char *expr, const char *want)
{
    tg_error err = {{0}};
    tag_filter *f = filter_parse(expr, &err);
    CHECK(f == NULL);
    filter_free(f);
    if (!f)
        CHECK_STR(err.msg, want);
}

static void test_empty_matches_everything(void)
{
    CHECK_INT(match("", NO_TAGS), 1);
    CHECK_INT(match("", TAGS("a")), 1);
    CHECK_INT(match("  \t ", TAGS("a", "b")), 1);
}

static void test_exact_tag(void)
{
    CHECK_INT(match("red circle", TAGS("blue", "red circle")), 1);
    CHECK_INT(match("red", TAGS("red circle")), 0);
    CHECK_INT(match("red circle", NO_TAGS), 0);
}

static void test_case_sensitive(void)
{
    CHECK_INT(match("Red", TAGS("red")), 0);
    CHECK_INT(match("red", TAGS("Red")), 0);
    CHECK_INT(match("Red", TAGS("Red")), 1);
}

static void test_whitespace_trimmed(void)
{
    CHECK_INT(match("   red circle \t", TAGS("red circle")), 1);
    CHECK_INT(match("red circle", TAGS("  red circle ")), 1); /* the tag's own spaces too */
    CHECK_INT(match("\" red circle \"", TAGS("red circle")), 1);
    CHECK_INT(match("red  circle", TAGS("red circle")), 0); /* inner spaces are part of the tag */
}

static void test_and_binds_tighter_than_or(void)
{
    /* a | (b & c), not (a | b) & c */
    CHECK_INT(match("a | b & c", TAGS("a")), 1);
    CHECK_INT(match("a | b & c", TAGS("b")), 0);
    CHECK_INT(match("a | b & c", TAGS("c")), 0);
    CHECK_INT(match("a | b & c", TAGS("b", "c")), 1);
    CHECK_INT(match("b & c | a", TAGS("a")), 1);
}

static void test_not_binds_tightest(void)
{
    /* (!a) & b, not !(a & b) */
    CHECK_INT(match("!a & b", TAGS("b")), 1);
    CHECK_INT(match("!a & b", TAGS("a", "b")), 0);
    CHECK_INT(match("!a & b", NO_TAGS), 0);
    CHECK_INT(match("!a | b", TAGS("a")), 0);
    CHECK_INT(match("!!a", TAGS("a")), 1);
    CHECK_INT(match("! a", TAGS("b")), 1);
}

static void test_parentheses(void)
{
    CHECK_INT(match("(a | b) & c", TAGS("a")), 0);
    CHECK_INT(match("(a | b) & c", TAGS("a", "c")), 1);
    CHECK_INT(match("!(a | b)", NO_TAGS), 1);
    CHECK_INT(match("!(a | b)", TAGS("b")), 0);
    CHECK_INT(match("((a))", TAGS("a")), 1);
    CHECK_INT(match("(a|b)&(c|d)", TAGS("b", "d")), 1);
    CHECK_INT(match("(a|b)&(c|d)", TAGS("a", "b")), 0);
}

static void test_comma_is_and(void)
{
    CHECK_INT(match("a, b", TAGS("a", "b")), 1);
    CHECK_INT(match("a, b", TAGS("a")), 0);
    CHECK_INT(match("a , b | c", TAGS("c")), 1); /* (a & b) | c */
    CHECK_INT(match("a , b | c", TAGS("a")), 0);
    CHECK_INT(match("a, b & !c", TAGS("a", "b", "c")), 0);
}

static void test_quoted_terms(void)
{
    CHECK_INT(match("\"a & b\"", TAGS("a & b")), 1);
    CHECK_INT(match("\"a & b\"", TAGS("a", "b")), 0);
    CHECK_INT(match("\"miku (cosplay)\" | x", TAGS("miku (cosplay)")), 1);
    CHECK_INT(match("\"say \\\"hi\\\"\"", TAGS("say \"hi\"")), 1);
    CHECK_INT(match("\"back\\\\slash\"", TAGS("back\\slash")), 1);
    CHECK_INT(match("\"!, |\" & !\"(\"", TAGS("!, |")), 1);
    /* quoting makes a glob character literal */
    CHECK_INT(match("\"a*\"", TAGS("ab")), 0);
    CHECK_INT(match("\"a*\"", TAGS("a*")), 1);
}

static void test_glob(void)
{
    CHECK_INT(match("blue*", TAGS("blue eyes")), 1);
    CHECK_INT(match("blue*", TAGS("blue")), 1);
    CHECK_INT(match("blue*", TAGS("light blue")), 0);
    CHECK_INT(match("?at", TAGS("cat")), 1);
    CHECK_INT(match("?at", TAGS("at")), 0);
    CHECK_INT(match("[bc]at", TAGS("bat")), 1);
    CHECK_INT(match("[bc]at", TAGS("rat")), 0);
    CHECK_INT(match("*/*", TAGS("a/b")), 1); /* a tag is not a path: * crosses '/' */
    CHECK_INT(match("Blue*", TAGS("blue eyes")), 0);
    CHECK_INT(match("blue* ", TAGS(" blue eyes ")), 1);
}

static void test_substring(void)
{
    CHECK_INT(match("~back", TAGS("looking back")), 1);
    CHECK_INT(match("~back", TAGS("background")), 1);
    CHECK_INT(match("~back", TAGS("Back")), 0);
    CHECK_INT(match("~ back", TAGS("backpack")), 1);
    CHECK_INT(match("~\"a & b\"", TAGS("xa & by")), 1);
    CHECK_INT(match("~a*", TAGS("ab")), 0); /* a substring is literal */
    CHECK_INT(match("!~back", TAGS("front")), 1);
}

static void test_header_example(void)
{
    const char *e = "red circle & !large | (blue* , ~back)";
    CHECK_INT(match(e, TAGS("red circle")), 1);
    CHECK_INT(match(e, TAGS("red circle", "large")), 0);
    CHECK_INT(match(e, TAGS("large", "blue sky", "background")), 1);
    CHECK_INT(match(e, TAGS("blue sky")), 0);
}

static void test_errors_name_column_and_expectation(void)
{
    check_refused("red & | b", "column 7: expected a tag after '&', found '|'");
    check_refused("a & ", "column 5: expected a tag after '&'");
    check_refused("a |", "column 4: expected a tag after '|'");
    check_refused("a ,, b", "column 4: expected a tag after ',', found ','");
    check_refused("& a", "column 1: expected a tag, found '&'");
    check_refused("!", "column 2: expected a tag after '!'");
    check_refused("()", "column 2: expected a tag after '(', found ')'");
    check_refused("~", "column 2: expected a tag after '~'");
    check_refused("~\"\"", "column 4: expected text after '~'");
    check_refused("\"\"", "column 1: empty quoted tag");
    check_refused("a \"b\"", "column 3: expected '&', ',', '|' or the end, found '\"'");
    check_refused("(a) b", "column 5: expected '&', ',', '|' or the end, found 'b'");
    check_refused("a!b", "column 2: expected '&', ',', '|' or the end, found '!'");
    check_refused("(a b\"c\")", "column 5: expected '&', ',', '|' or ')', found '\"'");
    check_refused("é & ", "column 5: expected a tag after '&'"); /* é is one column */
}

static void test_errors_parentheses_and_quotes(void)
{
    check_refused("(a | b", "column 7: unbalanced parentheses: the '(' at column 1 is never closed");
    check_refused("x & ((a) | b", "column 13: unbalanced parentheses: the '(' at column 5 is never "
                                  "closed");
    check_refused("a)", "column 2: unbalanced parentheses: this ')' has no '('");
    check_refused("(a))", "column 4: unbalanced parentheses: this ')' has no '('");
    check_refused("\"abc", "column 1: unterminated quote (no closing '\"')");
    check_refused("x & \"abc\\", "column 5: unterminated quote (no closing '\"')");
    check_refused("x & \"abc\\\"", "column 5: unterminated quote (no closing '\"')");
    check_refused("\"a\\nb\"", "column 3: unknown escape '\\' before 'n' in a quoted tag (only \\\" "
                               "and \\\\ are escapes)");
}

/* Deep nesting is refused before it can exhaust the stack; long flat chains are fine. */
/* A quoted tag means itself, whatever characters it holds (jumping from a tag to its images). */
static void test_quote_round_trip(void)
{
    const char *odd[] = {"a \"quoted\" tag", "back\\slash", "hat [red] | x & !y", "star*", "(p)", NULL};
    for (int i = 0; odd[i]; i++) {
        char expr[256];
        filter_quote(odd[i], expr, sizeof expr);
        const char *has[] = {"other", odd[i], NULL}, *lacks[] = {"other", "star", "hat", NULL};
        CHECK_INT(match(expr, has), 1);
        CHECK_INT(match(expr, lacks), 0);
    }
    char tiny[8];
    filter_quote("abcdefghij", tiny, sizeof tiny);
    CHECK_STR(tiny, "\"abcd\"");
}

static void test_nesting_and_long_chains(void)
{
    char deep[1024];
    memset(deep, '(', 300);
    strcpy(deep + 300, "a");
    tg_error err = {{0}};
    CHECK(filter_parse(deep, &err) == NULL);
    CHECK(strstr(err.msg, "nested deeper than") != NULL);

    memset(deep, '!', 300);
    strcpy(deep + 300, "a");
    CHECK(filter_parse(deep, &err) == NULL);

    size_t terms = 100000;
    char *chain = malloc(terms * 4 + 1), *o = chain;
    for (size_t i = 0; i < terms; i++)
        o += sprintf(o, i ? " & a" : "a");
    CHECK_INT(match(chain, TAGS("a")), 1);
    CHECK_INT(match(chain, TAGS("b")), 0);
    free(chain);
}

int main(void)
{
    RUN(test_empty_matches_everything);
    RUN(test_exact_tag);
    RUN(test_case_sensitive);
    RUN(test_whitespace_trimmed);
    RUN(test_and_binds_tighter_than_or);
    RUN(test_not_binds_tightest);
    RUN(test_parentheses);
    RUN(test_comma_is_and);
    RUN(test_quoted_terms);
    RUN(test_glob);
    RUN(test_substring);
    RUN(test_header_example);
    RUN(test_quote_round_trip);
    RUN(test_errors_name_column_and_expectation);
    RUN(test_errors_parentheses_and_quotes);
    RUN(test_nesting_and_long_chains);
    return check_finish();
}

/* Python's notion of whitespace (str.isspace, what str.strip() removes) on UTF-8 text, shared by
 * the caption pipeline and its dataset-wide figures, which must strip tags exactly alike. */
#ifndef TAGGER_PRIVATE_PY_SPACE_H
#define TAGGER_PRIVATE_PY_SPACE_H
#include <stdbool.h>
#include <stddef.h>

/* Length of the whitespace character starting at s (n bytes available), or 0. */
static inline size_t py_space_at(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2; /* U+0085 NEL, U+00A0 NBSP */
    if (n < 3)
        return 0;
    if ((s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) ||                   /* U+1680 */
        (s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0x80 && s[2] <= 0x8a) || /* U+2000-200A */
        (s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) ||
        (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) ||                   /* U+205F */
        (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80))                     /* U+3000 */
        return 3;
    return 0;
}

/* A byte that is neither whitespace nor part of a multi-byte character: settles most ends of
 * most tags without decoding anything. */
static inline bool py_plain_byte(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c < 0x80;
}

/* Length of the whitespace character that ends s[0..n) (n > 0), or 0. */
static inline size_t py_space_before(const char *s, size_t n)
{
    if (s[n - 1] == ' ')
        return 1;
    if (py_plain_byte(s[n - 1]))
        return 0;
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (py_space_at(s + n - k, k) == k)
            return k;
    return 0;
}

/* str.strip() of the n bytes at *s, by moving *s and shrinking *n. */
static inline void py_strip_span(const char **s, size_t *n)
{
    size_t k;
    while (*n && (k = (**s == ' ' ? 1 : py_plain_byte(**s) ? 0 : py_space_at(*s, *n))) > 0) {
        *s += k;
        *n -= k;
    }
    while (*n && (k = py_space_before(*s, *n)) > 0)
        *n -= k;
}

#endif

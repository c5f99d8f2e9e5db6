/* CLIP text cleaning and pre-tokenizing (trainer/private/clip_text.h), step for step as openai/CLIP's
 * simple_tokenizer does it under Python:
 *   ftfy.fix_text -> html.unescape(html.unescape(.)) -> strip -> `\s+` -> " " -> strip -> lower()
 *   -> findall(<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+)
 * Of ftfy only the parts that are plain character rules are done (docs in trainer/clip_tokenizer.h):
 * its own entity decoding, C1 controls as Windows-1252, Latin ligatures, full/half width, curly
 * quotes, terminal escapes, control characters, repeated until nothing changes, line by line. */
#include "trainer/private/clip_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CP 0x10FFFFu
#define REPLACEMENT 0xFFFDu

/* ---- tables ---- */

unsigned clip_uc_flags(uint32_t cp)
{
    if (cp < 128)
        return clip_uc_ascii[cp];
    size_t lo = 0, hi = clip_uc_n_runs; /* last run whose start <= cp */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if ((clip_uc_runs[mid] >> 8) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return clip_uc_runs[lo] & 0xff;
}

static const clip_cp_map *cp_map_find(const clip_cp_map *map, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (map[mid].cp == cp)
            return &map[mid];
        if (map[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* str.lower() of one code point other than U+0130 and U+03A3. */
static uint32_t lower_simple(uint32_t cp)
{
    if (cp < 128)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    size_t lo = 0, hi = clip_n_lower_runs;
    if (cp < clip_lower_runs[0].start)
        return cp;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (clip_lower_runs[mid].start <= cp)
            lo = mid;
        else
            hi = mid;
    }
    const clip_lower_run *r = &clip_lower_runs[lo];
    uint32_t off = cp - r->start;
    if (off % r->stride == 0 && off / r->stride < r->count)
        return (uint32_t)((int64_t)cp + r->delta);
    return cp;
}

/* ---- buffers ---- */

static int cps_reserve(clip_cps *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra)
        cap *= 2;
    uint32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v)
        return -1;
    b->v = v;
    b->cap = cap;
    return 0;
}

static int cps_push(clip_cps *b, uint32_t cp)
{
    if (b->n == b->cap && cps_reserve(b, 1) < 0)
        return -1;
    b->v[b->n++] = cp;
    return 0;
}

static int cps_append(clip_cps *b, const uint32_t *v, size_t n)
{
    if (n == 0)
        return 0;
    if (cps_reserve(b, n) < 0)
        return -1;
    memcpy(b->v + b->n, v, n * sizeof *v);
    b->n += n;
    return 0;
}

/* Up to 3 code points of a table entry (0-terminated unless all 3 are used). */
static int cps_push_out(clip_cps *b, const uint32_t out[3])
{
    for (int k = 0; k < 3 && out[k]; k++)
        if (cps_push(b, out[k]) < 0)
            return -1;
    return 0;
}

/* ---- UTF-8 ---- */

/* Decodes one code point from s[0..n) (n >= 1). An invalid sequence yields U+FFFD and consumes its
 * longest valid prefix (at least one byte), as Python's decoder with errors="replace" does. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        *cp = REPLACEMENT;
        return 1;
    }
    uint32_t v = c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
        unsigned b = k < n ? s[k] : 0;
        if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) {
            *cp = REPLACEMENT;
            return k;
        }
        v = v << 6 | (b & 0x3f);
    }
    *cp = v;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- HTML character references ---- */

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_hex(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_alnum(uint32_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* strcmp of the code points v[0..n) (as if bytes; anything past ASCII sorts last) with name. */
static int name_cmp(const uint32_t *v, size_t n, const char *name)
{
    for (size_t k = 0;; k++) {
        unsigned a = k < n ? (v[k] < 128 ? v[k] : 256) : 0;
        unsigned b = (unsigned char)name[k];
        if (a != b)
            return a < b ? -1 : 1;
        if (!a)
            return 0;
    }
}

static const clip_entity *entity_find(const clip_entity *t, size_t n, const uint32_t *v, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = name_cmp(v, len, t[mid].name);
        if (!c)
            return &t[mid];
        if (c > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* html.unescape's value of a numeric reference (num saturated past U+10FFFF). */
static int charref_push(clip_cps *out, uint32_t num)
{
    const clip_cp_map *m = cp_map_find(clip_invalid_charrefs, clip_n_invalid_charrefs, num);
    if (m)
        return cps_push_out(out, m->out);
    if ((num >= 0xd800 && num <= 0xdfff) || num > MAX_CP)
        return cps_push(out, REPLACEMENT);
    for (size_t k = 0; k < clip_n_invalid_codepoints; k++)
        if (num >= clip_invalid_codepoints[k][0] && num <= clip_invalid_codepoints[k][1])
            return 0;
    return cps_push(out, num);
}

/* Digits v[a..b) in base 10 or 16, saturated just past U+10FFFF. */
static uint32_t parse_num(const uint32_t *v, size_t a, size_t b, unsigned base)
{
    uint32_t num = 0;
    for (size_t k = a; k < b; k++) {
        uint32_t d = is_digit(v[k]) ? v[k] - '0' : (v[k] | 0x20) - 'a' + 10;
        num = num * base + d;
        if (num > MAX_CP)
            num = MAX_CP + 1;
    }
    return num;
}

static bool named_char_ok(uint32_t c)
{
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
           c != ';';
}

/* Python's html.unescape: `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` replaced by
 * the character it names; a name that is not whole is matched by its longest known prefix. */
static int html_unescape(const clip_cps *in, clip_cps *out)
{
    const uint32_t *v = in->v;
    size_t n = in->n;
    out->n = 0;
    for (size_t i = 0; i < n;) {
        if (v[i] != '&') {
            if (cps_push(out, v[i++]) < 0)
                return -1;
            continue;
        }
        size_t j = i + 1;
        if (j < n && v[j] == '#') {
            size_t a = j + 1;
            unsigned base = 10;
            if (a < n && (v[a] == 'x' || v[a] == 'X') && a + 1 < n && is_hex(v[a + 1])) {
                base = 16;
                a++;
            } else if (!(a < n && is_digit(v[a]))) {
                if (cps_push(out, v[i++]) < 0)
                    return -1;
                continue;
            }
            size_t b = a;
            while (b < n && (base == 16 ? is_hex(v[b]) : is_digit(v[b])))
                b++;
            if (charref_push(out, parse_num(v, a, b, base)) < 0)
                return -1;
            i = b < n && v[b] == ';' ? b + 1 : b;
            continue;
        }
        size_t end = j;
        while (end < n && end - j < 32 && named_char_ok(v[end]))
            end++;
        if (end == j) {
            if (cps_push(out, v[i++]) < 0)
                return -1;
            continue;
        }
        if (end < n && v[end] == ';')
            end++;
        const clip_entity *e = entity_find(clip_html_entities, clip_n_html_entities, v + j, end - j);
        size_t used = end - j;
        for (size_t x = end - j - 1; !e && x >= 2; x--) {
            e = entity_find(clip_html_entities, clip_n_html_entities, v + j, x);
            used = x;
        }
        if (e) {
            if (cps_push_out(out, e->out) < 0 || cps_append(out, v + j + used, end - j - used) < 0)
                return -1;
        } else if (cps_append(out, v + i, end - i) < 0) {
            return -1;
        }
        i = end;
    }
    return 0;
}

/* ftfy's unescape_html: `&#?[0-9A-Za-z]{1,24};` when its table knows the name, or when it is a
 * whole numeric reference (html.unescape's value, unless that holds a ';'). */
static int ftfy_unescape(const uint32_t *v, size_t n, clip_cps *out)
{
    for (size_t i = 0; i < n;) {
        if (v[i] != '&') {
            if (cps_push(out, v[i++]) < 0)
                return -1;
            continue;
        }
        bool hash = i + 1 < n && v[i + 1] == '#';
        size_t a = i + 1 + hash, b = a;
        while (b < n && b - a < 25 && is_alnum(v[b]))
            b++;
        if (b == a || b - a > 24 || b >= n || v[b] != ';') {
            if (cps_push(out, v[i++]) < 0)
                return -1;
            continue;
        }
        size_t mark = out->n;
        bool done = false;
        if (!hash) {
            const clip_entity *e = entity_find(clip_ftfy_entities, clip_n_ftfy_entities, v + a, b + 1 - a);
            if (e) {
                if (cps_push_out(out, e->out) < 0)
                    return -1;
                done = true;
            }
        } else {
            unsigned base = 10;
            size_t d = a;
            if (v[a] == 'x' || v[a] == 'X') {
                base = 16;
                d++;
            }
            bool digits = d < b;
            for (size_t k = d; k < b; k++)
                digits = digits && (base == 16 ? is_hex(v[k]) : is_digit(v[k]));
            if (digits) {
                if (charref_push(out, parse_num(v, d, b, base)) < 0)
                    return -1;
                done = true;
                for (size_t k = mark; k < out->n; k++)
                    done = done && out->v[k] != ';';
                if (!done)
                    out->n = mark;
            }
        }
        if (!done && cps_append(out, v + i, b + 1 - i) < 0)
            return -1;
        i = b + 1;
    }
    return 0;
}

/* ---- ftfy ---- */

static bool ftfy_control(uint32_t c)
{
    return c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f ||
           (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
}

/* One round of ftfy's fixes on v[0..n) into out: entities, the character translations, terminal
 * escapes `\033\[(\d|;)*[a-zA-Z]`, control characters. */
static int ftfy_round(const uint32_t *v, size_t n, bool unescape, clip_cps *out, clip_cps *tmp)
{
    tmp->n = 0;
    if (unescape) {
        if (ftfy_unescape(v, n, tmp) < 0)
            return -1;
    } else if (cps_append(tmp, v, n) < 0) {
        return -1;
    }
    out->n = 0;
    for (size_t i = 0; i < tmp->n; i++) {
        uint32_t c = tmp->v[i];
        const clip_cp_map *m = c >= 0x80 ? cp_map_find(clip_ftfy_map, clip_n_ftfy_map, c) : NULL;
        if (m ? cps_push_out(out, m->out) < 0 : cps_push(out, c) < 0)
            return -1;
    }
    size_t w = 0;
    for (size_t i = 0; i < out->n;) {
        uint32_t c = out->v[i];
        if (c == 0x1b && i + 1 < out->n && out->v[i + 1] == '[') {
            size_t k = i + 2;
            while (k < out->n && (out->v[k] == ';' || (clip_uc_flags(out->v[k]) & CLIP_UC_ND)))
                k++;
            if (k < out->n && out->v[k] < 128 && ((out->v[k] | 0x20) >= 'a' && (out->v[k] | 0x20) <= 'z')) {
                i = k + 1;
                continue;
            }
        }
        if (!ftfy_control(c))
            out->v[w++] = c;
        i++;
    }
    out->n = w;
    return 0;
}

/* ftfy.fix_text, the parts listed at the top: line by line (a line keeps its '\n'), each line
 * fixed until nothing changes; entities are decoded only before the first line holding a '<'. */
static int ftfy_fix(const clip_cps *in, clip_cps *out)
{
    clip_cps a = {0}, b = {0}, tmp = {0};
    bool unescape = true;
    int rc = 0;
    out->n = 0;
    for (size_t pos = 0; pos < in->n && rc == 0;) {
        size_t end = pos;
        while (end < in->n && in->v[end] != '\n')
            end++;
        if (end < in->n)
            end++;
        for (size_t k = pos; k < end && unescape; k++)
            if (in->v[k] == '<')
                unescape = false;
        a.n = 0;
        rc = cps_append(&a, in->v + pos, end - pos);
        for (int round = 0; rc == 0 && round < 64; round++) {
            rc = ftfy_round(a.v, a.n, unescape, &b, &tmp);
            if (rc == 0 && b.n == a.n && (a.n == 0 || memcmp(a.v, b.v, a.n * sizeof *a.v) == 0))
                break;
            clip_cps t = a;
            a = b;
            b = t;
        }
        if (rc == 0)
            rc = cps_append(out, a.v, a.n);
        pos = end;
    }
    free(a.v);
    free(b.v);
    free(tmp.v);
    return rc;
}

/* ---- whitespace and case ---- */

/* `\s+` -> " " (White_Space), then str.strip() (str.isspace()), into out. */
static int whitespace_clean(const clip_cps *in, clip_cps *out)
{
    size_t a = 0, b = in->n;
    while (a < b && (clip_uc_flags(in->v[a]) & CLIP_UC_PYSPACE))
        a++;
    while (b > a && (clip_uc_flags(in->v[b - 1]) & CLIP_UC_PYSPACE))
        b--;
    out->n = 0;
    if (cps_reserve(out, b - a) < 0)
        return -1;
    bool in_run = false;
    for (size_t i = a; i < b; i++) {
        uint32_t c = in->v[i];
        bool ws = clip_uc_flags(c) & CLIP_UC_WS;
        if (ws && in_run)
            continue;
        in_run = ws;
        out->v[out->n++] = ws ? ' ' : c;
    }
    return 0;
}

/* str.lower(), with its two special cases: U+0130 becomes "i\u0307", and U+03A3 becomes final
 * sigma after a cased letter (case-ignorable ones skipped) when no cased letter follows. */
static int lower(const clip_cps *in, clip_cps *out)
{
    out->n = 0;
    if (cps_reserve(out, in->n) < 0)
        return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == 0x130) {
            if (cps_push(out, 'i') < 0 || cps_push(out, 0x307) < 0)
                return -1;
            continue;
        }
        if (c == 0x3a3) {
            size_t j = i;
            unsigned f = 0;
            while (j > 0 && ((f = clip_uc_flags(in->v[j - 1])) & CLIP_UC_CI))
                j--;
            bool final = j > 0 && (f & CLIP_UC_CASED);
            for (j = i + 1; final && j < in->n; j++) {
                f = clip_uc_flags(in->v[j]);
                if (!(f & CLIP_UC_CI)) {
                    final = !(f & CLIP_UC_CASED);
                    break;
                }
            }
            c = final ? 0x3c2 : 0x3c3;
        } else {
            c = lower_simple(c);
        }
        if (cps_push(out, c) < 0)
            return -1;
    }
    return 0;
}

/* ---- the whole cleaning ---- */

/* Plain text (printable ASCII, tab, LF, CR, FF, no '&'): ftfy and unescape change nothing. */
static bool plain_ascii(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p >= 0x7f || *p == '&' || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\f'))
            return false;
    return true;
}

int clip_text_clean(const char *text, clip_cps *out)
{
    clip_cps a = {0}, b = {0};
    int rc = 0;
    size_t n = strlen(text);
    if (plain_ascii(text)) {
        rc = cps_reserve(&a, n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            a.v[a.n++] = (unsigned char)text[i];
    } else {
        const unsigned char *s = (const unsigned char *)text;
        rc = cps_reserve(&b, n);
        for (size_t i = 0; rc == 0 && i < n;) {
            uint32_t cp;
            i += utf8_decode(s + i, n - i, &cp);
            b.v[b.n++] = cp;
        }
        if (rc == 0)
            rc = ftfy_fix(&b, &a);
        if (rc == 0)
            rc = html_unescape(&a, &b);
        if (rc == 0)
            rc = html_unescape(&b, &a);
    }
    if (rc == 0)
        rc = whitespace_clean(&a, &b);
    if (rc == 0)
        rc = lower(&b, out);
    free(a.v);
    free(b.v);
    return rc;
}

/* ---- the pre-tokenizer ---- */

/* Does v[i..] start with the ASCII word w? 's' also matches U+017F, as under re.IGNORECASE. */
static bool starts_with(const uint32_t *v, size_t n, size_t i, const char *w)
{
    for (; *w; w++, i++)
        if (i >= n || (v[i] != (unsigned char)*w && !(*w == 's' && v[i] == 0x17f)))
            return false;
    return true;
}

static int emit(const uint32_t *v, size_t a, size_t b, clip_piece_fn fn, void *ctx, char **buf,
                size_t *cap)
{
    if (*cap < (b - a) * 4 + 1) {
        size_t ncap = (b - a) * 4 + 64;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    size_t len = 0;
    for (size_t k = a; k < b; k++)
        len += utf8_encode(v[k], *buf + len);
    return fn(ctx, CLIP_PIECE_TEXT, *buf, len);
}

int clip_text_split(const clip_cps *text, clip_piece_fn fn, void *ctx, char **scratch,
                    size_t *scratch_cap)
{
    const uint32_t *v = text->v;
    size_t n = text->n;
    for (size_t i = 0; i < n;) {
        unsigned f = clip_uc_flags(v[i]);
        size_t end = i + 1;
        int rc;
        if (v[i] == '<' && starts_with(v, n, i, "<|startoftext|>")) {
            /* one piece either way, but only the exact spelling is the special token */
            bool exact = v[i + 2] == 's';
            rc = exact ? fn(ctx, CLIP_PIECE_BOS, NULL, 0) : emit(v, i, i + 15, fn, ctx, scratch, scratch_cap);
            i += 15;
            if (rc)
                return rc;
            continue;
        }
        if (v[i] == '<' && starts_with(v, n, i, "<|endoftext|>")) {
            rc = fn(ctx, CLIP_PIECE_EOS, NULL, 0);
            i += 13;
            if (rc)
                return rc;
            continue;
        }
        if (v[i] == '\'' && (starts_with(v, n, i, "'re") || starts_with(v, n, i, "'ve") ||
                             starts_with(v, n, i, "'ll")))
            end = i + 3;
        else if (v[i] == '\'' && i + 1 < n &&
                 (v[i + 1] == 's' || v[i + 1] == 0x17f || v[i + 1] == 't' || v[i + 1] == 'm' || v[i + 1] == 'd'))
            end = i + 2;
        else if (f & CLIP_UC_L)
            while (end < n && (clip_uc_flags(v[end]) & CLIP_UC_L))
                end++;
        else if (f & CLIP_UC_N)
            ;
        else if (f & CLIP_UC_WS) {
            i++;
            continue;
        } else
            while (end < n && !(clip_uc_flags(v[end]) & (CLIP_UC_L | CLIP_UC_N | CLIP_UC_WS)))
                end++;
        rc = emit(v, i, end, fn, ctx, scratch, scratch_cap);
        if (rc)
            return rc;
        i = end;
    }
    return 0;
}

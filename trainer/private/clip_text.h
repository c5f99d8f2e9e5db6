/* The text side of the CLIP tokenizer (private to trainer/clip_*.c): openai/CLIP simple_tokenizer's
 * cleaning (ftfy.fix_text, html.unescape twice, whitespace collapse, strip, lower()) and its
 * pre-tokenizer regex, done by hand on code points, with the Unicode facts generated from Python
 * by tools/gen_clip_tables.py into trainer/clip_tables.c. */
#ifndef TRAINER_PRIVATE_CLIP_TEXT_H
#define TRAINER_PRIVATE_CLIP_TEXT_H
#include <stddef.h>
#include <stdint.h>

/* ---- generated tables (trainer/clip_tables.c) ---- */

enum {
    CLIP_UC_L = 1,       /* \p{L} */
    CLIP_UC_N = 2,       /* \p{N} */
    CLIP_UC_WS = 4,      /* the regex module's \s (White_Space) */
    CLIP_UC_PYSPACE = 8, /* str.isspace() */
    CLIP_UC_CI = 16,     /* case-ignorable (final-sigma context) */
    CLIP_UC_CASED = 32,  /* cased and not case-ignorable */
    CLIP_UC_ND = 64,     /* Nd (Python re's \d) */
};

typedef struct clip_lower_run {
    uint32_t start;
    uint16_t count;
    uint8_t stride;
    int32_t delta;
} clip_lower_run;

typedef struct clip_cp_map {
    uint32_t cp;
    uint32_t out[3]; /* 0-terminated unless full */
} clip_cp_map;

typedef struct clip_entity {
    const char *name;
    uint32_t out[3];
} clip_entity;

extern const uint32_t clip_uc_runs[];      /* start << 8 | flags, ascending */
extern const size_t clip_uc_n_runs;
extern const uint8_t clip_uc_ascii[128];
extern const clip_lower_run clip_lower_runs[];
extern const size_t clip_n_lower_runs;
extern const clip_cp_map clip_ftfy_map[];  /* ascending cp */
extern const size_t clip_n_ftfy_map;
extern const clip_entity clip_html_entities[];  /* html.entities.html5 subset, by name */
extern const size_t clip_n_html_entities;
extern const clip_entity clip_ftfy_entities[];  /* ftfy's table subset ("amp;"), by name */
extern const size_t clip_n_ftfy_entities;
extern const clip_cp_map clip_invalid_charrefs[];
extern const size_t clip_n_invalid_charrefs;
extern const uint32_t clip_invalid_codepoints[][2];
extern const size_t clip_n_invalid_codepoints;

/* ---- clip_text.c ---- */

/* Flags (CLIP_UC_*) of a code point. */
unsigned clip_uc_flags(uint32_t cp);

/* A growable code point buffer. */
typedef struct clip_cps {
    uint32_t *v;
    size_t n, cap;
} clip_cps;

/* What the pre-tokenizer yields: pieces of the cleaned text as UTF-8, or a special token. */
typedef enum clip_piece_kind { CLIP_PIECE_TEXT, CLIP_PIECE_BOS, CLIP_PIECE_EOS } clip_piece_kind;

typedef int (*clip_piece_fn)(void *ctx, clip_piece_kind kind, const char *utf8, size_t len);

/* Cleans text (UTF-8; an invalid sequence reads as U+FFFD, as Python's errors="replace") the way
 * simple_tokenizer does before splitting, into out (reused between calls; free its v). Returns 0,
 * or -1 when out of memory. */
int clip_text_clean(const char *text, clip_cps *out);

/* Splits cleaned text into pieces (simple_tokenizer's regex) and calls fn on each, in order; scratch
 * holds a piece's UTF-8 (reused; free it). Stops at the first non-zero return of fn and returns it;
 * -1 when out of memory. */
int clip_text_split(const clip_cps *text, clip_piece_fn fn, void *ctx, char **scratch,
                    size_t *scratch_cap);

#endif

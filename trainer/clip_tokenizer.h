/* The CLIP BPE tokenizer of Stable Diffusion 1.x (openai/CLIP simple_tokenizer, which HF's
 * CLIPTokenizer follows), reading the vocabulary the user has; none is bundled:
 *   - a diffusers-format model folder (its tokenizer/merges.txt, with tokenizer/vocab.json when
 *     present), or a folder holding merges.txt (+ vocab.json), or either file itself;
 *   - openai/CLIP's bpe_simple_vocab_16e6.txt.gz (or .txt), or a folder holding it.
 * Ids are derived from the merges as simple_tokenizer derives them (256 byte tokens, the same
 * with "</w>", one per merge, then <|startoftext|> and <|endoftext|>; the first 48,894 merges
 * after the header line are used, so the real files give 49,408 ids, BOS 49406, EOS 49407).
 * A vocab.json beside the merges must agree with that, token for token, or loading is refused.
 *
 * Text goes through simple_tokenizer's cleaning, then its split regex, then byte-level BPE:
 *   - ftfy.fix_text is only partly reproduced: its HTML-entity decoding (for the names below),
 *     C1 controls read as Windows-1252, Latin ligatures (ﬁ -> fi), full-width forms (Ａ -> A,
 *     U+3000 -> space), curly quotes (’ -> '), terminal escapes and control characters removed,
 *     repeated until nothing changes. Not done: mojibake repair (fix_encoding: "cafÃ©" stays as
 *     written) and NFC normalisation (a letter followed by a combining accent stays two code
 *     points; text typed on a keyboard or saved by editors is almost always NFC already).
 *   - html.unescape (twice) and ftfy's entity step know numeric references fully but named ones
 *     only for the Latin-1 names, amp/lt/gt/quot/apos and common typographic ones (hellip,
 *     mdash, rsquo, euro, ...); any other name ("&alpha;") stays as written.
 *   - `\s+` -> " ", strip, and str.lower() are exact (all of Unicode, final sigma, İ).
 *   - \p{L} and \p{N} follow Python 3.11's unicodedata (Unicode 14.0): characters assigned later
 *     count as punctuation here, while a newer `regex` module would call some of them letters.
 *   - invalid UTF-8 reads as U+FFFD, as Python's decoder with errors="replace" would.
 * HF's CLIPTokenizer differs from simple_tokenizer in that it does not html.unescape (only ftfy's
 * step, which needs a ';'), so "&amp" without ';' differs between the two; this follows openai.
 *
 * Thread-safe after loading: tokenizing shares a cache of words already split, under a lock. */
#ifndef TRAINER_CLIP_TOKENIZER_H
#define TRAINER_CLIP_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"

#define CLIP_MAX_MERGES 48894 /* 49152 - 256 - 2 */
#define CLIP_SD1_MAX_LEN 77
#define CLIP_SD1_PAD_ID 49407 /* SD 1.x pads with <|endoftext|>; OpenAI's clip.tokenize and SD 2 with 0 */

typedef struct clip_tokenizer clip_tokenizer;

/* Loads the vocabulary at path (a folder or a file, as above). NULL with err set: the message
 * names the file, and the line for a malformed merges file ("merges.txt:7: expected two tokens
 * separated by a space, got \"a b c\""), or the token on which vocab.json and the merges disagree.
 * A .gz file is decompressed by running `gzip -dc`. */
clip_tokenizer *clip_tokenizer_load(const char *path, tg_error *err);
void clip_tokenizer_free(clip_tokenizer *t);

int32_t clip_vocab_size(const clip_tokenizer *t); /* 49408 for the real files */
int32_t clip_bos_id(const clip_tokenizer *t);     /* <|startoftext|> */
int32_t clip_eos_id(const clip_tokenizer *t);     /* <|endoftext|> */
/* The token's text as vocab.json spells it (byte-level characters, "</w>" ending a word), or NULL
 * for an id out of range or one no token has. */
const char *clip_token_text(const clip_tokenizer *t, int32_t id);
/* What was loaded, e.g. "DIR/tokenizer/merges.txt + vocab.json" (for logs). */
const char *clip_tokenizer_source(const clip_tokenizer *t);

/* The ids of text (UTF-8) without BOS, EOS or padding: writes the first min(total, cap) of them
 * to ids (NULL allowed when cap is 0) and returns the total, or -1 when out of memory. For length
 * checks: "your caption is 83 tokens, 75 fit". */
long clip_encode(const clip_tokenizer *t, const char *text, int32_t *ids, size_t cap);

/* What the text encoder gets: BOS, the tokens of text cut to max_len - 2, EOS, then pad_id up to
 * max_len (77 and CLIP_SD1_PAD_ID for SD 1.x; HF's truncation=True, padding="max_length").
 * *n_real (may be NULL) receives the number of positions before the padding (BOS and EOS
 * included). Returns the number of tokens of text before cutting, or -1 when max_len < 2 or
 * memory runs out. */
int clip_tokenize(const clip_tokenizer *t, const char *text, int32_t *ids, int max_len, int pad_id,
                  int *n_real);

#endif

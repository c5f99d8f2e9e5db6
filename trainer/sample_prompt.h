/* kohya sd-scripts' sample prompts (`--sample_prompts`), reference/trainers.md §6:
 *
 *     a red circle, white background --n blurry, lowres --w 512 --h 512 --s 30 --l 7.5 --d 42
 *
 * A line is split on " --" (as kohya's line_to_prompt_dict does); the first part is the prompt,
 * each later part an option name (case-insensitive) and its value:
 *
 *   --n TEXT    negative prompt                        default: none ("")
 *   --w N       width,  rounded down to a multiple of 8, at least 64 (as sample_image_inference
 *   --h N       height  does before sampling)          default: 512 x 512
 *   --s N       steps, clamped to 1..1000              default: 30
 *   --l X       CFG scale                              default: 7.5
 *   --d N       seed                                   default: none (-1: a fresh random seed each
 *                                                      time the prompt is sampled)
 *   --ss NAME   sampler for this prompt: one of kohya's names (ddim, pndm, lms, euler, euler_a,
 *               heun, dpm_2, dpm_2_a, dpmsolver, dpmsolver++, dpmsingle, k_lms, k_euler,
 *               k_euler_a, k_dpm_2, k_dpm_2_a), any case, kept lower-case
 *                                                      default: the run's sample_sampler
 *   --g --cn --ctr --rcfg --fs --f   kohya's Flux guidance, ControlNet image, CFG truncation,
 *               renormalised CFG, flow shift and frame count: accepted (they need a value) and
 *               recorded in `ignored`, since no model here uses them
 *
 * Where this is stricter than kohya (which logs or silently skips what it cannot parse, so a typo
 * quietly samples with defaults): an unknown option, an option without a value, a value that is not
 * a number where one is needed (kohya's patterns: digits for w/h/s/d, digits and dots for l),
 * trailing text after a number, an unknown sampler (kohya falls back to DDIM), a seed above
 * INT64_MAX and a width or height above SP_MAX_SIDE are errors naming the option. Also unlike
 * kohya: the prompt part is not itself searched for options (kohya matches "w 512 ..." at the start
 * of a prompt as a width), a line starting with "--" has an empty prompt, the prompt and values are
 * trimmed of spaces and tabs, more than one space may separate an option from its value, and a
 * later duplicate wins (as in kohya).
 *
 * Files: only the .txt form — one prompt per line, UTF-8, blank lines and lines whose first
 * non-blank character is '#' skipped (kohya skips only lines starting with '#' in column 0), CRLF
 * accepted, a leading BOM dropped. kohya's .toml ([prompt] defaults + [[prompt.subset]]) and .json
 * (a list of dicts or strings) prompt files are refused with a message saying so. Errors name the
 * file, the line and the option: "prompts.txt:3: --w: expected a whole number, got \"abc\"". */
#ifndef TRAINER_SAMPLE_PROMPT_H
#define TRAINER_SAMPLE_PROMPT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"

enum { SP_DEFAULT_SIDE = 512, SP_DEFAULT_STEPS = 30, SP_MAX_SIDE = 16384, SP_MAX_STEPS = 1000 };
#define SP_DEFAULT_CFG 7.5

/* Options kohya knows that are accepted and not used here. */
enum {
    SP_IGNORED_G = 1u << 0,    /* --g: guidance scale (Flux) */
    SP_IGNORED_CN = 1u << 1,   /* --cn: ControlNet image */
    SP_IGNORED_CTR = 1u << 2,  /* --ctr: CFG truncation */
    SP_IGNORED_RCFG = 1u << 3, /* --rcfg: renormalised CFG */
    SP_IGNORED_FS = 1u << 4,   /* --fs: flow shift */
    SP_IGNORED_F = 1u << 5,    /* --f: frame count */
};

typedef struct sample_prompt {
    char *prompt;      /* the text before the first option (may be "") */
    char *negative;    /* --n, "" when none */
    int width, height; /* --w --h, multiples of 8 in 64..SP_MAX_SIDE */
    int steps;         /* --s, 1..1000 */
    double cfg_scale;  /* --l */
    int64_t seed;      /* --d, -1 when none */
    char *sampler;     /* --ss, lower-case; NULL: the run's sample_sampler */
    unsigned ignored;  /* SP_IGNORED_* bits of the options seen and not used */
    int line;          /* 1-based line in its file; 0 from sample_prompt_parse */
} sample_prompt;

typedef struct sample_prompt_list {
    sample_prompt *items;
    size_t count;
} sample_prompt_list;

/* Parses one line (no line ends inside) into p (freed with sample_prompt_free, also on error).
 * 0, or -1 with err set ("--w: expected a whole number, got \"abc\""; "out of memory"). */
int sample_prompt_parse(const char *line, sample_prompt *p, tg_error *err);
void sample_prompt_free(sample_prompt *p);

/* The prompts of a .txt file's text[0..len); name is used in messages ("name:LINE: ..."). On error
 * out is empty. */
int sample_prompts_parse(const char *text, size_t len, const char *name, sample_prompt_list *out,
                         tg_error *err);
/* Reads path (refusing .toml and .json, and files over 16 MiB) and parses it. */
int sample_prompts_load(const char *path, sample_prompt_list *out, tg_error *err);
void sample_prompts_free(sample_prompt_list *l);

/* Whether name (any case) is one of kohya's sampler names listed above. */
bool sample_sampler_known(const char *name);
/* "g, cn" for ignored bits, into buf (empty when none); returns buf. */
const char *sample_prompt_ignored_names(unsigned ignored, char *buf, size_t n);

#endif

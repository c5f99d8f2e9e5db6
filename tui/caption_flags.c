/* One table drives both parsing and help, so a new option cannot be parsed without being
 * documented (or the other way round). */
#include "tui/caption_flags.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tui/cli.h"

typedef enum flag_kind { FLAG_INT, FLAG_REAL, FLAG_TEXT, FLAG_SWITCH } flag_kind;

typedef struct caption_flag {
    const char *name;  /* kohya's spelling, without the leading "--" */
    flag_kind kind;
    size_t offset;     /* of the field in pipeline_opts */
    const char *value; /* what the value is called in the help ("" for a switch) */
    const char *help;
} caption_flag;

#define FIELD(f) offsetof(pipeline_opts, f)

static const caption_flag flags[] = {
    {"keep_tokens", FLAG_INT, FIELD(keep_tokens), "N",
     "the first N tags stay fixed: never shuffled or tag-dropped; matters only with shuffle, "
     "tag dropout or warm-up on (default 0)"},
    {"keep_tokens_separator", FLAG_TEXT, FIELD(keep_tokens_separator), "S",
     "tags before S (and after a second S) stay fixed; overrides keep_tokens (default off)"},
    {"caption_separator", FLAG_TEXT, FIELD(caption_separator), "S",
     "the string that splits a caption into tags (default \",\")"},
    {"secondary_separator", FLAG_TEXT, FIELD(secondary_separator), "S",
     "binds tags into one unit for shuffle and dropout, then becomes caption_separator (default off)"},
    {"shuffle_caption", FLAG_SWITCH, FIELD(shuffle_caption), "",
     "shuffle the tags that are not fixed"},
    {"caption_tag_dropout_rate", FLAG_REAL, FIELD(caption_tag_dropout_rate), "F",
     "drop each tag that is not fixed with probability F (default 0)"},
    {"caption_dropout_rate", FLAG_REAL, FIELD(caption_dropout_rate), "F",
     "replace the whole caption by \"\" with probability F (default 0)"},
    {"caption_dropout_every_n_epochs", FLAG_INT, FIELD(caption_dropout_every_n_epochs), "N",
     "every caption is \"\" in epochs N, 2N, 3N, ... (default 0 = off)"},
    {"caption_prefix", FLAG_TEXT, FIELD(caption_prefix), "S",
     "put S and a space before the caption; its tags count towards keep_tokens (default none)"},
    {"caption_suffix", FLAG_TEXT, FIELD(caption_suffix), "S",
     "put a space and S after the caption (default none)"},
    {"enable_wildcard", FLAG_SWITCH, FIELD(enable_wildcard), "",
     "{a|b} picks one of a, b; {{ and }} are literal braces; a multi-line caption uses one random line"},
    {"token_warmup_min", FLAG_INT, FIELD(token_warmup_min), "N",
     "how many tags that are not fixed are used at step 0 of the warm-up (default 1)"},
    {"token_warmup_step", FLAG_REAL, FIELD(token_warmup_step), "F",
     "step from which all tags are used; below 1, a fraction of max_train_steps (default 0 = off)"},
};

enum { N_FLAGS = sizeof flags / sizeof flags[0] };

/* The flag that `arg` names, with *inline_value pointing after a '=' (NULL when there is none). */
static const caption_flag *flag_find(const char *arg, const char **inline_value)
{
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t k = 0; k < N_FLAGS; k++) {
        if (cli_name_matches(flags[k].name, name, n)) {
            *inline_value = eq ? eq + 1 : NULL;
            return &flags[k];
        }
    }
    return NULL;
}

/* strtol/strtod skip leading blanks; a value that starts with one is a typo, not a number. */
static bool number_text_ok(const char *s)
{
    return *s && !isspace((unsigned char)*s);
}

static int int_parse(const caption_flag *f, const char *s, int *out, tg_error *err)
{
    char *end = NULL;
    long v = 0;
    errno = 0;
    if (number_text_ok(s))
        v = strtol(s, &end, 10);
    if (!end || *end || errno || v < INT_MIN || v > INT_MAX)
        return error_set(err, "--%s needs a whole number, got \"%s\"", f->name, s);
    *out = (int)v;
    return 0;
}

static int real_parse(const caption_flag *f, const char *s, double *out, tg_error *err)
{
    char *end = NULL;
    double v = 0;
    if (number_text_ok(s))
        v = strtod(s, &end);
    if (!end || *end || !isfinite(v))
        return error_set(err, "--%s needs a number, got \"%s\"", f->name, s);
    *out = v;
    return 0;
}

static int flag_store(const caption_flag *f, const char *value, pipeline_opts *o, tg_error *err)
{
    char *field = (char *)o + f->offset;
    switch (f->kind) {
    case FLAG_INT:
        return int_parse(f, value, (int *)field, err);
    case FLAG_REAL:
        return real_parse(f, value, (double *)field, err);
    case FLAG_TEXT:
        *(const char **)field = value;
        return 0;
    case FLAG_SWITCH:
        *(bool *)field = true;
        return 0;
    }
    return 0;
}

int caption_flags_parse(int *i, int argc, char **argv, pipeline_opts *o, tg_error *err)
{
    const char *value = NULL;
    const caption_flag *f = flag_find(argv[*i], &value);
    if (!f)
        return 0;
    int used = 1;
    if (f->kind == FLAG_SWITCH && value)
        return error_set(err, "--%s takes no value, got \"%s\"", f->name, value);
    if (f->kind != FLAG_SWITCH && !value) {
        if (*i + 1 >= argc)
            return error_set(err, "--%s needs a value (%s)", f->name, f->value);
        value = argv[*i + 1];
        used = 2;
        /* argparse would not take an option for a value either; --opt=VALUE still can */
        if (strncmp(value, "--", 2) == 0)
            return error_set(err, "--%s needs a value, got the option \"%s\" (write --%s=%s to "
                             "pass it as the value)", f->name, value, f->name, value);
    }
    if (flag_store(f, value, o, err) < 0)
        return -1;
    *i += used;
    return 1;
}

/* "--name VALUE" as the help shows it. */
static int label_len(const caption_flag *f)
{
    return (int)(2 + strlen(f->name) + (*f->value ? 1 + strlen(f->value) : 0));
}

/* Prints text from column `col` on, wrapped before column HELP_COLUMNS, continuation lines
 * starting at column `indent`. */
enum { HELP_COLUMNS = 100 };

static void help_wrap(FILE *out, const char *text, int col, int indent)
{
    bool line_start = true;
    while (*text) {
        int w = (int)strcspn(text, " ");
        if (!line_start && col + 1 + w > HELP_COLUMNS) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
            line_start = true;
        }
        if (!line_start) {
            fputc(' ', out);
            col++;
        }
        fwrite(text, 1, (size_t)w, out);
        col += w;
        line_start = false;
        text += w;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

void caption_flags_help(FILE *out)
{
    int width = 0;
    for (size_t k = 0; k < N_FLAGS; k++)
        if (label_len(&flags[k]) > width)
            width = label_len(&flags[k]);
    for (size_t k = 0; k < N_FLAGS; k++) {
        const caption_flag *f = &flags[k];
        fprintf(out, "  --%s%s%s%*s  ", f->name, *f->value ? " " : "", f->value,
                width - label_len(f), "");
        help_wrap(out, f->help, width + 4, width + 4);
    }
}

/* The caption options form (caption_form.h). */
#include "tui/caption_form.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const form_field caption_fields[] = {
    {"keep_tokens", FIELD_INT, "leading tags never shuffled or dropped (e.g. the trigger word)"},
    {"keep_tokens_separator", FIELD_TEXT, "tags before this mark in a caption are kept, e.g. |||"},
    {"shuffle_caption", FIELD_BOOL, "shuffle the tags after the kept ones at every step"},
    {"caption_tag_dropout_rate", FIELD_RATE, "chance that each non-kept tag is left out"},
    {"caption_dropout_rate", FIELD_RATE, "chance that the whole caption is left out"},
    {"caption_dropout_every_n_epochs", FIELD_INT, "leave out every caption on every N-th epoch"},
    {"caption_prefix", FIELD_TEXT, "text put before every caption"},
    {"caption_suffix", FIELD_TEXT, "text put after every caption"},
    {"caption_separator", FIELD_TEXT, "what splits a caption into tags (default ,)"},
    {"secondary_separator", FIELD_TEXT, "joins tags that move and drop as one, e.g. ;;;"},
    {"enable_wildcard", FIELD_BOOL, "{a|b} picks one; several lines: one line per step"},
    {"token_warmup_min", FIELD_INT, "tags shown at the start of token warm-up"},
    {"token_warmup_step", FIELD_RATE, "steps until all tags show (<1: share of training; 0 off)"},
};
const int n_caption_fields = sizeof caption_fields / sizeof caption_fields[0];

/* Which owned string backs a text field, and the option pointer it feeds. */
static const char **text_slot(caption_form *f, int field, int *k)
{
    switch (field) {
    case 1: *k = 0; return &f->o.keep_tokens_separator;
    case 6: *k = 3; return &f->o.caption_prefix;
    case 7: *k = 4; return &f->o.caption_suffix;
    case 8: *k = 1; return &f->o.caption_separator;
    case 9: *k = 2; return &f->o.secondary_separator;
    default: return NULL;
    }
}

static void text_set(caption_form *f, int field, const char *s)
{
    int k = 0;
    const char **slot = text_slot(f, field, &k);
    free(f->text[k]);
    f->text[k] = s && *s ? strdup(s) : NULL;
    *slot = f->text[k];
    if (field == 8 && !*slot) /* an unset caption_separator is "," */
        *slot = ",";
}

void caption_form_init(caption_form *f, const pipeline_opts *from)
{
    memset(f, 0, sizeof *f);
    f->o = *from;
    const char *src[] = {from->keep_tokens_separator, from->caption_separator,
                         from->secondary_separator, from->caption_prefix, from->caption_suffix};
    const int fields[] = {1, 8, 9, 6, 7};
    for (int k = 0; k < 5; k++)
        text_set(f, fields[k], src[k]);
}

void caption_form_free(caption_form *f)
{
    for (int k = 0; k < 5; k++)
        free(f->text[k]);
    memset(f, 0, sizeof *f);
}

static int *int_slot(caption_form *f, int field)
{
    return field == 0 ? &f->o.keep_tokens : field == 5 ? &f->o.caption_dropout_every_n_epochs
         : field == 11 ? &f->o.token_warmup_min : NULL;
}

static double *rate_slot(caption_form *f, int field)
{
    return field == 3 ? &f->o.caption_tag_dropout_rate : field == 4 ? &f->o.caption_dropout_rate
         : field == 12 ? &f->o.token_warmup_step : NULL;
}

static bool *bool_slot(caption_form *f, int field)
{
    return field == 2 ? &f->o.shuffle_caption : field == 10 ? &f->o.enable_wildcard : NULL;
}

void caption_form_value(const caption_form *f, int field, char *out, int size)
{
    caption_form *m = (caption_form *)f; /* the slot lookups only read here */
    int k = 0;
    switch (caption_fields[field].kind) {
    case FIELD_INT: snprintf(out, size, "%d", *int_slot(m, field)); break;
    case FIELD_RATE: snprintf(out, size, "%g", *rate_slot(m, field)); break;
    case FIELD_BOOL: snprintf(out, size, "%s", *bool_slot(m, field) ? "true" : "false"); break;
    case FIELD_TEXT: {
        const char *s = *text_slot(m, field, &k);
        snprintf(out, size, "%s", s ? s : "");
        break;
    }
    }
}

/* Validates the whole option set after a change; undoes the change when it is refused. */
static int form_check(caption_form *f, const pipeline_opts *before, tg_error *err)
{
    if (pipeline_opts_validate(&f->o, err) == 0)
        return 0;
    f->o = *before;
    return -1;
}

int form_number_parse(const char *key, const char *text, bool integer, double *v, tg_error *err)
{
    char *end;
    errno = 0;
    *v = strtod(text, &end);
    while (*end == ' ')
        end++;
    if (end == text || *end || errno || !isfinite(*v) || (integer && *v != floor(*v)))
        return error_set(err, "%s: \"%s\" is not %s", key, text, integer ? "a whole number" : "a number");
    return 0;
}

int caption_form_set(caption_form *f, int field, const char *text, tg_error *err)
{
    const form_field *fd = &caption_fields[field];
    pipeline_opts before = f->o;
    double v;
    switch (fd->kind) {
    case FIELD_INT:
        if (form_number_parse(fd->key, text, true, &v, err) < 0)
            return -1;
        if (v < 0 || v > 1e6)
            return error_set(err, "%s: must be between 0 and 1000000, not %s", fd->key, text);
        *int_slot(f, field) = (int)v;
        break;
    case FIELD_RATE:
        if (form_number_parse(fd->key, text, false, &v, err) < 0)
            return -1;
        *rate_slot(f, field) = v;
        break;
    case FIELD_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes"))
            *bool_slot(f, field) = true;
        else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no"))
            *bool_slot(f, field) = false;
        else
            return error_set(err, "%s: true or false, not \"%s\"", fd->key, text);
        break;
    case FIELD_TEXT:
        text_set(f, field, text);
        break;
    }
    return form_check(f, &before, err);
}

int caption_form_step(caption_form *f, int field, int dir)
{
    pipeline_opts before = f->o;
    switch (caption_fields[field].kind) {
    case FIELD_INT: {
        int *p = int_slot(f, field);
        if (*p + dir < 0)
            return 0;
        *p += dir;
        break;
    }
    case FIELD_RATE: {
        double *p = rate_slot(f, field);
        double v = round((*p + 0.05 * dir) * 100) / 100;
        *p = v < 0 ? 0 : v;
        if (field != 12 && *p > 1)
            *p = 1;
        break;
    }
    case FIELD_BOOL:
        *bool_slot(f, field) = !*bool_slot(f, field);
        break;
    case FIELD_TEXT:
        return 0;
    }
    tg_error err;
    return form_check(f, &before, &err) == 0 ? 1 : 0;
}

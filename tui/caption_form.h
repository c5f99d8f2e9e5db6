/* The caption options as an editable form: each field names its kohya key, its kind and how to
 * step it, so the Captions screen can list, change and validate them uniformly. */
#ifndef TUI_CAPTION_FORM_H
#define TUI_CAPTION_FORM_H
#include <stdbool.h>

#include "tagger/pipeline.h"

typedef enum field_kind { FIELD_INT, FIELD_RATE, FIELD_BOOL, FIELD_TEXT } field_kind;

typedef struct form_field {
    const char *key;     /* kohya's option name */
    field_kind kind;
    const char *help;    /* one line, shown under the form */
} form_field;

extern const form_field caption_fields[];
extern const int n_caption_fields;

/* The options with owned strings, so fields can be edited in place. */
typedef struct caption_form {
    pipeline_opts o;
    char *text[5];       /* keep_tokens_separator, caption_separator, secondary_separator,
                            caption_prefix, caption_suffix */
} caption_form;

void caption_form_init(caption_form *f, const pipeline_opts *from);
void caption_form_free(caption_form *f);
/* "1", "0.10", "true", "|||", "" ... */
void caption_form_value(const caption_form *f, int field, char *out, int size);
/* Sets a field from text; a value that does not parse or is out of range is refused with err
 * naming the key. */
int caption_form_set(caption_form *f, int field, const char *text, tg_error *err);
/* text as a number (integer: a whole one) for key; err names the key and says what is wrong. Also
 * used by the Train screen's form. */
int form_number_parse(const char *key, const char *text, bool integer, double *v, tg_error *err);
/* +1 / -1 steps: integers by 1, rates by 0.05, booleans toggle; text fields do nothing (0). */
int caption_form_step(caption_form *f, int field, int dir);

#endif

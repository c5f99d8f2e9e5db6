/* The caption-pipeline options on a command line, spelled as kohya sd-scripts spells them
 * (`--keep_tokens 2`, `--shuffle_caption`, ...). `--opt=value` and dashes (`--keep-tokens`) are
 * accepted too. Every command that takes them parses them here and prints the same help. */
#ifndef TUI_CAPTION_FLAGS_H
#define TUI_CAPTION_FLAGS_H
#include <stdio.h>

#include "tagger/error.h"
#include "tagger/pipeline.h"

/* Looks at argv[*i]. Returns 1 when it is a caption option: its value is stored in *o and *i is
 * moved past everything it used (the option and, for `--opt VALUE`, the value). Returns 0 when
 * argv[*i] is not a caption option (nothing changes). Returns -1 when it is one with a missing or
 * malformed value; err names the option and the value. String values point into argv. Ranges
 * (a rate above 1, ...) are pipeline_opts_validate's business, after all options are read. */
int caption_flags_parse(int *i, int argc, char **argv, pipeline_opts *o, tg_error *err);

/* Prints one line per option (name, value, default, meaning), indented two spaces. */
void caption_flags_help(FILE *out);

#endif

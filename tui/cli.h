/* What the headless commands share: opening a dataset with a clear error, terminal-safe text,
 * and the common options. */
#ifndef TUI_CLI_H
#define TUI_CLI_H
#include <stdbool.h>
#include <stdio.h>

#include "tagger/dataset.h"

/* Opens dir; on failure prints "tagbench CMD: reason" and returns NULL. */
dataset *cli_open(const char *cmd, const char *dir, const char *caption_ext);

/* Writes s with every control character, C1 control and invalid UTF-8 byte shown as a visible
 * escape (\n, \t, \x1b, ...), so text from files can never drive the terminal. */
void cli_put(FILE *out, const char *s);
void cli_put_n(FILE *out, const char *s, size_t n);

/* Option helpers: true when argv[*i] is `name` (then *val is its value, taken from `--name=v`
 * or the next argument, and *i advanced). On a missing value prints a usage error and sets
 * *bad. */
bool cli_opt(const char *cmd, int *i, int argc, char **argv, const char *name, const char **val,
             bool *bad);
bool cli_flag(const char *arg, const char *name);
/* `given` (n bytes) names option `name` when equal with '-' read as '_' (kohya spells options
 * with '_', people type '-'). */
bool cli_name_matches(const char *name, const char *given, size_t n);
/* --caption_extension / --caption-ext */
bool cli_caption_ext(const char *cmd, int *i, int argc, char **argv, const char **ext, bool *bad);

/* Prints "tagbench CMD: msg" to stderr, msg made terminal-safe. */
void cli_error(const char *cmd, const char *msg);
/* A one-line progress display on stderr, drawn only when stderr is a terminal (ctx: a label). */
void cli_progress(void *label, size_t done, size_t total);
/* Prints a usage error (terminal-safe) and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/* Dataset lint (`tagbench check`): everything about a dataset that would surprise its user at
 * training time or in another tool. Each finding has a stable code (for scripts), a severity, the
 * file, and a message that says what kohya sd-scripts or the editors would do with it. */
#ifndef TAGGER_LINT_H
#define TAGGER_LINT_H
#include <stdbool.h>
#include <stddef.h>

#include "tagger/dataset.h"

typedef enum lint_severity { LINT_INFO, LINT_WARNING, LINT_ERROR } lint_severity;

typedef struct lint_finding {
    lint_severity severity;
    const char *code; /* e.g. "empty-caption" (static string) */
    char *path;       /* relative to the dataset root; "." for the dataset itself */
    char *message;
} lint_finding;

typedef struct lint_report {
    lint_finding *f;
    size_t n;
    size_t count[3]; /* by severity */
} lint_report;

typedef struct lint_opts {
    bool decode; /* decode every image fully (finds truncated data; slow) instead of headers only */
    /* called now and then while images are checked (the slow part), for a progress display */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} lint_opts;

/* Runs every check; returns 0, or -1 on an error that stopped it (out of memory). */
int dataset_lint(dataset *ds, const lint_opts *o, lint_report *rep, tg_error *err);
void lint_report_free(lint_report *rep);
const char *lint_severity_name(lint_severity s);

#endif

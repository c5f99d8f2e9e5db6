/* What `tagbench train` shows of a run on stderr: the run's events folded into a progress line
 * (step/total, epoch, loss and its smoothed value, lr, it/s, ETA), event lines (logs,
 * checkpoints, samples), notes, and the closing result line.
 *
 * On a terminal the progress line is redrawn in place, at most 10 times a second (a run can
 * publish thousands of steps a second; the terminal should not be the bottleneck), and every
 * other line is printed above it. In a log it becomes a plain line every --log-every steps, or by
 * default every 10 steps but at most one each 2 s, so that a log of a long run stays readable.
 * Every text that came from a file or the run (paths, messages) goes through cli_put. */
#ifndef TUI_TRAIN_PROGRESS_H
#define TUI_TRAIN_PROGRESS_H
#include <stdint.h>
#include <stdio.h>

#include "trainer/run_events.h"

typedef enum train_view {
    TRAIN_VIEW_BAR,   /* a terminal: one line redrawn in place, the rest above it */
    TRAIN_VIEW_LINES, /* not a terminal: step lines now and then, every other event */
    TRAIN_VIEW_QUIET, /* warnings, errors, notes and the result only */
    TRAIN_VIEW_NONE,  /* notes and the result only (--json: the events go to stdout) */
} train_view;

typedef struct train_progress train_progress;

/* log_every: with TRAIN_VIEW_LINES, a step line every that many steps (0: the default cadence).
 * Writes to out (stderr). NULL when out of memory. */
train_progress *train_progress_new(train_view view, int64_t log_every, FILE *out);
/* Clears the progress line. NULL is fine. */
void train_progress_free(train_progress *p);

/* Folds one event in and prints what it calls for. FINISHED and FAILED print nothing here:
 * train_progress_result does. */
void train_progress_event(train_progress *p, const run_event *ev);
/* A line "tagbench train: TEXT" above the progress line, in every view (printf-style; the text
 * is made terminal-safe as a whole). */
void train_progress_note(train_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The closing line for the run's last event (FINISHED or FAILED; NULL: the run ended without
 * one), naming the run folder. */
void train_progress_result(train_progress *p, const run_event *last, const char *run_dir);

/* Milliseconds until the progress line wants a redraw (for poll); -1: none wanted. */
int train_progress_timeout_ms(const train_progress *p);
/* Redraws the progress line when a redraw is due. */
void train_progress_tick(train_progress *p);

#endif

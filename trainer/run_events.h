/* What a training run reports, and the two roads it takes (docs/run_events.md):
 *
 *  - the channel: the run thread pushes events, a consumer (the workbench's poll loop) pops them.
 *    The producer never waits for a slow consumer: the ring is bounded for STEP events, which
 *    are merged when it is full, while every other event is always kept, in order.
 *    run_chan_fd is a pipe end to add to poll(): readable while events are pending.
 *  - events.jsonl: every event, one JSON object per line, appended to the run folder and flushed
 *    per line (synced on checkpoint, finish and failure), so that a crashed run leaves a readable
 *    log; run_events_read reads one back (a torn last line is skipped and counted).
 *
 * The channel is thread-safe for one producer and one consumer (more of either also work; order
 * is then the order of the pushes). Nothing here prints. */
#ifndef TRAINER_RUN_EVENTS_H
#define TRAINER_RUN_EVENTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"

typedef enum run_event_kind {
    RUN_EV_STEP,               /* an optimizer step was taken */
    RUN_EV_LOG,                /* a line for the event log */
    RUN_EV_SAMPLE_WRITTEN,     /* a sample image was saved */
    RUN_EV_CHECKPOINT_WRITTEN, /* a checkpoint was saved */
    RUN_EV_PAUSED,             /* the run thread stopped at a step boundary on request */
    RUN_EV_RESUMED,            /* ... and goes on */
    RUN_EV_FINISHED,           /* the last event of a run that ended well */
    RUN_EV_FAILED,             /* the last event of a run that ended in an error */
    RUN_EV_KIND_COUNT
} run_event_kind;

typedef enum run_log_level { RUN_LOG_INFO, RUN_LOG_WARN, RUN_LOG_ERROR } run_log_level;

typedef enum run_finish_reason {
    RUN_FINISH_COMPLETED, /* reached max_train_steps / max_train_epochs */
    RUN_FINISH_STOPPED    /* stopped on request (after saving) */
} run_finish_reason;

/* One event. Strings are malloc'd and owned by the event (run_event_clear frees them); an event
 * given to run_chan_push or run_events_append is only read (its strings are copied). */
typedef struct run_event {
    run_event_kind kind;
    double time; /* seconds since the Unix epoch; 0 on a push: stamped with the current time */
    union {
        struct {
            int64_t step;   /* steps done, counted from 1 */
            int epoch;      /* counted from 1 */
            double loss, lr, grad_norm, samples_per_s;
            int64_t mem_bytes;
            int64_t total_steps; /* the run's max_train_steps (for progress and ETA) */
            int total_epochs;    /* epochs the run will take */
            /* Channel only (never in events.jsonl): how many earlier STEP events were merged into
             * this one because the consumer fell behind. This event's values are the newest. */
            uint32_t skipped;
        } step;
        struct {
            run_log_level level;
            char *text;
        } log;
        struct {
            int64_t step;
            char *path;
            int prompt; /* index into the run's sample prompts, from 0 */
        } sample;
        struct {
            int64_t step;
            int epoch;
            char *path;
        } checkpoint;
        struct {
            run_finish_reason reason;
        } finished;
        struct {
            char *message;
        } failed;
    };
} run_event;

/* Frees the event's strings and zeroes it. */
void run_event_clear(run_event *ev);
/* *dst = a deep copy of src; -1 when out of memory (dst is then zeroed). */
int run_event_copy(run_event *dst, const run_event *src);

/* "step", "log", "sample", "checkpoint", "paused", "resumed", "finished", "failed": the names used
 * in events.jsonl. */
const char *run_event_kind_name(run_event_kind kind);
const char *run_log_level_name(run_log_level level); /* "info", "warn", "error" */
const char *run_finish_reason_name(run_finish_reason r); /* "completed", "stopped" */

/* ---- the channel ---- */

typedef struct run_chan run_chan;

#define RUN_CHAN_DEFAULT_CAPACITY 1024

/* A channel holding up to `capacity` pending events before STEP events merge (0: the default).
 * NULL with err set when out of memory or out of file descriptors. */
run_chan *run_chan_new(size_t capacity, tg_error *err);
/* Frees the pending events too. No thread may be using the channel. */
void run_chan_free(run_chan *ch);

/* Adds a copy of ev (time stamped when 0). Never waits for the consumer: only for the lock,
 * which the consumer holds for a copy of what it pops. When capacity or more events are pending:
 * a STEP replaces a STEP that is the newest pending event (its `skipped` grows), any other event
 * is appended (the ring grows). -1 only when out of memory (the event is then lost). */
int run_chan_push(run_chan *ch, const run_event *ev, tg_error *err);

/* Moves up to max pending events, oldest first, into out (the caller then owns their strings:
 * run_event_clear each). Returns how many. While events remain pending the fd stays readable;
 * when none remain it is drained. Pop until it returns less than max to take everything. */
size_t run_chan_pop(run_chan *ch, run_event *out, size_t max);

/* The read end of the wake pipe, for poll() (POLLIN): readable while events are pending. Only
 * run_chan_pop reads it; never read or close it yourself. */
int run_chan_fd(const run_chan *ch);

typedef struct run_chan_stats {
    uint64_t pushed;        /* events pushed */
    uint64_t steps_merged;  /* STEP events merged into a newer one */
    size_t pending;         /* events pending now */
    size_t max_pending;     /* the most ever pending at once */
} run_chan_stats;
void run_chan_get_stats(run_chan *ch, run_chan_stats *st);

/* ---- events.jsonl ---- */

typedef struct run_events_writer {
    int fd;     /* -1: closed */
    char *path; /* malloc'd */
} run_events_writer;

/* Opens path for appending (created if missing; a resumed run appends to its log). */
int run_events_open(run_events_writer *w, const char *path, tg_error *err);
/* Appends ev as one line, in one write(2); fsync(2) after CHECKPOINT_WRITTEN, FINISHED and
 * FAILED. A STEP's non-finite numbers are written as null. */
int run_events_append(run_events_writer *w, const run_event *ev, tg_error *err);
/* Closes (a closed or zeroed-then-fd=-1 writer is fine). */
void run_events_close(run_events_writer *w);

/* One event as a JSON object's text, without a newline; malloc'd, NULL when out of memory. */
char *run_event_to_json(const run_event *ev);
/* Parses one line; -1 with err set when it is not a JSON object of a known event. A null number
 * reads as NaN. */
int run_event_from_json(const char *line, run_event *ev, tg_error *err);

/* Calls fn for each event of the events.jsonl at path, in file order; the event is cleared after
 * fn returns (copy what you keep). Lines that do not parse (a line torn by a crash, an event of a
 * later version) are skipped and counted in *n_bad (may be NULL). fn returning non-zero stops the
 * read and is returned. -1 with err set when the file cannot be read. */
int run_events_read(const char *path, int (*fn)(const run_event *ev, void *user), void *user,
                    size_t *n_bad, tg_error *err);

#endif

/* Run events: the channel between the run thread and its consumer, and events.jsonl.
 *
 * The channel is a ring of events under one mutex. `capacity` is a soft bound: at or above it a
 * STEP merges into the newest pending event when that is a STEP, and is appended otherwise (so
 * the newest step always reaches the consumer); every other kind is always appended, growing the
 * ring. Pending events therefore never exceed capacity + 2 x (non-STEP events pending).
 * The wake pipe carries at most one byte: the push that finds no wake pending writes it
 * (non-blocking; EAGAIN cannot happen with one byte but would mean a wake is there already), and
 * the pop that empties the ring reads it back. */
#include "trainer/run_events.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- events ---- */

static const char *const kind_names[RUN_EV_KIND_COUNT] = {
    [RUN_EV_STEP] = "step", [RUN_EV_LOG] = "log", [RUN_EV_SAMPLE_WRITTEN] = "sample",
    [RUN_EV_CHECKPOINT_WRITTEN] = "checkpoint", [RUN_EV_PAUSED] = "paused",
    [RUN_EV_RESUMED] = "resumed", [RUN_EV_FINISHED] = "finished", [RUN_EV_FAILED] = "failed",
};
static const char *const level_names[] = {"info", "warn", "error"};
static const char *const reason_names[] = {"completed", "stopped"};

const char *run_event_kind_name(run_event_kind kind)
{
    return (unsigned)kind < RUN_EV_KIND_COUNT ? kind_names[kind] : "?";
}

const char *run_log_level_name(run_log_level level)
{
    return (unsigned)level <= RUN_LOG_ERROR ? level_names[level] : "?";
}

const char *run_finish_reason_name(run_finish_reason r)
{
    return (unsigned)r <= RUN_FINISH_STOPPED ? reason_names[r] : "?";
}

/* The event's one string field, or NULL for kinds without one. */
static char **event_string(run_event *ev)
{
    switch (ev->kind) {
    case RUN_EV_LOG: return &ev->log.text;
    case RUN_EV_SAMPLE_WRITTEN: return &ev->sample.path;
    case RUN_EV_CHECKPOINT_WRITTEN: return &ev->checkpoint.path;
    case RUN_EV_FAILED: return &ev->failed.message;
    default: return NULL;
    }
}

void run_event_clear(run_event *ev)
{
    char **s = event_string(ev);
    if (s)
        free(*s);
    memset(ev, 0, sizeof *ev);
}

int run_event_copy(run_event *dst, const run_event *src)
{
    *dst = *src;
    char **s = event_string(dst);
    if (s && *s && !(*s = strdup(*s))) {
        memset(dst, 0, sizeof *dst);
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the channel ---- */

struct run_chan {
    pthread_mutex_t lock;
    run_event *ring;
    size_t size, head, count; /* slots, oldest, pending */
    size_t capacity;          /* soft bound, see the top of the file */
    bool wake_pending;        /* a byte is in the pipe */
    int rfd, wfd;
    run_chan_stats st;
};

run_chan *run_chan_new(size_t capacity, tg_error *err)
{
    run_chan *ch = calloc(1, sizeof *ch);
    if (!ch) {
        error_set(err, "out of memory");
        return NULL;
    }
    ch->capacity = capacity ? capacity : RUN_CHAN_DEFAULT_CAPACITY;
    ch->size = ch->capacity;
    ch->ring = calloc(ch->size, sizeof *ch->ring);
    if (!ch->ring) {
        free(ch);
        error_set(err, "out of memory");
        return NULL;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        error_set(err, "cannot create the run's event pipe: %s", strerror(errno));
        free(ch->ring);
        free(ch);
        return NULL;
    }
    ch->rfd = fds[0];
    ch->wfd = fds[1];
    pthread_mutex_init(&ch->lock, NULL);
    return ch;
}

void run_chan_free(run_chan *ch)
{
    if (!ch)
        return;
    for (size_t i = 0; i < ch->count; i++)
        run_event_clear(&ch->ring[(ch->head + i) % ch->size]);
    free(ch->ring);
    close(ch->rfd);
    close(ch->wfd);
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

int run_chan_fd(const run_chan *ch)
{
    return ch->rfd;
}

/* Doubles the ring, oldest event first at slot 0. Called with the lock held. */
static int ring_grow(run_chan *ch)
{
    size_t size = ch->size * 2;
    run_event *ring = malloc(size * sizeof *ring);
    if (!ring)
        return -1;
    for (size_t i = 0; i < ch->count; i++)
        ring[i] = ch->ring[(ch->head + i) % ch->size];
    free(ch->ring);
    ch->ring = ring;
    ch->size = size;
    ch->head = 0;
    return 0;
}

static void wake(run_chan *ch)
{
    if (ch->wake_pending)
        return;
    char b = 1;
    ssize_t w;
    do
        w = write(ch->wfd, &b, 1);
    while (w < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full, so it is readable; a wake is pending either way. */
    ch->wake_pending = true;
}

int run_chan_push(run_chan *ch, const run_event *ev, tg_error *err)
{
    run_event copy;
    if (run_event_copy(&copy, ev) < 0)
        return error_set(err, "out of memory (a %s event was lost)", run_event_kind_name(ev->kind));
    if (copy.time == 0)
        copy.time = now_s();
    if (copy.kind == RUN_EV_STEP)
        copy.step.skipped = 0;
    pthread_mutex_lock(&ch->lock);
    ch->st.pushed++;
    if (copy.kind == RUN_EV_STEP && ch->count >= ch->capacity) {
        run_event *tail = &ch->ring[(ch->head + ch->count - 1) % ch->size];
        if (tail->kind == RUN_EV_STEP) {
            copy.step.skipped = tail->step.skipped + 1;
            *tail = copy; /* a STEP owns no strings */
            ch->st.steps_merged++;
            wake(ch);
            pthread_mutex_unlock(&ch->lock);
            return 0;
        }
    }
    if (ch->count == ch->size && ring_grow(ch) < 0) {
        pthread_mutex_unlock(&ch->lock);
        run_event_clear(&copy);
        return error_set(err, "out of memory (a %s event was lost)", run_event_kind_name(ev->kind));
    }
    ch->ring[(ch->head + ch->count) % ch->size] = copy;
    ch->count++;
    if (ch->count > ch->st.max_pending)
        ch->st.max_pending = ch->count;
    wake(ch);
    pthread_mutex_unlock(&ch->lock);
    return 0;
}

size_t run_chan_pop(run_chan *ch, run_event *out, size_t max)
{
    pthread_mutex_lock(&ch->lock);
    size_t n = ch->count < max ? ch->count : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = ch->ring[ch->head];
        ch->head = (ch->head + 1) % ch->size;
    }
    ch->count -= n;
    if (ch->count == 0) {
        ch->head = 0;
        if (ch->wake_pending) {
            char buf[64];
            ssize_t r;
            do
                r = read(ch->rfd, buf, sizeof buf);
            while (r > 0 || (r < 0 && errno == EINTR));
            ch->wake_pending = false;
        }
    }
    pthread_mutex_unlock(&ch->lock);
    return n;
}

void run_chan_get_stats(run_chan *ch, run_chan_stats *st)
{
    pthread_mutex_lock(&ch->lock);
    *st = ch->st;
    st->pending = ch->count;
    pthread_mutex_unlock(&ch->lock);
}

/* ---- events.jsonl ---- */

/* cJSON prints 15 digits when they read back as nearly equal; these are written exactly: the
 * shortest of %.15g, %.16g, %.17g that reads back as the same double, null when not finite. */
static bool add_number(cJSON *o, const char *key, double v)
{
    if (!isfinite(v))
        return cJSON_AddNullToObject(o, key) != NULL;
    char buf[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return cJSON_AddRawToObject(o, key, buf) != NULL;
}

static bool add_int(cJSON *o, const char *key, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return cJSON_AddRawToObject(o, key, buf) != NULL;
}

char *run_event_to_json(const run_event *ev)
{
    if ((unsigned)ev->kind >= RUN_EV_KIND_COUNT)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "event", kind_names[ev->kind]) &&
              add_number(o, "time", ev->time);
    switch (ok ? ev->kind : RUN_EV_KIND_COUNT) {
    case RUN_EV_STEP:
        ok = add_int(o, "step", ev->step.step) && add_int(o, "epoch", ev->step.epoch) &&
             add_number(o, "loss", ev->step.loss) && add_number(o, "lr", ev->step.lr) &&
             add_number(o, "grad_norm", ev->step.grad_norm) &&
             add_number(o, "samples_per_s", ev->step.samples_per_s) &&
             add_int(o, "mem_bytes", ev->step.mem_bytes) &&
             add_int(o, "total_steps", ev->step.total_steps) &&
             add_int(o, "total_epochs", ev->step.total_epochs);
        break;
    case RUN_EV_LOG:
        ok = cJSON_AddStringToObject(o, "level", run_log_level_name(ev->log.level)) &&
             cJSON_AddStringToObject(o, "text", ev->log.text ? ev->log.text : "");
        break;
    case RUN_EV_SAMPLE_WRITTEN:
        ok = add_int(o, "step", ev->sample.step) &&
             cJSON_AddStringToObject(o, "path", ev->sample.path ? ev->sample.path : "") &&
             add_int(o, "prompt", ev->sample.prompt);
        break;
    case RUN_EV_CHECKPOINT_WRITTEN:
        ok = add_int(o, "step", ev->checkpoint.step) &&
             add_int(o, "epoch", ev->checkpoint.epoch) &&
             cJSON_AddStringToObject(o, "path", ev->checkpoint.path ? ev->checkpoint.path : "");
        break;
    case RUN_EV_FINISHED:
        ok = cJSON_AddStringToObject(o, "reason", run_finish_reason_name(ev->finished.reason));
        break;
    case RUN_EV_FAILED:
        ok = cJSON_AddStringToObject(o, "message", ev->failed.message ? ev->failed.message : "");
        break;
    default:
        break;
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* Reads a number member: a JSON number, or null as NaN. */
static int get_number(const cJSON *o, const char *key, double *v, tg_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(it))
        *v = it->valuedouble;
    else if (cJSON_IsNull(it))
        *v = NAN;
    else
        return error_set(err, "%s: missing or not a number", key);
    return 0;
}

static int get_int64(const cJSON *o, const char *key, int64_t *v, tg_error *err)
{
    double d;
    if (get_number(o, key, &d, err) < 0)
        return -1;
    if (!(d >= -9.2e18 && d <= 9.2e18) || d != floor(d))
        return error_set(err, "%s: not an integer", key);
    *v = (int64_t)d;
    return 0;
}

static int get_int(const cJSON *o, const char *key, int *v, tg_error *err)
{
    int64_t w;
    if (get_int64(o, key, &w, err) < 0)
        return -1;
    if (w < -2147483647 || w > 2147483647)
        return error_set(err, "%s: out of range", key);
    *v = (int)w;
    return 0;
}

/* A copy of a string member; -1 when missing, not a string, or out of memory. */
static int get_string(const cJSON *o, const char *key, char **v, tg_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(it))
        return error_set(err, "%s: missing or not a string", key);
    if (!(*v = strdup(it->valuestring)))
        return error_set(err, "out of memory");
    return 0;
}

/* The index of a string member among names; -1 when it is none of them. */
/* Keys added after the first logs were written: absent reads as 0. */
static int get_int64_opt(const cJSON *o, const char *key, int64_t *v, tg_error *err)
{
    *v = 0;
    return cJSON_GetObjectItemCaseSensitive(o, key) ? get_int64(o, key, v, err) : 0;
}

static int get_int_opt(const cJSON *o, const char *key, int *v, tg_error *err)
{
    *v = 0;
    return cJSON_GetObjectItemCaseSensitive(o, key) ? get_int(o, key, v, err) : 0;
}

static int get_enum(const cJSON *o, const char *key, const char *const *names, int n, tg_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    for (int i = 0; cJSON_IsString(it) && i < n; i++)
        if (strcmp(it->valuestring, names[i]) == 0)
            return i;
    return error_set(err, "%s: missing or not a known value", key);
}

static int event_fields(const cJSON *o, run_event *ev, tg_error *err)
{
    int v;
    switch (ev->kind) {
    case RUN_EV_STEP:
        return get_int64(o, "step", &ev->step.step, err) < 0 || get_int(o, "epoch", &ev->step.epoch, err) < 0 ||
               get_number(o, "loss", &ev->step.loss, err) < 0 || get_number(o, "lr", &ev->step.lr, err) < 0 ||
               get_number(o, "grad_norm", &ev->step.grad_norm, err) < 0 ||
               get_number(o, "samples_per_s", &ev->step.samples_per_s, err) < 0 ||
               get_int64(o, "mem_bytes", &ev->step.mem_bytes, err) < 0 ||
               get_int64_opt(o, "total_steps", &ev->step.total_steps, err) < 0 ||
               get_int_opt(o, "total_epochs", &ev->step.total_epochs, err) < 0 ? -1 : 0;
    case RUN_EV_LOG:
        if ((v = get_enum(o, "level", level_names, 3, err)) < 0)
            return -1;
        ev->log.level = (run_log_level)v;
        return get_string(o, "text", &ev->log.text, err);
    case RUN_EV_SAMPLE_WRITTEN:
        return get_int64(o, "step", &ev->sample.step, err) < 0 || get_int(o, "prompt", &ev->sample.prompt, err) < 0 ||
               get_string(o, "path", &ev->sample.path, err) < 0 ? -1 : 0;
    case RUN_EV_CHECKPOINT_WRITTEN:
        return get_int64(o, "step", &ev->checkpoint.step, err) < 0 ||
               get_int(o, "epoch", &ev->checkpoint.epoch, err) < 0 ||
               get_string(o, "path", &ev->checkpoint.path, err) < 0 ? -1 : 0;
    case RUN_EV_FINISHED:
        if ((v = get_enum(o, "reason", reason_names, 2, err)) < 0)
            return -1;
        ev->finished.reason = (run_finish_reason)v;
        return 0;
    case RUN_EV_FAILED:
        return get_string(o, "message", &ev->failed.message, err);
    default:
        return 0;
    }
}

int run_event_from_json(const char *line, run_event *ev, tg_error *err)
{
    memset(ev, 0, sizeof *ev);
    cJSON *o = cJSON_Parse(line);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return error_set(err, "not a JSON object");
    }
    int kind = get_enum(o, "event", kind_names, RUN_EV_KIND_COUNT, err);
    int rc = kind < 0 ? -1 : 0;
    if (rc == 0) {
        ev->kind = (run_event_kind)kind;
        rc = get_number(o, "time", &ev->time, err) < 0 || event_fields(o, ev, err) < 0 ? -1 : 0;
    }
    cJSON_Delete(o);
    if (rc < 0)
        run_event_clear(ev);
    return rc;
}

int run_events_open(run_events_writer *w, const char *path, tg_error *err)
{
    w->fd = -1;
    if (!(w->path = strdup(path)))
        return error_set(err, "out of memory");
    w->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        error_set(err, "%s: cannot open the event log: %s", path, strerror(errno));
        free(w->path);
        w->path = NULL;
        return -1;
    }
    /* A line torn by a crash gets its end, so that the next line is whole. */
    off_t end = lseek(w->fd, 0, SEEK_END);
    char last = '\n';
    if (end > 0 && pread(w->fd, &last, 1, end - 1) < 0)
        last = '\n';
    if (last != '\n' && write(w->fd, "\n", 1) != 1) {
        error_set(err, "%s: cannot write: %s", path, strerror(errno));
        run_events_close(w);
        return -1;
    }
    return 0;
}

int run_events_append(run_events_writer *w, const run_event *ev, tg_error *err)
{
    if (w->fd < 0)
        return error_set(err, "the event log is not open");
    char *text = run_event_to_json(ev);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    if (!line) {
        free(text);
        return error_set(err, "%s: out of memory", w->path);
    }
    line[len++] = '\n';
    line[len] = '\0';
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(w->fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(line);
            return error_set(err, "%s: cannot write: %s", w->path, strerror(errno));
        }
        off += (size_t)n;
    }
    free(line);
    bool sync = ev->kind == RUN_EV_CHECKPOINT_WRITTEN || ev->kind == RUN_EV_FINISHED ||
                ev->kind == RUN_EV_FAILED;
    if (sync && fsync(w->fd) < 0)
        return error_set(err, "%s: cannot sync: %s", w->path, strerror(errno));
    return 0;
}

void run_events_close(run_events_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->path);
    w->path = NULL;
}

int run_events_read(const char *path, int (*fn)(const run_event *ev, void *user), void *user,
                    size_t *n_bad, tg_error *err)
{
    if (n_bad)
        *n_bad = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        run_event ev;
        if (run_event_from_json(line, &ev, NULL) < 0) {
            if (n_bad)
                ++*n_bad;
            continue;
        }
        rc = fn(&ev, user);
        run_event_clear(&ev);
    }
    if (rc == 0 && ferror(f))
        rc = error_set(err, "%s: cannot read: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

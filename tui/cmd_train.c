/* `tagbench train CONFIG [options]`: a training run without a screen (docs/commands.md, "train").
 * The same engine as the workbench's Run screen (trainer/train_run.h); this file loads and checks
 * the config, applies the command line's overrides, and watches the run: a poll loop over the
 * run's event channel and the Ctrl-C self-pipe (train_signals.h), feeding train_progress.h for
 * stderr and, with --json, stdout. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/run_config.h"
#include "trainer/train_run.h"
#include "tui/cli.h"
#include "tui/commands.h"
#include "tui/train_progress.h"
#include "tui/train_signals.h"

#define CMD "train"

typedef struct train_args {
    const char *config;
    const char *device;      /* NULL: train_run.h's default (cpu) */
    long threads;            /* 0: every core */
    long log_every;          /* 0: the default cadence */
    bool json, quiet, help;
    /* Overrides of config keys, as typed (NULL: as in the file). */
    const char *max_train_steps, *max_train_epochs, *save_every_n_steps, *seed;
    const char *output_dir, *output_name, *resume;
} train_args;

typedef enum arg_kind { ARG_TEXT, ARG_LONG, ARG_SWITCH } arg_kind;

typedef struct train_flag {
    const char *name;  /* as kohya spells it; '-' for '_' is accepted (cli_name_matches) */
    arg_kind kind;
    size_t offset;     /* in train_args */
    long min, max;     /* ARG_LONG */
    const char *value; /* the value's name in the help */
    const char *help;
} train_flag;

#define ARG(f) offsetof(train_args, f)

static const train_flag train_flags[] = {
    {"device", ARG_TEXT, ARG(device), 0, 0, "cpu|cuda|auto", "where the run computes (default cpu; --backend too)"},
    {"backend", ARG_TEXT, ARG(device), 0, 0, NULL, NULL},
    {"threads", ARG_LONG, ARG(threads), 1, 4096, "N", "compute threads (default: every core)"},
    {"json", ARG_SWITCH, ARG(json), 0, 0, "", "every event as one JSON line on stdout (as in events.jsonl)"},
    {"quiet", ARG_SWITCH, ARG(quiet), 0, 0, "", "no progress and no info lines: warnings, errors, the result"},
    {"log_every", ARG_LONG, ARG(log_every), 1, LONG_MAX, "N",
     "not on a terminal: a step line every N steps (default: every\n"
     "10 steps, at most one each 2 s)"},
    {"max_train_steps", ARG_TEXT, ARG(max_train_steps), 0, 0, "N",
     "override the config (also unsets max_train_epochs)"},
    {"max_train_epochs", ARG_TEXT, ARG(max_train_epochs), 0, 0, "N", "override the config"},
    {"save_every_n_steps", ARG_TEXT, ARG(save_every_n_steps), 0, 0, "N", "override the config"},
    {"seed", ARG_TEXT, ARG(seed), 0, 0, "N", "override the config"},
    {"output_dir", ARG_TEXT, ARG(output_dir), 0, 0, "DIR", "override the config: the run folder"},
    {"output_name", ARG_TEXT, ARG(output_name), 0, 0, "NAME", "override the config: checkpoint names"},
    {"resume", ARG_TEXT, ARG(resume), 0, 0, "DIR", "override the config: continue from a saved state"},
    {"help", ARG_SWITCH, ARG(help), 0, 0, "", "show this help"},
};

enum { N_TRAIN_FLAGS = sizeof train_flags / sizeof train_flags[0] };

static void train_help(void)
{
    fputs("usage: tagbench train CONFIG [options]\n"
          "\n"
          "Runs the training run that CONFIG describes (a JSON file with kohya sd-scripts' key names,\n"
          "docs/run_config.md; a kohya_ss GUI config works, and the keys it ignores are listed).\n"
          "Relative paths in CONFIG are taken from CONFIG's folder, those on the command line from\n"
          "the current one. The run writes its folder (output_dir, else\n"
          "TRAIN_DATA_DIR/.tagbench/runs/DATE-TIME): config.json, events.jsonl, checkpoints, samples/.\n"
          "\n"
          "On a terminal, a progress line (step, epoch, loss and its moving average, lr, it/s, ETA)\n"
          "with logs, checkpoints and samples printed above it; otherwise plain lines. All of it on\n"
          "stderr; stdout carries the events with --json, nothing otherwise.\n"
          "\n",
          stdout);
    for (size_t k = 0; k < N_TRAIN_FLAGS; k++) {
        const train_flag *f = &train_flags[k];
        if (!f->help)
            continue;
        char label[64];
        snprintf(label, sizeof label, "--%s%s%s", f->name, *f->value ? " " : "", f->value);
        printf("  %-26s ", label);
        for (const char *s = f->help; *s; s++) /* continuation lines line up under the first */
            *s == '\n' ? fputs("\n                             ", stdout) : putchar(*s);
        putchar('\n');
    }
    fputs("\n"
          "Ctrl-C (or SIGTERM) stops after the current step and saves a checkpoint first; Ctrl-C\n"
          "twice more aborts at once without saving.\n"
          "Exit status: 0 completed; 1 failed (a config, file or data error, a NaN loss: the message\n"
          "names the key or file and the reason); 2 usage error; 130 stopped by Ctrl-C (143 by\n"
          "SIGTERM, 141 when the reader of --json went away) after saving a checkpoint, or aborted\n"
          "by the third Ctrl-C. Docs: docs/commands.md\n",
          stdout);
}

static const train_flag *flag_find(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    if (strcmp(arg, "-h") == 0)
        return &train_flags[N_TRAIN_FLAGS - 1];
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t k = 0; k < N_TRAIN_FLAGS; k++)
        if (cli_name_matches(train_flags[k].name, name, n)) {
            *inline_value = eq ? eq + 1 : NULL;
            return &train_flags[k];
        }
    return NULL;
}

/* A whole number in [lo, hi]; signs other than a leading '-' for negative bounds are refused. */
static bool long_parse(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi || *s == '+' || *s == ' ')
        return false;
    *out = v;
    return true;
}

/* One option at argv[*i] (and its value); EXIT_OK or EXIT_USAGE (after printing why). */
static int flag_take(int *i, int argc, char **argv, train_args *a)
{
    const char *value;
    const train_flag *f = flag_find(argv[*i], &value);
    if (!f)
        return cli_usage_error(CMD, "unknown option %s", argv[*i]);
    void *field = (char *)a + f->offset;
    if (f->kind == ARG_SWITCH) {
        if (value)
            return cli_usage_error(CMD, "--%s takes no value", f->name);
        *(bool *)field = true;
        return EXIT_OK;
    }
    if (!value) {
        if (*i + 1 >= argc)
            return cli_usage_error(CMD, "--%s needs a value", f->name);
        value = argv[++*i];
    }
    if (f->kind == ARG_TEXT)
        *(const char **)field = value;
    else if (!long_parse(value, f->min, f->max, (long *)field) && f->max == LONG_MAX)
        return cli_usage_error(CMD, "--%s takes a whole number >= %ld, not \"%s\"", f->name, f->min, value);
    else if (!long_parse(value, f->min, f->max, (long *)field))
        return cli_usage_error(CMD, "--%s takes a whole number from %ld to %ld, not \"%s\"", f->name,
                               f->min, f->max, value);
    return EXIT_OK;
}

static int args_parse(int argc, char **argv, train_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        int rc;
        if (argv[i][0] == '-' && argv[i][1])
            rc = flag_take(&i, argc, argv, a);
        else if (a->config)
            rc = cli_usage_error(CMD, "one CONFIG at most, got \"%s\" and \"%s\"", a->config, argv[i]);
        else
            a->config = argv[i], rc = EXIT_OK;
        if (rc != EXIT_OK)
            return rc;
    }
    if (a->help)
        return EXIT_OK;
    if (!a->config)
        return cli_usage_error(CMD, "give a run config file: tagbench train CONFIG");
    if (a->device && strcmp(a->device, "cpu") && strcmp(a->device, "cuda") && strcmp(a->device, "auto"))
        return cli_usage_error(CMD, "--device takes cpu, cuda or auto, not \"%s\"", a->device);
    if (a->json && a->quiet)
        return cli_usage_error(CMD, "--json and --quiet do not go together");
    return EXIT_OK;
}

/* ---- the config ---- */

/* A path typed on the command line is relative to the current folder, while train_start takes
 * relative paths from the config's folder: so it is made absolute here. */
static int path_override(char **field, const char *path)
{
    if (path[0] == '/' || !*path)
        return run_config_string_set(field, path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    char *abs = NULL;
    if (asprintf(&abs, "%s/%s", cwd, path) < 0)
        return -1;
    int rc = run_config_string_set(field, abs);
    free(abs);
    return rc;
}

static int int_override(const char *opt, const char *v, int *field)
{
    long n;
    if (!long_parse(v, INT_MIN, INT_MAX, &n))
        return cli_usage_error(CMD, "--%s takes a whole number, not \"%s\"", opt, v);
    *field = (int)n;
    return EXIT_OK;
}

static int overrides_apply(const train_args *a, run_config *c)
{
    if (a->max_train_steps) {
        if (int_override("max_train_steps", a->max_train_steps, &c->max_train_steps) != EXIT_OK)
            return EXIT_USAGE;
        c->max_train_epochs = 0; /* kohya: epochs win over steps, which would hide the override */
    }
    if ((a->max_train_epochs && int_override("max_train_epochs", a->max_train_epochs, &c->max_train_epochs)) ||
        (a->save_every_n_steps && int_override("save_every_n_steps", a->save_every_n_steps, &c->save_every_n_steps)))
        return EXIT_USAGE;
    if (a->seed) {
        long n;
        if (!long_parse(a->seed, 0, UINT32_MAX, &n))
            return cli_usage_error(CMD, "--seed takes a whole number from 0 to 4294967295, not \"%s\"", a->seed);
        c->seed = (uint32_t)n, c->has_seed = true;
    }
    if ((a->output_dir && path_override(&c->output_dir, a->output_dir) < 0) ||
        (a->resume && path_override(&c->resume, a->resume) < 0) ||
        (a->output_name && run_config_string_set(&c->output_name, a->output_name) < 0)) {
        cli_error(CMD, "out of memory");
        return EXIT_FAIL;
    }
    tg_error err = {{0}};
    if (run_config_validate(c, &err) < 0) /* the file passed: the command line is at fault */
        return cli_usage_error(CMD, "%s", err.msg);
    return EXIT_OK;
}

/* The run's complaints about keys name the key; this names the file too. */
static int config_error(const char *config, const tg_error *err)
{
    char msg[PATH_MAX + sizeof err->msg + 8];
    snprintf(msg, sizeof msg, "%s: %s", config, err->msg);
    cli_error(CMD, msg);
    return EXIT_FAIL;
}

/* Loads, overrides and checks the config; EXIT_OK or the exit status (after saying why). */
static int config_prepare(const train_args *a, run_config *c, train_progress *p)
{
    struct stat st;
    int stat_rc = stat(a->config, &st);
    if (stat_rc < 0 || !S_ISREG(st.st_mode)) {
        char msg[PATH_MAX + 128];
        snprintf(msg, sizeof msg, "%s: %s", a->config,
                 stat_rc < 0 ? strerror(errno) : "not a file; give the run config (JSON)");
        cli_error(CMD, msg);
        return EXIT_FAIL;
    }
    tg_error err = {{0}};
    if (run_config_load(a->config, c, &err) < 0) {
        cli_error(CMD, err.msg);
        return EXIT_FAIL;
    }
    char *ignored = run_config_ignored_text(c);
    if (ignored && *ignored)
        train_progress_note(p, "%s: %s", a->config, ignored);
    free(ignored);
    int rc = overrides_apply(a, c);
    if (rc != EXIT_OK)
        return rc;
    if (run_config_validate_run(c, &err) < 0)
        return config_error(a->config, &err);
    return EXIT_OK;
}

/* ---- watching the run ---- */

typedef struct train_watch {
    run_thread *thread;
    train_progress *progress;
    bool json;
    int stop_signal;   /* the signal that asked the run to stop; 0: none */
    int interrupts;    /* Ctrl-Cs seen */
    run_event last;    /* FINISHED or FAILED once it arrived (kind RUN_EV_KIND_COUNT before) */
} train_watch;

/* The run saves, then ends; sig decides the exit status (128 + sig, the shell's convention). */
static void stop_ask(train_watch *w, int sig, const char *why)
{
    w->stop_signal = sig;
    run_request_stop(w->thread);
    train_progress_note(w->progress, "%s: stopping after this step, saving a checkpoint first%s", why,
                        sig == SIGINT ? " (Ctrl-C twice more aborts without saving)" : "");
}

static void signal_handle(train_watch *w, int sig)
{
    if (sig == SIGINT)
        w->interrupts++;
    if (!w->stop_signal)
        stop_ask(w, sig, sig == SIGINT ? "Ctrl-C" : "SIGTERM");
    else if (sig == SIGINT)
        train_progress_note(w->progress, "stopping: saving a checkpoint, Ctrl-C %s to abort without saving",
                            w->interrupts >= 2 ? "again" : "twice more");
}

/* With --json, a reader that went away (`| head`) is like a SIGPIPE, except that the run saves
 * first instead of dying mid-step (SIGPIPE is ignored while the run goes: train_signals.h). */
static void json_print(train_watch *w, const run_event *ev)
{
    char *line = run_event_to_json(ev);
    if (!line)
        return;
    bool ok = fputs(line, stdout) != EOF && fputc('\n', stdout) != EOF &&
              fflush(stdout) != EOF; /* a consumer reads each event as it happens */
    free(line);
    if (ok)
        return;
    w->json = false;
    if (!w->stop_signal)
        stop_ask(w, SIGPIPE, "stdout is closed");
}

static void event_show(train_watch *w, const run_event *ev)
{
    if (w->json)
        json_print(w, ev);
    train_progress_event(w->progress, ev);
    if (ev->kind == RUN_EV_FINISHED || ev->kind == RUN_EV_FAILED) {
        run_event_clear(&w->last);
        run_event_copy(&w->last, ev);
    }
}

/* Pops every pending event; true once the run's last one arrived. */
static bool events_drain(train_watch *w)
{
    run_chan *ch = run_thread_chan(w->thread);
    run_event ev[64];
    size_t n;
    do {
        n = run_chan_pop(ch, ev, 64);
        for (size_t k = 0; k < n; k++) {
            event_show(w, &ev[k]);
            run_event_clear(&ev[k]);
        }
    } while (n == 64);
    return w->last.kind == RUN_EV_FINISHED || w->last.kind == RUN_EV_FAILED;
}

/* Until the run's last event: events, signals, redraws. -1 when poll itself fails. */
static int watch_loop(train_watch *w)
{
    struct pollfd pfd[2] = {{run_chan_fd(run_thread_chan(w->thread)), POLLIN, 0},
                            {train_signals_fd(), POLLIN, 0}};
    for (;;) {
        int r = poll(pfd, 2, train_progress_timeout_ms(w->progress));
        if (r < 0 && errno != EINTR)
            return -1;
        for (int sig; (sig = train_signals_take()) != 0;)
            signal_handle(w, sig);
        if (events_drain(w))
            return 0;
        train_progress_tick(w->progress);
    }
}

static int exit_status(const train_watch *w)
{
    if (w->last.kind == RUN_EV_FAILED)
        return EXIT_FAIL;
    if (w->last.kind != RUN_EV_FINISHED)
        return EXIT_FAIL;
    if (w->last.finished.reason == RUN_FINISH_STOPPED && w->stop_signal)
        return 128 + w->stop_signal; /* the shell's convention for "ended by this signal" */
    return EXIT_OK;
}

static int train_watch_run(const train_args *a, const run_config *c, train_progress *p)
{
    char *base = strdup(a->config);
    if (!base) {
        cli_error(CMD, "out of memory");
        return EXIT_FAIL;
    }
    train_launch l = {.cfg = c, .base_dir = dirname(base), .backend = a->device, .threads = (int)a->threads};
    train_watch w = {.progress = p, .json = a->json, .last = {.kind = RUN_EV_KIND_COUNT}};
    char *run_dir = NULL;
    tg_error err = {{0}};
    int rc = train_start(&l, &w.thread, &run_dir, &err);
    free(base);
    if (rc < 0)
        return config_error(a->config, &err);
    train_progress_note(p, "run folder %s", run_dir);
    if (watch_loop(&w) < 0) {
        train_progress_note(p, "cannot wait for the run: %s; stopping it", strerror(errno));
        run_request_stop(w.thread);
    }
    run_thread_join(w.thread, &err);
    run_thread_free(w.thread);
    train_progress_result(p, w.last.kind == RUN_EV_KIND_COUNT ? NULL : &w.last, run_dir);
    rc = exit_status(&w);
    run_event_clear(&w.last);
    free(run_dir);
    return rc;
}

static train_view view_pick(const train_args *a)
{
    if (a->json)
        return TRAIN_VIEW_NONE;
    if (a->quiet)
        return TRAIN_VIEW_QUIET;
    return isatty(STDERR_FILENO) ? TRAIN_VIEW_BAR : TRAIN_VIEW_LINES;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    int rc = args_parse(argc, argv, &a);
    if (rc != EXIT_OK || a.help) {
        if (a.help)
            train_help();
        return rc;
    }
    train_progress *p = train_progress_new(view_pick(&a), a.log_every, stderr);
    tg_error err = {{0}};
    if (!p || train_signals_install(&err) < 0) {
        cli_error(CMD, p ? err.msg : "out of memory");
        train_progress_free(p);
        return EXIT_FAIL;
    }
    run_config c;
    memset(&c, 0, sizeof c); /* freed below also when config_prepare fails before loading it */
    rc = config_prepare(&a, &c, p);
    if (rc == EXIT_OK)
        rc = train_watch_run(&a, &c, p);
    run_config_free(&c);
    train_signals_restore();
    train_progress_free(p);
    return rc;
}

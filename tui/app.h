/* The full-screen workbench: the state every screen shares. One app per process; the loop in
 * app_loop.c reads keys, dispatches them through the key table (keymap.c) and redraws. Screens
 * (screen.h) draw into stdscr; image previews are a separate layer (preview.h) written after
 * ncurses has updated the screen. */
#ifndef TUI_APP_H
#define TUI_APP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/bucket.h"
#include "tagger/dataset.h"
#include "tagger/edit.h"
#include "tagger/filter.h"
#include "tui/term_caps.h"

typedef struct preview preview;
typedef struct completer completer;
typedef struct prompt prompt;
typedef struct text_overlay text_overlay;
typedef struct ask ask;
typedef struct run_config run_config;
typedef struct run_watch run_watch;

typedef enum screen_id {
    SCREEN_DATASET, SCREEN_TAGS, SCREEN_CAPTIONS, SCREEN_TRAIN, SCREEN_RUN, SCREEN_SAMPLES, SCREEN_COUNT
} screen_id;

typedef enum focus_id { FOCUS_FILES, FOCUS_TAGS } focus_id;

/* A scrolling list position: cursor and first visible row. */
typedef struct list_pos {
    size_t cur, top;
} list_pos;

typedef struct app_opts {
    const char *dir;
    const char *caption_ext;
    const char *tags_csv;   /* --tags-csv */
    const char *config;     /* --config; default DIR/.tagbench/run.json */
    int gfx;                /* -1 = detect, else a gfx_mode */
    bool mouse;
} app_opts;

typedef struct app {
    app_opts opts;
    dataset *ds;
    term_caps caps;
    preview *pv;
    completer *comp;
    run_config *cfg;
    char *config_path;
    bucket_list buckets;    /* for the image info line */

    screen_id screen;
    void *screen_state[SCREEN_COUNT];
    bool running;
    bool redraw;            /* something changed: draw before waiting again */
    bool too_small;         /* below 80x24: only a notice is drawn */

    /* The Dataset screen's view, shared with Tags (jump to images) */
    uint32_t *view;         /* item indices shown, in order (the filter result) */
    size_t n_view;
    char *filter_text;      /* NULL = all images */
    list_pos files, tags;   /* cursor in the file list and in the current image's tag list */
    focus_id focus;
    uint8_t *marked;        /* per item: part of the multi-selection */
    size_t n_marked;

    prompt *prompt;         /* the line being edited, or NULL */
    text_overlay *overlay;       /* help or a message list, or NULL */
    ask *ask;               /* a question waiting for one key, or NULL */

    char msg[512];          /* the status line */
    bool msg_error;

    /* The current image's caption as another program left it: checked once a second, so the
     * user learns of an outside change before saving over it is refused. */
    long disk_item;         /* the item disk_note is about, -1 = none */
    char disk_note[256];    /* "" when the file is still as read */

    long long wake_at;      /* monotonic ms at which the current screen's tick is due; 0 = none */
    run_watch *run;         /* the training run launched or viewed (run_watch.h), or NULL */
    long journal_pending;   /* captions an earlier session's journal holds (the start-up question) */
} app;

/* The status line: what just happened, or why something was refused. */
void app_say(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void app_error(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The item under the cursor of the file list, or -1 when the view is empty. */
long app_current_item(const app *a);
/* The images an edit applies to: the marked ones if any, else the current one. malloc'd. */
uint32_t *app_edit_targets(const app *a, size_t *n);
/* Applies ops as one undoable step and reports it on the status line. */
int app_apply(app *a, const edit_op *ops, size_t nops, const uint32_t *sel, size_t nsel,
              const char *label);
/* Shows only the images matching expr (NULL or "" = all); keeps the cursor on the same image
 * when it is still shown. Returns -1 (status line says why) on a bad expression. */
int app_set_filter(app *a, const char *expr);
/* Re-evaluates the filter after an edit (an image may stop matching). */
void app_refresh_view(app *a);
/* The once-a-second check of the current caption on disk; true when what it says changed. */
bool app_tick(app *a);
/* Asks for the current screen's tick hook to run in ms milliseconds (a later call replaces an
 * earlier one): work too slow for every key press waits until the keys pause. */
void app_wake_in(app *a, int ms);
long long app_now_ms(void);
/* Switches screen (calls the screen's enter hook). */
void app_show(app *a, screen_id s);
void app_save(app *a);

/* Opens the dataset, completion, run config and screens (no terminal yet); on failure prints
 * the reason to stderr and returns -1 (app_close still needed). The benchmark uses these two
 * with a headless ncurses terminal. */
int app_open(app *a, const app_opts *o);
void app_close(app *a);
/* Runs the workbench until the user quits; returns an exit status. */
int app_run(const app_opts *o);

#endif

/* The Captions screen: what training will see of the captions. On the left the caption options
 * (kohya's names), on the right seeded draws of the pipeline for the current image with the
 * kept tags highlighted, and below what the options imply for the whole dataset. Every change
 * is validated and saved to the run config at once. */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/pipeline_stats.h"
#include "tagger/rng.h"
#include "tui/caption_form.h"
#include "tui/captions_config.h"
#include "tui/draw.h"
#include "tui/keymap.h"
#include "tui/prompt.h"
#include "tui/screen.h"

#define DRAWS 6

typedef struct captions_state {
    caption_form form;
    int field;
    uint64_t seed;
    int epoch;
    pipeline_stats stats;
    bool stats_ok;
    bool stale;         /* options or captions changed; the figures follow when keys pause */
    char stats_err[1024];
} captions_state;

static captions_state *st(app *a)
{
    return a->screen_state[SCREEN_CAPTIONS];
}

/* The figures take tens of milliseconds on a big dataset: recomputed once the keys pause, so
 * holding + stays as fast as the terminal repeats it. */
#define STATS_DELAY_MS 120

static void stats_later(app *a, int ms)
{
    st(a)->stale = true;
    app_wake_in(a, ms);
}

static void stats_update(app *a)
{
    captions_state *s = st(a);
    tg_error err;
    s->stale = false;
    pipeline_stats_free(&s->stats);
    s->stats_ok = pipeline_stats_compute(a->ds, &s->form.o, &s->stats, &err) == 0;
    if (!s->stats_ok)
        snprintf(s->stats_err, sizeof s->stats_err, "%s", err.msg);
}

static void *captions_create(app *a)
{
    captions_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pipeline_opts o;
    captions_config_get(a, &o);
    caption_form_init(&s->form, &o);
    s->seed = 1;
    s->epoch = 1;
    return s;
}

static void captions_destroy(void *p)
{
    captions_state *s = p;
    if (!s)
        return;
    caption_form_free(&s->form);
    pipeline_stats_free(&s->stats);
    free(s);
}

static void captions_enter(app *a)
{
    /* The Train screen edits the same run config (and may load another): the form follows it. */
    captions_state *s = st(a);
    pipeline_opts o;
    captions_config_get(a, &o);
    caption_form_free(&s->form);
    caption_form_init(&s->form, &o);
    stats_later(a, 0); /* the captions may have been edited on another screen */
}

static void form_draw(app *a, int top, int w)
{
    captions_state *s = st(a);
    draw_text(top, 0, w, "Caption options (run config)", TH_TITLE);
    for (int f = 0; f < n_caption_fields; f++) {
        char v[256];
        caption_form_value(&s->form, f, v, sizeof v);
        theme_el el = f == s->field ? TH_CURSOR : TH_NORMAL;
        int y = top + 1 + f;
        draw_fill(y, 0, w, el);
        draw_text(y, 1, 31, caption_fields[f].key, el);
        draw_text(y, 32, w - 32, v, f == s->field ? el : TH_KEY);
    }
    int y = top + 2 + n_caption_fields;
    y += draw_wrapped(y, 1, w - 1, 2, caption_fields[s->field].help, TH_DIM);
    draw_text(y + 1, 1, w - 1, captions_config_path(a), TH_DIM);
}

/* One draw: the kept tags (the first `kept` of the ", "-joined result) highlighted. */
static void draw_line(int y, int x, int w, const char *text, size_t kept)
{
    const char *p = text;
    for (size_t k = 0; k < kept && p; k++) {
        p = strstr(p, ", ");
        if (p && k + 1 < kept)
            p += 2;
    }
    size_t split = p ? (size_t)(p - text) : strlen(text);
    int used = draw_text_n(y, x, w, text, split, TH_KEPT);
    draw_text(y, x + used, w - used, text + split, TH_NORMAL);
}

static void draws_draw(app *a, int top, int x, int w, int rows)
{
    captions_state *s = st(a);
    long cur = app_current_item(a);
    draw_textf(top, x, w, TH_TITLE, "Draws for the current image (epoch %d, seed %llu)", s->epoch,
               (unsigned long long)s->seed);
    if (cur < 0)
        return;
    size_t len;
    char *text = dataset_caption_text(a->ds, (size_t)cur, &len);
    char *cap = text ? pipeline_read_caption(text, len, s->form.o.enable_wildcard) : NULL;
    free(text);
    if (!cap)
        return;
    draw_text(top + 1, x, w, a->ds->items[cur].image, TH_DIM);
    draw_text(top + 2, x, w, *cap ? cap : "(empty caption)", TH_DIM);
    pipeline_when when = {s->epoch, 0, 0};
    for (int d = 0; d < DRAWS && d + 4 < rows; d++) {
        rng r;
        rng_seed(&r, s->seed * 1000003 + (uint64_t)d);
        size_t kept = 0;
        char *out = pipeline_process(cap, &s->form.o, &when, &r, &kept);
        if (out) {
            draw_textf(top + 3 + d, x, 3, TH_DIM, "%d ", d + 1);
            draw_line(top + 3 + d, x + 3, w - 3, *out ? out : "(dropped: empty caption)", kept);
        }
        free(out);
    }
    free(cap);
}

static void stats_draw(app *a, int top, int x, int w, int rows)
{
    captions_state *s = st(a);
    pipeline_stats *p = &s->stats;
    draw_text(top, x, w, s->stale ? "The whole dataset (updating...)" : "The whole dataset", TH_TITLE);
    if (!s->stats_ok) { /* not computed yet, or refused */
        if (!s->stale)
            draw_text(top + 1, x, w, s->stats_err, TH_ERROR);
        return;
    }
    int y = top + 1;
    draw_textf(y++, x, w, TH_NORMAL, "%zu captions: %.1f tags each, %.1f kept fixed",
               p->n_captions, p->tags_mean, p->fixed_mean);
    draw_textf(y++, x, w, TH_NORMAL, "a step sees %.1f tags, %.0f characters on average",
               p->expected_tags, p->expected_chars);
    if (p->dropout_epoch_share > 0)
        draw_textf(y++, x, w, TH_NORMAL, "every caption empty on %.0f%% of epochs",
                   100 * p->dropout_epoch_share);
    if (s->form.o.keep_tokens)
        draw_textf(y++, x, w, p->n_fewer_than_keep ? TH_ERROR : TH_NORMAL,
                   "%zu captions have fewer tags than keep_tokens=%d", p->n_fewer_than_keep,
                   s->form.o.keep_tokens);
    if (s->form.o.keep_tokens_separator && *s->form.o.keep_tokens_separator)
        draw_textf(y++, x, w, TH_NORMAL, "%zu captions hold the separator, %zu do not",
                   p->n_with_separator, p->n_without_separator);
    if (p->n_empty)
        draw_textf(y++, x, w, TH_ERROR, "%zu captions are empty", p->n_empty);
    if (!p->tags_processed)
        draw_text(y++, x, w, "no shuffle/dropout: captions used as written", TH_DIM);
    if (p->n_kept && y < top + rows)
        draw_text(y++, x, w, "kept fixed most often:", TH_TITLE);
    for (size_t k = 0; k < p->n_kept && y < top + rows; k++, y++) {
        draw_textf(y, x, 10, TH_DIM, "%7u  ", p->kept[k].count);
        draw_text(y, x + 9, w - 9, p->kept[k].tag, TH_KEPT);
    }
}

static void captions_draw(app *a, int top, int rows)
{
    int w = COLS * 2 / 5 < 50 ? 50 : COLS * 2 / 5;
    form_draw(a, top, w);
    int x = w + 1, rw = COLS - x - 1, draw_rows = 3 + DRAWS;
    draws_draw(a, top, x, rw, draw_rows + 1);
    stats_draw(a, top + draw_rows + 1, x, rw, rows - draw_rows - 1);
}

/* A changed option: redraw the draws, recompute the figures, save the config. */
static void changed(app *a)
{
    captions_state *s = st(a);
    stats_later(a, STATS_DELAY_MS);
    tg_error err;
    char v[256];
    caption_form_value(&s->form, s->field, v, sizeof v);
    if (captions_config_put(a, &s->form.o, &err) < 0)
        app_error(a, "not saved: %s", err.msg);
    else
        app_say(a, "%s = %s (saved)", caption_fields[s->field].key, v);
}

static void act_down(app *a) { st(a)->field = (st(a)->field + 1) % n_caption_fields; }
static void act_up(app *a) { st(a)->field = (st(a)->field + n_caption_fields - 1) % n_caption_fields; }

static void step(app *a, int dir)
{
    captions_state *s = st(a);
    if (caption_fields[s->field].kind == FIELD_TEXT) {
        app_error(a, "%s is text: Enter edits it", caption_fields[s->field].key);
        return;
    }
    if (caption_form_step(&s->form, s->field, dir))
        changed(a);
}

static void act_more(app *a) { step(a, 1); }
static void act_less(app *a) { step(a, -1); }

static void submit_value(app *a, const char *text, const char *arg)
{
    (void)arg;
    captions_state *s = st(a);
    tg_error err;
    if (caption_form_set(&s->form, s->field, text, &err) < 0)
        app_error(a, "%s", err.msg);
    else
        changed(a);
}

static void act_edit(app *a)
{
    captions_state *s = st(a);
    char v[256];
    caption_form_value(&s->form, s->field, v, sizeof v);
    prompt_open(a, caption_fields[s->field].key, v, NULL, false, submit_value);
}

static void act_reseed(app *a) { st(a)->seed++; }
static void act_epoch_next(app *a) { st(a)->epoch++; }
static void act_epoch_prev(app *a) { st(a)->epoch = st(a)->epoch > 1 ? st(a)->epoch - 1 : 1; }

static void image_step(app *a, int d)
{
    if (!a->n_view)
        return;
    long c = (long)a->files.cur + d;
    a->files.cur = c < 0 ? 0 : (size_t)c >= a->n_view ? a->n_view - 1 : (size_t)c;
}

static void act_image_next(app *a) { image_step(a, 1); }
static void act_image_prev(app *a) { image_step(a, -1); }

static const key_binding captions_keys[] = {
    {{KEY_FN(KEY_DOWN), 'j'}, act_down, "next option", NULL},
    {{KEY_FN(KEY_UP), 'k'}, act_up, "previous option", NULL},
    {{'+', KEY_FN(KEY_RIGHT), 'l'}, act_more, "increase the value (a switch toggles)", "More"},
    {{'-', KEY_FN(KEY_LEFT), 'h'}, act_less, "decrease the value", "Less"},
    {{'\r', '\n', KEY_FN(KEY_ENTER), 'e'}, act_edit, "type a value", "Edit"},
    {{' '}, act_more, "toggle a switch", NULL},
    {{'s'}, act_reseed, "new random draws (next seed)", "Reseed"},
    {{']'}, act_epoch_next, "next epoch (caption_dropout_every_n_epochs)", NULL},
    {{'['}, act_epoch_prev, "previous epoch", NULL},
    {{KEY_FN(KEY_NPAGE), 'n'}, act_image_next, "next image", "Next img"},
    {{KEY_FN(KEY_PPAGE), 'p'}, act_image_prev, "previous image", NULL},
    {{0}, NULL, NULL, NULL},
};

const screen_def screen_captions = {
    .name = "Captions",
    .create = captions_create,
    .destroy = captions_destroy,
    .enter = captions_enter,
    .tick = stats_update,
    .draw = captions_draw,
    .keys = captions_keys,
};

#include "tagger/private/history.h"

#include <stdlib.h>
#include <string.h>

typedef struct step {
    char *label;
    hist_change *changes;
    size_t n;
} step;

struct history {
    step *steps;
    size_t n, cap;
    size_t cursor; /* steps[0..cursor) are done; steps[cursor..n) can be redone */
};

history *history_new(void)
{
    return calloc(1, sizeof(history));
}

static void step_free(step *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->changes[i].before);
        free(s->changes[i].after);
    }
    free(s->changes);
    free(s->label);
}

void history_free(history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        step_free(&h->steps[i]);
    free(h->steps);
    free(h);
}

int history_push(history *h, const char *label, hist_change *changes, size_t n)
{
    while (h->n > h->cursor)
        step_free(&h->steps[--h->n]);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 32;
        step *s = realloc(h->steps, sizeof *s * cap);
        if (!s)
            return -1;
        h->steps = s;
        h->cap = cap;
    }
    size_t ll = strlen(label) + 1;
    char *copy = malloc(ll);
    if (!copy)
        return -1;
    memcpy(copy, label, ll);
    h->steps[h->n++] = (step){copy, changes, n};
    h->cursor = h->n;
    return 0;
}

const hist_change *history_undo(history *h, const char **label, size_t *n)
{
    if (h->cursor == 0)
        return NULL;
    step *s = &h->steps[--h->cursor];
    *label = s->label;
    *n = s->n;
    return s->changes;
}

const hist_change *history_redo(history *h, const char **label, size_t *n)
{
    if (h->cursor == h->n)
        return NULL;
    step *s = &h->steps[h->cursor++];
    *label = s->label;
    *n = s->n;
    return s->changes;
}

const char *history_peek_undo(const history *h)
{
    return h->cursor ? h->steps[h->cursor - 1].label : NULL;
}

const char *history_peek_redo(const history *h)
{
    return h->cursor < h->n ? h->steps[h->cursor].label : NULL;
}

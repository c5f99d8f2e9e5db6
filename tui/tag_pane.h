/* The tag list beside the preview on the Dataset screen: the current image's tags in caption
 * order, or, when images are marked, every tag of the marked images with how many of them carry
 * it (most common first), so a bulk edit can be aimed at a tag of the selection. */
#ifndef TUI_TAG_PANE_H
#define TUI_TAG_PANE_H
#include "tui/app.h"

typedef struct tag_pane {
    uint32_t *tags;    /* tag ids, in display order */
    uint32_t *counts;  /* marked mode: images of the selection carrying the tag */
    size_t n;
    bool marked_mode;
} tag_pane;

/* Fills p for the app's current state (previous content is freed). */
int tag_pane_build(const app *a, tag_pane *p);
void tag_pane_free(tag_pane *p);
/* The tag id under the tag cursor, or -1. */
long tag_pane_current(const app *a);

#endif

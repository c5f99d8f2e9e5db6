/* What the Dataset screen's drawing (screen_dataset.c) and its keys (dataset_keys.c) share. */
#ifndef TUI_DATASET_SCREEN_H
#define TUI_DATASET_SCREEN_H
#include "tui/app.h"
#include "tui/keymap.h"

typedef struct dataset_layout {
    int top, rows;             /* the screen's rows */
    int list_w;                /* file list: columns 0..list_w-1, a rule at list_w */
    int right_x, right_w;      /* preview, info line and tags */
    int preview_rows;          /* preview box: rows top..top+preview_rows-1 */
    int tags_top, tags_rows;   /* tag list rows */
} dataset_layout;

void dataset_layout_get(int top, int rows, dataset_layout *l);
void list_clamp(list_pos *p, size_t n, int rows);

extern const key_binding dataset_keys[];

#endif

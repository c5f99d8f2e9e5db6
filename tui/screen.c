/* The list of screens, in the order of their number keys. */
#include "tui/screen.h"

static const screen_def *const screens[SCREEN_COUNT] = {
    [SCREEN_DATASET] = &screen_dataset,
    [SCREEN_TAGS] = &screen_tags,
    [SCREEN_CAPTIONS] = &screen_captions,
    [SCREEN_TRAIN] = &screen_train,
    [SCREEN_RUN] = &screen_run,
    [SCREEN_SAMPLES] = &screen_samples,
};

const screen_def *screen_get(screen_id id)
{
    return screens[id];
}

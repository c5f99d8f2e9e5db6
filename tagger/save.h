/* Saving edited captions. Only captions whose tags differ from the file are written. Each is
 * written atomically (a temporary file in the same folder, synced, then renamed over the caption),
 * so a caption is always either the old or the new text, never half of one, even if the disk fills
 * or the process dies. A caption changed on disk since it was read, a read-only caption, or one
 * created meanwhile by someone else is not overwritten: it is reported and stays an unsaved edit
 * (and in the journal). */
#ifndef TAGGER_SAVE_H
#define TAGGER_SAVE_H
#include <stdbool.h>
#include <stddef.h>

#include "tagger/dataset.h"
#include "tagger/error.h"

typedef struct save_report {
    size_t written;   /* captions written */
    size_t conflicts; /* changed on disk since read: not overwritten */
    size_t failed;    /* could not be written (read-only, disk full, ...) */
    char **messages;  /* one line per conflict or failure, naming the file and the reason */
    size_t n_messages;
} save_report;

/* Returns 0 when every edited caption was written, 1 when some were not (see rep), -1 on an error
 * that stopped the save (err). */
int dataset_save(dataset *ds, save_report *rep, tg_error *err);
void save_report_free(save_report *rep);

/* Whether item i's caption on disk is still what was read: 0 yes, 1 no (changed, deleted, or
 * created by another program; why says which), -1 unreadable (why says why). A read-only caption
 * that is unchanged is 0: it is a save problem, not a change. */
int dataset_caption_check(const dataset *ds, size_t i, char *why, size_t wsize);

/* True for the name of a save's temporary file: `.CAPTION.tagbench-PID-N`. */
bool save_temp_name(const char *name);
/* Deletes the temporary files that interrupted saves left (found by the scan), except those of a
 * process still running. Returns the number deleted, or -1 with err. */
long dataset_remove_stale_temps(dataset *ds, tg_error *err);

#endif

/* The edit journal: DIR/.tagbench/journal.jsonl. While journaling is on, every step (edit, undo,
 * redo) appends, for each caption it touched, the caption's full new text and the hash of the file
 * it was based on, and syncs it to disk before the call returns. A save that writes everything
 * removes the journal; one that could not write some captions keeps their entries. So a killed
 * process or a dropped SSH session loses nothing: the next open finds the journal and offers to
 * replay it. */
#ifndef TAGGER_JOURNAL_H
#define TAGGER_JOURNAL_H
#include <stdbool.h>
#include <stddef.h>

#include "tagger/dataset.h"
#include "tagger/error.h"

/* Turns journaling on for this dataset (creating DIR/.tagbench/). Refuses, with a message, when a
 * journal from an earlier session is waiting to be replayed or discarded. */
int dataset_journal_start(dataset *ds, tg_error *err);

/* Number of captions with unsaved edits in a journal left by an earlier session (0: none). */
long dataset_journal_pending(const dataset *ds, tg_error *err);

typedef struct journal_report {
    size_t replayed;   /* captions whose edits were restored (now unsaved edits in the dataset) */
    size_t conflicts;  /* captions changed on disk since: their journaled text was written to
                        * CAPTION.tagbench-recovered beside them instead */
    size_t missing;    /* captions whose image is gone from the dataset: text written likewise */
    char **messages;   /* one line per conflict or missing caption */
    size_t n_messages;
} journal_report;

/* Replays a pending journal as one undoable step "recover", then starts journaling (the replayed
 * edits stay journaled until saved). With dry_run, only fills rep: nothing changes, on disk or in
 * the dataset. Refused once this session journals (replay comes before editing). */
int dataset_journal_replay(dataset *ds, journal_report *rep, bool dry_run, tg_error *err);
/* Deletes a pending journal (the edits in it are lost). */
int dataset_journal_discard(dataset *ds, tg_error *err);
void journal_report_free(journal_report *rep);

#endif

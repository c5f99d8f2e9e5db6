/* The journal as the edit and save code use it. */
#ifndef TAGGER_PRIVATE_JOURNAL_WRITE_H
#define TAGGER_PRIVATE_JOURNAL_WRITE_H
#include <stddef.h>
#include <stdint.h>

#include "tagger/dataset.h"

#define JOURNAL_DIR ".tagbench"
#define JOURNAL_FILE ".tagbench/journal.jsonl"
#define JOURNAL_COMPACT_BYTES (64L << 20)

/* Opens (creating) the journal for appending; no-op when open. */
int journal_open(dataset *ds, tg_error *err);
/* Appends the current text of items[0..n) and syncs. */
int journal_record(dataset *ds, const uint32_t *items, size_t n, tg_error *err);
/* After a save: rewrites the journal with the items still dirty, or removes it if none. */
int journal_compact(dataset *ds, tg_error *err);
void journal_close(journal *jr);

#endif

/* Ctrl-C and SIGTERM for `tagbench train`: the handlers only write the signal's number to a
 * self-pipe, which the command's poll loop watches next to the run's event channel, because the
 * run's requests (run_request_stop) are not async-signal-safe.
 *
 * The one exception is the third Ctrl-C: it means "get me out now", and the main thread may be
 * the thing that is stuck, so the handler itself prints a line and _exit()s with 130. */
#ifndef TUI_TRAIN_SIGNALS_H
#define TUI_TRAIN_SIGNALS_H

#include "tagger/error.h"

/* Installs the handlers for SIGINT and SIGTERM, and ignores SIGPIPE (a closed stdout is then a
 * write error the caller answers by stopping the run, which saves first). -1 with err set when the pipe cannot be made. */
int train_signals_install(tg_error *err);
/* The read end of the pipe, for poll() (POLLIN); -1 before install. */
int train_signals_fd(void);
/* The next signal caught (SIGINT or SIGTERM), or 0 when none is pending. Never blocks. */
int train_signals_take(void);
/* Puts the previous handlers back and closes the pipe. */
void train_signals_restore(void);

#endif

/* Errors in the tagger library: functions return a status and fill an error whose message names
 * the file and the reason; the caller decides how to show it (library code never prints). */
#ifndef TAGGER_ERROR_H
#define TAGGER_ERROR_H

typedef struct tg_error {
    char msg[1024];
} tg_error;

/* Sets the message (printf-style). A NULL err is allowed and ignored. Always returns -1 so that
 * `return error_set(err, ...)` reads naturally. */
int error_set(tg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

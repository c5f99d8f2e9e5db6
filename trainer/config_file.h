/* Reading a model config given as a built-in name or a JSON file, the same way for every model
 * family: an existing file at that path wins (so a file named `tiny` is still a file, which the
 * UNet's old rule missed for names without an extension), else the name must be one of the
 * family's built-ins. */
#ifndef TRAINER_CONFIG_FILE_H
#define TRAINER_CONFIG_FILE_H
#include <stdbool.h>

#include "tagger/error.h"

#define CONFIG_FILE_MAX (16u << 20) /* bytes: no config is near this; a bigger file is a mistake */

/* True when name_or_path should be read as a file: something exists at that path, or it holds a
 * '/' or '.' (a missing file then gets "cannot open", not "no built-in config"). */
bool config_is_file(const char *name_or_path);
/* The whole file as a NUL-terminated string (malloc'd), or NULL with err naming the path and the
 * reason (cannot open, too large, read error). what names the family in the "cannot open"
 * message, e.g. "VAE config: sd15, tiny". */
char *config_file_read(const char *path, const char *what, tg_error *err);

#endif

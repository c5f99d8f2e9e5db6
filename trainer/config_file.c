/* Model config files (config_file.h). */
#include "trainer/config_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool config_is_file(const char *name_or_path)
{
    struct stat st; /* a '/' or '.' cannot be in a built-in name: say the file is missing */
    return stat(name_or_path, &st) == 0 || strpbrk(name_or_path, "/.") != NULL;
}

char *config_file_read(const char *path, const char *what, tg_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_set(err, "%s: cannot open (%s; not a file, nor a built-in %s)", path, strerror(errno),
                  what);
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4097 > cap) {
            char *t = cap < CONFIG_FILE_MAX ? realloc(text, cap = cap ? 2 * cap : 8192) : NULL;
            if (!t) {
                error_set(err, "%s: too large for a config, or out of memory", path);
                break;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                error_set(err, "%s: read error", path);
                break;
            }
            text[len] = '\0';
            fclose(f);
            return text;
        }
    }
    fclose(f);
    free(text);
    return NULL;
}

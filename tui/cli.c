#include "tui/cli.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "tagger/caption.h"
#include "tui/commands.h"

dataset *cli_open(const char *cmd, const char *dir, const char *caption_ext)
{
    tg_error err;
    dataset_opts o = {caption_ext};
    dataset *ds = dataset_open(dir, &o, &err);
    if (!ds)
        cli_error(cmd, err.msg);
    return ds;
}

void cli_put_n(FILE *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len(str + i, n - i);
        bool c1 = len == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0; /* U+0080..U+009F */
        if (len == 1 && s[i] >= 0x20 && s[i] != 0x7f) {
            fputc(s[i], out);
        } else if (len > 1 && !c1) {
            fwrite(s + i, 1, len, out);
        } else if (len == 1 && (s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) {
            fprintf(out, "\\%c", s[i] == '\n' ? 'n' : s[i] == '\t' ? 't' : 'r');
        } else {
            for (size_t k = 0; k < (len ? len : 1); k++)
                fprintf(out, "\\x%02x", s[i + k]);
        }
        i += len ? len : 1;
    }
}

void cli_put(FILE *out, const char *s)
{
    cli_put_n(out, s, strlen(s));
}

bool cli_name_matches(const char *name, const char *given, size_t n)
{
    if (strlen(name) != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (name[k] != (given[k] == '-' ? '_' : given[k]))
            return false;
    return true;
}

bool cli_flag(const char *arg, const char *name)
{
    return strcmp(arg, name) == 0;
}

bool cli_opt(const char *cmd, int *i, int argc, char **argv, const char *name, const char **val,
             bool *bad)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0 || (argv[*i][n] != '\0' && argv[*i][n] != '='))
        return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
    } else if (*i + 1 < argc) {
        *val = argv[++*i];
    } else {
        cli_usage_error(cmd, "%s needs a value", name);
        *bad = true;
    }
    return true;
}

bool cli_caption_ext(const char *cmd, int *i, int argc, char **argv, const char **ext, bool *bad)
{
    return cli_opt(cmd, i, argc, argv, "--caption_extension", ext, bad) ||
           cli_opt(cmd, i, argc, argv, "--caption-extension", ext, bad);
}

void cli_progress(void *label, size_t done, size_t total)
{
    if (!isatty(STDERR_FILENO) || total == 0)
        return;
    fprintf(stderr, "\r%s: %zu/%zu (%zu%%)\033[K", (const char *)label, done, total, done * 100 / total);
    if (done == total)
        fputs("\r\033[K", stderr); /* leave the line clean for the results */
    fflush(stderr);
}

void cli_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "tagbench %s: ", cmd);
    cli_put(stderr, msg);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_error(cmd, msg);
    fprintf(stderr, "(see tagbench %s --help)\n", cmd);
    return EXIT_USAGE;
}

/* The `:` commands (cmdline.h). */
#include "tui/cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/actions.h"
#include "tui/edit_spec.h"
#include "tui/overlay.h"
#include "tui/run_watch.h"

int cmdline_split(char *buf, char **words, int max)
{
    int n = 0;
    char *r = buf, *w = buf;
    while (*r) {
        while (*r == ' ' || *r == '\t')
            r++;
        if (!*r)
            break;
        if (n == max)
            return n;
        words[n++] = w;
        char quote = 0;
        for (; *r && (quote || (*r != ' ' && *r != '\t')); r++) {
            if (quote && *r == quote)
                quote = 0;
            else if (!quote && (*r == '"' || *r == '\''))
                quote = *r;
            else if (*r == '\\' && quote != '\'' && r[1])
                *w++ = *++r;
            else
                *w++ = *r;
        }
        if (quote)
            return -1;
        if (*r)
            r++;
        *w++ = 0;
    }
    return n;
}

/* The images a `:` edit applies to. */
static uint32_t *cmd_targets(app *a, size_t *n, const char **scope)
{
    if (a->n_marked)
        *scope = "marked images";
    else if (a->filter_text)
        *scope = "filtered images";
    else
        *scope = "all images";
    if (a->n_marked)
        return app_edit_targets(a, n);
    uint32_t *sel = malloc(sizeof *sel * (a->n_view ? a->n_view : 1));
    if (sel)
        memcpy(sel, a->view, sizeof *sel * a->n_view);
    *n = a->n_view;
    return sel;
}

static void cmd_edit(app *a, const edit_spec *sp, char **w, int n)
{
    if (n - 1 < sp->nargs || (sp->kind != EDIT_SORT && n - 1 > sp->nargs)) {
        app_error(a, ":%s takes %s", sp->name, sp->nargs ? sp->args : "no argument");
        return;
    }
    int keep = 0;
    if (sp->kind == EDIT_SORT && n > 2) {
        if (n != 4 || strcmp(w[2], "--keep") || (keep = atoi(w[3])) < 0) {
            app_error(a, ":sort name|count [--keep N]");
            return;
        }
    }
    edit_op op;
    tg_error err;
    if (edit_op_init(&op, sp->kind, n > 1 ? w[1] : NULL, n > 2 ? w[2] : NULL, keep, &err) < 0) {
        app_error(a, ":%s: %s", sp->name, err.msg);
        edit_op_free(&op);
        return;
    }
    size_t nsel;
    const char *scope;
    uint32_t *sel = cmd_targets(a, &nsel, &scope);
    char label[128];
    snprintf(label, sizeof label, "%s (%s)", sp->name, scope);
    if (sel)
        app_apply(a, &op, 1, sel, nsel, label);
    free(sel);
    edit_op_free(&op);
}

/* Opens a run folder for the Run and Samples screens; without one, the dataset's newest run. */
static void cmd_run(app *a, const char *dir)
{
    char *latest = dir ? NULL : run_watch_latest_dir(a->opts.dir);
    if (!dir && !latest) {
        app_error(a, ":run: no runs under %s/.tagbench/runs yet (:run DIR opens another folder)",
                  a->opts.dir);
        return;
    }
    if (run_watch_view(a, dir ? dir : latest) == 0 && a->screen != SCREEN_SAMPLES)
        app_show(a, SCREEN_RUN);
    free(latest);
}

static void cmd_help(app *a)
{
    static const char *const fixed[] = {
        ":w                 save", ":q                 quit (asks when edits are unsaved)",
        ":wq  :x            save and quit", ":q!                quit; edits stay in the journal",
        ":filter EXPR       show matching images (no EXPR: all)",
        ":run [DIR]         open a run folder (its loss, log and samples); no DIR: the newest run",
        ":help              this list", "",
        "Edits apply to the marked images, else to every image of the current view:",
    };
    size_t nf = sizeof fixed / sizeof fixed[0], n = 0;
    char **lines = calloc(nf + n_edit_specs + 2, sizeof *lines);
    if (!lines)
        return;
    for (size_t i = 0; i < nf; i++)
        lines[n++] = strdup(fixed[i]);
    for (size_t i = 0; i < n_edit_specs; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, ":%s %s", edit_specs[i].name, edit_specs[i].args);
        lines[n++] = strdup(buf);
    }
    lines[n++] = strdup("Quote tags that hold spaces: :rename \"long hair\" long_hair");
    overlay_open(a, "Commands", lines, n);
}

void cmdline_run(app *a, const char *line, const char *unused)
{
    (void)unused;
    char buf[1024], *w[8];
    snprintf(buf, sizeof buf, "%s", line);
    int n = cmdline_split(buf, w, 8);
    if (n < 0) {
        app_error(a, ":%s: a quote is not closed", line);
        return;
    }
    if (n == 0)
        return;
    const edit_spec *sp = edit_spec_find(w[0]);
    if (sp)
        cmd_edit(a, sp, w, n);
    else if (!strcmp(w[0], "w"))
        app_save(a);
    else if (!strcmp(w[0], "q"))
        action_quit(a);
    else if (!strcmp(w[0], "q!"))
        a->running = false;
    else if (!strcmp(w[0], "wq") || !strcmp(w[0], "x")) {
        app_save(a);
        if (!a->ds->n_dirty)
            a->running = false;
    } else if (!strcmp(w[0], "filter")) {
        const char *expr = strstr(line, "filter") + 6; /* the rest of the line, unsplit */
        app_set_filter(a, expr + strspn(expr, " \t"));
    }
    else if (!strcmp(w[0], "run"))
        cmd_run(a, n > 1 ? w[1] : NULL);
    else if (!strcmp(w[0], "help"))
        cmd_help(a);
    else
        app_error(a, "unknown command :%s (:help lists them)", w[0]);
}

/* Terminal capability detection (reference/terminal.md §3): one batched write of queries with DA1
 * last, because every terminal answers DA1 and answers in order, so its reply means "all the
 * others have arrived or never will". The reply buffer is parsed as a stream of escape sequences
 * wherever they are: the user may type while we wait, and those bytes must not count. */
#include "tui/term_caps.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define ESC '\033'

/* What the replies said; -1 / false when a query got no answer. */
typedef struct replies {
    bool da1, da1_sixel;
    bool kitty_ok;
    int colors;         /* XTSMGRAPHICS colour registers */
    int cell_w, cell_h; /* CSI 16 t */
    char version[64];   /* XTVERSION text, raw */
} replies;

int gfx_mode_parse(const char *s, gfx_mode *m)
{
    static const struct { const char *name; gfx_mode mode; } names[] = {
        {"none", GFX_NONE}, {"blocks", GFX_BLOCKS}, {"sixel", GFX_SIXEL}, {"kitty", GFX_KITTY}};
    if (s && strcmp(s, "auto") == 0)
        return -1;
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *m = names[i].mode;
            return 0;
        }
    return -2;
}

const char *gfx_mode_name(gfx_mode m)
{
    switch (m) {
    case GFX_BLOCKS: return "blocks";
    case GFX_SIXEL: return "sixel";
    case GFX_KITTY: return "kitty";
    default: return "none";
    }
}

/* ---- the reply parser ---- */

/* Numeric parameters of a CSI body ("?63;1;4" without the marker); returns how many. */
static int params_parse(const char *p, size_t n, int *out, int max)
{
    int count = 0;
    long v = 0;
    bool any = false;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] >= '0' && p[i] <= '9') {
            v = v < 100000 ? v * 10 + (p[i] - '0') : v;
            any = true;
        } else {
            if (count < max)
                out[count++] = any ? (int)v : 0;
            v = 0;
            any = false;
        }
    }
    return count;
}

static void csi_handle(char marker, const char *p, size_t n, char final, replies *r)
{
    int v[32];
    int k = params_parse(p, n, v, 32);
    if (marker == '?' && final == 'c') {
        r->da1 = true;
        r->da1_sixel = false;
        for (int i = 1; i < k; i++) /* v[0] is the terminal class, not a feature */
            r->da1_sixel |= v[i] == 4;
    } else if (marker == '?' && final == 'S' && k >= 3 && v[0] == 1 && v[1] == 0 && v[2] > 0) {
        r->colors = v[2];
    } else if (marker == 0 && final == 't' && k >= 3 && v[0] == 6 && v[1] > 0 && v[2] > 0) {
        r->cell_h = v[1];
        r->cell_w = v[2];
    }
}

/* String sequences (DCS, APC): body without the introducer and the ST. */
static void str_handle(char kind, const char *p, size_t n, replies *r)
{
    if (kind == 'P' && n >= 2 && p[0] == '>' && p[1] == '|') {
        size_t len = n - 2 < sizeof r->version - 1 ? n - 2 : sizeof r->version - 1;
        memcpy(r->version, p + 2, len);
        r->version[len] = '\0';
    } else if (kind == '_' && n >= 1 && p[0] == 'G' && memmem(p, n, "i=31", 4) &&
               memmem(p, n, ";OK", 3)) {
        r->kitty_ok = true;
    }
}

/* Parses one sequence starting at buf[i] == ESC; returns the index after it (or after the ESC
 * when it is not a sequence we know, e.g. Alt+key). Stops at an unfinished sequence. */
static size_t seq_parse(const char *buf, size_t n, size_t i, replies *r)
{
    if (i + 1 >= n)
        return n;
    char kind = buf[i + 1];
    if (kind == '[') {
        size_t j = i + 2;
        char marker = j < n && buf[j] && strchr("?><=", buf[j]) ? buf[j++] : 0;
        size_t start = j;
        while (j < n && ((buf[j] >= '0' && buf[j] <= '9') || buf[j] == ';' || buf[j] == ':'))
            j++;
        while (j < n && buf[j] >= 0x20 && buf[j] <= 0x2f) /* intermediates */
            j++;
        if (j >= n)
            return n;
        if (buf[j] < 0x40 || buf[j] > 0x7e)
            return i + 1;
        csi_handle(marker, buf + start, j - start, buf[j], r);
        return j + 1;
    }
    if (kind == 'P' || kind == '_') {
        for (size_t j = i + 2; j + 1 < n; j++)
            if (buf[j] == ESC && buf[j + 1] == '\\') {
                str_handle(kind, buf + i + 2, j - i - 2, r);
                return j + 2;
            }
        return n;
    }
    return i + 1;
}

static void replies_parse(const char *buf, size_t n, replies *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n;)
        i = buf[i] == ESC ? seq_parse(buf, n, i, r) : i + 1;
}

/* ---- deciding ---- */

static const char *env_get(const char *const *envp, const char *name)
{
    if (!envp)
        return getenv(name);
    size_t len = strlen(name);
    for (; *envp; envp++)
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    return NULL;
}

static bool env_is(const char *const *envp, const char *name, const char *value)
{
    const char *v = env_get(envp, name);
    return v && strcmp(v, value) == 0;
}

static bool env_prefix(const char *const *envp, const char *name, const char *prefix)
{
    const char *v = env_get(envp, name);
    return v && strncmp(v, prefix, strlen(prefix)) == 0;
}

/* Printable ASCII only: the name comes from the terminal (or the environment) and ends up on
 * the status line. */
static void name_sanitise(char *dst, size_t size, const char *src)
{
    size_t k = 0;
    for (; src && *src && k + 1 < size; src++)
        dst[k++] = *src >= 0x20 && *src < 0x7f ? *src : '?';
    dst[k] = '\0';
}

/* No reply at all (timeout, not a terminal): the environment is all we have. */
static void decide_from_env(const char *const *envp, term_caps *caps)
{
    const char *term = env_get(envp, "TERM");
    const char *tag = NULL;
    if (env_get(envp, "KITTY_WINDOW_ID") || env_is(envp, "TERM", "xterm-kitty"))
        caps->gfx = GFX_KITTY, tag = "kitty";
    else if (env_is(envp, "TERM", "xterm-ghostty") || env_is(envp, "TERM_PROGRAM", "ghostty") ||
             env_is(envp, "TERM_PROGRAM", "WezTerm"))
        caps->gfx = GFX_KITTY, tag = "kitty";
    else if (env_get(envp, "MLTERM") || env_prefix(envp, "TERM", "mlterm") ||
             env_prefix(envp, "TERM", "foot") || env_is(envp, "TERM_PROGRAM", "iTerm.app"))
        caps->gfx = GFX_SIXEL, tag = "sixel";
    else if (!term || !*term || strcmp(term, "dumb") == 0)
        caps->gfx = GFX_NONE, tag = "none";
    else
        caps->gfx = GFX_BLOCKS, tag = "blocks";
    char t[40];
    name_sanitise(t, sizeof t, term ? term : "(unset)");
    snprintf(caps->why, sizeof caps->why, "no reply; TERM=%s: %s", t, tag);
}

static void caps_defaults(term_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    caps->gfx = GFX_NONE;
    caps->cell_w = 10;
    caps->cell_h = 20;
    caps->sixel_colors = 256;
}

void term_caps_from_replies(const char *buf, size_t n, const char *const *envp, term_caps *caps)
{
    replies r;
    replies_parse(buf ? buf : "", buf ? n : 0, &r);
    caps_defaults(caps);
    const char *term = env_get(envp, "TERM");
    name_sanitise(caps->terminal, sizeof caps->terminal,
                  r.version[0] ? r.version : term && *term ? term : "unknown");
    const char *tmux = env_get(envp, "TMUX");
    caps->in_tmux = (tmux && *tmux) || strncmp(r.version, "tmux", 4) == 0;
    caps->truecolor = env_is(envp, "COLORTERM", "truecolor") || env_is(envp, "COLORTERM", "24bit");
    if (r.cell_w > 0 && r.cell_h > 0 && r.cell_w <= 512 && r.cell_h <= 512) {
        caps->cell_w = r.cell_w;
        caps->cell_h = r.cell_h;
    }
    if (r.kitty_ok) {
        caps->gfx = GFX_KITTY;
        snprintf(caps->why, sizeof caps->why, "kitty graphics query answered OK");
    } else if (r.da1 && r.da1_sixel) {
        caps->gfx = GFX_SIXEL;
        /* xterm answers XTSMGRAPHICS even with sixel off, so only trust it next to DA1's 4 */
        if (r.colors > 0)
            caps->sixel_colors = r.colors;
        snprintf(caps->why, sizeof caps->why, "DA1 has 4 (sixel%s)",
                 caps->in_tmux ? ", drawn by tmux itself" : "");
    } else if (caps->in_tmux) {
        caps->gfx = GFX_BLOCKS;
        snprintf(caps->why, sizeof caps->why, "tmux without sixel: blocks");
    } else if (r.da1) {
        caps->gfx = GFX_BLOCKS;
        snprintf(caps->why, sizeof caps->why, "DA1 without 4 (no sixel): blocks");
    } else {
        decide_from_env(envp, caps);
    }
}

static bool word_in_list(const char *list, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += len)
        if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

void term_caps_apply_tmux(term_caps *caps, const tmux_facts *t)
{
    if (!caps->in_tmux || caps->gfx == GFX_SIXEL)
        return; /* outside tmux, or tmux draws sixel itself (>= 3.4 built with it) */
    /* wrapping is right for any protocol the user forces, even when we cannot tell what the
       outer terminal does */
    caps->passthrough = t && t->allow_passthrough;
    if (caps->gfx == GFX_NONE)
        return;
    caps->gfx = GFX_BLOCKS;
    if (!caps->passthrough) {
        snprintf(caps->why, sizeof caps->why, "tmux without sixel, allow-passthrough off: blocks");
        return;
    }
    const char *via = NULL;
    if (word_in_list(t->features, "sixel"))
        caps->gfx = GFX_SIXEL, via = "client_termfeatures has sixel";
    else if (strstr(t->termname, "kitty") || strstr(t->termname, "ghostty"))
        caps->gfx = GFX_KITTY, via = "client_termname is a kitty";
    if (via)
        snprintf(caps->why, sizeof caps->why, "tmux passthrough, %s: %s", via,
                 gfx_mode_name(caps->gfx));
    else
        snprintf(caps->why, sizeof caps->why,
                 "tmux passthrough on, outer terminal's graphics unknown: blocks");
}

/* ---- talking to the terminal ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A complete DA1 reply (ESC [ ? digits/; c) anywhere in the buffer. */
static bool has_da1(const char *buf, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++) {
        if (buf[i] != ESC || buf[i + 1] != '[' || buf[i + 2] != '?')
            continue;
        size_t j = i + 3;
        while (j < n && ((buf[j] >= '0' && buf[j] <= '9') || buf[j] == ';'))
            j++;
        if (j < n && buf[j] == 'c')
            return true;
    }
    return false;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static size_t query_terminal(int fd, int timeout_ms, char *buf, size_t cap)
{
    struct termios old, raw;
    if (tcgetattr(fd, &old) < 0)
        return 0;
    raw = old;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &raw) < 0)
        return 0;
    /* No kitty query where an APC does harm: the Linux console prints its body as text, tmux
       and screen take it as the window title; and neither passes it on to a kitty outside. */
    const char *term = getenv("TERM"), *tmux = getenv("TMUX");
    bool kitty_query = !(tmux && *tmux) && !(term && (strncmp(term, "linux", 5) == 0 ||
                                                      strncmp(term, "screen", 6) == 0 ||
                                                      strncmp(term, "tmux", 4) == 0));
    char q[160];
    snprintf(q, sizeof q, "\033[>0q\033[?1;1;0S\033[16t%s\033[c",
             kitty_query ? "\033_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\033\\" : "");
    size_t n = 0;
    if (write_all(fd, q, strlen(q))) {
        long deadline = now_ms() + timeout_ms;
        while (n + 1 < cap && !has_da1(buf, n)) {
            long left = deadline - now_ms();
            if (left <= 0)
                break;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int rc = poll(&p, 1, (int)left);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc <= 0)
                break;
            ssize_t got = read(fd, buf + n, cap - 1 - n);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0)
                break;
            n += (size_t)got;
        }
    }
    tcsetattr(fd, TCSANOW, &old); /* not TCSAFLUSH: that would drop the user's typeahead */
    return n;
}

/* First line of a command's output, without the newline; "" when it fails. */
static void command_line(const char *cmd, char *out, size_t size)
{
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (!fgets(out, (int)size, p))
        out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    pclose(p);
}

static void tmux_ask(tmux_facts *t)
{
    char line[384];
    memset(t, 0, sizeof *t);
    command_line("tmux show -gv allow-passthrough 2>/dev/null", line, sizeof line);
    t->allow_passthrough = strcmp(line, "on") == 0 || strcmp(line, "all") == 0;
    command_line("tmux display -p '#{client_termfeatures}|#{client_termname}' 2>/dev/null", line,
                 sizeof line);
    char *bar = strrchr(line, '|');
    if (bar) {
        *bar = '\0';
        name_sanitise(t->features, sizeof t->features, line);
        name_sanitise(t->termname, sizeof t->termname, bar + 1);
    }
}

void term_probe(int tty_fd, int timeout_ms, term_caps *caps)
{
    char buf[4096];
    size_t n = 0;
    bool asked = tty_fd >= 0 && isatty(tty_fd) && tcgetpgrp(tty_fd) == getpgrp();
    if (asked)
        n = query_terminal(tty_fd, timeout_ms, buf, sizeof buf);
    term_caps_from_replies(buf, n, NULL, caps);
    const char *tmux = getenv("TMUX");
    if (caps->in_tmux && tmux && *tmux) {
        tmux_facts t;
        tmux_ask(&t);
        term_caps_apply_tmux(caps, &t);
    }
    if (!asked) {
        size_t len = strlen(caps->why);
        snprintf(caps->why + len, sizeof caps->why - len, " (not asked: no foreground tty)");
    }
    term_caps_update_cell(tty_fd, caps);
}

void term_caps_update_cell(int tty_fd, term_caps *caps)
{
    struct winsize ws;
    if (tty_fd < 0 || ioctl(tty_fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0 || ws.ws_row == 0)
        return;
    if (ws.ws_xpixel < 2 * ws.ws_col || ws.ws_ypixel < 4 * ws.ws_row)
        return; /* the terminal does not fill in pixels (many don't) */
    int w = ws.ws_xpixel / ws.ws_col, h = ws.ws_ypixel / ws.ws_row;
    if (w <= 512 && h <= 512) {
        caps->cell_w = w;
        caps->cell_h = h;
    }
}

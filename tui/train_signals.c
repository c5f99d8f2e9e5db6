#include "tui/train_signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t sig_ints;
static struct sigaction old_int, old_term, old_pipe;

static void signal_catch(int sig)
{
    int saved = errno; /* the interrupted code may be between a call and its errno check */
    if (sig == SIGINT && ++sig_ints >= 3) {
        static const char msg[] = "\ntagbench train: aborted without saving\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(130);
    }
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sig_pipe[1], &b, 1); /* non-blocking: a full pipe already wakes the loop */
    (void)w;
    errno = saved;
}

int train_signals_install(tg_error *err)
{
    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return error_set(err, "cannot make a pipe for Ctrl-C: %s", strerror(errno));
    sig_ints = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = signal_catch;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* poll() returns EINTR anyway; other calls just go on */
    /* Also when the shell started us with SIGINT ignored (`tagbench train ... &` in a script):
     * a stop always saves first, so catching it costs nothing, and `kill -INT` keeps working. */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);
    return 0;
}

int train_signals_fd(void)
{
    return sig_pipe[0];
}

int train_signals_take(void)
{
    unsigned char b;
    if (sig_pipe[0] < 0 || read(sig_pipe[0], &b, 1) != 1)
        return 0;
    return b;
}

void train_signals_restore(void)
{
    if (sig_pipe[0] < 0)
        return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
}

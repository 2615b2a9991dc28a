/*
 * mt_fdtable.c - a descriptor table of their own for the recorder's threads
 * (see mt_fdtable.h).
 */
#define _GNU_SOURCE /* unshare, CLONE_FILES */
#include "mt_fdtable.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static __thread int own_table;
/* Messages mt_say could not write from a private table (see there). */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static char pending[4096];
static size_t pending_len;

void mt_say_flush(void) {
    if (own_table || !pending_len) return;
    pthread_mutex_lock(&pending_lock);
    if (pending_len) {
        fwrite(pending, 1, pending_len, stderr);
        fflush(stderr);
        pending_len = 0;
    }
    pthread_mutex_unlock(&pending_lock);
}

/* Close every descriptor of the calling thread's (private) table. */
static void close_all(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 0u, ~0u, 0u) == 0) return;
#endif
    DIR *d = opendir("/proc/thread-self/fd");
    if (d) {
        int dfd = dirfd(d);
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            int fd = atoi(e->d_name);
            if (fd != dfd) close(fd);
        }
        closedir(d);
        return;
    }
    struct rlimit rl;
    int n = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        n = rl.rlim_cur > 65536 ? 65536 : (int)rl.rlim_cur;
    for (int fd = 0; fd < n; fd++) close(fd);
}

int mt_fdtable_private(void) {
#if defined(__linux__) && defined(CLONE_FILES)
    if (own_table) return 1;
    if (unshare(CLONE_FILES) != 0) return 0;
    own_table = 1;
    /* The copy holds the program's files open (a pipe's end the program
     * closes would not see EOF): gone at once. */
    close_all();
    return 1;
#else
    return 0;
#endif
}

int mt_fdtable_is_private(void) { return own_table; }

void mt_say(const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    if (!own_table) {
        fwrite(buf, 1, len, stderr);
        fflush(stderr);
        return;
    }
    int fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        /* A socket (journald), or a file this process may no longer open:
         * kept for mt_say_flush, which a thread of the process's table
         * runs (stop). */
        pthread_mutex_lock(&pending_lock);
        size_t room = sizeof pending - 1 - pending_len;
        size_t k = len < room ? len : room;
        memcpy(pending + pending_len, buf, k);
        pending_len += k;
        pending[pending_len] = 0;
        pthread_mutex_unlock(&pending_lock);
        return;
    }
    for (size_t off = 0; off < len;) {
        ssize_t k = write(fd, buf + off, len - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    close(fd);
}

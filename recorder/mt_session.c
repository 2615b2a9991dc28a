/*
 * mt_session.c - the recorder's session around the data path (mt_recorder.c):
 * the trace file and /proc/self/statm descriptors, the writer and sampler
 * threads, start and stop, fork, and the pause around os.fork(). State and
 * shared functions: mt_core.h.
 */
#define _GNU_SOURCE /* O_TMPFILE (file_create_unnamed) */
#include "mt_core.h"
#include "mt_procwatch.h"
#include "mt_addrset.h"
#include "mt_fdtable.h"
#include "mt_got.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- The trace file and /proc/self/statm: descriptors the program may
 * close ----------------------------------------------------------------- */

/* Move fd high, out of the way of programs that dup2 onto small numbers or
 * count on the lowest free one; close-on-exec. Returns the descriptor to
 * use (fd itself if it cannot be moved). */
int fd_move_high(int fd) {
    struct rlimit rl;
    int lo = 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        lo = rl.rlim_cur > 2048 ? 1024 : (int)(rl.rlim_cur / 2);
    if (lo <= fd) return fd;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, lo);
    if (hi < 0) return fd;
    close(fd);
    return hi;
}

static int fd_is(int fd, dev_t dev, ino_t ino) {
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Our trace file again, by its path, if it is still the same file. */
static int file_reopen(void) {
    int fd = open(R.path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (!fd_is(fd, R.file.dev, R.file.ino)) {
        close(fd);
        errno = ENOENT; /* the path names another file now */
        return -1;
    }
    R.file.fd = fd_move_high(fd);
    return 0;
}

/* The writer's sink (writer thread, or start/stop): see R.file. One
 * window remains: a program thread that closes the descriptor and gets the
 * same number back between the fstat and the pwrite (microseconds, at a
 * number >= 1024 where the limit allows) is not seen. */
static long trace_sink(void *ctx, const void *buf, size_t n) {
    (void)ctx;
    if (R.file.lost) return -EBADF;
    if (!fd_is(R.file.fd, R.file.dev, R.file.ino)) {
        /* Not open (between writer cycles), or closed or reused by the
         * program in the middle of one: never written to, never closed by
         * us again. */
        if (R.file.fd >= 0) R.file.reopened++;
        R.file.fd = -1;
        if (file_reopen() < 0) {
            R.file.lost = errno ? errno : EBADF;
            return -(long)R.file.lost;
        }
    }
    for (;;) {
        ssize_t k = pwrite(R.file.fd, buf, n, (off_t)R.file.offset);
        if (k >= 0) {
            R.file.offset += (uint64_t)k;
            return (long)k;
        }
        if (errno != EINTR) return -errno;
    }
}

static void file_close(void) {
    if (fd_is(R.file.fd, R.file.dev, R.file.ino)) close(R.file.fd);
    R.file.fd = -1;
}

/* A trace file, once it has a name, is one memtrace-decode reads: a process
 * killed at any moment must not leave an empty file that open(O_CREAT) made
 * before the header was in it: a fork child that the parent kills as it
 * starts (test_multiprocessing_fork's test_resource_warning: Pool(1), then
 * terminate() at once) is in that window ~1 time in 1000 (some hundred
 * microseconds of copy-on-write faults between the two). So the file is made
 * without a name (O_TMPFILE, in the directory of path), the header written,
 * and then it is given its name (file_name); killed before, it is gone with
 * the process. Where that cannot be done (no O_TMPFILE in the file system,
 * no /proc) or should not (a file, symlink or device already at path: it is
 * truncated by name, as open would, keeping what it is), the file is made
 * by open(O_CREAT | O_TRUNC) as before. */
static int file_create_unnamed(const char *path) {
#ifdef O_TMPFILE
    /* Only for a new file: an existing one is truncated by name as before,
     * keeping its inode, mode, owner and links (and failing where the
     * program could not write it). */
    struct stat st;
    if (lstat(path, &st) == 0 || errno != ENOENT) {
        errno = EEXIST;
        return -1;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return -1;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    free(dir);
    /* Kernels before 6.0 may skip the umask for O_TMPFILE: applied here
     * (read from /proc: umask() itself would change it for a moment, for
     * every thread). */
    if (fd >= 0) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[128];
        unsigned um = 022;
        int found = 0;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "Umask: %o", &um) == 1) {
                found = 1;
                break;
            }
        if (f) fclose(f);
        if (found) (void)fchmod(fd, 0644 & ~(mode_t)um);
    }
    return fd;
#else
    (void)path;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* Give the unnamed file fd the name path (which did not exist a moment
 * ago). 0, or -1 (someone made it meanwhile: the caller makes it by name,
 * as before). */
static int file_name(int fd, const char *path) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : -1;
}

static dev_t statm_dev;
static ino_t statm_ino; /* of mt_rec.statm_fd (start, sampler thread) */

static void statm_open(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        statm_dev = st.st_dev;
        statm_ino = st.st_ino;
        fd = fd_move_high(fd);
    } else if (fd >= 0) {
        close(fd);
        fd = -1;
    }
    mt_rec.statm_fd = fd;
}

/* Sampler thread, each round: is the statm descriptor still ours? (A
 * reused one would be read, never written; the hot path's reads of a
 * stale one last at most one sampling interval.) */
static void statm_check(void) {
    if (mt_rec.statm_fd >= 0 && !fd_is(mt_rec.statm_fd, statm_dev, statm_ino)) statm_open();
}

static void statm_close(void) {
    if (fd_is(mt_rec.statm_fd, statm_dev, statm_ino)) close(mt_rec.statm_fd);
    mt_rec.statm_fd = -1;
}

/* ---- Writer thread ------------------------------------------------------ */

void report_failure(int rc) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&R.failed, &expected, 1)) return;
    atomic_store(&mt_rec.active, 0); /* hooks stop recording */
    if (R.file.lost)
        mt_say("memtrace: recording stopped: the program closed or reused the trace's "
                "file descriptor and '%s' could not be opened again: %s "
                "(the program continues)\n",
                R.path, strerror(R.file.lost));
    else
        mt_say("memtrace: recording stopped: cannot write '%s': %s "
                "(the program continues)\n",
                R.path, mt_strerror(rc));
    if (R.cfg.on_failure) R.cfg.on_failure();
}

/* Write the definition buffer then the queued blocks; return buffers to the
 * pool. Blocks are taken FIRST and definitions SECOND: every id a taken block
 * uses was defined before the block was queued, so it is in this definition
 * batch or an earlier one, and the file has definitions before use. */
static void writer_cycle(int flush) {
    pthread_mutex_lock(&R.pool_lock);
    mt_buf *q = R.q_head;
    R.q_head = R.q_tail = NULL;
    pthread_mutex_unlock(&R.pool_lock);

    pthread_mutex_lock(&R.defs_lock);
    uint8_t *defs = R.defs;
    size_t defs_len = R.defs_len;
    uint32_t defs_nrec = R.defs_nrec;
    R.defs = NULL;
    R.defs_len = R.defs_cap = 0;
    R.defs_nrec = 0;
    pthread_mutex_unlock(&R.defs_lock);

    int failed = atomic_load(&R.failed);
    if (defs_len && !failed) mt_writer_append_defs(R.w, defs, defs_len, defs_nrec);
    free(defs);
    for (mt_buf *b = q; b; b = b->next)
        if (!failed && b->nrecords)
            mt_writer_append_block(R.w, b->data, b->len_bytes, b->nrecords,
                                   b->t_first, b->t_last);
    if (flush && !failed) mt_writer_flush(R.w);
    if (!failed && mt_writer_error(R.w) < 0) report_failure(mt_writer_error(R.w));
    if (MT_PROBE_ON(write)) {
        static uint64_t last;
        uint64_t n = mt_writer_bytes_written(R.w);
        if (n != last) MT_PROBE2(write, n, mt_writer_records_written(R.w));
        last = n;
    }
    file_close(); /* until the next cycle */
    buf_release(q);
}

void deadline_after(struct timespec *ts, uint64_t ns) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t total = (uint64_t)ts->tv_nsec + ns;
    ts->tv_sec += (time_t)(total / 1000000000u);
    ts->tv_nsec = (long)(total % 1000000000u);
}
static int deadline_passed(const struct timespec *ts) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ts->tv_sec ||
           (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

static void sampler_handoff(void) {
    pthread_mutex_lock(&R.sampler_lock);
    if (R.sampler.buf && R.sampler.nrec > 1) tstate_queue(&R.sampler);
    pthread_mutex_unlock(&R.sampler_lock);
}

/* The writer is in its GIL fallback (flush_idle): it may be waiting for
 * the GIL that a thread pausing it holds. */
static _Atomic int writer_wants_gil;

static void *writer_main(void *arg) {
    (void)arg;
    atomic_store(&R.writer_tid, (pid_t)syscall(SYS_gettid));
    mt_tls_guard = MT_GUARD_CORE; /* its allocations are the recorder's */
    mt_fdtable_private(); /* the trace file: opened where the program never sees it */
    struct timespec next_flush;
    deadline_after(&next_flush, R.cfg.flush_interval_ns);
    for (;;) {
        pthread_mutex_lock(&R.pool_lock);
        /* Wake for a flush deadline, for stop, or when a few buffers are
         * waiting (batching keeps zstd's input large). */
        while (!R.stopping && !R.pausing && !R.want_buffers && !deadline_passed(&next_flush)) {
            uint32_t nq = 0, wake_at = R.cfg.max_buffers / 4;
            wake_at = wake_at < 1 ? 1 : wake_at > 4 ? 4 : wake_at;
            for (mt_buf *b = R.q_head; b && nq < wake_at; b = b->next) nq++;
            if (nq >= wake_at) break;
            pthread_cond_timedwait(&R.wake, &R.pool_lock, &next_flush);
        }
        int stopping = R.stopping, want = R.want_buffers, pausing = R.pausing;
        R.want_buffers = 0;
        pthread_mutex_unlock(&R.pool_lock);
        atomic_fetch_add_explicit(&mt_rec.epoch, 1, memory_order_relaxed);
        int flush = stopping || deadline_passed(&next_flush);
        /* A thread waits for a buffer while the others sit on partial ones
         * (more threads than buffers, or threads waiting for the GIL that
         * the waiting thread holds): take those now, not at the deadline. */
        if (want && !flush && R.steal_ok && atomic_load(&mt_rec.active)) flush_idle_steal();
        if (flush && !stopping) {
            /* The sampler's stream first: it never waits for anything. */
            sampler_handoff();
            int with_gil = 0;
            if (atomic_load(&mt_rec.active) &&
                !(R.steal_ok && flush_idle_steal()) && R.cfg.flush_idle) {
                atomic_store(&writer_wants_gil, 1); /* see mt_rec_pause_threads */
                with_gil = R.cfg.flush_idle(); /* no membarrier: with the GIL */
                atomic_store(&writer_wants_gil, 0);
            }
            if (!with_gil && R.cfg.every_flush && atomic_load(&mt_rec.active))
                R.cfg.every_flush(); /* never waits */
            deadline_after(&next_flush, R.cfg.flush_interval_ns);
        }
        writer_cycle(flush);
        if (stopping || pausing) break;
    }
    pthread_mutex_lock(&R.pool_lock);
    R.writer_done = 1;
    pthread_cond_broadcast(&R.freed);
    pthread_mutex_unlock(&R.pool_lock);
    return NULL;
}

/* ---- Sampler thread ----------------------------------------------------- */

static void sample_counters(mt_tstate *t, uint64_t now) {
    mt_counter c[10];
    uint32_t n = 0;
    char b[256];
    unsigned long long v[3] = {0, 0, 0};
    {
        ssize_t k = statm_read(b, sizeof b);
        if (k > 0) {
            if (sscanf(b, "%llu %llu %llu", &v[0], &v[1], &v[2]) == 3) {
                c[n++] = (mt_counter){MT_CTR_VMS_BYTES, v[0] * mt_rec.page_size};
                c[n++] = (mt_counter){MT_CTR_RSS_BYTES, v[1] * mt_rec.page_size};
                c[n++] = (mt_counter){MT_CTR_SHARED_BYTES, v[2] * mt_rec.page_size};
            }
        }
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        c[n++] = (mt_counter){MT_CTR_PEAK_RSS_BYTES, (uint64_t)ru.ru_maxrss * 1024u};
        c[n++] = (mt_counter){MT_CTR_MINOR_FAULTS, (uint64_t)ru.ru_minflt};
        c[n++] = (mt_counter){MT_CTR_MAJOR_FAULTS, (uint64_t)ru.ru_majflt};
        c[n++] = (mt_counter){MT_CTR_USER_NS, (uint64_t)ru.ru_utime.tv_sec * 1000000000u +
                                                  (uint64_t)ru.ru_utime.tv_usec * 1000u};
        c[n++] = (mt_counter){MT_CTR_SYSTEM_NS, (uint64_t)ru.ru_stime.tv_sec * 1000000000u +
                                                    (uint64_t)ru.ru_stime.tv_usec * 1000u};
    }
    pthread_mutex_lock(&R.reg_lock);
    uint64_t nthreads = 0;
    for (mt_tstate *x = R.threads; x; x = x->next) nthreads++;
    pthread_mutex_unlock(&R.reg_lock);
    c[n++] = (mt_counter){MT_CTR_THREADS, nthreads};
    size_t need = mt_enc_counters_bound(n);
    if (!t->pos || (size_t)(t->end + MT_BUF_RESERVE - t->pos) < need + MT_BUF_RESERVE)
        if (!mt_tstate_refill(t, now, need)) return;
    t->pos = mt_enc_counters(t->pos, mt_dt(t, now), c, n);
    t->nrec++;
}

int mt_rec_counters(const mt_counter *c, uint32_t n) {
    if (!atomic_load(&mt_rec.active) || !n) return 0;
    int ok = 0;
    pthread_mutex_lock(&R.sampler_lock);
    mt_tstate *t = &R.sampler;
    uint64_t now = mt_clock_raw(); /* under the lock: the buffer's times rise */
    size_t need = mt_enc_counters_bound(n);
    if ((t->pos && (size_t)(t->end + MT_BUF_RESERVE - t->pos) >= need + MT_BUF_RESERVE) ||
        mt_tstate_refill(t, now, need)) {
        t->pos = mt_enc_counters(t->pos, mt_dt(t, now), c, n);
        t->nrec++;
        ok = 1;
    }
    pthread_mutex_unlock(&R.sampler_lock);
    return ok;
}

static void *sampler_main(void *arg) {
    (void)arg;
    atomic_store(&R.sampler_tid, (pid_t)syscall(SYS_gettid));
    mt_tls_guard = MT_GUARD_CORE;
    /* /proc/self/statm likewise, opened for each sample; not with
     * rss="exact", whose kept descriptor every thread reads (in the
     * process's table) and this thread checks (statm_check). */
    if (mt_rec.statm_fd < 0) mt_fdtable_private();
    mt_tstate *t = &R.sampler;
    uint64_t ticks = 0, per_counters = R.cfg.flush_interval_ns / R.cfg.rss_interval_ns;
    if (per_counters == 0) per_counters = 1;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        atomic_fetch_add_explicit(&mt_rec.epoch, 1, memory_order_relaxed);
        statm_check();
        /* The sample's time must be the reading's: a thread preempted
         * between the two (a loaded machine) would date the value late,
         * and the analysis would charge its growth to whichever threads
         * ran in the wrong interval. Read again (up to 3 times) when the
         * clock moved more than 0.5 ms around the reading. */
        uint64_t rss = 0, now = 0, slack = mt_rec.ticks_per_second / 2000u;
        for (int tries = 0; tries < 3; tries++) {
            uint64_t before = mt_clock_raw();
            rss = mt_rss_read();
            now = mt_clock_raw();
            if (now - before <= slack) break;
        }
        pthread_mutex_lock(&R.sampler_lock);
        if (ticks++ % per_counters == 0) sample_counters(t, now);
        if (rss && mt_room(t, now)) {
            t->pos = mt_enc_rss(t->pos, mt_dt(t, now), rss, &t->prev_rss);
            t->nrec++;
        }
        if (rss && MT_PROBE_ON(rss)) MT_PROBE1(rss, rss);
        pthread_mutex_unlock(&R.sampler_lock);
        /* Absolute deadlines: the period does not drift with the work. */
        uint64_t ns = (uint64_t)next.tv_nsec + R.cfg.rss_interval_ns;
        next.tv_sec += (time_t)(ns / 1000000000u);
        next.tv_nsec = (long)(ns % 1000000000u);
        if (deadline_passed(&next)) clock_gettime(CLOCK_MONOTONIC, &next);
        pthread_mutex_lock(&R.sampler_lock);
        while (!R.sampler_stop && !deadline_passed(&next))
            pthread_cond_timedwait(&R.sampler_wake, &R.sampler_lock, &next);
        int stop = R.sampler_stop;
        pthread_mutex_unlock(&R.sampler_lock);
        if (stop) break;
    }
    return NULL;
}

/* ---- Session ------------------------------------------------------------ */

static void init_locks(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&R.pool_lock, NULL);
    pthread_mutex_init(&R.reg_lock, NULL);
    pthread_mutex_init(&R.defs_lock, NULL);
    pthread_mutex_init(&R.sampler_lock, NULL);
    pthread_mutex_init(&R.nogil_lock, NULL);
    pthread_cond_init(&R.wake, &ca);
    pthread_cond_init(&R.freed, &ca);
    pthread_cond_init(&R.sampler_wake, &ca);
    pthread_condattr_destroy(&ca);
}

/* A TSC reading and a CLOCK_MONOTONIC reading (ns) taken together: the TSC
 * is read on both sides of the clock and averaged. */
static void calibrate_pair(uint64_t *tsc, uint64_t *mono) {
#if defined(__x86_64__) || defined(__i386__)
    struct timespec a;
    uint64_t t0 = __builtin_ia32_rdtsc();
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t1 = __builtin_ia32_rdtsc();
    *tsc = t0 + (t1 - t0) / 2;
    *mono = (uint64_t)a.tv_sec * 1000000000u + (uint64_t)a.tv_nsec;
#else
    *tsc = *mono = 0;
#endif
}

static uint64_t calibrate_tsc(uint64_t *tsc0, uint64_t *mono0) {
#if defined(__x86_64__) || defined(__i386__)
    /* Two (TSC, ns) pairs 20 ms apart: each pair is good to ~50 ns, so the
     * rate is good to a few parts per million. */
    uint64_t t1, m1;
    calibrate_pair(tsc0, mono0);
    struct timespec sl = {0, 20 * 1000 * 1000};
    nanosleep(&sl, NULL);
    calibrate_pair(&t1, &m1);
    uint64_t dns = m1 - *mono0;
    return dns ? (uint64_t)((double)(t1 - *tsc0) * 1e9 / (double)dns) : 0;
#else
    *tsc0 = *mono0 = 0;
    return 0;
#endif
}

static uint64_t next_gen = 1;

/* ---- fork --------------------------------------------------------------- */
/*
 * Registered at the first start, whatever the mode. The writer, sampler and
 * poller threads (and threads recording without the GIL) take the
 * recorder's locks all the time; a fork copies a lock held by one of them
 * into a child where its holder does not exist, and the child's first use
 * of it (Python's after-fork hooks run recorded code: new functions are
 * defined under defs_lock) waits for ever. So: prepare takes every lock, in
 * the lock order (nogil, sampler, reg, pool, defs, then the leaf locks of
 * the sampled-block set and of the poller), so no thread is inside a
 * recorder critical section at the fork; the parent lets them go; the
 * child makes them anew and stops recording (active = 0) until memtrace's
 * own after-fork code (mt_rec_forget_after_fork: a new session or none)
 * runs. No Python code runs in these handlers.
 */
static void fork_prepare(void) {
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&R.nogil_lock);
    pthread_mutex_lock(&R.sampler_lock);
    pthread_mutex_lock(&R.reg_lock);
    pthread_mutex_lock(&R.pool_lock);
    pthread_mutex_lock(&R.defs_lock);
    mt_addrset_fork_prepare();
    mt_procwatch_fork_prepare();
    mt_got_fork_prepare();
    MT_GUARD_LEAVE();
}

static void fork_parent(void) {
    mt_got_fork_parent();
    mt_procwatch_fork_parent();
    mt_addrset_fork_parent();
    pthread_mutex_unlock(&R.defs_lock);
    pthread_mutex_unlock(&R.pool_lock);
    pthread_mutex_unlock(&R.reg_lock);
    pthread_mutex_unlock(&R.sampler_lock);
    pthread_mutex_unlock(&R.nogil_lock);
}

static void fork_child(void) {
    /* Only the forking thread exists; every lock is made anew. */
    init_locks();
    mt_addrset_fork_child();
    mt_procwatch_fork_child();
    mt_got_fork_child();
    atomic_store(&mt_rec.active, 0);
}

static int rec_start(const mt_rec_config *cfg);

int mt_rec_start(const mt_rec_config *cfg) {
    MT_GUARD_ENTER(MT_GUARD_CORE); /* threads, buffers: the recorder's */
    int rc = rec_start(cfg);
    MT_GUARD_LEAVE();
    if (rc == 0 && MT_PROBE_ON(start))
        MT_PROBE2(start, cfg->path, cfg->header.mode ? cfg->header.mode : "");
    return rc;
}

static int rec_start(const mt_rec_config *cfg) {
    if (atomic_load(&mt_rec.active) || R.writer_running) return MT_ERR_STATE;
    if (!cfg->path || cfg->buffer_bytes < 4096 || cfg->max_buffers < 2 ||
        cfg->flush_interval_ns == 0)
        return MT_ERR_ARG;
    static int locks_done;
    if (!locks_done) {
        init_locks();
        locks_done = 1;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
    R.cfg = *cfg;
    /* Absolute: the file is opened again by this name if the program
     * closes its descriptor, typically after chdir("/") (daemons). */
    char cwd[4096];
    if (cfg->path[0] != '/' && getcwd(cwd, sizeof cwd)) {
        size_t n = strlen(cwd) + 1 + strlen(cfg->path) + 1;
        R.path = malloc(n);
        if (R.path) snprintf(R.path, n, "%s/%s", cwd, cfg->path);
    } else {
        R.path = strdup(cfg->path);
    }
    if (!R.path) return MT_ERR_NOMEM;
    mt_header h = cfg->header;
    h.alloc_sample_bytes = cfg->alloc_sample_bytes; /* 0: no allocation records */
    /* CLOCK_MONOTONIC: ns / 16. The header's anchor was read in ns. */
    mt_rec.clock_tsc = 0;
    mt_rec.tick_shift = 4;
    h.clock = MT_CLOCK_MONOTONIC;
    h.ticks_per_second = 1000000000u >> 4;
    h.anchor_ticks >>= 4;
    if (cfg->use_tsc) {
        /* Calibrated once per process: the TSC's rate does not change
         * (invariant TSC), and a second start should not pay 20 ms again. */
        static uint64_t tps;
        uint64_t tsc0, mono0;
        if (!tps) tps = calibrate_tsc(&tsc0, &mono0);
        else calibrate_pair(&tsc0, &mono0);
        if (tps > 1000000u) {
            /* A tick of about 16 ns: the largest shift keeping the rate at
             * or above 62.5 MHz. */
            unsigned shift = 0;
            while ((tps >> (shift + 1)) >= 62500000u) shift++;
            /* Re-anchor: the TSC reading that matches the header's
             * CLOCK_MONOTONIC anchor (in ns), extrapolated. */
            int64_t dmono = (int64_t)cfg->header.anchor_ticks - (int64_t)mono0;
            uint64_t anchor_tsc = tsc0 + (uint64_t)((double)dmono * (double)tps / 1e9);
            h.anchor_ticks = anchor_tsc >> shift;
            h.clock = MT_CLOCK_TSC;
            h.ticks_per_second = (uint64_t)((double)tps / (double)(1u << shift) + 0.5);
            mt_rec.tick_shift = shift;
            mt_rec.clock_tsc = 1;
        }
    }
    mt_rec.anchor_ticks = h.anchor_ticks;
    mt_rec.ticks_per_second = h.ticks_per_second;
    mt_rec.page_size = h.page_size ? h.page_size : 4096;
    mt_rec.rss_exact = cfg->rss_exact;
    mt_rec.rss_trigger = cfg->rss_trigger_bytes;
    mt_rec.max_depth = cfg->max_depth;
    mt_rec.filtering = cfg->filtering;
    mt_rec.positions = cfg->positions;
    atomic_store(&mt_rec.rss_peak, 0);
    mt_writer_options opt = {0, 0};
    /* Unnamed until the header is in it (see file_create_unnamed), else by
     * name. */
    for (int unnamed = 1;; unnamed = 0) {
        memset(&R.file, 0, sizeof R.file);
        R.file.fd = unnamed ? file_create_unnamed(cfg->path)
                            : open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (R.file.fd < 0 && unnamed) continue;
        struct stat st;
        if (R.file.fd < 0 || fstat(R.file.fd, &st) != 0) {
            int saved = errno;
            if (R.file.fd >= 0) close(R.file.fd);
            free(R.path);
            R.path = NULL;
            errno = saved;
            return MT_ERR_IO;
        }
        R.file.dev = st.st_dev;
        R.file.ino = st.st_ino;
        R.file.fd = fd_move_high(R.file.fd);
        int rc = mt_writer_open_sink(&R.w, trace_sink, NULL, &h, &opt);
        if (rc < 0) {
            /* A full disk or a write error before anything was recorded: no
             * empty or half-written file is left behind. */
            int saved = errno;
            file_close();
            if (!unnamed) unlink(cfg->path);
            free(R.path);
            R.path = NULL;
            errno = saved;
            return rc;
        }
        if (unnamed && file_name(R.file.fd, cfg->path) < 0) {
            mt_writer_discard(R.w);
            R.w = NULL;
            file_close();
            continue;
        }
        break;
    }
    file_close(); /* the header is written: open again at the first cycle */
    if (cfg->rss_exact) statm_open();
    R.steal_ok = membarrier_register();
    R.owner_pid = getpid();
    R.free_list = R.q_head = R.q_tail = NULL;
    R.nbufs = R.nbufs_max_seen = 0;
    R.bytes_used = 0;
    R.bytes_budget = (uint64_t)cfg->max_buffers * cfg->buffer_bytes;
    R.waits = 0;
    R.paused = R.pausing = R.writer_gone = 0;
    R.released = R.stalled_at = 0;
    R.want_buffers = 0;
    R.lost_events = 0;
    R.events_queued = 0;
    R.stopping = 0;
    R.threads = NULL;
    R.next_tid = 0;
    R.reg_closed = 0;
    R.exited_lost_events = R.exited_lost_bytes = 0;
    defs_reset();
    atomic_store(&R.failed, 0);
    mt_rec.gen = next_gen++;
    memset(&R.sampler, 0, sizeof R.sampler);
    R.sampler.tid = 0;
    R.sampler.gen = mt_rec.gen;
    R.sampler.native_id = (uint64_t)getpid();
    R.sampler.last_ticks = mt_clock_raw();
    R.sampler_stop = 0;
    R.alloc_records = 0;
    mt_tstate_name(&R.sampler, "[process]", 9);
    atomic_store(&mt_rec.active, 1);

    /* The starting thread's exit is seen even if it never records (a child
     * forked from a thread, in sampled allocation mode): if it is the
     * leader and leaves by pthread_exit, leader_exit ends the recording. */
    mt_core_exit_key_set();

    R.writer_running = mt_thread_create(&R.writer_thread, writer_main, NULL) == 0;
    if (!R.writer_running) {
        atomic_store(&mt_rec.active, 0);
        mt_writer_discard(R.w);
        R.w = NULL;
        file_close();
        unlink(cfg->path);
        tstate_free(&R.sampler); /* its buffer holds the THREAD definition */
        memset(&R.sampler, 0, sizeof R.sampler);
        pthread_mutex_lock(&R.pool_lock);
        buf_free_list(R.free_list);
        R.free_list = NULL;
        R.nbufs = 0;
        R.bytes_used = 0;
        pthread_mutex_unlock(&R.pool_lock);
        pthread_mutex_lock(&R.defs_lock);
        defs_reset();
        pthread_mutex_unlock(&R.defs_lock);
        statm_close();
        free(R.path);
        R.path = NULL;
        return MT_ERR_NOMEM;
    }
    R.sampler_running = cfg->rss_interval_ns &&
        mt_thread_create(&R.sampler_thread, sampler_main, NULL) == 0;
    return 0;
}

/* COUNTERS then SUMMARY into t's buffer (the caller made room: 256 bytes). */
static void put_summary(mt_tstate *t, int reason) {
    uint64_t now = mt_clock_raw();
    sample_counters(t, now);
    mt_counter c[2] = {{MT_CTR_EVENTS, R.events_queued + t->nrec + 1},
                       {MT_CTR_LOST_EVENTS, R.lost_events}};
    /* SUMMARY: dt, reason, n, pairs (no encoder in the header: the layout of
     * COUNTERS with the reason first). */
    uint64_t dt = mt_dt(t, now);
    size_t len = mt_varint_len(dt) + mt_varint_len((uint32_t)reason) + mt_varint_len(2);
    for (int i = 0; i < 2; i++) len += mt_varint_len(c[i].id) + mt_varint_len(c[i].value);
    uint8_t *p = mt_enc_sized_head(t->pos, MT_REC_SUMMARY, len);
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, (uint32_t)reason);
    p = mt_enc_varint(p, 2);
    for (int i = 0; i < 2; i++) {
        p = mt_enc_varint(p, c[i].id);
        p = mt_enc_varint(p, c[i].value);
    }
    t->pos = p;
    t->nrec++;
}

static int rec_stop(int reason);

int mt_rec_stop(int reason) {
    MT_GUARD_ENTER(MT_GUARD_CORE);
    int rc = rec_stop(reason);
    if (rc == 0 && MT_PROBE_ON(stop)) {
        /* In a register: a tracer reads an argument given as a register
         * or a stack slot; bpftrace cannot read one given as a symbol. */
        uint64_t events = R.events_queued;
        __asm__ volatile("" : "+r"(events));
        MT_PROBE2(stop, reason, events);
    }
    mt_say_flush(); /* the writer's messages it could not write itself */
    MT_GUARD_LEAVE();
    return rc;
}

static int rec_stop(int reason) {
    if (!R.writer_running) return MT_ERR_STATE;
    if (R.paused) { /* stopped right after a fork: the threads first */
        mt_rec_fork_done();
        mt_rec_resume_threads();
    }
    /* The poller writes into the sampler's stream: its last round goes in
     * before the stream is closed. */
    mt_procwatch_stop();
    atomic_store(&mt_rec.active, 0);
    /* Threads recording without the GIL check active under nogil_lock:
     * once we have had it, none is still writing into a buffer. */
    pthread_mutex_lock(&R.nogil_lock);
    pthread_mutex_unlock(&R.nogil_lock);
    if (R.sampler_running) {
        pthread_mutex_lock(&R.sampler_lock);
        R.sampler_stop = 1;
        pthread_cond_signal(&R.sampler_wake);
        pthread_mutex_unlock(&R.sampler_lock);
        pthread_join(R.sampler_thread, NULL);
        R.sampler_running = 0;
    }
    /* Threads' partial buffers: the caller handed them over (flush_idle with
     * the GIL) before calling us; any left are queued here. Drops not yet
     * reported in a LOST record are reported in the final block. */
    uint64_t lost_events = 0, lost_bytes = 0;
    pthread_mutex_lock(&R.reg_lock);
    R.reg_closed = 1;
    lost_events = R.exited_lost_events;
    lost_bytes = R.exited_lost_bytes;
    R.exited_lost_events = R.exited_lost_bytes = 0;
    for (mt_tstate *t = R.threads; t; t = t->next) {
        if (t->buf && t->nrec > 1) tstate_queue(t);
        lost_events += t->lost_events;
        lost_bytes += t->lost_bytes;
        t->lost_events = t->lost_bytes = 0;
    }
    pthread_mutex_unlock(&R.reg_lock);
    /* Under its lock: the writer may be in sampler_handoff (a periodic
     * flush) until it sees stopping. */
    pthread_mutex_lock(&R.sampler_lock);
    if (R.sampler.buf && R.sampler.nrec > 1) tstate_queue(&R.sampler);
    pthread_mutex_unlock(&R.sampler_lock);
    lost_events += R.sampler.lost_events;
    lost_bytes += R.sampler.lost_bytes;
    R.sampler.lost_events = R.sampler.lost_bytes = 0;
    pthread_mutex_lock(&R.pool_lock);
    R.stopping = 1;
    pthread_cond_signal(&R.wake);
    pthread_mutex_unlock(&R.pool_lock);
    if (!R.writer_gone) pthread_join(R.writer_thread, NULL);
    R.writer_running = 0;
    R.writer_gone = 0;

    /* The writer drained the queue, so the pool has buffers again: the last
     * block (tid 0) carries unreported drops, counters and the SUMMARY, and
     * is appended here (the writer is ours now). */
    if (!atomic_load(&R.failed)) {
        mt_tstate *t = &R.sampler;
        uint64_t now = mt_clock_raw();
        R.lost_events += lost_events;
        if (mt_tstate_refill(t, now, 256)) {
            if (lost_events) {
                t->pos = mt_enc_lost(t->pos, mt_dt(t, now), lost_events, lost_bytes,
                                     MT_LOST_BUFFER_FULL);
                t->nrec++;
            }
            put_summary(t, reason);
            mt_buf *b = t->buf;
            mt_writer_append_block(R.w, b->data, (size_t)(t->pos - b->data), t->nrec,
                                   b->t_first, t->last_ticks - mt_rec.anchor_ticks);
        }
    }
    int rc = atomic_load(&R.failed) ? mt_writer_error(R.w) : 0;
    int rc2 = mt_writer_close(R.w);
    if (!rc) rc = rc2;
    if (rc2 < 0 && !atomic_load(&R.failed)) report_failure(rc2);
    R.w = NULL;
    file_close();
    if (R.lost_events && !atomic_load(&R.failed))
        /* Said once, at the end: the file's LOST records say where, and the
         * tools put it first and mark what it can falsify. */
        mt_say("memtrace: warning: %llu events were lost (the recorder's buffers were "
                "full); '%s' marks where in LOST records, and heap peaks, leaks and "
                "per-function figures near them may be wrong\n",
                (unsigned long long)R.lost_events, R.path);

    pthread_mutex_lock(&R.reg_lock);
    while (R.threads) {
        mt_tstate *t = R.threads;
        R.threads = t->next;
        tstate_free(t);
    }
    pthread_mutex_unlock(&R.reg_lock);
    tstate_free(&R.sampler);
    memset(&R.sampler, 0, sizeof R.sampler);
    pthread_mutex_lock(&R.pool_lock);
    buf_free_list(R.free_list);
    buf_free_list(R.q_head);
    R.free_list = R.q_head = R.q_tail = NULL;
    R.nbufs = 0;
    R.bytes_used = 0;
    pthread_mutex_unlock(&R.pool_lock);
    pthread_mutex_lock(&R.defs_lock);
    defs_reset();
    pthread_mutex_unlock(&R.defs_lock);
    statm_close();
    free(R.path);
    R.path = NULL;
    return rc;
}

void mt_rec_forget_after_fork(void) {
    /* Only the forking thread exists; the locks may have been held by
     * threads that are gone, so they are made anew and nothing waits. */
    init_locks();
    atomic_store(&mt_rec.active, 0);
    mt_procwatch_forget_after_fork();
    if (!R.writer_running && !R.w) return;
    mt_writer_discard(R.w); /* writes nothing */
    R.w = NULL;
    file_close(); /* the parent's file: our descriptor only if still ours */
    R.writer_running = R.sampler_running = 0;
    R.paused = R.pausing = R.writer_gone = 0;
    while (R.threads) {
        mt_tstate *t = R.threads;
        R.threads = t->next;
        tstate_free(t);
    }
    tstate_free(&R.sampler);
    memset(&R.sampler, 0, sizeof R.sampler);
    buf_free_list(R.free_list);
    buf_free_list(R.q_head);
    R.free_list = R.q_head = R.q_tail = NULL;
    R.nbufs = 0;
    R.bytes_used = 0;
    defs_reset();
    statm_close(); /* the parent's /proc entry (statm_fd names the parent's) */
    free(R.path);
    R.path = NULL;
    mt_rec.gen = next_gen++; /* stale thread-local pointers are ignored */
}

mt_tstate *mt_rec_sampler_lock(void) {
    if (!R.writer_running || !atomic_load(&mt_rec.active)) return NULL;
    pthread_mutex_lock(&R.sampler_lock);
    return &R.sampler;
}

void mt_rec_sampler_unlock(void) { pthread_mutex_unlock(&R.sampler_lock); }

int mt_thread_create(pthread_t *th, void *(*fn)(void *), void *arg) {
    /* Every signal blocked: a new thread inherits the creator's mask, and a
     * process-directed signal goes to any thread that does not block it. A
     * program that blocks SIGTERM and takes it with sigwait(), or that
     * expects SIGINT in the main thread, must not have it delivered to a
     * recorder thread (default action: the process dies). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- Test hook ---------------------------------------------------------- */

/* TEST ONLY (_memtrace._test_hold_lock, tests/python/test_lifecycle.py):
 * a detached thread takes the named lock, holds it for hold_ns and lets it
 * go; the call returns once the lock is held. Makes "a recorder thread holds
 * a lock at the moment of fork" happen every time instead of by chance. */
typedef struct {
    pthread_mutex_t *m;
    uint64_t ns;
    pthread_mutex_t ready_lock;
    pthread_cond_t ready;
    int held;
} hold_arg;

static void *hold_main(void *p) {
    hold_arg *a = p;
    mt_tls_guard = MT_GUARD_CORE;
    pthread_mutex_lock(a->m);
    uint64_t ns = a->ns;
    pthread_mutex_t *m = a->m;
    pthread_mutex_lock(&a->ready_lock);
    a->held = 1;
    pthread_cond_signal(&a->ready);
    pthread_mutex_unlock(&a->ready_lock); /* a is the caller's: gone after this */
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
    pthread_mutex_unlock(m);
    return NULL;
}

int mt_rec_test_hold_lock(const char *name, uint64_t hold_ns) {
    pthread_mutex_t *m = strcmp(name, "pool") == 0      ? &R.pool_lock
                         : strcmp(name, "reg") == 0     ? &R.reg_lock
                         : strcmp(name, "defs") == 0    ? &R.defs_lock
                         : strcmp(name, "sampler") == 0 ? &R.sampler_lock
                         : strcmp(name, "nogil") == 0   ? &R.nogil_lock
                         : strcmp(name, "addrset") == 0 ? mt_addrset_test_lock()
                         : strcmp(name, "procwatch") == 0 ? mt_procwatch_test_lock()
                                                          : NULL;
    if (!m) return MT_ERR_ARG;
    hold_arg a = {m, hold_ns, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    pthread_t th;
    MT_GUARD_ENTER(MT_GUARD_CORE);
    int rc = mt_thread_create(&th, hold_main, &a);
    MT_GUARD_LEAVE();
    if (rc != 0) return MT_ERR_NOMEM;
    pthread_detach(th);
    pthread_mutex_lock(&a.ready_lock);
    while (!a.held) pthread_cond_wait(&a.ready, &a.ready_lock);
    pthread_mutex_unlock(&a.ready_lock);
    return 0;
}

int mt_rec_failed(void) { return atomic_load(&R.failed); }

/* ---- Around os.fork() (3.12+) ---------------------------------------------
 * CPython 3.12+ warns (DeprecationWarning) in the parent of a fork when the
 * process has other threads, counting them from /proc just after fork():
 * the recorder's writer and sampler would make every program that forks
 * get a warning it does not get bare (with -W error, an exception). So the
 * package's before-fork hook stops them (the writer writes what is queued
 * first) and its after-fork hook in the parent starts them again; the
 * recording itself goes on (threads keep their buffers; a thread that needs
 * one meanwhile finds the pool or drops and counts).
 *
 * The caller holds the GIL and keeps it: releasing it here would let other
 * threads run between os.fork()'s checks and fork() itself, e.g. the main
 * thread entering finalization, so that the child would be born finalizing
 * and refuse to start threads (CPython's test_threading
 * test_3_join_in_forked_from_thread). Only when the writer is in its GIL
 * fallback (no membarrier) is the GIL released, through release/take. */
/* Between the before-fork hook and the parent's after-fork hook: nothing
 * starts the threads again (3.13 counts threads after the hooks have run:
 * they are started later, by a pending call or by the first thread that
 * needs a buffer). */
static _Atomic int in_fork;
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER; /* resume */

/* pthread_join returns once the kernel has cleared the thread's id, which
 * is a little before the thread leaves the thread count that 3.12+ reads
 * from /proc after fork(): on a busy machine, 3 forks in 150 warned. Wait
 * until the kernel no longer knows the thread (at most 50 ms). */
static void wait_gone(_Atomic pid_t *tidp) {
    pid_t tid = atomic_exchange(tidp, 0), pid = getpid();
    for (int i = 0; tid > 0 && i < 5000; i++) {
        if (syscall(SYS_tgkill, pid, tid, 0) != 0) return; /* ESRCH: gone */
        struct timespec ts = {0, 10000};
        nanosleep(&ts, NULL);
    }
}

void mt_rec_pause_threads(void *(*release)(void), void (*take)(void *)) {
    MT_GUARD_ENTER(MT_GUARD_CORE);
    /* Still paused from the last fork (restarted lazily): nothing may start
     * them again until this fork's parent hook, or a writer would run
     * during fork() and the child inherit it mid-work. */
    pthread_mutex_lock(&pause_lock);
    if (R.paused) atomic_store(&in_fork, 1);
    pthread_mutex_unlock(&pause_lock);
    /* Not when the writer could not be started again after a fork (no
     * thread would say it is done), nor while another thread pauses (it
     * let the GIL go for the writer; the recorder's locks are safe across
     * fork all the same: see "fork"). */
    if (R.writer_running && !R.writer_gone && !R.paused && !R.pausing) {
        R.paused_sampler = R.sampler_running;
        if (R.sampler_running) { /* never waits for the GIL */
            pthread_mutex_lock(&R.sampler_lock);
            R.sampler_stop = 1;
            pthread_cond_signal(&R.sampler_wake);
            pthread_mutex_unlock(&R.sampler_lock);
            pthread_join(R.sampler_thread, NULL);
            wait_gone(&R.sampler_tid);
            R.sampler_running = 0;
        }
        void *gil = NULL;
        int released = 0;
        pthread_mutex_lock(&R.pool_lock);
        R.pausing = 1;
        R.writer_done = 0;
        pthread_cond_signal(&R.wake);
        pthread_cond_broadcast(&R.freed); /* waiting threads: drop instead */
        while (!R.writer_done) {
            if (!released && release && atomic_load(&writer_wants_gil)) {
                pthread_mutex_unlock(&R.pool_lock);
                gil = release();
                released = 1;
                pthread_mutex_lock(&R.pool_lock);
                continue;
            }
            struct timespec ts;
            deadline_after(&ts, 1000000); /* 1 ms: look at writer_wants_gil */
            pthread_cond_timedwait(&R.freed, &R.pool_lock, &ts);
        }
        pthread_mutex_unlock(&R.pool_lock);
        pthread_join(R.writer_thread, NULL);
        wait_gone(&R.writer_tid);
        if (released && take) take(gil);
        pthread_mutex_lock(&R.pool_lock);
        atomic_store(&in_fork, 1);
        R.paused = 1;
        R.pausing = 0;
        pthread_mutex_unlock(&R.pool_lock);
    }
    MT_GUARD_LEAVE();
}

void mt_rec_fork_done(void) { atomic_store(&in_fork, 0); }

void mt_rec_resume_threads(void) {
    /* Never in a child that inherited the session before its after-fork
     * hook forgot it: its threads would write into the parent's file. */
    if (!R.paused || atomic_load(&in_fork) || R.owner_pid != getpid()) return;
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&pause_lock);
    if (R.paused && !atomic_load(&in_fork)) {
        pthread_mutex_lock(&R.pool_lock);
        R.paused = 0;
        pthread_mutex_unlock(&R.pool_lock);
        if (mt_thread_create(&R.writer_thread, writer_main, NULL) != 0) {
            /* No writer: nothing more reaches the disk, said once; stop()
             * finishes the file without joining it. */
            R.writer_gone = 1;
            report_failure(MT_ERR_NOMEM);
        }
        R.sampler_stop = 0;
        R.sampler_running = R.paused_sampler &&
            mt_thread_create(&R.sampler_thread, sampler_main, NULL) == 0;
    }
    pthread_mutex_unlock(&pause_lock);
    MT_GUARD_LEAVE();
}

void mt_rec_stats_get(mt_rec_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&R.pool_lock);
    out->events_lost = R.lost_events;
    out->alloc_records = R.alloc_records;
    out->buffers_max = R.nbufs_max_seen;
    out->waits = R.waits;
    out->stalled = R.stalled_at != 0 && R.stalled_at == R.released + 1;
    out->fd_reopened = R.file.reopened;
    out->steal = R.steal_ok;
    pthread_mutex_unlock(&R.pool_lock);
    out->error = R.failed;
}

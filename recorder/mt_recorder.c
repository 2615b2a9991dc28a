/*
 * mt_recorder.c - the plain-C core of the recorder, its data path: buffers,
 * the pool and the writer's queue, events off the fast path, threads,
 * definitions. The session around it (files, the writer and sampler
 * threads, start, stop, fork) is mt_session.c; what both share, mt_core.h.
 * See mt_recorder.h for the threading model and the memory bound.
 */
#include "mt_core.h"
#include "mt_procwatch.h"
#include "mt_addrset.h"

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
#ifdef __linux__
#include <linux/membarrier.h>
#endif

mt_recorder mt_rec = {.statm_fd = -1};
mt_clock_owner_line mt_alloc_clock_owner;
MT_TLS mt_tstate *mt_tls;
MT_TLS uint64_t mt_tls_gen;
MT_TLS int mt_tls_guard;
MT_TLS int64_t mt_tls_sample_left;
MT_TLS uint64_t mt_tls_rng;
MT_TLS int mt_tls_exited;
MT_TLS int mt_tls_holds_nogil; /* see mt_core.h */

/* The session's state: mt_core.h. */
MT_INTERNAL mt_core R;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *unused);
static void on_thread_exit_record(void);
static void make_exit_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

void mt_core_exit_key_set(void) {
    pthread_once(&exit_key_once, make_exit_key);
    pthread_setspecific(exit_key, (void *)1);
}

/* ---- RSS ---------------------------------------------------------------- */

/* /proc/self/statm into b: through the kept descriptor (rss="exact",
 * read at every event) or opened for this read (~2 us more, every sampling
 * interval): a descriptor kept open for the whole run would be one the
 * program can see, count and close (CPython's own tests list a child's
 * descriptors). Returns the length, or <= 0. */
ssize_t statm_read(char *b, size_t cap) {
    int fd = mt_rec.statm_fd;
    int own = 0;
    if (fd < 0) {
        fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        own = 1;
    }
    ssize_t n = pread(fd, b, cap - 1, 0);
    if (own) close(fd);
    if (n > 0) b[n] = 0;
    return n;
}

uint64_t mt_rss_read(void) {
    char b[128];
    ssize_t n = statm_read(b, sizeof b);
    if (n <= 0) return 0;
    unsigned long long vms = 0, res = 0;
    if (sscanf(b, "%llu %llu", &vms, &res) != 2) return 0;
    uint64_t ps = mt_rec.page_size ? mt_rec.page_size : (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t rss = (uint64_t)res * ps;
    atomic_store_explicit(&mt_rec.rss_now, rss, memory_order_relaxed);
    uint64_t peak = atomic_load_explicit(&mt_rec.rss_peak, memory_order_relaxed);
    while (rss > peak &&
           !atomic_compare_exchange_weak(&mt_rec.rss_peak, &peak, rss)) {
    }
    return rss;
}

uint64_t mt_rss_peak_process(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux: KiB */
}

/* ---- Pool and queue ----------------------------------------------------- */

/* Most a thread waits for a buffer before it drops its event: long enough
 * for any burst a healthy writer can absorb, short enough that a stuck disk
 * does not hang the program. */
#define MT_WAIT_MAX_NS (10ull * 1000000000ull)
static uint64_t wait_max_ns = MT_WAIT_MAX_NS; /* tests may shorten it */
void mt_rec_test_set_wait_max_ns(uint64_t ns) { wait_max_ns = ns; }


/* A buffer of at least min_bytes (0: the pool's size), from the free list or
 * new within the byte budget; NULL if none. may_wait: wait for the writer to
 * free one (backpressure) while recording goes on. */
static mt_buf *buf_get(size_t min_bytes, int may_wait) {
    mt_buf *b = NULL;
    size_t size = R.cfg.buffer_bytes;
    int oversize = 0;
    if (min_bytes > size) {
        size = (min_bytes + 4095) & ~(size_t)4095;
        oversize = 1;
    }
    struct timespec deadline;
    int have_deadline = 0;
    pthread_mutex_lock(&R.pool_lock);
    for (;;) {
        if (!oversize && R.free_list) {
            b = R.free_list;
            R.free_list = b->next;
            break;
        }
        /* Room for a new one: pooled buffers nobody uses are given back
         * first when a buffer made to measure is needed. */
        while (oversize && R.free_list && R.bytes_used + size > R.bytes_budget) {
            mt_buf *f = R.free_list;
            R.free_list = f->next;
            R.bytes_used -= f->cap_bytes;
            R.nbufs--;
            free(f->data);
            free(f);
        }
        if (R.bytes_used + size <= R.bytes_budget ||
            (oversize && size > R.bytes_budget && R.bytes_used == 0)) {
            b = malloc(sizeof *b);
            if (b) b->data = malloc(size);
            if (b && !b->data) {
                free(b);
                b = NULL;
            }
            if (b) {
                b->cap_bytes = size;
                b->oversize = oversize;
                R.nbufs++;
                R.bytes_used += size;
                if (R.nbufs > R.nbufs_max_seen) R.nbufs_max_seen = R.nbufs;
            }
            break;
        }
        if (!may_wait || atomic_load(&R.failed) || !atomic_load(&mt_rec.active) || R.stopping ||
            R.pausing || R.paused) /* (no writer around a fork: drop, counted) */
            break;
        /* A wait already timed out and the writer has freed nothing since
         * (a hung disk): drop at once, do not freeze the program again. */
        if (R.stalled_at && R.stalled_at == R.released + 1) break;
        if (!have_deadline) {
            if (!wait_max_ns) break;
            deadline_after(&deadline, wait_max_ns);
            have_deadline = 1;
            R.waits++;
        }
        R.want_buffers = 1;
        pthread_cond_signal(&R.wake);
        if (pthread_cond_timedwait(&R.freed, &R.pool_lock, &deadline) == ETIMEDOUT) {
            R.stalled_at = R.released + 1;
            break;
        }
    }
    pthread_mutex_unlock(&R.pool_lock);
    if (b) {
        b->next = NULL;
        b->len_bytes = 0;
        b->nrecords = 0;
    }
    return b;
}

/* Give buffers back (writer): pooled ones to the free list, those made to
 * measure to the allocator; wake threads waiting for one. */
void buf_release(mt_buf *q) {
    if (!q) return;
    pthread_mutex_lock(&R.pool_lock);
    while (q) {
        mt_buf *n = q->next;
        if (q->oversize) {
            R.bytes_used -= q->cap_bytes;
            R.nbufs--;
            free(q->data);
            free(q);
        } else {
            q->next = R.free_list;
            R.free_list = q;
        }
        q = n;
    }
    R.released++;
    pthread_cond_broadcast(&R.freed);
    pthread_mutex_unlock(&R.pool_lock);
}

void buf_free_list(mt_buf *b) {
    while (b) {
        mt_buf *n = b->next;
        free(b->data);
        free(b);
        b = n;
    }
}

/* Close t's buffer and queue it for the writer (nothing if it is empty). */
void tstate_queue(mt_tstate *t) {
    mt_buf *b = t->buf;
    if (!b) return;
    b->len_bytes = (size_t)(t->pos - b->data);
    b->nrecords = t->nrec;
    b->t_last = t->last_ticks - mt_rec.anchor_ticks;
    t->buf = NULL;
    t->pos = t->end = NULL;
    t->nrec = 0;
    pthread_mutex_lock(&R.pool_lock);
    R.events_queued += b->nrecords;
    if (R.q_tail) R.q_tail->next = b;
    else R.q_head = b;
    R.q_tail = b;
    b->next = NULL;
    pthread_cond_signal(&R.wake);
    pthread_mutex_unlock(&R.pool_lock);
}

static void note_lost(mt_tstate *t, size_t bytes) {
    t->lost_events++;
    t->lost_bytes += bytes;
    if (MT_PROBE_ON(lost)) MT_PROBE1(lost, t->lost_events);
}

static int tstate_refill(mt_tstate *t, uint64_t now, size_t need_bytes);

int mt_tstate_refill(mt_tstate *t, uint64_t now, size_t need_bytes) {
    /* It allocates (a buffer, a deep stack): a native allocation hook must
     * not come back into this thread's half-made buffer. */
    MT_GUARD_ENTER(MT_GUARD_CORE);
    int rc = tstate_refill(t, now, need_bytes);
    MT_GUARD_LEAVE();
    return rc;
}

static int tstate_refill(mt_tstate *t, uint64_t now, size_t need_bytes) {
    /* The writer was stopped around a fork and not started yet. */
    if (__builtin_expect(R.paused, 0) && t != &R.sampler) mt_rec_resume_threads();
    if (t->buf) tstate_queue(t);
    if (R.failed) return 0;
    /* The BLOCK carries the frames whose CALL the reader has seen. */
    uint32_t n = 0, small[64], *fids = t->fids;
    if (t->nunwritten == 0) {
        n = t->depth;
    } else {
        fids = t->depth - t->nunwritten <= 64 ? small
                                              : malloc(sizeof *fids * t->depth);
        if (!fids) {
            note_lost(t, MT_MAX_COMPACT_BYTES);
            return 0;
        }
        for (uint32_t i = 0; i < t->depth; i++)
            if (t->flags[i] & MT_FR_WRITTEN) fids[n++] = t->fids[i];
    }
    /* Positions (alloc mode, where every frame is written). */
    const uint32_t *offs = mt_rec.positions && t->nunwritten == 0 ? t->offs : NULL;
    size_t want = mt_enc_block_pos_bound(n) + 48 /* LOST */ + need_bytes + MT_BUF_RESERVE;
    /* A BLOCK that would take more than half a pooled buffer (a stack some
     * ten thousand frames deep): a buffer made to measure, with a pooled
     * buffer's room for events after the BLOCK. */
    size_t min_bytes = want * 2 > R.cfg.buffer_bytes ? want + R.cfg.buffer_bytes : 0;
    /* The sampler's stream does not wait (the writer takes sampler_lock);
     * nor does a thread holding nogil_lock (the writer takes it too). */
    /* Without membarrier the writer needs the GIL that a waiting thread
     * may hold: no waiting then. */
    mt_buf *b = buf_get(min_bytes, R.steal_ok && t != &R.sampler && !mt_tls_holds_nogil);
    if (!b) {
        note_lost(t, MT_MAX_COMPACT_BYTES);
        if (fids != t->fids && fids != small) free(fids);
        return 0;
    }
    uint64_t t_abs = now - mt_rec.anchor_ticks;
    if (now < mt_rec.anchor_ticks) t_abs = 0;
    uint8_t *p = mt_enc_block_pos(b->data, t->tid, t_abs, fids, offs, n);
    if (fids != t->fids && fids != small) free(fids);
    t->nrec = 1;
    if (t->lost_events) {
        p = mt_enc_lost(p, 0, t->lost_events, t->lost_bytes, MT_LOST_BUFFER_FULL);
        t->nrec++;
        pthread_mutex_lock(&R.pool_lock);
        R.lost_events += t->lost_events;
        pthread_mutex_unlock(&R.pool_lock);
        t->lost_events = t->lost_bytes = 0;
    }
    b->t_first = t_abs;
    t->buf = b;
    t->pos = p;
    t->end = b->data + b->cap_bytes - MT_BUF_RESERVE;
    if (now > t->last_ticks) t->last_ticks = now;
    t->prev_line = 0;
    t->prev_rss = 0;
    t->prev_addr = 0;
    return 1;
}

int mt_tstate_grow(mt_tstate *t) {
    MT_GUARD_ENTER(MT_GUARD_CORE);
    int ok = 0;
    uint32_t cap = t->cap ? t->cap * 2 : 256;
    uint32_t *f = realloc(t->fids, sizeof *f * cap);
    if (!f) goto out;
    t->fids = f;
    uint8_t *fl = realloc(t->flags, cap);
    if (!fl) goto out;
    t->flags = fl;
    void **k = realloc(t->keys, sizeof *k * cap);
    if (!k) goto out;
    t->keys = k;
    k = realloc(t->codes, sizeof *k * cap);
    if (!k) goto out;
    t->codes = k;
    f = realloc(t->offs, sizeof *f * cap);
    if (!f) goto out;
    t->offs = f;
    t->cap = cap;
    ok = 1;
out:
    MT_GUARD_LEAVE();
    return ok;
}

/* ---- Events off the fast path ------------------------------------------ */

void mt_rec_exact_rss(mt_tstate *t, uint64_t now) {
    uint64_t rss = mt_rss_read();
    if (rss == t->prev_rss || !rss) return;
    /* Room: the hot path checked against end, which keeps MT_BUF_RESERVE
     * free for this record. */
    t->pos = mt_enc_rss(t->pos, mt_dt(t, now), rss, &t->prev_rss);
    t->nrec++;
}

int mt_rec_should_write(mt_tstate *t, uint64_t now) {
    (void)now;
    if (!mt_rec.rss_trigger) return 1;
    uint64_t rss = mt_rec.rss_exact
                       ? mt_rss_read()
                       : atomic_load_explicit(&mt_rec.rss_now, memory_order_relaxed);
    uint64_t d = rss > t->last_rss_written ? rss - t->last_rss_written
                                           : t->last_rss_written - rss;
    if (t->last_rss_written && d < mt_rec.rss_trigger) return 0;
    t->last_rss_written = rss;
    return 1;
}

/* Write the CALL of every eligible frame not yet written, oldest first. */
static void flush_lazy(mt_tstate *t, uint64_t now) {
    for (uint32_t i = t->lazy_lo; i < t->depth; i++) {
        uint8_t fl = t->flags[i];
        if ((fl & (MT_FR_ELIGIBLE | MT_FR_WRITTEN)) != MT_FR_ELIGIBLE) continue;
        if (mt_room(t, now)) {
            t->pos = (fl & MT_FR_C) ? mt_enc_ccall(t->pos, mt_dt(t, now), t->fids[i])
                                    : mt_enc_call(t->pos, mt_dt(t, now), t->fids[i]);
            t->nrec++;
        }
        /* Marked written even when dropped: the next BLOCK carries it. */
        t->flags[i] = (uint8_t)(fl | MT_FR_WRITTEN);
        t->nunwritten--;
    }
    t->lazy_lo = t->depth;
}

void mt_rec_flush_lazy(mt_tstate *t) {
    mt_own(t);
    flush_lazy(t, mt_clock_raw());
    mt_unown(t);
}

void mt_rec_enter_filtered(mt_tstate *t, uint32_t fid, unsigned frflags) {
    uint32_t d = t->depth;
    int eligible = (frflags & MT_FR_ELIGIBLE) &&
                   (mt_rec.max_depth == 0 || d < mt_rec.max_depth);
    t->fids[d] = fid;
    t->offs[d] = 0;
    t->flags[d] = (uint8_t)((frflags & MT_FR_C) | (eligible ? MT_FR_ELIGIBLE : 0));
    t->depth = d + 1;
    t->nunwritten++;
    if (!eligible) return;
    if (t->lazy_lo > d) t->lazy_lo = d;
    uint64_t now = mt_clock_raw();
    if (!mt_rec_should_write(t, now)) return;
    flush_lazy(t, now);
    if (mt_rec.rss_exact && t->pos) mt_rec_exact_rss(t, now);
}

void mt_rec_line_filtered(mt_tstate *t, uint32_t line) {
    if (t->depth && !(t->flags[t->depth - 1] & MT_FR_ELIGIBLE)) return;
    uint64_t now = mt_clock_raw();
    if (!mt_rec_should_write(t, now)) return;
    flush_lazy(t, now);
    if (mt_room(t, now)) {
        t->pos = mt_enc_line(t->pos, mt_dt(t, now), line, &t->prev_line);
        t->nrec++;
        if (mt_rec.rss_exact) mt_rec_exact_rss(t, now);
    }
}

void mt_rec_leave_slow(mt_tstate *t, int type) {
    int want_c = (type == MT_REC_CRETURN || type == MT_REC_CRAISE);
    if (t->depth == 0) return; /* began mid-stack or a mismatch: tolerated */
    if (want_c) return;        /* a C return whose call we did not see */
    /* A Python frame ends while C frames sit on top: their returns were
     * lost (e.g. profiling switched mid-call); close them first. */
    while (t->depth && (t->flags[t->depth - 1] & MT_FR_C))
        mt_rec_leave(t, MT_REC_CRETURN);
    if (t->depth) mt_rec_leave(t, type);
}

void mt_rec_raise(mt_tstate *t, uint32_t sid) {
    if (mt_rec.filtering) {
        if (t->depth && !(t->flags[t->depth - 1] & MT_FR_ELIGIBLE)) return;
        if (!mt_rec_should_write(t, 0)) return;
    }
    mt_own(t);
    uint64_t now = mt_clock_raw();
    if (mt_rec.filtering) flush_lazy(t, now);
    if (mt_room(t, now)) {
        t->pos = mt_enc_raise(t->pos, mt_dt(t, now), sid);
        t->nrec++;
    }
    mt_unown(t);
}

#define MT_MARKER_MAX_BYTES 8192 /* longer markers are truncated */

void mt_rec_marker(mt_tstate *t, const char *text, size_t len) {
    if (len > MT_MARKER_MAX_BYTES) len = MT_MARKER_MAX_BYTES;
    if (MT_PROBE_ON(marker)) MT_PROBE2(marker, text, len);
    mt_own(t);
    uint64_t now = mt_clock_raw();
    size_t need = mt_enc_text_bound(len);
    if (t->pos && (size_t)(t->end + MT_BUF_RESERVE - t->pos) >= need + MT_BUF_RESERVE) {
        t->pos = mt_enc_marker(t->pos, mt_dt(t, now), text, len);
        t->nrec++;
    } else if (mt_tstate_refill(t, now, need)) {
        t->pos = mt_enc_marker(t->pos, mt_dt(t, now), text, len);
        t->nrec++;
    }
    mt_unown(t);
}

void mt_rec_push_synthetic(mt_tstate *t, uint32_t fid, unsigned frflags) {
    if (t->depth == t->cap && !mt_tstate_grow(t)) return;
    /* Not yet in any BLOCK: close the current buffer so the next BLOCK
     * carries the frame. Only done at thread start, before any event. */
    mt_own(t);
    if (t->buf) tstate_queue(t);
    mt_unown(t);
    t->fids[t->depth] = fid;
    t->flags[t->depth] = (uint8_t)((frflags & MT_FR_C) | MT_FR_WRITTEN | MT_FR_ELIGIBLE);
    t->keys[t->depth] = t->codes[t->depth] = NULL;
    t->offs[t->depth] = 0;
    t->depth++;
    t->lazy_lo = t->depth;
}

/* ---- Threads ------------------------------------------------------------ */

mt_tstate *mt_tstate_new(uint64_t native_id) {
    if (!atomic_load(&mt_rec.active) || mt_tls_exited) return NULL;
    MT_GUARD_ENTER(MT_GUARD_CORE);
    mt_tstate *t = calloc(1, sizeof *t);
    if (!t) {
        MT_GUARD_LEAVE();
        return NULL;
    }
    t->native_id = native_id;
    t->gen = mt_rec.gen;
    t->last_ticks = mt_clock_raw();
    pthread_mutex_lock(&R.reg_lock);
    t->tid = ++R.next_tid;
    t->next = R.threads;
    R.threads = t;
    pthread_mutex_unlock(&R.reg_lock);
    mt_tls = t;
    mt_tls_gen = mt_rec.gen;
    mt_core_exit_key_set();
    MT_GUARD_LEAVE();
    return t;
}

void mt_tstate_begin(mt_tstate *t) {
    mt_own(t);
    uint64_t now = mt_clock_raw();
    if (mt_tstate_refill(t, now, 32)) {
        t->pos = mt_enc_thread_event(t->pos, MT_REC_THREAD_START, mt_dt(t, now), t->tid);
        t->nrec++;
    }
    mt_unown(t);
}

void mt_tstate_name(mt_tstate *t, const char *name, size_t len) {
    if (len > 1024) len = 1024;
    uint8_t stackbuf[1100];
    uint8_t *p = mt_enc_thread(stackbuf, t->tid, t->native_id, name, len);
    MT_GUARD_ENTER(MT_GUARD_CORE);
    mt_rec_defs_append(stackbuf, (size_t)(p - stackbuf), 1);
    MT_GUARD_LEAVE();
}

void tstate_free(mt_tstate *t) {
    if (t->buf) {
        pthread_mutex_lock(&R.pool_lock);
        t->buf->next = R.free_list;
        R.free_list = t->buf;
        pthread_mutex_unlock(&R.pool_lock);
    }
    R.alloc_records += t->alloc_records;
    free(t->fids);
    free(t->flags);
    free(t->keys);
    free(t->codes);
    free(t->offs);
    if (t != &R.sampler) free(t);
}

/* Threads of the process (/proc/self/task), or -1. */
static int count_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* The thread group's leader is leaving by pthread_exit (a process forked
 * from a thread other than the main one, whose thread function returns in
 * the child): bare, the process would end with it. If the recorder's own
 * threads are all that would be left, they would keep it alive as a zombie
 * for ever: recording stops here, so that the process ends as it would. */
static void leader_exit(void) {
    if ((pid_t)syscall(SYS_gettid) != getpid() || !R.writer_running) return;
    int ours = 1 /* this one */ + R.writer_running + R.sampler_running +
               mt_procwatch_running();
    /* A thread the program has just joined may still be leaving (Python's
     * join returns before the OS thread is gone): give them a moment. */
    int n = count_tasks();
    for (int i = 0; i < 2000 && n > ours; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        n = count_tasks();
    }
    if (n > ours) return; /* other threads of the program run on */
    atomic_store(&mt_rec.active, 0);
    mt_rec_stop(MT_END_EXIT);
}

/* pthread key destructor: the thread is exiting (no Python code runs in it
 * any more). Writes THREAD_END and hands its last buffer to the writer. */
static void on_thread_exit(void *unused) {
    (void)unused;
    on_thread_exit_record();
    leader_exit();
}

static void on_thread_exit_record(void) {
    mt_tstate *t = mt_tls;
    mt_tls_exited = 1; /* later allocations of this thread: not recorded */
    if (!t) return;
    /* Not recorded: frees of the thread's state (native hooks). Taken before
     * reg_lock (lock order: nogil_lock, reg_lock, pool_lock). */
    mt_tls_guard = MT_GUARD_CORE;
    mt_rec_nogil_lock(); /* (and so its THREAD_END does not wait for a buffer) */
    pthread_mutex_lock(&R.reg_lock);
    if (!R.reg_closed && mt_tls_gen == mt_rec.gen && t->gen == mt_rec.gen &&
        atomic_load(&mt_rec.active) && R.owner_pid == getpid()) {
        uint64_t now = mt_clock_raw();
        if (mt_room(t, now)) {
            t->pos = mt_enc_thread_event(t->pos, MT_REC_THREAD_END, mt_dt(t, now), t->tid);
            t->nrec++;
        }
        tstate_queue(t);
        /* Drops not yet in a LOST record: reported at stop. */
        R.exited_lost_events += t->lost_events;
        R.exited_lost_bytes += t->lost_bytes;
        for (mt_tstate **pp = &R.threads; *pp; pp = &(*pp)->next) {
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        }
        tstate_free(t);
    }
    mt_tls = NULL;
    mt_tls_gen = 0;
    pthread_mutex_unlock(&R.reg_lock);
    mt_rec_nogil_unlock();
}

void mt_rec_flush_idle(void) {
    /* The GIL keeps out every thread that holds it; nogil_lock the threads
     * writing their buffers without it. */
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&R.nogil_lock);
    pthread_mutex_lock(&R.reg_lock);
    for (mt_tstate *t = R.threads; t; t = t->next)
        if (t->buf && t->nrec > 1) tstate_queue(t);
    pthread_mutex_unlock(&R.reg_lock);
    pthread_mutex_unlock(&R.nogil_lock);
    MT_GUARD_LEAVE();
}

void mt_rec_nogil_lock(void) {
    pthread_mutex_lock(&R.nogil_lock);
    mt_tls_holds_nogil = 1;
}
void mt_rec_nogil_unlock(void) {
    mt_tls_holds_nogil = 0;
    pthread_mutex_unlock(&R.nogil_lock);
}

void mt_own_wait(mt_tstate *t) {
    /* The writer is taking buffers: it saw busy (ours is up) or took ours
     * before; either way it clears steal within microseconds. */
    while (__atomic_load_n(&t->steal, __ATOMIC_ACQUIRE)) sched_yield();
}

#ifdef __linux__
int membarrier_register(void) {
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return 0;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}
static int membarrier_all(void) {
    return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}
#else
int membarrier_register(void) { return 0; }
static int membarrier_all(void) { return 0; }
#endif

/* The writer's hand-over without the GIL (see mt_recorder.h): every
 * thread's partial buffer whose owner is not inside mt_own is queued.
 * Returns 0 if membarrier failed (nothing was taken). */
int flush_idle_steal(void) {
    int ok;
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&R.nogil_lock);
    pthread_mutex_lock(&R.reg_lock);
    for (mt_tstate *t = R.threads; t; t = t->next) __atomic_store_n(&t->steal, 1, __ATOMIC_RELAXED);
    ok = membarrier_all();
    if (ok)
        for (mt_tstate *t = R.threads; t; t = t->next) {
            if (__atomic_load_n(&t->busy, __ATOMIC_ACQUIRE) != 0 || !t->buf) continue;
            if (t->nrec > 1) {
                tstate_queue(t);
            } else {
                /* Nothing but its BLOCK (the thread got it, then stopped,
                 * e.g. waiting for the GIL that a thread waiting for a
                 * buffer holds): back to the pool, unwritten. */
                mt_buf *b = t->buf;
                t->buf = NULL;
                t->pos = t->end = NULL;
                t->nrec = 0;
                b->next = NULL;
                buf_release(b);
            }
        }
    for (mt_tstate *t = R.threads; t; t = t->next) __atomic_store_n(&t->steal, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&R.reg_lock);
    pthread_mutex_unlock(&R.nogil_lock);
    MT_GUARD_LEAVE();
    return ok;
}

int64_t mt_sample_draw(uint64_t mean_bytes) {
    /* xorshift64*: per thread, seeded from the thread's state address and
     * the clock; quality is ample for sampling. */
    uint64_t x = mt_tls_rng;
    if (!x) x = ((uint64_t)(uintptr_t)&mt_tls_rng * 0x9E3779B97F4A7C15ull) ^ mt_clock_raw() ^ 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    mt_tls_rng = x;
    /* u uniform in (0, 1]: 53 random bits. */
    double u = (double)(((x * 0x2545F4914F6CDD1Dull) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double d = -log(u) * (double)mean_bytes;
    if (d < 1) d = 1;
    if (d > 9.0e18) d = 9.0e18;
    return (int64_t)d;
}

/* ---- Definitions -------------------------------------------------------- */

static int defs_append_locked(const void *bytes, size_t n, uint32_t nrecords) {
    if (R.defs_len + n > R.defs_cap) {
        size_t cap = R.defs_cap ? R.defs_cap * 2 : 65536;
        while (cap < R.defs_len + n) cap *= 2;
        uint8_t *d = realloc(R.defs, cap);
        if (!d) return MT_ERR_NOMEM;
        R.defs = d;
        R.defs_cap = cap;
    }
    memcpy(R.defs + R.defs_len, bytes, n);
    R.defs_len += n;
    R.defs_nrec += nrecords;
    return 0;
}

int mt_rec_defs_append(const void *bytes, size_t n, uint32_t nrecords) {
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&R.defs_lock);
    int rc = defs_append_locked(bytes, n, nrecords);
    pthread_mutex_unlock(&R.defs_lock);
    MT_GUARD_LEAVE();
    return rc;
}

static uint64_t str_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h | 1; /* 0 marks an empty slot */
}

uint32_t mt_rec_string(const char *s, size_t len) {
    if (!s) return 0;
    if (len > 65536) len = 65536;
    uint64_t h = str_hash(s, len);
    uint32_t sid = 0;
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&R.defs_lock);
    if ((R.strs_n + 1) * 2 > R.strs_cap) { /* grow and rehash */
        size_t cap = R.strs_cap ? R.strs_cap * 2 : 1024;
        struct strent *ns = calloc(cap, sizeof *ns);
        if (!ns) goto out;
        for (size_t i = 0; i < R.strs_cap; i++) {
            if (!R.strs[i].hash) continue;
            size_t j = R.strs[i].hash & (cap - 1);
            while (ns[j].hash) j = (j + 1) & (cap - 1);
            ns[j] = R.strs[i];
        }
        free(R.strs);
        R.strs = ns;
        R.strs_cap = cap;
    }
    size_t j = h & (R.strs_cap - 1);
    for (; R.strs[j].hash; j = (j + 1) & (R.strs_cap - 1)) {
        if (R.strs[j].hash == h && R.strs[j].len == len &&
            memcmp(R.strs[j].s, s, len) == 0) {
            sid = R.strs[j].sid;
            goto out;
        }
    }
    char *copy = malloc(len + 1);
    if (!copy) goto out;
    memcpy(copy, s, len);
    copy[len] = 0;
    uint8_t *enc = malloc(mt_enc_text_bound(len));
    if (!enc) {
        free(copy);
        goto out;
    }
    uint32_t new_sid = ++R.next_sid;
    uint8_t *p = mt_enc_string(enc, new_sid, s, len);
    if (defs_append_locked(enc, (size_t)(p - enc), 1) == 0) {
        R.strs[j] = (struct strent){h, new_sid, (uint32_t)len, copy};
        if (new_sid >= R.sid_cap) { /* best effort: the probes' names */
            size_t cap = R.sid_cap ? R.sid_cap * 2 : 1024;
            while (cap <= new_sid) cap *= 2;
            const char **a = realloc(R.sid_text, cap * sizeof *a);
            if (a) {
                memset(a + R.sid_cap, 0, (cap - R.sid_cap) * sizeof *a);
                R.sid_text = a;
                R.sid_cap = cap;
            }
        }
        if (new_sid < R.sid_cap) R.sid_text[new_sid] = copy;
        R.strs_n++;
        sid = new_sid;
    } else {
        free(copy);
    }
    free(enc);
out:
    pthread_mutex_unlock(&R.defs_lock);
    MT_GUARD_LEAVE();
    return sid;
}

uint32_t mt_rec_function(uint32_t kind, uint32_t qualname_sid,
                         uint32_t module_sid, uint32_t file_sid,
                         uint32_t first_line) {
    uint8_t b[MT_ENC_FUNCTION_BOUND];
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&R.defs_lock);
    uint32_t fid = ++R.next_fid;
    uint8_t *p = mt_enc_function(b, fid, kind, qualname_sid, module_sid,
                                 file_sid, first_line);
    if (defs_append_locked(b, (size_t)(p - b), 1) != 0) fid = 0;
    if (fid && fid >= R.fn_cap) { /* best effort: the probes' names */
        size_t cap = R.fn_cap ? R.fn_cap * 2 : 1024;
        while (cap <= fid) cap *= 2;
        struct fnames *a = realloc(R.fn, cap * sizeof *a);
        if (a) {
            memset(a + R.fn_cap, 0, (cap - R.fn_cap) * sizeof *a);
            R.fn = a;
            R.fn_cap = cap;
        }
    }
    if (fid && fid < R.fn_cap) R.fn[fid] = (struct fnames){qualname_sid, file_sid, first_line};
    pthread_mutex_unlock(&R.defs_lock);
    MT_GUARD_LEAVE();
    return fid;
}

int mt_rec_fid_names(uint32_t fid, const char **qual, const char **file, uint32_t *line) {
    int rc = -1;
    pthread_mutex_lock(&R.defs_lock);
    if (fid < R.fn_cap && R.fn[fid].line + R.fn[fid].qual_sid + R.fn[fid].file_sid) {
        const struct fnames *f = &R.fn[fid];
        *qual = f->qual_sid < R.sid_cap && R.sid_text[f->qual_sid] ? R.sid_text[f->qual_sid] : "";
        *file = f->file_sid < R.sid_cap && R.sid_text[f->file_sid] ? R.sid_text[f->file_sid] : "";
        *line = f->line;
        rc = 0;
    }
    pthread_mutex_unlock(&R.defs_lock);
    return rc;
}

void defs_reset(void) {
    free(R.sid_text);
    free(R.fn);
    R.sid_text = NULL;
    R.fn = NULL;
    R.sid_cap = R.fn_cap = 0;
    for (size_t i = 0; i < R.strs_cap; i++) free(R.strs[i].s);
    free(R.strs);
    free(R.defs);
    R.strs = NULL;
    R.strs_cap = R.strs_n = 0;
    R.defs = NULL;
    R.defs_len = R.defs_cap = 0;
    R.defs_nrec = 0;
    R.next_sid = R.next_fid = 0;
}


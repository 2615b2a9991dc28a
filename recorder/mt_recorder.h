/*
 * mt_recorder.h - the plain-C core of the memtrace recorder (no Python.h).
 *
 * The core owns everything that is not CPython-specific: the per-thread
 * buffers and their pool, the writer thread (which owns the mt_writer and is
 * the only thread doing compression and I/O), the RSS sampler thread, the
 * shared definition buffer, and the encoding of events. mt_hooks.c turns
 * interpreter events into calls of the inline functions below.
 *
 * Threads and locks:
 *   - An mt_tstate belongs to one recording thread. Its hot-path fields are
 *     touched by that thread while it holds the GIL, and by the writer's
 *     periodic flush (mt_rec_flush_idle) only while it also holds the GIL
 *     (the flush callback takes it) and the registry lock. The GIL is what
 *     makes the hot path lock-free.
 *   - rec.lock (pool + full queue + registry), rec.defs_lock (definition
 *     buffer) and rec.sampler_lock (the tid-0 sampler buffer) are leaf locks.
 *   - fork: pthread_atfork handlers (registered at the first start) take
 *     every recorder lock before the fork, so a child never inherits one
 *     held by a thread it does not have; the child stops recording until
 *     mt_rec_forget_after_fork (see "fork" in mt_session.c).
 *   - The recorder's threads (writer, sampler, poller) block every signal
 *     (mt_thread_create): signals are the program's.
 *
 * Memory bound: at most max_buffers x buffer_bytes bytes of buffers
 * (default 256 x 64 KiB = 16 MiB) exist at once, whatever the event rate. A
 * thread whose stack is so deep that the BLOCK opening a buffer would not
 * leave room for events gets a buffer made to measure (counted in the same
 * byte budget). When the budget is spent, a recording thread WAITS for the
 * writer to free a buffer (backpressure: a moment's wait is better than a
 * trace that silently lacks a burst of allocations and then shows a wrong
 * heap peak). It gives up, drops and counts the event (a LOST record starts
 * its next buffer, reason MT_LOST_BUFFER_FULL) only if no buffer came back
 * within MT_WAIT_MAX_NS, if it holds a lock the writer may need (the no-GIL
 * allocation path), or for the RSS sampler. Definitions are not bounded by
 * the pool (one FUNCTION + up to three STRINGs per distinct function).
 *
 * Taking buffers without the GIL: every flush interval the writer takes
 * each thread's partial buffer, so that a thread that stopped producing
 * events (a long C call holding the GIL, a sleep, a deadlock) has its
 * events on disk within the interval. The hot path does not lock: the
 * owner raises t->busy around every access to its buffer (mt_own/mt_unown,
 * a plain store and a compiler barrier) and then looks at t->steal; the
 * writer sets every thread's steal, runs membarrier(2) (PRIVATE_EXPEDITED:
 * a full memory barrier on every running thread of the process, which
 * orders the owners' busy stores before their steal loads as seen by the
 * writer), takes the buffers of the threads whose busy is 0 and clears
 * steal; an owner that saw steal set waits for it to clear. This is the
 * asymmetric fence of userspace RCU: the cost sits on the writer's side
 * once a second, not on every event. Where membarrier is missing the
 * writer falls back to taking the buffers with the GIL (flush_idle).
 */
#ifndef MT_RECORDER_H
#define MT_RECORDER_H

#include "memtrace_format.h"
#include "mt_probes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MT_RECORDER_VERSION "0.1.0"

/* Room kept free at the end of each buffer so the hot path checks once per
 * event: one compact event plus one RSS record (exact mode). */
#define MT_BUF_RESERVE (2 * MT_MAX_COMPACT_BYTES + 8)

typedef struct mt_buf {
    struct mt_buf *next; /* queue / free list link (rec.lock) */
    uint8_t *data;
    size_t cap_bytes, len_bytes;
    int oversize; /* made for a BLOCK bigger than buffer_bytes (a deep
                     stack): freed by the writer, never pooled */
    uint32_t nrecords;
    uint64_t t_first, t_last; /* ticks since the anchor */
} mt_buf;

/* Shadow-stack frame flags. */
#define MT_FR_C 1u        /* a C function (CCALL) */
#define MT_FR_WRITTEN 2u  /* its CALL/CCALL record was written */
#define MT_FR_ELIGIBLE 4u /* passes depth/include/exclude filters */

/* Per-function flags cached with the fid (mt_hooks.c). */
#define MT_FN_EXCLUDED 1u

typedef struct mt_tstate {
    /* Ownership of the buffer against the writer thread (see "Taking
     * buffers without the GIL" below): busy is the owning thread's count
     * of open critical sections, steal the writer's request. */
    uint32_t busy;  /* __atomic: owner stores, writer loads */
    uint32_t steal; /* __atomic: writer stores, owner loads */
    /* hot path (owning thread, inside mt_own/mt_unown) */
    uint8_t *pos, *end; /* write position; end = limit minus MT_BUF_RESERVE;
                           both NULL when the thread has no buffer */
    uint64_t last_ticks; /* raw clock reading of the last record */
    uint32_t nrec;       /* records in buf */
    uint32_t prev_line;
    uint64_t prev_rss;   /* block state for RSS records */
    uint64_t prev_addr;  /* block state for ALLOC/FREE/REALLOC records */
    uint32_t depth, cap; /* shadow stack: every frame, written or not */
    uint32_t *fids;
    uint8_t *flags;
    void **keys;         /* alloc mode: identity (frame address) and code of */
    void **codes;        /* each shadow frame, to find what changed (mt_alloc.c) */
    uint32_t *offs;      /* positions on: each frame's instruction offset + 1
                            as last written, 0 unknown (reset at each push) */
    uint32_t pos_level;  /* profile/fast modes: the level with a position */
    uint64_t code_epoch; /* alloc mode: mt_hooks_code_epoch when keys/codes
                            were last compared (mt_alloc.c) */
    uint32_t nunwritten; /* frames on the stack not written */
    uint32_t lazy_lo;    /* every eligible frame below it is written */
    uint64_t last_rss_written; /* rss_trigger: RSS at the last written event */
    uint64_t lost_events, lost_bytes; /* dropped since the last LOST record */
    mt_buf *buf;
    /* identity */
    uint32_t tid;
    uint64_t native_id;
    uint64_t gen; /* session generation this state belongs to */
    uint64_t alloc_records; /* ALLOC/FREE/REALLOC records attempted */
    uint32_t clock_credit;  /* alloc records left before the clock is read */
    uint32_t clock_epoch;   /* mt_rec.epoch at the last clock read */
    int reentry;  /* fast mode: set while the hook runs Python-aware code */
    int hooked;   /* its call hooks have run (mt_hooks.c: only then is a
                     loss of them said in a marker) */
    uint32_t unnamed; /* threading did not know the thread yet: tries left */
    struct mt_tstate *next; /* registry (rec.lock) */
} mt_tstate;

typedef struct mt_rec_config {
    const char *path;
    mt_header header; /* filled by the caller: mt_header_init + Python
                         fields; the core sets clock fields */
    int use_tsc;      /* MT_CLOCK_TSC instead of CLOCK_MONOTONIC */
    uint64_t rss_interval_ns;   /* sampler period; 0 disables the sampler */
    uint64_t flush_interval_ns; /* chunks reach the disk at least this often */
    uint32_t buffer_bytes;      /* per buffer */
    uint32_t max_buffers;       /* pool bound */
    int rss_exact;              /* read RSS at every event */
    uint64_t rss_trigger_bytes; /* 0: write every event */
    uint32_t max_depth;         /* 0: unlimited */
    int filtering;              /* any of rss_trigger, max_depth, include/exclude */
    int positions;              /* LINES tables and POS records (alloc mode) */
    /* Called by the writer thread every flush interval to hand over the
     * partial buffers of idle threads (mt_rec_flush_idle) under whatever lock
     * makes that safe (the GIL). May be NULL. Returns 0 when it could not. */
    int (*flush_idle)(void);
    /* Allocation tracking (mt_alloc.c): 0 off, else the mean sampling
     * distance in bytes (1 = every allocation). Written into the trace as a
     * MARKER (see mt_rec_start) until the format carries it. */
    uint64_t alloc_sample_bytes;
    /* Called once (on the writer thread, no lock held, no GIL) when
     * recording stops by itself because the file cannot be written, so that
     * the hooks can be taken off. May be NULL. */
    void (*on_failure)(void);
    /* Called by the writer thread at each flush deadline when flush_idle
     * was not (no lock held, no GIL), for what must be read with the GIL
     * about once a flush interval (mt_hooks.c: pymalloc's state, queued as
     * a pending call). It must not wait: the writer never waits for the
     * GIL on its normal path. flush_idle, when it ran, took the same
     * reading. May be NULL. */
    void (*every_flush)(void);
} mt_rec_config;

/* Global recorder state. Fields marked (const) are set by mt_rec_start before
 * any hook runs and not changed until mt_rec_stop returns. */
typedef struct mt_recorder {
    _Atomic int active;     /* hooks record only while 1 */
    uint64_t gen;           /* (const) session generation, never 0 in a session */
    int clock_tsc;          /* (const) */
    unsigned tick_shift;    /* (const) raw clock >> tick_shift = ticks */
    uint64_t anchor_ticks;  /* (const) raw clock reading at the anchor */
    uint64_t ticks_per_second; /* (const) the header's */
    int rss_exact;          /* (const) */
    int statm_fd;           /* (const) /proc/self/statm, or -1 */
    uint64_t page_size;     /* (const) */
    int filtering;          /* (const) */
    int positions;          /* (const) LINES and POS records (1.3) */
    uint64_t rss_trigger;   /* (const) */
    uint32_t max_depth;     /* (const) */
    _Atomic uint64_t rss_now;  /* last RSS read by anyone, bytes */
    _Atomic uint64_t rss_peak; /* greatest RSS read during the session */
    _Atomic uint32_t epoch;    /* +1 by the sampler and writer threads at each
                                  wake-up (at least every flush interval) */
} mt_recorder;

extern mt_recorder mt_rec;

/* ---- Session ---------------------------------------------------------- */

/* Open the trace (the header is written at once, so an unwritable path fails
 * here with MT_ERR_IO and errno set) and start the writer and sampler threads.
 * Returns 0 or a negative MT_ERR_* code. */
int mt_rec_start(const mt_rec_config *cfg);

/* Stop: hooks must already be uninstalled or see active == 0. Joins the
 * threads, writes every pending buffer, a SUMMARY and the index. The caller
 * must not hold a lock the flush_idle callback needs (release the GIL).
 * Returns the writer's first error, 0 if none. */
int mt_rec_stop(int reason);

/* In a fork child: forget the parent's session without writing anything to
 * its file, without joining threads that do not exist here. */
void mt_rec_forget_after_fork(void);

/* The calling thread's state: created on first use (tid assigned, THREAD_START
 * written); NULL when not recording or out of memory. */
/* initial-exec: the hot path reads these with one %fs-relative load instead
 * of a __tls_get_addr call. The extension is loaded with dlopen, which glibc
 * allows for a few small initial-exec variables (static TLS surplus). */
#define MT_TLS __attribute__((tls_model("initial-exec"))) _Thread_local
extern MT_TLS mt_tstate *mt_tls;
extern MT_TLS uint64_t mt_tls_gen;

/* Reentrancy guard of the allocation hooks, per thread. Allocator hooks run
 * inside any code that allocates, including the recorder's own: while the
 * guard is up the hooks pass calls through to the real allocator.
 *   MT_GUARD_SYNC: recorder code calling the Python API (naming functions
 *     and threads): allocations are not recorded (they are the recorder's),
 *     frees are (a free of the program's block must not go missing, and the
 *     thread's buffer is between records there).
 *   MT_GUARD_CORE: inside the buffer code, an allocator's own call (pymalloc
 *     reaching PyMem_RawMalloc or mmap), or a recorder thread: nothing is
 *     recorded. The writer and sampler threads keep it up for their life. */
enum { MT_GUARD_SYNC = 1, MT_GUARD_CORE = 2 };
extern MT_TLS int mt_tls_guard;
/* Sampled allocation tracking: bytes to allocate before the next sample
 * (<= 0: draw one), and the thread's random state. */
extern MT_TLS int64_t mt_tls_sample_left;
extern MT_TLS uint64_t mt_tls_rng;
/* Set when the thread's exit handler ran: no new state is made for it. */
extern MT_TLS int mt_tls_exited;
#define MT_GUARD_ENTER(level) int mt_saved_guard_ = mt_tls_guard; mt_tls_guard = (level)
#define MT_GUARD_LEAVE() mt_tls_guard = mt_saved_guard_
mt_tstate *mt_tstate_new(uint64_t native_id);
/* Write THREAD_START (after the hooks named the thread and pushed the frames
 * already running). */
void mt_tstate_begin(mt_tstate *t);
/* Set the calling thread's name (THREAD definition). */
void mt_tstate_name(mt_tstate *t, const char *name, size_t len);

/* The owner's critical section around any use of t's buffer (see "Taking
 * buffers without the GIL" at the top). Nestable. */
void mt_own_wait(mt_tstate *t);
static inline void mt_own(mt_tstate *t) {
    __atomic_store_n(&t->busy, t->busy + 1, __ATOMIC_RELAXED);
    /* The store before the load, as the compiler sees it; membarrier on
     * the writer's side orders them in the processor. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    /* Acquire: the buffer fields are read after steal (a weakly ordered
     * processor must not read a pos the writer has since taken). */
    if (__builtin_expect(__atomic_load_n(&t->steal, __ATOMIC_ACQUIRE) != 0, 0))
        mt_own_wait(t);
}
static inline void mt_unown(mt_tstate *t) {
    /* Release: the buffer's bytes before busy reads 0. */
    __atomic_store_n(&t->busy, t->busy - 1, __ATOMIC_RELEASE);
}

static inline mt_tstate *mt_tstate_get(void) {
    if (__builtin_expect(mt_tls_gen == mt_rec.gen && mt_tls != NULL, 1))
        return mt_tls;
    return NULL;
}

/* Writer-side: hand over every thread's partial buffer. Call with the lock
 * that serialises hooks (the GIL) held. */
void mt_rec_flush_idle(void);

/* ---- Definitions ------------------------------------------------------ */

/* Append encoded definition records (STRING, FUNCTION, THREAD) to the shared
 * definition buffer; they are written before any block queued after this
 * call. Returns 0 or MT_ERR_NOMEM. */
int mt_rec_defs_append(const void *bytes, size_t n, uint32_t nrecords);
/* Define a string; returns its sid (>= 1) or 0 on failure. Dedupes by
 * content (call with the GIL held: the table is not locked). */
uint32_t mt_rec_string(const char *s, size_t len);
/* A function's qualified name, file ("" when unknown) and first line, as
 * defined (for the probes: takes the definitions' lock; the texts live
 * until the recording stops). 0, or -1 for an unknown fid. */
int mt_rec_fid_names(uint32_t fid, const char **qual, const char **file, uint32_t *line);
/* Define a function; returns its fid (>= 1) or 0. */
uint32_t mt_rec_function(uint32_t kind, uint32_t qualname_sid,
                         uint32_t module_sid, uint32_t file_sid,
                         uint32_t first_line);

/* ---- Clock and RSS ---------------------------------------------------- */

/* The recorder's ticks: the TSC or CLOCK_MONOTONIC ns, shifted right by
 * tick_shift so that a tick is about 16 ns. Finer ticks buy nothing a memory
 * profile can use (the hook alone costs more than 16 ns) and cost bytes: the
 * dt fields carry the clock's low-bit jitter, which zstd cannot remove
 * (calls on fib: 1.9 B/event at 1 ns ticks, 1.2 at 16 ns; bench-format). */
static inline uint64_t mt_clock_raw(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (mt_rec.clock_tsc) return __builtin_ia32_rdtsc() >> mt_rec.tick_shift;
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) >> mt_rec.tick_shift;
}

/* Current RSS in bytes from /proc/self/statm (one pread, ~1 us), 0 if
 * unavailable. Updates rss_now/rss_peak. */
uint64_t mt_rss_read(void);
/* Peak RSS of the process (getrusage ru_maxrss), bytes. */
uint64_t mt_rss_peak_process(void);

/* ---- Hot path --------------------------------------------------------- */

/* Slow path: hand the current buffer to the writer and get a new one that
 * starts with a BLOCK (and a LOST record after drops). Returns 0 when none is
 * free: the caller drops its event (counted here). */
int mt_tstate_refill(mt_tstate *t, uint64_t now, size_t need_bytes);
/* A COUNTERS record of the process (tid 0, the sampler's stream) now, from
 * any thread: what only a thread holding the GIL can read (pymalloc's
 * state, mt_hooks.c). 1 written, 0 not recording or no room. */
int mt_rec_counters(const mt_counter *c, uint32_t n);
/* Grow the shadow stack; 0 on failure (the event is ignored). */
int mt_tstate_grow(mt_tstate *t);
/* Filtering path of mt_rec_enter and of line events. */
void mt_rec_enter_filtered(mt_tstate *t, uint32_t fid, unsigned frflags);
/* Write the CALL of every eligible frame not yet written (filtering). */
void mt_rec_flush_lazy(mt_tstate *t);
int mt_rec_should_write(mt_tstate *t, uint64_t now);
void mt_rec_exact_rss(mt_tstate *t, uint64_t now);

static inline uint64_t mt_dt(mt_tstate *t, uint64_t now) {
    uint64_t dt = now > t->last_ticks ? now - t->last_ticks : 0;
    t->last_ticks = now > t->last_ticks ? now : t->last_ticks;
    return dt;
}

static inline int mt_room(mt_tstate *t, uint64_t now) {
    if (__builtin_expect(t->pos != NULL && t->pos < t->end, 1)) return 1;
    return mt_tstate_refill(t, now, 0);
}

/* A frame is entered: fid, kind (MT_FR_C or 0) and whether it passes the
 * function filters (include/exclude). */
static inline void mt_rec_enter_owned(mt_tstate *t, uint32_t fid, unsigned frflags) {
    if (__builtin_expect(t->depth == t->cap, 0) && !mt_tstate_grow(t)) return;
    if (MT_PROBE_ON(function__entry)) mt_probe_function(1, fid);
    if (mt_rec.filtering) {
        mt_rec_enter_filtered(t, fid, frflags);
        return;
    }
    uint64_t now = mt_clock_raw();
    uint32_t d = t->depth;
    t->fids[d] = fid;
    t->offs[d] = 0; /* as the reader's: no position until a POS */
    t->flags[d] = (uint8_t)(frflags | MT_FR_WRITTEN | MT_FR_ELIGIBLE);
    if (mt_room(t, now)) {
        t->pos = (frflags & MT_FR_C) ? mt_enc_ccall(t->pos, mt_dt(t, now), fid)
                                     : mt_enc_call(t->pos, mt_dt(t, now), fid);
        t->nrec++;
        if (mt_rec.rss_exact) mt_rec_exact_rss(t, now);
    } else {
        /* Dropped, but the frame counts as written: the next BLOCK carries
         * it, so the reader's stack stays right. */
    }
    t->depth = d + 1;
    t->lazy_lo = t->depth;
}
static inline void mt_rec_enter(mt_tstate *t, uint32_t fid, unsigned frflags) {
    mt_own(t);
    mt_rec_enter_owned(t, fid, frflags);
    mt_unown(t);
}

/* The top frame is left: type is MT_REC_RETURN, MT_REC_UNWIND, MT_REC_CRETURN
 * or MT_REC_CRAISE. Frames of the other kind on top are popped first (a C
 * return whose call we never saw is ignored). */
void mt_rec_leave_slow(mt_tstate *t, int type);
static inline void mt_rec_leave_owned(mt_tstate *t, int type) {
    uint32_t d = t->depth;
    int want_c = (type == MT_REC_CRETURN || type == MT_REC_CRAISE);
    if (__builtin_expect(d == 0 || ((t->flags[d - 1] & MT_FR_C) != 0) != want_c, 0)) {
        mt_rec_leave_slow(t, type);
        return;
    }
    uint8_t fl = t->flags[d - 1];
    if (MT_PROBE_ON(function__return)) mt_probe_function(0, t->fids[d - 1]);
    if (fl & MT_FR_WRITTEN) {
        uint64_t now = mt_clock_raw();
        if (mt_room(t, now)) {
            t->pos = mt_enc_event(t->pos, type, mt_dt(t, now));
            t->nrec++;
            if (mt_rec.rss_exact) mt_rec_exact_rss(t, now);
        }
    } else {
        t->nunwritten--;
    }
    t->depth = d - 1;
    if (t->lazy_lo > t->depth) t->lazy_lo = t->depth;
}
static inline void mt_rec_leave(mt_tstate *t, int type) {
    mt_own(t);
    mt_rec_leave_owned(t, type);
    mt_unown(t);
}

/* A new line starts in the top frame. */
void mt_rec_line_filtered(mt_tstate *t, uint32_t line);
static inline void mt_rec_line(mt_tstate *t, uint32_t line) {
    mt_own(t);
    if (mt_rec.filtering) {
        mt_rec_line_filtered(t, line);
    } else {
        uint64_t now = mt_clock_raw();
        if (mt_room(t, now)) {
            t->pos = mt_enc_line(t->pos, mt_dt(t, now), line, &t->prev_line);
            t->nrec++;
            if (mt_rec.rss_exact) mt_rec_exact_rss(t, now);
        }
    }
    mt_unown(t);
}

/* An exception was raised in the top frame; sid names its type. */
void mt_rec_raise(mt_tstate *t, uint32_t sid);
/* A marker; never fails visibly (dropped if no buffer). */
void mt_rec_marker(mt_tstate *t, const char *text, size_t len);
/* Push a frame that was already running when recording began (written: it
 * appears in the next BLOCK's stack). */
void mt_rec_push_synthetic(mt_tstate *t, uint32_t fid, unsigned frflags);

/* An ALLOC, FREE or REALLOC record (old_addr 0: ALLOC; size unused for
 * FREE): type is MT_REC_ALLOC, MT_REC_FREE or MT_REC_REALLOC. The caller owns
 * t's buffer (mt_own with the GIL, or mt_rec_nogil_lock) and has the guard
 * up. */
/* The time of an allocation record. Reading the clock (~10 ns for rdtsc
 * here) would cost as much as the rest of the record, so it is read for one
 * allocation record in MT_ALLOC_CLOCK_EVERY, or when the sampler or writer
 * thread has woken since the last reading (every rss_interval, 10 ms by
 * default), or when another thread took an allocation time since (see
 * mt_alloc_clock_owner); the others reuse the thread's last time (dt 0,
 * which also costs next to nothing once compressed). A record's time is
 * thus at most that many allocations or one interval early, never out of
 * order in its thread, and a thread that takes over (the GIL passed from
 * one to another) starts with a time read after the other thread's last:
 * a block freed by one thread and allocated again by the next is freed
 * first in time too, which the readers' heap model relies on across
 * threads (mt_analysis.h, "Order"). */
#define MT_ALLOC_CLOCK_EVERY 16
/* The thread state that last took an allocation time (an identity only,
 * never dereferenced; a state freed and made again at the same address
 * only costs a fresh reading that was due). Alone on its cache line: it is
 * written at each change of thread. */
typedef struct mt_clock_owner_line {
    _Alignas(64) _Atomic(const void *) p; /* the struct is 64 bytes */
} mt_clock_owner_line;
extern mt_clock_owner_line mt_alloc_clock_owner;
static inline uint64_t mt_alloc_now(mt_tstate *t) {
    uint32_t epoch = atomic_load_explicit(&mt_rec.epoch, memory_order_relaxed);
    const void *owner = atomic_load_explicit(&mt_alloc_clock_owner.p, memory_order_relaxed);
    if (__builtin_expect(t->clock_credit != 0 && t->clock_epoch == epoch && owner == t, 1)) {
        t->clock_credit--;
        return t->last_ticks;
    }
    t->clock_credit = MT_ALLOC_CLOCK_EVERY - 1;
    t->clock_epoch = epoch;
    /* The clock first, then the owner, and only if no other thread became
     * owner in between (else the clock again): a thread that sees itself
     * owner has read the clock after every other thread's reading that was
     * recorded before its own. (A thread without the GIL can race one with
     * it; threads that take turns never loop.) */
    uint64_t now = mt_clock_raw();
    while (owner != t && !atomic_compare_exchange_weak_explicit(
                             &mt_alloc_clock_owner.p, &owner, t, memory_order_acq_rel,
                             memory_order_relaxed))
        now = mt_clock_raw();
    return now;
}

static inline void mt_rec_alloc_event(mt_tstate *t, int type, unsigned domain,
                                      uint64_t old_addr, uint64_t addr,
                                      uint64_t size) {
    uint64_t now = mt_alloc_now(t);
    t->alloc_records++;
    if (!mt_room(t, now)) return; /* (a drop: the lost probe says it) */
    uint64_t dt = mt_dt(t, now);
    /* (The caller is inside mt_own: it may have synced the stack.) The
     * probes fire with the record, in its branch: no second dispatch. */
    if (type == MT_REC_ALLOC) {
        if (MT_PROBE_ON(alloc)) MT_PROBE3(alloc, addr, size, (int)domain);
        t->pos = mt_enc_alloc(t->pos, domain, dt, addr, size, &t->prev_addr);
    } else if (type == MT_REC_FREE) {
        if (MT_PROBE_ON(free)) MT_PROBE2(free, addr, (int)domain);
        t->pos = mt_enc_free(t->pos, domain, dt, addr, &t->prev_addr);
    } else {
        if (MT_PROBE_ON(realloc)) MT_PROBE4(realloc, old_addr, addr, size, (int)domain);
        t->pos = mt_enc_realloc(t->pos, domain, dt, old_addr, addr, size, &t->prev_addr);
    }
    t->nrec++;
    if (mt_rec.rss_exact) mt_rec_exact_rss(t, now);
}

/* The lock that makes a thread's buffer its own when it does not hold the
 * GIL (raw-domain and native allocations can come from any thread): taken
 * by those paths and by mt_rec_flush_idle. Never held while waiting for the
 * GIL. A leaf lock except for the pool and registry locks taken under it. */
void mt_rec_nogil_lock(void);
void mt_rec_nogil_unlock(void);

/* Draw the distance to the next sample: exponential with mean mean_bytes. */
int64_t mt_sample_draw(uint64_t mean_bytes);

/* The sampler's stream (tid 0), for the in-process poller (mt_procwatch.c):
 * lock returns its state, to write into with the mt_enc_* encoders (room
 * as mt_rec_marker checks it); NULL (and nothing locked) when no session
 * runs. */
mt_tstate *mt_rec_sampler_lock(void);
void mt_rec_sampler_unlock(void);

/* Statistics for tests and stop(). */
typedef struct mt_rec_stats {
    uint64_t alloc_records; /* attempted, last or current session */
    uint64_t events_lost, bytes_written, records_written, buffers_max;
    uint64_t waits;        /* refills that waited for a free buffer */
    int stalled;           /* a wait timed out and the writer has freed
                              nothing since (a hung disk) */
    uint32_t fd_reopened;  /* the trace's descriptor was lost and reopened */
    int steal;             /* the writer takes buffers without the GIL */
    int error; /* writer's first error */
} mt_rec_stats;
void mt_rec_stats_get(mt_rec_stats *out);
/* The recording stopped by itself (the file cannot be written). */
int mt_rec_failed(void);
/* Around os.fork() on 3.12+ (see mt_session.c): stop the recorder's
 * threads before, start them again after, in the parent; the recording goes
 * on. Call with the GIL: it is kept unless the writer waits for it, then
 * released by release() (returning what take() needs to take it back).
 * No-ops when not recording. */
void mt_rec_pause_threads(void *(*release)(void), void (*take)(void *));
/* The parent's after-fork hook ran: mt_rec_resume_threads may start them
 * (a pending call does; so does the first thread that needs a buffer). */
void mt_rec_fork_done(void);
void mt_rec_resume_threads(void);

/* pthread_create for the recorder's own threads (writer, sampler, poller). */
int mt_thread_create(pthread_t *th, void *(*fn)(void *), void *arg);

/* TEST ONLY: another thread takes the named lock ("pool", "reg", "defs",
 * "sampler", "nogil", "addrset", "procwatch") and holds it for hold_ns;
 * returns 0 once it is held, MT_ERR_ARG for an unknown name. */
int mt_rec_test_hold_lock(const char *name, uint64_t hold_ns);
/* TEST ONLY: how long a thread waits for a free buffer (0: never, as
 * before backpressure); for every later session of the process. */
void mt_rec_test_set_wait_max_ns(uint64_t ns);

#endif /* MT_RECORDER_H */

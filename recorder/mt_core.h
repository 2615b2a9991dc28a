/*
 * mt_core.h - what the two halves of the recorder's core share, and nothing
 * else includes: the session's state (R) and the functions one half calls in
 * the other.
 *
 *   mt_recorder.c  the data path: buffers, the pool and the writer's queue,
 *                  events off the fast path, threads, definitions;
 *   mt_session.c   the session around it: the trace file and /proc
 *                  descriptors, the writer and sampler threads, start and
 *                  stop, fork, and the pause around os.fork().
 *
 * Every name here is hidden (MT_INTERNAL): the extension exports only
 * PyInit__memtrace and what mt_recorder.h declares.
 */
#ifndef MT_CORE_H
#define MT_CORE_H

#include "mt_recorder.h"

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#define MT_INTERNAL __attribute__((visibility("hidden")))

/* Everything below belongs to the session. Locks: pool_lock (free list,
 * queue, counts), reg_lock (thread registry; taken before pool_lock),
 * defs_lock (definition buffer, string table, id counters), sampler_lock
 * (the sampler's tstate; taken before pool_lock). */
typedef struct mt_core {
    mt_rec_config cfg;
    char *path;
    mt_writer *w; /* the writer thread's, between start and stop */
    pid_t owner_pid;

    pthread_mutex_t pool_lock;
    pthread_cond_t wake;      /* writer: queue grew or stopping */
    pthread_cond_t freed;     /* threads waiting for a buffer */
    mt_buf *free_list;
    mt_buf *q_head, *q_tail;  /* full buffers for the writer */
    uint32_t nbufs;           /* buffers allocated */
    uint32_t nbufs_max_seen;
    uint64_t bytes_used, bytes_budget; /* buffer bytes allocated; bound */
    uint64_t waits;           /* refills that waited for the writer */
    uint64_t released;        /* buf_release calls: the writer's progress */
    uint64_t stalled_at;      /* released when a wait last timed out, + 1
                                 (0: none): no new wait until it moves */
    int want_buffers;         /* a thread waits: the writer should take
                                 idle threads' partial buffers now */
    uint64_t lost_events;     /* total dropped, for SUMMARY */
    uint64_t events_queued;   /* records handed to the writer, for SUMMARY */
    int stopping;             /* writer: finish and exit */
    int pausing;              /* writer: exit, the session goes on (fork) */
    int paused_sampler;       /* the sampler ran before mt_rec_pause_threads */
    int paused;               /* writer and sampler stopped around a fork */
    int writer_gone;          /* the writer could not be started again */

    pthread_mutex_t reg_lock;
    mt_tstate *threads;       /* registry */
    uint32_t next_tid;
    int reg_closed;           /* no more thread-exit handling */

    pthread_mutex_t defs_lock;
    uint8_t *defs;
    size_t defs_len, defs_cap;
    uint32_t defs_nrec;
    uint32_t next_sid, next_fid;
    struct strent { uint64_t hash; uint32_t sid, len; char *s; } *strs;
    size_t strs_cap, strs_n;
    /* For the function probes (mt_probes.c): each sid's text (owned by
     * strs), each fid's names. defs_lock. */
    const char **sid_text;
    size_t sid_cap;
    struct fnames { uint32_t qual_sid, file_sid, line; } *fn;
    size_t fn_cap;

    pthread_mutex_t sampler_lock;
    pthread_cond_t sampler_wake;
    int sampler_stop;
    mt_tstate sampler; /* tid 0 */
    int sampler_running, writer_running;
    int writer_done;          /* writer_main returned (pool_lock) */
    pthread_t sampler_thread, writer_thread;
    _Atomic pid_t sampler_tid, writer_tid; /* kernel ids, for wait_gone */

    _Atomic int failed; /* the writer met an error: warned once */
    int steal_ok; /* (const) membarrier registered: the writer takes buffers
                     without the GIL */

    /* The trace file, written by the writer thread alone through
     * trace_sink (writer thread; set up and torn down by start/stop). It
     * is open only while the writer writes (a writer cycle, start, stop):
     * the program never finds a descriptor of ours among its own (CPython's
     * tests list a child's descriptors) and cannot close or reuse one for
     * long. Each opening checks that the path still names this file (dev,
     * ino), and each write that the descriptor still is it; if the file is
     * gone or replaced, recording stops with one warning. Never a write
     * through a descriptor that is not ours. */
    struct {
        int fd;
        dev_t dev;
        ino_t ino;
        uint64_t offset;    /* bytes written: every write is a pwrite here */
        int lost;           /* the file could not be found again: errno */
        uint32_t reopened;  /* times the descriptor had to be reopened */
    } file;

    /* Threads without the GIL writing their own buffer (raw-domain and
     * native allocations) hold it; so does mt_rec_flush_idle. */
    pthread_mutex_t nogil_lock;
    uint64_t alloc_records; /* threads' counts, added when they are freed
                               (reg_lock) */
    uint64_t exited_lost_events, exited_lost_bytes; /* drops of threads that
                               ended before reporting them (reg_lock) */
} mt_core;
extern MT_INTERNAL mt_core R;

/* The thread holds nogil_lock: it must not wait for a buffer (the writer
 * takes that lock before it frees any). */
extern MT_INTERNAL MT_TLS int mt_tls_holds_nogil;

/* Threads' exit handler (mt_recorder.c), set for every recording thread and
 * for the thread that starts a session. */
MT_INTERNAL void mt_core_exit_key_set(void);

/* mt_recorder.c: the pool, threads and definitions. */
MT_INTERNAL void buf_release(mt_buf *q);
MT_INTERNAL void buf_free_list(mt_buf *b);
MT_INTERNAL void tstate_queue(mt_tstate *t);
MT_INTERNAL void tstate_free(mt_tstate *t);
MT_INTERNAL void defs_reset(void);
MT_INTERNAL int flush_idle_steal(void);
MT_INTERNAL int membarrier_register(void);
MT_INTERNAL ssize_t statm_read(char *b, size_t cap);

/* mt_session.c: deadlines, failures, descriptors. */
MT_INTERNAL void deadline_after(struct timespec *ts, uint64_t ns);
MT_INTERNAL void report_failure(int rc);
MT_INTERNAL int fd_move_high(int fd);

#endif

/*
 * mt_procwatch.h - the in-process poller of the recorder (no Python.h).
 *
 * A thread of the recorder core that samples this process - and, with
 * children, every descendant - from /proc at a fixed interval, into the
 * running session's trace: the same records memtrace-poll writes, on the
 * recorder's clock, in the blocks of tid 0 (the sampler's stream):
 *
 *   COUNTERS     this process: rss, vms, shared, swap, peak_rss, minor and
 *                major faults, user and system time, OS threads, and
 *                uss/pss (smaps_rollup) at the rollup interval
 *   PROC_SAMPLE  each descendant, per round (spec 5.3)
 *   PROC_EXIT    a descendant seen at least once is gone; the status is
 *                read from its zombie when possible, else
 *                MT_PROC_STATUS_UNKNOWN (its parent - Python's subprocess
 *                or multiprocessing - reaps it: we never do)
 *   MARKER       mt_procwatch_label: at the moment it is called
 *
 * Every record of one round carries the same time (the round's start), so
 * a reader sums the processes of a round by grouping on t.
 *
 * Why C and not a Python thread: a Python poller holds the GIL while it
 * reads and parses /proc (measured in the final report and in
 * python/memtrace/process.py), i.e. it stops the program for that time at
 * every sample; this thread never takes the GIL except to hand a round to
 * the optional callback (JSON log lines), and its /proc reads reuse open
 * descriptors (mt_procfs.h).
 *
 * Threads: start, stop and label are called by any thread (the module calls
 * stop with the GIL released: the callback may be waiting for it). The
 * poller thread owns its process table; it writes into the sampler's buffer
 * under the recorder's sampler lock. mt_rec_stop stops the poller first.
 */
#ifndef MT_PROCWATCH_H
#define MT_PROCWATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "memtrace_format.h"

/* One descendant as the callback sees it. */
typedef struct mt_procwatch_child {
    uint32_t pid, ppid;
    const char *name, *cmdline; /* NUL-terminated, valid during the call */
    uint32_t n;
    const mt_counter *v;
} mt_procwatch_child;

enum { MT_PROCWATCH_FIRST = 0, MT_PROCWATCH_ROUND = 1, MT_PROCWATCH_LAST = 2 };

/* A round, handed to the callback after its records were written. */
typedef struct mt_procwatch_round {
    int phase;      /* MT_PROCWATCH_*: the first round, others, the last */
    uint64_t t;     /* ticks since the trace's anchor */
    uint32_t nself;
    const mt_counter *self; /* this process's counters (as in COUNTERS) */
    uint32_t nchildren;
    const mt_procwatch_child *children;
    uint32_t nlabels; /* labels given since the previous round, in order */
    const char *const *labels;
    const uint32_t *label_lens;
} mt_procwatch_round;

typedef struct mt_procwatch_config {
    uint64_t interval_ns; /* >= 1 ms */
    uint64_t rollup_ns;   /* uss/pss at most this often (0: never); spaced
                             further when smaps_rollup is slow */
    int children;         /* also watch every descendant */
    /* Called on the poller thread after each round (NULL: none). */
    void (*on_round)(void *ctx, const mt_procwatch_round *r);
    void *ctx;
} mt_procwatch_config;

/* Start the poller in the running session: its first round is taken at
 * once. Returns 0, MT_ERR_STATE (no session, or a poller runs already),
 * MT_ERR_ARG or MT_ERR_NOMEM. */
int mt_procwatch_start(const mt_procwatch_config *cfg);

/* Take a last round, stop and join the poller. Returns 0, or MT_ERR_STATE
 * when none runs. Must not be called with a lock the callback needs. */
int mt_procwatch_stop(void);

int mt_procwatch_running(void);

/* A label: a MARKER now in tid 0 (when a session runs), and, while the
 * poller runs, a label of its next round's callback. Returns 1 when the
 * poller runs, 0 when not, MT_ERR_NOMEM. */
int mt_procwatch_label(const char *text, size_t len);

/* Fork child: the poller thread does not exist here; forget it. */
void mt_procwatch_forget_after_fork(void);

typedef struct mt_procwatch_stats {
    uint64_t rounds;       /* rounds taken by the current or last poller */
    uint64_t cpu_ns;       /* CPU time of the poller thread in them */
    uint64_t children_seen;
    uint64_t samples;      /* COUNTERS + PROC_SAMPLE records written */
} mt_procwatch_stats;
void mt_procwatch_stats_get(mt_procwatch_stats *out);

/* fork (mt_session.c's pthread_atfork handlers): W.lock is taken before,
 * let go in the parent, made anew (with its condition) in the child. */
void mt_procwatch_fork_prepare(void);
void mt_procwatch_fork_parent(void);
void mt_procwatch_fork_child(void);

/* TEST ONLY: the control lock (mt_rec_test_hold_lock). */
pthread_mutex_t *mt_procwatch_test_lock(void);

#endif /* MT_PROCWATCH_H */

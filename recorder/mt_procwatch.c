/*
 * mt_procwatch.c - the in-process poller: this process and its descendants
 * sampled from /proc (poll/mt_procfs.c) into the recorder's trace. See
 * mt_procwatch.h for what is written and why it is C.
 *
 * The process table follows memtrace-poll's rules (poll/memtrace_poll.c),
 * simplified for a poller that is not the parent of what it watches: a
 * descendant is pinned by its open /proc/PID directory (a reused pid can
 * never be mistaken for it), reported gone once (PROC_EXIT), and kept as a
 * zombie entry until its parent reaps it, so that it is not found again.
 * We never reap: the program's subprocess or multiprocessing does.
 */
#define _GNU_SOURCE
#include "mt_procwatch.h"

#include "mt_procfs.h"
#include "mt_recorder.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ull
#define STATUS_EVERY_NS (100 * 1000000ull) /* shared, swap, peak RSS */
#define ROLLUP_BUDGET 400 /* smaps_rollup costs at most 1/400 of a core */
#define CMDLINE_MAX 4096
#define MAX_LABELS 4096   /* queued between two rounds; more are dropped
                             from the callback (their MARKER is written) */

enum { PW_LIVE, PW_ZOMBIE };

typedef struct pwproc {
    mt_procfs_proc h;
    pid_t pid, ppid;
    int state, drop, sampled, had_vm, rollup_off;
    uint64_t threads, first_ns, next_status_ns, next_rollup_ns;
    uint32_t name_sid, cmdline_sid;
    char name[64];
    char *cmdline;
} pwproc;

/* Control (W.lock): running, stopping, labels. The rest is the poller
 * thread's while it runs, and the starter's before and after. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int running, stopping;
    pthread_t thread;
    mt_procwatch_config cfg;
    uint64_t gen; /* the session it belongs to */
    /* labels for the next round's callback (W.lock) */
    char **labels;
    uint32_t *label_lens;
    uint32_t nlabels;
    /* poller thread */
    mt_procfs_proc self;
    int self_rollup_off;
    uint64_t self_next_status_ns, self_next_rollup_ns;
    uint64_t shared, swap, peak, uss, pss;
    int have_status, have_rollup;
    pwproc *procs;
    size_t n, cap;
    mt_pidlist kids;
    uint64_t page_size, ns_per_clk;
    mt_procwatch_stats stats;
} W = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Room for need bytes in the sampler's buffer (as mt_rec_marker does). */
static int room(mt_tstate *t, uint64_t now, size_t need) {
    if (t->pos && (size_t)(t->end + MT_BUF_RESERVE - t->pos) >= need + MT_BUF_RESERVE)
        return 1;
    return mt_tstate_refill(t, now, need);
}

/* ---- The process table (poller thread) --------------------------------- */

static pwproc *find(pid_t pid) {
    for (size_t i = 0; i < W.n; i++)
        if (W.procs[i].pid == pid) return &W.procs[i];
    return NULL;
}

static void add(pid_t pid, pid_t parent, uint64_t now) {
    if (find(pid)) return;
    if (W.n == W.cap) {
        size_t cap = W.cap ? W.cap * 2 : 16;
        pwproc *v = realloc(W.procs, cap * sizeof *v);
        if (!v) return;
        W.procs = v;
        W.cap = cap;
    }
    pwproc *p = &W.procs[W.n];
    memset(p, 0, sizeof *p);
    if (mt_procfs_open(&p->h, pid) < 0) return; /* gone already: missed */
    mt_procfs_stat st;
    /* Still the child of parent: else the pid was reused between the
     * listing and the open. */
    if (mt_procfs_read_stat(&p->h, &st) < 0 || st.ppid != parent) {
        mt_procfs_close(&p->h);
        return;
    }
    p->pid = pid;
    p->ppid = st.ppid;
    p->first_ns = p->next_status_ns = p->next_rollup_ns = now;
    W.n++;
    W.stats.children_seen++;
}

static void compact(void) {
    size_t k = 0;
    for (size_t i = 0; i < W.n; i++) {
        if (W.procs[i].drop) {
            mt_procfs_close(&W.procs[i].h);
            free(W.procs[i].cmdline);
            continue;
        }
        if (k != i) W.procs[k] = W.procs[i];
        k++;
    }
    W.n = k;
}

static void discover(mt_procfs_proc *h, pid_t parent, uint64_t threads, uint64_t now) {
    W.kids.n = 0;
    if (mt_procfs_children(h, threads, &W.kids) < 0) return;
    for (size_t k = 0; k < W.kids.n; k++) add(W.kids.v[k], parent, now);
}

/* ---- One round ---------------------------------------------------------- */

/* What a round produces before it is encoded. */
typedef struct pwsample {
    pwproc *p;       /* valid until the table moves: see pid */
    pid_t pid;
    int exited;      /* PROC_EXIT with status */
    int32_t status;
    uint32_t n;
    mt_counter c[12];
} pwsample;

static uint32_t self_counters(mt_counter *c, uint64_t now) {
    mt_procfs_stat st;
    uint32_t n = 0;
    if (mt_procfs_read_stat(&W.self, &st) < 0) return 0;
    if (now >= W.self_next_status_ns) {
        mt_procfs_status ss;
        if (mt_procfs_read_status(&W.self, &ss) == 0 && ss.has_vm) {
            W.shared = ss.shared_bytes;
            W.swap = ss.swap_bytes;
            W.peak = ss.peak_rss_bytes;
            W.have_status = 1;
        }
        W.self_next_status_ns = now + STATUS_EVERY_NS;
    }
    W.have_rollup = 0;
    if (W.cfg.rollup_ns && !W.self_rollup_off && now >= W.self_next_rollup_ns) {
        uint64_t t0 = mono_ns();
        mt_procfs_rollup ru;
        int rc = mt_procfs_read_rollup(&W.self, &ru);
        if (rc == 0) {
            W.uss = ru.uss_bytes;
            W.pss = ru.pss_bytes;
            W.have_rollup = 1;
        } else if (rc == -EACCES || rc == -EPERM || rc == -ENOENT) {
            W.self_rollup_off = 1;
        }
        /* The read walks every mapping: keep it under 1/ROLLUP_BUDGET of a
         * core whatever the size of the process. */
        uint64_t gap = W.cfg.rollup_ns, cost = mono_ns() - t0;
        if (cost * ROLLUP_BUDGET > gap) gap = cost * ROLLUP_BUDGET;
        W.self_next_rollup_ns = now + gap;
    }
    c[n++] = (mt_counter){MT_CTR_RSS_BYTES, st.rss_pages * W.page_size};
    c[n++] = (mt_counter){MT_CTR_VMS_BYTES, st.vsize_bytes};
    if (W.have_status) c[n++] = (mt_counter){MT_CTR_SHARED_BYTES, W.shared};
    if (W.have_rollup) {
        c[n++] = (mt_counter){MT_CTR_USS_BYTES, W.uss};
        c[n++] = (mt_counter){MT_CTR_PSS_BYTES, W.pss};
    }
    if (W.have_status) {
        c[n++] = (mt_counter){MT_CTR_SWAP_BYTES, W.swap};
        c[n++] = (mt_counter){MT_CTR_PEAK_RSS_BYTES, W.peak};
    }
    c[n++] = (mt_counter){MT_CTR_MINOR_FAULTS, st.minor_faults};
    c[n++] = (mt_counter){MT_CTR_MAJOR_FAULTS, st.major_faults};
    c[n++] = (mt_counter){MT_CTR_USER_NS, st.utime_clk * W.ns_per_clk};
    c[n++] = (mt_counter){MT_CTR_SYSTEM_NS, st.stime_clk * W.ns_per_clk};
    c[n++] = (mt_counter){MT_CTR_THREADS, st.threads};
    if (W.cfg.children) discover(&W.self, getpid(), st.threads, now);
    return n;
}

/* Sample descendant i into *s; returns 0 when there is nothing to write. */
static int child_sample(size_t i, uint64_t now, pwsample *s) {
    pwproc *p = &W.procs[i];
    mt_procfs_stat st;
    int rc = mt_procfs_read_stat(&p->h, &st);
    s->p = p;
    s->pid = p->pid;
    s->exited = 0;
    s->n = 0;
    if (p->state == PW_ZOMBIE) { /* reported; waiting for its reaping */
        if (rc < 0 || (st.state != 'Z' && st.state != 'X')) p->drop = 1;
        return 0;
    }
    int gone = rc == -ESRCH || rc == -ENOENT;
    int zombie = rc == 0 && (st.state == 'Z' || st.state == 'X' ||
                             (st.vsize_bytes == 0 && p->had_vm));
    if (rc < 0 && !gone) return 0; /* unreadable this round */
    if (gone || zombie) {
        /* Reaped already (by its parent, between two rounds): the status
         * is lost. A zombie still holds it (stat field 52). */
        s->status = MT_PROC_STATUS_UNKNOWN;
        if (zombie && st.has_exit_code && WIFEXITED(st.exit_code))
            s->status = WEXITSTATUS(st.exit_code);
        else if (zombie && st.has_exit_code && WIFSIGNALED(st.exit_code))
            s->status = -WTERMSIG(st.exit_code);
        s->exited = p->sampled; /* never sampled: never in the trace */
        if (zombie) p->state = PW_ZOMBIE;
        else p->drop = 1;
        return s->exited;
    }
    p->had_vm |= st.vsize_bytes != 0;
    p->threads = st.threads;
    if (strcmp(st.comm, p->name) != 0 || !p->cmdline || now - p->first_ns < NS_PER_S) {
        /* The name changes at exec; the command line may change without it
         * (python running python): re-read while the process is young. */
        int renamed = strcmp(st.comm, p->name) != 0;
        if (renamed) {
            memcpy(p->name, st.comm, sizeof p->name);
            p->name_sid = mt_rec_string(p->name, strlen(p->name));
        }
        char buf[CMDLINE_MAX];
        size_t len = 0;
        if (mt_procfs_read_cmdline(&p->h, buf, sizeof buf, &len) < 0) len = 0;
        buf[len] = '\0';
        if (!p->cmdline || strcmp(p->cmdline, buf) != 0) {
            char *c = strdup(buf);
            if (c) {
                free(p->cmdline);
                p->cmdline = c;
                p->cmdline_sid = mt_rec_string(buf, len);
            }
        }
    }
    mt_counter *c = s->c;
    uint32_t n = 0;
    c[n++] = (mt_counter){MT_CTR_RSS_BYTES, st.rss_pages * W.page_size};
    c[n++] = (mt_counter){MT_CTR_VMS_BYTES, st.vsize_bytes};
    if (now >= p->next_status_ns) {
        mt_procfs_status ss;
        if (mt_procfs_read_status(&p->h, &ss) == 0 && ss.has_vm) {
            c[n++] = (mt_counter){MT_CTR_SHARED_BYTES, ss.shared_bytes};
            c[n++] = (mt_counter){MT_CTR_SWAP_BYTES, ss.swap_bytes};
            c[n++] = (mt_counter){MT_CTR_PEAK_RSS_BYTES, ss.peak_rss_bytes};
        }
        p->next_status_ns = now + STATUS_EVERY_NS;
    }
    if (W.cfg.rollup_ns && !p->rollup_off && now >= p->next_rollup_ns) {
        uint64_t t0 = mono_ns();
        mt_procfs_rollup ru;
        rc = mt_procfs_read_rollup(&p->h, &ru);
        if (rc == 0) {
            c[n++] = (mt_counter){MT_CTR_USS_BYTES, ru.uss_bytes};
            c[n++] = (mt_counter){MT_CTR_PSS_BYTES, ru.pss_bytes};
        } else if (rc == -EACCES || rc == -EPERM || rc == -ENOENT) {
            p->rollup_off = 1;
        }
        uint64_t gap = W.cfg.rollup_ns, cost = mono_ns() - t0;
        if (cost * ROLLUP_BUDGET > gap) gap = cost * ROLLUP_BUDGET;
        p->next_rollup_ns = now + gap;
    }
    c[n++] = (mt_counter){MT_CTR_MINOR_FAULTS, st.minor_faults};
    c[n++] = (mt_counter){MT_CTR_MAJOR_FAULTS, st.major_faults};
    c[n++] = (mt_counter){MT_CTR_USER_NS, st.utime_clk * W.ns_per_clk};
    c[n++] = (mt_counter){MT_CTR_SYSTEM_NS, st.stime_clk * W.ns_per_clk};
    c[n++] = (mt_counter){MT_CTR_THREADS, st.threads};
    s->n = n;
    p->sampled = 1;
    return 1;
}

static void round_take(int phase) {
    uint64_t cpu0 = thread_cpu_ns();
    uint64_t now_ns = mono_ns();
    mt_counter self[12];
    uint32_t nself = self_counters(self, now_ns);
    pwsample *ss = NULL;
    size_t ns = 0;
    if (W.cfg.children && W.n) {
        /* W.n grows while we go: a new child's children are found in the
         * round that finds it. */
        for (size_t i = 0; i < W.n; i++) {
            if (W.procs[i].drop) continue;
            pwsample s;
            int emit = child_sample(i, now_ns, &s);
            if (!emit) {
                if (W.procs[i].state == PW_LIVE && !W.procs[i].drop)
                    discover(&W.procs[i].h, W.procs[i].pid, W.procs[i].threads, now_ns);
                continue;
            }
            pwsample *v = realloc(ss, (ns + 1) * sizeof *v);
            if (!v) break;
            ss = v;
            ss[ns] = s;
            ns++;
            if (!s.exited) discover(&W.procs[i].h, W.procs[i].pid, W.procs[i].threads, now_ns);
        }
    }
    /* ss[].p pointed into W.procs, which discover() may have moved: find
     * the entries again by pid (unique in the table). */
    for (size_t k = 0; k < ns; k++) ss[k].p = find(ss[k].pid);

    /* Labels for the callback, taken now: those given before this round. */
    pthread_mutex_lock(&W.lock);
    char **labels = W.labels;
    uint32_t *lens = W.label_lens;
    uint32_t nlabels = W.nlabels;
    W.labels = NULL;
    W.label_lens = NULL;
    W.nlabels = 0;
    pthread_mutex_unlock(&W.lock);

    mt_tstate *t = mt_rec_sampler_lock();
    if (t) {
        uint64_t now = mt_clock_raw(); /* ticks, read under the lock: the
                                          stream stays in time order */
        if (nself && room(t, now, mt_enc_counters_bound(nself))) {
            t->pos = mt_enc_counters(t->pos, mt_dt(t, now), self, nself);
            t->nrec++;
            W.stats.samples++;
        }
        for (size_t k = 0; k < ns; k++) {
            pwsample *s = &ss[k];
            if (!s->p) continue;
            if (s->exited) {
                if (room(t, now, 64)) {
                    t->pos = mt_enc_proc_exit(t->pos, mt_dt(t, now), (uint32_t)s->p->pid,
                                              s->status);
                    t->nrec++;
                }
            } else if (room(t, now, mt_enc_counters_bound(s->n) + 20)) {
                t->pos = mt_enc_proc_sample(t->pos, mt_dt(t, now), (uint32_t)s->p->pid,
                                            (uint32_t)s->p->ppid, s->p->name_sid,
                                            s->p->cmdline_sid, s->c, s->n);
                t->nrec++;
                W.stats.samples++;
            }
        }
        uint64_t t_rel = now > mt_rec.anchor_ticks ? now - mt_rec.anchor_ticks : 0;
        mt_rec_sampler_unlock();
        if (W.cfg.on_round) {
            mt_procwatch_child kids[64];
            uint32_t nk = 0;
            for (size_t k = 0; k < ns && nk < 64; k++) {
                if (!ss[k].p || ss[k].exited) continue;
                kids[nk++] = (mt_procwatch_child){(uint32_t)ss[k].p->pid,
                                                  (uint32_t)ss[k].p->ppid, ss[k].p->name,
                                                  ss[k].p->cmdline ? ss[k].p->cmdline : "",
                                                  ss[k].n, ss[k].c};
            }
            mt_procwatch_round r = {phase, t_rel, nself, self, nk, kids, nlabels,
                                    (const char *const *)labels, lens};
            W.cfg.on_round(W.cfg.ctx, &r);
        }
    }
    for (uint32_t i = 0; i < nlabels; i++) free(labels[i]);
    free(labels);
    free(lens);
    free(ss);
    compact();
    uint64_t cpu = thread_cpu_ns() - cpu0;
    pthread_mutex_lock(&W.lock);
    W.stats.rounds++;
    W.stats.cpu_ns += cpu;
    pthread_mutex_unlock(&W.lock);
}

static void *poller_main(void *arg) {
    (void)arg;
    /* Everything this thread does is the recorder's: allocations are not
     * recorded, and no hook makes a thread state for it (the callback runs
     * Python code here; fast mode's frame hook would record it). */
    mt_tls_guard = MT_GUARD_CORE;
    mt_tls_exited = 1;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    round_take(MT_PROCWATCH_FIRST);
    pthread_mutex_lock(&W.lock);
    for (;;) {
        uint64_t ns = (uint64_t)next.tv_nsec + W.cfg.interval_ns;
        next.tv_sec += (time_t)(ns / NS_PER_S);
        next.tv_nsec = (long)(ns % NS_PER_S);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec ||
            (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec))
            next = now; /* overran: the grid restarts from now */
        int rc = 0;
        while (!W.stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&W.wake, &W.lock, &next);
        int stop = W.stopping;
        pthread_mutex_unlock(&W.lock);
        round_take(stop ? MT_PROCWATCH_LAST : MT_PROCWATCH_ROUND);
        pthread_mutex_lock(&W.lock);
        if (stop) break;
    }
    pthread_mutex_unlock(&W.lock);
    return NULL;
}

/* ---- Control ------------------------------------------------------------ */

static int cond_done; /* W.wake made (W.lock) */
static void init_cond(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&W.wake, &ca);
    pthread_condattr_destroy(&ca);
}

int mt_procwatch_start(const mt_procwatch_config *cfg) {
    if (!cfg || cfg->interval_ns < 1000000) return MT_ERR_ARG;
    if (!atomic_load(&mt_rec.active)) return MT_ERR_STATE;
    pthread_mutex_lock(&W.lock);
    if (W.running) {
        pthread_mutex_unlock(&W.lock);
        return MT_ERR_STATE;
    }
    int rc = 0;
    MT_GUARD_ENTER(MT_GUARD_CORE);
    if (!cond_done) {
        init_cond();
        cond_done = 1;
    }
    W.cfg = *cfg;
    W.stopping = 0;
    W.gen = mt_rec.gen;
    memset(&W.stats, 0, sizeof W.stats);
    long ps = sysconf(_SC_PAGESIZE), tck = sysconf(_SC_CLK_TCK);
    W.page_size = ps > 0 ? (uint64_t)ps : 4096;
    W.ns_per_clk = tck > 0 && NS_PER_S % (uint64_t)tck == 0 ? NS_PER_S / (uint64_t)tck
                                                            : NS_PER_S / 100;
    W.self_rollup_off = W.have_status = W.have_rollup = 0;
    W.self_next_status_ns = W.self_next_rollup_ns = 0;
    int prc = mt_procfs_open(&W.self, getpid());
    if (prc < 0) {
        rc = prc == -ENOMEM ? MT_ERR_NOMEM : MT_ERR_IO;
        goto out;
    }
    if (mt_thread_create(&W.thread, poller_main, NULL) != 0) {
        mt_procfs_close(&W.self);
        rc = MT_ERR_NOMEM;
        goto out;
    }
    W.running = 1;
out:
    MT_GUARD_LEAVE();
    pthread_mutex_unlock(&W.lock);
    return rc;
}

int mt_procwatch_stop(void) {
    pthread_mutex_lock(&W.lock);
    if (!W.running || W.stopping) {
        pthread_mutex_unlock(&W.lock);
        return MT_ERR_STATE;
    }
    W.stopping = 1;
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.lock);
    pthread_join(W.thread, NULL);
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&W.lock);
    for (size_t i = 0; i < W.n; i++) {
        mt_procfs_close(&W.procs[i].h);
        free(W.procs[i].cmdline);
    }
    free(W.procs);
    W.procs = NULL;
    W.n = W.cap = 0;
    mt_pidlist_free(&W.kids);
    mt_procfs_close(&W.self);
    for (uint32_t i = 0; i < W.nlabels; i++) free(W.labels[i]);
    free(W.labels);
    free(W.label_lens);
    W.labels = NULL;
    W.label_lens = NULL;
    W.nlabels = 0;
    W.running = W.stopping = 0;
    pthread_mutex_unlock(&W.lock);
    MT_GUARD_LEAVE();
    return 0;
}

int mt_procwatch_running(void) {
    pthread_mutex_lock(&W.lock);
    int r = W.running && !W.stopping;
    pthread_mutex_unlock(&W.lock);
    return r;
}

int mt_procwatch_label(const char *text, size_t len) {
    if (len > 8192) len = 8192; /* as mt_rec_marker */
    MT_GUARD_ENTER(MT_GUARD_CORE);
    mt_tstate *t = mt_rec_sampler_lock();
    if (t) {
        uint64_t now = mt_clock_raw();
        if (room(t, now, mt_enc_text_bound(len))) {
            t->pos = mt_enc_marker(t->pos, mt_dt(t, now), text, len);
            t->nrec++;
        }
        mt_rec_sampler_unlock();
    }
    int rc = 0;
    pthread_mutex_lock(&W.lock);
    if (W.running && !W.stopping) {
        rc = 1;
        if (W.nlabels < MAX_LABELS) {
            char **l = realloc(W.labels, (W.nlabels + 1) * sizeof *l);
            uint32_t *ln = l ? realloc(W.label_lens, (W.nlabels + 1) * sizeof *ln) : NULL;
            if (l) W.labels = l;
            if (ln) W.label_lens = ln;
            char *c = ln ? malloc(len + 1) : NULL;
            if (c) {
                memcpy(c, text, len);
                c[len] = '\0';
                W.labels[W.nlabels] = c;
                W.label_lens[W.nlabels] = (uint32_t)len;
                W.nlabels++;
            } else {
                rc = MT_ERR_NOMEM;
            }
        }
    }
    pthread_mutex_unlock(&W.lock);
    MT_GUARD_LEAVE();
    return rc;
}

void mt_procwatch_forget_after_fork(void) {
    /* Only the forking thread exists: the lock may be held by a thread that
     * is gone, and the poller's descriptors are the parent's /proc. */
    pthread_mutex_init(&W.lock, NULL);
    if (!W.running) return;
    for (size_t i = 0; i < W.n; i++) {
        mt_procfs_close(&W.procs[i].h);
        free(W.procs[i].cmdline);
    }
    free(W.procs);
    W.procs = NULL;
    W.n = W.cap = 0;
    mt_procfs_close(&W.self);
    for (uint32_t i = 0; i < W.nlabels; i++) free(W.labels[i]);
    free(W.labels);
    free(W.label_lens);
    W.labels = NULL;
    W.label_lens = NULL;
    W.nlabels = 0;
    W.running = W.stopping = 0;
}

pthread_mutex_t *mt_procwatch_test_lock(void) { return &W.lock; }

void mt_procwatch_fork_prepare(void) { pthread_mutex_lock(&W.lock); }
void mt_procwatch_fork_parent(void) { pthread_mutex_unlock(&W.lock); }
void mt_procwatch_fork_child(void) {
    pthread_mutex_init(&W.lock, NULL);
    if (cond_done) init_cond();
}

void mt_procwatch_stats_get(mt_procwatch_stats *out) {
    pthread_mutex_lock(&W.lock);
    *out = W.stats;
    pthread_mutex_unlock(&W.lock);
}

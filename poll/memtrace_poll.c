/*
 * memtrace-poll - sample the memory and CPU counters of a process (and, with
 * --tree, of every descendant) from /proc into a memtrace trace.
 *
 * The trace (mode "poll", content MT_CONTENT_PROCS, CLOCK_MONOTONIC in ns):
 *
 *   STRING       each distinct process name and command line, once
 *   PROC_SAMPLE  per process per round; every sample of one round carries
 *                the same time (the round's start), so a reader sums a
 *                round by grouping on t
 *   PROC_EXIT    when a process seen at least once is gone
 *   SUMMARY      last: reason target_exit or signal
 *
 * all in blocks of thread 0 (as the recorder's sampler). A process is known
 * by its pid until its PROC_EXIT: a later sample with the same pid is a new
 * process (the pid was reused). Inside the poller a process is pinned by an
 * open /proc/PID directory, so reuse can never mix two processes up.
 *
 * Timing: rounds start on a grid of absolute CLOCK_MONOTONIC deadlines
 * (clock_nanosleep TIMER_ABSTIME), so the interval does not drift; a round
 * that overruns skips the deadlines it missed.
 *
 * Everything here runs on the main thread; the signal handlers only set the
 * sig_* flags below.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memtrace_format.h"
#include "mt_cli.h"
#include "mt_procfs.h"

#define POLL_VERSION MT_LIBRARY_VERSION

/* PROC_EXIT status when the exit status cannot be known: the process was
 * neither our child nor seen as a zombie we may inspect (its parent reaped
 * it between two samples, or it belongs to another user). Out of the range
 * of real statuses (0..255 exit codes, -1..-64 signals) and positive, so
 * that "-status" of a signal death never overflows. */

#define NS_PER_S 1000000000ull
#define DEFAULT_INTERVAL_NS (100 * 1000000ull) /* 0.1 s */
#define MIN_INTERVAL_NS (1000000ull)           /* 1 ms */
#define DEFAULT_ROLLUP_NS NS_PER_S
#define FLUSH_NS NS_PER_S      /* chunks reach the file at least this often */
#define CMDLINE_YOUNG_NS NS_PER_S /* re-read the command line every round
                                     while a process is this young (it may
                                     exec a program of the same name) */
#define CMDLINE_EVERY_NS NS_PER_S /* and this often afterwards */
#define CMDLINE_MAX 4096          /* longer command lines are cut */
#define STATUS_EVERY_NS (100 * 1000000ull) /* shared, swap, peak RSS */
#define ROLLUP_BUDGET 400         /* smaps_rollup: <= 0.25% of a core */

static const char usage_text[] =
"usage: memtrace-poll [options] -p PID\n"
"       memtrace-poll [options] [--] COMMAND [ARGS...]\n"
"\n"
"Sample the memory and CPU use of a process - and with --tree of all its\n"
"descendants - from /proc at a fixed interval, into a memtrace trace and/or\n"
"as JSON lines on standard output. Stops when the process exits; a launched\n"
"COMMAND's exit status becomes memtrace-poll's.\n"
"\n"
"Options:\n"
"  -i, --interval SECONDS   time between samples (default 0.1; also \"50ms\",\n"
"                           \"2s\"; at least 1ms)\n"
"  -o, --output FILE        trace file (default memtrace_<UTC>_<PID>_poll.trace;\n"
"                           with --json and no -o: no trace file)\n"
"  -p, --pid PID            watch this running process\n"
"  -t, --tree               also watch every descendant as it appears\n"
"  -j, --json               print each sample as one JSON line on stdout\n"
"  -r, --rollup-interval SECONDS\n"
"                           read USS and PSS (smaps_rollup, slow on big\n"
"                           processes) at most this often per process\n"
"                           (default 1; 0: never)\n"
"  -v, --verbose            say where the trace goes and what was seen\n"
"  -h, --help               print this text and exit\n"
"  -V, --version            print the version and exit\n"
"\n"
"COUNTERS (bytes, nanoseconds)\n"
"  Every sample: rss_bytes vms_bytes minor_faults major_faults user_ns\n"
"  system_ns threads (/proc/PID/stat). At most every 100 ms per process\n"
"  (and in its first sample): shared_bytes swap_bytes peak_rss_bytes\n"
"  (VmHWM: the peak between samples too) from /proc/PID/status. At the\n"
"  rollup interval: uss_bytes pss_bytes (smaps_rollup; spaced further so\n"
"  that they cost at most 0.25% of a core per process). A counter missing\n"
"  from a sample keeps its last value.\n"
"\n"
"JSON LINES (--json): the objects `memtrace-decode --json` prints for the\n"
"same records, keys in this order:\n"
"  {\"type\":\"proc_sample\",\"t\":T,\"time_s\":S,\"tid\":0,\"pid\":P,\"ppid\":Q,\n"
"   \"name\":\"...\",\"cmdline\":\"...\",\"counters\":{\"rss_bytes\":N,...}}\n"
"  {\"type\":\"proc_exit\",\"t\":T,\"time_s\":S,\"tid\":0,\"pid\":P,\"status\":N}\n"
"  {\"type\":\"summary\",\"t\":T,\"time_s\":S,\"tid\":0,\"reason\":R,\"counters\":{...}}\n"
"  t: ns since the start; time_s: the same in seconds. A launched COMMAND\n"
"  writes to the same standard output.\n"
"\n"
"PROCESSES\n"
"  ppid is the parent when the process was first seen. status is the exit\n"
"  code, or minus the signal number, or 2147483647 when unknown (another\n"
"  process reaped it between two samples). A process that lives less than\n"
"  one interval may be missed; one seen once always gets its proc_exit.\n"
"  With --tree and a COMMAND, memtrace-poll is the child subreaper: orphaned\n"
"  descendants are re-parented to it (and keep being watched).\n"
"\n"
"SIGNALS\n"
"  SIGINT, SIGTERM, SIGHUP: with -p, finish the trace and exit 0. With a\n"
"  COMMAND, send the signal on to it (unless it came from the terminal,\n"
"  which signals the command itself) and keep sampling until it exits; a\n"
"  second signal finishes at once. The trace always ends with its index\n"
"  and a summary (reason \"signal\").\n"
"\n"
"ENVIRONMENT\n"
"  MEMTRACE_POLL_SCAN=1  find descendants by scanning /proc/*/stat, as on\n"
"                        kernels without /proc/PID/task/TID/children (slower)\n"
"\n"
"EXIT STATUS\n"
"  COMMAND: its exit status, 128+N if killed by signal N, 127 if it cannot\n"
"  be found, 126 if it cannot be run. -p: 0 once the process exits or a\n"
"  signal ends the watch. 1: an error (e.g. no such process, the trace\n"
"  cannot be written). 2: bad usage.\n";

/* ---- Processes ----------------------------------------------------------- */

enum { PROC_LIVE, PROC_ZOMBIE }; /* ZOMBIE: exit reported, still in /proc */

typedef struct pproc {
    mt_procfs_proc h;
    pid_t pid, ppid;         /* ppid at first sight */
    uint64_t start_clk;      /* stat field 22: with pid, the identity */
    int state;               /* PROC_* */
    int drop;                /* remove at the end of the round */
    int reaped, wstatus;     /* we reaped it (it was our child) */
    int permitted;           /* ptrace-read access: exit_code is real */
    int rollup_off;          /* smaps_rollup unreadable: stop trying */
    int sampled;             /* at least one PROC_SAMPLE written */
    uint64_t threads;
    int had_vm;              /* vsize was seen non-zero */
    uint64_t first_ns, next_rollup_ns, next_cmdline_ns, next_status_ns;
    uint64_t uss_bytes, pss_bytes; /* last rollup, for this round only */
    int have_rollup;
    char comm[64];
    uint32_t name_sid, cmdline_sid;
    const char *name, *cmdline; /* interned texts */
    uint32_t name_len, cmdline_len;
} pproc;

/* ---- String interning: each distinct text becomes one STRING record ---- */

typedef struct strent {
    uint64_t hash;
    uint32_t sid, len;
    char *s;
} strent;

/* ---- The poller's state (main thread only) ----------------------------- */

static struct {
    /* options */
    uint64_t interval_ns, rollup_ns;
    int tree, json, verbose;
    const char *out_path;
    /* output */
    mt_header h;
    mt_writer *w;
    int out_fd;
    int write_failed, json_failed;
    uint64_t nrecords; /* records emitted, for the SUMMARY */
    /* processes */
    pproc *procs;
    size_t n, cap;
    uint32_t *htab; /* pid -> index + 1 (0 empty), open addressing */
    size_t hcap;
    pid_t root;
    int launched;    /* root is our child */
    int root_done;   /* root's exit reported */
    int root_reaped, root_wstatus;
    int have_children_lists;
    mt_procfs_proc self; /* our own children list (subreaper) */
    pid_t self_pid;      /* never watched: -p $$ --tree would find us */
    mt_pidlist kids, scan_pids, scan_ppids;
    /* strings */
    strent *strs;
    size_t strs_cap, strs_n;
    uint32_t next_sid;
    long clk_tck;
    uint64_t page_size;
    /* statistics for -v */
    uint64_t rounds, late_rounds, seen, samples;
} P;

static volatile sig_atomic_t sig_count; /* SIGINT/SIGTERM/SIGHUP received */
static volatile sig_atomic_t sig_last;  /* the last of them */
static volatile sig_atomic_t sig_user;  /* 1: sent by kill(), not the tty */
static volatile sig_atomic_t sig_chld;  /* a child changed state */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t ticks_of(uint64_t ns) {
    return ns > P.h.anchor_ticks ? ns - P.h.anchor_ticks : 0;
}

/* ---- Output: trace records and JSON lines ------------------------------- */

static void check_writer(void) {
    int rc = mt_writer_error(P.w);
    if (rc < 0 && !P.write_failed) {
        P.write_failed = 1;
        mt_cli_error("cannot write '%s': %s%s%s", P.out_path, mt_strerror(rc),
                     rc == MT_ERR_IO || rc == MT_ERR_NOSPACE ? ": " : "",
                     rc == MT_ERR_IO || rc == MT_ERR_NOSPACE ? strerror(errno)
                                                             : "");
    }
}

static void append(const mt_record *r) {
    P.nrecords++;
    if (!P.w || P.write_failed) return;
    if (mt_writer_append(P.w, r) < 0) check_writer();
}

static int json_on(void) { return P.json && !P.json_failed; }
/* P.json_failed: 1 the reader of stdout went away (EPIPE: not an error, as
 * for `memtrace-decode | head`); 2 another write error (exit status 1). */

static void json_head(const char *type, uint64_t t) {
    mt_out *o = &mt_stdout;
    MT_OUT_LIT(o, "{\"type\":\"");
    mt_out_puts(o, type);
    MT_OUT_LIT(o, "\",\"t\":");
    mt_out_u64(o, t);
    MT_OUT_LIT(o, ",\"time_s\":");
    mt_out_seconds(o, t, P.h.ticks_per_second);
    MT_OUT_LIT(o, ",\"tid\":0");
}

static void json_counters(const mt_counter *v, uint32_t n) {
    mt_out *o = &mt_stdout;
    MT_OUT_LIT(o, ",\"counters\":{");
    for (uint32_t i = 0; i < n; i++) {
        if (i) mt_out_putc(o, ',');
        mt_out_putc(o, '"');
        mt_out_puts(o, mt_counter_name(v[i].id));
        MT_OUT_LIT(o, "\":");
        mt_out_u64(o, v[i].value);
    }
    MT_OUT_LIT(o, "}}\n");
}

static void json_flush(void) {
    if (!json_on()) return;
    if (mt_out_flush(&mt_stdout) < 0) {
        /* The reader of our stdout went away: the trace (if any) goes on;
         * without one there is nothing left to write, only a command to
         * wait for. */
        P.json_failed = mt_stdout.err == EPIPE ? 1 : 2;
        if (P.json_failed == 2 || P.verbose)
            mt_cli_error("stopped writing JSON: %s", strerror(mt_stdout.err));
    }
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The sid of text s (defining it on first use); *out the interned copy.
 * 0 when memory runs out (the record then says "no string"). */
static uint32_t intern(const char *s, size_t len, const char **out) {
    if (P.strs_n * 2 >= P.strs_cap) {
        size_t cap = P.strs_cap ? P.strs_cap * 2 : 256;
        strent *t = calloc(cap, sizeof *t);
        if (!t) return *out = "", 0;
        for (size_t i = 0; i < P.strs_cap; i++) {
            if (!P.strs[i].s) continue;
            size_t j = P.strs[i].hash & (cap - 1);
            while (t[j].s) j = (j + 1) & (cap - 1);
            t[j] = P.strs[i];
        }
        free(P.strs);
        P.strs = t;
        P.strs_cap = cap;
    }
    uint64_t hash = fnv1a(s, len);
    size_t j = hash & (P.strs_cap - 1);
    for (; P.strs[j].s; j = (j + 1) & (P.strs_cap - 1)) {
        strent *e = &P.strs[j];
        if (e->hash == hash && e->len == len && !memcmp(e->s, s, len)) {
            *out = e->s;
            return e->sid;
        }
    }
    char *copy = malloc(len + 1);
    if (!copy) return *out = "", 0;
    memcpy(copy, s, len);
    copy[len] = '\0';
    P.strs[j] = (strent){hash, ++P.next_sid, (uint32_t)len, copy};
    P.strs_n++;
    mt_record r = {.type = MT_REC_STRING};
    r.u.string.sid = P.next_sid;
    r.u.string.len = (uint32_t)len;
    r.u.string.bytes = copy;
    append(&r);
    *out = copy;
    return P.next_sid;
}

static void emit_sample(const pproc *p, uint64_t now, const mt_counter *c,
                        uint32_t n) {
    mt_record r = {.type = MT_REC_PROC_SAMPLE, .tid = 0, .t = ticks_of(now)};
    r.u.proc.pid = (uint32_t)p->pid;
    r.u.proc.ppid = (uint32_t)p->ppid;
    r.u.proc.name_sid = p->name_sid;
    r.u.proc.cmdline_sid = p->cmdline_sid;
    r.u.proc.n = n;
    r.u.proc.v = c;
    append(&r);
    P.samples++;
    if (!json_on()) return;
    mt_out *o = &mt_stdout;
    json_head("proc_sample", r.t);
    MT_OUT_LIT(o, ",\"pid\":");
    mt_out_u64(o, r.u.proc.pid);
    MT_OUT_LIT(o, ",\"ppid\":");
    mt_out_u64(o, r.u.proc.ppid);
    MT_OUT_LIT(o, ",\"name\":");
    mt_out_json_str(o, p->name, p->name_len);
    MT_OUT_LIT(o, ",\"cmdline\":");
    mt_out_json_str(o, p->cmdline, p->cmdline_len);
    json_counters(c, n);
}

static void emit_exit(const pproc *p, uint64_t now, int32_t status) {
    mt_record r = {.type = MT_REC_PROC_EXIT, .tid = 0, .t = ticks_of(now)};
    r.u.proc_exit.pid = (uint32_t)p->pid;
    r.u.proc_exit.status = status;
    append(&r);
    if (!json_on()) return;
    json_head("proc_exit", r.t);
    MT_OUT_LIT(&mt_stdout, ",\"pid\":");
    mt_out_u64(&mt_stdout, r.u.proc_exit.pid);
    MT_OUT_LIT(&mt_stdout, ",\"status\":");
    mt_out_i64(&mt_stdout, status);
    MT_OUT_LIT(&mt_stdout, "}\n");
}

static void emit_summary(uint64_t now, uint32_t reason) {
    mt_counter c[2] = {{MT_CTR_EVENTS, P.nrecords + 1},
                       {MT_CTR_LOST_EVENTS, 0}};
    mt_record r = {.type = MT_REC_SUMMARY, .tid = 0, .t = ticks_of(now)};
    r.u.summary.reason = reason;
    r.u.summary.n = 2;
    r.u.summary.v = c;
    append(&r);
    if (!json_on()) return;
    json_head("summary", r.t);
    MT_OUT_LIT(&mt_stdout, ",\"reason\":\"");
    mt_out_puts(&mt_stdout, mt_cli_end_reason_name(reason));
    mt_out_putc(&mt_stdout, '"');
    json_counters(c, 2);
}

/* wait(2) status -> PROC_EXIT status: the code, or minus the signal. */
static int32_t exit_status_of(int ws) {
    if (WIFEXITED(ws)) return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws)) return -WTERMSIG(ws);
    return MT_PROC_STATUS_UNKNOWN;
}

/* ---- The process table ------------------------------------------------- */

static size_t hfind(pid_t pid) {
    if (!P.hcap) return SIZE_MAX;
    size_t j = ((uint32_t)pid * 2654435761u) & (P.hcap - 1);
    for (; P.htab[j]; j = (j + 1) & (P.hcap - 1))
        if (P.procs[P.htab[j] - 1].pid == pid) return P.htab[j] - 1;
    return SIZE_MAX;
}

static int hrebuild(void) {
    size_t cap = 64;
    while (cap < P.n * 2 + 2) cap *= 2;
    if (cap != P.hcap) {
        uint32_t *t = realloc(P.htab, cap * sizeof *t);
        if (!t) return -1;
        P.htab = t;
        P.hcap = cap;
    }
    memset(P.htab, 0, P.hcap * sizeof *P.htab);
    for (size_t i = 0; i < P.n; i++) {
        size_t j = ((uint32_t)P.procs[i].pid * 2654435761u) & (P.hcap - 1);
        while (P.htab[j]) j = (j + 1) & (P.hcap - 1);
        P.htab[j] = (uint32_t)i + 1;
    }
    return 0;
}

/* Start watching pid. parent >= 0: it was found as a child of parent, and
 * must still be (else the pid was reused by an unrelated process between
 * the listing and the open). Returns the index, or -errno. */
static long add_proc(pid_t pid, pid_t parent, uint64_t now) {
    size_t at = hfind(pid);
    if (at != SIZE_MAX) return (long)at;
    if (P.n == P.cap) {
        size_t cap = P.cap ? P.cap * 2 : 16;
        pproc *v = realloc(P.procs, cap * sizeof *v);
        if (!v) return -ENOMEM;
        P.procs = v;
        P.cap = cap;
    }
    pproc *p = &P.procs[P.n];
    memset(p, 0, sizeof *p);
    int rc = mt_procfs_open(&p->h, pid);
    if (rc == -EMFILE || rc == -ENFILE) {
        static int warned;
        if (!warned++)
            mt_cli_error("cannot watch pid %d and more: %s (each process "
                         "holds 4 descriptors)", (int)pid, strerror(-rc));
    }
    if (rc < 0) return rc;
    mt_procfs_stat st;
    rc = mt_procfs_read_stat(&p->h, &st);
    if (rc == 0 && parent >= 0 && st.ppid != parent) rc = -ESRCH;
    if (rc < 0) {
        mt_procfs_close(&p->h);
        return rc;
    }
    p->pid = pid;
    p->ppid = st.ppid;
    p->start_clk = st.start_clk;
    p->state = PROC_LIVE;
    p->first_ns = now;
    p->next_rollup_ns = now;
    p->next_cmdline_ns = now;
    p->next_status_ns = now;
    /* Whether we may read what ptrace guards (smaps_rollup, exit_code):
     * opening smaps_rollup does the kernel's check, but fails with ESRCH
     * for a zombie; then the owner of /proc/PID decides (it is root for a
     * process that is not dumpable, e.g. setuid). */
    int fd = openat(p->h.dirfd, "smaps_rollup", O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd >= 0) {
        p->permitted = 1;
        close(fd);
    } else {
        if (errno == EACCES || errno == EPERM) p->rollup_off = 1;
        p->permitted = errno == ESRCH && fstat(p->h.dirfd, &sb) == 0 &&
                       sb.st_uid == geteuid();
    }
    P.n++;
    if (P.n * 2 + 2 > P.hcap) { /* rebuilding inserts the new one too */
        if (hrebuild() < 0) {
            P.n--;
            mt_procfs_close(&p->h);
            return -ENOMEM;
        }
    } else {
        size_t j = ((uint32_t)pid * 2654435761u) & (P.hcap - 1);
        while (P.htab[j]) j = (j + 1) & (P.hcap - 1);
        P.htab[j] = (uint32_t)P.n;
    }
    P.seen++;
    return (long)(P.n - 1);
}

/* Forget the processes marked drop; keeps the order of the others. */
static void compact(void) {
    size_t k = 0;
    int changed = 0;
    for (size_t i = 0; i < P.n; i++) {
        if (P.procs[i].drop) {
            mt_procfs_close(&P.procs[i].h);
            changed = 1;
            continue;
        }
        if (k != i) P.procs[k] = P.procs[i];
        k++;
    }
    P.n = k;
    if (changed) hrebuild();
}

/* Reap our children that ended; remember each status for its PROC_EXIT. */
static void reap(void) {
    if (!P.launched) return;
    int ws;
    pid_t pid;
    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        if (!WIFEXITED(ws) && !WIFSIGNALED(ws)) continue;
        size_t i = hfind(pid);
        if (i != SIZE_MAX) {
            P.procs[i].reaped = 1;
            P.procs[i].wstatus = ws;
        }
        if (pid == P.root) {
            P.root_reaped = 1;
            P.root_wstatus = ws;
        }
    }
}

/* ---- One round ---------------------------------------------------------- */

/* The process is gone or a zombie: report its exit once. */
static void proc_exited(size_t i, uint64_t now, int zombie,
                        const mt_procfs_stat *st) {
    pproc *p = &P.procs[i];
    int32_t status = MT_PROC_STATUS_UNKNOWN;
    if (zombie && !p->reaped && P.launched && st->ppid == P.self_pid) {
        /* Our own child (the command, or an orphan we adopted): reap it
         * here, which also gives the exact status. It may still be on its
         * way out (memory gone, not yet a zombie), hence a blocking wait:
         * an exiting process becomes waitable within microseconds. */
        int ws;
        pid_t got;
        do got = waitpid(p->pid, &ws, 0);
        while (got < 0 && errno == EINTR);
        if (got == p->pid) {
            p->reaped = 1;
            p->wstatus = ws;
            if (p->pid == P.root) {
                P.root_reaped = 1;
                P.root_wstatus = ws;
            }
        }
    }
    if (p->reaped)
        status = exit_status_of(p->wstatus);
    else if (zombie && p->permitted && st->has_exit_code)
        status = exit_status_of(st->exit_code);
    if (!p->sampled && zombie) {
        /* First seen dead: one sample with what a zombie still tells (name,
         * CPU time, faults), so that the process is named in the trace. */
        size_t len = strlen(st->comm);
        p->name_sid = intern(st->comm, len, &p->name);
        p->name_len = (uint32_t)len;
        p->cmdline_sid = intern("", 0, &p->cmdline);
        p->cmdline_len = 0;
        mt_counter c[4] = {
            {MT_CTR_MINOR_FAULTS, st->minor_faults},
            {MT_CTR_MAJOR_FAULTS, st->major_faults},
            {MT_CTR_USER_NS, st->utime_clk * (NS_PER_S / (uint64_t)P.clk_tck)},
            {MT_CTR_SYSTEM_NS, st->stime_clk * (NS_PER_S / (uint64_t)P.clk_tck)},
        };
        emit_sample(p, now, c, 4);
        p->sampled = 1;
    }
    if (p->sampled) emit_exit(p, now, status);
    if (p->pid == P.root) P.root_done = 1;
    /* A zombie stays listed in its parent's children until reaped: keep
     * the entry (so it is not found again as new) until it is gone. */
    if (zombie && !p->reaped)
        p->state = PROC_ZOMBIE;
    else
        p->drop = 1;
}

static void discover_children(size_t i, uint64_t now) {
    P.kids.n = 0;
    pid_t parent = P.procs[i].pid;
    if (mt_procfs_children(&P.procs[i].h, P.procs[i].threads, &P.kids) < 0)
        return;
    for (size_t k = 0; k < P.kids.n; k++)
        if (P.kids.v[k] != P.self_pid && hfind(P.kids.v[k]) == SIZE_MAX)
            add_proc(P.kids.v[k], parent, now); /* gone already: missed */
}

static void sample_proc(size_t i, uint64_t now) {
    pproc *p = &P.procs[i];
    mt_procfs_stat st;
    int rc = mt_procfs_read_stat(&p->h, &st);
    if (p->state == PROC_ZOMBIE) { /* reported; waiting for it to vanish */
        if (rc < 0 || (st.state != 'Z' && st.state != 'X')) p->drop = 1;
        return;
    }
    if (rc == -ESRCH || rc == -ENOENT) {
        proc_exited(i, now, 0, &st);
        return;
    }
    if (rc < 0) return; /* unreadable this round (EACCES...): skip it */
    if (st.state == 'Z' || st.state == 'X') {
        proc_exited(i, now, 1, &st);
        return;
    }
    if (st.vsize_bytes == 0 && p->had_vm) {
        /* On its way out: the memory is gone, the zombie state not yet
         * set. Counted as a zombie (its exit_code is already set). */
        proc_exited(i, now, 1, &st);
        return;
    }
    p->had_vm |= st.vsize_bytes != 0;
    p->threads = st.threads;

    /* status (6 us, the costliest file of a round) holds what changes
     * slowly or only grows: read it at most every STATUS_EVERY_NS. */
    mt_procfs_status ss;
    int have_status = 0;
    if (now >= p->next_status_ns) {
        rc = mt_procfs_read_status(&p->h, &ss);
        if (rc == -ESRCH || rc == -ENOENT) {
            proc_exited(i, now, 0, &st);
            return;
        }
        if (rc == 0 && !ss.has_vm && p->had_vm) {
            proc_exited(i, now, 1, &st);
            return;
        }
        have_status = rc == 0 && ss.has_vm;
        p->next_status_ns = now + STATUS_EVERY_NS;
    }

    /* Name and command line: the name changes at exec, and so may the
     * command line without it (python3 running python3): re-read it every
     * round while the process is young, when the name changes, and every
     * CMDLINE_EVERY_NS. */
    size_t clen = strlen(st.comm);
    int renamed = !p->name || clen != p->name_len || memcmp(st.comm, p->name, clen);
    if (renamed) {
        p->name_sid = intern(st.comm, clen, &p->name);
        p->name_len = (uint32_t)clen;
    }
    if (renamed || now >= p->next_cmdline_ns || now - p->first_ns < CMDLINE_YOUNG_NS) {
        char buf[CMDLINE_MAX];
        size_t len;
        if (mt_procfs_read_cmdline(&p->h, buf, sizeof buf, &len) == 0 &&
            (!p->cmdline || len != p->cmdline_len || memcmp(buf, p->cmdline, len))) {
            p->cmdline_sid = intern(buf, len, &p->cmdline);
            p->cmdline_len = (uint32_t)len;
        } else if (!p->cmdline) {
            p->cmdline_sid = intern("", 0, &p->cmdline);
            p->cmdline_len = 0;
        }
        p->next_cmdline_ns = now + CMDLINE_EVERY_NS;
    }

    p->have_rollup = 0;
    if (P.rollup_ns && !p->rollup_off && now >= p->next_rollup_ns) {
        mt_procfs_rollup ru;
        rc = mt_procfs_read_rollup(&p->h, &ru);
        uint64_t cost_ns = mono_ns() - now;
        if (rc == 0) {
            p->have_rollup = 1;
            p->uss_bytes = ru.uss_bytes;
            p->pss_bytes = ru.pss_bytes;
        } else if (rc == -EACCES || rc == -EPERM || rc == -ENOENT) {
            p->rollup_off = 1; /* another user's, or a kernel before 4.14 */
        }
        /* The read walks every page table of the process (7 ms for 500
         * MiB here): space the reads so that they cost at most
         * 1/ROLLUP_BUDGET of a core per process. cost_ns also counts this
         * round's earlier reads: an over-estimate, on the safe side. */
        uint64_t gap = P.rollup_ns;
        if (cost_ns * ROLLUP_BUDGET > gap) gap = cost_ns * ROLLUP_BUDGET;
        p->next_rollup_ns = now + gap;
    }

    uint64_t ns_per_clk = NS_PER_S / (uint64_t)P.clk_tck;
    mt_counter c[12];
    uint32_t n = 0;
    c[n++] = (mt_counter){MT_CTR_RSS_BYTES, st.rss_pages * P.page_size};
    c[n++] = (mt_counter){MT_CTR_VMS_BYTES, st.vsize_bytes};
    if (have_status)
        c[n++] = (mt_counter){MT_CTR_SHARED_BYTES, ss.shared_bytes};
    if (p->have_rollup) {
        c[n++] = (mt_counter){MT_CTR_USS_BYTES, p->uss_bytes};
        c[n++] = (mt_counter){MT_CTR_PSS_BYTES, p->pss_bytes};
    }
    if (have_status) {
        c[n++] = (mt_counter){MT_CTR_SWAP_BYTES, ss.swap_bytes};
        c[n++] = (mt_counter){MT_CTR_PEAK_RSS_BYTES, ss.peak_rss_bytes};
    }
    c[n++] = (mt_counter){MT_CTR_MINOR_FAULTS, st.minor_faults};
    c[n++] = (mt_counter){MT_CTR_MAJOR_FAULTS, st.major_faults};
    c[n++] = (mt_counter){MT_CTR_USER_NS, st.utime_clk * ns_per_clk};
    c[n++] = (mt_counter){MT_CTR_SYSTEM_NS, st.stime_clk * ns_per_clk};
    c[n++] = (mt_counter){MT_CTR_THREADS, st.threads};
    emit_sample(p, now, c, n);
    p->sampled = 1;

    if (P.tree && P.have_children_lists) discover_children(i, now);
}

/* Without children lists: one scan of /proc per round, then adopt every
 * process whose parent is watched, until no more are found (grandchildren
 * can come before their parents in the scan). */
static void discover_by_scan(uint64_t now) {
    P.scan_pids.n = P.scan_ppids.n = 0;
    if (mt_procfs_scan(&P.scan_pids, &P.scan_ppids) < 0) return;
    int added;
    do {
        added = 0;
        for (size_t k = 0; k < P.scan_pids.n; k++) {
            pid_t pid = P.scan_pids.v[k], ppid = P.scan_ppids.v[k];
            if (pid == P.self_pid || hfind(pid) != SIZE_MAX) continue;
            size_t par = hfind(ppid);
            int adopted = P.launched && ppid == P.self_pid; /* subreaper */
            if (!adopted && (par == SIZE_MAX || P.procs[par].state != PROC_LIVE))
                continue;
            if (add_proc(pid, ppid, now) >= 0) added = 1;
        }
    } while (added);
}

static void poll_round(uint64_t now) {
    P.rounds++;
    reap();
    if (!P.w && !json_on()) {
        /* Nothing left to write to: wait for a command to end (to pass its
         * status on), and stop watching a -p process at once. */
        if (P.root_reaped || !P.launched) P.root_done = 1;
        return;
    }
    if (P.tree) {
        if (!P.have_children_lists) {
            discover_by_scan(now);
        } else if (P.launched && P.self.dirfd >= 0) {
            /* Orphans re-parented to us, the subreaper. */
            P.kids.n = 0;
            if (mt_procfs_children(&P.self, 1, &P.kids) == 0)
                for (size_t k = 0; k < P.kids.n; k++)
                    if (hfind(P.kids.v[k]) == SIZE_MAX)
                        add_proc(P.kids.v[k], P.self_pid, now);
        }
    }
    /* P.n grows while we go: new children are sampled in the round that
     * finds them, and their own children too. */
    for (size_t i = 0; i < P.n; i++)
        if (!P.procs[i].drop) sample_proc(i, now);
    compact();
}

/* ---- Signals ------------------------------------------------------------ */

static void on_stop_signal(int sig, siginfo_t *info, void *uctx) {
    (void)uctx;
    sig_last = sig;
    /* si_code <= 0: kill(), sigqueue(), tgkill() - someone meant us. The
     * terminal's signals (SI_KERNEL) went to the whole foreground process
     * group, the command included. */
    sig_user = info ? info->si_code <= 0 : 1;
    sig_count++;
}

static void on_sigchld(int sig) {
    (void)sig;
    sig_chld = 1;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: reads and writes resume; clock_nanosleep never restarts
     * after a handler (signal(7)), so the sleep still ends early. */
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sa.sa_sigaction = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sa.sa_handler = on_sigchld;
    sigaction(SIGCHLD, &sa, NULL);
}

/* Act on the stop signals received so far. Returns 1 when the poll must end
 * now (for -p, or a second signal with a command). */
static int handled_signals;
static int stopped_by_signal;
static int handle_signals(void) {
    int count = sig_count;
    if (count == handled_signals) return 0;
    int first = handled_signals == 0;
    handled_signals = count;
    stopped_by_signal = sig_last;
    if (!P.launched || P.root_done || !first || count > 1) return 1;
    if (sig_user) kill(P.root, sig_last);
    if (P.verbose)
        mt_cli_error("%s: %s; waiting for pid %d to exit (again to stop now)",
                     strsignal(sig_last), sig_user ? "passed on" : "from the terminal",
                     (int)P.root);
    return 0;
}

/* ---- Starting --------------------------------------------------------- */

/* Fork and exec the command; return its pid once the exec succeeded, or
 * exit with 127/126 after saying why it could not run. */
static pid_t launch(char **argv, const sigset_t *oldmask) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) mt_cli_die(1, "cannot create a pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) mt_cli_die(1, "cannot fork: %s", strerror(errno));
    if (pid == 0) {
        /* The command gets the dispositions we were given: SIGPIPE was set
         * to ignored by mt_cli_init, and an ignored signal survives exec. */
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, oldmask, NULL);
        close(pfd[0]);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t k = write(pfd[1], &e, sizeof e);
        (void)k;
        _exit(e == ENOENT ? 127 : 126);
    }
    close(pfd[1]);
    int e = 0;
    ssize_t k;
    do k = read(pfd[0], &e, sizeof e);
    while (k < 0 && errno == EINTR);
    close(pfd[0]);
    if (k == (ssize_t)sizeof e) {
        int ws;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
        if (P.out_fd >= 0) unlink(P.out_path); /* created for nothing */
        mt_cli_die(e == ENOENT ? 127 : 126, "cannot run '%s': %s", argv[0],
                   strerror(e));
    }
    return pid;
}

static char *default_out_path(pid_t pid) {
    static char buf[96];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    snprintf(buf, sizeof buf, "memtrace_%s_%d_poll.trace", stamp, (int)pid);
    return buf;
}

/* Many processes with --tree hold 4 descriptors each: allow what the hard
 * limit allows. */
static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv) {
    enum { OPT_ROLLUP = 256 };
    static const struct option longopts[] = {
        {"interval", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"pid", required_argument, NULL, 'p'},
        {"tree", no_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"rollup-interval", required_argument, NULL, 'r'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    mt_cli_init("memtrace-poll");
    /* A closed stdout must not end the poll (mt_out's default for the
     * decoding tools): the trace and the command go on. */
    mt_stdout.quiet_epipe = 0;
    P.interval_ns = DEFAULT_INTERVAL_NS;
    P.rollup_ns = DEFAULT_ROLLUP_NS;
    P.out_fd = -1;
    P.self_pid = getpid();
    P.self.dirfd = P.self.statfd = P.self.statusfd = P.self.childrenfd = -1;
    pid_t target = 0;
    int c;
    opterr = 0;
    /* '+': the first operand is the command; its options are its own. */
    while ((c = mt_cli_getopt(argc, argv, "+i:o:p:tjr:vhV", longopts, usage_text)) != -1) {
        uint64_t v;
        switch (c) {
        case 'i':
            if (mt_cli_parse_duration(optarg, &v) < 0 || v < MIN_INTERVAL_NS)
                mt_cli_usage_error(usage_text, "bad interval '%s' (seconds, at least 0.001)", optarg);
            P.interval_ns = v;
            break;
        case 'r':
            if (mt_cli_parse_duration(optarg, &v) < 0)
                mt_cli_usage_error(usage_text, "bad rollup interval '%s' (seconds)", optarg);
            P.rollup_ns = v;
            break;
        case 'o': P.out_path = optarg; break;
        case 'p':
            if (mt_cli_parse_u64(optarg, &v) < 0 || v == 0 || v > INT32_MAX)
                mt_cli_usage_error(usage_text, "bad pid '%s'", optarg);
            target = (pid_t)v;
            break;
        case 't': P.tree = 1; break;
        case 'j': P.json = 1; break;
        case 'v': P.verbose = 1; break;
        case 'h':
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        case 'V':
            printf("memtrace-poll (memtrace) %s, trace format %d.%d\n",
                   POLL_VERSION, MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
            return fflush(stdout) == 0 ? 0 : 1;
        default:
            if (optopt > 0 && optopt < 256 && strchr("iopr", optopt))
                mt_cli_usage_error(usage_text, "option '%s' needs a value",
                                   argv[optind - 1]);
            if (optopt > 0 && optopt < 256)
                mt_cli_usage_error(usage_text, "unknown option '-%c'", optopt);
            mt_cli_usage_error(usage_text, "unknown option or missing value: '%s'",
                               argv[optind - 1]);
        }
    }
    char **cmd = argv + optind;
    int ncmd = argc - optind;
    if (target && ncmd > 0)
        mt_cli_usage_error(usage_text, "give -p PID or a COMMAND, not both");
    if (!target && ncmd == 0)
        mt_cli_usage_error(usage_text, "nothing to watch: give -p PID or a COMMAND");

    P.clk_tck = sysconf(_SC_CLK_TCK);
    if (P.clk_tck <= 0 || NS_PER_S % (uint64_t)P.clk_tck) P.clk_tck = 100;
    long ps = sysconf(_SC_PAGESIZE);
    P.page_size = ps > 0 ? (uint64_t)ps : 4096;
    /* The test suite also runs the fallback where the kernel has them. */
    const char *nolists = getenv("MEMTRACE_POLL_SCAN");
    P.have_children_lists = mt_procfs_have_children() &&
                            !(nolists && *nolists && strcmp(nolists, "0"));
    raise_nofile();

    mt_header_init(&P.h); /* the anchor: t = 0 is now */
    mt_procfs_proc th;
    mt_procfs_stat tst;
    sigset_t oldmask;
    sigprocmask(SIG_SETMASK, NULL, &oldmask);

    if (target) {
        /* Check the process before creating any file. */
        int rc = mt_procfs_open(&th, target);
        if (rc == -ENOENT || rc == -ESRCH)
            mt_cli_die(1, "no process with pid %d", (int)target);
        if (rc < 0)
            mt_cli_die(1, "cannot read /proc/%d: %s", (int)target, strerror(-rc));
        rc = mt_procfs_read_stat(&th, &tst);
        if (rc < 0 || tst.state == 'Z' || tst.state == 'X')
            mt_cli_die(1, "no process with pid %d%s", (int)target,
                       rc == 0 ? " (it has exited: a zombie)" : "");
        int fd = openat(th.dirfd, "smaps_rollup", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            close(fd);
        else if ((errno == EACCES || errno == EPERM) && P.rollup_ns)
            mt_cli_error("pid %d belongs to another user: no USS/PSS, and its "
                         "exit status will be unknown (%s)",
                         (int)target, strerror(errno));
    }
    if (P.out_path || !P.json) {
        if (!P.out_path) P.out_path = default_out_path(target ? target : getpid());
        P.out_fd = open(P.out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (P.out_fd < 0)
            mt_cli_die(1, "cannot create '%s': %s", P.out_path, strerror(errno));
    }

    install_signals();
    if (!target) {
        if (P.tree && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 && P.verbose)
            mt_cli_error("cannot become the child subreaper: %s", strerror(errno));
        P.launched = 1;
        target = launch(cmd, &oldmask);
        if (P.tree) mt_procfs_open(&P.self, getpid());
    } else {
        mt_procfs_close(&th);
    }
    P.root = target;

    uint64_t now = mono_ns();
    long idx = add_proc(target, -1, now);
    if (idx < 0 && !P.launched)
        mt_cli_die(1, "no process with pid %d", (int)target);

    /* The header describes the watched process: for a command, the child
     * we launched (its parent is memtrace-poll). */
    static char exe[4096];
    P.h.pid = (uint32_t)target;
    P.h.ppid = idx >= 0 ? (uint32_t)P.procs[idx].ppid : (uint32_t)getpid();
    if (idx >= 0 && mt_procfs_read_exe(&P.procs[idx].h, exe, sizeof exe) == 0)
        P.h.executable = exe;
    P.h.content = MT_CONTENT_PROCS;
    P.h.mode = "poll";
    P.h.producer = "memtrace-poll " POLL_VERSION;
    P.h.argv = (const char *const *)argv;
    P.h.argc = (uint32_t)argc;
    if (P.out_fd >= 0) {
        int rc = mt_writer_open_fd(&P.w, P.out_fd, &P.h, NULL);
        if (rc < 0) {
            mt_cli_error("cannot write '%s': %s", P.out_path, mt_strerror(rc));
            P.write_failed = 1;
            P.w = NULL;
        } else if (P.verbose) {
            mt_cli_error("writing %s", P.out_path);
        }
    }

    /* The loop: a round on each deadline of the grid. Stop signals and
     * child exits end the sleep early; a forwarded signal goes back to
     * sleep, the command's exit gets a last round at once. */
    uint64_t next = now, last_flush = now;
    uint32_t reason = MT_END_TARGET_EXIT;
    if (idx < 0) { /* the command was gone before we could look */
        int ws;
        while (waitpid(target, &ws, 0) < 0 && errno == EINTR) {}
        P.root_reaped = 1;
        P.root_wstatus = ws;
    }
    while (idx >= 0) {
        struct timespec ts = {(time_t)(next / NS_PER_S), (long)(next % NS_PER_S)};
        for (;;) {
            if (sig_count != handled_signals && handle_signals()) {
                reason = MT_END_SIGNAL;
                goto finish;
            }
            if (sig_chld) {
                sig_chld = 0;
                reap();
                if (P.root_reaped) break;
            }
            int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            if (rc != EINTR) break;
        }
        now = mono_ns();
        poll_round(now);
        if (P.root_done) {
            reason = stopped_by_signal ? MT_END_SIGNAL : MT_END_TARGET_EXIT;
            break;
        }
        if (P.w && !P.write_failed && now - last_flush >= FLUSH_NS) {
            if (mt_writer_flush(P.w) < 0) check_writer();
            last_flush = now;
        }
        json_flush();
        next += P.interval_ns;
        now = mono_ns();
        if (next <= now) { /* the round overran: skip the missed deadlines */
            uint64_t missed = (now - next) / P.interval_ns + 1;
            next += missed * P.interval_ns;
            P.late_rounds += missed;
        }
    }

finish:
    /* Finish: SUMMARY, index, end frame. */
    now = mono_ns();
    emit_summary(now, reason);
    json_flush();
    int status = 0;
    if (P.w) {
        int rc = mt_writer_close(P.w);
        if (rc < 0 && !P.write_failed) {
            mt_cli_error("cannot write '%s': %s", P.out_path, mt_strerror(rc));
            P.write_failed = 1;
        }
    }
    if (P.out_fd >= 0 && close(P.out_fd) < 0 && !P.write_failed) {
        mt_cli_error("cannot write '%s': %s", P.out_path, strerror(errno));
        P.write_failed = 1;
    }
    if (P.verbose)
        mt_cli_error("%llu rounds (%llu deadlines missed), %llu processes, "
                     "%llu samples",
                     (unsigned long long)P.rounds, (unsigned long long)P.late_rounds,
                     (unsigned long long)P.seen, (unsigned long long)P.samples);
    if (P.launched && P.root_done && !P.root_reaped) {
        /* Its exit was seen in /proc before it could be waited for. */
        int ws;
        pid_t got;
        do got = waitpid(P.root, &ws, 0);
        while (got < 0 && errno == EINTR);
        if (got == P.root) {
            P.root_reaped = 1;
            P.root_wstatus = ws;
        }
    }
    if (P.launched) {
        if (P.root_reaped) {
            int ws = P.root_wstatus;
            status = WIFEXITED(ws) ? WEXITSTATUS(ws)
                     : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
        } else {
            /* Stopped by a second signal before the command ended. */
            status = 128 + (stopped_by_signal ? stopped_by_signal : 0);
        }
    }
    if (status == 0 && (P.write_failed || P.json_failed == 2))
        status = 1;
    for (size_t i = 0; i < P.n; i++) mt_procfs_close(&P.procs[i].h);
    mt_procfs_close(&P.self);
    return status;
}

/*
 * mt_procfs.c - reading a process's counters from /proc (see mt_procfs.h).
 *
 * The text of these files is parsed by hand: sscanf costs more than the
 * read itself on the short lines of stat, and the poller's budget is about
 * 10 us per process per sample.
 */
#define _GNU_SOURCE
#include "mt_procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One read buffer for every file: the poller is single-threaded, and the
 * largest file (status, ~1.5 KiB; a long children list) sets its size once.
 * Owned by the thread that calls these functions. */
static char *rbuf;
static size_t rbuf_cap;

static int neg_errno(void) { return errno ? -errno : -EIO; }

/* The whole file from offset 0 into rbuf, NUL-terminated; *len its size.
 * pread at 0 makes the kernel generate the text afresh (seq_file files
 * restart when the offset goes back), so an fd can be read many times. */
static int pread_all(int fd, size_t *len) {
    size_t n = 0;
    if (!rbuf) {
        rbuf_cap = 8192;
        rbuf = malloc(rbuf_cap);
        if (!rbuf) return -ENOMEM;
    }
    for (;;) {
        if (rbuf_cap - n < 1024) {
            char *nb = realloc(rbuf, rbuf_cap * 2);
            if (!nb) return -ENOMEM;
            rbuf = nb;
            rbuf_cap *= 2;
        }
        ssize_t k = pread(fd, rbuf + n, rbuf_cap - n - 1, (off_t)n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return neg_errno();
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    rbuf[n] = '\0';
    *len = n;
    return 0;
}

static int open_at(int dirfd, const char *name) {
    int fd;
    do fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    return fd;
}

int mt_procfs_open(mt_procfs_proc *p, pid_t pid) {
    char path[64];
    p->pid = pid;
    p->statfd = p->statusfd = p->childrenfd = -1;
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    p->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0) return neg_errno();
    p->statfd = open_at(p->dirfd, "stat");
    if (p->statfd < 0) goto fail;
    p->statusfd = open_at(p->dirfd, "status");
    if (p->statusfd < 0) goto fail;
    /* The children list is optional (kernel config): opened here when it
     * exists, and its absence is not an error. */
    snprintf(path, sizeof path, "task/%d/children", (int)pid);
    p->childrenfd = open_at(p->dirfd, path);
    return 0;
fail:;
    int rc = neg_errno();
    mt_procfs_close(p);
    return rc;
}

void mt_procfs_close(mt_procfs_proc *p) {
    if (p->childrenfd >= 0) close(p->childrenfd);
    if (p->statusfd >= 0) close(p->statusfd);
    if (p->statfd >= 0) close(p->statfd);
    if (p->dirfd >= 0) close(p->dirfd);
    p->dirfd = p->statfd = p->statusfd = p->childrenfd = -1;
}

/* Parse an unsigned decimal at *s, skip one following space. A field that is
 * not a number ("-1" cannot occur in the fields we read) yields 0. */
static uint64_t next_u64(const char **s) {
    const char *p = *s;
    uint64_t v = 0;
    if (*p == '-') p++; /* e.g. priority; we never use the sign */
    while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
    while (*p == ' ') p++;
    *s = p;
    return v;
}

int mt_procfs_read_stat(mt_procfs_proc *p, mt_procfs_stat *out) {
    size_t len;
    int rc = pread_all(p->statfd, &len);
    if (rc < 0) return rc;
    /* "pid (comm) S ppid ...": comm may hold spaces and ')' - the last ')'
     * ends it. */
    char *open_paren = strchr(rbuf, '(');
    char *close_paren = strrchr(rbuf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren ||
        close_paren[1] != ' ')
        return -EPROTO;
    size_t clen = (size_t)(close_paren - open_paren - 1);
    if (clen >= sizeof out->comm) clen = sizeof out->comm - 1;
    memcpy(out->comm, open_paren + 1, clen);
    out->comm[clen] = '\0';
    const char *s = close_paren + 2;
    out->state = *s ? *s : '?';
    if (*s) s++;
    while (*s == ' ') s++;
    uint64_t f[64];
    int n = 0;
    /* Fields 4 onwards into f[field - 4]. */
    while (*s && *s != '\n' && n < 64) f[n++] = next_u64(&s);
#define F(k) ((k) - 4 < n ? f[(k) - 4] : 0)
    if (n < 21) return -EPROTO; /* up to rss (24) is in every kernel */
    out->ppid = (pid_t)F(4);
    out->minor_faults = F(10);
    out->major_faults = F(12);
    out->utime_clk = F(14);
    out->stime_clk = F(15);
    out->threads = F(20);
    out->start_clk = F(22);
    out->vsize_bytes = F(23);
    out->rss_pages = F(24);
    /* exit_code (52) reads as 0 when the reader lacks ptrace access, so it
     * is meaningful only for a zombie the caller may inspect. */
    out->has_exit_code = n >= 52 - 3;
    out->exit_code = (int)F(52);
#undef F
    return 0;
}

/* "Key:   1234 kB" -> bytes; the value of a line whose key matched. */
static uint64_t kb_value(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
    return v * 1024;
}

int mt_procfs_read_status(mt_procfs_proc *p, mt_procfs_status *out) {
    size_t len;
    int rc = pread_all(p->statusfd, &len);
    if (rc < 0) return rc;
    memset(out, 0, sizeof *out);
    for (const char *line = rbuf; *line;) {
        const char *nl = strchr(line, '\n');
        /* Only the lines that start with V or R matter: test the first byte
         * before any string comparison. */
        if (line[0] == 'V') {
            if (!strncmp(line, "VmHWM:", 6)) {
                out->peak_rss_bytes = kb_value(line + 6);
                out->has_vm = 1;
            } else if (!strncmp(line, "VmSwap:", 7)) {
                out->swap_bytes = kb_value(line + 7);
            } else if (!strncmp(line, "VmRSS:", 6)) {
                out->has_vm = 1;
            }
        } else if (line[0] == 'R') {
            if (!strncmp(line, "RssFile:", 8))
                out->shared_bytes += kb_value(line + 8);
            else if (!strncmp(line, "RssShmem:", 9))
                out->shared_bytes += kb_value(line + 9);
        }
        if (!nl) break;
        line = nl + 1;
    }
    return 0;
}

int mt_procfs_read_rollup(mt_procfs_proc *p, mt_procfs_rollup *out) {
    int fd = open_at(p->dirfd, "smaps_rollup");
    if (fd < 0) return neg_errno();
    size_t len;
    int rc = pread_all(fd, &len);
    close(fd);
    if (rc < 0) return rc;
    memset(out, 0, sizeof *out);
    int found = 0;
    for (const char *line = rbuf; *line;) {
        const char *nl = strchr(line, '\n');
        if (!strncmp(line, "Pss:", 4)) {
            out->pss_bytes = kb_value(line + 4);
            found = 1;
        } else if (!strncmp(line, "Private_Clean:", 14)) {
            out->uss_bytes += kb_value(line + 14);
        } else if (!strncmp(line, "Private_Dirty:", 14)) {
            out->uss_bytes += kb_value(line + 14);
        } else if (!strncmp(line, "Private_Hugetlb:", 16)) {
            out->uss_bytes += kb_value(line + 16);
        } else if (!strncmp(line, "Swap:", 5)) {
            out->swap_bytes = kb_value(line + 5);
        }
        if (!nl) break;
        line = nl + 1;
    }
    /* A zombie's smaps_rollup is empty: no memory to report. */
    return found ? 0 : -ESRCH;
}

int mt_procfs_read_cmdline(mt_procfs_proc *p, char *buf, size_t cap,
                           size_t *len) {
    int fd = open_at(p->dirfd, "cmdline");
    if (fd < 0) return neg_errno();
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k < 0) {
            if (errno == EINTR) continue;
            int rc = neg_errno();
            close(fd);
            return rc;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    close(fd);
    while (n > 0 && buf[n - 1] == '\0') n--;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0') buf[i] = ' ';
    buf[n] = '\0';
    *len = n;
    return 0;
}

int mt_procfs_read_exe(mt_procfs_proc *p, char *buf, size_t cap) {
    if (cap == 0) return -EINVAL;
    ssize_t n = readlinkat(p->dirfd, "exe", buf, cap - 1);
    if (n < 0) return neg_errno();
    buf[n] = '\0';
    return 0;
}

int mt_pidlist_push(mt_pidlist *l, pid_t pid) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        pid_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = pid;
    return 0;
}

void mt_pidlist_free(mt_pidlist *l) {
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* "123 456 " -> pids appended. */
static int parse_pids(const char *s, mt_pidlist *out) {
    while (*s) {
        while (*s == ' ' || *s == '\n') s++;
        if (!*s) break;
        uint64_t v = 0;
        while (*s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
        if (v) {
            int rc = mt_pidlist_push(out, (pid_t)v);
            if (rc < 0) return rc;
        }
        if (*s && *s != ' ' && *s != '\n') return -EPROTO;
    }
    return 0;
}

int mt_procfs_children(mt_procfs_proc *p, uint64_t threads, mt_pidlist *out) {
    size_t len;
    int rc;
    if (threads <= 1 && p->childrenfd >= 0) {
        rc = pread_all(p->childrenfd, &len);
        return rc < 0 ? rc : parse_pids(rbuf, out);
    }
    /* Several threads: each lists the children it forked. */
    int tfd = open_at(p->dirfd, "task");
    if (tfd < 0) return neg_errno();
    DIR *d = fdopendir(tfd);
    if (!d) {
        rc = neg_errno();
        close(tfd);
        return rc;
    }
    rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char name[300];
        snprintf(name, sizeof name, "%s/children", de->d_name);
        int fd = open_at(dirfd(d), name);
        if (fd < 0) continue; /* the thread ended meanwhile */
        int r = pread_all(fd, &len);
        close(fd);
        if (r == 0) r = parse_pids(rbuf, out);
        if (r == -ENOMEM) {
            rc = r;
            break;
        }
    }
    closedir(d);
    return rc;
}

int mt_procfs_have_children(void) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    return access(path, R_OK) == 0;
}

int mt_procfs_scan(mt_pidlist *pids, mt_pidlist *ppids) {
    DIR *d = opendir("/proc");
    if (!d) return neg_errno();
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9') continue;
        char name[300];
        snprintf(name, sizeof name, "%s/stat", de->d_name);
        int fd = open_at(dirfd(d), name);
        if (fd < 0) continue; /* gone, or hidden (hidepid) */
        size_t len;
        int r = pread_all(fd, &len);
        close(fd);
        if (r < 0) continue;
        const char *cp = strrchr(rbuf, ')');
        if (!cp || cp[1] != ' ' || !cp[2]) continue;
        const char *s = cp + 3; /* past ") S" */
        while (*s == ' ') s++;
        uint64_t ppid = next_u64(&s);
        if ((rc = mt_pidlist_push(pids, (pid_t)atoi(de->d_name))) < 0 ||
            (rc = mt_pidlist_push(ppids, (pid_t)ppid)) < 0)
            break;
    }
    closedir(d);
    return rc;
}

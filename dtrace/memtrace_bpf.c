/*
 * memtrace_bpf.c - memtrace-bpf (memtrace bpf): trace a running process
 * from outside, with bpftrace, into a memtrace trace: its C allocator calls
 * (malloc, calloc, realloc, free, with their native call stacks as the
 * unwinder gives them, symbolized at record time) and its RSS, so that
 * memtrace analyze, plot and diff work on a process that was never started
 * under memtrace. No restart, nothing loaded into the process.
 *
 * How: a bpftrace program (made here, printed by --print-program) prints
 * one line per event; this tool reads them, keeps each thread's stack of
 * native frames as CCALL/CRETURN records (functions named symbol and
 * library), writes ALLOC/FREE/REALLOC records in domain "malloc", reads
 * /proc/PID/statm every --rss-interval for RSS records, and counts the
 * events bpftrace says it lost as LOST records. It stops after --duration,
 * on SIGINT/SIGTERM, or when the process ends.
 *
 * When the process has memtrace's recorder loaded with its static probes
 * (dtrace/memtrace.d) and records, its Python function entries and returns
 * and its markers come from those probes: each native allocation is then
 * charged to the Python stack of its thread, under the native frames.
 *
 * Native stacks come from frame pointers: in a library built without them
 * (most distribution CPythons) the unwinder stops early, so each stack has
 * at least the allocator and its direct caller (read from the return
 * address at entry).
 */
#define _GNU_SOURCE /* memrchr */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memtrace_format.h"
#include "mt_cli.h"

static const char usage_text[] =
"usage: memtrace-bpf -p PID [-o FILE] [options]\n"
"\n"
"Trace a running process's C allocator (malloc, calloc, realloc, free, with\n"
"native call stacks) and RSS into a memtrace trace, from outside, with\n"
"bpftrace: memtrace analyze, plot and diff then read it. Needs root (or\n"
"CAP_BPF and CAP_PERFMON) and bpftrace. The process is not restarted and\n"
"loads nothing; each allocator call costs it a trip into the kernel (a few\n"
"microseconds) while attached.\n"
"\n"
"options:\n"
"  -p, --pid PID          the process to trace (required)\n"
"  -o, --output FILE      the trace (default memtrace-bpf.PID.trace; an\n"
"                         existing file is kept: give -f to overwrite it)\n"
"  -f, --force            overwrite FILE if it exists\n"
"  --duration TIME        stop after TIME (1.5, 200ms, 2m); default: when the\n"
"                         process ends, or on Ctrl-C\n"

"  --min-size BYTES       only allocations of at least BYTES (default 0: all;\n"
"                         frees are always traced)\n"
"  --rss-interval TIME    RSS sampling period (default 10ms)\n"
"  --bpftrace PATH        the bpftrace to run (default: bpftrace on PATH)\n"
"  --print-program        print the bpftrace program and exit\n"
"  -q, --quiet            say nothing on stderr but errors\n"
"  -h, --help             print this text and exit\n"
"\n"
"Python stacks: when the process records with memtrace (import memtrace;\n"
"memtrace.start(), any mode) and its recorder has static probes, the Python\n"
"functions entered and left and the markers come from them, and each\n"
"allocation is charged to its thread's Python stack under its native frames.\n"
"Frames entered before tracing began are not known: stacks start at the\n"
"first call seen.\n"
"Native stacks: the allocator's caller (its return address), then up to five\n"
"callers found through frame pointers (code built without them ends the\n"
"stack there), named from the process's libraries' symbol tables.\n"
"Exit status: 0, 1 (an error: not root, no bpftrace, no such process, a\n"
"write error), 2 (usage).\n";

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *read_file(const char *path, size_t *len);

/* ---- The trace ------------------------------------------------------------ */

static mt_writer *w;
static uint64_t anchor; /* CLOCK_MONOTONIC ns at the header's anchor */
static uint32_t next_sid = 1, next_fid = 1;
static uint64_t n_alloc, n_free, n_realloc, n_lost;

static void put(const mt_record *r) {
    int rc = mt_writer_append(w, r);
    if (rc < 0) mt_cli_die(1, "writing the trace: %s", mt_strerror(rc));
}

static uint64_t ticks(uint64_t mono_ns) { return mono_ns > anchor ? mono_ns - anchor : 0; }

static uint32_t def_string(const char *s, size_t len) {
    mt_record r = {.type = MT_REC_STRING};
    r.u.string.sid = next_sid;
    r.u.string.len = (uint32_t)len;
    r.u.string.bytes = s;
    put(&r);
    return next_sid++;
}

/* Functions by key: native ones by "sym\0lib", Python ones (from the
 * recorder's probes) by a binary key that starts with 0xff. */
typedef struct fent {
    char *key;
    size_t len;
    uint32_t fid;
} fent;
static fent *ftab;
static size_t fcap, fcount;
static uint8_t *fkind; /* by fid: MT_FUNC_PYTHON or MT_FUNC_C */
static uint32_t fkind_cap;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    return h;
}

/* The slot of key: its fid, or 0 and *slot where it goes. */
static uint32_t ftab_find(const char *key, size_t len, size_t *slot) {
    if ((fcount + 1) * 2 > fcap) {
        size_t cap = fcap ? fcap * 2 : 1024;
        fent *t = calloc(cap, sizeof *t);
        if (!t) mt_cli_die(1, "out of memory");
        for (size_t i = 0; i < fcap; i++) {
            if (!ftab[i].key) continue;
            size_t j = hash_bytes(ftab[i].key, ftab[i].len) & (cap - 1);
            while (t[j].key) j = (j + 1) & (cap - 1);
            t[j] = ftab[i];
        }
        free(ftab);
        ftab = t;
        fcap = cap;
    }
    size_t j = hash_bytes(key, len) & (fcap - 1);
    for (; ftab[j].key; j = (j + 1) & (fcap - 1))
        if (ftab[j].len == len && memcmp(ftab[j].key, key, len) == 0) return ftab[j].fid;
    *slot = j;
    return 0;
}

/* Define the next function under key at slot; its fid. */
static uint32_t ftab_define(size_t slot, const char *key, size_t len, uint32_t kind,
                            const char *qual, size_t qlen, const char *module, size_t mlen,
                            const char *file, size_t flen, uint32_t first_line) {
    char *k = malloc(len);
    if (!k) mt_cli_die(1, "out of memory");
    memcpy(k, key, len);
    ftab[slot] = (fent){k, len, next_fid};
    fcount++;
    if (next_fid >= fkind_cap) {
        uint32_t cap = fkind_cap ? fkind_cap * 2 : 1024;
        uint8_t *a = realloc(fkind, cap);
        if (!a) mt_cli_die(1, "out of memory");
        fkind = a;
        fkind_cap = cap;
    }
    fkind[next_fid] = (uint8_t)kind;
    mt_record r = {.type = MT_REC_FUNCTION};
    r.u.function.fid = next_fid;
    r.u.function.kind = kind;
    r.u.function.qualname_sid = def_string(qual, qlen);
    r.u.function.module_sid = module ? def_string(module, mlen) : 0;
    r.u.function.file_sid = file ? def_string(file, flen) : 0;
    r.u.function.first_line = first_line;
    put(&r);
    return next_fid++;
}

static uint32_t function_of(const char *sym, size_t symlen, const char *lib, size_t liblen) {
    char key[1024];
    if (symlen > 500) symlen = 500;
    if (liblen > 500) liblen = 500;
    memcpy(key, sym, symlen);
    key[symlen] = 0;
    memcpy(key + symlen + 1, lib, liblen);
    size_t len = symlen + 1 + liblen, slot = 0;
    uint32_t fid = ftab_find(key, len, &slot);
    if (fid) return fid;
    const char *base = memrchr(lib, '/', liblen);
    base = base ? base + 1 : lib;
    return ftab_define(slot, key, len, MT_FUNC_C, sym, symlen, base,
                       liblen - (size_t)(base - lib), lib, liblen, 0);
}

/* Threads: OS tid -> trace tid and stack. */
typedef struct thr {
    uint32_t os_tid, tid;
    uint32_t *fids; /* native frames (above the Python ones), outermost first */
    uint32_t depth, cap;
    uint32_t *py; /* Python frames from the recorder's probes, outermost first */
    uint32_t pydepth, pycap;
    uint64_t last; /* ticks of its last record: times never go back */
} thr;
static thr *threads;
static uint32_t nthreads;
static int target_pid;

static thr *thread_of(uint32_t os_tid) {
    for (uint32_t i = 0; i < nthreads; i++)
        if (threads[i].os_tid == os_tid) return &threads[i];
    thr *t = realloc(threads, (nthreads + 1) * sizeof *t);
    if (!t) mt_cli_die(1, "out of memory");
    threads = t;
    thr *n = &threads[nthreads++];
    *n = (thr){.os_tid = os_tid, .tid = nthreads};
    char path[64], name[64] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%u/comm", target_pid, os_tid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(name, sizeof name, f)) name[strcspn(name, "\n")] = 0;
        fclose(f);
    }
    mt_record r = {.type = MT_REC_THREAD, .tid = n->tid};
    r.u.thread.native_id = os_tid;
    r.u.thread.len = (uint32_t)strlen(name);
    r.u.thread.name = name;
    put(&r);
    return n;
}

/* Make t's stack fids[0..n) (outermost first): CRETURN and CCALL records
 * for the difference, at time tk. */
static void set_stack(thr *t, const uint32_t *fids, uint32_t n, uint64_t tk) {
    uint32_t common = 0;
    while (common < t->depth && common < n && t->fids[common] == fids[common]) common++;
    while (t->depth > common) {
        mt_record r = {.type = MT_REC_CRETURN, .tid = t->tid, .t = tk};
        put(&r);
        t->depth--;
    }
    if (n > t->cap) {
        uint32_t *f = realloc(t->fids, n * sizeof *f);
        if (!f) mt_cli_die(1, "out of memory");
        t->fids = f;
        t->cap = n;
    }
    for (uint32_t i = common; i < n; i++) {
        mt_record r = {.type = MT_REC_CCALL, .tid = t->tid, .t = tk};
        r.u.call.fid = fids[i];
        put(&r);
        t->fids[t->depth++] = fids[i];
    }
}

/* Its time for t: ts in ticks, but never before t's last record (bpftrace's
 * per-CPU buffers can hand a migrated thread's events over out of order). */
static uint64_t tick_of(thr *t, uint64_t ts) {
    uint64_t tk = ticks(ts);
    if (tk < t->last) tk = t->last;
    t->last = tk;
    return tk;
}

/* ---- Python frames, from the recorder's probes ------------------------- */

/* The recorder's names are strings in the process (its string table), met
 * by address: bpftrace prints each address's text the first time (lines
 * "Nq ADDR TEXT", "Nf ADDR TEXT"), here kept by address until the recording
 * stops (then the addresses may be reused: generation goes up). */
typedef struct pstr { uint64_t addr; uint32_t gen; char *text; } pstr;
static pstr *pstrs;
static size_t pstr_cap, pstr_n;
static uint32_t generation;

static const char *pstr_get(uint64_t addr) {
    if (!pstr_cap) return NULL;
    size_t j = (size_t)(hash_bytes((const char *)&addr, 8) & (pstr_cap - 1));
    for (; pstrs[j].text; j = (j + 1) & (pstr_cap - 1))
        if (pstrs[j].addr == addr && pstrs[j].gen == generation) return pstrs[j].text;
    return NULL;
}

static void pstr_put(uint64_t addr, const char *text) {
    if ((pstr_n + 1) * 2 > pstr_cap) {
        size_t cap = pstr_cap ? pstr_cap * 2 : 1024;
        pstr *t = calloc(cap, sizeof *t);
        if (!t) mt_cli_die(1, "out of memory");
        for (size_t i = 0; i < pstr_cap; i++) {
            if (!pstrs[i].text) continue;
            if (pstrs[i].gen != generation) { /* an old recording's: gone */
                free(pstrs[i].text);
                pstr_n--;
                continue;
            }
            size_t j = (size_t)(hash_bytes((const char *)&pstrs[i].addr, 8) & (cap - 1));
            while (t[j].text) j = (j + 1) & (cap - 1);
            t[j] = pstrs[i];
        }
        free(pstrs);
        pstrs = t;
        pstr_cap = cap;
    }
    size_t j = (size_t)(hash_bytes((const char *)&addr, 8) & (pstr_cap - 1));
    for (; pstrs[j].text; j = (j + 1) & (pstr_cap - 1))
        if (pstrs[j].addr == addr && pstrs[j].gen == generation) return; /* known */
    char *c = strdup(text);
    if (!c) mt_cli_die(1, "out of memory");
    pstrs[j] = (pstr){addr, generation, c};
    pstr_n++;
}

/* The function the recorder named by (qualname, file, first line). */
static uint32_t py_function(uint64_t qaddr, uint64_t faddr, uint32_t line) {
    char key[1 + 4 + 8 + 8 + 4];
    key[0] = (char)0xff;
    memcpy(key + 1, &generation, 4);
    memcpy(key + 5, &qaddr, 8);
    memcpy(key + 13, &faddr, 8);
    memcpy(key + 21, &line, 4);
    size_t slot = 0;
    uint32_t fid = ftab_find(key, sizeof key, &slot);
    if (fid) return fid;
    const char *q = pstr_get(qaddr), *f = pstr_get(faddr);
    if (!q) q = "?";
    if (!f) f = "";
    return ftab_define(slot, key, sizeof key, *f ? MT_FUNC_PYTHON : MT_FUNC_C, q, strlen(q),
                       NULL, 0, *f ? f : NULL, strlen(f), line);
}

static void py_enter(thr *t, uint32_t fid, uint64_t tk) {
    set_stack(t, NULL, 0, tk); /* native frames end where Python goes on */
    if (t->pydepth == t->pycap) {
        uint32_t cap = t->pycap ? t->pycap * 2 : 64;
        uint32_t *a = realloc(t->py, cap * sizeof *a);
        if (!a) mt_cli_die(1, "out of memory");
        t->py = a;
        t->pycap = cap;
    }
    t->py[t->pydepth++] = fid;
    mt_record r = {.type = fkind[fid] == MT_FUNC_PYTHON ? MT_REC_CALL : MT_REC_CCALL,
                   .tid = t->tid, .t = tk};
    r.u.call.fid = fid;
    put(&r);
}

/* A return: of a frame entered since tracing began, or (nothing to pop)
 * of one entered before. */
static void py_leave(thr *t, uint64_t tk) {
    set_stack(t, NULL, 0, tk);
    if (!t->pydepth) return;
    uint32_t fid = t->py[--t->pydepth];
    mt_record r = {.type = fkind[fid] == MT_FUNC_PYTHON ? MT_REC_RETURN : MT_REC_CRETURN,
                   .tid = t->tid, .t = tk};
    r.u.call.fid = fid;
    put(&r);
}

static uint64_t n_calls, n_markers;

/* ---- Symbols: /proc/PID/maps and the ELF files' symbol tables ------------ */

/* bpftrace 0.17 symbolizes stacks slowly enough (seconds per new address
 * on a big libpython, the process left waiting for nothing but the trace
 * late) that this tool asks it for raw addresses and names them itself. */
typedef struct esym { uint64_t value, size; const char *name; } esym;
typedef struct elf {
    char *path;      /* as in the maps */
    char *data;      /* the file, read whole (NULL: unreadable) */
    size_t len;
    esym *syms;      /* functions, by value */
    size_t nsyms;
    struct { uint64_t off, vaddr, filesz; } load[16]; /* PT_LOAD segments */
    int nload;
} elf;
typedef struct vma { uint64_t start, end, off; size_t e; } vma; /* e: in elfs (which moves) */
static elf *elfs;
static size_t nelfs;
static vma *vmas;
static size_t nvmas;
static uint64_t maps_read_at;

#include <elf.h>

static int cmp_esym(const void *x, const void *y) {
    const esym *a = x, *b = y;
    return a->value < b->value ? -1 : a->value > b->value;
}

static void elf_load(elf *e) {
    char path[4200];
    snprintf(path, sizeof path, "/proc/%d/root%s", target_pid, e->path);
    size_t n;
    char *d = read_file(path, &n);
    if (!d || n < sizeof(Elf64_Ehdr) || memcmp(d, ELFMAG, SELFMAG) != 0 ||
        d[EI_CLASS] != ELFCLASS64) {
        free(d);
        return;
    }
    e->data = d;
    e->len = n;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)d;
    for (int i = 0; i < eh->e_phnum && e->nload < 16; i++) {
        uint64_t o = eh->e_phoff + (uint64_t)i * eh->e_phentsize;
        if (o + sizeof(Elf64_Phdr) > n) break;
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(d + o);
        if (ph->p_type != PT_LOAD) continue;
        e->load[e->nload].off = ph->p_offset;
        e->load[e->nload].vaddr = ph->p_vaddr;
        e->load[e->nload].filesz = ph->p_filesz;
        e->nload++;
    }
    if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > n) return;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(d + eh->e_shoff);
    size_t cap = 0;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM) continue;
        if (sh[i].sh_link >= eh->e_shnum) continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > n || str->sh_offset + str->sh_size > n) continue;
        const Elf64_Sym *sy = (const Elf64_Sym *)(d + sh[i].sh_offset);
        size_t k = sh[i].sh_size / sizeof *sy;
        for (size_t j = 0; j < k; j++) {
            if (ELF64_ST_TYPE(sy[j].st_info) != STT_FUNC || !sy[j].st_value) continue;
            if (sy[j].st_name >= str->sh_size) continue;
            if (e->nsyms == cap) {
                cap = cap ? cap * 2 : 1024;
                esym *ns = realloc(e->syms, cap * sizeof *ns);
                if (!ns) return;
                e->syms = ns;
            }
            e->syms[e->nsyms++] = (esym){sy[j].st_value, sy[j].st_size,
                                         d + str->sh_offset + sy[j].st_name};
        }
    }
    if (e->nsyms) qsort(e->syms, e->nsyms, sizeof *e->syms, cmp_esym);
}

static elf *elf_of(const char *path) {
    for (size_t i = 0; i < nelfs; i++)
        if (strcmp(elfs[i].path, path) == 0) return &elfs[i];
    return NULL;
}

/* Read the executable mappings again (a library loaded since). */
static void maps_read(void) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", target_pid);
    size_t n;
    char *m = read_file(path, &n);
    if (!m) return;
    free(vmas);
    vmas = NULL;
    nvmas = 0;
    size_t cap = 0;
    for (char *line = strtok(m, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long long a, b, off;
        char perm[8];
        int pos = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &a, &b, perm, &off, &pos) < 4 ||
            perm[2] != 'x' || !pos || line[pos] != '/')
            continue;
        const char *p = line + pos;
        elf *e = elf_of(p);
        if (!e) {
            elf *ne = realloc(elfs, (nelfs + 1) * sizeof *ne);
            if (!ne) break;
            elfs = ne;
            e = &elfs[nelfs++];
            memset(e, 0, sizeof *e);
            if (!(e->path = strdup(p))) {
                nelfs--;
                continue;
            }
            elf_load(e);
        }
        if (nvmas == cap) {
            cap = cap ? cap * 2 : 64;
            vma *nv = realloc(vmas, cap * sizeof *nv);
            if (!nv) break;
            vmas = nv;
        }
        vmas[nvmas++] = (vma){a, b, off, (size_t)(e - elfs)};
    }
    free(m);
    maps_read_at = now_ns();
}

/* The function of a code address: fid, or 0 when the address is in no
 * executable mapping (not a return address: the unwinding went wrong). */
static uint32_t fid_of_addr(uint64_t addr) {
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nvmas; i++) {
            const vma *v = &vmas[i];
            if (addr < v->start || addr >= v->end) continue;
            const elf *e = &elfs[v->e];
            uint64_t off = addr - v->start + v->off, va = off;
            for (int k = 0; k < e->nload; k++)
                if (off >= e->load[k].off && off < e->load[k].off + e->load[k].filesz)
                    va = e->load[k].vaddr + (off - e->load[k].off);
            const char *name = NULL;
            size_t lo = 0, hi = e->nsyms;
            while (lo < hi) { /* the last symbol at or below va */
                size_t mid = (lo + hi) / 2;
                if (e->syms[mid].value <= va) lo = mid + 1;
                else hi = mid;
            }
            if (lo && (e->syms[lo - 1].size == 0 ||
                       va < e->syms[lo - 1].value + e->syms[lo - 1].size))
                name = e->syms[lo - 1].name;
            char hex[32];
            if (!name) {
                snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)va);
                name = hex;
            }
            return function_of(name, strlen(name), e->path, strlen(e->path));
        }
        /* not found: a library loaded since the last reading, at most once
         * a second */
        if (pass == 0 && now_ns() - maps_read_at > 1000000000u) maps_read();
        else break;
    }
    return 0;
}

/* ---- bpftrace's output -------------------------------------------------- */

/* Entries waiting for their return, per thread (nested calls: a stack). */
typedef struct pend {
    uint32_t os_tid;
    char kind; /* 'M' malloc/calloc, 'Q' realloc */
    uint64_t ts, size, old;
    uint64_t addr[6]; /* return addresses, innermost first */
} pend;
static pend pending[256];
static uint32_t npending;

static void emit(const pend *p, uint64_t ret) {
    if (!ret) return; /* failed */
    thr *t = thread_of(p->os_tid);
    uint64_t tk = tick_of(t, p->ts);
    uint32_t in[8], n = 0;
    static uint32_t f_malloc, f_realloc;
    if (!f_malloc) {
        static const char lib[] = "libc";
        f_malloc = function_of("malloc", 6, lib, sizeof lib - 1);
        f_realloc = function_of("realloc", 7, lib, sizeof lib - 1);
    }
    in[n++] = p->kind == 'Q' ? f_realloc : f_malloc;
    for (int i = 0; i < 6; i++) { /* the first bad address ends the stack */
        uint32_t f = p->addr[i] ? fid_of_addr(p->addr[i] - 1) : 0;
        if (!f) break;
        in[n++] = f;
    }
    uint32_t outer[8];
    for (uint32_t i = 0; i < n; i++) outer[i] = in[n - 1 - i];
    set_stack(t, outer, n, tk);
    mt_record r = {.tid = t->tid, .t = tk, .domain = MT_DOMAIN_MALLOC};
    if (p->kind == 'Q' && p->old) {
        r.type = MT_REC_REALLOC;
        r.u.realloc.old_addr = p->old;
        r.u.realloc.addr = ret;
        r.u.realloc.size = p->size;
        n_realloc++;
    } else {
        r.type = MT_REC_ALLOC;
        r.u.alloc.addr = ret;
        r.u.alloc.size = p->size;
        n_alloc++;
    }
    put(&r);
}

static void line_in(char *s) {
    unsigned long long ts, x, y, a[6] = {0};
    unsigned tid;
    if ((s[0] == 'M' || s[0] == 'Q') &&
        sscanf(s + 2, "%llu %u %llu %llu %llx %llx %llx %llx %llx %llx", &ts, &tid, &x, &y,
               &a[0], &a[1], &a[2], &a[3], &a[4], &a[5]) >= 5) {
        if (npending == 256) { /* a lost return: the oldest goes */
            memmove(&pending[0], &pending[1], (npending - 1) * sizeof *pending);
            npending--;
        }
        pend *p = &pending[npending++];
        *p = (pend){tid, s[0], ts, x, y, {a[0], a[1], a[2], a[3], a[4], a[5]}};
        return;
    }
    if (s[0] == 'r' && sscanf(s + 2, "%llu %u %llu", &ts, &tid, &x) == 3) {
        for (uint32_t i = npending; i-- > 0;) {
            if (pending[i].os_tid != tid) continue;
            pend p = pending[i];
            memmove(&pending[i], &pending[i + 1], (npending - i - 1) * sizeof *pending);
            npending--;
            emit(&p, x);
            break;
        }
        return;
    }
    if (s[0] == 'F' && sscanf(s + 2, "%llu %u %llu", &ts, &tid, &x) == 3) {
        thr *t = thread_of(tid);
        mt_record r = {.type = MT_REC_FREE, .tid = t->tid, .t = tick_of(t, ts),
                       .domain = MT_DOMAIN_MALLOC};
        r.u.alloc.addr = x;
        put(&r);
        n_free++;
        return;
    }
    /* The recorder's probes: a call (qualname, file at addresses, first
     * line), a return, a name's text, a marker, a recording's stop. */
    unsigned long long q, f;
    int line;
    if (s[0] == 'E' && sscanf(s + 2, "%llu %u %llx %llx %d", &ts, &tid, &q, &f, &line) == 5) {
        thr *t = thread_of(tid);
        py_enter(t, py_function(q, f, (uint32_t)(line < 0 ? 0 : line)), tick_of(t, ts));
        n_calls++;
        return;
    }
    if (s[0] == 'X' && sscanf(s + 2, "%llu %u", &ts, &tid) == 2) {
        thr *t = thread_of(tid);
        py_leave(t, tick_of(t, ts));
        return;
    }
    int pos = 0;
    if (s[0] == 'N' && (s[1] == 'q' || s[1] == 'f') &&
        sscanf(s + 3, "%llu %llx %n", &ts, &q, &pos) == 2 && pos) {
        pstr_put(q, s + 3 + pos);
        return;
    }
    if (s[0] == 'K' && sscanf(s + 2, "%llu %u %n", &ts, &tid, &pos) == 2 && pos) {
        thr *t = thread_of(tid);
        mt_record r = {.type = MT_REC_MARKER, .tid = t->tid, .t = tick_of(t, ts)};
        r.u.marker.text = s + 2 + pos;
        r.u.marker.len = (uint32_t)strlen(s + 2 + pos);
        put(&r);
        n_markers++;
        return;
    }
    if (s[0] == 'S' && sscanf(s + 2, "%llu", &ts) == 1) {
        /* the recording stopped: its frames end, its names may go */
        for (uint32_t i = 0; i < nthreads; i++) {
            thr *t = &threads[i];
            uint64_t tk = tick_of(t, ts);
            while (t->pydepth) py_leave(t, tk);
        }
        generation++;
        return;
    }
    if (sscanf(s, "Lost %llu events", &x) == 1) n_lost += x;
}

/* ---- Putting bpftrace's lines back in time order --------------------------
 *
 * bpftrace hands over each CPU's buffer in turn: a thread that moved to
 * another CPU can have its later events read before its earlier ones (a
 * malloc's return before its entry, a call after the allocation it made).
 * Every event line carries its time (the second field); lines wait here
 * until the newest time read is REORDER_NS past theirs, then go in time
 * order (ties in reading order). The rest (bpftrace's own words) go at
 * once. */
#define REORDER_NS 50000000u
typedef struct qline { uint64_t ts, seq; char *text; } qline;
static qline *heap;
static size_t heap_n, heap_cap;
static uint64_t heap_seq, newest_ts;

static int q_before(const qline *a, const qline *b) {
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void queue_line(const char *s) {
    unsigned long long ts;
    int timed = 0;
    if (s[0] && strchr("MQrFEXKS", s[0]) && s[1] == ' ') timed = sscanf(s + 2, "%llu", &ts) == 1;
    else if (s[0] == 'N' && (s[1] == 'q' || s[1] == 'f') && s[2] == ' ')
        timed = sscanf(s + 3, "%llu", &ts) == 1;
    char *copy = timed ? strdup(s) : NULL;
    if (!timed || !copy) {
        line_in((char *)s);
        return;
    }
    if (heap_n == heap_cap) {
        size_t cap = heap_cap ? heap_cap * 2 : 4096;
        qline *h = realloc(heap, cap * sizeof *h);
        if (!h) mt_cli_die(1, "out of memory");
        heap = h;
        heap_cap = cap;
    }
    size_t i = heap_n++;
    heap[i] = (qline){ts, heap_seq++, copy};
    while (i && q_before(&heap[i], &heap[(i - 1) / 2])) { /* up */
        qline t = heap[i];
        heap[i] = heap[(i - 1) / 2];
        heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    if (ts > newest_ts) newest_ts = ts;
}

/* The lines timed at or before limit, in order. */
static void drain(uint64_t limit) {
    while (heap_n && heap[0].ts <= limit) {
        qline top = heap[0];
        heap[0] = heap[--heap_n];
        for (size_t i = 0;;) { /* down */
            size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < heap_n && q_before(&heap[l], &heap[m])) m = l;
            if (r < heap_n && q_before(&heap[r], &heap[m])) m = r;
            if (m == i) break;
            qline t = heap[i];
            heap[i] = heap[m];
            heap[m] = t;
            i = m;
        }
        line_in(top.text);
        free(top.text);
    }
}

/* ---- The bpftrace program ------------------------------------------------ */

/* At an allocator's entry: its return address (at the stack pointer), then
 * up to five more from the frame-pointer chain (0 where unreadable); the
 * result comes with the return. */
#define MT_BPF_FRAMES                                                          \
    "$f = reg(\"bp\"); $c1 = *(uint64 *)reg(\"sp\"); $c2 = *(uint64 *)($f + 8); " \
    "$f = *(uint64 *)$f; $c3 = *(uint64 *)($f + 8); $f = *(uint64 *)$f; "       \
    "$c4 = *(uint64 *)($f + 8); $f = *(uint64 *)$f; $c5 = *(uint64 *)($f + 8); " \
    "$f = *(uint64 *)$f; $c6 = *(uint64 *)($f + 8); "

/* The recorder's probes (dtrace/memtrace.d), when the process has them
 * (so is the recorder's path): names are printed the first time a thread
 * meets them, in the same probe as the call that needs them, so that they
 * come through the same per-CPU buffer first. */
static const char py_probes[] =
    "usdt:%s:memtrace:function__entry { "
    "if (!@q[tid, arg0]) { @q[tid, arg0] = 1; printf(\"Nq %%llu %%llx %%s\\n\", nsecs, arg0, str(arg0)); } "
    "if (!@f[tid, arg1]) { @f[tid, arg1] = 1; printf(\"Nf %%llu %%llx %%s\\n\", nsecs, arg1, str(arg1)); } "
    "printf(\"E %%llu %%d %%llx %%llx %%d\\n\", nsecs, tid, arg0, arg1, arg2); }\n"
    "usdt:%s:memtrace:function__return { printf(\"X %%llu %%d\\n\", nsecs, tid); }\n"
    "usdt:%s:memtrace:marker { printf(\"K %%llu %%d %%s\\n\", nsecs, tid, str(arg0, arg1)); }\n"
    "usdt:%s:memtrace:stop { clear(@q); clear(@f); printf(\"S %%llu\\n\", nsecs); }\n"
    "END { clear(@q); clear(@f); clear(@in); clear(@cin); clear(@rin); }\n";

static char *program(int pid, uint64_t min_size, const char *so) {
    static char buf[16384];
    unsigned long long m = min_size ? min_size : 1;
    int n = snprintf(buf, sizeof buf,
             /* BEGIN runs once every probe is attached ("Attaching N
              * probes..." comes before): the tool says it is tracing then. */
             "BEGIN { printf(\"MTBPF attached\\n\"); }\n"
             "uprobe:libc:malloc /pid == %d && arg0 >= %llu/ { " MT_BPF_FRAMES
             "@in[tid] = 1; printf(\"M %%llu %%d %%llu 0 %%llx %%llx %%llx %%llx %%llx %%llx\\n\", "
             "nsecs, tid, arg0, $c1, $c2, $c3, $c4, $c5, $c6); }\n"
             "uretprobe:libc:malloc /pid == %d && @in[tid]/ { delete(@in[tid]); "
             "printf(\"r %%llu %%d %%llu\\n\", nsecs, tid, retval); }\n"
             "uprobe:libc:calloc /pid == %d && arg0 * arg1 >= %llu/ { " MT_BPF_FRAMES
             "@cin[tid] = 1; printf(\"M %%llu %%d %%llu 0 %%llx %%llx %%llx %%llx %%llx %%llx\\n\", "
             "nsecs, tid, arg0 * arg1, $c1, $c2, $c3, $c4, $c5, $c6); }\n"
             "uretprobe:libc:calloc /pid == %d && @cin[tid]/ { delete(@cin[tid]); "
             "printf(\"r %%llu %%d %%llu\\n\", nsecs, tid, retval); }\n"
             "uprobe:libc:realloc /pid == %d/ { " MT_BPF_FRAMES
             "@rin[tid] = 1; printf(\"Q %%llu %%d %%llu %%llu %%llx %%llx %%llx %%llx %%llx %%llx\\n\", "
             "nsecs, tid, arg1, arg0, $c1, $c2, $c3, $c4, $c5, $c6); }\n"
             "uretprobe:libc:realloc /pid == %d && @rin[tid]/ { delete(@rin[tid]); "
             "printf(\"r %%llu %%d %%llu\\n\", nsecs, tid, retval); }\n"
             "uprobe:libc:free /pid == %d && arg0 != 0/ { printf(\"F %%llu %%d %%llu\\n\", "
             "nsecs, tid, arg0); }\n",
             pid, m, pid, pid, m, pid, pid, pid, pid);
    if (so && n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, py_probes, so, so, so, so);
    return buf;
}

/* The recorder's extension module in the process, when it has its probes:
 * its path (as mapped), or NULL. */
static const char *recorder_with_probes(void) {
    for (size_t i = 0; i < nelfs; i++) {
        const elf *e = &elfs[i];
        const char *base = strrchr(e->path, '/');
        base = base ? base + 1 : e->path;
        if (strncmp(base, "_memtrace", 9) != 0 || !strstr(base, ".so") || !e->data) continue;
        static const char needle[] = "memtrace\0function__entry";
        if (memmem(e->data, e->len, needle, sizeof needle - 1)) return e->path;
    }
    return NULL;
}

/* ---- Main ---------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    for (ssize_t k; b && (k = read(fd, b + n, cap - n)) > 0;) {
        n += (size_t)k;
        if (n == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) break;
            b = nb;
            cap *= 2;
        }
    }
    close(fd);
    if (b) b[n] = 0;
    *len = n;
    return b;
}

static uint64_t rss_of(int pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0) return 0;
    buf[k] = 0;
    unsigned long long size, res;
    if (sscanf(buf, "%llu %llu", &size, &res) != 2) return 0;
    return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int find_in_path(const char *name, char *out, size_t n) {
    if (strchr(name, '/')) {
        snprintf(out, n, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin:/usr/sbin:/sbin";
    while (*path) {
        const char *e = strchr(path, ':');
        size_t l = e ? (size_t)(e - path) : strlen(path);
        snprintf(out, n, "%.*s/%s", (int)l, path, name);
        if (l && access(out, X_OK) == 0) return 1;
        path += l + (e ? 1 : 0);
    }
    return 0;
}

int main(int argc, char **argv) {
    enum { OPT_DURATION = 256, OPT_MIN, OPT_RSS, OPT_BPFTRACE, OPT_PRINT };
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"min-size", required_argument, NULL, OPT_MIN},
        {"rss-interval", required_argument, NULL, OPT_RSS},
        {"bpftrace", required_argument, NULL, OPT_BPFTRACE},
        {"print-program", no_argument, NULL, OPT_PRINT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mt_cli_init("memtrace-bpf");
    const char *out = NULL, *bpftrace = "bpftrace";
    int pid = 0, force = 0, quiet = 0, print_only = 0, c;
    uint64_t duration = 0, min_size = 0, rss_every = 10000000, v;
    opterr = 0;
    while ((c = mt_cli_getopt(argc, argv, "p:o:fqh", longopts, usage_text)) != -1) {
        switch (c) {
        case 'p':
            if (mt_cli_parse_u64(optarg, &v) < 0 || v < 1 || v > 0x7fffffff)
                mt_cli_usage_error(usage_text, "invalid --pid '%s'", optarg);
            pid = (int)v;
            break;
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case 'q': quiet = 1; break;
        case OPT_DURATION:
            if (mt_cli_parse_duration(optarg, &duration) < 0 || !duration)
                mt_cli_usage_error(usage_text, "invalid --duration '%s' (e.g. 10, 500ms, 2m)",
                                   optarg);
            break;
        case OPT_MIN:
            if (mt_cli_parse_bytes(optarg, &min_size) < 0)
                mt_cli_usage_error(usage_text, "invalid --min-size '%s'", optarg);
            break;
        case OPT_RSS:
            if (mt_cli_parse_duration(optarg, &rss_every) < 0 || rss_every < 1000000)
                mt_cli_usage_error(usage_text, "invalid --rss-interval '%s' (at least 1ms)",
                                   optarg);
            break;
        case OPT_BPFTRACE: bpftrace = optarg; break;
        case OPT_PRINT: print_only = 1; break;
        case 'h':
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        default:
            mt_cli_usage_error(usage_text, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) mt_cli_usage_error(usage_text, "unexpected operand '%s'", argv[optind]);
    if (!pid) mt_cli_usage_error(usage_text, "no process given (-p PID)");
    if (print_only) {
        target_pid = pid;
        maps_read();
        fputs(program(pid, min_size, recorder_with_probes()), stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    char procdir[64];
    snprintf(procdir, sizeof procdir, "/proc/%d", pid);
    if (access(procdir, F_OK) != 0) mt_cli_die(1, "no process %d", pid);
    char exe[4096];
    if (!find_in_path(bpftrace, exe, sizeof exe))
        mt_cli_die(1, "bpftrace is not installed (%s not found; Debian: apt install bpftrace)",
                   bpftrace);
    if (geteuid() != 0)
        mt_cli_die(1, "needs root (bpftrace loads BPF programs and uprobes): run it with sudo");
    char defpath[64];
    if (!out) {
        snprintf(defpath, sizeof defpath, "memtrace-bpf.%d.trace", pid);
        out = defpath;
    }
    target_pid = pid;
    struct stat st;
    if (!force && lstat(out, &st) == 0)
        mt_cli_die(1, "%s exists: give -f to overwrite it, or -o another file", out);

    /* The header: the target's identity. */
    mt_header h;
    mt_header_init(&h);
    anchor = h.anchor_ticks; /* CLOCK_MONOTONIC ns, as bpftrace's nsecs */
    h.pid = (uint32_t)pid;
    {
        char path[64];
        size_t n;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        char *s = read_file(path, &n);
        const char *rp = s ? strrchr(s, ')') : NULL;
        int ppid = 0;
        if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1) h.ppid = (uint32_t)ppid;
        free(s);
    }
    static char exepath[4096];
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/exe", pid);
    ssize_t el = readlink(link, exepath, sizeof exepath - 1);
    if (el > 0) {
        exepath[el] = 0;
        h.executable = exepath;
    }
    size_t cl = 0;
    snprintf(link, sizeof link, "/proc/%d/cmdline", pid);
    char *cmd = read_file(link, &cl);
    const char *argvv[256];
    uint32_t ac = 0;
    for (size_t i = 0; cmd && i < cl && ac < 256; i += strlen(cmd + i) + 1) argvv[ac++] = cmd + i;
    h.argv = argvv;
    h.argc = ac;
    h.producer = "memtrace-bpf " MT_LIBRARY_VERSION;
    h.mode = "bpf";
    h.content = MT_CONTENT_CALLS | MT_CONTENT_CCALLS | MT_CONTENT_ALLOCS | MT_CONTENT_RSS;
    h.alloc_sample_bytes = 1;
    h.python_implementation = NULL;
    mt_writer_options wopt = {0, 1};
    int rc = mt_writer_open(&w, out, &h, &wopt);
    if (rc < 0) mt_cli_die(1, "cannot write %s: %s", out, mt_strerror(rc));

    /* bpftrace, its output into a pipe. */
    int pfd[2];
    if (pipe(pfd) < 0) mt_cli_die(1, "pipe: %s", strerror(errno));
    maps_read();
    const char *so = recorder_with_probes();
    char *prog = program(pid, min_size, so);
    pid_t bt = fork();
    if (bt < 0) mt_cli_die(1, "fork: %s", strerror(errno));
    if (bt == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0); /* nothing of ours to read */
        /* -B line: its printf lines reach us as they are made (block
         * buffering kept the last events from the pipe at SIGINT). */
        /* Python file names are longer than str()'s default 64 bytes */
        setenv("BPFTRACE_STRLEN", "200", 1);
        char pids[16];
        snprintf(pids, sizeof pids, "%d", pid);
        /* -p: the probes' semaphores are set in that process */
        execl(exe, exe, "-B", "line", "-p", pids, "-e", prog, (char *)NULL);
        fprintf(stderr, "memtrace-bpf: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    uint64_t t0 = now_ns(), next_rss = t0, stop_at = 0, ready_at = 0;
    int attached = 0, stopping = 0;
    {
        static const char name[] = "[process]"; /* the RSS samples' thread */
        mt_record r = {.type = MT_REC_THREAD, .tid = 0};
        r.u.thread.len = sizeof name - 1;
        r.u.thread.name = name;
        put(&r);
    }
    char *lb = malloc(1 << 16), first_err[256] = "";
    size_t ll = 0;
    char rbuf[65536];
    for (;;) {
        uint64_t t = now_ns();
        if (ready_at && t >= ready_at) {
            ready_at = 0;
            if (!quiet)
                fprintf(stderr, "memtrace-bpf: tracing process %d into %s%s\n", pid, out,
                        so ? " (with the Python calls of its memtrace recording)" : "");
        }
        if (!stopping && (stop_flag || (duration && t - t0 >= duration) ||
                          kill(pid, 0) < 0)) {
            /* bpftrace drops what is still in its ring buffer when it is
             * interrupted: a moment for it to print the last events. */
            stopping = 1;
            stop_at = t + 300000000u;
        }
        if (stopping == 1 && t >= stop_at) {
            stopping = 2;
            kill(bt, SIGINT);
        }
        if (t >= next_rss) {
            uint64_t r = rss_of(pid);
            if (r) {
                mt_record rec = {.type = MT_REC_RSS, .tid = 0, .t = ticks(t)};
                rec.u.rss.bytes = r;
                put(&rec);
            }
            next_rss = t + rss_every;
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int k = poll(&p, 1, (int)((next_rss - (t < next_rss ? t : next_rss)) / 1000000) + 1);
        if (stopping == 2 && k == 0) { /* still running after SIGINT: once more */
            static int again;
            if (++again > 500) kill(bt, SIGKILL);
        }
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) continue;
        ssize_t n = read(pfd[0], rbuf, sizeof rbuf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* bpftrace ended */
        for (ssize_t i = 0; i < n; i++) {
            if (rbuf[i] != '\n') {
                if (ll < (1 << 16) - 1) lb[ll++] = rbuf[i];
                continue;
            }
            lb[ll] = 0;
            ll = 0;
            if (!attached && strcmp(lb, "MTBPF attached") == 0) {
                /* bpftrace 0.17 runs BEGIN before its uprobes all catch
                 * events (seen here: allocations in the next few hundred
                 * ms went missing); "tracing" is said once they do. */
                attached = 1;
                ready_at = now_ns() + 500000000u;
                continue;
            }
            if (!attached && !first_err[0] && strstr(lb, "ERROR"))
                snprintf(first_err, sizeof first_err, "%s", lb);
            queue_line(lb);
        }
        if (newest_ts > REORDER_NS) drain(newest_ts - REORDER_NS);
    }
    drain(UINT64_MAX); /* bpftrace ended: the rest */
    int status = 0;
    waitpid(bt, &status, 0);
    if (!attached) {
        mt_writer_discard(w);
        unlink(out);
        mt_cli_die(1, "bpftrace could not attach to process %d%s%s", pid,
                   first_err[0] ? ": " : "", first_err);
    }
    if (n_lost) {
        mt_record r = {.type = MT_REC_LOST, .tid = 0, .t = ticks(now_ns())};
        r.u.lost.events = n_lost;
        r.u.lost.reason = MT_LOST_BUFFER_FULL;
        put(&r);
    }
    rc = mt_writer_close(w);
    if (rc < 0) mt_cli_die(1, "writing %s: %s", out, mt_strerror(rc));
    if (!quiet)
        fprintf(stderr,
                "memtrace-bpf: wrote %s: %llu allocations, %llu reallocations, %llu frees, "
                "%llu Python calls, %llu markers in %u threads%s; next: memtrace analyze %s\n",
                out, (unsigned long long)n_alloc, (unsigned long long)n_realloc,
                (unsigned long long)n_free, (unsigned long long)n_calls,
                (unsigned long long)n_markers, (unsigned)nthreads,
                n_lost ? " (bpftrace lost events: the trace says how many)" : "", out);
    free(cmd);
    free(lb);
    return 0;
}

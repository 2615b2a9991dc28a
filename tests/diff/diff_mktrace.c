/*
 * diff_mktrace.c - pairs of traces with known differences for the
 * memtrace-diff tests. Ticks are nanoseconds; times below are in ms and RSS
 * in MiB (RSS records in the thread's own blocks, as with rss="exact"), so
 * that the expected changes in the t*.sh scripts can be read off here.
 *
 *   diff_mktrace a OUT        the baseline (mode trace: calls, lines, rss)
 *   diff_mktrace b OUT        the new run: f grows more, g appears, h is
 *                             gone, leaf is called twice, peak higher
 *   diff_mktrace fast OUT     b in mode "fast": calls and rss, no lines
 *   diff_mktrace profile OUT  b in mode "profile" with a C function (len)
 *                             called from main: calls, ccalls, rss
 *   diff_mktrace norss OUT    b without any RSS record (calls, lines)
 *   diff_mktrace poll OUT     a poller's trace: mode "poll", content procs,
 *                             PROC_SAMPLE records of two processes only
 *   diff_mktrace heapa OUT    allocations (mode "alloc", every allocation
 *   diff_mktrace heapb OUT    recorded): see "Heap pair" below
 *
 * Functions (file d.py): main:1, f:10, g:20, h:30, leaf:40.
 *
 * a:  0 rss 10 | 1 call main, 2 line 2 | 3 call f, 4 line 11, 5 rss 20,
 *     6 return f | 7 line 3 | 8 call h, 9 rss 25, 10 return h | 11 line 4 |
 *     12 call leaf, 13 return leaf | 14 rss 40 | 15 rss 30 | 16 return main
 *   f +10, h +5, leaf 0 (1 call), main +20 (self +5);
 *   start 10, peak 40 at 14, end 30, duration 16, 4 calls, 0 lost;
 *   lines d.py:2 +10, d.py:11 +10, d.py:3 +5, d.py:4 +5.
 * b:  0 rss 10 | 1 call main, 2 line 2 | 3 call f, 4 line 11, 5 rss 25,
 *     6 return f | 7 line 3 | 8 call g, 9 rss 27, 10 return g | 11 line 4 |
 *     12 call leaf, 13 return leaf, 14 call leaf, 15 return leaf |
 *     16 rss 55 | 17 rss 35 | 18 LOST 3 events | 20 return main
 *   f +15, g +2, leaf 0 (2 calls), main +25 (self +8);
 *   start 10, peak 55 at 16, end 35, duration 20, 5 calls, 3 lost;
 *   lines d.py:2 +15, d.py:11 +15, d.py:3 +2, d.py:4 +8.
 * Changes b - a: f +5 MiB (+50%), g new (+2), h gone (-5), leaf calls +1
 *   (+100%), main +5 (self +3); peak +15 MiB (+37.5%), end +5 MiB,
 *   start 0, duration +4 ms (+25%), calls +1 (+25%), lost +3 (A is 0).
 *
 * Heap pair (file h.py, module h): main:1, keep:10, make:20, old:30,
 * new:40, and the C function list.append; sizes in bytes, times in ms,
 * domains in brackets. No LINE records: a site's line is its function's
 * first line.
 * heapa: 0 rss 10 | 1 call main, 2 alloc 100 [obj], 3 free it |
 *     4 call keep, 5 alloc 2 x 64 [obj], 6 ccall list.append, alloc 32
 *     [mem], creturn, 7 return | 8 call make, alloc 1000 [obj], 9 free it,
 *     return | 10 call old, alloc 500 [raw], return | 11 rss 20 |
 *     12 return main
 *   allocated 1760 B in 6 blocks, freed 1100 B in 2, end 660 B in 4;
 *   peak 1160 B at 8 (4 blocks); obj 1228 B (peak 1128, end 128), mem 32
 *   (32, 32), raw 500 (500, 500).
 *   sites: main 1 block 100 B (leaks 0); keep 3 blocks 160 B (its own
 *   frame and list.append's: one site), leaks 3 / 160 B; make 1 / 1000 B,
 *   leaks 0; old 1 / 500, leaks 1 / 500.
 * heapb: as heapa to 9, but keep allocates 4 x 64 | 10 call keep, call
 *     make, alloc 3000 [obj], 11 free it, return, return (make from
 *     another caller: the same site) | 12 call new, alloc 2000 [malloc],
 *     return | 13 rss 30 | 14 return main
 *   allocated 6388 B in 9 blocks, freed 4100 B in 3, end 2288 B in 6;
 *   peak 3288 B at 10 (6 blocks); obj 4356 B in 7 (peak 3256, end 256),
 *   mem 32 (32, 32), malloc 2000 (2000, 2000), raw 0.
 *   sites: main 1 / 100 B; keep 5 / 288 B, leaks 5 / 288; make 2 / 4000,
 *   leaks 0; new 1 / 2000, leaks 1 / 2000.
 * Changes: peak +2128 B, at +2 ms, +2 blocks; end (leaked) +1628 B, +2
 *   blocks; allocated +4628 B, +3 blocks. Hotspots: make +3000 B (+1),
 *   new +2000 (new), old -500 (gone), keep +128 (+2 blocks); main
 *   unchanged. Leaks: new +2000 (new), old -500 (gone), keep +128 (+2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrace_format.h"

#define MS 1000000ull /* ticks (ns) */
#define MIB (1ull << 20)

static mt_writer *w;
static uint64_t sample_bytes; /* header alloc_sample_bytes: 0 none, 1 exact */

static void die(const char *what, int rc) {
    fprintf(stderr, "diff_mktrace: %s: %s\n", what, mt_strerror(rc));
    exit(1);
}

static void put(const mt_record *r) {
    int rc = mt_writer_append(w, r);
    if (rc < 0) die(mt_record_type_name(r->type), rc);
}

static void open_writer(const char *path, const char *mode, uint32_t content) {
    static const char *const argv[] = {"python3", "d.py"};
    mt_header h;
    mt_header_init(&h);
    h.content = content;
    h.ticks_per_second = 1000000000u;
    h.wall_ns = 1795000000000000000LL;
    h.anchor_ticks = 0;
    h.pid = 4242;
    h.ppid = 1;
    h.python_implementation = "CPython";
    h.python_version = "3.11.7";
    h.producer = "diff_mktrace 1";
    h.mode = mode;
    h.argv = argv;
    h.argc = 2;
    h.alloc_sample_bytes = sample_bytes;
    mt_writer_options opt = {0, 1};
    int rc = mt_writer_open(&w, path, &h, &opt);
    if (rc < 0) die(path, rc);
}

static void close_writer(void) {
    int rc = mt_writer_close(w);
    if (rc < 0) die("close", rc);
}

static uint32_t next_sid = 1;

static uint32_t str(const char *s) {
    mt_record r = {.type = MT_REC_STRING};
    r.u.string.sid = next_sid;
    r.u.string.len = (uint32_t)strlen(s);
    r.u.string.bytes = s;
    put(&r);
    return next_sid++;
}

static void func(uint32_t fid, uint32_t kind, const char *name, const char *module,
                 const char *file, uint32_t line) {
    mt_record r = {.type = MT_REC_FUNCTION};
    r.u.function.fid = fid;
    r.u.function.kind = kind;
    r.u.function.qualname_sid = str(name);
    r.u.function.module_sid = str(module);
    r.u.function.file_sid = file ? str(file) : 0;
    r.u.function.first_line = line;
    put(&r);
}

static void ev(int type, uint64_t ms, uint32_t arg) {
    mt_record r = {.type = type, .tid = 1, .t = ms * MS};
    if (type == MT_REC_CALL || type == MT_REC_CCALL) r.u.call.fid = arg;
    if (type == MT_REC_LINE) r.u.line.line = arg;
    put(&r);
}

static int with_rss = 1, with_lines = 1;

static void rss(uint64_t ms, uint64_t mib) {
    if (!with_rss) return;
    mt_record r = {.type = MT_REC_RSS, .tid = 1, .t = ms * MS};
    r.u.rss.bytes = mib * MIB;
    put(&r);
}

static void ln(uint64_t ms, uint32_t l) {
    if (with_lines) ev(MT_REC_LINE, ms, l);
}

static void heap(int type, uint64_t ms, unsigned domain, uint64_t addr, uint64_t size) {
    mt_record r = {.type = type, .tid = 1, .t = ms * MS, .domain = (uint8_t)domain};
    r.u.alloc.addr = addr;
    r.u.alloc.size = size;
    put(&r);
}

static void mk_heap(const char *path, int b) {
    sample_bytes = 1;
    open_writer(path, "alloc", MT_CONTENT_CALLS | MT_CONTENT_ALLOCS | MT_CONTENT_RSS);
    func(1, MT_FUNC_PYTHON, "main", "h", "h.py", 1);
    func(2, MT_FUNC_PYTHON, "keep", "h", "h.py", 10);
    func(3, MT_FUNC_PYTHON, "make", "h", "h.py", 20);
    func(4, MT_FUNC_PYTHON, "old", "h", "h.py", 30);
    func(5, MT_FUNC_PYTHON, "new", "h", "h.py", 40);
    func(6, MT_FUNC_C, "list.append", "builtins", NULL, 0);
    rss(0, 10);
    ev(MT_REC_CALL, 1, 1);
    heap(MT_REC_ALLOC, 2, MT_DOMAIN_OBJ, 0x1000, 100);
    heap(MT_REC_FREE, 3, MT_DOMAIN_OBJ, 0x1000, 0);
    ev(MT_REC_CALL, 4, 2);
    for (uint64_t i = 0; i < (b ? 4u : 2u); i++)
        heap(MT_REC_ALLOC, 5, MT_DOMAIN_OBJ, 0x2000 + 64 * i, 64);
    ev(MT_REC_CCALL, 6, 6);
    heap(MT_REC_ALLOC, 6, MT_DOMAIN_MEM, 0x3000, 32);
    ev(MT_REC_CRETURN, 6, 0);
    ev(MT_REC_RETURN, 7, 0);
    ev(MT_REC_CALL, 8, 3);
    heap(MT_REC_ALLOC, 8, MT_DOMAIN_OBJ, 0x4000, 1000);
    heap(MT_REC_FREE, 9, MT_DOMAIN_OBJ, 0x4000, 0);
    ev(MT_REC_RETURN, 9, 0);
    if (!b) {
        ev(MT_REC_CALL, 10, 4);
        heap(MT_REC_ALLOC, 10, MT_DOMAIN_RAW, 0x5000, 500);
        ev(MT_REC_RETURN, 10, 0);
        rss(11, 20);
        ev(MT_REC_RETURN, 12, 0);
    } else {
        ev(MT_REC_CALL, 10, 2);
        ev(MT_REC_CALL, 10, 3);
        heap(MT_REC_ALLOC, 10, MT_DOMAIN_OBJ, 0x4400, 3000);
        heap(MT_REC_FREE, 11, MT_DOMAIN_OBJ, 0x4400, 0);
        ev(MT_REC_RETURN, 11, 0);
        ev(MT_REC_RETURN, 11, 0);
        ev(MT_REC_CALL, 12, 5);
        heap(MT_REC_ALLOC, 12, MT_DOMAIN_MALLOC, 0x6000, 2000);
        ev(MT_REC_RETURN, 12, 0);
        rss(13, 30);
        ev(MT_REC_RETURN, 14, 0);
    }
    close_writer();
}

static void obj(int type, uint64_t ms, uint64_t addr, uint32_t sid) {
    mt_record r = {.type = (uint8_t)type, .tid = 1, .t = ms * MS};
    r.u.obj.addr = addr;
    r.u.obj.type_sid = sid;
    put(&r);
}

/* Object tracking. A: 3 Points alive at the end, 2 dicts made and freed.
 * B: 5 Points alive, 2 dicts alive, and a new type, a tuple. So alive at
 * the end 3 -> 8; by |change|: Point +2 (created +2), dict +2 (created 0),
 * tuple +1 (new). */
static void mk_objs(const char *path, int b) {
    open_writer(path, "alloc", MT_CONTENT_CALLS | MT_CONTENT_OBJECTS | MT_CONTENT_RSS);
    func(1, MT_FUNC_PYTHON, "main", "o", "o.py", 1);
    uint32_t point = str("__main__.Point"), dict = str("dict"), tup = str("tuple");
    rss(0, 10);
    ev(MT_REC_CALL, 1, 1);
    for (uint64_t i = 0; i < (b ? 5u : 3u); i++) obj(MT_REC_OBJ_NEW, 2, 0x1000 + 64 * i, point);
    for (uint64_t i = 0; i < 2; i++) obj(MT_REC_OBJ_NEW, 3, 0x2000 + 64 * i, dict);
    if (!b)
        for (uint64_t i = 0; i < 2; i++) obj(MT_REC_OBJ_DEL, 4, 0x2000 + 64 * i, dict);
    else
        obj(MT_REC_OBJ_NEW, 4, 0x3000, tup);
    rss(5, 20);
    ev(MT_REC_RETURN, 6, 0);
    close_writer();
}

/* Only "most alive" differs: both make 4 Points and keep 3, and the same
 * dict; C ends one Point before making the fourth (max 3), D after (max 4). */
static void mk_objs_max(const char *path, int d) {
    open_writer(path, "alloc", MT_CONTENT_CALLS | MT_CONTENT_OBJECTS | MT_CONTENT_RSS);
    func(1, MT_FUNC_PYTHON, "main", "o", "o.py", 1);
    uint32_t point = str("__main__.Point"), dict = str("dict");
    rss(0, 10);
    ev(MT_REC_CALL, 1, 1);
    obj(MT_REC_OBJ_NEW, 2, 0x2000, dict);
    for (uint64_t i = 0; i < 3; i++) obj(MT_REC_OBJ_NEW, 2, 0x1000 + 64 * i, point);
    if (d) obj(MT_REC_OBJ_NEW, 3, 0x1100, point);
    obj(MT_REC_OBJ_DEL, 4, 0x1000, point);
    if (!d) obj(MT_REC_OBJ_NEW, 5, 0x1100, point);
    rss(6, 20);
    ev(MT_REC_RETURN, 7, 0);
    close_writer();
}

static void defs(int c_func) {
    func(1, MT_FUNC_PYTHON, "main", "d", "d.py", 1);
    func(2, MT_FUNC_PYTHON, "f", "d", "d.py", 10);
    func(3, MT_FUNC_PYTHON, "g", "d", "d.py", 20);
    func(4, MT_FUNC_PYTHON, "h", "d", "d.py", 30);
    func(5, MT_FUNC_PYTHON, "leaf", "d", "d.py", 40);
    if (c_func) func(6, MT_FUNC_C, "len", "builtins", NULL, 0);
    mt_record r = {.type = MT_REC_THREAD, .tid = 1};
    r.u.thread.native_id = 101;
    r.u.thread.len = 10;
    r.u.thread.name = "MainThread";
    put(&r);
}

static void mk_a(const char *path) {
    open_writer(path, "trace", MT_CONTENT_CALLS | MT_CONTENT_LINES | MT_CONTENT_RSS);
    defs(0);
    rss(0, 10);
    ev(MT_REC_CALL, 1, 1);
    ln(2, 2);
    ev(MT_REC_CALL, 3, 2);
    ln(4, 11);
    rss(5, 20);
    ev(MT_REC_RETURN, 6, 0);
    ln(7, 3);
    ev(MT_REC_CALL, 8, 4);
    rss(9, 25);
    ev(MT_REC_RETURN, 10, 0);
    ln(11, 4);
    ev(MT_REC_CALL, 12, 5);
    ev(MT_REC_RETURN, 13, 0);
    rss(14, 40);
    rss(15, 30);
    ev(MT_REC_RETURN, 16, 0);
    close_writer();
}

static void mk_b(const char *path, const char *mode, uint32_t content, int c_func) {
    open_writer(path, mode, content);
    defs(c_func);
    rss(0, 10);
    ev(MT_REC_CALL, 1, 1);
    ln(2, 2);
    ev(MT_REC_CALL, 3, 2);
    ln(4, 11);
    rss(5, 25);
    ev(MT_REC_RETURN, 6, 0);
    ln(7, 3);
    ev(MT_REC_CALL, 8, 3);
    rss(9, 27);
    ev(MT_REC_RETURN, 10, 0);
    ln(11, 4);
    ev(MT_REC_CALL, 12, 5);
    ev(MT_REC_RETURN, 13, 0);
    ev(MT_REC_CALL, 14, 5);
    ev(MT_REC_RETURN, 15, 0);
    rss(16, 55);
    if (c_func) { /* len() while RSS is at the peak: +0 */
        ev(MT_REC_CCALL, 16, 6);
        ev(MT_REC_CRETURN, 16, 0);
    }
    rss(17, 35);
    mt_record lost = {.type = MT_REC_LOST, .tid = 1, .t = 18 * MS};
    lost.u.lost.events = 3;
    lost.u.lost.bytes = 30;
    lost.u.lost.reason = MT_LOST_BUFFER_FULL;
    put(&lost);
    ev(MT_REC_RETURN, 20, 0);
    close_writer();
}

static void mk_poll(const char *path) {
    open_writer(path, "poll", MT_CONTENT_PROCS);
    uint32_t name = str("python3"), cmd = str("python3 d.py");
    for (uint64_t i = 0; i < 5; i++) {
        for (uint32_t pid = 4242; pid < 4244; pid++) {
            mt_counter c[1] = {{MT_CTR_RSS_BYTES, (10 + i) * MIB}};
            mt_record r = {.type = MT_REC_PROC_SAMPLE, .tid = 0, .t = i * 10 * MS};
            r.u.proc.pid = pid;
            r.u.proc.ppid = 1;
            r.u.proc.name_sid = name;
            r.u.proc.cmdline_sid = cmd;
            r.u.proc.n = 1;
            r.u.proc.v = c;
            put(&r);
        }
    }
    close_writer();
}

int main(int argc, char **argv) {
    const uint32_t C = MT_CONTENT_CALLS, L = MT_CONTENT_LINES, R = MT_CONTENT_RSS;
    const char *k = argc == 3 ? argv[1] : "";
    if (!strcmp(k, "a")) mk_a(argv[2]);
    else if (!strcmp(k, "b")) mk_b(argv[2], "trace", C | L | R, 0);
    else if (!strcmp(k, "fast")) with_lines = 0, mk_b(argv[2], "fast", C | R, 0);
    else if (!strcmp(k, "profile"))
        with_lines = 0, mk_b(argv[2], "profile", C | MT_CONTENT_CCALLS | R, 1);
    else if (!strcmp(k, "norss")) with_rss = 0, mk_b(argv[2], "trace", C | L, 0);
    else if (!strcmp(k, "poll")) mk_poll(argv[2]);
    else if (!strcmp(k, "heapa")) mk_heap(argv[2], 0);
    else if (!strcmp(k, "heapb")) mk_heap(argv[2], 1);
    else if (!strcmp(k, "objsa")) mk_objs(argv[2], 0);
    else if (!strcmp(k, "objsb")) mk_objs(argv[2], 1);
    else if (!strcmp(k, "objsc")) mk_objs_max(argv[2], 0);
    else if (!strcmp(k, "objsd")) mk_objs_max(argv[2], 1);
    else {
        fprintf(stderr, "usage: diff_mktrace a|b|fast|profile|norss|poll|heapa|heapb|objsa..objsd OUT\n");
        return 2;
    }
    return 0;
}

/*
 * analyze_mktrace.c - traces with hand-computed answers for the
 * memtrace-analyze tests. Ticks are nanoseconds; times below are in ms and
 * RSS in MiB so that the expected values in the t*.sh scripts can be read
 * off the comments here.
 *
 *   analyze_mktrace basic OUT       calls, recursion, lines, markers, LOST,
 *                                   an unmatched return, a second thread with
 *                                   a frame entered before recording and
 *                                   left open, RSS from COUNTERS written
 *                                   AFTER the events they time (file order
 *                                   is not time order)
 *   analyze_mktrace exact OUT       RSS records in the thread's own blocks
 *   analyze_mktrace norss OUT       calls and no RSS at all
 *   analyze_mktrace empty OUT       definitions only: no event, no sample
 *   analyze_mktrace chunks OUT N    N data chunks, each one call of step()
 *                                   growing RSS by 1 MiB; prints
 *                                   "chunk I START END" per data chunk
 *   analyze_mktrace heap OUT        allocations with every edge case of the
 *                                   heap model (mk_heap says the answers)
 *   analyze_mktrace heap-order OUT  blocks of two threads at one address,
 *                                   in file order not time order, with the
 *                                   header's ALLOC_ORDERED flag (and
 *                                   heap-order-old: without it)
 *   analyze_mktrace heap-time OUT   three threads whose blocks overlap in
 *                                   time, their buffers in another order
 *                                   in the file (mk_heap_time)
 *   analyze_mktrace objpeak OUT     objects alive at the heap's peak, by
 *                                   time (and objpeak2; mk_objpeak)
 *   analyze_mktrace sampled OUT     two allocations in a trace sampled
 *                                   with N = 1000 bytes
 *   analyze_mktrace lost OUT        allocations with LOST records on two
 *                                   threads (mk_lost says the answers)
 *   analyze_mktrace zombie OUT      COUNTERS and a process sample without
 *                                   RSS (processes, but no RSS round)
 *   analyze_mktrace flip FILE OFFSET   xor one byte with 0x01
 *   analyze_mktrace major2 FILE     set the header's major to 2, redo its
 *                                   checksum (an intact newer-major header)
 *
 * Everything goes through mt_writer_append, as a user of the library would.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "memtrace_format.h"

#define MS 1000000ull   /* ticks (ns) */
#define MIB (1ull << 20)

static mt_writer *w;
static uint64_t alloc_sample_bytes; /* header field; 0: no allocations */

static void die(const char *what, int rc) {
    fprintf(stderr, "analyze_mktrace: %s: %s\n", what, mt_strerror(rc));
    exit(1);
}

static void put(const mt_record *r) {
    int rc = mt_writer_append(w, r);
    if (rc < 0) die(mt_record_type_name(r->type), rc);
}

static uint32_t header_flags; /* MT_HEADER_* of the next open_writer */

static void open_writer(const char *path) {
    static const char *const argv[] = {"python3", "work.py"};
    mt_header h;
    mt_header_init(&h);
    h.content = MT_CONTENT_CALLS | MT_CONTENT_LINES | MT_CONTENT_RSS;
    h.flags = header_flags;
    h.ticks_per_second = 1000000000u;
    h.wall_ns = 1795000000000000000LL;
    h.anchor_ticks = 0;
    h.pid = 4242;
    h.ppid = 1;
    h.python_implementation = "CPython";
    h.python_version = "3.11.7";
    h.producer = "analyze_mktrace 1";
    h.mode = "trace";
    h.argv = argv;
    h.argc = 2;
    if (alloc_sample_bytes) {
        h.content |= MT_CONTENT_ALLOCS;
        h.alloc_sample_bytes = alloc_sample_bytes;
    }
    mt_writer_options opt = {0, 1};
    int rc = mt_writer_open(&w, path, &h, &opt);
    if (rc < 0) die(path, rc);
}

static void close_writer(void) {
    int rc = mt_writer_close(w);
    if (rc < 0) die("close", rc);
}

static void flush(void) {
    int rc = mt_writer_flush(w);
    if (rc < 0) die("flush", rc);
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

static void func(uint32_t fid, const char *name, const char *file, uint32_t line) {
    mt_record r = {.type = MT_REC_FUNCTION};
    r.u.function.fid = fid;
    r.u.function.kind = MT_FUNC_PYTHON;
    r.u.function.qualname_sid = str(name);
    r.u.function.module_sid = str("work");
    r.u.function.file_sid = str(file);
    r.u.function.first_line = line;
    put(&r);
}

static void thread(uint32_t tid, uint64_t native, const char *name) {
    mt_record r = {.type = MT_REC_THREAD, .tid = tid};
    r.u.thread.native_id = native;
    r.u.thread.len = (uint32_t)strlen(name);
    r.u.thread.name = name;
    put(&r);
}

static void call(uint32_t tid, uint64_t ms, uint32_t fid) {
    mt_record r = {.type = MT_REC_CALL, .tid = tid, .t = ms * MS};
    r.u.call.fid = fid;
    put(&r);
}

static void ret(uint32_t tid, uint64_t ms) {
    mt_record r = {.type = MT_REC_RETURN, .tid = tid, .t = ms * MS};
    put(&r);
}

static void line(uint32_t tid, uint64_t ms, uint32_t l) {
    mt_record r = {.type = MT_REC_LINE, .tid = tid, .t = ms * MS};
    r.u.line.line = l;
    put(&r);
}

static void rss(uint32_t tid, uint64_t ms, uint64_t mib) {
    mt_record r = {.type = MT_REC_RSS, .tid = tid, .t = ms * MS};
    r.u.rss.bytes = mib * MIB;
    put(&r);
}

static void counters(uint32_t tid, uint64_t ms, uint64_t mib) {
    mt_counter c[2] = {{MT_CTR_VMS_BYTES, 999 * MIB}, {MT_CTR_RSS_BYTES, mib * MIB}};
    mt_record r = {.type = MT_REC_COUNTERS, .tid = tid, .t = ms * MS};
    r.u.counters.n = 2;
    r.u.counters.v = c;
    put(&r);
}

static void marker(uint32_t tid, uint64_t ms, const char *text) {
    mt_record r = {.type = MT_REC_MARKER, .tid = tid, .t = ms * MS};
    r.u.marker.len = (uint32_t)strlen(text);
    r.u.marker.text = text;
    put(&r);
}

/* T2's records: a frame already open when recording starts can only be
 * said by a BLOCK's stack, and the writer makes blocks itself, so this block
 * is encoded by hand: BLOCK at 30 with stack [worker]; 32 call leaf;
 * 33 return. */
static void worker_block(void) {
    static const uint32_t stack[] = {5};
    uint8_t buf[256], *p = mt_enc_block(buf, 2, 30 * MS, stack, 1);
    p = mt_enc_call(p, 2 * MS, 4);
    p = mt_enc_event(p, MT_REC_RETURN, 1 * MS);
    int rc = mt_writer_append_block(w, buf, (size_t)(p - buf), 3, 30 * MS, 33 * MS);
    if (rc < 0) die("block", rc);
}

/*
 * basic. Functions: 1 main (a.py:1), 2 alloc (a.py:19), 3 rec (a.py:30),
 * 4 leaf (a.py:40), 5 worker (b.py:1).
 *
 * RSS (COUNTERS on T0, written last): 0:10 10:10 20:30 30:30 40:50 50:40
 * 60:40 70:20 80:20 (ms: MiB).
 *
 * T1 MainThread:  5 call main; 6 line 10; 15 call alloc; 16 line 20;
 *   25 return alloc; 26 line 11; 35 call rec; 36 call rec; 45 call leaf;
 *   47 return leaf; 48 return rec; 55 return rec; 56 line 12;
 *   65 marker "phase two"; 66 LOST 7 events; 75 return main;
 *   78 return (unmatched).
 * T2 worker: a block at 30 whose stack is [worker] (entered before
 *   recording); 32 call leaf; 33 return leaf; still open at the end (80).
 *
 * Charges (mt_charge.h; the series keeps 0:10 20:30 40:50 50:40 70:20, the
 * repeats at 10, 30, 60 and 80 mark where each change can have begun):
 *   (10,20] +20: T1 ran (15, 16): T1 +20
 *   (30,40] +20: T1 (35, 36) and T2 (32, 33) ran: +10 each
 *   (40,50] -10: T1 (45, 47, 48): T1 -10
 *   (60,70] -20: T1 (65, 66): T1 -20
 *   so C(T1) = 0, 20 (from 20), 30 (40), 20 (50), 0 (70); C(T2) = 10 from 40.
 *
 * Answers (MiB, ms):
 *   alloc  calls 1, incl +20 (15..25: C 0 -> 20; the next sample, at 40,
 *          follows a repeat at 30: no change yet), self +20, time 10,
 *          peak growth 30 - 10 = 20
 *   leaf   calls 2, incl 0, time 2 + 1 = 3
 *   rec    calls 2, incl 0 (outer 35..55: C 20 -> 20), self 0 (inner
 *          36..48: C 20 -> 30, but the first sample after its return
 *          (50) has C 20: +10 did not outlive it, 0; outer 0 - 0),
 *          incl time 20, self time (12 - 2) + (20 - 12) = 18, peak
 *          growth 50 - 30 = 20
 *   main   calls 1, incl 0 (5..75: C 0 -> 0), self 0 - 20 - 0 = -20,
 *          time 70, self time 70 - 10 - 20 = 40, peak 50, peak growth 40
 *   worker calls 0, incl +10 (30..80: C(T2) 0 -> 10), open frame
 *   lines  a.py:10 +20 (6..26, peak 30); a.py:11 0 (26..56, peak 50);
 *          a.py:12 -20 (56..75, peak 40); a.py:20 +20 (16..25, peak 30)
 *   peak   50 at 40; stacks: T1 main(line 11) > rec > rec; T2 worker
 *   marker "phase two" at 65, RSS 40
 *   threads T1 growth 0, calls 5; T2 growth +10, calls 1
 *   unmatched 1, open frames 1, lost events 7
 */
static void mk_basic(const char *path) {
    open_writer(path);
    func(1, "main", "a.py", 1);
    func(2, "alloc", "a.py", 19);
    func(3, "rec", "a.py", 30);
    func(4, "leaf", "a.py", 40);
    func(5, "worker", "b.py", 1);
    thread(0, 100, "[process]");
    thread(1, 101, "MainThread");
    thread(2, 102, "worker");

    call(1, 5, 1);
    line(1, 6, 10);
    call(1, 15, 2);
    line(1, 16, 20);
    ret(1, 25);
    line(1, 26, 11);
    call(1, 35, 3);
    call(1, 36, 3);
    flush(); /* T2's pre-existing frame comes in a block of its own */
    worker_block();
    call(1, 45, 4);
    ret(1, 47);
    ret(1, 48);
    ret(1, 55);
    line(1, 56, 12);
    marker(1, 65, "phase two");
    mt_record lost = {.type = MT_REC_LOST, .tid = 1, .t = 66 * MS};
    lost.u.lost.events = 7;
    lost.u.lost.bytes = 700;
    lost.u.lost.reason = MT_LOST_BUFFER_FULL;
    put(&lost);
    ret(1, 75);
    ret(1, 78);
    flush(); /* the samples after every event they time */
    static const uint64_t series[][2] = {{0, 10},  {10, 10}, {20, 30},
                                         {30, 30}, {40, 50}, {50, 40},
                                         {60, 40}, {70, 20}, {80, 20}};
    for (size_t i = 0; i < sizeof series / sizeof *series; i++)
        counters(0, series[i][0], series[i][1]);
    close_writer();
}

/*
 * exact. T1: RSS records in its own blocks. 0 rss 10; 1 call f; 2 rss 11;
 * 3 rss 13; 4 return f; 5 rss 12; 6 call g; 7 return g.
 * Answers: f incl +2 (10 -> 13 at its return, 12 at the next sample: the
 * growth that outlived it), peak growth +3, g 0; peak 13 at 3; end 12.
 */
static void mk_exact(const char *path) {
    open_writer(path);
    func(1, "f", "e.py", 1);
    func(2, "g", "e.py", 5);
    thread(1, 101, "MainThread");
    rss(1, 0, 10);
    call(1, 1, 1);
    rss(1, 2, 11);
    rss(1, 3, 13);
    ret(1, 4);
    rss(1, 5, 12);
    call(1, 6, 2);
    ret(1, 7);
    close_writer();
}

/* norss: f called twice (1..3, 4..8): calls 2, time 6, no RSS. */
static void mk_norss(const char *path) {
    open_writer(path);
    func(1, "f", "n.py", 1);
    thread(1, 101, "MainThread");
    call(1, 1, 1);
    ret(1, 3);
    call(1, 4, 1);
    ret(1, 8);
    close_writer();
}

/* empty: definitions (a function, a thread) and no event, no sample. */
static void mk_empty(const char *path) {
    open_writer(path);
    func(1, "f", "n.py", 1);
    thread(1, 101, "MainThread");
    close_writer();
}

/*
 * chunks: main (c.py:1) called at 0 in a chunk of its own; then chunk i
 * (0-based) holds: 10i+1 rss 10+i; 10i+2 call step; 10i+3 rss 11+i;
 * 10i+4 return step. Then main returns. step: N calls, incl +N MiB.
 */
static void mk_chunks(const char *path, int n) {
    open_writer(path);
    func(1, "main", "c.py", 1);
    func(2, "step", "c.py", 10);
    thread(1, 101, "MainThread");
    call(1, 0, 1);
    flush();
    for (int i = 0; i < n; i++) {
        uint64_t start = mt_writer_bytes_written(w);
        rss(1, 10 * (uint64_t)i + 1, 10 + (uint64_t)i);
        call(1, 10 * (uint64_t)i + 2, 2);
        rss(1, 10 * (uint64_t)i + 3, 11 + (uint64_t)i);
        ret(1, 10 * (uint64_t)i + 4);
        flush();
        printf("chunk %d %llu %llu\n", i, (unsigned long long)start,
               (unsigned long long)mt_writer_bytes_written(w));
    }
    ret(1, 10 * (uint64_t)n + 5);
    close_writer();
}

static void flip(const char *path, long off) {
    int fd = open(path, O_RDWR);
    unsigned char b;
    if (fd < 0 || pread(fd, &b, 1, off) != 1) {
        perror(path);
        exit(1);
    }
    b ^= 1;
    if (pwrite(fd, &b, 1, off) != 1) {
        perror(path);
        exit(1);
    }
    close(fd);
}

/* The header frame: magic, size, then content whose bytes 8-9 are the
 * major (spec section 3) and whose last 8 bytes are XXH64 of the rest. */
static void major2(const char *path) {
    int fd = open(path, O_RDWR);
    unsigned char b[4096];
    ssize_t n = fd < 0 ? -1 : pread(fd, b, sizeof b, 0);
    if (n < 16) {
        perror(path);
        exit(1);
    }
    uint32_t size = b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24;
    if (size < 16 || size + 8 > (size_t)n) {
        fprintf(stderr, "%s: header too large for this tool\n", path);
        exit(1);
    }
    unsigned char *c = b + 8;
    c[8] = 2;
    c[9] = 0;
    uint64_t h = XXH64(c, size - 8, 0);
    for (int i = 0; i < 8; i++) c[size - 8 + i] = (unsigned char)(h >> (8 * i));
    if (pwrite(fd, b, size + 8, 0) != (ssize_t)(size + 8)) {
        perror(path);
        exit(1);
    }
    close(fd);
}

static void alloc(uint32_t tid, uint64_t ms, unsigned domain, uint64_t addr, uint64_t size) {
    mt_record r = {.type = MT_REC_ALLOC, .tid = tid, .t = ms * MS, .domain = (uint8_t)domain};
    r.u.alloc.addr = addr;
    r.u.alloc.size = size;
    put(&r);
}

static void dealloc(uint32_t tid, uint64_t ms, unsigned domain, uint64_t addr) {
    mt_record r = {.type = MT_REC_FREE, .tid = tid, .t = ms * MS, .domain = (uint8_t)domain};
    r.u.alloc.addr = addr;
    put(&r);
}

static void resize(uint32_t tid, uint64_t ms, unsigned domain, uint64_t old, uint64_t addr,
                   uint64_t size) {
    mt_record r = {.type = MT_REC_REALLOC, .tid = tid, .t = ms * MS, .domain = (uint8_t)domain};
    r.u.realloc.old_addr = old;
    r.u.realloc.addr = addr;
    r.u.realloc.size = size;
    put(&r);
}

/* The heap model's edge cases, times in ms. Thread 1 runs main (fid 1,
 * heap.py:1) which calls leak (2), temp (3) and make (4); thread 2 runs
 * worker (5). Flushes force the file order the comments state.
 *
 *   leak:   3 x 64 B obj, never freed                    -> leak 3 / 192 B
 *   temp:   500 B mem freed in the same call             -> temporary
 *   make:   1000 B raw, freed by main after make returned -> not temporary
 *   main:   free of unknown 0x9999                       -> unknown_frees 1
 *           mem 100 B, realloc -> 200 B elsewhere, in place -> 300 B:
 *           two temporaries (100 + 200 B), 300 B leaked;
 *           realloc of unknown 0x8888 -> 50 B            -> unknown_frees 2
 *           malloc 1000000 B at 13 ms, freed at 14 ms: the heap's peak,
 *           1000542 B in 6 blocks (main 1000350 B/3, main>leak 192 B/3)
 *           obj 2000 B at 15 ms freed by worker at 16 ms (cross-thread)
 *   file order: worker frees obj 0xC000 at 20 ms, THEN main's block
 *           allocates it at 19 ms                        -> late_allocs 1
 *           main allocates obj 0xD000 16 B at 21 ms; worker's block
 *           allocates 0xD000 32 B at 23 ms               -> reused_live 1
 *           then main's free of 0xD000 at 22 ms          -> stale_frees 1
 *   allocated 14 blocks 1008390 B; freed 8 blocks 1007816 B; end 574 B in
 *   6 blocks (leaks: leak 192/3, main 350/2, worker 32/1). */
static void mk_heap(const char *path) {
    alloc_sample_bytes = 1;
    open_writer(path);
    thread(1, 100, "MainThread");
    thread(2, 101, "worker");
    func(1, "main", "heap.py", 1);
    func(2, "leak", "heap.py", 10);
    func(3, "temp", "heap.py", 20);
    func(4, "make", "heap.py", 30);
    func(5, "worker", "heap.py", 40);
    call(1, 1, 1);
    call(1, 2, 2);
    alloc(1, 2, MT_DOMAIN_OBJ, 0x1000, 64);
    alloc(1, 2, MT_DOMAIN_OBJ, 0x2000, 64);
    alloc(1, 2, MT_DOMAIN_OBJ, 0x3000, 64);
    ret(1, 3);
    call(1, 4, 3);
    alloc(1, 4, MT_DOMAIN_MEM, 0x4000, 500);
    dealloc(1, 5, MT_DOMAIN_MEM, 0x4000);
    ret(1, 5);
    call(1, 6, 4);
    alloc(1, 6, MT_DOMAIN_RAW, 0x5000, 1000);
    ret(1, 6);
    dealloc(1, 7, MT_DOMAIN_RAW, 0x5000);
    dealloc(1, 8, MT_DOMAIN_OBJ, 0x9999);
    alloc(1, 9, MT_DOMAIN_MEM, 0x6000, 100);
    resize(1, 10, MT_DOMAIN_MEM, 0x6000, 0x7000, 200);
    resize(1, 11, MT_DOMAIN_MEM, 0x7000, 0x7000, 300);
    resize(1, 12, MT_DOMAIN_MEM, 0x8888, 0x8000, 50);
    alloc(1, 13, MT_DOMAIN_MALLOC, 0xA000, 1000000);
    dealloc(1, 14, MT_DOMAIN_MALLOC, 0xA000);
    alloc(1, 15, MT_DOMAIN_OBJ, 0xB000, 2000);
    flush();
    call(2, 16, 5);
    dealloc(2, 16, MT_DOMAIN_OBJ, 0xB000);
    dealloc(2, 20, MT_DOMAIN_OBJ, 0xC000);
    flush();
    alloc(1, 19, MT_DOMAIN_OBJ, 0xC000, 4000);
    alloc(1, 21, MT_DOMAIN_OBJ, 0xD000, 16);
    flush();
    alloc(2, 23, MT_DOMAIN_OBJ, 0xD000, 32);
    flush();
    dealloc(1, 22, MT_DOMAIN_OBJ, 0xD000);
    ret(1, 24);
    close_writer();
}

/* Blocks of two threads at one address whose records reach the file out
 * of time order (each thread's buffer is flushed on its own):
 *   0x1000: main allocates at 2 ms and frees at 3 ms, the worker allocates
 *           again at 4 ms and keeps it; the worker's record comes first;
 *   0x2000: main allocates at 5 ms (never freed), the worker at 6 ms;
 *   0x3000: main allocates at 8 ms and frees it at once; the worker
 *           allocates at 9 ms, frees at 10 ms, allocates at 11 ms and
 *           keeps it; main's free comes last;
 *   0x4000: main allocates at 13 ms (its record last in the file); the
 *           worker frees it at 14 ms (a consumer) and allocates again at
 *           15 ms and keeps it.
 * With the header's ALLOC_ORDERED flag (heap-order) the model orders them
 * by time: late_allocs 2 (main's 0x1000 and 0x4000, born dead; 0x4000 dies
 * at the worker's free, which is then no unknown free), reused_live 2
 * (main's 0x2000 and 0x3000), stale_frees 2 (main's frees of 0x1000 and
 * 0x3000); 9 blocks allocated, 5 freed, the worker's four live at the end
 * (48 + 16 + 24 + 40 B), the end counted after the last record. Without it
 * (heap-order-old, as files of older recorders) the old rules apply:
 * reused_live 4, main's late free of 0x3000 takes the worker's block,
 * main's 0x4000 replaces the worker's, 1 unknown free; 0x2000 (16 B) and
 * main's 0x4000 (40 B) are live at the end. */
static void mk_heap_order(const char *path, int ordered) {
    alloc_sample_bytes = 1;
    header_flags = ordered ? MT_HEADER_ALLOC_ORDERED : 0;
    open_writer(path);
    header_flags = 0;
    thread(1, 100, "MainThread");
    thread(2, 101, "worker");
    func(1, "main", "order.py", 1);
    func(2, "worker", "order.py", 10);
    call(2, 1, 2);
    alloc(2, 4, MT_DOMAIN_OBJ, 0x1000, 48);
    flush();
    call(1, 1, 1);
    alloc(1, 2, MT_DOMAIN_OBJ, 0x1000, 32);
    dealloc(1, 3, MT_DOMAIN_OBJ, 0x1000);
    alloc(1, 5, MT_DOMAIN_OBJ, 0x2000, 8);
    alloc(1, 8, MT_DOMAIN_OBJ, 0x3000, 24);
    flush();
    alloc(2, 6, MT_DOMAIN_OBJ, 0x2000, 16);
    alloc(2, 9, MT_DOMAIN_OBJ, 0x3000, 24);
    dealloc(2, 10, MT_DOMAIN_OBJ, 0x3000);
    alloc(2, 11, MT_DOMAIN_OBJ, 0x3000, 24);
    dealloc(2, 14, MT_DOMAIN_OBJ, 0x4000);
    alloc(2, 15, MT_DOMAIN_OBJ, 0x4000, 40);
    flush();
    dealloc(1, 8, MT_DOMAIN_OBJ, 0x3000); /* 8 ms: after its alloc, before 9 */
    alloc(1, 13, MT_DOMAIN_OBJ, 0x4000, 40); /* the file's last allocation record */
    ret(1, 16);
    close_writer();
}

static void obj(int type, uint32_t tid, uint64_t ms, uint64_t addr, uint32_t sid);

/* The heap in use is summed in time order across threads. Three threads
 * each allocate a block and free it; they overlap at 3 ms:
 *   T1 main:   A 1000 B at 1 ms, freed at 4 ms
 *   T2 work:   B 2000 B at 2 ms, freed at 5 ms; D 500 B at 6 ms, kept
 *   T3 load:   C 4000 B at 3 ms, freed at 7 ms
 * The file holds T2's buffer, then T3's, then T1's. In time order the
 * heap is 1000, 3000, 7000 (the peak, at 3 ms, A + B + C live), 6000,
 * 4000, 4500, 500 (the end). Summed in file order the peak would be 4500
 * (D and C). Objects: a Point in C (made at 3 ms, gone at 7 ms) and a
 * dict in D (made at 6 ms, kept): at the peak the Point is alive, the
 * dict not yet, although its record comes first in the file. */
static void mk_heap_time(const char *path) {
    alloc_sample_bytes = 1;
    header_flags = MT_HEADER_ALLOC_ORDERED;
    open_writer(path);
    header_flags = 0;
    thread(1, 100, "MainThread");
    thread(2, 101, "w2");
    thread(3, 102, "w3");
    func(1, "main", "time.py", 1);
    func(2, "work", "time.py", 10);
    func(3, "load", "time.py", 20);
    uint32_t point = str("__main__.Point"), dict = str("dict");
    call(2, 1, 2);
    alloc(2, 2, MT_DOMAIN_MEM, 0x2000, 2000);
    dealloc(2, 5, MT_DOMAIN_MEM, 0x2000);
    alloc(2, 6, MT_DOMAIN_MEM, 0x4000, 500);
    obj(MT_REC_OBJ_NEW, 2, 6, 0x4000, dict);
    ret(2, 8);
    flush();
    call(3, 2, 3);
    alloc(3, 3, MT_DOMAIN_MEM, 0x3000, 4000);
    obj(MT_REC_OBJ_NEW, 3, 3, 0x3000, point);
    obj(MT_REC_OBJ_DEL, 3, 7, 0x3000, point);
    dealloc(3, 7, MT_DOMAIN_MEM, 0x3000);
    ret(3, 8);
    flush();
    call(1, 0, 1);
    alloc(1, 1, MT_DOMAIN_MEM, 0x1000, 1000);
    dealloc(1, 4, MT_DOMAIN_MEM, 0x1000);
    ret(1, 9);
    close_writer();
}

/* Sampled with N = 1000: 1000 B stands for 1000 / (1 - exp(-1)) =
 * 1581.98 B (1582) and 1.582 blocks; 100000 B for itself. Both live. */
static void mk_sampled(const char *path) {
    alloc_sample_bytes = 1000;
    open_writer(path);
    thread(1, 100, "MainThread");
    func(1, "main", "s.py", 1);
    call(1, 1, 1);
    alloc(1, 2, MT_DOMAIN_OBJ, 0x1000, 1000);
    alloc(1, 3, MT_DOMAIN_OBJ, 0x2000, 100000);
    ret(1, 4);
    close_writer();
}

static void lost(uint32_t tid, uint64_t ms, uint64_t events, uint64_t bytes) {
    mt_record r = {.type = MT_REC_LOST, .tid = tid, .t = ms * MS};
    r.u.lost.events = events;
    r.u.lost.bytes = bytes;
    r.u.lost.reason = MT_LOST_BUFFER_FULL;
    put(&r);
}

/* Exact allocations with events lost: T1 (MainThread) allocates 3 x 1 MiB
 * in load() and frees 1; T2 (worker) allocates 64 KiB in work(); LOST
 * records: 1000 events / 48000 bytes on T2 at 5 ms, 20 events / 960 bytes
 * on T1 at 8 ms. The analyzer cannot know what the lost events were, so
 * every heap figure, leak and site is a guess: the tools must say so. */
static void mk_lost(const char *path) {
    alloc_sample_bytes = 1;
    open_writer(path);
    thread(1, 100, "MainThread");
    thread(2, 101, "worker");
    func(1, "main", "lost.py", 1);
    func(2, "load", "lost.py", 10);
    func(3, "work", "lost.py", 20);
    counters(0, 0, 10);
    call(1, 1, 1);
    call(1, 2, 2);
    alloc(1, 3, MT_DOMAIN_MEM, 0x100000, MIB);
    alloc(1, 4, MT_DOMAIN_MEM, 0x200000, MIB);
    call(2, 4, 3);
    alloc(2, 5, MT_DOMAIN_OBJ, 0x900000, 65536);
    lost(2, 5, 1000, 48000);
    ret(2, 6);
    alloc(1, 7, MT_DOMAIN_MEM, 0x300000, MIB);
    dealloc(1, 8, MT_DOMAIN_MEM, 0x100000);
    lost(1, 8, 20, 960);
    ret(1, 9);
    counters(0, 9, 14);
    ret(1, 10);
    close_writer();
}

/* The recorder's own COUNTERS and one child process whose only sample has
 * no RSS (a zombie): processes exist but no round does. */
static void mk_zombie(const char *path) {
    open_writer(path);
    thread(1, 100, "MainThread");
    counters(0, 1, 10);
    uint32_t name = str("python3"), cmd = str("python3 child.py");
    mt_counter c = {MT_CTR_MINOR_FAULTS, 5};
    mt_record r = {.type = MT_REC_PROC_SAMPLE, .tid = 0, .t = 2 * MS};
    r.u.proc.pid = 4343;
    r.u.proc.ppid = 4242;
    r.u.proc.name_sid = name;
    r.u.proc.cmdline_sid = cmd;
    r.u.proc.n = 1;
    r.u.proc.v = &c;
    put(&r);
    counters(0, 3, 12);
    close_writer();
}

static void obj(int type, uint32_t tid, uint64_t ms, uint64_t addr, uint32_t sid) {
    mt_record r = {.type = (uint8_t)type, .tid = tid, .t = ms * MS};
    r.u.obj.addr = addr;
    r.u.obj.type_sid = sid;
    put(&r);
}

/* Object tracking, times in ms. Thread 1 runs main (fid 1, o.py:1), which
 * calls make (2, o.py:10); thread 2 runs worker (3, o.py:20).
 *
 *    2  make: obj block 0x1000 64 B, Point at 0x1020 (GC + dict headers:
 *       32 B in); block 0x2000 48 B, Point at 0x2010 (16 B in)
 *    3  make: dict at 0x3000, no allocation (a free list's block)
 *    5  main: malloc 1000000 B: the heap's peak; alive then: 2 Points
 *       (112 B) and the dict                       -> at heap peak
 *    6  its free
 *    7  OBJ_DEL of the Point at 0x2010, free of its block
 *    8  free of block 0x1000: the Point at 0x1020 dies without an OBJ_DEL
 *    9  main: a dict at 0x3000 again: the first one died (inferred)
 *   10  OBJ_DEL of an unknown Point at 0x7777      -> destroyed_unknown 1
 *   11  worker: block 0x4000 32 B, Point at 0x4000
 *
 *   created 5 (Point 3, dict 2), destroyed 3 (Point 2, dict 1), inferred
 *   deaths 2; alive most 3 at 3 ms (Point 2 at 2 ms); at the end 2: the
 *   worker's Point (32 B) and main's dict (bytes unknown); sized 3. */
static void mk_objects(const char *path) {
    alloc_sample_bytes = 1;
    open_writer(path);
    thread(1, 100, "MainThread");
    thread(2, 101, "worker");
    func(1, "main", "o.py", 1);
    func(2, "make", "o.py", 10);
    func(3, "worker", "o.py", 20);
    uint32_t point = str("__main__.Point"), dict = str("dict");
    call(1, 1, 1);
    call(1, 2, 2);
    alloc(1, 2, MT_DOMAIN_OBJ, 0x1000, 64);
    obj(MT_REC_OBJ_NEW, 1, 2, 0x1020, point);
    alloc(1, 2, MT_DOMAIN_OBJ, 0x2000, 48);
    obj(MT_REC_OBJ_NEW, 1, 2, 0x2010, point);
    obj(MT_REC_OBJ_NEW, 1, 3, 0x3000, dict);
    ret(1, 4);
    alloc(1, 5, MT_DOMAIN_MALLOC, 0xA000, 1000000);
    dealloc(1, 6, MT_DOMAIN_MALLOC, 0xA000);
    obj(MT_REC_OBJ_DEL, 1, 7, 0x2010, point);
    dealloc(1, 7, MT_DOMAIN_OBJ, 0x2000);
    dealloc(1, 8, MT_DOMAIN_OBJ, 0x1000);
    obj(MT_REC_OBJ_NEW, 1, 9, 0x3000, dict);
    obj(MT_REC_OBJ_DEL, 1, 10, 0x7777, point);
    flush();
    call(2, 11, 3);
    alloc(2, 11, MT_DOMAIN_OBJ, 0x4000, 32);
    obj(MT_REC_OBJ_NEW, 2, 11, 0x4000, point);
    ret(2, 12);
    ret(1, 12);
    close_writer();
}

/* Objects alive at the heap's peak, by time. objpeak: one thread makes a
 * Point in a 1000 B block at 1 ms and another in a 50 B block at 2 ms (the
 * peak, 1050 B: the OBJ_NEW comes after the ALLOC that makes it), then
 * both go: 2 Points alive at the peak. objpeak2: T1 (first in the file)
 * allocates 5000 B at 5 ms and frees it at 6 ms; T2 (later in the file)
 * makes a Point at 1 ms from a free list (no ALLOC), allocates 100 B at
 * 2 ms, its Point goes back to the free list at 3 ms (no FREE), and it
 * allocates 100 B at 7 ms: the peak is 5100 B at 5 ms, no Point alive. */
static void mk_objpeak(const char *path, int two) {
    alloc_sample_bytes = 1;
    header_flags = MT_HEADER_ALLOC_ORDERED;
    open_writer(path);
    header_flags = 0;
    thread(1, 100, "MainThread");
    thread(2, 101, "worker");
    func(1, "main", "p.py", 1);
    func(2, "work", "p.py", 10);
    uint32_t point = str("__main__.Point");
    call(1, 0, 1);
    if (!two) {
        alloc(1, 1, MT_DOMAIN_MEM, 0x1000, 1000);
        obj(MT_REC_OBJ_NEW, 1, 1, 0x1000, point);
        alloc(1, 2, MT_DOMAIN_MEM, 0x2000, 50);
        obj(MT_REC_OBJ_NEW, 1, 2, 0x2000, point);
        obj(MT_REC_OBJ_DEL, 1, 3, 0x2000, point);
        dealloc(1, 3, MT_DOMAIN_MEM, 0x2000);
        obj(MT_REC_OBJ_DEL, 1, 4, 0x1000, point);
        dealloc(1, 4, MT_DOMAIN_MEM, 0x1000);
        ret(1, 9);
        close_writer();
        return;
    }
    alloc(1, 5, MT_DOMAIN_MEM, 0x1000, 5000);
    dealloc(1, 6, MT_DOMAIN_MEM, 0x1000);
    ret(1, 9);
    flush();
    call(2, 0, 2);
    obj(MT_REC_OBJ_NEW, 2, 1, 0x9000, point);
    alloc(2, 2, MT_DOMAIN_MEM, 0x2000, 100);
    obj(MT_REC_OBJ_DEL, 2, 3, 0x9000, point);
    alloc(2, 7, MT_DOMAIN_MEM, 0x3000, 100);
    ret(2, 9);
    close_writer();
}

/* Object records naming type sids no STRING defined, two of them beyond
 * 2^31 (a damaged file): three types whose names are unknown. */
static void mk_bigsid(const char *path) {
    open_writer(path);
    thread(1, 100, "MainThread");
    obj(MT_REC_OBJ_NEW, 1, 1, 0x1000, 0x80000001u);
    obj(MT_REC_OBJ_NEW, 1, 2, 0x2000, 0xFFFFFFFFu);
    obj(MT_REC_OBJ_NEW, 1, 3, 0x3000, 77);
    close_writer();
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "basic")) mk_basic(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "lost")) mk_lost(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "zombie")) mk_zombie(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "exact")) mk_exact(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "norss")) mk_norss(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "empty")) mk_empty(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "heap")) mk_heap(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "heap-order")) mk_heap_order(argv[2], 1);
    else if (argc == 3 && !strcmp(argv[1], "heap-order-old")) mk_heap_order(argv[2], 0);
    else if (argc == 3 && !strcmp(argv[1], "heap-time")) mk_heap_time(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "objpeak")) mk_objpeak(argv[2], 0);
    else if (argc == 3 && !strcmp(argv[1], "objpeak2")) mk_objpeak(argv[2], 1);
    else if (argc == 3 && !strcmp(argv[1], "sampled")) mk_sampled(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "objects")) mk_objects(argv[2]);
    else if (argc == 3 && !strcmp(argv[1], "bigsid")) mk_bigsid(argv[2]);
    else if (argc == 4 && !strcmp(argv[1], "chunks")) mk_chunks(argv[2], atoi(argv[3]));
    else if (argc == 4 && !strcmp(argv[1], "flip")) flip(argv[2], atol(argv[3]));
    else if (argc == 3 && !strcmp(argv[1], "major2")) major2(argv[2]);
    else {
        fprintf(stderr, "usage: analyze_mktrace basic|exact|norss|heap|heap-order|heap-order-old|sampled|objects|lost|zombie OUT | chunks OUT N"
                        " | flip FILE OFFSET | major2 FILE\n");
        return 2;
    }
    return 0;
}

/*
 * decode_mktrace.c - make the traces the memtrace-decode tests read.
 *
 *   decode_mktrace good OUT         every record type, fixed header, closed
 *   decode_mktrace unclosed OUT     the same, but the writer never closes
 *   decode_mktrace chunks OUT N     N data chunks of 200 records each; prints
 *                                   "chunk SEQ OFFSET END" per chunk written
 *   decode_mktrace big OUT N        about N records (a call/alloc workload)
 *   decode_mktrace major2 IN OUT    IN with header major 2, checksum redone
 *   decode_mktrace flip FILE OFFSET [XOR]   xor one byte (default 0x01)
 *
 * Everything but `flip` and `major2` goes through mt_writer_append, like a
 * user of the library would; the one unknown record type goes through
 * mt_writer_append_block because append refuses types it does not know.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "memtrace_format.h"

static mt_writer *w;

static void die(const char *what, int rc) {
    fprintf(stderr, "decode_mktrace: %s: %s\n", what, mt_strerror(rc));
    exit(1);
}

static void put(const mt_record *r) {
    int rc = mt_writer_append(w, r);
    if (rc < 0) die(mt_record_type_name(r->type), rc);
}

static void fixed_header(mt_header *h) {
    static const char *const argv[] = {"python3", "work.py", "--size=10",
                                       "two words"};
    mt_header_init(h);
    h->content = 0x7f;
    h->clock = MT_CLOCK_MONOTONIC;
    h->ticks_per_second = 1000000000u;
    h->wall_ns = 1795000000123456789LL; /* 2026-11-18T... UTC */
    h->anchor_ticks = 5000000;
    h->pid = 4242;
    h->ppid = 1;
    h->page_size = 4096;
    h->hostname = "testhost";
    h->python_implementation = "CPython";
    h->python_version = "3.11.7";
    h->executable = "/usr/bin/python3";
    h->cwd = "/tmp/work";
    h->producer = "decode_mktrace 1";
    h->mode = "trace";
    h->argv = argv;
    h->argc = 4;
}

static void open_writer(const char *path, uint32_t chunk_raw_bytes) {
    mt_header h;
    fixed_header(&h);
    mt_writer_options opt = {chunk_raw_bytes, 1};
    int rc = mt_writer_open(&w, path, &h, &opt);
    if (rc < 0) die(path, rc);
}

static void def_string(uint32_t sid, const char *s, size_t len) {
    mt_record r = {.type = MT_REC_STRING};
    r.u.string.sid = sid;
    r.u.string.len = (uint32_t)len;
    r.u.string.bytes = s;
    put(&r);
}
#define DEF_STR(sid, lit) def_string(sid, lit, sizeof(lit) - 1)

static void def_function(uint32_t fid, uint32_t kind, uint32_t q, uint32_t m,
                         uint32_t f, uint32_t line) {
    mt_record r = {.type = MT_REC_FUNCTION};
    r.u.function.fid = fid;
    r.u.function.kind = kind;
    r.u.function.qualname_sid = q;
    r.u.function.module_sid = m;
    r.u.function.file_sid = f;
    r.u.function.first_line = line;
    put(&r);
}

static void def_thread(uint32_t tid, uint64_t native, const char *name) {
    mt_record r = {.type = MT_REC_THREAD, .tid = tid};
    r.u.thread.native_id = native;
    r.u.thread.len = (uint32_t)strlen(name);
    r.u.thread.name = name;
    put(&r);
}

static mt_record ev(int type, uint32_t tid, uint64_t t) {
    mt_record r = {.type = type, .tid = tid, .t = t};
    return r;
}

static void put_ev(int type, uint32_t tid, uint64_t t) {
    mt_record r = ev(type, tid, t);
    put(&r);
}

static void put_call(int type, uint32_t tid, uint64_t t, uint32_t fid) {
    mt_record r = ev(type, tid, t);
    r.u.call.fid = fid;
    put(&r);
}

static void put_alloc(int type, unsigned domain, uint32_t tid, uint64_t t,
                      uint64_t addr, uint64_t size) {
    mt_record r = ev(type, tid, t);
    r.domain = (uint8_t)domain;
    r.u.alloc.addr = addr;
    r.u.alloc.size = size;
    put(&r);
}

/* One of every record type, with values that exercise the formatting:
 * sizes below and above 1 KiB, escapes, invalid UTF-8, unknown ids. */
static void write_good(void) {
    DEF_STR(1, "main");
    DEF_STR(2, "work");
    DEF_STR(3, "work.py");
    DEF_STR(4, "<module>");
    DEF_STR(5, "ValueError");
    DEF_STR(6, "list");
    DEF_STR(7, "len");
    DEF_STR(8, "builtins");
    DEF_STR(9, "child");
    DEF_STR(10, "python3 child.py --n=1,2");
    DEF_STR(11, "say \"hi\"\tnow\n\x01\xff\xc3\xa9");
    def_function(1, MT_FUNC_PYTHON, 4, 1, 3, 1);
    def_function(2, MT_FUNC_PYTHON, 2, 1, 3, 10);
    def_function(3, MT_FUNC_C, 7, 8, 0, 0);
    def_thread(1, 1001, "MainThread");
    def_thread(2, 1002, "worker, \"2\"");
    /* 1.3: work's offsets 0-5 are on line 10, 6-19 on 12, 20- on none. */
    static const uint32_t lt_off[] = {0, 6, 20}, lt_line[] = {10, 12, 0};
    mt_record r = {.type = MT_REC_LINES};
    r.u.lines.fid = 2;
    r.u.lines.n = 3;
    r.u.lines.offsets = lt_off;
    r.u.lines.lines = lt_line;
    put(&r);

    put_ev(MT_REC_THREAD_START, 1, 1000);
    put_call(MT_REC_CALL, 1, 2000, 1);
    r = ev(MT_REC_LINE, 1, 2100);
    r.u.line.line = 1;
    put(&r);
    put_call(MT_REC_CALL, 1, 2500, 2);
    r = ev(MT_REC_LINE, 1, 2600);
    r.u.line.line = 11;
    put(&r);
    /* 1.3: work at offset 8 (line 12), <module> at 4 (no table: line 0). */
    static const uint32_t pos_lv[] = {0, 1}, pos_off[] = {8, 4};
    r = ev(MT_REC_POS, 1, 2600);
    r.u.pos.n = 2;
    r.u.pos.levels = pos_lv;
    r.u.pos.offsets = pos_off;
    put(&r);
    put_alloc(MT_REC_ALLOC, MT_DOMAIN_OBJ, 1, 3000, 0x7f0000001000, 1536);
    r = ev(MT_REC_REALLOC, 1, 3100);
    r.domain = MT_DOMAIN_MEM;
    r.u.realloc.old_addr = 0x7f0000001000;
    r.u.realloc.addr = 0x7f0000002000;
    r.u.realloc.size = 3072;
    put(&r);
    put_alloc(MT_REC_FREE, MT_DOMAIN_MEM, 1, 3200, 0x7f0000002000, 0);
    put_alloc(MT_REC_ALLOC, MT_DOMAIN_MALLOC, 1, 3300, 0x555500001000, 100);
    put_alloc(MT_REC_ALLOC, MT_DOMAIN_MMAP, 1, 3350, 0x7f1000000000,
              (uint64_t)3 << 30);
    r = ev(MT_REC_OBJ_NEW, 1, 3400);
    r.u.obj.addr = 0x7f00000a0000;
    r.u.obj.type_sid = 6;
    put(&r);
    r.type = MT_REC_OBJ_DEL;
    r.t = 3500;
    put(&r);
    put_call(MT_REC_CCALL, 1, 3600, 3);
    put_ev(MT_REC_CRETURN, 1, 3700);
    put_call(MT_REC_CCALL, 1, 3800, 3);
    put_ev(MT_REC_CRAISE, 1, 3900);
    r = ev(MT_REC_RAISE, 1, 4000);
    r.u.raise.type_sid = 5;
    put(&r);
    put_ev(MT_REC_UNWIND, 1, 4100);
    r = ev(MT_REC_RSS, 1, 4200);
    r.u.rss.bytes = 12582912;
    put(&r);
    static const char marker[] = "phase \"one\"\tdone";
    r = ev(MT_REC_MARKER, 1, 4300);
    r.u.marker.text = marker;
    r.u.marker.len = sizeof marker - 1;
    put(&r);
    static const mt_counter ctr[] = {
        {MT_CTR_RSS_BYTES, 12582912}, {MT_CTR_USER_NS, 1200000},
        {MT_CTR_THREADS, 2}, {99, 7}};
    r = ev(MT_REC_COUNTERS, 1, 4400);
    r.u.counters.n = 4;
    r.u.counters.v = ctr;
    put(&r);
    static const mt_counter pctr[] = {{MT_CTR_RSS_BYTES, 4096},
                                      {MT_CTR_MAJOR_FAULTS, 3}};
    r = ev(MT_REC_PROC_SAMPLE, 1, 4500);
    r.u.proc.pid = 5000;
    r.u.proc.ppid = 4242;
    r.u.proc.name_sid = 9;
    r.u.proc.cmdline_sid = 10;
    r.u.proc.n = 2;
    r.u.proc.v = pctr;
    put(&r);
    r = ev(MT_REC_PROC_EXIT, 1, 4600);
    r.u.proc_exit.pid = 5000;
    r.u.proc_exit.status = -9;
    put(&r);
    r = ev(MT_REC_LOST, 1, 4700);
    r.u.lost.events = 12;
    r.u.lost.bytes = 2048;
    r.u.lost.reason = MT_LOST_BUFFER_FULL;
    put(&r);

    put_ev(MT_REC_THREAD_START, 2, 5000);
    put_call(MT_REC_CALL, 2, 5100, 2);
    put_alloc(MT_REC_ALLOC, MT_DOMAIN_RAW, 2, 5200, 0x1000, 16);
    put_ev(MT_REC_RETURN, 2, 5300);
    put_ev(MT_REC_THREAD_END, 2, 5400);

    r = ev(MT_REC_MARKER, 1, 6100);
    static const char bad_utf8[] = "bytes \xff\xfe and \xc3\xa9 ok";
    r.u.marker.text = bad_utf8;
    r.u.marker.len = sizeof bad_utf8 - 1;
    put(&r);

    /* A sized record of a type this version does not know (0x7C), in a block
     * of its own: a newer minor version's record that readers must skip. */
    uint8_t blk[64], *p = blk;
    uint32_t stack[1] = {1};
    p = mt_enc_block(p, 1, 6200, stack, 1);
    p = mt_enc_sized_head(p, 0x7C, 3);
    *p++ = 0xab;
    *p++ = 0xcd;
    *p++ = 0xef;
    int rc = mt_writer_append_block(w, blk, (size_t)(p - blk), 2, 6200, 6200);
    if (rc < 0) die("append_block", rc);

    put_ev(MT_REC_RETURN, 1, 6500); /* leaves <module> */
    put_ev(MT_REC_THREAD_END, 1, 6900);
    static const mt_counter sctr[] = {{MT_CTR_EVENTS, 40},
                                      {MT_CTR_LOST_EVENTS, 12}};
    r = ev(MT_REC_SUMMARY, 1, 7000);
    r.u.summary.reason = MT_END_EXIT;
    r.u.summary.n = 2;
    r.u.summary.v = sctr;
    put(&r);
}

static void write_chunks(int n) {
    DEF_STR(1, "f");
    def_function(1, MT_FUNC_PYTHON, 1, 1, 1, 1);
    uint64_t t = 100, prev = mt_writer_bytes_written(w);
    for (int c = 0; c < n; c++) {
        for (int i = 0; i < 100; i++) {
            uint64_t addr = 0x7f0000000000 + (uint64_t)(c * 100 + i) * 4096;
            put_alloc(MT_REC_ALLOC, MT_DOMAIN_OBJ, 1, t++, addr,
                      (uint64_t)(i * 37 % 500) + 1);
            put_alloc(MT_REC_FREE, MT_DOMAIN_OBJ, 1, t++, addr, 0);
        }
        int rc = mt_writer_flush(w);
        if (rc < 0) die("flush", rc);
        uint64_t now = mt_writer_bytes_written(w);
        printf("flush %d %llu %llu\n", c, (unsigned long long)prev,
               (unsigned long long)now);
        prev = now;
    }
}

/* A workload-shaped stream: calls, lines, allocations, frees, returns. */
static void write_big(uint64_t n) {
    DEF_STR(1, "main");
    DEF_STR(2, "work.py");
    for (uint32_t f = 1; f <= 16; f++) def_function(f, 0, 1, 1, 2, f * 10);
    uint64_t t = 0, made = 0, addr = 0x7f0000000000;
    uint32_t x = 12345;
    while (made < n) {
        x = x * 1103515245u + 12345u;
        uint32_t fid = 1 + (x >> 16) % 16;
        put_call(MT_REC_CALL, 1, t += 50, fid);
        mt_record r = ev(MT_REC_LINE, 1, t += 20);
        r.u.line.line = fid * 10 + 1;
        put(&r);
        for (int i = 0; i < 3; i++)
            put_alloc(MT_REC_ALLOC, MT_DOMAIN_OBJ, 1, t += 30,
                      addr + (uint64_t)i * 64, 16 + (x >> 8) % 512);
        for (int i = 0; i < 3; i++)
            put_alloc(MT_REC_FREE, MT_DOMAIN_OBJ, 1, t += 30,
                      addr + (uint64_t)i * 64, 0);
        addr += 4096;
        put_ev(MT_REC_RETURN, 1, t += 40);
        made += 9;
    }
}

static int read_all(const char *path, unsigned char **buf, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, len = 0, k;
    unsigned char *b = malloc(cap);
    while (b && (k = fread(b + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) b = realloc(b, cap *= 2);
    }
    fclose(f);
    *buf = b;
    *n = len;
    return b ? 0 : -1;
}

static int write_all(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = fwrite(b, 1, n, f);
    return fclose(f) == 0 && k == n ? 0 : -1;
}

/* Patch the header's major to 2 and redo its checksum, so the reader sees
 * an intact header from a newer major version. */
static int make_major2(const char *in, const char *out) {
    unsigned char *b;
    size_t n;
    if (read_all(in, &b, &n) < 0) return perror(in), 1;
    if (n < 8 + 72) return fprintf(stderr, "%s: too short\n", in), 1;
    uint32_t size = b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24;
    unsigned char *c = b + 8; /* the frame content */
    c[8] = 2;
    c[9] = 0;
    uint64_t h = XXH64(c, size - 8, 0);
    for (int i = 0; i < 8; i++) c[size - 8 + i] = (unsigned char)(h >> (8 * i));
    if (write_all(out, b, n) < 0) return perror(out), 1;
    free(b);
    return 0;
}

static int flip(const char *path, long long off, int mask) {
    int fd = open(path, O_RDWR);
    unsigned char c;
    if (fd < 0 || pread(fd, &c, 1, off) != 1) return perror(path), 1;
    c ^= (unsigned char)mask;
    if (pwrite(fd, &c, 1, off) != 1) return perror(path), 1;
    return close(fd) < 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: decode_mktrace good|unclosed|chunks|big|"
                        "major2|flip ...\n");
        return 2;
    }
    const char *cmd = argv[1], *out = argv[2];
    if (strcmp(cmd, "flip") == 0 && argc >= 4)
        return flip(out, atoll(argv[3]), argc > 4 ? (int)strtol(argv[4], 0, 0) : 1);
    if (strcmp(cmd, "major2") == 0 && argc == 4) return make_major2(out, argv[3]);

    if (strcmp(cmd, "good") == 0 || strcmp(cmd, "unclosed") == 0) {
        open_writer(out, 0);
        write_good();
        if (strcmp(cmd, "unclosed") == 0) {
            int rc = mt_writer_flush(w);
            if (rc < 0) die("flush", rc);
            mt_writer_discard(w); /* as if the process died here */
            return 0;
        }
    } else if (strcmp(cmd, "chunks") == 0 && argc == 4) {
        open_writer(out, 0);
        write_chunks(atoi(argv[3]));
    } else if (strcmp(cmd, "big") == 0 && argc == 4) {
        open_writer(out, 0);
        write_big(strtoull(argv[3], 0, 10));
    } else {
        fprintf(stderr, "decode_mktrace: bad arguments\n");
        return 2;
    }
    int rc = mt_writer_close(w);
    if (rc < 0) die("close", rc);
    return 0;
}

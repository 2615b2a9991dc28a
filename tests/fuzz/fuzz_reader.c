/*
 * fuzz_reader.c - libFuzzer target for the trace reader.
 *
 * The input is a whole trace file. It is opened with mt_reader_open_mem from
 * an exact-size copy (so ASan sees reads past the end), every record is read
 * and touched, the name lookups are called for the ids the records carry,
 * then the reader seeks to a few times taken from the input and reads again.
 * A crash, a sanitizer report or a timeout is a bug; error codes are not.
 *
 * Mutations almost always break a checksum, which would keep the fuzzer out
 * of the record decoder; so each input is read twice: as it is, and with
 * every header, chunk, index and end checksum recomputed (walking the frames
 * as spec/FORMAT.md lays them out). And since mutated zstd frames seldom
 * decompress, the input is also taken as the raw records of one chunk
 * (first byte: chunk flags, second: nrecords) and wrapped in a valid header
 * and chunk, so that the record decoder sees mutated records directly.
 *
 * Build and run: make fuzz (FUZZ_SECONDS=600), or make test-fuzz-bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "memtrace_format.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the checksums of the frames we can walk; stop at the first
 * frame that is not a skippable one. */
static void fix_checksums(uint8_t *p, size_t n) {
    size_t off = 0;
    while (off + 8 <= n && (rd32(p + off) & 0xFFFFFFF0u) == 0x184D2A50u) {
        size_t size = rd32(p + off + 4);
        uint8_t *c = p + off + 8;
        if (size > n - off - 8) return;
        size_t end = off + 8 + size;
        if (off == 0 && size >= 8) {
            wr64(c + size - 8, XXH64(c, size - 8, 0));
        } else if (size >= 48 && memcmp(c, "MTCK", 4) == 0) {
            size_t payload = rd32(c + 20);
            if (payload > n - end) return;
            XXH64_state_t st;
            XXH64_reset(&st, 0);
            XXH64_update(&st, c + 12, size - 12);
            XXH64_update(&st, p + end, payload);
            wr64(c + 4, XXH64_digest(&st));
            end += payload;
        } else if (size >= 12 && memcmp(c, "MTIX", 4) == 0) {
            wr64(c + 4, XXH64(c + 12, size - 12, 0));
        } else if (size >= 24 && memcmp(c, "MTEN", 4) == 0) {
            wr64(c + 16, XXH64(c, 16, 0));
        }
        off = end;
    }
}

/* Touch every byte a record points at, so ASan checks the pointers. */
static unsigned touch(const void *p, size_t n) {
    const volatile uint8_t *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += b[i];
    return s;
}

static unsigned visit(mt_reader *r, const mt_record *rec) {
    unsigned s = (unsigned)strlen(mt_record_type_name(rec->type));
    uint32_t len = 0, depth = 0;
    switch (rec->type) {
    case MT_REC_CALL: case MT_REC_CCALL: case MT_REC_RETURN:
    case MT_REC_CRETURN: case MT_REC_CRAISE: case MT_REC_UNWIND: {
        s += (unsigned)strlen(mt_reader_function_name(r, rec->u.call.fid));
        const mt_function *f = mt_reader_function(r, rec->u.call.fid);
        if (f) s += (unsigned)(strlen(f->qualname) + strlen(f->module) + strlen(f->file));
        const uint32_t *st = mt_reader_stack(r, rec->tid, &depth);
        if (depth) s += touch(st, depth * sizeof *st);
        break;
    }
    case MT_REC_RAISE:
        if (mt_reader_string(r, rec->u.raise.type_sid, &len)) s += len;
        break;
    case MT_REC_OBJ_NEW: case MT_REC_OBJ_DEL:
        if (mt_reader_string(r, rec->u.obj.type_sid, &len)) s += len;
        break;
    case MT_REC_ALLOC: case MT_REC_FREE: case MT_REC_REALLOC:
        s += (unsigned)strlen(mt_domain_name(rec->domain));
        break;
    case MT_REC_BLOCK:
        s += touch(rec->u.block.fids, rec->u.block.depth * sizeof(uint32_t));
        s += touch(rec->u.block.pos, rec->u.block.depth * sizeof(uint32_t));
        s += touch(rec->u.block.lines, rec->u.block.depth * sizeof(uint32_t));
        break;
    case MT_REC_LINES:
        s += touch(rec->u.lines.offsets, rec->u.lines.n * sizeof(uint32_t));
        s += touch(rec->u.lines.lines, rec->u.lines.n * sizeof(uint32_t));
        s += mt_reader_line(r, rec->u.lines.fid, rec->u.lines.n ? rec->u.lines.offsets[0] : 7);
        break;
    case MT_REC_POS: {
        s += touch(rec->u.pos.levels, rec->u.pos.n * sizeof(uint32_t));
        s += touch(rec->u.pos.offsets, rec->u.pos.n * sizeof(uint32_t));
        s += touch(rec->u.pos.lines, rec->u.pos.n * sizeof(uint32_t));
        const uint32_t *ps = mt_reader_stack_pos(r, rec->tid, &depth);
        if (depth) s += touch(ps, depth * sizeof *ps);
        break;
    }
    case MT_REC_STRING:
        s += touch(rec->u.string.bytes, rec->u.string.len);
        break;
    case MT_REC_FUNCTION: {
        const mt_function *f = mt_reader_function(r, rec->u.function.fid);
        if (f) s += (unsigned)(strlen(f->qualname) + strlen(f->module) + strlen(f->file));
        break;
    }
    case MT_REC_THREAD: case MT_REC_THREAD_START: case MT_REC_THREAD_END: {
        if (rec->type == MT_REC_THREAD) s += touch(rec->u.thread.name, rec->u.thread.len);
        const char *n = mt_reader_thread_name(r, rec->tid);
        if (n) s += (unsigned)strlen(n);
        s += (unsigned)mt_reader_thread_native_id(r, rec->tid);
        break;
    }
    case MT_REC_MARKER:
        s += touch(rec->u.marker.text, rec->u.marker.len);
        break;
    case MT_REC_COUNTERS:
        s += touch(rec->u.counters.v, rec->u.counters.n * sizeof(mt_counter));
        for (uint32_t i = 0; i < rec->u.counters.n; i++)
            s += mt_counter_name(rec->u.counters.v[i].id) != NULL;
        break;
    case MT_REC_PROC_SAMPLE:
        s += touch(rec->u.proc.v, rec->u.proc.n * sizeof(mt_counter));
        if (mt_reader_string(r, rec->u.proc.name_sid, &len)) s += len;
        if (mt_reader_string(r, rec->u.proc.cmdline_sid, &len)) s += len;
        break;
    case MT_REC_SUMMARY:
        s += touch(rec->u.summary.v, rec->u.summary.n * sizeof(mt_counter));
        break;
    case MT_REC_UNKNOWN:
        s += touch(rec->u.unknown.bytes, rec->u.unknown.len);
        break;
    }
    return s;
}

/* Read to the end; a bounded number of calls (a reader that never stops is
 * a bug: abort so that libFuzzer saves the input). */
static unsigned drain(mt_reader *r, size_t size) {
    mt_record rec;
    unsigned s = 0;
    size_t limit = 64 + size * 4, calls = 0;
    int rc;
    while ((rc = mt_reader_next(r, &rec)) != 0) {
        if (++calls > limit) abort();
        if (rc < 0) {
            s += (unsigned)strlen(mt_reader_errmsg(r)) + (unsigned)strlen(mt_strerror(rc));
            if (mt_reader_fatal(r)) break;
            continue;
        }
        s += visit(r, &rec);
        mt_chunk_info ci;
        if (mt_reader_chunk(r, &ci) == 0) s += ci.nrecords;
    }
    return s;
}

static void read_all(const uint8_t *data, size_t size) {
    mt_reader *r = NULL;
    int rc = mt_reader_open_mem(&r, data, size, "fuzz");
    if (rc == 0) {
        const mt_header *h = mt_reader_header(r);
        unsigned s = 0;
        for (uint32_t i = 0; h->argv && i < h->argc; i++) s += (unsigned)strlen(h->argv[i]);
        if (h->hostname) s += (unsigned)strlen(h->hostname);
        s += drain(r, size);
        mt_reader_stats st;
        mt_reader_stats_get(r, &st);
        /* Seek to times taken from the input, and to the edges. */
        uint64_t ts[4] = {0, UINT64_MAX, 0, 0};
        if (size >= 16) {
            memcpy(&ts[2], data + size - 8, 8);
            memcpy(&ts[3], data + size / 2 - 8, 8);
        }
        for (int i = 0; i < 4; i++)
            if (mt_reader_seek_time(r, ts[i]) == 0 || mt_reader_fatal(r) == 0)
                s += drain(r, size);
        (void)s;
    } else if (r) {
        (void)mt_reader_errmsg(r);
    }
    mt_reader_close(r);
}

typedef struct { uint8_t *p; size_t n; } membuf;

static long sink(void *ctx, const void *buf, size_t n) {
    membuf *o = ctx;
    uint8_t *q = realloc(o->p, o->n + n);
    if (!q) return -12;
    memcpy(q + o->n, buf, n);
    o->p = q;
    o->n += n;
    return (long)n;
}

/* The header frame of an empty trace, made once by the library itself. */
static uint8_t *hdr_frame;
static size_t hdr_bytes;

static void make_header(void) {
    membuf out = {NULL, 0};
    mt_header h;
    mt_writer *w = NULL;
    memset(&h, 0, sizeof h);
    h.clock = MT_CLOCK_MONOTONIC;
    h.ticks_per_second = 1000000000u;
    if (mt_writer_open_sink(&w, sink, &out, &h, NULL) < 0 || mt_writer_close(w) < 0 ||
        out.n < 8)
        abort();
    hdr_bytes = 8 + rd32(out.p + 4);
    hdr_frame = out.p;
}

/* Wrap data[2..] as the payload of one chunk behind a valid header. */
static void read_wrapped(const uint8_t *data, size_t size) {
    if (size < 2) return;
    if (!hdr_frame) make_header();
    const uint8_t *raw = data + 2;
    size_t raw_n = size - 2, bound = ZSTD_compressBound(raw_n);
    uint8_t *f = malloc(hdr_bytes + 56 + bound);
    if (!f) return;
    memcpy(f, hdr_frame, hdr_bytes);
    uint8_t *h = f + hdr_bytes, *c = h + 8, *z = h + 56;
    size_t zn = ZSTD_compress(z, bound, raw, raw_n, 1);
    if (ZSTD_isError(zn)) {
        free(f);
        return;
    }
    memset(h, 0, 56);
    memcpy(h, "\x5e\x2a\x4d\x18\x30\x00\x00\x00MTCK", 12);
    uint32_t fields[4] = {0, data[0] & 1u, (uint32_t)zn, (uint32_t)raw_n};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++) c[12 + 4 * i + b] = (uint8_t)(fields[i] >> (8 * b));
    c[28] = data[1];                  /* nrecords (low byte) */
    wr64(c + 40, UINT64_MAX);         /* t_last: seeks always find it */
    fix_checksums(f, hdr_bytes + 56 + zn);
    read_all(f, hdr_bytes + 56 + zn);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy: ASan then sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    read_all(copy, size);
    fix_checksums(copy, size);
    if (memcmp(copy, data, size) != 0) read_all(copy, size);
    free(copy);
    read_wrapped(data, size);
    return 0;
}

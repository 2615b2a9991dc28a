/*
 * mt_writer.c - writes traces: header frame and its copy, definition and data chunks
 * (a checksummed chunk-header frame + one zstd frame each), index and end
 * frames at close.
 *
 * The writer is used by one thread at a time. Records accumulate in two
 * pending buffers, one for definitions and one for data; a chunk is emitted
 * when the data buffer reaches the chunk size, and the pending definitions
 * are always emitted first, so every definition precedes its users in the
 * file. Once the buffers have grown, appending allocates nothing.
 *
 * Errors are sticky: the first one is kept, every later call returns it
 * without doing anything, and close reports it.
 */
#define _GNU_SOURCE
#include "mt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

/* A thread's call stack, kept for the writer's own blocks (append path). */
typedef struct wthread {
    uint32_t tid;
    mt_fidstack stack;
} wthread;

struct mt_writer {
    mt_write_fn fn;
    void *ctx;
    int fd;      /* for the fd/path sinks */
    int own_fd;  /* opened by us: close it */
    int err;     /* first error, sticky */
    uint64_t offset; /* bytes handed to the sink */
    uint64_t records;
    uint32_t seq;
    uint32_t chunk_raw_bytes;
    int level;

    mt_buf defs; /* pending definition records */
    uint32_t defs_nrec;
    mt_buf data; /* pending data records (whole blocks) */
    uint32_t data_nrec;
    uint64_t data_t_first, data_t_last;

    mt_buf out;   /* a chunk being assembled: head + zstd frame */
    mt_buf index; /* index entries, 40 bytes each */
    uint32_t nchunks;
    ZSTD_CCtx *cctx;

    /* Block state of mt_writer_append (the pre-encoded path has its own). */
    int in_block;
    uint32_t cur_tid;
    uint64_t cur_t;
    mt_enc_state enc;
    wthread *threads;
    uint32_t nthreads, threads_cap;
    wthread *last_thread; /* cache: consecutive records share a thread */

    /* Every (definition type, id) defined so far: a redefinition must not
     * overtake the data appended before it (see note_definition). Open
     * addressing, key (type << 32 | id) + 1, 0 empty. */
    uint64_t *defset;
    uint32_t defset_cap, defset_n;
};

static long fd_write(void *ctx, const void *buf, size_t n) {
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t k = write(fd, buf, n);
        if (k >= 0) return (long)k;
        if (errno != EINTR) return -errno;
    }
}

static int fail(mt_writer *w, int code) {
    if (!w->err) w->err = code;
    return w->err;
}

static int sink(mt_writer *w, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        long k = w->fn(w->ctx, p, n);
        if (k <= 0) {
            int e = k < 0 ? (int)-k : EIO;
            errno = e;
            return fail(w, (e == ENOSPC || e == EFBIG || e == EDQUOT)
                               ? MT_ERR_NOSPACE
                               : MT_ERR_IO);
        }
        if ((size_t)k > n) k = (long)n; /* a sink that lies must not overrun */
        p += k;
        n -= (size_t)k;
        w->offset += (uint64_t)k;
    }
    return 0;
}

/* After the header frame in out: its copy (spec 3.1), a skippable frame
 * tagged MTHC holding the header content byte for byte, so that a reader
 * whose header frame is damaged still has the header. */
static int append_header_copy(mt_buf *out) {
    uint32_t content = mt_le32_get(out->data + 4);
    size_t frame = MT_FRAME_HEAD_BYTES + (size_t)content;
    if (mt_buf_reserve(out, MT_FRAME_HEAD_BYTES + 4 + content)) return MT_ERR_NOMEM;
    uint8_t *p = out->data + frame;
    mt_le32_put(p, MT_SKIP_MAGIC);
    mt_le32_put(p + 4, 4 + content);
    memcpy(p + 8, "MTHC", 4);
    memcpy(p + 12, out->data + MT_FRAME_HEAD_BYTES, content);
    out->len = frame + MT_FRAME_HEAD_BYTES + 4 + content;
    return 0;
}

static int open_common(mt_writer **wp, mt_write_fn fn, void *ctx, int fd,
                       int own_fd, const mt_header *h,
                       const mt_writer_options *opt) {
    *wp = NULL;
    if (!h || h->ticks_per_second == 0 ||
        (opt && opt->chunk_raw_bytes > MT_MAX_CHUNK_RAW_BYTES) ||
        (opt && (opt->zstd_level < 0 || opt->zstd_level > 19))) {
        if (own_fd) close(fd);
        return MT_ERR_ARG;
    }
    mt_writer *w = calloc(1, sizeof *w);
    if (!w) {
        if (own_fd) close(fd);
        return MT_ERR_NOMEM;
    }
    w->fd = fd;
    w->own_fd = own_fd;
    w->fn = fn;
    w->ctx = fn == fd_write ? (void *)&w->fd : ctx;
    w->chunk_raw_bytes = opt && opt->chunk_raw_bytes ? opt->chunk_raw_bytes : 1u << 20;
    w->level = opt && opt->zstd_level ? opt->zstd_level : 1;
    w->cctx = ZSTD_createCCtx();
    int rc = w->cctx ? 0 : MT_ERR_NOMEM;
    if (!rc) rc = mt_header_encode(h, &w->out);
    if (!rc) rc = append_header_copy(&w->out);
    if (!rc) rc = sink(w, w->out.data, w->out.len); /* both in one write */
    if (rc) {
        int saved = errno;
        mt_writer_discard(w);
        errno = saved;
        return rc;
    }
    w->out.len = 0;
    *wp = w;
    return 0;
}

int mt_writer_open(mt_writer **w, const char *path, const mt_header *h,
                   const mt_writer_options *opt) {
    if (!w || !path) return MT_ERR_ARG;
    *w = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return MT_ERR_IO;
    return open_common(w, fd_write, NULL, fd, 1, h, opt);
}

int mt_writer_open_fd(mt_writer **w, int fd, const mt_header *h,
                      const mt_writer_options *opt) {
    if (!w || fd < 0) return MT_ERR_ARG;
    return open_common(w, fd_write, NULL, fd, 0, h, opt);
}

int mt_writer_open_sink(mt_writer **w, mt_write_fn fn, void *ctx,
                        const mt_header *h, const mt_writer_options *opt) {
    if (!w || !fn) return MT_ERR_ARG;
    return open_common(w, fn, ctx, -1, 0, h, opt);
}

/* Compress buf into one zstd frame, put a chunk header before it, hand both
 * to the sink and remember the chunk in the index. */
static int emit_chunk(mt_writer *w, uint32_t flags, const mt_buf *buf,
                      uint32_t nrec, uint64_t t_first, uint64_t t_last) {
    const size_t head = MT_FRAME_HEAD_BYTES + MT_CHUNK_HEAD_BYTES;
    size_t bound = ZSTD_compressBound(buf->len);
    w->out.len = 0;
    if (mt_buf_reserve(&w->out, head + bound)) return fail(w, MT_ERR_NOMEM);
    size_t z = ZSTD_compressCCtx(w->cctx, w->out.data + head, bound, buf->data,
                                 buf->len, w->level);
    if (ZSTD_isError(z)) return fail(w, MT_ERR_NOMEM);

    uint8_t *p = w->out.data;
    uint8_t *c = p + MT_FRAME_HEAD_BYTES;
    mt_le32_put(p, MT_SKIP_MAGIC);
    mt_le32_put(p + 4, MT_CHUNK_HEAD_BYTES);
    memcpy(c, "MTCK", 4);
    mt_le32_put(c + 12, w->seq);
    mt_le32_put(c + 16, flags);
    mt_le32_put(c + 20, (uint32_t)z);
    mt_le32_put(c + 24, (uint32_t)buf->len);
    mt_le32_put(c + 28, nrec);
    mt_le64_put(c + 32, t_first);
    mt_le64_put(c + 40, t_last);
    mt_le64_put(c + 4, mt_xxh64_2(c + MT_CHECKSUM_FROM,
                                  MT_CHUNK_HEAD_BYTES - MT_CHECKSUM_FROM,
                                  c + MT_CHUNK_HEAD_BYTES, z));

    if (mt_buf_reserve(&w->index, MT_INDEX_ENTRY_BYTES))
        return fail(w, MT_ERR_NOMEM);
    uint8_t *e = w->index.data + w->index.len;
    memset(e, 0, MT_INDEX_ENTRY_BYTES);
    mt_le64_put(e, w->offset);
    mt_le64_put(e + 8, t_first);
    mt_le64_put(e + 16, t_last);
    mt_le32_put(e + 24, w->seq);
    mt_le32_put(e + 28, flags);
    mt_le32_put(e + 32, nrec);

    int rc = sink(w, w->out.data, head + z);
    if (rc) return rc;
    w->index.len += MT_INDEX_ENTRY_BYTES;
    w->nchunks++;
    w->seq++;
    return 0;
}

static int emit_pending(mt_writer *w) {
    int rc;
    if (w->defs.len) {
        if ((rc = emit_chunk(w, MT_CHUNK_DEFS, &w->defs, w->defs_nrec, 0, 0)))
            return rc;
        w->defs.len = 0;
        w->defs_nrec = 0;
    }
    if (w->data.len) {
        if ((rc = emit_chunk(w, 0, &w->data, w->data_nrec, w->data_t_first,
                             w->data_t_last)))
            return rc;
        w->data.len = 0;
        w->data_nrec = 0;
    }
    w->in_block = 0; /* the next data chunk starts with a new block */
    return 0;
}

int mt_writer_flush(mt_writer *w) {
    if (!w) return MT_ERR_ARG;
    if (w->err) return w->err;
    return emit_pending(w);
}

static void note_times(mt_writer *w, uint64_t t_first, uint64_t t_last) {
    if (w->data_nrec == 0) {
        w->data_t_first = t_first;
        w->data_t_last = t_last;
        return;
    }
    if (t_first < w->data_t_first) w->data_t_first = t_first;
    if (t_last > w->data_t_last) w->data_t_last = t_last;
}

int mt_writer_append_block(mt_writer *w, const void *bytes, size_t n,
                           uint32_t nrecords, uint64_t t_first,
                           uint64_t t_last) {
    if (!w) return MT_ERR_ARG;
    if (w->err) return w->err;
    if (!bytes || n == 0 || ((const uint8_t *)bytes)[0] != MT_REC_BLOCK ||
        t_last < t_first)
        return fail(w, MT_ERR_ARG);
    if (n > MT_MAX_CHUNK_RAW_BYTES) return fail(w, MT_ERR_LIMIT);
    int rc;
    if (w->data.len && w->data.len + n > w->chunk_raw_bytes &&
        (rc = emit_pending(w)))
        return rc;
    if (mt_buf_reserve(&w->data, n)) return fail(w, MT_ERR_NOMEM);
    memcpy(w->data.data + w->data.len, bytes, n);
    w->data.len += n;
    note_times(w, t_first, t_last);
    w->data_nrec += nrecords;
    w->records += nrecords;
    w->in_block = 0; /* the append path's block state no longer applies */
    if (w->data.len >= w->chunk_raw_bytes) return emit_pending(w);
    return 0;
}

static int note_definition(mt_writer *w, int type, uint32_t id);

int mt_writer_append_defs(mt_writer *w, const void *bytes, size_t n,
                          uint32_t nrecords) {
    if (!w) return MT_ERR_ARG;
    if (w->err) return w->err;
    if (n == 0) return 0;
    if (!bytes) return fail(w, MT_ERR_ARG);
    /* Only whole STRING, FUNCTION, THREAD and LINES records: a definition
     * chunk holds nothing else (definitions are rare, so checking is cheap). */
    const uint8_t *p = bytes, *end = p + n;
    uint32_t count = 0;
    while (p < end) {
        uint8_t type = *p++;
        uint64_t len, id;
        const uint8_t *q;
        if ((type != MT_REC_STRING && type != MT_REC_FUNCTION && type != MT_REC_THREAD &&
             type != MT_REC_LINES) ||
            mt_varint_get(&p, end, &len) || len > (uint64_t)(end - p) ||
            (q = p, mt_varint_get(&q, p + len, &id)) || id > UINT32_MAX)
            return fail(w, MT_ERR_ARG);
        int rc = note_definition(w, type, (uint32_t)id);
        if (rc) return rc;
        p += len;
        count++;
    }
    if (count != nrecords) return fail(w, MT_ERR_ARG);
    if (w->defs.len + n > MT_MAX_CHUNK_RAW_BYTES) {
        int rc;
        if (n > MT_MAX_CHUNK_RAW_BYTES) return fail(w, MT_ERR_LIMIT);
        if ((rc = emit_pending(w))) return rc;
    }
    if (mt_buf_reserve(&w->defs, n)) return fail(w, MT_ERR_NOMEM);
    memcpy(w->defs.data + w->defs.len, bytes, n);
    w->defs.len += n;
    w->defs_nrec += nrecords;
    w->records += nrecords;
    return 0;
}

/* Pending definitions are emitted before pending data, which is what makes
 * a definition precede its users. A REdefinition (a thread renamed, an id
 * reused) must not overtake data appended before it, or that data would be
 * read with the new meaning: emit the pending chunks first. Returns 0 or an
 * error. */
static int note_definition(mt_writer *w, int type, uint32_t id) {
    uint64_t key = ((uint64_t)(unsigned)type << 32 | id) + 1;
    if ((w->defset_n + 1) * 2 > w->defset_cap) {
        uint32_t cap = w->defset_cap ? w->defset_cap * 2 : 256;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t) return fail(w, MT_ERR_NOMEM);
        for (uint32_t i = 0; i < w->defset_cap; i++) {
            uint64_t k = w->defset[i];
            if (!k) continue;
            uint32_t j = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = k;
        }
        free(w->defset);
        w->defset = t;
        w->defset_cap = cap;
    }
    uint32_t mask = w->defset_cap - 1;
    uint32_t j = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
    while (w->defset[j] && w->defset[j] != key) j = (j + 1) & mask;
    if (!w->defset[j]) { /* first definition of this id */
        w->defset[j] = key;
        w->defset_n++;
        return 0;
    }
    return w->data.len ? emit_pending(w) : 0;
}

static wthread *get_thread(mt_writer *w, uint32_t tid) {
    if (w->last_thread && w->last_thread->tid == tid) return w->last_thread;
    for (uint32_t i = 0; i < w->nthreads; i++)
        if (w->threads[i].tid == tid) return w->last_thread = &w->threads[i];
    if (w->nthreads == w->threads_cap) {
        uint32_t cap = w->threads_cap ? w->threads_cap * 2 : 8;
        wthread *t = realloc(w->threads, cap * sizeof *t);
        if (!t) return NULL;
        w->threads = t;
        w->threads_cap = cap;
    }
    wthread *t = &w->threads[w->nthreads++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    return w->last_thread = t;
}

/* Bytes a record needs at most once encoded (type, size, fields). */
size_t mt_enc_record_bound(const mt_record *r) {
    switch (r->type) {
    case MT_REC_STRING: return mt_enc_text_bound(r->u.string.len);
    case MT_REC_THREAD: return mt_enc_text_bound(r->u.thread.len);
    case MT_REC_MARKER: return mt_enc_text_bound(r->u.marker.len);
    case MT_REC_COUNTERS: return mt_enc_counters_bound(r->u.counters.n);
    case MT_REC_PROC_SAMPLE: return mt_enc_counters_bound(r->u.proc.n) + 20;
    case MT_REC_SUMMARY: return mt_enc_counters_bound(r->u.summary.n) + 5;
    case MT_REC_LINES: return mt_enc_lines_bound(r->u.lines.n);
    case MT_REC_POS: return mt_enc_pos_bound(r->u.pos.n);
    default: return 64;
    }
}

static const mt_counter *counters_of(const mt_record *r, uint32_t *n) {
    switch (r->type) {
    case MT_REC_COUNTERS: *n = r->u.counters.n; return r->u.counters.v;
    case MT_REC_PROC_SAMPLE: *n = r->u.proc.n; return r->u.proc.v;
    case MT_REC_SUMMARY: *n = r->u.summary.n; return r->u.summary.v;
    default: *n = 0; return NULL;
    }
}

uint8_t *mt_enc_record(uint8_t *p, const mt_record *r, uint64_t dt,
                       mt_enc_state *st) {
    const unsigned d = r->domain & 7;
    switch (r->type) {
    case MT_REC_CALL: return mt_enc_call(p, dt, r->u.call.fid);
    case MT_REC_CCALL: return mt_enc_ccall(p, dt, r->u.call.fid);
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND: return mt_enc_event(p, r->type, dt);
    case MT_REC_LINE: return mt_enc_line(p, dt, r->u.line.line, &st->prev_line);
    case MT_REC_RAISE: return mt_enc_raise(p, dt, r->u.raise.type_sid);
    case MT_REC_OBJ_NEW:
    case MT_REC_OBJ_DEL:
        return mt_enc_obj(p, r->type, dt, r->u.obj.addr, r->u.obj.type_sid,
                          &st->prev_addr);
    case MT_REC_RSS: return mt_enc_rss(p, dt, r->u.rss.bytes, &st->prev_rss);
    case MT_REC_ALLOC:
        return mt_enc_alloc(p, d, dt, r->u.alloc.addr, r->u.alloc.size, &st->prev_addr);
    case MT_REC_FREE: return mt_enc_free(p, d, dt, r->u.alloc.addr, &st->prev_addr);
    case MT_REC_REALLOC:
        return mt_enc_realloc(p, d, dt, r->u.realloc.old_addr, r->u.realloc.addr,
                              r->u.realloc.size, &st->prev_addr);
    case MT_REC_THREAD_START:
    case MT_REC_THREAD_END: return mt_enc_thread_event(p, r->type, dt, r->tid);
    case MT_REC_MARKER: return mt_enc_marker(p, dt, r->u.marker.text, r->u.marker.len);
    case MT_REC_COUNTERS: return mt_enc_counters(p, dt, r->u.counters.v, r->u.counters.n);
    case MT_REC_LOST:
        return mt_enc_lost(p, dt, r->u.lost.events, r->u.lost.bytes, r->u.lost.reason);
    case MT_REC_PROC_SAMPLE:
        return mt_enc_proc_sample(p, dt, r->u.proc.pid, r->u.proc.ppid, r->u.proc.name_sid,
                                  r->u.proc.cmdline_sid, r->u.proc.v, r->u.proc.n);
    case MT_REC_PROC_EXIT:
        return mt_enc_proc_exit(p, dt, r->u.proc_exit.pid, r->u.proc_exit.status);
    case MT_REC_SUMMARY:
        return mt_enc_summary(p, dt, r->u.summary.reason, r->u.summary.v, r->u.summary.n);
    case MT_REC_POS: /* no dt: its time is the next record's */
        if (r->u.pos.n && (!r->u.pos.levels || !r->u.pos.offsets)) return NULL;
        return mt_enc_pos(p, r->u.pos.n, r->u.pos.levels, r->u.pos.offsets);
    default: return NULL;
    }
}

static int append_def(mt_writer *w, const mt_record *r) {
    uint32_t id = r->type == MT_REC_STRING     ? r->u.string.sid
                  : r->type == MT_REC_FUNCTION ? r->u.function.fid
                  : r->type == MT_REC_LINES    ? r->u.lines.fid
                                               : r->tid;
    int rc = note_definition(w, r->type, id);
    if (rc) return rc;
    size_t need = mt_enc_record_bound(r);
    if (need > MT_MAX_CHUNK_RAW_BYTES) return fail(w, MT_ERR_LIMIT);
    if (w->defs.len + need > MT_MAX_CHUNK_RAW_BYTES && (rc = emit_pending(w)))
        return rc;
    if (mt_buf_reserve(&w->defs, need)) return fail(w, MT_ERR_NOMEM);
    uint8_t *p = w->defs.data + w->defs.len, *e;
    switch (r->type) {
    case MT_REC_STRING:
        if (r->u.string.sid == 0 || (r->u.string.len && !r->u.string.bytes))
            return fail(w, MT_ERR_ARG);
        e = mt_enc_string(p, r->u.string.sid, r->u.string.bytes, r->u.string.len);
        break;
    case MT_REC_FUNCTION:
        if (r->u.function.fid == 0) return fail(w, MT_ERR_ARG);
        e = mt_enc_function(p, r->u.function.fid, r->u.function.kind,
                            r->u.function.qualname_sid, r->u.function.module_sid,
                            r->u.function.file_sid, r->u.function.first_line);
        break;
    case MT_REC_LINES:
        if (r->u.lines.fid == 0 || (r->u.lines.n && (!r->u.lines.offsets || !r->u.lines.lines)))
            return fail(w, MT_ERR_ARG);
        for (uint32_t i = 1; i < r->u.lines.n; i++)
            if (r->u.lines.offsets[i] < r->u.lines.offsets[i - 1]) return fail(w, MT_ERR_ARG);
        e = mt_enc_lines(p, r->u.lines.fid, r->u.lines.n, r->u.lines.offsets, r->u.lines.lines);
        break;
    default: /* MT_REC_THREAD */
        if (r->u.thread.len && !r->u.thread.name) return fail(w, MT_ERR_ARG);
        e = mt_enc_thread(p, r->tid, r->u.thread.native_id, r->u.thread.name,
                          r->u.thread.len);
        break;
    }
    w->defs.len = (size_t)(e - w->defs.data);
    w->defs_nrec++;
    w->records++;
    return 0;
}

int mt_writer_append(mt_writer *w, const mt_record *r) {
    if (!w) return MT_ERR_ARG;
    if (w->err) return w->err;
    if (!r) return fail(w, MT_ERR_ARG);
    int rc;
    switch (r->type) {
    case MT_REC_STRING:
    case MT_REC_FUNCTION:
    case MT_REC_THREAD:
    case MT_REC_LINES: return append_def(w, r);
    case MT_REC_BLOCK:
    case MT_REC_UNKNOWN: return fail(w, MT_ERR_ARG); /* the writer makes blocks */
    default: break;
    }
    uint32_t nc;
    counters_of(r, &nc);
    if (nc > MT_MAX_COUNTERS) return fail(w, MT_ERR_LIMIT);
    if ((r->type == MT_REC_MARKER && r->u.marker.len && !r->u.marker.text) ||
        (nc && !counters_of(r, &nc)))
        return fail(w, MT_ERR_ARG);

    /* Thread events belong to the block of the thread they name. */
    uint32_t tid = r->tid;
    wthread *th = get_thread(w, tid);
    if (!th) return fail(w, MT_ERR_NOMEM);
    size_t need = mt_enc_record_bound(r) + mt_enc_block_pos_bound(th->stack.depth);
    if (need > MT_MAX_CHUNK_RAW_BYTES) return fail(w, MT_ERR_LIMIT);
    if (w->data.len && w->data.len + need > w->chunk_raw_bytes &&
        (rc = emit_pending(w)))
        return rc;
    if (mt_buf_reserve(&w->data, need)) return fail(w, MT_ERR_NOMEM);

    /* POS has no time of its own (1.3): it goes in the current block. */
    int timeless = r->type == MT_REC_POS;
    if (!w->in_block || w->cur_tid != tid || (r->t < w->cur_t && !timeless)) {
        uint8_t *p = w->data.data + w->data.len;
        uint8_t *e = mt_enc_block_pos(p, tid, r->t, th->stack.fids, th->stack.pos,
                                      th->stack.depth);
        w->data.len += (size_t)(e - p);
        note_times(w, r->t, r->t);
        w->data_nrec++;
        w->records++;
        w->in_block = 1;
        w->cur_tid = tid;
        w->cur_t = r->t;
        w->enc = (mt_enc_state){0, 0, 0};
    }
    uint8_t *p = w->data.data + w->data.len;
    uint8_t *e = mt_enc_record(p, r, timeless ? 0 : r->t - w->cur_t, &w->enc);
    if (!e) return fail(w, MT_ERR_ARG);
    w->data.len += (size_t)(e - p);
    if (!timeless) {
        w->cur_t = r->t;
        note_times(w, r->t, r->t);
    }
    w->data_nrec++;
    w->records++;

    switch (r->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
        if (mt_fidstack_push(&th->stack, r->u.call.fid)) return fail(w, MT_ERR_NOMEM);
        break;
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND:
        if (th->stack.depth) th->stack.depth--;
        break;
    case MT_REC_POS:
        for (uint32_t i = 0; i < r->u.pos.n; i++)
            if (r->u.pos.levels[i] < th->stack.depth)
                th->stack.pos[th->stack.depth - 1 - r->u.pos.levels[i]] =
                    r->u.pos.offsets[i] == UINT32_MAX ? 0 : r->u.pos.offsets[i] + 1;
        break;
    default: break;
    }
    if (w->data.len >= w->chunk_raw_bytes) return emit_pending(w);
    return 0;
}

static int write_index(mt_writer *w) {
    uint8_t head[MT_FRAME_HEAD_BYTES + MT_INDEX_HEAD_BYTES];
    uint8_t end[MT_FRAME_HEAD_BYTES + MT_END_BYTES];
    uint64_t index_offset = w->offset;
    uint8_t *c = head + MT_FRAME_HEAD_BYTES;
    mt_le32_put(head, MT_SKIP_MAGIC);
    mt_le32_put(head + 4, (uint32_t)(MT_INDEX_HEAD_BYTES + w->index.len));
    memcpy(c, "MTIX", 4);
    mt_le32_put(c + 12, w->nchunks);
    mt_le32_put(c + 16, MT_INDEX_ENTRY_BYTES);
    mt_le64_put(c + 4, mt_xxh64_2(c + MT_CHECKSUM_FROM,
                                  MT_INDEX_HEAD_BYTES - MT_CHECKSUM_FROM,
                                  w->index.data, w->index.len));
    int rc = sink(w, head, sizeof head);
    if (!rc && w->index.len) rc = sink(w, w->index.data, w->index.len);
    if (rc) return rc;

    c = end + MT_FRAME_HEAD_BYTES;
    mt_le32_put(end, MT_SKIP_MAGIC);
    mt_le32_put(end + 4, MT_END_BYTES);
    memcpy(c, "MTEN", 4);
    mt_le32_put(c + 4, w->nchunks);
    mt_le64_put(c + 8, index_offset);
    mt_le64_put(c + 16, mt_xxh64_2(c, 16, NULL, 0));
    return sink(w, end, sizeof end);
}

int mt_writer_close(mt_writer *w) {
    if (!w) return 0;
    if (!w->err && !emit_pending(w)) write_index(w);
    int rc = w->err;
    int saved = errno;
    if (w->own_fd && close(w->fd) != 0 && !rc) {
        saved = errno;
        rc = (errno == ENOSPC || errno == EDQUOT) ? MT_ERR_NOSPACE : MT_ERR_IO;
    }
    w->own_fd = 0;
    mt_writer_discard(w);
    errno = saved;
    return rc;
}

void mt_writer_discard(mt_writer *w) {
    if (!w) return;
    if (w->own_fd) close(w->fd);
    ZSTD_freeCCtx(w->cctx);
    mt_buf_free(&w->defs);
    mt_buf_free(&w->data);
    mt_buf_free(&w->out);
    mt_buf_free(&w->index);
    for (uint32_t i = 0; i < w->nthreads; i++) mt_fidstack_free(&w->threads[i].stack);
    free(w->threads);
    free(w->defset);
    free(w);
}

int mt_writer_error(const mt_writer *w) { return w ? w->err : MT_ERR_ARG; }
uint64_t mt_writer_bytes_written(const mt_writer *w) { return w ? w->offset : 0; }
uint64_t mt_writer_records_written(const mt_writer *w) { return w ? w->records : 0; }

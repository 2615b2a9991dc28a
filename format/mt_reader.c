/*
 * mt_reader.c - reads traces: header, frames, chunks, records.
 *
 * Input goes through one sequential window (win) over the source, whatever
 * the source is: memory (the window is the memory itself), a file (pread,
 * so seeking works) or a stream (read callback, short reads allowed). A
 * chunk is verified (XXH64) before zstd sees it, decompressed into raw, and
 * its records are decoded one per mt_reader_next call.
 *
 * Damage never stops the walk: the bad chunk is reported and the reader
 * scans forward for the next frame that starts with our skippable magic and
 * a known tag. Only the end of the input (truncation) and I/O or memory
 * errors are fatal.
 */
#define _GNU_SOURCE
#include "mt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

enum { SRC_MEM, SRC_FILE, SRC_STREAM };

/* id -> slot maps for strings, functions and threads (open addressing). */
typedef struct idmap {
    uint64_t *keys; /* key 0 is the empty slot, so ids are stored + 1 (in 64
                       bits: id 0xFFFFFFFF must not wrap to "empty") */
    uint32_t *vals;
    uint32_t cap, n;
} idmap;

typedef struct rstring {
    char *s; /* NUL-terminated copy */
    uint32_t len;
} rstring;

typedef struct rfunc {
    uint32_t kind, qualname_sid, module_sid, file_sid, first_line;
    mt_function view; /* filled on lookup */
} rfunc;

typedef struct rlines { /* a LINES table (1.3) */
    uint32_t n;
    uint32_t *off, *line;
} rlines;

typedef struct rthread {
    uint64_t native_id;
    char *name;
    mt_fidstack stack;
} rthread;

typedef struct chunkref { /* from the index or a scan */
    uint64_t offset, t_first, t_last;
    uint32_t flags;
} chunkref;

struct mt_reader {
    char *name;
    int src;
    int fd, own_fd;
    mt_read_fn fn;
    void *ctx;
    uint64_t file_bytes; /* size when known (SRC_MEM, SRC_FILE) */

    /* The window: bytes [win_pos, win_pos + win_len) of the file are in
     * win[0..win_len); win_off of them have been consumed. */
    const uint8_t *win;
    uint8_t *winbuf; /* owned storage of win (file and stream sources) */
    size_t win_len, win_off, win_cap;
    uint64_t win_pos;
    int eof;

    mt_header h;
    char *hstrings; /* storage of the header's text fields */
    const char **argv;

    ZSTD_DCtx *dctx;
    uint8_t *raw;
    size_t raw_cap;
    const uint8_t *rp, *rend; /* records left in the current chunk */
    mt_chunk_info chunk;
    int in_chunk;
    uint32_t chunk_records; /* decoded so far in this chunk */

    /* Block state (spec 5.1). */
    int in_block;
    uint32_t tid;
    uint64_t t;
    uint32_t prev_line;
    uint64_t prev_addr, prev_rss;
    rthread *th;

    idmap smap, fmap, tmap, lmap;
    rlines *ltabs;
    uint32_t nltabs, cap_ltabs;
    uint32_t *posbuf; /* POS and BLOCK: levels, offsets, lines (3 x cap) */
    uint32_t posbuf_cap;
    rstring *strings;
    rfunc *funcs;
    rthread *threads;
    uint32_t nstrings, nfuncs, nthreads, cap_strings, cap_funcs, cap_threads;

    mt_counter counters[MT_MAX_COUNTERS];
    uint32_t *stackbuf;
    uint32_t stackbuf_cap;
    char namebuf[32];

    mt_reader_stats stats;
    int msg_chunk; /* messages name the chunk (its header was read) */
    uint64_t chunk_ordinal; /* chunk headers met before this one: messages
                               count chunks rather than trust seq */
    uint64_t chunks_met;
    uint64_t index_at; /* offset of an intact index frame, or 0 */
    int index_damaged;  /* an index frame failed its checksum (reported) */
    int seeked;         /* mt_reader_seek_time moved the reader */
    int after_index;    /* the last frame was an intact index */
    uint64_t first_frame_at; /* where the frame loop began: after the header
                                (and its copy) */
    uint64_t header_checksum; /* the header content's stored XXH64 */
    uint32_t header_bytes;    /* its size */
    int maybe_trace; /* the file starts with our magic or our signature */
    /* A problem found by open that is not fatal (a damaged header read from
     * its copy, a damaged copy): the first mt_reader_next returns it. */
    int pending;
    char pending_msg[512];
    int fatal, done;
    int last_error;
    char errmsg[512];
};

/* ---- messages ----------------------------------------------------------- */

static int report(mt_reader *r, int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int report(mt_reader *r, int code, uint64_t offset, const char *fmt, ...) {
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (r->msg_chunk)
        snprintf(r->errmsg, sizeof r->errmsg, "%s: chunk %" PRIu64 " at byte %" PRIu64 ": %s",
                 r->name, r->chunk_ordinal, r->chunk.offset, what);
    else
        snprintf(r->errmsg, sizeof r->errmsg, "%s: at byte %" PRIu64 ": %s", r->name,
                 offset, what);
    r->last_error = code;
    return code;
}

static void append_msg(mt_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void append_msg(mt_reader *r, const char *fmt, ...) {
    size_t n = strlen(r->errmsg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg + n, sizeof r->errmsg - n, fmt, ap);
    va_end(ap);
}

/* ---- the window --------------------------------------------------------- */

static uint64_t cur_pos(const mt_reader *r) { return r->win_pos + r->win_off; }
static size_t avail(const mt_reader *r) { return r->win_len - r->win_off; }

/* Make n bytes available at the window's cursor. Returns 1 when they are,
 * 0 when the input ends first (avail() says how many there are), or a
 * negative code on a read error. */
static int need(mt_reader *r, size_t n) {
    if (avail(r) >= n) return 1;
    if (r->src == SRC_MEM || r->eof) return 0;
    /* Slide the unconsumed bytes to the front, grow, then fill. */
    if (r->win_off) {
        memmove(r->winbuf, r->winbuf + r->win_off, avail(r));
        r->win_pos += r->win_off;
        r->win_len -= r->win_off;
        r->win_off = 0;
    }
    size_t want = n < 65536 ? 65536 : n;
    if (r->win_cap < want) {
        uint8_t *b = realloc(r->winbuf, want);
        if (!b) return MT_ERR_NOMEM;
        r->winbuf = b;
        r->win_cap = want;
    }
    r->win = r->winbuf;
    while (r->win_len < n) {
        long k;
        if (r->src == SRC_FILE) {
            ssize_t s = pread(r->fd, r->winbuf + r->win_len, r->win_cap - r->win_len,
                              (off_t)(r->win_pos + r->win_len));
            k = s < 0 ? -errno : (long)s;
        } else {
            k = r->fn(r->ctx, r->winbuf + r->win_len, r->win_cap - r->win_len);
        }
        if (k == -EINTR) continue;
        if (k < 0) {
            errno = (int)-k;
            return MT_ERR_IO;
        }
        if (k == 0) {
            r->eof = 1;
            return 0;
        }
        r->win_len += (size_t)k;
    }
    return 1;
}

static const uint8_t *cursor(const mt_reader *r) { return r->win + r->win_off; }

/* Move the cursor to absolute offset pos (>= current for streams). */
static int seek_to(mt_reader *r, uint64_t pos) {
    if (pos >= r->win_pos && pos <= r->win_pos + r->win_len) {
        r->win_off = (size_t)(pos - r->win_pos);
        return 0;
    }
    if (r->src == SRC_MEM) { /* past the end */
        r->win_off = r->win_len;
        return 0;
    }
    if (r->src == SRC_FILE) {
        r->win_pos = pos;
        r->win_len = r->win_off = 0;
        r->eof = 0;
        return 0;
    }
    if (pos < r->win_pos) return MT_ERR_STATE; /* streams only go forward */
    uint64_t skip = pos - (r->win_pos + r->win_len);
    r->win_off = r->win_len;
    while (skip) { /* read and drop */
        int rc = need(r, 1);
        if (rc <= 0) return rc;
        size_t k = avail(r) < skip ? avail(r) : (size_t)skip;
        r->win_off += k;
        skip -= k;
    }
    return 0;
}

/* ---- id maps and definitions -------------------------------------------- */

static uint32_t hash32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    return x ^ (x >> 16);
}

/* The slot of id, or UINT32_MAX. */
static uint32_t idmap_get(const idmap *m, uint32_t id) {
    if (!m->cap) return UINT32_MAX;
    uint64_t key = (uint64_t)id + 1;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = hash32(id) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) return m->vals[i];
        if (m->keys[i] == 0) return UINT32_MAX;
    }
}

static int idmap_put(idmap *m, uint32_t id, uint32_t val) {
    if ((m->n + 1) * 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *k = calloc(cap, sizeof *k);
        uint32_t *v = malloc(cap * sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return MT_ERR_NOMEM;
        }
        for (uint32_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            uint32_t j = hash32((uint32_t)(m->keys[i] - 1)) & (cap - 1);
            while (k[j]) j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->cap = cap;
    }
    uint64_t key = (uint64_t)id + 1;
    uint32_t mask = m->cap - 1;
    uint32_t i = hash32(id) & mask;
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & mask;
    if (!m->keys[i]) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

static void idmap_free(idmap *m) {
    free(m->keys);
    free(m->vals);
}

/* Grow an array of n elements of size sz to hold one more. */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t sz) {
    if (n < *cap) return 0;
    uint32_t c = *cap ? *cap * 2 : 64;
    void *a = realloc(*arr, c * sz);
    if (!a) return MT_ERR_NOMEM;
    *arr = a;
    *cap = c;
    return 0;
}

static int def_string(mt_reader *r, uint32_t sid, const uint8_t *s, uint32_t len) {
    char *copy = malloc((size_t)len + 1);
    if (!copy) return MT_ERR_NOMEM;
    memcpy(copy, s, len);
    copy[len] = 0;
    uint32_t slot = idmap_get(&r->smap, sid);
    if (slot != UINT32_MAX) { /* a later definition replaces the earlier */
        free(r->strings[slot].s);
        r->strings[slot] = (rstring){copy, len};
        return 0;
    }
    if (grow((void **)&r->strings, &r->cap_strings, r->nstrings, sizeof *r->strings) ||
        idmap_put(&r->smap, sid, r->nstrings)) {
        free(copy);
        return MT_ERR_NOMEM;
    }
    r->strings[r->nstrings++] = (rstring){copy, len};
    return 0;
}

static rthread *get_thread(mt_reader *r, uint32_t tid) {
    uint32_t slot = idmap_get(&r->tmap, tid);
    if (slot != UINT32_MAX) return &r->threads[slot];
    if (grow((void **)&r->threads, &r->cap_threads, r->nthreads, sizeof *r->threads) ||
        idmap_put(&r->tmap, tid, r->nthreads))
        return NULL;
    rthread *t = &r->threads[r->nthreads++];
    memset(t, 0, sizeof *t);
    return t;
}

const char *mt_reader_string(const mt_reader *r, uint32_t sid, uint32_t *len) {
    uint32_t slot = r ? idmap_get(&r->smap, sid) : UINT32_MAX;
    if (slot == UINT32_MAX) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = r->strings[slot].len;
    return r->strings[slot].s;
}

const mt_function *mt_reader_function(const mt_reader *r, uint32_t fid) {
    uint32_t slot = r ? idmap_get(&r->fmap, fid) : UINT32_MAX;
    if (slot == UINT32_MAX) return NULL;
    rfunc *f = &((mt_reader *)r)->funcs[slot]; /* the view is a cache */
    const char *s;
    f->view.kind = f->kind;
    f->view.first_line = f->first_line;
    f->view.qualname = (s = mt_reader_string(r, f->qualname_sid, NULL)) ? s : "";
    f->view.module = (s = mt_reader_string(r, f->module_sid, NULL)) ? s : "";
    f->view.file = (s = mt_reader_string(r, f->file_sid, NULL)) ? s : "";
    return &f->view;
}

const char *mt_reader_function_name(mt_reader *r, uint32_t fid) {
    const mt_function *f = mt_reader_function(r, fid);
    if (f && f->qualname[0]) return f->qualname;
    snprintf(r->namebuf, sizeof r->namebuf, "<fn#%" PRIu32 ">", fid);
    return r->namebuf;
}

const char *mt_reader_thread_name(const mt_reader *r, uint32_t tid) {
    uint32_t slot = r ? idmap_get(&r->tmap, tid) : UINT32_MAX;
    return slot == UINT32_MAX ? NULL : r->threads[slot].name;
}

uint64_t mt_reader_thread_native_id(const mt_reader *r, uint32_t tid) {
    uint32_t slot = r ? idmap_get(&r->tmap, tid) : UINT32_MAX;
    return slot == UINT32_MAX ? 0 : r->threads[slot].native_id;
}

const uint32_t *mt_reader_stack_pos(const mt_reader *r, uint32_t tid, uint32_t *depth) {
    uint32_t slot = r ? idmap_get(&r->tmap, tid) : UINT32_MAX;
    if (slot == UINT32_MAX) {
        *depth = 0;
        return NULL;
    }
    *depth = r->threads[slot].stack.depth;
    return r->threads[slot].stack.pos;
}

uint32_t mt_reader_line(const mt_reader *r, uint32_t fid, uint32_t offset) {
    uint32_t slot = r ? idmap_get(&r->lmap, fid) : UINT32_MAX;
    if (slot == UINT32_MAX) return 0;
    const rlines *l = &r->ltabs[slot];
    /* The last entry starting at or before offset. */
    uint32_t lo = 0, hi = l->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (l->off[mid] <= offset) lo = mid + 1;
        else hi = mid;
    }
    return lo ? l->line[lo - 1] : 0;
}

/* Room for n entries of POS / BLOCK positions in posbuf. */
static int posbuf_room(mt_reader *r, uint32_t n) {
    if (n <= r->posbuf_cap) return 0;
    uint32_t cap = r->posbuf_cap ? r->posbuf_cap : 64;
    while (cap < n) cap *= 2;
    uint32_t *b = realloc(r->posbuf, (size_t)cap * 3 * sizeof *b);
    if (!b) return MT_ERR_NOMEM;
    r->posbuf = b;
    r->posbuf_cap = cap;
    return 0;
}

const uint32_t *mt_reader_stack(const mt_reader *r, uint32_t tid, uint32_t *depth) {
    uint32_t slot = r ? idmap_get(&r->tmap, tid) : UINT32_MAX;
    if (slot == UINT32_MAX) {
        *depth = 0;
        return NULL;
    }
    *depth = r->threads[slot].stack.depth;
    return r->threads[slot].stack.fids;
}

/* ---- open and the header ------------------------------------------------ */

const mt_header *mt_reader_header(const mt_reader *r) { return r ? &r->h : NULL; }
const char *mt_reader_errmsg(const mt_reader *r) {
    return r ? r->errmsg : "no reader (out of memory)";
}
int mt_reader_fatal(const mt_reader *r) { return r ? r->fatal : 1; }

static int parse_header_content(mt_reader *r, const uint8_t *c, uint32_t size,
                                uint64_t c_off);

static int parse_header(mt_reader *r) {
    int rc = need(r, 20); /* through major and minor */
    if (rc < 0) return report(r, rc, 0, "cannot read: %s", strerror(errno));
    size_t have = avail(r);
    const uint8_t *p = cursor(r);
    if (have == 0) return report(r, MT_ERR_EMPTY, 0, "empty file");
    /* Compare what is there with the expected start of a trace. */
    uint8_t expect[16];
    mt_le32_put(expect, MT_SKIP_MAGIC);
    memcpy(expect + 8, mt_signature, 8);
    size_t cmp = have < 16 ? have : 16;
    /* Either half intact: a trace whose other half is damaged, worth a
     * search for the header copy (a file of other bytes matches neither). */
    r->maybe_trace = (have >= 4 && mt_le32_get(p) == MT_SKIP_MAGIC) ||
                     (have >= 16 && !memcmp(p + 8, mt_signature, 8));
    for (size_t i = 0; i < cmp; i++) {
        if (i >= 4 && i < 8) continue; /* the frame size */
        if (p[i] != expect[i]) {
            if (have >= 4 && mt_le32_get(p) == MT_ZSTD_MAGIC)
                return report(r, MT_ERR_NOT_TRACE, 0,
                              "not a memtrace trace (a plain zstd file)");
            return report(r, MT_ERR_NOT_TRACE, 0,
                          "not a memtrace trace (starts with %02x %02x %02x %02x)",
                          p[0], have > 1 ? p[1] : 0, have > 2 ? p[2] : 0,
                          have > 3 ? p[3] : 0);
        }
    }
    if (have < 20)
        return report(r, MT_ERR_TRUNCATED, have,
                      "truncated: the file ends inside the header (%zu bytes)", have);
    uint32_t size = mt_le32_get(p + 4);
    uint16_t major = mt_le16_get(p + 16), minor = mt_le16_get(p + 18);
    if (major > MT_FORMAT_MAJOR) {
        /* A newer file, surely, when the checksum holds where 1.x has it;
         * when it fails, maybe a 1.x header with a damaged major: then its
         * copy may be searched (spec 7.1). */
        if (size >= MT_HEADER_FIXED_BYTES + 8 && size <= MT_MAX_FRAME_BYTES &&
            need(r, MT_FRAME_HEAD_BYTES + (size_t)size) == 1) {
            const uint8_t *c = cursor(r) + MT_FRAME_HEAD_BYTES;
            if (mt_le64_get(c + size - 8) == mt_xxh64_2(c, size - 8, NULL, 0))
                r->maybe_trace = 0;
        }
        return report(r, MT_ERR_VERSION, 16,
                      "format version %u.%u is newer than this reader's %d.x", major,
                      minor, MT_FORMAT_MAJOR);
    }
    if (major == 0)
        return report(r, MT_ERR_HEADER, 16, "damaged header: major version 0");
    if (size < MT_HEADER_FIXED_BYTES + 8 || size > MT_MAX_FRAME_BYTES)
        return report(r, MT_ERR_HEADER, 4, "damaged header: frame size %" PRIu32, size);
    rc = need(r, MT_FRAME_HEAD_BYTES + (size_t)size);
    if (rc < 0) return report(r, rc, 0, "cannot read: %s", strerror(errno));
    if (rc == 0)
        return report(r, MT_ERR_TRUNCATED, cur_pos(r) + avail(r),
                      "truncated: the file ends inside the header (%zu of %" PRIu32
                      " bytes)", avail(r), size + MT_FRAME_HEAD_BYTES);
    p = cursor(r);
    rc = parse_header_content(r, p + MT_FRAME_HEAD_BYTES, size, MT_FRAME_HEAD_BYTES);
    if (rc) return rc;
    r->win_off += MT_FRAME_HEAD_BYTES + size;
    return 0;
}

/* The header content c[0, size) at file offset c_off: the header frame's
 * content, or a header copy's after its tag (spec 3.1). Checks it as spec
 * 7.1 says and fills r->h. 0 or a reported error. */
static int parse_header_content(mt_reader *r, const uint8_t *c, uint32_t size,
                                uint64_t c_off) {
    if (memcmp(c, mt_signature, 8))
        return report(r, MT_ERR_HEADER, c_off, "damaged header: bad signature");
    uint16_t major = mt_le16_get(c + 8), minor = mt_le16_get(c + 10);
    if (major > MT_FORMAT_MAJOR)
        return report(r, MT_ERR_VERSION, c_off + 8,
                      "format version %u.%u is newer than this reader's %d.x", major,
                      minor, MT_FORMAT_MAJOR);
    if (major == 0)
        return report(r, MT_ERR_HEADER, c_off + 8, "damaged header: major version 0");
    if (size < MT_HEADER_FIXED_BYTES + 8)
        return report(r, MT_ERR_HEADER, c_off - 4, "damaged header: frame size %" PRIu32,
                      size);
    uint64_t stored = mt_le64_get(c + size - 8);
    uint64_t actual = mt_xxh64_2(c, size - 8, NULL, 0);
    if (stored != actual)
        return report(r, MT_ERR_HEADER, c_off + size - 8,
                      "damaged header: checksum mismatch (stored %016" PRIx64
                      ", computed %016" PRIx64 ")", stored, actual);
    if (mt_le32_get(c + 12) != size)
        return report(r, MT_ERR_HEADER, c_off + 12, "damaged header: header_bytes %" PRIu32
                      " but frame size %" PRIu32, mt_le32_get(c + 12), size);
    const uint8_t *p = c - c_off; /* offsets below are file offsets */
    free(r->hstrings);
    free(r->argv);
    r->hstrings = NULL;
    r->argv = NULL;
    memset(&r->h, 0, sizeof r->h);
    r->header_checksum = stored;
    r->header_bytes = size;
    mt_header *h = &r->h;
    h->major = major;
    h->minor = minor;
    h->flags = mt_le32_get(c + 16);
    h->content = mt_le32_get(c + 20);
    h->clock = mt_le32_get(c + 24);
    h->page_size = mt_le32_get(c + 28);
    h->ticks_per_second = mt_le64_get(c + 32);
    h->wall_ns = (int64_t)mt_le64_get(c + 40);
    h->anchor_ticks = mt_le64_get(c + 48);
    h->pid = mt_le32_get(c + 56);
    h->ppid = mt_le32_get(c + 60);
    if (h->ticks_per_second == 0)
        return report(r, MT_ERR_HEADER, c_off + 32, "damaged header: ticks_per_second is 0");
    uint16_t foff = mt_le16_get(c + 64), nfields = mt_le16_get(c + 66);
    if (foff < MT_HEADER_FIXED_BYTES || foff > size - 8)
        return report(r, MT_ERR_HEADER, c_off + 64, "damaged header: fields_offset %u", foff);
    /* Fixed fields a minor version added sit before fields_offset. */
    if (foff >= MT_HEADER_FIXED_BYTES_1_1) h->alloc_sample_bytes = mt_le64_get(c + 68);

    /* Text fields: copy them all into one block, NUL-terminated. */
    r->hstrings = malloc(size + 8u * nfields + 1);
    if (!r->hstrings) return report(r, MT_ERR_NOMEM, 0, "out of memory");
    char *out = r->hstrings;
    const uint8_t *f = c + foff, *fend = c + size - 8;
    for (uint16_t i = 0; i < nfields; i++) {
        if (fend - f < 8)
            return report(r, MT_ERR_HEADER, (uint64_t)(f - p),
                          "damaged header: text field %u overruns the header", i);
        uint16_t key = mt_le16_get(f);
        uint32_t len = mt_le32_get(f + 4);
        if ((uint64_t)(fend - f - 8) < len)
            return report(r, MT_ERR_HEADER, (uint64_t)(f - p),
                          "damaged header: text field %u overruns the header", i);
        const uint8_t *s = f + 8;
        f += 8 + len;
        if (key == MT_KEY_ARGV) {
            uint32_t argc = 0;
            for (uint32_t k = 0; k < len; k++) argc += s[k] == 0;
            if (len && s[len - 1] != 0) argc++; /* tolerate a missing last NUL */
            free(r->argv);
            r->argv = calloc(argc + 1, sizeof *r->argv);
            if (!r->argv) return report(r, MT_ERR_NOMEM, 0, "out of memory");
            memcpy(out, s, len);
            out[len] = 0;
            uint32_t a = 0;
            for (uint32_t k = 0; k < len && a < argc; a++) {
                r->argv[a] = out + k;
                while (k < len && out[k]) k++;
                k++;
            }
            h->argv = r->argv;
            h->argc = argc;
            out += len + 1;
            continue;
        }
        const char **slot = NULL;
        switch (key) {
        case MT_KEY_HOSTNAME: slot = &h->hostname; break;
        case MT_KEY_PY_IMPL: slot = &h->python_implementation; break;
        case MT_KEY_PY_VERSION: slot = &h->python_version; break;
        case MT_KEY_EXECUTABLE: slot = &h->executable; break;
        case MT_KEY_CWD: slot = &h->cwd; break;
        case MT_KEY_PRODUCER: slot = &h->producer; break;
        case MT_KEY_MODE: slot = &h->mode; break;
        default: continue; /* unknown keys are skipped */
        }
        memcpy(out, s, len);
        out[len] = 0;
        *slot = out;
        out += len + 1;
    }
    return 0;
}

/* A problem open found that does not stop reading: kept for the first
 * mt_reader_next, which returns it. */
static void set_pending(mt_reader *r, int code) {
    r->pending = code;
    memcpy(r->pending_msg, r->errmsg, sizeof r->pending_msg);
}

static int resync(mt_reader *r, uint64_t from);
static int looks_like_frame(const uint8_t *p, size_t n);

/* The header frame is damaged: search for its copy (spec 3.1, 7.1) from
 * byte 0 (the header itself may be gone) up to the first chunk, index or end frame, and at most as far as
 * a header frame can reach. 1 with r->h filled and the cursor after the
 * copy, 0 when there is none, or a negative code on a read error. */
static int find_copy(mt_reader *r, uint64_t *copy_at) {
    const uint64_t limit = MT_FRAME_HEAD_BYTES + (uint64_t)MT_MAX_FRAME_BYTES + 16;
    if (seek_to(r, 0) < 0) return 0;
    for (size_t i = 0; i < limit; i++) {
        if (avail(r) < i + 12) {
            int rc = need(r, avail(r) + 65536);
            if (rc < 0) return rc;
            if (avail(r) < i + 12) return 0;
        }
        const uint8_t *p = cursor(r) + i;
        if (p[0] != 0x5E || mt_le32_get(p) != MT_SKIP_MAGIC) continue;
        if (looks_like_frame(p, 12)) return 0; /* the chunks begin: no copy */
        if (memcmp(p + 8, "MTHC", 4)) continue;
        uint32_t size = mt_le32_get(p + 4);
        if (size < 4 + MT_HEADER_FIXED_BYTES + 8 || size > MT_MAX_FRAME_BYTES) continue;
        int rc = need(r, i + MT_FRAME_HEAD_BYTES + size);
        if (rc < 0) return rc;
        if (rc == 0) continue;
        p = cursor(r) + i;
        if (parse_header_content(r, p + 12, size - 4, r->win_pos + i + 12) == 0) {
            *copy_at = r->win_pos + i;
            r->win_off = i + MT_FRAME_HEAD_BYTES + size;
            return 1;
        }
    }
    return 0;
}

/* Format 1.2 and later: the frame right after an intact header must be its
 * copy, byte for byte. If it is not, report that (pending), and go on at
 * the next frame of ours. */
static int check_copy(mt_reader *r) {
    uint64_t at = cur_pos(r);
    uint32_t want = 4 + r->header_bytes;
    int rc = need(r, MT_FRAME_HEAD_BYTES + (size_t)want);
    if (rc < 0) return report(r, rc, at, "cannot read: %s", strerror(errno));
    const uint8_t *p = cursor(r), *c = p + 12;
    const char *what = NULL;
    int code = MT_ERR_HEADER;
    if (rc == 0) {
        code = MT_ERR_TRUNCATED; /* written with the header: a cut file */
        what = avail(r) == 0 ? "missing: truncated, the file ends after the header"
                             : "cut short: truncated, the file ends inside it";
    } else if (mt_le32_get(p) != MT_SKIP_MAGIC || memcmp(p + 8, "MTHC", 4)) {
        what = "missing or damaged (no MTHC frame after the header)";
    } else if (mt_le32_get(p + 4) != want) {
        what = "damaged (its frame size differs from the header's)";
    } else if (memcmp(c, mt_signature, 8) || mt_le32_get(c + 12) != r->header_bytes ||
               mt_le64_get(c + r->header_bytes - 8) != r->header_checksum ||
               mt_xxh64_2(c, r->header_bytes - 8, NULL, 0) != r->header_checksum) {
        what = "damaged (its bytes differ from the header's)";
    }
    if (!what) {
        r->win_off += MT_FRAME_HEAD_BYTES + want;
        return 0;
    }
    r->msg_chunk = 0;
    report(r, code, at, "the header copy is %s; the header itself is intact", what);
    r->stats.header_damaged = 1;
    /* A chunk right here (a copy that is missing) is read as usual; other
     * bytes are passed over to the next frame of ours. */
    if (avail(r) && !(avail(r) >= 12 && looks_like_frame(p, avail(r)))) {
        uint64_t before = cur_pos(r);
        rc = resync(r, at);
        if (rc < 0) return report(r, rc, at, "cannot read: %s", strerror(errno));
        r->stats.damaged_bytes += cur_pos(r) - before;
    }
    set_pending(r, code);
    return 0;
}

static int open_common(mt_reader **rp, mt_reader *r) {
    *rp = r;
    r->dctx = ZSTD_createDCtx();
    if (!r->dctx) return report(r, MT_ERR_NOMEM, 0, "out of memory");
    int rc = parse_header(r);
    if (rc == 0) {
        if (r->h.minor >= 2 && (rc = check_copy(r)) < 0) r->fatal = 1;
        r->first_frame_at = cur_pos(r);
        return rc;
    }
    if (rc == MT_ERR_IO || rc == MT_ERR_NOMEM || rc == MT_ERR_EMPTY || !r->maybe_trace) {
        r->fatal = 1;
        return rc;
    }
    /* A damaged header: read its copy, if the writer made one. */
    char msg[sizeof r->errmsg];
    memcpy(msg, r->errmsg, sizeof msg);
    uint64_t copy_at = 0;
    int found = find_copy(r, &copy_at);
    if (found <= 0) {
        memcpy(r->errmsg, msg, sizeof msg);
        r->last_error = rc;
        memset(&r->h, 0, sizeof r->h);
        r->fatal = 1;
        return found < 0 ? found : rc;
    }
    /* msg is "NAME: at byte N: what"; say first that it is the header. */
    size_t nl = strlen(r->name);
    const char *detail = strncmp(msg, r->name, nl) == 0 && msg[nl] == ':' ? msg + nl + 2 : msg;
    snprintf(r->errmsg, sizeof r->errmsg,
             "%s: the header frame is damaged (%.300s); read the header copy at byte %" PRIu64
             " instead", r->name, detail, copy_at);
    r->last_error = MT_ERR_HEADER;
    r->stats.header_damaged = 1;
    r->stats.damaged_bytes += copy_at;
    set_pending(r, MT_ERR_HEADER);
    r->first_frame_at = cur_pos(r);
    return 0;
}

static mt_reader *new_reader(const char *name) {
    mt_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->fd = -1;
    r->name = strdup(name ? name : "(trace)");
    if (!r->name) {
        free(r);
        return NULL;
    }
    return r;
}

int mt_reader_open_mem(mt_reader **rp, const void *buf, size_t n, const char *name) {
    if (!rp) return MT_ERR_ARG;
    *rp = NULL;
    if (!buf && n) return MT_ERR_ARG;
    mt_reader *r = new_reader(name);
    if (!r) return MT_ERR_NOMEM;
    r->src = SRC_MEM;
    r->win = buf ? buf : (const uint8_t *)"";
    r->win_len = n;
    r->file_bytes = n;
    return open_common(rp, r);
}

int mt_reader_open_stream(mt_reader **rp, mt_read_fn fn, void *ctx, const char *name) {
    if (!rp) return MT_ERR_ARG;
    *rp = NULL;
    if (!fn) return MT_ERR_ARG;
    mt_reader *r = new_reader(name);
    if (!r) return MT_ERR_NOMEM;
    r->src = SRC_STREAM;
    r->fn = fn;
    r->ctx = ctx;
    r->file_bytes = UINT64_MAX;
    return open_common(rp, r);
}

static long fd_read(void *ctx, void *buf, size_t n) {
    ssize_t k = read(*(int *)ctx, buf, n);
    return k < 0 ? -errno : (long)k;
}

static int open_fd(mt_reader **rp, int fd, int own, const char *name) {
    mt_reader *r = new_reader(name);
    if (!r) {
        if (own) close(fd);
        return MT_ERR_NOMEM;
    }
    r->fd = fd;
    r->own_fd = own;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        *rp = r;
        r->fatal = 1;
        errno = EISDIR;
        return report(r, MT_ERR_IO, 0, "cannot read: Is a directory");
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        r->src = SRC_FILE;
        r->file_bytes = (uint64_t)st.st_size;
    } else {
        r->src = SRC_STREAM;
        r->fn = fd_read;
        r->ctx = &r->fd;
        r->file_bytes = UINT64_MAX;
    }
    return open_common(rp, r);
}

int mt_reader_open(mt_reader **rp, const char *path) {
    if (!rp) return MT_ERR_ARG;
    *rp = NULL;
    if (!path) return MT_ERR_ARG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        mt_reader *r = new_reader(path);
        if (!r) return MT_ERR_NOMEM;
        *rp = r;
        r->fatal = 1;
        errno = e;
        snprintf(r->errmsg, sizeof r->errmsg, "%s: cannot open: %s", path, strerror(e));
        r->last_error = MT_ERR_IO;
        return MT_ERR_IO;
    }
    return open_fd(rp, fd, 1, path);
}

int mt_reader_open_fd(mt_reader **rp, int fd, const char *name) {
    if (!rp) return MT_ERR_ARG;
    *rp = NULL;
    if (fd < 0) return MT_ERR_ARG;
    return open_fd(rp, fd, 0, name);
}

void mt_reader_close(mt_reader *r) {
    if (!r) return;
    if (r->own_fd) close(r->fd);
    ZSTD_freeDCtx(r->dctx);
    free(r->winbuf);
    free(r->raw);
    free(r->hstrings);
    free(r->argv);
    for (uint32_t i = 0; i < r->nstrings; i++) free(r->strings[i].s);
    for (uint32_t i = 0; i < r->nthreads; i++) {
        free(r->threads[i].name);
        mt_fidstack_free(&r->threads[i].stack);
    }
    for (uint32_t i = 0; i < r->nltabs; i++) {
        free(r->ltabs[i].off);
        free(r->ltabs[i].line);
    }
    free(r->ltabs);
    free(r->posbuf);
    idmap_free(&r->lmap);
    free(r->strings);
    free(r->funcs);
    free(r->threads);
    free(r->stackbuf);
    idmap_free(&r->smap);
    idmap_free(&r->fmap);
    idmap_free(&r->tmap);
    free(r->name);
    free(r);
}

/* ---- frames -------------------------------------------------------------- */

/* Is there a frame of ours that we know starting at p (n bytes there)? */
static int looks_like_frame(const uint8_t *p, size_t n) {
    if (n < 12 || mt_le32_get(p) != MT_SKIP_MAGIC) return 0;
    return !memcmp(p + 8, "MTCK", 4) || !memcmp(p + 8, "MTIX", 4) ||
           !memcmp(p + 8, "MTEN", 4);
}

/* After damage found at offset `from`, move to the next frame of ours.
 * Returns 1 when one was found (the cursor is on it), 0 when none follows
 * (the cursor is at the end), or a negative code on a read error. */
static int resync(mt_reader *r, uint64_t from) {
    int rc = seek_to(r, from + 1);
    if (rc < 0) return rc;
    for (;;) {
        rc = need(r, 12);
        if (rc < 0) return rc;
        size_t n = avail(r);
        const uint8_t *p = cursor(r);
        if (n < 12) { /* no frame can start here: the end */
            r->win_off += n;
            return 0;
        }
        /* Look for the magic's first byte, then check the frame. */
        size_t i = 0;
        for (; i + 12 <= n; i++) {
            if (p[i] == 0x5E && looks_like_frame(p + i, n - i)) break;
        }
        r->win_off += i;
        if (i + 12 <= n) return 1;
    }
}

/* A damaged chunk or frame at `at`, already reported: count it, move past
 * it, and say where reading resumes. */
static int damaged(mt_reader *r, int code, uint64_t at) {
    r->stats.damaged_chunks++;
    r->in_chunk = 0;
    int rc = resync(r, at);
    uint64_t skipped = cur_pos(r) - at;
    r->stats.damaged_bytes += skipped;
    if (rc < 0) {
        r->fatal = 1;
        append_msg(r, "; then a read failed: %s", strerror(errno));
    } else if (rc) {
        append_msg(r, "; %" PRIu64 " bytes skipped, resuming at byte %" PRIu64, skipped,
                   cur_pos(r));
    } else {
        append_msg(r, "; no intact chunk follows");
    }
    return code;
}

/* A frame at `at` whose size runs past the end of the input: either the
 * file was cut there (nothing of ours follows: MT_ERR_TRUNCATED, the end),
 * or its size field is damaged and frames follow (MT_ERR_FRAME: skip it). */
static int past_end(mt_reader *r, uint64_t at, size_t have, size_t total,
                    const char *what, int is_chunk) {
    int found = resync(r, at);
    if (found == 1) {
        r->stats.damaged_chunks++;
        r->in_chunk = 0;
        uint64_t skipped = cur_pos(r) - at;
        r->stats.damaged_bytes += skipped;
        report(r, MT_ERR_FRAME, at,
               "%s of %zu bytes runs past the end of the file, but frames follow "
               "(a damaged size field); %" PRIu64 " bytes skipped, resuming at byte %" PRIu64,
               what, total, skipped, cur_pos(r));
        return MT_ERR_FRAME;
    }
    r->fatal = 1;
    r->stats.damaged_bytes += have;
    if (is_chunk) r->stats.damaged_chunks++;
    if (found < 0) return report(r, found, at, "cannot read: %s", strerror(errno));
    return report(r, MT_ERR_TRUNCATED, at,
                  "truncated: the file ends inside %s (%zu of %zu bytes)", what, have, total);
}

/* An end frame at `at`: 1 when it closes the file (intact, last, pointing at
 * the intact index before it), 0 when it is intact but not last (a file
 * appended to after close), or MT_ERR_INDEX, reported, when it is damaged
 * or contradicts the file. */
static int check_end_frame(mt_reader *r, const uint8_t *c, uint32_t size, uint64_t at) {
    if (size != MT_END_BYTES)
        return report(r, MT_ERR_INDEX, at, "damaged end frame: %" PRIu32 " bytes, need %d",
                      size, MT_END_BYTES);
    uint64_t stored = mt_le64_get(c + 16), actual = mt_xxh64_2(c, 16, NULL, 0);
    if (stored != actual)
        return report(r, MT_ERR_INDEX, at,
                      "damaged end frame: checksum mismatch (stored %016" PRIx64
                      ", computed %016" PRIx64 ")", stored, actual);
    uint64_t ix = mt_le64_get(c + 8);
    uint32_t nchunks = mt_le32_get(c + 4);
    /* After a seek, or past damage, the chunks met are not the file's. */
    int whole = !r->seeked && !r->stats.damaged_chunks && !r->stats.damaged_bytes;
    if (whole && ix != r->index_at && !r->index_damaged) {
        if (r->index_at)
            return report(r, MT_ERR_INDEX, at,
                          "damaged end frame: index_offset %" PRIu64
                          " but the index frame is at byte %" PRIu64, ix, r->index_at);
        return report(r, MT_ERR_INDEX, at,
                      "damaged end frame: index_offset %" PRIu64 " but no index frame "
                      "precedes it", ix);
    }
    if (r->index_damaged) return 0; /* reported with the index */
    if (whole && (uint64_t)nchunks != r->chunks_met)
        return report(r, MT_ERR_INDEX, at,
                      "end frame says %" PRIu32 " chunks, the file has %" PRIu64, nchunks,
                      r->chunks_met);
    /* Closed: the end frame is the last thing and points at an index. */
    uint64_t end = at + MT_FRAME_HEAD_BYTES + size;
    return (r->file_bytes == UINT64_MAX || end == r->file_bytes) && ix < at &&
           ix == r->index_at;
}

/* Load the next chunk into raw. Returns 1 when a chunk is ready, 0 at the
 * end of the file, or a negative code (damage, reported). */
static int next_chunk(mt_reader *r) {
    for (;;) {
        uint64_t at = cur_pos(r);
        r->msg_chunk = 0;
        int rc = need(r, MT_FRAME_HEAD_BYTES);
        if (rc < 0) {
            r->fatal = 1;
            return report(r, rc, at, "cannot read: %s", strerror(errno));
        }
        if (rc == 0) {
            if (avail(r) == 0) return 0;
            r->stats.closed = 0;
            r->fatal = 1;
            r->stats.damaged_bytes += avail(r);
            return report(r, MT_ERR_TRUNCATED, at,
                          "truncated: the file ends %zu bytes into a frame header",
                          avail(r));
        }
        const uint8_t *p = cursor(r);
        uint32_t magic = mt_le32_get(p), size = mt_le32_get(p + 4);
        if (r->after_index) {
            /* An index is followed by the end frame or by the end of the
             * file (a writer killed between the two): anything else is a
             * damaged end frame. This frame is then read as usual. */
            r->after_index = 0;
            rc = need(r, 12);
            if (rc < 0) {
                r->fatal = 1;
                return report(r, rc, at, "cannot read: %s", strerror(errno));
            }
            p = cursor(r);
            if (!(rc == 1 && magic == MT_SKIP_MAGIC && !memcmp(p + 8, "MTEN", 4)))
                return report(r, MT_ERR_INDEX, at,
                              "damaged end frame: the index at byte %" PRIu64
                              " is followed by something else",
                              r->index_at);
        }
        if (magic == MT_ZSTD_MAGIC) {
            report(r, MT_ERR_FRAME, at, "a zstd frame without a chunk header");
            return damaged(r, MT_ERR_FRAME, at);
        }
        if (magic < MT_SKIP_MAGIC_MIN || magic > MT_SKIP_MAGIC_MAX) {
            report(r, MT_ERR_FRAME, at,
                   "not a frame (bytes %02x %02x %02x %02x)", p[0], p[1], p[2], p[3]);
            return damaged(r, MT_ERR_FRAME, at);
        }
        if (size > MT_MAX_FRAME_BYTES) {
            report(r, MT_ERR_LIMIT, at, "frame of %" PRIu32 " bytes exceeds the limit", size);
            return damaged(r, MT_ERR_LIMIT, at);
        }
        rc = need(r, MT_FRAME_HEAD_BYTES + (size_t)size);
        if (rc < 0) {
            r->fatal = 1;
            return report(r, rc, at, "cannot read: %s", strerror(errno));
        }
        if (rc == 0) {
            r->stats.closed = 0;
            const char *what = "a frame";
            int is_chunk = avail(r) >= 12 && !memcmp(cursor(r) + 8, "MTCK", 4);
            if (avail(r) >= 12 && !memcmp(cursor(r) + 8, "MTIX", 4))
                what = "the index frame (the chunks before it are intact)";
            else if (is_chunk)
                what = "a chunk header";
            return past_end(r, at, avail(r), (size_t)size + MT_FRAME_HEAD_BYTES, what, is_chunk);
        }
        p = cursor(r);
        const uint8_t *c = p + MT_FRAME_HEAD_BYTES;
        if (magic != MT_SKIP_MAGIC || size < 4 || memcmp(c, "MTCK", 4) != 0) {
            /* Index, end frame, or a frame we do not know: skip it. A
             * damaged index or end frame is reported (spec 7.6), and the
             * frame loop goes on after it. */
            r->stats.closed = 0; /* only an end frame may come last */
            r->win_off += MT_FRAME_HEAD_BYTES + size;
            int is_ix = magic == MT_SKIP_MAGIC && size >= 4 && !memcmp(c, "MTIX", 4);
            int is_end = magic == MT_SKIP_MAGIC && size >= 4 && !memcmp(c, "MTEN", 4);
            if (is_ix) {
                int bad = size < MT_INDEX_HEAD_BYTES;
                uint64_t stored = bad ? 0 : mt_le64_get(c + 4);
                uint64_t actual = bad ? 0 : mt_xxh64_2(c + 12, size - 12, NULL, 0);
                if (!bad && stored == actual) {
                    r->index_at = at;
                    r->index_damaged = 0;
                    r->after_index = 1;
                    continue;
                }
                r->index_damaged = 1;
                if (bad)
                    return report(r, MT_ERR_INDEX, at,
                                  "damaged index frame: %" PRIu32 " bytes, need %d", size,
                                  MT_INDEX_HEAD_BYTES);
                return report(r, MT_ERR_INDEX, at,
                              "damaged index frame: checksum mismatch (stored %016" PRIx64
                              ", computed %016" PRIx64 "); the chunks are read without it",
                              stored, actual);
            }
            if (is_end) {
                int rc2 = check_end_frame(r, c, size, at);
                if (rc2 < 0) return rc2;
                r->stats.closed = rc2;
            }
            continue;
        }

        /* A chunk header: from here on, messages name the chunk. */
        r->stats.closed = 0;
        r->msg_chunk = 1;
        r->chunk_ordinal = r->chunks_met++;
        mt_chunk_info ci = {0};
        ci.offset = at;
        if (size >= 16) ci.seq = mt_le32_get(c + 12);
        r->chunk = ci;
        if (size < MT_CHUNK_HEAD_BYTES) {
            report(r, MT_ERR_FRAME, at, "chunk header of %" PRIu32 " bytes, need 48", size);
            return damaged(r, MT_ERR_FRAME, at);
        }
        ci.flags = mt_le32_get(c + 16);
        ci.payload_bytes = mt_le32_get(c + 20);
        ci.raw_bytes = mt_le32_get(c + 24);
        ci.nrecords = mt_le32_get(c + 28);
        ci.t_first = mt_le64_get(c + 32);
        ci.t_last = mt_le64_get(c + 40);
        r->chunk = ci;
        if (ci.raw_bytes > MT_MAX_CHUNK_RAW_BYTES ||
            ci.payload_bytes > ZSTD_compressBound(MT_MAX_CHUNK_RAW_BYTES)) {
            report(r, MT_ERR_LIMIT, at,
                   "chunk sizes beyond the limits (payload %" PRIu32 ", raw %" PRIu32 ")",
                   ci.payload_bytes, ci.raw_bytes);
            return damaged(r, MT_ERR_LIMIT, at);
        }
        size_t total = MT_FRAME_HEAD_BYTES + (size_t)size + ci.payload_bytes;
        rc = need(r, total);
        if (rc < 0) {
            r->fatal = 1;
            return report(r, rc, at, "cannot read: %s", strerror(errno));
        }
        if (rc == 0) return past_end(r, at, avail(r), total, "the chunk", 1);
        p = cursor(r);
        c = p + MT_FRAME_HEAD_BYTES;
        const uint8_t *payload = c + size;
        uint64_t stored = mt_le64_get(c + 4);
        uint64_t actual = mt_xxh64_2(c + MT_CHECKSUM_FROM, size - MT_CHECKSUM_FROM,
                                     payload, ci.payload_bytes);
        if (stored != actual) {
            report(r, MT_ERR_CHECKSUM, at,
                   "checksum mismatch (stored %016" PRIx64 ", computed %016" PRIx64 ")",
                   stored, actual);
            return damaged(r, MT_ERR_CHECKSUM, at);
        }
        if (!r->raw || ci.raw_bytes > r->raw_cap) {
            size_t cap = r->raw_cap ? r->raw_cap : 65536;
            while (cap < ci.raw_bytes) cap *= 2;
            uint8_t *b = realloc(r->raw, cap);
            if (!b) {
                r->fatal = 1;
                return report(r, MT_ERR_NOMEM, at, "out of memory");
            }
            r->raw = b;
            r->raw_cap = cap;
        }
        size_t fsz = ZSTD_findFrameCompressedSize(payload, ci.payload_bytes);
        size_t got = ZSTD_isError(fsz) || fsz != ci.payload_bytes
                         ? fsz
                         : ZSTD_decompressDCtx(r->dctx, r->raw, r->raw_cap, payload,
                                               ci.payload_bytes);
        if (ZSTD_isError(got) || fsz != ci.payload_bytes || got != ci.raw_bytes) {
            report(r, MT_ERR_DECOMPRESS, at, "zstd payload does not decode to %" PRIu32
                   " bytes: %s", ci.raw_bytes,
                   ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size mismatch");
            return damaged(r, MT_ERR_DECOMPRESS, at);
        }
        r->win_off += total;
        r->rp = r->raw;
        r->rend = r->raw + ci.raw_bytes;
        r->in_chunk = 1;
        r->in_block = 0;
        r->chunk_records = 0;
        r->stats.chunks++;
        return 1;
    }
}

/* ---- records ------------------------------------------------------------- */

#define GET(v)                                                  \
    do {                                                        \
        if (mt_varint_get(&p, end, &(v))) goto overrun;         \
    } while (0)
#define GET32(v)                                                \
    do {                                                        \
        uint64_t v64_;                                          \
        if (mt_varint_get(&p, end, &v64_)) goto overrun;        \
        if (v64_ > UINT32_MAX) goto toobig;                     \
        (v) = (uint32_t)v64_;                                   \
    } while (0)

static uint32_t pop(rthread *t) {
    return t->stack.depth ? t->stack.fids[--t->stack.depth] : 0;
}

static int get_counters(mt_reader *r, const uint8_t **pp, const uint8_t *end,
                        uint32_t *n_out) {
    const uint8_t *p = *pp;
    uint64_t n, id, v;
    if (mt_varint_get(&p, end, &n)) return -1;
    if (n > MT_MAX_COUNTERS) return -2;
    for (uint32_t i = 0; i < n; i++) {
        if (mt_varint_get(&p, end, &id) || mt_varint_get(&p, end, &v)) return -1;
        if (id > UINT32_MAX) return -2;
        r->counters[i].id = (uint32_t)id;
        r->counters[i].value = v;
    }
    *n_out = (uint32_t)n;
    *pp = p;
    return 0;
}

/* Decode one record at r->rp. 1: a record; 0: the chunk is done; <0: bad. */
static int decode(mt_reader *r, mt_record *rec) {
    const uint8_t *p = r->rp, *end = r->rend, *start = p;
    if (p >= end) return 0;
    uint8_t type = *p++;
    uint64_t dt, v;
    rec->raw_type = type;
    rec->type = type;
    if (type < 0x40) {
        if (!r->in_block) goto noblock;
        GET(dt);
        r->t += dt;
        rec->t = r->t;
        rec->tid = r->tid;
        rthread *th = r->th;
        switch (type) {
        case MT_REC_CALL:
        case MT_REC_CCALL:
            GET32(rec->u.call.fid);
            if (mt_fidstack_push(&th->stack, rec->u.call.fid)) goto nomem;
            break;
        case MT_REC_RETURN:
        case MT_REC_CRETURN:
        case MT_REC_CRAISE:
        case MT_REC_UNWIND: rec->u.call.fid = pop(th); break;
        case MT_REC_LINE:
            GET(v);
            r->prev_line = (uint32_t)((int64_t)r->prev_line + mt_unzigzag(v));
            rec->u.line.line = r->prev_line;
            break;
        case MT_REC_RAISE: GET32(rec->u.raise.type_sid); break;
        case MT_REC_OBJ_NEW:
        case MT_REC_OBJ_DEL:
            GET(v);
            r->prev_addr += (uint64_t)mt_unzigzag(v);
            rec->u.obj.addr = r->prev_addr;
            GET32(rec->u.obj.type_sid);
            break;
        case MT_REC_RSS:
            GET(v);
            r->prev_rss += (uint64_t)mt_unzigzag(v);
            rec->u.rss.bytes = r->prev_rss;
            break;
        default:
            if (type >= MT_REC_ALLOC && type < MT_REC_REALLOC + 8) {
                rec->domain = type & 7;
                rec->type = type & 0x38;
                GET(v);
                if (rec->type == MT_REC_REALLOC) {
                    rec->u.realloc.old_addr = r->prev_addr + (uint64_t)mt_unzigzag(v);
                    GET(v);
                    r->prev_addr = rec->u.realloc.old_addr + (uint64_t)mt_unzigzag(v);
                    rec->u.realloc.addr = r->prev_addr;
                    GET(rec->u.realloc.size);
                } else {
                    r->prev_addr += (uint64_t)mt_unzigzag(v);
                    rec->u.alloc.addr = r->prev_addr;
                    rec->u.alloc.size = 0;
                    if (rec->type == MT_REC_ALLOC) GET(rec->u.alloc.size);
                }
                break;
            }
            r->rp = end;
            return report(r, MT_ERR_RECORD, r->chunk.offset,
                          "unknown compact record type 0x%02x at payload byte %zu", type,
                          (size_t)(start - r->raw));
        }
        r->rp = p;
        return 1;
    }

    /* A sized record: decode within its payload, ignore what follows. */
    uint64_t len;
    GET(len);
    if (len > (uint64_t)(end - p)) goto overrun;
    const uint8_t *next = p + len;
    end = next;
    switch (type) {
    case MT_REC_BLOCK: {
        uint32_t tid, depth;
        GET32(tid);
        GET(r->t);
        GET32(depth);
        if (depth > (uint64_t)(end - p)) goto overrun; /* >= 1 byte each */
        rthread *th = get_thread(r, tid);
        if (!th) goto nomem;
        th->stack.depth = 0;
        for (uint32_t i = 0; i < depth; i++) {
            uint32_t fid;
            GET32(fid);
            if (mt_fidstack_push(&th->stack, fid)) goto nomem;
        }
        /* 1.3: each level's instruction offset + 1, when present. */
        if (p < end && depth > 0) {
            for (uint32_t i = 0; i < depth; i++) GET32(th->stack.pos[i]);
        }
        if (posbuf_room(r, depth)) goto nomem;
        for (uint32_t i = 0; i < depth; i++)
            r->posbuf[i] = th->stack.pos[i]
                               ? mt_reader_line(r, th->stack.fids[i], th->stack.pos[i] - 1)
                               : 0;
        r->in_block = 1;
        r->tid = tid;
        r->th = th;
        r->prev_line = 0;
        r->prev_addr = r->prev_rss = 0;
        rec->t = r->t;
        rec->tid = tid;
        rec->u.block.depth = depth;
        rec->u.block.fids = th->stack.fids;
        rec->u.block.pos = th->stack.pos;
        rec->u.block.lines = r->posbuf;
        break;
    }
    case MT_REC_STRING: {
        uint32_t sid;
        GET32(sid);
        if (sid == 0) goto zeroid;
        rec->t = 0;
        rec->tid = 0;
        if (def_string(r, sid, p, (uint32_t)(end - p))) goto nomem;
        rec->u.string.sid = sid;
        rec->u.string.len = (uint32_t)(end - p);
        rec->u.string.bytes = mt_reader_string(r, sid, NULL);
        break;
    }
    case MT_REC_FUNCTION: {
        rfunc f = {0};
        uint32_t fid;
        GET32(fid);
        if (fid == 0) goto zeroid;
        GET32(f.kind);
        GET32(f.qualname_sid);
        GET32(f.module_sid);
        GET32(f.file_sid);
        GET32(f.first_line);
        uint32_t slot = idmap_get(&r->fmap, fid);
        if (slot == UINT32_MAX) {
            if (grow((void **)&r->funcs, &r->cap_funcs, r->nfuncs, sizeof *r->funcs) ||
                idmap_put(&r->fmap, fid, r->nfuncs))
                goto nomem;
            slot = r->nfuncs++;
        }
        r->funcs[slot] = f;
        rec->t = 0;
        rec->tid = 0;
        rec->u.function.fid = fid;
        rec->u.function.kind = f.kind;
        rec->u.function.qualname_sid = f.qualname_sid;
        rec->u.function.module_sid = f.module_sid;
        rec->u.function.file_sid = f.file_sid;
        rec->u.function.first_line = f.first_line;
        break;
    }
    case MT_REC_LINES: {
        uint32_t fid, n;
        GET32(fid);
        if (fid == 0) goto zeroid;
        GET32(n);
        if (n > (uint64_t)(end - p) / 2) goto overrun; /* >= 2 bytes each */
        rlines l = {n, malloc(((size_t)n + 1) * sizeof *l.off),
                    malloc(((size_t)n + 1) * sizeof *l.line)};
        if (!l.off || !l.line) {
            free(l.off);
            free(l.line);
            goto nomem;
        }
        uint64_t o = 0;
        int64_t ln = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t d, z;
            if (mt_varint_get(&p, end, &d) || mt_varint_get(&p, end, &z)) {
                free(l.off);
                free(l.line);
                goto overrun;
            }
            o += d;
            ln += mt_unzigzag(z);
            if (o > UINT32_MAX || ln < 0 || ln > UINT32_MAX) {
                free(l.off);
                free(l.line);
                goto toobig;
            }
            l.off[i] = (uint32_t)o;
            l.line[i] = (uint32_t)ln;
        }
        uint32_t slot = idmap_get(&r->lmap, fid);
        if (slot == UINT32_MAX) {
            if (grow((void **)&r->ltabs, &r->cap_ltabs, r->nltabs, sizeof *r->ltabs) ||
                idmap_put(&r->lmap, fid, r->nltabs)) {
                free(l.off);
                free(l.line);
                goto nomem;
            }
            slot = r->nltabs++;
        } else {
            free(r->ltabs[slot].off);
            free(r->ltabs[slot].line);
        }
        r->ltabs[slot] = l;
        rec->t = 0;
        rec->tid = 0;
        rec->u.lines.fid = fid;
        rec->u.lines.n = n;
        rec->u.lines.offsets = l.off;
        rec->u.lines.lines = l.line;
        break;
    }
    case MT_REC_POS: {
        if (!r->in_block) goto noblock;
        uint32_t n;
        GET32(n);
        if (n > (uint64_t)(end - p) / 2) goto overrun; /* >= 2 bytes each */
        if (posbuf_room(r, n)) goto nomem;
        uint32_t *lv = r->posbuf, *of = lv + r->posbuf_cap, *ln = of + r->posbuf_cap;
        mt_fidstack *st = &r->th->stack;
        for (uint32_t i = 0; i < n; i++) {
            GET32(lv[i]);
            GET32(of[i]);
            ln[i] = 0;
            if (lv[i] < st->depth) {
                uint32_t L = st->depth - 1 - lv[i];
                st->pos[L] = of[i] == UINT32_MAX ? 0 : of[i] + 1;
                ln[i] = of[i] == UINT32_MAX ? 0 : mt_reader_line(r, st->fids[L], of[i]);
            }
        }
        rec->t = r->t; /* no time of its own: the block's current time */
        rec->tid = r->tid;
        rec->u.pos.n = n;
        rec->u.pos.levels = lv;
        rec->u.pos.offsets = of;
        rec->u.pos.lines = ln;
        break;
    }
    case MT_REC_THREAD: {
        uint32_t tid;
        GET32(tid);
        GET(rec->u.thread.native_id);
        rthread *th = get_thread(r, tid);
        char *name = malloc((size_t)(end - p) + 1);
        if (!th || !name) {
            free(name);
            goto nomem;
        }
        memcpy(name, p, (size_t)(end - p));
        name[end - p] = 0;
        free(th->name);
        th->name = name;
        th->native_id = rec->u.thread.native_id;
        if (r->in_block) r->th = get_thread(r, r->tid); /* threads may have moved */
        rec->t = 0;
        rec->tid = tid;
        rec->u.thread.len = (uint32_t)(end - p);
        rec->u.thread.name = name;
        break;
    }
    default:
        if (!r->in_block) {
            if (type > MT_REC_SUMMARY) goto unknown_notime;
            goto noblock;
        }
        if (type > MT_REC_SUMMARY) goto unknown;
        GET(dt);
        r->t += dt;
        rec->t = r->t;
        rec->tid = r->tid;
        switch (type) {
        case MT_REC_THREAD_START:
        case MT_REC_THREAD_END: GET32(rec->tid); break;
        case MT_REC_MARKER:
            rec->u.marker.len = (uint32_t)(end - p);
            rec->u.marker.text = (const char *)p;
            break;
        case MT_REC_COUNTERS:
            switch (get_counters(r, &p, end, &rec->u.counters.n)) {
            case -1: goto overrun;
            case -2: goto toobig;
            }
            rec->u.counters.v = r->counters;
            break;
        case MT_REC_PROC_SAMPLE:
            GET32(rec->u.proc.pid);
            GET32(rec->u.proc.ppid);
            GET32(rec->u.proc.name_sid);
            GET32(rec->u.proc.cmdline_sid);
            switch (get_counters(r, &p, end, &rec->u.proc.n)) {
            case -1: goto overrun;
            case -2: goto toobig;
            }
            rec->u.proc.v = r->counters;
            break;
        case MT_REC_PROC_EXIT:
            GET32(rec->u.proc_exit.pid);
            GET(v);
            rec->u.proc_exit.status = (int32_t)mt_unzigzag(v);
            break;
        case MT_REC_LOST:
            GET(rec->u.lost.events);
            GET(rec->u.lost.bytes);
            GET32(rec->u.lost.reason);
            break;
        case MT_REC_SUMMARY:
            GET32(rec->u.summary.reason);
            switch (get_counters(r, &p, end, &rec->u.summary.n)) {
            case -1: goto overrun;
            case -2: goto toobig;
            }
            rec->u.summary.v = r->counters;
            break;
        }
        break;
    unknown_notime:
        rec->t = 0;
        rec->tid = 0;
    unknown:
        p = start + 1;
        end = r->rend;
        GET(len); /* the payload again, whole */
        rec->type = MT_REC_UNKNOWN;
        rec->u.unknown.len = (uint32_t)len;
        rec->u.unknown.bytes = p;
        break;
    }
    r->rp = next;
    return 1;

noblock:
    r->rp = r->rend;
    return report(r, MT_ERR_RECORD, r->chunk.offset,
                  "%s record before any BLOCK at payload byte %zu",
                  mt_record_type_name(type), (size_t)(start - r->raw));
overrun:
    r->rp = r->rend;
    return report(r, MT_ERR_RECORD, r->chunk.offset,
                  "%s record at payload byte %zu overruns its %s",
                  mt_record_type_name(type), (size_t)(start - r->raw),
                  type < 0x40 ? "chunk" : "size");
toobig:
    r->rp = r->rend;
    return report(r, MT_ERR_RECORD, r->chunk.offset,
                  "%s record at payload byte %zu: a field is out of range",
                  mt_record_type_name(type), (size_t)(start - r->raw));
zeroid:
    r->rp = r->rend;
    return report(r, MT_ERR_RECORD, r->chunk.offset,
                  "%s record at payload byte %zu defines id 0 (reserved for \"none\")",
                  mt_record_type_name(type), (size_t)(start - r->raw));
nomem:
    r->rp = r->rend;
    r->fatal = 1;
    return report(r, MT_ERR_NOMEM, r->chunk.offset, "out of memory");
}

/* A varint of one or two bytes at p, with no bounds check: the caller made
 * sure enough bytes follow. -1 for longer ones (the full decoder's case). */
static inline int short_varint(const uint8_t **pp, uint64_t *v) {
    const uint8_t *p = *pp;
    if (p[0] < 0x80) {
        *v = p[0];
        *pp = p + 1;
        return 0;
    }
    if (p[1] < 0x80) {
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        *pp = p + 2;
        return 0;
    }
    return -1;
}

/* The records that make up most of a trace (calls, returns, lines) with
 * short varints, decoded without per-byte bounds checks while at least
 * FAST_MARGIN bytes remain in the chunk. 1: done; 0: leave it to decode(),
 * which handles every case (and reports every error) the same way. */
#define FAST_MARGIN 16
static inline int decode_fast(mt_reader *r, mt_record *rec) {
    if (!r->in_block || r->rend - r->rp < FAST_MARGIN) return 0;
    const uint8_t *p = r->rp;
    const uint8_t type = *p++;
    uint64_t dt, v;
    if (type > MT_REC_LINE || type == 0 || short_varint(&p, &dt)) return 0;
    mt_fidstack *st = &r->th->stack;
    switch (type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
        if (short_varint(&p, &v) || st->depth == st->cap) return 0;
        st->pos[st->depth] = 0;
        st->fids[st->depth++] = (uint32_t)v;
        rec->u.call.fid = (uint32_t)v;
        break;
    case MT_REC_LINE:
        if (short_varint(&p, &v)) return 0;
        r->prev_line = (uint32_t)((int64_t)r->prev_line + mt_unzigzag(v));
        rec->u.line.line = r->prev_line;
        break;
    default: /* RETURN, CRETURN, CRAISE */
        rec->u.call.fid = st->depth ? st->fids[--st->depth] : 0;
        break;
    }
    r->t += dt;
    rec->type = type;
    rec->raw_type = type;
    rec->t = r->t;
    rec->tid = r->tid;
    r->rp = p;
    return 1;
}

int mt_reader_next(mt_reader *r, mt_record *rec) {
    if (!r || !rec) return MT_ERR_ARG;
    if (r->pending) { /* found by open (a damaged header or copy) */
        int code = r->pending;
        r->pending = 0;
        memcpy(r->errmsg, r->pending_msg, sizeof r->errmsg);
        r->last_error = code;
        return code;
    }
    if (r->fatal || r->done) return 0;
    for (;;) {
        if (r->in_chunk) {
            if (decode_fast(r, rec)) {
                r->chunk_records++;
                r->stats.records++;
                return 1;
            }
            int rc = decode(r, rec);
            if (rc == 1) {
                r->chunk_records++;
                r->stats.records++;
                return 1;
            }
            r->in_chunk = 0;
            if (rc < 0) {
                r->stats.damaged_chunks++;
                return rc;
            }
            if (r->chunk_records != r->chunk.nrecords) {
                r->stats.damaged_chunks++;
                r->in_chunk = 1; /* for the message */
                report(r, MT_ERR_RECORD, r->chunk.offset,
                       "holds %" PRIu32 " records, its header says %" PRIu32,
                       r->chunk_records, r->chunk.nrecords);
                r->in_chunk = 0;
                return MT_ERR_RECORD;
            }
        }
        int rc = next_chunk(r);
        if (rc == 0) {
            r->done = 1;
            return 0;
        }
        if (rc < 0) return rc;
    }
}

int mt_reader_chunk(const mt_reader *r, mt_chunk_info *out) {
    if (!r || !out) return MT_ERR_ARG;
    if (!r->stats.chunks) return MT_ERR_STATE;
    *out = r->chunk;
    return 0;
}

void mt_reader_stats_get(const mt_reader *r, mt_reader_stats *out) {
    if (r && out) *out = r->stats;
}

/* ---- seeking -------------------------------------------------------------- */

/* Read the chunk list from the index; 0 on success, <0 if absent/damaged. */
static int read_index(mt_reader *r, chunkref **out, uint32_t *n) {
    if (r->file_bytes == UINT64_MAX || r->file_bytes < 32) return MT_ERR_INDEX;
    uint64_t end_at = r->file_bytes - (MT_FRAME_HEAD_BYTES + MT_END_BYTES);
    if (seek_to(r, end_at) || need(r, MT_FRAME_HEAD_BYTES + MT_END_BYTES) != 1)
        return MT_ERR_INDEX;
    const uint8_t *p = cursor(r), *c = p + MT_FRAME_HEAD_BYTES;
    if (mt_le32_get(p) != MT_SKIP_MAGIC || mt_le32_get(p + 4) != MT_END_BYTES ||
        memcmp(c, "MTEN", 4) || mt_le64_get(c + 16) != mt_xxh64_2(c, 16, NULL, 0))
        return MT_ERR_INDEX;
    uint32_t nchunks = mt_le32_get(c + 4);
    uint64_t ix = mt_le64_get(c + 8);
    if (ix >= end_at || seek_to(r, ix) || need(r, MT_FRAME_HEAD_BYTES) != 1)
        return MT_ERR_INDEX;
    p = cursor(r);
    uint32_t size = mt_le32_get(p + 4);
    if (mt_le32_get(p) != MT_SKIP_MAGIC || size < MT_INDEX_HEAD_BYTES ||
        ix + MT_FRAME_HEAD_BYTES + size > end_at ||
        need(r, MT_FRAME_HEAD_BYTES + (size_t)size) != 1)
        return MT_ERR_INDEX;
    p = cursor(r);
    c = p + MT_FRAME_HEAD_BYTES;
    uint32_t count = mt_le32_get(c + 12), esz = mt_le32_get(c + 16);
    if (memcmp(c, "MTIX", 4) || count != nchunks || esz < MT_INDEX_ENTRY_BYTES ||
        (uint64_t)count * esz != size - MT_INDEX_HEAD_BYTES ||
        mt_le64_get(c + 4) != mt_xxh64_2(c + 12, size - 12, NULL, 0))
        return MT_ERR_INDEX;
    chunkref *refs = malloc(((size_t)count + 1) * sizeof *refs);
    if (!refs) return MT_ERR_NOMEM;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = c + MT_INDEX_HEAD_BYTES + (size_t)i * esz;
        refs[i].offset = mt_le64_get(e);
        refs[i].t_first = mt_le64_get(e + 8);
        refs[i].t_last = mt_le64_get(e + 16);
        refs[i].flags = mt_le32_get(e + 28);
    }
    *out = refs;
    *n = count;
    return 0;
}

/* Build the chunk list by walking chunk headers from the first chunk. */
static int scan_chunks(mt_reader *r, uint64_t first, chunkref **out, uint32_t *n) {
    uint32_t cap = 64, count = 0;
    chunkref *refs = malloc(cap * sizeof *refs);
    if (!refs) return MT_ERR_NOMEM;
    uint64_t at = first;
    for (;;) {
        if (seek_to(r, at) || need(r, MT_FRAME_HEAD_BYTES) != 1) break;
        const uint8_t *p = cursor(r);
        uint32_t magic = mt_le32_get(p), size = mt_le32_get(p + 4);
        uint64_t next = at + MT_FRAME_HEAD_BYTES + size;
        int is_chunk = magic == MT_SKIP_MAGIC && size >= MT_CHUNK_HEAD_BYTES &&
                       need(r, MT_FRAME_HEAD_BYTES + MT_CHUNK_HEAD_BYTES) == 1 &&
                       !memcmp(cursor(r) + 8, "MTCK", 4);
        if (is_chunk) {
            const uint8_t *c = cursor(r) + MT_FRAME_HEAD_BYTES;
            if (count == cap) {
                chunkref *g = realloc(refs, (cap *= 2) * sizeof *refs);
                if (!g) {
                    free(refs);
                    return MT_ERR_NOMEM;
                }
                refs = g;
            }
            refs[count].offset = at;
            refs[count].flags = mt_le32_get(c + 16);
            refs[count].t_first = mt_le64_get(c + 32);
            refs[count].t_last = mt_le64_get(c + 40);
            count++;
            next += mt_le32_get(c + 20);
        } else if (magic < MT_SKIP_MAGIC_MIN || magic > MT_SKIP_MAGIC_MAX) {
            /* Damage: find the next frame of ours and go on from there. */
            uint64_t before = r->stats.damaged_bytes;
            char msg[sizeof r->errmsg];
            memcpy(msg, r->errmsg, sizeof msg);
            if (resync(r, at) < 0 || avail(r) < 12) break;
            r->stats.damaged_bytes = before; /* counted when really read */
            memcpy(r->errmsg, msg, sizeof msg);
            next = cur_pos(r);
        }
        at = next;
    }
    *out = refs;
    *n = count;
    return 0;
}

int mt_reader_seek_time(mt_reader *r, uint64_t t) {
    if (!r) return MT_ERR_ARG;
    if (r->src == SRC_STREAM) return MT_ERR_STATE;
    if (r->fatal && !r->h.major) return MT_ERR_STATE;
    r->seeked = 1;
    chunkref *refs = NULL;
    uint32_t n = 0;
    int rc = read_index(r, &refs, &n);
    if (rc == MT_ERR_NOMEM) return rc;
    if (rc) {
        if ((rc = scan_chunks(r, r->first_frame_at, &refs, &n))) return rc;
    }
    uint32_t target = n;
    for (uint32_t i = 0; i < n; i++) {
        if (!(refs[i].flags & MT_CHUNK_DEFS) && refs[i].t_last >= t) {
            target = i;
            break;
        }
    }
    /* Load every definition chunk before the target. */
    r->fatal = 0;
    r->done = 0;
    r->in_chunk = 0;
    for (uint32_t i = 0; i < target; i++) {
        if (!(refs[i].flags & MT_CHUNK_DEFS)) continue;
        if (seek_to(r, refs[i].offset)) continue;
        if (next_chunk(r) != 1) {
            r->fatal = 0;
            continue;
        }
        mt_record rec;
        while (decode(r, &rec) == 1) {}
        r->in_chunk = 0;
    }
    uint64_t pos = target < n ? refs[target].offset
                              : (r->file_bytes != UINT64_MAX ? r->file_bytes : 0);
    free(refs);
    /* Seeking past everything leaves the reader at the end. */
    if (target == n) {
        r->done = 1;
        return 0;
    }
    r->fatal = 0;
    return seek_to(r, pos);
}

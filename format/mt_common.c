/*
 * mt_common.c - error names, record/counter names, the header's encoding
 * and the clock helpers shared by the writer and the reader.
 */
#define _GNU_SOURCE
#include "mt_internal.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

const uint8_t mt_signature[8] = {0x89, 'M', 'T', 'R', 0x0D, 0x0A, 0x1A, 0x0A};

const char *mt_strerror(int code) {
    switch (code) {
    case MT_OK: return "no error";
    case MT_ERR_IO: return "I/O error";
    case MT_ERR_NOMEM: return "out of memory";
    case MT_ERR_NOT_TRACE: return "not a memtrace trace";
    case MT_ERR_VERSION: return "written by a newer major version of the format";
    case MT_ERR_HEADER: return "damaged header";
    case MT_ERR_TRUNCATED: return "truncated";
    case MT_ERR_CHECKSUM: return "checksum mismatch";
    case MT_ERR_FRAME: return "not a memtrace or zstd frame";
    case MT_ERR_DECOMPRESS: return "zstd decompression failed";
    case MT_ERR_RECORD: return "malformed record";
    case MT_ERR_LIMIT: return "size beyond the format's limits";
    case MT_ERR_ARG: return "invalid argument";
    case MT_ERR_STATE: return "invalid state for this call";
    case MT_ERR_INDEX: return "damaged index";
    case MT_ERR_EMPTY: return "empty file";
    case MT_ERR_NOSPACE: return "no space left on device or file size limit";
    default: return "unknown error";
    }
}

const char *mt_record_type_name(int type) {
    switch (type) {
    case MT_REC_CALL: return "call";
    case MT_REC_RETURN: return "return";
    case MT_REC_CCALL: return "ccall";
    case MT_REC_CRETURN: return "creturn";
    case MT_REC_CRAISE: return "craise";
    case MT_REC_LINE: return "line";
    case MT_REC_RAISE: return "raise";
    case MT_REC_UNWIND: return "unwind";
    case MT_REC_OBJ_NEW: return "obj_new";
    case MT_REC_OBJ_DEL: return "obj_del";
    case MT_REC_RSS: return "rss";
    case MT_REC_ALLOC: return "alloc";
    case MT_REC_FREE: return "free";
    case MT_REC_REALLOC: return "realloc";
    case MT_REC_BLOCK: return "block";
    case MT_REC_STRING: return "string";
    case MT_REC_FUNCTION: return "function";
    case MT_REC_THREAD: return "thread";
    case MT_REC_THREAD_START: return "thread_start";
    case MT_REC_THREAD_END: return "thread_end";
    case MT_REC_MARKER: return "marker";
    case MT_REC_COUNTERS: return "counters";
    case MT_REC_PROC_SAMPLE: return "proc_sample";
    case MT_REC_PROC_EXIT: return "proc_exit";
    case MT_REC_LOST: return "lost";
    case MT_REC_SUMMARY: return "summary";
    case MT_REC_LINES: return "lines";
    case MT_REC_POS: return "pos";
    default: return "unknown";
    }
}

const char *mt_domain_name(unsigned domain) {
    static const char *const names[MT_DOMAIN_COUNT] = {
        "raw", "mem", "obj", "malloc", "mmap", "domain5", "domain6", "domain7"};
    return domain < MT_DOMAIN_COUNT ? names[domain] : "domain?";
}

const char *mt_counter_name(uint32_t id) {
    static const char *const names[] = {
        NULL,           "rss_bytes",    "vms_bytes",      "shared_bytes",
        "uss_bytes",    "pss_bytes",    "swap_bytes",     "peak_rss_bytes",
        "minor_faults", "major_faults", "user_ns",        "system_ns",
        "heap_bytes",   "threads",      "events",         "lost_events",
        "pymalloc_arena_bytes", "pymalloc_used_bytes", "pymalloc_free_bytes"};
    return id < sizeof names / sizeof names[0] ? names[id] : NULL;
}

int mt_buf_reserve(mt_buf *b, size_t more) {
    if (b->cap - b->len >= more) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) return MT_ERR_NOMEM;
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) return MT_ERR_NOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

void mt_buf_free(mt_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint64_t mt_xxh64_2(const void *a, size_t na, const void *b, size_t nb) {
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    XXH64_update(&st, a, na);
    if (nb) XXH64_update(&st, b, nb);
    return XXH64_digest(&st);
}

int mt_header_init(mt_header *h) {
    static char host[256], cwd[4096];
    struct timespec mono, wall;
    memset(h, 0, sizeof *h);
    h->major = MT_FORMAT_MAJOR;
    h->minor = MT_FORMAT_MINOR;
    h->clock = MT_CLOCK_MONOTONIC;
    h->ticks_per_second = 1000000000u;
    /* Read the two clocks back to back: the anchor pairs them. */
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    h->anchor_ticks = (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec;
    h->wall_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
    h->pid = (uint32_t)getpid();
    h->ppid = (uint32_t)getppid();
    long ps = sysconf(_SC_PAGESIZE);
    h->page_size = ps > 0 ? (uint32_t)ps : 4096;
    if (gethostname(host, sizeof host - 1) == 0) h->hostname = host;
    if (getcwd(cwd, sizeof cwd)) h->cwd = cwd;
    return 0;
}

double mt_ticks_to_seconds(const mt_header *h, uint64_t ticks) {
    double tps = h->ticks_per_second ? (double)h->ticks_per_second : 1e9;
    return (double)ticks / tps;
}

int64_t mt_ticks_to_unix_ns(const mt_header *h, uint64_t ticks) {
    uint64_t tps = h->ticks_per_second ? h->ticks_per_second : 1000000000u;
    /* Split to keep the product in range for long runs. */
    uint64_t s = ticks / tps, rem = ticks % tps;
    return h->wall_ns + (int64_t)(s * 1000000000u) +
           (int64_t)((double)rem * 1e9 / (double)tps);
}

static int put_field(mt_buf *out, uint16_t key, const char *s, size_t len) {
    int rc = mt_buf_reserve(out, 8 + len);
    if (rc) return rc;
    uint8_t *p = out->data + out->len;
    mt_le16_put(p, key);
    mt_le16_put(p + 2, 0);
    mt_le32_put(p + 4, (uint32_t)len);
    if (len) memcpy(p + 8, s, len);
    out->len += 8 + len;
    return 0;
}

int mt_header_encode(const mt_header *h, mt_buf *out) {
    const struct { uint16_t key; const char *s; } texts[] = {
        {MT_KEY_HOSTNAME, h->hostname},   {MT_KEY_PY_IMPL, h->python_implementation},
        {MT_KEY_PY_VERSION, h->python_version}, {MT_KEY_EXECUTABLE, h->executable},
        {MT_KEY_CWD, h->cwd},             {MT_KEY_PRODUCER, h->producer},
        {MT_KEY_MODE, h->mode},
    };
    size_t start = out->len;
    int rc = mt_buf_reserve(out, MT_FRAME_HEAD_BYTES + MT_HEADER_FIXED_BYTES_1_1);
    if (rc) return rc;
    uint8_t *p = out->data + start;
    memset(p, 0, MT_FRAME_HEAD_BYTES + MT_HEADER_FIXED_BYTES_1_1);
    mt_le32_put(p, MT_SKIP_MAGIC);
    uint8_t *c = p + MT_FRAME_HEAD_BYTES;
    memcpy(c, mt_signature, 8);
    mt_le16_put(c + 8, MT_FORMAT_MAJOR);
    mt_le16_put(c + 10, MT_FORMAT_MINOR);
    mt_le32_put(c + 16, h->flags);
    mt_le32_put(c + 20, h->content);
    mt_le32_put(c + 24, h->clock);
    mt_le32_put(c + 28, h->page_size);
    mt_le64_put(c + 32, h->ticks_per_second);
    mt_le64_put(c + 40, (uint64_t)h->wall_ns);
    mt_le64_put(c + 48, h->anchor_ticks);
    mt_le32_put(c + 56, h->pid);
    mt_le32_put(c + 60, h->ppid);
    mt_le16_put(c + 64, MT_HEADER_FIXED_BYTES_1_1);
    mt_le64_put(c + 68, h->alloc_sample_bytes);
    out->len += MT_FRAME_HEAD_BYTES + MT_HEADER_FIXED_BYTES_1_1;

    uint16_t nfields = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (!texts[i].s) continue;
        if ((rc = put_field(out, texts[i].key, texts[i].s, strlen(texts[i].s))))
            return rc;
        nfields++;
    }
    if (h->argv && h->argc) {
        size_t n = 0;
        for (uint32_t i = 0; i < h->argc; i++) n += strlen(h->argv[i] ? h->argv[i] : "") + 1;
        if ((rc = put_field(out, MT_KEY_ARGV, NULL, 0))) return rc;
        if ((rc = mt_buf_reserve(out, n))) return rc;
        uint8_t *f = out->data + out->len - 8;
        mt_le32_put(f + 4, (uint32_t)n);
        for (uint32_t i = 0; i < h->argc; i++) {
            const char *a = h->argv[i] ? h->argv[i] : "";
            size_t l = strlen(a) + 1; /* each argument with its NUL */
            memcpy(out->data + out->len, a, l);
            out->len += l;
        }
        nfields++;
    }
    if ((rc = mt_buf_reserve(out, 8))) return rc;
    size_t content_bytes = out->len + 8 - start - MT_FRAME_HEAD_BYTES;
    if (content_bytes > MT_MAX_FRAME_BYTES) return MT_ERR_LIMIT;
    p = out->data + start;
    c = p + MT_FRAME_HEAD_BYTES;
    mt_le32_put(p + 4, (uint32_t)content_bytes);
    mt_le32_put(c + 12, (uint32_t)content_bytes);
    mt_le16_put(c + 66, nfields);
    mt_le64_put(out->data + out->len, XXH64(c, content_bytes - 8, 0));
    out->len += 8;
    return 0;
}

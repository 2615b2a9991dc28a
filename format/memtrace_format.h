/*
 * memtrace_format.h - the memtrace trace file format, version 1.
 *
 * This header is the manual of libmemtrace-format, the one library that knows
 * the bytes of a memtrace trace. The normative description of those bytes is
 * spec/FORMAT.md; this file says how to produce and consume them from C.
 *
 * A trace is a sequence of frames that stock zstd tools accept:
 *
 *   header frame  (zstd skippable frame: who, when, which clock)
 *   header copy   (skippable, 1.2: the same bytes, read if the first is
 *                  damaged)
 *   chunk         (skippable chunk-header frame + one standard zstd frame)
 *   chunk ...
 *   index frame   (skippable; written by mt_writer_close)
 *   end frame     (skippable, last 32 bytes; points at the index)
 *
 * Every chunk is checksummed (XXH64) and decodes on its own, so a process
 * killed at any instant leaves a file whose complete chunks all decode.
 *
 * Inside a chunk, records follow one another. A data chunk is a series of
 * blocks; a block is the records of one thread, opened by a BLOCK record that
 * sets the thread, the absolute time and that thread's call stack, so that no
 * decoding state crosses a chunk boundary. Definitions (strings, functions,
 * threads) travel in their own definition chunks, written before any record
 * that refers to them.
 *
 * Writing, the simple way (one record at a time; the writer makes blocks):
 *
 *     mt_header h;
 *     mt_writer *w;
 *     mt_header_init(&h);                       // now, this process
 *     int rc = mt_writer_open(&w, "run.trace", &h, NULL);
 *     if (rc < 0) { fprintf(stderr, "%s\n", mt_strerror(rc)); return 1; }
 *     mt_record r = { .type = MT_REC_STRING, .u.string = { 1, 4, "main" } };
 *     mt_writer_append(w, &r);
 *     r = (mt_record){ .type = MT_REC_FUNCTION,
 *                      .u.function = { .fid = 1, .qualname_sid = 1 } };
 *     mt_writer_append(w, &r);
 *     r = (mt_record){ .type = MT_REC_CALL, .tid = 1, .t = 1000,
 *                      .u.call.fid = 1 };
 *     mt_writer_append(w, &r);                  // errors are sticky:
 *     rc = mt_writer_close(w);                  // close reports the first
 *
 * Reading:
 *
 *     mt_reader *r;
 *     mt_record rec;
 *     int rc = mt_reader_open(&r, "run.trace");
 *     if (rc < 0) { fprintf(stderr, "%s\n", mt_reader_errmsg(r)); ... }
 *     while ((rc = mt_reader_next(r, &rec)) != 0) {
 *         if (rc < 0) {                         // a damaged chunk: report it,
 *             fprintf(stderr, "%s\n", mt_reader_errmsg(r));
 *             if (mt_reader_fatal(r)) break;    // and carry on past it
 *             continue;
 *         }
 *         if (rec.type == MT_REC_CALL)
 *             printf("%s\n", mt_reader_function_name(r, rec.u.call.fid));
 *     }
 *     mt_reader_close(r);
 *
 * Threads: a writer or a reader is used by one thread at a time; distinct
 * objects need no locking. The inline mt_enc_* encoders touch only the buffer
 * they are given, so each recording thread can encode into a buffer of its own
 * and hand finished blocks to the thread that owns the writer.
 *
 * Errors: functions return 0 (or a count) on success and a negative MT_ERR_*
 * code on failure; mt_strerror() names a code. The values never change.
 */
#ifndef MEMTRACE_FORMAT_H
#define MEMTRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------ */

#define MT_FORMAT_MAJOR 1 /* a reader refuses files of a greater major */
#define MT_FORMAT_MINOR 4 /* a greater minor only adds what v1 can skip */
#define MT_LIBRARY_VERSION "0.1.0"

/* ---- Errors ------------------------------------------------------------- */

enum {
    MT_OK = 0,
    MT_ERR_IO = -1,          /* a read or write failed; errno says why */
    MT_ERR_NOMEM = -2,       /* out of memory */
    MT_ERR_NOT_TRACE = -3,   /* the file does not start with a memtrace header */
    MT_ERR_VERSION = -4,     /* written by a newer major version */
    MT_ERR_HEADER = -5,      /* the header frame is damaged */
    MT_ERR_TRUNCATED = -6,   /* the file ends inside a frame */
    MT_ERR_CHECKSUM = -7,    /* a stored XXH64 does not match the bytes */
    MT_ERR_FRAME = -8,       /* a frame that is not a memtrace or zstd frame */
    MT_ERR_DECOMPRESS = -9,  /* zstd could not decompress a chunk payload */
    MT_ERR_RECORD = -10,     /* a malformed record inside an intact chunk */
    MT_ERR_LIMIT = -11,      /* a size beyond the format's limits */
    MT_ERR_ARG = -12,        /* an invalid argument (a bug in the caller) */
    MT_ERR_STATE = -13,      /* the object cannot do that now (closed, ...) */
    MT_ERR_INDEX = -14,      /* the index is damaged; a scan was used instead */
    MT_ERR_EMPTY = -15,      /* the file is empty */
    MT_ERR_NOSPACE = -16,    /* the disk is full or a file size limit was hit */
};

/* The name of an error code, e.g. "checksum mismatch"; never NULL. */
const char *mt_strerror(int code);

/* ---- Limits ------------------------------------------------------------- */

#define MT_MAX_CHUNK_RAW_BYTES (16u << 20) /* decompressed payload */
#define MT_MAX_FRAME_BYTES (64u << 20)     /* any skippable frame content */
#define MT_MAX_COUNTERS 64                 /* counters in one record */
#define MT_MAX_COMPACT_BYTES 41            /* longest compact record */

/* ---- The header --------------------------------------------------------- */

enum { /* clock sources: what a tick is */
    MT_CLOCK_MONOTONIC = 1, /* clock_gettime(CLOCK_MONOTONIC) */
    MT_CLOCK_TSC = 2,       /* x86 rdtsc; ticks_per_second was calibrated */
};

enum { /* header content bits: the record families the writer meant to write */
    MT_CONTENT_CALLS = 1u << 0,   /* Python call/return */
    MT_CONTENT_CCALLS = 1u << 1,  /* C call/return/exception */
    MT_CONTENT_LINES = 1u << 2,   /* line events */
    MT_CONTENT_ALLOCS = 1u << 3,  /* alloc/free/realloc */
    MT_CONTENT_RSS = 1u << 4,     /* RSS samples */
    MT_CONTENT_PROCS = 1u << 5,   /* samples of other processes (poller) */
    MT_CONTENT_OBJECTS = 1u << 6, /* object create/destroy */
};

enum { /* header flags: promises the writer makes about the records */
    /* Allocation records' times keep the order in which threads took
     * turns: a thread's allocation record that follows (in real time) an
     * allocation record of another thread, with no other thread's between,
     * has a time not earlier than that record's. Without it (files written
     * before the bit was defined, other writers) such times can be up to a
     * sampling interval early, and readers must not order blocks across
     * threads by them alone. */
    MT_HEADER_ALLOC_ORDERED = 1u << 0,
};

typedef struct mt_header {
    uint16_t major, minor;     /* set by the library */
    uint32_t flags;            /* MT_HEADER_* bits; others reserved, 0 */
    uint32_t content;          /* MT_CONTENT_* bits */
    uint32_t clock;            /* MT_CLOCK_* */
    uint64_t ticks_per_second; /* 1e9 for MONOTONIC in ns; a writer may
                                  use coarser ticks (ns / 16: 62500000) */
    int64_t wall_ns;           /* UNIX time, ns, at the anchor */
    uint64_t anchor_ticks;     /* clock reading at the anchor; every record
                                  time is in ticks since this reading */
    uint32_t pid, ppid;        /* the recorded process */
    uint32_t page_size;        /* bytes */
    uint64_t alloc_sample_bytes; /* (1.1) allocation records: 0 none, 1 every
                                    allocation, N > 1 sampled by bytes with
                                    mean distance N (a sampled allocation of
                                    s bytes stands for s / (1 - exp(-s/N)));
                                    0 when read from a 1.0 file */
    /* Text fields, UTF-8, NULL when unknown. The reader owns its copies. */
    const char *hostname;
    const char *python_implementation; /* "CPython" */
    const char *python_version;        /* "3.11.7" */
    const char *executable;
    const char *cwd;
    const char *producer; /* "memtrace-recorder 0.1.0" */
    const char *mode;     /* "profile", "trace", "fast", "poll", ... */
    const char *const *argv;
    uint32_t argc;
} mt_header;

/* Fill h for this process now: version, MT_CLOCK_MONOTONIC, anchor = now,
 * pid, ppid, page size, hostname, cwd. Other fields zero/NULL. The strings
 * point into static storage of this function (not thread-safe). Returns 0. */
int mt_header_init(mt_header *h);

/* Ticks to seconds since the anchor, and to UNIX nanoseconds. */
double mt_ticks_to_seconds(const mt_header *h, uint64_t ticks);
int64_t mt_ticks_to_unix_ns(const mt_header *h, uint64_t ticks);

/* ---- Records ------------------------------------------------------------ */

/* Record types. The numeric values are the type bytes on disk. Types below
 * 0x40 are compact (fixed layout, no size); 0x40 and above carry a size so
 * that a reader skips the types it does not know. */
enum {
    MT_REC_CALL = 0x01,     /* Python function entered */
    MT_REC_RETURN = 0x02,   /* Python function returned */
    MT_REC_CCALL = 0x03,    /* C function called */
    MT_REC_CRETURN = 0x04,  /* C function returned */
    MT_REC_CRAISE = 0x05,   /* C function raised */
    MT_REC_LINE = 0x06,     /* a new line starts in the current frame */
    MT_REC_RAISE = 0x07,    /* an exception was raised in the current frame */
    MT_REC_UNWIND = 0x08,   /* the current frame exited by an exception */
    MT_REC_OBJ_NEW = 0x09,  /* object created (reference tracing) */
    MT_REC_OBJ_DEL = 0x0A,  /* object destroyed */
    MT_REC_RSS = 0x0B,      /* resident set size */
    MT_REC_ALLOC = 0x10,    /* 0x10-0x17: one type byte per domain */
    MT_REC_FREE = 0x18,     /* 0x18-0x1F */
    MT_REC_REALLOC = 0x20,  /* 0x20-0x27 */
    MT_REC_BLOCK = 0x40,    /* opens a block: thread, time, stack */
    MT_REC_STRING = 0x41,   /* definition: string id -> bytes */
    MT_REC_FUNCTION = 0x42, /* definition: function id -> names, file, line */
    MT_REC_THREAD = 0x43,   /* definition: thread id -> OS id, name */
    MT_REC_THREAD_START = 0x44,
    MT_REC_THREAD_END = 0x45,
    MT_REC_MARKER = 0x46,      /* free text label */
    MT_REC_COUNTERS = 0x47,    /* this process's memory and CPU counters */
    MT_REC_PROC_SAMPLE = 0x48, /* another process's counters */
    MT_REC_PROC_EXIT = 0x49,   /* another process ended */
    MT_REC_LOST = 0x4A,        /* events the writer had to drop */
    MT_REC_SUMMARY = 0x4B,     /* end of stream */
    MT_REC_LINES = 0x4C,       /* (1.3) definition: a function's table from
                                  instruction offsets to source lines */
    MT_REC_POS = 0x4D,         /* (1.3) where frames of the stack are now:
                                  instruction offsets (no time of its own) */
    MT_REC_UNKNOWN = 0xFF0,    /* (reader only) a sized type it does not know;
                                  not a type byte: see raw_type */
};

/* Allocation domains: ALLOC, FREE and REALLOC type byte = base + domain. */
enum {
    MT_DOMAIN_RAW = 0,    /* PyMem_RawMalloc */
    MT_DOMAIN_MEM = 1,    /* PyMem_Malloc */
    MT_DOMAIN_OBJ = 2,    /* PyObject_Malloc */
    MT_DOMAIN_MALLOC = 3, /* native malloc family */
    MT_DOMAIN_MMAP = 4,   /* native mmap/munmap */
};
#define MT_DOMAIN_COUNT 8

enum { MT_FUNC_PYTHON = 0, MT_FUNC_C = 1 }; /* MT_REC_FUNCTION kind */

/* Counter ids in COUNTERS, PROC_SAMPLE and SUMMARY. Readers ignore ids
 * they do not know. Byte counts are bytes, times are nanoseconds. */
enum {
    MT_CTR_RSS_BYTES = 1,
    MT_CTR_VMS_BYTES = 2,
    MT_CTR_SHARED_BYTES = 3,
    MT_CTR_USS_BYTES = 4,
    MT_CTR_PSS_BYTES = 5,
    MT_CTR_SWAP_BYTES = 6,
    MT_CTR_PEAK_RSS_BYTES = 7,
    MT_CTR_MINOR_FAULTS = 8,
    MT_CTR_MAJOR_FAULTS = 9,
    MT_CTR_USER_NS = 10,
    MT_CTR_SYSTEM_NS = 11,
    MT_CTR_HEAP_BYTES = 12, /* traced Python heap in use */
    MT_CTR_THREADS = 13,
    MT_CTR_EVENTS = 14,     /* SUMMARY: records written */
    MT_CTR_LOST_EVENTS = 15, /* SUMMARY: records lost */
    /* 1.4: CPython's small-object allocator (pymalloc), read by the
     * recorder at start, stop, markers and periodically */
    MT_CTR_PYMALLOC_ARENA_BYTES = 16, /* arenas allocated x arena size */
    MT_CTR_PYMALLOC_USED_BYTES = 17,  /* bytes in allocated blocks */
    MT_CTR_PYMALLOC_FREE_BYTES = 18   /* free blocks in used pools + unused
                                         pools: held, not in use */
};

enum { /* LOST reasons */
    MT_LOST_BUFFER_FULL = 1, /* the writer fell behind */
    MT_LOST_WRITE_ERROR = 2, /* recording stopped on an I/O error */
};

/* PROC_EXIT status: the exit code, minus the signal number for a process
 * killed by a signal, or this when the writer could not learn it. */
#define MT_PROC_STATUS_UNKNOWN INT32_MAX

enum { /* SUMMARY reasons */
    MT_END_STOP = 0,        /* stopped by the program */
    MT_END_EXIT = 1,        /* the interpreter exited */
    MT_END_ERROR = 2,       /* stopped by a write error */
    MT_END_TARGET_EXIT = 3, /* poller: the target exited */
    MT_END_SIGNAL = 4,      /* stopped by a signal */
};

typedef struct mt_counter {
    uint32_t id; /* MT_CTR_* */
    uint64_t value;
} mt_counter;

/* One decoded record. For the reader, pointers point into the reader's
 * buffers and stay valid until the next mt_reader_* call on that reader. */
typedef struct mt_record {
    int type;         /* MT_REC_*; ALLOC/FREE/REALLOC without domain */
    uint8_t raw_type; /* the type byte as on disk */
    uint8_t domain;   /* ALLOC, FREE, REALLOC: MT_DOMAIN_* */
    uint32_t tid;     /* data records: the thread of their block;
                         THREAD, THREAD_START, THREAD_END: that thread */
    uint64_t t;       /* ticks since the header's anchor (0: definitions) */
    union {
        struct { uint32_t fid; } call; /* CALL, CCALL; and RETURN, CRETURN,
                                          CRAISE, UNWIND with the fid of the
                                          frame left (reader: from its stack,
                                          0 if unknown) */
        struct { uint32_t line; } line;
        struct { uint32_t type_sid; } raise; /* exception type name */
        struct { uint64_t addr, size; } alloc; /* ALLOC; FREE: size 0 */
        struct { uint64_t old_addr, addr, size; } realloc;
        struct { uint64_t addr; uint32_t type_sid; } obj;
        struct { uint64_t bytes; } rss;
        struct {
            uint32_t depth;
            const uint32_t *fids; /* outermost first */
            const uint32_t *pos;  /* (1.3) per level: instruction offset + 1,
                                     0 unknown; writers: NULL for none.
                                     Reader: never NULL when depth > 0 */
            const uint32_t *lines; /* reader only: pos resolved through the
                                      LINES tables, 0 unknown */
        } block;
        struct {
            uint32_t fid, n;           /* n entries, offsets ascending: the */
            const uint32_t *offsets;   /* instructions from offsets[i] to */
            const uint32_t *lines;     /* offsets[i+1] are on lines[i] (0: */
        } lines;                       /* none) */
        struct {
            uint32_t n;                /* entries */
            const uint32_t *levels;    /* counted from the innermost frame
                                          of the thread's stack: 0 is it */
            const uint32_t *offsets;   /* that frame's instruction offset */
            const uint32_t *lines;     /* reader only: resolved, 0 unknown */
        } pos;
        struct { uint32_t sid; uint32_t len; const char *bytes; } string;
        struct {
            uint32_t fid, kind, qualname_sid, module_sid, file_sid, first_line;
        } function;
        struct { uint64_t native_id; uint32_t len; const char *name; } thread;
        struct { uint32_t len; const char *text; } marker;
        struct { uint32_t n; const mt_counter *v; } counters;
        struct {
            uint32_t pid, ppid, name_sid, cmdline_sid, n;
            const mt_counter *v;
        } proc;
        struct { uint32_t pid; int32_t status; } proc_exit;
        struct { uint64_t events, bytes; uint32_t reason; } lost;
        struct { uint32_t reason, n; const mt_counter *v; } summary;
        struct { uint32_t len; const uint8_t *bytes; } unknown;
    } u;
} mt_record;

/* The record's type name: "call", "alloc", ...; "unknown" otherwise. */
const char *mt_record_type_name(int type);
/* A domain's name: "raw", "mem", "obj", "malloc", "mmap", "domain5"... */
const char *mt_domain_name(unsigned domain);
/* A counter's name: "rss_bytes", ...; NULL when unknown. */
const char *mt_counter_name(uint32_t id);

/* ---- Writer ------------------------------------------------------------- */

typedef struct mt_writer mt_writer;

typedef struct mt_writer_options {
    uint32_t chunk_raw_bytes; /* emit a chunk once this much is pending;
                                 0 = 1 MiB; at most MT_MAX_CHUNK_RAW_BYTES */
    int zstd_level;           /* 0 = 1 (fastest); 1..19 */
} mt_writer_options;

/* Where the bytes go: write up to n bytes, return how many (>= 1) or a
 * negative errno. Short writes are retried. */
typedef long (*mt_write_fn)(void *ctx, const void *buf, size_t n);

/* Open a writer on a new file (created or truncated, mode 0644), on an fd
 * (not closed by the writer), or on a callback. The header frame is written
 * at once, so an unwritable path fails here. opt may be NULL. On failure
 * *w is NULL and a negative code is returned (MT_ERR_IO: see errno;
 * MT_ERR_ARG: h is NULL or its ticks_per_second is 0, or opt is out of
 * range). */
int mt_writer_open(mt_writer **w, const char *path, const mt_header *h,
                   const mt_writer_options *opt);
int mt_writer_open_fd(mt_writer **w, int fd, const mt_header *h,
                      const mt_writer_options *opt);
int mt_writer_open_sink(mt_writer **w, mt_write_fn fn, void *ctx,
                        const mt_header *h, const mt_writer_options *opt);

/* Append one record. Definitions (STRING, FUNCTION, THREAD) go to the next
 * definition chunk, everything else to the next data chunk; the writer opens
 * blocks and keeps per-thread stacks itself. A record whose time is earlier
 * than the previous one of its thread opens a new block (allowed).
 * Returns 0 or the writer's first error (sticky). */
int mt_writer_append(mt_writer *w, const mt_record *r);

/* Block state of the compact encoders (spec 5.1), zero at a BLOCK. */
typedef struct mt_enc_state {
    uint32_t prev_line;
    uint64_t prev_addr, prev_rss;
} mt_enc_state;

/* Encode data record r (any type but BLOCK and the definitions) at p, dt
 * ticks after the block's previous record, updating st. Writes at most
 * mt_enc_record_bound(r) bytes; returns the new end, or NULL when r's type
 * cannot be encoded. For tools that build blocks themselves (a filter);
 * a recorder's hot path uses the inline mt_enc_* functions directly. */
uint8_t *mt_enc_record(uint8_t *p, const mt_record *r, uint64_t dt,
                       mt_enc_state *st);
size_t mt_enc_record_bound(const mt_record *r);

/* Append a block encoded with the mt_enc_* functions below: bytes must
 * start with an mt_enc_block() record and hold only whole data records.
 * nrecords counts them (BLOCK included); t_first/t_last are the least and
 * greatest record times. Blocks are never split across chunks. */
int mt_writer_append_block(mt_writer *w, const void *bytes, size_t n,
                           uint32_t nrecords, uint64_t t_first,
                           uint64_t t_last);

/* Append encoded definition records: bytes must hold exactly nrecords
 * whole STRING, FUNCTION, THREAD and LINES records, else MT_ERR_ARG. */
int mt_writer_append_defs(mt_writer *w, const void *bytes, size_t n,
                          uint32_t nrecords);

/* Emit everything pending as chunks and hand the bytes to the sink. */
int mt_writer_flush(mt_writer *w);

/* Flush, write the index and end frames, free the writer. Returns the first
 * error met over the writer's life (0 if none). Accepts NULL. */
int mt_writer_close(mt_writer *w);

/* Free the writer writing nothing more (e.g. in a fork child whose file
 * belongs to the parent). Accepts NULL. */
void mt_writer_discard(mt_writer *w);

/* The first error met (sticky), and bytes handed to the sink so far. */
int mt_writer_error(const mt_writer *w);
uint64_t mt_writer_bytes_written(const mt_writer *w);
uint64_t mt_writer_records_written(const mt_writer *w);

/* ---- Reader ------------------------------------------------------------- */

typedef struct mt_reader mt_reader;

/* Read up to n bytes into buf; return the count, 0 at end, or -errno. */
typedef long (*mt_read_fn)(void *ctx, void *buf, size_t n);

/* Open a trace and read its header. On failure a negative code is returned
 * and, if *r is not NULL, mt_reader_errmsg(*r) says what and where; close it
 * with mt_reader_close. open_mem does not copy buf: keep it alive. open_fd
 * and open_stream read sequentially (pipes work); open and open_mem can
 * also use the index and seek.
 * A damaged header frame whose copy (format 1.2) is intact, or an intact
 * header whose copy is damaged, does not fail open: the intact one is used,
 * mt_reader_errmsg says what was damaged, mt_reader_stats.header_damaged is
 * 1, and the first mt_reader_next returns MT_ERR_HEADER (not fatal) so that
 * a reading loop reports it like any damage. */
int mt_reader_open(mt_reader **r, const char *path);
int mt_reader_open_fd(mt_reader **r, int fd, const char *name);
int mt_reader_open_mem(mt_reader **r, const void *buf, size_t n,
                       const char *name);
int mt_reader_open_stream(mt_reader **r, mt_read_fn fn, void *ctx,
                          const char *name);
void mt_reader_close(mt_reader *r); /* accepts NULL */

const mt_header *mt_reader_header(const mt_reader *r);

/* The next record in file order: returns 1 with *rec filled, 0 at the end,
 * or a negative code when the file is damaged. After a damaged chunk the
 * next call resumes at the next intact chunk, unless mt_reader_fatal(r).
 * Damage other than chunks is returned too, and reading goes on after it:
 * MT_ERR_HEADER (see mt_reader_open), MT_ERR_INDEX (a damaged index or end
 * frame, met after the chunks before it). */
int mt_reader_next(mt_reader *r, mt_record *rec);

/* The last problem met, with the file name, chunk and byte offset:
 * "x.trace: chunk 3 at byte 1234: checksum mismatch". */
const char *mt_reader_errmsg(const mt_reader *r);
int mt_reader_fatal(const mt_reader *r); /* 1 if no record can follow */

/* Chunk-level walk for checkers: the chunk being decoded. */
typedef struct mt_chunk_info {
    uint64_t offset;      /* byte offset of its chunk-header frame */
    uint32_t seq;         /* sequence number written by the writer */
    uint32_t flags;       /* MT_CHUNK_* */
    uint32_t payload_bytes, raw_bytes, nrecords;
    uint64_t t_first, t_last;
} mt_chunk_info;
#define MT_CHUNK_DEFS 1u /* a definition chunk */
int mt_reader_chunk(const mt_reader *r, mt_chunk_info *out); /* 0 or ERR_STATE */

/* Counts so far: chunks decoded, chunks found damaged, bytes of the file
 * passed over as damaged; and whether the end frame was seen (the writer
 * closed the file) once mt_reader_next returned 0. */
typedef struct mt_reader_stats {
    uint64_t chunks, damaged_chunks, damaged_bytes, records;
    int closed; /* 1: index and end frame present and intact */
    int header_damaged; /* 1: the header frame or its copy is damaged (the
                           other one was read; see mt_reader_open) */
} mt_reader_stats;
void mt_reader_stats_get(const mt_reader *r, mt_reader_stats *out);

/* Position before the first chunk that may hold a record at or after time t
 * (ticks), having loaded every definition chunk before it. Uses the index,
 * or builds one by scanning chunk headers. Needs open or open_mem. */
int mt_reader_seek_time(mt_reader *r, uint64_t t);

/* Definitions seen so far. NULL / 0 when the id is unknown. */
const char *mt_reader_string(const mt_reader *r, uint32_t sid, uint32_t *len);
typedef struct mt_function {
    uint32_t kind, first_line;
    const char *qualname, *module, *file; /* "" when unknown */
} mt_function;
const mt_function *mt_reader_function(const mt_reader *r, uint32_t fid);
/* The qualified name, or "<fn#ID>" (in a buffer that the next call reuses). */
const char *mt_reader_function_name(mt_reader *r, uint32_t fid);
const char *mt_reader_thread_name(const mt_reader *r, uint32_t tid);
uint64_t mt_reader_thread_native_id(const mt_reader *r, uint32_t tid);
/* The current stack of a thread (outermost first), as the reader tracks it
 * from BLOCK, call and return records. */
const uint32_t *mt_reader_stack(const mt_reader *r, uint32_t tid,
                                uint32_t *depth);
/* (1.3) Each level's instruction offset + 1 (0 unknown), from BLOCK and POS
 * records, parallel to mt_reader_stack. NULL when the thread is unknown. */
const uint32_t *mt_reader_stack_pos(const mt_reader *r, uint32_t tid,
                                    uint32_t *depth);
/* (1.3) The source line of instruction offset `offset` of function fid,
 * from the LINES records read so far; 0 when unknown. */
uint32_t mt_reader_line(const mt_reader *r, uint32_t fid, uint32_t offset);

/* ---- Block encoders (for recorders) ------------------------------------- */
/*
 * A recording thread encodes records into a buffer of its own with these
 * inline functions, then hands the block to mt_writer_append_block. Each
 * encoder writes at p and returns the new end. Compact encoders need at most
 * MT_MAX_COMPACT_BYTES free; mt_enc_*_bound gives the need of sized ones.
 * dt is ticks since the previous record of the block (or since the BLOCK
 * record's time); the prev_* values are the block's running state, which
 * starts at 0 after mt_enc_block.
 */

static inline uint8_t *mt_enc_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}
static inline uint64_t mt_zigzag(int64_t v) {
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline size_t mt_varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* Compact records: type byte, then varints. */
static inline uint8_t *mt_enc_call(uint8_t *p, uint64_t dt, uint32_t fid) {
    *p++ = MT_REC_CALL;
    p = mt_enc_varint(p, dt);
    return mt_enc_varint(p, fid);
}
static inline uint8_t *mt_enc_ccall(uint8_t *p, uint64_t dt, uint32_t fid) {
    *p++ = MT_REC_CCALL;
    p = mt_enc_varint(p, dt);
    return mt_enc_varint(p, fid);
}
/* RETURN, CRETURN, CRAISE, UNWIND: the type byte and dt. */
static inline uint8_t *mt_enc_event(uint8_t *p, int type, uint64_t dt) {
    *p++ = (uint8_t)type;
    return mt_enc_varint(p, dt);
}
static inline uint8_t *mt_enc_line(uint8_t *p, uint64_t dt, uint32_t line,
                                   uint32_t *prev_line) {
    *p++ = MT_REC_LINE;
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, mt_zigzag((int64_t)line - (int64_t)*prev_line));
    *prev_line = line;
    return p;
}
static inline uint8_t *mt_enc_raise(uint8_t *p, uint64_t dt, uint32_t sid) {
    *p++ = MT_REC_RAISE;
    p = mt_enc_varint(p, dt);
    return mt_enc_varint(p, sid);
}
static inline uint8_t *mt_enc_obj(uint8_t *p, int type, uint64_t dt,
                                  uint64_t addr, uint32_t type_sid,
                                  uint64_t *prev_addr) {
    *p++ = (uint8_t)type; /* MT_REC_OBJ_NEW or MT_REC_OBJ_DEL */
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, mt_zigzag((int64_t)(addr - *prev_addr)));
    *prev_addr = addr;
    return mt_enc_varint(p, type_sid);
}
static inline uint8_t *mt_enc_rss(uint8_t *p, uint64_t dt, uint64_t bytes,
                                  uint64_t *prev_rss) {
    *p++ = MT_REC_RSS;
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, mt_zigzag((int64_t)(bytes - *prev_rss)));
    *prev_rss = bytes;
    return p;
}
static inline uint8_t *mt_enc_alloc(uint8_t *p, unsigned domain, uint64_t dt,
                                    uint64_t addr, uint64_t size,
                                    uint64_t *prev_addr) {
    *p++ = (uint8_t)(MT_REC_ALLOC | (domain & 7));
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, mt_zigzag((int64_t)(addr - *prev_addr)));
    *prev_addr = addr;
    return mt_enc_varint(p, size);
}
static inline uint8_t *mt_enc_free(uint8_t *p, unsigned domain, uint64_t dt,
                                   uint64_t addr, uint64_t *prev_addr) {
    *p++ = (uint8_t)(MT_REC_FREE | (domain & 7));
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, mt_zigzag((int64_t)(addr - *prev_addr)));
    *prev_addr = addr;
    return p;
}
static inline uint8_t *mt_enc_realloc(uint8_t *p, unsigned domain,
                                      uint64_t dt, uint64_t old_addr,
                                      uint64_t addr, uint64_t size,
                                      uint64_t *prev_addr) {
    *p++ = (uint8_t)(MT_REC_REALLOC | (domain & 7));
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, mt_zigzag((int64_t)(old_addr - *prev_addr)));
    p = mt_enc_varint(p, mt_zigzag((int64_t)(addr - old_addr)));
    *prev_addr = addr;
    return mt_enc_varint(p, size);
}

/* Sized records: type byte, varint payload size, payload. */
static inline uint8_t *mt_enc_sized_head(uint8_t *p, int type, size_t n) {
    *p++ = (uint8_t)type;
    return mt_enc_varint(p, n);
}
static inline size_t mt_enc_block_bound(uint32_t depth) {
    return 1 + 10 + 10 + 10 + 5 + (size_t)depth * 5;
}
/* BLOCK: tid, absolute time t (ticks since the anchor), then the thread's
 * stack of function ids, outermost first. Resets the block state. */
static inline uint8_t *mt_enc_block(uint8_t *p, uint32_t tid, uint64_t t,
                                    const uint32_t *fids, uint32_t depth) {
    size_t n = mt_varint_len(tid) + mt_varint_len(t) + mt_varint_len(depth);
    for (uint32_t i = 0; i < depth; i++) n += mt_varint_len(fids[i]);
    p = mt_enc_sized_head(p, MT_REC_BLOCK, n);
    p = mt_enc_varint(p, tid);
    p = mt_enc_varint(p, t);
    p = mt_enc_varint(p, depth);
    for (uint32_t i = 0; i < depth; i++) p = mt_enc_varint(p, fids[i]);
    return p;
}
/* (1.3) BLOCK with each level's instruction offset + 1 (0 unknown) after
 * the fids; pos NULL, or all zero, writes a plain BLOCK. */
static inline uint8_t *mt_enc_block_pos(uint8_t *p, uint32_t tid, uint64_t t,
                                        const uint32_t *fids,
                                        const uint32_t *pos, uint32_t depth) {
    uint32_t any = 0;
    for (uint32_t i = 0; pos && i < depth && !any; i++) any = pos[i];
    if (!any) return mt_enc_block(p, tid, t, fids, depth);
    size_t n = mt_varint_len(tid) + mt_varint_len(t) + mt_varint_len(depth);
    for (uint32_t i = 0; i < depth; i++)
        n += mt_varint_len(fids[i]) + mt_varint_len(pos[i]);
    p = mt_enc_sized_head(p, MT_REC_BLOCK, n);
    p = mt_enc_varint(p, tid);
    p = mt_enc_varint(p, t);
    p = mt_enc_varint(p, depth);
    for (uint32_t i = 0; i < depth; i++) p = mt_enc_varint(p, fids[i]);
    for (uint32_t i = 0; i < depth; i++) p = mt_enc_varint(p, pos[i]);
    return p;
}
static inline size_t mt_enc_block_pos_bound(uint32_t depth) {
    return mt_enc_block_bound(depth) + (size_t)depth * 5;
}
/* (1.3) LINES definition: function fid's instructions from offsets[i] (in
 * bytes, ascending) up to offsets[i+1] are on source line lines[i] (0: no
 * line). Stored as deltas: varint offset step, zigzag line step. */
static inline size_t mt_enc_lines_bound(uint32_t n) {
    return 1 + 10 + 5 + 5 + (size_t)n * 15;
}
static inline uint8_t *mt_enc_lines(uint8_t *p, uint32_t fid, uint32_t n,
                                    const uint32_t *offsets,
                                    const uint32_t *lines) {
    size_t len = mt_varint_len(fid) + mt_varint_len(n);
    uint32_t po = 0, pl = 0;
    for (uint32_t i = 0; i < n; i++) {
        len += mt_varint_len(offsets[i] - po) +
               mt_varint_len(mt_zigzag((int64_t)lines[i] - (int64_t)pl));
        po = offsets[i];
        pl = lines[i];
    }
    p = mt_enc_sized_head(p, MT_REC_LINES, len);
    p = mt_enc_varint(p, fid);
    p = mt_enc_varint(p, n);
    po = pl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p = mt_enc_varint(p, offsets[i] - po);
        p = mt_enc_varint(p, mt_zigzag((int64_t)lines[i] - (int64_t)pl));
        po = offsets[i];
        pl = lines[i];
    }
    return p;
}
/* (1.3) POS: n × (level counted from the innermost frame, its instruction
 * offset in bytes). No dt: it applies from the next record on. */
static inline size_t mt_enc_pos_bound(uint32_t n) {
    return 1 + 10 + 5 + (size_t)n * 10;
}
static inline uint8_t *mt_enc_pos(uint8_t *p, uint32_t n,
                                  const uint32_t *levels,
                                  const uint32_t *offsets) {
    size_t len = mt_varint_len(n);
    for (uint32_t i = 0; i < n; i++)
        len += mt_varint_len(levels[i]) + mt_varint_len(offsets[i]);
    p = mt_enc_sized_head(p, MT_REC_POS, len);
    p = mt_enc_varint(p, n);
    for (uint32_t i = 0; i < n; i++) {
        p = mt_enc_varint(p, levels[i]);
        p = mt_enc_varint(p, offsets[i]);
    }
    return p;
}
static inline size_t mt_enc_text_bound(size_t len) { return 1 + 10 + 10 + 10 + len; }
/* STRING definition: sid then the bytes (no terminator). */
static inline uint8_t *mt_enc_string(uint8_t *p, uint32_t sid, const void *s,
                                     size_t len) {
    p = mt_enc_sized_head(p, MT_REC_STRING, mt_varint_len(sid) + len);
    p = mt_enc_varint(p, sid);
    if (len) memcpy(p, s, len);
    return p + len;
}
#define MT_ENC_FUNCTION_BOUND (1 + 10 + 6 * 5)
static inline uint8_t *mt_enc_function(uint8_t *p, uint32_t fid, uint32_t kind,
                                       uint32_t qualname_sid,
                                       uint32_t module_sid, uint32_t file_sid,
                                       uint32_t first_line) {
    size_t n = mt_varint_len(fid) + mt_varint_len(kind) +
               mt_varint_len(qualname_sid) + mt_varint_len(module_sid) +
               mt_varint_len(file_sid) + mt_varint_len(first_line);
    p = mt_enc_sized_head(p, MT_REC_FUNCTION, n);
    p = mt_enc_varint(p, fid);
    p = mt_enc_varint(p, kind);
    p = mt_enc_varint(p, qualname_sid);
    p = mt_enc_varint(p, module_sid);
    p = mt_enc_varint(p, file_sid);
    return mt_enc_varint(p, first_line);
}
/* THREAD definition: tid, OS thread id, then the name bytes. */
static inline uint8_t *mt_enc_thread(uint8_t *p, uint32_t tid,
                                     uint64_t native_id, const void *name,
                                     size_t len) {
    p = mt_enc_sized_head(p, MT_REC_THREAD,
                          mt_varint_len(tid) + mt_varint_len(native_id) + len);
    p = mt_enc_varint(p, tid);
    p = mt_enc_varint(p, native_id);
    if (len) memcpy(p, name, len);
    return p + len;
}
/* THREAD_START, THREAD_END: dt, tid. */
static inline uint8_t *mt_enc_thread_event(uint8_t *p, int type, uint64_t dt,
                                           uint32_t tid) {
    p = mt_enc_sized_head(p, type, mt_varint_len(dt) + mt_varint_len(tid));
    p = mt_enc_varint(p, dt);
    return mt_enc_varint(p, tid);
}
/* MARKER: dt, then the text bytes. */
static inline uint8_t *mt_enc_marker(uint8_t *p, uint64_t dt, const void *text,
                                     size_t len) {
    p = mt_enc_sized_head(p, MT_REC_MARKER, mt_varint_len(dt) + len);
    p = mt_enc_varint(p, dt);
    if (len) memcpy(p, text, len);
    return p + len;
}
static inline size_t mt_enc_counters_bound(uint32_t n) {
    return 1 + 10 + 10 + 5 + (size_t)n * 15;
}
/* COUNTERS: dt, n, then n pairs (id, value). */
static inline uint8_t *mt_enc_counters(uint8_t *p, uint64_t dt,
                                       const mt_counter *v, uint32_t n) {
    size_t len = mt_varint_len(dt) + mt_varint_len(n);
    for (uint32_t i = 0; i < n; i++)
        len += mt_varint_len(v[i].id) + mt_varint_len(v[i].value);
    p = mt_enc_sized_head(p, MT_REC_COUNTERS, len);
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, n);
    for (uint32_t i = 0; i < n; i++) {
        p = mt_enc_varint(p, v[i].id);
        p = mt_enc_varint(p, v[i].value);
    }
    return p;
}
/* LOST: dt, events, bytes, reason. */
static inline uint8_t *mt_enc_lost(uint8_t *p, uint64_t dt, uint64_t events,
                                   uint64_t bytes, uint32_t reason) {
    p = mt_enc_sized_head(p, MT_REC_LOST,
                          mt_varint_len(dt) + mt_varint_len(events) +
                              mt_varint_len(bytes) + mt_varint_len(reason));
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, events);
    p = mt_enc_varint(p, bytes);
    return mt_enc_varint(p, reason);
}

static inline size_t mt_enc_counters_len_(const mt_counter *v, uint32_t n) {
    size_t len = mt_varint_len(n);
    for (uint32_t i = 0; i < n; i++)
        len += mt_varint_len(v[i].id) + mt_varint_len(v[i].value);
    return len;
}
static inline uint8_t *mt_enc_counter_list_(uint8_t *p, const mt_counter *v,
                                            uint32_t n) {
    p = mt_enc_varint(p, n);
    for (uint32_t i = 0; i < n; i++) {
        p = mt_enc_varint(p, v[i].id);
        p = mt_enc_varint(p, v[i].value);
    }
    return p;
}
/* PROC_SAMPLE: dt, pid, ppid, name sid, cmdline sid, n, n pairs. Needs at
 * most mt_enc_counters_bound(n) + 20 bytes. */
static inline uint8_t *mt_enc_proc_sample(uint8_t *p, uint64_t dt,
                                          uint32_t pid, uint32_t ppid,
                                          uint32_t name_sid,
                                          uint32_t cmdline_sid,
                                          const mt_counter *v, uint32_t n) {
    p = mt_enc_sized_head(
        p, MT_REC_PROC_SAMPLE,
        mt_varint_len(dt) + mt_varint_len(pid) + mt_varint_len(ppid) +
            mt_varint_len(name_sid) + mt_varint_len(cmdline_sid) +
            mt_enc_counters_len_(v, n));
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, pid);
    p = mt_enc_varint(p, ppid);
    p = mt_enc_varint(p, name_sid);
    p = mt_enc_varint(p, cmdline_sid);
    return mt_enc_counter_list_(p, v, n);
}
/* PROC_EXIT: dt, pid, status (zigzag). At most 1 + 10 + 10 + 5 + 10 bytes. */
static inline uint8_t *mt_enc_proc_exit(uint8_t *p, uint64_t dt, uint32_t pid,
                                        int32_t status) {
    uint64_t zs = mt_zigzag(status);
    p = mt_enc_sized_head(p, MT_REC_PROC_EXIT,
                          mt_varint_len(dt) + mt_varint_len(pid) +
                              mt_varint_len(zs));
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, pid);
    return mt_enc_varint(p, zs);
}
/* SUMMARY: dt, reason (MT_END_*), n, n pairs. Needs at most
 * mt_enc_counters_bound(n) + 5 bytes. */
static inline uint8_t *mt_enc_summary(uint8_t *p, uint64_t dt, uint32_t reason,
                                      const mt_counter *v, uint32_t n) {
    p = mt_enc_sized_head(p, MT_REC_SUMMARY,
                          mt_varint_len(dt) + mt_varint_len(reason) +
                              mt_enc_counters_len_(v, n));
    p = mt_enc_varint(p, dt);
    p = mt_enc_varint(p, reason);
    return mt_enc_counter_list_(p, v, n);
}

#ifdef __cplusplus
}
#endif
#endif /* MEMTRACE_FORMAT_H */

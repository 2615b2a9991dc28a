/*
 * memtrace-filter - copy the selected records of a trace into a new trace.
 *
 * The records stream through: read one, ask mt_select whether to keep it,
 * re-encode it into the block being built, hand whole blocks to the writer.
 * Memory holds one block and the definitions seen (a few per function and
 * thread of the program), never the records.
 *
 * Two things make the output more than the kept records:
 *
 *   Definitions. A STRING, FUNCTION or THREAD definition is written, once,
 *   just before the first kept record that needs it (a FUNCTION pulls its
 *   strings), so the output defines exactly what it uses. A definition the
 *   input replaces is written again before its next use.
 *
 *   Positions (format 1.3). Each frame's instruction offset (its current
 *   line) is state like the stack: BLOCK carries it, POS updates it. The
 *   input's POS records are not copied; before each kept record, the
 *   offsets the input's reader has for its thread are compared with those
 *   of the output, and one POS record writes the levels that differ. A
 *   function's LINES table is written with its FUNCTION definition.
 *
 *   Stacks. A reader names the frame a RETURN leaves, and the function a
 *   LINE or an ALLOC runs in, from the thread's stack, which BLOCK records
 *   set and CALL/RETURN update. Once calls are dropped the input's blocks no
 *   longer match, so the blocks are rebuilt here: every kept record sees, in
 *   the output, the same stack as it had in the input. We track the stack a
 *   reader of the output will have for the thread of the block being built,
 *   and open a new BLOCK carrying the input's stack whenever the two may
 *   differ (a call or return of that thread was dropped, or the input
 *   opened a block for it) and do. The writer's own mt_writer_append cannot
 *   do this (it only knows the calls it is given), hence
 *   mt_writer_append_block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memtrace_format.h"
#include "mt_cli.h"
#include "mt_select.h"

static const char usage_text[] =
"usage: memtrace-filter IN -o OUT [selection] [--level N] [--chunk-size SIZE]\n"
"\n"
"Write to OUT a trace holding only the records of IN that the selection\n"
"keeps, plus the definitions they need. IN may be '-' (standard input),\n"
"OUT '-' (standard output). OUT must not be IN.\n"
"\n"
"Options:\n"
"  -o, --output OUT   the trace to write (created or truncated)\n"
"  --level N          zstd level 1..19 (default 1: fast; 19 to archive)\n"
"  --chunk-size SIZE  uncompressed bytes per chunk (default 1MiB, 4KiB..16MiB)\n"
"  -h, --help         print this text and exit\n"
"  --json             when done, describe what was written on standard\n"
"                     output as one JSON document: {\"schema\":\n"
"                     \"memtrace-filter/1\", input, output, bytes (OUT's size),\n"
"                     records_read, records_kept (data records), complete\n"
"                     (false: IN was damaged or OUT could not be finished)}\n"
"  -V, --version      print the version and exit\n"
"\n"
MT_SELECT_USAGE
"\n"
"OUTPUT\n"
"  The header is IN's (it is the same run: pid, anchor, clock, argv, content\n"
"  bits), except the producer, which gains \" + memtrace-filter VERSION\".\n"
"  Record times are unchanged. Definitions (string, function, thread) are\n"
"  written when a kept record needs them (a function brings its strings);\n"
"  others are left out, and so are the selection's --type names for them.\n"
"  Blocks are rebuilt so that every kept record sees the same call stack as\n"
"  in IN: a return whose call was dropped still names its function, and a\n"
"  block's stack may hold frames whose calls were not kept. Markers, lost\n"
"  and summary records follow the rules above (type and window only).\n"
"  Records of types this version does not know are dropped, with a notice.\n"
"  memtrace-decode with the same selection prints the records OUT holds,\n"
"  less definitions and blocks.\n"
"\n"
"EXIT STATUS\n"
"  0 done; 1 an error, or IN is damaged: the intact records were filtered,\n"
"  each damage reported on stderr, and OUT is a valid trace; 2 bad usage.\n";

/* ---- Definitions ---------------------------------------------------------- */

/* What the input defined for one id, and whether the output has it. */
typedef struct defent {
    uint32_t id;
    uint8_t used, written;
    uint32_t kind, qualname_sid, module_sid, file_sid, first_line; /* fids */
    uint64_t native_id;                                            /* tids */
    char *name;
    uint32_t name_len;
    uint32_t nlines, *offsets, *lines; /* fids: the LINES table, if any */
    uint8_t lines_written;
} defent;

/* Open addressing, linear probing; ids are few (functions, strings,
 * threads of one program) next to records, so simplicity wins. */
typedef struct defmap {
    defent *v;
    uint32_t cap, n; /* cap: power of two */
} defmap;

static defent *defmap_get(defmap *m, uint32_t id, int add) {
    if (add && (m->n + 1) * 4 > m->cap * 3) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        defent *v = calloc(cap, sizeof *v);
        if (!v) mt_cli_die(1, "out of memory");
        for (uint32_t i = 0; i < m->cap; i++) {
            if (!m->v[i].used) continue;
            uint32_t j = (m->v[i].id * 2654435761u) & (cap - 1);
            while (v[j].used) j = (j + 1) & (cap - 1);
            v[j] = m->v[i];
        }
        free(m->v);
        m->v = v;
        m->cap = cap;
    }
    if (!m->cap) return NULL;
    uint32_t j = (id * 2654435761u) & (m->cap - 1);
    while (m->v[j].used) {
        if (m->v[j].id == id) return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!add) return NULL;
    m->n++;
    m->v[j].used = 1;
    m->v[j].id = id;
    return &m->v[j];
}

static void defmap_free(defmap *m) {
    for (uint32_t i = 0; i < m->cap; i++) {
        free(m->v[i].name);
        free(m->v[i].offsets);
        free(m->v[i].lines);
    }
    free(m->v);
}

/* ---- The filter's state ----------------------------------------------- */

typedef struct filter {
    mt_reader *r;
    mt_writer *w;
    defmap strings, functions, threads;

    /* The block being built, for thread tid. stack is what a reader of the
     * output will hold for tid at the end of the block so far; dirty says
     * the input's stack for tid may have moved away from it. */
    int in_block, dirty;
    uint32_t tid;
    uint64_t t_first, t_cur;
    mt_enc_state enc; /* the block's encoder state */
    uint32_t nrec;
    uint8_t *buf;
    size_t len, cap, block_cap;
    uint32_t *stack, *pos; /* pos: offset + 1 per level, 0 unknown */
    uint32_t depth, stack_cap;
    uint64_t pos_epoch, pos_synced; /* POS records read; read at last sync */
    uint32_t *plevels, *poffsets, scratch_cap; /* the POS being built */

    uint64_t kept, unknown_dropped;
} filter;

static int write_failed(filter *f, int rc);

static void reserve(filter *f, size_t n) {
    if (f->len + n <= f->cap) return;
    size_t cap = f->cap ? f->cap : 1u << 16;
    while (cap < f->len + n) cap *= 2;
    f->buf = realloc(f->buf, cap);
    if (!f->buf) mt_cli_die(1, "out of memory");
    f->cap = cap;
}

static void stack_reserve(filter *f, uint32_t n) {
    if (n <= f->stack_cap) return;
    uint32_t cap = f->stack_cap ? f->stack_cap : 64;
    while (cap < n) cap *= 2;
    f->stack = realloc(f->stack, cap * sizeof *f->stack);
    f->pos = realloc(f->pos, cap * sizeof *f->pos);
    if (!f->stack || !f->pos) mt_cli_die(1, "out of memory");
    f->stack_cap = cap;
}

static int append_def(filter *f, const mt_record *d) {
    int rc = mt_writer_append(f->w, d);
    return rc < 0 ? write_failed(f, rc) : 0;
}

static int need_sid(filter *f, uint32_t sid) {
    defent *e = sid ? defmap_get(&f->strings, sid, 0) : NULL;
    if (!e || e->written) return 0;
    mt_record d = {.type = MT_REC_STRING};
    d.u.string.sid = sid;
    d.u.string.bytes = mt_reader_string(f->r, sid, &d.u.string.len);
    if (!d.u.string.bytes) return 0;
    e->written = 1;
    return append_def(f, &d);
}

/* A function's LINES table, after its FUNCTION definition. */
static int need_lines(filter *f, defent *e) {
    if (!e->nlines || e->lines_written) return 0;
    e->lines_written = 1;
    mt_record d = {.type = MT_REC_LINES};
    d.u.lines.fid = e->id;
    d.u.lines.n = e->nlines;
    d.u.lines.offsets = e->offsets;
    d.u.lines.lines = e->lines;
    return append_def(f, &d);
}

static int need_fid(filter *f, uint32_t fid) {
    defent *e = fid ? defmap_get(&f->functions, fid, 0) : NULL;
    if (!e || e->written) return 0;
    e->written = 1;
    int rc;
    if ((rc = need_sid(f, e->qualname_sid)) || (rc = need_sid(f, e->module_sid)) ||
        (rc = need_sid(f, e->file_sid)))
        return rc;
    mt_record d = {.type = MT_REC_FUNCTION};
    d.u.function.fid = fid;
    d.u.function.kind = e->kind;
    d.u.function.qualname_sid = e->qualname_sid;
    d.u.function.module_sid = e->module_sid;
    d.u.function.file_sid = e->file_sid;
    d.u.function.first_line = e->first_line;
    if ((rc = append_def(f, &d))) return rc;
    return need_lines(f, e);
}

static int need_tid(filter *f, uint32_t tid) {
    defent *e = defmap_get(&f->threads, tid, 0);
    if (!e || e->written) return 0;
    e->written = 1;
    mt_record d = {.type = MT_REC_THREAD, .tid = tid};
    d.u.thread.native_id = e->native_id;
    d.u.thread.name = e->name;
    d.u.thread.len = e->name_len;
    return append_def(f, &d);
}

static int finish_block(filter *f);

/* Remember an input definition; it is written when first needed. Returns
 * 0, or -1 when writing failed (reported). */
static int note_def(filter *f, const mt_record *rec) {
    defent *e;
    switch (rec->type) {
    case MT_REC_STRING:
        e = defmap_get(&f->strings, rec->u.string.sid, 1);
        break;
    case MT_REC_FUNCTION:
        e = defmap_get(&f->functions, rec->u.function.fid, 1);
        e->kind = rec->u.function.kind;
        e->qualname_sid = rec->u.function.qualname_sid;
        e->module_sid = rec->u.function.module_sid;
        e->file_sid = rec->u.function.file_sid;
        e->first_line = rec->u.function.first_line;
        /* Another function: its table, if any, follows. */
        free(e->offsets);
        free(e->lines);
        e->offsets = e->lines = NULL;
        e->nlines = 0;
        e->lines_written = 0;
        break;
    case MT_REC_LINES: {
        e = defmap_get(&f->functions, rec->u.lines.fid, 1);
        uint32_t n = rec->u.lines.n;
        free(e->offsets);
        free(e->lines);
        e->offsets = malloc(((size_t)n + 1) * sizeof *e->offsets);
        e->lines = malloc(((size_t)n + 1) * sizeof *e->lines);
        if (!e->offsets || !e->lines) mt_cli_die(1, "out of memory");
        if (n) {
            memcpy(e->offsets, rec->u.lines.offsets, n * sizeof *e->offsets);
            memcpy(e->lines, rec->u.lines.lines, n * sizeof *e->lines);
        }
        e->nlines = n;
        if (!e->written) return 0; /* written with the function */
        if (!e->lines_written) /* the function is out: the table follows */
            return need_lines(f, e) < 0 ? -1 : 0;
        e->lines_written = 0; /* a new table: as a redefinition, below */
        if (finish_block(f) || mt_writer_flush(f->w) < 0) return -1;
        return need_lines(f, e) < 0 ? -1 : 0;
    }
    default: /* MT_REC_THREAD */
        e = defmap_get(&f->threads, rec->tid, 1);
        e->native_id = rec->u.thread.native_id;
        free(e->name);
        e->name = malloc(rec->u.thread.len + 1);
        if (!e->name) mt_cli_die(1, "out of memory");
        if (rec->u.thread.len) memcpy(e->name, rec->u.thread.name, rec->u.thread.len);
        e->name_len = rec->u.thread.len;
        break;
    }
    /* A redefinition of an id the output already defines replaces it for
     * the records that follow. The writer puts pending definitions before
     * pending data, so flush first, then write the new definition at once:
     * it lands after every record kept so far, where IN has it. */
    if (e->written) {
        e->written = 0;
        if (finish_block(f) || mt_writer_flush(f->w) < 0) return -1;
        int rc = rec->type == MT_REC_STRING ? need_sid(f, rec->u.string.sid)
                 : rec->type == MT_REC_FUNCTION ? need_fid(f, rec->u.function.fid)
                                                : need_tid(f, rec->tid);
        return rc < 0 ? -1 : 0;
    }
    return 0;
}

/* ---- Blocks --------------------------------------------------------------- */

static int finish_block(filter *f) {
    if (!f->in_block) return 0;
    f->in_block = 0;
    int rc = mt_writer_append_block(f->w, f->buf, f->len, f->nrec, f->t_first,
                                    f->t_cur);
    f->len = 0;
    return rc < 0 ? write_failed(f, rc) : 0;
}

/* The input's stack for rec's thread as it was before rec: the reader has
 * already pushed a call and popped a return. A pop is recognised by a
 * non-zero fid: a stack holding fid 0 ("none") is not something a writer
 * produces, and would at worst cost an extra BLOCK. */
typedef struct prestack {
    const uint32_t *fids;
    uint32_t depth; /* of fids used */
    uint32_t extra; /* pushed after fids[0..depth) when has_extra */
    int has_extra;
} prestack;

static void input_prestack(filter *f, const mt_record *rec, prestack *ps) {
    uint32_t depth = 0;
    ps->fids = mt_reader_stack(f->r, rec->tid, &depth);
    ps->depth = depth;
    ps->has_extra = 0;
    switch (rec->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
        if (ps->depth) ps->depth--;
        break;
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND:
        if (rec->u.call.fid) {
            ps->has_extra = 1;
            ps->extra = rec->u.call.fid;
        }
        break;
    default: break;
    }
}

static int same_stack(const filter *f, const prestack *ps) {
    uint32_t n = ps->depth + (uint32_t)ps->has_extra;
    if (n != f->depth) return 0;
    if (ps->depth && memcmp(f->stack, ps->fids, ps->depth * sizeof *f->stack))
        return 0;
    return !ps->has_extra || f->stack[ps->depth] == ps->extra;
}

static int start_block(filter *f, uint32_t tid, uint64_t t, const prestack *ps) {
    int rc;
    if ((rc = finish_block(f))) return rc;
    f->depth = ps->depth + (uint32_t)ps->has_extra;
    stack_reserve(f, f->depth);
    if (ps->depth) memcpy(f->stack, ps->fids, ps->depth * sizeof *f->stack);
    if (ps->has_extra) f->stack[ps->depth] = ps->extra;
    uint32_t pdepth = 0;
    const uint32_t *pos = mt_reader_stack_pos(f->r, tid, &pdepth);
    for (uint32_t i = 0; i < f->depth; i++)
        f->pos[i] = i < ps->depth && pos && i < pdepth ? pos[i] : 0;
    f->pos_synced = f->pos_epoch;
    if ((rc = need_tid(f, tid))) return rc;
    for (uint32_t i = 0; i < f->depth; i++)
        if ((rc = need_fid(f, f->stack[i]))) return rc;
    reserve(f, mt_enc_block_pos_bound(f->depth));
    uint8_t *e = mt_enc_block_pos(f->buf + f->len, tid, t, f->stack, f->pos, f->depth);
    f->len = (size_t)(e - f->buf);
    f->in_block = 1;
    f->dirty = 0;
    f->tid = tid;
    f->t_first = f->t_cur = t;
    f->enc = (mt_enc_state){0, 0, 0};
    f->nrec = 1;
    return 0;
}

/* Bytes rec may take once encoded. */
static int is_call(int type) { return type == MT_REC_CALL || type == MT_REC_CCALL; }
static int is_return(int type) {
    return type == MT_REC_RETURN || type == MT_REC_CRETURN ||
           type == MT_REC_CRAISE || type == MT_REC_UNWIND;
}

/* Write one kept data record. */
static int keep(filter *f, const mt_record *rec) {
    int rc;
    int fresh = !f->in_block || rec->tid != f->tid || rec->t < f->t_cur ||
                f->len >= f->block_cap;
    if (fresh || f->dirty) {
        prestack ps;
        input_prestack(f, rec, &ps);
        if (fresh || !same_stack(f, &ps)) {
            if ((rc = start_block(f, rec->tid, rec->t, &ps))) return rc;
        }
        f->dirty = 0;
    }
    /* Positions the input moved since (POS records met): one POS record
     * with the levels of this thread's stack that now differ. */
    if (f->pos_synced != f->pos_epoch) {
        f->pos_synced = f->pos_epoch;
        prestack ps;
        input_prestack(f, rec, &ps);
        uint32_t pdepth = 0;
        const uint32_t *pos = mt_reader_stack_pos(f->r, rec->tid, &pdepth);
        uint32_t n = ps.depth < f->depth ? ps.depth : f->depth, k = 0;
        if (n > pdepth) n = pdepth;
        for (uint32_t i = 0; pos && i < n; i++) {
            if (!pos[i] || pos[i] == f->pos[i]) continue;
            if (k == f->scratch_cap) {
                f->scratch_cap = f->scratch_cap ? f->scratch_cap * 2 : 64;
                f->plevels = realloc(f->plevels, f->scratch_cap * sizeof *f->plevels);
                f->poffsets = realloc(f->poffsets, f->scratch_cap * sizeof *f->poffsets);
                if (!f->plevels || !f->poffsets) mt_cli_die(1, "out of memory");
            }
            f->plevels[k] = f->depth - 1 - i;
            f->poffsets[k] = pos[i] - 1;
            f->pos[i] = pos[i];
            k++;
        }
        if (k) {
            mt_record pr = {.type = MT_REC_POS, .tid = rec->tid, .t = f->t_cur};
            pr.u.pos.n = k;
            pr.u.pos.levels = f->plevels;
            pr.u.pos.offsets = f->poffsets;
            reserve(f, mt_enc_record_bound(&pr));
            uint8_t *e = mt_enc_record(f->buf + f->len, &pr, 0, &f->enc);
            if (e) {
                f->len = (size_t)(e - f->buf);
                f->nrec++;
            }
        }
    }
    /* Ids the record names. Frames of the stack are defined already: by the
     * BLOCK that carried them or by the kept call that pushed them. */
    switch (rec->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL: rc = need_fid(f, rec->u.call.fid); break;
    case MT_REC_RAISE: rc = need_sid(f, rec->u.raise.type_sid); break;
    case MT_REC_OBJ_NEW:
    case MT_REC_OBJ_DEL: rc = need_sid(f, rec->u.obj.type_sid); break;
    case MT_REC_PROC_SAMPLE:
        if (!(rc = need_sid(f, rec->u.proc.name_sid)))
            rc = need_sid(f, rec->u.proc.cmdline_sid);
        break;
    default: rc = 0; break;
    }
    if (rc) return rc;

    reserve(f, mt_enc_record_bound(rec));
    uint8_t *e = mt_enc_record(f->buf + f->len, rec, rec->t - f->t_cur, &f->enc);
    if (!e) return 0; /* no such data type: nothing to write */
    f->len = (size_t)(e - f->buf);
    f->t_cur = rec->t;
    f->nrec++;
    f->kept++;
    if (is_call(rec->type)) {
        stack_reserve(f, f->depth + 1);
        f->pos[f->depth] = 0;
        f->stack[f->depth++] = rec->u.call.fid;
    } else if (is_return(rec->type) && f->depth) {
        f->depth--;
    }
    return 0;
}

/* ---- Main --------------------------------------------------------------- */

static const char *out_name = "";
static int write_failed(filter *f, int rc) {
    (void)f;
    if (rc == MT_ERR_IO || rc == MT_ERR_NOSPACE)
        mt_cli_error("cannot write '%s': %s", out_name, strerror(errno));
    else
        mt_cli_error("cannot write '%s': %s", out_name, mt_strerror(rc));
    return rc;
}

int main(int argc, char **argv) {
    enum { OPT_LEVEL = 256, OPT_CHUNK, OPT_JSON };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"chunk-size", required_argument, NULL, OPT_CHUNK},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        MT_SELECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    mt_cli_init("memtrace-filter");
    mt_select *sel = mt_select_new();
    if (!sel) mt_cli_die(1, "out of memory");
    const char *out = NULL;
    mt_writer_options wopt = {0, 1};
    uint64_t v, nread = 0;
    int c, json = 0;
    opterr = 0;
    while ((c = mt_cli_getopt(argc, argv, "o:hV", longopts, usage_text)) != -1) {
        if (mt_select_getopt(sel, c, optarg, usage_text)) continue;
        switch (c) {
        case 'o': out = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_LEVEL:
            if (mt_cli_parse_u64(optarg, &v) < 0 || v < 1 || v > 19)
                mt_cli_usage_error(usage_text, "invalid --level '%s' (1..19)", optarg);
            wopt.zstd_level = (int)v;
            break;
        case OPT_CHUNK:
            if (mt_cli_parse_bytes(optarg, &v) < 0 || v < 4096 ||
                v > MT_MAX_CHUNK_RAW_BYTES)
                mt_cli_usage_error(usage_text,
                                   "invalid --chunk-size '%s' (4KiB..16MiB)", optarg);
            wopt.chunk_raw_bytes = (uint32_t)v;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        case 'V':
            printf("memtrace-filter (memtrace) %s, trace format %d.%d\n",
                   MT_LIBRARY_VERSION, MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
            return fflush(stdout) == 0 ? 0 : 1;
        case ':':
            mt_cli_usage_error(usage_text, "option '%s' needs a value",
                               argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 256 && optopt != 'o')
                mt_cli_usage_error(usage_text, "unknown option '-%c'", optopt);
            if (optopt == 'o' || optopt >= 256) {
                mt_cli_usage_error(usage_text, "option '%s' needs a value",
                                   argv[optind - 1]);
            }
            mt_cli_usage_error(usage_text, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) mt_cli_usage_error(usage_text, "no input trace given");
    if (argc - optind > 1)
        mt_cli_usage_error(usage_text, "one input trace at a time");
    if (!out) mt_cli_usage_error(usage_text, "no output given (-o OUT)");
    const char *in = argv[optind];
    const char *in_name = strcmp(in, "-") == 0 ? "<stdin>" : in;
    out_name = strcmp(out, "-") == 0 ? "<stdout>" : out;
    mt_cli_guard_output(out, argv + optind, 1);
    if (json && strcmp(out, "-") == 0)
        mt_cli_usage_error(usage_text, "--json describes the file written: it needs -o FILE");
    if (strcmp(out, "-") == 0 && isatty(1))
        mt_cli_die(2, "refusing to write a trace to a terminal");

    filter f = {0};
    if (mt_cli_open_trace(&f.r, in) < 0) {
        mt_select_free(sel);
        return 1;
    }
    mt_header h = *mt_reader_header(f.r);
    mt_select_bind(sel, &h, usage_text);
    char producer[512];
    snprintf(producer, sizeof producer, "%s%smemtrace-filter %s",
             h.producer ? h.producer : "", h.producer ? " + " : "",
             MT_LIBRARY_VERSION);
    h.producer = producer;
    int rc = strcmp(out, "-") == 0 ? mt_writer_open_fd(&f.w, 1, &h, &wopt)
                                   : mt_writer_open(&f.w, out, &h, &wopt);
    if (rc < 0) {
        mt_cli_error("cannot create '%s': %s", out,
                     rc == MT_ERR_IO ? strerror(errno) : mt_strerror(rc));
        mt_reader_close(f.r);
        mt_select_free(sel);
        return 1;
    }
    /* Blocks are never split across chunks: keep them well under a chunk. */
    uint32_t chunk = wopt.chunk_raw_bytes ? wopt.chunk_raw_bytes : 1u << 20;
    f.block_cap = chunk / 4 < (64u << 10) ? chunk / 4 : (64u << 10);

    int status = 0;
    mt_record rec;
    while ((rc = mt_reader_next(f.r, &rec)) != 0) {
        if (rc < 0) {
            mt_cli_error("%s: %s", in_name, mt_cli_reader_msg(f.r, in_name));
            status = 1;
            if (mt_reader_fatal(f.r)) break;
            continue;
        }
        nread++;
        int kept = mt_select_record(sel, f.r, &rec);
        switch (rec.type) {
        case MT_REC_BLOCK:
            if (f.in_block && rec.tid == f.tid) f.dirty = 1;
            continue;
        case MT_REC_POS: f.pos_epoch++; continue; /* see "Positions" */
        case MT_REC_STRING:
        case MT_REC_FUNCTION:
        case MT_REC_THREAD:
        case MT_REC_LINES:
            if (note_def(&f, &rec) == 0) continue;
            status = 1;
            goto done; /* a write error, reported */
        case MT_REC_UNKNOWN: f.unknown_dropped++; continue;
        default: break;
        }
        if (!kept) {
            /* The output's stack for this thread no longer follows. */
            if (f.in_block && rec.tid == f.tid &&
                (is_call(rec.type) || is_return(rec.type)))
                f.dirty = 1;
            continue;
        }
        if (keep(&f, &rec)) {
            status = 1;
            break;
        }
    }
done:
    if (f.unknown_dropped)
        mt_cli_error("%s: dropped %llu records of types unknown to this version",
                     in_name, (unsigned long long)f.unknown_dropped);
    int wrc = mt_writer_error(f.w);
    if (!wrc) wrc = finish_block(&f) ? -1 : 0;
    if (!wrc) {
        wrc = mt_writer_close(f.w);
        if (wrc < 0) write_failed(&f, wrc);
    } else {
        mt_writer_close(f.w); /* the error was reported when met */
    }
    if (wrc) status = 1;
    if (json) {
        struct stat st;
        mt_out *o = &mt_stdout;
        MT_OUT_LIT(o, "{\"schema\":\"memtrace-filter/1\",");
        mt_out_json_kstr(o, "input", in_name);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "output", out);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "bytes", stat(out, &st) == 0 ? (uint64_t)st.st_size : 0);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "records_read", nread);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "records_kept", f.kept);
        mt_out_putc(o, ',');
        mt_out_json_kbool(o, "complete", status == 0);
        MT_OUT_LIT(o, "}\n");
        if (mt_out_finish(o)) status = 1;
    }
    mt_reader_close(f.r);
    defmap_free(&f.strings);
    defmap_free(&f.functions);
    defmap_free(&f.threads);
    free(f.buf);
    free(f.stack);
    free(f.pos);
    free(f.plevels);
    free(f.poffsets);
    mt_select_free(sel);
    return status;
}

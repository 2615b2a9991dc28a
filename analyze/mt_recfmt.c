/*
 * mt_recfmt.c - records as text, JSON Lines or CSV. See mt_recfmt.h.
 *
 * Speed matters here (tens of millions of records per second), so fields go
 * through the mt_out formatters, never through printf.
 */
#include "mt_recfmt.h"

#include <stdio.h>
#include <string.h>

/* ---- Shared helpers ----------------------------------------------------- */

/* Definitions carry no time and no block thread. An unknown sized record
 * has them only when it sits in a data chunk. */
static int rec_has_time(const mt_reader *r, const mt_record *rec) {
    switch (rec->type) {
    case MT_REC_STRING:
    case MT_REC_FUNCTION:
    case MT_REC_THREAD:
    case MT_REC_LINES:
        return 0;
    case MT_REC_UNKNOWN: {
        mt_chunk_info ci;
        if (mt_reader_chunk(r, &ci) == 0 && (ci.flags & MT_CHUNK_DEFS))
            return 0;
        return 1;
    }
    default:
        return 1;
    }
}

/* mt_record_type_name with its length, cached: it is printed per record. */
static void out_type_name(mt_out *o, int type) {
    static struct { const char *name; size_t len; } cache[0x50];
    if (type >= 0 && type < 0x50) {
        if (!cache[type].name) {
            cache[type].name = mt_record_type_name(type);
            cache[type].len = strlen(cache[type].name);
        }
        mt_out_write(o, cache[type].name, cache[type].len);
    } else {
        mt_out_puts(o, mt_record_type_name(type));
    }
}

static uint64_t reader_tps(const mt_reader *r) {
    return mt_reader_header(r)->ticks_per_second;
}

/* A string id's bytes; NULL if the id is 0 or unknown. */
static const char *sid_str(const mt_reader *r, uint32_t sid, uint32_t *len) {
    *len = 0;
    if (sid == 0) return NULL;
    return mt_reader_string(r, sid, len);
}

static const mt_function *fid_fn(const mt_reader *r, uint32_t fid) {
    return fid ? mt_reader_function(r, fid) : NULL;
}

/* The qualified name, or "<fn#ID>" when the definition is missing. */
static void out_fn_name(mt_out *o, const mt_function *f, uint32_t fid) {
    if (f && f->qualname && f->qualname[0]) {
        mt_out_puts(o, f->qualname);
    } else {
        MT_OUT_LIT(o, "<fn#");
        mt_out_u64(o, fid);
        mt_out_putc(o, '>');
    }
}

static void out_json_fn_name(mt_out *o, const mt_function *f, uint32_t fid) {
    if (f && f->qualname && f->qualname[0]) {
        mt_out_json_str(o, f->qualname, strlen(f->qualname));
    } else {
        mt_out_putc(o, '"');
        out_fn_name(o, f, fid);
        mt_out_putc(o, '"');
    }
}

static void out_json_cstr(mt_out *o, const char *s) {
    if (s)
        mt_out_json_str(o, s, strlen(s));
    else
        MT_OUT_LIT(o, "null");
}

/* A string id as JSON: its text, or "" when unknown. */
static void out_json_sid(mt_out *o, const mt_reader *r, uint32_t sid) {
    uint32_t len;
    const char *s = sid_str(r, sid, &len);
    mt_out_json_str(o, s, s ? len : 0);
}

/* The frame a LINE record belongs to: the top of its thread's stack. */
static uint32_t current_fid(const mt_reader *r, uint32_t tid) {
    uint32_t depth = 0;
    const uint32_t *st = mt_reader_stack(r, tid, &depth);
    return st && depth ? st[depth - 1] : 0;
}

/* The function at a POS entry's level (counted from the innermost). */
static uint32_t level_fid(const mt_reader *r, uint32_t tid, uint32_t level) {
    uint32_t depth = 0;
    const uint32_t *st = mt_reader_stack(r, tid, &depth);
    return st && level < depth ? st[depth - 1 - level] : 0;
}

/* A LINES table as "offset:line" pairs, each after a space (text) or
 * between spaces (CSV). */
static void out_line_table(mt_out *o, const mt_record *rec, int lead) {
    for (uint32_t i = 0; i < rec->u.lines.n; i++) {
        if (lead || i) mt_out_putc(o, ' ');
        mt_out_u64(o, rec->u.lines.offsets[i]);
        mt_out_putc(o, ':');
        mt_out_u64(o, rec->u.lines.lines[i]);
    }
}

static int block_has_pos(const mt_record *rec) {
    for (uint32_t i = 0; rec->u.block.pos && i < rec->u.block.depth; i++)
        if (rec->u.block.pos[i]) return 1;
    return 0;
}

static void out_counter_name(mt_out *o, uint32_t id) {
    const char *name = mt_counter_name(id);
    if (name) {
        mt_out_puts(o, name);
    } else {
        MT_OUT_LIT(o, "ctr");
        mt_out_u64(o, id);
    }
}

static void out_hex_bytes(mt_out *o, const uint8_t *b, uint32_t n) {
    static const char hex[] = "0123456789abcdef";
    for (uint32_t i = 0; i < n; i++) {
        mt_out_reserve(o, 2);
        *o->pos++ = hex[b[i] >> 4];
        *o->pos++ = hex[b[i] & 15];
    }
}

/* ---- Text --------------------------------------------------------------- */

static void text_counters(mt_out *o, const mt_counter *v, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (i) MT_OUT_LIT(o, ", ");
        out_counter_name(o, v[i].id);
        mt_out_putc(o, '=');
        switch (mt_cli_counter_unit(v[i].id)) {
        case 'b':
            mt_out_bytes_exact(o, v[i].value);
            break;
        case 'n':
            mt_out_ns(o, v[i].value);
            if (v[i].value >= 1000) {
                MT_OUT_LIT(o, " (");
                mt_out_u64(o, v[i].value);
                MT_OUT_LIT(o, " ns)");
            }
            break;
        default:
            mt_out_u64(o, v[i].value);
        }
    }
}

static void text_sid(mt_out *o, const mt_reader *r, uint32_t sid) {
    uint32_t len;
    const char *s = sid_str(r, sid, &len);
    if (s) {
        mt_out_text_str(o, s, len);
    } else if (sid == 0) {
        MT_OUT_LIT(o, "\"\"");
    } else {
        MT_OUT_LIT(o, "<str#");
        mt_out_u64(o, sid);
        mt_out_putc(o, '>');
    }
}

/* A name that needs no quotes (a type or exception name) bare, else as
 * text_sid quotes it. */
static void text_sid_bare(mt_out *o, const mt_reader *r, uint32_t sid) {
    uint32_t len;
    const char *s = sid_str(r, sid, &len);
    int plain = s && len > 0;
    for (uint32_t i = 0; plain && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        plain = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    }
    if (plain)
        mt_out_write(o, s, len);
    else
        text_sid(o, r, sid);
}

/* "name (file:line)" for a function id. */
static void text_fn_ref(mt_out *o, const mt_reader *r, uint32_t fid) {
    const mt_function *f = fid_fn(r, fid);
    out_fn_name(o, f, fid);
    if (f && f->file && f->file[0]) {
        MT_OUT_LIT(o, " (");
        mt_out_puts(o, f->file);
        mt_out_putc(o, ':');
        mt_out_u64(o, f->first_line);
        mt_out_putc(o, ')');
    }
}

void mt_recfmt_text(mt_out *o, mt_reader *r, const mt_record *rec) {
    if (rec_has_time(r, rec)) {
        mt_out_seconds(o, rec->t, reader_tps(r));
        MT_OUT_LIT(o, " T");
        mt_out_u64(o, rec->tid);
    } else if (rec->type == MT_REC_THREAD) {
        MT_OUT_LIT(o, "- T");
        mt_out_u64(o, rec->tid);
    } else {
        MT_OUT_LIT(o, "- -");
    }
    mt_out_putc(o, ' ');
    out_type_name(o, rec->type);

    switch (rec->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
        mt_out_putc(o, ' ');
        text_fn_ref(o, r, rec->u.call.fid);
        break;
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND:
        mt_out_putc(o, ' ');
        out_fn_name(o, fid_fn(r, rec->u.call.fid), rec->u.call.fid);
        break;
    case MT_REC_LINE: {
        uint32_t fid = current_fid(r, rec->tid);
        const mt_function *f = fid_fn(r, fid);
        mt_out_putc(o, ' ');
        if (f && f->file && f->file[0]) {
            mt_out_puts(o, f->file);
            mt_out_putc(o, ':');
        }
        mt_out_u64(o, rec->u.line.line);
        if (fid) {
            MT_OUT_LIT(o, " in ");
            out_fn_name(o, f, fid);
        }
        break;
    }
    case MT_REC_RAISE:
        mt_out_putc(o, ' ');
        text_sid_bare(o, r, rec->u.raise.type_sid);
        break;
    case MT_REC_OBJ_NEW:
    case MT_REC_OBJ_DEL:
        mt_out_putc(o, ' ');
        mt_out_hex(o, rec->u.obj.addr);
        mt_out_putc(o, ' ');
        text_sid_bare(o, r, rec->u.obj.type_sid);
        break;
    case MT_REC_RSS:
        mt_out_putc(o, ' ');
        mt_out_bytes_exact(o, rec->u.rss.bytes);
        break;
    case MT_REC_ALLOC:
        mt_out_putc(o, ' ');
        mt_out_puts(o, mt_domain_name(rec->domain));
        mt_out_putc(o, ' ');
        mt_out_hex(o, rec->u.alloc.addr);
        mt_out_putc(o, ' ');
        mt_out_bytes_exact(o, rec->u.alloc.size);
        break;
    case MT_REC_FREE:
        mt_out_putc(o, ' ');
        mt_out_puts(o, mt_domain_name(rec->domain));
        mt_out_putc(o, ' ');
        mt_out_hex(o, rec->u.alloc.addr);
        break;
    case MT_REC_REALLOC:
        mt_out_putc(o, ' ');
        mt_out_puts(o, mt_domain_name(rec->domain));
        mt_out_putc(o, ' ');
        mt_out_hex(o, rec->u.realloc.old_addr);
        MT_OUT_LIT(o, " -> ");
        mt_out_hex(o, rec->u.realloc.addr);
        mt_out_putc(o, ' ');
        mt_out_bytes_exact(o, rec->u.realloc.size);
        break;
    case MT_REC_BLOCK:
        MT_OUT_LIT(o, " depth=");
        mt_out_u64(o, rec->u.block.depth);
        for (uint32_t i = 0; i < rec->u.block.depth; i++) {
            mt_out_puts(o, i ? " > " : " ");
            out_fn_name(o, fid_fn(r, rec->u.block.fids[i]),
                        rec->u.block.fids[i]);
            if (rec->u.block.lines && rec->u.block.lines[i]) {
                mt_out_putc(o, ':');
                mt_out_u64(o, rec->u.block.lines[i]);
            }
        }
        break;
    case MT_REC_POS: /* where each frame named is now: name file:line @offset */
        for (uint32_t i = 0; i < rec->u.pos.n; i++) {
            uint32_t fid = level_fid(r, rec->tid, rec->u.pos.levels[i]);
            const mt_function *f = fid_fn(r, fid);
            mt_out_puts(o, i ? ", " : " ");
            out_fn_name(o, f, fid);
            mt_out_putc(o, ' ');
            if (f && f->file && f->file[0]) {
                mt_out_puts(o, f->file);
                mt_out_putc(o, ':');
            }
            if (rec->u.pos.lines[i]) {
                mt_out_u64(o, rec->u.pos.lines[i]);
            } else {
                MT_OUT_LIT(o, "?"); /* no LINES table, or no line there */
            }
            if (rec->u.pos.offsets[i] == UINT32_MAX) { /* unknown again */
                MT_OUT_LIT(o, " @?");
            } else {
                MT_OUT_LIT(o, " @");
                mt_out_u64(o, rec->u.pos.offsets[i]);
            }
        }
        break;
    case MT_REC_LINES:
        MT_OUT_LIT(o, " fid=");
        mt_out_u64(o, rec->u.lines.fid);
        mt_out_putc(o, ' ');
        out_fn_name(o, fid_fn(r, rec->u.lines.fid), rec->u.lines.fid);
        out_line_table(o, rec, 1);
        break;
    case MT_REC_STRING:
        MT_OUT_LIT(o, " sid=");
        mt_out_u64(o, rec->u.string.sid);
        mt_out_putc(o, ' ');
        mt_out_text_str(o, rec->u.string.bytes, rec->u.string.len);
        break;
    case MT_REC_FUNCTION: {
        const __typeof__(rec->u.function) *f = &rec->u.function;
        MT_OUT_LIT(o, " fid=");
        mt_out_u64(o, f->fid);
        if (f->kind == MT_FUNC_PYTHON) {
            MT_OUT_LIT(o, " python ");
        } else if (f->kind == MT_FUNC_C) {
            MT_OUT_LIT(o, " c ");
        } else {
            MT_OUT_LIT(o, " kind");
            mt_out_u64(o, f->kind);
            mt_out_putc(o, ' ');
        }
        text_sid(o, r, f->qualname_sid);
        MT_OUT_LIT(o, " module=");
        text_sid(o, r, f->module_sid);
        MT_OUT_LIT(o, " file=");
        text_sid(o, r, f->file_sid);
        MT_OUT_LIT(o, " line=");
        mt_out_u64(o, f->first_line);
        break;
    }
    case MT_REC_THREAD:
        MT_OUT_LIT(o, " native=");
        mt_out_u64(o, rec->u.thread.native_id);
        mt_out_putc(o, ' ');
        mt_out_text_str(o, rec->u.thread.name, rec->u.thread.len);
        break;
    case MT_REC_THREAD_START:
    case MT_REC_THREAD_END:
        break;
    case MT_REC_MARKER:
        mt_out_putc(o, ' ');
        mt_out_text_str(o, rec->u.marker.text, rec->u.marker.len);
        break;
    case MT_REC_COUNTERS:
        mt_out_putc(o, ' ');
        text_counters(o, rec->u.counters.v, rec->u.counters.n);
        break;
    case MT_REC_PROC_SAMPLE:
        MT_OUT_LIT(o, " pid=");
        mt_out_u64(o, rec->u.proc.pid);
        MT_OUT_LIT(o, " ppid=");
        mt_out_u64(o, rec->u.proc.ppid);
        MT_OUT_LIT(o, " name=");
        text_sid(o, r, rec->u.proc.name_sid);
        MT_OUT_LIT(o, " cmdline=");
        text_sid(o, r, rec->u.proc.cmdline_sid);
        if (rec->u.proc.n) mt_out_putc(o, ' ');
        text_counters(o, rec->u.proc.v, rec->u.proc.n);
        break;
    case MT_REC_PROC_EXIT:
        MT_OUT_LIT(o, " pid=");
        mt_out_u64(o, rec->u.proc_exit.pid);
        MT_OUT_LIT(o, " status=");
        mt_out_i64(o, rec->u.proc_exit.status);
        break;
    case MT_REC_LOST:
        mt_out_putc(o, ' ');
        mt_out_u64(o, rec->u.lost.events);
        MT_OUT_LIT(o, " events, ");
        mt_out_bytes_exact(o, rec->u.lost.bytes);
        MT_OUT_LIT(o, ", reason=");
        mt_out_puts(o, mt_cli_lost_reason_name(rec->u.lost.reason));
        break;
    case MT_REC_SUMMARY:
        MT_OUT_LIT(o, " reason=");
        mt_out_puts(o, mt_cli_end_reason_name(rec->u.summary.reason));
        if (rec->u.summary.n) mt_out_putc(o, ' ');
        text_counters(o, rec->u.summary.v, rec->u.summary.n);
        break;
    case MT_REC_UNKNOWN:
    default:
        MT_OUT_LIT(o, " raw_type=");
        mt_out_hex(o, rec->raw_type);
        MT_OUT_LIT(o, " len=");
        mt_out_u64(o, rec->u.unknown.len);
        MT_OUT_LIT(o, " hex=");
        out_hex_bytes(o, rec->u.unknown.bytes, rec->u.unknown.len);
        break;
    }
    mt_out_putc(o, '\n');
}

/* ---- JSON Lines --------------------------------------------------------- */

static void json_key(mt_out *o, const char *key_with_quotes_and_colon) {
    mt_out_puts(o, key_with_quotes_and_colon);
}
#define JKEY(o, k) MT_OUT_LIT(o, ",\"" k "\":")

static void json_hex(mt_out *o, uint64_t v) {
    mt_out_putc(o, '"');
    mt_out_hex(o, v);
    mt_out_putc(o, '"');
}

static void json_counters(mt_out *o, const mt_counter *v, uint32_t n) {
    JKEY(o, "counters");
    mt_out_putc(o, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i) mt_out_putc(o, ',');
        mt_out_putc(o, '"');
        out_counter_name(o, v[i].id);
        MT_OUT_LIT(o, "\":");
        mt_out_u64(o, v[i].value);
    }
    mt_out_putc(o, '}');
}

void mt_recfmt_json(mt_out *o, mt_reader *r, const mt_record *rec) {
    MT_OUT_LIT(o, "{\"type\":\"");
    out_type_name(o, rec->type);
    mt_out_putc(o, '"');
    if (rec_has_time(r, rec)) {
        JKEY(o, "t");
        mt_out_u64(o, rec->t);
        JKEY(o, "time_s");
        mt_out_seconds(o, rec->t, reader_tps(r));
        JKEY(o, "tid");
        mt_out_u64(o, rec->tid);
    }

    switch (rec->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND:
        JKEY(o, "fid");
        mt_out_u64(o, rec->u.call.fid);
        JKEY(o, "name");
        out_json_fn_name(o, fid_fn(r, rec->u.call.fid), rec->u.call.fid);
        break;
    case MT_REC_LINE:
        JKEY(o, "line");
        mt_out_u64(o, rec->u.line.line);
        break;
    case MT_REC_RAISE:
        JKEY(o, "type_sid");
        mt_out_u64(o, rec->u.raise.type_sid);
        JKEY(o, "exc");
        out_json_sid(o, r, rec->u.raise.type_sid);
        break;
    case MT_REC_OBJ_NEW:
    case MT_REC_OBJ_DEL:
        JKEY(o, "addr");
        json_hex(o, rec->u.obj.addr);
        JKEY(o, "type_sid");
        mt_out_u64(o, rec->u.obj.type_sid);
        JKEY(o, "type_name");
        out_json_sid(o, r, rec->u.obj.type_sid);
        break;
    case MT_REC_RSS:
        JKEY(o, "rss_bytes");
        mt_out_u64(o, rec->u.rss.bytes);
        break;
    case MT_REC_ALLOC:
    case MT_REC_FREE:
        JKEY(o, "domain");
        mt_out_putc(o, '"');
        mt_out_puts(o, mt_domain_name(rec->domain));
        mt_out_putc(o, '"');
        JKEY(o, "addr");
        json_hex(o, rec->u.alloc.addr);
        if (rec->type == MT_REC_ALLOC) {
            JKEY(o, "size");
            mt_out_u64(o, rec->u.alloc.size);
        }
        break;
    case MT_REC_REALLOC:
        JKEY(o, "domain");
        mt_out_putc(o, '"');
        mt_out_puts(o, mt_domain_name(rec->domain));
        mt_out_putc(o, '"');
        JKEY(o, "old_addr");
        json_hex(o, rec->u.realloc.old_addr);
        JKEY(o, "addr");
        json_hex(o, rec->u.realloc.addr);
        JKEY(o, "size");
        mt_out_u64(o, rec->u.realloc.size);
        break;
    case MT_REC_BLOCK:
        JKEY(o, "depth");
        mt_out_u64(o, rec->u.block.depth);
        JKEY(o, "stack");
        mt_out_putc(o, '[');
        for (uint32_t i = 0; i < rec->u.block.depth; i++) {
            if (i) mt_out_putc(o, ',');
            mt_out_u64(o, rec->u.block.fids[i]);
        }
        mt_out_putc(o, ']');
        if (block_has_pos(rec)) { /* 1.3: offsets (null unknown), lines */
            JKEY(o, "offsets");
            mt_out_putc(o, '[');
            for (uint32_t i = 0; i < rec->u.block.depth; i++) {
                if (i) mt_out_putc(o, ',');
                if (rec->u.block.pos[i])
                    mt_out_u64(o, rec->u.block.pos[i] - 1);
                else
                    MT_OUT_LIT(o, "null");
            }
            mt_out_putc(o, ']');
            JKEY(o, "lines");
            mt_out_putc(o, '[');
            for (uint32_t i = 0; i < rec->u.block.depth; i++) {
                if (i) mt_out_putc(o, ',');
                mt_out_u64(o, rec->u.block.lines ? rec->u.block.lines[i] : 0);
            }
            mt_out_putc(o, ']');
        }
        break;
    case MT_REC_POS:
        JKEY(o, "frames");
        mt_out_putc(o, '[');
        for (uint32_t i = 0; i < rec->u.pos.n; i++) {
            uint32_t fid = level_fid(r, rec->tid, rec->u.pos.levels[i]);
            if (i) mt_out_putc(o, ',');
            MT_OUT_LIT(o, "{\"level\":");
            mt_out_u64(o, rec->u.pos.levels[i]);
            JKEY(o, "offset");
            mt_out_u64(o, rec->u.pos.offsets[i]);
            JKEY(o, "line");
            mt_out_u64(o, rec->u.pos.lines[i]);
            JKEY(o, "fid");
            mt_out_u64(o, fid);
            JKEY(o, "name");
            out_json_fn_name(o, fid_fn(r, fid), fid);
            mt_out_putc(o, '}');
        }
        mt_out_putc(o, ']');
        break;
    case MT_REC_LINES:
        JKEY(o, "fid");
        mt_out_u64(o, rec->u.lines.fid);
        JKEY(o, "table");
        mt_out_putc(o, '[');
        for (uint32_t i = 0; i < rec->u.lines.n; i++) {
            if (i) mt_out_putc(o, ',');
            mt_out_putc(o, '[');
            mt_out_u64(o, rec->u.lines.offsets[i]);
            mt_out_putc(o, ',');
            mt_out_u64(o, rec->u.lines.lines[i]);
            mt_out_putc(o, ']');
        }
        mt_out_putc(o, ']');
        break;
    case MT_REC_STRING:
        JKEY(o, "sid");
        mt_out_u64(o, rec->u.string.sid);
        JKEY(o, "text");
        mt_out_json_str(o, rec->u.string.bytes, rec->u.string.len);
        break;
    case MT_REC_FUNCTION: {
        const __typeof__(rec->u.function) *f = &rec->u.function;
        JKEY(o, "fid");
        mt_out_u64(o, f->fid);
        JKEY(o, "kind");
        if (f->kind == MT_FUNC_PYTHON)
            MT_OUT_LIT(o, "\"python\"");
        else if (f->kind == MT_FUNC_C)
            MT_OUT_LIT(o, "\"c\"");
        else
            mt_out_u64(o, f->kind); /* a kind this version does not know */
        JKEY(o, "qualname");
        out_json_sid(o, r, f->qualname_sid);
        JKEY(o, "module");
        out_json_sid(o, r, f->module_sid);
        JKEY(o, "file");
        out_json_sid(o, r, f->file_sid);
        JKEY(o, "first_line");
        mt_out_u64(o, f->first_line);
        break;
    }
    case MT_REC_THREAD:
        JKEY(o, "tid");
        mt_out_u64(o, rec->tid);
        JKEY(o, "native_id");
        mt_out_u64(o, rec->u.thread.native_id);
        JKEY(o, "name");
        mt_out_json_str(o, rec->u.thread.name, rec->u.thread.len);
        break;
    case MT_REC_THREAD_START:
    case MT_REC_THREAD_END:
        break; /* "tid" above is that thread */
    case MT_REC_MARKER:
        JKEY(o, "text");
        mt_out_json_str(o, rec->u.marker.text, rec->u.marker.len);
        break;
    case MT_REC_COUNTERS:
        json_counters(o, rec->u.counters.v, rec->u.counters.n);
        break;
    case MT_REC_PROC_SAMPLE:
        JKEY(o, "pid");
        mt_out_u64(o, rec->u.proc.pid);
        JKEY(o, "ppid");
        mt_out_u64(o, rec->u.proc.ppid);
        JKEY(o, "name");
        out_json_sid(o, r, rec->u.proc.name_sid);
        JKEY(o, "cmdline");
        out_json_sid(o, r, rec->u.proc.cmdline_sid);
        json_counters(o, rec->u.proc.v, rec->u.proc.n);
        break;
    case MT_REC_PROC_EXIT:
        JKEY(o, "pid");
        mt_out_u64(o, rec->u.proc_exit.pid);
        JKEY(o, "status");
        mt_out_i64(o, rec->u.proc_exit.status);
        break;
    case MT_REC_LOST:
        JKEY(o, "events");
        mt_out_u64(o, rec->u.lost.events);
        JKEY(o, "bytes");
        mt_out_u64(o, rec->u.lost.bytes);
        JKEY(o, "reason");
        mt_out_putc(o, '"');
        mt_out_puts(o, mt_cli_lost_reason_name(rec->u.lost.reason));
        mt_out_putc(o, '"');
        break;
    case MT_REC_SUMMARY:
        JKEY(o, "reason");
        mt_out_putc(o, '"');
        mt_out_puts(o, mt_cli_end_reason_name(rec->u.summary.reason));
        mt_out_putc(o, '"');
        json_counters(o, rec->u.summary.v, rec->u.summary.n);
        break;
    case MT_REC_UNKNOWN:
    default:
        JKEY(o, "raw_type");
        mt_out_u64(o, rec->raw_type);
        JKEY(o, "len");
        mt_out_u64(o, rec->u.unknown.len);
        JKEY(o, "hex");
        mt_out_putc(o, '"');
        out_hex_bytes(o, rec->u.unknown.bytes, rec->u.unknown.len);
        mt_out_putc(o, '"');
        break;
    }
    MT_OUT_LIT(o, "}\n");
}

/* ---- CSV ---------------------------------------------------------------- */

/* Column indexes of MT_RECFMT_CSV_COLUMNS. */
enum {
    COL_TYPE, COL_T, COL_TIME_S, COL_TID, COL_FID, COL_NAME, COL_LINE,
    COL_DOMAIN, COL_ADDR, COL_OLD_ADDR, COL_SIZE, COL_VALUE, COL_TEXT,
    COL_COUNT
};

/* A row is written left to right; csv_to() emits the commas that lead to
 * column c, so absent columns stay empty. */
typedef struct csv_row {
    mt_out *o;
    int col; /* the column being written */
} csv_row;

static void csv_to(csv_row *w, int c) {
    while (w->col < c) {
        mt_out_putc(w->o, ',');
        w->col++;
    }
}

static void csv_u64(csv_row *w, int c, uint64_t v) {
    csv_to(w, c);
    mt_out_u64(w->o, v);
}

static void csv_hex(csv_row *w, int c, uint64_t v) {
    csv_to(w, c);
    mt_out_hex(w->o, v);
}

static void csv_str(csv_row *w, int c, const char *s, size_t len) {
    csv_to(w, c);
    mt_out_csv_str(w->o, s, len);
}

static void csv_cstr(csv_row *w, int c, const char *s) {
    if (s) csv_str(w, c, s, strlen(s));
}

static void csv_sid(csv_row *w, int c, const mt_reader *r, uint32_t sid) {
    uint32_t len;
    const char *s = sid_str(r, sid, &len);
    if (s) csv_str(w, c, s, len);
}

/* fid, name, line (first line) and text (file) of a function id. */
static void csv_fn(csv_row *w, const mt_reader *r, uint32_t fid) {
    const mt_function *f = fid_fn(r, fid);
    csv_u64(w, COL_FID, fid);
    csv_to(w, COL_NAME);
    if (f && f->qualname && f->qualname[0])
        mt_out_csv_str(w->o, f->qualname, strlen(f->qualname));
    else
        out_fn_name(w->o, f, fid);
    if (f && f->file && f->file[0]) {
        csv_u64(w, COL_LINE, f->first_line);
        csv_cstr(w, COL_TEXT, f->file);
    }
}

/* Counters in the text column: "name=value;name=value", after an optional
 * prefix of "key=value;" pairs that the caller already wrote into buf. */
static void csv_counters(csv_row *w, const char *prefix, size_t prefix_len,
                         const mt_counter *v, uint32_t n) {
    /* Build the field first: it must be quoted as a whole if needed. */
    char buf[MT_MAX_COUNTERS * 48 + 8192];
    size_t len = 0;
    if (prefix_len > sizeof buf / 2) prefix_len = sizeof buf / 2;
    memcpy(buf, prefix, prefix_len);
    len = prefix_len;
    for (uint32_t i = 0; i < n && len + 64 < sizeof buf; i++) {
        const char *name = mt_counter_name(v[i].id);
        int k;
        if (name)
            k = snprintf(buf + len, sizeof buf - len, "%s%s=%llu",
                         len ? ";" : "", name,
                         (unsigned long long)v[i].value);
        else
            k = snprintf(buf + len, sizeof buf - len, "%sctr%u=%llu",
                         len ? ";" : "", (unsigned)v[i].id,
                         (unsigned long long)v[i].value);
        if (k < 0 || (size_t)k >= sizeof buf - len) break;
        len += (size_t)k;
    }
    csv_str(w, COL_TEXT, buf, len);
}

void mt_recfmt_csv_header(mt_out *o) {
    MT_OUT_LIT(o, MT_RECFMT_CSV_COLUMNS "\r\n");
}

void mt_recfmt_csv(mt_out *o, mt_reader *r, const mt_record *rec) {
    csv_row w = {o, COL_TYPE};
    out_type_name(o, rec->type);
    if (rec_has_time(r, rec)) {
        csv_u64(&w, COL_T, rec->t);
        csv_to(&w, COL_TIME_S);
        mt_out_seconds(o, rec->t, reader_tps(r));
        csv_u64(&w, COL_TID, rec->tid);
    }

    switch (rec->type) {
    case MT_REC_CALL:
    case MT_REC_CCALL:
    case MT_REC_RETURN:
    case MT_REC_CRETURN:
    case MT_REC_CRAISE:
    case MT_REC_UNWIND:
        csv_fn(&w, r, rec->u.call.fid);
        break;
    case MT_REC_LINE: {
        uint32_t fid = current_fid(r, rec->tid);
        if (fid) {
            csv_u64(&w, COL_FID, fid);
            csv_to(&w, COL_NAME);
            const mt_function *f = fid_fn(r, fid);
            if (f && f->qualname && f->qualname[0])
                mt_out_csv_str(o, f->qualname, strlen(f->qualname));
            else
                out_fn_name(o, f, fid);
        }
        csv_u64(&w, COL_LINE, rec->u.line.line);
        if (fid) {
            const mt_function *f = fid_fn(r, fid);
            if (f && f->file && f->file[0]) csv_cstr(&w, COL_TEXT, f->file);
        }
        break;
    }
    case MT_REC_RAISE:
        csv_sid(&w, COL_NAME, r, rec->u.raise.type_sid);
        csv_u64(&w, COL_VALUE, rec->u.raise.type_sid);
        break;
    case MT_REC_OBJ_NEW:
    case MT_REC_OBJ_DEL:
        csv_sid(&w, COL_NAME, r, rec->u.obj.type_sid);
        csv_hex(&w, COL_ADDR, rec->u.obj.addr);
        csv_u64(&w, COL_VALUE, rec->u.obj.type_sid);
        break;
    case MT_REC_RSS:
        csv_u64(&w, COL_SIZE, rec->u.rss.bytes);
        break;
    case MT_REC_ALLOC:
    case MT_REC_FREE:
        csv_cstr(&w, COL_DOMAIN, mt_domain_name(rec->domain));
        csv_hex(&w, COL_ADDR, rec->u.alloc.addr);
        if (rec->type == MT_REC_ALLOC)
            csv_u64(&w, COL_SIZE, rec->u.alloc.size);
        break;
    case MT_REC_REALLOC:
        csv_cstr(&w, COL_DOMAIN, mt_domain_name(rec->domain));
        csv_hex(&w, COL_ADDR, rec->u.realloc.addr);
        csv_hex(&w, COL_OLD_ADDR, rec->u.realloc.old_addr);
        csv_u64(&w, COL_SIZE, rec->u.realloc.size);
        break;
    case MT_REC_BLOCK:
        csv_u64(&w, COL_VALUE, rec->u.block.depth);
        csv_to(&w, COL_TEXT);
        for (uint32_t i = 0; i < rec->u.block.depth; i++) {
            if (i) mt_out_putc(o, ' ');
            mt_out_u64(o, rec->u.block.fids[i]);
        }
        break;
    case MT_REC_POS: /* the innermost entry in fid/name/line; all in text */
        if (rec->u.pos.n) {
            uint32_t fid = level_fid(r, rec->tid, rec->u.pos.levels[0]);
            if (fid) {
                const mt_function *f = fid_fn(r, fid);
                csv_u64(&w, COL_FID, fid);
                csv_to(&w, COL_NAME);
                if (f && f->qualname && f->qualname[0])
                    mt_out_csv_str(o, f->qualname, strlen(f->qualname));
                else
                    out_fn_name(o, f, fid);
            }
            csv_u64(&w, COL_LINE, rec->u.pos.lines[0]);
        }
        csv_u64(&w, COL_VALUE, rec->u.pos.n);
        csv_to(&w, COL_TEXT);
        for (uint32_t i = 0; i < rec->u.pos.n; i++) {
            if (i) mt_out_putc(o, ' ');
            mt_out_u64(o, rec->u.pos.levels[i]);
            mt_out_putc(o, ':');
            mt_out_u64(o, rec->u.pos.offsets[i]);
            mt_out_putc(o, ':');
            mt_out_u64(o, rec->u.pos.lines[i]);
        }
        break;
    case MT_REC_LINES:
        csv_u64(&w, COL_FID, rec->u.lines.fid);
        csv_u64(&w, COL_VALUE, rec->u.lines.n);
        csv_to(&w, COL_TEXT);
        out_line_table(o, rec, 0);
        break;
    case MT_REC_STRING:
        csv_u64(&w, COL_VALUE, rec->u.string.sid);
        csv_str(&w, COL_TEXT, rec->u.string.bytes, rec->u.string.len);
        break;
    case MT_REC_FUNCTION: {
        const __typeof__(rec->u.function) *f = &rec->u.function;
        csv_u64(&w, COL_FID, f->fid);
        csv_sid(&w, COL_NAME, r, f->qualname_sid);
        csv_u64(&w, COL_LINE, f->first_line);
        csv_u64(&w, COL_VALUE, f->kind);
        csv_sid(&w, COL_TEXT, r, f->file_sid);
        break;
    }
    case MT_REC_THREAD:
        csv_u64(&w, COL_TID, rec->tid);
        csv_str(&w, COL_NAME, rec->u.thread.name, rec->u.thread.len);
        csv_u64(&w, COL_VALUE, rec->u.thread.native_id);
        break;
    case MT_REC_THREAD_START:
    case MT_REC_THREAD_END:
        break;
    case MT_REC_MARKER:
        csv_str(&w, COL_TEXT, rec->u.marker.text, rec->u.marker.len);
        break;
    case MT_REC_COUNTERS:
        csv_counters(&w, "", 0, rec->u.counters.v, rec->u.counters.n);
        break;
    case MT_REC_PROC_SAMPLE: {
        uint32_t nlen;
        csv_sid(&w, COL_NAME, r, rec->u.proc.name_sid);
        csv_u64(&w, COL_VALUE, rec->u.proc.pid);
        char pre[4096 + 64];
        const char *cmd = sid_str(r, rec->u.proc.cmdline_sid, &nlen);
        int k = snprintf(pre, sizeof pre, "ppid=%u;cmdline=%.*s",
                         (unsigned)rec->u.proc.ppid,
                         (int)(nlen > 4096 ? 4096 : nlen), cmd ? cmd : "");
        size_t plen = k < 0 ? 0 : (size_t)k >= sizeof pre ? sizeof pre - 1
                                                           : (size_t)k;
        csv_counters(&w, pre, plen, rec->u.proc.v, rec->u.proc.n);
        break;
    }
    case MT_REC_PROC_EXIT: {
        char pre[32];
        csv_u64(&w, COL_VALUE, rec->u.proc_exit.pid);
        int k = snprintf(pre, sizeof pre, "status=%d",
                         (int)rec->u.proc_exit.status);
        csv_str(&w, COL_TEXT, pre, k > 0 ? (size_t)k : 0);
        break;
    }
    case MT_REC_LOST:
        csv_u64(&w, COL_SIZE, rec->u.lost.bytes);
        csv_u64(&w, COL_VALUE, rec->u.lost.events);
        csv_cstr(&w, COL_TEXT, mt_cli_lost_reason_name(rec->u.lost.reason));
        break;
    case MT_REC_SUMMARY: {
        char pre[64];
        int k = snprintf(pre, sizeof pre, "reason=%s",
                         mt_cli_end_reason_name(rec->u.summary.reason));
        csv_counters(&w, pre, k > 0 ? (size_t)k : 0, rec->u.summary.v,
                     rec->u.summary.n);
        break;
    }
    case MT_REC_UNKNOWN:
    default:
        csv_u64(&w, COL_SIZE, rec->u.unknown.len);
        csv_u64(&w, COL_VALUE, rec->raw_type);
        csv_to(&w, COL_TEXT);
        out_hex_bytes(o, rec->u.unknown.bytes, rec->u.unknown.len);
        break;
    }
    csv_to(&w, COL_COUNT - 1);
    MT_OUT_LIT(o, "\r\n");
}

/* ---- Header ------------------------------------------------------------- */

static void text_key(mt_out *o, const char *key) {
    size_t n = strlen(key);
    mt_out_write(o, key, n);
    mt_out_putc(o, ':');
    for (size_t i = n + 1; i < 14; i++) mt_out_putc(o, ' ');
}

static void text_opt(mt_out *o, const char *key, const char *v) {
    text_key(o, key);
    if (v)
        mt_out_puts(o, v);
    else
        mt_out_putc(o, '-');
    mt_out_putc(o, '\n');
}

/* An argument as a shell would need it: bare if plain, else quoted. */
static void text_arg(mt_out *o, const char *a) {
    size_t n = strlen(a);
    int plain = n > 0;
    for (size_t i = 0; i < n && plain; i++) {
        char c = a[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || strchr("_./=:,+@%-", c);
    }
    if (plain)
        mt_out_write(o, a, n);
    else
        mt_out_text_str(o, a, n);
}

void mt_recfmt_header_text(mt_out *o, const mt_header *h, const char *name) {
    char buf[MT_FMT_BYTES];
    text_opt(o, "file", name);
    text_key(o, "version");
    mt_out_u64(o, h->major);
    mt_out_putc(o, '.');
    mt_out_u64(o, h->minor);
    mt_out_putc(o, '\n');
    text_key(o, "start");
    mt_out_puts(o, mt_fmt_utc(buf, h->wall_ns));
    MT_OUT_LIT(o, " (wall_ns ");
    mt_out_i64(o, h->wall_ns);
    MT_OUT_LIT(o, ")\n");
    text_key(o, "anchor");
    mt_out_u64(o, h->anchor_ticks);
    MT_OUT_LIT(o, " ticks\n");
    text_key(o, "clock");
    mt_out_puts(o, mt_cli_clock_name(h->clock));
    MT_OUT_LIT(o, ", ");
    mt_out_u64(o, h->ticks_per_second);
    MT_OUT_LIT(o, " ticks/s\n");
    text_key(o, "pid");
    mt_out_u64(o, h->pid);
    mt_out_putc(o, '\n');
    text_key(o, "ppid");
    mt_out_u64(o, h->ppid);
    mt_out_putc(o, '\n');
    text_opt(o, "hostname", h->hostname);
    text_key(o, "python");
    if (!h->python_implementation && !h->python_version) {
        mt_out_putc(o, '-');
    } else {
        if (h->python_implementation) mt_out_puts(o, h->python_implementation);
        if (h->python_implementation && h->python_version) mt_out_putc(o, ' ');
        if (h->python_version) mt_out_puts(o, h->python_version);
    }
    mt_out_putc(o, '\n');
    text_opt(o, "executable", h->executable);
    text_key(o, "argv");
    if (!h->argv || h->argc == 0) mt_out_putc(o, '-');
    for (uint32_t i = 0; h->argv && i < h->argc; i++) {
        if (i) mt_out_putc(o, ' ');
        text_arg(o, h->argv[i] ? h->argv[i] : "");
    }
    mt_out_putc(o, '\n');
    text_opt(o, "cwd", h->cwd);
    text_opt(o, "producer", h->producer);
    text_opt(o, "mode", h->mode);
    text_key(o, "page size");
    mt_out_bytes_exact(o, h->page_size);
    mt_out_putc(o, '\n');
    text_key(o, "content");
    int any = 0;
    for (unsigned bit = 0; bit < 32; bit++) {
        if (!(h->content & (1u << bit))) continue;
        if (any++) mt_out_putc(o, ',');
        const char *cn = mt_cli_content_name(bit);
        if (cn) {
            mt_out_puts(o, cn);
        } else {
            MT_OUT_LIT(o, "bit");
            mt_out_u64(o, bit);
        }
    }
    if (!any) MT_OUT_LIT(o, "none");
    MT_OUT_LIT(o, " (");
    mt_out_hex(o, h->content);
    MT_OUT_LIT(o, ")\n");
    if (h->alloc_sample_bytes) {
        text_key(o, "allocations");
        if (h->alloc_sample_bytes == 1) {
            MT_OUT_LIT(o, "every allocation\n");
        } else {
            MT_OUT_LIT(o, "sampled, one per ");
            mt_out_bytes_exact(o, h->alloc_sample_bytes);
            MT_OUT_LIT(o, " on average\n");
        }
    }
    if (h->flags) {
        text_key(o, "flags");
        mt_out_hex(o, h->flags);
        mt_out_putc(o, '\n');
    }
}

void mt_recfmt_header_json(mt_out *o, const mt_header *h) {
    char buf[MT_FMT_BYTES];
    json_key(o, "{\"version\":\"");
    mt_out_u64(o, h->major);
    mt_out_putc(o, '.');
    mt_out_u64(o, h->minor);
    mt_out_putc(o, '"');
    JKEY(o, "major");
    mt_out_u64(o, h->major);
    JKEY(o, "minor");
    mt_out_u64(o, h->minor);
    JKEY(o, "start");
    mt_out_putc(o, '"');
    mt_out_puts(o, mt_fmt_utc(buf, h->wall_ns));
    mt_out_putc(o, '"');
    JKEY(o, "wall_ns");
    mt_out_i64(o, h->wall_ns);
    JKEY(o, "anchor_ticks");
    mt_out_u64(o, h->anchor_ticks);
    JKEY(o, "clock");
    mt_out_putc(o, '"');
    mt_out_puts(o, mt_cli_clock_name(h->clock));
    mt_out_putc(o, '"');
    JKEY(o, "ticks_per_second");
    mt_out_u64(o, h->ticks_per_second);
    JKEY(o, "pid");
    mt_out_u64(o, h->pid);
    JKEY(o, "ppid");
    mt_out_u64(o, h->ppid);
    JKEY(o, "hostname");
    out_json_cstr(o, h->hostname);
    JKEY(o, "python_implementation");
    out_json_cstr(o, h->python_implementation);
    JKEY(o, "python_version");
    out_json_cstr(o, h->python_version);
    JKEY(o, "executable");
    out_json_cstr(o, h->executable);
    JKEY(o, "argv");
    mt_out_putc(o, '[');
    for (uint32_t i = 0; h->argv && i < h->argc; i++) {
        if (i) mt_out_putc(o, ',');
        out_json_cstr(o, h->argv[i] ? h->argv[i] : "");
    }
    mt_out_putc(o, ']');
    JKEY(o, "cwd");
    out_json_cstr(o, h->cwd);
    JKEY(o, "producer");
    out_json_cstr(o, h->producer);
    JKEY(o, "mode");
    out_json_cstr(o, h->mode);
    JKEY(o, "page_size");
    mt_out_u64(o, h->page_size);
    JKEY(o, "content");
    mt_out_u64(o, h->content);
    JKEY(o, "content_names");
    mt_out_putc(o, '[');
    int any = 0;
    for (unsigned bit = 0; bit < 32; bit++) {
        if (!(h->content & (1u << bit))) continue;
        if (any++) mt_out_putc(o, ',');
        const char *cn = mt_cli_content_name(bit);
        mt_out_putc(o, '"');
        if (cn) {
            mt_out_puts(o, cn);
        } else {
            MT_OUT_LIT(o, "bit");
            mt_out_u64(o, bit);
        }
        mt_out_putc(o, '"');
    }
    mt_out_putc(o, ']');
    JKEY(o, "alloc_sample_bytes");
    mt_out_u64(o, h->alloc_sample_bytes);
    JKEY(o, "flags");
    mt_out_u64(o, h->flags);
    MT_OUT_LIT(o, "}\n");
}

/*
 * memtrace-decode - print the records of a memtrace trace, or check it.
 *
 * The records come out in file order as text, JSON Lines or CSV (the
 * formatters live in mt_recfmt.c so the other tools print records alike).
 * A damaged chunk does not stop the decode: every intact record is printed,
 * each damage is reported on stderr, and the exit status says it happened.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrace_format.h"
#include "mt_cli.h"
#include "mt_recfmt.h"
#include "mt_select.h"

static const char usage_text[] =
"usage: memtrace-decode [--json | --csv] [selection] FILE\n"
"       memtrace-decode --header [--json] FILE\n"
"       memtrace-decode --check FILE...\n"
"\n"
"Print the records of a memtrace trace in file order, or check it.\n"
"FILE may be '-' for standard input (read sequentially, so pipes work).\n"
"\n"
"Options:\n"
"  --json         one JSON object per record (JSON Lines), see OUTPUT\n"
"  --csv          a header line, then one RFC 4180 row per record\n"
"  --header       print the trace header only (with --json: one object)\n"
"  --check        read every chunk; print one verdict line per FILE\n"
"  -h, --help     print this text and exit\n"
"  -V, --version  print the version and exit\n"
"\n"
MT_SELECT_USAGE
"  With any selection option, definitions (string, function, thread) and\n"
"  blocks are printed only when --type names them. Decoding the output of\n"
"  memtrace-filter with the same selection prints the same other records.\n"
"\n"
"OUTPUT\n"
"  Text: one line per record: seconds since the trace's start (9 decimals),\n"
"  the thread (T1), the record type, then its fields with ids resolved:\n"
"      0.000123456 T1 call work (work.py:10)\n"
"      0.000123900 T1 line work.py:12 in work\n"
"      0.000124000 T1 alloc obj 0x7f3a00001000 1.5 KiB (1536 B)\n"
"      0.000125000 T1 counters rss_bytes=12.0 MiB (12582912 B), threads=3\n"
"      - - string sid=3 \"work.py\"\n"
"  Definitions (string, function, thread) have no time: '-'.\n"
"\n"
"  --json: keys in this order: \"type\"; \"t\" (ticks since the anchor) and\n"
"  \"time_s\" for all but string/function/thread; \"tid\" for data records;\n"
"  then per type:\n"
"    call ccall return creturn craise unwind: fid, name (\"<fn#N>\" if unknown)\n"
"    line: line     raise: type_sid, exc     rss: rss_bytes\n"
"    obj_new obj_del: addr (\"0x..\"), type_sid, type_name\n"
"    alloc: domain, addr, size   free: domain, addr\n"
"    realloc: domain, old_addr, addr, size\n"
"    block: depth, stack (fids, outermost first)\n"
"    string: sid, text   function: fid, kind, qualname, module, file, first_line\n"
"    thread: tid, native_id, name    thread_start thread_end: tid\n"
"    marker: text    counters: counters {name: value}\n"
"    proc_sample: pid, ppid, name, cmdline, counters   proc_exit: pid, status\n"
"    lost: events, bytes, reason   summary: reason, counters\n"
"    unknown: raw_type, len, hex\n"
"  Strings are escaped; bytes that are not UTF-8 become \\u00XX.\n"
"  JSON Lines carry records only: a trace that cannot be read at all prints\n"
"  nothing on stdout (its reason goes to stderr, exit 1), so that every\n"
"  line a consumer reads is a record.\n"
"\n"
"  --csv columns: type,t,time_s,tid,fid,name,line,domain,addr,old_addr,\n"
"  size,value,text. Every row fills type (and t,time_s,tid when it has a\n"
"  time); the rest by type:\n"
"    call family: fid, name, line (first line), text (file)\n"
"    line: fid, name (current function), line, text (file)\n"
"    raise: name (exception), value (sid)\n"
"    obj_new obj_del: name (type), addr, value (sid)\n"
"    rss: size    alloc: domain, addr, size    free: domain, addr\n"
"    realloc: domain, addr, old_addr, size\n"
"    block: value (depth), text (fids, space separated)\n"
"    string: value (sid), text    function: fid, name, line, value (kind\n"
"    0 python, 1 c), text (file)    thread: tid, name, value (native id)\n"
"    marker: text    counters: text (\"name=value;...\")\n"
"    proc_sample: name, value (pid), text (\"ppid=..;cmdline=..;counters\")\n"
"    proc_exit: value (pid), text (\"status=N\")\n"
"    lost: size (bytes), value (events), text (reason)\n"
"    summary: text (\"reason=..;counters\")\n"
"    unknown: size (len), value (raw type), text (hex)\n"
"\n"
"CHECK\n"
"  --check decodes every record and prints, per FILE, one line:\n"
"      x.trace: ok, 12 chunks, 345678 records, closed\n"
"      x.trace: damaged: 2 of 12 chunks damaged (chunk 3 at byte 1234:\n"
"               checksum mismatch; ...), 40000 bytes skipped, closed\n"
"  \"not closed (no index: the writer did not finish)\" is not damage.\n"
"\n"
"EXIT STATUS\n"
"  0 the trace is intact; 1 damage or an error (messages on stderr, each\n"
"  naming the file and the byte offset); 2 bad usage.\n";

enum mode { MODE_TEXT, MODE_JSON, MODE_CSV };

/* Up to this many damage descriptions go into a --check verdict. */
#define CHECK_MAX_MSGS 3

static void report_damage(const mt_reader *r, const char *name) {
    mt_cli_error("%s: %s", name, mt_cli_reader_msg(r, name));
}

static const char *display_name(const char *path) {
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

static int decode_file(const char *path, enum mode mode, mt_select *sel) {
    mt_reader *r;
    if (mt_cli_open_trace(&r, path) < 0) return 1;
    mt_select_bind(sel, mt_reader_header(r), usage_text);
    const char *name = display_name(path);
    mt_out *o = &mt_stdout;
    void (*fmt)(mt_out *, mt_reader *, const mt_record *) =
        mode == MODE_JSON ? mt_recfmt_json
        : mode == MODE_CSV ? mt_recfmt_csv
                           : mt_recfmt_text;
    if (mode == MODE_CSV) mt_recfmt_csv_header(o);

    int status = 0, rc;
    mt_record rec;
    while ((rc = mt_reader_next(r, &rec)) != 0) {
        if (rc < 0) {
            report_damage(r, name);
            status = 1;
            if (mt_reader_fatal(r)) break;
            continue;
        }
        if (mt_select_record(sel, r, &rec)) fmt(o, r, &rec);
    }
    mt_reader_close(r);
    return status;
}

static int print_header(const char *path, enum mode mode) {
    mt_reader *r;
    if (mt_cli_open_trace(&r, path) < 0) return 1;
    const mt_header *h = mt_reader_header(r);
    if (mode == MODE_JSON)
        mt_recfmt_header_json(&mt_stdout, h);
    else
        mt_recfmt_header_text(&mt_stdout, h, display_name(path));
    /* The header printed may be its copy: say so, and exit 1. */
    mt_reader_stats st;
    mt_reader_stats_get(r, &st);
    if (st.header_damaged) report_damage(r, display_name(path));
    mt_reader_close(r);
    return st.header_damaged ? 1 : 0;
}

/* Append to a fixed buffer, truncating quietly. */
static void cat(char *buf, size_t cap, size_t *len, const char *s) {
    size_t n = strlen(s);
    if (*len + n >= cap) n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = 0;
}

static int check_file(const char *path) {
    mt_reader *r;
    const char *name = display_name(path);
    if (mt_cli_open_trace(&r, path) < 0) {
        /* The reason is on stderr; stdout keeps one verdict per file. */
        mt_out_puts(&mt_stdout, name);
        MT_OUT_LIT(&mt_stdout, ": unreadable\n");
        return 1;
    }
    char msgs[1024] = "";
    size_t msgs_len = 0;
    uint64_t nmsgs = 0, records = 0;
    int rc, fatal = 0;
    mt_record rec;
    while ((rc = mt_reader_next(r, &rec)) != 0) {
        if (rc > 0) {
            records++;
            continue;
        }
        if (nmsgs < CHECK_MAX_MSGS) {
            if (nmsgs) cat(msgs, sizeof msgs, &msgs_len, "; ");
            /* Up to "; ": the verdict sums up skipped bytes itself. */
            char one[512];
            snprintf(one, sizeof one, "%s", mt_cli_reader_msg(r, name));
            char *semi = strstr(one, "; ");
            if (semi) *semi = 0;
            cat(msgs, sizeof msgs, &msgs_len, one);
        } else if (nmsgs == CHECK_MAX_MSGS) {
            cat(msgs, sizeof msgs, &msgs_len, "; ...");
        }
        nmsgs++;
        if (mt_reader_fatal(r)) {
            fatal = 1;
            break;
        }
    }
    mt_reader_stats st;
    mt_reader_stats_get(r, &st);
    mt_reader_close(r);

    char line[2048];
    int damaged = nmsgs > 0 || st.damaged_chunks > 0;
    if (!damaged) {
        snprintf(line, sizeof line, "%s: ok, %llu chunks, %llu records",
                 name, (unsigned long long)st.chunks,
                 (unsigned long long)records);
    } else if (st.damaged_chunks > 0) {
        snprintf(line, sizeof line,
                 "%s: damaged: %llu of %llu chunks damaged (%s), "
                 "%llu bytes skipped, %llu records read",
                 name, (unsigned long long)st.damaged_chunks,
                 (unsigned long long)(st.chunks + st.damaged_chunks), msgs,
                 (unsigned long long)st.damaged_bytes,
                 (unsigned long long)records);
    } else { /* e.g. a damaged index: every chunk decoded */
        snprintf(line, sizeof line,
                 "%s: damaged: %s; all %llu chunks intact, %llu records read",
                 name, msgs, (unsigned long long)st.chunks,
                 (unsigned long long)records);
    }
    mt_out_puts(&mt_stdout, line);
    if (st.closed && !fatal)
        MT_OUT_LIT(&mt_stdout, ", closed\n");
    else
        MT_OUT_LIT(&mt_stdout,
                   ", not closed (no index: the writer did not finish)\n");
    return damaged;
}

int main(int argc, char **argv) {
    enum { OPT_JSON = 256, OPT_CSV, OPT_HEADER, OPT_CHECK };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"csv", no_argument, NULL, OPT_CSV},
        {"header", no_argument, NULL, OPT_HEADER},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        MT_SELECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    mt_cli_init("memtrace-decode");
    mt_select *sel = mt_select_new();
    if (!sel) mt_cli_die(1, "out of memory");
    enum mode mode = MODE_TEXT;
    int json = 0, csv = 0, header = 0, check = 0, c;
    opterr = 0; /* we word the messages ourselves */
    while ((c = mt_cli_getopt(argc, argv, "hV", longopts, usage_text)) != -1) {
        if (mt_select_getopt(sel, c, optarg, usage_text)) continue;
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_CSV: csv = 1; break;
        case OPT_HEADER: header = 1; break;
        case OPT_CHECK: check = 1; break;
        case 'h':
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        case 'V':
            printf("memtrace-decode (memtrace) %s, trace format %d.%d\n",
                   MT_LIBRARY_VERSION, MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
            return fflush(stdout) == 0 ? 0 : 1;
        default:
            mt_cli_bad_option(usage_text, argv, optind, optopt);
        }
    }
    if (json && csv)
        mt_cli_usage_error(usage_text, "--json and --csv exclude each other");
    if (check && (json || csv || header || mt_select_active(sel)))
        mt_cli_usage_error(usage_text, "--check takes no other option");
    if (header && mt_select_active(sel))
        mt_cli_usage_error(usage_text, "--header takes no selection option");
    if (header && csv)
        mt_cli_usage_error(usage_text, "--header has no CSV form");
    mode = json ? MODE_JSON : csv ? MODE_CSV : MODE_TEXT;
    int nfiles = argc - optind;
    if (nfiles < 1) mt_cli_usage_error(usage_text, "no trace file given");
    if (nfiles > 1 && !check)
        mt_cli_usage_error(usage_text,
                           "one trace file at a time (--check takes several)");

    mt_cli_guard_output(NULL, argv + optind, nfiles);
    int status = 0;
    if (check) {
        for (int i = optind; i < argc; i++) status |= check_file(argv[i]);
    } else if (header) {
        status = print_header(argv[optind], mode);
    } else {
        status = decode_file(argv[optind], mode, sel);
    }
    mt_select_free(sel);
    status |= mt_out_finish(&mt_stdout);
    return status;
}

/*
 * mt_cli.h - what the memtrace command-line tools share.
 *
 * memtrace-decode, memtrace-analyze, memtrace-filter and memtrace-diff all
 * print a lot of text fast, speak the same diagnostics and units, and open
 * traces the same way. This header gives them:
 *
 *   - messages:  mt_cli_error("cannot open '%s': %s", ...) prints
 *                "memtrace-decode: cannot open 'x': ..." on stderr;
 *   - mt_out:    a buffered writer with its own number, unit and escaping
 *                formatters (printf costs ~10x more per field), which
 *                treats a closed pipe (`| head`) as a quiet end;
 *   - units:     "1.5 KiB", "1.200 ms", seconds with 9 decimals from ticks;
 *   - parsers:   sizes ("64MiB"), durations ("1.5s", "200ms"), integers,
 *                for option values;
 *   - names:     clock, content bits, LOST and SUMMARY reasons;
 *   - mt_cli_open_trace(): '-' means stdin; missing paths and directories
 *                get a plain message before the library ever sees them.
 *
 * All of it is single-threaded: one process prints through one mt_out.
 */
#ifndef MT_CLI_H
#define MT_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "memtrace_format.h"

/* ---- Messages ----------------------------------------------------------- */

/* The program name that prefixes every message; set once by main. */
extern const char *mt_cli_prog;

/* "prog: <message>\n" on stderr. Flushes mt_stdout first so that data and
 * diagnostics keep their order on a terminal. */
void mt_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mt_cli_verror(const char *fmt, va_list ap);

/* The text of the last message printed by mt_cli_error (without the
 * program name), "" if none: for a JSON document that must say why it has
 * no report. */
const char *mt_cli_last_error(void);

/* Print the message and exit(status). */
_Noreturn void mt_cli_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A usage error: "prog: <message>", then "prog: see prog --help" (not the
 * whole help: the reason stays visible), on stderr; exit 2. usage: unused,
 * kept so that callers name their help text. */
_Noreturn void mt_cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* getopt_long() with the rules of every memtrace tool: options before or
 * after operands (unless shortopts starts with '+'), long options spelt in
 * full (an abbreviation is refused, naming the option it would have been:
 * abbreviations change meaning when options are added), and every mistake a
 * usage error worded here (exit 2). Returns what getopt_long returns, never
 * '?' or ':'. */
int mt_cli_getopt(int argc, char *const argv[], const char *shortopts,
                  const struct option *longopts, const char *usage);

/* After getopt_long() returned '?': say what was wrong with the option at
 * argv[optind - 1] - unknown, a long option that needs a value, or one
 * given "=value" that takes none - then the usage text; exit 2. */
_Noreturn void mt_cli_bad_option(const char *usage, char *const *argv, int optind,
                                 int optopt);

/* ---- Buffered output ---------------------------------------------------- */

#define MT_OUT_BYTES (1u << 16)

typedef struct mt_out {
    char *pos, *end; /* free space: [pos, end) of buf */
    int fd;
    int err;          /* first errno of a failed write, 0 if none */
    int quiet_epipe;  /* 1: EPIPE ends the process with status 0, silently */
    const char *name; /* for messages: "standard output" */
    char buf[MT_OUT_BYTES];
} mt_out;

/* Standard output, ready to use (quiet on EPIPE). SIGPIPE is ignored by
 * mt_cli_init so that a closed pipe shows up as EPIPE here. */
extern mt_out mt_stdout;

/* Set the program name and ignore SIGPIPE. Call first in main. */
void mt_cli_init(const char *prog);

/* Write out what is buffered. Returns 0, or -1 with o->err set. */
int mt_out_flush(mt_out *o);
/* Flush and report a write error ("prog: error writing standard output:
 * ..."). Returns 0 or 1, meant as an exit status to OR in. */
int mt_out_finish(mt_out *o);

void mt_out_write_slow(mt_out *o, const void *p, size_t n);

/* Make room for n bytes (n <= MT_OUT_BYTES). */
static inline void mt_out_reserve(mt_out *o, size_t n) {
    if ((size_t)(o->end - o->pos) < n) mt_out_flush(o);
}
static inline void mt_out_write(mt_out *o, const void *p, size_t n) {
    if ((size_t)(o->end - o->pos) >= n) {
        memcpy(o->pos, p, n);
        o->pos += n;
    } else {
        mt_out_write_slow(o, p, n);
    }
}
static inline void mt_out_putc(mt_out *o, char c) {
    if (o->pos == o->end) mt_out_flush(o);
    *o->pos++ = c;
}
/* A NUL-terminated string. One copying pass: the strings printed per record
 * (names, files) are short, and strlen + memcpy costs two passes and a call. */
static inline void mt_out_puts(mt_out *o, const char *s) {
    char *p = o->pos, *end = o->end;
    while (*s) {
        if (p == end) {
            o->pos = p;
            mt_out_flush(o);
            p = o->pos;
            end = o->end;
        }
        *p++ = *s++;
    }
    o->pos = p;
}
/* A string literal, its length known at compile time. */
#define MT_OUT_LIT(o, lit) mt_out_write((o), "" lit, sizeof(lit) - 1)

/* Numbers. */
void mt_out_u64(mt_out *o, uint64_t v);
void mt_out_i64(mt_out *o, int64_t v);
void mt_out_hex(mt_out *o, uint64_t v); /* "0x7f3a..." lowercase */
/* ticks / ticks_per_second in seconds with exactly 9 decimals, rounded to
 * nearest: "0.000123456" (what printf("%.9f") of the quotient gives). */
void mt_out_seconds(mt_out *o, uint64_t ticks, uint64_t ticks_per_second);

/* Strings. len bytes, not NUL-terminated; s may be NULL when len is 0. */
/* JSON string with quotes: control bytes as \u00XX, invalid UTF-8 bytes as
 * \u00XX of the byte (so any bytes survive, and valid text is unchanged). */
void mt_out_json_str(mt_out *o, const char *s, size_t len);

/* JSON object members, "key":value; the caller writes braces and commas. */
static inline void mt_out_json_key(mt_out *o, const char *k) {
    mt_out_json_str(o, k, strlen(k));
    mt_out_putc(o, ':');
}
static inline void mt_out_json_kstr(mt_out *o, const char *k, const char *v) {
    mt_out_json_key(o, k);
    mt_out_json_str(o, v ? v : "", v ? strlen(v) : 0);
}
static inline void mt_out_json_ku(mt_out *o, const char *k, uint64_t v) {
    mt_out_json_key(o, k);
    mt_out_u64(o, v);
}
static inline void mt_out_json_ki(mt_out *o, const char *k, int64_t v) {
    mt_out_json_key(o, k);
    mt_out_i64(o, v);
}
static inline void mt_out_json_kbool(mt_out *o, const char *k, int v) {
    mt_out_json_key(o, k);
    mt_out_puts(o, v ? "true" : "false");
}
/* RFC 4180 field: quoted (and quotes doubled) only if it holds , " CR LF. */
void mt_out_csv_str(mt_out *o, const char *s, size_t len);
/* For text output: the JSON escaping, so one record stays on one line. */
#define mt_out_text_str mt_out_json_str

/* Units. */
/* "512 B", "1.5 KiB", "12.0 MiB" ... (binary prefixes, one decimal). */
void mt_out_bytes(mt_out *o, uint64_t bytes);
/* mt_out_bytes and then the exact count when it differs: "1.5 KiB (1536 B)". */
void mt_out_bytes_exact(mt_out *o, uint64_t bytes);
/* "850 ns", "12.500 us", "1.200 ms", "3.000 s". */
void mt_out_ns(mt_out *o, uint64_t ns);

/* ---- Formatting into a buffer (for printf-style callers) ---------------- */

#define MT_FMT_BYTES 48
/* The same texts as above, NUL-terminated in buf; return buf. */
char *mt_fmt_bytes(char buf[MT_FMT_BYTES], uint64_t bytes);
char *mt_fmt_ns(char buf[MT_FMT_BYTES], uint64_t ns);
/* UNIX ns as UTC ISO-8601 with ns: "2026-11-21T09:19:32.123456789Z". */
char *mt_fmt_utc(char buf[MT_FMT_BYTES], int64_t unix_ns);

/* ---- Option values ------------------------------------------------------ */

/* Each returns 0 and sets *out, or -1 on a malformed or out-of-range value
 * (the caller reports it as a usage error). Surrounding spaces are refused. */
int mt_cli_parse_u64(const char *s, uint64_t *out); /* decimal or 0x hex */
/* A byte count: "4096", "64k", "64KiB", "1.5M", "2GB" (k/K = 1024). */
int mt_cli_parse_bytes(const char *s, uint64_t *out);
/* A duration in ns: "1.5" (seconds), "1.5s", "200ms", "30us", "10ns",
 * "2m" (minutes), "1h". */
int mt_cli_parse_duration(const char *s, uint64_t *out_ns);

/* ---- Times: --from and --to ---------------------------------------------- */

/* One syntax for every tool's --from/--to: a time relative to the trace's
 * anchor (its start, the time_s decode prints) - "1.5" (seconds), "1.5s",
 * "200ms", "30us", "10ns", "2m", "1h" - or an absolute time: "@1732180772.25"
 * (UNIX seconds) or "2026-11-21T09:19:32.5Z" (ISO-8601 UTC, Z required). */
typedef struct mt_cli_time {
    int set, absolute;
    uint64_t rel_ns;  /* !absolute */
    int64_t unix_ns;  /* absolute */
} mt_cli_time;

/* For --help texts and messages. */
#define MT_CLI_TIME_EXAMPLES "1.5, 200ms, 2m, @1732180772.25 or 2026-11-21T09:19:32Z"

/* Parse s into *t (set). Returns 0, or -1 when s is not a time. */
int mt_cli_parse_time(const char *s, mt_cli_time *t);
/* The same for the value of option opt ("from", "to"); a bad value is a
 * usage error: "invalid time 'X' for --from (want e.g. ...)", exit 2. */
void mt_cli_time_option(mt_cli_time *t, const char *opt, const char *arg,
                        const char *usage);
/* ns since the anchor of the trace whose header is h; an absolute time
 * before the anchor is 0. */
uint64_t mt_cli_time_ns(const mt_cli_time *t, const mt_header *h);

/* ---- Names -------------------------------------------------------------- */

const char *mt_cli_clock_name(uint32_t clock);       /* "monotonic", "tsc", "clock7" */
const char *mt_cli_lost_reason_name(uint32_t reason); /* "buffer_full", ... */
const char *mt_cli_end_reason_name(uint32_t reason);  /* "stop", "exit", ... */
/* Name of content bit i (0..31): "calls", "ccalls", ...; NULL if unknown. */
const char *mt_cli_content_name(unsigned bit);
/* Does a counter name carry a unit? 'b' bytes, 'n' nanoseconds, 0 none. */
int mt_cli_counter_unit(uint32_t id);

/* ---- Opening traces ----------------------------------------------------- */

/* Open path for reading ('-': standard input, named "<stdin>"). On failure
 * print one message (what, which file, where) and return a negative code;
 * *r is then NULL. */
int mt_cli_open_trace(mt_reader **r, const char *path);
/* The reader's last message without the leading "<name>: " when present. */
const char *mt_cli_reader_msg(const mt_reader *r, const char *name);

/* ---- Progress ----------------------------------------------------------- */

/* An mt_analysis progress callback (ctx: the file's name): once a reading
 * has taken 2 s (MEMTRACE_PROGRESS_AFTER_MS, for tests), and only when
 * stderr is a terminal, one line on stderr,
 * rewritten in place: "prog: reading FILE: pass 1 of 2, 45%". Call
 * mt_cli_progress_done() before printing anything else: it clears the line
 * (if one was shown). */
void mt_cli_progress(void *ctx, int pass, uint64_t done_bytes, uint64_t total_bytes);
void mt_cli_progress_done(void);

/* ---- Never overwrite an input ------------------------------------------- */

/* Before a tool writes anything: refuse when its output is one of its
 * inputs. out is a path (checked when it exists: stat dev/ino, so symlinks
 * and hard links are caught; a path that does not exist yet cannot be an
 * existing input) or NULL / "-" for standard output (checked when that is a
 * regular file, as `tool x.trace >> x.trace` would be). Inputs named "-"
 * are skipped. On a clash print "refusing to write 'OUT': it is the input
 * 'IN'" and exit 1 (nothing was written). */
void mt_cli_guard_output(const char *out, char *const *inputs, int ninputs);

#endif /* MT_CLI_H */

/*
 * mt_cli.c - messages, buffered output, units and option values shared by
 * the memtrace command-line tools. See mt_cli.h.
 */
#include "mt_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Set once by main before anything else runs; read-only afterwards. */
const char *mt_cli_prog = "memtrace";

/* The process's one standard output buffer (main thread only). */
mt_out mt_stdout = {
    .pos = mt_stdout.buf,
    .end = mt_stdout.buf + MT_OUT_BYTES,
    .fd = 1,
    .quiet_epipe = 1,
    .name = "standard output",
};

void mt_cli_init(const char *prog) {
    const char *slash = prog ? strrchr(prog, '/') : NULL;
    if (prog) mt_cli_prog = slash ? slash + 1 : prog;
    /* A closed pipe must come back as EPIPE from write(2), so that
     * `memtrace-decode x | head` ends quietly instead of by a signal that
     * some shells report. */
    signal(SIGPIPE, SIG_IGN);
}

/* ---- Messages ----------------------------------------------------------- */

/* The last message printed (main thread only): --json reports repeat it. */
static char last_msg[4096];

const char *mt_cli_last_error(void) { return last_msg; }

void mt_cli_progress_done(void);
void mt_cli_verror(const char *fmt, va_list ap) {
    mt_cli_progress_done();
    mt_out_flush(&mt_stdout);
    char *msg = last_msg;
    vsnprintf(msg, sizeof last_msg, fmt, ap);
    fprintf(stderr, "%s: %s\n", mt_cli_prog, msg);
    fflush(stderr);
}

void mt_cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mt_cli_verror(fmt, ap);
    va_end(ap);
}

_Noreturn void mt_cli_die(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mt_cli_verror(fmt, ap);
    va_end(ap);
    mt_out_flush(&mt_stdout);
    exit(status);
}

_Noreturn void mt_cli_usage_error(const char *usage, const char *fmt, ...) {
    (void)usage; /* the reason and where the help is, not the help itself */
    va_list ap;
    va_start(ap, fmt);
    mt_cli_verror(fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: see %s --help\n", mt_cli_prog, mt_cli_prog);
    exit(2);
}

/* ---- Buffered output ---------------------------------------------------- */

static int out_write_all(mt_out *o, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(o->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE && o->quiet_epipe) {
                /* The reader went away (`| head`): nothing more to say and
                 * nobody to say it to. Diagnostics already went to stderr. */
                _exit(0);
            }
            o->err = errno;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int mt_out_flush(mt_out *o) {
    size_t n = (size_t)(o->pos - o->buf);
    o->pos = o->buf;
    if (n == 0 || o->err) return o->err ? -1 : 0;
    return out_write_all(o, o->buf, n);
}

void mt_out_write_slow(mt_out *o, const void *p, size_t n) {
    mt_out_flush(o);
    if (n >= MT_OUT_BYTES) {
        if (!o->err) out_write_all(o, p, n);
        return;
    }
    memcpy(o->pos, p, n);
    o->pos += n;
}

int mt_out_finish(mt_out *o) {
    if (mt_out_flush(o) == 0) return 0;
    mt_cli_error("error writing %s: %s", o->name, strerror(o->err));
    return 1;
}

/* ---- Numbers ------------------------------------------------------------ */

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Write v in decimal ending at end; return the start. */
static char *u64_digits(char *end, uint64_t v) {
    char *p = end;
    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = digit_pairs[i + 1];
        *--p = digit_pairs[i];
    }
    if (v >= 10) {
        unsigned i = (unsigned)v * 2;
        *--p = digit_pairs[i + 1];
        *--p = digit_pairs[i];
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

static unsigned u64_len(uint64_t v) {
    unsigned n = 1;
    while (v >= 10000) {
        v /= 10000;
        n += 4;
    }
    return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* The formatters below write straight into the buffer: these run several
 * times per record, and a copy through a temporary costs a libc call. */
void mt_out_u64(mt_out *o, uint64_t v) {
    mt_out_reserve(o, 24);
    unsigned n = u64_len(v);
    u64_digits(o->pos + n, v);
    o->pos += n;
}

void mt_out_i64(mt_out *o, int64_t v) {
    if (v < 0) {
        mt_out_putc(o, '-');
        mt_out_u64(o, (uint64_t)0 - (uint64_t)v);
    } else {
        mt_out_u64(o, (uint64_t)v);
    }
}

void mt_out_hex(mt_out *o, uint64_t v) {
    static const char hex[] = "0123456789abcdef";
    mt_out_reserve(o, 20);
    unsigned n = v ? (unsigned)(64 - __builtin_clzll(v) + 3) / 4 : 1;
    char *p = o->pos;
    p[0] = '0';
    p[1] = 'x';
    for (char *q = p + 2 + n; q > p + 2; v >>= 4) *--q = hex[v & 15];
    o->pos = p + 2 + n;
}

void mt_out_seconds(mt_out *o, uint64_t ticks, uint64_t tps) {
    if (tps == 0) tps = 1000000000u; /* a damaged header; say something */
    uint64_t sec, ns;
    if (tps == 1000000000u) { /* the common clock: exact and cheap */
        sec = ticks / 1000000000u;
        ns = ticks % 1000000000u;
    } else {
        /* Exact quotient rounded to the nearest ns: equals %.9f of the
         * double quotient except on exact ties, which cannot be told
         * apart at 9 decimals anyway. */
        sec = ticks / tps;
        unsigned __int128 rem = ticks % tps;
        ns = (uint64_t)((rem * 1000000000u + tps / 2) / tps);
        if (ns >= 1000000000u) {
            sec++;
            ns -= 1000000000u;
        }
    }
    mt_out_reserve(o, 32);
    unsigned n = u64_len(sec);
    char *p = o->pos;
    u64_digits(p + n, sec);
    p += n;
    *p++ = '.';
    /* 9 decimals: one digit, then four pairs. */
    uint32_t f = (uint32_t)ns;
    *p++ = (char)('0' + f / 100000000u);
    f %= 100000000u;
    for (int k = 3; k >= 0; k--) {
        unsigned i = (f % 100) * 2;
        f /= 100;
        p[2 * k] = digit_pairs[i];
        p[2 * k + 1] = digit_pairs[i + 1];
    }
    o->pos = p + 8;
}

/* ---- Strings ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

void mt_out_json_str(mt_out *o, const char *str, size_t len) {
    static const char hex[] = "0123456789abcdef";
    if (!str) str = ""; /* len is 0: an absent string prints as "" */
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0; /* s[run, i) is plain text not yet written */
    mt_out_putc(o, '"');
    while (i < len) {
        unsigned c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, len - i);
            if (k) {
                i += k;
                continue;
            }
        }
        mt_out_write(o, s + run, i - run);
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\t': esc[1] = 't'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        mt_out_write(o, esc, n);
        run = ++i;
    }
    mt_out_write(o, s + run, len - run);
    mt_out_putc(o, '"');
}

void mt_out_csv_str(mt_out *o, const char *s, size_t len) {
    int quote = 0;
    if (!s) s = "";
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ',' || c == '"' || c == '\r' || c == '\n') {
            quote = 1;
            break;
        }
    }
    if (!quote) {
        mt_out_write(o, s, len);
        return;
    }
    mt_out_putc(o, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            mt_out_write(o, s + run, i + 1 - run); /* the quote, then again */
            run = i;
        }
    }
    mt_out_write(o, s + run, len - run);
    mt_out_putc(o, '"');
}

/* ---- Units -------------------------------------------------------------- */

char *mt_fmt_bytes(char buf[MT_FMT_BYTES], uint64_t v) {
    static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
                                        "TiB", "PiB", "EiB"};
    if (v < 1024) {
        snprintf(buf, MT_FMT_BYTES, "%u B", (unsigned)v);
        return buf;
    }
    unsigned k = 1;
    while (k < 6 && v >= ((uint64_t)1 << (10 * (k + 1)))) k++;
    uint64_t unit = (uint64_t)1 << (10 * k);
    uint64_t tenths = (uint64_t)(((unsigned __int128)v * 10 + unit / 2) / unit);
    if (tenths >= 10240 && k < 6) { /* 1023.96 KiB rounds to 1.0 MiB */
        k++;
        unit <<= 10;
        tenths = (uint64_t)(((unsigned __int128)v * 10 + unit / 2) / unit);
    }
    snprintf(buf, MT_FMT_BYTES, "%llu.%u %s",
             (unsigned long long)(tenths / 10), (unsigned)(tenths % 10),
             units[k]);
    return buf;
}

char *mt_fmt_ns(char buf[MT_FMT_BYTES], uint64_t ns) {
    static const char *const units[] = {"ns", "us", "ms", "s"};
    if (ns < 1000) {
        snprintf(buf, MT_FMT_BYTES, "%u ns", (unsigned)ns);
        return buf;
    }
    unsigned k = 1;
    uint64_t unit = 1000;
    while (k < 3 && ns >= unit * 1000) {
        k++;
        unit *= 1000;
    }
    uint64_t milli = (uint64_t)(((unsigned __int128)ns * 1000 + unit / 2) / unit);
    if (milli >= 1000000 && k < 3) { /* 999.9996 us is 1.000 ms */
        k++;
        unit *= 1000;
        milli = (uint64_t)(((unsigned __int128)ns * 1000 + unit / 2) / unit);
    }
    snprintf(buf, MT_FMT_BYTES, "%llu.%03u %s",
             (unsigned long long)(milli / 1000), (unsigned)(milli % 1000),
             units[k]);
    return buf;
}

void mt_out_bytes(mt_out *o, uint64_t v) {
    if (v < 1024) { /* the common small case without snprintf */
        mt_out_u64(o, v);
        MT_OUT_LIT(o, " B");
        return;
    }
    char buf[MT_FMT_BYTES];
    mt_out_puts(o, mt_fmt_bytes(buf, v));
}

void mt_out_bytes_exact(mt_out *o, uint64_t v) {
    mt_out_bytes(o, v);
    if (v >= 1024) {
        MT_OUT_LIT(o, " (");
        mt_out_u64(o, v);
        MT_OUT_LIT(o, " B)");
    }
}

void mt_out_ns(mt_out *o, uint64_t ns) {
    char buf[MT_FMT_BYTES];
    mt_out_puts(o, mt_fmt_ns(buf, ns));
}

char *mt_fmt_utc(char buf[MT_FMT_BYTES], int64_t unix_ns) {
    int64_t sec = unix_ns / 1000000000;
    int64_t ns = unix_ns % 1000000000;
    if (ns < 0) { /* before 1970: floor, so the fraction stays positive */
        ns += 1000000000;
        sec--;
    }
    time_t tt = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(buf, MT_FMT_BYTES, "@%lld", (long long)unix_ns);
        return buf;
    }
    size_t n = strftime(buf, MT_FMT_BYTES, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, MT_FMT_BYTES - n, ".%09lldZ", (long long)ns);
    return buf;
}

/* ---- Option values ------------------------------------------------------ */

int mt_cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

/* Parse a non-negative decimal number with an optional fraction; *rest is
 * what follows it. */
static int parse_decimal(const char *s, long double *v, const char **rest) {
    if (!s || !(*s >= '0' && *s <= '9') ) {
        if (!(s && *s == '.' && s[1] >= '0' && s[1] <= '9')) return -1;
    }
    char *end;
    errno = 0;
    *v = strtold(s, &end);
    if (errno || end == s) return -1;
    /* strtold also takes "inf", "nan" and exponents: refuse the first two. */
    for (const char *p = s; p < end; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' ||
              *p == 'E' || *p == '+' || *p == '-'))
            return -1;
    *rest = end;
    return 0;
}

int mt_cli_parse_bytes(const char *s, uint64_t *out) {
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0},     {"B", 0},     {"k", 10},    {"K", 10},    {"KB", 10},
        {"KiB", 10}, {"kB", 10},   {"kiB", 10},  {"M", 20},    {"MB", 20},
        {"MiB", 20}, {"G", 30},    {"GB", 30},   {"GiB", 30},  {"T", 40},
        {"TB", 40},  {"TiB", 40},
    };
    long double v;
    const char *rest;
    if (parse_decimal(s, &v, &rest) < 0) return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(rest, units[i].suffix) == 0) {
            long double b = v * (long double)((uint64_t)1 << units[i].shift);
            if (b >= 18446744073709551615.0L) return -1;
            *out = (uint64_t)(b + 0.5L);
            return 0;
        }
    }
    return -1;
}

int mt_cli_parse_duration(const char *s, uint64_t *out_ns) {
    static const struct { const char *suffix; long double ns; } units[] = {
        {"", 1e9L},  {"s", 1e9L},  {"ms", 1e6L}, {"us", 1e3L},
        {"ns", 1.0L}, {"m", 60e9L}, {"min", 60e9L}, {"h", 3600e9L},
    };
    long double v;
    const char *rest;
    if (parse_decimal(s, &v, &rest) < 0) return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(rest, units[i].suffix) == 0) {
            long double ns = v * units[i].ns;
            if (ns >= 18446744073709551615.0L) return -1;
            *out_ns = (uint64_t)(ns + 0.5L);
            return 0;
        }
    }
    return -1;
}

/* ---- Names -------------------------------------------------------------- */

static const char *numbered(char *buf, size_t n, const char *prefix,
                            uint32_t v) {
    snprintf(buf, n, "%s%u", prefix, (unsigned)v);
    return buf;
}

const char *mt_cli_clock_name(uint32_t clock) {
    static char buf[32]; /* single-threaded tools: see the file comment */
    switch (clock) {
    case MT_CLOCK_MONOTONIC: return "monotonic";
    case MT_CLOCK_TSC: return "tsc";
    default: return numbered(buf, sizeof buf, "clock", clock);
    }
}

const char *mt_cli_lost_reason_name(uint32_t reason) {
    static char buf[32];
    switch (reason) {
    case MT_LOST_BUFFER_FULL: return "buffer_full";
    case MT_LOST_WRITE_ERROR: return "write_error";
    default: return numbered(buf, sizeof buf, "reason", reason);
    }
}

const char *mt_cli_end_reason_name(uint32_t reason) {
    static char buf[32];
    switch (reason) {
    case MT_END_STOP: return "stop";
    case MT_END_EXIT: return "exit";
    case MT_END_ERROR: return "error";
    case MT_END_TARGET_EXIT: return "target_exit";
    case MT_END_SIGNAL: return "signal";
    default: return numbered(buf, sizeof buf, "reason", reason);
    }
}

const char *mt_cli_content_name(unsigned bit) {
    static const char *const names[] = {"calls", "ccalls", "lines", "allocs",
                                        "rss",   "procs",  "objects"};
    return bit < sizeof names / sizeof names[0] ? names[bit] : NULL;
}

int mt_cli_counter_unit(uint32_t id) {
    const char *name = mt_counter_name(id);
    if (!name) return 0;
    size_t n = strlen(name);
    if (n > 6 && strcmp(name + n - 6, "_bytes") == 0) return 'b';
    if (n > 3 && strcmp(name + n - 3, "_ns") == 0) return 'n';
    return 0;
}

/* ---- Opening traces ----------------------------------------------------- */

const char *mt_cli_reader_msg(const mt_reader *r, const char *name) {
    const char *msg = r ? mt_reader_errmsg(r) : NULL;
    if (!msg) return "";
    size_t n = strlen(name);
    if (strncmp(msg, name, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

int mt_cli_open_trace(mt_reader **r, const char *path) {
    *r = NULL;
    int rc;
    const char *name = path;
    if (strcmp(path, "-") == 0) {
        name = "<stdin>";
        rc = mt_reader_open_fd(r, 0, name);
    } else {
        /* Say plainly what the library would only call an I/O error. */
        struct stat st;
        if (stat(path, &st) < 0) {
            mt_cli_error("cannot open '%s': %s", path, strerror(errno));
            return MT_ERR_IO;
        }
        if (S_ISDIR(st.st_mode)) {
            mt_cli_error("cannot read '%s': Is a directory", path);
            return MT_ERR_IO;
        }
        errno = 0;
        rc = mt_reader_open(r, path);
    }
    if (rc >= 0) return rc;
    int err = errno;
    if (*r) {
        mt_cli_error("%s: %s", name, mt_cli_reader_msg(*r, name));
        mt_reader_close(*r);
        *r = NULL;
    } else if (rc == MT_ERR_IO && err) {
        mt_cli_error("cannot open '%s': %s", name, strerror(err));
    } else {
        mt_cli_error("%s: %s", name, mt_strerror(rc));
    }
    return rc;
}

void mt_cli_guard_output(const char *out, char *const *inputs, int ninputs) {
    struct stat o, in;
    int to_stdout = !out || strcmp(out, "-") == 0;
    if (to_stdout) {
        /* A terminal, a pipe or /dev/null cannot be a trace being read. */
        if (fstat(1, &o) != 0 || !S_ISREG(o.st_mode)) return;
    } else if (stat(out, &o) != 0) {
        return; /* does not exist (yet): no existing input is behind it */
    }
    for (int i = 0; i < ninputs; i++) {
        if (!inputs[i] || strcmp(inputs[i], "-") == 0) continue;
        if (stat(inputs[i], &in) != 0) continue; /* reported when opened */
        if (in.st_dev != o.st_dev || in.st_ino != o.st_ino) continue;
        if (to_stdout)
            mt_cli_die(1, "refusing to write standard output: it is the input '%s'",
                       inputs[i]);
        mt_cli_die(1, "refusing to write '%s': it is the input '%s'", out, inputs[i]);
    }
}

void mt_cli_bad_option(const char *usage, char *const *argv, int optind, int optopt) {
    const char *a = argv[optind - 1];
    if (optopt > 0 && optopt < 256) mt_cli_usage_error(usage, "unknown option '-%c'", optopt);
    if (optopt >= 256) { /* a long option getopt knows: its value is the problem */
        const char *eq = strchr(a, '=');
        if (eq) mt_cli_usage_error(usage, "option '%.*s' takes no value", (int)(eq - a), a);
        mt_cli_usage_error(usage, "option '%s' needs a value", a);
    }
    mt_cli_usage_error(usage, "unknown option '%s'", a);
}

int mt_cli_getopt(int argc, char *const argv[], const char *shortopts,
                  const struct option *longopts, const char *usage) {
    char spec[128];
    size_t k = 0;
    if (*shortopts == '+') spec[k++] = *shortopts++;
    spec[k++] = ':'; /* a missing value returns ':', not '?' */
    snprintf(spec + k, sizeof spec - k, "%s", shortopts);
    opterr = 0;
    int idx = -1;
    int c = getopt_long(argc, argv, spec, longopts, &idx);
    if (c == ':') {
        const char *a = argv[optind - 1];
        if (a[0] == '-' && a[1] != '-' && optopt > 0 && optopt < 256)
            mt_cli_usage_error(usage, "option '-%c' needs a value", optopt);
        mt_cli_usage_error(usage, "option '%s' needs a value", a);
    }
    if (c == '?') mt_cli_bad_option(usage, argv, optind, optopt);
    if (c != -1 && idx >= 0) {
        /* The element that held the option: the one before its value when
         * the value came separately. */
        const char *a = optarg && optind >= 2 && optarg == argv[optind - 1] ? argv[optind - 2]
                                                                           : argv[optind - 1];
        if (a[0] == '-' && a[1] == '-') {
            size_t n = strcspn(a + 2, "=");
            if (strlen(longopts[idx].name) != n)
                mt_cli_usage_error(usage,
                                   "unknown option '%.*s' (did you mean '--%s'? options are "
                                   "not abbreviated)",
                                   (int)n + 2, a, longopts[idx].name);
        }
    }
    return c;
}

/* ---- Progress ----------------------------------------------------------- */

static int progress_shown;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mt_cli_progress(void *ctx, int pass, uint64_t done, uint64_t total) {
    static uint64_t t0, last, after = 2000000000u;
    static int tty = -1;
    uint64_t t = now_ns();
    if (tty < 0) {
        tty = isatty(2);
        const char *e = getenv("MEMTRACE_PROGRESS_AFTER_MS");
        if (e && *e) after = strtoull(e, NULL, 10) * 1000000u;
        t0 = t;
    }
    if (!tty || t - t0 < after || (last && t - last < 200000000u)) return;
    last = t;
    unsigned pct = total ? (unsigned)(done * 100 / total) : 0;
    fprintf(stderr, "\r%s: reading %s: pass %d of %s, %u%%\033[K", mt_cli_prog,
            ctx ? (const char *)ctx : "the trace", pass, pass > 2 ? "3 (the heap's peak)" : "2",
            pct > 100 ? 100 : pct);
    fflush(stderr);
    progress_shown = 1;
}

void mt_cli_progress_done(void) {
    if (!progress_shown) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    progress_shown = 0;
}

/* ---- Times -------------------------------------------------------------- */

/* "YYYY-MM-DDTHH:MM:SS[.fraction]Z" to UNIX ns. */
static int parse_iso_utc(const char *s, int64_t *out) {
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || y < 1970)
        return -1;
    const char *p = s + n;
    int64_t frac_ns = 0;
    if (*p == '.') {
        int digits = 0;
        int64_t scale = 100000000;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            frac_ns += (*p - '0') * scale;
            scale /= 10;
        }
        if (digits == 0) return -1;
    }
    if (strcmp(p, "Z") != 0) return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    *out = (int64_t)t * 1000000000 + frac_ns;
    return 0;
}

int mt_cli_parse_time(const char *s, mt_cli_time *t) {
    uint64_t ns;
    mt_cli_time v = {1, 0, 0, 0};
    if (s[0] == '@') {
        /* UNIX seconds: the duration parser reads "1732180772.25" as s. */
        if (!(s[1] >= '0' && s[1] <= '9') || strspn(s + 1, "0123456789.") != strlen(s + 1) ||
            mt_cli_parse_duration(s + 1, &ns) < 0 || ns > INT64_MAX)
            return -1;
        v.absolute = 1;
        v.unix_ns = (int64_t)ns;
    } else if (strchr(s, 'T') && strchr(s, '-')) {
        if (parse_iso_utc(s, &v.unix_ns) < 0) return -1;
        v.absolute = 1;
    } else if (mt_cli_parse_duration(s, &ns) == 0) {
        v.rel_ns = ns;
    } else {
        return -1;
    }
    *t = v;
    return 0;
}

void mt_cli_time_option(mt_cli_time *t, const char *opt, const char *arg,
                        const char *usage) {
    if (mt_cli_parse_time(arg, t) < 0)
        mt_cli_usage_error(usage, "invalid time '%s' for --%s (want e.g. %s)", arg, opt,
                           MT_CLI_TIME_EXAMPLES);
}

uint64_t mt_cli_time_ns(const mt_cli_time *t, const mt_header *h) {
    if (!t->absolute) return t->rel_ns;
    return t->unix_ns > h->wall_ns ? (uint64_t)(t->unix_ns - h->wall_ns) : 0;
}

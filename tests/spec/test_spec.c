/*
 * test_spec.c - the hex examples of spec/FORMAT.md are test fixtures.
 *
 * usage: test_spec [-v] [--decode PATH] [--keep DIR] FORMAT.md
 *
 * Reads the spec at run time, so that the document and the code cannot drift
 * apart, and checks (Appendix C of the spec says the same in prose):
 *
 *   - the record examples of 5.4 (`hex example=def-*` and `rec-*`): the
 *     definitions become one definition chunk, the records data blocks (a new
 *     block at each BLOCK); a trace is written with the library's writer and
 *     decoded with `memtrace-decode --json`; each example's JSON lines must
 *     equal its `json expect=NAME` block;
 *   - the complete file of Appendix A (`file=small at=N` blocks): offsets,
 *     decoding, header, `zstd -t`;
 *   - the 1.2 file of A.7 (`file=copy` blocks: a header and its copy, then
 *     the small file's two chunks): decoding, no damage;
 *   - every bad file of Appendix B: the first error, message and records
 *     (rows named `copy-*` change the A.7 file, the others the small one);
 *   - the error table of section 8 against the enum of memtrace_format.h.
 *
 * Prints one line per failure and "N passed, N failed"; exits 0 when
 * nothing failed, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "memtrace_format.h"

/* ---- Small helpers ------------------------------------------------------ */

static int npassed, nfailed;
static const char *decode_path = "build/bin/memtrace-decode";
static int verbose; /* -v: print each bad file's outcome */
static char tmpdir[4096];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    nfailed++;
}

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    if (ok) {
        npassed++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    nfailed++;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_spec: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_spec: out of memory\n");
        exit(1);
    }
    return p;
}

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* A list of strings (lines). */
typedef struct strs {
    char **v;
    size_t n;
} strs;

static void strs_add(strs *s, const char *p, size_t n) {
    s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n] = xmalloc(n + 1);
    memcpy(s->v[s->n], p, n);
    s->v[s->n][n] = 0;
    s->n++;
}

static void strs_free(strs *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* JSON with the spaces outside strings removed, so that `{"a": 1}` and
 * `{"a":1}` compare equal. */
static char *json_norm(const char *s) {
    char *out = xmalloc(strlen(s) + 1), *o = out;
    int in_str = 0;
    for (; *s; s++) {
        if (in_str) {
            *o++ = *s;
            if (*s == '\\' && s[1]) *o++ = *++s;
            else if (*s == '"') in_str = 0;
        } else if (*s == '"') {
            in_str = 1;
            *o++ = *s;
        } else if (!isspace((unsigned char)*s)) {
            *o++ = *s;
        }
    }
    *o = 0;
    return out;
}

static int json_eq(const char *a, const char *b) {
    char *x = json_norm(a), *y = json_norm(b);
    int eq = strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

/* The integer value of "key": in a JSON line, or -1. */
static long long json_int(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *n = json_norm(line);
    const char *p = strstr(n, pat);
    long long v = p ? strtoll(p + strlen(pat), NULL, 10) : -1;
    free(n);
    return v;
}

/* ---- The spec's fenced blocks ------------------------------------------- */

typedef struct example {
    char name[64];
    char file[64]; /* file=NAME, or "" */
    long at;       /* at=N, or -1 */
    buf bytes;
} example;

typedef struct expect {
    char name[64];
    strs lines;
} expect;

static example *examples;
static size_t nexamples;
static expect *expects;
static size_t nexpects;
static strs bad_rows;   /* the table rows of Appendix B */
static strs error_rows; /* the table rows of section 8 */

static const char *attr(const char *info, const char *key, char *out,
                        size_t cap) {
    size_t kl = strlen(key);
    for (const char *p = info; (p = strstr(p, key)); p += kl) {
        if ((p == info || p[-1] == ' ') && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t n = strcspn(v, " \t\n");
            if (n >= cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return out;
        }
    }
    return NULL;
}

/* Leading tokens of exactly two hex digits, up to the first that is not. */
static int hex_line(const char *line, buf *b, int lineno) {
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
            (p[2] && !isspace((unsigned char)p[2])))
            break;
        unsigned v;
        if (sscanf(p, "%2x", &v) != 1) break;
        unsigned char c = (unsigned char)v;
        buf_add(b, &c, 1);
        p += 2;
    }
    if (p == line && *p) {
        fprintf(stderr, "test_spec: line %d: a hex line without bytes\n",
                lineno);
        return -1;
    }
    return 0;
}

static int parse_spec(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "test_spec: cannot open '%s': %s\n", path,
                strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    enum { NONE, HEX, JSON, OTHER } in = NONE;
    enum { SEC_OTHER, SEC_ERRORS, SEC_BAD } sec = SEC_OTHER;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (in != NONE) {
            if (strncmp(line, "```", 3) == 0) {
                in = NONE;
            } else if (in == HEX) {
                if (hex_line(line, &examples[nexamples - 1].bytes, lineno))
                    rc = -1;
            } else if (in == JSON && len) {
                strs_add(&expects[nexpects - 1].lines, line, (size_t)len);
            }
            continue;
        }
        if (strncmp(line, "## ", 3) == 0)
            sec = strncmp(line, "## 8.", 5) == 0               ? SEC_ERRORS
                  : strncmp(line, "## Appendix B", 13) == 0 ? SEC_BAD
                                                            : SEC_OTHER;
        char v[64];
        if (strncmp(line, "```hex ", 7) == 0 && attr(line, "example", v, sizeof v)) {
            examples = xrealloc(examples, (nexamples + 1) * sizeof *examples);
            example *e = &examples[nexamples++];
            memset(e, 0, sizeof *e);
            snprintf(e->name, sizeof e->name, "%s", v);
            if (attr(line, "file", v, sizeof v)) snprintf(e->file, sizeof e->file, "%s", v);
            e->at = attr(line, "at", v, sizeof v) ? atol(v) : -1;
            in = HEX;
        } else if (strncmp(line, "```json ", 8) == 0 &&
                   attr(line, "expect", v, sizeof v)) {
            expects = xrealloc(expects, (nexpects + 1) * sizeof *expects);
            expect *x = &expects[nexpects++];
            memset(x, 0, sizeof *x);
            snprintf(x->name, sizeof x->name, "%s", v);
            in = JSON;
        } else if (strncmp(line, "```", 3) == 0) {
            in = OTHER;
        } else if (sec == SEC_BAD && strncmp(line, "| `", 3) == 0) {
            strs_add(&bad_rows, line, (size_t)len);
        } else if (sec == SEC_ERRORS && strstr(line, "`MT_ERR_")) {
            strs_add(&error_rows, line, (size_t)len);
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static expect *find_expect(const char *name) {
    for (size_t i = 0; i < nexpects; i++)
        if (strcmp(expects[i].name, name) == 0) return &expects[i];
    return NULL;
}

/* ---- Running memtrace-decode -------------------------------------------- */

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Run argv[0] with its output as lines in *out; returns the exit status or
 * -1 if it could not run. */
static int run_lines(char *const argv[], strs *out) {
    int fds[2];
    if (pipe(fds)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        int null = open("/dev/null", 1);
        if (null >= 0) dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (f && (len = getline(&line, &cap, f)) >= 0) {
        while (len && line[len - 1] == '\n') line[--len] = 0;
        strs_add(out, line, (size_t)len);
    }
    free(line);
    if (f) fclose(f);
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int decode_json(const char *file, int header, strs *out) {
    char *argv[] = {(char *)decode_path, header ? "--header" : "--json",
                    header ? "--json" : (char *)file, header ? (char *)file : NULL,
                    NULL};
    return run_lines(argv, out);
}

/* ---- 5.4: the record examples ------------------------------------------- */

static long mem_sink(void *ctx, const void *p, size_t n) {
    buf_add(ctx, p, n);
    return (long)n;
}

/* The data examples, grouped into blocks: a block starts at an example whose
 * first byte is BLOCK (0x40). */
typedef struct block_acc {
    buf bytes;
    uint32_t nrecords;
    uint64_t t_first, t_last;
    int open;
} block_acc;

static int flush_block(mt_writer *w, block_acc *b) {
    int rc = 0;
    if (b->open)
        rc = mt_writer_append_block(w, b->bytes.p, b->bytes.n, b->nrecords,
                                    b->t_first, b->t_last);
    b->bytes.n = 0;
    b->nrecords = 0;
    b->open = 0;
    return rc;
}

static void test_records(void) {
    buf defs = {0}, file = {0};
    uint32_t ndefs = 0;
    strs want = {0};    /* expected lines, definitions first */
    size_t *owner = NULL; /* example index of each expected line */
    mt_header h;
    mt_writer *w = NULL;
    block_acc b = {0};
    int rc;

    mt_header_init(&h);
    h.producer = "test_spec";
    h.mode = "spec";
    if ((rc = mt_writer_open_sink(&w, mem_sink, &file, &h, NULL)) < 0) {
        fail("records: mt_writer_open_sink: %s", mt_strerror(rc));
        return;
    }
    /* Definitions first, as a writer must; then the data examples. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nexamples; i++) {
            example *e = &examples[i];
            int is_def = strncmp(e->name, "def-", 4) == 0;
            if (!(pass == 0 ? is_def : strncmp(e->name, "rec-", 4) == 0))
                continue;
            expect *x = find_expect(e->name);
            if (!x) {
                fail("%s: no json expect=%s block", e->name, e->name);
                continue;
            }
            for (size_t k = 0; k < x->lines.n; k++) {
                strs_add(&want, x->lines.v[k], strlen(x->lines.v[k]));
                owner = xrealloc(owner, want.n * sizeof *owner);
                owner[want.n - 1] = i;
            }
            if (is_def) {
                buf_add(&defs, e->bytes.p, e->bytes.n);
                ndefs += (uint32_t)x->lines.n;
                continue;
            }
            if (e->bytes.n && e->bytes.p[0] == MT_REC_BLOCK) {
                if ((rc = flush_block(w, &b)) < 0)
                    fail("records: mt_writer_append_block: %s", mt_strerror(rc));
                b.open = 1;
                b.t_first = UINT64_MAX;
                b.t_last = 0;
            }
            if (!b.open) {
                fail("%s: data example before any BLOCK example", e->name);
                continue;
            }
            buf_add(&b.bytes, e->bytes.p, e->bytes.n);
            b.nrecords += (uint32_t)x->lines.n;
            for (size_t k = 0; k < x->lines.n; k++) {
                long long t = json_int(x->lines.v[k], "t");
                if (t < 0) continue;
                if ((uint64_t)t < b.t_first) b.t_first = (uint64_t)t;
                if ((uint64_t)t > b.t_last) b.t_last = (uint64_t)t;
            }
        }
        if (pass == 0 && (rc = mt_writer_append_defs(w, defs.p, defs.n, ndefs)) < 0)
            fail("records: mt_writer_append_defs: %s", mt_strerror(rc));
    }
    if ((rc = flush_block(w, &b)) < 0)
        fail("records: mt_writer_append_block: %s", mt_strerror(rc));
    if ((rc = mt_writer_close(w)) < 0)
        fail("records: mt_writer_close: %s", mt_strerror(rc));

    char path[4200];
    snprintf(path, sizeof path, "%s/records.trace", tmpdir);
    strs got = {0};
    if (write_file(path, file.p, file.n) < 0) {
        fail("records: cannot write '%s': %s", path, strerror(errno));
    } else if ((rc = decode_json(path, 0, &got)) != 0) {
        fail("records: %s --json %s exited with status %d", decode_path, path, rc);
    } else {
        /* One verdict per example: all of its lines must match. */
        int *bad = calloc(nexamples, sizeof *bad);
        for (size_t k = 0; k < want.n; k++) {
            const char *g = k < got.n ? got.v[k] : "(nothing)";
            if (!json_eq(want.v[k], g)) {
                if (!bad[owner[k]])
                    printf("  %s: expected %s\n  %*s  got      %s\n",
                           examples[owner[k]].name, want.v[k],
                           (int)strlen(examples[owner[k]].name), "", g);
                bad[owner[k]] = 1;
            }
        }
        for (size_t i = 0; i < nexamples; i++) {
            if (strncmp(examples[i].name, "def-", 4) &&
                strncmp(examples[i].name, "rec-", 4))
                continue;
            check(!bad[i], "%s: decoded JSON differs from the spec", examples[i].name);
        }
        check(got.n == want.n, "records: %zu records decoded, the spec has %zu",
              got.n, want.n);
        free(bad);
    }
    strs_free(&got);
    strs_free(&want);
    free(owner);
    free(defs.p);
    free(file.p);
    free(b.bytes.p);
}

/* ---- Appendix A: the complete file -------------------------------------- */

static buf small_file;
static buf copy_file; /* A.7: a 1.2 trace, the header and its copy, then
                         the chunks of A.2 and A.3 (an open trace) */

static void build_small_file(void) {
    for (size_t i = 0; i < nexamples; i++) {
        example *e = &examples[i];
        if (strcmp(e->file, "small")) continue;
        check(e->at == (long)small_file.n,
              "%s: at=%ld but the blocks before it end at %zu", e->name, e->at,
              small_file.n);
        buf_add(&small_file, e->bytes.p, e->bytes.n);
    }
}

/* The `file=copy` blocks (header 1.2 and its copy), then the bytes of the
 * two chunks of the small file, [118, 315). */
static void build_copy_file(void) {
    for (size_t i = 0; i < nexamples; i++) {
        example *e = &examples[i];
        if (strcmp(e->file, "copy")) continue;
        check(e->at == (long)copy_file.n,
              "%s: at=%ld but the blocks before it end at %zu", e->name, e->at,
              copy_file.n);
        buf_add(&copy_file, e->bytes.p, e->bytes.n);
    }
    if (small_file.n >= 315) buf_add(&copy_file, small_file.p + 118, 315 - 118);
}

static int compare_lines(const char *what, strs *got, expect *x) {
    int ok = got->n == x->lines.n;
    for (size_t k = 0; k < x->lines.n; k++) {
        const char *g = k < got->n ? got->v[k] : "(nothing)";
        if (!json_eq(x->lines.v[k], g)) {
            printf("  %s line %zu: expected %s\n  %*s got      %s\n", what,
                   k + 1, x->lines.v[k], (int)(strlen(what) + 8), "", g);
            ok = 0;
        }
    }
    return ok;
}

static void test_small_file(void) {
    if (small_file.n == 0) {
        fail("file: no `hex example=... file=small` blocks");
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/small.trace", tmpdir);
    if (write_file(path, small_file.p, small_file.n) < 0) {
        fail("file: cannot write '%s'", path);
        return;
    }
    expect *x = find_expect("file");
    strs got = {0};
    int rc = decode_json(path, 0, &got);
    check(x && rc == 0 && compare_lines("file", &got, x),
          "file: `memtrace-decode --json` differs from `json expect=file` (status %d)", rc);
    strs_free(&got);
    x = find_expect("file-header");
    rc = decode_json(path, 1, &got);
    check(x && rc == 0 && compare_lines("file-header", &got, x),
          "file: `memtrace-decode --header --json` differs from `json expect=file-header` (status %d)", rc);
    strs_free(&got);

    /* The library itself: a closed trace, nothing damaged. */
    mt_reader *r = NULL;
    mt_record rec;
    mt_reader_stats st;
    int n = 0;
    rc = mt_reader_open_mem(&r, small_file.p, small_file.n, "small");
    while (rc >= 0 && (rc = mt_reader_next(r, &rec)) > 0) n++;
    mt_reader_stats_get(r, &st);
    check(rc == 0 && st.closed == 1 && st.damaged_chunks == 0,
          "file: reader: rc %d (%s), closed %d, damaged %llu", rc,
          r ? mt_reader_errmsg(r) : "", st.closed,
          (unsigned long long)st.damaged_chunks);
    mt_reader_close(r);

    /* Seeking through the index must land on the data chunk. */
    r = NULL;
    rc = mt_reader_open_mem(&r, small_file.p, small_file.n, "small");
    if (rc >= 0) rc = mt_reader_seek_time(r, 2000);
    if (rc >= 0) rc = mt_reader_next(r, &rec);
    check(rc == 1 && rec.type == MT_REC_BLOCK &&
              mt_reader_function_name(r, 1) && !strcmp(mt_reader_function_name(r, 1), "main"),
          "file: seek_time(2000) then next: rc %d, type %d", rc, rc == 1 ? rec.type : -1);
    mt_reader_close(r);

    /* Stock zstd accepts a trace (section "Why chunks are zstd frames"). */
    if (system("command -v zstd >/dev/null 2>&1") == 0) {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "zstd -q -t '%s' 2>/dev/null", path);
        check(system(cmd) == 0, "file: zstd -t rejects the example file");
    } else {
        printf("skip: zstd not installed\n");
    }
}

static void test_copy_file(void) {
    if (copy_file.n <= 197) {
        fail("copy file: no `hex example=... file=copy` blocks");
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/copy.trace", tmpdir);
    if (write_file(path, copy_file.p, copy_file.n) < 0) {
        fail("copy file: cannot write '%s'", path);
        return;
    }
    /* The same records as the small file: the copy changes nothing. */
    expect *x = find_expect("file");
    strs got = {0};
    int rc = decode_json(path, 0, &got);
    check(x && rc == 0 && compare_lines("copy", &got, x),
          "copy file: `memtrace-decode --json` differs from `json expect=file` (status %d)", rc);
    strs_free(&got);
    mt_reader *r = NULL;
    mt_record rec;
    mt_reader_stats st;
    int n = 0;
    rc = mt_reader_open_mem(&r, copy_file.p, copy_file.n, "copy");
    const mt_header *h = r ? mt_reader_header(r) : NULL;
    check(rc == 0 && h && h->major == 1 && h->minor == 2, "copy file: header 1.2: rc %d", rc);
    while (rc >= 0 && (rc = mt_reader_next(r, &rec)) > 0) n++;
    mt_reader_stats_get(r, &st);
    check(rc == 0 && n == 9 && st.closed == 0 && st.damaged_chunks == 0 &&
              st.header_damaged == 0,
          "copy file: reader: rc %d (%s), %d records, closed %d, header damaged %d", rc,
          r ? mt_reader_errmsg(r) : "", n, st.closed, st.header_damaged);
    mt_reader_close(r);
    if (system("command -v zstd >/dev/null 2>&1") == 0) {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "zstd -q -t '%s' 2>/dev/null", path);
        check(system(cmd) == 0, "copy file: zstd -t rejects it");
    }
}

/* ---- Appendix B: bad files ---------------------------------------------- */

static const struct {
    const char *name;
    int code;
} codes[] = {
    {"MT_ERR_IO", MT_ERR_IO},           {"MT_ERR_NOMEM", MT_ERR_NOMEM},
    {"MT_ERR_NOT_TRACE", MT_ERR_NOT_TRACE}, {"MT_ERR_VERSION", MT_ERR_VERSION},
    {"MT_ERR_HEADER", MT_ERR_HEADER},   {"MT_ERR_TRUNCATED", MT_ERR_TRUNCATED},
    {"MT_ERR_CHECKSUM", MT_ERR_CHECKSUM}, {"MT_ERR_FRAME", MT_ERR_FRAME},
    {"MT_ERR_DECOMPRESS", MT_ERR_DECOMPRESS}, {"MT_ERR_RECORD", MT_ERR_RECORD},
    {"MT_ERR_LIMIT", MT_ERR_LIMIT},     {"MT_ERR_ARG", MT_ERR_ARG},
    {"MT_ERR_STATE", MT_ERR_STATE},     {"MT_ERR_INDEX", MT_ERR_INDEX},
    {"MT_ERR_EMPTY", MT_ERR_EMPTY},     {"MT_ERR_NOSPACE", MT_ERR_NOSPACE},
};

static int code_of(const char *name, int *code) {
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].name, name) == 0) {
            *code = codes[i].code;
            return 0;
        }
    return -1;
}

static const char *name_of(int code) {
    if (code == 0) return "none";
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code) return codes[i].name;
    return "?";
}

/* Split a table row into cells, trimmed and without backticks. */
static int row_cells(const char *row, char cells[][128], int max) {
    int n = 0;
    const char *p = strchr(row, '|');
    while (p && n < max) {
        const char *q = strchr(p + 1, '|');
        if (!q) break;
        char *c = cells[n];
        size_t k = 0;
        for (const char *s = p + 1; s < q && k < 127; s++)
            if (*s != '`') c[k++] = *s;
        c[k] = 0;
        while (k && isspace((unsigned char)c[k - 1])) c[--k] = 0;
        size_t lead = strspn(c, " ");
        memmove(c, c + lead, strlen(c + lead) + 1);
        n++;
        p = q;
    }
    return n;
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_le32(const unsigned char *p) {
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Apply one change of Appendix B to f; -1 if it cannot be parsed. */
static int apply_change(buf *f, char *op) {
    char *save = NULL, *w = strtok_r(op, " ", &save);
    if (!w) return 0;
    if (!strcmp(w, "empty")) {
        f->n = 0;
        return 0;
    }
    char *a1 = strtok_r(NULL, " ", &save);
    if (!strcmp(w, "rehash-header")) {
        if (f->n < 8) return -1;
        uint32_t size = get_le32(f->p + 4);
        if (size < 8 || 8 + (size_t)size > f->n) return -1;
        put_le64(f->p + size, XXH64(f->p + 8, size - 8, 0));
        return 0;
    }
    if (!a1) return -1;
    size_t n1 = strtoul(a1, NULL, 0);
    if (!strcmp(w, "truncate")) {
        if (n1 > f->n) return -1;
        f->n = n1;
    } else if (!strcmp(w, "flip")) {
        char *a2 = strtok_r(NULL, " ", &save);
        if (!a2 || n1 >= f->n) return -1;
        f->p[n1] ^= (unsigned char)(1u << atoi(a2));
    } else if (!strcmp(w, "set") || !strcmp(w, "append")) {
        size_t at = !strcmp(w, "set") ? n1 : f->n;
        char *h = !strcmp(w, "set") ? strtok_r(NULL, " ", &save) : a1;
        for (; h; h = strtok_r(NULL, " ", &save)) {
            unsigned char c = (unsigned char)strtoul(h, NULL, 16);
            if (at >= f->n) buf_add(f, &c, 1);
            else f->p[at] = c;
            at++;
        }
    } else if (!strcmp(w, "cut")) {
        char *a2 = strtok_r(NULL, " ", &save);
        size_t n2 = a2 ? strtoul(a2, NULL, 0) : 0;
        if (!a2 || n1 > n2 || n2 > f->n) return -1;
        memmove(f->p + n1, f->p + n2, f->n - n2);
        f->n -= n2 - n1;
    } else if (!strcmp(w, "random")) {
        uint64_t s = 1;
        f->n = 0;
        for (size_t i = 0; i < n1; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            unsigned char c = (unsigned char)s;
            buf_add(f, &c, 1);
        }
    } else if (!strcmp(w, "rehash-copy")) {
        /* The header content inside the copy frame at n1 (after its tag). */
        if (n1 + 12 > f->n) return -1;
        uint32_t size = get_le32(f->p + n1 + 4);
        if (size < 12 || n1 + 8 + (size_t)size > f->n) return -1;
        put_le64(f->p + n1 + 8 + size - 8, XXH64(f->p + n1 + 12, size - 12, 0));
    } else if (!strcmp(w, "rehash-chunk")) {
        /* Content [12, size) then the payload, as section 4 says. */
        if (n1 + 8 + 48 > f->n) return -1;
        uint32_t size = get_le32(f->p + n1 + 4);
        const unsigned char *c = f->p + n1 + 8;
        uint32_t payload = get_le32(c + 20);
        if (n1 + 8 + (size_t)size + payload > f->n) return -1;
        put_le64(f->p + n1 + 8 + 4, XXH64(c + 12, size - 12 + (size_t)payload, 0));
    } else {
        return -1;
    }
    return 0;
}

static void test_bad_files(void) {
    if (bad_rows.n == 0) fail("bad files: no table rows in Appendix B");
    for (size_t i = 0; i < bad_rows.n; i++) {
        char cells[6][128];
        if (row_cells(bad_rows.v[i], cells, 6) < 6) {
            fail("bad files: cannot parse row '%s'", bad_rows.v[i]);
            continue;
        }
        const char *name = cells[0], *msg = cells[3];
        int want_code = 0;
        if (strcmp(cells[2], "none") && code_of(cells[2], &want_code)) {
            fail("%s: unknown error name '%s'", name, cells[2]);
            continue;
        }
        long want_records = atol(cells[4]);
        int want_closed = !strcmp(cells[5], "yes");
        buf f = {0};
        if (!strncmp(name, "copy-", 5)) buf_add(&f, copy_file.p, copy_file.n);
        else buf_add(&f, small_file.p, small_file.n);
        char ops[128], *save = NULL;
        snprintf(ops, sizeof ops, "%s", cells[1]);
        int bad_op = 0;
        for (char *op = strtok_r(ops, ";", &save); op; op = strtok_r(NULL, ";", &save))
            if (apply_change(&f, op)) bad_op = 1;
        if (bad_op) {
            fail("%s: cannot apply '%s'", name, cells[1]);
            free(f.p);
            continue;
        }
        mt_reader *r = NULL;
        mt_record rec;
        long records = 0;
        int first = 0;
        char first_msg[512] = "";
        int rc = mt_reader_open_mem(&r, f.p ? f.p : (const void *)"", f.n, "bad.trace");
        if (rc < 0) {
            first = rc;
            snprintf(first_msg, sizeof first_msg, "%s", r ? mt_reader_errmsg(r) : "");
        }
        for (int guard = 0; rc >= 0 && guard < 100000; guard++) {
            rc = mt_reader_next(r, &rec);
            if (rc == 0) break;
            if (rc > 0) {
                records++;
                continue;
            }
            if (!first) {
                first = rc;
                snprintf(first_msg, sizeof first_msg, "%s", mt_reader_errmsg(r));
            }
            if (mt_reader_fatal(r)) break;
            rc = 0;
        }
        mt_reader_stats st = {0};
        if (r) mt_reader_stats_get(r, &st);
        mt_reader_close(r);
        if (verbose)
            printf("  %s: %s, \"%s\", %ld records, closed %d\n", name,
                   name_of(first), first_msg, records, st.closed);
        check(first == want_code && strstr(first_msg, msg) &&
                  records == want_records && st.closed == want_closed,
              "%s (%s): want %s, \"%s\", %ld records, closed %d; "
              "got %s (%d), \"%s\", %ld records, closed %d",
              name, cells[1], cells[2], msg, want_records, want_closed,
              name_of(first), first, first_msg, records, st.closed);
        free(f.p);
    }
}

/* ---- Section 8: the error table against the header ---------------------- */

static void test_error_table(void) {
    if (error_rows.n == 0) fail("errors: no MT_ERR_ rows in section 8");
    for (size_t i = 0; i < error_rows.n; i++) {
        char cells[4][128];
        if (row_cells(error_rows.v[i], cells, 4) < 3) continue;
        int code;
        check(code_of(cells[1], &code) == 0 && code == atoi(cells[2]),
              "section 8: %s is listed as %s", cells[1], cells[2]);
    }
}

/* ---- main --------------------------------------------------------------- */

static void rm_tmpdir(void) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "test_spec: cannot remove %s\n", tmpdir);
}

int main(int argc, char **argv) {
    const char *spec = NULL, *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--decode") && i + 1 < argc) decode_path = argv[++i];
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep = argv[++i];
        else if (argv[i][0] != '-' && !spec) spec = argv[i];
        else {
            fprintf(stderr, "usage: test_spec [-v] [--decode PATH] [--keep DIR] FORMAT.md\n");
            return 2;
        }
    }
    if (!spec) {
        fprintf(stderr, "usage: test_spec [-v] [--decode PATH] [--keep DIR] FORMAT.md\n");
        return 2;
    }
    if (parse_spec(spec)) return 1;
    if (keep) {
        snprintf(tmpdir, sizeof tmpdir, "%s", keep);
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/test_spec.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "test_spec: cannot create %s: %s\n", tmpdir, strerror(errno));
            return 1;
        }
    }
    if (access(decode_path, X_OK))
        fail("cannot run '%s': %s (build it first)", decode_path, strerror(errno));
    printf("%s: %zu hex examples, %zu expectations, %zu bad files\n", spec,
           nexamples, nexpects, bad_rows.n);
    for (size_t i = 0; i < nexamples; i++)
        if (!find_expect(examples[i].name) && strcmp(examples[i].file, "small") &&
            strcmp(examples[i].file, "copy"))
            fail("%s: no json expect=%s block", examples[i].name, examples[i].name);
    test_error_table();
    test_records();
    build_small_file();
    test_small_file();
    build_copy_file();
    test_copy_file();
    test_bad_files();
    if (!keep) rm_tmpdir();
    printf("%d passed, %d failed\n", npassed, nfailed);
    return nfailed ? 1 : 0;
}

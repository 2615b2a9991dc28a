/*
 * mt_cli_test.c - vectors for the shared CLI helpers of analyze/mt_cli.c:
 * number, unit and escaping formatters, and the option-value parsers.
 * Prints one line per failure; exits 1 if any.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../analyze/mt_cli.h" /* not installed: a sibling dir */

static int failures;
static mt_out o = {.fd = -1, .name = "test buffer"};

static void reset(void) {
    o.pos = o.buf;
    o.end = o.buf + MT_OUT_BYTES;
}

static void expect(const char *what, const char *want) {
    size_t n = (size_t)(o.pos - o.buf);
    if (n != strlen(want) || memcmp(o.buf, want, n) != 0) {
        printf("FAIL %s: got \"%.*s\", want \"%s\"\n", what, (int)n, o.buf,
               want);
        failures++;
    }
    reset();
}

#define CHECK(call, want) \
    do {                  \
        call;             \
        expect(#call, want); \
    } while (0)

int main(void) {
    reset();
    CHECK(mt_out_u64(&o, 0), "0");
    CHECK(mt_out_u64(&o, 9), "9");
    CHECK(mt_out_u64(&o, 10), "10");
    CHECK(mt_out_u64(&o, 1234567890123ull), "1234567890123");
    CHECK(mt_out_u64(&o, UINT64_MAX), "18446744073709551615");
    CHECK(mt_out_i64(&o, -42), "-42");
    CHECK(mt_out_i64(&o, INT64_MIN), "-9223372036854775808");
    CHECK(mt_out_hex(&o, 0), "0x0");
    CHECK(mt_out_hex(&o, 0x7f3a00001000ull), "0x7f3a00001000");
    CHECK(mt_out_hex(&o, UINT64_MAX), "0xffffffffffffffff");

    CHECK(mt_out_seconds(&o, 0, 1000000000), "0.000000000");
    CHECK(mt_out_seconds(&o, 123456, 1000000000), "0.000123456");
    CHECK(mt_out_seconds(&o, 12000000001ull, 1000000000), "12.000000001");
    /* Another clock: 3 GHz ticks; 3 ticks = 1 ns. */
    CHECK(mt_out_seconds(&o, 3000000003ull, 3000000000ull), "1.000000001");
    CHECK(mt_out_seconds(&o, 2, 3000000000ull), "0.000000001"); /* 0.67 ns */
    CHECK(mt_out_seconds(&o, 2999999999ull, 3000000000ull), "1.000000000");

    CHECK(mt_out_bytes(&o, 0), "0 B");
    CHECK(mt_out_bytes(&o, 1023), "1023 B");
    CHECK(mt_out_bytes(&o, 1024), "1.0 KiB");
    CHECK(mt_out_bytes(&o, 1536), "1.5 KiB");
    CHECK(mt_out_bytes(&o, 1048575), "1.0 MiB"); /* rounds up a unit */
    CHECK(mt_out_bytes(&o, 3ull << 30), "3.0 GiB");
    CHECK(mt_out_bytes(&o, UINT64_MAX), "16.0 EiB");
    CHECK(mt_out_bytes_exact(&o, 100), "100 B");
    CHECK(mt_out_bytes_exact(&o, 1536), "1.5 KiB (1536 B)");
    CHECK(mt_out_ns(&o, 999), "999 ns");
    CHECK(mt_out_ns(&o, 1200000), "1.200 ms");
    CHECK(mt_out_ns(&o, 999999999), "1.000 s");
    CHECK(mt_out_ns(&o, 12500), "12.500 us");

    CHECK(mt_out_json_str(&o, "plain", 5), "\"plain\"");
    CHECK(mt_out_json_str(&o, NULL, 0), "\"\"");
    CHECK(mt_out_json_str(&o, "a\"b\\c\n\t\r\x01\x7f", 10),
          "\"a\\\"b\\\\c\\n\\t\\r\\u0001\x7f\"");
    CHECK(mt_out_json_str(&o, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
          "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""); /* valid UTF-8 kept */
    CHECK(mt_out_json_str(&o, "\xff\xc3", 2), "\"\\u00ff\\u00c3\"");
    CHECK(mt_out_json_str(&o, "\xed\xa0\x80", 3), /* a surrogate: invalid */
          "\"\\u00ed\\u00a0\\u0080\"");
    CHECK(mt_out_json_str(&o, "\xc0\xaf", 2), "\"\\u00c0\\u00af\""); /* overlong */
    CHECK(mt_out_json_str(&o, "a\0b", 3), "\"a\\u0000b\"");

    CHECK(mt_out_csv_str(&o, "plain text", 10), "plain text");
    CHECK(mt_out_csv_str(&o, "a,b", 3), "\"a,b\"");
    CHECK(mt_out_csv_str(&o, "say \"hi\"", 8), "\"say \"\"hi\"\"\"");
    CHECK(mt_out_csv_str(&o, "two\nlines", 9), "\"two\nlines\"");
    CHECK(mt_out_csv_str(&o, "\"", 1), "\"\"\"\"");

    char buf[MT_FMT_BYTES];
    if (strcmp(mt_fmt_utc(buf, 0), "1970-01-01T00:00:00.000000000Z") ||
        strcmp(mt_fmt_utc(buf, -1), "1969-12-31T23:59:59.999999999Z") ||
        strcmp(mt_fmt_utc(buf, 1795000000123456789LL),
               "2026-11-18T11:06:40.123456789Z")) {
        printf("FAIL mt_fmt_utc: %s\n", buf);
        failures++;
    }

    static const struct { const char *s; int rc; uint64_t v; } bytes[] = {
        {"4096", 0, 4096},   {"64k", 0, 65536},    {"64KiB", 0, 65536},
        {"1.5M", 0, 1572864}, {"2GB", 0, 2ull << 30}, {"0", 0, 0},
        {"", -1, 0},         {"-1", -1, 0},        {"12q", -1, 0},
        {"inf", -1, 0},      {" 1", -1, 0},        {"1 ", -1, 0},
        {"99999999999T", -1, 0},
    };
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        uint64_t v = 0;
        int rc = mt_cli_parse_bytes(bytes[i].s, &v);
        if (rc != bytes[i].rc || (rc == 0 && v != bytes[i].v)) {
            printf("FAIL mt_cli_parse_bytes(\"%s\"): rc %d v %llu\n",
                   bytes[i].s, rc, (unsigned long long)v);
            failures++;
        }
    }
    static const struct { const char *s; int rc; uint64_t v; } durs[] = {
        {"1.5", 0, 1500000000}, {"1.5s", 0, 1500000000}, {"200ms", 0, 200000000},
        {"30us", 0, 30000},     {"10ns", 0, 10},         {"2m", 0, 120000000000ull},
        {"1h", 0, 3600000000000ull}, {".5s", 0, 500000000},
        {"s", -1, 0},           {"1x", -1, 0},           {"-2s", -1, 0},
        {"nan", -1, 0},
    };
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        uint64_t v = 0;
        int rc = mt_cli_parse_duration(durs[i].s, &v);
        if (rc != durs[i].rc || (rc == 0 && v != durs[i].v)) {
            printf("FAIL mt_cli_parse_duration(\"%s\"): rc %d v %llu\n",
                   durs[i].s, rc, (unsigned long long)v);
            failures++;
        }
    }
    static const struct { const char *s; int rc; uint64_t v; } ints[] = {
        {"0", 0, 0}, {"42", 0, 42}, {"0x10", 0, 16},
        {"18446744073709551615", 0, UINT64_MAX},
        {"18446744073709551616", -1, 0}, {"-1", -1, 0}, {"", -1, 0},
        {"4x", -1, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        uint64_t v = 0;
        int rc = mt_cli_parse_u64(ints[i].s, &v);
        if (rc != ints[i].rc || (rc == 0 && v != ints[i].v)) {
            printf("FAIL mt_cli_parse_u64(\"%s\"): rc %d v %llu\n", ints[i].s,
                   rc, (unsigned long long)v);
            failures++;
        }
    }

    /* Output larger than the buffer, in small and large pieces, must reach
     * the file whole and in order. */
    FILE *tmp = tmpfile();
    static mt_out big = {.name = "temporary file"};
    big.fd = fileno(tmp);
    big.pos = big.buf;
    big.end = big.buf + MT_OUT_BYTES;
    static char chunk[200000];
    memset(chunk, 'x', sizeof chunk);
    uint64_t want = 0;
    for (int i = 0; i < 100000; i++) {
        mt_out_u64(&big, (uint64_t)i);
        mt_out_putc(&big, '\n');
        want += (uint64_t)snprintf(NULL, 0, "%d\n", i);
    }
    mt_out_json_str(&big, chunk, sizeof chunk);
    want += sizeof chunk + 2;
    mt_out_write(&big, chunk, sizeof chunk);
    want += sizeof chunk;
    if (mt_out_finish(&big) != 0) failures++;
    long size = lseek(big.fd, 0, SEEK_END);
    if (size < 0 || (uint64_t)size != want) {
        printf("FAIL buffered output: %ld bytes, want %llu\n", size,
               (unsigned long long)want);
        failures++;
    }
    fclose(tmp);
    if (failures) printf("mt_cli_test: %d failures\n", failures);
    else printf("mt_cli_test: all passed\n");
    return failures ? 1 : 0;
}

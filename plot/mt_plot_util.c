/*
 * mt_plot_util.c - escaping, numbers, ticks and colours for libmemtrace-plot.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_plot_internal.h"

const char *mt_plot_strerror(int code) {
    switch (code) {
    case MT_PLOT_OK: return "no error";
    case MT_PLOT_ERR_NOMEM: return "out of memory";
    case MT_PLOT_ERR_ARG: return "invalid argument";
    case MT_PLOT_ERR_IO: return "write error";
    case MT_PLOT_ERR_PARSE: return "malformed folded-stack line";
    case MT_PLOT_ERR_LIMIT: return "too many series, lanes or functions";
    }
    return "unknown error";
}

char *mt_pl_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- UTF-8 and XML ------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if s[0] starts no
 * valid sequence. Overlong forms, surrogates and code points past U+10FFFF
 * are invalid, as are U+FFFE and U+FFFF, which XML 1.0 does not allow. */
static size_t utf8_seq(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        if (c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

size_t mt_pl_utf8_chars(const char *s) {
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = utf8_seq(p);
        p += k ? k : 1;
        n++;
    }
    return n;
}

void mt_plot_json_str(FILE *f, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    fputc('"', f);
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            p++;
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            fputc((int)c, f);
            p++;
        } else {
            /* a whole, valid UTF-8 sequence as it is; anything else U+FFFD */
            int n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            int ok = n > 0;
            for (int k = 1; ok && k < n; k++) ok = (p[k] & 0xc0) == 0x80;
            if (ok) {
                fwrite(p, 1, (size_t)n, f);
                p += n;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
        }
    }
    fputc('"', f);
}

void mt_pl_xml(FILE *f, const char *s, size_t max_chars) {
    if (!s) return;
    const unsigned char *p = (const unsigned char *)s;
    size_t limit = 0; /* characters to write before ".." */
    int cut = 0;
    if (max_chars) {
        size_t n = mt_pl_utf8_chars(s);
        if (n > max_chars) {
            cut = 1;
            limit = max_chars > 2 ? max_chars - 2 : 0;
        }
    }
    size_t written = 0;
    while (*p) {
        if (cut && written == limit) break;
        size_t k = utf8_seq(p);
        unsigned c = *p;
        if (k == 0) {
            putc('?', f);
            p++;
        } else if (k > 1) {
            fwrite(p, 1, k, f);
            p += k;
        } else {
            switch (c) {
            case '&': fputs("&amp;", f); break;
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '"': fputs("&quot;", f); break;
            case '\'': fputs("&#39;", f); break;
            case '\n': fputs("&#10;", f); break; /* kept: tooltips have lines */
            default: putc(c < 0x20 || c == 0x7F ? ' ' : (int)c, f);
            }
            p++;
        }
        written++;
    }
    if (cut) fputs("..", f);
}

/* ---- Numbers ------------------------------------------------------------- */

void mt_pl_coord(FILE *f, double v) {
    /* Integer arithmetic on hundredths: printf("%.2f") and then trimming
     * zeros costs several times more, and coordinates are most of an SVG. */
    char buf[32], *e = buf + sizeof buf, *q = e;
    if (!isfinite(v)) v = 0;
    if (v > 1e15) v = 1e15;
    if (v < -1e15) v = -1e15;
    int neg = v < 0;
    uint64_t h = (uint64_t)llround(fabs(v) * 100.0);
    if (h == 0) neg = 0;
    unsigned frac = (unsigned)(h % 100);
    uint64_t whole = h / 100;
    if (frac) {
        if (frac % 10) {
            *--q = (char)('0' + frac % 10);
            *--q = (char)('0' + frac / 10);
        } else {
            *--q = (char)('0' + frac / 10);
        }
        *--q = '.';
    }
    do {
        *--q = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    if (neg) *--q = '-';
    fwrite(q, 1, (size_t)(e - q), f);
}

char *mt_pl_fmt_num(char *buf, double v, int max_digits) {
    if (!isfinite(v)) {
        strcpy(buf, "0");
        return buf;
    }
    for (int prec = 6; prec <= max_digits; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

char *mt_pl_fmt_exact(char *buf, double v) { return mt_pl_fmt_num(buf, v, 17); }

double mt_pl_nice_step(double lo, double hi, int target, double scale) {
    double span = hi - lo;
    if (!(span > 0) || target < 1) return scale > 0 ? scale : 1;
    double raw = span / target / scale;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5
                : norm <= 5 ? 5 : 10;
    return nice * mag * scale;
}

mt_pl_unit mt_pl_value_unit(double max_abs, int unit) {
    static const char *const bin[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    static const char *const dec[] = {"", "k", "M", "G", "T", "P"};
    double base = unit == MT_PLOT_UNIT_BYTES ? 1024 : 1000;
    int i = 0;
    double div = 1;
    while (i < 5 && max_abs >= div * base) {
        div *= base;
        i++;
    }
    mt_pl_unit u = {div, unit == MT_PLOT_UNIT_BYTES ? bin[i] : dec[i]};
    return u;
}

mt_pl_unit mt_pl_time_unit(double range_s) {
    mt_pl_unit u;
    if (range_s < 2e-6) {
        u.div = 1e-9, u.suffix = "ns";
    } else if (range_s < 2e-3) {
        u.div = 1e-6, u.suffix = "us";
    } else if (range_s < 2) {
        u.div = 1e-3, u.suffix = "ms";
    } else {
        u.div = 1, u.suffix = "s";
    }
    return u;
}

char *mt_pl_tick_label(char *buf, double value, double step, mt_pl_unit u) {
    double s = step / u.div;
    int d = 0;
    while (d < 6) {
        double m = s * pow(10, d);
        if (fabs(m - round(m)) < 1e-6 * (m > 1 ? m : 1)) break;
        d++;
    }
    double x = value / u.div;
    if (fabs(x) < s * 1e-9) x = 0; /* no "-0" */
    snprintf(buf, 48, "%.*f%s%s", d, x, *u.suffix ? " " : "", u.suffix);
    return buf;
}

char *mt_plot_fmt_bytes(char *buf, double bytes) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double a = fabs(bytes);
    if (!isfinite(bytes)) {
        strcpy(buf, "?");
    } else if (a < 1024) {
        snprintf(buf, 32, "%.0f B", bytes);
    } else {
        int i = 0;
        a /= 1024;
        while (i < 4 && a >= 1024) {
            a /= 1024;
            i++;
        }
        snprintf(buf, 32, "%s%.1f %s", bytes < 0 ? "-" : "", a, units[i]);
    }
    return buf;
}

char *mt_plot_fmt_seconds(char *buf, double s) {
    double a = fabs(s);
    if (!isfinite(s))
        strcpy(buf, "?");
    else if (a < 1e-6)
        snprintf(buf, 32, "%.0f ns", s * 1e9);
    else if (a < 1e-3)
        snprintf(buf, 32, "%.1f us", s * 1e6);
    else if (a < 1)
        snprintf(buf, 32, "%.2f ms", s * 1e3);
    else
        snprintf(buf, 32, "%.3f s", s);
    return buf;
}

/* ---- Colours ------------------------------------------------------------- */

uint32_t mt_pl_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    /* FNV's low bits mix poorly for short strings; finish like murmur3. */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

static char *hex_rgb(char *buf, double r, double g, double b) {
    snprintf(buf, 8, "#%02x%02x%02x", (unsigned)lround(r * 255),
             (unsigned)lround(g * 255), (unsigned)lround(b * 255));
    return buf;
}

/* HSL to RGB, all in [0, 1]. */
static char *hsl(char *buf, double h, double s, double l) {
    double c = (1 - fabs(2 * l - 1)) * s;
    double hp = h * 6, x = c * (1 - fabs(fmod(hp, 2) - 1));
    double r = 0, g = 0, b = 0;
    if (hp < 1) r = c, g = x;
    else if (hp < 2) r = x, g = c;
    else if (hp < 3) g = c, b = x;
    else if (hp < 4) g = x, b = c;
    else if (hp < 5) r = x, b = c;
    else r = c, b = x;
    double m = l - c / 2;
    return hex_rgb(buf, r + m, g + m, b + m);
}

char *mt_pl_colour_pastel(char *buf, uint32_t h) {
    /* Hue from the top bits, a little lightness jitter from the bottom so
     * neighbours of close hue still differ; light enough for black text. */
    double hue = (h >> 16) / 65536.0;
    double light = 0.68 + 0.10 * ((h & 0xff) / 255.0);
    return hsl(buf, hue, 0.62, light);
}

char *mt_pl_colour_hot(char *buf, uint32_t h) {
    /* flamegraph.pl's "hot" palette: red 205-255, green 0-230, blue 0-55. */
    double v1 = (h & 0xff) / 255.0, v2 = ((h >> 8) & 0xff) / 255.0;
    double v3 = ((h >> 16) & 0xff) / 255.0;
    return hex_rgb(buf, (205 + 50 * v3) / 255.0, (230 * v1) / 255.0,
                   (55 * v2) / 255.0);
}

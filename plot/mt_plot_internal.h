/*
 * mt_plot_internal.h - what the files of libmemtrace-plot share: text
 * escaping, number formatting, axis ticks, colours. Not installed; callers
 * use mt_plot.h.
 */
#ifndef MT_PLOT_INTERNAL_H
#define MT_PLOT_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "mt_plot.h"

/* XML text or attribute value: & < > " ' escaped, control characters and
 * invalid UTF-8 bytes replaced (by a space and '?'), so any input gives a
 * well-formed document. At most max_chars characters are written (code
 * points); a cut string ends in "..". max_chars 0: no limit. */
void mt_pl_xml(FILE *f, const char *s, size_t max_chars);

/* Number of UTF-8 characters of s (invalid bytes count one each). */
size_t mt_pl_utf8_chars(const char *s);

/* A number with at most 2 decimals, trailing zeros dropped: "12", "3.5",
 * "-0.25". Used for SVG coordinates. */
void mt_pl_coord(FILE *f, double v);
/* Shortest "%.*g" (up to 17 digits) that reads back as v: exact and
 * compact, for data values. buf >= 32 bytes. */
char *mt_pl_fmt_exact(char *buf, double v);
/* The same with at most max_digits significant digits (>= 6): 10 keeps
 * data files short and is finer than any plot can show. */
char *mt_pl_fmt_num(char *buf, double v, int max_digits);

/* Axis ticks: a nice step (1, 2, 2.5 or 5 x 10^k, in units of `scale`)
 * giving about `target` intervals over [lo, hi]. */
double mt_pl_nice_step(double lo, double hi, int target, double scale);

/* The unit of an axis: the divisor and the suffix to print values with
 * ("MiB", 1048576), chosen from the largest magnitude shown. */
typedef struct mt_pl_unit {
    double div;
    const char *suffix;
} mt_pl_unit;
mt_pl_unit mt_pl_value_unit(double max_abs, int unit);
mt_pl_unit mt_pl_time_unit(double range_s);
/* A tick label: value / u.div with just enough decimals for step. */
char *mt_pl_tick_label(char *buf, double value, double step, mt_pl_unit u);

/* FNV-1a, for colours (stable across runs and machines). */
uint32_t mt_pl_hash(const char *s, size_t n);
/* A pastel colour from a hash, as "#rrggbb" (buf >= 8). */
char *mt_pl_colour_pastel(char *buf, uint32_t h);
/* The classic flame graph "hot" colour from a hash. */
char *mt_pl_colour_hot(char *buf, uint32_t h);

/* Copy a string (NULL gives NULL). */
char *mt_pl_strdup(const char *s);

#endif /* MT_PLOT_INTERNAL_H */

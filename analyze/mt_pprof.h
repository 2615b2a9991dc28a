/*
 * mt_pprof.h - the heap of an analysis as a pprof profile: what `go tool
 * pprof`, Pyroscope, Parca and Perfetto read (the profile.proto message of
 * github.com/google/pprof, gzip-compressed).
 *
 * One sample per allocation stack (a site of the analysis's tables), with
 * six values, in this order of sample types:
 *
 *   alloc_objects / count, alloc_space / bytes     everything allocated
 *   inuse_objects / count, inuse_space / bytes     live at the heap's peak
 *   leak_objects  / count, leak_space  / bytes     still live at the end
 *
 *   rss_growth_space / bytes                       RSS growth (optional)
 *
 * (default_sample_type: inuse_space). Locations are (function, line): the
 * line a frame was on, its function's name (module.qualname, as pprof
 * names Go's pkg.Func; the qualified name alone as the system name), file
 * and first line; the innermost frame first, as pprof wants. Sampled traces give estimates,
 * rounded to integers. RSS growth has no allocation stack: the caller
 * gives it, by call stack (memtrace-plot replays the calls for it), as
 * samples of their own whose other values are 0.
 *
 * The gzip stream is written with stored (uncompressed) deflate blocks:
 * valid for every gzip reader, and no zlib needed.
 */
#ifndef MT_PPROF_H
#define MT_PPROF_H

#include <stdio.h>

#include "mt_analysis.h"

/* Write the profile to out. comment: NULL or a line for the profile's
 * comments (e.g. the trace's name); growth: ngrowth stacks for
 * rss_growth_space (NULL, 0: that sample type is left out). Returns 0, MT_ERR_NOMEM, MT_ERR_STATE
 * (the analysis has no allocation records) or MT_ERR_IO. */
/* RSS growth of one call stack: fids outermost first (reader fids, named
 * through lookup when no allocation site holds them). */
typedef struct mt_pprof_growth {
    const uint32_t *fids;
    uint32_t depth;
    int64_t bytes;
} mt_pprof_growth;

int mt_pprof_write(const mt_analysis *a, FILE *out, const char *comment,
                   const mt_pprof_growth *growth, size_t ngrowth,
                   const mt_function *(*lookup)(void *ctx, uint32_t fid), void *ctx);

#endif /* MT_PPROF_H */

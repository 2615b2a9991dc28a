/*
 * mt_tree.h - allocation sites as a tree of call paths (memtrace-analyze
 * --tree), the way memray's tree reporter shows them.
 *
 * The sites of one table (the heap at its peak, say) are merged from the
 * outermost frame inward: each node is a frame (function, file, def line,
 * current line) under its caller, with the bytes and blocks of every site
 * below it. Children are listed biggest first. Runs of frames of CPython's
 * import system (files "<frozen importlib._bootstrap>" and
 * "<frozen importlib._bootstrap_external>") can be folded into one node,
 * "<import system>", since the first screen of a program's heap is otherwise
 * towers of them.
 *
 *     mt_tree *t;
 *     if (mt_tree_build(&t, sites, n, 1) == 0) {
 *         mt_tree_text(o, t, 10, 0.005);
 *         mt_tree_free(t);
 *     }
 */
#ifndef MT_TREE_H
#define MT_TREE_H

#include "mt_analysis.h"
#include "mt_cli.h"

typedef struct mt_tree mt_tree;

/* The tree of n sites; fold_imports: fold the import system's frames.
 * 0, or MT_ERR_NOMEM (*t NULL). */
int mt_tree_build(mt_tree **t, const mt_analysis *a, const mt_analysis_site *sites, uint32_t n,
                  int fold_imports);
void mt_tree_free(mt_tree *t); /* accepts NULL */

/* The root's totals (every site). */
uint64_t mt_tree_bytes(const mt_tree *t);
uint64_t mt_tree_count(const mt_tree *t);

/* As text, one line per node, indented by depth with box-drawing branches:
 * at most top children per node (0: all) and only those holding at least
 * min_share of the root's bytes; the others are summed in one line. */
void mt_tree_text(mt_out *o, const mt_tree *t, uint32_t top, double min_share);

/* As a JSON object: {function, file, line, first_line, bytes, count,
 * children: [...], more: {nodes, bytes, count}} with the same limits; the
 * root is {"function": "<all>", ...}. */
void mt_tree_json(mt_out *o, const mt_tree *t, uint32_t top, double min_share);

/* The sites by location: one row per innermost frame (function, file,
 * line, def line), bytes and blocks summed over every stack that allocated
 * there, most bytes first (memray's summary, by allocating location). *out
 * is malloc'd (free it); strings are borrowed from the sites. 0 or
 * MT_ERR_NOMEM. */
typedef struct mt_tree_loc {
    const char *qualname, *file;
    uint32_t line, first_line; /* line 0: unknown (def line only) */
    uint64_t bytes, count;
    uint32_t stacks; /* distinct stacks merged */
} mt_tree_loc;
int mt_tree_by_location(const mt_analysis *a, const mt_analysis_site *sites, uint32_t n,
                        mt_tree_loc **out, uint32_t *nout);

#endif

/*
 * mt_hooks.h - the CPython-aware half of the recorder: the profile, trace
 * and frame-evaluation hooks that feed mt_recorder.h, and their installation
 * on every thread. Called by mt_module.c with the GIL held.
 */
#ifndef MT_HOOKS_H
#define MT_HOOKS_H

#include <Python.h>

#include "mt_recorder.h"

/* alloc: no call hook; stacks are written lazily at allocations (mt_alloc.h).
 * poll: no hook at all: the RSS sampler, markers and the in-process poller
 * (mt_procwatch.h) only. */
enum { MT_MODE_PROFILE = 1, MT_MODE_TRACE = 2, MT_MODE_FAST = 3, MT_MODE_ALLOC = 4,
       MT_MODE_POLL = 5 };

struct mt_alloc_config;

/* Include/exclude prefixes (module name or file path). The hooks own the
 * arrays after a successful mt_hooks_start. */
typedef struct mt_filters {
    char **include;
    size_t ninclude;
    char **exclude;
    size_t nexclude;
} mt_filters;

/* Start recording in mode; cfg->flush_idle is set here. Returns 0, or -1
 * with a Python exception set. */
/* c_calls: also record C calls (always in profile mode; in trace mode it
 * adds the profile hook beside the trace hook; never in fast mode). */
/* alloc: allocation tracking (NULL or python == native == 0: none).
 * hide_frame: see mt_hooks_set_hide_frame (NULL or None: none).
 * Fails with RuntimeError while recording or while a stop runs in another
 * thread ("memtrace is stopping"), or when sys.monitoring tool ids 3-5 are
 * all taken (profile and trace modes on 3.12+, fast mode on 3.13+); a start that fails after the file was
 * created removes it. */
int mt_hooks_start(mt_rec_config *cfg, int mode, int c_calls, mt_filters *filters,
                   const struct mt_alloc_config *alloc, PyObject *hide_frame);
/* Stop: uninstall hooks everywhere, put back what the start replaced (see
 * "Installation" in mt_hooks.c: on 3.9-3.11 also sys.settrace and
 * sys.setprofile), finish the file (releases the GIL while
 * joining). Returns the recorder's status (0 or MT_ERR_*). */
int mt_hooks_stop(int reason);
int mt_hooks_mode(void);
int mt_hooks_other_interp(void); /* 0 when not recording (or stopping) */

/* Leave frame (a frame object, or None) and its callers out of every stack
 * of the recording: the launcher's own frames. Set by mt_hooks_start;
 * cleared by stop. mt_hooks_hide_iframes holds the
 * interpreter frames of it and its callers, for walks over interpreter
 * frames. */
void mt_hooks_set_hide_frame(PyObject *frame);
#define MT_HIDE_MAX 64
extern void *mt_hooks_hide_iframes[MT_HIDE_MAX];
extern unsigned mt_hooks_nhide;
/* Former thread bootstraps, no longer installed: threading's hooks are the
 * program's (new threads are caught by the hooks themselves, see
 * "Installation" in mt_hooks.c). Called anyway, each clears the profile or
 * trace function of the calling thread and returns None. */
PyObject *mt_hooks_thread_bootstrap(PyObject *self, PyObject *args);
PyObject *mt_hooks_thread_bootstrap_trace(PyObject *self, PyObject *args);
/* A marker in the calling thread's stream. */
void mt_hooks_marker(const char *text, size_t len);
/* Fork child: drop the parent's session (nothing is written). */
void mt_hooks_after_fork_child(void);

/* For mt_alloc.c (GIL held): the fid of a code object (defined on first
 * sight; 0 on failure); the calling thread's state made now, with the frames
 * already running pushed (push_frames) or not (alloc mode: its stacks are
 * synced at allocations); a new try at naming a thread threading did not
 * know yet. */
uint32_t mt_hooks_code_fid(PyCodeObject *co, PyObject *globals);
/* The fid of a code object already defined, else 0: defines nothing, calls
 * no Python API (for hooks that must not make Python objects). */
uint32_t mt_hooks_code_fid_known(PyCodeObject *co);
/* +1 each time a code object that had a fid is deallocated (GIL): a frame
 * of a new code object at the same address must not pass for the old. */
extern uint64_t mt_hooks_code_epoch;
mt_tstate *mt_hooks_thread_begin(int push_frames);
void mt_hooks_retry_name(mt_tstate *t);

/* pymalloc's state, as sys._debugmallocstats() prints it, into a malloc'd
 * string (*n bytes; NULL without pymalloc or memory). GIL. Nothing reaches
 * the program's stderr. */
char *mt_hooks_malloc_stats_text(size_t *n);

#endif /* MT_HOOKS_H */

/*
 * mt_alloc.h - allocation tracking: hooks on CPython's three allocator
 * domains (PyMem_SetAllocator: raw, mem, obj) and on the native allocator
 * through libmemtrace-preload.so, feeding ALLOC/FREE/REALLOC records into the
 * calling thread's buffer. Called by mt_hooks.c with the GIL held.
 *
 * Stacks: in call-tracing modes (profile, trace, fast) the shadow stack the
 * call hooks keep is the allocation's stack. In alloc mode no call hook is
 * installed: at each recorded allocation the thread's Python frames are
 * walked from the innermost down to the first one proven unchanged (see
 * "Marks" in mt_alloc.c) and compared with the shadow stack, and RETURN /
 * CALL records are written for the difference only, so the trace stays an
 * ordinary call/return stream whose stack at each ALLOC is the Python stack
 * of that allocation.
 */
#ifndef MT_ALLOC_H
#define MT_ALLOC_H

#include <Python.h>

#include "mt_recorder.h"

typedef struct mt_alloc_config {
    int python;            /* hook the raw, mem and obj domains */
    int native;            /* register with libmemtrace-preload.so */
    uint64_t sample_bytes; /* 1: every allocation; N > 1: sampled, mean N */
    int lazy_stacks;       /* alloc mode: walk frames at allocations */
    int objects;           /* object tracking (mt_objects.h) needs the
                              stack state even without the two above */
    PyObject *include_types, *exclude_types; /* its filters (borrowed) */
} mt_alloc_config;

/* Install the hooks (after mt_rec_start). Returns 0, or -1 with a Python
 * exception set (native requested but the library is not loaded). */
int mt_alloc_start(const mt_alloc_config *cfg);
/* Uninstall: the previous allocators are back when this returns (before
 * mt_rec_stop) in every domain where ours is still the current allocator.
 * A domain where another hook replaced ours during the recording is left
 * as it is (one RuntimeWarning per process), and Python allocation tracking
 * cannot start again in this process (mt_alloc_start fails). */
void mt_alloc_stop(void);

/* While the Python domains are hooked: the object domain's allocator as
 * found at install (pymalloc, usually) into *out, and 1; else 0. For a
 * reader of pymalloc's state that wants pymalloc to be current
 * (_PyObject_DebugMallocStats: mt_hooks_malloc_stats_text). GIL. */
int mt_alloc_found_obj(PyMemAllocatorEx *out);
/* One OBJ_NEW or OBJ_DEL (type MT_REC_OBJ_*) of the object at addr whose
 * type is named by string sid, with its creating stack (mt_objects.c's
 * reference tracer; GIL held, between mt_alloc_start and mt_alloc_stop). */
void mt_alloc_obj_event(int type, uintptr_t addr, uint32_t sid);
/* Fork child: uninstall without recording anything. */
void mt_alloc_after_fork_child(void);
/* Is libmemtrace-preload.so loaded in this process? */
int mt_alloc_native_available(void);
/* Live sampled blocks being tracked (sampled mode). */
uint64_t mt_alloc_sampled_live(void);
/* TEST ONLY: frames the alloc-mode stack sync has visited since start (a
 * count of its work: linear in the stack changes, not in the depth). */
uint64_t mt_alloc_frames_walked(void);

#endif /* MT_ALLOC_H */

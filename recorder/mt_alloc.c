/*
 * mt_alloc.c - allocation hooks. See mt_alloc.h for the stack design.
 *
 * Hook context: the allocators found at install time are saved in prev[]
 * and passed as each hook's ctx, as tracemalloc does, but the hooks read
 * prev[] itself: PyMem_SetAllocator copies the struct field by field while
 * raw-domain calls may be running in threads without the GIL, which can
 * read our function with the old ctx. prev[] is never cleared, so a hook
 * still running after uninstall calls a valid allocator.
 *
 * Reentrancy: mt_tls_guard (mt_recorder.h). Each hook raises it to
 * MT_GUARD_CORE around the real allocator, so what pymalloc does for the
 * program (PyMem_RawMalloc of large blocks, arena mmaps, malloc when
 * PYTHONMALLOC=malloc) is not recorded twice: one program allocation is one
 * record, in the domain the program called. The recorder's own Python API
 * calls (naming functions) run at MT_GUARD_SYNC.
 *
 * Threads and locks: mem and obj hooks always hold the GIL, which owns the
 * thread's buffer (mt_recorder.h). Raw-domain and native calls may come
 * without it (or from threads Python does not know: they get a tid and a
 * thread named "thread-<native id>"); such a thread writes its buffer under
 * mt_rec_nogil_lock and without walking frames (its stack is the one it
 * last recorded with the GIL). "Holds the GIL" is: the current thread state
 * (_PyThreadState_UncheckedGet: the GIL holder before 3.12, this thread's
 * attached state from 3.12) is this thread's.
 *
 * Ordering: a FREE is recorded before the block is released, so no other
 * thread can be handed the same address and record its ALLOC first. (A
 * REALLOC that moves a block is recorded after the fact: a raw or native
 * allocation of the old address by another thread in between can precede
 * it. Rare; the readers see the later REALLOC free the newer block.)
 *
 * Frees of blocks allocated before tracking began are recorded like the
 * others (exact mode); readers MUST ignore frees of addresses they have not
 * seen allocated. Sampled mode records the frees of sampled blocks only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE
#endif

#include "mt_alloc.h"
#include "mt_addrset.h"
#include "mt_hooks.h"
#include "preload/mt_preload.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* (const) between mt_alloc_start and mt_alloc_stop; GIL for the rest. */
static PyMemAllocatorEx prev[3];   /* raw, mem, obj as found at install */
static int python_on, native_on, lazy_stacks;
/* The interpreter that started recording. (const) between mt_alloc_start
 * and mt_alloc_stop. The allocator hooks are process-wide: they also run in
 * sub-interpreters, which from 3.12 may have a GIL of their own (running
 * at the same time as this one) and whose frames and code objects must
 * never reach the function table (mt_hooks.c: code objects are released
 * by the interpreter that holds them). A thread whose current thread state
 * belongs to another interpreter is treated as a thread without the GIL:
 * its records go into its buffer under mt_rec_nogil_lock, no frame is
 * walked, no Python API called. Its stack: in alloc mode the one frame
 * other_fid ("<subinterpreter>", defined at start), which the next sync in
 * this interpreter replaces; in the call-tracing modes the stack their hooks
 * keep (the call that entered the other interpreter; nothing for that
 * interpreter's own threads). */
static PyInterpreterState *rec_interp;
static uint32_t other_fid;
#define OTHER_KEY ((void *)&other_fid) /* its shadow key: no frame has it */
/* A stop found another allocator in a domain where ours had been (see
 * uninstall): our hooks may still be reachable through the newcomer, which
 * saved them as its "previous" allocator and calls them; they then call
 * prev[]. Installing again would overwrite prev[] with the newcomer, and a
 * call would go round newcomer -> ours -> newcomer for ever, so tracking of
 * Python allocations cannot start again in this process. GIL. */
static int stranded;
static uint64_t sample_bytes;      /* 1: exact */
static mt_preload_register_fn preload_register;

/* Frames of the current thread, innermost first (alloc mode, GIL). */
typedef struct {
    void *key;        /* frame address */
    PyCodeObject *co;
    PyObject *globals;
    uint32_t fid;
} frame_ref;
static frame_ref *scratch;
static size_t scratch_cap;

/* ---- Threads ----------------------------------------------------------- */

/* Before 3.12 the current thread state is the GIL holder's, whichever thread
 * that is; from 3.12 it is this thread's while attached. Either way, it is
 * ours and the GIL (of its interpreter) is ours when its thread id is ours. */
static inline PyThreadState *gil_state(void) {
    PyThreadState *cur = _PyThreadState_UncheckedGet();
    return cur && cur->thread_id == PyThread_get_thread_ident() ? cur : NULL;
}

/* A thread met without the GIL: a state and a provisional name; the next
 * event with the GIL names it properly (t->unnamed). Under nogil_lock. */
static mt_tstate *thread_begin_nogil(void) {
    uint64_t native_id = (uint64_t)PyThread_get_thread_native_id();
    mt_tstate *t = mt_tstate_new(native_id);
    if (!t) return NULL;
    char name[48];
    int n = snprintf(name, sizeof name, "thread-%llu", (unsigned long long)native_id);
    mt_tstate_name(t, name, (size_t)n);
    t->unnamed = 64;
    mt_tstate_begin(t);
    return t;
}

/* ---- Stacks ------------------------------------------------------------ */

#if PY_VERSION_HEX >= 0x030D0000
#define TOP_FRAME(ts) ((ts)->current_frame)
#define FRAME_CODE(f) ((PyCodeObject *)(f)->f_executable)
#define FRAME_SKIP(f) _PyFrame_IsIncomplete(f)
#elif PY_VERSION_HEX >= 0x030C0000
#define TOP_FRAME(ts) ((ts)->cframe->current_frame)
#define FRAME_CODE(f) ((f)->f_code)
#define FRAME_SKIP(f) ((f)->owner == FRAME_OWNED_BY_CSTACK || _PyFrame_IsIncomplete(f))
#elif PY_VERSION_HEX >= 0x030B0000
#define TOP_FRAME(ts) ((ts)->cframe->current_frame)
#define FRAME_CODE(f) ((f)->f_code)
#define FRAME_SKIP(f) _PyFrame_IsIncomplete(f)
#else
#define TOP_FRAME(ts) ((ts)->frame)
#define FRAME_CODE(f) ((f)->f_code)
#define FRAME_SKIP(f) 0
#endif
#if PY_VERSION_HEX >= 0x030B0000
#define FRAME_PREV(f) ((f)->previous)
#else
#define FRAME_PREV(f) ((f)->f_back)
#endif

static inline int hidden(const void *f) {
    for (unsigned i = 0; i < mt_hooks_nhide; i++)
        if (mt_hooks_hide_iframes[i] == f) return 1;
    return 0;
}

/* Make the shadow stack the thread's Python stack: RETURN for the shadow
 * frames that are gone, CALL for the new ones (by frame address and code).
 * Frames that ended by an exception are written as RETURN too. */
static void sync_stack(mt_tstate *t, PyThreadState *ts) {
    __typeof__(TOP_FRAME(ts)) top = TOP_FRAME(ts);
    /* Incomplete frames (pushed, prologue not run) are only found on top:
     * nothing is called from a prologue. (3.12+: C-stack entry frames can
     * be anywhere and are skipped everywhere.) */
    while (top && FRAME_SKIP(top)) top = FRAME_PREV(top);
    /* The common case first: the same stack as at the last record. Compared
     * innermost first, without copying; any difference falls through to
     * the full walk below. */
    /* The launcher's frames (and their callers) are not part of the stack:
     * the walk ends at the first of them. */
    /* A code object of the shadow stack was deallocated since the last
     * comparison (its frames ended): a new code object at its address, in a
     * frame at the same address, would compare equal. Then fids are
     * compared too (one lookup per frame, only after such a death). */
    int recheck = t->code_epoch != mt_hooks_code_epoch;
    if (!recheck) {
        uint32_t d = t->depth;
        __typeof__(top) f = top;
        while (f && !hidden((void *)f) && d && t->keys[d - 1] == (void *)f &&
               t->codes[d - 1] == (void *)FRAME_CODE(f)) {
            d--;
            do f = FRAME_PREV(f);
#if PY_VERSION_HEX >= 0x030C0000
            while (f && FRAME_SKIP(f));
#else
            while (0);
#endif
        }
        if ((!f || hidden((void *)f)) && !d) return;
    }
    size_t n = 0;
    for (__typeof__(top) f = top; f && !hidden((void *)f); f = FRAME_PREV(f)) {
#if PY_VERSION_HEX >= 0x030C0000
        if (FRAME_SKIP(f)) continue;
#endif
        PyCodeObject *co = FRAME_CODE(f);
        if (!co || !PyCode_Check((PyObject *)co)) continue;
        if (n == scratch_cap) {
            size_t cap = scratch_cap ? scratch_cap * 2 : 256;
            frame_ref *s = realloc(scratch, cap * sizeof *s);
            if (!s) return;
            scratch = s;
            scratch_cap = cap;
        }
        scratch[n++] = (frame_ref){(void *)f, co, f->f_globals, 0};
    }
    if (recheck) {
        for (size_t i = 0; i < n; i++)
            scratch[i].fid = mt_hooks_code_fid(scratch[i].co, scratch[i].globals);
        t->code_epoch = mt_hooks_code_epoch;
    }
    uint32_t common = 0, depth = t->depth;
    while (common < depth && common < n && t->keys[common] == scratch[n - 1 - common].key &&
           t->codes[common] == (void *)scratch[n - 1 - common].co &&
           (!recheck || t->fids[common] == scratch[n - 1 - common].fid))
        common++;
    if (common == depth && common == n) return;
    while (t->cap < n)
        if (!mt_tstate_grow(t)) return;
    /* Function ids first: defining one calls the Python API, whose frees
     * may write records; the stack records are then written in one go. */
    for (size_t i = common; i < n && !recheck; i++) {
        frame_ref *r = &scratch[n - 1 - i];
        r->fid = mt_hooks_code_fid(r->co, r->globals);
    }
    uint64_t now = mt_alloc_now(t);
    while (t->depth > common) {
        if (mt_room(t, now)) {
            t->pos = mt_enc_event(t->pos, MT_REC_RETURN, mt_dt(t, now));
            t->nrec++;
        }
        t->depth--;
    }
    for (size_t i = common; i < n; i++) {
        frame_ref *r = &scratch[n - 1 - i];
        uint32_t fid = r->fid;
        t->fids[i] = fid;
        t->keys[i] = r->key;
        t->codes[i] = r->co;
        t->flags[i] = MT_FR_WRITTEN | MT_FR_ELIGIBLE;
        t->depth = (uint32_t)i + 1; /* a dropped CALL: the next BLOCK has it */
        if (mt_room(t, now)) {
            t->pos = mt_enc_call(t->pos, mt_dt(t, now), fid);
            t->nrec++;
        }
    }
    t->lazy_lo = t->depth;
}

/* Alloc mode, a thread running in another interpreter (see rec_interp),
 * under nogil_lock: its stack becomes the one frame other_fid. */
static void enter_other(mt_tstate *t) {
    if (t->depth == 1 && t->keys[0] == OTHER_KEY) return;
    if (t->cap == 0 && !mt_tstate_grow(t)) return;
    uint64_t now = mt_alloc_now(t);
    while (t->depth > 0) {
        if (mt_room(t, now)) {
            t->pos = mt_enc_event(t->pos, MT_REC_RETURN, mt_dt(t, now));
            t->nrec++;
        }
        t->depth--;
    }
    t->fids[0] = other_fid;
    t->keys[0] = OTHER_KEY;
    t->codes[0] = NULL;
    t->flags[0] = MT_FR_WRITTEN | MT_FR_ELIGIBLE;
    t->depth = 1;
    if (mt_room(t, now)) {
        t->pos = mt_enc_call(t->pos, mt_dt(t, now), other_fid);
        t->nrec++;
    }
    t->lazy_lo = t->depth;
}

/* ---- Recording --------------------------------------------------------- */

/* One event. gil: 1 known held (mem, obj: some interpreter's GIL), 0
 * unknown (raw, native). The guard is down on entry (or SYNC for a free). */
static void record(int type, unsigned domain, uintptr_t old, uintptr_t addr, size_t size,
                   int gil) {
    mt_tstate *t = mt_tstate_get();
    PyThreadState *ts = gil ? _PyThreadState_UncheckedGet() : gil_state();
    /* Another interpreter's thread (or its GIL): the no-GIL path. */
    int other = ts && ts->interp != rec_interp;
    if (other) ts = NULL;
    gil = ts != NULL;
    int outer = mt_tls_guard;
    mt_tls_guard = MT_GUARD_CORE;
    if (gil) {
        if (!t) {
            /* Not while naming a thread or a function: the state that is
             * being made is not ready. */
            if (outer) goto out;
            t = mt_hooks_thread_begin(!lazy_stacks);
            if (!t) goto out;
        }
        if (type != MT_REC_FREE && !outer) {
            if (lazy_stacks && ts) {
                mt_tls_guard = MT_GUARD_SYNC;
                mt_hooks_retry_name(t);
                sync_stack(t, ts);
                mt_tls_guard = MT_GUARD_CORE;
            } else if (mt_rec.filtering) {
                mt_rec_flush_lazy(t);
            }
        }
        mt_rec_alloc_event(t, type, domain, old, addr, size);
    } else {
        mt_rec_nogil_lock();
        /* Checked under the lock: mt_rec_stop takes it after clearing
         * active, so no thread writes past that point. */
        if (atomic_load_explicit(&mt_rec.active, memory_order_relaxed)) {
            /* Read again under the lock: the state read before it may be
             * of a session that stopped (and another that started) since. */
            t = mt_tstate_get();
            if (!t) t = thread_begin_nogil();
            if (t && other && lazy_stacks && type != MT_REC_FREE) enter_other(t);
            if (t) mt_rec_alloc_event(t, type, domain, old, addr, size);
        }
        mt_rec_nogil_unlock();
    }
out:
    mt_tls_guard = outer;
}

/* Sampled mode: does an allocation of size bytes hold a sample point? The
 * points form a Poisson process of rate 1/sample_bytes over the bytes
 * allocated by each thread, so P(sampled) = 1 - exp(-size / sample_bytes)
 * and size / P is an unbiased estimate of what a sampled record stands for.
 * The fast path is the hooks' "(left -= size) <= 0"; this is the rest, with
 * left already decreased. Memoryless: the distance after a sampled
 * allocation is drawn afresh. */
static __attribute__((noinline)) int sample_slow(size_t size) {
    int64_t left = mt_sample_draw(sample_bytes);
    int hit = 1;
    if (mt_tls_sample_left == -(int64_t)size) {
        /* The thread's first allocation (left was 0): draw where the first
         * point lies instead of sampling this one for sure. */
        hit = left <= (int64_t)size;
        left = hit ? mt_sample_draw(sample_bytes) : left - (int64_t)size;
    }
    mt_tls_sample_left = left;
    return hit;
}

static inline int sample_hit(size_t size) {
    if (__builtin_expect((mt_tls_sample_left -= (int64_t)size) > 0, 1)) return 0;
    return sample_slow(size);
}

static inline uint64_t key_of(unsigned domain, uintptr_t addr) {
    return (uint64_t)addr | domain;
}

static inline int active(void) {
    return atomic_load_explicit(&mt_rec.active, memory_order_relaxed);
}

/* Exact mode (and the native hook, either mode). */
static inline void on_alloc(unsigned domain, void *p, size_t size, int gil) {
    if (!active()) return;
    if (sample_bytes > 1) {
        if (!sample_hit(size)) return;
        if (!mt_addrset_insert(key_of(domain, (uintptr_t)p))) return;
    }
    record(MT_REC_ALLOC, domain, 0, (uintptr_t)p, size, gil);
}

static inline void on_free(unsigned domain, void *p, int gil) {
    if (!p || !active()) return;
    if (sample_bytes > 1 && !mt_addrset_remove(key_of(domain, (uintptr_t)p))) return;
    record(MT_REC_FREE, domain, 0, (uintptr_t)p, 0, gil);
}

/* realloc: exact mode writes REALLOC (ALLOC when old is NULL). Sampled mode
 * treats it as a free of old and an allocation of size, each sampled on its
 * own: REALLOC when both are sampled, else FREE or ALLOC or nothing. was:
 * old was sampled (the caller took it out of the set before the realloc,
 * so that no other thread's block at that address is taken out after). */
static void on_realloc(unsigned domain, void *old, void *p, size_t size, int gil, int was) {
    if (!active()) return;
    if (!old) {
        on_alloc(domain, p, size, gil);
        return;
    }
    if (sample_bytes <= 1) {
        record(MT_REC_REALLOC, domain, (uintptr_t)old, (uintptr_t)p, size, gil);
        return;
    }
    int now = sample_hit(size) && mt_addrset_insert(key_of(domain, (uintptr_t)p));
    if (was && now) record(MT_REC_REALLOC, domain, (uintptr_t)old, (uintptr_t)p, size, gil);
    else if (was) record(MT_REC_FREE, domain, 0, (uintptr_t)old, 0, gil);
    else if (now) record(MT_REC_ALLOC, domain, 0, (uintptr_t)p, size, gil);
}

/* ---- CPython allocator hooks ------------------------------------------ */

#define GIL_OF(d) ((d) != PYMEM_DOMAIN_RAW)

/* Exact mode: every call is recorded. */
#define DEFINE_HOOKS(d, name)                                                   \
    static void *name##_malloc(void *ctx, size_t size) {                        \
        (void)ctx;                                                              \
        int g = mt_tls_guard;                                                   \
        mt_tls_guard = MT_GUARD_CORE;                                           \
        void *p = prev[d].malloc(prev[d].ctx, size);                            \
        mt_tls_guard = g;                                                       \
        if (p && !g) on_alloc(d, p, size, GIL_OF(d));                           \
        return p;                                                               \
    }                                                                           \
    static void *name##_calloc(void *ctx, size_t n, size_t size) {              \
        (void)ctx;                                                              \
        int g = mt_tls_guard;                                                   \
        mt_tls_guard = MT_GUARD_CORE;                                           \
        void *p = prev[d].calloc(prev[d].ctx, n, size);                         \
        mt_tls_guard = g;                                                       \
        if (p && !g) on_alloc(d, p, n * size, GIL_OF(d));                       \
        return p;                                                               \
    }                                                                           \
    static void *name##_realloc(void *ctx, void *old, size_t size) {            \
        (void)ctx;                                                              \
        int g = mt_tls_guard;                                                   \
        mt_tls_guard = MT_GUARD_CORE;                                           \
        void *p = prev[d].realloc(prev[d].ctx, old, size);                      \
        mt_tls_guard = g;                                                       \
        if (p && !g) on_realloc(d, old, p, size, GIL_OF(d), 0);                 \
        else if (p && g == MT_GUARD_SYNC && old && p != old)                    \
            on_free(d, old, GIL_OF(d));                                         \
        return p;                                                               \
    }                                                                           \
    static void name##_free(void *ctx, void *p) {                               \
        (void)ctx;                                                              \
        int g = mt_tls_guard;                                                   \
        if (g != MT_GUARD_CORE) on_free(d, p, GIL_OF(d));                       \
        mt_tls_guard = MT_GUARD_CORE;                                           \
        prev[d].free(prev[d].ctx, p);                                           \
        mt_tls_guard = g;                                                       \
    }

/* Sampled mode: the common case is a subtraction (allocations) or one byte
 * load (frees), so it is kept apart from the exact hooks. The guard is still
 * raised around allocations: pymalloc's large blocks come from the raw
 * domain, which must not count the same bytes again. Frees need no guard:
 * an inner free of a block that was never sampled finds nothing. */
static __attribute__((noinline)) void sampled_alloc(unsigned d, void *p, size_t size, int gil) {
    if (!p || !sample_slow(size) || !active()) return;
    if (mt_addrset_insert(key_of(d, (uintptr_t)p))) record(MT_REC_ALLOC, d, 0, (uintptr_t)p, size, gil);
}

static __attribute__((noinline)) void sampled_free(unsigned d, void *p, int gil) {
    if (mt_tls_guard == MT_GUARD_CORE || !mt_addrset_remove_slow(key_of(d, (uintptr_t)p)))
        return;
    if (active()) record(MT_REC_FREE, d, 0, (uintptr_t)p, 0, gil);
}

#define DEFINE_SAMPLED_HOOKS(d, name)                                           \
    static void *name##_smalloc(void *ctx, size_t size) {                       \
        (void)ctx;                                                              \
        int g = mt_tls_guard;                                                   \
        mt_tls_guard = MT_GUARD_CORE;                                           \
        void *p = prev[d].malloc(prev[d].ctx, size);                            \
        mt_tls_guard = g;                                                       \
        if (__builtin_expect(!g, 1) &&                                          \
            __builtin_expect((mt_tls_sample_left -= (int64_t)size) <= 0, 0))    \
            sampled_alloc(d, p, size, GIL_OF(d));                               \
        return p;                                                               \
    }                                                                           \
    static void *name##_scalloc(void *ctx, size_t n, size_t size) {             \
        (void)ctx;                                                              \
        int g = mt_tls_guard;                                                   \
        mt_tls_guard = MT_GUARD_CORE;                                           \
        void *p = prev[d].calloc(prev[d].ctx, n, size);                         \
        mt_tls_guard = g;                                                       \
        if (__builtin_expect(!g, 1) &&                                          \
            __builtin_expect((mt_tls_sample_left -= (int64_t)(n * size)) <= 0, 0)) \
            sampled_alloc(d, p, n * size, GIL_OF(d));                           \
        return p;                                                               \
    }                                                                           \
    static void *name##_srealloc(void *ctx, void *old, size_t size) {           \
        (void)ctx;                                                              \
        int g = mt_tls_guard;                                                   \
        int was = old && g != MT_GUARD_CORE &&                                  \
                  mt_addrset_remove(key_of(d, (uintptr_t)old));                 \
        mt_tls_guard = MT_GUARD_CORE;                                           \
        void *p = prev[d].realloc(prev[d].ctx, old, size);                      \
        mt_tls_guard = g;                                                       \
        if (!p) {                                                               \
            if (was) mt_addrset_insert(key_of(d, (uintptr_t)old));              \
        } else if (was || !g) {                                                 \
            on_realloc(d, old, p, size, GIL_OF(d), was);                        \
        }                                                                       \
        return p;                                                               \
    }                                                                           \
    static void name##_sfree(void *ctx, void *p) {                              \
        (void)ctx;                                                              \
        if (__builtin_expect(mt_addrset_maybe(key_of(d, (uintptr_t)p)), 0) && p) \
            sampled_free(d, p, GIL_OF(d));                                      \
        prev[d].free(prev[d].ctx, p);                                           \
    }

DEFINE_HOOKS(PYMEM_DOMAIN_RAW, raw)
DEFINE_HOOKS(PYMEM_DOMAIN_MEM, mem)
DEFINE_HOOKS(PYMEM_DOMAIN_OBJ, obj)
DEFINE_SAMPLED_HOOKS(PYMEM_DOMAIN_RAW, raw)
DEFINE_SAMPLED_HOOKS(PYMEM_DOMAIN_MEM, mem)
DEFINE_SAMPLED_HOOKS(PYMEM_DOMAIN_OBJ, obj)

/* The domain numbers of the format are those of PyMemAllocatorDomain. */
_Static_assert((int)PYMEM_DOMAIN_RAW == (int)MT_DOMAIN_RAW &&
                   (int)PYMEM_DOMAIN_MEM == (int)MT_DOMAIN_MEM &&
                   (int)PYMEM_DOMAIN_OBJ == (int)MT_DOMAIN_OBJ,
               "domain numbers");

/* ---- Native hook (libmemtrace-preload.so) ------------------------------ */

static void native_hook(int event, unsigned domain, uintptr_t old, uintptr_t addr,
                        size_t size) {
    int g = mt_tls_guard;
    if (g == MT_GUARD_CORE || (g == MT_GUARD_SYNC && event != MT_PRELOAD_FREE)) return;
    switch (event) {
    case MT_PRELOAD_ALLOC: on_alloc(domain, (void *)addr, size, 0); break;
    case MT_PRELOAD_FREE: on_free(domain, (void *)addr, 0); break;
    case MT_PRELOAD_REALLOC:
        if (g) {
            if (addr != old) on_free(domain, (void *)old, 0);
        } else {
            /* Told after the fact: the old block is no longer ours to look
             * up before the call (see the ordering note above). */
            int was = sample_bytes > 1 && mt_addrset_remove(key_of(domain, old));
            on_realloc(domain, (void *)old, (void *)addr, size, 0, was);
        }
        break;
    }
}

int mt_alloc_native_available(void) {
    if (!preload_register)
        preload_register = (mt_preload_register_fn)dlsym(RTLD_DEFAULT, MT_PRELOAD_REGISTER);
    return preload_register != NULL;
}

/* ---- Install ----------------------------------------------------------- */

int mt_alloc_start(const mt_alloc_config *cfg) {
    if (cfg->native && !mt_alloc_native_available()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "native=True needs libmemtrace-preload.so in LD_PRELOAD "
                        "(use: python -m memtrace run --native ...)");
        return -1;
    }
    sample_bytes = cfg->sample_bytes ? cfg->sample_bytes : 1;
    lazy_stacks = cfg->lazy_stacks;
    rec_interp = PyInterpreterState_Get();
    if (lazy_stacks) {
        static const char q[] = "<subinterpreter>", m[] = "memtrace";
        other_fid = mt_rec_function(MT_FUNC_C, mt_rec_string(q, sizeof q - 1),
                                    mt_rec_string(m, sizeof m - 1), 0, 0);
    }
    if (sample_bytes > 1 && mt_addrset_init() < 0) {
        PyErr_NoMemory();
        return -1;
    }
    if (cfg->python && stranded) {
        PyErr_SetString(PyExc_RuntimeError,
                        "memtrace: another allocator hook (tracemalloc?) replaced memtrace's "
                        "during an earlier recording; allocation tracking cannot start again "
                        "in this process");
        return -1;
    }
    if (cfg->python) {
        static const PyMemAllocatorDomain doms[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                     PYMEM_DOMAIN_OBJ};
        PyMemAllocatorEx hooks[3] = {
            {&prev[0], raw_malloc, raw_calloc, raw_realloc, raw_free},
            {&prev[1], mem_malloc, mem_calloc, mem_realloc, mem_free},
            {&prev[2], obj_malloc, obj_calloc, obj_realloc, obj_free},
        };
        PyMemAllocatorEx sampled[3] = {
            {&prev[0], raw_smalloc, raw_scalloc, raw_srealloc, raw_sfree},
            {&prev[1], mem_smalloc, mem_scalloc, mem_srealloc, mem_sfree},
            {&prev[2], obj_smalloc, obj_scalloc, obj_srealloc, obj_sfree},
        };
        if (sample_bytes > 1) memcpy(hooks, sampled, sizeof hooks);
        for (int i = 0; i < 3; i++) PyMem_GetAllocator(doms[i], &prev[i]);
        for (int i = 0; i < 3; i++) PyMem_SetAllocator(doms[i], &hooks[i]);
        python_on = 1;
    }
    if (cfg->native) {
        preload_register(native_hook);
        native_on = 1;
    }
    return 0;
}

/* Put back the allocators found at install, in each domain where ours is
 * still the current one (its ctx is &prev[i]: no other hook has that). In a
 * domain where another hook replaced ours during the recording (for example
 * tracemalloc.stop() putting back what it had found before us), restoring
 * prev[] would install an allocator its owner has given up: that domain is
 * left as it is. Returns the number of domains left. */
static int uninstall(void) {
    static const PyMemAllocatorDomain doms[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                 PYMEM_DOMAIN_OBJ};
    int left = 0;
    if (native_on) preload_register(NULL);
    if (python_on) {
        for (int i = 0; i < 3; i++) {
            PyMemAllocatorEx cur;
            PyMem_GetAllocator(doms[i], &cur);
            if (cur.ctx == &prev[i]) PyMem_SetAllocator(doms[i], &prev[i]);
            else left++;
        }
    }
    if (left) stranded = 1;
    return left;
}

void mt_alloc_stop(void) {
    if (uninstall() > 0) {
        /* Once per process: the state does not change after the first. */
        static int warned;
        if (!warned) {
            warned = 1;
            PyObject *et, *ev, *etb;
            PyErr_Fetch(&et, &ev, &etb);
            if (PyErr_WarnEx(PyExc_RuntimeWarning,
                             "memtrace: another allocator hook (tracemalloc?) replaced "
                             "memtrace's during the recording and was left installed; "
                             "allocations may have gone unrecorded from that moment on",
                             1) < 0)
                PyErr_WriteUnraisable(NULL);
            PyErr_Restore(et, ev, etb);
        }
    }
    /* The set is freed by the next start, or here once the recorder has
     * stopped: hooks still running in other threads see active == 0 before
     * they look at it (mt_rec_stop waits for the no-GIL ones). */
    python_on = native_on = 0;
}

void mt_alloc_after_fork_child(void) {
    uninstall();
    python_on = native_on = 0;
}

uint64_t mt_alloc_sampled_live(void) {
    return sample_bytes > 1 ? mt_addrset_count() : 0;
}

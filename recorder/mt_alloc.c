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
#include "mt_objects.h"
#include "mt_addrset.h"
#include "mt_hooks.h"
#include "preload/mt_preload.h"
#include "mt_got.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* (const) between mt_alloc_start and mt_alloc_stop; GIL for the rest. */
static PyMemAllocatorEx prev[3];   /* raw, mem, obj as found at install */
static int python_on, native_on, lazy_stacks;
/* Object tracking is on (const): a realloc of the object domain may move
 * a tracked object (mt_objects_moving). Deaths read from another thread's
 * buffer are placed before or after a creation at the same address by
 * their times, which mt_alloc_now keeps in the order threads ran. */
static int obj_clock;
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
    uint32_t off1; /* FRAME_OFF1 */
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
/* The frame's current instruction offset in bytes + 1 (0: not started), as
 * POS records and BLOCK positions carry it (format 1.3). 3.12+: the public
 * (unstable) API; 3.11 has none, so the internal macro its header gives
 * (fenced by version: the field changed in 3.12 and 3.13); 3.9 keeps
 * f_lasti in bytes, 3.10 in code units. */
#if PY_VERSION_HEX >= 0x030C0000
#define FRAME_OFF1(f) frame_off1(PyUnstable_InterpreterFrame_GetLasti(f))
#elif PY_VERSION_HEX >= 0x030B0000
#define FRAME_OFF1(f) frame_off1(_PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT))
#elif PY_VERSION_HEX >= 0x030A0000
#define FRAME_OFF1(f) frame_off1((f)->f_lasti * 2)
#else
#define FRAME_OFF1(f) frame_off1((f)->f_lasti)
#endif
static inline uint32_t frame_off1(int lasti) { return lasti < 0 ? 0 : (uint32_t)lasti + 1; }

static inline int hidden(const void *f) {
    for (unsigned i = 0; i < mt_hooks_nhide; i++)
        if (mt_hooks_hide_iframes[i] == f) return 1;
    return 0;
}

/* ---- Marks: proof that the bottom of a stack is unchanged ---------------
 *
 * At each recorded allocation the shadow stack must become the thread's
 * Python stack. Comparing every frame would cost the depth at every
 * allocation (quadratic for a deep recursion that allocates at each level),
 * so the walk from the top stops at the first frame proven unchanged
 * together with everything below it. Address and code cannot prove that:
 * a new call can reuse the address of a returned frame, with the same code,
 * under other callers, and a generator frame keeps its address but changes
 * callers when resumed elsewhere.
 *
 * A mark is a frame object (3.11+: an interpreter frame gets one lazily, and
 * keeps the same one until it ends) of a thread-owned frame at shadow level
 * L, with (L + 1) % MARK_EVERY == 0, recorded as fo -> (thread, L) in the
 * table below, and as codes[L] = fo | 1 in the shadow (the tag says "level
 * L was pushed with this mark").
 *
 * Invariant: an entry fo -> (t, L) is in the table only while fo is alive,
 * and t's shadow level L was pushed for the frame that fo belongs to.
 *   - fo's free removes it (record() sees every obj-domain free in exact
 *     mode, before the memory can be reused: a new frame object at the same
 *     address is never taken for the old one). Sampled mode does not see
 *     every free: it has no marks and compares the whole stack (at sampled
 *     allocations only).
 *     Native-only recording (no obj-domain hook) has no marks either.
 *   - Popping level L removes it. (enter_other, which runs without the
 *     GIL, pops levels and leaves their entries: mark_level ignores an
 *     entry unless level L is below the depth and holds this mark, keys[L]
 *     and codes[L] being rewritten at every push.)
 * Then, at a sync, a frame f with f->frame_obj == fo, an entry fo -> (t, L),
 * L < depth and keys[L] == f is the marked frame itself: a frame object is
 * attached to one interpreter frame for its life, and a new frame starts
 * without one. A thread-owned frame (not a generator's) stays on the stack
 * from its call to its return, and while it does, the frames below it can
 * neither return nor yield: shadow levels 0..L are still the thread's frames
 * 0..L. The frames above f are compared with the shadow from f upward by
 * address and code (and function id after a code object died): whether they
 * are new calls or not, equal at every level means the same functions,
 * which is all the trace records. So a sync walks what changed plus at most
 * MARK_EVERY frames (more where generator frames, which get no mark, fill
 * the gap); the frame objects cost about one per MARK_EVERY levels of
 * stacks deeper than that, and none for shallower ones.
 *
 * 3.9 and 3.10: the frame object is the frame, and a frame that ends is
 * not always freed (the code object keeps it as its zombie frame for the
 * next call, or the frame free list does): so a mark leaves the table in
 * the frame type's dealloc, which every ending frame object goes through
 * (memtrace puts a function of its own there while marks are on; fenced to
 * 3.9/3.10, where PyFrame_Type is a static type of the one GIL). A
 * generator's frame (f_gen) gets no mark, as on 3.11+.
 *
 * The table belongs to the recording interpreter's GIL. */
#define MARK_EVERY 32
#define HAVE_MARKS 1
#if PY_VERSION_HEX >= 0x030B0000
typedef _PyInterpreterFrame mark_frame;
#define MARK_FO(f) ((f)->frame_obj)
#define MARK_OWNED(f) ((f)->owner == FRAME_OWNED_BY_THREAD)
#else
typedef PyFrameObject mark_frame;
#define MARK_FO(f) (f)
#define MARK_OWNED(f) ((f)->f_gen == NULL)
#endif
typedef struct {
    void *fo;       /* frame object; NULL: empty slot */
    mt_tstate *t;   /* thread and shadow level it marks */
    uint32_t level;
} mark_ent;
static mark_ent *marks;
static size_t marks_cap, marks_n;
static int marks_on; /* exact alloc mode, Python domains (const) */
/* Counters by hash of fo: zero means "not a mark", one byte load for each
 * free. Saturate at 255 (then stay). */
static uint8_t mark_filter[4096];
/* A GC object's memory starts with its PyGC_Head (two words in 3.11-3.13;
 * internal/pycore_gc.h cannot be included beside Python.h): that address is
 * freed. A frame object has no other pre-header (checked at start). */
#define MARK_FREED_OFFSET (2 * sizeof(uintptr_t))

static inline size_t mark_hash(const void *fo) {
    return (size_t)(((uint64_t)(uintptr_t)fo * 0x9E3779B97F4A7C15ull) >> 20);
}
static inline uint8_t *mark_fslot(const void *fo) {
    return &mark_filter[mark_hash(fo) & (sizeof mark_filter - 1)];
}

static mark_ent *mark_find(const void *fo) {
    if (!marks_n) return NULL;
    size_t m = marks_cap - 1;
    for (size_t i = mark_hash(fo) & m;; i = (i + 1) & m) {
        if (marks[i].fo == fo) return &marks[i];
        if (!marks[i].fo) return NULL;
    }
}

static void mark_remove(const void *fo) {
    mark_ent *e = mark_find(fo);
    if (!e) return;
    uint8_t *c = mark_fslot(fo);
    if (*c != 255) (*c)--;
    marks_n--;
    /* Backward-shift deletion, as mt_hooks.c's ftab. */
    size_t m = marks_cap - 1, hole = (size_t)(e - marks);
    for (size_t i = (hole + 1) & m; marks[i].fo; i = (i + 1) & m) {
        size_t home = mark_hash(marks[i].fo) & m;
        int stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays) continue;
        marks[hole] = marks[i];
        hole = i;
    }
    marks[hole] = (mark_ent){NULL, NULL, 0};
}

static int mark_insert(void *fo, mt_tstate *t, uint32_t level) {
    mark_ent *e = mark_find(fo);
    if (e) {
        e->t = t;
        e->level = level;
        return 1;
    }
    if ((marks_n + 1) * 2 > marks_cap) {
        size_t cap = marks_cap ? marks_cap * 2 : 256;
        mark_ent *nt = calloc(cap, sizeof *nt);
        if (!nt) return 0;
        for (size_t i = 0; i < marks_cap; i++) {
            if (!marks[i].fo) continue;
            size_t j = mark_hash(marks[i].fo) & (cap - 1);
            while (nt[j].fo) j = (j + 1) & (cap - 1);
            nt[j] = marks[i];
        }
        free(marks);
        marks = nt;
        marks_cap = cap;
    }
    size_t j = mark_hash(fo) & (marks_cap - 1);
    while (marks[j].fo) j = (j + 1) & (marks_cap - 1);
    marks[j] = (mark_ent){fo, t, level};
    marks_n++;
    uint8_t *c = mark_fslot(fo);
    if (*c != 255) (*c)++;
    return 1;
}

static void marks_reset(void) {
    free(marks);
    marks = NULL;
    marks_cap = marks_n = 0;
    memset(mark_filter, 0, sizeof mark_filter);
}

#if PY_VERSION_HEX >= 0x030B0000
/* record(), for every free with the GIL (exact mode): addr may be a mark's
 * memory. */
static inline void mark_freed(uintptr_t addr) {
    void *fo = (void *)(addr + MARK_FREED_OFFSET);
    if (__builtin_expect(marks_n != 0, 0) && *mark_fslot(fo)) mark_remove(fo);
}
#endif

/* The frame object of f, made if it has none (_PyFrame_GetFrameObject is not
 * exported: PyFrame_GetBack of a stand-in frame object whose frame's
 * previous is f makes it). GC is off meanwhile: on 3.11 allocating a GC
 * object can collect at once, and finalizers must not run inside an
 * allocator hook. Borrowed (f owns it); NULL on failure. */
#if PY_VERSION_HEX >= 0x030B0000
static PyFrameObject *frame_object(_PyInterpreterFrame *f) {
    if (f->frame_obj) return f->frame_obj;
    static PyFrameObject stand_in;
    static _PyInterpreterFrame stand_in_frame;
    stand_in.f_back = NULL;
    stand_in.f_frame = &stand_in_frame;
    stand_in_frame.previous = f;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    int gc = PyGC_Disable();
    PyFrameObject *fo = PyFrame_GetBack(&stand_in);
    if (gc) PyGC_Enable();
    stand_in_frame.previous = NULL;
    if (fo) Py_DECREF(fo);
    PyErr_Clear();
    PyErr_Restore(et, ev, etb);
    return fo && f->frame_obj == fo ? fo : NULL;
}
#else
static PyFrameObject *frame_object(PyFrameObject *f) { return f; }

/* 3.9/3.10: see "Marks". Installed by mt_alloc_start while marks are on,
 * taken off at stop if it is still the type's; if another module has put
 * its own function there since (calling ours), ours stays in that chain,
 * passing through, and is not installed again (chained). */
static destructor frame_dealloc_prev;
static int frame_dealloc_chained;
static void frame_dealloc_unmark(PyObject *op) {
    /* The type's own dealloc uses the trashcan only while it is the type's
     * tp_dealloc: with ours there, freeing a deep chain of frames (f_back)
     * would recurse on the C stack. So the trashcan is here, with the
     * frame untracked first as the type's dealloc does (the trashcan
     * defers untracked objects); deferred frames come back through
     * tp_dealloc, that is here. */
    PyObject_GC_UnTrack(op);
    Py_TRASHCAN_BEGIN(op, frame_dealloc_unmark)
    if (__builtin_expect(marks_n != 0, 0) && *mark_fslot(op)) mark_remove(op);
    frame_dealloc_prev(op);
    Py_TRASHCAN_END
}
#endif

#define MARKED(t, L) (((uintptr_t)(t)->codes[L] & 1u) != 0)
/* Is f the frame marked at a level of t's shadow? Its level, or -1. */
static inline int64_t mark_level(mt_tstate *t, mark_frame *f) {
    void *fo = (void *)MARK_FO(f);
    if (!fo || !*mark_fslot(fo)) return -1;
    mark_ent *e = mark_find(fo);
    if (!e || e->t != t || e->level >= t->depth || t->keys[e->level] != (void *)f ||
        t->codes[e->level] != (void *)((uintptr_t)fo | 1u))
        return -1;
    return e->level;
}

/* Test-only counter (_memtrace._stats): frames visited by sync_stack. GIL. */
static uint64_t frames_walked;
uint64_t mt_alloc_frames_walked(void) { return frames_walked; }

/* May this hook call the Python API (make Python objects)? See "Python API
 * in hooks" in record(): *ok is 1 or 0, or -1 for a raw-domain event not
 * looked at yet: then yes when memtrace's raw hook is the outermost one (no
 * other hook, such as tracemalloc, called it from inside its own critical
 * section). Asked only where an object would be made (a new function, a
 * thread to name, a mark): rare. */
static int api_check(int *ok) {
    if (*ok < 0) {
        PyMemAllocatorEx cur;
        PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &cur);
        *ok = cur.ctx == &prev[PYMEM_DOMAIN_RAW];
    }
    return *ok;
}

/* r->fid, defining the function if it is new and the hook may make Python
 * objects (api_check). 0: it is new and may not be defined here. */
static int frame_fid(frame_ref *r, int *api_ok) {
    r->fid = mt_hooks_code_fid_known(r->co);
    if (!r->fid) {
        if (!api_check(api_ok)) return 0;
        r->fid = mt_hooks_code_fid(r->co, r->globals);
    }
    return 1;
}

/* Positions (format 1.3, mt_rec.positions): the levels (from the bottom)
 * whose instruction offset changed since it was last written, found by
 * sync_stack, written by pos_write. GIL, like scratch. */
static uint32_t *pos_lv, *pos_off1;
static size_t pos_n, pos_cap;

static inline void pos_note(uint32_t level, uint32_t off1) {
    if (pos_n == pos_cap) {
        size_t cap = pos_cap ? pos_cap * 2 : 256;
        uint32_t *a = realloc(pos_lv, cap * sizeof *a);
        if (!a) return;
        pos_lv = a;
        a = realloc(pos_off1, cap * sizeof *a);
        if (!a) return;
        pos_off1 = a;
        pos_cap = cap;
    }
    pos_lv[pos_n] = level;
    pos_off1[pos_n++] = off1;
}

/* The shadow takes the noted positions first (a BLOCK that a new buffer
 * opens carries them), then POS records say them, at most 6 levels each so
 * that one fits the room mt_room promises. An offset that became unknown is
 * written as 0xFFFFFFFF. A POS that finds no room is dropped: the next
 * BLOCK carries the positions. */
#define POS_PER_RECORD 6
static void pos_write(mt_tstate *t) {
    if (!pos_n) return;
    for (size_t i = 0; i < pos_n; i++) t->offs[pos_lv[i]] = pos_off1[i];
    /* POS has no time: the last one read serves a new buffer's BLOCK (no
     * clock read, no credit of mt_alloc_now spent). */
    uint64_t now = t->last_ticks;
    for (size_t i = 0; i < pos_n; i += POS_PER_RECORD) {
        uint32_t lv[POS_PER_RECORD], of[POS_PER_RECORD], m = 0;
        for (size_t j = i; j < pos_n && j < i + POS_PER_RECORD; j++) {
            lv[m] = t->depth - 1 - pos_lv[j];
            of[m++] = pos_off1[j] ? pos_off1[j] - 1 : UINT32_MAX;
        }
        if (!mt_room(t, now)) break;
        t->pos = mt_enc_pos(t->pos, m, lv, of);
        t->nrec++;
    }
    pos_n = 0;
}

/* Make the shadow stack the thread's Python stack: RETURN for the shadow
 * frames that are gone, CALL for the new ones (see "Marks" for what is
 * compared). Frames that ended by an exception are written as RETURN too.
 * With positions on, each frame's instruction offset too: the allocating
 * instruction of the innermost, the call of the others. Frames below a
 * marked frame that is still there cannot have moved (they are all waiting
 * in a call that leads to it), so the walk still ends at the mark. */
static void sync_stack(mt_tstate *t, PyThreadState *ts, int *api_ok) {
    const int pos_on = mt_rec.positions;
    pos_n = 0;
    __typeof__(TOP_FRAME(ts)) top = TOP_FRAME(ts);
    /* Incomplete frames (pushed, prologue not run) are only found on top:
     * nothing is called from a prologue. (3.12+: C-stack entry frames can
     * be anywhere and are skipped everywhere.) */
    while (top && FRAME_SKIP(top)) top = FRAME_PREV(top);
    /* The launcher's frames (and their callers) are not part of the stack:
     * the walk ends at the first of them. */
    /* A code object of the shadow stack was deallocated since the last
     * comparison (its frames ended): a new code object at its address, in a
     * frame at the same address, would compare equal. Then fids are
     * compared too (one lookup per frame, only after such a death). */
    int recheck = t->code_epoch != mt_hooks_code_epoch;
    /* The common case first: the same stack as at the last record, compared
     * in place down to a mark or the bottom; any difference falls through
     * to the walk below. */
    if (!recheck) {
        uint32_t d = t->depth;
        __typeof__(top) f = top;
        while (f && !hidden((void *)f) && d) {
            frames_walked++;
#ifdef HAVE_MARKS
            if (MARKED(t, d - 1)) {
                if (mark_level(t, f) == (int64_t)d - 1) {
                    uint32_t o;
                    if (pos_on && (o = FRAME_OFF1(f)) != t->offs[d - 1]) pos_note(d - 1, o);
                    pos_write(t);
                    return;
                }
                break;
            }
#endif
            if (t->keys[d - 1] != (void *)f || t->codes[d - 1] != (void *)FRAME_CODE(f)) break;
            uint32_t o;
            if (pos_on && (o = FRAME_OFF1(f)) != t->offs[d - 1]) pos_note(d - 1, o);
            d--;
            do f = FRAME_PREV(f);
#if PY_VERSION_HEX >= 0x030C0000
            while (f && FRAME_SKIP(f));
#else
            while (0);
#endif
        }
        if ((!f || hidden((void *)f)) && !d) {
            pos_write(t);
            return;
        }
        pos_n = 0; /* found again below */
    }
    /* The frames above the first marked one, innermost first; base: the
     * level of the first of them (the one above the mark). */
    size_t n = 0;
    uint32_t base = 0, mark_off1 = 0;
    for (__typeof__(top) f = top; f && !hidden((void *)f); f = FRAME_PREV(f)) {
#if PY_VERSION_HEX >= 0x030C0000
        if (FRAME_SKIP(f)) continue;
#endif
        frames_walked++;
#ifdef HAVE_MARKS
        if (marks_n && MARK_OWNED(f)) {
            int64_t level = mark_level(t, f);
            if (level >= 0) {
                base = (uint32_t)level + 1;
                if (pos_on) mark_off1 = FRAME_OFF1(f);
                break;
            }
        }
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
        scratch[n++] = (frame_ref){(void *)f, co, f->f_globals, 0, pos_on ? FRAME_OFF1(f) : 0};
    }
    if (recheck) {
        for (size_t i = 0; i < n; i++)
            if (!frame_fid(&scratch[i], api_ok)) return; /* see "Python API in hooks" */
        t->code_epoch = mt_hooks_code_epoch;
    }
    /* Levels base.. of the shadow against the frames found, from the
     * bottom up. A marked level compares unequal (its mark was not found:
     * its frame is gone). */
    uint32_t common = base, depth = t->depth;
    while (common < depth && common - base < n) {
        frame_ref *r = &scratch[n - 1 - (common - base)];
        if (t->keys[common] != r->key || t->codes[common] != (void *)r->co ||
            (recheck && t->fids[common] != r->fid))
            break;
        common++;
    }
    if (common == depth && common == base + n) goto positions;
    while (t->cap < base + n)
        if (!mt_tstate_grow(t)) return;
    /* Function ids first: defining one calls the Python API, whose frees
     * may write records; the stack records are then written in one go. */
    for (size_t i = common - base; i < n && !recheck; i++) {
        frame_ref *r = &scratch[n - 1 - i];
        if (!frame_fid(r, api_ok)) return; /* see "Python API in hooks" (record) */
    }
    uint64_t now = mt_alloc_now(t);
    while (t->depth > common) {
#ifdef HAVE_MARKS
        if (MARKED(t, t->depth - 1))
            mark_remove((void *)((uintptr_t)t->codes[t->depth - 1] & ~(uintptr_t)1));
#endif
        if (MT_PROBE_ON(function__return)) mt_probe_function(0, t->fids[t->depth - 1]);
        if (mt_room(t, now)) {
            t->pos = mt_enc_event(t->pos, MT_REC_RETURN, mt_dt(t, now));
            t->nrec++;
        }
        t->depth--;
    }
    for (uint32_t L = common; L < base + n; L++) {
        frame_ref *r = &scratch[n - 1 - (L - base)];
        uint32_t fid = r->fid;
        t->fids[L] = fid;
        t->keys[L] = r->key;
        t->codes[L] = r->co;
        t->offs[L] = 0; /* a new frame: the reader's is unknown too */
        t->flags[L] = MT_FR_WRITTEN | MT_FR_ELIGIBLE;
        /* Room first, then the frame: a new buffer's BLOCK must not carry
         * the frame whose CALL follows it; a dropped CALL's frame is in
         * the next BLOCK. */
        int room = mt_room(t, now);
        t->depth = L + 1;
        if (MT_PROBE_ON(function__entry)) mt_probe_function(1, fid);
        if (room) {
            t->pos = mt_enc_call(t->pos, mt_dt(t, now), fid);
            t->nrec++;
        }
    }
#ifdef HAVE_MARKS
    /* After the records: making a frame object allocates (not recorded, the
     * guard is SYNC), and its free is a program free like any other. */
    if (marks_on && api_check(api_ok)) {
        for (uint32_t L = common; L < base + n; L++) {
            mark_frame *f = (mark_frame *)t->keys[L];
            if ((L + 1) % MARK_EVERY || !MARK_OWNED(f)) continue;
            PyFrameObject *fo = frame_object(f);
            if (fo && mark_insert(fo, t, L)) t->codes[L] = (void *)((uintptr_t)fo | 1u);
        }
    }
#endif
    t->lazy_lo = t->depth;
positions:
    if (!pos_on) return;
    if (base > 0 && base - 1 < t->depth && mark_off1 != t->offs[base - 1])
        pos_note(base - 1, mark_off1);
    for (uint32_t L = base; L < base + n && L < t->depth; L++) {
        frame_ref *r = &scratch[n - 1 - (L - base)];
        if (r->off1 != t->offs[L]) pos_note(L, r->off1);
    }
    pos_write(t);
}

/* Profile and fast modes with allocations (positions on, no filters): the
 * innermost Python frame's position, the allocating line. The call hooks
 * keep the stack; the frames' call sites are not known in these modes, so
 * at most one level has a position, t->pos_level: the last frame that
 * allocated, made unknown again (0xFFFFFFFF) when another one does, so that
 * a caller never shows the line of an earlier allocation as its call site.
 * The shadow's innermost Python level must be that frame (same function),
 * else nothing is written. */
static void innermost_pos(mt_tstate *t, PyThreadState *ts) {
    __typeof__(TOP_FRAME(ts)) f = TOP_FRAME(ts);
    while (f && FRAME_SKIP(f)) f = FRAME_PREV(f);
    if (!f || hidden((void *)f)) return;
    uint32_t L = t->depth;
    while (L && (t->flags[L - 1] & MT_FR_C)) L--;
    if (!L--) return;
    uint32_t o = FRAME_OFF1(f);
    if (o == t->offs[L]) return;
    PyCodeObject *co = FRAME_CODE(f);
    if (!co || !PyCode_Check((PyObject *)co) || mt_hooks_code_fid_known(co) != t->fids[L]) return;
    pos_n = 0;
    uint32_t P = t->pos_level;
    if (P != L && P < L && t->offs[P]) pos_note(P, 0);
    pos_note(L, o);
    t->pos_level = L;
    pos_write(t);
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
    t->offs[0] = 0;
    t->flags[0] = MT_FR_WRITTEN | MT_FR_ELIGIBLE;
    int room = mt_room(t, now); /* before the frame: as in sync_stack */
    t->depth = 1;
    if (room) {
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
    /* Python API in hooks: a raw-domain call may come from inside another
     * allocator hook's critical section (tracemalloc calls the raw domain
     * holding its tables lock, and takes that lock again for every new
     * object): when another hook is over memtrace's raw one (api_check),
     * no naming, no function definitions (a frame whose code is not yet
     * defined leaves the stack as it was), no marks; a thread first met
     * there takes the no-GIL path. */
    int api_ok = domain != MT_DOMAIN_RAW ? 1 : -1;
    if (!t && ts && !api_check(&api_ok)) ts = NULL;
    gil = ts != NULL;
    int outer = mt_tls_guard;
    mt_tls_guard = MT_GUARD_CORE;
    if (gil) {
#ifdef HAVE_MARKS
        /* Before anything else: whichever thread frees a mark. */
#if PY_VERSION_HEX >= 0x030B0000
        if (type == MT_REC_FREE) mark_freed(addr);
#endif
#endif
        if (!t) {
            /* Not while naming a thread or a function: the state that is
             * being made is not ready. */
            if (outer) goto out;
            t = mt_hooks_thread_begin(!lazy_stacks);
            if (!t) goto out;
        }
        /* The stack records and the allocation record are written as one
         * piece: the writer does not take the buffer in between. */
        mt_own(t);
        if (type != MT_REC_FREE && !outer) {
            if (lazy_stacks && ts) {
                mt_tls_guard = MT_GUARD_SYNC;
                if (t->unnamed && api_check(&api_ok)) mt_hooks_retry_name(t);
                sync_stack(t, ts, &api_ok);
                mt_tls_guard = MT_GUARD_CORE;
            } else if (mt_rec.filtering) {
                mt_rec_flush_lazy(t);
            } else if (mt_rec.positions && ts) {
                innermost_pos(t, ts);
            }
        }
        mt_rec_alloc_event(t, type, domain, old, addr, size);
        mt_unown(t);
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

/* Object tracking (mt_objects.c's reference tracer, 3.13+): one OBJ_NEW
 * or OBJ_DEL, GIL held. The stack of an OBJ_NEW is made as an allocation's
 * (the creating line); an OBJ_DEL needs none, as a FREE. Objects of other
 * interpreters are not recorded (the tracer is process-wide). Under the
 * guard only an OBJ_DEL is written: an object the program made can die in
 * a collection that the recorder's own allocation started. */
void mt_alloc_obj_event(int type, uintptr_t addr, uint32_t sid) {
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (!ts || ts->interp != rec_interp) return;
    int outer = mt_tls_guard;
    if (outer && (type == MT_REC_OBJ_NEW || outer == MT_GUARD_CORE)) return;
    mt_tstate *t = mt_tstate_get();
    int api_ok = 1;
    mt_tls_guard = MT_GUARD_CORE;
    if (!t) {
        if (outer) goto out;
        t = mt_hooks_thread_begin(!lazy_stacks);
        if (!t) goto out;
    }
    mt_own(t);
    if (type == MT_REC_OBJ_NEW) {
        if (lazy_stacks) {
            mt_tls_guard = MT_GUARD_SYNC;
            if (t->unnamed && api_check(&api_ok)) mt_hooks_retry_name(t);
            sync_stack(t, ts, &api_ok);
            mt_tls_guard = MT_GUARD_CORE;
        } else if (mt_rec.filtering) {
            mt_rec_flush_lazy(t);
        } else if (mt_rec.positions) {
            innermost_pos(t, ts);
        }
    }
    uint64_t now = mt_alloc_now(t);
    if (mt_room(t, now)) {
        t->pos = mt_enc_obj(t->pos, type, mt_dt(t, now), addr, sid, &t->prev_addr);
        t->nrec++;
    }
    mt_unown(t);
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
        if (d == PYMEM_DOMAIN_OBJ && obj_clock && old && !g) mt_objects_moving(old); \
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

/* The guard stays up around every call below, small requests included:
 * pymalloc itself calls out from inside one (new_arena reallocs its arena
 * array through the raw domain and maps the arena with mmap, seen by the
 * native hook), and a record made there (naming new frames allocates)
 * would re-enter pymalloc while its lists are half updated. (Skipping the
 * guard for small requests cost 2-6% less and crashed: see
 * test_pymalloc_arenas_under_native_and_sampled.) */
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
        if (d == PYMEM_DOMAIN_OBJ && obj_clock && old && !g) mt_objects_moving(old); \
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

/* 1: libmemtrace-preload.so is loaded (the launcher's --native: it sees
 * every call from the process's start); 2: in-process GOT patching
 * (mt_got.h: memtrace.start(native=True) in a running program); 0: neither
 * (another platform). */
int mt_alloc_native_available(void) {
    if (!preload_register)
        preload_register = (mt_preload_register_fn)dlsym(RTLD_DEFAULT, MT_PRELOAD_REGISTER);
    if (preload_register) return 1;
#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__GLIBC__)
    return 2;
#else
    return 0;
#endif
}

/* ---- Install ----------------------------------------------------------- */

static int uninstall(void);

int mt_alloc_start(const mt_alloc_config *cfg) {
    if (cfg->native && !mt_alloc_native_available()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "native=True: this platform has neither GOT patching (Linux, glibc, "
                        "x86-64 or AArch64) nor libmemtrace-preload.so");
        return -1;
    }
    sample_bytes = cfg->sample_bytes ? cfg->sample_bytes : 1;
    lazy_stacks = cfg->lazy_stacks;
    obj_clock = cfg->objects;
    rec_interp = PyInterpreterState_Get();
    frames_walked = 0;
#ifdef HAVE_MARKS
    marks_reset();
#if PY_VERSION_HEX >= 0x030B0000
    marks_on = lazy_stacks && sample_bytes == 1 && cfg->python &&
               !(PyFrame_Type.tp_flags & (Py_TPFLAGS_MANAGED_DICT
#ifdef Py_TPFLAGS_MANAGED_WEAKREF
                                          | Py_TPFLAGS_MANAGED_WEAKREF
#endif
                                          ));
#else
    /* 3.9/3.10: marks leave at the frame's dealloc (see "Marks"). */
    marks_on = lazy_stacks && sample_bytes == 1 && cfg->python;
    if (marks_on && !frame_dealloc_chained) {
        frame_dealloc_prev = PyFrame_Type.tp_dealloc;
        PyFrame_Type.tp_dealloc = frame_dealloc_unmark;
        frame_dealloc_chained = 1;
    }
#endif
#endif
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
        if (preload_register) {
            preload_register(native_hook);
            native_on = 1;
        } else if (mt_got_set_sampled(sample_bytes > 1), mt_got_install(native_hook) == 0) {
            native_on = 2;
        } else {
            PyErr_SetString(PyExc_RuntimeError,
                            "native=True: patching the loaded libraries' GOT failed");
            uninstall();
            return -1;
        }
    }
    return 0;
}

int mt_alloc_found_obj(PyMemAllocatorEx *out) {
    if (!python_on) return 0;
    *out = prev[2];
    return 1;
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
    if (native_on == 1) preload_register(NULL);
    if (native_on == 2) mt_got_uninstall();
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

/* No marks any more (stop, or the child of a fork). 3.9/3.10: the frame
 * type's dealloc is its own again, unless another module has put one of
 * its own there since (then ours stays, passing through: marks_n is 0). */
static void marks_off(void) {
    marks_on = 0;
    marks_reset();
#if PY_VERSION_HEX < 0x030B0000
    if (frame_dealloc_chained && PyFrame_Type.tp_dealloc == frame_dealloc_unmark) {
        PyFrame_Type.tp_dealloc = frame_dealloc_prev;
        frame_dealloc_chained = 0;
    }
#endif
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
    marks_off();
}

void mt_alloc_after_fork_child(void) {
    uninstall();
    python_on = native_on = 0;
    marks_off();
}

uint64_t mt_alloc_sampled_live(void) {
    return sample_bytes > 1 ? mt_addrset_count() : 0;
}

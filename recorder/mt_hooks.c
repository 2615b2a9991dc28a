/*
 * mt_hooks.c - CPython hooks feeding the recorder core.
 *
 * profile: PyEval_SetProfile with a C function on every thread: Python and C
 *          call/return/exception.
 * trace:   PyEval_SetTrace alone: Python call/return, line and exception
 *          events, which is what a trace function sees (and what
 *          cPyMemTrace.Trace records). With c_calls, the profile function
 *          is installed as well, records the calls and returns (Python and
 *          C), and the trace function then keeps to lines and exceptions.
 *          A second hook costs ~8% on call-heavy code (bench-recorder:
 *          floor-both vs floor-trace, 3.11), so it is not the default.
 * fast:    a PEP 523 frame-evaluation function around
 *          _PyEval_EvalFrameDefault (or around the evaluation function that
 *          was installed before it, which it calls): Python frames only. CPython inlines
 *          Python-to-Python calls only while no eval function is set
 *          (3.11: CALL checks interp->eval_frame; 3.12/3.13: the
 *          specialised calls DEOPT_IF(tstate->interp->eval_frame)), so every
 *          frame passes through the hook; the tests check exact call counts.
 *
 * Everything here runs with the GIL held; that is the lock that serialises
 * the hot path with the writer's periodic hand-over (mt_rec_flush_idle).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX >= 0x030B0000
/* _PyInterpreterFrame is internal from 3.11 on; Py_BUILD_CORE only for these
 * headers, after Python.h has been read as a normal extension. */
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE
#endif

#include "mt_hooks.h"
#include "mt_alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if PY_VERSION_HEX >= 0x030D0000
#define MT_IS_FINALIZING() Py_IsFinalizing()
#else
#define MT_IS_FINALIZING() _Py_IsFinalizing()
#endif

/* All of the following: GIL. */
static int hooks_mode;
/* The frame that started recording on behalf of a program (the launcher's
 * own): it and its callers are left out of every stack. Strong reference,
 * GIL. mt_hooks_hide_iframe is the interpreter frame it runs in, for the
 * allocation hooks' frame walk. */
static PyFrameObject *hooks_hide_frame;
void *mt_hooks_hide_iframes[MT_HIDE_MAX];
unsigned mt_hooks_nhide;

/* Is f the hidden frame or one of its callers? (A short list, looked at
 * only when a thread's existing frames are walked.) */
static int hidden_frame(PyFrameObject *f) {
#if PY_VERSION_HEX >= 0x030B0000
    void *key = f->f_frame;
#else
    void *key = f;
#endif
    for (unsigned i = 0; i < mt_hooks_nhide; i++)
        if (mt_hooks_hide_iframes[i] == key) return 1;
    return 0;
}
static int hooks_profile; /* the profile function is installed and records
                             calls and returns; else trace_cb does */
static mt_filters hooks_filters;
/* mt_hooks_stop is running (it releases the GIL while the recorder core
 * finishes the file): no new session may start before the old one's state
 * (ftab, filters, hooks) is gone. */
static int hooks_stopping;

/* ---- Function ids ------------------------------------------------------- */

/* Open-addressing table: key = code object, PyMethodDef of a C function
 * (static for the life of its module), or an exception type + 1 (odd: cannot
 * collide with the aligned keys). A hash lookup costs a few ns; the co_extra
 * slot would avoid it but needs a call into CPython for each read, no
 * cheaper.
 *
 * Code objects are not kept alive by the table (a program that compiles code
 * at run time - exec, namedtuple, templates - would grow without bound while
 * recording): each one defined gets a co_extra slot whose free function
 * (code_freed, run by CPython when the code object is deallocated, with the
 * GIL) removes its entry. Its fid stays valid in the trace; a new code object
 * at the same address is defined again with a new fid. Only if the slot
 * cannot be had is a strong reference held instead (FENT_STRONG).
 *
 * Interpreters: only code objects of the interpreter that started recording
 * (ftab_interp) enter the table. Sub-interpreters' code must not: a code
 * object belongs to its interpreter (its memory to that interpreter's
 * allocator from 3.12, its co_extra slots to that interpreter's index
 * space), and a strong reference released at stop by another interpreter,
 * perhaps after its own was destroyed, frees it with the wrong allocator.
 * The co_extra index is requested once per process and is valid in the
 * interpreter that asked for it (code_extra_interp) only; elsewhere the
 * table holds a reference, released by ftab_clear in that same interpreter. */
typedef struct {
    void *key;
    uint32_t id;    /* fid, or sid for exception types */
    uint32_t flags; /* MT_FR_ELIGIBLE when include/exclude let it through;
                       FENT_STRONG */
} fent;
#define FENT_STRONG 0x100u /* the table holds a reference to key (a code) */
static fent *ftab;
static size_t ftab_cap, ftab_n;
static unsigned ftab_shift;
static Py_ssize_t code_extra_index = -1; /* once per process; -1: none */
static int64_t code_extra_interp = -1;   /* ID of the interpreter it is valid in */
/* The interpreter whose code objects the table holds: the one that started
 * recording (set by mt_hooks_start; GIL). */
static PyInterpreterState *ftab_interp;
#if PY_VERSION_HEX >= 0x030C0000 /* the same functions, renamed */
#define MT_REQUEST_EXTRA PyUnstable_Eval_RequestCodeExtraIndex
#define MT_GET_EXTRA PyUnstable_Code_GetExtra
#define MT_SET_EXTRA PyUnstable_Code_SetExtra
#else
#define MT_REQUEST_EXTRA _PyEval_RequestCodeExtraIndex
#define MT_GET_EXTRA _PyCode_GetExtra
#define MT_SET_EXTRA _PyCode_SetExtra
#endif
uint64_t mt_hooks_code_epoch; /* +1 when a code object's entry goes (GIL) */

static inline size_t ftab_slot(const void *key) {
    return (size_t)(((uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull) >> ftab_shift);
}

static inline fent *ftab_find(const void *key) {
    if (!ftab) return NULL;
    size_t m = ftab_cap - 1;
    for (size_t i = ftab_slot(key);; i = (i + 1) & m) {
        fent *e = &ftab[i];
        if (e->key == key) return e;
        if (!e->key) return NULL;
    }
}

static fent *ftab_insert(void *key, uint32_t id, uint32_t flags) {
    if ((ftab_n + 1) * 2 > ftab_cap) {
        size_t cap = ftab_cap ? ftab_cap * 2 : 4096;
        unsigned shift = 64;
        for (size_t c = cap; c > 1; c >>= 1) shift--;
        fent *nt = calloc(cap, sizeof *nt);
        if (!nt) return NULL;
        fent *old = ftab;
        size_t oldcap = ftab_cap;
        ftab = nt;
        ftab_cap = cap;
        ftab_shift = shift;
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].key) continue;
            size_t j = ftab_slot(old[i].key);
            while (ftab[j].key) j = (j + 1) & (cap - 1);
            ftab[j] = old[i];
        }
        free(old);
    }
    size_t j = ftab_slot(key);
    while (ftab[j].key) j = (j + 1) & (ftab_cap - 1);
    ftab[j] = (fent){key, id, flags};
    ftab_n++;
    return &ftab[j];
}

/* Backward-shift deletion (no tombstones), as mt_addrset.c. */
static void ftab_remove(const void *key) {
    if (!ftab || !key) return;
    size_t m = ftab_cap - 1, j = ftab_slot(key);
    while (ftab[j].key && ftab[j].key != key) j = (j + 1) & m;
    if (!ftab[j].key) return;
    ftab_n--;
    size_t hole = j;
    for (size_t i = (j + 1) & m; ftab[i].key; i = (i + 1) & m) {
        size_t home = ftab_slot(ftab[i].key);
        int stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays) continue;
        ftab[hole] = ftab[i];
        hole = i;
    }
    ftab[hole] = (fent){NULL, 0, 0};
    mt_hooks_code_epoch++;
}

/* co_extra free function: the code object (the slot's value is its own
 * address) is being deallocated. Also called with NULL for unset slots. */
static void code_freed(void *co) { ftab_remove(co); }

static void ftab_clear(void) {
    /* The table is taken away first: a deallocation below calls
     * code_freed, which must find nothing to remove. */
    fent *tab = ftab;
    size_t cap = ftab_cap;
    ftab = NULL;
    ftab_cap = ftab_n = 0;
    /* References are released by the interpreter they belong to; a stop
     * called from another one (a legacy sub-interpreter that imported
     * memtrace) leaks them rather than free another interpreter's code. */
    int mine = _PyThreadState_UncheckedGet() &&
               _PyThreadState_UncheckedGet()->interp == ftab_interp;
    for (size_t i = 0; mine && i < cap; i++)
        if (tab[i].key && (tab[i].flags & FENT_STRONG)) Py_DECREF((PyObject *)tab[i].key);
    free(tab);
}

/* Tie the entry of co to its life: its co_extra slot holds its address.
 * 0, or -1 when there is no slot (the caller then keeps a reference). */
static int code_watch(PyCodeObject *co) {
    static int asked;
    int64_t here = PyInterpreterState_GetID(PyInterpreterState_Get());
    if (!asked) {
        asked = 1;
        code_extra_index = MT_REQUEST_EXTRA(code_freed);
        code_extra_interp = here;
    }
    if (code_extra_index < 0 || here != code_extra_interp) return -1;
    void *x = NULL;
    if (MT_GET_EXTRA((PyObject *)co, code_extra_index, &x) < 0) return -1;
    if (x == co) return 0; /* a former session's: still right */
    return MT_SET_EXTRA((PyObject *)co, code_extra_index, co) < 0 ? -1 : 0;
}

static uint32_t sid_of(PyObject *str) {
    Py_ssize_t n = 0;
    const char *s = str && PyUnicode_Check(str) ? PyUnicode_AsUTF8AndSize(str, &n) : NULL;
    if (!s) {
        PyErr_Clear();
        return 0;
    }
    return mt_rec_string(s, (size_t)n);
}

static int prefix_match(const char *s, size_t n, const char *p, int module) {
    size_t k = strlen(p);
    if (n < k || memcmp(s, p, k) != 0) return 0;
    return !module || n == k || s[k] == '.';
}

/* Does a function of this module / file pass include and exclude? */
static uint32_t filter_flags(PyObject *module, PyObject *file) {
    if (!hooks_filters.ninclude && !hooks_filters.nexclude) return MT_FR_ELIGIBLE;
    Py_ssize_t mn = 0, fn = 0;
    const char *m = module && PyUnicode_Check(module) ? PyUnicode_AsUTF8AndSize(module, &mn) : NULL;
    const char *f = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8AndSize(file, &fn) : NULL;
    if (!m || !f) PyErr_Clear();
    int in = hooks_filters.ninclude == 0;
    for (size_t i = 0; !in && i < hooks_filters.ninclude; i++) {
        const char *p = hooks_filters.include[i];
        in = (m && prefix_match(m, (size_t)mn, p, 1)) || (f && prefix_match(f, (size_t)fn, p, 0));
    }
    for (size_t i = 0; in && i < hooks_filters.nexclude; i++) {
        const char *p = hooks_filters.exclude[i];
        if ((m && prefix_match(m, (size_t)mn, p, 1)) || (f && prefix_match(f, (size_t)fn, p, 0)))
            in = 0;
    }
    return in ? MT_FR_ELIGIBLE : 0;
}

/* Error state is saved around everything that may touch it: hooks run in
 * the middle of exception propagation. */
#define SAVE_ERR PyObject *et_, *ev_, *etb_; PyErr_Fetch(&et_, &ev_, &etb_)
#define RESTORE_ERR PyErr_Restore(et_, ev_, etb_)

static fent *code_define(PyCodeObject *co, PyObject *globals) {
    /* Another interpreter's code (see "Interpreters" above): no fid. */
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (!ts || ts->interp != ftab_interp) return NULL;
    /* The allocations of naming a function are the recorder's. */
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    SAVE_ERR;
    fent *e = NULL;
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *qual = co->co_qualname;
#else
    PyObject *qual = co->co_name; /* no co_qualname before 3.11 */
#endif
    PyObject *module = globals && PyDict_Check(globals)
                           ? PyDict_GetItemString(globals, "__name__") : NULL;
    uint32_t q = sid_of(qual), m = sid_of(module), f = sid_of(co->co_filename);
    uint32_t fid = mt_rec_function(MT_FUNC_PYTHON, q, m, f, (uint32_t)co->co_firstlineno);
    if (fid) {
        uint32_t fl = filter_flags(module, co->co_filename);
        if (code_watch(co) < 0) {
            PyErr_Clear();
            fl |= FENT_STRONG;
        }
        e = ftab_insert(co, fid, fl);
        if (e && (fl & FENT_STRONG)) Py_INCREF(co);
    }
    RESTORE_ERR;
    MT_GUARD_LEAVE();
    return e;
}


static inline fent *code_fent(PyCodeObject *co, PyObject *globals) {
    fent *e = ftab_find(co);
    return e ? e : code_define(co, globals);
}
uint32_t mt_hooks_code_fid(PyCodeObject *co, PyObject *globals) {
    fent *e = code_fent(co, globals);
    return e ? e->id : 0;
}

/* A C callable: PyCFunction (keyed by its PyMethodDef, shared by every
 * bound instance) or anything else (keyed by its type). */
static fent *cfunc_fent(PyObject *callable) {
    void *key;
    if (PyCFunction_Check(callable)) key = ((PyCFunctionObject *)callable)->m_ml;
    else if (Py_IS_TYPE(callable, &PyMethodDescr_Type)) key = ((PyMethodDescrObject *)callable)->d_method;
    else key = Py_TYPE(callable);
    fent *e = ftab_find(key);
    if (e) return e;
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    SAVE_ERR;
    char qual[512];
    const char *modname = "builtins";
    PyObject *module = NULL;
    if (PyCFunction_Check(callable)) {
        PyCFunctionObject *c = (PyCFunctionObject *)callable;
        PyObject *self = c->m_self;
        if (self && !PyModule_Check(self)) {
            const char *tn = Py_TYPE(self)->tp_name, *dot = strrchr(tn, '.');
            if (PyType_Check(self)) { /* classmethod-like: self is the type */
                tn = ((PyTypeObject *)self)->tp_name;
                dot = strrchr(tn, '.');
            }
            snprintf(qual, sizeof qual, "%s.%s", dot ? dot + 1 : tn, c->m_ml->ml_name);
            if (dot) {
                module = PyUnicode_FromStringAndSize(tn, dot - tn);
            }
        } else {
            snprintf(qual, sizeof qual, "%s", c->m_ml->ml_name);
            if (c->m_module && PyUnicode_Check(c->m_module)) {
                module = c->m_module;
                Py_INCREF(module);
            } else if (self && PyModule_Check(self)) {
                module = PyModule_GetNameObject(self);
            }
        }
    } else if (Py_IS_TYPE(callable, &PyMethodDescr_Type)) {
        PyMethodDescrObject *d = (PyMethodDescrObject *)callable;
        const char *tn = PyDescr_TYPE(d)->tp_name, *dot = strrchr(tn, '.');
        snprintf(qual, sizeof qual, "%s.%s", dot ? dot + 1 : tn, d->d_method->ml_name);
    } else {
        snprintf(qual, sizeof qual, "%s", Py_TYPE(callable)->tp_name);
    }
    if (!module) {
        PyErr_Clear();
        module = PyUnicode_FromString(modname);
    }
    uint32_t q = mt_rec_string(qual, strlen(qual)), m = sid_of(module);
    uint32_t fid = mt_rec_function(MT_FUNC_C, q, m, 0, 0);
    if (fid) e = ftab_insert(key, fid, filter_flags(module, NULL));
    Py_XDECREF(module);
    RESTORE_ERR;
    MT_GUARD_LEAVE();
    return e;
}

static uint32_t exc_sid(PyObject *type) {
    if (!type || !PyType_Check(type)) return 0;
    void *key = (char *)type + 1;
    fent *e = ftab_find(key);
    if (e) return e->id;
    const char *n = ((PyTypeObject *)type)->tp_name;
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    uint32_t sid = mt_rec_string(n, strlen(n));
    if (sid) ftab_insert(key, sid, 0);
    MT_GUARD_LEAVE();
    return sid;
}

/* ---- Threads ------------------------------------------------------------ */

/* threading's name for the calling thread, from threading._active: plain
 * dict and attribute reads, no Python code runs. */
static void name_thread(mt_tstate *t, int first) {
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    SAVE_ERR;
    PyObject *name = NULL;
    PyObject *modname = PyUnicode_FromString("threading");
    PyObject *mod = modname ? PyImport_GetModule(modname) : NULL;
    Py_XDECREF(modname);
    if (mod) {
        PyObject *active = PyObject_GetAttrString(mod, "_active");
        PyObject *ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
        PyObject *th = active && ident && PyDict_Check(active) ? PyDict_GetItem(active, ident) : NULL;
        if (th) name = PyObject_GetAttrString(th, "_name");
        Py_XDECREF(ident);
        Py_XDECREF(active);
        Py_DECREF(mod);
    }
    Py_ssize_t n = 0;
    const char *s = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &n) : NULL;
    char buf[64];
    if (s) {
        t->unnamed = 0;
        mt_tstate_name(t, s, (size_t)n);
    } else if (first) {
        /* threading does not know it (yet: a new thread's first frames run
         * before Thread._bootstrap_inner registers it): a provisional name,
         * and the next calls of the thread try again (thread_retry_name). */
        t->unnamed = 64;
        if (t->native_id == (uint64_t)getpid()) snprintf(buf, sizeof buf, "MainThread");
        else snprintf(buf, sizeof buf, "thread-%llu", (unsigned long long)t->native_id);
        mt_tstate_name(t, buf, strlen(buf));
    } else {
        t->unnamed--;
    }
    Py_XDECREF(name);
    PyErr_Clear();
    RESTORE_ERR;
    MT_GUARD_LEAVE();
}

void mt_hooks_retry_name(mt_tstate *t) {
    if (__builtin_expect(t->unnamed != 0, 0)) name_thread(t, 0);
}

static inline void thread_retry_name(mt_tstate *t) {
    if (__builtin_expect(t->unnamed != 0, 0)) {
        t->reentry = 1;
        name_thread(t, 0);
        t->reentry = 0;
    }
}

/* The first event of a thread in this session: make its state, name it, and
 * push the frames already running (outermost first) so that their returns
 * match. from is the innermost frame to push (NULL: none). */
static mt_tstate *thread_begin(PyFrameObject *from) {
    mt_tstate *t = mt_tstate_new((uint64_t)PyThread_get_thread_native_id());
    if (!t) return NULL;
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    t->reentry = 1;
    name_thread(t, 1);
    SAVE_ERR;
    PyFrameObject *chain[512];
    int n = 0;
    if (from) {
        Py_INCREF(from);
        for (PyFrameObject *f = from; f; ) {
            if (hidden_frame(f)) { /* the launcher's frames: hidden */
                Py_DECREF(f);
                break;
            }
            if (n == (int)(sizeof chain / sizeof chain[0])) { /* keep the innermost */
                Py_DECREF(chain[0]);
                memmove(chain, chain + 1, sizeof chain[0] * (size_t)(n - 1));
                n--;
            }
            chain[n++] = f;
            f = PyFrame_GetBack(f); /* new reference */
        }
    }
    for (int i = n - 1; i >= 0; i--) { /* outermost first */
        PyCodeObject *co = PyFrame_GetCode(chain[i]);
#if PY_VERSION_HEX >= 0x030B0000
        PyObject *g = PyFrame_GetGlobals(chain[i]);
#else
        PyObject *g = chain[i]->f_globals;
        Py_XINCREF(g);
#endif
        fent *e = code_fent(co, g);
        if (e) mt_rec_push_synthetic(t, e->id, 0);
        Py_XDECREF(g);
        Py_DECREF(co);
        Py_DECREF(chain[i]);
    }
    PyErr_Clear();
    RESTORE_ERR;
    mt_tstate_begin(t);
    t->reentry = 0;
    MT_GUARD_LEAVE();
    return t;
}

mt_tstate *mt_hooks_thread_begin(int push_frames) {
    if (!push_frames) return thread_begin(NULL);
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    return thread_begin(f);
}

#if PY_VERSION_HEX >= 0x030B0000
typedef struct _PyInterpreterFrame mt_iframe;
#if PY_VERSION_HEX >= 0x030D0000
#define IFRAME_CODE(f) ((PyCodeObject *)(f)->f_executable)
#else
#define IFRAME_CODE(f) ((f)->f_code)
#endif
#else
typedef PyFrameObject mt_iframe;
#define IFRAME_CODE(f) ((f)->f_code)
#endif

/* ---- profile and trace -------------------------------------------------- */

/* The first event of a thread: CALL's frame is the one being entered, whose
 * call the caller records, so the stack to push starts at its parent. */
static mt_tstate *thread_begin_at(PyFrameObject *frame, int what) {
    PyFrameObject *from = frame;
    if (what == PyTrace_CALL && frame) from = PyFrame_GetBack(frame);
    else Py_XINCREF(from);
    mt_tstate *t = thread_begin(from);
    Py_XDECREF(from);
    return t;
}

static inline void on_py_call(mt_tstate *t, PyFrameObject *frame) {
    fent *e;
#if PY_VERSION_HEX >= 0x030B0000
    /* A borrowed read through the internal frame: PyFrame_GetCode is a call
     * plus an incref/decref pair on every call event. */
    PyCodeObject *co = IFRAME_CODE(frame->f_frame);
    e = ftab_find(co);
    if (!e) {
        PyObject *g = PyFrame_GetGlobals(frame);
        e = code_define(co, g);
        Py_XDECREF(g);
    }
#else
    e = code_fent(frame->f_code, frame->f_globals);
#endif
    if (e) mt_rec_enter(t, e->id, e->flags);
    thread_retry_name(t);
}

static int profile_cb(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj;
    if (!atomic_load_explicit(&mt_rec.active, memory_order_relaxed)) return 0;
    mt_tstate *t = mt_tstate_get();
    if (__builtin_expect(t == NULL, 0) && !(t = thread_begin_at(frame, what))) return 0;
    fent *e;
    switch (what) {
    case PyTrace_CALL: on_py_call(t, frame); break;
    case PyTrace_RETURN:
        mt_rec_leave(t, arg ? MT_REC_RETURN : MT_REC_UNWIND);
        break;
    case PyTrace_C_CALL:
        e = cfunc_fent(arg);
        if (e) mt_rec_enter(t, e->id, e->flags | MT_FR_C);
        break;
    case PyTrace_C_RETURN:
        mt_rec_leave(t, MT_REC_CRETURN);
        break;
    case PyTrace_C_EXCEPTION:
        mt_rec_leave(t, MT_REC_CRAISE);
        break;
    }
    return 0;
}

static int trace_cb(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj;
    if (!atomic_load_explicit(&mt_rec.active, memory_order_relaxed)) return 0;
    mt_tstate *t = mt_tstate_get();
    if (hooks_profile) {
        /* The profile function records calls, returns, and makes t. */
        if (what == PyTrace_CALL || what == PyTrace_RETURN || !t) return 0;
    } else if (__builtin_expect(t == NULL, 0) && !(t = thread_begin_at(frame, what))) {
        return 0;
    }
    switch (what) {
    case PyTrace_CALL: on_py_call(t, frame); break;
    case PyTrace_RETURN:
        /* arg is NULL when the frame exits by an exception. */
        mt_rec_leave(t, arg ? MT_REC_RETURN : MT_REC_UNWIND);
        break;
    case PyTrace_LINE: mt_rec_line(t, (uint32_t)PyFrame_GetLineNumber(frame)); break;
    case PyTrace_EXCEPTION: {
        PyObject *type = arg && PyTuple_Check(arg) && PyTuple_GET_SIZE(arg) > 0
                             ? PyTuple_GET_ITEM(arg, 0) : NULL;
        mt_rec_raise(t, exc_sid(type));
        break;
    }
    }
    return 0;
}

/* ---- fast: PEP 523 frame evaluation ------------------------------------- */

/* The frame evaluation function found at install (NULL: CPython's own).
 * Another one (a debugger's, a JIT's) keeps running under ours: we record
 * and call it, and it evaluates the frame. Kept after stop: a frame still
 * running in eval_cb calls it. GIL. */
static _PyFrameEvalFunction hooks_prev_eval;
/* A stop found another evaluation function installed over ours; it may
 * call ours (saved as its "previous"), which calls hooks_prev_eval: a
 * second install would make the loop ours -> it -> ours. GIL. */
static int eval_stranded;

static inline PyObject *eval_next(PyThreadState *ts, mt_iframe *f, int throwflag) {
    _PyFrameEvalFunction p = hooks_prev_eval;
    return p ? p(ts, f, throwflag) : _PyEval_EvalFrameDefault(ts, f, throwflag);
}

static PyObject *eval_cb(PyThreadState *ts, mt_iframe *f, int throwflag) {
    mt_tstate *t;
    if (!atomic_load_explicit(&mt_rec.active, memory_order_relaxed) ||
        (t = mt_tstate_get(), t && t->reentry))
        return eval_next(ts, f, throwflag);
    PyCodeObject *co = IFRAME_CODE(f);
    if (__builtin_expect(t == NULL, 0)) {
        t = thread_begin(PyEval_GetFrame()); /* the caller: f is not linked yet */
        if (!t) return eval_next(ts, f, throwflag);
    }
    fent *e = ftab_find(co);
    if (__builtin_expect(e == NULL, 0)) {
        if (!PyCode_Check((PyObject *)co)) return eval_next(ts, f, throwflag);
        t->reentry = 1;
        e = code_define(co, f->f_globals);
        t->reentry = 0;
        if (!e) return eval_next(ts, f, throwflag);
    }
    mt_rec_enter(t, e->id, e->flags);
    thread_retry_name(t);
    PyObject *r = eval_next(ts, f, throwflag);
    /* Recording may have stopped (or restarted) inside the frame. */
    if (atomic_load_explicit(&mt_rec.active, memory_order_relaxed) && mt_tstate_get() == t)
        mt_rec_leave(t, r ? MT_REC_RETURN : MT_REC_UNWIND);
    return r;
}

static int eval_install(int on) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    _PyFrameEvalFunction cur = _PyInterpreterState_GetEvalFrameFunc(interp);
    if (on) {
        if (eval_stranded) {
            PyErr_SetString(PyExc_RuntimeError,
                            "memtrace: another frame evaluation function (PEP 523) replaced "
                            "memtrace's during an earlier recording; fast mode cannot start "
                            "again in this process");
            return -1;
        }
        hooks_prev_eval = cur == _PyEval_EvalFrameDefault ? NULL : cur;
        _PyInterpreterState_SetEvalFrameFunc(interp, (_PyFrameEvalFunction)eval_cb);
    } else if (cur == (_PyFrameEvalFunction)eval_cb) {
        _PyInterpreterState_SetEvalFrameFunc(
            interp, hooks_prev_eval ? hooks_prev_eval : _PyEval_EvalFrameDefault);
    } else {
        /* Installed over ours during the recording: it stays. */
        eval_stranded = 1;
    }
    return 0;
}

/* ---- fast on 3.13+: sys.monitoring ------------------------------------- */
/*
 * 3.13.0 inlines __init__ calls (CALL_ALLOC_AND_ENTER_INIT) without checking
 * for a PEP 523 eval function, so the frame hook misses them and call counts
 * are wrong; sys.monitoring sees every frame. PY_START/PY_RESUME/PY_THROW
 * enter a frame, PY_RETURN/PY_YIELD/PY_UNWIND leave it (generators: one
 * entry per resumption, as in profile mode). Used for fast mode on 3.13+;
 * 3.9-3.12 keep the PEP 523 hook (see MT_FAST_MONITORING).
 */
#if PY_VERSION_HEX >= 0x030D0000
#define MT_FAST_MONITORING 1
/* The tool id we hold (-1: none), GIL. Taken among 3, 4 and 5, the first
 * free one: 0, 1 and 2 are DEBUGGER_ID, COVERAGE_ID and PROFILER_ID, which
 * pdb, coverage and cProfile claim (cProfile.enable() fails if 2 is in
 * use). Only what we hold is torn down at stop. */
static int mon_tool = -1;

static PyObject *mon_enter(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs < 1 || !atomic_load_explicit(&mt_rec.active, memory_order_relaxed))
        Py_RETURN_NONE;
    mt_tstate *t = mt_tstate_get();
    if (__builtin_expect(t == NULL, 0)) {
        PyFrameObject *cur = PyEval_GetFrame(); /* the frame being entered */
        PyFrameObject *back = cur ? PyFrame_GetBack(cur) : NULL;
        t = thread_begin(back);
        Py_XDECREF(back);
        if (!t) Py_RETURN_NONE;
    }
    PyObject *co = args[0];
    fent *e = ftab_find(co);
    if (__builtin_expect(e == NULL, 0)) {
        if (!PyCode_Check(co)) Py_RETURN_NONE;
        e = code_define((PyCodeObject *)co, PyEval_GetGlobals());
        if (!e) Py_RETURN_NONE;
    }
    mt_rec_enter(t, e->id, e->flags);
    thread_retry_name(t);
    Py_RETURN_NONE;
}

static PyObject *mon_leave(int type) {
    if (!atomic_load_explicit(&mt_rec.active, memory_order_relaxed)) Py_RETURN_NONE;
    mt_tstate *t = mt_tstate_get();
    if (t) mt_rec_leave(t, type);
    Py_RETURN_NONE;
}
static PyObject *mon_return(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self, (void)args, (void)nargs;
    return mon_leave(MT_REC_RETURN);
}
static PyObject *mon_unwind(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self, (void)args, (void)nargs;
    return mon_leave(MT_REC_UNWIND);
}

static PyMethodDef mon_defs[] = {
    {"_mon_enter", (PyCFunction)(void (*)(void))mon_enter, METH_FASTCALL, NULL},
    {"_mon_return", (PyCFunction)(void (*)(void))mon_return, METH_FASTCALL, NULL},
    {"_mon_unwind", (PyCFunction)(void (*)(void))mon_unwind, METH_FASTCALL, NULL},
};

static int monitoring_install(int on) {
    PyObject *mon = NULL, *events = NULL, *r = NULL;
    int rc = -1;
    if (!on && mon_tool < 0) return 0;
    static const char *enter_ev[] = {"PY_START", "PY_RESUME", "PY_THROW"};
    static const char *ret_ev[] = {"PY_RETURN", "PY_YIELD"};
    PyObject *sys = PyImport_ImportModule("sys");
    if (!sys) return -1;
    mon = PyObject_GetAttrString(sys, "monitoring");
    Py_DECREF(sys);
    if (!mon) return -1;
    events = PyObject_GetAttrString(mon, "events");
    if (!events) goto out;
    if (on) {
        for (int id = 3; id <= 5 && mon_tool < 0; id++) {
            r = PyObject_CallMethod(mon, "get_tool", "i", id);
            if (!r) goto out;
            int is_free = r == Py_None;
            Py_CLEAR(r);
            if (!is_free) continue;
            r = PyObject_CallMethod(mon, "use_tool_id", "is", id, "memtrace");
            if (!r) goto out;
            Py_CLEAR(r);
            mon_tool = id;
        }
        if (mon_tool < 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "memtrace: fast mode needs a free sys.monitoring tool id "
                            "(3, 4 and 5 are in use)");
            goto out;
        }
    } else {
        /* Still ours? (Another tool may have freed and taken it.) */
        r = PyObject_CallMethod(mon, "get_tool", "i", mon_tool);
        if (!r) goto out;
        int ours = PyUnicode_Check(r) && PyUnicode_CompareWithASCIIString(r, "memtrace") == 0;
        Py_CLEAR(r);
        if (!ours) {
            mon_tool = -1;
            rc = 0;
            goto out;
        }
    }
    long mask = 0;
    for (int k = 0; k < 3; k++) {
        const char *const *names = k == 0 ? enter_ev : k == 1 ? ret_ev : (const char *[]){"PY_UNWIND"};
        int n = k == 0 ? 3 : k == 1 ? 2 : 1;
        PyObject *fn = NULL;
        if (on) {
            fn = PyCFunction_New(&mon_defs[k], NULL);
            if (!fn) goto out;
        }
        for (int i = 0; i < n; i++) {
            PyObject *ev = PyObject_GetAttrString(events, names[i]);
            if (!ev) {
                Py_XDECREF(fn);
                goto out;
            }
            mask |= PyLong_AsLong(ev);
            r = PyObject_CallMethod(mon, "register_callback", "iOO", mon_tool, ev,
                                    fn ? fn : Py_None);
            Py_DECREF(ev);
            if (!r) {
                Py_XDECREF(fn);
                goto out;
            }
            Py_CLEAR(r);
        }
        Py_XDECREF(fn);
    }
    r = PyObject_CallMethod(mon, "set_events", "il", mon_tool, on ? mask : 0L);
    if (!r) goto out;
    Py_CLEAR(r);
    if (!on) {
        r = PyObject_CallMethod(mon, "free_tool_id", "i", mon_tool);
        if (!r) goto out;
        Py_CLEAR(r);
        mon_tool = -1;
    }
    rc = 0;
out:
    Py_XDECREF(r);
    Py_XDECREF(events);
    Py_XDECREF(mon);
    return rc;
}
#endif

/* ---- Installation ------------------------------------------------------- */
/*
 * What others had installed is put back at stop (GIL):
 *   - threading's hook for new threads that we replace with the bootstrap
 *     (threading.setprofile's in profile mode and with c_calls,
 *     threading.settrace's in trace mode without them);
 *   - the profile and trace functions of the thread that called start
 *     (Python functions of sys.setprofile/sys.settrace or C functions, as
 *     they were), when the same thread calls stop.
 * Other threads' profile functions (profile mode) or trace functions (trace
 * mode) are replaced while recording and cleared at stop: CPython offers no
 * way to read another thread's hooks. Trace mode replaces a debugger's or
 * coverage's tracer while it records; trace mode without c_calls leaves the
 * profile functions alone, and fast, alloc and poll modes touch neither.
 */
static PyObject *saved_thr_hook;    /* threading's, replaced by the bootstrap */
static int saved_thr_is_trace;      /* it was threading._trace_hook */
static unsigned long saved_ident;   /* the thread that started */
static Py_tracefunc saved_prof_fn, saved_trace_fn;
static PyObject *saved_prof_obj, *saved_trace_obj;

static PyObject *threading_call(const char *fn, PyObject *arg) {
    PyObject *mod = PyImport_ImportModule("threading");
    if (!mod) return NULL;
    PyObject *r = PyObject_CallMethod(mod, fn, "O", arg);
    Py_DECREF(mod);
    return r;
}

static PyObject *threading_hook(const char *name) {
    PyObject *mod = PyImport_ImportModule("threading");
    if (!mod) return NULL;
    PyObject *h = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    if (!h) {
        PyErr_Clear();
        Py_INCREF(Py_None);
        h = Py_None;
    }
    return h;
}

static void save_thread_hooks(void) {
    PyThreadState *ts = PyThreadState_Get();
    saved_ident = PyThread_get_thread_ident();
    saved_prof_fn = ts->c_profilefunc;
    saved_trace_fn = ts->c_tracefunc;
    Py_XINCREF(ts->c_profileobj);
    Py_XSETREF(saved_prof_obj, ts->c_profileobj);
    Py_XINCREF(ts->c_traceobj);
    Py_XSETREF(saved_trace_obj, ts->c_traceobj);
}

static void restore_thread_hooks(int prof, int trace) {
    if (PyThread_get_thread_ident() == saved_ident) {
        if (prof && saved_prof_fn != profile_cb) PyEval_SetProfile(saved_prof_fn, saved_prof_obj);
        if (trace && saved_trace_fn != trace_cb) PyEval_SetTrace(saved_trace_fn, saved_trace_obj);
    }
    saved_prof_fn = saved_trace_fn = NULL;
    Py_CLEAR(saved_prof_obj);
    Py_CLEAR(saved_trace_obj);
}

/* Install (or remove, when on == 0) the hooks of the mode. */
static int install_all(int on) {
    if (hooks_mode == MT_MODE_ALLOC || hooks_mode == MT_MODE_POLL) return 0;
    if (hooks_mode == MT_MODE_FAST) {
#ifdef MT_FAST_MONITORING
        return monitoring_install(on);
#endif
        return eval_install(on);
    }
    int trace_mode = hooks_mode == MT_MODE_TRACE;
    /* New threads: threading calls sys.setprofile (or sys.settrace) with the
     * bootstrap in each; it swaps itself for the C hooks at its first event.
     * The profile hook carries it when we install one; else the trace hook,
     * so that threading's profile hook is left alone. */
    int via_trace = !hooks_profile;
    const char *hook_name = via_trace ? "_trace_hook" : "_profile_hook";
    const char *set_fn = via_trace ? "settrace" : "setprofile";
    PyObject *arg;
    if (on) {
        PyObject *mod = PyImport_AddModule("memtrace._memtrace"); /* borrowed */
        arg = mod ? PyObject_GetAttrString(mod, via_trace ? "_thread_bootstrap_trace"
                                                          : "_thread_bootstrap")
                  : NULL;
        if (!arg) return -1;
        PyObject *old = threading_hook(hook_name);
        if (!old) {
            Py_DECREF(arg);
            return -1;
        }
        Py_XSETREF(saved_thr_hook, old);
        saved_thr_is_trace = via_trace;
        save_thread_hooks();
    } else {
        arg = saved_thr_hook ? saved_thr_hook : Py_None;
        Py_INCREF(arg);
        Py_CLEAR(saved_thr_hook);
    }
    PyObject *r = threading_call(set_fn, arg);
    Py_DECREF(arg);
    if (!r) return -1;
    Py_DECREF(r);
    Py_tracefunc prof = on ? profile_cb : NULL;
    Py_tracefunc trace = on ? trace_cb : NULL;
#if PY_VERSION_HEX >= 0x030C0000
    if (hooks_profile) PyEval_SetProfileAllThreads(prof, NULL);
    if (trace_mode) PyEval_SetTraceAllThreads(trace, NULL);
#else
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
         ts = PyThreadState_Next(ts)) {
        if (hooks_profile && _PyEval_SetProfile(ts, prof, NULL) < 0) return -1;
        if (trace_mode && _PyEval_SetTrace(ts, trace, NULL) < 0) return -1;
    }
#endif
    if (!on) restore_thread_hooks(hooks_profile, trace_mode);
    return 0;
}

/* The first event of a new thread, through the hook that carried the
 * bootstrap (is_trace: threading.settrace's). */
static PyObject *thread_bootstrap(PyObject *args, int is_trace) {
    PyObject *frame, *event, *arg;
    if (!PyArg_ParseTuple(args, "OOO", &frame, &event, &arg)) return NULL;
    if (!hooks_mode || hooks_stopping || hooks_mode == MT_MODE_FAST ||
        hooks_mode == MT_MODE_ALLOC || hooks_mode == MT_MODE_POLL) {
        if (is_trace) PyEval_SetTrace(NULL, NULL);
        else PyEval_SetProfile(NULL, NULL);
        Py_RETURN_NONE;
    }
    if (hooks_profile) PyEval_SetProfile(profile_cb, NULL);
    if (hooks_mode == MT_MODE_TRACE) PyEval_SetTrace(trace_cb, NULL);
    /* This event itself (the thread's first): a call of frame. */
    const char *ev = PyUnicode_Check(event) ? PyUnicode_AsUTF8(event) : NULL;
    if (ev && strcmp(ev, "call") == 0 && PyFrame_Check(frame))
        (hooks_profile ? profile_cb : trace_cb)(NULL, (PyFrameObject *)frame,
                                               PyTrace_CALL, Py_None);
    Py_RETURN_NONE;
}

PyObject *mt_hooks_thread_bootstrap(PyObject *self, PyObject *args) {
    (void)self;
    return thread_bootstrap(args, 0);
}

PyObject *mt_hooks_thread_bootstrap_trace(PyObject *self, PyObject *args) {
    (void)self;
    return thread_bootstrap(args, 1);
}

/* The writer thread's periodic hand-over of idle threads' buffers. */
static int flush_idle_with_gil(void) {
    /* Never take the GIL while the interpreter finalizes: stop() runs from
     * an atexit handler before that, so this is only a guard. */
    if (MT_IS_FINALIZING()) return 0;
    PyGILState_STATE s = PyGILState_Ensure();
    mt_rec_flush_idle();
    PyGILState_Release(s);
    return 1;
}

static void filters_free(mt_filters *f) {
    for (size_t i = 0; i < f->ninclude; i++) free(f->include[i]);
    for (size_t i = 0; i < f->nexclude; i++) free(f->exclude[i]);
    free(f->include);
    free(f->exclude);
    memset(f, 0, sizeof *f);
}

static int alloc_on; /* GIL */

int mt_hooks_start(mt_rec_config *cfg, int mode, int c_calls, mt_filters *filters,
                   const mt_alloc_config *alloc, PyObject *hide_frame) {
    if (hooks_mode || hooks_stopping) {
        PyErr_SetString(PyExc_RuntimeError, hooks_stopping ? "memtrace is stopping"
                                                           : "memtrace is already recording");
        filters_free(filters);
        return -1;
    }
    cfg->flush_idle = flush_idle_with_gil;
    ftab_interp = PyInterpreterState_Get(); /* see "Interpreters" (function ids) */
    if (filters->ninclude || filters->nexclude) cfg->filtering = 1;
    int rc = mt_rec_start(cfg);
    if (rc < 0) {
        if (rc == MT_ERR_IO || rc == MT_ERR_NOSPACE)
            PyErr_SetFromErrnoWithFilename(PyExc_OSError, cfg->path);
        else
            PyErr_Format(PyExc_RuntimeError, "memtrace: cannot start: %s", mt_strerror(rc));
        filters_free(filters);
        return -1;
    }
    mt_hooks_set_hide_frame(hide_frame);
    hooks_filters = *filters;
    memset(filters, 0, sizeof *filters);
    hooks_mode = mode;
    hooks_profile = mode == MT_MODE_PROFILE || (mode == MT_MODE_TRACE && c_calls);
    if ((alloc && (alloc->python || alloc->native) && (alloc_on = 1, mt_alloc_start(alloc) < 0)) ||
        install_all(1) < 0) {
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        mt_hooks_stop(MT_END_ERROR);
        /* A start that failed leaves no file (the header was written). */
        if (unlink(cfg->path) < 0) errno = 0;
        PyErr_Restore(et, ev, etb);
        return -1;
    }
    return 0;
}

int mt_hooks_stop(int reason) {
    if (!hooks_mode || hooks_stopping) return MT_ERR_STATE;
    hooks_stopping = 1;
    atomic_store(&mt_rec.active, 0);
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    /* Runs Python code (threading.setprofile), which may switch threads:
     * hooks_stopping keeps starts out meanwhile. */
    if (install_all(0) < 0) PyErr_Clear();
    if (alloc_on) mt_alloc_stop();
    PyErr_Restore(et, ev, etb);
    alloc_on = 0;
    hooks_mode = 0;
    Py_CLEAR(hooks_hide_frame);
    mt_hooks_nhide = 0;
    mt_rec_flush_idle();
    int rc;
    /* The writer may be waiting for the GIL to hand over idle buffers. */
    Py_BEGIN_ALLOW_THREADS
    rc = mt_rec_stop(reason);
    Py_END_ALLOW_THREADS
    ftab_clear();
    filters_free(&hooks_filters);
    hooks_stopping = 0;
    return rc;
}

/* Not recording while stopping (is_recording() is False, stop() a no-op). */
int mt_hooks_mode(void) { return hooks_stopping ? 0 : hooks_mode; }

void mt_hooks_marker(const char *text, size_t len) {
    if (!atomic_load(&mt_rec.active)) return;
    mt_tstate *t = mt_tstate_get();
    if (!t) {
        PyFrameObject *f = hooks_mode == MT_MODE_ALLOC || hooks_mode == MT_MODE_POLL
                               ? NULL : PyEval_GetFrame();
        t = thread_begin(f);
        if (!t) return;
    }
    mt_rec_marker(t, text, len);
}

void mt_hooks_after_fork_child(void) {
    /* A stop may have been under way in another thread (which is not in
     * this process): its session is dropped all the same. */
    if (!hooks_mode && !hooks_stopping) return;
    if (alloc_on) mt_alloc_after_fork_child();
    alloc_on = 0;
    mt_rec_forget_after_fork();
    if (hooks_mode == MT_MODE_FAST) {
#ifdef MT_FAST_MONITORING
        if (monitoring_install(0) < 0) PyErr_Clear();
#else
        eval_install(0);
#endif
    } else if (hooks_mode) {
        /* Only this thread exists in the child; others' hooks went with
         * them. */
        if (install_all(0) < 0) PyErr_Clear();
    }
    hooks_mode = 0;
    hooks_stopping = 0;
    Py_CLEAR(hooks_hide_frame);
    mt_hooks_nhide = 0;
    ftab_clear();
    filters_free(&hooks_filters);
}

void mt_hooks_set_hide_frame(PyObject *frame) {
    Py_CLEAR(hooks_hide_frame);
    mt_hooks_nhide = 0;
    if (!frame || !PyFrame_Check(frame)) return;
    Py_INCREF(frame);
    hooks_hide_frame = (PyFrameObject *)frame;
    /* The frame and its callers: they stay hidden after it returns too
     * (the launcher's callers run the interpreter's shutdown). */
    PyFrameObject *f = hooks_hide_frame;
    Py_INCREF(f);
    while (f && mt_hooks_nhide < MT_HIDE_MAX) {
#if PY_VERSION_HEX >= 0x030B0000
        mt_hooks_hide_iframes[mt_hooks_nhide++] = f->f_frame;
#else
        mt_hooks_hide_iframes[mt_hooks_nhide++] = f;
#endif
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
}

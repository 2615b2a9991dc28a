/*
 * mt_hooks.c - CPython hooks feeding the recorder core.
 *
 * profile: Python and C call/return/exception, what a profile function sees.
 * trace:   Python call/return, line and exception events, which is what a
 *          trace function sees (and what cPyMemTrace.Trace records). With
 *          c_calls, C calls and returns too. On 3.9-3.11 the profile
 *          function, installed beside the trace function, records the calls
 *          and returns; a second hook costs ~8% on call-heavy code
 *          (bench-recorder: floor-both vs floor-trace, 3.11), so it is not
 *          the default.
 *          Both: 3.9-3.11: PyEval_SetProfile/PyEval_SetTrace with C
 *          functions on every thread, which sys.settrace/sys.setprofile (and
 *          so doctest's and pdb's save/clear/restore) cannot silently take
 *          away; 3.12+: a sys.monitoring tool of memtrace's, which leaves
 *          sys.settrace/sys.setprofile to the program (see "sys.monitoring"
 *          and "Installation" below).
 * fast:    a PEP 523 frame-evaluation function around
 *          _PyEval_EvalFrameDefault (or around the evaluation function that
 *          was installed before it, which it calls): Python frames only. CPython inlines
 *          Python-to-Python calls only while no eval function is set
 *          (3.11: CALL checks interp->eval_frame; 3.12/3.13: the
 *          specialised calls DEOPT_IF(tstate->interp->eval_frame)), so every
 *          frame passes through the hook; the tests check exact call counts.
 *          3.12+: sys.monitoring, as profile mode without C calls (see
 *          MT_FAST_MONITORING).
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
#elif PY_VERSION_HEX < 0x030A0000
/* 3.9 only: the interpreter's count of threads with a trace function
 * (interp->ceval.tracing_possible), which memtrace's direct writes of a
 * thread's trace slot must keep (see trace_slot_fill). Its header redefines
 * a GC macro of the public cpython/objimpl.h (same meaning): the public one
 * goes first. */
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED
#include <internal/pycore_interp.h>
#undef Py_BUILD_CORE
#endif

#include "mt_hooks.h"
#include "mt_alloc.h"
#include "mt_objects.h"

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
/* Its code object (strong reference): a C call made from the hidden frame
 * (the launcher's exec of the program, its writes to stderr) is the
 * launcher's too, and is not recorded. */
static PyObject *hooks_hide_code;
/* The file of memtrace.start's own frames when the launcher called it (a
 * str, strong reference): those frames, innermost at the start, are not
 * pushed either; their returns, which come first, find nothing of theirs
 * on the stack and are ignored. */
static PyObject *hooks_own_file;
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

/* Positions on (alloc mode): the LINES table of a code object, from its
 * line-number table through public APIs (co_lines() from 3.10; co_lnotab,
 * whose format 3.9 documents, before). Runs once per code object, under
 * code_define's guard; errors are cleared (the table is then missing and
 * the trace names the def line, as without positions). */
static void code_lines(PyCodeObject *co, uint32_t fid) {
    uint32_t *off = NULL, *line = NULL;
    size_t n = 0, cap = 0;
#define LT_PUT(o_, l_)                                                          \
    do {                                                                        \
        if (n && line[n - 1] == (l_)) break; /* the same line goes on */        \
        if (n && off[n - 1] == (o_)) { line[n - 1] = (l_); break; } /* empty */ \
        if (n == cap) {                                                         \
            size_t c_ = cap ? cap * 2 : 64;                                     \
            uint32_t *a_ = realloc(off, c_ * sizeof *a_);                       \
            if (!a_) goto out;                                                  \
            off = a_;                                                           \
            a_ = realloc(line, c_ * sizeof *a_);                                \
            if (!a_) goto out;                                                  \
            line = a_;                                                          \
            cap = c_;                                                           \
        }                                                                       \
        off[n] = (o_);                                                          \
        line[n++] = (l_);                                                       \
    } while (0)
#if PY_VERSION_HEX >= 0x030A0000
    /* The iterator and its tuples are GC objects: no collection (no
     * finalizer) may run inside an allocator hook. */
    int gc = PyGC_Disable();
    PyObject *it = PyObject_CallMethod((PyObject *)co, "co_lines", NULL);
    PyObject *iter = it ? PyObject_GetIter(it) : NULL;
    Py_XDECREF(it);
    if (!iter) goto out;
    PyObject *item;
    while ((item = PyIter_Next(iter)) != NULL) {
        long start = -1, ln = 0;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 3) {
            start = PyLong_AsLong(PyTuple_GET_ITEM(item, 0));
            PyObject *l = PyTuple_GET_ITEM(item, 2);
            ln = l == Py_None ? 0 : PyLong_AsLong(l);
        }
        Py_DECREF(item);
        if (start < 0 || ln < 0 || start > (long)UINT32_MAX || ln > (long)UINT32_MAX) {
            Py_DECREF(iter);
            goto out;
        }
        LT_PUT((uint32_t)start, (uint32_t)ln);
    }
    Py_DECREF(iter);
    if (PyErr_Occurred()) goto out;
#else
    /* co_lnotab: (address step, signed line step) byte pairs; a line starts
     * where the address moves (what dis.findlinestarts does). */
    PyObject *tab = co->co_lnotab;
    if (!tab || !PyBytes_Check(tab)) goto out;
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(tab);
    Py_ssize_t len = PyBytes_GET_SIZE(tab);
    uint32_t addr = 0;
    int64_t ln = co->co_firstlineno;
    for (Py_ssize_t i = 0; i + 1 < len; i += 2) {
        if (b[i]) {
            LT_PUT(addr, (uint32_t)ln);
            addr += b[i];
        }
        ln += b[i + 1] >= 0x80 ? (int)b[i + 1] - 0x100 : b[i + 1];
        if (ln < 0) goto out;
    }
    LT_PUT(addr, (uint32_t)ln);
#endif
#undef LT_PUT
    if (n && n < UINT32_MAX) {
        uint8_t *enc = malloc(mt_enc_lines_bound((uint32_t)n));
        if (enc) {
            uint8_t *e = mt_enc_lines(enc, fid, (uint32_t)n, off, line);
            mt_rec_defs_append(enc, (size_t)(e - enc), 1);
            free(enc);
        }
    }
out:
#if PY_VERSION_HEX >= 0x030A0000
    if (gc) PyGC_Enable();
#endif
    PyErr_Clear();
    free(off);
    free(line);
}

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
    if (fid && mt_rec.positions) code_lines(co, fid);
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
uint32_t mt_hooks_code_fid_known(PyCodeObject *co) {
    fent *e = ftab_find(co);
    return e ? e->id : 0;
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
        /* As the bound method of the same PyMethodDef is named above (3.12+
         * monitoring reports the descriptor, older profile hooks the bound
         * method). */
        if (dot) module = PyUnicode_FromStringAndSize(tn, dot - tn);
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

/* threading's name for the calling thread, from threading._active. This
 * runs inside hooks (an allocation, a call), between any two bytecodes of
 * the program, so it reads dicts and nothing else: no Python code may run.
 * Not PyImport_GetModule: for a module still being imported (threading
 * while its own imports run) it calls importlib's _lock_unlock_module, and
 * 3.10's _ModuleLock.acquire, interrupted there, lost its _blocking_on
 * entry to the nested one (a KeyError in the program's import). Not
 * PyObject_GetAttr either: a module __getattr__, a Thread subclass's
 * __getattr__ or a descriptor named _name would be called. */
static void name_thread(mt_tstate *t, int first) {
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    SAVE_ERR;
    PyObject *name = NULL;
    PyObject *modules = PySys_GetObject("modules"); /* borrowed, as the rest */
    PyObject *mod = modules && PyDict_Check(modules) ? PyDict_GetItemString(modules, "threading")
                                                     : NULL;
    PyObject *mdict = mod && PyModule_Check(mod) ? PyModule_GetDict(mod) : NULL;
    PyObject *active = mdict ? PyDict_GetItemString(mdict, "_active") : NULL;
    if (active && PyDict_Check(active)) {
        PyObject *ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
        PyObject *th = ident ? PyDict_GetItem(active, ident) : NULL;
        PyObject *key = th ? PyUnicode_FromString("_name") : NULL;
        /* No class attribute of that name: the generic lookup reads the
         * instance's dict (or inline values) and runs nothing. */
        if (key && !_PyType_Lookup(Py_TYPE(th), key)) name = PyObject_GenericGetAttr(th, key);
        Py_XDECREF(key);
        Py_XDECREF(ident);
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
    int stopped_hidden = 0;
    if (from) {
        Py_INCREF(from);
        for (PyFrameObject *f = from; f; ) {
            if (hidden_frame(f)) { /* the launcher's frames: hidden */
                Py_DECREF(f);
                stopped_hidden = 1;
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
    int lo = 0; /* chain[lo..n): pushed */
    while (stopped_hidden && hooks_own_file && lo < n) {
        PyCodeObject *co = PyFrame_GetCode(chain[lo]);
        int own = co->co_filename == hooks_own_file ||
                  (PyUnicode_Check(co->co_filename) &&
                   PyUnicode_Compare(co->co_filename, hooks_own_file) == 0);
        Py_DECREF(co);
        if (!own) break;
        Py_DECREF(chain[lo++]);
    }
    for (int i = n - 1; i >= lo; i--) { /* outermost first */
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

#if PY_VERSION_HEX < 0x030C0000
static int profile_cb(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg);
static int trace_cb(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg);
#endif

/* A thread's first record is an allocation's (allocations=True): its state
 * counts as hooked when memtrace's call hooks are already in its slots
 * (those a later catch_thread finds empty were cleared: said), not when
 * they were never put there (a new thread not caught yet: quiet). 3.12+
 * records calls through sys.monitoring, whose tool is the interpreter's,
 * not a thread's: nothing there to lose or catch. */
mt_tstate *mt_hooks_thread_begin(int push_frames) {
    mt_tstate *t = thread_begin(push_frames ? PyEval_GetFrame() /* borrowed */ : NULL);
#if PY_VERSION_HEX < 0x030C0000
    PyThreadState *ts = _PyThreadState_UncheckedGet(); /* (called with the GIL) */
    if (t && ts)
        t->hooked = ts->c_profilefunc == profile_cb || ts->c_tracefunc == trace_cb;
#else
    if (t) t->hooked = 1;
#endif
    return t;
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

#if PY_VERSION_HEX < 0x030C0000
/* ---- profile and trace on 3.9-3.11: PyEval_SetProfile/SetTrace ---------- */

/* Shadow-stack resynchronisation: the thread's hooks were off for a while (a
 * program's own tracer had displaced them, or they were cleared), so calls
 * and returns went unseen. Shadow frames are matched against the running
 * Python frames from the outermost, by function (C frames of the shadow
 * stack are passed over: they have no Python frame); the first mismatch and
 * everything above it get a RETURN now, and the running frames above the
 * matched ones a CALL now. A frame that returned and was called again at the
 * same depth while the hooks were off passes for the same activation. from
 * is the innermost running frame to keep (NULL: none). GIL. */
static void resync_stack(mt_tstate *t, PyFrameObject *from) {
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    SAVE_ERR;
    PyFrameObject **chain = NULL;
    size_t n = 0, cap = 0;
    if (from) Py_INCREF(from);
    for (PyFrameObject *f = from; f;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            PyFrameObject **nchain = realloc(chain, ncap * sizeof *chain);
            if (!nchain) { /* the outermost frames are left out */
                Py_DECREF(f);
                break;
            }
            chain = nchain;
            cap = ncap;
        }
        if (hidden_frame(f)) {
            Py_DECREF(f);
            break;
        }
        chain[n++] = f;
        f = PyFrame_GetBack(f); /* new reference */
    }
    uint32_t *fids = n ? malloc(n * sizeof *fids) : NULL;
    uint8_t *fl = n ? malloc(n) : NULL;
    size_t m = 0; /* frames with a fid, outermost first */
    for (size_t k = n; k-- > 0;) {
        PyCodeObject *co = PyFrame_GetCode(chain[k]);
#if PY_VERSION_HEX >= 0x030B0000
        PyObject *g = PyFrame_GetGlobals(chain[k]);
#else
        PyObject *g = chain[k]->f_globals;
        Py_XINCREF(g);
#endif
        fent *e = fids && fl ? code_fent(co, g) : NULL;
        if (e) {
            fids[m] = e->id;
            fl[m++] = (uint8_t)e->flags;
        }
        Py_XDECREF(g);
        Py_DECREF(co);
        Py_DECREF(chain[k]);
    }
    free(chain);
    uint32_t keep = 0, i = 0;
    size_t j = 0;
    for (; i < t->depth && j < m; i++) {
        if (t->flags[i] & MT_FR_C) continue;
        if (t->fids[i] != fids[j]) break;
        keep = i + 1;
        j++;
    }
    while (t->depth > keep)
        mt_rec_leave(t, (t->flags[t->depth - 1] & MT_FR_C) ? MT_REC_CRETURN : MT_REC_RETURN);
    for (; j < m; j++) mt_rec_enter(t, fids[j], fl[j]);
    free(fids);
    free(fl);
    PyErr_Clear();
    RESTORE_ERR;
    MT_GUARD_LEAVE();
}

/* "file:line" of frame f (the program's code that called a hook function),
 * into buf. */
static void frame_where(PyFrameObject *f, char *buf, size_t cap) {
    SAVE_ERR;
    const char *file = "?";
    int line = 0;
    PyCodeObject *co = f ? PyFrame_GetCode(f) : NULL;
    if (co) {
        const char *s = PyUnicode_Check(co->co_filename) ? PyUnicode_AsUTF8(co->co_filename) : NULL;
        if (s) file = s;
        line = PyFrame_GetLineNumber(f);
    }
    snprintf(buf, cap, "%s:%d", file, line);
    Py_XDECREF(co);
    PyErr_Clear();
    RESTORE_ERR;
}

/* A marker in t's stream about the hooks of its thread. */
static void hooks_notice(mt_tstate *t, const char *text) {
    if (t) mt_rec_marker(t, text, strlen(text));
}

/* The thread's hooks were put back after a while without them: its next
 * event resynchronises the shadow stack first, and writes a marker
 * (HOOKS_RESYNC_SAY: catch_thread, which does not know where the thread
 * was) or not (HOOKS_RESYNC_QUIET: wrap_set wrote it). Not at once: a
 * debugger clears its function from inside it (bdb's set_continue), where
 * the running frames above the traced one are the debugger's, which report
 * no events. Owning thread. */
enum { HOOKS_RESYNC_SAY = 1, HOOKS_RESYNC_QUIET = 2 };
static MT_TLS int hooks_resync;
/* mt_rec.gen while a program's function set through sys.settrace/setprofile
 * holds the thread's slot (0: none). Owning thread. */
static MT_TLS uint64_t hooks_paused_gen;
/* The recording's first pause notice (GIL; "" if none). A pause is said in
 * the trace (a marker) and on stderr only if threads still run a function
 * of the program's when the recording stops (paused_at_stop): a debugger
 * (pdb, doctest) installs its function and clears it again, and the
 * program's stderr is the program's (test_pdb reads it). */
static char hooks_paused_first[900];

/* The first event of a thread: CALL's frame is the one being entered, whose
 * call the caller records, so the stack to push starts at its parent. */
static mt_tstate *thread_begin_at(PyFrameObject *frame, int what) {
    PyFrameObject *from = frame;
    if (what == PyTrace_CALL && frame) from = PyFrame_GetBack(frame);
    else Py_XINCREF(from);
    mt_tstate *t = thread_begin(from);
    Py_XDECREF(from);
    if (t) t->hooked = 1;
    return t;
}

/* After catch_thread put a known thread's hooks back: the stack up to the
 * frame of this event (its caller for a CALL), and a marker. */
static __attribute__((noinline)) void resync_at(mt_tstate *t, PyFrameObject *frame, int what) {
    int say = hooks_resync == HOOKS_RESYNC_SAY;
    hooks_resync = 0;
    t->hooked = 1;
    PyFrameObject *from = frame;
    if (what == PyTrace_CALL && frame) from = PyFrame_GetBack(frame);
    else Py_XINCREF(from);
    t->reentry = 1;
    resync_stack(t, from);
    char where[512];
    frame_where(from, where, sizeof where);
    t->reentry = 0;
    Py_XDECREF(from);
    if (!say) return;
    char text[700];
    snprintf(text, sizeof text,
             "memtrace: recording of this thread resumed at %s: its %s function had been cleared",
             where, !hooks_profile ? "trace"
                    : hooks_mode == MT_MODE_TRACE ? "profile or trace" : "profile");
    hooks_notice(t, text);
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
    if (__builtin_expect(hooks_resync, 0)) resync_at(t, frame, what);
    fent *e;
    switch (what) {
    case PyTrace_CALL: on_py_call(t, frame); break;
    case PyTrace_RETURN:
        mt_rec_leave(t, arg ? MT_REC_RETURN : MT_REC_UNWIND);
        break;
    case PyTrace_C_CALL:
        /* Made by the launcher's own frame: not the program's. Its return
         * finds no C frame on top, and is ignored. */
        if (__builtin_expect(frame == hooks_hide_frame, 0)) break;
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
    if (__builtin_expect(hooks_resync, 0)) resync_at(t, frame, what);
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
#endif /* < 3.12 */

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

/* Install fn as the evaluation function (on), or put back the one found
 * (off) if fn is still the current one. */
static int eval_install(int on, _PyFrameEvalFunction fn) {
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
        _PyInterpreterState_SetEvalFrameFunc(interp, fn);
    } else if (cur == fn) {
        _PyInterpreterState_SetEvalFrameFunc(
            interp, hooks_prev_eval ? hooks_prev_eval : _PyEval_EvalFrameDefault);
    } else {
        /* Installed over ours during the recording: it stays. */
        eval_stranded = 1;
    }
    return 0;
}

#if PY_VERSION_HEX < 0x030C0000
/* ---- 3.9-3.11: catching threads without memtrace's hooks ---------------- */
/*
 * A thread gets the profile/trace function of the mode when its first
 * Python frame starts, whoever made the thread (threading,
 * _thread.start_new_thread, C code through PyGILState_Ensure), and a
 * recorded thread whose function was cleared by a path that bypasses
 * memtrace's sys.settrace/sys.setprofile (a reference to sys's own taken
 * before recording, C code) gets it back:
 *   3.9/3.10: a PEP 523 evaluation function, seen by every frame (there is
 *     no inlining of Python calls to lose; one test per frame);
 *   3.11: the object arena allocator, which a thread state calls for its
 *     first data-stack chunk, on its first frame push (a PEP 523 function
 *     would stop 3.11 inlining Python calls: slower, and deep recursion
 *     would use the C stack). A cleared thread gets its hook back at its
 *     next sys.settrace/sys.setprofile call or new chunk.
 * Only empty slots are filled: a thread that runs a program's own tracer
 * keeps it. Fields are set directly (no audit event, no allocation, no
 * Python code: the arena hook runs inside a frame push).
 */
static PyInterpreterState *hooks_interp; /* the recorded one (GIL) */
static int hooks_catching;               /* profile/trace recording (GIL) */

static inline int catch_needed(PyThreadState *ts) {
    return hooks_catching &&
           ((hooks_profile && !ts->c_profilefunc && !ts->c_profileobj) ||
            (hooks_mode == MT_MODE_TRACE && !ts->c_tracefunc && !ts->c_traceobj));
}

static void set_tracing_state(PyThreadState *ts) {
#if PY_VERSION_HEX >= 0x030B0000
    ts->cframe->use_tracing =
        (ts->tracing == 0 && (ts->c_tracefunc || ts->c_profilefunc)) ? 255 : 0;
#elif PY_VERSION_HEX >= 0x030A0000
    ts->cframe->use_tracing = ts->c_tracefunc || ts->c_profilefunc;
#else
    ts->use_tracing = ts->c_tracefunc || ts->c_profilefunc;
#endif
}

/* Put trace_cb into ts's empty trace slot, directly (no audit event, no
 * Python code: see above). On 3.9 the evaluation loop looks for line events
 * only while interp->ceval.tracing_possible, the number of threads with a
 * trace function, is not 0; _PyEval_SetTrace keeps it (+1 for a function
 * where the slot was empty, -1 for an empty slot where there was one), and
 * so must this: otherwise a program's sys.settrace(None) that clears
 * memtrace's function counts it out, memtrace's goes back uncounted, and
 * once the count is 0 no thread gets a line event any more, not memtrace's
 * and not the program's next tracer (a debugger that sets frame.f_lineno
 * from a line event never gets to jump: test_sys_settrace's
 * test_jump_across_async_with). 3.10 dropped the count for
 * cframe->use_tracing (set_tracing_state). GIL. */
static void trace_slot_fill(PyThreadState *ts) {
    ts->c_tracefunc = trace_cb;
#if PY_VERSION_HEX < 0x030A0000
    ts->interp->ceval.tracing_possible++;
#endif
}

/* ts is the calling thread's, with the GIL. */
static __attribute__((noinline)) void catch_thread(PyThreadState *ts) {
    if (!atomic_load_explicit(&mt_rec.active, memory_order_relaxed) || hooks_stopping ||
        ts->interp != hooks_interp)
        return;
    if (hooks_profile && !ts->c_profilefunc && !ts->c_profileobj) ts->c_profilefunc = profile_cb;
    if (hooks_mode == MT_MODE_TRACE && !ts->c_tracefunc && !ts->c_traceobj)
        trace_slot_fill(ts);
    set_tracing_state(ts);
    /* A thread recorded before: its stack moved on meanwhile. Said in a
     * marker only when its hooks had run and were cleared; a thread whose
     * first records were allocations (allocations=True) is only being
     * caught for the first time. */
    mt_tstate *t = mt_tstate_get();
    if (t) hooks_resync = t->hooked ? HOOKS_RESYNC_SAY : HOOKS_RESYNC_QUIET;
    hooks_paused_gen = 0;
}

#if PY_VERSION_HEX < 0x030B0000
static PyObject *catch_eval_cb(PyThreadState *ts, mt_iframe *f, int throwflag) {
    if (__builtin_expect(catch_needed(ts), 0)) catch_thread(ts);
    return eval_next(ts, f, throwflag);
}

static int catch_install(int on) {
    if (on && eval_stranded) return 0; /* new threads are not caught (README) */
    return eval_install(on, (_PyFrameEvalFunction)catch_eval_cb);
}
#else
/* As found at install; never cleared (a chunk allocated through ours may be
 * freed after stop). GIL. */
static PyObjectArenaAllocator arena_prev;
static int arena_stranded;

static void *arena_alloc(void *ctx, size_t size_bytes) {
    (void)ctx;
    void *p = arena_prev.alloc(arena_prev.ctx, size_bytes);
    /* Called with the GIL: pymalloc arenas and data-stack chunks. */
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (__builtin_expect(hooks_catching, 0) && ts &&
        ts->thread_id == PyThread_get_thread_ident() && catch_needed(ts))
        catch_thread(ts);
    return p;
}

static void arena_free(void *ctx, void *p, size_t size_bytes) {
    (void)ctx;
    arena_prev.free(arena_prev.ctx, p, size_bytes);
}

static int catch_install(int on) {
    PyObjectArenaAllocator cur;
    PyObject_GetArenaAllocator(&cur);
    if (on) {
        if (arena_stranded) return 0;
        if (cur.alloc == arena_alloc) return 0;
        arena_prev = cur;
        PyObjectArenaAllocator mine = {NULL, arena_alloc, arena_free};
        PyObject_SetArenaAllocator(&mine);
    } else if (cur.alloc == arena_alloc) {
        PyObject_SetArenaAllocator(&arena_prev);
    } else {
        arena_stranded = 1; /* replaced meanwhile: it stays */
    }
    return 0;
}
#endif

/* ---- 3.9-3.11: sys.settrace and sys.setprofile -------------------------- */
/*
 * While profile or trace mode records, sys.settrace and sys.setprofile are
 * builtins of memtrace's with the same names, module and documentation that
 * call sys's own, then look at the calling thread's slot:
 *   - cleared (sys.settrace(None), the save/clear/restore idiom of doctest
 *     and pdb): memtrace's function goes back in at once;
 *   - the program's own function replaced memtrace's: the program keeps it,
 *     as it would bare; a marker (and stderr, once) says that recording of
 *     the thread pauses, and from where; when the program clears it again,
 *     memtrace's goes back, the shadow stack is resynchronised and a marker
 *     says so.
 * memtrace's functions are C functions without an object, so
 * sys.gettrace()/sys.getprofile() return None as they would bare.
 */
/* sys's own settrace and setprofile (strong, GIL; kept after stop: a
 * program that took a reference to ours calls them through it), and ours
 * while they are in sys (strong, GIL). */
static PyObject *orig_set[2];
static PyObject *wrapper_set[2];
static PyObject *wrap_settrace(PyObject *self, PyObject *arg);
static PyObject *wrap_setprofile(PyObject *self, PyObject *arg);
static PyMethodDef wrap_defs[2] = {
    {"settrace", wrap_settrace, METH_O, NULL},
    {"setprofile", wrap_setprofile, METH_O, NULL},
};

static PyObject *wrap_set(int is_profile, PyObject *arg) {
    PyThreadState *ts = PyThreadState_Get();
    Py_tracefunc ours = is_profile ? profile_cb : trace_cb;
    int used = is_profile ? hooks_profile : hooks_mode == MT_MODE_TRACE;
    int was_ours = (is_profile ? ts->c_profilefunc : ts->c_tracefunc) == ours;
    PyObject *orig = orig_set[is_profile];
    if (!orig) { /* cannot happen: the wrapper is installed with it */
        PyErr_SetString(PyExc_RuntimeError, "memtrace: sys function missing");
        return NULL;
    }
    Py_INCREF(orig);
    PyObject *r = PyObject_CallOneArg(orig, arg);
    Py_DECREF(orig);
    if (!r || !used || !hooks_catching || hooks_stopping || ts->interp != hooks_interp ||
        !atomic_load_explicit(&mt_rec.active, memory_order_relaxed))
        return r;
    Py_tracefunc now = is_profile ? ts->c_profilefunc : ts->c_tracefunc;
    PyObject *now_obj = is_profile ? ts->c_profileobj : ts->c_traceobj;
    const char *slot = is_profile ? "profile" : "trace";
    if (!now && !now_obj) {
        if (is_profile) ts->c_profilefunc = profile_cb;
        else trace_slot_fill(ts);
        set_tracing_state(ts);
        hooks_paused_gen = 0;
        mt_tstate *t = mt_tstate_get();
        if (!was_ours && t) {
            /* Displaced until now: the calls and returns meanwhile were the
             * program's tracer's. The stack at the next event. */
            hooks_resync = HOOKS_RESYNC_QUIET;
            char where[512], text[700];
            frame_where(PyEval_GetFrame(), where, sizeof where);
            snprintf(text, sizeof text,
                     "memtrace: recording of this thread resumed at %s: sys.set%s(None) "
                     "cleared its %s function", where, slot, slot);
            hooks_notice(t, text);
        }
    } else if (was_ours && now != ours) {
        mt_tstate *t = mt_tstate_get();
        /* The C call of this function (profile mode) gets no return: close
         * it, so that what the thread does meanwhile (allocations) is not
         * charged to it. */
        if (t && is_profile && t->depth && (t->flags[t->depth - 1] & MT_FR_C))
            mt_rec_leave(t, MT_REC_CRETURN);
        char where[512], text[900];
        frame_where(PyEval_GetFrame(), where, sizeof where);
        snprintf(text, sizeof text,
                 "memtrace: recording of thread %llu paused: sys.set%s() at %s installed the "
                 "program's own %s function in place of memtrace's (until it is cleared)",
                 (unsigned long long)PyThread_get_thread_native_id(), slot, where, slot);
        hooks_notice(t, text);
        if (!hooks_paused_first[0])
            snprintf(hooks_paused_first, sizeof hooks_paused_first, "%s", text);
        hooks_paused_gen = mt_rec.gen;
    }
    return r;
}

static PyObject *wrap_settrace(PyObject *self, PyObject *arg) {
    (void)self;
    return wrap_set(0, arg);
}

static PyObject *wrap_setprofile(PyObject *self, PyObject *arg) {
    (void)self;
    return wrap_set(1, arg);
}

/* Put memtrace's builtins in sys (on), or sys's own back where ours still
 * are (off). */
static int wrap_install(int on) {
    static const char *names[2] = {"settrace", "setprofile"};
    PyObject *sys = PyImport_ImportModule("sys");
    if (!sys) return -1;
    int rc = -1;
    for (int i = 0; i < 2; i++) {
        if (on) {
            PyObject *orig = PyObject_GetAttrString(sys, names[i]);
            if (!orig) goto out;
            if (PyCFunction_Check(orig) && ((PyCFunctionObject *)orig)->m_ml == &wrap_defs[i]) {
                /* Ours, left in place by another tool: sys's own is known. */
                Py_DECREF(orig);
                orig = orig_set[i];
                Py_INCREF(orig);
            }
            if (!wrap_defs[i].ml_doc) { /* once per process, kept */
                PyObject *doc = PyObject_GetAttrString(orig, "__doc__");
                const char *d = doc && PyUnicode_Check(doc) ? PyUnicode_AsUTF8(doc) : NULL;
                if (d) wrap_defs[i].ml_doc = strdup(d);
                Py_XDECREF(doc);
                PyErr_Clear();
            }
            PyObject *modname = PyUnicode_FromString("sys");
            PyObject *w = modname ? PyCFunction_NewEx(&wrap_defs[i], sys, modname) : NULL;
            Py_XDECREF(modname);
            if (!w || PyObject_SetAttrString(sys, names[i], w) < 0) {
                Py_XDECREF(w);
                Py_DECREF(orig);
                goto out;
            }
            Py_XSETREF(orig_set[i], orig);
            Py_XSETREF(wrapper_set[i], w);
        } else if (wrapper_set[i]) {
            PyObject *cur = PyObject_GetAttrString(sys, names[i]);
            if (!cur) PyErr_Clear();
            if (cur == wrapper_set[i] && PyObject_SetAttrString(sys, names[i], orig_set[i]) < 0)
                PyErr_Clear();
            Py_XDECREF(cur);
            /* A program that kept a reference to ours calls sys's own
             * through it: orig_set stays. */
            Py_CLEAR(wrapper_set[i]);
        }
    }
    rc = 0;
out:
    Py_DECREF(sys);
    return rc;
}
#endif /* < 3.12 */

/* ---- 3.12+: sys.monitoring ---------------------------------------------- */
/*
 * Profile, trace and fast modes on 3.12+ record through a
 * sys.monitoring tool of their own, the events CPython's own profile and
 * trace functions are built from (Python/legacy_tracing.c), so the recording
 * is what they would see:
 *   PY_START, PY_RESUME, PY_THROW   a frame is entered (generators: once per
 *                                   resumption)
 *   PY_RETURN, PY_YIELD, PY_UNWIND  it is left
 *   CALL + C_RETURN, C_RAISE        a C function (builtin function or method
 *                                   descriptor, as the profile function sees
 *                                   them) is called and returns (c_calls)
 *   LINE, JUMP                      a new line; a backward jump within one
 *                                   line counts as one too (trace mode)
 *   RAISE, STOP_ITERATION           an exception (trace mode)
 * Monitoring is interpreter-wide: every thread is seen however it was made,
 * sys.settrace/sys.setprofile, threading's hooks, pdb and coverage are the
 * program's alone, and sys.gettrace()/getprofile() return what they would
 * bare. 3.13.0 inlines __init__ calls without checking for a PEP 523
 * function, and 3.12 raises RecursionError under one (see
 * MT_FAST_MONITORING): fast mode uses this too from 3.12 on.
 */
#if PY_VERSION_HEX >= 0x030C0000
#define MT_MONITORING 1
/* Fast mode too from 3.12: a PEP 523 function makes CPython 3.12 call
 * every Python frame through the C stack (calls are no longer inlined), so
 * a deep recursion that runs bare raises RecursionError (3.12) or
 * overflows the C stack (3.11) under it; monitoring keeps calls inlined. */
#define MT_FAST_MONITORING 1
/* The tool id we hold (-1: none), GIL. Taken among 3, 4 and 5, the first
 * free one: 0, 1 and 2 are DEBUGGER_ID, COVERAGE_ID and PROFILER_ID, which
 * pdb, coverage and cProfile claim (cProfile.enable() fails if 2 is in
 * use). Only what we hold is torn down at stop. */
static int mon_tool = -1;
/* sys.monitoring.MISSING and DISABLE; strong, kept (GIL). */
static PyObject *mon_missing, *mon_disable;

/* The calling thread's state, made at its first event: the frames already
 * running are pushed, the current one too unless it is being entered. */
static __attribute__((noinline)) mt_tstate *mon_thread_begin(int entering) {
    PyFrameObject *cur = PyEval_GetFrame(); /* borrowed */
    PyFrameObject *from = cur;
    if (entering && cur) from = PyFrame_GetBack(cur);
    else Py_XINCREF(from);
    mt_tstate *t = thread_begin(from);
    Py_XDECREF(from);
    if (t) t->hooked = 1;
    return t;
}

static inline mt_tstate *mon_tstate(int entering) {
    if (!atomic_load_explicit(&mt_rec.active, memory_order_relaxed)) return NULL;
    mt_tstate *t = mt_tstate_get();
    if (__builtin_expect(t == NULL, 0)) t = mon_thread_begin(entering);
    return t;
}

static PyObject *mon_enter(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    mt_tstate *t;
    if (nargs < 1 || !(t = mon_tstate(1))) Py_RETURN_NONE;
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

/* A thread's first event may be a return (of the frame that started
 * recording, say): its state is made with the running frames, so that the
 * return pops one of them, as with the profile and trace functions. */
static PyObject *mon_leave(int type) {
    mt_tstate *t = mon_tstate(0);
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

/* Is this CALL a C call, as the profile function sees them? A builtin
 * function, or a method descriptor called with its self (CPython's
 * sys_profile_call_or_return); C_RETURN and C_RAISE ask the same, so calls
 * and returns pair up. */
static inline int mon_is_c(PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 4) return 0;
    PyObject *c = args[2];
    return PyCFunction_Check(c) || (Py_IS_TYPE(c, &PyMethodDescr_Type) && args[3] != mon_missing);
}

static PyObject *mon_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    mt_tstate *t;
    if (!mon_is_c(args, nargs) || !(t = mon_tstate(0))) Py_RETURN_NONE;
    if (__builtin_expect(args[0] == hooks_hide_code, 0)) Py_RETURN_NONE; /* the launcher's */
    fent *e = cfunc_fent(args[2]);
    if (e) mt_rec_enter(t, e->id, e->flags | MT_FR_C);
    Py_RETURN_NONE;
}
static PyObject *mon_creturn(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!mon_is_c(args, nargs)) Py_RETURN_NONE;
    return mon_leave(MT_REC_CRETURN);
}
static PyObject *mon_craise(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!mon_is_c(args, nargs)) Py_RETURN_NONE;
    return mon_leave(MT_REC_CRAISE);
}

static PyObject *mon_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    mt_tstate *t;
    if (nargs < 2 || !(t = mon_tstate(0))) Py_RETURN_NONE;
    long line = PyLong_AsLong(args[1]);
    if (line < 0) PyErr_Clear();
    else mt_rec_line(t, (uint32_t)line);
    Py_RETURN_NONE;
}

/* A backward jump to the same line is a new line for a trace function
 * (CPython's sys_trace_jump_func); any other jump is disabled for good
 * where it is (the target's LINE event reports it). */
static PyObject *mon_jump(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs < 3 || !PyCode_Check(args[0])) Py_RETURN_NONE;
    long from = PyLong_AsLong(args[1]), to = PyLong_AsLong(args[2]);
    if (from < 0 || to < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyCodeObject *co = (PyCodeObject *)args[0];
    int to_line;
    if (to > from || (to_line = PyCode_Addr2Line(co, (int)to)) != PyCode_Addr2Line(co, (int)from)) {
        Py_INCREF(mon_disable);
        return mon_disable;
    }
    mt_tstate *t = mon_tstate(0);
    if (t && to_line >= 0) mt_rec_line(t, (uint32_t)to_line);
    Py_RETURN_NONE;
}

static PyObject *mon_raise(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    mt_tstate *t;
    if (nargs < 3 || !(t = mon_tstate(0))) Py_RETURN_NONE;
    mt_rec_raise(t, exc_sid((PyObject *)Py_TYPE(args[2])));
    Py_RETURN_NONE;
}

#define MON_FN(f) (PyCFunction)(void (*)(void))(f)
enum { MON_ENTER, MON_RETURN, MON_UNWIND, MON_CALL, MON_CRETURN, MON_CRAISE, MON_LINE,
       MON_JUMP, MON_RAISE, MON_NCB };
static PyMethodDef mon_defs[MON_NCB] = {
    {"_mon_enter", MON_FN(mon_enter), METH_FASTCALL, NULL},
    {"_mon_return", MON_FN(mon_return), METH_FASTCALL, NULL},
    {"_mon_unwind", MON_FN(mon_unwind), METH_FASTCALL, NULL},
    {"_mon_call", MON_FN(mon_call), METH_FASTCALL, NULL},
    {"_mon_creturn", MON_FN(mon_creturn), METH_FASTCALL, NULL},
    {"_mon_craise", MON_FN(mon_craise), METH_FASTCALL, NULL},
    {"_mon_line", MON_FN(mon_line), METH_FASTCALL, NULL},
    {"_mon_jump", MON_FN(mon_jump), METH_FASTCALL, NULL},
    {"_mon_raise", MON_FN(mon_raise), METH_FASTCALL, NULL},
};

/* Which events each kind of recording takes. C_RETURN and C_RAISE come with
 * CALL and are not in set_events' mask (MON_ANCILLARY). */
enum { MON_FRAMES = 1, MON_CCALLS = 2, MON_LINES = 4, MON_ANCILLARY = 8 };
static const struct {
    const char *event;
    int cb;
    int need;
} mon_events[] = {
    {"PY_START", MON_ENTER, MON_FRAMES},     {"PY_RESUME", MON_ENTER, MON_FRAMES},
    {"PY_THROW", MON_ENTER, MON_FRAMES},     {"PY_RETURN", MON_RETURN, MON_FRAMES},
    {"PY_YIELD", MON_RETURN, MON_FRAMES},    {"PY_UNWIND", MON_UNWIND, MON_FRAMES},
    {"CALL", MON_CALL, MON_CCALLS},          {"C_RETURN", MON_CRETURN, MON_CCALLS | MON_ANCILLARY},
    {"C_RAISE", MON_CRAISE, MON_CCALLS | MON_ANCILLARY},
    {"LINE", MON_LINE, MON_LINES},           {"JUMP", MON_JUMP, MON_LINES},
    {"RAISE", MON_RAISE, MON_LINES},         {"STOP_ITERATION", MON_RAISE, MON_LINES},
};
#define MON_NEVENTS (sizeof mon_events / sizeof mon_events[0])

#if PY_VERSION_HEX >= 0x030D0000
/* 3.13+ (CPython's instrumentation, gh-157900 and its kin): when a code
 * object that runs goes from one monitoring tool per event to several (here:
 * the program's sys.settrace() joining memtrace's tool on PY_START), its
 * per-instruction table starts empty, so INSTRUCTION events enabled just
 * before for one frame are lost: pdb.set_trace() and doctest's debugger
 * stop a line late (frame.f_trace_opcodes, then sys.settrace). Code objects
 * that have several tools from their first instrumentation are right. So a
 * second, silent tool listens to PY_START too; its callback returns DISABLE,
 * so each code object calls it once. Without a free id: no companion. */
static int mon_tool2 = -1;
static PyObject *mon_companion(PyObject *self, PyObject *const *args, Py_ssize_t n) {
    (void)self, (void)args, (void)n;
    Py_INCREF(mon_disable);
    return mon_disable;
}
static PyMethodDef mon_companion_def = {"_mon_companion", (PyCFunction)(void (*)(void))mon_companion,
                                        METH_FASTCALL, NULL};

static int companion_install(PyObject *mon, PyObject *events, int on) {
    PyObject *r = NULL, *fn = NULL, *ev = NULL;
    int rc = -1;
    if (!on) {
        if (mon_tool2 < 0) return 0;
        r = PyObject_CallMethod(mon, "get_tool", "i", mon_tool2);
        if (!r) return -1;
        int ours = PyUnicode_Check(r) && PyUnicode_CompareWithASCIIString(r, "memtrace") == 0;
        Py_CLEAR(r);
        if (ours) {
            if (!(r = PyObject_CallMethod(mon, "set_events", "ii", mon_tool2, 0))) return -1;
            Py_CLEAR(r);
            if (!(r = PyObject_CallMethod(mon, "register_callback", "iiO", mon_tool2,
                                          1 /* PY_START */, Py_None)))
                return -1;
            Py_CLEAR(r);
            if (!(r = PyObject_CallMethod(mon, "free_tool_id", "i", mon_tool2))) return -1;
            Py_CLEAR(r);
        }
        mon_tool2 = -1;
        return 0;
    }
    for (int id = 3; id <= 5 && mon_tool2 < 0; id++) {
        if (id == mon_tool) continue;
        r = PyObject_CallMethod(mon, "get_tool", "i", id);
        if (!r) return -1;
        int is_free = r == Py_None;
        Py_CLEAR(r);
        if (!is_free) continue;
        if (!(r = PyObject_CallMethod(mon, "use_tool_id", "is", id, "memtrace"))) return -1;
        Py_CLEAR(r);
        mon_tool2 = id;
    }
    if (mon_tool2 < 0) return 0; /* none free: a program's pdb may stop a line late */
    if (!(ev = PyObject_GetAttrString(events, "PY_START"))) goto out;
    if (!(fn = PyCFunction_New(&mon_companion_def, NULL))) goto out;
    if (!(r = PyObject_CallMethod(mon, "register_callback", "iOO", mon_tool2, ev, fn))) goto out;
    Py_CLEAR(r);
    if (!(r = PyObject_CallMethod(mon, "set_events", "iO", mon_tool2, ev))) goto out;
    rc = 0;
out:
    Py_XDECREF(r);
    Py_XDECREF(fn);
    Py_XDECREF(ev);
    return rc;
}
#endif

/* Take a tool id and register the events of need (on), or give back what
 * we hold (off). */
static int monitoring_install(int on, int need) {
    PyObject *mon = NULL, *events = NULL, *r = NULL;
    PyObject *fns[MON_NCB] = {NULL};
    int rc = -1;
    if (!on && mon_tool < 0) return 0;
    PyObject *sys = PyImport_ImportModule("sys");
    if (!sys) return -1;
    mon = PyObject_GetAttrString(sys, "monitoring");
    Py_DECREF(sys);
    if (!mon) return -1;
    events = PyObject_GetAttrString(mon, "events");
    if (!events) goto out;
    if (on) {
        if (!mon_missing && !(mon_missing = PyObject_GetAttrString(mon, "MISSING"))) goto out;
        if (!mon_disable && !(mon_disable = PyObject_GetAttrString(mon, "DISABLE"))) goto out;
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
                            "memtrace: recording needs a free sys.monitoring tool id "
                            "(3, 4 and 5 are in use)");
            goto out;
        }
        for (int k = 0; k < MON_NCB; k++)
            if (!(fns[k] = PyCFunction_New(&mon_defs[k], NULL))) goto out;
    } else {
        /* Still ours? (Another tool may have freed and taken it.) */
        r = PyObject_CallMethod(mon, "get_tool", "i", mon_tool);
        if (!r) goto out;
        int ours = PyUnicode_Check(r) && PyUnicode_CompareWithASCIIString(r, "memtrace") == 0;
        Py_CLEAR(r);
        if (!ours) {
#if PY_VERSION_HEX >= 0x030D0000
            if (companion_install(mon, events, 0) < 0) goto out;
#endif
            mon_tool = -1;
            rc = 0;
            goto out;
        }
    }
    long mask = 0;
    for (size_t i = 0; i < MON_NEVENTS; i++) {
        if (on && !(mon_events[i].need & need)) continue;
        PyObject *ev = PyObject_GetAttrString(events, mon_events[i].event);
        if (!ev) goto out;
        if (!(mon_events[i].need & MON_ANCILLARY)) mask |= PyLong_AsLong(ev);
        r = PyObject_CallMethod(mon, "register_callback", "iOO", mon_tool, ev,
                                on ? fns[mon_events[i].cb] : Py_None);
        Py_DECREF(ev);
        if (!r) goto out;
        Py_CLEAR(r);
    }
#if PY_VERSION_HEX >= 0x030D0000
    /* Before our own events, so that no code object is instrumented with
     * one tool and then two. Every mode: fast mode too must leave pdb as
     * it is bare. */
    if (companion_install(mon, events, on) < 0) goto out;
#endif
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
    if (rc < 0 && on && mon_tool >= 0) {
        /* Give back the id taken above. */
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        PyObject *x = PyObject_CallMethod(mon, "set_events", "ii", mon_tool, 0);
        Py_XDECREF(x);
        x = PyObject_CallMethod(mon, "free_tool_id", "i", mon_tool);
        Py_XDECREF(x);
        PyErr_Clear();
#if PY_VERSION_HEX >= 0x030D0000
        if (companion_install(mon, events, 0) < 0) PyErr_Clear();
#endif
        PyErr_Restore(et, ev, etb);
        mon_tool = -1;
    }
    for (int k = 0; k < MON_NCB; k++) Py_XDECREF(fns[k]);
    Py_XDECREF(r);
    Py_XDECREF(events);
    Py_XDECREF(mon);
    return rc;
}
#endif /* >= 3.12 */

/* ---- Installation ------------------------------------------------------- */
/*
 * 3.12+: profile and trace modes hold a sys.monitoring tool and touch
 * nothing else (above). 3.9-3.11 (PyEval_SetProfile/SetTrace):
 *   - the thread that calls start gets memtrace's function in place of its
 *     own (Python functions of sys.setprofile/sys.settrace or C functions,
 *     as they were), which is put back at stop when the same thread stops
 *     and memtrace's is still there;
 *   - other threads, and threads that start later (catch_thread), get it
 *     only where their slot is empty: a thread running a debugger's or
 *     coverage's tracer keeps it and is not recorded until it clears it;
 *   - sys.settrace and sys.setprofile are memtrace's while recording (see
 *     wrap_set) and sys's own again at stop;
 *   - stop clears memtrace's function wherever it still is.
 * Trace mode without c_calls leaves the profile functions alone; fast,
 * alloc and poll modes touch neither. threading's hooks are never touched.
 */
#ifndef MT_MONITORING
static unsigned long saved_ident;   /* the thread that started */
static Py_tracefunc saved_prof_fn, saved_trace_fn;
static PyObject *saved_prof_obj, *saved_trace_obj;

static void save_thread_hooks(PyThreadState *ts) {
    saved_ident = PyThread_get_thread_ident();
    saved_prof_fn = ts->c_profilefunc;
    saved_trace_fn = ts->c_tracefunc;
    Py_XINCREF(ts->c_profileobj);
    Py_XSETREF(saved_prof_obj, ts->c_profileobj);
    Py_XINCREF(ts->c_traceobj);
    Py_XSETREF(saved_trace_obj, ts->c_traceobj);
}

/* prof, trace: the calling thread's slot held memtrace's function. */
static void restore_thread_hooks(int prof, int trace) {
    if (PyThread_get_thread_ident() == saved_ident) {
        if (prof && saved_prof_fn != profile_cb) PyEval_SetProfile(saved_prof_fn, saved_prof_obj);
        if (trace && saved_trace_fn != trace_cb) PyEval_SetTrace(saved_trace_fn, saved_trace_obj);
    }
    saved_prof_fn = saved_trace_fn = NULL;
    Py_CLEAR(saved_prof_obj);
    Py_CLEAR(saved_trace_obj);
}

static int legacy_install(int on) {
    int trace_mode = hooks_mode == MT_MODE_TRACE;
    PyThreadState *me = PyThreadState_Get();
    PyInterpreterState *interp = me->interp;
    if (on) {
        hooks_interp = interp;
        save_thread_hooks(me);
        if (wrap_install(1) < 0 || catch_install(1) < 0) return -1;
        int others = 0; /* threads that keep a function of the program's */
        if ((hooks_profile && me->c_profilefunc) || (trace_mode && me->c_tracefunc))
            fprintf(stderr, "memtrace: recording replaces this thread's own %s function "
                            "until stop() (Python < 3.12)\n",
                    hooks_profile && me->c_profilefunc ? "profile" : "trace");
        for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
             ts = PyThreadState_Next(ts)) {
            int mine = ts == me;
            if (!mine && ((hooks_profile && (ts->c_profilefunc || ts->c_profileobj)) ||
                          (trace_mode && (ts->c_tracefunc || ts->c_traceobj))))
                others++;
            if (hooks_profile && (mine || (!ts->c_profilefunc && !ts->c_profileobj)) &&
                _PyEval_SetProfile(ts, profile_cb, NULL) < 0)
                return -1;
            if (trace_mode && (mine || (!ts->c_tracefunc && !ts->c_traceobj)) &&
                _PyEval_SetTrace(ts, trace_cb, NULL) < 0)
                return -1;
        }
        if (others)
            fprintf(stderr, "memtrace: %d other thread(s) run a profile or trace function of "
                            "the program's: each is recorded from when it clears it\n", others);
        hooks_catching = 1;
        return 0;
    }
    hooks_catching = 0;
    int my_prof = me->c_profilefunc == profile_cb, my_trace = me->c_tracefunc == trace_cb;
    /* Lost without a word: a tool set its function from C (cProfile,
     * coverage's C tracer) in the thread that stops, and (3.11) may have
     * cleared it since. Other threads cannot be told apart from those that
     * kept a function of their own from the start. */
    if (((hooks_profile && !my_prof) || (trace_mode && !my_trace)) &&
        hooks_paused_gen != mt_rec.gen && saved_ident == PyThread_get_thread_ident())
        fprintf(stderr, "memtrace: this thread's %s function was replaced during the "
                        "recording without sys.set%s (cProfile? coverage's C tracer?): its "
                        "events from then on may be missing\n",
                hooks_profile && !my_prof ? "profile" : "trace",
                hooks_profile && !my_prof ? "profile" : "trace");
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
         ts = PyThreadState_Next(ts)) {
        if (ts->c_profilefunc == profile_cb && _PyEval_SetProfile(ts, NULL, NULL) < 0)
            PyErr_Clear();
        if (ts->c_tracefunc == trace_cb && _PyEval_SetTrace(ts, NULL, NULL) < 0)
            PyErr_Clear();
    }
    restore_thread_hooks(my_prof, my_trace);
    if (wrap_install(0) < 0) PyErr_Clear();
    catch_install(0);
    return 0;
}
#endif

/* Install (or remove, when on == 0) the hooks of the mode. */
static int install_all(int on) {
    if (hooks_mode == MT_MODE_ALLOC || hooks_mode == MT_MODE_POLL) return 0;
    if (hooks_mode == MT_MODE_FAST) {
#ifdef MT_FAST_MONITORING
        return monitoring_install(on, MON_FRAMES);
#endif
        return eval_install(on, (_PyFrameEvalFunction)eval_cb);
    }
#ifdef MT_MONITORING
    return monitoring_install(on, MON_FRAMES | (hooks_profile ? MON_CCALLS : 0) |
                                      (hooks_mode == MT_MODE_TRACE ? MON_LINES : 0));
#else
    return legacy_install(on);
#endif
}

/* threading's hooks are no longer used to catch new threads (see
 * catch_thread and sys.monitoring above); kept for mt_module.c's table. A
 * bootstrap left in a hook removes itself. */
PyObject *mt_hooks_thread_bootstrap(PyObject *self, PyObject *args) {
    (void)self, (void)args;
    PyEval_SetProfile(NULL, NULL);
    Py_RETURN_NONE;
}

PyObject *mt_hooks_thread_bootstrap_trace(PyObject *self, PyObject *args) {
    (void)self, (void)args;
    PyEval_SetTrace(NULL, NULL);
    Py_RETURN_NONE;
}

/* ---- pymalloc's state ---------------------------------------------------
 *
 * _PyObject_DebugMallocStats(FILE *) is what sys._debugmallocstats() calls:
 * private, but exported (PyAPI_FUNC) by every CPython this builds for; from
 * 3.11 it is declared only in the internal headers (pycore_pymem.h, then
 * pycore_obmalloc.h), so it is declared here for 3.11-3.13 rather than
 * pulling those in. Past 3.13 (not installable here to check) it is not
 * used. It walks every arena (a 1 GB heap: ~1000 arenas, well under a
 * millisecond), so it is read at start and stop, at markers at most every
 * 10 ms, and about once a flush interval (pymalloc_every_flush). */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
PyAPI_FUNC(int) _PyObject_DebugMallocStats(FILE *out);
#endif

char *mt_hooks_malloc_stats_text(size_t *n) {
    *n = 0;
#if PY_VERSION_HEX >= 0x030E0000
    return NULL;
#else
    char *buf = NULL;
    /* The stream's own memory is memtrace's, not the program's. */
    MT_GUARD_ENTER(MT_GUARD_SYNC > mt_tls_guard ? MT_GUARD_SYNC : mt_tls_guard);
    FILE *f = open_memstream(&buf, n);
    /* It reads pymalloc only while pymalloc is the object domain's current
     * allocator, which memtrace's allocation hooks (and tracemalloc's over
     * them) are not: pymalloc is made current for the call. With the GIL
     * no other thread of this interpreter calls the object domain
     * meanwhile, and the call allocates nothing there. */
    PyMemAllocatorEx cur, found;
    /* Not while other interpreters exist: from 3.12 one with its own GIL
     * could be allocating meanwhile (the allocator is the process's). */
    int swap = PyInterpreterState_Next(PyInterpreterState_Head()) == NULL &&
               mt_alloc_found_obj(&found);
    if (swap) {
        PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &cur);
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &found);
    }
    int ok = f && _PyObject_DebugMallocStats(f);
    if (swap) PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &cur);
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) {
        free(buf);
        buf = NULL;
        *n = 0;
    }
    MT_GUARD_LEAVE();
    return buf;
#endif
}

/* The number after '=' on the line of text starting with key ("4,194,304":
 * commas dropped), and in *lead the number the line starts with (for "N
 * arenas * S bytes/arena": S from the line's middle when mid). -1: none. */
static int64_t stats_value(const char *text, const char *key, int64_t *mid) {
    const char *p = strstr(text, key);
    if (!p) return -1;
    const char *eq = strchr(p, '='), *nl = strchr(p, '\n');
    if (!eq || (nl && eq > nl)) return -1;
    if (mid) {
        const char *star = memchr(p, '*', (size_t)(eq - p));
        *mid = star ? strtoll(star + 1, NULL, 10) : -1;
    }
    int64_t v = 0;
    for (const char *q = eq + 1; q < (nl ? nl : eq + 64) && *q; q++)
        if (*q >= '0' && *q <= '9') v = v * 10 + (*q - '0');
    return v;
}

static uint64_t pymalloc_last; /* raw clock of the last sample (GIL) */

/* pymalloc's arena, used and free bytes as COUNTERS 16-18 (GIL). min_gap:
 * raw clock ticks since the last sample below which none is taken. */
static void pymalloc_sample(uint64_t min_gap) {
    if (!atomic_load(&mt_rec.active) || mt_hooks_other_interp()) return;
    uint64_t now = mt_clock_raw();
    if (min_gap && pymalloc_last && now - pymalloc_last < min_gap) return;
    pymalloc_last = now;
    size_t n;
    char *text = mt_hooks_malloc_stats_text(&n);
    if (!text) return;
    int64_t arena_size = -1;
    int64_t arenas = stats_value(text, "# arenas allocated current", NULL);
    stats_value(text, "arenas * ", &arena_size);
    int64_t used = stats_value(text, "# bytes in allocated blocks", NULL);
    int64_t avail = stats_value(text, "# bytes in available blocks", NULL);
    int64_t unused = stats_value(text, "unused pools * ", NULL);
    free(text);
    if (arenas < 0 || arena_size <= 0 || used < 0 || avail < 0) return;
    mt_counter c[3] = {
        {MT_CTR_PYMALLOC_ARENA_BYTES, (uint64_t)(arenas * arena_size)},
        {MT_CTR_PYMALLOC_USED_BYTES, (uint64_t)used},
        {MT_CTR_PYMALLOC_FREE_BYTES, (uint64_t)(avail + (unused > 0 ? unused : 0))}};
    mt_rec_counters(c, 3);
}

/* About once a flush interval the writer asks for pymalloc's state as a
 * pending call, which the main thread runs at its next check for them,
 * with the GIL. The writer must never wait for the GIL itself (a program
 * in a long C call holding it would stop the chunks reaching the disk).
 * From 3.13 that check comes within the switch interval; before 3.13 a
 * call queued by another thread does not wake the main thread's loop, so
 * it runs when something else does (another thread asking for the GIL, a
 * signal); the readings at start, stop and markers are taken regardless.
 * One queued at a time; not more than 4 readings a second. */
static _Atomic int pymalloc_pending;
static int pymalloc_pending_call(void *unused) {
    (void)unused;
    atomic_store(&pymalloc_pending, 0);
    pymalloc_sample(mt_rec.ticks_per_second / 4u);
    return 0;
}
static void pymalloc_every_flush(void) {
    if (MT_IS_FINALIZING() || atomic_exchange(&pymalloc_pending, 1)) return;
    if (Py_AddPendingCall(pymalloc_pending_call, NULL) < 0) atomic_store(&pymalloc_pending, 0);
}

/* The writer thread's periodic hand-over of idle threads' buffers. */
static int flush_idle_with_gil(void) {
    if (MT_IS_FINALIZING()) return 0;
    PyGILState_STATE s = PyGILState_Ensure();
    mt_rec_flush_idle();
    pymalloc_sample(mt_rec.ticks_per_second / 4u);
    PyGILState_Release(s);
    return 1;
}

/* The file cannot be written (a full disk, the descriptor gone): the core
 * stopped recording and said so; the hooks come off at the main thread's
 * next check for pending calls, so that a failed recording costs nothing. */
static int stop_pending(void *unused) {
    (void)unused;
    if (hooks_mode && !hooks_stopping && mt_rec_failed()) mt_hooks_stop(MT_END_ERROR);
    return 0;
}
static void stop_after_failure(void) {
    if (Py_AddPendingCall(stop_pending, NULL) < 0) {
        /* The queue is full: the hooks stay on, recording nothing. */
    }
}

static void filters_free(mt_filters *f) {
    for (size_t i = 0; i < f->ninclude; i++) free(f->include[i]);
    for (size_t i = 0; i < f->nexclude; i++) free(f->exclude[i]);
    free(f->include);
    free(f->exclude);
    memset(f, 0, sizeof *f);
}

static int alloc_on, objects_on; /* GIL */

int mt_hooks_start(mt_rec_config *cfg, int mode, int c_calls, mt_filters *filters,
                   const mt_alloc_config *alloc, PyObject *hide_frame) {
    /* A recording that stopped itself (full disk) and whose hooks are not
     * off yet: finish taking it down. */
    if (hooks_mode && !hooks_stopping && mt_rec_failed()) mt_hooks_stop(MT_END_ERROR);
    if (hooks_mode || hooks_stopping) {
        PyErr_SetString(PyExc_RuntimeError, hooks_stopping ? "memtrace is stopping"
                                                           : "memtrace is already recording");
        filters_free(filters);
        return -1;
    }
    cfg->flush_idle = flush_idle_with_gil;
    cfg->on_failure = stop_after_failure;
    cfg->every_flush = pymalloc_every_flush;
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
    if ((alloc && (alloc->python || alloc->native || alloc->objects) &&
         (alloc_on = 1, mt_alloc_start(alloc) < 0)) ||
        (alloc && alloc->objects &&
         (objects_on = 1, mt_objects_start(alloc->include_types, alloc->exclude_types) < 0)) ||
        install_all(1) < 0) {
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        mt_hooks_stop(MT_END_ERROR);
        /* A start that failed leaves no file (the header was written). */
        if (unlink(cfg->path) < 0) errno = 0;
        PyErr_Restore(et, ev, etb);
        return -1;
    }
    pymalloc_last = 0;
    atomic_store(&pymalloc_pending, 0); /* one left queued by an earlier session */
    pymalloc_sample(0); /* where pymalloc starts */
    return 0;
}

#if PY_VERSION_HEX < 0x030C0000
/* Threads of the recorded interpreter whose slot holds a function of the
 * program's where memtrace's would be (GIL): those paused until now (and
 * threads that kept their own from the start). Threads that ended are
 * gone from the list. */
static int paused_at_stop(void) {
    int n = 0;
    if (!hooks_interp) return 0;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(hooks_interp); ts;
         ts = PyThreadState_Next(ts)) {
        int trace_foreign = hooks_mode == MT_MODE_TRACE && (ts->c_tracefunc || ts->c_traceobj) &&
                            ts->c_tracefunc != trace_cb;
        int prof_foreign = hooks_profile && (ts->c_profilefunc || ts->c_profileobj) &&
                           ts->c_profilefunc != profile_cb;
        n += trace_foreign || prof_foreign;
    }
    return n;
}
#endif

int mt_hooks_stop(int reason) {
    if (!hooks_mode || hooks_stopping) return MT_ERR_STATE;
    if (reason != MT_END_ERROR) pymalloc_sample(0); /* where it ends */
    hooks_stopping = 1;
    atomic_store(&mt_rec.active, 0);
#if PY_VERSION_HEX < 0x030C0000
    int still = hooks_paused_first[0] ? paused_at_stop() : 0;
    if (still)
        fprintf(stderr, "%s; %d thread(s) still paused when the recording stopped\n",
                hooks_paused_first, still);
    hooks_paused_first[0] = 0;
#endif
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    /* Runs Python code (threading.setprofile), which may switch threads:
     * hooks_stopping keeps starts out meanwhile. */
    if (install_all(0) < 0) PyErr_Clear();
    if (objects_on) mt_objects_stop();
    if (alloc_on) mt_alloc_stop();
    PyErr_Restore(et, ev, etb);
    alloc_on = objects_on = 0;
    hooks_mode = 0;
    Py_CLEAR(hooks_hide_frame);
    Py_CLEAR(hooks_hide_code);
    Py_CLEAR(hooks_own_file);
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
int mt_hooks_mode(void) { return hooks_stopping || mt_rec_failed() ? 0 : hooks_mode; }

/* Recording, and the calling thread is in another interpreter than the
 * recorded one (a sub-interpreter that imported memtrace, e.g. through the
 * autostart .pth): it must neither stop nor restart the recording. */
int mt_hooks_other_interp(void) {
    return hooks_mode && ftab_interp && PyInterpreterState_Get() != ftab_interp;
}

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
    /* pymalloc's state beside it, at most every 10 ms */
    pymalloc_sample(mt_rec.ticks_per_second / 100u);
}

void mt_hooks_after_fork_child(void) {
    /* A stop may have been under way in another thread (which is not in
     * this process): its session is dropped all the same. */
    if (!hooks_mode && !hooks_stopping) return;
    if (objects_on) mt_objects_after_fork_child();
    if (alloc_on) mt_alloc_after_fork_child();
    alloc_on = objects_on = 0;
    mt_rec_forget_after_fork();
    /* Only this thread exists in the child; others' hooks went with them. */
    if (hooks_mode && install_all(0) < 0) PyErr_Clear();
    hooks_mode = 0;
    hooks_stopping = 0;
    Py_CLEAR(hooks_hide_frame);
    Py_CLEAR(hooks_hide_code);
    Py_CLEAR(hooks_own_file);
    mt_hooks_nhide = 0;
    ftab_clear();
    filters_free(&hooks_filters);
#if PY_VERSION_HEX < 0x030C0000
    hooks_paused_first[0] = 0; /* the parent's */
#endif
}

void mt_hooks_set_hide_frame(PyObject *frame) {
    Py_CLEAR(hooks_hide_frame);
    Py_CLEAR(hooks_hide_code);
    Py_CLEAR(hooks_own_file);
    mt_hooks_nhide = 0;
    if (!frame || !PyFrame_Check(frame)) return;
    Py_INCREF(frame);
    hooks_hide_frame = (PyFrameObject *)frame;
    hooks_hide_code = (PyObject *)PyFrame_GetCode(hooks_hide_frame);
    PyFrameObject *cur = PyEval_GetFrame(); /* borrowed: memtrace.start's innermost */
    if (cur && cur != hooks_hide_frame) {
        PyCodeObject *co = PyFrame_GetCode(cur);
        hooks_own_file = co->co_filename;
        Py_INCREF(hooks_own_file);
        Py_DECREF(co);
    }
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

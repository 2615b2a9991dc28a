/*
 * mt_objects.c - object tracking through CPython's reference tracer (3.13+).
 * See mt_objects.h for what is recorded and how filters match.
 *
 * The hot path is the tracer: one load of the type, one probe of a table
 * keyed by type pointer (linear probing, kept at most half full, deletion by
 * backward shift), and for a tracked type one record (mt_alloc_obj_event).
 * A type is named and judged against the filters at its first object; the
 * entry goes when the type itself is deallocated, so that a new type at the
 * same address is judged again.
 */
#include "mt_objects.h"

#include <stdint.h>
#include <string.h>

#include "mt_alloc.h"
#include "mt_recorder.h"

/* The reference tracer is a public API from 3.13 (cpython/object.h). The
 * free-threaded build calls it without a GIL, which the table below needs:
 * not supported there. */
#if PY_VERSION_HEX >= 0x030D0000 && !defined(Py_GIL_DISABLED)
#define HAVE_REFTRACER 1
#endif

#ifdef HAVE_REFTRACER

typedef struct tent {
    PyTypeObject *tp; /* NULL: empty */
    uint32_t sid;     /* its name (0: could not be defined) */
    int tracked;
} tent;

static tent *tmap;
static size_t tmask; /* capacity - 1; capacity a power of two */
static size_t tcount;
static int on; /* the tracer records */
static int installed;
static PyRefTracer prev_fn;
static void *prev_data;
static PyObject *inc, *exc; /* tuples of types and str, or NULL */
static PyObject *module_key; /* "__module__" */
/* The recorded interpreter. The tracer is process-wide: from 3.12 another
 * interpreter may run at the same time under a GIL of its own, and must not
 * touch the table. (const) between start and stop */
static PyInterpreterState *interp;

static inline size_t slot_of(const PyTypeObject *tp) {
    uint64_t x = (uint64_t)(uintptr_t)tp;
    x ^= x >> 29;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & tmask;
}

static tent *lookup(const PyTypeObject *tp) {
    if (!tmap) return NULL;
    for (size_t i = slot_of(tp);; i = (i + 1) & tmask) {
        if (tmap[i].tp == tp) return &tmap[i];
        if (!tmap[i].tp) return NULL;
    }
}

static int grow(void) {
    size_t cap = tmap ? (tmask + 1) * 2 : 256;
    tent *old = tmap;
    size_t oldcap = tmap ? tmask + 1 : 0;
    tent *t = PyMem_RawCalloc(cap, sizeof *t);
    if (!t) return -1;
    tmap = t;
    tmask = cap - 1;
    for (size_t j = 0; j < oldcap; j++) {
        if (!old[j].tp) continue;
        size_t i = slot_of(old[j].tp);
        while (tmap[i].tp) i = (i + 1) & tmask;
        tmap[i] = old[j];
    }
    PyMem_RawFree(old);
    return 0;
}

static void forget(const PyTypeObject *tp) {
    tent *e = lookup(tp);
    if (!e) return;
    size_t i = (size_t)(e - tmap);
    tmap[i].tp = NULL;
    tcount--;
    /* Backward shift: move up each later entry of the run whose home slot
     * is not in (i, j]. */
    for (size_t j = (i + 1) & tmask; tmap[j].tp; j = (j + 1) & tmask) {
        size_t h = slot_of(tmap[j].tp);
        int between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (between) continue;
        tmap[i] = tmap[j];
        tmap[j].tp = NULL;
        i = j;
    }
}

/* The type's name into buf (NUL-terminated, cut at cap - 1): tp_name for a
 * static type ("dict", "collections.OrderedDict"), module.qualname for a
 * heap type (module omitted for builtins). *qual: where the qualified name
 * starts in buf. No Python code runs; an error is cleared. */
static size_t type_name(PyTypeObject *tp, char *buf, size_t cap, size_t *qual) {
    size_t n = 0;
    *qual = 0;
#define PUT(s, len)                                                   \
    do {                                                              \
        size_t l_ = (len);                                            \
        if (l_ > cap - 1 - n) l_ = cap - 1 - n;                       \
        memcpy(buf + n, (s), l_);                                     \
        n += l_;                                                      \
    } while (0)
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        const char *s = tp->tp_name ? tp->tp_name : "?";
        PUT(s, strlen(s));
        const char *dot = strrchr(s, '.');
        *qual = dot ? (size_t)(dot - s) + 1 : 0;
    } else {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
        Py_ssize_t ml = 0, ql = 0;
        const char *m = NULL, *q = NULL;
        PyObject *mod = tp->tp_dict ? PyDict_GetItemWithError(tp->tp_dict, module_key) : NULL;
        if (mod && PyUnicode_Check(mod)) m = PyUnicode_AsUTF8AndSize(mod, &ml);
        if (ht->ht_qualname && PyUnicode_Check(ht->ht_qualname))
            q = PyUnicode_AsUTF8AndSize(ht->ht_qualname, &ql);
        if (PyErr_Occurred()) PyErr_Clear();
        if (!q) {
            q = tp->tp_name ? tp->tp_name : "?";
            ql = (Py_ssize_t)strlen(q);
        }
        if (m && !(ml == 8 && memcmp(m, "builtins", 8) == 0)) {
            PUT(m, (size_t)ml);
            PUT(".", 1);
            *qual = n;
        }
        PUT(q, (size_t)ql);
    }
#undef PUT
    buf[n] = 0;
    return n;
}

/* Does tp match one of the entries of list (see mt_objects.h)? */
static int matches(PyTypeObject *tp, PyObject *list) {
    Py_ssize_t n = PyTuple_GET_SIZE(list);
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *e = PyTuple_GET_ITEM(list, k);
        if (PyType_Check(e)) {
            if (PyType_IsSubtype(tp, (PyTypeObject *)e)) return 1;
            continue;
        }
        Py_ssize_t el;
        const char *es = PyUnicode_AsUTF8AndSize(e, &el);
        if (!es) {
            PyErr_Clear();
            continue;
        }
        PyObject *mro = tp->tp_mro;
        Py_ssize_t nb = mro && PyTuple_Check(mro) ? PyTuple_GET_SIZE(mro) : 0;
        for (Py_ssize_t b = -1; b < nb; b++) {
            PyObject *base = b < 0 ? (PyObject *)tp : PyTuple_GET_ITEM(mro, b);
            if (!PyType_Check(base)) continue;
            char name[512];
            size_t q, len = type_name((PyTypeObject *)base, name, sizeof name, &q);
            if (((size_t)el == len && memcmp(es, name, len) == 0) ||
                ((size_t)el == len - q && memcmp(es, name + q, len - q) == 0))
                return 1;
        }
    }
    return 0;
}

/* A type's first object: name and judge it. NULL when out of memory. */
static tent *judge(PyTypeObject *tp) {
    if ((tcount + 1) * 2 > (tmap ? tmask + 1 : 0) && grow() < 0) return NULL;
    MT_GUARD_ENTER(MT_GUARD_SYNC); /* naming is the recorder's work */
    PyObject *exc_saved = PyErr_GetRaisedException();
    char name[512];
    size_t q, len = type_name(tp, name, sizeof name, &q);
    int tracked = (!inc || matches(tp, inc)) && !(exc && matches(tp, exc));
    uint32_t sid = tracked ? mt_rec_string(name, len) : 0;
    PyErr_SetRaisedException(exc_saved);
    MT_GUARD_LEAVE();
    size_t i = slot_of(tp);
    while (tmap[i].tp) i = (i + 1) & tmask;
    tmap[i] = (tent){tp, sid, tracked && sid != 0};
    tcount++;
    return &tmap[i];
}

static MT_TLS int in_prev; /* calling the previous tracer */

static int tracer(PyObject *op, PyRefTracerEvent ev, void *data) {
    (void)data;
    /* A tracer installed over an earlier recording's may have kept ours as
     * its previous one, and be ours now: a call back from it is the event
     * being handled, recorded when it returns. */
    if (in_prev) return 0;
    if (prev_fn) {
        in_prev = 1;
        prev_fn(op, ev, prev_data);
        in_prev = 0;
    }
    if (!on || !atomic_load_explicit(&mt_rec.active, memory_order_relaxed)) return 0;
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (!ts || ts->interp != interp) return 0;
    PyTypeObject *tp = Py_TYPE(op);
    tent *e = lookup(tp);
    /* Judging calls the Python API: not inside the recorder's own code. */
    if (!e && !mt_tls_guard) e = judge(tp);
    if (e && e->tracked)
        mt_alloc_obj_event(ev == PyRefTracer_CREATE ? MT_REC_OBJ_NEW : MT_REC_OBJ_DEL,
                           (uintptr_t)op, e->sid);
    if (ev == PyRefTracer_DESTROY && PyType_Check(op)) forget((PyTypeObject *)op);
    return 0;
}

void mt_objects_moving(void *old) {
    if (!on || in_prev) return;
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (!ts || ts->interp != interp) return;
    /* The candidates: the object at the block's start (no GC header), or
     * 16 bytes in (after PyGC_Head). A type pointer read where no object
     * is must be a tracked type of the right kind to count. */
    static const size_t off[2] = {0, 16};
    for (int k = 0; k < 2; k++) {
        PyObject *op = (PyObject *)((char *)old + off[k]);
        PyTypeObject *tp = Py_TYPE(op);
        tent *e = lookup(tp);
        if (!e || !e->tracked) continue;
        if (((tp->tp_flags & Py_TPFLAGS_HAVE_GC) != 0) != (k == 1)) continue;
        mt_alloc_obj_event(MT_REC_OBJ_DEL, (uintptr_t)op, e->sid);
        return;
    }
}

void mt_objects_rechain(void) {
    if (!installed) return;
    void *d;
    PyRefTracer cur = PyRefTracer_GetTracer(&d);
    if (cur == tracer) return;
    prev_fn = cur;
    prev_data = d;
    PyRefTracer_SetTracer(tracer, NULL);
}

/* A tuple of the entries of seq (types and str), or NULL with an
 * exception; Py_None or NULL gives NULL without one. */
static PyObject *entries(PyObject *seq, const char *what, int *err) {
    *err = 0;
    if (!seq || seq == Py_None) return NULL;
    PyObject *t = PySequence_Tuple(seq);
    if (!t) {
        *err = 1;
        return NULL;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(t); k++) {
        PyObject *e = PyTuple_GET_ITEM(t, k);
        if (!PyType_Check(e) && !PyUnicode_Check(e)) {
            PyErr_Format(PyExc_TypeError, "%s: entries must be types or type names (str), not %.80s",
                         what, Py_TYPE(e)->tp_name);
            Py_DECREF(t);
            *err = 1;
            return NULL;
        }
    }
    if (PyTuple_GET_SIZE(t) == 0) Py_CLEAR(t);
    return t;
}

int mt_objects_available(const char **why) {
    *why = NULL;
    return 1;
}

int mt_objects_start(PyObject *include, PyObject *exclude) {
    int err;
    if (!module_key && !(module_key = PyUnicode_InternFromString("__module__"))) return -1;
    Py_CLEAR(inc);
    Py_CLEAR(exc);
    inc = entries(include, "include_types", &err);
    if (err) return -1;
    exc = entries(exclude, "exclude_types", &err);
    if (err) {
        Py_CLEAR(inc);
        return -1;
    }
    if (tmap) memset(tmap, 0, (tmask + 1) * sizeof *tmap);
    tcount = 0;
    interp = PyInterpreterState_Get();
    prev_fn = PyRefTracer_GetTracer(&prev_data);
    if (prev_fn == tracer) prev_fn = NULL; /* ours, left by a replaced stop */
    on = 1;
    if (PyRefTracer_SetTracer(tracer, NULL) < 0) {
        on = 0;
        return -1;
    }
    installed = 1;
    return 0;
}

void mt_objects_stop(void) {
    if (!installed) return;
    on = 0;
    installed = 0;
    void *d;
    if (PyRefTracer_GetTracer(&d) == tracer) {
        PyRefTracer_SetTracer(prev_fn, prev_data);
    } else {
        PyObject *saved = PyErr_GetRaisedException();
        if (PyErr_WarnEx(PyExc_RuntimeWarning,
                         "memtrace: another reference tracer (tracemalloc.start() or stop()?) "
                         "replaced memtrace's during the recording; objects created or "
                         "destroyed after that were not recorded",
                         1) < 0)
            PyErr_WriteUnraisable(NULL);
        PyErr_SetRaisedException(saved);
    }
    prev_fn = NULL;
    prev_data = NULL;
    Py_CLEAR(inc);
    Py_CLEAR(exc);
    if (tmap) memset(tmap, 0, (tmask + 1) * sizeof *tmap);
    tcount = 0;
}

void mt_objects_after_fork_child(void) {
    if (!installed) return;
    on = 0;
    installed = 0;
    void *d;
    if (PyRefTracer_GetTracer(&d) == tracer) PyRefTracer_SetTracer(prev_fn, prev_data);
    prev_fn = NULL;
    prev_data = NULL;
    Py_CLEAR(inc); /* the filters' types are the program's again */
    Py_CLEAR(exc);
    if (tmap) memset(tmap, 0, (tmask + 1) * sizeof *tmap);
    tcount = 0;
}


#else /* no reference tracer */

int mt_objects_available(const char **why) {
#ifdef Py_GIL_DISABLED
    *why = "object tracking is not supported on the free-threaded build";
#else
    *why = "object tracking needs CPython 3.13 or later (its reference tracer, "
           "PyRefTracer_SetTracer); this is CPython " PY_VERSION;
#endif
    return 0;
}

int mt_objects_start(PyObject *include, PyObject *exclude) {
    (void)include;
    (void)exclude;
    const char *why;
    mt_objects_available(&why);
    PyErr_SetString(PyExc_RuntimeError, why);
    return -1;
}

void mt_objects_stop(void) {}
void mt_objects_rechain(void) {}
void mt_objects_moving(void *old) { (void)old; }
void mt_objects_after_fork_child(void) {}

#endif

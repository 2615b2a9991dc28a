/*
 * mt_floor.c - the CPython extension _mt_floor: do-nothing hooks, the cost
 * floor the recorder's overhead is measured against (bench/bench_recorder.py).
 *
 * Each hook is installed the same way the recorder installs its own (C
 * profile and trace functions through PyEval_SetProfile/PyEval_SetTrace, a
 * PEP 523 frame-evaluation function, sys.monitoring callbacks that are C
 * functions), so the difference between a floor and the matching memtrace
 * mode is what the recorder does inside its hook, not how it is called.
 *
 * Only the calling thread gets the profile and trace functions: the
 * benchmark's workloads run on the main thread alone.
 *
 * The allocator floors (bench/bench_alloc.py) wrap the three PyMem domains
 * as the recorder's exact mode does (PyMem_SetAllocator over the previous
 * allocator): alloc_on(0) with wrappers that call through and do nothing
 * else, alloc_on(1) with wrappers that also store each event (16 bytes:
 * address, size and kind) into a per-thread ring that is overwritten: the
 * least an exact recorder does per event, without a stack, a time, an
 * encoding or a file. alloc_off() puts the previous allocators back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The eval function passes the frame through untouched, so the frame can
 * stay an opaque pointer: _PyEval_EvalFrameDefault and the setter are
 * declared in the public cpython/ headers on 3.9-3.13, and no internal
 * header (Py_BUILD_CORE) is needed. The frame type changed in 3.11. */
#if PY_VERSION_HEX >= 0x030B0000
typedef struct _PyInterpreterFrame floor_frame;
#else
typedef PyFrameObject floor_frame;
#endif

static int floor_trace_fn(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj, (void)frame, (void)what, (void)arg;
    return 0;
}

static PyObject *floor_eval_fn(PyThreadState *ts, floor_frame *f, int throwflag) {
    return _PyEval_EvalFrameDefault(ts, f, throwflag);
}

/* The interpreter's eval function before eval_on, restored by eval_off.
 * GIL. */
static _PyFrameEvalFunction floor_prev_eval;

static PyObject *floor_profile_on(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    PyEval_SetProfile(floor_trace_fn, NULL);
    Py_RETURN_NONE;
}

static PyObject *floor_profile_off(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    PyEval_SetProfile(NULL, NULL);
    Py_RETURN_NONE;
}

static PyObject *floor_trace_on(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    PyEval_SetTrace(floor_trace_fn, NULL);
    Py_RETURN_NONE;
}

static PyObject *floor_trace_off(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    PyEval_SetTrace(NULL, NULL);
    Py_RETURN_NONE;
}

static PyObject *floor_eval_on(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    PyInterpreterState *interp = PyInterpreterState_Get();
    floor_prev_eval = _PyInterpreterState_GetEvalFrameFunc(interp);
    _PyInterpreterState_SetEvalFrameFunc(interp, (_PyFrameEvalFunction)floor_eval_fn);
    Py_RETURN_NONE;
}

static PyObject *floor_eval_off(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), floor_prev_eval);
    Py_RETURN_NONE;
}

/* A sys.monitoring callback that does nothing and returns None (not
 * sys.monitoring.DISABLE, which would switch the event off and measure
 * nothing). METH_FASTCALL, like the recorder's callbacks. */
static PyObject *floor_noop(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self, (void)args, (void)nargs;
    Py_RETURN_NONE;
}

/* ---- Allocator floors ---------------------------------------------------- */

static PyMemAllocatorEx floor_prev[3];
static int floor_alloc_level = -1; /* -1: not installed */

#define FLOOR_RING 65536 /* entries of 16 bytes: 1 MiB a thread */
typedef struct { uint64_t addr, size_kind; } floor_ent;
static __attribute__((tls_model("initial-exec"))) _Thread_local floor_ent *floor_ring;
static __attribute__((tls_model("initial-exec"))) _Thread_local uint32_t floor_at;

static inline void floor_log(void *p, size_t size, unsigned kind) {
    floor_ent *r = floor_ring;
    if (__builtin_expect(r == NULL, 0)) {
        /* libc's calloc: the hooks' own allocation is not an event. */
        r = floor_ring = calloc(FLOOR_RING, sizeof *r);
        if (!r) return;
    }
    floor_ent *e = &r[floor_at++ & (FLOOR_RING - 1)];
    e->addr = (uint64_t)(uintptr_t)p;
    e->size_kind = (uint64_t)size << 3 | kind;
}

#define FLOOR_HOOKS(d)                                                          \
    static void *floor_malloc##d(void *ctx, size_t n) {                         \
        (void)ctx;                                                              \
        void *p = floor_prev[d].malloc(floor_prev[d].ctx, n);                   \
        if (floor_alloc_level && p) floor_log(p, n, 1);                         \
        return p;                                                               \
    }                                                                           \
    static void *floor_calloc##d(void *ctx, size_t k, size_t n) {               \
        (void)ctx;                                                              \
        void *p = floor_prev[d].calloc(floor_prev[d].ctx, k, n);                \
        if (floor_alloc_level && p) floor_log(p, k * n, 1);                     \
        return p;                                                               \
    }                                                                           \
    static void *floor_realloc##d(void *ctx, void *old, size_t n) {             \
        (void)ctx;                                                              \
        void *p = floor_prev[d].realloc(floor_prev[d].ctx, old, n);             \
        if (floor_alloc_level && p) floor_log(p, n, 2);                         \
        return p;                                                               \
    }                                                                           \
    static void floor_free##d(void *ctx, void *p) {                             \
        (void)ctx;                                                              \
        if (floor_alloc_level && p) floor_log(p, 0, 3);                         \
        floor_prev[d].free(floor_prev[d].ctx, p);                               \
    }
FLOOR_HOOKS(0)
FLOOR_HOOKS(1)
FLOOR_HOOKS(2)

static PyObject *floor_alloc_on(PyObject *self, PyObject *arg) {
    (void)self;
    long level = PyLong_AsLong(arg);
    if (level == -1 && PyErr_Occurred()) return NULL;
    if (level != 0 && level != 1) {
        PyErr_SetString(PyExc_ValueError, "alloc_on: level is 0 (call through) or 1 (store)");
        return NULL;
    }
    if (floor_alloc_level >= 0) {
        PyErr_SetString(PyExc_RuntimeError, "alloc_on: already on");
        return NULL;
    }
    static const PyMemAllocatorDomain dom[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                PYMEM_DOMAIN_OBJ};
    PyMemAllocatorEx hook[3] = {
        {NULL, floor_malloc0, floor_calloc0, floor_realloc0, floor_free0},
        {NULL, floor_malloc1, floor_calloc1, floor_realloc1, floor_free1},
        {NULL, floor_malloc2, floor_calloc2, floor_realloc2, floor_free2},
    };
    floor_alloc_level = (int)level;
    for (int i = 0; i < 3; i++) {
        PyMem_GetAllocator(dom[i], &floor_prev[i]);
        PyMem_SetAllocator(dom[i], &hook[i]);
    }
    Py_RETURN_NONE;
}

static PyObject *floor_alloc_off(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    static const PyMemAllocatorDomain dom[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                PYMEM_DOMAIN_OBJ};
    if (floor_alloc_level < 0) Py_RETURN_NONE;
    /* Blocks allocated meanwhile stay valid: the wrappers call through to
     * the same allocators. */
    for (int i = 0; i < 3; i++) PyMem_SetAllocator(dom[i], &floor_prev[i]);
    floor_alloc_level = -1;
    Py_RETURN_NONE;
}

static PyMethodDef floor_methods[] = {
    {"profile_on", floor_profile_on, METH_NOARGS,
     "Set a C profile function that returns 0 (this thread)."},
    {"profile_off", floor_profile_off, METH_NOARGS, "Remove the profile function (this thread)."},
    {"trace_on", floor_trace_on, METH_NOARGS,
     "Set a C trace function that returns 0 (this thread)."},
    {"trace_off", floor_trace_off, METH_NOARGS, "Remove the trace function (this thread)."},
    {"eval_on", floor_eval_on, METH_NOARGS,
     "Set a PEP 523 eval function that only calls _PyEval_EvalFrameDefault."},
    {"eval_off", floor_eval_off, METH_NOARGS, "Restore the previous eval function."},
    {"alloc_on", floor_alloc_on, METH_O,
     "Wrap the PyMem allocators: level 0 calls through, 1 also stores each event."},
    {"alloc_off", floor_alloc_off, METH_NOARGS, "Put the previous PyMem allocators back."},
    {"noop", (PyCFunction)(void (*)(void))floor_noop, METH_FASTCALL,
     "Take any arguments, return None: a do-nothing sys.monitoring callback."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef floor_module = {
    PyModuleDef_HEAD_INIT, "_mt_floor",
    "Do-nothing interpreter hooks: the floor for memtrace's overhead.",
    -1, floor_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__mt_floor(void) {
    return PyModule_Create(&floor_module);
}

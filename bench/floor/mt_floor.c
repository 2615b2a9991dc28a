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

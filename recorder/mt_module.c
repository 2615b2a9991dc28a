/*
 * mt_module.c - memtrace._memtrace: converts Python arguments and calls the
 * hooks and the core. Option checking with friendly messages is done in
 * python/memtrace/__init__.py; this file checks only what C needs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "mt_hooks.h"
#include "mt_alloc.h"

#include <stdlib.h>
#include <string.h>

static int strv_from_seq(PyObject *seq, const char *what, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!seq || seq == Py_None) return 0;
    PyObject *fast = PySequence_Fast(seq, what);
    if (!fast) return -1;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(fast);
    char **v = calloc((size_t)k + 1, sizeof *v);
    if (!v) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *s = PySequence_Fast_GET_ITEM(fast, i);
        const char *c = PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : NULL;
        if (!c) {
            for (Py_ssize_t j = 0; j < i; j++) free(v[j]);
            free(v);
            Py_DECREF(fast);
            if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "%s must hold strings", what);
            return -1;
        }
        v[i] = strdup(c);
    }
    Py_DECREF(fast);
    *out = v;
    *n = (size_t)k;
    return 0;
}

static PyObject *mod_start(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"path", "mode", "rss_interval", "flush_interval",
                             "rss_exact", "rss_trigger", "max_depth", "include",
                             "exclude", "buffer_bytes", "max_buffers", "use_tsc",
                             "python_version", "executable", "argv", "c_calls",
                             "allocations", "native", "alloc_sample_bytes", "hide_frame", NULL};
    const char *path, *mode, *pyver = NULL, *exe = NULL;
    double rss_interval = 0.01, flush_interval = 1.0;
    int rss_exact = 0, use_tsc = 0, c_calls = -1, allocations = 0, native = 0;
    unsigned long long alloc_sample_bytes = 1;
    unsigned long long rss_trigger = 0;
    unsigned int max_depth = 0, buffer_bytes = 65536, max_buffers = 256;
    PyObject *include = NULL, *exclude = NULL, *argv = NULL, *hide_frame = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|ddpKIOOIIpzzOpppKO", kwlist, &path,
                                     &mode, &rss_interval, &flush_interval, &rss_exact,
                                     &rss_trigger, &max_depth, &include, &exclude,
                                     &buffer_bytes, &max_buffers, &use_tsc, &pyver,
                                     &exe, &argv, &c_calls, &allocations, &native,
                                     &alloc_sample_bytes, &hide_frame))
        return NULL;
    int m = strcmp(mode, "profile") == 0 ? MT_MODE_PROFILE
          : strcmp(mode, "trace") == 0   ? MT_MODE_TRACE
          : strcmp(mode, "fast") == 0    ? MT_MODE_FAST
          : strcmp(mode, "alloc") == 0   ? MT_MODE_ALLOC : 0;
    if (!m) return PyErr_Format(PyExc_ValueError,
                                "mode must be 'profile', 'trace', 'fast' or 'alloc', not %R",
                                PyTuple_GET_ITEM(args, 1));
    if (m == MT_MODE_ALLOC && !allocations && !native)
        return PyErr_Format(PyExc_ValueError, "mode 'alloc' needs allocations or native");
    if (alloc_sample_bytes == 0)
        return PyErr_Format(PyExc_ValueError, "alloc_sample_bytes must be >= 1");
    if (c_calls < 0) c_calls = m == MT_MODE_PROFILE;
    if (c_calls < 0) c_calls = 0; /* alloc mode */
    if ((c_calls && (m == MT_MODE_FAST || m == MT_MODE_ALLOC)) || (!c_calls && m == MT_MODE_PROFILE))
        return PyErr_Format(PyExc_ValueError, "c_calls does not fit mode %s", mode);
    if (rss_interval < 0 || flush_interval <= 0)
        return PyErr_Format(PyExc_ValueError, "intervals must be positive");
    mt_filters filters = {0};
    char **av = NULL;
    size_t ac = 0;
    if (strv_from_seq(include, "include", &filters.include, &filters.ninclude) < 0 ||
        strv_from_seq(exclude, "exclude", &filters.exclude, &filters.nexclude) < 0 ||
        strv_from_seq(argv, "argv", &av, &ac) < 0) {
        for (size_t i = 0; i < filters.ninclude; i++) free(filters.include[i]);
        free(filters.include);
        return NULL;
    }
    mt_rec_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = path;
    mt_header_init(&cfg.header);
    cfg.header.python_implementation = "CPython";
    cfg.header.python_version = pyver;
    cfg.header.executable = exe;
    cfg.header.argv = (const char *const *)av;
    cfg.header.argc = (uint32_t)ac;
    cfg.header.producer = "memtrace-recorder " MT_RECORDER_VERSION;
    cfg.header.mode = mode;
    cfg.header.content = MT_CONTENT_CALLS | (rss_interval > 0 || rss_exact ? MT_CONTENT_RSS : 0);
    if (c_calls) cfg.header.content |= MT_CONTENT_CCALLS;
    if (m == MT_MODE_TRACE) cfg.header.content |= MT_CONTENT_LINES;
    if (allocations || native) cfg.header.content |= MT_CONTENT_ALLOCS;
    cfg.alloc_sample_bytes = allocations || native ? alloc_sample_bytes : 0;
    cfg.use_tsc = use_tsc;
    cfg.rss_interval_ns = (uint64_t)(rss_interval * 1e9);
    cfg.flush_interval_ns = (uint64_t)(flush_interval * 1e9);
    if (cfg.flush_interval_ns < 1000000) cfg.flush_interval_ns = 1000000;
    if (cfg.rss_interval_ns && cfg.rss_interval_ns < 100000) cfg.rss_interval_ns = 100000;
    cfg.buffer_bytes = buffer_bytes;
    cfg.max_buffers = max_buffers;
    cfg.rss_exact = rss_exact;
    cfg.rss_trigger_bytes = rss_trigger;
    cfg.max_depth = max_depth;
    cfg.filtering = rss_trigger > 0 || max_depth > 0;
    if (m == MT_MODE_ALLOC && (cfg.filtering || filters.ninclude || filters.nexclude)) {
        for (size_t i = 0; i < filters.ninclude; i++) free(filters.include[i]);
        for (size_t i = 0; i < filters.nexclude; i++) free(filters.exclude[i]);
        free(filters.include);
        free(filters.exclude);
        for (size_t i = 0; i < ac; i++) free(av[i]);
        free(av);
        return PyErr_Format(PyExc_ValueError,
                            "mode 'alloc' takes no rss_trigger, max_depth, include or exclude");
    }
    mt_alloc_config acfg = {allocations, native, alloc_sample_bytes, m == MT_MODE_ALLOC};
    mt_hooks_set_hide_frame(hide_frame);
    int rc = mt_hooks_start(&cfg, m, c_calls, &filters, &acfg);
    for (size_t i = 0; i < ac; i++) free(av[i]);
    free(av);
    if (rc < 0) {
        mt_hooks_set_hide_frame(NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *mod_stop(PyObject *self, PyObject *args) {
    (void)self;
    int reason = MT_END_STOP;
    if (!PyArg_ParseTuple(args, "|i", &reason)) return NULL;
    if (!mt_hooks_mode()) Py_RETURN_NONE;
    int rc = mt_hooks_stop(reason);
    return PyLong_FromLong(rc);
}

static PyObject *mod_is_recording(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyBool_FromLong(mt_hooks_mode() != 0);
}

static PyObject *mod_marker(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n;
    const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &n) : NULL;
    if (!s) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "marker text must be str, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    mt_hooks_marker(s, (size_t)n);
    Py_RETURN_NONE;
}

static PyObject *mod_rss(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyLong_FromUnsignedLongLong(mt_rss_read());
}

static PyObject *mod_rss_peak(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyLong_FromUnsignedLongLong(mt_rss_peak_process());
}

static PyObject *mod_after_fork_child(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    mt_hooks_after_fork_child();
    Py_RETURN_NONE;
}

static PyObject *mod_stats(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    mt_rec_stats s;
    mt_rec_stats_get(&s);
    return Py_BuildValue("{s:K,s:K,s:i,s:K,s:K}", "events_lost", (unsigned long long)s.events_lost,
                         "buffers_max", (unsigned long long)s.buffers_max, "error", s.error,
                         "alloc_records", (unsigned long long)s.alloc_records,
                         "sampled_live", (unsigned long long)mt_alloc_sampled_live());
}

static PyObject *mod_native_available(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyBool_FromLong(mt_alloc_native_available());
}

static PyMethodDef mod_methods[] = {
    {"start", (PyCFunction)(void (*)(void))mod_start, METH_VARARGS | METH_KEYWORDS,
     "start(path, mode, ...): start recording (use memtrace.start)."},
    {"stop", mod_stop, METH_VARARGS, "stop([reason]) -> status or None if not recording."},
    {"is_recording", mod_is_recording, METH_NOARGS, "True while recording."},
    {"marker", mod_marker, METH_O, "marker(text): write a label now."},
    {"rss", mod_rss, METH_NOARGS, "Current resident set size, bytes."},
    {"rss_peak", mod_rss_peak, METH_NOARGS, "Peak resident set size of the process, bytes."},
    {"_thread_bootstrap", mt_hooks_thread_bootstrap, METH_VARARGS,
     "Profile function for new threads; swaps itself for the C hooks."},
    {"_after_fork_child", mod_after_fork_child, METH_NOARGS,
     "In a fork child: forget the parent's recording."},
    {"_stats", mod_stats, METH_NOARGS, "Recorder statistics."},
    {"native_available", mod_native_available, METH_NOARGS,
     "True when libmemtrace-preload.so is loaded (native allocation tracking)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod_def = {
    PyModuleDef_HEAD_INIT, "memtrace._memtrace",
    "C core of memtrace: use the memtrace package.", -1, mod_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__memtrace(void) {
    PyObject *m = PyModule_Create(&mod_def);
    if (!m) return NULL;
    PyModule_AddStringConstant(m, "__version__", MT_RECORDER_VERSION);
    PyModule_AddStringConstant(m, "format_version", MT_LIBRARY_VERSION);
    return m;
}

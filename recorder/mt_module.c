/*
 * mt_module.c - memtrace._memtrace: converts Python arguments and calls the
 * hooks and the core. Option checking with friendly messages is done in
 * python/memtrace/__init__.py; this file checks only what C needs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "mt_hooks.h"
#include "mt_alloc.h"
#include "mt_objects.h"
#include "mt_probes.h"
#include "mt_got.h"
#include "mt_procwatch.h"

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
        if (!v[i]) {
            for (Py_ssize_t j = 0; j < i; j++) free(v[j]);
            free(v);
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
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
                             "allocations", "native", "alloc_sample_bytes", "hide_frame",
                             "procs", "objects", "include_types", "exclude_types", NULL};
    const char *path, *mode, *pyver = NULL, *exe = NULL;
    PyObject *path_bytes = NULL;
    double rss_interval = 0.01, flush_interval = 1.0;
    int rss_exact = 0, use_tsc = 0, c_calls = -1, allocations = 0, native = 0, procs = 0;
    int objects = 0;
    PyObject *include_types = NULL, *exclude_types = NULL;
    unsigned long long alloc_sample_bytes = 1;
    unsigned long long rss_trigger = 0;
    unsigned int max_depth = 0, buffer_bytes = 65536, max_buffers = 256;
    PyObject *include = NULL, *exclude = NULL, *argv = NULL, *hide_frame = NULL;
    /* path: str, bytes or PathLike, converted as open() converts it. */
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&s|ddpKIOOIIpzzOpppKOppOO", kwlist,
                                     PyUnicode_FSConverter, &path_bytes,
                                     &mode, &rss_interval, &flush_interval, &rss_exact,
                                     &rss_trigger, &max_depth, &include, &exclude,
                                     &buffer_bytes, &max_buffers, &use_tsc, &pyver,
                                     &exe, &argv, &c_calls, &allocations, &native,
                                     &alloc_sample_bytes, &hide_frame, &procs, &objects,
                                     &include_types, &exclude_types))
        return NULL;
    /* Kept until the next start (GIL): every return below may use path. */
    static PyObject *path_holder;
    Py_XSETREF(path_holder, path_bytes);
    path = PyBytes_AS_STRING(path_bytes);
    int m = strcmp(mode, "profile") == 0 ? MT_MODE_PROFILE
          : strcmp(mode, "trace") == 0   ? MT_MODE_TRACE
          : strcmp(mode, "fast") == 0    ? MT_MODE_FAST
          : strcmp(mode, "alloc") == 0   ? MT_MODE_ALLOC
          : strcmp(mode, "poll") == 0    ? MT_MODE_POLL : 0;
    if (!m) return PyErr_Format(PyExc_ValueError,
                                "mode must be 'profile', 'trace', 'fast', 'alloc' or 'poll', not '%s'",
                                mode);
    if (m == MT_MODE_POLL && (allocations || native || c_calls > 0 || rss_exact ||
                              rss_trigger || max_depth))
        return PyErr_Format(PyExc_ValueError, "mode 'poll' records no events: no allocations, "
                                              "c_calls, rss_exact, rss_trigger or max_depth");
    if (m == MT_MODE_ALLOC && !allocations && !native && !objects)
        return PyErr_Format(PyExc_ValueError, "mode 'alloc' needs allocations, native or objects");
    if (m == MT_MODE_POLL && objects)
        return PyErr_Format(PyExc_ValueError, "mode 'poll' records no events: no objects");
    if (!objects && ((include_types && include_types != Py_None) ||
                     (exclude_types && exclude_types != Py_None)))
        return PyErr_Format(PyExc_ValueError, "include_types and exclude_types need objects=True");
    const char *why;
    if (objects && !mt_objects_available(&why)) return PyErr_Format(PyExc_RuntimeError, "%s", why);
    if (alloc_sample_bytes == 0)
        return PyErr_Format(PyExc_ValueError, "alloc_sample_bytes must be >= 1");
    if (c_calls < 0) c_calls = m == MT_MODE_PROFILE;
    if (c_calls < 0) c_calls = 0; /* alloc and poll modes */
    if ((c_calls && (m == MT_MODE_FAST || m == MT_MODE_ALLOC || m == MT_MODE_POLL)) ||
        (!c_calls && m == MT_MODE_PROFILE))
        return PyErr_Format(PyExc_ValueError, "c_calls does not fit mode %s", mode);
    /* (memtrace.start checks these with friendly messages; NaN and
     * infinities fail here too.) */
    if (!(rss_interval >= 0 && rss_interval <= 3600) ||
        !(flush_interval > 0 && flush_interval <= 3600))
        return PyErr_Format(PyExc_ValueError,
                            "rss_interval must be in [0, 3600] and flush_interval in (0, 3600] seconds");
    if (alloc_sample_bytes > (1ull << 62) || rss_trigger > (1ull << 62))
        return PyErr_Format(PyExc_ValueError, "alloc_sample_bytes and rss_trigger must be at most 2**62");
    mt_filters filters = {0};
    char **av = NULL;
    size_t ac = 0;
    if (strv_from_seq(include, "include", &filters.include, &filters.ninclude) < 0 ||
        strv_from_seq(exclude, "exclude", &filters.exclude, &filters.nexclude) < 0 ||
        strv_from_seq(argv, "argv", &av, &ac) < 0) {
        for (size_t i = 0; i < filters.ninclude; i++) free(filters.include[i]);
        free(filters.include);
        for (size_t i = 0; i < filters.nexclude; i++) free(filters.exclude[i]);
        free(filters.exclude);
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
    cfg.header.content = (m == MT_MODE_POLL ? 0 : MT_CONTENT_CALLS) |
                         (rss_interval > 0 || rss_exact || m == MT_MODE_POLL ? MT_CONTENT_RSS : 0);
    if (procs) cfg.header.content |= MT_CONTENT_PROCS;
    if (c_calls) cfg.header.content |= MT_CONTENT_CCALLS;
    if (m == MT_MODE_TRACE) cfg.header.content |= MT_CONTENT_LINES;
    if (allocations || native) {
        cfg.header.content |= MT_CONTENT_ALLOCS;
        cfg.header.flags |= MT_HEADER_ALLOC_ORDERED; /* mt_alloc_now */
    }
    if (objects) cfg.header.content |= MT_CONTENT_OBJECTS;
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
    /* Alloc mode walks its stacks: every frame's line. Profile and fast
     * modes with allocations: the allocating line (the innermost frame's);
     * trace mode has LINE records. */
    cfg.positions = m == MT_MODE_ALLOC || ((allocations || native || objects) && m != MT_MODE_TRACE);
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
    mt_alloc_config acfg = {allocations, native, alloc_sample_bytes, m == MT_MODE_ALLOC,
                            objects, include_types, exclude_types};
    int rc = mt_hooks_start(&cfg, m, c_calls, &filters, &acfg, hide_frame);
    for (size_t i = 0; i < ac; i++) free(av[i]);
    free(av);
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *mod_stop(PyObject *self, PyObject *args) {
    (void)self;
    int reason = MT_END_STOP;
    if (!PyArg_ParseTuple(args, "|i", &reason)) return NULL;
    if (mt_hooks_other_interp()) Py_RETURN_NONE; /* not this interpreter's */
    if (!mt_hooks_mode()) {
        /* Stopped by itself (disk full) with its hooks still on: off now. */
        if (mt_rec_failed()) mt_hooks_stop(MT_END_ERROR);
        Py_RETURN_NONE;
    }
    int rc = mt_hooks_stop(reason);
    return PyLong_FromLong(rc);
}

static PyObject *mod_is_recording(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    /* In a sub-interpreter: this interpreter is not being recorded. */
    return PyBool_FromLong(mt_hooks_mode() != 0 && !mt_hooks_other_interp());
}

static PyObject *mod_recording_any(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyBool_FromLong(mt_hooks_mode() != 0);
}

/* The UTF-8 of a label (marker text, poller label). A str that UTF-8
 * cannot encode (lone surrogates, as os.fsdecode makes of undecodable file
 * names) is written with them escaped ("\\udc80"): a label never fails.
 * Returns a new reference to the owner of *s (the str or a bytes), or NULL
 * with TypeError for a non-str. */
static PyObject *label_utf8(PyObject *arg, const char *what, const char **s, Py_ssize_t *n) {
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(arg)->tp_name);
        return NULL;
    }
    *s = PyUnicode_AsUTF8AndSize(arg, n);
    if (*s) {
        Py_INCREF(arg);
        return arg;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(arg, "utf-8", "backslashreplace");
    if (!b) return NULL;
    *s = PyBytes_AS_STRING(b);
    *n = PyBytes_GET_SIZE(b);
    return b;
}

static PyObject *mod_marker(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n;
    const char *s;
    PyObject *owner = label_utf8(arg, "marker text", &s, &n);
    if (!owner) return NULL;
    if (!mt_hooks_other_interp()) mt_hooks_marker(s, (size_t)n);
    Py_DECREF(owner);
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

/* pymalloc's state as sys._debugmallocstats() prints it, but into memory
 * (mt_hooks_malloc_stats_text): "" without pymalloc. */
static PyObject *mod_malloc_stats_text(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    size_t n = 0;
    char *buf = mt_hooks_malloc_stats_text(&n);
    PyObject *r = PyUnicode_DecodeUTF8(buf ? buf : "", buf ? (Py_ssize_t)n : 0, "replace");
    free(buf);
    return r;
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
    return Py_BuildValue("{s:K,s:K,s:i,s:K,s:K,s:K,s:I,s:i,s:O,s:K,s:k}", "events_lost",
                         (unsigned long long)s.events_lost,
                         "buffers_max", (unsigned long long)s.buffers_max, "error", s.error,
                         "alloc_records", (unsigned long long)s.alloc_records,
                         "sampled_live", (unsigned long long)mt_alloc_sampled_live(),
                         "waits", (unsigned long long)s.waits,
                         "fd_reopened", (unsigned)s.fd_reopened, "steal", s.steal,
                         "stalled", s.stalled ? Py_True : Py_False,
                         "alloc_frames_walked", (unsigned long long)mt_alloc_frames_walked(),
                         "got_patched", mt_got_patched());
}

static void *gil_release(void) { return PyEval_SaveThread(); }
static void gil_take(void *ts) { PyEval_RestoreThread((PyThreadState *)ts); }

static PyObject *mod_pause_threads(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    if (mt_hooks_other_interp()) Py_RETURN_NONE;
    /* With the GIL (see mt_rec_pause_threads): no other thread runs
     * between os.fork()'s checks and fork(). */
    mt_rec_pause_threads(gil_release, gil_take);
    Py_RETURN_NONE;
}

static int resume_pending(void *unused) {
    (void)unused;
    mt_rec_resume_threads();
    return 0;
}

static PyObject *mod_resume_threads(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    /* Not now: 3.13 counts the threads after this hook, and would warn.
     * At the main thread's next check for pending calls, or when a thread
     * needs a buffer, whichever comes first. */
    mt_rec_fork_done();
    if (Py_AddPendingCall(resume_pending, NULL) < 0) mt_rec_resume_threads();
    Py_RETURN_NONE;
}

static PyObject *mod_objects_rechain(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    mt_objects_rechain(); /* see memtrace/snapshots.py */
    Py_RETURN_NONE;
}

static PyObject *mod_usdt(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    /* Were the static probes (dtrace/memtrace.d) compiled in? */
    return PyBool_FromLong(mt_probes_compiled());
}

static PyObject *mod_native_available(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    /* 0 none, 1 libmemtrace-preload.so, 2 GOT patching (mt_alloc.h) */
    return PyLong_FromLong(mt_alloc_native_available());
}

/* ---- The in-process poller (mt_procwatch.h) ------------------------------ */

/* The Python callable that gets each round (JSON log lines): set by
 * _procwatch_start, cleared by _procwatch_stop; GIL. */
static PyObject *pw_callback;

#if PY_VERSION_HEX >= 0x030D0000
#define PW_FINALIZING() Py_IsFinalizing()
#else
#define PW_FINALIZING() _Py_IsFinalizing()
#endif

static PyObject *counters_dict(const mt_counter *v, uint32_t n) {
    PyObject *d = PyDict_New();
    for (uint32_t i = 0; d && i < n; i++) {
        const char *name = mt_counter_name(v[i].id);
        PyObject *x = PyLong_FromUnsignedLongLong(v[i].value);
        if (!name || !x || PyDict_SetItemString(d, name, x) < 0) {
            Py_XDECREF(x);
            if (!name) continue;
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(x);
    }
    return d;
}

/* On the poller thread: hand the round to the Python callback. The GIL is
 * taken once per round, and only when a callback was given. */
static void pw_on_round(void *ctx, const mt_procwatch_round *r) {
    (void)ctx;
    if (PW_FINALIZING()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *cb = pw_callback;
    if (cb) {
        Py_INCREF(cb);
        double secs = mt_rec.ticks_per_second ? (double)r->t / (double)mt_rec.ticks_per_second : 0;
        PyObject *self = counters_dict(r->self, r->nself);
        PyObject *labels = PyList_New(0);
        PyObject *kids = PyList_New(0);
        for (uint32_t i = 0; labels && i < r->nlabels; i++) {
            PyObject *s = PyUnicode_DecodeUTF8(r->labels[i], r->label_lens[i], "replace");
            if (!s || PyList_Append(labels, s) < 0) Py_CLEAR(labels);
            Py_XDECREF(s);
        }
        for (uint32_t i = 0; kids && i < r->nchildren; i++) {
            const mt_procwatch_child *c = &r->children[i];
            PyObject *cd = counters_dict(c->v, c->n);
            PyObject *k = cd ? Py_BuildValue("{s:I,s:I,s:s,s:s,s:O}", "pid", c->pid, "ppid", c->ppid,
                                             "name", c->name, "cmdline", c->cmdline,
                                             "counters", cd)
                             : NULL;
            Py_XDECREF(cd);
            if (!k || PyList_Append(kids, k) < 0) Py_CLEAR(kids);
            Py_XDECREF(k);
        }
        PyObject *res = NULL;
        if (self && labels && kids)
            res = PyObject_CallFunction(cb, "idOOO", r->phase, secs, self, labels, kids);
        if (!res) PyErr_WriteUnraisable(cb);
        Py_XDECREF(res);
        Py_XDECREF(self);
        Py_XDECREF(labels);
        Py_XDECREF(kids);
        Py_DECREF(cb);
    }
    PyGILState_Release(g);
}

static PyObject *mod_pw_start(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"interval", "rollup_interval", "children", "callback", NULL};
    double interval, rollup = 10.0;
    int children = 0;
    PyObject *cb = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "d|dpO", kwlist, &interval, &rollup, &children, &cb))
        return NULL;
    if (!(interval >= 0.001) || !(rollup >= 0))
        return PyErr_Format(PyExc_ValueError, "interval must be >= 0.001 s and rollup_interval >= 0");
    if (cb != Py_None && !PyCallable_Check(cb))
        return PyErr_Format(PyExc_TypeError, "callback must be callable or None");
    mt_procwatch_config cfg = {(uint64_t)(interval * 1e9), (uint64_t)(rollup * 1e9), children,
                               cb == Py_None ? NULL : pw_on_round, NULL};
    /* The callback is set only once this poller runs: a start refused
     * because one runs already must not take the running one's. The new
     * thread reads it with the GIL, which we hold until we return. */
    int rc = mt_procwatch_start(&cfg);
    if (rc == 0) {
        Py_XINCREF(cb == Py_None ? NULL : cb);
        Py_XSETREF(pw_callback, cb == Py_None ? NULL : cb);
    }
    if (rc < 0) {
        if (rc == MT_ERR_STATE)
            return PyErr_Format(PyExc_RuntimeError, mt_procwatch_running()
                                ? "a process poller is already running"
                                : "memtrace is not recording");
        return PyErr_Format(PyExc_OSError, "cannot start the process poller: %s", mt_strerror(rc));
    }
    Py_RETURN_NONE;
}

static PyObject *mod_pw_stop(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    int rc;
    /* The poller's last round may be waiting for the GIL (its callback). */
    Py_BEGIN_ALLOW_THREADS
    rc = mt_procwatch_stop();
    Py_END_ALLOW_THREADS
    Py_CLEAR(pw_callback);
    return PyBool_FromLong(rc == 0);
}

static PyObject *mod_pw_label(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n;
    const char *s;
    PyObject *owner = label_utf8(arg, "label", &s, &n);
    if (!owner) return NULL;
    int rc = mt_procwatch_label(s, (size_t)n);
    Py_DECREF(owner);
    if (rc < 0) return PyErr_NoMemory();
    return PyBool_FromLong(rc);
}

static PyObject *mod_pw_running(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyBool_FromLong(mt_procwatch_running());
}

static PyObject *mod_pw_stats(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    mt_procwatch_stats s;
    mt_procwatch_stats_get(&s);
    return Py_BuildValue("{s:K,s:K,s:K,s:K}", "rounds", (unsigned long long)s.rounds,
                         "cpu_ns", (unsigned long long)s.cpu_ns, "children_seen",
                         (unsigned long long)s.children_seen, "samples",
                         (unsigned long long)s.samples);
}

/* TEST ONLY (tests/python/test_lifecycle.py): see mt_rec_test_hold_lock. */
static PyObject *mod_test_hold_lock(PyObject *self, PyObject *args) {
    (void)self;
    const char *name;
    double secs;
    if (!PyArg_ParseTuple(args, "sd", &name, &secs)) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_rec_test_hold_lock(name, (uint64_t)(secs * 1e9));
    Py_END_ALLOW_THREADS
    if (rc < 0) return PyErr_Format(PyExc_ValueError, "no lock %s", name);
    Py_RETURN_NONE;
}

/* TEST ONLY (tests/python/test_reliability.py): see
 * mt_rec_test_set_wait_max_ns. */
static PyObject *mod_test_set_wait_max(PyObject *self, PyObject *arg) {
    (void)self;
    double secs = PyFloat_AsDouble(arg);
    if (secs == -1 && PyErr_Occurred()) return NULL;
    if (!(secs >= 0 && secs <= 3600)) return PyErr_Format(PyExc_ValueError, "bad seconds");
    mt_rec_test_set_wait_max_ns((uint64_t)(secs * 1e9));
    Py_RETURN_NONE;
}

/* TEST ONLY (tests/python/test_coexist.py): is the interpreter's frame
 * evaluation function CPython's own? */
static PyObject *mod_test_eval_frame_is_default(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyBool_FromLong(_PyInterpreterState_GetEvalFrameFunc(PyInterpreterState_Get()) ==
                           _PyEval_EvalFrameDefault);
}

static PyMethodDef mod_methods[] = {
    {"_procwatch_start", (PyCFunction)(void (*)(void))mod_pw_start, METH_VARARGS | METH_KEYWORDS,
     "_procwatch_start(interval, rollup_interval=10, children=False, callback=None): "
     "start the in-process poller in the running recording (use memtrace.process)."},
    {"_procwatch_stop", mod_pw_stop, METH_NOARGS,
     "Take a last round and stop the poller; False if none ran."},
    {"_procwatch_label", mod_pw_label, METH_O,
     "A label: a marker now, and in the poller's next round; True if a poller runs."},
    {"_procwatch_running", mod_pw_running, METH_NOARGS, "True while the poller runs."},
    {"_procwatch_stats", mod_pw_stats, METH_NOARGS, "Poller statistics (rounds, cpu_ns, ...)."},
    {"start", (PyCFunction)(void (*)(void))mod_start, METH_VARARGS | METH_KEYWORDS,
     "start(path, mode, ...): start recording (use memtrace.start)."},
    {"stop", mod_stop, METH_VARARGS, "stop([reason]) -> status or None if not recording."},
    {"is_recording", mod_is_recording, METH_NOARGS,
     "True while recording this interpreter."},
    {"_recording_any", mod_recording_any, METH_NOARGS,
     "True while recording, whichever interpreter is recorded."},
    {"marker", mod_marker, METH_O, "marker(text): write a label now."},
    {"rss", mod_rss, METH_NOARGS, "Current resident set size, bytes."},
    {"rss_peak", mod_rss_peak, METH_NOARGS, "Peak resident set size of the process, bytes."},
    {"malloc_stats_text", mod_malloc_stats_text, METH_NOARGS,
     "pymalloc's state, as sys._debugmallocstats() writes it ('' without pymalloc)."},
    {"_thread_bootstrap", mt_hooks_thread_bootstrap, METH_VARARGS,
     "Profile function for new threads; swaps itself for the C hooks."},
    {"_thread_bootstrap_trace", mt_hooks_thread_bootstrap_trace, METH_VARARGS,
     "Trace function for new threads (trace mode without c_calls); swaps itself "
     "for the C hook."},
    {"_pause_threads", mod_pause_threads, METH_NOARGS,
     "Before os.fork(): stop the recorder's threads (the recording goes on)."},
    {"_resume_threads", mod_resume_threads, METH_NOARGS,
     "After os.fork(), in the parent: start them again."},
    {"_after_fork_child", mod_after_fork_child, METH_NOARGS,
     "In a fork child: forget the parent's recording."},
    {"_stats", mod_stats, METH_NOARGS, "Recorder statistics."},
    {"_objects_rechain", mod_objects_rechain, METH_NOARGS,
     "Put memtrace's reference tracer back on top of one set since (tracemalloc)."},
    {"usdt", mod_usdt, METH_NOARGS,
     "True when the recorder's static probes (dtrace/memtrace.d) are compiled in."},
    {"native_available", mod_native_available, METH_NOARGS,
     "True when libmemtrace-preload.so is loaded (native allocation tracking)."},
    {"_test_hold_lock", mod_test_hold_lock, METH_VARARGS,
     "TEST ONLY: _test_hold_lock(name, seconds): another thread holds a recorder lock."},
    {"_test_set_wait_max", mod_test_set_wait_max, METH_O,
     "TEST ONLY: _test_set_wait_max(seconds): how long a thread waits for a free buffer."},
    {"_test_eval_frame_is_default", mod_test_eval_frame_is_default, METH_NOARGS,
     "TEST ONLY: True when no PEP 523 frame evaluation function is installed."},
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

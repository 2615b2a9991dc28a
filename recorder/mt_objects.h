/*
 * mt_objects.h - object tracking: every object's creation and destruction
 * (OBJ_NEW / OBJ_DEL records) through CPython's reference tracer,
 * PyRefTracer_SetTracer, a public API since CPython 3.13. Earlier versions
 * have no such hook: mt_objects_start refuses there with a message naming
 * the version.
 *
 * What is recorded: an OBJ_NEW when an object gets its first reference
 * (_Py_NewReference: allocation, or reuse from a free list), with the type's
 * name and the creating Python stack (as an allocation's, mt_alloc.c), and
 * an OBJ_DEL when it is deallocated. Objects that never pass through
 * _Py_NewReference (static and immortal objects made at start-up) are not
 * seen. Objects of sub-interpreters are not recorded (the tracer is
 * process-wide; the recorded interpreter is the one that started).
 *
 * Filters: include and exclude each hold types or names. A type matches an
 * entry that is a type object when it is that type or a subclass of it
 * (PyType_IsSubtype); an entry that is a name matches a type whose name,
 * or the name of one of its bases, is the entry: the full name
 * ("collections.OrderedDict", "__main__.Point"; builtins without module:
 * "dict") or the qualified name alone ("Point", "Outer.Inner"). An object is
 * recorded when its type matches include (or include is empty) and does not
 * match exclude. Each type is judged once, at its first object, and the
 * answer kept until it is deallocated.
 *
 * Another reference tracer already set (tracemalloc sets one on 3.13) is
 * kept and called first. A tracer set after ours replaces it: tracking
 * ends there, and mt_objects_stop says so in a RuntimeWarning.
 *
 * All functions: GIL held.
 */
#ifndef MT_OBJECTS_H
#define MT_OBJECTS_H

#include <Python.h>

/* Can this interpreter track objects? 1, or 0 with *why set to a sentence. */
int mt_objects_available(const char **why);
/* Start tracking (after mt_alloc_start). include, exclude: NULL or
 * sequences of types and str. 0, or -1 with an exception set. */
int mt_objects_start(PyObject *include, PyObject *exclude);
/* Stop: ours is no longer called when this returns. */
void mt_objects_stop(void);
/* Fork child: stop without writing anything. */
void mt_objects_after_fork_child(void);
/* The object-domain block at old is about to be reallocated (GIL held, the
 * guard down): a str, bytes or tuple being resized, which CPython then
 * reports as a new object without the old one's death. If old holds a
 * tracked object (at its start for a type without GC, after the GC header
 * for one with it), its OBJ_DEL is written. */
void mt_objects_moving(void *old);
/* Another tracer replaced memtrace's (tracemalloc.start() or stop()):
 * memtrace's goes back on top of it, calling it. Nothing when not
 * tracking, or when memtrace's is current. */
void mt_objects_rechain(void);

#endif /* MT_OBJECTS_H */

/*
 * mt_got.h - native allocation tracking inside a running process, without
 * LD_PRELOAD: memtrace points the GOT entries of the malloc family, mmap,
 * munmap (and dlopen) of every loaded object at wrappers of its own.
 *
 *     if (mt_got_install(hook) == 0) ...    // every object loaded so far,
 *                                           // and each one dlopen loads
 *     mt_got_uninstall();                   // the entries are put back
 *
 * The hook has the ABI of libmemtrace-preload.so's (mt_preload.h): called
 * after a successful allocation, before a free, after a successful realloc,
 * never re-entered on a thread (anything it allocates is not seen). The
 * wrappers call glibc's __libc_malloc & co. directly, as the preload library
 * does.
 *
 * What it sees: calls that go through a GOT entry of a loaded object: the
 * program, libpython, extension modules, their libraries (libstdc++'s
 * operator new calls malloc through its GOT), and libc's own calls to the
 * interposable malloc. What it cannot see: memory a library got before
 * install (its frees of it are ignored by the readers), calls made through a
 * function pointer the library saved earlier (e.g. `p = malloc; ... p(n)`),
 * and statically linked allocators (jemalloc built in). Linux, glibc,
 * x86-64 and AArch64; elsewhere mt_got_install fails.
 *
 * GIL: install and uninstall are called with the GIL, never at once from two
 * threads; the wrappers run on any thread at any time.
 */
#ifndef MT_GOT_H
#define MT_GOT_H

#include "preload/mt_preload.h"

/* Patch every loaded object (and later dlopen'ed ones) to call hook. 0, or
 * -1 when this platform cannot (nothing patched). */
int mt_got_install(mt_preload_hook hook);

/* Put every patched entry back and stop calling the hook. */
void mt_got_uninstall(void);

/* Sampled allocations (mt_alloc.c): the wrappers settle the common case
 * themselves, without calling the hook: an allocation that holds no sample
 * point (the recorder's per-thread mt_tls_sample_left), a free of a block
 * the sampled set certainly lacks (mt_addrset_maybe), anything while the
 * thread is inside the recorder (mt_tls_guard). Set before install. */
void mt_got_set_sampled(int on);

/* Fork handlers (pthread_atfork, beside the recorder's): the patching lock
 * is taken before the fork, so no thread is patching at that instant, and
 * made anew in the child. */
void mt_got_fork_prepare(void);
void mt_got_fork_parent(void);
void mt_got_fork_child(void);

/* GOT entries patched by the last install (tests). */
unsigned long mt_got_patched(void);

#endif /* MT_GOT_H */

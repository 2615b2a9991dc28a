/*
 * mt_preload.c - libmemtrace-preload.so: wraps malloc, calloc, realloc,
 * free, posix_memalign, aligned_alloc, memalign, valloc, pvalloc, mmap,
 * mmap64 and munmap, and tells the recorder about each call (mt_preload.h).
 * Used as LD_PRELOAD by `python -m memtrace run --native`.
 *
 * Bootstrapping: the malloc family is forwarded to glibc's exported
 * __libc_malloc & co., so no dlsym is needed for it (dlsym itself calls
 * calloc, which would otherwise recurse before the real calloc is known).
 * mmap and munmap are looked up with dlsym(RTLD_NEXT) on first use (its
 * allocations go to the wrappers above, which need nothing), falling back to
 * the raw system calls. glibc only: musl has no __libc_malloc.
 *
 * Cost without a hook registered (children of the traced program inherit
 * LD_PRELOAD unless the launcher removes it): one load and one branch.
 *
 * Fork: nothing here; the recorder stops recording in the child itself.
 * Only anonymous mappings are reported as mmap allocations (file mappings
 * are not heap); every munmap is reported (the recorder's readers ignore
 * frees of addresses they never saw allocated). mremap is not wrapped
 * (glibc's realloc of huge blocks calls it internally, not through here).
 */
#define _GNU_SOURCE
#include "mt_preload.h"

#include "memtrace_format.h" /* MT_DOMAIN_* */

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

static _Atomic(mt_preload_hook) hook;
/* Set while the hook runs on this thread. initial-exec: a preloaded library
 * is part of the static TLS block, and this must not call __tls_get_addr
 * (which may allocate) from inside malloc. */
static __attribute__((tls_model("initial-exec"))) _Thread_local int in_hook;

EXPORT int mt_preload_register(mt_preload_hook h) {
    atomic_store(&hook, h);
    return MT_PRELOAD_ABI;
}

static inline void tell(int event, unsigned domain, void *old, void *addr, size_t size) {
    mt_preload_hook h = atomic_load_explicit(&hook, memory_order_acquire);
    if (__builtin_expect(h == NULL || in_hook, 1)) return;
    int saved = errno; /* a malloc wrapper must not change errno on success */
    in_hook = 1;
    h(event, domain, (uintptr_t)old, (uintptr_t)addr, size);
    in_hook = 0;
    errno = saved;
}

EXPORT void *malloc(size_t n) {
    void *p = __libc_malloc(n);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

EXPORT void *calloc(size_t n, size_t size) {
    void *p = __libc_calloc(n, size);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n * size);
    return p;
}

EXPORT void free(void *p) {
    if (!p) return;
    tell(MT_PRELOAD_FREE, MT_DOMAIN_MALLOC, NULL, p, 0);
    __libc_free(p);
}

EXPORT void *realloc(void *old, size_t n) {
    if (!old) return malloc(n);
    if (n == 0) { /* glibc: frees, returns NULL */
        free(old);
        return NULL;
    }
    void *p = __libc_realloc(old, n);
    if (p) tell(MT_PRELOAD_REALLOC, MT_DOMAIN_MALLOC, old, p, n);
    return p;
}

EXPORT void *memalign(size_t align, size_t n) {
    void *p = __libc_memalign(align, n);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0)
        return EINVAL;
    int saved = errno;
    void *p = __libc_memalign(align, n);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
    void *p = __libc_memalign(align, n);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

EXPORT void *valloc(size_t n) {
    void *p = __libc_valloc(n);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

EXPORT void *pvalloc(size_t n) {
    void *p = __libc_pvalloc(n);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);
static _Atomic(mmap_fn) real_mmap;
static _Atomic(munmap_fn) real_munmap;

static void *sys_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
    return (void *)syscall(SYS_mmap, a, n, prot, flags, fd, off);
}
static int sys_munmap(void *a, size_t n) { return (int)syscall(SYS_munmap, a, n); }

static mmap_fn get_mmap(void) {
    mmap_fn f = atomic_load_explicit(&real_mmap, memory_order_relaxed);
    if (!f) {
        f = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
        if (!f) f = sys_mmap;
        atomic_store(&real_mmap, f);
    }
    return f;
}

static munmap_fn get_munmap(void) {
    munmap_fn f = atomic_load_explicit(&real_munmap, memory_order_relaxed);
    if (!f) {
        f = (munmap_fn)dlsym(RTLD_NEXT, "munmap");
        if (!f) f = sys_munmap;
        atomic_store(&real_munmap, f);
    }
    return f;
}

EXPORT void *mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
    void *p = get_mmap()(a, n, prot, flags, fd, off);
    if (p != MAP_FAILED && (flags & MAP_ANONYMOUS))
        tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MMAP, NULL, p, n);
    return p;
}

/* off_t is 64-bit on the 64-bit targets this is built for. */
EXPORT void *mmap64(void *a, size_t n, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

EXPORT int munmap(void *a, size_t n) {
    tell(MT_PRELOAD_FREE, MT_DOMAIN_MMAP, NULL, a, 0);
    return get_munmap()(a, n);
}

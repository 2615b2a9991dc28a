/*
 * mt_got.c - native allocation tracking in-process: GOT patching. See
 * mt_got.h for what it sees and what it cannot.
 *
 * How (the way memray's and heaptrack's injected libraries do it): for each
 * object dl_iterate_phdr lists, read its dynamic section, walk its PLT and
 * dynamic relocations (JUMP_SLOT and GLOB_DAT: calls through the PLT and
 * -fno-plt calls), and where one names a function of the table below, save
 * the entry and write the wrapper's address there (under RELRO, the page is
 * made writable for the write and read-only again). The wrappers call the
 * function the dynamic linker binds the name to (dlsym(RTLD_DEFAULT) at
 * install: glibc's, or an interposed allocator's), then tell the hook.
 * dlopen is wrapped too: after a successful load, the objects not yet seen
 * are patched. Uninstall writes every saved entry back where it still holds
 * the wrapper.
 *
 * Skipped: this extension (its allocations are the recorder's own), the
 * dynamic loader and the vDSO.
 *
 * The caller of dlopen seen by glibc is this file, not the program: a bare
 * library name is searched with this extension's RUNPATH (it has none), not
 * the calling object's. Absolute paths (what Python's imports use) are not
 * affected.
 */
#define _GNU_SOURCE
#include "mt_got.h"

#include "memtrace_format.h" /* MT_DOMAIN_* */
#include "mt_addrset.h"      /* mt_addrset_maybe */
#include "mt_recorder.h"     /* mt_tls_guard, mt_tls_sample_left */

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GLIBC__)
#define MT_GOT_SLOT R_X86_64_JUMP_SLOT
#define MT_GOT_GLOB R_X86_64_GLOB_DAT
#elif defined(__aarch64__) && defined(__GLIBC__)
#define MT_GOT_SLOT R_AARCH64_JUMP_SLOT
#define MT_GOT_GLOB R_AARCH64_GLOB_DAT
#endif

/* ---- Wrappers ----------------------------------------------------------- */

enum { F_MALLOC, F_CALLOC, F_REALLOC, F_FREE, F_POSIX_MEMALIGN, F_ALIGNED_ALLOC,
       F_MEMALIGN, F_VALLOC, F_PVALLOC, F_MMAP, F_MMAP64, F_MUNMAP, F_DLOPEN, F_COUNT };

static void *real[F_COUNT]; /* set at install, before any entry points here */
static _Atomic(mt_preload_hook) hook;
/* initial-exec, as the recorder's other thread-locals (mt_recorder.h): no
 * __tls_get_addr (which may allocate) inside malloc. */
static __attribute__((tls_model("initial-exec"))) _Thread_local int in_hook;

static inline void tell(int event, unsigned domain, void *old, void *addr, size_t size) {
    mt_preload_hook h = atomic_load_explicit(&hook, memory_order_acquire);
    if (__builtin_expect(h == NULL || in_hook, 0)) return;
    int saved = errno; /* a malloc wrapper must not change errno on success */
    in_hook = 1;
    h(event, domain, (uintptr_t)old, (uintptr_t)addr, size);
    in_hook = 0;
    errno = saved;
}

#define REAL(i, type) ((type)real[i])

static int sampled; /* mt_got_set_sampled */

void mt_got_set_sampled(int on) { sampled = on; }

/* Sampled mode: 1 when an allocation of n bytes needs no hook call (what the
 * hook would decide: inside the recorder, or no sample point in n bytes). */
static inline int quiet_alloc(size_t n) {
    if (!sampled) return 0;
    if (mt_tls_guard) return 1; /* the hook ignores allocations there */
    int64_t left = mt_tls_sample_left - (int64_t)n;
    if (__builtin_expect(left <= 0, 0)) return 0;
    mt_tls_sample_left = left;
    return 1;
}

/* Sampled mode: 1 when p is certainly not a sampled block. */
static inline int quiet_free(void *p) {
    return sampled && !mt_addrset_maybe((uint64_t)(uintptr_t)p | MT_DOMAIN_MALLOC);
}

static void *w_malloc(size_t n) {
    void *p = REAL(F_MALLOC, void *(*)(size_t))(n);
    if (p && !quiet_alloc(n)) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

static void *w_calloc(size_t n, size_t size) {
    void *p = REAL(F_CALLOC, void *(*)(size_t, size_t))(n, size);
    if (p && !quiet_alloc(n * size)) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n * size);
    return p;
}

static void w_free(void *p) {
    if (p && !quiet_free(p)) tell(MT_PRELOAD_FREE, MT_DOMAIN_MALLOC, NULL, p, 0);
    REAL(F_FREE, void (*)(void *))(p);
}

static void *w_realloc(void *old, size_t n) {
    if (!old) return w_malloc(n);
    if (n == 0) { /* glibc: frees, returns NULL */
        w_free(old);
        return NULL;
    }
    void *p = REAL(F_REALLOC, void *(*)(void *, size_t))(old, n);
    /* (quiet_alloc only when quiet_free: it takes its bytes only if the
     * hook is not told, which would take them again.) */
    if (p && !(quiet_free(old) && quiet_alloc(n)))
        tell(MT_PRELOAD_REALLOC, MT_DOMAIN_MALLOC, old, p, n);
    return p;
}

static int w_posix_memalign(void **out, size_t align, size_t n) {
    int rc = REAL(F_POSIX_MEMALIGN, int (*)(void **, size_t, size_t))(out, align, n);
    if (rc == 0) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, *out, n);
    return rc;
}

#define ALIGNED(name, idx)                                                      \
    static void *w_##name(size_t a, size_t n) {                                 \
        void *p = REAL(idx, void *(*)(size_t, size_t))(a, n);                   \
        if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);            \
        return p;                                                               \
    }
ALIGNED(aligned_alloc, F_ALIGNED_ALLOC)
ALIGNED(memalign, F_MEMALIGN)

static void *w_valloc(size_t n) {
    void *p = REAL(F_VALLOC, void *(*)(size_t))(n);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

static void *w_pvalloc(size_t n) {
    void *p = REAL(F_PVALLOC, void *(*)(size_t))(n);
    if (p) tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MALLOC, NULL, p, n);
    return p;
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
static void *w_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
    void *p = REAL(F_MMAP, mmap_fn)(a, n, prot, flags, fd, off);
    if (p != MAP_FAILED && (flags & MAP_ANONYMOUS)) /* file mappings are not heap */
        tell(MT_PRELOAD_ALLOC, MT_DOMAIN_MMAP, NULL, p, n);
    return p;
}

static int w_munmap(void *a, size_t n) {
    tell(MT_PRELOAD_FREE, MT_DOMAIN_MMAP, NULL, a, 0);
    return REAL(F_MUNMAP, int (*)(void *, size_t))(a, n);
}

static void patch_new_objects(void);

static void *w_dlopen(const char *file, int flags) {
    void *h = REAL(F_DLOPEN, void *(*)(const char *, int))(file, flags);
    if (h) patch_new_objects();
    return h;
}

static const struct target {
    const char *name;
    void *wrapper;
} targets[F_COUNT] = {
    [F_MALLOC] = {"malloc", (void *)w_malloc},
    [F_CALLOC] = {"calloc", (void *)w_calloc},
    [F_REALLOC] = {"realloc", (void *)w_realloc},
    [F_FREE] = {"free", (void *)w_free},
    [F_POSIX_MEMALIGN] = {"posix_memalign", (void *)w_posix_memalign},
    [F_ALIGNED_ALLOC] = {"aligned_alloc", (void *)w_aligned_alloc},
    [F_MEMALIGN] = {"memalign", (void *)w_memalign},
    [F_VALLOC] = {"valloc", (void *)w_valloc},
    [F_PVALLOC] = {"pvalloc", (void *)w_pvalloc},
    [F_MMAP] = {"mmap", (void *)w_mmap},
    [F_MMAP64] = {"mmap64", (void *)w_mmap}, /* the same function on 64-bit glibc */
    [F_MUNMAP] = {"munmap", (void *)w_munmap},
    [F_DLOPEN] = {"dlopen", (void *)w_dlopen},
};

/* ---- Patching ----------------------------------------------------------- */

typedef struct patch {
    void **slot;
    void *old;
    int relro; /* the slot is under RELRO: read-only but while written */
} patch;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static patch *patches;
static size_t npatches, cap_patches;
static uintptr_t *seen; /* load addresses of the objects patched (or skipped) */
static size_t nseen, cap_seen;
static int installed;
static unsigned long npatched_total;

static int grow(void **a, size_t *cap, size_t n, size_t sz) {
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(*a, c * sz);
    if (!p) return -1;
    *a = p;
    *cap = c;
    return 0;
}

/* Write v at slot, through a writable mapping if the slot is under RELRO. */
static int write_slot(void **slot, void *v, int relro) {
    uintptr_t a = (uintptr_t)slot;
    if (relro) {
        long ps = sysconf(_SC_PAGESIZE);
        uintptr_t page = a & ~(uintptr_t)(ps - 1);
        if (mprotect((void *)page, (size_t)ps, PROT_READ | PROT_WRITE) != 0) return -1;
        __atomic_store_n(slot, v, __ATOMIC_RELEASE);
        mprotect((void *)page, (size_t)ps, PROT_READ);
        return 0;
    }
    __atomic_store_n(slot, v, __ATOMIC_RELEASE);
    return 0;
}

#ifdef MT_GOT_SLOT
/* A dynamic-section address: relocated by the loader on most targets, an
 * offset from the load address where the section is read-only. */
static uintptr_t dyn_addr(uintptr_t base, ElfW(Addr) v) {
    return v < base ? base + v : v;
}

static int self_in(const struct dl_phdr_info *info) {
    uintptr_t me = (uintptr_t)&mt_got_install;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (me >= lo && me < lo + ph->p_memsz) return 1;
    }
    return 0;
}

static void patch_relocs(uintptr_t base, const ElfW(Rela) *rel, size_t n, const ElfW(Sym) *symtab,
                         const char *strtab, size_t strsz, uintptr_t relro_lo,
                         uintptr_t relro_hi) {
    for (size_t i = 0; i < n; i++) {
        unsigned type = (unsigned)ELF64_R_TYPE(rel[i].r_info);
        if (type != MT_GOT_SLOT && type != MT_GOT_GLOB) continue;
        size_t si = ELF64_R_SYM(rel[i].r_info);
        if (!si) continue;
        ElfW(Word) off = symtab[si].st_name;
        if (strsz && off >= strsz) continue;
        const char *name = strtab + off;
        for (int f = 0; f < F_COUNT; f++) {
            if (strcmp(name, targets[f].name) != 0) continue;
            void **slot = (void **)(base + rel[i].r_offset);
            void *old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
            if (old == targets[f].wrapper) break;
            if (grow((void **)&patches, &cap_patches, npatches, sizeof *patches)) return;
            int ro = (uintptr_t)slot >= relro_lo && (uintptr_t)slot < relro_hi;
            if (write_slot(slot, targets[f].wrapper, ro) == 0) {
                patches[npatches++] = (patch){slot, old, ro};
                npatched_total++;
            }
            break;
        }
    }
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    uintptr_t base = info->dlpi_addr;
    for (size_t i = 0; i < nseen; i++)
        if (seen[i] == base) return 0;
    if (grow((void **)&seen, &cap_seen, nseen, sizeof *seen)) return 0;
    seen[nseen++] = base;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (strstr(name, "linux-vdso") || strstr(name, "/ld-linux") || strstr(name, "ld-linux-") == name ||
        self_in(info))
        return 0;
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t relro_lo = 0, relro_hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
        if (ph->p_type == PT_GNU_RELRO) {
            long ps = sysconf(_SC_PAGESIZE);
            relro_lo = (base + ph->p_vaddr) & ~(uintptr_t)(ps - 1);
            relro_hi = base + ph->p_vaddr + ph->p_memsz;
        }
    }
    if (!dyn) return 0;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    size_t strsz = 0, pltsz = 0, relasz = 0;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    int pltrel_rela = 1;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_addr(base, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)dyn_addr(base, d->d_un.d_ptr); break;
        case DT_STRSZ: strsz = d->d_un.d_val; break;
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_addr(base, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: pltsz = d->d_un.d_val; break;
        case DT_PLTREL: pltrel_rela = d->d_un.d_val == DT_RELA; break;
        case DT_RELA: rela = (const ElfW(Rela) *)dyn_addr(base, d->d_un.d_ptr); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        }
    }
    if (!symtab || !strtab) return 0;
    if (jmprel && pltrel_rela)
        patch_relocs(base, jmprel, pltsz / sizeof *jmprel, symtab, strtab, strsz, relro_lo,
                     relro_hi);
    if (rela)
        patch_relocs(base, rela, relasz / sizeof *rela, symtab, strtab, strsz, relro_lo,
                     relro_hi);
    return 0;
}
#endif

static void patch_new_objects(void) {
#ifdef MT_GOT_SLOT
    pthread_mutex_lock(&lock);
    if (installed) dl_iterate_phdr(patch_object, NULL);
    pthread_mutex_unlock(&lock);
#endif
}

int mt_got_install(mt_preload_hook h) {
#ifdef MT_GOT_SLOT
    pthread_mutex_lock(&lock);
    if (installed) {
        atomic_store(&hook, h);
        pthread_mutex_unlock(&lock);
        return 0;
    }
    for (int f = 0; f < F_COUNT; f++) {
        real[f] = dlsym(RTLD_DEFAULT, targets[f].name);
        if (!real[f]) { /* every one is in glibc: not a platform we know */
            pthread_mutex_unlock(&lock);
            return -1;
        }
    }
    atomic_store(&hook, h);
    installed = 1;
    npatched_total = 0;
    dl_iterate_phdr(patch_object, NULL);
    pthread_mutex_unlock(&lock);
    return 0;
#else
    (void)h;
    return -1;
#endif
}

void mt_got_uninstall(void) {
    pthread_mutex_lock(&lock);
    if (installed) {
        atomic_store(&hook, NULL);
        for (size_t i = npatches; i-- > 0;) {
            patch *p = &patches[i];
            void *cur = __atomic_load_n(p->slot, __ATOMIC_ACQUIRE);
            int ours = 0;
            for (int f = 0; f < F_COUNT && !ours; f++) ours = cur == targets[f].wrapper;
            if (!ours) continue; /* someone else's now: theirs to keep */
            write_slot(p->slot, p->old, p->relro);
        }
        installed = 0;
    }
    npatches = 0;
    nseen = 0;
    pthread_mutex_unlock(&lock);
}

void mt_got_fork_prepare(void) { pthread_mutex_lock(&lock); }
void mt_got_fork_parent(void) { pthread_mutex_unlock(&lock); }
void mt_got_fork_child(void) { pthread_mutex_init(&lock, NULL); }

unsigned long mt_got_patched(void) { return npatched_total; }

/*
 * mt_preload.h - the interface between libmemtrace-preload.so (an
 * LD_PRELOAD library wrapping the C allocator and mmap) and the memtrace
 * recorder in the same process.
 *
 * The library is loaded first (LD_PRELOAD), the recorder later (a Python
 * extension, dlopen), so the recorder looks the library up:
 *
 *     mt_preload_register_fn reg =
 *         (mt_preload_register_fn)dlsym(RTLD_DEFAULT, MT_PRELOAD_REGISTER);
 *     if (reg && reg(my_hook) == MT_PRELOAD_ABI) ... native tracking is on
 *     reg(NULL);                                // off again
 *
 * The hook is called by the thread that allocates, with or without the GIL,
 * after a successful allocation (ALLOC: addr, size), BEFORE the block is
 * given back (FREE: addr; so that no other thread can be handed the same
 * address before the free is recorded), and after a successful realloc
 * (REALLOC: old_addr, addr, size). Never for a failed call, never for
 * free(NULL), never while the hook is already running on that thread (the
 * library's own reentrancy guard: anything the hook allocates is not seen).
 * domain is MT_DOMAIN_MALLOC (malloc family) or MT_DOMAIN_MMAP (anonymous
 * mmap/mmap64 and every munmap).
 */
#ifndef MT_PRELOAD_H
#define MT_PRELOAD_H

#include <stddef.h>
#include <stdint.h>

#define MT_PRELOAD_ABI 1
#define MT_PRELOAD_REGISTER "mt_preload_register"

enum { MT_PRELOAD_ALLOC = 1, MT_PRELOAD_FREE = 2, MT_PRELOAD_REALLOC = 3 };

typedef void (*mt_preload_hook)(int event, unsigned domain, uintptr_t old_addr,
                                uintptr_t addr, size_t size);

/* Install hook (NULL: none); returns MT_PRELOAD_ABI. */
typedef int (*mt_preload_register_fn)(mt_preload_hook hook);
int mt_preload_register(mt_preload_hook hook);

#endif /* MT_PRELOAD_H */

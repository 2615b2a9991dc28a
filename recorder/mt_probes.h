/*
 * mt_probes.h - the recorder's static probes (USDT): the provider
 * dtrace/memtrace.d, declared for <sys/sdt.h> as `dtrace -h` would (the
 * tests check that the two agree). Linux with <sys/sdt.h> (Debian's
 * systemtap-sdt-dev) at build time; elsewhere, or with -DMT_NO_USDT, every
 * macro is nothing and MT_PROBE_ON(name) is 0.
 *
 *     if (MT_PROBE_ON(alloc)) MT_PROBE3(alloc, addr, size, domain);
 *
 * MT_PROBE_ON reads the probe's semaphore, which a tracer increments while
 * attached: a probe site costs one load and a not-taken branch until then,
 * and its arguments are computed only when someone listens.
 */
#ifndef MT_PROBES_H
#define MT_PROBES_H

#if defined(__linux__) && !defined(MT_NO_USDT) && defined(__has_include)
#if __has_include(<sys/sdt.h>)
#define MT_USDT 1
#endif
#endif

#ifdef MT_USDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* One semaphore per probe, named as <sys/sdt.h> expects (provider_probe_
 * semaphore), defined in mt_probes.c in section .probes. */
#define MT_PROBES_X(X)                                                        \
    X(function__entry) X(function__return) X(alloc) X(free) X(realloc) X(rss) \
    X(marker) X(write) X(lost) X(start) X(stop)
#define MT_PROBE_SEM_DECL(name)                                               \
    __extension__ extern unsigned short memtrace_##name##_semaphore           \
        __attribute__((unused)) __attribute__((section(".probes")));
MT_PROBES_X(MT_PROBE_SEM_DECL)

#define MT_PROBE_ON(name) __builtin_expect(memtrace_##name##_semaphore, 0)
#define MT_PROBE1(name, a) DTRACE_PROBE1(memtrace, name, a)
#define MT_PROBE2(name, a, b) DTRACE_PROBE2(memtrace, name, a, b)
#define MT_PROBE3(name, a, b, c) DTRACE_PROBE3(memtrace, name, a, b, c)
#define MT_PROBE4(name, a, b, c, d) DTRACE_PROBE4(memtrace, name, a, b, c, d)
#else
#define MT_PROBE_ON(name) 0
#define MT_PROBE1(name, a) ((void)0)
#define MT_PROBE2(name, a, b) ((void)0)
#define MT_PROBE3(name, a, b, c) ((void)0)
#define MT_PROBE4(name, a, b, c, d) ((void)0)
#endif

#include <stdint.h>

/* function__entry / function__return of fid (names looked up: only called
 * when the probe is on). */
void mt_probe_function(int entry, uint32_t fid);
/* Were the probes compiled in? (memtrace._memtrace.usdt()) */
int mt_probes_compiled(void);

#endif /* MT_PROBES_H */

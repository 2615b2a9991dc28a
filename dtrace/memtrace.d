/*
 * memtrace.d - the static probes of the memtrace recorder (USDT), as DTrace
 * and SystemTap expect a provider: `dtrace -h -s dtrace/memtrace.d` makes
 * the header a C program would include. The recorder does not include that
 * generated header: recorder/mt_probes.h declares the same probes for
 * <sys/sdt.h> by hand (so that a build without the dtrace tool has them),
 * and the tests check that the two agree (tests/dtrace).
 *
 * Every probe has a semaphore: a probe site costs one load and a branch
 * until a tracer attaches (bpftrace, SystemTap or DTrace set the semaphore),
 * and computes its arguments only then.
 *
 * Probes fire for what the recorder records, in the recording thread:
 * function__entry/return for each call and return written (in mode "alloc",
 * where stacks are written lazily, when an allocation finds the stack
 * changed); alloc/free/realloc for each allocation record (in sampled mode,
 * the sampled ones); rss for each sample of the sampler thread; marker for
 * each memtrace.marker(); write when chunks reached the file (a writer
 * cycle); lost when events had to be dropped; start and stop around a
 * recording.
 */
provider memtrace {
    /* qualified name, file ("" for C functions), first line */
    probe function__entry(const char *, const char *, int);
    probe function__return(const char *, const char *, int);
    /* address, size, domain (0 raw, 1 mem, 2 obj, 3 malloc, 4 mmap) */
    probe alloc(unsigned long, unsigned long, int);
    /* address, domain */
    probe free(unsigned long, int);
    /* old address, new address, size, domain */
    probe realloc(unsigned long, unsigned long, unsigned long, int);
    /* resident set size in bytes */
    probe rss(unsigned long);
    /* text, its length */
    probe marker(const char *, unsigned long);
    /* bytes of the trace file written so far, records so far */
    probe write(unsigned long, unsigned long);
    /* events dropped (all threads, so far) */
    probe lost(unsigned long);
    /* trace file path, mode */
    probe start(const char *, const char *);
    /* reason (0 stop, 1 exit, 2 error), events recorded */
    probe stop(int, unsigned long);
};

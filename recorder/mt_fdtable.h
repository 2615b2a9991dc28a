/*
 * mt_fdtable.h - descriptors of the recorder's own threads, out of the
 * program's sight.
 *
 * The writer opens the trace file for each write cycle and the sampler
 * opens /proc/self/statm for each sample. In the process's descriptor table
 * such moments show: a program listing its descriptors (CPython's
 * test_subprocess runs fd_status.py in a child, which records too) may see
 * one, and a descriptor opened at the lowest free number is one the program
 * may expect for itself. So each of these threads calls mt_fdtable_private()
 * first: it unshares the table (unshare(CLONE_FILES)) and closes every
 * descriptor of its copy, so that what it opens afterwards is in no table the
 * program can list, close, dup2 onto or pass to a child. Where the kernel
 * refuses (seccomp, not Linux), the thread keeps the process's table and the
 * recorder works as before (descriptors opened for moments, moved high).
 */
#ifndef MT_FDTABLE_H
#define MT_FDTABLE_H

/* Give the calling thread a descriptor table of its own, empty. Returns 1
 * if it has one now, 0 if it shares the process's. */
int mt_fdtable_private(void);

/* Whether the calling thread has a table of its own. */
int mt_fdtable_is_private(void);

/* A line on the program's stderr from any thread: through descriptor 2 of
 * the process's table (/proc/self/fd/2) when the calling thread has a table
 * of its own, through stderr otherwise. */
void mt_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What mt_say could not write from a private table (stderr a socket, or a
 * file this process may no longer open), written now to stderr; no-op in a
 * thread with a private table. The recording's stop calls it. */
void mt_say_flush(void);

#endif

#!/usr/sbin/dtrace -s
/*
 * memtrace-top.d - memtrace-top.bt for DTrace (macOS, illumos, FreeBSD):
 * the Python functions whose recorded allocations were largest, every
 * second, from the memtrace probes of a recording process.
 *
 *   sudo dtrace -s dtrace/memtrace-top.d -p PID
 *
 * Not run on the machine that tests memtrace (Linux, no DTrace): written to
 * mirror the bpftrace script line for line; tests/dtrace checks that every
 * probe it names is in dtrace/memtrace.d.
 */
#pragma D option quiet

memtrace$target:::function-entry
{
    self->depth++;
    self->fn[self->depth] = copyinstr(arg0);
}

memtrace$target:::function-return
/self->depth > 0/
{
    self->fn[self->depth] = 0;
    self->depth--;
}

memtrace$target:::alloc
{
    @bytes[self->depth ? self->fn[self->depth] : ""] = sum(arg1);
    @allocs[self->depth ? self->fn[self->depth] : ""] = count();
}

tick-1sec
{
    printf("%Y bytes allocated by function in the last second\n", walltimestamp);
    trunc(@bytes, 15);
    trunc(@allocs, 15);
    printa(@bytes);
    printa(@allocs);
    trunc(@bytes);
    trunc(@allocs);
}

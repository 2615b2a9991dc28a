#!/usr/sbin/dtrace -s
/*
 * rss-faults.d - rss-faults.bt for DTrace, where the concept exists: page
 * faults of a process per thread every second (the vminfo provider's
 * as_fault). DTrace platforms have no kernel event for each change of the
 * resident set, so the RSS half of the bpftrace script has no counterpart
 * here; memtrace's own rss probe (memtrace:::rss) gives the recorder's
 * samples when the process records.
 *
 *   sudo dtrace -s dtrace/rss-faults.d -p PID
 *
 * Not run on the machine that tests memtrace (see dtrace/README.md).
 */
#pragma D option quiet

vminfo:::as_fault
/pid == $target/
{
    @faults[tid, execname] = count();
}

memtrace$target:::rss
{
    @rss_bytes = max(arg0);
}

tick-1sec
{
    printf("%Y page faults in the last second by thread, the recorder's RSS\n",
           walltimestamp);
    printa(@faults);
    printa(@rss_bytes);
    trunc(@faults);
}

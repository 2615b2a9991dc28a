#!/usr/sbin/dtrace -s
/*
 * python-gc.d - python-gc.bt for DTrace, through CPython's own probes
 * (a CPython built --with-dtrace: python$target:::gc-start / gc-done),
 * which also say how many objects each collection freed: collections by
 * generation, their pauses (microseconds) and the objects collected, every
 * 5 seconds.
 *
 *   sudo dtrace -s dtrace/python-gc.d -p PID
 *
 * Not run on the machine that tests memtrace (see dtrace/README.md).
 */
#pragma D option quiet

python$target:::gc-start
{
    self->start = timestamp;
    @collections[arg0] = count(); /* arg0: the generation */
}

python$target:::gc-done
/self->start/
{
    @pause_us = quantize((timestamp - self->start) / 1000);
    @collected = sum(arg0); /* arg0: objects collected */
    self->start = 0;
}

tick-5sec
{
    printf("%Y collections by generation, pauses (us), objects collected\n",
           walltimestamp);
    printa(@collections);
    printa(@pause_us);
    printa(@collected);
}

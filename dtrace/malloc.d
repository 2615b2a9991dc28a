#!/usr/sbin/dtrace -s
/*
 * malloc.d - malloc.bt for DTrace: malloc, calloc, realloc and free calls
 * of a process, sizes as a histogram, the sizes asked most, bytes by user
 * stack (the pid provider; any process).
 *
 *   sudo dtrace -s dtrace/malloc.d -p PID
 *
 * Not run on the machine that tests memtrace (see dtrace/README.md).
 */
#pragma D option quiet

pid$target::malloc:entry
{
    @calls["malloc"] = count();
    @size = quantize(arg0);
    @by_size[arg0] = count();
    @bytes_by_stack[ustack(8)] = sum(arg0);
}

pid$target::calloc:entry
{
    @calls["calloc"] = count();
    @size = quantize(arg0 * arg1);
    @by_size[arg0 * arg1] = count();
    @bytes_by_stack[ustack(8)] = sum(arg0 * arg1);
}

pid$target::realloc:entry
{
    @calls["realloc"] = count();
    @size = quantize(arg1);
    @by_size[arg1] = count();
}

pid$target::free:entry
/arg0 != 0/
{
    @calls["free"] = count();
}

END
{
    printf("\ncalls:\n");
    printa(@calls);
    printf("\nsizes asked (bytes):\n");
    printa(@size);
    printf("\nthe 10 sizes asked most:\n");
    trunc(@by_size, 10);
    printa(@by_size);
    printf("\nbytes by user stack (top 5):\n");
    trunc(@bytes_by_stack, 5);
    printa(@bytes_by_stack);
}

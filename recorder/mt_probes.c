/*
 * mt_probes.c - the semaphores of the recorder's static probes, and the
 * slow part of the function probes (mt_probes.h).
 */
#include "mt_probes.h"

#include "mt_core.h"

#ifdef MT_USDT
#define MT_PROBE_SEM_DEF(name)                                                 \
    unsigned short memtrace_##name##_semaphore __attribute__((section(".probes"))) = 0;
MT_PROBES_X(MT_PROBE_SEM_DEF)

void mt_probe_function(int entry, uint32_t fid) {
    const char *qual = "", *file = "";
    uint32_t line = 0;
    mt_rec_fid_names(fid, &qual, &file, &line);
    if (entry)
        MT_PROBE3(function__entry, qual, file, (int)line);
    else
        MT_PROBE3(function__return, qual, file, (int)line);
}

int mt_probes_compiled(void) { return 1; }
#else
void mt_probe_function(int entry, uint32_t fid) {
    (void)entry;
    (void)fid;
}

int mt_probes_compiled(void) { return 0; }
#endif

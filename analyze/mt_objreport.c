/*
 * mt_objreport.c - the objects section of memtrace-analyze (mt_objreport.h).
 */
#include "mt_objreport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t shown(uint32_t n, uint32_t top) { return top && n > top ? top : n; }

static uint64_t ns_of(const mt_analysis *a, uint64_t ticks) {
    return (uint64_t)(mt_analysis_seconds(a, ticks) * 1e9 + 0.5);
}

/* The creating frame of a group: "function (file:line)", and its frames
 * (malloc'd, *depth of them; NULL when it has none). */
static mt_analysis_frame *group_frames(const mt_analysis *a, const mt_analysis_object_group *g,
                                       uint32_t *depth) {
    mt_analysis_site s;
    *depth = 0;
    if (mt_analysis_node_site(a, g->node, &s) < 0 || !s.depth) return NULL;
    mt_analysis_frame *fr = malloc(s.depth * sizeof *fr);
    if (!fr) return NULL;
    mt_analysis_site_fill(a, &s, fr);
    *depth = s.depth;
    return fr;
}

static const char *fr_name(const mt_analysis_frame *f, char *buf, size_t n) {
    if (f->qualname[0]) return f->qualname;
    snprintf(buf, n, "<fn#%u>", (unsigned)f->fid);
    return buf;
}

void mt_objreport_text(mt_out *o, const mt_analysis *a, uint32_t top, mt_objreport_line line) {
    const mt_analysis_objects *s = mt_analysis_objects_get(a);
    if (!s->has_objects) return;
    uint32_t nt, ng;
    const mt_analysis_object_type *ty = mt_analysis_object_types(a, &nt);
    const mt_analysis_object_group *gr = mt_analysis_objects_alive(a, &ng);
    char b1[MT_FMT_BYTES], b2[MT_FMT_BYTES];
    int sized = s->objects_sized > 0;
    line(o, "%s", "");
    line(o, "Objects (object tracking: %llu created, %llu destroyed in the window; %u types)",
         (unsigned long long)s->created, (unsigned long long)s->destroyed, (unsigned)nt);
    line(o, "  alive       %llu at most, at %s; %llu at the end%s%s",
         (unsigned long long)s->live_max, mt_fmt_ns(b1, ns_of(a, s->t_live_max)),
         (unsigned long long)s->end_count, sized ? ", in " : "",
         sized ? mt_fmt_bytes(b2, s->end_bytes) : "");
    if (s->destroyed_unknown || s->inferred_deaths)
        line(o, "  records     %llu destroyed objects were created before the recording; "
                "%llu deaths known from their block's free or a new object at their address",
             (unsigned long long)s->destroyed_unknown, (unsigned long long)s->inferred_deaths);
    if (!sized)
        line(o, "%s", "  (bytes: not known, the objects' allocations were not recorded; "
                      "record with allocations=\"exact\")");
    else if (s->objects_sized < s->created_all)
        line(o, "  (bytes: the object's own block, known for %llu of %llu objects: %s)",
             (unsigned long long)s->objects_sized, (unsigned long long)s->created_all,
             mt_analysis_heap_get(a)->sample_bytes > 1
                 ? "allocations were sampled; allocations=\"exact\" knows more"
                 : "the others reused blocks allocated before the recording (free lists)");
    uint32_t k = shown(nt, top);
    line(o, "  by type (%u of %u)", (unsigned)k, (unsigned)nt);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "  %10s %10s %10s %10s %12s%s  %s", "created", "destroyed",
             "max alive", "at end", sized ? "end bytes" : "",
             s->peak_known ? "  at heap peak" : "", "type");
    line(o, "%s", hdr);
    for (uint32_t i = 0; i < k; i++) {
        char pk[64] = "";
        if (s->peak_known)
            snprintf(pk, sizeof pk, "  %13llu", (unsigned long long)ty[i].peak_count);
        line(o, "  %10llu %10llu %10llu %10llu %12s%s  %s", (unsigned long long)ty[i].created,
             (unsigned long long)ty[i].destroyed, (unsigned long long)ty[i].live_max,
             (unsigned long long)ty[i].end_count, sized ? mt_fmt_bytes(b1, ty[i].end_bytes) : "",
             pk, ty[i].name);
    }
    k = shown(ng, top);
    line(o, "  alive at the end, by type and creating line (%u of %u)", (unsigned)k,
         (unsigned)ng);
    for (uint32_t i = 0; i < k; i++) {
        uint32_t d;
        mt_analysis_frame *fr = group_frames(a, &gr[i], &d);
        char nm[32], where[1024] = "(no Python frame)";
        if (d) {
            const mt_analysis_frame *f = &fr[d - 1];
            if (f->line)
                snprintf(where, sizeof where, "%s  %s:%u", fr_name(f, nm, sizeof nm), f->file,
                         (unsigned)f->line);
            else if (f->first_line)
                snprintf(where, sizeof where, "%s  %s (def line %u)", fr_name(f, nm, sizeof nm),
                         f->file, (unsigned)f->first_line);
            else
                snprintf(where, sizeof where, "%s  %s", fr_name(f, nm, sizeof nm), f->file);
        }
        free(fr);
        line(o, "  %10llu %12s  %s  %s", (unsigned long long)gr[i].count,
             sized ? mt_fmt_bytes(b1, gr[i].bytes) : "", nt > gr[i].type ? ty[gr[i].type].name : "?",
             where);
    }
}

/* "key":v, or "key":null when v is not known. */
static void json_opt(mt_out *o, const char *key, uint64_t v, int known) {
    if (known) {
        mt_out_json_ku(o, key, v);
    } else {
        mt_out_json_key(o, key);
        MT_OUT_LIT(o, "null");
    }
}

void mt_objreport_json(mt_out *o, const mt_analysis *a, uint32_t top) {
    const mt_analysis_objects *s = mt_analysis_objects_get(a);
    MT_OUT_LIT(o, ",\n\"objects\":");
    if (!s->has_objects) {
        MT_OUT_LIT(o, "null");
        return;
    }
    uint32_t nt, ng;
    const mt_analysis_object_type *ty = mt_analysis_object_types(a, &nt);
    const mt_analysis_object_group *gr = mt_analysis_objects_alive(a, &ng);
    uint64_t tps = mt_analysis_summary_get(a)->header->ticks_per_second;
    mt_out_putc(o, '{');
    mt_out_json_ku(o, "created", s->created);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "destroyed", s->destroyed);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "destroyed_unknown", s->destroyed_unknown);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "inferred_deaths", s->inferred_deaths);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "alive_max", s->live_max);
    mt_out_putc(o, ',');
    mt_out_json_key(o, "alive_max_time_s");
    mt_out_seconds(o, s->t_live_max, tps);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "end_count", s->end_count);
    mt_out_putc(o, ',');
    json_opt(o, "end_bytes", s->end_bytes, s->objects_sized > 0);
    mt_out_putc(o, ',');
    mt_out_json_ku(o, "objects_sized", s->objects_sized);
    mt_out_putc(o, ',');
    mt_out_json_kbool(o, "at_heap_peak", s->peak_known);
    MT_OUT_LIT(o, ",\"types\":[");
    for (uint32_t i = 0; i < shown(nt, top); i++) {
        mt_out_puts(o, i ? ",\n  {" : "\n  {");
        mt_out_json_kstr(o, "type", ty[i].name);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "created", ty[i].created);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "destroyed", ty[i].destroyed);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "alive_max", ty[i].live_max);
        mt_out_putc(o, ',');
        mt_out_json_key(o, "alive_max_time_s");
        mt_out_seconds(o, ty[i].t_live_max, tps);
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "end_count", ty[i].end_count);
        mt_out_putc(o, ',');
        json_opt(o, "end_bytes", ty[i].end_bytes, s->objects_sized > 0);
        mt_out_putc(o, ',');
        json_opt(o, "peak_count", ty[i].peak_count, s->peak_known);
        mt_out_putc(o, ',');
        json_opt(o, "peak_bytes", ty[i].peak_bytes, s->peak_known && s->objects_sized > 0);
        mt_out_putc(o, '}');
    }
    MT_OUT_LIT(o, "],\"alive_at_end\":[");
    for (uint32_t i = 0; i < shown(ng, top); i++) {
        uint32_t d;
        mt_analysis_frame *fr = group_frames(a, &gr[i], &d);
        const mt_analysis_frame *in = d ? &fr[d - 1] : NULL;
        char nm[32];
        mt_out_puts(o, i ? ",\n  {" : "\n  {");
        mt_out_json_kstr(o, "type", gr[i].type < nt ? ty[gr[i].type].name : "");
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "count", gr[i].count);
        mt_out_putc(o, ',');
        json_opt(o, "bytes", gr[i].bytes, s->objects_sized > 0);
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "function", in ? fr_name(in, nm, sizeof nm) : "");
        mt_out_putc(o, ',');
        mt_out_json_kstr(o, "file", in ? in->file : "");
        mt_out_putc(o, ',');
        mt_out_json_ku(o, "line", in ? (in->line ? in->line : in->first_line) : 0);
        MT_OUT_LIT(o, ",\"frames\":[");
        for (uint32_t k = 0; k < d; k++) {
            mt_out_puts(o, k ? ",{" : "{");
            mt_out_json_kstr(o, "function", fr_name(&fr[k], nm, sizeof nm));
            mt_out_putc(o, ',');
            mt_out_json_kstr(o, "file", fr[k].file);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "line", fr[k].line);
            mt_out_putc(o, ',');
            mt_out_json_ku(o, "first_line", fr[k].first_line);
            mt_out_putc(o, '}');
        }
        MT_OUT_LIT(o, "]}");
        free(fr);
    }
    MT_OUT_LIT(o, "]}");
}

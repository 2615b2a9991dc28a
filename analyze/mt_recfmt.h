/*
 * mt_recfmt.h - one decoded record as a line of text, JSON or CSV.
 *
 * memtrace-decode prints with these; memtrace-filter and the others reuse
 * them so that every tool prints a record the same way. Each function writes
 * one whole line (newline included) to o, resolving ids through r (function
 * names, strings, the current stack for LINE records).
 *
 * Text (for people):
 *     0.000123456 T1 call main.work (work.py:10)
 *     0.000123500 T1 alloc obj 0x7f3a00001000 1.5 KiB (1536 B)
 *     - - string sid=3 "work.py"
 *   time in seconds since the anchor, the thread, the type, then fields;
 *   definitions have no time ("-") and no thread unless they define one.
 *
 * JSON Lines: one object per record, keys in a fixed order; the schema is in
 * memtrace-decode's usage text and in the README.
 *
 * CSV (RFC 4180): mt_recfmt_csv_header() then one row per record with the
 * columns of MT_RECFMT_CSV_COLUMNS; which column a record uses is listed
 * in memtrace-decode's usage text.
 */
#ifndef MT_RECFMT_H
#define MT_RECFMT_H

#include "memtrace_format.h"
#include "mt_cli.h"

#define MT_RECFMT_CSV_COLUMNS \
    "type,t,time_s,tid,fid,name,line,domain,addr,old_addr,size,value,text"

void mt_recfmt_text(mt_out *o, mt_reader *r, const mt_record *rec);
void mt_recfmt_json(mt_out *o, mt_reader *r, const mt_record *rec);
void mt_recfmt_csv_header(mt_out *o);
void mt_recfmt_csv(mt_out *o, mt_reader *r, const mt_record *rec);

/* The trace header, as "key: value" lines or as one JSON object + "\n".
 * name is the file name shown in the text form. */
void mt_recfmt_header_text(mt_out *o, const mt_header *h, const char *name);
void mt_recfmt_header_json(mt_out *o, const mt_header *h);

#endif /* MT_RECFMT_H */

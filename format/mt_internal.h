/*
 * mt_internal.h - shared by the .c files of format/ only: byte-order helpers, frame
 * constants and a growable buffer. Nothing here is public API.
 */
#ifndef MT_INTERNAL_H
#define MT_INTERNAL_H

#include "memtrace_format.h"

#include <stdlib.h>

/* Every integer on disk goes through these: little-endian, byte by byte,
 * so the host's byte order and alignment never matter. */
static inline void mt_le16_put(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void mt_le32_put(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void mt_le64_put(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t mt_le16_get(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t mt_le32_get(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t mt_le64_get(const uint8_t *p) {
    return (uint64_t)mt_le32_get(p) | (uint64_t)mt_le32_get(p + 4) << 32;
}

/* Frames (spec section 2-6). */
#define MT_SKIP_MAGIC 0x184D2A5Eu /* our skippable frames */
#define MT_SKIP_MAGIC_MIN 0x184D2A50u
#define MT_SKIP_MAGIC_MAX 0x184D2A5Fu
#define MT_ZSTD_MAGIC 0xFD2FB528u
#define MT_FRAME_HEAD_BYTES 8          /* magic + size */
#define MT_HEADER_FIXED_BYTES 68       /* 1.0 header content before text fields */
#define MT_HEADER_FIXED_BYTES_1_1 76   /* 1.1: + alloc_sample_bytes */
#define MT_CHUNK_HEAD_BYTES 48         /* chunk-header content, v1.0 */
#define MT_INDEX_HEAD_BYTES 20         /* index content before entries */
#define MT_INDEX_ENTRY_BYTES 40
#define MT_END_BYTES 24                /* end-frame content */
#define MT_CHECKSUM_FROM 12            /* MTCK/MTIX checksums skip tag+sum */
extern const uint8_t mt_signature[8]; /* 89 4D 54 52 0D 0A 1A 0A */

enum { /* header text field keys */
    MT_KEY_HOSTNAME = 1,
    MT_KEY_PY_IMPL = 2,
    MT_KEY_PY_VERSION = 3,
    MT_KEY_EXECUTABLE = 4,
    MT_KEY_ARGV = 5,
    MT_KEY_CWD = 6,
    MT_KEY_PRODUCER = 7,
    MT_KEY_MODE = 8,
};

/* Decode a varint at *p (< end). 0 on success, -1 if it overruns end or
 * is longer than 10 bytes / wider than 64 bits. */
static inline int mt_varint_get(const uint8_t **pp, const uint8_t *end,
                                uint64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) { /* the common one-byte case */
        *out = *p;
        *pp = p + 1;
        return 0;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        if (shift == 63 && b > 1) return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            *pp = p;
            return 0;
        }
    }
    return -1;
}
static inline int64_t mt_unzigzag(uint64_t v) {
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

/* A growable byte buffer. */
typedef struct mt_buf {
    uint8_t *data;
    size_t len, cap;
} mt_buf;
int mt_buf_reserve(mt_buf *b, size_t more); /* 0 or MT_ERR_NOMEM */
void mt_buf_free(mt_buf *b);

/* A growable stack of function ids (the writer's and the reader's view of a
 * thread's calls), with each level's instruction offset + 1 (0 unknown;
 * format 1.3). Push returns 0 or MT_ERR_NOMEM. */
typedef struct mt_fidstack {
    uint32_t *fids, *pos;
    uint32_t depth, cap;
} mt_fidstack;
static inline int mt_fidstack_push(mt_fidstack *s, uint32_t fid) {
    if (s->depth == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 64;
        uint32_t *f = realloc(s->fids, cap * sizeof *f);
        if (!f) return MT_ERR_NOMEM;
        s->fids = f;
        uint32_t *q = realloc(s->pos, cap * sizeof *q);
        if (!q) return MT_ERR_NOMEM;
        s->pos = q;
        s->cap = cap;
    }
    s->pos[s->depth] = 0;
    s->fids[s->depth++] = fid;
    return 0;
}
static inline void mt_fidstack_free(mt_fidstack *s) {
    free(s->fids);
    free(s->pos);
    s->fids = s->pos = NULL;
    s->depth = s->cap = 0;
}

/* XXH64, seed 0, of a || b. */
uint64_t mt_xxh64_2(const void *a, size_t na, const void *b, size_t nb);

/* Encode the header frame (magic, size, content) into out. */
int mt_header_encode(const mt_header *h, mt_buf *out);

#endif /* MT_INTERNAL_H */

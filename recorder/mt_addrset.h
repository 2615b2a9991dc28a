/*
 * mt_addrset.h - the set of sampled live blocks (plain C, no Python.h).
 *
 * In sampled allocation mode only the frees of sampled blocks are recorded,
 * so every free asks "was this block sampled?". Most frees are of blocks
 * that were not, so the question must be cheap and lock-free when the answer
 * is no: a 64 KiB array of 8-bit counters indexed by a hash of the key says
 * "certainly not" for a zero counter (one byte load); only for a non-zero
 * counter (a fraction live/65536 of frees) is the exact table consulted,
 * under a mutex. Counters that reach 255 stay there (still correct, slower).
 *
 * Keys are address | domain (blocks are at least 8-byte aligned), so a block
 * is matched in its own domain only. Inserts and removes take the mutex;
 * they happen once per sampled block. Threads: any, GIL or not.
 *
 * Bound: at most MT_ADDRSET_MAX keys; an insert beyond that fails (the
 * caller does not record the allocation, and counts it).
 */
#ifndef MT_ADDRSET_H
#define MT_ADDRSET_H

#include <pthread.h>
#include <stdint.h>

#define MT_ADDRSET_MAX (1u << 22) /* live sampled blocks: 4 Mi, 64 MiB table */

/* Start empty / free everything (no thread may use the set any more). */
int mt_addrset_init(void); /* 0 or MT_ERR_NOMEM */
void mt_addrset_free(void);

/* Add key; 1 if added (or already there), 0 when full or out of memory. */
int mt_addrset_insert(uint64_t key);

/* Remove key; 1 if it was there. The lock-free "no" is inline. */
int mt_addrset_remove_slow(uint64_t key);
/* 65536 counters, all zero when the set is not in use. Hidden: the free
 * hook reads it RIP-relative, without a GOT load. */
extern uint8_t mt_addrset_filter[65536] __attribute__((visibility("hidden")));
static inline uint32_t mt_addrset_fslot(uint64_t key) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 48);
}
static inline int mt_addrset_maybe(uint64_t key) {
    return __atomic_load_n(&mt_addrset_filter[mt_addrset_fslot(key)], __ATOMIC_RELAXED) != 0;
}
static inline int mt_addrset_remove(uint64_t key) {
    if (__builtin_expect(!mt_addrset_maybe(key), 1)) return 0;
    return mt_addrset_remove_slow(key);
}

/* Keys in the set now. */
uint64_t mt_addrset_count(void);

/* fork (mt_session.c's pthread_atfork handlers): take the lock before,
 * let it go in the parent, make it anew in the child. */
void mt_addrset_fork_prepare(void);
void mt_addrset_fork_parent(void);
void mt_addrset_fork_child(void);

/* TEST ONLY: the set's lock (mt_rec_test_hold_lock). */
pthread_mutex_t *mt_addrset_test_lock(void);

#endif /* MT_ADDRSET_H */

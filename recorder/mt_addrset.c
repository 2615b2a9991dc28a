/*
 * mt_addrset.c - the set of sampled live blocks. See mt_addrset.h.
 *
 * Exact table: open addressing, linear probing, backward-shift deletion (no
 * tombstones, so a table with steady churn never needs a rebuild). Key 0 is
 * "empty" (no block lives at address 0). Everything but the filter's
 * lock-free reads is under set_lock.
 */
#include "mt_addrset.h"

#include "memtrace_format.h"
#include "mt_recorder.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_SLOTS 65536u

/* Static: a hook that is still running just after a stop may read a counter.
 * 64 KiB of BSS, touched only in sampled mode. set_lock for writes. */
uint8_t mt_addrset_filter[FILTER_SLOTS];
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *tab;  /* set_lock */
static size_t tab_cap, tab_n;

static inline size_t tslot(uint64_t key, size_t cap) {
    return (size_t)((key * 0xD6E8FEB86659FD93ull) >> 17) & (cap - 1);
}

int mt_addrset_init(void) {
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&set_lock);
    int rc = 0;
    free(tab);
    tab_cap = 4096;
    tab_n = 0;
    tab = calloc(tab_cap, sizeof *tab);
    memset(mt_addrset_filter, 0, sizeof mt_addrset_filter);
    if (!tab) {
        tab_cap = 0;
        rc = MT_ERR_NOMEM;
    }
    pthread_mutex_unlock(&set_lock);
    MT_GUARD_LEAVE();
    return rc;
}

void mt_addrset_free(void) {
    MT_GUARD_ENTER(MT_GUARD_CORE);
    pthread_mutex_lock(&set_lock);
    memset(mt_addrset_filter, 0, sizeof mt_addrset_filter);
    free(tab);
    tab = NULL;
    tab_cap = tab_n = 0;
    pthread_mutex_unlock(&set_lock);
    MT_GUARD_LEAVE();
}

static int grow_locked(void) {
    size_t cap = tab_cap * 2;
    uint64_t *nt = calloc(cap, sizeof *nt);
    if (!nt) return 0;
    for (size_t i = 0; i < tab_cap; i++) {
        if (!tab[i]) continue;
        size_t j = tslot(tab[i], cap);
        while (nt[j]) j = (j + 1) & (cap - 1);
        nt[j] = tab[i];
    }
    free(tab);
    tab = nt;
    tab_cap = cap;
    return 1;
}

int mt_addrset_insert(uint64_t key) {
    if (!key) return 0;
    MT_GUARD_ENTER(MT_GUARD_CORE);
    int ok = 0;
    pthread_mutex_lock(&set_lock);
    if (!tab || tab_n >= MT_ADDRSET_MAX) goto out;
    if ((tab_n + 1) * 2 > tab_cap && !grow_locked()) goto out;
    size_t j = tslot(key, tab_cap);
    while (tab[j] && tab[j] != key) j = (j + 1) & (tab_cap - 1);
    ok = 1;
    if (tab[j] == key) goto out; /* a block freed unseen, address reused */
    tab[j] = key;
    tab_n++;
    uint8_t *c = &mt_addrset_filter[mt_addrset_fslot(key)];
    if (*c < 255) __atomic_store_n(c, (uint8_t)(*c + 1), __ATOMIC_RELAXED);
out:
    pthread_mutex_unlock(&set_lock);
    MT_GUARD_LEAVE();
    return ok;
}

int mt_addrset_remove_slow(uint64_t key) {
    int found = 0;
    pthread_mutex_lock(&set_lock);
    if (!tab || !key) goto out;
    size_t m = tab_cap - 1, j = tslot(key, tab_cap);
    while (tab[j] && tab[j] != key) j = (j + 1) & m;
    if (!tab[j]) goto out;
    found = 1;
    tab_n--;
    uint8_t *c = &mt_addrset_filter[mt_addrset_fslot(key)];
    if (*c < 255) __atomic_store_n(c, (uint8_t)(*c - 1), __ATOMIC_RELAXED);
    /* Backward shift: move later members of the probe run into the hole
     * when their home slot does not lie cyclically in (hole, them]. */
    size_t hole = j;
    for (size_t i = (j + 1) & m; tab[i]; i = (i + 1) & m) {
        size_t home = tslot(tab[i], tab_cap);
        int stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays) continue;
        tab[hole] = tab[i];
        hole = i;
    }
    tab[hole] = 0;
out:
    pthread_mutex_unlock(&set_lock);
    return found;
}

pthread_mutex_t *mt_addrset_test_lock(void) { return &set_lock; }

void mt_addrset_fork_prepare(void) { pthread_mutex_lock(&set_lock); }
void mt_addrset_fork_parent(void) { pthread_mutex_unlock(&set_lock); }
void mt_addrset_fork_child(void) { pthread_mutex_init(&set_lock, NULL); }

uint64_t mt_addrset_count(void) {
    pthread_mutex_lock(&set_lock);
    uint64_t n = tab_n;
    pthread_mutex_unlock(&set_lock);
    return n;
}

/* cache.c — exact-response cache for deterministic requests (greedy or a
 * fixed seed). Key: the canonical request (srv_request_canonical), compared
 * in full after a 64-bit FNV-1a hash match, so a hash collision can never
 * return another request's text. Value: the generated text, finish reason
 * and token counts (the response is rebuilt with a fresh id). Bounded in
 * bytes (key + text + entry overhead); least recently used entries go first.
 * Lookup is a linear scan of hashes: fine for the few thousand entries a
 * byte bound of tens of MiB holds. One mutex; thread safe. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

typedef struct entry {
    struct entry *prev, *next; /* LRU list: head = most recent */
    uint64_t hash;
    char *key;                 /* key_len bytes */
    size_t key_len;
    char *text;                /* text_len bytes */
    size_t text_len;
    char finish[16];
    int32_t n_prompt, n_gen;
} entry;

struct srv_cache {
    pthread_mutex_t mu;
    uint64_t max_bytes, bytes;
    entry *head, *tail;
    uint64_t hits, misses, entries, evictions;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t entry_bytes(const entry *e)
{
    return sizeof *e + e->key_len + e->text_len;
}

srv_cache *srv_cache_new(uint64_t max_bytes)
{
    srv_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    return c;
}

static void unlink_entry(srv_cache *c, entry *e)
{
    if (e->prev) e->prev->next = e->next;
    else c->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(srv_cache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

static void drop(srv_cache *c, entry *e)
{
    unlink_entry(c, e);
    c->bytes -= entry_bytes(e);
    c->entries--;
    free(e->key);
    free(e->text);
    free(e);
}

void srv_cache_free(srv_cache *c)
{
    if (!c) return;
    while (c->head) drop(c, c->head);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static entry *find(srv_cache *c, uint64_t h, const char *key, size_t key_len)
{
    for (entry *e = c->head; e; e = e->next)
        if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) return e;
    return NULL;
}

int srv_cache_get(srv_cache *c, const char *key, size_t key_len, srv_cached *out)
{
    memset(out, 0, sizeof *out);
    if (!c) return 0;
    uint64_t h = fnv1a(key, key_len);
    pthread_mutex_lock(&c->mu);
    entry *e = c->max_bytes ? find(c, h, key, key_len) : NULL;
    int hit = 0;
    if (e && (out->text = malloc(e->text_len + 1))) {
        memcpy(out->text, e->text, e->text_len);
        out->text[e->text_len] = '\0';
        out->text_len = e->text_len;
        memcpy(out->finish, e->finish, sizeof out->finish);
        out->n_prompt = e->n_prompt;
        out->n_gen = e->n_gen;
        unlink_entry(c, e);
        push_front(c, e);
        hit = 1;
    }
    if (hit) c->hits++;
    else c->misses++;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void srv_cache_put(srv_cache *c, const char *key, size_t key_len, const char *text, size_t text_len,
                   const char *finish, int32_t n_prompt, int32_t n_gen)
{
    if (!c || !c->max_bytes) return;
    if (sizeof(entry) + key_len + text_len > c->max_bytes) return; /* would evict everything */
    entry *e = calloc(1, sizeof *e);
    if (!e) return;
    e->key = malloc(key_len ? key_len : 1);
    e->text = malloc(text_len ? text_len : 1);
    if (!e->key || !e->text) {
        free(e->key);
        free(e->text);
        free(e);
        return;
    }
    memcpy(e->key, key, key_len);
    memcpy(e->text, text, text_len);
    e->key_len = key_len;
    e->text_len = text_len;
    e->hash = fnv1a(key, key_len);
    strncpy(e->finish, finish, sizeof e->finish - 1);
    e->n_prompt = n_prompt;
    e->n_gen = n_gen;
    pthread_mutex_lock(&c->mu);
    entry *old = find(c, e->hash, key, key_len);
    if (old) drop(c, old);
    while (c->tail && c->bytes + entry_bytes(e) > c->max_bytes) {
        drop(c, c->tail);
        c->evictions++;
    }
    push_front(c, e);
    c->bytes += entry_bytes(e);
    c->entries++;
    pthread_mutex_unlock(&c->mu);
}

void srv_cache_stats(srv_cache *c, uint64_t *hits, uint64_t *misses, uint64_t *bytes, uint64_t *entries,
                     uint64_t *evictions)
{
    if (!c) {
        *hits = *misses = *bytes = *entries = *evictions = 0;
        return;
    }
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *misses = c->misses;
    *bytes = c->bytes;
    *entries = c->entries;
    *evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}

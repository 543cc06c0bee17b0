/* alloc.c — allocation wrappers with a failure-injection hook for tests. */
#include "base/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;
static atomic_ullong n_allocs;

void slm_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }
uint64_t slm_alloc_count(void) { return atomic_load(&n_allocs); }

/* 1 if this allocation must fail (test hook). */
static int should_fail(void)
{
    long c = atomic_load(&fail_countdown);
    if (c < 0) return 0;
    if (c == 0) return 1;
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

void *slm_alloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) atomic_fetch_add(&n_allocs, 1);
    return p;
}

void *slm_calloc(size_t n, size_t size)
{
    size_t total;
    if (!slm_size_mul(n, size, &total) || should_fail()) return NULL;
    void *p = calloc(total ? total : 1, 1);
    if (p) atomic_fetch_add(&n_allocs, 1);
    return p;
}

void *slm_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    void *q = realloc(p, n ? n : 1);
    if (q) atomic_fetch_add(&n_allocs, 1);
    return q;
}

void *slm_alloc_aligned(size_t n, size_t align)
{
    if (should_fail()) return NULL;
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    if (posix_memalign(&p, align, n ? n : 1) != 0) return NULL;
    atomic_fetch_add(&n_allocs, 1);
    return p;
}

void slm_free(void *p) { free(p); }
void slm_free_aligned(void *p) { free(p); }

char *slm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = slm_alloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

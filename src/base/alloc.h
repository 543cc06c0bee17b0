/* alloc.h — every allocation in libslm goes through these wrappers, so a
 * test build can make the Nth allocation fail (SQLite's approach) and check
 * that every path cleans up and reports SLM_ERR_NOMEM.
 *
 * slm_alloc returns NULL on failure and never aborts. Sizes come from
 * untrusted files, so callers compute them with the overflow-checked helpers
 * below before allocating.
 */
#ifndef SLM_BASE_ALLOC_H
#define SLM_BASE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *slm_alloc(size_t n);                /* uninitialised; NULL on failure */
void *slm_calloc(size_t n, size_t size);  /* zeroed; NULL on failure or overflow */
void *slm_realloc(void *p, size_t n);
void *slm_alloc_aligned(size_t n, size_t align); /* free with slm_free_aligned */
void slm_free(void *p);
void slm_free_aligned(void *p);
char *slm_strdup(const char *s);

/* Test hook: allocation number `n` (counting from the call) and every one
 * after it fail; n < 0 disables. Counts only calls through these wrappers. */
void slm_alloc_fail_after(long n);
/* Number of successful allocations so far (to prove a loop allocates nothing). */
uint64_t slm_alloc_count(void);

/* Overflow-checked size arithmetic: return 1 and store the result, or 0 on
 * overflow (stb's mul2sizes_valid idea). */
static inline int slm_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int slm_size_add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
static inline int slm_u64_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int slm_u64_add(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b > UINT64_MAX - a) return 0;
    *out = a + b;
    return 1;
}

#endif

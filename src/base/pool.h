/* pool.h — a fixed pthread thread pool that runs one function on n threads
 * and waits for all of them (the fork/join of every matmul and attention).
 *
 * slm_pool_run(p, fn, ctx) calls fn(ctx, ith, nth) for ith = 0..nth-1, ith 0
 * on the calling thread, and returns when every call has returned. Workers
 * spin briefly on the job counter (decode steps come back to back), then
 * sleep on a condition variable. Running allocates nothing. A pool belongs
 * to one caller thread at a time (a session); it is not reentrant.
 */
#ifndef SLM_BASE_POOL_H
#define SLM_BASE_POOL_H

#include "slm.h"

typedef struct slm_pool slm_pool;
typedef void (*slm_pool_fn)(void *ctx, int ith, int nth);

/* n_threads <= 0: the number of online CPUs. Capped at 256. */
slm_status slm_pool_new(int n_threads, slm_pool **out);
void slm_pool_free(slm_pool *p); /* NULL is a no-op; joins the workers */
int slm_pool_n_threads(const slm_pool *p);
void slm_pool_run(slm_pool *p, slm_pool_fn fn, void *ctx);

/* Number of online CPUs (at least 1). */
int slm_cpu_count(void);

#endif

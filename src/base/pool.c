/* pool.c — fork/join thread pool with chunk claiming.
 *
 * A job is nth chunks, chunk i running fn(ctx, i, nth). The caller publishes
 * the job by storing (generation << 32 | 0) into `next`; every thread,
 * caller included, claims chunks by compare-and-swap on `next` until none
 * are left, and the caller returns once `done` reaches nth. A worker that
 * wakes late (the machine is busy) finds nothing to claim and never touches
 * the job, so the caller never waits for a thread that is not running: on
 * a loaded machine it just runs the chunks itself.
 *
 * Invariants: fn/ctx are written before `next` is published (release) and
 * read only by a thread that claimed a chunk of that generation (acquire);
 * they cannot change before that chunk is counted in `done`. Workers spin
 * briefly, then sleep on a condition variable; the Dekker pair
 * (next, n_sleeping) is sequentially consistent so no wake-up is lost.
 */
#include "base/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/status.h"

#define POOL_MAX_THREADS 256
#define POOL_SPIN 4096 /* polls before sleeping / yielding */

struct slm_pool {
    int nth;                     /* threads including the caller */
    pthread_t *threads;          /* nth - 1 workers */
    int n_started;               /* workers actually created */
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* sleeping workers wait for a new generation */
    _Atomic uint64_t next;       /* generation << 32 | next chunk index */
    atomic_int done;             /* chunks finished in the current generation */
    atomic_int n_sleeping;       /* workers blocked (or about to block) on cv */
    atomic_int stop;
    slm_pool_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    slm_pool *p;
} worker_arg;

int slm_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#endif
}

/* Claim and run chunks of generation gen until none are left. */
static void run_chunks(slm_pool *p, uint32_t gen)
{
    uint64_t cur = atomic_load_explicit(&p->next, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(cur >> 32) != gen || (uint32_t)cur >= (uint32_t)p->nth) return;
        if (!atomic_compare_exchange_weak_explicit(&p->next, &cur, cur + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        p->fn(p->ctx, (int)(uint32_t)cur, p->nth);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        cur = atomic_load_explicit(&p->next, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    slm_pool *p = ((worker_arg *)arg)->p;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = (uint32_t)(atomic_load(&p->next) >> 32)) == seen && !atomic_load(&p->stop)) {
            if (++spins < POOL_SPIN) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1);
            while ((uint32_t)(atomic_load(&p->next) >> 32) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        run_chunks(p, g);
    }
    return NULL;
}

/* Worker arguments live after the thread array, in the same allocation. */
slm_status slm_pool_new(int n_threads, slm_pool **out)
{
    slm_status st = SLM_OK;
    *out = NULL;
    if (n_threads <= 0) n_threads = slm_cpu_count();
    if (n_threads > POOL_MAX_THREADS) n_threads = POOL_MAX_THREADS;
    slm_pool *p = slm_calloc(1, sizeof *p);
    SLM_CHECK(p, SLM_ERR_NOMEM, "thread pool: out of memory");
    p->nth = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->next, (uint64_t)p->nth); /* generation 0, nothing to claim */
    atomic_init(&p->done, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->stop, 0);
    if (n_threads > 1) {
        size_t nw = (size_t)n_threads - 1;
        p->threads = slm_calloc(nw, sizeof(pthread_t) + sizeof(worker_arg));
        SLM_CHECK(p->threads, SLM_ERR_NOMEM, "thread pool: out of memory for %d threads",
                  n_threads);
        worker_arg *args = (worker_arg *)(p->threads + nw);
        for (size_t i = 0; i < nw; i++) {
            args[i].p = p;
            SLM_CHECK(pthread_create(&p->threads[i], NULL, worker_main, &args[i]) == 0,
                      SLM_ERR_NOMEM, "thread pool: cannot create thread %zu of %d", i + 1,
                      n_threads);
            p->n_started++;
        }
    }
    *out = p;
    return SLM_OK;
fail:
    slm_pool_free(p);
    return st;
}

void slm_pool_free(slm_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    slm_free(p->threads);
    slm_free(p);
}

int slm_pool_n_threads(const slm_pool *p) { return p ? p->nth : 1; }

void slm_pool_run(slm_pool *p, slm_pool_fn fn, void *ctx)
{
    if (!p || p->nth == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    const uint32_t gen = (uint32_t)(atomic_load(&p->next) >> 32) + 1;
    atomic_store(&p->next, (uint64_t)gen << 32); /* seq_cst: pairs with n_sleeping */
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, gen);
    /* only chunks already claimed by running workers remain */
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < p->nth) {
        if (++spins < POOL_SPIN) cpu_relax();
        else sched_yield();
    }
}

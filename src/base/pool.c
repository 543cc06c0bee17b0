/* pool.c — fork/join thread pool: a job generation counter that workers
 * spin on for a short while before blocking on a condition variable, and a
 * count of unfinished workers that the caller spins/waits on.
 *
 * Invariant: p->fn/p->ctx are written by the caller before the generation is
 * incremented (release) and read by workers after they observe it (acquire).
 */
#include "base/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/status.h"

#define POOL_MAX_THREADS 256
#define POOL_SPIN 20000 /* polls before sleeping: ~tens of microseconds */

struct slm_pool {
    int nth;                   /* threads including the caller */
    pthread_t *threads;        /* nth - 1 workers */
    int n_started;             /* workers actually created */
    pthread_mutex_t mu;
    pthread_cond_t cv_job;     /* workers wait for a new generation */
    pthread_cond_t cv_done;    /* caller waits for pending == 0 */
    atomic_uint gen;           /* incremented once per job */
    atomic_int pending;        /* workers still running the current job */
    atomic_int stop;
    slm_pool_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    slm_pool *p;
    int ith;
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

static void *worker_main(void *arg)
{
    slm_pool *p = ((worker_arg *)arg)->p;
    int ith = ((worker_arg *)arg)->ith;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < POOL_SPIN) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_job, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        p->fn(p->ctx, ith, p->nth);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
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
    pthread_cond_init(&p->cv_job, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    if (n_threads > 1) {
        size_t nw = (size_t)n_threads - 1;
        p->threads = slm_calloc(nw, sizeof(pthread_t) + sizeof(worker_arg));
        SLM_CHECK(p->threads, SLM_ERR_NOMEM, "thread pool: out of memory for %d threads",
                  n_threads);
        worker_arg *args = (worker_arg *)(p->threads + nw);
        for (size_t i = 0; i < nw; i++) {
            args[i].p = p;
            args[i].ith = (int)i + 1;
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
    pthread_cond_broadcast(&p->cv_job);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_job);
    pthread_cond_destroy(&p->cv_done);
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
    atomic_store_explicit(&p->pending, p->nth - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_job);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->nth);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        if (++spins < POOL_SPIN) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

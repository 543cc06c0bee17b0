/* bench_batch.c — aggregate decode tokens/s of slm_decode_multi at K = 1, 2,
 * 4, 8 sequences (what `slm serve --parallel K` runs each step), through the
 * public API only. The llama.cpp twin is bench/llamacpp_parallel.c (same
 * protocol, same token stream).
 *
 * Protocol: 8 sessions each evaluate the same 16-token prompt; then, per
 * round, for K in 1 2 4 8 (interleaved, so machine load hits every K alike):
 * cut sessions 0..K-1 back to the prompt, run 1 warm-up step and G timed
 * steps of one token per session, and record K * G / seconds (wall and
 * process CPU). Prints the medians per K over the rounds and their ratios
 * to K = 1.
 *
 * Build (after building the library in build-srv):
 *   cmake --build build-srv --target slm_static
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude bench/bench_batch.c \
 *       build-srv/libslm.a -lpcre2-8 -lz -lpthread -lm -o build-srv/bench_batch
 * Run:  build-srv/bench_batch MODEL [threads=2] [rounds=5] [steps=16]
 * SLM_BENCH_AB=1: every round also runs each K with SLM_BATCH=off (the
 * few-row kernels of kernels/batch.h disabled), alternating in the same
 * process, and prints both ("variant":"batch" / "batch_off"), so machine
 * load and page-cache state hit both alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slm.h"

#define K_MAX 8
#define N_PROMPT 16

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all threads): on a machine shared with
 * other jobs, tokens per CPU-second at -t 1 is what an idle core would do,
 * stalls on memory included, while wall time mostly measures the queue. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The token stream of bench/llamacpp_bench.c and cli/cmd_bench.c. */
static int32_t tok_stream(uint64_t *state, int32_t n_vocab)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int32_t)((*state >> 33) % (uint64_t)n_vocab);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_batch MODEL [threads=2] [rounds=5] [steps=16]\n");
        return 2;
    }
    const int threads = argc > 2 ? atoi(argv[2]) : 2, rounds = argc > 3 ? atoi(argv[3]) : 5,
              steps = argc > 4 ? atoi(argv[4]) : 16;
    if (rounds < 1 || rounds > 100 || steps < 1) return 2;
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    if (slm_model_load(argv[1], &mp, &m) != SLM_OK) {
        fprintf(stderr, "bench_batch: %s\n", slm_last_error());
        return 1;
    }
    const int32_t n_vocab = slm_model_n_vocab(m);
    slm_session *ss[K_MAX];
    int32_t prompt[N_PROMPT], tok[K_MAX];
    const int32_t *tp[K_MAX];
    size_t n1[K_MAX];
    uint64_t rng = 1;
    for (int t = 0; t < N_PROMPT; t++) prompt[t] = tok_stream(&rng, n_vocab);
    for (int i = 0; i < K_MAX; i++) {
        slm_session_params sp = slm_session_default_params();
        sp.n_ctx = N_PROMPT + (uint32_t)steps + 16;
        sp.n_threads = threads;
        if (slm_session_new(m, &sp, &ss[i]) != SLM_OK || slm_session_decode(ss[i], prompt, N_PROMPT, NULL) != SLM_OK) {
            fprintf(stderr, "bench_batch: %s\n", slm_last_error());
            return 1;
        }
        tp[i] = &tok[i];
        n1[i] = 1;
    }
    static const int ks[] = {1, 2, 4, 8};
    const int ab = getenv("SLM_BENCH_AB") && atoi(getenv("SLM_BENCH_AB")) > 0;
    const int nv = ab ? 2 : 1;
    double tps[2][4][100], cps[2][4][100];
    for (int r = 0; r < rounds; r++)
        for (int ki = 0; ki < 4; ki++)
            for (int v = 0; v < nv; v++) {
                const int k = ks[ki];
                if (v == 1) setenv("SLM_BATCH", "off", 1);
                else if (ab) unsetenv("SLM_BATCH");
                for (int i = 0; i < k; i++) slm_session_truncate(ss[i], N_PROMPT);
                double t0 = 0, c0 = 0;
                for (int s = 0; s <= steps; s++) {
                    if (s == 1) { /* step 0 warms up */
                        t0 = now_s();
                        c0 = cpu_s();
                    }
                    for (int i = 0; i < k; i++) tok[i] = tok_stream(&rng, n_vocab);
                    if (slm_decode_multi(ss, tp, n1, (size_t)k) != SLM_OK) {
                        fprintf(stderr, "bench_batch: %s\n", slm_last_error());
                        return 1;
                    }
                }
                tps[v][ki][r] = (double)k * steps / (now_s() - t0);
                cps[v][ki][r] = (double)k * steps / (cpu_s() - c0);
            }
    for (int v = 0; v < nv; v++) {
        double med[4], cmed[4];
        for (int ki = 0; ki < 4; ki++) {
            qsort(tps[v][ki], (size_t)rounds, sizeof(double), cmp_d);
            qsort(cps[v][ki], (size_t)rounds, sizeof(double), cmp_d);
            med[ki] = tps[v][ki][rounds / 2];
            cmed[ki] = cps[v][ki][rounds / 2];
        }
        for (int ki = 0; ki < 4; ki++)
            printf("{\"engine\":\"slm\",%s\"sequences\":%d,\"threads\":%d,\"rounds\":%d,\"steps\":%d,"
                   "\"tokens_per_s_median\":%.3f,\"ratio_to_1\":%.3f,\"tokens_per_cpu_s_median\":%.3f,"
                   "\"cpu_ratio_to_1\":%.3f}\n",
                   !ab ? "" : v ? "\"variant\":\"batch_off\"," : "\"variant\":\"batch\",", ks[ki], threads,
                   rounds, steps, med[ki], med[ki] / med[0], cmed[ki], cmed[ki] / cmed[0]);
    }
    for (int i = 0; i < K_MAX; i++) slm_session_free(ss[i]);
    slm_model_free(m);
    return 0;
}

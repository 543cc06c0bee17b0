/* llamacpp_parallel.c — llama.cpp's side of bench/bench_batch.c: aggregate
 * decode tokens/s with K = 1, 2, 4, 8 sequences decoded together, one token
 * each, in ONE llama_batch with distinct seq ids (what llama.cpp's server
 * does with --parallel K). Public llama.h API only, linked against the
 * prebuilt libllama of the npm package @node-llama-cpp/linux-x64 (see
 * bench/compare for how that is installed). Not part of libslm.
 *
 * Protocol (identical to bench_batch.c): 8 sequences each evaluate the same
 * 16-token prompt; per round, for K in 1 2 4 8 (interleaved): remove
 * everything after the prompt from sequences 0..K-1, run 1 warm-up step and
 * G timed steps, record K * G / seconds (wall and process CPU). Prints the
 * medians per K and their ratios to K = 1, one JSON line per K.
 *
 * Build (paths as bench/compare sets them up in ~/.cache/slm-bench):
 *   C=~/.cache/slm-bench; L=$C/node-llama-cpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I$C/llama.cpp-headers-3.22.1/include \
 *       -I$C/llama.cpp-headers-3.22.1/ggml/include bench/llamacpp_parallel.c -o $C/bin/llamacpp_parallel \
 *       -L$L -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -Wl,-rpath,$L
 * Run:  $C/bin/llamacpp_parallel MODEL [threads=2] [rounds=5] [steps=16] [backend_dir]   (bench/compare passes $L as backend_dir)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ggml-backend.h"
#include "llama.h"

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

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

/* Put token ids[i] of sequence i at position pos[i] into b (logits on). */
static void fill(struct llama_batch *b, int k, const llama_token *ids, const llama_pos *pos)
{
    b->n_tokens = k;
    for (int i = 0; i < k; i++) {
        b->token[i] = ids[i];
        b->pos[i] = pos[i];
        b->n_seq_id[i] = 1;
        b->seq_id[i][0] = i;
        b->logits[i] = 1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: llamacpp_parallel MODEL [threads=2] [rounds=5] [steps=16] [backend_dir]\n");
        return 2;
    }
    const int threads = argc > 2 ? atoi(argv[2]) : 2, rounds = argc > 3 ? atoi(argv[3]) : 5,
              steps = argc > 4 ? atoi(argv[4]) : 16;
    if (rounds < 1 || rounds > 100 || steps < 1) return 2;
    llama_log_set(quiet, NULL);
    if (argc > 5) ggml_backend_load_all_from_path(argv[5]);
    else ggml_backend_load_all();
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "llamacpp_parallel: cannot load %s\n", argv[1]);
        return 1;
    }
    const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_context_params cp = llama_context_default_params();
    const uint32_t per_seq = (uint32_t)(N_PROMPT + steps + 16);
    cp.n_ctx = K_MAX * ((per_seq + 255) / 256 * 256);
    cp.n_batch = N_PROMPT * K_MAX;
    cp.n_ubatch = N_PROMPT * K_MAX;
    cp.n_seq_max = K_MAX;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llamacpp_parallel: llama_init_from_model failed\n");
        return 1;
    }
    llama_memory_t mem = llama_get_memory(ctx);
    struct llama_batch b = llama_batch_init(N_PROMPT * K_MAX, 0, 1);
    uint64_t rng = 1;
    llama_token prompt[N_PROMPT], tok[K_MAX];
    llama_pos pos[K_MAX];
    for (int t = 0; t < N_PROMPT; t++) prompt[t] = tok_stream(&rng, n_vocab);
    /* all prompts in one batch */
    b.n_tokens = 0;
    for (int i = 0; i < K_MAX; i++)
        for (int t = 0; t < N_PROMPT; t++) {
            int j = b.n_tokens++;
            b.token[j] = prompt[t];
            b.pos[j] = t;
            b.n_seq_id[j] = 1;
            b.seq_id[j][0] = i;
            b.logits[j] = t == N_PROMPT - 1;
        }
    if (llama_decode(ctx, b) != 0) {
        fprintf(stderr, "llamacpp_parallel: prompt llama_decode failed\n");
        return 1;
    }
    static const int ks[] = {1, 2, 4, 8};
    double tps[4][100], cps[4][100];
    for (int r = 0; r < rounds; r++)
        for (int ki = 0; ki < 4; ki++) {
            const int k = ks[ki];
            for (int i = 0; i < k; i++) {
                llama_memory_seq_rm(mem, i, N_PROMPT, -1);
                pos[i] = N_PROMPT;
            }
            double t0 = 0, c0 = 0;
            for (int s = 0; s <= steps; s++) {
                if (s == 1) { /* step 0 warms up */
                    t0 = now_s();
                    c0 = cpu_s();
                }
                for (int i = 0; i < k; i++) tok[i] = tok_stream(&rng, n_vocab);
                fill(&b, k, tok, pos);
                int rc = llama_decode(ctx, b);
                if (rc != 0 || !llama_get_logits_ith(ctx, k - 1)) {
                    fprintf(stderr, "llamacpp_parallel: llama_decode returned %d\n", rc);
                    return 1;
                }
                for (int i = 0; i < k; i++) pos[i]++;
            }
            tps[ki][r] = (double)k * steps / (now_s() - t0);
            cps[ki][r] = (double)k * steps / (cpu_s() - c0);
        }
    double med[4], cmed[4];
    for (int ki = 0; ki < 4; ki++) {
        qsort(tps[ki], (size_t)rounds, sizeof(double), cmp_d);
        qsort(cps[ki], (size_t)rounds, sizeof(double), cmp_d);
        med[ki] = tps[ki][rounds / 2];
        cmed[ki] = cps[ki][rounds / 2];
    }
    for (int ki = 0; ki < 4; ki++)
        printf("{\"engine\":\"llama.cpp\",\"sequences\":%d,\"threads\":%d,\"rounds\":%d,\"steps\":%d,"
               "\"tokens_per_s_median\":%.3f,\"ratio_to_1\":%.3f,\"tokens_per_cpu_s_median\":%.3f,"
               "\"cpu_ratio_to_1\":%.3f}\n",
               ks[ki], threads, rounds, steps, med[ki], med[ki] / med[0], cmed[ki], cmed[ki] / cmed[0]);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}

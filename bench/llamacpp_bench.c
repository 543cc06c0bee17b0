/* llamacpp_bench.c — the llama.cpp side of bench/compare: what llama-bench
 * measures, through llama.cpp's public C API only (llama.h, ggml-backend.h),
 * linked against the prebuilt libllama that the npm package
 * @node-llama-cpp/linux-x64 ships. Not part of libslm; built by bench/compare.
 *
 * Per model and repetition: clear the KV cache, decode n_prompt tokens in one
 * batch (logits of the last token only), then n_gen single-token decodes that
 * feed the next token of a fixed pseudo-random stream (no sampling). The token
 * stream is the one `slm bench` uses (tok_stream below), so both engines see
 * the same ids. One warm-up prompt and one warm-up token run first, as in
 * llama-bench. Prints one JSON object per repetition on stdout:
 *
 *   {"engine":"llama.cpp","model":...,"threads":2,"n_prompt":128,"n_gen":32,
 *    "rep":0,"pp_ms":...,"pp_tokens_per_s":...,"tg_ms":...,"tg_tokens_per_s":...,
 *    "ttft_ms":...,"latency_ms_p50":...,"latency_ms_p95":...,"latency_ms_p99":...,
 *    "load_ms":...,"peak_rss_bytes":...}
 *
 * ttft_ms is the prompt decode up to the moment the last prompt token's
 * logits are readable (the first generated token could be sampled then).
 * peak_rss_bytes is VmHWM from /proc/self/status after the repetition.
 *
 * With --logits-out FILE --tokens "ID ...", it instead evaluates those tokens
 * as one batch (positions 0..n-1) and writes every position's logits to FILE
 * as n x n_vocab little-endian float32 — the format of `slm logits`, so that
 * bench/compare can check both engines compute the same function.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-backend.h"
#include "llama.h"

/* ---- the shared token stream -------------------------------------------- */

/* PCG-style LCG (Knuth's MMIX constants); the high bits pick an id. The same
 * function lives in cli/cmd_bench.c: keep them identical. */
static int32_t tok_stream(uint64_t *state, int32_t n_vocab)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int32_t)((*state >> 33) % (uint64_t)n_vocab);
}

/* ---- small helpers ------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* VmHWM (peak resident set) of this process in bytes; 0 if unreadable. */
static uint64_t peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* q-quantile of v[0..n) (sorted in place), nearest-rank on a 0..n-1 scale
 * with linear interpolation. */
static double quantile(double *v, int n, double q)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q * (double)(n - 1);
    int lo = (int)pos;
    int hi = lo + 1 < n ? lo + 1 : lo;
    double frac = pos - (double)lo;
    return v[lo] + (v[hi] - v[lo]) * frac;
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static int verbose;

static void log_cb(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (verbose || level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* ---- the measurement ----------------------------------------------------- */

typedef struct bench_opts {
    int n_prompt;  /* tokens in the batched prompt decode */
    int n_gen;     /* single-token decodes after it */
    int n_threads; /* compute threads, for both batch and single-token decodes */
    int n_reps;    /* measured repetitions after the warm-up */
    int warmup;    /* 1: one untimed prompt + one untimed token first */
} bench_opts;

/* Decode n tokens of the stream at the current end of the cache; returns
 * llama_decode's status, or -100 if the last token's logits are missing. */
static int decode_stream(struct llama_context *ctx, uint64_t *state, int32_t n_vocab,
                         llama_token *buf, int n)
{
    for (int i = 0; i < n; i++)
        buf[i] = tok_stream(state, n_vocab);
    int rc = llama_decode(ctx, llama_batch_get_one(buf, n));
    if (rc != 0)
        return rc;
    if (!llama_get_logits_ith(ctx, -1))
        return -100;
    return 0;
}

static int bench_model(const char *path, const bench_opts *o)
{
    struct llama_model_params mp = llama_model_default_params();
    double t0 = now_ms();
    struct llama_model *model = llama_model_load_from_file(path, mp);
    double load_ms = now_ms() - t0;
    if (!model) {
        fprintf(stderr, "llamacpp_bench: %s: llama_model_load_from_file failed\n", path);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int32_t n_vocab = llama_vocab_n_tokens(vocab);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(o->n_prompt + o->n_gen + 1);
    cp.n_batch = (uint32_t)(o->n_prompt > 0 ? o->n_prompt : 1);
    cp.n_threads = o->n_threads;
    cp.n_threads_batch = o->n_threads;
    cp.no_perf = true;
    t0 = now_ms();
    struct llama_context *ctx = llama_init_from_model(model, cp);
    double ctx_ms = now_ms() - t0;
    if (!ctx) {
        fprintf(stderr, "llamacpp_bench: %s: llama_init_from_model failed (n_ctx %u)\n", path,
                cp.n_ctx);
        llama_model_free(model);
        return 1;
    }

    int cap = o->n_prompt > 1 ? o->n_prompt : 1;
    llama_token *buf = malloc((size_t)cap * sizeof *buf);
    double *lat = malloc((size_t)(o->n_gen > 0 ? o->n_gen : 1) * sizeof *lat);
    int status = 0;
    if (!buf || !lat) {
        fprintf(stderr, "llamacpp_bench: out of memory\n");
        status = 1;
        goto done;
    }
    char desc[256];
    llama_model_desc(model, desc, sizeof desc);

    if (o->warmup) {
        uint64_t st = 42;
        llama_memory_clear(llama_get_memory(ctx), false);
        int rc = o->n_prompt > 0 ? decode_stream(ctx, &st, n_vocab, buf, o->n_prompt) : 0;
        if (rc == 0)
            rc = decode_stream(ctx, &st, n_vocab, buf, 1);
        if (rc != 0) {
            fprintf(stderr, "llamacpp_bench: %s: warm-up llama_decode returned %d\n", path, rc);
            status = 1;
            goto done;
        }
    }

    for (int rep = 0; rep < o->n_reps; rep++) {
        uint64_t st = 42;
        llama_memory_clear(llama_get_memory(ctx), false);
        double pp_ms = 0.0;
        int rc = 0;
        if (o->n_prompt > 0) {
            t0 = now_ms();
            rc = decode_stream(ctx, &st, n_vocab, buf, o->n_prompt);
            pp_ms = now_ms() - t0;
        }
        double tg_ms = 0.0;
        for (int i = 0; rc == 0 && i < o->n_gen; i++) {
            t0 = now_ms();
            rc = decode_stream(ctx, &st, n_vocab, buf, 1);
            lat[i] = now_ms() - t0;
            tg_ms += lat[i];
        }
        if (rc != 0) {
            fprintf(stderr, "llamacpp_bench: %s: llama_decode returned %d in repetition %d\n",
                    path, rc, rep);
            status = 1;
            goto done;
        }
        double p50 = quantile(lat, o->n_gen, 0.50);
        double p95 = quantile(lat, o->n_gen, 0.95);
        double p99 = quantile(lat, o->n_gen, 0.99);
        printf("{\"engine\":\"llama.cpp\",\"model\":");
        json_string(stdout, path);
        printf(",\"desc\":");
        json_string(stdout, desc);
        printf(",\"size_bytes\":%llu,\"n_params\":%llu,\"threads\":%d,\"n_prompt\":%d,"
               "\"n_gen\":%d,\"rep\":%d,\"pp_ms\":%.3f,\"pp_tokens_per_s\":%.3f,"
               "\"tg_ms\":%.3f,\"tg_tokens_per_s\":%.3f,\"ttft_ms\":%.3f,"
               "\"latency_ms_p50\":%.3f,\"latency_ms_p95\":%.3f,\"latency_ms_p99\":%.3f,"
               "\"load_ms\":%.3f,\"ctx_ms\":%.3f,\"peak_rss_bytes\":%llu}\n",
               (unsigned long long)llama_model_size(model),
               (unsigned long long)llama_model_n_params(model), o->n_threads, o->n_prompt,
               o->n_gen, rep, pp_ms, pp_ms > 0 ? o->n_prompt * 1e3 / pp_ms : 0.0, tg_ms,
               tg_ms > 0 ? o->n_gen * 1e3 / tg_ms : 0.0, pp_ms, p50, p95, p99, load_ms, ctx_ms,
               (unsigned long long)peak_rss_bytes());
        fflush(stdout);
    }

done:
    free(lat);
    free(buf);
    llama_free(ctx);
    llama_model_free(model);
    return status;
}

/* ---- logits dump ----------------------------------------------------------- */

/* --reference-settings: dump logits as ../shared/testdata was computed. */
static int reference_settings;

static int dump_logits(const char *path, int n_threads, const llama_token *ids, int n,
                       const char *out_path)
{
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "llamacpp_bench: %s: llama_model_load_from_file failed\n", path);
        return 1;
    }
    int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n;
    cp.n_batch = (uint32_t)n;
    cp.n_ubatch = (uint32_t)n;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    if (reference_settings) {
        /* The settings ../shared/testdata was made with: F32 cache, no flash attention. */
        cp.type_k = GGML_TYPE_F32;
        cp.type_v = GGML_TYPE_F32;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    struct llama_context *ctx = llama_init_from_model(model, cp);
    int status = 1;
    FILE *out = NULL;
    struct llama_batch b = llama_batch_init(n, 0, 1);
    if (!ctx) {
        fprintf(stderr, "llamacpp_bench: %s: llama_init_from_model failed\n", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= n_vocab) {
            fprintf(stderr, "llamacpp_bench: token %d out of range (n_vocab %d)\n", ids[i],
                    n_vocab);
            goto done;
        }
        b.token[i] = ids[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    int rc = llama_decode(ctx, b);
    if (rc != 0) {
        fprintf(stderr, "llamacpp_bench: %s: llama_decode returned %d\n", path, rc);
        goto done;
    }
    out = fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "llamacpp_bench: %s: cannot open for writing\n", out_path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const float *row = llama_get_logits_ith(ctx, i);
        if (!row || fwrite(row, sizeof *row, (size_t)n_vocab, out) != (size_t)n_vocab) {
            fprintf(stderr, "llamacpp_bench: %s: writing row %d failed\n", out_path, i);
            goto done;
        }
    }
    status = 0;
done:
    if (out && fclose(out) != 0 && status == 0) {
        fprintf(stderr, "llamacpp_bench: %s: write failed\n", out_path);
        status = 1;
    }
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    return status;
}

/* Parse "1 2 3" or "1,2,3" into ids (at most cap); returns the count, -1 on error. */
static int parse_tokens(const char *s, llama_token *ids, int cap)
{
    int n = 0;
    while (*s) {
        if (*s == ' ' || *s == ',') {
            s++;
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || v < 0 || v > INT32_MAX || n == cap)
            return -1;
        ids[n++] = (llama_token)v;
        s = end;
    }
    return n;
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: llamacpp_bench -m MODEL [-m MODEL...] [-p N_PROMPT] [-n N_GEN] [-t THREADS]\n"
            "                      [-r REPS] [--backend-dir DIR] [--no-warmup] [-v]\n"
            "       llamacpp_bench -m MODEL --tokens \"ID ...\" --logits-out FILE [-t THREADS]\n"
            "                      [--reference-settings]  (F32 KV cache, flash attention off)\n"
            "  -p  prompt tokens decoded in one batch (default 128)\n"
            "  -n  tokens generated one at a time after the prompt (default 32)\n"
            "  -t  threads (default 1)\n"
            "  -r  measured repetitions (default 3)\n"
            "  --backend-dir  folder holding libggml-cpu-*.so (default: the folder\n"
            "                 ggml searches, i.e. next to libllama)\n");
}

static int parse_int(const char *flag, const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > 1000000) {
        fprintf(stderr, "llamacpp_bench: %s: '%s' is not an integer >= %d\n", flag, s, min);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv)
{
    bench_opts o = {.n_prompt = 128, .n_gen = 32, .n_threads = 1, .n_reps = 3, .warmup = 1};
    const char *models[64];
    int n_models = 0;
    const char *backend_dir = NULL;
    const char *tokens = NULL;
    const char *logits_out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(a, "--reference-settings") == 0) {
            reference_settings = 1;
        } else if (strcmp(a, "--no-warmup") == 0) {
            o.warmup = 0;
        } else if (strcmp(a, "-m") == 0 && has_val) {
            if (n_models == 64) {
                fprintf(stderr, "llamacpp_bench: more than 64 models\n");
                return 2;
            }
            models[n_models++] = argv[++i];
        } else if (strcmp(a, "--tokens") == 0 && has_val) {
            tokens = argv[++i];
        } else if (strcmp(a, "--logits-out") == 0 && has_val) {
            logits_out = argv[++i];
        } else if (strcmp(a, "--backend-dir") == 0 && has_val) {
            backend_dir = argv[++i];
        } else if (strcmp(a, "-p") == 0 && has_val) {
            if (!parse_int(a, argv[++i], 0, &o.n_prompt))
                return 2;
        } else if (strcmp(a, "-n") == 0 && has_val) {
            if (!parse_int(a, argv[++i], 0, &o.n_gen))
                return 2;
        } else if (strcmp(a, "-t") == 0 && has_val) {
            if (!parse_int(a, argv[++i], 1, &o.n_threads))
                return 2;
        } else if (strcmp(a, "-r") == 0 && has_val) {
            if (!parse_int(a, argv[++i], 1, &o.n_reps))
                return 2;
        } else {
            fprintf(stderr, "llamacpp_bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (n_models == 0 || o.n_prompt + o.n_gen == 0) {
        usage(stderr);
        return 2;
    }

    llama_log_set(log_cb, NULL);
    if (backend_dir)
        ggml_backend_load_all_from_path(backend_dir);
    else
        ggml_backend_load_all();
    llama_backend_init();
    if (verbose)
        fprintf(stderr, "llamacpp_bench: %s\n", llama_print_system_info());

    int status = 0;
    if (logits_out || tokens) {
        llama_token ids[4096];
        int n = tokens ? parse_tokens(tokens, ids, 4096) : -1;
        if (!logits_out || n <= 0 || n_models != 1) {
            fprintf(stderr, "llamacpp_bench: --logits-out needs one -m MODEL and --tokens with "
                            "1..4096 ids\n");
            status = 2;
        } else {
            status = dump_logits(models[0], o.n_threads, ids, n, logits_out);
        }
        llama_backend_free();
        return status;
    }
    for (int i = 0; i < n_models; i++)
        status |= bench_model(models[i], &o);
    llama_backend_free();
    return status;
}

/* cmd_bench.c — `slm bench`: prompt-processing (pp) and generation (tg)
 * speed of one or more models, measured through the public API (slm.h) only.
 *
 * One test = (model, threads, n_prompt, n_gen). Per repetition: empty the
 * session, decode n_prompt tokens in one batch (time to first token), then
 * n_gen single-token decodes, each timed (per-token latency). The tokens are
 * a fixed pseudo-random stream (tok_stream), identical to the one
 * bench/llamacpp_bench.c feeds llama.cpp, so the two are comparable; nothing
 * is sampled. One untimed warm-up prompt + token precedes the repetitions, as
 * in llama-bench. Speeds are mean ± sample stdev over repetitions; latency
 * percentiles pool every generated token of every repetition.
 *
 * Peak RSS is VmHWM of this process, reset (/proc/self/clear_refs) before
 * each model is loaded, so it covers that model's load and tests.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "slm.h"

/* ---- the shared token stream -------------------------------------------- */

/* LCG with Knuth's MMIX constants; the high bits pick an id. The same
 * function lives in bench/llamacpp_bench.c: keep them identical. */
static int32_t tok_stream(uint64_t *state, int32_t n_vocab)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int32_t)((*state >> 33) % (uint64_t)n_vocab);
}

#define STREAM_SEED 42u

/* ---- process measurements ------------------------------------------------ */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* VmHWM (peak resident set) in bytes; 0 where /proc is unavailable. */
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

/* Reset VmHWM to the current RSS (Linux >= 4.0); silently a no-op elsewhere. */
static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return;
    fputs("5", f);
    fclose(f);
}

/* ---- statistics ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of v[0..n) with linear interpolation between order statistics;
 * sorts v. 0 for n == 0. */
static double quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}

static double mean_of(const double *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0.0;
}

/* Sample standard deviation (n - 1); 0 for fewer than two values. */
static double stdev_of(const double *v, size_t n)
{
    if (n < 2)
        return 0.0;
    double m = mean_of(v, n), s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (double)(n - 1));
}

/* ---- options ------------------------------------------------------------- */

enum { FMT_MD, FMT_JSON, FMT_CSV };
#define MAX_LIST 16

typedef struct int_list {
    int v[MAX_LIST];
    int n;
} int_list;

typedef struct bench_opts {
    int_list prompts; /* -p: n_prompt values */
    int_list gens;    /* -n: n_gen values */
    int_list threads; /* -t: thread counts */
    int n_reps;       /* -r */
    int warmup;       /* 0 with --no-warmup */
    int use_mmap;     /* 0 with --no-mmap */
    int format;       /* FMT_* */
    int roofline;     /* 1 with --roofline */
} bench_opts;

/* Parse "128,512" into l; each value in [min, 1000000]. */
static int parse_list(const char *flag, const char *s, int min, int_list *l)
{
    l->n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < min || v > 1000000 || (*end && *end != ',')) {
            fprintf(stderr, "slm bench: %s: '%s' is not a comma-separated list of integers >= %d\n",
                    flag, s, min);
            return 0;
        }
        if (l->n == MAX_LIST) {
            fprintf(stderr, "slm bench: %s: more than %d values in '%s'\n", flag, MAX_LIST, s);
            return 0;
        }
        l->v[l->n++] = (int)v;
        if (!*end)
            return 1;
        p = end + 1;
    }
}

/* ---- memory bandwidth (--roofline) -------------------------------------- */

/* 256 MiB: 8x this machine's 32 MiB L3, so every pass streams from DRAM. */
#define BW_BYTES ((size_t)256 << 20)
#define BW_REPS 7

typedef struct bw_slice {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_slice;

/* Read every word of the slice once. Four independent sums let the
 * compiler vectorize (-O3) so the loop is bound by loads, not adds. */
static void *bw_read(void *arg)
{
    bw_slice *b = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= b->n; i += 4) {
        s0 += b->p[i];
        s1 += b->p[i + 1];
        s2 += b->p[i + 2];
        s3 += b->p[i + 3];
    }
    for (; i < b->n; i++)
        s0 += b->p[i];
    b->sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* Median over BW_REPS passes of the read bandwidth (bytes/s) of `threads`
 * threads each streaming its share of a BW_BYTES buffer; 0 on failure. */
static double measure_bandwidth(int threads)
{
    uint64_t *buf = malloc(BW_BYTES);
    if (!buf)
        return 0.0;
    memset(buf, 1, BW_BYTES); /* fault every page in before timing */
    const size_t n = BW_BYTES / sizeof *buf;
    bw_slice sl[64];
    pthread_t th[64];
    if (threads > 64)
        threads = 64;
    double rates[BW_REPS];
    volatile uint64_t sink = 0;
    int ok = 1;
    for (int r = 0; r < BW_REPS && ok; r++) {
        for (int t = 0; t < threads; t++)
            sl[t] = (bw_slice){buf + n * (size_t)t / (size_t)threads,
                               n * (size_t)(t + 1) / (size_t)threads - n * (size_t)t / (size_t)threads, 0};
        const double t0 = now_ms();
        int started = 0;
        for (int t = 1; t < threads; t++, started++)
            if (pthread_create(&th[t], NULL, bw_read, &sl[t]) != 0) {
                ok = 0;
                break;
            }
        bw_read(&sl[0]);
        for (int t = 1; t <= started; t++)
            pthread_join(th[t], NULL);
        const double ms = now_ms() - t0;
        for (int t = 0; t < threads; t++)
            sink += sl[t].sum;
        rates[r] = (double)BW_BYTES / (ms / 1e3);
    }
    (void)sink;
    free(buf);
    return ok ? quantile(rates, BW_REPS, 0.5) : 0.0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: slm bench MODEL... [-p 128,512] [-n 64] [-t 1,2] [-r 5] [--json|--csv|--md]\n"
            "                 [--no-warmup] [--no-mmap] [--roofline]\n"
            "\n"
            "Measures, for every model x threads x prompt size x generation length:\n"
            "prompt processing (pp: n_prompt tokens decoded in one batch) and text\n"
            "generation (tg: n_gen single-token decodes after the prompt) in tokens/s\n"
            "(mean +- stdev over -r repetitions), per-token latency p50/p95/p99, time to\n"
            "first token, load time and peak RSS. Token ids are a fixed pseudo-random\n"
            "stream (no sampling), the same that bench/llamacpp_bench.c feeds llama.cpp.\n"
            "\n"
            "  -p LIST     prompt sizes (default 128,512; 0 = generation only)\n"
            "  -n LIST     tokens to generate (default 64; 0 = prompt only)\n"
            "  -t LIST     thread counts (default: 1 and the number of online cores)\n"
            "  -r N        repetitions (default 5)\n"
            "  --md        markdown tables, like llama-bench (default)\n"
            "  --json      one JSON object per test per line\n"
            "  --csv       one CSV row per test, with a header\n"
            "  --no-warmup skip the untimed warm-up run\n"
            "  --no-mmap   read the weights into memory instead of mapping the file\n"
            "  --roofline  also measure the memory read bandwidth (median of 7 passes over\n"
            "              256 MiB, at each -t) and report generation as a fraction of\n"
            "              the bandwidth limit: bandwidth / bytes read per token, taken as\n"
            "              the file size (all weights once; for models with a separate\n"
            "              output matrix this includes the embedding table, of which a\n"
            "              token reads one row: the limit is then conservative). With no\n"
            "              MODEL, only the bandwidth is measured.\n");
}

/* ---- one model ----------------------------------------------------------- */

/* llama_ftype numbers as stored in general.file_type. */
static const char *file_type_name(int64_t ft)
{
    switch (ft) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K_S";
    case 12: return "Q3_K_M";
    case 13: return "Q3_K_L";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 25: return "IQ4_NL";
    case 30: return "IQ4_XS";
    case 32: return "BF16";
    default: return "?";
    }
}

typedef struct model_info {
    const char *path;  /* as given on the command line */
    const char *arch;  /* owned by the model */
    const char *type;  /* static string */
    char label[96];    /* "llama 135M Q4_0", as llama-bench's model column */
    uint64_t size_bytes;
    uint64_t n_params;
    double load_ms;
} model_info;

static void fill_info(model_info *mi, const slm_model *m)
{
    int64_t ft = -1;
    mi->arch = slm_model_arch(m);
    mi->type = slm_model_meta_int(m, "general.file_type", &ft) == SLM_OK ? file_type_name(ft) : "?";
    mi->size_bytes = slm_model_size_bytes(m);
    mi->n_params = slm_model_n_params(m);
    double p = (double)mi->n_params;
    char sz[32];
    if (p >= 1e9)
        snprintf(sz, sizeof sz, "%.1fB", p / 1e9);
    else if (p >= 1e6)
        snprintf(sz, sizeof sz, "%.0fM", p / 1e6);
    else
        snprintf(sz, sizeof sz, "%.0fK", p / 1e3);
    snprintf(mi->label, sizeof mi->label, "%s %s %s", mi->arch, sz, mi->type);
}

typedef struct test_result {
    int threads, n_prompt, n_gen, n_reps;
    double pp_mean, pp_stdev, pp_median; /* tokens/s */
    double tg_mean, tg_stdev, tg_median; /* tokens/s */
    double lat_p50, lat_p95, lat_p99;    /* ms per generated token */
    double ttft_ms;                      /* median over repetitions */
    uint64_t peak_rss_bytes;
    uint64_t session_bytes;              /* slm_session_memory_bytes */
    double bw_bytes_per_s;               /* --roofline: read bandwidth at these threads, else 0 */
} test_result;

/* Decode n tokens of the stream; on failure prints the library's message. */
static int decode_stream(slm_session *s, uint64_t *state, int32_t n_vocab, int32_t *buf, int n,
                         const char *path)
{
    for (int i = 0; i < n; i++)
        buf[i] = tok_stream(state, n_vocab);
    const float *logits = NULL;
    slm_status st = slm_session_decode(s, buf, (size_t)n, &logits);
    if (st != SLM_OK) {
        fprintf(stderr, "slm bench: %s: decode of %d tokens failed: %s: %s\n", path, n,
                slm_status_name(st), slm_last_error());
        return 0;
    }
    if (!logits) {
        fprintf(stderr, "slm bench: %s: decode of %d tokens returned no logits\n", path, n);
        return 0;
    }
    return 1;
}

static int run_test(slm_model *m, const model_info *mi, const bench_opts *o, int threads,
                    int n_prompt, int n_gen, test_result *r)
{
    memset(r, 0, sizeof *r);
    r->threads = threads;
    r->n_prompt = n_prompt;
    r->n_gen = n_gen;
    r->n_reps = o->n_reps;

    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = (uint32_t)(n_prompt + n_gen + 1);
    sp.n_batch = (uint32_t)(n_prompt > 0 ? n_prompt : 1);
    sp.n_threads = threads;
    slm_session *s = NULL;
    slm_status st = slm_session_new(m, &sp, &s);
    if (st != SLM_OK) {
        fprintf(stderr, "slm bench: %s: cannot create a session (n_ctx %u, %d threads): %s: %s\n",
                mi->path, sp.n_ctx, threads, slm_status_name(st), slm_last_error());
        return 0;
    }
    r->session_bytes = slm_session_memory_bytes(s);

    int32_t n_vocab = slm_model_n_vocab(m);
    size_t n_lat = (size_t)o->n_reps * (size_t)n_gen;
    int32_t *buf = malloc((size_t)(n_prompt > 1 ? n_prompt : 1) * sizeof *buf);
    double *lat = malloc((n_lat ? n_lat : 1) * sizeof *lat);
    double *pp = malloc((size_t)o->n_reps * sizeof *pp);
    double *tg = malloc((size_t)o->n_reps * sizeof *tg);
    double *ttft = malloc((size_t)o->n_reps * sizeof *ttft);
    int ok = buf && lat && pp && tg && ttft;
    if (!ok)
        fprintf(stderr, "slm bench: out of memory\n");

    if (ok && o->warmup) {
        uint64_t state = STREAM_SEED;
        ok = (n_prompt == 0 || decode_stream(s, &state, n_vocab, buf, n_prompt, mi->path)) &&
             decode_stream(s, &state, n_vocab, buf, 1, mi->path);
    }
    for (int rep = 0; ok && rep < o->n_reps; rep++) {
        uint64_t state = STREAM_SEED;
        st = slm_session_truncate(s, 0);
        if (st != SLM_OK) {
            fprintf(stderr, "slm bench: %s: truncate failed: %s\n", mi->path, slm_last_error());
            ok = 0;
            break;
        }
        double t0 = now_ms();
        if (n_prompt > 0)
            ok = decode_stream(s, &state, n_vocab, buf, n_prompt, mi->path);
        double pp_ms = now_ms() - t0;
        ttft[rep] = pp_ms;
        pp[rep] = n_prompt > 0 && pp_ms > 0 ? n_prompt * 1e3 / pp_ms : 0.0;
        double tg_ms = 0.0;
        for (int i = 0; ok && i < n_gen; i++) {
            t0 = now_ms();
            ok = decode_stream(s, &state, n_vocab, buf, 1, mi->path);
            double dt = now_ms() - t0;
            lat[(size_t)rep * (size_t)n_gen + (size_t)i] = dt;
            tg_ms += dt;
            if (n_prompt == 0 && i == 0)
                ttft[rep] = dt;
        }
        tg[rep] = n_gen > 0 && tg_ms > 0 ? n_gen * 1e3 / tg_ms : 0.0;
    }
    if (ok) {
        size_t n = (size_t)o->n_reps;
        r->pp_mean = mean_of(pp, n);
        r->pp_stdev = stdev_of(pp, n);
        r->pp_median = quantile(pp, n, 0.5);
        r->tg_mean = mean_of(tg, n);
        r->tg_stdev = stdev_of(tg, n);
        r->tg_median = quantile(tg, n, 0.5);
        r->ttft_ms = quantile(ttft, n, 0.5);
        r->lat_p50 = quantile(lat, n_lat, 0.50);
        r->lat_p95 = quantile(lat, n_lat, 0.95);
        r->lat_p99 = quantile(lat, n_lat, 0.99);
        r->peak_rss_bytes = peak_rss_bytes();
    }
    free(ttft);
    free(tg);
    free(pp);
    free(lat);
    free(buf);
    slm_session_free(s);
    return ok;
}

/* ---- output -------------------------------------------------------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const model_info *mi, const test_result *r)
{
    printf("{\"engine\":\"slm\",\"model\":");
    json_string(mi->label);
    printf(",\"file\":");
    json_string(mi->path);
    printf(",\"arch\":");
    json_string(mi->arch);
    printf(",\"type\":");
    json_string(mi->type);
    printf(",\"size_bytes\":%llu,\"n_params\":%llu,\"threads\":%d,\"n_prompt\":%d,\"n_gen\":%d,"
           "\"reps\":%d,\"pp_tokens_per_s\":%.3f,\"pp_tokens_per_s_stdev\":%.3f,"
           "\"pp_tokens_per_s_median\":%.3f,\"tg_tokens_per_s\":%.3f,"
           "\"tg_tokens_per_s_stdev\":%.3f,\"tg_tokens_per_s_median\":%.3f,"
           "\"latency_ms_p50\":%.4f,\"latency_ms_p95\":%.4f,\"latency_ms_p99\":%.4f,"
           "\"ttft_ms\":%.3f,\"load_ms\":%.3f,\"session_bytes\":%llu,\"peak_rss_bytes\":%llu",
           (unsigned long long)mi->size_bytes, (unsigned long long)mi->n_params, r->threads,
           r->n_prompt, r->n_gen, r->n_reps, r->pp_mean, r->pp_stdev, r->pp_median, r->tg_mean,
           r->tg_stdev, r->tg_median, r->lat_p50, r->lat_p95, r->lat_p99, r->ttft_ms,
           mi->load_ms, (unsigned long long)r->session_bytes,
           (unsigned long long)r->peak_rss_bytes);
    if (r->bw_bytes_per_s > 0 && r->n_gen > 0 && mi->size_bytes > 0) {
        const double lim = r->bw_bytes_per_s / (double)mi->size_bytes;
        printf(",\"bandwidth_bytes_per_s\":%.0f,\"bytes_per_token\":%llu,"
               "\"tg_roofline_tokens_per_s\":%.3f,\"tg_roofline_fraction\":%.4f",
               r->bw_bytes_per_s, (unsigned long long)mi->size_bytes, lim, r->tg_median / lim);
    }
    printf("}\n");
}

static void print_csv_header(void)
{
    printf("engine,model,file,arch,type,size_bytes,n_params,threads,n_prompt,n_gen,reps,"
           "pp_tokens_per_s,pp_tokens_per_s_stdev,pp_tokens_per_s_median,tg_tokens_per_s,"
           "tg_tokens_per_s_stdev,tg_tokens_per_s_median,latency_ms_p50,latency_ms_p95,"
           "latency_ms_p99,ttft_ms,load_ms,session_bytes,peak_rss_bytes\n");
}

/* CSV field: quoted, with embedded quotes doubled (RFC 4180). */
static void csv_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const model_info *mi, const test_result *r)
{
    printf("slm,");
    csv_string(mi->label);
    putchar(',');
    csv_string(mi->path);
    printf(",%s,%s,%llu,%llu,%d,%d,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%.4f,%.3f,"
           "%.3f,%llu,%llu\n",
           mi->arch, mi->type, (unsigned long long)mi->size_bytes,
           (unsigned long long)mi->n_params, r->threads, r->n_prompt, r->n_gen, r->n_reps,
           r->pp_mean, r->pp_stdev, r->pp_median, r->tg_mean, r->tg_stdev, r->tg_median,
           r->lat_p50, r->lat_p95, r->lat_p99, r->ttft_ms, mi->load_ms,
           (unsigned long long)r->session_bytes, (unsigned long long)r->peak_rss_bytes);
}

/* Markdown rows are buffered per model, because the two tables (speed and
 * latency) are printed after all tests ran. */
typedef struct md_row {
    model_info mi;
    test_result r;
} md_row;

static void human_bytes(uint64_t b, char *buf, size_t cap)
{
    double v = (double)b;
    if (v >= 1024.0 * 1024 * 1024)
        snprintf(buf, cap, "%.2f GiB", v / (1024.0 * 1024 * 1024));
    else
        snprintf(buf, cap, "%.2f MiB", v / (1024.0 * 1024));
}

static void human_count(uint64_t n, char *buf, size_t cap)
{
    double v = (double)n;
    if (v >= 1e9)
        snprintf(buf, cap, "%.2f B", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.2f M", v / 1e6);
    else
        snprintf(buf, cap, "%.2f K", v / 1e3);
}

static void print_md(const md_row *rows, size_t n)
{
    printf("| model | size | params | threads | test | t/s |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < n; i++) {
        const model_info *mi = &rows[i].mi;
        const test_result *r = &rows[i].r;
        char size[32], params[32];
        human_bytes(mi->size_bytes, size, sizeof size);
        human_count(mi->n_params, params, sizeof params);
        if (r->n_prompt > 0)
            printf("| %s | %s | %s | %d | pp%d | %.2f ± %.2f |\n", mi->label, size, params,
                   r->threads, r->n_prompt, r->pp_mean, r->pp_stdev);
        if (r->n_gen > 0) {
            char test[48];
            if (r->n_prompt > 0)
                snprintf(test, sizeof test, "tg%d @ d%d", r->n_gen, r->n_prompt);
            else
                snprintf(test, sizeof test, "tg%d", r->n_gen);
            printf("| %s | %s | %s | %d | %s | %.2f ± %.2f |\n", mi->label, size, params,
                   r->threads, test, r->tg_mean, r->tg_stdev);
        }
    }
    printf("\n| model | threads | test | ttft ms | tg p50 ms | tg p95 ms | tg p99 ms | load ms "
           "| peak RSS |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < n; i++) {
        const model_info *mi = &rows[i].mi;
        const test_result *r = &rows[i].r;
        char rss[32];
        human_bytes(r->peak_rss_bytes, rss, sizeof rss);
        printf("| %s | %d | pp%d+tg%d | %.2f | %.3f | %.3f | %.3f | %.1f | %s |\n", mi->label,
               r->threads, r->n_prompt, r->n_gen, r->ttft_ms, r->lat_p50, r->lat_p95, r->lat_p99,
               mi->load_ms, rss);
    }
    if (n == 0 || rows[0].r.bw_bytes_per_s <= 0)
        return;
    printf("\n| model | threads | test | bandwidth GB/s | bytes/token | roofline t/s | tg t/s (median) "
           "| fraction |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < n; i++) {
        const model_info *mi = &rows[i].mi;
        const test_result *r = &rows[i].r;
        if (r->n_gen == 0 || mi->size_bytes == 0)
            continue;
        const double lim = r->bw_bytes_per_s / (double)mi->size_bytes;
        char size[32];
        human_bytes(mi->size_bytes, size, sizeof size);
        printf("| %s | %d | tg%d @ d%d | %.2f | %s | %.2f | %.2f | %.1f%% |\n", mi->label, r->threads,
               r->n_gen, r->n_prompt, r->bw_bytes_per_s / 1e9, size, lim, r->tg_median,
               100.0 * r->tg_median / lim);
    }
}

/* ---- the subcommand ------------------------------------------------------ */

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.prompts = (int_list){.v = {128, 512}, .n = 2};
    o.gens = (int_list){.v = {64}, .n = 1};
    o.n_reps = 5;
    o.warmup = 1;
    o.use_mmap = 1;
    o.format = FMT_MD;
    int threads_given = 0;

    const char **models = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *models);
    if (!models) {
        fprintf(stderr, "slm bench: out of memory\n");
        return CLI_FAIL;
    }
    int n_models = 0;
    /* argv[0] is the subcommand name (cli/cli.h's convention). */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free(models);
            return CLI_OK;
        } else if (strcmp(a, "--json") == 0) {
            o.format = FMT_JSON;
        } else if (strcmp(a, "--csv") == 0) {
            o.format = FMT_CSV;
        } else if (strcmp(a, "--md") == 0) {
            o.format = FMT_MD;
        } else if (strcmp(a, "--no-warmup") == 0) {
            o.warmup = 0;
        } else if (strcmp(a, "--no-mmap") == 0) {
            o.use_mmap = 0;
        } else if (strcmp(a, "--roofline") == 0) {
            o.roofline = 1;
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--n-prompt") == 0) && has_val) {
            if (!parse_list(a, argv[++i], 0, &o.prompts))
                goto bad_args;
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0) && has_val) {
            if (!parse_list(a, argv[++i], 0, &o.gens))
                goto bad_args;
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has_val) {
            if (!parse_list(a, argv[++i], 1, &o.threads))
                goto bad_args;
            threads_given = 1;
        } else if ((strcmp(a, "-r") == 0 || strcmp(a, "--repetitions") == 0) && has_val) {
            int_list l;
            if (!parse_list(a, argv[++i], 1, &l))
                goto bad_args;
            if (l.n != 1) {
                fprintf(stderr, "slm bench: %s takes one integer >= 1, not a list\n", a);
                goto bad_args;
            }
            o.n_reps = l.v[0];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "slm bench: unknown or incomplete option '%s'\n", a);
            goto bad_args;
        } else {
            models[n_models++] = a;
        }
    }
    if (n_models == 0 && !o.roofline) {
        fprintf(stderr, "slm bench: no model given\n");
        goto bad_args;
    }
    if (!threads_given) {
        /* 1 thread and all online cores, as llama-bench's default sweep. */
        long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = (int_list){.v = {1, (int)(n_cpu > 1 ? n_cpu : 1)}, .n = n_cpu > 1 ? 2 : 1};
    }

    double bw[MAX_LIST] = {0};
    if (o.roofline) {
        for (int ti = 0; ti < o.threads.n; ti++) {
            bw[ti] = measure_bandwidth(o.threads.v[ti]);
            if (o.format == FMT_JSON)
                printf("{\"engine\":\"slm\",\"test\":\"bandwidth\",\"threads\":%d,\"buffer_bytes\":%zu,"
                       "\"reps\":%d,\"bandwidth_bytes_per_s\":%.0f}\n",
                       o.threads.v[ti], BW_BYTES, BW_REPS, bw[ti]);
            else if (o.format == FMT_MD)
                printf("%smemory read bandwidth, %d thread%s: %.2f GB/s (median of %d passes over %zu MiB)\n",
                       ti ? "" : "\n", o.threads.v[ti], o.threads.v[ti] == 1 ? "" : "s", bw[ti] / 1e9,
                       BW_REPS, BW_BYTES >> 20);
            else
                fprintf(stderr, "slm bench: bandwidth at %d threads: %.0f bytes/s\n", o.threads.v[ti], bw[ti]);
            fflush(stdout);
        }
        if (o.format == FMT_MD)
            printf("\n");
    }
    size_t n_tests = (size_t)o.threads.n * (size_t)o.prompts.n * (size_t)o.gens.n;
    md_row *rows = malloc((size_t)n_models * n_tests * sizeof *rows);
    if (!rows) {
        fprintf(stderr, "slm bench: out of memory\n");
        free(models);
        return CLI_FAIL;
    }
    size_t n_rows = 0;
    int status = CLI_OK;
    if (o.format == FMT_CSV)
        print_csv_header();

    for (int mi_idx = 0; mi_idx < n_models; mi_idx++) {
        model_info mi;
        memset(&mi, 0, sizeof mi);
        mi.path = models[mi_idx];
        slm_model_params mp = slm_model_default_params();
        mp.use_mmap = o.use_mmap;
        reset_peak_rss();
        slm_model *m = NULL;
        double t0 = now_ms();
        slm_status st = slm_model_load(mi.path, &mp, &m);
        mi.load_ms = now_ms() - t0;
        if (st != SLM_OK) {
            fprintf(stderr, "slm bench: %s: %s: %s\n", mi.path, slm_status_name(st),
                    slm_last_error());
            status = CLI_FAIL;
            continue;
        }
        fill_info(&mi, m);
        for (int ti = 0; ti < o.threads.n; ti++) {
            for (int pi = 0; pi < o.prompts.n; pi++) {
                for (int gi = 0; gi < o.gens.n; gi++) {
                    int p = o.prompts.v[pi], g = o.gens.v[gi];
                    if (p + g == 0)
                        continue;
                    test_result r;
                    if (!run_test(m, &mi, &o, o.threads.v[ti], p, g, &r)) {
                        status = CLI_FAIL;
                        continue;
                    }
                    r.bw_bytes_per_s = bw[ti];
                    if (o.format == FMT_JSON)
                        print_json(&mi, &r);
                    else if (o.format == FMT_CSV)
                        print_csv(&mi, &r);
                    else
                        rows[n_rows++] = (md_row){.mi = mi, .r = r};
                    fflush(stdout);
                }
            }
        }
        if (o.format == FMT_MD) {
            /* The arch string belongs to the model, which is freed now. */
            for (size_t k = 0; k < n_rows; k++)
                if (rows[k].mi.arch == mi.arch)
                    rows[k].mi.arch = "";
        }
        slm_model_free(m);
    }
    if (o.format == FMT_MD && n_rows > 0)
        print_md(rows, n_rows);
    free(rows);
    free(models);
    return status;

bad_args:
    usage(stderr);
    free(models);
    return CLI_USAGE;
}

/* cmd_quantize.c — `slm quantize IN OUT TYPE`: write a quantized copy of a
 * GGUF model with llama-quantize's type mixes (slm_quantize). */
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm quantize [options] IN.gguf OUT.gguf TYPE\n"
            "\n"
            "Quantize a model the way llama-quantize does (same per-tensor types, same\n"
            "tensor order). TYPE: Q4_K_M, Q4_K_S, Q5_K_M, Q5_K_S, Q3_K_S, Q3_K_M, Q3_K_L,\n"
            "Q2_K, Q2_K_S, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, F16, BF16,\n"
            "F32 (Q3_K, Q4_K, Q5_K mean the _M mixes). The input may be F32, F16, BF16 or\n"
            "already quantized (requantizing loses quality).\n"
            "\n"
            "options:\n"
            "      --imatrix FILE     importance matrix (llama.cpp legacy .dat, from `slm imatrix`)\n"
            "      --keep-output-f16  store the output head (or tied embedding) as F16\n"
            "      --pure             no mix rules: every matrix gets TYPE (with row fallbacks)\n"
            "  -t, --threads N        threads (default: all cores)\n"
            "      --progress         progress bar even when stderr is not a terminal\n"
            "      --json             print a JSON summary on stdout\n"
            "  -v, --verbose          list every tensor with its old and new type\n"
            "  -h, --help             show this help\n");
}

typedef struct prog {
    cli_progress bar;
    int verbose;   /* --verbose: also print the library's info/debug log */
} prog;

static int on_progress(uint64_t done, uint64_t total, const char *tensor, slm_type type, void *user)
{
    prog *pg = user;
    char detail[64];
    double frac = total ? (double)done / (double)total : 1.0;
    snprintf(detail, sizeof detail, "%3.0f%% %-28.28s %-6s", frac * 100.0, tensor,
             slm_type_name(type) ? slm_type_name(type) : "?");
    cli_progress_update(&pg->bar, frac, done == total, detail);
    return 0;
}

static void print_log(int level, const char *msg, void *user)
{
    prog *pg = user;
    if (level <= 1 || (pg->verbose && level <= 3)) fprintf(stderr, "%s%s\n", pg->bar.bar ? "\r" : "", msg);
}

int cmd_quantize(int argc, char **argv)
{
    slm_quantize_params p = slm_quantize_default_params();
    slm_quantize_stats stats;
    const char *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0, json = 0, force_progress = 0, verbose = 0;
    int32_t n_threads = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--imatrix", NULL)) {
            if (!(p.imatrix = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--keep-output-f16", NULL)) {
            p.keep_output_f16 = 1;
        } else if (cli_is(&a, "--pure", NULL)) {
            p.pure = 1;
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &n_threads);
        } else if (cli_is(&a, "--progress", NULL)) {
            force_progress = 1;
        } else if (cli_is(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_is(&a, "-v", "--verbose")) {
            verbose = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (n_pos < 3) {
            pos[n_pos++] = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (n_pos < 3) return cli_usage_error(a.cmd, "expected IN.gguf OUT.gguf TYPE");
    if (strcmp(pos[0], pos[1]) == 0) return cli_usage_error(a.cmd, "input and output are the same file");
    p.type = pos[2];
    p.n_threads = n_threads;
    p.stats = &stats;
    prog pg = {.verbose = verbose};
    cli_progress_init(&pg.bar, "quantize", force_progress || isatty(2));
    p.progress = on_progress;
    p.user = &pg;
    slm_set_log(print_log, &pg);
    slm_status st = slm_quantize(pos[0], pos[1], &p);
    slm_set_log(NULL, NULL);
    if (st == SLM_ERR_ARG) {
        fprintf(stderr, "slm quantize: %s\nTry 'slm quantize --help'.\n", slm_last_error());
        return CLI_USAGE;
    }
    if (st != SLM_OK) return cli_fail(a.cmd, "cannot quantize", st);
    double secs = (cli_now_ms() - pg.bar.t0) / 1e3;
    double bpw = stats.n_elements ? 8.0 * (double)stats.out_bytes / (double)stats.n_elements : 0.0;
    if (json) {
        printf("{\"in\":");
        cli_json_string(stdout, pos[0], strlen(pos[0]));
        printf(",\"out\":");
        cli_json_string(stdout, pos[1], strlen(pos[1]));
        printf(",\"type\":");
        cli_json_string(stdout, pos[2], strlen(pos[2]));
        printf(",\"in_bytes\":%llu,\"out_bytes\":%llu,\"n_elements\":%llu,\"bpw\":%.4f,\"tensors\":%d,"
               "\"converted\":%d,\"fallback\":%d,\"imatrix_tensors\":%d,\"seconds\":%.3f}\n",
               (unsigned long long)stats.in_bytes, (unsigned long long)stats.out_bytes,
               (unsigned long long)stats.n_elements, bpw, stats.n_tensors, stats.n_converted, stats.n_fallback,
               stats.n_imatrix, secs);
    }
    fprintf(stderr, "slm quantize: %s -> %s (%s): %.2f MiB -> %.2f MiB (%.2f bpw), %d tensors, %d converted, "
                    "%d fallbacks, %.1f s\n",
            pos[0], pos[1], pos[2], (double)stats.in_bytes / 1048576.0, (double)stats.out_bytes / 1048576.0, bpw,
            stats.n_tensors, stats.n_converted, stats.n_fallback, secs);
    return CLI_OK;
}

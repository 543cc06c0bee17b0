/* cmd_perplexity.c — `slm perplexity MODEL --data FILE`: llama-perplexity's
 * measurement (slm_perplexity), optionally saving log-probabilities or
 * comparing them with a base model's (KL divergence, top-1, Δppl). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm perplexity MODEL.gguf --data FILE [options]\n"
            "\n"
            "Perplexity the way llama-perplexity measures it: the text is tokenized whole,\n"
            "cut into chunks of --ctx tokens, each chunk evaluated from an empty context\n"
            "(first token replaced by BOS) and only its second half scored.\n"
            "\n"
            "options:\n"
            "      --data FILE          text to score (plain or .gz)\n"
            "  -c, --ctx N              tokens per chunk (default 512)\n"
            "      --chunks N           score at most N chunks (default: all)\n"
            "      --max-bytes N        read at most N bytes of the data file\n"
            "  -t, --threads N          threads (default: all cores)\n"
            "      --save-logits FILE   save the scored log-probabilities (for --kl-divergence;\n"
            "                           float16, half the size of float32)\n"
            "      --logits-f32         save them as float32 instead\n"
            "      --kl-divergence FILE compare with log-probabilities saved from a base model:\n"
            "                           mean/median/99th-percentile KL, top-1 agreement, Δppl\n"
            "      --json               one JSON object on stdout\n"
            "      --progress           progress bar even when stderr is not a terminal\n"
            "  -h, --help               show this help\n");
}

static int on_chunk(uint32_t chunk, uint32_t n_chunks, double ppl, void *user)
{
    char detail[64];
    snprintf(detail, sizeof detail, "%u/%u chunks, ppl %.4f", chunk, n_chunks, ppl);
    cli_progress_update(user, n_chunks ? (double)chunk / n_chunks : 1.0, chunk == n_chunks, detail);
    return 0;
}

int cmd_perplexity(int argc, char **argv)
{
    slm_perplexity_params p = slm_perplexity_default_params();
    const char *model_path = NULL, *data = NULL;
    int json = 0, force_progress = 0;
    int32_t n_ctx = 512, n_chunks = 0, n_threads = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--data", "-f")) {
            if (!(data = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-c", "--ctx")) {
            rc = cli_int(&a, 4, 1 << 20, &n_ctx);
        } else if (cli_is(&a, "--chunks", NULL)) {
            rc = cli_int(&a, 0, INT32_MAX, &n_chunks);
        } else if (cli_is(&a, "--max-bytes", NULL)) {
            rc = cli_u64(&a, &p.max_bytes);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &n_threads);
        } else if (cli_is(&a, "--logits-f32", NULL)) {
            p.save_f32 = 1;
        } else if (cli_is(&a, "--save-logits", NULL)) {
            if (!(p.save_logits = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--kl-divergence", NULL)) {
            if (!(p.kl_base = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_is(&a, "--progress", NULL)) {
            force_progress = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!model_path) {
            model_path = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!model_path) return cli_usage_error(a.cmd, "missing MODEL.gguf");
    if (!data) return cli_usage_error(a.cmd, "missing --data FILE");
    p.n_ctx = (uint32_t)n_ctx;
    p.n_chunks = (uint32_t)n_chunks;
    p.n_threads = n_threads;
    cli_progress pg;
    cli_progress_init(&pg, "perplexity", force_progress || isatty(2));
    p.progress = on_chunk;
    p.user = &pg;

    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    if (cli_load_model(a.cmd, model_path, &mp, &m) != CLI_OK) return CLI_FAIL;
    slm_perplexity_result r;
    slm_status st = slm_perplexity(m, data, &p, &r);
    slm_model_free(m);
    if (st == SLM_ERR_ARG) {
        fprintf(stderr, "slm perplexity: %s\n", slm_last_error());
        return CLI_USAGE;
    }
    if (st != SLM_OK) return cli_fail(a.cmd, "perplexity failed", st);
    double secs = (cli_now_ms() - pg.t0) / 1e3;
    if (json) {
        printf("{\"model\":");
        cli_json_string(stdout, model_path, strlen(model_path));
        printf(",\"data\":");
        cli_json_string(stdout, data, strlen(data));
        printf(",\"ppl\":%.6f,\"ppl_err\":%.6f,\"nll\":%.6f,\"nll_err\":%.6f,\"chunks\":%u,\"tokens\":%llu,"
               "\"text_tokens\":%llu,\"n_ctx\":%u,\"seconds\":%.3f",
               r.ppl, r.ppl_err, r.nll, r.nll_err, r.chunks, (unsigned long long)r.tokens,
               (unsigned long long)r.text_tokens, r.n_ctx, secs);
        if (r.has_kl)
            printf(",\"base_ppl\":%.6f,\"base_ppl_err\":%.6f,\"dppl\":%.6f,\"dppl_err\":%.6f,\"kld\":%.8f,"
                   "\"kld_err\":%.8f,\"kld_median\":%.8f,\"kld_p99\":%.8f,\"kld_max\":%.8f,\"top1\":%.6f,"
                   "\"top1_err\":%.6f",
                   r.base_ppl, r.base_ppl_err, r.dppl, r.dppl_err, r.kld, r.kld_err, r.kld_median, r.kld_p99,
                   r.kld_max, r.top1, r.top1_err);
        printf("}\n");
    } else {
        printf("perplexity: %.4f +/- %.5f  (%u chunks of %u, %llu tokens scored, %.1f s)\n", r.ppl, r.ppl_err,
               r.chunks, r.n_ctx, (unsigned long long)r.tokens, secs);
        if (r.has_kl) {
            printf("base ppl:   %.4f +/- %.5f   delta ppl: %+.4f +/- %.5f\n", r.base_ppl, r.base_ppl_err, r.dppl,
                   r.dppl_err);
            printf("mean KLD:   %.6f +/- %.6f   median %.6f   99%% %.6f   max %.6f\n", r.kld, r.kld_err,
                   r.kld_median, r.kld_p99, r.kld_max);
            printf("same top-1: %.3f%% +/- %.3f%%\n", 100.0 * r.top1, 100.0 * r.top1_err);
        }
    }
    return CLI_OK;
}

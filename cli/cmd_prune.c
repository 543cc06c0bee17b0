/* cmd_prune.c — `slm prune IN OUT --method M`: write a pruned copy of a
 * model (slm_prune: whole layers, FFN channels, attention heads, or magnitude/Wanda
 * sparsity), print size and parameter counts before and after, and with
 * --eval the perplexity and KL cost on held-out text (slm_perplexity). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm prune IN.gguf OUT.gguf --method depth|ffn|heads|magnitude|wanda [options]\n"
            "\n"
            "Prune a model. depth: drop the fraction R of layers whose output is most\n"
            "similar to their input (needs --data). ffn: drop the fraction R of FFN\n"
            "channels in every layer (activation-aware with --data). heads: drop the\n"
            "fraction R of attention heads (KV groups under GQA) in every layer, ranked\n"
            "by ||x|| x ||W_o|| of their outputs (with --data). magnitude / wanda:\n"
            "zero the fraction R of each row's weights (or N:M) with the smallest |W|\n"
            "(magnitude) or |W| x ||x|| (wanda, needs --data); stored dense.\n"
            "\n"
            "options:\n"
            "      --method M              depth, ffn, heads, magnitude or wanda\n"
            "  -r, --ratio R               fraction to remove, 0 <= R < 1 (default 0.5)\n"
            "      --sparsity-pattern N:M  keep N of every M consecutive weights (e.g. 2:4)\n"
            "      --data FILE             calibration text (plain or .gz)\n"
            "  -c, --ctx N                 tokens per chunk, calibration and --eval (default 512)\n"
            "      --chunks N              calibration chunks (default: all)\n"
            "      --eval FILE             held-out text: perplexity and KLD of OUT vs IN\n"
            "      --eval-chunks N         --eval chunks (default: all)\n"
            "  -t, --threads N             threads (default: all cores)\n"
            "      --progress              progress bar even when stderr is not a terminal\n"
            "      --json                  print a JSON summary on stdout\n"
            "  -h, --help                  show this help\n");
}

static int on_chunk(uint32_t chunk, uint32_t n_chunks, void *user)
{
    char detail[64];
    snprintf(detail, sizeof detail, "calibration %u/%u chunks", chunk, n_chunks);
    cli_progress_update(user, n_chunks ? (double)chunk / n_chunks : 1.0, chunk == n_chunks, detail);
    return 0;
}

static int eval_cost(const char *cmd, const char *in, const char *out, const char *data, uint32_t n_ctx,
                     uint32_t n_chunks, int n_threads, slm_perplexity_result *r)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.base-logp.tmp", out);
    slm_perplexity_params pp = slm_perplexity_default_params();
    pp.n_ctx = n_ctx;
    pp.n_chunks = n_chunks;
    pp.n_threads = n_threads;
    slm_model_params mp = slm_model_default_params();
    slm_model *m = NULL;
    slm_perplexity_result base;
    if (cli_load_model(cmd, in, &mp, &m) != CLI_OK) return CLI_FAIL;
    pp.save_logits = tmp;
    slm_status st = slm_perplexity(m, data, &pp, &base);
    slm_model_free(m);
    m = NULL;
    if (st != SLM_OK) return cli_fail(cmd, "--eval on the input model", st);
    if (cli_load_model(cmd, out, &mp, &m) != CLI_OK) {
        remove(tmp);
        return CLI_FAIL;
    }
    pp.save_logits = NULL;
    pp.kl_base = tmp;
    st = slm_perplexity(m, data, &pp, r);
    slm_model_free(m);
    remove(tmp);
    if (st != SLM_OK) return cli_fail(cmd, "--eval on the pruned model", st);
    return CLI_OK;
}

int cmd_prune(int argc, char **argv)
{
    slm_prune_params p = slm_prune_default_params();
    slm_prune_stats stats;
    const char *pos[2] = {NULL, NULL}, *eval = NULL;
    int n_pos = 0, json = 0, force_progress = 0;
    int32_t n_threads = 0, n_ctx = 512, n_chunks = 0, eval_chunks = 0;
    p.method = NULL;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--method", "-m")) {
            if (!(p.method = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-r", "--ratio")) {
            rc = cli_float(&a, 0.0, 0.999999, &p.ratio);
        } else if (cli_is(&a, "--sparsity-pattern", NULL)) {
            const char *v = cli_value(&a);
            if (!v) return CLI_USAGE;
            char tail;
            if (sscanf(v, "%d:%d%c", &p.pattern_n, &p.pattern_m, &tail) != 2 || p.pattern_n <= 0 ||
                p.pattern_n >= p.pattern_m || p.pattern_m > 64)
                return cli_usage_error(a.cmd, "--sparsity-pattern '%s': expected N:M with 0 < N < M <= 64", v);
        } else if (cli_is(&a, "--data", NULL)) {
            if (!(p.data = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-c", "--ctx")) {
            rc = cli_int(&a, 4, 1 << 20, &n_ctx);
        } else if (cli_is(&a, "--chunks", NULL)) {
            rc = cli_int(&a, 0, INT32_MAX, &n_chunks);
        } else if (cli_is(&a, "--eval", NULL)) {
            if (!(eval = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--eval-chunks", NULL)) {
            rc = cli_int(&a, 0, INT32_MAX, &eval_chunks);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 64, &n_threads);
        } else if (cli_is(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_is(&a, "--progress", NULL)) {
            force_progress = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (n_pos < 2) return cli_usage_error(a.cmd, "expected IN.gguf OUT.gguf");
    if (!p.method) return cli_usage_error(a.cmd, "missing --method depth|ffn|heads|magnitude|wanda");
    if (strcmp(pos[0], pos[1]) == 0) return cli_usage_error(a.cmd, "input and output are the same file");
    p.n_ctx = (uint32_t)n_ctx;
    p.n_chunks = (uint32_t)n_chunks;
    p.n_threads = n_threads;
    p.stats = &stats;
    double t0 = cli_now_ms();
    cli_progress pg;
    cli_progress_init(&pg, "prune", force_progress || isatty(2));
    p.progress = on_chunk;
    p.user = &pg;
    slm_status st = slm_prune(pos[0], pos[1], &p);
    if (st == SLM_ERR_ARG) {
        fprintf(stderr, "slm prune: %s\nTry 'slm prune --help'.\n", slm_last_error());
        return CLI_USAGE;
    }
    if (st != SLM_OK) return cli_fail(a.cmd, "cannot prune", st);
    double secs = (cli_now_ms() - t0) / 1e3;
    slm_perplexity_result r;
    memset(&r, 0, sizeof r);
    if (eval) {
        int rc = eval_cost(a.cmd, pos[0], pos[1], eval, (uint32_t)n_ctx, (uint32_t)eval_chunks, n_threads, &r);
        if (rc != CLI_OK) return rc;
    }
    double sparsity = stats.n_pruned_elems ? (double)stats.n_zeroed / (double)stats.n_pruned_elems : 0.0;
    if (json) {
        printf("{\"in\":");
        cli_json_string(stdout, pos[0], strlen(pos[0]));
        printf(",\"out\":");
        cli_json_string(stdout, pos[1], strlen(pos[1]));
        printf(",\"method\":");
        cli_json_string(stdout, p.method, strlen(p.method));
        printf(",\"ratio\":%.6f,\"pattern\":\"%d:%d\",\"in_bytes\":%llu,\"out_bytes\":%llu,\"params_in\":%llu,"
               "\"params_out\":%llu,\"zeroed\":%llu,\"sparsity\":%.6f,\"n_layer_in\":%u,\"n_layer_out\":%u,"
               "\"n_ff_in\":%u,\"n_ff_out\":%u,\"n_head_in\":%u,\"n_head_out\":%u,\"n_head_kv_in\":%u,"
               "\"n_head_kv_out\":%u,\"seconds\":%.3f",
               (double)p.ratio, p.pattern_n, p.pattern_m, (unsigned long long)stats.in_bytes,
               (unsigned long long)stats.out_bytes, (unsigned long long)stats.n_params_in,
               (unsigned long long)stats.n_params_out, (unsigned long long)stats.n_zeroed, sparsity,
               stats.n_layer_in, stats.n_layer_out, stats.n_ff_in, stats.n_ff_out, stats.n_head_in,
               stats.n_head_out, stats.n_head_kv_in, stats.n_head_kv_out, secs);
        printf(",\"removed_layers\":[");
        for (uint32_t i = 0; i < stats.n_removed_layers && i < 64; i++)
            printf("%s%d", i ? "," : "", stats.removed_layers[i]);
        printf("]");
        if (eval && r.has_kl)
            printf(",\"base_ppl\":%.6f,\"ppl\":%.6f,\"ppl_err\":%.6f,\"dppl\":%.6f,\"kld\":%.8f,\"kld_err\":%.8f,"
                   "\"top1\":%.6f",
                   r.base_ppl, r.ppl, r.ppl_err, r.dppl, r.kld, r.kld_err, r.top1);
        printf("}\n");
    }
    FILE *o = json ? stderr : stdout;
    fprintf(o, "slm prune: %s -> %s (%s): %.3f MiB -> %.3f MiB, %llu -> %llu parameters", pos[0], pos[1], p.method,
            (double)stats.in_bytes / 1048576.0, (double)stats.out_bytes / 1048576.0,
            (unsigned long long)stats.n_params_in, (unsigned long long)stats.n_params_out);
    if (stats.n_pruned_elems)
        fprintf(o, " (%llu set to zero: %.2f%% of the pruned matrices, %llu nonzero left)",
                (unsigned long long)stats.n_zeroed, 100.0 * sparsity,
                (unsigned long long)(stats.n_params_out - stats.n_zeroed));
    fprintf(o, ", layers %u -> %u, n_ff %u -> %u", stats.n_layer_in, stats.n_layer_out, stats.n_ff_in,
            stats.n_ff_out);
    if (stats.n_head_out != stats.n_head_in)
        fprintf(o, ", heads %u -> %u (kv %u -> %u)", stats.n_head_in, stats.n_head_out, stats.n_head_kv_in,
                stats.n_head_kv_out);
    fprintf(o, ", %.1f s\n", secs);
    if (stats.n_removed_layers) {
        fprintf(o, "removed layers:");
        for (uint32_t i = 0; i < stats.n_removed_layers && i < 64; i++)
            fprintf(o, " %d (cos %.4f)", stats.removed_layers[i], stats.removed_layers[i] < 64 ? stats.layer_score[stats.removed_layers[i]] : 0.0);
        fprintf(o, "\n");
    }
    if (eval)
        fprintf(o, "eval: ppl %.4f -> %.4f +/- %.4f (delta %+.4f), mean KLD %.6f +/- %.6f, same top-1 %.2f%%\n",
                r.base_ppl, r.ppl, r.ppl_err, r.dppl, r.kld, r.kld_err, 100.0 * r.top1);
    return CLI_OK;
}

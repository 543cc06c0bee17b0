/* cmd_gen_model.c — `slm gen-model`: write a random-weight GGUF with the
 * shape of a real model (slm_gen_model), for benchmarks and tests. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm gen-model (--shape NAME | --arch NAME --dims E,L,H,HKV,FF,V) [options] -o FILE\n"
            "\n"
            "Write a GGUF with random weights (normal, std 0.02; norms 1) and a synthetic\n"
            "byte-level vocabulary. The same seed gives the same file.\n"
            "\n"
            "options:\n"
            "      --shape NAME    SmolLM2-135M, Qwen2.5-0.5B, Llama-3.2-1B, Gemma-2-2B,\n"
            "                      Phi-3-mini, or tiny\n"
            "      --arch NAME     llama, qwen2, qwen3, gemma2 or phi3 (with --dims)\n"
            "      --dims LIST     n_embd,n_layer,n_head,n_head_kv,n_ff,n_vocab\n"
            "      --ctx N         context length stored in the file (default: the shape's)\n"
            "      --type TYPE     F32, F16 (default), BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,\n"
            "                      Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, or a mix:\n"
            "                      Q4_K_M, Q4_K_S, Q5_K_M, Q5_K_S, Q3_K_M, Q6_K_M\n"
            "      --seed S        random seed (default 1)\n"
            "  -t, --threads N     quantization threads (default: all cores)\n"
            "  -o, --out FILE      output file\n"
            "  -h, --help          show this help\n");
}

/* Progress and warnings from the library go to stderr. */
static void print_log(int level, const char *msg, void *user)
{
    (void)user;
    if (level <= 2) fprintf(stderr, "%s\n", msg);
}

static int parse_dims(const char *cmd, const char *s, slm_gen_params *p)
{
    uint32_t *f[6] = {&p->n_embd, &p->n_layer, &p->n_head, &p->n_head_kv, &p->n_ff, &p->n_vocab};
    const char *q = s;
    for (int i = 0; i < 6; i++) {
        char *end;
        unsigned long v = strtoul(q, &end, 10);
        if (end == q || v == 0 || v > UINT32_MAX || (i < 5 ? *end != ',' : *end != '\0'))
            return cli_usage_error(cmd, "--dims '%s': expected six positive integers "
                                        "n_embd,n_layer,n_head,n_head_kv,n_ff,n_vocab", s);
        *f[i] = (uint32_t)v;
        q = end + 1;
    }
    return CLI_OK;
}

int cmd_gen_model(int argc, char **argv)
{
    slm_gen_params p = slm_gen_default_params();
    const char *out = NULL, *type = NULL, *dims = NULL;
    int32_t n_ctx = -1, n_threads = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--shape", NULL)) {
            if (!(p.shape = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--arch", NULL)) {
            if (!(p.arch = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--dims", NULL)) {
            if (!(dims = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--ctx", "-c")) {
            rc = cli_int(&a, 1, INT32_MAX, &n_ctx);
        } else if (cli_is(&a, "--type", NULL)) {
            if (!(type = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--seed", "-s")) {
            rc = cli_u64(&a, &p.seed);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &n_threads);
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!out) return cli_usage_error(a.cmd, "missing -o FILE");
    if (p.shape && (p.arch || dims))
        return cli_usage_error(a.cmd, "give either --shape or --arch with --dims, not both");
    if (!p.shape && !(p.arch && dims))
        return cli_usage_error(a.cmd, "give --shape NAME, or --arch NAME with --dims");
    if (dims && parse_dims(a.cmd, dims, &p)) return CLI_USAGE;
    if (n_ctx > 0) p.n_ctx = (uint32_t)n_ctx;
    if (n_threads > 0) p.n_threads = n_threads;
    if (type) {
        slm_type t;
        if (slm_type_from_name(type, &t) == SLM_OK) {
            p.type = t;
            p.mix = NULL;
        } else {
            p.mix = type; /* the library knows the mixes; it rejects unknown names */
        }
    }
    double t0 = cli_now_ms();
    slm_set_log(print_log, NULL);
    slm_status st = slm_gen_model(&p, out);
    slm_set_log(NULL, NULL);
    if (st == SLM_ERR_ARG) {
        const char *d = slm_last_error();
        fprintf(stderr, "slm gen-model: %s\nTry 'slm gen-model --help'.\n", d[0] ? d : "bad parameters");
        return CLI_USAGE;
    }
    if (st != SLM_OK) return cli_fail(a.cmd, "cannot generate the model", st);
    fprintf(stderr, "slm gen-model: wrote %s in %.1f s\n", out, (cli_now_ms() - t0) / 1e3);
    return CLI_OK;
}

/* cmd_logits.c — `slm logits`: evaluate a token sequence as one batch and
 * write every position's logits, n_tokens x n_vocab little-endian float32
 * (row i = logits predicting the token after token i), the layout of the
 * llama.cpp reference files in ../shared/testdata. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm logits MODEL --tokens \"ID ID ...\" --out FILE [options]\n"
            "\n"
            "Evaluate the tokens as one batch (positions 0..n-1) and write the logits of\n"
            "every position to FILE as n x n_vocab little-endian float32.\n"
            "\n"
            "options:\n"
            "      --tokens \"ID ...\"   token ids, separated by spaces or commas\n"
            "  -o, --out FILE          output file\n"
            "  -t, --threads N         compute threads (default: all cores)\n"
            "      --kv-type f16|f32   KV cache type (default f32)\n"
            "  -h, --help              show this help\n");
}

/* Parse "1 2, 3" into a malloc'd array; returns CLI_OK or CLI_USAGE. */
static int parse_ids(const char *cmd, const char *s, int32_t **out, size_t *n_out)
{
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return CLI_FAIL;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno == ERANGE || v < 0 || v > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            free(ids);
            return cli_usage_error(cmd, "--tokens: '%.20s' is not a token id (expected integers >= 0)", p);
        }
        if (n == cap) {
            cap *= 2;
            int32_t *ni = realloc(ids, cap * sizeof *ni);
            if (!ni) {
                free(ids);
                return CLI_FAIL;
            }
            ids = ni;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n == 0) {
        free(ids);
        return cli_usage_error(cmd, "--tokens: no token ids given");
    }
    *out = ids;
    *n_out = n;
    return CLI_OK;
}

static int is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

int cmd_logits(int argc, char **argv)
{
    const char *model_path = NULL, *tokens = NULL, *out_path = NULL;
    int32_t n_threads = 0;
    slm_type kv_type = SLM_TYPE_F32;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--tokens", NULL)) {
            if (!(tokens = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--out", "-o")) {
            if (!(out_path = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-t", "--threads")) {
            if (cli_int(&a, 1, 1024, &n_threads)) return CLI_USAGE;
        } else if (cli_is(&a, "--kv-type", NULL)) {
            if (cli_kv_type(&a, &kv_type)) return CLI_USAGE;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!model_path) {
            model_path = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
    }
    if (!model_path) return cli_usage_error(a.cmd, "missing MODEL");
    if (!tokens) return cli_usage_error(a.cmd, "missing --tokens");
    if (!out_path) return cli_usage_error(a.cmd, "missing --out");

    int32_t *ids = NULL;
    size_t n = 0;
    int rc = parse_ids(a.cmd, tokens, &ids, &n);
    if (rc) return rc;

    slm_model *m = NULL;
    slm_session *s = NULL;
    FILE *f = NULL;
    float *row_le = NULL;
    rc = CLI_FAIL;
    slm_model_params mp = slm_model_default_params();
    if (n_threads > 0) mp.n_threads = n_threads;
    if (cli_load_model(a.cmd, model_path, &mp, &m) != CLI_OK) goto done;
    slm_session_params sp = slm_session_default_params();
    sp.kv_type = kv_type;
    sp.logits_all = 1;
    sp.n_batch = (uint32_t)n;
    if (n_threads > 0) sp.n_threads = n_threads;
    if ((uint32_t)n > 4096 || (int64_t)n > slm_model_n_ctx_train(m)) sp.n_ctx = (uint32_t)n;
    slm_status st = slm_session_new(m, &sp, &s);
    if (st != SLM_OK) {
        cli_fail(a.cmd, "cannot create a session", st);
        goto done;
    }
    st = slm_session_decode(s, ids, n, NULL);
    if (st != SLM_OK) {
        cli_fail(a.cmd, "evaluation failed", st);
        goto done;
    }
    int32_t n_vocab = slm_model_n_vocab(m);
    if (!(f = fopen(out_path, "wb"))) {
        fprintf(stderr, "slm logits: cannot create '%s': %s\n", out_path, strerror(errno));
        goto done;
    }
    if (!is_little_endian() && !(row_le = malloc((size_t)n_vocab * sizeof *row_le))) {
        fprintf(stderr, "slm logits: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const float *row = slm_session_logits(s, i);
        if (!row) {
            fprintf(stderr, "slm logits: no logits for position %zu of %zu\n", i, n);
            goto done;
        }
        if (row_le) {
            for (int32_t j = 0; j < n_vocab; j++) {
                uint32_t u;
                memcpy(&u, &row[j], 4);
                u = (u >> 24) | ((u >> 8) & 0xFF00u) | ((u << 8) & 0xFF0000u) | (u << 24);
                memcpy(&row_le[j], &u, 4);
            }
            row = row_le;
        }
        if (fwrite(row, sizeof(float), (size_t)n_vocab, f) != (size_t)n_vocab) {
            fprintf(stderr, "slm logits: cannot write '%s': %s\n", out_path, strerror(errno));
            goto done;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        fprintf(stderr, "slm logits: cannot write '%s': %s\n", out_path, strerror(errno));
        goto done;
    }
    f = NULL;
    fprintf(stderr, "slm logits: wrote %zu x %d float32 to %s\n", n, n_vocab, out_path);
    rc = CLI_OK;
done:
    if (f) fclose(f);
    free(row_le);
    free(ids);
    slm_session_free(s);
    slm_model_free(m);
    return rc;
}

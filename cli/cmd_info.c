/* cmd_info.c — `slm info`: print slm_model_describe as text or JSON. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm info MODEL [--ctx N] [--json] [--vocab-only]\n"
            "\n"
            "Describe a model: architecture, hyperparameters, tensor types, tokenizer\n"
            "and the memory a session needs.\n"
            "\n"
            "options:\n"
            "  -c, --ctx N       context length for the memory estimate (default: trained length)\n"
            "      --json        print one JSON object\n"
            "      --vocab-only  read only the metadata and tokenizer (vocabulary GGUFs)\n"
            "  -h, --help        show this help\n");
}

int cmd_info(int argc, char **argv)
{
    const char *model_path = NULL;
    int32_t n_ctx = 0;
    int json = 0, vocab_only = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--ctx", "-c")) {
            if (cli_int(&a, 0, INT32_MAX, &n_ctx)) return CLI_USAGE;
        } else if (cli_is(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_is(&a, "--vocab-only", NULL)) {
            vocab_only = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!model_path) {
            model_path = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
    }
    if (!model_path) return cli_usage_error(a.cmd, "missing MODEL");

    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = vocab_only;
    if (cli_load_model(a.cmd, model_path, &mp, &m) != CLI_OK) return CLI_FAIL;
    size_t need = slm_model_describe(m, (uint32_t)n_ctx, json, NULL, 0);
    char *buf = malloc(need + 1);
    if (!buf) {
        fprintf(stderr, "slm info: out of memory (%zu bytes)\n", need + 1);
        slm_model_free(m);
        return CLI_FAIL;
    }
    slm_model_describe(m, (uint32_t)n_ctx, json, buf, need + 1);
    fputs(buf, stdout);
    if (need == 0 || buf[need - 1] != '\n') fputc('\n', stdout);
    free(buf);
    slm_model_free(m);
    return CLI_OK;
}

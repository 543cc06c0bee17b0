/* cmd_template.c — `slm template render`: render a chat template (Jinja, as
 * transformers' apply_chat_template does) with the variables of a JSON file
 * and write the exact bytes to stdout. The template comes from a file or
 * from a model's tokenizer.chat_template. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm template render (TEMPLATE.jinja | --model MODEL) --context CONTEXT.json\n"
            "\n"
            "Render a chat template with the variables of CONTEXT.json (a JSON object:\n"
            "messages, add_generation_prompt, bos_token, eos_token, tools, ...) and write\n"
            "the exact rendered bytes to stdout (no newline is added). The template is a\n"
            "Jinja file, or the tokenizer.chat_template of MODEL. A template error\n"
            "(including raise_exception) is printed to stderr and the exit code is 1.\n"
            "\n"
            "options:\n"
            "      --context FILE  the variables as a JSON object ('-' = stdin); default {}\n"
            "  -m, --model MODEL   use the model's own chat template\n"
            "  -h, --help          show this help\n");
}

static int render(int argc, char **argv)
{
    const char *tmpl_path = NULL, *ctx_path = NULL, *model_path = NULL;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--context", NULL)) {
            if (!(ctx_path = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--model", "-m")) {
            if (!(model_path = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!tmpl_path) {
            tmpl_path = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
    }
    if (!tmpl_path && !model_path) return cli_usage_error(a.cmd, "missing TEMPLATE.jinja (or --model MODEL)");
    if (tmpl_path && model_path) return cli_usage_error(a.cmd, "give TEMPLATE.jinja or --model, not both");

    int rc = CLI_FAIL;
    char *tmpl_file = NULL, *ctx = NULL, *out = NULL;
    slm_model *m = NULL;
    const char *tmpl;
    size_t tmpl_len = 0, ctx_len = 0, out_len = 0;
    if (model_path) {
        slm_model_params mp = slm_model_default_params();
        mp.vocab_only = 1;
        if (cli_load_model(a.cmd, model_path, &mp, &m) != CLI_OK) goto done;
        slm_status st = slm_model_chat_template(m, &tmpl);
        if (st != SLM_OK) {
            cli_fail(a.cmd, model_path, st);
            goto done;
        }
        tmpl_len = strlen(tmpl);
    } else {
        if (!(tmpl_file = cli_read_file(tmpl_path, &tmpl_len))) {
            fprintf(stderr, "slm %s: cannot read %s\n", a.cmd, tmpl_path);
            goto done;
        }
        tmpl = tmpl_file;
    }
    if (ctx_path) {
        if (!(ctx = cli_read_file(ctx_path, &ctx_len))) {
            fprintf(stderr, "slm %s: cannot read %s\n", a.cmd, ctx_path);
            goto done;
        }
    }
    slm_status st = slm_chat_template_render(tmpl, tmpl_len, ctx ? ctx : "{}", ctx ? ctx_len : 2, &out, &out_len);
    if (st != SLM_OK) {
        fprintf(stderr, "slm %s: %s: %s\n", a.cmd, model_path ? model_path : tmpl_path, slm_last_error());
        goto done;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        fprintf(stderr, "slm %s: write error\n", a.cmd);
        goto done;
    }
    rc = CLI_OK;
done:
    slm_chat_free(out);
    free(ctx);
    free(tmpl_file);
    slm_model_free(m);
    return rc;
}

int cmd_template(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (!strcmp(argv[1], "render")) {
        argv[1] = "template render";
        return render(argc - 1, argv + 1);
    }
    return cli_usage_error("template", "unknown subcommand '%s' (expected 'render')", argv[1]);
}

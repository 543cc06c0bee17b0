/* cmd_grammar.c — `slm grammar`: tools around constrained decoding.
 *   slm grammar from-schema SCHEMA.json   print the GBNF of a JSON Schema
 *   slm grammar check GRAMMAR [--text F]  compile a GBNF file (errors with
 *                                         line:column); with --text, say
 *                                         whether F's bytes match it
 * Generation itself is `slm run --grammar / --json-schema`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm grammar from-schema SCHEMA.json\n"
            "       slm grammar check GRAMMAR.gbnf [--text FILE] [--root NAME]\n"
            "\n"
            "from-schema  print the GBNF grammar slm uses for a JSON Schema (what\n"
            "             `slm run --json-schema` constrains the output to)\n"
            "check        compile a GBNF grammar (llama.cpp's format); errors give\n"
            "             line:column. With --text, exit 0 if FILE's bytes ('-' = stdin)\n"
            "             are a complete match, 1 (and where it stops) if not.\n"
            "\n"
            "options:\n"
            "      --text FILE  text to match against the grammar\n"
            "      --root NAME  start rule (default root)\n"
            "  -h, --help       show this help\n"
            "Exit codes: 0 ok, 1 no match / conversion refused, 2 usage or malformed grammar.\n");
}

static int from_schema(const char *cmd, const char *path)
{
    size_t n = 0;
    char *text = cli_read_file(path, &n);
    if (!text) {
        fprintf(stderr, "slm %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
        return CLI_USAGE;
    }
    char *gbnf = NULL;
    slm_status st = slm_json_schema_to_grammar(text, n, &gbnf);
    free(text);
    if (st != SLM_OK) {
        fprintf(stderr, "slm %s: %s: %s\n", cmd, path, slm_last_error());
        return st == SLM_ERR_FORMAT ? CLI_USAGE : CLI_FAIL;
    }
    fputs(gbnf, stdout);
    slm_grammar_text_free(gbnf);
    return CLI_OK;
}

static int check(const char *cmd, const char *path, const char *text_path, const char *root)
{
    size_t n = 0, tn = 0;
    char *src = cli_read_file(path, &n), *text = NULL;
    if (!src) {
        fprintf(stderr, "slm %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
        return CLI_USAGE;
    }
    slm_grammar *g = NULL;
    slm_status st = slm_grammar_new(NULL, src, n, root, &g);
    free(src);
    if (st != SLM_OK) {
        fprintf(stderr, "slm %s: %s: %s\n", cmd, path, slm_last_error());
        return st == SLM_ERR_NOMEM ? CLI_FAIL : CLI_USAGE;
    }
    int rc = CLI_OK;
    if (text_path) {
        if (!(text = cli_read_file(text_path, &tn))) {
            fprintf(stderr, "slm %s: cannot read '%s': %s\n", cmd, text_path, strerror(errno));
            rc = CLI_USAGE;
        } else if ((st = slm_grammar_accept_text(g, text, tn)) != SLM_OK) {
            printf("no match: %s\n", slm_last_error());
            rc = CLI_FAIL;
        } else if (!slm_grammar_can_end(g)) {
            printf("no match: the text is an incomplete prefix of a match\n");
            rc = CLI_FAIL;
        } else {
            printf("match\n");
        }
    } else {
        printf("ok\n");
    }
    free(text);
    slm_grammar_free(g);
    return rc;
}

int cmd_grammar(int argc, char **argv)
{
    cli_args a;
    const char *sub = NULL, *file = NULL, *text = NULL, *root = NULL;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--text", NULL)) {
            if (!(text = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--root", NULL)) {
            if (!(root = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!sub) {
            sub = a.arg;
        } else if (!file) {
            file = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
    }
    if (!sub) return cli_usage_error(a.cmd, "missing subcommand (from-schema or check)");
    if (strcmp(sub, "from-schema") == 0) {
        if (!file) return cli_usage_error(a.cmd, "from-schema needs SCHEMA.json");
        if (text || root) return cli_usage_error(a.cmd, "--text and --root belong to check");
        return from_schema(a.cmd, file);
    }
    if (strcmp(sub, "check") == 0) {
        if (!file) return cli_usage_error(a.cmd, "check needs GRAMMAR.gbnf");
        return check(a.cmd, file, text, root);
    }
    return cli_usage_error(a.cmd, "unknown subcommand '%s' (from-schema or check)", sub);
}

/* cmd_tokenize.c — `slm tokenize`: the token ids of a text, with their pieces.
 * Loads only the vocabulary (vocab_only), so vocabulary-only GGUFs work. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm tokenize MODEL (--text TEXT | --file FILE) [options]\n"
            "\n"
            "Print the tokens of a text, one per line as ID<TAB>'PIECE' (escaped).\n"
            "\n"
            "options:\n"
            "      --text TEXT       the text to tokenize\n"
            "      --file FILE       read the text from FILE (- = standard input)\n"
            "      --ids             print only the ids, space-separated on one line\n"
            "      --no-bos          do not add BOS/EOS (default: as the vocabulary says)\n"
            "      --parse-special   recognise special tokens written as text (e.g. <s>)\n"
            "  -h, --help            show this help\n");
}

/* 'piece' with \\, \', \n, \t, \r escaped, other control bytes and invalid
 * UTF-8 as \xNN; valid UTF-8 characters as they are. */
static void print_piece(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    putchar('\'');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = cli_utf8_valid_len(s + i, n - i);
        if (c == '\\' || c == '\'') printf("\\%c", c), k = 1;
        else if (c == '\n') fputs("\\n", stdout), k = 1;
        else if (c == '\t') fputs("\\t", stdout), k = 1;
        else if (c == '\r') fputs("\\r", stdout), k = 1;
        else if (k == 0 || c < 0x20 || c == 0x7F) printf("\\x%02x", c), k = 1;
        else fwrite(s + i, 1, k, stdout);
        i += k;
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model_path = NULL, *text = NULL, *file = NULL;
    int ids_only = 0, no_bos = 0, parse_special = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--text", "-p")) {
            if (!(text = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--file", "-f")) {
            if (!(file = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--ids", NULL)) {
            ids_only = 1;
        } else if (cli_is(&a, "--no-bos", NULL)) {
            no_bos = 1;
        } else if (cli_is(&a, "--parse-special", NULL)) {
            parse_special = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!model_path) {
            model_path = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
    }
    if (!model_path) return cli_usage_error(a.cmd, "missing MODEL");
    if (!text == !file) return cli_usage_error(a.cmd, "give exactly one of --text and --file");

    char *buf = NULL;
    size_t len;
    if (file) {
        if (!(buf = cli_read_file(file, &len))) {
            fprintf(stderr, "slm tokenize: cannot read '%s': %s\n", file, strerror(errno));
            return CLI_FAIL;
        }
        text = buf;
    } else {
        len = strlen(text);
    }

    int rc = CLI_FAIL;
    slm_model *m = NULL;
    int32_t *ids = NULL;
    char *piece = NULL;
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    if (cli_load_model(a.cmd, model_path, &mp, &m) != CLI_OK) goto done;

    size_t cap = len + 8, n = 0;
    slm_status st;
    if (!(ids = malloc(cap * sizeof *ids))) goto nomem;
    st = slm_tokenize(m, text, len, !no_bos, parse_special, ids, cap, &n);
    if (st == SLM_ERR_FULL) {
        free(ids);
        cap = n;
        if (!(ids = malloc(cap * sizeof *ids))) goto nomem;
        st = slm_tokenize(m, text, len, !no_bos, parse_special, ids, cap, &n);
    }
    if (st != SLM_OK) {
        cli_fail(a.cmd, "tokenization failed", st);
        goto done;
    }
    if (ids_only) {
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        putchar('\n');
    } else {
        size_t pcap = 256;
        if (!(piece = malloc(pcap))) goto nomem;
        for (size_t i = 0; i < n; i++) {
            size_t k = slm_token_to_piece(m, ids[i], 1, piece, pcap);
            if (k > pcap) {
                free(piece);
                pcap = k;
                if (!(piece = malloc(pcap))) goto nomem;
                k = slm_token_to_piece(m, ids[i], 1, piece, pcap);
            }
            printf("%d\t", ids[i]);
            print_piece(piece, k);
            putchar('\n');
        }
    }
    rc = CLI_OK;
    goto done;
nomem:
    fprintf(stderr, "slm tokenize: out of memory\n");
done:
    free(piece);
    free(ids);
    free(buf);
    slm_model_free(m);
    return rc;
}

/* cmd_tokenizer.c — `slm tokenizer train`: learn a tokenizer from text files
 * and write it as a vocabulary-only GGUF (slm_tokenizer_train). Progress
 * ("merges k/N") and a summary line go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm tokenizer train --vocab N --data FILE [FILE...] -o TOKENIZER.gguf [options]\n"
            "\n"
            "Train a tokenizer on text files (plain or .gz) and write a vocabulary-only GGUF\n"
            "that `slm tokenize` and model files use. Documents are separated by\n"
            "<|endoftext|> (not text); whitespace at their ends is dropped.\n"
            "\n"
            "options:\n"
            "      --vocab N         total vocabulary size (default 4096; spm >= 260, bpe >= 258)\n"
            "      --data FILE...    training text; repeatable; further plain arguments are files too\n"
            "  -o, --output FILE     the GGUF to write\n"
            "      --type spm|bpe    spm (default): SentencePiece-style BPE with byte fallback, like\n"
            "                        llama2.c's tok512; bpe: byte-level BPE (GPT-2 style, merges)\n"
            "      --max-bytes M     read at most M bytes of text over all files (0 = all)\n"
            "      --dna             DNA sequences: one per line (the longest A/C/G/T/N field of a\n"
            "                        CSV/TSV row; FASTA '>' lines skipped), split at N, no space\n"
            "                        prefix (spm only)\n"
            "  -q, --quiet           no progress\n"
            "  -h, --help            show this help\n");
}

typedef struct progress {
    int quiet;
    int line_open; /* a "\rmerges k/N" line waits for its newline */
    double start_ms, last_ms;
} progress;

static void on_progress(uint32_t done, uint32_t total, void *user)
{
    progress *p = user;
    if (p->quiet) return;
    double now = cli_now_ms();
    if (done < total && now - p->last_ms < 100) return;
    p->last_ms = now;
    fprintf(stderr, "\rslm tokenizer: merges %u/%u", done, total);
    p->line_open = 1;
    fflush(stderr);
}

static int train(int argc, char **argv)
{
    slm_tokenizer_train_params p = slm_tokenizer_train_default_params();
    const char *out = NULL;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    size_t n_files = 0;
    int32_t n_vocab = (int32_t)p.n_vocab;
    int rc = CLI_USAGE;
    progress prog = {0};
    if (!files) return cli_fail("tokenizer", "arguments", SLM_ERR_NOMEM);
    cli_args a;
    cli_args_init(&a, argc, argv);
    a.cmd = "tokenizer train";
    while (cli_next(&a)) {
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            rc = CLI_OK;
            goto done;
        } else if (cli_is(&a, "--vocab", "--vocab-size")) {
            if (cli_int(&a, 1, 1 << 24, &n_vocab)) goto done;
        } else if (cli_is(&a, "--data", NULL)) {
            const char *v = cli_value(&a);
            if (!v) goto done;
            files[n_files++] = v;
        } else if (cli_is(&a, "-o", "--output")) {
            if (!(out = cli_value(&a))) goto done;
        } else if (cli_is(&a, "--type", NULL)) {
            const char *v = cli_value(&a);
            if (!v) goto done;
            if (strcmp(v, "spm") != 0 && strcmp(v, "bpe") != 0) {
                rc = cli_usage_error(a.cmd, "--type must be spm or bpe, not '%s'", v);
                goto done;
            }
            p.type = v;
        } else if (cli_is(&a, "--max-bytes", NULL)) {
            if (cli_u64(&a, &p.max_bytes)) goto done;
        } else if (cli_is(&a, "--dna", NULL)) {
            p.dna = 1;
        } else if (cli_is(&a, "-q", "--quiet")) {
            prog.quiet = 1;
        } else if (cli_is_flag(&a)) {
            rc = cli_unknown(&a);
            goto done;
        } else {
            files[n_files++] = a.arg;
        }
    }
    if (n_files == 0) {
        rc = cli_usage_error(a.cmd, "no training text (--data FILE)");
        goto done;
    }
    if (!out) {
        rc = cli_usage_error(a.cmd, "no output file (-o TOKENIZER.gguf)");
        goto done;
    }
    p.n_vocab = (uint32_t)n_vocab;
    p.progress = on_progress;
    p.user = &prog;
    prog.start_ms = prog.last_ms = cli_now_ms();
    slm_tokenizer_train_stats s;
    slm_status st = slm_tokenizer_train(&p, files, n_files, out, &s);
    if (prog.line_open) fputc('\n', stderr);
    if (st != SLM_OK) {
        rc = st == SLM_ERR_ARG ? (fprintf(stderr, "slm tokenizer train: %s\n", slm_last_error()),
                                  CLI_USAGE)
                               : cli_fail("tokenizer train", "training", st);
        goto done;
    }
    double secs = (cli_now_ms() - prog.start_ms) / 1000.0;
    fprintf(stderr,
            "slm tokenizer: %s vocabulary of %u tokens (%u characters%s, %u merges) from %llu "
            "bytes: %llu documents, %llu words (%llu distinct); %.2f s -> %s\n",
            p.type, s.n_tokens, s.n_chars, s.n_chars_dropped ? ", some left to byte fallback" : "",
            s.n_merges, (unsigned long long)s.bytes_read, (unsigned long long)s.n_docs,
            (unsigned long long)s.n_words, (unsigned long long)s.n_unique_words, secs, out);
    if (s.n_tokens < p.n_vocab)
        fprintf(stderr, "slm tokenizer: the text ran out of pairs: %u tokens, not %u\n", s.n_tokens,
                p.n_vocab);
    rc = CLI_OK;
done:
    free(files);
    return rc;
}

int cmd_tokenizer(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "train") == 0) return train(argc - 1, argv + 1);
    fprintf(stderr, "slm tokenizer: unknown action '%s' (expected train)\n", argv[1]);
    return CLI_USAGE;
}

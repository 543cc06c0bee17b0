/* cmd_train.c — `slm train`: train a llama-architecture model from text
 * (slm_train) and save it as a GGUF. Options come from the command line
 * and from --config files (one "name value" or "name=value" per line, the
 * long option names without "--", '#' comments), in order, so later
 * options override earlier ones. Progress: a bar on a terminal (or with
 * --progress), else one plain line every --log-every steps. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm train --data FILE... --tokenizer TOK.gguf -o MODEL.gguf [options]\n"
            "\n"
            "Train a llama-architecture model (F32, AdamW, warmup + cosine schedule) on text\n"
            "files (plain or .gz; documents cut at <|endoftext|> and blank lines) and save\n"
            "it as a GGUF that `slm run` loads. The tokenizer is a GGUF with tokenizer.*\n"
            "keys (e.g. from `slm tokenizer train`). Deterministic for a seed and thread count.\n"
            "\n"
            "data:\n"
            "      --data FILE...       training text (repeatable; several files may follow)\n"
            "      --val FILE           validation text (repeatable)\n"
            "      --tokenizer FILE     tokenizer GGUF (its vocabulary size is the model's)\n"
            "  -o, --out FILE           output model\n"
            "model (defaults 128 4 4 4 384 256):\n"
            "      --config FILE        read options from FILE (later flags override)\n"
            "      --dim N  --layers N  --heads N  --kv-heads N  --ff N  --ctx N\n"
            "      --untied             separate output matrix (default: tied to embeddings)\n"
            "optimisation:\n"
            "      --batch B            sequences per micro-batch (default 8)\n"
            "      --accum K            micro-batches per step (default 1)\n"
            "      --steps N            optimizer steps (default 1000)\n"
            "      --lr X               peak learning rate (default 1e-3)\n"
            "      --min-lr-frac X      final lr as a fraction of peak (default 0.1)\n"
            "      --warmup N           linear warmup steps (default 100)\n"
            "      --weight-decay X     AdamW decoupled weight decay (default 0.1)\n"
            "      --clip X             max global gradient norm, 0 = off (default 1)\n"
            "      --seed S             init and data order (default 1234)\n"
            "  -t, --threads N          threads (default: all cores)\n"
            "run:\n"
            "      --eval-every K       validation loss every K steps (default: at the end)\n"
            "      --eval-batches N     validation micro-batches (default 8)\n"
            "      --checkpoint FILE    save params + optimizer state here\n"
            "      --checkpoint-every N steps between checkpoints (default 200)\n"
            "      --resume FILE        continue a checkpoint bit-exactly (its settings win;\n"
            "                           --steps N may extend the run; N = the steps\n"
            "                           already done writes the model without training)\n"
            "      --svg FILE           loss curve (default: MODEL.gguf with .svg)\n"
            "      --progress           progress bar even when stderr is not a terminal\n"
            "      --log-every N        plain progress line every N steps (default 10)\n"
            "      --json               print a JSON summary on stdout at the end\n"
            "  -h, --help               show this help\n"
            "environment:\n"
            "  SLM_TRAIN_PROFILE=FILE   write per-phase times of the training steps to FILE\n"
            "  SLM_TRAIN_BLAS=0         our own matrix loops instead of OpenBLAS (A/B)\n");
}

typedef struct opts {
    slm_train_params p;
    const char **data, **val;
    size_t n_data, n_val;
    const char *tok, *out, *svg;
    cli_train_log log; /* progress: bar, --log-every */
    int json;
    int depth;           /* --config nesting */
    cli_config *configs; /* the --config files read (their words are option values) */
} opts;

static int push(const char ***list, size_t *n, const char *s)
{
    const char **nl = realloc((void *)*list, (*n + 1) * sizeof *nl);
    if (!nl) return 0;
    nl[(*n)++] = s;
    *list = nl;
    return 1;
}

static int parse(opts *o, int argc, char **argv, int from_file);

/* Read a config file into an argv of "--name value" pairs and parse it.
 * The strings stay alive for the whole run (file paths point into them). */
static int parse_config(opts *o, const char *cmd, const char *path)
{
    if (o->depth > 4) return cli_usage_error(cmd, "--config nested too deeply at '%s'", path);
    int ac = 0;
    char **av = NULL;
    int rc = cli_config_read(cmd, path, &o->configs, &ac, &av);
    if (rc) return rc;
    o->depth++;
    rc = parse(o, ac, av, 1);
    o->depth--;
    return rc; /* the words stay alive in o->configs: values point into them */
}

static int parse(opts *o, int argc, char **argv, int from_file)
{
    slm_train_params *p = &o->p;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (!from_file && cli_is(&a, "-h", "--help")) {
            usage(stdout);
            exit(CLI_OK);
        } else if (cli_is(&a, "--data", NULL) || cli_is(&a, "--val", NULL)) {
            const int is_val = strcmp(a.opt, "--val") == 0;
            const char *f = cli_value(&a);
            if (!f) return CLI_USAGE;
            if (!push(is_val ? &o->val : &o->data, is_val ? &o->n_val : &o->n_data, f))
                return CLI_FAIL;
            /* further non-option words are more files */
            while (!a.eq && a.i + 1 < a.argc && a.argv[a.i + 1][0] != '-') {
                a.i++;
                if (!push(is_val ? &o->val : &o->data, is_val ? &o->n_val : &o->n_data,
                          a.argv[a.i]))
                    return CLI_FAIL;
            }
        } else if (cli_is(&a, "--tokenizer", NULL)) {
            if (!(o->tok = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(o->out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--svg", NULL)) {
            if (!(o->svg = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--config", NULL)) {
            const char *f = cli_value(&a);
            if (!f) return CLI_USAGE;
            if ((rc = parse_config(o, a.cmd, f))) return rc;
        } else if (cli_train_option(&a, p, &rc)) {
            /* model shape and optimiser: cli/train_opts.c */
        } else if (cli_is(&a, "--progress", NULL)) {
            o->log.bar = 1;
        } else if (cli_is(&a, "--log-every", NULL)) {
            rc = cli_int(&a, 1, INT32_MAX, &o->log.log_every);
        } else if (cli_is(&a, "--json", NULL)) {
            o->json = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    return CLI_OK;
}

static int run_train(opts *o, int argc, char **argv)
{
    int rc = parse(o, argc, argv, 0);
    if (rc) return rc;
    if (!o->n_data) return cli_usage_error("train", "missing --data FILE");
    if (!o->tok) return cli_usage_error("train", "missing --tokenizer FILE");
    if (!o->out) return cli_usage_error("train", "missing -o MODEL.gguf");
    o->log.bar = o->log.bar || isatty(2);
    char svg[4096];
    if (!o->svg) {
        size_t n = strlen(o->out);
        if (n > 5 && strcmp(o->out + n - 5, ".gguf") == 0) n -= 5;
        snprintf(svg, sizeof svg, "%.*s.svg", (int)n, o->out);
        o->svg = svg;
    }
    o->p.loss_svg = o->svg;
    o->p.progress = cli_train_progress;
    o->p.user = &o->log;
    slm_train_stats stats;
    slm_status st = slm_train(&o->p, o->tok, o->data, o->n_data, o->val, o->n_val, o->out, &stats);
    if (st != SLM_OK) {
        return cli_fail("train", "training failed", st);
    }
    char el[32];
    cli_fmt_time(el, sizeof el, stats.elapsed_s);
    fprintf(stderr,
            "slm train: wrote %s (%llu parameters, %llu tokens seen of %llu, %s); final loss %.4f, "
            "validation %.4f (perplexity %.2f); loss curve %s\n",
            o->out, (unsigned long long)stats.n_params, (unsigned long long)stats.tokens_seen,
            (unsigned long long)stats.n_train_tokens, el, stats.final_loss, stats.final_val_loss,
            exp(stats.final_val_loss), o->svg);
    if (o->json)
        printf("{\"model\":\"%s\",\"n_params\":%llu,\"train_tokens\":%llu,\"val_tokens\":%llu,"
               "\"tokens_seen\":%llu,\"final_loss\":%.6f,\"final_val_loss\":%.6f,"
               "\"elapsed_s\":%.3f}\n",
               o->out, (unsigned long long)stats.n_params, (unsigned long long)stats.n_train_tokens,
               (unsigned long long)stats.n_val_tokens, (unsigned long long)stats.tokens_seen,
               stats.final_loss, isnan(stats.final_val_loss) ? -1.0 : stats.final_val_loss,
               stats.elapsed_s);
    return CLI_OK;
}

int cmd_train(int argc, char **argv)
{
    opts o = {.p = slm_train_default_params(), .log = {.log_every = 10}};
    int rc = run_train(&o, argc, argv);
    free((void *)o.data);
    free((void *)o.val);
    cli_config_free(o.configs);
    return rc;
}

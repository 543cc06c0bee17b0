/* cmd_dna.c — `slm dna SUB ...`: the genomic language model (issue 8).
 * pretrain, finetune, predict, embed, score, generate and tokenizer live
 * here; bench is cli/cmd_dna_bench.c. Each subcommand takes --help; usage
 * errors exit 2, runtime errors 1. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- shared helpers ---- */

static int push(const char ***list, size_t *n, const char *s)
{
    const char **nl = realloc((void *)*list, (*n + 1) * sizeof *nl);
    if (!nl) return 0;
    nl[(*n)++] = s;
    *list = nl;
    return 1;
}

/* ---- pretrain ---- */

static void pretrain_usage(FILE *f)
{
    fprintf(f,
            "usage: slm dna pretrain --fasta FILE... -o BASE.gguf [options]\n"
            "\n"
            "Causal language-model pretraining on genome sequence: random windows of the\n"
            "sequence (both strands: reverse complement with probability 0.5), windows with\n"
            "too many N redrawn, the last --val-bases held out for validation. Reuses the\n"
            "training engine of `slm train` (F32, AdamW, warmup + cosine) and writes a llama\n"
            "GGUF that `slm run` and `slm logits` load. Checkpoints (default BASE.gguf.ckpt)\n"
            "let a long run continue bit-exactly with --resume.\n"
            "\n"
            "data:\n"
            "      --fasta FILE...      FASTA/FASTQ, plain, .gz or .xz (repeatable)\n"
            "      --tokenizer T        nuc (default), kmer:K (K=3..6) or a tokenizer .gguf\n"
            "                           (e.g. from `slm tokenizer train --dna`)\n"
            "      --val-bases N        held-out bases at the end (default 1000000, at most 1/5)\n"
            "      --max-bases N        read at most N bases per file (default all)\n"
            "      --rc-prob X          reverse-complement probability (default 0.5)\n"
            "      --max-n-frac X       redraw windows with more N than this (default 0.1)\n"
            "  -o, --out FILE           output model\n"
            "model (defaults 128 4 4 4 384 256):\n"
            "      --config FILE        read options from FILE (\"name value\" lines)\n"
            "      --dim N  --layers N  --heads N  --kv-heads N  --ff N  --ctx N\n"
            "      --untied             separate output matrix (default: tied)\n"
            "optimisation:\n"
            "      --batch B (8)  --accum K (1)  --steps N (2000)  --lr X (1e-3)\n"
            "      --min-lr-frac X (0.1)  --warmup N (100)  --weight-decay X (0.1)\n"
            "      --clip X (1)  --seed S (1234)  -t, --threads N (all cores)\n"
            "run:\n"
            "      --eval-every K       validation loss every K steps (default: at the end)\n"
            "      --eval-batches N     validation micro-batches (default 8)\n"
            "      --checkpoint FILE    checkpoint path (default OUT.ckpt)\n"
            "      --checkpoint-every N steps between checkpoints (default 200)\n"
            "      --resume CKPT        continue a checkpoint (its settings win; --steps may\n"
            "                           extend the run)\n"
            "      --svg FILE           loss curve (default: OUT with .svg)\n"
            "      --progress           progress bar even when stderr is not a terminal\n"
            "      --log-every N        plain progress line every N steps (default 10)\n"
            "      --json               JSON summary on stdout\n"
            "  -h, --help               show this help\n");
}

typedef struct pt_opts {
    slm_dna_pretrain_params p;
    const char **fasta;
    size_t n_fasta;
    const char *out, *svg;
    int bar, json, help;
    int32_t log_every;
    int depth;
    cli_config *configs; /* the --config files read (their words are option values) */
} pt_opts;

static int pt_parse(pt_opts *o, int argc, char **argv, int from_file);

static int pt_config(pt_opts *o, const char *cmd, const char *path)
{
    if (o->depth > 4) return cli_usage_error(cmd, "--config nested too deeply at '%s'", path);
    int ac = 0;
    char **av = NULL;
    int rc = cli_config_read(cmd, path, &o->configs, &ac, &av);
    if (rc) return rc;
    o->depth++;
    rc = pt_parse(o, ac, av, 1);
    o->depth--;
    return rc; /* the words stay alive in o->configs: values point into them */
}

static int pt_parse(pt_opts *o, int argc, char **argv, int from_file)
{
    slm_train_params *p = &o->p.train;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (!from_file && cli_is(&a, "-h", "--help")) {
            o->help = 1;
            return CLI_OK;
        } else if (cli_is(&a, "--fasta", NULL)) {
            const char *f = cli_value(&a);
            if (!f) return CLI_USAGE;
            if (!push(&o->fasta, &o->n_fasta, f)) return CLI_FAIL;
            while (!a.eq && a.i + 1 < a.argc && a.argv[a.i + 1][0] != '-') {
                a.i++;
                if (!push(&o->fasta, &o->n_fasta, a.argv[a.i])) return CLI_FAIL;
            }
        } else if (cli_is(&a, "--tokenizer", NULL)) {
            if (!(o->p.tokenizer = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--val-bases", NULL)) {
            rc = cli_u64(&a, &o->p.val_bases);
        } else if (cli_is(&a, "--max-bases", NULL)) {
            rc = cli_u64(&a, &o->p.max_bases);
        } else if (cli_is(&a, "--rc-prob", NULL)) {
            rc = cli_float(&a, 0, 1, &o->p.rc_prob);
        } else if (cli_is(&a, "--max-n-frac", NULL)) {
            rc = cli_float(&a, 0, 1, &o->p.max_n_frac);
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(o->out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--svg", NULL)) {
            if (!(o->svg = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--config", NULL)) {
            const char *f = cli_value(&a);
            if (!f) return CLI_USAGE;
            if ((rc = pt_config(o, a.cmd, f))) return rc;
        } else if (cli_train_option(&a, p, &rc)) {
            /* model shape and optimiser: cli/train_opts.c */
        } else if (cli_is(&a, "--progress", NULL)) {
            o->bar = 1;
        } else if (cli_is(&a, "--log-every", NULL)) {
            rc = cli_int(&a, 1, INT32_MAX, &o->log_every);
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

static void pt_free(pt_opts *o)
{
    cli_config_free(o->configs);
    free((void *)o->fasta);
}

static int dna_pretrain(int argc, char **argv)
{
    pt_opts o = {.p = slm_dna_pretrain_default_params(), .log_every = 10};
    int rc = pt_parse(&o, argc, argv, 0);
    if (!rc && o.help) {
        pretrain_usage(stdout);
        pt_free(&o);
        return CLI_OK;
    }
    if (!rc && !o.n_fasta) rc = cli_usage_error(argv[0], "missing --fasta FILE");
    if (!rc && !o.out) rc = cli_usage_error(argv[0], "missing -o BASE.gguf");
    if (rc) {
        pt_free(&o);
        return rc;
    }
    o.bar = o.bar || isatty(2);
    char svg[4096], ckpt[4096];
    if (!o.svg) {
        size_t n = strlen(o.out);
        if (n > 5 && strcmp(o.out + n - 5, ".gguf") == 0) n -= 5;
        snprintf(svg, sizeof svg, "%.*s.svg", (int)n, o.out);
        o.svg = svg;
    }
    if (!o.p.train.checkpoint) {
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out);
        o.p.train.checkpoint = ckpt;
    }
    o.p.train.loss_svg = o.svg;
    cli_train_log lg = {.bar = o.bar, .log_every = o.log_every, .tokens = 1};
    o.p.train.progress = cli_train_progress; /* shared with slm train / distill: cli/train_opts.c */
    o.p.train.user = &lg;
    slm_train_stats stats;
    slm_status st = slm_dna_pretrain(&o.p, o.fasta, o.n_fasta, o.out, &stats);
    if (st != SLM_OK) {
        pt_free(&o);
        return cli_fail(argv[0], "pretraining failed", st);
    }
    char el[32];
    cli_fmt_time(el, sizeof el, stats.elapsed_s);
    fprintf(stderr,
            "slm dna pretrain: wrote %s (%llu parameters, %llu tokens seen, %llu training bases, "
            "%s); final loss %.4f, validation %.4f; loss curve %s, checkpoint %s\n",
            o.out, (unsigned long long)stats.n_params, (unsigned long long)stats.tokens_seen,
            (unsigned long long)stats.n_train_tokens, el, stats.final_loss,
            stats.final_val_loss, o.svg, o.p.train.checkpoint);
    if (o.json)
        printf("{\"model\":\"%s\",\"n_params\":%llu,\"train_bases\":%llu,\"val_bases\":%llu,"
               "\"tokens_seen\":%llu,\"final_loss\":%.6f,\"final_val_loss\":%.6f,"
               "\"elapsed_s\":%.3f}\n",
               o.out, (unsigned long long)stats.n_params, (unsigned long long)stats.n_train_tokens,
               (unsigned long long)stats.n_val_tokens, (unsigned long long)stats.tokens_seen,
               stats.final_loss, isnan(stats.final_val_loss) ? -1.0 : stats.final_val_loss,
               stats.elapsed_s);
    pt_free(&o);
    return CLI_OK;
}

/* ---- finetune ---- */

typedef struct ft_ui {
    int bar, json;
    double last_ms;
} ft_ui;

static int ft_progress(int epoch, int n_epochs, uint64_t done, uint64_t total, float loss,
                       float dev_mcc, void *user)
{
    ft_ui *u = user;
    const double now = cli_now_ms();
    const int end = !isnan(dev_mcc) || (epoch > 0 && done == total);
    if (epoch == 0) { /* probe features */
        if (u->bar)
            fprintf(stderr, "\rfeatures %llu/%llu\033[K", (unsigned long long)done,
                    (unsigned long long)total);
        else if (now - u->last_ms > 5000 || done == total) {
            fprintf(stderr, "slm dna finetune: features %llu/%llu\n", (unsigned long long)done,
                    (unsigned long long)total);
            u->last_ms = now;
        }
        if (u->bar && done == total) fputc('\n', stderr);
        return 0;
    }
    char mcc[32] = "";
    if (!isnan(dev_mcc)) snprintf(mcc, sizeof mcc, " dev MCC %.4f", dev_mcc);
    if (u->bar) {
        const int width = 24, fill = total ? (int)((double)done / (double)total * width) : 0;
        fprintf(stderr, "\repoch %d/%d [%.*s%*s] %llu/%llu loss %.4f%s\033[K", epoch, n_epochs,
                fill, "########################", width - fill, "", (unsigned long long)done,
                (unsigned long long)total, loss, mcc);
        if (*mcc) fputc('\n', stderr);
    } else if (*mcc || now - u->last_ms > 5000) {
        fprintf(stderr, "slm dna finetune: epoch %d/%d %llu/%llu loss %.4f%s\n", epoch, n_epochs,
                (unsigned long long)done, (unsigned long long)total, loss, mcc);
        u->last_ms = now;
    }
    (void)end;
    fflush(stderr);
    return 0;
}

static int dna_finetune(int argc, char **argv)
{
    slm_dna_finetune_opts o = slm_dna_finetune_default_opts();
    const char *model = NULL, *train = NULL, *dev = NULL, *out = NULL;
    int epochs_set = 0, lr_head_set = 0, patience_set = 0;
    ft_ui ui = {0};
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            printf("usage: slm dna finetune --model BASE.gguf --train TRAIN.csv[.gz] --dev DEV.csv[.gz]\n"
                   "                        -o CLF.gguf [options]\n\n"
                   "Fine-tune a gLM for sequence classification: a linear head on the pooled final\n"
                   "hidden states, trained with cross-entropy (AdamW, warmup + cosine), full\n"
                   "fine-tuning through the transformer or --probe (frozen base). The epoch with\n"
                   "the best dev MCC is kept; training stops after --patience epochs without a\n"
                   "better one. Files: CSV `sequence,label` (plain or gzip). The head is stored\n"
                   "in the GGUF (cls.weight, cls.bias, dna.n_class, dna.pooling).\n\n"
                   "      --model FILE      base gLM (slm dna pretrain)\n"
                   "      --train FILE      training CSV\n"
                   "      --dev FILE        dev CSV for early stopping (optional)\n"
                   "  -o, --out FILE        classifier GGUF\n"
                   "      --probe           frozen base, head only (linear probe)\n"
                   "      --pool mean|last  pooling (default mean)\n"
                   "      --epochs N        default 3 (probe: 30)\n"
                   "      --patience P      default 2 (probe: 10)\n"
                   "      --lr X            base learning rate (default 1e-3)\n"
                   "      --lr-head X       head learning rate (default 3e-2; probe 1e-2)\n"
                   "      --batch B         sequences per step (default 16)\n"
                   "      --max-train N     use a seeded subset of N training rows\n"
                   "      --rc-augment      reverse-complement training rows with p 0.5 (only\n"
                   "                        for strand-symmetric labels)\n"
                   "      --seed S          default 42\n"
                   "  -t, --threads N       default all cores\n"
                   "      --progress        progress bar even when stderr is not a terminal\n"
                   "      --json            JSON summary on stdout\n");
            return CLI_OK;
        } else if (cli_is(&a, "--model", "-m")) {
            if (!(model = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--train", NULL)) {
            if (!(train = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--dev", NULL)) {
            if (!(dev = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--probe", NULL)) {
            o.probe = 1;
        } else if (cli_is(&a, "--pool", NULL)) {
            const char *v = cli_value(&a);
            if (!v) return CLI_USAGE;
            if (!strcmp(v, "mean")) o.pool_last = 0;
            else if (!strcmp(v, "last")) o.pool_last = 1;
            else return cli_usage_error(a.cmd, "--pool '%s': expected mean or last", v);
        } else if (cli_is(&a, "--epochs", NULL)) {
            rc = cli_int(&a, 1, 100000, &o.epochs), epochs_set = 1;
        } else if (cli_is(&a, "--patience", NULL)) {
            rc = cli_int(&a, 0, 100000, &o.patience), patience_set = 1;
        } else if (cli_is(&a, "--lr", NULL)) {
            rc = cli_float(&a, 1e-9, 10, &o.lr);
        } else if (cli_is(&a, "--lr-head", NULL)) {
            rc = cli_float(&a, 1e-9, 10, &o.lr_head), lr_head_set = 1;
        } else if (cli_is(&a, "--batch", NULL)) {
            rc = cli_int(&a, 1, 4096, &o.batch);
        } else if (cli_is(&a, "--rc-augment", NULL)) {
            o.rc_augment = 1;
        } else if (cli_is(&a, "--max-train", NULL)) {
            rc = cli_u64(&a, &o.max_train);
        } else if (cli_is(&a, "--seed", "-s")) {
            rc = cli_u64(&a, &o.seed);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &o.n_threads);
        } else if (cli_is(&a, "--progress", NULL)) {
            ui.bar = 1;
        } else if (cli_is(&a, "--json", NULL)) {
            ui.json = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!model) return cli_usage_error(argv[0], "missing --model BASE.gguf");
    if (!train) return cli_usage_error(argv[0], "missing --train FILE");
    if (!out) return cli_usage_error(argv[0], "missing -o CLF.gguf");
    if (o.probe && !epochs_set) o.epochs = 30;
    if (o.probe && !lr_head_set) o.lr_head = 1e-2f;
    if (o.probe && !patience_set) o.patience = 10;
    ui.bar = ui.bar || isatty(2);
    ui.last_ms = cli_now_ms();
    o.progress = ft_progress;
    o.user = &ui;
    slm_dna_finetune_result r;
    slm_status st = slm_dna_finetune_csv(&o, model, train, dev, out, &r);
    if (st != SLM_OK) return cli_fail(argv[0], "fine-tuning failed", st);
    char el[32];
    cli_fmt_time(el, sizeof el, r.elapsed_s);
    fprintf(stderr,
            "slm dna finetune: wrote %s (%s, %llu parameters, %d epochs, best epoch %d, dev MCC "
            "%.4f, %s)\n",
            out, o.probe ? "probe" : "full", (unsigned long long)r.n_params, r.epochs_run,
            r.best_epoch, r.best_dev_mcc, el);
    if (ui.json)
        printf("{\"model\":\"%s\",\"mode\":\"%s\",\"n_params\":%llu,\"epochs_run\":%d,"
               "\"best_epoch\":%d,\"best_dev_mcc\":%.6f,\"final_train_loss\":%.6f,"
               "\"train_tokens\":%llu,\"elapsed_s\":%.3f}\n",
               out, o.probe ? "probe" : "full", (unsigned long long)r.n_params, r.epochs_run,
               r.best_epoch, isnan(r.best_dev_mcc) ? -2.0 : r.best_dev_mcc, r.final_train_loss,
               (unsigned long long)r.train_tokens, r.elapsed_s);
    return CLI_OK;
}

/* ---- predict ---- */

static int dna_predict(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    int json = 0;
    int32_t threads = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            printf("usage: slm dna predict --model CLF.gguf --data FILE [--json] [-t N]\n\n"
                   "Class probabilities of every sequence of a CSV (`sequence,label`, plain or\n"
                   "gzip) or FASTA/FASTQ file. TSV on stdout: index, predicted label, p_0 ..\n"
                   "p_{K-1}, and the true label when the file has one; --json: one object per\n"
                   "line with the same fields.\n");
            return CLI_OK;
        } else if (cli_is(&a, "--model", "-m")) {
            if (!(model = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--data", NULL)) {
            if (!(data = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &threads);
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!model) return cli_usage_error(argv[0], "missing --model CLF.gguf");
    if (!data) return cli_usage_error(argv[0], "missing --data FILE");
    size_t n = 0;
    int32_t K = 0, *label = NULL;
    float *proba = NULL;
    slm_status st = slm_dna_predict_csv(model, data, threads, &n, &K, &proba, &label);
    if (st != SLM_OK) return cli_fail(argv[0], "prediction failed", st);
    const int labelled = n && label[0] >= 0;
    if (!json) {
        printf("index\tpred");
        for (int c = 0; c < K; c++) printf("\tp_%d", c);
        printf(labelled ? "\tlabel\n" : "\n");
    }
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * (size_t)K;
        int best = 0;
        for (int c = 1; c < K; c++)
            if (p[c] > p[best]) best = c;
        correct += labelled && best == label[i];
        if (json) {
            printf("{\"index\":%zu,\"pred\":%d,\"proba\":[", i, best);
            for (int c = 0; c < K; c++) printf(c ? ",%.6g" : "%.6g", p[c]);
            printf("]");
            if (labelled) printf(",\"label\":%d", label[i]);
            printf("}\n");
        } else {
            printf("%zu\t%d", i, best);
            for (int c = 0; c < K; c++) printf("\t%.6g", p[c]);
            if (labelled) printf("\t%d", label[i]);
            printf("\n");
        }
    }
    if (labelled && n)
        fprintf(stderr, "slm dna predict: %zu sequences, accuracy %.4f\n", n,
                (double)correct / (double)n);
    slm_dna_free(proba);
    slm_dna_free(label);
    return CLI_OK;
}

/* ---- embed ---- */

static int dna_embed(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL, *format = NULL;
    int pool_last = 0;
    int32_t threads = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            printf("usage: slm dna embed --model M.gguf --data FILE [-o OUT] [--format tsv|npy]\n"
                   "                     [--pool mean|last] [-t N]\n\n"
                   "Pooled final hidden states (n_embd floats) of every sequence of a CSV or\n"
                   "FASTA/FASTQ file. tsv (default; stdout without -o): name (FASTA record name or\n"
                   "CSV label) then the vector; npy: a float32 [n, n_embd] NumPy array (needs -o;\n"
                   "default when OUT ends in .npy).\n");
            return CLI_OK;
        } else if (cli_is(&a, "--model", "-m")) {
            if (!(model = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--data", NULL)) {
            if (!(data = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--format", NULL)) {
            if (!(format = cli_value(&a))) return CLI_USAGE;
            if (strcmp(format, "tsv") && strcmp(format, "npy"))
                return cli_usage_error(a.cmd, "--format '%s': expected tsv or npy", format);
        } else if (cli_is(&a, "--pool", NULL)) {
            const char *v = cli_value(&a);
            if (!v) return CLI_USAGE;
            if (!strcmp(v, "mean")) pool_last = 0;
            else if (!strcmp(v, "last")) pool_last = 1;
            else return cli_usage_error(a.cmd, "--pool '%s': expected mean or last", v);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &threads);
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!model) return cli_usage_error(argv[0], "missing --model M.gguf");
    if (!data) return cli_usage_error(argv[0], "missing --data FILE");
    if (!format) {
        const size_t n = out ? strlen(out) : 0;
        format = n > 4 && !strcmp(out + n - 4, ".npy") ? "npy" : "tsv";
    }
    if (!strcmp(format, "npy") && !out)
        return cli_usage_error(argv[0], "--format npy needs -o FILE.npy");
    size_t n = 0;
    int dim = 0;
    float *vec = NULL;
    char **names = NULL;
    slm_status st = slm_dna_embed_file(model, data, pool_last, threads, &n, &dim, &vec, &names);
    if (st != SLM_OK) return cli_fail(argv[0], "embedding failed", st);
    FILE *f = out ? fopen(out, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "slm %s: cannot write '%s'\n", argv[0], out);
        slm_dna_free(vec);
        slm_dna_free_names(names, n);
        return CLI_FAIL;
    }
    int ok = 1;
    if (!strcmp(format, "npy")) {
        /* NPY 1.0: magic, version, header length, dict padded so data starts at 64k */
        char hdr[128];
        int hl = snprintf(hdr, sizeof hdr,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", n,
                          dim);
        int total = 10 + hl + 1;
        int pad = (64 - total % 64) % 64;
        const unsigned short len = (unsigned short)(hl + pad + 1);
        ok &= fwrite("\x93NUMPY\x01\x00", 1, 8, f) == 8;
        const unsigned char lb[2] = {(unsigned char)(len & 0xff), (unsigned char)(len >> 8)};
        ok &= fwrite(lb, 1, 2, f) == 2;
        ok &= fwrite(hdr, 1, (size_t)hl, f) == (size_t)hl;
        for (int i = 0; i < pad; i++) ok &= fputc(' ', f) != EOF;
        ok &= fputc('\n', f) != EOF;
        ok &= fwrite(vec, sizeof(float), n * (size_t)dim, f) == n * (size_t)dim;
    } else {
        for (size_t i = 0; i < n; i++) {
            fputs(names ? names[i] : "", f);
            for (int j = 0; j < dim; j++) fprintf(f, "\t%.6g", vec[i * (size_t)dim + j]);
            fputc('\n', f);
        }
    }
    if (out) ok &= fclose(f) == 0;
    slm_dna_free(vec);
    slm_dna_free_names(names, n);
    if (!ok) {
        fprintf(stderr, "slm %s: write error on '%s'\n", argv[0], out ? out : "stdout");
        return CLI_FAIL;
    }
    if (out) fprintf(stderr, "slm dna embed: %zu vectors of %d floats -> %s\n", n, dim, out);
    return CLI_OK;
}

/* ---- score ---- */

static char *revcomp_copy(const char *s)
{
    size_t n = strlen(s);
    char *r = malloc(n + 1);
    if (!r) return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[n - 1 - i];
        switch (c) {
        case 'A': case 'a': c = 'T'; break;
        case 'T': case 't': c = 'A'; break;
        case 'C': case 'c': c = 'G'; break;
        case 'G': case 'g': c = 'C'; break;
        default: c = 'N'; break;
        }
        r[i] = c;
    }
    r[n] = 0;
    return r;
}

static int dna_score(int argc, char **argv)
{
    const char *model = NULL, *ref = NULL, *alt = NULL;
    int both = 0, json = 0;
    int32_t threads = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            printf("usage: slm dna score --model BASE.gguf --ref SEQ [--alt SEQ] [--both-strands]\n"
                   "                     [--json] [-t N]\n\n"
                   "Zero-shot variant effect: log-likelihood (natural log, summed over tokens) of\n"
                   "the reference and alternative sequences under a gLM, and the log-likelihood\n"
                   "ratio LLR = logL(alt) - logL(ref) (negative: the variant looks less like the\n"
                   "genome the model learned). --both-strands averages each with its reverse\n"
                   "complement.\n");
            return CLI_OK;
        } else if (cli_is(&a, "--model", "-m")) {
            if (!(model = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--ref", NULL)) {
            if (!(ref = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--alt", NULL)) {
            if (!(alt = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--both-strands", NULL)) {
            both = 1;
        } else if (cli_is(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &threads);
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!model) return cli_usage_error(argv[0], "missing --model BASE.gguf");
    if (!ref) return cli_usage_error(argv[0], "missing --ref SEQ");
    const char *seqs[2] = {ref, alt};
    double ll[2] = {0, 0};
    size_t nt[2] = {0, 0};
    for (int k = 0; k < (alt ? 2 : 1); k++) {
        slm_status st = slm_dna_loglik(model, seqs[k], threads, &ll[k], &nt[k]);
        if (st == SLM_ERR_ARG) {
            fprintf(stderr, "slm %s: %s: %s\n", argv[0], k ? "--alt" : "--ref", slm_last_error());
            return CLI_USAGE;
        }
        if (st != SLM_OK) return cli_fail(argv[0], "scoring failed", st);
        if (both) {
            char *rc = revcomp_copy(seqs[k]);
            if (!rc) return CLI_FAIL;
            double l2 = 0;
            st = slm_dna_loglik(model, rc, threads, &l2, NULL);
            free(rc);
            if (st != SLM_OK) return cli_fail(argv[0], "scoring failed", st);
            ll[k] = 0.5 * (ll[k] + l2);
        }
    }
    if (json) {
        printf("{\"ref_loglik\":%.6f,\"ref_tokens\":%zu", ll[0], nt[0]);
        if (alt) printf(",\"alt_loglik\":%.6f,\"alt_tokens\":%zu,\"llr\":%.6f", ll[1], nt[1],
                        ll[1] - ll[0]);
        printf(",\"both_strands\":%s}\n", both ? "true" : "false");
    } else {
        printf("ref\tloglik %.6f\ttokens %zu\n", ll[0], nt[0]);
        if (alt) {
            printf("alt\tloglik %.6f\ttokens %zu\n", ll[1], nt[1]);
            printf("LLR\t%.6f\n", ll[1] - ll[0]);
        }
    }
    return CLI_OK;
}

/* ---- generate ---- */

static int dna_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = "";
    int32_t n = 100, threads = 0;
    slm_sampler_params sp = slm_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            printf("usage: slm dna generate --model BASE.gguf [--prompt SEQ] -n N [--seed S]\n"
                   "                        [--temp X] [--top-k K] [-t N]\n\n"
                   "Sample a DNA sequence from a gLM (plain ancestral sampling at temperature 1\n"
                   "by default; special tokens are never drawn). Prints the prompt followed by\n"
                   "the N sampled tokens as one line. Deterministic for a seed.\n");
            return CLI_OK;
        } else if (cli_is(&a, "--model", "-m")) {
            if (!(model_path = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--prompt", "-p")) {
            if (!(prompt = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-n", "--n-predict")) {
            rc = cli_int(&a, 0, 1 << 24, &n);
        } else if (cli_is(&a, "--seed", "-s")) {
            rc = cli_u64(&a, &sp.seed);
        } else if (cli_is(&a, "--temp", NULL)) {
            rc = cli_float(&a, 0, 100, &sp.temperature);
        } else if (cli_is(&a, "--top-k", NULL)) {
            rc = cli_int(&a, 0, 1 << 20, &sp.top_k);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &threads);
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!model_path) return cli_usage_error(argv[0], "missing --model BASE.gguf");
    for (const char *q = prompt; *q; q++)
        if (!strchr("ACGTNacgtn", *q))
            return cli_usage_error(argv[0], "--prompt: '%c' is not A, C, G, T or N", *q);
    slm_model_params mp = slm_model_default_params();
    slm_model *m = NULL;
    if (cli_load_model(argv[0], model_path, &mp, &m) != CLI_OK) return CLI_FAIL;
    const int32_t V = slm_model_n_vocab(m);
    const int32_t n_ctx = slm_model_n_ctx_train(m);
    size_t plen = strlen(prompt);
    char *up = malloc(plen + 1);
    int32_t *ids = malloc((plen + 2) * sizeof *ids);
    float *masked = malloc((size_t)V * sizeof *masked);
    unsigned char *special = calloc((size_t)V, 1);
    slm_session *s = NULL;
    slm_sampler *smp = NULL;
    int rc = CLI_FAIL;
    if (!up || !ids || !masked || !special) goto done;
    for (size_t i = 0; i < plen; i++) up[i] = (char)(prompt[i] & ~0x20);
    up[plen] = 0;
    for (int32_t t = 0; t < V; t++) { /* control tokens render as "" */
        char buf[16];
        special[t] = slm_token_to_piece(m, t, 0, buf, sizeof buf) == 0;
    }
    size_t n_ids = 0;
    slm_status st = slm_tokenize(m, up, plen, 1, 0, ids, plen + 2, &n_ids);
    if (st != SLM_OK) {
        cli_fail(argv[0], "tokenizing the prompt", st);
        goto done;
    }
    slm_session_params sp2 = slm_session_default_params();
    sp2.n_threads = threads;
    if ((st = slm_session_new(m, &sp2, &s)) != SLM_OK ||
        (st = slm_sampler_new(&sp, &smp)) != SLM_OK) {
        cli_fail(argv[0], "creating the session", st);
        goto done;
    }
    const float *logits = NULL;
    if ((st = slm_session_decode(s, ids, n_ids, &logits)) != SLM_OK) {
        cli_fail(argv[0], "evaluating the prompt", st);
        goto done;
    }
    fputs(up, stdout);
    for (int32_t i = 0; i < n; i++) {
        if (slm_session_n_past(s) >= (uint32_t)n_ctx) {
            /* slide: restart from BOS + the last half context of generated text */
            fprintf(stderr, "slm %s: context of %d tokens full after %d tokens; stopping\n",
                    argv[0], n_ctx, i);
            break;
        }
        for (int32_t t = 0; t < V; t++) masked[t] = special[t] ? -INFINITY : logits[t];
        const int32_t tok = slm_sampler_sample(smp, masked, V);
        slm_sampler_accept(smp, tok);
        char buf[64];
        size_t len = slm_token_to_piece(m, tok, 0, buf, sizeof buf);
        fwrite(buf, 1, len < sizeof buf ? len : sizeof buf, stdout);
        if ((st = slm_session_decode(s, &tok, 1, &logits)) != SLM_OK) {
            cli_fail(argv[0], "decoding", st);
            goto done;
        }
    }
    fputc('\n', stdout);
    rc = CLI_OK;
done:
    slm_sampler_free(smp);
    slm_session_free(s);
    slm_model_free(m);
    free(up);
    free(ids);
    free(masked);
    free(special);
    return rc;
}

/* ---- tokenizer ---- */

static int dna_tokenizer(int argc, char **argv)
{
    const char *spec = NULL, *out = NULL;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        if (cli_is(&a, "-h", "--help")) {
            printf("usage: slm dna tokenizer --type nuc|kmer:K -o TOK.gguf\n\n"
                   "Write a DNA vocabulary as a tokenizer GGUF: nuc (A C G T N) or kmer:K\n"
                   "(K = 3..6, non-overlapping K-mers from the left of each ACGT run). For BPE\n"
                   "on DNA use `slm tokenizer train --dna`.\n");
            return CLI_OK;
        } else if (cli_is(&a, "--type", NULL)) {
            if (!(spec = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
    }
    if (!spec) return cli_usage_error(argv[0], "missing --type nuc|kmer:K");
    if (!out) return cli_usage_error(argv[0], "missing -o TOK.gguf");
    if (strcmp(spec, "nuc") && strncmp(spec, "kmer:", 5))
        return cli_usage_error(argv[0], "--type '%s': expected nuc or kmer:K", spec);
    slm_status st = slm_dna_tokenizer_write(spec, out);
    if (st == SLM_ERR_ARG) {
        fprintf(stderr, "slm %s: %s\n", argv[0], slm_last_error());
        return CLI_USAGE;
    }
    if (st != SLM_OK) return cli_fail(argv[0], "writing the tokenizer", st);
    return CLI_OK;
}

/* ---- dispatch ---- */


typedef struct dna_sub {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} dna_sub;

static const dna_sub subs[] = {
    {"pretrain", dna_pretrain, "causal LM pretraining on FASTA/FASTQ (checkpoint/resume)"},
    {"finetune", dna_finetune, "train a classification head (full fine-tuning or probe)"},
    {"predict", dna_predict, "class probabilities of sequences (TSV or JSON)"},
    {"embed", dna_embed, "pooled embedding vectors (TSV or .npy)"},
    {"score", dna_score, "log-likelihood of ref/alt sequences and their ratio"},
    {"generate", dna_generate, "sample a DNA sequence"},
    {"tokenizer", dna_tokenizer, "write a nucleotide or k-mer tokenizer GGUF"},
    {"bench", cmd_dna_bench, "benchmark the gLM against k-mer and CNN baselines (GUE, UCI)"},
};

static void dna_usage(FILE *f)
{
    fprintf(f, "usage: slm dna SUBCOMMAND [options]   (slm dna SUBCOMMAND --help)\n\n");
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        fprintf(f, "  %-10s %s\n", subs[i].name, subs[i].help);
}

int cmd_dna(int argc, char **argv)
{
    if (argc < 2) {
        dna_usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        dna_usage(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[1], subs[i].name)) {
            char name[64];
            snprintf(name, sizeof name, "dna %s", subs[i].name);
            argv[1] = name;
            return subs[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "slm dna: unknown subcommand '%s'\n", argv[1]);
    dna_usage(stderr);
    return CLI_USAGE;
}

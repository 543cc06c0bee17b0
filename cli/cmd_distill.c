/* cmd_distill.c — `slm distill`: train a student model against a teacher
 * GGUF (slm_distill) and save it. The student's shape and training options
 * come from --student CONFIG, a file in `slm train --config` format (one
 * "name value" or "name=value" per line, the long option names without
 * "--", '#' comments), and from the command line, in order, so later
 * options override earlier ones. Progress: a bar on a terminal (or with
 * --progress), else one plain line every --log-every steps.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm distill --teacher T.gguf --student CONFIG --data FILE... -o S.gguf [options]\n"
            "\n"
            "Knowledge distillation: train a smaller llama-architecture student on text with\n"
            "the teacher's output distribution as soft targets. The teacher runs in the\n"
            "inference engine (any quant type). Loss per position:\n"
            "  alpha * T^2 * KL(softmax(z_teacher/T) || softmax(z_student/T)) + (1 - alpha) * CE\n"
            "The student shares the teacher's tokenizer (its tokenizer.* keys are copied).\n"
            "alpha 0 is the from-scratch baseline on the same windows and steps.\n"
            "\n"
            "distillation:\n"
            "      --teacher FILE       teacher GGUF\n"
            "      --student FILE       student config (slm train --config format: dim, layers,\n"
            "                           heads, kv-heads, ff, ctx, untied, and training options)\n"
            "      --temperature T      softmax temperature of both sides (default 1)\n"
            "      --alpha A            weight of the KL term in [0, 1] (default 0.5)\n"
            "      --topk K             use only the teacher's top K logits, renormalised over\n"
            "                           them (the rest of its mass counts as 0); default: all\n"
            "      --teacher-cache FILE keep the teacher's top K per window here (needs --topk):\n"
            "                           read if present and matching, written at the end\n"
            "      --tokenizer FILE     check that this tokenizer equals the teacher's\n"
            "data:\n"
            "      --data FILE...       training text (repeatable; plain or .gz)\n"
            "      --val FILE           validation text: student loss and KL to the teacher\n"
            "  -o, --out FILE           output student model\n"
            "student shape (defaults 128 4 4 4 384 256):\n"
            "      --dim N  --layers N  --heads N  --kv-heads N  --ff N  --ctx N  --untied\n"
            "optimisation (as slm train):\n"
            "      --batch B  --accum K  --steps N  --lr X  --min-lr-frac X  --warmup N\n"
            "      --weight-decay X  --clip X  --seed S  -t, --threads N\n"
            "run:\n"
            "      --eval-every K       validation every K steps (default: at the end)\n"
            "      --eval-batches N     validation micro-batches (default 8)\n"
            "      --checkpoint FILE    save student + optimizer state here (and the teacher\n"
            "                           cache, if any, at the same moments)\n"
            "      --checkpoint-every N steps between checkpoints (default 200)\n"
            "      --resume FILE        continue a distillation checkpoint bit-exactly (its\n"
            "                           settings win, temperature/alpha/topk included; the\n"
            "                           teacher and data must be the same; --steps N may\n"
            "                           extend the run)\n"
            "      --svg FILE           loss curve (default: S.gguf with .svg)\n"
            "      --progress           progress bar even when stderr is not a terminal\n"
            "      --log-every N        plain progress line every N steps (default 10)\n"
            "      --json               print a JSON summary on stdout at the end\n"
            "  -h, --help               show this help\n");
}

typedef struct opts {
    slm_distill_params p;
    const char **data, **val;
    size_t n_data, n_val;
    const char *teacher, *student, *out, *svg;
    cli_train_log log; /* progress: bar, --log-every */
    int json;
    int depth;
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

/* A config file as an argv of "--name value" pairs (kept alive: values are
 * file paths used later). */
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
    slm_train_params *p = &o->p.train;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        int32_t v = 0;
        if (!from_file && cli_is(&a, "-h", "--help")) {
            usage(stdout);
            exit(CLI_OK);
        } else if (cli_is(&a, "--data", NULL) || cli_is(&a, "--val", NULL)) {
            const int is_val = strcmp(a.opt, "--val") == 0;
            const char *f = cli_value(&a);
            if (!f) return CLI_USAGE;
            if (!push(is_val ? &o->val : &o->data, is_val ? &o->n_val : &o->n_data, f))
                return CLI_FAIL;
            while (!a.eq && a.i + 1 < a.argc && a.argv[a.i + 1][0] != '-') {
                a.i++;
                if (!push(is_val ? &o->val : &o->data, is_val ? &o->n_val : &o->n_data,
                          a.argv[a.i]))
                    return CLI_FAIL;
            }
        } else if (cli_is(&a, "--teacher", NULL)) {
            if (!(o->teacher = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--student", "--config")) {
            const char *f = cli_value(&a);
            if (!f) return CLI_USAGE;
            o->student = f;
            if ((rc = parse_config(o, a.cmd, f))) return rc;
        } else if (cli_is(&a, "--tokenizer", NULL)) {
            if (!(o->p.tokenizer = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--temperature", NULL)) {
            rc = cli_float(&a, 1e-3, 100, &o->p.temperature);
        } else if (cli_is(&a, "--alpha", NULL)) {
            rc = cli_float(&a, 0, 1, &o->p.alpha);
        } else if (cli_is(&a, "--topk", "--top-k")) {
            rc = cli_int(&a, 0, 1 << 20, &v), o->p.top_k = (uint32_t)v;
        } else if (cli_is(&a, "--teacher-cache", NULL)) {
            if (!(o->p.teacher_cache = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(o->out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--svg", NULL)) {
            if (!(o->svg = cli_value(&a))) return CLI_USAGE;
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

static double json_num(double x)
{
    return isfinite(x) ? x : -1.0;
}

static int run_distill(opts *o, int argc, char **argv)
{
    int rc = parse(o, argc, argv, 0);
    if (rc) return rc;
    if (!o->teacher) return cli_usage_error("distill", "missing --teacher T.gguf");
    if (!o->student) return cli_usage_error("distill", "missing --student CONFIG");
    if (!o->n_data) return cli_usage_error("distill", "missing --data FILE");
    if (!o->out) return cli_usage_error("distill", "missing -o S.gguf");
    if (o->p.teacher_cache && !o->p.top_k)
        return cli_usage_error("distill", "--teacher-cache needs --topk K");
    o->log.bar = o->log.bar || isatty(2);
    char svg[4096];
    if (!o->svg) {
        size_t n = strlen(o->out);
        if (n > 5 && strcmp(o->out + n - 5, ".gguf") == 0) n -= 5;
        snprintf(svg, sizeof svg, "%.*s.svg", (int)n, o->out);
        o->svg = svg;
    }
    o->p.train.loss_svg = o->svg;
    o->p.train.progress = cli_train_progress;
    o->p.train.user = &o->log;
    slm_distill_stats s;
    slm_status st = slm_distill(&o->p, o->teacher, o->data, o->n_data, o->val, o->n_val, o->out, &s);
    if (st != SLM_OK) return cli_fail("distill", "distillation failed", st);
    char el[32];
    cli_fmt_time(el, sizeof el, s.train.elapsed_s);
    fprintf(stderr,
            "slm distill: wrote %s (%llu parameters, %llu tokens seen, %s; teacher %llu tokens "
            "in %.1f s, cache %llu/%llu windows); final loss %.4f (KL %.4f, CE %.4f)",
            o->out, (unsigned long long)s.train.n_params, (unsigned long long)s.train.tokens_seen,
            el, (unsigned long long)s.teacher_tokens, s.teacher_s,
            (unsigned long long)s.cache_windows, (unsigned long long)s.n_windows,
            s.train.final_loss, s.final_kl, s.final_ce);
    if (!isnan(s.train.final_val_loss))
        fprintf(stderr, "; validation CE %.4f (perplexity %.2f), KL to teacher %.4f",
                s.train.final_val_loss, exp(s.train.final_val_loss), s.final_val_kld);
    fprintf(stderr, "; loss curve %s\n", o->svg);
    if (o->json) {
        printf("{\"model\":");
        cli_json_string(stdout, o->out, strlen(o->out));
        printf(",\"n_params\":%llu,\"train_tokens\":%llu,\"val_tokens\":%llu,\"tokens_seen\":%llu,"
               "\"final_loss\":%.6f,\"final_kl\":%.6f,\"final_ce\":%.6f,\"final_val_loss\":%.6f,"
               "\"final_val_kld\":%.6f,\"teacher_tokens\":%llu,\"teacher_s\":%.3f,"
               "\"windows\":%llu,\"cache_windows_loaded\":%llu,\"cache_windows\":%llu,"
               "\"temperature\":%g,\"alpha\":%g,\"topk\":%u,\"elapsed_s\":%.3f}\n",
               (unsigned long long)s.train.n_params, (unsigned long long)s.train.n_train_tokens,
               (unsigned long long)s.train.n_val_tokens, (unsigned long long)s.train.tokens_seen,
               json_num(s.train.final_loss), json_num(s.final_kl), json_num(s.final_ce),
               json_num(s.train.final_val_loss), json_num(s.final_val_kld),
               (unsigned long long)s.teacher_tokens, s.teacher_s,
               (unsigned long long)s.n_windows, (unsigned long long)s.cache_windows_loaded,
               (unsigned long long)s.cache_windows, (double)o->p.temperature, (double)o->p.alpha,
               o->p.top_k, s.train.elapsed_s);
    }
    return CLI_OK;
}

int cmd_distill(int argc, char **argv)
{
    opts o = {.p = slm_distill_default_params(), .log = {.log_every = 10}};
    int rc = run_distill(&o, argc, argv);
    free((void *)o.data);
    free((void *)o.val);
    cli_config_free(o.configs);
    return rc;
}

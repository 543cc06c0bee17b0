/* train_opts.c — what `slm train`, `slm distill` and `slm dna pretrain`
 * share on their command lines: the model-shape and optimiser flags, and
 * --config files of "name value" lines, parsed in one place so the three
 * commands accept the same names and ranges; and the progress printer the
 * three share. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_train_option(cli_args *a, slm_train_params *p, int *rc)
{
    int32_t v = 0;
    *rc = 0;
    if (cli_is(a, "--dim", NULL)) {
        *rc = cli_int(a, 2, 1 << 16, &v), p->n_embd = (uint32_t)v;
    } else if (cli_is(a, "--layers", NULL)) {
        *rc = cli_int(a, 1, 512, &v), p->n_layer = (uint32_t)v;
    } else if (cli_is(a, "--heads", NULL)) {
        *rc = cli_int(a, 1, 1024, &v), p->n_head = (uint32_t)v;
    } else if (cli_is(a, "--kv-heads", NULL)) {
        *rc = cli_int(a, 1, 1024, &v), p->n_head_kv = (uint32_t)v;
    } else if (cli_is(a, "--ff", NULL)) {
        *rc = cli_int(a, 1, 1 << 20, &v), p->n_ff = (uint32_t)v;
    } else if (cli_is(a, "--ctx", NULL)) {
        *rc = cli_int(a, 2, 1 << 16, &v), p->n_ctx = (uint32_t)v;
    } else if (cli_is(a, "--untied", NULL)) {
        p->tied = 0;
    } else if (cli_is(a, "--tied", NULL)) {
        p->tied = 1;
    } else if (cli_is(a, "--batch", NULL)) {
        *rc = cli_int(a, 1, 1 << 16, &v), p->batch = (uint32_t)v;
    } else if (cli_is(a, "--accum", NULL)) {
        *rc = cli_int(a, 1, 1 << 16, &v), p->accum = (uint32_t)v;
    } else if (cli_is(a, "--steps", NULL)) {
        *rc = cli_int(a, 1, INT32_MAX, &v), p->n_steps = (uint32_t)v;
    } else if (cli_is(a, "--warmup", NULL)) {
        *rc = cli_int(a, 0, INT32_MAX, &v), p->warmup = (uint32_t)v;
    } else if (cli_is(a, "--lr", NULL)) {
        *rc = cli_float(a, 1e-9, 10, &p->lr);
    } else if (cli_is(a, "--min-lr-frac", NULL)) {
        *rc = cli_float(a, 0, 1, &p->min_lr_frac);
    } else if (cli_is(a, "--weight-decay", NULL)) {
        *rc = cli_float(a, 0, 10, &p->weight_decay);
    } else if (cli_is(a, "--clip", NULL)) {
        *rc = cli_float(a, 0, 1e9, &p->clip);
    } else if (cli_is(a, "--seed", "-s")) {
        *rc = cli_u64(a, &p->seed);
    } else if (cli_is(a, "-t", "--threads")) {
        *rc = cli_int(a, 1, 1024, &p->n_threads);
    } else if (cli_is(a, "--eval-every", NULL)) {
        *rc = cli_int(a, 0, INT32_MAX, &v), p->eval_every = (uint32_t)v;
    } else if (cli_is(a, "--eval-batches", NULL)) {
        *rc = cli_int(a, 1, 1 << 20, &v), p->eval_batches = (uint32_t)v;
    } else if (cli_is(a, "--checkpoint", NULL)) {
        if (!(p->checkpoint = cli_value(a))) *rc = CLI_USAGE;
    } else if (cli_is(a, "--checkpoint-every", NULL)) {
        *rc = cli_int(a, 1, INT32_MAX, &v), p->checkpoint_every = (uint32_t)v;
    } else if (cli_is(a, "--resume", NULL)) {
        if (!(p->resume = cli_value(a))) *rc = CLI_USAGE;
    } else {
        return 0;
    }
    return 1;
}

/* One block holds the list link, the argv and every string, so freeing the
 * block frees everything a config put into the options. */
struct cli_config {
    cli_config *next;
    char *argv[];
};

int cli_config_read(const char *cmd, const char *path, cli_config **list, int *argc,
                    char ***argv)
{
    size_t len = 0;
    char *text = cli_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "slm %s: cannot read config '%s'\n", cmd, path);
        return CLI_USAGE;
    }
    /* a line of n bytes gives at most two words, "--" + name + NUL and value + NUL */
    const size_t n_ptr = len + 2, n_chr = 3 * len + 4;
    cli_config *c = malloc(sizeof *c + n_ptr * sizeof(char *) + n_chr);
    if (!c) {
        free(text);
        return CLI_FAIL;
    }
    char *chr = (char *)(c->argv + n_ptr);
    int ac = 0;
    c->argv[ac++] = (char *)cmd;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        for (char *q = line; *q; q++)
            if (*q == '=' || *q == '\t' || *q == '\r') *q = ' ';
        char *name = line;
        while (*name == ' ') name++;
        if (!*name) continue;
        char *val = strchr(name, ' ');
        if (val) {
            *val++ = 0;
            while (*val == ' ') val++;
            char *end = val + strlen(val);
            while (end > val && end[-1] == ' ') *--end = 0;
        }
        c->argv[ac++] = chr;
        chr += sprintf(chr, "--%s", name) + 1;
        if (val && *val) {
            c->argv[ac++] = chr;
            chr += sprintf(chr, "%s", val) + 1;
        }
    }
    free(text);
    c->argv[ac] = NULL;
    c->next = *list;
    *list = c;
    *argc = ac;
    *argv = c->argv;
    return CLI_OK;
}

void cli_config_free(cli_config *list)
{
    while (list) {
        cli_config *next = list->next;
        free(list);
        list = next;
    }
}

void cli_fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    const long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

int cli_train_progress(const slm_train_progress *pr, void *user)
{
    const cli_train_log *lg = user;
    const uint32_t every = lg->log_every > 0 ? (uint32_t)lg->log_every : 1;
    char el[32], eta[32], val[32] = "", tok[48] = "";
    cli_fmt_time(el, sizeof el, pr->elapsed_s);
    cli_fmt_time(eta, sizeof eta, pr->eta_s);
    if (!isnan(pr->val_loss)) snprintf(val, sizeof val, " val %.4f", pr->val_loss);
    if (lg->tokens) snprintf(tok, sizeof tok, " tokens %llu", (unsigned long long)pr->tokens_seen);
    if (lg->bar) {
        const int width = 24, fill = (int)((double)pr->step / pr->n_steps * width);
        fprintf(stderr, "\r[%.*s%*s] %u/%u loss %.4f%s lr %.2e %.0f tok/s %s ETA %s\033[K",
                fill, "########################", width - fill, "", pr->step, pr->n_steps,
                pr->loss, val, pr->lr, pr->tokens_per_s, el, eta);
        if (*val || pr->checkpointed || pr->step == pr->n_steps) fputc('\n', stderr);
    } else if (pr->step % every == 0 || *val || pr->step == pr->n_steps) {
        fprintf(stderr, "step %u/%u loss %.4f%s lr %.2e gnorm %.3f %.0f tok/s%s elapsed %s ETA %s%s\n",
                pr->step, pr->n_steps, pr->loss, val, pr->lr, pr->grad_norm, pr->tokens_per_s, tok,
                el, eta, pr->checkpointed ? " (checkpoint)" : "");
    }
    fflush(stderr);
    return 0;
}

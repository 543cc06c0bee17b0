/* cmd_dna_bench.c — `slm dna bench`: the gLM and the k-mer / CNN baselines
 * on the GUE tasks and UCI splice (slm_dna_bench), a table on stdout (or
 * --json), and with --report a Markdown report + SVG chart that records the
 * command and the machine.
 *
 * Default data: --data, else $SLM_DNA_GUE, else the first folder
 * shared/data/genomics/benchmarks/gue/complete found walking up from the
 * binary's directory, then from the current directory (so a build in
 * REPO/build finds ../shared/... beside the repository). UCI splice: --splice, else
 * $SLM_DNA_SPLICE, else uci_splice/splice.data next to the gue folder.
 * --merge FILE adds the rows of an earlier --json output (task × method
 * pairs this run does not produce), so a slow method (the gLM, after its
 * pretraining) and the baselines can run at different times and still
 * share one report.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define CMD "dna bench"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm dna bench [--data DIR] [--tasks a,b,...] [--methods glm,kmer_lr,cnn]\n"
            "                     [--model base.gguf] [--report report.md] [--json] [options]\n"
            "\n"
            "Train and evaluate every method on every task with the same splits and\n"
            "metrics: MCC (GUE's official metric), accuracy, macro-F1 and AUROC on the test\n"
            "split, each with a bootstrap 95%% interval. GUE tasks are folders\n"
            "TASK/{train,dev,test}.csv[.gz] (train, select on dev, report on test);\n"
            "uci_splice is scored by stratified 10-fold CV. Methods: glm (fine-tune the\n"
            "base gLM given by --model; missing without it), glm_probe (linear probe on\n"
            "the frozen base's mean-pooled states; not in the default list), kmer_lr\n"
            "(k-mer spectrum + L2 logistic regression; k, L2 and strand folding chosen\n"
            "on dev), cnn (1-D CNN on one-hot input; with and without reverse-complement\n"
            "augmentation, chosen on dev; early stopping on dev MCC).\n"
            "\n"
            "options:\n"
            "      --data DIR          GUE-layout folder (default: $SLM_DNA_GUE, else\n"
            "                          shared/data/genomics/benchmarks/gue/complete found\n"
            "                          above the binary or the current directory)\n"
            "      --splice FILE       UCI splice.data for task uci_splice (default:\n"
            "                          $SLM_DNA_SPLICE, else next to the GUE folder); 'none'\n"
            "      --tasks LIST        comma list (default: every task in DIR + uci_splice)\n"
            "      --methods LIST      comma list of glm, glm_probe, kmer_lr, cnn (default:\n"
            "                          glm,kmer_lr,cnn)\n"
            "      --model FILE        base gLM GGUF for the glm and glm_probe methods\n"
            "      --report FILE       write a Markdown report (and FILE's .svg chart)\n"
            "      --svg FILE          chart path (default: the report path with .svg)\n"
            "      --json              one JSON object per task x method on stdout\n"
            "      --seed N            seed of subsets, folds, inits, bootstrap (default 42)\n"
            "      --max-train N       at most N training rows per task (seeded subset)\n"
            "      --boot N            bootstrap resamples (default 1000)\n"
            "      --folds N           uci_splice CV folds (default 10)\n"
            "      --cnn-epochs N      CNN epochs before early stopping (default 20)\n"
            "      --glm-epochs N      gLM fine-tuning epochs (default 3; glm_probe: 30)\n"
            "      --glm-max-train N   glm methods: at most N training rows (default all)\n"
            "      --glm-max-dev N     glm methods: at most N dev rows (default all)\n"
            "      --work-dir DIR      where temporary classifier files go (default /tmp)\n"
            "      --merge FILE        add the rows of an earlier --json output (pairs this\n"
            "                          run does not produce) to the report and output\n"
            "      --report-only       run nothing: report/print the --merge rows only\n"
            "  -t, --threads N         threads (default: all cores)\n"
            "      --progress          progress bar even when stderr is not a terminal\n"
            "  -h, --help              show this help\n");
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Walk up from dir looking for REL below an ancestor; 1 and out on success. */
static int find_up(const char *dir, const char *rel, char *out, size_t n)
{
    char cur[PATH_MAX];
    if (!realpath(dir, cur)) return 0;
    for (;;) {
        snprintf(out, n, "%s/%s", cur, rel);
        if (is_dir(out)) return 1;
        char *slash = strrchr(cur, '/');
        if (!slash) return 0;
        if (slash == cur) {
            if (cur[1] == 0) return 0;
            cur[1] = 0;
        } else {
            *slash = 0;
        }
    }
}

static const char *default_data(char *buf, size_t n)
{
    const char *env = getenv("SLM_DNA_GUE");
    if (env && *env) return env;
    const char *rel = "shared/data/genomics/benchmarks/gue/complete";
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        if (find_up(exe, rel, buf, n)) return buf;
    }
    if (find_up(".", rel, buf, n)) return buf;
    return NULL;
}

static const char *default_splice(const char *gue, char *buf, size_t n)
{
    const char *env = getenv("SLM_DNA_SPLICE");
    if (env && *env) return env;
    if (!gue) return NULL;
    snprintf(buf, n, "%s/../../uci_splice/splice.data", gue);
    return is_file(buf) ? buf : NULL;
}

typedef struct state {
    cli_progress pg;
    int json, show;
    char cur[128];
    size_t n_done;
} state;

static int on_progress(const char *task, const char *method, const char *stage, double frac, void *user)
{
    state *s = user;
    char detail[256];
    snprintf(detail, sizeof detail, "%s / %s: %s", task, method, stage);
    char key[128];
    snprintf(key, sizeof key, "%s/%s", task, method);
    if (strcmp(key, s->cur) != 0) {
        snprintf(s->cur, sizeof s->cur, "%s", key);
        cli_progress_init(&s->pg, CMD, s->pg.bar);
    }
    cli_progress_update(&s->pg, frac, 0, detail);
    return 0;
}

static void print_row_text(FILE *f, const slm_dna_bench_row *r)
{
    if (r->missing) {
        fprintf(f, "%-18s %-8s missing: %s\n", r->task, r->method, r->detail);
        return;
    }
    fprintf(f, "%-18s %-8s MCC %.3f [%.3f, %.3f]  acc %.3f  F1 %.3f  AUROC %.3f  params %llu  train %.1f s  (%s)\n",
            r->task, r->method, r->mcc, r->mcc_lo, r->mcc_hi, r->accuracy, r->f1, r->auroc,
            (unsigned long long)r->params, r->train_s, r->detail);
}

static void on_row(const slm_dna_bench_row *r, void *user)
{
    state *s = user;
    if (s->pg.bar) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s / %s: done", r->task, r->method);
        cli_progress_update(&s->pg, 1.0, 1, detail);
    }
    s->cur[0] = 0;
    s->n_done++;
    /* rows stream to stderr as they finish (stdout gets the final table or JSON) */
    print_row_text(stderr, r);
}

static void json_num(FILE *f, const char *key, double v)
{
    if (isnan(v) || isinf(v)) fprintf(f, ",\"%s\":null", key);
    else fprintf(f, ",\"%s\":%.6f", key, v);
}

static void json_ci(FILE *f, const char *key, double lo, double hi)
{
    if (isnan(lo) || isnan(hi)) fprintf(f, ",\"%s\":null", key);
    else fprintf(f, ",\"%s\":[%.6f,%.6f]", key, lo, hi);
}

/* A JSON array, one object per task x method, one per line. */
static void print_json(const slm_dna_bench_row *rows, size_t n)
{
    printf("[\n");
    for (size_t i = 0; i < n; i++) {
        const slm_dna_bench_row *r = &rows[i];
        printf("{\"task\":");
        cli_json_string(stdout, r->task, strlen(r->task));
        printf(",\"method\":");
        cli_json_string(stdout, r->method, strlen(r->method));
        printf(",\"missing\":%s,\"n_class\":%d", r->missing ? "true" : "false", (int)r->n_class);
        json_num(stdout, "mcc", r->mcc);
        json_num(stdout, "accuracy", r->accuracy);
        json_num(stdout, "f1", r->f1);
        json_num(stdout, "auroc", r->auroc);
        json_ci(stdout, "mcc_ci95", r->mcc_lo, r->mcc_hi);
        json_ci(stdout, "accuracy_ci95", r->accuracy_lo, r->accuracy_hi);
        json_ci(stdout, "f1_ci95", r->f1_lo, r->f1_hi);
        json_ci(stdout, "auroc_ci95", r->auroc_lo, r->auroc_hi);
        printf(",\"params\":%llu,\"n_train\":%llu,\"n_dev\":%llu,\"n_test\":%llu", (unsigned long long)r->params,
               (unsigned long long)r->n_train, (unsigned long long)r->n_dev, (unsigned long long)r->n_test);
        json_num(stdout, "train_s", r->train_s);
        json_num(stdout, "predict_s", r->predict_s);
        printf(",\"detail\":");
        cli_json_string(stdout, r->detail, strlen(r->detail));
        printf("}%s\n", i + 1 < n ? "," : "");
    }
    printf("]\n");
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void jci(const cJSON *o, const char *key, double *lo, double *hi)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *lo = *hi = NAN;
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2) {
        *lo = cJSON_GetArrayItem(v, 0)->valuedouble;
        *hi = cJSON_GetArrayItem(v, 1)->valuedouble;
    }
}

/* Append the rows of a --json file that (task, method) does not already
 * hold. *rows is replaced by a malloc'd array (caller frees with free()). */
static int merge_rows(const char *path, slm_dna_bench_row **rows, size_t *n)
{
    size_t len = 0;
    char *text = cli_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "slm %s: --merge %s: cannot read\n", CMD, path);
        return CLI_FAIL;
    }
    cJSON *arr = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(arr)) {
        fprintf(stderr, "slm %s: --merge %s: not a JSON array of bench rows\n", CMD, path);
        cJSON_Delete(arr);
        return CLI_FAIL;
    }
    size_t m = (size_t)cJSON_GetArraySize(arr);
    slm_dna_bench_row *out = malloc((*n + m + 1) * sizeof *out);
    if (!out) {
        cJSON_Delete(arr);
        return CLI_FAIL;
    }
    if (*n) memcpy(out, *rows, *n * sizeof *out);
    size_t k = *n;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "task"), *me = cJSON_GetObjectItemCaseSensitive(o, "method");
        if (!cJSON_IsString(t) || !cJSON_IsString(me)) {
            fprintf(stderr, "slm %s: --merge %s: a row without task/method\n", CMD, path);
            free(out);
            cJSON_Delete(arr);
            return CLI_FAIL;
        }
        int dup = 0;
        for (size_t i = 0; i < k; i++)
            if (strcmp(out[i].task, t->valuestring) == 0 && strcmp(out[i].method, me->valuestring) == 0) dup = 1;
        if (dup) continue;
        slm_dna_bench_row *r = &out[k++];
        memset(r, 0, sizeof *r);
        snprintf(r->task, sizeof r->task, "%s", t->valuestring);
        snprintf(r->method, sizeof r->method, "%s", me->valuestring);
        r->missing = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "missing"));
        r->n_class = (int32_t)jnum(o, "n_class");
        r->mcc = jnum(o, "mcc");
        r->accuracy = jnum(o, "accuracy");
        r->f1 = jnum(o, "f1");
        r->auroc = jnum(o, "auroc");
        jci(o, "mcc_ci95", &r->mcc_lo, &r->mcc_hi);
        jci(o, "accuracy_ci95", &r->accuracy_lo, &r->accuracy_hi);
        jci(o, "f1_ci95", &r->f1_lo, &r->f1_hi);
        jci(o, "auroc_ci95", &r->auroc_lo, &r->auroc_hi);
        double v;
        r->params = (v = jnum(o, "params")) >= 0 ? (uint64_t)v : 0;
        r->n_train = (v = jnum(o, "n_train")) >= 0 ? (uint64_t)v : 0;
        r->n_dev = (v = jnum(o, "n_dev")) >= 0 ? (uint64_t)v : 0;
        r->n_test = (v = jnum(o, "n_test")) >= 0 ? (uint64_t)v : 0;
        r->train_s = (v = jnum(o, "train_s")) >= 0 ? v : 0;
        r->predict_s = (v = jnum(o, "predict_s")) >= 0 ? v : 0;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "detail");
        if (cJSON_IsString(d)) snprintf(r->detail, sizeof r->detail, "%s", d->valuestring);
    }
    cJSON_Delete(arr);
    *rows = out;
    *n = k;
    return CLI_OK;
}

/* Group rows by task (tasks in first-appearance order, rows within a task
 * in their order), so merged rows sit with their task. */
static void sort_rows(slm_dna_bench_row *rows, size_t n)
{
    slm_dna_bench_row *tmp = malloc((n ? n : 1) * sizeof *tmp);
    char *used = calloc(n ? n : 1, 1);
    if (!tmp || !used) {
        free(tmp);
        free(used);
        return; /* leave the order as it is */
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (used[i]) continue;
        for (size_t j = i; j < n; j++)
            if (!used[j] && strcmp(rows[j].task, rows[i].task) == 0) {
                tmp[k++] = rows[j];
                used[j] = 1;
            }
    }
    memcpy(rows, tmp, n * sizeof *rows);
    free(tmp);
    free(used);
}

int cmd_dna_bench(int argc, char **argv)
{
    slm_dna_bench_params p = slm_dna_bench_default_params();
    const char *report = NULL, *svg = NULL, *splice = NULL, *merge = NULL;
    int json = 0, force_progress = 0, report_only = 0;
    int32_t n_threads = 0, n_boot = p.n_boot, folds = p.folds, cnn_epochs = p.cnn_epochs, glm_epochs = p.glm_epochs;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--data", NULL)) {
            if (!(p.data_dir = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--splice", NULL)) {
            if (!(splice = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--tasks", NULL)) {
            if (!(p.tasks = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--methods", NULL)) {
            if (!(p.methods = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--model", "-m")) {
            if (!(p.model = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--report", NULL)) {
            if (!(report = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--svg", NULL)) {
            if (!(svg = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--report-only", NULL)) {
            report_only = 1;
        } else if (cli_is(&a, "--merge", NULL)) {
            if (!(merge = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--work-dir", NULL)) {
            if (!(p.work_dir = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--seed", NULL)) {
            rc = cli_u64(&a, &p.seed);
        } else if (cli_is(&a, "--max-train", NULL)) {
            rc = cli_u64(&a, &p.max_train);
        } else if (cli_is(&a, "--boot", NULL)) {
            rc = cli_int(&a, 2, 1000000, &n_boot);
        } else if (cli_is(&a, "--folds", NULL)) {
            rc = cli_int(&a, 2, 100, &folds);
        } else if (cli_is(&a, "--cnn-epochs", NULL)) {
            rc = cli_int(&a, 1, 1000, &cnn_epochs);
        } else if (cli_is(&a, "--glm-epochs", NULL)) {
            rc = cli_int(&a, 1, 1000, &glm_epochs);
        } else if (cli_is(&a, "--glm-max-train", NULL)) {
            rc = cli_u64(&a, &p.glm_max_train);
        } else if (cli_is(&a, "--glm-max-dev", NULL)) {
            rc = cli_u64(&a, &p.glm_max_dev);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 256, &n_threads);
        } else if (cli_is(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_is(&a, "--progress", NULL)) {
            force_progress = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (p.methods) { /* a typo in the list is a usage error, not a runtime one */
        const char *m = p.methods;
        while (*m) {
            size_t len = strcspn(m, ",");
            if (len && !((len == 3 && strncmp(m, "glm", 3) == 0) || (len == 9 && strncmp(m, "glm_probe", 9) == 0) ||
                         (len == 7 && strncmp(m, "kmer_lr", 7) == 0) || (len == 3 && strncmp(m, "cnn", 3) == 0)))
                return cli_usage_error(a.cmd,
                                       "--methods: unknown method '%.*s' (expected glm, glm_probe, kmer_lr, cnn)",
                                       (int)len, m);
            m += len;
            if (*m == ',') m++;
        }
    }
    p.n_boot = n_boot;
    p.folds = folds;
    p.cnn_epochs = cnn_epochs;
    p.glm_epochs = glm_epochs;
    p.n_threads = n_threads;
    char data_buf[PATH_MAX + 64], splice_buf[PATH_MAX + 128];
    if (!p.data_dir) p.data_dir = default_data(data_buf, sizeof data_buf);
    if (splice && strcmp(splice, "none") == 0) p.splice_path = NULL;
    else p.splice_path = splice ? splice : default_splice(p.data_dir, splice_buf, sizeof splice_buf);
    if (report_only && !merge) return cli_usage_error(a.cmd, "--report-only needs --merge FILE");
    if (!p.data_dir && !p.tasks && !report_only)
        return cli_usage_error(a.cmd, "no GUE folder found: give --data DIR or set SLM_DNA_GUE");
    if (p.data_dir && !is_dir(p.data_dir) && !report_only) return cli_usage_error(a.cmd, "--data '%s' is not a folder", p.data_dir);
    if (p.tasks && strstr(p.tasks, "uci_splice") && !p.splice_path)
        return cli_usage_error(a.cmd, "task uci_splice needs --splice FILE (splice.data not found)");

    state s;
    memset(&s, 0, sizeof s);
    s.json = json;
    cli_progress_init(&s.pg, CMD, force_progress || isatty(2));
    p.progress = on_progress;
    p.on_row = on_row;
    p.user = &s;
    double t0 = cli_now_ms();
    slm_dna_bench_row *rows = NULL;
    size_t n = 0;
    slm_status st = report_only ? SLM_OK : slm_dna_bench(&p, &rows, &n);
    double total_s = (cli_now_ms() - t0) / 1e3;
    if (st != SLM_OK) return cli_fail(CMD, "benchmark", st);
    fprintf(stderr, "slm %s: %zu results in %.1f s\n", CMD, n, total_s);
    slm_dna_bench_row *lib_rows = rows; /* freed with slm_dna_free; merged copies with free() */
    if (merge) {
        if (merge_rows(merge, &rows, &n) != CLI_OK) {
            slm_dna_free(lib_rows);
            return CLI_FAIL;
        }
        sort_rows(rows, n);
    }

    if (report) {
        char svg_buf[PATH_MAX];
        if (!svg) {
            snprintf(svg_buf, sizeof svg_buf, "%s", report);
            char *dot = strrchr(svg_buf, '.'), *slash = strrchr(svg_buf, '/');
            if (dot && (!slash || dot > slash)) *dot = 0;
            if (strlen(svg_buf) + 5 < sizeof svg_buf) strcat(svg_buf, ".svg");
            svg = svg_buf;
        }
        /* the command line as typed, for the report */
        char cmdline[4096];
        /* argv[0] is "bench" or, from cmd_dna's dispatch, "dna bench" */
        size_t at = (size_t)snprintf(cmdline, sizeof cmdline, strncmp(argv[0], "dna", 3) == 0 ? "slm" : "slm dna");
        for (int i = 0; i < argc && at < sizeof cmdline; i++)
            at += (size_t)snprintf(cmdline + at, sizeof cmdline - at, " %s", argv[i]);
        char machine[512];
        struct utsname u;
        char cpu[256] = "unknown CPU";
        FILE *ci = fopen("/proc/cpuinfo", "r");
        if (ci) {
            char line[512];
            while (fgets(line, sizeof line, ci))
                if (strncmp(line, "model name", 10) == 0) {
                    char *c = strchr(line, ':');
                    if (c) {
                        c++;
                        while (*c == ' ') c++;
                        c[strcspn(c, "\n")] = 0;
                        snprintf(cpu, sizeof cpu, "%s", c);
                    }
                    break;
                }
            fclose(ci);
        }
        double load[1] = {0};
        FILE *la = fopen("/proc/loadavg", "r");
        if (la) {
            if (fscanf(la, "%lf", &load[0]) != 1) load[0] = 0;
            fclose(la);
        }
        if (uname(&u) != 0) strcpy(u.machine, "?");
        snprintf(machine, sizeof machine, "%s, %ld cores online, %s, load average %.1f at the end, data %s",
                 cpu, sysconf(_SC_NPROCESSORS_ONLN), u.machine, load[0], p.data_dir ? p.data_dir : "(none)");
        st = slm_dna_bench_report(rows, n, report, svg, cmdline, machine, total_s);
        if (st != SLM_OK) {
            if (rows != lib_rows) free(rows);
            slm_dna_free(lib_rows);
            return cli_fail(CMD, report, st);
        }
        fprintf(stderr, "slm %s: report %s, chart %s\n", CMD, report, svg);
    }
    if (json) print_json(rows, n);
    else
        for (size_t i = 0; i < n; i++) print_row_text(stdout, &rows[i]);
    if (rows != lib_rows) free(rows);
    slm_dna_free(lib_rows);
    return CLI_OK;
}

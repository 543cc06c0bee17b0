/* report.c — the Markdown report and SVG chart of `slm dna bench`.
 *
 * Our rows sit next to published fine-tuned MCCs for the GUE tasks, taken
 * only from shared/data/README.md §2.2 (DNABERT-2 paper, Zhou et al., ICLR
 * 2024, results table as re-quoted there). Tasks without a verified
 * published number get "—"; nothing is filled in or estimated.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "slm.h"

typedef struct published {
    const char *task;
    double dnabert2, nt2500; /* MCC × 100 */
} published;

/* shared/data/README.md §2.2 — DNABERT-2 (117M) and NT-2500M-multi rows. */
static const published pub[] = {
    {"tf_0", 71.99, 66.31},          {"tf_1", 76.06, 68.30},          {"tf_2", 66.52, 58.70},
    {"tf_3", 58.54, 49.08},          {"tf_4", 77.43, 67.59},          {"prom_core_all", 69.37, 67.39},
    {"prom_core_notata", 68.04, 67.46}, {"prom_core_tata", 74.17, 69.66},
};

static const published *find_pub(const char *task)
{
    for (size_t i = 0; i < sizeof pub / sizeof *pub; i++)
        if (strcmp(pub[i].task, task) == 0) return &pub[i];
    return NULL;
}

/* Distinct values of a field in first-seen order. */
static size_t distinct(const slm_dna_bench_row *rows, size_t n, int method, const char **out, size_t cap)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = method ? rows[i].method : rows[i].task;
        size_t j = 0;
        while (j < m && strcmp(out[j], v) != 0) j++;
        if (j == m && m < cap) out[m++] = v;
    }
    return m;
}

static const slm_dna_bench_row *find_row(const slm_dna_bench_row *rows, size_t n, const char *task,
                                         const char *method)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].task, task) == 0 && strcmp(rows[i].method, method) == 0) return &rows[i];
    return NULL;
}

static void fmt_ms(double s, char *buf, size_t n)
{
    if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%.1f min", s / 60);
    else snprintf(buf, n, "%.2f h", s / 3600);
}

static void fmt_params(uint64_t p, char *buf, size_t n)
{
    if (p >= 1000000) snprintf(buf, n, "%.2fM", p / 1e6);
    else if (p >= 1000) snprintf(buf, n, "%.1fk", p / 1e3);
    else snprintf(buf, n, "%llu", (unsigned long long)p);
}

#define MAXT 64
#define MAXM 8

static slm_status write_md(const slm_dna_bench_row *rows, size_t n, const char *path, const char *svg_path,
                           const char *command, const char *machine, double total_s)
{
    FILE *f = fopen(path, "w");
    if (!f) return slm_fail(SLM_ERR_IO, "%s: cannot create the report", path);
    const char *tasks[MAXT], *methods[MAXM];
    size_t nt = distinct(rows, n, 0, tasks, MAXT), nm = distinct(rows, n, 1, methods, MAXM);
    char tbuf[32];
    fmt_ms(total_s, tbuf, sizeof tbuf);
    fprintf(f, "# slm dna bench — report\n\n");
    fprintf(f, "- command: `%s`\n", command ? command : "(not recorded)");
    fprintf(f, "- machine: %s\n", machine ? machine : "(not recorded)");
    fprintf(f, "- total wall time: %s\n", tbuf);
    fprintf(f, "- metric: MCC ×100 on the test split (GUE's official metric); uci_splice: pooled out-of-fold "
               "predictions of stratified 10-fold CV. Brackets: percentile-bootstrap 95%% interval over test rows.\n");
    fprintf(f, "- published: fine-tuned MCC from the DNABERT-2 paper (Zhou et al., ICLR 2024) as quoted in "
               "shared/data/README.md §2.2; — = no verified published number for that task.\n\n");
    fprintf(f, "## MCC ×100 per task\n\n| task |");
    for (size_t j = 0; j < nm; j++) fprintf(f, " %s |", methods[j]);
    fprintf(f, " DNABERT-2 (117M) | NT-2500M-multi (2.5B) | best of ours |\n|---|");
    for (size_t j = 0; j < nm + 3; j++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (size_t i = 0; i < nt; i++) {
        fprintf(f, "| %s |", tasks[i]);
        const char *best = NULL;
        double best_v = -INFINITY;
        for (size_t j = 0; j < nm; j++) {
            const slm_dna_bench_row *r = find_row(rows, n, tasks[i], methods[j]);
            if (!r || r->missing) {
                fprintf(f, " missing |");
                continue;
            }
            fprintf(f, " %.2f [%.1f, %.1f] |", 100 * r->mcc, 100 * r->mcc_lo, 100 * r->mcc_hi);
            if (r->mcc > best_v) {
                best_v = r->mcc;
                best = methods[j];
            }
        }
        const published *pb = find_pub(tasks[i]);
        if (pb) fprintf(f, " %.2f | %.2f |", pb->dnabert2, pb->nt2500);
        else fprintf(f, " — | — |");
        fprintf(f, " %s |\n", best ? best : "—");
    }
    /* Averages over the tasks that have a published number and a result for
     * every method that ran at all (a method missing everywhere, e.g. glm
     * without --model, is left out rather than emptying the comparison). */
    fprintf(f, "\n## Against the published models\n\n");
    int ran[MAXM] = {0};
    for (size_t j = 0; j < nm; j++)
        for (size_t i = 0; i < nt; i++) {
            const slm_dna_bench_row *r = find_row(rows, n, tasks[i], methods[j]);
            if (r && !r->missing) ran[j] = 1;
        }
    size_t n_cmp = 0;
    double sum_db = 0, sum_nt = 0, sum_m[MAXM] = {0};
    int wins_db[MAXM] = {0}, wins_nt[MAXM] = {0};
    for (size_t i = 0; i < nt; i++) {
        const published *pb = find_pub(tasks[i]);
        if (!pb) continue;
        int all = 1;
        for (size_t j = 0; j < nm; j++) {
            const slm_dna_bench_row *r = find_row(rows, n, tasks[i], methods[j]);
            if (ran[j] && (!r || r->missing)) all = 0;
        }
        if (!all) continue;
        n_cmp++;
        sum_db += pb->dnabert2;
        sum_nt += pb->nt2500;
        for (size_t j = 0; j < nm; j++) {
            if (!ran[j]) continue;
            const slm_dna_bench_row *r = find_row(rows, n, tasks[i], methods[j]);
            sum_m[j] += 100 * r->mcc;
            wins_db[j] += 100 * r->mcc >= pb->dnabert2;
            wins_nt[j] += 100 * r->mcc >= pb->nt2500;
        }
    }
    if (n_cmp == 0) {
        fprintf(f, "No task of this run has a published number.\n");
    } else {
        fprintf(f, "Over the %zu tasks of this run with published numbers:\n\n", n_cmp);
        fprintf(f, "| method | mean MCC ×100 | tasks ≥ DNABERT-2 | tasks ≥ NT-2500M-multi |\n|---|---:|---:|---:|\n");
        for (size_t j = 0; j < nm; j++) {
            if (!ran[j]) {
                fprintf(f, "| %s | missing | — | — |\n", methods[j]);
                continue;
            }
            fprintf(f, "| %s | %.2f | %d of %zu | %d of %zu |\n", methods[j], sum_m[j] / n_cmp, wins_db[j], n_cmp,
                    wins_nt[j], n_cmp);
        }
        fprintf(f, "| DNABERT-2 (117M, published) | %.2f | — | — |\n", sum_db / n_cmp);
        fprintf(f, "| NT-2500M-multi (2.5B, published) | %.2f | — | — |\n", sum_nt / n_cmp);
    }
    if (svg_path) fprintf(f, "\n![MCC per task per method](%s)\n", svg_path);
    fprintf(f, "\n## Every row\n\n| task | method | MCC [95%% CI] | accuracy | macro-F1 | AUROC | params | "
               "train rows | train time | detail |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < n; i++) {
        const slm_dna_bench_row *r = &rows[i];
        char pbuf[32], sbuf[32];
        fmt_params(r->params, pbuf, sizeof pbuf);
        fmt_ms(r->train_s, sbuf, sizeof sbuf);
        if (r->missing) {
            fprintf(f, "| %s | %s | missing | | | | | | | %s |\n", r->task, r->method, r->detail);
            continue;
        }
        fprintf(f,
                "| %s | %s | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %s | "
                "%llu | %s | %s |\n",
                r->task, r->method, r->mcc, r->mcc_lo, r->mcc_hi, r->accuracy, r->accuracy_lo, r->accuracy_hi, r->f1,
                r->f1_lo, r->f1_hi, r->auroc, r->auroc_lo, r->auroc_hi, pbuf, (unsigned long long)r->n_train, sbuf,
                r->detail);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return slm_fail(SLM_ERR_IO, "%s: write error", path);
    return SLM_OK;
}

static void svg_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

static slm_status write_svg(const slm_dna_bench_row *rows, size_t n, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return slm_fail(SLM_ERR_IO, "%s: cannot create the chart", path);
    const char *tasks[MAXT], *methods[MAXM + 2];
    size_t nt = distinct(rows, n, 0, tasks, MAXT), nm = distinct(rows, n, 1, methods, MAXM);
    size_t ns = nm + 2; /* + DNABERT-2, NT */
    methods[nm] = "DNABERT-2 (117M, published)";
    methods[nm + 1] = "NT-2500M-multi (published)";
    static const char *color[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                                  "#7f7f7f", "#bcbd22", "#ff7f0e", "#17becf"};
    double ymin = 0;
    for (size_t i = 0; i < n; i++)
        if (!rows[i].missing && 100 * rows[i].mcc < ymin) ymin = floor(100 * rows[i].mcc / 10) * 10;
    const double ymax = 100;
    const int left = 60, top = 40, plot_h = 320, bar_w = 9, gap = 14;
    int group_w = (int)ns * bar_w + gap;
    int width = left + (int)nt * group_w + 20, height = top + plot_h + 150;
    if (width < 740) width = 740; /* room for the title and a 3-column legend */
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">MCC ×100 per task (test split; uci_splice: 10-fold CV)</text>\n",
            left);
#define Y(v) (top + plot_h - ((v) - ymin) / (ymax - ymin) * plot_h)
    for (double v = ymin; v <= ymax + 1e-9; v += 10) {
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", left, width - 20, Y(v), Y(v),
                fabs(v) < 1e-9 ? "#000" : "#ddd");
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", left - 6, Y(v) + 4, v);
    }
    for (size_t i = 0; i < nt; i++) {
        int x0 = left + (int)i * group_w + gap / 2;
        for (size_t j = 0; j < ns; j++) {
            double v = NAN;
            if (j < nm) {
                const slm_dna_bench_row *r = find_row(rows, n, tasks[i], methods[j]);
                if (r && !r->missing) v = 100 * r->mcc;
            } else {
                const published *pb = find_pub(tasks[i]);
                if (pb) v = j == nm ? pb->dnabert2 : pb->nt2500;
            }
            if (isnan(v)) continue;
            double y0 = Y(0), y1 = Y(v);
            fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>", x0 + (int)j * bar_w,
                    y1 < y0 ? y1 : y0, bar_w - 1, fabs(y0 - y1), color[j % 10]);
            svg_text(f, tasks[i]);
            fputs(" / ", f);
            svg_text(f, methods[j]);
            fprintf(f, ": %.2f</title></rect>\n", v);
        }
        fprintf(f, "<text transform=\"translate(%d,%d) rotate(-40)\" text-anchor=\"end\">", x0 + group_w / 2,
                top + plot_h + 14);
        svg_text(f, tasks[i]);
        fputs("</text>\n", f);
    }
#undef Y
    int ly = top + plot_h + 105;
    for (size_t j = 0; j < ns; j++) {
        int lx = left + (int)(j % 3) * 220, yy = ly + (int)(j / 3) * 16;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">", lx, yy,
                color[j % 10], lx + 14, yy + 9);
        svg_text(f, methods[j]);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return slm_fail(SLM_ERR_IO, "%s: write error", path);
    return SLM_OK;
}

slm_status slm_dna_bench_report(const slm_dna_bench_row *rows, size_t n_rows, const char *md_path,
                                const char *svg_path, const char *command, const char *machine, double total_s)
{
    slm_error_clear();
    if (!rows && n_rows) return slm_fail(SLM_ERR_ARG, "dna_bench_report: NULL rows");
    if (md_path) {
        /* the Markdown links the chart by a path relative to the report when both share a folder */
        const char *rel = svg_path;
        if (svg_path) {
            const char *ms = strrchr(md_path, '/'), *ss = strrchr(svg_path, '/');
            size_t md_dir = ms ? (size_t)(ms - md_path) : 0, svg_dir = ss ? (size_t)(ss - svg_path) : 0;
            if (md_dir == svg_dir && strncmp(md_path, svg_path, md_dir) == 0) rel = ss ? ss + 1 : svg_path;
        }
        slm_status st = write_md(rows, n_rows, md_path, rel, command, machine, total_s);
        if (st != SLM_OK) return st;
    }
    if (svg_path) return write_svg(rows, n_rows, svg_path);
    return SLM_OK;
}

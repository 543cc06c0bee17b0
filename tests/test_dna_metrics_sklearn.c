/* test_dna_metrics_sklearn.c — our MCC, accuracy, macro-F1 and AUROC
 * against scikit-learn (the implementation GUE/DNABERT-2 report with:
 * matthews_corrcoef, accuracy_score, f1_score(average="macro"),
 * roc_auc_score (binary on p[:,1]; multi_class="ovr", average="macro")) on
 * random predictions, ties included. Exits 77 when python3 with
 * scikit-learn is not installed (Debian python3-sklearn). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dna/metrics.h"
#include "harness.h"
#include "sample/rng.h"

static const char *python;

static const char *find_python(void)
{
    static const char *cands[] = {"/usr/bin/python3", "python3"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import sklearn, numpy' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) return cands[i];
    }
    return NULL;
}

/* Writes label,p0,p1,... rows; asks sklearn for the four metrics. */
static int sklearn_metrics(const int32_t *y, const float *p, size_t n, int C, double out[4])
{
    char dir[] = "/tmp/slm_dna_metricsXXXXXX";
    if (!mkdtemp(dir)) return 0;
    char csv[512], py[512];
    snprintf(csv, sizeof csv, "%s/pred.csv", dir);
    snprintf(py, sizeof py, "%s/oracle.py", dir);
    FILE *f = fopen(csv, "w");
    if (!f) return 0;
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%d", (int)y[i]);
        for (int c = 0; c < C; c++) fprintf(f, ",%.9g", (double)p[i * C + c]);
        fputc('\n', f);
    }
    fclose(f);
    f = fopen(py, "w");
    if (!f) return 0;
    fprintf(f,
            "import sys, numpy as np\n"
            "from sklearn.metrics import matthews_corrcoef, accuracy_score, f1_score, roc_auc_score\n"
            "d = np.loadtxt(sys.argv[1], delimiter=',', dtype=np.float64)\n"
            "y = d[:, 0].astype(int); p = d[:, 1:].astype(np.float32).astype(np.float64)\n"
            "pred = p.argmax(axis=1)\n"
            "auc = roc_auc_score(y, p[:, 1]) if p.shape[1] == 2 else "
            "roc_auc_score(y, p, multi_class='ovr', average='macro')\n"
            "print('%%.12f %%.12f %%.12f %%.12f' %% (matthews_corrcoef(y, pred), accuracy_score(y, pred), "
            "f1_score(y, pred, average='macro'), auc))\n");
    fclose(f);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s %s %s", python, py, csv);
    FILE *pp = popen(cmd, "r");
    int ok = pp && fscanf(pp, "%lf %lf %lf %lf", &out[0], &out[1], &out[2], &out[3]) == 4;
    if (pp) pclose(pp);
    remove(csv);
    remove(py);
    rmdir(dir);
    return ok;
}

/* Scores rounded to 1/q so ties are frequent when q is small. */
static void make_case(size_t n, int C, uint64_t seed, double signal, int q, int32_t *y, float *p)
{
    slm_rng r;
    slm_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(slm_rng_next(&r) % (uint64_t)C);
        double sum = 0;
        for (int c = 0; c < C; c++) {
            double v = 0.05 + slm_rng_uniform(&r) + (c == y[i] ? signal : 0.0);
            if (q) v = floor(v * q) / q + 0.05;
            p[i * C + c] = (float)v;
            sum += v;
        }
        for (int c = 0; c < C; c++) p[i * C + c] = (float)(p[i * C + c] / sum);
    }
}

static void check_case(size_t n, int C, uint64_t seed, double signal, int q)
{
    static int32_t y[5000];
    static float p[5000 * 3];
    make_case(n, C, seed, signal, q, y, p);
    slm_dna_metrics m;
    REQUIRE(slm_dna_metrics_compute(y, p, n, C, &m) == SLM_OK, "%s", slm_last_error());
    double ref[4];
    REQUIRE(sklearn_metrics(y, p, n, C, ref), "sklearn oracle failed");
    double tol_auc = 1e-9;
    CHECK(fabs(m.mcc - ref[0]) < 1e-9, "n %zu C %d seed %llu: mcc %.12f sklearn %.12f", n, C,
          (unsigned long long)seed, m.mcc, ref[0]);
    CHECK(fabs(m.accuracy - ref[1]) < 1e-9, "accuracy %.12f sklearn %.12f", m.accuracy, ref[1]);
    CHECK(fabs(m.f1 - ref[2]) < 1e-9, "f1 %.12f sklearn %.12f", m.f1, ref[2]);
    CHECK(fabs(m.auroc - ref[3]) < tol_auc, "auroc %.12f sklearn %.12f", m.auroc, ref[3]);
}

static void binary_metrics_equal_sklearn(void)
{
    check_case(1000, 2, 1, 0.3, 0);
    check_case(37, 2, 2, 0.0, 0);
    check_case(5000, 2, 3, 1.0, 0);
}

static void binary_metrics_with_many_ties_equal_sklearn(void)
{
    check_case(800, 2, 4, 0.4, 4);
    check_case(300, 2, 5, 0.2, 2);
}

static void three_class_metrics_equal_sklearn(void)
{
    check_case(1200, 3, 6, 0.5, 0);
    check_case(90, 3, 7, 0.1, 0);
    check_case(1000, 3, 8, 0.5, 5);
}

int main(void)
{
    python = find_python();
    if (!python) {
        printf("SKIP: python3 with scikit-learn and numpy not found (Debian python3-sklearn)\n");
        return 77;
    }
    RUN(binary_metrics_equal_sklearn);
    RUN(binary_metrics_with_many_ties_equal_sklearn);
    RUN(three_class_metrics_equal_sklearn);
    return harness_finish();
}

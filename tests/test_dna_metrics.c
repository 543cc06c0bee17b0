/* test_dna_metrics.c — MCC, accuracy, macro-F1, AUROC and bootstrap
 * intervals on hand-checkable cases (the expected values are worked out in
 * the comments), and the bootstrap against explicitly materialised
 * resamples. The scikit-learn oracle lives in test_dna_metrics_sklearn.c. */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "dna/metrics.h"
#include "harness.h"
#include "sample/rng.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void metrics_of_perfect_predictions_are_one(void)
{
    int32_t y[] = {0, 1, 1, 0};
    float p[] = {0.8f, 0.2f, 0.1f, 0.9f, 0.3f, 0.7f, 0.6f, 0.4f};
    slm_dna_metrics m;
    REQUIRE(slm_dna_metrics_compute(y, p, 4, 2, &m) == SLM_OK, "%s", slm_last_error());
    CHECK(NEAR(m.mcc, 1) && NEAR(m.accuracy, 1) && NEAR(m.f1, 1) && NEAR(m.auroc, 1),
          "mcc %g acc %g f1 %g auc %g", m.mcc, m.accuracy, m.f1, m.auroc);
}

/* y = 1 1 0 0, p1 = .9 .4 .6 .1 -> pred 1 0 1 0: TP FN FP TN = 1 1 1 1,
 * MCC (1-1)/2 = 0, acc .5, F1 of each class 2/(2+1+1) = .5, AUROC: pairs
 * (pos, neg) (.9,.6) (.9,.1) (.4,.6) (.4,.1) -> 3 of 4 = .75. */
static void binary_case_matches_hand_computation(void)
{
    int32_t y[] = {1, 1, 0, 0};
    float p[] = {0.1f, 0.9f, 0.6f, 0.4f, 0.4f, 0.6f, 0.9f, 0.1f};
    slm_dna_metrics m;
    REQUIRE(slm_dna_metrics_compute(y, p, 4, 2, &m) == SLM_OK, "%s", slm_last_error());
    CHECK(NEAR(m.mcc, 0), "mcc %g", m.mcc);
    CHECK(NEAR(m.accuracy, 0.5), "acc %g", m.accuracy);
    CHECK(NEAR(m.f1, 0.5), "f1 %g", m.f1);
    CHECK(NEAR(m.auroc, 0.75), "auc %g", m.auroc);
}

/* y = 1 1 1 0 0, pred = 1 1 0 0 0: TP 2 FN 1 FP 0 TN 2.
 * MCC = (2*2 - 0*1) / sqrt(2 * 3 * 2 * 3) = 4/6 = 0.666...
 * F1(1) = 4/5, F1(0) = 4/5 (tp 2, fp 1, fn 0) -> macro .8; acc .8.
 * Scores p1 = .9 .8 .3 .3 .1: pairs with the negatives (.3, .1):
 * .9 > both, .8 > both, .3 ties .3 (1/2) and beats .1 -> (2+2+1.5)/6. */
static void mcc_and_tied_auroc_match_hand_computation(void)
{
    int32_t y[] = {1, 1, 1, 0, 0};
    float p1[] = {0.9f, 0.8f, 0.3f, 0.3f, 0.1f};
    float p[10];
    for (int i = 0; i < 5; i++) {
        p[2 * i] = 1 - p1[i];
        p[2 * i + 1] = p1[i];
    }
    slm_dna_metrics m;
    REQUIRE(slm_dna_metrics_compute(y, p, 5, 2, &m) == SLM_OK, "%s", slm_last_error());
    CHECK(NEAR(m.mcc, 4.0 / 6.0), "mcc %g", m.mcc);
    CHECK(NEAR(m.accuracy, 0.8), "acc %g", m.accuracy);
    CHECK(NEAR(m.f1, 0.8), "f1 %g", m.f1);
    CHECK(NEAR(m.auroc, 5.5 / 6.0), "auc %g", m.auroc);
}

/* Every prediction class 0 (equal scores: the first maximum wins): the MCC
 * denominator is 0 -> 0 (sklearn); F1(0) = 2*2/(4+2) = 2/3, F1(1) = 0 ->
 * 1/3; every score tied -> AUROC .5. */
static void constant_predictions_give_zero_mcc_and_half_auroc(void)
{
    int32_t y[] = {0, 1, 0, 1};
    float p[] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    slm_dna_metrics m;
    REQUIRE(slm_dna_metrics_compute(y, p, 4, 2, &m) == SLM_OK, "%s", slm_last_error());
    CHECK(NEAR(m.mcc, 0), "mcc %g", m.mcc);
    CHECK(NEAR(m.accuracy, 0.5), "acc %g", m.accuracy);
    CHECK(NEAR(m.f1, 1.0 / 3.0), "f1 %g", m.f1);
    CHECK(NEAR(m.auroc, 0.5), "auc %g", m.auroc);
}

/* 3 classes, y = 0 1 2 2, pred = 0 1 2 0 (row argmax below).
 * Confusion rows=true: [1 0 0; 0 1 0; 1 0 1]; t = (1,1,2), p = (2,1,1),
 * c = 3, s = 4: MCC = (3*4 - (2+1+2)) / sqrt((16-6)(16-6)) = 7/10.
 * F1: class 0 2/(1+2) = 2/3, class 1 1, class 2 2/(2+1) = 2/3 -> 7/9.
 * AUROC one-vs-rest: class 0 scores (.7 .1 .1 .5), pos {.7} vs .1 .1 .5 -> 1;
 * class 1 (.2 .8 .2 .1) pos .8 -> 1; class 2 (.1 .1 .7 .4): pos .7 .4 vs neg
 * .1 .1 -> 1. Macro 1. */
static void three_class_case_matches_hand_computation(void)
{
    int32_t y[] = {0, 1, 2, 2};
    float p[] = {0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.1f, 0.2f, 0.7f, 0.5f, 0.1f, 0.4f};
    slm_dna_metrics m;
    REQUIRE(slm_dna_metrics_compute(y, p, 4, 3, &m) == SLM_OK, "%s", slm_last_error());
    CHECK(NEAR(m.mcc, 0.7), "mcc %g", m.mcc);
    CHECK(NEAR(m.accuracy, 0.75), "acc %g", m.accuracy);
    CHECK(NEAR(m.f1, 7.0 / 9.0), "f1 %g", m.f1);
    CHECK(NEAR(m.auroc, 1.0), "auc %g", m.auroc);
}

static void metrics_reject_bad_labels_and_non_finite_scores(void)
{
    int32_t y[] = {0, 2};
    float p[] = {0.5f, 0.5f, 0.5f, 0.5f};
    slm_dna_metrics m;
    CHECK(slm_dna_metrics_compute(y, p, 2, 2, &m) == SLM_ERR_ARG, "label 2 of 2 classes accepted");
    CHECK(strstr(slm_last_error(), "label[1]") != NULL, "message: %s", slm_last_error());
    int32_t y2[] = {0, 1};
    float q[] = {0.5f, NAN, 0.5f, 0.5f};
    CHECK(slm_dna_metrics_compute(y2, q, 2, 2, &m) == SLM_ERR_ARG, "NaN score accepted");
    CHECK(slm_dna_metrics_compute(y2, q, 0, 2, &m) == SLM_ERR_ARG, "empty set accepted");
}

/* Random predictions correlated with the labels. */
static void make_case(size_t n, int C, uint64_t seed, int32_t *y, float *p)
{
    slm_rng r;
    slm_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(slm_rng_next(&r) % (uint64_t)C);
        double sum = 0;
        for (int c = 0; c < C; c++) {
            double v = slm_rng_uniform(&r) + (c == y[i] ? 0.6 : 0.0);
            p[i * C + c] = (float)v;
            sum += v;
        }
        for (int c = 0; c < C; c++) p[i * C + c] = (float)(p[i * C + c] / sum);
    }
}

/* With 2 resamples the percentiles are interpolations of the two values
 * (numpy's linear rule): lo = v0 + .025 (v1 - v0) for sorted v0 <= v1. The
 * resamples are drawn here with the same generator and index rule and
 * evaluated by slm_dna_metrics_compute on materialised copies, so the
 * weighted fast path is checked against the plain one. */
static void bootstrap_equals_materialised_resamples(void)
{
    enum { N = 300, C = 3 };
    int32_t y[N], yb[N];
    float p[N * C], pb[N * C];
    make_case(N, C, 7, y, p);
    slm_rng r;
    slm_rng_seed(&r, 99);
    slm_dna_metrics v[2];
    for (int b = 0; b < 2; b++) {
        for (size_t i = 0; i < N; i++) {
            size_t j = (size_t)(slm_rng_next(&r) % N);
            yb[i] = y[j];
            memcpy(pb + i * C, p + j * C, C * sizeof(float));
        }
        REQUIRE(slm_dna_metrics_compute(yb, pb, N, C, &v[b]) == SLM_OK, "%s", slm_last_error());
    }
    slm_dna_metrics lo, hi;
    REQUIRE(slm_dna_metrics_bootstrap(y, p, N, C, 2, 99, &lo, &hi) == SLM_OK, "%s", slm_last_error());
#define PCT(f, q) (fmin(v[0].f, v[1].f) + (q) * (fmax(v[0].f, v[1].f) - fmin(v[0].f, v[1].f)))
    CHECK(fabs(lo.mcc - PCT(mcc, 0.025)) < 1e-9 && fabs(hi.mcc - PCT(mcc, 0.975)) < 1e-9, "mcc %g %g", lo.mcc,
          hi.mcc);
    CHECK(fabs(lo.accuracy - PCT(accuracy, 0.025)) < 1e-9, "acc %g", lo.accuracy);
    CHECK(fabs(hi.f1 - PCT(f1, 0.975)) < 1e-9, "f1 %g", hi.f1);
    CHECK(fabs(lo.auroc - PCT(auroc, 0.025)) < 1e-6 && fabs(hi.auroc - PCT(auroc, 0.975)) < 1e-6,
          "auc %g %g vs %g %g", lo.auroc, hi.auroc, v[0].auroc, v[1].auroc);
#undef PCT
}

static void bootstrap_interval_holds_the_estimate_and_is_seeded(void)
{
    enum { N = 2000, C = 2 };
    static int32_t y[N];
    static float p[N * C];
    make_case(N, C, 3, y, p);
    slm_dna_metrics m, lo, hi, lo2, hi2, lo3, hi3;
    REQUIRE(slm_dna_metrics_compute(y, p, N, C, &m) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_dna_metrics_bootstrap(y, p, N, C, 500, 1, &lo, &hi) == SLM_OK, "%s", slm_last_error());
    CHECK(lo.mcc < m.mcc && m.mcc < hi.mcc, "mcc %g not in [%g, %g]", m.mcc, lo.mcc, hi.mcc);
    CHECK(lo.auroc < m.auroc && m.auroc < hi.auroc, "auc %g not in [%g, %g]", m.auroc, lo.auroc, hi.auroc);
    /* binomial s.e. of accuracy ~ sqrt(a(1-a)/n): the 95% interval is ~ 4 s.e. wide */
    double se = sqrt(m.accuracy * (1 - m.accuracy) / N);
    CHECK(hi.accuracy - lo.accuracy > 2.5 * se && hi.accuracy - lo.accuracy < 5.5 * se,
          "accuracy interval width %g, s.e. %g", hi.accuracy - lo.accuracy, se);
    REQUIRE(slm_dna_metrics_bootstrap(y, p, N, C, 500, 1, &lo2, &hi2) == SLM_OK, "%s", slm_last_error());
    CHECK(memcmp(&lo, &lo2, sizeof lo) == 0 && memcmp(&hi, &hi2, sizeof hi) == 0, "same seed, different interval");
    REQUIRE(slm_dna_metrics_bootstrap(y, p, N, C, 500, 2, &lo3, &hi3) == SLM_OK, "%s", slm_last_error());
    CHECK(lo3.mcc != lo.mcc || hi3.mcc != hi.mcc, "a different seed gave the identical interval");
}

int main(void)
{
    RUN(metrics_of_perfect_predictions_are_one);
    RUN(binary_case_matches_hand_computation);
    RUN(mcc_and_tied_auroc_match_hand_computation);
    RUN(constant_predictions_give_zero_mcc_and_half_auroc);
    RUN(three_class_case_matches_hand_computation);
    RUN(metrics_reject_bad_labels_and_non_finite_scores);
    RUN(bootstrap_equals_materialised_resamples);
    RUN(bootstrap_interval_holds_the_estimate_and_is_seeded);
    return harness_finish();
}

/* test_dna_cnn_grad.c — the CNN baseline's backward pass against central
 * finite differences of its forward loss, for every parameter of a tiny
 * network on a padded batch (two sequences of different lengths, an N).
 * The passes come from the internal header dna/cnn_int.h. Run twice:
 * without dropout and with a fixed dropout mask (zeros and 1/(1-p)). */
#include <math.h>
#include <stdlib.h>

#include "dna/cnn_int.h"
#include "harness.h"

static const float *g_drop; /* the mask of the current check, or NULL */

static double batch_loss(slm_cnn *m, slm_cnn_work *w, const char *const *seq, const int32_t *label, int nb, int L)
{
    slm_cnn_forward(m, w, seq, NULL, g_drop, nb, L, NULL);
    slm_cnn_softmax_rows(w->z, nb, m->n_class);
    double loss = 0;
    for (int b = 0; b < nb; b++) loss -= log((double)w->z[(size_t)b * m->n_class + label[b]]);
    return loss / nb;
}

static void check_gradients(void)
{
    slm_cnn_params p = slm_cnn_default_params();
    p.c1 = 3;
    p.k1 = 3;
    p.pool = 2;
    p.c2 = 4;
    p.k2 = 3;
    slm_cnn *m = NULL;
    REQUIRE(slm_cnn_model_new(&p, 3, &m) == SLM_OK, "%s", slm_last_error());
    slm_cnn_init_weights(m, 5);
    /* small positive biases keep most ReLUs away from their kink */
    for (int c = 0; c < m->c1; c++) m->b1[c] = 0.1f;
    for (int c = 0; c < m->c2; c++) m->b2[c] = 0.1f;
    slm_cnn_work w;
    REQUIRE(slm_cnn_work_new(m, 2, 11, 1, &w) == SLM_OK, "%s", slm_last_error());
    const char *seq[2] = {"ACGTTGCANGA", "GGATCTA"};
    int32_t label[2] = {2, 0};
    float *grad = calloc(m->n_w, sizeof *grad);
    REQUIRE(grad, "alloc");
    batch_loss(m, &w, seq, label, 2, 11);
    slm_cnn_backward(m, &w, label, g_drop, 2, 11, grad, NULL);
    size_t nonzero = 0;
    for (size_t j = 0; j < m->n_w; j++) nonzero += grad[j] != 0;
    CHECK(nonzero > m->n_w / 2, "only %zu of %zu gradients are non-zero: the check would be vacuous", nonzero, m->n_w);
    int bad = 0;
    const float h = 1e-2f;
    for (size_t j = 0; j < m->n_w; j++) {
        float keep = m->w[j];
        m->w[j] = keep + h;
        double lp = batch_loss(m, &w, seq, label, 2, 11);
        m->w[j] = keep - h;
        double lm = batch_loss(m, &w, seq, label, 2, 11);
        m->w[j] = keep;
        double num = (lp - lm) / (2.0 * h);
        if (fabs(num - grad[j]) > 2e-3 + 3e-2 * fabs(num)) {
            if (bad++ < 5) CHECK(0, "parameter %zu: backward %g, finite difference %g", j, (double)grad[j], num);
        }
    }
    CHECK(bad == 0, "%d of %zu parameters disagree", bad, m->n_w);
    free(grad);
    slm_cnn_work_free(&w);
    slm_cnn_free(m);
}

static void cnn_backward_matches_finite_differences(void)
{
    g_drop = NULL;
    check_gradients();
}

static void cnn_backward_with_dropout_matches_finite_differences(void)
{
    /* 2 sequences x c2 = 4 pooled features; p = 0.5 keeps units at x2 */
    static const float mask[8] = {2, 0, 2, 2, 0, 2, 2, 0};
    g_drop = mask;
    check_gradients();
    g_drop = NULL;
}

int main(void)
{
    RUN(cnn_backward_matches_finite_differences);
    RUN(cnn_backward_with_dropout_matches_finite_differences);
    return harness_finish();
}

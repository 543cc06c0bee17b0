/* test_sampler.c — the sampler of slm.h against independent expectations:
 * argmax by hand, softmax computed here in double (chi-square on many draws),
 * penalties worked out by hand on small logit vectors. */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "harness.h"
#include "sample/rng.h"
#include "slm.h"

static slm_sampler_params plain(float temp)
{
    slm_sampler_params p = slm_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.seed = 1234;
    return p;
}

static slm_sampler *make(const slm_sampler_params *p)
{
    slm_sampler *s = NULL;
    slm_status st = slm_sampler_new(p, &s);
    CHECK(st == SLM_OK, "slm_sampler_new: %s %s", slm_status_name(st), slm_last_error());
    return s;
}

/* Count n draws into counts[n_vocab]. */
static void draw_counts(slm_sampler *s, const float *logits, int n_vocab, int n, int *counts)
{
    memset(counts, 0, (size_t)n_vocab * sizeof *counts);
    for (int i = 0; i < n; i++) {
        int32_t t = slm_sampler_sample(s, logits, n_vocab);
        if (t >= 0 && t < n_vocab) counts[t]++;
        else counts[0] = -1000000;
    }
}

/* Chi-square of counts against probabilities p (entries with p == 0 must
 * have count 0: returns +inf otherwise). */
static double chi_square(const int *counts, const double *p, int k, int n)
{
    double x2 = 0.0;
    for (int i = 0; i < k; i++) {
        if (p[i] == 0.0) {
            if (counts[i] != 0) return INFINITY;
            continue;
        }
        double e = p[i] * n, d = counts[i] - e;
        x2 += d * d / e;
    }
    return x2;
}

static void softmax_ref(const float *l, int k, double temp, double *p)
{
    double mx = -INFINITY, sum = 0.0;
    for (int i = 0; i < k; i++) mx = fmax(mx, l[i] / temp);
    for (int i = 0; i < k; i++) sum += p[i] = exp(l[i] / temp - mx);
    for (int i = 0; i < k; i++) p[i] /= sum;
}

static void greedy_picks_the_largest_logit_and_the_lowest_id_on_ties(void)
{
    slm_sampler_params p = plain(0.0f);
    slm_sampler *s = make(&p);
    REQUIRE(s, "no sampler");
    const float a[] = {0.1f, 3.0f, -2.0f, 2.9f};
    CHECK(slm_sampler_sample(s, a, 4) == 1, "argmax of a is 1");
    const float b[] = {-1.0f, 5.0f, 2.0f, 5.0f, 5.0f};
    CHECK(slm_sampler_sample(s, b, 5) == 1, "ties at 1, 3, 4 must give 1");
    const float c[] = {7.0f, 7.0f};
    CHECK(slm_sampler_sample(s, c, 2) == 0, "tie at 0 and 1 must give 0");
    p.temperature = -1.0f;
    slm_sampler *s2 = make(&p);
    CHECK(s2 && slm_sampler_sample(s2, b, 5) == 1, "negative temperature is greedy too");
    slm_sampler_free(s2);
    slm_sampler_free(s);
}

static void top_k_1_equals_greedy_for_any_seed(void)
{
    slm_rng r;
    slm_rng_seed(&r, 99);
    float l[1000];
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < 1000; i++) l[i] = (float)slm_rng_normal(&r) * 3.0f;
        if (trial == 5) l[17] = l[900] = 100.0f; /* a tie: lowest id wins */
        int best = 0;
        for (int i = 1; i < 1000; i++)
            if (l[i] > l[best]) best = i;
        slm_sampler_params p = plain(1.5f);
        p.top_k = 1;
        p.seed = (uint64_t)trial * 7919u;
        slm_sampler *s = make(&p);
        REQUIRE(s, "no sampler");
        CHECK(slm_sampler_sample(s, l, 1000) == best, "trial %d: top_k=1 must give argmax %d", trial, best);
        slm_sampler_free(s);
    }
}

static void same_seed_reproduces_the_sequence_and_reset_restarts_it(void)
{
    float l[50];
    for (int i = 0; i < 50; i++) l[i] = (float)(i % 7) * 0.3f;
    slm_sampler_params p = plain(1.0f);
    p.seed = 42;
    slm_sampler *a = make(&p), *b = make(&p);
    p.seed = 43;
    slm_sampler *c = make(&p);
    REQUIRE(a && b && c, "no sampler");
    int32_t first[200];
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int32_t ta = slm_sampler_sample(a, l, 50), tb = slm_sampler_sample(b, l, 50);
        int32_t tc = slm_sampler_sample(c, l, 50);
        first[i] = ta;
        CHECK(ta == tb, "draw %d: same seed gave %d and %d", i, ta, tb);
        differ += ta != tc;
    }
    CHECK(differ > 100, "seeds 42 and 43 agree on %d of 200 draws", 200 - differ);
    slm_sampler_reset(a);
    for (int i = 0; i < 200; i++) {
        int32_t t = slm_sampler_sample(a, l, 50);
        CHECK(t == first[i], "after reset draw %d gave %d, expected %d", i, t, first[i]);
        if (t != first[i]) break;
    }
    slm_sampler_free(a);
    slm_sampler_free(b);
    slm_sampler_free(c);
}

static void draws_follow_softmax_at_temperature_1_and_2(void)
{
    const float l[8] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 1.5f, -1.0f, 0.25f};
    const int n = 40000;
    int counts[8];
    double p[8];
    for (int t = 1; t <= 2; t++) {
        slm_sampler_params sp = plain((float)t);
        slm_sampler *s = make(&sp);
        REQUIRE(s, "no sampler");
        draw_counts(s, l, 8, n, counts);
        softmax_ref(l, 8, t, p);
        double x2 = chi_square(counts, p, 8, n);
        /* 7 degrees of freedom: P(X2 > 35) ~ 1e-5. */
        CHECK(x2 < 35.0, "T=%d: chi-square %.1f against softmax", t, x2);
        slm_sampler_free(s);
    }
}

static void top_k_draws_only_the_k_best_with_renormalised_softmax(void)
{
    const float l[6] = {0.0f, 1.0f, 3.0f, 2.0f, 2.5f, -1.0f};
    slm_sampler_params sp = plain(1.0f);
    sp.top_k = 3;
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    int counts[6];
    const int n = 30000;
    draw_counts(s, l, 6, n, counts);
    /* The three best are ids 2, 4, 3. */
    const float kept[3] = {3.0f, 2.5f, 2.0f};
    double q[3], p[6] = {0};
    softmax_ref(kept, 3, 1.0, q);
    p[2] = q[0];
    p[4] = q[1];
    p[3] = q[2];
    double x2 = chi_square(counts, p, 6, n);
    CHECK(x2 < 25.0, "chi-square %.1f (counts %d %d %d %d %d %d)", x2, counts[0], counts[1], counts[2],
          counts[3], counts[4], counts[5]);
    slm_sampler_free(s);
}

static void top_p_keeps_the_smallest_prefix_reaching_p(void)
{
    /* probabilities 0.5, 0.3, 0.15, 0.05 (in shuffled id order) */
    const float l[4] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    slm_sampler_params sp = plain(1.0f);
    sp.top_p = 0.7f; /* 0.5 < 0.7 <= 0.8: keep ids 1 and 3 */
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    int counts[4];
    const int n = 20000;
    draw_counts(s, l, 4, n, counts);
    double p[4] = {0, 0.5 / 0.8, 0, 0.3 / 0.8};
    double x2 = chi_square(counts, p, 4, n);
    CHECK(x2 < 20.0, "chi-square %.1f (counts %d %d %d %d)", x2, counts[0], counts[1], counts[2], counts[3]);
    slm_sampler_free(s);
}

static void top_p_over_a_large_vocabulary_keeps_the_right_prefix(void)
{
    enum { V = 1000 };
    static float l[V];
    int big[10], counts[V];
    /* Ten tokens at logit 5, the rest at 0: each big one has p = e^5 / (10 e^5 + 990)
     * = 0.0600, so top_p 0.5 needs nine of them: the nine lowest ids (ties). */
    for (int i = 0; i < V; i++) l[i] = 0.0f;
    for (int i = 0; i < 10; i++) {
        big[i] = (i * 97 + 13) % V;
        l[big[i]] = 5.0f;
    }
    int dropped = 0; /* the highest id among the big ones */
    for (int i = 1; i < 10; i++)
        if (big[i] > big[dropped]) dropped = i;
    slm_sampler_params sp = plain(1.0f);
    sp.top_p = 0.5f;
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    const int n = 9000;
    draw_counts(s, l, V, n, counts);
    static double p[V];
    for (int i = 0; i < V; i++) p[i] = 0.0;
    for (int i = 0; i < 10; i++)
        if (i != dropped) p[big[i]] = 1.0 / 9.0;
    double x2 = chi_square(counts, p, V, n);
    CHECK(x2 < 30.0, "chi-square %.1f (outside tokens drawn: %s)", x2, isinf(x2) ? "yes" : "no");
    slm_sampler_free(s);

    /* All equal: half the vocabulary, the lowest 500 ids. */
    for (int i = 0; i < V; i++) l[i] = 1.0f;
    s = make(&sp);
    REQUIRE(s, "no sampler");
    draw_counts(s, l, V, 4000, counts);
    int outside = 0, seen = 0;
    for (int i = 0; i < V; i++) {
        if (i >= 500) outside += counts[i];
        seen += counts[i] > 0;
    }
    CHECK(outside == 0, "%d draws above id 499", outside);
    CHECK(seen > 450, "only %d distinct ids drawn of 500", seen);
    slm_sampler_free(s);
}

static void min_p_drops_tokens_below_the_fraction_of_the_best(void)
{
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    slm_sampler_params sp = plain(1.0f);
    sp.min_p = 0.2f; /* threshold 0.1: id 3 (0.05) goes, 2 (0.15) stays */
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    int counts[4];
    const int n = 20000;
    draw_counts(s, l, 4, n, counts);
    double p[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0};
    double x2 = chi_square(counts, p, 4, n);
    CHECK(x2 < 20.0, "chi-square %.1f (counts %d %d %d %d)", x2, counts[0], counts[1], counts[2], counts[3]);
    slm_sampler_free(s);
}

static void repeat_penalty_divides_positive_and_multiplies_negative_logits(void)
{
    slm_sampler_params sp = plain(0.0f);
    sp.repeat_penalty = 2.0f;
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    /* positive: 2.0 / 2 = 1.0 < 1.5 */
    const float a[3] = {2.0f, 1.5f, -3.0f};
    CHECK(slm_sampler_sample(s, a, 3) == 0, "before accept: 0");
    slm_sampler_accept(s, 0);
    CHECK(slm_sampler_sample(s, a, 3) == 1, "after accept(0) with penalty 2: 1");
    /* negative: -1.0 * 2 = -2.0 < -1.5 (dividing would have made it -0.5, still best) */
    const float b[3] = {-1.0f, -1.5f, -9.0f};
    CHECK(slm_sampler_sample(s, b, 3) == 1, "negative logit of a seen token must be multiplied");
    /* an unseen token is untouched: 1.9 / 2 would lose against 1.0 */
    const float c[3] = {-5.0f, 1.9f, 1.0f};
    CHECK(slm_sampler_sample(s, c, 3) == 1, "unseen token 1 must keep 1.9");
    /* The caller's logits are unchanged. */
    CHECK(a[0] == 2.0f && b[0] == -1.0f, "logits modified");
    slm_sampler_free(s);
}

static void frequency_and_presence_penalties_subtract_per_count_and_once(void)
{
    const float l[3] = {1.0f, 0.9f, 0.0f};
    slm_sampler_params sp = plain(0.0f);
    sp.frequency_penalty = 0.04f; /* 1.0 - 2 * 0.04 = 0.92 > 0.9 */
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    slm_sampler_accept(s, 0);
    slm_sampler_accept(s, 0);
    CHECK(slm_sampler_sample(s, l, 3) == 0, "0.92 still beats 0.9");
    slm_sampler_accept(s, 0); /* 1.0 - 3 * 0.04 = 0.88 < 0.9 */
    CHECK(slm_sampler_sample(s, l, 3) == 1, "third occurrence must tip it to 1");
    slm_sampler_free(s);

    sp = plain(0.0f);
    sp.presence_penalty = 0.05f; /* once, whatever the count: 0.95 > 0.9 */
    s = make(&sp);
    REQUIRE(s, "no sampler");
    for (int i = 0; i < 5; i++) slm_sampler_accept(s, 0);
    CHECK(slm_sampler_sample(s, l, 3) == 0, "presence penalty must not scale with count");
    slm_sampler_free(s);
    sp.presence_penalty = 0.2f; /* 0.8 < 0.9 */
    s = make(&sp);
    REQUIRE(s, "no sampler");
    slm_sampler_accept(s, 0);
    CHECK(slm_sampler_sample(s, l, 3) == 1, "presence 0.2 must tip it to 1");
    slm_sampler_free(s);
}

static void penalties_only_see_the_last_n_tokens(void)
{
    const float l[8] = {2.0f, 1.5f, 0, 0, 0, 0, 0, 0};
    slm_sampler_params sp = plain(0.0f);
    sp.repeat_penalty = 2.0f;
    sp.penalty_last_n = 2;
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    slm_sampler_accept(s, 0);
    slm_sampler_accept(s, 5);
    CHECK(slm_sampler_sample(s, l, 8) == 1, "0 is in the window");
    slm_sampler_accept(s, 6);
    CHECK(slm_sampler_sample(s, l, 8) == 0, "0 has left the 2-token window");
    slm_sampler_accept(s, 0);
    slm_sampler_reset(s);
    CHECK(slm_sampler_sample(s, l, 8) == 0, "reset clears the history");
    slm_sampler_free(s);
}

static void sampling_allocates_nothing_after_the_first_call(void)
{
    enum { V = 5000 };
    static float l[V];
    slm_rng r;
    slm_rng_seed(&r, 5);
    for (int i = 0; i < V; i++) l[i] = (float)slm_rng_normal(&r);
    slm_sampler_params sp = slm_sampler_default_params();
    sp.repeat_penalty = 1.1f;
    sp.top_k = 0; /* full sort path for top-p */
    slm_sampler *s = make(&sp);
    REQUIRE(s, "no sampler");
    slm_sampler_accept(s, slm_sampler_sample(s, l, V));
    uint64_t before = slm_alloc_count();
    for (int i = 0; i < 50; i++) slm_sampler_accept(s, slm_sampler_sample(s, l, V));
    CHECK(slm_alloc_count() == before, "%llu allocations during sampling",
          (unsigned long long)(slm_alloc_count() - before));
    slm_sampler_free(s);
}

static void bad_parameters_are_rejected_and_empty_vocab_gives_minus_one(void)
{
    slm_sampler_params sp = slm_sampler_default_params();
    slm_sampler *s = (slm_sampler *)&sp; /* must be reset to NULL */
    sp.top_p = 0.0f;
    CHECK(slm_sampler_new(&sp, &s) == SLM_ERR_ARG && s == NULL, "top_p 0 accepted");
    CHECK(strstr(slm_last_error(), "top_p") != NULL, "message '%s' should name top_p", slm_last_error());
    sp = slm_sampler_default_params();
    sp.top_k = -1;
    CHECK(slm_sampler_new(&sp, &s) == SLM_ERR_ARG && s == NULL, "top_k -1 accepted");
    sp = slm_sampler_default_params();
    sp.temperature = NAN;
    CHECK(slm_sampler_new(&sp, &s) == SLM_ERR_ARG && s == NULL, "NaN temperature accepted");
    sp = slm_sampler_default_params();
    sp.penalty_last_n = -5;
    CHECK(slm_sampler_new(&sp, &s) == SLM_ERR_ARG && s == NULL, "penalty_last_n -5 accepted");
    CHECK(slm_sampler_new(NULL, &s) == SLM_ERR_ARG && s == NULL, "NULL params accepted");
    sp = slm_sampler_default_params();
    s = make(&sp);
    REQUIRE(s, "no sampler");
    float l[1] = {0};
    CHECK(slm_sampler_sample(s, l, 0) == -1, "n_vocab 0");
    CHECK(slm_sampler_sample(s, l, 1) == 0, "n_vocab 1 always gives 0");
    slm_sampler_accept(s, -7); /* out-of-range ids in the history are ignored */
    slm_sampler_accept(s, 1000);
    CHECK(slm_sampler_sample(s, l, 1) == 0, "after odd history");
    slm_sampler_free(s);
    slm_sampler_free(NULL);
}

static void default_params_match_the_header(void)
{
    slm_sampler_params sp = slm_sampler_default_params();
    CHECK(sp.temperature == 0.8f && sp.top_k == 40 && sp.top_p == 0.95f && sp.min_p == 0.05f,
          "defaults");
    CHECK(sp.repeat_penalty == 1.0f && sp.penalty_last_n == 64 && sp.seed == 0xC0FFEE, "defaults");
}

int main(void)
{
    RUN(greedy_picks_the_largest_logit_and_the_lowest_id_on_ties);
    RUN(top_k_1_equals_greedy_for_any_seed);
    RUN(same_seed_reproduces_the_sequence_and_reset_restarts_it);
    RUN(draws_follow_softmax_at_temperature_1_and_2);
    RUN(top_k_draws_only_the_k_best_with_renormalised_softmax);
    RUN(top_p_keeps_the_smallest_prefix_reaching_p);
    RUN(top_p_over_a_large_vocabulary_keeps_the_right_prefix);
    RUN(min_p_drops_tokens_below_the_fraction_of_the_best);
    RUN(repeat_penalty_divides_positive_and_multiplies_negative_logits);
    RUN(frequency_and_presence_penalties_subtract_per_count_and_once);
    RUN(penalties_only_see_the_last_n_tokens);
    RUN(sampling_allocates_nothing_after_the_first_call);
    RUN(bad_parameters_are_rejected_and_empty_vocab_gives_minus_one);
    RUN(default_params_match_the_header);
    return harness_finish();
}

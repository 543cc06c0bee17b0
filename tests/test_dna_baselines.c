/* test_dna_baselines.c — the labelled-set readers (seqset.c) and the two
 * supervised baselines (kmer_lr.c, cnn.c) on synthetic data written here:
 * random sequences where a class is defined by an inserted motif, so the
 * right answer is known by construction. Checks: the readers normalise and
 * reject with file:line messages, k-fold is stratified, both models separate
 * the classes on held-out data, their losses fall, and training is
 * deterministic for a seed. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/alloc.h"
#include "dna/baseline.h"
#include "dna/metrics.h"
#include "dna/seqset.h"
#include "harness.h"
#include "sample/rng.h"

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* ---- seqset ---------------------------------------------------------- */

static void csv_reader_normalises_case_and_iupac_codes(void)
{
    const char *p = tmp_path("a.csv");
    write_file(p, "sequence,label\r\nacgtACGT,1\nARYN,0\n\nttt,2\n");
    slm_seqset s;
    REQUIRE(slm_seqset_read_csv(p, &s) == SLM_OK, "%s", slm_last_error());
    CHECK(s.n == 3, "n %zu", s.n);
    CHECK(s.n_class == 3, "n_class %d", (int)s.n_class);
    CHECK(strcmp(s.seq[0], "ACGTACGT") == 0, "seq0 %s", s.seq[0]);
    CHECK(strcmp(s.seq[1], "ANNN") == 0, "seq1 %s", s.seq[1]);
    CHECK(s.label[0] == 1 && s.label[1] == 0 && s.label[2] == 2, "labels");
    CHECK(slm_seqset_max_len(&s) == 8, "max len");
    slm_seqset_free(&s);
}

static void csv_reader_reads_gzip(void)
{
    const char *p = tmp_path("b.csv.gz");
    gzFile f = gzopen(p, "wb");
    REQUIRE(f, "gzopen");
    gzputs(f, "sequence,label\nGATTACA,0\nCCCC,1\n");
    gzclose(f);
    slm_seqset s;
    REQUIRE(slm_seqset_read_csv(p, &s) == SLM_OK, "%s", slm_last_error());
    CHECK(s.n == 2 && strcmp(s.seq[0], "GATTACA") == 0 && s.label[1] == 1 && s.n_class == 2, "content");
    slm_seqset_free(&s);
}

static void csv_reader_names_file_and_line_on_errors(void)
{
    struct {
        const char *text, *want;
    } cases[] = {
        {"sequence,label\nACGT,0\nAC#T,1\n", ":3: character '#'"},
        {"seq,lab\nACGT,0\n", ":1: header"},
        {"sequence,label\nACGT,x\n", ":2: label 'x'"},
        {"sequence,label\nACGT,-1\n", ":2: label '-1'"},
        {"sequence,label\nACGT\n", ":2: expected 2"},
        {"sequence,label\n,1\n", ":2: empty sequence"},
        {"sequence,label\n", "no sequences"},
        {"", "empty file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = tmp_path("bad.csv");
        write_file(p, cases[i].text);
        slm_seqset s;
        slm_status st = slm_seqset_read_csv(p, &s);
        CHECK(st == SLM_ERR_FORMAT, "case %zu: status %d", i, (int)st);
        CHECK(strstr(slm_last_error(), cases[i].want) != NULL && strstr(slm_last_error(), "bad.csv") != NULL,
              "case %zu: message '%s', expected '%s'", i, slm_last_error(), cases[i].want);
        CHECK(s.n == 0 && s.seq == NULL, "case %zu: output not empty", i);
    }
    slm_seqset s;
    CHECK(slm_seqset_read_csv(tmp_path("missing.csv"), &s) == SLM_ERR_IO, "missing file");
}

static void uci_readers_parse_padded_fields(void)
{
    const char *p = tmp_path("splice.data");
    write_file(p, "EI,    ATRINS-DONOR-521,               CCAGCTGCATCACAGGAGGC\n"
                  "IE,    X,    acgtDRS\n"
                  "N,     Y,    TTTT\n");
    slm_seqset s;
    REQUIRE(slm_seqset_read_uci_splice(p, &s) == SLM_OK, "%s", slm_last_error());
    CHECK(s.n == 3 && s.n_class == 3, "n %zu n_class %d", s.n, (int)s.n_class);
    CHECK(s.label[0] == 0 && s.label[1] == 1 && s.label[2] == 2, "labels");
    CHECK(strcmp(s.seq[0], "CCAGCTGCATCACAGGAGGC") == 0 && strcmp(s.seq[1], "ACGTNNN") == 0, "seqs %s %s",
          s.seq[0], s.seq[1]);
    slm_seqset_free(&s);
    write_file(p, "XX, a, ACGT\n");
    CHECK(slm_seqset_read_uci_splice(p, &s) == SLM_ERR_FORMAT && strstr(slm_last_error(), ":1: class 'XX'"),
          "%s", slm_last_error());
    const char *q = tmp_path("promoters.data");
    write_file(q, "+,S10,\t\ttactagcaatacg\n-,867,\t\tatatgaacgttg\n");
    REQUIRE(slm_seqset_read_uci_promoters(q, &s) == SLM_OK, "%s", slm_last_error());
    CHECK(s.n == 2 && s.label[0] == 1 && s.label[1] == 0 && strcmp(s.seq[0], "TACTAGCAATACG") == 0, "promoters");
    slm_seqset_free(&s);
}

static void kfold_is_stratified_and_seeded(void)
{
    slm_seqset s = {0};
    for (int i = 0; i < 103; i++) REQUIRE(slm_seqset_push(&s, "ACGT", i < 31 ? 0 : (i < 70 ? 1 : 2)) == SLM_OK, "push");
    int32_t fold[103], fold2[103];
    REQUIRE(slm_seqset_kfold(&s, 10, 5, fold) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_seqset_kfold(&s, 10, 5, fold2) == SLM_OK, "%s", slm_last_error());
    CHECK(memcmp(fold, fold2, sizeof fold) == 0, "same seed, different folds");
    int count[10][3] = {{0}};
    for (int i = 0; i < 103; i++) {
        REQUIRE(fold[i] >= 0 && fold[i] < 10, "fold %d", (int)fold[i]);
        count[fold[i]][s.label[i]]++;
    }
    int total_per_class[3] = {31, 39, 33};
    for (int f = 0; f < 10; f++) {
        int tot = 0;
        for (int c = 0; c < 3; c++) {
            int lo = total_per_class[c] / 10;
            CHECK(count[f][c] >= lo && count[f][c] <= lo + 1, "fold %d class %d holds %d", f, c, count[f][c]);
            tot += count[f][c];
        }
        CHECK(tot == 10 || tot == 11, "fold %d holds %d rows", f, tot);
    }
    slm_seqset tr, te;
    REQUIRE(slm_seqset_split_fold(&s, fold, 3, &tr, &te) == SLM_OK, "%s", slm_last_error());
    CHECK(tr.n + te.n == 103 && te.n >= 10 && tr.n_class == 3, "split %zu + %zu", tr.n, te.n);
    slm_seqset_free(&tr);
    slm_seqset_free(&te);
    CHECK(slm_seqset_kfold(&s, 1, 5, fold) == SLM_ERR_ARG, "k = 1 accepted");
    CHECK(slm_seqset_push(&s, "AC!", 0) == SLM_ERR_ARG, "bad character accepted");
    slm_seqset_free(&s);
}

/* ---- synthetic motif data --------------------------------------------- */

/* n random 60-mers; class 1 carries TATAAT and class 2 GGCGCC at a random
 * offset (n_class 2 or 3). */
static void motif_set(size_t n, int n_class, uint64_t seed, slm_seqset *s)
{
    static const char *motif[] = {NULL, "TATAAT", "GGCGCC"};
    slm_rng r;
    slm_rng_seed(&r, seed);
    memset(s, 0, sizeof *s);
    char buf[61];
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % (size_t)n_class);
        for (int j = 0; j < 60; j++) buf[j] = "ACGT"[slm_rng_next(&r) & 3];
        buf[60] = 0;
        if (motif[c]) memcpy(buf + 5 + slm_rng_next(&r) % 45, motif[c], 6);
        slm_seqset_push(s, buf, c);
    }
    s->n_class = n_class;
}

static double mcc_of(const slm_seqset *test, const float *proba)
{
    slm_dna_metrics m;
    if (slm_dna_metrics_compute(test->label, proba, test->n, test->n_class, &m) != SLM_OK) return -2;
    return m.mcc;
}

static void kmer_lr_separates_motif_classes(void)
{
    slm_seqset tr, dv, te;
    motif_set(3000, 3, 1, &tr);
    motif_set(300, 3, 2, &dv);
    motif_set(300, 3, 3, &te);
    slm_kmer_lr_params p = slm_kmer_lr_default_params();
    p.k_min = 3;
    p.k_max = 6;
    static const double grid[] = {1e-2, 1e-3, 1e-4, 1e-5};
    p.l2 = grid;
    p.n_l2 = 4;
    p.both_strands = 0;
    p.l2_patience = 0;
    slm_kmer_lr *m = NULL;
    slm_kmer_lr_stats st;
    REQUIRE(slm_kmer_lr_train(&p, &tr, &dv, &m, &st) == SLM_OK, "%s", slm_last_error());
    float *proba = slm_alloc(te.n * 3 * sizeof(float));
    REQUIRE(slm_kmer_lr_predict(m, &te, proba) == SLM_OK, "%s", slm_last_error());
    double mcc = mcc_of(&te, proba);
    CHECK(mcc > 0.9, "test MCC %g (best k %d l2 %g dev %g)", mcc, st.best_k, st.best_l2, st.best_dev_mcc);
    /* only 6-mers see the whole motif: shorter k cannot reach the same dev MCC */
    CHECK(st.best_k >= 5, "best k %d", st.best_k);
    CHECK(st.n_fits == 16, "fits %d", st.n_fits);
    CHECK(slm_kmer_lr_n_params(m) == 3 * (1u << (2 * st.best_k)) + 3, "params %llu",
          (unsigned long long)slm_kmer_lr_n_params(m));
    /* deterministic: a second training predicts the same bits */
    slm_kmer_lr *m2 = NULL;
    float *proba2 = slm_alloc(te.n * 3 * sizeof(float));
    REQUIRE(slm_kmer_lr_train(&p, &tr, &dv, &m2, NULL) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_kmer_lr_predict(m2, &te, proba2) == SLM_OK, "%s", slm_last_error());
    CHECK(memcmp(proba, proba2, te.n * 3 * sizeof(float)) == 0, "two trainings differ");
    slm_free(proba);
    slm_free(proba2);
    slm_kmer_lr_free(m);
    slm_kmer_lr_free(m2);
    slm_seqset_free(&tr);
    slm_seqset_free(&dv);
    slm_seqset_free(&te);
}

static void kmer_lr_objective_falls_monotonically(void)
{
    slm_seqset tr;
    motif_set(400, 2, 4, &tr);
    double loss[60];
    int n = 0;
    REQUIRE(slm_kmer_lr_fit_trace(6, 1e-3, 0, 60, &tr, loss, &n) == SLM_OK, "%s", slm_last_error());
    REQUIRE(n >= 5, "only %d iterations", n);
    for (int i = 1; i < n; i++) CHECK(loss[i] <= loss[i - 1] + 1e-12, "iteration %d: %g after %g", i, loss[i], loss[i - 1]);
    CHECK(loss[n - 1] < 0.5 * log(2.0), "final objective %g", loss[n - 1]);
    slm_seqset_free(&tr);
}

static void kmer_lr_folds_strands_when_asked(void)
{
    slm_seqset tr;
    motif_set(200, 2, 5, &tr);
    slm_kmer_lr_params p = slm_kmer_lr_default_params();
    p.k_min = p.k_max = 4;
    p.both_strands = 1;
    slm_kmer_lr *m = NULL;
    REQUIRE(slm_kmer_lr_train(&p, &tr, NULL, &m, NULL) == SLM_OK, "%s", slm_last_error());
    /* 4-mers: 256, of which 16 are their own reverse complement -> (256 + 16) / 2 = 136 */
    CHECK(slm_kmer_lr_n_params(m) == 2 * 136 + 2, "params %llu", (unsigned long long)slm_kmer_lr_n_params(m));
    slm_kmer_lr_free(m);
    slm_seqset_free(&tr);
}

/* The default selection: both strand variants, the wide L2 grid, the sweep
 * cut short after 2 worse L2 values. */
static void kmer_lr_chooses_strands_and_l2_on_dev(void)
{
    slm_seqset tr, dv;
    motif_set(600, 2, 6, &tr);
    motif_set(200, 2, 7, &dv);
    slm_kmer_lr_params p = slm_kmer_lr_default_params();
    CHECK(p.both_strands == -1 && p.l2_patience == 2, "defaults %d %d", p.both_strands, p.l2_patience);
    p.k_min = p.k_max = 4;
    slm_kmer_lr *m = NULL;
    slm_kmer_lr_stats st;
    REQUIRE(slm_kmer_lr_train(&p, &tr, &dv, &m, &st) == SLM_OK, "%s", slm_last_error());
    /* each strand variant fits at least 3 L2 values (2 worse ones end a sweep) and at most the 10 of the grid */
    CHECK(st.n_fits >= 6 && st.n_fits <= 20, "fits %d", st.n_fits);
    uint64_t want = st.best_both_strands ? 2 * 136 + 2 : 2 * 256 + 2;
    CHECK(slm_kmer_lr_n_params(m) == want, "params %llu, folded %d", (unsigned long long)slm_kmer_lr_n_params(m),
          st.best_both_strands);
    CHECK(st.best_l2 <= 10 && st.best_l2 >= 1e-4 && st.best_dev_mcc > 0.5, "l2 %g dev MCC %g", st.best_l2,
          st.best_dev_mcc);
    slm_kmer_lr_free(m);
    p.both_strands = 2;
    CHECK(slm_kmer_lr_train(&p, &tr, &dv, &m, &st) == SLM_ERR_ARG && m == NULL, "both_strands 2 accepted");
    slm_seqset_free(&tr);
    slm_seqset_free(&dv);
}

static slm_cnn_params small_cnn(void)
{
    slm_cnn_params p = slm_cnn_default_params();
    p.c1 = 32;
    p.c2 = 32;
    p.epochs = 6;
    p.patience = 3;
    p.batch = 32;
    p.n_threads = 1;
    return p;
}

static void cnn_separates_motif_classes_and_loss_falls(void)
{
    slm_seqset tr, dv, te;
    motif_set(3000, 3, 11, &tr);
    motif_set(300, 3, 12, &dv);
    motif_set(300, 3, 13, &te);
    slm_cnn_params p = small_cnn();
    slm_cnn *m = NULL;
    slm_cnn_stats st;
    REQUIRE(slm_cnn_train(&p, &tr, &dv, &m, &st) == SLM_OK, "%s", slm_last_error());
    CHECK(st.final_loss < 0.5 * st.first_loss, "loss %g -> %g", st.first_loss, st.final_loss);
    float *proba = slm_alloc(te.n * 3 * sizeof(float));
    REQUIRE(slm_cnn_predict(m, &te, proba) == SLM_OK, "%s", slm_last_error());
    double mcc = mcc_of(&te, proba);
    CHECK(mcc > 0.9, "test MCC %g (dev %g at epoch %d of %d)", mcc, st.best_dev_mcc, st.best_epoch, st.epochs_run);
    size_t want = 32 * 11 * 4 + 32 + 32 * 7 * 32 + 32 + 3 * 32 + 3;
    CHECK(slm_cnn_n_params(m) == want, "params %llu, expected %zu", (unsigned long long)slm_cnn_n_params(m), want);
    slm_free(proba);
    slm_cnn_free(m);
    slm_seqset_free(&tr);
    slm_seqset_free(&dv);
    slm_seqset_free(&te);
}

static void cnn_is_deterministic_for_a_seed(void)
{
    slm_seqset tr, te;
    motif_set(200, 2, 21, &tr);
    motif_set(50, 2, 22, &te);
    slm_cnn_params p = small_cnn();
    p.epochs = 2;
    p.rc_augment = 1;
    slm_cnn *a = NULL, *b = NULL, *c = NULL;
    REQUIRE(slm_cnn_train(&p, &tr, NULL, &a, NULL) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_cnn_train(&p, &tr, NULL, &b, NULL) == SLM_OK, "%s", slm_last_error());
    p.seed = 2;
    REQUIRE(slm_cnn_train(&p, &tr, NULL, &c, NULL) == SLM_OK, "%s", slm_last_error());
    float pa[100], pb[100], pc[100];
    REQUIRE(slm_cnn_predict(a, &te, pa) == SLM_OK && slm_cnn_predict(b, &te, pb) == SLM_OK &&
                slm_cnn_predict(c, &te, pc) == SLM_OK,
            "%s", slm_last_error());
    CHECK(memcmp(pa, pb, sizeof pa) == 0, "same seed, different predictions");
    CHECK(memcmp(pa, pc, sizeof pa) != 0, "different seeds, identical predictions");
    slm_cnn_free(a);
    slm_cnn_free(b);
    slm_cnn_free(c);
    slm_seqset_free(&tr);
    slm_seqset_free(&te);
}

/* Padding a batch must not change a sequence's output: predict short and
 * long sequences together and alone. */
static void cnn_output_does_not_depend_on_batch_padding(void)
{
    slm_seqset tr;
    motif_set(100, 2, 31, &tr);
    slm_cnn_params p = small_cnn();
    p.epochs = 1;
    slm_cnn *m = NULL;
    REQUIRE(slm_cnn_train(&p, &tr, NULL, &m, NULL) == SLM_OK, "%s", slm_last_error());
    slm_seqset mixed = {0}, alone = {0};
    slm_seqset_push(&mixed, "ACGTTATAATGGCA", 0);
    slm_seqset_push(&mixed, tr.seq[0], 0);
    slm_seqset_push(&alone, "ACGTTATAATGGCA", 0);
    float pm[4], pa[2];
    REQUIRE(slm_cnn_predict(m, &mixed, pm) == SLM_OK && slm_cnn_predict(m, &alone, pa) == SLM_OK, "%s",
            slm_last_error());
    CHECK(fabsf(pm[0] - pa[0]) < 1e-6f && fabsf(pm[1] - pa[1]) < 1e-6f, "padded %g %g alone %g %g", pm[0], pm[1],
          pa[0], pa[1]);
    slm_seqset_free(&mixed);
    slm_seqset_free(&alone);
    slm_cnn_free(m);
    slm_seqset_free(&tr);
}

/* rc_average: a sequence and its reverse complement get the same
 * probabilities (the mean over both strands is symmetric by construction);
 * dropout trains and predicts deterministically. */
static void cnn_rc_average_is_strand_symmetric(void)
{
    slm_seqset tr, dv, te = {0}, te_rc = {0};
    motif_set(300, 2, 21, &tr);
    motif_set(100, 2, 22, &dv);
    slm_cnn_params p = small_cnn();
    p.epochs = 2;
    p.rc_augment = 1;
    p.rc_average = 1;
    p.dropout = 0.3f;
    slm_cnn *m = NULL;
    REQUIRE(slm_cnn_train(&p, &tr, &dv, &m, NULL) == SLM_OK, "%s", slm_last_error());
    static const char *seqs[] = {"ACGTTAGCCTATAATGGA", "GGGCGCCATTTNACG", "TTATAATCCCC"};
    for (int i = 0; i < 3; i++) {
        char rc[32];
        size_t n = strlen(seqs[i]);
        for (size_t j = 0; j < n; j++) {
            char b = seqs[i][n - 1 - j];
            rc[j] = b == 'A' ? 'T' : b == 'C' ? 'G' : b == 'G' ? 'C' : b == 'T' ? 'A' : 'N';
        }
        rc[n] = 0;
        REQUIRE(slm_seqset_push(&te, seqs[i], 0) == SLM_OK && slm_seqset_push(&te_rc, rc, 0) == SLM_OK, "push");
    }
    float pa[6], pb[6];
    REQUIRE(slm_cnn_predict(m, &te, pa) == SLM_OK && slm_cnn_predict(m, &te_rc, pb) == SLM_OK, "%s", slm_last_error());
    for (int j = 0; j < 6; j++) CHECK(fabsf(pa[j] - pb[j]) < 1e-5f, "row %d class %d: %g vs %g", j / 2, j % 2, (double)pa[j], (double)pb[j]);
    p.dropout = 1.0f;
    slm_cnn *m2 = NULL;
    CHECK(slm_cnn_train(&p, &tr, &dv, &m2, NULL) == SLM_ERR_ARG && m2 == NULL, "dropout 1 accepted");
    slm_cnn_free(m);
    slm_seqset_free(&tr);
    slm_seqset_free(&dv);
    slm_seqset_free(&te);
    slm_seqset_free(&te_rc);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/slm_dna_baselinesXXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(csv_reader_normalises_case_and_iupac_codes);
    RUN(csv_reader_reads_gzip);
    RUN(csv_reader_names_file_and_line_on_errors);
    RUN(uci_readers_parse_padded_fields);
    RUN(kfold_is_stratified_and_seeded);
    RUN(kmer_lr_separates_motif_classes);
    RUN(kmer_lr_objective_falls_monotonically);
    RUN(kmer_lr_folds_strands_when_asked);
    RUN(kmer_lr_chooses_strands_and_l2_on_dev);
    RUN(cnn_separates_motif_classes_and_loss_falls);
    RUN(cnn_is_deterministic_for_a_seed);
    RUN(cnn_output_does_not_depend_on_batch_padding);
    RUN(cnn_rc_average_is_strand_symmetric);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return harness_finish();
}

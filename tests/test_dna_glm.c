/* test_dna_glm.c — the genomic LM end to end on tiny synthetic data the
 * test writes: DNA tokenizers through the runtime's slm_tokenize (against a
 * chunking oracle), pretraining (loss falls on a Markov genome; checkpoint
 * resume is byte-identical), the written model loads in the runtime and its
 * log-likelihood agrees with the runtime's logits, the fine-tuning gradient
 * against finite differences, fine-tuning separates motif/no-motif
 * sequences, probe mode keeps the base, predict/embed shapes, and bad
 * inputs give clear errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "dna/glm.h"
#include "dna/seqset.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "slm.h"

static char tmpdir[256];

static const char *tmp(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static uint64_t lcg = 12345;
static int rnd(int n)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (int)((lcg >> 33) % (uint64_t)n);
}

/* ---- tokenizers ---- */

/* Oracle: split at N; each ACGT run cut into k-mers from its left, a
 * shorter tail piece; N alone. */
static size_t oracle_kmers(const char *s, int k, char pieces[][8])
{
    size_t n = 0, i = 0, len = strlen(s);
    while (i < len) {
        if (s[i] == 'N') {
            strcpy(pieces[n++], "N");
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && s[j] != 'N') j++;
        for (size_t a = i; a < j; a += (size_t)k) {
            size_t w = j - a < (size_t)k ? j - a : (size_t)k;
            memcpy(pieces[n], s + a, w);
            pieces[n++][w] = 0;
        }
        i = j;
    }
    return n;
}

static void kmer_tokenizer_cuts_non_overlapping_kmers_through_slm_tokenize(void)
{
    for (int k = 3; k <= 6; k++) {
        char spec[16];
        snprintf(spec, sizeof spec, "kmer:%d", k);
        REQUIRE(slm_dna_tokenizer_write(spec, tmp("kmer.gguf")) == SLM_OK, "%s",
                slm_last_error());
        slm_model *m = NULL;
        slm_model_params mp = slm_model_default_params();
        mp.vocab_only = 1;
        REQUIRE(slm_model_load(tmp("kmer.gguf"), &mp, &m) == SLM_OK, "%s", slm_last_error());
        int32_t expect_vocab = 4;
        for (int j = 1, p = 4; j <= k; j++, p *= 4) expect_vocab += p;
        CHECK(slm_model_n_vocab(m) == expect_vocab, "k %d: vocab %d, expected %d", k,
              slm_model_n_vocab(m), expect_vocab);
        for (int trial = 0; trial < 60; trial++) {
            char s[128], pieces[130][8];
            int len = rnd(100);
            for (int i = 0; i < len; i++) s[i] = "ACGTACGTACGTN"[rnd(13)];
            s[len] = 0;
            size_t n_exp = oracle_kmers(s, k, pieces), n = 0;
            int32_t ids[160];
            REQUIRE(slm_tokenize(m, s, (size_t)len, 1, 0, ids, 160, &n) == SLM_OK, "%s",
                    slm_last_error());
            REQUIRE(n == n_exp + 1, "k %d '%s': %zu tokens, oracle %zu + BOS", k, s, n, n_exp);
            CHECK(ids[0] == slm_token_bos(m), "BOS first");
            for (size_t i = 0; i < n_exp; i++) {
                char buf[16];
                size_t pl = slm_token_to_piece(m, ids[i + 1], 0, buf, sizeof buf);
                buf[pl < sizeof buf ? pl : sizeof buf - 1] = 0;
                CHECK(strcmp(buf, pieces[i]) == 0, "k %d '%s' token %zu: '%s', oracle '%s'", k,
                      s, i, buf, pieces[i]);
            }
        }
        slm_model_free(m);
    }
}

static void nucleotide_tokenizer_gives_one_token_per_base(void)
{
    REQUIRE(slm_dna_tokenizer_write("nuc", tmp("nuc.gguf")) == SLM_OK, "%s", slm_last_error());
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    REQUIRE(slm_model_load(tmp("nuc.gguf"), &mp, &m) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_model_n_vocab(m) == 8, "vocab %d", slm_model_n_vocab(m));
    const char *s = "ACGTNNACGTTTGCA";
    int32_t ids[32];
    size_t n = 0;
    REQUIRE(slm_tokenize(m, s, strlen(s), 1, 0, ids, 32, &n) == SLM_OK, "%s", slm_last_error());
    REQUIRE(n == strlen(s) + 1, "%zu tokens", n);
    for (size_t i = 0; i < strlen(s); i++) {
        char buf[8];
        size_t pl = slm_token_to_piece(m, ids[i + 1], 0, buf, sizeof buf);
        CHECK(pl == 1 && buf[0] == s[i], "base %zu", i);
    }
    slm_model_free(m);
}

static void bad_tokenizer_specs_are_refused(void)
{
    CHECK(slm_dna_tokenizer_write("kmer:7", tmp("x.gguf")) == SLM_ERR_ARG, "k 7");
    CHECK(strstr(slm_last_error(), "3..6") != NULL, "message: %s", slm_last_error());
    CHECK(slm_dna_tokenizer_write("kmer:2x", tmp("x.gguf")) == SLM_ERR_ARG, "k 2x");
    CHECK(slm_dna_tokenizer_write("bpe", tmp("x.gguf")) == SLM_ERR_ARG, "bpe");
}

/* ---- pretraining ---- */

/* A genome where A->C->G->T->A follows with probability 0.9 (its own
 * reverse complement, so both strands teach the same bigrams). */
static void write_markov_genome(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(">markov\n", f);
    int c = 0;
    for (int i = 0; i < n; i++) {
        c = rnd(10) < 9 ? (c + 1) % 4 : rnd(4);
        fputc("acgt"[c], f); /* lower case: soft-masked letters are upper-cased */
        if (i % 60 == 59) fputc('\n', f);
    }
    fputs("\n", f);
    fclose(f);
}

static float first_loss;
static int stop_at;
static int record_progress(const slm_train_progress *p, void *user)
{
    (void)user;
    if (p->step == 1) first_loss = p->loss;
    return stop_at && (int)p->step == stop_at;
}

static slm_dna_pretrain_params tiny_params(void)
{
    slm_dna_pretrain_params p = slm_dna_pretrain_default_params();
    p.train.n_embd = 32;
    p.train.n_layer = 2;
    p.train.n_head = 2;
    p.train.n_ff = 64;
    p.train.n_ctx = 64;
    p.train.batch = 4;
    p.train.n_steps = 40;
    p.train.warmup = 5;
    p.train.lr = 3e-3f;
    p.train.n_threads = 1;
    p.train.seed = 7;
    p.val_bases = 2000;
    return p;
}

static void pretrain_loss_falls_on_a_markov_genome(void)
{
    write_markov_genome(tmp("markov.fa"), 12000);
    slm_dna_pretrain_params p = tiny_params();
    p.train.progress = record_progress;
    stop_at = 0;
    const char *files[1] = {tmp("markov.fa")};
    slm_train_stats st;
    REQUIRE(slm_dna_pretrain(&p, files, 1, tmp("base.gguf"), &st) == SLM_OK, "%s",
            slm_last_error());
    /* uniform over ACGT is ln 4 = 1.386; the chain's entropy is about 0.43 nats */
    CHECK(first_loss > 1.2f, "first loss %g", first_loss);
    CHECK(st.final_val_loss < 0.9f, "validation loss %g did not fall", st.final_val_loss);
    CHECK(st.n_val_tokens == 2000 && st.n_train_tokens == 10000, "split %llu/%llu",
          (unsigned long long)st.n_train_tokens, (unsigned long long)st.n_val_tokens);
    CHECK(st.tokens_seen == 40ull * 4 * 64, "tokens seen %llu", (unsigned long long)st.tokens_seen);
}

static int files_equal(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *pa = harness_read_file(a, &na), *pb = harness_read_file(b, &nb);
    int eq = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return eq;
}

static void pretrain_resumed_from_a_checkpoint_is_byte_identical(void)
{
    const char *files[1] = {tmp("markov.fa")};
    slm_dna_pretrain_params p = tiny_params();
    p.train.n_steps = 12;
    REQUIRE(slm_dna_pretrain(&p, files, 1, tmp("straight.gguf"), NULL) == SLM_OK, "%s",
            slm_last_error());
    p.train.checkpoint = tmp("run.ckpt");
    p.train.checkpoint_every = 100;
    p.train.progress = record_progress;
    stop_at = 5; /* cancelled after step 5: a checkpoint is written */
    CHECK(slm_dna_pretrain(&p, files, 1, tmp("halt.gguf"), NULL) == SLM_ERR_CANCELLED,
          "cancel: %s", slm_last_error());
    stop_at = 0;
    p.train.resume = tmp("run.ckpt");
    REQUIRE(slm_dna_pretrain(&p, files, 1, tmp("resumed.gguf"), NULL) == SLM_OK, "%s",
            slm_last_error());
    CHECK(files_equal(tmp("straight.gguf"), tmp("resumed.gguf")),
          "resumed model differs from the uninterrupted one");
    /* other sequence: refused */
    write_markov_genome(tmp("other.fa"), 12000);
    const char *other[1] = {tmp("other.fa")};
    CHECK(slm_dna_pretrain(&p, other, 1, tmp("x.gguf"), NULL) == SLM_ERR_ARG, "other data");
    CHECK(strstr(slm_last_error(), "other sequence") != NULL, "message: %s", slm_last_error());
}

static void pretrain_refuses_too_little_sequence(void)
{
    FILE *f = fopen(tmp("short.fa"), "w");
    REQUIRE(f, "open");
    fputs(">s\nACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n", f);
    fclose(f);
    const char *files[1] = {tmp("short.fa")};
    slm_dna_pretrain_params p = tiny_params();
    CHECK(slm_dna_pretrain(&p, files, 1, tmp("x.gguf"), NULL) == SLM_ERR_ARG, "short");
    CHECK(strstr(slm_last_error(), "training bases") != NULL, "message: %s", slm_last_error());
    const char *missing[1] = {tmp("nope.fa")};
    CHECK(slm_dna_pretrain(&p, missing, 1, tmp("x.gguf"), NULL) == SLM_ERR_IO, "missing");
}

/* ---- the model in the runtime ---- */

static void loglik_agrees_with_the_runtime_logits(void)
{
    const char *seq = "ACGTACGTTGCAACGTNACGTACGGT";
    double ll = 0;
    size_t nt = 0;
    REQUIRE(slm_dna_loglik(tmp("base.gguf"), seq, 1, &ll, &nt) == SLM_OK, "%s",
            slm_last_error());
    CHECK(nt == strlen(seq), "%zu tokens", nt);
    slm_model *m = NULL;
    REQUIRE(slm_model_load(tmp("base.gguf"), NULL, &m) == SLM_OK, "%s", slm_last_error());
    int32_t ids[64];
    size_t n = 0;
    REQUIRE(slm_tokenize(m, seq, strlen(seq), 1, 0, ids, 64, &n) == SLM_OK, "tokenize");
    slm_session_params sp = slm_session_default_params();
    sp.logits_all = 1;
    sp.kv_type = SLM_TYPE_F32;
    sp.n_threads = 1;
    slm_session *s = NULL;
    REQUIRE(slm_session_new(m, &sp, &s) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_session_decode(s, ids, n, NULL) == SLM_OK, "%s", slm_last_error());
    double ref = 0;
    const int32_t V = slm_model_n_vocab(m);
    for (size_t i = 0; i + 1 < n; i++) {
        const float *lg = slm_session_logits(s, i);
        double mx = lg[0], z = 0;
        for (int32_t v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        for (int32_t v = 0; v < V; v++) z += exp(lg[v] - mx);
        ref += lg[ids[i + 1]] - mx - log(z);
    }
    CHECK(fabs(ll - ref) < 1e-3 * fabs(ref) + 1e-3, "loglik %.6f, runtime %.6f", ll, ref);
    slm_session_free(s);
    slm_model_free(m);
}

/* ---- fine-tuning ---- */

/* Class 1 carries the BamHI site GGATCC somewhere in a background of A, C
 * and T (so the motif's G is the signal); class 0 is background only. */
static void make_motif_set(slm_seqset *s, int n, int len)
{
    const char *motif = "GGATCC";
    for (int i = 0; i < n; i++) {
        char q[256];
        for (int j = 0; j < len; j++) q[j] = "ACT"[rnd(3)];
        q[len] = 0;
        const int lab = i % 2;
        if (lab) memcpy(q + rnd(len - 6), motif, 6);
        slm_seqset_push(s, q, lab);
    }
}

static void finetune_gradient_matches_finite_differences(void)
{
    slm_seqset s = {0};
    make_motif_set(&s, 4, 20);
    s.seq[1][20 - 3] = 0; /* rows of different lengths share the batch */
    for (int pool = 0; pool < 2; pool++) {
        double err = 1;
        REQUIRE(slm_dna_glm_grad_check(tmp("base.gguf"), &s, (slm_dna_pool)pool, 24, 3, &err) ==
                    SLM_OK,
                "%s", slm_last_error());
        CHECK(err < 0.05, "pool %d: max relative error %g", pool, err);
    }
    slm_seqset_free(&s);
}

static float mcc2(const int32_t *y, const float *proba, size_t n)
{
    double tp = 0, tn = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        int pred = proba[2 * i + 1] > proba[2 * i];
        tp += pred && y[i];
        tn += !pred && !y[i];
        fp += pred && !y[i];
        fn += !pred && y[i];
    }
    double d = sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
    return d > 0 ? (float)((tp * tn - fp * fn) / d) : 0.0f;
}

static void finetune_separates_motif_from_no_motif(void)
{
    slm_seqset tr = {0}, dv = {0}, te = {0};
    make_motif_set(&tr, 400, 48);
    make_motif_set(&dv, 100, 48);
    make_motif_set(&te, 200, 48);
    slm_dna_finetune_params p = slm_dna_finetune_default_params();
    p.epochs = 4;
    p.patience = 4;
    p.lr = 3e-3f; /* a 21k-parameter model and 100 steps: larger steps than the defaults */
    p.lr_head = 1e-1f;
    p.n_threads = 1;
    slm_dna_finetune_stats st;
    REQUIRE(slm_dna_finetune(&p, &tr, &dv, tmp("base.gguf"), tmp("clf.gguf"), &st) == SLM_OK,
            "%s", slm_last_error());
    CHECK(st.best_dev_mcc > 0.9f, "dev MCC %g", st.best_dev_mcc);
    float *proba = malloc(te.n * 2 * sizeof *proba);
    REQUIRE(proba, "oom");
    REQUIRE(slm_dna_predict_proba(tmp("clf.gguf"), &te, 1, proba) == SLM_OK, "%s",
            slm_last_error());
    const float mcc = mcc2(te.label, proba, te.n);
    CHECK(mcc > 0.9f, "test MCC %g", mcc);
    for (size_t i = 0; i < te.n; i++)
        CHECK(fabsf(proba[2 * i] + proba[2 * i + 1] - 1.0f) < 1e-5f, "row %zu sums to %g", i,
              proba[2 * i] + proba[2 * i + 1]);
    int32_t k = 0;
    CHECK(slm_dna_classifier_n_class(tmp("clf.gguf"), &k) == SLM_OK && k == 2, "n_class %d", k);
    /* the classifier still loads as a normal model */
    slm_model *m = NULL;
    CHECK(slm_model_load(tmp("clf.gguf"), NULL, &m) == SLM_OK, "%s", slm_last_error());
    slm_model_free(m);
    free(proba);
    slm_seqset_free(&tr);
    slm_seqset_free(&dv);
    slm_seqset_free(&te);
}

static void probe_keeps_the_base_weights(void)
{
    slm_seqset tr = {0};
    make_motif_set(&tr, 64, 40);
    slm_dna_finetune_params p = slm_dna_finetune_default_params();
    p.probe = 1;
    p.epochs = 3;
    p.n_threads = 1;
    REQUIRE(slm_dna_finetune(&p, &tr, NULL, tmp("base.gguf"), tmp("probe.gguf"), NULL) == SLM_OK,
            "%s", slm_last_error());
    slm_gguf *a = NULL, *b = NULL;
    REQUIRE(slm_gguf_open(tmp("base.gguf"), 0, &a) == SLM_OK, "open base");
    REQUIRE(slm_gguf_open(tmp("probe.gguf"), 0, &b) == SLM_OK, "open probe");
    for (int64_t i = 0; i < slm_gguf_n_tensors(a); i++) {
        const slm_gguf_tensor *ta = slm_gguf_tensor_at(a, i);
        const slm_gguf_tensor *tb = slm_gguf_find_tensor(b, ta->name);
        REQUIRE(tb, "%s missing", ta->name);
        CHECK(ta->nbytes == tb->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0,
              "%s changed by a probe", ta->name);
    }
    CHECK(slm_gguf_find_tensor(b, "cls.weight") && slm_gguf_find_tensor(b, "cls.bias"),
          "head tensors");
    slm_gguf_close(a);
    slm_gguf_close(b);
    slm_seqset_free(&tr);
}

static void embed_gives_one_vector_per_sequence_independent_of_batch(void)
{
    slm_seqset s = {0};
    make_motif_set(&s, 21, 30);
    float *v = NULL, *w = NULL;
    int dim = 0;
    REQUIRE(slm_dna_embed(tmp("base.gguf"), &s, SLM_DNA_POOL_MEAN, 1, &v, &dim) == SLM_OK, "%s",
            slm_last_error());
    CHECK(dim == 32, "dim %d", dim);
    /* the last sequence alone gives the same vector as inside a batch */
    slm_seqset one = {0};
    slm_seqset_push(&one, s.seq[20], 0);
    REQUIRE(slm_dna_embed(tmp("base.gguf"), &one, SLM_DNA_POOL_MEAN, 1, &w, &dim) == SLM_OK,
            "%s", slm_last_error());
    double d = 0;
    for (int j = 0; j < dim; j++) d = fmax(d, fabs(v[20 * dim + j] - w[j]));
    CHECK(d < 1e-4, "batch vs alone differ by %g", d);
    slm_dna_free(v);
    slm_dna_free(w);
    slm_seqset_free(&s);
    slm_seqset_free(&one);
}

static void classifier_calls_refuse_bad_inputs(void)
{
    slm_seqset s = {0};
    make_motif_set(&s, 4, 30);
    float proba[8];
    CHECK(slm_dna_predict_proba(tmp("base.gguf"), &s, 1, proba) == SLM_ERR_FORMAT,
          "base model is not a classifier");
    CHECK(strstr(slm_last_error(), "not a classifier") != NULL, "message: %s", slm_last_error());
    CHECK(slm_dna_predict_proba(tmp("none.gguf"), &s, 1, proba) == SLM_ERR_IO, "missing file");
    slm_dna_finetune_params p = slm_dna_finetune_default_params();
    slm_seqset empty = {0};
    CHECK(slm_dna_finetune(&p, &empty, NULL, tmp("base.gguf"), tmp("x.gguf"), NULL) ==
              SLM_ERR_ARG,
          "empty training set");
    CHECK(slm_dna_finetune(&p, &s, NULL, tmp("nuc.gguf"), tmp("x.gguf"), NULL) == SLM_ERR_FORMAT,
          "vocab-only file as a base: %s", slm_last_error());
    double ll;
    CHECK(slm_dna_loglik(tmp("base.gguf"), "ACGX", 1, &ll, NULL) == SLM_ERR_ARG, "bad letter");
    slm_seqset_free(&s);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_dna_glm.tmp", SLM_BINARY_DIR);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmpdir);
    if (system(cmd) != 0) return 1;
    RUN(kmer_tokenizer_cuts_non_overlapping_kmers_through_slm_tokenize);
    RUN(nucleotide_tokenizer_gives_one_token_per_base);
    RUN(bad_tokenizer_specs_are_refused);
    RUN(pretrain_loss_falls_on_a_markov_genome);
    RUN(pretrain_resumed_from_a_checkpoint_is_byte_identical);
    RUN(pretrain_refuses_too_little_sequence);
    RUN(loglik_agrees_with_the_runtime_logits);
    RUN(finetune_gradient_matches_finite_differences);
    RUN(finetune_separates_motif_from_no_motif);
    RUN(probe_keeps_the_base_weights);
    RUN(embed_gives_one_vector_per_sequence_independent_of_batch);
    RUN(classifier_calls_refuse_bad_inputs);
    return harness_finish();
}

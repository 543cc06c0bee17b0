/* distill.h — knowledge distillation (issue 5): the per-position loss and
 * its gradient, the teacher's top-K cache file, and the vocabulary check.
 * The loop itself is slm_distill (distill.c, public in slm.h).
 *
 * Loss of one position with student logits z (V), teacher distribution p
 * at temperature T, label y and weight a:
 *
 *     L = a * T^2 * KL(p || softmax(z / T)) + (1 - a) * (-log softmax(z)_y)
 *     dL/dz_j = a * T * (softmax(z / T)_j - p_j) + (1 - a) * (softmax(z)_j - [j == y])
 *
 * p is given sparsely as n (id, probability) pairs summing to 1: the whole
 * vocabulary (n = V), or the teacher's top K logits softmaxed at T over those
 * K only. Top-K rest of the mass: dropped, i.e. the teacher is taken to put
 * probability 0 on every other token (renormalised over the K), while the
 * student stays normalised over all V, so the KL term pulls the student's
 * mass onto the teacher's top K.
 */
#ifndef SLM_TRAIN_DISTILL_H
#define SLM_TRAIN_DISTILL_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"
#include "tok/vocab.h"

/* Teacher distribution from one row of teacher logits zt[V]: the top k
 * (k <= 0 or k >= V: all V) softmaxed at temperature T over themselves.
 * Writes n entries (ids in descending logit order, ties by lower id; for the
 * full vocabulary ids in id order) and returns n. */
int slm_distill_teacher_probs(const float *zt, int V, int k, float T, int32_t *ids, float *p);

/* Loss L above for one position; writes scale * dL/dz into grad[V] (grad
 * may be z itself: z is read completely first). kl and ce (may be NULL)
 * receive KL(p || softmax(z/T)) and the cross-entropy, unweighted. */
float slm_distill_row(float *grad, const float *z, int V, const int32_t *ids, const float *p,
                      int n, int32_t target, float T, float alpha, float scale, float *kl,
                      float *ce);

/* 0 when both vocabularies have the same size and the same token texts;
 * else SLM_ERR_ARG naming both files, the sizes or the first differing
 * token ("student and teacher must share the tokenizer"). */
slm_status slm_distill_check_vocab(const slm_vocab *teacher, const char *teacher_path,
                                   const slm_vocab *student, const char *student_path);

/* ---- teacher cache: the top-K of every window, paid once ----
 *
 * File (little-endian):
 *   offset size
 *        0    8  magic "SLMDKD01"
 *        8    4  u32 version (1)
 *       12    4  u32 n_vocab
 *       16    4  u32 k (entries per position)
 *       20    4  f32 temperature the probabilities were made at
 *       24    4  u32 n_ctx (window length; window w is tokens w*n_ctx .. +n_ctx)
 *       28    4  u32 0
 *       32    8  u64 n_tokens of the training stream
 *       40    8  u64 data hash (slm_tokens_hash of that stream)
 *       48    8  u64 teacher fingerprint (slm_distill_file_hash of the teacher GGUF)
 *       56    8  u64 n_win
 *       64       u8 done[n_win], zero-padded to a multiple of 8
 *           then i32 ids[n_win][n_ctx][k], then f32 p[n_win][n_ctx][k]
 * A window whose done byte is 0 was never computed (its rows are zero).
 * A cache is used only if every header field equals the run's; otherwise
 * it is refused with the field, the value found and the value expected. */
typedef struct slm_dcache {
    uint32_t n_vocab, k, n_ctx;
    float temperature;
    uint64_t n_tokens, data_hash, teacher_hash, n_win;
    uint8_t *done;  /* [n_win] */
    int32_t *ids;   /* [n_win][n_ctx][k] */
    float *p;       /* [n_win][n_ctx][k] */
    uint64_t n_done;
} slm_dcache;

/* Allocate done/ids/p (zeroed) for the header fields already set. */
slm_status slm_dcache_alloc(slm_dcache *c);
void slm_dcache_free(slm_dcache *c);
/* Through a temporary file renamed into place. */
slm_status slm_dcache_save(const slm_dcache *c, const char *path);
/* c's header fields are the expectation; on success done/ids/p are filled
 * (allocated) and n_done counts the computed windows. SLM_ERR_IO (cannot
 * open), SLM_ERR_FORMAT (bad magic, version, size) or SLM_ERR_ARG (a field
 * that does not match this run). */
slm_status slm_dcache_load(slm_dcache *c, const char *path);

/* FNV-1a over the file size and its first and last MiB: identifies the
 * teacher in the cache header without reading a large file whole. */
slm_status slm_distill_file_hash(const char *path, uint64_t *out);

#endif

/* seqset.h — labelled DNA sequence sets: the input of every classifier in
 * src/dna (the gLM head, the k-mer logistic regression, the CNN) and of the
 * benchmark driver.
 *
 * Owns: reading `sequence,label` CSV (plain or gzip, GUE layout), the UCI
 * splice-junction and promoter files, subsets and seeded stratified k-fold
 * assignment. Does not own FASTA/FASTQ (fasta.c) or tokenization.
 * Invariant: every stored sequence is upper-case over {A,C,G,T,N} only
 * (lower case is upper-cased, every other IUPAC code becomes N), and every
 * label lies in [0, n_class).
 */
#ifndef SLM_DNA_SEQSET_H
#define SLM_DNA_SEQSET_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct slm_seqset {
    size_t n;         /* number of sequences */
    char **seq;       /* [n] upper-case ACGTN, NUL-terminated; owned, one allocation each */
    int32_t *label;   /* [n] class index in [0, n_class) */
    int32_t n_class;  /* max label + 1 (at least 2 once read from a file) */
    size_t cap;       /* rows allocated in seq/label (>= n); internal to seqset.c */
} slm_seqset;

/* The stored form of one input character: 'A','C','G','T' for either case,
 * 'N' for every other IUPAC code (R Y S W K M B D H V N, either case, and
 * '.', '-'), 0 for anything that is not a nucleotide code. */
char slm_seqset_base(char c);

/* Read a `sequence,label` CSV (GUE layout; gzip is detected by its magic, not
 * the name). The header line must be `sequence,label` (or `seq,label`);
 * labels are non-negative integers; blank lines and a trailing CR are
 * ignored. Errors name the file and line. n_class = max label + 1, at
 * least 2. On failure *out is left empty ({0}). Free with slm_seqset_free. */
slm_status slm_seqset_read_csv(const char *path, slm_seqset *out);

/* Read the UCI splice-junction file (`CLASS, NAME, SEQUENCE` per line,
 * fields padded with spaces). Labels: EI = 0, IE = 1, N = 2 (n_class 3). */
slm_status slm_seqset_read_uci_splice(const char *path, slm_seqset *out);

/* Read the UCI E. coli promoter file (`+|-,NAME,<tabs>sequence`).
 * Labels: '-' = 0, '+' = 1. */
slm_status slm_seqset_read_uci_promoters(const char *path, slm_seqset *out);

/* Append a copy of seq (normalised as above; SLM_ERR_ARG on a character that
 * is not a nucleotide code or a negative label). Grows n_class if needed.
 * Used by tests and by callers that build sets in memory. */
slm_status slm_seqset_push(slm_seqset *s, const char *seq, int32_t label);

/* Deep copy of the rows idx[0..n_idx) (indices < s->n, repeats allowed).
 * out->n_class = s->n_class. */
slm_status slm_seqset_subset(const slm_seqset *s, const size_t *idx, size_t n_idx,
                             slm_seqset *out);

/* Free every sequence and the arrays; leaves *s empty. NULL is a no-op. */
void slm_seqset_free(slm_seqset *s);

/* Length of the longest sequence (0 for an empty set). */
size_t slm_seqset_max_len(const slm_seqset *s);

/* Stratified k-fold assignment: fold[i] in [0, k) for each of the n rows,
 * each class shuffled with `seed` and dealt round-robin, so every fold holds
 * floor or ceil of 1/k of every class. Deterministic for a seed.
 * SLM_ERR_ARG if k < 2 or k > n. */
slm_status slm_seqset_kfold(const slm_seqset *s, int k, uint64_t seed, int32_t *fold);

/* Split by a fold vector: rows with fold[i] == f go to *test, the others to
 * *train (both deep copies). */
slm_status slm_seqset_split_fold(const slm_seqset *s, const int32_t *fold, int32_t f,
                                 slm_seqset *train, slm_seqset *test);

#endif

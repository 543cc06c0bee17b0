/* fasta.h — reading genome sequence: FASTA and FASTQ, plain, gzip/bgzip
 * (htslib's BGZF reader) or xz (liblzma), detected by magic bytes, not the
 * name. Sequence letters are normalised as slm_seqset stores them: A/C/G/T
 * of either case upper-cased (soft-masked repeats are lower case), every
 * other IUPAC code (and '-', '.') becomes N; whitespace and line breaks are
 * dropped. Any other character is an error naming the file and line.
 */
#ifndef SLM_DNA_FASTA_H
#define SLM_DNA_FASTA_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct slm_fasta_rec {
    char *name;   /* header up to the first whitespace, without '>' or '@' */
    char *seq;    /* normalised sequence, NUL-terminated */
    size_t len;
} slm_fasta_rec;

typedef struct slm_fasta {
    slm_fasta_rec *rec;
    size_t n;
    uint64_t total_len;    /* sum of len */
} slm_fasta;

/* Read every record of a FASTA or FASTQ file (FASTQ qualities are checked
 * for length and dropped). max_bases > 0 stops after that many bases in
 * total (the last record cut). On failure *out is left empty.
 * Errors: SLM_ERR_IO (open/read, corrupt compression), SLM_ERR_FORMAT (not
 * FASTA/FASTQ, bad letter, quality length mismatch; file and line named),
 * SLM_ERR_UNSUPPORTED (.xz without liblzma), SLM_ERR_NOMEM. */
slm_status slm_fasta_read(const char *path, uint64_t max_bases, slm_fasta *out);
void slm_fasta_free(slm_fasta *f);

/* Reverse complement of n letters in place (A<->T, C<->G, N stays N). */
void slm_dna_revcomp(char *s, size_t n);

#endif

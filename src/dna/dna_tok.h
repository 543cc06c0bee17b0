/* dna_tok.h — DNA tokenizers written as GGUF vocabularies that the runtime
 * loads like any other (tokenizer.ggml.model "llama", SentencePiece-style
 * merges, no space prefix, BOS added):
 *   nuc:    <unk> <s> </s> A C G T N — one token per nucleotide.
 *   kmer:K  (K = 3..6) <unk> <s> </s> N, then every j-mer over ACGT for
 *           j = 1..K with score j. SPM merging takes the highest-scoring
 *           pair, leftmost first, so every run of ACGT is cut into
 *           non-overlapping K-mers from its left end with one shorter tail
 *           piece; N is a token of its own and restarts the cutting.
 * BPE on DNA is `slm tokenizer train --dna` (src/train/tokenizer_train.c);
 * its files are used here unchanged.
 */
#ifndef SLM_DNA_DNA_TOK_H
#define SLM_DNA_DNA_TOK_H

#include "slm.h"

/* slm_dna_tokenizer_write (slm.h) writes these vocabularies. */

#endif

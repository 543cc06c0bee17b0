/* tokenizer_train.h — training a tokenizer (BPE merges over a word-frequency
 * table) whose vocabulary the runtime tokenizer (src/tok) reproduces exactly.
 *
 * Two kinds. SPM (tokenizer.ggml.model "llama", like llama2.c's tok512):
 * pieces with U+2581 for spaces, byte fallback <0x00>..<0xFF>, scores that
 * fall strictly with merge order. The runtime merges the adjacent pair whose
 * CONCATENATION is a token of highest score, which is not the same thing as
 * replaying merge rules (a token "abc" made from ab+c is also reached from
 * a+bc); so the trainer keeps every word segmented exactly as the runtime
 * would segment it with the vocabulary so far, and counts pairs by their
 * concatenated text. BPE ("gpt2", byte-level, pre-tokenizer "gpt-2"): merge
 * rules by rank over the GPT-2 byte alphabet, replayed by pair identity as
 * the runtime does.
 *
 * Words (SPM): text is escaped as the runtime does (a dummy "▁" in front,
 * ' ' -> "▁"), then cut before every "▁" that follows a non-"▁", around
 * every run of '\n', between letters, digits and ASCII punctuation (a "▁"
 * joins what follows it) and between digits. A cut depends only on the two
 * characters beside it, so no piece (a substring of a word) contains one;
 * hence the runtime, which merges over the whole text, can never merge
 * across a cut and gives the ids of the words one by one.
 */
#ifndef SLM_TRAIN_TOKENIZER_TRAIN_H
#define SLM_TRAIN_TOKENIZER_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "slm.h"
#include "tok/vocab.h"

typedef enum slm_toktrain_kind { SLM_TOKTRAIN_SPM = 0, SLM_TOKTRAIN_BPE = 1 } slm_toktrain_kind;

typedef struct slm_toktrain_config {
    slm_toktrain_kind kind;
    int32_t n_vocab; /* total tokens, specials and byte tokens included; the
                        result has at most this many (fewer if the corpus
                        runs out of pairs). SPM needs >= 260, BPE >= 258. */
    int dna;         /* SPM only: no dummy space prefix (sequences, not prose) */
    /* Called after every merge (done = merges so far, total = most possible);
     * may be NULL. */
    void (*progress)(int32_t done, int32_t total, void *user);
    void *user;
} slm_toktrain_config;

typedef struct slm_toktrain slm_toktrain;

/* Errors: SLM_ERR_ARG (NULL, unknown kind, n_vocab too small or above
 * 1<<24), SLM_ERR_NOMEM. */
slm_status slm_toktrain_new(const slm_toktrain_config *c, slm_toktrain **out);
void slm_toktrain_free(slm_toktrain *t); /* NULL is a no-op */

/* Add one document (its words are counted; text is not kept). Before
 * slm_toktrain_run only. Invalid UTF-8 bytes are dropped (SPM: pieces stay
 * valid UTF-8). */
slm_status slm_toktrain_add_doc(slm_toktrain *t, const char *text, size_t len);

/* Add a corpus file (plain text or gzip): documents are separated by
 * "<|endoftext|>" (the marker is not text); with dna, one sequence per line
 * (the longest A/C/G/T/N field; '>' lines skipped), upper-cased, split at N. Reads at
 * most max_bytes of (uncompressed) text, 0 = all; *n_read (optional) gets
 * the bytes used. Errors: SLM_ERR_IO naming the file, SLM_ERR_NOMEM. */
slm_status slm_toktrain_add_file(slm_toktrain *t, const char *path, uint64_t max_bytes,
                                 uint64_t *n_read);

/* Learn the merges. Deterministic: the same documents in the same order give
 * the same vocabulary. Errors: SLM_ERR_ARG (called twice, or no text),
 * SLM_ERR_NOMEM. */
slm_status slm_toktrain_run(slm_toktrain *t);

/* Statistics of the last run. */
typedef struct slm_toktrain_info {
    uint64_t n_docs, n_words, n_unique_words;
    int32_t n_tokens, n_merges, n_chars, n_chars_dropped; /* dropped: to byte fallback */
} slm_toktrain_info;
void slm_toktrain_get_info(const slm_toktrain *t, slm_toktrain_info *info);

/* The trainer's own encoding of text (no BOS/EOS; what slm_vocab_tokenize
 * gives with add_special=0, parse_special=0 on the saved vocabulary). *ids is
 * allocated (slm_free). After slm_toktrain_run only. Uses the trainer's
 * scratch buffers: one call at a time per trainer. */
slm_status slm_toktrain_encode(const slm_toktrain *t, const char *text, size_t len, int32_t **ids,
                               size_t *n);

/* Number of training words whose segmentation kept during training differs
 * from a fresh run of the runtime's procedure with the final vocabulary
 * (0 = the invariant held), or -1 (not trained / out of memory). Tests. */
int64_t slm_toktrain_verify(const slm_toktrain *t);

/* Set the tokenizer.ggml.* keys of the trained vocabulary on a writer. */
slm_status slm_toktrain_set_keys(const slm_toktrain *t, slm_gguf_writer *w);

/* Write a vocabulary-only GGUF (general.architecture "llama" + the keys). */
slm_status slm_toktrain_save(const slm_toktrain *t, const char *path);

/* Build the runtime vocabulary in memory (tests). */
slm_status slm_toktrain_vocab(const slm_toktrain *t, slm_vocab **out);

#endif

/* grammar.h — constrained decoding inside libslm: a GBNF grammar compiled to
 * a pushdown automaton over BYTES, and the token matcher that runs it.
 *
 * Why bytes and not code points: a token may end in the middle of a UTF-8
 * sequence. Lowering every character class to UTF-8 byte-range sequences
 * (as regex engines do) makes a partial character an ordinary partial
 * match, so the matcher needs no decoder state.
 *
 * Compiled form (llama.cpp's layout, over bytes): every rule is a list of
 * alternatives; an alternative is a run of elements in elems[] ending with
 * GRAM_END. GRAM_SET matches one byte from a 256-bit set; GRAM_REF expands a
 * rule. Left recursion is refused at compile time, so expansion terminates.
 */
#ifndef SLM_GRAMMAR_GRAMMAR_H
#define SLM_GRAMMAR_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

enum { GRAM_END = 0, GRAM_SET = 1, GRAM_REF = 2 };

typedef struct slm_gram_elem {
    uint32_t kind; /* GRAM_* */
    uint32_t arg;  /* SET: index into sets; REF: rule id; END: 0 */
} slm_gram_elem;

typedef struct slm_gram {
    slm_gram_elem *elems;  /* [n_elems] all alternatives, each ending in GRAM_END */
    uint32_t n_elems;
    uint32_t *alt_start;   /* [n_alts] first element of each alternative */
    uint32_t n_alts;
    uint32_t *rule_alt;    /* [n_rules + 1] alternatives of rule r: rule_alt[r] .. rule_alt[r+1]-1 */
    uint32_t n_rules;
    uint64_t (*sets)[4];   /* [n_sets] 256-bit byte sets */
    uint32_t n_sets;
    uint32_t root;         /* start rule */
} slm_gram;

/* Limits that keep hostile grammars bounded (the parser is fuzzed). */
#define SLM_GRAM_MAX_ELEMS (1u << 22) /* elements after expanding repetitions */
#define SLM_GRAM_MAX_DEPTH 200        /* nesting of ( ) */
#define SLM_GRAM_MAX_REPEAT 100000    /* m and n of {m,n} */

/* Parse len bytes of GBNF (need not be NUL-terminated) with start rule root
 * (NULL = "root"). Errors as slm_grammar_new documents; *out NULL then. */
slm_status slm_gram_parse(const char *text, size_t len, const char *root, slm_gram **out);
void slm_gram_free(slm_gram *g);

/* A matcher over an explicit vocabulary (tests, and slm_grammar_new, which
 * fills it from the model): n_vocab pieces piece[i] of len[i] bytes (copied);
 * is_eog[i] nonzero for end-of-generation tokens (may be NULL). Takes
 * ownership of gram (freed on failure too). Returns the public handle. */
slm_status slm_grammar_new_vocab(slm_gram *gram, const char *const *piece, const size_t *len,
                                 const uint8_t *is_eog, int32_t n_vocab, slm_grammar **out);

/* 1 if text is a complete match of the grammar's root (for tests). */
int slm_grammar_matches(slm_grammar *g, const char *text, size_t len);

#endif

/* match.c — the constrained sampler: a set of parse stacks over the bytes of
 * the accepted text, and the vocabulary walk that masks impossible tokens.
 *
 * A parse stack is a linked list of nodes in one arena (persistent, tails
 * shared): the top node's pos is a GRAM_SET element, every node below it is
 * a return position (the element after a rule reference). Advancing on a
 * byte pops the tops whose set holds it and expands ("closure") what follows
 * until every stack again has a GRAM_SET on top; an empty stack means the
 * root has been matched completely ("accepting").
 *
 * Masking: the non-empty pieces are sorted once; walking them in order, a
 * piece reuses the stack sets of the prefix it shares with the previous
 * piece (a trie walk without the trie), and a dead prefix rejects every
 * following piece that shares it at O(1) each. Nodes made while testing a
 * piece live above the committed state in the arena and are dropped when the
 * walk backs up.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "grammar/grammar.h"

#define NONE UINT32_MAX
/* Bounds on work per byte, so an exponentially ambiguous grammar fails
 * cleanly instead of hanging (SLM_ERR_UNSUPPORTED). */
#define MAX_STEPS_PER_BYTE (1u << 20)
#define MAX_STACKS (1u << 16)
#define MASK_CACHE 8           /* masks remembered across applies */
#define MASK_KEY_MAX (1u << 14) /* longest key (positions) worth remembering */

typedef struct snode {
    uint32_t pos;    /* top: a GRAM_SET element; below: where to resume */
    uint32_t parent; /* next node down, or NONE */
} snode;

typedef struct vslot {
    uint32_t pos, parent, gen;
} vslot;

typedef struct piece {
    const uint8_t *p;
    uint32_t len;
    int32_t id;
} piece;

/* The grammar-independent part of a matcher: the vocabulary's pieces, sorted
 * for the walk. Read-only once built and shared (reference counted) by every
 * grammar over the same vocabulary: a small process-wide cache keyed by the
 * pieces' contents (compared byte for byte) means building another grammar
 * for the same model skips the sort (see vocab_get). */
typedef struct gvocab {
    int refs;          /* under vocab_lock */
    size_t total;      /* bytes in pool */
    int32_t n_vocab;
    uint8_t *is_eog;   /* [n_vocab] */
    char *pool;        /* all pieces */
    uint32_t *off;     /* [n_vocab] piece offsets into pool */
    uint32_t *len;     /* [n_vocab] piece lengths */
    int32_t *order;    /* [n_order] ids of non-empty, non-EOG pieces, sorted by bytes */
    uint32_t *lcp;     /* [n_order] common prefix with the previous piece in order */
    uint8_t *spieces;  /* the pieces of order[] back to back (the walk reads them in sequence) */
    uint32_t *soff;    /* [n_order + 1] offsets into spieces */
    uint32_t n_order;
    uint32_t max_len;
} gvocab;

struct slm_grammar {
    slm_gram *gram;
    gvocab *voc;       /* shared; the fields below up to max_len point into it */
    int32_t n_vocab;
    const uint8_t *is_eog; /* [n_vocab] */
    uint8_t *allowed;  /* [n_vocab] scratch of apply */
    const char *pool;  /* all pieces */
    const uint32_t *off;
    const uint32_t *len;
    const int32_t *order;
    const uint32_t *lcp;
    const uint8_t *spieces;
    const uint32_t *soff;
    uint32_t n_order;
    uint32_t max_len;

    snode *nodes;      /* arena: [0, base) the committed stacks, above: scratch */
    size_t n_nodes, cap_nodes, base;
    uint32_t *sets;    /* stack sets of depths 0..; depth 0 = committed */
    size_t n_sets, cap_sets;
    size_t *set_off;   /* [max_len + 2] start of depth d's set in sets */
    size_t *set_len;   /* [max_len + 2] */
    size_t *node_top;  /* [max_len + 2] arena size after depth d */
    uint8_t *accept;   /* [max_len + 2] empty stack reached at depth d */
    int32_t *sid;      /* [max_len + 2] apply's interned set per depth */

    vslot *vis;        /* closure's visited (pos, parent) pairs, by generation */
    size_t vis_mask, vis_used;
    uint32_t gen;
    uint32_t *work;    /* closure's work stack of (pos, parent) */
    size_t cap_work;
    uint32_t *remap;   /* commit scratch */
    size_t cap_remap;

    /* apply's memo, valid for one call: nodes are hash-consed (same
     * (pos, parent) -> same index), so equal stack sets have equal contents;
     * sets are interned and each keeps a lazily filled 256-entry transition
     * row, so a byte that maps a set to a known set costs one lookup. */
    uint32_t *ntab;    /* node intern table: index + 1, 0 = empty */
    uint32_t *ntab_gen;
    size_t ntab_mask, ntab_used;
    uint32_t ngen;
    uint32_t *spool;   /* members of interned sets */
    size_t n_spool, cap_spool;
    struct dset { uint32_t start, n, hash, row; uint8_t accept; } *ds;
    size_t n_ds, cap_ds;
    uint32_t *stab;    /* set intern table: id + 1, 0 = empty */
    size_t stab_mask;
    int32_t *rows;     /* [256] per set that needed one: next set id, -1 unknown, -2 dead */
    size_t n_rows, cap_rows;

    /* masks of earlier applies, keyed by the committed stacks they were
     * computed for (each stack written out as its chain of positions): in
     * the middle of a JSON string or free text, accepting a token leaves the
     * stacks as they were, and the next apply copies the mask. */
    struct mask_entry {
        uint64_t hash;
        uint32_t *key;
        size_t klen;
        uint8_t *bits;  /* [(n_vocab + 7) / 8] allowed non-EOG tokens */
    } mcache[MASK_CACHE];
    unsigned mnext;    /* next entry to replace */
    uint32_t *mkey;    /* key scratch */
    size_t cap_mkey;

    int done;          /* an EOG token was accepted */
    int overflow;      /* a limit was hit in the last advance */
    int oom;
};

static void vocab_put(gvocab *v);

/* ---- arena and sets ------------------------------------------------------- */

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (!slm_size_mul(nc, elem, &bytes)) return 0;
    void *nv = slm_realloc(*v, bytes);
    if (!nv) return 0;
    *v = nv;
    *cap = nc;
    return 1;
}

static uint32_t new_node(slm_grammar *g, uint32_t pos, uint32_t parent)
{
    if (g->n_nodes >= NONE - 1) {
        g->overflow = 1;
        return NONE;
    }
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) {
        g->oom = 1;
        return NONE;
    }
    g->nodes[g->n_nodes].pos = pos;
    g->nodes[g->n_nodes].parent = parent;
    return (uint32_t)g->n_nodes++;
}

static uint32_t node_hash(uint32_t pos, uint32_t parent)
{
    uint64_t h = ((uint64_t)pos << 32 | parent) * 0xD6E8FEB86659FD93ull;
    return (uint32_t)(h >> 32);
}

/* Forget every interned node (indices change at commit). */
static void intern_clear(slm_grammar *g)
{
    g->ngen++;
    g->ntab_used = 0;
    if (g->ngen == 0) {
        if (g->ntab_gen) memset(g->ntab_gen, 0, (g->ntab_mask + 1) * sizeof *g->ntab_gen);
        g->ngen = 1;
    }
}

/* The node (pos, parent), shared if it exists already in this call; else
 * `have` (an existing node with that content) is registered, or a new node
 * is made when have is NONE. */
static uint32_t intern_node(slm_grammar *g, uint32_t pos, uint32_t parent, uint32_t have)
{
    if (!g->ntab || (g->ntab_used + 1) * 2 > g->ntab_mask + 1) {
        size_t ns = g->ntab ? (g->ntab_mask + 1) * 2 : 4096;
        uint32_t *nt = slm_calloc(ns, sizeof *nt), *ng = slm_calloc(ns, sizeof *ng);
        if (!nt || !ng) {
            slm_free(nt);
            slm_free(ng);
            g->oom = 1;
            return NONE;
        }
        if (g->ntab) {
            for (size_t k = 0; k <= g->ntab_mask; k++) {
                if (g->ntab_gen[k] != g->ngen) continue;
                uint32_t idx = g->ntab[k] - 1;
                size_t h = node_hash(g->nodes[idx].pos, g->nodes[idx].parent) & (ns - 1);
                while (ng[h] == g->ngen) h = (h + 1) & (ns - 1);
                nt[h] = g->ntab[k];
                ng[h] = g->ngen;
            }
        }
        slm_free(g->ntab);
        slm_free(g->ntab_gen);
        g->ntab = nt;
        g->ntab_gen = ng;
        g->ntab_mask = ns - 1;
    }
    size_t h = node_hash(pos, parent) & g->ntab_mask;
    while (g->ntab_gen[h] == g->ngen) {
        uint32_t idx = g->ntab[h] - 1;
        if (g->nodes[idx].pos == pos && g->nodes[idx].parent == parent) return idx;
        h = (h + 1) & g->ntab_mask;
    }
    uint32_t idx = have != NONE ? have : new_node(g, pos, parent);
    if (idx == NONE) return NONE;
    g->ntab[h] = idx + 1;
    g->ntab_gen[h] = g->ngen;
    g->ntab_used++;
    return idx;
}

static uint32_t get_node(slm_grammar *g, uint32_t pos, uint32_t parent)
{
    return intern_node(g, pos, parent, NONE);
}

static int set_push(slm_grammar *g, uint32_t node)
{
    if (!grow((void **)&g->sets, &g->cap_sets, g->n_sets + 1, sizeof *g->sets)) {
        g->oom = 1;
        return 0;
    }
    g->sets[g->n_sets++] = node;
    return 1;
}

static int work_push(slm_grammar *g, size_t *n, uint32_t pos, uint32_t parent)
{
    if (!grow((void **)&g->work, &g->cap_work, *n + 2, sizeof *g->work)) {
        g->oom = 1;
        return 0;
    }
    g->work[(*n)++] = pos;
    g->work[(*n)++] = parent;
    return 1;
}

static uint32_t vis_hash(uint32_t pos, uint32_t parent)
{
    uint64_t h = ((uint64_t)pos << 32 | parent) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

/* 1 if (pos, parent) was already seen in this generation; else records it. */
static int vis_seen(slm_grammar *g, uint32_t pos, uint32_t parent)
{
    if ((g->vis_used + 1) * 2 > g->vis_mask + 1) {
        /* grow, keeping this generation's entries */
        size_t nsize = (g->vis_mask + 1) * 2;
        vslot *nv = slm_calloc(nsize, sizeof *nv);
        if (!nv) {
            g->oom = 1;
            return 1;
        }
        for (size_t k = 0; k <= g->vis_mask; k++) {
            const vslot *s = &g->vis[k];
            if (s->gen != g->gen) continue;
            size_t h = vis_hash(s->pos, s->parent) & (nsize - 1);
            while (nv[h].gen == g->gen) h = (h + 1) & (nsize - 1);
            nv[h] = *s;
        }
        slm_free(g->vis);
        g->vis = nv;
        g->vis_mask = nsize - 1;
    }
    size_t h = vis_hash(pos, parent) & g->vis_mask;
    for (;;) {
        vslot *s = &g->vis[h];
        if (s->gen != g->gen) {
            s->pos = pos;
            s->parent = parent;
            s->gen = g->gen;
            g->vis_used++;
            return 0;
        }
        if (s->pos == pos && s->parent == parent) return 1;
        h = (h + 1) & g->vis_mask;
    }
}

static void vis_new_generation(slm_grammar *g)
{
    g->gen++;
    g->vis_used = 0;
    if (g->gen == 0) { /* wrapped: clear so stale slots cannot match */
        memset(g->vis, 0, (g->vis_mask + 1) * sizeof *g->vis);
        g->gen = 1;
    }
}

/* Expand (pos, parent) until GRAM_SET tops; append them to the set being
 * built at the end of g->sets; *accept |= an empty stack was reached.
 * Returns 0 when a limit or allocation failed (g->overflow / g->oom). */
static int closure(slm_grammar *g, uint32_t pos, uint32_t parent, uint8_t *accept, uint32_t *steps)
{
    const slm_gram *gr = g->gram;
    size_t nw = 0;
    if (!work_push(g, &nw, pos, parent)) return 0;
    while (nw) {
        parent = g->work[--nw];
        pos = g->work[--nw];
        if (++*steps > MAX_STEPS_PER_BYTE) {
            g->overflow = 1;
            return 0;
        }
        if (vis_seen(g, pos, parent)) {
            if (g->oom) return 0;
            continue;
        }
        const slm_gram_elem *e = &gr->elems[pos];
        if (e->kind == GRAM_SET) {
            uint32_t nd = get_node(g, pos, parent);
            if (nd == NONE || !set_push(g, nd)) return 0;
        } else if (e->kind == GRAM_END) {
            if (parent == NONE) {
                *accept = 1;
            } else if (!work_push(g, &nw, g->nodes[parent].pos, g->nodes[parent].parent)) {
                return 0;
            }
        } else {
            /* a reference at the end of its alternative is a tail call: no
             * return node, so x* loops (R ::= x R) keep the stack flat */
            uint32_t np = parent;
            if (gr->elems[pos + 1].kind != GRAM_END) {
                np = get_node(g, pos + 1, parent);
                if (np == NONE) return 0;
            }
            for (uint32_t a = gr->rule_alt[e->arg + 1]; a > gr->rule_alt[e->arg]; a--)
                if (!work_push(g, &nw, gr->alt_start[a - 1], np)) return 0;
        }
    }
    return 1;
}

/* Set of depth d+1 from depth d's over byte b (appended at the end of sets,
 * which must end with depth d's set). Returns 0 on a limit/allocation failure. */
static int advance(slm_grammar *g, size_t d, unsigned b)
{
    const slm_gram *gr = g->gram;
    size_t from = g->set_off[d], n = g->set_len[d];
    g->set_off[d + 1] = g->n_sets;
    g->accept[d + 1] = 0;
    uint32_t steps = 0;
    vis_new_generation(g);
    for (size_t k = 0; k < n; k++) {
        const snode *nd = &g->nodes[g->sets[from + k]];
        const uint64_t *set = gr->sets[gr->elems[nd->pos].arg];
        if (!(set[b >> 6] >> (b & 63) & 1)) continue;
        if (!closure(g, nd->pos + 1, nd->parent, &g->accept[d + 1], &steps)) return 0;
    }
    g->set_len[d + 1] = g->n_sets - g->set_off[d + 1];
    if (g->set_len[d + 1] > MAX_STACKS) {
        g->overflow = 1;
        return 0;
    }
    g->node_top[d + 1] = g->n_nodes;
    return 1;
}

/* Drop every depth above d. */
static void truncate_to(slm_grammar *g, size_t d)
{
    g->n_sets = g->set_off[d] + g->set_len[d];
    g->n_nodes = g->node_top[d];
    intern_clear(g); /* interned indices above node_top[d] are gone */
}

static slm_status limit_status(slm_grammar *g)
{
    slm_status st;
    if (g->oom)
        st = slm_fail(SLM_ERR_NOMEM, "grammar: out of memory while matching");
    else
        st = slm_fail(SLM_ERR_UNSUPPORTED,
                      "grammar: too ambiguous (more than %u parse stacks or %u expansion steps "
                      "for one byte)",
                      MAX_STACKS, MAX_STEPS_PER_BYTE);
    g->oom = g->overflow = 0;
    return st;
}

/* Make depth dd's set the committed state: copy its stacks to the bottom of
 * the arena (compacted) and drop everything else. */
static int commit(slm_grammar *g, size_t dd)
{
    size_t n = g->set_len[dd], from = g->set_off[dd];
    if (!grow((void **)&g->remap, &g->cap_remap, g->n_nodes + 1, sizeof *g->remap)) {
        g->oom = 1;
        return 0;
    }
    for (size_t k = 0; k < g->n_nodes; k++) g->remap[k] = NONE;
    /* Assign new indices ancestors first, in a fresh region above n_nodes,
     * then move that region down to 0. */
    size_t fresh = g->n_nodes, m = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t top = g->sets[from + k];
        /* collect the chain up to an already mapped node */
        size_t nw = 0;
        for (uint32_t x = top; x != NONE && g->remap[x] == NONE; x = g->nodes[x].parent)
            if (!work_push(g, &nw, x, 0)) return 0;
        while (nw) {
            nw -= 2;
            uint32_t x = g->work[nw];
            uint32_t par = g->nodes[x].parent;
            uint32_t nx = new_node(g, g->nodes[x].pos, par == NONE ? NONE : g->remap[par]);
            if (nx == NONE) return 0;
            g->remap[x] = (uint32_t)(nx - fresh);
            m++;
        }
    }
    uint32_t *tops = NULL;
    if (n) {
        tops = slm_alloc(n * sizeof *tops);
        if (!tops) {
            g->oom = 1;
            return 0;
        }
        for (size_t k = 0; k < n; k++) tops[k] = g->remap[g->sets[from + k]];
    }
    if (m) memmove(g->nodes, g->nodes + fresh, m * sizeof *g->nodes);
    g->n_nodes = g->base = m;
    g->accept[0] = g->accept[dd];
    g->n_sets = 0;
    for (size_t k = 0; k < n; k++) g->sets[g->n_sets++] = tops[k];
    slm_free(tops);
    g->set_off[0] = 0;
    g->set_len[0] = n;
    g->node_top[0] = g->base;
    intern_clear(g); /* nodes were renumbered */
    return 1;
}

/* ---- apply's memo: interned sets and their transitions -------------------- */

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void memo_clear(slm_grammar *g)
{
    g->n_spool = g->n_ds = g->n_rows = 0;
    if (g->stab) memset(g->stab, 0, (g->stab_mask + 1) * sizeof *g->stab);
}

/* Intern the set of nodes list[0..n) (sorted here) with its accept flag;
 * returns its id or -1 (limit / memory). */
static int32_t memo_set(slm_grammar *g, uint32_t *list, size_t n, uint8_t accept)
{
    if (n > 1) qsort(list, n, sizeof *list, u32_cmp);
    uint32_t h = 2166136261u ^ accept;
    for (size_t k = 0; k < n; k++) h = (h ^ list[k]) * 16777619u;
    if (!g->stab || (g->n_ds + 1) * 2 > g->stab_mask + 1) {
        if (g->n_ds >= (1u << 20)) {
            g->overflow = 1;
            return -1;
        }
        size_t ns = g->stab ? (g->stab_mask + 1) * 2 : 1024;
        uint32_t *nt = slm_calloc(ns, sizeof *nt);
        if (!nt) {
            g->oom = 1;
            return -1;
        }
        for (size_t k = 0; k < g->n_ds; k++) {
            size_t s = g->ds[k].hash & (ns - 1);
            while (nt[s]) s = (s + 1) & (ns - 1);
            nt[s] = (uint32_t)k + 1;
        }
        slm_free(g->stab);
        g->stab = nt;
        g->stab_mask = ns - 1;
    }
    size_t s = h & g->stab_mask;
    while (g->stab[s]) {
        const struct dset *d = &g->ds[g->stab[s] - 1];
        if (d->hash == h && d->n == n && d->accept == accept &&
            (n == 0 || memcmp(g->spool + d->start, list, n * sizeof *list) == 0))
            return (int32_t)(g->stab[s] - 1);
        s = (s + 1) & g->stab_mask;
    }
    if (!grow((void **)&g->ds, &g->cap_ds, g->n_ds + 1, sizeof *g->ds) ||
        !grow((void **)&g->spool, &g->cap_spool, g->n_spool + n + 1, sizeof *g->spool)) {
        g->oom = 1;
        return -1;
    }
    struct dset *d = &g->ds[g->n_ds];
    d->start = (uint32_t)g->n_spool;
    d->n = (uint32_t)n;
    d->hash = h;
    d->accept = accept;
    d->row = NONE;
    if (n) memcpy(g->spool + g->n_spool, list, n * sizeof *list);
    g->n_spool += n;
    g->stab[s] = (uint32_t)g->n_ds + 1;
    return (int32_t)g->n_ds++;
}

#define MEMO_UNKNOWN (-1)
#define MEMO_DEAD (-2)

/* The set reached from set id over byte b: MEMO_DEAD if nothing survives,
 * -3 on a limit or memory failure. */
static int32_t memo_next(slm_grammar *g, int32_t id, unsigned b)
{
    struct dset *d = &g->ds[id];
    if (d->row == NONE) {
        if (!grow((void **)&g->rows, &g->cap_rows, (g->n_rows + 1) * 256, sizeof *g->rows)) {
            g->oom = 1;
            return -3;
        }
        d = &g->ds[id];
        d->row = (uint32_t)g->n_rows++;
        for (int k = 0; k < 256; k++) g->rows[(size_t)d->row * 256 + (size_t)k] = MEMO_UNKNOWN;
    }
    int32_t *slot = &g->rows[(size_t)d->row * 256 + b];
    if (*slot != MEMO_UNKNOWN) return *slot;
    /* compute: closure of every top holding b, into scratch after the committed set */
    const slm_gram *gr = g->gram;
    size_t from = g->n_sets;
    uint8_t acc = 0;
    uint32_t steps = 0;
    vis_new_generation(g);
    for (uint32_t k = 0; k < d->n; k++) {
        const snode *nd = &g->nodes[g->spool[d->start + k]];
        const uint64_t *set = gr->sets[gr->elems[nd->pos].arg];
        if (!(set[b >> 6] >> (b & 63) & 1)) continue;
        if (!closure(g, nd->pos + 1, nd->parent, &acc, &steps)) {
            g->n_sets = from;
            return -3;
        }
        d = &g->ds[id]; /* closure may not move ds, but keep it honest */
    }
    size_t n = g->n_sets - from;
    if (n > MAX_STACKS) {
        g->n_sets = from;
        g->overflow = 1;
        return -3;
    }
    int32_t next = MEMO_DEAD;
    if (n || acc) {
        next = memo_set(g, g->sets + from, n, acc);
        if (next < 0) {
            g->n_sets = from;
            return -3;
        }
    }
    g->n_sets = from;
    g->rows[(size_t)g->ds[id].row * 256 + b] = next;
    return next;
}

/* ---- public API ------------------------------------------------------------ */

void slm_grammar_reset(slm_grammar *g)
{
    if (!g) return;
    g->oom = g->overflow = 0;
    intern_clear(g);
    g->n_nodes = g->base = 0;
    g->n_sets = 0;
    g->done = 0;
    g->set_off[0] = 0;
    g->set_len[0] = 0;
    g->accept[0] = 0;
    g->node_top[0] = 0;
    /* the start state: closure of every alternative of root */
    uint32_t steps = 0;
    vis_new_generation(g);
    const slm_gram *gr = g->gram;
    for (uint32_t a = gr->rule_alt[gr->root]; a < gr->rule_alt[gr->root + 1]; a++)
        if (!closure(g, gr->alt_start[a], NONE, &g->accept[0], &steps)) break;
    g->set_len[0] = g->n_sets;
    g->base = g->node_top[0] = g->n_nodes;
}

static int piece_cmp(const void *a, const void *b)
{
    const piece *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void slm_grammar_free(slm_grammar *g)
{
    if (!g) return;
    slm_gram_free(g->gram);
    vocab_put(g->voc);
    slm_free(g->allowed);
    for (int k = 0; k < MASK_CACHE; k++) {
        slm_free(g->mcache[k].key);
        slm_free(g->mcache[k].bits);
    }
    slm_free(g->mkey);
    slm_free(g->nodes);
    slm_free(g->sets);
    slm_free(g->set_off);
    slm_free(g->set_len);
    slm_free(g->node_top);
    slm_free(g->accept);
    slm_free(g->sid);
    slm_free(g->ntab);
    slm_free(g->ntab_gen);
    slm_free(g->spool);
    slm_free(g->ds);
    slm_free(g->stab);
    slm_free(g->rows);
    slm_free(g->vis);
    slm_free(g->work);
    slm_free(g->remap);
    slm_free(g);
}

/* ---- the shared vocabulary ----------------------------------------------- */

#define VOCAB_CACHE 4 /* most recently built vocabularies kept for reuse */

static pthread_mutex_t vocab_lock = PTHREAD_MUTEX_INITIALIZER;
static gvocab *vocab_cache[VOCAB_CACHE];

static void vocab_free(gvocab *v)
{
    if (!v) return;
    slm_free(v->is_eog);
    slm_free(v->pool);
    slm_free(v->off);
    slm_free(v->len);
    slm_free(v->order);
    slm_free(v->lcp);
    slm_free(v->spieces);
    slm_free(v->soff);
    slm_free(v);
}

/* Drop one reference (the last frees it). */
static void vocab_put(gvocab *v)
{
    if (!v) return;
    pthread_mutex_lock(&vocab_lock);
    int last = --v->refs == 0;
    pthread_mutex_unlock(&vocab_lock);
    if (last) vocab_free(v);
}

/* 1 if v holds exactly these pieces and EOG flags. */
static int vocab_same(const gvocab *v, size_t total, const char *const *pc, const size_t *plen,
                      const uint8_t *is_eog, int32_t n_vocab)
{
    if (v->total != total || v->n_vocab != n_vocab) return 0;
    for (int32_t t = 0; t < n_vocab; t++) {
        if (v->len[t] != plen[t] || v->is_eog[t] != (is_eog ? (is_eog[t] != 0) : 0)) return 0;
        if (plen[t] && memcmp(v->pool + v->off[t], pc[t], plen[t]) != 0) return 0;
    }
    return 1;
}

/* Sort the pieces into a new vocabulary (one reference). */
static slm_status vocab_build(const char *const *pc, const size_t *plen, const uint8_t *is_eog, int32_t n_vocab,
                              size_t total, uint32_t max_len, gvocab **out)
{
    slm_status st = SLM_OK;
    piece *tmp = NULL;
    gvocab *v = slm_calloc(1, sizeof *v);
    SLM_CHECK(v, SLM_ERR_NOMEM, "grammar: out of memory");
    v->refs = 1;
    v->total = total;
    v->n_vocab = n_vocab;
    v->max_len = max_len;
    size_t nv1 = (size_t)n_vocab + 1; /* no vocabulary is allowed: text-only checking */
    v->is_eog = slm_calloc(nv1, 1);
    v->pool = slm_alloc(total + 1);
    v->off = slm_alloc(nv1 * sizeof *v->off);
    v->len = slm_alloc(nv1 * sizeof *v->len);
    v->order = slm_alloc(nv1 * sizeof *v->order);
    v->lcp = slm_alloc(nv1 * sizeof *v->lcp);
    v->spieces = slm_alloc(total + 1);
    v->soff = slm_alloc(nv1 * sizeof *v->soff);
    tmp = slm_alloc(nv1 * sizeof *tmp);
    SLM_CHECK(v->is_eog && v->pool && v->off && v->len && v->order && v->lcp && v->spieces && v->soff && tmp,
              SLM_ERR_NOMEM, "grammar: out of memory for a vocabulary of %d tokens", (int)n_vocab);
    size_t at = 0;
    uint32_t n_order = 0;
    for (int32_t t = 0; t < n_vocab; t++) {
        v->is_eog[t] = is_eog ? (is_eog[t] != 0) : 0;
        v->off[t] = (uint32_t)at;
        v->len[t] = (uint32_t)plen[t];
        if (plen[t]) memcpy(v->pool + at, pc[t], plen[t]);
        at += plen[t];
    }
    for (int32_t t = 0; t < n_vocab; t++) {
        if (v->is_eog[t] || v->len[t] == 0) continue;
        tmp[n_order].p = (const uint8_t *)v->pool + v->off[t];
        tmp[n_order].len = v->len[t];
        tmp[n_order].id = t;
        n_order++;
    }
    qsort(tmp, n_order, sizeof *tmp, piece_cmp);
    at = 0;
    for (uint32_t k = 0; k < n_order; k++) {
        v->order[k] = tmp[k].id;
        uint32_t l = 0;
        if (k > 0) {
            uint32_t n = tmp[k].len < tmp[k - 1].len ? tmp[k].len : tmp[k - 1].len;
            while (l < n && tmp[k].p[l] == tmp[k - 1].p[l]) l++;
        }
        v->lcp[k] = l;
        v->soff[k] = (uint32_t)at;
        memcpy(v->spieces + at, tmp[k].p, tmp[k].len);
        at += tmp[k].len;
    }
    v->soff[n_order] = (uint32_t)at;
    v->n_order = n_order;
    slm_free(tmp);
    *out = v;
    return SLM_OK;
fail:
    slm_free(tmp);
    vocab_free(v);
    return st;
}

/* A reference to the sorted vocabulary of these pieces: from the cache when
 * an identical one was built before, else built and cached. */
static slm_status vocab_get(const char *const *pc, const size_t *plen, const uint8_t *is_eog, int32_t n_vocab,
                            gvocab **out)
{
    slm_status st = SLM_OK;
    *out = NULL;
    size_t total = 0;
    uint32_t max_len = 0;
    for (int32_t t = 0; t < n_vocab; t++) {
        SLM_CHECK(plen[t] < (1u << 24) && (plen[t] == 0 || pc[t]), SLM_ERR_ARG,
                  "grammar: token %d: piece of %zu bytes", (int)t, plen[t]);
        total += plen[t];
        if (plen[t] > max_len) max_len = (uint32_t)plen[t];
    }
    SLM_CHECK(total < UINT32_MAX, SLM_ERR_ARG, "grammar: vocabulary pieces total %zu bytes", total);
    pthread_mutex_lock(&vocab_lock);
    for (int k = 0; k < VOCAB_CACHE; k++) {
        gvocab *v = vocab_cache[k];
        if (v && vocab_same(v, total, pc, plen, is_eog, n_vocab)) {
            v->refs++;
            *out = v;
            break;
        }
    }
    pthread_mutex_unlock(&vocab_lock);
    if (*out) return SLM_OK;
    gvocab *v = NULL;
    SLM_TRY(vocab_build(pc, plen, is_eog, n_vocab, total, max_len, &v));
    if (n_vocab == 0) { /* text-only grammars: nothing to sort, keep the cache for models */
        *out = v;
        return SLM_OK;
    }
    /* cache it (the cache holds a reference), dropping the oldest entry */
    gvocab *old = NULL;
    pthread_mutex_lock(&vocab_lock);
    old = vocab_cache[VOCAB_CACHE - 1];
    for (int k = VOCAB_CACHE - 1; k > 0; k--) vocab_cache[k] = vocab_cache[k - 1];
    vocab_cache[0] = v;
    v->refs++;
    int last = old && --old->refs == 0;
    pthread_mutex_unlock(&vocab_lock);
    if (last) vocab_free(old);
    *out = v;
fail:
    return st;
}

slm_status slm_grammar_new_vocab(slm_gram *gram, const char *const *pc, const size_t *plen,
                                 const uint8_t *is_eog, int32_t n_vocab, slm_grammar **out)
{
    slm_status st = SLM_OK;
    slm_grammar *g = NULL;
    if (out) *out = NULL;
    SLM_CHECK(gram && out && n_vocab >= 0 && (n_vocab == 0 || (pc && plen)), SLM_ERR_ARG,
              "grammar: bad vocabulary arguments (n_vocab %d)", (int)n_vocab);
    g = slm_calloc(1, sizeof *g);
    SLM_CHECK(g, SLM_ERR_NOMEM, "grammar: out of memory");
    g->gram = gram;
    gram = NULL;
    SLM_TRY(vocab_get(pc, plen, is_eog, n_vocab, &g->voc));
    const gvocab *v = g->voc;
    g->n_vocab = n_vocab;
    g->is_eog = v->is_eog;
    g->pool = v->pool;
    g->off = v->off;
    g->len = v->len;
    g->order = v->order;
    g->lcp = v->lcp;
    g->spieces = v->spieces;
    g->soff = v->soff;
    g->n_order = v->n_order;
    uint32_t max_len = g->max_len = v->max_len;
    size_t nv1 = (size_t)n_vocab + 1;
    g->allowed = slm_calloc(nv1, 1);
    g->set_off = slm_calloc(max_len + 2, sizeof *g->set_off);
    g->set_len = slm_calloc(max_len + 2, sizeof *g->set_len);
    g->node_top = slm_calloc(max_len + 2, sizeof *g->node_top);
    g->accept = slm_calloc(max_len + 2, 1);
    g->sid = slm_calloc(max_len + 2, sizeof *g->sid);
    g->vis_mask = 1023;
    g->vis = slm_calloc(g->vis_mask + 1, sizeof *g->vis);
    SLM_CHECK(g->allowed && g->set_off && g->set_len && g->node_top && g->accept && g->sid && g->vis,
              SLM_ERR_NOMEM, "grammar: out of memory for a vocabulary of %d tokens", (int)n_vocab);
    slm_grammar_reset(g);
    if (g->oom || g->overflow) {
        st = limit_status(g);
        goto fail;
    }
    *out = g;
    return SLM_OK;
fail:
    slm_gram_free(gram);
    slm_grammar_free(g);
    return st;
}

slm_status slm_grammar_new(const slm_model *m, const char *gbnf, size_t len, const char *root,
                           slm_grammar **out)
{
    slm_status st = SLM_OK;
    slm_gram *gram = NULL;
    char *pool = NULL;
    const char **pc = NULL;
    size_t *plen = NULL;
    uint8_t *eog = NULL;
    size_t *offs = NULL;
    if (out) *out = NULL;
    slm_error_clear();
    SLM_CHECK(gbnf && out, SLM_ERR_ARG, "slm_grammar_new: NULL argument");
    SLM_TRY(slm_gram_parse(gbnf, len, root, &gram));
    if (!m) { /* text-only: accept_text and can_end work, apply/accept refuse */
        const char *none[1] = {""};
        size_t zero[1] = {0};
        st = slm_grammar_new_vocab(gram, none, zero, NULL, 0, out);
        return st;
    }
    int32_t n_vocab = slm_model_n_vocab(m);
    SLM_CHECK(n_vocab > 0, SLM_ERR_ARG, "slm_grammar_new: the model has no vocabulary");
    pc = slm_alloc((size_t)n_vocab * sizeof *pc);
    plen = slm_alloc((size_t)n_vocab * sizeof *plen);
    eog = slm_alloc((size_t)n_vocab);
    size_t cap = (size_t)n_vocab * 8 + 64, used = 0;
    pool = slm_alloc(cap);
    SLM_CHECK(pc && plen && eog && pool, SLM_ERR_NOMEM, "slm_grammar_new: out of memory");
    offs = slm_alloc((size_t)n_vocab * sizeof *offs); /* pointers once the pool stops moving */
    SLM_CHECK(offs, SLM_ERR_NOMEM, "slm_grammar_new: out of memory");
    for (int32_t t = 0; t < n_vocab; t++) {
        size_t n = slm_token_to_piece(m, t, 0, pool + used, cap - used);
        if (n > cap - used) {
            size_t nc = cap;
            while (nc - used < n) nc *= 2;
            char *np = slm_realloc(pool, nc);
            SLM_CHECK(np, SLM_ERR_NOMEM, "slm_grammar_new: out of memory");
            pool = np;
            cap = nc;
            slm_token_to_piece(m, t, 0, pool + used, cap - used);
        }
        offs[t] = used;
        plen[t] = n;
        used += n;
        eog[t] = (uint8_t)(slm_token_is_eog(m, t) != 0);
    }
    for (int32_t t = 0; t < n_vocab; t++) pc[t] = pool + offs[t];
    st = slm_grammar_new_vocab(gram, pc, plen, eog, n_vocab, out);
    gram = NULL; /* owned by the call now */
fail:
    slm_gram_free(gram);
    slm_free(pool);
    slm_free(pc);
    slm_free(plen);
    slm_free(eog);
    slm_free(offs);
    return st;
}

/* The committed stacks as a key (accept flag, then each stack's positions
 * top to bottom, NONE-separated) in g->mkey; its length, or 0 when too long
 * or out of memory (then nothing is cached). */
static size_t mask_key(slm_grammar *g, uint64_t *hash)
{
    size_t n = 0;
    if (!grow((void **)&g->mkey, &g->cap_mkey, 256, sizeof *g->mkey)) return 0;
    g->mkey[n++] = g->accept[0];
    const uint32_t *set = g->sets + g->set_off[0];
    for (size_t i = 0; i < g->set_len[0]; i++) {
        for (uint32_t k = set[i];; k = g->nodes[k].parent) {
            if (n + 2 > MASK_KEY_MAX) return 0;
            if (!grow((void **)&g->mkey, &g->cap_mkey, n + 2, sizeof *g->mkey)) return 0;
            if (k == NONE) {
                g->mkey[n++] = NONE;
                break;
            }
            g->mkey[n++] = g->nodes[k].pos;
        }
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ g->mkey[i]) * 0x100000001b3ull;
    *hash = h;
    return n;
}

slm_status slm_grammar_apply(slm_grammar *g, float *logits, int32_t n_vocab)
{
    slm_status st = SLM_OK;
    SLM_CHECK(g && logits, SLM_ERR_ARG, "slm_grammar_apply: NULL argument");
    SLM_CHECK(n_vocab == g->n_vocab, SLM_ERR_ARG, "slm_grammar_apply: n_vocab %d, grammar has %d",
              (int)n_vocab, (int)g->n_vocab);
    memset(g->allowed, 0, (size_t)n_vocab);
    int can_end = g->accept[0] || g->done;
    for (int32_t t = 0; t < n_vocab; t++)
        if (g->is_eog[t] && can_end) g->allowed[t] = 1;
    uint64_t hash = 0;
    size_t klen = !g->done && g->set_len[0] > 0 ? mask_key(g, &hash) : 0;
    for (int e = 0; klen && e < MASK_CACHE; e++) {
        const struct mask_entry *me = &g->mcache[e];
        if (me->bits && me->hash == hash && me->klen == klen && memcmp(me->key, g->mkey, klen * sizeof *g->mkey) == 0) {
            for (int32_t t = 0; t < n_vocab; t++)
                if (me->bits[t >> 3] >> (t & 7) & 1) g->allowed[t] = 1;
            goto mask;
        }
    }
    if (!g->done && g->set_len[0] > 0) {
        /* the cache entry this mask will fill (best effort: without memory,
         * nothing is remembered) */
        struct mask_entry *me = NULL;
        if (klen) {
            me = &g->mcache[g->mnext];
            size_t nb = ((size_t)n_vocab + 7) / 8;
            uint32_t *key = slm_realloc(me->key, klen * sizeof *key);
            if (key) me->key = key;
            if (!me->bits) me->bits = slm_alloc(nb ? nb : 1);
            me->klen = 0; /* invalid until complete */
            if (key && me->bits) memset(me->bits, 0, nb);
            else me = NULL;
        }
        /* Walk the sorted pieces; sid[d] is the set after d bytes of the
         * current piece, valid for d <= m. */
        int32_t *sid = g->sid;
        intern_clear(g);
        memo_clear(g);
        for (size_t k = 0; k < g->base; k++) /* committed nodes are shared too */
            if (intern_node(g, g->nodes[k].pos, g->nodes[k].parent, (uint32_t)k) == NONE) goto limit;
        int32_t s0 = memo_set(g, g->sets + g->set_off[0], g->set_len[0], g->accept[0]);
        if (s0 < 0) goto limit;
        sid[0] = s0;
        size_t m = 0;
        for (uint32_t k = 0; k < g->n_order; k++) {
            const uint8_t *p = g->spieces + g->soff[k];
            uint32_t L = g->soff[k + 1] - g->soff[k], l = g->lcp[k];
            if (l > m) continue; /* shares a dead prefix with the previous piece */
            m = l;
            while (m < L) {
                if (g->ds[sid[m]].n == 0) break;
                int32_t nx = memo_next(g, sid[m], p[m]);
                if (nx == MEMO_DEAD) break;
                if (nx < 0) goto limit;
                sid[++m] = nx;
            }
            if (m == L) {
                int32_t t = g->order[k];
                g->allowed[t] = 1;
                if (me) me->bits[t >> 3] |= (uint8_t)(1u << (t & 7));
            }
        }
        g->n_nodes = g->base;
        g->n_sets = g->set_len[0];
        intern_clear(g);
        if (me) {
            memcpy(me->key, g->mkey, klen * sizeof *me->key);
            me->klen = klen;
            me->hash = hash;
            g->mnext = (g->mnext + 1) % MASK_CACHE;
        }
    }
mask:
    for (int32_t t = 0; t < n_vocab; t++)
        if (!g->allowed[t]) logits[t] = -INFINITY;
    return SLM_OK;
limit:
    g->n_nodes = g->base;
    g->n_sets = g->set_len[0];
    intern_clear(g);
    return limit_status(g);
fail:
    return st;
}

/* Advance the committed state over bytes; unchanged on failure. */
static slm_status advance_bytes(slm_grammar *g, const uint8_t *p, size_t n, const char *what)
{
    slm_status st = SLM_OK;
    SLM_CHECK(!g->done || n == 0, SLM_ERR_ARG, "grammar: %s after the end of generation", what);
    /* depth arrays hold max_len + 2 entries; reuse 0/1 alternately for long text */
    for (size_t k = 0; k < n; k++) {
        SLM_CHECK(g->set_len[0] > 0, SLM_ERR_ARG,
                  "grammar: %s does not continue the grammar (byte %zu, 0x%02X: nothing more "
                  "may follow)",
                  what, k, p[k]);
        if (!advance(g, 0, p[k])) {
            truncate_to(g, 0);
            return limit_status(g);
        }
        if (g->set_len[1] == 0 && !g->accept[1]) {
            truncate_to(g, 0);
            return slm_fail(SLM_ERR_ARG, "grammar: %s does not continue the grammar (byte %zu, 0x%02X)",
                            what, k, p[k]);
        }
        if (!commit(g, 1)) {
            truncate_to(g, 0);
            return limit_status(g);
        }
    }
    return SLM_OK;
fail:
    return st;
}

slm_status slm_grammar_accept(slm_grammar *g, int32_t tok)
{
    slm_status st = SLM_OK;
    SLM_CHECK(g, SLM_ERR_ARG, "slm_grammar_accept: NULL grammar");
    SLM_CHECK(tok >= 0 && tok < g->n_vocab, SLM_ERR_ARG, "slm_grammar_accept: token %d outside the vocabulary (%d)",
              (int)tok, (int)g->n_vocab);
    if (g->is_eog[tok]) {
        SLM_CHECK(g->accept[0] || g->done, SLM_ERR_ARG,
                  "slm_grammar_accept: end-of-generation token %d before the grammar is complete",
                  (int)tok);
        g->done = 1;
        return SLM_OK;
    }
    SLM_CHECK(g->len[tok] > 0, SLM_ERR_ARG, "slm_grammar_accept: token %d has no text (control token)",
              (int)tok);
    /* Simulate on a copy first so a rejected token leaves the state as it was. */
    const uint8_t *p = (const uint8_t *)g->pool + g->off[tok];
    uint32_t L = g->len[tok];
    for (uint32_t k = 0; k < L; k++) {
        if (g->set_len[k] == 0) {
            truncate_to(g, 0);
            return slm_fail(SLM_ERR_ARG, "slm_grammar_accept: token %d does not continue the grammar", (int)tok);
        }
        if (!advance(g, k, p[k])) {
            truncate_to(g, 0);
            return limit_status(g);
        }
    }
    if (g->set_len[L] == 0 && !g->accept[L]) {
        truncate_to(g, 0);
        return slm_fail(SLM_ERR_ARG, "slm_grammar_accept: token %d does not continue the grammar", (int)tok);
    }
    if (!commit(g, L)) {
        slm_grammar_reset(g);
        return limit_status(g);
    }
    return SLM_OK;
fail:
    return st;
}

slm_status slm_grammar_accept_text(slm_grammar *g, const char *text, size_t len)
{
    slm_status st = SLM_OK;
    snode *save_nodes = NULL;
    uint32_t *save_sets = NULL;
    SLM_CHECK(g && (text || len == 0), SLM_ERR_ARG, "slm_grammar_accept_text: NULL argument");
    /* Byte by byte, committing each: a failure part-way must restore the
     * start, so keep a copy of the committed state. */
    size_t nn = g->base, ns = g->set_len[0];
    uint8_t save_acc = g->accept[0];
    save_nodes = slm_alloc((nn + 1) * sizeof *save_nodes);
    save_sets = slm_alloc((ns + 1) * sizeof *save_sets);
    SLM_CHECK(save_nodes && save_sets, SLM_ERR_NOMEM, "slm_grammar_accept_text: out of memory");
    if (nn) memcpy(save_nodes, g->nodes, nn * sizeof *save_nodes);
    if (ns) memcpy(save_sets, g->sets + g->set_off[0], ns * sizeof *save_sets);
    st = advance_bytes(g, (const uint8_t *)text, len, "text");
    if (st != SLM_OK) {
        /* restore: the arena only grew past nn, so capacities suffice */
        if (nn) memcpy(g->nodes, save_nodes, nn * sizeof *save_nodes);
        if (ns) memcpy(g->sets, save_sets, ns * sizeof *save_sets);
        g->n_nodes = g->base = g->node_top[0] = nn;
        g->set_off[0] = 0;
        g->n_sets = g->set_len[0] = ns;
        g->accept[0] = save_acc;
    }
fail:
    slm_free(save_nodes);
    slm_free(save_sets);
    return st;
}

int slm_grammar_can_end(const slm_grammar *g) { return g && (g->accept[0] || g->done); }

int slm_grammar_is_done(const slm_grammar *g)
{
    return g && (g->done || (g->accept[0] && g->set_len[0] == 0));
}

int slm_grammar_matches(slm_grammar *g, const char *text, size_t len)
{
    slm_grammar_reset(g);
    int ok = slm_grammar_accept_text(g, text, len) == SLM_OK && slm_grammar_can_end(g);
    slm_grammar_reset(g);
    return ok;
}

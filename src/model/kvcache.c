/* kvcache.c — a session's compute state: the KV cache (F16 or F32, one row
 * per position holding all KV heads, layers one after another) and the
 * activation scratch, carved from one allocation by a named size table so
 * the decode loop never allocates. Sized for n_batch tokens per forward.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "model/model.h"

#define BUF_ALIGN ((size_t)64)

typedef struct buf_spec {
    const char *name;
    void **dst;  /* where the carved pointer goes (NULL when only sizing) */
    size_t bytes;
} buf_spec;

enum { N_BUFS = 22 };

static size_t max3(size_t a, size_t b, size_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

/* Fill the scratch table for the model at n_batch tokens and nth threads. */
static void scratch_table(const slm_model *m, uint32_t n_ctx, uint32_t n_batch, int nth,
                          slm_state *s, buf_spec *t)
{
    const slm_hparams *hp = &m->hp;
    const size_t T = n_batch, E = hp->n_embd, f = sizeof(float);
    const size_t Hk = (size_t)hp->n_head * hp->hd_k, Hv = (size_t)hp->n_head * hp->hd_v;
    const size_t Gk = (size_t)hp->n_head_kv * hp->hd_k, Gv = (size_t)hp->n_head_kv * hp->hd_v;
    /* phi3's fused up projection writes gate|up (2 n_ff) into one row */
    const int fused_up = hp->arch == SLM_ARCH_PHI3;
    const size_t F = max3((fused_up ? 2 : 1) * (size_t)hp->n_ff, hp->n_ff_exp, hp->n_ff_shexp);
    const int fused_qkv = hp->arch == SLM_ARCH_PHI3;
    const size_t X = hp->n_expert, K = hp->n_expert_used;
    size_t max_in = max3(E, Hv, F);
    const int moe = X > 0;
#define B(i, nm, field, n) t[i] = (buf_spec){nm, s ? (void **)&s->field : NULL, (n)}
    B(0, "x", x, T * E * f);
    B(1, "h", h, T * E * f);
    B(2, "q", q, T * Hk * f);
    B(3, "k", kc, T * Gk * f);
    B(4, "v", vc, T * Gv * f);
    B(5, "qkv", qkv, fused_qkv ? T * (Hk + Gk + Gv) * f : 0);
    B(6, "att", att, T * Hv * f);
    B(7, "o", o, T * E * f);
    B(8, "ffn_gate", g, T * F * f);
    B(9, "ffn_up", u, T * F * f);
    B(10, "act", act, slm_nn_act_bytes((int64_t)max_in, (int64_t)T));
    B(11, "attention", scores, (size_t)nth * slm_nn_attn_scratch_floats(n_ctx) * f);
    B(12, "rope_cache", rope_cache, SLM_MAX_HEAD_DIM * f);
    B(13, "router", router, moe ? T * X * f : 0);
    B(14, "probs", probs, moe ? X * f : 0);
    B(15, "sel", sel, moe ? T * K * sizeof(int32_t) : 0);
    B(16, "selw", selw, moe ? T * K * f : 0);
    B(17, "erows", erows, moe ? T * sizeof(int32_t) : 0);
    B(18, "eslot", eslot, moe ? T * sizeof(int32_t) : 0);
    B(19, "ex", ex, moe ? T * E * f : 0);
    B(20, "ey", ey, moe ? T * K * E * f : 0);
    B(21, "shx", shx, moe ? T * f : 0);
#undef B
}

static size_t round_up(size_t n) { return (n + BUF_ALIGN - 1) & ~(BUF_ALIGN - 1); }

static uint64_t kv_row_bytes(slm_type kv_type, uint64_t n) { return n * (kv_type == SLM_TYPE_F16 ? 2 : 4); }

uint64_t slm_state_bytes(const slm_model *m, uint32_t n_ctx, uint32_t n_batch, slm_type kv_type,
                         int n_threads, uint64_t *kv_bytes)
{
    const slm_hparams *hp = &m->hp;
    buf_spec t[N_BUFS];
    if (n_threads <= 0) n_threads = slm_cpu_count();
    scratch_table(m, n_ctx, n_batch, n_threads, NULL, t);
    uint64_t sc = 0;
    for (int i = 0; i < N_BUFS; i++) sc += round_up(t[i].bytes);
    uint64_t kv = (kv_row_bytes(kv_type, (uint64_t)hp->n_head_kv * hp->hd_k) +
                   kv_row_bytes(kv_type, (uint64_t)hp->n_head_kv * hp->hd_v)) *
                  (uint64_t)n_ctx * hp->n_layer;
    if (kv_bytes) *kv_bytes = kv;
    return sc + kv;
}

slm_status slm_state_new(const slm_model *m, uint32_t n_ctx, uint32_t n_batch, slm_type kv_type,
                         int n_threads, slm_state **out)
{
    slm_status st = SLM_OK;
    *out = NULL;
    const slm_hparams *hp = &m->hp;
    slm_state *s = slm_calloc(1, sizeof *s);
    SLM_CHECK(s, SLM_ERR_NOMEM, "session: out of memory");
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->kv_type = kv_type;
    SLM_TRY(slm_pool_new(n_threads, &s->pool));
    const int nth = slm_pool_n_threads(s->pool);

    s->k_row_bytes = kv_row_bytes(kv_type, (uint64_t)hp->n_head_kv * hp->hd_k);
    s->vt_row_bytes = kv_row_bytes(kv_type, n_ctx);
    uint64_t kb, vb, total;
    SLM_CHECK(slm_u64_mul(s->k_row_bytes, (uint64_t)n_ctx * hp->n_layer, &kb) &&
                  slm_u64_mul(s->vt_row_bytes, (uint64_t)hp->n_head_kv * hp->hd_v * hp->n_layer, &vb) &&
                  slm_u64_add(kb, vb, &total) && total <= SIZE_MAX,
              SLM_ERR_NOMEM, "session: KV cache for n_ctx %u overflows", n_ctx);
    s->kv = slm_alloc_aligned((size_t)total, BUF_ALIGN);
    SLM_CHECK(s->kv, SLM_ERR_NOMEM, "session: cannot allocate %llu bytes of KV cache (n_ctx %u)",
              (unsigned long long)total, n_ctx);
    /* not cleared: attention only reads positions a forward pass wrote */
    s->k = s->kv;
    s->v = s->kv + kb;
    s->kv_bytes = total;

    buf_spec t[N_BUFS];
    scratch_table(m, n_ctx, n_batch, nth, s, t);
    size_t sc = 0;
    for (int i = 0; i < N_BUFS; i++) sc += round_up(t[i].bytes);
    s->scratch = slm_alloc_aligned(sc, BUF_ALIGN);
    SLM_CHECK(s->scratch, SLM_ERR_NOMEM, "session: cannot allocate %zu bytes of scratch (n_batch %u)",
              sc, n_batch);
    memset(s->scratch, 0, sc);
    s->scratch_bytes = sc;
    size_t off = 0;
    for (int i = 0; i < N_BUFS; i++) {
        *t[i].dst = t[i].bytes ? s->scratch + off : NULL;
        off += round_up(t[i].bytes);
    }
    *out = s;
    return SLM_OK;
fail:
    slm_state_free(s);
    return st;
}

void slm_state_free(slm_state *s)
{
    if (!s) return;
    slm_pool_free(s->pool);
    slm_free_aligned(s->kv);
    slm_free_aligned(s->scratch);
    slm_free(s);
}

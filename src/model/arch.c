/* arch.c — what each architecture reads and needs: hyperparameter keys
 * (`<arch>.` prefixed, with llama.cpp's defaults), their sanity bounds, and
 * the tensor list with expected shapes. Messages name the file (prefixed by
 * the loader), the key or tensor, the value found and the value expected.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "quant/types.h"

static const char *const arch_names[SLM_ARCH_COUNT] = {
    [SLM_ARCH_LLAMA] = "llama",       [SLM_ARCH_QWEN2] = "qwen2",
    [SLM_ARCH_QWEN3] = "qwen3",       [SLM_ARCH_GEMMA2] = "gemma2",
    [SLM_ARCH_GEMMA3] = "gemma3",     [SLM_ARCH_PHI3] = "phi3",
    [SLM_ARCH_QWEN2MOE] = "qwen2moe", [SLM_ARCH_QWEN3MOE] = "qwen3moe",
};

slm_status slm_arch_from_name(const char *name, slm_arch *out)
{
    for (int i = 0; i < SLM_ARCH_COUNT; i++)
        if (strcmp(name, arch_names[i]) == 0) {
            *out = (slm_arch)i;
            return SLM_OK;
        }
    return slm_fail(SLM_ERR_UNSUPPORTED,
                    "architecture '%s' is not supported (supported: llama, qwen2, qwen3, "
                    "gemma2, gemma3, phi3, qwen2moe, qwen3moe)",
                    name);
}

const char *slm_arch_name(slm_arch a) { return a < SLM_ARCH_COUNT ? arch_names[a] : "?"; }

/* ---- hyperparameters ---- */

static void key(char *buf, size_t cap, const slm_model *m, const char *suffix)
{
    snprintf(buf, cap, "%s.%s", m->arch_name, suffix);
}

/* Optional u32: SLM_OK (set), SLM_OK (absent, default kept), or the reader's
 * SLM_ERR_FORMAT for a wrong type. */
static slm_status opt_u32(const slm_model *m, const char *suffix, uint32_t *v)
{
    char k[256];
    key(k, sizeof k, m, suffix);
    slm_status st = slm_gguf_get_u32(m->gguf, k, v);
    if (st == SLM_ERR_ARG) {
        slm_error_clear();
        return SLM_OK;
    }
    return st;
}

static slm_status req_u32(const slm_model *m, const char *suffix, uint32_t *v)
{
    char k[256];
    key(k, sizeof k, m, suffix);
    slm_status st = slm_gguf_get_u32(m->gguf, k, v);
    if (st == SLM_ERR_ARG) return slm_fail(SLM_ERR_FORMAT, "required key '%s' is missing", k);
    return st;
}

static slm_status opt_f32(const slm_model *m, const char *suffix, float *v)
{
    char k[256];
    key(k, sizeof k, m, suffix);
    slm_status st = slm_gguf_get_f32(m->gguf, k, v);
    if (st == SLM_ERR_ARG) {
        slm_error_clear();
        return SLM_OK;
    }
    return st;
}

static slm_status req_f32(const slm_model *m, const char *suffix, float *v)
{
    char k[256];
    key(k, sizeof k, m, suffix);
    slm_status st = slm_gguf_get_f32(m->gguf, k, v);
    if (st == SLM_ERR_ARG) return slm_fail(SLM_ERR_FORMAT, "required key '%s' is missing", k);
    return st;
}

static int is_moe_arch(slm_arch a) { return a == SLM_ARCH_QWEN2MOE || a == SLM_ARCH_QWEN3MOE; }

slm_status slm_arch_read_hparams(slm_model *m)
{
    slm_status st = SLM_OK;
    slm_hparams *hp = &m->hp;
    slm_arch a = hp->arch;
    char k[256];

    SLM_TRY(req_u32(m, "context_length", &hp->n_ctx_train));
    SLM_TRY(req_u32(m, "embedding_length", &hp->n_embd));
    SLM_TRY(req_u32(m, "block_count", &hp->n_layer));
    if (is_moe_arch(a)) SLM_TRY(opt_u32(m, "feed_forward_length", &hp->n_ff));
    else SLM_TRY(req_u32(m, "feed_forward_length", &hp->n_ff));
    SLM_TRY(req_u32(m, "attention.head_count", &hp->n_head));
    hp->n_head_kv = hp->n_head;
    SLM_TRY(opt_u32(m, "attention.head_count_kv", &hp->n_head_kv));
    SLM_TRY(req_f32(m, "attention.layer_norm_rms_epsilon", &hp->eps));

    SLM_CHECK(hp->n_embd > 0 && hp->n_embd <= 65536, SLM_ERR_FORMAT,
              "%s.embedding_length is %u, expected 1..65536", m->arch_name, hp->n_embd);
    SLM_CHECK(hp->n_layer > 0 && hp->n_layer <= SLM_MAX_LAYERS, SLM_ERR_FORMAT,
              "%s.block_count is %u, expected 1..%d", m->arch_name, hp->n_layer, SLM_MAX_LAYERS);
    SLM_CHECK(hp->n_head > 0 && hp->n_head <= 1024, SLM_ERR_FORMAT,
              "%s.attention.head_count is %u, expected 1..1024", m->arch_name, hp->n_head);
    SLM_CHECK(hp->n_head_kv > 0 && hp->n_head % hp->n_head_kv == 0, SLM_ERR_FORMAT,
              "%s.attention.head_count_kv is %u, expected a divisor of head_count %u",
              m->arch_name, hp->n_head_kv, hp->n_head);
    SLM_CHECK(hp->n_ctx_train > 0, SLM_ERR_FORMAT, "%s.context_length is 0", m->arch_name);
    SLM_CHECK(hp->n_ff <= (1u << 20), SLM_ERR_FORMAT,
              "%s.feed_forward_length is %u, expected at most %u", m->arch_name, hp->n_ff,
              1u << 20);
    SLM_CHECK(hp->eps > 0.0f && hp->eps < 1.0f, SLM_ERR_FORMAT,
              "%s.attention.layer_norm_rms_epsilon is %g, expected in (0, 1)", m->arch_name,
              (double)hp->eps);

    hp->hd_k = hp->hd_v = 0;
    SLM_TRY(opt_u32(m, "attention.key_length", &hp->hd_k));
    SLM_TRY(opt_u32(m, "attention.value_length", &hp->hd_v));
    if (hp->hd_k == 0 || hp->hd_v == 0)
        SLM_CHECK(hp->n_embd % hp->n_head == 0, SLM_ERR_FORMAT,
                  "%s.embedding_length %u is not divisible by head_count %u", m->arch_name,
                  hp->n_embd, hp->n_head);
    if (hp->hd_k == 0) hp->hd_k = hp->n_embd / hp->n_head;
    if (hp->hd_v == 0) hp->hd_v = hp->n_embd / hp->n_head;
    SLM_CHECK(hp->hd_k > 0 && hp->hd_k <= SLM_MAX_HEAD_DIM && hp->hd_k % 2 == 0, SLM_ERR_FORMAT,
              "%s head dimension (key_length) is %u, expected even and 2..%d", m->arch_name,
              hp->hd_k, SLM_MAX_HEAD_DIM);
    SLM_CHECK(hp->hd_v > 0 && hp->hd_v <= SLM_MAX_HEAD_DIM, SLM_ERR_FORMAT,
              "%s value_length is %u, expected 1..%d", m->arch_name, hp->hd_v, SLM_MAX_HEAD_DIM);
    hp->n_rot = hp->hd_k;
    SLM_TRY(opt_u32(m, "rope.dimension_count", &hp->n_rot));
    SLM_CHECK(hp->n_rot > 0 && hp->n_rot <= hp->hd_k && hp->n_rot % 2 == 0, SLM_ERR_FORMAT,
              "%s.rope.dimension_count is %u, expected even and 2..%u (head dim)", m->arch_name,
              hp->n_rot, hp->hd_k);

    hp->rope_base = 10000.0f;
    SLM_TRY(opt_f32(m, "rope.freq_base", &hp->rope_base));
    SLM_CHECK(hp->rope_base > 0.0f && isfinite(hp->rope_base), SLM_ERR_FORMAT,
              "%s.rope.freq_base is %g, expected > 0", m->arch_name, (double)hp->rope_base);
    hp->rope_base_swa = hp->rope_base;
    hp->rope_freq_scale = 1.0f;
    hp->rope_attn_factor = 1.0f;
    {
        const char *ty = NULL;
        size_t ty_len = 0;
        key(k, sizeof k, m, "rope.scaling.type");
        st = slm_gguf_get_str(m->gguf, k, &ty, &ty_len);
        if (st == SLM_ERR_ARG) {
            slm_error_clear();
            st = SLM_OK;
            ty = NULL;
        }
        SLM_TRY(st);
        float factor = 0.0f;
        SLM_TRY(opt_f32(m, "rope.scaling.factor", &factor));
        if (ty && ty_len == 6 && memcmp(ty, "linear", 6) == 0) {
            SLM_CHECK(factor > 0.0f && isfinite(factor), SLM_ERR_FORMAT,
                      "%s.rope.scaling.factor is %g, expected > 0 for linear scaling", m->arch_name,
                      (double)factor);
            hp->rope_freq_scale = 1.0f / factor;
        } else if (ty && ty_len == 4 && memcmp(ty, "yarn", 4) == 0) {
            SLM_CHECK(0, SLM_ERR_UNSUPPORTED, "%s: rope scaling type 'yarn' is not supported",
                      k);
        } else if (!ty && factor > 0.0f && factor != 1.0f) {
            hp->rope_freq_scale = 1.0f / factor; /* older files: factor alone means linear */
        }
        SLM_TRY(opt_f32(m, "rope.scaling.attn_factor", &hp->rope_attn_factor));
    }
    hp->n_ctx_orig = hp->n_ctx_train;
    SLM_TRY(opt_u32(m, "rope.scaling.original_context_length", &hp->n_ctx_orig));

    SLM_TRY(opt_u32(m, "expert_count", &hp->n_expert));
    SLM_TRY(opt_u32(m, "expert_used_count", &hp->n_expert_used));
    SLM_CHECK(hp->n_expert <= SLM_MAX_EXPERTS, SLM_ERR_FORMAT,
              "%s.expert_count is %u, expected at most %d", m->arch_name, hp->n_expert,
              SLM_MAX_EXPERTS);
    if (hp->n_expert > 0)
        SLM_CHECK(hp->n_expert_used > 0 && hp->n_expert_used <= hp->n_expert, SLM_ERR_FORMAT,
                  "%s.expert_used_count is %u, expected 1..%u (expert_count)", m->arch_name,
                  hp->n_expert_used, hp->n_expert);
    if (is_moe_arch(a))
        SLM_CHECK(hp->n_expert > 0, SLM_ERR_FORMAT, "%s.expert_count is missing or 0",
                  m->arch_name);
    SLM_TRY(opt_u32(m, "expert_feed_forward_length", &hp->n_ff_exp));
    SLM_TRY(opt_u32(m, "expert_shared_feed_forward_length", &hp->n_ff_shexp));

    hp->rope_neox = a != SLM_ARCH_LLAMA;
    hp->act = SLM_ACT_SILU;
    hp->moe_norm_w = a != SLM_ARCH_QWEN2MOE;
    if (a == SLM_ARCH_GEMMA2 || a == SLM_ARCH_GEMMA3) {
        hp->act = SLM_ACT_GELU;
        hp->embd_scale = sqrtf((float)hp->n_embd);
        /* llama.cpp: the 27B models scale by n_embd/n_head instead of the
         * head dim (gemma_pytorch config, query_pre_attn_scalar) */
        const int is_27b = (a == SLM_ARCH_GEMMA2 && hp->n_layer == 46) ||
                           (a == SLM_ARCH_GEMMA3 && hp->n_layer == 62);
        hp->q_scale = 1.0f / sqrtf((float)(is_27b ? hp->n_embd / hp->n_head : hp->hd_k));
        SLM_TRY(opt_f32(m, "attention.scale", &hp->q_scale));
        SLM_TRY(opt_u32(m, "attention.sliding_window", &hp->n_swa));
        hp->swa_pattern = a == SLM_ARCH_GEMMA2 ? 2 : 6;
        if (a == SLM_ARCH_GEMMA2) {
            SLM_TRY(opt_f32(m, "attn_logit_softcapping", &hp->attn_softcap));
            SLM_TRY(opt_f32(m, "final_logit_softcapping", &hp->final_softcap));
        } else {
            SLM_TRY(opt_f32(m, "final_logit_softcapping", &hp->final_softcap));
            hp->rope_base_swa = 10000.0f;
            SLM_TRY(opt_f32(m, "rope.freq_base_swa", &hp->rope_base_swa));
        }
        SLM_CHECK(hp->attn_softcap >= 0.0f && hp->final_softcap >= 0.0f, SLM_ERR_FORMAT,
                  "%s soft-cap is negative (%g, %g)", m->arch_name, (double)hp->attn_softcap,
                  (double)hp->final_softcap);
    }
    if (a == SLM_ARCH_PHI3) hp->q_scale = 1.0f / sqrtf((float)hp->hd_k);
    return SLM_OK;
fail:
    return st;
}

/* ---- tensors ---- */

static const slm_gguf_tensor *find(const slm_model *m, const char *name)
{
    return slm_gguf_find_tensor(m->gguf, name);
}

static void fmt_shape(char *buf, size_t cap, const int64_t *ne, int n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Shape check: t's dims must equal want[0..n) and be 1 beyond. */
static slm_status check_shape(const slm_gguf_tensor *t, const int64_t *want, int n)
{
    int ok = 1;
    for (int i = 0; i < SLM_GGUF_MAX_DIMS; i++) {
        int64_t w = i < n ? want[i] : 1;
        if (t->ne[i] != w) ok = 0;
    }
    if (ok) return SLM_OK;
    char found[96], exp[96];
    fmt_shape(found, sizeof found, t->ne, t->n_dims > n ? t->n_dims : n);
    fmt_shape(exp, sizeof exp, want, n);
    return slm_fail(SLM_ERR_FORMAT, "tensor '%s': shape %s, expected %s", t->name, found, exp);
}

static slm_status missing(const char *name, int64_t ne0, int64_t ne1)
{
    if (ne1 > 0)
        return slm_fail(SLM_ERR_FORMAT, "tensor '%s' is missing (expected shape [%lld, %lld])",
                        name, (long long)ne0, (long long)ne1);
    return slm_fail(SLM_ERR_FORMAT, "tensor '%s' is missing (expected shape [%lld])", name,
                    (long long)ne0);
}

static slm_status bind_vec(const slm_model *m, const char *name, int64_t n, int required,
                           const float **out)
{
    *out = NULL;
    const slm_gguf_tensor *t = find(m, name);
    if (!t) return required ? missing(name, n, 0) : SLM_OK;
    slm_status st = check_shape(t, &n, 1);
    if (st) return st;
    if (t->type != SLM_TYPE_F32)
        return slm_fail(SLM_ERR_UNSUPPORTED, "tensor '%s': type %s, expected F32 for a norm/bias",
                        name, slm_type_name(t->type) ? slm_type_name(t->type) : "?");
    if (((uintptr_t)t->data & 3) != 0)
        return slm_fail(SLM_ERR_FORMAT, "tensor '%s': data not 4-byte aligned", name);
    *out = t->data;
    return SLM_OK;
}

static slm_status mat_from(const slm_gguf_tensor *t, slm_mat *out)
{
    /* kernels read fp16/float fields in place: a file with general.alignment
     * below 4 could place them off their natural alignment */
    if (((uintptr_t)t->data & 3) != 0)
        return slm_fail(SLM_ERR_UNSUPPORTED, "tensor '%s': data not 4-byte aligned (general.alignment "
                        "too small)", t->name);
    if (!slm_nn_type_supported(t->type))
        return slm_fail(SLM_ERR_UNSUPPORTED, "tensor '%s': weight type %s has no dot kernel",
                        t->name, slm_type_name(t->type) ? slm_type_name(t->type) : "?");
    size_t rb = slm_type_row_size(t->type, t->ne[0]);
    if (rb == 0)
        return slm_fail(SLM_ERR_FORMAT, "tensor '%s': row of %lld elements is not a whole "
                        "number of %s blocks", t->name, (long long)t->ne[0],
                        slm_type_name(t->type));
    out->type = t->type;
    out->n_in = t->ne[0];
    out->n_out = t->ne[1];
    out->row_bytes = rb;
    out->data = t->data;
    return SLM_OK;
}

static slm_status bind_mat(const slm_model *m, const char *name, int64_t ne0, int64_t ne1,
                           int required, slm_mat *out)
{
    memset(out, 0, sizeof *out);
    const slm_gguf_tensor *t = find(m, name);
    if (!t) return required ? missing(name, ne0, ne1) : SLM_OK;
    int64_t want[2] = {ne0, ne1};
    slm_status st = check_shape(t, want, 2);
    if (st) return st;
    return mat_from(t, out);
}

/* A 3-D expert tensor [ne0, ne1, n_expert]: one slm_mat of ne1 rows for expert 0
 * plus the byte stride between experts. */
static slm_status bind_exps(const slm_model *m, const char *name, int64_t ne0, int64_t ne1,
                            int64_t ne2, slm_mat *out, size_t *stride)
{
    memset(out, 0, sizeof *out);
    const slm_gguf_tensor *t = find(m, name);
    if (!t)
        return slm_fail(SLM_ERR_FORMAT, "tensor '%s' is missing (expected shape [%lld, %lld, %lld])",
                        name, (long long)ne0, (long long)ne1, (long long)ne2);
    int64_t want[3] = {ne0, ne1, ne2};
    slm_status st = check_shape(t, want, 3);
    if (st) return st;
    st = mat_from(t, out);
    if (st) return st;
    *stride = out->row_bytes * (size_t)ne1;
    return SLM_OK;
}

#define NAME(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)

slm_status slm_arch_bind_tensors(slm_model *m)
{
    slm_status st = SLM_OK;
    slm_hparams *hp = &m->hp;
    const slm_arch a = hp->arch;
    char nm[128];
    const int64_t E = hp->n_embd, Hk = (int64_t)hp->n_head * hp->hd_k,
                  Hv = (int64_t)hp->n_head * hp->hd_v, Gk = (int64_t)hp->n_head_kv * hp->hd_k,
                  Gv = (int64_t)hp->n_head_kv * hp->hd_v;

    m->tok_embd = find(m, "token_embd.weight");
    SLM_CHECK(m->tok_embd, SLM_ERR_FORMAT, "tensor 'token_embd.weight' is missing");
    SLM_CHECK(m->tok_embd->ne[0] == E && m->tok_embd->ne[1] > 0 && m->tok_embd->ne[1] <= (1 << 24) &&
                  m->tok_embd->ne[2] == 1 && m->tok_embd->ne[3] == 1,
              SLM_ERR_FORMAT, "tensor 'token_embd.weight': shape [%lld, %lld, %lld], expected "
              "[%lld, n_vocab]", (long long)m->tok_embd->ne[0], (long long)m->tok_embd->ne[1],
              (long long)m->tok_embd->ne[2], (long long)E);
    {
        const slm_type_traits *tr = slm_type_traits_get(m->tok_embd->type);
        SLM_CHECK(tr && tr->to_float, SLM_ERR_UNSUPPORTED,
                  "tensor 'token_embd.weight': type %s cannot be dequantized",
                  slm_type_name(m->tok_embd->type) ? slm_type_name(m->tok_embd->type) : "?");
    }
    SLM_CHECK(((uintptr_t)m->tok_embd->data & 3) == 0, SLM_ERR_UNSUPPORTED,
              "tensor 'token_embd.weight': data not 4-byte aligned");
    hp->n_vocab = (uint32_t)m->tok_embd->ne[1];
    SLM_TRY(bind_vec(m, "output_norm.weight", E, 1, &m->output_norm));
    SLM_TRY(bind_mat(m, "output.weight", E, hp->n_vocab, 0, &m->output));
    if (!m->output.data) SLM_TRY(mat_from(m->tok_embd, &m->output)); /* tied */
    SLM_TRY(bind_vec(m, "rope_freqs.weight", hp->n_rot / 2, 0, &m->rope_freqs));
    SLM_TRY(bind_vec(m, "rope_factors_long.weight", hp->n_rot / 2, 0, &m->rope_long));
    SLM_TRY(bind_vec(m, "rope_factors_short.weight", hp->n_rot / 2, 0, &m->rope_short));

    m->layers = slm_calloc(hp->n_layer, sizeof *m->layers);
    SLM_CHECK(m->layers, SLM_ERR_NOMEM, "out of memory for %u layers", hp->n_layer);
    const int qk_norm = a == SLM_ARCH_QWEN3 || a == SLM_ARCH_QWEN3MOE || a == SLM_ARCH_GEMMA3;
    const int qkv_bias = a == SLM_ARCH_QWEN2 || a == SLM_ARCH_QWEN2MOE;
    const int gemma = a == SLM_ARCH_GEMMA2 || a == SLM_ARCH_GEMMA3;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        slm_layer *L = &m->layers[il];
        SLM_TRY(bind_vec(m, NAME("blk.%u.attn_norm.weight", il), E, 1, &L->attn_norm));
        if (a == SLM_ARCH_PHI3 && find(m, NAME("blk.%u.attn_qkv.weight", il))) {
            SLM_CHECK(hp->hd_k == hp->hd_v, SLM_ERR_FORMAT,
                      "fused attn_qkv needs key_length == value_length (%u vs %u)", hp->hd_k,
                      hp->hd_v);
            SLM_TRY(bind_mat(m, nm, E, Hk + Gk + Gv, 1, &L->wqkv));
        } else {
            SLM_TRY(bind_mat(m, NAME("blk.%u.attn_q.weight", il), E, Hk, 1, &L->wq));
            SLM_TRY(bind_mat(m, NAME("blk.%u.attn_k.weight", il), E, Gk, 1, &L->wk));
            SLM_TRY(bind_mat(m, NAME("blk.%u.attn_v.weight", il), E, Gv, 1, &L->wv));
        }
        SLM_TRY(bind_vec(m, NAME("blk.%u.attn_q.bias", il), Hk, qkv_bias, &L->bq));
        SLM_TRY(bind_vec(m, NAME("blk.%u.attn_k.bias", il), Gk, qkv_bias, &L->bk));
        SLM_TRY(bind_vec(m, NAME("blk.%u.attn_v.bias", il), Gv, qkv_bias, &L->bv));
        SLM_TRY(bind_vec(m, NAME("blk.%u.attn_q_norm.weight", il), hp->hd_k, qk_norm, &L->q_norm));
        SLM_TRY(bind_vec(m, NAME("blk.%u.attn_k_norm.weight", il), hp->hd_k, qk_norm, &L->k_norm));
        SLM_TRY(bind_mat(m, NAME("blk.%u.attn_output.weight", il), Hv, E, 1, &L->wo));
        SLM_TRY(bind_vec(m, NAME("blk.%u.post_attention_norm.weight", il), E, gemma,
                         &L->attn_post_norm));
        SLM_TRY(bind_vec(m, NAME("blk.%u.ffn_norm.weight", il), E, 1, &L->ffn_norm));
        SLM_TRY(bind_vec(m, NAME("blk.%u.post_ffw_norm.weight", il), E, gemma,
                         &L->ffn_post_norm));
        if (hp->n_expert > 0) {
            const int64_t X = hp->n_expert;
            const slm_gguf_tensor *gt = find(m, NAME("blk.%u.ffn_gate_exps.weight", il));
            SLM_CHECK(gt, SLM_ERR_FORMAT, "tensor '%s' is missing (expert_count is %u)", nm,
                      hp->n_expert);
            if (hp->n_ff_exp == 0) hp->n_ff_exp = (uint32_t)gt->ne[1];
            const int64_t Fe = hp->n_ff_exp;
            SLM_CHECK(Fe > 0 && Fe <= (1 << 20), SLM_ERR_FORMAT, "%s: expert width %lld", nm,
                      (long long)Fe);
            SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_gate_inp.weight", il), E, X, 1, &L->gate_inp));
            SLM_TRY(bind_exps(m, NAME("blk.%u.ffn_gate_exps.weight", il), E, Fe, X, &L->gate_exps,
                              &L->gate_exp_bytes));
            SLM_TRY(bind_exps(m, NAME("blk.%u.ffn_up_exps.weight", il), E, Fe, X, &L->up_exps,
                              &L->up_exp_bytes));
            SLM_TRY(bind_exps(m, NAME("blk.%u.ffn_down_exps.weight", il), Fe, E, X, &L->down_exps,
                              &L->down_exp_bytes));
            if (a == SLM_ARCH_QWEN2MOE) {
                const slm_gguf_tensor *st_ = find(m, NAME("blk.%u.ffn_gate_shexp.weight", il));
                SLM_CHECK(st_, SLM_ERR_FORMAT, "tensor '%s' is missing", nm);
                if (hp->n_ff_shexp == 0) hp->n_ff_shexp = (uint32_t)st_->ne[1];
                const int64_t Fs = hp->n_ff_shexp;
                SLM_CHECK(Fs > 0 && Fs <= (1 << 20), SLM_ERR_FORMAT, "%s: shared expert width %lld",
                          nm, (long long)Fs);
                SLM_TRY(bind_vec(m, NAME("blk.%u.ffn_gate_inp_shexp.weight", il), E, 1,
                                 &L->gate_inp_shexp));
                SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_gate_shexp.weight", il), E, Fs, 1,
                                 &L->gate_shexp));
                SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_up_shexp.weight", il), E, Fs, 1,
                                 &L->up_shexp));
                SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_down_shexp.weight", il), Fs, E, 1,
                                 &L->down_shexp));
            }
        } else if (a == SLM_ARCH_PHI3) {
            SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_up.weight", il), E, 2 * (int64_t)hp->n_ff, 1,
                             &L->ffn_up));
            SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_down.weight", il), hp->n_ff, E, 1, &L->ffn_down));
        } else {
            SLM_CHECK(hp->n_ff > 0, SLM_ERR_FORMAT, "%s.feed_forward_length is 0", m->arch_name);
            SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_gate.weight", il), E, hp->n_ff, 1, &L->ffn_gate));
            SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_up.weight", il), E, hp->n_ff, 1, &L->ffn_up));
            SLM_TRY(bind_mat(m, NAME("blk.%u.ffn_down.weight", il), hp->n_ff, E, 1, &L->ffn_down));
        }
        L->swa = hp->n_swa > 0 && hp->swa_pattern > 0 &&
                 (il % hp->swa_pattern) < hp->swa_pattern - 1;
        L->rope_base = L->swa ? hp->rope_base_swa : hp->rope_base;
    }
    return SLM_OK;
fail:
    return st;
}

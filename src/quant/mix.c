/* mix.c — llama-quantize's per-tensor type rules (llama.cpp v0.5.0,
 * src/llama-quant.cpp: tensor_allows_quantization, llama_tensor_get_type_impl,
 * tensor_type_fallback), restricted to the file types whose tensor types slm
 * implements. Learnt from that source and rewritten; the IQ1/IQ2/IQ3 and
 * MXFP4 branches are left out because slm has none of those types.
 *
 * llama.cpp counts attn_v and ffn_down tensors in (layer, name) order to get
 * the layer index; for ordinary models (one of each per layer) that is the
 * layer number in the name, which is what we use.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "quant/mix.h"
#include "quant/types.h"

/* llama_ftype values (llama.h). */
enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
    FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_Q2_K_S = 21, FT_IQ4_NL = 25, FT_IQ4_XS = 30,
    FT_BF16 = 32,
};

static const slm_mix mixes[] = {
    {"F32", FT_F32, SLM_TYPE_F32},          {"F16", FT_F16, SLM_TYPE_F16},
    {"BF16", FT_BF16, SLM_TYPE_BF16},       {"Q4_0", FT_Q4_0, SLM_TYPE_Q4_0},
    {"Q4_1", FT_Q4_1, SLM_TYPE_Q4_1},       {"Q5_0", FT_Q5_0, SLM_TYPE_Q5_0},
    {"Q5_1", FT_Q5_1, SLM_TYPE_Q5_1},       {"Q8_0", FT_Q8_0, SLM_TYPE_Q8_0},
    {"Q2_K", FT_Q2_K, SLM_TYPE_Q2_K},       {"Q2_K_S", FT_Q2_K_S, SLM_TYPE_Q2_K},
    {"Q3_K_S", FT_Q3_K_S, SLM_TYPE_Q3_K},   {"Q3_K_M", FT_Q3_K_M, SLM_TYPE_Q3_K},
    {"Q3_K_L", FT_Q3_K_L, SLM_TYPE_Q3_K},   {"Q4_K_S", FT_Q4_K_S, SLM_TYPE_Q4_K},
    {"Q4_K_M", FT_Q4_K_M, SLM_TYPE_Q4_K},   {"Q5_K_S", FT_Q5_K_S, SLM_TYPE_Q5_K},
    {"Q5_K_M", FT_Q5_K_M, SLM_TYPE_Q5_K},   {"Q6_K", FT_Q6_K, SLM_TYPE_Q6_K},
    {"IQ4_NL", FT_IQ4_NL, SLM_TYPE_IQ4_NL}, {"IQ4_XS", FT_IQ4_XS, SLM_TYPE_IQ4_XS},
};
#define N_MIXES ((int)(sizeof mixes / sizeof mixes[0]))

static int str_ieq(const char *a, const char *b)
{
    while (*a && *b && toupper((unsigned char)*a) == toupper((unsigned char)*b)) a++, b++;
    return *a == '\0' && *b == '\0';
}

const slm_mix *slm_mix_find(const char *name)
{
    static const char *const alias[][2] = {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}};
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (str_ieq(name, alias[i][0])) name = alias[i][1];
    for (int i = 0; i < N_MIXES; i++)
        if (str_ieq(name, mixes[i].name)) return &mixes[i];
    return NULL;
}

int slm_mix_count(void) { return N_MIXES; }
const slm_mix *slm_mix_at(int i) { return i >= 0 && i < N_MIXES ? &mixes[i] : NULL; }

int slm_mix_layer(const char *name)
{
    int layer = -1;
    if (strncmp(name, "blk.", 4) != 0 || !isdigit((unsigned char)name[4])) return -1;
    if (sscanf(name + 4, "%d", &layer) != 1) return -1;
    return layer;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int slm_mix_allows(const char *name, int n_dims)
{
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d", "shortconv.conv.weight", "attn_rel_b.weight",
        "altup", "laurel", "per_layer_model_proj", ".position_embd", ".patch_embd", ".rel_pos",
    };
    if (n_dims < 2 || !ends_with(name, "weight")) return 0;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(name, never[i])) return 0;
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight")) return 0;
    return 1;
}

typedef enum category {
    C_TOKEN_EMBD, C_OUTPUT, C_ATTN_Q, C_ATTN_K, C_ATTN_V, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_OUT,
    C_FFN_UP, C_FFN_GATE, C_FFN_DOWN, C_OTHER,
} category;

/* llama.cpp's tensor_get_category: substring tests in this order. */
static category category_of(const char *name)
{
    if (!strcmp(name, "output.weight")) return C_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight")) return C_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return C_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight")) return C_ATTN_KV_B;
    if (strstr(name, "attn_v.weight")) return C_ATTN_V;
    if (strstr(name, "attn_k.weight")) return C_ATTN_K;
    if (strstr(name, "attn_q.weight")) return C_ATTN_Q;
    if (strstr(name, "attn_output.weight")) return C_ATTN_OUT;
    if (strstr(name, "ffn_up")) return C_FFN_UP;
    if (strstr(name, "ffn_gate")) return C_FFN_GATE;
    if (strstr(name, "ffn_down")) return C_FFN_DOWN;
    return C_OTHER;
}

/* The first and last eighth of the layers and every third one in between. */
static int use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int64_t block_of(slm_type t)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    return tr ? tr->block_size : 1;
}

/* llama_tensor_get_type_impl for the file types in the table. */
static slm_type rules(const slm_mix *mix, const slm_mix_model *mm, const slm_mix_opts *o, category c,
                      const char *name, int64_t ne0)
{
    const uint32_t ft = mix->file_type;
    slm_type t = mix->base;
    const int gqa4 = mm->n_gqa >= 4, moe8 = mm->n_expert == 8;
    int layer = slm_mix_layer(name);
    if (layer < 0) layer = 0;

    if (c == C_OUTPUT || (mm->tied && c == C_TOKEN_EMBD)) {
        if (o->output_type != SLM_TYPE_COUNT) return o->output_type;
        if (mm->falcon || ne0 % block_of(t) != 0) return SLM_TYPE_Q8_0;
        return t != SLM_TYPE_Q8_0 ? SLM_TYPE_Q6_K : t;
    }
    switch (c) {
    case C_TOKEN_EMBD:
        if (o->embd_type != SLM_TYPE_COUNT) t = o->embd_type;
        return t;
    case C_ATTN_V:
    case C_ATTN_QKV:
    case C_ATTN_KV_B: {
        /* attn_qkv takes this branch too (llama.cpp's later attn_qkv branch is unreachable) */
        int n = mm->n_attn_v > 0 ? mm->n_attn_v : mm->n_layer;
        if (ft == FT_Q2_K) t = gqa4 ? SLM_TYPE_Q4_K : SLM_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S && gqa4) t = SLM_TYPE_Q4_K;
        else if (ft == FT_Q3_K_M) t = layer < 2 ? SLM_TYPE_Q5_K : SLM_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) t = SLM_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && gqa4) t = SLM_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(layer, n)) t = SLM_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && layer < 4) t = SLM_TYPE_Q5_K;
        if (moe8) t = SLM_TYPE_Q8_0;
        return t;
    }
    case C_ATTN_K:
        return moe8 ? SLM_TYPE_Q8_0 : t;
    case C_FFN_DOWN: {
        int n = mm->n_layer;
        if (ft == FT_Q2_K) t = SLM_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S) { if (layer < n / 8) t = SLM_TYPE_Q4_K; }
        else if (ft == FT_Q3_K_M)
            t = layer < n / 16 ? SLM_TYPE_Q5_K
                : !mm->falcon || use_more_bits(layer, n) ? SLM_TYPE_Q4_K : SLM_TYPE_Q3_K;
        else if (ft == FT_Q3_K_L) t = mm->falcon ? SLM_TYPE_Q4_K : SLM_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) {
            if (mm->falcon)
                t = layer < n / 16 ? SLM_TYPE_Q6_K : use_more_bits(layer, n) ? SLM_TYPE_Q5_K : SLM_TYPE_Q4_K;
            else if (use_more_bits(layer, n)) t = SLM_TYPE_Q6_K;
        } else if (layer < n / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS) && !mm->has_imatrix)
            t = SLM_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(layer, n)) t = SLM_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && !mm->falcon && layer < n / 8) t = SLM_TYPE_Q5_K;
        else if ((ft == FT_Q4_0 || ft == FT_Q5_0) && mm->has_imatrix && layer < n / 8)
            t = ft == FT_Q4_0 ? SLM_TYPE_Q4_1 : SLM_TYPE_Q5_1;
        return t;
    }
    case C_ATTN_OUT:
        if (!mm->falcon) {
            if (moe8) {
                if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL || ft == FT_Q4_K_S ||
                    ft == FT_Q4_K_M || ft == FT_IQ4_XS)
                    t = SLM_TYPE_Q5_K;
            } else if (ft == FT_Q2_K) t = SLM_TYPE_Q3_K;
            else if (ft == FT_Q3_K_M) t = SLM_TYPE_Q4_K;
            else if (ft == FT_Q3_K_L) t = SLM_TYPE_Q5_K;
        } else if (ft == FT_Q3_K_L) {
            t = SLM_TYPE_Q4_K;
        }
        return t;
    default:
        return t;
    }
}

/* tensor_type_fallback: a type whose block does not divide the row. */
static slm_type fallback(slm_type t, int64_t ne0, int *n_fallback)
{
    if (ne0 % block_of(t) == 0) return t;
    if (n_fallback) ++*n_fallback;
    switch (t) {
    case SLM_TYPE_IQ4_XS: t = SLM_TYPE_IQ4_NL; break;
    case SLM_TYPE_Q2_K:
    case SLM_TYPE_Q3_K: t = SLM_TYPE_Q4_0; break;
    case SLM_TYPE_Q4_K: t = SLM_TYPE_Q5_0; break;
    case SLM_TYPE_Q5_K: t = SLM_TYPE_Q5_1; break;
    case SLM_TYPE_Q6_K: t = SLM_TYPE_Q8_0; break;
    default: return SLM_TYPE_F16; /* llama.cpp refuses these (e.g. Q4_0 on rows of 172); we keep F16 */
    }
    return ne0 % block_of(t) == 0 ? t : SLM_TYPE_F16;
}

slm_type slm_mix_tensor_type(const slm_mix *mix, const slm_mix_model *mm, const slm_mix_opts *opts,
                             const char *name, int n_dims, slm_type cur, int64_t ne0, int *n_fallback)
{
    slm_mix_opts none = {0, SLM_TYPE_COUNT, SLM_TYPE_COUNT};
    const slm_mix_opts *o = opts ? opts : &none;
    if (!slm_mix_allows(name, n_dims)) return cur;
    category c = category_of(name);
    if (o->embd_type != SLM_TYPE_COUNT && c == C_TOKEN_EMBD) return o->embd_type;
    if (o->output_type != SLM_TYPE_COUNT && c == C_OUTPUT) return o->output_type;
    const slm_type_traits *tr = slm_type_traits_get(mix->base);
    if (!tr || !tr->is_quantized) return mix->base;
    slm_type t = o->pure ? mix->base : rules(mix, mm, o, c, name, ne0);
    return fallback(t, ne0, n_fallback);
}

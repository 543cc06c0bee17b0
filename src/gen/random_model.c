/* random_model.c — slm_gen_model: a GGUF with the shape of a real model and
 * random weights, for benchmarks and tests (the model part of slm.h).
 *
 * Owns: the named shapes, the tensor list per architecture (names and GGUF
 * dims as llama.cpp expects them), the choice of type per tensor (pure type,
 * or a llama.cpp-style mix such as Q4_K_M), a synthetic SentencePiece
 * vocabulary, and the generate → quantize → keep loop. Does not own the
 * file format (gguf/write.c) or the quantizers (quant/).
 *
 * Determinism: weight values depend only on (seed, tensor index, chunk of
 * rows), never on the thread count, so a seed always gives the same file.
 * Memory: the quantized tensors are kept until the writer writes them (it
 * borrows data), but F32 values exist only for one chunk of rows per thread.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "quant/mix.h"
#include "quant/types.h"
#include "sample/rng.h"
#include "slm.h"

#define WEIGHT_STD 0.02f
#define CHUNK_FLOATS 65536 /* F32 values generated per work item */

/* ---- shapes ---------------------------------------------------------------- */

typedef struct shape {
    const char *name;
    const char *arch;      /* general.architecture */
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    uint32_t head_dim;     /* 0 = n_embd / n_head */
    float eps, rope_base;
    int tied;              /* no output.weight: the head is token_embd */
    int qkv_bias;          /* attn_{q,k,v}.bias (qwen2) */
    int qk_norm;           /* attn_{q,k}_norm (qwen3) */
    int llama3_rope;       /* rope_freqs.weight with Llama-3 scaling */
    float attn_softcap, final_softcap; /* gemma2; 0 = none */
    uint32_t sliding_window;           /* gemma2; 0 = none */
} shape;

static const shape shapes[] = {
    {"SmolLM2-135M", "llama", 576, 30, 9, 3, 1536, 49152, 8192, 0, 1e-5f, 100000.0f, 1, 0, 0, 0, 0, 0, 0},
    {"Qwen2.5-0.5B", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 0, 1e-6f, 1000000.0f, 1, 1, 0, 0, 0, 0, 0},
    {"Llama-3.2-1B", "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 0, 1e-5f, 500000.0f, 1, 0, 0, 1, 0, 0, 0},
    {"Gemma-2-2B", "gemma2", 2304, 26, 8, 4, 9216, 256000, 8192, 256, 1e-6f, 10000.0f, 1, 0, 0, 0, 50.0f, 30.0f, 4096},
    {"Phi-3-mini", "phi3", 3072, 32, 32, 32, 8192, 32064, 4096, 0, 1e-5f, 10000.0f, 0, 0, 0, 0, 0, 0, 0},
    {"tiny", "llama", 256, 2, 4, 2, 512, 512, 256, 0, 1e-5f, 10000.0f, 0, 0, 0, 0, 0, 0, 0},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static int str_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return 0;
    }
    return *a == *b;
}

/* Architecture defaults for --arch with explicit dims. */
static slm_status custom_shape(const slm_gen_params *p, shape *s)
{
    slm_status st = SLM_OK;
    memset(s, 0, sizeof *s);
    s->name = "custom";
    s->n_embd = p->n_embd;
    s->n_layer = p->n_layer;
    s->n_head = p->n_head;
    s->n_head_kv = p->n_head_kv;
    s->n_ff = p->n_ff;
    s->n_vocab = p->n_vocab;
    s->n_ctx = 4096;
    s->eps = 1e-5f;
    s->rope_base = 10000.0f;
    if (strcmp(p->arch, "llama") == 0) {
        s->arch = "llama";
    } else if (strcmp(p->arch, "qwen2") == 0) {
        s->arch = "qwen2";
        s->tied = s->qkv_bias = 1;
        s->eps = 1e-6f;
        s->rope_base = 1000000.0f;
    } else if (strcmp(p->arch, "qwen3") == 0) {
        s->arch = "qwen3";
        s->tied = s->qk_norm = 1;
        s->eps = 1e-6f;
        s->rope_base = 1000000.0f;
    } else if (strcmp(p->arch, "gemma2") == 0) {
        s->arch = "gemma2";
        s->tied = 1;
        s->eps = 1e-6f;
        s->attn_softcap = 50.0f;
        s->final_softcap = 30.0f;
        s->sliding_window = 4096;
    } else if (strcmp(p->arch, "phi3") == 0) {
        s->arch = "phi3";
    } else {
        SLM_CHECK(0, SLM_ERR_ARG, "gen: architecture '%s' unknown (expected llama, qwen2, qwen3, gemma2 or phi3)",
                  p->arch);
    }
    SLM_CHECK(s->n_embd && s->n_layer && s->n_head && s->n_head_kv && s->n_ff && s->n_vocab, SLM_ERR_ARG,
              "gen: dims must all be > 0 (n_embd %u, n_layer %u, n_head %u, n_head_kv %u, n_ff %u, n_vocab %u)",
              s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff, s->n_vocab);
fail:
    return st;
}

/* ---- tensor types: pure, or a llama.cpp-style mix ------------------------------ */

typedef enum kind {
    K_TOKEN_EMBD, K_OUTPUT, K_ATTN_Q, K_ATTN_K, K_ATTN_V, K_ATTN_QKV, K_ATTN_OUT,
    K_FFN_GATE, K_FFN_UP, K_FFN_DOWN, K_NORM, K_BIAS, K_ROPE_FREQS,
} kind;

/* llama_ftype of a pure type (the nearest one for the k-quants). */
static uint32_t pure_file_type(slm_type t)
{
    switch (t) {
    case SLM_TYPE_F32: return 0;
    case SLM_TYPE_F16: return 1;
    case SLM_TYPE_Q4_0: return 2;
    case SLM_TYPE_Q4_1: return 3;
    case SLM_TYPE_Q8_0: return 7;
    case SLM_TYPE_Q5_0: return 8;
    case SLM_TYPE_Q5_1: return 9;
    case SLM_TYPE_Q2_K: return 10;
    case SLM_TYPE_Q3_K: return 11;
    case SLM_TYPE_Q4_K: return 14;
    case SLM_TYPE_Q5_K: return 16;
    case SLM_TYPE_Q6_K: return 18;
    case SLM_TYPE_IQ4_NL: return 25;
    case SLM_TYPE_IQ4_XS: return 30;
    case SLM_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* ---- the synthetic vocabulary ------------------------------------------------------
 * SentencePiece style (tokenizer.ggml.model "llama"): 0 <unk>, 1 <s>, 2 </s>,
 * 3..258 the byte tokens <0x00>..<0xFF>, then single characters in rough
 * English frequency order ("▁" is the space), then pieces made by joining
 * two earlier pieces (pairs enumerated by the sum of their indices), so
 * every piece can be reached by SentencePiece's pairwise merges. Earlier
 * pieces score higher. */

#define SPACE "\xE2\x96\x81" /* U+2581 */

typedef struct vocab {
    char **tok;     /* [n] NUL-terminated pieces (point into arena) */
    float *score;   /* [n] */
    int32_t *type;  /* [n] 1 normal, 2 unknown, 3 control, 6 byte */
    char *arena;
    size_t arena_used, arena_cap;
    uint32_t *hash; /* open addressing over token indices + 1; 0 = empty */
    size_t hash_cap;
    uint32_t n;
} vocab;

static uint64_t str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Look up s[0..n) in the set; returns 1 if present. */
static int vocab_has(const vocab *v, const char *s, size_t n)
{
    for (size_t i = str_hash(s, n) & (v->hash_cap - 1);; i = (i + 1) & (v->hash_cap - 1)) {
        uint32_t e = v->hash[i];
        if (e == 0) return 0;
        const char *t = v->tok[e - 1];
        if (strncmp(t, s, n) == 0 && t[n] == '\0') return 1;
    }
}

static slm_status vocab_add(vocab *v, const char *s, size_t n, float score, int32_t type)
{
    slm_status st = SLM_OK;
    /* The arena never moves (pieces point into it): it is sized up front. */
    SLM_CHECK(v->arena_used + n + 1 <= v->arena_cap, SLM_ERR_NOMEM,
              "gen: vocabulary arena of %zu bytes is full", v->arena_cap);
    char *dst = v->arena + v->arena_used;
    memcpy(dst, s, n);
    dst[n] = '\0';
    v->arena_used += n + 1;
    v->tok[v->n] = dst;
    v->score[v->n] = score;
    v->type[v->n] = type;
    size_t i = str_hash(s, n) & (v->hash_cap - 1);
    while (v->hash[i]) i = (i + 1) & (v->hash_cap - 1);
    v->hash[i] = v->n + 1;
    v->n++;
fail:
    return st;
}

static void vocab_free(vocab *v)
{
    slm_free(v->tok);
    slm_free(v->score);
    slm_free(v->type);
    slm_free(v->arena);
    slm_free(v->hash);
    memset(v, 0, sizeof *v);
}

static slm_status vocab_build(vocab *v, uint32_t n_vocab)
{
    static const char *const alphabet[] = {
        SPACE, "e", "t", "a", "o", "i", "n", "s", "h", "r", "d", "l", "c", "u", "m", "w", "f", "g",
        "y", "p", "b", ",", ".", "v", "k", "I", "T", "A", "S", "H", "W", "'", "\"", "x", "j", "q",
        "z", "!", "?", "-", "B", "C", "D", "E", "F", "G", "J", "K", "L", "M", "N", "O", "P", "Q",
        "R", "U", "V", "X", "Y", "Z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", ";",
        "(", ")", "/", "&", "%", "$", "#", "@", "*", "+", "=", "<", ">", "[", "]", "_", "{", "}",
        "|", "~", "^", "`", "\\",
    };
    const uint32_t n_alpha = (uint32_t)(sizeof alphabet / sizeof alphabet[0]);
    slm_status st = SLM_OK;
    char buf[64];
    memset(v, 0, sizeof *v);
    SLM_CHECK(n_vocab >= 259 + n_alpha, SLM_ERR_ARG,
              "gen: n_vocab %u is too small for the synthetic vocabulary (expected >= %u)", n_vocab,
              259 + n_alpha);
    /* Pieces are at most 2 x the longest earlier piece; 48 bytes average is ample. */
    v->arena_cap = (size_t)n_vocab * 48 + 4096;
    v->hash_cap = 1;
    while (v->hash_cap < (size_t)n_vocab * 2) v->hash_cap <<= 1;
    v->tok = slm_calloc(n_vocab, sizeof *v->tok);
    v->score = slm_calloc(n_vocab, sizeof *v->score);
    v->type = slm_calloc(n_vocab, sizeof *v->type);
    v->arena = slm_alloc(v->arena_cap);
    v->hash = slm_calloc(v->hash_cap, sizeof *v->hash);
    SLM_CHECK(v->tok && v->score && v->type && v->arena && v->hash, SLM_ERR_NOMEM,
              "gen: cannot allocate a vocabulary of %u tokens", n_vocab);

    SLM_TRY(vocab_add(v, "<unk>", 5, 0.0f, 2));
    SLM_TRY(vocab_add(v, "<s>", 3, 0.0f, 3));
    SLM_TRY(vocab_add(v, "</s>", 4, 0.0f, 3));
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        SLM_TRY(vocab_add(v, buf, strlen(buf), 0.0f, 6));
    }
    const uint32_t first = v->n;
    for (uint32_t i = 0; i < n_alpha; i++)
        SLM_TRY(vocab_add(v, alphabet[i], strlen(alphabet[i]), -(float)(v->n - first), 1));
    /* Join pairs (i, j) of earlier pieces by increasing i + j. */
    for (uint32_t sum = 0; v->n < n_vocab; sum++) {
        for (uint32_t i = 0; i <= sum && v->n < n_vocab; i++) {
            uint32_t j = sum - i;
            if (first + i >= v->n || first + j >= v->n) continue;
            const char *a = v->tok[first + i], *b = v->tok[first + j];
            size_t la = strlen(a), lb = strlen(b);
            if (la + lb >= sizeof buf) continue;
            memcpy(buf, a, la);
            memcpy(buf + la, b, lb);
            buf[la + lb] = '\0';
            /* a space only at the start, as SentencePiece pieces have it */
            if (strstr(buf + 1, SPACE) != NULL || vocab_has(v, buf, la + lb)) continue;
            SLM_TRY(vocab_add(v, buf, la + lb, -(float)(v->n - first), 1));
        }
    }
    return SLM_OK;
fail:
    vocab_free(v);
    return st;
}

/* ---- weight generation -------------------------------------------------------- */

static uint64_t mix64(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct fill_job {
    slm_type type;
    int64_t n_per_row, n_rows, rows_per_chunk;
    size_t row_bytes;
    uint64_t seed;   /* of this tensor */
    float std;
    void *dst;       /* n_rows x row_bytes */
    float **scratch; /* [nth] rows_per_chunk x n_per_row floats each */
} fill_job;

/* Normal values by Marsaglia's polar method: one log and one sqrt per pair
 * (no sin/cos), about a fifth of the candidate pairs rejected. */
static void fill_normal(slm_rng *r, float *x, int64_t n, float std)
{
    int64_t i = 0;
    while (i < n) {
        double u = 2.0 * slm_rng_uniform(r) - 1.0, v = 2.0 * slm_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s >= 1.0 || s == 0.0) continue;
        double f = sqrt(-2.0 * log(s) / s) * std;
        x[i++] = (float)(u * f);
        if (i < n) x[i++] = (float)(v * f);
    }
}

static void fill_worker(void *ctx, int ith, int nth)
{
    fill_job *j = ctx;
    const slm_type_traits *tr = slm_type_traits_get(j->type);
    float *x = j->scratch[ith];
    int64_t n_chunks = (j->n_rows + j->rows_per_chunk - 1) / j->rows_per_chunk;
    for (int64_t c = ith; c < n_chunks; c += nth) {
        int64_t r0 = c * j->rows_per_chunk;
        int64_t nr = j->n_rows - r0 < j->rows_per_chunk ? j->n_rows - r0 : j->rows_per_chunk;
        slm_rng rng;
        slm_rng_seed(&rng, mix64(j->seed, (uint64_t)c));
        fill_normal(&rng, x, nr * j->n_per_row, j->std);
        char *dst = (char *)j->dst + (size_t)r0 * j->row_bytes;
        for (int64_t r = 0; r < nr; r++)
            tr->from_float_ref(x + r * j->n_per_row, dst + (size_t)r * j->row_bytes, j->n_per_row);
    }
}

/* ---- the model ------------------------------------------------------------------ */

typedef struct gen_ctx {
    const slm_gen_params *p;
    shape s;
    const slm_mix *mix; /* NULL: the pure type p->type */
    slm_mix pure;       /* that pure type as a mix (pure rules) */
    slm_mix_model mm;
    slm_gguf_writer *w;
    slm_pool *pool;
    float **scratch; /* [nth] */
    int nth;
    void **bufs;     /* tensor data kept until the write */
    int n_bufs, cap_bufs;
    int n_tensors, i_tensor;
    uint64_t total_bytes;
} gen_ctx;

/* The type of a tensor: quant/mix.c decides, as llama-quantize would for
 * this mix (or for a pure type with --pure). */
static slm_type tensor_type(const gen_ctx *g, const char *name, kind k, int64_t n_per_row)
{
    if (k == K_NORM || k == K_BIAS || k == K_ROPE_FREQS) return SLM_TYPE_F32;
    slm_mix_opts o = {g->mix == NULL, SLM_TYPE_COUNT, SLM_TYPE_COUNT};
    return slm_mix_tensor_type(g->mix ? g->mix : &g->pure, &g->mm, &o, name, 2, SLM_TYPE_F32, n_per_row, NULL);
}

static slm_status keep_buf(gen_ctx *g, void *buf)
{
    slm_status st = SLM_OK;
    if (g->n_bufs == g->cap_bufs) {
        int cap = g->cap_bufs ? 2 * g->cap_bufs : 64;
        void **nb = slm_realloc(g->bufs, (size_t)cap * sizeof *nb);
        SLM_CHECK(nb != NULL, SLM_ERR_NOMEM, "gen: cannot grow the tensor list to %d", cap);
        g->bufs = nb;
        g->cap_bufs = cap;
    }
    g->bufs[g->n_bufs++] = buf;
fail:
    return st;
}

/* Add one tensor. values: NULL = random normal (std), else F32 values to
 * store as they are (norms, rope factors). */
static slm_status add_tensor(gen_ctx *g, const char *name, kind k, int layer, int64_t ne0, int64_t ne1,
                             const float *values)
{
    slm_status st = SLM_OK;
    void *data = NULL;
    int64_t ne[2] = {ne0, ne1};
    int n_dims = ne1 > 1 || k == K_TOKEN_EMBD || k == K_OUTPUT ? 2 : 1;
    slm_type t = tensor_type(g, name, k, ne0);
    (void)layer; /* the type comes from the name (quant/mix.c) */
    const slm_type_traits *tr = slm_type_traits_get(t);
    SLM_CHECK(tr && tr->from_float_ref, SLM_ERR_UNSUPPORTED, "gen: tensor '%s': type %s cannot be quantized",
              name, slm_type_name(t) ? slm_type_name(t) : "?");
    size_t row = slm_type_row_size(t, ne0), bytes;
    SLM_CHECK(row != 0 && slm_size_mul(row, (size_t)ne1, &bytes), SLM_ERR_ARG,
              "gen: tensor '%s': %lld x %lld of %s does not fit", name, (long long)ne0, (long long)ne1,
              slm_type_name(t));
    data = slm_alloc(bytes);
    SLM_CHECK(data != NULL, SLM_ERR_NOMEM, "gen: tensor '%s': cannot allocate %zu bytes", name, bytes);
    if (values) {
        tr->from_float_ref(values, data, ne0 * ne1);
    } else {
        fill_job j;
        j.type = t;
        j.n_per_row = ne0;
        j.n_rows = ne1;
        j.rows_per_chunk = ne0 >= CHUNK_FLOATS ? 1 : CHUNK_FLOATS / ne0;
        j.row_bytes = row;
        j.seed = mix64(g->p->seed, (uint64_t)g->i_tensor + 1);
        j.std = WEIGHT_STD;
        j.dst = data;
        j.scratch = g->scratch;
        slm_pool_run(g->pool, fill_worker, &j);
    }
    SLM_TRY(keep_buf(g, data));
    data = NULL;
    SLM_TRY(slm_gguf_add_tensor(g->w, name, t, n_dims, ne, g->bufs[g->n_bufs - 1], bytes));
    g->i_tensor++;
    g->total_bytes += bytes;
    slm_log(2, "gen: [%4d/%4d] %-32s %-7s %6lld x %-6lld %9.2f MiB", g->i_tensor, g->n_tensors, name,
            slm_type_name(t), (long long)ne0, (long long)ne1, (double)bytes / (1024.0 * 1024.0));
    return SLM_OK;
fail:
    slm_free(data);
    return st;
}

static slm_status add_norm(gen_ctx *g, const char *name, int64_t n, const float *ones)
{
    return add_tensor(g, name, K_NORM, 0, n, 1, ones);
}

/* Llama-3 RoPE frequency factors (factor 32, low 1, high 4, original context
 * 8192), one per rotated pair, as Meta's reference computes them. */
static void llama3_rope_factors(float *out, uint32_t head_dim, float base)
{
    const double factor = 32.0, low = 1.0, high = 4.0, orig = 8192.0;
    const double low_wavelen = orig / low, high_wavelen = orig / high;
    for (uint32_t i = 0; i < head_dim / 2; i++) {
        double freq = 1.0 / pow(base, (2.0 * i) / head_dim);
        double wavelen = 6.283185307179586 / freq;
        double f;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen > low_wavelen) {
            f = factor;
        } else {
            double smooth = (orig / wavelen - low) / (high - low);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
}

static slm_status set_meta(gen_ctx *g, const vocab *v)
{
    slm_status st = SLM_OK;
    const shape *s = &g->s;
    char key[128], name[128];
    const char *a = s->arch;
    uint32_t hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head;
    uint32_t n_ctx = g->p->n_ctx ? g->p->n_ctx : s->n_ctx;
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
    SLM_TRY(slm_gguf_set_str(g->w, "general.architecture", a));
    snprintf(name, sizeof name, "random-%s", s->name);
    /* llama.cpp expects an <|endoftext|> token when a phi3 model's name says
     * "phi3"/"phi-3", which this vocabulary does not have. */
    if (strcmp(a, "phi3") == 0) snprintf(name, sizeof name, "random-phi-mini");
    SLM_TRY(slm_gguf_set_str(g->w, "general.name", name));
    SLM_TRY(slm_gguf_set_u32(g->w, "general.file_type",
                             g->mix ? g->mix->file_type : g->pure.file_type));
    SLM_TRY(slm_gguf_set_u32(g->w, "general.quantization_version", 2));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("context_length"), n_ctx));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("embedding_length"), s->n_embd));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("block_count"), s->n_layer));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("feed_forward_length"), s->n_ff));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("attention.head_count"), s->n_head));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("attention.head_count_kv"), s->n_head_kv));
    SLM_TRY(slm_gguf_set_f32(g->w, KEY("attention.layer_norm_rms_epsilon"), s->eps));
    SLM_TRY(slm_gguf_set_f32(g->w, KEY("rope.freq_base"), s->rope_base));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("rope.dimension_count"), hd));
    SLM_TRY(slm_gguf_set_u32(g->w, KEY("vocab_size"), s->n_vocab));
    if (hd * s->n_head != s->n_embd) {
        SLM_TRY(slm_gguf_set_u32(g->w, KEY("attention.key_length"), hd));
        SLM_TRY(slm_gguf_set_u32(g->w, KEY("attention.value_length"), hd));
    }
    if (s->attn_softcap > 0) SLM_TRY(slm_gguf_set_f32(g->w, KEY("attn_logit_softcapping"), s->attn_softcap));
    if (s->final_softcap > 0) SLM_TRY(slm_gguf_set_f32(g->w, KEY("final_logit_softcapping"), s->final_softcap));
    if (s->sliding_window) SLM_TRY(slm_gguf_set_u32(g->w, KEY("attention.sliding_window"), s->sliding_window));
#undef KEY
    SLM_TRY(slm_gguf_set_str(g->w, "tokenizer.ggml.model", "llama"));
    SLM_TRY(slm_gguf_set_str(g->w, "tokenizer.ggml.pre", "default"));
    SLM_TRY(slm_gguf_set_arr_str(g->w, "tokenizer.ggml.tokens", (const char *const *)v->tok, v->n));
    SLM_TRY(slm_gguf_set_arr_f32(g->w, "tokenizer.ggml.scores", v->score, v->n));
    SLM_TRY(slm_gguf_set_arr_i32(g->w, "tokenizer.ggml.token_type", v->type, v->n));
    SLM_TRY(slm_gguf_set_u32(g->w, "tokenizer.ggml.bos_token_id", 1));
    SLM_TRY(slm_gguf_set_u32(g->w, "tokenizer.ggml.eos_token_id", 2));
    SLM_TRY(slm_gguf_set_u32(g->w, "tokenizer.ggml.unknown_token_id", 0));
    SLM_TRY(slm_gguf_set_bool(g->w, "tokenizer.ggml.add_bos_token", 1));
    SLM_TRY(slm_gguf_set_bool(g->w, "tokenizer.ggml.add_eos_token", 0));
fail:
    return st;
}

static slm_status add_tensors(gen_ctx *g, const float *ones)
{
    slm_status st = SLM_OK;
    const shape *s = &g->s;
    const int64_t E = s->n_embd, F = s->n_ff, V = s->n_vocab;
    const int64_t hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head;
    const int64_t Q = hd * s->n_head, KV = hd * s->n_head_kv;
    const int phi3 = strcmp(s->arch, "phi3") == 0, gemma2 = strcmp(s->arch, "gemma2") == 0;
    char nm[96];
    float rope[512];

    SLM_TRY(add_tensor(g, "token_embd.weight", K_TOKEN_EMBD, 0, E, V, NULL));
    if (s->llama3_rope) {
        SLM_CHECK(hd / 2 <= 512, SLM_ERR_ARG, "gen: head dim %lld too large for rope_freqs", (long long)hd);
        llama3_rope_factors(rope, (uint32_t)hd, s->rope_base);
        SLM_TRY(add_tensor(g, "rope_freqs.weight", K_ROPE_FREQS, 0, hd / 2, 1, rope));
    }
#define NAME(fmt) (snprintf(nm, sizeof nm, "blk.%d." fmt, l), nm)
    for (int l = 0; l < (int)s->n_layer; l++) {
        SLM_TRY(add_norm(g, NAME("attn_norm.weight"), E, ones));
        if (phi3) {
            SLM_TRY(add_tensor(g, NAME("attn_qkv.weight"), K_ATTN_QKV, l, E, Q + 2 * KV, NULL));
        } else {
            SLM_TRY(add_tensor(g, NAME("attn_q.weight"), K_ATTN_Q, l, E, Q, NULL));
            SLM_TRY(add_tensor(g, NAME("attn_k.weight"), K_ATTN_K, l, E, KV, NULL));
            SLM_TRY(add_tensor(g, NAME("attn_v.weight"), K_ATTN_V, l, E, KV, NULL));
        }
        if (s->qkv_bias) {
            SLM_TRY(add_tensor(g, NAME("attn_q.bias"), K_BIAS, l, Q, 1, NULL));
            SLM_TRY(add_tensor(g, NAME("attn_k.bias"), K_BIAS, l, KV, 1, NULL));
            SLM_TRY(add_tensor(g, NAME("attn_v.bias"), K_BIAS, l, KV, 1, NULL));
        }
        if (s->qk_norm) {
            SLM_TRY(add_norm(g, NAME("attn_q_norm.weight"), hd, ones));
            SLM_TRY(add_norm(g, NAME("attn_k_norm.weight"), hd, ones));
        }
        SLM_TRY(add_tensor(g, NAME("attn_output.weight"), K_ATTN_OUT, l, Q, E, NULL));
        if (gemma2) SLM_TRY(add_norm(g, NAME("post_attention_norm.weight"), E, ones));
        SLM_TRY(add_norm(g, NAME("ffn_norm.weight"), E, ones));
        if (phi3) {
            SLM_TRY(add_tensor(g, NAME("ffn_up.weight"), K_FFN_UP, l, E, 2 * F, NULL));
        } else {
            SLM_TRY(add_tensor(g, NAME("ffn_gate.weight"), K_FFN_GATE, l, E, F, NULL));
            SLM_TRY(add_tensor(g, NAME("ffn_up.weight"), K_FFN_UP, l, E, F, NULL));
        }
        SLM_TRY(add_tensor(g, NAME("ffn_down.weight"), K_FFN_DOWN, l, F, E, NULL));
        if (gemma2) SLM_TRY(add_norm(g, NAME("post_ffw_norm.weight"), E, ones));
    }
#undef NAME
    SLM_TRY(add_norm(g, "output_norm.weight", E, ones));
    if (!s->tied) SLM_TRY(add_tensor(g, "output.weight", K_OUTPUT, 0, E, V, NULL));
fail:
    return st;
}

static int count_tensors(const shape *s)
{
    int phi3 = strcmp(s->arch, "phi3") == 0, gemma2 = strcmp(s->arch, "gemma2") == 0;
    int per = 1 + (phi3 ? 1 : 3) + (s->qkv_bias ? 3 : 0) + (s->qk_norm ? 2 : 0) + 1 + 1 + (phi3 ? 1 : 2) + 1 +
              (gemma2 ? 2 : 0);
    return 1 + (s->llama3_rope ? 1 : 0) + per * (int)s->n_layer + 1 + (s->tied ? 0 : 1);
}

slm_gen_params slm_gen_default_params(void)
{
    slm_gen_params p;
    memset(&p, 0, sizeof p);
    p.type = SLM_TYPE_F16;
    p.seed = 1;
    return p;
}

slm_status slm_gen_model(const slm_gen_params *p, const char *out_path)
{
    slm_status st = SLM_OK;
    gen_ctx g;
    vocab v;
    float *ones = NULL;
    memset(&g, 0, sizeof g);
    memset(&v, 0, sizeof v);
    slm_error_clear();
    SLM_CHECK(p != NULL && out_path != NULL, SLM_ERR_ARG, "slm_gen_model: params or path is NULL");
    g.p = p;

    if (p->shape) {
        size_t i;
        for (i = 0; i < N_SHAPES; i++)
            if (str_ieq(p->shape, shapes[i].name)) break;
        SLM_CHECK(i < N_SHAPES, SLM_ERR_ARG,
                  "gen: shape '%s' unknown (expected SmolLM2-135M, Qwen2.5-0.5B, Llama-3.2-1B, Gemma-2-2B, "
                  "Phi-3-mini or tiny)", p->shape);
        g.s = shapes[i];
    } else {
        SLM_CHECK(p->arch != NULL, SLM_ERR_ARG, "gen: give a shape name or an architecture with dims");
        SLM_TRY(custom_shape(p, &g.s));
    }
    const shape *s = &g.s;
    uint32_t hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head;
    SLM_CHECK(s->n_head % s->n_head_kv == 0 && hd > 0 && hd % 2 == 0 &&
              (s->head_dim || s->n_embd % s->n_head == 0), SLM_ERR_ARG,
              "gen: heads do not fit: n_embd %u, n_head %u, n_head_kv %u (expected n_head a multiple of "
              "n_head_kv and an even head size dividing n_embd)", s->n_embd, s->n_head, s->n_head_kv);

    if (p->mix) {
        g.mix = slm_mix_find(p->mix);
        SLM_CHECK(g.mix != NULL, SLM_ERR_ARG,
                  "gen: type '%s' unknown (expected a type such as Q4_0 or a llama-quantize mix: Q2_K, Q3_K_S, "
                  "Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ4_XS...)", p->mix);
    } else {
        const slm_type_traits *tr = slm_type_traits_get(p->type);
        SLM_CHECK(tr && tr->from_float_ref && p->type != SLM_TYPE_Q8_1 && p->type != SLM_TYPE_Q8_K,
                  SLM_ERR_ARG, "gen: weight type %s (%d) cannot be generated",
                  slm_type_name(p->type) ? slm_type_name(p->type) : "?", (int)p->type);
        g.pure = (slm_mix){slm_type_name(p->type), pure_file_type(p->type), p->type};
    }
    g.mm.n_layer = (int)s->n_layer;
    g.mm.n_attn_v = (int)s->n_layer;
    g.mm.n_gqa = (int)(s->n_head / s->n_head_kv);
    g.mm.tied = s->tied;

    SLM_TRY(vocab_build(&v, s->n_vocab));
    int64_t n_ones = s->n_embd > hd ? s->n_embd : hd;
    ones = slm_alloc((size_t)n_ones * sizeof *ones);
    SLM_CHECK(ones != NULL, SLM_ERR_NOMEM, "gen: cannot allocate %lld floats", (long long)n_ones);
    for (int64_t i = 0; i < n_ones; i++) ones[i] = 1.0f;

    SLM_TRY(slm_pool_new(p->n_threads, &g.pool));
    g.nth = slm_pool_n_threads(g.pool);
    g.scratch = slm_calloc((size_t)g.nth, sizeof *g.scratch);
    SLM_CHECK(g.scratch != NULL, SLM_ERR_NOMEM, "gen: cannot allocate thread scratch");
    /* one chunk: rows_per_chunk x n_per_row <= max(CHUNK_FLOATS, longest row) */
    int64_t longest = s->n_ff > s->n_embd ? s->n_ff : s->n_embd;
    if ((int64_t)hd * s->n_head > longest) longest = (int64_t)hd * s->n_head;
    size_t scratch_floats = (size_t)(longest > CHUNK_FLOATS ? longest : CHUNK_FLOATS);
    for (int t = 0; t < g.nth; t++) {
        g.scratch[t] = slm_alloc(scratch_floats * sizeof(float));
        SLM_CHECK(g.scratch[t] != NULL, SLM_ERR_NOMEM, "gen: cannot allocate thread scratch");
    }

    SLM_TRY(slm_gguf_writer_new(&g.w));
    SLM_TRY(set_meta(&g, &v));
    g.n_tensors = count_tensors(s);
    slm_log(2, "gen: %s (%s), %u layers, n_embd %u, vocab %u, %s, seed %llu, %d threads", s->name, s->arch,
            s->n_layer, s->n_embd, s->n_vocab, g.mix ? g.mix->name : slm_type_name(p->type),
            (unsigned long long)p->seed, g.nth);
    SLM_TRY(add_tensors(&g, ones));
    slm_log(2, "gen: writing %s (%.1f MiB of tensors)", out_path, (double)g.total_bytes / (1024.0 * 1024.0));
    st = slm_gguf_writer_write(g.w, out_path);
    if (st != SLM_OK) goto fail;

fail:
    slm_gguf_writer_free(g.w);
    for (int i = 0; i < g.n_bufs; i++) slm_free(g.bufs[i]);
    slm_free(g.bufs);
    if (g.scratch)
        for (int t = 0; t < g.nth; t++) slm_free(g.scratch[t]);
    slm_free(g.scratch);
    slm_pool_free(g.pool);
    slm_free(ones);
    vocab_free(&v);
    return st;
}

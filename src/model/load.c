/* load.c — slm_model_load and the model's public accessors: opens the GGUF
 * (the reader validates the container), loads the vocabulary, reads the
 * architecture's hyperparameters and binds its tensors (arch.c), then
 * answers metadata, tokenizer and description queries. Weights stay in the
 * mapping; nothing is converted at load time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "base/alloc.h"
#include "base/status.h"
#include "model/model.h"
#include "quant/types.h"

slm_model_params slm_model_default_params(void)
{
    slm_model_params p;
    memset(&p, 0, sizeof p);
    p.use_mmap = 1;
    return p;
}

/* Copies of every string-valued key, indexed like the GGUF's keys, so
 * slm_model_meta_str can hand out NUL-terminated strings from a const model. */
static slm_status copy_meta_strings(slm_model *m, char ***out)
{
    int64_t n = slm_gguf_n_kv(m->gguf);
    char **s = slm_calloc(n > 0 ? (size_t)n : 1, sizeof *s);
    if (!s) return slm_fail(SLM_ERR_NOMEM, "out of memory copying metadata");
    for (int64_t i = 0; i < n; i++) {
        if (slm_gguf_kv_type(m->gguf, i) != SLM_GGUF_STRING) continue;
        const char *p;
        size_t len;
        if (slm_gguf_get_str(m->gguf, slm_gguf_key(m->gguf, i), &p, &len) != SLM_OK) continue;
        s[i] = slm_alloc(len + 1);
        if (!s[i]) {
            for (int64_t j = 0; j < i; j++) slm_free(s[j]);
            slm_free(s);
            return slm_fail(SLM_ERR_NOMEM, "out of memory copying metadata");
        }
        memcpy(s[i], p, len);
        s[i][len] = '\0';
    }
    *out = s;
    return SLM_OK;
}

static void count_tensors(slm_model *m)
{
    int64_t n = slm_gguf_n_tensors(m->gguf);
    m->n_params = 0;
    m->size_bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(m->gguf, i);
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        m->size_bytes += t->nbytes;
    }
}

slm_status slm_model_load(const char *path, const slm_model_params *p, slm_model **out)
{
    slm_status st = SLM_OK;
    slm_model *m = NULL;
    slm_error_clear();
    if (out) *out = NULL;
    if (!path || !out) return slm_fail(SLM_ERR_ARG, "slm_model_load: path and out must not be NULL");
    slm_model_params dp = slm_model_default_params();
    if (!p) p = &dp;

    m = slm_calloc(1, sizeof *m);
    SLM_CHECK(m, SLM_ERR_NOMEM, "out of memory");
    m->path = slm_strdup(path);
    SLM_CHECK(m->path, SLM_ERR_NOMEM, "out of memory");
    m->vocab_only = p->vocab_only != 0;
    SLM_TRY(slm_gguf_open(path, p->use_mmap, &m->gguf));
    SLM_TRY(copy_meta_strings(m, &m->meta));

    int64_t ai = slm_gguf_find_key(m->gguf, "general.architecture");
    if (ai >= 0 && m->meta[ai]) {
        m->arch_name = slm_strdup(m->meta[ai]);
    } else {
        SLM_CHECK(m->vocab_only, SLM_ERR_FORMAT,
                  "key 'general.architecture' is missing or not a string");
        m->arch_name = slm_strdup("");
    }
    SLM_CHECK(m->arch_name, SLM_ERR_NOMEM, "out of memory");

    if (slm_gguf_find_key(m->gguf, "tokenizer.ggml.tokens") >= 0 || m->vocab_only) {
        SLM_TRY(slm_vocab_load(m->gguf, &m->vocab));
    } else {
        slm_log(1, "%s: no tokenizer in the file; tokenize/detokenize are unavailable", path);
    }
    count_tensors(m);
    if (m->vocab_only) {
        /* hyperparameters are informative only here: read what is there */
        if (slm_arch_from_name(m->arch_name, &m->hp.arch) == SLM_OK) {
            if (slm_arch_read_hparams(m) != SLM_OK) memset(&m->hp, 0, sizeof m->hp);
        }
        slm_error_clear();
        m->hp.n_vocab = m->vocab ? (uint32_t)slm_vocab_n_tokens(m->vocab) : 0;
        m->n_params = 0;
        *out = m;
        return SLM_OK;
    }

    SLM_TRY(slm_arch_from_name(m->arch_name, &m->hp.arch));
    SLM_TRY(slm_arch_read_hparams(m));
    SLM_TRY(slm_arch_bind_tensors(m));
    if (m->vocab && slm_vocab_n_tokens(m->vocab) > (int32_t)m->hp.n_vocab)
        slm_log(1, "%s: vocabulary has %d tokens but token_embd has %u rows", path,
                slm_vocab_n_tokens(m->vocab), m->hp.n_vocab);
    SLM_CHECK(p->max_memory_bytes == 0 || m->size_bytes <= p->max_memory_bytes, SLM_ERR_NOMEM,
              "weights need %llu bytes, above the limit of %llu", (unsigned long long)m->size_bytes,
              (unsigned long long)p->max_memory_bytes);
    if (p->use_mlock) {
        size_t len = (size_t)slm_gguf_file_size(m->gguf);
        if (mlock(slm_gguf_base(m->gguf), len) != 0) {
            int err = errno;
            struct rlimit rl;
            char lim[48] = "unknown";
            if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
                if (rl.rlim_cur == RLIM_INFINITY) snprintf(lim, sizeof lim, "unlimited");
                else snprintf(lim, sizeof lim, "%llu bytes", (unsigned long long)rl.rlim_cur);
            }
            if (err == ENOMEM || err == EPERM)
                SLM_CHECK(0, SLM_ERR_NOMEM,
                          "cannot lock %zu bytes in RAM (mlock: %s); RLIMIT_MEMLOCK is %s "
                          "(raise it with ulimit -l, or run without --mlock)",
                          len, strerror(err), lim);
            SLM_CHECK(0, SLM_ERR_IO, "cannot lock %zu bytes in RAM (mlock: %s)", len, strerror(err));
        }
    }
    *out = m;
    return SLM_OK;
fail:
    slm_error_prefix(path);
    slm_model_free(m);
    return st;
}

void slm_model_free(slm_model *m)
{
    if (!m) return;
    if (m->meta) {
        int64_t n = m->gguf ? slm_gguf_n_kv(m->gguf) : 0;
        for (int64_t i = 0; i < n; i++) slm_free(m->meta[i]);
        slm_free(m->meta);
    }
    slm_vocab_free(m->vocab);
    /* a no-op unless slm_model_load locked the pages (use_mlock) */
    if (m->gguf) munlock(slm_gguf_base(m->gguf), (size_t)slm_gguf_file_size(m->gguf));
    slm_gguf_close(m->gguf);
    slm_free(m->layers);
    slm_free(m->arch_name);
    slm_free(m->path);
    slm_free(m);
}

int32_t slm_model_n_vocab(const slm_model *m) { return m ? (int32_t)m->hp.n_vocab : 0; }
int32_t slm_model_n_ctx_train(const slm_model *m) { return m ? (int32_t)m->hp.n_ctx_train : 0; }
int32_t slm_model_n_embd(const slm_model *m) { return m ? (int32_t)m->hp.n_embd : 0; }
int32_t slm_model_n_layer(const slm_model *m) { return m ? (int32_t)m->hp.n_layer : 0; }
uint64_t slm_model_n_params(const slm_model *m) { return m ? m->n_params : 0; }
uint64_t slm_model_size_bytes(const slm_model *m) { return m ? m->size_bytes : 0; }
const char *slm_model_arch(const slm_model *m) { return m && m->arch_name ? m->arch_name : ""; }

slm_status slm_model_meta_str(const slm_model *m, const char *key, const char **out)
{
    if (out) *out = NULL;
    if (!m || !key || !out) return slm_fail(SLM_ERR_ARG, "slm_model_meta_str: NULL argument");
    int64_t i = slm_gguf_find_key(m->gguf, key);
    if (i < 0) return slm_fail(SLM_ERR_ARG, "%s: key '%s' not found", m->path, key);
    if (!m->meta[i])
        return slm_fail(SLM_ERR_ARG, "%s: key '%s' has GGUF type %d, expected string", m->path, key,
                        (int)slm_gguf_kv_type(m->gguf, i));
    *out = m->meta[i];
    return SLM_OK;
}

slm_status slm_model_meta_int(const slm_model *m, const char *key, int64_t *out)
{
    if (out) *out = 0;
    if (!m || !key || !out) return slm_fail(SLM_ERR_ARG, "slm_model_meta_int: NULL argument");
    slm_status st = slm_gguf_get_i64(m->gguf, key, out);
    if (st == SLM_OK) return SLM_OK;
    *out = 0;
    return slm_fail(SLM_ERR_ARG, "%s: key '%s' is absent or not an integer", m->path, key);
}

/* ---- tokenizer ---- */

int32_t slm_token_bos(const slm_model *m) { return m && m->vocab ? slm_vocab_bos(m->vocab) : -1; }
int32_t slm_token_eos(const slm_model *m) { return m && m->vocab ? slm_vocab_eos(m->vocab) : -1; }
int slm_token_is_eog(const slm_model *m, int32_t tok)
{
    return m && m->vocab ? slm_vocab_is_eog(m->vocab, tok) : 0;
}

slm_status slm_tokenize(const slm_model *m, const char *text, size_t len, int add_special,
                        int parse_special, int32_t *ids, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!m || (!text && len) || (!ids && cap) || !n_out)
        return slm_fail(SLM_ERR_ARG, "slm_tokenize: NULL argument");
    if (!m->vocab)
        return slm_fail(SLM_ERR_UNSUPPORTED, "%s: the file has no tokenizer", m->path);
    return slm_vocab_tokenize(m->vocab, text ? text : "", len, add_special, parse_special, ids, cap,
                              n_out);
}

size_t slm_token_to_piece(const slm_model *m, int32_t tok, int render_special, char *buf, size_t cap)
{
    if (!m || !m->vocab || (!buf && cap)) return 0;
    return slm_vocab_token_to_piece(m->vocab, tok, render_special, buf, cap);
}

/* ---- describe ---- */

typedef struct sbuf {
    char *buf;
    size_t cap, len;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) SLM_PRINTF(2, 3);
static void put(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->buf + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
}

/* JSON string body with escapes (metadata strings come from the file). */
static void put_json_str(sbuf *b, const char *s)
{
    put(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') put(b, "\\%c", c);
        else if (c < 0x20) put(b, "\\u%04x", c);
        else put(b, "%c", c);
    }
    put(b, "\"");
}

size_t slm_model_describe(const slm_model *m, uint32_t n_ctx, int as_json, char *buf, size_t cap)
{
    sbuf b = {cap ? buf : NULL, cap, 0};
    if (cap) buf[0] = '\0';
    if (!m) return 0;
    const slm_hparams *hp = &m->hp;
    if (n_ctx == 0) n_ctx = hp->n_ctx_train ? hp->n_ctx_train : 4096;

    /* bytes and counts per tensor type */
    uint64_t type_bytes[SLM_TYPE_COUNT] = {0};
    uint32_t type_count[SLM_TYPE_COUNT] = {0};
    int64_t nt = slm_gguf_n_tensors(m->gguf);
    for (int64_t i = 0; i < nt; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(m->gguf, i);
        if ((int)t->type >= 0 && t->type < SLM_TYPE_COUNT) {
            type_bytes[t->type] += t->nbytes;
            type_count[t->type]++;
        }
    }
    const char *name = "";
    slm_model_meta_str(m, "general.name", &name);
    if (!name) name = "";
    slm_error_clear();
    const char *tok_model = m->vocab ? slm_vocab_model_name(m->vocab) : "";
    const char *tok_pre = m->vocab ? slm_vocab_pre_name(m->vocab) : "";
    const int32_t n_tok = m->vocab ? slm_vocab_n_tokens(m->vocab) : 0;
    uint64_t kv16 = 0, state16 = 0;
    const uint32_t n_batch = n_ctx < 512 ? n_ctx : 512; /* as slm_session_new caps it */
    if (!m->vocab_only) state16 = slm_state_bytes(m, n_ctx, n_batch, SLM_TYPE_F16, 1, &kv16);
    const uint64_t scratch = state16 - kv16, total = m->size_bytes + state16;

    if (as_json) {
        put(&b, "{\"architecture\":");
        put_json_str(&b, slm_model_arch(m));
        put(&b, ",\"name\":");
        put_json_str(&b, name);
        put(&b, ",\"n_params\":%llu,\"size_bytes\":%llu,\"vocab_only\":%s,\"tensor_types\":{",
            (unsigned long long)m->n_params, (unsigned long long)m->size_bytes,
            m->vocab_only ? "true" : "false");
        int first = 1;
        for (int t = 0; t < SLM_TYPE_COUNT; t++) {
            if (!type_count[t]) continue;
            const char *tn = slm_type_name((slm_type)t);
            put(&b, "%s\"%s\":{\"tensors\":%u,\"bytes\":%llu}", first ? "" : ",", tn ? tn : "?",
                type_count[t], (unsigned long long)type_bytes[t]);
            first = 0;
        }
        put(&b, "},\"hparams\":{\"n_vocab\":%u,\"n_ctx_train\":%u,\"n_embd\":%u,\"n_layer\":%u,"
                "\"n_ff\":%u,\"n_head\":%u,\"n_head_kv\":%u,\"head_dim_k\":%u,\"head_dim_v\":%u,"
                "\"n_rot\":%u,\"rope_neox\":%s,\"rope_freq_base\":%g,\"rope_freq_scale\":%g,"
                "\"rms_eps\":%g,\"n_expert\":%u,\"n_expert_used\":%u,\"sliding_window\":%u,"
                "\"attn_softcap\":%g,\"final_softcap\":%g,\"tied_output\":%s}",
            hp->n_vocab, hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head,
            hp->n_head_kv, hp->hd_k, hp->hd_v, hp->n_rot, hp->rope_neox ? "true" : "false",
            (double)hp->rope_base, (double)hp->rope_freq_scale, (double)hp->eps, hp->n_expert,
            hp->n_expert_used, hp->n_swa, (double)hp->attn_softcap, (double)hp->final_softcap,
            (!m->vocab_only && m->tok_embd && m->output.data == m->tok_embd->data) ? "true"
                                                                                   : "false");
        put(&b, ",\"tokenizer\":{\"model\":");
        put_json_str(&b, tok_model);
        put(&b, ",\"pre\":");
        put_json_str(&b, tok_pre);
        put(&b, ",\"n_tokens\":%d,\"bos\":%d,\"eos\":%d}", n_tok, slm_token_bos(m), slm_token_eos(m));
        put(&b, ",\"memory\":{\"n_ctx\":%u,\"n_batch\":%u,\"kv_type\":\"F16\",\"weights_bytes\":%llu,"
                "\"kv_bytes\":%llu,\"scratch_bytes\":%llu,\"total_bytes\":%llu}}",
            n_ctx, n_batch, (unsigned long long)m->size_bytes, (unsigned long long)kv16,
            (unsigned long long)scratch, (unsigned long long)total);
    } else {
        put(&b, "architecture   %s\n", slm_model_arch(m));
        if (*name) put(&b, "name           %s\n", name);
        put(&b, "parameters     %llu\n", (unsigned long long)m->n_params);
        put(&b, "tensor bytes   %llu\n", (unsigned long long)m->size_bytes);
        for (int t = 0; t < SLM_TYPE_COUNT; t++) {
            if (!type_count[t]) continue;
            const char *tn = slm_type_name((slm_type)t);
            put(&b, "  %-6s       %u tensors, %llu bytes\n", tn ? tn : "?", type_count[t],
                (unsigned long long)type_bytes[t]);
        }
        if (!m->vocab_only) {
            put(&b, "n_vocab %u, n_ctx_train %u, n_embd %u, n_layer %u, n_ff %u\n", hp->n_vocab,
                hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_ff);
            put(&b, "n_head %u, n_head_kv %u, head dim %u/%u, rope %s dims %u base %g scale %g, "
                    "rms eps %g\n",
                hp->n_head, hp->n_head_kv, hp->hd_k, hp->hd_v, hp->rope_neox ? "neox" : "normal",
                hp->n_rot, (double)hp->rope_base, (double)hp->rope_freq_scale, (double)hp->eps);
            if (hp->n_expert)
                put(&b, "experts %u, used %u, expert n_ff %u\n", hp->n_expert, hp->n_expert_used,
                    hp->n_ff_exp);
            if (hp->n_swa || hp->attn_softcap > 0 || hp->final_softcap > 0)
                put(&b, "sliding window %u, attention soft-cap %g, final soft-cap %g\n", hp->n_swa,
                    (double)hp->attn_softcap, (double)hp->final_softcap);
        }
        put(&b, "tokenizer      %s (pre %s), %d tokens\n", *tok_model ? tok_model : "none",
            *tok_pre ? tok_pre : "-", n_tok);
        if (!m->vocab_only)
            put(&b, "memory at n_ctx %u: weights %llu + KV (F16) %llu + scratch %llu = %llu bytes\n",
                n_ctx, (unsigned long long)m->size_bytes, (unsigned long long)kv16,
                (unsigned long long)scratch, (unsigned long long)total);
    }
    if (cap && b.len >= cap) buf[cap - 1] = '\0';
    return b.len;
}

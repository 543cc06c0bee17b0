/* chat_engine.c — one assistant turn of `slm chat` (see chat.h).
 *
 * Every turn renders the WHOLE conversation through the template, tokenizes
 * it, and compares it with the tokens already in the session: the KV cache is
 * truncated to the longest common prefix and only the rest is decoded, so a
 * turn costs its new tokens, not the history (the reply's own tokens are in
 * the cache already; only the template's wrapping around it and the new user
 * message are decoded). When the rendering does not fit, the oldest turns
 * after the system prompt are dropped, one user turn (with its replies and
 * tool results) at a time.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

/* ---- built-in templates (for models without tokenizer.chat_template) ---- */

static const char tmpl_chatml[] =
    "{%- for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + (m['content'] or '') + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}";

static const char tmpl_llama3[] =
    "{{ bos_token }}"
    "{%- for m in messages %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + (m['content'] or '') | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

static const char tmpl_gemma[] =
    "{{ bos_token }}"
    "{%- for m in messages %}"
    "{%- set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + (m['content'] or '') | trim + '<end_of_turn>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{%- endif %}";

const char *const chat_builtin_names = "chatml, llama3, gemma";

const char *chat_builtin_template(const char *name)
{
    if (!strcmp(name, "chatml")) return tmpl_chatml;
    if (!strcmp(name, "llama3")) return tmpl_llama3;
    if (!strcmp(name, "gemma")) return tmpl_gemma;
    return NULL;
}

/* ---- small helpers ------------------------------------------------------ */

static char *piece_of(const slm_model *m, int32_t tok, int render_special)
{
    char small[64];
    size_t n = slm_token_to_piece(m, tok, render_special, small, sizeof small);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n <= sizeof small) memcpy(s, small, n);
    else slm_token_to_piece(m, tok, render_special, s, n);
    s[n] = '\0';
    return s;
}

/* Tokenize text (BOS added as the vocabulary says, specials parsed), and
 * drop a doubled BOS when the template wrote one itself. */
static int tokenize(const slm_model *m, const char *text, size_t len, int32_t **out, size_t *n_out)
{
    size_t cap = len + 8, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    slm_status st = slm_tokenize(m, text, len, 1, 1, ids, cap, &n);
    if (st == SLM_ERR_FULL) {
        free(ids);
        cap = n;
        if (!(ids = malloc(cap * sizeof *ids))) return -1;
        st = slm_tokenize(m, text, len, 1, 1, ids, cap, &n);
    }
    if (st != SLM_OK) {
        free(ids);
        return -1;
    }
    int32_t bos = slm_token_bos(m);
    if (n >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos) {
        memmove(ids, ids + 1, (n - 1) * sizeof *ids);
        n--;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

/* The template context as JSON text (malloc'd), or NULL. */
static char *context_json(const chat *c, const cJSON *messages, int add_generation_prompt)
{
    cJSON *ctx = cJSON_CreateObject();
    if (!ctx) return NULL;
    cJSON_AddItemReferenceToObject(ctx, "messages", (cJSON *)messages);
    cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt);
    cJSON_AddStringToObject(ctx, "bos_token", c->bos ? c->bos : "");
    cJSON_AddStringToObject(ctx, "eos_token", c->eos ? c->eos : "");
    if (c->tools) cJSON_AddItemReferenceToObject(ctx, "tools", c->tools);
    else cJSON_AddNullToObject(ctx, "tools");
    cJSON_AddNullToObject(ctx, "documents");
    char *s = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);
    return s;
}

static slm_status render(const chat *c, const cJSON *messages, int gen, char **out, size_t *out_len)
{
    char *ctx = context_json(c, messages, gen);
    if (!ctx) return SLM_ERR_NOMEM;
    slm_status st = slm_chat_template_render(c->tmpl, c->tmpl_len, ctx, strlen(ctx), out, out_len);
    free(ctx);
    return st;
}

static int add_stop(chat *c, const char *s)
{
    for (size_t i = 0; i < c->n_stops; i++)
        if (!strcmp(c->stops[i], s)) return 0;
    char **ns = realloc(c->stops, (c->n_stops + 1) * sizeof *ns);
    if (!ns) return -1;
    c->stops = ns;
    if (!(c->stops[c->n_stops] = strdup(s))) return -1;
    c->n_stops++;
    return 0;
}

/* The template's end-of-turn text: render a two-message conversation whose
 * assistant reply ends in a marker, and take what follows the marker up to
 * the end (without its trailing whitespace, unless that is all there is). */
static void find_end_of_turn(chat *c)
{
    static const char marker[] = "Zq7xMarker";
    cJSON *msgs = cJSON_CreateArray();
    cJSON *u = cJSON_CreateObject(), *a = cJSON_CreateObject();
    if (!msgs || !u || !a) {
        cJSON_Delete(msgs);
        cJSON_Delete(u);
        cJSON_Delete(a);
        return;
    }
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", "Hi");
    cJSON_AddStringToObject(a, "role", "assistant");
    cJSON_AddStringToObject(a, "content", marker);
    cJSON_AddItemToArray(msgs, u);
    cJSON_AddItemToArray(msgs, a);
    char *out = NULL;
    size_t len = 0;
    if (render(c, msgs, 0, &out, &len) == SLM_OK) {
        const char *p = strstr(out, marker);
        if (p) {
            p += sizeof marker - 1;
            size_t n = len - (size_t)(p - out);
            size_t t = n;
            while (t > 0 && strchr(" \t\r\n", p[t - 1])) t--;
            if (t == 0) t = n;
            if (t > 0 && t < 64) {
                char buf[64];
                memcpy(buf, p, t);
                buf[t] = '\0';
                add_stop(c, buf);
            }
        }
    }
    slm_chat_free(out);
    cJSON_Delete(msgs);
}

int chat_init(chat *c, const char *cmd)
{
    int32_t bos = slm_token_bos(c->model), eos = slm_token_eos(c->model);
    c->bos = bos >= 0 ? piece_of(c->model, bos, 1) : strdup("");
    c->eos = eos >= 0 ? piece_of(c->model, eos, 1) : strdup("");
    if (!c->bos || !c->eos || !(c->messages = cJSON_CreateArray())) {
        fprintf(stderr, "slm %s: out of memory\n", cmd);
        return CLI_FAIL;
    }
    find_end_of_turn(c);
    return CLI_OK;
}

void chat_free(chat *c)
{
    free(c->tmpl);
    free(c->bos);
    free(c->eos);
    for (size_t i = 0; i < c->n_stops; i++) free(c->stops[i]);
    free(c->stops);
    cJSON_Delete(c->messages);
    cJSON_Delete(c->tools);
    free(c->tools_json);
    free(c->toks);
    free(c->reply);
    slm_tool_calls_free(c->calls);
}

int chat_add(chat *c, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", role) || !cJSON_AddStringToObject(m, "content", content)) {
        cJSON_Delete(m);
        return -1;
    }
    cJSON_AddItemToArray(c->messages, m);
    return 0;
}

static int is_role(const cJSON *m, const char *role)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
    return cJSON_IsString(r) && !strcmp(r->valuestring, role);
}

int chat_set_system(chat *c, const char *text)
{
    cJSON *first = cJSON_GetArrayItem(c->messages, 0);
    if (first && is_role(first, "system")) cJSON_DeleteItemFromArray(c->messages, 0);
    if (!text || !text[0]) return 0;
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", "system") || !cJSON_AddStringToObject(m, "content", text)) {
        cJSON_Delete(m);
        return -1;
    }
    if (cJSON_GetArraySize(c->messages) == 0) cJSON_AddItemToArray(c->messages, m);
    else cJSON_InsertItemInArray(c->messages, 0, m);
    return 0;
}

void chat_reset(chat *c)
{
    int keep = is_role(cJSON_GetArrayItem(c->messages, 0), "system") ? 1 : 0;
    while (cJSON_GetArraySize(c->messages) > keep) cJSON_DeleteItemFromArray(c->messages, keep);
}

/* Drop the oldest turn after the system prompt: its first message and every
 * following message up to (not including) the next user message. Never drops
 * the last user message. Returns the number of messages dropped. */
static size_t drop_oldest_turn(cJSON *msgs)
{
    int n = cJSON_GetArraySize(msgs);
    int first = is_role(cJSON_GetArrayItem(msgs, 0), "system") ? 1 : 0;
    int last_user = -1;
    for (int i = 0; i < n; i++)
        if (is_role(cJSON_GetArrayItem(msgs, i), "user")) last_user = i;
    int end = first + 1;
    while (end < n && !is_role(cJSON_GetArrayItem(msgs, end), "user")) end++;
    if (first >= n || end > last_user || last_user < 0) return 0;
    for (int i = first; i < end; i++) cJSON_DeleteItemFromArray(msgs, first);
    return (size_t)(end - first);
}

/* ---- reply text with stop strings ---------------------------------------- */

typedef struct reply_buf {
    char *p;
    size_t n, cap;
    size_t shown; /* bytes already streamed */
} reply_buf;

static int reply_append(reply_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* Position of the first stop string in the reply (searching only where a new
 * match can start), or -1. */
static long find_stop(const chat *c, const reply_buf *b, size_t from)
{
    long best = -1;
    for (size_t i = 0; i < c->n_stops; i++) {
        size_t k = strlen(c->stops[i]);
        size_t start = from > k ? from - k : 0;
        for (size_t p = start; p + k <= b->n; p++) {
            if (memcmp(b->p + p, c->stops[i], k) == 0) {
                if (best < 0 || (long)p < best) best = (long)p;
                break;
            }
        }
    }
    return best;
}

/* Bytes at the end of the reply that could still grow into a stop string:
 * held back from the stream until decided. */
static size_t stop_holdback(const chat *c, const reply_buf *b)
{
    size_t hold = 0;
    for (size_t i = 0; i < c->n_stops; i++) {
        size_t k = strlen(c->stops[i]);
        for (size_t h = k - 1; h > hold && h >= 1; h--) {
            if (h <= b->n && memcmp(b->p + b->n - h, c->stops[i], h) == 0) {
                hold = h;
                break;
            }
        }
    }
    return hold;
}

/* ---- the turn ---------------------------------------------------------- */

static int push_tok(chat *c, int32_t t)
{
    if (c->n_toks == c->cap_toks) {
        size_t cap = c->cap_toks ? 2 * c->cap_toks : 1024;
        int32_t *nt = realloc(c->toks, cap * sizeof *nt);
        if (!nt) return -1;
        c->toks = nt;
        c->cap_toks = cap;
    }
    c->toks[c->n_toks++] = t;
    return 0;
}

/* s[0..n) with every byte that does not start a valid UTF-8 character
 * replaced by U+FFFD (random or small models emit stray byte tokens; the
 * messages must stay valid JSON text). malloc'd. */
static char *utf8_clean(const char *s, size_t n)
{
    char *o = malloc(3 * n + 1), *w = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = cli_utf8_valid_len((const unsigned char *)s + i, n - i);
        if (k == 0) {
            memcpy(w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        } else {
            memcpy(w, s + i, k);
            w += k;
            i += k;
        }
    }
    *w = '\0';
    return o;
}

/* The assistant message for the reply: content, plus tool_calls (arguments
 * as JSON objects, the Hugging Face convention templates expect). */
static cJSON *assistant_message(const chat *c)
{
    cJSON *m = cJSON_CreateObject();
    if (!m) return NULL;
    cJSON_AddStringToObject(m, "role", "assistant");
    if (c->calls && c->calls->n_calls > 0) {
        cJSON_AddStringToObject(m, "content", c->calls->content);
        cJSON *arr = cJSON_AddArrayToObject(m, "tool_calls");
        for (size_t i = 0; arr && i < c->calls->n_calls; i++) {
            const slm_tool_call *t = &c->calls->calls[i];
            cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            cJSON *args = cJSON_Parse(t->arguments);
            if (!tc || !fn || !args) {
                cJSON_Delete(tc);
                cJSON_Delete(fn);
                cJSON_Delete(args);
                cJSON_Delete(m);
                return NULL;
            }
            cJSON_AddStringToObject(tc, "id", t->id);
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON_AddStringToObject(fn, "name", t->name);
            cJSON_AddItemToObject(fn, "arguments", args);
            cJSON_AddItemToObject(tc, "function", fn);
            cJSON_AddItemToArray(arr, tc);
        }
    } else {
        char *clean = utf8_clean(c->reply ? c->reply : "", c->reply ? c->reply_len : 0);
        if (!clean || !cJSON_AddStringToObject(m, "content", clean)) {
            free(clean);
            cJSON_Delete(m);
            return NULL;
        }
        free(clean);
    }
    return m;
}

int chat_respond(chat *c, const char *cmd)
{
    chat_turn_stats ts;
    memset(&ts, 0, sizeof ts);
    ts.stop = "length";
    char *text = NULL, *piece = NULL;
    float *masked = NULL; /* logits with the grammar's mask applied */
    size_t text_len = 0, n_prompt = 0, piece_cap = 0;
    int32_t *ids = NULL;
    reply_buf rb;
    memset(&rb, 0, sizeof rb);
    cli_utf8_out out = {c->stream, {0}, 0};
    int rc = CLI_FAIL;
    slm_status st;
    uint32_t n_ctx = slm_session_n_ctx(c->sess);
    /* room kept for the reply when deciding whether to drop turns */
    size_t reserve = c->n_predict > 0 ? (size_t)c->n_predict : n_ctx / 4;
    if (reserve > n_ctx / 2) reserve = n_ctx / 2;
    if (reserve < 1) reserve = 1;

    /* Work on a copy so a failed turn leaves the conversation unchanged. */
    cJSON *msgs = cJSON_Duplicate(c->messages, 1);
    if (!msgs) goto nomem;
    for (;;) {
        if ((st = render(c, msgs, 1, &text, &text_len)) != SLM_OK) {
            fprintf(stderr, "slm %s: the chat template failed: %s\n", cmd, slm_last_error());
            goto done;
        }
        if (tokenize(c->model, text, text_len, &ids, &n_prompt)) {
            fprintf(stderr, "slm %s: cannot tokenize the conversation: %s\n", cmd, slm_last_error());
            goto done;
        }
        if (n_prompt + reserve <= n_ctx) break;
        size_t d = drop_oldest_turn(msgs);
        if (d == 0) {
            if (n_prompt < n_ctx) break; /* the last user turn alone: go with less room */
            fprintf(stderr, "slm %s: the conversation has %zu tokens but the context holds %u, even "
                            "with only the system prompt and the last message: use a larger -c\n",
                    cmd, n_prompt, n_ctx);
            goto done;
        }
        ts.dropped += d;
        fprintf(stderr, "slm %s: context full (%zu + %zu reserved > %u tokens): dropped the oldest "
                        "turn (%zu messages)\n", cmd, n_prompt, reserve, n_ctx, d);
        slm_chat_free(text);
        text = NULL;
        free(ids);
        ids = NULL;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "slm %s: the rendered conversation is empty\n", cmd);
        goto done;
    }

    /* KV reuse: keep the longest common prefix, at least one token to decode. */
    size_t p = 0;
    while (p < n_prompt && p < c->n_toks && ids[p] == c->toks[p]) p++;
    if (p == n_prompt) p--;
    if ((st = slm_session_truncate(c->sess, (uint32_t)p)) != SLM_OK) {
        cli_fail(cmd, "cannot truncate the KV cache", st);
        goto done;
    }
    c->n_toks = p;
    ts.prompt_tokens = n_prompt;
    ts.reused = p;
    ts.decoded = n_prompt - p;
    slm_sampler_reset(c->smp);
    for (size_t i = 0; i < n_prompt; i++) slm_sampler_accept(c->smp, ids[i]);

    double t0 = cli_now_ms();
    const float *logits = NULL;
    if ((st = slm_session_decode(c->sess, ids + p, n_prompt - p, &logits)) != SLM_OK) {
        c->n_toks = 0; /* the cache state is unknown: start over next time */
        slm_session_truncate(c->sess, 0);
        cli_fail(cmd, "evaluating the conversation failed", st);
        goto done;
    }
    for (size_t i = p; i < n_prompt; i++)
        if (push_tok(c, ids[i])) goto nomem;
    double t1 = cli_now_ms(), t_first = t1;
    ts.prompt_ms = t1 - t0;

    int32_t n_vocab = slm_model_n_vocab(c->model);
    if (c->grammar) {
        slm_grammar_reset(c->grammar);
        if (!(masked = malloc((size_t)n_vocab * sizeof *masked))) goto nomem;
    }
    for (int32_t i = 0; c->n_predict < 0 || i < c->n_predict; i++) {
        if (c->interrupt && *c->interrupt) {
            ts.stop = "interrupted";
            break;
        }
        const float *lg = logits;
        if (c->grammar) {
            memcpy(masked, logits, (size_t)n_vocab * sizeof *masked);
            if ((st = slm_grammar_apply(c->grammar, masked, n_vocab)) != SLM_OK) {
                cli_fail(cmd, "the grammar failed", st);
                goto done;
            }
            lg = masked;
        }
        int32_t tok = slm_sampler_sample(c->smp, lg, n_vocab);
        if (tok < 0) {
            fprintf(stderr, "slm %s: sampling failed\n", cmd);
            goto done;
        }
        if (i == 0) t_first = cli_now_ms();
        if (c->grammar && lg[tok] == -INFINITY) { /* nothing was allowed */
            ts.stop = slm_grammar_can_end(c->grammar) ? "eog" : "grammar";
            break;
        }
        slm_sampler_accept(c->smp, tok);
        if (slm_token_is_eog(c->model, tok)) {
            ts.stop = "eog";
            break;
        }
        if (c->grammar && slm_grammar_accept(c->grammar, tok) != SLM_OK) {
            ts.stop = "grammar";
            break;
        }
        ts.generated++;
        size_t n = slm_token_to_piece(c->model, tok, 1, piece, piece_cap);
        if (n > piece_cap) {
            char *np = realloc(piece, n);
            if (!np) goto nomem;
            piece = np;
            piece_cap = n;
            n = slm_token_to_piece(c->model, tok, 1, piece, piece_cap);
        }
        size_t before = rb.n;
        if (reply_append(&rb, piece, n)) goto nomem;
        long sp = find_stop(c, &rb, before);
        if (sp >= 0) {
            rb.n = (size_t)sp;
            rb.p[rb.n] = '\0';
        }
        size_t upto = sp >= 0 ? rb.n : rb.n - stop_holdback(c, &rb);
        if (c->stream && upto > rb.shown) cli_utf8_write(&out, rb.p + rb.shown, upto - rb.shown);
        if (upto > rb.shown) rb.shown = upto;
        if (sp >= 0) {
            ts.stop = "stop";
            /* the token is not decoded: the next turn re-renders the reply anyway */
            break;
        }
        if (c->n_predict >= 0 && i + 1 == c->n_predict) break;
        if (c->grammar && slm_grammar_is_done(c->grammar)) {
            ts.stop = "eog"; /* the grammar's match is complete: the reply ends */
            break;
        }
        if (slm_session_n_past(c->sess) >= n_ctx) {
            ts.stop = "context";
            break;
        }
        if ((st = slm_session_decode(c->sess, &tok, 1, &logits)) != SLM_OK) {
            c->n_toks = 0;
            slm_session_truncate(c->sess, 0);
            cli_fail(cmd, "decoding failed", st);
            goto done;
        }
        if (push_tok(c, tok)) goto nomem;
    }
    double t2 = cli_now_ms();
    if (c->stream) {
        if (rb.n > rb.shown) cli_utf8_write(&out, rb.p + rb.shown, rb.n - rb.shown);
        cli_utf8_flush(&out);
    }
    ts.gen_ms = t2 - t1;
    ts.ttft_ms = t_first - t0;
    if (!strcmp(ts.stop, "context"))
        fprintf(stderr, "\nslm %s: the context (%u tokens) is full: the reply was cut; the oldest turns "
                        "will be dropped next turn\n", cmd, n_ctx);

    free(c->reply);
    c->reply = rb.p ? rb.p : strdup("");
    c->reply_len = rb.p ? rb.n : 0;
    rb.p = NULL;
    if (!c->reply) goto nomem;
    slm_tool_calls_free(c->calls);
    c->calls = NULL;
    if (c->tool_format != SLM_TOOL_FORMAT_NONE &&
        (st = slm_tool_calls_parse(c->tool_format, c->reply, c->reply_len, c->tools_json, &c->calls)) != SLM_OK) {
        cli_fail(cmd, "cannot parse tool calls", st);
        goto done;
    }
    cJSON *am = assistant_message(c);
    if (!am) goto nomem;
    cJSON_AddItemToArray(msgs, am);
    cJSON_Delete(c->messages);
    c->messages = msgs;
    msgs = NULL;
    c->last = ts;
    c->turns++;
    c->total_decoded += ts.decoded;
    c->total_reused += ts.reused;
    c->total_generated += ts.generated;
    rc = CLI_OK;
    goto done;
nomem:
    fprintf(stderr, "slm %s: out of memory\n", cmd);
done:
    cJSON_Delete(msgs);
    slm_chat_free(text);
    free(ids);
    free(piece);
    free(masked);
    free(rb.p);
    return rc;
}

cJSON *chat_read_messages(const char *cmd, const char *path, cJSON **tools)
{
    size_t len = 0;
    char *s = cli_read_file(path, &len);
    if (!s) {
        fprintf(stderr, "slm %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(s, len);
    free(s);
    if (!j) {
        fprintf(stderr, "slm %s: %s: not valid JSON\n", cmd, path);
        return NULL;
    }
    cJSON *msgs = j;
    if (cJSON_IsObject(j)) {
        msgs = cJSON_DetachItemFromObjectCaseSensitive(j, "messages");
        if (tools) {
            cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(j, "tools");
            if (cJSON_IsArray(t)) *tools = t;
            else cJSON_Delete(t);
        }
        cJSON_Delete(j);
    }
    if (!cJSON_IsArray(msgs)) {
        fprintf(stderr, "slm %s: %s: expected a JSON array of messages or an object with \"messages\"\n", cmd,
                path);
        cJSON_Delete(msgs);
        return NULL;
    }
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(r)) {
            fprintf(stderr, "slm %s: %s: message %d has no \"role\" string\n", cmd, path, i);
            cJSON_Delete(msgs);
            return NULL;
        }
    }
    return msgs;
}

/* openai.c — the OpenAI request format: JSON body -> srv_request with every
 * field type- and range-checked (this is the fuzzed trust boundary: any
 * byte string gives either a request or an srv_error, never a crash), and
 * OpenAI-style error bodies. Unknown fields are ignored, as most OpenAI-
 * compatible servers do; features we do not implement (n > 1, logprobs,
 * echo) are refused with 400 rather than silently ignored. "tools" go to
 * the model's chat template; the reply is split into tool calls by http.c.
 * A forced tool_choice ("required" or a named function) sets
 * forced_tools_json; http.c turns it into a grammar for the template's
 * tool-call format (slm_tool_calls_grammar).
 * response_format json_object / json_schema becomes a GBNF grammar
 * (slm_json_schema_to_grammar) that constrains sampling. Any "model" name is accepted; responses name the loaded
 * model. Also the /v1/embeddings body (srv_embed_parse). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

void srv_error_set(srv_error *e, int status, const char *type, const char *param, const char *code,
                   const char *fmt, ...)
{
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void srv_error_json(const srv_error *e, srv_buf *b)
{
    srv_buf_puts(b, "{\"error\":{\"message\":");
    srv_buf_json_str(b, e->message, strlen(e->message));
    srv_buf_puts(b, ",\"type\":");
    srv_buf_json_str(b, e->type ? e->type : "server_error", strlen(e->type ? e->type : "server_error"));
    srv_buf_puts(b, ",\"param\":");
    if (e->param) srv_buf_json_str(b, e->param, strlen(e->param));
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, ",\"code\":");
    if (e->code) srv_buf_json_str(b, e->code, strlen(e->code));
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, "}}");
}

#define BAD(param, ...) \
    do { \
        srv_error_set(err, 400, "invalid_request_error", param, NULL, __VA_ARGS__); \
        goto fail; \
    } while (0)

/* A number field within [lo, hi]; absent or null leaves *out. 0 ok. */
static int get_number(const cJSON *root, const char *name, double lo, double hi, double *out,
                      srv_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        srv_error_set(err, 400, "invalid_request_error", name, NULL, "'%s' must be a number", name);
        return -1;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        srv_error_set(err, 400, "invalid_request_error", name, NULL,
                      "'%s' is %g; expected a number in [%g, %g]", name, v->valuedouble, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

/* An integer field within [lo, hi]. */
static int get_int(const cJSON *root, const char *name, double lo, double hi, double *out,
                   srv_error *err)
{
    double d = *out;
    if (get_number(root, name, lo, hi, &d, err)) return -1;
    if (d != floor(d)) {
        srv_error_set(err, 400, "invalid_request_error", name, NULL, "'%s' is %g; expected an integer",
                      name, d);
        return -1;
    }
    *out = d;
    return 0;
}

static int get_bool(const cJSON *root, const char *name, int *out, srv_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) {
        srv_error_set(err, 400, "invalid_request_error", name, NULL, "'%s' must be true or false", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Append a message's content (string, null, or an array of text parts). */
static int append_content(const cJSON *content, srv_buf *b, srv_error *err)
{
    if (!content || cJSON_IsNull(content)) return 0;
    if (cJSON_IsString(content)) {
        srv_buf_puts(b, content->valuestring);
        return 0;
    }
    if (cJSON_IsArray(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsObject(part) || !cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
                !cJSON_IsString(text)) {
                srv_error_set(err, 400, "invalid_request_error", "messages", NULL,
                              "message content parts must be {\"type\":\"text\",\"text\":...} "
                              "(other part types are not supported)");
                return -1;
            }
            srv_buf_puts(b, text->valuestring);
        }
        return 0;
    }
    srv_error_set(err, 400, "invalid_request_error", "messages", NULL,
                  "message content must be a string, null or an array of text parts");
    return -1;
}

static int render_chat(const cJSON *msgs, srv_buf *b, srv_error *err)
{
    if (!cJSON_IsArray(msgs)) {
        srv_error_set(err, 400, "invalid_request_error", "messages", NULL,
                      msgs ? "'messages' must be an array" : "'messages' is required");
        return -1;
    }
    if (cJSON_GetArraySize(msgs) == 0) {
        srv_error_set(err, 400, "invalid_request_error", "messages", NULL, "'messages' is empty");
        return -1;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            srv_error_set(err, 400, "invalid_request_error", "messages", NULL,
                          "each message must be an object with a string 'role'");
            return -1;
        }
        const char *r = role->valuestring;
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "developer") &&
            strcmp(r, "tool")) {
            srv_error_set(err, 400, "invalid_request_error", "messages", NULL,
                          "message role '%.40s' is not one of system, developer, user, assistant, tool", r);
            return -1;
        }
        srv_buf_puts(b, "<|im_start|>");
        srv_buf_puts(b, r);
        srv_buf_puts(b, "\n");
        if (append_content(cJSON_GetObjectItemCaseSensitive(m, "content"), b, err)) return -1;
        srv_buf_puts(b, "<|im_end|>\n");
    }
    srv_buf_puts(b, "<|im_start|>assistant\n");
    return 0;
}

void srv_request_free(srv_request *r)
{
    free(r->prompt);
    free(r->messages_json); /* cJSON_Print allocates with malloc by default */
    free(r->grammar);
    free(r->tools_json);
    free(r->forced_tools_json);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

int srv_request_parse(const char *body, size_t len, srv_kind kind, const srv_limits *lim,
                      srv_request *out, srv_error *err)
{
    memset(out, 0, sizeof *out);
    srv_buf chat = {0};
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) BAD(NULL, "the request body is not valid JSON");
    if (!cJSON_IsObject(root)) BAD(NULL, "the request body must be a JSON object");

    out->kind = kind;
    out->max_tokens = -1;
    out->sp = slm_sampler_default_params();
    out->sp.temperature = 1.0f; /* OpenAI's defaults */
    out->sp.top_p = 1.0f;

    /* Any model name is accepted (as llama.cpp's server does): one model is
     * loaded and responses name it, so clients configured with another
     * name (gpt-4o-mini, ...) work unchanged. */
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) BAD("model", "'model' must be a string");

    if (kind == SRV_COMPLETION) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
            p = cJSON_GetArrayItem(p, 0);
        if (!p) BAD("prompt", "'prompt' is required");
        if (!cJSON_IsString(p))
            BAD("prompt", "'prompt' must be a string (or an array of one string; token arrays and "
                          "batches are not supported)");
        size_t n = strlen(p->valuestring);
        if (!(out->prompt = dup_n(p->valuestring, n))) goto nomem;
        out->prompt_len = n;
        int echo = 0;
        if (get_bool(root, "echo", &echo, err)) goto fail;
        if (echo) BAD("echo", "'echo' is not supported");
        const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
        if (lp && !cJSON_IsNull(lp) && !(cJSON_IsNumber(lp) && lp->valuedouble == 0) && !cJSON_IsFalse(lp))
            BAD("logprobs", "'logprobs' is not supported");
    } else {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        if (render_chat(msgs, &chat, err)) goto fail;
        if (chat.oom || !(out->messages_json = cJSON_PrintUnformatted(msgs))) goto nomem;
        out->prompt = chat.p;
        out->prompt_len = chat.n;
        chat.p = NULL;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tools");
        if (t && !cJSON_IsNull(t)) {
            if (!cJSON_IsArray(t)) BAD("tools", "'tools' must be an array");
            const cJSON *tool;
            cJSON_ArrayForEach(tool, t) {
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(tool, "type");
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
                const cJSON *nm = cJSON_IsObject(fn) ? cJSON_GetObjectItemCaseSensitive(fn, "name") : NULL;
                if (!cJSON_IsObject(tool) || !cJSON_IsString(ty) || strcmp(ty->valuestring, "function") != 0 ||
                    !cJSON_IsString(nm) || !nm->valuestring[0])
                    BAD("tools", "each tool must be {\"type\":\"function\",\"function\":{\"name\":...}}");
            }
            int use = cJSON_GetArraySize(t) > 0;
            if (use && !(out->tools_json = cJSON_PrintUnformatted(t))) goto nomem;
        }
        /* tool_choice: "auto" (default), "none", "required" (some call), or
         * {"type":"function","function":{"name":N}} (a call to N) */
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
        if (tc && !cJSON_IsNull(tc)) {
            const cJSON *forced = NULL; /* the tool a named choice picks */
            int required = 0;
            if (cJSON_IsString(tc) && strcmp(tc->valuestring, "none") == 0) {
                free(out->tools_json);
                out->tools_json = NULL;
            } else if (cJSON_IsString(tc) && strcmp(tc->valuestring, "required") == 0) {
                required = 1;
            } else if (cJSON_IsObject(tc)) {
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(tc, "type");
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
                const cJSON *nm = cJSON_IsObject(fn) ? cJSON_GetObjectItemCaseSensitive(fn, "name") : NULL;
                if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "function") != 0 || !cJSON_IsString(nm))
                    BAD("tool_choice", "'tool_choice' as an object must be {\"type\":\"function\",\"function\":{\"name\":...}}");
                const cJSON *tool;
                cJSON_ArrayForEach(tool, t) {
                    const cJSON *f = cJSON_GetObjectItemCaseSensitive(tool, "function");
                    if (strcmp(cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring, nm->valuestring) == 0) {
                        forced = tool;
                        break;
                    }
                }
                if (!forced)
                    BAD("tool_choice", "'tool_choice' names the function '%.60s', which is not in 'tools'", nm->valuestring);
                required = 1;
            } else if (!cJSON_IsString(tc) || strcmp(tc->valuestring, "auto") != 0) {
                BAD("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or "
                                   "{\"type\":\"function\",\"function\":{\"name\":...}}");
            }
            if (required) {
                if (!out->tools_json) BAD("tool_choice", "'tool_choice' forces a tool call but 'tools' is empty or missing");
                if (forced) {
                    cJSON *one = cJSON_CreateArray();
                    cJSON *dup = one ? cJSON_Duplicate(forced, 1) : NULL;
                    if (dup) cJSON_AddItemToArray(one, dup);
                    out->forced_tools_json = dup ? cJSON_PrintUnformatted(one) : NULL;
                    cJSON_Delete(one);
                    if (!out->forced_tools_json) goto nomem;
                } else if (!(out->forced_tools_json = dup_n(out->tools_json, strlen(out->tools_json)))) {
                    goto nomem;
                }
            }
        }
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
        if (rf && !cJSON_IsNull(rf)) {
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rf, "type");
            if (!cJSON_IsObject(rf) || !cJSON_IsString(ty))
                BAD("response_format", "'response_format' must be an object with a string 'type'");
            if (strcmp(ty->valuestring, "json_object") == 0) {
                const char *g = slm_grammar_json_object();
                if (!(out->grammar = dup_n(g, strlen(g)))) goto nomem;
            } else if (strcmp(ty->valuestring, "json_schema") == 0) {
                /* the output is constrained to documents the schema accepts */
                const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
                const cJSON *sc = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "schema") : NULL;
                if (!cJSON_IsObject(js)) BAD("response_format", "'response_format.json_schema' must be an object");
                char *sj = sc ? cJSON_PrintUnformatted(sc) : NULL;
                if (sc && !sj) goto nomem;
                char *gbnf = NULL;
                slm_status st = slm_json_schema_to_grammar(sj ? sj : "{}", sj ? strlen(sj) : 2, &gbnf);
                free(sj);
                if (st == SLM_ERR_NOMEM) goto nomem;
                if (st != SLM_OK)
                    BAD("response_format", "'response_format.json_schema.schema' cannot be used (%s): %s",
                        slm_status_name(st), slm_last_error());
                out->grammar = dup_n(gbnf, strlen(gbnf));
                slm_grammar_text_free(gbnf);
                if (!out->grammar) goto nomem;
            } else if (strcmp(ty->valuestring, "text") != 0) {
                BAD("response_format", "'response_format.type' is '%.40s'; expected text, json_object or json_schema",
                    ty->valuestring);
            }
        }
        if (out->grammar && out->forced_tools_json)
            BAD("response_format", "'response_format' cannot be combined with a forced 'tool_choice' (both constrain "
                                   "the whole reply)");
        int lpb = 0;
        if (get_bool(root, "logprobs", &lpb, err)) goto fail;
        if (lpb) BAD("logprobs", "'logprobs' is not supported");
    }

    double d = -1;
    int32_t cap = lim && lim->max_tokens > 0 ? lim->max_tokens : INT32_MAX;
    const char *mt_name = "max_tokens";
    if (kind == SRV_CHAT && cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens"))
        mt_name = "max_completion_tokens";
    if (get_int(root, mt_name, 1, 1e15, &d, err)) goto fail;
    if (d > cap) {
        srv_error_set(err, 400, "invalid_request_error", mt_name, "max_tokens_exceeded",
                      "'%s' is %.0f; this server allows at most %d", mt_name, d, (int)cap);
        goto fail;
    }
    out->max_tokens = (int32_t)d;

    d = out->sp.temperature;
    if (get_number(root, "temperature", 0, 2, &d, err)) goto fail;
    out->sp.temperature = (float)d;
    d = out->sp.top_p;
    if (get_number(root, "top_p", 0, 1, &d, err)) goto fail;
    if (d <= 0) BAD("top_p", "'top_p' is 0; expected a number in (0, 1]");
    out->sp.top_p = (float)d;
    d = out->sp.top_k;
    if (get_int(root, "top_k", 0, 1e9, &d, err)) goto fail;
    out->sp.top_k = (int32_t)d;
    d = out->sp.min_p;
    if (get_number(root, "min_p", 0, 1, &d, err)) goto fail;
    out->sp.min_p = (float)d;
    d = out->sp.presence_penalty;
    if (get_number(root, "presence_penalty", -2, 2, &d, err)) goto fail;
    out->sp.presence_penalty = (float)d;
    d = out->sp.frequency_penalty;
    if (get_number(root, "frequency_penalty", -2, 2, &d, err)) goto fail;
    out->sp.frequency_penalty = (float)d;
    d = out->sp.repeat_penalty;
    if (get_number(root, "repeat_penalty", 0.01, 100, &d, err)) goto fail;
    out->sp.repeat_penalty = (float)d;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (seed && !cJSON_IsNull(seed)) {
        d = 0;
        if (get_int(root, "seed", -9007199254740991.0, 9007199254740991.0, &d, err)) goto fail;
        out->sp.seed = (uint64_t)(int64_t)d;
        out->seed_given = 1;
    }
    d = 1;
    if (get_int(root, "n", 1, 1e9, &d, err)) goto fail;
    if (d != 1) BAD("n", "'n' is %.0f; only n = 1 is supported", d);
    if (get_bool(root, "stream", &out->stream, err)) goto fail;
    if (get_bool(root, "ignore_eos", &out->ignore_eos, err)) goto fail;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) BAD("stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &out->include_usage, err)) goto fail;
    }

    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        if (cJSON_IsString(stop)) {
            if (stop->valuestring[0] && !(out->stop[out->n_stop++] = dup_n(stop->valuestring, strlen(stop->valuestring))))
                goto nomem;
        } else if (cJSON_IsArray(stop)) {
            if (cJSON_GetArraySize(stop) > SRV_MAX_STOP)
                BAD("stop", "'stop' has %d strings; at most %d are allowed", cJSON_GetArraySize(stop), SRV_MAX_STOP);
            const cJSON *s;
            cJSON_ArrayForEach(s, stop) {
                if (!cJSON_IsString(s)) BAD("stop", "'stop' must be a string or an array of strings");
                if (!s->valuestring[0]) continue;
                if (!(out->stop[out->n_stop++] = dup_n(s->valuestring, strlen(s->valuestring)))) goto nomem;
            }
        } else {
            BAD("stop", "'stop' must be a string or an array of strings");
        }
    }
    cJSON_Delete(root);
    return 0;

nomem:
    srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory while parsing the request");
fail:
    cJSON_Delete(root);
    srv_buf_free(&chat);
    srv_request_free(out);
    return -1;
}

void srv_request_canonical(const srv_request *r, srv_buf *b)
{
    const slm_sampler_params *p = &r->sp;
    /* %a prints floats exactly, so equal keys mean equal parameters. */
    srv_buf_printf(b, "kind=%d;ieos=%d;max=%d;t=%a;k=%d;p=%a;minp=%a;rp=%a;fp=%a;pp=%a;last=%d;seed=%llu;",
                   (int)r->kind, r->ignore_eos, (int)r->max_tokens, p->temperature, (int)p->top_k, p->top_p, p->min_p,
                   p->repeat_penalty, p->frequency_penalty, p->presence_penalty, (int)p->penalty_last_n,
                   r->sp.temperature <= 0 ? 0ULL : (unsigned long long)p->seed);
    for (int i = 0; i < r->n_stop; i++) srv_buf_printf(b, "stop%d=%zu:%s;", i, strlen(r->stop[i]), r->stop[i]);
    if (r->grammar) srv_buf_printf(b, "grammar=%zu:%s;", strlen(r->grammar), r->grammar);
    if (r->tools_json) srv_buf_printf(b, "tools=%zu:%s;", strlen(r->tools_json), r->tools_json);
    if (r->forced_tools_json)
        srv_buf_printf(b, "forced=%zu:%s;", strlen(r->forced_tools_json), r->forced_tools_json);
    srv_buf_printf(b, "prompt=%zu:", r->prompt_len);
    srv_buf_append(b, r->prompt, r->prompt_len);
}

int srv_request_deterministic(const srv_request *r)
{
    return r->sp.temperature <= 0 || r->seed_given;
}

/* ---- embeddings ---- */

void srv_embed_free(srv_embed_request *r)
{
    if (r->in)
        for (size_t i = 0; i < r->n; i++) {
            free(r->in[i].text);
            free(r->in[i].ids);
        }
    free(r->in);
    memset(r, 0, sizeof *r);
}

/* One input item: a non-empty string, or a non-empty array of token ids
 * (integers in [0, 2^31)). 0 ok. */
static int embed_item(const cJSON *v, srv_embed_input *in, srv_error *err)
{
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        if (n == 0) {
            srv_error_set(err, 400, "invalid_request_error", "input", NULL, "'input' contains an empty string");
            return -1;
        }
        if (!(in->text = dup_n(v->valuestring, n))) goto nomem;
        in->len = n;
        return 0;
    }
    int n = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n == 0) {
        srv_error_set(err, 400, "invalid_request_error", "input", NULL,
                      "'input' must be a string, an array of strings, an array of token ids or an array of "
                      "token id arrays, none empty");
        return -1;
    }
    if (!(in->ids = malloc((size_t)n * sizeof *in->ids))) goto nomem;
    const cJSON *t;
    cJSON_ArrayForEach(t, v) {
        if (!cJSON_IsNumber(t) || !(t->valuedouble >= 0 && t->valuedouble < 2147483648.0) ||
            t->valuedouble != floor(t->valuedouble)) {
            srv_error_set(err, 400, "invalid_request_error", "input", NULL,
                          "'input' token ids must be integers in [0, 2^31)");
            return -1;
        }
        in->ids[in->n_ids++] = (int32_t)t->valuedouble;
    }
    return 0;
nomem:
    srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory while parsing the request");
    return -1;
}

int srv_embed_parse(const char *body, size_t len, srv_embed_request *out, srv_error *err)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) BAD(NULL, "the request body is not valid JSON");
    if (!cJSON_IsObject(root)) BAD(NULL, "the request body must be a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) BAD("model", "'model' must be a string");
    const cJSON *ef = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
    if (ef && !cJSON_IsNull(ef)) {
        if (!cJSON_IsString(ef) || (strcmp(ef->valuestring, "float") != 0 && strcmp(ef->valuestring, "base64") != 0))
            BAD("encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
        out->base64 = strcmp(ef->valuestring, "base64") == 0;
    }
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    if (dim && !cJSON_IsNull(dim)) BAD("dimensions", "'dimensions' is not supported (the size is the model's n_embd)");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!in || cJSON_IsNull(in)) BAD("input", "'input' is required");
    /* a batch: an array of strings or of arrays; else one item */
    const cJSON *first = cJSON_IsArray(in) ? cJSON_GetArrayItem(in, 0) : NULL;
    int batch = first && (cJSON_IsString(first) || cJSON_IsArray(first));
    int n = batch ? cJSON_GetArraySize(in) : 1;
    if (n > SRV_MAX_EMBED_INPUTS) BAD("input", "'input' has %d items; at most %d are allowed", n, SRV_MAX_EMBED_INPUTS);
    if (!(out->in = calloc((size_t)n, sizeof *out->in))) {
        srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory while parsing the request");
        goto fail;
    }
    if (batch) {
        const cJSON *v;
        cJSON_ArrayForEach(v, in) {
            out->n++;
            if (embed_item(v, &out->in[out->n - 1], err)) goto fail;
        }
    } else {
        out->n = 1;
        if (embed_item(in, &out->in[0], err)) goto fail;
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    srv_embed_free(out);
    return -1;
}

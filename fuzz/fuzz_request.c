/* fuzz_request.c — libFuzzer target for everything the server parses out of
 * a request body (cli/serve/openai.c and the library calls http.c makes on
 * the result): any bytes must give either a valid request or an OpenAI
 * error with a 4xx/5xx status, never a crash, leak or read outside the
 * input. The first byte picks the parser and a tool-call format; the rest
 * is the body (not NUL-terminated, like an HTTP upload):
 *   byte % 3 == 0  a /v1/completions body   (srv_request_parse)
 *   byte % 3 == 1  a /v1/chat/completions body, and on success what http.c
 *                  does next: render a chat template (one that uses
 *                  messages, tool calls and tools) over the messages, build
 *                  the forced-call grammar from the tools (tool_choice
 *                  "required") and split the rendered text into calls
 *   byte % 3 == 2  a /v1/embeddings body    (srv_embed_parse) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

/* A small template in the style of Qwen2.5's: tools as JSON, messages with
 * their tool calls, the generation prompt. */
static const char TEMPLATE[] =
    "{%- if tools %}<|im_start|>system\n{%- for tool in tools %}{{ tool | tojson }}\n{%- endfor %}"
    "<|im_end|>\n{%- endif %}"
    "{%- for message in messages %}<|im_start|>{{ message.role }}\n"
    "{%- if message.content is string %}{{ message.content }}{%- endif %}"
    "{%- if message.tool_calls %}{%- for tc in message.tool_calls %}<tool_call>\n"
    "{\"name\": \"{{ tc.function.name }}\", \"arguments\": {{ tc.function.arguments }}}\n</tool_call>"
    "{%- endfor %}{%- endif %}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}";

static const slm_tool_format FORMATS[] = {SLM_TOOL_FORMAT_HERMES, SLM_TOOL_FORMAT_LLAMA3,
                                          SLM_TOOL_FORMAT_FUNCTIONARY, SLM_TOOL_FORMAT_QWEN3_XML};

/* http.c's next steps for a valid chat request. */
static void chat_followup(const srv_request *r, slm_tool_format fmt)
{
    srv_buf ctx = {0};
    srv_buf_puts(&ctx, "{\"messages\":");
    srv_buf_puts(&ctx, r->messages_json);
    if (r->tools_json) {
        srv_buf_puts(&ctx, ",\"tools\":");
        srv_buf_puts(&ctx, r->tools_json);
    }
    srv_buf_puts(&ctx, ",\"add_generation_prompt\":true,\"bos_token\":\"\",\"eos_token\":\"\"}");
    char *text = NULL;
    size_t n = 0;
    if (!ctx.oom && slm_chat_template_render(TEMPLATE, sizeof TEMPLATE - 1, ctx.p, ctx.n, &text, &n) == SLM_OK) {
        if (!text || strlen(text) != n) abort();
        slm_tool_calls *tc = NULL;
        if (slm_tool_calls_parse(fmt, text, n, r->tools_json, &tc) == SLM_OK) {
            for (size_t i = 0; i < tc->n_calls; i++)
                if (!tc->calls[i].name || !tc->calls[i].arguments || !tc->calls[i].id) abort();
            if (tc->content_len != strlen(tc->content)) abort();
            slm_tool_calls_free(tc);
        }
        if (slm_tool_calls_content_prefix(fmt, text, n) > n) abort();
        slm_chat_free(text);
    }
    srv_buf_free(&ctx);
    const char *forced = r->forced_tools_json ? r->forced_tools_json : r->tools_json;
    if (forced) {
        char *g = NULL;
        if (slm_tool_calls_grammar(fmt, forced, &g) == SLM_OK && !g) abort();
        slm_chat_free(g);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = data[0] % 3;
    slm_tool_format fmt = FORMATS[(data[0] / 3) % (sizeof FORMATS / sizeof FORMATS[0])];
    size_t n = size - 1;
    char *body = malloc(n ? n : 1); /* exact size: ASan sees any overread */
    if (!body) return 0;
    memcpy(body, data + 1, n);
    srv_error e;
    int ok;
    if (which == 2) {
        srv_embed_request r;
        ok = srv_embed_parse(body, n, &r, &e) == 0;
        if (ok) {
            if (r.n < 1 || r.n > SRV_MAX_EMBED_INPUTS || !r.in) abort();
            for (size_t i = 0; i < r.n; i++) {
                const srv_embed_input *in = &r.in[i];
                if (in->text ? (in->len == 0 || strlen(in->text) != in->len || in->ids)
                             : (!in->ids || in->n_ids == 0))
                    abort();
                for (size_t t = 0; t < in->n_ids; t++)
                    if (in->ids[t] < 0) abort();
            }
            srv_embed_free(&r);
        }
    } else {
        srv_limits lim = {256, "model.gguf"};
        srv_request r;
        ok = srv_request_parse(body, n, which ? SRV_CHAT : SRV_COMPLETION, &lim, &r, &e) == 0;
        if (ok) {
            if (!r.prompt || r.max_tokens == 0 || r.max_tokens > 256 || r.n_stop > SRV_MAX_STOP) abort();
            if (r.forced_tools_json && (r.grammar || !r.tools_json)) abort();
            srv_buf key = {0};
            srv_request_canonical(&r, &key);
            srv_buf_free(&key);
            if (r.kind == SRV_CHAT) chat_followup(&r, fmt);
            srv_request_free(&r);
        }
    }
    if (!ok) {
        if (e.status < 400 || e.status > 599 || !e.type || !e.message[0]) abort();
        srv_buf b = {0};
        srv_error_json(&e, &b);
        srv_buf_free(&b);
    }
    free(body);
    return 0;
}

/* http.c — the `slm serve` daemon on libmicrohttpd (thread per connection):
 * routing, API-key check, body limit, the bounded job queue and the slot
 * workers, non-streaming and SSE responses, client-disconnect cancellation
 * and the SIGTERM drain.
 *
 * Threads. Each connection has an MHD thread that parses and validates the
 * request, tokenizes the prompt, and either answers at once (errors, cache
 * hits, GET endpoints) or queues a job and waits for it. --parallel slots
 * each own one slm_session over the shared model; one scheduler thread
 * (sched_main) drives them all with continuous batching: each round it
 * gives queued jobs to idle slots and runs one slm_decode_multi over every
 * busy slot, so the weights are read once per round for all streams. A job
 * is shared by its connection and the scheduler under a reference count;
 * its mutex guards the output.
 *
 * Disconnects. While a connection waits (for a non-streaming result, or for
 * the next SSE bytes) it peeks its socket every 200 ms; a closed peer sets the
 * job's cancel flag, which the worker checks before every token, so the slot
 * is freed within one token. A failed SSE write ends the response through
 * MHD's free callback, which cancels too.
 *
 * Prompt-prefix reuse: a slot remembers the tokens in its KV cache and only
 * evaluates the part of a new prompt after the common prefix. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../cli.h"
#include "serve.h"

typedef struct job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                 /* connection + worker + SSE response; under mu */
    srv_request req;
    int32_t *ids;             /* prompt tokens [n_ids], malloc'd */
    size_t n_ids;
    atomic_int cancel;        /* set by the connection side: stop generating */
    int done;                 /* worker finished (under mu) */
    int failed;               /* err is set */
    srv_error err;
    srv_buf text;             /* generated text (under mu once streaming) */
    size_t streamed;          /* bytes of text already put into sse */
    size_t max_stop;          /* longest stop string */
    srv_buf sse;              /* SSE bytes for the connection (under mu) */
    size_t sse_read;
    char finish[16];          /* "stop", "length", "cancelled", "tool_calls" */
    srv_buf calls;            /* with tools and calls found: their JSON (non-streaming form) */
    int32_t n_gen;
    int fd;                   /* the client's socket, for peeking */
    double t_arrive;          /* ms, cli_now_ms() */
    char id[48];
    long long created;
    struct job *next;         /* queue link (under the server mutex) */
} job;

typedef struct slot slot;

typedef struct server {
    const srv_config *cfg;
    slm_model *model;
    srv_metrics *metrics;
    srv_cache *cache;
    uint32_t n_ctx;           /* of every slot */
    const char *chat_template;/* the model's tokenizer.chat_template, or NULL: ChatML */
    slm_tool_format tool_format; /* the template's tool-call syntax (NONE without a template) */
    int tool_forceable;       /* slm_tool_calls_grammar supports tool_format (tool_choice "required") */
    char forceable[256];      /* the names of the formats it supports, for error messages */
    char bos[64], eos[64];    /* their texts, for the template's bos_token/eos_token */
    pthread_mutex_t mu;       /* queue, counters below */
    pthread_cond_t cv;
    job *head, *tail;
    int queued, busy, stopping;
    atomic_int draining;
    atomic_int inflight;      /* requests between arrival and completion */
    atomic_ullong next_id;
    slot *slots;              /* [n_parallel] */
    pthread_t sched;          /* the scheduler thread (sched_main) */
    /* scheduler-thread scratch, [n_parallel] each: */
    slot **fresh, **batch;
    slm_session **b_sess;
    const int32_t **b_ids;
    size_t *b_n;
    uint64_t steps, step_rows, prompt_reused; /* batched steps, sequences in them, prompt tokens reused */
    uint64_t reused_reported;  /* prompt_reused already passed to the metrics */
    pthread_mutex_t emb_mu;   /* one embedding at a time, on emb */
    slm_session *emb;         /* /v1/embeddings' session, created at first use (under emb_mu) */
} server;

struct slot {
    server *S;
    int index;
    slm_session *sess;
    int32_t *hist;            /* tokens in the KV cache [n_hist], capacity n_ctx */
    size_t n_hist;
    job *j;                   /* the job generating here, NULL when idle (scheduler thread) */
    slm_sampler *smp;         /* j's sampler */
    slm_grammar *gram;        /* j's response_format constraint, or NULL */
    float *masked;            /* [n_vocab] logits with the grammar's mask applied */
    const int32_t *feed;      /* tokens for the next step [n_feed]: prompt part or &tok */
    size_t n_feed;
    int32_t tok;              /* last sampled token */
    double t_start, t_first, t_gen0; /* ms: job start, first token, prompt evaluated (-1: not yet) */
};

typedef struct conn {
    srv_endpoint ep;
    double t0;
    srv_buf body;
    int too_large;
    int status;               /* the status we queued, for metrics */
    job *job;
    int counted;              /* inflight was incremented */
} conn;

/* ---- jobs ---- */

static job *job_new(void)
{
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    atomic_init(&j->cancel, 0);
    return j;
}

static void job_retain(job *j)
{
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

static void job_release(job *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    srv_request_free(&j->req);
    free(j->ids);
    srv_buf_free(&j->text);
    srv_buf_free(&j->sse);
    srv_buf_free(&j->calls);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* 1 if the client has closed its end of the connection. */
static int peer_closed(int fd)
{
    if (fd < 0) return 0;
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k > 0) return 0;
    if (k == 0) return 1;
    return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

static void wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- response bodies ---- */

static void usage_json(srv_buf *b, int32_t n_prompt, int32_t n_gen)
{
    srv_buf_printf(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}",
                   (int)n_prompt, (int)n_gen, (int)(n_prompt + n_gen));
}

static void head_json(srv_buf *b, const server *S, const job *j, const char *object)
{
    srv_buf_puts(b, "{\"id\":");
    srv_buf_json_str(b, j->id, strlen(j->id));
    srv_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object, j->created);
    srv_buf_json_str(b, S->cfg->model_id, strlen(S->cfg->model_id));
}

/* The whole (non-streaming) response. */
static void result_json(srv_buf *b, const server *S, const job *j, const char *text, size_t n,
                        const char *finish, int32_t n_prompt, int32_t n_gen)
{
    if (j->req.kind == SRV_CHAT) {
        head_json(b, S, j, "chat.completion");
        srv_buf_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        if (j->calls.n && n == 0) srv_buf_puts(b, "null");
        else srv_buf_json_str(b, text, n);
        if (j->calls.n) {
            srv_buf_puts(b, ",\"tool_calls\":");
            srv_buf_append(b, j->calls.p, j->calls.n);
        }
        srv_buf_printf(b, "},\"logprobs\":null,\"finish_reason\":\"%s\"}],", finish);
    } else {
        head_json(b, S, j, "text_completion");
        srv_buf_puts(b, ",\"choices\":[{\"text\":");
        srv_buf_json_str(b, text, n);
        srv_buf_printf(b, ",\"index\":0,\"logprobs\":null,\"finish_reason\":\"%s\"}],", finish);
    }
    usage_json(b, n_prompt, n_gen);
    srv_buf_puts(b, "}\n");
}

/* One SSE chunk with a text delta (finish NULL) or the final empty delta. */
static void sse_chunk(job *j, const server *S, const char *text, size_t n, const char *finish, int role)
{
    srv_buf *b = &j->sse;
    srv_buf_puts(b, "data: ");
    if (j->req.kind == SRV_CHAT) {
        head_json(b, S, j, "chat.completion.chunk");
        srv_buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{");
        if (role) srv_buf_puts(b, "\"role\":\"assistant\",\"content\":\"\"");
        else if (text) {
            srv_buf_puts(b, "\"content\":");
            srv_buf_json_str(b, text, n);
        }
        srv_buf_puts(b, "},\"logprobs\":null,\"finish_reason\":");
    } else {
        head_json(b, S, j, "text_completion");
        srv_buf_puts(b, ",\"choices\":[{\"text\":");
        srv_buf_json_str(b, text ? text : "", text ? n : 0);
        srv_buf_puts(b, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
    }
    if (finish) srv_buf_printf(b, "\"%s\"", finish);
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, "}]}\n\n");
}

/* Move the text that can no longer change into SSE chunks (under j->mu).
 * Held back: an incomplete UTF-8 character, and max_stop-1 bytes that may
 * still turn out to start a stop string. */
static void stream_text(job *j, const server *S, int final)
{
    size_t end = j->text.n;
    if (!final) {
        size_t hold = cli_utf8_incomplete_tail(j->text.p ? j->text.p : "", j->text.n);
        if (j->max_stop > 1 && j->max_stop - 1 > hold) hold = j->max_stop - 1;
        end = end > hold ? end - hold : 0;
        /* with tools, only the part that cannot be (the start of) a tool call */
        if (j->req.tools_json) {
            size_t safe = slm_tool_calls_content_prefix(S->tool_format, j->text.p, j->text.n);
            if (safe < end) end = safe;
        }
    }
    if (end > j->streamed) {
        sse_chunk(j, S, j->text.p + j->streamed, end - j->streamed, NULL, 0);
        j->streamed = end;
    }
}

/* ---- slots ---- */

static void job_fail(job *j, int status, const char *type, const char *code, const char *msg)
{
    j->failed = 1;
    srv_error_set(&j->err, status, type, NULL, code, "%s", msg);
}

/* Find the earliest stop string in text[from..n); its offset or -1. */
static long find_stop(const job *j, size_t from)
{
    long best = -1;
    for (int i = 0; i < j->req.n_stop; i++) {
        size_t k = strlen(j->req.stop[i]);
        for (size_t p = from; p + k <= j->text.n; p++) {
            if (memcmp(j->text.p + p, j->req.stop[i], k) == 0) {
                if (best < 0 || (long)p < best) best = (long)p;
                break;
            }
        }
    }
    return best;
}

static void update_gauges(server *S)
{
    pthread_mutex_lock(&S->mu);
    int q = S->queued, b = S->busy;
    pthread_mutex_unlock(&S->mu);
    srv_metrics_gauges(S->metrics, q, b, S->cfg->n_parallel);
}

/* A call's id: the model's own, or, where the library numbered it
 * ("call_<i>"), one unique to this response ("call_<response id>_<i>"), so
 * the calls of different turns of a conversation do not share ids. */
static void call_id_json(srv_buf *b, const job *j, const slm_tool_call *c, size_t i)
{
    char lib[32], own[96];
    snprintf(lib, sizeof lib, "call_%zu", i);
    if (strcmp(c->id, lib) != 0) {
        srv_buf_json_str(b, c->id, strlen(c->id));
        return;
    }
    const char *dash = strchr(j->id, '-');
    snprintf(own, sizeof own, "call_%s_%zu", dash ? dash + 1 : j->id, i);
    srv_buf_json_str(b, own, strlen(own));
}

/* With tools: split the reply into calls and content. If there are calls,
 * j->text becomes the content and j->calls their JSON (message.tool_calls);
 * a stream gets, after the content it has not seen yet, two chunks per call
 * in OpenAI's delta form: {index, id, type, function: {name, arguments: ""}}
 * then {index, function: {arguments}}. 1 if calls were found (under j->mu). */
static int split_tool_calls(job *j, const server *S)
{
    slm_tool_calls *tc = NULL;
    if (slm_tool_calls_parse(S->tool_format, j->text.p ? j->text.p : "", j->text.n, j->req.tools_json, &tc) != SLM_OK)
        return 0;
    if (tc->n_calls == 0) {
        slm_tool_calls_free(tc);
        return 0;
    }
    srv_buf *b = &j->calls;
    srv_buf_puts(b, "[");
    for (size_t i = 0; i < tc->n_calls; i++) {
        const slm_tool_call *c = &tc->calls[i];
        srv_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        call_id_json(b, j, c, i);
        srv_buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
        srv_buf_json_str(b, c->name, strlen(c->name));
        srv_buf_puts(b, ",\"arguments\":");
        srv_buf_json_str(b, c->arguments, strlen(c->arguments));
        srv_buf_puts(b, "}}");
    }
    srv_buf_puts(b, "]");
    if (j->req.stream) {
        /* The content streamed so far is a prefix of the reply before the
         * first call; tc->content is the trimmed text outside the calls.
         * Send what the client has not seen: tc->content after its common
         * prefix with the streamed text (leading whitespace skipped). */
        size_t s0 = 0, k = 0;
        while (s0 < j->streamed && (j->text.p[s0] == ' ' || j->text.p[s0] == '\n' || j->text.p[s0] == '\t' ||
                                    j->text.p[s0] == '\r'))
            s0++;
        while (k < tc->content_len && s0 + k < j->streamed && tc->content[k] == j->text.p[s0 + k]) k++;
        if (k < tc->content_len) sse_chunk(j, S, tc->content + k, tc->content_len - k, NULL, 0);
        for (size_t i = 0; i < tc->n_calls; i++) {
            const slm_tool_call *c = &tc->calls[i];
            for (int part = 0; part < 2; part++) {
                b = &j->sse;
                srv_buf_puts(b, "data: ");
                head_json(b, S, j, "chat.completion.chunk");
                srv_buf_printf(b, ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":%zu,", i);
                if (part == 0) {
                    srv_buf_puts(b, "\"id\":");
                    call_id_json(b, j, c, i);
                    srv_buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
                    srv_buf_json_str(b, c->name, strlen(c->name));
                    srv_buf_puts(b, ",\"arguments\":\"\"}");
                } else {
                    srv_buf_puts(b, "\"function\":{\"arguments\":");
                    srv_buf_json_str(b, c->arguments, strlen(c->arguments));
                    srv_buf_puts(b, "}");
                }
                srv_buf_puts(b, "}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            }
        }
    }
    j->text.n = 0;
    srv_buf_append(&j->text, tc->content, tc->content_len);
    j->streamed = j->text.n; /* nothing more to stream */
    slm_tool_calls_free(tc);
    return 1;
}

/* Record the end of sl's job (finish reason or j->failed), publish the
 * final SSE events, and free the slot. */
static void slot_end(slot *sl, const char *finish)
{
    server *S = sl->S;
    job *j = sl->j;
    double t_end = cli_now_ms();
    slm_sampler_free(sl->smp);
    sl->smp = NULL;
    slm_grammar_free(sl->gram);
    sl->gram = NULL;
    srv_metrics_generation(S->metrics, sl->t_first >= 0 ? sl->t_first - j->t_arrive : -1, (int32_t)j->n_ids,
                           j->n_gen, sl->t_gen0 >= 0 ? t_end - sl->t_gen0 : 0);
    pthread_mutex_lock(&j->mu);
    if (j->req.tools_json && !j->failed && strcmp(finish, "cancelled") != 0 && split_tool_calls(j, S))
        finish = "tool_calls";
    snprintf(j->finish, sizeof j->finish, "%s", finish);
    if (j->req.stream) {
        if (j->failed) {
            srv_buf_puts(&j->sse, "data: ");
            srv_error_json(&j->err, &j->sse);
            srv_buf_puts(&j->sse, "\n\n");
        } else {
            stream_text(j, S, 1);
            sse_chunk(j, S, NULL, 0, finish, 0);
            if (j->req.include_usage) {
                srv_buf_puts(&j->sse, "data: ");
                head_json(&j->sse, S, j, j->req.kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion");
                srv_buf_puts(&j->sse, ",\"choices\":[],");
                usage_json(&j->sse, (int32_t)j->n_ids, j->n_gen);
                srv_buf_puts(&j->sse, "}\n\n");
            }
        }
        srv_buf_puts(&j->sse, "data: [DONE]\n\n");
    }
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    sl->j = NULL;
    sl->n_feed = 0;
    job_release(j);
    pthread_mutex_lock(&S->mu);
    S->busy--;
    pthread_mutex_unlock(&S->mu);
}

/* The KV cache no longer matches hist (a failed step): forget it. */
static void slot_reset(slot *sl)
{
    sl->n_hist = 0;
    slm_session_truncate(sl->sess, 0);
}

static int timed_out(const server *S, const job *j)
{
    return S->cfg->timeout_s > 0 && cli_now_ms() - j->t_arrive > S->cfg->timeout_s * 1e3;
}

/* Give job j to the idle slot sl: set up sampling and the prompt tokens to
 * evaluate in the next step (only those after the prefix the slot's cache
 * already holds; at least the last one, for its logits). 0 if the job ends
 * here (cancelled, timed out, bad sampler). */
static int slot_start(slot *sl, job *j)
{
    server *S = sl->S;
    sl->j = j;
    sl->smp = NULL;
    sl->t_start = cli_now_ms();
    sl->t_first = -1;
    sl->t_gen0 = -1;
    sl->n_feed = 0;
    if (atomic_load(&j->cancel)) {
        slot_end(sl, "cancelled");
        return 0;
    }
    if (timed_out(S, j)) {
        job_fail(j, 503, "timeout_error", "timeout", "the request waited longer than --timeout for a slot");
        slot_end(sl, "length");
        return 0;
    }
    for (int i = 0; i < j->req.n_stop; i++) {
        size_t k = strlen(j->req.stop[i]);
        if (k > j->max_stop) j->max_stop = k;
    }
    if (slm_sampler_new(&j->req.sp, &sl->smp) != SLM_OK) {
        job_fail(j, 400, "invalid_request_error", NULL, slm_last_error());
        slot_end(sl, "length");
        return 0;
    }
    if (j->req.grammar) {
        slm_status st = slm_grammar_new(S->model, j->req.grammar, strlen(j->req.grammar), NULL, &sl->gram);
        if (st != SLM_OK || (!sl->masked && !(sl->masked = malloc((size_t)slm_model_n_vocab(S->model) * sizeof(float))))) {
            job_fail(j, st == SLM_ERR_NOMEM || st == SLM_OK ? 500 : 400, st == SLM_ERR_NOMEM || st == SLM_OK ?
                     "server_error" : "invalid_request_error", NULL, st == SLM_OK ? "out of memory" : slm_last_error());
            slot_end(sl, "length");
            return 0;
        }
    }
    if (j->req.max_tokens <= 0) {
        slot_end(sl, "length");
        return 0;
    }
    size_t common = 0;
    while (common < sl->n_hist && common < j->n_ids && sl->hist[common] == j->ids[common]) common++;
    if (common == j->n_ids) common--;
    slm_session_truncate(sl->sess, (uint32_t)common);
    memcpy(sl->hist + common, j->ids + common, (j->n_ids - common) * sizeof *j->ids);
    sl->n_hist = j->n_ids;
    sl->feed = j->ids + common;
    sl->n_feed = j->n_ids - common;
    S->prompt_reused += common;
    for (size_t i = 0; i < j->n_ids; i++) slm_sampler_accept(sl->smp, j->ids[i]);
    if (j->req.stream && j->req.kind == SRV_CHAT) {
        pthread_mutex_lock(&j->mu);
        sse_chunk(j, S, NULL, 0, NULL, 1);
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
    return 1;
}

/* After a step that evaluated sl's tokens: sample the next token from its
 * logits, append its text (stop strings, streaming), and either feed it to
 * the next step or end the job. */
static void slot_next(slot *sl)
{
    server *S = sl->S;
    job *j = sl->j;
    char piece[256];
    if (sl->t_gen0 < 0) sl->t_gen0 = cli_now_ms();
    if (atomic_load(&j->cancel)) {
        slot_end(sl, "cancelled");
        return;
    }
    if (timed_out(S, j)) {
        pthread_mutex_lock(&j->mu);
        job_fail(j, 503, "timeout_error", "timeout", "generation exceeded the per-request --timeout");
        pthread_mutex_unlock(&j->mu);
        slot_end(sl, "length");
        return;
    }
    const float *logits = slm_session_last_logits(sl->sess);
    const int32_t n_vocab = slm_model_n_vocab(S->model);
    if (logits && sl->gram) {
        /* response_format: only tokens that keep the output valid */
        memcpy(sl->masked, logits, (size_t)n_vocab * sizeof(float));
        if (slm_grammar_apply(sl->gram, sl->masked, n_vocab) != SLM_OK) {
            job_fail(j, 500, "server_error", NULL, slm_last_error());
            slot_end(sl, "length");
            return;
        }
        int any = 0;
        for (int32_t t = 0; t < n_vocab && !any; t++) any = sl->masked[t] != -INFINITY;
        if (!any) { /* no token can continue the grammar */
            slot_end(sl, "stop");
            return;
        }
        logits = sl->masked;
    }
    int32_t tok = logits ? slm_sampler_sample(sl->smp, logits, n_vocab) : -1;
    if (tok < 0) {
        job_fail(j, 500, "server_error", NULL, "sampling failed");
        slot_end(sl, "length");
        return;
    }
    if (sl->t_first < 0) sl->t_first = cli_now_ms();
    slm_sampler_accept(sl->smp, tok);
    if ((!j->req.ignore_eos || sl->gram) && slm_token_is_eog(S->model, tok)) {
        slot_end(sl, "stop");
        return;
    }
    int gram_done = 0;
    if (sl->gram) {
        if (slm_grammar_accept(sl->gram, tok) != SLM_OK) {
            job_fail(j, 500, "server_error", NULL, slm_last_error());
            slot_end(sl, "length");
            return;
        }
        gram_done = slm_grammar_is_done(sl->gram);
    }
    j->n_gen++;
    /* With tools the text keeps control tokens written out: the tool-call
     * parser needs markers such as <|python_tag|> or [TOOL_CALLS]. */
    size_t n = slm_token_to_piece(S->model, tok, j->req.tools_json != NULL, piece, sizeof piece);
    if (n > sizeof piece) n = 0; /* no real vocabulary has 256-byte pieces */
    pthread_mutex_lock(&j->mu);
    size_t before = j->text.n;
    srv_buf_append(&j->text, piece, n);
    long at = j->max_stop ? find_stop(j, before > j->max_stop ? before - j->max_stop + 1 : 0) : -1;
    if (at >= 0) {
        j->text.n = (size_t)at;
        j->text.p[at] = '\0';
    }
    if (j->req.stream) stream_text(j, S, 0);
    int oom = j->text.oom || j->sse.oom;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (oom) {
        job_fail(j, 500, "server_error", NULL, "out of memory");
        slot_end(sl, "length");
        return;
    }
    if (at >= 0 || gram_done) {
        slot_end(sl, "stop");
        return;
    }
    /* the last token needs no evaluation */
    if (j->n_gen >= j->req.max_tokens || slm_session_n_past(sl->sess) >= S->n_ctx) {
        slot_end(sl, "length");
        return;
    }
    sl->tok = tok;
    sl->hist[sl->n_hist++] = tok;
    sl->feed = &sl->tok;
    sl->n_feed = 1;
}

/* The idle slot for job j: the one whose cache shares the longest prefix
 * with its prompt (prompt-prefix reuse), or NULL if all are busy. */
static slot *pick_slot(server *S, const job *j)
{
    slot *best = NULL;
    size_t best_common = 0;
    for (int i = 0; i < S->cfg->n_parallel; i++) {
        slot *sl = &S->slots[i];
        if (sl->j) continue;
        size_t c = 0;
        while (c < sl->n_hist && c < j->n_ids && sl->hist[c] == j->ids[c]) c++;
        if (!best || c > best_common) {
            best = sl;
            best_common = c;
        }
    }
    return best;
}

/* The scheduler (continuous batching). Each round: hand queued jobs to
 * idle slots, then run ONE slm_decode_multi over every busy slot — one
 * token for each generating slot, the (uncached part of the) prompt for
 * each new one — so every weight matrix is read once per round for all
 * streams, then sample each slot's next token. Slots join and leave
 * between rounds. Generating slots come first in the call, so a long new
 * prompt that overflows one forward of n_batch rows delays them by at most
 * that forward. */
static void *sched_main(void *arg)
{
    server *S = arg;
    const int np = S->cfg->n_parallel;
    for (;;) {
        pthread_mutex_lock(&S->mu);
        while (S->busy == 0 && !S->head && !S->stopping) pthread_cond_wait(&S->cv, &S->mu);
        if (S->busy == 0 && !S->head && S->stopping) {
            pthread_mutex_unlock(&S->mu);
            break;
        }
        int n_new = 0;
        while (S->head) {
            slot *sl = pick_slot(S, S->head);
            if (!sl) break;
            job *j = S->head;
            S->head = j->next;
            if (!S->head) S->tail = NULL;
            S->queued--;
            S->busy++;
            sl->j = j;     /* reserved; slot_start below fills it in */
            sl->n_feed = 0;
            S->fresh[n_new++] = sl;
        }
        pthread_mutex_unlock(&S->mu);
        update_gauges(S);
        for (int i = 0; i < n_new; i++) slot_start(S->fresh[i], S->fresh[i]->j);

        size_t k = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < np; i++) {
                slot *sl = &S->slots[i];
                if (!sl->j || !sl->n_feed || (pass == 0) != (sl->feed == &sl->tok)) continue;
                S->batch[k] = sl;
                S->b_sess[k] = sl->sess;
                S->b_ids[k] = sl->feed;
                S->b_n[k] = sl->n_feed;
                k++;
            }
        if (k == 0) continue;
        slm_status st = slm_decode_multi(S->b_sess, S->b_ids, S->b_n, k);
        if (st != SLM_OK) {
            char msg[300];
            snprintf(msg, sizeof msg, "decode failed (%s): %s", slm_status_name(st), slm_last_error());
            for (size_t i = 0; i < k; i++) {
                slot *sl = S->batch[i];
                slot_reset(sl);
                job_fail(sl->j, 500, "server_error", NULL, msg);
                slot_end(sl, "length");
            }
            continue;
        }
        S->steps++;
        S->step_rows += k;
        uint64_t rows = 0;
        for (size_t i = 0; i < k; i++) rows += S->b_n[i];
        for (size_t i = 0; i < k; i++) {
            S->batch[i]->n_feed = 0;
            slot_next(S->batch[i]);
        }
        uint64_t kv_used = 0;
        for (int i = 0; i < np; i++) kv_used += slm_session_n_past(S->slots[i].sess);
        srv_metrics_batch(S->metrics, k, rows, S->prompt_reused - S->reused_reported, kv_used,
                          (uint64_t)np * S->n_ctx);
        S->reused_reported = S->prompt_reused;
        update_gauges(S);
    }
    return NULL;
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *con, conn *c, int status, const char *type,
                             const char *body, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 405) MHD_add_response_header(r, "Allow", c->ep == SRV_EP_COMPLETIONS || c->ep == SRV_EP_CHAT ||
                                                            c->ep == SRV_EP_EMBEDDINGS ? "POST" : "GET, HEAD");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    c->status = status;
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *con, conn *c, int status, srv_buf *b)
{
    if (b->oom) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                                  "\"param\":null,\"code\":null}}\n";
        return reply(con, c, 500, "application/json", oom, sizeof oom - 1);
    }
    return reply(con, c, status, "application/json", b->p ? b->p : "", b->n);
}

static enum MHD_Result reply_error(struct MHD_Connection *con, conn *c, const srv_error *e)
{
    srv_buf b = {0};
    srv_error_json(e, &b);
    srv_buf_puts(&b, "\n");
    enum MHD_Result r = reply_json(con, c, e->status, &b);
    srv_buf_free(&b);
    return r;
}

static enum MHD_Result fail(struct MHD_Connection *con, conn *c, int status, const char *type,
                            const char *code, const char *msg)
{
    srv_error e;
    srv_error_set(&e, status, type, NULL, code, "%s", msg);
    return reply_error(con, c, &e);
}

static srv_endpoint route(const char *url)
{
    if (strcmp(url, "/health") == 0) return SRV_EP_HEALTH;
    if (strcmp(url, "/v1/models") == 0) return SRV_EP_MODELS;
    if (strcmp(url, "/v1/completions") == 0) return SRV_EP_COMPLETIONS;
    if (strcmp(url, "/v1/chat/completions") == 0) return SRV_EP_CHAT;
    if (strcmp(url, "/v1/embeddings") == 0) return SRV_EP_EMBEDDINGS;
    if (strcmp(url, "/metrics") == 0) return SRV_EP_METRICS;
    return SRV_EP_OTHER;
}

/* Compare the whole of both strings whatever they contain, so the time
 * taken says nothing about how much of a guessed key was right. */
static int key_equal(const char *given, const char *want)
{
    size_t ng = strlen(given), nw = strlen(want);
    unsigned char diff = (unsigned char)(ng != nw);
    for (size_t i = 0; i < nw; i++) diff |= (unsigned char)(want[i] ^ (i < ng ? given[i] : 0));
    return diff == 0;
}

static int authorized(const server *S, struct MHD_Connection *con)
{
    if (!S->cfg->api_key) return 1;
    const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
    return key_equal(h + 7, S->cfg->api_key);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    job *j = cls;
    (void)pos;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->sse_read < j->sse.n) {
            size_t k = j->sse.n - j->sse_read;
            if (k > max) k = max;
            memcpy(buf, j->sse.p + j->sse_read, k);
            j->sse_read += k;
            pthread_mutex_unlock(&j->mu);
            return (ssize_t)k;
        }
        if (j->done) {
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        wait_ms(&j->cv, &j->mu, 200);
        if (!j->done && j->sse_read == j->sse.n && peer_closed(j->fd)) {
            atomic_store(&j->cancel, 1);
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void sse_free(void *cls)
{
    job *j = cls;
    pthread_mutex_lock(&j->mu);
    int unfinished = !j->done || j->sse_read < j->sse.n;
    pthread_mutex_unlock(&j->mu);
    if (unfinished) atomic_store(&j->cancel, 1);
    job_release(j);
}

/* Replace r->prompt (ChatML) by the model's template rendered over the
 * messages, as transformers' apply_chat_template with add_generation_prompt.
 * 0 ok; -1 with *e set: 400 when the template rejects the conversation
 * (raise_exception, e.g. roles that do not alternate), 500 otherwise. */
static int render_template(const server *S, srv_request *r, srv_error *e)
{
    srv_buf ctx = {0};
    srv_buf_puts(&ctx, "{\"messages\":");
    srv_buf_puts(&ctx, r->messages_json);
    if (r->tools_json) {
        srv_buf_puts(&ctx, ",\"tools\":");
        srv_buf_puts(&ctx, r->tools_json);
    }
    srv_buf_puts(&ctx, ",\"add_generation_prompt\":true,\"bos_token\":");
    srv_buf_json_str(&ctx, S->bos, strlen(S->bos));
    srv_buf_puts(&ctx, ",\"eos_token\":");
    srv_buf_json_str(&ctx, S->eos, strlen(S->eos));
    srv_buf_puts(&ctx, "}");
    if (ctx.oom) {
        srv_buf_free(&ctx);
        srv_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    char *out = NULL;
    size_t n = 0;
    slm_status st = slm_chat_template_render(S->chat_template, strlen(S->chat_template), ctx.p, ctx.n, &out, &n);
    srv_buf_free(&ctx);
    if (st != SLM_OK) {
        if (st == SLM_ERR_FORMAT)
            srv_error_set(e, 400, "invalid_request_error", "messages", "chat_template_error",
                          "the model's chat template rejected the messages: %s", slm_last_error());
        else
            srv_error_set(e, 500, "server_error", NULL, "chat_template_error",
                          "cannot render the model's chat template (%s): %s", slm_status_name(st),
                          slm_last_error());
        return -1;
    }
    char *copy = malloc(n + 1);
    if (!copy) {
        slm_chat_free(out);
        srv_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    memcpy(copy, out, n);
    copy[n] = '\0';
    slm_chat_free(out);
    free(r->prompt);
    r->prompt = copy;
    r->prompt_len = n;
    return 0;
}

/* tool_choice "required" or a named function: r->grammar becomes the GBNF
 * of exactly one call, in the template's tool-call syntax, to one of
 * r->forced_tools_json. 0 ok; -1 with *e set (400 when the format cannot be
 * constrained or a tool's parameter schema cannot be converted). */
static int forced_tool_grammar(const server *S, srv_request *r, srv_error *e)
{
    char *g = NULL;
    slm_status st = !S->tool_forceable ? SLM_ERR_UNSUPPORTED
                                       : slm_tool_calls_grammar(S->tool_format, r->forced_tools_json, &g);
    if (st == SLM_OK) {
        r->grammar = malloc(strlen(g) + 1);
        if (r->grammar) memcpy(r->grammar, g, strlen(g) + 1);
        slm_chat_free(g);
        if (r->grammar) return 0;
        st = SLM_ERR_NOMEM;
    }
    if (st == SLM_ERR_NOMEM)
        srv_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
    else if (S->tool_format == SLM_TOOL_FORMAT_NONE)
        srv_error_set(e, 400, "invalid_request_error", "tool_choice", "unsupported_tool_choice",
                      "'tool_choice' forces a tool call, but %s has no tool-call syntax this server knows",
                      S->chat_template ? "the model's chat template" : "the ChatML fallback (the model has no chat template)");
    else if (!S->tool_forceable)
        srv_error_set(e, 400, "invalid_request_error", "tool_choice", "unsupported_tool_choice",
                      "'tool_choice' can force a call only in the tool-call formats %s; this model's chat template "
                      "writes '%s' calls",
                      S->forceable, slm_tool_format_name(S->tool_format));
    else
        srv_error_set(e, 400, "invalid_request_error", "tools", NULL, "cannot constrain the reply to a tool call (%s): %s",
                      slm_status_name(st), slm_last_error());
    return -1;
}

static enum MHD_Result generate(server *S, struct MHD_Connection *con, conn *c)
{
    srv_error e;
    srv_limits lim = {S->cfg->max_tokens, S->cfg->model_id};
    job *j = job_new();
    if (!j) return fail(con, c, 500, "server_error", NULL, "out of memory");
    c->job = j;
    if (srv_request_parse(c->body.p ? c->body.p : "", c->body.n, c->ep == SRV_EP_CHAT ? SRV_CHAT : SRV_COMPLETION,
                          &lim, &j->req, &e))
        return reply_error(con, c, &e);

    int add_special = 1;
    if (j->req.kind == SRV_CHAT && S->chat_template) {
        int r = render_template(S, &j->req, &e);
        if (r < 0) return reply_error(con, c, &e);
        /* A template that writes bos_token itself must not get a second one. */
        if (S->bos[0] && strncmp(j->req.prompt, S->bos, strlen(S->bos)) == 0) add_special = 0;
    }
    if (j->req.forced_tools_json && forced_tool_grammar(S, &j->req, &e)) return reply_error(con, c, &e);
    size_t n = 0, cap = j->req.prompt_len + 8;
    if (!(j->ids = malloc(cap * sizeof *j->ids))) return fail(con, c, 500, "server_error", NULL, "out of memory");
    slm_status st = slm_tokenize(S->model, j->req.prompt, j->req.prompt_len, add_special, 1, j->ids, cap, &n);
    if (st == SLM_ERR_FULL) {
        free(j->ids);
        cap = n;
        if (!(j->ids = malloc(cap * sizeof *j->ids))) return fail(con, c, 500, "server_error", NULL, "out of memory");
        st = slm_tokenize(S->model, j->req.prompt, j->req.prompt_len, add_special, 1, j->ids, cap, &n);
    }
    if (st != SLM_OK) return fail(con, c, 400, "invalid_request_error", NULL, slm_last_error());
    j->n_ids = n;
    if (n == 0)
        return fail(con, c, 400, "invalid_request_error", NULL,
                    "the prompt is empty and the model adds no BOS token: nothing to evaluate");
    if (n >= S->n_ctx) {
        srv_error_set(&e, 400, "invalid_request_error", c->ep == SRV_EP_CHAT ? "messages" : "prompt",
                      "context_length_exceeded",
                      "the prompt has %zu tokens; this server's context holds %u (prompt and output)", n, S->n_ctx);
        return reply_error(con, c, &e);
    }
    int32_t room = (int32_t)(S->n_ctx - n);
    if (j->req.max_tokens < 0) {
        j->req.max_tokens = c->ep == SRV_EP_CHAT ? S->cfg->max_tokens : 16; /* OpenAI's completions default */
        if (j->req.max_tokens > S->cfg->max_tokens) j->req.max_tokens = S->cfg->max_tokens;
    }
    if (j->req.max_tokens > room) j->req.max_tokens = room; /* finish_reason "length" at a full context */

    unsigned long long id = atomic_fetch_add(&S->next_id, 1);
    snprintf(j->id, sizeof j->id, "%s-%llx%06llx", c->ep == SRV_EP_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)time(NULL), id & 0xffffff);
    j->created = (long long)time(NULL);
    j->t_arrive = c->t0;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->fd = ci ? ci->connect_fd : -1;

    /* Deterministic non-streaming requests may be answered from the cache. */
    srv_buf key = {0};
    int cacheable = !j->req.stream && !j->req.tools_json && srv_request_deterministic(&j->req) &&
                    S->cfg->cache_bytes > 0;
    if (cacheable) {
        srv_request_canonical(&j->req, &key);
        srv_cached hit;
        if (!key.oom && srv_cache_get(S->cache, key.p, key.n, &hit)) {
            srv_buf b = {0};
            result_json(&b, S, j, hit.text, hit.text_len, hit.finish, hit.n_prompt, hit.n_gen);
            free(hit.text);
            srv_buf_free(&key);
            enum MHD_Result r = reply_json(con, c, 200, &b);
            srv_buf_free(&b);
            return r;
        }
    }

    pthread_mutex_lock(&S->mu);
    /* Jobs not yet taken by an idle slot count against the queue. */
    if (S->queued >= S->cfg->queue_cap + (S->cfg->n_parallel - S->busy)) {
        pthread_mutex_unlock(&S->mu);
        srv_buf_free(&key);
        return fail(con, c, 429, "rate_limit_error", "queue_full",
                    "the server is busy: every slot is generating and the queue is full; retry later");
    }
    job_retain(j); /* the worker's reference */
    if (S->tail) S->tail->next = j;
    else S->head = j;
    S->tail = j;
    S->queued++;
    pthread_cond_signal(&S->cv);
    pthread_mutex_unlock(&S->mu);
    update_gauges(S);

    if (j->req.stream) {
        srv_buf_free(&key);
        job_retain(j); /* the response's reference, dropped by sse_free */
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, j, sse_free);
        if (!r) {
            atomic_store(&j->cancel, 1);
            job_release(j);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ret = MHD_queue_response(con, 200, r);
        MHD_destroy_response(r);
        c->status = 200;
        return ret;
    }

    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        wait_ms(&j->cv, &j->mu, 200);
        if (!j->done && peer_closed(j->fd)) {
            atomic_store(&j->cancel, 1);
            pthread_mutex_unlock(&j->mu);
            srv_buf_free(&key);
            return MHD_NO; /* nobody to answer; the worker drops the job */
        }
    }
    pthread_mutex_unlock(&j->mu);
    enum MHD_Result ret;
    if (j->failed) {
        ret = reply_error(con, c, &j->err);
    } else {
        srv_buf b = {0};
        result_json(&b, S, j, j->text.p ? j->text.p : "", j->text.n, j->finish, (int32_t)j->n_ids, j->n_gen);
        if (cacheable && !key.oom && strcmp(j->finish, "cancelled") != 0)
            srv_cache_put(S->cache, key.p, key.n, j->text.p ? j->text.p : "", j->text.n, j->finish,
                          (int32_t)j->n_ids, j->n_gen);
        ret = reply_json(con, c, 200, &b);
        srv_buf_free(&b);
    }
    srv_buf_free(&key);
    return ret;
}

/* POST /v1/embeddings: each input's final-norm hidden states, mean-pooled
 * and L2-normalized (slm_session_embed), on a session of its own created at
 * first use, one request at a time (the generation slots are not
 * disturbed). */
static enum MHD_Result embeddings(server *S, struct MHD_Connection *con, conn *c)
{
    srv_error e;
    srv_embed_request r;
    if (srv_embed_parse(c->body.p ? c->body.p : "", c->body.n, &r, &e)) return reply_error(con, c, &e);
    const int32_t n_vocab = slm_model_n_vocab(S->model), E = slm_model_n_embd(S->model);
    enum MHD_Result ret;
    int32_t *ids = NULL;
    float *vec = malloc((size_t)E * sizeof *vec);
    size_t cap = 0, n_total = 0;
    srv_buf b = {0};
    if (!vec) {
        srv_embed_free(&r);
        return fail(con, c, 500, "server_error", NULL, "out of memory");
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    const int fd = ci ? ci->connect_fd : -1;
    srv_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    pthread_mutex_lock(&S->emb_mu);
    if (!S->emb) {
        slm_session_params sp = slm_session_default_params();
        sp.n_ctx = S->n_ctx;
        sp.n_threads = S->cfg->n_threads;
        if (slm_session_new(S->model, &sp, &S->emb) != SLM_OK) {
            srv_error_set(&e, 500, "server_error", NULL, NULL, "cannot create the embedding session: %s",
                          slm_last_error());
            goto fail;
        }
    }
    for (size_t i = 0; i < r.n; i++) {
        const srv_embed_input *in = &r.in[i];
        /* a client that left cancels, and --timeout bounds embeddings too
         * (both checked between inputs; the wait for emb_mu counts) */
        if (i > 0 && peer_closed(fd)) {
            pthread_mutex_unlock(&S->emb_mu);
            ret = MHD_NO; /* nobody to answer */
            goto out;
        }
        if (S->cfg->timeout_s > 0 && cli_now_ms() - c->t0 > S->cfg->timeout_s * 1e3) {
            srv_error_set(&e, 503, "timeout_error", NULL, "timeout",
                          "embedding %zu inputs exceeded the per-request --timeout (after %zu)", r.n, i);
            goto fail;
        }
        const int32_t *tok = in->ids;
        size_t n = in->n_ids;
        if (in->text) {
            if (cap < in->len + 8) {
                free(ids);
                cap = in->len + 8;
                if (!(ids = malloc(cap * sizeof *ids))) {
                    srv_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
                    goto fail;
                }
            }
            slm_status st = slm_tokenize(S->model, in->text, in->len, 1, 0, ids, cap, &n);
            if (st == SLM_ERR_FULL) { /* more tokens than bytes + 8: grow once */
                free(ids);
                cap = n;
                if (!(ids = malloc(cap * sizeof *ids))) {
                    srv_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
                    goto fail;
                }
                st = slm_tokenize(S->model, in->text, in->len, 1, 0, ids, cap, &n);
            }
            if (st != SLM_OK) {
                srv_error_set(&e, 400, "invalid_request_error", "input", NULL, "input %zu: %s", i, slm_last_error());
                goto fail;
            }
            tok = ids;
        }
        for (size_t t = 0; t < n; t++)
            if (tok[t] >= n_vocab) {
                srv_error_set(&e, 400, "invalid_request_error", "input", NULL,
                              "input %zu: token id %d outside the vocabulary [0, %d)", i, (int)tok[t], (int)n_vocab);
                goto fail;
            }
        if (n == 0 || n > S->n_ctx) {
            srv_error_set(&e, 400, "invalid_request_error", "input", n ? "context_length_exceeded" : NULL,
                          "input %zu has %zu tokens; this server embeds 1 to %u", i, n, S->n_ctx);
            goto fail;
        }
        slm_status st = slm_session_embed(S->emb, tok, n, SLM_POOLING_MEAN, 1, vec);
        if (st != SLM_OK) {
            srv_error_set(&e, 500, "server_error", NULL, NULL, "embedding failed (%s): %s", slm_status_name(st),
                          slm_last_error());
            goto fail;
        }
        n_total += n;
        srv_buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (r.base64) {
            srv_buf_puts(&b, "\"");
            srv_buf_base64(&b, vec, (size_t)E * sizeof *vec); /* float32, little-endian on our targets */
            srv_buf_puts(&b, "\"");
        } else {
            srv_buf_puts(&b, "[");
            for (int32_t j = 0; j < E; j++) srv_buf_printf(&b, "%s%.9g", j ? "," : "", (double)vec[j]);
            srv_buf_puts(&b, "]");
        }
        srv_buf_puts(&b, "}");
    }
    pthread_mutex_unlock(&S->emb_mu);
    srv_buf_puts(&b, "],\"model\":");
    srv_buf_json_str(&b, S->cfg->model_id, strlen(S->cfg->model_id));
    srv_buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}\n", n_total, n_total);
    ret = reply_json(con, c, 200, &b);
    goto out;
fail:
    pthread_mutex_unlock(&S->emb_mu);
    ret = reply_error(con, c, &e);
out:
    srv_buf_free(&b);
    srv_embed_free(&r);
    free(ids);
    free(vec);
    return ret;
}

static enum MHD_Result handle_get(server *S, struct MHD_Connection *con, conn *c)
{
    srv_buf b = {0};
    enum MHD_Result r;
    if (c->ep == SRV_EP_HEALTH) {
        srv_buf_printf(&b, "{\"status\":\"%s\"}\n", srv_metrics_degraded(S->metrics) ? "degraded" : "ok");
        r = reply_json(con, c, 200, &b);
    } else if (c->ep == SRV_EP_MODELS) {
        srv_buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
        srv_buf_json_str(&b, S->cfg->model_id, strlen(S->cfg->model_id));
        srv_buf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"slm\",\"meta\":{\"arch\":",
                       (long long)time(NULL));
        const char *arch = slm_model_arch(S->model);
        srv_buf_json_str(&b, arch, strlen(arch));
        srv_buf_printf(&b, ",\"n_ctx\":%u,\"n_ctx_train\":%d,\"n_vocab\":%d,\"n_params\":%llu}}]}\n", S->n_ctx,
                       (int)slm_model_n_ctx_train(S->model), (int)slm_model_n_vocab(S->model),
                       (unsigned long long)slm_model_n_params(S->model));
        r = reply_json(con, c, 200, &b);
    } else {
        update_gauges(S);
        srv_metrics_render(S->metrics, S->cache, &b);
        r = b.oom ? fail(con, c, 500, "server_error", NULL, "out of memory")
                  : reply(con, c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.n);
    }
    srv_buf_free(&b);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    server *S = cls;
    conn *c = *ctx;
    (void)version;
    if (!c) {
        if (!(c = calloc(1, sizeof *c))) return MHD_NO;
        *ctx = c;
        c->t0 = cli_now_ms();
        c->ep = route(url);
        c->counted = 1;
        atomic_fetch_add(&S->inflight, 1);
        int is_post = strcmp(method, "POST") == 0;
        int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        int wants_post = c->ep == SRV_EP_COMPLETIONS || c->ep == SRV_EP_CHAT || c->ep == SRV_EP_EMBEDDINGS;
        if (atomic_load(&S->draining))
            return fail(con, c, 503, "server_error", "shutting_down", "the server is shutting down");
        if (c->ep == SRV_EP_OTHER) {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown path '%.120s'", url);
            return fail(con, c, 404, "invalid_request_error", "not_found", msg);
        }
        if (wants_post ? !is_post : !is_get) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s needs %s, not %.20s", url, wants_post ? "POST" : "GET", method);
            return fail(con, c, 405, "invalid_request_error", "method_not_allowed", msg);
        }
        if (c->ep != SRV_EP_HEALTH && !authorized(S, con))
            return fail(con, c, 401, "invalid_request_error", "invalid_api_key",
                        "missing or wrong API key (send 'Authorization: Bearer KEY')");
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > S->cfg->max_body_bytes) c->too_large = 1;
        if (c->too_large) goto too_large;
        if (!is_post) return handle_get(S, con, c);
        return MHD_YES; /* the body follows */
    }
    if (*upload_size) {
        if (!c->too_large && c->body.n + *upload_size <= S->cfg->max_body_bytes)
            srv_buf_append(&c->body, upload, *upload_size);
        else
            c->too_large = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->too_large) goto too_large;
    if (c->body.oom) return fail(con, c, 500, "server_error", NULL, "out of memory");
    if (c->ep == SRV_EP_EMBEDDINGS) return embeddings(S, con, c);
    return generate(S, con, c);

too_large:;
    char msg[160];
    snprintf(msg, sizeof msg, "the request body is larger than this server's limit of %llu bytes (--max-body)",
             (unsigned long long)S->cfg->max_body_bytes);
    return fail(con, c, 413, "invalid_request_error", "request_too_large", msg);
}

static void completed(void *cls, struct MHD_Connection *con, void **ctx, enum MHD_RequestTerminationCode toe)
{
    server *S = cls;
    conn *c = *ctx;
    (void)con;
    if (!c) return;
    if (c->job && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) atomic_store(&c->job->cancel, 1);
    srv_metrics_request(S->metrics, c->ep, c->status, cli_now_ms() - c->t0);
    job_release(c->job);
    srv_buf_free(&c->body);
    if (c->counted) atomic_fetch_sub(&S->inflight, 1);
    free(c);
    *ctx = NULL;
}

/* ---- lifecycle ---- */

static int parse_host(const char *host, int port, struct sockaddr_storage *ss, int *v6)
{
    memset(ss, 0, sizeof *ss);
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = 1;
        return 0;
    }
    return -1;
}

int srv_run(slm_model *model, const srv_config *cfg)
{
    server S;
    memset(&S, 0, sizeof S);
    S.cfg = cfg;
    S.model = model;
    pthread_mutex_init(&S.mu, NULL);
    pthread_mutex_init(&S.emb_mu, NULL);
    pthread_cond_init(&S.cv, NULL);
    atomic_init(&S.draining, 0);
    atomic_init(&S.inflight, 0);
    atomic_init(&S.next_id, 1);
    int rc = 1, n_started = 0;
    struct MHD_Daemon *d = NULL;
    const size_t np = (size_t)cfg->n_parallel;
    slot *slots = calloc(np, sizeof *slots);
    S.slots = slots;
    S.fresh = calloc(np, sizeof *S.fresh);
    S.batch = calloc(np, sizeof *S.batch);
    S.b_sess = calloc(np, sizeof *S.b_sess);
    S.b_ids = calloc(np, sizeof *S.b_ids);
    S.b_n = calloc(np, sizeof *S.b_n);
    S.metrics = srv_metrics_new(&cfg->alerts);
    S.cache = srv_cache_new(cfg->cache_bytes);
    if (!slots || !S.fresh || !S.batch || !S.b_sess || !S.b_ids || !S.b_n || !S.metrics || !S.cache) {
        fprintf(stderr, "slm serve: out of memory\n");
        goto done;
    }
    for (int i = 0; i < cfg->n_parallel; i++) {
        slm_session_params sp = slm_session_default_params();
        sp.n_ctx = cfg->n_ctx;
        sp.n_threads = cfg->n_threads;
        slm_status st = slm_session_new(model, &sp, &slots[i].sess);
        if (st != SLM_OK) {
            cli_fail("serve", "cannot create a session", st);
            goto done;
        }
        S.n_ctx = slm_session_n_ctx(slots[i].sess);
        if (!(slots[i].hist = malloc((size_t)S.n_ctx * sizeof *slots[i].hist))) {
            fprintf(stderr, "slm serve: out of memory\n");
            goto done;
        }
        slots[i].S = &S;
        slots[i].index = i;
    }
    if (pthread_create(&S.sched, NULL, sched_main, &S) != 0) {
        fprintf(stderr, "slm serve: cannot start the scheduler thread\n");
        goto done;
    }
    n_started = 1;

    const char *tmpl = NULL;
    if (cfg->chat_template) tmpl = cfg->chat_template;
    else if (cfg->chatml || slm_model_chat_template(model, &tmpl) != SLM_OK) tmpl = NULL;
    if (tmpl && tmpl[0]) {
        S.chat_template = tmpl;
        S.tool_format = slm_tool_format_detect(tmpl, strlen(tmpl));
        /* which formats can a call be forced in? (probe with one trivial tool) */
        static const char probe[] = "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                                    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}]";
        for (int f = SLM_TOOL_FORMAT_NONE + 1; f < SLM_TOOL_FORMAT_COUNT; f++) {
            char *g = NULL;
            if (slm_tool_calls_grammar((slm_tool_format)f, probe, &g) != SLM_OK) continue;
            slm_chat_free(g);
            if (f == (int)S.tool_format) S.tool_forceable = 1;
            size_t k = strlen(S.forceable);
            snprintf(S.forceable + k, sizeof S.forceable - k, "%s%s", k ? ", " : "", slm_tool_format_name((slm_tool_format)f));
        }
        int32_t bos = slm_token_bos(model), eos = slm_token_eos(model);
        size_t k;
        if (bos >= 0 && (k = slm_token_to_piece(model, bos, 1, S.bos, sizeof S.bos - 1)) < sizeof S.bos) S.bos[k] = '\0';
        else S.bos[0] = '\0';
        if (eos >= 0 && (k = slm_token_to_piece(model, eos, 1, S.eos, sizeof S.eos - 1)) < sizeof S.eos) S.eos[k] = '\0';
        else S.eos[0] = '\0';
    }

    struct sockaddr_storage ss;
    int v6 = 0;
    if (parse_host(cfg->host, cfg->port, &ss, &v6)) {
        fprintf(stderr, "slm serve: --host '%s' is not an IPv4 or IPv6 address\n", cfg->host);
        goto done;
    }
    unsigned limit = (unsigned)(2 * (cfg->queue_cap + cfg->n_parallel) + 16);
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                             MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
                         0, NULL, NULL, handle, &S, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, &S, MHD_OPTION_CONNECTION_LIMIT, limit,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "slm serve: cannot listen on %s:%d: %s\n", cfg->host, cfg->port, strerror(errno));
        goto done;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "slm serve: listening on http://%s%s%s:%u (model '%s', %d slot%s, context %u, chat: %s)\n",
            v6 ? "[" : "", cfg->host, v6 ? "]" : "", di ? di->port : (unsigned)cfg->port, cfg->model_id,
            cfg->n_parallel, cfg->n_parallel == 1 ? "" : "s", S.n_ctx,
            cfg->chat_template ? "--chat-template" : S.chat_template ? "the model's template" : "ChatML");

    /* Wait for SIGTERM/SIGINT (blocked in every thread), checking alerts each second. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    struct timespec second = {1, 0};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &second);
        if (sig == SIGTERM || sig == SIGINT) {
            fprintf(stderr, "slm serve: %s: draining %d request%s\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                    atomic_load(&S.inflight), atomic_load(&S.inflight) == 1 ? "" : "s");
            break;
        }
        update_gauges(&S);
        srv_metrics_check_alerts(S.metrics);
    }
    atomic_store(&S.draining, 1);
    rc = 0;
    struct timespec tick = {0, 100 * 1000000L};
    double deadline = cli_now_ms() + (cfg->timeout_s > 0 ? cfg->timeout_s : 600) * 1e3 + 5e3;
    while (atomic_load(&S.inflight) > 0) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT || cli_now_ms() > deadline) {
            fprintf(stderr, "slm serve: %s: stopping without waiting for %d request%s\n",
                    sig > 0 ? "second signal" : "drain timeout", atomic_load(&S.inflight),
                    atomic_load(&S.inflight) == 1 ? "" : "s");
            rc = 1;
            pthread_mutex_lock(&S.mu);
            for (job *j = S.head; j; j = j->next) atomic_store(&j->cancel, 1);
            pthread_mutex_unlock(&S.mu);
            break;
        }
    }

done:
    if (d) MHD_stop_daemon(d);
    pthread_mutex_lock(&S.mu);
    S.stopping = 1;
    for (job *j = S.head; j; j = j->next) atomic_store(&j->cancel, 1);
    pthread_cond_broadcast(&S.cv);
    pthread_mutex_unlock(&S.mu);
    if (n_started) pthread_join(S.sched, NULL);
    if (slots)
        for (int i = 0; i < cfg->n_parallel; i++) {
            slm_session_free(slots[i].sess);
            free(slots[i].hist);
            free(slots[i].masked);
        }
    free(slots);
    free(S.fresh);
    free(S.batch);
    free(S.b_sess);
    free(S.b_ids);
    free(S.b_n);
    slm_session_free(S.emb);
    pthread_mutex_destroy(&S.emb_mu);
    if (S.steps)
        fprintf(stderr, "slm serve: %llu batched steps, %.2f sequences per step, %llu prompt tokens reused\n",
                (unsigned long long)S.steps, (double)S.step_rows / (double)S.steps,
                (unsigned long long)S.prompt_reused);
    srv_cache_free(S.cache);
    srv_metrics_free(S.metrics);
    pthread_cond_destroy(&S.cv);
    pthread_mutex_destroy(&S.mu);
    if (rc == 0) fprintf(stderr, "slm serve: stopped\n");
    return rc;
}

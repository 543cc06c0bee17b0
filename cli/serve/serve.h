/* serve.h — the pieces of `slm serve` (an OpenAI-compatible HTTP server on
 * libmicrohttpd + cJSON), shared by the files of cli/serve/ and cli/cmd_serve.c:
 *   buf.c      growable byte buffers and JSON string escaping
 *   openai.c   request JSON -> srv_request validation (the fuzzed trust
 *              boundary), error and response bodies
 *   cache.c    exact-response LRU cache for deterministic requests
 *   metrics.c  counters, histograms, Prometheus text, alerts from --config
 *   http.c     the daemon: routing, auth, body limits, slots, the job queue,
 *              the continuous-batching scheduler (one slm_decode_multi per
 *              step over all busy slots), tools and response_format,
 *              embeddings, streaming, disconnects, draining on SIGTERM
 * Only the public slm.h is used. Nothing here prints except http.c's log
 * lines and alert messages on stderr. */
#ifndef SLM_SERVE_H
#define SLM_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* ---- byte buffers (buf.c) ---- */
typedef struct srv_buf {
    char *p;      /* NUL-terminated when non-NULL; malloc'd, srv_buf_free releases */
    size_t n, cap;
    int oom;      /* 1 after a failed growth: later appends are dropped */
} srv_buf;

void srv_buf_append(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_printf(srv_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append s[0..n) as a JSON string literal, quotes included; bytes that are
 * not valid UTF-8 become U+FFFD so the output is always valid JSON. */
void srv_buf_json_str(srv_buf *b, const char *s, size_t n);
void srv_buf_free(srv_buf *b);
/* Append the n bytes at p in standard base64 (RFC 4648, with padding). */
void srv_buf_base64(srv_buf *b, const void *p, size_t n);

/* ---- requests (openai.c) ---- */
typedef enum srv_kind { SRV_COMPLETION = 0, SRV_CHAT = 1 } srv_kind;

#define SRV_MAX_STOP 4

/* Server-wide limits a request is validated against. */
typedef struct srv_limits {
    int32_t max_tokens;      /* largest max_tokens accepted */
    const char *model_id;    /* the served model's name (any requested name is accepted) */
} srv_limits;

typedef struct srv_request {
    srv_kind kind;
    char *prompt;            /* completion prompt or rendered chat; malloc'd */
    size_t prompt_len;
    int32_t max_tokens;      /* -1: not given (the server picks its default) */
    slm_sampler_params sp;
    int seed_given;          /* 1: "seed" was in the request */
    int stream;
    int include_usage;       /* stream_options.include_usage */
    int ignore_eos;          /* extension (as llama.cpp's server): do not stop at EOS/EOT */
    char *messages_json;     /* chat: the "messages" array as compact JSON, for the
                                model's template (malloc'd); NULL for completions */
    char *grammar;           /* GBNF from response_format json_object/json_schema, or NULL; malloc'd */
    char *tools_json;        /* chat "tools" as compact JSON (tool_choice not "none"), or NULL; malloc'd */
    char *stop[SRV_MAX_STOP];/* malloc'd, NUL-terminated, non-empty */
    int n_stop;
    char *forced_tools_json; /* tool_choice "required" or {"type":"function","function":{"name":N}}:
                                the tools the reply must call one of (all of "tools", or just
                                N) as compact JSON, for slm_tool_calls_grammar; NULL otherwise.
                                Never set together with grammar. malloc'd */
} srv_request;

/* An OpenAI-style error: {"error":{"message","type","param","code"}}. */
typedef struct srv_error {
    int status;              /* HTTP status */
    char message[256];
    const char *type;        /* "invalid_request_error", ... (static) */
    const char *param;       /* offending field or NULL (static) */
    const char *code;        /* machine code or NULL (static) */
} srv_error;

void srv_error_set(srv_error *e, int status, const char *type, const char *param, const char *code,
                   const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
/* The error's JSON body into b. */
void srv_error_json(const srv_error *e, srv_buf *b);

/* Parse and validate a request body of the given kind. 0 on success (*out
 * filled, release with srv_request_free); -1 with *err set (*out zeroed).
 * Never reads outside body[0..len); body need not be NUL-terminated. Chat
 * messages are validated and rendered with ChatML into prompt ("<|im_start|>
 * role\ncontent<|im_end|>\n" ... "<|im_start|>assistant\n"), the fallback for
 * models without a template; http.c renders the model's own template from
 * messages_json when there is one. */
int srv_request_parse(const char *body, size_t len, srv_kind kind, const srv_limits *lim,
                      srv_request *out, srv_error *err);
void srv_request_free(srv_request *r);
/* The canonical form of r (every field that changes the output, in a fixed
 * order), the key of the response cache. */
void srv_request_canonical(const srv_request *r, srv_buf *b);
/* 1 if r gives the same output every time (greedy, or a fixed seed). */
int srv_request_deterministic(const srv_request *r);

/* An /v1/embeddings body: "input" as a string, an array of strings, an
 * array of token ids or an array of token-id arrays (none empty);
 * "encoding_format" "float" (default) or "base64" (little-endian float32,
 * what the openai clients ask for); "dimensions" is refused. */
#define SRV_MAX_EMBED_INPUTS 2048

typedef struct srv_embed_input {
    char *text;              /* malloc'd, NUL-terminated; or NULL for token input */
    size_t len;
    int32_t *ids;            /* token input [n_ids] (malloc'd; range checked by the server) */
    size_t n_ids;
} srv_embed_input;

typedef struct srv_embed_request {
    srv_embed_input *in;     /* [n] */
    size_t n;
    int base64;
} srv_embed_request;

/* 0 on success (release with srv_embed_free); -1 with *err set (*out zeroed). */
int srv_embed_parse(const char *body, size_t len, srv_embed_request *out, srv_error *err);
void srv_embed_free(srv_embed_request *r);

/* ---- response cache (cache.c) ---- */
typedef struct srv_cache srv_cache;

typedef struct srv_cached {
    char *text;              /* malloc'd copy, caller frees */
    size_t text_len;
    char finish[16];
    int32_t n_prompt, n_gen;
} srv_cached;

/* max_bytes 0 disables the cache (lookups miss, inserts are dropped). */
srv_cache *srv_cache_new(uint64_t max_bytes);
void srv_cache_free(srv_cache *c);
/* 1 on a hit (*out filled), 0 on a miss. Thread safe. */
int srv_cache_get(srv_cache *c, const char *key, size_t key_len, srv_cached *out);
void srv_cache_put(srv_cache *c, const char *key, size_t key_len, const char *text, size_t text_len,
                   const char *finish, int32_t n_prompt, int32_t n_gen);
void srv_cache_stats(srv_cache *c, uint64_t *hits, uint64_t *misses, uint64_t *bytes,
                     uint64_t *entries, uint64_t *evictions);

/* ---- metrics and alerts (metrics.c) ---- */
typedef enum srv_endpoint {
    SRV_EP_HEALTH, SRV_EP_MODELS, SRV_EP_COMPLETIONS, SRV_EP_CHAT, SRV_EP_EMBEDDINGS,
    SRV_EP_METRICS, SRV_EP_OTHER, SRV_EP_COUNT
} srv_endpoint;

typedef struct srv_alerts {
    double p95_latency_ms;   /* 0 = off */
    double error_rate;       /* fraction of recent requests answered >= 500; 0 = off */
    double max_rss_bytes;    /* 0 = off */
    double min_tokens_per_s; /* 0 = off */
    double window_s;         /* the alerts see requests and generations of the last window_s
                                seconds (at most 256 / 64 of them), so one clears when its
                                cause has passed even without new traffic; 0 = 300 */
} srv_alerts;

/* Read --config FILE: "key = value" lines ('#' comments) or one JSON object
 * with the keys p95_latency_ms, error_rate, max_rss_bytes, min_tokens_per_s,
 * window_s.
 * 0 ok; -1 with msg set. */
int srv_alerts_load(const char *path, srv_alerts *out, char *msg, size_t msg_cap);

typedef struct srv_metrics srv_metrics;

srv_metrics *srv_metrics_new(const srv_alerts *alerts);
void srv_metrics_free(srv_metrics *m);
/* A finished HTTP request (any endpoint, any status). */
void srv_metrics_request(srv_metrics *m, srv_endpoint ep, int status, double latency_ms);
/* A finished generation: first-token latency (< 0 if none), tokens, decode time. */
void srv_metrics_generation(srv_metrics *m, double ttft_ms, int32_t n_prompt, int32_t n_gen,
                            double gen_ms);
/* Gauges set by the server. */
void srv_metrics_gauges(srv_metrics *m, int queue_depth, int busy_slots, int n_slots);
/* After a batched step of seqs sequences and rows tokens (seqs 0: only
 * update the rest): prompt tokens reused from KV caches since the last
 * call, and the KV-cache positions used / available over all slots. */
void srv_metrics_batch(srv_metrics *m, uint64_t seqs, uint64_t rows, uint64_t prompt_reused, uint64_t kv_used,
                       uint64_t kv_cap);
/* Evaluate the alerts now (logs transitions to stderr); 1 if any is active. */
int srv_metrics_check_alerts(srv_metrics *m);
int srv_metrics_degraded(srv_metrics *m);
/* The Prometheus text exposition into b. */
void srv_metrics_render(srv_metrics *m, srv_cache *cache, srv_buf *b);
/* Resident set size of this process in bytes (0 if unknown). */
uint64_t srv_rss_bytes(void);

/* ---- the server (http.c) ---- */
typedef struct srv_config {
    const char *host;        /* "127.0.0.1" */
    int port;                /* 0 = any free port (printed) */
    int n_parallel;          /* slots */
    int queue_cap;           /* waiting requests beyond the slots; more get 429 */
    uint32_t n_ctx;          /* per slot; 0 = library default */
    int n_threads;           /* per slot */
    const char *api_key;     /* NULL = no auth */
    uint64_t max_body_bytes;
    double timeout_s;        /* per request, queue wait included */
    int32_t max_tokens;      /* limit on a request's max_tokens */
    uint64_t cache_bytes;    /* response cache bound; 0 = off */
    const char *model_id;    /* name in /v1/models */
    int chatml;              /* 1: always ChatML, even if the model has a template */
    const char *chat_template; /* template text replacing the model's, or NULL (caller owns) */
    srv_alerts alerts;
} srv_config;

/* Run until SIGTERM/SIGINT, then drain in-flight requests and return 0 (or
 * 1 if the server could not start; the reason is printed). The model is
 * shared by the slots; it stays owned by the caller. Must be called with
 * SIGTERM and SIGINT blocked in every thread (it waits for them). */
int srv_run(slm_model *model, const srv_config *cfg);

#endif

/* metrics.c — what /metrics reports and what /health degrades on.
 * Counters: requests by endpoint and status, generated and prompt tokens,
 * alert breaches. Histograms (cumulative buckets, Prometheus style): request
 * latency and time to first token. Gauges: tokens/s (generated tokens over
 * decode time of the last 64 generations), queue depth, busy slots, RSS,
 * response-cache counters. Alerts compare the recent window (the requests
 * of the last window_s seconds, at most 256, for p95 latency and error
 * rate; the generations of the last window_s seconds, at most 64, for
 * tokens/s) with --config thresholds; a breach is logged once when it
 * starts and once when it clears, counted, and keeps /health "degraded"
 * while active. Because the window is also one of time, an alert clears
 * once its cause is window_s seconds old, traffic or not. One mutex;
 * thread safe. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

#define N_BUCKETS 13
static const double bucket_ms[N_BUCKETS] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
#define N_STATUS 12
static const int status_codes[N_STATUS] = {200, 400, 401, 404, 405, 413, 429, 500, 501, 503, 504, 0};
#define WINDOW 256
#define GEN_WINDOW 64

enum { AL_LATENCY, AL_ERRORS, AL_RSS, AL_TPS, N_ALERTS };
static const char *alert_names[N_ALERTS] = {"p95_latency_ms", "error_rate", "max_rss_bytes", "min_tokens_per_s"};
static const char *endpoint_names[SRV_EP_COUNT] = {"/health", "/v1/models", "/v1/completions",
                                                   "/v1/chat/completions", "/v1/embeddings", "/metrics", "other"};

typedef struct histogram {
    uint64_t counts[N_BUCKETS + 1]; /* per bucket (not cumulative); last = +Inf */
    double sum;
    uint64_t n;
} histogram;

struct srv_metrics {
    pthread_mutex_t mu;
    srv_alerts alerts;
    uint64_t requests[SRV_EP_COUNT][N_STATUS]; /* last column: any other status */
    histogram latency, ttft;
    uint64_t gen_tokens, prompt_tokens, generations;
    double recent_latency[WINDOW];
    int recent_error[WINDOW];
    double recent_t[WINDOW];  /* when (now_s) */
    uint64_t n_recent;
    int32_t gen_n[GEN_WINDOW];
    double gen_ms[GEN_WINDOW];
    double gen_t[GEN_WINDOW];
    uint64_t n_gen_recent;
    int queue_depth, busy_slots, n_slots;
    uint64_t steps, step_seqs, step_rows, prompt_reused; /* continuous batching (srv_metrics_batch) */
    uint64_t kv_used, kv_cap;                           /* tokens held in the slots' KV caches / capacity */
    int active[N_ALERTS];
    double value[N_ALERTS];
    uint64_t breaches[N_ALERTS];
};

/* Monotonic seconds. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void hist_add(histogram *h, double v)
{
    int i = 0;
    while (i < N_BUCKETS && v > bucket_ms[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->n++;
}

srv_metrics *srv_metrics_new(const srv_alerts *alerts)
{
    srv_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    if (alerts) m->alerts = *alerts;
    if (!(m->alerts.window_s > 0)) m->alerts.window_s = 300;
    return m;
}

void srv_metrics_free(srv_metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void srv_metrics_request(srv_metrics *m, srv_endpoint ep, int status, double latency_ms)
{
    if ((unsigned)ep >= SRV_EP_COUNT) ep = SRV_EP_OTHER;
    int col = N_STATUS - 1;
    for (int i = 0; i < N_STATUS - 1; i++)
        if (status_codes[i] == status) col = i;
    pthread_mutex_lock(&m->mu);
    m->requests[ep][col]++;
    if (ep != SRV_EP_METRICS && ep != SRV_EP_HEALTH) { /* probes would dilute the window */
        hist_add(&m->latency, latency_ms);
        m->recent_latency[m->n_recent % WINDOW] = latency_ms;
        m->recent_error[m->n_recent % WINDOW] = status >= 500;
        m->recent_t[m->n_recent % WINDOW] = now_s();
        m->n_recent++;
    }
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_generation(srv_metrics *m, double ttft_ms, int32_t n_prompt, int32_t n_gen, double gen_ms)
{
    pthread_mutex_lock(&m->mu);
    if (ttft_ms >= 0) hist_add(&m->ttft, ttft_ms);
    m->gen_tokens += (uint64_t)(n_gen > 0 ? n_gen : 0);
    m->prompt_tokens += (uint64_t)(n_prompt > 0 ? n_prompt : 0);
    m->generations++;
    if (n_gen > 1 && gen_ms > 0) {
        m->gen_n[m->n_gen_recent % GEN_WINDOW] = n_gen;
        m->gen_ms[m->n_gen_recent % GEN_WINDOW] = gen_ms;
        m->gen_t[m->n_gen_recent % GEN_WINDOW] = now_s();
        m->n_gen_recent++;
    }
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_gauges(srv_metrics *m, int queue_depth, int busy_slots, int n_slots)
{
    pthread_mutex_lock(&m->mu);
    m->queue_depth = queue_depth;
    m->busy_slots = busy_slots;
    m->n_slots = n_slots;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_batch(srv_metrics *m, uint64_t seqs, uint64_t rows, uint64_t prompt_reused, uint64_t kv_used,
                       uint64_t kv_cap)
{
    pthread_mutex_lock(&m->mu);
    if (seqs) m->steps++;
    m->step_seqs += seqs;
    m->step_rows += rows;
    m->prompt_reused += prompt_reused;
    m->kv_used = kv_used;
    m->kv_cap = kv_cap;
    pthread_mutex_unlock(&m->mu);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Generated tokens over decode time of the recent generations finished at
 * or after time since (-1: all of them); *n_out how many (may be NULL).
 * Under the lock. */
static double tokens_per_s(const srv_metrics *m, double since, uint64_t *n_out)
{
    uint64_t n = m->n_gen_recent < GEN_WINDOW ? m->n_gen_recent : GEN_WINDOW, used = 0;
    double tok = 0, ms = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (m->gen_t[i] < since) continue;
        tok += m->gen_n[i];
        ms += m->gen_ms[i];
        used++;
    }
    if (n_out) *n_out = used;
    return ms > 0 ? tok * 1e3 / ms : 0;
}

/* p95 latency and error fraction of the requests finished at or after
 * since; *n_out how many. Under the lock. */
static void recent_requests(const srv_metrics *m, double since, double *p95, double *err_rate, uint64_t *n_out)
{
    uint64_t n = m->n_recent < WINDOW ? m->n_recent : WINDOW, k = 0;
    double v[WINDOW], errors = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (m->recent_t[i] < since) continue;
        v[k++] = m->recent_latency[i];
        errors += m->recent_error[i];
    }
    *n_out = k;
    *p95 = 0;
    *err_rate = 0;
    if (k == 0) return;
    qsort(v, k, sizeof v[0], cmp_double);
    *p95 = v[(size_t)(0.95 * (double)(k - 1) + 0.5)];
    *err_rate = errors / (double)k;
}

uint64_t srv_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, rss = 0;
    int ok = fscanf(f, "%lu %lu", &size, &rss) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? (uint64_t)rss * (uint64_t)page : 0;
}

int srv_metrics_check_alerts(srv_metrics *m)
{
    uint64_t rss = srv_rss_bytes();
    pthread_mutex_lock(&m->mu);
    const double since = now_s() - m->alerts.window_s;
    uint64_t n, n_gen;
    recent_requests(m, since, &m->value[AL_LATENCY], &m->value[AL_ERRORS], &n);
    m->value[AL_RSS] = (double)rss;
    m->value[AL_TPS] = tokens_per_s(m, since, &n_gen);
    int breach[N_ALERTS];
    breach[AL_LATENCY] = m->alerts.p95_latency_ms > 0 && n > 0 && m->value[AL_LATENCY] > m->alerts.p95_latency_ms;
    breach[AL_ERRORS] = m->alerts.error_rate > 0 && n > 0 && m->value[AL_ERRORS] > m->alerts.error_rate;
    breach[AL_RSS] = m->alerts.max_rss_bytes > 0 && m->value[AL_RSS] > m->alerts.max_rss_bytes;
    /* tokens/s says nothing until something was generated */
    breach[AL_TPS] = m->alerts.min_tokens_per_s > 0 && n_gen > 0 &&
                     m->value[AL_TPS] < m->alerts.min_tokens_per_s;
    const double limit[N_ALERTS] = {m->alerts.p95_latency_ms, m->alerts.error_rate, m->alerts.max_rss_bytes,
                                    m->alerts.min_tokens_per_s};
    int any = 0;
    for (int i = 0; i < N_ALERTS; i++) {
        if (breach[i] && !m->active[i]) {
            m->breaches[i]++;
            fprintf(stderr, "slm serve: ALERT %s: %.6g breaches the threshold %.6g\n", alert_names[i],
                    m->value[i], limit[i]);
        } else if (!breach[i] && m->active[i]) {
            fprintf(stderr, "slm serve: alert %s cleared: %.6g (threshold %.6g)\n", alert_names[i], m->value[i],
                    limit[i]);
        }
        m->active[i] = breach[i];
        any |= breach[i];
    }
    pthread_mutex_unlock(&m->mu);
    return any;
}

int srv_metrics_degraded(srv_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    int any = 0;
    for (int i = 0; i < N_ALERTS; i++) any |= m->active[i];
    pthread_mutex_unlock(&m->mu);
    return any;
}

static void render_hist(srv_buf *b, const char *name, const char *help, const histogram *h)
{
    srv_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cum += h->counts[i];
        srv_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_ms[i], (unsigned long long)cum);
    }
    cum += h->counts[N_BUCKETS];
    srv_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n", name,
                   (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->n);
}

void srv_metrics_render(srv_metrics *m, srv_cache *cache, srv_buf *b)
{
    uint64_t rss = srv_rss_bytes();
    uint64_t hits, misses, cbytes, centries, cevict;
    srv_cache_stats(cache, &hits, &misses, &cbytes, &centries, &cevict);
    pthread_mutex_lock(&m->mu);
    srv_buf_puts(b, "# HELP slm_requests_total HTTP requests answered, by endpoint and status.\n"
                    "# TYPE slm_requests_total counter\n");
    for (int e = 0; e < SRV_EP_COUNT; e++)
        for (int s = 0; s < N_STATUS; s++)
            if (m->requests[e][s])
                srv_buf_printf(b, "slm_requests_total{endpoint=\"%s\",status=\"%s%.0d\"} %llu\n",
                               endpoint_names[e], status_codes[s] ? "" : "other", status_codes[s],
                               (unsigned long long)m->requests[e][s]);
    render_hist(b, "slm_request_latency_ms", "Request latency in milliseconds (probes excluded).", &m->latency);
    render_hist(b, "slm_time_to_first_token_ms", "Time from request arrival to the first generated token.",
                &m->ttft);
    srv_buf_printf(b,
                   "# HELP slm_generated_tokens_total Tokens generated.\n# TYPE slm_generated_tokens_total counter\n"
                   "slm_generated_tokens_total %llu\n"
                   "# HELP slm_prompt_tokens_total Prompt tokens received.\n# TYPE slm_prompt_tokens_total counter\n"
                   "slm_prompt_tokens_total %llu\n"
                   "# HELP slm_tokens_per_second Generation speed over the last %d generations.\n"
                   "# TYPE slm_tokens_per_second gauge\nslm_tokens_per_second %.3f\n"
                   "# HELP slm_queue_depth Requests waiting for a slot.\n# TYPE slm_queue_depth gauge\n"
                   "slm_queue_depth %d\n"
                   "# HELP slm_slots_busy Slots generating.\n# TYPE slm_slots_busy gauge\nslm_slots_busy %d\n"
                   "# HELP slm_slots_total Slots (--parallel).\n# TYPE slm_slots_total gauge\nslm_slots_total %d\n"
                   "# HELP slm_resident_memory_bytes Resident set size.\n# TYPE slm_resident_memory_bytes gauge\n"
                   "slm_resident_memory_bytes %llu\n",
                   (unsigned long long)m->gen_tokens, (unsigned long long)m->prompt_tokens, GEN_WINDOW,
                   tokens_per_s(m, -1, NULL), m->queue_depth, m->busy_slots, m->n_slots, (unsigned long long)rss);
    srv_buf_printf(b,
                   "# HELP slm_batch_steps_total Batched forward steps (one slm_decode_multi over all busy slots).\n"
                   "# TYPE slm_batch_steps_total counter\nslm_batch_steps_total %llu\n"
                   "# HELP slm_batch_sequences_total Sequences summed over the steps (mean batch = this / steps).\n"
                   "# TYPE slm_batch_sequences_total counter\nslm_batch_sequences_total %llu\n"
                   "# HELP slm_batch_tokens_total Tokens evaluated by the steps (prompts included).\n"
                   "# TYPE slm_batch_tokens_total counter\nslm_batch_tokens_total %llu\n"
                   "# HELP slm_prompt_tokens_reused_total Prompt tokens found in a slot's KV cache (not evaluated).\n"
                   "# TYPE slm_prompt_tokens_reused_total counter\nslm_prompt_tokens_reused_total %llu\n"
                   "# HELP slm_kv_cache_used_tokens Positions held in the slots' KV caches.\n"
                   "# TYPE slm_kv_cache_used_tokens gauge\nslm_kv_cache_used_tokens %llu\n"
                   "# HELP slm_kv_cache_capacity_tokens Positions the slots' KV caches can hold.\n"
                   "# TYPE slm_kv_cache_capacity_tokens gauge\nslm_kv_cache_capacity_tokens %llu\n",
                   (unsigned long long)m->steps, (unsigned long long)m->step_seqs, (unsigned long long)m->step_rows,
                   (unsigned long long)m->prompt_reused, (unsigned long long)m->kv_used,
                   (unsigned long long)m->kv_cap);
    srv_buf_printf(b,
                   "# HELP slm_cache_hits_total Response-cache hits.\n# TYPE slm_cache_hits_total counter\n"
                   "slm_cache_hits_total %llu\n"
                   "# HELP slm_cache_misses_total Response-cache misses.\n# TYPE slm_cache_misses_total counter\n"
                   "slm_cache_misses_total %llu\n"
                   "# HELP slm_cache_evictions_total Response-cache evictions.\n"
                   "# TYPE slm_cache_evictions_total counter\nslm_cache_evictions_total %llu\n"
                   "# HELP slm_cache_bytes Bytes held by the response cache.\n# TYPE slm_cache_bytes gauge\n"
                   "slm_cache_bytes %llu\n"
                   "# HELP slm_cache_entries Responses held by the cache.\n# TYPE slm_cache_entries gauge\n"
                   "slm_cache_entries %llu\n",
                   (unsigned long long)hits, (unsigned long long)misses, (unsigned long long)cevict,
                   (unsigned long long)cbytes, (unsigned long long)centries);
    srv_buf_puts(b, "# HELP slm_alert_breaches_total Times an alert threshold started being breached.\n"
                    "# TYPE slm_alert_breaches_total counter\n");
    for (int i = 0; i < N_ALERTS; i++)
        srv_buf_printf(b, "slm_alert_breaches_total{alert=\"%s\"} %llu\n", alert_names[i],
                       (unsigned long long)m->breaches[i]);
    srv_buf_puts(b, "# HELP slm_alert_active 1 while an alert threshold is breached.\n"
                    "# TYPE slm_alert_active gauge\n");
    for (int i = 0; i < N_ALERTS; i++)
        srv_buf_printf(b, "slm_alert_active{alert=\"%s\"} %d\n", alert_names[i], m->active[i]);
    pthread_mutex_unlock(&m->mu);
}

static int set_alert(srv_alerts *a, const char *key, double v, char *msg, size_t cap)
{
    if (v < 0) {
        snprintf(msg, cap, "'%s' is %g; expected a number >= 0", key, v);
        return -1;
    }
    if (strcmp(key, "p95_latency_ms") == 0) a->p95_latency_ms = v;
    else if (strcmp(key, "error_rate") == 0) a->error_rate = v;
    else if (strcmp(key, "max_rss_bytes") == 0) a->max_rss_bytes = v;
    else if (strcmp(key, "min_tokens_per_s") == 0) a->min_tokens_per_s = v;
    else if (strcmp(key, "window_s") == 0) a->window_s = v;
    else {
        snprintf(msg, cap, "unknown key '%.60s' (expected p95_latency_ms, error_rate, max_rss_bytes, "
                           "min_tokens_per_s, window_s)", key);
        return -1;
    }
    return 0;
}

int srv_alerts_load(const char *path, srv_alerts *out, char *msg, size_t cap)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, cap, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    srv_buf text = {0};
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0 && text.n < (1u << 20)) srv_buf_append(&text, chunk, k);
    fclose(f);
    if (text.oom) {
        snprintf(msg, cap, "'%s': out of memory", path);
        srv_buf_free(&text);
        return -1;
    }
    int rc = 0;
    const char *s = text.p ? text.p : "";
    while (isspace((unsigned char)*s)) s++;
    if (*s == '{') {
        cJSON *root = cJSON_Parse(s);
        if (!cJSON_IsObject(root)) {
            snprintf(msg, cap, "'%s' starts with '{' but is not a JSON object", path);
            rc = -1;
        } else {
            const cJSON *it;
            cJSON_ArrayForEach(it, root) {
                if (!cJSON_IsNumber(it)) {
                    snprintf(msg, cap, "'%s': '%.60s' must be a number", path, it->string);
                    rc = -1;
                    break;
                }
                if ((rc = set_alert(out, it->string, it->valuedouble, msg, cap))) break;
            }
        }
        cJSON_Delete(root);
    } else {
        int line = 0;
        char *save = NULL;
        for (char *l = strtok_r(text.p, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
            line++;
            char *hash = strchr(l, '#');
            if (hash) *hash = '\0';
            char key[64];
            double v;
            char tail;
            char *eq = strchr(l, '=');
            while (isspace((unsigned char)*l)) l++;
            if (!*l) continue;
            if (!eq || sscanf(eq + 1, " %lf %c", &v, &tail) != 1) {
                snprintf(msg, cap, "'%s' line %d: expected 'key = number'", path, line);
                rc = -1;
                break;
            }
            *eq = '\0';
            if (sscanf(l, " %63s %c", key, &tail) != 1) {
                snprintf(msg, cap, "'%s' line %d: expected 'key = number'", path, line);
                rc = -1;
                break;
            }
            char inner[200];
            if ((rc = set_alert(out, key, v, inner, sizeof inner))) snprintf(msg, cap, "'%s' line %d: %s", path, line, inner);
        }
    }
    srv_buf_free(&text);
    return rc;
}

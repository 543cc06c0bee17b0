/* cmd_serve.c — `slm serve`: options, model loading and signal setup for the
 * OpenAI-compatible HTTP server in cli/serve/ (see serve.h for the parts). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "serve/serve.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm serve MODEL [options]\n"
            "\n"
            "Serve a model over HTTP with OpenAI's API:\n"
            "  POST /v1/completions, /v1/chat/completions (\"stream\": true gives SSE),\n"
            "  GET /v1/models, /health ({\"status\":\"ok\"|\"degraded\"}), /metrics (Prometheus).\n"
            "  POST /v1/embeddings: mean-pooled, L2-normalized final-norm hidden states\n"
            "  (input: a string, strings, token ids; encoding_format float or base64).\n"
            "  Any \"model\" name is accepted; responses name the loaded model.\n"
            "Chat messages are rendered with the model's chat template (GGUF key\n"
            "tokenizer.chat_template), or with ChatML (<|im_start|>role ... <|im_end|>)\n"
            "when it has none or with --chatml. Errors are OpenAI-style JSON:\n"
            "{\"error\":{\"message\",\"type\",\"param\",\"code\"}}. SIGTERM or Ctrl-C stops\n"
            "accepting work, finishes the requests in flight, then exits 0.\n"
            "Chat \"tools\" go to the template; replies are split into tool_calls (streamed as\n"
            "delta.tool_calls). tool_choice \"required\" or {\"type\":\"function\",\"function\":\n"
            "{\"name\":N}} forces one call with a grammar (for the call formats that\n"
            "slm_tool_calls_grammar supports: hermes, llama3, functionary, qwen3_xml, ...;\n"
            "others get a 400 listing them); response_format json_object/json_schema\n"
            "constrains content.\n"
            "\n"
            "options:\n"
            "      --host ADDR          IPv4/IPv6 address to bind (default 127.0.0.1: loopback only)\n"
            "      --port N             TCP port (default 8080; 0 = any free port, printed at start)\n"
            "      --parallel N         slots generating at once, each with its own context (default 1);\n"
            "                           one batched forward per step serves all busy slots\n"
            "      --queue N            requests that may wait for a slot; more get 429 (default 16)\n"
            "  -c, --ctx N              context length per slot (default: min(trained, 4096))\n"
            "  -t, --threads N          compute threads of the batched step (default: all cores)\n"
            "      --api-key KEY        require 'Authorization: Bearer KEY' (not for /health);\n"
            "                           default $SLM_API_KEY if set\n"
            "      --config FILE        alert thresholds: 'key = value' lines or a JSON object with\n"
            "                           p95_latency_ms, error_rate (fraction of recent requests\n"
            "                           answered >= 500), max_rss_bytes, min_tokens_per_s, and\n"
            "                           window_s: \"recent\" = the last window_s seconds (default\n"
            "                           300); a breach turns /health \"degraded\" until it clears\n"
            "      --max-body BYTES     largest request body (default 1048576); larger gets 413\n"
            "      --max-tokens N       largest max_tokens a request may ask for (default 4096)\n"
            "      --timeout SECONDS    per request, queue wait included (default 600; 0 = none)\n"
            "      --cache-bytes BYTES  exact-response cache for deterministic requests (temperature 0\n"
            "                           or a seed); default 16777216, 0 = off\n"
            "      --alias NAME         model name in /v1/models and responses (default: file name)\n"
            "      --chatml             render chat with ChatML even if the model has a template\n"
            "      --chat-template FILE use this Jinja chat template instead of the model's (its\n"
            "                           tool-call syntax then decides how replies are split into\n"
            "                           tool_calls)\n"
            "      --no-mmap            read the model into memory instead of mapping it\n"
            "  -h, --help               show this help\n"
            "\n"
            "example:\n"
            "  slm serve model.gguf --port 8080 &\n"
            "  curl -s localhost:8080/v1/chat/completions -H 'Content-Type: application/json' \\\n"
            "       -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":32}'\n");
}

int cmd_serve(int argc, char **argv)
{
    srv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 8080;
    cfg.n_parallel = 1;
    cfg.queue_cap = 16;
    cfg.max_body_bytes = 1u << 20;
    cfg.max_tokens = 4096;
    cfg.timeout_s = 600;
    cfg.cache_bytes = 16u << 20;
    const char *model_path = NULL, *config = NULL, *alias = NULL, *tmpl_path = NULL;
    int32_t port = 8080, parallel = 1, queue = 16, n_ctx = 0, threads = 0, max_tokens = 4096, timeout = 600;
    int no_mmap = 0;

    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--host", NULL)) {
            if (!(cfg.host = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--port", NULL)) {
            rc = cli_int(&a, 0, 65535, &port);
        } else if (cli_is(&a, "--parallel", "-np")) {
            rc = cli_int(&a, 1, 256, &parallel);
        } else if (cli_is(&a, "--queue", NULL)) {
            rc = cli_int(&a, 0, 1 << 16, &queue);
        } else if (cli_is(&a, "-c", "--ctx")) {
            rc = cli_int(&a, 0, INT32_MAX, &n_ctx);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &threads);
        } else if (cli_is(&a, "--api-key", NULL)) {
            if (!(cfg.api_key = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--config", NULL)) {
            if (!(config = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--max-body", NULL)) {
            rc = cli_u64(&a, &cfg.max_body_bytes);
        } else if (cli_is(&a, "--max-tokens", NULL)) {
            rc = cli_int(&a, 1, INT32_MAX, &max_tokens);
        } else if (cli_is(&a, "--timeout", NULL)) {
            rc = cli_int(&a, 0, INT32_MAX, &timeout);
        } else if (cli_is(&a, "--cache-bytes", NULL)) {
            rc = cli_u64(&a, &cfg.cache_bytes);
        } else if (cli_is(&a, "--alias", NULL)) {
            if (!(alias = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--chat-template", NULL)) {
            if (!(tmpl_path = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--chatml", NULL)) {
            cfg.chatml = 1;
        } else if (cli_is(&a, "--no-mmap", NULL)) {
            no_mmap = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!model_path) {
            model_path = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s' (the model is already '%s')", a.arg,
                                   model_path);
        }
        if (rc) return rc;
    }
    if (!model_path) return cli_usage_error("serve", "no model given: slm serve MODEL.gguf");
    if (cfg.max_body_bytes == 0) return cli_usage_error("serve", "--max-body must be at least 1");
    if (!cfg.api_key) {
        const char *env = getenv("SLM_API_KEY");
        if (env && env[0]) cfg.api_key = env;
    }
    if (cfg.api_key && !cfg.api_key[0]) return cli_usage_error("serve", "--api-key is empty");
    if (config) {
        char msg[300];
        if (srv_alerts_load(config, &cfg.alerts, msg, sizeof msg)) {
            fprintf(stderr, "slm serve: --config: %s\n", msg);
            return CLI_USAGE;
        }
    }
    cfg.port = port;
    cfg.n_parallel = parallel;
    cfg.queue_cap = queue;
    cfg.n_ctx = (uint32_t)n_ctx;
    cfg.max_tokens = max_tokens;
    cfg.timeout_s = timeout;
    if (threads <= 0) {
        /* one step runs at a time for all slots (continuous batching) */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int32_t)cores : 1;
    }
    cfg.n_threads = threads;
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    cfg.model_id = alias ? alias : base;

    /* Block the stop signals before any thread exists (the loader's included),
     * so that only srv_run's sigtimedwait receives them. Writes to a closed
     * client socket must not kill the process. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char *tmpl = NULL;
    if (tmpl_path) {
        size_t n = 0;
        if (!(tmpl = cli_read_file(tmpl_path, &n))) {
            fprintf(stderr, "slm serve: --chat-template %s: %s\n", tmpl_path, strerror(errno));
            return CLI_FAIL;
        }
        cfg.chat_template = tmpl;
    }
    slm_model *model = NULL;
    slm_model_params mp = slm_model_default_params();
    mp.use_mmap = !no_mmap;
    if (cli_load_model("serve", model_path, &mp, &model) != CLI_OK) {
        free(tmpl);
        return CLI_FAIL;
    }
    int rc = srv_run(model, &cfg) == 0 ? CLI_OK : CLI_FAIL;
    slm_model_free(model);
    free(tmpl);
    return rc;
}

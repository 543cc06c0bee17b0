/* cmd_run.c — `slm run`: tokenize a prompt, evaluate it in one batched
 * decode, then sample token by token, streaming the text to stdout (one
 * flush per token, never splitting a UTF-8 character), until an end-of-
 * generation token, -n tokens, or a full context. One timings line goes to
 * stderr at the end; --json prints one JSON object on stdout instead of the
 * streamed text. --grammar / --json-schema mask, before each draw, every
 * token that cannot continue the grammar (slm_grammar_apply) and stop when
 * the grammar is complete. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef SLM_SOURCE_DIR
#define SLM_SOURCE_DIR "."
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm run [MODEL] -p TEXT [options]\n"
            "\n"
            "Generate text from a prompt. MODEL defaults to $SLM_MODEL, else\n"
            "%s/models/default.gguf.\n"
            "\n"
            "options:\n"
            "  -p, --prompt TEXT         the prompt\n"
            "  -f, --file FILE           read the prompt from FILE (- = standard input)\n"
            "  -n, --n-predict N         tokens to generate (default 128; -1 = until the context is full)\n"
            "  -t, --threads N           compute threads (default: all cores)\n"
            "  -c, --ctx-size N          context length (default: min(trained, 4096))\n"
            "      --temp T              temperature (default 0.8; 0 = greedy)\n"
            "      --top-k K             keep the K most likely tokens (default 40; 0 = off)\n"
            "      --top-p P             nucleus sampling (default 0.95; 1 = off)\n"
            "      --min-p P             drop tokens below P x the best (default 0.05; 0 = off)\n"
            "      --repeat-penalty R    divide/multiply the logits of recent tokens (default 1.0 = off)\n"
            "      --repeat-last-n N     tokens the penalties look back over (default 64; 0 = off)\n"
            "      --frequency-penalty F subtract F x count (default 0)\n"
            "      --presence-penalty P  subtract P once per seen token (default 0)\n"
            "      --seed S              random seed (default 0xC0FFEE)\n"
            "      --no-mmap             read the file into memory instead of mapping it\n"
            "      --mlock               lock the weights in RAM (fails if RLIMIT_MEMLOCK is too low)\n"
            "      --max-memory SIZE     refuse to run if weights + KV cache + scratch exceed SIZE\n"
            "                            (bytes, or with K, M, G: 512M, 1.5G), checked before loading\n"
            "      --kv-type f16|f32     KV cache type (default f16)\n"
            "      --ignore-eos          do not stop at end-of-generation tokens\n"
            "      --no-display-prompt   print only the generated text\n"
            "      --json                print one JSON object (text, tokens, timings) at the end\n"
            "      --grammar FILE        constrain the output to a GBNF grammar (llama.cpp's format)\n"
            "      --json-schema FILE    constrain the output to JSON valid under a JSON Schema\n"
            "  -h, --help                show this help\n",
            SLM_SOURCE_DIR);
}

typedef struct run_opts {
    const char *model;
    const char *prompt;
    const char *prompt_file;
    int32_t n_predict, n_threads, n_ctx;
    slm_sampler_params sp;
    int no_mmap, mlock, ignore_eos, no_display_prompt, json;
    uint64_t max_memory; /* --max-memory; 0 = no limit */
    slm_type kv_type;
    const char *grammar_file, *schema_file; /* --grammar, --json-schema */
} run_opts;

/* Ctrl-C stops generation cleanly (text flushed, timings printed); a second
 * Ctrl-C kills the process as usual. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL);
}

static int file_exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* The model path: argument, else $SLM_MODEL, else the source tree's default. */
static const char *default_model(char *buf, size_t cap)
{
    const char *env = getenv("SLM_MODEL");
    if (env && env[0] && file_exists(env)) return env;
    snprintf(buf, cap, "%s/models/default.gguf", SLM_SOURCE_DIR);
    if (file_exists(buf)) return buf;
    fprintf(stderr,
            "slm run: no model given and no default model found (%s%s%s%s).\n"
            "Pass a model path: slm run MODEL.gguf -p \"text\"\n",
            env && env[0] ? "$SLM_MODEL=" : "$SLM_MODEL is not set", env && env[0] ? env : "",
            env && env[0] ? " does not exist, " : ", ", buf);
    return NULL;
}

/* A byte count: a positive number with an optional K, M, G or T suffix
 * (powers of 1024, optionally followed by "B" or "iB"): 512M, 1.5G. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0)) return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mul > 1 && *end == 'i') end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v * mul >= 18446744073709551615.0) return -1;
    *out = (uint64_t)(v * mul);
    return *out ? 0 : -1;
}

/* --max-memory: estimate weights + KV cache + scratch before anything is
 * loaded and refuse, naming both numbers, when they exceed the budget. The
 * prompt has at most prompt_len + 2 tokens (one per byte, BOS/EOS), which
 * bounds the batch the session below will be sized for. */
static int check_budget(const run_opts *o, size_t prompt_len)
{
    slm_model_params mp = slm_model_default_params();
    mp.use_mmap = !o->no_mmap;
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = (uint32_t)o->n_ctx;
    sp.kv_type = o->kv_type;
    if (o->n_threads > 0) sp.n_threads = o->n_threads;
    if (prompt_len + 2 < sp.n_batch) sp.n_batch = (uint32_t)(prompt_len + 2);
    slm_memory_estimate e;
    slm_status st = slm_model_memory_estimate(o->model, &mp, &sp, &e);
    if (st != SLM_OK) {
        cli_fail("run", "cannot estimate the memory the model needs", st);
        return CLI_FAIL;
    }
    const double MiB = 1024.0 * 1024.0;
    if (e.total_bytes > o->max_memory) {
        fprintf(stderr,
                "slm run: %s needs %llu bytes (%.1f MiB: file %.1f MiB of which weights %.1f MiB, "
                "KV cache %.1f MiB at n_ctx %u, scratch %.1f MiB) but --max-memory is %llu bytes "
                "(%.1f MiB); not loading it (a smaller -c shrinks the KV cache)\n",
                o->model, (unsigned long long)e.total_bytes, e.total_bytes / MiB, e.file_bytes / MiB,
                e.weights_bytes / MiB, e.kv_bytes / MiB, e.n_ctx, e.scratch_bytes / MiB,
                (unsigned long long)o->max_memory, o->max_memory / MiB);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int parse(int argc, char **argv, run_opts *o)
{
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return -1;
        } else if (cli_is(&a, "-p", "--prompt")) {
            if (!(o->prompt = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-f", "--file")) {
            if (!(o->prompt_file = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-n", "--n-predict")) {
            rc = cli_int(&a, -1, INT32_MAX, &o->n_predict);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &o->n_threads);
        } else if (cli_is(&a, "-c", "--ctx-size")) {
            rc = cli_int(&a, 0, INT32_MAX, &o->n_ctx);
        } else if (cli_is(&a, "--temp", NULL)) {
            rc = cli_float(&a, 0.0, 1e6, &o->sp.temperature);
        } else if (cli_is(&a, "--top-k", NULL)) {
            rc = cli_int(&a, 0, INT32_MAX, &o->sp.top_k);
        } else if (cli_is(&a, "--top-p", NULL)) {
            rc = cli_float(&a, 1e-9, 1.0, &o->sp.top_p);
        } else if (cli_is(&a, "--min-p", NULL)) {
            rc = cli_float(&a, 0.0, 1.0, &o->sp.min_p);
        } else if (cli_is(&a, "--repeat-penalty", NULL)) {
            rc = cli_float(&a, 1e-6, 1e6, &o->sp.repeat_penalty);
        } else if (cli_is(&a, "--repeat-last-n", NULL)) {
            rc = cli_int(&a, 0, 1 << 20, &o->sp.penalty_last_n);
        } else if (cli_is(&a, "--frequency-penalty", NULL)) {
            rc = cli_float(&a, -1e6, 1e6, &o->sp.frequency_penalty);
        } else if (cli_is(&a, "--presence-penalty", NULL)) {
            rc = cli_float(&a, -1e6, 1e6, &o->sp.presence_penalty);
        } else if (cli_is(&a, "--seed", "-s")) {
            rc = cli_u64(&a, &o->sp.seed);
        } else if (cli_is(&a, "--no-mmap", NULL)) {
            o->no_mmap = 1;
        } else if (cli_is(&a, "--mlock", NULL)) {
            o->mlock = 1;
        } else if (cli_is(&a, "--max-memory", NULL)) {
            const char *v = cli_value(&a);
            if (!v) return CLI_USAGE;
            if (parse_size(v, &o->max_memory) != 0)
                return cli_usage_error(a.cmd, "--max-memory: '%s' is not a size (e.g. 536870912, 512M, 2G)", v);
        } else if (cli_is(&a, "--kv-type", NULL)) {
            rc = cli_kv_type(&a, &o->kv_type);
        } else if (cli_is(&a, "--ignore-eos", NULL)) {
            o->ignore_eos = 1;
        } else if (cli_is(&a, "--no-display-prompt", NULL)) {
            o->no_display_prompt = 1;
        } else if (cli_is(&a, "--json", NULL)) {
            o->json = 1;
        } else if (cli_is(&a, "--grammar", NULL)) {
            if (!(o->grammar_file = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--json-schema", NULL)) {
            if (!(o->schema_file = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!o->model) {
            o->model = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s' (the model is already '%s')", a.arg,
                                   o->model);
        }
        if (rc) return rc;
    }
    if (o->prompt && o->prompt_file)
        return cli_usage_error(a.cmd, "give the prompt with -p or -f, not both");
    if (o->grammar_file && o->schema_file)
        return cli_usage_error(a.cmd, "give --grammar or --json-schema, not both");
    return 0;
}

/* A growing byte buffer for the --json text. */
typedef struct text_buf {
    char *p;
    size_t n, cap;
} text_buf;

static int text_append(text_buf *b, const char *s, size_t n)
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

typedef struct run_state {
    slm_model *model;
    cli_utf8_out out;
    text_buf prompt_text, gen_text;
    char *piece;
    size_t piece_cap;
    int json;
} run_state;

/* Emit token tok's text: streamed to stdout, or kept for the JSON object. */
static int emit(run_state *rs, int32_t tok, text_buf *keep)
{
    if (!rs->piece) {
        rs->piece_cap = 256;
        if (!(rs->piece = malloc(rs->piece_cap))) return -1;
    }
    size_t n = slm_token_to_piece(rs->model, tok, 0, rs->piece, rs->piece_cap);
    if (n > rs->piece_cap) {
        char *np = realloc(rs->piece, n);
        if (!np) return -1;
        rs->piece = np;
        rs->piece_cap = n;
        n = slm_token_to_piece(rs->model, tok, 0, rs->piece, rs->piece_cap);
    }
    if (rs->json) return text_append(keep, rs->piece, n);
    cli_utf8_write(&rs->out, rs->piece, n);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    const char *cmd = "run";
    run_opts o;
    memset(&o, 0, sizeof o);
    o.n_predict = 128;
    o.sp = slm_sampler_default_params();
    o.kv_type = SLM_TYPE_F16;
    int rc = parse(argc, argv, &o);
    if (rc < 0) return CLI_OK;
    if (rc) return rc;

    char defpath[4096];
    if (!o.model && !(o.model = default_model(defpath, sizeof defpath))) return CLI_USAGE;

    char *file_prompt = NULL;
    size_t prompt_len = 0;
    if (o.prompt_file) {
        file_prompt = cli_read_file(o.prompt_file, &prompt_len);
        if (!file_prompt) {
            fprintf(stderr, "slm run: cannot read prompt file '%s': %s\n", o.prompt_file,
                    strerror(errno));
            return CLI_FAIL;
        }
        o.prompt = file_prompt;
    } else if (o.prompt) {
        prompt_len = strlen(o.prompt);
    } else {
        o.prompt = "";
    }

    slm_model *model = NULL;
    slm_session *sess = NULL;
    slm_sampler *smp = NULL;
    slm_grammar *grammar = NULL;
    float *masked = NULL;
    char *gbnf = NULL, *gbnf_alloc = NULL;
    size_t gbnf_len = 0;
    int32_t *ids = NULL;
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.json = o.json;
    rs.out.f = stdout;
    int32_t *gen_ids = NULL;
    size_t n_gen = 0, gen_cap = 0;
    const char *stop = "length";
    struct sigaction sa, old_sa;
    int sig_installed = 0;
    slm_status st;
    rc = CLI_FAIL;

    double t_start = cli_now_ms();
    if (o.max_memory && check_budget(&o, prompt_len) != CLI_OK) goto done;
    slm_model_params mp = slm_model_default_params();
    mp.use_mmap = !o.no_mmap;
    mp.use_mlock = o.mlock;
    if (o.n_threads > 0) mp.n_threads = o.n_threads;
    if (cli_load_model(cmd, o.model, &mp, &model) != CLI_OK) goto done;
    rs.model = model;

    if ((st = slm_sampler_new(&o.sp, &smp)) != SLM_OK) {
        cli_fail(cmd, "bad sampling parameters", st);
        rc = CLI_USAGE;
        goto done;
    }

    /* --grammar / --json-schema: a grammar over this model's vocabulary */
    if (o.grammar_file || o.schema_file) {
        const char *path = o.grammar_file ? o.grammar_file : o.schema_file;
        size_t n = 0;
        char *text = cli_read_file(path, &n);
        if (!text) {
            fprintf(stderr, "slm run: cannot read '%s': %s\n", path, strerror(errno));
            rc = CLI_USAGE;
            goto done;
        }
        if (o.schema_file) {
            st = slm_json_schema_to_grammar(text, n, &gbnf_alloc);
            free(text);
            if (st != SLM_OK) {
                fprintf(stderr, "slm run: %s: %s\n", path, slm_last_error());
                rc = st == SLM_ERR_FORMAT ? CLI_USAGE : CLI_FAIL; /* malformed vs unsupported */
                goto done;
            }
            gbnf = gbnf_alloc;
            gbnf_len = strlen(gbnf);
        } else {
            gbnf = text;
            gbnf_len = n;
        }
        st = slm_grammar_new(model, gbnf, gbnf_len, NULL, &grammar);
        if (st != SLM_OK) {
            fprintf(stderr, "slm run: %s: %s\n", o.grammar_file ? path : "grammar from the schema",
                    slm_last_error());
            rc = st == SLM_ERR_NOMEM ? CLI_FAIL : CLI_USAGE;
            goto done;
        }
        if (!(masked = malloc((size_t)slm_model_n_vocab(model) * sizeof *masked))) goto nomem;
    }

    /* Tokenize: a first guess of one token per byte plus specials, then the exact size. */
    size_t cap = prompt_len + 8, n_prompt = 0;
    ids = malloc(cap * sizeof *ids);
    if (!ids) goto nomem;
    st = slm_tokenize(model, o.prompt, prompt_len, 1, 1, ids, cap, &n_prompt);
    if (st == SLM_ERR_FULL) {
        free(ids);
        cap = n_prompt;
        ids = malloc(cap * sizeof *ids);
        if (!ids) goto nomem;
        st = slm_tokenize(model, o.prompt, prompt_len, 1, 1, ids, cap, &n_prompt);
    }
    if (st != SLM_OK) {
        cli_fail(cmd, "cannot tokenize the prompt", st);
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "slm run: the prompt is empty and the vocabulary adds no BOS token: "
                        "nothing to evaluate (give a prompt with -p)\n");
        rc = CLI_USAGE;
        goto done;
    }

    /* The prompt is evaluated in one batch and then one token at a time, so
     * scratch sized for more than the prompt would only cost memory: with
     * the default 512-token batch a 1B model's scratch is ~124 MiB. */
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = (uint32_t)o.n_ctx;
    sp.kv_type = o.kv_type;
    if (o.n_threads > 0) sp.n_threads = o.n_threads;
    if (n_prompt < sp.n_batch) sp.n_batch = (uint32_t)n_prompt;
    if ((st = slm_session_new(model, &sp, &sess)) != SLM_OK) {
        cli_fail(cmd, "cannot create a session", st);
        goto done;
    }
    double t_loaded = cli_now_ms();
    uint32_t n_ctx = slm_session_n_ctx(sess);
    if (n_prompt > n_ctx) {
        fprintf(stderr, "slm run: the prompt has %zu tokens but the context holds %u: "
                        "use a shorter prompt or a larger -c\n", n_prompt, n_ctx);
        goto done;
    }

    if (!o.no_display_prompt)
        for (size_t i = 0; i < n_prompt; i++)
            if (emit(&rs, ids[i], &rs.prompt_text)) goto nomem;
    for (size_t i = 0; i < n_prompt; i++) slm_sampler_accept(smp, ids[i]);

    double t_prompt0 = cli_now_ms();
    const float *logits = NULL;
    if ((st = slm_session_decode(sess, ids, n_prompt, &logits)) != SLM_OK) {
        cli_fail(cmd, "prompt evaluation failed", st);
        goto done;
    }
    double t_prompt1 = cli_now_ms(), t_first = t_prompt1;
    int32_t n_vocab = slm_model_n_vocab(model);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sig_installed = sigaction(SIGINT, &sa, &old_sa) == 0;
    for (int32_t i = 0; o.n_predict < 0 || i < o.n_predict; i++) {
        if (interrupted) {
            stop = "interrupted";
            break;
        }
        const float *choose = logits;
        if (grammar) {
            /* mask a copy: tokens that cannot continue the grammar get -inf */
            memcpy(masked, logits, (size_t)n_vocab * sizeof *masked);
            if ((st = slm_grammar_apply(grammar, masked, n_vocab)) != SLM_OK) {
                cli_fail(cmd, "grammar", st);
                goto done;
            }
            choose = masked;
        }
        int32_t tok = slm_sampler_sample(smp, choose, n_vocab);
        if (tok < 0) {
            cli_fail(cmd, "sampling failed", SLM_ERR_NOMEM);
            goto done;
        }
        if (i == 0) t_first = cli_now_ms();
        slm_sampler_accept(smp, tok);
        if (grammar && slm_grammar_accept(grammar, tok) != SLM_OK) {
            /* every token was masked: the grammar has no way to continue */
            fprintf(stderr, "slm run: no token of the vocabulary can continue the grammar: %s\n",
                    slm_last_error());
            goto done;
        }
        if ((!o.ignore_eos || grammar) && slm_token_is_eog(model, tok)) {
            stop = "eog";
            break;
        }
        if (n_gen == gen_cap) {
            gen_cap = gen_cap ? 2 * gen_cap : 256;
            int32_t *ng = realloc(gen_ids, gen_cap * sizeof *ng);
            if (!ng) goto nomem;
            gen_ids = ng;
        }
        gen_ids[n_gen++] = tok;
        if (emit(&rs, tok, &rs.gen_text)) goto nomem;
        if (grammar && slm_grammar_is_done(grammar)) {
            stop = "grammar";
            break;
        }
        if (o.n_predict >= 0 && i + 1 == o.n_predict) break; /* no need to evaluate the last one */
        if (slm_session_n_past(sess) >= n_ctx) {
            stop = "context";
            break;
        }
        if ((st = slm_session_decode(sess, &tok, 1, &logits)) != SLM_OK) {
            cli_fail(cmd, "decoding failed", st);
            goto done;
        }
    }
    if (sig_installed) sigaction(SIGINT, &old_sa, NULL);
    sig_installed = 0;
    double t_end = cli_now_ms();
    if (!o.json) {
        cli_utf8_flush(&rs.out);
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (strcmp(stop, "context") == 0)
        fprintf(stderr, "slm run: stopped: the context (%u tokens) is full\n", n_ctx);
    else if (strcmp(stop, "interrupted") == 0)
        fprintf(stderr, "slm run: stopped: interrupted\n");
    if (grammar && !slm_grammar_can_end(grammar))
        fprintf(stderr, "slm run: stopped (%s) before the grammar was complete: the output is a prefix "
                        "of a match, not a match (raise -n)\n", stop);

    double load_ms = t_loaded - t_start, prompt_ms = t_prompt1 - t_prompt0,
           gen_ms = t_end - t_prompt1, ttft_ms = t_first - t_prompt0;
    double prompt_tps = prompt_ms > 0 ? (double)n_prompt * 1e3 / prompt_ms : 0.0;
    double gen_tps = gen_ms > 0 ? (double)n_gen * 1e3 / gen_ms : 0.0;
    double rss = cli_peak_rss_mib();
    fprintf(stderr,
            "slm run: load %.1f ms | prompt %zu tokens, %.1f tok/s | generated %zu tokens, %.1f tok/s | "
            "first token %.1f ms | peak RSS %.1f MiB\n",
            load_ms, n_prompt, prompt_tps, n_gen, gen_tps, ttft_ms, rss);

    if (o.json) {
        printf("{\"model\":");
        cli_json_string(stdout, o.model, strlen(o.model));
        printf(",\"prompt\":");
        cli_json_string(stdout, rs.prompt_text.p ? rs.prompt_text.p : "", rs.prompt_text.n);
        printf(",\"text\":");
        cli_json_string(stdout, rs.gen_text.p ? rs.gen_text.p : "", rs.gen_text.n);
        printf(",\"prompt_tokens\":[");
        for (size_t i = 0; i < n_prompt; i++) printf("%s%d", i ? "," : "", ids[i]);
        printf("],\"tokens\":[");
        for (size_t i = 0; i < n_gen; i++) printf("%s%d", i ? "," : "", gen_ids[i]);
        printf("],\"stop\":\"%s\",\"timings\":{\"load_ms\":%.3f,\"prompt_ms\":%.3f,"
               "\"prompt_tokens_per_s\":%.3f,\"generation_ms\":%.3f,\"generated_tokens_per_s\":%.3f,"
               "\"time_to_first_token_ms\":%.3f,\"peak_rss_mib\":%.1f}}\n",
               stop, load_ms, prompt_ms, prompt_tps, gen_ms, gen_tps, ttft_ms, rss);
        fflush(stdout);
    }
    rc = CLI_OK;
    goto done;

nomem:
    fprintf(stderr, "slm run: out of memory\n");
    rc = CLI_FAIL;
done:
    if (sig_installed) sigaction(SIGINT, &old_sa, NULL);
    if (!o.json) cli_utf8_flush(&rs.out);
    slm_sampler_free(smp);
    slm_grammar_free(grammar);
    free(masked);
    if (gbnf != gbnf_alloc) free(gbnf);
    slm_grammar_text_free(gbnf_alloc);
    slm_session_free(sess);
    slm_model_free(model);
    free(ids);
    free(gen_ids);
    free(rs.piece);
    free(rs.prompt_text.p);
    free(rs.gen_text.p);
    free(file_prompt);
    return rc;
}

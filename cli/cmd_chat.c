/* cmd_chat.c — `slm chat`: an interactive conversation with a model through
 * its chat template (REPL with line editing and history via libedit when
 * stdin is a terminal, plain line reading otherwise), or one reply to a
 * messages file (--messages). The turn engine (template, KV reuse, stop
 * strings, context management, tool calls) is cli/chat_engine.c. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat.h"

#ifdef SLM_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#ifndef SLM_SOURCE_DIR
#define SLM_SOURCE_DIR "."
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm chat [MODEL] [options]\n"
            "       slm chat MODEL --messages CONVERSATION.json [--json]\n"
            "\n"
            "Talk with a model through its chat template (tokenizer.chat_template). MODEL\n"
            "defaults to $SLM_MODEL, else %s/models/default.gguf.\n"
            "Interactive: type a message and press Enter. A line ending in '\\' continues\n"
            "on the next line; a line holding only \"\"\" starts and ends a multi-line block.\n"
            "Commands: /system TEXT, /reset, /save FILE, /load FILE, /tool TEXT, /stats,\n"
            "/help, /quit (or end of input). Ctrl-C stops a reply.\n"
            "The KV cache is reused across turns: each turn decodes only what the cache\n"
            "does not hold. When the context fills, the oldest turns are dropped (the\n"
            "system prompt is kept) and a note goes to stderr.\n"
            "\n"
            "options:\n"
            "      --messages FILE       reply once to the conversation in FILE (a JSON array of\n"
            "                            {role, content} messages, or {\"messages\": [...], \"tools\": [...]})\n"
            "      --json                with --messages: print an OpenAI chat.completion object;\n"
            "                            interactive: /stats prints one JSON line\n"
            "      --system TEXT         system prompt\n"
            "      --chat-template F|N   template file, or a built-in name (%s);\n"
            "                            default: the model's own, else chatml\n"
            "      --tools FILE          tool definitions (OpenAI JSON array) passed to the template;\n"
            "                            tool calls in replies are parsed and shown\n"
            "      --tool-format NAME    override the call syntax detected from the template\n"
            "      --tool-choice required  every reply is one tool call, constrained by a grammar\n"
            "                            built from the tools' schemas (hermes, llama3, functionary)\n"
            "      --grammar FILE        constrain every reply with a GBNF grammar\n"
            "      --json-schema FILE    constrain every reply to JSON valid for a JSON Schema\n"
            "      --stop TEXT           stop a reply at TEXT (repeatable; the template's\n"
            "                            end-of-turn text is always a stop string)\n"
            "  -n, --n-predict N         tokens per reply (default -1: until end of turn or full context)\n"
            "  -c, --ctx-size N          context length (default: min(trained, 4096))\n"
            "  -t, --threads N           compute threads (default: all cores)\n"
            "      --temp T              temperature (default 0.8; 0 = greedy)\n"
            "      --top-k K             keep the K most likely tokens (default 40; 0 = off)\n"
            "      --top-p P             nucleus sampling (default 0.95; 1 = off)\n"
            "      --min-p P             drop tokens below P x the best (default 0.05; 0 = off)\n"
            "      --repeat-penalty R    penalty on recent tokens (default 1.0 = off)\n"
            "      --seed S              random seed (default 0xC0FFEE)\n"
            "      --kv-type f16|f32     KV cache type (default f16)\n"
            "      --no-history          do not read or write ~/.slm_history\n"
            "  -h, --help                show this help\n",
            SLM_SOURCE_DIR, chat_builtin_names);
}

typedef struct chat_opts {
    const char *model, *messages, *system, *tmpl, *tools, *tool_format, *grammar, *schema;
    const char *stops[16];
    int n_stops;
    int32_t n_predict, n_ctx, n_threads;
    slm_sampler_params sp;
    slm_type kv_type;
    int json, no_history, tool_required;
} chat_opts;

static int parse(int argc, char **argv, chat_opts *o)
{
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return -1;
        } else if (cli_is(&a, "--messages", NULL)) {
            if (!(o->messages = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--system", NULL)) {
            if (!(o->system = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--chat-template", NULL)) {
            if (!(o->tmpl = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--tools", NULL)) {
            if (!(o->tools = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--tool-format", NULL)) {
            if (!(o->tool_format = cli_value(&a))) return CLI_USAGE;
            slm_tool_format f;
            if (slm_tool_format_from_name(o->tool_format, &f) != SLM_OK)
                return cli_usage_error(a.cmd, "%s", slm_last_error());
        } else if (cli_is(&a, "--tool-choice", NULL)) {
            const char *v = cli_value(&a);
            if (!v) return CLI_USAGE;
            if (!strcmp(v, "required")) o->tool_required = 1;
            else if (strcmp(v, "auto") != 0)
                return cli_usage_error(a.cmd, "--tool-choice must be auto or required, not '%s'", v);
        } else if (cli_is(&a, "--grammar", NULL)) {
            if (!(o->grammar = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--json-schema", NULL)) {
            if (!(o->schema = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "--stop", NULL)) {
            const char *v = cli_value(&a);
            if (!v) return CLI_USAGE;
            if (!v[0]) return cli_usage_error(a.cmd, "--stop needs a non-empty text");
            if (o->n_stops == 16) return cli_usage_error(a.cmd, "at most 16 --stop strings");
            o->stops[o->n_stops++] = v;
        } else if (cli_is(&a, "-n", "--n-predict")) {
            rc = cli_int(&a, -1, INT32_MAX, &o->n_predict);
        } else if (cli_is(&a, "-c", "--ctx-size")) {
            rc = cli_int(&a, 0, INT32_MAX, &o->n_ctx);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &o->n_threads);
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
        } else if (cli_is(&a, "--seed", "-s")) {
            rc = cli_u64(&a, &o->sp.seed);
        } else if (cli_is(&a, "--kv-type", NULL)) {
            rc = cli_kv_type(&a, &o->kv_type);
        } else if (cli_is(&a, "--json", NULL)) {
            o->json = 1;
        } else if (cli_is(&a, "--no-history", NULL)) {
            o->no_history = 1;
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
    if (o->grammar && o->schema) return cli_usage_error(a.cmd, "give --grammar or --json-schema, not both");
    if (o->tool_required && (o->grammar || o->schema))
        return cli_usage_error(a.cmd, "--tool-choice required makes its own grammar: drop --grammar/--json-schema");
    if (o->tool_required && !o->tools && !o->messages)
        return cli_usage_error(a.cmd, "--tool-choice required needs --tools");
    return 0;
}

static const char *default_model(char *buf, size_t cap)
{
    const char *env = getenv("SLM_MODEL");
    if (env && env[0] && access(env, R_OK) == 0) return env;
    snprintf(buf, cap, "%s/models/default.gguf", SLM_SOURCE_DIR);
    if (access(buf, R_OK) == 0) return buf;
    fprintf(stderr, "slm chat: no model given and no default model found (%s). Pass a model path: "
                    "slm chat MODEL.gguf\n", buf);
    return NULL;
}

/* Ctrl-C stops the reply being generated; at the prompt it is left to the
 * line editor (or ends the program as usual). */
static volatile int interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- output of a turn ---------------------------------------------------- */

static void print_tool_calls(const chat *c, FILE *f)
{
    if (!c->calls) return;
    for (size_t i = 0; i < c->calls->n_calls; i++) {
        const slm_tool_call *t = &c->calls->calls[i];
        fprintf(f, "[tool call %s] %s(%s)\n", t->id, t->name, t->arguments);
    }
}

static void print_stats(const chat *c, int json)
{
    const chat_turn_stats *t = &c->last;
    double tps = t->gen_ms > 0 ? (double)t->generated * 1e3 / t->gen_ms : 0.0;
    double pps = t->prompt_ms > 0 ? (double)t->decoded * 1e3 / t->prompt_ms : 0.0;
    uint32_t n_past = slm_session_n_past(c->sess), n_ctx = slm_session_n_ctx(c->sess);
    double kv_mib = (double)slm_session_memory_bytes(c->sess) / (1024.0 * 1024.0);
    if (json) {
        printf("{\"turns\":%llu,\"messages\":%d,\"context_tokens\":%u,\"n_ctx\":%u,\"session_memory_mib\":%.2f,"
               "\"last_turn\":{\"prompt_tokens\":%zu,\"reused_tokens\":%zu,\"decoded_tokens\":%zu,"
               "\"generated_tokens\":%zu,\"dropped_messages\":%zu,\"stop\":\"%s\",\"prompt_ms\":%.3f,"
               "\"prompt_tokens_per_s\":%.3f,\"generation_ms\":%.3f,\"generated_tokens_per_s\":%.3f,"
               "\"time_to_first_token_ms\":%.3f},\"total_reused_tokens\":%llu,\"total_decoded_tokens\":%llu,"
               "\"total_generated_tokens\":%llu}\n",
               (unsigned long long)c->turns, cJSON_GetArraySize(c->messages), n_past, n_ctx, kv_mib,
               t->prompt_tokens, t->reused, t->decoded, t->generated, t->dropped, t->stop ? t->stop : "none",
               t->prompt_ms, pps, t->gen_ms, tps, t->ttft_ms, (unsigned long long)c->total_reused,
               (unsigned long long)c->total_decoded, (unsigned long long)c->total_generated);
        fflush(stdout);
        return;
    }
    printf("context: %u of %u tokens; session memory (KV cache + scratch) %.2f MiB; %d messages, %llu turns\n",
           n_past, n_ctx, kv_mib, cJSON_GetArraySize(c->messages), (unsigned long long)c->turns);
    if (c->turns)
        printf("last turn: prompt %zu tokens (reused %zu from the cache, decoded %zu, %.1f tok/s), "
               "generated %zu (%.1f tok/s), first token %.1f ms, stop: %s%s\n",
               t->prompt_tokens, t->reused, t->decoded, pps, t->generated, tps, t->ttft_ms, t->stop,
               t->dropped ? " (oldest turns dropped)" : "");
    printf("total: reused %llu, decoded %llu, generated %llu tokens\n", (unsigned long long)c->total_reused,
           (unsigned long long)c->total_decoded, (unsigned long long)c->total_generated);
    fflush(stdout);
}

static int save_messages(const chat *c, const char *path)
{
    char *s = cJSON_Print(c->messages);
    if (!s) return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(s);
    return ok ? 0 : -1;
}

/* The --json object for --messages: OpenAI's chat.completion plus timings. */
static void print_completion_json(const chat *c, const char *model_path)
{
    const chat_turn_stats *t = &c->last;
    int has_calls = c->calls && c->calls->n_calls > 0;
    const char *finish = has_calls ? "tool_calls"
                         : (!strcmp(t->stop, "eog") || !strcmp(t->stop, "stop")) ? "stop" : "length";
    printf("{\"id\":\"chatcmpl-slm-%ld\",\"object\":\"chat.completion\",\"created\":%ld,\"model\":",
           (long)time(NULL), (long)time(NULL));
    cli_json_string(stdout, model_path, strlen(model_path));
    printf(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (has_calls) cli_json_string(stdout, c->calls->content, c->calls->content_len);
    else cli_json_string(stdout, c->reply, c->reply_len);
    if (has_calls) {
        char *js = NULL;
        if (slm_tool_calls_to_json(c->calls, &js) == SLM_OK) printf(",\"tool_calls\":%s", js);
        slm_chat_free(js);
    }
    double tps = t->gen_ms > 0 ? (double)t->generated * 1e3 / t->gen_ms : 0.0;
    double pps = t->prompt_ms > 0 ? (double)t->decoded * 1e3 / t->prompt_ms : 0.0;
    printf("},\"finish_reason\":\"%s\"}],\"usage\":{\"prompt_tokens\":%zu,\"completion_tokens\":%zu,"
           "\"total_tokens\":%zu,\"prompt_tokens_details\":{\"cached_tokens\":%zu}},"
           "\"timings\":{\"prompt_n\":%zu,\"prompt_ms\":%.3f,\"prompt_per_second\":%.3f,\"predicted_n\":%zu,"
           "\"predicted_ms\":%.3f,\"predicted_per_second\":%.3f,\"time_to_first_token_ms\":%.3f},"
           "\"stop\":\"%s\",\"dropped_messages\":%zu}\n",
           finish, t->prompt_tokens, t->generated, t->prompt_tokens + t->generated, t->reused, t->decoded,
           t->prompt_ms, pps, t->generated, t->gen_ms, tps, t->ttft_ms, t->stop, t->dropped);
    fflush(stdout);
}

/* ---- input ------------------------------------------------------------- */

typedef struct line_reader {
    int tty;        /* stdin is a terminal: prompts, line editing */
    int history;    /* history file in use */
    char hist_path[1024];
} line_reader;

/* One physical line without its newline (malloc'd), or NULL at end of input. */
static char *read_line(line_reader *r, const char *prompt)
{
#ifdef SLM_HAVE_LIBEDIT
    if (r->tty) return readline(prompt);
#endif
    if (r->tty) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    size_t cap = 256, n = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    int ch;
    while ((ch = fgetc(stdin)) != EOF && ch != '\n') {
        if (n + 2 > cap) {
            char *ns = realloc(s, cap *= 2);
            if (!ns) {
                free(s);
                return NULL;
            }
            s = ns;
        }
        s[n++] = (char)ch;
    }
    if (ch == EOF && n == 0) {
        free(s);
        return NULL;
    }
    if (n > 0 && s[n - 1] == '\r') n--;
    s[n] = '\0';
    return s;
}

static int append_str(char **buf, size_t *len, const char *s, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb) return -1;
    memcpy(nb + *len, s, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
    return 0;
}

/* One logical input: a line, lines joined by a trailing '\', or a """ block.
 * NULL at end of input. */
static char *read_input(line_reader *r)
{
    char *line = read_line(r, "> ");
    if (!line) return NULL;
    char *buf = NULL;
    size_t len = 0;
    if (strcmp(line, "\"\"\"") == 0) {
        free(line);
        int first = 1;
        while ((line = read_line(r, ". ")) && strcmp(line, "\"\"\"") != 0) {
            if ((!first && append_str(&buf, &len, "\n", 1)) || append_str(&buf, &len, line, strlen(line))) break;
            first = 0;
            free(line);
        }
        free(line);
        return buf ? buf : strdup("");
    }
    for (;;) {
        size_t n = strlen(line);
        int more = n > 0 && line[n - 1] == '\\';
        if (more) n--;
        if (append_str(&buf, &len, line, n) || (more && append_str(&buf, &len, "\n", 1))) {
            free(line);
            free(buf);
            return NULL;
        }
        free(line);
        if (!more) break;
        if (!(line = read_line(r, ". "))) break;
    }
#ifdef SLM_HAVE_LIBEDIT
    if (r->tty && len > 0) add_history(buf);
#endif
    return buf;
}

/* ---- the REPL ------------------------------------------------------------ */

static void repl_help(void)
{
    printf("commands:\n"
           "  /system TEXT   set the system prompt (no TEXT: show it)\n"
           "  /reset         forget the conversation (the system prompt stays)\n"
           "  /save FILE     write the conversation as OpenAI-style messages JSON\n"
           "  /load FILE     replace the conversation with a messages file\n"
           "  /tool TEXT     answer the last tool call with TEXT and let the model continue\n"
           "  /stats         tokens in context, KV memory, last turn's speed and cache reuse\n"
           "  /help          this list\n"
           "  /quit          leave (also Ctrl-D)\n"
           "A line ending in '\\' continues; a line holding only \"\"\" opens and closes a block.\n");
    fflush(stdout);
}

static int respond(chat *c, const char *cmd)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    int installed = sigaction(SIGINT, &sa, &old) == 0;
    int rc = chat_respond(c, cmd);
    if (installed) sigaction(SIGINT, &old, NULL);
    if (rc == CLI_OK) {
        if (c->stream) {
            fputc('\n', c->stream);
            print_tool_calls(c, c->stream);
        }
        if (!strcmp(c->last.stop, "interrupted")) fprintf(stderr, "slm %s: reply interrupted\n", cmd);
        fflush(stdout);
    }
    return rc;
}

static const cJSON *last_tool_call(const chat *c)
{
    for (const cJSON *m = cJSON_GetArrayItem(c->messages, cJSON_GetArraySize(c->messages) - 1); m; m = m->prev) {
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (cJSON_IsArray(tc) && cJSON_GetArraySize(tc) > 0) return cJSON_GetArrayItem(tc, 0);
        if (m == c->messages->child) break;
    }
    return NULL;
}

static int repl(chat *c, const char *cmd, const chat_opts *o)
{
    line_reader r;
    memset(&r, 0, sizeof r);
    r.tty = isatty(STDIN_FILENO);
#ifdef SLM_HAVE_LIBEDIT
    const char *home = getenv("HOME");
    if (r.tty && !o->no_history && home && home[0]) {
        snprintf(r.hist_path, sizeof r.hist_path, "%s/.slm_history", home);
        using_history();
        stifle_history(1000);
        read_history(r.hist_path);
        r.history = 1;
    }
#endif
    if (r.tty) fprintf(stderr, "slm chat: /help for commands, Ctrl-D to leave\n");
    char *in;
    while ((in = read_input(&r))) {
        char *arg = NULL;
        if (in[0] == '/') {
            arg = strchr(in, ' ');
            if (arg) {
                *arg++ = '\0';
                while (*arg == ' ') arg++;
            }
        }
        if (in[0] != '/') {
            if (in[0] == '\0') {
                free(in);
                continue;
            }
            if (chat_add(c, "user", in) == 0) {
                if (respond(c, cmd) != CLI_OK) /* the turn failed: forget the message */
                    cJSON_DeleteItemFromArray(c->messages, cJSON_GetArraySize(c->messages) - 1);
            }
        } else if (!strcmp(in, "/quit") || !strcmp(in, "/exit")) {
            free(in);
            break;
        } else if (!strcmp(in, "/help")) {
            repl_help();
        } else if (!strcmp(in, "/reset")) {
            chat_reset(c);
            fprintf(stderr, "slm %s: conversation cleared\n", cmd);
        } else if (!strcmp(in, "/system")) {
            if (!arg || !arg[0]) {
                const cJSON *m = cJSON_GetArrayItem(c->messages, 0);
                const cJSON *ct = cJSON_GetObjectItemCaseSensitive(m, "content");
                const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
                int sys = cJSON_IsString(role) && !strcmp(role->valuestring, "system");
                printf("%s\n", sys && cJSON_IsString(ct) ? ct->valuestring : "(no system prompt)");
            } else {
                chat_set_system(c, arg);
            }
        } else if (!strcmp(in, "/save")) {
            if (!arg || !arg[0]) fprintf(stderr, "slm %s: /save needs a file name\n", cmd);
            else if (save_messages(c, arg)) fprintf(stderr, "slm %s: cannot write '%s': %s\n", cmd, arg, strerror(errno));
            else fprintf(stderr, "slm %s: saved %d messages to %s\n", cmd, cJSON_GetArraySize(c->messages), arg);
        } else if (!strcmp(in, "/load")) {
            cJSON *msgs = arg && arg[0] ? chat_read_messages(cmd, arg, NULL) : NULL;
            if (!arg || !arg[0]) fprintf(stderr, "slm %s: /load needs a file name\n", cmd);
            if (msgs) {
                cJSON_Delete(c->messages);
                c->messages = msgs;
                fprintf(stderr, "slm %s: loaded %d messages from %s\n", cmd, cJSON_GetArraySize(msgs), arg);
            }
        } else if (!strcmp(in, "/tool")) {
            const cJSON *tc = last_tool_call(c);
            if (!tc) {
                fprintf(stderr, "slm %s: no tool call to answer\n", cmd);
            } else {
                cJSON *m = cJSON_CreateObject();
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
                if (m) {
                    cJSON_AddStringToObject(m, "role", "tool");
                    if (cJSON_IsString(id)) cJSON_AddStringToObject(m, "tool_call_id", id->valuestring);
                    if (cJSON_IsString(nm)) cJSON_AddStringToObject(m, "name", nm->valuestring);
                    cJSON_AddStringToObject(m, "content", arg ? arg : "");
                    cJSON_AddItemToArray(c->messages, m);
                    if (respond(c, cmd) != CLI_OK)
                        cJSON_DeleteItemFromArray(c->messages, cJSON_GetArraySize(c->messages) - 1);
                }
            }
        } else if (!strcmp(in, "/stats")) {
            print_stats(c, o->json);
        } else {
            fprintf(stderr, "slm %s: unknown command '%s' (/help lists them)\n", cmd, in);
        }
        free(in);
    }
#ifdef SLM_HAVE_LIBEDIT
    if (r.history) write_history(r.hist_path);
#endif
    return CLI_OK;
}

/* ---- main ----------------------------------------------------------------- */

static int load_template(chat *c, const char *cmd, const chat_opts *o)
{
    const char *src = NULL;
    size_t len = 0;
    char *file = NULL;
    if (o->tmpl) {
        const char *builtin = chat_builtin_template(o->tmpl);
        if (builtin && access(o->tmpl, R_OK) != 0) {
            src = builtin;
        } else if (access(o->tmpl, F_OK) == 0 || strchr(o->tmpl, '/') || strstr(o->tmpl, ".jinja")) {
            if (!(file = cli_read_file(o->tmpl, &len))) {
                fprintf(stderr, "slm %s: cannot read chat template '%s': %s\n", cmd, o->tmpl, strerror(errno));
                return CLI_FAIL;
            }
            c->tmpl = file;
            c->tmpl_len = len;
            return CLI_OK;
        } else {
            return cli_usage_error(cmd, "--chat-template '%s' is neither a file nor a built-in name (%s)", o->tmpl,
                                   chat_builtin_names);
        }
    } else if (slm_model_chat_template(c->model, &src) != SLM_OK) {
        fprintf(stderr, "slm %s: the model has no chat template: using the built-in chatml "
                        "(--chat-template FILE|NAME to choose)\n", cmd);
        src = chat_builtin_template("chatml");
    }
    len = strlen(src);
    if (!(c->tmpl = malloc(len + 1))) return CLI_FAIL;
    memcpy(c->tmpl, src, len + 1);
    c->tmpl_len = len;
    return CLI_OK;
}

int cmd_chat(int argc, char **argv)
{
    const char *cmd = "chat";
    chat_opts o;
    memset(&o, 0, sizeof o);
    o.n_predict = -1;
    o.sp = slm_sampler_default_params();
    o.kv_type = SLM_TYPE_F16;
    int rc = parse(argc, argv, &o);
    if (rc < 0) return CLI_OK;
    if (rc) return rc;
    if (o.json && !o.messages && isatty(STDIN_FILENO))
        fprintf(stderr, "slm chat: --json without --messages: only /stats prints JSON\n");

    char defpath[4096];
    if (!o.model && !(o.model = default_model(defpath, sizeof defpath))) return CLI_USAGE;

    chat c;
    memset(&c, 0, sizeof c);
    c.n_predict = o.n_predict;
    c.interrupt = &interrupted;
    slm_status st;
    rc = CLI_FAIL;

    /* Read the input files before the (slow) model load, so mistakes fail fast. */
    cJSON *file_msgs = NULL, *file_tools = NULL;
    if (o.messages && !(file_msgs = chat_read_messages(cmd, o.messages, &file_tools))) goto done;
    if (o.tools) {
        size_t len = 0;
        char *s = cli_read_file(o.tools, &len);
        if (!s) {
            fprintf(stderr, "slm %s: cannot read tools file '%s': %s\n", cmd, o.tools, strerror(errno));
            goto done;
        }
        cJSON *t = cJSON_ParseWithLength(s, len);
        free(s);
        if (!cJSON_IsArray(t)) {
            fprintf(stderr, "slm %s: %s: expected a JSON array of tool definitions\n", cmd, o.tools);
            cJSON_Delete(t);
            goto done;
        }
        cJSON_Delete(file_tools);
        file_tools = t;
    }
    c.tools = file_tools;
    file_tools = NULL;
    if (c.tools && !(c.tools_json = cJSON_PrintUnformatted(c.tools))) goto done;

    slm_model_params mp = slm_model_default_params();
    if (o.n_threads > 0) mp.n_threads = o.n_threads;
    if (cli_load_model(cmd, o.model, &mp, &c.model) != CLI_OK) goto done;
    if ((rc = load_template(&c, cmd, &o)) != CLI_OK) goto done;
    rc = CLI_FAIL;
    if (o.tool_format) slm_tool_format_from_name(o.tool_format, &c.tool_format);
    else if (c.tools) c.tool_format = slm_tool_format_detect(c.tmpl, c.tmpl_len);
    if (c.tools && c.tool_format == SLM_TOOL_FORMAT_NONE)
        fprintf(stderr, "slm %s: the chat template shows no tool-call syntax slm knows: replies are "
                        "not parsed for calls (--tool-format NAME to choose one)\n", cmd);
    else if (c.tools)
        fprintf(stderr, "slm %s: tool calls are parsed as '%s'\n", cmd, slm_tool_format_name(c.tool_format));

    if (o.grammar || o.schema) {
        const char *path = o.grammar ? o.grammar : o.schema;
        size_t len = 0;
        char *src = cli_read_file(path, &len), *gbnf = NULL;
        if (!src) {
            fprintf(stderr, "slm %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
            goto done;
        }
        if (o.schema) {
            st = slm_json_schema_to_grammar(src, len, &gbnf);
            free(src);
            src = NULL;
            if (st != SLM_OK) {
                fprintf(stderr, "slm %s: %s: %s\n", cmd, path, slm_last_error());
                goto done;
            }
            len = strlen(gbnf);
        }
        st = slm_grammar_new(c.model, gbnf ? gbnf : src, len, NULL, &c.grammar);
        free(src);
        slm_grammar_text_free(gbnf);
        if (st != SLM_OK) {
            fprintf(stderr, "slm %s: %s: %s\n", cmd, path, slm_last_error());
            goto done;
        }
    }
    if (o.tool_required) {
        char *gbnf = NULL;
        if (!c.tools_json) {
            fprintf(stderr, "slm %s: --tool-choice required: no tools (--tools FILE or \"tools\" in the messages file)\n",
                    cmd);
            goto done;
        }
        st = slm_tool_calls_grammar(c.tool_format, c.tools_json, &gbnf);
        if (st == SLM_OK) st = slm_grammar_new(c.model, gbnf, strlen(gbnf), NULL, &c.grammar);
        slm_chat_free(gbnf);
        if (st != SLM_OK) {
            fprintf(stderr, "slm %s: --tool-choice required: %s\n", cmd, slm_last_error());
            goto done;
        }
    }
    if ((st = slm_sampler_new(&o.sp, &c.smp)) != SLM_OK) {
        cli_fail(cmd, "bad sampling parameters", st);
        rc = CLI_USAGE;
        goto done;
    }
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = (uint32_t)o.n_ctx;
    sp.kv_type = o.kv_type;
    if (o.n_threads > 0) sp.n_threads = o.n_threads;
    if ((st = slm_session_new(c.model, &sp, &c.sess)) != SLM_OK) {
        cli_fail(cmd, "cannot create a session", st);
        goto done;
    }
    if (chat_init(&c, cmd) != CLI_OK) goto done;
    for (int i = 0; i < o.n_stops; i++) {
        char **ns = realloc(c.stops, (c.n_stops + 1) * sizeof *ns);
        if (!ns || !(ns[c.n_stops] = strdup(o.stops[i]))) {
            if (ns) c.stops = ns;
            goto done;
        }
        c.stops = ns;
        c.n_stops++;
    }

    if (o.messages) {
        cJSON_Delete(c.messages);
        c.messages = file_msgs;
        file_msgs = NULL;
        if (o.system) chat_set_system(&c, o.system);
        c.stream = o.json ? NULL : stdout;
        if (respond(&c, cmd) != CLI_OK) goto done;
        if (o.json) print_completion_json(&c, o.model);
        rc = CLI_OK;
        goto done;
    }
    if (o.system) chat_set_system(&c, o.system);
    c.stream = stdout;
    rc = repl(&c, cmd, &o);
done:
    cJSON_Delete(file_msgs);
    cJSON_Delete(file_tools);
    chat_free(&c);
    slm_grammar_free(c.grammar);
    slm_sampler_free(c.smp);
    slm_session_free(c.sess);
    slm_model_free(c.model);
    return rc;
}

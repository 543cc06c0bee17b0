/* chat.h — the conversation engine behind `slm chat` (cli/chat_engine.c):
 * a message list rendered through the model's chat template, a session whose
 * KV cache is reused across turns (only tokens after the longest common
 * prefix with the cache are decoded), streaming generation with stop strings,
 * dropping of the oldest turns when the context fills, and tool-call parsing
 * of the reply. The REPL and the command line are in cli/cmd_chat.c. */
#ifndef SLM_CLI_CHAT_H
#define SLM_CLI_CHAT_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "cli.h"

/* What the last turn did. */
typedef struct chat_turn_stats {
    size_t prompt_tokens;  /* tokens of the rendered conversation */
    size_t reused;         /* of those, already in the KV cache (not decoded) */
    size_t decoded;        /* prompt tokens evaluated this turn */
    size_t generated;      /* tokens of the reply */
    size_t dropped;        /* messages dropped to make room */
    double prompt_ms, gen_ms, ttft_ms;
    const char *stop;      /* "eog" (incl. a completed grammar), "stop" (a stop string), "length" (-n),
                              "context", "interrupted", "grammar" (no allowed token) */
} chat_turn_stats;

typedef struct chat {
    slm_model *model;
    slm_session *sess;
    slm_sampler *smp;
    char *tmpl;                 /* template source (owned) */
    size_t tmpl_len;
    char *bos, *eos;            /* bos_token / eos_token as text (owned) */
    char **stops;               /* stop strings (owned), n_stops */
    size_t n_stops;
    cJSON *messages;            /* the conversation: an array of OpenAI-style messages */
    cJSON *tools;               /* tool definitions (array) or NULL */
    char *tools_json;           /* the same as text, for the parser */
    slm_tool_format tool_format;
    int32_t n_predict;          /* tokens per reply; -1 = until EOG or a full context */
    int32_t *toks;              /* the tokens in the KV cache, in order */
    size_t n_toks, cap_toks;
    FILE *stream;               /* reply text is streamed here; NULL = not streamed */
    chat_turn_stats last;
    uint64_t turns, total_decoded, total_reused, total_generated;
    char *reply;                /* the last reply (after stop strings are cut) */
    size_t reply_len;
    slm_tool_calls *calls;      /* tool calls of the last reply (NULL if none parsed) */
    volatile int *interrupt;    /* set asynchronously to stop a reply; may be NULL */
    slm_grammar *grammar;       /* constrains every reply (reset per turn); NULL = none */
} chat;

/* Set up the template-dependent parts: bos/eos text and the template's own
 * end-of-turn text (added to the stop strings). 0 ok, else CLI_FAIL. */
int chat_init(chat *c, const char *cmd);
void chat_free(chat *c);

/* Append a message {role, content}. 0 ok, -1 out of memory. */
int chat_add(chat *c, const char *role, const char *content);
/* Replace the system prompt (first message if it is a system message),
 * or insert one. NULL or "" removes it. */
int chat_set_system(chat *c, const char *text);
/* Drop every message except a leading system prompt. */
void chat_reset(chat *c);

/* Render the conversation with a generation prompt, reuse the cache, and
 * generate one assistant reply (streamed to c->stream), which is appended to
 * the messages. Returns CLI_OK, or CLI_FAIL with a message on stderr (the
 * conversation is then unchanged). */
int chat_respond(chat *c, const char *cmd);

/* Parse a messages file: a JSON array of messages, or an object with
 * "messages" (and optionally "tools"). NULL with a message on failure. */
cJSON *chat_read_messages(const char *cmd, const char *path, cJSON **tools);

/* The built-in templates for --chat-template NAME; NULL if unknown. */
const char *chat_builtin_template(const char *name);
extern const char *const chat_builtin_names; /* "chatml, llama3, gemma" */

#endif

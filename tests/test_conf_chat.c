/* test_conf_chat.c — chat templates against the reference renderings of
 * ../shared/testdata/chat (Jinja2 3.1.6 configured as transformers'
 * apply_chat_template): every template x case of cases.json is rendered with
 * the context the README prescribes (the conversation's messages plus every
 * key of the case's variables) and compared byte for byte with expected/, or
 * required to fail where the reference raised (for raise_exception, with
 * the same message).
 *
 * Prints per-template pass counts and the total; fails if the total drops
 * below PASS_FLOOR (the count reached when the floor was set), so a
 * regression is caught even while some cases are still unsupported.
 * Set SLM_CHAT_VERBOSE=1 to see each failing case with a diff position.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "slm.h"

#define CHAT_DIR SLM_TESTDATA_DIR "/chat"
#define PASS_FLOOR 650

static char *read_text(const char *rel, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CHAT_DIR, rel);
    return harness_read_file(path, n);
}

static int verbose;
static double render_seconds; /* time inside slm_chat_template_render (bench/chat_speed.py reads it) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Render one case; 1 if it matches the reference. */
static int run_case(const cJSON *root, const cJSON *c)
{
    const char *tname = cJSON_GetObjectItem(c, "template")->valuestring;
    const char *conv = cJSON_GetObjectItem(c, "conversation")->valuestring;
    const char *id = cJSON_GetObjectItem(c, "id")->valuestring;
    const char *expect = cJSON_GetObjectItem(c, "expect")->valuestring;
    const char *expected = cJSON_GetObjectItem(c, "expected")->valuestring;
    const cJSON *tinfo = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "templates"), tname);
    const cJSON *cv = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "conversations"), conv);

    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddItemToObject(ctx, "messages", cJSON_Duplicate(cJSON_GetObjectItem(cv, "messages"), 1));
    for (const cJSON *v = cJSON_GetObjectItem(c, "variables")->child; v; v = v->next)
        cJSON_AddItemToObject(ctx, v->string, cJSON_Duplicate(v, 1));
    char *ctx_json = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);

    size_t tlen = 0, elen = 0;
    char *tmpl = read_text(cJSON_GetObjectItem(tinfo, "file")->valuestring, &tlen);
    char *want = read_text(expected, &elen);
    int ok = 0;
    if (!tmpl || !want) {
        printf("  %s: cannot read template or expected file\n", id);
    } else {
        char *out = NULL;
        size_t out_len = 0;
        double t0 = now_s();
        slm_status st = slm_chat_template_render(tmpl, tlen, ctx_json, strlen(ctx_json), &out, &out_len);
        render_seconds += now_s() - t0;
        if (!strcmp(expect, "error")) {
            const char *etype = cJSON_GetObjectItem(c, "error_type")->valuestring;
            ok = st != SLM_OK;
            if (ok && !strcmp(etype, "raise_exception")) {
                /* our message: "template line N: raise_exception: <msg>" */
                const char *msg = slm_last_error();
                const char *p = strstr(msg, "raise_exception: ");
                ok = p && strlen(p + 17) == elen && memcmp(p + 17, want, elen) == 0;
            }
            if (!ok && verbose)
                printf("  %s: expected error '%.*s', got %s %s\n", id, (int)elen, want,
                       st == SLM_OK ? "output" : "error", st == SLM_OK ? "" : slm_last_error());
        } else {
            ok = st == SLM_OK && out_len == elen && memcmp(out, want, elen) == 0;
            if (!ok && verbose) {
                if (st != SLM_OK) printf("  %s: error %s\n", id, slm_last_error());
                else {
                    size_t k = 0;
                    while (k < out_len && k < elen && out[k] == want[k]) k++;
                    printf("  %s: differs at byte %zu (len %zu vs %zu)\n    got : %.60s\n    want: %.60s\n", id, k,
                           out_len, elen, out + (k > 20 ? k - 20 : 0), want + (k > 20 ? k - 20 : 0));
                }
            }
        }
        slm_chat_free(out);
    }
    free(tmpl);
    free(want);
    free(ctx_json);
    return ok;
}

static void chat_templates_render_like_the_reference(void)
{
    size_t n = 0;
    char *text = read_text("cases.json", &n);
    REQUIRE(text, "cannot read %s/cases.json", CHAT_DIR);
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    REQUIRE(root, "cases.json does not parse");
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    int total = 0, passed = 0, tpass = 0, tcount = 0;
    const char *cur = NULL;
    for (const cJSON *c = cases->child; c; c = c->next) {
        const char *tname = cJSON_GetObjectItem(c, "template")->valuestring;
        if (cur && strcmp(cur, tname)) {
            printf("%-50s %d/%d\n", cur, tpass, tcount);
            tpass = tcount = 0;
        }
        cur = tname;
        int ok = run_case(root, c);
        total++;
        tcount++;
        passed += ok;
        tpass += ok;
    }
    if (cur) printf("%-50s %d/%d\n", cur, tpass, tcount);
    printf("chat templates: %d/%d cases byte-exact (floor %d)\n", passed, total, PASS_FLOOR);
    printf("render time (parse + render, all cases): %.1f ms\n", render_seconds * 1e3);
    CHECK(total == 650, "cases.json lists %d cases, the README says 650", total);
    CHECK(passed >= PASS_FLOOR, "%d cases pass, fewer than the floor %d", passed, PASS_FLOOR);
    cJSON_Delete(root);
}

static unsigned long long rng = 88172645463325252ull;
static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 20);
}

/* Replace the k-th node (depth-first) of j by a random other JSON value. */
static int mutate_node(cJSON *j, int *k)
{
    for (cJSON *c = j->child; c; c = c->next) {
        if ((*k)-- == 0) {
            cJSON *r;
            switch (next_rand() % 6) {
            case 0: r = cJSON_CreateNull(); break;
            case 1: r = cJSON_CreateNumber((double)(next_rand() % 5)); break;
            case 2: r = cJSON_CreateString("x\u00e9<|>"); break;
            case 3: r = cJSON_CreateArray(); cJSON_AddItemToArray(r, cJSON_CreateString("a")); break;
            case 4: r = cJSON_CreateObject(); cJSON_AddStringToObject(r, "role", "user"); break;
            default: r = cJSON_CreateBool(next_rand() % 2); break;
            }
            cJSON_ReplaceItemViaPointer(j, c, r);
            return 1;
        }
        if (mutate_node(c, k)) return 1;
    }
    return 0;
}

/* Every real template with randomly broken contexts (wrong types, nulls,
 * missing structure): renders or refuses with a message, never crashes. */
static void real_templates_survive_random_contexts(void)
{
    size_t n = 0;
    char *text = read_text("cases.json", &n);
    REQUIRE(text, "cannot read cases.json");
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    REQUIRE(root, "cases.json does not parse");
    const cJSON *conv = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "conversations"), "tool_call");
    int ok = 0, refused = 0;
    for (const cJSON *t = cJSON_GetObjectItem(root, "templates")->child; t; t = t->next) {
        size_t tlen = 0;
        char *tmpl = read_text(cJSON_GetObjectItem(t, "file")->valuestring, &tlen);
        if (!tmpl) continue;
        for (int r = 0; r < 12; r++) {
            cJSON *ctx = cJSON_CreateObject();
            cJSON_AddItemToObject(ctx, "messages", cJSON_Duplicate(cJSON_GetObjectItem(conv, "messages"), 1));
            cJSON_AddItemToObject(ctx, "tools", cJSON_Duplicate(cJSON_GetObjectItem(conv, "tools"), 1));
            cJSON_AddBoolToObject(ctx, "add_generation_prompt", r % 2);
            cJSON_AddStringToObject(ctx, "bos_token", "<s>");
            cJSON_AddStringToObject(ctx, "eos_token", "</s>");
            for (int m = 0; m < 1 + r % 3; m++) {
                int k = (int)(next_rand() % 60);
                mutate_node(ctx, &k);
            }
            char *js = cJSON_PrintUnformatted(ctx);
            cJSON_Delete(ctx);
            char *out = NULL;
            size_t len = 0;
            slm_status st = slm_chat_template_render(tmpl, tlen, js, strlen(js), &out, &len);
            if (st == SLM_OK) {
                ok++;
                CHECK(out && out[len] == 0, "output not terminated");
            } else {
                refused++;
                CHECK(!out && strlen(slm_last_error()) > 0, "refusal without message");
            }
            slm_chat_free(out);
            free(js);
        }
        free(tmpl);
    }
    printf("  random contexts: %d rendered, %d refused\n", ok, refused);
    CHECK(ok > 0 && refused > 0, "both outcomes expected");
    cJSON_Delete(root);
}

/* The template stored in a GGUF (tokenizer.chat_template) renders through
 * slm_model_chat_template; expected text from Jinja2 3.1.6 on the same
 * template (Qwen2's ChatML with its default system prompt). */
static void model_chat_template_is_read_from_the_gguf(void)
{
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    slm_model *m = NULL;
    REQUIRE(slm_model_load(SLM_TESTDATA_DIR "/tokenizer/ggml-vocab-qwen2.gguf", &mp, &m) == SLM_OK, "%s",
            slm_last_error());
    const char *tmpl = NULL;
    REQUIRE(slm_model_chat_template(m, &tmpl) == SLM_OK && tmpl, "%s", slm_last_error());
    const char *ctx = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"add_generation_prompt\": true, "
                      "\"bos_token\": \"\", \"eos_token\": \"<|endoftext|>\", \"tools\": null, \"documents\": null}";
    char *out = NULL;
    size_t len = 0;
    slm_status st = slm_chat_template_render(tmpl, strlen(tmpl), ctx, strlen(ctx), &out, &len);
    CHECK(st == SLM_OK, "%s", slm_last_error());
    const char *want = "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\n";
    CHECK(out && strcmp(out, want) == 0, "got [%s]", out ? out : "");
    slm_chat_free(out);
    slm_model_free(m);

    REQUIRE(slm_model_load(SLM_TESTDATA_DIR "/models/tiny-gemma2-F32.gguf", &mp, &m) == SLM_OK, "%s",
            slm_last_error());
    tmpl = "x";
    CHECK(slm_model_chat_template(m, &tmpl) == SLM_ERR_ARG && tmpl == NULL, "a model without a template");
    slm_model_free(m);
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR "/chat");
    verbose = getenv("SLM_CHAT_VERBOSE") != NULL;
    RUN(chat_templates_render_like_the_reference);
    RUN(model_chat_template_is_read_from_the_gguf);
    RUN(real_templates_survive_random_contexts);
    return harness_finish();
}

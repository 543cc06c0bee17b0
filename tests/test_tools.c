/* test_tools.c — tool-call format detection and parsing (src/chat/tools.c).
 *
 * Expectations come from the formats as the templates themselves write an
 * assistant tool call (the strings below are copied from the reference
 * renderings in ../shared/testdata/chat/expected), and, when ../shared is
 * present, from every real template's reference rendering of the tool_call
 * conversation: parsing it must recover get_weather({"location": "Paris"}).
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/grammar.h"
#include "harness.h"
#include "slm.h"

#define CHAT_DIR SLM_TESTDATA_DIR "/chat"

/* 1 if JSON texts a and b are equal values. */
static int json_equal(const char *a, const char *b)
{
    cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);
    int eq = x && y && cJSON_Compare(x, y, 1);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return eq;
}

static slm_tool_calls *parse(slm_tool_format f, const char *text, const char *tools)
{
    slm_tool_calls *c = NULL;
    slm_status st = slm_tool_calls_parse(f, text, strlen(text), tools, &c);
    CHECK(st == SLM_OK, "parse failed: %s", slm_last_error());
    return c;
}

/* The reply holds exactly one call name(args) and the given content. */
static void expect_one(slm_tool_format f, const char *text, const char *name, const char *args,
                       const char *id, const char *content)
{
    slm_tool_calls *c = parse(f, text, NULL);
    if (!c) return;
    CHECK(c->n_calls == 1, "%s: %zu calls in '%s'", slm_tool_format_name(f), c->n_calls, text);
    if (c->n_calls == 1) {
        CHECK(strcmp(c->calls[0].name, name) == 0, "name '%s'", c->calls[0].name);
        CHECK(json_equal(c->calls[0].arguments, args), "arguments '%s', want %s", c->calls[0].arguments, args);
        if (id) CHECK(strcmp(c->calls[0].id, id) == 0, "id '%s', want '%s'", c->calls[0].id, id);
    }
    CHECK(strcmp(c->content, content) == 0, "content '%s', want '%s'", c->content, content);
    CHECK(c->content_len == strlen(content), "content_len %zu", c->content_len);
    slm_tool_calls_free(c);
}

static void hermes_call_is_parsed_with_surrounding_text(void)
{
    expect_one(SLM_TOOL_FORMAT_HERMES,
               "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n"
               "</tool_call>",
               "get_weather", "{\"location\": \"Paris\"}", "call_0", "Let me check.");
}

static void hermes_arguments_keep_the_models_bytes(void)
{
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_HERMES,
                              "<tool_call>{\"name\":\"f\",\"arguments\":{\"n\": 1.50, \"s\": \"\\u00e9\"}}</tool_call>",
                              NULL);
    REQUIRE(c && c->n_calls == 1, "one call");
    CHECK(strcmp(c->calls[0].arguments, "{\"n\": 1.50, \"s\": \"\\u00e9\"}") == 0, "got %s", c->calls[0].arguments);
    slm_tool_calls_free(c);
}

static void hermes_parses_several_calls_and_string_arguments(void)
{
    const char *t = "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
                    "<tool_call>\n{\"name\": \"b\", \"arguments\": \"{\\\"y\\\": [true, null]}\"}\n</tool_call>";
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_HERMES, t, NULL);
    REQUIRE(c && c->n_calls == 2, "two calls");
    CHECK(strcmp(c->calls[0].name, "a") == 0 && strcmp(c->calls[1].name, "b") == 0, "names");
    CHECK(strcmp(c->calls[0].id, "call_0") == 0 && strcmp(c->calls[1].id, "call_1") == 0, "ids");
    CHECK(json_equal(c->calls[1].arguments, "{\"y\": [true, null]}"), "string arguments decoded: %s",
          c->calls[1].arguments);
    CHECK(c->content_len == 0, "no content: '%s'", c->content);
    slm_tool_calls_free(c);
}

static void malformed_or_truncated_calls_stay_content(void)
{
    const char *cases[] = {
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Par",
        "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
        "<tool_call>{\"arguments\": {}}</tool_call>",
        "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>",
        "<tool_call>{\"name\": \"f\"} trailing</tool_call>",
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        slm_tool_calls *c = parse(SLM_TOOL_FORMAT_HERMES, cases[k], NULL);
        if (!c) continue;
        CHECK(c->n_calls == 0, "case %zu: %zu calls", k, c->n_calls);
        CHECK(strcmp(c->content, cases[k]) == 0, "case %zu: content '%s'", k, c->content);
        slm_tool_calls_free(c);
    }
}

static void qwen3_xml_parameters_become_json(void)
{
    expect_one(SLM_TOOL_FORMAT_QWEN3_XML,
               "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis\n</parameter>\n"
               "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
               "get_weather", "{\"location\": \"Paris\", \"days\": 3}", NULL, "");
}

static void qwen3_xml_values_follow_the_tool_schema(void)
{
    const char *tools = "[{\"type\": \"function\", \"function\": {\"name\": \"set\", \"parameters\": {\"type\": "
                        "\"object\", \"properties\": {\"code\": {\"type\": \"string\"}, \"n\": {\"type\": "
                        "\"integer\"}}}}}]";
    const char *t = "<tool_call>\n<function=set>\n<parameter=code>\n007\n</parameter>\n<parameter=n>\n7\n"
                    "</parameter>\n</function>\n</tool_call>";
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_QWEN3_XML, t, tools);
    REQUIRE(c && c->n_calls == 1, "one call");
    CHECK(json_equal(c->calls[0].arguments, "{\"code\": \"007\", \"n\": 7}"), "got %s", c->calls[0].arguments);
    slm_tool_calls_free(c);
    slm_tool_calls *bad = NULL;
    CHECK(slm_tool_calls_parse(SLM_TOOL_FORMAT_QWEN3_XML, t, strlen(t), "{\"not\": \"a list\"}", &bad) ==
              SLM_ERR_ARG && bad == NULL,
          "tools_json must be an array");
}

static void llama3_json_reply_is_a_call_and_prose_is_not(void)
{
    expect_one(SLM_TOOL_FORMAT_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_LLAMA3,
               "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}<|eom_id|>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_LLAMA3, "The weather is {\"sunny\"} today.", NULL);
    REQUIRE(c, "parsed");
    CHECK(c->n_calls == 0 && strcmp(c->content, "The weather is {\"sunny\"} today.") == 0, "prose kept");
    slm_tool_calls_free(c);
}

static void mistral_both_syntaxes(void)
{
    expect_one(SLM_TOOL_FORMAT_MISTRAL,
               "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}, \"id\": "
               "\"call12345\"}]",
               "get_weather", "{\"location\": \"Paris\"}", "call12345", "");
    expect_one(SLM_TOOL_FORMAT_MISTRAL, "[TOOL_CALLS]get_weather[CALL_ID]call12345[ARGS]{\"location\": \"Paris\"}",
               "get_weather", "{\"location\": \"Paris\"}", "call12345", "");
    const char *two = "Sure.[TOOL_CALLS]a[ARGS]{\"x\": 1}[TOOL_CALLS]b[ARGS]{}";
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_MISTRAL, two, NULL);
    REQUIRE(c && c->n_calls == 2, "two calls");
    CHECK(strcmp(c->calls[1].name, "b") == 0 && strcmp(c->calls[1].arguments, "{}") == 0, "second call");
    CHECK(strcmp(c->content, "Sure.") == 0, "content '%s'", c->content);
    slm_tool_calls_free(c);
}

static void functionary_glm_and_json_array_formats(void)
{
    expect_one(SLM_TOOL_FORMAT_FUNCTIONARY, "<function=get_weather>{\"location\": \"Paris\"}</function>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_GLM,
               "<think></think>\n<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Paris</arg_value>\n"
               "</tool_call>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "<think></think>");
    expect_one(SLM_TOOL_FORMAT_JSON_ARRAY,
               "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}]</TOOLCALL>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_JSON_ARRAY,
               "<tool_calls>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_calls>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
}

static void deepseek_command_r_invoke_and_harmony_formats(void)
{
    expect_one(SLM_TOOL_FORMAT_DEEPSEEK_R1,
               "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
               "{\"location\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_COMMAND_R,
               "<|START_THINKING|><|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": "
               "\"get_weather\", \"parameters\": {\"location\": \"Paris\"}}\n]<|END_ACTION|>",
               "get_weather", "{\"location\": \"Paris\"}", "0", "<|START_THINKING|><|END_THINKING|>");
    expect_one(SLM_TOOL_FORMAT_XML_INVOKE,
               "\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"location\">Paris</parameter>\n"
               "</invoke>\n</minimax:tool_call>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_XML_INVOKE,
               "<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"location\" "
               "string=\"true\">Paris</｜DSML｜parameter>\n<｜DSML｜parameter name=\"days\" string=\"false\">2"
               "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>",
               "get_weather", "{\"location\": \"Paris\", \"days\": 2}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_HARMONY,
               "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant to=functions.get_weather"
               "<|channel|>commentary json<|message|>{\"location\": \"Paris\"}<|call|>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "<|channel|>analysis<|message|>Need weather.<|end|>");
}

/* The formats added in session 3, written as each template writes a call
 * (Kimi K2's own rendering raises in the reference, so its call is built from
 * the template's literal tags; LFM2's templates never render a call, so its
 * syntax is the one LFM2's model card documents). */
static void session3_formats(void)
{
    expect_one(SLM_TOOL_FORMAT_APERTUS,
               "<|tools_prefix|>[{\"get_weather\": {\"location\": \"Paris\"}}]<|tools_suffix|>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_KIMI_K2,
               "Checking.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
               "<|tool_call_argument_begin|>{\"location\": \"Paris\"}<|tool_call_end|><|tool_calls_section_end|>",
               "get_weather", "{\"location\": \"Paris\"}", "functions.get_weather:0", "Checking.");
    expect_one(SLM_TOOL_FORMAT_KIMI_K3,
               "<|open|>response<|sep|><|close|>response<|sep|><|open|>tools<|sep|><|open|>call tool=\"get_weather\" "
               "index=\"1\"<|sep|><|open|>argument key=\"location\" type=\"string\"<|sep|>Paris<|close|>argument<|sep|>"
               "<|open|>argument key=\"days\" type=\"number\"<|sep|>2<|close|>argument<|sep|><|open|>argument "
               "key=\"q&quot;\" type=\"string\"<|sep|>12<|close|>argument<|sep|><|close|>call<|sep|><|close|>tools<|sep|>",
               "get_weather", "{\"location\": \"Paris\", \"days\": 2, \"q\\\"\": \"12\"}", NULL,
               "<|open|>response<|sep|><|close|>response<|sep|>");
    expect_one(SLM_TOOL_FORMAT_KIMI_K3,
               "<|open|>tools<|sep|><|open|>call tool=\"get_weather\" index=\"1\"<|sep|><|open|>json type=\"object\""
               "<|sep|>{\"location\": \"Paris\"}<|close|>json<|sep|><|close|>call<|sep|><|close|>tools<|sep|>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_PYTHONIC,
               "<|tool_call_start|>[get_weather(location=\"Paris\", days=2, units='c\\'s', hourly=True, "
               "at=None, tags=[\"a\", 1.5], o={'k': False})]<|tool_call_end|>Done.",
               "get_weather",
               "{\"location\": \"Paris\", \"days\": 2, \"units\": \"c's\", \"hourly\": true, \"at\": null, "
               "\"tags\": [\"a\", 1.5], \"o\": {\"k\": false}}",
               NULL, "Done.");
    expect_one(SLM_TOOL_FORMAT_GEMMA4, "<|tool_call>call:get_weather{location:<|\"|>Paris<|\"|>}<tool_call|>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_GEMMA4,
               "<|tool_call>call:get_weather{days:2,opts:{metric:true,names:[<|\"|>a,b<|\"|>]},x:null}<tool_call|>",
               "get_weather", "{\"days\": 2, \"opts\": {\"metric\": true, \"names\": [\"a,b\"]}, \"x\": null}", NULL,
               "");
    expect_one(SLM_TOOL_FORMAT_GEMMA4, "<|tool_call>call:get_weather{{\"location\": \"Paris\"}}<tool_call|>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_XML_FUNCTION,
               "<function name=\"get_weather\"><param name=\"location\">Paris</param><param name=\"note\">"
               "<![CDATA[a < b\nc]]></param><param name=\"days\">3</param></function>",
               "get_weather", "{\"location\": \"Paris\", \"note\": \"a < b\\nc\", \"days\": 3}", NULL, "");
    expect_one(SLM_TOOL_FORMAT_SOLAR,
               "<|tool_calls|><|tool_call:begin|>call12345<|tool_call:name|>get_weather<|tool_call:args|>"
               "{\"location\": \"Paris\"}<|tool_call:end|><|calls|>",
               "get_weather", "{\"location\": \"Paris\"}", "call12345", "");
    expect_one(SLM_TOOL_FORMAT_HUNYUAN,
               "<think:opensource></think:opensource><tool_calls:opensource>\n<tool_call:opensource>get_weather"
               "<tool_sep:opensource>\n<arg_key:opensource>location</arg_key:opensource>\n<arg_value:opensource>Paris"
               "</arg_value:opensource>\n<arg_key:opensource>days</arg_key:opensource>\n<arg_value:opensource>2"
               "</arg_value:opensource>\n</tool_call:opensource>\n</tool_calls:opensource>",
               "get_weather", "{\"location\": \"Paris\", \"days\": 2}", NULL, "<think:opensource></think:opensource>");
    expect_one(SLM_TOOL_FORMAT_COMMAND_R_PLUS,
               "I will look it up.\nAction:\n```json\n[\n    {\n        \"tool_name\": \"get_weather\",\n        "
               "\"parameters\": {\n            \"location\": \"Paris\"\n        }\n    }\n]```\n",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "I will look it up.");
    expect_one(SLM_TOOL_FORMAT_XML_INVOKE,
               "<atem:function_calls>\n<atem:invoke name=\"get_weather\">\n<atem:parameter name=\"location\">Paris"
               "</atem:parameter>\n</atem:invoke>\n</atem:function_calls>",
               "get_weather", "{\"location\": \"Paris\"}", NULL, "");
    /* several calls, and prose that merely names a marker */
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_PYTHONIC,
                              "<|tool_call_start|>[a(x=1), b()]<|tool_call_end|> and <|tool_call_start|>[oops(",
                              NULL);
    REQUIRE(c, "parse");
    CHECK(c->n_calls == 2 && strcmp(c->calls[1].name, "b") == 0 && json_equal(c->calls[1].arguments, "{}"),
          "two pythonic calls (%zu)", c->n_calls);
    CHECK(strcmp(c->content, "and <|tool_call_start|>[oops(") == 0, "content '%s'", c->content);
    slm_tool_calls_free(c);
    c = parse(SLM_TOOL_FORMAT_SOLAR,
              "<|tool_calls|><|tool_call:begin|>a1<|tool_call:name|>f<|tool_call:args|>{}<|tool_call:end|>"
              "<|tool_call:begin|>b2<|tool_call:name|>g<|tool_call:args|>{\"y\": 2}<|tool_call:end|><|calls|>",
              NULL);
    REQUIRE(c, "parse");
    CHECK(c->n_calls == 2 && strcmp(c->calls[1].id, "b2") == 0 && strcmp(c->calls[1].name, "g") == 0,
          "two solar calls (%zu)", c->n_calls);
    CHECK(c->content_len == 0, "solar content '%s'", c->content);
    slm_tool_calls_free(c);
}

static void format_none_keeps_everything_and_bad_arguments_fail(void)
{
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_NONE, "  <tool_call>{\"name\": \"a\"}</tool_call> ", NULL);
    REQUIRE(c, "parsed");
    CHECK(c->n_calls == 0 && strcmp(c->content, "<tool_call>{\"name\": \"a\"}</tool_call>") == 0, "content");
    slm_tool_calls_free(c);
    CHECK(slm_tool_calls_parse(SLM_TOOL_FORMAT_HERMES, "x", 1, NULL, NULL) == SLM_ERR_ARG, "NULL out");
    CHECK(slm_tool_calls_parse(SLM_TOOL_FORMAT_COUNT, "x", 1, NULL, &c) == SLM_ERR_ARG && !c, "bad format");
    slm_tool_format f;
    CHECK(slm_tool_format_from_name("qwen3_xml", &f) == SLM_OK && f == SLM_TOOL_FORMAT_QWEN3_XML, "from_name");
    CHECK(slm_tool_format_from_name("nope", &f) == SLM_ERR_ARG, "unknown name");
    for (int k = 0; k < SLM_TOOL_FORMAT_COUNT; k++) {
        CHECK(slm_tool_format_from_name(slm_tool_format_name((slm_tool_format)k), &f) == SLM_OK && (int)f == k,
              "name round trip %d", k);
    }
    CHECK(slm_tool_format_name(SLM_TOOL_FORMAT_COUNT) == NULL, "invalid name");
}

static void to_json_writes_openai_tool_calls(void)
{
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_HERMES,
                              "<tool_call>{\"name\": \"f\", \"arguments\": {\"q\": \"a\\\"b\"}}</tool_call>", NULL);
    REQUIRE(c && c->n_calls == 1, "one call");
    char *js = NULL;
    REQUIRE(slm_tool_calls_to_json(c, &js) == SLM_OK, "to_json");
    cJSON *j = cJSON_Parse(js);
    REQUIRE(j && cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1, "array: %s", js);
    cJSON *e = cJSON_GetArrayItem(j, 0), *fn = cJSON_GetObjectItem(e, "function");
    CHECK(strcmp(cJSON_GetObjectItem(e, "id")->valuestring, "call_0") == 0, "id");
    CHECK(strcmp(cJSON_GetObjectItem(e, "type")->valuestring, "function") == 0, "type");
    CHECK(strcmp(cJSON_GetObjectItem(fn, "name")->valuestring, "f") == 0, "name");
    CHECK(json_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, "{\"q\": \"a\\\"b\"}"), "arguments");
    cJSON_Delete(j);
    slm_chat_free(js);
    slm_tool_calls_free(c);
}

/* Hostile text: every prefix of a valid multi-format string parses without
 * error, and never yields a call with empty name or non-object arguments. */
static void every_prefix_parses_cleanly(void)
{
    const char *t = "hi <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"a\": [1, {\"b\": \"\\\"}\"}]}}\n"
                    "</tool_call> <tool_call>\n<function=f>\n<parameter=k>\nv\n</parameter>\n</function>\n"
                    "</tool_call>[TOOL_CALLS]g[CALL_ID]x[ARGS]{}<arg_key>k</arg_key><arg_value>v</arg_value>";
    size_t n = strlen(t);
    for (int f = 0; f < SLM_TOOL_FORMAT_COUNT; f++) {
        for (size_t k = 0; k <= n; k++) {
            slm_tool_calls *c = NULL;
            slm_status st = slm_tool_calls_parse((slm_tool_format)f, t, k, NULL, &c);
            CHECK(st == SLM_OK && c, "format %d prefix %zu: %s", f, k, slm_last_error());
            if (!c) continue;
            for (size_t i = 0; i < c->n_calls; i++) {
                CHECK(c->calls[i].name[0] && c->calls[i].arguments[0] == '{', "format %d prefix %zu call %zu", f, k, i);
            }
            slm_tool_calls_free(c);
        }
    }
}

/* Detection table for the real templates: written from reading each
 * template's tool-call instructions (NONE: no tool support, or a syntax
 * slm does not parse yet). */
static const struct {
    const char *name;
    slm_tool_format f;
    int no_call; /* the reference rendering shows no call (the template drops it) */
} detect_table[] = {
    {"Apertus-8B-Instruct", SLM_TOOL_FORMAT_APERTUS, 0},
    {"CohereForAI-c4ai-command-r-plus-tool_use", SLM_TOOL_FORMAT_COMMAND_R_PLUS, 0},
    {"Kimi-K2-Instruct", SLM_TOOL_FORMAT_KIMI_K2, 0},
    {"Kimi-K3", SLM_TOOL_FORMAT_KIMI_K3, 0},
    {"LFM2-8B-A1B", SLM_TOOL_FORMAT_PYTHONIC, 1},
    {"LFM2.5-Instruct", SLM_TOOL_FORMAT_PYTHONIC, 1},
    {"google-gemma-4-31B-it-interleaved", SLM_TOOL_FORMAT_GEMMA4, 0},
    {"muse-glimmer", SLM_TOOL_FORMAT_XML_INVOKE, 0},
    {"openbmb-MiniCPM5-1B", SLM_TOOL_FORMAT_XML_FUNCTION, 0},
    {"tencent-Hy3", SLM_TOOL_FORMAT_HUNYUAN, 0},
    {"upstage-Solar-Open-100B", SLM_TOOL_FORMAT_SOLAR, 0},
    {"Apriel-1.6-15b-Thinker-fixed", SLM_TOOL_FORMAT_JSON_ARRAY, 0},
    {"Bielik-11B-v3.0-Instruct", SLM_TOOL_FORMAT_HERMES, 0},
    {"Cohere2MoE", SLM_TOOL_FORMAT_COMMAND_R, 0},
    {"CohereForAI-c4ai-command-r7b-12-2024-tool_use", SLM_TOOL_FORMAT_COMMAND_R, 0},
    {"GLM-4.6", SLM_TOOL_FORMAT_GLM, 0},
    {"GLM-4.7-Flash", SLM_TOOL_FORMAT_GLM, 0},
    {"HuggingFaceTB-SmolLM3-3B", SLM_TOOL_FORMAT_NONE, 0},
    {"MiMo-VL", SLM_TOOL_FORMAT_HERMES, 0},
    {"MiniMax-M1", SLM_TOOL_FORMAT_JSON_ARRAY, 0},
    {"MiniMax-M2", SLM_TOOL_FORMAT_XML_INVOKE, 0},
    {"Mistral-Small-3.2-24B-Instruct-2506", SLM_TOOL_FORMAT_MISTRAL, 0},
    {"NVIDIA-Nemotron-Nano-v2", SLM_TOOL_FORMAT_JSON_ARRAY, 0},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", SLM_TOOL_FORMAT_HERMES, 0},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", SLM_TOOL_FORMAT_HERMES, 0},
    {"Qwen-QwQ-32B", SLM_TOOL_FORMAT_HERMES, 0},
    {"Qwen-Qwen2.5-7B-Instruct", SLM_TOOL_FORMAT_HERMES, 0},
    {"Qwen3-Coder", SLM_TOOL_FORMAT_QWEN3_XML, 0},
    {"Qwen3.5-4B", SLM_TOOL_FORMAT_QWEN3_XML, 0},
    {"Spark2.5", SLM_TOOL_FORMAT_GLM, 0},
    {"StepFun3.5-Flash", SLM_TOOL_FORMAT_QWEN3_XML, 0},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", SLM_TOOL_FORMAT_DEEPSEEK_R1, 0},
    {"deepseek-ai-DeepSeek-V3.2", SLM_TOOL_FORMAT_XML_INVOKE, 0},
    {"deepseek-ai-DeepSeek-V4", SLM_TOOL_FORMAT_XML_INVOKE, 0},
    {"deepseek-ai-DeepSeek-V4-Flash-0731", SLM_TOOL_FORMAT_XML_INVOKE, 0},
    {"google-gemma-2-2b-it", SLM_TOOL_FORMAT_NONE, 0},
    {"ibm-granite-granite-4.0", SLM_TOOL_FORMAT_HERMES, 0},
    {"ibm-granite-granite-4.1", SLM_TOOL_FORMAT_HERMES, 0},
    {"inclusionai-ling-3.0-flash", SLM_TOOL_FORMAT_GLM, 0},
    {"llama-cpp-deepseek-r1", SLM_TOOL_FORMAT_DEEPSEEK_R1, 0},
    {"llama-cpp-rwkv-world", SLM_TOOL_FORMAT_NONE, 0},
    {"meetkai-functionary-medium-v3.1", SLM_TOOL_FORMAT_FUNCTIONARY, 0},
    {"meta-llama-Llama-3.1-8B-Instruct", SLM_TOOL_FORMAT_LLAMA3, 0},
    {"meta-llama-Llama-3.2-3B-Instruct", SLM_TOOL_FORMAT_LLAMA3, 0},
    {"meta-llama-Llama-3.3-70B-Instruct", SLM_TOOL_FORMAT_LLAMA3, 0},
    {"mistralai-Ministral-3-14B-Reasoning-2512", SLM_TOOL_FORMAT_MISTRAL, 0},
    {"mistralai-Mistral-Nemo-Instruct-2407", SLM_TOOL_FORMAT_MISTRAL, 0},
    {"openai-gpt-oss-120b", SLM_TOOL_FORMAT_HARMONY, 0},
    {"poolside-Laguna-XS-2.1", SLM_TOOL_FORMAT_GLM, 0},
    {"poolside-Laguna-XS.2", SLM_TOOL_FORMAT_GLM, 0},
    {"unsloth-mistral-Devstral-Small-2507", SLM_TOOL_FORMAT_MISTRAL, 0},
};

static char *read_text(const char *path, size_t *n)
{
    char *p = harness_read_file(path, n);
    if (!p) return NULL;
    char *q = realloc(p, *n + 1);
    if (!q) {
        free(p);
        return NULL;
    }
    q[*n] = '\0';
    return q;
}

/* The assistant turn of a Llama 3 rendering (the whole reply is the call). */
static const char *llama3_reply(const char *s, size_t *n)
{
    const char *hdr = "<|start_header_id|>assistant<|end_header_id|>\n\n";
    const char *b = strstr(s, hdr);
    if (!b) return NULL;
    b += strlen(hdr);
    const char *e1 = strstr(b, "<|eot_id|>"), *e2 = strstr(b, "<|eom_id|>");
    const char *e = !e1 ? e2 : !e2 ? e1 : e1 < e2 ? e1 : e2;
    if (!e) return NULL;
    *n = (size_t)(e - b);
    return b;
}

static void real_templates_detect_their_format_and_parse_their_own_call(void)
{
    struct stat sb;
    if (stat(CHAT_DIR "/templates", &sb) != 0) {
        printf("     (skipped: %s not present)\n", CHAT_DIR);
        return;
    }
    size_t n_parsed = 0;
    for (size_t k = 0; k < sizeof detect_table / sizeof detect_table[0]; k++) {
        char path[1024];
        size_t tn = 0;
        snprintf(path, sizeof path, "%s/templates/%s.jinja", CHAT_DIR, detect_table[k].name);
        char *tmpl = read_text(path, &tn);
        REQUIRE(tmpl, "cannot read %s", path);
        slm_tool_format f = slm_tool_format_detect(tmpl, tn);
        CHECK(f == detect_table[k].f, "%s: detected %s, want %s", detect_table[k].name, slm_tool_format_name(f),
              slm_tool_format_name(detect_table[k].f));
        free(tmpl);
        if (f == SLM_TOOL_FORMAT_NONE || detect_table[k].no_call) continue;
        /* The reference renderings of the tool conversation hold the call
         * (arguments given as an object, then as a JSON string). */
        for (int sa = 0; sa < 2; sa++) {
            snprintf(path, sizeof path, "%s/expected/%s.%s.nogen.txt", CHAT_DIR, detect_table[k].name,
                     sa ? "tool_call_string_args" : "tool_call");
            size_t rn = 0;
            char *r = read_text(path, &rn);
            if (!r) continue; /* the reference raised for this template */
            const char *text = r;
            size_t len = rn;
            if (f == SLM_TOOL_FORMAT_LLAMA3) text = llama3_reply(r, &len);
            CHECK(text, "%s: no assistant turn", path);
            slm_tool_calls *c = NULL;
            if (text && slm_tool_calls_parse(f, text, len, NULL, &c) == SLM_OK) {
                /* system prompts may show an example call first: the conversation's
                 * own call is the last one */
                CHECK(c->n_calls >= 1, "%s: no call found", path);
                if (c->n_calls >= 1) {
                    const slm_tool_call *last = &c->calls[c->n_calls - 1];
                    CHECK(strcmp(last->name, "get_weather") == 0, "%s: name %s", path, last->name);
                    CHECK(json_equal(last->arguments, "{\"location\": \"Paris\"}"), "%s: arguments %s",
                          path, last->arguments);
                    n_parsed++;
                }
                slm_tool_calls_free(c);
            } else {
                CHECK(0, "%s: parse failed: %s", path, slm_last_error());
            }
            free(r);
        }
    }
    printf("     (%zu real templates' own tool-call renderings parsed)\n", n_parsed);
}

/* The required-call grammar accepts the call exactly as the template writes
 * it (checked as text against a model-free grammar) and refuses other names,
 * bad arguments and missing required keys. */
static int grammar_accepts(const char *gbnf, const char *text)
{
    slm_grammar *g = NULL;
    if (slm_grammar_new(NULL, gbnf, strlen(gbnf), NULL, &g) != SLM_OK) {
        CHECK(0, "grammar does not compile: %s\n%s", slm_last_error(), gbnf);
        return -1;
    }
    int ok = slm_grammar_accept_text(g, text, strlen(text)) == SLM_OK && slm_grammar_can_end(g);
    slm_grammar_free(g);
    return ok;
}

/* A random "model" (uniform over the tokens the grammar allows, with
 * structural multi-byte pieces in the vocabulary) writes under each forced-
 * call grammar; every finished reply must parse as one call to a listed tool
 * with a string "location" and, when present, an integer "days" (checked with
 * cJSON, independently of the grammar). */
static void random_model_under_the_call_grammar_writes_valid_calls(void)
{
    const char *tools = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
                        "{\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\"}, \"days\": "
                        "{\"type\": \"integer\"}}, \"required\": [\"location\"]}}}, {\"type\": \"function\", "
                        "\"function\": {\"name\": \"now\", \"parameters\": {\"type\": \"object\", \"properties\": "
                        "{}}}}]";
    static const char *const extra[] = {"<tool_call>", "</tool_call>", "<function=", "</function>",
                                        "<parameter=", "</parameter>", "<param name=\"", "</param>",
                                        "get_weather", "location", "days", "now", "\": \"", "\", \"",
                                        "{\"name\": \"", "arguments", "parameters", "tool_name", "Action:\n```json\n[\n",
                                        "]```", "\xc3\xa9", "\xe6\x97\xa5", "\n", "\"}", "Paris"};
    enum { N_EXTRA = sizeof extra / sizeof extra[0] };
    const char *pc[96 + N_EXTRA + 1];
    size_t pl[96 + N_EXTRA + 1];
    uint8_t eog[96 + N_EXTRA + 1] = {0};
    char bytes[96];
    int32_t nv = 0;
    for (int c = 0x20; c < 0x7f; c++, nv++) {
        bytes[c - 0x20] = (char)c;
        pc[nv] = &bytes[c - 0x20];
        pl[nv] = 1;
    }
    for (int k = 0; k < N_EXTRA; k++, nv++) {
        pc[nv] = extra[k];
        pl[nv] = strlen(extra[k]);
    }
    pc[nv] = "";
    pl[nv] = 0;
    eog[nv++] = 1;
    static const slm_tool_format fmts[] = {SLM_TOOL_FORMAT_HERMES, SLM_TOOL_FORMAT_LLAMA3,
                                           SLM_TOOL_FORMAT_FUNCTIONARY, SLM_TOOL_FORMAT_QWEN3_XML,
                                           SLM_TOOL_FORMAT_XML_FUNCTION, SLM_TOOL_FORMAT_COMMAND_R_PLUS};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    float logits[96 + N_EXTRA + 1];
    for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++) {
        char *gbnf = NULL;
        REQUIRE(slm_tool_calls_grammar(fmts[fi], tools, &gbnf) == SLM_OK, "%s", slm_last_error());
        int finished = 0;
        for (int run = 0; run < 12; run++) {
            slm_gram *gram = NULL;
            slm_grammar *g = NULL;
            REQUIRE(slm_gram_parse(gbnf, strlen(gbnf), NULL, &gram) == SLM_OK, "%s", slm_last_error());
            REQUIRE(slm_grammar_new_vocab(gram, pc, pl, eog, nv, &g) == SLM_OK, "%s", slm_last_error());
            char out[4096];
            size_t on = 0;
            int ended = 0;
            for (int step = 0; step < 600 && !ended; step++) {
                for (int32_t t = 0; t < nv; t++) logits[t] = 0;
                REQUIRE(slm_grammar_apply(g, logits, nv) == SLM_OK, "%s", slm_last_error());
                int32_t allowed[96 + N_EXTRA + 1], na = 0;
                for (int32_t t = 0; t < nv; t++)
                    if (logits[t] == 0) allowed[na++] = t;
                REQUIRE(na > 0, "%s: no token allowed after '%.*s'", slm_tool_format_name(fmts[fi]), (int)on, out);
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                /* a model that likes to stop once it may: end as soon as allowed */
                /* ... and that picks a multi-byte piece half the time when one is allowed */
                int32_t multi[N_EXTRA], nm = 0;
                for (int32_t k = 0; k < na; k++)
                    if (allowed[k] >= 95 && allowed[k] < nv - 1) multi[nm++] = allowed[k];
                int32_t tok = logits[nv - 1] == 0                     ? nv - 1
                              : nm && (rng >> 62) & 1 ? multi[(rng >> 33) % (uint64_t)nm]
                                                      : allowed[(rng >> 33) % (uint64_t)na];
                if (tok == nv - 1) {
                    ended = 1;
                    break;
                }
                REQUIRE(slm_grammar_accept(g, tok) == SLM_OK, "%s", slm_last_error());
                if (on + pl[tok] < sizeof out) {
                    memcpy(out + on, pc[tok], pl[tok]);
                    on += pl[tok];
                }
            }
            slm_grammar_free(g);
            if (!ended) continue;
            finished++;
            slm_tool_calls *c = NULL;
            REQUIRE(slm_tool_calls_parse(fmts[fi], out, on, tools, &c) == SLM_OK, "%s", slm_last_error());
            CHECK(c->n_calls == 1, "%s: %zu calls in '%.*s'", slm_tool_format_name(fmts[fi]), c->n_calls, (int)on,
                  out);
            if (c->n_calls == 1) {
                cJSON *a = cJSON_Parse(c->calls[0].arguments);
                CHECK(cJSON_IsObject(a), "%s: arguments %s", slm_tool_format_name(fmts[fi]), c->calls[0].arguments);
                if (strcmp(c->calls[0].name, "get_weather") == 0) {
                    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(a, "location");
                    const cJSON *days = cJSON_GetObjectItemCaseSensitive(a, "days");
                    CHECK(cJSON_IsString(loc), "%s: location in %s", slm_tool_format_name(fmts[fi]),
                          c->calls[0].arguments);
                    CHECK(!days || (cJSON_IsNumber(days) && days->valuedouble == (double)(long long)days->valuedouble),
                          "%s: days in %s", slm_tool_format_name(fmts[fi]), c->calls[0].arguments);
                } else {
                    CHECK(strcmp(c->calls[0].name, "now") == 0 && cJSON_GetArraySize(a) == 0, "%s: call %s %s",
                          slm_tool_format_name(fmts[fi]), c->calls[0].name, c->calls[0].arguments);
                }
                cJSON_Delete(a);
            }
            slm_tool_calls_free(c);
        }
        CHECK(finished >= 6, "%s: only %d of 12 random replies finished", slm_tool_format_name(fmts[fi]), finished);
        slm_chat_free(gbnf);
    }
}

static void required_call_grammar_matches_the_template_syntax(void)
{
    const char *tools = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
                        "{\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\"}, \"days\": "
                        "{\"type\": \"integer\"}}, \"required\": [\"location\"]}}}, {\"type\": \"function\", "
                        "\"function\": {\"name\": \"now\"}}]";
    char *g = NULL;
    REQUIRE(slm_tool_calls_grammar(SLM_TOOL_FORMAT_HERMES, tools, &g) == SLM_OK, "%s", slm_last_error());
    CHECK(grammar_accepts(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n"
                             "</tool_call>") == 1, "the Qwen2.5 rendering of a call");
    CHECK(grammar_accepts(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", "
                             "\"days\": 3}}\n</tool_call>") == 1, "with the optional key");
    CHECK(grammar_accepts(g, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>") == 1,
          "a tool without parameters");
    CHECK(grammar_accepts(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>") == 0,
          "an unknown tool");
    CHECK(grammar_accepts(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"days\": 3}}\n"
                             "</tool_call>") == 0, "a missing required argument");
    CHECK(grammar_accepts(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": 5}}\n"
                             "</tool_call>") == 0, "a wrongly typed argument");
    /* what the grammar accepts, the parser reads back */
    const char *t = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>";
    slm_tool_calls *c = parse(SLM_TOOL_FORMAT_HERMES, t, NULL);
    CHECK(c && c->n_calls == 1, "parsed back");
    slm_tool_calls_free(c);
    slm_chat_free(g);
    g = NULL;
    REQUIRE(slm_tool_calls_grammar(SLM_TOOL_FORMAT_LLAMA3, tools, &g) == SLM_OK, "%s", slm_last_error());
    CHECK(grammar_accepts(g, "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}") == 1,
          "the Llama 3.1 rendering of a call");
    slm_chat_free(g);
    g = NULL;
    REQUIRE(slm_tool_calls_grammar(SLM_TOOL_FORMAT_FUNCTIONARY, tools, &g) == SLM_OK, "%s", slm_last_error());
    CHECK(grammar_accepts(g, "<function=get_weather>{\"location\": \"Paris\"}</function>") == 1,
          "the functionary rendering of a call");
    slm_chat_free(g);
    g = NULL;
    /* the XML formats and Command R+: each template's own rendering */
    REQUIRE(slm_tool_calls_grammar(SLM_TOOL_FORMAT_QWEN3_XML, tools, &g) == SLM_OK, "%s", slm_last_error());
    CHECK(grammar_accepts(g, "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis\n</parameter>\n"
                             "</function>\n</tool_call>") == 1, "the Qwen3-Coder rendering of a call");
    CHECK(grammar_accepts(g, "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis\n</parameter>\n"
                             "<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>") == 1, "with days");
    CHECK(grammar_accepts(g, "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis\n</parameter>\n"
                             "<parameter=days>\ntwo\n</parameter>\n</function>\n</tool_call>") == 0, "bad days");
    CHECK(grammar_accepts(g, "<tool_call>\n<function=get_weather>\n</function>\n</tool_call>") == 0,
          "missing location");
    slm_chat_free(g);
    g = NULL;
    REQUIRE(slm_tool_calls_grammar(SLM_TOOL_FORMAT_XML_FUNCTION, tools, &g) == SLM_OK, "%s", slm_last_error());
    CHECK(grammar_accepts(g, "<function name=\"get_weather\"><param name=\"location\">Paris</param></function>") == 1,
          "the MiniCPM5 rendering of a call");
    slm_chat_free(g);
    g = NULL;
    REQUIRE(slm_tool_calls_grammar(SLM_TOOL_FORMAT_COMMAND_R_PLUS, tools, &g) == SLM_OK, "%s", slm_last_error());
    CHECK(grammar_accepts(g, "Action:\n```json\n[\n{\"tool_name\": \"get_weather\", \"parameters\": "
                             "{\"location\": \"Paris\"}}\n]```") == 1, "a Command R+ action");
    slm_chat_free(g);
    g = NULL;
    CHECK(slm_tool_calls_grammar(SLM_TOOL_FORMAT_MISTRAL, tools, &g) == SLM_ERR_UNSUPPORTED && !g, "mistral");
    CHECK(slm_tool_calls_grammar(SLM_TOOL_FORMAT_HERMES, "[]", &g) == SLM_ERR_ARG && !g, "no tools");
    CHECK(slm_tool_calls_grammar(SLM_TOOL_FORMAT_HERMES, "[{\"function\": {\"name\": \"a b\"}}]", &g) == SLM_ERR_ARG,
          "a name with a space");
}

/* Random byte mutations of real-format replies: always SLM_OK, every call
 * well formed, content never longer than the text. */
static void mutated_replies_parse_cleanly(void)
{
    static const char *const seeds[] = {
        "ok <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2, {\"b\": null}]}}\n</tool_call>",
        "<tool_call>\n<function=f>\n<parameter=k>\n1\n</parameter>\n</function>\n</tool_call>",
        "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}, \"id\": \"x\"}][TOOL_CALLS]g[CALL_ID]i[ARGS]{\"a\": 1}",
        "<tool_call>f\n<arg_key>k</arg_key>\n<arg_value>v</arg_value>\n</tool_call>",
        "<minimax:tool_call>\n<invoke name=\"f\">\n<parameter name=\"k\">v</parameter>\n</invoke>\n</minimax:tool_call>",
        "<|start|>assistant to=functions.f<|channel|>commentary json<|message|>{\"a\": 1}<|call|>",
        "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"f\", \"parameters\": {}}]<|END_ACTION|>",
    };
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    char buf[256];
    for (int it = 0; it < 20000; it++) {
        const char *seed = seeds[it % (sizeof seeds / sizeof seeds[0])];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        for (int m = 0; m < 1 + it % 4; m++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t pos = (size_t)(rng % n);
            static const char pool[] = "{}[]<>\"\\:,=/\n x0";
            buf[pos] = (rng >> 32) % 3 ? pool[(rng >> 40) % (sizeof pool - 1)] : (char)(rng >> 48);
        }
        slm_tool_format f = (slm_tool_format)(1 + it % (SLM_TOOL_FORMAT_COUNT - 1));
        slm_tool_calls *c = NULL;
        slm_status st = slm_tool_calls_parse(f, buf, n, NULL, &c);
        CHECK(st == SLM_OK && c, "iteration %d: %s", it, slm_last_error());
        if (!c) continue;
        CHECK(c->content_len <= n && strlen(c->content) <= c->content_len, "iteration %d: content", it);
        for (size_t i = 0; i < c->n_calls; i++)
            CHECK(c->calls[i].name[0] && c->calls[i].arguments[0] == '{' && c->calls[i].id[0], "iteration %d", it);
        slm_tool_calls_free(c);
    }
}

/* Every allocation failure gives SLM_ERR_NOMEM with *out NULL (and, under
 * ASan, no leak). */
static void allocation_failures_are_reported(void)
{
    const char *t = "a<tool_call>\n{\"name\": \"x\", \"arguments\": {}}\n</tool_call>b<tool_call>\n"
                    "<function=y>\n<parameter=k>\nv\n</parameter>\n</function>\n</tool_call>";
    int ok_seen = 0;
    for (long k = 0; k < 200 && !ok_seen; k++) {
        slm_tool_calls *c = NULL;
        slm_alloc_fail_after(k);
        slm_status st = slm_tool_calls_parse(SLM_TOOL_FORMAT_QWEN3_XML, t, strlen(t), NULL, &c);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) {
            ok_seen = 1;
            CHECK(c && c->n_calls == 1, "after %ld allocations: %zu calls", k, c ? c->n_calls : 0);
        } else {
            CHECK(st == SLM_ERR_NOMEM && !c, "failing allocation %ld: %s", k, slm_status_name(st));
        }
        slm_tool_calls_free(c);
    }
    CHECK(ok_seen, "never succeeded");
}

static void streaming_holds_back_what_may_be_a_call(void)
{
    const char *t = "Let me check. <tool_call>\n{\"name\"";
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_HERMES, t, strlen(t)) == 14, "held from the marker");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_HERMES, "Hi <tool_c", 10) == 3, "a cut-off marker");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_HERMES, "Hi <b>", 6) == 6, "other tags stream");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_HERMES, "a <", 3) == 2, "a lone '<' at the end");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_MISTRAL, "ok[TOOL_CALLS]f", 15) == 2, "mistral");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_LLAMA3, " {\"na", 6) == 0, "llama3 JSON held");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_LLAMA3, "<|python", 8) == 0, "python_tag prefix held");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_LLAMA3, "Paris is", 8) == 8, "llama3 prose streams");
    CHECK(slm_tool_calls_content_prefix(SLM_TOOL_FORMAT_NONE, "<tool_call>", 11) == 11, "none streams all");
}

int main(void)
{
    RUN(hermes_call_is_parsed_with_surrounding_text);
    RUN(hermes_arguments_keep_the_models_bytes);
    RUN(hermes_parses_several_calls_and_string_arguments);
    RUN(malformed_or_truncated_calls_stay_content);
    RUN(qwen3_xml_parameters_become_json);
    RUN(qwen3_xml_values_follow_the_tool_schema);
    RUN(llama3_json_reply_is_a_call_and_prose_is_not);
    RUN(mistral_both_syntaxes);
    RUN(functionary_glm_and_json_array_formats);
    RUN(deepseek_command_r_invoke_and_harmony_formats);
    RUN(session3_formats);
    RUN(format_none_keeps_everything_and_bad_arguments_fail);
    RUN(to_json_writes_openai_tool_calls);
    RUN(every_prefix_parses_cleanly);
    RUN(real_templates_detect_their_format_and_parse_their_own_call);
    RUN(required_call_grammar_matches_the_template_syntax);
    RUN(random_model_under_the_call_grammar_writes_valid_calls);
    RUN(mutated_replies_parse_cleanly);
    RUN(allocation_failures_are_reported);
    RUN(streaming_holds_back_what_may_be_a_call);
    return harness_finish();
}

#!/usr/bin/env bash
# cli_serve_tools.sh — `slm serve` tool calling over loopback with curl:
# tool_choice "required" and a named function (the reply is constrained to
# one call; its arguments must satisfy the tool's parameter schema, checked
# with jq), streamed calls as OpenAI deltas equal to the non-streamed call,
# content streamed as generated with tools given (held only while it could
# open a call), the tool_choice errors, and the 400 for a template whose
# call syntax cannot be forced. A random tiny model (slm gen-model) with the
# testdata's Qwen2.5 (hermes) and Mistral Nemo templates.
# Args: $1 slm binary, $2 testdata dir, $3 scratch dir. Skips (77) without
# curl, jq or the templates.
set -u
SLM=$1
TD=${2:-}
SCRATCH=${3:-/tmp}
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
QT="$TD/chat/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
MT="$TD/chat/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja"
[ -n "$TD" ] && [ -f "$QT" ] && [ -f "$MT" ] || { echo "SKIP: $QT or $MT not found"; exit 77; }
SERVE_TEST=cli_serve_tools
. "$(dirname "${BASH_SOURCE[0]}")/serve_helpers.bash"

"$SLM" gen-model --shape tiny --type Q8_0 --ctx 2048 -o "$W/tiny.gguf" >/dev/null 2>&1 || fail "gen-model tiny"
start E "$W/tiny.gguf" -t 1 -c 2048 --chat-template "$QT"
E=$PORT
T2='[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":10}},"required":["city"],"additionalProperties":false}}},
     {"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"enum":["UTC","CET"]}},"required":["tz"],"additionalProperties":false}}}]'
U='"messages":[{"role":"user","content":"What is the weather in Paris?"}]'
VALID='.function.arguments | fromjson | if $n == "get_weather" then (keys == ["city"] and (.city | type == "string" and length <= 10))
       else (keys == ["tz"] and (.tz == "UTC" or .tz == "CET")) end'
for seed in 1 2 3; do
    [ "$(req "$E" POST /v1/chat/completions "{$U,\"tools\":$T2,\"tool_choice\":\"required\",\"seed\":$seed,\"max_tokens\":120}")" = 200 ] &&
        jq -e '.choices[0].finish_reason == "tool_calls" and .choices[0].message.content == null
               and (.choices[0].message.tool_calls | length) == 1' "$W/out" >/dev/null &&
        jq -e '.choices[0].message.tool_calls[0] | .type == "function" and (.id | length > 0)
               and (.function.name as $n | ($n == "get_weather" or $n == "get_time") and ('"$VALID"'))' "$W/out" >/dev/null ||
        fail "tool_choice required, seed $seed: $(head -c 500 "$W/out")"
done
NAMED="{$U,\"tools\":$T2,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}},\"seed\":5,\"max_tokens\":120"
[ "$(req "$E" POST /v1/chat/completions "$NAMED}")" = 200 ] &&
    jq -e '.choices[0].finish_reason == "tool_calls" and (.choices[0].message.tool_calls | length) == 1
           and (.choices[0].message.tool_calls[0] | .function.name as $n | $n == "get_time" and ('"$VALID"'))' \
        "$W/out" >/dev/null || fail "tool_choice get_time: $(head -c 500 "$W/out")"
jq -c '.choices[0].message.tool_calls[0] | {name: .function.name, arguments: .function.arguments}' "$W/out" >"$W/call"
id1=$(jq -r '.choices[0].message.tool_calls[0].id' "$W/out")
# the same request streamed: per call, a chunk with index, id, type, name
# and empty arguments, then argument deltas; no content; then finish.
req "$E" POST /v1/chat/completions "$NAMED,\"stream\":true}" -N >/dev/null
grep '^data: ' "$W/out" | sed 's/^data: //' >"$W/events"
[ "$(tail -n 1 "$W/events")" = "[DONE]" ] || fail "tool stream does not end with [DONE]"
grep -v '^\[DONE\]$' "$W/events" | jq -s -c '[.[].choices[0].delta.tool_calls // [] | .[]] |
    {name: (map(.function.name // empty) | join("")),
     arguments: (map(.function.arguments // empty) | join(""))}' >"$W/scall"
cmp -s "$W/call" "$W/scall" || fail "streamed tool call $(cat "$W/scall") differs from $(cat "$W/call")"
# call ids are unique per response (the calls of a conversation's turns must not collide)
id2=$(grep -v '^\[DONE\]$' "$W/events" | jq -r '.choices[0].delta.tool_calls[0].id // empty')
[ -n "$id1" ] && [ -n "$id2" ] && [ "$id1" != "$id2" ] || fail "tool call ids not unique per response: '$id1' '$id2'"
grep -v '^\[DONE\]$' "$W/events" | jq -e -s '(.[1].choices[0].delta.tool_calls[0] | .index == 0 and .type == "function"
        and (.id | length > 0) and .function.name == "get_time" and .function.arguments == "")
    and ([.[].choices[0].delta.content // "" ] | add) == ""
    and ([.[].choices[0].finish_reason | select(. != null)]) == ["tool_calls"]' >/dev/null ||
    fail "tool call stream chunks: $(cat "$W/events")"
# tools with tool_choice auto, greedy: the content streams token by token
# and equals the non-streamed reply
AUTO="{$U,\"tools\":$T2,\"temperature\":0,\"max_tokens\":24"
req "$E" POST /v1/chat/completions "$AUTO}" >/dev/null
content=$(jq -r '.choices[0].message.content' "$W/out")
req "$E" POST /v1/chat/completions "$AUTO,\"stream\":true}" -N >/dev/null
grep '^data: {' "$W/out" | sed 's/^data: //' >"$W/events"
[ "$(jq -j '.choices[0].delta.content // ""' "$W/events")" = "$content" ] || fail "streamed content with tools differs"
[ "$(jq -r '.choices[0].delta.content // empty' "$W/events" | grep -c .)" -gt 3 ] ||
    fail "content with tools was not streamed as generated: $(cat "$W/events")"
# text that could open a call ("<tool_call>" not followed by a valid call)
# is held until it cannot, then sent as content: forced here by a schema
HOLD="{$U,\"tools\":$T2,\"temperature\":0,\"max_tokens\":40,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"enum\":[\"ab <tool_call> cd\"]}}}"
req "$E" POST /v1/chat/completions "$HOLD}" >/dev/null
jq -e '.choices[0].message.content == "\"ab <tool_call> cd\"" and .choices[0].finish_reason == "stop"' "$W/out" >/dev/null ||
    fail "unfinished call marker as content: $(head -c 400 "$W/out")"
req "$E" POST /v1/chat/completions "$HOLD,\"stream\":true}" -N >/dev/null
grep '^data: {' "$W/out" | sed 's/^data: //' | jq -r -c '.choices[0].delta.content // empty' >"$W/deltas"
[ "$(tr -d '\n' <"$W/deltas")" = '"ab <tool_call> cd"' ] && [ "$(grep -c . "$W/deltas")" -gt 2 ] &&
    [ "$(tail -n 1 "$W/deltas")" = '<tool_call> cd"' ] || fail "held call marker streamed as: $(cat "$W/deltas")"
# errors
expect_error "$E" 400 POST /v1/chat/completions "{$U,\"tools\":$T2,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}}"
jq -e '.error.param == "tool_choice" and (.error.message | test("nope"))' "$W/out" >/dev/null || fail "unknown named tool: $(cat "$W/out")"
expect_error "$E" 400 POST /v1/chat/completions "{$U,\"tool_choice\":\"required\"}"
expect_error "$E" 400 POST /v1/chat/completions "{$U,\"tools\":$T2,\"tool_choice\":{\"type\":\"function\"}}"
expect_error "$E" 400 POST /v1/chat/completions "{$U,\"tools\":$T2,\"tool_choice\":\"sometimes\"}"
expect_error "$E" 400 POST /v1/chat/completions "{$U,\"tools\":$T2,\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"}}"
expect_error "$E" 400 POST /v1/chat/completions "{$U,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"x+\"}}}}}],\"tool_choice\":\"required\"}"
jq -e '.error.param == "tools" and (.error.message | test("pattern"))' "$W/out" >/dev/null ||
    fail "unsupported parameter schema not named: $(cat "$W/out")"
kill -TERM "$PID"
wait_exit "$PID" || fail "server E exited $? after SIGTERM"
# Mistral Nemo's calls ([TOOL_CALLS] is a control token) cannot be forced: 400 naming the format
# Qwen3-Coder's XML calls (<function=N><parameter=K>V</parameter>) forced the
# same way, with integer and boolean parameters. (Not string enums: for those
# the library's XML grammar writes the JSON-quoted value, which its parser
# keeps as a string with the quotes in it; reported, not ours to fix here.)
Q3T="$TD/chat/templates/Qwen3-Coder.jinja"
if [ -f "$Q3T" ]; then
    start X "$W/tiny.gguf" -t 1 -c 2048 --chat-template "$Q3T"
    T3='[{"type":"function","function":{"name":"add","parameters":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"}},"required":["a","b"],"additionalProperties":false}}}]'
    [ "$(req "$PORT" POST /v1/chat/completions "{$U,\"tools\":$T3,\"tool_choice\":\"required\",\"seed\":2,\"max_tokens\":300}")" = 200 ] &&
        jq -e '.choices[0].finish_reason == "tool_calls" and (.choices[0].message.tool_calls | length) == 1
               and (.choices[0].message.tool_calls[0].function | .name == "add" and (.arguments | fromjson |
                    keys == ["a","b"] and (.a | type == "number" and . == floor) and (.b | type == "boolean")))' \
            "$W/out" >/dev/null || fail "tool_choice required with Qwen3-Coder's XML format: $(head -c 500 "$W/out")"
    kill -TERM "$PID"
    wait_exit "$PID" || fail "server X exited $? after SIGTERM"
fi
start F "$W/tiny.gguf" -t 1 -c 2048 --chat-template "$MT"
expect_error "$PORT" 400 POST /v1/chat/completions "{$U,\"tools\":$T2,\"tool_choice\":\"required\"}"
jq -e '.error.param == "tool_choice" and .error.code == "unsupported_tool_choice" and (.error.message | test("mistral"))
       and (.error.message | test("hermes"))' \
    "$W/out" >/dev/null || fail "tool_choice required with Mistral's format: $(cat "$W/out")"
kill -TERM "$PID"
wait_exit "$PID" || fail "server F exited $? after SIGTERM"

if [ "$fails" -gt 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "OK"

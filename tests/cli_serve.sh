#!/usr/bin/env bash
# cli_serve.sh — `slm serve` over loopback with curl: every endpoint, every
# error class (400 401 404 405 413 429 503), embeddings, greedy completions equal to
# `slm run --temp 0`, streamed deltas equal to the non-streamed text, stop
# strings, the response cache, a concurrent load (4 clients x 5 requests, none
# lost or truncated), the metrics, the API key, the body limit, an RSS alert
# from --config degrading /health. Disconnects, 429, the timeout, SIGTERM
# draining and alerts clearing: cli_serve_life.sh; tool calls:
# cli_serve_tools.sh; shared helpers: serve_helpers.bash.
# Servers bind 127.0.0.1 on a free port (--port 0, read from the log) and are
# killed at exit. Args: $1 slm binary, $2 testdata dir, $3 scratch dir.
# Skips (77) without curl, jq or stories260K.
set -u
SLM=$1
TD=${2:-}
SCRATCH=${3:-/tmp}
M="$TD/stories260K/stories260K-F32.gguf"
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -n "$TD" ] && [ -f "$M" ] || { echo "SKIP: $M not found"; exit 77; }
SERVE_TEST=cli_serve
. "$(dirname "${BASH_SOURCE[0]}")/serve_helpers.bash"

# ---- server A: stories260K, 2 slots --------------------------------------
start A "$M" -t 1 --parallel 2 --max-tokens 100
A=$PORT
PROMPT="Once upon a time"

[ "$(req "$A" GET /health)" = 200 ] && jq -e '.status == "ok"' "$W/out" >/dev/null ||
    fail "/health: $(cat "$W/out")"
[ "$(req "$A" GET /v1/models)" = 200 ] &&
    jq -e '.object == "list" and .data[0].id == "stories260K-F32.gguf" and .data[0].object == "model"' \
        "$W/out" >/dev/null || fail "/v1/models: $(cat "$W/out")"

# Greedy completion = slm run --temp 0 (same tokens, same text).
want=$("$SLM" run "$M" -p "$PROMPT" -n 60 --temp 0 -t 1 --no-display-prompt 2>/dev/null)
code=$(req "$A" POST /v1/completions "{\"model\":\"stories260K-F32.gguf\",\"prompt\":\"$PROMPT\",\"max_tokens\":60,\"temperature\":0}")
[ "$code" = 200 ] || fail "completion: status $code: $(cat "$W/out")"
got=$(jq -r '.choices[0].text' "$W/out")
[ "$got" = "$want" ] || fail "greedy completion differs from slm run:
got:  $got
want: $want"
jq -e '.object == "text_completion" and .choices[0].finish_reason == "length" and .usage.completion_tokens == 60
       and .usage.prompt_tokens == 5 and .usage.total_tokens == 65 and (.id | startswith("cmpl-"))' "$W/out" \
    >/dev/null || fail "completion fields: $(cat "$W/out")"

# Streaming: the deltas concatenate to the same text; one finish_reason; [DONE] last.
code=$(req "$A" POST /v1/completions "{\"prompt\":\"$PROMPT\",\"max_tokens\":60,\"temperature\":0,\"stream\":true}" -N)
[ "$code" = 200 ] || fail "stream: status $code"
grep '^data: ' "$W/out" | sed 's/^data: //' >"$W/events"
[ "$(tail -n 1 "$W/events")" = "[DONE]" ] || fail "stream does not end with [DONE]: $(tail -n 2 "$W/out")"
got=$(grep -v '^\[DONE\]$' "$W/events" | jq -j '.choices[0].text')
[ "$got" = "$want" ] || fail "streamed text differs:
got:  $got
want: $want"
[ "$(grep -v '^\[DONE\]$' "$W/events" | jq -r '.choices[0].finish_reason | select(. != null)')" = length ] ||
    fail "stream finish_reason: $(cat "$W/events")"
[ "$(grep -c . "$W/events")" -gt 10 ] || fail "stream came in $(grep -c . "$W/events") events"

# Chat: streamed deltas equal the non-streamed message.
CHAT='{"messages":[{"role":"system","content":"You tell stories."},{"role":"user","content":"Tell me about a cat."}],"max_tokens":40,"temperature":0'
code=$(req "$A" POST /v1/chat/completions "$CHAT}")
[ "$code" = 200 ] || fail "chat: status $code: $(cat "$W/out")"
jq -e '.object == "chat.completion" and .choices[0].message.role == "assistant"
       and (.choices[0].message.content | length > 0) and .usage.completion_tokens > 0' "$W/out" >/dev/null ||
    fail "chat fields: $(cat "$W/out")"
chat_text=$(jq -r '.choices[0].message.content' "$W/out")
code=$(req "$A" POST /v1/chat/completions "$CHAT,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" -N)
grep '^data: ' "$W/out" | sed 's/^data: //' | grep -v '^\[DONE\]$' >"$W/events"
got=$(jq -j 'select(.choices | length > 0) | .choices[0].delta.content // ""' "$W/events")
[ "$got" = "$chat_text" ] || fail "streamed chat differs:
got:  $got
want: $chat_text"
jq -e -s '.[0].choices[0].delta.role == "assistant" and .[-1].usage.completion_tokens > 0
          and all(.[]; .object == "chat.completion.chunk")' "$W/events" >/dev/null ||
    fail "chat stream chunks: $(cat "$W/events")"

# Stop strings: the text ends before the first match, finish_reason "stop".
code=$(req "$A" POST /v1/completions "{\"prompt\":\"$PROMPT\",\"max_tokens\":60,\"temperature\":0,\"stop\":[\" Lily\",\"zzz\"]}")
got=$(jq -r '.choices[0].text' "$W/out")
case "$want" in *" Lily"*) ;; *) fail "test assumption: reference has no ' Lily': $want" ;; esac
[ "$got" = "${want%%" Lily"*}" ] && jq -e '.choices[0].finish_reason == "stop"' "$W/out" >/dev/null ||
    fail "stop: got '$got' ($(jq -c .choices "$W/out")), expected '${want%%" Lily"*}'"
code=$(req "$A" POST /v1/completions "{\"prompt\":\"$PROMPT\",\"max_tokens\":60,\"temperature\":0,\"stop\":\" Lily\",\"stream\":true}" -N)
got=$(grep '^data: {' "$W/out" | sed 's/^data: //' | jq -j '.choices[0].text')
[ "$got" = "${want%%" Lily"*}" ] || fail "streamed stop: got '$got'"

# The response cache: the same greedy request again is a hit with the same text.
hits=$(metric "$A" slm_cache_hits_total)
req "$A" POST /v1/completions "{\"prompt\":\"$PROMPT\",\"max_tokens\":60,\"temperature\":0}" >/dev/null
[ "$(jq -r '.choices[0].text' "$W/out")" = "$want" ] || fail "cached text differs"
[ "$(metric "$A" slm_cache_hits_total)" -gt "$hits" ] || fail "repeat greedy request was not a cache hit"
req "$A" POST /v1/completions "{\"prompt\":\"$PROMPT\",\"max_tokens\":60,\"temperature\":0.8}" >/dev/null
[ "$(metric "$A" slm_cache_hits_total)" -eq $((hits + 1)) ] || fail "an unseeded sampled request hit the cache"

# Errors, each with an OpenAI error body.
expect_error "$A" 400 POST /v1/completions '{"prompt": "x", '
expect_error "$A" 400 POST /v1/completions '[1,2]'
expect_error "$A" 400 POST /v1/completions '{"max_tokens":5}'
expect_error "$A" 400 POST /v1/completions '{"prompt":"x","temperature":"hot"}'
[ "$(jq -r .error.param "$W/out")" = temperature ] || fail "wrong-type error names no param: $(cat "$W/out")"
expect_error "$A" 400 POST /v1/completions '{"prompt":"x","max_tokens":1.5}'
expect_error "$A" 400 POST /v1/completions '{"prompt":"x","max_tokens":101}'
expect_error "$A" 400 POST /v1/completions '{"prompt":"x","n":2}'
expect_error "$A" 400 POST /v1/completions '{"prompt":"x","stream":"yes"}'
expect_error "$A" 400 POST /v1/chat/completions '{"messages":"hi"}'
expect_error "$A" 400 POST /v1/chat/completions '{"messages":[{"role":"wizard","content":"hi"}]}'
expect_error "$A" 400 POST /v1/chat/completions '{"prompt":"x"}'
long=$(head -c 3000 /dev/zero | tr '\0' 'a' | sed 's/a/a b /g')
expect_error "$A" 400 POST /v1/completions "{\"prompt\":\"$long\"}"
[ "$(jq -r .error.code "$W/out")" = context_length_exceeded ] || fail "long prompt: $(cat "$W/out")"
# any model name is accepted (as llama.cpp's server does); responses name the loaded one
[ "$(req "$A" POST /v1/completions '{"model":"gpt-4","prompt":"x","max_tokens":2}')" = 200 ] &&
    jq -e '.model == "stories260K-F32.gguf"' "$W/out" >/dev/null || fail "model gpt-4 not served: $(cat "$W/out")"
expect_error "$A" 404 GET /v2/nothing
expect_error "$A" 405 GET /v1/completions
expect_error "$A" 405 POST /health '{}'
expect_error "$A" 405 DELETE /v1/models
# response_format json_schema: every output (3 seeds) is JSON the schema accepts
SCHEMA='{"type":"object","properties":{"ok":{"type":"boolean"},"color":{"enum":["red","green"]},"n":{"type":"integer"}},"required":["ok","color","n"]}'
for seed in 1 2 3; do
    [ "$(req "$A" POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"seed\":$seed,\"max_tokens\":100,
          \"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"t\",\"schema\":$SCHEMA}}}")" = 200 ] &&
        jq -e '.choices[0].finish_reason == "stop"' "$W/out" >/dev/null &&
        jq -r '.choices[0].message.content' "$W/out" |
        jq -e '(.ok | type == "boolean") and (.color == "red" or .color == "green") and (.n | type == "number" and . == floor)
               and (keys | length) == 3' >/dev/null ||
        fail "json_schema seed $seed: $(head -c 400 "$W/out")"
done
expect_error "$A" 400 POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"string","pattern":"a+"}}}}'
jq -e '.error.param == "response_format" and (.error.message | test("pattern"))' "$W/out" >/dev/null ||
    fail "unsupported schema keyword not named: $(cat "$W/out")"
expect_error "$A" 400 POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"xml"}}'

# tools: validated; accepted with tool_choice auto/none (this model's ChatML
# fallback has no tool-call syntax, so the reply is plain content)
TOOLS='[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]'
for choice in auto none; do
    [ "$(req "$A" POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8,
          \"tools\":$TOOLS,\"tool_choice\":\"$choice\"}")" = 200 ] &&
        jq -e '(.choices[0].message.content | type == "string") and (.choices[0].finish_reason | test("stop|length"))' \
            "$W/out" >/dev/null || fail "tools with tool_choice $choice: $(head -c 300 "$W/out")"
done
expect_error "$A" 400 POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"tools":{"a":1}}'
expect_error "$A" 400 POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}'
expect_error "$A" 400 POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":$TOOLS,\"tool_choice\":\"required\"}"
jq -e '.error.param == "tool_choice" and .error.code == "unsupported_tool_choice" and (.error.message | test("ChatML"))' \
    "$W/out" >/dev/null || fail "tool_choice required without a template: $(cat "$W/out")"

# embeddings: OpenAI shape, n_embd (64) unit-length vectors, one per input in order;
# token input equals the text's tokens; base64 decodes to the same floats
[ "$(req "$A" POST /v1/embeddings '{"model":"x","input":"Once upon a time"}')" = 200 ] &&
    jq -e '.object == "list" and (.data | length) == 1 and .data[0].object == "embedding" and .data[0].index == 0
           and (.data[0].embedding | length) == 64
           and ((.data[0].embedding | map(. * .) | add) - 1 | fabs) < 1e-4
           and .model == "stories260K-F32.gguf" and .usage.prompt_tokens > 0
           and .usage.total_tokens == .usage.prompt_tokens' "$W/out" >/dev/null ||
    fail "embeddings of one string: $(head -c 400 "$W/out")"
cp "$W/out" "$W/emb1"
[ "$(req "$A" POST /v1/embeddings '{"input":["Once upon a time","a cat sat"]}')" = 200 ] &&
    jq -e '(.data | length) == 2 and .data[1].index == 1' "$W/out" >/dev/null &&
    jq -e --slurpfile one "$W/emb1" '.data[0].embedding == $one[0].data[0].embedding
           and .data[1].embedding != .data[0].embedding' "$W/out" >/dev/null ||
    fail "embeddings of two strings: $(head -c 400 "$W/out")"
ids=$("$SLM" tokenize "$M" --text "Once upon a time" --ids 2>/dev/null | tr -s ' ' ',' | sed 's/^,//; s/,$//')
[ -n "$ids" ] && ids="[$ids]"
if [ -n "$ids" ]; then
    [ "$(req "$A" POST /v1/embeddings "{\"input\":$ids}")" = 200 ] &&
        jq -e --slurpfile one "$W/emb1" '.data[0].embedding == $one[0].data[0].embedding' "$W/out" >/dev/null ||
        fail "token-id input $ids differs from the text's embedding: $(head -c 300 "$W/out")"
fi
if command -v python3 >/dev/null; then
    [ "$(req "$A" POST /v1/embeddings '{"input":"Once upon a time","encoding_format":"base64"}')" = 200 ] &&
        python3 -c '
import base64, json, struct, sys
b = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2]))
v = struct.unpack("<64f", base64.b64decode(b["data"][0]["embedding"]))
ref = f["data"][0]["embedding"]
sys.exit(0 if all(abs(a - r) <= 1e-6 * max(1, abs(r)) for a, r in zip(v, ref)) else 1)' "$W/out" "$W/emb1" ||
        fail "base64 embedding differs: $(head -c 300 "$W/out")"
fi
expect_error "$A" 400 POST /v1/embeddings '{"input":""}'
expect_error "$A" 400 POST /v1/embeddings '{"input":[]}'
expect_error "$A" 400 POST /v1/embeddings '{"model":"m"}'
expect_error "$A" 400 POST /v1/embeddings '{"input":[1,-2]}'
expect_error "$A" 400 POST /v1/embeddings '{"input":[99999999]}'
expect_error "$A" 400 POST /v1/embeddings '{"input":"x","encoding_format":"hex"}'
expect_error "$A" 400 POST /v1/embeddings '{"input":"x","dimensions":8}'
expect_error "$A" 400 POST /v1/embeddings "{\"input\":\"$long\"}"

# Concurrent load: 4 clients x 5 greedy requests with distinct max_tokens
# (no cache hits), every answer complete: 200, the asked number of tokens,
# and a prefix of the reference text.
LOADERS=""
for c in 1 2 3 4; do
    (
        for r in 1 2 3 4 5; do
            n=$((30 + 5 * c + r))
            code=$(curl -s -o "$W/load.$c.$r" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
                --data-binary "{\"prompt\":\"$PROMPT\",\"max_tokens\":$n,\"temperature\":0}" \
                "http://127.0.0.1:$A/v1/completions")
            echo "$c $r $n $code" >>"$W/load.status"
        done
    ) &
    LOADERS="$LOADERS $!"
done
for p in $LOADERS; do wait "$p"; done
[ "$(grep -c ' 200$' "$W/load.status")" -eq 20 ] || fail "load: not all 200: $(cat "$W/load.status")"
while read -r c r n code; do
    f="$W/load.$c.$r"
    jq -e --argjson n "$n" '.usage.completion_tokens == $n and .choices[0].finish_reason == "length"' "$f" \
        >/dev/null || { fail "load request $c.$r (max_tokens $n): $(head -c 300 "$f")"; continue; }
    got=$(jq -r '.choices[0].text' "$f")
    case "$want" in "$got"*) ;; *) fail "load request $c.$r: text is not a prefix of the reference: $got" ;; esac
done <"$W/load.status"

# Metrics after all that: Prometheus text with the counters and histograms.
curl -s "http://127.0.0.1:$A/metrics" >"$W/metrics"
for needle in 'slm_requests_total{endpoint="/v1/completions",status="200"}' \
    'slm_requests_total{endpoint="/v1/completions",status="400"}' \
    'slm_requests_total{endpoint="other",status="404"}' 'slm_request_latency_ms_bucket{le="+Inf"}' \
    'slm_time_to_first_token_ms_count' 'slm_tokens_per_second' 'slm_queue_depth 0' 'slm_slots_busy 0' \
    'slm_slots_total 2' 'slm_resident_memory_bytes' 'slm_cache_misses_total' '# TYPE slm_generated_tokens_total counter'; do
    grep -qF "$needle" "$W/metrics" || fail "/metrics lacks '$needle'"
done
[ "$(metric "$A" slm_generated_tokens_total)" -gt 700 ] || fail "generated tokens total: $(grep generated "$W/metrics")"
# Continuous batching: the 4 concurrent clients on 2 slots shared steps (more
# sequences than steps), and repeated prompts were found in the KV caches.
steps=$(metric "$A" slm_batch_steps_total)
seqs=$(metric "$A" slm_batch_sequences_total)
[ "$steps" -gt 0 ] && [ "$seqs" -gt "$steps" ] || fail "no batched steps with 2 sequences: steps $steps, sequences $seqs"
[ "$(metric "$A" slm_prompt_tokens_reused_total)" -gt 0 ] || fail "no prompt prefix reused"
[ "$(metric "$A" slm_kv_cache_capacity_tokens)" -eq 256 ] || fail "KV capacity: $(grep kv_cache "$W/metrics")"
[ "$(metric "$A" slm_kv_cache_used_tokens)" -gt 0 ] || fail "KV use: $(grep kv_cache "$W/metrics")"

# ---- server B: API key and body limit --------------------------------------
cat >"$W/alerts.conf" <<'EOF'
# thresholds
p95_latency_ms = 60000
max_rss_bytes = 1   # always breached: /health degrades
EOF
start B "$M" -t 1 --api-key sekret-key --max-body 200 --config "$W/alerts.conf"
B=$PORT
expect_error "$B" 401 GET /v1/models
expect_error "$B" 401 GET /v1/models "" -H 'Authorization: Bearer sekret-kez'
expect_error "$B" 401 GET /metrics "" -H 'Authorization: Bearer sekret-key-longer'
[ "$(req "$B" GET /v1/models "" -H 'Authorization: Bearer sekret-key')" = 200 ] || fail "right key refused"
expect_error "$B" 401 POST /v1/completions '{"prompt":"x"}'
[ "$(req "$B" POST /v1/completions '{"prompt":"x","max_tokens":2}' -H 'Authorization: Bearer sekret-key')" = 200 ] ||
    fail "right key refused on POST: $(cat "$W/out")"
big="{\"prompt\":\"$(head -c 400 /dev/zero | tr '\0' 'a')\"}"
expect_error "$B" 413 POST /v1/completions "$big" -H 'Authorization: Bearer sekret-key'
expect_error "$B" 413 POST /v1/completions "$big" -H 'Authorization: Bearer sekret-key' -H 'Transfer-Encoding: chunked'
# /health needs no key; the RSS alert turns it "degraded" and is counted.
for _ in $(seq 50); do
    req "$B" GET /health >/dev/null
    jq -e '.status == "degraded"' "$W/out" >/dev/null && break
    sleep 0.1
done
jq -e '.status == "degraded"' "$W/out" >/dev/null || fail "/health with a breached alert: $(cat "$W/out")"
[ "$(curl -s -H 'Authorization: Bearer sekret-key' "http://127.0.0.1:$B/metrics" |
    awk '$1 == "slm_alert_breaches_total{alert=\"max_rss_bytes\"}" { print $2 }')" = 1 ] || fail "breach not counted"
grep -q "ALERT max_rss_bytes" "$W/B.log" || fail "breach not logged: $(cat "$W/B.log")"
echo 'max_rss_bytes = lots' >"$W/bad.conf"
"$SLM" serve "$M" --config "$W/bad.conf" --port 0 2>"$W/badconf.err"
[ $? -eq 2 ] && grep -q "line 1" "$W/badconf.err" || fail "bad --config: $(cat "$W/badconf.err")"

# Usage errors.
"$SLM" serve >/dev/null 2>&1
[ $? -eq 2 ] || fail "serve without a model should exit 2"
"$SLM" serve "$M" --port 70000 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--port 70000 should exit 2"
"$SLM" serve --help | grep -q "/v1/chat/completions" || fail "--help does not describe the endpoints"

if [ "$fails" -gt 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "OK"

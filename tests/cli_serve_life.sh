#!/usr/bin/env bash
# cli_serve_life.sh — `slm serve` over loopback with curl, the lifecycle of
# requests on a slower random model: client disconnects (streaming and not)
# freeing their slot within a token, 429 when the slot and queue are full,
# SIGTERM draining a request in flight (new ones get 503 shutting_down) and
# draining under load (busy slots and queued requests all complete), the
# per-request timeout (generation and embeddings), and alerts from --config
# (p95 latency, error rate, tokens/s) logged, counted and cleared once their
# window has passed.
# Args: $1 slm binary, $2 testdata dir (unused), $3 scratch dir. Skips (77)
# without curl or jq.
set -u
SLM=$1
SCRATCH=${3:-/tmp}
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
SERVE_TEST=cli_serve_life
. "$(dirname "${BASH_SOURCE[0]}")/serve_helpers.bash"

# ---- server C: a slower model for the queue, disconnects and SIGTERM -------
"$SLM" gen-model --arch llama --dims 384,6,6,6,1152,512 --ctx 1024 --type Q8_0 -o "$W/slow.gguf" >/dev/null 2>&1 ||
    { fail "gen-model failed"; exit 1; }
LONG='{"prompt":"hello","max_tokens":900,"ignore_eos":true,"temperature":0'
start C "$W/slow.gguf" -t 1 --parallel 1 --queue 0 --cache-bytes 0
C=$PORT
# A client that goes away mid-stream frees its slot.
curl -s -N --max-time 1 -H 'Content-Type: application/json' --data-binary "$LONG,\"stream\":true}" \
    "http://127.0.0.1:$C/v1/completions" >"$W/cut" 2>/dev/null
grep -q '^data: {' "$W/cut" || fail "no streamed data before the disconnect"
wait_metric "$C" slm_slots_busy 0 || fail "slot still busy after the client left"
gen=$(metric "$C" slm_generated_tokens_total)
[ "$gen" -lt 900 ] || fail "the cancelled generation ran to the end ($gen tokens)"
# So does a client that gives up waiting for a non-streamed answer.
curl -s --max-time 1 -o /dev/null -H 'Content-Type: application/json' --data-binary "$LONG,\"seed\":7}" \
    "http://127.0.0.1:$C/v1/completions" 2>/dev/null
wait_metric "$C" slm_slots_busy 0 || fail "slot still busy after a non-streaming client left"
gen2=$(metric "$C" slm_generated_tokens_total)
[ "$((gen2 - gen))" -lt 900 ] || fail "the abandoned non-streamed generation ran to the end ($((gen2 - gen)) tokens)"
# One slot, no queue: a second request while the first runs gets 429.
curl -s --max-time 600 -o "$W/first" -H 'Content-Type: application/json' \
    --data-binary '{"prompt":"hello","max_tokens":900,"ignore_eos":true,"temperature":0}' \
    "http://127.0.0.1:$C/v1/completions" &
CURL=$!
wait_metric "$C" slm_slots_busy 1 || fail "the first request never started"
expect_error "$C" 429 POST /v1/completions '{"prompt":"hi","max_tokens":2}'
# SIGTERM while it runs (900 tokens: long enough on a quiet machine too):
# it completes in full, then the server exits 0.
kill -TERM "$PID"
# while it drains, new requests get 503 shutting_down
for _ in $(seq 100); do
    grep -q draining "$W/C.log" && break
    sleep 0.05
done
expect_error "$C" 503 POST /v1/completions '{"prompt":"hi","max_tokens":2}'
[ "$(jq -r .error.code "$W/out")" = shutting_down ] || fail "request during the drain: $(cat "$W/out")"
wait "$CURL"
jq -e '.usage.completion_tokens == 900 and .choices[0].finish_reason == "length"' "$W/first" >/dev/null ||
    fail "request in flight at SIGTERM was not completed: $(head -c 300 "$W/first")"
wait_exit "$PID"
rc=$?
[ "$rc" -eq 0 ] || fail "server exited $rc after SIGTERM: $(cat "$W/C.log")"
grep -q "draining 1 request" "$W/C.log" || fail "no drain message: $(cat "$W/C.log")"

# ---- server G: SIGTERM under load ---------------------------------------------
# 2 slots busy (and 2 requests queued) when SIGTERM arrives: all 4 complete in
# full (queued ones too), then the server exits 0.
start G "$W/slow.gguf" -t 1 --parallel 2 --queue 4 --cache-bytes 0
G=$PORT
LOADERS=""
for c in 1 2 3 4; do
    curl -s --max-time 600 -o "$W/drain.$c" -H 'Content-Type: application/json' \
        --data-binary "{\"prompt\":\"hello $c\",\"max_tokens\":400,\"ignore_eos\":true,\"temperature\":0}" \
        "http://127.0.0.1:$G/v1/completions" &
    LOADERS="$LOADERS $!"
done
wait_metric "$G" slm_slots_busy 2 || fail "4 requests on 2 slots: slots busy $(metric "$G" slm_slots_busy)"
kill -TERM "$PID"
for p in $LOADERS; do wait "$p"; done
for c in 1 2 3 4; do
    jq -e '.usage.completion_tokens == 400 and .choices[0].finish_reason == "length"' "$W/drain.$c" >/dev/null ||
        fail "request $c in flight or queued at SIGTERM was not completed: $(head -c 300 "$W/drain.$c")"
done
wait_exit "$PID" || fail "server G exited $? after draining under load: $(cat "$W/G.log")"

# ---- server D: the per-request timeout, and alerts that clear ---------------
# A short generation (tokens at far less than 1e9/s) and then the timed-out
# request (a 503 after >= 1 s) breach three thresholds; with window_s = 4
# each clears by itself once its cause is 4 s old, without further traffic.
# (That /health is "degraded" while an alert is active is checked in
# cli_serve.sh, where the alert cannot clear; here the window is short and a
# loaded machine could poll too late.)
echo '{"error_rate": 0.5, "p95_latency_ms": 500, "min_tokens_per_s": 1e9, "window_s": 4}' >"$W/alerts2.conf"
start D "$W/slow.gguf" -t 1 --timeout 1 --config "$W/alerts2.conf"
[ "$(req "$PORT" GET /health)" = 200 ] && jq -e '.status == "ok"' "$W/out" >/dev/null || fail "/health before any request: $(cat "$W/out")"
# (on a very loaded machine even this one may hit the 1 s timeout: either way it is a generation)
req "$PORT" POST /v1/completions '{"prompt":"hi","max_tokens":8,"ignore_eos":true}' >/dev/null
expect_error "$PORT" 503 POST /v1/completions "$LONG}"
[ "$(jq -r .error.code "$W/out")" = timeout ] || fail "timeout error: $(cat "$W/out")"
for a in error_rate p95_latency_ms min_tokens_per_s; do
    wait_metric "$PORT" "slm_alert_breaches_total{alert=\"$a\"}" 1 || fail "alert $a not breached once"
done
for _ in $(seq 200); do
    req "$PORT" GET /health >/dev/null
    jq -e '.status == "ok"' "$W/out" >/dev/null && break
    sleep 0.1
done
jq -e '.status == "ok"' "$W/out" >/dev/null || fail "/health still degraded 20 s after the cause: $(cat "$W/out")"
for a in error_rate p95_latency_ms min_tokens_per_s; do
    grep -q "ALERT $a" "$W/D.log" && grep -q "alert $a cleared" "$W/D.log" || fail "alert $a not logged or not cleared: $(cat "$W/D.log")"
    [ "$(metric "$PORT" "slm_alert_active{alert=\"$a\"}")" = 0 ] || fail "alert $a still active"
done
# the timeout bounds embeddings too: 400 inputs of ~80 tokens take far more than 1 s
item="\"$(head -c 40 /dev/zero | tr '\0' 'a' | sed 's/a/ab /g')\""
body="{\"input\":[$(for _ in $(seq 400); do printf '%s,' "$item"; done | sed 's/,$//')]}"
expect_error "$PORT" 503 POST /v1/embeddings "$body"
[ "$(jq -r .error.code "$W/out")" = timeout ] || fail "embeddings timeout: $(cat "$W/out")"
kill -TERM "$PID"
wait_exit "$PID" || fail "server D exited $? after SIGTERM"

if [ "$fails" -gt 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "OK"

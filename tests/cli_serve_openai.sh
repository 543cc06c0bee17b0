#!/usr/bin/env bash
# cli_serve_openai.sh — `slm serve` driven by the official `openai` npm
# client (tests/openai_client.mjs): chat and completions, non-streaming and
# streaming, embeddings, errors. The client package is installed once, pinned,
# into $SLM_BENCH_CACHE (default ~/.cache/slm-bench)/openai-VERSION with
# --ignore-scripts. The server runs a random-weight model (slm gen-model
# --shape tiny) on a free loopback port, with the Llama 3.2 chat template
# from the testdata when present (for the tool-call check). Args: $1 slm binary, $2 testdata dir
# (unused), $3 scratch dir. Skips (77) without node/npm or when the npm
# registry cannot be reached.
set -u
SLM=$1
TD=${2:-}
SCRATCH=${3:-/tmp}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=5.12.0 # openai, pinned (5.x runs on node >= 18; 6+ wants newer node)
for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
PKG="${SLM_BENCH_CACHE:-$HOME/.cache/slm-bench}/openai-$VERSION"
if [ ! -f "$PKG/node_modules/openai/package.json" ]; then
    mkdir -p "$PKG"
    timeout 300 npm install --prefix "$PKG" --ignore-scripts --no-audit --no-fund "openai@$VERSION" >"$PKG.log" 2>&1 ||
        { echo "SKIP: cannot install openai@$VERSION from the npm registry (see $PKG.log)"; rm -rf "$PKG"; exit 77; }
fi
mkdir -p "$SCRATCH"
W=$(mktemp -d "$SCRATCH/cli_serve_openai.XXXXXX")
PID=""
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

"$SLM" gen-model --shape tiny --type Q8_0 --ctx 2048 -o "$W/tiny.gguf" >/dev/null 2>&1 || { echo "FAIL: gen-model"; exit 1; }
# With the testdata's Llama 3.2 template (tool calls written as a bare JSON
# object), response_format can force a call and the client sees tool_calls.
TMPL="$TD/chat/templates/meta-llama-Llama-3.2-3B-Instruct.jinja"
TARGS=()
TOOLCALL=0
if [ -n "$TD" ] && [ -f "$TMPL" ]; then
    TARGS=(--chat-template "$TMPL")
    TOOLCALL=1
else
    echo "note: $TMPL not found: the forced tool-call check is skipped"
fi
"$SLM" serve "$W/tiny.gguf" --port 0 --parallel 2 -t 2 -c 2048 --alias tiny-random "${TARGS[@]}" 2>"$W/serve.log" &
PID=$!
PORT=""
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$W/serve.log")
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "FAIL: server did not start: $(cat "$W/serve.log")"; exit 1; }

rc=0
timeout 240 node "$HERE/openai_client.mjs" "http://127.0.0.1:$PORT/v1" "$PKG" tiny-random 256 $TOOLCALL || rc=1

kill -TERM "$PID"
for _ in $(seq 300); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
    echo "FAIL: server still running 30 s after SIGTERM"
    rc=1
else
    wait "$PID" || { echo "FAIL: server exited with an error: $(tail -5 "$W/serve.log")"; rc=1; }
fi
PID=""
[ $rc -eq 0 ] && echo "OK"
exit $rc

# serve_helpers.bash — sourced by tests/cli_serve*.sh (not a test itself):
# a scratch dir $W (removed at exit, with every server started killed),
# fail / $fails, start NAME ARGS (a server on a free loopback port: sets PID
# and PORT), req, expect_error, metric, wait_exit, wait_metric. The caller
# sets SLM, SCRATCH and SERVE_TEST (the scratch dir's name prefix).
mkdir -p "$SCRATCH"
W=$(mktemp -d "$SCRATCH/$SERVE_TEST.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
# Every wait below is bounded: curl --max-time, polling loops, wait_exit.
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# start NAME ARGS...: run `slm serve ARGS --port 0`, wait for its port; sets PID, PORT.
start() {
    local name=$1
    shift
    : >"$W/$name.log"
    "$SLM" serve "$@" --port 0 2>"$W/$name.log" &
    PID=$!
    PIDS="$PIDS $PID"
    PORT=""
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$W/$name.log")
        [ -n "$PORT" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL: server $name did not start: $(cat "$W/$name.log")"
    exit 1
}

# req PORT METHOD PATH [BODY] [curl args...]: body to $W/out, prints the status.
req() {
    local port=$1 method=$2 path=$3
    shift 3
    local body=""
    if [ $# -gt 0 ]; then body=$1; shift; fi
    if [ -n "$body" ]; then
        curl -s -o "$W/out" -w '%{http_code}' --max-time 60 -X "$method" -H 'Content-Type: application/json' \
            --data-binary "$body" "$@" "http://127.0.0.1:$port$path"
    else
        curl -s -o "$W/out" -w '%{http_code}' --max-time 60 -X "$method" "$@" "http://127.0.0.1:$port$path"
    fi
}

# expect_error PORT STATUS METHOD PATH [BODY] [curl args...]: an OpenAI-style error with that status.
expect_error() {
    local port=$1 want=$2
    shift 2
    local code
    code=$(req "$port" "$@")
    [ "$code" = "$want" ] || { fail "$*: status $code, expected $want: $(head -c 300 "$W/out")"; return; }
    jq -e '(.error.message | type == "string" and length > 0) and (.error.type | type == "string")
           and (.error | has("param") and has("code"))' "$W/out" >/dev/null ||
        fail "$*: not an OpenAI error body: $(head -c 300 "$W/out")"
}

metric() { # metric PORT NAME_WITH_LABELS -> value (0 if absent)
    curl -s --max-time 10 "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}

# wait_exit PID: the process's exit status, or 124 if it is still running after ~30 s.
wait_exit() {
    for _ in $(seq 300); do
        kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
        sleep 0.1
    done
    return 124
}

# wait_metric PORT NAME VALUE: poll up to ~10 s until the metric equals VALUE.
wait_metric() {
    for _ in $(seq 100); do
        [ "$(metric "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}


#!/usr/bin/env bash
# serve_load.sh — aggregate generation tokens/s of `slm serve` under
# concurrent clients: starts the server on a free loopback port, runs CLIENTS
# curl clients x REQS requests of N tokens each (greedy, ignore_eos, response
# cache off, so every request really generates), prints tokens / wall time,
# and tokens per CPU-second of the server process (utime + stime from
# /proc/PID/stat: on a machine shared with other jobs that, at -t 1, is what
# an idle core would do, while wall time mostly measures the run queue),
# then stops the server with SIGTERM. Needs curl, jq, bc.
# usage: bench/serve_load.sh SLM MODEL PARALLEL CLIENTS [REQS=2] [N=200] [THREADS=1]
set -u
SLM=$1 M=$2 P=$3 C=$4 R=${5:-2} N=${6:-200} T=${7:-1}
LOG=$(mktemp)
OUT=$(mktemp -d)
"$SLM" serve "$M" --port 0 -t "$T" --parallel "$P" --queue "$C" --cache-bytes 0 2>"$LOG" &
PID=$!
trap 'kill -KILL $PID 2>/dev/null; rm -rf "$LOG" "$OUT"' EXIT
PORT=""
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$LOG")
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start: $(cat "$LOG")"; exit 1; }
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
c0=$(cpu)
t0=$(date +%s.%N)
pids=""
for c in $(seq "$C"); do
    (for _ in $(seq "$R"); do
        curl -s --max-time 600 -d "{\"prompt\":\"hello\",\"max_tokens\":$N,\"ignore_eos\":true,\"temperature\":0}" \
            "http://127.0.0.1:$PORT/v1/completions" | jq .usage.completion_tokens
    done) >"$OUT/$c" &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done
t1=$(date +%s.%N)
c1=$(cpu)
hz=$(getconf CLK_TCK)
tok=$(cat "$OUT"/* | awk '{ s += $1 } END { print s + 0 }')
kill -TERM $PID
wait $PID
echo "parallel=$P clients=$C tokens=$tok (want $((C * R * N))) wall_s=$(echo "$t1 - $t0" | bc) tok_per_s=$(echo "$tok / ($t1 - $t0)" | bc -l | cut -c1-7) cpu_s=$(echo "($c1 - $c0) / $hz" | bc -l | cut -c1-6) tok_per_cpu_s=$([ "$c1" -gt "$c0" ] && echo "$tok * $hz / ($c1 - $c0)" | bc -l | cut -c1-7 || echo n/a)"

#!/usr/bin/env bash
# cli_gen_model.sh — `slm gen-model` writes files that the other subcommands
# load: same seed → identical bytes, the requested types show in `slm info`,
# and `slm run` generates from them. Needs no testdata.
# Args: $1 slm binary, $2 testdata dir (unused), $3 scratch dir.
set -u
SLM=$1
SCRATCH=${3:-/tmp}
W="$SCRATCH/cli_gen_model.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$SLM" gen-model --shape tiny --seed 3 -t 1 -o "$W/a.gguf" 2>"$W/err" || fail "gen-model failed: $(cat "$W/err")"
grep -q "token_embd.weight" "$W/err" || fail "no per-tensor progress on stderr: $(cat "$W/err")"
grep -q "wrote $W/a.gguf" "$W/err" || fail "no final message: $(cat "$W/err")"
"$SLM" gen-model --shape TINY --seed 3 -t 2 -o "$W/b.gguf" 2>/dev/null || fail "gen-model (2 threads) failed"
cmp -s "$W/a.gguf" "$W/b.gguf" || fail "same seed, different files"
"$SLM" gen-model --shape tiny --seed 4 -o "$W/c.gguf" 2>/dev/null || fail "gen-model seed 4 failed"
cmp -s "$W/a.gguf" "$W/c.gguf" && fail "seeds 3 and 4 gave the same file"

# Types: F16 default; a mix shows its Q4_K and Q6_K tensors.
got=$("$SLM" info "$W/a.gguf" 2>&1) || fail "info failed: $got"
case "$got" in *F16*) ;; *) fail "info of the F16 model: $got" ;; esac
"$SLM" gen-model --arch qwen2 --dims 256,2,4,2,512,600 --type Q4_K_M -o "$W/q.gguf" 2>/dev/null || fail "gen-model Q4_K_M failed"
got=$("$SLM" info "$W/q.gguf" 2>&1) || fail "info failed: $got"
case "$got" in *qwen2*Q4_K*Q6_K*) ;; *) fail "info of the Q4_K_M qwen2 model: $got" ;; esac
"$SLM" gen-model --shape tiny --type q8_0 -o "$W/q8.gguf" 2>/dev/null || fail "gen-model q8_0 failed"
case "$("$SLM" info "$W/q8.gguf" 2>&1)" in *Q8_0*) ;; *) fail "info of the Q8_0 model" ;; esac

# Every weight type and mix generates, loads and runs, and `info` shows its base type.
for t in F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS \
         Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M; do
    "$SLM" gen-model --shape tiny --type "$t" -t 1 -o "$W/t.gguf" 2>/dev/null || { fail "gen-model --type $t failed"; continue; }
    out=$("$SLM" run "$W/t.gguf" -p "hello" -n 3 -t 1 2>&1) || fail "run on $t failed: $out"
    base=${t%_[MSL]}
    case "$t" in Q?_K_[MSL]) ;; *) base=$t ;; esac
    case "$("$SLM" info "$W/t.gguf" 2>&1)" in *"$base "*) ;; *) fail "info of the $t model lacks $base" ;; esac
done

# The file runs: generation stops at -n, the prompt comes back first.
got=$("$SLM" run "$W/a.gguf" -p "Once upon a time" -n 8 --seed 1 -t 1 --json 2>/dev/null) || fail "run failed"
python3 - "$got" <<'PY' || fail "run on the generated model: $got"
import json, sys
o = json.loads(sys.argv[1])
assert o["prompt"] == " Once upon a time", o["prompt"]
assert len(o["tokens"]) == 8 or o["stop"] == "eog", o
assert all(0 <= t < 512 for t in o["tokens"]), o["tokens"]
PY
got=$("$SLM" tokenize "$W/a.gguf" --text "Once upon a time" --ids --no-bos 2>&1) || fail "tokenize failed: $got"
[ -n "$got" ] || fail "tokenize printed nothing"

# Ctrl-C during generation: clean stop, text flushed, timings printed, exit 0.
# (If the signal lands before generation starts, the default action kills the
# process: that case is not a failure of this check, only inconclusive.)
"$SLM" run "$W/a.gguf" -p "hi" -n -1 --ignore-eos -c 20000 -t 1 >"$W/int.out" 2>"$W/int.err" &
pid=$!
sleep 2
kill -INT "$pid" 2>/dev/null
wait "$pid"; rc=$?
if [ "$rc" -ne 130 ]; then
    [ "$rc" -eq 0 ] || fail "interrupted run exited $rc: $(cat "$W/int.err")"
    grep -q "stopped: interrupted" "$W/int.err" || fail "no interruption note: $(cat "$W/int.err")"
    grep -q "generated [0-9]* tokens" "$W/int.err" || fail "no timings after interruption"
    [ -s "$W/int.out" ] || fail "no text before interruption"
fi

[ "$fails" -eq 0 ] && echo "cli_gen_model: all passed" || echo "cli_gen_model: $fails failed"
[ "$fails" -eq 0 ]

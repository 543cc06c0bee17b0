#!/usr/bin/env bash
# cli_models.sh — `slm logits` and `slm run --temp 0` on every tiny F32 model
# of testdata/models against llama.cpp's reference logits (limits from
# testdata/README.md section 6) and greedy continuations.
# Args: $1 slm binary, $2 testdata dir, $3 scratch dir. Skips (77) without $2.
set -u
SLM=$1
TD=${2:-}
SCRATCH=${3:-/tmp}
if [ -z "$TD" ] || [ ! -d "$TD/models" ]; then
    echo "SKIP: testdata '$TD' not found"
    exit 77
fi
W="$SCRATCH/cli_models.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for m in llama llama-tied qwen2 qwen3 gemma2 phi3 moe; do
    base="$TD/models/tiny-$m-F32"
    [ -f "$base.gguf" ] || continue
    limit=1e-4
    [ "$m" = gemma2 ] && limit=3e-3
    if ! "$SLM" logits "$base.gguf" --tokens "$(cat "$base.tokens.txt")" --out "$W/$m.f32" -t 1 2>"$W/err"; then
        fail "$m: logits failed: $(cat "$W/err")"
        continue
    fi
    python3 - "$W/$m.f32" "$base.logits.f32" "$limit" "$m" <<'PY' || fail "$m: logits differ"
import struct, sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
assert len(a) == len(b), (len(a), len(b))
x = struct.unpack("<%df" % (len(a) // 4), a); y = struct.unpack("<%df" % (len(b) // 4), b)
worst = max(abs(p - q) for p, q in zip(x, y))
print("%-10s logits max abs diff %.3g (limit %s)" % (sys.argv[4], worst, sys.argv[3]))
assert worst < float(sys.argv[3]), worst
PY
    # Greedy continuation: the prompt text tokenizes to the reference ids, and
    # 24 argmax steps (F32 KV cache, EOS not special, as the reference) give
    # the reference's ids.
    "$SLM" run "$base.gguf" -p "The quick brown fox jumps over the lazy dog." -n 24 --temp 0 \
        --ignore-eos --kv-type f32 -t 1 --json >"$W/$m.json" 2>"$W/err" || { fail "$m: run failed: $(cat "$W/err")"; continue; }
    python3 - "$W/$m.json" "$base.tokens.txt" "$base.greedy.txt" "$m" <<'PY' || fail "$m: greedy run differs"
import json, sys
o = json.load(open(sys.argv[1]))
want_p = [int(t) for t in open(sys.argv[2]).read().split()]
want_g = [int(t) for t in open(sys.argv[3]).read().split()]
assert o["prompt_tokens"] == want_p, ("prompt", o["prompt_tokens"], want_p)
assert o["tokens"] == want_g, ("greedy", o["tokens"], want_g)
print("%-10s greedy 24/24" % sys.argv[4])
PY
done

[ "$fails" -eq 0 ] && echo "cli_models: all passed" || echo "cli_models: $fails failed"
[ "$fails" -eq 0 ]

#!/usr/bin/env bash
# cli_edge_conf.sh — model-logit conformance cheap enough for emulation
# (issue 9): `slm logits` evaluates each chosen model's reference prompt as
# one batch (the prompt-processing path: tile GEMMs where the level has
# them) and the logits are compared with llama.cpp's (testdata
# *.logits.f32) under test_conf_models' limits for the type: max abs, rms,
# and top-1 agreement wherever the reference's top-2 margin exceeds twice
# the max-abs limit. test_conf_models checks far more per model (greedy
# decoding, teacher forcing, F16 KV, threads) but costs minutes per model
# under qemu; this costs about a second.
# Args: $1 slm binary (a command: "qemu-aarch64-static -L ... slm" works),
# $2 testdata dir, $3 scratch dir; SLM_EDGE_CONF_MODELS (space-separated
# names) overrides the default subset. SLM_ISA in the environment picks
# the kernel level. Skips (77) without $2.
set -u
SLM=$1
TD=${2:-}
SCRATCH=${3:-/tmp}
if [ -z "$TD" ] || [ ! -d "$TD/models" ]; then
    echo "SKIP: testdata '$TD' not found"
    exit 77
fi
PY=python3
models=${SLM_EDGE_CONF_MODELS:-"stories260K-F32 tiny-llama-F16 tiny-llama-Q8_0 tiny-llama-Q4_0 tiny-llama-Q4_K_M tiny-llama-Q6_K"}
W="$SCRATCH/cli_edge_conf.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
for m in $models; do
    d="$TD/models"
    [ -f "$d/$m.gguf" ] || d="$TD/${m%%-*}"
    case "$m" in
    stories260K*) lim="1e-4 2e-5" ;;
    *-F16) lim="5e-3 1e-3" ;;
    *-BF16) lim="3e-2 5e-3" ;;
    *-Q8_0 | *-Q4_0) lim="0.15 0.03" ;;
    *-Q6_K | *-Q4_K_M) lim="0.25 0.06" ;;
    *) lim="1e-4 1e-5" ;;
    esac
    # shellcheck disable=SC2086
    if ! $SLM logits "$d/$m.gguf" --tokens "$(cat "$d/$m.tokens.txt")" -o "$W/$m.f32" -t 1 2>"$W/err" >/dev/null; then
        echo "FAIL: $m: slm logits: $(cat "$W/err")"
        fails=$((fails + 1))
        continue
    fi
    # shellcheck disable=SC2086
    if ! $PY - "$W/$m.f32" "$d/$m.logits.f32" "$(wc -w <"$d/$m.tokens.txt")" $lim "$m" <<'PYEOF'; then
import array, math, sys
got, ref = array.array("f"), array.array("f")
with open(sys.argv[1], "rb") as f: got.frombytes(f.read())
with open(sys.argv[2], "rb") as f: ref.frombytes(f.read())
n, lim_max, lim_rms, name = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
if len(got) != len(ref) or len(ref) % n:
    sys.exit(f"FAIL: {name}: {len(got)} logits, reference has {len(ref)}")
nv = len(ref) // n
mx = max(abs(a - b) for a, b in zip(got, ref))
rms = math.sqrt(sum((a - b) ** 2 for a, b in zip(got, ref)) / len(ref))
clear = agree = 0
for p in range(n):
    r, g = ref[p * nv:(p + 1) * nv], got[p * nv:(p + 1) * nv]
    top = sorted(range(nv), key=lambda i: -r[i])[:2]
    if r[top[0]] - r[top[1]] > 2 * lim_max:
        clear += 1
        agree += max(range(nv), key=lambda i: g[i]) == top[0]
ok = mx <= lim_max and rms <= lim_rms and agree == clear
print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs {mx:.2e} (<= {lim_max:g}), rms {rms:.2e} (<= {lim_rms:g}), top-1 {agree}/{clear} clear positions")
sys.exit(0 if ok else 1)
PYEOF
        fails=$((fails + 1))
    fi
done
[ "$fails" -eq 0 ] || { echo "$fails model(s) failed"; exit 1; }

#!/usr/bin/env bash
# cli_compress.sh — `slm quantize`, `slm perplexity`, `slm imatrix` end to
# end: the quantized tiny-llama equals llama-quantize's file byte for byte,
# perplexity --json has the documented keys, a model against its own saved
# log-probs has KL 0, the imatrix drives the quantizer, and bad arguments
# exit 2. Args: $1 slm binary, $2 testdata dir, $3 scratch dir.
set -u
SLM=$1
TD=$2
SCRATCH=${3:-/tmp}/cli_compress.$$
DATA="$TD/../data/text/tinystories/tinystories_valid_prefix.txt.gz"
[ -d "$TD/models" ] || { echo "SKIP: $TD not found"; exit 77; }
mkdir -p "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for t in Q4_K_M Q8_0; do
    "$SLM" quantize -t 2 "$TD/models/tiny-llama-F32.gguf" "$SCRATCH/q.gguf" "$t" 2>"$SCRATCH/err" ||
        fail "quantize $t: $(cat "$SCRATCH/err")"
    cmp -s "$SCRATCH/q.gguf" "$TD/models/tiny-llama-$t.gguf" || fail "quantize $t differs from llama-quantize's file"
done
out=$("$SLM" quantize --json "$TD/models/tiny-llama-F32.gguf" "$SCRATCH/q.gguf" q6_k 2>/dev/null)
case "$out" in *'"converted":16,"fallback":0'*) ;; *) fail "quantize --json: $out" ;; esac
cmp -s "$SCRATCH/q.gguf" "$TD/models/tiny-llama-Q6_K.gguf" || fail "quantize q6_k (lower case) differs from llama-quantize's"

"$SLM" quantize "$TD/models/tiny-llama-F32.gguf" "$SCRATCH/x.gguf" Q9_K >/dev/null 2>"$SCRATCH/err"
[ $? -eq 2 ] && grep -q "Q9_K" "$SCRATCH/err" || fail "unknown type: $(cat "$SCRATCH/err")"
[ -e "$SCRATCH/x.gguf" ] && fail "unknown type wrote a file"
"$SLM" quantize "$TD/models/tiny-llama-F32.gguf" >/dev/null 2>&1
[ $? -eq 2 ] || fail "quantize with one argument did not exit 2"
"$SLM" perplexity "$TD/models/tiny-llama-F32.gguf" >/dev/null 2>&1
[ $? -eq 2 ] || fail "perplexity without --data did not exit 2"
"$SLM" imatrix "$TD/models/tiny-llama-F32.gguf" --data x >/dev/null 2>&1
[ $? -eq 2 ] || fail "imatrix without -o did not exit 2"
for c in quantize perplexity imatrix; do
    "$SLM" --help | grep -q "^  $c " || fail "$c not in slm --help"
    "$SLM" $c --help >/dev/null || fail "$c --help"
done

if [ -f "$DATA" ]; then
    S="$TD/stories260K/stories260K-F32.gguf"
    P="--data $DATA --ctx 64 --chunks 4 --max-bytes 20000 -t 2"
    out=$("$SLM" perplexity "$S" $P --json --save-logits "$SCRATCH/b.lp" 2>/dev/null) || fail "perplexity failed"
    for k in '"ppl":' '"ppl_err":' '"chunks":4' '"tokens":124' '"n_ctx":64'; do
        case "$out" in *"$k"*) ;; *) fail "perplexity --json lacks $k: $out" ;; esac
    done
    out=$("$SLM" perplexity "$S" $P --kl-divergence "$SCRATCH/b.lp" 2>/dev/null)
    case "$out" in *"mean KLD:   0.000000 +/- 0.000000"*"same top-1: 100.000%"*) ;; *) fail "self KL: $out" ;; esac
    # float16 rows by default (4 + 2 x 512 bytes), --logits-f32 the old 4 x 512; both compare
    "$SLM" perplexity "$S" $P --save-logits "$SCRATCH/b32.lp" --logits-f32 >/dev/null 2>&1 || fail "--logits-f32 failed"
    rows=$((4 * (64 - 1 - 32))); head=$((24 + 4 * 64 * 4))
    [ "$(stat -c %s "$SCRATCH/b.lp")" -eq $((head + rows * 1028)) ] || fail "float16 logits file size $(stat -c %s "$SCRATCH/b.lp")"
    [ "$(stat -c %s "$SCRATCH/b32.lp")" -eq $((head + rows * 2048)) ] || fail "float32 logits file size $(stat -c %s "$SCRATCH/b32.lp")"
    out=$("$SLM" perplexity "$S" $P --kl-divergence "$SCRATCH/b32.lp" 2>/dev/null)
    case "$out" in *"mean KLD:   0.000000 +/- 0.000000"*) ;; *) fail "self KL against a float32 base: $out" ;; esac
    "$SLM" imatrix "$S" $P -o "$SCRATCH/i.dat" 2>/dev/null || fail "imatrix failed"
    "$SLM" quantize --imatrix "$SCRATCH/i.dat" "$S" "$SCRATCH/s.gguf" Q4_K_M --json 2>/dev/null |
        grep -q '"imatrix_tensors":35' || fail "quantize --imatrix did not use 35 tensors"
fi
[ "$fails" -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $((fails > 0))

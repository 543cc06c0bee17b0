#!/usr/bin/env bash
# cli_prune.sh — `slm prune` end to end on stories260K: every method writes a
# model that `slm logits` runs, --json has the documented keys and the
# structure asked for, --eval reports ppl and KLD (0 for a 0% prune), and bad
# arguments exit 2 without writing a file. Args: $1 slm binary, $2 testdata
# dir, $3 scratch dir.
set -u
SLM=$1
TD=$2
SCRATCH=${3:-/tmp}/cli_prune.$$
M="$TD/stories260K/stories260K-F32.gguf"
CAL="$TD/../data/text/tinystories/tinystories_sample_cs336.txt"
HELD="$TD/../data/text/tinystories/tinystories_valid_prefix.txt.gz"
[ -f "$M" ] && [ -f "$CAL" ] && [ -f "$HELD" ] || { echo "SKIP: $M or its text not found"; exit 77; }
mkdir -p "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

run() { # method, extra args, expected JSON fragment
    out=$("$SLM" prune "$M" "$SCRATCH/p.gguf" --method "$1" $2 --data "$CAL" --ctx 128 -t 2 --json 2>"$SCRATCH/err")
    [ $? -eq 0 ] || { fail "prune $1 $2: $(cat "$SCRATCH/err")"; return; }
    case "$out" in *"$3"*) ;; *) fail "prune $1 $2 --json: expected $3 in $out" ;; esac
    "$SLM" logits "$SCRATCH/p.gguf" --tokens "1 403 407 261" -o "$SCRATCH/l.f32" >/dev/null 2>&1 ||
        fail "prune $1 $2: slm logits cannot run the output"
}
run depth "--ratio 0.4" '"n_layer_out":3'
run ffn "--ratio 0.25" '"n_ff_out":129'
run heads "--ratio 0.5" '"n_head_in":8,"n_head_out":4,"n_head_kv_in":4,"n_head_kv_out":2'
run magnitude "--ratio 0.5" '"params_out":292800'
run wanda "--sparsity-pattern 2:4" '"pattern":"2:4"'

out=$("$SLM" prune "$M" "$SCRATCH/z.gguf" --method magnitude --ratio 0 --ctx 128 --eval "$HELD" --eval-chunks 4 \
      --json 2>/dev/null)
case "$out" in *'"kld":0.00000000'*'"top1":1.000000'*) ;; *) fail "0% prune --eval: $out" ;; esac

"$SLM" prune "$M" "$SCRATCH/x.gguf" --method bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown method did not exit 2"
"$SLM" prune "$M" "$SCRATCH/x.gguf" --method wanda >/dev/null 2>&1
[ $? -eq 2 ] || fail "wanda without --data did not exit 2"
"$SLM" prune "$M" "$SCRATCH/x.gguf" --method magnitude --sparsity-pattern 4:2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "pattern 4:2 did not exit 2"
"$SLM" prune "$M" "$SCRATCH/x.gguf" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --method did not exit 2"
[ -e "$SCRATCH/x.gguf" ] && fail "a failed prune wrote a file"
"$SLM" --help | grep -q "^  prune " || fail "prune not in slm --help"
"$SLM" prune --help >/dev/null || fail "prune --help"

[ $fails -eq 0 ] && echo "cli_prune: all passed" || { echo "cli_prune: $fails failed"; exit 1; }

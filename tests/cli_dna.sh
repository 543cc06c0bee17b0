#!/usr/bin/env bash
# cli_dna.sh — `slm dna` end to end on tiny data the script writes (nothing
# from ../shared): tokenizer, pretrain (+ resume extending a run, loss-curve
# SVG, --json), the model runs in `slm run`, finetune (full and --probe,
# --json), predict (TSV header/columns, probabilities summing to 1, --json),
# embed (TSV and .npy sizes), score (LLR = alt - ref), generate (length,
# alphabet, seed determinism), and usage errors exiting 2.
# Args: $1 slm binary, $2 testdata dir (unused), $3 scratch dir.
set -u
SLM=$1
SCRATCH=${3:-/tmp}/cli_dna.$$
mkdir -p "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
cd "$SCRATCH" || exit 1

# a Markov genome (A->C->G->T->A with p 0.9) and a motif task, from awk's seeded RNG
awk 'BEGIN { srand(11); print ">g"; c = 0; s = "";
  for (i = 0; i < 12000; i++) { if (rand() < 0.9) c = (c + 1) % 4; else c = int(rand() * 4);
    s = s substr("ACGT", c + 1, 1); if (length(s) == 60) { print s; s = "" } } print s }' > g.fa
gzip -c g.fa > g.fa.gz
mkset() { # file, rows, seed: class 1 holds GGATCC in an A/C/T background
  awk -v n="$2" -v seed="$3" 'BEGIN { srand(seed); print "sequence,label";
    for (i = 0; i < n; i++) { s = ""; for (j = 0; j < 40; j++) s = s substr("ACT", int(rand() * 3) + 1, 1);
      lab = i % 2; if (lab) { p = int(rand() * 34); s = substr(s, 1, p) "GGATCC" substr(s, p + 7) }
      print s "," lab } }' | gzip -c > "$1"
}
mkset train.csv.gz 300 1
mkset dev.csv.gz 80 2
mkset test.csv.gz 60 3

# tokenizer
"$SLM" dna tokenizer --type kmer:4 -o k4.gguf || fail "dna tokenizer kmer:4"
"$SLM" tokenize k4.gguf -p "ACGTACGTAC" >/dev/null 2>&1 || true
"$SLM" dna tokenizer --type kmer:9 -o k9.gguf 2>/dev/null
[ $? -eq 2 ] || fail "kmer:9 did not exit 2"

# a BPE vocabulary trained on DNA (slm tokenizer train --dna) drives pretraining too
"$SLM" tokenizer train --dna --vocab 300 --data g.fa -o bpe.gguf -q 2>err || fail "tokenizer train --dna: $(cat err)"
"$SLM" dna pretrain --fasta g.fa -o bpe_base.gguf --tokenizer bpe.gguf --dim 32 --layers 1 --heads 2 --ff 64 \
  --ctx 32 --batch 2 --steps 3 --val-bases 2000 -t 1 2>err || fail "pretrain with a BPE tokenizer: $(cat err)"
out=$("$SLM" dna score --model bpe_base.gguf --ref ACGTACGTACGTACGTACGTACGTACGT --json -t 1 2>err) ||
  fail "score with BPE: $(cat err)"
case "$out" in *'"ref_tokens":'[1-9]*) ;; *) fail "score with BPE: $out" ;; esac

# pretrain, then extend the run from its checkpoint
SHAPE="--dim 32 --layers 2 --heads 2 --ff 64 --ctx 48 --batch 4 --lr 3e-3 --warmup 2 --val-bases 2000 -t 1"
out=$("$SLM" dna pretrain --fasta g.fa.gz -o base.gguf $SHAPE --steps 20 --json 2>err) ||
  fail "pretrain: $(cat err)"
case "$out" in *'"n_params":'*'"tokens_seen":3840'*'"final_val_loss":'*) ;; *) fail "pretrain --json: $out" ;; esac
[ -s base.svg ] && grep -q "<svg" base.svg || fail "no loss curve base.svg"
[ -s base.gguf.ckpt ] || fail "no default checkpoint base.gguf.ckpt"
out=$("$SLM" dna pretrain --fasta g.fa.gz -o base2.gguf $SHAPE --steps 30 --resume base.gguf.ckpt \
      --checkpoint c2.ckpt --json 2>err) || fail "resume: $(cat err)"
case "$out" in *'"tokens_seen":5760'*) ;; *) fail "resumed run did not continue to 30 steps: $out" ;; esac
"$SLM" run base2.gguf -p ACGTACGT -n 8 -t 1 >/dev/null 2>&1 || fail "slm run cannot load the gLM"

# finetune, predict
out=$("$SLM" dna finetune --model base2.gguf --train train.csv.gz --dev dev.csv.gz -o clf.gguf \
      --epochs 3 --lr 3e-3 --lr-head 0.1 -t 1 --json 2>err) || fail "finetune: $(cat err)"
case "$out" in *'"mode":"full"'*'"best_dev_mcc":'*) ;; *) fail "finetune --json: $out" ;; esac
"$SLM" dna predict --model clf.gguf --data test.csv.gz -t 1 > pred.tsv 2>err || fail "predict: $(cat err)"
[ "$(head -1 pred.tsv)" = "$(printf 'index\tpred\tp_0\tp_1\tlabel')" ] || fail "predict header: $(head -1 pred.tsv)"
[ "$(wc -l < pred.tsv)" -eq 61 ] || fail "predict rows: $(wc -l < pred.tsv)"
awk -F'\t' 'NR > 1 { s = $3 + $4; if (s < 0.9999 || s > 1.0001) bad++; if (($4 > $3) != $2) bad++ }
  END { exit bad > 0 }' pred.tsv || fail "predict: probabilities do not sum to 1 or pred is not the argmax"
"$SLM" dna predict --model clf.gguf --data test.csv.gz --json -t 1 2>/dev/null | head -1 | grep -q '^{"index":0,"pred":[01],"proba":\[' ||
  fail "predict --json"
"$SLM" dna finetune --model base2.gguf --train train.csv.gz -o probe.gguf --probe --epochs 3 -t 1 2>/dev/null ||
  fail "finetune --probe without --dev"
"$SLM" dna predict --model base2.gguf --data test.csv.gz >/dev/null 2>err
[ $? -eq 1 ] && grep -q "not a classifier" err || fail "predict on a base model: $(cat err)"

# embed: TSV rows x (1 + 32) columns; npy = 128-byte header + 60 x 32 floats
"$SLM" dna embed --model base2.gguf --data test.csv.gz -t 1 > emb.tsv 2>/dev/null || fail "embed tsv"
[ "$(wc -l < emb.tsv)" -eq 60 ] && [ "$(head -1 emb.tsv | awk -F'\t' '{print NF}')" -eq 33 ] ||
  fail "embed tsv shape"
printf '>a\nACGTACGTAC\n>b\nGGGTTTAAAC\n' > two.fa
"$SLM" dna embed --model base2.gguf --data two.fa -o two.tsv -t 1 2>/dev/null && cut -f1 two.tsv | tr '\n' ' ' | grep -q "^a b " ||
  fail "embed of FASTA keeps record names"
"$SLM" dna embed --model base2.gguf --data test.csv.gz -o emb.npy -t 1 2>/dev/null || fail "embed npy"
[ "$(stat -c %s emb.npy)" -eq $((128 + 60 * 32 * 4)) ] || fail "npy size $(stat -c %s emb.npy)"
head -c 6 emb.npy | od -c | head -1 | grep -q "N   U   M   P   Y" || fail "npy magic"

# score: LLR is alt - ref
out=$("$SLM" dna score --model base2.gguf --ref ACGTACGTACGT --alt ACGTAGGTACGT --json -t 1 2>err) ||
  fail "score: $(cat err)"
echo "$out" | awk -F'[:,}]' '{ for (i = 1; i < NF; i++) { if ($i ~ /ref_loglik/) r = $(i+1);
  if ($i ~ /alt_loglik/) a = $(i+1); if ($i ~ /"llr"/) l = $(i+1) } d = a - r - l; if (d < 0) d = -d; exit d > 1e-4 }' ||
  fail "score: llr is not alt - ref: $out"
"$SLM" dna score --model base2.gguf --ref ACGTXX >/dev/null 2>&1
[ $? -eq 2 ] || fail "score with a bad letter did not exit 2"

# generate: N bases of ACGTN after the prompt; same seed, same output
g1=$("$SLM" dna generate --model base2.gguf --prompt ACGT -n 30 --seed 5 -t 1 2>/dev/null)
g2=$("$SLM" dna generate --model base2.gguf --prompt ACGT -n 30 --seed 5 -t 1 2>/dev/null)
[ "${#g1}" -eq 34 ] && [[ "$g1" =~ ^ACGT[ACGTN]+$ ]] || fail "generate: '$g1'"
[ "$g1" = "$g2" ] || fail "generate is not deterministic for a seed"

# usage errors
for args in "pretrain -o x.gguf" "pretrain --fasta g.fa" "finetune --model base2.gguf -o x.gguf" \
            "predict --data test.csv.gz" "embed --model base2.gguf" "score --model base2.gguf" \
            "generate" "bogus" "pretrain --fasta g.fa -o x.gguf --steps abc" "finetune --pool max"; do
  "$SLM" dna $args >/dev/null 2>&1
  [ $? -eq 2 ] || fail "slm dna $args did not exit 2"
done
for sub in pretrain finetune predict embed score generate tokenizer; do
  "$SLM" dna $sub --help | grep -q "usage: slm dna $sub" || fail "slm dna $sub --help"
done
[ -e x.gguf ] && fail "a usage error wrote x.gguf"

if [ "$fails" -eq 0 ]; then echo "1 passed, 0 failed"; exit 0; fi
echo "0 passed, 1 failed ($fails checks)"
exit 1

#!/usr/bin/env bash
# cli_dna_bench.sh — `slm dna bench` end to end on synthetic data written
# here (a GUE-layout folder with a 2-class and a 3-class motif task, and a
# UCI-format splice file): --json has one object per task x method with the
# documented keys, both baselines find the motifs, glm without --model is a
# missing row and with a tiny pretrained gLM a real one, the report and SVG
# chart are written, a run is reproducible for a seed, and usage errors exit
# 2. Args: $1 slm binary, $2 testdata dir (unused), $3 scratch dir.
set -u
SLM=$1
SCRATCH=${3:-/tmp}/cli_dna_bench.$$
mkdir -p "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }

# Random 60-mers; class c > 0 carries motif c at a random offset.
gen() { # seed n n_class
    awk -v seed="$1" -v n="$2" -v k="$3" 'BEGIN {
        srand(seed); split("TATAAT GGCGCC", m, " "); print "sequence,label";
        for (i = 0; i < n; i++) {
            c = i % k; s = "";
            for (j = 0; j < 60; j++) s = s substr("ACGT", int(rand() * 4) + 1, 1);
            if (c > 0) { o = 5 + int(rand() * 45); s = substr(s, 1, o) m[c] substr(s, o + 7) }
            print s "," c } }'
}
D="$SCRATCH/gue"
mkdir -p "$D/motif2" "$D/motif3"
gen 1 2000 2 | gzip > "$D/motif2/train.csv.gz"
gen 2 150 2 | gzip > "$D/motif2/dev.csv.gz"
gen 3 150 2 > "$D/motif2/test.csv" # plain CSV is read too
gen 4 2000 3 | gzip > "$D/motif3/train.csv.gz"
gen 5 150 3 | gzip > "$D/motif3/dev.csv.gz"
gen 6 150 3 | gzip > "$D/motif3/test.csv.gz"
# UCI splice layout: EI rows carry GT after position 30, IE rows AG before it.
awk 'BEGIN { srand(7); split("EI IE N", cl, " ");
    for (i = 0; i < 600; i++) { c = i % 3 + 1; s = "";
        for (j = 0; j < 60; j++) s = s substr("ACGT", int(rand() * 4) + 1, 1);
        if (c == 1) s = substr(s, 1, 28) "AGGTAAGT" substr(s, 37);
        if (c == 2) s = substr(s, 1, 22) "TTTTTCAG" substr(s, 31);
        printf "%s,  ROW-%d,   %s\n", cl[c], i, s } }' > "$SCRATCH/splice.data"

out=$("$SLM" dna bench --data "$D" --splice "$SCRATCH/splice.data" --methods kmer_lr,cnn,glm --folds 5 \
      --cnn-epochs 6 --boot 100 -t 1 --json --report "$SCRATCH/r.md" 2>"$SCRATCH/err")
[ $? -eq 0 ] || fail "bench: $(tail -3 "$SCRATCH/err")"
echo "$out" > "$SCRATCH/a.json"
n=$(jq length "$SCRATCH/a.json" 2>/dev/null)
[ "$n" = 9 ] || fail "expected 9 objects (3 tasks x 3 methods), got '$n': $out"
jq -e 'all(.[]; has("task") and has("method") and has("mcc") and has("accuracy") and has("f1")
        and has("auroc") and has("params"))' "$SCRATCH/a.json" >/dev/null || fail "a key is missing: $out"
jq -e '[.[].task] | unique == ["motif2","motif3","uci_splice"]' "$SCRATCH/a.json" >/dev/null ||
    fail "tasks: $(jq -c '[.[].task] | unique' "$SCRATCH/a.json")"
jq -e 'all(.[] | select(.method == "glm"); .missing == true and .mcc == null)' "$SCRATCH/a.json" >/dev/null ||
    fail "glm without --model is not a missing row"
for m in kmer_lr cnn; do
    for t in motif2 motif3 uci_splice; do
        jq -e --arg m $m --arg t $t '.[] | select(.method == $m and .task == $t) |
            .mcc > (if $m == "kmer_lr" and $t != "uci_splice" then 0.8 else 0.4 end) and .mcc_ci95[0] <= .mcc and .mcc <= .mcc_ci95[1] and .params > 0 and .auroc > 0.75' \
            "$SCRATCH/a.json" >/dev/null || fail "$m on $t: $(jq -c --arg m $m --arg t $t \
            '.[] | select(.method == $m and .task == $t)' "$SCRATCH/a.json")"
    done
done
jq -e '.[] | select(.task == "uci_splice" and .method == "cnn") | .n_test == 600 and .n_class == 3' \
    "$SCRATCH/a.json" >/dev/null || fail "uci_splice CV does not pool all 600 rows"
grep -q "MCC ×100 per task" "$SCRATCH/r.md" || fail "report has no MCC table"
grep -q "r.svg" "$SCRATCH/r.md" || fail "report does not link the chart"
head -c 4 "$SCRATCH/r.svg" | grep -q "<svg" || fail "no SVG chart"
grep -q "motif3 / cnn" "$SCRATCH/r.svg" || fail "chart has no motif3 cnn bar"

# --merge: this run's rows plus the earlier file's other pairs, grouped by task.
out=$("$SLM" dna bench --data "$D" --splice none --tasks motif3 --methods kmer_lr --boot 50 -t 1 \
      --merge "$SCRATCH/a.json" --json --report "$SCRATCH/m.md" 2>"$SCRATCH/err")
[ $? -eq 0 ] || fail "bench --merge: $(tail -3 "$SCRATCH/err")"
echo "$out" | jq -e 'length == 9 and ([.[].task] as $t | [range(1; $t | length) | select($t[.] != $t[. - 1])]
    | length == 2)' >/dev/null ||
    fail "--merge: expected 9 rows grouped by task: $(echo "$out" | jq -c '[.[] | [.task, .method]]')"
grep -q "| uci_splice |" "$SCRATCH/m.md" || fail "--merge: merged task missing from the report"

# Same seed, same numbers (timings aside).
"$SLM" dna bench --data "$D" --splice none --tasks motif3 --methods kmer_lr,cnn --cnn-epochs 2 --boot 50 -t 1 \
    --json 2>/dev/null | jq -c '[.[] | del(.train_s, .predict_s)]' > "$SCRATCH/b1"
"$SLM" dna bench --data "$D" --splice none --tasks motif3 --methods kmer_lr,cnn --cnn-epochs 2 --boot 50 -t 1 \
    --json 2>/dev/null | jq -c '[.[] | del(.train_s, .predict_s)]' > "$SCRATCH/b2"
[ -s "$SCRATCH/b1" ] && cmp -s "$SCRATCH/b1" "$SCRATCH/b2" || fail "two runs with one seed differ"

# The glm method through D1's fine-tuning on a tiny pretrained model.
awk 'BEGIN { srand(9); print ">chr"; s = "";
    for (i = 0; i < 20000; i++) { s = s substr("ACGT", int(rand() * 4) + 1, 1); if (length(s) == 60) { print s; s = "" } } }' \
    > "$SCRATCH/g.fa"
if "$SLM" dna pretrain --fasta "$SCRATCH/g.fa" -o "$SCRATCH/base.gguf" --dim 16 --layers 1 --heads 2 --kv-heads 2 \
    --ff 32 --ctx 64 --steps 5 --val-bases 2000 --batch 4 -t 1 >/dev/null 2>&1; then
    out=$("$SLM" dna bench --data "$D" --splice none --tasks motif2 --methods glm --model "$SCRATCH/base.gguf" \
          --glm-epochs 1 --boot 50 -t 1 --work-dir "$SCRATCH" --json 2>"$SCRATCH/err")
    [ $? -eq 0 ] || fail "bench glm: $(tail -3 "$SCRATCH/err")"
    echo "$out" | jq -e '.[0].method == "glm" and .[0].missing == false and .[0].params > 2000 and
        .[0].accuracy >= 0 and .[0].n_test == 150' >/dev/null || fail "glm row: $out"
    ls "$SCRATCH"/slm_bench_* >/dev/null 2>&1 && fail "the temporary classifier was left behind"
    # glm_probe with the glm-only caps: the detail names the rows it used, the test split stays whole
    out=$("$SLM" dna bench --data "$D" --splice none --tasks motif2 --methods glm_probe --model "$SCRATCH/base.gguf" \
          --glm-max-train 100 --glm-max-dev 40 --boot 50 -t 1 --work-dir "$SCRATCH" --json 2>"$SCRATCH/err")
    [ $? -eq 0 ] || fail "bench glm_probe: $(tail -3 "$SCRATCH/err")"
    echo "$out" | jq -e '.[0].method == "glm_probe" and .[0].missing == false and .[0].n_test == 150 and
        (.[0].detail | startswith("probe, 100 train / 40 dev rows"))' >/dev/null || fail "glm_probe row: $out"
    out=$("$SLM" dna bench --data "$D" --splice none --tasks motif2 --methods glm_probe --boot 50 --json 2>/dev/null)
    echo "$out" | jq -e '.[0].method == "glm_probe" and .[0].missing == true' >/dev/null ||
        fail "glm_probe without --model is not a missing row: $out"
else
    fail "slm dna pretrain of the tiny base model failed"
fi

"$SLM" dna bench --data "$D" --methods kmer_lr,bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown method did not exit 2"
"$SLM" dna bench --data "$SCRATCH/nope" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --data folder did not exit 2"
"$SLM" dna bench --data "$D" --boot 1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--boot 1 did not exit 2"
"$SLM" dna bench --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown flag did not exit 2"
"$SLM" dna bench --data "$D" --tasks nosuchtask --methods kmer_lr >/dev/null 2>&1
[ $? -eq 1 ] || fail "a missing task folder did not exit 1"
"$SLM" dna bench --help | grep -q -- "--max-train" || fail "--help does not list --max-train"

[ $fails -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, $fails failed"
exit $((fails > 0))

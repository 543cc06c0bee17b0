#!/usr/bin/env bash
# cli_distill.sh — `slm distill` end to end with stories260K as the teacher
# (F32, and a Q8_0 copy made by slm quantize): a student config file in
# `slm train --config` format, --json keys, the student runs in `slm logits`,
# a --topk --teacher-cache second run reuses the cache (teacher 0 tokens)
# and writes the same student byte for byte, a cache made with another
# temperature is refused, a student tokenizer that differs from the
# teacher's is refused (exit 1, "must share the tokenizer"), and usage
# errors exit 2 without writing a file; --checkpoint + --resume continues
# bit-exactly (3 + 3 steps == 6). Args: $1 slm binary, $2 testdata
# dir, $3 scratch dir.
set -u
SLM=$1
TD=$2
SCRATCH=${3:-/tmp}/cli_distill.$$
T="$TD/stories260K/stories260K-F32.gguf"
TXT="$TD/../data/text/tinystories/tinystories_sample_cs336.txt"
OTHER_TOK="$TD/models/tiny-llama-F32.gguf"
[ -f "$T" ] && [ -f "$TXT" ] && [ -f "$OTHER_TOK" ] || { echo "SKIP: $T or its text not found"; exit 77; }
mkdir -p "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

cat > "$SCRATCH/student.cfg" <<'EOF'
# a student half the teacher's width (stories260K: dim 64, 5 layers)
dim 32
layers 2
heads 4
kv-heads 2
ff 64
ctx 64
batch 4
steps 6
warmup 2
lr 3e-3
threads 2
EOF

# full distribution, F32 teacher, with validation
out=$("$SLM" distill --teacher "$T" --student "$SCRATCH/student.cfg" --data "$TXT" --val "$TXT" \
      --eval-batches 2 -o "$SCRATCH/s.gguf" --alpha 0.7 --temperature 2 --json 2>"$SCRATCH/err")
[ $? -eq 0 ] || fail "distill: $(cat "$SCRATCH/err")"
for key in '"n_params":' '"tokens_seen":1536' '"final_val_kld":' '"temperature":2' '"alpha":0.7' '"topk":0'; do
    case "$out" in *"$key"*) ;; *) fail "--json lacks $key: $out" ;; esac
done
[ -f "$SCRATCH/s.svg" ] || fail "no loss curve s.svg"
"$SLM" logits "$SCRATCH/s.gguf" --tokens "1 403 407 261" -o "$SCRATCH/l.f32" >/dev/null 2>&1 ||
    fail "slm logits cannot run the student"

# a quantized teacher, top-K with a cache: the second run pays no teacher pass
"$SLM" quantize "$T" "$SCRATCH/t8.gguf" Q8_0 >/dev/null 2>&1 || fail "quantize teacher"
c1=$("$SLM" distill --teacher "$SCRATCH/t8.gguf" --student "$SCRATCH/student.cfg" --data "$TXT" \
     -o "$SCRATCH/c1.gguf" --topk 8 --teacher-cache "$SCRATCH/t.cache" --json 2>"$SCRATCH/err")
[ $? -eq 0 ] || fail "distill with cache: $(cat "$SCRATCH/err")"
c2=$("$SLM" distill --teacher "$SCRATCH/t8.gguf" --student "$SCRATCH/student.cfg" --data "$TXT" \
     -o "$SCRATCH/c2.gguf" --topk 8 --teacher-cache "$SCRATCH/t.cache" --json 2>"$SCRATCH/err")
[ $? -eq 0 ] || fail "distill from cache: $(cat "$SCRATCH/err")"
case "$c1" in *'"cache_windows_loaded":0,'*) ;; *) fail "first run loaded a cache: $c1" ;; esac
case "$c2" in *'"teacher_tokens":0,'*) ;; *) fail "second run ran the teacher: $c2" ;; esac
cmp -s "$SCRATCH/c1.gguf" "$SCRATCH/c2.gguf" || fail "cached run wrote a different student"
"$SLM" distill --teacher "$SCRATCH/t8.gguf" --student "$SCRATCH/student.cfg" --data "$TXT" \
    -o "$SCRATCH/c3.gguf" --topk 8 --temperature 3 --teacher-cache "$SCRATCH/t.cache" 2>"$SCRATCH/err" >/dev/null
[ $? -eq 1 ] || fail "a cache made at another temperature was not refused"
grep -q "temperature" "$SCRATCH/err" || fail "refusal does not name the field: $(cat "$SCRATCH/err")"
[ ! -f "$SCRATCH/c3.gguf" ] || fail "refused run wrote a model"

# --checkpoint then --resume: 3 + 3 steps write the same student as 6 straight
# (with warmup 2 the learning rates of steps 1-3 do not depend on --steps:
# the cosine starts at its peak; the resumed run stretches the schedule to 6)
"$SLM" distill --teacher "$T" --student "$SCRATCH/student.cfg" --data "$TXT" -o "$SCRATCH/r6.gguf" \
    --alpha 0.7 >/dev/null 2>"$SCRATCH/err" || fail "6 steps: $(cat "$SCRATCH/err")"
"$SLM" distill --teacher "$T" --student "$SCRATCH/student.cfg" --data "$TXT" -o "$SCRATCH/r3.gguf" \
    --alpha 0.7 --steps 3 --checkpoint "$SCRATCH/r.ckpt" >/dev/null 2>"$SCRATCH/err" ||
    fail "3 steps with --checkpoint: $(cat "$SCRATCH/err")"
"$SLM" distill --teacher "$T" --student "$SCRATCH/student.cfg" --data "$TXT" -o "$SCRATCH/rr.gguf" \
    --steps 6 --resume "$SCRATCH/r.ckpt" >/dev/null 2>"$SCRATCH/err" ||
    fail "--resume: $(cat "$SCRATCH/err")"
cmp -s "$SCRATCH/r6.gguf" "$SCRATCH/rr.gguf" || fail "3 + resume + 3 steps differ from 6 straight"

# another tokenizer
"$SLM" distill --teacher "$T" --student "$SCRATCH/student.cfg" --data "$TXT" --tokenizer "$OTHER_TOK" \
    -o "$SCRATCH/x.gguf" 2>"$SCRATCH/err" >/dev/null
[ $? -eq 1 ] || fail "a different tokenizer did not exit 1"
grep -q "must share the tokenizer" "$SCRATCH/err" || fail "tokenizer message: $(cat "$SCRATCH/err")"

# usage errors
"$SLM" distill --teacher "$T" --data "$TXT" -o "$SCRATCH/x.gguf" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --student did not exit 2"
"$SLM" distill --teacher "$T" --student "$SCRATCH/student.cfg" --data "$TXT" -o "$SCRATCH/x.gguf" \
    --teacher-cache "$SCRATCH/y.cache" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--teacher-cache without --topk did not exit 2"
"$SLM" distill --teacher "$T" --student "$SCRATCH/student.cfg" --data "$TXT" -o "$SCRATCH/x.gguf" \
    --alpha 2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--alpha 2 did not exit 2"
[ ! -f "$SCRATCH/x.gguf" ] || fail "a usage error wrote a model"

[ $fails -eq 0 ] && echo "cli_distill: all passed"
exit $((fails > 0))

#!/usr/bin/env bash
# cli_stories.sh — the slm tool end to end on stories260K against llama.cpp's
# reference outputs: greedy text, tokenization, prompt logits (within 1e-4),
# the timings line, JSON output, and clean failures on truncated files.
# Args: $1 slm binary, $2 testdata dir, $3 scratch dir. Skips (77) without $2.
set -u
SLM=$1
TD=${2:-}
SCRATCH=${3:-/tmp}
D="$TD/stories260K"
if [ -z "$TD" ] || [ ! -d "$D" ]; then
    echo "SKIP: testdata '$TD' not found"
    exit 77
fi
M="$D/stories260K-F32.gguf"
W="$SCRATCH/cli_stories.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Greedy text: exactly what llama.cpp printed for prompt + 120 tokens.
want=$(cat "$D/stories260K-F32.greedy_text.txt")
got=$("$SLM" run "$M" -p "$(cat "$D/stories260K-F32.prompt.txt")" -n 120 --temp 0 -t 1 2>"$W/err"); rc=$?
[ "$rc" -eq 0 ] || fail "run exited $rc: $(cat "$W/err")"
[ "$got" = "$want" ] || fail "greedy text differs:
got:  $got
want: $want"
# The timings line.
err=$(cat "$W/err")
for needle in "load " "prompt 5 tokens" "tok/s" "generated 120 tokens" "first token" "peak RSS" "MiB"; do
    case "$err" in *"$needle"*) ;; *) fail "timings line lacks '$needle': $err" ;; esac
done
[ "$(grep -c . "$W/err")" -eq 1 ] || fail "expected one line on stderr, got: $err"

# -n 60 gives a prefix of the same text; --no-display-prompt drops the prompt.
got=$("$SLM" run "$M" -p "Once upon a time" -n 60 --temp 0 -t 1 2>/dev/null)
case "$want" in "$got"*) ;; *) fail "-n 60 is not a prefix of the reference: $got" ;; esac
[ ${#got} -gt 100 ] || fail "-n 60 printed only '$got'"
got=$("$SLM" run "$M" -p "Once upon a time" -n 120 --temp 0 -t 1 --no-display-prompt 2>/dev/null)
[ " Once upon a time$got" = "$want" ] || fail "--no-display-prompt: '$got'"

# Multi-byte characters split over byte tokens come out whole and unchanged.
got=$("$SLM" run "$M" -p "Zoë said ünïcode 😀" -n 2 --temp 0 -t 1 2>/dev/null)
case "$got" in " Zoë said ünïcode 😀"*) ;; *) fail "UTF-8 prompt echoed as '$got'" ;; esac

# Prompt from a file.
printf 'Once upon a time' > "$W/prompt.txt"
got=$("$SLM" run "$M" -f "$W/prompt.txt" -n 120 --temp 0 -t 1 2>/dev/null)
[ "$got" = "$want" ] || fail "-f prompt gives other text: $got"

got=$(printf 'Once upon a time' | "$SLM" run "$M" -f - -n 120 --temp 0 -t 1 2>/dev/null)
[ "$got" = "$want" ] || fail "-f - (stdin) gives other text: $got"

# Without MODEL, $SLM_MODEL is used.
got=$(SLM_MODEL="$M" "$SLM" run -p "Once upon a time" -n 120 --temp 0 -t 1 2>/dev/null)
[ "$got" = "$want" ] || fail "run with \$SLM_MODEL gives other text: $got"

# JSON: parseable, with the reference's prompt and generated ids.
"$SLM" run "$M" -p "Once upon a time" -n 120 --temp 0 -t 1 --json >"$W/out.json" 2>/dev/null || fail "--json run failed"
python3 - "$W/out.json" "$D/stories260K-F32.tokens.txt" "$D/stories260K-F32.greedy.txt" <<'PY' || fail "--json output wrong"
import json, sys
o = json.load(open(sys.argv[1]))
prompt = [int(x) for x in open(sys.argv[2]).read().split()]
greedy = [int(x) for x in open(sys.argv[3]).read().split()]
assert o["prompt_tokens"] == prompt, o["prompt_tokens"]
assert o["tokens"] == greedy, (o["tokens"], greedy)
assert o["stop"] == "length", o["stop"]
assert o["text"].startswith(", there was a little girl named Lily."), o["text"][:60]
for k in ("load_ms", "prompt_tokens_per_s", "generated_tokens_per_s", "time_to_first_token_ms", "peak_rss_mib"):
    assert o["timings"][k] >= 0, k
PY

# Sampling with a seed is reproducible.
a=$("$SLM" run "$M" -p "Once upon a time" -n 40 --temp 0.9 --seed 5 -t 1 2>/dev/null)
b=$("$SLM" run "$M" -p "Once upon a time" -n 40 --temp 0.9 --seed 5 -t 1 2>/dev/null)
[ "$a" = "$b" ] || fail "same seed, different text"
[ -n "$a" ] || fail "sampled run printed nothing"

# Tokenization: the reference ids; the default listing shows escaped pieces.
got=$("$SLM" tokenize "$M" --text "Once upon a time" --ids 2>&1)
[ "$got" = "$(cat "$D/stories260K-F32.tokens.txt")" ] || fail "tokenize --ids: '$got'"
got=$("$SLM" tokenize "$M" --text "Once upon a time" --no-bos --ids 2>&1)
[ "$got" = "403 407 261 378" ] || fail "tokenize --no-bos --ids: '$got'"
got=$("$SLM" tokenize "$M" --file "$W/prompt.txt" 2>&1)
first=$(printf '%s\n' "$got" | head -1)
[ "$first" = "$(printf "1\t'<s>'")" ] || fail "tokenize listing starts with '$first'"
[ "$(printf '%s\n' "$got" | wc -l)" -eq 5 ] || fail "tokenize listing: $got"

# A vocabulary-only GGUF tokenizes (example from testdata/README.md).
V="$TD/tokenizer/ggml-vocab-llama-spm.gguf"
if [ -f "$V" ]; then
    got=$("$SLM" tokenize "$V" --text "ied 4 ½ months" --no-bos --ids 2>&1)
    [ "$got" = "474 287 29871 29946 29871 30226 7378" ] || fail "tokenize on vocab-only llama-spm: '$got'"
    got=$("$SLM" info "$V" --vocab-only 2>&1) || fail "info --vocab-only failed: $got"
    case "$got" in *32000*) ;; *) fail "info --vocab-only lacks the vocabulary size: $got" ;; esac
fi

# Logits of the prompt, against llama.cpp's, within 1e-4.
"$SLM" logits "$M" --tokens "$(cat "$D/stories260K-F32.tokens.txt")" --out "$W/logits.f32" -t 1 2>"$W/err" \
    || fail "logits failed: $(cat "$W/err")"
python3 - "$W/logits.f32" "$D/stories260K-F32.logits.f32" <<'PY' || fail "logits differ from the reference"
import struct, sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
assert len(a) == len(b) == 5 * 512 * 4, (len(a), len(b))
x = struct.unpack("<%df" % (len(a) // 4), a); y = struct.unpack("<%df" % (len(b) // 4), b)
worst = max(abs(p - q) for p, q in zip(x, y))
print("logits max abs diff %.3g" % worst)
assert worst < 1e-4, worst
PY

# info: text and JSON.
got=$("$SLM" info "$M" 2>&1) || fail "info failed: $got"
case "$got" in *llama*) ;; *) fail "info lacks the architecture: $got" ;; esac
"$SLM" info "$M" --json > "$W/info.json" 2>&1 || fail "info --json failed"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$W/info.json" || fail "info --json is not JSON: $(cat "$W/info.json")"

# Truncated and empty files: exit 1 with a message, never a crash.
size=$(wc -c < "$M")
for n in 0 3 24 200 4096 $((size / 2)) $((size - 1)); do
    head -c "$n" "$M" > "$W/trunc.gguf"
    for cmd in "run $W/trunc.gguf -p hi -n 2 -t 1" "info $W/trunc.gguf" "tokenize $W/trunc.gguf --text hi" \
               "run $W/trunc.gguf -p hi --no-mmap"; do
        out=$($SLM $cmd 2>&1); rc=$?
        [ "$rc" -eq 1 ] || fail "'slm $cmd' on $n bytes exited $rc: $out"
        case "$out" in *Sanitizer*|*"runtime error"*) fail "'slm $cmd' on $n bytes: $out" ;; esac
        case "$out" in *trunc.gguf*) ;; *) fail "'slm $cmd' on $n bytes: message lacks the file name: $out" ;; esac
    done
done

[ "$fails" -eq 0 ] && echo "cli_stories: all passed" || echo "cli_stories: $fails failed"
[ "$fails" -eq 0 ]

#!/usr/bin/env bash
# cli_usage.sh — the slm tool's arguments: every subcommand's --help exits 0
# and lists its flags; unknown flags, missing values and bad numbers exit 2
# with a message naming the problem. Needs no model.
# Args: $1 slm binary, $2 testdata dir (unused), $3 scratch dir.
set -u
SLM=$1
SCRATCH=${3:-/tmp}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect CODE "needle in stdout+stderr" CMD...
expect() {
    local code=$1 needle=$2; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, expected $code: $out"
    case "$out" in *"$needle"*) ;; *) fail "'$*' output lacks '$needle': $out" ;; esac
}

expect 0 "usage: slm COMMAND" "$SLM" --help
for c in run info tokenize logits gen-model bench; do
    expect 0 "$c" "$SLM" --help          # listed in the global help
done
expect 0 "slm 0.1.0" "$SLM" --version
expect 2 "unknown command 'frobnicate'" "$SLM" frobnicate
expect 2 "usage" "$SLM"

# Each subcommand's help mentions its flags.
for f in -p -f -n -t -c --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --frequency-penalty \
         --presence-penalty --seed --no-mmap --mlock --kv-type --ignore-eos --no-display-prompt --json; do
    expect 0 "$f" "$SLM" run --help
done
for f in --ctx --json --vocab-only; do expect 0 "$f" "$SLM" info --help; done
for f in --text --file --ids --no-bos --parse-special; do expect 0 "$f" "$SLM" tokenize --help; done
for f in --tokens --out --threads --kv-type; do expect 0 "$f" "$SLM" logits --help; done
for f in --shape --arch --dims --type --seed -o SmolLM2-135M Qwen2.5-0.5B Llama-3.2-1B Gemma-2-2B Phi-3-mini tiny Q4_K_M; do
    expect 0 "$f" "$SLM" gen-model --help
done
expect 0 "usage: slm run" "$SLM" help run

# Bad flags and values: exit 2, message names the flag or value.
expect 2 "unknown option '--bogus'" "$SLM" run m.gguf -p hi --bogus
expect 2 "option '-n' needs a value" "$SLM" run m.gguf -p hi -n
expect 2 "'abc' is not an integer" "$SLM" run m.gguf -p hi -n abc
expect 2 "'-n': -5 is out of range" "$SLM" run m.gguf -p hi -n -5
expect 2 "'--temp': 'hot' is not a number" "$SLM" run m.gguf -p hi --temp hot
expect 2 "'--top-p': 1.5 is out of range" "$SLM" run m.gguf -p hi --top-p 1.5
expect 2 "'--temp': -1 is out of range" "$SLM" run m.gguf -p hi --temp=-1
expect 2 "'q4' is not a KV cache type" "$SLM" run m.gguf -p hi --kv-type q4
expect 2 "is negative" "$SLM" run m.gguf -p hi --seed -3
expect 2 "not both" "$SLM" run m.gguf -p hi -f prompt.txt
expect 2 "unexpected argument 'extra'" "$SLM" run m.gguf extra -p hi
expect 2 "missing MODEL" "$SLM" info
expect 2 "unknown option '--xml'" "$SLM" info m.gguf --xml
expect 2 "exactly one of --text and --file" "$SLM" tokenize m.gguf
expect 2 "exactly one of --text and --file" "$SLM" tokenize m.gguf --text a --file b
expect 2 "missing --tokens" "$SLM" logits m.gguf --out x.f32
expect 2 "missing --out" "$SLM" logits m.gguf --tokens "1 2"
expect 2 "'x' is not a token id" "$SLM" logits m.gguf --tokens "1 x" --out o.f32
expect 2 "missing -o" "$SLM" gen-model --shape tiny
expect 2 "give --shape NAME" "$SLM" gen-model -o "$SCRATCH/x.gguf"
expect 2 "not both" "$SLM" gen-model --shape tiny --arch llama --dims 1,2,3,4,5,6 -o "$SCRATCH/x.gguf"
expect 2 "expected six positive integers" "$SLM" gen-model --arch llama --dims 64,2,4 -o "$SCRATCH/x.gguf"
expect 2 "shape 'GPT-9' unknown" "$SLM" gen-model --shape GPT-9 -o "$SCRATCH/x.gguf"
expect 2 "type 'Q7_K' unknown" "$SLM" gen-model --shape tiny --type Q7_K -o "$SCRATCH/x.gguf"

# Runtime failures exit 1 and name the file.
expect 1 "$SCRATCH/does-not-exist.gguf" "$SLM" info "$SCRATCH/does-not-exist.gguf"
expect 1 "$SCRATCH/does-not-exist.gguf" "$SLM" run "$SCRATCH/does-not-exist.gguf" -p hi
# No model and no default: a clear message asking for a model path.
if [ ! -e "$(dirname "$0")/../models/default.gguf" ]; then
    expect 2 "Pass a model path" env SLM_MODEL="$SCRATCH/nope.gguf" "$SLM" run -p hi
fi

[ "$fails" -eq 0 ] && echo "cli_usage: all passed" || echo "cli_usage: $fails failed"
[ "$fails" -eq 0 ]

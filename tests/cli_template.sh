#!/usr/bin/env bash
# cli_template.sh — `slm template render`: renders one reference case of
# ../shared/testdata/chat byte for byte, reads the context from stdin, exits
# 1 with the message on stderr for raise_exception and syntax errors, and 2
# for usage errors. Args: $1 slm binary, $2 testdata dir, $3 scratch dir.
set -u
SLM=$1
DATA=${2:-}
SCRATCH=${3:-/tmp}
if ! "$SLM" template --help >/dev/null 2>&1; then
    echo "SKIP: 'slm template' is not wired into this slm binary"
    exit 77
fi
W="$SCRATCH/cli_template.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# A template written here, expected output worked out by hand from Jinja's rules.
printf '%s\n' \
    '{%- for m in messages %}' \
    '    <{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>' \
    '{% endfor %}' \
    '{%- if add_generation_prompt %}<assistant>{% endif %}' > "$W/t.jinja"
printf '%s' '{"messages": [{"role": "user", "content": " hi "}], "add_generation_prompt": true}' > "$W/ctx.json"
"$SLM" template render "$W/t.jinja" --context "$W/ctx.json" > "$W/out" 2>"$W/err" || fail "render failed: $(cat "$W/err")"
# (lstrip_blocks strips before {% %} tags only, so the indent before {{ stays)
printf '    <user>hi</user>\n<assistant>' > "$W/want"
cmp -s "$W/out" "$W/want" || fail "got '$(cat "$W/out")'"
"$SLM" template render "$W/t.jinja" --context - < "$W/ctx.json" > "$W/out2" 2>/dev/null || fail "context from stdin failed"
cmp -s "$W/out2" "$W/want" || fail "stdin context gave '$(cat "$W/out2")'"

# A real template and its reference rendering, when ../shared is present.
C="$DATA/chat"
if [ -d "$C" ]; then
    python3 - "$C" "$W/case.json" <<'PY' || fail "cannot build the context from cases.json"
import json, sys
d = json.load(open(sys.argv[1] + "/cases.json"))
c = next(c for c in d["cases"] if c["id"] == "Qwen3.5-4B.tool_call.gen")
ctx = {"messages": d["conversations"][c["conversation"]]["messages"]}
ctx.update(c["variables"])
json.dump(ctx, open(sys.argv[2], "w"))
PY
    "$SLM" template render "$C/templates/Qwen3.5-4B.jinja" --context "$W/case.json" > "$W/q" 2>"$W/err" ||
        fail "Qwen3.5 render failed: $(cat "$W/err")"
    cmp -s "$W/q" "$C/expected/Qwen3.5-4B.tool_call.gen.txt" || fail "Qwen3.5 tool_call.gen differs from the reference"
fi

# The template stored in a GGUF (--model), and a model without one (exit 1).
Q="$DATA/tokenizer/ggml-vocab-qwen2.gguf"
if [ -f "$Q" ]; then
    printf '%s' '{"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": true}' > "$W/q.json"
    "$SLM" template render --model "$Q" --context "$W/q.json" > "$W/qm" 2>"$W/err" || fail "--model failed: $(cat "$W/err")"
    # Qwen2's ChatML with its default system prompt (Jinja2 renders the same)
    printf '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' > "$W/qw"
    cmp -s "$W/qm" "$W/qw" || fail "--model rendering: '$(cat "$W/qm")'"
    "$SLM" template render --model "$DATA/models/tiny-gemma2-F32.gguf" > /dev/null 2>"$W/err"
    [ $? -eq 1 ] || fail "a model without a chat template should exit 1"
    grep -q "no tokenizer.chat_template" "$W/err" || fail "message: $(cat "$W/err")"
fi

# Errors: raise_exception and syntax errors exit 1 with the message; usage errors exit 2.
printf '{%% if x %%}{{ raise_exception("no system role") }}{%% endif %%}' > "$W/r.jinja"
"$SLM" template render "$W/r.jinja" --context - <<< '{"x": true}' > "$W/out" 2>"$W/err"
rc=$?
[ $rc -eq 1 ] || fail "raise_exception: exit $rc, expected 1"
grep -q "no system role" "$W/err" || fail "raise_exception message missing: $(cat "$W/err")"
[ -s "$W/out" ] && fail "raise_exception wrote to stdout"
printf 'a\n{%% for x in y %%}\n{{ x }' > "$W/s.jinja"
"$SLM" template render "$W/s.jinja" > /dev/null 2>"$W/err"
rc=$?
[ $rc -eq 1 ] || fail "syntax error: exit $rc, expected 1"
grep -q "line 3" "$W/err" || fail "syntax error does not name line 3: $(cat "$W/err")"
"$SLM" template render "$W/t.jinja" --context "$W/missing.json" > /dev/null 2>&1
[ $? -eq 1 ] || fail "missing context file should exit 1"
"$SLM" template render > /dev/null 2>&1
[ $? -eq 2 ] || fail "missing TEMPLATE should exit 2"
"$SLM" template render "$W/t.jinja" --nope > /dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option should exit 2"
"$SLM" template frobnicate > /dev/null 2>&1
[ $? -eq 2 ] || fail "unknown subcommand should exit 2"

[ $fails -eq 0 ] && echo "cli_template: all checks passed"
exit $((fails > 0))

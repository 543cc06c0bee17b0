#!/usr/bin/env bash
# cli_grammar.sh — constrained decoding end to end: a random-weight model
# (it emits near-uniformly random tokens, so only the grammar makes the output
# parse) generates under --json-schema for a set of schemas and under
# --grammar for GBNF files; every output is checked by an independent
# validator: Python's jsonschema (Debian python3-jsonschema, with its
# FormatChecker) for the schemas, Python's re and ast for the grammars.
# Exits 77 when python3-jsonschema is missing. Needs no testdata.
# Args: $1 slm binary, $2 testdata dir (unused), $3 scratch dir.
set -u
SLM=$1
SCRATCH=${3:-/tmp}
W="$SCRATCH/cli_grammar.$$"
if ! python3 -c 'import jsonschema' 2>/dev/null; then
    echo "SKIP: python3 with jsonschema not found (Debian: python3-jsonschema)"
    exit 77
fi
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# 4096 synthetic tokens: bytes, single characters and multi-character pieces.
"$SLM" gen-model --arch llama --dims 64,1,2,1,128,4096 --ctx 2048 --seed 7 -o "$W/m.gguf" 2>/dev/null ||
    { echo "FAIL: gen-model"; exit 1; }

n=0
schema() { n=$((n + 1)); printf '%s\n' "$1" > "$W/s$n.json"; }
schema '{"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":150},"email":{"type":"string","format":"email"},"tags":{"type":"array","items":{"enum":["a","b","c"]},"minItems":1,"maxItems":3}},"required":["name","age"]}'
schema '{"type":"object","properties":{"address":{"type":"object","properties":{"street":{"type":"string","maxLength":10},"zip":{"type":"string","minLength":5,"maxLength":5}},"required":["street","zip"]},"ok":{"type":"boolean"}},"required":["address","ok"]}'
schema '{"type":"array","items":{"type":"number"},"minItems":2,"maxItems":4}'
schema '{"type":"object","properties":{"color":{"enum":["red","green","blue",null,3]},"kind":{"const":"fixed"}},"required":["color","kind"]}'
schema '{"type":"object","properties":{"d":{"type":"string","format":"date"},"t":{"type":"string","format":"time"},"dt":{"type":"string","format":"date-time"},"id":{"type":"string","format":"uuid"}},"required":["d","t","dt","id"]}'
schema '{"definitions":{"pt":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer","minimum":-50,"exclusiveMaximum":50}},"required":["x","y"]}},"type":"object","properties":{"a":{"$ref":"#/definitions/pt"},"b":{"$ref":"#/definitions/pt"}},"required":["a","b"]}'
schema '{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer","minimum":1},"next":{"$ref":"#/$defs/node"}},"required":["v"]}},"$ref":"#/$defs/node"}'
schema '{"type":"object","properties":{"v":{"anyOf":[{"type":"integer"},{"type":"string","maxLength":4},{"type":"null"}]},"w":{"type":["boolean","null"]}},"required":["v","w"]}'
schema '{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"},"c":{"type":"null"}},"additionalProperties":false}'
schema '{"type":"array","prefixItems":[{"type":"integer"},{"type":"string","maxLength":3},{"type":"boolean"}],"items":false}'
schema '{"type":"object","properties":{"list":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string","minLength":1,"maxLength":3}},"required":["k"]},"maxItems":3},"n":{"oneOf":[{"type":"integer","minimum":0},{"const":"none"}]}},"required":["list","n"]}'

: > "$W/outputs.tsv"
for i in $(seq 1 $n); do
    for seed in 1 2 3; do
        out=$("$SLM" run "$W/m.gguf" -p "{" --json-schema "$W/s$i.json" -n 400 --seed $seed -t 1 --json --no-display-prompt 2>"$W/err")
        rc=$?
        [ $rc = 0 ] || { fail "schema $i seed $seed: exit $rc: $(cat "$W/err")"; continue; }
        printf '%s\t%s\t%s\n' "$i" "$seed" "$out" >> "$W/outputs.tsv"
    done
done
python3 - "$W" <<'PY' || fails=$((fails + 1))
import json, sys, jsonschema
w = sys.argv[1]
bad = 0
count = 0
for line in open(w + "/outputs.tsv"):
    i, seed, js = line.rstrip("\n").split("\t", 2)
    res = json.loads(js)
    schema = json.load(open(f"{w}/s{i}.json"))
    text = res["text"]
    count += 1
    if res["stop"] not in ("grammar", "eog"):
        print(f"FAIL: schema {i} seed {seed}: stopped by {res['stop']} before the grammar was complete: {text!r}")
        bad += 1
        continue
    try:
        doc = json.loads(text)
        # the schema's own draft (2020-12 by default) and its format checkers
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls(schema, format_checker=cls.FORMAT_CHECKER).validate(doc)
    except Exception as e:
        print(f"FAIL: schema {i} seed {seed}: {type(e).__name__}: {str(e).splitlines()[0]}\n  output: {text!r}")
        bad += 1
print(f"{count - bad}/{count} schema outputs parse and validate")
sys.exit(1 if bad or count < 30 else 0)
PY

# GBNF files: arithmetic (checked with Python's ast) and a word list (regex).
cat > "$W/expr.gbnf" <<'G'
# arithmetic over small integers
root   ::= expr
expr   ::= term (ws [-+] ws term){0,4}
term   ::= factor (ws [*/] ws factor){0,2}
factor ::= [1-9] [0-9]{0,2} | "(" ws expr ws ")"
ws     ::= " "?
G
cat > "$W/words.gbnf" <<'G'
root ::= word ("," " "? word){0,5} "."
word ::= [a-z]{1,8}
G
for seed in 1 2 3 4 5; do
    for g in expr words; do
        out=$("$SLM" run "$W/m.gguf" -p "x" --grammar "$W/$g.gbnf" -n 300 --seed $seed -t 1 --json --no-display-prompt 2>"$W/err") ||
            { fail "--grammar $g seed $seed: $(cat "$W/err")"; continue; }
        printf '%s\n' "$out" > "$W/$g.$seed.json"
    done
done
python3 - "$W" <<'PY' || fails=$((fails + 1))
import ast, json, re, sys
w = sys.argv[1]
bad = 0
def arith_ok(t):
    if not re.fullmatch(r"[0-9+\-*/() ]+", t):
        return False
    tree = ast.parse(t, mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div)
    return all(isinstance(n, allowed) for n in ast.walk(tree))
for seed in range(1, 6):
    for g in ("expr", "words"):
        res = json.load(open(f"{w}/{g}.{seed}.json"))
        t = res["text"]
        ok = res["stop"] in ("grammar", "eog")
        try:
            ok = ok and (arith_ok(t) if g == "expr" else re.fullmatch(r"[a-z]{1,8}(, ?[a-z]{1,8}){0,5}\.", t) is not None)
        except SyntaxError:
            ok = False
        if not ok:
            print(f"FAIL: --grammar {g} seed {seed}: stop {res['stop']}, output {t!r}")
            bad += 1
print(f"{10 - bad}/10 GBNF outputs check")
sys.exit(1 if bad else 0)
PY

# Refusals and the grammar subcommand.
printf '{"type":"string","pattern":"^a+$"}' > "$W/pat.json"
"$SLM" run "$W/m.gguf" -p x --json-schema "$W/pat.json" -n 5 >/dev/null 2>"$W/err"; rc=$?
[ $rc = 1 ] && grep -q "pattern" "$W/err" || fail "unsupported keyword: exit $rc, $(cat "$W/err")"
printf 'root ::= "a" (\n' > "$W/bad.gbnf"
"$SLM" run "$W/m.gguf" -p x --grammar "$W/bad.gbnf" -n 5 >/dev/null 2>"$W/err"; rc=$?
[ $rc = 2 ] && grep -q "grammar:1:" "$W/err" || fail "malformed grammar: exit $rc, $(cat "$W/err")"
"$SLM" run "$W/m.gguf" -p x --grammar "$W/expr.gbnf" --json-schema "$W/s1.json" >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "--grammar with --json-schema: exit $rc, expected 2"
"$SLM" grammar from-schema "$W/s1.json" > "$W/s1.gbnf" 2>"$W/err" || fail "from-schema: $(cat "$W/err")"
grep -q "^root ::= " "$W/s1.gbnf" || fail "from-schema output has no root rule"
printf '{"name":"ab","age":3}' > "$W/ok.txt"
printf '{"name":"ab"}' > "$W/no.txt"
out=$("$SLM" grammar check "$W/s1.gbnf" --text "$W/ok.txt" 2>&1) || fail "check of a valid document: $out"
"$SLM" grammar check "$W/s1.gbnf" --text "$W/no.txt" >/dev/null 2>&1 && fail "check accepted a document without the required age"
"$SLM" grammar check "$W/bad.gbnf" >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "check of a malformed grammar: exit $rc, expected 2"
out=$("$SLM" grammar --help 2>&1) && case "$out" in *from-schema*check*--text*) ;; *) false ;; esac ||
    fail "grammar --help: $out"
out=$("$SLM" run --help 2>&1) && case "$out" in *--grammar*--json-schema*) ;; *) false ;; esac ||
    fail "run --help lacks --grammar/--json-schema"
"$SLM" run "$W/m.gguf" -p x --grammar >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "--grammar without a value: exit $rc, expected 2"
"$SLM" grammar bogus >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "unknown subcommand: exit $rc, expected 2"

[ $fails = 0 ] && echo "cli_grammar: all checks passed" || echo "cli_grammar: $fails failure(s)"
exit $((fails > 0))

#!/usr/bin/env bash
# cli_chat.sh — `slm chat` driven by a piped script (stdin not a terminal) on
# a random-weight tiny model: the KV cache is reused across turns (the second
# turn decodes only what the cache lacks: /stats --json counters), /save +
# /reset + /load round-trips the conversation (and the reloaded conversation
# reuses the whole cache), '\' and """ multi-line input, the oldest turns
# are dropped when the context fills, --messages (text and --json
# chat.completion), --tools reaches the template, a tool call forced by a
# grammar is parsed (--json tool_calls, the REPL's line, /tool, /save),
# --stop and the template's end-of-turn text cut the reply,
# usage errors exit 2 and
# missing files exit 1 with a message. With ../shared present the Qwen2.5
# template from the chat test data is used, else the built-in chatml.
# Args: $1 slm binary, $2 testdata dir, $3 scratch dir.
set -u
SLM=$1
DATA=${2:-}
SCRATCH=${3:-/tmp}
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to read the JSON output"; exit 77; }
W="$SCRATCH/cli_chat.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$SLM" gen-model --shape tiny -o "$W/tiny.gguf" >/dev/null 2>&1 || { echo "FAIL: gen-model"; exit 1; }
TMPL=chatml
Q="$DATA/chat/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
[ -f "$Q" ] && TMPL=$Q
echo "template: $TMPL"
CHAT=("$SLM" chat "$W/tiny.gguf" --chat-template "$TMPL" --temp 0 -t 1)

# ---- a scripted session -------------------------------------------------
cat > "$W/script" <<EOF
Hello there
/stats
Second question
/stats
/save $W/conv.json
/reset
/stats
/load $W/conv.json
/stats
Third turn after load
/stats
first line\\
second line
"""
block one
block two
"""
/system Be terse.
/save $W/conv2.json
/bogus
/quit
never read
EOF
"${CHAT[@]}" -c 2048 -n 6 --json < "$W/script" > "$W/out" 2> "$W/err"
[ $? -eq 0 ] || fail "scripted session exited non-zero: $(cat "$W/err")"
grep -q "unknown command '/bogus'" "$W/err" || fail "/bogus was not reported"
python3 - "$W" <<'PY' || fail "scripted session checks (above)"
import json, sys
w = sys.argv[1]
stats = []
for line in open(w + "/out", "rb").read().split(b"\n"):
    if line.startswith(b'{"turns":'):
        stats.append(json.loads(line))
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("  " + msg); ok = False
check(len(stats) == 5, "expected 5 /stats lines, got %d" % len(stats))
if len(stats) == 5:
    s1, s2, s3, s4, s5 = [s["last_turn"] for s in stats]
    check(stats[0]["turns"] == 1 and s1["reused_tokens"] == 0 and s1["decoded_tokens"] == s1["prompt_tokens"],
          "turn 1 must decode its whole prompt: %s" % s1)
    # turn 2: the whole first prompt (and most of the reply) comes from the cache
    check(s2["reused_tokens"] >= s1["prompt_tokens"],
          "turn 2 reused %d < turn 1's prompt %d" % (s2["reused_tokens"], s1["prompt_tokens"]))
    check(s2["decoded_tokens"] == s2["prompt_tokens"] - s2["reused_tokens"], "turn 2 decoded != prompt - reused")
    check(s2["decoded_tokens"] < s2["prompt_tokens"] - s1["prompt_tokens"] + 8,
          "turn 2 decoded %d: more than the new tokens" % s2["decoded_tokens"])
    check(stats[1]["total_decoded_tokens"] == s1["decoded_tokens"] + s2["decoded_tokens"], "total_decoded")
    check(stats[2]["messages"] == 0, "/reset left %d messages" % stats[2]["messages"])
    check(stats[3]["messages"] == 4, "/load gave %d messages" % stats[3]["messages"])
    # the reloaded conversation renders to the tokens still in the cache
    check(s5["reused_tokens"] >= s2["prompt_tokens"],
          "turn after /load reused %d < turn 2's prompt %d" % (s5["reused_tokens"], s2["prompt_tokens"]))
    check(stats[4]["turns"] == 3, "turns %d" % stats[4]["turns"])
conv = json.load(open(w + "/conv.json"))
check([m["role"] for m in conv] == ["user", "assistant", "user", "assistant"], "saved roles %s" % conv)
check(conv[0]["content"] == "Hello there" and conv[2]["content"] == "Second question", "saved user contents")
conv2 = json.load(open(w + "/conv2.json"))
check(conv2[0] == {"role": "system", "content": "Be terse."}, "/system: %s" % conv2[0])
users = [m["content"] for m in conv2 if m["role"] == "user"]
check("first line\nsecond line" in users, "backslash continuation: %s" % users)
check("block one\nblock two" in users, '""" block: %s' % users)
check(not any("never read" in u for u in users), "input after /quit was read")
sys.exit(0 if ok else 1)
PY

# ---- a full context drops the oldest turns, keeps the system prompt -------
printf 'one two three four\nfive six seven eight\nnine ten eleven twelve\nthirteen fourteen\n/save %s\n' \
    "$W/conv3.json" > "$W/script2"
"${CHAT[@]}" -c 256 -n 8 --system "S." < "$W/script2" > "$W/out2" 2> "$W/err2"
[ $? -eq 0 ] || fail "small-context session exited non-zero: $(cat "$W/err2")"
grep -q "dropped the oldest turn" "$W/err2" || fail "no turn was dropped in a 256-token context"
python3 - "$W/conv3.json" <<'PY' || fail "after dropping: the system prompt and the last turn must remain"
import json, sys
c = json.load(open(sys.argv[1]))
ok = c[0] == {"role": "system", "content": "S."} and c[-2]["content"] == "thirteen fourteen" and len(c) < 9
if not ok: print("  ", c)
sys.exit(0 if ok else 1)
PY

# ---- --messages -------------------------------------------------------------
cat > "$W/msgs.json" <<'EOF'
[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the weather in Paris?"}]
EOF
"${CHAT[@]}" -c 1024 -n 4 --messages "$W/msgs.json" > "$W/m.txt" 2> "$W/m.err" || fail "--messages: $(cat "$W/m.err")"
[ -s "$W/m.txt" ] || fail "--messages printed nothing"
"${CHAT[@]}" -c 1024 -n 4 --messages "$W/msgs.json" --json > "$W/m.json" 2> "$W/m.err" ||
    fail "--messages --json: $(cat "$W/m.err")"
cat > "$W/tools.json" <<'EOF'
[{"type": "function", "function": {"name": "get_weather", "description": "Get the weather.",
  "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]
EOF
"${CHAT[@]}" -c 1024 -n 4 --messages "$W/msgs.json" --tools "$W/tools.json" --json > "$W/t.json" 2> "$W/t.err" ||
    fail "--tools: $(cat "$W/t.err")"
python3 - "$W" "$TMPL" <<'PY' || fail "--messages --json checks (above)"
import json, sys
w, tmpl = sys.argv[1], sys.argv[2]
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("  " + msg); ok = False
m = json.load(open(w + "/m.json"))
check(m["object"] == "chat.completion", "object")
ch = m["choices"][0]
check(ch["message"]["role"] == "assistant" and isinstance(ch["message"]["content"], str), "message")
check(ch["finish_reason"] in ("length", "stop"), "finish_reason %s" % ch["finish_reason"])
u = m["usage"]
check(0 < u["completion_tokens"] <= 4 and u["prompt_tokens"] > 10, "usage %s" % u)
check(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], "total_tokens")
check(m["timings"]["prompt_n"] == u["prompt_tokens"], "timings.prompt_n")
t = json.load(open(w + "/t.json"))
if tmpl != "chatml":
    # the Qwen template lists the tools in the system prompt
    check(t["usage"]["prompt_tokens"] > u["prompt_tokens"] + 50,
          "tools did not reach the template: %d vs %d" % (t["usage"]["prompt_tokens"], u["prompt_tokens"]))
sys.exit(0 if ok else 1)
PY
if [ "$TMPL" != chatml ]; then
    grep -q "parsed as 'hermes'" "$W/t.err" || fail "--tools with the Qwen2.5 template is not parsed as hermes"
fi

# ---- a tool call forced by a grammar is parsed, shown, saved and answered --
cat > "$W/call.gbnf" <<'EOF'
root ::= "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"" city "\"}}\n</tool_call>"
city ::= "Paris" | "Rome"
EOF
printf '[{"role": "user", "content": "Weather in Paris?"}]' > "$W/ask.json"
TOOLARGS=(-c 1024 --tools "$W/tools.json" --tool-format hermes --grammar "$W/call.gbnf")
"${CHAT[@]}" "${TOOLARGS[@]}" --messages "$W/ask.json" --json > "$W/call.json" 2> "$W/call.err" ||
    fail "grammar-forced tool call: $(cat "$W/call.err")"
printf 'Weather?\n/tool {"temperature_c": 22}\n/save %s\n' "$W/conv4.json" > "$W/script3"
"${CHAT[@]}" "${TOOLARGS[@]}" -n 80 < "$W/script3" > "$W/call.out" 2> "$W/call.err" ||
    fail "tool REPL: $(cat "$W/call.err")"
grep -q '^\[tool call call_0\] get_weather({"location": "\(Paris\|Rome\)"})$' "$W/call.out" ||
    fail "the REPL did not show the parsed call: $(cat "$W/call.out")"
python3 - "$W" <<'PY' || fail "tool-call checks (above)"
import json, sys
w = sys.argv[1]
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("  " + msg); ok = False
ch = json.load(open(w + "/call.json"))["choices"][0]
check(ch["finish_reason"] == "tool_calls", "finish_reason %s" % ch["finish_reason"])
tc = ch["message"].get("tool_calls", [])
check(len(tc) == 1 and tc[0]["type"] == "function" and tc[0]["function"]["name"] == "get_weather", "tool_calls %s" % tc)
if tc:
    check(json.loads(tc[0]["function"]["arguments"]) in ({"location": "Paris"}, {"location": "Rome"}),
          "arguments %s" % tc[0]["function"]["arguments"])
check(ch["message"]["content"] == "", "content %r" % ch["message"]["content"])
c = json.load(open(w + "/conv4.json"))
check([m["role"] for m in c] == ["user", "assistant", "tool", "assistant"], "roles %s" % [m["role"] for m in c])
if len(c) == 4:
    check(c[1]["tool_calls"][0]["function"]["name"] == "get_weather", "saved call %s" % c[1])
    check(c[2]["tool_call_id"] == "call_0" and c[2]["name"] == "get_weather", "tool message %s" % c[2])
sys.exit(0 if ok else 1)
PY

# --tool-choice required: a grammar from the tools' schemas makes even the
# random model's reply one valid call (the Qwen template, or hermes by flag)
# (an enum, so that the random model's string is bounded)
cat > "$W/tools_enum.json" <<'EOF'
[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
  "properties": {"location": {"enum": ["Paris", "Rome"]}, "days": {"type": "boolean"}}, "required": ["location"]}}},
 {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
EOF
"${CHAT[@]}" -c 1024 --tools "$W/tools_enum.json" --tool-format hermes --tool-choice required --temp 1 --seed 7 \
    --messages "$W/ask.json" --json > "$W/req.json" 2> "$W/req.err" || fail "--tool-choice required: $(cat "$W/req.err")"
python3 - "$W/req.json" <<'PY' || fail "--tool-choice required did not give one valid call"
import json, sys
ch = json.load(open(sys.argv[1]))["choices"][0]
tc = ch["message"].get("tool_calls", [])
ok = ch["finish_reason"] == "tool_calls" and len(tc) == 1
if ok:
    a = json.loads(tc[0]["function"]["arguments"])
    if tc[0]["function"]["name"] == "get_weather":
        ok = a.get("location") in ("Paris", "Rome") and set(a) <= {"location", "days"}
    else:
        ok = tc[0]["function"]["name"] == "get_time" and a == {}
if not ok: print("  ", ch)
sys.exit(0 if ok else 1)
PY

# ---- stop strings: --stop, and the template's own end-of-turn text ---------
# (a grammar makes the random model write a known text; the stream must not
# show any part of the stop string)
printf 'root ::= "hello STOP world"\n' > "$W/stop.gbnf"
printf 'root ::= "hi<|im_end|>more"\n' > "$W/eot.gbnf"
"$SLM" chat "$W/tiny.gguf" --chat-template chatml --temp 0 -t 1 --grammar "$W/stop.gbnf" --stop STOP \
    --messages "$W/ask.json" > "$W/stop.out" 2>/dev/null || fail "--stop run failed"
[ "$(cat "$W/stop.out")" = "hello " ] || fail "--stop: got '$(cat "$W/stop.out")', want 'hello '"
"$SLM" chat "$W/tiny.gguf" --chat-template chatml --temp 0 -t 1 --grammar "$W/eot.gbnf" --json \
    --messages "$W/ask.json" > "$W/eot.json" 2>/dev/null || fail "end-of-turn run failed"
python3 - "$W/eot.json" <<'PY' || fail "chatml's <|im_end|> did not end the reply"
import json, sys
ch = json.load(open(sys.argv[1]))["choices"][0]
ok = ch["message"]["content"] == "hi" and ch["finish_reason"] == "stop"
if not ok: print("  ", ch)
sys.exit(0 if ok else 1)
PY

# ---- usage errors exit 2, missing files exit 1 with a message --------------
"$SLM" chat --help > "$W/help" || fail "--help"
grep -q -- "--messages" "$W/help" || fail "--help does not document --messages"
for bad in "--bogus" "--temp x" "--top-p 2" "--chat-template no-such-builtin" "--tool-format nope" "--stop=" \
    "--grammar a --json-schema b" "--tool-choice maybe" "--tool-choice required"; do
    "$SLM" chat "$W/tiny.gguf" $bad < /dev/null > /dev/null 2> "$W/e"
    rc=$?
    [ $rc -eq 2 ] || fail "'$bad' exited $rc, want 2"
done
check_missing() { # args...; the message must name the missing file
    "$SLM" chat "$@" < /dev/null > /dev/null 2> "$W/e"
    rc=$?
    [ $rc -eq 1 ] || fail "'$*' exited $rc, want 1"
    grep -q "missing\.\(gguf\|json\|jinja\)" "$W/e" || fail "'$*': message does not name the file: $(cat "$W/e")"
}
check_missing "$W/missing.gguf"
check_missing "$W/tiny.gguf" --messages "$W/missing.json"
check_missing "$W/tiny.gguf" --tools "$W/missing.json"
check_missing "$W/tiny.gguf" --chat-template "$W/missing.jinja"
check_missing "$W/tiny.gguf" --grammar "$W/missing.json"

[ $fails -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed ($fails problems)"
[ $fails -eq 0 ]

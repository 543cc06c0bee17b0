#!/usr/bin/env bash
# cli_edge.sh — slm run's footprint flags for small devices (issue 9):
# --max-memory refuses, before loading, a model whose weights + KV cache +
# scratch exceed the budget (exit 1, naming both numbers) and runs one that
# fits; --no-mmap and --mlock give the same greedy text as the mapped file;
# --mlock fails cleanly when RLIMIT_MEMLOCK forbids it (checked as an
# unprivileged user when we can become one).
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
W="$SCRATCH/cli_edge.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
P="Once upon a time"
run() { "$SLM" run "$M" -p "$P" -n 24 --temp 0 -t 1 -c 256 --no-display-prompt "$@"; }

base=$(run 2>"$W/err"); rc=$?
[ "$rc" -eq 0 ] && [ -n "$base" ] || fail "plain run exited $rc: $(cat "$W/err")"

# The need, independently: the file plus an F16 KV cache of
# 2 (K, V) x n_layer x n_ctx x n_head_kv x head_dim x 2 bytes, from the
# hyperparameters slm info prints (scratch comes on top).
fsize=$(stat -c %s "$M")
info=$("$SLM" info "$M" --json 2>/dev/null)
hp() { printf '%s' "$info" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
nl=$(hp n_layer); ne=$(hp n_embd); nh=$(hp n_head); nkv=$(hp n_head_kv)
if [ -n "$nl" ] && [ -n "$ne" ] && [ -n "$nh" ] && [ -n "$nkv" ]; then
    kv=$((2 * nl * 256 * nkv * (ne / nh) * 2))
else
    fail "slm info --json lacks n_layer/n_embd/n_head/n_head_kv: $info"
    kv=0
fi
floor=$((fsize + kv))

# A budget just below the file alone: refused before loading, exit 1, the
# message names the budget and a need of at least file + KV.
budget=$((fsize - 1))
out=$(run --max-memory "$budget" 2>"$W/err"); rc=$?
err=$(cat "$W/err")
[ "$rc" -eq 1 ] || fail "--max-memory $budget: exit $rc, want 1 ($err)"
[ -z "$out" ] || fail "--max-memory $budget generated text: $out"
printf '%s' "$err" | grep -q -- "--max-memory is $budget bytes" || fail "message lacks the budget $budget: $err"
need=$(printf '%s' "$err" | sed -n 's/.* needs \([0-9]*\) bytes.*/\1/p')
[ -n "$need" ] && [ "$need" -ge "$floor" ] || fail "need '$need' is below file + KV = $floor: $err"

# One byte short of the reported need is refused; exactly the need runs
# with the same text as without a budget.
if [ -n "$need" ]; then
    run --max-memory $((need - 1)) >/dev/null 2>"$W/err"; rc=$?
    [ "$rc" -eq 1 ] || fail "--max-memory need-1: exit $rc, want 1"
    got=$(run --max-memory "$need" 2>"$W/err"); rc=$?
    [ "$rc" -eq 0 ] && [ "$got" = "$base" ] || fail "--max-memory $need: exit $rc, text '$got' vs '$base': $(cat "$W/err")"
fi
# Suffixes; a larger -c needs more (the KV cache grows) and is refused.
got=$(run --max-memory 1G 2>"$W/err"); rc=$?
[ "$rc" -eq 0 ] && [ "$got" = "$base" ] || fail "--max-memory 1G: exit $rc: $(cat "$W/err")"
run --max-memory 1.5M >/dev/null 2>&1; rc=$?
[ "$rc" -eq 0 ] || fail "--max-memory 1.5M (above the need at -c 256) exited $rc"
"$SLM" run "$M" -p "$P" -n 4 --temp 0 -t 1 -c 100000 --max-memory 1.5M >/dev/null 2>"$W/err"; rc=$?
[ "$rc" -eq 1 ] && grep -q "n_ctx 100000" "$W/err" || fail "-c 100000 in 1.5M: exit $rc: $(cat "$W/err")"
for bad in 0 -5 12Q abc; do
    run --max-memory "$bad" >/dev/null 2>"$W/err"; rc=$?
    [ "$rc" -eq 2 ] || fail "--max-memory '$bad': exit $rc, want 2 (usage)"
done

# --no-mmap reads the file into memory: same text; so does --mlock.
got=$(run --no-mmap 2>"$W/err"); rc=$?
[ "$rc" -eq 0 ] && [ "$got" = "$base" ] || fail "--no-mmap: exit $rc, text '$got' vs '$base': $(cat "$W/err")"
got=$(run --no-mmap --max-memory 1G 2>"$W/err"); rc=$?
[ "$rc" -eq 0 ] && [ "$got" = "$base" ] || fail "--no-mmap --max-memory 1G: exit $rc"
if got=$(run --mlock 2>"$W/err"); then
    [ "$got" = "$base" ] || fail "--mlock: text '$got' vs '$base'"
else
    grep -q "RLIMIT_MEMLOCK" "$W/err" || fail "--mlock failed without naming RLIMIT_MEMLOCK: $(cat "$W/err")"
fi

# --mlock with RLIMIT_MEMLOCK 0 as an unprivileged user (root's CAP_IPC_LOCK
# ignores the limit): exit 1 and a message naming the limit. AddressSanitizer
# intercepts mlock as a no-op that succeeds, so a sanitized binary skips this.
if grep -qa __asan_init "$SLM"; then
    echo "note: --mlock refusal not checked: AddressSanitizer makes mlock a no-op"
elif [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    cp "$M" "$W/m.gguf" && chmod 755 "$W" && chmod 644 "$W/m.gguf"
    setpriv --reuid=65534 --regid=65534 --clear-groups bash -c \
        "ulimit -l 0; '$SLM' run '$W/m.gguf' -p '$P' -n 4 -t 1 --mlock" >/dev/null 2>"$W/err"; rc=$?
    if grep -q "Permission denied\|cannot execute\|No such file" "$W/err"; then
        echo "note: unprivileged --mlock check skipped: $(head -1 "$W/err")"
    else
        [ "$rc" -eq 1 ] || fail "--mlock under ulimit -l 0: exit $rc, want 1: $(cat "$W/err")"
        grep -q "RLIMIT_MEMLOCK is 0 bytes" "$W/err" || fail "--mlock message lacks the limit: $(cat "$W/err")"
    fi
elif [ "$(id -u)" != 0 ]; then
    (ulimit -l 0 && "$SLM" run "$M" -p "$P" -n 4 -t 1 --mlock) >/dev/null 2>"$W/err"; rc=$?
    [ "$rc" -eq 1 ] || fail "--mlock under ulimit -l 0: exit $rc, want 1"
    grep -q "RLIMIT_MEMLOCK is 0 bytes" "$W/err" || fail "--mlock message lacks the limit: $(cat "$W/err")"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli_edge: all checks passed"

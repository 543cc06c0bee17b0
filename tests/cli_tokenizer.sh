#!/usr/bin/env bash
# cli_tokenizer.sh — `slm tokenizer train`: trains on plain and gzip text,
# writes a GGUF that `slm tokenize` loads, is deterministic, honours
# --max-bytes and --type, and maps bad flags to exit 2 and bad files to 1.
# Skipped (77) while the subcommand is not in the command table.
# Args: $1 slm binary, $2 testdata dir (unused), $3 scratch dir.
set -u
SLM=$1
SCRATCH=${3:-/tmp}
if ! "$SLM" tokenizer --help >/dev/null 2>&1; then
    echo "SKIP: 'slm tokenizer' is not wired into this slm binary"
    exit 77
fi
W="$SCRATCH/cli_tokenizer.$$"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for i in 1 2 3 4 5 6 7 8; do
    echo "Once upon a time there was a little girl named Lily $i. She liked to play with her red ball in the park."
    echo "One day she saw a big dog. The dog was happy and wanted to play too. They played all day."
    echo "<|endoftext|>"
    echo "Tom had a small boat $i. He liked to sail the boat on the lake with his dad. \"Look, a duck!\" said Tom."
    echo "<|endoftext|>"
done > "$W/corpus.txt"
gzip -c "$W/corpus.txt" > "$W/corpus.txt.gz"

"$SLM" tokenizer train --vocab 400 --data "$W/corpus.txt" -o "$W/a.gguf" 2>"$W/err" || fail "train failed: $(cat "$W/err")"
grep -q "merges" "$W/err" || fail "no progress on stderr: $(cat "$W/err")"
grep -q "vocabulary of 400 tokens" "$W/err" || fail "summary: $(cat "$W/err")"
grep -q "16 documents" "$W/err" || fail "<|endoftext|> not a separator: $(cat "$W/err")"
"$SLM" tokenizer train --vocab 400 --data "$W/corpus.txt.gz" -o "$W/b.gguf" -q 2>/dev/null || fail "train on .gz failed"
cmp -s "$W/a.gguf" "$W/b.gguf" || fail "plain and gzip input gave different files (or training is not deterministic)"

ids=$("$SLM" tokenize "$W/a.gguf" --text "Once upon a time Lily saw a duck." --ids --no-bos 2>&1) || fail "tokenize failed: $ids"
n=$(echo "$ids" | wc -w)
[ "$n" -ge 2 ] && [ "$n" -le 16 ] || fail "expected at most 16 tokens (2+ bytes each) for 33 bytes, got $n: $ids"
out=$("$SLM" tokenize "$W/a.gguf" --text "東" --no-bos 2>&1) || fail "tokenize failed: $out"
case "$out" in *"<0xE6>"*|*'\xe6'*) ;; *) fail "unseen character not in byte tokens: $out" ;; esac

"$SLM" tokenizer train --type bpe --vocab 300 --data "$W/corpus.txt" -o "$W/c.gguf" -q 2>/dev/null || fail "bpe train failed"
"$SLM" tokenize "$W/c.gguf" --text "Once upon a time" --ids >/dev/null 2>&1 || fail "tokenize with the bpe vocabulary failed"
"$SLM" tokenizer train --vocab 300 --max-bytes 100 --data "$W/corpus.txt" -o "$W/d.gguf" 2>"$W/err" || fail "--max-bytes failed"
grep -q "from 100 bytes" "$W/err" || fail "--max-bytes 100: $(cat "$W/err")"

"$SLM" tokenizer train --vocab 300 -o "$W/e.gguf" 2>/dev/null; [ $? -eq 2 ] || fail "no --data: exit 2 expected"
"$SLM" tokenizer train --vocab 300 --data "$W/corpus.txt" 2>/dev/null; [ $? -eq 2 ] || fail "no -o: exit 2 expected"
"$SLM" tokenizer train --type wordpiece --data "$W/corpus.txt" -o "$W/e.gguf" 2>/dev/null; [ $? -eq 2 ] || fail "--type wordpiece: exit 2 expected"
"$SLM" tokenizer train --vocab 100 --data "$W/corpus.txt" -o "$W/e.gguf" 2>/dev/null; [ $? -eq 2 ] || fail "--vocab 100: exit 2 expected"
"$SLM" tokenizer train --data "$W/missing.txt" -o "$W/e.gguf" 2>"$W/err"; [ $? -eq 1 ] || fail "missing file: exit 1 expected"
grep -q "missing.txt" "$W/err" || fail "message does not name the file: $(cat "$W/err")"
[ -e "$W/e.gguf" ] && fail "a failed run left an output file"
"$SLM" tokenizer frobnicate 2>/dev/null; [ $? -eq 2 ] || fail "unknown action: exit 2 expected"

[ $fails -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $((fails > 0))

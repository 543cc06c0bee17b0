#!/usr/bin/env bash
# Fails if a file in src/ includes a header from a higher layer (STYLE.md):
# 0 base; 1 gguf quant sample; 2 kernels tok; 3 nn; 4 model; 5 gen chat grammar;
# 6 compress train eval dna. A folder may include itself and lower layers.
set -u
src="$1/src"
level() {
  case "$1" in
    base) echo 0 ;; gguf|quant|sample) echo 1 ;; kernels|tok) echo 2 ;; nn) echo 3 ;;
    model) echo 4 ;; gen|chat|grammar) echo 5 ;; compress|train|eval|dna) echo 6 ;; *) echo -1 ;;
  esac
}
bad=0
while IFS= read -r file; do
  rel=${file#"$src"/}
  dir=${rel%%/*}
  mine=$(level "$dir")
  while IFS= read -r inc; do
    idir=${inc%%/*}
    [ "$idir" = "$inc" ] && continue # same-folder or public header
    theirs=$(level "$idir")
    [ "$theirs" -lt 0 ] && continue
    if [ "$theirs" -gt "$mine" ]; then
      echo "layer violation: src/$rel (layer $mine) includes \"$inc\" (layer $theirs)"
      bad=1
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(find "$src" -name '*.[ch]')
# Levels 0-4 must not use PCRE2 except the pre-tokenizer.
if grep -rl 'pcre2\.h' "$src" | grep -v 'src/tok/pretok.c' | grep -q .; then
  echo "PCRE2 used outside src/tok/pretok.c:"; grep -rl 'pcre2\.h' "$src" | grep -v 'src/tok/pretok.c'
  bad=1
fi
[ "$bad" = 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $bad

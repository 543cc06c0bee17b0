#!/usr/bin/env bash
# cli_quant_llamacpp.sh — `slm quantize` against llama.cpp's own quantizer
# run live: llama_model_quantize from the npm libllama that bench/compare
# installs into $SLM_BENCH_CACHE (default ~/.cache/slm-bench), driven by
# bench/llamacpp_quantize.c (compiled here). For every mix slm writes, on
# tiny-llama (rows that take k-quants), without and with an importance
# matrix from `slm imatrix` given to both, the two files must be identical
# byte for byte. Skips (77) without the peer, gcc or the test data.
# Args: $1 slm binary, $2 testdata dir, $3 scratch dir.
set -u
SLM=$1
TD=$2
SCRATCH=${3:-/tmp}/cli_quant_llamacpp.$$
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SLM_BENCH_CACHE:-$HOME/.cache/slm-bench}"
LIBDIR="$CACHE/node-llama-cpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
SRC="$(ls -d "$CACHE"/llama.cpp-headers-* 2>/dev/null | head -1)"
M="$TD/models/tiny-llama-F32.gguf"
DATA="$TD/../data/text/tinystories/tinystories_sample_cs336.txt"
[ -f "$M" ] && [ -f "$DATA" ] || { echo "SKIP: $M or $DATA not found"; exit 77; }
LIBLLAMA="$(ls "$LIBDIR"/libllama*.so 2>/dev/null | grep -v common | head -1)"
LIBGGML="$(ls "$LIBDIR"/libggml.*so 2>/dev/null | head -1)"
[ -n "$LIBLLAMA" ] && [ -n "$LIBGGML" ] && [ -n "$SRC" ] && [ -f "$SRC/include/llama.h" ] ||
    { echo "SKIP: llama.cpp peer not installed in $CACHE (run bench/compare --check-load once)"; exit 77; }
command -v gcc >/dev/null || { echo "SKIP: no gcc"; exit 77; }
mkdir -p "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

LQ="$SCRATCH/llamacpp_quantize"
gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -I"$SRC/include" -I"$SRC/ggml/include" \
    "$ROOT/bench/llamacpp_quantize.c" -o "$LQ" -L"$LIBDIR" -l:"$(basename "$LIBLLAMA")" \
    -l:"$(basename "$LIBGGML")" -l:libggml-base.so -Wl,-rpath,"$LIBDIR" -lm 2>"$SCRATCH/cc.err" ||
    { echo "SKIP: cannot compile bench/llamacpp_quantize.c against $LIBDIR: $(head -3 "$SCRATCH/cc.err")"; exit 77; }

"$SLM" imatrix "$M" --data "$DATA" --ctx 64 --chunks 8 -t 2 -o "$SCRATCH/i.dat" 2>"$SCRATCH/err" ||
    { fail "slm imatrix: $(tail -1 "$SCRATCH/err")"; }
n=0
for t in Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_0 Q4_1 Q4_K_S Q4_K_M Q5_0 Q5_1 Q5_K_S Q5_K_M Q6_K Q8_0 IQ4_NL IQ4_XS; do
    for im in "" "$SCRATCH/i.dat"; do
        args=()
        [ -n "$im" ] && args=(--imatrix "$im")
        "$SLM" quantize "$M" "$SCRATCH/s.gguf" "$t" "${args[@]}" -t 2 2>"$SCRATCH/err" ||
            { fail "slm quantize $t ${im:+imatrix}: $(tail -1 "$SCRATCH/err")"; continue; }
        "$LQ" "$M" "$SCRATCH/l.gguf" "$t" "${args[@]}" -t 2 2>"$SCRATCH/err" ||
            { fail "llama.cpp quantize $t ${im:+imatrix}: $(tail -1 "$SCRATCH/err")"; continue; }
        if cmp -s "$SCRATCH/s.gguf" "$SCRATCH/l.gguf"; then
            n=$((n + 1))
            # the importance matrix must change the k-quant/IQ rounding (else this proves little)
            if [ -z "$im" ]; then cp "$SCRATCH/s.gguf" "$SCRATCH/plain.gguf"
            elif [ "$t" = Q4_K_M ] || [ "$t" = IQ4_XS ]; then
                cmp -s "$SCRATCH/s.gguf" "$SCRATCH/plain.gguf" && fail "$t: the imatrix changed nothing"
            fi
        else
            fail "$t ${im:+(imatrix)}: slm's file differs from llama.cpp's; tensors: $("$LQ" --diff "$SCRATCH/s.gguf" "$SCRATCH/l.gguf" | tail -1)"
        fi
    done
done
echo "cli_quant_llamacpp: $n of 32 files byte-identical to llama.cpp's"
[ "$fails" -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $((fails > 0))

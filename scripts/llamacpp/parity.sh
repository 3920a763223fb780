#!/bin/bash
# Logits of Chimera's engine against llama.cpp's on GGUF files made by llama.cpp's llama-quantize
# from an F16 file, for each weight type: the same token ids through both, top-10 log-probabilities
# compared at six positions (compare_logits.py). As a yardstick it also compares llama.cpp with
# itself at batch 1 (one token per pass, its decode path) against batch 512 (its prefill path):
# how far two summation orders of one implementation already drift on that file.
#   parity.sh LLAMACPP_DIR NAME -- SYNTH ARGS...       (e.g. parity.sh .llamacpp qwen3 -- --arch qwen3 --size 0.6b)
# Env: CHIMERA (binary, default build/release/chimera), TYPES (default "F16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K"),
# WORK (scratch folder, default /tmp/chimera-parity), IDS (comma list of token ids).
set -u
here=$(cd "$(dirname "$0")" && pwd)
llama=$(realpath "$1"); name=$2; shift 3
chimera=$(realpath "${CHIMERA:-build/release/chimera}")
work=${WORK:-/tmp/chimera-parity}; mkdir -p "$work"; cd "$work"
bin=$llama/src/build/bin
[ -f "$name-f16.gguf" ] || "$chimera" model synth "$@" --type f16 -o "$name-f16.gguf" > /dev/null || exit 1
n_vocab=$("$chimera" model info "$name-f16.gguf" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['tokenizer']['n_tokens'])")
ids=${IDS:-$(seq -s, 100 7 1000)}
status=0
for type in ${TYPES:-F16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K}; do
  file=$name-f16.gguf
  if [ "$type" != F16 ]; then
    file=$name-$type.gguf
    "$bin/llama-quantize" "$name-f16.gguf" "$file" "$type" 2 > "$file.log" 2>&1 || { echo "$name $type: llama-quantize failed"; status=1; continue; }
  fi
  "$llama/llama_logits" "$file" "$ids" ref.f32 || { echo "$name $type: llama.cpp failed"; status=1; continue; }
  "$llama/llama_logits" "$file" "$ids" ref1.f32 1 || { echo "$name $type: llama.cpp (batch 1) failed"; status=1; continue; }
  if ! "$chimera" generate -m "$file" --prompt-tokens "$ids" --num-predict 0 --dump-logits ours.f32 --num-thread 2 > ours.log 2>&1; then
    echo "$name $type: chimera failed: $(tail -1 ours.log)"; status=1; continue
  fi
  types=$("$chimera" model info "$file" --json | python3 -c "import json,sys; print(' '.join(k + ':' + str(v['tensors']) for k, v in json.load(sys.stdin)['bytes_by_type'].items()))")
  echo "$name $type ($types)"
  echo "  chimera vs llama.cpp:           $(python3 "$here/compare_logits.py" ref.f32 ours.f32 "$n_vocab" | tail -1)"
  echo "  llama.cpp batch 1 vs batch 512: $(python3 "$here/compare_logits.py" ref.f32 ref1.f32 "$n_vocab" | tail -1)"
  [ "$type" != F16 ] && rm -f "$file" "$file.log"
done
exit $status

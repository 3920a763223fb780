#!/usr/bin/env bash
# Regenerates tests/engine/fixtures/tokenizer_golden.json with an independent tokenizer implementation:
# @lenml/tokenizers 3.7.2 (transformers.js fork), installed with npm in a temporary directory outside
# the repository, run under node 20 over the vocabularies fetched by scripts/fetch-vocab.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
vocab_dir="${CHIMERA_VOCAB_DIR:-$root/.data/vocab}"
for f in gemma3 llama3 llama3_1 qwen3 qwen2_5 gptoss; do
  [[ -f "$vocab_dir/$f/tokenizer.json" ]] || { echo "missing $vocab_dir/$f/tokenizer.json: run scripts/fetch-vocab.sh" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund @lenml/tokenizers@3.7.2 >/dev/null)
node "$here/tokenizer-golden.cjs" "$work/node_modules/@lenml/tokenizers" "$vocab_dir" \
  "$root/tests/engine/fixtures/tokenizer_golden.json"

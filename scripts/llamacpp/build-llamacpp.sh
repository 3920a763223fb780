#!/bin/bash
# Builds llama.cpp's llama-bench and llama-quantize, and this folder's llama_logits, under DIR
# (default ./.llamacpp), for comparing Chimera's engine with llama.cpp on the same GGUF files.
# The source comes from the npm registry: node-llama-cpp ships the llama.cpp release it was built
# with as a git bundle (llama/gitRelease.bundle). Nothing of it enters this repository.
# Needs: npm, git, cmake, a C++17 compiler. About 10 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(realpath -m "${1:-.llamacpp}")
version=${NODE_LLAMA_CPP_VERSION:-3.21.1}
mkdir -p "$dir"
cd "$dir"
if [ ! -d src ]; then
  tarball=$(npm pack --silent "node-llama-cpp@$version")
  tar -xzf "$tarball" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  git clone --quiet package/llama/gitRelease.bundle src
  cp package/llama/llama.cpp.info.json src/chimera-source.json
fi
cmake -S src -B src/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF > cmake.log
cmake --build src/build -j"$(nproc)" --target llama-bench llama-quantize > build.log
g++ -O2 -std=c++17 "$here/llama_logits.cpp" -Isrc/include -Isrc/ggml/include -Lsrc/build/bin \
  -lllama -lggml -lggml-base -Wl,-rpath,"$dir/src/build/bin" -o llama_logits
echo "llama.cpp $(cat src/chimera-source.json | tr -d '\n ' ) built: $dir/src/build/bin/llama-bench," \
  "$dir/src/build/bin/llama-quantize, $dir/llama_logits"

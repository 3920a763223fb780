// Prints llama.cpp's logits for a list of token ids: float32 little-endian, one row of n_vocab per
// position, the layout `chimera generate --dump-logits` writes. Built against a llama.cpp build by
// build-llamacpp.sh; not part of Chimera's build.
//   llama_logits MODEL.gguf 1,2,3 OUT.f32 [n_batch]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "llama.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.gguf ID,ID,... OUT.f32 [n_batch]\n", argv[0]);
    return 2;
  }
  std::vector<llama_token> ids;
  for (char* p = argv[2]; *p;) {
    ids.push_back(static_cast<llama_token>(std::strtol(p, &p, 10)));
    if (*p == ',') ++p;
  }
  const int n_batch = argc > 4 ? std::atoi(argv[4]) : 512;
  llama_backend_init();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) {
    std::fprintf(stderr, "llama.cpp could not load %s\n", argv[1]);
    return 1;
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(ids.size() + 16);
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(n_batch);
  cp.n_threads = cp.n_threads_batch = 2;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 1;
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  std::FILE* out = std::fopen(argv[3], "wb");
  if (!out) return 1;
  for (size_t start = 0; start < ids.size(); start += static_cast<size_t>(n_batch)) {
    const size_t n = std::min(ids.size() - start, static_cast<size_t>(n_batch));
    llama_batch batch = llama_batch_init(static_cast<int32_t>(n), 0, 1);
    for (size_t i = 0; i < n; ++i) {
      batch.token[i] = ids[start + i];
      batch.pos[i] = static_cast<llama_pos>(start + i);
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = 1;
    }
    batch.n_tokens = static_cast<int32_t>(n);
    if (llama_decode(ctx, batch) != 0) return 1;
    for (size_t i = 0; i < n; ++i) {
      std::fwrite(llama_get_logits_ith(ctx, static_cast<int32_t>(i)), sizeof(float), static_cast<size_t>(n_vocab), out);
    }
    llama_batch_free(batch);
  }
  std::fclose(out);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}

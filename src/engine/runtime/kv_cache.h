// src/engine/runtime/: running a loaded model. Session (session.cpp: one sequence), Context
// (context.cpp: many sequences decoded together, the server's continuous batching), Sampler
// (sampler.cpp) and TextStreamer (text_streamer.cpp) are declared in engine/engine.h, the engine's
// public header; this folder implements them, with the KV cache (this header), the prompt cache
// that keeps sequences' K/V by token prefix for later ones (prompt_cache.h) and the persistent
// ThreadPool (thread_pool.h) the kernels run on.
//
// Key/value cache for several sequence slots. One K and one V block per (layer, slot, KV head),
// each a run of rows (one per cell) so attention streams contiguous memory. Global layers keep
// n_ctx cells; sliding-window layers keep a ring just large enough for their window plus one batch
// (position p lives in cell p % cells), as llama.cpp's SWA cache does (engine-reference.md §3.1
// step 6).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "util/status.h"

namespace chimera::engine {

struct ModelConfig;

class KvCache {
 public:
  // type: F16 (default) or Q8_0 (head_dim must then be a multiple of 32).
  static Result<std::unique_ptr<KvCache>> create(const ModelConfig& config, int32_t n_seq,
                                                 int32_t n_ctx_per_seq, int32_t n_batch,
                                                 GgmlType type);

  GgmlType type() const { return type_; }
  size_t row_bytes() const { return row_bytes_; }  // one head's key (or value) vector
  int32_t n_seq() const { return n_seq_; }
  int32_t n_ctx_per_seq() const { return n_ctx_; }
  int64_t cells(int layer) const { return layers_[static_cast<size_t>(layer)].cells; }
  int64_t cell_of(int layer, int64_t pos) const { return pos % cells(layer); }

  // Base of the rows of one (layer, slot, KV head); row `cell` is at + cell * row_bytes().
  uint8_t* k(int layer, int32_t seq, int kv_head) { return block(layer, seq, kv_head, true); }
  uint8_t* v(int layer, int32_t seq, int kv_head) { return block(layer, seq, kv_head, false); }

  // Tokens stored per slot (the next position to write).
  int32_t length(int32_t seq) const { return lengths_[static_cast<size_t>(seq)]; }
  void set_length(int32_t seq, int32_t length) { lengths_[static_cast<size_t>(seq)] = length; }

  int64_t bytes() const { return bytes_; }

 private:
  struct Layer {
    int64_t cells = 0;
    int n_head_kv = 0;
    std::unique_ptr<uint8_t[]> k, v;  // uninitialised: pages are touched only when written
  };
  uint8_t* block(int layer, int32_t seq, int kv_head, bool key);

  GgmlType type_ = GgmlType::kF16;
  size_t row_bytes_ = 0;
  int32_t n_seq_ = 0;
  int32_t n_ctx_ = 0;
  int64_t bytes_ = 0;
  std::vector<Layer> layers_;
  std::vector<int32_t> lengths_;
};

}  // namespace chimera::engine

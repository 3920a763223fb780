#include "engine/runtime/kv_cache.h"

#include <algorithm>

#include "engine/model/model_config.h"

namespace chimera::engine {

Result<std::unique_ptr<KvCache>> KvCache::create(const ModelConfig& config, int32_t n_seq,
                                                 int32_t n_ctx_per_seq, int32_t n_batch,
                                                 GgmlType type) {
  if (n_seq <= 0 || n_ctx_per_seq <= 0 || n_batch <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "KV cache: n_seq {}, num_ctx {} and num_batch {} must all be positive", n_seq,
                      n_ctx_per_seq, n_batch);
  }
  if (type != GgmlType::kF16 && type != GgmlType::kQ8_0) {
    return make_error(ErrorCode::kUnsupported, "KV cache type {} is not supported; use F16 or Q8_0",
                      ggml_type_name(type));
  }
  auto row_bytes = ggml_row_bytes(type, config.head_dim);
  if (!row_bytes) {
    return make_error(
        ErrorCode::kUnsupported,
        "KV cache type {} needs a head dimension that is a multiple of 32 (model has {}); "
        "use F16",
        ggml_type_name(type), config.head_dim);
  }
  auto cache = std::unique_ptr<KvCache>(new KvCache());
  cache->type_ = type;
  cache->row_bytes_ = *row_bytes;
  cache->n_seq_ = n_seq;
  cache->n_ctx_ = n_ctx_per_seq;
  cache->lengths_.assign(static_cast<size_t>(n_seq), 0);
  cache->layers_.resize(config.layers.size());
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerConfig& lc = config.layers[i];
    Layer& layer = cache->layers_[i];
    // A sliding layer needs its window plus the rest of one batch: the batch's first query still
    // sees window - 1 older keys after the whole batch's keys are written.
    int64_t ring = int64_t{lc.sliding_window} + n_batch - 1;
    layer.cells = lc.is_sliding() ? std::min<int64_t>(n_ctx_per_seq, ring) : n_ctx_per_seq;
    layer.n_head_kv = lc.n_head_kv;
    size_t block_bytes = static_cast<size_t>(layer.cells) * cache->row_bytes_ *
                         static_cast<size_t>(lc.n_head_kv) * static_cast<size_t>(n_seq);
    layer.k.reset(new (std::nothrow) uint8_t[block_bytes]);
    layer.v.reset(new (std::nothrow) uint8_t[block_bytes]);
    if (!layer.k || !layer.v) {
      return make_error(
          ErrorCode::kResourceExhausted,
          "KV cache: cannot allocate {} bytes for layer {}; lower num_ctx ({}) or the "
          "number of parallel sequences ({})",
          2 * block_bytes, i, n_ctx_per_seq, n_seq);
    }
    cache->bytes_ += static_cast<int64_t>(2 * block_bytes);
  }
  return cache;
}

uint8_t* KvCache::block(int layer, int32_t seq, int kv_head, bool key) {
  Layer& l = layers_[static_cast<size_t>(layer)];
  size_t index =
      static_cast<size_t>(seq) * static_cast<size_t>(l.n_head_kv) + static_cast<size_t>(kv_head);
  uint8_t* base = key ? l.k.get() : l.v.get();
  return base + index * static_cast<size_t>(l.cells) * row_bytes_;
}

}  // namespace chimera::engine

#include "engine/model/model_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/gguf/gguf.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/model/model_config.h"
#include "engine/quant/quant.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {
namespace {

class Binder {
 public:
  Binder(const GgufFile& file, ModelWeights& weights) : file_(file), weights_(weights) {}

  Result<const GgufTensorInfo*> find(const std::string& name, std::vector<int64_t> ne) {
    const GgufTensorInfo* t = file_.find_tensor(name);
    if (t == nullptr) {
      return make_error(ErrorCode::kNotFound, "{}: tensor {} is missing (expected shape [{}])",
                        file_.path(), name, fmt::join(ne, ", "));
    }
    if (t->ne != ne) {
      return make_error(ErrorCode::kParseError, "{}: tensor {} has shape [{}]; expected [{}]",
                        file_.path(), name, fmt::join(t->ne, ", "), fmt::join(ne, ", "));
    }
    const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(t->type));
    if (info == nullptr || !info->is_computable) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: tensor {} has type {}; this build supports {}", file_.path(), name,
                        ggml_type_name(t->type), computable_type_list());
    }
    weights_.n_params += static_cast<uint64_t>(t->n_elements);
    weights_.bytes += t->n_bytes;
    return t;
  }

  Result<WeightMatrix> matrix(const std::string& name, int64_t cols, int64_t rows) {
    CHIMERA_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, {cols, rows}));
    WeightMatrix w;
    w.data = t->data;
    w.type = t->type;
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = ggml_row_bytes(t->type, cols).value_or(0);
    return w;
  }

  Result<ExpertMatrix> experts(const std::string& name, int64_t cols, int64_t rows_per_expert,
                               int64_t n_expert) {
    CHIMERA_ASSIGN_OR_RETURN(const GgufTensorInfo* t,
                             find(name, {cols, rows_per_expert, n_expert}));
    ExpertMatrix e;
    e.all.data = t->data;
    e.all.type = t->type;
    e.all.rows = rows_per_expert * n_expert;
    e.all.cols = cols;
    e.all.row_bytes = ggml_row_bytes(t->type, cols).value_or(0);
    e.rows_per_expert = rows_per_expert;
    return e;
  }

  // A 1-D tensor, or a small 2-D one (per-expert biases) read whole, converted to f32.
  Result<std::vector<float>> vector(const std::string& name, int64_t n, int64_t rows = 0) {
    CHIMERA_ASSIGN_OR_RETURN(const GgufTensorInfo* t,
                             find(name, rows > 0 ? std::vector<int64_t>{n, rows} : std::vector{n}));
    const int64_t total = n * std::max<int64_t>(rows, 1);
    std::vector<float> out(static_cast<size_t>(total));
    dequantize_row(t->type, t->data, out.data(), total);
    return out;
  }

 private:
  const GgufFile& file_;
  ModelWeights& weights_;
};

uint64_t matrix_bytes(const WeightMatrix& m) { return m.row_bytes * static_cast<uint64_t>(m.rows); }

}  // namespace

Result<ModelWeights> bind_weights(const GgufFile& file, const ModelConfig& config) {
  ModelWeights w;
  Binder bind(file, w);
  const int64_t d = config.n_embd;
  CHIMERA_ASSIGN_OR_RETURN(w.token_embd, bind.matrix("token_embd.weight", d, config.n_vocab));
  CHIMERA_ASSIGN_OR_RETURN(w.output_norm, bind.vector("output_norm.weight", d));
  if (config.tied_output) {
    w.output = w.token_embd;
  } else {
    CHIMERA_ASSIGN_OR_RETURN(w.output, bind.matrix("output.weight", d, config.n_vocab));
  }
  if (config.layers[0].rope.use_freq_factors) {
    CHIMERA_ASSIGN_OR_RETURN(w.rope_freqs, bind.vector("rope_freqs.weight", config.n_rot / 2));
  }
  uint64_t layer_matrix_bytes = 0;
  w.layers.resize(config.layers.size());
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerConfig& lc = config.layers[i];
    LayerWeights& lw = w.layers[i];
    auto name = [&](const char* part) { return fmt::format("blk.{}.{}.weight", i, part); };
    auto bias = [&](const char* part) { return fmt::format("blk.{}.{}.bias", i, part); };
    const int64_t q_width = int64_t{lc.n_head} * config.head_dim;
    const int64_t kv_width = int64_t{lc.n_head_kv} * config.head_dim;
    const int64_t v_width = int64_t{lc.n_head_kv} * config.value_dim;
    CHIMERA_ASSIGN_OR_RETURN(lw.attn_norm, bind.vector(name("attn_norm"), d));
    CHIMERA_ASSIGN_OR_RETURN(lw.wq, bind.matrix(name("attn_q"), d, q_width));
    CHIMERA_ASSIGN_OR_RETURN(lw.wk, bind.matrix(name("attn_k"), d, kv_width));
    CHIMERA_ASSIGN_OR_RETURN(lw.wv, bind.matrix(name("attn_v"), d, v_width));
    CHIMERA_ASSIGN_OR_RETURN(
        lw.wo, bind.matrix(name("attn_output"), int64_t{lc.n_head} * config.value_dim, d));
    if (lc.qk_norm) {
      CHIMERA_ASSIGN_OR_RETURN(lw.attn_q_norm, bind.vector(name("attn_q_norm"), config.head_dim));
      CHIMERA_ASSIGN_OR_RETURN(lw.attn_k_norm, bind.vector(name("attn_k_norm"), config.head_dim));
    }
    if (lc.post_attention_norm) {
      CHIMERA_ASSIGN_OR_RETURN(lw.post_attention_norm, bind.vector(name("post_attention_norm"), d));
    }
    if (lc.qkv_bias) {
      CHIMERA_ASSIGN_OR_RETURN(lw.bq, bind.vector(bias("attn_q"), q_width));
      CHIMERA_ASSIGN_OR_RETURN(lw.bk, bind.vector(bias("attn_k"), kv_width));
      CHIMERA_ASSIGN_OR_RETURN(lw.bv, bind.vector(bias("attn_v"), v_width));
    }
    if (lc.output_bias) {
      CHIMERA_ASSIGN_OR_RETURN(lw.bo, bind.vector(bias("attn_output"), d));
    }
    if (lc.attn_sinks) {
      CHIMERA_ASSIGN_OR_RETURN(lw.attn_sinks, bind.vector(name("attn_sinks"), lc.n_head));
    }
    CHIMERA_ASSIGN_OR_RETURN(lw.ffn_norm, bind.vector(name(config.ffn_norm_tensor.c_str()), d));
    if (lc.is_moe()) {
      const int64_t n_expert = lc.moe.n_expert, ff = lc.moe.n_ff_expert;
      CHIMERA_ASSIGN_OR_RETURN(lw.ffn_router, bind.matrix(name("ffn_gate_inp"), d, n_expert));
      CHIMERA_ASSIGN_OR_RETURN(lw.gate_exps, bind.experts(name("ffn_gate_exps"), d, ff, n_expert));
      CHIMERA_ASSIGN_OR_RETURN(lw.up_exps, bind.experts(name("ffn_up_exps"), d, ff, n_expert));
      CHIMERA_ASSIGN_OR_RETURN(lw.down_exps, bind.experts(name("ffn_down_exps"), ff, d, n_expert));
      if (lc.moe.biases) {
        CHIMERA_ASSIGN_OR_RETURN(lw.router_bias, bind.vector(bias("ffn_gate_inp"), n_expert));
        CHIMERA_ASSIGN_OR_RETURN(lw.gate_exps_bias,
                                 bind.vector(bias("ffn_gate_exps"), ff, n_expert));
        CHIMERA_ASSIGN_OR_RETURN(lw.up_exps_bias, bind.vector(bias("ffn_up_exps"), ff, n_expert));
        CHIMERA_ASSIGN_OR_RETURN(lw.down_exps_bias,
                                 bind.vector(bias("ffn_down_exps"), d, n_expert));
      }
    } else {
      CHIMERA_ASSIGN_OR_RETURN(lw.ffn_gate, bind.matrix(name("ffn_gate"), d, lc.n_ff));
      CHIMERA_ASSIGN_OR_RETURN(lw.ffn_up, bind.matrix(name("ffn_up"), d, lc.n_ff));
      CHIMERA_ASSIGN_OR_RETURN(lw.ffn_down, bind.matrix(name("ffn_down"), lc.n_ff, d));
    }
    if (lc.post_ffn_norm) {
      CHIMERA_ASSIGN_OR_RETURN(lw.post_ffw_norm, bind.vector(name("post_ffw_norm"), d));
    }
    for (const WeightMatrix* m :
         {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.ffn_gate, &lw.ffn_up, &lw.ffn_down, &lw.ffn_router}) {
      layer_matrix_bytes += matrix_bytes(*m);
    }
    if (lc.is_moe()) {  // a token reads only its routed experts' slabs
      for (const ExpertMatrix* e : {&lw.gate_exps, &lw.up_exps, &lw.down_exps}) {
        layer_matrix_bytes +=
            matrix_bytes(e->expert(0)) * static_cast<uint64_t>(lc.moe.n_expert_used);
      }
    }
  }
  w.decode_bytes_per_token = layer_matrix_bytes + matrix_bytes(w.output) + w.token_embd.row_bytes;
  return w;
}

void arrange_weights(ModelWeights& weights, const ArrangeOptions& options) {
  std::vector<WeightMatrix*> views = {&weights.token_embd, &weights.output};
  // Expert tensors are read one expert's slab at a time: 16-row strips must not straddle experts.
  std::vector<const WeightMatrix*> no_interleave;
  for (LayerWeights& lw : weights.layers) {
    for (WeightMatrix* m : lw.matrices()) {
      if (m->data != nullptr) views.push_back(m);  // slots the layer does not use stay empty
    }
    for (const ExpertMatrix* e : {&lw.gate_exps, &lw.up_exps, &lw.down_exps}) {
      if (e->all.data != nullptr && e->rows_per_expert % kInterleaveRows != 0) {
        no_interleave.push_back(&e->all);
      }
    }
  }
  // One arena for every matrix moved (2 MiB-aligned, so the kernel can back it with huge pages;
  // one allocation per matrix wasted up to 2 MiB on each of ~180 small ones).
  struct Move {
    WeightMatrix source;
    size_t offset;    // in the arena
    bool interleave;  // or a plain copy
  };
  std::vector<Move> moves;
  size_t total = 0;
  for (WeightMatrix* view : views) {
    const bool interleave =
        options.interleave && can_interleave(*view) &&
        std::find(no_interleave.begin(), no_interleave.end(), view) == no_interleave.end();
    if (!interleave && !options.huge_pages) continue;
    bool seen = false;  // a tied output is the embedding's view
    for (const Move& m : moves) seen = seen || m.source.data == view->data;
    if (seen) continue;
    moves.push_back({*view, total, interleave});
    total += (view->row_bytes * static_cast<size_t>(view->rows) + 63) / 64 * 64;
  }
  if (moves.empty()) return;
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t arena_bytes = (total + kHuge - 1) / kHuge * kHuge;
  auto* arena = static_cast<uint8_t*>(std::aligned_alloc(kHuge, arena_bytes));
  if (arena == nullptr) return;                // keep the mapped layout: slower, nothing lost
  madvise(arena, arena_bytes, MADV_HUGEPAGE);  // a hint
  ThreadPool pool(0);
  const long page = sysconf(_SC_PAGESIZE);
  for (const Move& move : moves) {
    const WeightMatrix& source = move.source;
    uint8_t* out = arena + move.offset;
    // In chunks of whole 16-row strips, releasing the file's pages of each chunk once it is moved
    // (whole pages inside the tensor only), so the load never holds a large tensor twice.
    const int64_t unit_rows = move.interleave ? kInterleaveRows : 1;
    const int64_t units = source.rows / unit_rows;
    const auto start = reinterpret_cast<uintptr_t>(source.data);
    const size_t unit_bytes = source.row_bytes * static_cast<size_t>(unit_rows);
    const int64_t chunk_units = std::max<int64_t>(1, (size_t{8} << 20) / unit_bytes);
    for (int64_t c0 = 0; c0 < units; c0 += chunk_units) {
      const int64_t c1 = std::min(units, c0 + chunk_units);
      pool.parallel_for(c1 - c0, [&, c0](int64_t begin, int64_t end, int) {
        if (move.interleave) {
          interleave_strips_fast(source, c0 + begin, c0 + end, out);
        } else {
          std::memcpy(out + static_cast<size_t>(c0 + begin) * unit_bytes,
                      static_cast<const uint8_t*>(source.data) +
                          static_cast<size_t>(c0 + begin) * unit_bytes,
                      static_cast<size_t>(end - begin) * unit_bytes);
        }
      });
      const uintptr_t first_page =
          (start + static_cast<uintptr_t>(c0) * unit_bytes + static_cast<uintptr_t>(page) - 1) &
          ~static_cast<uintptr_t>(page - 1);
      const uintptr_t end_page =
          (start + static_cast<uintptr_t>(c1) * unit_bytes) & ~static_cast<uintptr_t>(page - 1);
      if (end_page > first_page)
        madvise(reinterpret_cast<void*>(first_page), end_page - first_page, MADV_DONTNEED);
    }
    for (WeightMatrix* view : views) {
      if (view->data == source.data) {
        view->data = out;
        view->interleaved = move.interleave;
      }
    }
  }
  weights.arena = std::shared_ptr<uint8_t>(arena, [](uint8_t* p) { std::free(p); });
  weights.arena_bytes = total;
}

}  // namespace chimera::engine

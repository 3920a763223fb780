// Views of a loaded model's weights: 2-D matrices point into the mapped GGUF until
// arrange_weights() moves them into one huge-page arena (the ones the VNNI kernels read interleaved
// repacked on the way; same bytes, the file's pages released); the small 1-D norm vectors are
// converted to f32 once. Internal to the engine (forward.cpp, model.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/kernels/matmul.h"
#include "util/status.h"

namespace chimera::engine {

class GgufFile;
struct ModelConfig;

// A 3-D expert tensor ({cols, rows_per_expert, n_expert} in ggml order): expert e's matrix is the
// contiguous slab of rows [e * rows_per_expert, (e + 1) * rows_per_expert) of `all`, each row
// quantized on its own (engine-reference-models.md §4), so a routed token reads only its experts'
// slabs.
struct ExpertMatrix {
  WeightMatrix all;  // n_expert * rows_per_expert rows
  int64_t rows_per_expert = 0;
  WeightMatrix expert(int64_t e) const {
    WeightMatrix m = all;
    m.rows = rows_per_expert;
    m.data = static_cast<const uint8_t*>(all.data) +
             static_cast<size_t>(e * rows_per_expert) * all.row_bytes;
    return m;
  }
};

struct LayerWeights {
  std::vector<float> attn_norm;
  std::vector<float> attn_q_norm, attn_k_norm;  // empty unless the layer has QK-norm
  std::vector<float> post_attention_norm;       // empty unless the layer has it
  std::vector<float> ffn_norm;
  std::vector<float> post_ffw_norm;  // empty unless the layer has it
  std::vector<float> bq, bk, bv;     // empty unless the layer has q/k/v biases
  std::vector<float> bo;             // attn_output.bias; empty unless the layer has it
  std::vector<float> attn_sinks;     // one logit per query head; empty unless the layer has them
  // MoE biases (gpt-oss; empty otherwise): the router's, n_expert; each expert's gate / up
  // (n_ff_expert values per expert) and down (n_embd per expert), expert-major.
  std::vector<float> router_bias, gate_exps_bias, up_exps_bias, down_exps_bias;
  WeightMatrix wq, wk, wv, wo;
  WeightMatrix ffn_gate, ffn_up, ffn_down;     // dense FFN (empty in a mixture-of-experts layer)
  WeightMatrix ffn_router;                     // MoE: ffn_gate_inp, n_expert rows of n_embd
  ExpertMatrix gate_exps, up_exps, down_exps;  // MoE: the experts' gate/up/down

  // Every matrix slot (attention, the dense FFN, the router and the three expert tensors whole), in
  // that order; the slots a layer does not use have data == nullptr and 0 rows. A fixed array, so
  // that per-token callers allocate nothing.
  std::array<WeightMatrix*, 11> matrices() {
    return {&wq,          &wk,           &wv,
            &wo,          &ffn_gate,     &ffn_up,
            &ffn_down,    &ffn_router,   &gate_exps.all,
            &up_exps.all, &down_exps.all};
  }
  std::array<const WeightMatrix*, 11> matrices() const {
    return {&wq,          &wk,           &wv,
            &wo,          &ffn_gate,     &ffn_up,
            &ffn_down,    &ffn_router,   &gate_exps.all,
            &up_exps.all, &down_exps.all};
  }
};

struct ModelWeights {
  WeightMatrix token_embd;  // n_vocab rows of n_embd
  WeightMatrix output;      // the LM head; the same view as token_embd when tied
  std::vector<float> output_norm;
  std::vector<float> rope_freqs;  // n_rot/2 frequency divisors, empty when the file has none
  std::vector<LayerWeights> layers;

  // The matrices moved by arrange_weights(), in one arena the views above point into.
  std::shared_ptr<uint8_t> arena;
  size_t arena_bytes = 0;  // the matrices' bytes in it (0: no arena)

  uint64_t n_params = 0;  // elements of every tensor bound
  uint64_t bytes = 0;     // bytes of every tensor bound
  // Layer matrices (routed experts: only the ones a token runs) + LM head + one embedding row.
  uint64_t decode_bytes_per_token = 0;
};

// Binds every tensor the config needs, checking names, shapes and types. Errors name the tensor,
// what was found and what is supported.
Result<ModelWeights> bind_weights(const GgufFile& file, const ModelConfig& config);

struct ArrangeOptions {
  // Repack the matrices that can be into the VNNI kernels' 16-row interleaved layout
  // (weight_interleave.h).
  bool interleave = false;
  // Copy the other matrices too. Decode streams every weight once per token; from 4 KiB pages of
  // the file's mapping the page walks cost bandwidth (gemma3-1b F16 LM head, 2 threads, measured:
  // 17.5 GB/s mapped, 19.2 GB/s from huge pages).
  bool huge_pages = true;
};
// Moves the matrices into one 2 MiB-aligned arena the kernel backs with huge pages, repacking
// those options.interleave asks for, releases the mapped file pages they were read from, and points
// the views at the copies (token_embd and a tied output share one). Same bytes as the original.
void arrange_weights(ModelWeights& weights, const ArrangeOptions& options);

}  // namespace chimera::engine

// The one generic transformer (engine-reference.md §3): runs a batch of tokens, possibly from
// several sequences, through every layer as the ModelConfig describes it, writing K/V into the
// cache and logits for the rows that ask for them. All scratch is sized once at creation: running a
// batch allocates nothing. Internal to the engine (Context owns one).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/engine.h"
#include "engine/kernels/matmul.h"
#include "engine/model/model_config.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {

struct ModelWeights;

// The kernel path a one-token batch of this model runs on: active_kernel_path(), but AVX2 on an
// AVX-512 path that CHIMERA_KERNEL did not force when every matrix holds F32 / F16 / BF16 weights.
// Those stream at the memory's pace with either vector width, and 512-bit FMAs lower the core clock
// (Intel server parts) for everything else the step does: gemma3-1b F16 decode, Cascade Lake,
// 256-bit kernels for the whole step +3.1 % tok/s at 1 and at 2 threads (A/B in one process). Not
// narrowed: batches of two tokens or more (-9 % at 2, -19 % at 4 on 256-bit: the work per weight
// grows), and quantized weights, whose VNNI dots are 512-bit only (no gain from narrowing the rest
// of their step: +0.4-0.5 %, noise).
KernelPath one_token_kernel_path(const ModelWeights& weights);

class ForwardPass {
 public:
  ForwardPass(std::shared_ptr<const Model> model, KvCache& cache, ThreadPool& pool,
              int32_t n_batch_max);

  // Positions and slots must already be valid for the cache (Context checks them). Logits of the
  // tokens with want_logits are written to `logits`, n_vocab floats each, in batch order.
  void run(std::span<const BatchToken> batch, float* logits);

  int32_t n_batch_max() const { return n_batch_max_; }

 private:
  struct RopeTable {
    RopeConfig config;
    std::vector<double> inv_freq;  // n_rot/2 angular frequencies (scale and rope_freqs folded in)
    std::vector<float> cos, sin;   // per batch row: n_rot/2 each
  };

  void embed(std::span<const BatchToken> batch);
  void fill_rope_tables(std::span<const BatchToken> batch);
  void attention_block(int layer, std::span<const BatchToken> batch);
  void ffn_block(int layer, int64_t n_rows);
  // act(gate) * up over n_rows rows of ff values, in place in gate.
  void gated_activation(float* gate, const float* up, int64_t n_rows, int64_t ff);
  // Mixture-of-experts FFN of norm_'s rows into proj_ (forward_moe.cpp): route each row, then run
  // every expert that some row chose over just those rows.
  void moe_ffn(int layer, int64_t n_rows, std::span<const WeightMatrix> next);
  void moe_ffn_one_row(int layer, std::span<const WeightMatrix> next);
  static constexpr int kMaxExpertsOneDispatch = 16;  // matrices in one matmul dispatch (matmul.cpp)
  void prepare_qkv(int layer, std::span<const BatchToken> batch);
  void run_attention(int layer, std::span<const BatchToken> batch);
  void gather_output_rows();
  void apply_rope(float* head, const RopeTable& table, int64_t row) const;
  // Runs body(row_begin, row_end) over n rows on the pool when the work is large enough to pay for
  // the dispatch, else on the calling thread.
  template <typename F>
  void for_rows(int64_t n_rows, int64_t work_per_row, F&& body);

  std::shared_ptr<const Model> model_;
  const ModelConfig& config_;
  const ModelWeights& weights_;
  KvCache& cache_;
  ThreadPool& pool_;
  MatmulScratch matmul_scratch_;
  int32_t n_batch_max_;

  // Scratch, row-major [row][width], sized for n_batch_max rows.
  std::vector<float> x_, norm_, q_, k_, v_, attn_, proj_, gate_, up_;
  // Mixture of experts: router logits [row][expert], the chosen (expert, weight) per row and slot,
  // rows grouped by expert, and the gathered inputs / outputs of one expert's rows.
  struct Route {
    int32_t expert;
    float weight;
  };
  std::vector<float> router_logits_;
  std::vector<Route> routes_;
  std::vector<int32_t> expert_rows_;   // route indices (row * n_used + slot), sorted by expert
  std::vector<int32_t> expert_first_;  // counting-sort offsets, n_expert + 1
  std::vector<float> expert_x_, expert_y_;
  std::vector<RopeTable> ropes_;
  std::vector<int> layer_rope_;       // index into ropes_ per layer
  std::vector<int32_t> output_rows_;  // batch rows with want_logits
  struct Tile {
    // Attention rows [begin, begin + count): consecutive positions of one sequence.
    int32_t begin, count;
  };
  std::vector<Tile> tiles_;
  std::atomic<int64_t> next_item_{0};  // dynamic scheduling of attention work items
};

}  // namespace chimera::engine

// An independent, plain implementation of the gemma3, llama, qwen2, qwen3, qwen3moe and gpt-oss
// forward passes, written from engine-reference.md §3 and engine-reference-models.md §2-§5 for
// tests: every
// weight dequantized to f32 with dequantize_row, plain loops, double accumulation, no KV cache
// (each position recomputed from the whole prefix). It shares nothing with the engine beyond the
// GGUF reader and dequantize_row, so agreement means something. Like ggml (engine-reference.md
// §2.3), the activations a quantized matrix multiplies are first rounded to that type's dot type
// (Q8_0 for Q4_0/Q5_0/Q4_1/Q5_1/Q8_0, Q8_K for K-quants), written here from the spec, and keys and
// values are rounded to f16 as the KV cache stores them (§6.4). Without these two roundings a
// difference of one f16 ulp upstream flips Q8 roundings downstream and the comparison could only be
// loose.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace chimera::testing {

class ReferenceModel {
 public:
  // Reads the metadata it needs itself; the file must state every key (tiny test models do).
  static Result<ReferenceModel> load(const std::string& path);

  // Logits of every position (tokens.size() rows of n_vocab).
  std::vector<std::vector<double>> forward(const std::vector<int32_t>& tokens) const;
  int n_vocab() const { return n_vocab_; }
  // Mixture of experts: over every routing decision of the last forward(), the smallest gap between
  // the k-th and (k+1)-th router logit, relative to the RMS of that row's logits (infinity for a
  // dense model). Routing is discontinuous: a decision this close to a tie may go the other way
  // under another implementation's rounding, and then the logits legitimately differ.
  double min_routing_margin() const { return min_routing_margin_; }

 private:
  struct Matrix {
    int64_t rows = 0, cols = 0;
    std::vector<float> values;  // row-major
    uint32_t type = 0;          // ggml type id in the file: decides the activation rounding
  };
  struct Layer {
    std::vector<float> attn_norm, q_norm, k_norm, post_attn_norm, ffn_norm, post_ffw_norm;
    std::vector<float> bq, bk, bv;  // empty without biases
    std::vector<float> bo, sinks;   // gpt-oss: attn_output.bias, attn_sinks
    // gpt-oss: router bias; per expert, gate / up / down biases
    std::vector<float> router_bias;
    std::vector<std::vector<float>> gate_bias, up_bias, down_bias;
    Matrix wq, wk, wv, wo, gate, up, down;
    Matrix router;                                      // MoE: n_expert rows
    std::vector<Matrix> gate_exps, up_exps, down_exps;  // MoE: one matrix per expert
    bool sliding = false;
  };
  std::vector<double> ffn(const Layer& layer, const std::vector<double>& x) const;
  std::vector<double> moe(const Layer& layer, const std::vector<double>& x) const;
  static std::vector<double> matvec(const Matrix& m, const std::vector<double>& x);
  std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<float>& w) const;
  void rope(std::vector<double>& head, int64_t pos, bool sliding) const;

  bool gemma_ = false;
  bool gpt_oss_ = false;
  // YaRN (engine-reference-models.md §5): ramp bounds and magnitude; factor 0 when off.
  double yarn_factor_ = 0, yarn_low_ = 0, yarn_high_ = 0;
  bool neox_ = false;  // rope pairs (i, i + d/2): gemma3 and the qwen family
  int n_expert_used_ = 0;
  mutable double min_routing_margin_ = INFINITY;
  int n_embd_ = 0, n_head_ = 0, n_head_kv_ = 0, head_dim_ = 0, n_vocab_ = 0, window_ = 0;
  double eps_ = 0, base_global_ = 0, base_local_ = 0, scale_global_ = 1;
  std::vector<float> rope_freqs_;
  Matrix embd_, output_;
  std::vector<float> output_norm_;
  std::vector<Layer> layers_;
};

}  // namespace chimera::testing

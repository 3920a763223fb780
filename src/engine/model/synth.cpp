// Synthesizer output: metadata as llama.cpp's converter writes it, and deterministic dummy weights
// that keep activations finite (projections ~ N(0, 1/fan_in), norm weights near 1: Gemma GGUF norms
// store 1+w, so "near 1" is right for both architectures), quantized row by row straight into the
// file.
#include <cmath>

#include "engine/gguf/gguf.h"
#include "engine/model/synth.h"
#include "engine/quant/quant.h"
#include "engine/tokenizer/tokenizer.h"
#include "util/hash.h"

namespace chimera::engine {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// splitmix64: one add and two multiply-xorshifts per 64 random bits; plenty for dummy weights.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += kGolden);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Bell-shaped values with the given mean and standard deviation: the sum of two 16-bit uniforms (a
// triangular distribution, variance 1/6 on (-1, 1)), so one 64-bit draw makes two values. 16-bit
// resolution is far finer than any weight type's rounding except F32, where it does not matter.
inline float triangular(uint32_t two_halves, float mean, float scale) {
  const int32_t sum = int32_t(two_halves & 0xFFFF) + int32_t(two_halves >> 16);  // [0, 131070]
  return mean + float(sum - 65535) * scale;
}

void fill_row(float* out, int64_t n, uint64_t row_seed, float mean, float stddev) {
  uint64_t state = row_seed;
  const float scale = stddev * std::sqrt(6.0f) * 0x1p-16f;
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    const uint64_t z = splitmix64(state);
    out[i] = triangular(uint32_t(z), mean, scale);
    out[i + 1] = triangular(uint32_t(z >> 32), mean, scale);
  }
  if (i < n) out[i] = triangular(uint32_t(splitmix64(state)), mean, scale);
}

enum class WeightKind { kProjection, kNorm, kBias, kRopeFreqs, kSink };

WeightKind kind_of(const SynthTensor& t) {
  if (t.name == "rope_freqs.weight") return WeightKind::kRopeFreqs;
  if (t.name.ends_with(".bias")) return WeightKind::kBias;
  if (t.name.ends_with("attn_sinks.weight")) return WeightKind::kSink;
  if (t.ne.size() == 1) return WeightKind::kNorm;
  return WeightKind::kProjection;
}

Status produce_tensor(const SynthTensor& t, const SynthShape& shape, uint64_t seed, int n_threads,
                      std::span<uint8_t> out) {
  const int64_t cols = t.ne[0];
  int64_t rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
  const size_t row_bytes = *ggml_row_bytes(t.type, cols);
  if (out.size() != row_bytes * static_cast<size_t>(rows)) {
    return make_error(ErrorCode::kInternal, "{}: buffer is {} bytes, expected {}", t.name,
                      out.size(), row_bytes * static_cast<size_t>(rows));
  }
  const WeightKind kind = kind_of(t);
  if (kind == WeightKind::kRopeFreqs) {
    std::vector<float> f =
        llama3_rope_factors(shape.head_dim, shape.rope_base, shape.llama3_rope_factor, 1.0f, 4.0f,
                            shape.llama3_rope_original_ctx);
    quantize_row(t.type, f.data(), out.data(), cols);
    return Status::ok();
  }
  // Sinks: logits of the order of the attention scores, so they take a visible share.
  const float mean = kind == WeightKind::kNorm ? 1.0f : kind == WeightKind::kSink ? 0.5f : 0.0f;
  // Biases: small against the projections' O(1) outputs, as trained ones mostly are.
  const float stddev = kind == WeightKind::kNorm   ? 0.02f
                       : kind == WeightKind::kBias ? 0.1f
                       : kind == WeightKind::kSink ? 1.0f
                                                   : 1.0f / std::sqrt(float(cols));
  const uint64_t tensor_seed = fnv1a64(t.name) ^ (seed * kGolden);
  const int threads = rows >= 64 ? std::max(1, n_threads) : 1;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> row(static_cast<size_t>(cols));
#pragma omp for schedule(dynamic, 16)
    for (int64_t r = 0; r < rows; ++r) {
      uint64_t s = tensor_seed + static_cast<uint64_t>(r) * kGolden;
      fill_row(row.data(), cols, splitmix64(s), mean, stddev);
      quantize_row(t.type, row.data(), out.data() + static_cast<size_t>(r) * row_bytes, cols);
    }
  }
  return Status::ok();
}

void write_metadata(GgufWriter& w, const SynthPlan& plan, const SynthOptions& options) {
  const SynthShape& s = plan.shape;
  const std::string& a = s.arch;
  w.set_string("general.architecture", a);
  w.set_string("general.type", "model");
  w.set_string("general.name", s.display_name);
  w.set_string("general.size_label", s.size_label);
  w.set_u32("general.file_type", llama_ftype_of(options.type));
  bool quantized = false;
  for (const auto& t : plan.tensors) {
    quantized |= t.type != GgmlType::kF32 && t.type != GgmlType::kF16 && t.type != GgmlType::kBF16;
  }
  if (quantized) w.set_u32("general.quantization_version", 2);
  // The unmistakable mark: readers (model info, reports) tag every figure from this file synthetic.
  w.set_bool("chimera.synthetic", true);
  w.set_u64("chimera.synthetic.seed", options.seed);
  w.set_string("chimera.synthetic.preset", s.preset);

  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  if (a == "llama") w.set_u32("llama.vocab_size", u32(s.n_vocab));
  w.set_u32(a + ".context_length", u32(s.context_length));
  w.set_u32(a + ".embedding_length", u32(s.d_model));
  w.set_u32(a + ".block_count", u32(s.n_layers));
  w.set_u32(a + ".feed_forward_length", u32(s.d_ff));
  if (a == "llama") w.set_u32("llama.rope.dimension_count", u32(s.head_dim));
  w.set_u32(a + ".attention.head_count", u32(s.n_heads));
  w.set_u32(a + ".attention.head_count_kv", u32(s.n_kv_heads));
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  w.set_u32(a + ".attention.key_length", u32(s.head_dim));
  w.set_u32(a + ".attention.value_length", u32(s.head_dim));
  w.set_f32(a + ".rope.freq_base", s.rope_base);
  if (s.n_expert > 0) {
    w.set_u32(a + ".expert_count", u32(s.n_expert));
    w.set_u32(a + ".expert_used_count", u32(s.n_expert_used));
    w.set_u32(a + ".expert_feed_forward_length", u32(s.n_ff_expert));
  }
  if (s.yarn_factor > 0) {
    w.set_string(a + ".rope.scaling.type", "yarn");
    w.set_f32(a + ".rope.scaling.factor", s.yarn_factor);
    w.set_u32(a + ".rope.scaling.original_context_length", u32(s.yarn_original_ctx));
  }
  if (a == "gpt-oss") w.set_u32(a + ".attention.sliding_window", u32(s.sliding_window));
  if (a == "gemma3") {
    w.set_u32("gemma3.attention.sliding_window", u32(s.sliding_window));
    if (s.rope_linear_factor > 0) {
      w.set_string("gemma3.rope.scaling.type", "linear");
      w.set_f32("gemma3.rope.scaling.factor", s.rope_linear_factor);
    }
  }
}

Result<GgufWriter> build_writer(const SynthOptions& options, SynthPlan& plan_out) {
  VocabData vocab;
  CHIMERA_ASSIGN_OR_RETURN(SynthPlan plan, plan_synth_with_vocab(options, &vocab));
  GgufWriter w;
  write_metadata(w, plan, options);
  CHIMERA_RETURN_IF_ERROR(write_vocab_to_gguf(w, vocab));
  auto shared_plan = std::make_shared<SynthPlan>(plan);
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const SynthTensor& t = plan.tensors[i];
    const uint64_t seed = options.seed;
    const int threads = options.n_threads;
    CHIMERA_RETURN_IF_ERROR(
        w.add_tensor(t.name, t.ne, t.type, [shared_plan, i, seed, threads](std::span<uint8_t> out) {
          return produce_tensor(shared_plan->tensors[i], shared_plan->shape, seed, threads, out);
        }));
  }
  if (options.progress) w.set_progress(options.progress);
  plan_out = std::move(plan);
  return w;
}

}  // namespace

Result<SynthPlan> synthesize_model(const SynthOptions& options, const std::string& path) {
  SynthPlan plan;
  CHIMERA_ASSIGN_OR_RETURN(GgufWriter w, build_writer(options, plan));
  CHIMERA_RETURN_IF_ERROR(w.write(path));
  return plan;
}

Result<std::vector<uint8_t>> synthesize_model_to_memory(const SynthOptions& options) {
  SynthPlan plan;
  CHIMERA_ASSIGN_OR_RETURN(GgufWriter w, build_writer(options, plan));
  return w.write_to_memory();
}

}  // namespace chimera::engine

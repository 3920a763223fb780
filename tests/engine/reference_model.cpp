#include "engine/reference_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "engine/gguf/gguf.h"
#include "engine/quant/quant.h"

namespace chimera::testing {
namespace {

// x rounded to the nearest IEEE half (ties to even), written out here so the reference does not use
// the engine's conversion and builds with compilers without _Float16 (clang 14 on x86).
double round_to_half(double x) {
  if (!std::isfinite(x) || x == 0.0) return x;
  int exponent = 0;
  std::frexp(x, &exponent);                              // |x| = m * 2^exponent, m in [0.5, 1)
  const int quantum_exp = std::max(exponent - 11, -24);  // 11 significant bits; subnormals: 2^-24
  const double quantum = std::ldexp(1.0, quantum_exp);
  const double rounded =
      std::nearbyint(x / quantum) * quantum;  // default mode: to nearest, ties even
  return std::fabs(rounded) > 65504.0 ? std::copysign(INFINITY, x) : rounded;
}

using engine::GgufFile;

Result<std::vector<float>> read_tensor(const GgufFile& file, const std::string& name, int64_t* rows,
                                       int64_t* cols, uint32_t* type = nullptr) {
  const engine::GgufTensorInfo* t = file.find_tensor(name);
  if (t == nullptr) return make_error(ErrorCode::kNotFound, "reference: tensor {} missing", name);
  if (type != nullptr) *type = static_cast<uint32_t>(t->type);
  *cols = t->ne[0];
  *rows = t->n_elements / t->ne[0];
  std::vector<float> out(static_cast<size_t>(t->n_elements));
  size_t row_bytes = *engine::ggml_row_bytes(t->type, *cols);
  for (int64_t r = 0; r < *rows; ++r) {
    engine::dequantize_row(t->type, t->data + static_cast<size_t>(r) * row_bytes,
                           &out[static_cast<size_t>(r * *cols)], *cols);
  }
  return out;
}

double gelu_tanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double silu(double x) { return x / (1.0 + std::exp(-x)); }
// gpt-oss (§5 step 7): gate clamped above at 7, up to [-7, 7], g * sigmoid(1.702 g) * (u + 1).
double swiglu_oai(double g, double u) {
  g = std::min(g, 7.0);
  u = std::clamp(u, -7.0, 7.0);
  return g / (1.0 + std::exp(-1.702 * g)) * (u + 1.0);
}

// Q8_0 (§2.3): per 32 values d = max|x|/127, q = round(x/d) (half away from zero), d stored as f16.
void round_q8_0(std::vector<double>& x) {
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0.0f;
    for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::abs(static_cast<float>(x[i])));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const double d16 = round_to_half(static_cast<double>(d));
    for (size_t i = b; i < b + 32; ++i) x[i] = std::round(static_cast<float>(x[i]) * id) * d16;
  }
}

// Q8_K (§2.3): per 256 values, iscale = -127/max from the signed value of largest magnitude,
// q = min(127, nearest(iscale x)), d = 1/iscale kept in f32.
void round_q8_k(std::vector<double>& x) {
  for (size_t b = 0; b < x.size(); b += 256) {
    float amax = 0.0f, max = 0.0f;
    for (size_t i = b; i < b + 256; ++i) {
      float v = static_cast<float>(x[i]);
      if (std::abs(v) > amax) {
        amax = std::abs(v);
        max = v;
      }
    }
    if (amax == 0.0f) {
      std::fill(x.begin() + static_cast<ptrdiff_t>(b), x.begin() + static_cast<ptrdiff_t>(b + 256),
                0.0);
      continue;
    }
    const float iscale = -127.0f / max;
    const double d = 1.0 / iscale;
    for (size_t i = b; i < b + 256; ++i) {
      float q = std::min(127.0f, std::nearbyint(iscale * static_cast<float>(x[i])));
      x[i] = q * static_cast<double>(static_cast<float>(d));
    }
  }
}

}  // namespace

Result<ReferenceModel> ReferenceModel::load(const std::string& path) {
  CHIMERA_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
  ReferenceModel m;
  CHIMERA_ASSIGN_OR_RETURN(auto arch, file.require_string("general.architecture"));
  m.gemma_ = arch == "gemma3";
  m.gpt_oss_ = arch == "gpt-oss";
  m.neox_ = m.gemma_ || m.gpt_oss_ || std::string_view(arch).starts_with("qwen");
  const std::string a = std::string(arch) + ".";
  CHIMERA_ASSIGN_OR_RETURN(int64_t n_embd, file.require_int(a + "embedding_length"));
  CHIMERA_ASSIGN_OR_RETURN(int64_t n_layer, file.require_int(a + "block_count"));
  CHIMERA_ASSIGN_OR_RETURN(int64_t n_head, file.require_int(a + "attention.head_count"));
  CHIMERA_ASSIGN_OR_RETURN(int64_t n_head_kv, file.require_int(a + "attention.head_count_kv"));
  CHIMERA_ASSIGN_OR_RETURN(int64_t head_dim, file.require_int(a + "attention.key_length"));
  CHIMERA_ASSIGN_OR_RETURN(m.eps_, file.require_float(a + "attention.layer_norm_rms_epsilon"));
  CHIMERA_ASSIGN_OR_RETURN(m.base_global_, file.require_float(a + "rope.freq_base"));
  m.n_embd_ = static_cast<int>(n_embd);
  m.n_head_ = static_cast<int>(n_head);
  m.n_head_kv_ = static_cast<int>(n_head_kv);
  m.head_dim_ = static_cast<int>(head_dim);
  if (auto factor = file.get_float(a + "rope.scaling.factor")) m.scale_global_ = 1.0 / *factor;
  if (file.get_string(a + "rope.scaling.type").value_or("") == "yarn") {
    // §5: the pair whose wavelength turns beta times in the original context, floored (beta 32)
    // and ceiled (beta 1).
    CHIMERA_ASSIGN_OR_RETURN(int64_t original,
                             file.require_int(a + "rope.scaling.original_context_length"));
    m.yarn_factor_ = 1.0 / m.scale_global_;
    auto dim = [&](double beta) {
      return static_cast<double>(head_dim) *
             std::log(static_cast<double>(original) / (2 * M_PI * beta)) /
             (2 * std::log(m.base_global_));
    };
    m.yarn_low_ = std::max(0.0, std::floor(dim(32)));
    m.yarn_high_ = std::min(static_cast<double>(head_dim - 1), std::ceil(dim(1)));
  }
  if (file.has(a + "expert_count")) {
    CHIMERA_ASSIGN_OR_RETURN(int64_t used, file.require_int(a + "expert_used_count"));
    m.n_expert_used_ = static_cast<int>(used);
  }
  std::vector<bool> pattern;
  if (m.gpt_oss_) {  // §5: window 128 on even layers unless the file states a period
    CHIMERA_ASSIGN_OR_RETURN(int64_t window, file.require_int(a + "attention.sliding_window"));
    m.window_ = static_cast<int>(window);
    m.base_local_ = m.base_global_;
    const int64_t period = file.get_int(a + "attention.sliding_window_pattern").value_or(2);
    for (int64_t i = 0; i < n_layer; ++i) pattern.push_back(i % period != period - 1);
  }
  if (m.gemma_) {
    CHIMERA_ASSIGN_OR_RETURN(int64_t window, file.require_int(a + "attention.sliding_window"));
    m.window_ = static_cast<int>(window);
    CHIMERA_ASSIGN_OR_RETURN(m.base_local_, file.require_float(a + "rope.local.freq_base"));
    if (file.has(a + "attention.sliding_window_pattern")) {
      CHIMERA_ASSIGN_OR_RETURN(pattern,
                               file.get_bool_array(a + "attention.sliding_window_pattern"));
    } else {
      for (int64_t i = 0; i < n_layer; ++i) pattern.push_back(i % 6 != 5);  // §3.1 step 5
    }
  }
  int64_t rows = 0, cols = 0;
  CHIMERA_ASSIGN_OR_RETURN(m.embd_.values, read_tensor(file, "token_embd.weight", &m.embd_.rows,
                                                       &m.embd_.cols, &m.embd_.type));
  m.n_vocab_ = static_cast<int>(m.embd_.rows);
  CHIMERA_ASSIGN_OR_RETURN(m.output_norm_, read_tensor(file, "output_norm.weight", &rows, &cols));
  if (file.find_tensor("output.weight") != nullptr) {
    CHIMERA_ASSIGN_OR_RETURN(m.output_.values, read_tensor(file, "output.weight", &m.output_.rows,
                                                           &m.output_.cols, &m.output_.type));
  } else {
    m.output_ = m.embd_;
  }
  if (file.find_tensor("rope_freqs.weight") != nullptr) {
    CHIMERA_ASSIGN_OR_RETURN(m.rope_freqs_, read_tensor(file, "rope_freqs.weight", &rows, &cols));
  }
  for (int64_t i = 0; i < n_layer; ++i) {
    Layer layer;
    auto name = [&](const char* part) { return fmt::format("blk.{}.{}.weight", i, part); };
    auto matrix = [&](const char* part, Matrix& out) -> Status {
      CHIMERA_ASSIGN_OR_RETURN(out.values,
                               read_tensor(file, name(part), &out.rows, &out.cols, &out.type));
      return Status::ok();
    };
    auto vector = [&](const char* part, std::vector<float>& out) -> Status {
      CHIMERA_ASSIGN_OR_RETURN(out, read_tensor(file, name(part), &rows, &cols));
      return Status::ok();
    };
    CHIMERA_RETURN_IF_ERROR(vector("attn_norm", layer.attn_norm));
    // gpt-oss's pre-FFN norm is stored as post_attention_norm (§5, pitfall 3).
    CHIMERA_RETURN_IF_ERROR(
        vector(m.gpt_oss_ ? "post_attention_norm" : "ffn_norm", layer.ffn_norm));
    CHIMERA_RETURN_IF_ERROR(matrix("attn_q", layer.wq));
    CHIMERA_RETURN_IF_ERROR(matrix("attn_k", layer.wk));
    CHIMERA_RETURN_IF_ERROR(matrix("attn_v", layer.wv));
    CHIMERA_RETURN_IF_ERROR(matrix("attn_output", layer.wo));
    // Each 3-D expert tensor {cols, rows, n_expert} split into its experts' slabs.
    auto experts = [&](const char* part, std::vector<Matrix>& out) -> Status {
      Matrix all;
      CHIMERA_RETURN_IF_ERROR(matrix(part, all));
      const int64_t n_expert = file.find_tensor(name(part))->ne[2];
      const int64_t rows_per = all.rows / n_expert;
      for (int64_t e = 0; e < n_expert; ++e) {
        Matrix one{rows_per, all.cols, {}, all.type};
        const auto slab = static_cast<ptrdiff_t>(rows_per * all.cols);
        one.values.assign(all.values.begin() + e * slab, all.values.begin() + (e + 1) * slab);
        out.push_back(std::move(one));
      }
      return Status::ok();
    };
    if (m.n_expert_used_ > 0) {
      CHIMERA_RETURN_IF_ERROR(matrix("ffn_gate_inp", layer.router));
      CHIMERA_RETURN_IF_ERROR(experts("ffn_gate_exps", layer.gate_exps));
      CHIMERA_RETURN_IF_ERROR(experts("ffn_up_exps", layer.up_exps));
      CHIMERA_RETURN_IF_ERROR(experts("ffn_down_exps", layer.down_exps));
    } else {
      CHIMERA_RETURN_IF_ERROR(matrix("ffn_gate", layer.gate));
      CHIMERA_RETURN_IF_ERROR(matrix("ffn_up", layer.up));
      CHIMERA_RETURN_IF_ERROR(matrix("ffn_down", layer.down));
    }
    if (file.find_tensor(fmt::format("blk.{}.attn_q.bias", i)) != nullptr) {
      for (auto [part, out] : {std::pair{"attn_q", &layer.bq}, std::pair{"attn_k", &layer.bk},
                               std::pair{"attn_v", &layer.bv}}) {
        CHIMERA_ASSIGN_OR_RETURN(
            *out, read_tensor(file, fmt::format("blk.{}.{}.bias", i, part), &rows, &cols));
      }
    }
    if (m.gpt_oss_) {
      auto bias = [&](const char* part, std::vector<float>& out) -> Status {
        CHIMERA_ASSIGN_OR_RETURN(
            out, read_tensor(file, fmt::format("blk.{}.{}.bias", i, part), &rows, &cols));
        return Status::ok();
      };
      // Per-expert biases {width, n_expert}: row e is expert e's.
      auto expert_bias = [&](const char* part, std::vector<std::vector<float>>& out) -> Status {
        std::vector<float> all;
        CHIMERA_RETURN_IF_ERROR(bias(part, all));
        for (int64_t e = 0; e < rows; ++e) {
          out.emplace_back(all.begin() + e * cols, all.begin() + (e + 1) * cols);
        }
        return Status::ok();
      };
      CHIMERA_RETURN_IF_ERROR(bias("attn_output", layer.bo));
      CHIMERA_RETURN_IF_ERROR(vector("attn_sinks", layer.sinks));
      CHIMERA_RETURN_IF_ERROR(bias("ffn_gate_inp", layer.router_bias));
      CHIMERA_RETURN_IF_ERROR(expert_bias("ffn_gate_exps", layer.gate_bias));
      CHIMERA_RETURN_IF_ERROR(expert_bias("ffn_up_exps", layer.up_bias));
      CHIMERA_RETURN_IF_ERROR(expert_bias("ffn_down_exps", layer.down_bias));
      layer.sliding = pattern[static_cast<size_t>(i)];
    }
    if (file.find_tensor(name("attn_q_norm")) != nullptr) {
      CHIMERA_RETURN_IF_ERROR(vector("attn_q_norm", layer.q_norm));
      CHIMERA_RETURN_IF_ERROR(vector("attn_k_norm", layer.k_norm));
    }
    if (m.gemma_) {
      CHIMERA_RETURN_IF_ERROR(vector("post_attention_norm", layer.post_attn_norm));
      CHIMERA_RETURN_IF_ERROR(vector("post_ffw_norm", layer.post_ffw_norm));
      layer.sliding = pattern[static_cast<size_t>(i)];
    }
    m.layers_.push_back(std::move(layer));
  }
  return m;
}

std::vector<double> ReferenceModel::matvec(const Matrix& m, const std::vector<double>& input) {
  std::vector<double> x = input;
  switch (static_cast<engine::GgmlType>(m.type)) {
    case engine::GgmlType::kQ4_0:
    case engine::GgmlType::kQ5_0:
    case engine::GgmlType::kQ8_0:
    // Q4_1 / Q5_1: ggml's Q8_1 activations, whose codes and d are Q8_0's (their sum term is exact
    // here, in double, as in the engine).
    case engine::GgmlType::kQ4_1:
    case engine::GgmlType::kQ5_1:
    case engine::GgmlType::kMXFP4:
      round_q8_0(x);
      break;
    case engine::GgmlType::kQ4_K:
    case engine::GgmlType::kQ5_K:
    case engine::GgmlType::kQ6_K:
      round_q8_k(x);
      break;
    default:
      break;
  }
  std::vector<double> y(static_cast<size_t>(m.rows));
  for (int64_t r = 0; r < m.rows; ++r) {
    double sum = 0.0;
    const float* row = &m.values[static_cast<size_t>(r * m.cols)];
    for (int64_t c = 0; c < m.cols; ++c) sum += row[c] * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = sum;
  }
  return y;
}

std::vector<double> ReferenceModel::rms_norm(const std::vector<double>& x,
                                             const std::vector<float>& w) const {
  double sum = 0.0;
  for (double v : x) sum += v * v;
  double scale = 1.0 / std::sqrt(sum / static_cast<double>(x.size()) + eps_);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
  return y;
}

// theta_i = p * scale * base^(-2i/d) / rope_freqs[i]; gemma and qwen rotate pairs (i, i + d/2)
// (NEOX), llama adjacent pairs (2i, 2i+1) (engine-reference.md §3.1 2d, §3.2 2;
// engine-reference-models.md §2).
void ReferenceModel::rope(std::vector<double>& head, int64_t pos, bool sliding) const {
  const int d = head_dim_;
  const double base = sliding ? base_local_ : base_global_;
  const double scale = sliding && !gpt_oss_ ? 1.0 : scale_global_;  // gpt-oss: YaRN everywhere
  double magnitude = 1.0;
  if (yarn_factor_ > 0) magnitude = 1.0 + 0.1 * std::log(yarn_factor_);
  for (int i = 0; i < d / 2; ++i) {
    const double extrapolated = static_cast<double>(pos) * std::pow(base, -2.0 * i / d);
    double theta = extrapolated * scale;
    if (yarn_factor_ > 0) {
      // Pairs below yarn_low keep the unscaled angle, above yarn_high the scaled one; linear
      // between.
      const double ramp =
          1.0 - std::clamp((i - yarn_low_) / std::max(0.001, yarn_high_ - yarn_low_), 0.0, 1.0);
      theta = theta * (1.0 - ramp) + extrapolated * ramp;
    }
    if (!rope_freqs_.empty()) theta /= rope_freqs_[static_cast<size_t>(i)];
    const size_t i0 = neox_ ? static_cast<size_t>(i) : static_cast<size_t>(2 * i);
    const size_t i1 = neox_ ? static_cast<size_t>(i + d / 2) : static_cast<size_t>(2 * i + 1);
    double x0 = head[i0], x1 = head[i1];
    const double c = std::cos(theta) * magnitude, s = std::sin(theta) * magnitude;
    head[i0] = x0 * c - x1 * s;
    head[i1] = x0 * s + x1 * c;
  }
}

std::vector<double> ReferenceModel::ffn(const Layer& layer, const std::vector<double>& x) const {
  std::vector<double> g = matvec(layer.gate, x), u = matvec(layer.up, x);
  for (size_t i = 0; i < g.size(); ++i) g[i] = (gemma_ ? gelu_tanh(g[i]) : silu(g[i])) * u[i];
  return matvec(layer.down, g);
}

// engine-reference-models.md §4: p = softmax(router logits) over every expert; the k largest p;
// weights p / (sum of the k); y = sum of weight * down(silu(gate x) * up x).
std::vector<double> ReferenceModel::moe(const Layer& layer, const std::vector<double>& x) const {
  std::vector<double> logits = matvec(layer.router, x);
  // gpt-oss (§5 step 6): the router bias joins the logits; the top k of them are then softmaxed,
  // which the normalized top-k of the full softmax below equals.
  for (size_t e = 0; e < layer.router_bias.size(); ++e) logits[e] += layer.router_bias[e];
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double total = 0.0;
  for (size_t e = 0; e < p.size(); ++e) total += (p[e] = std::exp(logits[e] - max_logit));
  for (double& v : p) v /= total;
  std::vector<size_t> order(p.size());
  for (size_t e = 0; e < order.size(); ++e) order[e] = e;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  double chosen = 0.0;
  for (int j = 0; j < n_expert_used_; ++j) chosen += p[order[static_cast<size_t>(j)]];
  if (static_cast<size_t>(n_expert_used_) < order.size()) {
    double sum_sq = 0.0;
    for (double l : logits) sum_sq += l * l;
    const double gap = logits[order[static_cast<size_t>(n_expert_used_ - 1)]] -
                       logits[order[static_cast<size_t>(n_expert_used_)]];
    min_routing_margin_ =
        std::min(min_routing_margin_, gap / std::sqrt(sum_sq / static_cast<double>(logits.size())));
  }
  std::vector<double> y(x.size(), 0.0);
  for (int j = 0; j < n_expert_used_; ++j) {
    const size_t e = order[static_cast<size_t>(j)];
    std::vector<double> g = matvec(layer.gate_exps[e], x), u = matvec(layer.up_exps[e], x);
    for (size_t i = 0; i < g.size(); ++i) {
      if (gpt_oss_) {
        g[i] = swiglu_oai(g[i] + layer.gate_bias[e][i], u[i] + layer.up_bias[e][i]);
      } else {
        g[i] = silu(g[i]) * u[i];
      }
    }
    std::vector<double> out = matvec(layer.down_exps[e], g);
    if (gpt_oss_) {
      for (size_t c = 0; c < out.size(); ++c) out[c] += layer.down_bias[e][c];
    }
    for (size_t c = 0; c < y.size(); ++c) y[c] += p[e] / chosen * out[c];
  }
  return y;
}

std::vector<std::vector<double>> ReferenceModel::forward(const std::vector<int32_t>& tokens) const {
  min_routing_margin_ = INFINITY;
  const size_t n = tokens.size();
  const size_t d = static_cast<size_t>(n_embd_);
  const size_t hd = static_cast<size_t>(head_dim_);
  std::vector<std::vector<double>> h(n, std::vector<double>(d));
  for (size_t t = 0; t < n; ++t) {
    const double scale = gemma_ ? std::sqrt(static_cast<double>(n_embd_)) : 1.0;
    for (size_t c = 0; c < d; ++c)
      h[t][c] = embd_.values[static_cast<size_t>(tokens[t]) * d + c] * scale;
  }
  for (const Layer& layer : layers_) {
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      std::vector<double> x = rms_norm(h[t], layer.attn_norm);
      q[t] = matvec(layer.wq, x);
      k[t] = matvec(layer.wk, x);
      v[t] = matvec(layer.wv, x);
      // qwen2: biases right after the projections, before QK-norm and RoPE.
      auto add_bias = [](std::vector<double>& y, const std::vector<float>& b) {
        for (size_t c = 0; c < b.size(); ++c) y[c] += b[c];
      };
      add_bias(q[t], layer.bq);
      add_bias(k[t], layer.bk);
      add_bias(v[t], layer.bv);
      auto per_head = [&](std::vector<double>& all, int heads, const std::vector<float>& norm) {
        for (int hh = 0; hh < heads; ++hh) {
          std::vector<double> head(all.begin() + static_cast<ptrdiff_t>(hh * hd),
                                   all.begin() + static_cast<ptrdiff_t>((hh + 1) * hd));
          if (!norm.empty()) head = rms_norm(head, norm);
          rope(head, static_cast<int64_t>(t), layer.sliding);
          std::copy(head.begin(), head.end(), all.begin() + static_cast<ptrdiff_t>(hh * hd));
        }
      };
      per_head(q[t], n_head_, layer.q_norm);
      per_head(k[t], n_head_kv_, layer.k_norm);
      // The KV cache holds f16 (llama.cpp's default, engine-reference.md §6.4).
      for (double& x : k[t]) x = round_to_half(x);
      for (double& x : v[t]) x = round_to_half(x);
    }
    const double qk_scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
    const int group = n_head_ / n_head_kv_;
    for (size_t t = 0; t < n; ++t) {
      std::vector<double> attn(static_cast<size_t>(n_head_) * hd, 0.0);
      for (int hh = 0; hh < n_head_; ++hh) {
        const size_t kvh = static_cast<size_t>(hh / group);
        std::vector<double> scores;
        std::vector<size_t> keys;
        for (size_t j = 0; j <= t; ++j) {
          if (layer.sliding && t - j >= static_cast<size_t>(window_)) continue;  // §3.1 2f
          double s = 0.0;
          for (size_t c = 0; c < hd; ++c)
            s += q[t][static_cast<size_t>(hh) * hd + c] * k[j][kvh * hd + c];
          scores.push_back(s * qk_scale);
          keys.push_back(j);
        }
        double max_score = *std::max_element(scores.begin(), scores.end());
        // gpt-oss: the head's sink logit joins the denominator only (§5 step 4).
        const double sink = layer.sinks.empty() ? -INFINITY : layer.sinks[static_cast<size_t>(hh)];
        max_score = std::max(max_score, sink);
        double sum = layer.sinks.empty() ? 0.0 : std::exp(sink - max_score);
        for (double& s : scores) sum += (s = std::exp(s - max_score));
        for (size_t i = 0; i < keys.size(); ++i) {
          for (size_t c = 0; c < hd; ++c) {
            attn[static_cast<size_t>(hh) * hd + c] += scores[i] / sum * v[keys[i]][kvh * hd + c];
          }
        }
      }
      std::vector<double> o = matvec(layer.wo, attn);
      for (size_t c = 0; c < layer.bo.size(); ++c) o[c] += layer.bo[c];
      if (gemma_) o = rms_norm(o, layer.post_attn_norm);
      for (size_t c = 0; c < d; ++c) h[t][c] += o[c];
      std::vector<double> x = rms_norm(h[t], layer.ffn_norm);
      std::vector<double> f = n_expert_used_ > 0 ? moe(layer, x) : ffn(layer, x);
      if (gemma_) f = rms_norm(f, layer.post_ffw_norm);
      for (size_t c = 0; c < d; ++c) h[t][c] += f[c];
    }
  }
  std::vector<std::vector<double>> logits(n);
  for (size_t t = 0; t < n; ++t) logits[t] = matvec(output_, rms_norm(h[t], output_norm_));
  return logits;
}

}  // namespace chimera::testing

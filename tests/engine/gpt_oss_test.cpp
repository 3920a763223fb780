// gpt-oss through the engine against the plain reference (reference_model.cpp), on the
// synthesizer's tiny gpt-oss (2 layers: layer 0 sliding, layer 1 global; 4 query heads on 2 KV
// heads; 4 experts, 2 routed, MXFP4 experts with biases; attention sinks; YaRN x32 from 256; router
// bias):
//  - a 160-token prompt with the real window (128), so the sliding layer masks keys the global one
//    attends, prefilled in one batch and decoded token by token (sinks merged in the tiled prefill
//    kernel and in the decode kernel);
//  - F32, F16 and Q8_0 non-expert weights (experts MXFP4 in every case, as the releases). With
//    Q8_0 (~1e-2 relative noise per layer, more where a path's prefill skips the Q8_0 rounding of
//    activations) one layer, whose router sees inputs only attention has touched, as
//    forward_test.cpp's qwen3moe; its window (8) is still shorter than the prompt (24).
// Tolerances as forward_test.cpp's for quantized weights (the experts are MXFP4 in every case,
// their activations rounded to Q8_0 in both): RMS < 3e-2 and max < 0.15 of the logits' RMS
// (measured on the scalar, AVX2 and AVX-512 paths: <= 0.047 max with float non-expert weights).
// Routing is discontinuous, so each case first checks that no routing decision is within rounding
// noise of a tie (the seed is picked for that, not for the result).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/model/synth.h"
#include "engine/reference_model.h"
#include "engine/tiny_model.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using chimera::testing::engine_logits;
using chimera::testing::ReferenceModel;
using chimera::testing::TempDir;

std::vector<int32_t> prompt_tokens(int n, int n_vocab) {
  std::vector<int32_t> tokens;
  uint32_t x = 777;
  for (int i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    tokens.push_back(static_cast<int32_t>((x >> 8) % static_cast<uint32_t>(n_vocab - 16)));
  }
  return tokens;
}

struct Errors {
  double rms = 0, max = 0;  // relative to the RMS of the reference logits
};
Errors errors(const std::vector<float>& engine, const std::vector<std::vector<double>>& ref) {
  double sum_sq = 0, err_sq = 0, max_err = 0;
  size_t count = 0;
  for (size_t t = 0; t < ref.size(); ++t) {
    for (size_t v = 0; v < ref[t].size(); ++v) {
      const double e = engine[t * ref[t].size() + v] - ref[t][v];
      sum_sq += ref[t][v] * ref[t][v];
      err_sq += e * e;
      max_err = std::max(max_err, std::abs(e));
      ++count;
    }
  }
  const double rms = std::sqrt(sum_sq / static_cast<double>(count));
  return {std::sqrt(err_sq / static_cast<double>(count)) / rms, max_err / rms};
}

struct Case {
  SynthFileType type;
  int n_tokens;
  int64_t window;
  uint64_t seed;
  int64_t layers = 0;  // 0: the preset's 2
};

class GptOssParity : public ::testing::TestWithParam<Case> {};

TEST_P(GptOssParity, PrefillAndDecodeLogitsMatchThePlainReference) {
  const Case& c = GetParam();
  TempDir dir;
  const std::string path = dir.file("gpt-oss.gguf");
  SynthOptions o;
  o.arch = "gpt-oss";
  o.size = "tiny";
  o.type = c.type;
  o.sliding_window = c.window;
  o.seed = c.seed;
  o.n_layers = c.layers;
  auto plan = synthesize_model(o, path);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ModelConfig& config = (*model)->config();
  ASSERT_EQ(config.layers[0].sliding_window, c.window);
  if (config.n_layer > 1) {
    ASSERT_EQ(config.layers[1].sliding_window, 0);
  }
  ASSERT_GT(c.n_tokens, c.window);  // the sliding layer drops keys the global one keeps
  auto reference = ReferenceModel::load(path);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();

  const auto tokens = prompt_tokens(c.n_tokens, config.n_vocab);
  const auto expected = reference->forward(tokens);
  const bool float_rest = c.type != SynthFileType::kQ8_0;
  ASSERT_GT(reference->min_routing_margin(), float_rest ? 1e-3 : 2e-2) << "pick another seed";
  for (int n_batch : {c.n_tokens, 1}) {
    const Errors e = errors(engine_logits(*model, tokens, n_batch, 2), expected);
    EXPECT_LT(e.rms, 3e-2) << "n_batch " << n_batch;
    EXPECT_LT(e.max, 0.15) << "n_batch " << n_batch;
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(synth_file_type_name(info.param.type)) + "_" +
         std::to_string(info.param.n_tokens) + "_tokens_window_" +
         std::to_string(info.param.window);
}

INSTANTIATE_TEST_SUITE_P(Tiny, GptOssParity,
                         ::testing::Values(Case{SynthFileType::kF32, 160, 128, 3},
                                           Case{SynthFileType::kF16, 160, 128, 3},
                                           Case{SynthFileType::kQ8_0, 24, 8, 3, 1}),
                         case_name);

}  // namespace
}  // namespace chimera::engine

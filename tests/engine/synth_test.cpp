// Synthesizer: preset shapes (checked against the public HF configs quoted in the task),
// llama.cpp's quantization mixture (expected types derived here from the rule text of
// engine-reference.md §2.4, not from synth's code), metadata, the dummy-weights mark, determinism
// and weight scales.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "engine/gguf/gguf.h"
#include "engine/model/synth.h"
#include "engine/quant/quant.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

SynthOptions options_for(std::string arch, std::string size, SynthFileType type,
                         std::string vocab = "synthetic:512") {
  SynthOptions o;
  o.arch = std::move(arch);
  o.size = std::move(size);
  o.type = type;
  o.vocab = std::move(vocab);
  return o;
}

struct Dims {
  int64_t layers, embd, heads, kv_heads, head_dim, ff, window, ctx;
};

void expect_dims(const SynthShape& s, const Dims& d) {
  EXPECT_EQ(s.n_layers, d.layers);
  EXPECT_EQ(s.d_model, d.embd);
  EXPECT_EQ(s.n_heads, d.heads);
  EXPECT_EQ(s.n_kv_heads, d.kv_heads);
  EXPECT_EQ(s.head_dim, d.head_dim);
  EXPECT_EQ(s.d_ff, d.ff);
  EXPECT_EQ(s.sliding_window, d.window);
  EXPECT_EQ(s.context_length, d.ctx);
}

SynthShape preset_shape(std::string arch, std::string size) {
  auto r = plan_synth(options_for(std::move(arch), std::move(size), SynthFileType::kQ8_0));
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r->shape : SynthShape{};
}

TEST(Synth, PresetsHaveTheRealShapes) {
  expect_dims(preset_shape("gemma3", "270m"), {18, 640, 4, 1, 256, 2048, 512, 32768});
  expect_dims(preset_shape("gemma3", "1b"), {26, 1152, 4, 1, 256, 6912, 512, 32768});
  SynthShape g4 = preset_shape("gemma3", "4b");
  expect_dims(g4, {34, 2560, 8, 4, 256, 10240, 1024, 131072});
  EXPECT_EQ(g4.rope_linear_factor, 8.0f);
  SynthShape l1 = preset_shape("llama", "3.2-1b");
  expect_dims(l1, {16, 2048, 32, 8, 64, 8192, 0, 131072});
  EXPECT_TRUE(l1.tied_output);
  EXPECT_EQ(l1.llama3_rope_factor, 32.0f);
  expect_dims(preset_shape("llama", "1b"),
              {16, 2048, 32, 8, 64, 8192, 0, 131072});  // alias of 3.2-1b
  SynthShape l8 = preset_shape("llama", "3.1-8b");
  expect_dims(l8, {32, 4096, 32, 8, 128, 14336, 0, 131072});
  EXPECT_FALSE(l8.tied_output);
  EXPECT_EQ(l8.llama3_rope_factor, 8.0f);
}

// engine-reference-models.md §7 (HF config.json of each release).
TEST(Synth, QwenPresetsHaveThePublishedShapes) {
  expect_dims(preset_shape("qwen2", "0.5b"), {24, 896, 14, 2, 64, 4864, 0, 32768});
  expect_dims(preset_shape("qwen2", "1.5b"), {28, 1536, 12, 2, 128, 8960, 0, 32768});
  SynthShape q7 = preset_shape("qwen2", "7b");
  expect_dims(q7, {28, 3584, 28, 4, 128, 18944, 0, 32768});
  EXPECT_FALSE(q7.tied_output);
  EXPECT_TRUE(q7.qkv_bias);
  SynthShape q06 = preset_shape("qwen3", "0.6b");
  expect_dims(q06, {28, 1024, 16, 8, 128, 3072, 0, 40960});
  EXPECT_TRUE(q06.tied_output);
  EXPECT_TRUE(q06.qk_norm);
  EXPECT_FALSE(q06.qkv_bias);
  expect_dims(preset_shape("qwen3", "1.7b"), {28, 2048, 16, 8, 128, 6144, 0, 40960});
  expect_dims(preset_shape("qwen3", "4b"), {36, 2560, 32, 8, 128, 9728, 0, 40960});
  EXPECT_FALSE(preset_shape("qwen3", "8b").tied_output);
  SynthShape moe = preset_shape("qwen3moe", "30b-a3b");
  expect_dims(moe, {48, 2048, 32, 4, 128, 6144, 0, 40960});
  EXPECT_EQ(moe.n_expert, 128);
  EXPECT_EQ(moe.n_expert_used, 8);
  EXPECT_EQ(moe.n_ff_expert, 768);
  EXPECT_EQ(moe.rope_base, 1e6f);
}

// With the real vocabulary (151643 pieces + added tokens, padded to the embedding's rows as the
// converter pads it), the parameter counts are the published ones: Qwen2.5 0.49B / 7.61B, Qwen3
// 0.6B / 4.0B / 8.2B, Qwen3-30B-A3B 30.5B total.
TEST(Synth, QwenWithTheRealVocabularyHasThePublishedParameterCounts) {
  const std::string dir = testing::vocab_dir_if_present();
  if (dir.empty() || !std::filesystem::exists(dir + "/qwen3/tokenizer.json")) {
    GTEST_SKIP() << "qwen vocabularies not fetched (scripts/fetch-vocab.sh)";
  }
  const std::tuple<const char*, const char*, int64_t, double> cases[] = {
      {"qwen2", "0.5b", 151936, 0.49}, {"qwen2", "7b", 152064, 7.62},
      {"qwen3", "0.6b", 151936, 0.60}, {"qwen3", "4b", 151936, 4.02},
      {"qwen3", "8b", 151936, 8.19},   {"qwen3moe", "30b-a3b", 151936, 30.53}};
  for (auto [arch, size, rows, billions] : cases) {
    SynthOptions o = options_for(arch, size, SynthFileType::kQ8_0, "");
    o.vocab_dir = dir;
    VocabData vocab;
    auto plan = plan_synth_with_vocab(o, &vocab);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    EXPECT_EQ(plan->shape.n_vocab, rows) << arch << " " << size;
    EXPECT_EQ(vocab.tokens.back(), fmt::format("[PAD{}]", rows - 1));
    EXPECT_EQ(vocab.pre, "qwen2");
    EXPECT_EQ(vocab.tokens[static_cast<size_t>(vocab.bos_id)], "<|endoftext|>");
    EXPECT_NEAR(double(plan->parameter_count) / 1e9, billions, 0.01) << arch << " " << size;
  }
}

// gpt-oss-20b (engine-reference-models.md §7): the published shapes and 20.9 B parameters with the
// real o200k_harmony vocabulary padded to 201088 rows; experts MXFP4 (with the default mixture
// MXFP4_MOE and with any other file type), biases and sinks F32, the rest Q8_0.
TEST(Synth, GptOss20bHasThePublishedShapesAndParameterCount) {
  SynthShape s = preset_shape("gpt-oss", "20b");
  expect_dims(s, {24, 2880, 64, 8, 64, 2880, 128, 131072});
  EXPECT_EQ(s.n_expert, 32);
  EXPECT_EQ(s.n_expert_used, 4);
  EXPECT_EQ(s.n_ff_expert, 2880);
  EXPECT_EQ(s.rope_base, 150000.0f);
  EXPECT_EQ(s.yarn_factor, 32.0f);
  EXPECT_EQ(s.yarn_original_ctx, 4096);
  EXPECT_FALSE(s.tied_output);
  const std::string dir = testing::vocab_dir_if_present();
  if (dir.empty() || !std::filesystem::exists(dir + "/gptoss/tokenizer.json")) {
    GTEST_SKIP() << "gptoss vocabulary not fetched (scripts/fetch-vocab.sh)";
  }
  for (SynthFileType ft : {SynthFileType::kMXFP4_MOE, SynthFileType::kQ4_K_M}) {
    SynthOptions o = options_for("gpt-oss", "20b", ft, "");
    o.vocab_dir = dir;
    VocabData vocab;
    auto plan = plan_synth_with_vocab(o, &vocab);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    EXPECT_EQ(plan->shape.n_vocab, 201088);
    EXPECT_EQ(vocab.pre, "gpt-4o");
    EXPECT_NEAR(double(plan->parameter_count) / 1e9, 20.91, 0.05);
    for (const SynthTensor& t : plan->tensors) {
      if (t.ne.size() == 3) {
        EXPECT_EQ(t.type, GgmlType::kMXFP4) << t.name;
      } else if (t.name.ends_with(".bias") || t.ne.size() == 1 ||
                 t.name.find("ffn_gate_inp") != std::string::npos) {
        EXPECT_EQ(t.type, GgmlType::kF32) << t.name;
      } else if (ft == SynthFileType::kMXFP4_MOE) {
        EXPECT_EQ(t.type, GgmlType::kQ8_0) << t.name;
      }
    }
  }
}

TEST(Synth, ExplicitDimsOverrideThePreset) {
  SynthOptions o = options_for("gemma3", "1b", SynthFileType::kF16);
  o.n_layers = 3;
  o.d_model = 256;
  o.d_ff = 512;
  o.n_heads = 4;
  o.n_kv_heads = 2;
  o.head_dim = 64;
  o.context_length = 1024;
  o.sliding_window = 128;
  auto r = plan_synth(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_dims(r->shape, {3, 256, 4, 2, 64, 512, 128, 1024});
  EXPECT_NE(r->shape.display_name.find("dummy weights"), std::string::npos);
  EXPECT_NE(r->shape.display_name.find("custom"), std::string::npos);
}

TEST(Synth, RejectsBadOptionsWithClearMessages) {
  auto err = [](SynthOptions o) {
    auto r = plan_synth(o);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(err(options_for("mistral", "1b", SynthFileType::kQ8_0)).find("--arch mistral"),
            std::string::npos);
  EXPECT_NE(err(options_for("gemma3", "7b", SynthFileType::kQ8_0)).find("270m, 1b, 4b"),
            std::string::npos);
  SynthOptions heads = options_for("llama", "tiny", SynthFileType::kQ8_0);
  heads.n_heads = 6;
  heads.n_kv_heads = 4;
  EXPECT_NE(err(heads).find("multiple of --kv-heads 4"), std::string::npos);
  SynthOptions odd = options_for("llama", "tiny", SynthFileType::kQ8_0);
  odd.d_model = 100;
  EXPECT_NE(err(odd).find("multiples of 32"), std::string::npos);
  EXPECT_NE(
      err(options_for("llama", "tiny", SynthFileType::kQ8_0, "synthetic:abc")).find("synthetic"),
      std::string::npos);
  EXPECT_NE(err(options_for("llama", "tiny", SynthFileType::kQ8_0, "klingon")).find("klingon"),
            std::string::npos);
  SynthOptions missing = options_for("gemma3", "tiny", SynthFileType::kQ8_0, "gemma3");
  missing.vocab_dir = "/nonexistent-vocab-dir";
  EXPECT_NE(err(missing).find("fetch-vocab.sh"), std::string::npos);
}

// --- The mixture rule, restated from engine-reference.md §2.4 and the task text ---------------
bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

GgmlType fallback_for_row(GgmlType t, int64_t ne0) {
  if (t == GgmlType::kQ4_K && ne0 % 256 != 0) return GgmlType::kQ5_0;
  if (t == GgmlType::kQ5_K && ne0 % 256 != 0) return GgmlType::kQ5_1;
  if (t == GgmlType::kQ6_K && ne0 % 256 != 0) return GgmlType::kQ8_0;
  return t;
}

GgmlType expected_type(SynthFileType ft, const std::string& name, const std::vector<int64_t>& ne,
                       int n_layers, bool has_output) {
  if (ne.size() == 1) return GgmlType::kF32;  // norms, biases and rope_freqs
  // engine-reference-models.md §8: the MoE router is never quantized.
  if (name.find("ffn_gate_inp") != std::string::npos) return GgmlType::kF32;
  switch (ft) {
    case SynthFileType::kF32:
      return GgmlType::kF32;
    case SynthFileType::kF16:
      return GgmlType::kF16;
    case SynthFileType::kBF16:
      return GgmlType::kBF16;
    default:
      break;
  }
  const bool output_role = name == "output.weight" || (!has_output && name == "token_embd.weight");
  if (ft == SynthFileType::kQ8_0) return GgmlType::kQ8_0;
  if (output_role) return fallback_for_row(GgmlType::kQ6_K, ne[0]);
  if (ft == SynthFileType::kQ4_0) return GgmlType::kQ4_0;
  if (ft == SynthFileType::kQ4_1) return GgmlType::kQ4_1;
  if (ft == SynthFileType::kQ5_1) return GgmlType::kQ5_1;
  if (ft == SynthFileType::kQ6_K) return fallback_for_row(GgmlType::kQ6_K, ne[0]);
  int layer = -1;
  std::sscanf(name.c_str(), "blk.%d.", &layer);
  // A name substring (§8): ffn_down_exps takes ffn_down's per-layer bumps.
  const bool v_or_down =
      name.find(".attn_v.") != std::string::npos || name.find(".ffn_down") != std::string::npos;
  // Q4_K_M and Q5_K_M: the same bumps over a Q4_K or Q5_K base.
  const GgmlType base = ft == SynthFileType::kQ5_K_M ? GgmlType::kQ5_K : GgmlType::kQ4_K;
  GgmlType t = v_or_down && more_bits(layer, n_layers) ? GgmlType::kQ6_K : base;
  return fallback_for_row(t, ne[0]);
}

void expect_mixture(const SynthPlan& plan, SynthFileType ft) {
  bool has_output = false;
  for (const auto& t : plan.tensors) has_output |= t.name == "output.weight";
  for (const auto& t : plan.tensors) {
    EXPECT_EQ(ggml_type_name(t.type),
              ggml_type_name(expected_type(ft, t.name, t.ne, int(plan.shape.n_layers), has_output)))
        << t.name << " in " << synth_file_type_name(ft);
  }
}

TEST(Synth, MixtureFollowsLlamaCppRulesForEveryTypeAndPreset) {
  const SynthFileType types[] = {
      SynthFileType::kF32,    SynthFileType::kF16,  SynthFileType::kBF16, SynthFileType::kQ8_0,
      SynthFileType::kQ4_0,   SynthFileType::kQ4_1, SynthFileType::kQ5_1, SynthFileType::kQ4_K_M,
      SynthFileType::kQ5_K_M, SynthFileType::kQ6_K};
  const std::pair<const char*, const char*> presets[] = {
      {"gemma3", "270m"},     {"gemma3", "1b"},    {"gemma3", "4b"},  {"gemma3", "tiny"},
      {"llama", "3.2-1b"},    {"llama", "3.1-8b"}, {"llama", "tiny"}, {"qwen2", "0.5b"},
      {"qwen2", "7b"},        {"qwen3", "0.6b"},   {"qwen3", "8b"},   {"qwen3moe", "tiny"},
      {"qwen3moe", "30b-a3b"}};
  for (auto [arch, size] : presets) {
    for (SynthFileType ft : types) {
      auto plan = plan_synth(options_for(arch, size, ft));
      ASSERT_TRUE(plan.ok()) << plan.status().message();
      expect_mixture(*plan, ft);
    }
  }
}

TEST(Synth, Gemma3FourBQ4KMMatchesTheOllamaFile) {
  // engine-reference.md §2.4: gemma3:4b Q4_K_M has Q6_K attn_v/ffn_down on layers 0-3, 6, 9, ...,
  // 27, 29-33, Q4_K elsewhere, token_embd Q6_K, norms F32.
  auto plan = plan_synth(options_for("gemma3", "4b", SynthFileType::kQ4_K_M));
  ASSERT_TRUE(plan.ok());
  std::set<int> six_bit = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 29, 30, 31, 32, 33};
  std::map<std::string, GgmlType> types;
  for (const auto& t : plan->tensors) types[t.name] = t.type;
  EXPECT_EQ(types["token_embd.weight"], GgmlType::kQ6_K);
  EXPECT_EQ(types.count("output.weight"), 0u);
  for (int i = 0; i < 34; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const GgmlType want = six_bit.count(i) ? GgmlType::kQ6_K : GgmlType::kQ4_K;
    EXPECT_EQ(types[b + "attn_v.weight"], want) << i;
    EXPECT_EQ(types[b + "ffn_down.weight"], want) << i;
    EXPECT_EQ(types[b + "attn_q.weight"], GgmlType::kQ4_K);
    EXPECT_EQ(types[b + "attn_output.weight"], GgmlType::kQ4_K);
    EXPECT_EQ(types[b + "attn_norm.weight"], GgmlType::kF32);
  }
}

TEST(Synth, Gemma3OneBRowsOf1152FallBack) {
  // d_model 1152 is not a multiple of 256: Q4_K -> Q5_0, Q6_K -> Q8_0 (llama-quant.cpp fallback).
  auto plan = plan_synth(options_for("gemma3", "1b", SynthFileType::kQ4_K_M));
  ASSERT_TRUE(plan.ok());
  std::map<std::string, GgmlType> types;
  for (const auto& t : plan->tensors) types[t.name] = t.type;
  EXPECT_EQ(types["token_embd.weight"], GgmlType::kQ8_0);
  EXPECT_EQ(types["blk.5.attn_q.weight"], GgmlType::kQ5_0);
  EXPECT_EQ(types["blk.0.attn_v.weight"], GgmlType::kQ8_0);  // more bits, then fallback
  EXPECT_EQ(types["blk.4.attn_v.weight"], GgmlType::kQ5_0);
  EXPECT_EQ(types["blk.5.attn_output.weight"], GgmlType::kQ4_K);  // rows of 4x256 = 1024
  EXPECT_EQ(types["blk.0.ffn_down.weight"], GgmlType::kQ6_K);     // rows of 6912 = 27x256
  EXPECT_EQ(types["blk.4.ffn_down.weight"], GgmlType::kQ4_K);
}

TEST(Synth, Qwen25HalfBQ5KMRowsOf896FallBackToQ5_1) {
  // The file the engine used to refuse: d_model 896 is not a multiple of 256, so llama-quantize's
  // Q5_K_M writes Q5_1 (from Q5_K) and Q8_0 (from Q6_K) for every 896-wide row
  // (engine-reference-models.md §8); ffn_down rows of 4864 = 19 x 256 keep the K-quants.
  auto plan = plan_synth(options_for("qwen2", "0.5b", SynthFileType::kQ5_K_M));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  std::map<std::string, GgmlType> types;
  for (const auto& t : plan->tensors) types[t.name] = t.type;
  EXPECT_EQ(types["token_embd.weight"], GgmlType::kQ8_0);  // tied output: Q6_K, then fallback
  EXPECT_EQ(types["blk.3.attn_q.weight"], GgmlType::kQ5_1);
  EXPECT_EQ(types["blk.3.attn_k.weight"], GgmlType::kQ5_1);
  EXPECT_EQ(types["blk.3.attn_v.weight"], GgmlType::kQ5_1);
  EXPECT_EQ(types["blk.0.attn_v.weight"], GgmlType::kQ8_0);  // more bits, then fallback
  EXPECT_EQ(types["blk.3.attn_output.weight"], GgmlType::kQ5_1);
  EXPECT_EQ(types["blk.3.ffn_gate.weight"], GgmlType::kQ5_1);
  EXPECT_EQ(types["blk.3.ffn_up.weight"], GgmlType::kQ5_1);
  EXPECT_EQ(types["blk.3.ffn_down.weight"], GgmlType::kQ5_K);
  EXPECT_EQ(types["blk.0.ffn_down.weight"], GgmlType::kQ6_K);
  EXPECT_EQ(types["blk.3.attn_q.bias"], GgmlType::kF32);
  EXPECT_EQ(llama_ftype_of(SynthFileType::kQ5_K_M), 17u);
  EXPECT_EQ(synth_file_type_from_name("Q5_K_M"), SynthFileType::kQ5_K_M);
  EXPECT_EQ(synth_file_type_from_name("q4_1"), SynthFileType::kQ4_1);
  EXPECT_EQ(synth_file_type_from_name("q5_1"), SynthFileType::kQ5_1);
  EXPECT_EQ(llama_ftype_of(SynthFileType::kQ4_1), 3u);
  EXPECT_EQ(llama_ftype_of(SynthFileType::kQ5_1), 9u);
}

TEST(Synth, Llama31EightBQ4_0KeepsEmbeddingAndQuantizesOutputQ6K) {
  auto plan = plan_synth(options_for("llama", "3.1-8b", SynthFileType::kQ4_0));
  ASSERT_TRUE(plan.ok());
  std::map<std::string, const SynthTensor*> by_name;
  for (const auto& t : plan->tensors) by_name[t.name] = &t;
  EXPECT_EQ(by_name["token_embd.weight"]->type, GgmlType::kQ4_0);
  EXPECT_EQ(by_name["output.weight"]->type, GgmlType::kQ6_K);
  EXPECT_EQ(by_name["rope_freqs.weight"]->ne, (std::vector<int64_t>{64}));
  EXPECT_EQ(by_name["rope_freqs.weight"]->type, GgmlType::kF32);
  int f32 = 0;
  for (const auto& t : plan->tensors) f32 += t.type == GgmlType::kF32;
  EXPECT_EQ(f32, 65 + 1);  // 2 norms x 32 layers + output_norm, + rope_freqs
  EXPECT_EQ(plan->tensors.size(), 32u * 9 + 4);
  const uint64_t v = uint64_t(plan->shape.n_vocab);
  const uint64_t per_layer =
      4096ull * 4096 * 2 + 4096ull * 1024 * 2 + 3ull * 4096 * 14336 + 2 * 4096;
  EXPECT_EQ(plan->parameter_count, 32 * per_layer + 4096 + 64 + 2 * 4096 * v);
}

TEST(Synth, Llama31EightBWithRealVocabularyHas8Point03BParameters) {
  const std::string dir = testing::vocab_dir_if_present();
  if (dir.empty()) GTEST_SKIP() << "vocabularies not fetched (scripts/fetch-vocab.sh)";
  SynthOptions o = options_for("llama", "3.1-8b", SynthFileType::kQ4_0, "llama3_1");
  o.vocab_dir = dir;
  auto plan = plan_synth(o);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->shape.n_vocab, 128256);
  // llama-bench names llama3.1:8b-instruct-q4_0 "llama 8B Q4_0", 8.03 B params, 4.33 GiB.
  EXPECT_NEAR(double(plan->parameter_count) / 1e9, 8.03, 0.005);
  EXPECT_NEAR(double(plan->tensor_bytes) / (1ull << 30), 4.33, 0.01);
}

TEST(Synth, Llama3RopeFactorsFollowTheConverterFormula) {
  // Head dim 128, base 500000, factor 8, low 1, high 4, original context 8192 (Llama 3.1).
  std::vector<float> f = llama3_rope_factors(128, 500000.0f, 8.0f, 1.0f, 4.0f, 8192);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_EQ(f.front(), 1.0f);  // wavelength 2*pi < 8192/4: unchanged
  EXPECT_EQ(f.back(), 8.0f);   // wavelength > 8192: divided by the factor
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);
  // A middle frequency, computed by hand: pair 32 (dim 64): freq = 500000^(-64/128) = 1/707.107,
  // wavelength = 2*pi*707.107 = 4442.88, between 8192/4 and 8192 -> smooth = (8192/4442.88 - 1)/3
  // = 0.281283, divisor = 1 / ((1 - smooth)/8 + smooth) = 2.69452.
  EXPECT_NEAR(f[32], 2.69452f, 1e-4f);
  EXPECT_EQ(f[28], 1.0f);  // dim 56: wavelength 2030 < 2048
  EXPECT_EQ(f[35], 8.0f);  // dim 70: wavelength 8230 > 8192
}

// --- Files -------------------------------------------------------------------------------------
struct Synthesized {
  std::vector<uint8_t> bytes;
  std::optional<GgufFile> file;
};

Synthesized synth_tiny(const std::string& arch, SynthFileType ft, uint64_t seed = 42) {
  SynthOptions o = options_for(arch, "tiny", ft);
  o.seed = seed;
  Synthesized s;
  auto bytes = synthesize_model_to_memory(o);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  if (!bytes.ok()) return s;
  s.bytes = std::move(bytes).value();
  auto parsed = GgufFile::parse(s.bytes, arch + "-tiny.gguf");
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  if (parsed.ok()) s.file.emplace(std::move(parsed).value());
  return s;
}

std::vector<float> dequantize(const GgufTensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements));
  const size_t row_bytes = *ggml_row_bytes(t.type, t.ne[0]);
  for (int64_t r = 0; r < t.rows(); ++r) {
    dequantize_row(t.type, t.data + r * row_bytes, out.data() + r * t.ne[0], t.ne[0]);
  }
  return out;
}

TEST(Synth, WrittenFileRereadsWithPlanShapesMetadataAndMark) {
  for (const char* arch : {"gemma3", "llama"}) {
    for (SynthFileType ft :
         {SynthFileType::kF32, SynthFileType::kF16, SynthFileType::kBF16, SynthFileType::kQ8_0,
          SynthFileType::kQ4_0, SynthFileType::kQ4_1, SynthFileType::kQ5_1, SynthFileType::kQ4_K_M,
          SynthFileType::kQ5_K_M, SynthFileType::kQ6_K}) {
      SCOPED_TRACE(std::string(arch) + " " + std::string(synth_file_type_name(ft)));
      auto plan = plan_synth(options_for(arch, "tiny", ft));
      ASSERT_TRUE(plan.ok());
      Synthesized s = synth_tiny(arch, ft);
      ASSERT_TRUE(s.file.has_value());
      const GgufFile& g = *s.file;
      ASSERT_EQ(g.tensors().size(), plan->tensors.size());
      for (const auto& t : plan->tensors) {
        const GgufTensorInfo* info = g.find_tensor(t.name);
        ASSERT_NE(info, nullptr) << t.name;
        EXPECT_EQ(info->ne, t.ne) << t.name;
        EXPECT_EQ(info->type, t.type) << t.name;
      }
      const std::string a = arch;
      EXPECT_EQ(g.get_string("general.architecture"), a);
      EXPECT_NE(g.get_string("general.name")->find("dummy weights"), std::string::npos);
      EXPECT_EQ(g.find("chimera.synthetic")->type, GgufValueType::kBool);
      EXPECT_EQ(g.get_bool("chimera.synthetic"), true);
      EXPECT_EQ(g.get_int("general.file_type"), int64_t(llama_ftype_of(ft)));
      const bool quantized =
          ft != SynthFileType::kF32 && ft != SynthFileType::kF16 && ft != SynthFileType::kBF16;
      EXPECT_EQ(g.get_int("general.quantization_version"),
                quantized ? std::optional<int64_t>(2) : std::nullopt);
      EXPECT_EQ(g.get_int(a + ".block_count"), 2);
      EXPECT_EQ(g.get_int(a + ".embedding_length"), 128);
      EXPECT_EQ(g.get_int(a + ".attention.key_length"), plan->shape.head_dim);
      EXPECT_TRUE(g.get_float(a + ".attention.layer_norm_rms_epsilon").has_value());
      EXPECT_TRUE(g.get_float(a + ".rope.freq_base").has_value());
      auto tokens = g.get_string_array("tokenizer.ggml.tokens");
      ASSERT_TRUE(tokens.ok());
      EXPECT_EQ(int64_t(tokens->size()), g.find_tensor("token_embd.weight")->ne[1]);
      EXPECT_EQ(g.get_string("tokenizer.ggml.model"), a == "gemma3" ? "llama" : "gpt2");
      if (a == "gemma3") {
        EXPECT_EQ(g.get_int("gemma3.attention.sliding_window"), 64);
      } else {
        EXPECT_EQ(g.get_int("llama.vocab_size"), int64_t(tokens->size()));
        EXPECT_EQ(g.get_int("llama.rope.dimension_count"), 32);
      }
    }
  }
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherWeights) {
  Synthesized a = synth_tiny("llama", SynthFileType::kQ4_K_M, 7);
  Synthesized b = synth_tiny("llama", SynthFileType::kQ4_K_M, 7);
  Synthesized c = synth_tiny("llama", SynthFileType::kQ4_K_M, 8);
  EXPECT_EQ(a.bytes, b.bytes);
  ASSERT_EQ(a.bytes.size(), c.bytes.size());
  EXPECT_NE(a.bytes, c.bytes);
  // The thread count does not change the output.
  SynthOptions o = options_for("llama", "tiny", SynthFileType::kQ4_K_M);
  o.seed = 7;
  o.n_threads = 1;
  auto single = synthesize_model_to_memory(o);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(*single, a.bytes);
}

TEST(Synth, WeightScalesKeepActivationsNearUnitScale) {
  Synthesized s = synth_tiny("gemma3", SynthFileType::kF32);
  ASSERT_TRUE(s.file.has_value());
  for (const auto& t : s.file->tensors()) {
    std::vector<float> w = dequantize(t);
    double sum = 0, sum_sq = 0;
    for (float v : w) {
      ASSERT_TRUE(std::isfinite(v)) << t.name;
      sum += v;
      sum_sq += double(v) * v;
    }
    const double mean = sum / w.size();
    const double stddev = std::sqrt(sum_sq / w.size() - mean * mean);
    if (t.ne.size() == 1) {  // norms: near 1 (Gemma GGUFs store 1 + w)
      EXPECT_NEAR(mean, 1.0, 0.01) << t.name;
      EXPECT_LT(stddev, 0.05) << t.name;
    } else {  // projections: variance 1/fan_in, so W x keeps the scale of x
      EXPECT_NEAR(mean, 0.0, 0.02) << t.name;
      EXPECT_NEAR(stddev * std::sqrt(double(t.ne[0])), 1.0, 0.1) << t.name;
    }
  }
  // One projection applied to a unit-RMS vector gives a unit-RMS result (within sampling noise).
  const GgufTensorInfo* q = s.file->find_tensor("blk.1.attn_q.weight");
  std::vector<float> w = dequantize(*q);
  double out_sq = 0;
  for (int64_t r = 0; r < q->rows(); ++r) {
    double acc = 0;
    for (int64_t c = 0; c < q->ne[0]; ++c) acc += w[r * q->ne[0] + c] * ((c % 2) ? 1.0 : -1.0);
    out_sq += acc * acc;
  }
  EXPECT_NEAR(std::sqrt(out_sq / q->rows()), 1.0, 0.25);
}

TEST(Synth, QuantizedWeightsDequantizeCloseToTheF32Weights) {
  Synthesized f = synth_tiny("llama", SynthFileType::kF32);
  Synthesized q = synth_tiny("llama", SynthFileType::kQ8_0);
  ASSERT_TRUE(f.file && q.file);
  std::vector<float> a = dequantize(*f.file->find_tensor("blk.0.ffn_up.weight"));
  std::vector<float> b = dequantize(*q.file->find_tensor("blk.0.ffn_up.weight"));
  ASSERT_EQ(a.size(), b.size());
  double err = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err += (a[i] - b[i]) * double(a[i] - b[i]);
    ref += double(a[i]) * a[i];
  }
  EXPECT_LT(std::sqrt(err / ref), 0.01);  // Q8_0 keeps ~8 bits
}

TEST(Synth, RealGemmaVocabularyGivesTheRealTokenCountAndSpecialIds) {
  const std::string dir = testing::vocab_dir_if_present();
  if (dir.empty()) GTEST_SKIP() << "vocabularies not fetched (scripts/fetch-vocab.sh)";
  testing::TempDir tmp;
  SynthOptions o = options_for("gemma3", "tiny", SynthFileType::kQ8_0, "gemma3");
  o.vocab_dir = dir;
  auto plan = synthesize_model(o, tmp.file("g.gguf"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto g = GgufFile::open(tmp.file("g.gguf"));
  ASSERT_TRUE(g.ok()) << g.status().message();
  auto tokens = g->get_string_array("tokenizer.ggml.tokens").value();
  EXPECT_EQ(tokens.size(), 262144u);
  EXPECT_EQ(tokens[105], "<start_of_turn>");
  EXPECT_EQ(tokens[106], "<end_of_turn>");
  EXPECT_EQ(g->get_int("tokenizer.ggml.bos_token_id"), 2);
  EXPECT_EQ(g->find_tensor("token_embd.weight")->ne[1], 262144);
}

}  // namespace
}  // namespace chimera::engine

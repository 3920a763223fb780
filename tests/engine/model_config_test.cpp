// Model::load as a user meets it: the configuration read from metadata, the quirks of Ollama-made
// files fixed (and said so in load_notes), and bad files refused with messages that name the
// problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/engine.h"
#include "engine/gguf/gguf.h"
#include "engine/model/model_config.h"
#include "engine/model/synth.h"
#include "engine/tiny_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using chimera::testing::TempDir;
using chimera::testing::TinyModelSpec;
using ::testing::HasSubstr;

Result<std::shared_ptr<const Model>> load(const TinyModelSpec& spec, TempDir& dir) {
  const std::string path = dir.file("m.gguf");
  Status s = write_tiny_model(spec, path);
  if (!s.is_ok()) return s;
  return Model::load(path);
}

// What a token reads from a file whose MoE layers route 2 of 4 experts: every 2-D matrix but the
// embedding (one row of it) and biases (kept as f32 vectors), half of each 3-D expert tensor.
uint64_t decode_bytes_of_2_of_4_experts(const std::string& path) {
  auto file = GgufFile::open(path);
  EXPECT_TRUE(file.ok());
  if (!file.ok()) return 0;
  uint64_t expected = 0;
  for (const auto& t : file->tensors()) {
    if (t.ne.size() == 3) {
      expected += t.n_bytes / 4 * 2;
    } else if (t.name == "token_embd.weight") {
      expected += t.n_bytes / static_cast<uint64_t>(t.ne[1]);
    } else if (t.ne.size() == 2 && !t.name.ends_with(".bias")) {
      expected += t.n_bytes;
    }
  }
  return expected;
}

bool has_note(const Model& m, std::string_view text) {
  for (const auto& n : m.info().load_notes) {
    if (n.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(ModelConfig, Gemma3ConfigurationComesFromMetadata) {
  TempDir dir;
  TinyModelSpec spec;  // gemma3, pattern local/global/local/global, window 8
  spec.rope_base = 1e6f;
  spec.rope_base_local = 10000.0f;
  spec.rope_scale_linear = 8.0f;
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.architecture, "gemma3");
  EXPECT_EQ(c.n_embd, 256);
  EXPECT_EQ(c.n_layer, 4);
  EXPECT_EQ(c.n_vocab, 384);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.activation, Activation::kGeluTanh);
  EXPECT_EQ(c.rope_style, RopeStyle::kNeox);
  EXPECT_FLOAT_EQ(c.embedding_scale, 16.0f);   // sqrt(256)
  EXPECT_FLOAT_EQ(c.attention_scale, 0.125f);  // 1/sqrt(64)
  EXPECT_TRUE(c.tied_output);
  ASSERT_EQ(c.layers.size(), 4u);
  EXPECT_EQ(c.layers[0].sliding_window, 8);
  EXPECT_EQ(c.layers[1].sliding_window, 0);
  EXPECT_FLOAT_EQ(c.layers[0].rope.freq_base, 10000.0f);
  EXPECT_FLOAT_EQ(c.layers[0].rope.freq_scale, 1.0f);  // local layers are not scaled
  EXPECT_FLOAT_EQ(c.layers[1].rope.freq_base, 1e6f);
  EXPECT_FLOAT_EQ(c.layers[1].rope.freq_scale, 0.125f);
  for (const auto& l : c.layers) {
    EXPECT_EQ(l.n_head, 4);
    EXPECT_EQ(l.n_head_kv, 2);
    EXPECT_TRUE(l.qk_norm && l.post_attention_norm && l.post_ffn_norm);
  }
  EXPECT_TRUE((*model)->info().load_notes.empty());
  EXPECT_TRUE((*model)->info().synthetic);
}

// engine-reference-models.md §2-§4: NEOX rope over the whole head, SiLU, no embedding scale; qwen2
// adds q/k/v biases (read from the file's tensors), qwen3 QK-norm with key_length (not
// n_embd / n_head) as the head dimension, qwen3moe routed experts.
TEST(ModelConfig, QwenConfigurationsComeFromMetadata) {
  for (const char* arch : {"qwen2", "qwen3", "qwen3moe"}) {
    TempDir dir;
    TinyModelSpec spec;
    spec.arch = arch;
    spec.rope_base = 1e6f;
    spec.head_dim = 128;  // 4 heads x 128 != n_embd 256
    auto model = load(spec, dir);
    ASSERT_TRUE(model.ok()) << arch << ": " << model.status().to_string();
    const ModelConfig& c = (*model)->config();
    EXPECT_EQ(c.architecture, arch);
    EXPECT_EQ(c.rope_style, RopeStyle::kNeox);
    EXPECT_EQ(c.activation, Activation::kSilu);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.n_rot, 128);
    EXPECT_FLOAT_EQ(c.embedding_scale, 1.0f);
    EXPECT_FLOAT_EQ(c.attention_scale, 1.0f / std::sqrt(128.0f));
    EXPECT_EQ((*model)->chat_family(),
              std::string(arch) == "qwen2" ? ChatFamily::kQwen2 : ChatFamily::kQwen3);
    for (const auto& l : c.layers) {
      EXPECT_FLOAT_EQ(l.rope.freq_base, 1e6f);
      EXPECT_EQ(l.qkv_bias, std::string(arch) == "qwen2") << arch;
      EXPECT_EQ(l.qk_norm, std::string(arch) != "qwen2") << arch;
      EXPECT_FALSE(l.post_attention_norm || l.post_ffn_norm || l.is_sliding());
      EXPECT_EQ(l.is_moe(), std::string(arch) == "qwen3moe") << arch;
      if (l.is_moe()) {
        EXPECT_EQ(l.moe.n_expert, 4);
        EXPECT_EQ(l.moe.n_expert_used, 2);
        EXPECT_EQ(l.moe.n_ff_expert, 256);
      }
    }
  }
}

// The decode roofline's numerator: a token reads the attention and router matrices, only its routed
// experts' slabs (2 of 4 here), the LM head and one embedding row.
TEST(ModelConfig, QwenMoeDecodeReadsOnlyTheRoutedExperts) {
  TempDir dir;
  TinyModelSpec spec;
  spec.arch = "qwen3moe";
  spec.untied_output = true;
  const std::string path = dir.file("moe.gguf");
  ASSERT_TRUE(write_tiny_model(spec, path).is_ok());
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const uint64_t expected = decode_bytes_of_2_of_4_experts(path);
  EXPECT_EQ((*model)->info().decode_bytes_per_token, expected);
  EXPECT_LT(expected, (*model)->info().weight_bytes);
}

// gpt-oss (engine-reference-models.md §5) with the published head dim (64), rope base, YaRN factor
// and original context: the ramp bounds llama.cpp rounds to (8, 18), mscale 1 + 0.1 ln 32, the
// window on even layers only, sinks, biases, the pre-FFN norm read from post_attention_norm, and a
// token's decode bytes counting 2 of the 4 experts' slabs.
TEST(ModelConfig, GptOssConfigurationComesFromMetadata) {
  TempDir dir;
  SynthOptions o;
  o.arch = "gpt-oss";
  o.size = "tiny";
  o.head_dim = 64;
  const std::string path = dir.file("gpt-oss.gguf");
  ASSERT_TRUE(synthesize_model(o, path).ok());
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.architecture, "gpt-oss");
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.rope_style, RopeStyle::kNeox);
  EXPECT_EQ(c.activation, Activation::kSwigluOai);
  EXPECT_EQ(c.ffn_norm_tensor, "post_attention_norm");
  EXPECT_FALSE(c.tied_output);
  EXPECT_FLOAT_EQ(c.attention_scale, 0.125f);
  for (int i = 0; i < 2; ++i) {
    const LayerConfig& l = c.layers[static_cast<size_t>(i)];
    EXPECT_EQ(l.sliding_window, i == 0 ? 128 : 0) << i;
    EXPECT_EQ(l.rope.freq_base, 150000.0f);
    EXPECT_FLOAT_EQ(l.rope.freq_scale, 1.0f / 32);
    EXPECT_TRUE(l.rope.yarn);
    EXPECT_EQ(l.rope.yarn_low, 8.0f);
    EXPECT_EQ(l.rope.yarn_high, 18.0f);
    EXPECT_NEAR(l.rope.mscale, 1.0 + 0.1 * std::log(32.0), 1e-6);
    EXPECT_TRUE(l.attn_sinks && l.output_bias && l.moe.biases && l.qkv_bias);
    EXPECT_FALSE(l.post_attention_norm);
    EXPECT_EQ(l.moe.n_expert, 4);
    EXPECT_EQ(l.moe.n_expert_used, 2);
  }
  const uint64_t expected = decode_bytes_of_2_of_4_experts(path);
  EXPECT_EQ((*model)->info().decode_bytes_per_token, expected);
}

TEST(ModelConfig, QwenMoeFilesMissingExpertKeysOrTensorsAreRefused) {
  TempDir dir;
  TinyModelSpec spec;
  spec.arch = "qwen3moe";
  spec.omit_keys = {"qwen3moe.expert_count"};
  auto model = load(spec, dir);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("qwen3moe.expert_count"));

  spec.omit_keys = {"qwen3moe.expert_feed_forward_length"};  // falls back to ff / used
  spec.n_ff = 512;
  spec.n_ff_expert = 256;
  auto fallback = load(spec, dir);
  ASSERT_TRUE(fallback.ok()) << fallback.status().to_string();
  EXPECT_EQ((*fallback)->config().layers[0].moe.n_ff_expert, 256);

  spec.omit_keys.clear();
  spec.omit_tensors = {"blk.1.ffn_up_exps.weight"};
  auto missing = load(spec, dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("blk.1.ffn_up_exps.weight is missing"));
  EXPECT_THAT(missing.status().message(), HasSubstr("[256, 256, 4]"));
}

TEST(ModelConfig, Gemma3WithoutAPatternHasEverySixthLayerGlobal) {
  TempDir dir;
  TinyModelSpec spec;
  spec.n_layer = 12;
  spec.sliding_pattern.clear();
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ((*model)->config().layers[static_cast<size_t>(i)].is_sliding(), i != 5 && i != 11)
        << i;
  }
}

TEST(ModelConfig, LlamaConfigurationComesFromMetadata) {
  TempDir dir;
  TinyModelSpec spec;
  spec.arch = "llama";
  spec.untied_output = true;
  spec.rope_freqs = true;
  spec.rope_base = 500000.0f;
  spec.eps = 1e-5f;
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.activation, Activation::kSilu);
  EXPECT_EQ(c.rope_style, RopeStyle::kNormal);
  EXPECT_FLOAT_EQ(c.embedding_scale, 1.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_FALSE(c.tied_output);
  EXPECT_FALSE(c.any_sliding());
  for (const auto& l : c.layers) {
    EXPECT_FALSE(l.qk_norm || l.post_attention_norm || l.post_ffn_norm);
    EXPECT_TRUE(l.rope.use_freq_factors);
    EXPECT_FLOAT_EQ(l.rope.freq_base, 500000.0f);
  }
}

TEST(ModelConfig, OllamaGemma3OmissionsAreFilledAndReported) {
  TempDir dir;
  TinyModelSpec spec;
  spec.context_length = 131072;  // a 4B/12B/27B-style file without rope scaling keys
  spec.omit_keys = {"gemma3.attention.layer_norm_rms_epsilon", "gemma3.rope.freq_base"};
  spec.extra = [](GgufWriter& w) { w.set_f32("gemma3.final_logit_softcapping", 30.0f); };
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ModelConfig& c = (*model)->config();
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.layers[1].rope.freq_base, 1e6f);
  EXPECT_FLOAT_EQ(c.layers[1].rope.freq_scale, 0.125f);
  EXPECT_FLOAT_EQ(c.layers[0].rope.freq_scale, 1.0f);
  EXPECT_EQ(c.final_logit_softcap, 0.0f);
  EXPECT_TRUE(has_note(**model, "layer_norm_rms_epsilon missing"));
  EXPECT_TRUE(has_note(**model, "rope.freq_base missing"));
  EXPECT_TRUE(has_note(**model, "linear factor 8 injected"));
  EXPECT_TRUE(has_note(**model, "final_logit_softcapping 30 ignored"));
}

TEST(ModelConfig, Gemma3OneBStyleFileGetsNoRopeScaling) {
  TempDir dir;
  TinyModelSpec spec;
  spec.context_length = 32768;
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_FLOAT_EQ((*model)->config().layers[1].rope.freq_scale, 1.0f);
  EXPECT_FALSE(has_note(**model, "injected"));
}

TEST(ModelConfig, GlobalRopeBaseMayComeFromTheGlobalKey) {
  TempDir dir;
  TinyModelSpec spec;
  spec.omit_keys = {"gemma3.rope.freq_base"};
  spec.extra = [](GgufWriter& w) { w.set_f32("gemma3.rope.global.freq_base", 250000.0f); };
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_FLOAT_EQ((*model)->config().layers[1].rope.freq_base, 250000.0f);
  EXPECT_TRUE(has_note(**model, "rope.global.freq_base"));
}

TEST(ModelConfig, VocabularyLongerThanTheEmbeddingIsTruncated) {
  TempDir dir;
  TinyModelSpec spec;
  spec.edit_vocab = [](VocabData& v) {
    v.tokens.push_back("<image_soft_token>");
    v.scores.push_back(0.0f);
    v.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  };
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->tokenizer().n_vocab(), 384);
  EXPECT_FALSE((*model)->tokenizer().find_token("<image_soft_token>").has_value());
  EXPECT_TRUE(has_note(**model, "385 tokens but token_embd has 384 rows"));
}

TEST(ModelConfig, VisionTensorsAreSkipped) {
  TempDir dir;
  TinyModelSpec spec;
  spec.extra = [](GgufWriter& w) {
    w.set_u32("gemma3.mm.tokens_per_image", 256);
    (void)w.add_tensor("v.patch_embd.weight", {32, 4}, GgmlType::kF32,
                       std::vector<uint8_t>(32 * 4 * 4));
    (void)w.add_tensor("mm.input_projection.weight", {32, 4}, GgmlType::kF32,
                       std::vector<uint8_t>(32 * 4 * 4));
  };
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_TRUE(has_note(**model, "2 vision tensors"));
}

TEST(ModelConfig, Llama3EndOfTextIsReplacedByEotId) {
  TempDir dir;
  TinyModelSpec spec;
  spec.arch = "llama";
  spec.edit_vocab = [](VocabData& v) {  // as some Ollama blobs: EOS <|end_of_text|>, no pre
    v.eos_id = v.bos_id + 1;
    v.eot_id = -1;
    v.pre.clear();
  };
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const Tokenizer& tok = (*model)->tokenizer();
  const int32_t eot = *tok.find_token("<|eot_id|>");
  EXPECT_EQ(tok.eos_id(), eot);
  EXPECT_TRUE(tok.is_end_of_generation(eot));
  EXPECT_TRUE(tok.is_end_of_generation(*tok.find_token("<|end_of_text|>")));
  EXPECT_EQ(tok.vocab().pre, "llama-bpe");
  EXPECT_TRUE(has_note(**model, "EOS/EOT set to <|eot_id|>"));
}

TEST(ModelInfo, DescribesTheModelForBenchmarkRows) {
  TempDir dir;
  TinyModelSpec spec;
  spec.type = GgmlType::kQ8_0;
  auto model = load(spec, dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ModelInfo& info = (*model)->info();
  EXPECT_EQ(info.architecture, "gemma3");
  EXPECT_EQ(info.weight_type, "Q8_0 (guessed)");  // the tiny file has no general.file_type
  // Parameters counted from the shapes by hand: embedding 384x256, output norm 256, and per layer
  // q 256x256, k 256x128, v 256x128, o 256x256, gate/up 256x512 each, down 512x256, norms 4x256 +
  // 2x64.
  const uint64_t per_layer = 65536 + 32768 + 32768 + 65536 + 3 * 131072 + 4 * 256 + 2 * 64;
  EXPECT_EQ(info.n_params, 384u * 256 + 256 + 4 * per_layer);
  // Bytes read per decoded token: Q8_0 is 34 bytes per 32 values. Layer matrices + tied head + 1
  // row.
  const uint64_t matrix_values = 4 * (65536 + 32768 + 32768 + 65536 + 3 * 131072);
  EXPECT_EQ(info.decode_bytes_per_token, (matrix_values + 384 * 256 + 256) / 32 * 34);
  EXPECT_EQ(info.size_label, "2M");  // 2,462,464 parameters
}

TEST(ModelLoad, UnknownArchitectureIsRefusedNamingWhatIsSupported) {
  TempDir dir;
  TinyModelSpec spec;
  spec.extra = [](GgufWriter& w) { w.set_string("general.architecture", "mamba"); };
  spec.omit_keys = {"general.architecture"};
  auto model = load(spec, dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(model.status().message(), HasSubstr("'mamba'"));
  EXPECT_THAT(model.status().message(),
              HasSubstr("gemma3, llama, qwen2, qwen3, qwen3moe, gpt-oss"));
}

TEST(ModelLoad, MissingTensorIsNamed) {
  TempDir dir;
  TinyModelSpec spec;
  spec.omit_tensors = {"blk.2.ffn_up.weight"};
  auto model = load(spec, dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(model.status().message(), HasSubstr("blk.2.ffn_up.weight"));
}

TEST(ModelLoad, UnsupportedTensorTypeIsNamedWithTheSupportedList) {
  TempDir dir;
  TinyModelSpec spec;
  spec.omit_tensors = {"blk.0.attn_q.weight"};
  spec.extra = [](GgufWriter& w) {
    // Q2_K (no kernels here): 84 bytes per 256 values; 256 x 256.
    (void)w.add_tensor("blk.0.attn_q.weight", {256, 256}, GgmlType::kQ2_K,
                       std::vector<uint8_t>(84 * 256));
  };
  auto model = load(spec, dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(model.status().message(), HasSubstr("blk.0.attn_q.weight has type Q2_K"));
  EXPECT_THAT(model.status().message(), HasSubstr("Q4_K"));
}

TEST(ModelLoad, MissingFileIsAnErrorNamingThePath) {
  auto model = Model::load("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("/nonexistent/dir/model.gguf"));
}

TEST(ModelLoad, TruncatedFileIsAnError) {
  TempDir dir;
  const std::string path = dir.file("m.gguf");
  ASSERT_TRUE(write_tiny_model(TinyModelSpec{}, path).is_ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  auto model = Model::load(path);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr(path));
}

// A file cut inside a Q5_1 tensor's data (a Qwen2.5 0.5B Q5_K_M file holds them) fails like any
// other truncated file: the path, the tensor, its bytes, and the word truncated.
TEST(ModelLoad, TruncatedQ5_1TensorIsNamed) {
  TempDir dir;
  const std::string path = dir.file("q5_1.gguf");
  TinyModelSpec spec;
  spec.type = GgmlType::kQ5_1;
  ASSERT_TRUE(write_tiny_model(spec, path).is_ok());
  std::string last_name;
  uint64_t cut = 0, last_bytes = 0;
  {
    auto file = GgufFile::open(path);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    uint64_t last_end = 0;
    for (const GgufTensorInfo& t : file->tensors()) {  // the Q5_1 tensor that ends last
      if (t.type == GgmlType::kQ5_1 && t.offset + t.n_bytes > last_end) {
        last_end = t.offset + t.n_bytes;
        last_name = t.name;
        last_bytes = t.n_bytes;
        cut = file->data_offset() + t.offset + t.n_bytes / 2;
      }
    }
    const GgufTensorInfo* last = file->find_tensor(last_name);
    ASSERT_NE(last, nullptr);
    ASSERT_EQ(last->type, GgmlType::kQ5_1) << last_name;
  }
  std::filesystem::resize_file(path, cut);
  auto model = Model::load(path);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr(path));
  EXPECT_THAT(model.status().message(), HasSubstr("tensor " + last_name));
  EXPECT_THAT(model.status().message(), HasSubstr(std::to_string(last_bytes) + " bytes"));
  EXPECT_THAT(model.status().message(), HasSubstr("truncated"));
}

TEST(ModelLoad, NotAGgufFileIsAnError) {
  TempDir dir;
  const std::string path = dir.file("notes.gguf");
  std::ofstream(path) << "this is not a model";
  auto model = Model::load(path);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr(path));
}

}  // namespace
}  // namespace chimera::engine

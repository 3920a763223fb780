// Synthesizer planning: size presets (real shapes from the public HF configs), dimension overrides,
// the tensor list of each architecture and llama.cpp's per-tensor quantization mixture.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "engine/model/synth.h"
#include "engine/tokenizer/tokenizer.h"
#include "util/paths.h"
#include "util/strings.h"

namespace chimera::engine {
namespace {

struct Preset {
  std::string_view arch, name, size_label;
  int64_t n_layers, d_model, d_ff, n_heads, n_kv_heads, head_dim, context_length, sliding_window;
  bool tied_output;
  float rms_eps, rope_base, rope_linear_factor, llama3_rope_factor;
  int64_t vocab_rows = 0;  // token_embd rows when the model pads its vocabulary (Qwen); 0: as is
  int64_t n_expert = 0, n_expert_used = 0, n_ff_expert = 0;  // mixture of experts; 0: dense
  float yarn_factor = 0;  // YaRN rope scaling from yarn_original_ctx; 0: none
  int64_t yarn_original_ctx = 0;
};

// Gemma 3: google/gemma-3-{270m,1b-it,4b-it} config.json (4b: text_config, rope_scaling linear 8 on
// global layers). Llama: meta-llama/Llama-3.2-1B and Llama-3.1-8B config.json (rope_scaling llama3,
// factor 32 and 8, original context 8192). Qwen: Qwen2.5-{0.5B,1.5B,7B}-Instruct, Qwen3-{0.6B,1.7B,
// 4B,8B} and Qwen3-30B-A3B config.json (engine-reference-models.md §7; d_ff of 30b-a3b is the dense
// key the file carries, each expert is 768 wide). "tiny" shapes are for fast tests.
constexpr Preset kPresets[] = {
    {"gemma3", "270m", "270M", 18, 640, 2048, 4, 1, 256, 32768, 512, true, 1e-6f, 1e6f, 0, 0},
    {"gemma3", "1b", "1B", 26, 1152, 6912, 4, 1, 256, 32768, 512, true, 1e-6f, 1e6f, 0, 0},
    {"gemma3", "4b", "4B", 34, 2560, 10240, 8, 4, 256, 131072, 1024, true, 1e-6f, 1e6f, 8, 0},
    {"gemma3", "tiny", "tiny", 2, 128, 256, 2, 1, 64, 4096, 64, true, 1e-6f, 1e6f, 0, 0},
    {"llama", "3.2-1b", "1B", 16, 2048, 8192, 32, 8, 64, 131072, 0, true, 1e-5f, 500000, 0, 32},
    {"llama", "3.1-8b", "8B", 32, 4096, 14336, 32, 8, 128, 131072, 0, false, 1e-5f, 500000, 0, 8},
    {"llama", "tiny", "tiny", 2, 128, 256, 4, 2, 32, 4096, 0, false, 1e-5f, 500000, 0, 8},
    {"qwen2", "0.5b", "0.5B", 24, 896, 4864, 14, 2, 64, 32768, 0, true, 1e-6f, 1e6f, 0, 0, 151936},
    {"qwen2", "1.5b", "1.5B", 28, 1536, 8960, 12, 2, 128, 32768, 0, true, 1e-6f, 1e6f, 0, 0,
     151936},
    {"qwen2", "7b", "7B", 28, 3584, 18944, 28, 4, 128, 32768, 0, false, 1e-6f, 1e6f, 0, 0, 152064},
    {"qwen2", "tiny", "tiny", 2, 128, 256, 4, 2, 32, 4096, 0, true, 1e-6f, 1e6f, 0, 0},
    {"qwen3", "0.6b", "0.6B", 28, 1024, 3072, 16, 8, 128, 40960, 0, true, 1e-6f, 1e6f, 0, 0,
     151936},
    {"qwen3", "1.7b", "1.7B", 28, 2048, 6144, 16, 8, 128, 40960, 0, true, 1e-6f, 1e6f, 0, 0,
     151936},
    {"qwen3", "4b", "4B", 36, 2560, 9728, 32, 8, 128, 40960, 0, true, 1e-6f, 1e6f, 0, 0, 151936},
    {"qwen3", "8b", "8B", 36, 4096, 12288, 32, 8, 128, 40960, 0, false, 1e-6f, 1e6f, 0, 0, 151936},
    {"qwen3", "tiny", "tiny", 2, 128, 256, 4, 2, 64, 4096, 0, true, 1e-6f, 1e6f, 0, 0},
    {"qwen3moe", "30b-a3b", "30B-A3B", 48,   2048, 6144, 32,     4,   128, 40960,
     0,          false,     1e-6f,     1e6f, 0,    0,    151936, 128, 8,   768},
    {"qwen3moe", "tiny", "tiny", 2,    128, 256, 4, 2, 32, 4096,
     0,          false,  1e-6f,  1e6f, 0,   0,   0, 4, 2,  64},
    // openai/gpt-oss-20b config.json (engine-reference-models.md §7): every expert 2880 wide, head
    // dim 64 (not 2880/64), YaRN x32 from 4096, sliding window 128 on even layers.
    {"gpt-oss", "20b", "20B",  24, 2880, 2880,   64, 8, 64,   131072, 128,
     false,     1e-5f, 150000, 0,  0,    201088, 32, 4, 2880, 32,     4096},
    {"gpt-oss", "tiny", "tiny", 2, 128, 128, 4, 2, 32, 4096, 128,
     false,     1e-5f,  150000, 0, 0,   0,   4, 2, 64, 32,   4096},
};

// What the synthesizer writes per architecture beyond the shared tensors: the family's name, its
// vocabulary (fetched package and synthetic shape) and the per-layer extras.
struct ArchSynth {
  std::string_view arch, family, vocab, synthetic_family;
  bool qk_norm, qkv_bias, sandwich_norms;
  bool gpt_oss = false;  // sinks, o / router / expert biases, post_attention_norm pre-FFN, MXFP4
};
constexpr ArchSynth kArchSynth[] = {
    {"gemma3", "Gemma 3", "gemma3", "gemma3", true, false, true},
    {"llama", "Llama", "llama3_1", "llama", false, false, false},
    {"qwen2", "Qwen2.5", "qwen2_5", "qwen", false, true, false},
    {"qwen3", "Qwen3", "qwen3", "qwen", true, false, false},
    {"qwen3moe", "Qwen3", "qwen3", "qwen", true, false, false},
    {"gpt-oss", "gpt-oss", "gptoss", "gptoss", false, true, false, true},
};

const ArchSynth* arch_synth(std::string_view arch) {
  for (const auto& a : kArchSynth) {
    if (a.arch == arch) return &a;
  }
  return nullptr;
}

std::string arch_list() {
  std::string out;
  for (const auto& a : kArchSynth) {
    if (!out.empty()) out += ", ";
    out += a.arch;
  }
  return out;
}

// The fetched vocabularies (scripts/fetch-vocab.sh) and the BOS id each model's converter writes
// from config.json when tokenizer_config.json names none (Qwen: <|endoftext|>, never prepended).
struct VocabSpec {
  std::string_view name, bos_text;
};
constexpr VocabSpec kVocabs[] = {
    {"gemma3", ""},
    {"llama3_1", ""},
    {"llama3", ""},
    {"qwen3", "<|endoftext|>"},
    {"qwen2_5", "<|endoftext|>"},
    {"gptoss", "<|startoftext|>"},
};

constexpr int64_t kMinSyntheticVocab = 320;

std::string preset_list(std::string_view arch) {
  std::string out;
  for (const auto& p : kPresets) {
    if (p.arch != arch) continue;
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

bool is_quantized_default(SynthFileType type) {
  return type != SynthFileType::kF32 && type != SynthFileType::kF16 && type != SynthFileType::kBF16;
}

GgmlType default_type(SynthFileType type) {
  switch (type) {
    case SynthFileType::kF32:
      return GgmlType::kF32;
    case SynthFileType::kF16:
      return GgmlType::kF16;
    case SynthFileType::kBF16:
      return GgmlType::kBF16;
    case SynthFileType::kQ8_0:
      return GgmlType::kQ8_0;
    case SynthFileType::kQ4_0:
      return GgmlType::kQ4_0;
    case SynthFileType::kQ4_K_M:
      return GgmlType::kQ4_K;
    case SynthFileType::kQ6_K:
      return GgmlType::kQ6_K;
    case SynthFileType::kQ4_1:
      return GgmlType::kQ4_1;
    case SynthFileType::kQ5_1:
      return GgmlType::kQ5_1;
    case SynthFileType::kQ5_K_M:
      return GgmlType::kQ5_K;
    case SynthFileType::kMXFP4_MOE:
      return GgmlType::kQ8_0;
  }
  return GgmlType::kF32;
}

int64_t block_size(GgmlType type) { return ggml_type_info(type).block_size; }

bool ends_with_name(std::string_view name, std::string_view suffix) {
  return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
}

// llama-quant.cpp use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

// llama.cpp's weight_name_comparer: tensors outside blocks first (by name), then by block, then
// name.
int block_of(std::string_view name) {
  int layer = -1;
  if (name.substr(0, 4) == "blk.") std::sscanf(std::string(name).c_str(), "blk.%d.", &layer);
  return layer;
}

Result<VocabData> load_vocab(const SynthOptions& options, const ArchSynth& arch,
                             const std::string& size) {
  std::string spec = options.vocab;
  if (spec.empty()) spec = size == "tiny" ? "synthetic:512" : std::string(arch.vocab);
  if (starts_with(spec, "synthetic:")) {
    std::optional<int64_t> n = parse_int(spec.substr(10));
    if (!n || *n < kMinSyntheticVocab || *n > (int64_t{1} << 22)) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "--vocab {}: the synthetic vocabulary size must be an integer from {} to {}", spec,
          kMinSyntheticVocab, int64_t{1} << 22);
    }
    return synthetic_vocab(arch.synthetic_family, static_cast<int32_t>(*n));
  }
  const VocabSpec* known = nullptr;
  std::string names;
  for (const auto& v : kVocabs) {
    if (v.name == spec) known = &v;
    names += std::string(v.name) + ", ";
  }
  if (known == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "--vocab {} is not known; use {}or synthetic:N",
                      spec, names);
  }
  const std::string dir = options.vocab_dir.empty() ? vocab_dir() : options.vocab_dir;
  const std::string path = dir + "/" + spec + "/tokenizer.json";
  auto vocab = import_hf_tokenizer_json(path);
  if (!vocab.ok()) {
    if (vocab.status().code() == ErrorCode::kNotFound) {
      return make_error(ErrorCode::kNotFound,
                        "the {} vocabulary is not installed ({} is missing); run "
                        "scripts/fetch-vocab.sh, or use --vocab synthetic:N",
                        spec, path);
    }
    return vocab.status();
  }
  if (!known->bos_text.empty() && vocab->bos_id < 0) {
    for (size_t i = 0; i < vocab->tokens.size(); ++i) {
      if (vocab->tokens[i] == known->bos_text) vocab->bos_id = static_cast<int32_t>(i);
    }
  }
  return vocab;
}

// Pads the token list to the embedding's rows as the converter does: [PAD{i}], type UNUSED.
void pad_vocab(VocabData& vocab, int64_t rows) {
  while (static_cast<int64_t>(vocab.tokens.size()) < rows) {
    const size_t i = vocab.tokens.size();
    vocab.tokens.push_back(fmt::format("[PAD{}]", i));
    if (!vocab.token_types.empty())
      vocab.token_types.push_back(static_cast<int32_t>(TokenType::kUnused));
    if (!vocab.scores.empty()) vocab.scores.push_back(0.0f);
  }
}

Status check_dims(const SynthShape& s) {
  auto positive = [](int64_t v) { return v > 0; };
  if (!positive(s.n_layers) || !positive(s.d_model) || !positive(s.d_ff) || !positive(s.n_heads) ||
      !positive(s.n_kv_heads) || !positive(s.head_dim) || !positive(s.context_length)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "every dimension must be positive (layers {}, embd {}, ff {}, heads {}, kv "
                      "heads {}, head dim {}, ctx {})",
                      s.n_layers, s.d_model, s.d_ff, s.n_heads, s.n_kv_heads, s.head_dim,
                      s.context_length);
  }
  if (s.n_layers > 1024 || s.d_model > 65536 || s.d_ff > 262144 || s.n_heads > 1024 ||
      s.head_dim > 1024) {
    return make_error(ErrorCode::kInvalidArgument,
                      "dimensions are implausibly large (layers {}, embd {}, ff {}, heads {}, head "
                      "dim {}); limits are 1024, 65536, 262144, 1024, 1024",
                      s.n_layers, s.d_model, s.d_ff, s.n_heads, s.head_dim);
  }
  if (s.n_heads % s.n_kv_heads != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--heads {} must be a multiple of --kv-heads {} (grouped-query attention)",
                      s.n_heads, s.n_kv_heads);
  }
  // Every row length must be a multiple of 32 so that every mixture has a valid block type.
  if (s.d_model % 32 != 0 || s.d_ff % 32 != 0 || (s.n_heads * s.head_dim) % 32 != 0 ||
      s.head_dim % 2 != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--embd {}, --ff {} and heads x head-dim {} must be multiples of 32 (quant "
                      "block size), and --head-dim {} even",
                      s.d_model, s.d_ff, s.n_heads * s.head_dim, s.head_dim);
  }
  return Status::ok();
}

}  // namespace

std::optional<SynthFileType> synth_file_type_from_name(std::string_view name) {
  const std::string n = to_lower(name);
  if (n == "f32") return SynthFileType::kF32;
  if (n == "f16") return SynthFileType::kF16;
  if (n == "bf16") return SynthFileType::kBF16;
  if (n == "q8_0") return SynthFileType::kQ8_0;
  if (n == "q4_0") return SynthFileType::kQ4_0;
  if (n == "q4_k_m") return SynthFileType::kQ4_K_M;
  if (n == "q6_k") return SynthFileType::kQ6_K;
  if (n == "q4_1") return SynthFileType::kQ4_1;
  if (n == "q5_1") return SynthFileType::kQ5_1;
  if (n == "q5_k_m") return SynthFileType::kQ5_K_M;
  if (n == "mxfp4_moe") return SynthFileType::kMXFP4_MOE;
  return std::nullopt;
}

std::string_view synth_file_type_name(SynthFileType type) {
  switch (type) {
    case SynthFileType::kF32:
      return "F32";
    case SynthFileType::kF16:
      return "F16";
    case SynthFileType::kBF16:
      return "BF16";
    case SynthFileType::kQ8_0:
      return "Q8_0";
    case SynthFileType::kQ4_0:
      return "Q4_0";
    case SynthFileType::kQ4_K_M:
      return "Q4_K_M";
    case SynthFileType::kQ6_K:
      return "Q6_K";
    case SynthFileType::kQ4_1:
      return "Q4_1";
    case SynthFileType::kQ5_1:
      return "Q5_1";
    case SynthFileType::kQ5_K_M:
      return "Q5_K_M";
    case SynthFileType::kMXFP4_MOE:
      return "MXFP4_MOE";
  }
  return "?";
}

uint32_t llama_ftype_of(SynthFileType type) {
  switch (type) {  // llama.h enum llama_ftype
    case SynthFileType::kF32:
      return 0;
    case SynthFileType::kF16:
      return 1;
    case SynthFileType::kBF16:
      return 32;
    case SynthFileType::kQ8_0:
      return 7;
    case SynthFileType::kQ4_0:
      return 2;
    case SynthFileType::kQ4_K_M:
      return 15;
    case SynthFileType::kQ6_K:
      return 18;
    case SynthFileType::kQ4_1:
      return 3;
    case SynthFileType::kQ5_1:
      return 9;
    case SynthFileType::kQ5_K_M:
      return 17;
    case SynthFileType::kMXFP4_MOE:
      return 38;
  }
  return 0;
}

GgmlType synth_tensor_type(SynthFileType type, std::string_view name,
                           const std::vector<int64_t>& ne, int layer, int n_layers,
                           bool tied_output) {
  // 1-D tensors (norms, rope_freqs, sinks) and biases (gpt-oss's experts' are 2-D) are never
  // quantized, nor converted from the converter's F32.
  if (ne.size() < 2 || ends_with_name(name, ".bias")) return GgmlType::kF32;
  // MXFP4_MOE: the 3-D expert tensors MXFP4, the rest as Q8_0 (llama-quant.cpp).
  if (type == SynthFileType::kMXFP4_MOE && ne.size() == 3) return GgmlType::kMXFP4;
  // The MoE router stays F32 (the converter writes it so, llama-quantize never touches it).
  if (name.find("ffn_gate_inp") != std::string_view::npos) return GgmlType::kF32;
  const GgmlType base = default_type(type);
  if (!is_quantized_default(type)) return base;
  const int64_t ne0 = ne[0];
  GgmlType t = base;
  const bool is_output = name == "output.weight" || (tied_output && name == "token_embd.weight");
  if (is_output) {
    if (ne0 % block_size(base) != 0) {
      t = GgmlType::kQ8_0;
    } else if (base != GgmlType::kQ8_0) {
      t = GgmlType::kQ6_K;
    }
  } else if (type == SynthFileType::kQ4_K_M || type == SynthFileType::kQ5_K_M) {
    const bool more_bits_tensor =
        ends_with_name(name, "attn_v.weight") || name.find("ffn_down") != std::string_view::npos;
    if (more_bits_tensor && layer >= 0 && use_more_bits(layer, n_layers)) t = GgmlType::kQ6_K;
  }
  // llama-quant.cpp tensor_type_fallback for rows that are not a multiple of the block size.
  if (ne0 % block_size(t) != 0) {
    if (t == GgmlType::kQ4_K) t = GgmlType::kQ5_0;
    if (t == GgmlType::kQ5_K) t = GgmlType::kQ5_1;
    if (t == GgmlType::kQ6_K) t = GgmlType::kQ8_0;
    if (ne0 % block_size(t) != 0) t = GgmlType::kF16;
  }
  return t;
}

std::vector<float> llama3_rope_factors(int64_t head_dim, float base, float factor,
                                       float low_freq_factor, float high_freq_factor,
                                       int64_t original_context) {
  // As llama.cpp's converter computes them (engine-reference.md §3.2 item 4), in double.
  const double low_wavelen = double(original_context) / low_freq_factor;
  const double high_wavelen = double(original_context) / high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(double(base), double(i) / double(head_dim));
    const double wavelen = 2.0 * M_PI / freq;
    double divisor;
    if (wavelen < high_wavelen) {
      divisor = 1.0;
    } else if (wavelen > low_wavelen) {
      divisor = factor;
    } else {
      const double smooth = (double(original_context) / wavelen - low_freq_factor) /
                            (high_freq_factor - low_freq_factor);
      divisor = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    out.push_back(float(divisor));
  }
  return out;
}

Result<SynthPlan> plan_synth_with_vocab(const SynthOptions& options, VocabData* vocab_out) {
  const std::string arch = to_lower(options.arch);
  const ArchSynth* traits = arch_synth(arch);
  if (traits == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "--arch {} is not supported; use one of {}",
                      options.arch, arch_list());
  }
  std::string size = to_lower(options.size);
  // Ollama-style tags name Llama sizes without the version: llama3.2:1b, llama3.1:8b.
  if (arch == "llama" && size == "1b") size = "3.2-1b";
  if (arch == "llama" && size == "8b") size = "3.1-8b";
  const Preset* preset = nullptr;
  for (const auto& p : kPresets) {
    if (p.arch == arch && p.name == size) preset = &p;
  }
  if (preset == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "--size {} is not a {} preset; choose one of {}",
                      options.size, arch, preset_list(arch));
  }
  SynthShape s;
  s.arch = arch;
  s.preset = std::string(preset->name);
  s.size_label = std::string(preset->size_label);
  auto pick = [](int64_t override_value, int64_t preset_value) {
    return override_value != 0 ? override_value : preset_value;
  };
  s.n_layers = pick(options.n_layers, preset->n_layers);
  s.d_model = pick(options.d_model, preset->d_model);
  s.d_ff = pick(options.d_ff, preset->d_ff);
  s.n_heads = pick(options.n_heads, preset->n_heads);
  s.n_kv_heads = pick(options.n_kv_heads, preset->n_kv_heads);
  s.head_dim = pick(options.head_dim, preset->head_dim);
  s.context_length = pick(options.context_length, preset->context_length);
  s.sliding_window =
      preset->sliding_window > 0 ? pick(options.sliding_window, preset->sliding_window) : 0;
  s.tied_output = preset->tied_output;
  s.rms_eps = preset->rms_eps;
  s.rope_base = preset->rope_base;
  s.rope_linear_factor = preset->rope_linear_factor;
  s.llama3_rope_factor = preset->llama3_rope_factor;
  s.qk_norm = traits->qk_norm;
  s.qkv_bias = traits->qkv_bias;
  s.sandwich_norms = traits->sandwich_norms;
  s.n_expert = preset->n_expert;
  s.n_expert_used = preset->n_expert_used;
  s.n_ff_expert = preset->n_ff_expert;
  s.yarn_factor = preset->yarn_factor;
  s.yarn_original_ctx = preset->yarn_original_ctx;
  s.attn_sinks = s.output_bias = s.moe_biases = s.mxfp4_experts = traits->gpt_oss;
  if (traits->gpt_oss) s.ffn_norm = "post_attention_norm";
  const bool custom = s.n_layers != preset->n_layers || s.d_model != preset->d_model ||
                      s.d_ff != preset->d_ff || s.n_heads != preset->n_heads ||
                      s.n_kv_heads != preset->n_kv_heads || s.head_dim != preset->head_dim ||
                      s.context_length != preset->context_length ||
                      s.sliding_window != preset->sliding_window;
  if (custom) {
    s.preset += "+custom";
    s.size_label = "custom";
  }
  CHIMERA_RETURN_IF_ERROR(check_dims(s));
  CHIMERA_ASSIGN_OR_RETURN(VocabData vocab, load_vocab(options, *traits, size));
  if (!starts_with(options.vocab, "synthetic:") && preset->vocab_rows > 0) {
    pad_vocab(vocab, preset->vocab_rows);
  }
  s.n_vocab = static_cast<int64_t>(vocab.tokens.size());
  if (s.n_vocab == 0) return make_error(ErrorCode::kInvalidArgument, "the vocabulary is empty");
  const std::string family = size == "3.1-8b"   ? "Llama 3.1"
                             : size == "3.2-1b" ? "Llama 3.2"
                                                : std::string(traits->family);
  s.display_name = fmt::format("{} {} (dummy weights{})", family, preset->size_label,
                               custom ? ", custom dims" : "");

  SynthPlan plan;
  plan.shape = s;
  const int n_layers = static_cast<int>(s.n_layers);
  auto add = [&](std::string name, std::vector<int64_t> ne) {
    const int layer = block_of(name);
    GgmlType type = synth_tensor_type(options.type, name, ne, layer, n_layers, s.tied_output);
    // gpt-oss releases keep every expert tensor MXFP4 whatever the file type (§8).
    if (s.mxfp4_experts && ne.size() == 3) type = GgmlType::kMXFP4;
    plan.tensors.push_back(SynthTensor{std::move(name), std::move(ne), type});
  };
  const int64_t d = s.d_model, q_dim = s.n_heads * s.head_dim, kv_dim = s.n_kv_heads * s.head_dim;
  add("token_embd.weight", {d, s.n_vocab});
  add("output_norm.weight", {d});
  if (!s.tied_output) add("output.weight", {d, s.n_vocab});
  if (s.llama3_rope_factor > 0) add("rope_freqs.weight", {s.head_dim / 2});
  for (int i = 0; i < n_layers; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    add(b + "attn_norm.weight", {d});
    add(b + "attn_q.weight", {d, q_dim});
    add(b + "attn_k.weight", {d, kv_dim});
    add(b + "attn_v.weight", {d, kv_dim});
    add(b + "attn_output.weight", {q_dim, d});
    if (s.output_bias) add(b + "attn_output.bias", {d});
    if (s.attn_sinks) add(b + "attn_sinks.weight", {s.n_heads});
    add(b + s.ffn_norm + ".weight", {d});
    if (s.n_expert > 0) {  // 3-D expert tensors: one slab per expert (engine-reference-models §4)
      add(b + "ffn_gate_inp.weight", {d, s.n_expert});
      add(b + "ffn_gate_exps.weight", {d, s.n_ff_expert, s.n_expert});
      add(b + "ffn_up_exps.weight", {d, s.n_ff_expert, s.n_expert});
      add(b + "ffn_down_exps.weight", {s.n_ff_expert, d, s.n_expert});
      if (s.moe_biases) {
        add(b + "ffn_gate_inp.bias", {s.n_expert});
        add(b + "ffn_gate_exps.bias", {s.n_ff_expert, s.n_expert});
        add(b + "ffn_up_exps.bias", {s.n_ff_expert, s.n_expert});
        add(b + "ffn_down_exps.bias", {d, s.n_expert});
      }
    } else {
      add(b + "ffn_gate.weight", {d, s.d_ff});
      add(b + "ffn_up.weight", {d, s.d_ff});
      add(b + "ffn_down.weight", {s.d_ff, d});
    }
    if (s.qkv_bias) {
      add(b + "attn_q.bias", {q_dim});
      add(b + "attn_k.bias", {kv_dim});
      add(b + "attn_v.bias", {kv_dim});
    }
    if (s.qk_norm) {
      add(b + "attn_q_norm.weight", {s.head_dim});
      add(b + "attn_k_norm.weight", {s.head_dim});
    }
    if (s.sandwich_norms) {
      add(b + "post_attention_norm.weight", {d});
      add(b + "post_ffw_norm.weight", {d});
    }
  }
  std::stable_sort(plan.tensors.begin(), plan.tensors.end(),
                   [](const SynthTensor& a, const SynthTensor& b) {
                     const int la = block_of(a.name), lb = block_of(b.name);
                     if (la != lb) return la < lb;
                     return a.name < b.name;
                   });
  for (const auto& t : plan.tensors) {
    int64_t n = 1;
    for (int64_t x : t.ne) n *= x;
    plan.parameter_count += static_cast<uint64_t>(n);
    plan.tensor_bytes += *ggml_row_bytes(t.type, t.ne[0]) * static_cast<uint64_t>(n / t.ne[0]);
  }
  if (vocab_out != nullptr) *vocab_out = std::move(vocab);
  return plan;
}

std::vector<std::string_view> fetched_vocabularies() {
  std::vector<std::string_view> out;
  for (const auto& v : kVocabs) out.push_back(v.name);
  return out;
}

Result<SynthPlan> plan_synth(const SynthOptions& options) {
  return plan_synth_with_vocab(options, nullptr);
}

}  // namespace chimera::engine

// Model::load: GGUF -> ModelConfig (model_config.cpp, quirks in model_quirks.cpp) + weight views
// (model_weights.cpp) + tokenizer, and the facts a benchmark row prints (ModelInfo).
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string_view>

#include "engine/engine.h"
#include "engine/gguf/gguf.h"
#include "engine/grammar/grammar_vocab.h"
#include "engine/kernels/matmul.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/model/model_config.h"
#include "engine/model/model_quirks.h"
#include "engine/model/model_weights.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::engine {
namespace {

// llama.cpp's names for general.file_type (llama_model_ftype_name), as llama-bench prints them.
std::string file_type_name(int64_t file_type) {
  static const std::map<int64_t, std::string> kNames = {
      {0, "all F32"},        {1, "F16"},
      {2, "Q4_0"},           {3, "Q4_1"},
      {7, "Q8_0"},           {8, "Q5_0"},
      {9, "Q5_1"},           {10, "Q2_K - Medium"},
      {11, "Q3_K - Small"},  {12, "Q3_K - Medium"},
      {13, "Q3_K - Large"},  {14, "Q4_K - Small"},
      {15, "Q4_K - Medium"}, {16, "Q5_K - Small"},
      {17, "Q5_K - Medium"}, {18, "Q6_K"},
      {32, "BF16"},          {38, "MXFP4 MoE"},
  };
  auto it = kNames.find(file_type);
  return it == kNames.end() ? std::string() : it->second;
}

// When general.file_type is absent: the type holding most bytes of the layer matrices.
std::string dominant_type(const ModelWeights& w) {
  std::map<GgmlType, uint64_t> bytes;
  for (const auto& l : w.layers) {
    for (const WeightMatrix* m : l.matrices()) {
      if (m->data == nullptr) continue;
      bytes[m->type] += m->row_bytes * static_cast<uint64_t>(m->rows);
    }
  }
  auto best = std::max_element(bytes.begin(), bytes.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return best == bytes.end() ? "unknown" : std::string(ggml_type_name(best->first)) + " (guessed)";
}

std::string size_label_from_params(uint64_t n_params) {
  const double n = static_cast<double>(n_params);
  if (n >= 0.95e9) return fmt::format("{:.0f}B", std::round(n / 1e9));
  if (n >= 1e6) return fmt::format("{:.0f}M", std::round(n / 1e6));
  return fmt::format("{:.0f}K", std::round(n / 1e3));
}

void prefetch_range(const void* begin, size_t length) {
  long page = sysconf(_SC_PAGESIZE);
  auto start = reinterpret_cast<uintptr_t>(begin) & ~static_cast<uintptr_t>(page - 1);
  size_t span = length + (reinterpret_cast<uintptr_t>(begin) - start);
  madvise(reinterpret_cast<void*>(start), span, MADV_WILLNEED);  // a hint; failure is harmless
}

class LoadedModel final : public Model {
 public:
  LoadedModel(GgufFile file, ModelConfig config, ModelWeights weights,
              std::shared_ptr<const Tokenizer> tokenizer, ModelInfo info, int64_t load_ns)
      : file_(std::move(file)),
        config_(std::move(config)),
        weights_(std::move(weights)),
        tokenizer_(std::move(tokenizer)),
        info_(std::move(info)),
        load_ns_(load_ns),
        family_(chat_family_for_architecture(config_.architecture)) {}

  const ModelInfo& info() const override { return info_; }
  const ModelConfig& config() const override { return config_; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  ChatFamily chat_family() const override { return family_; }
  int64_t load_ns() const override { return load_ns_; }
  const ModelWeights& weights() const override { return weights_; }
  std::shared_ptr<const GrammarVocabulary> grammar_vocabulary() const override {
    std::call_once(grammar_vocabulary_once_, [this] {
      grammar_vocabulary_ = GrammarVocabulary::build(*tokenizer_, config_.n_vocab);
    });
    return grammar_vocabulary_;
  }

 private:
  GgufFile file_;  // owns the mapping the weight views point into
  ModelConfig config_;
  ModelWeights weights_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  ModelInfo info_;
  int64_t load_ns_;
  ChatFamily family_;
  mutable std::once_flag grammar_vocabulary_once_;
  mutable std::shared_ptr<const GrammarVocabulary> grammar_vocabulary_;
};

ModelInfo describe(const GgufFile& file, const ModelConfig& config, const ModelWeights& weights,
                   std::vector<std::string> notes) {
  ModelInfo info;
  info.path = file.path();
  info.architecture = config.architecture;
  info.name = std::string(file.get_string("general.name").value_or(""));
  info.synthetic = file.get_bool("chimera.synthetic").value_or(false);
  auto file_type = file.get_int("general.file_type");
  info.weight_type = file_type ? file_type_name(*file_type) : std::string();
  if (info.weight_type.empty()) info.weight_type = dominant_type(weights);
  info.n_params = weights.n_params;
  auto label = file.get_string("general.size_label");
  info.size_label = label ? std::string(*label) : size_label_from_params(info.n_params);
  info.file_bytes = file.file_size();
  info.weight_bytes = weights.bytes;
  info.decode_bytes_per_token = weights.decode_bytes_per_token;
  info.n_layer = config.n_layer;
  info.n_embd = config.n_embd;
  info.n_head = config.layers[0].n_head;
  info.n_head_kv = config.layers[0].n_head_kv;
  info.head_dim = config.head_dim;
  info.n_ff = config.layers[0].n_ff;
  info.n_vocab = config.n_vocab;
  info.context_length = config.context_length;
  int skipped = 0;
  for (const auto& t : file.tensors()) {
    if (starts_with(t.name, "v.") || starts_with(t.name, "mm.")) ++skipped;
  }
  if (skipped > 0) {
    notes.push_back(fmt::format(
        "{} vision tensors (v.*, mm.*) skipped: this engine runs the text model", skipped));
  }
  info.load_notes = std::move(notes);
  return info;
}

}  // namespace

Result<std::shared_ptr<const Model>> Model::load(const std::string& path,
                                                 const LoadOptions& options) {
  Stopwatch watch;
  CHIMERA_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
  std::vector<std::string> notes;
  CHIMERA_ASSIGN_OR_RETURN(ModelConfig config, model_config_from_gguf(file, &notes));
  CHIMERA_ASSIGN_OR_RETURN(ModelWeights weights, bind_weights(file, config));
  // Before the weights are moved: the copy then reads pages the kernel is already fetching.
  if (options.prefetch && !file.tensors().empty()) {
    const auto& first = file.tensors().front();
    prefetch_range(first.data - first.offset, file.file_size() - file.data_offset());
  }
  const char* huge_pages_env = std::getenv("CHIMERA_HUGE_PAGES");
  arrange_weights(weights,
                  {.interleave = options.interleave && interleave_at_load(),
                   .huge_pages = options.huge_pages && (huge_pages_env == nullptr ||
                                                        std::string_view(huge_pages_env) != "0")});
  CHIMERA_ASSIGN_OR_RETURN(VocabData vocab, read_vocab_from_gguf(file));
  apply_vocab_quirks(config.architecture, config.n_vocab, vocab, &notes);
  auto built = Tokenizer::from_vocab(std::move(vocab));
  if (!built.ok()) return built.status().with_context(path + ": tokenizer");
  std::shared_ptr<const Tokenizer> tokenizer = std::move(built).value();
  ModelInfo info = describe(file, config, weights, std::move(notes));
  int64_t load_ns = watch.elapsed_ns();
  return std::shared_ptr<const Model>(
      std::make_shared<LoadedModel>(std::move(file), std::move(config), std::move(weights),
                                    std::move(tokenizer), std::move(info), load_ns));
}

}  // namespace chimera::engine

// Tokenizer speed: encoding a 10,000-word text (goal: well under 100 ms per vocabulary), decoding
// it, importing tokenizer.json, and building a Tokenizer from GGUF arrays (runs at every model
// load). Real vocabularies come from .data/vocab (scripts/fetch-vocab.sh); without them those rows
// are skipped and the synthetic-vocabulary rows still run.
//   build/<dir>/bench/tokenizer_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "engine/gguf/gguf.h"
#include "engine/tokenizer/tokenizer.h"
#include "util/paths.h"

namespace {

using chimera::engine::GgufFile;
using chimera::engine::GgufWriter;
using chimera::engine::Tokenizer;
using chimera::engine::VocabData;

// A deterministic 10,000-word text mixing English prose, numbers, code, whitespace runs and some
// non-Latin scripts, like the reports and prompts Chimera tokenizes.
std::string ten_thousand_words() {
  static const char* const kSentences[] = {
      "The tuned configuration reached 41.7 tokens per second, 12% faster than the baseline.",
      "Time to first token fell from 812 ms to 655 ms (p99: 1,204 ms) across 30 repetitions.",
      "We don't trust a single run; each figure is the median of five, with a 95% interval.",
      "for (int i = 0; i < n_ctx; ++i) { kv[i] = rope(q[i], pos + i); }",
      "Der Durchsatz stieg deutlich, während die Latenz stabil blieb.",
      "La mémoire disponible limite la taille du contexte à 8192 jetons.",
      "模型在两个核心上运行，预填充速度约为每秒一百个词元。",
      "    indented line with trailing spaces   ",
      "JSON: {\"num_ctx\": 4096, \"temperature\": 0.7, \"top_k\": 64}",
      "Emoji in chat logs 🤖🚀 are rare but must round-trip exactly ✅.",
  };
  std::string text;
  int words = 0;
  uint32_t state = 12345;
  while (words < 10000) {
    state = state * 1664525u + 1013904223u;  // LCG: a fixed, reproducible sentence order
    std::string sentence = kSentences[(state >> 16) % (sizeof(kSentences) / sizeof(kSentences[0]))];
    for (size_t i = 0; i < sentence.size(); ++i) {
      bool starts_word = sentence[i] != ' ' && (i == 0 || sentence[i - 1] == ' ');
      words += starts_word ? 1 : 0;
    }
    text += sentence;
    text += (state >> 8) % 7 == 0 ? "\n\n" : " ";
  }
  return text;
}

const std::string& corpus() {
  static const std::string text = ten_thousand_words();
  return text;
}

std::shared_ptr<const VocabData> real_vocab(const std::string& family) {
  static std::map<std::string, std::shared_ptr<const VocabData>> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second;
  std::string path = chimera::vocab_dir() + "/" + family + "/tokenizer.json";
  std::shared_ptr<const VocabData> vocab;
  if (std::filesystem::exists(path)) {
    auto imported = chimera::engine::import_hf_tokenizer_json(path);
    if (imported.ok()) vocab = std::make_shared<const VocabData>(std::move(imported).value());
  }
  cache[family] = vocab;
  return vocab;
}

std::shared_ptr<const VocabData> vocab_for(const std::string& name) {
  if (name == "synthetic-gemma3") {
    static auto v =
        std::make_shared<const VocabData>(chimera::engine::synthetic_vocab("gemma3", 262144));
    return v;
  }
  if (name == "synthetic-llama") {
    static auto v =
        std::make_shared<const VocabData>(chimera::engine::synthetic_vocab("llama", 128256));
    return v;
  }
  return real_vocab(name);
}

std::shared_ptr<const Tokenizer> tokenizer_for(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  auto vocab = vocab_for(name);
  std::shared_ptr<const Tokenizer> tok;
  if (vocab) {
    auto built = Tokenizer::from_vocab(*vocab);
    if (built.ok()) tok = built.value();
  }
  cache[name] = tok;
  return tok;
}

void BM_Encode10kWords(benchmark::State& state, const std::string& name) {
  auto tok = tokenizer_for(name);
  if (!tok) {
    state.SkipWithError(("vocabulary " + name + " not found (scripts/fetch-vocab.sh)").c_str());
    return;
  }
  std::vector<int32_t> ids;
  for (auto _ : state) {
    ids.clear();
    tok->encode_into(corpus(), true, true, ids);
    benchmark::DoNotOptimize(ids.data());
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["bytes"] = static_cast<double>(corpus().size());
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(ids.size()), benchmark::Counter::kIsIterationInvariantRate);
}

// Long whitespace runs: every position starts many user-defined matches in Gemma 3 (runs of up to
// 31 spaces or newlines are tokens) and stresses the Llama 3 regex's whitespace alternatives.
void BM_EncodeWhitespaceRuns(benchmark::State& state, const std::string& name) {
  auto tok = tokenizer_for(name);
  if (!tok) {
    state.SkipWithError(("vocabulary " + name + " not found (scripts/fetch-vocab.sh)").c_str());
    return;
  }
  std::string text = std::string(100000, ' ') + "x" + std::string(50000, '\n') + "y\t\t \n";
  std::vector<int32_t> ids;
  for (auto _ : state) {
    ids.clear();
    tok->encode_into(text, true, true, ids);
    benchmark::DoNotOptimize(ids.data());
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["bytes"] = static_cast<double>(text.size());
}

void BM_Decode10kWords(benchmark::State& state, const std::string& name) {
  auto tok = tokenizer_for(name);
  if (!tok) {
    state.SkipWithError(("vocabulary " + name + " not found (scripts/fetch-vocab.sh)").c_str());
    return;
  }
  std::vector<int32_t> ids = tok->encode(corpus(), true, true);
  for (auto _ : state) {
    std::string text = tok->decode(ids, true);
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
}

void BM_ImportTokenizerJson(benchmark::State& state, const std::string& family) {
  std::string path = chimera::vocab_dir() + "/" + family + "/tokenizer.json";
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("missing " + path + " (scripts/fetch-vocab.sh)").c_str());
    return;
  }
  size_t n = 0;
  for (auto _ : state) {
    auto vocab = chimera::engine::import_hf_tokenizer_json(path);
    if (!vocab.ok()) {
      state.SkipWithError(vocab.status().message().c_str());
      return;
    }
    n = vocab->tokens.size();
  }
  state.counters["n_vocab"] = static_cast<double>(n);
  state.counters["file_MB"] = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
}

// What a model load pays: the tokenizer keys of a mapped GGUF -> VocabData -> lookup tables.
void BM_TokenizerFromGguf(benchmark::State& state, const std::string& name) {
  auto vocab = vocab_for(name);
  if (!vocab) {
    state.SkipWithError(("vocabulary " + name + " not found (scripts/fetch-vocab.sh)").c_str());
    return;
  }
  GgufWriter writer;
  if (!chimera::engine::write_vocab_to_gguf(writer, *vocab).is_ok()) {
    state.SkipWithError("write_vocab_to_gguf failed");
    return;
  }
  auto bytes = writer.write_to_memory();
  auto file = GgufFile::parse(*bytes, name + ".gguf");
  if (!file.ok()) {
    state.SkipWithError(file.status().message().c_str());
    return;
  }
  for (auto _ : state) {
    auto tok = Tokenizer::from_gguf(*file);
    benchmark::DoNotOptimize(tok.ok());
  }
  state.counters["n_vocab"] = static_cast<double>(vocab->tokens.size());
  state.counters["n_merges"] = static_cast<double>(vocab->merges.size());
}

// The lookup tables alone (the part of from_gguf after the arrays are copied out of the file).
void BM_TokenizerFromVocab(benchmark::State& state, const std::string& name) {
  auto vocab = vocab_for(name);
  if (!vocab) {
    state.SkipWithError(("vocabulary " + name + " not found (scripts/fetch-vocab.sh)").c_str());
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    VocabData copy = *vocab;
    state.ResumeTiming();
    auto tok = Tokenizer::from_vocab(std::move(copy));
    benchmark::DoNotOptimize(tok.ok());
  }
}

void BM_SyntheticVocab(benchmark::State& state, const std::string& family, int32_t n) {
  for (auto _ : state) {
    VocabData v = chimera::engine::synthetic_vocab(family, n);
    benchmark::DoNotOptimize(v.tokens.data());
  }
}

void register_all() {
  for (const char* name : {"gemma3", "llama3_1", "synthetic-gemma3", "synthetic-llama"}) {
    benchmark::RegisterBenchmark((std::string("encode_10k_words/") + name).c_str(),
                                 BM_Encode10kWords, std::string(name))
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("encode_whitespace_runs/") + name).c_str(),
                                 BM_EncodeWhitespaceRuns, std::string(name))
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("decode_10k_words/") + name).c_str(),
                                 BM_Decode10kWords, std::string(name))
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("tokenizer_from_gguf/") + name).c_str(),
                                 BM_TokenizerFromGguf, std::string(name))
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("tokenizer_from_vocab/") + name).c_str(),
                                 BM_TokenizerFromVocab, std::string(name))
        ->Unit(benchmark::kMillisecond);
  }
  for (const char* family : {"gemma3", "llama3_1"}) {
    benchmark::RegisterBenchmark((std::string("import_tokenizer_json/") + family).c_str(),
                                 BM_ImportTokenizerJson, std::string(family))
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("synthetic_vocab/gemma3/262144", BM_SyntheticVocab, "gemma3", 262144)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("synthetic_vocab/llama/128256", BM_SyntheticVocab, "llama", 128256)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  std::printf("tokenizer_bench: corpus %zu bytes, 10000 words\n", corpus().size());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

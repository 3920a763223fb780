// Micro-benchmarks of the engine parts around the matmuls: the attention kernels (reference,
// portable, dispatched) at decode and prefill shapes of Gemma 3 1B, the sampler over a 262144-token
// vocabulary, and a decode step of a small synthesized model. Whole-model pp/tg figures come from
// `chimera bench engine`.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <vector>

#include "engine/engine.h"
#include "engine/kernels/attention.h"
#include "engine/model/synth.h"
#include "engine/quant/quant.h"

namespace chimera::engine {
namespace {

// One (layer, sequence, KV head) of an F16 cache holding n_keys positions, and a GQA group of
// queries.
struct AttentionSetup {
  AttentionSetup(int head_dim, int n_q, int64_t n_keys) : out(static_cast<size_t>(n_q * head_dim)) {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const size_t row_bytes = *ggml_row_bytes(GgmlType::kF16, head_dim);
    k.resize(row_bytes * static_cast<size_t>(n_keys));
    v.resize(k.size());
    std::vector<float> row(static_cast<size_t>(head_dim));
    for (int64_t i = 0; i < n_keys; ++i) {
      for (auto& x : row) x = normal(rng);
      quantize_row(GgmlType::kF16, row.data(), k.data() + static_cast<size_t>(i) * row_bytes,
                   head_dim);
      for (auto& x : row) x = normal(rng);
      quantize_row(GgmlType::kF16, row.data(), v.data() + static_cast<size_t>(i) * row_bytes,
                   head_dim);
    }
    q.resize(static_cast<size_t>(n_q * head_dim));
    for (auto& x : q) x = normal(rng) / 16.0f;
    view = {k.data(), v.data(), n_keys, row_bytes, GgmlType::kF16};
    query = {q.data(), n_q, head_dim, head_dim, 0, n_keys - 1, out.data(), head_dim};
  }
  std::vector<uint8_t> k, v;
  std::vector<float> q, out;
  KvHeadView view;
  AttentionQuery query;
};

template <void (*Kernel)(const KvHeadView&, const AttentionQuery&)>
void BM_Attention(benchmark::State& state) {
  // Gemma 3 1B: head_dim 256, 4 query heads per KV head.
  AttentionSetup s(256, static_cast<int>(state.range(0)), state.range(1));
  for (auto _ : state) {
    Kernel(s.view, s.query);
    benchmark::DoNotOptimize(s.out.data());
  }
  state.counters["keys/s"] =
      benchmark::Counter(static_cast<double>(state.range(1) * state.range(0)),
                         benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Attention<attention_reference>)->Args({4, 512})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention<detail::attention_portable>)
    ->Args({1, 512})
    ->Args({4, 512})
    ->Args({4, 4096})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention<attention>)
    ->Args({1, 512})
    ->Args({4, 512})
    ->Args({4, 4096})
    ->Unit(benchmark::kMicrosecond);

// Prefill tile: 4 consecutive tokens x 4 heads (16 rows) against the same keys.
void BM_AttentionTile(benchmark::State& state) {
  const int n_tokens = 4;
  AttentionSetup s(256, 4 * n_tokens, state.range(0) + n_tokens);
  std::vector<int64_t> first(n_tokens, 0), last(n_tokens);
  for (int t = 0; t < n_tokens; ++t) last[static_cast<size_t>(t)] = state.range(0) + t;
  AttentionTile tile{s.q.data(),  n_tokens,     4,      4 * 256, 256, first.data(),
                     last.data(), s.out.data(), 4 * 256};
  for (auto _ : state) {
    attention_tile(s.view, tile);
    benchmark::DoNotOptimize(s.out.data());
  }
  state.counters["keys/s"] = benchmark::Counter(static_cast<double>(state.range(0) * 4 * n_tokens),
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AttentionTile)->Arg(512)->Arg(4096)->Unit(benchmark::kMicrosecond);

void BM_SampleGemmaVocabulary(benchmark::State& state) {
  const int32_t n_vocab = 262144;
  std::vector<float> logits(static_cast<size_t>(n_vocab)), work(logits.size());
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (auto& x : logits) x = normal(rng);
  SamplingOptions options;  // Ollama defaults: temperature 0.8, top_k 40, top_p 0.9
  options.top_k = static_cast<int>(state.range(0));
  options.seed = 1;
  Sampler sampler(options, n_vocab);
  std::vector<int32_t> history(64, 5);
  for (auto _ : state) {
    work = logits;
    benchmark::DoNotOptimize(sampler.sample(work.data(), history));
  }
}
BENCHMARK(BM_SampleGemmaVocabulary)->Arg(40)->Arg(0)->Unit(benchmark::kMicrosecond);

// A decode step (one token, logits out) of a 4-layer gemma3 of 1B width: the per-step overhead
// around the matmuls shows as the gap to the weights' read time.
void BM_DecodeStepSmallGemma(benchmark::State& state) {
  static std::string path = [] {
    SynthOptions o;
    o.arch = "gemma3";
    o.size = "1b";
    o.n_layers = 4;
    o.type = SynthFileType::kQ8_0;
    o.vocab = "synthetic:4096";
    std::string p =
        (std::filesystem::temp_directory_path() / "chimera_engine_bench_gemma3.gguf").string();
    if (!std::filesystem::exists(p)) (void)synthesize_model(o, p);
    return p;
  }();
  auto model = Model::load(path);
  if (!model.ok()) {
    state.SkipWithError(model.status().to_string().c_str());
    return;
  }
  ContextOptions options;
  options.n_ctx_per_seq = 4096;
  options.num_thread = static_cast<int>(state.range(0));
  auto context = Context::create(*model, options);
  std::vector<float> logits(4096 * 64);
  int32_t pos = 0;
  for (auto _ : state) {
    if (pos == 4096) {
      (*context)->clear_sequence(0);
      pos = 0;
    }
    BatchToken t{static_cast<int32_t>(pos % 4000), 0, pos, true};
    (void)(*context)->decode(std::span<const BatchToken>(&t, 1), logits.data());
    ++pos;
  }
}
BENCHMARK(BM_DecodeStepSmallGemma)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace chimera::engine

BENCHMARK_MAIN();

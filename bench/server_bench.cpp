// What continuous batching can give on this machine, without HTTP: the cost of one batched decode
// step for 1..16 sequences (Context::decode, one token each), sampling one token from a full
// vocabulary, and the scheduler's aggregate decode rate with N sequences generating together.
//   CHIMERA_BENCH_MODEL=/path/model.gguf CHIMERA_BENCH_THREADS=2 ./server_bench
// Without a model file the benchmarks are skipped (a tiny dummy model says nothing about real
// speed).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "server/scheduler.h"
#include "util/clock.h"

namespace {

using chimera::engine::BatchToken;

std::shared_ptr<const chimera::engine::Model> bench_model() {
  static std::shared_ptr<const chimera::engine::Model> model = [] {
    const char* path = std::getenv("CHIMERA_BENCH_MODEL");
    if (path == nullptr) return std::shared_ptr<const chimera::engine::Model>();
    auto loaded = chimera::engine::Model::load(path);
    return loaded.ok() ? *loaded : std::shared_ptr<const chimera::engine::Model>();
  }();
  return model;
}

int bench_threads() {
  const char* t = std::getenv("CHIMERA_BENCH_THREADS");
  return t != nullptr ? std::atoi(t) : 2;
}

// One decode step for state.range(0) sequences, each 32 tokens into its context.
void BM_DecodeStep(benchmark::State& state) {
  auto model = bench_model();
  if (!model) {
    state.SkipWithError("set CHIMERA_BENCH_MODEL to a GGUF file");
    return;
  }
  const int n_seq = static_cast<int>(state.range(0));
  chimera::engine::ContextOptions options;
  options.n_seq_max = n_seq;
  options.n_ctx_per_seq = 512;
  options.n_batch = 512;
  options.num_thread = bench_threads();
  auto context = chimera::engine::Context::create(model, options);
  if (!context.ok()) {
    state.SkipWithError(context.status().message().c_str());
    return;
  }
  const int32_t n_vocab = model->config().n_vocab;
  std::vector<float> logits(static_cast<size_t>(n_seq) * static_cast<size_t>(n_vocab));
  std::vector<BatchToken> batch;
  constexpr int kPrompt = 32;
  auto prefill = [&] {
    for (int s = 0; s < n_seq; ++s) {
      (*context)->clear_sequence(s);
      batch.clear();
      for (int p = 0; p < kPrompt; ++p)
        batch.push_back({100 + (p * 7 + s) % 1000, s, p, p == kPrompt - 1});
      (void)(*context)->decode(batch, logits.data());
    }
  };
  prefill();
  int pos = kPrompt;
  for (auto _ : state) {
    if (pos >= 480) {
      state.PauseTiming();
      prefill();
      pos = kPrompt;
      state.ResumeTiming();
    }
    batch.clear();
    for (int s = 0; s < n_seq; ++s) batch.push_back({200 + s, s, pos, true});
    chimera::Status status = (*context)->decode(batch, logits.data());
    if (!status.is_ok()) state.SkipWithError(status.message().c_str());
    ++pos;
  }
  state.counters["threads"] = (*context)->options().num_thread;
  state.counters["aggregate_tps"] =
      benchmark::Counter(static_cast<double>(n_seq), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DecodeStep)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Sampling one token with Ollama's defaults (top_k 40, top_p 0.9, temperature 0.8).
void BM_SampleToken(benchmark::State& state) {
  auto model = bench_model();
  if (!model) {
    state.SkipWithError("set CHIMERA_BENCH_MODEL to a GGUF file");
    return;
  }
  const int32_t n_vocab = model->config().n_vocab;
  std::vector<float> source(static_cast<size_t>(n_vocab)), logits;
  for (int32_t i = 0; i < n_vocab; ++i)
    source[static_cast<size_t>(i)] = static_cast<float>((i * 2654435761u) % 1000) / 100.0f;
  chimera::engine::SamplingOptions options;
  options.seed = 1;
  chimera::engine::Sampler sampler(options, n_vocab);
  std::vector<int32_t> history = {1, 2, 3};
  for (auto _ : state) {
    logits = source;
    benchmark::DoNotOptimize(sampler.sample(logits.data(), history));
  }
}
BENCHMARK(BM_SampleToken)->Unit(benchmark::kMicrosecond);

// The scheduler end to end (no HTTP): state.range(0) requests of 32 generated tokens each,
// submitted together; aggregate generated tokens per second.
void BM_SchedulerAggregate(benchmark::State& state) {
  auto model = bench_model();
  if (!model) {
    state.SkipWithError("set CHIMERA_BENCH_MODEL to a GGUF file");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  chimera::server::SchedulerOptions options;
  options.model_name = "bench";
  options.n_seq = n;
  options.n_ctx = 512;
  options.num_thread = bench_threads();
  auto scheduler = chimera::server::Scheduler::create(model, options, nullptr);
  if (!scheduler.ok()) {
    state.SkipWithError(scheduler.status().message().c_str());
    return;
  }
  constexpr int kGenerate = 32;
  int64_t decode_ns = 0, tokens = 0;
  for (auto _ : state) {
    std::vector<std::shared_ptr<chimera::server::SequenceStream>> streams;
    for (int i = 0; i < n; ++i) {
      chimera::server::SequenceRequest request;
      for (int p = 0; p < 24; ++p) request.prompt.push_back(100 + (p * 13 + i) % 1000);
      request.num_predict = kGenerate;
      request.ignore_eos = true;
      request.sampling.seed = static_cast<uint64_t>(i);
      request.received_ns = chimera::monotonic_ns();
      streams.push_back(*(*scheduler)->submit(std::move(request)));
    }
    std::vector<std::string> pieces;
    for (auto& stream : streams) {
      while (!stream->wait(pieces, std::chrono::milliseconds(100))) pieces.clear();
      decode_ns += stream->outcome().eval_ns;
      tokens += stream->outcome().eval_count - 1;  // decode rate: tokens after the first
    }
  }
  state.counters["aggregate_tps"] = benchmark::Counter(
      static_cast<double>(n * kGenerate), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["per_stream_decode_tps"] =
      decode_ns > 0 ? static_cast<double>(tokens) / (static_cast<double>(decode_ns) / 1e9) : 0;
}
BENCHMARK(BM_SchedulerAggregate)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

}  // namespace

BENCHMARK_MAIN();

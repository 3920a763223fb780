// What the bench analysis costs: percentiles, Welch, Mann-Whitney (exact and normal), the seeded
// bootstrap, and a whole A/B analysis of a run, so `chimera bench` stays quick to report.
#include <benchmark/benchmark.h>

#include <vector>

#include "lab/bench_report.h"
#include "lab/stats.h"

namespace chimera::lab {
namespace {

std::vector<double> sample(size_t n, uint64_t seed, double centre) {
  SeededRng rng(seed);
  std::vector<double> out(n);
  for (double& v : out) v = centre + 10 * (rng.uniform_open_closed() - 0.5);
  return out;
}

void BM_Summarize(benchmark::State& state) {
  auto x = sample(static_cast<size_t>(state.range(0)), 1, 100);
  for (auto _ : state) benchmark::DoNotOptimize(summarize(x));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Summarize)->Arg(10)->Arg(1000)->Arg(100000);

void BM_Welch(benchmark::State& state) {
  auto x = sample(static_cast<size_t>(state.range(0)), 1, 100);
  auto y = sample(static_cast<size_t>(state.range(0)), 2, 101);
  for (auto _ : state) benchmark::DoNotOptimize(welch_t_test(x, y));
}
BENCHMARK(BM_Welch)->Arg(10)->Arg(1000);

void BM_MannWhitney(benchmark::State& state) {  // exact below 50 per sample, normal above
  auto x = sample(static_cast<size_t>(state.range(0)), 1, 100);
  auto y = sample(static_cast<size_t>(state.range(0)), 2, 101);
  for (auto _ : state) benchmark::DoNotOptimize(mann_whitney_u(x, y));
}
BENCHMARK(BM_MannWhitney)->Arg(10)->Arg(49)->Arg(1000);

void BM_BootstrapRelativeMeanDifference(benchmark::State& state) {
  auto x = sample(static_cast<size_t>(state.range(0)), 1, 100);
  auto y = sample(static_cast<size_t>(state.range(0)), 2, 101);
  BootstrapOptions o{4000, 7, 0.95};
  for (auto _ : state) benchmark::DoNotOptimize(bootstrap_relative_mean_difference_ci(x, y, o));
}
BENCHMARK(BM_BootstrapRelativeMeanDifference)->Arg(10)->Arg(100)->Unit(benchmark::kMillisecond);

void BM_StudentTQuantile(benchmark::State& state) {
  double df = 3.5;
  for (auto _ : state) {
    benchmark::DoNotOptimize(student_t_quantile(0.975, df));
    df += 1e-9;  // defeat any caching
  }
}
BENCHMARK(BM_StudentTQuantile);

// A whole A/B analysis: runs calls per arm, every metric compared (Welch, Holm, g, bootstrap,
// Mann-Whitney, paired).
void BM_AnalyzeAbRun(benchmark::State& state) {
  const int64_t runs = state.range(0);
  const int64_t ms = 1'000'000;
  std::vector<MeasuredCall> calls;
  SeededRng rng(3);
  for (int64_t k = 0; k < runs; ++k) {
    for (const char* arm : {"A", "B"}) {
      MeasuredCall c;
      c.meta.arm = arm;
      c.meta.pair_index = k;
      llm::CallRecord& r = c.record;
      r.ok = true;
      r.t_request_ns = 1000 * ms;
      r.t_first_token_ns = r.t_request_ns + static_cast<int64_t>((90 + 20 * rng.uniform_open_closed()) * ms);
      for (int i = 0; i < 128; ++i) {
        r.chunk_times_ns.push_back(r.t_first_token_ns + i * 20 * ms);
        r.chunk_token_counts.push_back(1);
      }
      r.t_done_ns = r.chunk_times_ns.back() + ms;
      r.token_count = 128;
      r.token_count_source = llm::TokenCountSource::kEngine;
      r.server.prompt_eval_ns = 80 * ms;
      r.server.prompt_eval_count = 40;
      r.server.eval_ns = 127 * 20 * ms;
      r.server.eval_count = 127;
      calls.push_back(std::move(c));
    }
  }
  BenchHeader header;
  header.arms = {ArmSpec{"A", {}, {}}, ArmSpec{"B", {}, {}}};
  for (auto _ : state) benchmark::DoNotOptimize(analyze(header, calls, HwSummary{}));
}
BENCHMARK(BM_AnalyzeAbRun)->Arg(5)->Arg(30)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace chimera::lab

BENCHMARK_MAIN();

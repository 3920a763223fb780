// Kernel micro-benchmarks (Google Benchmark). Figures:
//  - matvec/<type>/<rows>x<cols>/threads:N   GB/s of weights streamed for one decode token. Weights
//  come
//    from a rotating set of copies larger than the LLC, so the figure is DRAM streaming, as in a
//    real decode step, not cache bandwidth.
//  - matvec_in_cache/<type>/256x<cols>         the same from L2 on one thread: the kernel's compute
//    ceiling (CPU time), which must stay well above a core's share of DRAM bandwidth.
//  - decode_gemma3_1b/<mixture>/threads:N    every 2-D weight of a gemma3-1b-shaped model once (26
//  layers
//    + the tied LM head), as one decoded token reads them: GB/s and the matmul-only tokens/s.
//  - gemm512/<type>/<rows>x<cols>/threads:N  GOP/s (2 * rows * cols * 512 per call) for prefill.
//  - gemm_tokens/<type>/<shape>/tokens:T/threads:N  the same for short prompts and batched decode;
//  run
//    twice with CHIMERA_PREFILL_MIN_TOKENS=1 (prefill panels always) and =1000000 (decode tiles
//    always) to see where one path overtakes the other.
//  - membw/threads:N                         this machine's read bandwidth: GB/s the best full
//  pass (the roofline numerator), best_window_GB/s the peak.
//  - pool_run/threads:N                      dispatch + barrier cost of one ThreadPool::run.
//  - quantize/<type>                         reference quantizer throughput (values/s).
// Every row names the kernel path (CHIMERA_KERNEL forces one) in the context printed first. Rows
// also carry best_* counters (the fastest single call): on a shared machine the mean mixes in
// preemptions.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/matmul.h"
#include "engine/kernels/membw.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/quant/quant.h"
#include "engine/runtime/thread_pool.h"
#include "util/clock.h"
#include "util/cpu.h"

namespace chimera::engine {
namespace {

constexpr size_t kRotationBytes = size_t{256} << 20;  // >> the 35.8 MiB L3 of the reference machine

std::vector<float> random_floats(size_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A weight matrix whose rows are copies of 16 distinct quantized rows (valid scales everywhere, so
// no denormal or NaN slow paths), repeated `copies` times at different addresses, in the engine's
// layout.
struct Weights {
  std::vector<std::unique_ptr<uint8_t[]>> storage;
  std::vector<WeightMatrix> copies;
  size_t bytes = 0;  // of one copy
};

Weights make_weights(GgmlType type, int64_t rows, int64_t cols, size_t min_total_bytes) {
  Weights w;
  size_t row_bytes = *ggml_row_bytes(type, cols);
  w.bytes = row_bytes * static_cast<size_t>(rows);
  const int64_t distinct = std::min<int64_t>(rows, 16);
  auto values = random_floats(static_cast<size_t>(distinct * cols), 42, 0.05f);
  std::vector<uint8_t> seed_rows(row_bytes * static_cast<size_t>(distinct));
  for (int64_t r = 0; r < distinct; ++r) {
    quantize_row(type, values.data() + r * cols,
                 seed_rows.data() + static_cast<size_t>(r) * row_bytes, cols);
  }
  size_t n_copies = std::max<size_t>(1, (min_total_bytes + w.bytes - 1) / w.bytes);
  for (size_t c = 0; c < n_copies; ++c) {
    w.storage.emplace_back(new uint8_t[w.bytes]);
    uint8_t* dst = w.storage.back().get();
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(dst + static_cast<size_t>(r) * row_bytes,
                  seed_rows.data() + static_cast<size_t>(r % distinct) * row_bytes, row_bytes);
    }
    WeightMatrix m{dst, type, rows, cols, row_bytes};
    if (interleave_at_load() && can_interleave(m)) {
      w.storage.emplace_back(new uint8_t[w.bytes]);
      interleave_strips_fast(m, 0, rows / kInterleaveRows, w.storage.back().get());
      w.storage.erase(w.storage.end() - 2);  // the row-major copy
      m.data = w.storage.back().get();
      m.interleaved = true;
    }
    w.copies.push_back(m);
  }
  return w;
}

void bm_matvec(benchmark::State& state, GgmlType type, int64_t rows, int64_t cols, int threads,
               bool in_cache) {
  Weights w = make_weights(type, rows, cols, in_cache ? 0 : kRotationBytes);
  ThreadPool pool(threads);
  MatmulScratch scratch;
  auto x = random_floats(static_cast<size_t>(cols), 7, 1.0f);
  std::vector<float> y(static_cast<size_t>(rows));
  size_t i = 0;
  int64_t best_ns = INT64_MAX;
  for (auto _ : state) {
    const int64_t start = monotonic_ns();
    matmul(w.copies[i++ % w.copies.size()], x.data(), 1, y.data(), pool, scratch);
    best_ns = std::min(best_ns, monotonic_ns() - start);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.bytes) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  // On a shared machine the mean mixes in preemptions; the best call is the undisturbed rate.
  state.counters["best_GB/s"] = static_cast<double>(w.bytes) / static_cast<double>(best_ns);
}

void bm_gemm(benchmark::State& state, GgmlType type, int64_t rows, int64_t cols, int threads,
             int64_t n_tokens) {
  Weights w = make_weights(type, rows, cols, 0);
  ThreadPool pool(threads);
  MatmulScratch scratch;
  auto x = random_floats(static_cast<size_t>(cols * n_tokens), 7, 1.0f);
  std::vector<float> y(static_cast<size_t>(rows * n_tokens));
  int64_t best_ns = INT64_MAX;
  for (auto _ : state) {
    const int64_t start = monotonic_ns();
    matmul(w.copies[0], x.data(), n_tokens, y.data(), pool, scratch);
    best_ns = std::min(best_ns, monotonic_ns() - start);
    benchmark::DoNotOptimize(y.data());
  }
  const double ops = 2.0 * static_cast<double>(rows * cols * n_tokens);
  state.counters["GOP/s"] =
      benchmark::Counter(ops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["best_GOP/s"] = ops / static_cast<double>(best_ns);
}

// gemma3-1b shapes (engine-reference.md §3.1) and the tensor types llama.cpp's rules give each
// mixture (§2.4): rows of 1152 are not a multiple of 256, so K-quant tensors with 1152 columns fall
// back (Q4_K -> Q5_0, Q6_K -> Q8_0), including the tied 262144 x 1152 LM head.
struct Tensor {
  int64_t rows, cols;
  GgmlType type;
};

std::vector<Tensor> gemma3_1b_tensors(const std::string& mixture) {
  const int n_layer = 26;
  std::vector<Tensor> t;
  for (int l = 0; l < n_layer; ++l) {
    bool more_bits = l < n_layer / 8 || l >= 7 * n_layer / 8 || (l - n_layer / 8) % 3 == 2;
    GgmlType q = GgmlType::kF16, k = q, v = q, o = q, gate = q, up = q, down = q;
    if (mixture == "Q4_0" || mixture == "Q8_0") {
      q = k = v = o = gate = up = down = mixture == "Q4_0" ? GgmlType::kQ4_0 : GgmlType::kQ8_0;
    } else if (mixture == "Q4_K_M") {
      q = k = gate = up = GgmlType::kQ5_0;
      o = GgmlType::kQ4_K;
      v = more_bits ? GgmlType::kQ8_0 : GgmlType::kQ5_0;
      down = more_bits ? GgmlType::kQ6_K : GgmlType::kQ4_K;
    }
    t.push_back({1024, 1152, q});
    t.push_back({256, 1152, k});
    t.push_back({256, 1152, v});
    t.push_back({1152, 1024, o});
    t.push_back({6912, 1152, gate});
    t.push_back({6912, 1152, up});
    t.push_back({1152, 6912, down});
  }
  t.push_back({262144, 1152, mixture == "F16" ? GgmlType::kF16 : GgmlType::kQ8_0});
  return t;
}

void bm_decode_model(benchmark::State& state, const std::string& mixture, int threads) {
  std::vector<Weights> weights;
  size_t total = 0;
  for (const Tensor& t : gemma3_1b_tensors(mixture)) {
    weights.push_back(make_weights(t.type, t.rows, t.cols, 0));
    total += weights.back().bytes;
  }
  ThreadPool pool(threads);
  MatmulScratch scratch;
  auto x = random_floats(6912, 7, 1.0f);
  std::vector<float> y(262144);
  int64_t best_ns = INT64_MAX;
  for (auto _ : state) {
    const int64_t start = monotonic_ns();
    for (const Weights& w : weights) matmul(w.copies[0], x.data(), 1, y.data(), pool, scratch);
    best_ns = std::min(best_ns, monotonic_ns() - start);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(total) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tok/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["best_GB/s"] = static_cast<double>(total) / static_cast<double>(best_ns);
  state.counters["best_tok/s"] = 1e9 / static_cast<double>(best_ns);
  state.counters["MB/token"] = static_cast<double>(total) / 1e6;
}

void bm_membw(benchmark::State& state, int threads) {
  ThreadPool pool(threads);
  double best_pass = 0, best_window = 0;
  for (auto _ : state) {
    auto r = measure_read_bandwidth(pool);
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      return;
    }
    best_pass = std::max(best_pass, r->best_pass_gb_per_s);
    best_window = std::max(best_window, r->best_gb_per_s);
  }
  state.counters["GB/s"] = best_pass;  // the roofline's (engine/kernels/membw.h)
  state.counters["best_window_GB/s"] = best_window;
}

void bm_pool_run(benchmark::State& state, int threads) {
  ThreadPool pool(threads);
  std::vector<int64_t> sink(static_cast<size_t>(threads) * 16);
  int64_t best_ns = INT64_MAX;
  for (auto _ : state) {
    const int64_t start = monotonic_ns();
    pool.run([&](int ith, int) { sink[static_cast<size_t>(ith) * 16] += 1; });
    best_ns = std::min(best_ns, monotonic_ns() - start);
  }
  benchmark::DoNotOptimize(sink.data());
  state.counters["best_ns"] = static_cast<double>(best_ns);
}

void bm_quantize(benchmark::State& state, GgmlType type) {
  const int64_t n = 6912 * 16;
  auto x = random_floats(static_cast<size_t>(n), 3, 0.05f);
  std::vector<uint8_t> out(*ggml_row_bytes(type, n));
  for (auto _ : state) {
    quantize_row(type, x.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["Mvalues/s"] = benchmark::Counter(static_cast<double>(n) / 1e6,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

std::string shape_name(int64_t rows, int64_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

void register_all() {
  const GgmlType q32_types[] = {GgmlType::kF16,  GgmlType::kBF16, GgmlType::kF32,  GgmlType::kQ8_0,
                                GgmlType::kQ5_0, GgmlType::kQ4_0, GgmlType::kQ5_1, GgmlType::kQ4_1, GgmlType::kMXFP4};
  const GgmlType k_types[] = {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
  const int64_t shapes[][2] = {{1024, 1152}, {256, 1152},  {1152, 1024},
                               {6912, 1152}, {1152, 6912}, {262144, 1152}};
  for (int threads : {1, 2}) {
    for (const auto& s : shapes) {
      for (GgmlType type : q32_types) {
        if (type == GgmlType::kF32 && s[0] == 262144) continue;  // 1.2 GB: the F16 head says enough
        std::string name = "matvec/" + std::string(ggml_type_name(type)) + "/" +
                           shape_name(s[0], s[1]) + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), bm_matvec, type, s[0], s[1], threads, false)
            ->UseRealTime()
            ->MinTime(0.3);
      }
      for (GgmlType type : k_types) {
        if (s[1] % 256 != 0) continue;
        std::string name = "matvec/" + std::string(ggml_type_name(type)) + "/" +
                           shape_name(s[0], s[1]) + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), bm_matvec, type, s[0], s[1], threads, false)
            ->UseRealTime()
            ->MinTime(0.3);
      }
    }
  }
  // Compute ceiling of each matvec kernel: one 256-row matrix that stays in L2, one thread. Far
  // above the DRAM share of a core, the kernel is not what limits decode.
  for (GgmlType type : {GgmlType::kF16, GgmlType::kBF16, GgmlType::kF32, GgmlType::kQ8_0,
                        GgmlType::kQ5_0, GgmlType::kQ4_0, GgmlType::kQ5_1, GgmlType::kQ4_1,
                        GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kMXFP4}) {
    const int64_t cols = ggml_type_info(type).block_size == 256 ? 1536 : 1152;
    std::string name =
        "matvec_in_cache/" + std::string(ggml_type_name(type)) + "/" + shape_name(256, cols);
    benchmark::RegisterBenchmark(name.c_str(), bm_matvec, type, 256, cols, 1, true)->MinTime(0.3);
  }
  for (int threads : {1, 2}) {
    for (const char* mixture : {"Q4_0", "Q8_0", "Q4_K_M", "F16"}) {
      std::string name =
          std::string("decode_gemma3_1b/") + mixture + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), bm_decode_model, std::string(mixture), threads)
          ->UseRealTime()
          ->MinTime(1.0);
    }
  }
  const int64_t gemm_shapes[][2] = {{1024, 1152}, {6912, 1152}, {1152, 6912}};
  for (int threads : {1, 2}) {
    for (const auto& s : gemm_shapes) {
      for (GgmlType type :
           {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_1,
            GgmlType::kF16, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
        if (s[1] % ggml_type_info(type).block_size != 0) continue;
        std::string name = "gemm512/" + std::string(ggml_type_name(type)) + "/" +
                           shape_name(s[0], s[1]) + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), bm_gemm, type, s[0], s[1], threads, 512)
            ->UseRealTime()
            ->MinTime(0.5);
      }
    }
  }
  // Short prompts and batched decode: where the prefill path takes over from the decode tiles.
  for (int threads : {1, 2})
    for (int64_t n_tokens : {2, 3, 4, 8, 16, 24, 32, 48, 64, 128, 256}) {
      for (GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ5_0, GgmlType::kQ5_1,
                            GgmlType::kQ4_K, GgmlType::kF16}) {
        const int64_t cols = ggml_type_info(type).block_size == 256 ? 6912 : 1152;
        const int64_t rows = cols == 6912 ? 1152 : 6912;
        std::string name = "gemm_tokens/" + std::string(ggml_type_name(type)) + "/" +
                           shape_name(rows, cols) + "/tokens:" + std::to_string(n_tokens) +
                           "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), bm_gemm, type, rows, cols, threads, n_tokens)
            ->UseRealTime()
            ->MinTime(0.3);
      }
    }
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(("membw/threads:" + std::to_string(threads)).c_str(), bm_membw,
                                 threads)
        ->UseRealTime()
        ->Iterations(1);
    benchmark::RegisterBenchmark(("pool_run/threads:" + std::to_string(threads)).c_str(),
                                 bm_pool_run, threads)
        ->UseRealTime();
  }
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ4_1,
                        GgmlType::kQ5_1, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    benchmark::RegisterBenchmark(("quantize/" + std::string(ggml_type_name(type))).c_str(),
                                 bm_quantize, type);
  }
}

}  // namespace
}  // namespace chimera::engine

int main(int argc, char** argv) {
  benchmark::AddCustomContext(
      "kernel_path",
      std::string(chimera::engine::kernel_path_name(chimera::engine::active_kernel_path())));
  benchmark::AddCustomContext("cpu", chimera::cpu_model_name());
  benchmark::AddCustomContext(
      "weights", chimera::engine::interleave_at_load()
                     ? "Q4_0/Q5_0/Q4_1/Q5_1/Q8_0/Q4_K/Q6_K interleaved in 16-row strips, as the "
                       "engine loads them (CHIMERA_INTERLEAVE=0: file layout)"
                     : "file layout (row-major)");
  benchmark::AddCustomContext("cpu_features", chimera::cpu_feature_string());
  benchmark::AddCustomContext("physical_cores", std::to_string(chimera::physical_core_count()));
  chimera::engine::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

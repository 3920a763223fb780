// chimera bench engine: llama-bench's pp/tg tests on the embedded engine (mean ± sd tok/s over -r
// repetitions after a warm-up), with self-describing rows, this machine's measured read bandwidth,
// the decode roofline it implies for the model and the share of it reached, and peak RSS.
#include <fmt/format.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/command.h"
#include "cli/configured.h"
#include "cli/llama_bench.h"
#include "engine/engine.h"
#include "engine/kernels/matmul.h"
#include "engine/kernels/membw.h"
#include "engine/model/forward.h"
#include "engine/model/model_config.h"
#include "engine/model/model_store.h"
#include "engine/model/model_weights.h"
#include "lab/stats.h"
#include "util/build_info.h"
#include "util/clock.h"
#include "util/cpu.h"
#include "util/json_text.h"
#include "util/strings.h"
#include "util/term.h"

namespace chimera::cli {
namespace {

struct BenchEngineArgs {
  std::string model;
  std::string prompts = "512";
  std::string gens = "128";
  std::string threads;  // default: physical cores
  int repetitions = 5;
  int num_batch = 512;
  bool json = false;
  bool md = false;
  bool no_warmup = false;
  std::string llama_bench;  // a llama-bench binary to run beside ours, interleaved
};

constexpr const char* kProbeWeights = "weights before and after the test";
constexpr const char* kProbeBuffer = "512 MiB buffer after all tests";

struct Row {
  std::string test;  // "pp512", "tg128"
  int n_prompt = 0, n_gen = 0, threads = 0;
  std::string kernel;  // the kernel path its batches ran on (engine::one_token_kernel_path for tg)
  std::vector<int64_t> samples_ns;
  std::vector<double> samples_ts;
  double avg_ns = 0, stddev_ns = 0, avg_ts = 0, stddev_ts = 0;
  double mem_bw_gbs = 0;         // the best full pass: the roofline uses it (kernels/membw.h)
  double mem_bw_window_gbs = 0;  // the best 1 ms window: the peak
  double mem_bw_median_gbs = 0;  // the median window: what the memory typically gave
  std::string bw_probe;          // what the probe read: kProbeWeights or kProbeBuffer
  std::string bw_pattern;        // how its best pass read (engine::read_pattern_name)
  std::optional<double> roofline_tps;
  int64_t peak_rss_bytes = 0;
  std::string test_time;
  // llama-bench on the same file and test, one call per repetition, interleaved with ours.
  std::vector<int64_t> llama_samples_ns;
  std::vector<double> llama_samples_ts;
  std::string llama_build;  // "<commit> (<number>)" as llama-bench reports itself
};

// Ours against llama.cpp's: the ratio of mean t/s with Fieller's 95 % interval (the same statistic
// as Welch's test, so the interval excludes 1 exactly when the test rejects at 5 %).
struct VersusLlama {
  double mean_ts = 0, sd_ts = 0;
  lab::RelativeInterval relative;
};

std::optional<VersusLlama> versus_llama(const Row& r) {
  if (r.llama_samples_ts.empty()) return std::nullopt;
  VersusLlama v;
  v.mean_ts = lab::mean(r.llama_samples_ts);
  v.sd_ts = lab::sample_sd(r.llama_samples_ts);
  v.relative = lab::fieller_relative_ci(r.samples_ts, r.llama_samples_ts);
  return v;
}

std::string ratio_text(const VersusLlama& v) {
  if (!v.relative.ci) return fmt::format("{:.2f}x", v.relative.ratio);
  return fmt::format("{:.2f}x [{:.2f}, {:.2f}]", v.relative.ratio, 1.0 + v.relative.ci->lower, 1.0 + v.relative.ci->upper);
}

Result<std::vector<int>> parse_list(const std::string& flag, const std::string& text,
                                    int min_value) {
  std::vector<int> out;
  for (const std::string& part : split(text, ',')) {
    auto v = parse_int(trim(part));
    if (!v || *v < min_value || *v > 1'000'000) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{}: '{}' is not a number >= {}; give a comma list "
                        "such as 1,2",
                        flag, part, min_value);
    }
    out.push_back(static_cast<int>(*v));
  }
  return out;
}

int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

template <typename T>
std::pair<double, double> mean_sd(const std::vector<T>& v) {
  double mean = 0.0;
  for (T x : v) mean += static_cast<double>(x);
  mean /= static_cast<double>(v.size());
  double var = 0.0;
  for (T x : v) var += (static_cast<double>(x) - mean) * (static_cast<double>(x) - mean);
  double sd = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0;
  return {mean, sd};
}

// Bytes a decode step reads on average over tg positions 0..n_gen-1: the weights (model info) plus
// the F16 K and V rows attended (sliding layers cap them at their window), engine-reference.md
// §6.1.
double decode_bytes_per_token(const engine::Model& model, int n_gen) {
  const engine::ModelConfig& c = model.config();
  double kv = 0.0;
  for (int pos = 0; pos < n_gen; ++pos) {
    for (const auto& layer : c.layers) {
      int attended = layer.is_sliding() ? std::min(pos + 1, layer.sliding_window) : pos + 1;
      kv += 2.0 * layer.n_head_kv * c.head_dim * 2.0 * attended;
    }
  }
  return static_cast<double>(model.info().decode_bytes_per_token) + kv / std::max(1, n_gen);
}

// Probes read the weights when they are at least this large: far larger than any last-level cache.
constexpr size_t kMinProbeBytes = size_t{256} << 20;

void set_bandwidth(Row& row, const engine::ReadBandwidth& bw, const char* probe, const engine::Model& model) {
  row.bw_probe = probe;
  row.bw_pattern = engine::read_pattern_name(bw.best_pattern);
  row.mem_bw_gbs = bw.best_pass_gb_per_s;
  row.mem_bw_window_gbs = bw.best_gb_per_s;
  row.mem_bw_median_gbs = bw.median_gb_per_s;
  if (row.n_gen > 0) row.roofline_tps = bw.best_pass_gb_per_s * 1e9 / decode_bytes_per_token(model, row.n_gen);
}

class Runner {
 public:
  Runner(std::shared_ptr<const engine::Model> model, std::unique_ptr<engine::Context> context)
      : model_(std::move(model)),
        context_(std::move(context)),
        logits_(static_cast<size_t>(model_->config().n_vocab)) {
    std::mt19937 rng(1234);
    tokens_.resize(static_cast<size_t>(context_->options().n_ctx_per_seq));
    for (auto& t : tokens_)
      t = static_cast<int32_t>(rng() % static_cast<uint32_t>(model_->config().n_vocab));
  }

  // A prompt of n tokens in num_batch chunks, logits for the last only (as llama-bench's pp test).
  Result<int64_t> prompt(int n) {
    context_->clear_sequence(0);
    const int n_batch = context_->options().n_batch;
    Stopwatch watch;
    for (int begin = 0; begin < n; begin += n_batch) {
      batch_.clear();
      for (int p = begin; p < std::min(n, begin + n_batch); ++p) {
        batch_.push_back({tokens_[static_cast<size_t>(p)], 0, p, p == n - 1});
      }
      CHIMERA_RETURN_IF_ERROR(context_->decode(batch_, logits_.data()));
    }
    return watch.elapsed_ns();
  }

  engine::ThreadPool& pool() { return context_->pool(); }

  // n single-token decode steps from an empty context (as llama-bench's tg test).
  Result<int64_t> generate(int n) {
    context_->clear_sequence(0);
    Stopwatch watch;
    for (int p = 0; p < n; ++p) {
      engine::BatchToken t{tokens_[static_cast<size_t>(p)], 0, p, true};
      CHIMERA_RETURN_IF_ERROR(
          context_->decode(std::span<const engine::BatchToken>(&t, 1), logits_.data()));
    }
    return watch.elapsed_ns();
  }

 private:
  std::shared_ptr<const engine::Model> model_;
  std::unique_ptr<engine::Context> context_;
  std::vector<float> logits_;
  std::vector<int32_t> tokens_;
  std::vector<engine::BatchToken> batch_;
};

std::string model_type(const engine::ModelInfo& info) {
  return fmt::format("{} {} {}", info.architecture, info.size_label, info.weight_type);
}

nlohmann::json row_json(const Row& r, const engine::Model& model, const BenchEngineArgs& args) {
  const engine::ModelInfo& info = model.info();
  const BuildInfo& build = build_info();
  nlohmann::json j = {
      // llama-bench's field names
      {"build_commit", build.git_commit},
      {"build_number", 0},
      {"cpu_info", cpu_model_name()},
      {"gpu_info", ""},
      {"backends", "CPU"},
      {"model_filename", info.path},
      {"model_type", model_type(info)},
      {"model_size", info.weight_bytes},
      {"model_n_params", info.n_params},
      {"n_batch", args.num_batch},
      {"n_ubatch", args.num_batch},
      {"n_threads", r.threads},
      {"type_k", "f16"},
      {"type_v", "f16"},
      {"n_gpu_layers", 0},
      {"flash_attn", true},
      {"use_mmap", true},
      {"embeddings", false},
      {"n_prompt", r.n_prompt},
      {"n_gen", r.n_gen},
      {"n_depth", 0},
      {"test_time", r.test_time},
      {"avg_ns", static_cast<int64_t>(std::llround(r.avg_ns))},
      {"stddev_ns", static_cast<int64_t>(std::llround(r.stddev_ns))},
      {"avg_ts", r.avg_ts},
      {"stddev_ts", r.stddev_ts},
      {"samples_ns", r.samples_ns},
      {"samples_ts", r.samples_ts},
      // ours
      {"test", r.test},
      {"kernel_path", r.kernel},
      {"cpu_features", cpu_feature_string()},
      {"mem_bw_gbs", r.mem_bw_gbs},
      {"mem_bw_best_window_gbs", r.mem_bw_window_gbs},
      {"mem_bw_median_gbs", r.mem_bw_median_gbs},
      {"mem_bw_probe", r.bw_probe},
      {"mem_bw_pattern", r.bw_pattern},
      {"peak_rss_bytes", r.peak_rss_bytes},
      {"synthetic", info.synthetic},
      {"provenance", info.synthetic ? "synthetic" : "measured"},
      {"repetitions", static_cast<int>(r.samples_ns.size())},
  };
  j["roofline_tps"] = r.roofline_tps ? nlohmann::json(*r.roofline_tps) : nlohmann::json(nullptr);
  j["roofline_pct"] =
      r.roofline_tps ? nlohmann::json(100.0 * r.avg_ts / *r.roofline_tps) : nlohmann::json(nullptr);
  if (auto v = versus_llama(r)) {
    nlohmann::json l = {{"build", r.llama_build},       {"avg_ts", v->mean_ts},
                        {"stddev_ts", v->sd_ts},        {"samples_ts", r.llama_samples_ts},
                        {"samples_ns", r.llama_samples_ns}, {"ratio", v->relative.ratio},
                        {"provenance", "measured"}};
    if (v->relative.ci) {
      l["ratio_ci95"] = {1.0 + v->relative.ci->lower, 1.0 + v->relative.ci->upper};
    } else {
      l["ratio_ci95"] = nullptr;
      l["ratio_ci95_why_none"] = v->relative.why_none;
    }
    j["llama_cpp"] = std::move(l);
  }
  return j;
}

void print_markdown(const std::vector<Row>& rows, const engine::Model& model, const std::string& llama_bench,
                    std::FILE* out) {
  const engine::ModelInfo& info = model.info();
  std::string kernel(engine::kernel_path_name(engine::active_kernel_path()));
  const bool versus = !rows.empty() && !rows.front().llama_samples_ts.empty();
  std::fprintf(out,
               "| model | size | params | backend | threads | test | t/s | roofline t/s | %% of "
               "roofline |%s\n",
               versus ? " llama.cpp t/s | x llama.cpp [95 % CI] |" : "");
  std::fprintf(out,
               "| ----- | ---: | -----: | ------- | ------: | ---: | --: | -----------: | "
               "------------: |%s\n",
               versus ? " ------------: | -------------------: |" : "");
  for (const Row& r : rows) {
    std::string roof = r.roofline_tps ? fmt::format("{:.2f}", *r.roofline_tps) : "";
    std::string pct =
        r.roofline_tps ? fmt::format("{:.1f} %", 100.0 * r.avg_ts / *r.roofline_tps) : "";
    std::string llama;
    if (auto v = versus_llama(r)) llama = fmt::format(" {:.2f} ± {:.2f} | {} |", v->mean_ts, v->sd_ts, ratio_text(*v));
    std::fprintf(out, "| %s | %s | %s | CPU (%s) | %d | %s | %.2f ± %.2f | %s | %s |%s\n",
                 model_type(info).c_str(), format_bytes_binary(info.weight_bytes).c_str(),
                 format_count(info.n_params).c_str(), r.kernel.c_str(), r.threads, r.test.c_str(),
                 r.avg_ts, r.stddev_ts, roof.c_str(), pct.c_str(), llama.c_str());
  }
  for (const Row& r : rows) {
    if (r.kernel == kernel) continue;
    kernel += fmt::format(" ({} for one-token batches of F32/F16/BF16 weights, measured faster)", r.kernel);
    break;
  }
  const BuildInfo& build = build_info();
  std::fprintf(out, "\nbuild: %s (%s, %s) | CPU: %s (%s) | kernel path: %s\n",
               build.git_commit.c_str(), build.build_type.c_str(), build.compiler.c_str(),
               cpu_model_name().c_str(), cpu_feature_string().c_str(), kernel.c_str());
  std::string bw;
  const bool per_test = !rows.empty() && rows.front().bw_probe == kProbeWeights;
  int last_threads = -1;
  for (const Row& r : rows) {
    if (!per_test && r.threads == last_threads) continue;
    last_threads = r.threads;
    bw += fmt::format("{}{}{} thread{} {:.1f} GB/s (best window {:.1f}, median window {:.1f}; best pass read {})",
                      bw.empty() ? "" : ", ", per_test ? r.test + " " : "", r.threads, r.threads == 1 ? "" : "s",
                      r.mem_bw_gbs, r.mem_bw_window_gbs, r.mem_bw_median_gbs, r.bw_pattern);
  }
  std::fprintf(out, "memory read bandwidth (measured, best full pass, %s): %s\n",
               per_test ? "the better of two probes reading the weights right before and right after each test"
                        : "a 512 MiB buffer read after all tests",
               bw.c_str());
  // The same rows against the peak, so the stricter figure is never out of sight.
  std::string peak;
  bool above = false;
  for (const Row& r : rows) {
    if (!r.roofline_tps || r.mem_bw_gbs <= 0) continue;
    above = above || r.avg_ts > *r.roofline_tps;
    const double pct = 100.0 * r.avg_ts / (*r.roofline_tps * r.mem_bw_window_gbs / r.mem_bw_gbs);
    peak += fmt::format("{}{} {} thread{} {:.1f} %", peak.empty() ? "" : ", ", r.test, r.threads,
                        r.threads == 1 ? "" : "s", pct);
  }
  if (!peak.empty()) {
    std::fprintf(out, "decode against the best window instead (a peak that no full pass kept up): %s\n",
                 peak.c_str());
  }
  // Above 100 %: with the probe around each test, the memory sped up during it; with the buffer
  // probe (weights too small to probe), the caches served the weights.
  if (above && per_test) {
    std::fprintf(out,
                 "note: a row above 100 %% read its weights faster than both probes around it did: the memory "
                 "sped up during the test (a shared machine's speed drifts between minutes); rerun it for a "
                 "bound from one phase\n");
  } else if (above) {
    std::fprintf(out,
                 "note: a row above 100 %% has weights small enough for the caches to serve part of them: "
                 "a memory roofline does not bound it\n");
  }
  if (versus) {
    std::fprintf(out,
                 "llama.cpp (measured): llama-bench %s, build %s, on the same file in the same minutes: one "
                 "repetition per call (each call loads the model and runs its own warm-up), taking turns with "
                 "ours; the ratio is mean t/s over mean t/s, its interval Fieller's (1 outside it: a difference "
                 "Welch's test finds at 5 %%)\n",
                 llama_bench.c_str(), rows.front().llama_build.c_str());
  }
  std::fprintf(
      out, "peak RSS (measured): %s\n",
      format_bytes_binary(static_cast<uint64_t>(rows.empty() ? 0 : rows.back().peak_rss_bytes))
          .c_str());
  std::fprintf(out,
               "provenance: t/s %s, mean ± sd over repetitions after a warm-up; roofline derived = "
               "bandwidth (best full pass) / (weights read per token %s + F16 KV attended)\n",
               info.synthetic ? "synthetic (dummy weights: timings real)" : "measured",
               format_bytes(info.decode_bytes_per_token).c_str());
}

int run_bench_engine(const BenchEngineArgs& args) {
  auto prompts = parse_list("-p/--n-prompt", args.prompts, 0);
  if (!prompts.ok()) return report_error(prompts.status());
  auto gens = parse_list("-n/--n-gen", args.gens, 0);
  if (!gens.ok()) return report_error(gens.status());
  auto threads =
      parse_list("-t/--threads",
                 args.threads.empty() ? std::to_string(physical_core_count()) : args.threads, 1);
  if (!threads.ok()) return report_error(threads.status());
  if (args.repetitions < 1)
    return report_error(Status(ErrorCode::kInvalidArgument, "-r/--repetitions must be >= 1"));
  if (args.num_batch < 1)
    return report_error(Status(ErrorCode::kInvalidArgument, "-b/--num-batch must be >= 1"));
  if (!args.llama_bench.empty()) {
    if (Status s = check_llama_bench(args.llama_bench); !s.is_ok()) return report_error(s);
  }

  engine::ModelStore store;
  auto path = engine::resolve_model_path(args.model, store);
  if (!path.ok()) return report_error(path.status());
  auto model = engine::Model::load(*path);
  if (!model.ok()) return report_error(model.status());
  if ((*model)->info().synthetic) {
    std::fprintf(stderr,
                 "chimera: %s has dummy weights (synthetic): timings are real, text would be "
                 "meaningless\n",
                 args.model.c_str());
  }
  int max_prompt = 0, max_gen = 0, n_tests = 0;
  for (int p : *prompts) {
    max_prompt = std::max(max_prompt, p);
    n_tests += p > 0;
  }
  for (int n : *gens) {
    max_gen = std::max(max_gen, n);
    n_tests += n > 0;
  }
  const int runs_per_test = args.repetitions * (args.llama_bench.empty() ? 1 : 2) + (args.no_warmup ? 0 : 1);
  term::ProgressBar progress("bench engine",
                             static_cast<int64_t>(threads->size()) * n_tests * runs_per_test);
  int64_t done = 0;

  // The roofline's bandwidth, read in the minutes each test runs: the VM's memory speed drifts by 20 %
  // between phases, so one probe after all tests (as before) could give a row a bound from another
  // phase (a Q8_0 tg row once showed 100.5 %). Probes read the weights themselves (no memory of their
  // own, so peak RSS stays the engine's), right before and right after each test, and the row keeps
  // the better one. Weights too small to be far larger than a last-level cache (or left in the file's
  // mapping) get the old way: one probe of a buffer of its own per thread count, after all tests.
  const engine::ModelWeights& weights = (*model)->weights();
  const bool probe_weights = weights.arena != nullptr && weights.arena_bytes >= kMinProbeBytes;
  engine::ReadBandwidthOptions probe_options;
  if (probe_weights) probe_options.source = {weights.arena.get(), weights.arena_bytes};

  std::vector<Row> rows;
  for (int t : *threads) {
    engine::ContextOptions options;
    options.n_ctx_per_seq = std::max(1, std::max(max_prompt, max_gen));
    options.n_batch = args.num_batch;
    options.num_thread = t;
    auto context = engine::Context::create(*model, options);
    if (!context.ok()) return report_error(context.status());
    Runner runner(*model, std::move(*context));
    auto run_test = [&](bool is_prompt, int n) -> Status {
      Row row;
      row.test = fmt::format("{}{}", is_prompt ? "pp" : "tg", n);
      row.n_prompt = is_prompt ? n : 0;
      row.n_gen = is_prompt ? 0 : n;
      row.threads = t;
      const bool one_token_batches = !is_prompt || std::min(n, args.num_batch) == 1;
      row.kernel = engine::kernel_path_name(one_token_batches
                                                ? engine::one_token_kernel_path(weights)
                                                : engine::active_kernel_path());
      row.test_time = iso_timestamp_utc(unix_time_ms());
      std::optional<engine::ReadBandwidth> before;
      if (probe_weights) {
        auto bw = engine::measure_read_bandwidth(runner.pool(), probe_options);
        if (!bw.ok()) return bw.status();
        before = *bw;
      }
      for (int rep = -1; rep < args.repetitions; ++rep) {
        if (rep < 0 && args.no_warmup) continue;
        auto ns = is_prompt ? runner.prompt(n) : runner.generate(n);
        if (!ns.ok()) return ns.status();
        progress.update(++done, row.test);
        if (rep < 0) continue;  // the warm-up run is not a sample
        row.samples_ns.push_back(*ns);
        row.samples_ts.push_back(n / ns_to_s(*ns));
        if (args.llama_bench.empty()) continue;
        // llama.cpp's repetition right after ours, so both see the same minutes of this machine.
        auto theirs = run_llama_bench(args.llama_bench, {*path, row.n_prompt, row.n_gen, t, args.num_batch});
        if (!theirs.ok()) return theirs.status();
        progress.update(++done, row.test + " llama.cpp");
        row.llama_samples_ns.push_back(theirs->ns);
        row.llama_samples_ts.push_back(theirs->tokens_per_s);
        row.llama_build = fmt::format("{} ({})", theirs->build_commit, theirs->build_number);
      }
      std::tie(row.avg_ns, row.stddev_ns) = mean_sd(row.samples_ns);
      std::tie(row.avg_ts, row.stddev_ts) = mean_sd(row.samples_ts);
      row.peak_rss_bytes = peak_rss_bytes();
      if (before) {
        auto after = engine::measure_read_bandwidth(runner.pool(), probe_options);
        if (!after.ok()) return after.status();
        set_bandwidth(row, after->best_pass_gb_per_s > before->best_pass_gb_per_s ? *after : *before, kProbeWeights,
                      **model);
      }
      rows.push_back(std::move(row));
      return Status::ok();
    };
    for (int p : *prompts) {
      if (p <= 0) continue;
      Status s = run_test(true, p);
      if (!s.is_ok()) return report_error(s);
    }
    for (int n : *gens) {
      if (n <= 0) continue;
      Status s = run_test(false, n);
      if (!s.is_ok()) return report_error(s);
    }
  }
  progress.finish();
  // Bandwidth last: its 512 MiB buffer would otherwise count in the engine's peak RSS.
  for (int t : probe_weights ? std::vector<int>{} : *threads) {
    engine::ThreadPool pool(t);
    auto bw = engine::measure_read_bandwidth(pool);
    if (!bw.ok()) return report_error(bw.status());
    for (Row& row : rows) {
      if (row.threads == t) set_bandwidth(row, *bw, kProbeBuffer, **model);
    }
  }
  if (args.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const Row& r : rows) out.push_back(row_json(r, **model, args));
    std::printf("%s\n", json_text(out, 2).c_str());
  } else {
    print_markdown(rows, **model, args.llama_bench, stdout);
  }
  return kExitOk;
}

}  // namespace

void register_bench_engine(CLI::App& bench) {
  auto args = std::make_shared<BenchEngineArgs>();
  auto* sub =
      bench.add_subcommand("engine",
                           "llama-bench style pp/tg throughput of the embedded engine, with "
                           "the decode roofline of this machine");
  sub->add_option("-m,--model", args->model, "PATH.gguf or ollama:NAME[:TAG]")->required();
  sub->add_option("-p,--n-prompt", args->prompts, "prompt lengths (pp tests), comma list; 0 = none")
      ->capture_default_str();
  sub->add_option("-n,--n-gen", args->gens, "generated lengths (tg tests), comma list; 0 = none")
      ->capture_default_str();
  auto* threads = sub->add_option("-t,--threads", args->threads,
                                  "thread counts, comma list (default: physical cores)");
  if (auto configured = configured_or("threads", "0"); configured != "0") {
    args->threads = configured;  // 0 in the configuration: physical cores, as without it
    threads->default_str(configured);
  }
  sub->add_option("-r,--repetitions", args->repetitions, "repetitions per test")
      ->capture_default_str();
  sub->add_option("-b,--num-batch", args->num_batch, "prompt tokens per forward pass")
      ->capture_default_str();
  sub->add_flag("--no-warmup", args->no_warmup, "skip the warm-up run of each test");
  sub->add_option("--llama-bench", args->llama_bench,
                  "PATH of llama.cpp's llama-bench: run it on the same file and tests, one repetition "
                  "per call taking turns with ours, and print its t/s and our ratio beside each row");
  auto* json =
      sub->add_flag("--json", args->json, "rows as JSON (llama-bench field names plus ours)");
  auto* md = sub->add_flag("--md", args->md, "Markdown table (the default)");
  json->excludes(md);
  sub->callback([args] { set_exit_code(run_bench_engine(*args)); });
}

}  // namespace chimera::cli

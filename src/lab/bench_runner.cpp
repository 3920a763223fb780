#include "lab/bench_runner.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "lab/stats.h"
#include "util/clock.h"

namespace chimera::lab {
namespace {

std::map<std::string, std::string> values_of(const llm::Options& o) {
  std::map<std::string, std::string> out;
  for (auto& [name, value] : o.items()) out[name] = value;
  return out;
}

bool ab(const PreparedPlan& p) { return p.arms.size() == 2; }

// The seed a call sends: the arm's own when the user set one, else the pair's derived seed (A/B),
// else none (single arm: exactly what the user asked for).
std::optional<int64_t> seed_for(const PreparedPlan& p, const ArmSpec& arm, uint64_t seed_base,
                                int64_t pair_index) {
  if (arm.options.seed) return arm.options.seed;
  if (ab(p)) return pair_seed(seed_base, pair_index);
  return std::nullopt;
}

}  // namespace

int64_t pair_seed(uint64_t seed_base, int64_t pair_index) {
  SeededRng rng(seed_base * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(pair_index));
  return static_cast<int64_t>(rng.next() >> 33);  // 31 bits: fits every backend's seed type
}

std::vector<int64_t> poisson_offsets_ns(int n, double rate_rps, uint64_t seed) {
  std::vector<int64_t> out;
  if (n <= 0 || !(rate_rps > 0)) return out;
  SeededRng rng(seed);
  double t_s = 0;
  for (int i = 0; i < n; ++i) {
    out.push_back(static_cast<int64_t>(t_s * 1e9));
    t_s += -std::log(rng.uniform_open_closed()) / rate_rps;  // exponential gaps: a Poisson process
  }
  return out;
}

PreparedPlan prepare_plan(const BenchPlan& plan, const llm::BackendCapabilities& caps) {
  PreparedPlan out;
  ArmSpec a{"A", plan.arm_a, {}};
  std::vector<ArmSpec> arms = {a};
  if (plan.vs) arms.push_back(ArmSpec{"B", plan.arm_a.merged_with(*plan.vs), {}});
  bool two = arms.size() == 2;
  std::map<std::string, std::string> from_flags = values_of(plan.arm_a);
  std::map<std::string, std::string> from_vs = plan.vs ? values_of(*plan.vs) : decltype(from_vs){};
  for (ArmSpec& arm : arms) {
    bool default_length = !arm.options.num_predict;
    if (default_length) arm.options.num_predict = kBenchDefaultNumPredict;
    std::map<std::string, std::string> values = values_of(arm.options);
    for (std::string_view name_view : llm::option_names()) {
      std::string name(name_view);
      OptionLine line{name, "", ""};
      if (name == "seed" && !arm.options.seed && two) {
        line.value = fmt::format("per pair (from seed base {})", plan.seed_base);
        line.source = "sent (per-pair seed)";
      } else if (auto it = values.find(name); it != values.end()) {
        line.value = it->second;
        if (arm.label == "B" && from_vs.count(name)) {
          line.source = "sent (--vs)";
        } else if (from_flags.count(name)) {
          line.source = "sent (flag)";
        } else {
          line.source = "sent (bench default)";
        }
      } else {
        line.value = "-";
        line.source = "backend default";
      }
      arm.lines.push_back(std::move(line));
    }
  }
  out.arms = std::move(arms);
  out.ignore_eos = plan.ignore_eos && caps.ignore_eos;
  if (plan.ignore_eos && !caps.ignore_eos) {
    out.warnings.push_back(
        "this backend cannot ignore end-of-sequence: a call may stop before num_predict tokens, so "
        "token counts can differ between calls (decode_tps stays comparable, e2e_ms less so)");
  }
  if (two) {
    const llm::Options& oa = out.arms[0].options;
    const llm::Options& ob = out.arms[1].options;
    if (oa.num_predict != ob.num_predict) {
      out.warnings.push_back(fmt::format(
          "the arms generate different lengths (num_predict A={}, B={}): e2e_ms and decode_ms "
          "compare unequal work",
          *oa.num_predict, *ob.num_predict));
    }
    if (oa.seed != ob.seed) {
      out.warnings.push_back("the arms use different seeds: paired calls do not sample alike");
    }
  }
  if (plan.prompts.empty()) out.warnings.push_back("no prompts: nothing will be measured");
  return out;
}

std::vector<PlannedCall> plan_sequential(const BenchPlan& plan, const PreparedPlan& prepared) {
  std::vector<PlannedCall> calls;
  if (plan.prompts.empty()) return calls;
  const int64_t prompt_count = static_cast<int64_t>(plan.prompts.size());
  int64_t seq = 0;
  auto add = [&](const ArmSpec& arm, int64_t prompt_index, int64_t repetition, int64_t pair_index,
                 bool warmup, std::optional<int64_t> seed) {
    PlannedCall c;
    c.meta.arm = arm.label;
    c.meta.seq = seq++;
    c.meta.pair_index = pair_index;
    c.meta.prompt_index = prompt_index;
    c.meta.repetition = repetition;
    c.meta.warmup = warmup;
    c.request = plan.base;
    c.request.prompt = plan.prompts[static_cast<size_t>(prompt_index)];
    c.request.options = arm.options;
    c.request.options.seed = seed;
    c.request.ignore_eos = prepared.ignore_eos;
    calls.push_back(std::move(c));
  };
  // The order of a pair's arms alternates: AB, BA, AB, ... (also for warm-ups), so neither arm
  // always runs first, into a cache or a clock boost the other did not get.
  auto pair_order = [&](int64_t k) {
    std::vector<const ArmSpec*> order;
    for (const ArmSpec& arm : prepared.arms) order.push_back(&arm);
    if (order.size() == 2 && k % 2 == 1) std::swap(order[0], order[1]);
    return order;
  };
  for (int64_t w = 0; w < plan.warmup; ++w) {
    for (const ArmSpec* arm : pair_order(w)) {
      add(*arm, w % prompt_count, w / prompt_count, -1, true,
          seed_for(prepared, *arm, plan.seed_base ^ 0x77a3u, w));
    }
  }
  int64_t k = 0;
  for (int64_t r = 0; r < plan.runs; ++r) {
    for (int64_t p = 0; p < prompt_count; ++p, ++k) {
      for (const ArmSpec* arm : pair_order(k)) {
        add(*arm, p, r, ab(prepared) ? k : -1, false, seed_for(prepared, *arm, plan.seed_base, k));
      }
    }
  }
  return calls;
}

BenchRunner::BenchRunner(llm::Backend& backend, BenchPlan plan)
    : backend_(backend), plan_(std::move(plan)) {
  prepared_ = prepare_plan(plan_, backend_.capabilities());
}

int BenchRunner::requests_per_level(int concurrency) const {
  if (plan_.requests_per_level > 0) return plan_.requests_per_level;
  int base = plan_.runs * static_cast<int>(plan_.prompts.size());
  return std::max(base, 4 * concurrency);
}

int64_t BenchRunner::total_calls() const {
  int64_t arms = static_cast<int64_t>(prepared_.arms.size());
  int64_t warmups = arms * plan_.warmup;
  if (plan_.prompts.empty()) return 0;
  if (plan_.concurrency.empty() && plan_.rates_rps.empty()) {
    return warmups + arms * plan_.runs * static_cast<int64_t>(plan_.prompts.size());
  }
  int64_t total = warmups;
  for (int c : plan_.concurrency) total += arms * requests_per_level(c);
  for (size_t i = 0; i < plan_.rates_rps.size(); ++i) total += arms * requests_per_level(1);
  return total;
}

bool BenchRunner::stopping() {
  if (!stopped_ && should_stop_ && should_stop_()) stopped_ = true;
  return stopped_;
}

void BenchRunner::execute(PlannedCall call, BenchRun& run) {
  MeasuredCall measured;
  measured.meta = std::move(call.meta);
  try {
    measured.record = backend_.generate(call.request);
  } catch (const std::exception& e) {  // a backend must not throw; if one does, it is a failed call
    measured.record.ok = false;
    measured.record.error_code = ErrorCode::kInternal;
    measured.record.error = fmt::format("backend threw: {}", e.what());
  }
  std::lock_guard lock(mutex_);
  run.calls.push_back(measured);
  if (!run.levels.empty() && !measured.meta.warmup) run.levels.back().calls.push_back(measured);
  if (on_call_) on_call_(measured);
  int64_t done = ++done_;
  if (on_progress_) on_progress_(done, total_calls());
}

PlannedCall BenchRunner::load_call(const ArmSpec& arm, int64_t index, int64_t seq) const {
  const int64_t prompt_count = static_cast<int64_t>(plan_.prompts.size());
  PlannedCall c;
  c.meta.arm = arm.label;
  c.meta.seq = seq;
  c.meta.prompt_index = index % prompt_count;
  c.meta.repetition = index / prompt_count;
  // Request i of arm A and request i of arm B form a pair: same prompt, same seed.
  c.meta.pair_index = ab(prepared_) ? index : -1;
  c.request = plan_.base;
  c.request.prompt = plan_.prompts[static_cast<size_t>(c.meta.prompt_index)];
  c.request.options = arm.options;
  c.request.options.seed = seed_for(prepared_, arm, plan_.seed_base, index);
  c.request.ignore_eos = prepared_.ignore_eos;
  return c;
}

void BenchRunner::run_sequential(BenchRun& run) {
  for (PlannedCall& call : plan_sequential(plan_, prepared_)) {
    if (stopping()) break;
    next_seq_ = call.meta.seq + 1;
    execute(std::move(call), run);
  }
}

void BenchRunner::run_closed_loop(BenchRun& run, const ArmSpec& arm, int concurrency) {
  const int n = requests_per_level(concurrency);
  {
    std::lock_guard lock(mutex_);
    run.levels.push_back(LevelResult{arm.label, concurrency, std::nullopt, 0, {}});
  }
  std::atomic<int64_t> next{0};
  int64_t start = monotonic_ns();
  {
    std::vector<std::jthread> workers;
    for (int w = 0; w < concurrency; ++w) {
      workers.emplace_back([&] {
        for (int64_t i = next++; i < n && !stopping(); i = next++) {
          PlannedCall call = load_call(arm, i, next_seq_++);
          call.meta.concurrency = concurrency;
          execute(std::move(call), run);
        }
      });
    }
  }
  std::lock_guard lock(mutex_);
  run.levels.back().wall_ns = monotonic_ns() - start;
}

void BenchRunner::run_open_loop(BenchRun& run, const ArmSpec& arm, double rate_rps) {
  const int n = requests_per_level(1);
  {
    std::lock_guard lock(mutex_);
    run.levels.push_back(LevelResult{arm.label, 0, rate_rps, 0, {}});
  }
  std::vector<int64_t> offsets = poisson_offsets_ns(
      n, rate_rps, plan_.seed_base ^ static_cast<uint64_t>(std::llround(rate_rps * 1000)));
  std::mutex flight_mutex;
  std::condition_variable flight_cv;
  int in_flight = 0;
  int64_t start = monotonic_ns();
  {
    std::vector<std::jthread> senders;
    for (int i = 0; i < n && !stopping(); ++i) {
      int64_t due = start + offsets[static_cast<size_t>(i)];
      int64_t wait_ns = due - monotonic_ns();
      if (wait_ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait_ns));
      {
        // Open loop: arrivals do not wait for completions, up to a safety cap on threads.
        std::unique_lock lock(flight_mutex);
        flight_cv.wait(lock, [&] { return in_flight < plan_.max_in_flight; });
        ++in_flight;
      }
      PlannedCall call = load_call(arm, i, next_seq_++);
      call.meta.concurrency = 0;  // open loop: no fixed number of workers
      call.meta.rate_rps = rate_rps;
      call.meta.scheduled_offset_ns = offsets[static_cast<size_t>(i)];
      senders.emplace_back([this, &run, &flight_mutex, &flight_cv, &in_flight,
                            call = std::move(call)]() mutable {
        execute(std::move(call), run);
        std::lock_guard lock(flight_mutex);
        --in_flight;
        flight_cv.notify_one();
      });
    }
  }
  std::lock_guard lock(mutex_);
  run.levels.back().wall_ns = monotonic_ns() - start;
}

BenchRun BenchRunner::run() {
  BenchRun run;
  run.prepared = prepared_;
  done_ = 0;
  next_seq_ = 0;
  int64_t start = monotonic_ns();
  if (plan_.concurrency.empty() && plan_.rates_rps.empty()) {
    run_sequential(run);
  } else {
    // Warm-ups first (interleaved), then every level for each arm, the arm order alternating
    // between levels.
    BenchPlan warm_only = plan_;
    warm_only.runs = 0;
    for (PlannedCall& call : plan_sequential(warm_only, prepared_)) {
      if (stopping()) break;
      next_seq_ = call.meta.seq + 1;
      execute(std::move(call), run);
    }
    size_t level = 0;
    auto arms_for = [&](size_t i) {
      std::vector<const ArmSpec*> order;
      for (const ArmSpec& arm : prepared_.arms) order.push_back(&arm);
      if (order.size() == 2 && i % 2 == 1) std::swap(order[0], order[1]);
      return order;
    };
    for (int c : plan_.concurrency) {
      for (const ArmSpec* arm : arms_for(level)) {
        if (!stopping()) run_closed_loop(run, *arm, c);
      }
      ++level;
    }
    for (double r : plan_.rates_rps) {
      for (const ArmSpec* arm : arms_for(level)) {
        if (!stopping()) run_open_loop(run, *arm, r);
      }
      ++level;
    }
  }
  run.wall_ns = monotonic_ns() - start;
  run.cancelled = stopped_;
  return run;
}

}  // namespace chimera::lab

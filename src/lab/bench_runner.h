// The measurement loop behind `chimera bench`: prompts x repetitions through one llm::Backend, one arm
// or two (A/B), sequentially or under load.
//
// Fairness rules for A/B runs (docs/prior-system.md items 6-7):
// - Interleaved in pairs, and the first arm alternates from pair to pair: AB BA AB BA ...
// - Both calls of a pair get the same prompt and the same seed (the user's seed if they set one, else
//   one derived from --seed-base and the pair index), and both arms the same num_predict (a bench
//   default when neither sets one) and ignore_eos where the backend supports it, so both do the
//   same work.
// - Warm-up calls run first (interleaved too) and are excluded from statistics.
// Load modes (servers): closed loop with C workers (--concurrency 1,2,4,8 sweeps levels) or an open
// loop with seeded Poisson arrivals (--rate R).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lab/call_meta.h"
#include "llm/backend.h"

namespace chimera::lab {

inline constexpr int64_t kBenchDefaultNumPredict = 128;

// One option as a run's header prints it: the value in force and where it came from.
struct OptionLine {
  std::string name, value;
  std::string source;  // "sent (flag)", "sent (bench default)", "sent (per-pair seed)", "backend default"
};

struct ArmSpec {
  std::string label;    // "A", "B"
  llm::Options options; // what every call of this arm sends (seed may vary per pair)
  std::vector<OptionLine> lines;
};

struct BenchPlan {
  std::vector<std::string> prompts;
  int runs = 5;        // sequential: measured repetitions of each prompt per arm
  int warmup = 1;      // warm-up calls per arm
  llm::Request base;   // model, system, raw, timeouts; prompt and options are set per call
  llm::Options arm_a;                 // the options given as flags
  std::optional<llm::Options> vs;     // --vs assignments: arm B = arm_a merged with these
  uint64_t seed_base = 42;            // per-pair seeds and Poisson arrivals
  bool ignore_eos = true;             // where the backend supports it
  // Load modes; both empty means sequential.
  std::vector<int> concurrency;       // closed loop levels
  std::vector<double> rates_rps;      // open loop levels
  int requests_per_level = 0;         // 0: runs x prompts, raised to 4 x concurrency
  int max_in_flight = 256;            // open loop safety cap
};

struct PlannedCall {
  CallMeta meta;
  llm::Request request;
};

// Arm specs (with "sent vs default" lines) and the warnings the plan deserves, before anything runs.
struct PreparedPlan {
  std::vector<ArmSpec> arms;
  bool ignore_eos = false;
  std::vector<std::string> warnings;
};
PreparedPlan prepare_plan(const BenchPlan& plan, const llm::BackendCapabilities& caps);

// The sequential schedule: warm-ups, then pairs (or single calls) in issue order.
std::vector<PlannedCall> plan_sequential(const BenchPlan& plan, const PreparedPlan& prepared);

// The seed both calls of pair `pair_index` use when the user set none: stable, positive, 31 bits.
int64_t pair_seed(uint64_t seed_base, int64_t pair_index);
// Open-loop send times (ns after the level starts) for n requests at rate_rps, exponential gaps.
std::vector<int64_t> poisson_offsets_ns(int n, double rate_rps, uint64_t seed);

// Throughput of one arm at one load level.
struct LevelResult {
  std::string arm;
  int concurrency = 1;
  std::optional<double> rate_rps;
  int64_t wall_ns = 0;              // first send to last completion
  std::vector<MeasuredCall> calls;  // measured calls of this level, in completion order
};

struct BenchRun {
  PreparedPlan prepared;
  std::vector<MeasuredCall> calls;   // every call (warm-ups included), in completion order
  std::vector<LevelResult> levels;   // load modes only
  int64_t wall_ns = 0;
  bool cancelled = false;
};

class BenchRunner {
 public:
  using OnCall = std::function<void(const MeasuredCall&)>;
  using OnProgress = std::function<void(int64_t done, int64_t total)>;

  BenchRunner(llm::Backend& backend, BenchPlan plan);

  // Called after each call completes, serialized (never concurrently), before the next progress
  // update: the results store commits here.
  void on_call(OnCall callback) { on_call_ = std::move(callback); }
  void on_progress(OnProgress callback) { on_progress_ = std::move(callback); }
  // Polled between calls; true stops the run early (Ctrl-C).
  void should_stop(std::function<bool()> predicate) { should_stop_ = std::move(predicate); }

  int64_t total_calls() const;
  BenchRun run();

 private:
  void execute(PlannedCall call, BenchRun& run);
  void run_sequential(BenchRun& run);
  void run_closed_loop(BenchRun& run, const ArmSpec& arm, int concurrency);
  void run_open_loop(BenchRun& run, const ArmSpec& arm, double rate_rps);
  PlannedCall load_call(const ArmSpec& arm, int64_t index, int64_t seq) const;
  int requests_per_level(int concurrency) const;
  bool stopping();

  llm::Backend& backend_;
  BenchPlan plan_;
  PreparedPlan prepared_;
  OnCall on_call_;
  OnProgress on_progress_;
  std::function<bool()> should_stop_;
  std::mutex mutex_;  // guards the run's vectors and serializes callbacks
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> next_seq_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace chimera::lab

// Concurrency statistics for `chimera agents`: what running N agents at once really buys, measured
// against the same agents run alone.
//
// Protocol (agent/multi_agent.h): per repetition, every agent's workflow runs solo (one agent at a
// time) and then all run concurrently (or the reverse order, alternating across repetitions to
// cancel drift). From those walls:
// - speedup = sequential wall / concurrent wall, where the sequential wall is the sum of the solo
//   walls: > 1 means running together finished the same work sooner. Its point estimate is the
//   geometric mean of the per-repetition ratios and its CI the t-interval of the mean of their
//   logarithms, exponentiated. Why the log scale: a ratio's sampling distribution is skewed and its
//   log is not, the interval cannot reach below 0, and the pairing within a repetition (solo and
//   concurrent ran minutes apart, under the same drift) is kept.
// - efficiency = speedup / N (1 = perfect parallelism), with the CI scaled the same way.
// - slowdown of an agent = its concurrent latency / its solo latency (same log-t method).
// - Jain's fairness index over agents, per repetition, of x_i = solo_i / concurrent_i (the share of
//   its solo speed each agent kept): (sum x)^2 / (N sum x^2), 1 = all slowed equally, 1/N = one
//   agent got everything. Mean and t-CI over repetitions.
// - balance ratio: the prior system's "concurrency speedup" (sum over agents of their latencies
//   during the concurrent run) / concurrent wall. It always lies in [1, N] and measures how much
//   the agents overlapped, not a speedup: a server that serialises everything still reads about N.
//   Printed under that name so old reports can be read.
// - contention verdict: Welch's t-test of per-call decode tok/s, concurrent calls vs solo calls;
//   with the minimum detectable difference when nothing significant is found.
// A repetition in which any agent failed in either phase has no comparable walls: it is left out of
// the wall statistics and counted (its calls stay in the call statistics as failures).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/metrics.h"
#include "lab/stats.h"

namespace chimera::lab {

// One agent within one repetition.
struct AgentWalls {
  std::string agent;
  int64_t solo_ns = 0;        // its workflow alone, first send to last byte
  int64_t concurrent_ns = 0;  // its workflow while every agent ran
  bool solo_ok = false, concurrent_ok = false;
  int64_t solo_tokens = 0, concurrent_tokens = 0;  // generated, successful calls only
};

struct RepetitionWalls {
  int64_t repetition = 0;
  bool concurrent_first = false;  // the phase order of this repetition
  int64_t sequential_ns = 0;      // sum of the agents' solo walls
  int64_t concurrent_ns = 0;      // first start to last end of the concurrent phase
  std::vector<AgentWalls> agents;
  bool complete() const;  // every agent succeeded in both phases
};

// A ratio over repetitions: geometric mean and the exponentiated log-scale t-interval.
struct RatioEstimate {
  size_t n = 0;
  double estimate = 0;         // geometric mean; NaN when n == 0
  std::optional<Interval> ci;  // when n >= 2
  std::vector<double> values;  // per repetition
};
RatioEstimate log_ratio_estimate(std::span<const double> ratios, double level = 0.95);

// A plain mean over repetitions with its t-interval.
struct MeanEstimate {
  size_t n = 0;
  double mean = 0;
  std::optional<Interval> ci;
  std::vector<double> values;
};
MeanEstimate mean_estimate(std::span<const double> values, double level = 0.95);

// (sum x)^2 / (n sum x^2); 1 for a single value; NaN when empty or all zero.
double jain_fairness(std::span<const double> x);
// The prior system's figure: sum of the agents' times / wall.
double balance_ratio(std::span<const int64_t> agent_ns, int64_t wall_ns);

enum class ContentionKind {
  kContention,    // concurrent calls decoded significantly slower
  kNone,          // no significant difference
  kFaster,        // concurrent calls decoded significantly faster
  kInsufficient,  // fewer than 2 calls on a side
};
std::string_view contention_kind_name(ContentionKind kind);

struct ContentionVerdict {
  ContentionKind kind = ContentionKind::kInsufficient;
  size_t solo_calls = 0, concurrent_calls = 0;
  double solo_mean_tps = 0, concurrent_mean_tps = 0;
  std::optional<WelchResult> welch;         // concurrent - solo
  std::optional<Interval> relative_change;  // concurrent / solo - 1 (Fieller, as the Welch test)
  double minimum_detectable_tps = 0;        // at 80% power; NaN when unknown
  std::string sentence;                     // built from the numbers above only
};
ContentionVerdict contention_test(std::span<const double> solo_decode_tps,
                                  std::span<const double> concurrent_decode_tps,
                                  double alpha = 0.05);

struct AgentSlowdown {
  std::string agent;
  RatioEstimate slowdown;  // concurrent / solo latency
  Summary solo_ms, concurrent_ms;
};

struct LatencyPercentiles {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0;
};

struct ConcurrencyAnalysis {
  int agents = 0;
  double level = 0.95;
  size_t repetitions = 0;           // run
  size_t repetitions_complete = 0;  // used for the wall statistics
  RatioEstimate speedup;
  double efficiency = 0;  // speedup / agents
  std::optional<Interval> efficiency_ci;
  MeanEstimate sequential_wall_s, concurrent_wall_s;
  MeanEstimate fairness;                  // Jain's index of solo_i / concurrent_i
  MeanEstimate balance_ratio;             // the prior system's figure
  MeanEstimate solo_aggregate_tps;        // tokens of the solo phase / sequential wall
  MeanEstimate concurrent_aggregate_tps;  // tokens of the concurrent phase / concurrent wall
  std::vector<AgentSlowdown> agents_slowdown;
  // Per call, over successful measured calls of each phase (lab::summarize_calls).
  ArmMetrics solo_calls, concurrent_calls;
  LatencyPercentiles solo_ttft_ms, concurrent_ttft_ms, solo_itl_ms, concurrent_itl_ms;
  ContentionVerdict contention;
  Provenance provenance = Provenance::kMeasured;  // synthetic on dummy weights
};

ConcurrencyAnalysis analyze_concurrency(int agents, std::span<const RepetitionWalls> repetitions,
                                        std::span<const llm::CallRecord* const> solo_calls,
                                        std::span<const llm::CallRecord* const> concurrent_calls,
                                        double level = 0.95);

// Every figure above, with its provenance, for metrics.json.
nlohmann::json concurrency_to_json(const ConcurrencyAnalysis& analysis);

}  // namespace chimera::lab

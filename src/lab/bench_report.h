// From a run's calls to its findings: per-arm statistics, the A/B comparison with a verdict derived
// from the numbers, throughput per load level, and the hardware summary. Works the same on a live
// run and on calls read back from the results store (`chimera results show`).
//
// Comparisons are B - A over successful measured calls: Welch's t-test (p, CI of the difference),
// Hedges' g, a Fieller CI of the relative change (mean B / mean A - 1) from the same t statistic,
// so it excludes 0 exactly when Welch's test rejects, Mann-Whitney U, the paired difference over
// A/B pairs, the smallest difference the run could have detected (80% power), and with a margin,
// TOST. Since ten metrics are tested at once, the verdict uses Welch p-values Holm-adjusted over
// the metrics compared (family-wise alpha), so an A/A run does not "find" a difference one time in
// two. The sentence is built from these numbers only: "no significant difference in decode_tps (p =
// 0.41)" when p >= alpha, else "B's ttft_ms is lower by 31% (95% CI 22-40%; p = 0.003): better".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/bench_runner.h"
#include "lab/call_meta.h"
#include "lab/hwmon.h"
#include "lab/metrics.h"
#include "lab/stats.h"

namespace chimera::lab {

// Everything a reader needs to know what was measured, a month later.
struct BenchHeader {
  std::string command_line;
  std::string backend;          // the spec as given ("ollama://127.0.0.1:11434/gemma3:4b")
  std::string backend_name;     // Backend::name()
  std::string backend_version;  // "" when the backend does not say
  std::string model;
  bool synthetic = false;       // dummy weights: timings real, text meaningless
  std::optional<double> equivalence_margin;  // relative (0.05 = 5%): adds TOST verdicts
  std::vector<ArmSpec> arms;
  std::vector<std::string> prompts;
  int runs = 0, warmup = 0;
  std::string mode;             // "sequential", "closed loop", "open loop (Poisson)"
  std::vector<int> concurrency;
  std::vector<double> rates_rps;
  uint64_t seed_base = 0;
  bool ignore_eos = false;
  std::string host, cpu, cpu_features, build;
  int logical_cpus = 0, physical_cores = 0;
  std::string threads;          // "num_thread=8 (sent)" or "backend default"
  std::string gpu_status;       // how GPUs were monitored, or why not
  std::string server_status;    // which server process was monitored, or why not
  int64_t started_unix_ms = 0;
  std::vector<std::string> warnings;
};

nlohmann::json header_to_json(const BenchHeader& header);
Result<BenchHeader> header_from_json(const nlohmann::json& json);

struct ArmReport {
  std::string label;
  ArmMetrics metrics;
  int64_t warmup_calls = 0;
};

struct Comparison {
  std::string metric, unit;
  bool higher_is_better = false;
  size_t n_a = 0, n_b = 0;
  double mean_a = 0, mean_b = 0;
  std::optional<WelchResult> welch;            // x = B, y = A: difference B - A
  // mean B / mean A - 1, by Fieller from Welch's statistic and df (stats.h): it excludes 0 exactly
  // when Welch's p < 1 - level. nullopt with the reason when n is too small for a bounded interval.
  std::optional<Interval> relative_ci;
  std::string relative_ci_note;
  std::optional<Interval> median_difference_ci;
  std::optional<MannWhitneyResult> mann_whitney;
  std::optional<double> hedges_g;              // B - A in pooled sds
  std::optional<PairedResult> paired;          // B - A over complete pairs
  // Welch p Holm-adjusted over every metric compared in this run: the verdict's p.
  std::optional<double> p_holm;
  size_t family_size = 0;
  // The smallest |B - A| this run would have detected with 80% power at the Holm family's strictest
  // threshold (alpha / family size): "no significant difference" means "none larger than this".
  std::optional<double> detectable_difference;
  double detectable_alpha = 0;
  // With an equivalence margin (--equivalence 5%): TOST on the ratio, its p Holm-adjusted like the
  // difference's; `equivalent` is the verdict.
  std::optional<EquivalenceResult> equivalence;
  std::optional<double> p_equivalence_holm;
  bool equivalent = false;
  Provenance provenance = Provenance::kMeasured;
  bool significant = false;
  std::string verdict;
};

// Throughput of one arm at one load level.
struct LoadRow {
  std::string arm;
  int concurrency = 1;              // 0 = open loop
  std::optional<double> rate_rps;
  int64_t requests = 0, ok = 0, failed = 0;
  double wall_s = 0;
  double request_throughput_rps = 0;  // successful requests / wall
  double output_tps = 0;              // generated tokens of successful requests / wall
  std::optional<double> ttft_p50_ms, ttft_p99_ms, e2e_p50_ms, e2e_p99_ms, decode_tps_mean;
  Provenance provenance = Provenance::kDerived;
};

struct BenchReport {
  BenchHeader header;
  std::vector<ArmReport> arms;
  std::vector<Comparison> comparisons;
  std::vector<LoadRow> load;
  HwSummary hardware;
  double alpha = 0.05;
  std::optional<int64_t> session_id;
  std::string db_path;
  bool cancelled = false;
};

struct AnalysisOptions {
  double level = 0.95;
  uint64_t bootstrap_seed = 20240601;
  int bootstrap_iterations = 4000;
};

BenchReport analyze(const BenchHeader& header, const std::vector<MeasuredCall>& calls,
                    const HwSummary& hardware, const AnalysisOptions& options = {});

// The sentence for one comparison, from its numbers (also used by tests and the report layer):
// "B's ttft_ms is lower by 31% (95% CI 22-40%; p = 0.003): better", or with names "chimera's
// decode_tps is higher than baseline's by ...". A "no significant difference" carries the smallest
// detectable difference when known, and the equivalence verdict when a margin was given.
std::string verdict_sentence(const Comparison& c, double alpha, double level,
                             const std::string& b_name = "B", const std::string& a_name = "A");
// "smallest difference detectable at 80% power: 12.3 ms (8.1% of A)", or "" when unknown.
std::string detectable_text(const Comparison& c);
// "equivalent within +-5% (TOST p = 0.01, 90% CI -2.1% to +3.0%)" / "not shown equivalent ...", or
// "" without a margin.
std::string equivalence_text(const Comparison& c, double alpha);
// "5%" -> 0.05, "0.05" -> 0.05; errors name the value and the accepted forms.
Result<double> parse_equivalence_margin(std::string_view text);
// "p = 0.41", "p = 0.003", "p < 0.001".
std::string format_p(double p);
// The same without "p ": "0.41", "0.003", "< 0.001".
std::string format_p_value(double p);

}  // namespace chimera::lab

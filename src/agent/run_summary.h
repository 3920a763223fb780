// The numbers of a finished `chimera run`, computed once and rendered by every output (Markdown
// reports, report.html, metrics.json): per call kind (analysis, report), lab's per-arm statistics
// and A/B comparisons (Welch, CIs, Hedges' g, Holm-adjusted p), the prior system's improvement
// percentages per pair, and the grounding scores. Statistics come from lab/ (never recomputed
// here).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_run.h"
#include "agent/backend_choice.h"
#include "lab/bench_report.h"
#include "lab/hwmon.h"

namespace chimera::agent {

struct RunDescription {
  std::string today_iso;
  std::string started_utc;  // "2026-11-26T22:31:05Z"
  std::string output_dir;
  std::string data_dir;
  std::string command_line;
  BackendChoice backend;
  std::string backend_name;  // Backend::name()
  std::string model_label;   // what the reports call the model
  RunSettings settings;
  std::vector<ArmSetup> arms;  // [baseline, chimera]
  lab::BenchHeader machine;    // host, CPU, build (lab::machine_header)
  std::optional<double> equivalence_margin;  // --equivalence: TOST verdicts in the comparison
  // The data's findings (findings.h) and the facts they cite, as the reports print them.
  std::vector<DataFinding> findings;
  FactsTable base_facts;
  bool show_raw =
      false;  // --show-raw: a section's failed model text inline, not only in Validation
};

// One call kind's statistics: lab's analysis of the measured calls of that kind.
struct KindAnalysis {
  std::string kind;         // "analysis", "report"
  lab::BenchReport report;  // arms in RunDescription::arms order; comparisons chimera - baseline
  const lab::ArmReport* arm(const std::string& name) const;
};

// Per pair: the prior system's figures, derived from the pair's report calls.
struct PairImprovement {
  int64_t pair_index = 0;
  std::optional<double> throughput_improvement_percent;  // (C - B) / B * 100, decode tok/s
  std::optional<double> ttft_reduction_percent;          // (B - C) / B * 100, TTFT
};

struct ArmGrounding {
  std::string arm;
  size_t validated = 0;              // successful executions whose text was validated
  std::vector<double> scores;        // per validated text that had numbers or dates to check
  size_t checked = 0, grounded = 0;  // numbers and dates, over all executions
  size_t findings = 0;               // over all executions
  std::map<std::string, size_t> findings_by_kind;
  std::optional<double> mean_score() const;
};

struct RunSummary {
  std::vector<KindAnalysis> kinds;
  std::vector<PairImprovement> pairs;
  std::vector<ArmGrounding> grounding;
  lab::HwSummary hardware;
  double alpha = 0.05;
  double level = 0.95;
  const KindAnalysis* kind(const std::string& name) const;
};

RunSummary summarize_run(const RunDescription& run, const AgentRunResult& result,
                         const lab::HwSummary& hardware);

// "12.34 ± 0.56" with decimals fit for the unit.
std::string mean_sd(const lab::Summary& s, std::string_view unit);
int decimals_for_unit(std::string_view unit);

}  // namespace chimera::agent

#include "agent/run_summary.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "lab/metrics.h"

namespace chimera::agent {
namespace {

// The value of one metric for one call, when the call succeeded and has it.
std::optional<double> metric_of(const llm::CallRecord& r, std::string_view name) {
  if (!r.ok) return std::nullopt;
  lab::CallMetrics m = lab::compute_call_metrics(r);
  if (const lab::MetricValue* v = m.find(name)) return v->value;
  return std::nullopt;
}

}  // namespace

int decimals_for_unit(std::string_view unit) { return unit == "tok/s" ? 2 : 1; }

std::string mean_sd(const lab::Summary& s, std::string_view unit) {
  int d = decimals_for_unit(unit);
  if (s.n < 2) return fmt::format("{:.{}f}", s.mean, d);
  return fmt::format("{:.{}f} \u00b1 {:.{}f}", s.mean, d, s.sd, d);
}

std::optional<double> ArmGrounding::mean_score() const {
  if (scores.empty()) return std::nullopt;
  return std::accumulate(scores.begin(), scores.end(), 0.0) / static_cast<double>(scores.size());
}

const lab::ArmReport* KindAnalysis::arm(const std::string& name) const {
  for (const auto& a : report.arms) {
    if (a.label == name) return &a;
  }
  return nullptr;
}

const KindAnalysis* RunSummary::kind(const std::string& name) const {
  for (const auto& k : kinds) {
    if (k.kind == name) return &k;
  }
  return nullptr;
}

RunSummary summarize_run(const RunDescription& run, const AgentRunResult& result,
                         const lab::HwSummary& hardware) {
  RunSummary summary;
  summary.hardware = hardware;
  summary.level = 0.95;
  summary.alpha = 1 - summary.level;
  lab::BenchHeader header = run.machine;
  header.backend = run.backend.spec;
  header.backend_name = run.backend_name;
  header.model = run.model_label;
  header.synthetic = run.backend.synthetic;
  header.equivalence_margin = run.equivalence_margin;
  header.runs = run.settings.runs;
  header.warmup = 1;
  header.mode = "sequential";
  header.seed_base = run.settings.seed;
  for (const auto& arm : run.arms) header.arms.push_back({arm.name, arm.profile.options, {}});
  for (auto [kind, name] :
       {std::pair{kAnalysisCall, "analysis"}, std::pair{kReportCall, "report"}}) {
    std::vector<lab::MeasuredCall> calls;
    for (const auto& c : result.calls) {
      if (!c.meta.warmup && c.meta.prompt_index == kind) calls.push_back(c);
    }
    lab::AnalysisOptions options;
    options.level = summary.level;
    summary.kinds.push_back({name, lab::analyze(header, calls, hardware, options)});
  }
  // The prior system's headline figures, per pair of report calls, now derived from measurements.
  if (run.arms.size() == 2) {
    std::map<int64_t, std::map<std::string, const llm::CallRecord*>> by_pair;
    for (const auto& c : result.calls) {
      if (!c.meta.warmup && c.meta.prompt_index == kReportCall)
        by_pair[c.meta.pair_index][c.meta.arm] = &c.record;
    }
    const std::string& a = run.arms[0].name;
    const std::string& b = run.arms[1].name;
    for (const auto& [pair, arms] : by_pair) {
      PairImprovement p;
      p.pair_index = pair;
      auto ia = arms.find(a), ib = arms.find(b);
      if (ia != arms.end() && ib != arms.end()) {
        auto tps_a = metric_of(*ia->second, lab::kDecodeTps),
             tps_b = metric_of(*ib->second, lab::kDecodeTps);
        if (tps_a && tps_b && *tps_a > 0)
          p.throughput_improvement_percent = (*tps_b - *tps_a) / *tps_a * 100;
        auto ttft_a = metric_of(*ia->second, lab::kTtftMs),
             ttft_b = metric_of(*ib->second, lab::kTtftMs);
        if (ttft_a && ttft_b && *ttft_a > 0)
          p.ttft_reduction_percent = (*ttft_a - *ttft_b) / *ttft_a * 100;
      }
      summary.pairs.push_back(p);
    }
  }
  for (const auto& arm : run.arms) {
    ArmGrounding g;
    g.arm = arm.name;
    for (const auto& e : result.executions) {
      if (e.arm != arm.name || !e.ok) continue;
      // A text with no number or date has nothing to ground: it gets no score (not 100%).
      if (e.validation.checked() > 0) g.scores.push_back(e.validation.grounding_score());
      ++g.validated;
      g.checked += e.validation.checked();
      g.grounded += e.validation.grounded();
      g.findings += e.validation.findings.size();
      for (const auto& f : e.validation.findings)
        ++g.findings_by_kind[std::string(finding_kind_name(f.kind))];
    }
    summary.grounding.push_back(std::move(g));
  }
  return summary;
}

}  // namespace chimera::agent

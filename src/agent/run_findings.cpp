#include "agent/run_findings.h"

#include <fmt/format.h>

#include <cmath>

#include "agent/section_notes.h"
#include "lab/metrics.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

struct Headline {
  std::string_view lab_name;
  const char* metric;  // the facts' vocabulary
  const char* unit;
  int decimals;
};
constexpr Headline kHeadlines[] = {{lab::kDecodeTps, "decode_tps", "tok/s", 2},
                                   {lab::kTtftMs, "ttft", "ms", 1}};

std::string add_fact(FactsTable& facts, const char* metric, const std::string& statistic,
                     const std::string& label, double value, int decimals,
                     std::optional<Unit> unit) {
  double scale = std::pow(10.0, decimals);
  Fact f;
  f.kind = FactKind::kMeasured;
  f.value = std::round(value * scale) / scale;
  f.decimals = decimals;
  f.unit = std::move(unit);
  f.metric = metric;
  f.statistic = statistic;
  f.label = label;
  f.source.note = "this run's statistics (lab/)";
  return facts.add(std::move(f)).id;
}

}  // namespace

std::vector<DataFinding> run_findings(const RunDescription& run, const RunSummary& summary,
                                      FactsTable& facts) {
  std::vector<DataFinding> out;
  if (run.arms.size() < 2) return out;
  const std::string& a = run.arms[0].name;
  const std::string& b = run.arms[1].name;
  std::string provenance = run.backend.synthetic ? "synthetic: dummy weights" : "measured";
  for (const auto& kind : summary.kinds) {
    for (const Headline& h : kHeadlines) {
      const lab::Comparison* c = nullptr;
      for (const auto& x : kind.report.comparisons) {
        if (x.metric == h.lab_name) c = &x;
      }
      const lab::ArmReport* ra = kind.arm(a);
      const lab::ArmReport* rb = kind.arm(b);
      const lab::MetricSummary* ma = ra ? ra->metrics.find(h.lab_name) : nullptr;
      const lab::MetricSummary* mb = rb ? rb->metrics.find(h.lab_name) : nullptr;
      if (!c || !ma || !mb || ma->summary.n == 0 || mb->summary.n == 0) continue;
      DataFinding f;
      f.topic = FindingTopic::kRunComparison;
      f.dataset = "this run, " + kind.kind + " calls";
      f.metric = h.metric;
      f.unit = h.unit;
      f.provenance = run.backend.synthetic ? Provenance::kSynthetic : Provenance::kMeasured;
      auto mean_fact = [&](const std::string& arm, const lab::MetricSummary& m) {
        return add_fact(facts, h.metric, "mean",
                        fmt::format("this run's {} {} calls, {} mean (n={}; {})", arm, kind.kind,
                                    h.lab_name, m.summary.n, provenance),
                        m.summary.mean, h.decimals, parse_unit(h.unit));
      };
      std::string ia = mean_fact(a, *ma), ib = mean_fact(b, *mb);
      f.fact_ids = {ia, ib};
      std::string verdict = verdict_sentence(*c, summary.alpha, summary.level, b, a);
      if (c->welch) {
        double p = c->p_holm.value_or(c->welch->p);
        f.fact_ids.push_back(add_fact(facts, h.metric, "p-value",
                                      fmt::format("this run's {} calls, {} {} vs {}, Welch p "
                                                  "(Holm-adjusted)",
                                                  kind.kind, h.lab_name, b, a),
                                      p, p < 0.1 ? 3 : 2, std::nullopt));
      }
      if (c->detectable_difference && std::isfinite(*c->detectable_difference)) {
        f.fact_ids.push_back(add_fact(
            facts, h.metric, "detectable difference",
            fmt::format("this run's {} calls, smallest {} difference detectable at 80% power",
                        kind.kind, h.lab_name),
            *c->detectable_difference, h.decimals, parse_unit(h.unit)));
      }
      f.support = !c->welch        ? Support::kCannotTell
                  : c->significant ? Support::kSupported
                                   : Support::kNotSupported;
      std::vector<std::string> tested(f.fact_ids.begin() + 2, f.fact_ids.end());
      f.text = fmt::format(
          "{} calls, {}: {} {:.{}f} {} [{}] vs {} {:.{}f} {} [{}] (n = {} and {}; {}): {}{}.",
          kind.kind, h.lab_name, a, ma->summary.mean, h.decimals, h.unit, ia, b, mb->summary.mean,
          h.decimals, h.unit, ib, ma->summary.n, mb->summary.n, provenance, verdict,
          tested.empty() ? "" : " [" + join(tested, ", ") + "]");
      f.weight = kind.kind == "report" ? 4.0 : 3.0;
      out.push_back(std::move(f));
    }
  }
  // Each arm's report calls against its profile's expected figures.
  const KindAnalysis* report = summary.kind("report");
  for (const auto& arm : run.arms) {
    const lab::ArmReport* r = report ? report->arm(arm.name) : nullptr;
    for (const auto& e : arm.profile.expected) {
      bool ttft = e.metric.rfind("ttft", 0) == 0;
      if (!ttft && e.metric != "decode_tps") continue;  // this run's headlines are these two
      const Headline& h = kHeadlines[ttft ? 1 : 0];
      const lab::MetricSummary* m = r ? r->metrics.find(h.lab_name) : nullptr;
      if (!m || m->summary.n == 0) continue;
      DataFinding f;
      f.topic = FindingTopic::kRunExpected;
      f.dataset = "this run, report calls";
      f.metric = h.metric;
      f.provenance = Provenance::kExpected;
      f.support = Support::kNotApplicable;
      std::string id = add_fact(facts, h.metric, "mean",
                                fmt::format("this run's {} report calls, {} mean (n={}; {})",
                                            arm.name, h.lab_name, m->summary.n, provenance),
                                m->summary.mean, h.decimals, parse_unit(h.unit));
      f.fact_ids = {id};
      // A profile chimera tune wrote on this machine is a like-for-like check of its decode rate
      // (the study's prompts differ from these calls, so TTFT is context even then).
      const bool tuned_here = starts_with(arm.profile.expected_source, "measured by chimera tune") &&
                              !run.machine.host.empty() &&
                              arm.profile.expected_source.find(", " + run.machine.host + " (") !=
                                  std::string::npos;
      std::string ci = e.ci95 ? fmt::format(" (95% CI {:.{}f} to {:.{}f})", e.ci95->first,
                                            e.decimals, e.ci95->second, e.decimals)
                              : "";
      std::string reading =
          !tuned_here ? "other hardware and another model build, so context, not a pass or fail"
          : ttft      ? "measured on this machine, but with the study's prompts, not these calls', "
                        "so context"
                      : "measured on this machine by the study, so a like-for-like check of the "
                        "decode rate";
      f.text = fmt::format(
          "{}'s report calls: {} {:.{}f} {} [{}] on this machine ({}) against the profile's "
          "**expected** {:.{}f} {}{} ({}): {}.",
          arm.name, h.lab_name, m->summary.mean, h.decimals, h.unit, id, provenance, e.value,
          e.decimals, e.unit.symbol, ci, arm.profile.expected_source, reading);
      f.weight = 2.0;
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::vector<std::string> run_recommendations(const RunDescription& run,
                                             const std::vector<DataFinding>& run_results) {
  std::vector<std::string> out;
  if (run.arms.size() < 2) return out;
  const std::string& a = run.arms[0].name;
  const std::string& b = run.arms[1].name;
  for (const auto& f : run_results) {
    if (f.topic != FindingTopic::kRunComparison || f.dataset != "this run, report calls") continue;
    std::string ids = "[" + join(f.fact_ids, ", ") + "]";
    switch (f.support) {
      case Support::kSupported:
        out.push_back(fmt::format(
            "The {} profile changes {} of the report calls on this machine measurably ({}): "
            "weigh that in choosing it, with the verdict's direction in Key Findings.",
            b, f.metric, ids));
        break;
      case Support::kNotSupported:
        out.push_back(fmt::format(
            "Do not expect the {} profile to change {} on this machine: {} and {} differ by less "
            "than this run can detect {}; run more pairs (--runs) to look for a smaller effect.",
            b, f.metric, b, a, ids));
        break;
      default:
        out.push_back(
            fmt::format("Rerun with more successful calls: {} of {} could not be compared {}.",
                        f.metric, b, ids));
    }
  }
  if (run.backend.synthetic) {
    out.push_back(
        "Rerun with real weights (a GGUF model, or an Ollama or OpenAI-compatible server) for text "
        "worth reading: these timings are real for the architecture, the text is not.");
  }
  return out;
}

}  // namespace chimera::agent

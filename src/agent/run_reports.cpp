#include "agent/run_reports.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/ingest_summary.h"
#include "agent/section_notes.h"
#include "lab/metrics.h"
#include "report/markdown.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

using report::Align;
using report::MarkdownDocument;
using report::Table;

std::string fixed(double v, int d) { return fmt::format("{:.{}f}", v, d); }

}  // namespace

std::string dummy_weights_notice(const RunDescription& run) {
  if (!run.backend.synthetic) return {};
  return "**Dummy weights.** The model has real shapes but random weights: the text it wrote is "
         "not "
         "meaningful, and the timings are real for that architecture on this machine (provenance "
         "\"synthetic\").";
}

std::vector<std::pair<std::string, std::string>> header_lines(const RunDescription& run) {
  std::string model = run.model_label + (run.backend.synthetic ? " (dummy weights)" : "");
  return {{"Date", run.today_iso},
          {"Model", model},
          {"Backend", fmt::format("`{}` \u2014 {}", run.backend.spec, run.backend.reason)},
          {"Machine", fmt::format("{} ({} logical CPUs), {}", run.machine.cpu,
                                  run.machine.logical_cpus, run.machine.build)}};
}

std::string comparison_report_markdown(const RunDescription& run, const AgentRunResult& result,
                                       const RunSummary& summary) {
  MarkdownDocument doc;
  const std::string a = run.arms.size() > 0 ? run.arms[0].name : "A";
  const std::string b = run.arms.size() > 1 ? run.arms[1].name : "B";
  doc.heading(1, "Baseline vs Chimera: Comparison Report");
  doc.key_values(header_lines(run));
  if (std::string notice = dummy_weights_notice(run); !notice.empty()) doc.quote(notice);
  doc.heading(2, "Verdict");
  std::vector<std::string> verdicts;
  for (const auto& k : summary.kinds) {
    for (const auto& c : k.report.comparisons) {
      if (c.metric == lab::kDecodeTps || c.metric == lab::kTtftMs) {
        verdicts.push_back(fmt::format("{} call: {}", k.kind,
                                       verdict_sentence(c, summary.alpha, summary.level, b, a)));
      }
    }
  }
  if (verdicts.empty()) verdicts.push_back("nothing to compare: too few successful calls");
  doc.bullets(verdicts);
  if (!run.findings.empty()) {
    doc.heading(2, "What the Data Says");
    doc.paragraph(
        "The strongest findings the program drew from the data folder (the agents' "
        "reports give all of them, section by section):");
    std::vector<std::string> lines;
    for (const DataFinding* f : key_findings(run.findings, 6)) {
      lines.push_back(f->text + " " + support_tag(*f));
    }
    doc.bullets(lines);
  }
  doc.heading(2, "Every Metric");
  Table t;
  t.headers = {"call",
               "metric",
               a + " mean \u00b1 sd (n)",
               b + " mean \u00b1 sd (n)",
               b + " \u2212 " + a + " (95% CI)",
               "relative (95% CI, Fieller)",
               "Welch p (Holm)",
               "detectable at 80% power",
               "Hedges g",
               "verdict"};
  if (run.equivalence_margin) t.headers.push_back("equivalence (TOST)");
  t.align = {Align::kLeft,  Align::kLeft,  Align::kRight, Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kLeft};
  if (run.equivalence_margin) t.align.push_back(Align::kLeft);
  for (const auto& k : summary.kinds) {
    for (const auto& c : k.report.comparisons) {
      int d = decimals_for_unit(c.unit);
      const lab::ArmReport* ra = k.arm(a);
      const lab::ArmReport* rb = k.arm(b);
      const lab::MetricSummary* ma = ra ? ra->metrics.find(c.metric) : nullptr;
      const lab::MetricSummary* mb = rb ? rb->metrics.find(c.metric) : nullptr;
      std::string diff = c.welch
                             ? fmt::format("{} ({} to {})", fixed(c.welch->difference, d),
                                           fixed(c.welch->ci.lower, d), fixed(c.welch->ci.upper, d))
                             : "-";
      // A relative change means something only between two positive means (not for residuals).
      bool relative_ok = c.relative_ci && c.mean_a > 0 && c.mean_b > 0;
      std::string rel = relative_ok
                            ? fmt::format("{:+.1f}% ({:+.1f}% to {:+.1f}%)",
                                          (c.mean_a ? (c.mean_b / c.mean_a - 1) * 100 : 0),
                                          c.relative_ci->lower * 100, c.relative_ci->upper * 100)
                        : c.relative_ci_note.empty() ? "-"
                                                     : "omitted: " + c.relative_ci_note;
      std::string detectable =
          c.detectable_difference
              ? fmt::format("\u00b1{} {}", fixed(*c.detectable_difference, d), c.unit)
              : "-";
      std::string p = c.welch ? lab::format_p_value(c.welch->p) +
                                    (c.p_holm ? " (" + lab::format_p_value(*c.p_holm) + ")" : "")
                              : "-";
      t.rows.push_back({k.kind, fmt::format("{} ({})", c.metric, c.unit),
                        ma ? mean_sd(ma->summary, c.unit) + fmt::format(" ({})", c.n_a) : "-",
                        mb ? mean_sd(mb->summary, c.unit) + fmt::format(" ({})", c.n_b) : "-", diff,
                        rel, p, detectable, c.hedges_g ? fmt::format("{:+.2f}", *c.hedges_g) : "-",
                        c.significant
                            ? (c.mean_b < c.mean_a) != c.higher_is_better ? "better" : "worse"
                            : "no significant difference"});
      if (run.equivalence_margin) {
        t.rows.back().push_back(c.equivalence ? (c.equivalent ? "equivalent" : "not shown") : "-");
      }
    }
  }
  doc.table(t);
  doc.heading(2, "The Prior System's Figures, Measured");
  doc.paragraph(
      fmt::format("Throughput improvement % = ({1} \u2212 {0}) / {0} \u00d7 100 of decode tok/s, "
                  "and TTFT reduction % = "
                  "({0} \u2212 {1}) / {0} \u00d7 100, per pair of report calls (derived from "
                  "measured figures). "
                  "Single pairs are noisy: the verdicts above are the tested result.",
                  a, b));
  Table pairs;
  pairs.headers = {"pair", "throughput improvement %", "TTFT reduction %"};
  pairs.align = {Align::kRight, Align::kRight, Align::kRight};
  for (const auto& p : summary.pairs) {
    pairs.rows.push_back(
        {std::to_string(p.pair_index + 1),
         p.throughput_improvement_percent
             ? fmt::format("{:+.1f}", *p.throughput_improvement_percent)
             : "-",
         p.ttft_reduction_percent ? fmt::format("{:+.1f}", *p.ttft_reduction_percent) : "-"});
  }
  doc.table(pairs);
  doc.heading(2, "Grounding of the Reports");
  Table g;
  g.headers = {"agent", "executions validated", "mean grounding score", "findings", "by kind"};
  for (const auto& ag : summary.grounding) {
    std::vector<std::string> kinds;
    for (const auto& [k, n] : ag.findings_by_kind) kinds.push_back(fmt::format("{} {}", n, k));
    g.rows.push_back({ag.arm, std::to_string(ag.validated),
                      ag.mean_score() ? fmt::format("{:.1f}%", *ag.mean_score() * 100) : "-",
                      std::to_string(ag.findings), join(kinds, ", ")});
  }
  doc.table(g);
  doc.heading(2, "Hardware During the Run");
  const lab::HwSummary& hw = summary.hardware;
  std::vector<std::string> hw_lines = {
      fmt::format("{} samples over {:.1f} s", hw.samples, hw.duration_s),
      fmt::format("this process: CPU mean {:.0f}% / peak {:.0f}% (per core), RSS peak {}",
                  hw.process_cpu_percent.mean, hw.process_cpu_percent.peak,
                  format_bytes(hw.process_peak_rss_bytes)),
      fmt::format("system: CPU mean {:.0f}% / peak {:.0f}%, memory used peak {} of {}",
                  hw.system_cpu_percent.mean, hw.system_cpu_percent.peak,
                  format_bytes(static_cast<uint64_t>(hw.system_memory_used_bytes.peak)),
                  format_bytes(hw.system_memory_total_bytes)),
      "GPU: " + (hw.gpu_status.empty() ? std::string("not monitored") : hw.gpu_status),
      "model server: " + (hw.server_status.empty() ? std::string("in-process or not monitored")
                                                   : hw.server_status)};
  if (hw.server_pid && hw.server_cpu_percent.n > 0) {
    // How much CPU the server got says whether other load on the machine slowed the run.
    hw_lines.push_back(
        fmt::format("model server process: CPU mean {:.0f}% / peak {:.0f}% (per core), RSS peak {}",
                    hw.server_cpu_percent.mean, hw.server_cpu_percent.peak,
                    format_bytes(hw.server_peak_rss_bytes)));
  }
  doc.bullets(hw_lines);
  doc.heading(2, "Method");
  doc.bullets(
      {fmt::format(
           "{} measured pairs; in each pair both agents run the same two calls (analysis, then "
           "report) "
           "with the same seed and the same output caps ({} and {} tokens); the agent that goes "
           "first alternates from pair to pair; one warm-up call per agent ran first and is "
           "excluded.",
           run.settings.runs, run.settings.analysis_num_predict, run.settings.report_num_predict),
       "Statistics per call kind over successful calls (failed calls are counted, never averaged): "
       "mean \u00b1 sample sd, t-based 95% CI of the mean, Welch's t-test of the difference with "
       "its CI, Holm-adjusted over the metrics compared, Hedges' g, the relative change's CI by "
       "Fieller's theorem from the same t statistic and df (so it excludes 0 exactly when the "
       "unadjusted Welch p is below 0.05; omitted when n is too small for a bounded interval), and "
       "the smallest difference detectable at 80% power at the Holm family's strictest threshold "
       "(alpha / metrics compared).",
       run.equivalence_margin
           ? fmt::format(
                 "Equivalence: two one-sided tests on the ratio of means within \u00b1{:.3g}% "
                 "of {}, Holm-adjusted like the differences; equivalent when both reject.",
                 *run.equivalence_margin * 100, a)
           : std::string("No equivalence margin was given (--equivalence 5% adds TOST verdicts)."),
       fmt::format("Wall time of the run: {:.1f} s.", static_cast<double>(result.wall_ns) / 1e9)});
  return doc.str();
}

}  // namespace chimera::agent

#include "agent/run_reports.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "agent/ingest_summary.h"
#include "lab/metrics.h"
#include "report/markdown.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

using report::Align;
using report::MarkdownDocument;
using report::Table;

constexpr std::array<std::string_view, 6> kShownMetrics = {
    lab::kDecodeTps, lab::kTtftMs, lab::kPrefillTps, lab::kE2eMs, lab::kItlMs, lab::kLoadMs};

std::string title_of(const ArmSetup& arm) {
  return arm.name == "chimera"    ? "Chimera-Optimized"
         : arm.name == "baseline" ? "Baseline"
                                  : arm.name;
}

std::string fixed(double v, int d) { return fmt::format("{:.{}f}", v, d); }

Table configuration_table(const std::vector<ConfigLine>& lines) {
  Table t;
  t.headers = {"option", "value", "in force because", "fact"};
  for (const auto& l : lines) {
    t.rows.push_back({l.name, l.value.empty() ? "(not reported)" : l.value, l.source,
                      l.fact_id.empty() ? "" : "[" + l.fact_id + "]"});
  }
  return t;
}

std::vector<std::string> expected_lines(const Profile& profile, const FactsTable* facts) {
  std::vector<std::string> out;
  for (const auto& e : profile.expected) {
    std::string id;
    if (facts) {
      for (const auto& f : facts->facts()) {
        if (f.kind == FactKind::kExpected && f.value == e.value && f.unit && *f.unit == e.unit)
          id = " [" + f.id + "]";
      }
    }
    out.push_back(fmt::format("{}: {} {} \u2014 **expected**, not measured by this run{}", e.metric,
                              fixed(e.value, e.decimals), e.unit.symbol, id));
  }
  return out;
}

const lab::ArmReport* arm_of(const KindAnalysis& k, const std::string& arm) {
  for (const auto& a : k.report.arms) {
    if (a.label == arm) return &a;
  }
  return nullptr;
}

Table measured_table(const RunSummary& summary, const std::string& arm) {
  Table t;
  t.headers = {"call", "metric", "n",         "mean \u00b1 sd", "95% CI of the mean",
               "p50",  "p99",    "provenance"};
  t.align = {Align::kLeft,  Align::kLeft,  Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight, Align::kLeft};
  for (const auto& k : summary.kinds) {
    const lab::ArmReport* a = arm_of(k, arm);
    if (!a) continue;
    for (std::string_view name : kShownMetrics) {
      const lab::MetricSummary* m = a->metrics.find(name);
      if (!m || m->summary.n == 0) continue;
      int d = decimals_for_unit(m->unit);
      std::string ci =
          m->ci ? fmt::format("{} \u2013 {}", fixed(m->ci->lower, d), fixed(m->ci->upper, d))
                : "n < 2";
      t.rows.push_back({k.kind, fmt::format("{} ({})", m->name, m->unit),
                        std::to_string(m->summary.n), mean_sd(m->summary, m->unit), ci,
                        fixed(m->summary.p50, d), fixed(m->summary.p99, d),
                        fmt::format("{} ({})", provenance_name(m->provenance), m->source)});
    }
  }
  return t;
}

void measured_section(MarkdownDocument& doc, const RunDescription& run, const RunSummary& summary,
                      size_t arm_index) {
  const ArmSetup& arm = run.arms[arm_index];
  doc.heading(2, "Measured Performance of This Run");
  doc.paragraph(fmt::format(
      "Written by the program, not the model: every figure below was measured by this run on this "
      "machine ({}, {}), over the {} agent's measured calls (warm-up excluded).{}",
      run.machine.cpu, run.machine.host, arm.name,
      run.backend.synthetic ? " Provenance **synthetic**: real timings of a dummy-weight model."
                            : ""));
  Table t = measured_table(summary, arm.name);
  if (t.rows.empty()) {
    doc.paragraph("No call of this arm succeeded, so nothing was measured.");
  } else {
    doc.table(t);
  }
  std::vector<std::string> failures;
  for (const auto& k : summary.kinds) {
    if (const lab::ArmReport* a = arm_of(k, arm.name)) {
      for (const auto& [reason, n] : a->metrics.failures_by_reason) {
        failures.push_back(fmt::format("{} call: {} failed ({}): {}", k.kind, n, reason,
                                       a->metrics.failure_examples.count(reason)
                                           ? a->metrics.failure_examples.at(reason)
                                           : ""));
      }
      if (a->metrics.prompt_truncated_calls > 0) {
        failures.push_back(fmt::format("{} call: the prompt did not fit num_ctx in {} calls",
                                       k.kind, a->metrics.prompt_truncated_calls));
      }
    }
  }
  if (!failures.empty()) {
    doc.paragraph("Failed calls are counted and excluded from the statistics:");
    doc.bullets(failures);
  }
  if (!arm.profile.expected.empty()) {
    std::vector<std::string> lines;
    const KindAnalysis* report_kind = summary.kind("report");
    const lab::ArmReport* a = report_kind ? arm_of(*report_kind, arm.name) : nullptr;
    for (const auto& e : arm.profile.expected) {
      std::string metric =
          e.metric.rfind("ttft", 0) == 0 ? std::string(lab::kTtftMs) : std::string(lab::kDecodeTps);
      const lab::MetricSummary* m = a ? a->metrics.find(metric) : nullptr;
      std::string measured = m && m->summary.n > 0
                                 ? fmt::format("{} {} ({}, this machine)",
                                               fixed(m->summary.mean, decimals_for_unit(m->unit)),
                                               m->unit, provenance_name(m->provenance))
                                 : "not measured (no successful call)";
      lines.push_back(fmt::format("{}: measured {} vs **expected** {} {} (from {})", metric,
                                  measured, fixed(e.value, e.decimals), e.unit.symbol,
                                  arm.profile.expected_source));
    }
    doc.paragraph(
        "Measured against the profile's expected figures (different hardware: a comparison of "
        "context, not a pass/fail test):");
    doc.bullets(lines);
  }
}

void validation_section(MarkdownDocument& doc, const AgentExecution* e, const ArmGrounding* g) {
  doc.heading(2, "Validation");
  if (!e) {
    doc.paragraph("No execution of this arm finished, so there is no text to validate.");
    return;
  }
  const ValidationReport& v = e->validation;
  std::string score = v.checked() == 0
                          ? std::string("n/a (the text has no number or date to check)")
                          : fmt::format("**{:.1f}%** ({} of {} checked numbers and dates grounded)",
                                        v.grounding_score() * 100, v.grounded(), v.checked());
  doc.paragraph(fmt::format(
      "Every number and date in the model's text above was checked against the facts (data, "
      "configuration, expected and measured figures) at its printed precision. Grounding score of "
      "this text: {}; {} finding{}.",
      score, v.findings.size(), v.findings.size() == 1 ? "" : "s"));
  if (g && g->scores.size() > 1) {
    std::vector<std::string> scores;
    for (double s : g->scores) scores.push_back(fmt::format("{:.1f}%", s * 100));
    doc.paragraph(fmt::format("Scores of every execution of this agent: {} (mean {:.1f}%).",
                              join(scores, ", "), g->mean_score().value_or(0) * 100));
  }
  std::vector<std::string> missing = missing_sections(e->report_text);
  if (!missing.empty())
    doc.paragraph("Sections the model did not write: " + join(missing, ", ") + ".");
  if (!v.findings.empty()) {
    Table t;
    t.headers = {"finding", "text", "why"};
    size_t shown = 0;
    for (const auto& f : v.findings) {
      if (++shown > 60) break;
      t.rows.push_back({std::string(finding_kind_name(f.kind)),
                        "`" + replace_all(f.excerpt, "`", "'") + "`", f.detail});
    }
    doc.table(t);
    if (v.findings.size() > 60)
      doc.paragraph(fmt::format("... and {} more findings.", v.findings.size() - 60));
  }
  Table numbers;
  numbers.headers = {"number or date", "grounded", "how"};
  for (const auto& n : v.numbers) {
    if (!n.checked) continue;
    numbers.rows.push_back({"`" + n.mention.text + "`", n.grounded ? "yes" : "**no**", n.rule});
    if (numbers.rows.size() >= 80) break;
  }
  if (!numbers.rows.empty()) {
    doc.paragraph("Numbers and dates checked:");
    doc.table(numbers);
  }
}

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

std::vector<std::string> missing_sections(const std::string& llm_text) {
  std::vector<std::string> missing;
  std::string lower = to_lower(llm_text);
  for (const auto& title : report_section_titles()) {
    if (lower.find(to_lower(title)) == std::string::npos) missing.push_back(title);
  }
  return missing;
}

std::string arm_report_markdown(const RunDescription& run, const AgentRunResult& result,
                                const RunSummary& summary, const IngestResult& ingest,
                                size_t arm_index) {
  const ArmSetup& arm = run.arms[arm_index];
  const AgentExecution* e = result.final_execution(arm.name);
  MarkdownDocument doc;
  doc.heading(1, "Technical Report: " + title_of(arm) + " Agent Analysis");
  auto lines = header_lines(run);
  lines.insert(lines.begin() + 1,
               {"Agent Type", fmt::format("{} (profile `{}`, {})", title_of(arm), arm.profile.name,
                                          arm.profile.origin)});
  lines.push_back(
      {"Runs",
       fmt::format("{} measured executions per agent (analysis + report), interleaved with "
                   "the other agent, first agent alternating; seed {}; output caps {} and "
                   "{} tokens{}",
                   run.settings.runs, run.settings.seed, run.settings.analysis_num_predict,
                   run.settings.report_num_predict,
                   e ? fmt::format("; the text below is from pair {}", e->pair_index + 1) : "")});
  doc.key_values(lines);
  if (std::string notice = dummy_weights_notice(run); !notice.empty()) doc.quote(notice);

  doc.heading(2, "Configuration");
  const std::vector<ConfigLine>& config = e ? e->configuration
                                          : result.arm_configuration.size() > arm_index
                                              ? result.arm_configuration[arm_index]
                                              : std::vector<ConfigLine>{};
  doc.paragraph(
      arm.profile.options.empty()
          ? "This agent sends no sampling or context options: each is the backend's default, "
            "recorded as such (with the value where the backend reported it)."
          : "Options sent by this agent, and the backend's defaults for the rest:");
  doc.table(configuration_table(config));
  doc.heading(2, "Expected Performance (not measured by this run)");
  if (arm.profile.expected.empty()) {
    doc.paragraph("This profile states no expected figures.");
  } else {
    doc.bullets(expected_lines(arm.profile, e ? &e->facts : nullptr));
    doc.paragraph("Source: " + arm.profile.expected_source + ".");
  }
  doc.rule();
  if (e) {
    doc.paragraph(
        fmt::format("*The sections below were written by the model; every number in them is "
                    "checked in the Validation section.*"));
    doc.raw(e->report_text);
  } else {
    std::string why;
    for (const auto& x : result.executions) {
      if (x.arm == arm.name && !x.error.empty()) why = x.error;
    }
    doc.paragraph("The model wrote no report for this agent: " +
                  (why.empty() ? std::string("no execution finished") : why) + ".");
  }
  doc.rule();
  measured_section(doc, run, summary, arm_index);
  doc.heading(2, "Data Ingestion");
  doc.raw(ingestion_markdown(ingest));
  const ArmGrounding* g =
      arm_index < summary.grounding.size() ? &summary.grounding[arm_index] : nullptr;
  validation_section(doc, e, g);
  return doc.str();
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
  doc.heading(2, "Every Metric");
  Table t;
  t.headers = {"call",
               "metric",
               a + " mean \u00b1 sd (n)",
               b + " mean \u00b1 sd (n)",
               b + " \u2212 " + a + " (95% CI)",
               "relative (95% CI)",
               "Welch p (Holm)",
               "Hedges g",
               "verdict"};
  t.align = {Align::kLeft,  Align::kLeft,  Align::kRight, Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight, Align::kLeft};
  for (const auto& k : summary.kinds) {
    for (const auto& c : k.report.comparisons) {
      int d = decimals_for_unit(c.unit);
      const lab::ArmReport* ra = arm_of(k, a);
      const lab::ArmReport* rb = arm_of(k, b);
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
                            : "-";
      std::string p = c.welch ? lab::format_p_value(c.welch->p) +
                                    (c.p_holm ? " (" + lab::format_p_value(*c.p_holm) + ")" : "")
                              : "-";
      t.rows.push_back({k.kind, fmt::format("{} ({})", c.metric, c.unit),
                        ma ? mean_sd(ma->summary, c.unit) + fmt::format(" ({})", c.n_a) : "-",
                        mb ? mean_sd(mb->summary, c.unit) + fmt::format(" ({})", c.n_b) : "-", diff,
                        rel, p, c.hedges_g ? fmt::format("{:+.2f}", *c.hedges_g) : "-",
                        c.significant
                            ? (c.mean_b < c.mean_a) != c.higher_is_better ? "better" : "worse"
                            : "no significant difference"});
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
       "mean \u00b1 "
       "sample sd, t-based 95% CI of the mean, Welch's t-test of the difference with its CI, "
       "Holm-adjusted "
       "over the metrics compared, Hedges' g, and a seeded bootstrap CI of the relative change.",
       fmt::format("Wall time of the run: {:.1f} s.", static_cast<double>(result.wall_ns) / 1e9)});
  return doc.str();
}

}  // namespace chimera::agent

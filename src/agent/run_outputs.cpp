#include "agent/run_outputs.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "agent/section_notes.h"
#include "lab/bench_output.h"
#include "lab/metrics.h"
#include "lab/record_json.h"
#include "report/html.h"
#include "report/svg_chart.h"
#include "util/build_info.h"
#include "util/mapped_file.h"
#include "util/paths.h"

namespace chimera::agent {
namespace {

using nlohmann::json;

// One series per (arm, call kind): the metric per pair, NaN for a failed call (drawn as a gap).
report::ChartSpec per_pair_chart(const RunDescription& run, const AgentRunResult& result,
                                 std::string_view metric, const std::string& title,
                                 const std::string& y_label) {
  report::ChartSpec spec;
  spec.kind = report::ChartKind::kLine;
  spec.title = title;
  spec.x_label = "pair (measured execution)";
  spec.y_label = y_label;
  for (const auto& arm : run.arms) {
    for (auto [kind, name] :
         {std::pair{kAnalysisCall, "analysis"}, std::pair{kReportCall, "report"}}) {
      report::ChartSeries s;
      s.name = arm.name + " " + name;
      for (const auto& c : result.calls) {
        if (c.meta.warmup || c.meta.arm != arm.name || c.meta.prompt_index != kind) continue;
        double value = NAN;
        if (c.record.ok) {
          lab::CallMetrics m = lab::compute_call_metrics(c.record);
          if (const lab::MetricValue* v = m.find(metric)) value = v->value;
        }
        s.x.push_back(static_cast<double>(c.meta.pair_index + 1));
        s.y.push_back(value);
      }
      spec.series.push_back(std::move(s));
    }
  }
  return spec;
}

// Per call kind, each arm's mean with its 95% CI (t-based, over the measured calls).
report::ChartSpec interval_chart(const RunDescription& run, const RunSummary& summary,
                                 std::string_view metric, const std::string& title,
                                 const std::string& y_label) {
  report::ChartSpec spec;
  spec.kind = report::ChartKind::kInterval;
  spec.title = title;
  spec.x_label = "call kind (warm-up excluded)";
  spec.y_label = y_label;
  for (const auto& k : summary.kinds) spec.categories.push_back(k.kind + " calls");
  for (const auto& arm : run.arms) {
    report::ChartSeries s;
    s.name = arm.name;
    for (const auto& k : summary.kinds) {
      const lab::ArmReport* a = k.arm(arm.name);
      const lab::MetricSummary* m = a ? a->metrics.find(metric) : nullptr;
      bool has = m && m->summary.n > 0;
      s.y.push_back(has ? m->summary.mean : NAN);
      s.lower.push_back(has && m->ci ? m->ci->lower : NAN);
      s.upper.push_back(has && m->ci ? m->ci->upper : NAN);
    }
    spec.series.push_back(std::move(s));
  }
  return spec;
}

// One small chart per option effect: the metric's mean at each level, with the replicate-based
// 95% CI where the data has replicates.
std::string effect_charts(const std::vector<DataFinding>& findings) {
  constexpr size_t kMaxCharts = 12;
  std::string out;
  size_t shown = 0;
  for (const DataFinding* f :
       findings_of(findings, {FindingTopic::kOptionEffect, FindingTopic::kModelComparison})) {
    if (f->levels.size() < 2 || shown >= kMaxCharts) continue;
    report::ChartSpec spec;
    spec.kind = report::ChartKind::kInterval;
    spec.title = f->option + " \u2192 " + f->metric;
    spec.x_label = f->option;
    spec.y_label = f->metric + (f->unit.empty() ? "" : " (" + f->unit + ")");
    spec.width_px = 330;
    spec.height_px = 230;
    spec.y_from_zero = false;
    report::ChartSeries s;
    s.name = f->metric;  // the caption names the data set
    for (const auto& level : f->levels) {
      spec.categories.push_back(level.value);
      s.y.push_back(level.mean);
      s.lower.push_back(level.lower.value_or(NAN));
      s.upper.push_back(level.upper.value_or(NAN));
    }
    spec.series.push_back(std::move(s));
    std::string support(support_name(f->support));
    out += "<figure class=\"interval effect\">" + report::render_svg_chart(spec) + "<figcaption>" +
           report::html_escape(fmt::format("{} in {}: {}{}.", f->metric, f->dataset, support,
                                           f->levels.front().lower
                                               ? "; bars: 95% CI from the replicate spread"
                                               : "; no bars: one sample per configuration")) +
           "</figcaption></figure>\n";
    ++shown;
  }
  return out;
}

std::vector<report::ChartSpec> hardware_charts(const std::vector<lab::HwSample>& samples) {
  if (samples.size() < 2) return {};
  report::ChartSpec cpu;
  cpu.title = "CPU load during the run";
  cpu.x_label = "time (s)";
  cpu.y_label = "CPU %";
  report::ChartSpec mem;
  mem.title = "Memory during the run";
  mem.x_label = "time (s)";
  mem.y_label = "MiB";
  report::ChartSeries process_cpu{"chimera process (% of one core)", {}, {}};
  report::ChartSeries system_cpu{"system (% of all cores)", {}, {}};
  report::ChartSeries rss{"chimera process RSS", {}, {}};
  report::ChartSeries used{"system memory used", {}, {}};
  // At most ~400 points per series keeps the page light whatever the run's length.
  size_t step = std::max<size_t>(1, samples.size() / 400);
  for (size_t i = 0; i < samples.size(); i += step) {
    const auto& s = samples[i];
    double t = static_cast<double>(s.t_ns - samples.front().t_ns) / 1e9;
    process_cpu.x.push_back(t);
    process_cpu.y.push_back(s.process.cpu_percent.value_or(NAN));
    system_cpu.x.push_back(t);
    system_cpu.y.push_back(s.system_cpu_percent.value_or(NAN));
    rss.x.push_back(t);
    rss.y.push_back(static_cast<double>(s.process.rss_bytes) / (1 << 20));
    used.x.push_back(t);
    used.y.push_back(static_cast<double>(s.memory_used_bytes) / (1 << 20));
  }
  cpu.series = {process_cpu, system_cpu};
  mem.series = {rss, used};
  return {cpu, mem};
}

std::string figure(const report::ChartSpec& spec, const std::string& caption) {
  return "<figure>" + report::render_svg_chart(spec) + "<figcaption>" +
         report::html_escape(caption) + "</figcaption></figure>\n";
}

json validation_json(const ValidationReport& v) {
  json findings = json::array();
  for (const auto& f : v.findings) {
    findings.push_back({{"kind", finding_kind_name(f.kind)},
                        {"offset", f.offset},
                        {"text", f.excerpt},
                        {"why", f.detail}});
  }
  json numbers = json::array();
  for (const auto& n : v.numbers) {
    numbers.push_back({{"text", n.mention.text},
                       {"checked", n.checked},
                       {"grounded", n.grounded},
                       {"facts", n.fact_ids},
                       {"rule", n.rule}});
  }
  return {{"grounding_score", v.grounding_score()},
          {"checked", v.checked()},
          {"grounded", v.grounded()},
          {"findings", findings},
          {"numbers", numbers}};
}

json sections_json(const std::vector<SectionProse>& sections) {
  json out = json::array();
  for (const auto& s : sections) {
    out.push_back({{"title", s.title},
                   {"passed", s.passed},
                   {"problem", s.problem},
                   {"text", s.text},
                   {"facts", s.cited},
                   {"validation", validation_json(s.validation)}});
  }
  return out;
}

json configuration_json(const std::vector<ConfigLine>& lines) {
  json out = json::array();
  for (const auto& l : lines) {
    out.push_back(
        {{"option", l.name}, {"value", l.value}, {"source", l.source}, {"fact", l.fact_id}});
  }
  return out;
}

}  // namespace

std::string run_html(const RunDescription& run, const AgentRunResult& result,
                     const RunSummary& summary, const std::vector<lab::HwSample>& samples,
                     const std::vector<std::string>& markdown_reports) {
  report::HtmlPage page("Chimera run " + run.started_utc);
  page.set_subtitle(fmt::format(
      "{} \u2014 {}{} \u2014 backend {} \u2014 {} measured pairs", run.today_iso, run.model_label,
      run.backend.synthetic ? " (dummy weights)" : "", run.backend.spec, run.settings.runs));
  std::string charts;
  if (std::string notice = dummy_weights_notice(run); !notice.empty()) {
    charts += report::markdown_to_html("> " + notice, "charts-");
  }
  auto interval_figure = [](const report::ChartSpec& spec, const std::string& caption) {
    return "<figure class=\"interval\">" + report::render_svg_chart(spec) + "<figcaption>" +
           report::html_escape(caption) + "</figcaption></figure>\n";
  };
  charts += interval_figure(
      interval_chart(run, summary, lab::kDecodeTps, "Decode throughput: mean and 95% CI",
                     "decode tok/s"),
      "Each agent's mean decode tok/s per call kind, with the t-based 95% CI of the mean over its "
      "measured calls. Overlapping bars are not a test: the comparison report has Welch's.");
  charts += interval_figure(
      interval_chart(run, summary, lab::kTtftMs, "Time to first token: mean and 95% CI",
                     "TTFT (ms)"),
      "Each agent's mean TTFT per call kind (client clock), with the 95% CI of the mean.");
  charts += figure(
      per_pair_chart(run, result, lab::kDecodeTps, "Decode throughput per call", "decode tok/s"),
      "Decode tok/s of every measured call, per agent and call kind; a gap is a failed call.");
  charts +=
      figure(per_pair_chart(run, result, lab::kTtftMs, "Time to first token per call", "TTFT (ms)"),
             "TTFT of every measured call (client clock), per agent and call kind.");
  for (const auto& spec : hardware_charts(samples)) {
    charts += figure(spec, spec.title + fmt::format(" ({} samples).", samples.size()));
  }
  if (samples.size() < 2) charts += "<p>No hardware samples were taken.</p>\n";
  page.add_section({"charts", "Charts", charts});
  if (std::string effects = effect_charts(run.findings); !effects.empty()) {
    page.add_section({"effects", "Option Effects in the Data",
                      "<p>The findings' per-option effects: the metric's mean at each level of the "
                      "option, across the data's rows.</p>\n<div class=\"effects\">" +
                          effects + "</div>\n"});
  }
  const char* ids[] = {"comparison", "baseline", "chimera"};
  const char* titles[] = {"Comparison", "Baseline report", "Chimera report"};
  for (size_t i = 0; i < markdown_reports.size() && i < 3; ++i) {
    page.add_section({ids[i], titles[i],
                      report::markdown_to_html(markdown_reports[i], std::string(ids[i]) + "-")});
  }
  return page.render();
}

json run_metrics_json(const RunDescription& run, const AgentRunResult& result,
                      const RunSummary& summary, const std::vector<lab::HwSample>& samples) {
  const BuildInfo& build = build_info();
  json arms = json::array();
  for (size_t i = 0; i < run.arms.size(); ++i) {
    const auto& a = run.arms[i];
    json expected = json::array();
    for (const auto& e : a.profile.expected) {
      expected.push_back({{"metric", e.metric},
                          {"value", e.value},
                          {"unit", e.unit.symbol},
                          {"provenance", "expected"}});
    }
    arms.push_back({{"name", a.name},
                    {"profile",
                     {{"name", a.profile.name},
                      {"origin", a.profile.origin},
                      {"options", lab::options_to_json(a.profile.options)},
                      {"num_ctx_auto", a.profile.num_ctx_auto},
                      {"expected", expected},
                      {"expected_source", a.profile.expected_source}}},
                    {"configuration", configuration_json(i < result.arm_configuration.size()
                                                             ? result.arm_configuration[i]
                                                             : std::vector<ConfigLine>{})}});
  }
  json calls = json::array();
  for (const auto& c : result.calls) {
    calls.push_back({{"arm", c.meta.arm},
                     {"seq", c.meta.seq},
                     {"pair", c.meta.pair_index},
                     {"kind", c.meta.warmup                        ? "warmup"
                              : c.meta.prompt_index == kReportCall ? "report"
                                                                   : "analysis"},
                     {"warmup", c.meta.warmup},
                     {"record", lab::call_record_to_json(c.record)}});
  }
  json executions = json::array();
  for (const auto& e : result.executions) {
    executions.push_back({{"arm", e.arm},
                          {"pair", e.pair_index},
                          {"seed", e.seed},
                          {"ok", e.ok},
                          {"error", e.error},
                          {"configuration", configuration_json(e.configuration)},
                          {"analysis_text", e.analysis_text},
                          {"report_text", e.report_text},
                          {"prose_format", prose_format_name(e.prose_format)},
                          {"sections", sections_json(e.sections)},
                          {"validation", validation_json(e.validation)}});
  }
  json findings = json::array();
  for (const auto& f : run.findings) {
    findings.push_back({{"topic", finding_topic_name(f.topic)},
                        {"dataset", f.dataset},
                        {"text", f.text},
                        {"facts", f.fact_ids},
                        {"support", support_name(f.support)},
                        {"provenance", provenance_name(f.provenance)}});
  }
  json statistics = json::object();
  for (const auto& k : summary.kinds) {
    json s = lab::report_summary_json(k.report);
    json verdicts = json::array();
    for (const auto& c : k.report.comparisons) {
      std::string b = run.arms.size() > 1 ? run.arms[1].name : "B",
                  a = run.arms.empty() ? "A" : run.arms[0].name;
      verdicts.push_back({{"metric", c.metric},
                          {"verdict", verdict_sentence(c, summary.alpha, summary.level, b, a)}});
    }
    s["verdicts"] = verdicts;
    statistics[k.kind] = s;
  }
  json pairs = json::array();
  for (const auto& p : summary.pairs) {
    pairs.push_back(
        {{"pair", p.pair_index},
         {"provenance", "derived"},
         {"throughput_improvement_percent",
          p.throughput_improvement_percent ? json(*p.throughput_improvement_percent) : json()},
         {"ttft_reduction_percent",
          p.ttft_reduction_percent ? json(*p.ttft_reduction_percent) : json()}});
  }
  json grounding = json::array();
  for (const auto& g : summary.grounding) {
    grounding.push_back({{"arm", g.arm},
                         {"scores", g.scores},
                         {"mean_score", g.mean_score() ? json(*g.mean_score()) : json()},
                         {"findings", g.findings},
                         {"findings_by_kind", g.findings_by_kind}});
  }
  json hw_samples = json::array();
  for (const auto& s : samples) {
    hw_samples.push_back(
        {{"t_unix_ms", s.t_unix_ms},
         {"process_cpu_percent", s.process.cpu_percent ? json(*s.process.cpu_percent) : json()},
         {"process_rss_bytes", s.process.rss_bytes},
         {"system_cpu_percent", s.system_cpu_percent ? json(*s.system_cpu_percent) : json()},
         {"memory_used_bytes", s.memory_used_bytes}});
  }
  return {{"chimera",
           {{"version", build.version},
            {"commit", build.git_commit},
            {"build_type", build.build_type}}},
          {"command", run.command_line},
          {"date", run.today_iso},
          {"started_utc", run.started_utc},
          {"data_dir", run.data_dir},
          {"backend",
           {{"spec", run.backend.spec},
            {"name", run.backend_name},
            {"reason", run.backend.reason},
            {"synthetic", run.backend.synthetic},
            {"tried", run.backend.tried}}},
          {"model", run.model_label},
          {"settings",
           {{"runs", run.settings.runs},
            {"prose_calls", prose_calls_name(run.settings.prose_calls)},
            {"seed", run.settings.seed},
            {"analysis_num_predict", run.settings.analysis_num_predict},
            {"report_num_predict", run.settings.report_num_predict},
            {"warmup_num_predict", run.settings.warmup_num_predict},
            {"fact_budget_chars", run.settings.fact_budget_chars}}},
          {"arms", arms},
          {"wall_s", static_cast<double>(result.wall_ns) / 1e9},
          {"cancelled", result.cancelled},
          {"calls", calls},
          {"executions", executions},
          {"findings", findings},
          {"statistics", statistics},
          {"pairs", pairs},
          {"grounding", grounding},
          {"hardware",
           {{"gpu_status", summary.hardware.gpu_status},
            {"server_status", summary.hardware.server_status},
            {"samples", hw_samples}}}};
}

Result<RunOutputs> write_run_outputs(const std::string& directory, const RunDescription& run,
                                     const AgentRunResult& result, const RunSummary& summary,
                                     const IngestResult& ingest,
                                     const std::vector<lab::HwSample>& samples) {
  CHIMERA_RETURN_IF_ERROR(ensure_directory(directory));
  RunOutputs out;
  out.directory = directory;
  std::vector<std::string> markdown = {comparison_report_markdown(run, result, summary)};
  for (size_t i = 0; i < run.arms.size(); ++i) {
    markdown.push_back(arm_report_markdown(run, result, summary, ingest, i));
  }
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    std::string path = directory + "/" + name;
    CHIMERA_RETURN_IF_ERROR(write_file_atomic(path, text));
    out.files.push_back(path);
    return Status::ok();
  };
  for (size_t i = 0; i < run.arms.size(); ++i) {
    CHIMERA_RETURN_IF_ERROR(write(run.arms[i].name + "_report.md", markdown[i + 1]));
  }
  CHIMERA_RETURN_IF_ERROR(write("comparison_report.md", markdown[0]));
  CHIMERA_RETURN_IF_ERROR(write("report.html", run_html(run, result, summary, samples, markdown)));
  CHIMERA_RETURN_IF_ERROR(
      write("metrics.json", run_metrics_json(run, result, summary, samples)
                                .dump(2, ' ', false, json::error_handler_t::replace)));
  return out;
}

}  // namespace chimera::agent

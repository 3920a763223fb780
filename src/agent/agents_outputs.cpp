#include "agent/agents_outputs.h"

#include <algorithm>

#include <fmt/format.h>

#include <cmath>

#include "agent/agents_report.h"
#include "lab/record_json.h"
#include "report/html.h"
#include "report/svg_chart.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

using nlohmann::json;

double seconds_since(const AgentsRun& run, int64_t t_ns) {
  return static_cast<double>(t_ns - run.start_ns) / 1e9;
}

std::string span_label(const lab::MeasuredCall& c, const AgentSpec& agent) {
  std::string kind = agent.role.workflow == Workflow::kSingle ? "call"
                     : c.meta.prompt_index == kAnalysisCall   ? "analysis"
                                                              : "report";
  if (c.meta.warmup) kind = "warm-up";
  std::string phase = c.meta.warmup ? ""
                                    : fmt::format(", repetition {} ({})", c.meta.repetition + 1,
                                                  c.meta.concurrency > 1 ? "concurrent" : "solo");
  const llm::CallRecord& r = c.record;
  if (!r.ok) return fmt::format("{}{}: failed: {}", kind, phase, r.error);
  std::string label = fmt::format("{}{}: {:.0f} ms, {} tokens, {}", kind, phase,
                                  static_cast<double>(r.t_done_ns - r.t_request_ns) / 1e6,
                                  r.token_count, r.backend);
  if (r.server.queue_ns && *r.server.queue_ns > 0) {
    label += fmt::format(", queued {:.0f} ms at the server",
                         static_cast<double>(*r.server.queue_ns) / 1e6);
  }
  return label;
}

// The server load lines of the samples scraped while this level ran.
std::vector<report::TimelinePanel> load_panels(const AgentsRun& run, const AgentsLevel& level) {
  int64_t from = level.result.start_ns, to = level.result.start_ns + level.result.wall_ns;
  report::TimelinePanel requests{"requests", {}}, kv{"KV cache %", {}};
  for (size_t e = 0; e < run.endpoints.size(); ++e) {
    // In time order (edge scrapes come from another thread), the samples within the level plus the
    // last one before it and the first one after it: the state the level started and ended in.
    auto samples = run.endpoints[e].scrapes.samples;
    std::sort(samples.begin(), samples.end(),
              [](const auto& x, const auto& y) { return x.t_ns < y.t_ns; });
    size_t first = 0, last = samples.size();
    while (first + 1 < samples.size() && samples[first + 1].t_ns <= from) ++first;
    while (last > first + 1 && samples[last - 2].t_ns >= to) --last;
    samples = {samples.begin() + static_cast<std::ptrdiff_t>(first),
               samples.begin() + static_cast<std::ptrdiff_t>(last)};
    std::string suffix = run.endpoints.size() > 1 ? fmt::format(" (endpoint {})", e + 1) : "";
    report::TimelinePanel::Line running{"running" + suffix, {}, {}};
    report::TimelinePanel::Line waiting{"waiting" + suffix, {}, {}};
    report::TimelinePanel::Line kv_line{"KV cache use" + suffix, {}, {}};
    for (const auto& s : samples) {
      double t = seconds_since(run, s.t_ns);
      running.t_s.push_back(t);
      running.y.push_back(s.load.running.value_or(NAN));
      waiting.t_s.push_back(t);
      waiting.y.push_back(s.load.waiting.value_or(NAN));
      kv_line.t_s.push_back(t);
      kv_line.y.push_back(s.load.kv_usage_ratio ? *s.load.kv_usage_ratio * 100 : NAN);
    }
    auto has_values = [](const report::TimelinePanel::Line& l) {
      for (double v : l.y) {
        if (std::isfinite(v)) return true;
      }
      return false;
    };
    if (has_values(running)) requests.lines.push_back(std::move(running));
    if (has_values(waiting)) requests.lines.push_back(std::move(waiting));
    if (has_values(kv_line)) kv.lines.push_back(std::move(kv_line));
  }
  std::vector<report::TimelinePanel> panels;
  if (!requests.lines.empty()) panels.push_back(std::move(requests));
  if (!kv.lines.empty()) panels.push_back(std::move(kv));
  return panels;
}

report::ChartSpec scaling_chart(const AgentsRun& run, bool speedup) {
  report::ChartSpec spec;
  spec.kind = report::ChartKind::kLine;
  spec.x_label = "agents";
  if (speedup) {
    spec.title = "Speedup of running together (95% CI bounds dashed in the table)";
    spec.y_label = "speedup (\u00d7)";
    report::ChartSeries s{"speedup", {}, {}}, ideal{"perfect parallelism", {}, {}};
    for (const auto& l : run.levels) {
      s.x.push_back(l.agents);
      s.y.push_back(l.analysis.speedup.n ? l.analysis.speedup.estimate : NAN);
      ideal.x.push_back(l.agents);
      ideal.y.push_back(l.agents);
    }
    spec.series = {s, ideal};
  } else {
    spec.title = "Aggregate generated tokens/s";
    spec.y_label = "tok/s";
    report::ChartSeries conc{"all agents at once", {}, {}}, solo{"one after another", {}, {}};
    for (const auto& l : run.levels) {
      conc.x.push_back(l.agents);
      conc.y.push_back(
          l.analysis.concurrent_aggregate_tps.n ? l.analysis.concurrent_aggregate_tps.mean : NAN);
      solo.x.push_back(l.agents);
      solo.y.push_back(l.analysis.solo_aggregate_tps.n ? l.analysis.solo_aggregate_tps.mean : NAN);
    }
    spec.series = {conc, solo};
  }
  return spec;
}

// Each agent's workflow latency, solo and concurrent (means over complete repetitions).
report::ChartSpec latency_chart(const AgentsLevel& level) {
  report::ChartSpec spec;
  spec.kind = report::ChartKind::kBar;
  spec.title = fmt::format("Workflow latency per agent, {} agent{}", level.agents,
                           level.agents == 1 ? "" : "s");
  spec.x_label = "agent";
  spec.y_label = "latency (ms)";
  report::ChartSeries solo{"alone", {}, {}}, together{"all at once", {}, {}};
  for (size_t i = 0; i < level.analysis.agents_slowdown.size(); ++i) {
    const lab::AgentSlowdown& s = level.analysis.agents_slowdown[i];
    double x = static_cast<double>(i + 1);
    solo.x.push_back(x);
    solo.y.push_back(s.solo_ms.n ? s.solo_ms.mean : NAN);
    together.x.push_back(x);
    together.y.push_back(s.concurrent_ms.n ? s.concurrent_ms.mean : NAN);
  }
  spec.series = {solo, together};
  return spec;
}

std::string figure(const std::string& svg, const std::string& caption) {
  return "<figure>" + svg + "<figcaption>" + report::html_escape(caption) +
         "</figcaption></figure>\n";
}

json endpoints_json(const AgentsRun& run) {
  json out = json::array();
  for (const auto& e : run.endpoints) {
    json samples = json::array();
    for (const auto& s : e.scrapes.samples) {
      auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(); };
      samples.push_back({{"t_s", seconds_since(run, s.t_ns)},
                         {"dialect", s.load.dialect},
                         {"running", opt(s.load.running)},
                         {"waiting", opt(s.load.waiting)},
                         {"kv_usage_ratio", opt(s.load.kv_usage_ratio)}});
    }
    out.push_back({{"spec", e.spec},
                   {"base_url", e.base_url},
                   {"spawned_pid", e.pid ? json(e.pid) : json()},
                   {"end_state", e.end_state},
                   {"calls", e.stats.calls},
                   {"failed", e.stats.failed},
                   {"max_outstanding", e.stats.max_outstanding},
                   {"metrics_status", e.scrapes.status},
                   {"metrics_samples", samples}});
  }
  return out;
}

json level_json(const AgentsRun& run, const AgentsLevel& l) {
  json agents = json::array();
  for (const auto& a : l.result.agents) {
    agents.push_back({{"name", a.name},
                      {"role", a.role.name},
                      {"workflow", workflow_name(a.role.workflow)},
                      {"profile", a.profile.name},
                      {"options", lab::options_to_json(a.profile.options)}});
  }
  json repetitions = json::array();
  for (const auto& r : l.result.repetitions) {
    json per_agent = json::array();
    for (const auto& a : r.agents) {
      per_agent.push_back({{"agent", a.agent},
                           {"solo_ns", a.solo_ns},
                           {"concurrent_ns", a.concurrent_ns},
                           {"solo_ok", a.solo_ok},
                           {"concurrent_ok", a.concurrent_ok},
                           {"solo_tokens", a.solo_tokens},
                           {"concurrent_tokens", a.concurrent_tokens}});
    }
    repetitions.push_back({{"repetition", r.repetition},
                           {"concurrent_first", r.concurrent_first},
                           {"sequential_ns", r.sequential_ns},
                           {"concurrent_ns", r.concurrent_ns},
                           {"complete", r.complete()},
                           {"agents", per_agent}});
  }
  json runs = json::array();
  for (const auto& r : l.result.runs) {
    const ValidationReport& v = r.execution.validation;
    runs.push_back({{"agent", l.result.agents[r.agent].name},
                    {"repetition", r.repetition},
                    {"phase", r.concurrent ? "concurrent" : "solo"},
                    {"start_s", seconds_since(run, r.start_ns)},
                    {"end_s", seconds_since(run, r.end_ns)},
                    {"ok", r.execution.ok},
                    {"error", r.execution.error},
                    {"tokens", r.tokens},
                    {"grounding_score", r.execution.ok ? json(v.grounding_score()) : json()},
                    {"findings", v.findings.size()}});
  }
  json calls = json::array();
  for (const auto& c : l.result.calls) {
    calls.push_back(
        {{"agent", c.meta.arm},
         {"seq", c.meta.seq},
         {"repetition", c.meta.repetition},
         {"kind", c.meta.prompt_index},
         {"warmup", c.meta.warmup},
         {"concurrency", c.meta.concurrency},
         {"t_request_s",
          c.record.t_request_ns ? json(seconds_since(run, c.record.t_request_ns)) : json()},
         {"record", lab::call_record_to_json(c.record)}});
  }
  return {{"agents", l.agents},
          {"agent_setup", agents},
          {"wall_s", static_cast<double>(l.result.wall_ns) / 1e9},
          {"statistics", lab::concurrency_to_json(l.analysis)},
          {"repetitions", repetitions},
          {"executions", runs},
          {"calls", calls}};
}

}  // namespace

report::TimelineSpec agents_timeline(const AgentsRun& run, const AgentsLevel& level) {
  report::TimelineSpec spec;
  spec.title = fmt::format("Every call of {} agent{}, per agent", level.agents,
                           level.agents == 1 ? "" : "s");
  for (const auto& a : level.result.agents) spec.lanes.push_back({a.name, {}});
  for (const auto& c : level.result.calls) {
    size_t lane = 0;
    while (lane < level.result.agents.size() && level.result.agents[lane].name != c.meta.arm) {
      ++lane;
    }
    if (lane == level.result.agents.size()) continue;
    const llm::CallRecord& r = c.record;
    if (!r.t_request_ns) continue;
    report::TimelineSpan s;
    s.start_s = seconds_since(run, r.t_request_ns);
    s.end_s = seconds_since(run, r.t_done_ns ? r.t_done_ns : r.t_request_ns);
    s.first_token_s = r.t_first_token_ns ? seconds_since(run, r.t_first_token_ns) : NAN;
    s.queue_s = r.server.queue_ns ? static_cast<double>(*r.server.queue_ns) / 1e9 : 0;
    s.failed = !r.ok;
    s.label = span_label(c, level.result.agents[lane]);
    spec.lanes[lane].spans.push_back(std::move(s));
  }
  // The concurrent phases: from the first agent's start to the last one's end.
  for (const auto& rep : level.result.repetitions) {
    if (level.agents < 2) break;
    int64_t from = INT64_MAX, to = 0;
    for (const auto& r : level.result.runs) {
      if (r.repetition != rep.repetition || !r.concurrent) continue;
      from = std::min(from, r.start_ns);
      to = std::max(to, r.end_ns);
    }
    if (to > from) {
      spec.bands.push_back({seconds_since(run, from), seconds_since(run, to),
                            fmt::format("repetition {}: concurrent phase", rep.repetition + 1)});
    }
  }
  spec.panels = load_panels(run, level);
  return spec;
}

std::string agents_html(const AgentsRun& run, const std::vector<std::string>& markdown) {
  report::HtmlPage page("Chimera agents " + run.started_utc);
  page.set_subtitle(fmt::format("{} \u2014 {}{} \u2014 {} endpoint{} ({}) \u2014 scenario {}",
                                run.today_iso, run.model_label,
                                run.synthetic ? " (dummy weights)" : "", run.endpoints.size(),
                                run.endpoints.size() == 1 ? "" : "s",
                                assignment_name(run.assignment), scenario_name(run.scenario)));
  std::string timelines;
  for (const auto& level : run.levels) {
    report::TimelineSpec spec = agents_timeline(run, level);
    std::string caption =
        "Each bar is one call: from request sent to first token (light), generating (dark), the "
        "server's queue wait where it reports one (grey band); red with a cross: failed. Shaded: "
        "the concurrent phases.";
    if (spec.panels.empty()) {
      caption += " No endpoint exported Prometheus metrics, so no server load is drawn.";
    } else {
      caption += " Below: the servers' own /metrics, scraped during the run.";
    }
    timelines += figure(report::render_svg_timeline(spec), caption);
    timelines += figure(report::render_svg_chart(latency_chart(level)),
                        "Mean workflow latency of each agent alone and with every agent at once "
                        "(complete repetitions only; agent numbers as in the lanes above).");
  }
  page.add_section({"timeline", "Timeline", timelines});
  if (run.levels.size() > 1) {
    std::string charts = figure(report::render_svg_chart(scaling_chart(run, false)),
                                "Generated tokens per second of wall time, per agent count.");
    charts += figure(report::render_svg_chart(scaling_chart(run, true)),
                     "Measured speedup (geometric mean over repetitions) against the ideal.");
    page.add_section({"scaling", "Scaling", charts});
  }
  page.add_section(
      {"combined", "Combined report", report::markdown_to_html(markdown.front(), "combined-")});
  for (size_t i = 1; i < markdown.size(); ++i) {
    std::string id = fmt::format("agent-{}", i);
    page.add_section(
        {id, fmt::format("Agent report {}", i), report::markdown_to_html(markdown[i], id + "-")});
  }
  return page.render();
}

json agents_summary_json(const AgentsRun& run) {
  json levels = json::array();
  for (const auto& l : run.levels) levels.push_back(lab::concurrency_to_json(l.analysis));
  return {{"levels", levels}};
}

json agents_metrics_json(const AgentsRun& run) {
  json levels = json::array();
  for (const auto& l : run.levels) levels.push_back(level_json(run, l));
  json failures = json::array();
  for (const auto& f : failed_calls(run)) {
    failures.push_back({{"agents", f.agents},
                        {"agent", f.agent},
                        {"repetition", f.repetition},
                        {"warmup", f.warmup},
                        {"phase", f.concurrent ? "concurrent" : "solo"},
                        {"call", f.call},
                        {"endpoint", f.endpoint},
                        {"at_s", std::isfinite(f.at_s) ? json(f.at_s) : json()},
                        {"unix_ms", f.unix_ms},
                        {"error", f.error}});
  }
  return {{"command", "agents"},
          {"command_line", run.command_line},
          {"started_utc", run.started_utc},
          {"data_dir", run.data_dir},
          {"model", run.model_label},
          {"synthetic", run.synthetic},
          {"backend",
           {{"spec", run.choice.spec}, {"reason", run.choice.reason}, {"tried", run.choice.tried}}},
          {"scenario", scenario_name(run.scenario)},
          {"assignment", assignment_name(run.assignment)},
          {"spawned_servers", run.spawn},
          {"repetitions", run.repetitions},
          {"seed", run.seed},
          {"num_predict", run.num_predict ? json(*run.num_predict) : json()},
          {"machine", lab::header_to_json(run.machine)},
          {"cancelled", run.cancelled},
          {"endpoints", endpoints_json(run)},
          {"levels", levels},
          {"failures", failures},
          {"warnings", run.warnings}};
}

Result<std::vector<std::string>> write_agents_outputs(const AgentsRun& run,
                                                      const IngestResult& ingest) {
  CHIMERA_RETURN_IF_ERROR(ensure_directory(run.output_dir));
  std::vector<std::string> files;
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    std::string path = run.output_dir + "/" + name;
    CHIMERA_RETURN_IF_ERROR(write_file_atomic(path, text));
    files.push_back(path);
    return Status::ok();
  };
  std::vector<std::string> markdown = {combined_report_markdown(run)};
  for (const auto& level : run.levels) {
    for (size_t i = 0; i < level.result.agents.size(); ++i) {
      std::string text = agent_report_markdown(run, level, i, ingest);
      CHIMERA_RETURN_IF_ERROR(write(agent_report_name(run, level, i), text));
      if (&level == &run.levels.back()) markdown.push_back(std::move(text));
    }
  }
  CHIMERA_RETURN_IF_ERROR(write("combined_report.md", markdown.front()));
  CHIMERA_RETURN_IF_ERROR(write("report.html", agents_html(run, markdown)));
  CHIMERA_RETURN_IF_ERROR(
      write("metrics.json",
            agents_metrics_json(run).dump(2, ' ', false, json::error_handler_t::replace)));
  return files;
}

}  // namespace chimera::agent

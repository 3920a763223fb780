#include "agent/agents_report.h"

#include <fmt/format.h>

#include <cmath>

#include "agent/ingest_summary.h"
#include "report/markdown.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

using report::Align;
using report::MarkdownDocument;
using report::Table;

std::string num(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : std::string("\u2013");
}

std::string ci_text(const std::optional<lab::Interval>& ci, int decimals,
                    std::string_view unit = "") {
  if (!ci) return "(no CI: one repetition)";
  return fmt::format("({:.0f}% CI {}\u2013{}{})", ci->level * 100, num(ci->lower, decimals),
                     num(ci->upper, decimals), unit);
}

std::string provenance_tag(const AgentsRun& run) {
  return run.synthetic ? "synthetic: dummy weights, real timings" : "measured";
}

std::string call_kind(const lab::MeasuredCall& c, const AgentSpec& agent) {
  if (c.meta.warmup) return "warm-up call";
  if (agent.role.workflow == Workflow::kSingle) return "call";
  return c.meta.prompt_index == kAnalysisCall ? "analysis call" : "report call";
}

const AgentSpec* agent_named(const MultiAgentResult& r, const std::string& name) {
  for (const auto& a : r.agents) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string dummy_notice(const AgentsRun& run) {
  if (!run.synthetic) return "";
  return fmt::format(
      "Dummy weights: {} has synthetic weights, so the agents' text is not meaningful; every "
      "timing is real for this architecture on this machine and is tagged synthetic.",
      run.model_label);
}

std::vector<std::pair<std::string, std::string>> header(const AgentsRun& run) {
  std::vector<std::string> endpoints;
  for (const auto& e : run.endpoints) {
    endpoints.push_back(e.pid ? fmt::format("`{}` (spawned chimera serve, pid {})", e.spec, e.pid)
                              : fmt::format("`{}`", e.spec));
  }
  std::vector<std::string> counts;
  for (const auto& l : run.levels) counts.push_back(std::to_string(l.agents));
  return {
      {"Date", run.today_iso + " (started " + run.started_utc + ")"},
      {"Model", run.model_label + (run.synthetic ? " (dummy weights)" : "")},
      {"Backend", run.choice.reason},
      {"Endpoints", join(endpoints, ", ")},
      {"Assignment", fmt::format("{} over {} endpoint{}", assignment_name(run.assignment),
                                 run.endpoints.size(), run.endpoints.size() == 1 ? "" : "s")},
      {"Scenario", std::string(scenario_name(run.scenario))},
      {"Agents", join(counts, ", ")},
      {"Repetitions",
       fmt::format("{} per agent count: every agent's workflow solo (one at a time), then all "
                   "at once, the order alternating between repetitions; seed {} (the same for an "
                   "agent's solo and concurrent executions)",
                   run.repetitions, run.seed)},
      {"Output caps",
       run.num_predict ? fmt::format("{} tokens for every call (--num-predict)", *run.num_predict)
                       : std::string("each role's own")},
      {"Machine", fmt::format("{} ({} logical CPUs), {}", run.machine.cpu, run.machine.logical_cpus,
                              run.machine.build)},
      {"Command", "`" + run.command_line + "`"},
  };
}

std::string verdict_line(const AgentsLevel& l) {
  const lab::ConcurrencyAnalysis& a = l.analysis;
  std::string line =
      fmt::format("**{} agent{}**: {}.", l.agents, l.agents == 1 ? "" : "s", speedup_sentence(a));
  if (l.agents > 1 && a.balance_ratio.n > 0) {
    line += fmt::format(
        " The prior system's \"concurrency speedup\" would read {} here: that figure is a balance "
        "ratio (how much the agents overlapped), not a speedup.",
        num(a.balance_ratio.mean, 2));
  }
  return line;
}

Table results_table(const AgentsRun& run) {
  Table t;
  t.headers = {"agents",           "sequential wall (s)", "concurrent wall (s)",
               "speedup (95% CI)", "efficiency",          "solo tok/s",
               "concurrent tok/s", "fairness (Jain)",     "balance ratio (prior system)",
               "repetitions used"};
  t.align = {Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight};
  for (const auto& l : run.levels) {
    const lab::ConcurrencyAnalysis& a = l.analysis;
    t.rows.push_back(
        {std::to_string(l.agents), num(a.sequential_wall_s.mean, 2),
         num(a.concurrent_wall_s.mean, 2),
         a.speedup.n ? num(a.speedup.estimate, 2) + "\u00d7 " + ci_text(a.speedup.ci, 2) : "\u2013",
         a.speedup.n ? num(a.efficiency * 100, 0) + "%" : "\u2013",
         num(a.solo_aggregate_tps.mean, 1), num(a.concurrent_aggregate_tps.mean, 1),
         num(a.fairness.mean, 3), num(a.balance_ratio.mean, 2),
         fmt::format("{} of {}", a.repetitions_complete, a.repetitions)});
  }
  return t;
}

void scaling_section(MarkdownDocument& doc, const AgentsRun& run) {
  if (run.levels.size() < 2) return;
  doc.heading(2, "Scaling");
  const AgentsLevel* best = nullptr;
  for (const auto& l : run.levels) {
    if (l.analysis.concurrent_aggregate_tps.n == 0) continue;
    if (!best ||
        l.analysis.concurrent_aggregate_tps.mean > best->analysis.concurrent_aggregate_tps.mean) {
      best = &l;
    }
  }
  const AgentsLevel& first = run.levels.front();
  if (!best || first.analysis.concurrent_aggregate_tps.n == 0) {
    doc.paragraph("Too few complete repetitions to compare the agent counts.");
    return;
  }
  double base = first.analysis.concurrent_aggregate_tps.mean;
  std::vector<std::string> steps;
  for (const auto& l : run.levels) {
    steps.push_back(fmt::format("{} at {} agent{}",
                                num(l.analysis.concurrent_aggregate_tps.mean, 1), l.agents,
                                l.agents == 1 ? "" : "s"));
  }
  doc.paragraph(fmt::format(
      "Aggregate generated tokens/s while the agents ran together: {}. The most was {} tok/s at "
      "{} agents, {}\u00d7 the {} tok/s of {} agent{} ({}).",
      join(steps, "; "), num(best->analysis.concurrent_aggregate_tps.mean, 1), best->agents,
      num(best->analysis.concurrent_aggregate_tps.mean / base, 2), num(base, 1), first.agents,
      first.agents == 1 ? "" : "s", provenance_tag(run)));
}

void agents_table(MarkdownDocument& doc, const AgentsRun& run, const AgentsLevel& l) {
  Table t;
  t.headers = {"agent",
               "role",
               "profile",
               "solo (ms)",
               "concurrent (ms)",
               "slowdown (95% CI)",
               "calls ok / failed",
               "grounding"};
  t.align = {Align::kLeft,  Align::kLeft,  Align::kLeft,  Align::kRight,
             Align::kRight, Align::kRight, Align::kRight, Align::kRight};
  for (size_t i = 0; i < l.result.agents.size(); ++i) {
    const AgentSpec& spec = l.result.agents[i];
    int64_t ok = 0, failed = 0;
    for (const auto& c : l.result.calls) {
      if (c.meta.arm != spec.name || c.meta.warmup) continue;
      (c.record.ok ? ok : failed)++;
    }
    std::string grounding = "\u2013";
    if (const AgentPhaseRun* f = l.result.final_run(i)) {
      const ValidationReport& v = f->execution.validation;
      grounding = v.checked() ? fmt::format("{:.0f}% of {}", v.grounding_score() * 100, v.checked())
                              : "no numbers";
    }
    const lab::AgentSlowdown* s =
        i < l.analysis.agents_slowdown.size() ? &l.analysis.agents_slowdown[i] : nullptr;
    t.rows.push_back({spec.name, spec.role.name, spec.profile.name,
                      s && s->solo_ms.n ? num(s->solo_ms.mean, 0) : "\u2013",
                      s && s->concurrent_ms.n ? num(s->concurrent_ms.mean, 0) : "\u2013",
                      s && s->slowdown.n
                          ? num(s->slowdown.estimate, 2) + "\u00d7 " + ci_text(s->slowdown.ci, 2)
                          : "\u2013",
                      fmt::format("{} / {}", ok, failed), grounding});
  }
  doc.table(t);
  (void)run;
}

void latency_table(MarkdownDocument& doc, const lab::ConcurrencyAnalysis& a) {
  Table t;
  t.headers = {"metric",         "solo p50",       "solo p90",      "solo p99",
               "concurrent p50", "concurrent p90", "concurrent p99"};
  t.align = {Align::kLeft,  Align::kRight, Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight};
  // No successful call: dashes, never zeros.
  auto cells = [](const lab::LatencyPercentiles& p) -> std::vector<std::string> {
    if (p.n == 0) return {"\u2013", "\u2013", "\u2013"};
    return {num(p.p50, 1), num(p.p90, 1), num(p.p99, 1)};
  };
  auto row = [&](const char* name, const lab::LatencyPercentiles& s,
                 const lab::LatencyPercentiles& c) {
    std::vector<std::string> r = {name};
    for (auto& cell : cells(s)) r.push_back(cell);
    for (auto& cell : cells(c)) r.push_back(cell);
    t.rows.push_back(std::move(r));
  };
  row("TTFT (ms)", a.solo_ttft_ms, a.concurrent_ttft_ms);
  row("ITL (ms)", a.solo_itl_ms, a.concurrent_itl_ms);
  doc.table(t);
}

void endpoints_section(MarkdownDocument& doc, const AgentsRun& run) {
  doc.heading(2, "Endpoints");
  Table t;
  t.headers = {"endpoint",  "calls", "failed", "most in flight", "server metrics (/metrics)",
               "at the end"};
  t.align = {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kLeft, Align::kLeft};
  for (const auto& e : run.endpoints) {
    t.rows.push_back({"`" + e.spec + "`", std::to_string(e.stats.calls),
                      std::to_string(e.stats.failed), std::to_string(e.stats.max_outstanding),
                      e.scrapes.status,
                      e.pid ? fmt::format("pid {}: {}", e.pid, e.end_state) : "\u2013"});
  }
  doc.table(t);
}

void failures_section(MarkdownDocument& doc, const AgentsRun& run) {
  doc.heading(2, "Failures");
  std::vector<FailedCall> failed = failed_calls(run);
  if (failed.empty()) {
    doc.paragraph("No call failed.");
    return;
  }
  doc.paragraph(fmt::format(
      "{} call{} failed. A failed call is recorded as a failure with its error, never as a zero: "
      "it is left out of every latency and throughput figure, and a repetition in which an agent "
      "failed is left out of the wall-clock statistics (the other agents' calls still count).",
      failed.size(), failed.size() == 1 ? "" : "s"));
  Table t;
  t.headers = {"when (s after start)", "time (UTC)", "agents",   "agent",
               "repetition / phase",   "call",       "endpoint", "error"};
  for (const auto& f : failed) {
    t.rows.push_back(
        {num(f.at_s, 2), f.unix_ms ? iso_timestamp_utc(f.unix_ms) : "\u2013",
         std::to_string(f.agents), f.agent,
         f.warmup ? "warm-up"
                  : fmt::format("{} / {}", f.repetition + 1, f.concurrent ? "concurrent" : "solo"),
         f.call, f.endpoint, f.error});
    if (t.rows.size() >= 100) break;
  }
  doc.table(t);
  const FailedCall& first = failed.front();
  doc.paragraph(fmt::format("The first failure: {} at {} s ({} of {}, endpoint {}): {}.",
                            first.unix_ms ? iso_timestamp_utc(first.unix_ms) : "(time unknown)",
                            num(first.at_s, 2), first.call, first.agent, first.endpoint,
                            first.error));
}

void method_section(MarkdownDocument& doc) {
  doc.heading(2, "Method");
  doc.bullets({
      "**speedup** = sequential wall / concurrent wall, per repetition. The sequential wall is "
      "the sum of the agents' solo walls (each agent's workflow run alone); the concurrent wall "
      "runs from the first agent's start to the last agent's end with all released together. "
      "The estimate is the geometric mean over repetitions; its 95% CI is the t-interval of the "
      "mean log ratio, exponentiated (ratios are skewed, their logs are not; the interval stays "
      "positive; solo and concurrent of one repetition stay paired). A CI that contains 1 means "
      "running the agents together was not shown to be faster.",
      "**efficiency** = speedup / number of agents (100% = perfect parallelism).",
      "**slowdown** of an agent = its concurrent latency / its solo latency (same method).",
      "**fairness** = Jain's index over agents of solo / concurrent latency (the share of its solo "
      "speed each agent kept): 1 = every agent slowed alike, 1/N = one agent got everything.",
      "**balance ratio** = sum of the agents' latencies during the concurrent run / concurrent "
      "wall: what the prior system printed as \"concurrency speedup\". It lies between 1 and N "
      "whatever the server does, so it measures overlap, not speed: a server that serialises "
      "every request reads about N too.",
      "**contention** = Welch's t-test of per-call decode tok/s, concurrent calls vs solo calls, "
      "with the relative change's bootstrap CI; when nothing is significant, the smallest change "
      "the test would have detected (80% power).",
      "**aggregate tok/s** = generated tokens of a phase / its wall.",
  });
}

}  // namespace

std::vector<FailedCall> failed_calls(const AgentsRun& run) {
  std::vector<FailedCall> out;
  for (const auto& l : run.levels) {
    for (const auto& c : l.result.calls) {
      // A call cut by Ctrl-C was stopped, not failed; the report says the run was interrupted.
      if (c.record.ok || c.record.error_code == ErrorCode::kCancelled) continue;
      FailedCall f;
      f.agents = l.agents;
      f.agent = c.meta.arm;
      f.repetition = c.meta.repetition;
      f.warmup = c.meta.warmup;
      f.concurrent = c.meta.concurrency > 1;
      const AgentSpec* spec = agent_named(l.result, c.meta.arm);
      f.call = spec ? call_kind(c, *spec) : "call";
      f.endpoint = c.record.backend;
      int64_t t = c.record.t_request_ns ? c.record.t_request_ns : c.record.t_done_ns;
      f.at_s = t ? static_cast<double>(t - run.start_ns) / 1e9 : NAN;
      f.unix_ms = c.record.wall_start_unix_ms;
      f.error = c.record.error.empty() ? std::string(error_code_name(c.record.error_code))
                                       : c.record.error;
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::string speedup_sentence(const lab::ConcurrencyAnalysis& a) {
  if (a.agents == 1) {
    return "one agent alone is its own concurrent run (speedup 1 by definition); this row is the "
           "baseline of the scaling study";
  }
  if (a.speedup.n == 0) {
    return fmt::format(
        "no speedup: none of the {} repetitions finished with every agent "
        "succeeding in both phases",
        a.repetitions);
  }
  std::string ci = ci_text(a.speedup.ci, 2, "\u00d7");
  std::string eff = fmt::format("efficiency {:.0f}% of {} agents' perfect parallelism",
                                a.efficiency * 100, a.agents);
  if (a.speedup.ci && a.speedup.ci->contains(1.0)) {
    return fmt::format(
        "no faster together than one after another: speedup {}\u00d7 {}, which "
        "contains 1; {}",
        num(a.speedup.estimate, 2), ci, eff);
  }
  if (a.speedup.estimate < 1) {
    return fmt::format("slower together than one after another: speedup {}\u00d7 {}; {}",
                       num(a.speedup.estimate, 2), ci, eff);
  }
  return fmt::format("{}\u00d7 faster together than one after another {}; {}",
                     num(a.speedup.estimate, 2), ci, eff);
}

std::string agent_report_name(const AgentsRun& run, const AgentsLevel& level, size_t agent) {
  std::string name = level.result.agents[agent].name + "_report.md";
  return run.levels.size() > 1 ? fmt::format("n{}-{}", level.agents, name) : name;
}

std::string combined_report_markdown(const AgentsRun& run) {
  MarkdownDocument doc;
  doc.heading(1, "Concurrent Agents: Combined Report");
  doc.key_values(header(run));
  if (std::string n = dummy_notice(run); !n.empty()) doc.quote(n);
  if (run.cancelled) doc.quote("Interrupted: the figures below cover what finished before Ctrl-C.");
  doc.heading(2, "Verdict");
  std::vector<std::string> verdicts;
  for (const auto& l : run.levels) {
    verdicts.push_back(verdict_line(l));
    if (l.agents > 1) {
      verdicts.push_back("Per-call decode rate, concurrent vs solo: " +
                         l.analysis.contention.sentence + ".");
    }
  }
  doc.bullets(verdicts);
  doc.heading(2, "Concurrency Results");
  doc.paragraph(fmt::format("All figures {}; means over the complete repetitions, with 95% CIs.",
                            provenance_tag(run)));
  doc.table(results_table(run));
  scaling_section(doc, run);
  for (const auto& l : run.levels) {
    doc.heading(2, fmt::format("{} Agent{}", l.agents, l.agents == 1 ? "" : "s"));
    agents_table(doc, run, l);
    doc.paragraph("Latency under contention (per call; ITL over every token interval):");
    latency_table(doc, l.analysis);
  }
  endpoints_section(doc, run);
  failures_section(doc, run);
  method_section(doc);
  doc.heading(2, "Agent Reports");
  if (run.levels.empty()) {
    doc.paragraph("No agent ran: the run was interrupted before the first agent count started.");
    return doc.str();
  }
  const AgentsLevel& last = run.levels.back();
  for (size_t i = 0; i < last.result.agents.size(); ++i) {
    const AgentSpec& a = last.result.agents[i];
    doc.heading(3, a.name + " (" + a.role.description + ")");
    const AgentPhaseRun* f = last.result.final_run(i);
    if (!f) {
      doc.paragraph("No execution of this agent finished; see Failures.");
      continue;
    }
    doc.paragraph(fmt::format("From repetition {} ({}); full report: `{}`.", f->repetition + 1,
                              f->concurrent ? "concurrent" : "solo",
                              agent_report_name(run, last, i)));
    doc.raw(f->execution.report_text);
  }
  return doc.str();
}

std::string agent_report_markdown(const AgentsRun& run, const AgentsLevel& level, size_t agent,
                                  const IngestResult& ingest) {
  const AgentSpec& a = level.result.agents[agent];
  const AgentPhaseRun* f = level.result.final_run(agent);
  MarkdownDocument doc;
  doc.heading(1, "Agent Report: " + a.name);
  auto lines = header(run);
  lines.insert(lines.begin() + 1,
               {"Role", fmt::format("{} ({}; {} workflow; {})", a.role.name, a.role.description,
                                    workflow_name(a.role.workflow), a.role.origin)});
  lines.insert(lines.begin() + 2,
               {"Profile", fmt::format("{} ({})", a.profile.name, a.profile.origin)});
  lines.insert(
      lines.begin() + 3,
      {"Run", fmt::format("one of {} agents{}", level.agents,
                          f ? fmt::format("; the text below is from repetition {} ({})",
                                          f->repetition + 1, f->concurrent ? "concurrent" : "solo")
                            : std::string())});
  doc.key_values(lines);
  if (std::string n = dummy_notice(run); !n.empty()) doc.quote(n);
  doc.heading(2, "Configuration");
  const std::vector<ConfigLine>& config =
      f ? f->execution.configuration
        : (agent < level.result.configuration.size() ? level.result.configuration[agent]
                                                     : std::vector<ConfigLine>{});
  Table ct;
  ct.headers = {"option", "value", "in force because"};
  for (const auto& l : config) {
    ct.rows.push_back({l.name, l.value.empty() ? "(not reported)" : l.value, l.source});
  }
  doc.table(ct);
  doc.rule();
  if (f) {
    doc.paragraph("*Written by the model; every number in it is checked under Validation.*");
    doc.raw(f->execution.report_text);
  } else {
    std::string why = "no execution finished";
    for (const auto& r : level.result.runs) {
      if (r.agent == agent && !r.execution.error.empty()) why = r.execution.error;
    }
    doc.paragraph("The model wrote nothing for this agent: " + why + ".");
  }
  doc.rule();
  doc.heading(2, "Measured");
  const lab::AgentSlowdown* s = agent < level.analysis.agents_slowdown.size()
                                    ? &level.analysis.agents_slowdown[agent]
                                    : nullptr;
  if (s && s->slowdown.n) {
    doc.paragraph(fmt::format(
        "Workflow latency solo {} ms, concurrently {} ms (means over {} repetitions): a slowdown "
        "of {}\u00d7 {} ({}).",
        num(s->solo_ms.mean, 0), num(s->concurrent_ms.mean, 0), s->slowdown.n,
        num(s->slowdown.estimate, 2), ci_text(s->slowdown.ci, 2), provenance_tag(run)));
  } else {
    doc.paragraph("No repetition finished in both phases, so no slowdown can be given.");
  }
  doc.heading(2, "Data Ingestion");
  doc.raw(ingestion_markdown(ingest));
  doc.heading(2, "Validation");
  if (!f) {
    doc.paragraph("There is no text to validate.");
    return doc.str();
  }
  const ValidationReport& v = f->execution.validation;
  doc.paragraph(fmt::format(
      "Numbers and dates checked against the facts: {} of {} grounded{}; {} finding{}.",
      v.grounded(), v.checked(),
      v.checked() ? fmt::format(" ({:.1f}%)", v.grounding_score() * 100) : std::string(),
      v.findings.size(), v.findings.size() == 1 ? "" : "s"));
  std::vector<std::string> missing = missing_role_sections(a.role, f->execution.report_text);
  if (!missing.empty()) {
    doc.paragraph("Sections the role asks for that the text lacks: " + join(missing, ", ") + ".");
  }
  if (!v.findings.empty()) {
    Table t;
    t.headers = {"finding", "text", "why"};
    for (const auto& finding : v.findings) {
      t.rows.push_back({std::string(finding_kind_name(finding.kind)),
                        "`" + replace_all(finding.excerpt, "`", "'") + "`", finding.detail});
      if (t.rows.size() >= 40) break;
    }
    doc.table(t);
  }
  return doc.str();
}

}  // namespace chimera::agent

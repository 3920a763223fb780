// baseline_report.md / chimera_report.md: the prior system's sections, every one written by the
// program from the data's findings and this run's measurements; the model's validated prose follows
// each; failed prose goes to the Validation appendix with a one-line note in its section.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <regex>
#include <set>

#include "agent/ingest_summary.h"
#include "agent/run_findings.h"
#include "agent/run_reports.h"
#include "agent/section_notes.h"
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
constexpr size_t kQuotedChars = 1200;  // of a failed section, in the Validation appendix

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

std::vector<std::string> expected_lines(const Profile& profile, const FactsTable& facts) {
  std::vector<std::string> out;
  for (const auto& e : profile.expected) {
    std::string id;
    for (const auto& f : facts.facts()) {
      if (f.kind == FactKind::kExpected && f.value == e.value && f.unit && *f.unit == e.unit)
        id = " [" + f.id + "]";
    }
    std::string ci = e.ci95 ? fmt::format(" (95% CI {} to {})", fixed(e.ci95->first, e.decimals),
                                          fixed(e.ci95->second, e.decimals))
                            : "";
    out.push_back(fmt::format("{}: {} {}{} \u2014 **expected**, not measured by this run{}",
                              e.metric, fixed(e.value, e.decimals), e.unit.symbol, ci, id));
  }
  return out;
}

Table measured_table(const RunSummary& summary, const std::string& arm) {
  Table t;
  t.headers = {"call", "metric", "n",         "mean \u00b1 sd", "95% CI of the mean",
               "p50",  "p99",    "provenance"};
  t.align = {Align::kLeft,  Align::kLeft,  Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight, Align::kLeft};
  for (const auto& k : summary.kinds) {
    const lab::ArmReport* a = k.arm(arm);
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

void measured_block(MarkdownDocument& doc, const RunDescription& run, const RunSummary& summary,
                    const ArmSetup& arm) {
  doc.heading(3, "Measured Performance of This Run");
  doc.paragraph(fmt::format(
      "Every figure below was measured by this run on this machine ({}, {}), over the {} agent's "
      "measured calls (warm-up excluded).{}",
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
    const lab::ArmReport* a = k.arm(arm.name);
    if (!a) continue;
    for (const auto& [reason, n] : a->metrics.failures_by_reason) {
      auto example = a->metrics.failure_examples.find(reason);
      failures.push_back(
          fmt::format("{} call: {} failed ({}): {}", k.kind, n, reason,
                      example == a->metrics.failure_examples.end() ? "" : example->second));
    }
    if (a->metrics.prompt_truncated_calls > 0) {
      failures.push_back(fmt::format("{} call: the prompt did not fit num_ctx in {} calls", k.kind,
                                     a->metrics.prompt_truncated_calls));
    }
  }
  if (!failures.empty()) {
    doc.paragraph("Failed calls are counted and excluded from the statistics:");
    doc.bullets(failures);
  }
}

std::vector<std::string> finding_lines(const std::vector<DataFinding>& findings,
                                       std::initializer_list<FindingTopic> topics) {
  std::vector<std::string> out;
  for (const DataFinding* f : findings_of(findings, topics)) {
    out.push_back(f->text + " " + support_tag(*f));
  }
  return out;
}

const SectionProse* prose_of(const AgentExecution* e, const std::string& title) {
  if (!e) return nullptr;
  for (const auto& s : e->sections) {
    if (s.title == title) return &s;
  }
  return nullptr;
}

// The model's prose after the program's content: shown when it passed validation, else one line.
void prose(MarkdownDocument& doc, const RunDescription& run, const AgentExecution* e,
           const std::string& title, const std::string& why_none) {
  const SectionProse* s = prose_of(e, title);
  if (!s) {
    doc.paragraph("*The model wrote no prose for " + title + ": " + why_none + ".*");
    return;
  }
  if (s->passed) {
    doc.paragraph(fmt::format(
        "*The model's prose ({}; validated: {} of {} numbers and dates grounded):*",
        prose_format_name(e->prose_format), s->validation.grounded(), s->validation.checked()));
    doc.raw(s->text);
    return;
  }
  doc.paragraph(fmt::format(
      "*The model's text for {} failed validation ({}); the content above is the program's, and "
      "the failed text is quoted in the Appendix, under Validation.*",
      title, s->problem));
  if (run.show_raw && !s->text.empty()) {
    doc.paragraph("The failed text (--show-raw):");
    doc.code_block(s->text.substr(0, kQuotedChars), "text");
  }
}

// Every [id] the report cites, in order of first appearance.
std::vector<std::string> cited_ids(const std::string& text) {
  static const std::regex group("\\[((?:[A-Z][0-9]+)(?:, ?[A-Z][0-9]+)*)\\]");
  static const std::regex id("[A-Z][0-9]+");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), group);
       it != std::sregex_iterator(); ++it) {
    std::string inner = (*it)[1];
    for (auto j = std::sregex_iterator(inner.begin(), inner.end(), id); j != std::sregex_iterator();
         ++j) {
      if (seen.insert(j->str()).second) out.push_back(j->str());
    }
  }
  return out;
}

void facts_cited(MarkdownDocument& doc, const std::string& body, const FactsTable& facts) {
  doc.heading(3, "Facts Cited");
  Table t;
  t.headers = {"id", "value", "kind", "what", "source"};
  for (const auto& id : cited_ids(body)) {
    const Fact* f = facts.find(id);
    if (!f) continue;
    std::string what =
        f->metric + (f->statistic.empty() || f->statistic == "value" ? "" : " " + f->statistic);
    if (!f->label.empty()) what += "; " + f->label;
    t.rows.push_back(
        {f->id, f->value_text(), std::string(fact_kind_name(f->kind)), what, f->source.describe()});
  }
  if (t.rows.empty()) {
    doc.paragraph("The report cites no facts.");
  } else {
    doc.paragraph(
        "Every fact id the sections above cite, with its value, kind (provenance) and source:");
    doc.table(t);
  }
}

void validation(MarkdownDocument& doc, const AgentExecution* e, const ArmGrounding* g) {
  doc.heading(3, "Validation");
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
      "The model's prose ({}) was read per section and every number and date checked against the "
      "facts at its printed precision; a section with any finding (foreign script, repetition "
      "loop, ungrounded number or date, placeholder, unknown citation, truncated prompt) is not "
      "shown in the report. Grounding score of the whole text: {}; {} finding{}.",
      prose_format_name(e->prose_format), score, v.findings.size(),
      v.findings.size() == 1 ? "" : "s"));
  if (g && g->scores.size() > 1) {
    std::vector<std::string> scores;
    for (double s : g->scores) scores.push_back(fmt::format("{:.1f}%", s * 100));
    doc.paragraph(fmt::format("Scores of every execution of this agent: {} (mean {:.1f}%).",
                              join(scores, ", "), g->mean_score().value_or(0) * 100));
  }
  Table sections;
  sections.headers = {"section", "model prose", "why"};
  for (const auto& s : e->sections) {
    sections.rows.push_back({s.title, s.passed ? "shown" : "**not shown**",
                             s.passed ? "passed validation" : s.problem});
  }
  doc.table(sections);
  bool no_section = std::all_of(e->sections.begin(), e->sections.end(),
                                [](const SectionProse& s) { return trim(s.text).empty(); });
  if (no_section && !trim(e->report_text).empty()) {
    doc.paragraph(
        "The model's answer had none of the section headings asked for; the whole "
        "answer, quoted:");
    std::string quoted = e->report_text.substr(0, kQuotedChars);
    if (e->report_text.size() > kQuotedChars) quoted += "\n[... cut at 1200 characters]";
    doc.code_block(quoted, "text");
  }
  for (const auto& s : e->sections) {
    if (s.passed || trim(s.text).empty()) continue;
    doc.paragraph(fmt::format("Failed text of **{}** ({}), quoted:", s.title, s.problem));
    std::string quoted = s.text.substr(0, kQuotedChars);
    if (s.text.size() > kQuotedChars) quoted += "\n[... cut at 1200 characters]";
    doc.code_block(quoted, "text");
  }
  if (!v.findings.empty()) {
    Table t;
    t.headers = {"finding", "text", "why"};
    for (size_t i = 0; i < v.findings.size() && i < 40; ++i) {
      const auto& f = v.findings[i];
      t.rows.push_back({std::string(finding_kind_name(f.kind)),
                        "`" + replace_all(f.excerpt, "`", "'") + "`", f.detail});
    }
    doc.table(t);
    if (v.findings.size() > 40)
      doc.paragraph(fmt::format("... and {} more findings.", v.findings.size() - 40));
  }
}

}  // namespace

std::string arm_report_markdown(const RunDescription& run, const AgentRunResult& result,
                                const RunSummary& summary, const IngestResult& ingest,
                                size_t arm_index) {
  const ArmSetup& arm = run.arms[arm_index];
  const AgentExecution* e = result.final_execution(arm.name);
  // The facts as the model saw them (the final execution's), plus this run's statistics.
  FactsTable facts = e ? e->facts : run.base_facts;
  std::vector<DataFinding> measured = run_findings(run, summary, facts);
  const std::vector<ConfigLine>& config = e ? e->configuration
                                          : result.arm_configuration.size() > arm_index
                                              ? result.arm_configuration[arm_index]
                                              : std::vector<ConfigLine>{};
  std::vector<SectionNotes> notes = data_section_notes(run.findings, config);
  auto notes_of = [&](std::string_view title) -> const std::vector<std::string>& {
    for (const auto& n : notes) {
      if (n.title == title) return n.lines;
    }
    return notes.back().lines;
  };
  std::string why_none = "no execution of this agent finished";
  for (const auto& x : result.executions) {
    if (x.arm == arm.name && !x.error.empty()) why_none = x.error;
  }

  MarkdownDocument doc;
  doc.heading(1, "Technical Report: " + title_of(arm) + " Agent Analysis");
  auto lines = header_lines(run);
  lines.insert(lines.begin() + 1,
               {"Agent Type", fmt::format("{} (profile `{}`, {})", title_of(arm), arm.profile.name,
                                          arm.profile.origin)});
  lines.push_back(
      {"Runs",
       fmt::format("{} measured executions per agent (analysis + report), interleaved with the "
                   "other agent, first agent alternating; seed {}; output caps {} and {} tokens; "
                   "prose: {} call{}, {}{}",
                   run.settings.runs, run.settings.seed, run.settings.analysis_num_predict,
                   run.settings.report_num_predict, prose_calls_name(run.settings.prose_calls),
                   run.settings.prose_calls == ProseCalls::kOne ? "" : "s per section",
                   e ? prose_format_name(e->prose_format) : "n/a",
                   e ? fmt::format("; the prose below is from pair {}", e->pair_index + 1) : "")});
  doc.key_values(lines);
  if (std::string notice = dummy_weights_notice(run); !notice.empty()) doc.quote(notice);
  doc.paragraph(
      "Each section is written by the program from the data's findings and this run's "
      "measurements, every figure with its fact id (listed in the Appendix). The model's prose "
      "follows where it passed validation; where it did not, a note says so and the Appendix "
      "quotes it.");

  doc.heading(2, "Executive Summary");
  doc.paragraph(fmt::format(
      "The data folder held {} parsed file{} with {} rows ({} failed); the program drew {} "
      "findings "
      "from it. This run measured the {} agent against the other over {} interleaved pairs{}.",
      ingest.parsed_files(), ingest.parsed_files() == 1 ? "" : "s", ingest.total_rows(),
      ingest.total_failure_rows(), run.findings.size(), arm.name, run.settings.runs,
      run.backend.synthetic ? " on a dummy-weight model" : ""));
  std::vector<std::string> summary_lines;
  for (const auto& f : measured) {
    // The headline only: Performance Analysis and Key Findings give the whole line.
    if (f.topic == FindingTopic::kRunComparison && f.dataset == "this run, report calls")
      summary_lines.push_back("This run, " + first_sentence(f.text));
  }
  for (const auto& l : notes_of("Executive Summary")) summary_lines.push_back(l);
  if (!summary_lines.empty()) doc.bullets(summary_lines);
  prose(doc, run, e, "Executive Summary", why_none);

  doc.heading(2, "Chimera Configuration Analysis");
  doc.paragraph(arm.profile.options.empty()
                    ? "This agent sends no sampling or context options: each is the backend's "
                      "default, recorded as such (with the value where the backend reported it)."
                    : "Options sent by this agent, and the backend's defaults for the rest:");
  doc.table(configuration_table(config));
  if (!arm.profile.expected.empty()) {
    doc.paragraph("Expected performance (not measured by this run; source: " +
                  arm.profile.expected_source + "):");
    doc.bullets(expected_lines(arm.profile, facts));
  }
  doc.paragraph("What the data says about these options:");
  doc.bullets(notes_of("Chimera Configuration Analysis"));
  prose(doc, run, e, "Chimera Configuration Analysis", why_none);

  doc.heading(2, "Data Ingestion Summary");
  doc.raw(ingestion_markdown(ingest));
  if (!notes_of("Data Ingestion Summary").empty()) doc.bullets(notes_of("Data Ingestion Summary"));
  prose(doc, run, e, "Data Ingestion Summary", why_none);

  doc.heading(2, "Performance Analysis");
  measured_block(doc, run, summary, arm);
  std::vector<std::string> run_lines =
      finding_lines(measured, {FindingTopic::kRunComparison, FindingTopic::kRunExpected});
  if (!run_lines.empty()) doc.bullets(run_lines);
  doc.heading(3, "In the Data");
  if (notes_of("Performance Analysis").empty()) {
    doc.paragraph("The data holds no metric the program could compare.");
  } else {
    doc.bullets(notes_of("Performance Analysis"));
  }
  prose(doc, run, e, "Performance Analysis", why_none);

  doc.heading(2, "Key Findings");
  std::vector<std::string> key;
  for (const auto& f : measured) {
    if (f.topic == FindingTopic::kRunComparison && f.dataset == "this run, report calls")
      key.push_back(f.text + " " + support_tag(f));
  }
  for (const auto& l : notes_of("Key Findings")) key.push_back(l);
  doc.bullets(key);
  prose(doc, run, e, "Key Findings", why_none);

  doc.heading(2, "Recommendations");
  std::vector<std::string> recommendations = run_recommendations(run, measured);
  for (const auto& l : notes_of("Recommendations")) recommendations.push_back(l);
  doc.bullets(recommendations);
  prose(doc, run, e, "Recommendations", why_none);

  std::string body = doc.str();
  MarkdownDocument appendix;
  appendix.heading(2, "Appendix");
  appendix.paragraph(
      "Written by the program: the configuration in force, the facts cited above, "
      "the method, and the validation of the model's text.");
  appendix.heading(3, "Configuration");
  appendix.table(configuration_table(config));
  facts_cited(appendix, body, facts);
  appendix.heading(3, "Method");
  appendix.bullets(
      {"Findings from the data: per data set, the best and worst configuration per metric with "
       "the spread; per option, its effect across rows that differ in that option alone, tested "
       "against the spread between replicates (t on the pooled within-configuration variance, "
       "Bonferroni over level pairs) or, without replicates, said to be untellable; outliers by "
       "median and MAD within a model; a cold call where the row's load time covers its excess "
       "TTFT.",
       "This run: Welch's t-test per metric, Holm-adjusted over the metrics compared; the relative "
       "change's CI by Fieller's theorem from the same t statistic (it excludes 0 exactly when "
       "the unadjusted test rejects); the smallest difference detectable at 80% power beside "
       "every no-difference verdict; TOST when an equivalence margin is given."});
  const ArmGrounding* g =
      arm_index < summary.grounding.size() ? &summary.grounding[arm_index] : nullptr;
  validation(appendix, e, g);
  return body + "\n" + appendix.str();
}

}  // namespace chimera::agent

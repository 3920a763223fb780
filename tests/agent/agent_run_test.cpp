#include "agent/agent_run.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/fake_agent_backend.h"
#include "agent/run_outputs.h"
#include "lab/bench_session.h"
#include "lab/metrics.h"
#include "support/test_support.h"

namespace chimera::agent {
namespace {

using chimera::testing::contains;
using chimera::testing::read_file;

using chimera::agent::testing::FakeAgentBackend;
using chimera::testing::TempDir;

class AgentRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(data_.file("sweep.csv")) << "model,num_ctx,tokens_per_second,ttft_ms,error\n"
                                              "gemma3,1024,100.5,120,\n"
                                              "gemma3,4096,0,,timeout\n"
                                              "llama3,1024,77.25,210,\n";
    auto r = ingest_folder(data_.path());
    ASSERT_TRUE(r.ok());
    ingest_ = std::move(*r);
    facts_ = build_facts(ingest_);
    findings_ = build_findings(ingest_, facts_);
    auto baseline = find_profile("baseline");
    auto chimera = find_profile("chimera-gemma3");
    ASSERT_TRUE(baseline.ok() && chimera.ok());
    arms_ = {{"baseline", *baseline}, {"chimera", *chimera}};
    settings_.runs = 3;
    settings_.seed = 7;
    settings_.analysis_num_predict = 16;
    settings_.report_num_predict = 32;
    settings_.warmup_num_predict = 4;
    settings_.today_iso = "2026-11-26";
  }

  AgentRunResult run(FakeAgentBackend& backend) {
    AgentRunner runner(backend, settings_, arms_, ingest_, facts_);
    runner.set_findings(findings_);
    progress_.clear();
    runner.on_progress([&](int64_t done, int64_t total, const std::string&) {
      progress_.push_back({done, total});
    });
    return runner.run();
  }

  RunDescription describe(const FakeAgentBackend& backend) {
    RunDescription d;
    d.today_iso = settings_.today_iso;
    d.started_utc = "2026-11-26T12:00:00Z";
    d.data_dir = data_.path();
    d.backend.spec = "fake://agent-test";
    d.backend.reason = "a test";
    d.backend_name = backend.name();
    d.model_label = "fake-model";
    d.settings = settings_;
    d.arms = arms_;
    d.machine = lab::machine_header();
    d.findings = findings_;
    d.base_facts = facts_;
    return d;
  }

  TempDir data_;
  IngestResult ingest_;
  FactsTable facts_;
  std::vector<DataFinding> findings_;
  std::vector<ArmSetup> arms_;
  RunSettings settings_;
  std::vector<std::pair<int64_t, int64_t>> progress_;
};

TEST_F(AgentRunTest, WarmUpsThenInterleavedPairsWithAlternatingFirstArm) {
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  ASSERT_EQ(result.calls.size(), 2u + 3u * 2u * 2u);
  std::vector<std::string> order;
  for (const auto& c : result.calls) order.push_back(c.meta.arm + (c.meta.warmup ? "/w" : ""));
  EXPECT_EQ(order,
            (std::vector<std::string>{"baseline/w", "chimera/w",                        //
                                      "baseline", "baseline", "chimera", "chimera",     // pair 1
                                      "chimera", "chimera", "baseline", "baseline",     // pair 2
                                      "baseline", "baseline", "chimera", "chimera"}));  // pair 3
  EXPECT_EQ(progress_.back(), (std::pair<int64_t, int64_t>{14, 14}));
  ASSERT_EQ(result.executions.size(), 6u);
  for (const auto& e : result.executions) EXPECT_TRUE(e.ok) << e.error;
}

TEST_F(AgentRunTest, BothArmsOfAPairShareSeedAndOutputCaps) {
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  std::map<int64_t, std::set<int64_t>> seeds_by_pair;
  for (size_t i = 0; i < result.calls.size(); ++i) {
    const auto& c = result.calls[i];
    const llm::Request& req = backend.requests[i];
    if (c.meta.warmup) {
      EXPECT_EQ(req.options.num_predict, 4);
      continue;
    }
    seeds_by_pair[c.meta.pair_index].insert(*req.options.seed);
    EXPECT_EQ(req.options.num_predict, c.meta.prompt_index == kAnalysisCall ? 16 : 32);
  }
  ASSERT_EQ(seeds_by_pair.size(), 3u);
  for (const auto& [pair, seeds] : seeds_by_pair) EXPECT_EQ(seeds.size(), 1u) << "pair " << pair;
  EXPECT_NE(*seeds_by_pair[0].begin(), *seeds_by_pair[1].begin());
  // Baseline sends only what fairness requires; Chimera sends its profile too.
  const llm::Request& baseline_report = backend.requests[3];
  EXPECT_FALSE(baseline_report.options.temperature.has_value());
  EXPECT_FALSE(baseline_report.options.num_ctx.has_value());
  const llm::Request& chimera_report = backend.requests[5];
  EXPECT_EQ(chimera_report.options.temperature, 0.4);
  EXPECT_EQ(chimera_report.options.num_ctx, 4096);
}

TEST_F(AgentRunTest, ConfigurationRecordsSentValuesAndBackendDefaults) {
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  const AgentExecution* baseline = result.final_execution("baseline");
  ASSERT_NE(baseline, nullptr);
  std::map<std::string, ConfigLine> lines;
  for (const auto& l : baseline->configuration) lines[l.name] = l;
  EXPECT_EQ(lines["temperature"].value, "0.8");  // what the backend reported applying
  EXPECT_EQ(lines["temperature"].source, "backend default");
  EXPECT_FALSE(lines["temperature"].fact_id.empty());
  EXPECT_EQ(lines["num_predict"].value, "32");
  EXPECT_TRUE(contains(lines["num_predict"].source, "the same for both arms"));
  EXPECT_EQ(lines["top_p"].value, "");  // not reported: unknown, never guessed
  const AgentExecution* chimera = result.final_execution("chimera");
  ASSERT_NE(chimera, nullptr);
  for (const auto& l : chimera->configuration) {
    if (l.name == "num_gpu") {
      EXPECT_EQ(l.value, "999");
      EXPECT_EQ(l.source, "sent");
    }
  }
}

TEST(ConfigurationLines, FloatNoiseFromTheBackendIsNotPrinted) {
  llm::CallRecord r;
  r.options_applied.temperature = static_cast<double>(0.8f);  // 0.800000011920929
  r.options_applied.top_p = 0.95;
  r.option_sources["temperature"] = "model default";
  llm::Options sent;
  sent.num_ctx = 4096;
  std::map<std::string, ConfigLine> lines;
  for (const auto& l : configuration_lines(sent, &r)) lines[l.name] = l;
  EXPECT_EQ(lines["temperature"].value, "0.8");
  EXPECT_EQ(lines["temperature"].source, "model default");
  EXPECT_EQ(lines["top_p"].value, "0.95");
  EXPECT_EQ(lines["top_p"].source, "backend default");
  EXPECT_EQ(lines["num_ctx"].value, "4096");
  EXPECT_EQ(lines["num_ctx"].source, "sent");
  EXPECT_EQ(lines.size(), llm::option_names().size());
}

TEST_F(AgentRunTest, ReportPromptCarriesMeasuredFactsAndTheTextIsValidated) {
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  const AgentExecution* chimera = result.final_execution("chimera");
  ASSERT_NE(chimera, nullptr);
  // The fake report cites the measured decode rate of the analysis call and the expected figure.
  EXPECT_TRUE(
      std::regex_search(chimera->report_text, std::regex("decoded at [0-9.]+ tok/s \\[M[0-9]+\\]")))
      << chimera->report_text;
  EXPECT_TRUE(contains(chimera->report_text, "102.31 tok/s [E"));
  EXPECT_TRUE(chimera->validation.clean()) << chimera->validation.findings[0].detail;
  EXPECT_DOUBLE_EQ(chimera->validation.grounding_score(), 1.0);

  backend.report_text = [](const std::string&) {
    return std::string(
        "## Executive Summary\n\nOn October 26, 2023 we reached 97.3 tok/s for [Client Name].\n");
  };
  AgentRunResult bad = run(backend);
  const AgentExecution* e = bad.final_execution("chimera");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->validation.count(FindingKind::kUngroundedDate), 1u);
  EXPECT_EQ(e->validation.count(FindingKind::kUngroundedNumber), 1u);
  EXPECT_EQ(e->validation.count(FindingKind::kPlaceholder), 1u);
}

TEST_F(AgentRunTest, AnAARunFindsNoSignificantDifference) {
  arms_[1] = {"chimera", arms_[0].profile};  // the same profile on both arms
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  RunSummary summary = summarize_run(describe(backend), result, lab::HwSummary{});
  const KindAnalysis* report = summary.kind("report");
  ASSERT_NE(report, nullptr);
  ASSERT_FALSE(report->report.comparisons.empty());
  for (const auto& c : report->report.comparisons) {
    EXPECT_FALSE(c.significant) << c.metric;
    EXPECT_TRUE(contains(verdict_sentence(c, summary.alpha, summary.level, "chimera", "baseline"),
                         "no significant difference"));
  }
}

TEST_F(AgentRunTest, AClearDifferenceIsReportedWithItsDirection) {
  FakeAgentBackend backend;
  backend.speed_tps = [](const llm::Request& r) { return r.options.temperature ? 65.0 : 50.0; };
  AgentRunResult result = run(backend);
  RunSummary summary = summarize_run(describe(backend), result, lab::HwSummary{});
  const KindAnalysis* report = summary.kind("report");
  ASSERT_NE(report, nullptr);
  bool found = false;
  for (const auto& c : report->report.comparisons) {
    if (c.metric != lab::kDecodeTps) continue;
    found = true;
    EXPECT_TRUE(c.significant);
    std::string v = verdict_sentence(c, summary.alpha, summary.level, "chimera", "baseline");
    EXPECT_TRUE(contains(v, "chimera's decode_tps is higher than baseline's by 30%")) << v;
    EXPECT_TRUE(contains(v, "better")) << v;
  }
  EXPECT_TRUE(found);
  ASSERT_EQ(summary.pairs.size(), 3u);
  ASSERT_TRUE(summary.pairs[0].throughput_improvement_percent.has_value());
  EXPECT_NEAR(*summary.pairs[0].throughput_improvement_percent, 30.0, 0.5);
}

TEST_F(AgentRunTest, FailedCallsAreCountedNotAveraged) {
  FakeAgentBackend backend;
  backend.succeed = [](size_t n) { return n != 4; };  // pair 1, chimera's analysis call
  AgentRunResult result = run(backend);
  ASSERT_FALSE(result.executions[1].ok);
  EXPECT_TRUE(contains(result.executions[1].error, "connection refused"));
  EXPECT_EQ(result.calls.size(), 13u);  // the failed execution's report call was never made
  RunSummary summary = summarize_run(describe(backend), result, lab::HwSummary{});
  const KindAnalysis* analysis = summary.kind("analysis");
  ASSERT_NE(analysis, nullptr);
  for (const auto& arm : analysis->report.arms) {
    if (arm.label == "chimera") {
      EXPECT_EQ(arm.metrics.failed, 1);
      EXPECT_EQ(arm.metrics.ok, 2);
    }
  }
}

TEST_F(AgentRunTest, OutputsAreWrittenAndSelfDescribing) {
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  RunDescription d = describe(backend);
  RunSummary summary = summarize_run(d, result, lab::HwSummary{});
  TempDir out;
  auto written = write_run_outputs(out.path() + "/run", d, result, summary, ingest_, {});
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_EQ(written->files.size(), 5u);

  std::string chimera = read_file(out.path() + "/run/chimera_report.md");
  for (const char* part :
       {"# Technical Report: Chimera-Optimized Agent Analysis", "**Date:** 2026-11-26",
        "**Agent Type:** Chimera-Optimized (profile `chimera-gemma3`", "**Model:** fake-model",
        "### Configuration", "| num_gpu ", "Expected performance (not measured by this run",
        "102.31 tok/s \u2014 **expected**", "## Executive Summary", "## Appendix",
        "### Measured Performance of This Run", "## Data Ingestion Summary", "sweep.csv",
        "### Validation", "Grounding score of the whole text: **100.0%**", "### Facts Cited"}) {
    EXPECT_TRUE(contains(chimera, part)) << part;
  }
  EXPECT_FALSE(contains(chimera, "dummy weights"));
  std::string comparison = read_file(out.path() + "/run/comparison_report.md");
  EXPECT_TRUE(contains(comparison, "## Verdict"));
  EXPECT_TRUE(contains(comparison, "report call: no significant difference in decode_tps"));

  std::string html = read_file(out.path() + "/run/report.html");
  EXPECT_TRUE(contains(html, "<svg "));
  EXPECT_TRUE(contains(html, "Decode throughput per call"));
  EXPECT_TRUE(contains(html, "<section id=\"chimera\">"));
  for (const char* banned : {"<script", "<link", "src=", "href=\"http"})
    EXPECT_FALSE(contains(html, banned)) << banned;

  auto metrics = nlohmann::json::parse(read_file(out.path() + "/run/metrics.json"));
  EXPECT_EQ(metrics["calls"].size(), result.calls.size());
  EXPECT_EQ(metrics["executions"].size(), 6u);
  EXPECT_TRUE(metrics["statistics"].contains("report"));
  EXPECT_EQ(metrics["arms"][1]["profile"]["expected"][0]["provenance"], "expected");
}

TEST_F(AgentRunTest, DummyWeightsAreSaidPlainlyInEveryReport) {
  settings_.synthetic_model = true;
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  RunDescription d = describe(backend);
  d.backend.synthetic = true;
  for (const auto& c : result.calls) EXPECT_TRUE(c.record.synthetic_model);
  RunSummary summary = summarize_run(d, result, lab::HwSummary{});
  for (size_t arm = 0; arm < 2; ++arm) {
    std::string md = arm_report_markdown(d, result, summary, ingest_, arm);
    EXPECT_TRUE(contains(md, "**Model:** fake-model (dummy weights)"));
    EXPECT_TRUE(contains(md, "the text it wrote is not meaningful"));
    EXPECT_TRUE(contains(md, "timings are real for that architecture on this machine"));
  }
  EXPECT_TRUE(contains(comparison_report_markdown(d, result, summary), "not meaningful"));
}

// Every section title, in order, with the program's content under it whatever the model wrote.
void expect_every_section(const std::string& md) {
  size_t at = 0;
  for (const auto& title : report_section_titles()) {
    size_t found = md.find("\n## " + title + "\n", at);
    ASSERT_NE(found, std::string::npos) << title;
    at = found + 1;
  }
}

TEST_F(AgentRunTest, JsonProseWhereTheBackendHasStructuredOutput) {
  FakeAgentBackend backend;
  backend.structured_output = true;
  AgentRunResult result = run(backend);
  size_t with_schema = 0;
  for (size_t i = 0; i < result.calls.size(); ++i) {
    const auto& c = result.calls[i];
    bool report_call = !c.meta.warmup && c.meta.prompt_index == kReportCall;
    EXPECT_EQ(backend.requests[i].output_schema.has_value(), report_call) << i;
    if (report_call) {
      ++with_schema;
      EXPECT_TRUE(contains(*backend.requests[i].output_schema, "\"sections\""));
      EXPECT_TRUE(contains(backend.requests[i].messages.back().content, "one JSON object"));
    }
  }
  EXPECT_EQ(with_schema, 6u);
  for (const auto& e : result.executions) {
    ASSERT_TRUE(e.ok) << e.error;
    EXPECT_EQ(e.prose_format, ProseFormat::kJson);
    ASSERT_EQ(e.sections.size(), prose_section_titles().size());
    EXPECT_TRUE(e.sections[0].passed) << e.sections[0].problem;
    EXPECT_FALSE(e.sections[0].cited.empty());
  }
  RunDescription d = describe(backend);
  RunSummary summary = summarize_run(d, result, lab::HwSummary{});
  std::string md = arm_report_markdown(d, result, summary, ingest_, 1);
  expect_every_section(md);
  EXPECT_TRUE(contains(md, "*The model's prose (JSON (structured output); validated")) << md;
}

TEST_F(AgentRunTest, WithoutStructuredOutputTheProseIsFreeTextAndTheReportSaysSo) {
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  for (const auto& r : backend.requests) EXPECT_FALSE(r.output_schema.has_value());
  for (const auto& e : result.executions) {
    EXPECT_EQ(e.prose_format, ProseFormat::kFreeText);
    EXPECT_TRUE(e.sections[0].passed) << e.sections[0].problem;
  }
  RunDescription d = describe(backend);
  RunSummary summary = summarize_run(d, result, lab::HwSummary{});
  std::string md = arm_report_markdown(d, result, summary, ingest_, 0);
  expect_every_section(md);
  EXPECT_TRUE(contains(md, "prose: one call, free text")) << md;
  EXPECT_TRUE(contains(md, "*The model's prose (free text; validated")) << md;
}

TEST_F(AgentRunTest, OneCallPerSectionIssuesOneReportCallPerProseSection) {
  settings_.prose_calls = ProseCalls::kPerSection;
  for (bool json : {false, true}) {
    FakeAgentBackend backend;
    backend.structured_output = json;
    AgentRunResult result = run(backend);
    size_t sections = prose_section_titles().size();
    ASSERT_EQ(result.calls.size(), 2u + 3u * 2u * (1u + sections)) << json;
    EXPECT_EQ(progress_.back().first, progress_.back().second);
    std::set<int64_t> repetitions;
    for (size_t i = 0; i < result.calls.size(); ++i) {
      const auto& c = result.calls[i];
      if (c.meta.warmup || c.meta.prompt_index != kReportCall) continue;
      repetitions.insert(c.meta.repetition);
      EXPECT_EQ(backend.requests[i].options.num_predict,
                std::max<int64_t>(16, 32 / static_cast<int64_t>(sections)));
    }
    EXPECT_EQ(repetitions.size(), sections);
    for (const auto& e : result.executions) {
      ASSERT_TRUE(e.ok) << e.error;
      ASSERT_EQ(e.sections.size(), sections);
      for (const auto& s : e.sections) EXPECT_TRUE(s.passed) << s.title << ": " << s.problem;
    }
    // Statistics pool the section calls per arm (both arms ran the same prompts).
    RunSummary summary = summarize_run(describe(backend), result, lab::HwSummary{});
    const lab::ArmReport* a = summary.kind("report")->arm("baseline");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->metrics.ok, static_cast<int64_t>(3 * sections));
  }
}

TEST_F(AgentRunTest, FailedProseNeverReachesTheBodyAndIsQuotedInValidation) {
  FakeAgentBackend backend;
  backend.report_text = [](const std::string&) {
    std::string loop;
    for (int i = 0; i < 40; ++i) loop += "cinder ";
    return "## Executive Summary\n\n" + loop +
           "\n\n## Key Findings\n\n- 9999 tok/s, "
           "\u0baa\u0bbf\u0bb4\u0bc8\u0baf\u0bbe\u0ba9 \u0ba4\u0bb0\u0bb5\u0bc1\n";
  };
  AgentRunResult result = run(backend);
  RunDescription d = describe(backend);
  RunSummary summary = summarize_run(d, result, lab::HwSummary{});
  for (bool show_raw : {false, true}) {
    d.show_raw = show_raw;
    std::string md = arm_report_markdown(d, result, summary, ingest_, 1);
    expect_every_section(md);
    size_t appendix = md.find("\n## Appendix\n");
    ASSERT_NE(appendix, std::string::npos);
    std::string body = md.substr(0, appendix), tail = md.substr(appendix);
    EXPECT_TRUE(contains(body, "failed validation")) << body;
    EXPECT_TRUE(contains(body, "The model wrote no prose") || contains(body, "wrote nothing"));
    EXPECT_EQ(contains(body, "cinder cinder"), show_raw) << show_raw;
    EXPECT_EQ(contains(body, "\u0baa\u0bbf\u0bb4\u0bc8"), show_raw);
    EXPECT_TRUE(contains(tail, "cinder cinder"));
    EXPECT_TRUE(contains(tail, "Failed text of **Executive Summary**"));
    EXPECT_TRUE(contains(tail, "Failed text of **Key Findings**"));
    // The program's content stands in every section.
    EXPECT_TRUE(contains(body, "### Measured Performance of This Run"));
    EXPECT_TRUE(contains(body, "The data folder held 1 parsed file with 3 rows (1 failed)"));
  }
}

TEST_F(AgentRunTest, TheComparisonReportGivesTheDetectableDifference) {
  arms_[1] = {"chimera", arms_[0].profile};  // A/A: every metric "no significant difference"
  FakeAgentBackend backend;
  AgentRunResult result = run(backend);
  RunDescription d = describe(backend);
  d.equivalence_margin = 0.05;
  RunSummary summary = summarize_run(d, result, lab::HwSummary{});
  std::string comparison = comparison_report_markdown(d, result, summary);
  EXPECT_TRUE(contains(comparison, "detectable at 80% power")) << comparison;
  EXPECT_TRUE(contains(comparison, "smallest difference detectable at 80% power:")) << comparison;
  EXPECT_TRUE(contains(comparison, "equivalence (TOST)")) << comparison;
  EXPECT_TRUE(contains(comparison, "relative (95% CI, Fieller)")) << comparison;
  EXPECT_TRUE(contains(comparison, "## What the Data Says")) << comparison;
}

}  // namespace
}  // namespace chimera::agent

// The findings engine on real-looking data: another project's Ollama sweep (one sample per
// configuration, CSV + JSON + Markdown, cold calls whose TTFT holds the load, a failed row, an
// older table from another machine), and the prior system's folder in examples/data (replicates in
// one file, a 36-configuration sweep with single samples in another). What a user would check:
// which differences the data can and cannot support, the cold first call caught as an outlier,
// every finding citing facts that exist, and every number in a finding grounded by the validator.
#include "agent/findings.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "agent/ingest.h"
#include "agent/profiles.h"
#include "agent/validator.h"
#include "support/test_support.h"

namespace chimera::agent {
namespace {

using chimera::testing::contains;

struct Analysed {
  IngestResult ingest;
  FactsTable facts;
  std::vector<DataFinding> findings;
};

Analysed analyse(const std::string& folder, std::vector<Profile> profiles = {}) {
  Analysed a;
  auto r = ingest_folder(folder);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  a.ingest = std::move(*r);
  a.facts = build_facts(a.ingest);
  FindingsContext context;
  context.profiles = std::move(profiles);
  a.findings = build_findings(a.ingest, a.facts, context);
  return a;
}

std::string fixture() {
  return chimera::testing::source_dir() + "/tests/agent/fixtures/other_project_sweep";
}

std::vector<const DataFinding*> about(const Analysed& a, FindingTopic topic,
                                      const std::string& dataset_part) {
  std::vector<const DataFinding*> out;
  for (const auto& f : a.findings) {
    if (f.topic == topic && contains(f.dataset, dataset_part)) out.push_back(&f);
  }
  return out;
}

TEST(FindingsOnAnotherProjectsSweep, CatchesTheColdFirstCallAsAnOutlierWithItsLoadTime) {
  Analysed a = analyse(fixture());
  auto cold = about(a, FindingTopic::kColdStart, "sweep_2025-11-03.csv");
  ASSERT_FALSE(cold.empty());
  // llama3.2:3b's first call (line 2): TTFT 3218.6 ms, of which 3154.2 ms load.
  auto first = std::find_if(cold.begin(), cold.end(), [](const DataFinding* f) {
    return contains(f->text, "line 2") && contains(f->text, "3218.6 ms");
  });
  ASSERT_NE(first, cold.end());
  EXPECT_TRUE(contains((*first)->text, "3154.2 ms")) << (*first)->text;
  EXPECT_TRUE(contains((*first)->text, "loaded the model")) << (*first)->text;
  EXPECT_TRUE(contains((*first)->text, "left out of the comparisons below")) << (*first)->text;
  // The reloads after a num_ctx change are caught the same way; the warm rows are not.
  for (const DataFinding* f : cold) {
    EXPECT_FALSE(contains(f->text, "112.4 ms ")) << f->text;
  }
  // Without a load column (the JSON), the first row of each model is the suspect, said as such.
  auto json_cold = about(a, FindingTopic::kColdStart, ".json");
  ASSERT_FALSE(json_cold.empty());
  EXPECT_TRUE(contains(json_cold.front()->text, "first row of its model"))
      << json_cold.front()->text;
}

TEST(FindingsOnAnotherProjectsSweep, SaysWhichDifferencesTheDataCannotSupport) {
  Analysed a = analyse(fixture());
  auto replicates = about(a, FindingTopic::kReplicates, "sweep_2025-11-03.csv");
  ASSERT_EQ(replicates.size(), 1u);
  EXPECT_EQ(replicates[0]->support, Support::kCannotTell);
  EXPECT_TRUE(contains(replicates[0]->text, "one sample per configuration")) << replicates[0]->text;
  // Every option effect in a one-sample sweep is "cannot be told", never "supported".
  auto effects = about(a, FindingTopic::kOptionEffect, "sweep_2025-11-03.csv");
  ASSERT_FALSE(effects.empty());
  bool saw_temperature = false;
  for (const DataFinding* f : effects) {
    EXPECT_EQ(f->support, Support::kCannotTell) << f->text;
    EXPECT_TRUE(contains(f->text, "cannot be told")) << f->text;
    saw_temperature = saw_temperature || f->option == "temperature";
  }
  EXPECT_TRUE(saw_temperature);
  // The best two configurations cannot be told apart either.
  auto best = about(a, FindingTopic::kBestWorst, "sweep_2025-11-03.csv");
  ASSERT_FALSE(best.empty());
  for (const DataFinding* f : best) EXPECT_EQ(f->support, Support::kCannotTell) << f->text;
}

TEST(FindingsOnAnotherProjectsSweep, FailuresAndAContradictionBetweenTablesAreFound) {
  Analysed a = analyse(fixture());
  auto failures = about(a, FindingTopic::kFailure, "sweep_2025-11-03.csv");
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_TRUE(contains(failures[0]->text, "1 of 13 rows failed")) << failures[0]->text;
  EXPECT_TRUE(contains(failures[0]->text, "more system memory")) << failures[0]->text;
  // The laptop's older table contradicts this machine's figures for the same model.
  bool contradiction = false;
  for (const auto& f : a.findings) {
    if (f.topic == FindingTopic::kContradiction && contains(f.dataset, "Earlier run") &&
        f.metric == "decode_tps") {
      contradiction = contradiction || contains(f.text, "contradict");
    }
  }
  EXPECT_TRUE(contradiction);
  // The CSV and the JSON hold the same figures: they agree.
  bool agree = false;
  for (const auto& f : a.findings) {
    if (f.topic == FindingTopic::kContradiction && contains(f.dataset, ".csv") &&
        contains(f.dataset, ".json") && f.metric == "decode_tps") {
      agree = agree || contains(f.text, "agree");
    }
  }
  EXPECT_TRUE(agree);
}

TEST(FindingsOnAnotherProjectsSweep, EveryFindingCitesExistingFactsAndIsGrounded) {
  Analysed a = analyse(fixture());
  ASSERT_GT(a.findings.size(), 10u);
  ValidationContext vc;
  vc.facts = &a.facts;
  vc.today_iso = "2026-11-26";
  for (const auto& f : a.findings) {
    ASSERT_FALSE(f.fact_ids.empty()) << f.text;
    for (const auto& id : f.fact_ids) {
      EXPECT_NE(a.facts.find(id), nullptr) << id << " in " << f.text;
    }
    ValidationReport v = validate_text(f.text, vc);
    for (const auto& finding : v.findings) {
      // A failed row's own message is quoted as data (`...`), not stated as a figure.
      bool quoted = finding.kind == FindingKind::kUngroundedNumber &&
                    f.topic == FindingTopic::kFailure &&
                    std::count(f.text.begin(), f.text.begin() + finding.offset, '`') % 2 == 1;
      if (quoted) continue;
      ADD_FAILURE() << finding_kind_name(finding.kind) << ": " << finding.excerpt << " ("
                    << finding.detail << ") in: " << f.text;
    }
  }
}

TEST(FindingsOnThePriorSystemsData, ReplicatesMakeTheQuantizationEffectSupported) {
  Analysed a = analyse(chimera::testing::source_dir() + "/examples/data");
  // llama3.1_quantization.csv: 5 runs per quantization, decode 76.7 / 65.8 / 47.1 tok/s.
  auto effects = about(a, FindingTopic::kOptionEffect, "llama3.1_quantization.csv");
  auto quant = std::find_if(effects.begin(), effects.end(), [](const DataFinding* f) {
    return f->option == "quant" && f->metric == "decode_tps";
  });
  ASSERT_NE(quant, effects.end());
  EXPECT_EQ((*quant)->support, Support::kSupported) << (*quant)->text;
  EXPECT_TRUE(contains((*quant)->text, "larger than the spread between replicates"))
      << (*quant)->text;
  ASSERT_EQ((*quant)->levels.size(), 3u);
  EXPECT_TRUE((*quant)->levels[0].lower.has_value());  // CI bars from the replicate spread
  // The 36-configuration sweep has one sample each: its top two cannot be told apart.
  auto best = about(a, FindingTopic::kBestWorst, "gemma3_latest_param_sweep.csv");
  ASSERT_FALSE(best.empty());
  EXPECT_EQ(best.front()->support, Support::kCannotTell);
  EXPECT_TRUE(contains(best.front()->text, "102.31 tok/s")) << best.front()->text;
  // The Ollama JSONL: gemma3:270m's first run loaded the model (load_duration 1108.676 ms against
  // about 19 ms for the others).
  auto cold = about(a, FindingTopic::kColdStart, "ollama_generate_runs.jsonl");
  bool first_run = std::any_of(cold.begin(), cold.end(), [](const DataFinding* f) {
    return contains(f->text, "line 1 (model=gemma3:270m") && contains(f->text, "1108.676 ms");
  });
  EXPECT_TRUE(first_run);
}

TEST(FindingsOnThePriorSystemsData, TheExpectedFigureIsTheSweepsBestSingleSample) {
  auto chimera = find_profile("chimera-gemma3");
  ASSERT_TRUE(chimera.ok());
  Analysed a = analyse(chimera::testing::source_dir() + "/examples/data", {*chimera});
  auto expected = about(a, FindingTopic::kExpected, "gemma3_latest_param_sweep.csv");
  ASSERT_FALSE(expected.empty());
  const DataFinding* decode = nullptr;
  for (const DataFinding* f : expected) {
    if (f->metric == "decode_tps") decode = f;
  }
  ASSERT_NE(decode, nullptr);
  EXPECT_TRUE(contains(decode->text, "rank 1 of 34 rows")) << decode->text;
  EXPECT_TRUE(contains(decode->text, "upper estimate")) << decode->text;
  EXPECT_EQ(decode->provenance, Provenance::kExpected);
}

}  // namespace
}  // namespace chimera::agent

#include "agent/facts.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace chimera::agent {
namespace {

using chimera::testing::TempDir;

const Fact* find_fact(const FactsTable& t, FactKind kind, std::string_view metric,
                      std::string_view statistic, std::string_view label_part = {}) {
  for (const auto& f : t.facts()) {
    if (f.kind == kind && f.metric == metric && f.statistic == statistic &&
        f.label.find(label_part) != std::string::npos) {
      return &f;
    }
  }
  return nullptr;
}

class FactsFromFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.file("sweep.csv")) << "model,num_ctx,tokens_per_second,ttft_ms,error\n"
                                             "gemma3,1024,100.5,120,\n"
                                             "gemma3,1024,99.5,130,\n"
                                             "gemma3,4096,0,,timeout\n"
                                             "llama3,1024,77.25,210,\n";
    std::ofstream(dir_.file("notes.md")) << "# Notes\nMeasured on 2025-10-09.\n";
    auto r = ingest_folder(dir_.path());
    ASSERT_TRUE(r.ok());
    facts_ = build_facts(*r);
  }
  TempDir dir_;
  FactsTable facts_;
};

TEST_F(FactsFromFolder, InventoryCountsFilesRowsAndFailures) {
  const Fact* files = find_fact(facts_, FactKind::kInventory, "files_ingested", "count");
  ASSERT_NE(files, nullptr);
  EXPECT_EQ(files->id, "I1");
  EXPECT_EQ(files->value, 2);
  EXPECT_EQ(files->value_text(), "2 files");
  const Fact* failures = find_fact(facts_, FactKind::kInventory, "failure_rows", "count");
  ASSERT_NE(failures, nullptr);
  EXPECT_EQ(failures->value, 1);
  EXPECT_EQ(failures->value_text(), "1 failure");
}

TEST_F(FactsFromFolder, SummariesLeaveFailuresOut) {
  // Mean of 100.5, 99.5 and 77.25 (the failed row's 0 excluded) = 92.4166..., printed with 3
  // decimals.
  const Fact* mean =
      find_fact(facts_, FactKind::kSummary, "decode_tps", "mean", "tokens_per_second");
  ASSERT_NE(mean, nullptr);
  EXPECT_NEAR(mean->value, (100.5 + 99.5 + 77.25) / 3, 1e-12);
  EXPECT_EQ(mean->value_text(), "92.417 tok/s");
  const Fact* min = find_fact(facts_, FactKind::kSummary, "decode_tps", "min", "tokens_per_second");
  ASSERT_NE(min, nullptr);
  EXPECT_EQ(min->value, 77.25);
  // Per configuration: gemma3 at num_ctx 1024 averaged 100.0 over two runs.
  const Fact* group =
      find_fact(facts_, FactKind::kSummary, "decode_tps", "mean", "model=gemma3 num_ctx=1024");
  ASSERT_NE(group, nullptr);
  EXPECT_DOUBLE_EQ(group->value, 100.0);
  EXPECT_NE(group->label.find("n=2"), std::string::npos);
}

TEST_F(FactsFromFolder, CellsCarryTheirSourceAndUnit) {
  const Fact* cell = nullptr;
  for (const auto& f : facts_.facts()) {
    if (f.kind == FactKind::kData && f.metric == "ttft" && f.value == 210) cell = &f;
  }
  ASSERT_NE(cell, nullptr);
  EXPECT_EQ(cell->id[0], 'D');
  EXPECT_EQ(cell->value_text(), "210 ms");
  EXPECT_EQ(cell->source.describe(), "sweep.csv line 5, column ttft_ms");
  EXPECT_EQ(cell->label, "model=llama3 num_ctx=1024");
  // The failed row's zero never became a fact.
  for (const auto& f : facts_.facts()) {
    if (f.kind == FactKind::kData && f.metric == "decode_tps") {
      EXPECT_NE(f.value, 0);
    }
  }
  std::string line = FactsTable::prompt_line(*cell);
  EXPECT_NE(line.find("[" + cell->id + "] 210 ms"), std::string::npos) << line;
  EXPECT_NE(line.find("sweep.csv line 5"), std::string::npos) << line;
}

TEST_F(FactsFromFolder, OptionValuesAndDatesAreKnown) {
  int num_ctx_values = 0;
  for (const auto& f : facts_.facts()) num_ctx_values += f.metric == "num_ctx" ? 1 : 0;
  EXPECT_EQ(num_ctx_values, 2);  // 1024 and 4096
  EXPECT_EQ(facts_.dates, std::vector<std::string>{"2025-10-09"});
}

TEST(Facts, OllamaCountsAndNanosecondsGiveDerivedRatesInMilliseconds) {
  TempDir dir;
  std::ofstream(dir.file("runs.jsonl"))
      << R"({"model":"gemma3","eval_count":400,"eval_duration":4000000000})"
      << "\n"
      << R"({"model":"gemma3","eval_count":300,"eval_duration":2500000000})"
      << "\n"
      << R"({"model":"gemma3","eval_count":0,"eval_duration":0,"error":"stream closed"})"
      << "\n";
  auto r = ingest_folder(dir.path());
  ASSERT_TRUE(r.ok());
  FactsTable facts = build_facts(*r);
  // 400 / 4.0 s = 100 tok/s; 300 / 2.5 s = 120 tok/s; mean 110. The failed call adds nothing.
  const Fact* first =
      find_fact(facts, FactKind::kSummary, "decode_tps", "derived", "eval_count / eval_duration");
  ASSERT_NE(first, nullptr);
  EXPECT_DOUBLE_EQ(first->value, 100.0);
  EXPECT_EQ(first->value_text(), "100.00 tok/s");
  const Fact* mean = find_fact(facts, FactKind::kSummary, "decode_tps", "mean", "n=2");
  ASSERT_NE(mean, nullptr);
  EXPECT_DOUBLE_EQ(mean->value, 110.0);
  const Fact* duration = find_fact(facts, FactKind::kSummary, "decode_time", "max");
  ASSERT_NE(duration, nullptr);
  EXPECT_EQ(duration->value_text(), "4000.000 ms");
}

TEST(FactsTable, IdsArePerKindAndFindable) {
  FactsTable t;
  Fact m;
  m.kind = FactKind::kMeasured;
  m.value = 98.94;
  m.decimals = 2;
  m.unit = parse_unit("tok/s");
  EXPECT_EQ(t.add(m).id, "M1");
  EXPECT_EQ(t.add(m).id, "M2");
  m.kind = FactKind::kExpected;
  EXPECT_EQ(t.add(m).id, "E1");
  ASSERT_NE(t.find("M2"), nullptr);
  EXPECT_EQ(t.find("M2")->value_text(), "98.94 tok/s");
  EXPECT_EQ(t.find("M3"), nullptr);
  EXPECT_EQ(t.count(FactKind::kMeasured), 2u);
}

}  // namespace
}  // namespace chimera::agent

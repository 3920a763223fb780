#include "agent/prompts.h"
#include "agent/report_sections.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace chimera::agent {
namespace {

using chimera::testing::contains;

class PromptsOnExampleData : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = ingest_folder(chimera::testing::source_dir() + "/examples/data");
    ASSERT_TRUE(r.ok());
    ingest_ = std::move(*r);
    facts_ = build_facts(ingest_);
    Fact c;
    c.kind = FactKind::kConfig;
    c.value = 4096;
    c.unit = parse_unit("tokens");
    c.metric = "num_ctx";
    config_id_ = facts_.add(c).id;
    Fact m;
    m.kind = FactKind::kMeasured;
    m.value = 12.5;
    m.decimals = 1;
    m.unit = parse_unit("tok/s");
    m.metric = "decode_tps";
    m.label = "analysis call of this run";
    measured_id_ = facts_.add(m).id;
    context_.ingest = &ingest_;
    context_.facts = &facts_;
    context_.today_iso = "2026-11-26";
    context_.arm = "chimera";
    context_.profile_name = "chimera-gemma3";
    context_.model = "gemma3:latest";
    context_.configuration = {{"num_ctx", "4096", "sent", config_id_},
                              {"temperature", "", "backend default", ""}};
  }
  IngestResult ingest_;
  FactsTable facts_;
  std::string config_id_, measured_id_;
  PromptContext context_;
};

TEST_F(PromptsOnExampleData, AnalysisPromptCarriesFactsConfigurationAndDate) {
  Prompt p = analysis_prompt(context_);
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[0].role, "system");
  const std::string& user = p.messages[1].content;
  EXPECT_TRUE(contains(user, "Today is 2026-11-26."));
  EXPECT_TRUE(contains(user, "- num_ctx = 4096 [" + config_id_ + "] (sent)"));
  EXPECT_TRUE(contains(user, "- temperature: backend default (value not reported)"));
  EXPECT_TRUE(contains(user, "[" + measured_id_ + "] 12.5 tok/s (measured)"));
  EXPECT_TRUE(
      contains(user, "ollama_sweep/gemma3_latest_param_sweep.csv (csv): 36 rows, 2 failed"));
  EXPECT_TRUE(contains(user, "[I1] 7 files (ingestion)")) << user.substr(0, 2000);
  EXPECT_TRUE(contains(p.messages[0].content, "English only"));
  EXPECT_TRUE(contains(p.messages[0].content, "not a number of GPUs"));
  EXPECT_FALSE(p.fact_ids.empty());
}

TEST_F(PromptsOnExampleData, ReportPromptAsksForTheProseSectionsAndIncludesTheAnalysis) {
  Prompt p = report_prompt(context_, "- gemma3 is fastest [S1]");
  const std::string& user = p.messages[1].content;
  for (const auto& title : prose_section_titles())
    EXPECT_TRUE(contains(user, "## " + title + "\n")) << title;
  EXPECT_FALSE(contains(user, "## Appendix"));  // the program's alone
  EXPECT_TRUE(contains(user, "- gemma3 is fastest [S1]"));
  EXPECT_TRUE(contains(user, "labelled expected"));
  EXPECT_FALSE(contains(user, "JSON"));
}

TEST_F(PromptsOnExampleData, TheProgramsNotesGoToTheirSectionWithinTheBudget) {
  context_.section_notes = {{"Executive Summary", {"The sweep has one sample each [S1]."}},
                            {"Key Findings", {"Quantization matters [S2]."}}};
  size_t without = report_prompt(PromptContext(context_), "").chars();
  Prompt all = report_prompt(context_, "");
  EXPECT_TRUE(contains(all.messages[1].content, "WHAT THE PROGRAM FOUND IN THE DATA"));
  EXPECT_TRUE(contains(all.messages[1].content, "### Key Findings\n- Quantization matters [S2]."));
  // The notes share the fact budget: the prompt grows by little more than their headings.
  EXPECT_LT(all.chars(), without + 250);
  Prompt one = section_prompt(context_, "", "Key Findings");
  EXPECT_TRUE(contains(one.messages[1].content, "Quantization matters [S2]."));
  EXPECT_FALSE(contains(one.messages[1].content, "one sample each"));
  EXPECT_TRUE(contains(one.messages[1].content, "TASK: Write the \"Key Findings\" section"));
  context_.json_output = true;
  EXPECT_TRUE(contains(report_prompt(context_, "").messages[1].content, "one JSON object"));
  EXPECT_TRUE(contains(section_prompt(context_, "", "Key Findings").messages[1].content,
                       "one JSON object {\"text\", \"facts\"}"));
}

TEST_F(PromptsOnExampleData, BudgetDropsDataCellsBeforeRunFacts) {
  context_.fact_budget_chars = 1500;
  Prompt small = analysis_prompt(context_);
  context_.fact_budget_chars = 1'000'000;
  Prompt large = analysis_prompt(context_);
  EXPECT_LT(small.fact_ids.size(), large.fact_ids.size());
  EXPECT_EQ(large.fact_ids.size(), facts_.size());
  // The run's own facts survive any budget.
  auto has = [](const Prompt& p, const std::string& id) {
    return std::find(p.fact_ids.begin(), p.fact_ids.end(), id) != p.fact_ids.end();
  };
  EXPECT_TRUE(has(small, config_id_));
  EXPECT_TRUE(has(small, measured_id_));
  for (const auto& id : small.fact_ids) EXPECT_NE(id[0], 'D') << "a data cell displaced summaries";
}

TEST(SelectFacts, SummariesComeBeforeCells) {
  FactsTable t;
  Fact cell;
  cell.kind = FactKind::kData;
  cell.value = 1;
  cell.metric = "decode_tps";
  t.add(cell);
  Fact summary;
  summary.kind = FactKind::kSummary;
  summary.value = 2;
  summary.metric = "decode_tps";
  summary.statistic = "mean";
  t.add(summary);
  size_t one_line = FactsTable::prompt_line(t.facts()[1]).size() + 1;
  auto chosen = select_facts(t, one_line);
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0]->id, "S1");
}

}  // namespace
}  // namespace chimera::agent

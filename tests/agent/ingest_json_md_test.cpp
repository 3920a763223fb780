#include <gtest/gtest.h>

#include <fstream>

#include "agent/ingest.h"
#include "support/test_support.h"

namespace chimera::agent {
namespace {

using chimera::testing::TempDir;

FileReport ingest_json(std::string_view text) {
  FileReport report;
  report.relative_path = "t.json";
  report.format = FileFormat::kJson;
  Status s = ingest_json_text(text, report, IngestLimits{});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return report;
}

const DataTable* table_named(const FileReport& r, std::string_view name) {
  for (const auto& t : r.tables) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

size_t column_index(const DataTable& t, std::string_view name) {
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i] == name) return i;
  }
  ADD_FAILURE() << "no column " << name;
  return 0;
}

TEST(JsonIngest, NestedRecordsAreFlattenedWithContext) {
  FileReport r = ingest_json(R"({
    "benchmark": {"name": "sweep", "date": "2025-10-09"},
    "model": "gemma3:latest",
    "results": [
      {"config": {"num_gpu": 60, "num_ctx": 1024}, "metrics": {"tokens_per_second": 98.94, "ttft_s": 0.412}},
      {"config": {"num_gpu": 80, "num_ctx": 512}, "metrics": {"tokens_per_second": 97.1, "ttft_s": 1.2}}
    ]})");
  const DataTable* t = table_named(r, "results");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->location_kind, "record");
  EXPECT_EQ(t->total_rows, 2);
  size_t tps = column_index(*t, "metrics.tokens_per_second");
  EXPECT_EQ(t->rows[0][tps], "98.94");
  EXPECT_EQ(t->summaries[tps].kind.metric, "decode_tps");
  size_t ttft = column_index(*t, "metrics.ttft_s");
  EXPECT_EQ(t->summaries[ttft].kind.metric, "ttft");
  EXPECT_EQ(t->summaries[ttft].unit->symbol, "s");
  EXPECT_EQ(t->rows[1][column_index(*t, "config.num_ctx")], "512");
  // Scalars of the enclosing objects label each record.
  EXPECT_EQ(t->rows[1][column_index(*t, "model")], "gemma3:latest");
  // The dates in the document are known to the validator.
  EXPECT_NE(std::find(r.dates.begin(), r.dates.end(), "2025-10-09"), r.dates.end());
}

TEST(JsonIngest, ObjectOfRecordsBecomesATableWithAKeyColumn) {
  FileReport r = ingest_json(R"({"models": {
      "gemma3:latest": {"size_gb": 3.3, "quantization": "Q4_K_M"},
      "gemma3:270m": {"size_gb": 0.29, "quantization": "Q8_0"}}, "version": "0.12.3"})");
  const DataTable* t = table_named(r, "models");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->total_rows, 2);
  EXPECT_EQ(t->rows[1][column_index(*t, "key")], "gemma3:270m");
  EXPECT_EQ(t->rows[1][column_index(*t, "size_gb")], "0.29");
  const DataTable* fields = table_named(r, "(fields)");
  ASSERT_NE(fields, nullptr);
  EXPECT_EQ(fields->rows[0][column_index(*fields, "version")], "0.12.3");
}

TEST(JsonIngest, TopLevelArrayAndDeepNesting) {
  FileReport r = ingest_json(
      R"([{"a": {"b": {"c": {"load_ms": 12}}}, "tags": [1, 2]}, {"a": {"b": {"c": {"load_ms": 14}}}}])");
  const DataTable* t = table_named(r, "(root)");
  ASSERT_NE(t, nullptr);
  size_t load = column_index(*t, "a.b.c.load_ms");
  EXPECT_EQ(t->summaries[load].kind.metric, "load");
  EXPECT_DOUBLE_EQ(t->summaries[load].stats.mean(), 13);
  EXPECT_EQ(t->rows[0][column_index(*t, "tags")], "[1, 2]");
}

TEST(JsonIngest, InvalidJsonNamesTheLine) {
  FileReport report;
  report.relative_path = "broken.json";
  Status s = ingest_json_text("{\n  \"a\": 1,\n  \"b\": \n}", report, IngestLimits{});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("broken.json"), std::string::npos);
  EXPECT_NE(s.message().find("line 4"), std::string::npos) << s.message();
}

TEST(JsonIngest, InvalidUtf8IsRepairedNotFatal) {
  FileReport r = ingest_json("{\"runs\": [{\"model\": \"caf\xE9\", \"tokens_per_second\": 1}]}");
  EXPECT_EQ(r.invalid_utf8_cells, 1);
  const DataTable* t = table_named(r, "runs");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->rows[0][0], "caf\xEF\xBF\xBD");
}

TEST(JsonlIngest, StreamsRecordsAndSkipsBadLines) {
  TempDir dir;
  std::string path = dir.file("runs.jsonl");
  {
    std::ofstream out(path);
    out << R"({"model":"gemma3","eval_count":400,"eval_duration":4000000000})"
        << "\n\n"
        << R"({"model":"gemma3","eval_count":0,"eval_duration":0,"error":"stream closed"})"
        << "\n"
        << "{cut off\n"
        << R"({"model":"llama3","eval_count":300,"eval_duration":3900000000,"extra":{"x":1}})"
        << "\n";
  }
  FileReport report;
  report.relative_path = "runs.jsonl";
  report.format = FileFormat::kJsonl;
  ASSERT_TRUE(ingest_jsonl_file(path, report, IngestLimits{}).is_ok());
  ASSERT_EQ(report.tables.size(), 1u);
  const DataTable& t = report.tables[0];
  EXPECT_EQ(t.total_rows, 3);
  EXPECT_EQ(t.failure_rows, 1);
  EXPECT_EQ(t.row_locations[2], 5);  // line numbers, blank line included
  size_t eval = column_index(t, "eval_duration");
  EXPECT_EQ(t.summaries[eval].kind.metric, "decode_time");
  EXPECT_EQ(t.summaries[eval].unit->symbol, "ns");  // Ollama's convention
  EXPECT_EQ(t.summaries[eval].stats.count, 2);      // the failed call's 0 excluded
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("line 4"), std::string::npos);
  EXPECT_NO_FATAL_FAILURE(column_index(t, "extra.x"));
}

TEST(MarkdownIngest, TablesBecomeRowsNamedByTheirHeadings) {
  FileReport report;
  report.relative_path = "summary.md";
  report.format = FileFormat::kMarkdown;
  ASSERT_TRUE(ingest_markdown_text("# Runs\n\nText on 2025-10-09.\n\n## Results\n\n"
                                   "| scenario | agent | tok/s | TTFT (ms) | status |\n"
                                   "|:--|:--|--:|--:|:--|\n"
                                   "| homo | collector | 88.9 | 1,120 | ok |\n"
                                   "| hetero | insight | **44.5** | 2,406 | timeout |\n\n"
                                   "```text\n| not | a | table |\n|---|---|---|\n```\n"
                                   "### Notes\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                                   report, IngestLimits{})
                  .is_ok());
  ASSERT_EQ(report.tables.size(), 2u);  // the table inside the code fence is not data
  const DataTable& t = report.tables[0];
  EXPECT_EQ(t.name, "Runs > Results");
  EXPECT_EQ(t.total_rows, 2);
  EXPECT_EQ(t.row_locations[0], 9);
  EXPECT_EQ(t.rows[1][2], "44.5");  // emphasis removed
  size_t tps = column_index(t, "tok/s");
  EXPECT_EQ(t.summaries[tps].kind.metric, "decode_tps");
  size_t ttft = column_index(t, "TTFT (ms)");
  EXPECT_EQ(t.failure_rows, 1);  // status "timeout"
  // The timed-out row's 2,406 ms is not a measurement of a working configuration.
  EXPECT_DOUBLE_EQ(t.summaries[ttft].stats.max, 1120);
  EXPECT_EQ(t.summaries[ttft].stats.count, 1);
  EXPECT_EQ(report.tables[1].name, "Runs > Results > Notes");
  ASSERT_EQ(report.headings.size(), 3u);
  EXPECT_EQ(report.headings[1], "  Results");
  EXPECT_NE(std::find(report.dates.begin(), report.dates.end(), "2025-10-09"), report.dates.end());
}

}  // namespace
}  // namespace chimera::agent

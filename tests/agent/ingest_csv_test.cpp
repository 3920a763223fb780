#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "agent/ingest.h"
#include "support/test_support.h"

namespace chimera::agent {
namespace {

using chimera::testing::TempDir;

FileReport ingest_csv(std::string_view text) {
  FileReport report;
  report.relative_path = "t.csv";
  report.format = FileFormat::kCsv;
  Status s = ingest_csv_text(text, report, IngestLimits{});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return report;
}

const ColumnSummary& column(const DataTable& t, std::string_view name) {
  for (const auto& s : t.summaries) {
    if (s.name == name) return s;
  }
  ADD_FAILURE() << "no column " << name;
  static ColumnSummary none;
  return none;
}

TEST(CsvIngest, QuotedFieldsWithEmbeddedNewlinesCommasAndQuotes) {
  FileReport r = ingest_csv(
      "model,notes,tokens_per_second\n"
      "gemma3,\"first line\nsecond, with comma\",98.94\n"
      "llama3,\"said \"\"hi\"\"\",77.1\n");
  ASSERT_EQ(r.tables.size(), 1u);
  const DataTable& t = r.tables[0];
  ASSERT_EQ(t.total_rows, 2);
  EXPECT_EQ(t.rows[0][1], "first line\nsecond, with comma");
  EXPECT_EQ(t.rows[1][1], "said \"hi\"");
  // The second record starts on line 4: the quoted newline is counted.
  EXPECT_EQ(t.row_locations[0], 2);
  EXPECT_EQ(t.row_locations[1], 4);
  const ColumnSummary& tps = column(t, "tokens_per_second");
  EXPECT_EQ(tps.kind.role, ColumnRole::kMetric);
  EXPECT_EQ(tps.kind.metric, "decode_tps");
  EXPECT_EQ(tps.stats.count, 2);
  EXPECT_DOUBLE_EQ(tps.stats.max, 98.94);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(CsvIngest, ByteOrderMarkAndCrLfAreHandled) {
  FileReport r = ingest_csv("\xEF\xBB\xBFmodel,ttft_ms\r\ngemma3,128\r\nllama3,231\r\n");
  EXPECT_TRUE(r.had_bom);
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].columns[0], "model");  // not "\xEF\xBB\xBFmodel"
  EXPECT_EQ(r.tables[0].total_rows, 2);
  EXPECT_EQ(r.tables[0].rows[1][1], "231");
  const ColumnSummary& ttft = column(r.tables[0], "ttft_ms");
  ASSERT_TRUE(ttft.unit.has_value());
  EXPECT_EQ(ttft.unit->symbol, "ms");
  EXPECT_EQ(ttft.type, ColumnType::kInteger);
}

TEST(CsvIngest, SemicolonDelimiterWithDecimalCommas) {
  FileReport r = ingest_csv(
      "model;quant;decode tok/s;TTFT (s)\n"
      "llama3.1:8b;q4_0;76,70;0,233\n"
      "llama3.1:8b;q8_0;47,55;0,310\n");
  EXPECT_EQ(r.delimiter, ';');
  ASSERT_EQ(r.tables.size(), 1u);
  const DataTable& t = r.tables[0];
  ASSERT_EQ(t.columns.size(), 4u);
  EXPECT_TRUE(t.decimal_comma);
  const ColumnSummary& tps = column(t, "decode tok/s");
  EXPECT_EQ(tps.kind.metric, "decode_tps");
  EXPECT_DOUBLE_EQ(tps.stats.min, 47.55);
  EXPECT_DOUBLE_EQ(tps.stats.max, 76.70);
  const ColumnSummary& ttft = column(t, "TTFT (s)");
  EXPECT_EQ(ttft.kind.metric, "ttft");
  ASSERT_TRUE(ttft.unit.has_value());
  EXPECT_EQ(ttft.unit->symbol, "s");
  EXPECT_NEAR(ttft.stats.mean(), (0.233 + 0.310) / 2, 1e-12);
}

TEST(CsvIngest, TabAndPipeDelimitersAreDetected) {
  EXPECT_EQ(ingest_csv("a\tb\tc\n1\t2\t3\n").delimiter, '\t');
  FileReport pipe = ingest_csv("model|tps\ngemma3|98.9\n");
  EXPECT_EQ(pipe.delimiter, '|');
  EXPECT_EQ(pipe.tables[0].columns.size(), 2u);
}

TEST(CsvIngest, EmptyFileIsReportedNotFatal) {
  FileReport r = ingest_csv("");
  EXPECT_TRUE(r.parsed);
  EXPECT_TRUE(r.tables.empty());
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("empty"), std::string::npos);
  EXPECT_EQ(r.rows(), 0);
}

TEST(CsvIngest, HeaderOnlyFileHasColumnsAndNoRows) {
  FileReport r = ingest_csv("model,tokens_per_second\n");
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].columns.size(), 2u);
  EXPECT_EQ(r.tables[0].total_rows, 0);
}

TEST(CsvIngest, InvalidUtf8IsReplacedAndCounted) {
  FileReport r = ingest_csv("model,notes\ngemma3,caf\xE9\nllama3,ok \xC3\xA9\n");
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.invalid_utf8_cells, 1);
  EXPECT_EQ(r.tables[0].rows[0][1], "caf\xEF\xBF\xBD");  // U+FFFD
  EXPECT_EQ(r.tables[0].rows[1][1], "ok \xC3\xA9");      // valid é untouched
  bool warned = false;
  for (const auto& w : r.warnings)
    warned |= w.find("UTF-8") != std::string::npos && w.find("line 2") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(CsvIngest, RaggedRowsAndUnterminatedQuotesAreWarnings) {
  FileReport r = ingest_csv("a,b,c\n1,2\n4,5,6,7\n8,\"open\n");
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].total_rows, 3);
  EXPECT_EQ(r.tables[0].rows[0].size(), 3u);  // padded
  EXPECT_EQ(r.tables[0].rows[2][1], "open\n");
  std::string all;
  for (const auto& w : r.warnings) all += w + "\n";
  EXPECT_NE(all.find("never closed"), std::string::npos) << all;
  EXPECT_NE(all.find("3 rows have a different number of fields"), std::string::npos) << all;
}

TEST(CsvIngest, FailureRowsAreCountedAndExcludedFromMetricSummaries) {
  FileReport r = ingest_csv(
      "model,tokens_per_second,error\n"
      "gemma3,100,\n"
      "gemma3,0,CUDA error: out of memory\n"
      "gemma3,98,none\n");
  const DataTable& t = r.tables[0];
  EXPECT_EQ(t.failure_rows, 1);
  ASSERT_EQ(t.failure_locations.size(), 1u);
  EXPECT_EQ(t.failure_locations[0], 3);
  const ColumnSummary& tps = column(t, "tokens_per_second");
  EXPECT_EQ(tps.stats.count, 2);  // the failed row's 0 is not a measurement
  EXPECT_DOUBLE_EQ(tps.stats.mean(), 99);
}

TEST(CsvIngest, UnitsInsideCellsAndGroupedThousands) {
  FileReport r = ingest_csv(
      "Model,Throughput,TTFT\n"
      "gemma3,\"98.9 tok/s\",\"1,606 ms\"\n"
      "gemma3,\"101.7 tok/s\",\"1.2 s\"\n");
  const DataTable& t = r.tables[0];
  const ColumnSummary& ttft = column(t, "TTFT");
  ASSERT_TRUE(ttft.unit.has_value());
  EXPECT_EQ(ttft.unit->symbol, "ms");  // the first unit seen; seconds are converted to it
  EXPECT_DOUBLE_EQ(ttft.stats.min, 1200);
  EXPECT_DOUBLE_EQ(ttft.stats.max, 1606);
  EXPECT_EQ(column(t, "Throughput").kind.metric, "decode_tps");
}

TEST(CsvIngest, GroupsSummarizeEachConfiguration) {
  FileReport r = ingest_csv(
      "model,num_ctx,run,tokens_per_second\n"
      "gemma3,1024,1,100\n"
      "gemma3,1024,2,102\n"
      "gemma3,4096,1,90\n");
  const DataTable& t = r.tables[0];
  ASSERT_EQ(t.groups.size(), 2u);  // "run" does not split configurations
  EXPECT_EQ(t.groups[0].key, "model=gemma3 num_ctx=1024");
  EXPECT_EQ(t.groups[0].rows, 2);
  EXPECT_DOUBLE_EQ(t.groups[0].metrics.at(3).mean(), 101);
}

// A 100 MB file is summarized in one streaming pass: every row counted, the statistics exact, only
// the first rows kept, and peak memory far below the file size.
TEST(CsvIngest, HundredMegabyteFileStreamsInBoundedMemory) {
  TempDir dir;
  std::string path = dir.file("big.csv");
  int64_t rows = 0;
  double sum = 0, min = 1e300, max = -1e300;
  {
    std::ofstream out(path, std::ios::binary);
    out << "model,quantization,num_ctx,run,tokens_per_second,ttft_ms,notes\n";
    std::string line;
    uint64_t state = 12345;
    while (out.tellp() < 100ll * 1000 * 1000) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      int tenths = 500 + static_cast<int>((state >> 33) % 1000);  // 50.0 .. 149.9
      double tps = tenths / 10.0;
      sum += tps;
      min = std::min(min, tps);
      max = std::max(max, tps);
      line = "gemma3:latest,Q4_K_M," + std::to_string(1024 << (rows % 3)) + "," +
             std::to_string(rows) + "," + std::to_string(tenths / 10) + "." +
             std::to_string(tenths % 10) +
             ",128.5,\"padding, quoted text to make the file large\"\n";
      out << line;
      ++rows;
    }
  }
  struct rusage before {};
  getrusage(RUSAGE_SELF, &before);
  auto start = std::chrono::steady_clock::now();
  FileReport report;
  report.relative_path = "big.csv";
  report.format = FileFormat::kCsv;
  ASSERT_TRUE(ingest_csv_file(path, report, IngestLimits{}).is_ok());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct rusage after {};
  getrusage(RUSAGE_SELF, &after);

  ASSERT_EQ(report.tables.size(), 1u);
  const DataTable& t = report.tables[0];
  EXPECT_EQ(t.total_rows, rows);
  EXPECT_EQ(static_cast<int64_t>(t.rows.size()), IngestLimits{}.table.max_kept_rows);
  const ColumnSummary& tps = column(t, "tokens_per_second");
  EXPECT_EQ(tps.stats.count, rows);
  EXPECT_DOUBLE_EQ(tps.stats.min, min);
  EXPECT_DOUBLE_EQ(tps.stats.max, max);
  EXPECT_NEAR(tps.stats.mean(), sum / static_cast<double>(rows), 1e-9);
  EXPECT_EQ(t.groups.size(), 3u);
  // ru_maxrss is in KiB. Streaming keeps growth far below the 100 MB of input.
  long grown_kib = after.ru_maxrss - before.ru_maxrss;
  EXPECT_LT(grown_kib, 48 * 1024) << "peak RSS grew by " << grown_kib << " KiB";
  // Generous bound for a shared 2-core CI machine (about 1 s when idle in Release).
  EXPECT_LT(seconds, 60.0);
  std::printf("[ figures ] 100 MB CSV: %lld rows in %.2f s, peak RSS growth %ld KiB\n",
              static_cast<long long>(rows), seconds, grown_kib);
}

}  // namespace
}  // namespace chimera::agent

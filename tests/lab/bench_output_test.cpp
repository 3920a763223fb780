// Bench output: the console table names every figure with n, spread, CI and provenance and counts
// failures; the CSV is one valid RFC 4180 table; the JSON carries every call and the statistics.
#include "lab/bench_output.h"

#include <gtest/gtest.h>

#include <sstream>

#include "fake_backend.h"

namespace chimera::lab {
namespace {

using testing::FakeBackend;
using testing::FakeTiming;

// A small RFC 4180 reader, for checking what render_csv wrote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

struct Fixture {
  std::vector<MeasuredCall> calls;
  BenchReport report;
};

Fixture ab_fixture(bool synthetic) {
  FakeBackend backend;
  backend.synthetic = synthetic;
  backend.timing = [](const llm::Request& r, int64_t i) {
    return FakeTiming{(r.options.temperature ? 70.0 : 100.0) + 5 * testing::noise(5, i), 20, 8};
  };
  backend.fail = [](int64_t i) { return i == 5; };
  BenchPlan plan;
  plan.prompts = {"Say \"hi\", then stop"};
  plan.runs = 5;
  plan.warmup = 1;
  plan.vs = llm::Options{};
  plan.vs->temperature = 0.2;
  BenchRun run = BenchRunner(backend, plan).run();
  BenchHeader h;
  h.backend = "fake://test/m";
  h.backend_name = "fake://test";
  h.model = "m";
  h.arms = run.prepared.arms;
  h.prompts = plan.prompts;
  h.runs = 5;
  h.warmup = 1;
  h.mode = "sequential";
  h.cpu = "Test CPU";
  h.build = "chimera test";
  h.threads = "backend default";
  HwSummary hw;
  hw.gpu_status = "not available: no libnvidia-ml.so.1; no nvidia-smi on PATH";
  Fixture f;
  f.calls = run.calls;
  f.report = analyze(h, run.calls, hw);
  f.report.session_id = 7;
  f.report.db_path = "/tmp/results.db";
  return f;
}

TEST(CsvField, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

TEST(FormatNumber, KeepsFourSignificantFiguresOrSo) {
  EXPECT_EQ(format_number(1234.56), "1235");
  EXPECT_EQ(format_number(123.456), "123.5");
  EXPECT_EQ(format_number(12.3456), "12.35");
  EXPECT_EQ(format_number(1.23456), "1.235");
  EXPECT_EQ(format_number(-0.5), "-0.500");
}

TEST(ConsoleOutput, TablesCarryNSpreadCiProvenanceAndFailures) {
  Fixture f = ab_fixture(false);
  std::string text = render_console(f.report);
  for (const char* expected :
       {"chimera bench: fake://test/m", "arm A:", "arm B:", "mean ± sd", "95% CI of mean",
        "provenance", "ttft_ms", "decode_tps", "itl_ms", "measured", "A/B comparison",
        "B = A with temperature=0.2", "verdict", "B's ttft_ms is lower by",
        "failures (excluded from every statistic): unavailable x1: connection refused",
        "not available: no libnvidia-ml.so.1", "session 7 in /tmp/results.db",
        "sent (per-pair seed)", "(bench default)"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing '" << expected << "' in\n" << text;
  }
  EXPECT_EQ(text.find("dummy weights"), std::string::npos);
  // Columns line up: in arm A's table, "provenance" values start where the header's word does.
  std::istringstream lines(text);
  std::string line;
  size_t header_column = std::string::npos;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (header_column == std::string::npos && line.find("mean ± sd") != std::string::npos) {
      header_column = line.find("provenance");
    } else if (header_column != std::string::npos && line.rfind("  ttft_ms", 0) == 0) {
      EXPECT_EQ(line.find("measured"), header_column) << line;
      ++rows;
    } else if (header_column != std::string::npos && line.empty()) {
      break;  // the end of arm A's table
    }
  }
  EXPECT_GE(rows, 1);
}

TEST(ConsoleOutput, SyntheticModelsSaySo) {
  Fixture f = ab_fixture(true);
  std::string text = render_console(f.report);
  EXPECT_NE(text.find("[dummy weights: timings real, text meaningless]"), std::string::npos);
  EXPECT_NE(text.find("synthetic"), std::string::npos);
}

TEST(CsvOutput, OneValidTableWithCallsStatsAndComparisons) {
  Fixture f = ab_fixture(false);
  auto rows = parse_csv(render_csv(f.report, f.calls));
  ASSERT_GT(rows.size(), 1u);
  const auto& header = rows[0];
  auto col = [&](std::string_view name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  size_t calls = 0, stats = 0, comparisons = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), header.size()) << "row " << i;
    const std::string& kind = rows[i][col("record")];
    if (kind == "call") {
      ++calls;
      if (rows[i][col("ok")] == "0") {
        EXPECT_EQ(rows[i][col("ttft_ms")], "");  // a failure is not a zero
        EXPECT_EQ(rows[i][col("error")], "connection refused");
      } else {
        EXPECT_NE(rows[i][col("ttft_ms")], "");
      }
    }
    if (kind == "stat") ++stats;
    if (kind == "comparison") {
      ++comparisons;
      EXPECT_NE(rows[i][col("p_value")], "");
    }
    EXPECT_EQ(rows[i][col("session_id")], "7");
  }
  EXPECT_EQ(calls, f.calls.size());  // warm-ups included, flagged
  EXPECT_GT(stats, 4u);
  EXPECT_EQ(comparisons, f.report.comparisons.size());
}

TEST(JsonOutput, CarriesEveryCallTheHeaderAndTheStatistics) {
  Fixture f = ab_fixture(false);
  std::vector<HwSample> samples(2);
  nlohmann::json j = render_json(f.report, f.calls, samples);
  EXPECT_EQ(j["schema"], "chimera.bench/1");
  EXPECT_EQ(j["session_id"], 7);
  EXPECT_EQ(j["header"]["backend"], "fake://test/m");
  EXPECT_EQ(j["calls"].size(), f.calls.size());
  EXPECT_EQ(j["hardware_samples"].size(), 2u);
  const auto& arm_a = j["summary"]["arms"][0];
  EXPECT_EQ(arm_a["label"], "A");
  EXPECT_EQ(arm_a["metrics"]["ttft_ms"]["provenance"], "measured");
  EXPECT_TRUE(arm_a["metrics"]["ttft_ms"]["ci_of_mean"].is_object());
  int failed = arm_a["failed"].get<int>() + j["summary"]["arms"][1]["failed"].get<int>();
  EXPECT_EQ(failed, 1);
  bool found = false;
  for (const auto& c : j["summary"]["comparisons"]) {
    if (c["metric"] == "ttft_ms") {
      found = true;
      EXPECT_LT(c["welch"]["p"].get<double>(), 0.05);
      EXPECT_TRUE(c["paired"].is_object());
      EXPECT_TRUE(c["mann_whitney"].is_object());
    }
  }
  EXPECT_TRUE(found);
  // A failed call's record says why and has no metrics.
  for (const auto& c : j["calls"]) {
    if (!c["record"]["ok"].get<bool>()) {
      EXPECT_EQ(c["record"]["error"], "connection refused");
      EXPECT_TRUE(c["metrics"].empty());
    }
  }
}

}  // namespace
}  // namespace chimera::lab

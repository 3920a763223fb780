#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/ingest.h"
#include "support/test_support.h"

namespace chimera::agent {
namespace {

namespace fs = std::filesystem;
using chimera::testing::TempDir;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

const FileReport* file_named(const IngestResult& r, std::string_view relative) {
  for (const auto& f : r.files) {
    if (f.relative_path == relative) return &f;
  }
  return nullptr;
}

TEST(IngestFolder, MissingFolderIsAnErrorThatSaysWhatToDo) {
  auto r = ingest_folder("/nonexistent/chimera-data");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.status().message().find("--data"), std::string::npos);
}

TEST(IngestFolder, WalksSortedSkipsHiddenAndUnsupported) {
  TempDir dir;
  write(dir.file("b/runs.csv"), "model,tokens_per_second\ngemma3,98.9\n");
  write(dir.file("a.md"), "# Title\n");
  write(dir.file("notes.txt"), "hello\n");
  write(dir.file(".git/config"), "[core]\n");
  write(dir.file("c.json"), "{\"tokens_per_second\": 1}");
  auto r = ingest_folder(dir.path());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->files.size(), 4u);
  EXPECT_EQ(r->files[0].relative_path, "a.md");
  EXPECT_EQ(r->files[1].relative_path, "b/runs.csv");
  EXPECT_EQ(r->files[2].relative_path, "c.json");
  EXPECT_EQ(r->files[3].relative_path, "notes.txt");
  EXPECT_FALSE(r->files[3].parsed);
  EXPECT_NE(r->files[3].skip_reason.find("not a data format"), std::string::npos);
  EXPECT_EQ(r->parsed_files(), 3u);
  EXPECT_EQ(r->total_rows(), 2);
}

TEST(IngestFolder, NeverFollowsLinksOutOfTheFolder) {
  TempDir outside, dir;
  write(outside.file("secret.csv"), "tokens_per_second\n1\n");
  write(dir.file("real.csv"), "tokens_per_second\n2\n");
  fs::create_symlink(outside.file("secret.csv"), dir.file("escape.csv"));
  fs::create_symlink(dir.file("real.csv"), dir.file("alias.csv"));
  fs::create_directory_symlink(outside.path(), dir.file("outside_dir"));
  fs::create_directory_symlink(dir.path(), dir.file("loop"));
  auto r = ingest_folder(dir.path());
  ASSERT_TRUE(r.ok());
  const FileReport* escape = file_named(*r, "escape.csv");
  ASSERT_NE(escape, nullptr);
  EXPECT_FALSE(escape->parsed);
  EXPECT_NE(escape->skip_reason.find("outside the data folder"), std::string::npos);
  const FileReport* alias = file_named(*r, "alias.csv");
  ASSERT_NE(alias, nullptr);
  EXPECT_TRUE(alias->parsed);  // a link that stays inside is fine
  const FileReport* loop = file_named(*r, "loop");
  ASSERT_NE(loop, nullptr);
  EXPECT_FALSE(loop->parsed);
  for (const auto& f : r->files) EXPECT_EQ(f.relative_path.find("outside_dir/"), std::string::npos);
  EXPECT_EQ(r->total_rows(), 2);  // real.csv and its alias; nothing from outside
}

TEST(IngestFolder, SizeAndCountLimitsSkipWithAReason) {
  TempDir dir;
  write(dir.file("big.csv"), "a\n" + std::string(4096, '1') + "\n");
  write(dir.file("small1.csv"), "a\n1\n");
  write(dir.file("small2.csv"), "a\n1\n");
  IngestLimits limits;
  limits.max_file_bytes = 1024;
  limits.max_files = 2;
  auto r = ingest_folder(dir.path(), limits);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(file_named(*r, "big.csv")->skip_reason.find("larger than"), std::string::npos);
  EXPECT_TRUE(file_named(*r, "small1.csv")->parsed);
  EXPECT_NE(file_named(*r, "small2.csv")->skip_reason.find("limit of 2"), std::string::npos);
  EXPECT_TRUE(r->truncated);
}

TEST(IngestFolder, ABrokenFileDoesNotStopTheOthers) {
  TempDir dir;
  write(dir.file("bad.json"), "{\"a\": ");
  write(dir.file("good.csv"), "ttft_ms\n12\n");
  auto r = ingest_folder(dir.path());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(file_named(*r, "bad.json")->parsed);
  EXPECT_NE(file_named(*r, "bad.json")->error.find("invalid JSON"), std::string::npos);
  EXPECT_TRUE(file_named(*r, "good.csv")->parsed);
}

// The shipped examples/data folder: counts derived by hand from the files as authored.
TEST(IngestFolder, ShippedExampleDataIsFullyIngested) {
  auto r = ingest_folder(chimera::testing::source_dir() + "/examples/data");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto rows = [&](std::string_view name) {
    const FileReport* f = file_named(*r, name);
    EXPECT_NE(f, nullptr) << name;
    return f ? f->rows() : -1;
  };
  EXPECT_EQ(rows("ollama_sweep/gemma3_latest_param_sweep.csv"), 36);  // 4 x 3 x 3 grid
  EXPECT_EQ(rows("ollama_sweep/llama3.1_quantization.csv"), 15);      // 3 quants x 5 runs
  EXPECT_EQ(rows("ollama_sweep/community_results.csv"), 6);
  EXPECT_EQ(rows("runs/ollama_generate_runs.jsonl"), 13);  // 12 calls + 1 failed
  EXPECT_EQ(rows("runs/agent_workflow_sweep.json"), 19);   // 18 results + fields
  EXPECT_EQ(rows("reports/multi_agent_summary.md"), 9);    // 3 scenarios + 6 results
  EXPECT_EQ(rows("system/hardware.json"), 7);              // 2 machine + 4 models + fields
  const FileReport* sweep = file_named(*r, "ollama_sweep/gemma3_latest_param_sweep.csv");
  EXPECT_EQ(sweep->failure_rows(), 2);
  const FileReport* llama = file_named(*r, "ollama_sweep/llama3.1_quantization.csv");
  EXPECT_TRUE(llama->had_bom);
  EXPECT_EQ(llama->delimiter, ';');
  EXPECT_EQ(r->total_failure_rows(), 4);  // 2 sweep errors, 1 failed stream, 1 timeout
  EXPECT_FALSE(file_named(*r, "system/todo.txt")->parsed);
  for (const auto& f : r->files) {
    if (f.format != FileFormat::kOther) {
      EXPECT_TRUE(f.parsed) << f.relative_path << ": " << f.error;
    }
  }
}

}  // namespace
}  // namespace chimera::agent

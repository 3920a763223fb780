#include "report/markdown.h"

#include <gtest/gtest.h>

#include "util/strings.h"

namespace chimera::report {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  auto lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST(DisplayWidth, CountsWhatAMonospaceViewerShows) {
  EXPECT_EQ(display_width("tok/s"), 5u);
  EXPECT_EQ(display_width("caf\xC3\xA9"), 4u);               // é precomposed
  EXPECT_EQ(display_width("cafe\xCC\x81"), 4u);              // e + combining acute
  EXPECT_EQ(display_width("\xE6\x97\xA5\xE6\x9C\xAC"), 4u);  // 日本: two wide characters
  EXPECT_EQ(display_width("\xFF"), 1u);                      // invalid byte still takes a column
}

TEST(MarkdownTable, ColumnsAreAlignedAndNumbersRightAligned) {
  Table t;
  t.headers = {"model", "decode tok/s"};
  t.align = {Align::kLeft, Align::kRight};
  t.rows = {{"gemma3:4b", "98.94"}, {"llama3.1:8b-instruct-q4_0", "77.1"}};
  std::string md = render_markdown_table(t);
  auto lines = lines_of(md);
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) EXPECT_EQ(line.size(), lines[0].size()) << md;
  EXPECT_EQ(lines[0], "| model                     | decode tok/s |");
  EXPECT_EQ(lines[1], "| ------------------------- | -----------: |");
  EXPECT_EQ(lines[2], "| gemma3:4b                 |        98.94 |");
  EXPECT_EQ(lines[3], "| llama3.1:8b-instruct-q4_0 |         77.1 |");
}

TEST(MarkdownTable, PipesAndNewlinesInCellsDoNotBreakTheTable) {
  Table t;
  t.headers = {"file", "note"};
  t.rows = {{"a|b.csv", "line one\nline two"}, {"short"}};
  auto lines = lines_of(render_markdown_table(t));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[2].find("a\\|b.csv"), std::string::npos);
  EXPECT_NE(lines[2].find("line one line two"), std::string::npos);
  // The short row was padded to two columns.
  EXPECT_EQ(std::count(lines[3].begin(), lines[3].end(), '|'), 3);
}

TEST(MarkdownTable, WideCharactersKeepColumnsAligned) {
  Table t;
  t.headers = {"name", "x"};
  t.rows = {{"\xE6\x97\xA5\xE6\x9C\xAC", "1"}, {"abcde", "2"}};
  auto lines = lines_of(render_markdown_table(t));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(display_width(lines[2]), display_width(lines[3]));
}

TEST(TextTable, TerminalTableHasNoTrailingSpaces) {
  Table t;
  t.headers = {"metric", "value"};
  t.align = {Align::kLeft, Align::kRight};
  t.rows = {{"ttft_ms", "128.0"}, {"decode_tps", "98.9"}};
  std::string text = render_text_table(t);
  EXPECT_EQ(text, "metric      value\nttft_ms     128.0\ndecode_tps   98.9\n");
}

TEST(MarkdownDocument, BlocksAreSeparatedByOneBlankLine) {
  MarkdownDocument doc;
  doc.heading(1, "Technical Report")
      .key_values({{"Date", "2026-11-26"}, {"Model", "gemma3"}})
      .heading(2, "Findings")
      .bullets({"one", "two"})
      .numbered({"first"})
      .rule()
      .paragraph("  done  ");
  EXPECT_EQ(doc.str(),
            "# Technical Report\n\n"
            "**Date:** 2026-11-26  \n**Model:** gemma3\n\n"
            "## Findings\n\n"
            "- one\n- two\n\n"
            "1. first\n\n"
            "---\n\n"
            "done\n");
}

TEST(MarkdownDocument, CodeFenceOutlastsBackticksInside) {
  MarkdownDocument doc;
  doc.code_block("a ``` b", "text");
  EXPECT_EQ(doc.str(), "````text\na ``` b\n````\n");
}

TEST(MarkdownDocument, RawTextIsInsertedAsItsOwnBlock) {
  MarkdownDocument doc;
  doc.paragraph("before").raw("\n\n## From the model\n\ntext\n\n\n").paragraph("after");
  EXPECT_EQ(doc.str(), "before\n\n## From the model\n\ntext\n\nafter\n");
}

}  // namespace
}  // namespace chimera::report

// Markdown document builder: headings, paragraphs, lists, aligned tables, code blocks. Output is
// deterministic text (same input, same bytes) so reports diff cleanly and tests can compare them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chimera::report {

enum class Align { kLeft, kRight, kCenter };

// A table of text cells. `align` may be shorter than `headers` (missing columns align left); rows
// shorter than the header are padded with empty cells.
struct Table {
  std::vector<std::string> headers;
  std::vector<Align> align;
  std::vector<std::vector<std::string>> rows;
};

// Columns a terminal or monospace viewer gives `text`: code points, with East Asian wide
// characters counted twice and combining marks not at all, so tables line up in editors.
size_t display_width(std::string_view text);

// Makes a cell safe inside a pipe table: '|' escaped, newlines turned into spaces.
std::string escape_table_cell(std::string_view text);

// A GitHub-flavoured pipe table with every column padded to its widest cell.
std::string render_markdown_table(const Table& table);

// A plain-text table (no pipes) for terminals: columns separated by two spaces.
std::string render_text_table(const Table& table);

class MarkdownDocument {
 public:
  MarkdownDocument& heading(int level, std::string_view text);
  MarkdownDocument& paragraph(std::string_view text);
  MarkdownDocument& bullets(const std::vector<std::string>& items);
  MarkdownDocument& numbered(const std::vector<std::string>& items);
  // "**Key:** value" lines joined with hard breaks, as in the report header.
  MarkdownDocument& key_values(const std::vector<std::pair<std::string, std::string>>& items);
  MarkdownDocument& table(const Table& table);
  MarkdownDocument& code_block(std::string_view text, std::string_view language = {});
  MarkdownDocument& quote(std::string_view text);
  MarkdownDocument& rule();
  // Markdown written elsewhere (the LLM's sections), inserted as a block of its own.
  MarkdownDocument& raw(std::string_view markdown);

  const std::string& str() const { return text_; }

 private:
  void begin_block();
  std::string text_;
};

}  // namespace chimera::report

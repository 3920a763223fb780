#include "report/markdown.h"

#include <algorithm>
#include <cstdint>

#include "util/strings.h"

namespace chimera::report {
namespace {

// Decodes one code point; invalid bytes decode as themselves (one column each) so a broken string
// still renders instead of failing.
uint32_t next_code_point(std::string_view text, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  uint8_t lead = byte(i);
  int extra = lead < 0x80           ? 0
              : (lead >> 5) == 0x6  ? 1
              : (lead >> 4) == 0xE  ? 2
              : (lead >> 3) == 0x1E ? 3
                                    : -1;
  if (extra <= 0 || i + extra >= text.size()) {
    ++i;
    return lead;
  }
  uint32_t cp = lead & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return lead;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  i += extra + 1;
  return cp;
}

bool is_combining(uint32_t cp) {
  return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
         (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
         (cp >= 0xFE20 && cp <= 0xFE2F) || (cp >= 0x200B && cp <= 0x200F) || cp == 0xFE0F;
}

bool is_wide(uint32_t cp) {
  return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF && cp != 0x303F) ||
         (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
         (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
         (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

std::string pad(std::string_view text, size_t width, Align align) {
  size_t have = display_width(text);
  size_t missing = width > have ? width - have : 0;
  size_t left = align == Align::kRight ? missing : align == Align::kCenter ? missing / 2 : 0;
  std::string out(left, ' ');
  out += text;
  out.append(missing - left, ' ');
  return out;
}

struct Normalized {
  std::vector<std::vector<std::string>> rows;  // header first
  std::vector<Align> align;
  std::vector<size_t> widths;
};

Normalized normalize(const Table& table, bool escape) {
  size_t columns = table.headers.size();
  for (const auto& row : table.rows) columns = std::max(columns, row.size());
  Normalized n;
  n.align.assign(columns, Align::kLeft);
  for (size_t c = 0; c < table.align.size() && c < columns; ++c) n.align[c] = table.align[c];
  n.widths.assign(columns, escape ? 3 : 1);  // a pipe-table separator needs at least "---"
  auto add = [&](const std::vector<std::string>& cells) {
    std::vector<std::string> row(columns);
    for (size_t c = 0; c < cells.size(); ++c) {
      row[c] = escape ? escape_table_cell(cells[c]) : replace_all(cells[c], "\n", " ");
      n.widths[c] = std::max(n.widths[c], display_width(row[c]));
    }
    n.rows.push_back(std::move(row));
  };
  add(table.headers);
  for (const auto& row : table.rows) add(row);
  return n;
}

}  // namespace

size_t display_width(std::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = next_code_point(text, i);
    if (is_combining(cp)) continue;
    width += is_wide(cp) ? 2 : 1;
  }
  return width;
}

std::string escape_table_cell(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '|') {
      out += "\\|";
    } else if (c == '\r') {
      continue;
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return std::string(trim(out));
}

std::string render_markdown_table(const Table& table) {
  Normalized n = normalize(table, /*escape=*/true);
  if (n.widths.empty()) return {};
  std::string out;
  auto emit_row = [&](const std::vector<std::string>& row) {
    out += '|';
    for (size_t c = 0; c < row.size(); ++c) {
      out += ' ';
      out += pad(row[c], n.widths[c], n.align[c]);
      out += " |";
    }
    out += '\n';
  };
  emit_row(n.rows[0]);
  out += '|';
  for (size_t c = 0; c < n.widths.size(); ++c) {
    std::string dashes(n.widths[c], '-');
    if (n.align[c] == Align::kRight) dashes.back() = ':';
    if (n.align[c] == Align::kCenter) dashes.front() = dashes.back() = ':';
    out += ' ' + dashes + " |";
  }
  out += '\n';
  for (size_t r = 1; r < n.rows.size(); ++r) emit_row(n.rows[r]);
  return out;
}

std::string render_text_table(const Table& table) {
  Normalized n = normalize(table, /*escape=*/false);
  std::string out;
  for (size_t r = 0; r < n.rows.size(); ++r) {
    std::string line;
    for (size_t c = 0; c < n.rows[r].size(); ++c) {
      if (c) line += "  ";
      line += pad(n.rows[r][c], n.widths[c], n.align[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  return out;
}

void MarkdownDocument::begin_block() {
  if (text_.empty()) return;
  if (text_.back() != '\n') text_ += '\n';
  if (text_.size() < 2 || text_[text_.size() - 2] != '\n') text_ += '\n';
}

MarkdownDocument& MarkdownDocument::heading(int level, std::string_view text) {
  begin_block();
  text_ += std::string(static_cast<size_t>(std::clamp(level, 1, 6)), '#');
  text_ += ' ';
  text_ += replace_all(trim(text), "\n", " ");
  text_ += '\n';
  return *this;
}

MarkdownDocument& MarkdownDocument::paragraph(std::string_view text) {
  begin_block();
  text_ += trim(text);
  text_ += '\n';
  return *this;
}

MarkdownDocument& MarkdownDocument::bullets(const std::vector<std::string>& items) {
  if (items.empty()) return *this;
  begin_block();
  for (const auto& item : items) text_ += "- " + replace_all(item, "\n", "\n  ") + '\n';
  return *this;
}

MarkdownDocument& MarkdownDocument::numbered(const std::vector<std::string>& items) {
  if (items.empty()) return *this;
  begin_block();
  for (size_t i = 0; i < items.size(); ++i) {
    text_ += std::to_string(i + 1) + ". " + replace_all(items[i], "\n", "\n   ") + '\n';
  }
  return *this;
}

MarkdownDocument& MarkdownDocument::key_values(
    const std::vector<std::pair<std::string, std::string>>& items) {
  if (items.empty()) return *this;
  begin_block();
  for (size_t i = 0; i < items.size(); ++i) {
    text_ += "**" + items[i].first + ":** " + items[i].second;
    // Two trailing spaces are Markdown's hard line break; the last line needs none.
    text_ += i + 1 < items.size() ? "  \n" : "\n";
  }
  return *this;
}

MarkdownDocument& MarkdownDocument::table(const Table& table) {
  std::string rendered = render_markdown_table(table);
  if (rendered.empty()) return *this;
  begin_block();
  text_ += rendered;
  return *this;
}

MarkdownDocument& MarkdownDocument::code_block(std::string_view text, std::string_view language) {
  begin_block();
  // A fence longer than any backtick run inside keeps the block closed where it should be.
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(std::max<size_t>(3, longest + 1), '`');
  text_ += fence;
  text_ += language;
  text_ += '\n';
  text_ += text;
  if (!text.empty() && text.back() != '\n') text_ += '\n';
  text_ += fence + '\n';
  return *this;
}

MarkdownDocument& MarkdownDocument::quote(std::string_view text) {
  begin_block();
  for (const auto& line : split(trim(text), '\n')) text_ += "> " + line + '\n';
  return *this;
}

MarkdownDocument& MarkdownDocument::rule() {
  begin_block();
  text_ += "---\n";
  return *this;
}

MarkdownDocument& MarkdownDocument::raw(std::string_view markdown) {
  std::string_view body = trim(markdown);
  if (body.empty()) return *this;
  begin_block();
  text_ += body;
  text_ += '\n';
  return *this;
}

}  // namespace chimera::report

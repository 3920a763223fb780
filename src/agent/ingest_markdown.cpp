// Markdown ingestion: the heading outline, and every pipe table as a table named by the headings
// above it ("Results > Gemma3"). Fenced code is skipped; emphasis around cells is removed.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "agent/dates.h"
#include "agent/ingest.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

std::vector<std::string> split_row(std::string_view line) {
  std::string_view t = trim(line);
  if (starts_with(t, "|")) t.remove_prefix(1);
  if (ends_with(t, "|") && !ends_with(t, "\\|")) t.remove_suffix(1);
  std::vector<std::string> cells;
  std::string cell;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\\' && i + 1 < t.size() && t[i + 1] == '|') {
      cell += '|';
      ++i;
    } else if (t[i] == '|') {
      cells.push_back(std::move(cell));
      cell.clear();
    } else {
      cell += t[i];
    }
  }
  cells.push_back(std::move(cell));
  for (auto& c : cells) {
    std::string_view v = trim(c);
    // "**98.9**", "`gemma3`", "_n/a_": the markup is not part of the value.
    while (v.size() >= 2 && (v.front() == '*' || v.front() == '_' || v.front() == '`') &&
           v.back() == v.front()) {
      v = trim(v.substr(1, v.size() - 2));
    }
    c = std::string(v);
  }
  return cells;
}

bool is_separator_row(std::string_view line) {
  if (line.find('-') == std::string_view::npos || line.find('|') == std::string_view::npos) {
    return false;
  }
  for (const auto& cell : split_row(line)) {
    std::string_view c = trim(cell);
    if (c.empty()) return false;
    for (char ch : c) {
      if (ch != '-' && ch != ':') return false;
    }
  }
  return true;
}

int heading_level(std::string_view line) {
  std::string_view t = trim(line);
  int level = 0;
  while (level < static_cast<int>(t.size()) && t[level] == '#') ++level;
  if (level == 0 || level > 6 || level >= static_cast<int>(t.size()) || t[level] != ' ') return 0;
  return level;
}

}  // namespace

Status ingest_markdown_text(std::string_view text, FileReport& report, const IngestLimits& limits) {
  if (starts_with(text, "\xEF\xBB\xBF")) {
    report.had_bom = true;
    text.remove_prefix(3);
  }
  std::string body(text);
  if (sanitize_utf8(body)) {
    ++report.invalid_utf8_cells;
    report.warnings.push_back("the file is not valid UTF-8; invalid bytes were replaced by U+FFFD");
  }
  body = replace_all(body, "\r\n", "\n");
  std::vector<std::string> lines = split(body, '\n');
  std::vector<std::string> heading_stack;  // index = level - 1
  std::map<std::string, int> tables_under;
  std::string fence;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    std::string_view t = trim(line);
    if (!fence.empty()) {
      if (starts_with(t, fence)) fence.clear();
      continue;
    }
    if (starts_with(t, "```") || starts_with(t, "~~~")) {
      fence = std::string(t.substr(0, 3));
      continue;
    }
    if (int level = heading_level(line)) {
      std::string title(trim(t.substr(static_cast<size_t>(level))));
      while (ends_with(title, "#")) title.pop_back();
      title = std::string(trim(title));
      heading_stack.resize(static_cast<size_t>(level));
      heading_stack.back() = title;
      report.headings.push_back(std::string(static_cast<size_t>(level - 1) * 2, ' ') + title);
      continue;
    }
    if (line.find('|') == std::string_view::npos || i + 1 >= lines.size() ||
        !is_separator_row(lines[i + 1])) {
      continue;
    }
    std::string name;
    for (const auto& h : heading_stack) {
      if (h.empty()) continue;
      if (!name.empty()) name += " > ";
      name += h;
    }
    if (name.empty()) name = "(top)";
    if (int n = ++tables_under[name]; n > 1) name += fmt::format(" ({})", n);
    TableBuilder builder(name, split_row(line), limits.table);
    size_t header_size = builder.columns().size();
    int64_t ragged = 0;
    size_t j = i + 2;
    for (; j < lines.size(); ++j) {
      std::string_view row = trim(lines[j]);
      if (row.empty() || row.find('|') == std::string_view::npos) break;
      std::vector<std::string> cells = split_row(row);
      if (cells.size() != header_size) ++ragged;
      builder.add_row(cells, static_cast<int64_t>(j + 1));
    }
    if (ragged > 0) {
      report.warnings.push_back(fmt::format(
          "table '{}' (line {}): {} rows have a different number of cells than its header", name,
          i + 1, ragged));
    }
    report.tables.push_back(std::move(builder).finish());
    i = j - 1;
  }
  for (const auto& d : find_dates(body)) {
    if (d.month_only) continue;
    if (std::find(report.dates.begin(), report.dates.end(), d.iso) == report.dates.end()) {
      report.dates.push_back(d.iso);
    }
  }
  report.parsed = true;
  return Status::ok();
}

Status ingest_markdown_file(const std::string& path, FileReport& report,
                            const IngestLimits& limits) {
  if (report.size_bytes > limits.max_json_bytes) {
    return make_error(ErrorCode::kOutOfRange,
                      "{}: {} bytes is over the {}-byte limit for a Markdown document",
                      report.relative_path, report.size_bytes, limits.max_json_bytes);
  }
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path, limits.max_json_bytes + 1));
  return ingest_markdown_text(text, report, limits);
}

}  // namespace chimera::agent

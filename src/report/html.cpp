#include "report/html.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "util/strings.h"

namespace chimera::report {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return c == ' ' || c == '\t'; }

size_t indent_of(std::string_view line) {
  size_t n = 0;
  for (char c : line) {
    if (c == ' ') {
      ++n;
    } else if (c == '\t') {
      n += 4;
    } else {
      break;
    }
  }
  return n;
}

std::string_view strip_indent(std::string_view line, size_t columns) {
  size_t i = 0, taken = 0;
  while (i < line.size() && taken < columns && is_space(line[i])) {
    taken += line[i] == '\t' ? 4 : 1;
    ++i;
  }
  return line.substr(i);
}

bool is_blank(std::string_view line) { return trim(line).empty(); }

// ---- inline spans ----

std::string render_inline(std::string_view text);

// Finds `closer` at or after `from` such that it is a valid closing delimiter.
std::optional<size_t> find_closer(std::string_view text, size_t from, std::string_view closer) {
  for (size_t pos = text.find(closer, from); pos != std::string_view::npos;
       pos = text.find(closer, pos + 1)) {
    if (pos == from) continue;              // empty span
    if (is_space(text[pos - 1])) continue;  // "a * b" is not emphasis
    size_t after = pos + closer.size();
    // "num_ctx_max": an underscore inside a word never closes emphasis.
    if (closer[0] == '_' && after < text.size() && is_alnum(text[after])) continue;
    return pos;
  }
  return std::nullopt;
}

// "[label](target)" at `i`: returns the end index and fills label/target.
std::optional<size_t> parse_link(std::string_view text, size_t i, std::string_view& label,
                                 std::string_view& target) {
  size_t close = text.find(']', i + 1);
  if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != '(') {
    return std::nullopt;
  }
  size_t end = text.find(')', close + 2);
  if (end == std::string_view::npos) return std::nullopt;
  label = text.substr(i + 1, close - i - 1);
  target = trim(text.substr(close + 2, end - close - 2));
  return end + 1;
}

std::string render_inline(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size() && std::ispunct(static_cast<unsigned char>(text[i + 1]))) {
      out += html_escape(text.substr(i + 1, 1));
      i += 2;
      continue;
    }
    if (c == '`') {
      size_t run = 0;
      while (i + run < text.size() && text[i + run] == '`') ++run;
      std::string fence(run, '`');
      size_t close = text.find(fence, i + run);
      if (close != std::string_view::npos) {
        out += "<code>" + html_escape(trim(text.substr(i + run, close - i - run))) + "</code>";
        i = close + run;
        continue;
      }
      out += fence;
      i += run;
      continue;
    }
    if ((c == '*' || c == '_') && i + 2 < text.size() && text[i + 1] == c &&
        !is_space(text[i + 2]) && !(c == '_' && i > 0 && is_alnum(text[i - 1]))) {
      std::string closer(2, c);
      if (auto close = find_closer(text, i + 2, closer)) {
        out += "<strong>" + render_inline(text.substr(i + 2, *close - i - 2)) + "</strong>";
        i = *close + 2;
        continue;
      }
    }
    if ((c == '*' || c == '_') && i + 1 < text.size() && !is_space(text[i + 1]) &&
        text[i + 1] != c && !(c == '_' && i > 0 && is_alnum(text[i - 1]))) {
      if (auto close = find_closer(text, i + 1, std::string(1, c))) {
        out += "<em>" + render_inline(text.substr(i + 1, *close - i - 1)) + "</em>";
        i = *close + 1;
        continue;
      }
    }
    if (c == '!' && i + 1 < text.size() && text[i + 1] == '[') {
      std::string_view label, target;
      if (auto end = parse_link(text, i + 1, label, target)) {
        // Images are never loaded: the page must open offline and show nothing it did not make.
        out += "<span class=\"image\">[image: " + html_escape(label) + "]</span>";
        i = *end;
        continue;
      }
    }
    if (c == '[') {
      std::string_view label, target;
      if (auto end = parse_link(text, i, label, target)) {
        if (starts_with(target, "#")) {
          out += "<a href=\"" + html_escape(target) + "\">" + render_inline(label) + "</a>";
        } else {
          out += render_inline(label) + " <span class=\"url\">(" + html_escape(target) + ")</span>";
        }
        i = *end;
        continue;
      }
    }
    out += html_escape(text.substr(i, 1));
    ++i;
  }
  return out;
}

// ---- block structure ----

struct ListMarker {
  bool ordered = false;
  size_t indent = 0;
  size_t content_offset = 0;  // columns from line start to the item's text
  std::string_view text;
};

std::optional<ListMarker> list_marker(std::string_view line) {
  ListMarker m;
  m.indent = indent_of(line);
  std::string_view rest = strip_indent(line, m.indent);
  size_t len = 0;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '*' || rest[0] == '+')) {
    len = 1;
  } else {
    while (len < rest.size() && len < 9 && std::isdigit(static_cast<unsigned char>(rest[len])))
      ++len;
    if (len == 0 || len >= rest.size() || (rest[len] != '.' && rest[len] != ')'))
      return std::nullopt;
    ++len;
    m.ordered = true;
  }
  // The marker must be followed by a space: "**bold**" and "-5 ms" are not items.
  if (len >= rest.size() || !is_space(rest[len])) return std::nullopt;
  size_t spaces = 0;
  while (len + spaces < rest.size() && is_space(rest[len + spaces])) ++spaces;
  m.content_offset = m.indent + len + std::min<size_t>(std::max<size_t>(spaces, 1), 4);
  m.text = rest.substr(std::min(rest.size(), len + spaces));
  return m;
}

bool is_rule(std::string_view line) {
  std::string_view t = trim(line);
  if (t.size() < 3 || (t[0] != '-' && t[0] != '*' && t[0] != '_')) return false;
  size_t count = 0;
  for (char c : t) {
    if (c == t[0]) {
      ++count;
    } else if (!is_space(c)) {
      return false;
    }
  }
  return count >= 3;
}

std::optional<std::string> fence_of(std::string_view line) {
  if (indent_of(line) > 3) return std::nullopt;
  std::string_view t = trim(line);
  if (t.size() < 3 || (t[0] != '`' && t[0] != '~')) return std::nullopt;
  size_t run = 0;
  while (run < t.size() && t[run] == t[0]) ++run;
  if (run < 3) return std::nullopt;
  return std::string(run, t[0]);
}

int heading_level(std::string_view line) {
  if (indent_of(line) > 3) return 0;
  std::string_view t = trim(line);
  int level = 0;
  while (level < static_cast<int>(t.size()) && t[level] == '#') ++level;
  if (level == 0 || level > 6) return 0;
  if (level < static_cast<int>(t.size()) && !is_space(t[level])) return 0;
  return level;
}

std::vector<std::string> table_cells(std::string_view line) {
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
      cells.emplace_back(trim(cell));
      cell.clear();
    } else {
      cell += t[i];
    }
  }
  cells.emplace_back(trim(cell));
  return cells;
}

bool is_table_separator(std::string_view line) {
  if (line.find('-') == std::string_view::npos) return false;
  for (const auto& cell : table_cells(line)) {
    std::string_view c = trim(cell);
    if (c.empty()) return false;
    for (char ch : c) {
      if (ch != '-' && ch != ':') return false;
    }
  }
  return true;
}

bool starts_block(const std::vector<std::string_view>& lines, size_t i) {
  std::string_view line = lines[i];
  return heading_level(line) || fence_of(line) || is_rule(line) || list_marker(line) ||
         starts_with(trim(line), ">") ||
         (line.find('|') != std::string_view::npos && i + 1 < lines.size() &&
          is_table_separator(lines[i + 1]));
}

class BlockRenderer {
 public:
  BlockRenderer(std::string_view prefix, std::map<std::string, int>& used_ids)
      : prefix_(prefix), used_ids_(used_ids) {}

  std::string render(const std::vector<std::string_view>& lines) {
    std::string out;
    size_t i = 0;
    while (i < lines.size()) {
      std::string_view line = lines[i];
      if (is_blank(line)) {
        ++i;
      } else if (auto fence = fence_of(line)) {
        i = code_block(lines, i, *fence, out);
      } else if (int level = heading_level(line)) {
        heading(line, level, out);
        ++i;
      } else if (is_rule(line)) {
        out += "<hr>\n";
        ++i;
      } else if (line.find('|') != std::string_view::npos && i + 1 < lines.size() &&
                 is_table_separator(lines[i + 1])) {
        i = table(lines, i, out);
      } else if (starts_with(trim(line), ">")) {
        i = quote(lines, i, out);
      } else if (auto marker = list_marker(line)) {
        i = list(lines, i, *marker, out);
      } else {
        i = paragraph(lines, i, out);
      }
    }
    return out;
  }

 private:
  size_t code_block(const std::vector<std::string_view>& lines, size_t i, const std::string& fence,
                    std::string& out) {
    std::string body;
    size_t j = i + 1;
    for (; j < lines.size(); ++j) {
      auto closing = fence_of(lines[j]);
      if (closing && (*closing)[0] == fence[0] && closing->size() >= fence.size() &&
          trim(lines[j]).size() == closing->size()) {
        break;
      }
      body += lines[j];
      body += '\n';
    }
    out += "<pre><code>" + html_escape(body) + "</code></pre>\n";
    return j < lines.size() ? j + 1 : j;
  }

  void heading(std::string_view line, int level, std::string& out) {
    std::string_view text = trim(trim(line).substr(static_cast<size_t>(level)));
    while (ends_with(text, "#")) text.remove_suffix(1);
    text = trim(text);
    std::string id = std::string(prefix_) + slugify(text);
    int& seen = used_ids_[id];
    if (seen++ > 0) id += "-" + std::to_string(seen);
    out += "<h" + std::to_string(level) + " id=\"" + html_escape(id) + "\">" + render_inline(text) +
           "</h" + std::to_string(level) + ">\n";
  }

  size_t table(const std::vector<std::string_view>& lines, size_t i, std::string& out) {
    std::vector<std::string> header = table_cells(lines[i]);
    std::vector<std::string> align_cells = table_cells(lines[i + 1]);
    std::vector<std::string> aligns;
    for (const auto& cell : align_cells) {
      bool left = starts_with(cell, ":"), right = ends_with(cell, ":");
      aligns.push_back(left && right ? "center" : right ? "right" : left ? "left" : "");
    }
    auto cell_tag = [&](const char* tag, size_t c, const std::string& text) {
      std::string style = c < aligns.size() && !aligns[c].empty()
                              ? " style=\"text-align:" + aligns[c] + "\""
                              : std::string();
      return std::string("<") + tag + style + ">" + render_inline(text) + "</" + tag + ">";
    };
    out += "<table>\n<thead><tr>";
    for (size_t c = 0; c < header.size(); ++c) out += cell_tag("th", c, header[c]);
    out += "</tr></thead>\n<tbody>\n";
    size_t j = i + 2;
    for (; j < lines.size() && !is_blank(lines[j]) && lines[j].find('|') != std::string_view::npos;
         ++j) {
      std::vector<std::string> cells = table_cells(lines[j]);
      cells.resize(header.size());
      out += "<tr>";
      for (size_t c = 0; c < cells.size(); ++c) out += cell_tag("td", c, cells[c]);
      out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
    return j;
  }

  size_t quote(const std::vector<std::string_view>& lines, size_t i, std::string& out) {
    std::vector<std::string_view> inner;
    size_t j = i;
    for (; j < lines.size() && starts_with(trim(lines[j]), ">"); ++j) {
      std::string_view t = trim(lines[j]).substr(1);
      if (starts_with(t, " ")) t.remove_prefix(1);
      inner.push_back(t);
    }
    out += "<blockquote>\n" + render(inner) + "</blockquote>\n";
    return j;
  }

  size_t list(const std::vector<std::string_view>& lines, size_t i, const ListMarker& first,
              std::string& out) {
    std::vector<std::vector<std::string>> items;  // each item's lines, dedented
    size_t content_offset = first.content_offset;
    size_t j = i;
    while (j < lines.size()) {
      std::string_view line = lines[j];
      if (is_blank(line)) {
        size_t k = j + 1;
        while (k < lines.size() && is_blank(lines[k])) ++k;
        if (k == lines.size()) break;
        auto next = list_marker(lines[k]);
        bool same_list = next && next->indent == first.indent && next->ordered == first.ordered;
        if (!same_list && indent_of(lines[k]) < content_offset) break;
        items.back().emplace_back();
        j = k;
        continue;
      }
      auto marker = list_marker(line);
      if (marker && marker->indent == first.indent && marker->ordered == first.ordered) {
        items.push_back({std::string(marker->text)});
        content_offset = marker->content_offset;
      } else if (indent_of(line) > first.indent) {
        items.back().emplace_back(strip_indent(line, content_offset));
      } else if (!marker && !items.empty() && !starts_block(lines, j)) {
        items.back().emplace_back(trim(line));  // lazy continuation of the item's paragraph
      } else {
        break;
      }
      ++j;
    }
    const char* tag = first.ordered ? "ol" : "ul";
    out += std::string("<") + tag + ">\n";
    for (const auto& item : items) {
      std::vector<std::string_view> views(item.begin(), item.end());
      std::string inner = render(views);
      // A tight item ("- text") shows without paragraph margins.
      if (starts_with(inner, "<p>") && inner.find("<p>", 3) == std::string::npos &&
          ends_with(inner, "</p>\n")) {
        inner = inner.substr(3, inner.size() - 8);
      } else if (starts_with(inner, "<p>")) {
        size_t end = inner.find("</p>\n");
        if (end != std::string::npos && inner.find("<p>", 3) == std::string::npos) {
          inner = inner.substr(3, end - 3) + "\n" + inner.substr(end + 5);
        }
      }
      out += "<li>" + inner + "</li>\n";
    }
    out += std::string("</") + tag + ">\n";
    return j;
  }

  size_t paragraph(const std::vector<std::string_view>& lines, size_t i, std::string& out) {
    std::string html;
    size_t j = i;
    for (; j < lines.size() && !is_blank(lines[j]) && (j == i || !starts_block(lines, j)); ++j) {
      std::string_view line = lines[j];
      bool hard_break = ends_with(line, "  ") || ends_with(line, "\\");
      std::string_view t = trim(line);
      if (ends_with(t, "\\")) t.remove_suffix(1);
      if (j > i) html += "\n";
      html += render_inline(t);
      if (hard_break && j + 1 < lines.size() && !is_blank(lines[j + 1])) html += "<br>";
    }
    out += "<p>" + html + "</p>\n";
    return j;
  }

  std::string_view prefix_;
  std::map<std::string, int>& used_ids_;
};

constexpr std::string_view kStyle = R"css(
:root { --fg:#1d232a; --muted:#5b6673; --bg:#ffffff; --panel:#f5f7f9; --line:#d5dbe1; --accent:#1f5f99; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg);
       background:var(--bg); }
header { padding:18px 28px; border-bottom:1px solid var(--line); background:var(--panel); }
header h1 { margin:0 0 4px; font-size:22px; }
header p { margin:0; color:var(--muted); }
nav { padding:8px 28px; border-bottom:1px solid var(--line); position:sticky; top:0; background:var(--bg); }
nav a { margin-right:16px; color:var(--accent); text-decoration:none; font-weight:600; }
main { max-width:1100px; padding:8px 28px 48px; }
section { border-bottom:1px solid var(--line); padding-bottom:24px; }
section > h2.section-title { font-size:20px; margin-top:28px; color:var(--accent); }
h1, h2, h3, h4 { line-height:1.25; }
table { border-collapse:collapse; margin:12px 0; font-size:14px; }
th, td { border:1px solid var(--line); padding:4px 10px; vertical-align:top; }
th { background:var(--panel); text-align:left; }
tbody tr:nth-child(even) td { background:#fafbfc; }
pre { background:var(--panel); border:1px solid var(--line); padding:10px; overflow-x:auto; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
blockquote { margin:8px 0; padding:4px 14px; border-left:4px solid var(--line); color:var(--muted); }
.url, .image { color:var(--muted); font-size:13px; }
figure { margin:16px 0; }
figure svg { max-width:100%; height:auto; border:1px solid var(--line); background:#fff; }
figcaption { color:var(--muted); font-size:13px; }
.effects { display:flex; flex-wrap:wrap; gap:4px 12px; }
.effects figure { margin:4px 0; max-width:340px; }
)css";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string slugify(std::string_view text) {
  std::string out;
  bool dash = false;
  for (char c : text) {
    if (is_alnum(c)) {
      if (dash && !out.empty()) out += '-';
      dash = false;
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      dash = true;
    }
  }
  return out.empty() ? "section" : out;
}

std::string markdown_to_html(std::string_view markdown, std::string_view id_prefix) {
  std::string normalized = replace_all(markdown, "\r\n", "\n");
  std::vector<std::string_view> lines;
  std::string_view rest = normalized;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  std::map<std::string, int> used_ids;
  return BlockRenderer(id_prefix, used_ids).render(lines);
}

std::string HtmlPage::render() const {
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(title_) + "</title>\n<style>" + std::string(kStyle) +
         "</style>\n</head>\n<body>\n";
  out += "<header><h1>" + html_escape(title_) + "</h1>";
  if (!subtitle_.empty()) out += "<p>" + html_escape(subtitle_) + "</p>";
  out += "</header>\n";
  if (!sections_.empty()) {
    out += "<nav>";
    for (const auto& s : sections_) {
      out += "<a href=\"#" + html_escape(s.id) + "\">" + html_escape(s.title) + "</a>";
    }
    out += "</nav>\n";
  }
  out += "<main>\n";
  for (const auto& s : sections_) {
    out += "<section id=\"" + html_escape(s.id) + "\">\n<h2 class=\"section-title\">" +
           html_escape(s.title) + "</h2>\n" + s.body_html + "</section>\n";
  }
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace chimera::report

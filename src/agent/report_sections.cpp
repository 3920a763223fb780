#include "agent/report_sections.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "agent/prompts.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

using nlohmann::json;

// "## 1. Executive Summary", "**2. Key Findings**", "# Appendix": the section title a line names,
// when it is a heading of one of `titles`.
std::optional<size_t> heading_of(std::string_view line, const std::vector<std::string>& titles) {
  std::string_view t = trim(line);
  bool heading = starts_with(t, "#") || (starts_with(t, "**") && ends_with(t, "**"));
  if (!heading) return std::nullopt;
  std::string lower = to_lower(std::string(t));
  for (size_t i = 0; i < titles.size(); ++i) {
    std::string title = to_lower(titles[i]);
    size_t at = lower.find(title);
    // Only a short prefix (hashes, numbering, bold) may stand before the title.
    if (at != std::string::npos && at <= 8) return i;
  }
  return std::nullopt;
}

std::string problem_line(const ValidationReport& v) {
  std::map<std::string, size_t> by_kind;
  for (const auto& f : v.findings) ++by_kind[std::string(finding_kind_name(f.kind))];
  std::vector<std::string> parts;
  for (const auto& [kind, n] : by_kind) parts.push_back(fmt::format("{} {}", n, kind));
  return join(parts, "; ");
}

// Ordered: constrained decoding writes the properties in the schema's order, and a title before its
// text (and the text before the facts it cites) is the order a reader and a model expect.
nlohmann::ordered_json schema_of_section(const std::vector<std::string>* titles) {
  using ojson = nlohmann::ordered_json;
  ojson properties = ojson::object();
  ojson required = ojson::array();
  if (titles) {
    properties["title"] = {{"type", "string"}, {"enum", *titles}};
    required.push_back("title");
  }
  properties["text"] = {{"type", "string"}};
  properties["facts"] = {{"type", "array"}, {"items", {{"type", "string"}}}};
  required.push_back("text");
  required.push_back("facts");
  ojson schema = ojson::object();
  schema["type"] = "object";
  schema["properties"] = properties;
  schema["required"] = required;
  schema["additionalProperties"] = false;
  return schema;
}

void read_json_section(const json& item, SectionProse& out) {
  if (item.contains("text") && item["text"].is_string()) out.text = item["text"].get<std::string>();
  if (item.contains("facts") && item["facts"].is_array()) {
    for (const json& id : item["facts"]) {
      if (id.is_string()) out.cited.push_back(id.get<std::string>());
    }
  }
}

}  // namespace

const std::vector<std::string>& prose_section_titles() {
  static const std::vector<std::string> kTitles = [] {
    std::vector<std::string> t = report_section_titles();
    t.erase(std::remove(t.begin(), t.end(), "Appendix"), t.end());
    return t;
  }();
  return kTitles;
}

std::string_view prose_format_name(ProseFormat format) {
  return format == ProseFormat::kJson ? "JSON (structured output)" : "free text";
}

std::string_view prose_calls_name(ProseCalls calls) {
  return calls == ProseCalls::kOne ? "one" : "per-section";
}

Result<ProseCalls> parse_prose_calls(std::string_view text) {
  if (text == "one") return ProseCalls::kOne;
  if (text == "per-section") return ProseCalls::kPerSection;
  return make_error(ErrorCode::kInvalidArgument,
                    "--prose-calls {}: unknown; use one (one call returns every section) or "
                    "per-section (one call per section)",
                    text);
}

std::string all_sections_schema() {
  const std::vector<std::string>& titles = prose_section_titles();
  nlohmann::ordered_json schema = nlohmann::ordered_json::object();
  schema["type"] = "object";
  schema["properties"]["sections"] = {{"type", "array"}, {"items", schema_of_section(&titles)}};
  schema["required"] = nlohmann::ordered_json::array({"sections"});
  schema["additionalProperties"] = false;
  return schema.dump();
}

std::string one_section_schema() { return schema_of_section(nullptr).dump(); }

std::vector<SectionProse> read_sections(std::string_view answer, ProseFormat format,
                                        const std::vector<std::string>& titles) {
  std::vector<SectionProse> out;
  for (const auto& t : titles) out.push_back({t, "", {}, {}, false, ""});
  if (format == ProseFormat::kJson) {
    json parsed = json::parse(answer, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("sections") ||
        !parsed["sections"].is_array()) {
      for (auto& s : out) s.problem = "the answer is not the JSON object the schema asks for";
      return out;
    }
    for (const json& item : parsed["sections"]) {
      if (!item.is_object() || !item.contains("title") || !item["title"].is_string()) continue;
      std::string title = item["title"].get<std::string>();
      for (auto& s : out) {
        if (to_lower(s.title) == to_lower(title) && s.text.empty()) read_json_section(item, s);
      }
    }
    return out;
  }
  constexpr size_t kNone = static_cast<size_t>(-1);
  size_t current = kNone;
  for (const std::string& line : split(std::string(answer), '\n')) {
    if (auto h = heading_of(line, titles)) {
      current = *h;
      continue;
    }
    std::string_view t = trim(line);
    if (starts_with(t, "# ") || starts_with(t, "## ")) {
      current = kNone;  // a section the program did not ask for ("## Appendix"): not prose
      continue;
    }
    if (current != kNone) out[current].text += line + "\n";
  }
  for (auto& s : out) s.text = std::string(trim(s.text));
  return out;
}

SectionProse read_one_section(std::string_view answer, ProseFormat format,
                              const std::string& title) {
  SectionProse s{title, "", {}, {}, false, ""};
  if (format == ProseFormat::kJson) {
    json parsed = json::parse(answer, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      s.problem = "the answer is not the JSON object the schema asks for";
      return s;
    }
    read_json_section(parsed, s);
    return s;
  }
  // Free text: drop a heading the model may have repeated.
  std::string text(trim(answer));
  std::vector<std::string> lines = split(text, '\n');
  if (!lines.empty() && heading_of(lines.front(), {title})) lines.erase(lines.begin());
  s.text = std::string(trim(join(lines, "\n")));
  return s;
}

void validate_sections(std::vector<SectionProse>& sections, const ValidationContext& context) {
  for (auto& s : sections) {
    if (!s.problem.empty()) continue;  // unreadable: nothing to validate
    if (trim(s.text).empty()) {
      s.problem = "the model wrote nothing for this section";
      continue;
    }
    s.validation = validate_text(s.text, context);
    std::vector<std::string> unknown;
    for (const auto& id : s.cited) {
      if (!context.facts || !context.facts->find(id)) unknown.push_back(id);
    }
    for (const auto& id : unknown) {
      s.validation.findings.push_back(
          {FindingKind::kUnknownCitation, 0, id,
           fmt::format("the answer lists {}, which is not a fact", id)});
    }
    s.passed = s.validation.findings.empty();
    if (!s.passed) s.problem = problem_line(s.validation);
  }
}

}  // namespace chimera::agent

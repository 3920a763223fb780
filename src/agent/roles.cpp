#include "agent/roles.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "agent/named_toml.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// Copies of roles/*.toml, so the command runs from any folder. A test checks that each parses to
// the same role as its file.
constexpr std::string_view kDataCollectorToml = R"toml(
name = "data-collector"
description = "Inventory of the benchmark data (files, rows, what was measured), under 250 words"
profile = "chimera-gemma3"
workflow = "single"
num_predict = 320
persona = "You are DataCollector, an engineer who inventories folders of LLM benchmark data before anyone analyses them."
task = """Write an inventory of this benchmark data in under 250 words, in Markdown, with exactly one
"## Data Inventory" heading. Say how many files were found and parsed, how many rows and failed rows
they held, which models, quantizations and options were measured, and which metrics the files
record. Cite the fact id of every number. Do not analyse or recommend anything."""
sections = ["Data Inventory"]
)toml";

constexpr std::string_view kInsightToml = R"toml(
name = "insight"
description = "Executive summary, three recommendations and a risk table, 300 to 400 words"
profile = "chimera-gemma3"
workflow = "single"
num_predict = 560
persona = "You are Insight, an analyst who turns LLM benchmark data into decisions for the people who run the models."
task = """Write 300 to 400 words in Markdown with exactly these headings, in this order:
## Executive Summary
3 to 5 sentences on what the data shows, citing fact ids.
## Recommendations
exactly 3 numbered recommendations, each a proposal to test, each citing the facts it rests on.
## Risks
a Markdown table with the columns risk, likelihood, impact, mitigation (3 to 5 rows).
Label expected figures as expected, never as achieved."""
sections = ["Executive Summary", "Recommendations", "Risks"]
)toml";

constexpr std::string_view kReporterToml = R"toml(
name = "reporter"
description = "The report agent of chimera run: analysis, then the seven-section technical report"
profile = "chimera-gemma3"
workflow = "analysis_report"
analysis_num_predict = 128
num_predict = 320
sections = ["Executive Summary", "Chimera Configuration Analysis", "Data Ingestion Summary", "Performance Analysis", "Key Findings", "Recommendations", "Appendix"]
)toml";

Result<int64_t> positive_int(const toml::table& root, std::string_view key, int64_t fallback,
                             const std::string& origin) {
  const toml::node* node = root.get(key);
  if (!node) return fallback;
  auto v = node->value<int64_t>();
  if (!v || !node->is_integer() || *v <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: {} must be a positive whole number of tokens", origin, key);
  }
  return *v;
}

}  // namespace

std::string_view workflow_name(Workflow workflow) {
  return workflow == Workflow::kSingle ? "single" : "analysis_report";
}

Result<Role> parse_role(std::string_view toml_text, const std::string& origin) {
  CHIMERA_ASSIGN_OR_RETURN(toml::table root, parse_toml(toml_text, origin));
  static const std::vector<std::string_view> kKeys = {
      "name",    "description", "profile", "workflow", "num_predict", "analysis_num_predict",
      "persona", "task",        "sections"};
  for (const auto& [key, node] : root) {
    if (std::find(kKeys.begin(), kKeys.end(), key.str()) == kKeys.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{}: unknown key '{}'; a role has name, description, profile, workflow, "
                        "num_predict, analysis_num_predict, persona, task and sections",
                        origin, key.str());
    }
  }
  Role r;
  r.origin = origin;
  r.name = root["name"].value_or(std::filesystem::path(origin).stem().string());
  r.description = root["description"].value_or(std::string());
  r.profile = root["profile"].value_or(std::string());
  r.persona = std::string(trim(root["persona"].value_or(std::string())));
  r.task = std::string(trim(root["task"].value_or(std::string())));
  std::string workflow = root["workflow"].value_or(std::string("single"));
  if (workflow == "single") {
    r.workflow = Workflow::kSingle;
  } else if (workflow == "analysis_report") {
    r.workflow = Workflow::kAnalysisReport;
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: workflow '{}' is not known; use \"single\" (one call) or "
                      "\"analysis_report\" (chimera run's analysis and report calls)",
                      origin, workflow);
  }
  CHIMERA_ASSIGN_OR_RETURN(r.num_predict, positive_int(root, "num_predict", 320, origin));
  CHIMERA_ASSIGN_OR_RETURN(r.analysis_num_predict,
                           positive_int(root, "analysis_num_predict", 128, origin));
  if (const toml::array* sections = root["sections"].as_array()) {
    for (const auto& s : *sections) {
      auto text = s.value<std::string>();
      if (!text) {
        return make_error(ErrorCode::kInvalidArgument, "{}: sections must be strings", origin);
      }
      r.sections.push_back(*text);
    }
  }
  if (r.workflow == Workflow::kAnalysisReport && (!r.persona.empty() || !r.task.empty())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: persona and task belong to single-call roles; workflow "
                      "\"analysis_report\" runs chimera run's own analysis and report prompts",
                      origin);
  }
  if (r.workflow == Workflow::kSingle && r.task.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: a single-call role needs a task = \"...\" saying what to write", origin);
  }
  return r;
}

Result<Role> load_role_file(const std::string& path) {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path, 1 << 20));
  return parse_role(text, path);
}

const std::vector<std::string>& builtin_role_names() {
  static const std::vector<std::string> kNames = {"data-collector", "insight", "reporter"};
  return kNames;
}

std::optional<std::string_view> builtin_role_text(std::string_view name) {
  if (name == "data-collector") return kDataCollectorToml;
  if (name == "insight") return kInsightToml;
  if (name == "reporter") return kReporterToml;
  return std::nullopt;
}

Result<Role> find_role(const std::string& name_or_path) {
  static constexpr NamedTomlPlace kPlace{"role", "roles", "CHIMERA_ROLES_DIR",
                                         "data-collector, insight, reporter", builtin_role_text};
  CHIMERA_ASSIGN_OR_RETURN(NamedToml found, find_named_toml(kPlace, name_or_path));
  return parse_role(found.text, found.origin);
}

std::vector<std::string> missing_role_sections(const Role& role, std::string_view text) {
  std::vector<std::string> headings;
  for (const std::string& line : split(text, '\n')) {
    std::string_view l = trim(line);
    if (!starts_with(l, "#")) continue;
    size_t text_start = l.find_first_not_of('#');
    if (text_start == std::string_view::npos) continue;
    headings.push_back(to_lower(trim(l.substr(text_start))));
  }
  std::vector<std::string> missing;
  for (const auto& section : role.sections) {
    std::string want = to_lower(section);
    bool found = false;
    for (const auto& h : headings) found |= h.find(want) != std::string::npos;
    if (!found) missing.push_back(section);
  }
  return missing;
}

}  // namespace chimera::agent

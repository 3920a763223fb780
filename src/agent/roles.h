// Roles for `chimera agents`: what one agent is asked to do, read from TOML (roles/*.toml).
//
//   name = "insight"
//   description = "Executive summary, three recommendations and a risk table"
//   profile = "chimera-gemma3"      # the option set it sends (a profile name or .toml path)
//   workflow = "single"             # one call, or "analysis_report": chimera run's two calls
//   num_predict = 560               # output cap of the (last) call, tokens
//   analysis_num_predict = 128      # analysis_report: cap of the analysis call
//   persona = "You are Insight, ..." # single: the system prompt's first sentence
//   task = """Write 300 to 400 words ..."""   # single: what the call must produce
//   sections = ["Executive Summary", "Recommendations", "Risks"]  # headings the answer must have
//
// Built in (so the command runs from any folder): data-collector and insight (the prior system's
// two personas) and reporter (the report agent of `chimera run`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace chimera::agent {

enum class Workflow {
  kSingle,          // one call: persona + task over the data's facts
  kAnalysisReport,  // chimera run's analysis call, then its report call
};
std::string_view workflow_name(Workflow workflow);

struct Role {
  std::string name;
  std::string description;
  std::string origin;   // the file it was read from, or "built-in"
  std::string profile;  // a profile name or path ("" = the scenario decides)
  Workflow workflow = Workflow::kSingle;
  int64_t num_predict = 320;
  int64_t analysis_num_predict = 128;
  std::string persona;
  std::string task;
  std::vector<std::string> sections;
  int64_t calls_per_execution() const { return workflow == Workflow::kSingle ? 1 : 2; }
};

Result<Role> parse_role(std::string_view toml_text, const std::string& origin);
Result<Role> load_role_file(const std::string& path);
// A role by path (ending in .toml or containing '/') or by name: ./roles/NAME.toml, then
// $CHIMERA_ROLES_DIR/NAME.toml, then the built-in copies.
Result<Role> find_role(const std::string& name_or_path);
// The folders find_role looks in for NAME.toml, in order, before its built-in copies.
std::vector<std::string> role_folders();
std::optional<std::string_view> builtin_role_text(std::string_view name);
const std::vector<std::string>& builtin_role_names();

// The section headings of `sections` that `text` lacks as Markdown headings (any level, any case).
std::vector<std::string> missing_role_sections(const Role& role, std::string_view text);

}  // namespace chimera::agent

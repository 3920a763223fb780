// chimera config show | path | init: the user's configuration (util/config.h). `show` prints every
// setting with the value in force and where it came from (config file and line, environment
// variable, or the built-in default), then where Chimera looks for its files.
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/profiles.h"
#include "agent/roles.h"
#include "cli/command.h"
#include "lab/store.h"
#include "util/config.h"
#include "util/cpu.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/strings.h"

namespace chimera::cli {
namespace {

struct ConfigArgs {
  bool json = false;
  bool force = false;
};

// What each setting is when nothing sets it (the commands' own defaults), and a note on it.
std::pair<std::string, std::string> default_of(std::string_view key) {
  if (key == "backend") return {"auto", "bench and tune need --backend"};
  if (key == "model") return {"-", "run and agents pick a gemma3 model"};
  if (key == "out") return {"reports", "tune: tune"};
  if (key == "data") return {default_data_folder(), "the example data shipped with Chimera"};
  if (key == "db") return {lab::ResultsStore::default_path(), ""};
  if (key == "threads") {
    return {"0", fmt::format("one per physical core: {} here", physical_core_count())};
  }
  if (key == "ollama_host") return {"127.0.0.1:11434", ""};
  if (key == "ollama_models") return {home_dir() + "/.ollama/models", ""};
  return {"", ""};
}

struct Row {
  const SettingSpec* spec;
  std::string value;
  std::string source;      // "default", "config file PATH:LINE", "environment VAR"
  std::string overridden;  // the config file's value an environment variable hides
};

std::vector<Row> rows_of(const ConfigFile& file) {
  std::vector<Row> rows;
  for (const SettingSpec& spec : setting_specs()) {
    auto [value, note] = default_of(spec.key);
    Row row{&spec, value, note.empty() ? "default" : "default (" + note + ")", ""};
    if (auto v = lookup_setting(spec.key)) {
      row.value = v->value;
      row.source = describe_source(*v);
      auto in_file = file.values.find(spec.key);
      if (v->source == SettingSource::kEnvironment && in_file != file.values.end()) {
        row.overridden = in_file->second.origin;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string search_path(std::vector<std::string> folders) {
  for (auto& f : folders) {
    if (!f.empty() && f.front() != '/') f = "./" + f;
  }
  return join(folders, ", ") + ", built-in";
}

int run_show(const ConfigArgs& a) {
  const auto& file = user_config_file();
  if (!file.ok()) return report_error(file.status());
  std::vector<Row> rows = rows_of(*file);
  const std::string share = share_dir();
  if (a.json) {
    nlohmann::json out;
    out["config_file"] = {{"path", file->path}, {"found", file->found}};
    out["warnings"] = file->warnings;
    for (const Row& r : rows) {
      nlohmann::json j = {{"value", r.value},
                          {"source", r.source},
                          {"env", std::string(r.spec->env_var)},
                          {"used_by", std::string(r.spec->used_by)}};
      if (!r.overridden.empty()) j["overrides"] = r.overridden;
      out["settings"][std::string(r.spec->key)] = j;
    }
    out["paths"] = {{"share", share},
                    {"profiles", agent::profile_folders()},
                    {"roles", agent::role_folders()},
                    {"cache", cache_dir()},
                    {"data", data_dir()}};
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::printf("config file: %s%s\n\n", file->path.c_str(),
              file->found ? "" : " (not present: defaults and the environment apply)");
  size_t key_width = 7, value_width = 5;
  for (const Row& r : rows) {
    key_width = std::max(key_width, r.spec->key.size());
    value_width = std::max(value_width, r.value.size());
  }
  value_width = std::min<size_t>(value_width, 48);
  std::printf("%-*s  %-*s  %s\n", static_cast<int>(key_width), "setting",
              static_cast<int>(value_width), "value", "source");
  for (const Row& r : rows) {
    std::string source = r.source;
    if (!r.overridden.empty()) source += " (overrides " + r.overridden + ")";
    std::printf("%-*s  %-*s  %s\n", static_cast<int>(key_width), std::string(r.spec->key).c_str(),
                static_cast<int>(value_width), r.value.c_str(), source.c_str());
  }
  std::printf(
      "\nPrecedence: a flag on the command line, else the environment variable, else the config "
      "file, else the default.\n\n");
  std::printf("shipped files: %s\n",
              share.empty() ? "(none found: built-in profiles and roles only)" : share.c_str());
  std::printf("profiles:      %s\n", search_path(agent::profile_folders()).c_str());
  std::printf("roles:         %s\n", search_path(agent::role_folders()).c_str());
  std::printf("cache:         %s\n", cache_dir().c_str());
  std::printf("data:          %s\n", data_dir().c_str());
  return kExitOk;
}

// A config file with every key commented out, each with what it does and what overrides it.
std::string config_template() {
  std::string out =
      "# Chimera's configuration: defaults for the flags you would otherwise retype.\n"
      "# Precedence: a flag on the command line, else the environment variable named below,\n"
      "# else this file, else the built-in default. `chimera config show` prints what is in "
      "force.\n";
  for (const SettingSpec& spec : setting_specs()) {
    out += fmt::format("\n# {}\n# Used by {}; the environment variable {} overrides it.\n",
                       spec.meaning, spec.used_by, spec.env_var);
    const std::string example = spec.type == SettingType::kCount ? "0"
                                : spec.key == "backend"          ? "\"auto\""
                                : spec.key == "model"            ? "\"gemma3:4b\""
                                : spec.key == "out"              ? "\"reports\""
                                : spec.key == "ollama_host"      ? "\"127.0.0.1:11434\""
                                : spec.key == "ollama_models"    ? "\"~/.ollama/models\""
                                : spec.key == "db" ? "\"~/.local/share/chimera/results.db\""
                                                   : "\"~/benchmarks\"";
    out += fmt::format("# {} = {}\n", spec.key, example);
  }
  return out;
}

int run_init(const ConfigArgs& a) {
  const std::string path = config_file_path();
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !a.force) {
    return report_error(Status(ErrorCode::kInvalidArgument,
                               fmt::format("{} exists; edit it, or pass --force to replace it with "
                                           "the commented template",
                                           path)));
  }
  if (Status s = ensure_directory(std::filesystem::path(path).parent_path().string()); !s.is_ok()) {
    return report_error(s);
  }
  if (Status s = write_file_atomic(path, config_template()); !s.is_ok()) return report_error(s);
  std::printf("wrote %s (every setting commented out; uncomment what you want)\n", path.c_str());
  return kExitOk;
}

}  // namespace

void register_config(CLI::App& app) {
  auto args = std::make_shared<ConfigArgs>();
  auto* sub = app.add_subcommand(
      "config",
      "Defaults from ~/.config/chimera/config.toml and the environment: show | path | init");
  sub->require_subcommand(1);
  auto* show = sub->add_subcommand("show", "Every setting, its value and where it came from");
  show->add_flag("--json", args->json, "as JSON");
  show->callback([args] { set_exit_code(run_show(*args)); });
  auto* path = sub->add_subcommand("path", "The config file this process reads");
  path->callback([] {
    std::printf("%s\n", config_file_path().c_str());
    set_exit_code(kExitOk);
  });
  auto* init = sub->add_subcommand("init", "Write a commented config file to start from");
  init->add_flag("--force", args->force, "replace an existing file");
  init->callback([args] { set_exit_code(run_init(*args)); });
}

}  // namespace chimera::cli

// Flags whose default comes from the user's configuration (util/config.h): the option's variable
// holds the configured value unless the flag is given (flags win), and --help shows the value in
// force as the default. Called where a subcommand adds the option.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "llm/backend.h"

namespace chimera::cli {

void default_from_config(CLI::Option* option, std::string& variable, std::string_view key);
void default_from_config(CLI::Option* option, int& variable, std::string_view key);

// The configured value of `key`, or `fallback` when nothing sets it: for the places where a flag's
// "unset" means "ask the configuration" after other sources had their say (a study file).
std::string configured_or(std::string_view key, const std::string& fallback);

// The configured backend when it names one: "auto" means the automatic choice, which only run and
// agents make (bench and tune measure a backend the user names).
std::optional<std::string> configured_backend();

// The model a backend spec asks for: its own, else (for a server) the configured model, else "".
std::string configured_model_for(const llm::BackendSpec& spec);

}  // namespace chimera::cli

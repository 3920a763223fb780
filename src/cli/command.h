// Subcommand wiring. Each cmd_*.cpp defines one register_* function that adds its subcommand to the app
// and, in its callback, stores the process exit code with set_exit_code().
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "util/status.h"

namespace chimera::cli {

// Exit codes that mean something (STYLE.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // the command ran and failed (model missing, server down)
inline constexpr int kExitUsage = 2;        // bad flags or arguments
inline constexpr int kExitFindings = 3;     // --strict: the validator found problems in the report
inline constexpr int kExitPartial = 4;      // chimera agents: finished, but some calls failed

void set_exit_code(int code);
int exit_code();
// Prints "chimera: <message>" to stderr and returns kExitFailure (or kExitUsage for invalid arguments).
int report_error(const Status& status);

void register_model(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_generate(CLI::App& app);
void register_bench(CLI::App& app);     // chimera bench (backends): cmd_bench.cpp
// chimera bench engine (llama-bench style, in-process): cmd_bench_engine.cpp, called by register_bench.
void register_bench_engine(CLI::App& bench);
// chimera bench prefix (the prompt cache's TTFT on a shared prefix): cmd_bench_prefix.cpp.
void register_bench_prefix(CLI::App& bench);
void register_serve(CLI::App& app);
void register_agents(CLI::App& app);  // chimera agents: cmd_agents.cpp
void register_results(CLI::App& app);
void register_run(CLI::App& app);
void register_tune(CLI::App& app);
void register_config(CLI::App& app);  // chimera config: cmd_config.cpp

int main(int argc, char** argv);

}  // namespace chimera::cli

#include "cli/command.h"

namespace chimera::cli {

void register_results(CLI::App& app) {
  auto* sub = app.add_subcommand("results", "(not built yet)");
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'results' is not built yet")));
  });
}

}  // namespace chimera::cli

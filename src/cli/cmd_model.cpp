#include "cli/command.h"

namespace chimera::cli {

void register_model(CLI::App& app) {
  auto* sub = app.add_subcommand("model", "(not built yet)");
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'model' is not built yet")));
  });
}

}  // namespace chimera::cli
